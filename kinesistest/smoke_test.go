package kinesistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesin-go/kinesin/kinesistest"
)

func TestSmoke(t *testing.T) {
	for _, mode := range []string{"inproc", "url"} {
		t.Run(mode, func(t *testing.T) {
			fake := kinesistest.New(t)
			var c *kinesis.Client
			if mode == "inproc" {
				c = fake.Client()
			} else {
				c = kinesis.NewFromConfig(fake.AWSConfig())
			}
			ctx := context.Background()
			_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(2)})
			if err != nil {
				t.Fatal(err)
			}
			put, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("hello")})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("put %s %s", *put.ShardId, *put.SequenceNumber)
			it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: put.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			gr, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
			if err != nil {
				t.Fatal(err)
			}
			if len(gr.Records) != 1 || string(gr.Records[0].Data) != "hello" {
				t.Fatalf("records %+v", gr.Records)
			}
			t.Logf("arrival %v behind %d", gr.Records[0].ApproximateArrivalTimestamp, *gr.MillisBehindLatest)
			_, err = c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("nope")})
			var nf *types.ResourceNotFoundException
			if !errorsAs(err, &nf) {
				t.Fatalf("want not found, got %v", err)
			}
			ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
			if err != nil || len(ls.Shards) != 2 {
				t.Fatal(err, ls)
			}
			// EFO
			sum, _ := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
			reg, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: sum.StreamDescriptionSummary.StreamARN, ConsumerName: aws.String("c1")})
			if err != nil {
				t.Fatal(err)
			}
			sub, err := c.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: reg.Consumer.ConsumerARN, ShardId: put.ShardId, StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
			if err != nil {
				t.Fatal(err)
			}
			es := sub.GetStream()
			ev := <-es.Events()
			e := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
			t.Logf("event records=%d cont=%s", len(e.Value.Records), aws.ToString(e.Value.ContinuationSequenceNumber))
			go fake.Put("s", "k", []byte("live"))
			select {
			case ev := <-es.Events():
				e := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
				if len(e.Value.Records) != 1 {
					t.Fatalf("live %+v", e.Value)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no live event")
			}
			es.Close()
			t.Log(es.Err())
		})
	}
}
