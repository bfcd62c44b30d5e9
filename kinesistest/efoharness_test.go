package kinesistest_test

// Shared helpers of the consumer, subscription, fault, limit and clock tests:
// clients in both transport modes, a manual-clock test environment and a
// reader for SubscribeToShard event streams.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// fxDeadline bounds every wait of these tests. It is never reached by a passing
// test: nothing waits on wall time to synchronise.
const fxDeadline = 60 * time.Second

// fxModes are the two ways a client reaches the fake.
var fxModes = []string{"inproc", "url"}

// fxForEachMode runs fn in a subtest per transport mode.
func fxForEachMode(t *testing.T, fn func(t *testing.T, mode string)) {
	t.Helper()
	for _, mode := range fxModes {
		t.Run(mode, func(t *testing.T) { fn(t, mode) })
	}
}

// fxClient returns a real SDK client reaching fake through mode.
func fxClient(fake *kinesistest.Fake, mode string, optFns ...func(*kinesis.Options)) *kinesis.Client {
	switch mode {
	case "url":
		return kinesis.NewFromConfig(fake.AWSConfig(), optFns...)
	case "inproc":
		return fake.Client(optFns...)
	}
	panic("unknown mode " + mode)
}

// fxNoRetry makes every error visible to the test.
func fxNoRetry(o *kinesis.Options) { o.RetryMaxAttempts = 1 }

// fxFastRetry keeps the SDK's standard retryer (3 attempts, throttles and
// connection errors retried) without its backoff sleeps.
func fxFastRetry(o *kinesis.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

// fxEnv is a fake on a manual clock with a client that does not retry.
type fxEnv struct {
	t     *testing.T
	ctx   context.Context
	fake  *kinesistest.Fake
	clock *kinesistest.ManualClock
	c     *kinesis.Client
}

func newFx(t *testing.T, mode string, opts ...kinesistest.Option) *fxEnv {
	t.Helper()
	clock := kinesistest.NewManualClock(time.Time{})
	fake := kinesistest.New(t, append([]kinesistest.Option{kinesistest.WithClock(clock)}, opts...)...)
	return &fxEnv{t: t, ctx: context.Background(), fake: fake, clock: clock, c: fxClient(fake, mode, fxNoRetry)}
}

// stream creates an ACTIVE stream and returns its ARN.
func (e *fxEnv) stream(name string, shards int) string {
	e.t.Helper()
	if err := e.fake.CreateStream(name, shards); err != nil {
		e.t.FailNow()
	}
	return e.fake.StreamARN(name)
}

// consumer registers an ACTIVE consumer and returns its ARN.
func (e *fxEnv) consumer(stream, name string) string {
	e.t.Helper()
	arn, err := e.fake.RegisterConsumer(stream, name)
	if err != nil {
		e.t.FailNow()
	}
	return arn
}

// put stores records with data prefix+i on the shard of partition key pk and
// returns their sequence numbers.
func (e *fxEnv) put(stream, pk, prefix string, n int) []string {
	e.t.Helper()
	seqs := make([]string, n)
	for i := range n {
		r, err := e.fake.Put(stream, pk, fmt.Appendf(nil, "%s%d", prefix, i))
		if err != nil {
			e.t.FailNow()
		}
		seqs[i] = r.SequenceNumber
	}
	return seqs
}

// shardOf returns the shard that partition key pk goes to.
func (e *fxEnv) shardOf(stream, pk string) string {
	e.t.Helper()
	out, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(pk), Data: []byte("probe")})
	if err != nil {
		e.t.Fatalf("PutRecord probe: %v", err)
	}
	return aws.ToString(out.ShardId)
}

// subscribe opens a subscription, failing the test on error. The stream is
// closed when the test ends.
func (e *fxEnv) subscribe(consumerARN, shardID string, pos types.StartingPosition) *fxSub {
	e.t.Helper()
	s, err := e.trySubscribe(consumerARN, shardID, pos)
	if err != nil {
		e.t.Fatalf("SubscribeToShard %s: %v", shardID, err)
	}
	return s
}

func (e *fxEnv) trySubscribe(consumerARN, shardID string, pos types.StartingPosition) (*fxSub, error) {
	return fxSubscribeWith(e.t, e.c, consumerARN, shardID, pos)
}

func fxSubscribeWith(t *testing.T, c *kinesis.Client, consumerARN, shardID string, pos types.StartingPosition) (*fxSub, error) {
	out, err := c.SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{
		ConsumerARN:      aws.String(consumerARN),
		ShardId:          aws.String(shardID),
		StartingPosition: &pos,
	}, fxOwnCodec)
	if err != nil {
		return nil, err
	}
	es := out.GetStream()
	t.Cleanup(func() { es.Close() })
	return &fxSub{t: t, es: es}, nil
}

// fxOwnCodec gives one SubscribeToShard call a protocol of its own. The
// SDK's event stream codec keeps decode state per client, shared by every
// open stream of the client: concurrent streams race on it
// (aws/smithy-go#714).
func fxOwnCodec(o *kinesis.Options) { o.Protocol = awsjson.New11(schemas.Kinesis_20131202) }

// Starting positions.
func fxTrimHorizon() types.StartingPosition {
	return types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}
}

func fxLatest() types.StartingPosition {
	return types.StartingPosition{Type: types.ShardIteratorTypeLatest}
}

func fxAfterSeq(seq string) types.StartingPosition {
	return types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(seq)}
}

func fxAtSeq(seq string) types.StartingPosition {
	return types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(seq)}
}

func fxAtTime(ts time.Time) types.StartingPosition {
	return types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(ts)}
}

// fxSub reads one SDK event stream.
type fxSub struct {
	t  *testing.T
	es *kinesis.SubscribeToShardEventStream
}

// next returns the next SubscribeToShardEvent; the stream must not end first.
func (s *fxSub) next() types.SubscribeToShardEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.es.Events():
		if !ok {
			s.t.Fatalf("event stream ended (Err %v), want an event", s.es.Err())
		}
		e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok {
			s.t.Fatalf("event of type %T", ev)
		}
		return e.Value
	case <-time.After(fxDeadline):
		s.t.Fatalf("no event within %v", fxDeadline)
	}
	panic("unreachable")
}

// end reads the stream to its end, returning the events still received and
// the stream's Err.
func (s *fxSub) end() ([]types.SubscribeToShardEvent, error) {
	s.t.Helper()
	var evs []types.SubscribeToShardEvent
	timeout := time.After(fxDeadline)
	for {
		select {
		case ev, ok := <-s.es.Events():
			if !ok {
				return evs, s.es.Err()
			}
			if e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
				evs = append(evs, e.Value)
			}
		case <-timeout:
			s.t.Fatalf("event stream did not end within %v", fxDeadline)
		}
	}
}

// records reads events until n records came, and returns them with the
// events that carried them.
func (s *fxSub) records(n int) ([]types.Record, []types.SubscribeToShardEvent) {
	s.t.Helper()
	var recs []types.Record
	var evs []types.SubscribeToShardEvent
	for len(recs) < n {
		ev := s.next()
		evs = append(evs, ev)
		recs = append(recs, ev.Records...)
	}
	if len(recs) != n {
		s.t.Fatalf("got %d records, want %d", len(recs), n)
	}
	return recs, evs
}

// fxWaitFor polls cond until it holds, failing the test after fxDeadline.
func fxWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(fxDeadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fxBlockUntil waits until n waits are pending on clock.
func fxBlockUntil(t *testing.T, clock *kinesistest.ManualClock, n int) {
	t.Helper()
	timeout := make(chan struct{})
	timer := time.AfterFunc(fxDeadline, func() { close(timeout) })
	defer timer.Stop()
	if !clock.BlockUntil(n, timeout) {
		t.Fatalf("clock has %d waiters, want %d", clock.Waiters(), n)
	}
}

// fxSubscription returns the fake's view of the i-th subscription.
func fxSubscription(t *testing.T, fake *kinesistest.Fake, i int) kinesistest.Subscription {
	t.Helper()
	subs := fake.Subscriptions()
	if i >= len(subs) {
		t.Fatalf("fake has %d subscriptions, want more than %d", len(subs), i)
	}
	return subs[i]
}

// fxWaitEnded waits until the i-th subscription has ended and returns it.
func fxWaitEnded(t *testing.T, fake *kinesistest.Fake, i int) kinesistest.Subscription {
	t.Helper()
	var s kinesistest.Subscription
	fxWaitFor(t, fmt.Sprintf("subscription %d to end", i), func() bool {
		s = fxSubscription(t, fake, i)
		return !s.Ended.IsZero()
	})
	return s
}

// fxErrorAs asserts err is (or wraps) a T and returns it.
func fxErrorAs[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %v (%T), want %T", err, err, target)
	}
	return target
}

// fxErrCode returns the API error code of err, or "".
func fxErrCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// fxHTTPStatus returns the HTTP status of an API error, or 0.
func fxHTTPStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// fxData returns the payloads of records as strings.
func fxData(recs []types.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}

// fxNames returns the payloads prefix<from> .. prefix<to-1>.
func fxNames(prefix string, from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func fxEqual(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}
