package kinesin_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// Open a stream, range over its records, commit each one once it is handled.
//
// The examples read an in-memory Kinesis (package kinesistest) through
// WithClient; against AWS, leave WithClient out and Open uses the default
// AWS configuration (environment, shared files, instance role).
func Example() {
	type Order struct {
		ID     string `json:"id"`
		Amount int    `json:"amount"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A stream of one shard holding three orders.
	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 1)
	for i := 1; i <= 3; i++ {
		fake.Put("orders", "customer-1", fmt.Appendf(nil, `{"id":"o-%d","amount":%d}`, i, 10*i))
	}

	stream, err := kinesin.Open(ctx, "orders", kinesin.JSON[Order],
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon), // what the stream holds; the default, Latest, is what is put from now on
	)
	if err != nil {
		fmt.Println(err) // a bad option, an unknown stream, no AWS configuration
		return
	}
	defer stream.Close()

	n := 0
	for rec, err := range stream.Records() {
		var de *kinesin.DecodeError
		if errors.As(err, &de) {
			rec.Commit() // not an order: skip it (see ExampleDecodeError)
			continue
		}
		if err != nil {
			fmt.Println(err) // the error that ended the stream, yielded last
			return
		}
		fmt.Printf("%s %s: %d\n", rec.ShardID, rec.Value.ID, rec.Value.Amount)
		rec.Commit() // handled: the checkpoint may move past it
		if n++; n == 3 {
			break // a stream has no end; breaking out closes it, as Close does
		}
	}
	// Output:
	// shardId-000000000000 o-1: 10
	// shardId-000000000000 o-2: 20
	// shardId-000000000000 o-3: 30
}

// Chan hands the records to a pool of workers. Close stops the stream and
// closes the channel, which ends the workers' loops; a record not received
// yet stays uncommitted, and a restart delivers it again.
func ExampleStream_Chan() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A stream of four shards holding 20 records: amounts 1 to 20.
	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 4)
	const records = 20
	for i := 1; i <= records; i++ {
		fake.Put("orders", fmt.Sprint("customer-", i), fmt.Append(nil, i))
	}

	stream, err := kinesin.Open(ctx, "orders", kinesin.JSON[int],
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stream.Close()

	var total, handled atomic.Int64
	allHandled := make(chan struct{})
	var workers sync.WaitGroup
	for range 4 {
		workers.Go(func() {
			for rec := range stream.Chan() { // the same channel for every caller
				if rec.Err() == nil {
					total.Add(int64(rec.Value))
				}
				rec.Commit() // from any goroutine, in any order
				if handled.Add(1) == records {
					close(allHandled)
				}
			}
		})
	}

	select {
	case <-allHandled:
	case <-ctx.Done():
	}
	if err := stream.Close(); err != nil { // the channel closes: the workers stop
		fmt.Println(err)
	}
	workers.Wait()
	_, open := <-stream.Chan()
	fmt.Println("total:", total.Load())
	fmt.Println("channel open:", open)
	fmt.Println("stream error:", stream.Err()) // nil: Close is not a failure
	// Output:
	// total: 210
	// channel open: false
	// stream error: <nil>
}

// A record whose data the decoder rejects is still delivered, with its raw
// Data, beside a *DecodeError; the stream goes on. Commit it to skip it, or
// a restart delivers it again.
func ExampleDecodeError() {
	type Order struct {
		ID string `json:"id"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 1)
	fake.Put("orders", "customer-1", []byte(`{"id":"o-1"}`))
	fake.Put("orders", "customer-1", []byte(`not an order`))
	fake.Put("orders", "customer-1", []byte(`{"id":"o-3"}`))

	stream, err := kinesin.Open(ctx, "orders", kinesin.JSON[Order],
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stream.Close()

	n := 0
	for rec, err := range stream.Records() {
		var de *kinesin.DecodeError
		switch {
		case errors.As(err, &de):
			// Keep de.Data (also rec.Data) for later, log it, or drop it.
			fmt.Printf("skipped %q of %s\n", de.Data, de.ShardID)
		case err != nil:
			fmt.Println(err) // fatal: the stream ended
			return
		default:
			fmt.Println("order", rec.Value.ID)
		}
		rec.Commit()
		if n++; n == 3 {
			break
		}
	}
	// Output:
	// order o-1
	// skipped "not an order" of shardId-000000000000
	// order o-3
}

// WithEFO reads the stream with Enhanced Fan-Out: Open registers the
// consumer when it does not exist and waits until it is ACTIVE, then the
// service pushes each shard's records to it over SubscribeToShard. Records,
// commits and checkpoints work as with polling. The consumer outlives Close
// (and is billed) unless WithDeregisterOnClose(true) is given.
func ExampleWithEFO() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 1)
	for i := 1; i <= 3; i++ {
		fake.Put("orders", "customer-1", fmt.Appendf(nil, "o-%d", i))
	}

	stream, err := kinesin.Open(ctx, "orders", kinesin.String,
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithEFO("my-app"), // a consumer name, or the ARN of a registered consumer
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
		fmt.Println(rec.Value)
		rec.Commit()
		if n++; n == 3 {
			break
		}
	}
	sub := fake.Subscriptions()[0] // what the fake served
	fmt.Println("subscribed:", sub.ConsumerName, sub.ShardID)
	// Output:
	// o-1
	// o-2
	// o-3
	// subscribed: my-app shardId-000000000000
}
