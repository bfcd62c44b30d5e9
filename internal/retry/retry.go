// Package retry holds the waits the shard readers of kinesin (packages
// polling and efo) share: the backoff schedule between failed calls, and a
// sleep that ends with its context.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Backoff returns the readers' retry schedule: exponential from initial,
// growing 1.5 times with each failure in a row up to max, with ±30% jitter
// (so a wait may exceed max by that much). It never gives up: the caller
// decides when to stop, and calls Reset after a success.
func Backoff(initial, max time.Duration) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = max
	b.Multiplier = 1.5
	b.RandomizationFactor = 0.3
	b.MaxElapsedTime = 0
	b.Reset()
	return b
}

// SleepUntil waits until t, or returns ctx's error. A time already past
// returns ctx's error at once, nil when ctx is not done.
func SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Transient retries op with backoff (from 100ms, growing to 5s) while it
// fails with an error transient reports true for, until it succeeds, fails
// otherwise, ctx ends, or limit has passed since the first call; notify, if
// not nil, is called before each wait. It returns op's last error (ctx's, if
// ctx ended during a wait).
func Transient(ctx context.Context, limit time.Duration, transient func(error) bool, notify func(err error, wait time.Duration), op func(context.Context) error) error {
	bo := Backoff(100*time.Millisecond, 5*time.Second)
	deadline := time.Now().Add(limit)
	for {
		err := op(ctx)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		wait := bo.NextBackOff()
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		if notify != nil {
			notify(err, wait)
		}
		if serr := SleepUntil(ctx, time.Now().Add(wait)); serr != nil {
			return serr
		}
	}
}
