package pollread_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/shard/pollread"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	stream = "s"
	shard0 = "shardId-000000000000"
)

// call is one API call as the recorder saw it.
type call struct {
	op       string
	start    time.Time
	records  int
	behind   int64
	err      error
	iterType types.ShardIteratorType
	seq      string
}

// recorder wraps a client and notes the start of every call: a measure of
// pacing that does not depend on the fake's clock.
type recorder struct {
	api   pollread.API
	mu    sync.Mutex
	calls []call
}

func (r *recorder) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	c := call{op: "GetShardIterator", start: time.Now(), iterType: in.ShardIteratorType, seq: aws.ToString(in.StartingSequenceNumber)}
	out, err := r.api.GetShardIterator(ctx, in, optFns...)
	c.err = err
	r.add(c)
	return out, err
}

func (r *recorder) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	c := call{op: "GetRecords", start: time.Now()}
	out, err := r.api.GetRecords(ctx, in, optFns...)
	c.err = err
	if out != nil {
		c.records, c.behind = len(out.Records), aws.ToInt64(out.MillisBehindLatest)
	}
	r.add(c)
	return out, err
}

func (r *recorder) add(c call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *recorder) of(op string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.op == op {
			out = append(out, c)
		}
	}
	return out
}

// gaps returns the time between the starts of consecutive calls.
func gaps(calls []call) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(calls); i++ {
		out = append(out, calls[i].start.Sub(calls[i-1].start))
	}
	return out
}

func newFake(t *testing.T, opts ...kinesistest.Option) *kinesistest.Fake {
	t.Helper()
	fake := kinesistest.New(t, opts...)
	if err := fake.CreateStream(stream, 1); err != nil {
		t.Fatal(err)
	}
	return fake
}

func put(t *testing.T, fake *kinesistest.Fake, from, n int) []string {
	t.Helper()
	var seqs []string
	for i := from; i < from+n; i++ {
		res, err := fake.Put(stream, "pk", []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, res.SequenceNumber)
	}
	return seqs
}

// sink collects delivered records and can cancel the read once it has n.
// newReader returns a polling reader, failing the test on an error.
func newReader(t testing.TB, api pollread.API, opts polling.Options, hooks shard.Hooks) *pollread.Reader {
	t.Helper()
	r, err := pollread.New(api, opts, shard.Env{Hooks: hooks})
	if err != nil {
		t.Fatalf("polling.New: %v", err)
	}
	return r
}

type sink struct {
	mu      sync.Mutex
	seqs    []string
	data    []string
	trimmed []string // TrimmedAfter of each batch
	want    int
	cancel  context.CancelFunc
}

func (s *sink) deliver(_ context.Context, b shard.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trimmed = append(s.trimmed, b.TrimmedAfter)
	for _, r := range b.Records {
		s.seqs = append(s.seqs, aws.ToString(r.SequenceNumber))
		s.data = append(s.data, string(r.Data))
	}
	if s.want > 0 && len(s.seqs) >= s.want && s.cancel != nil {
		s.cancel()
	}
	return nil
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seqs)
}

func room(n int) shard.Room {
	return shard.RoomFunc(func(context.Context) (int, error) { return n, nil })
}

func eventually(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// read runs Read in a goroutine; the returned func cancels it and returns
// its result.
func read(t *testing.T, r *pollread.Reader, sh shard.Spec, roomFn shard.Room, s *sink) (stop func() (shard.End, error), done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	s.cancel = cancel
	ch := make(chan struct{})
	var end shard.End
	var err error
	go func() {
		defer close(ch)
		end, err = r.Read(ctx, sh, roomFn, s.deliver)
	}()
	stop = func() (shard.End, error) {
		cancel()
		<-ch
		return end, err
	}
	t.Cleanup(func() { stop() })
	return stop, ch
}

var fast = polling.Options{MinInterval: time.Millisecond, IdleInterval: 5 * time.Millisecond, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

func trimHorizon(id string) shard.Spec {
	return shard.Spec{Stream: stream, ID: id, Start: shard.Start{Type: types.ShardIteratorTypeTrimHorizon}}
}

// With the default options, a reader that stays behind calls GetRecords on
// a shard at most 4 times a second, within the service's 5: the calls keep
// to a grid of MinInterval (250ms), never ahead of it, so no two are less
// than MinInterval apart but for the lateness of the first, made good (at
// most a tenth of MinInterval).
func TestDefaultPacingAtMostFourCallsPerSecond(t *testing.T) {
	fake := newFake(t)
	put(t, fake, 0, 200)
	rec := &recorder{api: fake.Client()}
	r := newReader(t, rec, polling.Options{}, shard.Hooks{})
	s := &sink{}
	// Room for 5 records a call keeps the reader behind: full batches.
	stop, _ := read(t, r, trimHorizon(shard0), room(5), s)
	const window = 1100 * time.Millisecond
	start := time.Now()
	before := fake.Calls("GetRecords")
	eventually(t, 3*time.Second, func() bool { return time.Since(start) >= window }, "window")
	during := fake.Calls("GetRecords") - before
	stop()
	calls := rec.of("GetRecords")
	// Calls start at 0, 250ms, 500ms...: within 1.1s at most 5.
	if max := int(window/polling.DefaultMinInterval) + 1; during > max {
		t.Errorf("%d GetRecords calls in %v, at most %d allowed", during, window, max)
	}
	if during < 3 {
		t.Errorf("only %d GetRecords calls in %v while behind", during, window)
	}
	const slack = polling.DefaultMinInterval / 10
	for i, g := range gaps(calls) {
		if g < polling.DefaultMinInterval-slack-2*time.Millisecond {
			t.Errorf("call %d started %v after the previous one, less than %v", i+1, g, polling.DefaultMinInterval-slack)
		}
	}
	for i := 2; i < len(calls); i++ {
		// The first call is not paced; the grid starts at the second.
		if d, want := calls[i].start.Sub(calls[1].start), time.Duration(i-1)*polling.DefaultMinInterval-2*time.Millisecond; d < want {
			t.Errorf("call %d started %v after the second, ahead of the grid (%v)", i, d, want)
		}
	}
	t.Logf("%d calls in %v; gaps %v", during, window, gaps(calls))
}

// The pacing follows the records: after a call that returned records the
// next comes after MinInterval, whether the shard has more or not; after a
// call that found nothing at the tip, after IdleInterval, doubling with
// each such call in a row up to MaxIdleInterval; and back to MinInterval as
// soon as a call returns records.
func TestPacingFollowsRecords(t *testing.T) {
	fake := newFake(t)
	const batch = 10
	put(t, fake, 0, 25) // 10, 10, then 5 at the tip
	rec := &recorder{api: fake.Client()}
	opts := polling.Options{MinInterval: 2 * time.Millisecond, IdleInterval: 100 * time.Millisecond, MaxIdleInterval: 400 * time.Millisecond, MaxRecords: batch}
	r := newReader(t, rec, opts, shard.Hooks{})
	s := &sink{}
	stop, _ := read(t, r, trimHorizon(shard0), room(1000), s)
	empty := func() int { // the empty calls in a row, last
		calls := rec.of("GetRecords")
		n := 0
		for i := len(calls) - 1; i >= 0 && calls[i].records == 0; i-- {
			n++
		}
		return n
	}
	eventually(t, 5*time.Second, func() bool { return s.count() == 25 && empty() >= 5 }, "the backlog, then 5 empty calls")
	put(t, fake, 25, 3) // a quiet shard wakes up
	eventually(t, 5*time.Second, func() bool { return s.count() == 28 && empty() >= 3 }, "the new records, then 3 empty calls")
	stop()
	calls := rec.of("GetRecords")
	run := 0 // empty calls in a row before call i
	for i := 1; i < len(calls); i++ {
		g := calls[i].start.Sub(calls[i-1].start)
		prev := calls[i-1]
		if prev.records > 0 || prev.behind > 0 {
			run = 0
			if g < opts.MinInterval-time.Millisecond {
				t.Errorf("call %d: %v after one that returned %d records, below MinInterval %v", i, g, prev.records, opts.MinInterval)
			}
			if g >= opts.IdleInterval {
				t.Errorf("call %d: %v after one that returned %d records: the reader waited as if idle", i, g, prev.records)
			}
			continue
		}
		want := min(opts.IdleInterval<<run, opts.MaxIdleInterval)
		if g < want-2*time.Millisecond {
			t.Errorf("call %d: %v after the empty call %d in a row, want at least %v", i, g, run+1, want)
		}
		if g > 2*opts.MaxIdleInterval { // loose: a loaded machine may be late
			t.Errorf("call %d: %v after the empty call %d in a row, want about MaxIdleInterval %v at most", i, g, run+1, opts.MaxIdleInterval)
		}
		run++
	}
	t.Logf("gaps %v", gaps(calls))
}

// While throttled, the reader backs off: never a tight loop, and with the
// default options never more than 5 calls a second, jitter included.
func TestThrottlingBacksOff(t *testing.T) {
	t.Run("growing", func(t *testing.T) {
		fake := newFake(t)
		put(t, fake, 0, 10)
		throttle := fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "GetRecords"}, Action: kinesistest.Throttle})
		rec := &recorder{api: fake.Client()}
		var mu sync.Mutex
		var waits []time.Duration
		opts := polling.Options{MinInterval: time.Millisecond, IdleInterval: time.Millisecond, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
		r := newReader(t, rec, opts, shard.Hooks{OnRetry: func(_, _ string, d time.Duration, err error, _ bool) {
			mu.Lock()
			defer mu.Unlock()
			waits = append(waits, d)
			if !awserr.IsThrottle(err) {
				t.Errorf("retry after %v, not a throttle", err)
			}
		}})
		s := &sink{want: 10}
		_, done := read(t, r, trimHorizon(shard0), room(100), s)
		const window = 600 * time.Millisecond
		start := time.Now()
		eventually(t, 3*time.Second, func() bool { return time.Since(start) >= window }, "window")
		throttled := fake.Calls("GetRecords")
		throttle.Remove()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the read did not go on after the throttling stopped")
		}
		// 20, 30, 45, 67, 100, 100... ms ±30%: about 8 calls in 600ms; a
		// tight loop would make hundreds.
		if throttled > 15 {
			t.Errorf("%d GetRecords calls in %v of throttling: the backoff is too tight", throttled, window)
		}
		if s.count() != 10 {
			t.Errorf("%d records after the throttling, want 10", s.count())
		}
		calls := rec.of("GetRecords")
		for i, g := range gaps(calls[:throttled]) {
			if g < 14*time.Millisecond-time.Millisecond { // InitialBackoff less 30% jitter
				t.Errorf("throttled call %d came %v after the previous one", i+1, g)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, w := range waits {
			if w < opts.MinInterval || w > opts.MaxBackoff {
				t.Errorf("a retry waited %v, outside MinInterval %v..MaxBackoff %v", w, opts.MinInterval, opts.MaxBackoff)
			}
		}
		t.Logf("%d calls in %v of throttling; waits %v", throttled, window, waits)
	})
	t.Run("defaults", func(t *testing.T) {
		fake := newFake(t)
		put(t, fake, 0, 100)
		// Throttle every other call: each throttle comes after a success, so
		// each wait is the first step of the backoff, 200ms ±30%, the one
		// that could fall under the 200ms the service allows (MinInterval,
		// 250ms, holds it up).
		var steps []kinesistest.Action
		for range 6 {
			steps = append(steps, kinesistest.Throttle, kinesistest.Pass)
		}
		fake.Script(kinesistest.Match{Op: "GetRecords"}, steps...)
		rec := &recorder{api: fake.Client()}
		r := newReader(t, rec, polling.Options{}, shard.Hooks{})
		s := &sink{}
		stop, _ := read(t, r, trimHorizon(shard0), room(5), s)
		eventually(t, 10*time.Second, func() bool { return len(rec.of("GetRecords")) >= len(steps)+1 }, "calls")
		stop()
		calls := rec.of("GetRecords")
		for i, g := range gaps(calls) {
			if g < polling.DefaultMinInterval-2*time.Millisecond {
				t.Errorf("call %d (after %v) started %v after the previous one: more than 5 calls a second", i+1, calls[i].err, g)
			}
		}
		t.Logf("gaps %v", gaps(calls))
	})
}

// An expired iterator is replaced by one just after the last record handed
// over: nothing lost, nothing repeated.
func TestExpiredIteratorResumesAfterLastDelivered(t *testing.T) {
	fake := newFake(t)
	want := put(t, fake, 0, 50)
	E, P := kinesistest.ExpiredIterator, kinesistest.Pass
	fake.Script(kinesistest.Match{Op: "GetRecords"}, P, P, E, P, E, E, P)
	rec := &recorder{api: fake.Client()}
	r := newReader(t, rec, fast, shard.Hooks{})
	s := &sink{want: len(want)}
	_, done := read(t, r, trimHorizon(shard0), room(10), s)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of %d records delivered", s.count(), len(want))
	}
	if !slices.Equal(s.seqs, want) {
		t.Fatalf("delivered %d records %v,\nwant %d %v", len(s.seqs), s.seqs, len(want), want)
	}
	its := rec.of("GetShardIterator")
	if len(its) != 4 {
		t.Fatalf("%d GetShardIterator calls, want 4 (start and 3 expiries)", len(its))
	}
	// Records 0-9 and 10-19 delivered before the first expiry, 20-29 before
	// the second and third.
	for i, wantSeq := range []string{"", want[19], want[29], want[29]} {
		if i == 0 {
			if its[0].iterType != types.ShardIteratorTypeTrimHorizon {
				t.Errorf("first iterator %s", its[0].iterType)
			}
			continue
		}
		if its[i].iterType != types.ShardIteratorTypeAfterSequenceNumber || its[i].seq != wantSeq {
			t.Errorf("iterator %d: %s %s, want AFTER_SEQUENCE_NUMBER %s", i, its[i].iterType, its[i].seq, wantSeq)
		}
	}
}

// A start older than the stream's retention is InvalidArgumentException: the
// reader falls back to TRIM_HORIZON and reads what is left.
func TestRetentionFallsBackToTrimHorizon(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Time{})
	fake := newFake(t, kinesistest.WithClock(clock))
	old := put(t, fake, 0, 20)
	clock.Advance(2 * time.Hour)
	kept := put(t, fake, 20, 10)
	fake.SetRetention(stream, time.Hour)
	if n, _ := fake.Trim(stream); n != 20 {
		t.Fatalf("trimmed %d records, want 20", n)
	}
	rec := &recorder{api: fake.Client()}
	r := newReader(t, rec, fast, shard.Hooks{})
	s := &sink{want: len(kept)}
	sh := shard.Spec{Stream: stream, ID: shard0, Start: shard.Start{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: old[5]}}
	_, done := read(t, r, sh, room(100), s)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%d records delivered", s.count())
	}
	if !slices.Equal(s.seqs, kept) {
		t.Errorf("delivered %v, want the records inside retention %v", s.seqs, kept)
	}
	// The first batch says where the lost records start, for the caller's
	// warning; no other batch does.
	if len(s.trimmed) == 0 || s.trimmed[0] != old[5] || slices.ContainsFunc(s.trimmed[1:], func(x string) bool { return x != "" }) {
		t.Errorf("TrimmedAfter of the batches %q, want %s on the first only", s.trimmed, old[5])
	}
	its := rec.of("GetShardIterator")
	if len(its) != 2 || !awserr.IsInvalidArgument(its[0].err) || its[1].iterType != types.ShardIteratorTypeTrimHorizon {
		t.Errorf("iterator calls %+v: want AFTER_SEQUENCE_NUMBER refused, then TRIM_HORIZON", its)
	}
}

// A start inside retention is used as given: no fallback.
func TestStartAfterSequenceNumber(t *testing.T) {
	fake := newFake(t)
	seqs := put(t, fake, 0, 20)
	r := newReader(t, fake.Client(), fast, shard.Hooks{})
	s := &sink{want: 10}
	sh := shard.Spec{Stream: fake.StreamARN(stream), ID: shard0, Start: shard.Start{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: seqs[9]}}
	_, done := read(t, r, sh, room(100), s)
	<-done
	if !slices.Equal(s.seqs, seqs[10:]) {
		t.Errorf("delivered %v, want %v", s.seqs, seqs[10:])
	}
}

// Errors retrying cannot fix end the read at once, without retries.
func TestFatalErrorsEndTheRead(t *testing.T) {
	for _, tc := range []struct {
		name, op, code string
		check          func(error) bool
	}{
		{"access denied on GetRecords", "GetRecords", kinesistest.CodeAccessDenied, awserr.IsPermanent},
		{"access denied on GetShardIterator", "GetShardIterator", kinesistest.CodeAccessDenied, awserr.IsPermanent},
		{"KMS key disabled", "GetRecords", "KMSDisabledException", awserr.IsPermanent},
		{"not found", "GetRecords", kinesistest.CodeResourceNotFound, awserr.IsNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake(t)
			put(t, fake, 0, 5)
			fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: tc.op}, Action: kinesistest.Fail(tc.code)})
			r := newReader(t, fake.Client(), fast, shard.Hooks{})
			s := &sink{}
			stop, done := read(t, r, trimHorizon(shard0), room(100), s)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the read did not end")
			}
			_, err := stop()
			if err == nil || !tc.check(err) || errors.Is(err, context.Canceled) {
				t.Fatalf("Read returned %v", err)
			}
			if n := fake.Calls(tc.op); n != 1 {
				t.Errorf("%d %s calls, want 1: a fatal error is not retried", n, tc.op)
			}
			if s.count() != 0 {
				t.Errorf("%d records delivered", s.count())
			}
		})
	}
}

// A shard read to its end after a split ends the read with its children.
func TestClosedShardEndsWithChildren(t *testing.T) {
	fake := newFake(t)
	seqs := put(t, fake, 0, 30)
	kids, err := fake.Split(stream, shard0)
	if err != nil {
		t.Fatal(err)
	}
	put(t, fake, 30, 10) // into the children
	r := newReader(t, fake.Client(), fast, shard.Hooks{})
	s := &sink{}
	stop, done := read(t, r, trimHorizon(shard0), room(7), s)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the read of a closed shard did not end")
	}
	end, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.seqs, seqs) {
		t.Errorf("delivered %d records, want the parent's %d", len(s.seqs), len(seqs))
	}
	var got []string
	for _, c := range end.ChildShards {
		got = append(got, aws.ToString(c.ShardId))
		if !slices.Equal(c.ParentShards, []string{shard0}) {
			t.Errorf("child %s has parents %v", aws.ToString(c.ShardId), c.ParentShards)
		}
	}
	if !slices.Equal(got, kids[:]) {
		t.Errorf("children %v, want %v", got, kids)
	}
}

// Room bounds each call's Limit, and a room that blocks holds the reader.
func TestRoomLimitsEachCall(t *testing.T) {
	fake := newFake(t)
	put(t, fake, 0, 40)
	var mu sync.Mutex
	avail := 3
	wake := make(chan struct{}, 1)
	roomFn := shard.RoomFunc(func(ctx context.Context) (int, error) {
		for {
			mu.Lock()
			n := avail
			mu.Unlock()
			if n > 0 {
				return n, nil
			}
			select {
			case <-wake:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	})
	s := &sink{}
	deliver := func(ctx context.Context, b shard.Batch) error {
		mu.Lock()
		avail -= len(b.Records)
		mu.Unlock()
		return s.deliver(ctx, b)
	}
	r := newReader(t, fake.Client(), fast, shard.Hooks{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(ctx, trimHorizon(shard0), roomFn, deliver)
		done <- err
	}()
	eventually(t, 5*time.Second, func() bool { return s.count() == 3 }, "3 records")
	calls := fake.Calls("GetRecords")
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		if s.count() != 3 || fake.Calls("GetRecords") != calls {
			t.Fatalf("the reader went on without room: %d records, %d calls", s.count(), fake.Calls("GetRecords"))
		}
	}
	mu.Lock()
	avail = 37
	mu.Unlock()
	wake <- struct{}{}
	eventually(t, 5*time.Second, func() bool { return s.count() == 40 }, "40 records")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Read returned %v after cancel, want context.Canceled", err)
	}
}

// deliver's error ends the read, returned as it is.
func TestDeliverErrorEndsRead(t *testing.T) {
	fake := newFake(t)
	put(t, fake, 0, 5)
	boom := errors.New("boom")
	r := newReader(t, fake.Client(), fast, shard.Hooks{})
	_, err := r.Read(context.Background(), trimHorizon(shard0), room(100), func(context.Context, shard.Batch) error { return boom })
	if err != boom {
		t.Fatalf("Read returned %v, want deliver's error", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o    polling.Options
		want string
	}{
		{polling.Options{MaxRecords: 20000}, "MaxRecords"},
		{polling.Options{MaxRecords: -1}, "MaxRecords"},
		{polling.Options{MinInterval: -1}, "MinInterval"},
		{polling.Options{IdleInterval: -1}, "IdleInterval"},
		{polling.Options{MinInterval: time.Second, IdleInterval: time.Millisecond}, "IdleInterval"},
		{polling.Options{MaxIdleInterval: -1}, "MaxIdleInterval"},
		{polling.Options{IdleInterval: time.Second, MaxIdleInterval: time.Millisecond}, "MaxIdleInterval"},
		{polling.Options{InitialBackoff: time.Second, MaxBackoff: time.Millisecond}, "MaxBackoff"},
		{polling.Options{InitialBackoff: -1}, "backoff"},
	} {
		err := tc.o.Validate()
		if !errors.Is(err, polling.ErrInvalidOption) || !containsFold(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.o, err, tc.want)
		}
	}
	if err := (polling.Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
	if err := (polling.Options{MinInterval: time.Second}).Validate(); err != nil {
		t.Errorf("MinInterval above the default IdleInterval: %v (IdleInterval follows it)", err)
	}
	d := polling.Options{}.WithDefaults()
	if d.MaxRecords != 10000 || d.MinInterval != 250*time.Millisecond || d.IdleInterval != 500*time.Millisecond || d.MaxIdleInterval != 2*time.Second {
		t.Errorf("defaults %+v", d)
	}
	if d := (polling.Options{IdleInterval: 5 * time.Millisecond, MinInterval: time.Millisecond}).WithDefaults(); d.MaxIdleInterval != 20*time.Millisecond {
		t.Errorf("MaxIdleInterval %v with IdleInterval 5ms, want 4 times it", d.MaxIdleInterval)
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// A LATEST iterator that expires before any record was handed over resumes
// from when it was asked for (AT_TIMESTAMP), not from LATEST again, which
// would skip the records that arrived in between. (Records from a few seconds
// before LATEST may come too: a margin for clock skew.)
func TestExpiredLatestIteratorKeepsRecordsArrivedMeanwhile(t *testing.T) {
	fake := newFake(t)
	fake.Script(kinesistest.Match{Op: "GetRecords"}, kinesistest.ExpiredIterator)
	rec := &recorder{api: fake.Client()}
	r := newReader(t, rec, fast, shard.Hooks{})
	var once sync.Once
	var want []string
	// room runs after the LATEST iterator was obtained and before the first
	// GetRecords, which the script expires: a record put now arrives after
	// LATEST and before the iterator is replaced.
	roomFn := shard.RoomFunc(func(context.Context) (int, error) {
		once.Do(func() { want = put(t, fake, 100, 1) })
		return 10, nil
	})
	s := &sink{want: 1}
	_, done := read(t, r, shard.Spec{Stream: stream, ID: shard0, Start: shard.Start{Type: types.ShardIteratorTypeLatest}}, roomFn, s)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the record put after LATEST was not delivered (%d delivered)", s.count())
	}
	if !slices.Contains(s.seqs, want[0]) {
		t.Fatalf("delivered %v, want it to hold %v", s.seqs, want)
	}
	its := rec.of("GetShardIterator")
	if len(its) != 2 || its[1].iterType != types.ShardIteratorTypeAtTimestamp {
		t.Fatalf("iterators %+v, want LATEST then AT_TIMESTAMP", its)
	}
}

// The first call of a read, sized before the size of the records is known,
// that comes back full is followed at once by a second call when the room
// then pays for more; the calls after it keep MinInterval. A first call
// the room does not grow after keeps the pace too. The first call's bytes
// do not delay the follow-up while they are within a MinInterval's worth at
// ReadRate; beyond, the rest is paid for first. (Its records are of 3
// bytes: 2 records are half a second's worth at 12 bytes a second, a
// second and a half's at 4.)
// readTimeOf is how long ReadRate rate (0: the default) takes to pay for n
// of the records put puts (3 bytes each).
func readTimeOf(n, rate int) time.Duration {
	if rate == 0 {
		rate = polling.DefaultReadRate
	}
	return time.Duration(float64(3*n) / float64(rate) * float64(time.Second))
}

func TestFirstCallFollowedUpWhenRoomGrows(t *testing.T) {
	fake := newFake(t)
	put(t, fake, 0, 50)
	for _, tc := range []struct {
		name     string
		readRate int
		sizes    []int // room of each call; the last repeats
		followUp bool
		after    time.Duration // the follow-up's least gap
	}{
		{"room grows", 0, []int{2, 30}, true, 0},
		{"room stays", 0, []int{2, 2}, false, 0},
		{"room grows, bytes within a MinInterval", 12, []int{2, 4}, true, 0},
		{"room grows, bytes past a MinInterval", 4, []int{2, 4}, true, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := polling.Options{MinInterval: time.Second, ReadRate: tc.readRate}
			rec := &recorder{api: fake.Client()}
			r := newReader(t, rec, opts, shard.Hooks{})
			var mu sync.Mutex
			i := 0
			roomFn := shard.RoomFunc(func(context.Context) (int, error) {
				mu.Lock()
				defer mu.Unlock()
				n := tc.sizes[min(i, len(tc.sizes)-1)]
				i++
				return n, nil
			})
			s := &sink{}
			stop, _ := read(t, r, trimHorizon(shard0), roomFn, s)
			eventually(t, 10*time.Second, func() bool { return len(rec.of("GetRecords")) >= 3 }, "3 calls")
			stop()
			calls := rec.of("GetRecords")
			g := gaps(calls)
			if calls[0].records != 2 {
				t.Fatalf("the first call returned %d records, want the 2 of its room", calls[0].records)
			}
			if tc.followUp && (g[0] >= tc.after+opts.MinInterval/2 || g[0] < tc.after-2*time.Millisecond) {
				t.Errorf("the second call came %v after the first, want %v (MinInterval %v)", g[0], tc.after, opts.MinInterval)
			}
			if !tc.followUp && g[0] < opts.MinInterval-2*time.Millisecond {
				t.Errorf("the second call came %v after the first with no more room, want MinInterval %v", g[0], opts.MinInterval)
			}
			if want := max(opts.MinInterval, readTimeOf(calls[1].records, tc.readRate)); g[1] < want-opts.MinInterval/10-2*time.Millisecond {
				t.Errorf("the third call came %v after the second, want %v", g[1], want)
			}
		})
	}
}
