package kinesistest

import (
	"math"
	"sync"
	"time"
)

// Clock is the time source of a Fake. Every time-based behaviour of the fake
// (iterator and NextToken expiry, the 5-minute subscription lifetime, consumer
// activation, service-limit windows, injected latency) reads it, so a test can
// run minutes of service time in microseconds.
//
// Three clocks are provided: [RealClock] (the default), [ManualClock], which
// moves only when told to, and [ScaledClock], real time sped up by a factor.
type Clock interface {
	// Now returns the current time on this clock.
	Now() time.Time
	// After returns a channel that receives the clock's time once d has
	// passed on this clock. A channel that is never read is garbage.
	After(d time.Duration) <-chan time.Time
}

// timerClock is a Clock whose waits can be abandoned: the fake stops a wait
// it no longer needs (the heartbeat of a subscription that ended, the latency
// of a call whose client went away), so that ManualClock.Waiters counts only
// waits that still matter. The clocks of this package implement it.
type timerClock interface {
	// timer is After with a function that abandons the wait.
	timer(d time.Duration) (<-chan time.Time, func())
}

// clockTimer waits d on c, abandonably if c allows it.
func clockTimer(c Clock, d time.Duration) (<-chan time.Time, func()) {
	if tc, ok := c.(timerClock); ok {
		return tc.timer(d)
	}
	return c.After(d), func() {}
}

// RealClock returns the wall clock.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (realClock) timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// ScaledClock returns a clock that starts at the current wall time and runs
// factor times faster than it: with factor 60, a 5-minute subscription ends
// after 5 real seconds. A factor that is not positive and finite is refused
// by WithClock (such a clock runs at the wall clock's pace if used
// elsewhere).
func ScaledClock(factor float64) Clock {
	c := &scaledClock{start: time.Now(), factor: factor, asked: factor}
	if !(factor > 0) || math.IsInf(factor, 0) {
		c.factor = 1
	}
	return c
}

type scaledClock struct {
	start  time.Time
	factor float64
	asked  float64 // the factor given to ScaledClock, for WithClock to check
}

// check refuses a clock made with a factor out of range.
func (c *scaledClock) check() error {
	if c.asked != c.factor {
		return invalid("WithClock", "ScaledClock factor %v is not positive and finite", c.asked)
	}
	return nil
}

func (c *scaledClock) Now() time.Time {
	elapsed := time.Since(c.start)
	return c.start.Add(time.Duration(float64(elapsed) * c.factor))
}

func (c *scaledClock) After(d time.Duration) <-chan time.Time {
	ch, _ := c.timer(d)
	return ch
}

func (c *scaledClock) timer(d time.Duration) (<-chan time.Time, func()) {
	out := make(chan time.Time, 1)
	// AfterFunc holds no goroutine until it fires, so an abandoned wait
	// leaks nothing.
	t := time.AfterFunc(time.Duration(float64(d)/c.factor), func() { out <- c.Now() })
	return out, func() { t.Stop() }
}

// ManualClock is a Clock that moves only when Advance or Set is called. It is
// safe for concurrent use. Tests use Waiters or BlockUntil to learn that the
// code under test is waiting on the clock before they advance it, instead of
// sleeping.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []manualWaiter
	changed chan struct{} // closed and replaced whenever waiters changes
}

type manualWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewManualClock returns a ManualClock set to start. A zero start is taken as
// 2026-01-01T00:00:00Z.
func NewManualClock(start time.Time) *ManualClock {
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &ManualClock{now: start, changed: make(chan struct{})}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives once the clock has been advanced by
// at least d. A d of zero or less fires at once.
func (c *ManualClock) After(d time.Duration) <-chan time.Time {
	ch, _ := c.timer(d)
	return ch
}

func (c *ManualClock) timer(d time.Duration) (<-chan time.Time, func()) {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		ch <- c.now
		return ch, func() {}
	}
	c.waiters = append(c.waiters, manualWaiter{at: c.now.Add(d), ch: ch})
	c.signal()
	return ch, func() { c.stop(ch) }
}

// stop forgets the pending wait of ch, if it has not fired.
func (c *ManualClock) stop(ch chan time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range c.waiters {
		if w.ch == ch {
			last := len(c.waiters) - 1
			copy(c.waiters[i:], c.waiters[i+1:])
			c.waiters[last] = manualWaiter{}
			c.waiters = c.waiters[:last]
			c.signal()
			return
		}
	}
}

// Advance moves the clock forward by d and fires every After whose time has
// come.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// Set moves the clock to t; a t before the current time is ignored.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.setLocked(t)
	}
}

func (c *ManualClock) setLocked(t time.Time) {
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.ch <- t
			continue
		}
		kept = append(kept, w)
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
	c.signal()
}

func (c *ManualClock) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Waiters returns how many waits are pending on the clock: After channels
// created and not yet fired. A wait the fake abandons (the lifetime and
// heartbeat of a subscription that ended, the injected latency of a call
// whose client went away) stops counting at once; a channel from After that
// nobody reads counts until it fires.
//
// An open SubscribeToShard stream that has sent what it can waits on two
// (its lifetime and its heartbeat), and on a third while the EFO throughput
// limit holds it back; a call slowed by Latency waits on one.
func (c *ManualClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// BlockUntil waits until at least n After channels are pending, or until done
// is closed, and reports whether the count was reached.
func (c *ManualClock) BlockUntil(n int, done <-chan struct{}) bool {
	for {
		c.mu.Lock()
		got, changed := len(c.waiters), c.changed
		c.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		}
	}
}

// NextDeadline returns the earliest pending After time and true, or false
// when nothing waits on the clock.
func (c *ManualClock) NextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiters) == 0 {
		return time.Time{}, false
	}
	min := c.waiters[0].at
	for _, w := range c.waiters[1:] {
		if w.at.Before(min) {
			min = w.at
		}
	}
	return min, true
}
