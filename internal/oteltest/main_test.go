package oteltest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: no
// reader, flusher or pump may outlive Close or the end of Open's context.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
