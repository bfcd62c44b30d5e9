package kinesistest_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// DeleteStream makes the stream DELETING for StreamDeletionDelay, then it is
// gone. While DELETING it is described and listed, its records can still be
// read and written, and changes to it are ResourceInUseException.
func TestDeleteStreamDeleting(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		e.put(t, "s", "k", []byte("before"))
		it := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeTrimHorizon, nil)
		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
			t.Fatal(err)
		}
		if st := e.summary(t, "s").StreamStatus; st != types.StreamStatusDeleting {
			t.Fatalf("status %s after DeleteStream, want DELETING", st)
		}
		desc := must[*kinesis.DescribeStreamOutput](t)(e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s")}))
		if desc.StreamDescription.StreamStatus != types.StreamStatusDeleting {
			t.Fatalf("DescribeStream status %s", desc.StreamDescription.StreamStatus)
		}
		list := must[*kinesis.ListStreamsOutput](t)(e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{}))
		if !slices.Equal(list.StreamNames, []string{"s"}) || list.StreamSummaries[0].StreamStatus != types.StreamStatusDeleting {
			t.Fatalf("ListStreams %v %+v", list.StreamNames, list.StreamSummaries)
		}
		// Reads and writes go on.
		e.put(t, "s", "k", []byte("while deleting"))
		if recs, _ := e.drain(t, it, 0); !slices.Equal(datas(recs), []string{"before", "while deleting"}) {
			t.Fatalf("read %q while DELETING", datas(recs))
		}
		// Changes do not.
		_, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceInUseException](t, err)
		_, err = e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)})
		wantErr[*types.ResourceInUseException](t, err)
		_, err = e.c.AddTagsToStream(e.ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: map[string]string{"a": "b"}})
		wantErr[*types.ResourceInUseException](t, err)
		_, err = e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("1000")})
		wantErr[*types.ResourceInUseException](t, err)
		_, err = e.c.RegisterStreamConsumer(e.ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(e.fake.StreamARN("s")), ConsumerName: aws.String("c")})
		wantErr[*types.ResourceInUseException](t, err)

		e.clock.Advance(10*time.Second - time.Millisecond)
		if st := e.summary(t, "s").StreamStatus; st != types.StreamStatusDeleting {
			t.Fatalf("status %s just before the delay is over", st)
		}
		e.clock.Advance(time.Millisecond)
		_, err = e.c.DescribeStreamSummary(e.ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceNotFoundException](t, err)
		if names := must[*kinesis.ListStreamsOutput](t)(e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{})).StreamNames; len(names) != 0 {
			t.Fatalf("ListStreams %v once deleted", names)
		}
		_, err = e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		wantErr[*types.ResourceNotFoundException](t, err)
		// The name is free again.
		e.createStream(t, "s", 1)
	}, kinesistest.WithStreamDeletionDelay(10*time.Second))
}

// DeleteStream takes an ACTIVE stream: CREATING and UPDATING ones are
// ResourceInUseException.
func TestDeleteStreamNotActive(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 2)
		_, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceInUseException](t, err) // CREATING
		e.clock.Advance(time.Minute)
		if _, err := e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("1000")}); err != nil {
			t.Fatal(err)
		}
		_, err = e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceInUseException](t, err) // UPDATING
		e.clock.Advance(time.Minute)
		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
			t.Fatal(err)
		}
	}, kinesistest.WithStreamCreationDelay(time.Minute), kinesistest.WithReshardDelay(time.Minute))
}

// A subscription to a DELETING stream goes on until the stream is gone, then
// ends with ResourceNotFoundException.
func TestDeleteStreamDeletingEndsSubscriptions(t *testing.T) {
	e := newFx(t, "inproc", kinesistest.WithStreamDeletionDelay(10*time.Second))
	e.stream("s", 1)
	arn := e.consumer("s", "c")
	sub := e.subscribe(arn, shard0, fxTrimHorizon())
	sub.next()
	if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s"), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	e.put("s", "k", "late", 1)
	if recs, _ := sub.records(1); fxData(recs)[0] != "late0" {
		t.Fatalf("read %v while DELETING", fxData(recs))
	}
	fxBlockUntil(t, e.clock, 2) // lifetime and heartbeat
	e.clock.Advance(10 * time.Second)
	_, err := sub.end()
	fxErrorAs[*types.ResourceNotFoundException](t, err)
}

// With WithServiceLimits, at most 5 streams are CREATING at once: a sixth
// CreateStream is LimitExceededException until one is ACTIVE.
func TestCreateStreamCreatingLimit(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		for i := range 5 {
			e.createStream(t, fmt.Sprintf("s%d", i), 1)
			e.clock.Advance(time.Second)
		}
		_, err := e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s5"), ShardCount: aws.Int32(1)})
		wantErr[*types.LimitExceededException](t, err)
		e.clock.Advance(6 * time.Second) // s0 is ACTIVE: 10 s after its creation
		e.createStream(t, "s5", 1)
	}, kinesistest.WithStreamCreationDelay(10*time.Second), kinesistest.WithServiceLimits(kinesistest.DefaultLimits()))
}
