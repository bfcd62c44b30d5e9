package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type harness struct {
	store *memory.Store
	n     *int
}

func (h harness) Store() lease.Store { return h.store }
func (h harness) Names() (string, string) {
	*h.n++
	return fmt.Sprintf("app%d", *h.n), fmt.Sprintf("stream%d", *h.n)
}
func (h harness) Close() {}

func TestConformance(t *testing.T) {
	leasetest.RunConformanceTests(t, func(*testing.T) leasetest.Harness {
		return harness{store: memory.New(), n: new(int)}
	})
}

// TestConformanceSharedStore runs the suite with one store for every case,
// as a long-lived service would be.
func TestConformanceSharedStore(t *testing.T) {
	s, n := memory.New(), new(int)
	leasetest.RunConformanceTests(t, func(*testing.T) leasetest.Harness { return harness{store: s, n: n} })
}

func TestZeroValue(t *testing.T) {
	var s memory.Store
	ctx := t.Context()
	if err := s.Create(ctx, "a", "s", lease.Lease{Shard: "x"}); err != nil {
		t.Fatal(err)
	}
	ls, _, err := s.List(ctx, "a", "s")
	if err != nil || len(ls) != 1 {
		t.Fatalf("List = %v, %v", ls, err)
	}
}

func TestFailNext(t *testing.T) {
	s := memory.New()
	ctx := t.Context()
	boom := errors.New("boom")
	if err := s.Create(ctx, "a", "s", lease.Lease{Shard: "x"}); err != nil {
		t.Fatal(err)
	}
	s.FailNext(2, boom, memory.OpRenew, memory.OpTake)
	ls, _, err := s.List(ctx, "a", "s")
	if err != nil {
		t.Fatalf("List is not among the failing operations: %v", err)
	}
	for i := range 2 {
		if _, err := s.Take(ctx, "a", "s", ls[0], "w"); !errors.Is(err, boom) {
			t.Fatalf("Take %d = %v, want boom", i, err)
		}
	}
	h, err := s.Take(ctx, "a", "s", ls[0], "w")
	if err != nil {
		t.Fatalf("third Take: %v", err)
	}
	// A failed call writes nothing.
	if h.Counter != 1 {
		t.Errorf("counter %d after one successful take, want 1", h.Counter)
	}
	s.FailNext(1, boom)
	if _, _, err := s.List(ctx, "a", "s"); !errors.Is(err, boom) {
		t.Errorf("List = %v, want boom", err)
	}
	if got := s.Calls(memory.OpTake); got != 3 {
		t.Errorf("Calls(Take) = %d, want 3", got)
	}
	// A done context does not consume a failure.
	s.FailNext(1, boom)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.List(cctx, "a", "s"); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a canceled context = %v", err)
	}
	if _, _, err := s.List(ctx, "a", "s"); !errors.Is(err, boom) {
		t.Errorf("List = %v, want the pending failure", err)
	}
}

func TestFailWith(t *testing.T) {
	s := memory.New()
	boom := errors.New("down")
	s.FailWith(boom)
	for range 3 {
		if _, err := s.Heartbeat(t.Context(), "a", "s", "w"); !errors.Is(err, boom) {
			t.Fatalf("Heartbeat = %v, want down", err)
		}
	}
	s.FailWith(nil)
	if w, err := s.Heartbeat(t.Context(), "a", "s", "w"); err != nil || w.Counter != 1 {
		t.Fatalf("Heartbeat after FailWith(nil) = %v, %v", w, err)
	}
}

func TestPause(t *testing.T) {
	s := memory.New()
	resume := s.Pause()
	done := make(chan error, 1)
	go func() {
		_, err := s.Heartbeat(context.Background(), "a", "s", "w")
		done <- err
	}()
	// A call with a deadline gives up.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := s.List(ctx, "a", "s"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("List while paused = %v, want the deadline", err)
	}
	if err := s.Paused(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("Heartbeat returned while paused: %v", err)
	default:
	}
	resume()
	resume()
	if err := <-done; err != nil {
		t.Fatalf("Heartbeat after resume: %v", err)
	}
}

func TestFailAfterWrite(t *testing.T) {
	s := memory.New()
	ctx := t.Context()
	if err := s.Create(ctx, "a", "s", lease.Lease{Shard: "x"}); err != nil {
		t.Fatal(err)
	}
	s.FailAfterWrite(1, context.DeadlineExceeded, memory.OpRenew)
	ls, _, _ := s.List(ctx, "a", "s")
	h, err := s.Take(ctx, "a", "s", ls[0], "w")
	if err != nil {
		t.Fatalf("Take is not among the failing operations: %v", err)
	}
	// A refused write does not consume the failure.
	if _, err := s.Renew(ctx, "a", "s", lease.Lease{Shard: "x", Owner: "w", Counter: 7}); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("Renew with a stale counter = %v, want ErrLost", err)
	}
	if _, err := s.Renew(ctx, "a", "s", h); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Renew = %v, want the injected deadline", err)
	}
	ls, _, _ = s.List(ctx, "a", "s")
	if ls[0].Counter != h.Counter+1 {
		t.Errorf("counter %d after the failed renewal, want %d: the write applied", ls[0].Counter, h.Counter+1)
	}
	if _, err := s.Renew(ctx, "a", "s", ls[0]); err != nil {
		t.Errorf("next Renew = %v, want the failure consumed", err)
	}
}
