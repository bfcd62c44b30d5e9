// Package testsync holds what tests wait with instead of sleeping.
package testsync

import (
	"sync"
	"testing"
	"time"
)

// Signal is a condition tests wait on: a state guarded by Mu, whose
// changes the code under Mu announces with Notify. The zero value is ready
// to use; embed it in the state's struct.
type Signal struct {
	Mu      sync.Mutex
	changed chan struct{}
}

func (s *Signal) init() {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
}

// Notify wakes the waiters. Callers hold s.Mu.
func (s *Signal) Notify() {
	s.init()
	close(s.changed)
	s.changed = make(chan struct{})
}

// Changed returns a channel closed by the next Notify, for a waiter that
// also waits on something else (a context). Callers hold s.Mu.
func (s *Signal) Changed() <-chan struct{} {
	s.init()
	return s.changed
}

// WaitUntil waits until cond (run under s.Mu) holds, failing t after
// timeout.
func (s *Signal) WaitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.Mu.Lock()
		ok, ch := cond(), s.Changed()
		s.Mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
