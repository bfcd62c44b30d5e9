package storetest_test

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memory"
	"github.com/kinesin-go/kinesin/internal/storetest"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The scenarios run here on the memory store: its state outlives the
// "process" (the store value is shared), and FailWith makes the outage.

func TestRestartResumesAfterCheckpoint(t *testing.T) {
	store := memory.New()
	storetest.RestartResumesAfterCheckpoint(t, func(*testing.T) checkpoint.Store { return store })
}

// downError is the error of the memory store while it is down.
type downError struct{}

func (downError) Error() string { return "injected outage" }

func TestOutageLosesNoCommit(t *testing.T) {
	store := memory.New()
	var before int
	storetest.OutageLosesNoCommit[downError](t, storetest.Outage{
		Store: store,
		Begin: func(*testing.T) {
			store.FailWith(downError{})
			before = store.Saves()
		},
		During: func(t *testing.T, app string, _ map[string]checkpoint.Checkpoint) {
			storetest.Eventually(t, 10*time.Second, func() bool { return store.Saves() >= before+3 }, "failed saves during the outage")
			if _, err := store.Load(t.Context(), app, storetest.Stream); !errors.Is(err, downError{}) {
				t.Fatalf("Load during the outage = %v, want the outage's error", err)
			}
		},
		End: func(*testing.T) { store.FailWith(nil) },
	})
}
