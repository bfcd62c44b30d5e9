package kinesin_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/internal/streamtest"
	"github.com/kinesin-go/kinesin/polling"
)

// TestMemoryBudgetHoldsWithoutCommits: a consumer that never commits, on 512
// shards of 1 MiB records (512 MiB in all), holds at most its memory budget
// of records (64 MiB here), by the stream's own count (Stats.MemoryHeld,
// sampled all along) and by the Go heap, and still gets a budget's worth of
// records: reads wait for room, they do not stop.
func TestMemoryBudgetHoldsWithoutCommits(t *testing.T) {
	if testing.Short() {
		t.Skip("puts 512 MiB of records")
	}
	eachMode(t, testMemoryBudgetHoldsWithoutCommits)
}

func testMemoryBudgetHoldsWithoutCommits(t *testing.T, m mode) {
	const (
		shards = 512
		size   = 1<<20 - 64 // data; with its partition key, a record of at most 1 MiB
		budget = 64 << 20
		// budgetOverhead is what a record counts for besides its data: its
		// partition key, sequence number and 224 bytes (budget.Overhead).
		budgetOverhead = 1 + 56 + 224
	)
	fake := m.NewFake(t, shards)
	data := []byte(strings.Repeat("x", size))
	for _, sh := range openShards(t, fake, testStream) {
		if _, err := fake.PutWithHashKey(testStream, "k", sh.StartingHashKey, data); err != nil {
			t.Fatal(err)
		}
	}
	data = nil
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	st := openStream(t, m, testCtx(t, 2*time.Minute), fake, kinesin.Bytes, kinesin.WithMemoryBudget(budget))
	var (
		mu      sync.Mutex
		maxHeld int64
		stop    = make(chan struct{})
		sampled = make(chan struct{})
	)
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := st.Stats()
			mu.Lock()
			maxHeld = max(maxHeld, s.MemoryHeld)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	ch := st.Chan()
	var recs []*kinesin.Record[[]byte]
	var recsMu sync.Mutex
	go func() {
		for r := range ch { // never committed
			recsMu.Lock()
			recs = append(recs, r)
			recsMu.Unlock()
		}
	}()
	count := func() int {
		recsMu.Lock()
		defer recsMu.Unlock()
		return len(recs)
	}
	// Reads stop when the budget is held: the count settles.
	// A budget's worth of records comes (one record short at most: a fetch
	// is granted room for a whole record), then reads stop: the count
	// settles.
	full := int(budget/(size+budgetOverhead)) - 1
	eventually(t, 2*time.Minute, func() bool { return count() >= full }, "%d records, a budget's worth", full)
	n := streamtest.Settle(t, time.Minute, time.Second, count)
	close(stop)
	<-sampled

	runtime.GC()
	runtime.GC() // a second cycle: buffers left in sync.Pools are reclaimable, not held
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	s := st.Stats()
	t.Logf("%s: %d records of %d bytes delivered and held; Stats.MemoryHeld %d (max seen %d) of %d; heap grew %d MiB",
		m.Name, n, size, s.MemoryHeld, maxHeld, s.MemoryBudget, grown>>20)
	if s.MemoryBudget != budget {
		t.Errorf("Stats.MemoryBudget = %d, want %d", s.MemoryBudget, budget)
	}
	if maxHeld > budget {
		t.Errorf("the stream held %d bytes, over its budget of %d", maxHeld, budget)
	}
	if int64(n)*size > budget {
		t.Errorf("%d records of %d bytes delivered and not committed: %d bytes, over the budget of %d", n, size, int64(n)*size, budget)
	}
	// The records held are in the heap, and not much else: no fetch went
	// past the budget (the fake's copies were there before). Besides the
	// records, each open subscription (EFO) may hold an event it received
	// before room was granted for its records: the documented overshoot,
	// up to a record of each shard here (how many do depends on timing: a
	// third of them, run without the race detector).
	allowed := int64(3 * budget)
	if m.EFO {
		allowed += shards * size
	}
	if grown > allowed {
		t.Errorf("the heap grew by %d MiB while the budget is %d MiB (%d MiB allowed)", grown>>20, budget>>20, allowed>>20)
	}
	recsMu.Lock()
	runtime.KeepAlive(recs)
	recsMu.Unlock()
}

// TestMemoryBudgetCountsSmallRecords: what the budget counts for a record
// (its data, partition key and sequence number, and budget.Overhead for its
// own structures) is what it takes in the heap, delivered and not
// committed, for small records too, where the structures weigh most: 20,000
// records of 200 bytes, never committed, take at most 10% more heap than
// Stats.MemoryHeld says (with 128 bytes of overhead counted it was 25%).
func TestMemoryBudgetCountsSmallRecords(t *testing.T) {
	const n = 20_000
	fake := newFake(t, 1)
	data := make([]byte, 200)
	for range n {
		if _, err := fake.Put(testStream, "kkkk", data); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	st := openStream(t, pollingMode, testCtx(t, time.Minute), fake, kinesin.Bytes,
		kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithMemoryBudget(1<<30), kinesin.WithMaxUncommitted(2*n))
	recs := make([]*kinesin.Record[[]byte], 0, n)
	for r := range st.Chan() { // never committed
		if recs = append(recs, r); len(recs) == n {
			break
		}
	}
	// The reader is at the tip: nothing more is being fetched.
	streamtest.Settle(t, time.Minute, 100*time.Millisecond, func() int { return int(st.Stats().MemoryHeld) })
	runtime.GC()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	held := st.Stats().MemoryHeld
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc) - int64(cap(recs))*8
	t.Logf("%d records of %d bytes: %d bytes of heap each, %d counted", n, len(data), grown/n, held/n)
	if grown > held*11/10 {
		t.Errorf("the records take %d bytes of heap, %.2f times the %d the budget counts", grown, float64(grown)/float64(held), held)
	}
	runtime.KeepAlive(recs)
}

// TestIdleShardsHoldNoRoom: a read waiting for records holds none of the
// memory budget, so that shards with nothing to read do not keep the others
// from reading. Before any record is seen a record counts as 1 MiB, so a
// budget of 4 MiB grants 4 fetches at a time: 16 empty shards must still all
// be read (a GetRecords call each, or a subscription each), and the budget
// must be back to nothing held, no shard paused for it. A record put on
// each shard then comes.
func TestIdleShardsHoldNoRoom(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		const shards = 16
		fake := m.NewFake(t, shards)
		// Polling: a shard found empty is not called again for a minute, so
		// each shard makes one call within the test, and a read that held
		// its room through that wait would hold it for the minute.
		st := openStream(t, m, testCtx(t, time.Minute), fake, kinesin.JSON[item], append(
			m.Polling(polling.Options{MinInterval: time.Millisecond, IdleInterval: time.Minute}),
			kinesin.WithMemoryBudget(4<<20), kinesin.WithStart(kinesin.TrimHorizon))...)
		calls := func() int {
			if m.EFO {
				return fake.Calls("SubscribeToShard")
			}
			return fake.Calls("GetRecords")
		}
		idle := func() bool {
			s := st.Stats()
			if s.MemoryHeld != 0 {
				return false
			}
			for _, sh := range s.Shards {
				if sh.State == kinesin.ShardPaused {
					return false
				}
			}
			return true
		}
		eventually(t, 20*time.Second, func() bool { return calls() >= shards && idle() },
			"every shard read once, nothing held, no shard paused")
		if m.EFO {
			// Every shard is subscribed: a record on each comes.
			c := collect(st, true)
			for i, sh := range openShards(t, fake, testStream) {
				if _, err := fake.PutWithHashKey(testStream, "k", sh.StartingHashKey, fmt.Appendf(nil, `{"shard":%d,"n":1}`, i)); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, 20*time.Second, func() bool { return c.Count() == shards }, "a record of each shard")
		}
	})
}
