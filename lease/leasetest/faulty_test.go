package leasetest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memory"
)

// TestFaultyConformance: a Faulty without faults is the store it wraps.
func TestFaultyConformance(t *testing.T) {
	n := 0
	leasetest.RunConformanceTests(t, func(t *testing.T) leasetest.Harness {
		return harness{store: leasetest.NewFaulty(t, memory.New()), n: &n}
	})
}

var errDown = errors.New("store down")

// TestFaultyOps: each method is the operation it says, about the shard of
// its lease, and is counted.
func TestFaultyOps(t *testing.T) {
	ctx := t.Context()
	held := func(shard string) lease.Lease { return lease.Lease{Shard: shard, Owner: "w", Counter: 1} }
	calls := map[leasetest.Op]func(s lease.Store, shard string) error{
		leasetest.OpList: func(s lease.Store, _ string) error {
			_, _, err := s.List(ctx, "a", "s")
			return err
		},
		leasetest.OpCreate: func(s lease.Store, shard string) error { return s.Create(ctx, "a", "s", lease.Lease{Shard: shard}) },
		leasetest.OpTake: func(s lease.Store, shard string) error {
			_, err := s.Take(ctx, "a", "s", lease.Lease{Shard: shard}, "w")
			return err
		},
		leasetest.OpRenew: func(s lease.Store, shard string) error {
			_, err := s.Renew(ctx, "a", "s", held(shard))
			return err
		},
		leasetest.OpCheckpoint: func(s lease.Store, shard string) error {
			_, err := s.Checkpoint(ctx, "a", "s", held(shard), checkpoint.At("1"))
			return err
		},
		leasetest.OpRelease: func(s lease.Store, shard string) error {
			_, err := s.Release(ctx, "a", "s", held(shard))
			return err
		},
		leasetest.OpDelete: func(s lease.Store, shard string) error { return s.Delete(ctx, "a", "s", held(shard)) },
		leasetest.OpRequestHandoff: func(s lease.Store, shard string) error {
			_, err := s.RequestHandoff(ctx, "a", "s", held(shard), "v")
			return err
		},
		leasetest.OpHeartbeat: func(s lease.Store, _ string) error {
			_, err := s.Heartbeat(ctx, "a", "s", "w")
			return err
		},
		leasetest.OpDeleteWorker: func(s lease.Store, _ string) error {
			return s.DeleteWorker(ctx, "a", "s", lease.Worker{ID: "w", Counter: 1})
		},
	}
	for op := range calls {
		f := leasetest.NewFaulty(t, memory.New())
		f.Inject(leasetest.Fault{Match: leasetest.Match{Op: op}, Action: leasetest.Fail(errDown)})
		onX := f.Inject(leasetest.Fault{Match: leasetest.Match{Shard: "x"}, Action: leasetest.Fail(errDown)})
		for other, call := range calls {
			err := call(f, "y")
			if other == op != errors.Is(err, errDown) {
				t.Errorf("fault on %s: %s = %v", op, other, err)
			}
			err = call(f, "x")
			noLease := other == leasetest.OpList || other == leasetest.OpHeartbeat || other == leasetest.OpDeleteWorker
			if want := other == op || !noLease; want != errors.Is(err, errDown) {
				t.Errorf("fault on shard x: %s of x = %v", other, err)
			}
			if n := f.Calls(other); n != 2 {
				t.Errorf("Calls(%s) = %d, want 2", other, n)
			}
		}
		want := 7 // the calls about a lease, but the one the first fault hit
		if op != leasetest.OpList && op != leasetest.OpHeartbeat && op != leasetest.OpDeleteWorker {
			want--
		}
		if onX.Hits() != want {
			t.Errorf("fault on %s: the fault on shard x hit %d calls, want %d", op, onX.Hits(), want)
		}
	}
}

// recorder is a TB that records the errors reported to it.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestFaultyRefuses: a fault on an unknown operation, or with a value out of
// range, is refused with ErrInvalidFault and fails the test; it never hits.
func TestFaultyRefuses(t *testing.T) {
	for name, ft := range map[string]leasetest.Fault{
		"unknown op":  {Match: leasetest.Match{Op: "Lease"}, Action: leasetest.Fail(errDown)},
		"nil error":   {Action: leasetest.Fail(nil)},
		"bad chance":  {Action: leasetest.Fail(errDown), Probability: -1},
		"bad latency": {Action: leasetest.Latency(-1)},
	} {
		t.Run(name, func(t *testing.T) {
			if err := ft.Validate(); !errors.Is(err, leasetest.ErrInvalidFault) {
				t.Errorf("Validate = %v, want ErrInvalidFault", err)
			}
			tb := &recorder{TB: t}
			f := leasetest.NewFaulty(tb, memory.New())
			in := f.Inject(ft)
			if !errors.Is(in.Err(), leasetest.ErrInvalidFault) || len(tb.errs) != 1 {
				t.Errorf("Inject: Err() = %v, %d errors reported; want ErrInvalidFault, 1", in.Err(), len(tb.errs))
			}
			if _, _, err := f.List(t.Context(), "a", "s"); err != nil || in.Hits() != 0 {
				t.Errorf("List = %v, %d hits: a refused fault hit", err, in.Hits())
			}
		})
	}
	tb := &recorder{TB: t}
	in := leasetest.NewFaulty(tb, memory.New()).Script(leasetest.Match{Op: "renew"}, leasetest.Pass)
	if !errors.Is(in.Err(), leasetest.ErrInvalidFault) || len(tb.errs) != 1 {
		t.Errorf("Script: Err() = %v, %d errors reported; want ErrInvalidFault, 1", in.Err(), len(tb.errs))
	}
}

// TestFaultyFailAfter: a write hit by FailAfter applies and its caller gets
// the error, as a write whose reply timed out; a write the store refuses is
// not hit.
func TestFaultyFailAfter(t *testing.T) {
	ctx := t.Context()
	f := leasetest.NewFaulty(t, memory.New())
	if err := f.Create(ctx, "a", "s", lease.Lease{Shard: "x"}); err != nil {
		t.Fatal(err)
	}
	in := f.Inject(leasetest.Fault{Match: leasetest.Match{Op: leasetest.OpRenew}, Action: leasetest.FailAfter(context.DeadlineExceeded), Times: 1})
	ls, _, _ := f.List(ctx, "a", "s")
	h, err := f.Take(ctx, "a", "s", ls[0], "w")
	if err != nil {
		t.Fatalf("Take is not faulted: %v", err)
	}
	if _, err := f.Renew(ctx, "a", "s", lease.Lease{Shard: "x", Owner: "w", Counter: 7}); !errors.Is(err, lease.ErrLost) || in.Hits() != 0 {
		t.Fatalf("Renew with a stale counter = %v, %d hits; want ErrLost, no hit", err, in.Hits())
	}
	if l, err := f.Renew(ctx, "a", "s", h); !errors.Is(err, context.DeadlineExceeded) || l.Shard != "" {
		t.Fatalf("Renew = %v, %v; want the injected deadline and no lease", l, err)
	}
	ls, _, _ = f.List(ctx, "a", "s")
	if ls[0].Counter != h.Counter+1 {
		t.Errorf("counter %d after the failed renewal, want %d: the write applied", ls[0].Counter, h.Counter+1)
	}
	if _, err := f.Renew(ctx, "a", "s", ls[0]); err != nil {
		t.Errorf("next Renew = %v, want the fault spent", err)
	}
}

// TestFaultyHang: a call hangs until its fault is removed, or its context
// ends; the faults of a Faulty made with a TB are removed when the test
// ends.
func TestFaultyHang(t *testing.T) {
	done := make(chan error, 1)
	t.Run("hanging", func(t *testing.T) {
		f := leasetest.NewFaulty(t, memory.New())
		f.Inject(leasetest.Fault{Match: leasetest.Match{Op: leasetest.OpHeartbeat}, Action: leasetest.Hang})
		go func() {
			_, err := f.Heartbeat(context.Background(), "a", "s", "w")
			done <- err
		}()
		if err := f.WaitHung(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := f.Heartbeat(ctx, "a", "s", "w"); !errors.Is(err, context.Canceled) {
			t.Errorf("Heartbeat with a done context = %v, want it canceled", err)
		}
		if _, _, err := f.List(t.Context(), "a", "s"); err != nil {
			t.Errorf("List = %v: not hung", err)
		}
	})
	if err := <-done; err != nil {
		t.Errorf("the hung Heartbeat after its test ended = %v, want it through", err)
	}
}
