package memory_test

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/memory"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type harness struct{ store *memory.Store }

func (h harness) Store() checkpoint.Store { return h.store }
func (h harness) Names() (app, stream string) {
	return checkpointtest.UniqueName("app"), checkpointtest.UniqueName("stream")
}
func (h harness) Close() {}

func TestConformance(t *testing.T) {
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{memory.New()}
	})
}

func TestConformanceZeroValue(t *testing.T) {
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{new(memory.Store)}
	})
}

// TestConformanceShared runs the suite against one store shared by every
// case, as a durable store is: it relies on Names alone for a fresh state.
func TestConformanceShared(t *testing.T) {
	s := memory.New()
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{s}
	})
}

var errDown = errors.New("store down")

func TestFailWith(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	cps := map[string]checkpoint.Checkpoint{"a": checkpoint.At("10")}
	if err := s.Save(ctx, "app", "stream", cps); err != nil {
		t.Fatal(err)
	}

	s.FailWith(errDown)
	for range 3 {
		if _, err := s.Load(ctx, "app", "stream"); !errors.Is(err, errDown) {
			t.Errorf("Load while failing: %v, want %v", err, errDown)
		}
		err := s.Save(ctx, "app", "stream", map[string]checkpoint.Checkpoint{"a": checkpoint.At("20")})
		if !errors.Is(err, errDown) {
			t.Errorf("Save while failing: %v, want %v", err, errDown)
		}
	}
	// A done context is reported as such even while failing.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Save(canceled, "app", "stream", nil); !errors.Is(err, context.Canceled) || errors.Is(err, errDown) {
		t.Errorf("Save with a canceled context while failing: %v, want context.Canceled", err)
	}

	s.FailWith(nil)
	got, err := s.Load(ctx, "app", "stream")
	if err != nil || got["a"] != checkpoint.At("10") {
		t.Fatalf("Load after FailWith(nil) = %v, %v; want a=10 untouched", got, err)
	}
	if got, want := s.Saves(), 5; got != want {
		t.Errorf("Saves() = %d, want %d: failed calls count", got, want)
	}
	if got, want := s.Writes(), 1; got != want {
		t.Errorf("Writes() = %d, want %d: failed calls write nothing", got, want)
	}
}

func TestFailNext(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	s.FailNext(2, errDown)
	cps := map[string]checkpoint.Checkpoint{"a": checkpoint.At("10")}
	// A scripted outage: fail, fail, then succeed, as a retrying consumer
	// sees it.
	var errs []error
	for range 4 {
		errs = append(errs, s.Save(ctx, "app", "stream", cps))
	}
	if !errors.Is(errs[0], errDown) || !errors.Is(errs[1], errDown) || errs[2] != nil || errs[3] != nil {
		t.Errorf("Saves during FailNext(2) returned %v; want two %v then nil", errs, errDown)
	}
	if got := s.Writes(); got != 1 {
		t.Errorf("Writes() = %d, want 1", got)
	}

	// FailWith wins over FailNext and does not consume it.
	s.FailNext(1, errDown)
	other := errors.New("other")
	s.FailWith(other)
	if _, err := s.Load(ctx, "app", "stream"); !errors.Is(err, other) {
		t.Errorf("Load = %v, want %v", err, other)
	}
	s.FailWith(nil)
	if _, err := s.Load(ctx, "app", "stream"); !errors.Is(err, errDown) {
		t.Errorf("Load = %v, want the pending FailNext %v", err, errDown)
	}
	if _, err := s.Load(ctx, "app", "stream"); err != nil {
		t.Errorf("Load after the FailNext count = %v, want nil", err)
	}

	// FailNext(0, nil) cancels.
	s.FailNext(5, errDown)
	s.FailNext(0, nil)
	if _, err := s.Load(ctx, "app", "stream"); err != nil {
		t.Errorf("Load after FailNext(0, nil) = %v, want nil", err)
	}
}

func TestSavesAndWrites(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	steps := []struct {
		cps    map[string]checkpoint.Checkpoint
		writes int // Writes() after the step
	}{
		{nil, 0},
		{map[string]checkpoint.Checkpoint{"a": checkpoint.At("10"), "b": checkpoint.At("10")}, 2},
		{map[string]checkpoint.Checkpoint{"a": checkpoint.At("10"), "b": checkpoint.At("9")}, 2}, // equal, backward
		{map[string]checkpoint.Checkpoint{"a": checkpoint.At("11"), "b": checkpoint.At("9")}, 3},
		{map[string]checkpoint.Checkpoint{"a": checkpoint.At("12"), "b": checkpoint.At("x")}, 3}, // invalid: nothing
		{map[string]checkpoint.Checkpoint{"a": checkpoint.Ended(), "c": checkpoint.AtSub("1", 0)}, 5},
	}
	for i, st := range steps {
		_ = s.Save(ctx, "app", "stream", st.cps)
		if got := s.Saves(); got != i+1 {
			t.Errorf("step %d: Saves() = %d, want %d", i, got, i+1)
		}
		if got := s.Writes(); got != st.writes {
			t.Errorf("step %d: Writes() = %d, want %d", i, got, st.writes)
		}
	}
}

func TestSaveErrors(t *testing.T) {
	s := memory.New()
	err := s.Save(t.Context(), "app", "stream", map[string]checkpoint.Checkpoint{
		"shard-b": checkpoint.At("x"),
		"shard-a": checkpoint.At(""),
		"shard-c": checkpoint.At("1"),
	})
	const want = `memory: save app/stream: shard shard-a: checkpoint: invalid checkpoint: sequence number "" is not a decimal integer`
	if !errors.Is(err, checkpoint.ErrInvalid) || err.Error() != want {
		t.Errorf("Save error = %v, want %s", err, want)
	}
}
