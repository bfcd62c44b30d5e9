package leasing_test

// Reproductions of two lease defects of issue 12, found by the chaos soak
// (internal/chaos): resharding lineage that the Manager loses.

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/internal/leasing"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

// A finished shard is never read again, however stale the shard list a
// scheduler syncs.
//
// P1 and P2 are merged into C. A worker reads P1 and P2 to their end, then
// C. A scheduler then syncs a shard list from before the merge (P1 and P2,
// not C), as one does with the shards it knows, listed up to
// ShardSyncInterval ago. P1 and P2 must not get leases again: read from
// their start, every record of both would be delivered twice. Their ended
// leases are kept while the shards are in the stream, so Sync finds them;
// once the shards left the stream (past retention) and a complete listing
// says so, the leases are deleted.
func TestReproSyncStaleListResurrectsFinishedShards(t *testing.T) {
	const n = 10 // records in each parent
	shards := []*shardModel{
		{id: shardID(1), last: n},
		{id: shardID(2), last: n},
		{id: shardID(3), parents: []string{shardID(1), shardID(2)}, hidden: true},
	}
	c := newCluster(t, memlease.New(), shards)
	w := c.add("w1")
	p1, p2, child := shardID(1), shardID(2), shardID(3)
	c.until("the child's first checkpoint", 10*cycle+leaseDur, func() bool { return c.leases()[child].HasCheckpoint() })
	c.run(3 * cycle)
	for _, id := range []string{p1, p2} {
		if l, ok := c.leases()[id]; !ok || !l.Ended() {
			t.Errorf("the lease of %s, read to its end and still in the stream, is %v (present: %v); want it kept, ended", id, l, ok)
		}
	}
	if d := c.duplicates(p1, p2); d != 0 {
		t.Fatalf("%d records of the parents processed twice before the stale sync, want 0", d)
	}

	for _, complete := range []bool{false, true} {
		stale := []leasing.Shard{{ID: p1}, {ID: p2}}
		created, err := w.m.Sync(t.Context(), stale, complete)
		if err != nil {
			t.Fatalf("Sync(%v, %v): %v", stale, complete, err)
		}
		c.run(3 * cycle)
		if dups := c.duplicates(p1, p2); created != 0 || dups != 0 {
			t.Errorf("a stale shard list (%s and %s, listed before their merge into %s, complete %v) was synced after both were read to their end: "+
				"Sync created %d leases; in the next %v, %d of the parents' %d records were processed a second time. "+
				"Want no lease created and no record read twice: a finished shard is never read again",
				p1, p2, child, complete, created, 3*cycle, dups, 2*n)
		}
	}
	// Past retention, the parents leave the listing: their leases go.
	c.shards[p1].trimmed, c.shards[p2].trimmed = true, true
	if _, err := w.m.Sync(t.Context(), c.listed(), true); err != nil {
		t.Fatal(err)
	}
	c.until("the parents' leases deleted once they left the stream", 3*cycle, func() bool {
		ls := c.leases()
		_, has1 := ls[p1]
		_, has2 := ls[p2]
		return !has1 && !has2
	})
}

// Parents before children holds through a chain of resharding: a child is
// not read while a grandparent still has records to deliver.
//
// G is split into P2 and P3, then P1 and P2 are merged into C. The worker
// reading P1 reaches its end and learns C from ChildShards, C naming P1 and
// P2 as parents; its shard list does not show P2 yet (it was listed before
// G's split). It syncs C, with parents P1 and P2: P2 has no lease, so C gets
// none yet. The complete listing that follows shows P2 (a child of G) and
// creates its lease, then C's: C waits for G, then P2, to be read to their
// end.
func TestReproGrandparentReadAfterGrandchild(t *testing.T) {
	g, p1, p2, p3, child := shardID(0), shardID(1), shardID(2), shardID(3), shardID(4)
	shards := []*shardModel{
		{id: g, last: 200}, // 20 s of reading at a record a tick
		{id: p1, last: 3},
		{id: p2, parents: []string{g}, last: 2, hidden: true},
		{id: p3, parents: []string{g}, hidden: true},
		{id: child, parents: []string{p1, p2}, hidden: true},
	}
	c := newCluster(t, memlease.New(), shards)
	c.add("w1")
	c.until("the grandparent read to its end", 30*time.Second, func() bool { return c.shards[g].endedAt >= 0 })
	c.run(3 * cycle) // what follows G's end: P2, P3, then C

	gEnded := time.Duration(c.shards[g].endedAt)
	var early []string
	for _, a := range c.acquired[child] {
		if a.at < gEnded {
			early = append(early, fmt.Sprintf("by %s at %v", a.worker, a.at))
		}
	}
	p2Read := c.shards[p2].processed[c.shards[p2].last] > 0
	if len(early) > 0 || !p2Read {
		leases := c.leases()
		var table []string
		for _, id := range slices.Sorted(maps.Keys(leases)) {
			table = append(table, leases[id].String())
		}
		t.Errorf("%s (child of %s and %s; %s a child of %s) was acquired %s, before its grandparent %s was read to its end (at %v, %d records); "+
			"%s read to its end: %v. Want %s read only after %s, then %s. Lease table now: %s",
			child, p1, p2, p2, g, strings.Join(early, ", "), g, gEnded, c.shards[g].last,
			p2, p2Read, child, g, p2, strings.Join(table, "; "))
	}
}
