package efo_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/testenv"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/shard"
)

// TestKinesisLocal registers a consumer on kinesis-local, subscribes, and
// receives records put before and while subscribed.
func TestKinesisLocal(t *testing.T) {
	url := testenv.KinesisLocalURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client := kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEFOTEST", "secret", ""),
		BaseEndpoint: aws.String(url),
		HTTPClient:   &http.Client{Transport: kinesistest.AddInitialResponse(tr)},
	})

	stream := fmt.Sprintf("efo-it-%d", time.Now().UnixNano())
	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(stream), EnforceConsumerDeletion: aws.Bool(true)})
	})
	if err := kinesis.NewStreamExistsWaiter(client, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 200*time.Millisecond
	}).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)}, time.Minute); err != nil {
		t.Fatalf("waiting for the stream: %v", err)
	}
	sum, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	streamARN := aws.ToString(sum.StreamDescriptionSummary.StreamARN)

	opts := efo.Options{SubscribeInterval: 100 * time.Millisecond, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, RegisterTimeout: time.Minute}
	consumerARN, err := efo.Register(ctx, client, streamARN, "efo-it", opts)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if again, err := efo.Register(ctx, client, streamARN, "efo-it", opts); err != nil || again != consumerARN {
		t.Fatalf("Register again: %q, %v; want %q", again, err, consumerARN)
	}
	if again, err := efo.Register(ctx, client, "", consumerARN, opts); err != nil || again != consumerARN {
		t.Fatalf("Register by ARN: %q, %v; want %q", again, err, consumerARN)
	}

	shards, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil || len(shards.Shards) != 1 {
		t.Fatalf("ListShards: %v %v", shards, err)
	}
	id := aws.ToString(shards.Shards[0].ShardId)
	put := func(from, to int) {
		t.Helper()
		var entries []types.PutRecordsRequestEntry
		for i := from; i < to; i++ {
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("pk"), Data: fmt.Appendf(nil, "r%d", i)})
		}
		out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %v", err)
		}
	}
	put(0, 5)

	var c collector
	var w watcher
	r := newReader(t, client, consumerARN, opts, w.hooks())
	rd := startRead(t, r, trimHorizon(id), room(100), c.deliver)
	w.waitSubscribed(t, 1)
	c.waitFor(t, 5)
	put(5, 12) // while subscribed
	put(12, 15)
	c.waitFor(t, 15)
	checkExactly(t, c.names(), names("r", 0, 15))

	rd.stop(t)

	// A second Read from after the last record delivered gets only what
	// follows. kinesis-local keeps the first subscription for a moment after
	// the client left, and says so with a ResourceInUseException: retried.
	seqs := c.seqs()
	var c2 collector
	rd = startRead(t, r, shard.Spec{ID: id, Start: shard.Start{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: seqs[len(seqs)-1]}}, room(100), c2.deliver)
	put(15, 18)
	c2.waitFor(t, 3)
	rd.stop(t)
	checkExactly(t, c2.names(), names("r", 15, 18))
	t.Logf("kinesis-local: %d subscriptions, %d events, retries %v", w.successes(), len(w.events), w.retries)

	if err := efo.Deregister(ctx, client, consumerARN, opts); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
}
