package kinesistest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// controlCalls makes one call of each rate-limited control-plane operation
// about stream s (created by the test, with consumer c), one that succeeds
// when the rate allows it. Calls that change state (create, delete, split)
// are made so that they can repeat.
func controlCalls(e *fxEnv, s string) map[string]func(i int) error {
	ctx := e.ctx
	c := e.c
	arn := e.fake.StreamARN(s)
	name := aws.String(s)
	return map[string]func(int) error{
		"DescribeStreamSummary": func(int) error {
			_, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name})
			return err
		},
		"DescribeStream": func(int) error {
			_, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: name})
			return err
		},
		"ListShards": func(int) error {
			_, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: name})
			return err
		},
		"ListStreams": func(int) error {
			_, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{})
			return err
		},
		"DescribeStreamConsumer": func(int) error {
			_, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("c")})
			return err
		},
		"ListStreamConsumers": func(int) error {
			_, err := c.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(arn)})
			return err
		},
		"RegisterStreamConsumer": func(i int) error {
			_, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String(fmt.Sprintf("r%d", i))})
			return err
		},
		"DeregisterStreamConsumer": func(i int) error {
			cons := fmt.Sprintf("d%d", i)
			if _, err := e.fake.RegisterConsumer(s, cons); err != nil {
				return err
			}
			_, err := c.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String(cons)})
			return err
		},
		"AddTagsToStream": func(i int) error {
			_, err := c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: name, Tags: map[string]string{"k": fmt.Sprint(i)}})
			return err
		},
		"RemoveTagsFromStream": func(int) error {
			_, err := c.RemoveTagsFromStream(ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: name, TagKeys: []string{"k"}})
			return err
		},
		"ListTagsForStream": func(int) error {
			_, err := c.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: name})
			return err
		},
		"CreateStream": func(i int) error {
			_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(fmt.Sprintf("new%d", i)), ShardCount: aws.Int32(1)})
			return err
		},
		"DeleteStream": func(i int) error {
			victim := fmt.Sprintf("del%d", i)
			if err := e.fake.CreateStream(victim, 1); err != nil {
				return err
			}
			_, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(victim)})
			return err
		},
		"DescribeLimits": func(int) error {
			_, err := c.DescribeLimits(ctx, &kinesis.DescribeLimitsInput{})
			return err
		},
	}
}

// With WithServiceLimits, each control-plane operation takes the calls a
// second the API reference gives it, and answers LimitExceededException
// past that; a second later the window has moved on.
func TestControlPlaneRates(t *testing.T) {
	t.Parallel()
	rates := kinesistest.ControlPlaneRates()
	for op, want := range map[string]int{
		"DescribeStreamSummary": 20, "DescribeStream": 10, "ListShards": 1000, "DescribeStreamConsumer": 20,
		"RegisterStreamConsumer": 5, "DeregisterStreamConsumer": 5, "ListStreamConsumers": 5, "ListStreams": 5,
		"CreateStream": 5, "DeleteStream": 5, "DescribeLimits": 1, "UpdateShardCount": 10, "SplitShard": 5, "MergeShards": 5,
	} {
		if rates[op] != want {
			t.Errorf("ControlPlaneRates()[%s] = %d, want %d", op, rates[op], want)
		}
	}
	e := newFx(t, "inproc", kinesistest.WithServiceLimits(kinesistest.DefaultLimits()))
	e.stream("s", 1)
	e.consumer("s", "c")
	for op, call := range controlCalls(e, "s") {
		rate := rates[op]
		for i := range rate {
			if err := call(i); err != nil {
				t.Fatalf("%s call %d of %d a second: %v", op, i+1, rate, err)
			}
		}
		err := call(rate)
		if fxErrCode(err) != kinesistest.CodeLimitExceeded {
			t.Fatalf("%s call %d within a second: %v, want LimitExceededException", op, rate+1, err)
		}
		if fxHTTPStatus(err) != 400 {
			t.Errorf("%s throttled with HTTP %d, want 400", op, fxHTTPStatus(err))
		}
	}
	// The windows slide on the fake's clock.
	e.clock.Advance(time.Second)
	for op, call := range controlCalls(e, "s") {
		if err := call(10000); err != nil {
			t.Errorf("%s a second later: %v", op, err)
		}
	}
}

// Per-stream rates (ListShards, DescribeStreamConsumer, ListStreamConsumers,
// DeregisterStreamConsumer) are counted per stream; per-account rates over
// every stream; refused calls do not count; and without service limits
// nothing is limited.
func TestControlPlaneRateScopes(t *testing.T) {
	t.Parallel()
	e := newFx(t, "inproc", kinesistest.WithServiceLimits(kinesistest.Limits{CallRates: map[string]int{"ListShards": 2, "DescribeStreamSummary": 2}}))
	e.stream("a", 1)
	e.stream("b", 1)
	list := func(s string) error {
		_, err := e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String(s)})
		return err
	}
	summary := func(s string) error {
		_, err := e.c.DescribeStreamSummary(e.ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(s)})
		return err
	}
	for range 2 {
		if err := list("a"); err != nil {
			t.Fatal(err)
		}
		if err := list("b"); err != nil {
			t.Fatal(err) // another stream's window
		}
	}
	fxErrorAs[*types.LimitExceededException](t, list("a"))
	if err := summary("a"); err != nil {
		t.Fatal(err)
	}
	if err := summary("b"); err != nil {
		t.Fatal(err)
	}
	fxErrorAs[*types.LimitExceededException](t, summary("a")) // the account's window, shared
	// Refused calls do not count: half a second on, the window still holds
	// the two allowed calls, and a second after them it is empty.
	e.clock.Advance(500 * time.Millisecond)
	fxErrorAs[*types.LimitExceededException](t, list("a"))
	e.clock.Advance(500 * time.Millisecond)
	for range 2 {
		if err := list("a"); err != nil {
			t.Fatal(err)
		}
	}
	// A stream that does not exist is not found, not throttled.
	for range 3 {
		fxErrorAs[*types.ResourceNotFoundException](t, list("nope"))
	}

	free := newFx(t, "inproc")
	free.stream("s", 1)
	for i := range 50 {
		if _, err := free.c.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")}); err != nil {
			t.Fatalf("call %d without service limits: %v", i, err)
		}
	}
}

// UpdateShardCount scales a stream at most 10 times in a rolling 24 hours
// with WithServiceLimits; the 11th is LimitExceededException until the first
// is 24 hours old.
func TestUpdateShardCountDailyLimit(t *testing.T) {
	t.Parallel()
	e := newFx(t, "inproc", kinesistest.WithServiceLimits(kinesistest.DefaultLimits()))
	e.stream("s", 2)
	scale := func(n int32) error {
		_, err := e.c.UpdateShardCount(e.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(n), ScalingType: types.ScalingTypeUniformScaling})
		return err
	}
	start := e.clock.Now()
	for i := range 10 {
		if err := scale(int32(2 + i%2)); err != nil {
			t.Fatalf("scaling %d: %v", i+1, err)
		}
		e.clock.Advance(time.Hour)
	}
	le := fxErrorAs[*types.LimitExceededException](t, scale(2))
	t.Logf("11th scaling: %s", aws.ToString(le.Message))
	e.clock.Set(start.Add(24*time.Hour - time.Millisecond))
	fxErrorAs[*types.LimitExceededException](t, scale(2))
	e.clock.Set(start.Add(24 * time.Hour))
	if err := scale(2); err != nil {
		t.Fatalf("once the first scaling is 24 hours old: %v", err)
	}

	// The shards of one stream are bounded too.
	small := newFx(t, "inproc", kinesistest.WithServiceLimits(kinesistest.Limits{MaxShardsPerStream: 5}))
	small.stream("s", 3)
	_, err := small.c.UpdateShardCount(small.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(6), ScalingType: types.ScalingTypeUniformScaling})
	fxErrorAs[*types.LimitExceededException](t, err)
	if _, err := small.c.UpdateShardCount(small.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(5), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
		t.Fatal(err)
	}

	// Without service limits, scalings are not counted.
	free := newFx(t, "inproc")
	free.stream("s", 2)
	for i := range 12 {
		if _, err := free.c.UpdateShardCount(free.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(int32(2 + i%2)), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
			t.Fatalf("scaling %d without limits: %v", i+1, err)
		}
	}
}
