package kinesistest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// WaitParked waits until some goroutine whose stack satisfies match is
// parked (blocked, neither running nor runnable nor in a system call), and
// fails t when timeout passes first. Tests use it to know that a goroutine
// really is blocked in a call, such as a write nobody reads, rather than
// hoping a pause was long enough.
func WaitParked(t testing.TB, timeout time.Duration, what string, match func(stack string) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if GoroutineParked(match) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine parked %s after %v", what, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// GoroutineParked reports whether a goroutine whose stack satisfies match
// is parked (see WaitParked).
func GoroutineParked(match func(stack string) bool) bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		// "goroutine 7 [select]:\n..." or "goroutine 7 [IO wait, 2 minutes]:"
		head, stack, _ := strings.Cut(g, "\n")
		_, state, ok := strings.Cut(head, "[")
		if !ok {
			continue
		}
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",")
		switch state {
		case "running", "runnable", "syscall":
			continue
		}
		if match(stack) {
			return true
		}
	}
	return false
}
