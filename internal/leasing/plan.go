package leasing

import (
	"maps"
	"math/rand/v2"
	"slices"
	"time"
)

// observer remembers, for every lease and worker row seen, the counter last
// seen and when, on the local clock, it was first seen with that counter.
// A lease is expired when its counter has not changed for the lease
// duration; a worker row is live while its counter changed within it. The
// first sight of a lease or row counts as a change: a worker that just
// started never judges anything expired before a whole lease duration.
type observer struct {
	leases  map[string]seen
	workers map[string]seen
}

type seen struct {
	counter uint64
	changed time.Time
}

func newObserver() observer {
	return observer{leases: make(map[string]seen), workers: make(map[string]seen)}
}

// observe records a listing made at now, forgetting what is no longer
// listed.
func (o *observer) observe(now time.Time, leases []Lease, workers []Worker) {
	next := make(map[string]seen, len(leases))
	for _, l := range leases {
		s, ok := o.leases[l.Shard]
		if !ok || s.counter != l.Counter {
			s = seen{counter: l.Counter, changed: now}
		}
		next[l.Shard] = s
	}
	o.leases = next
	nextW := make(map[string]seen, len(workers))
	for _, w := range workers {
		s, ok := o.workers[w.ID]
		if !ok || s.counter != w.Counter {
			s = seen{counter: w.Counter, changed: now}
		}
		nextW[w.ID] = s
	}
	o.workers = nextW
}

// expired reports whether l has an owner and its counter has not changed for
// d at now. A lease never observed is not expired.
func (o *observer) expired(l Lease, now time.Time, d time.Duration) bool {
	s, ok := o.leases[l.Shard]
	return l.Owner != "" && ok && s.counter == l.Counter && now.Sub(s.changed) >= d
}

// idle returns for how long worker id's row has not changed at now, and
// false when it was never observed.
func (o *observer) idle(id string, now time.Time) (time.Duration, bool) {
	s, ok := o.workers[id]
	if !ok {
		return 0, false
	}
	return now.Sub(s.changed), true
}

// nextExpiry returns the earliest time after now at which a lease owned by
// another worker than self, as last listed, becomes expired if its counter
// does not change.
func (o *observer) nextExpiry(leases []Lease, self string, now time.Time, d time.Duration) (time.Time, bool) {
	var next time.Time
	for _, l := range leases {
		if l.Owner == "" || l.Owner == self {
			continue
		}
		s, ok := o.leases[l.Shard]
		if !ok {
			continue
		}
		if at := s.changed.Add(d); at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// planInput is what one cycle decides from.
type planInput struct {
	self          string
	now           time.Time
	leaseDuration time.Duration
	// workerRetention: a worker row unchanged for this long is deleted.
	workerRetention time.Duration
	maxSteals       int // 0: no bound beyond the need
	leases          []Lease
	workers         []Worker
	// mine are the leases this worker holds and reads (not being handed
	// over or released); busy are every lease it still writes to (mine,
	// and those being handed over or released): neither kind is taken.
	mine, busy map[string]bool
	// gone is the shards the scheduler's complete listings showed gone from
	// the stream (past its retention).
	gone map[string]bool
	obs  *observer
	rand *rand.Rand // shuffles candidates; nil: no shuffle
}

// plan is what one cycle does.
type plan struct {
	readable int      // leases to read: not ended, every parent ended or gone
	live     []string // live workers, sorted, self included
	target   int      // ceil(readable / live)
	held     int      // readable leases held, plus handoffs promised to self
	take     []Lease  // free, expired or own-but-forgotten leases to Take, as listed
	steal    []Lease  // leases to ask a handoff of, as listed
	cleanup  []Lease  // ended leases to Delete, as listed
	dead     []Worker // worker rows to delete, as listed
}

// readableLeases returns, by shard id, the leases that may be read: not ended,
// and every parent's lease ended or gone. That puts parents before children
// across the cluster.
func readableLeases(leases []Lease) map[string]bool {
	byShard := make(map[string]Lease, len(leases))
	for _, l := range leases {
		byShard[l.Shard] = l
	}
	readable := make(map[string]bool, len(leases))
	for _, l := range leases {
		if l.Ended() {
			continue
		}
		ok := true
		for _, p := range l.Parents {
			if pl, exists := byShard[p]; exists && !pl.Ended() {
				ok = false
				break
			}
		}
		if ok {
			readable[l.Shard] = true
		}
	}
	return readable
}

// makePlan decides a cycle:
//
//  1. Readable leases are those not ended whose parents' leases are all
//     ended or gone.
//  2. Live workers are this one, the workers whose row's counter changed
//     within the lease duration, and the owners of readable leases that are
//     not expired; minus the owners of expired readable leases, which have
//     stopped renewing.
//  3. The target is ceil(readable / live workers).
//  4. Below target, the worker takes, in this order, readable leases it owns
//     in the table but does not hold (a restart under the same id), free
//     ones, then expired ones, in random order within each kind, up to the
//     target.
//  5. Still below target, it asks for handoffs, one lease at a time from the
//     worker with the most leases not already promised to another, as long
//     as that worker has at least two more than this one would, up to the
//     target and MaxStealsPerCycle. Handoffs already promised to it count
//     as held.
//  6. Ended leases that are free (or whose owner stopped renewing) are
//     deleted once their shard is gone from the stream (past its retention:
//     in an earlier complete listing of the scheduler's and not in its last,
//     or named as parent in the last and not in it), at least one lease
//     names them as parent, and every lease naming them as parent has a
//     checkpoint (HasCheckpoint: a
//     position, a start, or the shard-end marker); an owner alone is not
//     enough. Kept until then, an ended lease tells every worker, however
//     stale its list of shards, that its shard was read to its end: none
//     creates it again.
//  7. Worker rows unchanged for workerRetention are deleted.
func makePlan(in planInput) plan {
	var p plan
	expired := func(l Lease) bool { return in.obs.expired(l, in.now, in.leaseDuration) }
	readable := readableLeases(in.leases)
	p.readable = len(readable)

	live := map[string]bool{in.self: true}
	for _, w := range in.workers {
		if idle, ok := in.obs.idle(w.ID, in.now); ok && idle < in.leaseDuration {
			live[w.ID] = true
		}
		if idle, ok := in.obs.idle(w.ID, in.now); ok && idle >= in.workerRetention && w.ID != in.self {
			p.dead = append(p.dead, w)
		}
	}
	for _, l := range in.leases {
		if readable[l.Shard] && l.Owner != "" && !expired(l) {
			live[l.Owner] = true
		}
	}
	for _, l := range in.leases {
		if readable[l.Shard] && l.Owner != "" && l.Owner != in.self && expired(l) {
			delete(live, l.Owner)
		}
	}
	p.live = slices.Sorted(maps.Keys(live))
	p.target = (p.readable + len(live) - 1) / len(live)

	var reclaim, free, stale []Lease
	load := make(map[string]int)        // leases staying with each other worker
	victims := make(map[string][]Lease) // their leases no handoff was asked for
	for _, l := range in.leases {
		if !readable[l.Shard] {
			continue
		}
		switch {
		case in.mine[l.Shard]:
			p.held++
		case in.busy[l.Shard]:
		case l.Owner == "":
			free = append(free, l)
		case l.Owner == in.self:
			reclaim = append(reclaim, l)
		case expired(l):
			stale = append(stale, l)
		case l.NextOwner == in.self:
			p.held++ // promised to this worker
		case l.NextOwner != "":
			// promised to another worker: leaving its owner
		default:
			load[l.Owner]++
			victims[l.Owner] = append(victims[l.Owner], l)
		}
	}
	if in.rand != nil {
		for _, s := range [][]Lease{free, stale} {
			in.rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		}
	}
	need := p.target - p.held
	for _, l := range slices.Concat(reclaim, free, stale) {
		if need <= 0 {
			break
		}
		p.take = append(p.take, l)
		need--
	}

	have := p.target - need
	owners := slices.Sorted(maps.Keys(victims))
	for need > 0 && (in.maxSteals <= 0 || len(p.steal) < in.maxSteals) {
		victim := ""
		for _, o := range owners {
			if len(victims[o]) > 0 && (victim == "" || load[o] > load[victim]) {
				victim = o
			}
		}
		if victim == "" || load[victim] < have+2 {
			break
		}
		vs := victims[victim]
		i := 0
		if in.rand != nil {
			i = in.rand.IntN(len(vs))
		}
		p.steal = append(p.steal, vs[i])
		victims[victim] = slices.Delete(vs, i, i+1)
		load[victim]--
		have++
		need--
	}

	children := make(map[string][]Lease)
	for _, l := range in.leases {
		for _, parent := range l.Parents {
			children[parent] = append(children[parent], l)
		}
	}
	for _, l := range in.leases {
		if !l.Ended() || (l.Owner != "" && !expired(l)) || !in.gone[l.Shard] || len(children[l.Shard]) == 0 {
			continue
		}
		// Every child must have a checkpoint (or be ended), not merely an
		// owner: until then a scheduler deciding where the child starts (from
		// its start because a parent was read) may need the parent's lease,
		// e.g. after the child's first owner died before its first checkpoint.
		checkpointed := true
		for _, c := range children[l.Shard] {
			checkpointed = checkpointed && c.HasCheckpoint()
		}
		if checkpointed {
			p.cleanup = append(p.cleanup, l)
		}
	}
	return p
}
