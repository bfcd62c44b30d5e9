package kinesin_test

// Streams sharing a stream through shard leases (WithLeases): several
// workers in one process, each a Stream with its own lease manager, over one
// fake stream and one lease store. A producer puts records of many keys, each
// key with its own counter; a ledger remembers every record every worker
// delivered, in one global order, and checks as it goes that no key's record
// comes before its predecessor was delivered somewhere.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/testenv"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/dynamolease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memlease"
	"github.com/kinesin-go/kinesin/polling"
)

// leasePolling polls idle shards every 20 ms: a dozen of them, in several
// workers, stay cheap.
var leasePolling = polling.Options{
	MinInterval:    time.Millisecond,
	IdleInterval:   20 * time.Millisecond,
	InitialBackoff: time.Millisecond,
	MaxBackoff:     20 * time.Millisecond,
}

// leaseProducer puts records round-robin over keys, each carrying its key's
// counter, perTick every tick, until halted.
type leaseProducer struct {
	fake *kinesistest.Fake
	keys []string
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	next map[string]int // the next counter of each key
	puts int
}

func startLeaseProducer(t *testing.T, fake *kinesistest.Fake, keys, perTick int, tick time.Duration) *leaseProducer {
	p := &leaseProducer{fake: fake, stop: make(chan struct{}), done: make(chan struct{}), next: map[string]int{}}
	for i := range keys {
		p.keys = append(p.keys, fmt.Sprintf("key-%03d", i))
	}
	go func() {
		defer close(p.done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tk.C:
			}
			for range perTick {
				p.putOne(t)
			}
		}
	}()
	t.Cleanup(p.halt)
	return p
}

func (p *leaseProducer) putOne(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := p.keys[p.puts%len(p.keys)]
	if _, err := p.fake.Put(testStream, key, itemJSON(item{Key: key, N: p.next[key]})); err != nil {
		t.Error(err)
		return
	}
	p.next[key]++
	p.puts++
}

func (p *leaseProducer) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// produced returns the next counter of every key.
func (p *leaseProducer) produced() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.next)
}

// leaseDelivery is one record a worker delivered.
type leaseDelivery struct {
	worker string
	shard  string
	seq    string
	key    string
	n      int
	at     time.Time
	phase  string
}

// leaseLedger remembers what every worker delivered, in one order.
type leaseLedger struct {
	mu         sync.Mutex
	all        []leaseDelivery
	times      map[string]int          // deliveries by shard/sequence number
	first      map[string]string       // the worker that first delivered each record
	dead       map[string]string       // label of the duplicates of records a dead worker delivered first
	delivered  map[string]map[int]bool // by key, the counters delivered
	violations []string
	phase      string
	dups       map[string]int       // duplicate deliveries by phase, or by dead's label
	hooks      []string             // "worker event shard", in call order
	hookAt     map[string]time.Time // "worker event shard": the last call
}

func newLeaseLedger() *leaseLedger {
	return &leaseLedger{times: map[string]int{}, first: map[string]string{}, dead: map[string]string{}, hookAt: map[string]time.Time{},
		delivered: map[string]map[int]bool{}, dups: map[string]int{}}
}

// died counts the duplicates of the records worker delivered first under
// label rather than under the phase they were delivered in: records
// committed and not checkpointed when it died are delivered again.
func (l *leaseLedger) died(worker, label string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dead[worker] = label
}

func (l *leaseLedger) setPhase(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = p
}

func (l *leaseLedger) record(worker string, r *kinesin.Record[item]) {
	l.add(leaseDelivery{worker: worker, shard: r.ShardID, seq: r.SequenceNumber, key: r.Value.Key, n: r.Value.N, at: time.Now()})
}

// add records a delivery, in the current phase.
func (l *leaseLedger) add(d leaseDelivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	worker := d.worker
	d.phase = l.phase
	l.all = append(l.all, d)
	id := d.shard + "/" + d.seq
	l.times[id]++
	if l.times[id] == 1 {
		l.first[id] = worker
	} else if label, ok := l.dead[l.first[id]]; ok {
		l.dups[label]++
	} else {
		l.dups[l.phase]++
	}
	got := l.delivered[d.key]
	if got == nil {
		got = map[int]bool{}
		l.delivered[d.key] = got
	}
	if d.n > 0 && !got[d.n-1] && len(l.violations) < 10 {
		l.violations = append(l.violations, fmt.Sprintf("key %s: record %d (shard %s, by %s) delivered before record %d", d.key, d.n, d.shard, worker, d.n-1))
	}
	got[d.n] = true
}

func (l *leaseLedger) hook(worker, event string) func(string) {
	return func(shard string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.hooks = append(l.hooks, worker+" "+event+" "+shard)
		l.hookAt[worker+" "+event+" "+shard] = time.Now()
	}
}

// hookTime returns when a worker's hook was last called for shard.
func (l *leaseLedger) hookTime(worker, event, shard string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.hookAt[worker+" "+event+" "+shard]
	return at, ok
}

// hookCount counts the calls of a worker's hook ("" for any worker).
func (l *leaseLedger) hookCount(worker, event string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, h := range l.hooks {
		f := strings.Fields(h)
		if (worker == "" || f[0] == worker) && f[1] == event {
			n++
		}
	}
	return n
}

// missing returns how many produced records were never delivered.
func (l *leaseLedger) missing(produced map[string]int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for key, next := range produced {
		for i := range next {
			if !l.delivered[key][i] {
				n++
			}
		}
	}
	return n
}

// firstBy returns when each shard was first delivered after t by a worker
// other than not; shards not delivered yet are missing.
func (l *leaseLedger) firstBy(shards []string, not string, after time.Time) map[string]leaseDelivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	want := map[string]bool{}
	for _, s := range shards {
		want[s] = true
	}
	out := map[string]leaseDelivery{}
	for _, d := range l.all {
		if want[d.shard] && d.worker != not && d.at.After(after) {
			if _, ok := out[d.shard]; !ok {
				out[d.shard] = d
			}
		}
	}
	return out
}

// deliveredBy counts the records a worker delivered of shard after t.
func (l *leaseLedger) deliveredBy(worker, shard string, after time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, d := range l.all {
		if d.worker == worker && d.shard == shard && d.at.After(after) {
			n++
		}
	}
	return n
}

// seqs returns the sequence numbers delivered of each shard, in the order
// they were delivered.
func (l *leaseLedger) seqs() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for _, d := range l.all {
		out[d.shard] = append(out[d.shard], d.seq)
	}
	return out
}

func (l *leaseLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

func (l *leaseLedger) duplicates() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.dups)
}

// checkOrder fails the test for every key whose record came before its
// predecessor.
func (l *leaseLedger) checkOrder(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.violations {
		t.Error(v)
	}
}

// leaseWorker is one worker: a Stream with leases, consumed by a goroutine
// that records every record in the ledger and commits it (unless held).
type leaseWorker struct {
	id     string
	st     *kinesin.Stream[item]
	crash  context.CancelFunc // ends Open's context: the worker dies without Close
	done   chan struct{}
	hold   atomic.Bool  // keep records uncommitted
	delay  atomic.Int64 // commit each record this long (ns) after it came
	mu     sync.Mutex
	held   []*kinesin.Record[item]
	closed bool
}

// leaseCluster is the workers of one test and what they share.
type leaseCluster struct {
	t       *testing.T
	m       mode
	fake    *kinesistest.Fake
	store   lease.Store // the workers' store, or the one under their wrappers
	app     string
	ledger  *leaseLedger
	workers map[string]*leaseWorker
	opts    []kinesin.Option
}

func newLeaseCluster(t *testing.T, m mode, fake *kinesistest.Fake, store lease.Store, opts ...kinesin.Option) *leaseCluster {
	return &leaseCluster{t: t, m: m, fake: fake, store: store, app: leasetest.UniqueName("app"), ledger: newLeaseLedger(),
		workers: map[string]*leaseWorker{}, opts: opts}
}

// join opens a worker on store (the cluster's when nil).
func (c *leaseCluster) join(id string, store lease.Store, extra ...lease.Option) *leaseWorker {
	c.t.Helper()
	return c.joinWith(id, store, nil, extra...)
}

// joinWith opens a worker on store (the cluster's when nil) with more
// options of its own.
func (c *leaseCluster) joinWith(id string, store lease.Store, more []kinesin.Option, extra ...lease.Option) *leaseWorker {
	t := c.t
	t.Helper()
	if store == nil {
		store = c.store
	}
	ctx, crash := context.WithCancel(context.Background())
	lopts := append([]lease.Option{lease.WithWorkerID(id), lease.WithLeaseDuration(leaseTestDuration), lease.WithCycleInterval(leaseTestCycle)}, extra...)
	opts := []kinesin.Option{
		kinesin.WithClient(c.fake.Client()),
		kinesin.WithApp(c.app),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithCheckpointInterval(100 * time.Millisecond),
		kinesin.WithCloseTimeout(5 * time.Second),
		kinesin.WithLeases(store, lopts...),
		kinesin.WithShardHooks(kinesin.ShardHooks{
			OnAssigned: c.ledger.hook(id, "assigned"),
			OnRevoked:  c.ledger.hook(id, "revoked"),
			OnLost:     c.ledger.hook(id, "lost"),
		}),
	}
	if c.m.EFO {
		opts = append(opts, c.m.Options()...)
	} else {
		opts = append(opts, kinesin.WithPolling(leasePolling))
	}
	opts = append(opts, c.opts...)
	opts = append(opts, more...)
	if os.Getenv("KINESIN_LEASE_DEBUG") != "" {
		opts = append(opts, kinesin.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("w", id)))
	}
	st, err := kinesin.Open(ctx, testStream, kinesin.JSON[item], opts...)
	if err != nil {
		crash()
		t.Fatalf("Open %s: %v", id, err)
	}
	if got := st.WorkerID(); got != id {
		t.Errorf("WorkerID() = %q, want %q", got, id)
	}
	w := &leaseWorker{id: id, st: st, crash: crash, done: make(chan struct{})}
	ch := st.Chan()
	go func() {
		defer close(w.done)
		for rec := range ch {
			c.ledger.record(id, rec)
			if w.hold.Load() {
				w.mu.Lock()
				w.held = append(w.held, rec)
				w.mu.Unlock()
				continue
			}
			if d := time.Duration(w.delay.Load()); d > 0 {
				time.AfterFunc(d, rec.Commit) // processed elsewhere, slowly
				continue
			}
			rec.Commit()
		}
	}()
	c.workers[id] = w
	t.Cleanup(func() {
		w.close()
		crash()
		<-w.done
	})
	return w
}

// close closes the worker's Stream once and returns Close's error.
func (w *leaseWorker) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	return w.st.Close()
}

// release commits the records held back and stops holding them.
func (w *leaseWorker) release() int {
	w.hold.Store(false)
	w.mu.Lock()
	recs := w.held
	w.held = nil
	w.mu.Unlock()
	for _, r := range recs {
		r.Commit()
	}
	return len(recs)
}

// leases lists the cluster's leases.
func (c *leaseCluster) leases() ([]lease.Lease, []lease.Worker) {
	c.t.Helper()
	ls, ws, err := c.store.List(context.Background(), c.app, testStream)
	if err != nil {
		c.t.Fatalf("listing leases: %v", err)
	}
	return ls, ws
}

// owners returns, by worker, the readable leases it owns (not ended, every
// parent ended or gone), and how many readable leases are free.
func (c *leaseCluster) owners() (map[string][]string, int) {
	ls, _ := c.leases()
	byShard := map[string]lease.Lease{}
	for _, l := range ls {
		byShard[l.Shard] = l
	}
	out, free := map[string][]string{}, 0
	for _, l := range ls {
		if l.Ended() {
			continue
		}
		readable := true
		for _, p := range l.Parents {
			if pl, ok := byShard[p]; ok && !pl.Ended() {
				readable = false
			}
		}
		switch {
		case !readable:
		case l.Owner == "":
			free++
		default:
			out[l.Owner] = append(out[l.Owner], l.Shard)
		}
	}
	return out, free
}

// shape returns the lease counts of workers, sorted, or "" when a readable
// lease is free or owned by another worker.
func (c *leaseCluster) shape(workers ...string) string {
	owners, free := c.owners()
	if free > 0 {
		return fmt.Sprintf("%d free", free)
	}
	var counts []int
	for w, shards := range owners {
		if !slices.Contains(workers, w) {
			return fmt.Sprintf("%d owned by %s", len(shards), w)
		}
		counts = append(counts, len(shards))
	}
	sort.Sort(sort.Reverse(sort.IntSlice(counts)))
	return fmt.Sprint(counts)
}

// waitShape waits until the readable leases are split as want among
// workers, and returns how long it took.
func (c *leaseCluster) waitShape(timeout time.Duration, want string, workers ...string) time.Duration {
	c.t.Helper()
	start := time.Now()
	eventually(c.t, timeout, func() bool { return c.shape(workers...) == want }, "leases split %s among %v, want %s", c.shape(workers...), workers, want)
	return time.Since(start)
}

// waitTaken waits until each shard is delivered after t by another worker
// than from, and returns the longest wait.
func (c *leaseCluster) waitTaken(timeout time.Duration, shards []string, from string, after time.Time) time.Duration {
	c.t.Helper()
	var got map[string]leaseDelivery
	eventually(c.t, timeout, func() bool {
		got = c.ledger.firstBy(shards, from, after)
		return len(got) == len(shards)
	}, "records of %d of the %d shards of %s read by another worker", len(got), len(shards), from)
	var longest time.Duration
	for _, d := range got {
		longest = max(longest, d.at.Sub(after))
	}
	return longest
}

// waitReading waits until every worker delivered records of every shard it
// owns.
func (c *leaseCluster) waitReading(timeout time.Duration) {
	c.t.Helper()
	since := time.Now()
	eventually(c.t, timeout, func() bool {
		owners, _ := c.owners()
		for w, shards := range owners {
			for _, sh := range shards {
				if c.ledger.deliveredBy(w, sh, since) == 0 {
					return false
				}
			}
		}
		return true
	}, "every worker reading every shard it owns")
}

// waitAll waits until every record produced was delivered.
func (c *leaseCluster) waitAll(p *leaseProducer) {
	c.t.Helper()
	produced := p.produced()
	eventually(c.t, 20*time.Second, func() bool { return c.ledger.missing(produced) == 0 }, "%d records never delivered", c.ledger.missing(produced))
}

// Three workers share 12 shards evenly; one dies without Close and the
// others read its shards again within the lease duration plus a cycle; a
// fourth joins and gets its share by planned handoffs; a split and a merge
// keep every key in order; a planned Close hands its shards over. No record
// is lost; only the death delivers records twice.
func TestLeaseCluster(t *testing.T) {
	eachMode(t, testLeaseCluster)
}

func testLeaseCluster(t *testing.T, m mode) {
	fake := m.NewFake(t, 12)
	store := memlease.New()
	c := newLeaseCluster(t, m, fake, store)
	p := startLeaseProducer(t, fake, 120, 2, 5*time.Millisecond)
	l := c.ledger

	l.setPhase("start")
	t0 := time.Now()
	w1 := c.join("w1", nil)
	c.join("w2", nil)
	w3 := c.join("w3", nil)
	c.waitShape(15*time.Second, "[4 4 4]", "w1", "w2", "w3")
	t.Logf("%s: 3 workers own 4 shards each %v after the first opened", m.Name, time.Since(t0).Round(time.Millisecond))
	c.waitReading(5 * time.Second)

	// w3 dies: its context ends, no Close. Its manager stops renewing, so
	// the others take its shards once they expire.
	l.setPhase("crash")
	owners, _ := c.owners()
	dead := owners["w3"]
	_, before := c.leases()
	killed := time.Now()
	l.died("w3", "crash")
	w3.crash()
	<-w3.done
	taken := c.waitTaken(leaseTestDuration+leaseTestCycle+leaseSlack+5*time.Second, dead, "w3", killed)
	c.waitShape(5*time.Second, "[6 6]", "w1", "w2")
	_, after := c.leases()
	if row(before, "w3") != row(after, "w3") {
		t.Errorf("w3's worker row changed after it died: %+v, then %+v", row(before, "w3"), row(after, "w3"))
	}
	t.Logf("%s: failover of %d shards: the last one read by a survivor %v after the kill (lease duration %v, cycle %v)",
		m.Name, len(dead), taken.Round(time.Millisecond), leaseTestDuration, leaseTestCycle)
	if taken > leaseTestDuration+leaseTestCycle+leaseSlack {
		t.Errorf("failover took %v, want at most the lease duration plus a cycle (%v) and %v of slack", taken, leaseTestDuration+leaseTestCycle, leaseSlack)
	}

	// w4 joins: planned handoffs give it its share.
	l.setPhase("join")
	joined := time.Now()
	c.join("w4", nil)
	eventually(t, 10*time.Second, func() bool { owners, _ := c.owners(); return len(owners["w4"]) > 0 }, "the new worker's first lease")
	first := time.Since(joined)
	took := c.waitShape(10*time.Second, "[4 4 4]", "w1", "w2", "w4") + first
	owners, _ = c.owners()
	c.waitTaken(5*time.Second, owners["w4"], "", joined)
	// The dead worker's row, never seen changing by the new worker, counts
	// as live for a lease duration: the new worker aims at 3 shards first.
	t.Logf("%s: a new worker owned its first shards %v after it opened, its share of 4 %v after", m.Name,
		first.Round(time.Millisecond), took.Round(time.Millisecond))

	// A split and a merge while the workers read: children after parents.
	l.setPhase("reshard")
	kids, err := fake.Split(testStream, "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	split := time.Now()
	c.waitTaken(10*time.Second, kids[:], "", split)
	merged, err := fake.Merge(testStream, kids[0], kids[1])
	if err != nil {
		t.Fatal(err)
	}
	mergedAt := time.Now()
	c.waitTaken(10*time.Second, []string{merged}, "", mergedAt)
	c.waitShape(10*time.Second, "[4 4 4]", "w1", "w2", "w4")
	t.Logf("%s: split children read %v after the split, merged child %v after the merge", m.Name,
		c.ledger.firstBy(kids[:], "", split)[kids[0]].at.Sub(split).Round(time.Millisecond),
		c.ledger.firstBy([]string{merged}, "", mergedAt)[merged].at.Sub(mergedAt).Round(time.Millisecond))

	// w1 closes: a planned handoff of all its shards.
	l.setPhase("close")
	owners, _ = c.owners()
	moved := owners["w1"]
	closing := time.Now()
	if err := w1.close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	closeTook := time.Since(closing)
	handed := c.waitTaken(5*time.Second, moved, "w1", closing)
	c.waitShape(5*time.Second, "[6 6]", "w2", "w4")
	t.Logf("%s: Close took %v; its %d shards were read by the others %v after Close began", m.Name,
		closeTook.Round(time.Millisecond), len(moved), handed.Round(time.Millisecond))

	l.setPhase("end")
	p.halt()
	c.waitAll(p)
	l.checkOrder(t)
	dups := l.duplicates()
	t.Logf("%s: %d records delivered for %d produced; duplicates by phase: %v", m.Name, l.count(), sum(p.produced()), dups)
	for _, phase := range []string{"start", "join", "reshard", "close", "end"} {
		if dups[phase] != 0 {
			t.Errorf("%d records delivered twice in phase %s, want 0 (planned handoffs only)", dups[phase], phase)
		}
	}
	for _, w := range []string{"w1", "w2", "w4"} {
		if n := l.hookCount(w, "lost"); n > 0 {
			t.Errorf("a live worker, %s, lost %d leases", w, n)
		}
	}
	if l.hookCount("", "assigned") == 0 || l.hookCount("", "revoked") == 0 {
		t.Errorf("hooks: %d assigned, %d revoked", l.hookCount("", "assigned"), l.hookCount("", "revoked"))
	}

	// The dead worker, closed late, cannot write over the checkpoints of
	// the shards it lost.
	for _, id := range []string{"w2", "w4"} {
		if err := c.workers[id].close(); err != nil {
			t.Errorf("Close %s: %v", id, err)
		}
	}
	settled, _ := c.leases()
	if err := w3.close(); err != nil {
		t.Errorf("Close of the dead worker: %v", err)
	}
	final, _ := c.leases()
	for i := range final {
		if i < len(settled) && final[i].Checkpoint != settled[i].Checkpoint {
			t.Errorf("the dead worker's Close changed the checkpoint of %s from %v to %v", final[i].Shard, settled[i].Checkpoint, final[i].Checkpoint)
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// row returns worker id's row.
func row(ws []lease.Worker, id string) lease.Worker {
	for _, w := range ws {
		if w.ID == id {
			return w
		}
	}
	return lease.Worker{}
}

// frozenWrites is a lease store (a leasetest.Faulty, whose calls hang
// while the process is frozen) that remembers what the checkpoint writes
// made while frozen returned once they went through: a write whose context
// ended first has no outcome and is not remembered.
type frozenWrites struct {
	lease.Store
	frozen  atomic.Bool
	mu      sync.Mutex
	zombies []zombieWrite
}

type zombieWrite struct {
	shard string
	cp    checkpoint.Checkpoint
	err   error
}

func (z *frozenWrites) zombieWrites() []zombieWrite {
	z.mu.Lock()
	defer z.mu.Unlock()
	return slices.Clone(z.zombies)
}

func (z *frozenWrites) Checkpoint(ctx context.Context, app, stream string, held lease.Lease, cp checkpoint.Checkpoint) (lease.Lease, error) {
	frozen := z.frozen.Load()
	l, err := z.Store.Checkpoint(ctx, app, stream, held, cp)
	if frozen && (ctx.Err() == nil || !errors.Is(err, ctx.Err())) {
		z.mu.Lock()
		z.zombies = append(z.zombies, zombieWrite{shard: held.Shard, cp: cp, err: err})
		z.mu.Unlock()
	}
	return l, err
}

// A zombie: a worker whose lease store calls hang (a process frozen mid
// call) loses its leases; the other worker takes and reads its shards. Once
// thawed, the checkpoint write it had in flight, ahead of the new owner's
// checkpoint, is refused: the new owner's checkpoint stays. The zombie
// stopped handing out the records of the shards it lost, and no record is
// lost.
func TestLeaseZombieCannotCheckpoint(t *testing.T) {
	fake := newFake(t, 4)
	store := memlease.New()
	c := newLeaseCluster(t, pollingMode, fake, store)
	p := startLeaseProducer(t, fake, 40, 1, 5*time.Millisecond)
	faulty := leasetest.NewFaulty(t, store)
	zstore := &frozenWrites{Store: faulty}
	c.join("zombie", zstore)
	owner := c.join("owner", nil)
	c.waitShape(15*time.Second, "[2 2]", "zombie", "owner")
	owners, _ := c.owners()
	lost := owners["zombie"]
	eventually(t, 5*time.Second, func() bool { return len(c.ledger.firstBy(lost, "", time.Now().Add(-time.Second))) == len(lost) },
		"the zombie reading its shards")

	// The new owner holds its records back: its checkpoints stay where it
	// took the shards, behind the zombie's write in flight.
	owner.hold.Store(true)
	c.ledger.setPhase("zombie")
	c.ledger.died("zombie", "zombie")
	zstore.frozen.Store(true)
	hungCheckpoints := faulty.Inject(leasetest.Fault{Match: leasetest.Match{Op: leasetest.OpCheckpoint}, Action: leasetest.Hang})
	faulty.Inject(leasetest.Fault{Action: leasetest.Hang}) // every other call
	frozen := time.Now()
	eventually(t, 5*time.Second, func() bool { return hungCheckpoints.Hits() > 0 }, "a checkpoint write of the zombie in flight")
	taken := c.waitTaken(leaseTestDuration+leaseTestCycle+leaseSlack+5*time.Second, lost, "zombie", frozen)
	c.waitShape(5*time.Second, "[4]", "owner")
	t.Logf("the frozen worker's %d shards were read by the other %v after it froze", len(lost), taken.Round(time.Millisecond))
	eventually(t, 2*time.Second, func() bool { return c.ledger.hookCount("zombie", "lost") == len(lost) },
		"the zombie lost %d leases, want %d", c.ledger.hookCount("zombie", "lost"), len(lost))
	before, _ := c.leases()

	faulty.Clear()
	eventually(t, 5*time.Second, func() bool { return len(zstore.zombieWrites()) >= hungCheckpoints.Hits() }, "the zombie's writes to go through")
	refused := 0
	for _, z := range zstore.zombieWrites() {
		if !slices.Contains(lost, z.shard) {
			continue
		}
		if !errors.Is(z.err, lease.ErrLost) {
			t.Errorf("the zombie's checkpoint %v of %s, written after it lost the lease: %v, want lease.ErrLost", z.cp, z.shard, z.err)
		}
		refused++
	}
	if refused == 0 {
		t.Error("no checkpoint write of the zombie was in flight on the shards it lost")
	}
	after, _ := c.leases()
	byShard := map[string]lease.Lease{}
	for _, l := range before {
		byShard[l.Shard] = l
	}
	for _, l := range after {
		if b, ok := byShard[l.Shard]; ok && slices.Contains(lost, l.Shard) && l.Checkpoint != b.Checkpoint {
			t.Errorf("checkpoint of %s moved from the new owner's %v to %v while the new owner committed nothing", l.Shard, b.Checkpoint, l.Checkpoint)
		}
		if slices.Contains(lost, l.Shard) && l.Owner != "owner" {
			t.Errorf("%s is owned by %q, want the new owner", l.Shard, l.Owner)
		}
	}
	// The zombie handed out nothing of the shards it lost since it lost
	// them (one record may have been on its way to the channel).
	for _, sh := range lost {
		at, _ := c.ledger.hookTime("zombie", "lost", sh)
		if n := c.ledger.deliveredBy("zombie", sh, at); n > 1 {
			t.Errorf("the zombie delivered %d records of %s after losing it", n, sh)
		}
	}

	owner.release()
	p.halt()
	c.waitAll(p)
	c.ledger.checkOrder(t)
	t.Logf("zombie: %d records delivered for %d produced; duplicates %v", c.ledger.count(), sum(p.produced()), c.ledger.duplicates())
}

// With Latest, a group that starts on a stream resharded before reads the
// closed shard and its children from the time of its first Open (a start
// checkpoint in the leases of the stream's first shards), so that nothing put
// before comes and nothing put after is missed, whenever a worker first reads
// a shard; a shard split while the group reads is read from that time too.
func TestLeaseLatest(t *testing.T) {
	fake := newFake(t, 1)
	const parent = "shardId-000000000000"
	fillShards(t, fake, testStream, 5)
	kids, err := fake.Split(testStream, parent)
	if err != nil {
		t.Fatal(err)
	}
	fillShards(t, fake, testStream, 5) // old records of the children
	nextSecond(t, fake)
	c := newLeaseCluster(t, pollingMode, fake, memlease.New(), kinesin.WithStart(kinesin.Latest))
	c.join("a", nil)
	c.join("b", nil)
	// Put at once: the records are the group's, whichever worker reads the
	// children and whenever.
	fresh := fillShards(t, fake, testStream, 3)
	eventually(t, 10*time.Second, func() bool { return c.ledger.count() >= 6 }, "the records put after the start: %d", c.ledger.count())
	if got := c.ledger.seqs(); !maps.EqualFunc(got, fresh, slices.Equal) {
		t.Errorf("delivered %v, want exactly the records put after the start %v", got, fresh)
	}
	ls, _ := c.leases()
	for _, l := range ls {
		switch {
		case l.Shard == parent && (!l.Ended() || l.Checkpoint.Timestamp.IsZero()):
			t.Errorf("the closed shard's lease is %v, want it ended, with the start time", l)
		case l.Shard != parent && !slices.Equal(l.Parents, []string{parent}):
			t.Errorf("%s names parents %v, want %s", l.Shard, l.Parents, parent)
		}
	}
	// A split now: its children are read after the parent's records, from
	// the start time, which holds all of theirs.
	grand, err := fake.Split(testStream, kids[0])
	if err != nil {
		t.Fatal(err)
	}
	more := fillShards(t, fake, testStream, 4)
	eventually(t, 10*time.Second, func() bool { return c.ledger.count() >= 6+12 }, "the records put after the split: %d", c.ledger.count())
	for _, g := range grand {
		if len(more[g]) != 4 {
			t.Fatalf("%d records put into %s", len(more[g]), g)
		}
	}
	c.ledger.checkOrder(t)
	if d := c.ledger.duplicates(); len(d) > 0 {
		t.Errorf("duplicates: %v", d)
	}
}

// Bad combinations of the lease options are refused at Open, each named.
func TestLeaseOptions(t *testing.T) {
	fake := newFake(t, 1)
	store := memlease.New()
	noop := func(string) {}
	for _, tc := range []struct {
		name string
		opts []kinesin.Option
		want []string
		also error
	}{
		{"nil store", []kinesin.Option{kinesin.WithLeases(nil)}, []string{"WithLeases", "nil"}, nil},
		{"bad lease option", []kinesin.Option{kinesin.WithLeases(store, lease.WithLeaseDuration(-time.Second))}, []string{"WithLeases", "LeaseDuration"}, lease.ErrInvalidOption},
		{"cycle too long", []kinesin.Option{kinesin.WithLeases(store, lease.WithLeaseDuration(time.Second), lease.WithCycleInterval(2*time.Second))}, []string{"CycleInterval"}, lease.ErrInvalidOption},
		{"hooks without leases", []kinesin.Option{kinesin.WithShardHooks(kinesin.ShardHooks{OnAssigned: noop})},
			[]string{"WithShardHooks given without WithLeases"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]kinesin.Option{kinesin.WithClient(fake.Client())}, tc.opts...)
			st, err := kinesin.Open(context.Background(), testStream, kinesin.JSON[item], opts...)
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, kinesin.ErrInvalidOption) {
				t.Errorf("error %v does not wrap ErrInvalidOption", err)
			}
			if tc.also != nil && !errors.Is(err, tc.also) {
				t.Errorf("error %v does not wrap %v", err, tc.also)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	// Without leases, a Stream has no worker id.
	st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item])
	if id := st.WorkerID(); id != "" {
		t.Errorf("WorkerID() = %q without leases", id)
	}
}

// newDynaliteLeases returns a lease store in a new table of dynalite, the
// table and dynalite's URL.
func newDynaliteLeases(t *testing.T) (lease.Store, string, string) {
	t.Helper()
	url := testenv.DynaliteURL(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("kinesin", "test", ""),
		HTTPClient:   &http.Client{Transport: tr, Timeout: 30 * time.Second},
	})
	table := leasetest.UniqueName("kinesin-leases")
	if err := dynamolease.CreateTable(t.Context(), client, table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return dynamolease.New(client, table), table, url
}

// On dynalite: three workers share 6 shards; one dies and its shards are
// read again within the lease duration plus a cycle; another closes and
// hands its shards over without a duplicate.
func TestLeaseDynalite(t *testing.T) {
	store, _, _ := newDynaliteLeases(t)
	fake := newFake(t, 6)
	c := newLeaseCluster(t, pollingMode, fake, store)
	p := startLeaseProducer(t, fake, 60, 1, 5*time.Millisecond)
	c.ledger.setPhase("start")
	c.join("d1", nil)
	c.join("d2", nil)
	d3 := c.join("d3", nil)
	c.waitShape(20*time.Second, "[2 2 2]", "d1", "d2", "d3")

	c.ledger.setPhase("crash")
	owners, _ := c.owners()
	dead := owners["d3"]
	killed := time.Now()
	c.ledger.died("d3", "crash")
	d3.crash()
	<-d3.done
	taken := c.waitTaken(leaseTestDuration+leaseTestCycle+leaseSlack+5*time.Second, dead, "d3", killed)
	c.waitShape(10*time.Second, "[3 3]", "d1", "d2")
	if taken > leaseTestDuration+leaseTestCycle+leaseSlack {
		t.Errorf("failover took %v, want at most the lease duration plus a cycle (%v) and %v of slack", taken, leaseTestDuration+leaseTestCycle, leaseSlack)
	}

	c.ledger.setPhase("close")
	owners, _ = c.owners()
	moved := owners["d1"]
	closing := time.Now()
	if err := c.workers["d1"].close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	handed := c.waitTaken(10*time.Second, moved, "d1", closing)
	c.waitShape(10*time.Second, "[6]", "d2")

	c.ledger.setPhase("end")
	p.halt()
	c.waitAll(p)
	c.ledger.checkOrder(t)
	dups := c.ledger.duplicates()
	t.Logf("dynalite: failover %v; planned Close handed %d shards over in %v; duplicates by phase %v",
		taken.Round(time.Millisecond), len(moved), handed.Round(time.Millisecond), dups)
	for _, phase := range []string{"start", "close", "end"} {
		if dups[phase] != 0 {
			t.Errorf("%d records delivered twice in phase %s, want 0", dups[phase], phase)
		}
	}
}

// breakable is a Kinesis client whose GetRecords fails with
// AccessDeniedException, which is fatal, once broken.
type breakable struct {
	kinesin.KinesisAPI
	broken atomic.Bool
}

func (b *breakable) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	if b.broken.Load() {
		return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "test: access denied"}
	}
	return b.KinesisAPI.GetRecords(ctx, in, optFns...)
}

// A worker whose stream fails (a fatal read error) hands its shards over at
// once, though its application never calls Close: the others read them well
// before its leases would have expired.
func TestLeaseFatalErrorHandsOver(t *testing.T) {
	fake := newFake(t, 4)
	c := newLeaseCluster(t, pollingMode, fake, memlease.New())
	p := startLeaseProducer(t, fake, 40, 1, 5*time.Millisecond)
	api := &breakable{KinesisAPI: fake.Client()}
	failing := c.joinWith("failing", nil, []kinesin.Option{kinesin.WithClient(api)})
	c.join("other", nil)
	c.waitShape(15*time.Second, "[2 2]", "failing", "other")
	c.waitReading(5 * time.Second)
	owners, _ := c.owners()
	moved := owners["failing"]
	broke := time.Now()
	api.broken.Store(true)
	select {
	case <-failing.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the failing worker's channel was not closed")
	}
	var re *kinesin.ReadError
	if err := failing.st.Err(); !errors.As(err, &re) {
		t.Errorf("Err() = %v, want a *ReadError", err)
	}
	took := c.waitTaken(5*time.Second, moved, "failing", broke)
	c.waitShape(5*time.Second, "[4]", "other")
	t.Logf("a failed worker's %d shards were read by the other %v after the failure", len(moved), took.Round(time.Millisecond))
	if took >= leaseTestDuration {
		t.Errorf("the failed worker's shards moved after %v: they expired instead of being released", took)
	}
	p.halt()
	c.waitAll(p)
	c.ledger.checkOrder(t)
}

// A worker whose application commits each record 100 ms after receiving it
// hands shards over, when balancing moves them and when it closes, only once
// the records it handed out are committed: no record is delivered twice.
func TestLeaseHandoffWaitsForCommits(t *testing.T) {
	fake := newFake(t, 4)
	c := newLeaseCluster(t, pollingMode, fake, memlease.New())
	p := startLeaseProducer(t, fake, 40, 2, 5*time.Millisecond)
	slow := c.join("slow", nil)
	slow.delay.Store(int64(100 * time.Millisecond))
	c.waitShape(10*time.Second, "[4]", "slow")
	c.waitReading(5 * time.Second)

	c.ledger.setPhase("balance")
	joined := time.Now()
	c.join("fast", nil)
	took := c.waitShape(10*time.Second, "[2 2]", "slow", "fast")
	owners, _ := c.owners()
	c.waitTaken(5*time.Second, owners["fast"], "slow", joined)

	c.ledger.setPhase("close")
	moved := owners["slow"]
	closing := time.Now()
	if err := slow.close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	closeTook := time.Since(closing)
	handed := c.waitTaken(5*time.Second, moved, "slow", closing)
	p.halt()
	c.waitAll(p)
	c.ledger.checkOrder(t)
	dups := c.ledger.duplicates()
	t.Logf("slow commits: balanced in %v; Close took %v, its shards read by the other %v after; duplicates %v",
		took.Round(time.Millisecond), closeTook.Round(time.Millisecond), handed.Round(time.Millisecond), dups)
	if len(dups) > 0 {
		t.Errorf("records delivered twice: %v", dups)
	}
	if closeTook < 50*time.Millisecond {
		t.Errorf("Close took %v: it did not wait for the records in hand", closeTook)
	}
}
