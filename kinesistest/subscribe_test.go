package kinesistest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/eventstream"

	"github.com/kinesin-go/kinesin/kinesistest"
)

const shard0 = "shardId-000000000000"

// untilTip reads events until one reaches the tip of the shard
// (MillisBehindLatest 0) and returns the records they carried.
func (s *fxSub) untilTip() []types.Record {
	s.t.Helper()
	var recs []types.Record
	for {
		ev := s.next()
		recs = append(recs, ev.Records...)
		if aws.ToInt64(ev.MillisBehindLatest) == 0 {
			return recs
		}
	}
}

func TestSubscribeLiveEvents(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 1)
		arn := e.consumer("s", "c")
		s := e.subscribe(arn, shard0, fxLatest())

		// The initial-response came first (the SDK fails otherwise), then
		// a first event at once, empty at the tip.
		first := s.next()
		if len(first.Records) != 0 || aws.ToInt64(first.MillisBehindLatest) != 0 || first.ContinuationSequenceNumber == nil {
			t.Fatalf("first event %+v", first)
		}

		// Records are pushed as they are put: the clock never moves, so
		// nothing in the fake polls.
		start := e.clock.Now()
		put, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("pk-é"), Data: []byte("hello\x00world")})
		if err != nil {
			t.Fatal(err)
		}
		ev := s.next()
		if len(ev.Records) != 1 {
			t.Fatalf("live event has %d records", len(ev.Records))
		}
		r := ev.Records[0]
		if !bytes.Equal(r.Data, []byte("hello\x00world")) || aws.ToString(r.PartitionKey) != "pk-é" ||
			aws.ToString(r.SequenceNumber) != aws.ToString(put.SequenceNumber) ||
			!aws.ToTime(r.ApproximateArrivalTimestamp).Equal(start) {
			t.Fatalf("record %+v, want data/pk/seq %s/arrival %v", r, aws.ToString(put.SequenceNumber), start)
		}
		if aws.ToInt64(ev.MillisBehindLatest) != 0 || ev.ContinuationSequenceNumber == nil || ev.ChildShards != nil {
			t.Fatalf("event at the tip: %+v", ev)
		}
		for i := range 3 {
			e.put("s", "k", fmt.Sprintf("live%d-", i), 1)
			recs, _ := s.records(1)
			if got := string(recs[0].Data); got != fmt.Sprintf("live%d-0", i) {
				t.Fatalf("live record %q", got)
			}
		}
		if !e.clock.Now().Equal(start) {
			t.Fatal("the clock moved")
		}
	})
}

func TestSubscribeRecordsInOrder(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 1)
		arn := e.consumer("s", "c")
		type want struct {
			data, pk, seq string
			at            time.Time
		}
		var wants []want
		for batch := range 3 {
			in := &kinesis.PutRecordsInput{StreamName: aws.String("s")}
			for i := range 500 {
				n := batch*500 + i
				in.Records = append(in.Records, types.PutRecordsRequestEntry{
					PartitionKey: aws.String(fmt.Sprintf("pk%d", n%7)),
					Data:         fmt.Appendf(nil, "rec%05d", n),
				})
			}
			out, err := e.c.PutRecords(e.ctx, in)
			if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
				t.Fatal(err, out)
			}
			for i, r := range out.Records {
				wants = append(wants, want{string(in.Records[i].Data), *in.Records[i].PartitionKey, aws.ToString(r.SequenceNumber), e.clock.Now()})
			}
			e.clock.Advance(1500 * time.Millisecond)
		}
		s := e.subscribe(arn, shard0, fxTrimHorizon())
		recs := s.untilTip()
		if len(recs) != len(wants) {
			t.Fatalf("got %d records, want %d", len(recs), len(wants))
		}
		prev := ""
		for i, r := range recs {
			w := wants[i]
			if string(r.Data) != w.data || aws.ToString(r.PartitionKey) != w.pk || aws.ToString(r.SequenceNumber) != w.seq ||
				!aws.ToTime(r.ApproximateArrivalTimestamp).Equal(w.at) {
				t.Fatalf("record %d: %q %q %s %v, want %+v", i, r.Data, aws.ToString(r.PartitionKey), aws.ToString(r.SequenceNumber), aws.ToTime(r.ApproximateArrivalTimestamp), w)
			}
			if seq := aws.ToString(r.SequenceNumber); seq <= prev {
				t.Fatalf("sequence numbers not increasing at %d", i)
			} else {
				prev = seq
			}
		}
	})
}

func TestSubscribeContinuation(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 1)
	arn := e.consumer("s", "c")
	// takeover waits out the 5-second rule, so the same consumer can
	// subscribe again.
	takeover := func(s *fxSub) {
		t.Helper()
		s.es.Close()
		e.clock.Advance(5 * time.Second)
	}

	t.Run("after records", func(t *testing.T) {
		e.put("s", "k", "a", 10)
		s := e.subscribe(arn, shard0, fxTrimHorizon())
		recs, evs := s.records(10)
		if !fxEqual(fxData(recs), fxNames("a", 0, 10)) {
			t.Fatalf("records %v", fxData(recs))
		}
		cont := aws.ToString(evs[len(evs)-1].ContinuationSequenceNumber)
		takeover(s)
		e.put("s", "k", "b", 5)
		s = e.subscribe(arn, shard0, fxAfterSeq(cont))
		if got := fxData(s.untilTip()); !fxEqual(got, fxNames("b", 0, 5)) {
			t.Fatalf("resumed with %v, want b0..b4: no gap, no repeat", got)
		}
		takeover(s)
	})

	// Before any record was sent, the continuation of the first event
	// resumes where the subscription started.
	t.Run("LATEST, nothing sent", func(t *testing.T) {
		e.put("s", "k", "old", 2)
		s := e.subscribe(arn, shard0, fxLatest())
		ev := s.next()
		if len(ev.Records) != 0 || ev.ContinuationSequenceNumber == nil {
			t.Fatalf("LATEST first event %+v", ev)
		}
		takeover(s)
		e.put("s", "k", "new", 3)
		s = e.subscribe(arn, shard0, fxAfterSeq(aws.ToString(ev.ContinuationSequenceNumber)))
		if got := fxData(s.untilTip()); !fxEqual(got, fxNames("new", 0, 3)) {
			t.Fatalf("resumed with %v, want new0..new2", got)
		}
		takeover(s)
	})

	t.Run("TRIM_HORIZON, empty shard", func(t *testing.T) {
		e.stream("empty", 1)
		arn := e.consumer("empty", "c")
		s := e.subscribe(arn, shard0, fxTrimHorizon())
		ev := s.next()
		if len(ev.Records) != 0 || ev.ContinuationSequenceNumber == nil {
			t.Fatalf("first event %+v", ev)
		}
		takeover(s)
		e.put("empty", "k", "x", 2)
		s = e.subscribe(arn, shard0, fxAfterSeq(aws.ToString(ev.ContinuationSequenceNumber)))
		if got := fxData(s.untilTip()); !fxEqual(got, fxNames("x", 0, 2)) {
			t.Fatalf("resumed with %v, want x0, x1", got)
		}
		takeover(s)
	})
}

func TestSubscribeBacklogInSeveralEvents(t *testing.T) {
	t.Parallel() // moves megabytes through the SDK: slow under -race
	t.Run("records", func(t *testing.T) {
		e := newFx(t, "inproc")
		e.stream("s", 1)
		arn := e.consumer("s", "c")
		const n = 10001
		for i := range n {
			e.fake.Put("s", "k", fmt.Appendf(nil, "r%d", i))
		}
		e.clock.Advance(2 * time.Second)
		s := e.subscribe(arn, shard0, fxTrimHorizon())
		recs, evs := s.records(n)
		if len(evs) != 2 {
			t.Fatalf("%d records came in %d events, want 2", n, len(evs))
		}
		for i, ev := range evs {
			if len(ev.Records) > 10000 {
				t.Fatalf("event %d has %d records", i, len(ev.Records))
			}
			behind := aws.ToInt64(ev.MillisBehindLatest)
			if i < len(evs)-1 && behind != 2000 {
				t.Fatalf("event %d of the backlog: MillisBehindLatest %d, want 2000", i, behind)
			}
			if i == len(evs)-1 && behind != 0 {
				t.Fatalf("last event: MillisBehindLatest %d, want 0", behind)
			}
		}
		if !fxEqual(fxData(recs), fxNames("r", 0, n)) {
			t.Fatal("records out of order")
		}
		// Resuming from the continuation of an event inside the backlog
		// goes on right after its last record.
		cont := aws.ToString(evs[0].ContinuationSequenceNumber)
		next := len(evs[0].Records)
		s.es.Close()
		e.clock.Advance(5 * time.Second)
		s = e.subscribe(arn, shard0, fxAfterSeq(cont))
		if got := string(s.next().Records[0].Data); got != fmt.Sprintf("r%d", next) {
			t.Fatalf("resumed at %s, want r%d", got, next)
		}
	})

	t.Run("bytes", func(t *testing.T) {
		e := newFx(t, "inproc")
		e.stream("s", 1)
		arn := e.consumer("s", "c")
		const size = 256 << 10
		for i := range 12 {
			d := bytes.Repeat([]byte{byte('a' + i)}, size-1)
			e.fake.Put("s", "k", d)
		}
		e.clock.Advance(3 * time.Second)
		s := e.subscribe(arn, shard0, fxTrimHorizon())
		recs, evs := s.records(12)
		if len(evs) != 3 {
			t.Fatalf("12 records of 256 KiB came in %d events, want 3 of 1 MiB", len(evs))
		}
		for i, ev := range evs {
			total := 0
			for _, r := range ev.Records {
				total += len(r.Data) + len(aws.ToString(r.PartitionKey))
			}
			if total > 1<<20 {
				t.Fatalf("event %d carries %d bytes", i, total)
			}
			want := int64(3000)
			if i == len(evs)-1 {
				want = 0
			}
			if got := aws.ToInt64(ev.MillisBehindLatest); got != want {
				t.Fatalf("event %d: MillisBehindLatest %d, want %d", i, got, want)
			}
		}
		for i, r := range recs {
			if r.Data[0] != byte('a'+i) {
				t.Fatalf("record %d out of order", i)
			}
		}
	})
}

func TestSubscribeStartingPositions(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 1)
	t0 := e.clock.Now()
	var seq []string
	for i := range 6 {
		seq = append(seq, e.put("s", "k", fmt.Sprintf("p%d-", i), 1)[0])
		e.clock.Advance(time.Second)
	}
	cases := []struct {
		name string
		pos  types.StartingPosition
		want []string
	}{
		{"TRIM_HORIZON", fxTrimHorizon(), []string{"p0-0", "p1-0", "p2-0", "p3-0", "p4-0", "p5-0"}},
		{"LATEST", fxLatest(), nil},
		{"AT_SEQUENCE_NUMBER", fxAtSeq(seq[2]), []string{"p2-0", "p3-0", "p4-0", "p5-0"}},
		{"AFTER_SEQUENCE_NUMBER", fxAfterSeq(seq[2]), []string{"p3-0", "p4-0", "p5-0"}},
		{"AFTER_SEQUENCE_NUMBER last", fxAfterSeq(seq[5]), nil},
		{"AT_TIMESTAMP", fxAtTime(t0.Add(3 * time.Second)), []string{"p3-0", "p4-0", "p5-0"}},
		{"AT_TIMESTAMP between", fxAtTime(t0.Add(3500 * time.Millisecond)), []string{"p4-0", "p5-0"}},
		{"AT_TIMESTAMP before", fxAtTime(t0.Add(-time.Hour)), []string{"p0-0", "p1-0", "p2-0", "p3-0", "p4-0", "p5-0"}},
		{"AT_TIMESTAMP now", fxAtTime(e.clock.Now()), nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arn := e.consumer("s", fmt.Sprintf("c%d", i))
			s := e.subscribe(arn, shard0, tc.pos)
			if got := fxData(s.untilTip()); !fxEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			info := e.fake.Subscriptions()[i]
			if info.StartingPosition.Type != string(tc.pos.Type) ||
				info.StartingPosition.SequenceNumber != aws.ToString(tc.pos.SequenceNumber) ||
				!info.StartingPosition.Timestamp.Equal(aws.ToTime(tc.pos.Timestamp)) {
				t.Fatalf("Subscriptions()[%d].StartingPosition = %+v, want %+v", i, info.StartingPosition, tc.pos)
			}
		})
	}

	// A sequence number of the other shard of a two-shard stream.
	e.stream("t", 2)
	tArn := e.consumer("t", "c")
	otherSeq := e.fake.PutWithHashKey
	r, _ := otherSeq("t", "k", "340282366920938463463374607431768211455", []byte("q"))
	if r.ShardID == shard0 {
		t.Fatal("max hash key on shard 0 of 2")
	}
	_, err := e.trySubscribe(tArn, shard0, fxAtSeq(r.SequenceNumber))
	fxErrorAs[*types.InvalidArgumentException](t, err)

	bad := []struct {
		name string
		pos  types.StartingPosition
	}{
		{"malformed sequence number", fxAfterSeq("12345")},
		{"no sequence number", types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber}},
		{"no timestamp", types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp}},
		// Later than the fake's clock: the service refuses a timestamp
		// later than its own.
		{"AT_TIMESTAMP future", fxAtTime(e.clock.Now().Add(time.Millisecond))},
	}
	arn := e.consumer("s", "bad")
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.trySubscribe(arn, shard0, tc.pos)
			fxErrorAs[*types.InvalidArgumentException](t, err)
		})
	}
}

func TestSubscribeErrorsBeforeTheStream(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode, kinesistest.WithConsumerActivationDelay(time.Minute))
		streamARN := e.stream("s", 2)
		reg, err := e.c.RegisterStreamConsumer(e.ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String("c")})
		if err != nil {
			t.Fatal(err)
		}
		arn := aws.ToString(reg.Consumer.ConsumerARN)

		_, err = e.trySubscribe(arn, shard0, fxTrimHorizon())
		fxErrorAs[*types.ResourceInUseException](t, err)
		if got := fxHTTPStatus(err); got != http.StatusBadRequest {
			t.Fatalf("CREATING consumer: HTTP %d, want 400", got)
		}

		e.clock.Advance(time.Minute)
		_, err = e.trySubscribe(arn, "shardId-000000000007", fxTrimHorizon())
		fxErrorAs[*types.ResourceNotFoundException](t, err)
		if got := fxHTTPStatus(err); got != http.StatusBadRequest {
			t.Fatalf("unknown shard: HTTP %d, want 400", got)
		}
		_, err = e.trySubscribe(streamARN+"/consumer/nobody:1", shard0, fxTrimHorizon())
		fxErrorAs[*types.ResourceNotFoundException](t, err)

		if n := len(e.fake.Subscriptions()); n != 0 {
			t.Fatalf("%d subscriptions recorded for failed calls", n)
		}
		// Now ACTIVE: the subscription works.
		s := e.subscribe(arn, "shardId-000000000001", fxTrimHorizon())
		s.next()
	})
}

func TestSubscribeShardEnd(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 1)
		arn := e.consumer("s", "c")
		e.put("s", "k", "before", 2)
		s := e.subscribe(arn, shard0, fxTrimHorizon())
		s.records(2)

		children, err := e.fake.Split("s", shard0)
		if err != nil {
			t.Fatal(err)
		}
		last := s.next()
		if last.ContinuationSequenceNumber != nil || len(last.Records) != 0 {
			t.Fatalf("last event %+v: want no records and no ContinuationSequenceNumber", last)
		}
		if len(last.ChildShards) != 2 {
			t.Fatalf("ChildShards %+v", last.ChildShards)
		}
		for i, cs := range last.ChildShards {
			if aws.ToString(cs.ShardId) != children[i] || len(cs.ParentShards) != 1 || cs.ParentShards[0] != shard0 || cs.HashKeyRange == nil {
				t.Fatalf("child %d: %+v", i, cs)
			}
		}
		if evs, err := s.end(); len(evs) != 0 || err != nil {
			t.Fatalf("after the last event: %d events, Err %v; want none and nil", len(evs), err)
		}
		if got := fxWaitEnded(t, e.fake, 0).EndReason; got != "shard end" {
			t.Fatalf("EndReason %q", got)
		}
	})

	t.Run("closed shard with records", func(t *testing.T) {
		e := newFx(t, "inproc")
		e.stream("s", 2)
		arn := e.consumer("s", "c")
		e.fake.PutWithHashKey("s", "k", "0", []byte("x0"))
		e.fake.PutWithHashKey("s", "k", "0", []byte("x1"))
		child, err := e.fake.Merge("s", shard0, "shardId-000000000001")
		if err != nil {
			t.Fatal(err)
		}
		s := e.subscribe(arn, shard0, fxTrimHorizon())
		evs, err := s.end()
		if err != nil || len(evs) == 0 {
			t.Fatalf("events %v, Err %v", evs, err)
		}
		var recs []types.Record
		for _, ev := range evs {
			recs = append(recs, ev.Records...)
		}
		last := evs[len(evs)-1]
		if !fxEqual(fxData(recs), []string{"x0", "x1"}) || last.ContinuationSequenceNumber != nil || len(last.ChildShards) != 1 {
			t.Fatalf("records %v, last event %+v", fxData(recs), last)
		}
		cs := last.ChildShards[0]
		if aws.ToString(cs.ShardId) != child || !fxEqual(cs.ParentShards, []string{shard0, "shardId-000000000001"}) {
			t.Fatalf("merge child %+v", cs)
		}
	})
}

func TestSubscribeLifetime(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 1)
		arn := e.consumer("s", "c")
		s := e.subscribe(arn, shard0, fxTrimHorizon())
		s.next()
		fxBlockUntil(t, e.clock, 2) // lifetime and heartbeat
		e.clock.Advance(5*time.Minute - time.Millisecond)
		if got := s.next(); len(got.Records) != 0 { // a heartbeat
			t.Fatalf("heartbeat %+v", got)
		}
		if sub := e.fake.Subscriptions()[0]; !sub.Ended.IsZero() {
			t.Fatalf("ended before 5 minutes: %+v", sub)
		}
		fxBlockUntil(t, e.clock, 2)
		e.clock.Advance(time.Millisecond)
		if _, err := s.end(); err != nil {
			t.Fatalf("Err %v after the 5-minute lifetime, want nil", err)
		}
		sub := fxWaitEnded(t, e.fake, 0)
		if sub.EndReason != "lifetime" || sub.Ended.Sub(sub.Started) != 5*time.Minute {
			t.Fatalf("subscription %+v", sub)
		}
		if n := e.clock.Waiters(); n != 0 {
			t.Fatalf("%d waits left on the clock", n)
		}
	})
}

func TestSubscribeTakeover(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 2)
		arn := e.consumer("s", "c")
		other := e.consumer("s", "other")
		old := e.subscribe(arn, shard0, fxTrimHorizon())
		old.next()

		_, err := e.trySubscribe(arn, shard0, fxTrimHorizon())
		fxErrorAs[*types.ResourceInUseException](t, err)
		if got := fxHTTPStatus(err); got != http.StatusBadRequest {
			t.Fatalf("HTTP %d", got)
		}
		// Another shard, or another consumer, is not concerned.
		e.subscribe(arn, "shardId-000000000001", fxTrimHorizon()).next()
		e.subscribe(other, shard0, fxTrimHorizon()).next()

		e.clock.Advance(5*time.Second - time.Millisecond)
		_, err = e.trySubscribe(arn, shard0, fxTrimHorizon())
		fxErrorAs[*types.ResourceInUseException](t, err)

		e.clock.Advance(time.Millisecond)
		s := e.subscribe(arn, shard0, fxLatest())
		s.next()
		_, err = old.end()
		fxErrorAs[*types.ResourceInUseException](t, err)
		if got := fxWaitEnded(t, e.fake, 0).EndReason; got != "ResourceInUseException" {
			t.Fatalf("EndReason %q", got)
		}
		// The new subscription works.
		e.fake.PutWithHashKey("s", "k", "0", []byte("after"))
		if recs, _ := s.records(1); string(recs[0].Data) != "after" {
			t.Fatalf("record %q", recs[0].Data)
		}
	})

	t.Run("client closed", func(t *testing.T) {
		// The 5-second rule counts from the last successful call, whether or
		// not its stream is still open.
		e := newFx(t, "inproc")
		e.stream("s", 1)
		arn := e.consumer("s", "c")
		s := e.subscribe(arn, shard0, fxTrimHorizon())
		s.es.Close()
		fxWaitEnded(t, e.fake, 0)
		_, err := e.trySubscribe(arn, shard0, fxTrimHorizon())
		fxErrorAs[*types.ResourceInUseException](t, err)
		e.clock.Advance(5 * time.Second)
		e.subscribe(arn, shard0, fxTrimHorizon()).next()
	})
}

func TestSubscribeHeartbeat(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode, kinesistest.WithSubscriptionHeartbeat(2*time.Second))
		e.stream("s", 1)
		arn := e.consumer("s", "c")
		e.put("s", "k", "r", 1)
		s := e.subscribe(arn, shard0, fxTrimHorizon())
		first := s.next()
		cont := aws.ToString(first.ContinuationSequenceNumber)
		start := e.clock.Now()

		for i := range 3 {
			fxBlockUntil(t, e.clock, 2)
			if at, ok := e.clock.NextDeadline(); !ok || !at.Equal(e.clock.Now().Add(2*time.Second)) {
				t.Fatalf("heartbeat %d due at %v, want %v", i, at, e.clock.Now().Add(2*time.Second))
			}
			e.clock.Advance(2 * time.Second)
			hb := s.next()
			if len(hb.Records) != 0 || aws.ToInt64(hb.MillisBehindLatest) != 0 || aws.ToString(hb.ContinuationSequenceNumber) != cont {
				t.Fatalf("heartbeat %d: %+v", i, hb)
			}
		}
		// A record resets the heartbeat: the next empty event comes 2 s
		// after it, not 2 s after the last heartbeat.
		fxBlockUntil(t, e.clock, 2)
		e.clock.Advance(time.Second)
		e.put("s", "k", "live", 1)
		s.records(1)
		fxBlockUntil(t, e.clock, 2)
		e.clock.Advance(time.Second) // the old heartbeat time: not due
		fxBlockUntil(t, e.clock, 2)
		if at, _ := e.clock.NextDeadline(); !at.Equal(e.clock.Now().Add(time.Second)) {
			t.Fatalf("heartbeat re-armed for %v, want %v", at, e.clock.Now().Add(time.Second))
		}
		e.clock.Advance(time.Second)
		if hb := s.next(); len(hb.Records) != 0 {
			t.Fatalf("heartbeat %+v", hb)
		}
		if sub := e.fake.Subscriptions()[0]; sub.Records != 2 || e.clock.Now().Sub(start) != 9*time.Second {
			t.Fatalf("subscription %+v", sub)
		}
	})
}

func TestSubscribeEndsWhenStreamOrConsumerGoes(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		t.Run("DeleteStream", func(t *testing.T) {
			e := newFx(t, mode)
			streamARN := e.stream("s", 2)
			arn := e.consumer("s", "c")
			a := e.subscribe(arn, shard0, fxTrimHorizon())
			b := e.subscribe(arn, "shardId-000000000001", fxTrimHorizon())
			a.next()
			b.next()
			if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamARN: aws.String(streamARN), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*fxSub{a, b} {
				_, err := s.end()
				fxErrorAs[*types.ResourceNotFoundException](t, err)
			}
		})
		t.Run("DeleteStream helper", func(t *testing.T) {
			e := newFx(t, mode)
			e.stream("s", 1)
			s := e.subscribe(e.consumer("s", "c"), shard0, fxTrimHorizon())
			s.next()
			e.fake.DeleteStream("s")
			_, err := s.end()
			fxErrorAs[*types.ResourceNotFoundException](t, err)
			if got := fxWaitEnded(t, e.fake, 0).EndReason; got != "ResourceNotFoundException" {
				t.Fatalf("EndReason %q", got)
			}
		})
	})
}

func TestSubscribeFakeClose(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 2)
		arn := e.consumer("s", "c")
		a := e.subscribe(arn, shard0, fxTrimHorizon())
		b := e.subscribe(arn, "shardId-000000000001", fxTrimHorizon())
		a.next()
		// b is not read: Close must not wait for a client that stopped
		// reading.
		e.put("s", "k", "x", 50)
		e.fake.Close()
		a.end() // the stream ends; over HTTP Err reports the closed connection
		b.end()
		for i := range 2 {
			if got := fxWaitEnded(t, e.fake, i).EndReason; got != "fake closed" {
				t.Fatalf("subscription %d: EndReason %q", i, got)
			}
		}
		if _, err := e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{}); err == nil {
			t.Fatal("a call after Close succeeded")
		}
		// goleak in TestMain checks no goroutine is left.
	})
}

// TestSubscribeFakeCloseWhileWriting: Close does not wait for a client that
// stopped reading while the fake was writing to it: the write blocked on the
// client fails when the fake closes.
func TestSubscribeFakeCloseWhileWriting(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 1)
		arn := e.consumer("s", "c")
		big := bytes.Repeat([]byte("x"), 1000<<10) // one record per event
		for range 6 {
			if _, err := e.fake.Put("s", "k", big); err != nil {
				t.Fatal(err)
			}
		}
		e.subscribe(arn, shard0, fxTrimHorizon()) // and never read
		// The SDK takes two events off the connection, then waits for the
		// first to be read: the fake is left writing the third, which only
		// a reader (or Close) can end. (Over HTTP the socket buffers take
		// more: there, records are put until they fill them.) Close comes
		// once the fake is blocked writing: the subscription's goroutine
		// parked in a write to the pipe or the socket.
		fxWaitFor(t, "two events", func() bool { return fxSubscription(t, e.fake, 0).Events >= 2 })
		writing := func(stack string) bool {
			return strings.Contains(stack, "(*subscription).run") &&
				(strings.Contains(stack, "io.(*pipe).write") || strings.Contains(stack, "(*FD).Write"))
		}
		put := 6
		for deadline := time.Now().Add(10 * time.Second); !kinesistest.GoroutineParked(writing); {
			if time.Now().After(deadline) {
				t.Fatalf("the fake is not blocked writing 10 s later (%d records put)", put)
			}
			if fxSubscription(t, e.fake, 0).Records < put {
				time.Sleep(time.Millisecond) // an event still on its way
				continue
			}
			// Everything put went out: the connection takes more.
			if _, err := e.fake.Put("s", "k", big); err != nil {
				t.Fatal(err)
			}
			put++
		}
		if s := fxSubscription(t, e.fake, 0); !s.Ended.IsZero() {
			t.Fatalf("the subscription ended (%s) before Close", s.EndReason)
		}
		closed := make(chan struct{})
		go func() {
			e.fake.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("Close still waiting 10 s later for a subscription whose client stopped reading")
		}
		if got := fxWaitEnded(t, e.fake, 0).EndReason; got != "fake closed" {
			t.Fatalf("EndReason %q, want fake closed", got)
		}
	})
}

func TestSubscribeClientClose(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		e.stream("s", 1)
		s := e.subscribe(e.consumer("s", "c"), shard0, fxTrimHorizon())
		s.next()
		fxBlockUntil(t, e.clock, 2)
		e.clock.Advance(time.Second)
		if err := s.es.Close(); err != nil {
			t.Fatal(err)
		}
		sub := fxWaitEnded(t, e.fake, 0)
		if sub.EndReason != "client closed" || !sub.Ended.Equal(e.clock.Now()) {
			t.Fatalf("subscription %+v", sub)
		}
		if n := e.clock.Waiters(); n != 0 {
			t.Fatalf("%d waits left on the clock after the stream ended", n)
		}
	})
}

func TestSubscribeFanOut(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 3)
	ls, err := e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	consumers := []string{e.consumer("s", "a"), e.consumer("s", "b")}
	type key struct{ consumer, shard int }
	subs := map[key]*fxSub{}
	for ci, arn := range consumers {
		for si, sh := range ls.Shards {
			subs[key{ci, si}] = e.subscribe(arn, aws.ToString(sh.ShardId), fxLatest())
			subs[key{ci, si}].next()
		}
	}
	want := map[string][]string{}
	for i := range 60 {
		pk := fmt.Sprintf("pk%d", i)
		r, _ := e.fake.Put("s", pk, []byte(pk))
		want[r.ShardID] = append(want[r.ShardID], pk)
	}
	for k, s := range subs {
		sh := aws.ToString(ls.Shards[k.shard].ShardId)
		recs, _ := s.records(len(want[sh]))
		if !fxEqual(fxData(recs), want[sh]) {
			t.Fatalf("consumer %d shard %s: %v, want %v", k.consumer, sh, fxData(recs), want[sh])
		}
	}
}

func TestSubscriptionsInspection(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 2)
	arn := e.consumer("s", "c")
	start := e.clock.Now()
	sh := e.shardOf("s", "k")
	seq := e.put("s", "k", "r", 3)
	a := e.subscribe(arn, sh, fxAtSeq(seq[1]))
	a.records(2)
	e.clock.Advance(time.Second)
	b := e.subscribe(arn, otherShard(sh), fxLatest())
	b.next()

	subs := e.fake.Subscriptions()
	if len(subs) != 2 {
		t.Fatalf("%d subscriptions", len(subs))
	}
	s0 := subs[0]
	if s0.ConsumerARN != arn || s0.ConsumerName != "c" || s0.StreamName != "s" || s0.ShardID != sh ||
		s0.StartingPosition.Type != "AT_SEQUENCE_NUMBER" || s0.StartingPosition.SequenceNumber != seq[1] ||
		!s0.Started.Equal(start) || !s0.Ended.IsZero() || s0.EndReason != "" {
		t.Fatalf("first subscription %+v", s0)
	}
	if !subs[1].Started.Equal(start.Add(time.Second)) || subs[1].StartingPosition.Type != "LATEST" {
		t.Fatalf("second subscription %+v", subs[1])
	}
	// Events and Records count what was sent.
	e.put("s", "k", "more", 1)
	a.records(1)
	fxWaitFor(t, "counters", func() bool {
		s := e.fake.Subscriptions()[0]
		return s.Records == 3 && s.Events >= 2
	})
	a.es.Close()
	if got := fxWaitEnded(t, e.fake, 0); got.EndReason != "client closed" {
		t.Fatalf("ended %+v", got)
	}
	if !e.fake.Subscriptions()[1].Ended.IsZero() {
		t.Fatal("the other subscription ended too")
	}
}

// otherShard returns the other shard of a two-shard stream.
func otherShard(id string) string {
	if id == shard0 {
		return "shardId-000000000001"
	}
	return shard0
}

func TestSubscribeWireFrames(t *testing.T) {
	// The raw protocol, without the SDK: the initial-response message comes
	// first, then SubscribeToShardEvent messages with JSON payloads; errors
	// before the stream are plain JSON errors.
	fake := kinesistest.New(t)
	fake.CreateStream("s", 1)
	arn, _ := fake.RegisterConsumer("s", "c")
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	post := func(body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, fake.URL(), strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "Kinesis_20131202.SubscribeToShard")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	bad := post(`{"ConsumerARN":"` + arn + `","ShardId":"shardId-000000000009","StartingPosition":{"Type":"LATEST"}}`)
	if bad.StatusCode != http.StatusBadRequest || bad.Header.Get("Content-Type") != "application/x-amz-json-1.1" ||
		!strings.HasPrefix(bad.Header.Get("X-Amzn-ErrorType"), "ResourceNotFoundException") {
		t.Fatalf("error response %d %v", bad.StatusCode, bad.Header)
	}

	resp := post(`{"ConsumerARN":"` + arn + `","ShardId":"shardId-000000000000","StartingPosition":{"Type":"TRIM_HORIZON"}}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.amazon.eventstream" {
		t.Fatalf("response %d %v", resp.StatusCode, resp.Header)
	}
	dec := eventstream.NewDecoder()
	header := func(m eventstream.Message, name string) string {
		if v := m.Headers.Get(name); v != nil {
			return v.String()
		}
		return ""
	}
	first, err := dec.Decode(resp.Body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header(first, ":message-type") != "event" || header(first, ":event-type") != "initial-response" {
		t.Fatalf("first message %v %s", first.Headers, first.Payload)
	}
	second, err := dec.Decode(resp.Body, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Records                    []json.RawMessage
		ContinuationSequenceNumber *string
		MillisBehindLatest         *int64
	}
	if header(second, ":event-type") != "SubscribeToShardEvent" || header(second, ":content-type") != "application/json" ||
		json.Unmarshal(second.Payload, &ev) != nil || ev.Records == nil || ev.ContinuationSequenceNumber == nil || ev.MillisBehindLatest == nil {
		t.Fatalf("second message %v %s", second.Headers, second.Payload)
	}
}

// TestSubscribeStartingPositionChecks: SubscribeToShard's StartingPosition
// follows GetShardIterator's rules. A SequenceNumber goes with
// AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER only, a Timestamp with
// AT_TIMESTAMP only, and the sequence number must come from the stream: not
// from another one, nor from a deleted stream of the same name. Each is an
// HTTP 400 InvalidArgumentException before any event.
func TestSubscribeStartingPositionChecks(t *testing.T) {
	e := newFx(t, "inproc")
	e.stream("s", 1)
	e.stream("t", 1)
	seqS := e.put("s", "k", "s", 1)[0]
	seqT := e.put("t", "k", "t", 1)[0]
	ts := aws.Time(e.clock.Now())
	arnS, arnT := e.consumer("s", "c"), e.consumer("t", "c")
	bad := []struct {
		name string
		arn  string
		pos  types.StartingPosition
	}{
		{"TRIM_HORIZON with a sequence number", arnS, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon, SequenceNumber: &seqS}},
		{"LATEST with a sequence number", arnS, types.StartingPosition{Type: types.ShardIteratorTypeLatest, SequenceNumber: &seqS}},
		{"AT_TIMESTAMP with a sequence number", arnS, types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, SequenceNumber: &seqS, Timestamp: ts}},
		{"TRIM_HORIZON with a timestamp", arnS, types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon, Timestamp: ts}},
		{"LATEST with a timestamp", arnS, types.StartingPosition{Type: types.ShardIteratorTypeLatest, Timestamp: ts}},
		{"AT_SEQUENCE_NUMBER with a timestamp", arnS, types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: &seqS, Timestamp: ts}},
		{"another stream's sequence number", arnT, fxAtSeq(seqS)},
		{"another stream's sequence number, after", arnS, fxAfterSeq(seqT)},
	}
	for _, tc := range bad {
		_, err := e.trySubscribe(tc.arn, shard0, tc.pos)
		if fxErrCode(err) != kinesistest.CodeInvalidArgument || fxHTTPStatus(err) != http.StatusBadRequest {
			t.Errorf("%s: %v, want HTTP 400 InvalidArgumentException", tc.name, err)
		}
	}
	if n := len(e.fake.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions accepted", n)
	}

	// Stream s deleted and created again: its old sequence numbers are
	// refused, the new ones taken.
	if err := e.fake.DeleteStream("s"); err != nil {
		t.Fatal(err)
	}
	e.stream("s", 1)
	arnS = e.consumer("s", "c")
	_, err := e.trySubscribe(arnS, shard0, fxAtSeq(seqS))
	fxErrorAs[*types.InvalidArgumentException](t, err)
	seqS2 := e.put("s", "k", "s2-", 1)[0]
	s := e.subscribe(arnS, shard0, fxAtSeq(seqS2))
	if got := fxData(s.untilTip()); !fxEqual(got, []string{"s2-0"}) {
		t.Fatalf("AT_SEQUENCE_NUMBER of the new stream's record: %v", got)
	}
}
