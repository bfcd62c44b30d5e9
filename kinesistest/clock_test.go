package kinesistest_test

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// fired reports whether ch has a value, without waiting.
func fired(ch <-chan time.Time) (time.Time, bool) {
	select {
	case t := <-ch:
		return t, true
	default:
		return time.Time{}, false
	}
}

func TestClockManual(t *testing.T) {
	if got := kinesistest.NewManualClock(time.Time{}).Now(); !got.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("zero start: %v", got)
	}
	t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	c := kinesistest.NewManualClock(t0)
	if _, ok := c.NextDeadline(); ok || c.Waiters() != 0 {
		t.Fatal("a new clock has waiters")
	}
	// A wait of zero or less fires at once and is never pending.
	for _, d := range []time.Duration{0, -time.Second} {
		if at, ok := fired(c.After(d)); !ok || !at.Equal(t0) {
			t.Fatalf("After(%v): %v %v", d, at, ok)
		}
	}
	one, three := c.After(time.Second), c.After(3*time.Second)
	if c.Waiters() != 2 {
		t.Fatalf("Waiters %d", c.Waiters())
	}
	if at, ok := c.NextDeadline(); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("NextDeadline %v %v", at, ok)
	}

	c.Advance(time.Second - time.Nanosecond)
	if _, ok := fired(one); ok {
		t.Fatal("fired early")
	}
	c.Advance(time.Nanosecond)
	if at, ok := fired(one); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("After(1s) gave %v %v", at, ok)
	}
	if c.Waiters() != 1 {
		t.Fatalf("Waiters %d after one fired", c.Waiters())
	}
	if at, _ := c.NextDeadline(); !at.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("NextDeadline %v", at)
	}

	// Set jumps; it fires what it passes, with the new time.
	c.Set(t0.Add(10 * time.Second))
	if at, ok := fired(three); !ok || !at.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("After(3s) gave %v %v", at, ok)
	}
	c.Set(t0) // backwards: ignored
	if !c.Now().Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("Set backwards moved the clock to %v", c.Now())
	}
	if _, ok := c.NextDeadline(); ok || c.Waiters() != 0 {
		t.Fatal("waiters left")
	}
	// An unread channel counts until it fires, and never blocks Advance.
	c.After(time.Minute)
	c.After(time.Minute)
	c.Advance(time.Hour)
	if c.Waiters() != 0 {
		t.Fatalf("Waiters %d", c.Waiters())
	}
}

func TestClockManualBlockUntil(t *testing.T) {
	c := kinesistest.NewManualClock(time.Time{})
	if !c.BlockUntil(0, nil) {
		t.Fatal("BlockUntil(0)")
	}
	done := make(chan struct{})
	close(done)
	if c.BlockUntil(1, done) {
		t.Fatal("BlockUntil reported a waiter that does not exist")
	}

	// Goroutines waiting on the clock: BlockUntil tells when all wait, then
	// Advance releases them.
	var wg sync.WaitGroup
	results := make(chan time.Time, 10)
	for i := range 10 {
		wg.Go(func() { results <- <-c.After(time.Duration(i+1) * time.Second) })
	}
	fxBlockUntil(t, c, 10)
	if at, _ := c.NextDeadline(); !at.Equal(c.Now().Add(time.Second)) {
		t.Fatalf("NextDeadline %v", at)
	}
	c.Advance(5 * time.Second)
	for range 5 {
		<-results
	}
	if c.Waiters() != 5 {
		t.Fatalf("Waiters %d after half fired", c.Waiters())
	}
	c.Advance(5 * time.Second)
	wg.Wait()
	close(results)
	n := 0
	for range results {
		n++
	}
	if n != 5 {
		t.Fatalf("%d more fired", n)
	}
}

func TestClockScaled(t *testing.T) {
	// Ordering only: a scaled minute passes well before a real second.
	c := kinesistest.ScaledClock(10000)
	start := c.Now()
	real := kinesistest.RealClock().After(time.Second)
	minute, twoMinutes := c.After(time.Minute), c.After(2*time.Minute)
	select {
	case at := <-minute:
		if at.Sub(start) < time.Minute {
			t.Fatalf("fired at %v, a minute after %v", at, start)
		}
	case <-real:
		t.Fatal("a real second passed before a scaled minute")
	}
	if c.Now().Sub(start) < time.Minute {
		t.Fatal("the scaled clock did not run fast")
	}
	if at := <-twoMinutes; at.Sub(start) < 2*time.Minute {
		t.Fatalf("fired at %v, two minutes after %v", at, start)
	}

	// A factor of 0 or less is refused by WithClock, and the clock, used
	// elsewhere, runs at the wall clock's pace.
	one := kinesistest.ScaledClock(0)
	before := time.Now()
	now := one.Now()
	after := time.Now()
	if now.Before(before) || now.After(after) {
		t.Fatalf("ScaledClock(0).Now() = %v, not between %v and %v", now, before, after)
	}
	for _, factor := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := kinesistest.NewFake(kinesistest.WithClock(kinesistest.ScaledClock(factor))); !errors.Is(err, kinesistest.ErrInvalidOption) {
			t.Errorf("WithClock(ScaledClock(%v)): %v, want ErrInvalidOption", factor, err)
		}
	}
}

func TestClockReal(t *testing.T) {
	c := kinesistest.RealClock()
	before := time.Now()
	now := c.Now()
	if now.Before(before) || now.After(time.Now()) {
		t.Fatal("RealClock is not the wall clock")
	}
	if at := <-c.After(time.Millisecond); at.Before(before.Add(time.Millisecond)) {
		t.Fatalf("After(1ms) fired at %v", at)
	}
	// The fake runs on the real clock unless told otherwise.
	if _, ok := kinesistest.New(t).Clock().(*kinesistest.ManualClock); ok {
		t.Fatal("default clock is a ManualClock")
	}
	manual := kinesistest.NewManualClock(time.Time{})
	if kinesistest.New(t, kinesistest.WithClock(manual)).Clock() != kinesistest.Clock(manual) {
		t.Fatal("Clock() is not the clock given")
	}
}

func TestClockScaledFake(t *testing.T) {
	// A fake on a fast clock ends a subscription after 5 scaled minutes:
	// 30 ms of real time at factor 10,000.
	clock := kinesistest.ScaledClock(10000)
	fake := kinesistest.New(t, kinesistest.WithClock(clock), kinesistest.WithSubscriptionHeartbeat(time.Minute))
	fake.CreateStream("s", 1)
	arn, _ := fake.RegisterConsumer("s", "c")
	s, err := fxSubscribeWith(t, fake.Client(fxNoRetry), arn, shard0, fxLatest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.end(); err != nil {
		t.Fatal(err)
	}
	sub := fxWaitEnded(t, fake, 0)
	if sub.EndReason != "lifetime" || sub.Ended.Sub(sub.Started) < 5*time.Minute {
		t.Fatalf("subscription %+v", sub)
	}
}
