package kinesin_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// Commits may come in any order. A shard's checkpoint moves only to a
// record below which every record is committed: committing c before a and b
// leaves no checkpoint, a moves it to a, and b, filling the gap, to c.
func ExampleRecord_Commit() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 1)
	for _, v := range []string{"a", "b", "c"} {
		fake.Put("orders", "customer-1", []byte(v))
	}

	store := memcheckpoint.New()
	stream, err := kinesin.Open(ctx, "orders", kinesin.String,
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithApp("billing"),
		kinesin.WithCheckpointer(store),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stream.Close()

	// Take the three records first, then commit them out of order.
	var recs []*kinesin.Record[string]
	for rec := range stream.Chan() {
		if recs = append(recs, rec); len(recs) == 3 {
			break
		}
	}
	if len(recs) < 3 {
		fmt.Println("the stream ended:", stream.Err())
		return
	}

	// checkpointAt writes the committed position now, and tells which
	// record the store holds as the shard's checkpoint.
	checkpointAt := func() string {
		if err := stream.Flush(ctx); err != nil {
			return err.Error()
		}
		cps, err := store.Load(ctx, "billing", "orders")
		if err != nil {
			return err.Error()
		}
		cp, ok := cps["shardId-000000000000"]
		if !ok {
			return "none"
		}
		for _, r := range recs {
			if r.SequenceNumber == cp.SequenceNumber {
				return r.Value
			}
		}
		return cp.String()
	}
	recs[2].Commit()
	fmt.Println("commit c, checkpoint:", checkpointAt())
	recs[0].Commit()
	fmt.Println("commit a, checkpoint:", checkpointAt())
	recs[1].Commit()
	fmt.Println("commit b, checkpoint:", checkpointAt())
	// Output:
	// commit c, checkpoint: none
	// commit a, checkpoint: a
	// commit b, checkpoint: c
}

// Flush writes the committed positions to the checkpoint store now, rather
// than at the next WithCheckpointInterval (at shard end, or on Close): for
// example after a batch was written to a database, before acknowledging it.
func ExampleStream_Flush() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 1)
	fake.Put("orders", "customer-1", []byte("o-1"))

	store := memcheckpoint.New()
	stream, err := kinesin.Open(ctx, "orders", kinesin.String,
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithApp("billing"),
		kinesin.WithCheckpointer(store),
		kinesin.WithCheckpointInterval(time.Minute), // the next periodic write is a minute away
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stream.Close()

	for rec, err := range stream.Records() {
		if err != nil {
			fmt.Println(err)
			return
		}
		rec.Commit()
		cps, _ := store.Load(ctx, "billing", "orders")
		fmt.Println("checkpoints before Flush:", len(cps))

		if err := stream.Flush(ctx); err != nil {
			fmt.Println(err)
			return
		}
		cps, _ = store.Load(ctx, "billing", "orders")
		fmt.Println("checkpoints after Flush:", len(cps))
		fmt.Printf("at %s: %v\n", rec.Value, cps[rec.ShardID].SequenceNumber == rec.SequenceNumber)
		break
	}
	// Output:
	// checkpoints before Flush: 0
	// checkpoints after Flush: 1
	// at o-1: true
}

// WithCheckpointer keeps the committed positions in a store, under the
// consumer group named by WithApp (required with a store): a later Open of
// the same stream with the same store and app name resumes after them.
//
// Here one memcheckpoint store serves two runs in one process. In
// production, pass a store that outlives the process, such as
// checkpoint/dynamocheckpoint:
//
//	store := dynamocheckpoint.New(dynamodb.NewFromConfig(cfg), "kinesin-checkpoints")
func ExampleWithCheckpointer() {
	type Order struct {
		ID string `json:"id"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 1)
	for i := 1; i <= 4; i++ {
		fake.Put("orders", "customer-1", fmt.Appendf(nil, `{"id":"o-%d"}`, i))
	}
	store := memcheckpoint.New()

	// run opens the stream, handles and commits n orders, and closes it.
	run := func(name string, n int) error {
		stream, err := kinesin.Open(ctx, "orders", kinesin.JSON[Order],
			kinesin.WithClient(fake.Client()),
			kinesin.WithApp("billing"),
			kinesin.WithCheckpointer(store),
			kinesin.WithStart(kinesin.TrimHorizon), // for shards without a checkpoint: the first run
		)
		if err != nil {
			return err
		}
		for rec, err := range stream.Records() {
			if err != nil {
				return err // or a *DecodeError: see Example
			}
			fmt.Println(name, rec.Value.ID)
			rec.Commit()
			if n--; n == 0 {
				break
			}
		}
		return stream.Close() // writes the committed positions; its error says whether it could
	}
	if err := run("first run:", 2); err != nil {
		fmt.Println(err)
		return
	}
	if err := run("second run:", 2); err != nil {
		fmt.Println(err)
		return
	}
	// Output:
	// first run: o-1
	// first run: o-2
	// second run: o-3
	// second run: o-4
}
