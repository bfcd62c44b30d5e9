package efo_test

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/efo"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// deadline bounds every wait of these tests; a passing test never reaches it.
const deadline = 20 * time.Second

// fast keeps the waits of registration tiny.
var fast = efo.Options{
	SubscribeInterval: time.Millisecond,
	InitialBackoff:    time.Millisecond,
	MaxBackoff:        5 * time.Millisecond,
	RegisterTimeout:   deadline,
}

// signal is a condition tests wait on: changed is closed and replaced each
// time the state it guards changes.
type signal struct {
	mu      sync.Mutex
	changed chan struct{}
}

func (s *signal) init() {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
}

// notify wakes the waiters. Callers hold s.mu.
func (s *signal) notify() {
	s.init()
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitUntil waits until cond (run under s.mu) holds, failing t after
// deadline.
func (s *signal) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	for {
		s.mu.Lock()
		s.init()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
