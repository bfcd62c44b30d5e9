package kinesistest_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// WithRealistic turns on, in one option, the service's timings on the test's
// clock, retention trimming and every limit.
func TestRealisticProfile(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		status := func() types.StreamStatus { return e.summary(t, "s").StreamStatus }
		e.createStream(t, "s", 2)
		if st := status(); st != types.StreamStatusCreating {
			t.Fatalf("status %s after CreateStream, want CREATING", st)
		}
		_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x")})
		wantErr[*types.ResourceInUseException](t, err)
		e.clock.Advance(10 * time.Second)
		if st := status(); st != types.StreamStatusActive {
			t.Fatalf("status %s 10 s after CreateStream, want ACTIVE", st)
		}

		// Resharding: UPDATING for 30 s.
		if _, err := e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("1000")}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(30*time.Second - time.Millisecond)
		if st := status(); st != types.StreamStatusUpdating {
			t.Fatalf("status %s 30 s after SplitShard minus 1 ms", st)
		}
		e.clock.Advance(time.Millisecond)
		if st := status(); st != types.StreamStatusActive {
			t.Fatalf("status %s 30 s after SplitShard", st)
		}

		// Consumers: CREATING, then ACTIVE 5 s later; DELETING for 5 s.
		arn := e.fake.StreamARN("s")
		reg := must[*kinesis.RegisterStreamConsumerOutput](t)(e.c.RegisterStreamConsumer(e.ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("c")}))
		consumer := func() types.ConsumerStatus {
			out, err := e.c.DescribeStreamConsumer(e.ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
			if err != nil {
				t.Fatal(err)
			}
			return out.ConsumerDescription.ConsumerStatus
		}
		if st := consumer(); st != types.ConsumerStatusCreating {
			t.Fatalf("consumer %s after registering", st)
		}
		e.clock.Advance(5 * time.Second)
		if st := consumer(); st != types.ConsumerStatusActive {
			t.Fatalf("consumer %s 5 s after registering", st)
		}
		if _, err := e.c.DeregisterStreamConsumer(e.ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN}); err != nil {
			t.Fatal(err)
		}
		if st := consumer(); st != types.ConsumerStatusDeleting {
			t.Fatalf("consumer %s after deregistering", st)
		}
		e.clock.Advance(5 * time.Second)
		_, err = e.c.DescribeStreamConsumer(e.ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
		wantErr[*types.ResourceNotFoundException](t, err)

		// The limits: 5 GetRecords calls a second per shard, 20
		// DescribeStreamSummary calls a second.
		it := e.iterator(t, "s", shardID(1), types.ShardIteratorTypeTrimHorizon, nil)
		for range 5 {
			out := must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)}))
			it = aws.ToString(out.NextShardIterator)
		}
		_, err = e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		wantErr[*types.ProvisionedThroughputExceededException](t, err)
		e.clock.Advance(time.Second)
		for range 20 {
			e.summary(t, "s")
		}
		_, err = e.c.DescribeStreamSummary(e.ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
		wantErr[*types.LimitExceededException](t, err)

		// Retention trimming on the clock.
		e.put(t, "s", "k", []byte("soon gone"))
		e.clock.Advance(25 * time.Hour)
		for _, sh := range e.openShards(t, "s") {
			if recs, _ := e.readShard(t, "s", aws.ToString(sh.ShardId)); len(recs) != 0 {
				t.Fatalf("shard %s holds %d records a day later", aws.ToString(sh.ShardId), len(recs))
			}
		}

		// DeleteStream: DELETING for 10 s.
		e.clock.Advance(time.Second)
		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
			t.Fatal(err)
		}
		if st := status(); st != types.StreamStatusDeleting {
			t.Fatalf("status %s after DeleteStream", st)
		}
		e.clock.Advance(10 * time.Second)
		_, err = e.c.DescribeStreamSummary(e.ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceNotFoundException](t, err)
	}, kinesistest.WithRealistic())
}

// Options after WithRealistic override what it sets.
func TestRealisticOverridden(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		if st := e.summary(t, "s").StreamStatus; st != types.StreamStatusActive {
			t.Fatalf("status %s with WithStreamCreationDelay(0) after WithRealistic", st)
		}
	}, kinesistest.WithRealistic(), kinesistest.WithStreamCreationDelay(0))
}
