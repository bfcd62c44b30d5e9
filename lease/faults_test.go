package lease_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
	"github.com/kinesin-go/kinesin/lease/memory"
)

var errUnreachable = errors.New("store unreachable")

// TestCutOffWorkerStopsFirst: a worker cut off from the store gives its
// leases up (Lost) before anyone can take them, so no shard is ever read by
// two workers (step checks it every tick), and comes back when the store is
// reachable again.
func TestCutOffWorkerStopsFirst(t *testing.T) {
	store := memory.New()
	c := newCluster(t, store, openShards(12))
	p := leasetest.NewFaulty(t, store) // the store as w1 reaches it
	w1 := c.addWith("w1", p)
	c.add("w2")
	c.add("w3")
	c.until("4/4/4", 10*cycle, c.balanced(4, 4, 4))
	c.run(3 * time.Second)
	held := slices.Sorted(maps.Keys(w1.reading))
	cut := p.Inject(leasetest.Fault{Action: leasetest.Fail(errUnreachable)})
	w1.storeDown = true
	cutAt := c.now
	stopped := c.until("the cut-off worker stops reading", leaseDur, func() bool { return len(w1.reading) == 0 })
	took := c.until("its shards read by others", leaseDur+2*cycle, func() bool {
		for _, id := range held {
			if c.reader(id) == nil {
				return false
			}
		}
		return true
	})
	t.Logf("cut off: stopped reading its shards %v after the cut, others read them %v after the cut", stopped, stopped+took)
	if stopped > leaseDur {
		t.Errorf("stopped after %v, want within the lease duration", stopped)
	}
	for _, ev := range w1.events[len(w1.events)-len(held):] {
		if ev.Kind != lease.Lost {
			t.Errorf("event %v, want Lost", ev)
		}
	}
	cut.Remove()
	w1.storeDown = false
	back := c.until("4/4/4 after the store is back", 4*cycle, c.balanced(4, 4, 4))
	t.Logf("store reachable again at %v: 4/4/4 %v later", c.now-back-cutAt, back)
}

// TestHandoffTimeout: a scheduler that never answers Revoke loses the lease
// after HandoffTimeout, and the requester gets it.
func TestHandoffTimeout(t *testing.T) {
	c := newCluster(t, memory.New(), openShards(12))
	w1, _, _ := c.add("w1"), c.add("w2"), c.add("w3")
	c.until("4/4/4", 10*cycle, c.balanced(4, 4, 4))
	w1.ignoreRevoke = true
	seen := len(w1.events)
	c.add("w4")
	took := c.until("3/3/3/3", lease.DefaultLeaseDuration/2+2*cycle, c.balanced(3, 3, 3, 3))
	var revoked, lost []string
	for _, ev := range w1.events[seen:] {
		switch ev.Kind {
		case lease.Revoke:
			revoked = append(revoked, ev.Lease.Shard)
		case lease.Lost:
			lost = append(lost, ev.Lease.Shard)
		}
	}
	if len(revoked) != 1 || !slices.Equal(revoked, lost) {
		t.Errorf("w1 revoked %v and lost %v, want the same single shard", revoked, lost)
	}
	if took < lease.DefaultLeaseDuration/2 {
		t.Errorf("rebalanced after %v, before the handoff timeout", took)
	}
	t.Logf("unanswered Revoke: released after the handoff timeout, 3/3/3/3 %v after the join", took)
	if d := c.duplicates(); d > commitEvery {
		t.Errorf("%d duplicates, want at most the uncommitted records of one shard", d)
	}
}

// TestRestartSameWorkerID: a process restarted under the same worker id
// takes its leases back at its first cycle, and fences its previous run.
func TestRestartSameWorkerID(t *testing.T) {
	c := newCluster(t, memory.New(), openShards(4))
	old := c.add("w1")
	c.until("4 read", 2*cycle, c.balanced(4))
	c.run(time.Second)
	positions := map[string]int{}
	for id, rs := range old.reading {
		positions[id] = rs.committed
	}
	c.kill(old)
	restarted := c.add("w1")
	if len(restarted.reading) != 4 {
		t.Fatalf("restarted worker reads %d shards at its first cycle, want all 4 back at once", len(restarted.reading))
	}
	for id, rs := range restarted.reading {
		if rs.pos != positions[id] {
			t.Errorf("shard %s restarted at %d, want the checkpoint %d", id, rs.pos, positions[id])
		}
	}
	err := old.m.Checkpoint(t.Context(), shardID(0), checkpoint.At("999999"))
	if !errors.Is(err, lease.ErrLost) {
		t.Errorf("Checkpoint by the previous run = %v, want ErrLost", err)
	}
}

// TestCheckpointsRaceRenewals: checkpoints written from many goroutines while
// the Manager renews never fail each other: writes of one lease are
// serialized.
func TestCheckpointsRaceRenewals(t *testing.T) {
	store := leasetest.NewFaulty(t, memory.New())
	// A lease duration far beyond the simulated time: fake seconds pass in
	// microseconds here, and a checkpoint goroutine descheduled for a while
	// would see its lease expire.
	c := newCluster(t, store, openShards(8), lease.LeaseDuration(time.Hour), lease.RenewInterval(time.Second))
	n := c.add("w1")
	if len(n.reading) != 8 {
		t.Fatalf("reads %d shards, want 8", len(n.reading))
	}
	var (
		wg   sync.WaitGroup
		stop atomic.Bool
		errs = make(chan error, 8)
	)
	for _, id := range slices.Sorted(maps.Keys(n.reading)) {
		wg.Go(func() {
			for seq := 1; !stop.Load(); seq++ {
				if err := n.m.Checkpoint(context.Background(), id, checkpoint.At(strconv.Itoa(seq))); err != nil {
					errs <- fmt.Errorf("shard %s, checkpoint %d: %w", id, seq, err)
					return
				}
			}
		})
	}
	renewals := store.Calls(leasetest.OpRenew)
	for range 50 {
		n.clock.Advance(time.Second)
		c.settle(n)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, ev := range n.events {
		if ev.Kind != lease.Acquired {
			t.Errorf("event %v, want none but Acquired", ev)
		}
	}
	t.Logf("%d checkpoints and %d renewals of 8 leases, none refused",
		store.Calls(leasetest.OpCheckpoint), store.Calls(leasetest.OpRenew)-renewals)
}

// TestCloseBounded: Close gives up when its context ends, with the store
// stuck and a checkpoint in flight, and leaves no goroutine behind.
func TestCloseBounded(t *testing.T) {
	store := leasetest.NewFaulty(t, memory.New())
	c := newCluster(t, store, openShards(2))
	n := c.add("w1")
	stuck := store.Inject(leasetest.Fault{Action: leasetest.Hang})
	defer stuck.Remove()
	inFlight := make(chan error, 1)
	go func() { inFlight <- n.m.Checkpoint(context.Background(), shardID(0), checkpoint.At("7")) }()
	if err := store.WaitHung(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := n.m.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close with a stuck store = %v, want an error wrapping the deadline", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Close returned after %v", elapsed)
	}
	stuck.Remove()
	if err := <-inFlight; err != nil {
		t.Errorf("the checkpoint in flight: %v", err)
	}
	if err2 := n.m.Close(t.Context()); !errors.Is(err2, context.DeadlineExceeded) {
		t.Errorf("second Close = %v, want the first one's result", err2)
	}
	n.dead = true
	for range n.m.Events() {
	}
}

// TestLifecycle covers the Manager's API outside the protocol: options,
// Start and Close, errors, hooks and Events.
func TestLifecycle(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	if _, err := lease.New(nil, "a", "s"); !errors.Is(err, lease.ErrInvalidOption) {
		t.Errorf("New with a nil store = %v, want ErrInvalidOption", err)
	}

	// Close before Start.
	m, err := lease.New(store, "a", "s", lease.WorkerID("w"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(ctx); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	if _, ok := <-m.Events(); ok {
		t.Error("Events open after Close")
	}
	if err := m.Start(ctx); !errors.Is(err, lease.ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}

	// A worker with hooks.
	var (
		mu    sync.Mutex
		calls []string
	)
	hook := func(kind string) func(lease.Lease) {
		return func(l lease.Lease) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, kind+" "+l.Shard)
		}
	}
	clock := leasetest.NewClock(epoch)
	m, err = lease.New(store, "a", "s", lease.WorkerID("w"), lease.WithClock(clock),
		lease.WithHooks(lease.Hooks{OnAssigned: hook("assigned"), OnRevoked: hook("revoked"), OnLost: hook("lost")}))
	if err != nil {
		t.Fatal(err)
	}
	if m.WorkerID() != "w" {
		t.Errorf("WorkerID() = %q", m.WorkerID())
	}
	if n, err := m.Sync(ctx, []lease.Shard{{ID: "s1"}, {ID: "s2"}}, true); err != nil || n != 2 {
		t.Fatalf("Sync = %d, %v; want 2 created", n, err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	var events []lease.Event
	for range 2 {
		events = append(events, <-m.Events())
	}
	for _, ev := range events {
		if ev.Kind != lease.Acquired || ev.Lease.Owner != "w" {
			t.Errorf("event %v, want Acquired by w", ev)
		}
	}
	if got := m.Held(); len(got) != 2 {
		t.Errorf("Held() = %v, want 2 leases", got)
	}
	if got := m.Snapshot(); len(got) != 2 {
		t.Errorf("Snapshot() = %v, want 2 leases", got)
	}
	if err := m.Checkpoint(ctx, "s1", checkpoint.At("x")); !errors.Is(err, checkpoint.ErrInvalid) {
		t.Errorf("Checkpoint of a malformed position = %v, want checkpoint.ErrInvalid", err)
	}
	if err := m.Checkpoint(ctx, "nope", checkpoint.At("1")); !errors.Is(err, lease.ErrLost) {
		t.Errorf("Checkpoint of a shard not held = %v, want ErrLost", err)
	}
	if err := m.Checkpoint(ctx, "s1", checkpoint.At("10")); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkpoint(ctx, "s1", checkpoint.At("9")); err != nil {
		t.Errorf("a checkpoint behind the stored one = %v, want no error", err)
	}
	// Another worker asks for s1; this one's next checkpoint shows it.
	ls, _, _ := store.List(ctx, "a", "s")
	if _, err := store.RequestHandoff(ctx, "a", "s", ls[0], "other"); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkpoint(ctx, "s1", checkpoint.At("11")); err != nil {
		t.Fatal(err)
	}
	if ev := <-m.Events(); ev.Kind != lease.Revoke || ev.Lease.Shard != "s1" || ev.Lease.NextOwner != "other" {
		t.Errorf("event %v, want Revoke s1 for other", ev)
	}
	if got := m.Held(); len(got) != 1 || got[0].Shard != "s2" {
		t.Errorf("Held() during the handoff = %v, want s2 only", got)
	}
	if err := m.Release(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Release(ctx, "s1"); !errors.Is(err, lease.ErrLost) {
		t.Errorf("second Release = %v, want ErrLost", err)
	}
	// s2 is taken by another worker behind this one's back: its next
	// checkpoint fails and Lost follows.
	ls, _, _ = store.List(ctx, "a", "s")
	if _, err := store.Take(ctx, "a", "s", ls[1], "thief"); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkpoint(ctx, "s2", checkpoint.At("1")); !errors.Is(err, lease.ErrLost) {
		t.Errorf("Checkpoint of a stolen lease = %v, want ErrLost", err)
	}
	if ev := <-m.Events(); ev.Kind != lease.Lost || ev.Lease.Shard != "s2" {
		t.Errorf("event %v, want Lost s2", ev)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-m.Events(); ok {
		t.Error("Events open after Close")
	}
	if err := m.Checkpoint(ctx, "s1", checkpoint.At("12")); !errors.Is(err, lease.ErrClosed) {
		t.Errorf("Checkpoint after Close = %v, want ErrClosed", err)
	}
	if _, ws, _ := store.List(ctx, "a", "s"); len(ws) != 0 {
		t.Errorf("worker rows after Close: %v, want none", ws)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"assigned s1", "assigned s2", "revoked s1", "lost s2"}
	slices.Sort(calls[:2])
	if !slices.Equal(calls, want) {
		t.Errorf("hooks called %v, want %v", calls, want)
	}
}

func TestOptionsValidated(t *testing.T) {
	store := memory.New()
	for _, tc := range []struct {
		opts []lease.Option
		want []string // words the error names
	}{
		{[]lease.Option{lease.LeaseDuration(0)}, []string{"LeaseDuration"}},
		{[]lease.Option{lease.RenewInterval(6 * time.Second)}, []string{"RenewInterval", "LeaseDuration"}},
		{[]lease.Option{lease.RenewInterval(-1)}, []string{"RenewInterval"}},
		{[]lease.Option{lease.CycleInterval(10 * time.Second)}, []string{"CycleInterval", "LeaseDuration"}},
		{[]lease.Option{lease.CycleInterval(-1)}, []string{"CycleInterval"}},
		{[]lease.Option{lease.HandoffTimeout(-1)}, []string{"HandoffTimeout"}},
		{[]lease.Option{lease.MaxStealsPerCycle(-1)}, []string{"MaxStealsPerCycle"}},
		{[]lease.Option{lease.WorkerID("\xff")}, []string{"WorkerID"}},
		{[]lease.Option{lease.Concurrency(0)}, []string{"Concurrency"}},
	} {
		_, err := lease.New(store, "a", "s", tc.opts...)
		if !errors.Is(err, lease.ErrInvalidOption) {
			t.Errorf("%v: New = %v, want ErrInvalidOption", tc.want, err)
			continue
		}
		for _, w := range tc.want {
			if !containsWord(err.Error(), w) {
				t.Errorf("error %q does not name %s", err, w)
			}
		}
	}
	if _, err := lease.New(store, "a", ""); !errors.Is(err, lease.ErrInvalidOption) {
		t.Errorf("New with an empty stream = %v, want ErrInvalidOption", err)
	}
	m, err := lease.New(store, "a", "s", lease.LeaseDuration(30*time.Second), nil, lease.Concurrency(1))
	if err != nil {
		t.Fatalf("valid options: %v", err)
	}
	if m.WorkerID() == "" {
		t.Error("no default worker id")
	}
	other, _ := lease.New(store, "a", "s")
	if other.WorkerID() == m.WorkerID() {
		t.Errorf("two managers share the default worker id %q", m.WorkerID())
	}
	if err := m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

// creates records the shards of the leases a store created, in order.
type creates struct {
	lease.Store
	mu  sync.Mutex
	ids []string
}

func (c *creates) Create(ctx context.Context, app, stream string, l lease.Lease) error {
	err := c.Store.Create(ctx, app, stream, l)
	if err == nil {
		c.mu.Lock()
		c.ids = append(c.ids, l.Shard)
		c.mu.Unlock()
	}
	return err
}

// TestSync: leases are created once, with their parents and checkpoint,
// parents before children; a failure creates nothing after it.
func TestSync(t *testing.T) {
	ctx := t.Context()
	store := leasetest.NewFaulty(t, memory.New())
	rec := &creates{Store: store}
	m, err := lease.New(rec, "a", "s", lease.WorkerID("w"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	start := checkpoint.StartAt(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	// Children sort before their parents by id: created after them all the
	// same.
	shards := []lease.Shard{
		{ID: "c", Parents: []string{"p", ""}}, {ID: "p", Parents: []string{"g"}}, {ID: "g", Checkpoint: start},
		{ID: "m", Parents: []string{"x", "y"}}, {ID: "x"}, {ID: "y"},
	}
	if n, err := m.Sync(ctx, shards, true); err != nil || n != 6 {
		t.Fatalf("first Sync = %d, %v; want 6", n, err)
	}
	if want := []string{"g", "p", "c", "x", "y", "m"}; !slices.Equal(rec.ids, want) {
		t.Errorf("created %v, want parents first: %v", rec.ids, want)
	}
	if n, err := m.Sync(ctx, shards, true); err != nil || n != 0 {
		t.Fatalf("second Sync = %d, %v; want 0", n, err)
	}
	ls, _, _ := store.List(ctx, "a", "s")
	byID := map[string]lease.Lease{}
	for _, l := range ls {
		byID[l.Shard] = l
	}
	if !slices.Equal(byID["c"].Parents, []string{"p"}) || !slices.Equal(byID["m"].Parents, []string{"x", "y"}) {
		t.Errorf("parents of c %q and m %q", byID["c"].Parents, byID["m"].Parents)
	}
	if byID["g"].Checkpoint != start || byID["p"].HasCheckpoint() {
		t.Errorf("checkpoints of g %v and p %v, want the start given and none", byID["g"].Checkpoint, byID["p"].Checkpoint)
	}
	// A failure stops the sync: no lease is created below a parent whose
	// lease could not be.
	store2 := leasetest.NewFaulty(t, memory.New())
	m2, err := lease.New(store2, "a", "s", lease.WorkerID("w"))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close(ctx)
	store2.Inject(once(leasetest.OpCreate, leasetest.Fail(errUnreachable)))
	if _, err := m2.Sync(ctx, shards, true); !errors.Is(err, errUnreachable) {
		t.Errorf("Sync with Create failing = %v, want its error", err)
	}
	if ls, _, _ := store2.List(ctx, "a", "s"); len(ls) != 0 {
		t.Errorf("%d leases created after the first failed, want none", len(ls))
	}
	store.Inject(once(leasetest.OpList, leasetest.Fail(errUnreachable)))
	if _, err := m.Sync(ctx, shards, true); !errors.Is(err, errUnreachable) {
		t.Errorf("Sync with the store down = %v, want its error", err)
	}
	if _, err := m.Sync(ctx, []lease.Shard{{ID: ""}}, true); !errors.Is(err, lease.ErrInvalid) {
		t.Errorf("Sync of an empty shard id = %v, want ErrInvalid", err)
	}
}

// TestRealClock runs two workers on the real clock with short durations:
// they split the shards and hand them over on Close.
func TestRealClock(t *testing.T) {
	store := memory.New()
	opts := []lease.Option{lease.LeaseDuration(400 * time.Millisecond), lease.CycleInterval(20 * time.Millisecond)}
	shards := []lease.Shard{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	type worker struct {
		m       *lease.Manager
		mu      sync.Mutex
		reading map[string]bool
		done    chan struct{}
	}
	changed := make(chan struct{}, 1)
	start := func(id string) *worker {
		m, err := lease.New(store, "app", "stream", append(opts, lease.WorkerID(id))...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Sync(t.Context(), shards, true); err != nil {
			t.Fatal(err)
		}
		w := &worker{m: m, reading: map[string]bool{}, done: make(chan struct{})}
		go func() {
			defer close(w.done)
			for ev := range m.Events() {
				w.mu.Lock()
				switch ev.Kind {
				case lease.Acquired:
					w.reading[ev.Lease.Shard] = true
				case lease.Revoke:
					delete(w.reading, ev.Lease.Shard)
					_ = m.Release(context.Background(), ev.Lease.Shard)
				case lease.Lost:
					delete(w.reading, ev.Lease.Shard)
				}
				w.mu.Unlock()
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}()
		if err := m.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return w
	}
	count := func(w *worker) int {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.reading)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !cond() {
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("%s: not reached", what)
			}
		}
	}
	a := start("a")
	waitFor("a reads all", func() bool { return count(a) == 4 })
	b := start("b")
	waitFor("2/2", func() bool { return count(a) == 2 && count(b) == 2 })
	if err := a.m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-a.done
	waitFor("b reads all", func() bool { return count(b) == 4 })
	if err := b.m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-b.done
}

// TestHungStore: when every store call hangs, the worker still gives its
// leases up (Lost) when it could not renew them for 90% of the lease
// duration: store calls of the Manager's own passes end in time.
func TestHungStore(t *testing.T) {
	store := leasetest.NewFaulty(t, memory.New())
	const ld = 200 * time.Millisecond
	clock := leasetest.NewClock(epoch)
	m, err := lease.New(store, "a", "s", lease.WorkerID("w"), lease.WithClock(clock),
		lease.LeaseDuration(ld), lease.CycleInterval(40*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sync(t.Context(), []lease.Shard{{ID: "s1"}, {ID: "s2"}}, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		for range m.Events() {
		}
	}()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if ev := <-m.Events(); ev.Kind != lease.Acquired {
			t.Fatalf("event %v, want Acquired", ev)
		}
	}
	hung := store.Inject(leasetest.Fault{Action: leasetest.Hang})
	defer hung.Remove()
	var lostAt time.Duration
	for elapsed := time.Duration(0); lostAt == 0; {
		if elapsed > ld {
			t.Fatalf("no Lost %v after the store hung", elapsed)
		}
		clock.Advance(10 * time.Millisecond)
		elapsed += 10 * time.Millisecond
		if err := clock.WaitPending(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		if lease.EmittedEvents(m) > 2 {
			for range 2 {
				if ev := <-m.Events(); ev.Kind != lease.Lost {
					t.Fatalf("event %v, want Lost", ev)
				}
			}
			lostAt = elapsed
		}
	}
	if want := ld - ld/10; lostAt != want {
		t.Errorf("Lost %v after the last renewal, want %v (90%% of the lease duration)", lostAt, want)
	}
	if h := m.Held(); len(h) != 0 {
		t.Errorf("Held() = %v, want nothing", h)
	}
}
