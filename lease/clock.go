package lease

import "time"

// Clock is the time source of a worker's lease protocol. Every duration it
// measures (how long a counter has not changed, when to renew) is the
// difference of two Now readings of one Clock in one process, so a Clock must be monotonic;
// time.Now's readings are (they carry the monotonic clock). Wall clocks of
// different hosts are never compared.
//
// Tests pass a manual clock (leasetest.Clock) with WithClock so that they
// never sleep.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives a value once d has elapsed (at
	// once when d <= 0), like time.After.
	After(d time.Duration) <-chan time.Time
}

// realClock is the Clock of the time package.
// RealClock returns the system clock, the default of WithClock.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
