package kinesistest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// iterator returns a TRIM_HORIZON iterator of a shard.
func (e *fxEnv) iterator(stream, shard string) *string {
	e.t.Helper()
	out, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		e.t.Fatalf("GetShardIterator: %v", err)
	}
	return out.ShardIterator
}

func (e *fxEnv) getRecords(stream, shard string) error {
	e.t.Helper()
	_, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: e.iterator(stream, shard)})
	return err
}

func (e *fxEnv) listShards(stream string) error {
	_, err := e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	return err
}

func TestFaultMatch(t *testing.T) {
	e := newFx(t, "inproc")
	sARN := e.stream("s", 2)
	tARN := e.stream("t", 1)
	app := e.consumer("s", "app")
	other := e.consumer("s", "other")
	const shard1 = "shardId-000000000001"

	t.Run("Op", func(t *testing.T) {
		in := e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.Throttle, Times: 2})
		defer in.Remove()
		for i := range 2 {
			fxErrorAs[*types.LimitExceededException](t, e.listShards("s"))
			if _, err := e.c.DescribeStreamSummary(e.ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")}); err != nil {
				t.Fatalf("call %d of another operation: %v", i, err)
			}
		}
		if err := e.listShards("s"); err != nil {
			t.Fatalf("after Times: %v", err)
		}
		if in.Hits() != 2 {
			t.Fatalf("Hits %d", in.Hits())
		}
	})

	t.Run("Stream by name", func(t *testing.T) {
		in := e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Stream: "s"}, Action: kinesistest.InternalFailure})
		defer in.Remove()
		fxErrorAs[*types.InternalFailureException](t, e.listShards("s"))
		_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamARN: aws.String(sARN), PartitionKey: aws.String("k"), Data: []byte("x")})
		fxErrorAs[*types.InternalFailureException](t, err)
		if err := e.listShards("t"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Stream by ARN", func(t *testing.T) {
		in := e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Stream: tARN}, Action: kinesistest.InternalFailure})
		defer in.Remove()
		fxErrorAs[*types.InternalFailureException](t, e.listShards("t"))
		if err := e.listShards("s"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Shard", func(t *testing.T) {
		in := e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "GetRecords", Shard: shard1}, Action: kinesistest.Throttle})
		defer in.Remove()
		if err := e.getRecords("s", shard0); err != nil {
			t.Fatal(err)
		}
		fxErrorAs[*types.ProvisionedThroughputExceededException](t, e.getRecords("s", shard1))
		// The stream of a GetRecords call is that of its iterator.
		fxErrorAs[*types.ProvisionedThroughputExceededException](t, e.getRecords("s", shard1))
		if err := e.getRecords("t", shard0); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Consumer", func(t *testing.T) {
		for _, c := range []string{"app", app} { // by name, then by ARN
			in := e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Consumer: c}, Action: kinesistest.Fail(kinesistest.CodeResourceInUse)})
			_, err := e.describeConsumer(&kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(app)})
			fxErrorAs[*types.ResourceInUseException](t, err)
			_, err = e.describeConsumer(&kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(sARN), ConsumerName: aws.String("app")})
			fxErrorAs[*types.ResourceInUseException](t, err)
			_, err = e.trySubscribe(app, shard0, fxLatest())
			fxErrorAs[*types.ResourceInUseException](t, err)
			if _, err := e.describeConsumer(&kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(other)}); err != nil {
				t.Fatal(err)
			}
			e.subscribe(other, shard0, fxLatest()).next()
			e.clock.Advance(5 * time.Second)
			in.Remove()
		}
	})

	t.Run("helpers are never faulted", func(t *testing.T) {
		in := e.fake.Inject(kinesistest.Fault{Action: kinesistest.InternalFailure})
		defer in.Remove()
		if _, err := e.fake.Put("s", "k", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if in.Hits() != 0 {
			t.Fatalf("Hits %d", in.Hits())
		}
	})
}

func TestFaultProbability(t *testing.T) {
	t.Parallel() // moves megabytes through the SDK: slow under -race
	pattern := func(seed uint64, n int) ([]bool, int) {
		fake := kinesistest.New(t, kinesistest.WithSeed(seed))
		c := fake.Client(fxNoRetry)
		in := fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListStreams"}, Action: kinesistest.Throttle, Probability: 0.3})
		hits := make([]bool, n)
		for i := range hits {
			_, err := c.ListStreams(context.Background(), &kinesis.ListStreamsInput{})
			if err != nil {
				fxErrorAs[*types.LimitExceededException](t, err)
				hits[i] = true
			}
		}
		failed := 0
		for _, h := range hits {
			if h {
				failed++
			}
		}
		if in.Hits() != failed {
			t.Fatalf("Hits %d, %d calls failed", in.Hits(), failed)
		}
		fake.Close()
		return hits, failed
	}
	a, failed := pattern(7, 1000)
	if failed < 250 || failed > 350 {
		t.Fatalf("%d of 1000 calls hit with probability 0.3", failed)
	}
	b, _ := pattern(7, 200)
	if !slices.Equal(a[:200], b) {
		t.Fatal("the same seed gave another hit pattern")
	}
	c, _ := pattern(8, 200)
	if slices.Equal(a[:200], c) {
		t.Fatal("another seed gave the same hit pattern")
	}
}

func TestFaultScript(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 1)
	in := e.fake.Script(kinesistest.Match{Op: "GetRecords"}, kinesistest.Throttle, kinesistest.Throttle, kinesistest.Pass, kinesistest.InternalFailure)
	it := e.iterator("s", shard0)
	var got []string
	for range 6 {
		_, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: it})
		code := "ok"
		if err != nil {
			code = fmt.Sprintf("%s/%d", fxErrCode(err), fxHTTPStatus(err))
		}
		got = append(got, code)
	}
	want := []string{"ProvisionedThroughputExceededException/400", "ProvisionedThroughputExceededException/400", "ok", "InternalFailureException/500", "ok", "ok"}
	if !slices.Equal(got, want) {
		t.Fatalf("script gave %v, want %v", got, want)
	}
	if in.Hits() != 3 {
		t.Fatalf("Hits %d, want 3", in.Hits())
	}

	// The SDK's retryer gets through fail, fail, pass in one call.
	e.fake.Script(kinesistest.Match{Op: "ListShards"}, kinesistest.Throttle, kinesistest.Throttle)
	e.fake.ResetCalls()
	c := e.fake.Client(fxFastRetry)
	if _, err := c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Calls("ListShards"); n != 3 {
		t.Fatalf("%d ListShards requests, want 3", n)
	}
}

func TestFaultActions(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		streamARN := e.stream("s", 1)
		arn := e.consumer("s", "c")
		calls := map[string]func() error{
			"GetRecords": func() error {
				it := e.iterator("s", shard0)
				_, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: it})
				return err
			},
			"GetShardIterator": func() error {
				_, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard0), ShardIteratorType: types.ShardIteratorTypeLatest})
				return err
			},
			"PutRecord": func() error {
				_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x")})
				return err
			},
			"PutRecords": func() error {
				_, err := e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("x")}}})
				return err
			},
			"ListShards": func() error { return e.listShards("s") },
			"DescribeStreamSummary": func() error {
				_, err := e.c.DescribeStreamSummary(e.ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
				return err
			},
			"RegisterStreamConsumer": func() error {
				_, err := e.register(streamARN, "new")
				return err
			},
			"SubscribeToShard": func() error {
				_, err := e.trySubscribe(arn, shard0, fxLatest())
				return err
			},
		}
		check := func(t *testing.T, action kinesistest.Action, op string, wantCode string, wantStatus int) {
			t.Helper()
			in := e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: op}, Action: action, Times: 1})
			err := calls[op]()
			if code := fxErrCode(err); code != wantCode {
				t.Fatalf("%s: error %v, want code %s", op, err, wantCode)
			}
			if st := fxHTTPStatus(err); st != wantStatus {
				t.Fatalf("%s: HTTP %d, want %d", op, st, wantStatus)
			}
			if in.Hits() != 1 {
				t.Fatalf("Hits %d", in.Hits())
			}
			if err := calls[op](); err != nil {
				t.Fatalf("%s after the fault: %v", op, err)
			}
			e.clock.Advance(5 * time.Second) // the SubscribeToShard 5-second rule
		}

		t.Run("Throttle", func(t *testing.T) {
			for _, op := range []string{"GetRecords", "GetShardIterator", "PutRecord", "PutRecords"} {
				check(t, kinesistest.Throttle, op, "ProvisionedThroughputExceededException", http.StatusBadRequest)
			}
			for _, op := range []string{"ListShards", "DescribeStreamSummary", "SubscribeToShard"} {
				check(t, kinesistest.Throttle, op, "LimitExceededException", http.StatusBadRequest)
			}
			e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "RegisterStreamConsumer"}, Action: kinesistest.Throttle, Times: 1})
			fxErrorAs[*types.LimitExceededException](t, calls["RegisterStreamConsumer"]())
		})
		t.Run("InternalFailure", func(t *testing.T) {
			check(t, kinesistest.InternalFailure, "ListShards", "InternalFailureException", http.StatusInternalServerError)
			check(t, kinesistest.InternalFailure, "SubscribeToShard", "InternalFailureException", http.StatusInternalServerError)
		})
		t.Run("ServiceUnavailable", func(t *testing.T) {
			check(t, kinesistest.ServiceUnavailable, "PutRecord", "ServiceUnavailable", http.StatusServiceUnavailable)
		})
		t.Run("ExpiredIterator", func(t *testing.T) {
			check(t, kinesistest.ExpiredIterator, "GetRecords", "ExpiredIteratorException", http.StatusBadRequest)
		})
		t.Run("Fail", func(t *testing.T) {
			check(t, kinesistest.Fail(kinesistest.CodeKMSThrottling), "PutRecords", "KMSThrottlingException", http.StatusBadRequest)
			check(t, kinesistest.Fail(kinesistest.CodeAccessDenied), "DescribeStreamSummary", "AccessDeniedException", http.StatusBadRequest)
			check(t, kinesistest.Fail("MadeUpException"), "ListShards", "MadeUpException", http.StatusBadRequest)
		})
		// The typed errors of the SDK.
		e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "PutRecords"}, Action: kinesistest.Fail(kinesistest.CodeKMSThrottling), Times: 1})
		fxErrorAs[*types.KMSThrottlingException](t, calls["PutRecords"]())
		e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "GetRecords"}, Action: kinesistest.ExpiredIterator, Times: 1})
		fxErrorAs[*types.ExpiredIteratorException](t, calls["GetRecords"]())
		e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.Fail(kinesistest.CodeAccessDenied), Times: 1})
		fxErrorAs[*types.AccessDeniedException](t, calls["ListShards"]())
	})
}

func TestFaultLatency(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 1)
	e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.Latency(3 * time.Second), Times: 2})
	done := make(chan error, 1)
	go func() { done <- e.listShards("s") }()
	fxBlockUntil(t, e.clock, 1)
	if at, _ := e.clock.NextDeadline(); !at.Equal(e.clock.Now().Add(3 * time.Second)) {
		t.Fatalf("latency until %v", at)
	}
	e.clock.Advance(3*time.Second - time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("answered before the latency passed: %v", err)
	default:
	}
	e.clock.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A client that gives up ends the wait, which no longer counts on the
	// clock, and the call is not served.
	e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "PutRecord"}, Action: kinesistest.Latency(time.Second)})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, err := e.c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x")})
		done <- err
	}()
	fxBlockUntil(t, e.clock, 1)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled PutRecord succeeded")
	}
	fxWaitFor(t, "the abandoned latency to stop counting", func() bool { return e.clock.Waiters() == 0 })
	e.clock.Advance(time.Hour)
	if shards, _ := e.fake.Shards("s"); shards[0].Records != 0 {
		t.Fatalf("%d records stored by a call its client gave up", shards[0].Records)
	}
}

func TestFaultDropConnection(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 1)

		// The SDK retries a dropped connection.
		e.fake.Script(kinesistest.Match{Op: "ListShards"}, kinesistest.DropConnection)
		e.fake.ResetCalls()
		if err := listShardsWith(fxClient(e.fake, mode, fxFastRetry), "s"); err != nil {
			t.Fatalf("with retries: %v", err)
		}
		if n := e.fake.Calls("ListShards"); n != 2 {
			t.Fatalf("%d requests, want 2", n)
		}

		// Without retries, the connection error surfaces: not an API error.
		in := e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.DropConnection, Times: 1})
		err := e.listShards("s")
		var ae smithy.APIError
		if err == nil || errors.As(err, &ae) {
			t.Fatalf("error %v (%T), want a connection error", err, err)
		}
		if in.Hits() != 1 {
			t.Fatalf("Hits %d", in.Hits())
		}
		if err := e.listShards("s"); err != nil {
			t.Fatal(err)
		}

		// On SubscribeToShard too: no response at all.
		arn := e.consumer("s", "c")
		e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: kinesistest.DropConnection, Times: 1})
		_, err = e.trySubscribe(arn, shard0, fxLatest())
		if err == nil || errors.As(err, &ae) {
			t.Fatalf("error %v (%T), want a connection error", err, err)
		}
		if n := len(e.fake.Subscriptions()); n != 0 {
			t.Fatalf("%d subscriptions", n)
		}
		e.subscribe(arn, shard0, fxLatest()).next()
	})
}

func listShardsWith(c *kinesis.Client, stream string) error {
	_, err := c.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	return err
}

func TestFaultFailRecords(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 2)
	put := func(n int) *kinesis.PutRecordsOutput {
		t.Helper()
		in := &kinesis.PutRecordsInput{StreamName: aws.String("s")}
		for i := range n {
			in.Records = append(in.Records, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(i)), Data: []byte("x")})
		}
		out, err := e.c.PutRecords(e.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	stored := func() int {
		shards, _ := e.fake.Shards("s")
		n := 0
		for _, sh := range shards {
			n += sh.Records
		}
		return n
	}

	in := e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "PutRecords"}, Action: kinesistest.FailRecords(0.5, ""), Times: 1})
	out := put(200)
	failed := 0
	for i, r := range out.Records {
		switch {
		case r.ErrorCode != nil:
			failed++
			if aws.ToString(r.ErrorCode) != kinesistest.CodeThroughputExceeded || r.ErrorMessage == nil || r.SequenceNumber != nil || r.ShardId != nil {
				t.Fatalf("failed record %d: %+v", i, r)
			}
		case r.SequenceNumber == nil || r.ShardId == nil:
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	if int(aws.ToInt32(out.FailedRecordCount)) != failed || failed < 60 || failed > 140 {
		t.Fatalf("FailedRecordCount %d, %d records failed, want about 100", aws.ToInt32(out.FailedRecordCount), failed)
	}
	if got := stored(); got != 200-failed {
		t.Fatalf("%d records stored, want %d", got, 200-failed)
	}
	if in.Hits() != 1 {
		t.Fatalf("Hits %d", in.Hits())
	}

	e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "PutRecords"}, Action: kinesistest.FailRecords(1, kinesistest.CodeInternalFailure), Times: 1})
	out = put(10)
	if aws.ToInt32(out.FailedRecordCount) != 10 || aws.ToString(out.Records[3].ErrorCode) != kinesistest.CodeInternalFailure {
		t.Fatalf("%+v", out)
	}
	e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "PutRecords"}, Action: kinesistest.FailRecords(0, ""), Times: 1})
	if out = put(10); aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("FailRecords(0): %d failed", aws.ToInt32(out.FailedRecordCount))
	}
	if out = put(10); aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("after the fault: %d failed", aws.ToInt32(out.FailedRecordCount))
	}
}

func TestFaultCutStream(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 1)
		arn := e.consumer("s", "c")
		e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: kinesistest.CutStream(2), Times: 1})
		s := e.subscribe(arn, shard0, fxLatest())
		s.next()
		e.put("s", "k", "r", 1)
		s.records(1)
		evs, err := s.end()
		var ae smithy.APIError
		if len(evs) != 0 || err == nil || errors.As(err, &ae) {
			t.Fatalf("after the cut: %d events, Err %v (%T); want a connection error", len(evs), err, err)
		}
		if got := fxWaitEnded(t, e.fake, 0); got.EndReason != "cut" || got.Events != 2 {
			t.Fatalf("subscription %+v", got)
		}

		// Times: 1, so the next subscription is whole; CutStream(0) cuts
		// right after the initial response.
		e.clock.Advance(5 * time.Second)
		s = e.subscribe(arn, shard0, fxLatest())
		s.next()
		s.es.Close()
		e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: kinesistest.CutStream(0), Times: 1})
		e.clock.Advance(5 * time.Second)
		s = e.subscribe(arn, shard0, fxLatest())
		if evs, err := s.end(); len(evs) != 0 || err == nil || errors.As(err, &ae) {
			t.Fatalf("CutStream(0): %d events, Err %v", len(evs), err)
		}
	})
}

func TestFaultStreamException(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 1)
		arn := e.consumer("s", "c")

		e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: kinesistest.StreamException(kinesistest.CodeInternalFailure, 1), Times: 1})
		s := e.subscribe(arn, shard0, fxLatest())
		evs, err := s.end() // ends right after the first event, with nothing put
		fxErrorAs[*types.InternalFailureException](t, err)
		if len(evs) != 1 {
			t.Fatalf("%d events before the exception, want 1", len(evs))
		}
		if got := fxWaitEnded(t, e.fake, 0).EndReason; got != kinesistest.CodeInternalFailure {
			t.Fatalf("EndReason %q", got)
		}

		for i, code := range []string{kinesistest.CodeResourceInUse, kinesistest.CodeResourceNotFound, kinesistest.CodeKMSThrottling} {
			e.clock.Advance(5 * time.Second)
			e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: kinesistest.StreamException(code, 0), Times: 1})
			s := e.subscribe(arn, shard0, fxLatest())
			evs, err := s.end()
			if len(evs) != 0 || fxErrCode(err) != code {
				t.Fatalf("%s: %d events, Err %v", code, len(evs), err)
			}
			switch i {
			case 0:
				fxErrorAs[*types.ResourceInUseException](t, err)
			case 1:
				fxErrorAs[*types.ResourceNotFoundException](t, err)
			case 2:
				fxErrorAs[*types.KMSThrottlingException](t, err)
			}
		}
	})
}

func TestFaultHitsRemoveClear(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 1)
	first := e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.InternalFailure})
	second := e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.Throttle})
	third := e.fake.Inject(kinesistest.Fault{Action: kinesistest.ServiceUnavailable})

	// The first fault injected decides.
	fxErrorAs[*types.InternalFailureException](t, e.listShards("s"))
	first.Remove()
	fxErrorAs[*types.LimitExceededException](t, e.listShards("s"))
	fxErrorAs[*types.LimitExceededException](t, e.listShards("s"))
	if first.Hits() != 1 || second.Hits() != 2 || third.Hits() != 0 {
		t.Fatalf("Hits %d %d %d", first.Hits(), second.Hits(), third.Hits())
	}
	_, err := e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{})
	if fxHTTPStatus(err) != http.StatusServiceUnavailable || third.Hits() != 1 {
		t.Fatalf("ListStreams: %v", err)
	}
	e.fake.ClearFaults()
	if err := e.listShards("s"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatal(err)
	}
	if first.Hits() != 1 || second.Hits() != 2 || third.Hits() != 1 {
		t.Fatalf("Hits after ClearFaults %d %d %d", first.Hits(), second.Hits(), third.Hits())
	}
	second.Remove() // removing a cleared fault is harmless
}

func TestFaultCallCounts(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 1)
	e.fake.Put("s", "k", []byte("helpers are not counted"))
	if n := e.fake.Calls("PutRecord"); n != 0 {
		t.Fatalf("PutRecord counted %d", n)
	}
	e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.Throttle, Times: 2})
	if err := listShardsWith(e.fake.Client(fxFastRetry), "s"); err != nil {
		t.Fatal(err)
	}
	e.put("s", "k", "x", 1)
	if err := e.getRecords("s", shard0); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"ListShards": 3, "GetShardIterator": 1, "GetRecords": 1}
	got := e.fake.CallCounts()
	for op, n := range want {
		if got[op] != n || e.fake.Calls(op) != n {
			t.Fatalf("%s counted %d (Calls %d), want %d; all %v", op, got[op], e.fake.Calls(op), n, got)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("CallCounts %v, want %v", got, want)
	}
	e.fake.ResetCalls()
	if got := e.fake.CallCounts(); len(got) != 0 || e.fake.Calls("ListShards") != 0 {
		t.Fatalf("after ResetCalls: %v", got)
	}
}
