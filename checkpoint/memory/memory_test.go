package memory_test

import (
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/memory"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type harness struct{ store *memory.Store }

func (h harness) Store() checkpoint.Store { return h.store }
func (h harness) Names() (app, stream string) {
	return checkpointtest.UniqueName("app"), checkpointtest.UniqueName("stream")
}
func (h harness) Close() {}

func TestConformance(t *testing.T) {
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{memory.New()}
	})
}

func TestConformanceZeroValue(t *testing.T) {
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{new(memory.Store)}
	})
}

// TestConformanceShared runs the suite against one store shared by every
// case, as a durable store is: it relies on Names alone for a fresh state.
func TestConformanceShared(t *testing.T) {
	s := memory.New()
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{s}
	})
}

func TestSaveErrors(t *testing.T) {
	s := memory.New()
	err := s.Save(t.Context(), "app", "stream", map[string]checkpoint.Checkpoint{
		"shard-b": checkpoint.At("x"),
		"shard-a": checkpoint.At(""),
		"shard-c": checkpoint.At("1"),
	})
	const want = `memory: save app/stream: shard shard-a: checkpoint: invalid checkpoint: sequence number "" is not a decimal integer`
	if !errors.Is(err, checkpoint.ErrInvalid) || err.Error() != want {
		t.Errorf("Save error = %v, want %s", err, want)
	}
}

// TestConsumer runs the consumer scenarios on one store, shared by the
// processes of a restart as a durable store's storage is.
func TestConsumer(t *testing.T) {
	store := memory.New()
	checkpointtest.RunConsumerTests(t, func(*testing.T) checkpoint.Store { return store })
}
