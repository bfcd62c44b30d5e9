package memlease_test

import (
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type harness struct {
	store *memlease.Store
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
		return harness{store: memlease.New(), n: new(int)}
	})
}

// TestConformanceSharedStore runs the suite with one store for every case,
// as a long-lived service would be.
func TestConformanceSharedStore(t *testing.T) {
	s, n := memlease.New(), new(int)
	leasetest.RunConformanceTests(t, func(*testing.T) leasetest.Harness { return harness{store: s, n: n} })
}

func TestZeroValue(t *testing.T) {
	var s memlease.Store
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
	store := memlease.New()
	leasetest.RunConsumerTests(t, func(*testing.T) lease.Store { return store })
}
