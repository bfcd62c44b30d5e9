package memory_test

import (
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type harness struct {
	store *memory.Store
	n     *int
}

func (h harness) Store() lease.Store { return h.store }
func (h harness) Names() (string, string) {
	*h.n++
	return fmt.Sprintf("app%d", *h.n), fmt.Sprintf("stream%d", *h.n)
}
func (h harness) Close() {}

func TestConformance(t *testing.T) {
	leasetest.RunConformanceTests(t, func(*testing.T) leasetest.Harness {
		return harness{store: memory.New(), n: new(int)}
	})
}

// TestConformanceSharedStore runs the suite with one store for every case,
// as a long-lived service would be.
func TestConformanceSharedStore(t *testing.T) {
	s, n := memory.New(), new(int)
	leasetest.RunConformanceTests(t, func(*testing.T) leasetest.Harness { return harness{store: s, n: n} })
}

func TestZeroValue(t *testing.T) {
	var s memory.Store
	ctx := t.Context()
	if err := s.Create(ctx, "a", "s", lease.Lease{Shard: "x"}); err != nil {
		t.Fatal(err)
	}
	ls, _, err := s.List(ctx, "a", "s")
	if err != nil || len(ls) != 1 {
		t.Fatalf("List = %v, %v", ls, err)
	}
}

// TestConsumer runs the consumer scenarios on one store, shared by the
// processes of a restart as a durable store's storage is.
func TestConsumer(t *testing.T) {
	store := memory.New()
	leasetest.RunConsumerTests(t, func(*testing.T) lease.Store { return store })
}
