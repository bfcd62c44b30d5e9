package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// Operator is what an operator (a person through the kinesin command, or a
// tool) uses on the leases of one (app, stream): it lists them and judges
// which are live the way a worker does, and moves checkpoints or releases
// leases with writes conditional on what it saw.
//
// Liveness is judged as the protocol judges it, never from another host's
// clock: a lease with an owner is expired once the Operator has seen its
// counter unchanged for LeaseDuration on its own clock, and live while it
// has not. So one listing cannot tell a live lease from a dead one; the
// Operator's judgement sharpens with every Observe (a tool refreshing a
// view) and AwaitUnheld watches the leases for up to LeaseDuration. Give it
// the lease duration of the workers (lease.WithLeaseDuration, 10s by
// default), or longer.
//
// An Operator is safe for concurrent use.
type Operator struct {
	store       Store
	app, stream string
	duration    time.Duration
	clock       Clock

	mu      sync.Mutex
	leases  map[string]sighting
	workers map[string]sighting
}

// sighting is what an Operator remembers of a lease or a worker row: the
// counter it last saw, since when, and whether it saw the counter change.
type sighting struct {
	counter uint64
	since   time.Time
	changed bool
}

// NewOperator returns an Operator of the leases of (app, stream) in store.
// Of the options, it uses WithLeaseDuration (the duration after which a
// lease whose counter does not change is expired; default 10s) and
// WithClock (default the real clock); the others are ignored. Its error
// wraps ErrInvalidOption.
func NewOperator(store Store, app, stream string, opts ...Option) (*Operator, error) {
	s := Settings{LeaseDuration: DefaultLeaseDuration}
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	switch {
	case s.LeaseDuration <= 0:
		return nil, fmt.Errorf("%w: LeaseDuration %v is not positive", ErrInvalidOption, s.LeaseDuration)
	case store == nil:
		return nil, fmt.Errorf("%w: nil store", ErrInvalidOption)
	case s.Clock == nil:
		s.Clock = RealClock()
	}
	return &Operator{
		store: store, app: app, stream: stream,
		duration: s.LeaseDuration, clock: s.Clock,
		leases: map[string]sighting{}, workers: map[string]sighting{},
	}, nil
}

// Observation is a listing of the leases and worker rows of (app, stream),
// with the Operator's judgement of each.
type Observation struct {
	// Time is when the listing was read, on the Operator's clock.
	Time time.Time
	// Leases are sorted by shard id, Workers by worker id.
	Leases  []LeaseState
	Workers []WorkerState
}

// LeaseState is a lease as an Operator judges it.
type LeaseState struct {
	Lease
	// Since is when the Operator first saw the lease with this counter.
	Since time.Time
	// Renewed reports that the Operator saw the counter change to this
	// value: whoever wrote it (its owner) was alive at Since. False at the
	// first sight of a lease.
	Renewed bool
	// Expired reports that the lease has an owner and the Operator has seen
	// its counter unchanged for the lease duration: a worker may take it.
	Expired bool
	// ExpiresBy is, for a lease with an owner that is not expired, Since
	// plus the lease duration: when the lease expires unless its counter
	// changes first. Zero otherwise.
	ExpiresBy time.Time
}

// Live reports whether the lease has an owner and is not expired.
func (l LeaseState) Live() bool { return l.Owner != "" && !l.Expired }

// WorkerState is a worker row as an Operator judges it.
type WorkerState struct {
	Worker
	// Since is when the Operator first saw the row with this counter.
	Since time.Time
	// Renewed reports that the Operator saw the counter change to this
	// value (a heartbeat): the worker was alive at Since. False at the first
	// sight of a row.
	Renewed bool
	// Live reports that less than the lease duration passed since Since:
	// the first sight of a row counts, as it does for the workers, which
	// count such a worker in their share until its row stays still.
	Live bool
}

// Observe lists the leases and worker rows, and judges them with what the
// earlier calls saw.
func (o *Operator) Observe(ctx context.Context) (Observation, error) {
	leases, workers, err := o.store.List(ctx, o.app, o.stream)
	if err != nil {
		return Observation{}, err
	}
	now := o.clock.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	obs := Observation{Time: now}
	seenLeases := make(map[string]sighting, len(leases))
	for _, l := range leases {
		s := sight(o.leases, l.Shard, l.Counter, now)
		seenLeases[l.Shard] = s
		st := LeaseState{Lease: l, Since: s.since, Renewed: s.changed}
		if l.Owner != "" {
			st.Expired = now.Sub(s.since) >= o.duration
			if !st.Expired {
				st.ExpiresBy = s.since.Add(o.duration)
			}
		}
		obs.Leases = append(obs.Leases, st)
	}
	seenWorkers := make(map[string]sighting, len(workers))
	for _, w := range workers {
		s := sight(o.workers, w.ID, w.Counter, now)
		seenWorkers[w.ID] = s
		obs.Workers = append(obs.Workers, WorkerState{Worker: w, Since: s.since, Renewed: s.changed, Live: now.Sub(s.since) < o.duration})
	}
	o.leases, o.workers = seenLeases, seenWorkers
	return obs, nil
}

// sight returns what was seen of id, now seen with counter.
func sight(seen map[string]sighting, id string, counter uint64, now time.Time) sighting {
	s, ok := seen[id]
	switch {
	case !ok:
		return sighting{counter: counter, since: now}
	case s.counter != counter:
		return sighting{counter: counter, since: now, changed: true}
	}
	return s
}

// AwaitUnheld watches the leases of shards until none is live, and returns
// the last observation: each lease of shards then is free, expired, or
// absent. It fails at once with an error wrapping ErrHeld, naming the
// shards and owners, when it sees a live owner: a counter that changed,
// leaving the lease owned. A lease first seen with an owner is watched
// (Observe, every tenth of the lease duration) until it expires: up to the
// lease duration. An empty shards means every lease.
func (o *Operator) AwaitUnheld(ctx context.Context, shards []string) (Observation, error) {
	for {
		obs, err := o.Observe(ctx)
		if err != nil {
			return Observation{}, err
		}
		var held, waiting []string
		for _, l := range obs.Leases {
			if len(shards) > 0 && !slices.Contains(shards, l.Shard) || !l.Live() {
				continue
			}
			if l.Renewed {
				held = append(held, fmt.Sprintf("%s (owner %s)", l.Shard, l.Owner))
			} else {
				waiting = append(waiting, l.Shard)
			}
		}
		if len(held) > 0 {
			return obs, fmt.Errorf("%w: %s renewed within %v", ErrHeld, strings.Join(held, ", "), o.duration)
		}
		if len(waiting) == 0 {
			return obs, nil
		}
		select {
		case <-ctx.Done():
			return Observation{}, fmt.Errorf("waiting for the leases of %s to expire: %w", strings.Join(waiting, ", "), ctx.Err())
		case <-o.clock.After(max(o.duration/10, time.Millisecond)):
		}
	}
}

// Target is where Operator.SetCheckpoints moves the checkpoint of a shard.
type Target struct {
	// Shard is the shard id.
	Shard string
	// Checkpoint is the checkpoint to store; the zero Checkpoint removes
	// it, so that the shard is read as one never read.
	Checkpoint checkpoint.Checkpoint
	// Parents are the shard's parent ids (ParentShardId, then
	// AdjacentParentShardId), for a shard without a lease: SetCheckpoints
	// creates its lease, free, with them.
	Parents []string
}

// conflictRetries bounds how often SetCheckpoints and Release, with force,
// list the leases again after a write lost to a concurrent one.
const conflictRetries = 3

// SetCheckpoints moves the checkpoint of each target's lease, backwards too,
// with Admin.SetCheckpoint conditional on the lease as observed, and
// returns the leases as written. A shard without a lease gets one, free,
// holding the checkpoint (none is created for a zero Checkpoint).
//
// Unless force, it first waits with AwaitUnheld until no live worker holds
// a target's lease, and fails with ErrHeld if one does; a lease that
// changes between that observation and the write fails it with ErrLost (a
// worker took it meanwhile). With force, it writes over live owners, which
// lose their leases (fenced by the counter) and take them again from the
// new checkpoints; a write that lost to a concurrent renewal is retried on
// a new listing, a few times.
//
// It validates every target first (ErrInvalid, checkpoint.ErrInvalid). The
// writes are one per shard: on an error, the leases written until then stay
// written and are returned with it. It fails with an error wrapping
// errors.ErrUnsupported when the store does not implement Admin.
func (o *Operator) SetCheckpoints(ctx context.Context, targets []Target, force bool) ([]Lease, error) {
	admin, ok := o.store.(Admin)
	if !ok {
		return nil, fmt.Errorf("lease: set checkpoints of %s/%s: the store, a %T, does not implement lease.Admin: %w", o.app, o.stream, o.store, errors.ErrUnsupported)
	}
	shards := make([]string, 0, len(targets))
	for _, t := range targets {
		err := CheckShardID(t.Shard)
		if err == nil && !t.Checkpoint.IsZero() {
			err = t.Checkpoint.Validate()
		}
		if err == nil && slices.Contains(shards, t.Shard) {
			err = fmt.Errorf("%w: shard %s is given twice", ErrInvalid, t.Shard)
		}
		if err != nil {
			return nil, fmt.Errorf("lease: set checkpoints of %s/%s: shard %s: %w", o.app, o.stream, t.Shard, err)
		}
		shards = append(shards, t.Shard)
	}
	if len(shards) == 0 {
		return nil, nil
	}
	var (
		obs Observation
		err error
	)
	if force {
		obs, err = o.Observe(ctx)
	} else {
		obs, err = o.AwaitUnheld(ctx, shards)
	}
	if err != nil {
		return nil, fmt.Errorf("lease: set checkpoints of %s/%s: %w", o.app, o.stream, err)
	}
	var written []Lease
	for _, t := range targets {
		l, err := o.retry(ctx, force, &obs, t.Shard, func(cur *Lease) (Lease, bool, error) {
			if cur == nil {
				if t.Checkpoint.IsZero() {
					return Lease{}, false, nil
				}
				err := admin.Create(ctx, o.app, o.stream, Lease{Shard: t.Shard, Parents: t.Parents, Checkpoint: t.Checkpoint})
				if errors.Is(err, ErrExists) {
					err = fmt.Errorf("%w: a worker created it meanwhile", ErrLost)
				}
				return Lease{Shard: t.Shard, Parents: t.Parents, Checkpoint: t.Checkpoint}, true, err
			}
			l, err := admin.SetCheckpoint(ctx, o.app, o.stream, *cur, t.Checkpoint)
			return l, true, err
		})
		if err != nil {
			return written, fmt.Errorf("lease: set checkpoints of %s/%s: shard %s: %w", o.app, o.stream, t.Shard, err)
		}
		if l != nil {
			written = append(written, *l)
		}
	}
	return written, nil
}

// retry runs write on the lease of shard as last observed (nil when it has
// none), and, with force, again on a new observation when it fails with
// ErrLost, a few times. write reports whether it wrote anything.
func (o *Operator) retry(ctx context.Context, force bool, obs *Observation, shard string, write func(cur *Lease) (Lease, bool, error)) (*Lease, error) {
	for attempt := 0; ; attempt++ {
		var cur *Lease
		for i := range obs.Leases {
			if obs.Leases[i].Shard == shard {
				cur = &obs.Leases[i].Lease
			}
		}
		l, wrote, err := write(cur)
		if err == nil {
			if !wrote {
				return nil, nil
			}
			return &l, nil
		}
		if !force || !errors.Is(err, ErrLost) || attempt == conflictRetries {
			return nil, err
		}
		if *obs, err = o.Observe(ctx); err != nil {
			return nil, err
		}
	}
}

// Release frees the leases of shards (every lease when shards is empty)
// whatever worker holds them, with Store.Release conditional on the lease
// as observed; a write that lost to a concurrent renewal is retried on a
// new listing, a few times. Free leases are skipped. It returns the leases
// released, as written; on an error, with those released until then.
//
// A released lease's owner loses it (its next write fails with ErrLost) and
// stops reading the shard; any worker, that one too, takes the free lease
// at its next cycle, from its checkpoint, without waiting for it to
// expire. Release the leases of a worker that was killed to have its
// shards read again at once.
func (o *Operator) Release(ctx context.Context, shards []string) ([]Lease, error) {
	obs, err := o.Observe(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease: release in %s/%s: %w", o.app, o.stream, err)
	}
	if len(shards) == 0 {
		for _, l := range obs.Leases {
			shards = append(shards, l.Shard)
		}
	}
	var released []Lease
	for _, shard := range shards {
		l, err := o.retry(ctx, true, &obs, shard, func(cur *Lease) (Lease, bool, error) {
			if cur == nil || cur.Owner == "" {
				return Lease{}, false, nil
			}
			l, err := o.store.Release(ctx, o.app, o.stream, *cur)
			return l, true, err
		})
		if err != nil {
			return released, fmt.Errorf("lease: release in %s/%s: shard %s: %w", o.app, o.stream, shard, err)
		}
		if l != nil {
			released = append(released, *l)
		}
	}
	return released, nil
}
