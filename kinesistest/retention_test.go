package kinesistest_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// Records older than the stream's retention are gone as the fake's clock
// passes it, without a call to Trim: GetRecords starts after them, a
// position among them is InvalidArgumentException, and the records inside
// retention are all there.
func TestRetentionTrimsOnTheClock(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		var old []string
		for i := range 5 {
			old = append(old, aws.ToString(e.put(t, "s", "k", fmt.Appendf(nil, "old%d", i)).SequenceNumber))
		}
		e.clock.Advance(12 * time.Hour)
		for i := range 3 {
			e.put(t, "s", "k", fmt.Appendf(nil, "new%d", i))
		}
		// Just over 24 hours after the old records: they are past
		// retention, the new ones 12 hours inside it.
		e.clock.Advance(12*time.Hour + time.Millisecond)
		recs, _ := e.readShard(t, "s", shardID(0))
		if got := datas(recs); !slices.Equal(got, []string{"new0", "new1", "new2"}) {
			t.Fatalf("read %q, want only the records inside retention", got)
		}
		_, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String("s"), ShardId: aws.String(shardID(0)),
			ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(old[2]),
		})
		wantErr[*types.InvalidArgumentException](t, err)
		// An iterator taken before the records expired reads on from the
		// records still kept (it lives 5 minutes: take it 4 minutes before).
		e.clock.Advance(11*time.Hour + 56*time.Minute)
		it := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeTrimHorizon, nil)
		e.clock.Advance(4*time.Minute + time.Millisecond)
		recs, _ = e.drain(t, it, 0)
		if got := datas(recs); len(got) != 0 {
			t.Fatalf("read %q 24 hours after every record, want none", got)
		}
	})
}

// A shorter retention (DecreaseStreamRetentionPeriod, or SetRetention)
// applies to the records already there.
func TestRetentionDecreaseApplies(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		if _, err := e.c.IncreaseStreamRetentionPeriod(e.ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("s"), RetentionPeriodHours: aws.Int32(72)}); err != nil {
			t.Fatal(err)
		}
		e.put(t, "s", "k", []byte("a"))
		e.clock.Advance(30 * time.Hour)
		e.put(t, "s", "k", []byte("b"))
		if recs, _ := e.readShard(t, "s", shardID(0)); len(recs) != 2 {
			t.Fatalf("read %d records within 72 hours, want 2", len(recs))
		}
		if _, err := e.c.DecreaseStreamRetentionPeriod(e.ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("s"), RetentionPeriodHours: aws.Int32(24)}); err != nil {
			t.Fatal(err)
		}
		if recs, _ := e.readShard(t, "s", shardID(0)); !slices.Equal(datas(recs), []string{"b"}) {
			t.Fatalf("read %q after decreasing retention to 24 hours, want b", datas(recs))
		}
	})
}

// A closed shard disappears from ListShards and DescribeStream once its
// records are all past retention, and can no longer be read; its children
// stay.
func TestRetentionExpiresClosedShards(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		e.put(t, "s", "k", []byte("parent"))
		kids := must[[2]string](t)(e.fake.Split("s", shardID(0)))
		e.clock.Advance(time.Hour)
		e.put(t, "s", "k", []byte("child"))
		// 24 hours after the split, minus a millisecond: still listed.
		e.clock.Advance(23*time.Hour - time.Millisecond)
		if got := ids(e.shards(t, "s")); !slices.Equal(got, []string{shardID(0), kids[0], kids[1]}) {
			t.Fatalf("shards %v just inside retention", got)
		}
		e.clock.Advance(2 * time.Millisecond)
		if got := ids(e.shards(t, "s")); !slices.Equal(got, []string{kids[0], kids[1]}) {
			t.Fatalf("ListShards lists %v once the parent is past retention, want only its children", got)
		}
		desc := must[*kinesis.DescribeStreamOutput](t)(e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s")}))
		if got := ids(desc.StreamDescription.Shards); !slices.Equal(got, []string{kids[0], kids[1]}) {
			t.Fatalf("DescribeStream lists %v", got)
		}
		_, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		wantErr[*types.ResourceNotFoundException](t, err)
		var n int
		for _, id := range kids {
			recs, _ := e.readShard(t, "s", id)
			n += len(recs)
		}
		if n != 1 {
			t.Fatalf("children hold %d records, want the 1 inside retention", n)
		}
	})
}

// WithRetentionTrimming(false) keeps every record until Trim.
func TestRetentionTrimmingOff(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		e.put(t, "s", "k", []byte("a"))
		e.clock.Advance(48 * time.Hour)
		if recs, _ := e.readShard(t, "s", shardID(0)); len(recs) != 1 {
			t.Fatalf("read %d records with trimming off, want 1", len(recs))
		}
		if n, err := e.fake.Trim("s"); err != nil || n != 1 {
			t.Fatalf("Trim: %d, %v", n, err)
		}
		if recs, _ := e.readShard(t, "s", shardID(0)); len(recs) != 0 {
			t.Fatalf("read %d records after Trim", len(recs))
		}
	}, kinesistest.WithRetentionTrimming(false))
}

// A subscription reads from what retention kept, and its continuation
// sequence number is past the trimmed records.
func TestRetentionSubscription(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 1)
	arn := e.consumer("s", "c")
	e.put("s", "k", "old", 3)
	e.clock.Advance(20 * time.Hour)
	e.put("s", "k", "new", 2)
	e.clock.Advance(5 * time.Hour)
	s := e.subscribe(arn, shard0, fxTrimHorizon())
	recs, _ := s.records(2)
	if got := fxData(recs); !fxEqual(got, fxNames("new", 0, 2)) {
		t.Fatalf("subscription read %v, want the records inside retention", got)
	}
}

// The fake holds at most MaxStoredBytes of records: a write past the bound
// fails whole with LimitExceededException; trimmed records and deleted
// streams free their bytes.
func TestMaxStoredBytes(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 2)
		data := make([]byte, 999) // 1,000 bytes with the partition key
		e.put(t, "s", "k", data)
		e.put(t, "s", "k", data)
		if got := e.fake.StoredBytes(); got != 2000 {
			t.Fatalf("StoredBytes %d, want 2000", got)
		}
		_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: data})
		var ae smithy.APIError
		if !errorsAs(err, &ae) || ae.ErrorCode() != kinesistest.CodeLimitExceeded || !strings.Contains(ae.ErrorMessage(), "MaxStoredBytes") {
			t.Fatalf("PutRecord past the bound: %v, want LimitExceededException naming MaxStoredBytes", err)
		}
		// PutRecords fails whole: nothing of it is stored.
		_, err = e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
			{PartitionKey: aws.String("a"), Data: []byte("x")},
			{PartitionKey: aws.String("k"), Data: data},
		}})
		wantCode(t, err, kinesistest.CodeLimitExceeded)
		if got := e.fake.StoredBytes(); got != 2000 {
			t.Fatalf("StoredBytes %d after refused writes, want 2000", got)
		}
		// Retention frees the bytes.
		e.clock.Advance(25 * time.Hour)
		e.put(t, "s", "k", data)
		if got := e.fake.StoredBytes(); got != 1000 {
			t.Fatalf("StoredBytes %d once the old records passed retention, want 1000", got)
		}
		// So does deleting the stream.
		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
			t.Fatal(err)
		}
		if got := e.fake.StoredBytes(); got != 0 {
			t.Fatalf("StoredBytes %d after DeleteStream, want 0", got)
		}
	}, kinesistest.WithMaxStoredBytes(2500))
}

// The helpers that put records are bound by MaxStoredBytes too.
func TestMaxStoredBytesHelpers(t *testing.T) {
	t.Parallel()
	fake, err := kinesistest.NewFake(kinesistest.WithMaxStoredBytes(100))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	if err := fake.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.Put("s", "k", make([]byte, 99)); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.Put("s", "k", []byte("x")); err == nil || !strings.Contains(err.Error(), "MaxStoredBytes") {
		t.Fatalf("Put past the bound: %v", err)
	}
	if _, err := fake.PutAggregated("s", []kinesistest.UserRecord{{PartitionKey: "k", Data: []byte("x")}}); err == nil {
		t.Fatal("PutAggregated passed the bound")
	}
}
