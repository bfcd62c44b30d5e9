package eforead_test

// Shared helpers: a fake with a stream and a consumer, a collector of
// delivered records, Read in the background, and watchers fed by hooks.

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/shard/eforead"
	"github.com/kinesin-go/kinesin/internal/testsync"
	"github.com/kinesin-go/kinesin/kinesistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// deadline bounds every wait of these tests; a passing test never reaches it:
// nothing waits on wall time to synchronise.
const deadline = 20 * time.Second

// fast keeps the reader's real-time waits tiny.
var fast = efo.Options{
	SubscribeInterval: time.Millisecond,
	InitialBackoff:    time.Millisecond,
	MaxBackoff:        5 * time.Millisecond,
	RegisterTimeout:   deadline,
}

// env is a fake with one stream and one ACTIVE consumer.
type env struct {
	t           *testing.T
	ctx         context.Context
	fake        *kinesistest.Fake
	clock       *kinesistest.ManualClock // nil on the real clock
	client      *kinesis.Client
	stream      string
	streamARN   string
	consumerARN string
}

// newEnv makes a fake (on a manual clock when manual is true) with a stream
// of shards shards and a consumer.
func newEnv(t *testing.T, manual bool, shards int, opts ...kinesistest.Option) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), stream: "orders"}
	if manual {
		e.clock = kinesistest.NewManualClock(time.Time{})
		opts = append([]kinesistest.Option{kinesistest.WithClock(e.clock)}, opts...)
	}
	e.fake = kinesistest.New(t, opts...)
	e.client = e.fake.Client()
	if err := e.fake.CreateStream(e.stream, shards); err != nil {
		t.FailNow()
	}
	e.streamARN = e.fake.StreamARN(e.stream)
	arn, err := e.fake.RegisterConsumer(e.stream, "app")
	if err != nil {
		t.FailNow()
	}
	e.consumerARN = arn
	return e
}

// shardIDs returns the ids of the stream's shards.
func (e *env) shardIDs() []string {
	e.t.Helper()
	infos, err := e.fake.Shards(e.stream)
	if err != nil {
		e.t.FailNow()
	}
	var ids []string
	for _, in := range infos {
		ids = append(ids, in.ID)
	}
	return ids
}

// put stores n records with data prefix+i (padded to size bytes when size is
// larger) on the shard of partition key pk and returns their sequence
// numbers.
func (e *env) put(pk, prefix string, from, to, size int) []string {
	e.t.Helper()
	var seqs []string
	for i := from; i < to; i++ {
		r, err := e.fake.Put(e.stream, pk, payload(prefix, i, size))
		if err != nil {
			e.t.FailNow()
		}
		seqs = append(seqs, r.SequenceNumber)
	}
	return seqs
}

// payload is prefix+i padded with dots to size bytes.
func payload(prefix string, i, size int) []byte {
	b := fmt.Appendf(nil, "%s%d", prefix, i)
	for len(b) < size {
		b = append(b, '.')
	}
	return b
}

// name returns the name a payload was made from.
func name(data []byte) string {
	for i, c := range data {
		if c == '.' {
			return string(data[:i])
		}
	}
	return string(data)
}

// names returns prefix<from> .. prefix<to-1>.
func names(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// signal is a condition tests wait on (see testsync.Signal).
type signal = testsync.Signal

// collector gathers what a Read delivers.
type collector struct {
	signal
	recs    []types.Record
	batches []int
	trimmed []string // TrimmedAfter of each batch
}

func (c *collector) deliver(ctx context.Context, b shard.Batch) error {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	c.recs = append(c.recs, b.Records...)
	c.batches = append(c.batches, len(b.Records))
	c.trimmed = append(c.trimmed, b.TrimmedAfter)
	c.Notify()
	return nil
}

// waitFor waits until n records were delivered.
func (c *collector) waitFor(t *testing.T, n int) {
	t.Helper()
	c.WaitUntil(t, deadline, fmt.Sprintf("%d records", n), func() bool { return len(c.recs) >= n })
}

// names returns the names of the records delivered.
func (c *collector) names() []string {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	out := make([]string, len(c.recs))
	for i, r := range c.recs {
		out[i] = name(r.Data)
	}
	return out
}

// seqs returns the sequence numbers of the records delivered.
func (c *collector) seqs() []string {
	c.Mu.Lock()
	defer c.Mu.Unlock()
	out := make([]string, len(c.recs))
	for i, r := range c.recs {
		out[i] = aws.ToString(r.SequenceNumber)
	}
	return out
}

// room returns a Room that always allows n records.
func room(n int) shard.Room {
	return shard.RoomFunc(func(ctx context.Context) (int, error) { return n, ctx.Err() })
}

// watcher records hook calls.
type watcher struct {
	signal
	subscribes []error
	events     []int
	retries    []error
}

func (w *watcher) hooks() shard.Hooks {
	return shard.Hooks{
		OnCall: func(_ context.Context, _, _ string, _ time.Time, _ time.Duration, err error) {
			w.Mu.Lock()
			defer w.Mu.Unlock()
			w.subscribes = append(w.subscribes, err)
			w.Notify()
		},
		OnFetch: func(_ string, records int, _ int64) {
			w.Mu.Lock()
			defer w.Mu.Unlock()
			w.events = append(w.events, records)
			w.Notify()
		},
		OnRetry: func(_, _ string, _ time.Duration, err error, _ bool) {
			w.Mu.Lock()
			defer w.Mu.Unlock()
			w.retries = append(w.retries, err)
			w.Notify()
		},
	}
}

// successes counts the successful subscriptions.
func (w *watcher) successes() int {
	n := 0
	for _, err := range w.subscribes {
		if err == nil {
			n++
		}
	}
	return n
}

// waitSubscribed waits until n subscriptions succeeded.
func (w *watcher) waitSubscribed(t *testing.T, n int) {
	t.Helper()
	w.WaitUntil(t, deadline, fmt.Sprintf("%d subscriptions", n), func() bool { return w.successes() >= n })
}

// retriesWith counts the retries after an error of the code.
func (w *watcher) retriesWith(code string) int {
	n := 0
	for _, err := range w.retries {
		if awserr.Code(err) == code {
			n++
		}
	}
	return n
}

// waitRetry waits until n retries after an error of the code were made.
func (w *watcher) waitRetry(t *testing.T, code string, n int) {
	t.Helper()
	w.WaitUntil(t, deadline, fmt.Sprintf("%d retries after %s", n, code), func() bool { return w.retriesWith(code) >= n })
}

// newReader returns an EFO reader, failing the test on an error.
func newReader(t testing.TB, api efo.API, consumerARN string, opts efo.Options, hooks shard.Hooks) *eforead.Reader {
	t.Helper()
	r, err := eforead.New(api, consumerARN, opts, shard.Env{Hooks: hooks})
	if err != nil {
		t.Fatalf("efo.New: %v", err)
	}
	return r
}

// reading is a Read running in the background.
type reading struct {
	cancel context.CancelFunc
	done   chan struct{}
	end    shard.End
	err    error
}

// startRead runs r.Read in the background; it is cancelled and waited for
// when the test ends.
func startRead(t *testing.T, r *eforead.Reader, spec shard.Spec, room shard.Room, deliver shard.Deliver) *reading {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rd := &reading{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rd.done)
		rd.end, rd.err = r.Read(ctx, spec, room, deliver)
	}()
	t.Cleanup(func() {
		cancel()
		<-rd.done
	})
	return rd
}

// wait waits until Read returns.
func (rd *reading) wait(t *testing.T) (shard.End, error) {
	t.Helper()
	select {
	case <-rd.done:
		return rd.end, rd.err
	case <-time.After(deadline):
		t.Fatalf("Read did not return within %v", deadline)
	}
	panic("unreachable")
}

// stop cancels Read and checks it returned context.Canceled as it is.
func (rd *reading) stop(t *testing.T) {
	t.Helper()
	rd.cancel()
	if _, err := rd.wait(t); err != context.Canceled {
		t.Fatalf("Read after cancel: %v, want context.Canceled as it is", err)
	}
}

// trimHorizon is a spec reading shardID from its start.
func trimHorizon(shardID string) shard.Spec {
	return shard.Spec{Stream: "orders", ID: shardID, Start: shard.Start{Type: types.ShardIteratorTypeTrimHorizon}}
}

// checkExactly checks that got is want: nothing lost, repeated or reordered.
func checkExactly(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	var dup, lost []string
	for _, w := range want {
		switch seen[w] {
		case 0:
			lost = append(lost, w)
		case 1:
		default:
			dup = append(dup, w)
		}
	}
	t.Fatalf("got %d records, want %d; lost %d %v, repeated %d %v (first got %v)",
		len(got), len(want), len(lost), head(lost), len(dup), head(dup), head(got))
}

func head(s []string) []string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
