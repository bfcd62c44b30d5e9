// Command quickstart consumes a Kinesis stream with kinesin, without an AWS
// account: it starts the in-memory Kinesis of package kinesistest, creates a
// stream of 4 shards, produces JSON orders into it in the background, and
// reads them back with kinesin.Open, printing each order and a summary.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// Order is what the producer writes and the consumer decodes.
type Order struct {
	ID       string  `json:"id"`
	Customer string  `json:"customer"`
	Amount   float64 `json:"amount"`
}

const orders = 200

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// An in-memory Kinesis speaking the real protocol: no AWS account needed.
	fake := kinesistest.New(nil)
	defer fake.Close()
	if err := fake.CreateStream("orders", 4); err != nil {
		return err
	}
	go produce(ctx, fake)

	stream, err := kinesin.Open(ctx, "orders", kinesin.JSON[Order],
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithApp("quickstart"),
	)
	if err != nil {
		return err
	}
	defer stream.Close()

	perShard := map[string]int{}
	var total float64
	seen := 0
	start := time.Now()
	for rec, err := range stream.Records() {
		var de *kinesin.DecodeError
		if errors.As(err, &de) {
			// A record that is not an order: say so and skip it (commit),
			// or a restart would meet it again.
			fmt.Fprintf(os.Stderr, "skipping record %s of %s: %v\n", de.SequenceNumber, de.ShardID, de.Err)
			rec.Commit()
			continue
		}
		if err != nil {
			return err // fatal: the stream ended
		}
		o := rec.Value
		fmt.Printf("%-20s %-8s %-10s %8.2f\n", rec.ShardID, o.ID, o.Customer, o.Amount)
		perShard[rec.ShardID]++
		total += o.Amount
		rec.Commit()
		if seen++; seen == orders {
			break
		}
	}
	if seen < orders {
		return fmt.Errorf("stream ended after %d of %d orders: %v", seen, orders, stream.Err())
	}

	fmt.Printf("\n%d orders, total %.2f, in %v\n", seen, total, time.Since(start).Round(time.Millisecond))
	shards := make([]string, 0, len(perShard))
	for id := range perShard {
		shards = append(shards, id)
	}
	sort.Strings(shards)
	for _, id := range shards {
		fmt.Printf("  %s: %d orders\n", id, perShard[id])
	}
	return stream.Close()
}

// produce puts the orders, a few at a time, keyed by customer.
func produce(ctx context.Context, fake *kinesistest.Fake) {
	customers := []string{"ada", "grace", "linus", "ken", "barbara", "edsger", "margaret"}
	for i := range orders {
		o := Order{ID: fmt.Sprintf("o-%04d", i), Customer: customers[i%len(customers)], Amount: float64(10 + i%90)}
		data, _ := json.Marshal(o)
		if _, err := fake.Put("orders", o.Customer, data); err != nil {
			fmt.Fprintln(os.Stderr, "produce:", err)
			return
		}
		if i == orders/2 {
			// A record that is not JSON, as a buggy producer writes one.
			if _, err := fake.Put("orders", o.Customer, []byte("not an order")); err != nil {
				fmt.Fprintln(os.Stderr, "produce:", err)
				return
			}
		}
		if i%20 == 19 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}
