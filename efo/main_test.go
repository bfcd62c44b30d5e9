package efo_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/testsync"
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

// signal is a condition tests wait on (see testsync.Signal).
type signal = testsync.Signal
