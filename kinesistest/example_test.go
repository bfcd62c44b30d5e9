package kinesistest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// A fake with a stream and a record, read back through the real SDK client.
// In a test, pass the *testing.T to New: the fake is then closed when the
// test ends.
func Example() {
	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 1)
	fake.Put("orders", "customer-1", []byte("hello"))

	client := fake.Client() // or kinesis.NewFromConfig(fake.AWSConfig()) over HTTP
	ctx := context.Background()
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:        aws.String("orders"),
		ShardId:           aws.String("shardId-000000000000"),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		panic(err)
	}
	out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		panic(err)
	}
	for _, r := range out.Records {
		fmt.Printf("%s: %s\n", aws.ToString(r.PartitionKey), r.Data)
	}
	// Output: customer-1: hello
}

// Inject makes matching calls fail: here, the next PutRecord on stream
// "orders" is throttled.
func ExampleFake_Inject() {
	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 1)
	fault := fake.Inject(kinesistest.Fault{
		Match:  kinesistest.Match{Op: "PutRecord", Stream: "orders"},
		Action: kinesistest.Throttle,
		Times:  1,
	})

	// Without retries, the SDK shows every throttle.
	client := fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	for range 2 {
		_, err := client.PutRecord(context.Background(), &kinesis.PutRecordInput{
			StreamName:   aws.String("orders"),
			PartitionKey: aws.String("k"),
			Data:         []byte("x"),
		})
		var throttled *types.ProvisionedThroughputExceededException
		fmt.Println("throttled:", errors.As(err, &throttled))
	}
	fmt.Println("hits:", fault.Hits())
	// Output:
	// throttled: true
	// throttled: false
	// hits: 1
}

// Script gives successive matching calls successive actions: fail, fail,
// then let the calls through.
func ExampleFake_Script() {
	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 1)
	fake.Script(kinesistest.Match{Op: "ListShards"},
		kinesistest.Throttle, kinesistest.InternalFailure, kinesistest.Pass)

	client := fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	for range 4 {
		_, err := client.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String("orders")})
		var ae smithy.APIError
		if errors.As(err, &ae) {
			fmt.Println(ae.ErrorCode())
		} else {
			fmt.Println("ok", err == nil)
		}
	}
	// Output:
	// LimitExceededException
	// InternalFailureException
	// ok true
	// ok true
}

// A ManualClock moves only when told to: minutes of service time pass in an
// instant. Here an EFO consumer becomes ACTIVE and a shard iterator expires.
func ExampleManualClock() {
	clock := kinesistest.NewManualClock(time.Time{})
	fake := kinesistest.New(nil,
		kinesistest.WithClock(clock),
		kinesistest.WithConsumerActivationDelay(30*time.Second))
	defer fake.Close()
	fake.CreateStream("orders", 1)
	client := fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()

	reg, _ := client.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
		StreamARN:    aws.String(fake.StreamARN("orders")),
		ConsumerName: aws.String("app"),
	})
	fmt.Println(reg.Consumer.ConsumerStatus)
	clock.Advance(30 * time.Second)
	desc, _ := client.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
	fmt.Println(desc.ConsumerDescription.ConsumerStatus)

	it, _ := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:        aws.String("orders"),
		ShardId:           aws.String("shardId-000000000000"),
		ShardIteratorType: types.ShardIteratorTypeLatest,
	})
	clock.Advance(5*time.Minute + time.Second)
	_, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	var expired *types.ExpiredIteratorException
	fmt.Println("expired:", errors.As(err, &expired))
	// Output:
	// CREATING
	// ACTIVE
	// expired: true
}

// SubscribeToShard pushes records to an Enhanced Fan-Out consumer as they are
// put, over the real event stream.
func ExampleFake_Subscriptions() {
	fake := kinesistest.New(nil)
	defer fake.Close()
	fake.CreateStream("orders", 1)
	consumerARN, _ := fake.RegisterConsumer("orders", "app")

	client := fake.Client()
	out, err := client.SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{
		ConsumerARN:      aws.String(consumerARN),
		ShardId:          aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest},
	})
	if err != nil {
		panic(err)
	}
	stream := out.GetStream()
	defer stream.Close()

	<-stream.Events() // the first event comes at once, empty at the tip
	fake.Put("orders", "customer-1", []byte("hello"))
	ev := (<-stream.Events()).(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
	for _, r := range ev.Value.Records {
		fmt.Printf("%s: %s\n", aws.ToString(r.PartitionKey), r.Data)
	}
	sub := fake.Subscriptions()[0]
	fmt.Println(sub.ConsumerName, sub.ShardID, sub.StartingPosition.Type)
	// Output:
	// customer-1: hello
	// app shardId-000000000000 LATEST
}
