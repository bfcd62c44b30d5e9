package kinesin_test

import (
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

// producer puts records round-robin over keys, each carrying its key's
// counter, until stopped.
type producer struct {
	fake *kinesistest.Fake
	keys []string
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	next map[string]int // the next counter of each key
}

func produce(t *testing.T, fake *kinesistest.Fake, keys int) *producer {
	p := &producer{fake: fake, stop: make(chan struct{}), done: make(chan struct{}), next: map[string]int{}}
	for i := range keys {
		p.keys = append(p.keys, fmt.Sprintf("key-%02d", i))
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			for range 4 {
				p.putOne(t)
			}
		}
	}()
	t.Cleanup(p.halt)
	return p
}

func (p *producer) putOne(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := 0
	for _, n := range p.next {
		total += n
	}
	key := p.keys[total%len(p.keys)]
	if _, err := p.fake.Put(testStream, key, itemJSON(item{Key: key, N: p.next[key]})); err != nil {
		t.Error(err)
		return
	}
	p.next[key]++
}

func (p *producer) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

func (p *producer) produced() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := 0
	for _, n := range p.next {
		total += n
	}
	return total
}

// Records of each partition key come in the order they were put, none
// missing, across a split and a merge made while the stream is consumed, and
// every child shard's first record comes after the last record of each of its
// parents.
func TestKeyOrderAcrossSplitAndMerge(t *testing.T) {
	eachMode(t, testKeyOrderAcrossSplitAndMerge)
}

func testKeyOrderAcrossSplitAndMerge(t *testing.T, m mode) {
	fake := m.NewFake(t, 2)
	ctx := testCtx(t, 40*time.Second)
	sp := &spy{Client: fake.Client()}
	st := openNamed(t, m, ctx, testStream, sp, kinesin.JSON[item], kinesin.WithStart(kinesin.Latest))
	c := collect(st, true)
	// Latest: produce once every shard is read.
	eventually(t, 5*time.Second, func() bool { return m.ShardsStarted(fake, sp) == 2 }, "reads of both shards")
	p := produce(t, fake, 40)

	eventually(t, 10*time.Second, func() bool { return c.Count() > 1500 }, "records before the split")
	splitAt := time.Now()
	kids, err := fake.Split(testStream, "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return c.CountOf(kids[0]) > 500 && c.CountOf(kids[1]) > 500 }, "records from the split's children")
	splitLatency := firstAt(c, kids[0], kids[1]).Sub(splitAt)

	// The upper child of shard 0 touches shard 1.
	shards := openShards(t, fake, testStream)
	upper, next := shardByID(shards, kids[1]), shardByID(shards, "shardId-000000000001")
	if !adjacent(upper, next) {
		t.Fatalf("%s and %s are not adjacent: %+v %+v", upper.ID, next.ID, upper, next)
	}
	mergeAt := time.Now()
	merged, err := fake.Merge(testStream, upper.ID, next.ID)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return c.CountOf(merged) > 500 }, "records from the merge's child")
	mergeLatency := firstAt(c, merged).Sub(mergeAt)
	p.halt()
	total := p.produced()
	eventually(t, 10*time.Second, func() bool { return c.Count() >= total }, "%d of %d records", c.Count(), total)

	recs := c.All()
	if len(recs) != total {
		t.Errorf("%d records yielded, %d produced", len(recs), total)
	}
	last := map[string]int{}
	for _, r := range recs {
		want := 0
		if n, ok := last[r.Item.Key]; ok {
			want = n + 1
		}
		if r.Item.N != want {
			t.Fatalf("key %s: counter %d (shard %s) after %d", r.Item.Key, r.Item.N, r.Shard, want-1)
		}
		last[r.Item.Key] = r.Item.N
	}
	for key, n := range p.next {
		if last[key] != n-1 {
			t.Errorf("key %s: last counter yielded %d, produced up to %d", key, last[key], n-1)
		}
	}

	// Lineage: a child's first record after each parent's last.
	all, err := fake.Shards(testStream)
	if err != nil {
		t.Fatal(err)
	}
	children := 0
	for _, sh := range all {
		for _, parent := range []string{sh.ParentShardID, sh.AdjacentParentShardID} {
			if parent == "" {
				continue
			}
			ps, cs := c.Shard(parent), c.Shard(sh.ID)
			if len(ps) == 0 || len(cs) == 0 {
				t.Errorf("shard %s (%d records) or its parent %s (%d) yielded nothing", sh.ID, len(cs), parent, len(ps))
				continue
			}
			children++
			if cs[0].Order <= ps[len(ps)-1].Order {
				t.Errorf("child %s's first record (#%d) was yielded before parent %s's last (#%d)", sh.ID, cs[0].Order, parent, ps[len(ps)-1].Order)
			}
			gap := cs[0].At.Sub(ps[len(ps)-1].At)
			t.Logf("child %s: first record %v after the last of parent %s", sh.ID, gap.Round(time.Millisecond), parent)
		}
	}
	if children != 4 { // two split children with one parent, a merge child with two
		t.Errorf("checked %d parent-child pairs, want 4", children)
	}
	t.Logf("%d records over %d keys; first child record %v after the split, %v after the merge (%s)",
		total, len(p.keys), splitLatency.Round(time.Millisecond), mergeLatency.Round(time.Millisecond), m.Name)
	if splitLatency > 3*time.Second || mergeLatency > 3*time.Second {
		t.Errorf("child records took %v (split) and %v (merge) to flow", splitLatency, mergeLatency)
	}
}

// Shards listed together at Open (a parent with a backlog, its children, a
// grandchild) are read parents first: each key's records in order, and no
// child record before the last of its parents, even though every shard is
// known from the start and the shard list is read again and again.
func TestChildrenListedAtOpenWaitForParents(t *testing.T) {
	eachModeParallel(t, testChildrenListedAtOpenWaitForParents)
}

func testChildrenListedAtOpenWaitForParents(t *testing.T, m mode) {
	fake := m.NewFake(t, 1)
	next := map[string]int{}
	putKeys := func(n int) {
		for i := range n {
			key := fmt.Sprintf("key-%02d", i%30)
			if _, err := fake.Put(testStream, key, itemJSON(item{Key: key, N: next[key]})); err != nil {
				t.Fatal(err)
			}
			next[key]++
		}
	}
	putKeys(3000)
	kids, err := fake.Split(testStream, "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	putKeys(3000)
	grandchild, err := fake.Merge(testStream, kids[0], kids[1])
	if err != nil {
		t.Fatal(err)
	}
	putKeys(1000)
	ctx := testCtx(t, 20*time.Second)
	opts := append([]kinesin.Option{kinesin.WithShardSyncInterval(5 * time.Millisecond)},
		m.Polling(polling.Options{MaxRecords: 100, MinInterval: time.Millisecond, IdleInterval: 5 * time.Millisecond})...)
	st := openStream(t, m, ctx, fake, kinesin.JSON[item], opts...)
	c := collect(st, true)
	eventually(t, 15*time.Second, func() bool { return c.Count() >= 7000 }, "%d of 7000 records", c.Count())
	recs := c.All()
	got := map[string]int{}
	for _, r := range recs {
		if r.Item.N != got[r.Item.Key] {
			t.Fatalf("key %s: counter %d from %s, want %d", r.Item.Key, r.Item.N, r.Shard, got[r.Item.Key])
		}
		got[r.Item.Key]++
	}
	for _, pair := range [][2]string{{"shardId-000000000000", kids[0]}, {"shardId-000000000000", kids[1]}, {kids[0], grandchild}, {kids[1], grandchild}} {
		ps, cs := c.Shard(pair[0]), c.Shard(pair[1])
		if len(ps) == 0 || len(cs) == 0 {
			t.Fatalf("%s or %s yielded nothing", pair[0], pair[1])
		}
		if cs[0].Order <= ps[len(ps)-1].Order {
			t.Errorf("child %s's first record (#%d) before parent %s's last (#%d)", pair[1], cs[0].Order, pair[0], ps[len(ps)-1].Order)
		}
	}
}

// With the default options of each mode, a child's records flow within about
// a second of its parent's end: polling, the parent's reader notices the end
// at its next idle call, at most 500ms later, and the child is read at once;
// EFO, the service pushes the parent's last event at once.
func TestChildLatencyDefaultOptions(t *testing.T) {
	eachMode(t, testChildLatencyDefaultOptions)
}

func testChildLatencyDefaultOptions(t *testing.T, m mode) {
	fake := m.NewFake(t, 1)
	ctx := testCtx(t, 20*time.Second)
	st, err := kinesin.Open(ctx, testStream, kinesin.JSON[item],
		append([]kinesin.Option{kinesin.WithClient(fake.Client()), kinesin.WithStart(kinesin.TrimHorizon)}, m.Defaults()...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := collect(st, true)
	fake.Put(testStream, "a", itemJSON(item{N: 1}))
	eventually(t, 5*time.Second, func() bool { return c.Count() == 1 }, "the first record")

	measure := func(reshard func() []string) time.Duration {
		t.Helper()
		at := time.Now()
		kids := reshard()
		// A record for each child: keys until every child got one.
		got := map[string]bool{}
		for i := 0; len(got) < len(kids); i++ {
			res, err := fake.Put(testStream, fmt.Sprintf("k%d", i), itemJSON(item{N: i}))
			if err != nil {
				t.Fatal(err)
			}
			got[res.ShardID] = true
		}
		eventually(t, 10*time.Second, func() bool {
			for _, k := range kids {
				if c.CountOf(k) == 0 {
					return false
				}
			}
			return true
		}, "records of %v", kids)
		return firstAt(c, kids...).Sub(at)
	}
	var kids [2]string
	split := measure(func() []string {
		var err error
		if kids, err = fake.Split(testStream, "shardId-000000000000"); err != nil {
			t.Fatal(err)
		}
		return kids[:]
	})
	merge := measure(func() []string {
		m, err := fake.Merge(testStream, kids[0], kids[1])
		if err != nil {
			t.Fatal(err)
		}
		return []string{m}
	})
	t.Logf("default %s: first child record %v after a split, %v after a merge", m.Name, split.Round(time.Millisecond), merge.Round(time.Millisecond))
	if split > 3*time.Second || merge > 3*time.Second {
		t.Errorf("child records flowed %v after a split, %v after a merge: want about a second", split, merge)
	}
}

// Once every record of a split parent is committed, the store holds the
// shard-end marker for it (written without waiting for the interval), and a
// restart does not read the parent again.
func TestShardEndMarker(t *testing.T) {
	eachModeParallel(t, testShardEndMarker)
}

func testShardEndMarker(t *testing.T, m mode) {
	fake := m.NewFake(t, 1)
	const parent = "shardId-000000000000"
	parentSeqs := fillShards(t, fake, testStream, 20)[parent]
	store := memcheckpoint.New()
	ctx := testCtx(t, 20*time.Second)
	st := openStream(t, m, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))
	c := collect(st, false)
	eventually(t, 5*time.Second, func() bool { return c.Count() == 20 }, "the parent's records")
	kids, err := fake.Split(testStream, parent)
	if err != nil {
		t.Fatal(err)
	}
	childSeqs := fillShards(t, fake, testStream, 5)
	eventually(t, 5*time.Second, func() bool { return c.Count() == 30 }, "the children's records")

	// Everything but the parent's last record committed: no marker.
	var last *kinesin.Record[item]
	for _, r := range c.TakePending() {
		if r.SequenceNumber == parentSeqs[19] {
			last = r
			continue
		}
		r.Commit()
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cp := load(t, store)[parent]; cp != checkpoint.At(parentSeqs[18]) {
		t.Fatalf("parent checkpoint %v with its last record uncommitted, want %s", cp, parentSeqs[18])
	}
	last.Commit()
	eventually(t, 5*time.Second, func() bool { return load(t, store)[parent].ShardEnded }, "the shard-end marker of %s", parent)
	for _, k := range kids {
		if cp := load(t, store)[k]; cp != checkpoint.At(childSeqs[k][4]) {
			t.Errorf("child %s checkpoint %v, want %s", k, cp, childSeqs[k][4])
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: the parent is not read, the children resume after their
	// checkpoints.
	sp := &spy{Client: fake.Client()}
	parentReads := len(m.Starts(fake, sp, parent))
	st2 := openNamed(t, m, ctx, testStream, sp, kinesin.JSON[item], kinesin.WithCheckpointer(store))
	c2 := collect(st2, true)
	more := fillShards(t, fake, testStream, 3)
	eventually(t, 5*time.Second, func() bool { return c2.Count() == 6 }, "new records after the restart, got %d", c2.Count())
	for _, k := range kids {
		checkShardOrder(t, k, c2.Shard(k), more[k])
	}
	if its := m.Starts(fake, sp, parent); len(its) != parentReads {
		t.Errorf("the ended parent was read again after the restart: %v", its[parentReads:])
	}
	if n := c2.CountOf(parent); n != 0 {
		t.Errorf("%d parent records delivered again", n)
	}
}

// firstAt returns when the first record of any of the shards was yielded.
func firstAt(c *collector, shards ...string) time.Time {
	var first time.Time
	for _, id := range shards {
		if s := c.Shard(id); len(s) > 0 && (first.IsZero() || s[0].At.Before(first)) {
			first = s[0].At
		}
	}
	return first
}

// adjacent reports whether b's hash key range starts right after a's.
func adjacent(a, b kinesistest.ShardInfo) bool {
	end, ok1 := new(big.Int).SetString(a.EndingHashKey, 10)
	start, ok2 := new(big.Int).SetString(b.StartingHashKey, 10)
	return ok1 && ok2 && end.Add(end, big.NewInt(1)).Cmp(start) == 0
}
