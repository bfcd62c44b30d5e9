package faults_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/internal/faults"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errInvalid = errors.New("test: invalid fault")

var vocab = faults.Vocabulary{Name: "test", Invalid: errInvalid, Ops: []string{"Get", "Put"}}

var errDown = errors.New("down")

// store counts the calls that reach it, and fails them with err.
type store struct {
	reached atomic.Int64
	err     error
}

func (s *store) next(context.Context) error {
	s.reached.Add(1)
	return s.err
}

func get(shard string) faults.Call {
	return faults.Call{Op: "Get", App: "a", Stream: "s", Shard: shard}
}

func TestRefused(t *testing.T) {
	fail := faults.Action{Kind: faults.Fail, Err: errDown}
	for name, r := range map[string]faults.Rule{
		"unknown op":         {Match: faults.Call{Op: "Gte"}, Action: fail},
		"negative times":     {Action: fail, Times: -1},
		"negative chance":    {Action: fail, Probability: -0.5},
		"NaN chance":         {Action: fail, Probability: math.NaN()},
		"Fail without error": {Action: faults.Action{Kind: faults.Fail}},
		"FailAfter nil":      {Action: faults.Action{Kind: faults.FailAfter}},
		"negative latency":   {Action: faults.Action{Kind: faults.Latency, Delay: -time.Second}},
		"unknown action":     {Action: faults.Action{Kind: faults.Latency + 1}},
	} {
		t.Run(name, func(t *testing.T) {
			s := faults.NewSet(vocab, nil, 1)
			in := s.Inject(r)
			if !errors.Is(in.Err(), errInvalid) {
				t.Fatalf("Err() = %v, want errInvalid", in.Err())
			}
			st := &store{}
			if err := s.Do(t.Context(), get(""), st.next); err != nil || in.Hits() != 0 {
				t.Errorf("a refused fault hit a call: %v, %d hits", err, in.Hits())
			}
			in.Remove() // harmless
		})
	}
	s := faults.NewSet(vocab, nil, 1)
	if err := s.Script(faults.Call{Op: "Del"}, nil).Err(); !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), "Get, Put") {
		t.Errorf("Script on an unknown op: %v, want errInvalid listing the operations", err)
	}
	if err := s.Script(get(""), []faults.Action{{Kind: faults.Pass}, {Kind: faults.Fail}}).Err(); !errors.Is(err, errInvalid) {
		t.Errorf("Script with a Fail without error: %v, want errInvalid", err)
	}
}

func TestFailAndMatch(t *testing.T) {
	s := faults.NewSet(vocab, nil, 1)
	st := &store{}
	in := s.Inject(faults.Rule{Match: faults.Call{Op: "Get", Shard: "x"}, Action: faults.Action{Kind: faults.Fail, Err: errDown}, Times: 2})
	for _, c := range []faults.Call{get("y"), {Op: "Put", App: "a", Stream: "s", Shard: "x"}, get("")} {
		if err := s.Do(t.Context(), c, st.next); err != nil {
			t.Errorf("%v hit by a fault on Get of x: %v", c, err)
		}
	}
	for range 2 {
		err := s.Do(t.Context(), get("x"), st.next)
		if !errors.Is(err, errDown) || !strings.Contains(err.Error(), "Get a/s x") {
			t.Errorf("Get of x = %v, want the injected error naming the call", err)
		}
	}
	if err := s.Do(t.Context(), get("x"), st.next); err != nil {
		t.Errorf("third Get of x = %v, want nil: Times is 2", err)
	}
	if in.Hits() != 2 || st.reached.Load() != 4 || s.Calls("Get") != 5 || s.Calls("Put") != 1 {
		t.Errorf("%d hits, %d calls reached the store, Calls %d Get %d Put; want 2, 4, 5, 1",
			in.Hits(), st.reached.Load(), s.Calls("Get"), s.Calls("Put"))
	}
}

func TestOrder(t *testing.T) {
	s := faults.NewSet(vocab, nil, 1)
	errFirst, errSecond := errors.New("first"), errors.New("second")
	first := s.Inject(faults.Rule{Action: faults.Action{Kind: faults.Fail, Err: errFirst}, Times: 1})
	s.Inject(faults.Rule{Action: faults.Action{Kind: faults.Fail, Err: errSecond}})
	st := &store{}
	if err := s.Do(t.Context(), get(""), st.next); !errors.Is(err, errFirst) {
		t.Errorf("first call = %v, want the first fault's", err)
	}
	if err := s.Do(t.Context(), get(""), st.next); !errors.Is(err, errSecond) {
		t.Errorf("second call = %v, want the second fault's once the first is spent", err)
	}
	first.Remove()
	s.Clear()
	if err := s.Do(t.Context(), get(""), st.next); err != nil {
		t.Errorf("call after Clear = %v", err)
	}
}

func TestFailAfter(t *testing.T) {
	s := faults.NewSet(vocab, nil, 1)
	in := s.Inject(faults.Rule{Action: faults.Action{Kind: faults.FailAfter, Err: context.DeadlineExceeded}, Times: 1})
	refusing := &store{err: errors.New("refused")}
	if err := s.Do(t.Context(), get(""), refusing.next); err != refusing.err || in.Hits() != 0 {
		t.Errorf("a call the store refused = %v with %d hits, want the store's error and no hit", err, in.Hits())
	}
	st := &store{}
	if err := s.Do(t.Context(), get(""), st.next); !errors.Is(err, context.DeadlineExceeded) || st.reached.Load() != 1 {
		t.Errorf("FailAfter = %v, %d calls reached the store; want the injected error after the store", err, st.reached.Load())
	}
	if err := s.Do(t.Context(), get(""), st.next); err != nil || in.Hits() != 1 {
		t.Errorf("call after the fault = %v, %d hits; want nil, 1", err, in.Hits())
	}
}

func TestScript(t *testing.T) {
	s := faults.NewSet(vocab, nil, 1)
	fail := faults.Action{Kind: faults.Fail, Err: errDown}
	in := s.Script(faults.Call{Op: "Put"}, []faults.Action{fail, {Kind: faults.Pass}, fail})
	st := &store{}
	put := faults.Call{Op: "Put"}
	var got []bool
	for range 5 {
		_ = s.Do(t.Context(), get(""), st.next) // not matched: does not advance the script
		got = append(got, s.Do(t.Context(), put, st.next) != nil)
	}
	if want := []bool{true, false, true, false, false}; !slices.Equal(got, want) || in.Hits() != 2 {
		t.Errorf("Put failed %v with %d hits, want %v and 2", got, in.Hits(), want)
	}
}

func TestProbability(t *testing.T) {
	draws := func(seed uint64) []bool {
		s := faults.NewSet(vocab, nil, seed)
		s.Inject(faults.Rule{Action: faults.Action{Kind: faults.Fail, Err: errDown}, Probability: 0.3})
		var out []bool
		for range 1000 {
			out = append(out, s.Do(t.Context(), get(""), (&store{}).next) != nil)
		}
		return out
	}
	a, b, c := draws(7), draws(7), draws(8)
	if !slices.Equal(a, b) {
		t.Error("the same seed drew different faults")
	}
	if slices.Equal(a, c) {
		t.Error("two seeds drew the same faults")
	}
	hit := 0
	for _, h := range a {
		if h {
			hit++
		}
	}
	if hit < 230 || hit > 370 {
		t.Errorf("%d of 1000 calls hit with a chance of 0.3", hit)
	}
}

func TestHang(t *testing.T) {
	s := faults.NewSet(vocab, nil, 1)
	in := s.Inject(faults.Rule{Match: faults.Call{Op: "Get"}, Action: faults.Action{Kind: faults.Hang}})
	st := &store{}
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- s.Do(context.Background(), get(""), st.next) }()
	}
	if err := s.WaitHung(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	// A call whose context ends gives up, without reaching the store.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := s.Do(ctx, get(""), st.next); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a hung call whose context ended = %v, want the deadline", err)
	}
	if err := s.Do(t.Context(), faults.Call{Op: "Put"}, st.next); err != nil {
		t.Errorf("Put = %v: not matched, not hung", err)
	}
	select {
	case err := <-done:
		t.Fatalf("a hung call returned %v before the fault was removed", err)
	default:
	}
	if st.reached.Load() != 1 {
		t.Errorf("%d calls reached the store, want the Put alone", st.reached.Load())
	}
	in.Remove()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("a hung call after Remove = %v, want it through", err)
		}
	}
	if st.reached.Load() != 3 || in.Hits() != 3 {
		t.Errorf("%d calls reached the store, %d hits; want 3, 3", st.reached.Load(), in.Hits())
	}
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := s.WaitHung(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitHung with nothing hung = %v, want the deadline", err)
	}
}

func TestClearReleasesHung(t *testing.T) {
	s := faults.NewSet(vocab, nil, 1)
	s.Script(get(""), []faults.Action{{Kind: faults.Hang}})
	done := make(chan error, 1)
	go func() { done <- s.Do(context.Background(), get(""), (&store{}).next) }()
	if err := s.WaitHung(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	s.Clear()
	if err := <-done; err != nil {
		t.Errorf("hung call after Clear = %v", err)
	}
}

func TestLatency(t *testing.T) {
	s := faults.NewSet(vocab, nil, 1)
	s.Inject(faults.Rule{Action: faults.Action{Kind: faults.Latency, Delay: 30 * time.Millisecond}, Times: 2})
	st := &store{}
	start := time.Now()
	if err := s.Do(t.Context(), get(""), st.next); err != nil || time.Since(start) < 30*time.Millisecond || st.reached.Load() != 1 {
		t.Errorf("delayed call = %v after %v, %d reached; want through after 30ms", err, time.Since(start), st.reached.Load())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	if err := s.Do(ctx, get(""), st.next); !errors.Is(err, context.DeadlineExceeded) || st.reached.Load() != 1 {
		t.Errorf("call whose context ended while delayed = %v, %d reached; want the deadline, not reached", err, st.reached.Load())
	}
}

func TestDoneContextIsNotHit(t *testing.T) {
	s := faults.NewSet(vocab, nil, 1)
	in := s.Inject(faults.Rule{Action: faults.Action{Kind: faults.Fail, Err: errDown}, Times: 1})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	st := &store{err: context.Canceled}
	if err := s.Do(ctx, get(""), st.next); err != context.Canceled || st.reached.Load() != 1 || in.Hits() != 0 {
		t.Errorf("call with a done context = %v, %d reached, %d hits; want the store's error, no hit", err, st.reached.Load(), in.Hits())
	}
	if err := s.Do(t.Context(), get(""), (&store{}).next); !errors.Is(err, errDown) {
		t.Errorf("next call = %v, want the fault, still pending", err)
	}
}

func TestValue(t *testing.T) {
	s := faults.NewSet(vocab, nil, 1)
	s.Inject(faults.Rule{Action: faults.Action{Kind: faults.FailAfter, Err: errDown}, Times: 1})
	v, err := faults.Value(s, t.Context(), get(""), func(context.Context) (int, error) { return 7, nil })
	if v != 0 || !errors.Is(err, errDown) {
		t.Errorf("Value after FailAfter = %d, %v; want the zero value and the error", v, err)
	}
	v, err = faults.Value(s, t.Context(), get(""), func(context.Context) (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Errorf("Value = %d, %v; want 7", v, err)
	}
}
