package kinesin_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// Batches hands a sink the records of one shard at a time, at most
// WithBatchSize of them, and one Commit per batch. StopWhenCaughtUp ends
// the loop once the stream is read: a backfill, or a test, needs no counter
// nor idle timer.
func ExampleStream_Batches() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("events", 1)
	for i := 1; i <= 7; i++ {
		fake.Put("events", "k", fmt.Appendf(nil, "event %d", i))
	}

	stream, err := kinesin.Open(ctx, "events", kinesin.String,
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithBatchSize(3),
		kinesin.StopWhenCaughtUp(),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stream.Close()
	for batch, err := range stream.Batches() {
		if err != nil {
			fmt.Println(err)
			return
		}
		var values []string
		for _, rec := range batch.Records {
			values = append(values, rec.Value)
		}
		fmt.Println(batch.ShardID, values) // write them to the sink, then:
		batch.Commit()
	}
	fmt.Println("caught up; error:", stream.Err())
	// Output:
	// shardId-000000000000 [event 1 event 2 event 3]
	// shardId-000000000000 [event 4 event 5 event 6]
	// shardId-000000000000 [event 7]
	// caught up; error: <nil>
}

// StopWhenCaughtUp ends the loop by itself once every shard was read to its
// tip, with the committed positions written: "read what is there, then
// stop".
func ExampleStopWhenCaughtUp() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("events", 3)
	for i := range 30 {
		fake.Put("events", fmt.Sprint("key-", i), []byte("x"))
	}

	stream, err := kinesin.Open(ctx, "events", kinesin.Bytes,
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.StopWhenCaughtUp(),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stream.Close()
	n := 0
	for rec, err := range stream.Records() {
		if err != nil {
			fmt.Println(err)
			return
		}
		n++
		rec.Commit()
	}
	fmt.Println(n, "records; error:", stream.Err())
	// Output: 30 records; error: <nil>
}
