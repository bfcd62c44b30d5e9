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

	"github.com/kinesin-go/kinesin/kinesistest"
)

func (e *fxEnv) register(streamARN, name string) (*types.Consumer, error) {
	out, err := e.c.RegisterStreamConsumer(e.ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)})
	if err != nil {
		return nil, err
	}
	return out.Consumer, nil
}

func (e *fxEnv) mustRegister(streamARN, name string) *types.Consumer {
	e.t.Helper()
	c, err := e.register(streamARN, name)
	if err != nil {
		e.t.Fatalf("RegisterStreamConsumer %s: %v", name, err)
	}
	return c
}

func (e *fxEnv) describeConsumer(in *kinesis.DescribeStreamConsumerInput) (*types.ConsumerDescription, error) {
	out, err := e.c.DescribeStreamConsumer(e.ctx, in)
	if err != nil {
		return nil, err
	}
	return out.ConsumerDescription, nil
}

func (e *fxEnv) consumerStatus(arn string) types.ConsumerStatus {
	e.t.Helper()
	d, err := e.describeConsumer(&kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
	if err != nil {
		e.t.Fatalf("DescribeStreamConsumer: %v", err)
	}
	return d.ConsumerStatus
}

func TestConsumerRegisterActivation(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode, kinesistest.WithConsumerActivationDelay(10*time.Second))
		streamARN := e.stream("s", 1)
		start := e.clock.Now()
		c := e.mustRegister(streamARN, "app")
		arn := aws.ToString(c.ConsumerARN)
		if c.ConsumerStatus != types.ConsumerStatusCreating || aws.ToString(c.ConsumerName) != "app" ||
			!strings.HasPrefix(arn, streamARN+"/consumer/app:") || !aws.ToTime(c.ConsumerCreationTimestamp).Equal(start) {
			t.Fatalf("registered %+v", c)
		}
		if got := e.consumerStatus(arn); got != types.ConsumerStatusCreating {
			t.Fatalf("status %s, want CREATING", got)
		}
		e.clock.Advance(10*time.Second - time.Millisecond)
		if got := e.consumerStatus(arn); got != types.ConsumerStatusCreating {
			t.Fatalf("status %s just before the delay, want CREATING", got)
		}
		e.clock.Advance(time.Millisecond)
		if got := e.consumerStatus(arn); got != types.ConsumerStatusActive {
			t.Fatalf("status %s after the delay, want ACTIVE", got)
		}
		// The creation time does not move when it becomes ACTIVE.
		d, _ := e.describeConsumer(&kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
		if !aws.ToTime(d.ConsumerCreationTimestamp).Equal(start) {
			t.Fatalf("creation timestamp %v", d.ConsumerCreationTimestamp)
		}

		_, err := e.register(streamARN, "app")
		fxErrorAs[*types.ResourceInUseException](t, err)
		// The response says CREATING even when the consumer is ACTIVE at once.
		now := newFx(t, mode)
		c = now.mustRegister(now.stream("s", 1), "app")
		if c.ConsumerStatus != types.ConsumerStatusCreating || now.consumerStatus(aws.ToString(c.ConsumerARN)) != types.ConsumerStatusActive {
			t.Fatalf("with no activation delay: registered %s", c.ConsumerStatus)
		}
		_, err = e.register(e.fake.StreamARN("nope"), "app")
		fxErrorAs[*types.ResourceNotFoundException](t, err)
		_, err = e.register(streamARN, "bad name!")
		if code := fxErrCode(err); code != "ValidationException" {
			t.Fatalf("bad name: %v", err)
		}
	})
}

func TestConsumerLimits(t *testing.T) {
	e := newFx(t, "inproc", kinesistest.WithConsumerActivationDelay(time.Minute))
	streamARN := e.stream("s", 1)
	otherARN := e.stream("other", 1)
	n := 0
	register := func() error {
		_, err := e.register(streamARN, fmt.Sprintf("c%02d", n))
		if err == nil {
			n++
		}
		return err
	}
	for range 5 {
		if err := register(); err != nil {
			t.Fatal(err)
		}
	}
	// Five are CREATING: the sixth must wait.
	fxErrorAs[*types.LimitExceededException](t, register())
	// The limit is per stream.
	e.mustRegister(otherARN, "x")
	e.clock.Advance(time.Minute)
	for n < 20 {
		for range 5 {
			if n == 20 {
				break
			}
			if err := register(); err != nil {
				t.Fatalf("consumer %d: %v", n, err)
			}
		}
		e.clock.Advance(time.Minute)
	}
	// 20 per stream, whatever their state.
	fxErrorAs[*types.LimitExceededException](t, register())
	if sum, _ := e.c.DescribeStreamSummary(e.ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")}); aws.ToInt32(sum.StreamDescriptionSummary.ConsumerCount) != 20 {
		t.Fatalf("ConsumerCount %d", aws.ToInt32(sum.StreamDescriptionSummary.ConsumerCount))
	}
	// Deregistering one makes room once it is gone.
	if _, err := e.c.DeregisterStreamConsumer(e.ctx, &kinesis.DeregisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String("c00")}); err != nil {
		t.Fatal(err)
	}
	fxErrorAs[*types.LimitExceededException](t, register()) // still DELETING
	e.clock.Advance(time.Minute)
	if err := register(); err != nil {
		t.Fatal(err)
	}
}

func TestConsumerDescribe(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		streamARN := e.stream("s", 1)
		c := e.mustRegister(streamARN, "app")
		byARN, err := e.describeConsumer(&kinesis.DescribeStreamConsumerInput{ConsumerARN: c.ConsumerARN})
		if err != nil {
			t.Fatal(err)
		}
		byName, err := e.describeConsumer(&kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String("app")})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []*types.ConsumerDescription{byARN, byName} {
			if aws.ToString(d.ConsumerARN) != aws.ToString(c.ConsumerARN) || aws.ToString(d.ConsumerName) != "app" ||
				aws.ToString(d.StreamARN) != streamARN || d.ConsumerStatus != types.ConsumerStatusActive ||
				!aws.ToTime(d.ConsumerCreationTimestamp).Equal(e.clock.Now()) {
				t.Fatalf("description %+v", d)
			}
		}

		_, err = e.describeConsumer(&kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String("nobody")})
		fxErrorAs[*types.ResourceNotFoundException](t, err)
		_, err = e.describeConsumer(&kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(streamARN + "/consumer/nobody:1")})
		fxErrorAs[*types.ResourceNotFoundException](t, err)
		_, err = e.describeConsumer(&kinesis.DescribeStreamConsumerInput{ConsumerARN: c.ConsumerARN, ConsumerName: aws.String("app")})
		fxErrorAs[*types.InvalidArgumentException](t, err)
		_, err = e.describeConsumer(&kinesis.DescribeStreamConsumerInput{ConsumerName: aws.String("app")})
		fxErrorAs[*types.InvalidArgumentException](t, err)
	})
}

func TestConsumerListPaging(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode)
		streamARN := e.stream("s", 1)
		otherARN := e.stream("other", 1)
		want := []string{"a", "b", "c", "d", "e", "f", "g"}
		for _, name := range []string{"d", "a", "g", "c", "f", "b", "e"} {
			e.mustRegister(streamARN, name)
		}
		e.mustRegister(otherARN, "z")

		var got []string
		var pages []int
		in := &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN), MaxResults: aws.Int32(3)}
		for {
			out, err := e.c.ListStreamConsumers(e.ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, len(out.Consumers))
			for _, c := range out.Consumers {
				if c.ConsumerStatus != types.ConsumerStatusActive || c.ConsumerARN == nil || c.ConsumerCreationTimestamp == nil {
					t.Fatalf("listed %+v", c)
				}
				got = append(got, aws.ToString(c.ConsumerName))
			}
			if out.NextToken == nil {
				break
			}
			in.NextToken = out.NextToken
		}
		if !slices.Equal(got, want) || !slices.Equal(pages, []int{3, 3, 1}) {
			t.Fatalf("listed %v in pages %v", got, pages)
		}

		// The SDK's paginator walks the same pages.
		got = nil
		p := kinesis.NewListStreamConsumersPaginator(e.c, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN), MaxResults: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range out.Consumers {
				got = append(got, aws.ToString(c.ConsumerName))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paginator listed %v", got)
		}

		// Without MaxResults, all at once; a token of another stream and an
		// expired token are refused.
		out, err := e.c.ListStreamConsumers(e.ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN)})
		if err != nil || len(out.Consumers) != 7 || out.NextToken != nil {
			t.Fatalf("%v %+v", err, out)
		}
		first, _ := e.c.ListStreamConsumers(e.ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN), MaxResults: aws.Int32(1)})
		_, err = e.c.ListStreamConsumers(e.ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(otherARN), NextToken: first.NextToken})
		fxErrorAs[*types.InvalidArgumentException](t, err)
		e.clock.Advance(301 * time.Second)
		_, err = e.c.ListStreamConsumers(e.ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN), NextToken: first.NextToken})
		fxErrorAs[*types.ExpiredNextTokenException](t, err)
		_, err = e.c.ListStreamConsumers(e.ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(e.fake.StreamARN("nope"))})
		fxErrorAs[*types.ResourceNotFoundException](t, err)
	})
}

func TestConsumerDeregister(t *testing.T) {
	fxForEachMode(t, func(t *testing.T, mode string) {
		e := newFx(t, mode, kinesistest.WithConsumerActivationDelay(5*time.Second))
		streamARN := e.stream("s", 2)
		arn := aws.ToString(e.mustRegister(streamARN, "app").ConsumerARN)
		e.clock.Advance(5 * time.Second)
		a := e.subscribe(arn, shard0, fxTrimHorizon())
		b := e.subscribe(arn, "shardId-000000000001", fxLatest())
		a.next()
		b.next()

		if _, err := e.c.DeregisterStreamConsumer(e.ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
		// Its subscriptions end at once with ResourceNotFoundException.
		for i, s := range []*fxSub{a, b} {
			_, err := s.end()
			fxErrorAs[*types.ResourceNotFoundException](t, err)
			if got := fxWaitEnded(t, e.fake, i).EndReason; got != "ResourceNotFoundException" {
				t.Fatalf("EndReason %q", got)
			}
		}
		// DELETING for the delay, then gone.
		if got := e.consumerStatus(arn); got != types.ConsumerStatusDeleting {
			t.Fatalf("status %s, want DELETING", got)
		}
		out, _ := e.c.ListStreamConsumers(e.ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN)})
		if len(out.Consumers) != 1 || out.Consumers[0].ConsumerStatus != types.ConsumerStatusDeleting {
			t.Fatalf("listed %+v", out.Consumers)
		}
		_, err := e.trySubscribe(arn, shard0, fxTrimHorizon())
		fxErrorAs[*types.ResourceInUseException](t, err) // not ACTIVE
		e.clock.Advance(5 * time.Second)
		_, err = e.describeConsumer(&kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
		fxErrorAs[*types.ResourceNotFoundException](t, err)
		out, _ = e.c.ListStreamConsumers(e.ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN)})
		if len(out.Consumers) != 0 {
			t.Fatalf("listed %+v", out.Consumers)
		}
		_, err = e.trySubscribe(arn, shard0, fxTrimHorizon())
		fxErrorAs[*types.ResourceNotFoundException](t, err)
		_, err = e.c.DeregisterStreamConsumer(e.ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arn)})
		fxErrorAs[*types.ResourceNotFoundException](t, err)

		// By stream ARN and name; the name can be used again once gone.
		e.mustRegister(streamARN, "app")
		if _, err := e.c.DeregisterStreamConsumer(e.ctx, &kinesis.DeregisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String("app")}); err != nil {
			t.Fatal(err)
		}
		_, err = e.register(streamARN, "app")
		fxErrorAs[*types.ResourceInUseException](t, err) // still DELETING
		e.clock.Advance(5 * time.Second)
		e.mustRegister(streamARN, "app")
	})
}
