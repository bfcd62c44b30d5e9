package kinesistest_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// recordTB is a kinesistest.TB that records what the fake reports, so a test
// can check that the fake fails a test, and with what message.
type recordTB struct {
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (r *recordTB) Helper() {}

func (r *recordTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (r *recordTB) Cleanup(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, fn)
}

// close runs the cleanups, as the end of a test does.
func (r *recordTB) close() {
	r.mu.Lock()
	fns := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

func (r *recordTB) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// Options given values out of range are refused, never replaced: New fails
// the test naming the option, NewFake returns ErrInvalidOption.
func TestOptionsRejectOutOfRange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opt  kinesistest.Option
	}{
		{"WithClock", kinesistest.WithClock(nil)},
		{"WithRegion", kinesistest.WithRegion("")},
		{"WithRegion", kinesistest.WithRegion("us:east")},
		{"WithAccountID", kinesistest.WithAccountID("12345")},
		{"WithAccountID", kinesistest.WithAccountID("12345678901x")},
		{"StreamCreationDelay", kinesistest.WithStreamCreationDelay(-time.Second)},
		{"StreamDeletionDelay", kinesistest.WithStreamDeletionDelay(-time.Second)},
		{"ReshardDelay", kinesistest.WithReshardDelay(-time.Nanosecond)},
		{"StreamUpdateDelay", kinesistest.WithStreamUpdateDelay(-time.Second)},
		{"ConsumerActivationDelay", kinesistest.WithConsumerActivationDelay(-time.Minute)},
		{"SubscriptionHeartbeat", kinesistest.WithSubscriptionHeartbeat(0)},
		{"SubscriptionHeartbeat", kinesistest.WithSubscriptionHeartbeat(-time.Second)},
		{"ShardLimit", kinesistest.WithShardLimit(0)},
		{"ShardLimit", kinesistest.WithShardLimit(-5)},
		{"MaxStoredBytes", kinesistest.WithMaxStoredBytes(0)},
		{"WithServiceLimits", kinesistest.WithServiceLimits(kinesistest.Limits{GetRecordsPerSecond: -1})},
		{"WithServiceLimits", kinesistest.WithServiceLimits(kinesistest.Limits{LargeCallPenalty: -time.Second})},
		{"WithServiceLimits", kinesistest.WithServiceLimits(kinesistest.Limits{ScalingsPerDay: -2})},
		{"WithServiceLimits", kinesistest.WithServiceLimits(kinesistest.Limits{CallRates: map[string]int{"DescribeStreamSumary": 5}})},
		{"WithServiceLimits", kinesistest.WithServiceLimits(kinesistest.Limits{CallRates: map[string]int{"ListShards": 0}})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake, err := kinesistest.NewFake(tc.opt)
			if !errors.Is(err, kinesistest.ErrInvalidOption) || fake != nil {
				t.Fatalf("NewFake: %v, %v; want nil and ErrInvalidOption", fake, err)
			}
			if !strings.Contains(err.Error(), tc.name) {
				t.Errorf("NewFake error %q does not name %s", err, tc.name)
			}

			rec := &recordTB{}
			fake = kinesistest.New(rec, kinesistest.WithRegion("eu-west-1"), tc.opt)
			defer rec.close()
			errs := rec.failures()
			if len(errs) != 1 || !strings.Contains(errs[0], tc.name) || !strings.Contains(errs[0], "invalid option") {
				t.Fatalf("New reported %q, want one failure naming %s", errs, tc.name)
			}
			// The fake still works, with the valid options: the test fails,
			// it does not crash.
			if err := fake.CreateStream("s", 1); err != nil {
				t.Fatal(err)
			}
			if arn := fake.StreamARN("s"); !strings.Contains(arn, ":eu-west-1:") {
				t.Errorf("ARN %s: the valid WithRegion was dropped too", arn)
			}
		})
	}
}

// Valid options are taken as given.
func TestOptionsAccepted(t *testing.T) {
	t.Parallel()
	clock := kinesistest.NewManualClock(time.Time{})
	fake, err := kinesistest.NewFake(
		kinesistest.WithClock(clock),
		kinesistest.WithRegion("eu-central-1"),
		kinesistest.WithAccountID("000011112222"),
		kinesistest.WithShardLimit(3),
		kinesistest.WithStreamCreationDelay(0),
		kinesistest.WithServiceLimits(kinesistest.Limits{CallRates: map[string]int{"ListShards": 2}}),
		nil, // ignored
	)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	if got, want := fake.StreamARN("s"), "arn:aws:kinesis:eu-central-1:000011112222:stream/s"; got != want {
		t.Errorf("ARN %s, want %s", got, want)
	}
	c := fake.Client(fxNoRetry)
	ctx := t.Context()
	_, err = c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(4)})
	wantErr[*types.LimitExceededException](t, err)
	fake.CreateStream("s", 1)
	for range 2 {
		if _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
	wantErr[*types.LimitExceededException](t, err)
	if clock.Now() != fake.Clock().Now() {
		t.Error("WithClock not taken")
	}
}

// A fault on an operation the fake does not serve would inject nothing: it
// is refused, and fails the test.
func TestInjectRefusesUnknownOperation(t *testing.T) {
	t.Parallel()
	rec := &recordTB{}
	defer rec.close()
	fake := kinesistest.New(rec)
	fake.CreateStream("s", 1)
	typo := fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShard"}, Action: kinesistest.Throttle})
	script := fake.Script(kinesistest.Match{Op: "getrecords"}, kinesistest.Throttle)
	for _, in := range []*kinesistest.Injected{typo, script} {
		if !errors.Is(in.Err(), kinesistest.ErrInvalidFault) {
			t.Errorf("Err() = %v, want ErrInvalidFault", in.Err())
		}
	}
	errs := rec.failures()
	if len(errs) != 2 || !strings.Contains(errs[0], `"ListShard"`) || !strings.Contains(errs[1], `"getrecords"`) {
		t.Fatalf("reported %q, want the two unknown operations named", errs)
	}
	// Refused faults are not in force.
	c := fake.Client(fxNoRetry)
	if _, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String("s")}); err != nil {
		t.Fatalf("ListShards hit by a refused fault: %v", err)
	}
	if typo.Hits() != 0 {
		t.Errorf("a refused fault hit %d calls", typo.Hits())
	}

	// Every operation the fake serves is accepted, as is an empty Op.
	ok := &recordTB{}
	defer ok.close()
	good := kinesistest.New(ok)
	for _, op := range append(kinesistest.Operations(), "") {
		if in := good.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: op}, Action: kinesistest.Throttle}); in.Err() != nil {
			t.Errorf("Inject %q: %v", op, in.Err())
		}
	}
	if errs := ok.failures(); len(errs) != 0 {
		t.Errorf("valid faults reported %q", errs)
	}
}

func TestFaultValidate(t *testing.T) {
	t.Parallel()
	bad := []kinesistest.Fault{
		{Match: kinesistest.Match{Op: "PutRecordz"}},
		{Times: -1},
		{Probability: -0.5},
		{Probability: math.NaN()},
	}
	for _, f := range bad {
		if err := f.Validate(); !errors.Is(err, kinesistest.ErrInvalidFault) {
			t.Errorf("%+v: Validate() = %v, want ErrInvalidFault", f, err)
		}
	}
	good := []kinesistest.Fault{
		{},
		{Match: kinesistest.Match{Op: "SubscribeToShard", Stream: "s"}, Times: 3, Probability: 0.5},
		{Probability: 1},
	}
	for _, f := range good {
		if err := f.Validate(); err != nil {
			t.Errorf("%+v: Validate() = %v", f, err)
		}
	}
	// Without a TB, the refusal is in Err only.
	fake, err := kinesistest.NewFake()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	if in := fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "Nope"}}); !errors.Is(in.Err(), kinesistest.ErrInvalidFault) {
		t.Fatalf("Err() = %v", in.Err())
	}
}

// Actions made with values out of range are refused, not clamped.
func TestActionsRejectOutOfRange(t *testing.T) {
	t.Parallel()
	fake, err := kinesistest.NewFake()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	for name, a := range map[string]kinesistest.Action{
		"CutStream(-1)":          kinesistest.CutStream(-1),
		"StreamException(x, -2)": kinesistest.StreamException(kinesistest.CodeInternalFailure, -2),
		"Latency(-1s)":           kinesistest.Latency(-time.Second),
		"FailRecords(-0.5)":      kinesistest.FailRecords(-0.5, ""),
		"FailRecords(1.5)":       kinesistest.FailRecords(1.5, ""),
		"FailRecords(NaN)":       kinesistest.FailRecords(math.NaN(), ""),
	} {
		if err := (kinesistest.Fault{Action: a}).Validate(); !errors.Is(err, kinesistest.ErrInvalidFault) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidFault", name, err)
		}
		if in := fake.Inject(kinesistest.Fault{Action: a}); !errors.Is(in.Err(), kinesistest.ErrInvalidFault) {
			t.Errorf("%s: Inject: Err() = %v", name, in.Err())
		}
		if in := fake.Script(kinesistest.Match{Op: "PutRecords"}, kinesistest.Pass, a); !errors.Is(in.Err(), kinesistest.ErrInvalidFault) {
			t.Errorf("%s: Script: Err() = %v", name, in.Err())
		}
	}
	for name, a := range map[string]kinesistest.Action{
		"CutStream(0)":      kinesistest.CutStream(0),
		"Latency(0)":        kinesistest.Latency(0),
		"FailRecords(0)":    kinesistest.FailRecords(0, ""),
		"FailRecords(1)":    kinesistest.FailRecords(1, ""),
		"FailRecords(0.25)": kinesistest.FailRecords(0.25, ""),
	} {
		if in := fake.Inject(kinesistest.Fault{Action: a}); in.Err() != nil {
			t.Errorf("%s: %v", name, in.Err())
		}
	}
}
