package checkpointtest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/memory"
)

// TestFaultyConformance: a Faulty without faults is the store it wraps.
func TestFaultyConformance(t *testing.T) {
	checkpointtest.RunConformanceTests(t, func(t *testing.T) checkpointtest.Harness {
		return faultyHarness{checkpointtest.NewFaulty(t, memory.New())}
	})
}

type faultyHarness struct{ store *checkpointtest.Faulty }

func (h faultyHarness) Store() checkpoint.Store { return h.store }
func (h faultyHarness) Names() (app, stream string) {
	return checkpointtest.UniqueName("app"), checkpointtest.UniqueName("stream")
}
func (h faultyHarness) Close() {}

var errDown = errors.New("store down")

// TestFaultyOps: each method is the operation it says, matched by app and
// stream, and counted.
func TestFaultyOps(t *testing.T) {
	ctx := t.Context()
	calls := map[checkpointtest.Op]func(s checkpoint.Store, app, stream string) error{
		checkpointtest.OpLoad: func(s checkpoint.Store, app, stream string) error {
			_, err := s.Load(ctx, app, stream)
			return err
		},
		checkpointtest.OpSave: func(s checkpoint.Store, app, stream string) error {
			return s.Save(ctx, app, stream, map[string]checkpoint.Checkpoint{"x": checkpoint.At("1")})
		},
	}
	for op := range calls {
		f := checkpointtest.NewFaulty(t, memory.New())
		f.Inject(checkpointtest.Fault{Match: checkpointtest.Match{Op: op, App: "a", Stream: "s"}, Action: checkpointtest.Fail(errDown)})
		for other, call := range calls {
			for _, names := range [][2]string{{"a", "s"}, {"b", "s"}, {"a", "t"}} {
				err := call(f, names[0], names[1])
				if hit := other == op && names == [2]string{"a", "s"}; hit != errors.Is(err, errDown) {
					t.Errorf("fault on %s of a/s: %s of %s/%s = %v", op, other, names[0], names[1], err)
				}
			}
			if n := f.Calls(other); n != 3 {
				t.Errorf("Calls(%s) = %d, want 3", other, n)
			}
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
	for name, ft := range map[string]checkpointtest.Fault{
		"unknown op":  {Match: checkpointtest.Match{Op: "Sav"}, Action: checkpointtest.Fail(errDown)},
		"nil error":   {Action: checkpointtest.FailAfter(nil)},
		"bad times":   {Action: checkpointtest.Fail(errDown), Times: -1},
		"bad latency": {Action: checkpointtest.Latency(-1)},
	} {
		t.Run(name, func(t *testing.T) {
			if err := ft.Validate(); !errors.Is(err, checkpointtest.ErrInvalidFault) {
				t.Errorf("Validate = %v, want ErrInvalidFault", err)
			}
			tb := &recorder{TB: t}
			f := checkpointtest.NewFaulty(tb, memory.New())
			in := f.Inject(ft)
			if !errors.Is(in.Err(), checkpointtest.ErrInvalidFault) || len(tb.errs) != 1 {
				t.Errorf("Inject: Err() = %v, %d errors reported; want ErrInvalidFault, 1", in.Err(), len(tb.errs))
			}
			if _, err := f.Load(t.Context(), "a", "s"); err != nil || in.Hits() != 0 {
				t.Errorf("Load = %v, %d hits: a refused fault hit", err, in.Hits())
			}
		})
	}
	if err := (checkpointtest.Match{Op: "Store"}).Validate(); !errors.Is(err, checkpointtest.ErrInvalidFault) {
		t.Errorf("Match.Validate = %v, want ErrInvalidFault", err)
	}
	tb := &recorder{TB: t}
	in := checkpointtest.NewFaulty(tb, memory.New()).Script(checkpointtest.Match{Op: "Loads"}, checkpointtest.Pass)
	if !errors.Is(in.Err(), checkpointtest.ErrInvalidFault) || len(tb.errs) != 1 {
		t.Errorf("Script: Err() = %v, %d errors reported; want ErrInvalidFault, 1", in.Err(), len(tb.errs))
	}
}

// TestFaultyFailAfter: a Save hit by FailAfter is stored, and its caller
// gets the error; Fail stores nothing.
func TestFaultyFailAfter(t *testing.T) {
	ctx := t.Context()
	f := checkpointtest.NewFaulty(t, memory.New())
	f.Script(checkpointtest.Match{Op: checkpointtest.OpSave},
		checkpointtest.FailAfter(context.DeadlineExceeded), checkpointtest.Fail(errDown))
	if err := f.Save(ctx, "a", "s", map[string]checkpoint.Checkpoint{"x": checkpoint.At("1")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Save = %v, want the deadline", err)
	}
	if err := f.Save(ctx, "a", "s", map[string]checkpoint.Checkpoint{"x": checkpoint.At("2")}); !errors.Is(err, errDown) {
		t.Fatalf("Save = %v, want the outage", err)
	}
	if got, err := f.Unwrap().Load(ctx, "a", "s"); err != nil || got["x"] != checkpoint.At("1") {
		t.Errorf("the store holds %v, %v; want the Save applied then failed, not the one failed before", got, err)
	}
}

// TestFaultyHangEndsWithTheTest: the faults of a Faulty made with a TB are
// removed when the test ends, so that no call stays hung.
func TestFaultyHangEndsWithTheTest(t *testing.T) {
	done := make(chan error, 1)
	t.Run("hanging", func(t *testing.T) {
		f := checkpointtest.NewFaulty(t, memory.New())
		f.Inject(checkpointtest.Fault{Action: checkpointtest.Hang})
		go func() { done <- f.Save(context.Background(), "a", "s", nil) }()
		if err := f.WaitHung(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
	})
	if err := <-done; err != nil {
		t.Errorf("the hung Save after its test ended = %v, want it through", err)
	}
}
