package eforead_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/shard/eforead"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// Register a consumer and read a shard through its subscriptions, here on
// the in-memory fake.
func Example() {
	fake := kinesistest.New(nil)
	defer fake.Close()
	_ = fake.CreateStream("orders", 1)
	for _, order := range []string{"o-1", "o-2", "o-3"} {
		_, _ = fake.Put("orders", "pk", []byte(order))
	}
	client := fake.Client()
	ctx := context.Background()

	consumerARN, err := efo.Register(ctx, client, fake.StreamARN("orders"), "billing")
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := eforead.New(client, consumerARN, efo.Options{}, shard.Env{})
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := 0
	spec := shard.Spec{ID: "shardId-000000000000", Start: shard.Start{Type: types.ShardIteratorTypeTrimHorizon}}
	_, err = r.Read(ctx, spec,
		shard.RoomFunc(func(context.Context) (int, error) { return 100, nil }), // room for 100 records at a time
		func(_ context.Context, b shard.Batch) error {
			for _, rec := range b.Records {
				fmt.Println(string(rec.Data))
			}
			if got += len(b.Records); got == 3 {
				cancel()
			}
			return nil
		})
	fmt.Println(err)
	// Output:
	// o-1
	// o-2
	// o-3
	// context canceled
}
