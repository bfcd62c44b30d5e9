package kinesistest_test

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/kinesistest"
)

const (
	mib = 1 << 20
	// quarter is the size of a record (data and partition key) that fills
	// a quarter of the 1 MiB/s write budget of a shard.
	quarter = mib / 4
)

// newLimited is a fake with the service's limits on a manual clock.
func newLimited(t *testing.T, opts ...kinesistest.Option) *fxEnv {
	return newFx(t, "inproc", append([]kinesistest.Option{kinesistest.WithServiceLimits(kinesistest.DefaultLimits())}, opts...)...)
}

// fill puts n records of 256 KiB (partition key included) on the shard of
// pk, four a second, as a producer within the write limit would (the Put
// helper itself is not limited): their arrival times spread over n/4
// seconds.
func (e *fxEnv) fill(stream, pk string, n int) {
	e.t.Helper()
	for i := range n {
		if i > 0 && i%4 == 0 {
			e.clock.Advance(time.Second)
		}
		if _, err := e.fake.Put(stream, pk, bytes.Repeat([]byte{byte(i)}, quarter-len(pk))); err != nil {
			e.t.FailNow()
		}
	}
	e.clock.Advance(time.Second)
}

func (e *fxEnv) nextRecords(it *string) (*kinesis.GetRecordsOutput, error) {
	return e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: it})
}

func TestLimitGetRecordsRate(t *testing.T) {
	e := newLimited(t)
	e.stream("s", 2)
	const shard1 = "shardId-000000000001"
	// Two readers of one shard share its 5 calls a second.
	its := []*string{e.iterator("s", shard0), e.iterator("s", shard0)}
	call := func(r int) error {
		out, err := e.nextRecords(its[r])
		if err == nil {
			its[r] = out.NextShardIterator
		}
		return err
	}
	for i := range 5 {
		if err := call(i % 2); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	fxErrorAs[*types.ProvisionedThroughputExceededException](t, call(1))
	fxErrorAs[*types.ProvisionedThroughputExceededException](t, call(0))
	// Another shard has its own.
	other := e.iterator("s", shard1)
	if _, err := e.nextRecords(other); err != nil {
		t.Fatal(err)
	}
	// The window slides: a second after the first calls, they may go on.
	e.clock.Advance(time.Second - time.Millisecond)
	fxErrorAs[*types.ProvisionedThroughputExceededException](t, call(0))
	e.clock.Advance(time.Millisecond)
	for i := range 5 {
		if err := call(i % 2); err != nil {
			t.Fatalf("next second, call %d: %v", i+1, err)
		}
	}
	fxErrorAs[*types.ProvisionedThroughputExceededException](t, call(0))
}

func TestLimitGetShardIteratorRate(t *testing.T) {
	e := newLimited(t)
	e.stream("s", 2)
	get := func(shard string) error {
		_, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeLatest})
		return err
	}
	for i := range 5 {
		if err := get(shard0); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	fxErrorAs[*types.ProvisionedThroughputExceededException](t, get(shard0))
	if err := get("shardId-000000000001"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if err := get(shard0); err != nil {
		t.Fatal(err)
	}
}

func TestLimitReadBytes(t *testing.T) {
	t.Parallel() // moves megabytes through the SDK: slow under -race
	e := newLimited(t)
	e.stream("s", 1)
	e.fill("s", "k", 12) // 3 MiB
	it := e.iterator("s", shard0)
	out, err := e.nextRecords(it)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 12 {
		t.Fatalf("%d records, want all 12: one call may read more than the 2 MiB/s budget", len(out.Records))
	}
	// The shard now owes 1 MiB: half a second to pay back. Until then, even
	// a call that would read nothing is throttled.
	next := out.NextShardIterator
	_, err = e.nextRecords(next)
	fxErrorAs[*types.ProvisionedThroughputExceededException](t, err)
	e.clock.Advance(500 * time.Millisecond)
	_, err = e.nextRecords(next)
	fxErrorAs[*types.ProvisionedThroughputExceededException](t, err)
	e.clock.Advance(time.Millisecond)
	if _, err := e.nextRecords(next); err != nil {
		t.Fatalf("after paying back: %v", err)
	}

	// Small reads stay within the budget.
	e.clock.Advance(time.Second)
	e.put("s", "k", "small", 3)
	it = e.iterator("s", shard0)
	for i := range 5 {
		out, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(1)})
		if err != nil {
			t.Fatalf("small read %d: %v", i, err)
		}
		it = out.NextShardIterator
	}
}

func TestLimitLargeCallPenalty(t *testing.T) {
	t.Parallel() // moves megabytes through the SDK: slow under -race
	e := newLimited(t)
	e.stream("s", 1)
	e.fill("s", "k", 40) // 10 MiB
	out, err := e.nextRecords(e.iterator("s", shard0))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 40 {
		t.Fatalf("%d records, want 40 (10 MiB)", len(out.Records))
	}
	next := out.NextShardIterator
	// 4.5 s later the shard has paid back more than its debt, but a 10 MiB
	// call throttles the next 5 seconds.
	e.clock.Advance(4500 * time.Millisecond)
	_, err = e.nextRecords(next)
	fxErrorAs[*types.ProvisionedThroughputExceededException](t, err)
	e.clock.Advance(500 * time.Millisecond)
	if _, err := e.nextRecords(next); err != nil {
		t.Fatalf("5 s after the 10 MiB call: %v", err)
	}
}

func TestLimitWrites(t *testing.T) {
	t.Parallel() // moves megabytes through the SDK: slow under -race
	e := newLimited(t)
	e.stream("s", 2)
	// Explicit hash keys pick the shard: 0 is on shard 0, the largest key on
	// shard 1.
	const onShard0, onShard1 = "0", "340282366920938463463374607431768211455"
	putRecords := func(n int, size int) *kinesis.PutRecordsOutput {
		t.Helper()
		in := &kinesis.PutRecordsInput{StreamName: aws.String("s")}
		for range n {
			in.Records = append(in.Records, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(onShard0), Data: make([]byte, size)})
		}
		out, err := e.c.PutRecords(e.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	putRecord := func(ehk string, size int) error {
		_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(ehk), Data: make([]byte, size)})
		return err
	}

	t.Run("records", func(t *testing.T) {
		if err := putRecord(onShard0, 1); err != nil {
			t.Fatal(err)
		}
		if out := putRecords(500, 1); aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("%d failed", aws.ToInt32(out.FailedRecordCount))
		}
		out := putRecords(500, 1) // 1,000 a second: the PutRecord took one
		if aws.ToInt32(out.FailedRecordCount) != 1 || aws.ToString(out.Records[499].ErrorCode) != kinesistest.CodeThroughputExceeded ||
			out.Records[499].ErrorMessage == nil || out.Records[498].ErrorCode != nil {
			t.Fatalf("FailedRecordCount %d, last %+v", aws.ToInt32(out.FailedRecordCount), out.Records[499])
		}
		fxErrorAs[*types.ProvisionedThroughputExceededException](t, putRecord(onShard0, 1))
		// Another shard has its own budget.
		if err := putRecord(onShard1, 1); err != nil {
			t.Fatal(err)
		}
		// Half a second pays back 500 records.
		e.clock.Advance(500 * time.Millisecond)
		if n := aws.ToInt32(putRecords(500, 1).FailedRecordCount); n != 0 {
			t.Fatalf("%d failed after half a second", n)
		}
		fxErrorAs[*types.ProvisionedThroughputExceededException](t, putRecord(onShard0, 1))
	})

	t.Run("bytes", func(t *testing.T) {
		e.clock.Advance(time.Second)
		if err := putRecord(onShard0, 800<<10); err != nil {
			t.Fatal(err)
		}
		fxErrorAs[*types.ProvisionedThroughputExceededException](t, putRecord(onShard0, 300<<10))
		if err := putRecord(onShard1, 300<<10); err != nil {
			t.Fatal(err)
		}
		out := putRecords(2, 200<<10)
		if aws.ToInt32(out.FailedRecordCount) != 1 || out.Records[0].ErrorCode != nil || aws.ToString(out.Records[1].ErrorCode) != kinesistest.CodeThroughputExceeded {
			t.Fatalf("%+v", out.Records)
		}
		e.clock.Advance(time.Second)
		if err := putRecord(onShard0, mib-1); err != nil {
			t.Fatalf("a full 1 MiB record after a second: %v", err)
		}
	})
}

func TestLimitSubscribeRate(t *testing.T) {
	e := newLimited(t)
	e.stream("s", 2)
	arn := e.consumer("s", "c")
	old := e.subscribe(arn, shard0, fxLatest())
	old.next()
	_, err := e.trySubscribe(arn, shard0, fxLatest())
	fxErrorAs[*types.LimitExceededException](t, err)
	// Per consumer and shard.
	e.subscribe(arn, "shardId-000000000001", fxLatest()).next()
	e.subscribe(e.consumer("s", "d"), shard0, fxLatest()).next()

	e.clock.Advance(time.Second)
	_, err = e.trySubscribe(arn, shard0, fxLatest())
	fxErrorAs[*types.ResourceInUseException](t, err) // the 5-second rule
	_, err = e.trySubscribe(arn, shard0, fxLatest())
	fxErrorAs[*types.LimitExceededException](t, err) // failed calls count too
	e.clock.Advance(4 * time.Second)
	e.subscribe(arn, shard0, fxLatest()).next()
	_, err = old.end()
	fxErrorAs[*types.ResourceInUseException](t, err)
}

// efoMeter reads a subscription in the background, counting the bytes it
// delivers.
type efoMeter struct {
	bytes atomic.Int64
	done  chan struct{}
}

func meter(t *testing.T, s *fxSub) *efoMeter {
	m := &efoMeter{done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ev := range s.es.Events() {
			if e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
				for _, r := range e.Value.Records {
					m.bytes.Add(int64(len(r.Data) + len(aws.ToString(r.PartitionKey))))
				}
			}
		}
	}()
	t.Cleanup(func() {
		s.es.Close()
		<-m.done
	})
	return m
}

func TestLimitEFOThroughput(t *testing.T) {
	t.Parallel() // moves megabytes through the SDK: slow under -race
	e := newLimited(t, kinesistest.WithSubscriptionHeartbeat(time.Hour))
	e.stream("s", 1)
	e.fill("s", "k", 36) // 9 MiB
	// Two consumers of one shard, each with a throughput of its own: were it
	// shared, each would get 1 MiB/s.
	arns := []string{e.consumer("s", "a"), e.consumer("s", "b")}
	var meters []*efoMeter
	for _, arn := range arns {
		meters = append(meters, meter(t, e.subscribe(arn, shard0, fxTrimHorizon())))
	}
	// sent returns the bytes each subscription has sent, once all are
	// throttled: each then waits on three things (lifetime, heartbeat and
	// throughput), so it has sent all it may at this time.
	sent := func() []int {
		t.Helper()
		fxBlockUntil(t, e.clock, 3*len(arns))
		var out []int
		for _, s := range e.fake.Subscriptions() {
			out = append(out, s.Records*quarter)
		}
		return out
	}
	start := sent()
	for i, b := range start {
		// A full bucket (2 MiB) at once.
		if b != 2*mib {
			t.Fatalf("consumer %d sent %d bytes at once, want 2 MiB", i, b)
		}
	}
	// Then about 2 MiB per second, in events of at most 1 MiB.
	const seconds = 2
	prev := start
	for s := range seconds {
		for range 4 {
			e.clock.Advance(250 * time.Millisecond)
		}
		now := sent()
		for i := range arns {
			if d := now[i] - prev[i]; d < mib || d > 3*mib {
				t.Fatalf("consumer %d: %d bytes in second %d", i, d, s+1)
			}
		}
		prev = now
	}
	for i := range arns {
		rate := float64(prev[i]-start[i]) / seconds / mib
		if rate < 1.5 || rate > 2.5 {
			t.Fatalf("consumer %d got %.2f MiB/s, want about 2", i, rate)
		}
		// What the client received matches, once it caught up.
		fxWaitFor(t, "the client to receive what was sent", func() bool { return meters[i].bytes.Load() == int64(prev[i]) })
	}
}

// TestLimitWritesSpareHelpers: the write limits apply to PutRecord and
// PutRecords, not to the helpers, which set up a test: Put, PutWithHashKey
// and PutAggregated store any number of records at once, and what they store
// does not count against the shard's budget.
func TestLimitWritesSpareHelpers(t *testing.T) {
	e := newLimited(t)
	e.stream("s", 1)
	big := bytes.Repeat([]byte("x"), mib-10)
	for i := range 1500 { // 1,500 records in no time: over the 1,000 a second
		if _, err := e.fake.Put("s", "k", []byte{byte(i)}); err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	for i := range 3 { // 3 MiB in no time: over the 1 MiB a second
		if _, err := e.fake.PutWithHashKey("s", "k", "0", big); err != nil {
			t.Fatalf("PutWithHashKey %d: %v", i, err)
		}
	}
	if _, err := e.fake.PutAggregated("s", []kinesistest.UserRecord{{PartitionKey: "k", Data: big[:mib/2]}}); err != nil {
		t.Fatalf("PutAggregated: %v", err)
	}
	// The shard's budget is untouched: a full second's worth of records,
	// then no more.
	in := &kinesis.PutRecordsInput{StreamName: aws.String("s")}
	for range 500 {
		in.Records = append(in.Records, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("y")})
	}
	for i := range 2 {
		out, err := e.c.PutRecords(e.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if n := aws.ToInt32(out.FailedRecordCount); n != 0 {
			t.Fatalf("PutRecords %d after the helpers: %d of 500 failed", i, n)
		}
	}
	_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("z")})
	fxErrorAs[*types.ProvisionedThroughputExceededException](t, err)
	shards, _ := e.fake.Shards("s")
	if got := shards[0].Records; got != 1500+3+1+1000 {
		t.Fatalf("the shard holds %d records, want %d", got, 1500+3+1+1000)
	}
}

// One WithServiceLimits option may make several fakes at once, as parallel
// tests sharing it do: each fake gets its own copy of the limits (the race
// detector failed the suite when they filled one in place).
func TestServiceLimitsOptionSharedByFakes(t *testing.T) {
	opt := kinesistest.WithServiceLimits(kinesistest.Limits{CallRates: map[string]int{"ListShards": 50}})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			f, err := kinesistest.NewFake(opt)
			if err != nil {
				t.Error(err)
				return
			}
			f.Close()
		})
	}
	wg.Wait()
}
