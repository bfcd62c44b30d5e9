// Package memlease is an in-process lease.Store, for tests and for a single
// process that wants kinesin.WithLeases without a table.
//
// It has the semantics of every lease store, as checked by the suite in
// lease/leasetest: each write is conditional on the owner and counter the
// caller holds, succeeds atomically or fails with lease.ErrLost (lease.ErrExists
// for Create), increments the counter exactly once, and never moves a
// checkpoint backwards, but through SetCheckpoint: Store implements
// lease.Admin too. Returned leases are copies the caller owns. Every
// method is safe for concurrent use. Leases live as long as the Store.
//
// To test a consumer whose store fails, hangs or answers late,
// wrap a Store in a leasetest.Faulty.
package memlease

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/lease"
)

// Store is an in-process lease.Store. The zero value is an empty store, as
// New returns.
type Store struct {
	mu     sync.Mutex
	spaces map[namespace]*space
}

type namespace struct{ app, stream string }

type space struct {
	leases  map[string]lease.Lease
	workers map[string]uint64
}

var _ lease.Admin = (*Store)(nil)

// New returns an empty store.
func New() *Store { return &Store{} }

// begin starts a call: it returns the locked store's namespace, or the
// error the call must fail with (s.mu unlocked then). On success s.mu is
// held and the caller unlocks.
func (s *Store) begin(ctx context.Context, app, stream string) (*space, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.spaces == nil {
		s.spaces = make(map[namespace]*space)
	}
	ns := namespace{app, stream}
	sp := s.spaces[ns]
	if sp == nil {
		sp = &space{leases: make(map[string]lease.Lease), workers: make(map[string]uint64)}
		s.spaces[ns] = sp
	}
	return sp, nil
}

func wrap(op, app, stream, id string, err error) error {
	if id == "" {
		return fmt.Errorf("memory: %s %s/%s: %w", op, app, stream, err)
	}
	return fmt.Errorf("memory: %s %s/%s %s: %w", op, app, stream, id, err)
}

// List returns every lease and worker row of (app, stream), sorted by id.
func (s *Store) List(ctx context.Context, app, stream string) ([]lease.Lease, []lease.Worker, error) {
	sp, err := s.begin(ctx, app, stream)
	if err != nil {
		return nil, nil, wrap("list", app, stream, "", err)
	}
	defer s.mu.Unlock()
	leases := make([]lease.Lease, 0, len(sp.leases))
	for _, id := range slices.Sorted(maps.Keys(sp.leases)) {
		leases = append(leases, sp.leases[id].Clone())
	}
	workers := make([]lease.Worker, 0, len(sp.workers))
	for _, id := range slices.Sorted(maps.Keys(sp.workers)) {
		workers = append(workers, lease.Worker{ID: id, Counter: sp.workers[id]})
	}
	return leases, workers, nil
}

// Create stores a new free lease, or fails with lease.ErrExists.
func (s *Store) Create(ctx context.Context, app, stream string, l lease.Lease) error {
	fail := func(err error) error { return wrap("create", app, stream, l.Shard, err) }
	if err := lease.CheckShardID(l.Shard); err != nil {
		return fail(err)
	}
	if l.HasCheckpoint() {
		if err := l.Checkpoint.Validate(); err != nil {
			return fail(err)
		}
	}
	sp, err := s.begin(ctx, app, stream)
	if err != nil {
		return fail(err)
	}
	defer s.mu.Unlock()
	if _, ok := sp.leases[l.Shard]; ok {
		return fail(lease.ErrExists)
	}
	sp.leases[l.Shard] = lease.Lease{Shard: l.Shard, Checkpoint: l.Checkpoint, Parents: slices.Clone(l.Parents)}
	return nil
}

// held returns the lease of shard if its owner is owner and its counter
// counter, or an error wrapping lease.ErrLost. s.mu is held.
func held(sp *space, shard, owner string, counter uint64) (lease.Lease, error) {
	l, ok := sp.leases[shard]
	switch {
	case !ok:
		return lease.Lease{}, fmt.Errorf("%w: no such lease", lease.ErrLost)
	case l.Owner != owner || l.Counter != counter:
		return lease.Lease{}, fmt.Errorf("%w: held by %q with counter %d, not %q with %d", lease.ErrLost, l.Owner, l.Counter, owner, counter)
	}
	return l, nil
}

func checkHolder(l lease.Lease) error {
	if err := lease.CheckShardID(l.Shard); err != nil {
		return err
	}
	if l.Owner == "" {
		return fmt.Errorf("%w: no owner given", lease.ErrInvalid)
	}
	return nil
}

// write is a call (verb in errors) changing the lease held as h (its
// shard, owner and counter). invalid is what the checks of the arguments
// found wrong, nil when nothing: the call then fails before it begins. change
// edits the lease held and reports whether it changed it: a change
// increments the counter and is stored; no change leaves the lease as it is.
func (s *Store) write(ctx context.Context, verb, app, stream string, h lease.Lease, invalid error, change func(l *lease.Lease) bool) (lease.Lease, error) {
	fail := func(err error) (lease.Lease, error) { return lease.Lease{}, wrap(verb, app, stream, h.Shard, err) }
	if invalid != nil {
		return fail(invalid)
	}
	sp, err := s.begin(ctx, app, stream)
	if err != nil {
		return fail(err)
	}
	defer s.mu.Unlock()
	l, err := held(sp, h.Shard, h.Owner, h.Counter)
	if err != nil {
		return fail(err)
	}
	if change(&l) {
		l.Counter++
		sp.leases[l.Shard] = l
	}
	return l.Clone(), nil
}

// Take makes owner the owner of a lease still held as observed.
func (s *Store) Take(ctx context.Context, app, stream string, observed lease.Lease, owner string) (lease.Lease, error) {
	invalid := lease.CheckShardID(observed.Shard)
	if invalid == nil {
		invalid = lease.CheckWorkerID(owner)
	}
	return s.write(ctx, "take", app, stream, observed, invalid, func(l *lease.Lease) bool {
		l.Owner, l.NextOwner = owner, ""
		return true
	})
}

// Renew increments the counter of a lease still held.
func (s *Store) Renew(ctx context.Context, app, stream string, h lease.Lease) (lease.Lease, error) {
	return s.write(ctx, "renew", app, stream, h, checkHolder(h), func(*lease.Lease) bool { return true })
}

// Checkpoint stores cp in a lease still held, when cp is above the stored
// checkpoint.
func (s *Store) Checkpoint(ctx context.Context, app, stream string, h lease.Lease, cp checkpoint.Checkpoint) (lease.Lease, error) {
	invalid := checkHolder(h)
	if invalid == nil {
		invalid = cp.Validate()
	}
	return s.write(ctx, "checkpoint", app, stream, h, invalid, func(l *lease.Lease) bool {
		if l.HasCheckpoint() && cp.Compare(l.Checkpoint) <= 0 {
			return false
		}
		l.Checkpoint = cp
		return true
	})
}

// SetCheckpoint stores cp (the zero Checkpoint: none) in a lease still held
// as observed (owner "" for free), whatever the stored checkpoint is.
func (s *Store) SetCheckpoint(ctx context.Context, app, stream string, observed lease.Lease, cp checkpoint.Checkpoint) (lease.Lease, error) {
	invalid := lease.CheckShardID(observed.Shard)
	if invalid == nil && !cp.IsZero() {
		invalid = cp.Validate()
	}
	return s.write(ctx, "set checkpoint", app, stream, observed, invalid, func(l *lease.Lease) bool {
		l.Checkpoint = cp
		return true
	})
}

// Release frees a lease still held.
func (s *Store) Release(ctx context.Context, app, stream string, h lease.Lease) (lease.Lease, error) {
	return s.write(ctx, "release", app, stream, h, checkHolder(h), func(l *lease.Lease) bool {
		l.Owner, l.NextOwner = "", ""
		return true
	})
}

// Delete removes a lease still held as given.
func (s *Store) Delete(ctx context.Context, app, stream string, h lease.Lease) error {
	fail := func(err error) error { return wrap("delete", app, stream, h.Shard, err) }
	if err := lease.CheckShardID(h.Shard); err != nil {
		return fail(err)
	}
	sp, err := s.begin(ctx, app, stream)
	if err != nil {
		return fail(err)
	}
	defer s.mu.Unlock()
	if _, err := held(sp, h.Shard, h.Owner, h.Counter); err != nil {
		return fail(err)
	}
	delete(sp.leases, h.Shard)
	return nil
}

// RequestHandoff sets NextOwner of a lease still owned by observed.Owner.
func (s *Store) RequestHandoff(ctx context.Context, app, stream string, observed lease.Lease, to string) (lease.Lease, error) {
	fail := func(err error) (lease.Lease, error) {
		return lease.Lease{}, wrap("request handoff", app, stream, observed.Shard, err)
	}
	if err := checkHolder(observed); err != nil {
		return fail(err)
	}
	if err := lease.CheckWorkerID(to); err != nil {
		return fail(err)
	}
	sp, err := s.begin(ctx, app, stream)
	if err != nil {
		return fail(err)
	}
	defer s.mu.Unlock()
	l, ok := sp.leases[observed.Shard]
	switch {
	case !ok:
		return fail(fmt.Errorf("%w: no such lease", lease.ErrLost))
	case l.Owner != observed.Owner:
		return fail(fmt.Errorf("%w: owned by %q, not %q", lease.ErrLost, l.Owner, observed.Owner))
	case l.NextOwner != "" && l.NextOwner != to:
		return fail(fmt.Errorf("%w: already promised to %q", lease.ErrLost, l.NextOwner))
	}
	l.NextOwner = to
	sp.leases[l.Shard] = l
	return l.Clone(), nil
}

// Heartbeat increments the counter of worker's row, creating it.
func (s *Store) Heartbeat(ctx context.Context, app, stream, worker string) (lease.Worker, error) {
	fail := func(err error) (lease.Worker, error) {
		return lease.Worker{}, wrap("heartbeat", app, stream, worker, err)
	}
	if err := lease.CheckWorkerID(worker); err != nil {
		return fail(err)
	}
	sp, err := s.begin(ctx, app, stream)
	if err != nil {
		return fail(err)
	}
	defer s.mu.Unlock()
	sp.workers[worker]++
	return lease.Worker{ID: worker, Counter: sp.workers[worker]}, nil
}

// DeleteWorker removes a worker row whose counter is still w.Counter.
func (s *Store) DeleteWorker(ctx context.Context, app, stream string, w lease.Worker) error {
	fail := func(err error) error { return wrap("delete worker", app, stream, w.ID, err) }
	if err := lease.CheckWorkerID(w.ID); err != nil {
		return fail(err)
	}
	sp, err := s.begin(ctx, app, stream)
	if err != nil {
		return fail(err)
	}
	defer s.mu.Unlock()
	c, ok := sp.workers[w.ID]
	switch {
	case !ok:
		return fail(fmt.Errorf("%w: no such worker", lease.ErrLost))
	case c != w.Counter:
		return fail(fmt.Errorf("%w: counter %d, not %d", lease.ErrLost, c, w.Counter))
	}
	delete(sp.workers, w.ID)
	return nil
}
