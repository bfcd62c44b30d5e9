package lease_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memory"
)

// oneLease starts a Manager with a manual clock over store, holding the
// single lease "s1", and returns it with its clock and a function that
// advances the clock by d and waits for the Manager to be done with what
// came due. Events are collected in *events.
func oneLease(t *testing.T, store lease.Store, opts ...lease.Option) (m *lease.Manager, advance func(time.Duration), events func() []lease.Event) {
	t.Helper()
	clock := leasetest.NewClock(epoch)
	m, err := lease.New(store, "a", "s", append([]lease.Option{lease.WorkerID("w"), lease.WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sync(t.Context(), []lease.Shard{{ID: "s1"}}, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got []lease.Event
	received := 0
	drain := func() {
		for received < lease.EmittedEvents(m) {
			got = append(got, <-m.Events())
			received++
		}
	}
	t.Cleanup(func() {
		cancel()
		for range m.Events() {
		}
	})
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := clock.WaitPending(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	drain()
	if len(got) != 1 || got[0].Kind != lease.Acquired {
		t.Fatalf("events %v, want one Acquired", got)
	}
	advance = func(d time.Duration) {
		clock.Advance(d)
		if err := clock.WaitPending(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		drain()
	}
	return m, advance, func() []lease.Event { return got }
}

// once returns a fault doing a to the next call of op.
func once(op leasetest.Op, a leasetest.Action) leasetest.Fault {
	return leasetest.Fault{Match: leasetest.Match{Op: op}, Action: a, Times: 1}
}

func storedLease(t *testing.T, store lease.Store, shard string) lease.Lease {
	t.Helper()
	ls, _, err := store.List(t.Context(), "a", "s")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Shard == shard {
			return l
		}
	}
	t.Fatalf("no lease %s", shard)
	return lease.Lease{}
}

// TestRenewalAppliedThenTimedOut: a renewal the store applied but whose
// reply timed out does not leave the Manager with a stale counter: it reads
// the lease back and adopts it, and keeps the lease.
func TestRenewalAppliedThenTimedOut(t *testing.T) {
	store := leasetest.NewFaulty(t, memory.New())
	m, advance, events := oneLease(t, store)
	store.Inject(once(leasetest.OpRenew, leasetest.FailAfter(context.DeadlineExceeded)))
	advance(lease.DefaultLeaseDuration / 3) // the renewal, applied then failed, and a cycle
	if store.Calls(leasetest.OpRenew) != 1 {
		t.Fatalf("%d renewals, want 1", store.Calls(leasetest.OpRenew))
	}
	advance(lease.DefaultCycleInterval) // another cycle: reconcile with the listing
	if err := m.Checkpoint(t.Context(), "s1", checkpoint.At("10")); err != nil {
		t.Errorf("Checkpoint after the timed-out renewal = %v, want nil", err)
	}
	advance(lease.DefaultLeaseDuration / 3) // another renewal
	for _, ev := range events() {
		if ev.Kind == lease.Lost {
			t.Errorf("event %v: the lease was lost for no reason", ev)
		}
	}
	if h := m.Held(); len(h) != 1 {
		t.Errorf("Held() = %v, want s1", h)
	}
}

// TestCheckpointAppliedThenTimedOut: a checkpoint the store applied whose
// reply timed out (or whose context was cancelled) succeeds, and the next
// write goes through.
func TestCheckpointAppliedThenTimedOut(t *testing.T) {
	for _, fault := range []error{context.DeadlineExceeded, context.Canceled, errors.New("connection reset")} {
		t.Run(fault.Error(), func(t *testing.T) {
			store := leasetest.NewFaulty(t, memory.New())
			m, _, _ := oneLease(t, store)
			store.Inject(once(leasetest.OpCheckpoint, leasetest.FailAfter(fault)))
			if err := m.Checkpoint(t.Context(), "s1", checkpoint.At("10")); err != nil {
				t.Errorf("Checkpoint applied then failed = %v, want nil (read back)", err)
			}
			if err := m.Checkpoint(t.Context(), "s1", checkpoint.At("20")); err != nil {
				t.Errorf("next Checkpoint = %v, want nil", err)
			}
			if l := storedLease(t, store, "s1"); l.Checkpoint.SequenceNumber != "20" || l.Owner != "w" {
				t.Errorf("stored %v, want checkpoint 20 owned by w", l)
			}
			// The write was not applied: the error is returned and the
			// lease stays held.
			store.Inject(once(leasetest.OpCheckpoint, leasetest.Fail(fault)))
			if err := m.Checkpoint(t.Context(), "s1", checkpoint.At("30")); !errors.Is(err, fault) || errors.Is(err, lease.ErrLost) {
				t.Errorf("Checkpoint not applied = %v, want %v", err, fault)
			}
			if err := m.Checkpoint(t.Context(), "s1", checkpoint.At("30")); err != nil {
				t.Errorf("Checkpoint retried = %v, want nil", err)
			}
			// Release applied then failed: released.
			store.Inject(once(leasetest.OpRelease, leasetest.FailAfter(fault)))
			if err := m.Release(t.Context(), "s1"); err != nil {
				t.Errorf("Release applied then failed = %v, want nil", err)
			}
			if l := storedLease(t, store, "s1"); l.Owner != "" {
				t.Errorf("stored %v after Release, want it free", l)
			}
		})
	}
}

// TestCheckpointTimedOutLeaseTaken: when the lease read back after an
// unclear failure is another worker's, the write is lost.
func TestCheckpointTimedOutLeaseTaken(t *testing.T) {
	store := leasetest.NewFaulty(t, memory.New())
	m, _, _ := oneLease(t, store)
	l := storedLease(t, store, "s1")
	if _, err := store.Take(t.Context(), "a", "s", l, "other"); err != nil {
		t.Fatal(err)
	}
	store.Inject(once(leasetest.OpCheckpoint, leasetest.Fail(context.DeadlineExceeded)))
	if err := m.Checkpoint(t.Context(), "s1", checkpoint.At("10")); !errors.Is(err, lease.ErrLost) {
		t.Errorf("Checkpoint = %v, want ErrLost", err)
	}
	if h := m.Held(); len(h) != 0 {
		t.Errorf("Held() = %v, want nothing", h)
	}
}

// TestTakeAppliedThenTimedOut: a take the store applied whose reply timed
// out is adopted at once.
func TestTakeAppliedThenTimedOut(t *testing.T) {
	store := leasetest.NewFaulty(t, memory.New())
	store.Inject(once(leasetest.OpTake, leasetest.FailAfter(context.DeadlineExceeded)))
	m, _, _ := oneLease(t, store)
	if err := m.Checkpoint(t.Context(), "s1", checkpoint.At("10")); err != nil {
		t.Errorf("Checkpoint = %v, want nil", err)
	}
}

// TestOnRenewedHook: OnRenewed is called with the shard of every renewal,
// including one whose reply was lost but that read back as applied, and
// not for a failed one.
func TestOnRenewedHook(t *testing.T) {
	store := leasetest.NewFaulty(t, memory.New())
	var renewed atomic.Int64
	var mu sync.Mutex
	var shards []string
	_, advance, _ := oneLease(t, store, lease.WithHooks(lease.Hooks{OnRenewed: func(shard string) {
		renewed.Add(1)
		mu.Lock()
		shards = append(shards, shard)
		mu.Unlock()
	}}))
	renewEvery := lease.DefaultLeaseDuration / 3
	advance(renewEvery)
	store.Inject(once(leasetest.OpRenew, leasetest.FailAfter(context.DeadlineExceeded)))
	advance(renewEvery)
	store.Inject(once(leasetest.OpRenew, leasetest.Fail(errors.New("throttled"))))
	advance(renewEvery)
	if got, want := renewed.Load(), int64(2); got != want || store.Calls(leasetest.OpRenew) != 3 {
		t.Errorf("OnRenewed called %d times for %d renewals (one failed), want %d", got, store.Calls(leasetest.OpRenew), want)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range shards {
		if s != "s1" {
			t.Errorf("OnRenewed(%q), want s1", s)
		}
	}
}

func TestHandoffTimeoutAccessor(t *testing.T) {
	m, err := lease.New(memory.New(), "a", "s")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.HandoffTimeout(), lease.DefaultLeaseDuration/2; got != want {
		t.Errorf("default HandoffTimeout() = %v, want %v", got, want)
	}
	m, err = lease.New(memory.New(), "a", "s", lease.HandoffTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.HandoffTimeout(); got != 3*time.Second {
		t.Errorf("HandoffTimeout() = %v, want 3s", got)
	}
}
