// Package leasetest is the conformance suite every lease.Store passes, the
// consumer of package kinesin run with its shards leased from a store
// (RunConsumerTests), a Faulty wrapping any store to inject faults into its
// calls, and a manual Clock for tests of the lease protocol.
//
// # Wiring a store
//
// A store package runs the suite from one test, handing it a function that
// builds a Harness for each case:
//
//	func TestConformance(t *testing.T) {
//		leasetest.RunConformanceTests(t, func(t *testing.T) leasetest.Harness {
//			return harness{store: memory.New()}
//		})
//	}
//
//	type harness struct{ store *memory.Store }
//
//	func (h harness) Store() lease.Store { return h.store }
//	func (h harness) Names() (app, stream string) {
//		return leasetest.UniqueName("app"), leasetest.UniqueName("stream")
//	}
//	func (h harness) Close() {}
//
// A store kept in a long-lived emulator or service runs the suite again and
// again against the same state: its Names must never repeat across runs,
// which UniqueName ensures.
//
// # What is checked
//
// Each case is a subtest named after the behaviour it checks: an empty List;
// Create of free leases, once (ErrExists after); Take of a free lease, and
// ErrLost for a stale counter, a wrong owner or a missing lease; Renew
// incrementing the counter, ErrLost for a non-owner or a stale counter;
// checkpoints fenced by the counter (a stale holder's write fails and leaves
// the new owner's), forward-only, round-tripping sub-sequence numbers,
// 129-digit sequence numbers and the end marker; Release then Take by
// another worker; conditional Delete; handoff requests that leave the counter
// alone and are cleared by Take and Release; worker heartbeats listed with
// growing counters, kept apart from leases of the same id, and conditional
// DeleteWorker; parents round-tripping in order; isolation of (app, stream)
// pairs, including names that join into the same string; concurrent takers
// of one lease (exactly one wins) and concurrent writes on one counter;
// contexts already done; leases owned by the caller; 300 leases in one List;
// malformed arguments refused with ErrInvalid or checkpoint.ErrInvalid.
//
// On a store that implements lease.Admin, the Admin cases check
// SetCheckpoint too (they skip on others): checkpoints moved backwards, off
// the end marker and to starts, on free and held leases; the counter
// incremented, fencing the holder; owner, handoff request and parents kept;
// the zero Checkpoint removing it; ErrLost, changing nothing, for a lease
// not as observed, and one winner of two writes on a counter; invalid
// arguments refused.
//
// # The consumer with leases from a store
//
// RunConsumerTests runs the consumer of package kinesin with
// kinesin.WithLeases and the store, against the in-memory Kinesis of package
// kinesistest: a worker that crashes and restarts with the same worker id
// takes its leases back and resumes just after their checkpoints
// (RestartResumesAfterCheckpoint), and an outage of the store, shorter than
// the lease duration, loses no commit, while one outlasting
// kinesin.WithStoreOutage ends the stream (OutageLosesNoCommit). A store needs
// nothing but a function returning a store on a new client of its storage:
//
//	func TestConsumer(t *testing.T) {
//		table := newTable(t)
//		leasetest.RunConsumerTests(t, func(t *testing.T) lease.Store {
//			return dynamolease.New(newClient(t), table)
//		})
//	}
//
// # Faults
//
// A Faulty wraps any lease.Store and passes its calls through, but for those
// hit by the faults injected into it, in the vocabulary of kinesistest's
// faults: a Fault selects calls by operation (OpRenew, OpCheckpoint, ...),
// app, stream and shard (Match), bounded by a count (Times) or a seeded
// chance (Probability), or a Script gives successive calls successive
// actions. An Action fails a call before the store (Fail), after the store
// applied it (FailAfter: a write whose reply was lost), hangs it until the
// fault is removed (Hang: a frozen process; WaitHung waits until calls hang),
// or delays it (Latency). A fault on an unknown operation, or with a value
// out of range, is refused with an error wrapping ErrInvalidFault.
//
//	store := leasetest.NewFaulty(t, memory.New())
//	store.Inject(leasetest.Fault{
//		Match:  leasetest.Match{Op: leasetest.OpRenew},
//		Action: leasetest.FailAfter(context.DeadlineExceeded),
//		Times:  1,
//	})
//	// ... the next renewal applies, and its caller gets the deadline
package leasetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/storetest"
	"github.com/kinesin-go/kinesin/lease"
)

// Harness adapts one store implementation to the suite. The suite makes a
// harness per case and calls Close when the case ends.
type Harness interface {
	// Store returns the store under test. The suite calls it once per case
	// and may call its methods from many goroutines.
	Store() lease.Store
	// Names returns an app name and a stream name, each different from
	// every name an earlier call returned (in this run or an earlier one
	// against the same storage). The suite also builds names from them by
	// joining them with '/' and a letter.
	Names() (app, stream string)
	// Close releases what the harness holds.
	Close()
}

// UniqueName returns prefix followed by a suffix unique across processes and
// runs, made of lowercase letters, digits and '-'.
func UniqueName(prefix string) string { return storetest.UniqueName(prefix) }

// RunConformanceTests runs every case of the suite, each as a subtest of t
// with a harness made by newHarness. newHarness may skip or fail the test it
// is given, e.g. when the backing service is not running.
func RunConformanceTests(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	for _, c := range slices.Concat(cases, adminCases) {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			defer h.Close()
			app, stream := h.Names()
			c.run(t, &env{t: t, h: h, s: h.Store(), app: app, stream: stream})
		})
	}
}

// cases lists the suite in the order it runs.
var cases = []struct {
	name string
	run  func(*testing.T, *env)
}{
	{"EmptyList", testEmptyList},
	{"CreateAndList", testCreateAndList},
	{"CreateExisting", testCreateExisting},
	{"CreateWithCheckpoint", testCreateWithCheckpoint},
	{"TakeFree", testTakeFree},
	{"TakeStale", testTakeStale},
	{"RenewIncrementsCounter", testRenew},
	{"RenewByNonOwner", testRenewNonOwner},
	{"CheckpointFenced", testCheckpointFenced},
	{"CheckpointForwardOnly", testCheckpointForwardOnly},
	{"CheckpointRoundTrip", testCheckpointRoundTrip},
	{"ReleaseThenTake", testReleaseThenTake},
	{"Delete", testDelete},
	{"HandoffRequest", testHandoff},
	{"WorkerHeartbeats", testHeartbeats},
	{"WorkersApartFromLeases", testWorkersApart},
	{"ParentsRoundTrip", testParents},
	{"NamespacesIsolated", testIsolation},
	{"ConcurrentTakers", testConcurrentTakers},
	{"ConcurrentWritesOneCounter", testConcurrentWrites},
	{"DoneContext", testDoneContext},
	{"CallerOwnsLeases", testCallerOwns},
	{"ManyLeases", testManyLeases},
	{"InvalidArguments", testInvalid},
}

// env is what a case works with: a store and a fresh (app, stream).
type env struct {
	t           *testing.T
	h           Harness
	s           lease.Store
	app, stream string
}

func (e *env) ctx() context.Context { return e.t.Context() }

func (e *env) create(shard string, parents ...string) {
	e.t.Helper()
	if err := e.s.Create(e.ctx(), e.app, e.stream, lease.Lease{Shard: shard, Parents: parents}); err != nil {
		e.t.Fatalf("Create(%s): %v", shard, err)
	}
}

func (e *env) list() ([]lease.Lease, []lease.Worker) {
	e.t.Helper()
	return e.listOf(e.app, e.stream)
}

func (e *env) listOf(app, stream string) ([]lease.Lease, []lease.Worker) {
	e.t.Helper()
	ls, ws, err := e.s.List(e.ctx(), app, stream)
	if err != nil {
		e.t.Fatalf("List(%q, %q): %v", app, stream, err)
	}
	return ls, ws
}

// get returns the listed lease of shard, failing the test when absent.
func (e *env) get(shard string) lease.Lease {
	e.t.Helper()
	ls, _ := e.list()
	for _, l := range ls {
		if l.Shard == shard {
			return l
		}
	}
	e.t.Fatalf("List has no lease %s", shard)
	return lease.Lease{}
}

func (e *env) take(observed lease.Lease, owner string) lease.Lease {
	e.t.Helper()
	l, err := e.s.Take(e.ctx(), e.app, e.stream, observed, owner)
	if err != nil {
		e.t.Fatalf("Take(%v, %s): %v", observed, owner, err)
	}
	return l
}

// wantLost checks that err wraps lease.ErrLost.
func wantLost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, lease.ErrLost) {
		t.Errorf("%s = %v, want an error wrapping lease.ErrLost", what, err)
	}
}

// same reports the differences between got and want, comparing checkpoints
// with Compare (a store may drop leading zeros).
func same(got, want lease.Lease) string {
	var d []string
	if got.Shard != want.Shard {
		d = append(d, fmt.Sprintf("shard %q, want %q", got.Shard, want.Shard))
	}
	if got.Owner != want.Owner {
		d = append(d, fmt.Sprintf("owner %q, want %q", got.Owner, want.Owner))
	}
	if got.Counter != want.Counter {
		d = append(d, fmt.Sprintf("counter %d, want %d", got.Counter, want.Counter))
	}
	if got.HasCheckpoint() != want.HasCheckpoint() || got.Checkpoint.Compare(want.Checkpoint) != 0 ||
		got.Checkpoint.Partial != want.Checkpoint.Partial || !got.Checkpoint.Timestamp.Equal(want.Checkpoint.Timestamp) {
		d = append(d, fmt.Sprintf("checkpoint %#v, want %#v", got.Checkpoint, want.Checkpoint))
	}
	if !slices.Equal(got.Parents, want.Parents) && (len(got.Parents) > 0 || len(want.Parents) > 0) {
		d = append(d, fmt.Sprintf("parents %q, want %q", got.Parents, want.Parents))
	}
	if got.NextOwner != want.NextOwner {
		d = append(d, fmt.Sprintf("next owner %q, want %q", got.NextOwner, want.NextOwner))
	}
	return strings.Join(d, "; ")
}

func (e *env) expect(what string, got, want lease.Lease) {
	e.t.Helper()
	if d := same(got, want); d != "" {
		e.t.Errorf("%s: %s", what, d)
	}
}

const seq56 = "49590338271490256608559692538361571095921575989136588898"

func testEmptyList(t *testing.T, e *env) {
	ls, ws := e.list()
	if len(ls) != 0 || len(ws) != 0 {
		t.Fatalf("List of an empty state = %v, %v; want nothing", ls, ws)
	}
}

func testCreateAndList(t *testing.T, e *env) {
	for _, s := range []string{"shardId-000000000002", "shardId-000000000000", "shardId-000000000001"} {
		e.create(s)
	}
	ls, ws := e.list()
	if len(ws) != 0 {
		t.Errorf("List: workers %v, want none", ws)
	}
	if len(ls) != 3 {
		t.Fatalf("List: %d leases, want 3: %v", len(ls), ls)
	}
	for i, l := range ls {
		e.expect("listed lease", l, lease.Lease{Shard: fmt.Sprintf("shardId-%012d", i)})
	}
}

func testCreateExisting(t *testing.T, e *env) {
	e.create("s")
	l := e.take(e.get("s"), "w1")
	err := e.s.Create(e.ctx(), e.app, e.stream, lease.Lease{Shard: "s", Parents: []string{"p"}})
	if !errors.Is(err, lease.ErrExists) {
		t.Errorf("Create of an existing lease = %v, want an error wrapping lease.ErrExists", err)
	}
	if errors.Is(err, lease.ErrLost) {
		t.Errorf("Create of an existing lease = %v: wraps ErrLost too", err)
	}
	e.expect("lease after the refused Create", e.get("s"), l)
}

func testCreateWithCheckpoint(t *testing.T, e *env) {
	// Owner, counter and next owner given to Create are ignored.
	if err := e.s.Create(e.ctx(), e.app, e.stream, lease.Lease{
		Shard: "s", Owner: "w", Counter: 9, NextOwner: "x", Checkpoint: checkpoint.AtSub(seq56, 4),
	}); err != nil {
		t.Fatal(err)
	}
	e.expect("lease created with a checkpoint", e.get("s"), lease.Lease{Shard: "s", Checkpoint: checkpoint.AtSub(seq56, 4)})
	start := checkpoint.StartAt(time.Date(2026, 12, 7, 1, 2, 3, 456789012, time.UTC))
	if err := e.s.Create(e.ctx(), e.app, e.stream, lease.Lease{Shard: "started", Checkpoint: start}); err != nil {
		t.Fatal(err)
	}
	e.expect("lease created with a start checkpoint", e.get("started"), lease.Lease{Shard: "started", Checkpoint: start})
	err := e.s.Create(e.ctx(), e.app, e.stream, lease.Lease{Shard: "bad", Checkpoint: checkpoint.At("x1")})
	if !errors.Is(err, checkpoint.ErrInvalid) {
		t.Errorf("Create with a malformed checkpoint = %v, want checkpoint.ErrInvalid", err)
	}
}

func testTakeFree(t *testing.T, e *env) {
	e.create("s")
	free := e.get("s")
	got := e.take(free, "w1")
	want := lease.Lease{Shard: "s", Owner: "w1", Counter: free.Counter + 1}
	e.expect("Take's result", got, want)
	e.expect("listed after Take", e.get("s"), want)
	// The owner may take its own lease again (a restart under the same id):
	// that fences its earlier incarnation.
	again := e.take(got, "w1")
	e.expect("second Take by the owner", again, lease.Lease{Shard: "s", Owner: "w1", Counter: free.Counter + 2})
	_, err := e.s.Renew(e.ctx(), e.app, e.stream, got)
	wantLost(t, "Renew by the earlier incarnation", err)
}

func testTakeStale(t *testing.T, e *env) {
	e.create("s")
	free := e.get("s")
	held := e.take(free, "w1")

	_, err := e.s.Take(e.ctx(), e.app, e.stream, free, "w2")
	wantLost(t, "Take with the counter before w1's take", err)
	stale := held
	stale.Counter--
	_, err = e.s.Take(e.ctx(), e.app, e.stream, stale, "w2")
	wantLost(t, "Take with w1 as owner and a stale counter", err)
	wrong := held
	wrong.Owner = "w3"
	_, err = e.s.Take(e.ctx(), e.app, e.stream, wrong, "w2")
	wantLost(t, "Take with the right counter and a wrong owner", err)
	_, err = e.s.Take(e.ctx(), e.app, e.stream, lease.Lease{Shard: "absent"}, "w2")
	wantLost(t, "Take of a lease never created", err)
	e.expect("lease after the failed takes", e.get("s"), held)

	// With what it observes now, w2 takes the lease (w1 expired).
	got := e.take(held, "w2")
	e.expect("Take of an expired lease", got, lease.Lease{Shard: "s", Owner: "w2", Counter: held.Counter + 1})
}

func testRenew(t *testing.T, e *env) {
	e.create("s")
	held := e.take(e.get("s"), "w1")
	for i := range 3 {
		next, err := e.s.Renew(e.ctx(), e.app, e.stream, held)
		if err != nil {
			t.Fatalf("Renew %d: %v", i+1, err)
		}
		want := held
		want.Counter++
		e.expect("Renew's result", next, want)
		held = next
	}
	e.expect("listed after renewals", e.get("s"), held)
}

func testRenewNonOwner(t *testing.T, e *env) {
	e.create("s")
	held := e.take(e.get("s"), "w1")
	other := held
	other.Owner = "w2"
	_, err := e.s.Renew(e.ctx(), e.app, e.stream, other)
	wantLost(t, "Renew by a worker that is not the owner", err)
	stale := held
	stale.Counter--
	_, err = e.s.Renew(e.ctx(), e.app, e.stream, stale)
	wantLost(t, "Renew with a stale counter", err)
	e.expect("lease after failed renewals", e.get("s"), held)

	// A lease taken by another: the former owner's renewal fails.
	taken := e.take(held, "w2")
	_, err = e.s.Renew(e.ctx(), e.app, e.stream, held)
	wantLost(t, "Renew by the former owner", err)
	e.expect("lease after the former owner's renewal", e.get("s"), taken)

	// Renewing a free lease makes no sense.
	e.create("free")
	_, err = e.s.Renew(e.ctx(), e.app, e.stream, e.get("free"))
	if !errors.Is(err, lease.ErrInvalid) && !errors.Is(err, lease.ErrLost) {
		t.Errorf("Renew of a free lease = %v, want ErrInvalid or ErrLost", err)
	}
}

func testCheckpointFenced(t *testing.T, e *env) {
	e.create("s")
	a := e.take(e.get("s"), "a")
	a2, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, a, checkpoint.At("100"))
	if err != nil {
		t.Fatal(err)
	}
	e.expect("A's checkpoint", a2, lease.Lease{Shard: "s", Owner: "a", Counter: a.Counter + 1, Checkpoint: checkpoint.At("100")})

	// A pauses; B judges the lease expired and takes it.
	b := e.take(a2, "b")
	b2, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, b, checkpoint.At("150"))
	if err != nil {
		t.Fatal(err)
	}
	// A resumes: every write it makes with its old counter fails, even one
	// going further than B's.
	for _, cp := range []checkpoint.Checkpoint{checkpoint.At("120"), checkpoint.At("900"), checkpoint.Ended(), checkpoint.At("100")} {
		_, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, a2, cp)
		wantLost(t, fmt.Sprintf("stale holder's Checkpoint(%v)", cp), err)
	}
	_, err = e.s.Release(e.ctx(), e.app, e.stream, a2)
	wantLost(t, "stale holder's Release", err)
	e.expect("lease after the stale holder's writes", e.get("s"), b2)
}

func testCheckpointForwardOnly(t *testing.T, e *env) {
	e.create("s")
	h := e.take(e.get("s"), "w")
	write := func(cp checkpoint.Checkpoint, wantWrite bool) {
		t.Helper()
		got, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, h, cp)
		if err != nil {
			t.Fatalf("Checkpoint(%v): %v", cp, err)
		}
		want := h
		if wantWrite {
			want.Counter++
			want.Checkpoint = cp
		}
		e.expect(fmt.Sprintf("Checkpoint(%v)", cp), got, want)
		h = got
	}
	t0 := time.Date(2026, 12, 7, 1, 2, 3, 456789012, time.UTC)
	write(checkpoint.StartAt(t0), true)
	write(checkpoint.StartAt(t0.Add(-time.Second)), false) // an earlier start
	write(checkpoint.StartAt(t0.Add(time.Second)), true)   // a later one
	write(checkpoint.At("100"), true)                      // a position after a start
	write(checkpoint.StartAt(t0.Add(time.Hour)), false)    // no start after a position
	write(checkpoint.At("99"), false)                      // backwards: nothing written, no error
	write(checkpoint.At("100"), false)                     // equal
	write(checkpoint.At("1000"), true)                     // longer: above, though "1000" < "99" as strings
	write(checkpoint.AtSub("1000", 3), false)
	write(checkpoint.At("0001001"), true) // leading zeros: an integer above
	write(checkpoint.AtSub("2000", 3), true)
	write(checkpoint.AtSub("2000", 2), false)
	write(checkpoint.AtSub("2000", 10), true)
	write(checkpoint.At("2000"), true) // the whole record after its sub-records
	write(checkpoint.Ended(), true)
	write(checkpoint.At(strings.Repeat("9", 129)), false) // nothing after the end marker
	e.expect("listed", e.get("s"), h)

	// A no-op write by a holder that lost the lease is still ErrLost.
	taken := e.take(h, "other")
	_, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.At("1"))
	wantLost(t, "backwards Checkpoint by a former holder", err)
	e.expect("listed", e.get("s"), taken)
}

func testCheckpointRoundTrip(t *testing.T, e *env) {
	max129 := strings.Repeat("9", 129)
	for i, cp := range []checkpoint.Checkpoint{
		checkpoint.At("0"),
		checkpoint.At(seq56),
		checkpoint.AtSub(seq56, 0),
		checkpoint.AtSub(seq56, 9223372036854775807),
		checkpoint.At(max129),
		checkpoint.Ended(),
		checkpoint.StartAt(time.Unix(0, 1)),
		checkpoint.EndedFrom(time.Date(2026, 12, 7, 1, 2, 3, 456789012, time.UTC)),
	} {
		shard := fmt.Sprintf("s%d", i)
		e.create(shard)
		h := e.take(e.get(shard), "w")
		got, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, h, cp)
		if err != nil {
			t.Fatalf("Checkpoint(%#v): %v", cp, err)
		}
		want := h
		want.Counter++
		want.Checkpoint = cp
		e.expect("Checkpoint's result", got, want)
		listed := e.get(shard)
		e.expect("listed", listed, want)
		if listed.Checkpoint.SubSequenceNumber != cp.SubSequenceNumber {
			t.Errorf("sub-sequence number %d, want %d", listed.Checkpoint.SubSequenceNumber, cp.SubSequenceNumber)
		}
	}
}

func testReleaseThenTake(t *testing.T, e *env) {
	e.create("s")
	a := e.take(e.get("s"), "a")
	a, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, a, checkpoint.At("42"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := e.s.Release(e.ctx(), e.app, e.stream, a)
	if err != nil {
		t.Fatalf("Release: %v", err)
	}
	want := lease.Lease{Shard: "s", Counter: a.Counter + 1, Checkpoint: checkpoint.At("42")}
	e.expect("Release's result", rel, want)
	e.expect("listed after Release", e.get("s"), want)
	_, err = e.s.Release(e.ctx(), e.app, e.stream, a)
	wantLost(t, "second Release with the old counter", err)
	_, err = e.s.Renew(e.ctx(), e.app, e.stream, a)
	wantLost(t, "Renew after Release", err)

	b := e.take(rel, "b")
	e.expect("Take after Release", b, lease.Lease{Shard: "s", Owner: "b", Counter: rel.Counter + 1, Checkpoint: checkpoint.At("42")})
}

func testDelete(t *testing.T, e *env) {
	e.create("s")
	e.create("keep")
	free := e.get("s")
	h := e.take(free, "w")
	wantLost(t, "Delete with the free lease's counter", e.s.Delete(e.ctx(), e.app, e.stream, free))
	h, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.Ended())
	if err != nil {
		t.Fatal(err)
	}
	rel, err := e.s.Release(e.ctx(), e.app, e.stream, h)
	if err != nil {
		t.Fatal(err)
	}
	wantLost(t, "Delete with the owner's counter before Release", e.s.Delete(e.ctx(), e.app, e.stream, h))
	if err := e.s.Delete(e.ctx(), e.app, e.stream, rel); err != nil {
		t.Fatalf("Delete of the released lease: %v", err)
	}
	ls, _ := e.list()
	if len(ls) != 1 || ls[0].Shard != "keep" {
		t.Errorf("List after Delete = %v, want only keep", ls)
	}
	wantLost(t, "Delete of a deleted lease", e.s.Delete(e.ctx(), e.app, e.stream, rel))
	_, err = e.s.Take(e.ctx(), e.app, e.stream, rel, "x")
	wantLost(t, "Take of a deleted lease", err)
	// An owned lease can be deleted with its owner and counter.
	k := e.take(e.get("keep"), "w")
	if err := e.s.Delete(e.ctx(), e.app, e.stream, k); err != nil {
		t.Errorf("Delete of an owned lease with its owner and counter: %v", err)
	}
	// Deleted leases can be created again.
	e.create("s")
	e.expect("recreated", e.get("s"), lease.Lease{Shard: "s"})
}

func testHandoff(t *testing.T, e *env) {
	e.create("s")
	a := e.take(e.get("s"), "a")
	got, err := e.s.RequestHandoff(e.ctx(), e.app, e.stream, a, "b")
	if err != nil {
		t.Fatalf("RequestHandoff: %v", err)
	}
	want := a
	want.NextOwner = "b"
	e.expect("RequestHandoff's result (counter unchanged)", got, want)
	e.expect("listed", e.get("s"), want)

	// The owner's writes still succeed and keep the request visible.
	r, err := e.s.Renew(e.ctx(), e.app, e.stream, a)
	if err != nil {
		t.Fatalf("Renew after a handoff request: %v", err)
	}
	want.Counter++
	e.expect("Renew's result", r, want)

	// Asking again is idempotent; another worker cannot override it.
	if _, err := e.s.RequestHandoff(e.ctx(), e.app, e.stream, r, "b"); err != nil {
		t.Errorf("repeated RequestHandoff: %v", err)
	}
	_, err = e.s.RequestHandoff(e.ctx(), e.app, e.stream, r, "c")
	wantLost(t, "RequestHandoff by a second worker", err)
	wrong := r
	wrong.Owner = "z"
	_, err = e.s.RequestHandoff(e.ctx(), e.app, e.stream, wrong, "c")
	wantLost(t, "RequestHandoff naming the wrong owner", err)
	e.expect("listed", e.get("s"), want)

	// Release clears it.
	rel, err := e.s.Release(e.ctx(), e.app, e.stream, r)
	if err != nil {
		t.Fatal(err)
	}
	e.expect("Release's result", rel, lease.Lease{Shard: "s", Counter: r.Counter + 1})
	_, err = e.s.RequestHandoff(e.ctx(), e.app, e.stream, rel, "c")
	if !errors.Is(err, lease.ErrInvalid) && !errors.Is(err, lease.ErrLost) {
		t.Errorf("RequestHandoff of a free lease = %v, want ErrInvalid or ErrLost", err)
	}

	// Take clears it too.
	b := e.take(rel, "b")
	if _, err := e.s.RequestHandoff(e.ctx(), e.app, e.stream, b, "c"); err != nil {
		t.Fatal(err)
	}
	c := e.take(e.get("s"), "c")
	e.expect("Take's result", c, lease.Lease{Shard: "s", Owner: "c", Counter: b.Counter + 1})
	_, err = e.s.RequestHandoff(e.ctx(), e.app, e.stream, lease.Lease{Shard: "absent", Owner: "c"}, "d")
	wantLost(t, "RequestHandoff of a missing lease", err)
}

func testHeartbeats(t *testing.T, e *env) {
	beat := func(w string) lease.Worker {
		t.Helper()
		got, err := e.s.Heartbeat(e.ctx(), e.app, e.stream, w)
		if err != nil {
			t.Fatalf("Heartbeat(%s): %v", w, err)
		}
		return got
	}
	w1 := beat("w1")
	if w1 != (lease.Worker{ID: "w1", Counter: 1}) {
		t.Errorf("first Heartbeat = %+v, want counter 1", w1)
	}
	beat("w2")
	for range 3 {
		w1 = beat("w1")
	}
	if w1.Counter != 4 {
		t.Errorf("w1 after 4 heartbeats: counter %d, want 4", w1.Counter)
	}
	ls, ws := e.list()
	if len(ls) != 0 {
		t.Errorf("worker rows listed as leases: %v", ls)
	}
	want := []lease.Worker{{ID: "w1", Counter: 4}, {ID: "w2", Counter: 1}}
	if !slices.Equal(ws, want) {
		t.Errorf("workers %v, want %v", ws, want)
	}
	wantLost(t, "DeleteWorker with a stale counter", e.s.DeleteWorker(e.ctx(), e.app, e.stream, lease.Worker{ID: "w1", Counter: 3}))
	if err := e.s.DeleteWorker(e.ctx(), e.app, e.stream, w1); err != nil {
		t.Fatalf("DeleteWorker: %v", err)
	}
	wantLost(t, "DeleteWorker of a deleted row", e.s.DeleteWorker(e.ctx(), e.app, e.stream, w1))
	if _, ws := e.list(); !slices.Equal(ws, want[1:]) {
		t.Errorf("workers after DeleteWorker %v, want %v", ws, want[1:])
	}
	if w := beat("w1"); w.Counter < 1 {
		t.Errorf("Heartbeat after DeleteWorker = %+v", w)
	}
}

func testWorkersApart(t *testing.T, e *env) {
	// A worker whose id is a shard id, and the reverse.
	e.create("shardId-000000000001")
	e.create("w")
	if _, err := e.s.Heartbeat(e.ctx(), e.app, e.stream, "shardId-000000000001"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Heartbeat(e.ctx(), e.app, e.stream, "w"); err != nil {
		t.Fatal(err)
	}
	h := e.take(e.get("w"), "w")
	ls, ws := e.list()
	if len(ls) != 2 || len(ws) != 2 {
		t.Fatalf("List = %v, %v; want 2 leases and 2 workers", ls, ws)
	}
	e.expect("lease w", e.get("w"), h)
	for _, w := range ws {
		if w.Counter != 1 {
			t.Errorf("worker %+v, want counter 1", w)
		}
	}
	if err := e.s.DeleteWorker(e.ctx(), e.app, e.stream, lease.Worker{ID: "w", Counter: 1}); err != nil {
		t.Fatal(err)
	}
	e.expect("lease w after deleting worker w", e.get("w"), h)
}

func testParents(t *testing.T, e *env) {
	for shard, parents := range map[string][]string{
		"none":  nil,
		"split": {"shardId-000000000000"},
		"merge": {"shardId-000000000009", "shardId-000000000003"}, // order kept
	} {
		e.create(shard, parents...)
		got := e.get(shard)
		if !slices.Equal(got.Parents, parents) {
			t.Errorf("lease %s: parents %q, want %q", shard, got.Parents, parents)
		}
		h := e.take(got, "w")
		if !slices.Equal(h.Parents, parents) {
			t.Errorf("Take's result %s: parents %q, want %q", shard, h.Parents, parents)
		}
		h, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.At("5"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(h.Parents, parents) {
			t.Errorf("Checkpoint's result %s: parents %q, want %q", shard, h.Parents, parents)
		}
	}
}

func testIsolation(t *testing.T, e *env) {
	app2, stream2 := e.h.Names()
	pairs := [][2]string{
		{e.app, e.stream}, {e.app, stream2}, {app2, e.stream},
		// Names that join into the same string "app/x/stream".
		{e.app + "/x", e.stream}, {e.app, "x/" + e.stream},
	}
	for i, p := range pairs {
		if err := e.s.Create(e.ctx(), p[0], p[1], lease.Lease{Shard: "s", Checkpoint: checkpoint.At(fmt.Sprint(i + 1))}); err != nil {
			t.Fatalf("Create in %v: %v", p, err)
		}
		if _, err := e.s.Heartbeat(e.ctx(), p[0], p[1], fmt.Sprintf("w%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	l0, _ := e.listOf(pairs[0][0], pairs[0][1])
	if _, err := e.s.Take(e.ctx(), pairs[0][0], pairs[0][1], l0[0], "owner"); err != nil {
		t.Fatal(err)
	}
	for i, p := range pairs {
		ls, ws := e.listOf(p[0], p[1])
		if len(ls) != 1 || ls[0].Checkpoint.Compare(checkpoint.At(fmt.Sprint(i+1))) != 0 {
			t.Errorf("leases of %q: %v, want only its own (checkpoint %d)", p, ls, i+1)
		}
		if len(ws) != 1 || ws[0].ID != fmt.Sprintf("w%d", i) {
			t.Errorf("workers of %q: %v, want only w%d", p, ws, i)
		}
		if want := i == 0; len(ls) == 1 && (ls[0].Owner == "owner") != want {
			t.Errorf("lease of %q owned by %q", p, ls[0].Owner)
		}
	}
}

func testConcurrentTakers(t *testing.T, e *env) {
	const takers = 8
	for round := range 3 {
		shard := fmt.Sprintf("s%d", round)
		e.create(shard)
		observed := e.get(shard)
		var (
			wg     sync.WaitGroup
			wins   atomic.Int32
			winner atomic.Value
			errs   = make(chan error, takers)
		)
		for i := range takers {
			wg.Go(func() {
				owner := fmt.Sprintf("w%d", i)
				_, err := e.s.Take(e.ctx(), e.app, e.stream, observed, owner)
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(owner)
				case !errors.Is(err, lease.ErrLost):
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("a losing Take failed with %v, want ErrLost", err)
		}
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d takers won, want exactly 1", round, n)
		}
		got := e.get(shard)
		e.expect("lease after the race", got, lease.Lease{Shard: shard, Owner: winner.Load().(string), Counter: observed.Counter + 1})
	}
}

func testConcurrentWrites(t *testing.T, e *env) {
	// Renew, Checkpoint and Release conditional on one counter, and a
	// taker's Take: exactly one write succeeds.
	e.create("s")
	h := e.take(e.get("s"), "w")
	var (
		wg   sync.WaitGroup
		wins atomic.Int32
	)
	ops := []func() error{
		func() error { _, err := e.s.Renew(e.ctx(), e.app, e.stream, h); return err },
		func() error { _, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.At("10")); return err },
		func() error { _, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.At("20")); return err },
		func() error { _, err := e.s.Release(e.ctx(), e.app, e.stream, h); return err },
		func() error { _, err := e.s.Take(e.ctx(), e.app, e.stream, h, "thief"); return err },
	}
	for _, op := range ops {
		wg.Go(func() {
			err := op()
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, lease.ErrLost) {
				t.Errorf("a losing write failed with %v, want ErrLost", err)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d writes on counter %d succeeded, want exactly 1", n, h.Counter)
	}
	if got := e.get("s"); got.Counter != h.Counter+1 {
		t.Errorf("counter %d, want %d", got.Counter, h.Counter+1)
	}
}

func testDoneContext(t *testing.T, e *env) {
	e.create("s")
	h := e.take(e.get("s"), "w")
	ctx, cancel := context.WithCancel(e.ctx())
	cancel()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want an error wrapping context.Canceled", what, err)
		}
	}
	_, _, err := e.s.List(ctx, e.app, e.stream)
	check("List", err)
	check("Create", e.s.Create(ctx, e.app, e.stream, lease.Lease{Shard: "t"}))
	_, err = e.s.Take(ctx, e.app, e.stream, h, "x")
	check("Take", err)
	_, err = e.s.Renew(ctx, e.app, e.stream, h)
	check("Renew", err)
	_, err = e.s.Checkpoint(ctx, e.app, e.stream, h, checkpoint.At("1"))
	check("Checkpoint", err)
	_, err = e.s.Release(ctx, e.app, e.stream, h)
	check("Release", err)
	check("Delete", e.s.Delete(ctx, e.app, e.stream, h))
	_, err = e.s.RequestHandoff(ctx, e.app, e.stream, h, "x")
	check("RequestHandoff", err)
	_, err = e.s.Heartbeat(ctx, e.app, e.stream, "w")
	check("Heartbeat", err)
	check("DeleteWorker", e.s.DeleteWorker(ctx, e.app, e.stream, lease.Worker{ID: "w", Counter: 1}))
	ls, ws := e.list()
	if len(ls) != 1 || len(ws) != 0 {
		t.Fatalf("state after calls with a done context: %v, %v", ls, ws)
	}
	e.expect("lease", ls[0], h)
}

func testCallerOwns(t *testing.T, e *env) {
	parents := []string{"p1", "p2"}
	if err := e.s.Create(e.ctx(), e.app, e.stream, lease.Lease{Shard: "s", Parents: parents}); err != nil {
		t.Fatal(err)
	}
	parents[0] = "changed"
	got := e.get("s")
	got.Parents[1] = "changed too"
	h := e.take(e.get("s"), "w")
	h.Parents[0] = "x"
	if again := e.get("s"); !slices.Equal(again.Parents, []string{"p1", "p2"}) {
		t.Errorf("parents %q after the caller changed its slices, want [p1 p2]", again.Parents)
	}
}

func testManyLeases(t *testing.T, e *env) {
	const n = 300
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			l := lease.Lease{Shard: fmt.Sprintf("shardId-%012d", i), Parents: []string{fmt.Sprintf("shardId-%012d", i+1000), fmt.Sprintf("shardId-%012d", i+2000)}}
			if i%3 == 0 {
				l.Checkpoint = checkpoint.At(seq56)
			}
			if err := e.s.Create(e.ctx(), e.app, e.stream, l); err != nil {
				t.Errorf("Create %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for i := range 20 {
		if _, err := e.s.Heartbeat(e.ctx(), e.app, e.stream, fmt.Sprintf("worker-%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ls, ws := e.list()
	if len(ls) != n || len(ws) != 20 {
		t.Fatalf("List: %d leases, %d workers; want %d and 20", len(ls), len(ws), n)
	}
	for i, l := range ls {
		if want := fmt.Sprintf("shardId-%012d", i); l.Shard != want || len(l.Parents) != 2 || l.HasCheckpoint() != (i%3 == 0) {
			t.Fatalf("lease %d = %v, want %s sorted, with 2 parents", i, l, want)
		}
	}
}

func testInvalid(t *testing.T, e *env) {
	e.create("s")
	h := e.take(e.get("s"), "w")
	invalid := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, lease.ErrInvalid) {
			t.Errorf("%s = %v, want an error wrapping lease.ErrInvalid", what, err)
		}
	}
	invalid("Create with an empty shard id", e.s.Create(e.ctx(), e.app, e.stream, lease.Lease{}))
	invalid("Create with a shard id that is not UTF-8", e.s.Create(e.ctx(), e.app, e.stream, lease.Lease{Shard: "\xff"}))
	_, err := e.s.Take(e.ctx(), e.app, e.stream, h, "")
	invalid("Take with an empty owner", err)
	_, err = e.s.Take(e.ctx(), e.app, e.stream, lease.Lease{}, "w")
	invalid("Take with an empty shard id", err)
	_, err = e.s.Heartbeat(e.ctx(), e.app, e.stream, "")
	invalid("Heartbeat with an empty worker id", err)
	_, err = e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.Checkpoint{})
	if !errors.Is(err, checkpoint.ErrInvalid) {
		t.Errorf("Checkpoint of the zero Checkpoint = %v, want checkpoint.ErrInvalid", err)
	}
	_, err = e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.At("12a"))
	if !errors.Is(err, checkpoint.ErrInvalid) {
		t.Errorf("Checkpoint of a malformed sequence number = %v, want checkpoint.ErrInvalid", err)
	}
	e.expect("lease after invalid calls", e.get("s"), h)
}
