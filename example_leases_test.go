package kinesin_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/memlease"
	"github.com/kinesin-go/kinesin/polling"
)

// WithLeases shares a stream's shards among workers: the Streams opened on
// it with the same app name and lease store, in one process or many. Each
// worker reads only the shards it holds a lease on, so between them they
// read each record once (twice only after a failure: a worker that died
// before its commits were written). A worker that stops or dies leaves its
// shards to the others; one that joins gets its share.
//
// Here two workers in one process share four shards through a memlease
// store. Workers on several hosts share a DynamoDB table instead:
//
//	store := dynamolease.New(dynamodb.NewFromConfig(cfg), "kinesin-leases")
//
// The short lease duration and cycle make the example quick; the defaults
// (10s and 2s) suit a cluster.
func ExampleWithLeases() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 4)
	store := memlease.New()

	// What each worker does, and the records read, guarded by mu; changed
	// wakes the goroutine waiting on a change.
	type worker struct {
		id     string
		stream *kinesin.Stream[string]
		leases int             // the shards it holds, counted by its hooks
		read   map[string]bool // the shards it read records of
	}
	type recordID struct{ shard, seq string }
	var mu sync.Mutex
	records := map[recordID]bool{} // the records read, by either worker
	changed := make(chan struct{}, 1)
	note := func(f func()) {
		mu.Lock()
		f()
		mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	// wait returns true once cond holds, false if ctx ends first.
	wait := func(cond func() bool) bool {
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return true
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return false
			}
		}
	}

	a := &worker{id: "worker-a", read: map[string]bool{}}
	b := &worker{id: "worker-b", read: map[string]bool{}}
	var loops sync.WaitGroup
	defer loops.Wait() // after the deferred Closes
	for _, w := range []*worker{a, b} {
		count := func(delta int) func(string) {
			return func(string) { note(func() { w.leases += delta }) }
		}
		stream, err := kinesin.Open(ctx, "orders", kinesin.String,
			kinesin.WithClient(fake.Client()),
			kinesin.WithApp("billing"), // the consumer group: the workers sharing the stream
			kinesin.WithStart(kinesin.TrimHorizon),
			kinesin.WithLeases(store,
				lease.WithWorkerID(w.id), // unique among live workers; by default host, pid and random
				lease.WithLeaseDuration(2*time.Second),
				lease.WithCycleInterval(200*time.Millisecond),
			),
			kinesin.WithShardHooks(kinesin.ShardHooks{
				OnAssigned: count(+1),
				OnRevoked:  count(-1), // asked for by another worker: handed over
				OnLost:     count(-1),
			}),
			kinesin.WithPolling(polling.Options{MinInterval: 10 * time.Millisecond, IdleInterval: 10 * time.Millisecond}),
		)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer stream.Close()
		w.stream = stream
		loops.Go(func() {
			for rec, err := range stream.Records() {
				if err != nil {
					return
				}
				note(func() {
					w.read[rec.ShardID] = true
					records[recordID{rec.ShardID, rec.SequenceNumber}] = true
				})
				rec.Commit()
			}
		})
	}

	// The first worker takes every lease; the second asks for its share,
	// and the first hands two shards over.
	if !wait(func() bool { return a.leases == 2 && b.leases == 2 }) {
		fmt.Println("not balanced:", a.leases, b.leases)
		return
	}

	// Three records into each shard.
	shards, _ := fake.Shards("orders")
	for _, s := range shards {
		for range 3 {
			fake.PutWithHashKey("orders", "customer-1", s.StartingHashKey, []byte("order"))
		}
	}
	if !wait(func() bool { return len(records) == 12 }) {
		fmt.Println("records read:", len(records))
		return
	}

	// Close hands each worker's shards over, and ends its Records loop.
	a.stream.Close()
	b.stream.Close()
	loops.Wait()

	both := 0
	for shard := range a.read {
		if b.read[shard] {
			both++
		}
	}
	fmt.Println("records read:", len(records))
	fmt.Println("shards read by worker-a:", len(a.read))
	fmt.Println("shards read by worker-b:", len(b.read))
	fmt.Println("shards read by both:", both)
	// Output:
	// records read: 12
	// shards read by worker-a: 2
	// shards read by worker-b: 2
	// shards read by both: 0
}
