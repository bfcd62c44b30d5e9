package leasetest

// The cases of lease.Admin, run on stores that implement it.

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/lease"
)

// adminCases are the cases of lease.Admin; each skips on a store that does
// not implement it.
var adminCases = []struct {
	name string
	run  func(*testing.T, *env)
}{
	{"AdminSetCheckpointAnywhere", testAdminSetAnywhere},
	{"AdminSetCheckpointFences", testAdminSetFences},
	{"AdminSetCheckpointKeepsTheRest", testAdminSetKeeps},
	{"AdminSetCheckpointClears", testAdminSetClears},
	{"AdminSetCheckpointConditional", testAdminSetConditional},
	{"AdminSetCheckpointInvalid", testAdminSetInvalid},
}

// admin returns the store as a lease.Admin, or skips t.
func (e *env) admin(t *testing.T) lease.Admin {
	t.Helper()
	a, ok := e.s.(lease.Admin)
	if !ok {
		t.Skipf("the store, a %T, does not implement lease.Admin", e.s)
	}
	return a
}

// setCheckpoint sets cp on the lease observed, expecting it written.
func (e *env) setCheckpoint(a lease.Admin, observed lease.Lease, cp checkpoint.Checkpoint) lease.Lease {
	e.t.Helper()
	got, err := a.SetCheckpoint(e.ctx(), e.app, e.stream, observed, cp)
	if err != nil {
		e.t.Fatalf("SetCheckpoint(%v, %v): %v", observed, cp, err)
	}
	want := observed
	want.Counter++
	want.Checkpoint = cp
	e.expect(fmt.Sprintf("SetCheckpoint(%v)", cp), got, want)
	e.expect(fmt.Sprintf("listed after SetCheckpoint(%v)", cp), e.get(observed.Shard), want)
	return got
}

// testAdminSetAnywhere checks that SetCheckpoint moves a checkpoint
// backwards, off the end marker, to a start, and forwards, on a free lease
// and on a held one.
func testAdminSetAnywhere(t *testing.T, e *env) {
	a := e.admin(t)
	t0 := time.Date(2026, 12, 7, 1, 2, 3, 456789012, time.UTC)
	e.create("free")
	l := e.get("free")
	for _, cp := range []checkpoint.Checkpoint{
		checkpoint.At("100"), checkpoint.At("50"), checkpoint.Ended(), checkpoint.AtSub("9", 3),
		checkpoint.StartAt(t0), checkpoint.At("1000"), checkpoint.At("99"), checkpoint.EndedFrom(t0),
		checkpoint.StartAt(t0.Add(-time.Hour)),
	} {
		l = e.setCheckpoint(a, l, cp)
	}

	e.create("held")
	h := e.take(e.get("held"), "w")
	h, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.At("100"))
	if err != nil {
		t.Fatal(err)
	}
	set := e.setCheckpoint(a, h, checkpoint.At("40"))
	// The protocol's writes go forward from there.
	renewed, err := e.s.Renew(e.ctx(), e.app, e.stream, set)
	if err != nil {
		t.Fatalf("Renew after SetCheckpoint: %v", err)
	}
	moved, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, renewed, checkpoint.At("45"))
	if err != nil || moved.Checkpoint != checkpoint.At("45") {
		t.Errorf("Checkpoint(45) after SetCheckpoint(40) = %v, %v; want it written", moved, err)
	}
}

// testAdminSetFences checks that SetCheckpoint increments the counter, so
// that the holder that read the old counter can no longer write: its
// checkpoint cannot undo the one set.
func testAdminSetFences(t *testing.T, e *env) {
	a := e.admin(t)
	e.create("s")
	h := e.take(e.get("s"), "w")
	h, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.At("100"))
	if err != nil {
		t.Fatal(err)
	}
	set := e.setCheckpoint(a, h, checkpoint.At("10"))
	_, err = e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.At("120"))
	wantLost(t, "the holder's Checkpoint with the counter before SetCheckpoint", err)
	_, err = e.s.Renew(e.ctx(), e.app, e.stream, h)
	wantLost(t, "the holder's Renew with the counter before SetCheckpoint", err)
	_, err = e.s.Release(e.ctx(), e.app, e.stream, h)
	wantLost(t, "the holder's Release with the counter before SetCheckpoint", err)
	e.expect("lease after the fenced writes", e.get("s"), set)

	// The owner takes it back as listed, from the checkpoint set.
	back := e.take(e.get("s"), "w")
	e.expect("taken back", back, lease.Lease{Shard: "s", Owner: "w", Counter: set.Counter + 1, Checkpoint: checkpoint.At("10")})
}

// testAdminSetKeeps checks that SetCheckpoint keeps the owner, the handoff
// request and the parents.
func testAdminSetKeeps(t *testing.T, e *env) {
	a := e.admin(t)
	e.create("child", "p1", "p0")
	h := e.take(e.get("child"), "w")
	asked, err := e.s.RequestHandoff(e.ctx(), e.app, e.stream, h, "thief")
	if err != nil {
		t.Fatal(err)
	}
	e.setCheckpoint(a, asked, checkpoint.AtSub("77", 1))
}

// testAdminSetClears checks that the zero Checkpoint removes the lease's
// checkpoint, and that Checkpoint then writes any.
func testAdminSetClears(t *testing.T, e *env) {
	a := e.admin(t)
	e.create("s")
	h := e.take(e.get("s"), "w")
	h, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, h, checkpoint.Ended())
	if err != nil {
		t.Fatal(err)
	}
	cleared := e.setCheckpoint(a, h, checkpoint.Checkpoint{})
	if cleared.HasCheckpoint() || cleared.Ended() {
		t.Errorf("SetCheckpoint(zero) left %v", cleared.Checkpoint)
	}
	again, err := e.s.Checkpoint(e.ctx(), e.app, e.stream, cleared, checkpoint.At("1"))
	if err != nil || again.Checkpoint != checkpoint.At("1") {
		t.Errorf("Checkpoint(1) after clearing = %v, %v; want it written", again, err)
	}
}

// testAdminSetConditional checks that SetCheckpoint fails with ErrLost,
// changing nothing, when the lease is not as observed, and that of two
// writes on one counter exactly one wins.
func testAdminSetConditional(t *testing.T, e *env) {
	a := e.admin(t)
	e.create("s")
	free := e.get("s")
	h := e.take(free, "w")
	for what, stale := range map[string]lease.Lease{
		"stale counter":   {Shard: "s", Owner: "w", Counter: free.Counter},
		"another owner":   {Shard: "s", Owner: "x", Counter: h.Counter},
		"seen free":       {Shard: "s", Counter: h.Counter},
		"missing lease":   {Shard: "nope", Owner: "w", Counter: h.Counter},
		"counter too far": {Shard: "s", Owner: "w", Counter: h.Counter + 1},
	} {
		_, err := a.SetCheckpoint(e.ctx(), e.app, e.stream, stale, checkpoint.At("5"))
		wantLost(t, "SetCheckpoint with "+what, err)
	}
	e.expect("lease after the refused writes", e.get("s"), h)

	// A renewal and a SetCheckpoint on the same counter: one wins.
	var wg sync.WaitGroup
	var renewErr, setErr error
	wg.Go(func() { _, renewErr = e.s.Renew(e.ctx(), e.app, e.stream, h) })
	wg.Go(func() { _, setErr = a.SetCheckpoint(e.ctx(), e.app, e.stream, h, checkpoint.At("5")) })
	wg.Wait()
	if (renewErr == nil) == (setErr == nil) {
		t.Errorf("a Renew and a SetCheckpoint on one counter returned %v and %v: want exactly one to succeed", renewErr, setErr)
	}
	for _, err := range []error{renewErr, setErr} {
		if err != nil {
			wantLost(t, "the losing write", err)
		}
	}
	if got := e.get("s"); got.Counter != h.Counter+1 {
		t.Errorf("counter %d after one winning write, want %d", got.Counter, h.Counter+1)
	}
}

func testAdminSetInvalid(t *testing.T, e *env) {
	a := e.admin(t)
	e.create("s")
	l := e.get("s")
	for _, cp := range []checkpoint.Checkpoint{checkpoint.At("12a4"), checkpoint.AtSub("5", -1), {SequenceNumber: "5", SubSequenceNumber: 2}} {
		_, err := a.SetCheckpoint(e.ctx(), e.app, e.stream, l, cp)
		if !errors.Is(err, checkpoint.ErrInvalid) {
			t.Errorf("SetCheckpoint(%#v) = %v, want an error wrapping checkpoint.ErrInvalid", cp, err)
		}
	}
	_, err := a.SetCheckpoint(e.ctx(), e.app, e.stream, lease.Lease{}, checkpoint.At("1"))
	if !errors.Is(err, lease.ErrInvalid) {
		t.Errorf("SetCheckpoint of an empty shard id = %v, want an error wrapping lease.ErrInvalid", err)
	}
	e.expect("lease after the refused writes", e.get("s"), l)
}
