package leasetest_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/flawtest"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// flawEnv names, in the environment of a child test process, the flaw of the
// store TestFlawedStore runs the suite against.
const flawEnv = "LEASETEST_FLAW"

// TestSuiteCatchesFlaws runs the suite, in a child process each, against
// stores with one deliberate flaw, and checks that the cases meant to catch
// it fail, while the same store without a flaw passes.
func TestSuiteCatchesFlaws(t *testing.T) {
	flawtest.CatchesFlaws(t, flawEnv, "TestFlawedStore", map[string][]string{
		"none":                nil,
		"checkpointNotFenced": {"CheckpointFenced", "CheckpointForwardOnly"},
		"takeIgnoresCounter":  {"TakeStale"},
		"renewIgnoresOwner":   {"RenewByNonOwner"},
		"releaseNotFenced":    {"CheckpointFenced"},
		"workersAsLeases":     {"WorkerHeartbeats"},
		"aliasParents":        {"CallerOwnsLeases"},
		"ignoreCtx":           {"DoneContext"},
		"listFirst100":        {"ManyLeases"},
		"ignoreApp":           {"NamespacesIsolated"},
		"setForwardOnly":      {"AdminSetCheckpointAnywhere"},
		"setKeepsCounter":     {"AdminSetCheckpointAnywhere", "AdminSetCheckpointFences"},
		"setIgnoresCounter":   {"AdminSetCheckpointConditional"},
		"setDropsOwner":       {"AdminSetCheckpointKeepsTheRest", "AdminSetCheckpointFences"},
		"setZeroIgnored":      {"AdminSetCheckpointClears"},
	})
}

// TestFlawedStore runs the suite against the store with the flaw named in
// the environment; only TestSuiteCatchesFlaws runs it.
func TestFlawedStore(t *testing.T) {
	flaw := flawtest.Flaw(t, flawEnv)
	n := 0
	leasetest.RunConformanceTests(t, func(*testing.T) leasetest.Harness {
		return harness{store: &flawed{Store: memlease.New(), flaw: flaw, parents: map[string][]string{}, offset: map[string]uint64{}}, n: &n}
	})
}

type harness struct {
	store lease.Store
	n     *int
}

func (h harness) Store() lease.Store { return h.store }
func (h harness) Names() (string, string) {
	*h.n++
	return leasetest.UniqueName("app"), leasetest.UniqueName("stream")
}
func (h harness) Close() {}

// flawed is the memory store but for the flaw it is named.
type flawed struct {
	*memlease.Store
	flaw    string
	mu      sync.Mutex
	parents map[string][]string
	// offset is, by shard, how many SetCheckpoints flaw setKeepsCounter
	// hid: it shows counters that much lower than the memory store's, as a
	// store whose SetCheckpoint does not increment the counter would.
	offset map[string]uint64
}

// in returns l with the counter the memory store holds.
func (f *flawed) in(l lease.Lease) lease.Lease {
	f.mu.Lock()
	defer f.mu.Unlock()
	l.Counter += f.offset[l.Shard]
	return l
}

// out returns l with the counter the flawed store shows.
func (f *flawed) out(l lease.Lease) lease.Lease {
	f.mu.Lock()
	defer f.mu.Unlock()
	l.Counter -= f.offset[l.Shard]
	return l
}

// outErr applies out to the lease of a call's result.
func (f *flawed) outErr(l lease.Lease, err error) (lease.Lease, error) { return f.out(l), err }

func (f *flawed) app(app string) string {
	if f.flaw == "ignoreApp" {
		return ""
	}
	return app
}

func (f *flawed) ctx(ctx context.Context) context.Context {
	if f.flaw == "ignoreCtx" {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// current returns the stored lease of shard, or l when absent.
func (f *flawed) current(ctx context.Context, app, stream string, l lease.Lease) lease.Lease {
	ls, _, _ := f.Store.List(ctx, app, stream)
	for _, c := range ls {
		if c.Shard == l.Shard {
			return c
		}
	}
	return l
}

func (f *flawed) List(ctx context.Context, app, stream string) ([]lease.Lease, []lease.Worker, error) {
	ls, ws, err := f.Store.List(f.ctx(ctx), f.app(app), stream)
	for i := range ls {
		ls[i] = f.out(ls[i])
	}
	switch f.flaw {
	case "listFirst100":
		ls = ls[:min(len(ls), 100)]
	case "aliasParents":
		f.mu.Lock()
		defer f.mu.Unlock()
		for i := range ls {
			if p, ok := f.parents[ls[i].Shard]; ok {
				ls[i].Parents = p
			} else {
				f.parents[ls[i].Shard] = ls[i].Parents
			}
		}
	}
	return ls, ws, err
}

func (f *flawed) Create(ctx context.Context, app, stream string, l lease.Lease) error {
	return f.Store.Create(f.ctx(ctx), f.app(app), stream, l)
}

func (f *flawed) Take(ctx context.Context, app, stream string, l lease.Lease, owner string) (lease.Lease, error) {
	if f.flaw == "takeIgnoresCounter" {
		l = f.current(ctx, app, stream, l)
	}
	return f.outErr(f.Store.Take(f.ctx(ctx), f.app(app), stream, f.in(l), owner))
}

func (f *flawed) Renew(ctx context.Context, app, stream string, l lease.Lease) (lease.Lease, error) {
	if f.flaw == "renewIgnoresOwner" {
		if c := f.current(ctx, app, stream, l); c.Owner != "" {
			l = c
		}
	}
	return f.outErr(f.Store.Renew(f.ctx(ctx), f.app(app), stream, f.in(l)))
}

func (f *flawed) Checkpoint(ctx context.Context, app, stream string, l lease.Lease, cp checkpoint.Checkpoint) (lease.Lease, error) {
	if f.flaw == "checkpointNotFenced" {
		if c := f.current(ctx, app, stream, l); c.Owner != "" {
			l = c
		}
	}
	return f.outErr(f.Store.Checkpoint(f.ctx(ctx), f.app(app), stream, f.in(l), cp))
}

func (f *flawed) SetCheckpoint(ctx context.Context, app, stream string, l lease.Lease, cp checkpoint.Checkpoint) (lease.Lease, error) {
	switch f.flaw {
	case "setForwardOnly":
		return f.outErr(f.Store.Checkpoint(f.ctx(ctx), f.app(app), stream, l, cp))
	case "setIgnoresCounter":
		l = f.current(ctx, app, stream, l)
	case "setZeroIgnored":
		if cp.IsZero() {
			return f.outErr(f.Store.Renew(f.ctx(ctx), f.app(app), stream, l))
		}
	case "setKeepsCounter":
		got, err := f.Store.SetCheckpoint(f.ctx(ctx), f.app(app), stream, f.in(l), cp)
		if err == nil {
			f.mu.Lock()
			f.offset[l.Shard]++
			f.mu.Unlock()
		}
		return f.out(got), err
	case "setDropsOwner":
		got, err := f.Store.SetCheckpoint(f.ctx(ctx), f.app(app), stream, l, cp)
		if err != nil || got.Owner == "" {
			return got, err
		}
		return f.Store.Release(f.ctx(ctx), f.app(app), stream, got)
	}
	return f.Store.SetCheckpoint(f.ctx(ctx), f.app(app), stream, l, cp)
}

func (f *flawed) Release(ctx context.Context, app, stream string, l lease.Lease) (lease.Lease, error) {
	if f.flaw == "releaseNotFenced" {
		if c := f.current(ctx, app, stream, l); c.Owner != "" {
			l = c
		}
	}
	return f.outErr(f.Store.Release(f.ctx(ctx), f.app(app), stream, f.in(l)))
}

func (f *flawed) Delete(ctx context.Context, app, stream string, l lease.Lease) error {
	return f.Store.Delete(f.ctx(ctx), f.app(app), stream, f.in(l))
}

func (f *flawed) RequestHandoff(ctx context.Context, app, stream string, l lease.Lease, to string) (lease.Lease, error) {
	return f.outErr(f.Store.RequestHandoff(f.ctx(ctx), f.app(app), stream, f.in(l), to))
}

func (f *flawed) Heartbeat(ctx context.Context, app, stream, worker string) (lease.Worker, error) {
	if f.flaw == "workersAsLeases" {
		_ = f.Store.Create(ctx, f.app(app), stream, lease.Lease{Shard: worker})
	}
	return f.Store.Heartbeat(f.ctx(ctx), f.app(app), stream, worker)
}

func (f *flawed) DeleteWorker(ctx context.Context, app, stream string, w lease.Worker) error {
	return f.Store.DeleteWorker(f.ctx(ctx), f.app(app), stream, w)
}

func TestClock(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := leasetest.NewClock(start)
	select {
	case now := <-c.After(0):
		if !now.Equal(start) {
			t.Errorf("After(0) sent %v", now)
		}
	default:
		t.Fatal("After(0) did not fire at once")
	}
	a, b := c.After(2*time.Second), c.After(time.Second)
	if c.Pending() != 2 {
		t.Fatalf("Pending() = %d, want 2", c.Pending())
	}
	if d, ok := c.Next(); !ok || d != time.Second {
		t.Errorf("Next() = %v, %v; want 1s", d, ok)
	}
	c.Advance(time.Second)
	select {
	case now := <-b:
		if !now.Equal(start.Add(time.Second)) {
			t.Errorf("timer fired with %v", now)
		}
	default:
		t.Fatal("1s timer did not fire")
	}
	select {
	case <-a:
		t.Fatal("2s timer fired after 1s")
	default:
	}
	if c.Pending() != 1 || !c.Now().Equal(start.Add(time.Second)) {
		t.Errorf("Pending() = %d, Now() = %v", c.Pending(), c.Now())
	}
	// WaitPending waits for a goroutine to arm a timer.
	armed := make(chan (<-chan time.Time))
	go func() { armed <- c.After(time.Hour) }()
	if err := c.WaitPending(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	<-armed
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.WaitPending(ctx, 5); err == nil {
		t.Error("WaitPending with a canceled context returned nil")
	}
	c.Advance(time.Hour)
	if c.Pending() != 0 {
		t.Errorf("Pending() = %d after every deadline passed", c.Pending())
	}
	if _, ok := c.Next(); ok {
		t.Error("Next() reports a timer")
	}
}

func TestUniqueName(t *testing.T) {
	if a, b := leasetest.UniqueName("x"), leasetest.UniqueName("x"); a == b || !strings.HasPrefix(a, "x-") {
		t.Errorf("UniqueName = %q, %q", a, b)
	}
}
