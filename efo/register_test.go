package efo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// describeWatch is an efo.API recording the outcome of every
// DescribeStreamConsumer call.
type describeWatch struct {
	efo.API
	signal
	statuses []string // the status, or the error code
}

func (d *describeWatch) DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error) {
	out, err := d.API.DescribeStreamConsumer(ctx, in, optFns...)
	d.Mu.Lock()
	defer d.Mu.Unlock()
	if err != nil {
		d.statuses = append(d.statuses, awserr.Code(err))
	} else {
		d.statuses = append(d.statuses, string(out.ConsumerDescription.ConsumerStatus))
	}
	d.Notify()
	return out, err
}

// waitStatus waits until n describes returned status (or error code).
func (d *describeWatch) waitStatus(t *testing.T, status string, n int) {
	t.Helper()
	d.WaitUntil(t, deadline, status, func() bool {
		c := 0
		for _, s := range d.statuses {
			if s == status {
				c++
			}
		}
		return c >= n
	})
}

// newStreamFake returns a fake with a stream "orders".
func newStreamFake(t *testing.T, opts ...kinesistest.Option) (*kinesistest.Fake, string) {
	t.Helper()
	fake := kinesistest.New(t, opts...)
	if err := fake.CreateStream("orders", 1); err != nil {
		t.FailNow()
	}
	return fake, fake.StreamARN("orders")
}

// describe returns the consumer's status through the API, or the error code.
func describe(t *testing.T, c *kinesis.Client, consumerARN string) string {
	t.Helper()
	out, err := c.DescribeStreamConsumer(context.Background(), &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(consumerARN)})
	if err != nil {
		return awserr.Code(err)
	}
	return string(out.ConsumerDescription.ConsumerStatus)
}

func TestRegisterMissingConsumerIsRegistered(t *testing.T) {
	fake, streamARN := newStreamFake(t)
	c := fake.Client()
	arn, err := efo.Register(context.Background(), c, streamARN, "billing", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(arn, streamARN+"/consumer/billing:") {
		t.Errorf("ARN %s", arn)
	}
	if got := describe(t, c, arn); got != "ACTIVE" {
		t.Errorf("status %s, want ACTIVE", got)
	}
	if n := fake.Calls("RegisterStreamConsumer"); n != 1 {
		t.Errorf("%d RegisterStreamConsumer calls, want 1", n)
	}
}

func TestRegisterExistingConsumerIsReused(t *testing.T) {
	fake, streamARN := newStreamFake(t)
	want, err := fake.RegisterConsumer("orders", "billing")
	if err != nil {
		t.FailNow()
	}
	got, err := efo.Register(context.Background(), fake.Client(), streamARN, "billing")
	if err != nil || got != want {
		t.Fatalf("Register: %q, %v; want %q", got, err, want)
	}
	if n := fake.Calls("RegisterStreamConsumer"); n != 0 {
		t.Errorf("%d RegisterStreamConsumer calls, want 0", n)
	}
}

func TestRegisterAcceptsConsumerARN(t *testing.T) {
	fake, streamARN := newStreamFake(t)
	arn, err := fake.RegisterConsumer("orders", "billing")
	if err != nil {
		t.FailNow()
	}
	c := fake.Client()
	for _, stream := range []string{"", streamARN} {
		if got, err := efo.Register(context.Background(), c, stream, arn); err != nil || got != arn {
			t.Errorf("Register(%q, ARN): %q, %v", stream, got, err)
		}
	}
	if n := fake.Calls("RegisterStreamConsumer"); n != 0 {
		t.Errorf("%d RegisterStreamConsumer calls, want 0", n)
	}
	// An ARN of another stream, or of no consumer.
	if _, err := efo.Register(context.Background(), c, fake.StreamARN("other"), arn); err == nil {
		t.Error("Register with the ARN of a consumer of another stream: no error")
	}
	_, err = efo.Register(context.Background(), c, streamARN, streamARN+"/consumer/nobody:1", fast)
	if !errors.Is(err, efo.ErrConsumerGone) || !awserr.IsNotFound(err) {
		t.Errorf("Register of an unknown consumer ARN: %v, want ErrConsumerGone and ResourceNotFound", err)
	}
}

func TestRegisterRejectsBadArguments(t *testing.T) {
	fake, streamARN := newStreamFake(t)
	c := fake.Client()
	for _, tc := range []struct{ stream, consumer string }{
		{"orders", "billing"}, // a stream name, not an ARN
		{streamARN, ""},
	} {
		if _, err := efo.Register(context.Background(), c, tc.stream, tc.consumer); err == nil {
			t.Errorf("Register(%q, %q): no error", tc.stream, tc.consumer)
		}
	}
	if _, err := efo.Register(context.Background(), c, streamARN, "billing", efo.Options{MaxBackoff: -1}); !errors.Is(err, efo.ErrInvalidOption) {
		t.Errorf("Register with invalid options: %v", err)
	}
	if _, err := efo.Register(context.Background(), c, streamARN, "billing", fast, fast); !errors.Is(err, efo.ErrInvalidOption) {
		t.Errorf("Register with two Options: %v", err)
	}
	// A consumer name the service rejects is not retried.
	if _, err := efo.Register(context.Background(), c, streamARN, "bad name!", fast); !awserr.IsPermanent(err) {
		t.Errorf("Register with an invalid name: %v, want a validation error", err)
	}
	// A missing stream is a ResourceNotFoundException.
	if _, err := efo.Register(context.Background(), c, fake.StreamARN("nope"), "billing", fast); !awserr.IsNotFound(err) {
		t.Errorf("Register on a missing stream: %v, want ResourceNotFound", err)
	}
}

func TestRegisterWaitsWhileCreating(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Time{})
	fake, streamARN := newStreamFake(t, kinesistest.WithClock(clock), kinesistest.WithConsumerActivationDelay(30*time.Second))
	api := &describeWatch{API: fake.Client()}
	type result struct {
		arn string
		err error
	}
	done := make(chan result, 1)
	go func() {
		arn, err := efo.Register(context.Background(), api, streamARN, "billing", fast)
		done <- result{arn, err}
	}()
	// Registered, then described as CREATING several times.
	api.waitStatus(t, "CREATING", 3)
	select {
	case r := <-done:
		t.Fatalf("Register returned while CREATING: %v %v", r.arn, r.err)
	default:
	}
	clock.Advance(30 * time.Second)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := describe(t, fake.Client(), r.arn); got != "ACTIVE" {
		t.Errorf("status %s, want ACTIVE", got)
	}
	api.Mu.Lock()
	defer api.Mu.Unlock()
	if api.statuses[0] != kinesistest.CodeResourceNotFound || api.statuses[len(api.statuses)-1] != "ACTIVE" {
		t.Errorf("statuses %v: want ResourceNotFound first, ACTIVE last", api.statuses)
	}
}

func TestRegisterWaitsForDeletingConsumerThenRegistersAgain(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Time{})
	fake, streamARN := newStreamFake(t, kinesistest.WithClock(clock), kinesistest.WithConsumerActivationDelay(10*time.Second))
	old, err := fake.RegisterConsumer("orders", "billing")
	if err != nil {
		t.FailNow()
	}
	if err := efo.Deregister(context.Background(), fake.Client(), old); err != nil {
		t.Fatal(err)
	}
	api := &describeWatch{API: fake.Client()}
	done := make(chan error, 1)
	var arn string
	go func() {
		var err error
		arn, err = efo.Register(context.Background(), api, streamARN, "billing", fast)
		done <- err
	}()
	api.waitStatus(t, "DELETING", 2)
	clock.Advance(10 * time.Second) // gone: registered again, CREATING
	api.waitStatus(t, "CREATING", 2)
	clock.Advance(10 * time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if arn == old || describe(t, fake.Client(), arn) != "ACTIVE" {
		t.Errorf("Register returned %s (old %s), want a new ACTIVE consumer", arn, old)
	}
}

func TestRegisterRetriesLimitExceededAndResourceInUse(t *testing.T) {
	fake, streamARN := newStreamFake(t)
	fake.Script(kinesistest.Match{Op: "DescribeStreamConsumer"}, kinesistest.Throttle, kinesistest.InternalFailure)
	reg := fake.Script(kinesistest.Match{Op: "RegisterStreamConsumer"},
		kinesistest.Throttle, kinesistest.Fail(kinesistest.CodeResourceInUse), kinesistest.Throttle)
	arn, err := efo.Register(context.Background(), fake.Client(), streamARN, "billing", fast)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Hits() != 3 || fake.Calls("RegisterStreamConsumer") != 4 {
		t.Errorf("RegisterStreamConsumer: %d faults hit of %d calls, want 3 of 4", reg.Hits(), fake.Calls("RegisterStreamConsumer"))
	}
	if describe(t, fake.Client(), arn) != "ACTIVE" {
		t.Errorf("consumer not ACTIVE")
	}
}

func TestRegisterLimitOfCreatingConsumers(t *testing.T) {
	// Five consumers CREATING at once is the limit: a sixth registration gets
	// LimitExceededException until one of them is ACTIVE.
	clock := kinesistest.NewManualClock(time.Time{})
	fake, streamARN := newStreamFake(t, kinesistest.WithClock(clock), kinesistest.WithConsumerActivationDelay(time.Minute))
	c := fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if _, err := c.RegisterStreamConsumer(context.Background(), &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	api := &describeWatch{API: c}
	done := make(chan error, 1)
	go func() {
		_, err := efo.Register(context.Background(), api, streamARN, "f", fast)
		done <- err
	}()
	api.waitStatus(t, kinesistest.CodeResourceNotFound, 3) // described, failed to register, three times
	if n := fake.Calls("RegisterStreamConsumer"); n < 5+2 {
		t.Errorf("%d RegisterStreamConsumer calls, want retries", n)
	}
	clock.Advance(time.Minute) // a..e ACTIVE: f registers, then is CREATING
	api.waitStatus(t, "CREATING", 1)
	clock.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRegisterTimeout(t *testing.T) {
	fake, streamARN := newStreamFake(t, kinesistest.WithConsumerActivationDelay(time.Hour))
	o := fast
	o.RegisterTimeout = 50 * time.Millisecond
	start := time.Now()
	_, err := efo.Register(context.Background(), fake.Client(), streamARN, "billing", o)
	if !errors.Is(err, efo.ErrRegisterTimeout) || !strings.Contains(err.Error(), "CREATING") {
		t.Fatalf("Register: %v, want ErrRegisterTimeout saying CREATING", err)
	}
	if d := time.Since(start); d > o.RegisterTimeout+2*time.Second {
		t.Errorf("Register took %v with RegisterTimeout %v", d, o.RegisterTimeout)
	}
}

func TestRegisterFatalErrorIsNotRetried(t *testing.T) {
	fake, streamARN := newStreamFake(t)
	fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "RegisterStreamConsumer"}, Action: kinesistest.Fail(kinesistest.CodeAccessDenied)})
	_, err := efo.Register(context.Background(), fake.Client(), streamARN, "billing", fast)
	if !awserr.IsPermanent(err) {
		t.Fatalf("Register: %v, want AccessDenied", err)
	}
	if n := fake.Calls("RegisterStreamConsumer"); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestRegisterReturnsContextErrorAsIs(t *testing.T) {
	fake, streamARN := newStreamFake(t, kinesistest.WithConsumerActivationDelay(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := efo.Register(ctx, fake.Client(), streamARN, "billing", fast)
	if err != context.DeadlineExceeded {
		t.Fatalf("Register: %v, want context.DeadlineExceeded as it is", err)
	}
}

func TestDeregister(t *testing.T) {
	fake, _ := newStreamFake(t)
	arn, err := fake.RegisterConsumer("orders", "billing")
	if err != nil {
		t.FailNow()
	}
	in := fake.Script(kinesistest.Match{Op: "DeregisterStreamConsumer"}, kinesistest.Throttle, kinesistest.InternalFailure)
	c := fake.Client()
	if err := efo.Deregister(context.Background(), c, arn, fast); err != nil {
		t.Fatal(err)
	}
	if in.Hits() != 2 {
		t.Errorf("%d faults hit, want 2 (retried)", in.Hits())
	}
	if got := describe(t, c, arn); got != kinesistest.CodeResourceNotFound {
		t.Errorf("after Deregister: %s, want ResourceNotFoundException", got)
	}
	// Gone already: not an error.
	if err := efo.Deregister(context.Background(), c, arn, fast); err != nil {
		t.Errorf("second Deregister: %v", err)
	}
	if err := efo.Deregister(context.Background(), c, "billing"); err == nil {
		t.Error("Deregister of a name: no error")
	}
}

func TestIsConsumerARN(t *testing.T) {
	for s, want := range map[string]bool{
		"arn:aws:kinesis:us-east-1:123456789012:stream/orders/consumer/app:1700000000": true,
		"arn:aws:kinesis:us-east-1:123456789012:stream/orders":                         false,
		"app": false,
		"":    false,
	} {
		if got := efo.IsConsumerARN(s); got != want {
			t.Errorf("IsConsumerARN(%q) = %v", s, got)
		}
	}
}
