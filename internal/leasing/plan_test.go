package leasing

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const ld = 10 * time.Second

// world builds plan inputs: leases and workers observed at t0, then
// listed again at now.
type world struct {
	self    string
	leases  []Lease
	workers []Worker
	mine    map[string]bool
	// stale: leases (by shard) and workers (by id) whose counters did not
	// change since t0.
	staleLeases  map[string]bool
	gone         map[string]bool // the shards gone from the stream
	staleWorkers map[string]bool
	maxSteals    int
}

func newWorld(self string) *world {
	return &world{self: self, mine: map[string]bool{}, staleLeases: map[string]bool{}, staleWorkers: map[string]bool{}}
}

// owned adds n leases owned by owner.
func (w *world) owned(owner string, n int) *world {
	for range n {
		id := fmt.Sprintf("s%03d", len(w.leases))
		w.leases = append(w.leases, Lease{Shard: id, Owner: owner, Counter: 5})
		if owner == w.self {
			w.mine[id] = true
		}
	}
	return w
}

func (w *world) worker(ids ...string) *world {
	for _, id := range ids {
		w.workers = append(w.workers, Worker{ID: id, Counter: 1})
	}
	return w
}

// plan observes the world at t0, bumps every counter not stale, and plans
// at t0+ld (so that stale leases and rows are expired).
func (w *world) plan() plan {
	o := newObserver()
	o.observe(t0, w.leases, w.workers)
	now := t0.Add(ld)
	leases := slices.Clone(w.leases)
	for i := range leases {
		if !w.staleLeases[leases[i].Shard] {
			leases[i].Counter++
		}
	}
	workers := slices.Clone(w.workers)
	for i := range workers {
		if !w.staleWorkers[workers[i].ID] {
			workers[i].Counter++
		}
	}
	o.observe(now.Add(-time.Second), leases, workers)
	return makePlan(planInput{
		self: w.self, now: now, leaseDuration: ld, workerRetention: 5 * ld, maxSteals: w.maxSteals,
		leases: leases, workers: workers, mine: w.mine, busy: w.mine, gone: w.gone, obs: &o,
	})
}

func shards(ls []Lease) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Shard)
	}
	return out
}

func owners(ls []Lease) map[string]int {
	out := map[string]int{}
	for _, l := range ls {
		out[l.Owner]++
	}
	return out
}

func TestPlanTargetAndFreeFirst(t *testing.T) {
	w := newWorld("me").worker("a", "b", "me").owned("a", 3).owned("b", 3).owned("", 6)
	p := w.plan()
	if p.readable != 12 || p.target != 4 || len(p.live) != 3 {
		t.Fatalf("readable %d target %d live %v, want 12, 4, 3 workers", p.readable, p.target, p.live)
	}
	if len(p.take) != 4 || owners(p.take)[""] != 4 || len(p.steal) != 0 {
		t.Errorf("take %v steal %v, want 4 free leases and no steal", p.take, p.steal)
	}
}

func TestPlanExpiredAfterFree(t *testing.T) {
	w := newWorld("me").worker("a", "me").owned("a", 4).owned("dead", 4).owned("", 1)
	for _, l := range w.leases[4:8] {
		w.staleLeases[l.Shard] = true
	}
	p := w.plan()
	// dead owns expired leases: not live. 9 readable / 2 workers = 5.
	if slices.Contains(p.live, "dead") || p.target != 5 {
		t.Fatalf("live %v target %d, want dead excluded and target 5", p.live, p.target)
	}
	if len(p.take) != 5 || p.take[0].Owner != "" {
		t.Fatalf("take %v, want the free lease first, then 4 expired", p.take)
	}
	if got := owners(p.take); got["dead"] != 4 {
		t.Errorf("take owners %v, want the 4 expired leases of dead", got)
	}
}

func TestPlanReclaimsOwnLeasesFirst(t *testing.T) {
	w := newWorld("me").worker("me").owned("me", 2).owned("", 2)
	w.mine = map[string]bool{} // a restart: the table says me, the process holds nothing
	p := w.plan()
	if len(p.take) != 4 || p.take[0].Owner != "me" || p.take[1].Owner != "me" {
		t.Errorf("take %v, want my own two leases first", p.take)
	}
}

func TestPlanSteal(t *testing.T) {
	for _, tc := range []struct {
		name      string
		loads     map[string]int
		maxSteals int
		want      map[string]int // steals by victim
	}{
		{"new worker among three", map[string]int{"a": 4, "b": 4, "c": 4}, 0, map[string]int{"a": 1, "b": 1, "c": 1}},
		{"bounded", map[string]int{"a": 4, "b": 4, "c": 4}, 2, map[string]int{"a": 1, "b": 1}},
		{"only from the most loaded", map[string]int{"a": 8, "b": 2, "c": 2}, 0, map[string]int{"a": 3}},
		{"5 workers 3/3/3/3: two steals, then balanced", map[string]int{"a": 3, "b": 3, "c": 3, "d": 3}, 0, map[string]int{"a": 1, "b": 1}},
		{"off by one: no ping-pong", map[string]int{"a": 2, "b": 2, "me": 1}, 0, nil},
		{"new worker, one lease each", map[string]int{"a": 2, "b": 1}, 0, map[string]int{"a": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld("me").worker("me")
			w.owned("me", tc.loads["me"])
			for _, o := range []string{"a", "b", "c", "d"} {
				if n := tc.loads[o]; n > 0 {
					w.worker(o).owned(o, n)
				}
			}
			w.maxSteals = tc.maxSteals
			p := w.plan()
			got := owners(p.steal)
			if len(got) == 0 {
				got = nil
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("steals by victim %v, want %v (target %d)", got, tc.want, p.target)
			}
		})
	}
}

func TestPlanPromisedCountsAsHeld(t *testing.T) {
	w := newWorld("me").worker("a", "me").owned("a", 4)
	w.leases[0].NextOwner = "me"
	w.leases[1].NextOwner = "me"
	p := w.plan()
	if p.held != 2 || len(p.steal) != 0 {
		t.Errorf("held %d steal %v, want the 2 promised leases counted and no more asked (target %d)", p.held, p.steal, p.target)
	}
	// A lease promised to another worker is not stolen again.
	w = newWorld("me").worker("a", "b", "me").owned("a", 6)
	for i := range 6 {
		w.leases[i].NextOwner = "b"
	}
	if p := w.plan(); len(p.steal) != 0 {
		t.Errorf("steal %v of leases promised to b, want none", p.steal)
	}
}

func TestPlanLiveWorkers(t *testing.T) {
	// A worker with a live row and nothing owned counts; one whose row
	// stopped does not; an owner of unexpired leases counts without a row.
	w := newWorld("me").worker("me", "idle", "gone").owned("norow", 2).owned("", 4)
	w.staleWorkers["gone"] = true
	p := w.plan()
	if want := []string{"idle", "me", "norow"}; !slices.Equal(p.live, want) {
		t.Errorf("live %v, want %v", p.live, want)
	}
	if p.target != 2 {
		t.Errorf("target %d, want ceil(6/3) = 2", p.target)
	}
}

func TestPlanParentsBeforeChildren(t *testing.T) {
	cp := checkpoint.At("5")
	ls := []Lease{
		{Shard: "a", Checkpoint: checkpoint.Ended()},
		{Shard: "b", Owner: "x", Checkpoint: cp},
		{Shard: "merged", Parents: []string{"a", "b"}},
		{Shard: "p", Checkpoint: checkpoint.Ended()},
		{Shard: "c1", Parents: []string{"p"}},
		{Shard: "orphan", Parents: []string{"gone"}},
	}
	got := readableLeases(ls)
	want := map[string]bool{"b": true, "c1": true, "orphan": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("readable %v, want %v: not ended, parents ended or gone", got, want)
	}
}

// TestPlanCleanup: ended leases are deleted once their shard left the stream
// and every child has a checkpoint; until then they are kept, so that no
// worker creates them again.
func TestPlanCleanup(t *testing.T) {
	ended := checkpoint.Ended()
	w := newWorld("me").worker("me")
	w.leases = []Lease{
		{Shard: "p1", Checkpoint: ended, Counter: 3},                           // both children started
		{Shard: "p2", Checkpoint: ended, Counter: 3},                           // a child not started
		{Shard: "p3", Checkpoint: ended, Counter: 3},                           // no child lease yet
		{Shard: "p4", Checkpoint: ended, Owner: "x", Counter: 3},               // still owned, renewed
		{Shard: "p5", Checkpoint: ended, Owner: "dead", Counter: 3},            // owned, owner stopped
		{Shard: "c1", Parents: []string{"p1"}, Owner: "x", Checkpoint: ended},  // checkpoint: ended
		{Shard: "c2", Parents: []string{"p1"}, Checkpoint: checkpoint.At("1")}, // checkpoint
		{Shard: "c3", Parents: []string{"p2"}, Owner: "x"},
		{Shard: "c4", Parents: []string{"p2"}},
		{Shard: "c5", Parents: []string{"p4"}, Owner: "x"},
		{Shard: "c6", Parents: []string{"p5"}, Owner: "x", Checkpoint: checkpoint.At("7")},
		{Shard: "p6", Checkpoint: ended, Counter: 3}, // still listed
		{Shard: "c7", Parents: []string{"p6"}, Checkpoint: checkpoint.At("2")},
	}
	w.staleLeases["p5"] = true
	if got := shards(w.plan().cleanup); len(got) != 0 {
		t.Errorf("cleanup %v while no shard is known gone, want none", got)
	}
	// p1 to p5 left the stream (past retention); p6 is still in it.
	w.gone = map[string]bool{"p1": true, "p2": true, "p3": true, "p4": true, "p5": true}
	got := shards(w.plan().cleanup)
	if want := []string{"p1", "p5"}; !slices.Equal(got, want) {
		t.Errorf("cleanup %v, want %v", got, want)
	}
}

// TestPlanCleanupWaitsForChildCheckpoints: an ended parent whose children
// have owners but no checkpoint is kept: should a child's owner die before
// its first checkpoint, the next owner must still find that a parent was
// read.
func TestPlanCleanupWaitsForChildCheckpoints(t *testing.T) {
	ended := checkpoint.Ended()
	w := newWorld("me").worker("me")
	w.leases = []Lease{
		{Shard: "p1", Checkpoint: ended, Counter: 3},
		{Shard: "p2", Checkpoint: ended, Counter: 3},
		{Shard: "c1", Parents: []string{"p1"}, Owner: "x", Counter: 1},                                       // owned, no checkpoint
		{Shard: "c2", Parents: []string{"p1", "p2"}, Owner: "x", Counter: 2, Checkpoint: checkpoint.At("5")}, // checkpointed
		{Shard: "c3", Parents: []string{"p2"}, Checkpoint: checkpoint.At("9")},                               // free, checkpointed
	}
	w.gone = map[string]bool{"p1": true, "p2": true} // the parents left the stream
	if got, want := shards(w.plan().cleanup), []string{"p2"}; !slices.Equal(got, want) {
		t.Errorf("cleanup %v, want %v (p1 has a child with an owner but no checkpoint)", got, want)
	}
	w.leases[2].Checkpoint = checkpoint.At("1")
	if got, want := shards(w.plan().cleanup), []string{"p1", "p2"}; !slices.Equal(got, want) {
		t.Errorf("cleanup %v once every child has a checkpoint, want %v", got, want)
	}
}

func TestPlanDeadWorkerRows(t *testing.T) {
	o := newObserver()
	workers := []Worker{{ID: "me", Counter: 1}, {ID: "old", Counter: 1}, {ID: "live", Counter: 1}}
	o.observe(t0, nil, workers)
	now := t0.Add(5 * ld)
	later := slices.Clone(workers)
	later[2].Counter++
	o.observe(now, nil, later)
	p := makePlan(planInput{self: "me", now: now, leaseDuration: ld, workerRetention: 5 * ld, leases: nil, workers: later, obs: &o})
	if len(p.dead) != 1 || p.dead[0].ID != "old" {
		t.Errorf("dead rows %v, want old only (never self)", p.dead)
	}
}

func TestObserverExpiry(t *testing.T) {
	o := newObserver()
	l := Lease{Shard: "s", Owner: "x", Counter: 1}
	o.observe(t0, []Lease{l}, nil)
	if o.expired(l, t0.Add(ld-time.Nanosecond), ld) {
		t.Error("expired before the lease duration")
	}
	if !o.expired(l, t0.Add(ld), ld) {
		t.Error("not expired after the lease duration unchanged")
	}
	// A change restarts the count from when it was seen.
	l.Counter = 2
	o.observe(t0.Add(9*time.Second), []Lease{l}, nil)
	if o.expired(l, t0.Add(18*time.Second), ld) || !o.expired(l, t0.Add(19*time.Second), ld) {
		t.Error("expiry not counted from the observation of the change")
	}
	if at, ok := o.nextExpiry([]Lease{l}, "me", t0.Add(10*time.Second), ld); !ok || !at.Equal(t0.Add(19*time.Second)) {
		t.Errorf("nextExpiry = %v, %v; want t0+19s", at, ok)
	}
	// A free lease never expires; a lease never observed neither.
	if o.expired(Lease{Shard: "s", Counter: 2}, t0.Add(time.Hour), ld) || o.expired(Lease{Shard: "new", Owner: "x"}, t0.Add(time.Hour), ld) {
		t.Error("a free or unobserved lease expired")
	}
	// Forgotten when no longer listed.
	o.observe(t0.Add(20*time.Second), nil, nil)
	if len(o.leases) != 0 {
		t.Errorf("observer keeps %v", o.leases)
	}
}
