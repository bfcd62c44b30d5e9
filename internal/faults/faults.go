// Package faults is the engine behind the fault-injecting store wrappers of
// checkpoint/checkpointtest and lease/leasetest: rules that select calls by
// operation, app, stream and shard, and decide what happens to them (fail
// before the store, fail after it, hang, slow down), bounded by a count, a
// seeded chance or a script, in the vocabulary of kinesistest's faults.
//
// A wrapper describes its operations in a Vocabulary, keeps a Set, and runs
// each call of the store it wraps through Set.Do (or Value).
package faults

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Call names a call: its operation and what it is about. As a Rule's
// Match, an empty field matches anything.
type Call struct {
	Op, App, Stream, Shard string
}

// matches reports whether the match m selects the call c.
func (m Call) matches(c Call) bool {
	return (m.Op == "" || m.Op == c.Op) &&
		(m.App == "" || m.App == c.App) &&
		(m.Stream == "" || m.Stream == c.Stream) &&
		(m.Shard == "" || m.Shard == c.Shard)
}

// String names the call in errors: "Save app/stream", "Renew app/stream shard".
func (c Call) String() string {
	s := c.Op + " " + c.App + "/" + c.Stream
	if c.Shard != "" {
		s += " " + c.Shard
	}
	return s
}

// Kind is what an action does.
type Kind uint8

// The kinds of action.
const (
	// Pass lets the call through.
	Pass Kind = iota
	// Fail fails the call with Action.Err before it reaches the store.
	Fail
	// FailAfter lets the call reach the store; when the store succeeds,
	// the caller gets Action.Err instead of the result.
	FailAfter
	// Hang blocks the call until its fault is removed or the call's
	// context ends, then lets it through.
	Hang
	// Latency delays the call by Action.Delay, then lets it through.
	Latency
)

// Action is what a fault does to a call it hits.
type Action struct {
	Kind  Kind
	Err   error         // for Fail and FailAfter
	Delay time.Duration // for Latency
}

// Rule is a fault: the calls it selects and what it does to them.
type Rule struct {
	Match  Call
	Action Action
	// Times bounds the calls hit; 0 means no bound.
	Times int
	// Probability, between 0 and 1 exclusive, hits each matching call
	// with that chance; 0, or 1 and above, hits every one.
	Probability float64
}

// Vocabulary is what a wrapper serves.
type Vocabulary struct {
	// Name prefixes the errors the Set makes ("checkpointtest").
	Name string
	// Invalid is the sentinel wrapped by the error of a refused fault.
	Invalid error
	// Ops are the operations the wrapper serves, in the order its
	// documentation lists them.
	Ops []string
}

// CheckMatch refuses a match naming an operation outside v.Ops.
func (v Vocabulary) CheckMatch(m Call) error {
	if m.Op != "" && !slices.Contains(v.Ops, m.Op) {
		return fmt.Errorf("%w: Match.Op %q is not an operation of the store (%s)", v.Invalid, m.Op, strings.Join(v.Ops, ", "))
	}
	return nil
}

// CheckAction refuses an action made with a value out of range: a Fail or
// FailAfter without an error, a negative Latency.
func (v Vocabulary) CheckAction(a Action) error {
	switch {
	case (a.Kind == Fail || a.Kind == FailAfter) && a.Err == nil:
		return fmt.Errorf("%w: Fail and FailAfter need an error, not nil", v.Invalid)
	case a.Kind == Latency && a.Delay < 0:
		return fmt.Errorf("%w: Latency %v is negative", v.Invalid, a.Delay)
	case a.Kind > Latency:
		return fmt.Errorf("%w: unknown action %d", v.Invalid, a.Kind)
	}
	return nil
}

// CheckRule refuses a rule whose match or action is refused, whose Times
// is negative or whose Probability is negative or NaN.
func (v Vocabulary) CheckRule(r Rule) error {
	if err := v.CheckMatch(r.Match); err != nil {
		return err
	}
	if r.Times < 0 {
		return fmt.Errorf("%w: Times %d is negative", v.Invalid, r.Times)
	}
	if r.Probability < 0 || math.IsNaN(r.Probability) {
		return fmt.Errorf("%w: Probability %v is not between 0 and 1", v.Invalid, r.Probability)
	}
	return v.CheckAction(r.Action)
}

// Set holds the faults in force on one wrapper, and counts its calls. Its
// methods are safe for concurrent use.
type Set struct {
	v  Vocabulary
	tb testing.TB

	mu     sync.Mutex
	rng    *rand.Rand
	faults []*Injected
	calls  map[string]int
	hung   int
	moved  chan struct{} // closed and replaced when hung changes
}

// NewSet returns a Set with no fault, drawing chances from a source seeded
// with seed. With a tb (which may be nil), a refused fault fails the test,
// and every fault is removed when the test ends, so that no call stays
// hung.
func NewSet(v Vocabulary, tb testing.TB, seed uint64) *Set {
	s := &Set{v: v, tb: tb, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), calls: make(map[string]int)}
	if tb != nil {
		tb.Cleanup(s.Clear)
	}
	return s
}

// Helper marks the caller as a test helper of the Set's test, if any.
func (s *Set) Helper() {
	if s.tb != nil {
		s.tb.Helper()
	}
}

// Vocabulary returns what the Set serves.
func (s *Set) Vocabulary() Vocabulary { return s.v }

// Injected is a fault in force, or refused (Err).
type Injected struct {
	set      *Set
	rule     Rule
	script   []Action
	seen     int // script steps used
	hits     int
	removed  bool
	released chan struct{} // closed when removed: hung calls go on
	err      error
}

// Inject puts r in force, after the faults already in force; when r is
// refused (CheckRule), the Injected returned is out of force, its Err says
// why, and the Set's test fails.
func (s *Set) Inject(r Rule) *Injected {
	s.Helper()
	return s.add(&Injected{rule: r}, s.v.CheckRule(r), "Inject")
}

// Script puts in force a fault giving the n-th call matching m the n-th
// step; calls after the last step pass. It is refused as Inject refuses a
// rule when m or a step is.
func (s *Set) Script(m Call, steps []Action) *Injected {
	s.Helper()
	err := s.v.CheckMatch(m)
	for _, a := range steps {
		if err == nil {
			err = s.v.CheckAction(a)
		}
	}
	return s.add(&Injected{rule: Rule{Match: m}, script: slices.Clone(steps)}, err, "Script")
}

func (s *Set) add(in *Injected, err error, what string) *Injected {
	in.set, in.released = s, make(chan struct{})
	if err != nil {
		in.err, in.removed = err, true
		close(in.released)
		if s.tb != nil {
			s.tb.Helper()
			s.tb.Errorf("%s: %s: %v", s.v.Name, what, err)
		}
		return in
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, in)
	return in
}

// Err returns why the fault was refused, or nil for a fault put in force.
func (in *Injected) Err() error { return in.err }

// Hits returns how many calls the fault has hit.
func (in *Injected) Hits() int {
	in.set.mu.Lock()
	defer in.set.mu.Unlock()
	return in.hits
}

// Remove takes the fault out of force, letting the calls it hangs go on.
func (in *Injected) Remove() {
	in.set.mu.Lock()
	defer in.set.mu.Unlock()
	in.set.remove(in)
}

// remove takes in out of force. s.mu is held.
func (s *Set) remove(in *Injected) {
	if in.removed {
		return
	}
	in.removed = true
	close(in.released)
	s.faults = slices.DeleteFunc(s.faults, func(f *Injected) bool { return f == in })
}

// Clear takes every fault out of force.
func (s *Set) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.faults) > 0 {
		s.remove(s.faults[0])
	}
}

// Calls returns how many calls of op went through the Set, whatever their
// outcome.
func (s *Set) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// WaitHung blocks until at least n calls hang at once (a Hang action), or
// ctx ends: it then returns ctx.Err().
func (s *Set) WaitHung(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		if s.hung >= n {
			s.mu.Unlock()
			return nil
		}
		if s.moved == nil {
			s.moved = make(chan struct{})
		}
		ch := s.moved
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// hold counts a call starting (+1) or ending (-1) a hang, waking
// WaitHung. s.mu is held.
func (s *Set) hold(d int) {
	s.hung += d
	if s.moved != nil {
		close(s.moved)
		s.moved = nil
	}
}

// chance draws true with probability p. s.mu is held.
func (s *Set) chance(p float64) bool {
	if p <= 0 || p >= 1 {
		return true
	}
	return s.rng.Float64() < p
}

// pick finds the first fault hitting c and its action, counting the hit.
// s.mu is held.
func (s *Set) pick(c Call) (*Injected, Action) {
	for _, in := range s.faults {
		if !in.rule.Match.matches(c) {
			continue
		}
		if in.script != nil {
			if in.seen >= len(in.script) {
				continue
			}
			a := in.script[in.seen]
			in.seen++
			if a.Kind == Pass {
				continue
			}
			in.hits++
			return in, a
		}
		if in.rule.Times > 0 && in.hits >= in.rule.Times {
			continue
		}
		if !s.chance(in.rule.Probability) {
			continue
		}
		in.hits++
		return in, in.rule.Action
	}
	return nil, Action{}
}

// Do runs the call c, made on ctx, whose work in the store is next: it
// counts it, then applies the first fault hitting it. A call whose context
// is already done goes to the store (which fails it) and is hit by no
// fault.
func (s *Set) Do(ctx context.Context, c Call, next func(context.Context) error) error {
	s.mu.Lock()
	s.calls[c.Op]++
	if ctx.Err() != nil {
		s.mu.Unlock()
		return next(ctx)
	}
	in, a := s.pick(c)
	s.mu.Unlock()
	switch a.Kind {
	case Fail:
		return fmt.Errorf("%s: injected fault on %s: %w", s.v.Name, c, a.Err)
	case FailAfter:
		if err := next(ctx); err != nil {
			// The store refused the call: the fault did not hit it.
			s.mu.Lock()
			in.hits--
			s.mu.Unlock()
			return err
		}
		return fmt.Errorf("%s: injected fault on %s, after the store applied it: %w", s.v.Name, c, a.Err)
	case Hang:
		if err := s.hang(ctx, in); err != nil {
			return fmt.Errorf("%s: %s hung until its context ended: %w", s.v.Name, c, err)
		}
	case Latency:
		t := time.NewTimer(a.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%s: %s delayed past its context's end: %w", s.v.Name, c, ctx.Err())
		}
	}
	return next(ctx)
}

// hang waits until in is removed or ctx ends.
func (s *Set) hang(ctx context.Context, in *Injected) error {
	s.mu.Lock()
	s.hold(+1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.hold(-1)
		s.mu.Unlock()
	}()
	select {
	case <-in.released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Value is Do for a call returning a value: the zero T when it fails.
func Value[T any](s *Set, ctx context.Context, c Call, next func(context.Context) (T, error)) (T, error) {
	var out T
	err := s.Do(ctx, c, func(ctx context.Context) error {
		var err error
		out, err = next(ctx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}
