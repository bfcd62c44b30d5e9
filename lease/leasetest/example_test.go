package leasetest_test

import (
	"context"
	"fmt"

	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memory"
)

// A renewal the store applies but whose reply times out: the caller gets
// the deadline, and the lease's counter moved all the same.
func ExampleFaulty() {
	ctx := context.Background()
	store := leasetest.NewFaulty(nil, memory.New()) // in a test: NewFaulty(t, ...)
	store.Inject(leasetest.Fault{
		Match:  leasetest.Match{Op: leasetest.OpRenew, Shard: "shardId-000000000000"},
		Action: leasetest.FailAfter(context.DeadlineExceeded),
		Times:  1,
	})
	_ = store.Create(ctx, "billing", "orders", lease.Lease{Shard: "shardId-000000000000"})
	ls, _, _ := store.List(ctx, "billing", "orders")
	held, _ := store.Take(ctx, "billing", "orders", ls[0], "worker-1")
	_, err := store.Renew(ctx, "billing", "orders", held)
	fmt.Println(err)
	ls, _, _ = store.List(ctx, "billing", "orders")
	fmt.Println("counter", held.Counter, "->", ls[0].Counter)
	// Output:
	// leasetest: injected fault on Renew billing/orders shardId-000000000000, after the store applied it: context deadline exceeded
	// counter 1 -> 2
}
