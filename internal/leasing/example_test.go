package leasing_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/leasing"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

// A worker takes the leases of a two-shard stream, reads them, writes
// checkpoints through its Manager, and closes, releasing them for the next
// worker, which starts at the checkpoints.
func Example() {
	ctx := context.Background()
	store := memlease.New() // lease/dynamolease in production
	clock := leasetest.NewClock(time.Unix(0, 0))
	m, err := leasing.New(store, "billing", "orders", lease.WithWorkerID("worker-1"), lease.WithClock(clock))
	if err != nil {
		panic(err)
	}
	// The scheduler lists the stream's shards and creates their leases.
	if _, err := m.Sync(ctx, []leasing.Shard{{ID: "shardId-000000000000"}, {ID: "shardId-000000000001"}}, true); err != nil {
		panic(err)
	}
	if err := m.Start(ctx); err != nil {
		panic(err)
	}
	for range 2 {
		ev := <-m.Events()
		fmt.Println(ev.Kind, "checkpoint:", ev.Lease.HasCheckpoint())
	}
	// Records up to 42 of each shard were processed and committed.
	for _, l := range m.Held() {
		if err := m.Checkpoint(ctx, l.Shard, checkpoint.At("42")); err != nil {
			panic(err)
		}
	}
	if err := m.Close(ctx); err != nil {
		panic(err)
	}
	leases, _, _ := store.List(ctx, "billing", "orders")
	for _, l := range leases {
		fmt.Println(l)
	}
	// Output:
	// Acquired checkpoint: false
	// Acquired checkpoint: false
	// shardId-000000000000 owner=(free) counter=3 checkpoint=42
	// shardId-000000000001 owner=(free) counter=3 checkpoint=42
}
