package lease_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const app, stream = "billing", "orders"

var start = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// fixture is a memory store with the leases "held" (owned by worker w,
// with a checkpoint at 100) and "free" (at 200), and an Operator on a
// manual clock with a 10s lease duration.
type fixture struct {
	t     *testing.T
	store *memlease.Store
	clock *leasetest.Clock
	op    *lease.Operator
	held  lease.Lease
}

func newFixture(t *testing.T, wrap func(lease.Store) lease.Store) *fixture {
	t.Helper()
	f := &fixture{t: t, store: memlease.New(), clock: leasetest.NewClock(start)}
	ctx := t.Context()
	for shard, cp := range map[string]string{"held": "100", "free": "200"} {
		if err := f.store.Create(ctx, app, stream, lease.Lease{Shard: shard, Checkpoint: checkpoint.At(cp)}); err != nil {
			t.Fatal(err)
		}
	}
	f.held = f.take("held", "w")
	var s lease.Store = f.store
	if wrap != nil {
		s = wrap(f.store)
	}
	op, err := lease.NewOperator(s, app, stream, lease.WithLeaseDuration(10*time.Second), lease.WithClock(f.clock))
	if err != nil {
		t.Fatal(err)
	}
	f.op = op
	return f
}

// get returns the stored lease of shard.
func (f *fixture) get(shard string) lease.Lease {
	f.t.Helper()
	ls, _, err := f.store.List(f.t.Context(), app, stream)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, l := range ls {
		if l.Shard == shard {
			return l
		}
	}
	f.t.Fatalf("no lease %s", shard)
	return lease.Lease{}
}

func (f *fixture) take(shard, owner string) lease.Lease {
	f.t.Helper()
	l, err := f.store.Take(f.t.Context(), app, stream, f.get(shard), owner)
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

func (f *fixture) observe() lease.Observation {
	f.t.Helper()
	obs, err := f.op.Observe(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return obs
}

func state(t *testing.T, obs lease.Observation, shard string) lease.LeaseState {
	t.Helper()
	for _, l := range obs.Leases {
		if l.Shard == shard {
			return l
		}
	}
	t.Fatalf("observation has no lease %s", shard)
	return lease.LeaseState{}
}

// The Operator judges a lease live until it has seen its counter unchanged
// for the lease duration, and marks the ones it saw renewed; workers too.
func TestOperatorJudgesLikeAWorker(t *testing.T) {
	f := newFixture(t, nil)
	ctx := t.Context()
	if _, err := f.store.Heartbeat(ctx, app, stream, "w"); err != nil {
		t.Fatal(err)
	}
	obs := f.observe()
	held := state(t, obs, "held")
	if !held.Live() || held.Renewed || held.Expired || !held.ExpiresBy.Equal(start.Add(10*time.Second)) {
		t.Errorf("first sight of a held lease: %+v; want live, not renewed, expiring by %v", held, start.Add(10*time.Second))
	}
	if free := state(t, obs, "free"); free.Live() || !free.ExpiresBy.IsZero() {
		t.Errorf("a free lease: %+v; want not live, no expiry", free)
	}
	if len(obs.Workers) != 1 || !obs.Workers[0].Live || obs.Workers[0].Renewed {
		t.Errorf("workers %+v, want w live, not seen renewed", obs.Workers)
	}

	f.clock.Advance(6 * time.Second)
	if _, err := f.store.Renew(ctx, app, stream, f.held); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Heartbeat(ctx, app, stream, "w"); err != nil {
		t.Fatal(err)
	}
	if w := f.observe().Workers[0]; !w.Renewed || !w.Live || !w.Since.Equal(start.Add(6*time.Second)) {
		t.Errorf("after a heartbeat: %+v; want renewed at +6s, live", w)
	}
	held = state(t, f.observe(), "held")
	if !held.Renewed || !held.Live() || !held.Since.Equal(start.Add(6*time.Second)) || !held.ExpiresBy.Equal(start.Add(16*time.Second)) {
		t.Errorf("after a renewal: %+v; want renewed at +6s, expiring by +16s", held)
	}

	f.clock.Advance(9 * time.Second)
	if held := state(t, f.observe(), "held"); !held.Live() {
		t.Errorf("9s after the renewal: %+v; want live", held)
	}
	f.clock.Advance(time.Second)
	obs = f.observe()
	if held := state(t, obs, "held"); held.Live() || !held.Expired || !held.ExpiresBy.IsZero() {
		t.Errorf("10s after the renewal: %+v; want expired", held)
	}
	if obs.Workers[0].Live {
		t.Errorf("a worker row unchanged for 10s is live: %+v", obs.Workers[0])
	}
}

// await runs AwaitUnheld in a goroutine, advancing the clock by step each
// time it waits, and returns its result.
func (f *fixture) await(shards []string, step time.Duration, between func(i int)) (lease.Observation, error) {
	f.t.Helper()
	type result struct {
		obs lease.Observation
		err error
	}
	done := make(chan result, 1)
	go func() {
		obs, err := f.op.AwaitUnheld(f.t.Context(), shards)
		done <- result{obs, err}
	}()
	for i := 0; ; i++ {
		select {
		case r := <-done:
			return r.obs, r.err
		default:
		}
		waiting := make(chan error, 1)
		go func() { waiting <- f.clock.WaitPending(f.t.Context(), 1) }()
		select {
		case r := <-done:
			return r.obs, r.err
		case err := <-waiting:
			if err != nil {
				f.t.Fatal(err)
			}
		}
		if between != nil {
			between(i)
		}
		f.clock.Advance(step)
		if i > 100 {
			f.t.Fatal("AwaitUnheld still waits after 100 steps")
		}
	}
}

// AwaitUnheld returns once a lease nobody renews has expired: after the
// lease duration, not before.
func TestAwaitUnheldWaitsForExpiry(t *testing.T) {
	f := newFixture(t, nil)
	obs, err := f.await(nil, time.Second, nil)
	if err != nil {
		t.Fatalf("AwaitUnheld of a lease nobody renews: %v", err)
	}
	if waited := obs.Time.Sub(start); waited != 10*time.Second {
		t.Errorf("AwaitUnheld returned after %v, want the lease duration, 10s", waited)
	}
	if held := state(t, obs, "held"); !held.Expired {
		t.Errorf("held lease %+v, want expired", held)
	}
	// Free leases alone: at once.
	if obs, err := f.op.AwaitUnheld(t.Context(), []string{"free"}); err != nil || !obs.Time.Equal(start.Add(10*time.Second)) {
		t.Errorf("AwaitUnheld(free) = %v at %v, want nil at once", err, obs.Time)
	}
}

// AwaitUnheld fails with ErrHeld, naming the shard and its owner, as soon as
// it sees the lease renewed.
func TestAwaitUnheldRefusesALiveOwner(t *testing.T) {
	f := newFixture(t, nil)
	held := f.held
	_, err := f.await([]string{"held"}, time.Second, func(i int) {
		if i == 2 {
			var err error
			if held, err = f.store.Renew(t.Context(), app, stream, held); err != nil {
				t.Error(err)
			}
		}
	})
	if !errors.Is(err, lease.ErrHeld) || !strings.Contains(err.Error(), "held (owner w)") {
		t.Fatalf("AwaitUnheld of a renewed lease = %v, want ErrHeld naming held (owner w)", err)
	}
}

// SetCheckpoints moves free leases' checkpoints backwards at once, creates
// the lease of a shard without one, and leaves a shard without one alone
// for a zero Checkpoint.
func TestSetCheckpointsFreeLeases(t *testing.T) {
	f := newFixture(t, nil)
	written, err := f.op.SetCheckpoints(t.Context(), []lease.Target{
		{Shard: "free", Checkpoint: checkpoint.At("5")},
		{Shard: "child", Checkpoint: checkpoint.StartAt(start), Parents: []string{"free", "held"}},
		{Shard: "nothing"},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 || written[0].Checkpoint != checkpoint.At("5") || written[1].Shard != "child" {
		t.Errorf("written %v", written)
	}
	if got := f.get("free"); got.Checkpoint != checkpoint.At("5") || got.Owner != "" {
		t.Errorf("free lease %v, want at 5", got)
	}
	if got := f.get("child"); got.Checkpoint != checkpoint.StartAt(start) || strings.Join(got.Parents, ",") != "free,held" || got.Owner != "" {
		t.Errorf("created lease %v, want free, from %v, parents free,held", got, start)
	}
	ls, _, _ := f.store.List(t.Context(), app, stream)
	if len(ls) != 3 {
		t.Errorf("leases %v: want no lease for a shard set to none", ls)
	}
}

// Without force, SetCheckpoints refuses a live lease, writing nothing; it
// writes an expired one; with force it writes a live one at once, and the
// owner's next write fails.
func TestSetCheckpointsHeldLease(t *testing.T) {
	f := newFixture(t, nil)
	target := []lease.Target{{Shard: "held", Checkpoint: checkpoint.At("1")}, {Shard: "free", Checkpoint: checkpoint.At("2")}}
	held := f.held
	done := make(chan error, 1)
	go func() {
		_, err := f.op.SetCheckpoints(t.Context(), target, false)
		done <- err
	}()
	if err := f.clock.WaitPending(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	held, err := f.store.Renew(t.Context(), app, stream, held)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	if err := <-done; !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("SetCheckpoints of a renewed lease = %v, want ErrHeld", err)
	}
	if got := f.get("free"); got.Checkpoint != checkpoint.At("200") {
		t.Errorf("free lease %v after a refused SetCheckpoints, want untouched", got)
	}

	written, err := f.op.SetCheckpoints(t.Context(), target, true)
	if err != nil || len(written) != 2 {
		t.Fatalf("SetCheckpoints with force = %v, %v", written, err)
	}
	if got := f.get("held"); got.Checkpoint != checkpoint.At("1") || got.Owner != "w" {
		t.Errorf("held lease %v, want owner w at 1", got)
	}
	if _, err := f.store.Checkpoint(t.Context(), app, stream, held, checkpoint.At("150")); !errors.Is(err, lease.ErrLost) {
		t.Errorf("the former holder's checkpoint = %v, want ErrLost", err)
	}
}

// racer takes a lease for worker "racer" just before each of the first n
// SetCheckpoint or Release calls, as a worker would between an Operator's
// listing and its write.
type racer struct {
	*memlease.Store
	n int
}

func (r *racer) race(ctx context.Context, shard string) {
	if r.n == 0 {
		return
	}
	r.n--
	ls, _, _ := r.List(ctx, app, stream)
	for _, l := range ls {
		if l.Shard == shard {
			if l.Owner == "" {
				_, _ = r.Take(ctx, app, stream, l, "racer")
			} else {
				_, _ = r.Renew(ctx, app, stream, l)
			}
		}
	}
}

func (r *racer) SetCheckpoint(ctx context.Context, a, s string, l lease.Lease, cp checkpoint.Checkpoint) (lease.Lease, error) {
	r.race(ctx, l.Shard)
	return r.Store.SetCheckpoint(ctx, a, s, l, cp)
}

func (r *racer) Release(ctx context.Context, a, s string, l lease.Lease) (lease.Lease, error) {
	r.race(ctx, l.Shard)
	return r.Store.Release(ctx, a, s, l)
}

// A lease taken between the listing and the write fails SetCheckpoints with
// ErrLost; with force, the write is retried on a new listing.
func TestSetCheckpointsLosesARace(t *testing.T) {
	r := &racer{}
	f := newFixture(t, func(s lease.Store) lease.Store { r.Store = s.(*memlease.Store); return r })
	r.n = 1
	_, err := f.op.SetCheckpoints(t.Context(), []lease.Target{{Shard: "free", Checkpoint: checkpoint.At("1")}}, false)
	if !errors.Is(err, lease.ErrLost) {
		t.Fatalf("SetCheckpoints raced by a take = %v, want ErrLost", err)
	}
	if got := f.get("free"); got.Checkpoint != checkpoint.At("200") || got.Owner != "racer" {
		t.Errorf("lease %v, want taken by racer, untouched", got)
	}
	r.n = 2
	if _, err := f.op.SetCheckpoints(t.Context(), []lease.Target{{Shard: "free", Checkpoint: checkpoint.At("1")}}, true); err != nil {
		t.Fatalf("SetCheckpoints with force raced twice: %v", err)
	}
	if got := f.get("free"); got.Checkpoint != checkpoint.At("1") {
		t.Errorf("lease %v, want at 1", got)
	}
}

// Release frees owned leases whatever their owner, retrying a write that
// lost to a renewal, and skips free ones.
func TestRelease(t *testing.T) {
	r := &racer{}
	f := newFixture(t, func(s lease.Store) lease.Store { r.Store = s.(*memlease.Store); return r })
	r.n = 2
	released, err := f.op.Release(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(released) != 1 || released[0].Shard != "held" || released[0].Owner != "" {
		t.Errorf("released %v, want held, free now", released)
	}
	if got := f.get("held"); got.Owner != "" {
		t.Errorf("held lease %v after Release", got)
	}
	if _, err := f.store.Renew(t.Context(), app, stream, f.held); !errors.Is(err, lease.ErrLost) {
		t.Errorf("the former owner's renewal = %v, want ErrLost", err)
	}
}

// Bad targets are refused before anything is written; a store without
// Admin cannot set checkpoints.
func TestSetCheckpointsRefusals(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		targets []lease.Target
		want    error
	}{
		{[]lease.Target{{Shard: "free", Checkpoint: checkpoint.At("1")}, {Shard: "free", Checkpoint: checkpoint.At("2")}}, lease.ErrInvalid},
		{[]lease.Target{{Shard: "free", Checkpoint: checkpoint.At("1")}, {Shard: ""}}, lease.ErrInvalid},
		{[]lease.Target{{Shard: "free", Checkpoint: checkpoint.At("1")}, {Shard: "x", Checkpoint: checkpoint.At("-1")}}, checkpoint.ErrInvalid},
	} {
		if _, err := f.op.SetCheckpoints(t.Context(), tc.targets, true); !errors.Is(err, tc.want) {
			t.Errorf("SetCheckpoints(%v) = %v, want %v", tc.targets, err, tc.want)
		}
	}
	if got := f.get("free"); got.Checkpoint != checkpoint.At("200") {
		t.Errorf("free lease %v after refused calls", got)
	}
	plain, err := lease.NewOperator(struct{ lease.Store }{f.store}, app, stream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.SetCheckpoints(t.Context(), []lease.Target{{Shard: "free", Checkpoint: checkpoint.At("1")}}, true); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SetCheckpoints on a store without Admin = %v, want errors.ErrUnsupported", err)
	}
	if _, err := lease.NewOperator(f.store, app, stream, lease.WithLeaseDuration(-1)); !errors.Is(err, lease.ErrInvalidOption) {
		t.Errorf("NewOperator with a negative lease duration = %v, want ErrInvalidOption", err)
	}
}

// An Operator takes any lease duration, whatever the protocol's other
// settings would need.
func TestNewOperatorShortLease(t *testing.T) {
	if _, err := lease.NewOperator(memlease.New(), app, stream, lease.WithLeaseDuration(time.Second)); err != nil {
		t.Errorf("NewOperator with a 1s lease: %v", err)
	}
}
