// Package streamtest is the harness of kinesin's own tests: the two modes a
// test of delivery runs in (polling and Enhanced Fan-Out), a fake stream
// filled shard by shard, a stream opened on it in a mode, a consumer
// collecting records from the Chan form, a spy on the Kinesis calls, and
// Eventually, the way these tests wait for a condition instead of sleeping.
// The tests of package kinesin and of the modules beside it (internal/oteltest)
// share it.
package streamtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
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

// Stream is the stream name most tests use.
const Stream = "orders"

// FastPolling reads an emulator as fast as it answers: the tests' default.
var FastPolling = polling.Options{
	MinInterval:    time.Millisecond,
	IdleInterval:   5 * time.Millisecond,
	InitialBackoff: time.Millisecond,
	MaxBackoff:     10 * time.Millisecond,
}

// Consumer is the Enhanced Fan-Out consumer the tests read with.
const Consumer = "test-consumer"

// FastEFO keeps the EFO reader's real-time waits tiny: a few milliseconds
// between subscriptions of a shard and between retries.
var FastEFO = efo.Options{
	SubscribeInterval: 2 * time.Millisecond,
	InitialBackoff:    time.Millisecond,
	MaxBackoff:        10 * time.Millisecond,
	RegisterTimeout:   10 * time.Second,
}

// EFOClockFactor is how much faster than the wall clock the fake runs in EFO
// mode. The service refuses a new subscription of a consumer to a shard
// within 5 s of the last one (ResourceInUseException): on the wall clock every
// resubscription (after a restart or a broken stream) would wait 5 real
// seconds. At 60 times, it waits about 80 ms, a subscription lives 5 s and a
// quiet one gets a heartbeat every 80 ms.
const EFOClockFactor = 60

// Mode is a way of reading the stream. The tests of the delivery suite run
// in both, as subtests named after them.
type Mode struct {
	Name string
	EFO  bool
}

var (
	PollingMode = Mode{Name: "polling"}
	EFOMode     = Mode{Name: "efo", EFO: true}
	Modes       = []Mode{PollingMode, EFOMode}
)

// SDKDecoderEnv is the environment variable that, set to 1, makes the
// options of every mode (Options, Defaults) decode responses with the AWS
// SDK's decoder (kinesin.WithSDKDecoder(true)) instead of kinesin's default
// one, so that the delivery tests run with either:
//
//	KINESIN_TEST_SDK_DECODER=1 go test -run 'TestKPL|...' .
//
// scripts/test runs the package's delivery suites both ways.
const SDKDecoderEnv = "KINESIN_TEST_SDK_DECODER"

// SDKDecoder reports whether SDKDecoderEnv is set to 1.
func SDKDecoder() bool { return os.Getenv(SDKDecoderEnv) == "1" }

// decoder returns the decoder option SDKDecoderEnv asks for, if any.
func decoder() []kinesin.Option {
	if SDKDecoder() {
		return []kinesin.Option{kinesin.WithSDKDecoder(true)}
	}
	return nil
}

// Options are the options that choose the mode, tuned for tests: fast
// polling, or EFO with Consumer and FastEFO (and the decoder
// SDKDecoderEnv asks for).
func (m Mode) Options() []kinesin.Option {
	if m.EFO {
		return append([]kinesin.Option{kinesin.WithEFO(Consumer), kinesin.WithEFOOptions(FastEFO)}, decoder()...)
	}
	return append([]kinesin.Option{kinesin.WithPolling(FastPolling)}, decoder()...)
}

// Defaults are the options that choose the mode with its default tuning
// (and the decoder SDKDecoderEnv asks for).
func (m Mode) Defaults() []kinesin.Option {
	if m.EFO {
		return append([]kinesin.Option{kinesin.WithEFO(Consumer)}, decoder()...)
	}
	return decoder()
}

// Polling returns WithPolling(o) in polling mode, nothing in EFO mode: a test
// tuning the polling reader runs in EFO mode with the EFO defaults of the
// harness.
func (m Mode) Polling(o polling.Options) []kinesin.Option {
	if m.EFO {
		return nil
	}
	return []kinesin.Option{kinesin.WithPolling(o)}
}

// FakeOptions are the options of a fake for the mode (see EFOClockFactor),
// then opts, which win.
func (m Mode) FakeOptions(opts ...kinesistest.Option) []kinesistest.Option {
	if m.EFO {
		return append([]kinesistest.Option{kinesistest.WithClock(kinesistest.ScaledClock(EFOClockFactor))}, opts...)
	}
	return opts
}

// NewFake returns a fake for the mode holding Stream with n shards.
func (m Mode) NewFake(t testing.TB, n int, opts ...kinesistest.Option) *kinesistest.Fake {
	t.Helper()
	return NewFake(t, n, m.FakeOptions(opts...)...)
}

// EachMode runs f as a subtest per mode.
func EachMode(t *testing.T, f func(t *testing.T, m Mode)) {
	t.Helper()
	for _, m := range Modes {
		t.Run(m.Name, func(t *testing.T) { f(t, m) })
	}
}

// EachModeParallel runs f as a parallel subtest per mode, and the test
// itself in parallel with the others.
func EachModeParallel(t *testing.T, f func(t *testing.T, m Mode)) {
	t.Helper()
	t.Parallel()
	for _, m := range Modes {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			f(t, m)
		})
	}
}

// Starts returns how the reads of a shard started, in order: the types of
// the shard iterators the spy saw in polling mode, the starting positions of
// the subscriptions the fake accepted in EFO mode.
func (m Mode) Starts(fake *kinesistest.Fake, sp *Spy, shard string) []string {
	if !m.EFO {
		return sp.IteratorsOf(shard)
	}
	var out []string
	for _, sub := range fake.Subscriptions() {
		if sub.ShardID == shard {
			out = append(out, sub.StartingPosition.Type)
		}
	}
	return out
}

// ShardsStarted returns how many distinct shards are being read (or were):
// once a shard is, records put into it are delivered, whatever the start.
func (m Mode) ShardsStarted(fake *kinesistest.Fake, sp *Spy) int {
	if !m.EFO {
		return sp.ShardsAsked()
	}
	ids := map[string]bool{}
	for _, sub := range fake.Subscriptions() {
		ids[sub.ShardID] = true
	}
	return len(ids)
}

// Item is the JSON payload the tests put: the shard it was aimed at (or a
// partition key) and a counter.
type Item struct {
	Shard int    `json:"shard"`
	Key   string `json:"key,omitempty"`
	N     int    `json:"n"`
	Pad   string `json:"pad,omitempty"` // makes records big, to spread a Backlog over many EFO events
}

func ItemJSON(it Item) []byte {
	b, err := json.Marshal(it)
	if err != nil {
		panic(err)
	}
	return b
}

// Eventually polls cond until it holds or timeout passes, then fails the
// test with the message.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Steady checks that value does not change for d: the way to see that
// something stopped (a reader held back), since there is no event to wait
// for when nothing happens.
func Steady[V comparable](t testing.TB, d time.Duration, value func() V, what string) V {
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

// NextSecond returns once the fake's clock reads a later second than when it
// was called (advancing it when it is a ManualClock): Latest starts at the
// second the service's clock read at Open, so records put before NextSecond
// are older than a Latest start that follows it.
func NextSecond(t testing.TB, fake *kinesistest.Fake) {
	t.Helper()
	now := fake.Clock().Now()
	if mc, ok := fake.Clock().(*kinesistest.ManualClock); ok {
		mc.Advance(time.Second)
		return
	}
	Eventually(t, 3*time.Second, func() bool { return fake.Clock().Now().Truncate(time.Second).After(now) },
		"the fake's clock to reach the next second")
}

// Ctx is a context ending with the test or after d.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// NewFake returns a fake holding Stream with n shards.
func NewFake(t testing.TB, n int, opts ...kinesistest.Option) *kinesistest.Fake {
	t.Helper()
	fake := kinesistest.New(t, opts...)
	if err := fake.CreateStream(Stream, n); err != nil {
		t.Fatal(err)
	}
	return fake
}

// OpenShards lists the open shards of a stream, in id order.
func OpenShards(t testing.TB, fake *kinesistest.Fake, stream string) []kinesistest.ShardInfo {
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

// FillShards puts perShard records into every open shard of stream, aimed by
// explicit hash key, and returns their sequence numbers by shard id, in put
// order. Record j of the i-th open shard holds Item{Shard: i, N: j}.
func FillShards(t testing.TB, fake *kinesistest.Fake, stream string, perShard int) map[string][]string {
	t.Helper()
	return FillPadded(t, fake, stream, perShard, 0)
}

// FillPadded is FillShards with records padded to about pad bytes.
func FillPadded(t testing.TB, fake *kinesistest.Fake, stream string, perShard, pad int) map[string][]string {
	t.Helper()
	out := make(map[string][]string)
	padding := strings.Repeat("p", pad)
	for i, sh := range OpenShards(t, fake, stream) {
		for j := range perShard {
			res, err := fake.PutWithHashKey(stream, fmt.Sprintf("pk-%d-%d", i, j%7), sh.StartingHashKey, ItemJSON(Item{Shard: i, N: j, Pad: padding}))
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

// Open opens Stream on fake in mode m (see Mode.Options), from
// TRIM_HORIZON unless opts say otherwise, and closes it with the test.
func Open[T any](t testing.TB, m Mode, ctx context.Context, fake *kinesistest.Fake, dec kinesin.Decoder[T], opts ...kinesin.Option) *kinesin.Stream[T] {
	t.Helper()
	return OpenNamed(t, m, ctx, Stream, fake.Client(), dec, opts...)
}

// OpenNamed opens the stream name through api as Open does.
func OpenNamed[T any](t testing.TB, m Mode, ctx context.Context, name string, api kinesin.KinesisAPI, dec kinesin.Decoder[T], opts ...kinesin.Option) *kinesin.Stream[T] {
	t.Helper()
	all := append([]kinesin.Option{
		kinesin.WithClient(api),
		kinesin.WithApp(kinesin.DefaultApp),
		kinesin.WithStart(kinesin.TrimHorizon),
	}, m.Options()...)
	all = append(all, opts...)
	st, err := kinesin.Open(ctx, name, dec, all...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Load returns the checkpoints of the default app on Stream.
func Load(t testing.TB, store checkpoint.Store) map[string]checkpoint.Checkpoint {
	t.Helper()
	cps, err := store.Load(context.Background(), kinesin.DefaultApp, Stream)
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

// CopyStore returns a new store holding what store holds for the default
// app on Stream: a snapshot, as a crashed process leaves it.
func CopyStore(t testing.TB, store checkpoint.Store) *memcheckpoint.Store {
	t.Helper()
	cp := memcheckpoint.New()
	if err := cp.Save(context.Background(), kinesin.DefaultApp, Stream, Load(t, store)); err != nil {
		t.Fatal(err)
	}
	return cp
}

// Seen is one yielded record, as the tests remember it.
type Seen struct {
	Shard string
	Seq   string
	Sub   int64
	Item  Item
	At    time.Time
	Order int // position in the yield order, from 0
}

// Collector consumes a stream's Chan form in a goroutine, committing each
// record unless told otherwise, and remembers what it saw.
type Collector struct {
	mu      sync.Mutex
	recs    []Seen
	byShard map[string][]Seen
	pending []*kinesin.Record[Item] // not committed, with commit false
	done    chan struct{}
}

func Collect(st *kinesin.Stream[Item], commit bool) *Collector {
	c := &Collector{byShard: make(map[string][]Seen), done: make(chan struct{})}
	ch := st.Chan()
	go func() {
		defer close(c.done)
		for rec := range ch {
			c.mu.Lock()
			s := Seen{Shard: rec.ShardID, Seq: rec.SequenceNumber, Sub: rec.SubSequenceNumber, Item: rec.Value, At: time.Now(), Order: len(c.recs)}
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

// Count returns how many records were seen.
func (c *Collector) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

// CountOf returns how many records of a shard were seen.
func (c *Collector) CountOf(shard string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byShard[shard])
}

// Shard returns a copy of what was seen of a shard.
func (c *Collector) Shard(id string) []Seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.byShard[id])
}

// TakePending returns the records held back so far, not committed, and
// forgets them.
func (c *Collector) TakePending() []*kinesin.Record[Item] {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs := c.pending
	c.pending = nil
	return recs
}

// CommitPending commits every record held back so far.
func (c *Collector) CommitPending() int {
	recs := c.TakePending()
	for _, r := range recs {
		r.Commit()
	}
	return len(recs)
}

// Wait waits for the channel to close.
func (c *Collector) Wait(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("the Chan channel was not closed within %v", timeout)
	}
}

// CheckShardOrder fails unless got holds exactly the sequence numbers want,
// in order: every record once, in sequence order.
func CheckShardOrder(t testing.TB, shard string, got []Seen, want []string) {
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

// Spy wraps a Kinesis client and remembers the shard iterators it got (once
// the service answered: a LATEST iterator counts from then), and how.
type Spy struct {
	*kinesis.Client
	mu        sync.Mutex
	iterators []*kinesis.GetShardIteratorInput
}

func (s *Spy) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	out, err := s.Client.GetShardIterator(ctx, in, optFns...)
	if err == nil {
		s.mu.Lock()
		s.iterators = append(s.iterators, in)
		s.mu.Unlock()
	}
	return out, err
}

// IteratorsOf returns the iterator types asked for a shard, in order.
func (s *Spy) IteratorsOf(shard string) []string {
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

// ShardsAsked returns how many distinct shards got an iterator.
func (s *Spy) ShardsAsked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[string]bool{}
	for _, in := range s.iterators {
		ids[aws.ToString(in.ShardId)] = true
	}
	return len(ids)
}

// All returns a copy of every record seen, in yield order.
func (c *Collector) All() []Seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// SubscriptionsOf returns the subscriptions the fake accepted on a shard,
// oldest first.
func SubscriptionsOf(fake *kinesistest.Fake, shard string) []kinesistest.Subscription {
	var out []kinesistest.Subscription
	for _, sub := range fake.Subscriptions() {
		if sub.ShardID == shard {
			out = append(out, sub)
		}
	}
	return out
}

// Settle waits until value holds still for quiet, failing the test if it
// keeps changing for longer than timeout.
func Settle[V comparable](t testing.TB, timeout, quiet time.Duration, value func() V) V {
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

// PendingCount returns how many records are held back, not committed.
func (c *Collector) PendingCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

const (
	BenchShards     = 4
	BenchPerShard   = 50000
	BenchRecordSize = 200
)

// The lease timings of these tests: a dead worker's shards move within
// about 2.2 s, a handoff takes two cycles.
const (
	LeaseDuration = 2 * time.Second
	LeaseCycle    = 200 * time.Millisecond
	// LeaseSlack is what the race detector and two CPUs may add to a
	// failover.
	LeaseSlack = 1500 * time.Millisecond
)

func MustShards(t *testing.T, fake *kinesistest.Fake) []kinesistest.ShardInfo {
	t.Helper()
	shards, err := fake.Shards(Stream)
	if err != nil {
		t.Fatal(err)
	}
	return shards
}

func ShardByID(shards []kinesistest.ShardInfo, id string) kinesistest.ShardInfo {
	for _, sh := range shards {
		if sh.ID == id {
			return sh
		}
	}
	return kinesistest.ShardInfo{}
}

// TakeN reads n records from ch, failing the test after timeout.
func TakeN[T any](t *testing.T, ch <-chan *kinesin.Record[T], n int, timeout time.Duration) []*kinesin.Record[T] {
	t.Helper()
	var out []*kinesin.Record[T]
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("the channel closed after %d of %d records", len(out), n)
			}
			out = append(out, r)
		case <-deadline:
			t.Fatalf("%d of %d records after %v", len(out), n, timeout)
		}
	}
	return out
}

// Backlog fills a stream of BenchShards shards with BenchPerShard records of
// BenchRecordSize bytes each, spread evenly by explicit hash key.
func Backlog(b *testing.B, fake *kinesistest.Fake, perShard int) {
	b.Helper()
	if err := fake.CreateStream("bench", BenchShards); err != nil {
		b.Fatal(err)
	}
	shards, err := fake.Shards("bench")
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, BenchRecordSize)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	for _, sh := range shards {
		for i := range perShard {
			if _, err := fake.PutWithHashKey("bench", fmt.Sprintf("k%03d", i%1000), sh.StartingHashKey, data); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// ConsumeAll reads total records with kinesin from TRIM_HORIZON, committing
// each, and returns the number of mallocs it took.
func ConsumeAll(b *testing.B, client *kinesis.Client, total int, opts ...kinesin.Option) uint64 {
	b.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := kinesin.Open(ctx, "bench", kinesin.Bytes, append([]kinesin.Option{kinesin.WithClient(client),
		kinesin.WithStart(kinesin.TrimHorizon)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for rec, err := range st.Records() {
		if err != nil {
			b.Fatal(err)
		}
		rec.Commit()
		if n++; n == total {
			break
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n != total {
		b.Fatalf("consumed %d of %d", n, total)
	}
	return after.Mallocs - before.Mallocs
}
