package kinesistest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: every
// Fake, subscription and loopback server must be stopped by Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
