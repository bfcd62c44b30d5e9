package wire

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the event
// streams' included.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
