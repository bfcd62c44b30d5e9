package chaos

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// The causes of duplicates (a record handed out again).
const (
	// Allowed: the uncommitted (or committed, not yet checkpointed) records
	// of a worker that died or could not renew its leases.
	CauseKilled = "SIGKILLed worker's"
	CausePaused = "paused worker's"
	CauseLost   = "lease not renewed (no pause)"
	// Failures.
	CauseHandoff    = "planned handoff (SIGTERM)"
	CauseRebalance  = "rebalance (Revoke)"
	CauseFencing    = "handed out after another worker took the shard"
	CauseReread     = "finished shard re-read"
	CauseUnexplaind = "unexplained"
)

// allowedCauses are the causes of duplicates that do not fail a run.
var allowedCauses = map[string]bool{CauseKilled: true, CausePaused: true, CauseLost: true}

// causeOrder is the order causes are printed in.
var causeOrder = []string{CauseKilled, CausePaused, CauseLost, CauseHandoff, CauseRebalance, CauseFencing, CauseReread, CauseUnexplaind}

// CheckResult is the outcome of one check.
type CheckResult struct {
	Name string
	// Failures counts what the check found wrong; 0 passes.
	Failures int
	// Summary says what was checked, or what was found.
	Summary string
	// Examples are the first few failures.
	Examples []string
}

// maxExamples bounds the examples a check keeps.
const maxExamples = 8

func (c *CheckResult) fail(format string, args ...any) {
	c.Failures++
	if len(c.Examples) < maxExamples {
		c.Examples = append(c.Examples, fmt.Sprintf(format, args...))
	}
}

// Report is what a run did and what the checker found.
type Report struct {
	Settings settings
	// Acked records the producer had acknowledged; Delivered of them handed
	// out at least once; Deliveries every record handed out, duplicates
	// included.
	Acked, Delivered, Deliveries int
	// Duplicates counts the records handed out again, by cause.
	Duplicates map[string]int
	// Failover: from a SIGKILL to the first record handed out, or the
	// assignment, of each of the killed worker's shards by another worker.
	Failover []time.Duration
	// HandoffClose: the same from a SIGTERM (Close); HandoffRebalance from
	// a Revoke to the next owner's assignment.
	HandoffClose, HandoffRebalance []time.Duration
	// TakenBack counts the Revokes after which the revoked worker was
	// assigned the shard again before any other worker.
	TakenBack int
	// ResumedThenLost counts the records a worker handed out after a
	// SIGCONT and shortly before a Lost of their shard: handed out on a
	// lease that had expired during the pause (not a failure of its own:
	// the fencing check fails those another worker had taken meanwhile).
	ResumedThenLost int
	// Stalls are the times the driver did not run for 300ms or more: the
	// machine stalled (failovers get that much more time).
	Stalls []time.Duration
	// Checks are the checks, in order.
	Checks []CheckResult
	// Actions counts what the driver did, FaultKinds the faults it injected
	// by kind, FaultHits the calls they hit (set by Soak).
	Actions    map[string]int
	FaultKinds map[string]int
	FaultHits  int
}

// Failed reports whether a check failed.
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Failures > 0 {
			return true
		}
	}
	return false
}

// delivery is a record a worker handed out.
type delivery struct {
	w          string
	shard, seq string
	key        string
	n          int
	t          int64
}

func (d delivery) id() string { return d.shard + "/" + d.seq }

// stall is a time the driver did not run: the machine stalled.
type stall struct{ from, to int64 }

// stalled returns how much of [from, to] the machine was stalled.
func (r *run) stalled(from, to int64) time.Duration {
	var d int64
	for _, s := range r.stalls {
		if lo, hi := max(s.from, from), min(s.to, to); hi > lo {
			d += hi - lo
		}
	}
	return time.Duration(d)
}

// hook is a lease callback of a worker.
type hook struct {
	w, ev, shard string
	t            int64
}

// run is a run's logs, indexed.
type run struct {
	st         settings
	acked      []Event
	ackedBy    map[string]Event // by shard/seq
	deliveries []delivery       // by time
	hooks      map[string][]hook
	assigned   map[string][]hook // by shard, by time
	shards     map[string]Shard
	// Driver events by worker incarnation.
	kills, sigterms map[string]int64
	hungClose       map[string]bool
	stops, conts    map[string][]int64
	exits           map[string]Event
	spawns          []Event
	stalls          []stall
	shutdownAt      int64
	workerLogs      map[string][]Event
	// leaseIDs: the lease worker id of each worker incarnation.
	leaseIDs map[string]string
	// firstDelivery of each record, lastFirst of each shard (the time its
	// last acknowledged record was first handed out; MaxInt64 when one
	// never was, MinInt64 for a shard without records).
	firstDelivery map[string]int64
	lastFirst     map[string]int64
	// exempt: the first record each worker logged after each SIGCONT,
	// which it may have received before the pause.
	exempt map[int]bool
}

// Check reads the logs of the run in dir and checks them (see the package
// documentation).
func Check(dir string) (*Report, error) {
	r, err := loadRun(dir)
	if err != nil {
		return nil, err
	}
	rep := &Report{Settings: r.st, Duplicates: map[string]int{}}
	rep.Acked = len(r.ackedBy)
	rep.Deliveries = len(r.deliveries)
	for id := range r.ackedBy {
		if _, ok := r.firstDelivery[id]; ok {
			rep.Delivered++
		}
	}
	fencing := r.checkFencing()
	reread := r.checkReread()
	rep.Checks = append(rep.Checks, r.checkLost(), r.checkOrder(reread.bad), r.checkLineage(), fencing.CheckResult, reread.CheckResult)
	failover, fo := r.checkFailover()
	rep.Failover = fo
	rep.Checks = append(rep.Checks, failover)
	rep.HandoffClose, rep.HandoffRebalance, rep.TakenBack = r.handoffs()
	rep.ResumedThenLost = r.resumedThenLost()
	for _, st := range r.stalls {
		rep.Stalls = append(rep.Stalls, time.Duration(st.to-st.from))
	}
	dups := r.checkDuplicates(fencing.bad, reread.bad, rep.Duplicates)
	rep.Checks = append(rep.Checks, dups, r.checkExits(dir))
	return rep, nil
}

func loadRun(dir string) (*run, error) {
	producer, driver, workers, err := readRun(dir)
	if err != nil {
		return nil, err
	}
	r := &run{
		ackedBy: map[string]Event{}, hooks: map[string][]hook{}, assigned: map[string][]hook{},
		shards: map[string]Shard{}, kills: map[string]int64{}, sigterms: map[string]int64{},
		hungClose: map[string]bool{}, stops: map[string][]int64{}, conts: map[string][]int64{},
		exits: map[string]Event{}, shutdownAt: math.MaxInt64, workerLogs: workers,
		firstDelivery: map[string]int64{}, lastFirst: map[string]int64{}, exempt: map[int]bool{},
		leaseIDs: map[string]string{},
	}
	b, err := os.ReadFile(filepath.Join(dir, settingsFile))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &r.st); err != nil {
		return nil, fmt.Errorf("%s: %w", settingsFile, err)
	}
	b, err = os.ReadFile(filepath.Join(dir, shardsFile))
	if err != nil {
		return nil, fmt.Errorf("the final shard list: %w", err)
	}
	var shards []Shard
	if err := json.Unmarshal(b, &shards); err != nil {
		return nil, fmt.Errorf("%s: %w", shardsFile, err)
	}
	for _, s := range shards {
		r.shards[s.ID] = s
	}
	for _, e := range producer {
		if e.Ev == EvPut {
			r.acked = append(r.acked, e)
			r.ackedBy[e.Shard+"/"+e.Seq] = e
		}
	}
	for w, evs := range workers {
		for _, e := range evs {
			switch e.Ev {
			case EvRecord:
				r.deliveries = append(r.deliveries, delivery{w: w, shard: e.Shard, seq: e.Seq, key: e.Key, n: e.N, t: e.T})
			case EvStart:
				r.leaseIDs[w] = e.Detail
			case EvAssigned, EvRevoked, EvLost:
				h := hook{w: w, ev: e.Ev, shard: e.Shard, t: e.T}
				r.hooks[w] = append(r.hooks[w], h)
				if e.Ev == EvAssigned {
					r.assigned[e.Shard] = append(r.assigned[e.Shard], h)
				}
			}
		}
	}
	// By time; a worker's own records keep their log order.
	sort.SliceStable(r.deliveries, func(i, j int) bool { return r.deliveries[i].t < r.deliveries[j].t })
	for _, hs := range r.assigned {
		sort.SliceStable(hs, func(i, j int) bool { return hs[i].t < hs[j].t })
	}
	for _, e := range driver {
		switch e.Ev {
		case EvKill:
			if _, ok := r.kills[e.W]; !ok {
				r.kills[e.W] = e.T
			}
			if e.Detail != "" {
				r.hungClose[e.W] = true
			}
		case EvSigterm:
			if _, ok := r.sigterms[e.W]; !ok {
				r.sigterms[e.W] = e.T
			}
		case EvStop:
			r.stops[e.W] = append(r.stops[e.W], e.T)
		case EvCont:
			r.conts[e.W] = append(r.conts[e.W], e.T)
		case EvExited:
			r.exits[e.W] = e
		case EvSpawn:
			r.spawns = append(r.spawns, e)
		case EvStall:
			if d, err := time.ParseDuration(e.Detail); err == nil {
				r.stalls = append(r.stalls, stall{from: e.T, to: e.T + int64(d)})
			}
		case EvPhase:
			if e.Detail == "shutdown" {
				r.shutdownAt = e.T
			}
		}
	}
	for _, d := range r.deliveries {
		if _, ok := r.firstDelivery[d.id()]; !ok {
			r.firstDelivery[d.id()] = d.t
		}
	}
	for id := range r.shards {
		r.lastFirst[id] = math.MinInt64
	}
	for id, e := range r.ackedBy {
		t, ok := r.firstDelivery[id]
		if !ok {
			t = math.MaxInt64
		}
		if cur, ok := r.lastFirst[e.Shard]; !ok || t > cur {
			r.lastFirst[e.Shard] = t
		}
	}
	// The first record each worker logged after each SIGCONT: it may have
	// been received before the SIGSTOP.
	for w, conts := range r.conts {
		for _, tc := range conts {
			for i, d := range r.deliveries {
				if d.w == w && d.t > tc {
					r.exempt[i] = true
					break
				}
			}
		}
	}
	return r, nil
}

// at formats a time relative to the first acknowledged put, for
// messages.
func (r *run) at(t int64) string {
	if len(r.acked) == 0 {
		return time.Unix(0, t).Format("15:04:05.000")
	}
	return fmt.Sprintf("t+%.3fs", float64(t-r.acked[0].T)/1e9)
}

func (r *run) checkLost() CheckResult {
	c := CheckResult{Name: "lost"}
	for _, e := range r.acked {
		if _, ok := r.firstDelivery[e.Shard+"/"+e.Seq]; !ok {
			c.fail("%s/%s (key %s n %d, put at %s) never handed out", e.Shard, e.Seq, e.Key, e.N, r.at(e.T))
		}
	}
	c.Summary = fmt.Sprintf("%d acknowledged records never handed out (of %d)", c.Failures, len(r.acked))
	return c
}

// checkOrder: a key's record handed out before its predecessor was handed
// out anywhere (a gap), or a worker handing out a key's records out of
// order with no reassignment of the shard to it in between.
func (r *run) checkOrder(reread map[int]bool) CheckResult {
	c := CheckResult{Name: "order"}
	got := map[string]map[int]bool{}
	gaps := map[string]bool{}
	type last struct {
		n int
		t int64
	}
	lastOf := map[string]last{}      // worker/key
	assignedAt := map[string]int64{} // worker/shard
	hookIdx := map[string]int{}
	regressions := 0
	for i, d := range r.deliveries {
		note := ""
		if reread[i] {
			note = " (a re-read of a finished shard)"
		}
		hs := r.hooks[d.w]
		for hookIdx[d.w] < len(hs) && hs[hookIdx[d.w]].t <= d.t {
			h := hs[hookIdx[d.w]]
			if h.ev == EvAssigned {
				assignedAt[d.w+"/"+h.shard] = h.t
			}
			hookIdx[d.w]++
		}
		keyN := got[d.key]
		if keyN == nil {
			keyN = map[int]bool{}
			got[d.key] = keyN
		}
		if d.n > 0 && !keyN[d.n-1] && !gaps[fmt.Sprint(d.key, d.n)] {
			gaps[fmt.Sprint(d.key, d.n)] = true
			c.fail("key %s: n %d (%s by %s at %s%s) handed out before n %d was handed out anywhere", d.key, d.n, d.shard, d.w, r.at(d.t), note, d.n-1)
		}
		keyN[d.n] = true
		wk := d.w + "/" + d.key
		if l, ok := lastOf[wk]; ok && d.n < l.n && assignedAt[d.w+"/"+d.shard] <= l.t {
			regressions++
			c.fail("key %s: %s handed out n %d (%s at %s%s) after n %d (at %s), with no reassignment of %s in between",
				d.key, d.w, d.n, d.shard, r.at(d.t), note, l.n, r.at(l.t), d.shard)
		}
		if l, ok := lastOf[wk]; !ok || d.n >= l.n || assignedAt[d.w+"/"+d.shard] > l.t {
			lastOf[wk] = last{n: d.n, t: d.t}
		}
	}
	c.Summary = fmt.Sprintf("%d records of a key handed out before the previous one, %d handed out out of order by one worker without a reassignment",
		len(gaps), regressions)
	return c
}

// ancestors returns the ancestors of shard id in the final shard list.
func (r *run) ancestors(id string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(s string) {
		for _, p := range parents(r.shards[s]) {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
				walk(p)
			}
		}
	}
	walk(id)
	slices.Sort(out)
	return out
}

// checkLineage: a shard's first record handed out before every record of
// each of its ancestors was handed out.
func (r *run) checkLineage() CheckResult {
	c := CheckResult{Name: "parents before children"}
	first := map[string]int64{}
	for _, d := range r.deliveries {
		if _, ok := first[d.shard]; !ok {
			first[d.shard] = d.t
		}
	}
	for _, id := range slices.Sorted(maps.Keys(first)) {
		for _, a := range r.ancestors(id) {
			if lf := r.lastFirst[a]; lf > first[id] {
				late := 0
				for rid, e := range r.ackedBy {
					if e.Shard == a && r.firstDelivery[rid] > first[id] {
						late++
					}
				}
				when := "never"
				if lf != math.MaxInt64 {
					when = "until " + r.at(lf)
				}
				c.fail("%s first handed out at %s, while its ancestor %s still had %d records not handed out (%s)", id, r.at(first[id]), a, late, when)
			}
		}
	}
	c.Summary = fmt.Sprintf("%d shards handed out before an ancestor's records were all handed out", c.Failures)
	return c
}

// badDeliveries is a check that also marks deliveries, by index.
type badDeliveries struct {
	CheckResult
	bad map[int]bool
}

// checkFencing: a record handed out by a worker after another worker was
// assigned its shard (more recently than the first), or of a shard the
// worker was never assigned.
func (r *run) checkFencing() badDeliveries {
	c := badDeliveries{CheckResult: CheckResult{Name: "fencing"}, bad: map[int]bool{}}
	exempted := 0
	// The violations, grouped by worker, shard and the assignment they
	// came after (-1: none).
	type group struct {
		w, shard    string
		after       int
		n           int
		first, last int64
	}
	var groups []*group
	byKey := map[string]*group{}
	for i, d := range r.deliveries {
		hs := r.assigned[d.shard]
		j := sort.Search(len(hs), func(j int) bool { return hs[j].t > d.t }) - 1
		switch {
		case j >= 0 && hs[j].w == d.w:
			continue
		case r.exempt[i]:
			exempted++
			continue
		}
		c.bad[i] = true
		key := fmt.Sprint(d.w, " ", d.shard, " ", j)
		g := byKey[key]
		if g == nil {
			g = &group{w: d.w, shard: d.shard, after: j, first: d.t}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.n++
		g.last = d.t
	}
	for _, g := range groups {
		c.Failures += g.n - 1 // fail adds one
		if g.after < 0 {
			c.fail("%s handed out %d records of %s, never assigned to it, from %s to %s", g.w, g.n, g.shard, r.at(g.first), r.at(g.last))
			continue
		}
		a := r.assigned[g.shard][g.after]
		c.fail("%s handed out %d records of %s from %s to %s, after %s was assigned it at %s", g.w, g.n, g.shard, r.at(g.first), r.at(g.last), a.w, r.at(a.t))
	}
	c.Summary = fmt.Sprintf("%d records handed out by a worker after another was assigned the shard, or never assigned to it (%d exempt: the first record logged after a SIGCONT)", len(c.bad), exempted)
	return c
}

// descendants returns the descendants of shard id in the final shard list.
func (r *run) descendants(id string) []string {
	children := map[string][]string{}
	for _, s := range r.shards {
		for _, p := range parents(s) {
			children[p] = append(children[p], s.ID)
		}
	}
	var out []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(s string) {
		for _, c := range children[s] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(id)
	return out
}

// finishedAt returns when shard id was finished: every acknowledged record
// of it handed out, and a descendant assigned; MaxInt64 when never.
func (r *run) finishedAt(id string) int64 {
	desc := int64(math.MaxInt64)
	for _, d := range r.descendants(id) {
		if hs := r.assigned[d]; len(hs) > 0 && hs[0].t < desc {
			desc = hs[0].t
		}
	}
	if desc == math.MaxInt64 {
		return desc
	}
	return max(desc, r.lastFirst[id])
}

// checkReread: a shard assigned, or its records handed out, after it was
// finished.
func (r *run) checkReread() badDeliveries {
	c := badDeliveries{CheckResult: CheckResult{Name: "finished shard re-read"}, bad: map[int]bool{}}
	fin := map[string]int64{}
	for id := range r.shards {
		fin[id] = r.finishedAt(id)
	}
	for _, id := range slices.Sorted(maps.Keys(r.assigned)) {
		f, ok := fin[id]
		if !ok {
			f = math.MaxInt64
		}
		for _, h := range r.assigned[id] {
			if h.t > f {
				c.fail("%s assigned to %s at %s, after it was finished at %s (all its records handed out, a descendant assigned)", id, h.w, r.at(h.t), r.at(f))
			}
		}
	}
	reread := map[string]int{}
	for i, d := range r.deliveries {
		if f, ok := fin[d.shard]; ok && d.t > f {
			c.bad[i] = true
			reread[d.shard]++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(reread)) {
		c.fail("%d records of %s handed out again after it was finished at %s", reread[id], id, r.at(fin[id]))
	}
	c.Summary = fmt.Sprintf("%d assignments of finished shards, %d records of finished shards handed out again", c.Failures-len(reread), len(c.bad))
	return c
}

// heldAt returns the shards worker w held at t, by its callbacks.
func (r *run) heldAt(w string, t int64) []string {
	held := map[string]bool{}
	for _, h := range r.hooks[w] {
		if h.t > t {
			break
		}
		switch h.ev {
		case EvAssigned:
			held[h.shard] = true
		default:
			delete(held, h.shard)
		}
	}
	return slices.Sorted(maps.Keys(held))
}

// takenOver returns when shard was first handed out or assigned by another
// worker than w after t, and by which, or false; false too when that was a
// re-read of the finished shard (the re-read check reports it).
func (r *run) takenOver(shard, w string, t int64) (int64, string, bool) {
	best, by := int64(math.MaxInt64), ""
	for _, h := range r.assigned[shard] {
		if h.w != w && h.t > t {
			best, by = h.t, h.w
			break
		}
	}
	i := sort.Search(len(r.deliveries), func(i int) bool { return r.deliveries[i].t > t })
	for ; i < len(r.deliveries) && r.deliveries[i].t < best; i++ {
		if d := r.deliveries[i]; d.shard == shard && d.w != w {
			best, by = d.t, d.w
			break
		}
	}
	return best, by, best != math.MaxInt64 && best <= r.finishedAt(shard)
}

// finishedBy reports whether every acknowledged record of a closed shard
// was handed out by t: nothing is left to take over.
func (r *run) finishedBy(shard string, t int64) bool {
	s, ok := r.shards[shard]
	return ok && !s.Open && r.lastFirst[shard] <= t
}

// checkFailover: each SIGKILLed worker's shards taken over within the bound.
func (r *run) checkFailover() (CheckResult, []time.Duration) {
	bound := r.st.LeaseDuration + r.st.CycleInterval
	c := CheckResult{Name: "failover"}
	var samples []time.Duration
	reclaimed := 0
	for _, w := range slices.Sorted(maps.Keys(r.kills)) {
		tk := r.kills[w]
		if r.hungClose[w] || tk > r.shutdownAt {
			continue
		}
		for _, s := range r.heldAt(w, tk) {
			at, by, ok := r.takenOver(s, w, tk)
			if ok && r.leaseIDs[w] != "" && r.leaseIDs[by] == r.leaseIDs[w] {
				reclaimed++ // by the worker restarted under the same lease id: not a failover
				continue
			}
			if !ok {
				if !r.finishedBy(s, tk) {
					c.fail("%s SIGKILLed at %s: its shard %s was never handed out nor assigned by another worker", w, r.at(tk), s)
				}
				continue
			}
			d := time.Duration(at - tk)
			samples = append(samples, d)
			if d > bound+r.st.FailoverSlack+r.stalled(tk, at) {
				joined := ""
				for _, sp := range r.spawns {
					if sp.T > tk && sp.T < at {
						joined += fmt.Sprintf("; %s joined at %s", sp.W, r.at(sp.T))
					}
				}
				if st := r.stalled(tk, at); st > 0 {
					joined += fmt.Sprintf("; the machine stalled %v meanwhile", st.Round(time.Millisecond))
				}
				c.fail("%s SIGKILLed at %s: its shard %s taken over by %s %v later (bound %v + slack %v)%s",
					w, r.at(tk), s, by, d.Round(time.Millisecond), bound, r.st.FailoverSlack, joined)
			}
		}
	}
	c.Summary = fmt.Sprintf("%d of %d failovers beyond LeaseDuration + CycleInterval = %v (+ %v slack, + the time the machine stalled meanwhile); %d shards taken back first by the killed worker restarted under its lease id",
		c.Failures, len(samples), bound, r.st.FailoverSlack, reclaimed)
	return c, samples
}

// handoffs measures planned handoffs: from each SIGTERM during the chaos to
// the takeover of each shard the worker held, and from each Revoke to the
// next assignment of the shard, when another worker's; takenBack counts the
// Revokes whose shard the revoked worker was assigned again first.
func (r *run) handoffs() (onClose, onRevoke []time.Duration, takenBack int) {
	for w, tt := range r.sigterms {
		if tt > r.shutdownAt {
			continue
		}
		if tk, ok := r.kills[w]; ok && tk < tt {
			continue
		}
		for _, s := range r.heldAt(w, tt) {
			if at, _, ok := r.takenOver(s, w, tt); ok {
				onClose = append(onClose, time.Duration(at-tt))
			}
		}
	}
	for w, hs := range r.hooks {
		for _, h := range hs {
			if h.ev != EvRevoked {
				continue
			}
			for _, a := range r.assigned[h.shard] {
				if a.t <= h.t {
					continue
				}
				if a.w == w {
					takenBack++
				} else {
					onRevoke = append(onRevoke, time.Duration(a.t-h.t))
				}
				break
			}
		}
	}
	return onClose, onRevoke, takenBack
}

// anyIn reports whether a time of ts lies in [from, to].
func anyIn(ts []int64, from, to int64) bool {
	for _, t := range ts {
		if t >= from && t <= to {
			return true
		}
	}
	return false
}

// hookIn reports whether worker w had callback ev for shard in [from, to].
func (r *run) hookIn(w, ev, shard string, from, to int64) bool {
	for _, h := range r.hooks[w] {
		if h.ev == ev && h.shard == shard && h.t >= from && h.t <= to {
			return true
		}
	}
	return false
}

// checkDuplicates counts the records handed out again by cause, and fails
// on the causes not allowed.
func (r *run) checkDuplicates(fencing, reread map[int]bool, byCause map[string]int) CheckResult {
	c := CheckResult{Name: "duplicates"}
	prev := map[string]int{} // the index of the last delivery of each record
	margin := int64(pauseMargin)
	for i, d := range r.deliveries {
		pi, again := prev[d.id()]
		prev[d.id()] = i
		if !again {
			continue
		}
		p := r.deliveries[pi]
		var cause string
		switch tk, killed := r.kills[p.w]; {
		case reread[i]:
			cause = CauseReread
		case fencing[i] || fencing[pi]:
			// This one, or the last one (then this is the rightful owner's).
			cause = CauseFencing
		case r.exempt[i] || r.exempt[pi]:
			// Received before a SIGSTOP, handed out after the SIGCONT.
			cause = CausePaused
		case killed && tk < d.t && !r.hungClose[p.w]:
			cause = CauseKilled
		case anyIn(r.stops[p.w], p.t-margin, d.t):
			cause = CausePaused
		case r.afterResume(p) && r.hookIn(p.w, EvLost, d.shard, p.t, d.t):
			// Handed out after a SIGCONT, the lease lost right after.
			cause = CausePaused
		case r.sigterms[p.w] != 0 && r.sigterms[p.w] < d.t && r.sigterms[p.w] >= p.t-margin:
			cause = CauseHandoff
		case r.hookIn(p.w, EvRevoked, d.shard, p.t, d.t):
			cause = CauseRebalance
		case r.hookIn(p.w, EvLost, d.shard, p.t, d.t):
			cause = CauseLost
		default:
			cause = CauseUnexplaind
		}
		byCause[cause]++
		if !allowedCauses[cause] && cause != CauseFencing && cause != CauseReread { // those fail their own checks
			c.fail("%s (key %s n %d) handed out by %s at %s, again by %s at %s: %s", d.id(), d.key, d.n, p.w, r.at(p.t), d.w, r.at(d.t), cause)
		}
	}
	var parts []string
	for _, cause := range causeOrder {
		parts = append(parts, fmt.Sprintf("%s %d", cause, byCause[cause]))
	}
	c.Summary = fmt.Sprintf("%d duplicates after a planned handoff, a rebalance, or unexplained (%s; those of fencing violations and re-reads fail their checks)",
		c.Failures, strings.Join(parts, ", "))
	return c
}

// checkExits: workers that exited on their own, whose Close failed, or that
// did not obey SIGTERM in time.
func (r *run) checkExits(dir string) CheckResult {
	c := CheckResult{Name: "exits"}
	for _, w := range slices.Sorted(maps.Keys(r.workerLogs)) {
		e, exited := r.exits[w]
		_, killed := r.kills[w]
		_, termed := r.sigterms[w]
		why := ""
		for _, ev := range r.workerLogs[w] {
			if ev.Ev == EvExit || (ev.Ev == EvOpen && ev.Detail != "") || (ev.Ev == EvClosed && ev.Detail != "") {
				why = ev.Ev + ": " + ev.Detail
			}
		}
		switch {
		case r.hungClose[w]:
			c.fail("%s did not exit within %v of SIGTERM (Close hung); %s%s", w, closeTimeout+10*time.Second, why, stderrTail(dir, w))
		case !exited:
			c.fail("%s: no exit recorded", w)
		case killed:
		case termed && e.Code != 0:
			c.fail("%s ended with %s after SIGTERM; %s%s", w, e.Detail, why, stderrTail(dir, w))
		case !termed:
			c.fail("%s exited on its own (%s); %s%s", w, e.Detail, why, stderrTail(dir, w))
		}
	}
	c.Summary = fmt.Sprintf("%d workers exited on their own, failed to Close, or hung", c.Failures)
	return c
}

// stderrTail returns the last lines of a worker's standard error, to quote.
func stderrTail(dir, w string) string {
	b, err := os.ReadFile(filepath.Join(dir, w+".stderr"))
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-5):]
	return "; its stderr ends with:\n\t\t" + strings.Join(lines, "\n\t\t")
}

// afterResume reports whether worker d.w handed out d after a SIGCONT,
// within a lease duration and a cycle of it, before any assignment of the
// shard to it since: a record handed out on a lease that may have expired
// during the pause.
func (r *run) afterResume(d delivery) bool {
	window := int64(r.st.LeaseDuration + r.st.CycleInterval)
	for _, tc := range r.conts[d.w] {
		if tc < d.t && d.t-tc <= window && !r.hookIn(d.w, EvAssigned, d.shard, tc, d.t) {
			return true
		}
	}
	return false
}

// resumedThenLost counts the records handed out by a worker after a SIGCONT
// (see afterResume) and before a Lost of their shard that followed within a
// cycle: handed out on a lease that had expired during the pause.
func (r *run) resumedThenLost() int {
	n := 0
	for _, d := range r.deliveries {
		if !r.afterResume(d) {
			continue
		}
		for _, h := range r.hooks[d.w] {
			if h.t < d.t || h.shard != d.shard {
				continue
			}
			if h.ev == EvLost && h.t-d.t <= int64(r.st.CycleInterval) {
				n++
			}
			break
		}
	}
	return n
}
