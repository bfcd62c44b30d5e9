package leasing_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/leasing"
	"github.com/kinesin-go/kinesin/internal/testenv"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/dynamolease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

// The simulation: every worker is a Manager with a manual clock of its own
// and a fake scheduler that reads numbered records (1, 2, 3...) of the shards
// it was given, one record per shard per tick, and checkpoints every
// commitEvery records. Time moves in ticks; in each tick the workers run one
// after the other, in the order they joined (as processes with distinct
// phases would): advance the worker's clock, wait until its Manager has done
// what was due and armed its next timer, hand its events to its scheduler,
// read. Nothing sleeps.
const (
	tick        = 100 * time.Millisecond
	commitEvery = 5
	leaseDur    = lease.DefaultLeaseDuration
	cycle       = lease.DefaultCycleInterval
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// stores are the stores the Manager tests run on.
var stores = []struct {
	name string
	new  func(t *testing.T) lease.Store
}{
	{"memory", func(*testing.T) lease.Store { return memlease.New() }},
	{"dynalite", newDynaliteStore},
}

// forEachStore runs f as a subtest per store; the dynalite one is skipped
// when dynalite is not running (and fails when emulators are required).
func forEachStore(t *testing.T, f func(t *testing.T, store lease.Store)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { f(t, s.new(t)) })
	}
}

func newDynaliteStore(t *testing.T) lease.Store {
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
	return dynamolease.New(client, table)
}

// shardModel is a shard of the simulated stream.
type shardModel struct {
	id      string
	parents []string
	last    int  // the last record of a closed shard; 0: open, endless
	hidden  bool // not listed until a parent ends (a child of a reshard)
	trimmed bool // no longer listed: past the stream's retention
	// processed counts, by record, how many times a scheduler processed it.
	processed map[int]int
	endedAt   time.Duration // when its end marker was written; -1: not yet
}

// cluster is a simulated group of workers sharing one lease table.
type cluster struct {
	t           *testing.T
	store       lease.Store
	app, stream string
	opts        []lease.Option
	now         time.Duration // simulated time since the start
	nodes       []*node
	shards      map[string]*shardModel
	acquired    map[string][]acquisition // by shard
	handoffs    int
}

type acquisition struct {
	worker string
	at     time.Duration
	from   int // the first record it reads
}

// node is a simulated worker process.
type node struct {
	c        *cluster
	id       string
	m        *leasing.Manager
	clock    *leasetest.Clock
	cancel   context.CancelFunc
	frozen   bool // paused: neither its clock nor its scheduler runs
	dead     bool // killed or closed: gone for good
	received int
	reading  map[string]*readState
	events   []leasing.Event
	// ignoreRevoke makes the scheduler ignore Revoke events.
	ignoreRevoke bool
	// storeDown makes the scheduler expect failing checkpoint writes (it
	// keeps the records uncommitted and retries at the next commit).
	storeDown bool
}

type readState struct {
	pos       int // last record processed
	committed int // last record checkpointed
}

// newCluster returns a cluster over store whose stream has shards.
func newCluster(t *testing.T, store lease.Store, shards []*shardModel, opts ...lease.Option) *cluster {
	t.Helper()
	c := &cluster{
		t:        t,
		store:    store,
		app:      leasetest.UniqueName("app"),
		stream:   leasetest.UniqueName("stream"),
		opts:     opts,
		shards:   make(map[string]*shardModel),
		acquired: make(map[string][]acquisition),
	}
	for _, s := range shards {
		s.processed = make(map[int]int)
		s.endedAt = -1
		c.shards[s.id] = s
	}
	t.Cleanup(c.stopAll)
	return c
}

// openShards returns n open shards without parents.
func openShards(n int) []*shardModel {
	var out []*shardModel
	for i := range n {
		out = append(out, &shardModel{id: shardID(i)})
	}
	return out
}

func shardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// listed returns the shards a scheduler lists now.
func (c *cluster) listed() []leasing.Shard {
	var out []leasing.Shard
	for _, id := range slices.Sorted(maps.Keys(c.shards)) {
		if s := c.shards[id]; c.exists(s) && !s.trimmed {
			out = append(out, leasing.Shard{ID: id, Parents: s.parents})
		}
	}
	return out
}

// exists reports whether a listing shows s: it is not hidden, or a
// descendant of it is not (a shard exists before its children).
func (c *cluster) exists(s *shardModel) bool {
	if !s.hidden {
		return true
	}
	for _, o := range c.shards {
		if slices.Contains(o.parents, s.id) && c.exists(o) {
			return true
		}
	}
	return false
}

// add starts a worker and runs its first cycle.
func (c *cluster) add(id string, opts ...lease.Option) *node {
	c.t.Helper()
	return c.addWith(id, c.store, opts...)
}

func (c *cluster) addWith(id string, store lease.Store, opts ...lease.Option) *node {
	c.t.Helper()
	clock := leasetest.NewClock(epoch.Add(c.now))
	all := append([]lease.Option{lease.WithWorkerID(id), lease.WithClock(clock)}, c.opts...)
	m, err := leasing.New(store, c.app, c.stream, append(all, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	n := &node{c: c, id: id, m: m, clock: clock, reading: make(map[string]*readState)}
	if _, err := m.Sync(c.t.Context(), c.listed(), true); err != nil {
		c.t.Fatalf("%s: Sync: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if err := m.Start(ctx); err != nil {
		c.t.Fatal(err)
	}
	c.nodes = append(c.nodes, n)
	c.settle(n)
	return n
}

// settle waits until n's Manager did what was due and armed its next timer,
// then hands every event it sent to n's scheduler.
func (c *cluster) settle(n *node) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.clock.WaitPending(ctx, 1); err != nil {
		c.t.Fatalf("%s: the manager did not go back to waiting: %v", n.id, err)
	}
	for n.received < leasing.EmittedEvents(n.m) {
		select {
		case ev, ok := <-n.m.Events():
			if !ok {
				c.t.Fatalf("%s: Events closed with %d events not received", n.id, leasing.EmittedEvents(n.m)-n.received)
			}
			n.received++
			n.handle(ev)
		case <-ctx.Done():
			c.t.Fatalf("%s: event %d not received", n.id, n.received+1)
		}
	}
}

// handle is the fake scheduler's reaction to an event.
func (n *node) handle(ev leasing.Event) {
	c, t := n.c, n.c.t
	t.Helper()
	n.events = append(n.events, ev)
	id := ev.Lease.Shard
	switch ev.Kind {
	case leasing.Acquired:
		s := c.shards[id]
		if s == nil {
			t.Errorf("%s acquired unknown shard %s", n.id, id)
			return
		}
		for _, p := range ev.Lease.Parents {
			if ps := c.shards[p]; ps != nil && ps.last > 0 && ps.processed[ps.last] == 0 {
				t.Errorf("%s acquired %s before its parent %s was read to its end", n.id, id, p)
			}
		}
		if ev.Lease.Ended() {
			t.Errorf("%s acquired the ended lease %s", n.id, id)
		}
		pos := 0
		if ev.Lease.HasCheckpoint() {
			var err error
			if pos, err = strconv.Atoi(ev.Lease.Checkpoint.SequenceNumber); err != nil {
				t.Fatalf("checkpoint of %s: %v", id, err)
			}
		}
		n.reading[id] = &readState{pos: pos, committed: pos}
		c.acquired[id] = append(c.acquired[id], acquisition{worker: n.id, at: c.now, from: pos + 1})
	case leasing.Revoke:
		if n.ignoreRevoke {
			return
		}
		// Stop reading, commit what was processed, hand over.
		rs := n.reading[id]
		delete(n.reading, id)
		if rs != nil && rs.pos > rs.committed {
			if err := n.m.Checkpoint(t.Context(), id, checkpoint.At(strconv.Itoa(rs.pos))); err != nil {
				if !errors.Is(err, lease.ErrLost) {
					t.Errorf("%s: checkpoint at handoff: %v", n.id, err)
				}
				return
			}
		}
		if err := n.m.Release(t.Context(), id); err != nil && !errors.Is(err, lease.ErrLost) {
			t.Errorf("%s: Release: %v", n.id, err)
		}
		c.handoffs++
	case leasing.Lost:
		delete(n.reading, id)
	}
}

// read processes one record of every shard n reads, checkpointing every
// commitEvery records, and writes the end marker of shards read to their end.
func (c *cluster) read(n *node) {
	c.t.Helper()
	ctx := c.t.Context()
	for _, id := range slices.Sorted(maps.Keys(n.reading)) {
		rs, s := n.reading[id], c.shards[id]
		if s.last > 0 && rs.pos >= s.last {
			delete(n.reading, id)
			if err := n.m.Checkpoint(ctx, id, checkpoint.Ended()); err != nil {
				if !errors.Is(err, lease.ErrLost) {
					c.t.Errorf("%s: end marker of %s: %v", n.id, id, err)
				}
				continue
			}
			s.endedAt = c.now
			c.discover(n)
			continue
		}
		rs.pos++
		s.processed[rs.pos]++
		if rs.pos-rs.committed >= commitEvery {
			err := n.m.Checkpoint(ctx, id, checkpoint.At(strconv.Itoa(rs.pos)))
			switch {
			case errors.Is(err, lease.ErrLost):
				delete(n.reading, id)
			case err != nil:
				if !n.storeDown {
					c.t.Errorf("%s: checkpoint of %s: %v", n.id, id, err)
				}
			default:
				rs.committed = rs.pos
			}
		}
	}
}

// discover learns the children of ended shards and syncs them, as a
// scheduler does when a shard ends (a partial sync of the children the end
// named), then lists and syncs the whole stream.
func (c *cluster) discover(n *node) {
	var fresh []leasing.Shard
	for _, id := range slices.Sorted(maps.Keys(c.shards)) {
		s := c.shards[id]
		if !s.hidden {
			continue
		}
		for _, p := range s.parents {
			if ps := c.shards[p]; ps != nil && ps.endedAt >= 0 && s.hidden {
				s.hidden = false
				fresh = append(fresh, leasing.Shard{ID: s.id, Parents: s.parents})
			}
		}
	}
	if len(fresh) > 0 {
		if _, err := n.m.Sync(c.t.Context(), fresh, false); err != nil {
			c.t.Errorf("%s: Sync of %v: %v", n.id, fresh, err)
		}
	}
	if _, err := n.m.Sync(c.t.Context(), c.listed(), true); err != nil {
		c.t.Errorf("%s: Sync: %v", n.id, err)
	}
}

// running returns the workers whose clock and scheduler run.
func (c *cluster) running() []*node {
	var out []*node
	for _, n := range c.nodes {
		if !n.dead && !n.frozen {
			out = append(out, n)
		}
	}
	return out
}

// step runs one tick of every running worker, and checks that no shard is
// read by two running workers.
func (c *cluster) step() {
	c.t.Helper()
	c.now += tick
	for _, n := range c.running() {
		n.clock.Advance(tick)
		c.settle(n)
		c.read(n)
		c.settle(n)
	}
	readers := map[string][]string{}
	for _, n := range c.running() {
		for id := range n.reading {
			readers[id] = append(readers[id], n.id)
		}
	}
	for id, rs := range readers {
		if len(rs) > 1 {
			c.t.Fatalf("at %v shard %s is read by %v at once", c.now, id, rs)
		}
	}
}

// run runs d of simulated time.
func (c *cluster) run(d time.Duration) {
	c.t.Helper()
	for end := c.now + d; c.now < end; {
		c.step()
	}
}

// until steps until cond holds, failing after limit of simulated time, and
// returns the simulated time it took.
func (c *cluster) until(what string, limit time.Duration, cond func() bool) time.Duration {
	c.t.Helper()
	start := c.now
	for !cond() {
		if c.now-start >= limit {
			c.t.Fatalf("%s: not reached after %v of simulated time; reading: %s", what, limit, c.describe())
		}
		c.step()
	}
	return c.now - start
}

// loads returns how many shards each running worker reads, in join order.
func (c *cluster) loads() []int {
	var out []int
	for _, n := range c.running() {
		out = append(out, len(n.reading))
	}
	return out
}

// balanced returns a condition: the running workers read these many shards
// each, in join order.
func (c *cluster) balanced(want ...int) func() bool {
	return func() bool { return slices.Equal(c.loads(), want) }
}

func (c *cluster) describe() string {
	var b strings.Builder
	for _, n := range c.nodes {
		state := ""
		switch {
		case n.dead:
			state = " (dead)"
		case n.frozen:
			state = " (frozen)"
		}
		fmt.Fprintf(&b, "%s%s: %d %v; ", n.id, state, len(n.reading), slices.Sorted(maps.Keys(n.reading)))
	}
	return b.String()
}

// reader returns the running worker that reads shard, or nil.
func (c *cluster) reader(shard string) *node {
	for _, n := range c.running() {
		if n.reading[shard] != nil {
			return n
		}
	}
	return nil
}

// kill stops n as a crash would: no Close, no more renewals.
func (c *cluster) kill(n *node) {
	n.dead = true
	n.cancel()
	for range n.m.Events() {
	}
}

// closeNode shuts n down gracefully: its scheduler stops reading and writes
// its checkpoints, then the Manager closes.
func (c *cluster) closeNode(n *node) {
	c.t.Helper()
	ctx := c.t.Context()
	for _, id := range slices.Sorted(maps.Keys(n.reading)) {
		rs := n.reading[id]
		if rs.pos > rs.committed {
			if err := n.m.Checkpoint(ctx, id, checkpoint.At(strconv.Itoa(rs.pos))); err != nil {
				c.t.Errorf("%s: checkpoint on close: %v", n.id, err)
			}
		}
		delete(n.reading, id)
	}
	if err := n.m.Close(ctx); err != nil {
		c.t.Errorf("%s: Close: %v", n.id, err)
	}
	n.dead = true
	n.cancel()
	for range n.m.Events() {
	}
}

// stopAll stops every worker still running, so no goroutine outlives the
// test.
func (c *cluster) stopAll() {
	for _, n := range c.nodes {
		n.cancel()
		for range n.m.Events() {
		}
	}
}

// duplicates returns how many records of shards were processed more than
// once (each extra time counts), and checks that no record was skipped:
// every shard's processed records are 1..max.
func (c *cluster) duplicates(shards ...string) int {
	c.t.Helper()
	if len(shards) == 0 {
		shards = slices.Sorted(maps.Keys(c.shards))
	}
	dups := 0
	for _, id := range shards {
		s := c.shards[id]
		maxRec := 0
		for r, n := range s.processed {
			maxRec = max(maxRec, r)
			dups += n - 1
		}
		for r := 1; r <= maxRec; r++ {
			if s.processed[r] == 0 {
				c.t.Errorf("shard %s: record %d was never processed (records up to %d were)", id, r, maxRec)
				break
			}
		}
	}
	return dups
}

// leases lists the lease table.
func (c *cluster) leases() map[string]lease.Lease {
	c.t.Helper()
	ls, _, err := c.store.List(c.t.Context(), c.app, c.stream)
	if err != nil {
		c.t.Fatal(err)
	}
	out := make(map[string]lease.Lease)
	for _, l := range ls {
		out[l.Shard] = l
	}
	return out
}

// cycles formats a simulated duration in cycles.
func cycles(d time.Duration) string {
	return fmt.Sprintf("%v (%.1f cycles)", d, float64(d)/float64(cycle))
}
