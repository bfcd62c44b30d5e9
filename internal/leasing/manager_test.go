package leasing_test

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/leasing"
	"github.com/kinesin-go/kinesin/lease"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startThree starts three workers over 12 shards and waits until each reads
// 4, returning the simulated time that took.
func startThree(t *testing.T, c *cluster) time.Duration {
	t.Helper()
	c.add("w1")
	c.add("w2")
	c.add("w3")
	return c.until("4/4/4", 10*cycle, c.balanced(4, 4, 4))
}

// TestEvenSplit: three workers share 12 shards 4/4/4 and keep it so.
func TestEvenSplit(t *testing.T) {
	forEachStore(t, func(t *testing.T, store lease.Store) {
		c := newCluster(t, store, openShards(12))
		took := startThree(t, c)
		t.Logf("3 workers started together over 12 shards: 4/4/4 after %s", cycles(took))
		// Steady state: nothing moves any more.
		events := 0
		for _, n := range c.nodes {
			events += len(n.events)
		}
		c.run(3 * leaseDur)
		for _, n := range c.nodes {
			events -= len(n.events)
		}
		if events != 0 || !c.balanced(4, 4, 4)() {
			t.Errorf("in steady state %d events and loads %v, want none and 4/4/4", -events, c.loads())
		}
		for id, l := range c.leases() {
			if l.Owner == "" || !l.HasCheckpoint() {
				t.Errorf("lease %s: %v, want owned and checkpointed", id, l)
			}
		}
		if d := c.duplicates(); d != 0 {
			t.Errorf("%d records processed twice, want 0: every move was a handoff", d)
		}
	})
}

// TestFailover: a worker killed without Close loses its shards to the others
// within LeaseDuration plus one cycle.
func TestFailover(t *testing.T) {
	forEachStore(t, func(t *testing.T, store lease.Store) {
		c := newCluster(t, store, openShards(12))
		startThree(t, c)
		c.run(3 * time.Second)
		victim := c.nodes[1]
		orphans := slices.Sorted(maps.Keys(victim.reading))
		uncommitted := 0
		for _, rs := range victim.reading {
			uncommitted += rs.pos - rs.committed
		}
		killedAt := c.now
		c.kill(victim)
		took := c.until("the dead worker's shards read again", leaseDur+2*cycle, func() bool {
			for _, id := range orphans {
				if c.reader(id) == nil {
					return false
				}
			}
			return true
		})
		var first, last time.Duration = -1, 0
		for _, id := range orphans {
			a := c.acquired[id][len(c.acquired[id])-1]
			if first < 0 || a.at-killedAt < first {
				first = a.at - killedAt
			}
			last = max(last, a.at-killedAt)
		}
		t.Logf("worker killed: its %d shards owned and read again %v to %v after the kill (bound: LeaseDuration %v + one cycle %v)",
			len(orphans), first, last, leaseDur, cycle)
		if took > leaseDur+cycle {
			t.Errorf("failover took %v, want at most %v", took, leaseDur+cycle)
		}
		c.until("6/6", 3*cycle, c.balanced(6, 6))
		dups := c.duplicates()
		t.Logf("duplicates: %d records processed twice (the dead worker's %d processed, uncommitted records)", dups, uncommitted)
		if dups != uncommitted {
			t.Errorf("%d duplicates, want exactly the %d records the dead worker processed and did not commit", dups, uncommitted)
		}
	})
}

// TestJoinRebalances: a fourth worker gets its share, 3/3/3/3, by its second
// cycle, through handoffs: no record is processed twice.
func TestJoinRebalances(t *testing.T) {
	forEachStore(t, func(t *testing.T, store lease.Store) {
		c := newCluster(t, store, openShards(12))
		startThree(t, c)
		c.run(3 * time.Second)
		before := c.handoffs
		w4 := c.add("w4")
		first := len(w4.reading)
		took := c.until("3/3/3/3", 4*cycle, c.balanced(3, 3, 3, 3))
		t.Logf("4th worker joined: %d shards after its first cycle, 3/3/3/3 %v after it joined (its cycle %d), %d handoffs",
			first, took, int(took/cycle)+1, c.handoffs-before)
		if took > cycle {
			t.Errorf("rebalanced %v after the join, want by the new worker's second cycle (%v)", took, cycle)
		}
		c.run(3 * leaseDur)
		if !c.balanced(3, 3, 3, 3)() {
			t.Errorf("loads %v after a while, want 3/3/3/3", c.loads())
		}
		if d := c.duplicates(); d != 0 {
			t.Errorf("%d records processed twice, want 0", d)
		}
	})
}

// TestPlannedClose: a worker that closes hands its shards over at exactly
// their checkpoints.
func TestPlannedClose(t *testing.T) {
	forEachStore(t, func(t *testing.T, store lease.Store) {
		c := newCluster(t, store, openShards(12))
		startThree(t, c)
		c.run(3 * time.Second)
		leaving := c.nodes[2]
		moved := slices.Sorted(maps.Keys(leaving.reading))
		positions := map[string]int{}
		for id, rs := range leaving.reading {
			positions[id] = rs.pos
		}
		closedAt := c.now
		c.closeNode(leaving)
		ls := c.leases()
		for _, id := range moved {
			if ls[id].Owner != "" {
				t.Errorf("lease %s after Close: %v, want free", id, ls[id])
			}
		}
		took := c.until("6/6", 2*cycle, c.balanced(6, 6))
		t.Logf("worker closed: its %d shards read again %v after Close", len(moved), took)
		if took > cycle {
			t.Errorf("took %v, want at most one cycle", took)
		}
		for _, id := range moved {
			a := c.acquired[id][len(c.acquired[id])-1]
			if a.from != positions[id]+1 || a.at < closedAt {
				t.Errorf("shard %s: next owner %s starts at record %d, want %d, right after the closed worker's last",
					id, a.worker, a.from, positions[id]+1)
			}
		}
		if d := c.duplicates(); d != 0 {
			t.Errorf("%d records processed twice, want 0 on a planned move", d)
		}
	})
}

// TestZombie: a worker paused past its lease duration cannot write a
// checkpoint once resumed, and learns it lost its leases.
func TestZombie(t *testing.T) {
	forEachStore(t, func(t *testing.T, store lease.Store) {
		c := newCluster(t, store, openShards(12))
		startThree(t, c)
		c.run(3 * time.Second)
		zombie := c.nodes[0]
		held := slices.Sorted(maps.Keys(zombie.reading))
		zombie.frozen = true
		pausedAt := c.now
		c.until("the paused worker's shards read by others", leaseDur+2*cycle, func() bool {
			for _, id := range held {
				if c.reader(id) == nil {
					return false
				}
			}
			return true
		})
		c.run(2 * time.Second)
		before := c.leases()

		// The zombie resumes. Its scheduler, unaware, commits what it had
		// processed, and more: every write is refused.
		zombie.frozen = false
		for _, id := range held {
			err := zombie.m.Checkpoint(t.Context(), id, checkpoint.At("999999999"))
			if !errors.Is(err, lease.ErrLost) {
				t.Errorf("zombie's Checkpoint of %s = %v, want ErrLost", id, err)
			}
		}
		after := c.leases()
		for _, id := range held {
			if after[id].Checkpoint != before[id].Checkpoint || after[id].Owner == zombie.id {
				t.Errorf("lease %s after the zombie's write: %v, want %v", id, after[id], before[id])
			}
		}
		// Its clock jumps by the pause; its Manager wakes up.
		zombie.clock.Advance(c.now - pausedAt)
		c.settle(zombie)
		lost := map[string]bool{}
		for _, ev := range zombie.events {
			if ev.Kind == leasing.Lost {
				lost[ev.Lease.Shard] = true
			}
		}
		if len(lost) != len(held) || len(zombie.reading) != 0 {
			t.Errorf("zombie: Lost for %v, reads %v; want Lost for all of %v", slices.Sorted(maps.Keys(lost)), zombie.reading, held)
		}
		if h := zombie.m.Held(); len(h) != 0 {
			t.Errorf("zombie holds %v, want nothing", h)
		}
		t.Logf("zombie paused %v: %d checkpoint writes refused with ErrLost, Lost for its %d shards", c.now-pausedAt, len(held), len(lost))
		// It takes part again as a live worker.
		took := c.until("4/4/4 again", 4*cycle, c.balanced(4, 4, 4))
		t.Logf("back to 4/4/4 %v after the zombie resumed", took)
		if d := c.duplicates(); d > len(held)*commitEvery {
			t.Errorf("%d duplicates, want at most the zombie's uncommitted records", d)
		}
	})
}

// TestReshard: a merge child is taken only after both parents ended, split
// children after their parent; ended leases are kept while their shards are
// listed (never created again) and deleted once they left the stream and
// their children have checkpoints.
func TestReshard(t *testing.T) {
	forEachStore(t, func(t *testing.T, store lease.Store) {
		a, b, merged := shardID(0), shardID(1), shardID(2)
		p, c1, c2 := shardID(3), shardID(4), shardID(5)
		shards := []*shardModel{
			{id: a, last: 20},
			{id: b, last: 45},
			{id: merged, parents: []string{a, b}, hidden: true},
			{id: p, last: 30},
			{id: c1, parents: []string{p}, hidden: true},
			{id: c2, parents: []string{p}, hidden: true},
			{id: shardID(6)},
			{id: shardID(7)},
		}
		c := newCluster(t, store, shards)
		c.add("w1")
		c.add("w2")
		sh := c.shards
		c.until("the first parent ended", 10*time.Second, func() bool { return sh[a].endedAt >= 0 })
		// A ended, B has not: the merge child stays free.
		for sh[b].endedAt < 0 {
			if l, ok := c.leases()[merged]; ok && l.Owner != "" {
				t.Fatalf("merge child taken at %v while parent %s is not ended: %v", c.now, b, l)
			}
			c.step()
		}
		c.until("every child read", 2*cycle, func() bool {
			return c.reader(merged) != nil && c.reader(c1) != nil && c.reader(c2) != nil
		})
		for _, x := range []struct {
			child   string
			parents []string
		}{{merged, []string{a, b}}, {c1, []string{p}}, {c2, []string{p}}} {
			acq := c.acquired[x.child][0]
			for _, parent := range x.parents {
				if acq.at < sh[parent].endedAt {
					t.Errorf("%s acquired at %v, before its parent %s ended at %v", x.child, acq.at, parent, sh[parent].endedAt)
				}
			}
			t.Logf("%s acquired at %v, %v after its last parent ended", x.child, acq.at, acq.at-maxEnded(sh, x.parents))
		}
		// The ended leases stay while their shards are listed: no worker,
		// however stale its list, creates them again.
		c.run(2 * cycle)
		for _, id := range []string{a, b, p} {
			if l, ok := c.leases()[id]; !ok || !l.Ended() {
				t.Errorf("ended lease %s is %v (present %v) while its shard is still listed, want it kept", id, l, ok)
			}
		}
		created, err := c.nodes[0].m.Sync(t.Context(), c.listed(), true)
		if err != nil || created != 0 {
			t.Errorf("Sync of the parents read to their end created %d leases (%v), want none", created, err)
		}
		// Past retention, the shards leave the listing: their leases go.
		for _, id := range []string{a, b, p} {
			c.shards[id].trimmed = true
		}
		for _, n := range c.running() {
			if _, err := n.m.Sync(t.Context(), c.listed(), true); err != nil {
				t.Fatal(err)
			}
		}
		c.until("ended leases cleaned up", 2*cycle, func() bool {
			ls := c.leases()
			_, okA := ls[a]
			_, okB := ls[b]
			_, okP := ls[p]
			return !okA && !okB && !okP
		})
		t.Logf("ended leases deleted by %v", c.now)
		c.run(2 * cycle)
		if d := c.duplicates(); d != 0 {
			t.Errorf("%d records processed twice, want 0", d)
		}
		for _, id := range []string{a, b, p} {
			if got := len(c.shards[id].processed); got != c.shards[id].last {
				t.Errorf("parent %s: %d records processed, want all %d", id, got, c.shards[id].last)
			}
		}
		if !c.balanced(3, 2)() && !c.balanced(2, 3)() {
			t.Errorf("loads %v over 5 open shards, want 3/2", c.loads())
		}
	})
}

func maxEnded(sh map[string]*shardModel, ids []string) time.Duration {
	var m time.Duration
	for _, id := range ids {
		m = max(m, sh[id].endedAt)
	}
	return m
}
