package leasetest

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock is a manual lease.Clock for tests: its time moves only when Advance
// is called, and a test can wait until the goroutines using it are parked on
// a timer, so that tests of the lease protocol never sleep.
//
// A worker's lease protocol arms exactly one timer (After) when it has done the work that was
// due and goes back to waiting; Advance fires the timers that are due, and
// WaitPending(ctx, 1) then returns once it has done the work and
// armed its next timer. Give each simulated process a Clock of its own: a
// process whose Clock is no longer advanced is frozen (a process killed, or
// paused and later resumed with one big Advance).
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	changed chan struct{} // closed and replaced whenever timers changes
}

type timer struct {
	at time.Time
	ch chan time.Time
}

// NewClock returns a Clock reading start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, changed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the clock's time once it reached
// Now()+d: at once when d <= 0, else on the Advance that reaches it. Until
// then the timer counts in Pending.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, &timer{at: c.now.Add(d), ch: ch})
	c.signal()
	return ch
}

// Advance moves the clock forward by d and fires, in deadline order, every
// timer due by then.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	n := 0
	for _, t := range c.timers {
		if t.at.After(c.now) {
			c.timers[n] = t
			n++
			continue
		}
		t.ch <- c.now
	}
	if n != len(c.timers) {
		clear(c.timers[n:])
		c.timers = c.timers[:n]
		c.signal()
	}
}

// Pending returns how many timers are armed and not fired.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Next returns how long until the earliest armed timer fires, and false when
// none is armed.
func (c *Clock) Next() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return 0, false
	}
	next := c.timers[0].at
	for _, t := range c.timers[1:] {
		if t.at.Before(next) {
			next = t.at
		}
	}
	return next.Sub(c.now), true
}

// WaitPending blocks until at least n timers are armed, or ctx ends (it then
// returns ctx.Err()).
func (c *Clock) WaitPending(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		if len(c.timers) >= n {
			c.mu.Unlock()
			return nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// signal wakes WaitPending callers. c.mu is held.
func (c *Clock) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}
