package kinesin_test

// Helpers shared by the tests of package kinesin: the two modes every test of
// the delivery suite runs in (polling and Enhanced Fan-Out), a fake stream
// filled shard by shard, a stream opened on it in a mode, a consumer
// collecting records from the Chan form, a spy on the Kinesis calls, and
// eventually, the way these tests wait for a condition instead of sleeping.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

// testStream is the stream name most tests use.
const testStream = "orders"

// fastPolling reads an emulator as fast as it answers: the tests' default.
var fastPolling = polling.Options{
	MinInterval:    time.Millisecond,
	IdleInterval:   5 * time.Millisecond,
	InitialBackoff: time.Millisecond,
	MaxBackoff:     10 * time.Millisecond,
}

// testConsumer is the Enhanced Fan-Out consumer the tests read with.
const testConsumer = "test-consumer"

// fastEFO keeps the EFO reader's real-time waits tiny: a few milliseconds
// between subscriptions of a shard and between retries.
var fastEFO = efo.Options{
	SubscribeInterval: 2 * time.Millisecond,
	InitialBackoff:    time.Millisecond,
	MaxBackoff:        10 * time.Millisecond,
	RegisterTimeout:   10 * time.Second,
}

// efoClockFactor is how much faster than the wall clock the fake runs in EFO
// mode. The service refuses a new subscription of a consumer to a shard
// within 5 s of the last one (ResourceInUseException): on the wall clock every
// resubscription (after a restart or a broken stream) would wait 5 real
// seconds. At 60 times, it waits about 80 ms, a subscription lives 5 s and a
// quiet one gets a heartbeat every 80 ms.
const efoClockFactor = 60

// mode is a way of reading the stream. The tests of the delivery suite run
// in both, as subtests named after them.
type mode struct {
	name string
	efo  bool
}

var (
	pollingMode = mode{name: "polling"}
	efoMode     = mode{name: "efo", efo: true}
	modes       = []mode{pollingMode, efoMode}
)

// options are the options that choose the mode, tuned for tests: fast
// polling, or EFO with testConsumer and fastEFO.
func (m mode) options() []kinesin.Option {
	if m.efo {
		return []kinesin.Option{kinesin.WithEFO(testConsumer), kinesin.WithEFOOptions(fastEFO)}
	}
	return []kinesin.Option{kinesin.WithPolling(fastPolling)}
}

// defaults are the options that choose the mode with its default tuning.
func (m mode) defaults() []kinesin.Option {
	if m.efo {
		return []kinesin.Option{kinesin.WithEFO(testConsumer)}
	}
	return nil
}

// polling returns WithPolling(o) in polling mode, nothing in EFO mode: a test
// tuning the polling reader runs in EFO mode with the EFO defaults of the
// harness.
func (m mode) polling(o polling.Options) []kinesin.Option {
	if m.efo {
		return nil
	}
	return []kinesin.Option{kinesin.WithPolling(o)}
}

// fakeOptions are the options of a fake for the mode (see efoClockFactor),
// then opts, which win.
func (m mode) fakeOptions(opts ...kinesistest.Option) []kinesistest.Option {
	if m.efo {
		return append([]kinesistest.Option{kinesistest.WithClock(kinesistest.ScaledClock(efoClockFactor))}, opts...)
	}
	return opts
}

// newFake returns a fake for the mode holding testStream with n shards.
func (m mode) newFake(t testing.TB, n int, opts ...kinesistest.Option) *kinesistest.Fake {
	t.Helper()
	return newFake(t, n, m.fakeOptions(opts...)...)
}

// eachMode runs f as a subtest per mode.
func eachMode(t *testing.T, f func(t *testing.T, m mode)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { f(t, m) })
	}
}

// eachModeParallel runs f as a parallel subtest per mode, and the test
// itself in parallel with the others.
func eachModeParallel(t *testing.T, f func(t *testing.T, m mode)) {
	t.Helper()
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f(t, m)
		})
	}
}

// starts returns how the reads of a shard started, in order: the types of
// the shard iterators the spy saw in polling mode, the starting positions of
// the subscriptions the fake accepted in EFO mode.
func (m mode) starts(fake *kinesistest.Fake, sp *spy, shard string) []string {
	if !m.efo {
		return sp.iteratorsOf(shard)
	}
	var out []string
	for _, sub := range fake.Subscriptions() {
		if sub.ShardID == shard {
			out = append(out, sub.StartingPosition.Type)
		}
	}
	return out
}

// shardsStarted returns how many distinct shards are being read (or were):
// once a shard is, records put into it are delivered, whatever the start.
func (m mode) shardsStarted(fake *kinesistest.Fake, sp *spy) int {
	if !m.efo {
		return sp.shardsAsked()
	}
	ids := map[string]bool{}
	for _, sub := range fake.Subscriptions() {
		ids[sub.ShardID] = true
	}
	return len(ids)
}

// item is the JSON payload the tests put: the shard it was aimed at (or a
// partition key) and a counter.
type item struct {
	Shard int    `json:"shard"`
	Key   string `json:"key,omitempty"`
	N     int    `json:"n"`
	Pad   string `json:"pad,omitempty"` // makes records big, to spread a backlog over many EFO events
}

func itemJSON(it item) []byte {
	b, err := json.Marshal(it)
	if err != nil {
		panic(err)
	}
	return b
}

// eventually polls cond until it holds or timeout passes, then fails the
// test with the message.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// steady checks that value does not change for d: the way to see that
// something stopped (a reader held back), since there is no event to wait
// for when nothing happens.
func steady[V comparable](t testing.TB, d time.Duration, value func() V, what string) V {
	t.Helper()
	v := value()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		if got := value(); got != v {
			t.Fatalf("%s changed from %v to %v while it should hold still", what, v, got)
		}
	}
	return v
}

// nextSecond returns once the fake's clock reads a later second than when it
// was called (advancing it when it is a ManualClock): Latest starts at the
// second the service's clock read at Open, so records put before nextSecond
// are older than a Latest start that follows it.
func nextSecond(t testing.TB, fake *kinesistest.Fake) {
	t.Helper()
	now := fake.Clock().Now()
	if mc, ok := fake.Clock().(*kinesistest.ManualClock); ok {
		mc.Advance(time.Second)
		return
	}
	eventually(t, 3*time.Second, func() bool { return fake.Clock().Now().Truncate(time.Second).After(now) },
		"the fake's clock to reach the next second")
}

// testCtx is a context ending with the test or after d.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newFake returns a fake holding testStream with n shards.
func newFake(t testing.TB, n int, opts ...kinesistest.Option) *kinesistest.Fake {
	t.Helper()
	fake := kinesistest.New(t, opts...)
	if err := fake.CreateStream(testStream, n); err != nil {
		t.Fatal(err)
	}
	return fake
}

// shardIDs lists the open shards of a stream, in id order.
func openShards(t testing.TB, fake *kinesistest.Fake, stream string) []kinesistest.ShardInfo {
	t.Helper()
	shards, err := fake.Shards(stream)
	if err != nil {
		t.Fatal(err)
	}
	var out []kinesistest.ShardInfo
	for _, sh := range shards {
		if sh.Open {
			out = append(out, sh)
		}
	}
	return out
}

// fillShards puts perShard records into every open shard of stream, aimed by
// explicit hash key, and returns their sequence numbers by shard id, in put
// order. Record j of the i-th open shard holds item{Shard: i, N: j}.
func fillShards(t testing.TB, fake *kinesistest.Fake, stream string, perShard int) map[string][]string {
	t.Helper()
	return fillPadded(t, fake, stream, perShard, 0)
}

// fillPadded is fillShards with records padded to about pad bytes.
func fillPadded(t testing.TB, fake *kinesistest.Fake, stream string, perShard, pad int) map[string][]string {
	t.Helper()
	out := make(map[string][]string)
	padding := strings.Repeat("p", pad)
	for i, sh := range openShards(t, fake, stream) {
		for j := range perShard {
			res, err := fake.PutWithHashKey(stream, fmt.Sprintf("pk-%d-%d", i, j%7), sh.StartingHashKey, itemJSON(item{Shard: i, N: j, Pad: padding}))
			if err != nil {
				t.Fatal(err)
			}
			if res.ShardID != sh.ID {
				t.Fatalf("record aimed at %s went to %s", sh.ID, res.ShardID)
			}
			out[sh.ID] = append(out[sh.ID], res.SequenceNumber)
		}
	}
	return out
}

// openStream opens testStream on fake in mode m (see mode.options), from
// TRIM_HORIZON unless opts say otherwise, and closes it with the test.
func openStream[T any](t testing.TB, m mode, ctx context.Context, fake *kinesistest.Fake, dec kinesin.Decoder[T], opts ...kinesin.Option) *kinesin.Stream[T] {
	t.Helper()
	return openNamed(t, m, ctx, testStream, fake.Client(), dec, opts...)
}

// openNamed opens the stream name through api as openStream does.
func openNamed[T any](t testing.TB, m mode, ctx context.Context, name string, api kinesin.KinesisAPI, dec kinesin.Decoder[T], opts ...kinesin.Option) *kinesin.Stream[T] {
	t.Helper()
	all := append([]kinesin.Option{
		kinesin.WithClient(api),
		kinesin.WithApp(kinesin.DefaultApp),
		kinesin.WithStart(kinesin.TrimHorizon),
	}, m.options()...)
	all = append(all, opts...)
	st, err := kinesin.Open(ctx, name, dec, all...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// load returns the checkpoints of the default app on testStream.
func load(t testing.TB, store checkpoint.Store) map[string]checkpoint.Checkpoint {
	t.Helper()
	cps, err := store.Load(context.Background(), kinesin.DefaultApp, testStream)
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

// copyStore returns a new store holding what store holds for the default
// app on testStream: a snapshot, as a crashed process leaves it.
func copyStore(t testing.TB, store checkpoint.Store) *memcheckpoint.Store {
	t.Helper()
	cp := memcheckpoint.New()
	if err := cp.Save(context.Background(), kinesin.DefaultApp, testStream, load(t, store)); err != nil {
		t.Fatal(err)
	}
	return cp
}

// seen is one yielded record, as the tests remember it.
type seen struct {
	Shard string
	Seq   string
	Sub   int64
	Item  item
	At    time.Time
	Order int // position in the yield order, from 0
}

// collector consumes a stream's Chan form in a goroutine, committing each
// record unless told otherwise, and remembers what it saw.
type collector struct {
	mu      sync.Mutex
	recs    []seen
	byShard map[string][]seen
	pending []*kinesin.Record[item] // not committed, with commit false
	done    chan struct{}
}

func collect(st *kinesin.Stream[item], commit bool) *collector {
	c := &collector{byShard: make(map[string][]seen), done: make(chan struct{})}
	ch := st.Chan()
	go func() {
		defer close(c.done)
		for rec := range ch {
			c.mu.Lock()
			s := seen{Shard: rec.ShardID, Seq: rec.SequenceNumber, Sub: rec.SubSequenceNumber, Item: rec.Value, At: time.Now(), Order: len(c.recs)}
			c.recs = append(c.recs, s)
			c.byShard[rec.ShardID] = append(c.byShard[rec.ShardID], s)
			if commit {
				rec.Commit()
			} else {
				c.pending = append(c.pending, rec)
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// count returns how many records were seen.
func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

// countOf returns how many records of a shard were seen.
func (c *collector) countOf(shard string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byShard[shard])
}

// shard returns a copy of what was seen of a shard.
func (c *collector) shard(id string) []seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.byShard[id])
}

// commitPending commits every record held back so far.
func (c *collector) commitPending() int {
	c.mu.Lock()
	recs := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, r := range recs {
		r.Commit()
	}
	return len(recs)
}

// wait waits for the channel to close.
func (c *collector) wait(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("the Chan channel was not closed within %v", timeout)
	}
}

// checkShardOrder fails unless got holds exactly the sequence numbers want,
// in order: every record once, in sequence order.
func checkShardOrder(t testing.TB, shard string, got []seen, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("shard %s: %d records delivered, want %d", shard, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i].Seq != want[i] {
			t.Errorf("shard %s: record %d is %s, want %s", shard, i, got[i].Seq, want[i])
			return
		}
		if i > 0 && checkpoint.CompareSequence(got[i-1].Seq, got[i].Seq) >= 0 {
			t.Errorf("shard %s: record %d (%s) not after record %d (%s)", shard, i, got[i].Seq, i-1, got[i-1].Seq)
			return
		}
	}
}

// spy wraps a Kinesis client and remembers the shard iterators it got (once
// the service answered: a LATEST iterator counts from then), and how.
type spy struct {
	*kinesis.Client
	mu        sync.Mutex
	iterators []*kinesis.GetShardIteratorInput
}

func (s *spy) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	out, err := s.Client.GetShardIterator(ctx, in, optFns...)
	if err == nil {
		s.mu.Lock()
		s.iterators = append(s.iterators, in)
		s.mu.Unlock()
	}
	return out, err
}

// iteratorsOf returns the iterator types asked for a shard, in order.
func (s *spy) iteratorsOf(shard string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, in := range s.iterators {
		if aws.ToString(in.ShardId) == shard {
			out = append(out, string(in.ShardIteratorType))
		}
	}
	return out
}

// shardsAsked returns how many distinct shards got an iterator.
func (s *spy) shardsAsked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[string]bool{}
	for _, in := range s.iterators {
		ids[aws.ToString(in.ShardId)] = true
	}
	return len(ids)
}

// all returns a copy of every record seen, in yield order.
func (c *collector) all() []seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// subscriptionsOf returns the subscriptions the fake accepted on a shard,
// oldest first.
func subscriptionsOf(fake *kinesistest.Fake, shard string) []kinesistest.Subscription {
	var out []kinesistest.Subscription
	for _, sub := range fake.Subscriptions() {
		if sub.ShardID == shard {
			out = append(out, sub)
		}
	}
	return out
}

// settle waits until value holds still for quiet, failing the test if it
// keeps changing for longer than timeout.
func settle[V comparable](t testing.TB, timeout, quiet time.Duration, value func() V) V {
	t.Helper()
	deadline := time.Now().Add(timeout)
	v, since := value(), time.Now()
	for time.Since(since) < quiet {
		if time.Now().After(deadline) {
			t.Fatalf("still changing after %v: %v", timeout, v)
		}
		time.Sleep(2 * time.Millisecond)
		if got := value(); got != v {
			v, since = got, time.Now()
		}
	}
	return v
}

// pendingCount returns how many records are held back, not committed.
func (c *collector) pendingCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}
