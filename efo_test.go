package kinesin_test

// Tests of Enhanced Fan-Out that only make sense in EFO mode: the consumer's
// registration at Open and deregistration on Close, the options that go with
// WithEFO, the 5-minute subscription rollover on a controlled clock, and a
// consumer deregistered under a running stream.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

// describeConsumer returns the status of the consumer arn, or "gone".
func describeConsumer(t *testing.T, fake *kinesistest.Fake, arn string) (types.ConsumerStatus, string) {
	t.Helper()
	out, err := fake.Client().DescribeStreamConsumer(context.Background(), &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
	if awserr.IsNotFound(err) {
		return "gone", ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.ConsumerDescription.ConsumerStatus, aws.ToString(out.ConsumerDescription.ConsumerName)
}

// readSome opens testStream in EFO mode with opts, checks that the records
// put into it are delivered through the stream's consumer, and returns the
// stream (closed with the test).
func readSome(t *testing.T, fake *kinesistest.Fake, opts ...kinesin.Option) *kinesin.Stream[item] {
	t.Helper()
	want := fillShards(t, fake, testStream, 3)
	st, err := kinesin.Open(testCtx(t, 20*time.Second), testStream, kinesin.JSON[item],
		append([]kinesin.Option{kinesin.WithClient(fake.Client()), kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithEFOOptions(fastEFO)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	c := collect(st, true)
	eventually(t, 10*time.Second, func() bool { return c.Count() == 3*len(want) }, "%d records", c.Count())
	for id, seqs := range want {
		checkShardOrder(t, id, c.Shard(id), seqs)
	}
	for _, sub := range fake.Subscriptions() {
		if sub.ConsumerARN != st.ConsumerARN() {
			t.Errorf("subscription with consumer %s, the stream's is %s", sub.ConsumerARN, st.ConsumerARN())
		}
	}
	return st
}

func TestEFORegistrationAtOpen(t *testing.T) {
	t.Parallel()
	t.Run("registered when missing", func(t *testing.T) {
		t.Parallel()
		fake := newFake(t, 2)
		st := readSome(t, fake, kinesin.WithEFO("new-app"))
		if n := fake.Calls("RegisterStreamConsumer"); n != 1 {
			t.Errorf("%d RegisterStreamConsumer calls, want 1", n)
		}
		if !strings.HasPrefix(st.ConsumerARN(), fake.StreamARN(testStream)+"/consumer/new-app:") {
			t.Errorf("ConsumerARN %q", st.ConsumerARN())
		}
		if status, name := describeConsumer(t, fake, st.ConsumerARN()); status != types.ConsumerStatusActive || name != "new-app" {
			t.Errorf("consumer %s is %s, named %q", st.ConsumerARN(), status, name)
		}
	})
	t.Run("existing reused", func(t *testing.T) {
		t.Parallel()
		fake := newFake(t, 2)
		arn, err := fake.RegisterConsumer(testStream, "app")
		if err != nil {
			t.Fatal(err)
		}
		st := readSome(t, fake, kinesin.WithEFO("app"))
		if st.ConsumerARN() != arn {
			t.Errorf("ConsumerARN %q, want the existing %q", st.ConsumerARN(), arn)
		}
		if n := fake.Calls("RegisterStreamConsumer"); n != 0 {
			t.Errorf("%d RegisterStreamConsumer calls for an existing consumer", n)
		}
	})
	t.Run("by ARN", func(t *testing.T) {
		t.Parallel()
		fake := newFake(t, 2)
		arn, err := fake.RegisterConsumer(testStream, "app")
		if err != nil {
			t.Fatal(err)
		}
		st := readSome(t, fake, kinesin.WithEFO(arn))
		if st.ConsumerARN() != arn || fake.Calls("RegisterStreamConsumer") != 0 {
			t.Errorf("ConsumerARN %q (want %q), %d registrations", st.ConsumerARN(), arn, fake.Calls("RegisterStreamConsumer"))
		}
	})
	t.Run("ARN of a missing consumer", func(t *testing.T) {
		t.Parallel()
		fake := newFake(t, 1)
		arn := fake.StreamARN(testStream) + "/consumer/nobody:1700000000"
		_, err := kinesin.Open(testCtx(t, 10*time.Second), testStream, kinesin.JSON[item], kinesin.WithClient(fake.Client()),
			kinesin.WithEFO(arn), kinesin.WithEFOOptions(fastEFO))
		if !errors.Is(err, efo.ErrConsumerGone) {
			t.Fatalf("Open = %v, want efo.ErrConsumerGone", err)
		}
	})
	t.Run("CREATING is waited for", func(t *testing.T) {
		// Another process registered the consumer a moment ago: Open
		// waits until it is ACTIVE, and does not register it again.
		t.Parallel()
		const delay = 300 * time.Millisecond
		fake := newFake(t, 2, kinesistest.WithConsumerActivationDelay(delay))
		at := time.Now()
		out, err := fake.Client().RegisterStreamConsumer(context.Background(), &kinesis.RegisterStreamConsumerInput{
			StreamARN: aws.String(fake.StreamARN(testStream)), ConsumerName: aws.String("app")})
		if err != nil {
			t.Fatal(err)
		}
		arn := aws.ToString(out.Consumer.ConsumerARN)
		if status, _ := describeConsumer(t, fake, arn); status != types.ConsumerStatusCreating {
			t.Fatalf("consumer is %s, want CREATING", status)
		}
		fake.ResetCalls()
		st := readSome(t, fake, kinesin.WithEFO("app"))
		waited := time.Since(at)
		if st.ConsumerARN() != arn || fake.Calls("RegisterStreamConsumer") != 0 {
			t.Errorf("ConsumerARN %q (want %q), %d registrations", st.ConsumerARN(), arn, fake.Calls("RegisterStreamConsumer"))
		}
		if waited < delay || fake.Calls("DescribeStreamConsumer") < 2 {
			t.Errorf("records after %v and %d DescribeStreamConsumer calls: Open did not wait for ACTIVE", waited, fake.Calls("DescribeStreamConsumer"))
		}
	})
	t.Run("registered and waited for", func(t *testing.T) {
		t.Parallel()
		const delay = 300 * time.Millisecond
		fake := newFake(t, 1, kinesistest.WithConsumerActivationDelay(delay))
		at := time.Now()
		st := readSome(t, fake, kinesin.WithEFO("app"))
		if waited := time.Since(at); waited < delay {
			t.Errorf("records %v after Open began, before the consumer was ACTIVE", waited)
		}
		if status, _ := describeConsumer(t, fake, st.ConsumerARN()); status != types.ConsumerStatusActive {
			t.Errorf("consumer is %s", status)
		}
	})
	t.Run("not ACTIVE in time", func(t *testing.T) {
		t.Parallel()
		fake := newFake(t, 1, kinesistest.WithConsumerActivationDelay(time.Hour))
		o := fastEFO
		o.RegisterTimeout = 100 * time.Millisecond
		_, err := kinesin.Open(testCtx(t, 10*time.Second), testStream, kinesin.JSON[item], kinesin.WithClient(fake.Client()),
			kinesin.WithEFO("app"), kinesin.WithEFOOptions(o))
		if !errors.Is(err, efo.ErrRegisterTimeout) {
			t.Fatalf("Open = %v, want efo.ErrRegisterTimeout", err)
		}
	})
}

func TestEFODeregisterOnClose(t *testing.T) {
	t.Parallel()
	for _, deregister := range []bool{false, true} {
		name := map[bool]string{false: "kept by default", true: "WithDeregisterOnClose"}[deregister]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(t, 2)
			opts := []kinesin.Option{kinesin.WithEFO("app")}
			if deregister {
				opts = append(opts, kinesin.WithDeregisterOnClose(true))
			}
			st := readSome(t, fake, opts...)
			arn := st.ConsumerARN()
			if err := st.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			status, _ := describeConsumer(t, fake, arn)
			switch {
			case deregister && status != "gone" && status != types.ConsumerStatusDeleting:
				t.Errorf("after Close with WithDeregisterOnClose the consumer is %s", status)
			case !deregister && status != types.ConsumerStatusActive:
				t.Errorf("after Close the consumer is %s, want it kept ACTIVE", status)
			}
			if n := fake.Calls("DeregisterStreamConsumer"); n != map[bool]int{false: 0, true: 1}[deregister] {
				t.Errorf("%d DeregisterStreamConsumer calls", n)
			}
			if err := st.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if n := fake.Calls("DeregisterStreamConsumer"); deregister && n != 1 {
				t.Errorf("%d DeregisterStreamConsumer calls after a second Close", n)
			}
		})
	}
}

// Options that contradict or need WithEFO are reported by Open, which calls
// nothing.
func TestEFOOptionConflicts(t *testing.T) {
	t.Parallel()
	fake := newFake(t, 1)
	for _, tc := range []struct {
		name string
		opts []kinesin.Option
		want []string
	}{
		{"WithPolling and WithEFO", []kinesin.Option{kinesin.WithPolling(fastPolling), kinesin.WithEFO("app")}, []string{"WithPolling", "WithEFO"}},
		{"WithEFO then WithPolling", []kinesin.Option{kinesin.WithEFO("app"), kinesin.WithPolling(polling.Options{})}, []string{"WithPolling", "WithEFO"}},
		{"WithEFOOptions without WithEFO", []kinesin.Option{kinesin.WithEFOOptions(fastEFO)}, []string{"WithEFOOptions"}},
		{"WithDeregisterOnClose without WithEFO", []kinesin.Option{kinesin.WithDeregisterOnClose(true)}, []string{"WithDeregisterOnClose"}},
		{"empty consumer", []kinesin.Option{kinesin.WithEFO("")}, []string{"WithEFO", "empty"}},
		{"bad EFO options", []kinesin.Option{kinesin.WithEFO("app"), kinesin.WithEFOOptions(efo.Options{SubscribeInterval: -time.Second})}, []string{"WithEFOOptions", "SubscribeInterval"}},
		{"bad EFO backoff", []kinesin.Option{kinesin.WithEFO("app"), kinesin.WithEFOOptions(efo.Options{InitialBackoff: time.Second, MaxBackoff: time.Millisecond})}, []string{"WithEFOOptions", "MaxBackoff"}},
		{"all at once", []kinesin.Option{kinesin.WithEFOOptions(fastEFO), kinesin.WithDeregisterOnClose(true), kinesin.WithMaxUncommitted(0)},
			[]string{"WithEFOOptions", "WithDeregisterOnClose", "WithMaxUncommitted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fake.CallCounts()
			st, err := kinesin.Open(context.Background(), testStream, kinesin.JSON[item], append([]kinesin.Option{kinesin.WithClient(fake.Client())}, tc.opts...)...)
			if !errors.Is(err, kinesin.ErrInvalidOption) || st != nil {
				t.Fatalf("Open = %v, %v; want ErrInvalidOption", st, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if after := fake.CallCounts(); len(after) != len(before) {
				t.Errorf("Open called the service despite bad options: %v", after)
			}
		})
	}
	// WithDeregisterOnClose(false) without WithEFO asks for nothing: not an error.
	st, err := kinesin.Open(testCtx(t, 10*time.Second), testStream, kinesin.JSON[item], kinesin.WithClient(fake.Client()), kinesin.WithDeregisterOnClose(false))
	if err != nil {
		t.Fatalf("Open with WithDeregisterOnClose(false): %v", err)
	}
	st.Close()
}

// Every subscription ends after 5 minutes on the fake's clock; the stream
// subscribes again from the last event it took. The clock is moved past six
// lifetimes while a long backlog (records of 16 KiB, 13 events) is consumed,
// each time once the new subscription has sent an event and the reader is
// held by MaxUncommitted: the lifetime ends while the reader holds part of
// an event and the SDK and the pipe hold more, which the next subscription
// sends again. Nothing is lost or repeated, and every renewal starts
// AFTER_SEQUENCE_NUMBER at once, without a refusal.
func TestEFORolloverEvery5Minutes(t *testing.T) {
	t.Parallel()
	const perShard, limit, lifetimes = 800, 40, 6
	const id = "shardId-000000000000"
	clock := kinesistest.NewManualClock(time.Time{})
	fake := newFake(t, 1, kinesistest.WithClock(clock))
	want := fillPadded(t, fake, testStream, perShard, 16<<10)[id]
	ctx := testCtx(t, 60*time.Second)
	st := openStream(t, efoMode, ctx, fake, kinesin.JSON[item], kinesin.WithMaxUncommitted(limit))
	c := collect(st, false)
	// commitUntil commits what is delivered until cond holds.
	commitUntil := func(cond func() bool, format string, args ...any) {
		t.Helper()
		eventually(t, 20*time.Second, func() bool { c.CommitPending(); return cond() }, format, args...)
	}
	midBacklog := 0
	for i := 1; i <= lifetimes; i++ {
		commitUntil(func() bool {
			subs := subscriptionsOf(fake, id)
			return len(subs) == i && subs[i-1].Ended.IsZero() && subs[i-1].Events > 0
		}, "subscription %d open with an event sent", i)
		eventually(t, 20*time.Second, func() bool { return c.Count() == perShard || c.PendingCount() == limit }, "the reader held")
		n := c.Count()
		if n < perShard {
			midBacklog++
		}
		t.Logf("lifetime %d ends with %d of %d records delivered", i, n, perShard)
		clock.Advance(5 * time.Minute)
	}
	commitUntil(func() bool { return c.Count() >= perShard }, "%d of %d records", c.Count(), perShard)
	want = append(want, fillShards(t, fake, testStream, 1)[id]...) // an end marker
	commitUntil(func() bool { return c.Count() >= perShard+1 }, "the end marker")
	checkShardOrder(t, id, c.Shard(id), want)
	subs := subscriptionsOf(fake, id)
	if len(subs) != lifetimes+1 {
		t.Fatalf("%d subscriptions, want %d", len(subs), lifetimes+1)
	}
	for i, sub := range subs[:lifetimes] {
		if sub.EndReason != "lifetime" {
			t.Errorf("subscription %d ended by %q, want lifetime", i, sub.EndReason)
		}
	}
	for i, sub := range subs[1:] {
		if sub.StartingPosition.Type != "AFTER_SEQUENCE_NUMBER" {
			t.Errorf("subscription %d starts at %+v, want AFTER_SEQUENCE_NUMBER", i+1, sub.StartingPosition)
		}
	}
	if calls := fake.Calls("SubscribeToShard"); calls != len(subs) {
		t.Errorf("%d SubscribeToShard calls for %d subscriptions: renewals were refused", calls, len(subs))
	}
	if midBacklog < 3 {
		t.Errorf("only %d lifetimes ended while the backlog was read", midBacklog)
	}
}

// A consumer deregistered under a running stream ends it with a fatal
// *ReadError wrapping efo.ErrConsumerGone. Its shards are not taken for
// ended: no shard-end marker is written, so a restart with a new consumer
// reads on from the checkpoints.
func TestEFOConsumerDeregisteredWhileRead(t *testing.T) {
	t.Parallel()
	fake := efoMode.NewFake(t, 2)
	fillShards(t, fake, testStream, 5)
	store := memcheckpoint.New()
	ctx := testCtx(t, 20*time.Second)
	st := openStream(t, efoMode, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(5*time.Millisecond))
	c := collect(st, true)
	eventually(t, 10*time.Second, func() bool { return c.Count() == 10 }, "10 records")
	if _, err := fake.Client().DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(st.ConsumerARN())}); err != nil {
		t.Fatal(err)
	}
	c.Wait(t, 10*time.Second)
	err := st.Err()
	var re *kinesin.ReadError
	if !errors.As(err, &re) || !errors.Is(err, efo.ErrConsumerGone) {
		t.Fatalf("Err() = %v, want a *ReadError wrapping efo.ErrConsumerGone", err)
	}
	st.Close()
	for id, cp := range load(t, store) {
		if cp.ShardEnded {
			t.Errorf("shard %s checkpointed as ended after the consumer was deregistered", id)
		}
	}
	t.Logf("fatal: %v", err)
}

// An Open that fails after registering the consumer deregisters it when
// WithDeregisterOnClose is set: there will be no Close to do it.
func TestEFODeregisterOnFailedOpen(t *testing.T) {
	t.Parallel()
	fake := newFake(t, 1)
	store := checkpointtest.NewFaulty(t, memcheckpoint.New())
	store.Inject(checkpointtest.Fault{Action: checkpointtest.Fail(errors.New("store down"))})
	_, err := kinesin.Open(testCtx(t, 10*time.Second), testStream, kinesin.JSON[item], kinesin.WithClient(fake.Client()),
		kinesin.WithEFO("app"), kinesin.WithEFOOptions(fastEFO), kinesin.WithDeregisterOnClose(true), kinesin.WithApp("billing"), kinesin.WithCheckpointer(store))
	if err == nil || !strings.Contains(err.Error(), "store down") {
		t.Fatalf("Open = %v, want the store's error", err)
	}
	if n := fake.Calls("RegisterStreamConsumer"); n != 1 {
		t.Fatalf("%d RegisterStreamConsumer calls, want 1", n)
	}
	if n := fake.Calls("DeregisterStreamConsumer"); n != 1 {
		t.Errorf("%d DeregisterStreamConsumer calls after a failed Open, want 1", n)
	}
}
