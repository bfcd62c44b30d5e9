package kinesin_test

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/internal/streamtest"
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
		// partition key, sequence number and 128 bytes.
		budgetOverhead = 1 + 56 + 128
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
	// records, each open subscription (EFO) holds the buffers of its event
	// stream, about one event: the documented overshoot.
	if grown > 3*budget {
		t.Errorf("the heap grew by %d MiB while the budget is %d MiB (3 times it allowed)", grown>>20, budget>>20)
	}
	recsMu.Lock()
	runtime.KeepAlive(recs)
	recsMu.Unlock()
}
