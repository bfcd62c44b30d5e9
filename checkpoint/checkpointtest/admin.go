package checkpointtest

// The cases of checkpoint.Admin, run on stores that implement it.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// adminCases are the cases of checkpoint.Admin; each skips on a store that
// does not implement it.
var adminCases = []struct {
	name string
	run  func(*testing.T, *env)
}{
	{"AdminSetMovesAnywhere", testAdminSet},
	{"AdminSetInvalidRejectedWholly", testAdminSetInvalid},
	{"AdminDelete", testAdminDelete},
	{"AdminListGroups", testAdminList},
	{"AdminDoneContext", testAdminDoneContext},
}

// admin returns the store as a checkpoint.Admin, or skips t.
func (e *env) admin(t *testing.T) checkpoint.Admin {
	t.Helper()
	a, ok := e.store.(checkpoint.Admin)
	if !ok {
		t.Skipf("the store, a %T, does not implement checkpoint.Admin", e.store)
	}
	return a
}

func (e *env) set(a checkpoint.Admin, app, stream string, cps map[string]checkpoint.Checkpoint) {
	e.t.Helper()
	if err := a.Set(e.t.Context(), app, stream, cps); err != nil {
		e.t.Fatalf("Set(%q, %q, %v): %v", app, stream, cps, err)
	}
}

func (e *env) del(a checkpoint.Admin, app, stream string, shards ...string) {
	e.t.Helper()
	if err := a.Delete(e.t.Context(), app, stream, shards); err != nil {
		e.t.Fatalf("Delete(%q, %q, %q): %v", app, stream, shards, err)
	}
}

// testAdminSet checks that Set moves checkpoints backwards, over the end
// marker, from a position to a start and onto new shards, that Save goes
// forward from what Set stored, and that other groups keep theirs.
func testAdminSet(t *testing.T, e *env) {
	a := e.admin(t)
	app, stream := e.h.Names()
	_, other := e.h.Names()
	t0 := time.Date(2026, 12, 7, 1, 2, 3, 456789012, time.UTC)
	e.save(app, stream, cps{
		"back":  checkpoint.At("100"),
		"ended": checkpoint.Ended(),
		"start": checkpoint.At(seq56),
		"sub":   checkpoint.At(seq56),
		"same":  checkpoint.At("7"),
	})
	e.save(app, other, cps{"back": checkpoint.At("100")})
	e.set(a, app, stream, cps{
		"back":  checkpoint.At("50"),
		"ended": checkpoint.AtSub("9", 3),
		"start": checkpoint.StartAt(t0),
		"sub":   checkpoint.AtSub(seq56, 2),
		"same":  checkpoint.At("7"),
		"new":   checkpoint.At("12"),
	})
	e.expect(app, stream, cps{
		"back":  checkpoint.At("50"),
		"ended": checkpoint.AtSub("9", 3),
		"start": checkpoint.StartAt(t0),
		"sub":   checkpoint.AtSub(seq56, 2),
		"same":  checkpoint.At("7"),
		"new":   checkpoint.At("12"),
	})
	e.expect(app, other, cps{"back": checkpoint.At("100")})

	// Save moves forward from what Set stored, and only forward.
	e.save(app, stream, cps{"back": checkpoint.At("60"), "start": checkpoint.StartAt(t0.Add(-time.Hour)), "ended": checkpoint.At("9")})
	e.save(app, stream, cps{"back": checkpoint.At("55")})
	e.expectShard(app, stream, "back", checkpoint.At("60"))
	e.expectShard(app, stream, "start", checkpoint.StartAt(t0))
	e.expectShard(app, stream, "ended", checkpoint.At("9"))

	// An empty Set changes nothing.
	e.set(a, app, stream, nil)
	e.expectShard(app, stream, "back", checkpoint.At("60"))
}

func testAdminSetInvalid(t *testing.T, e *env) {
	a := e.admin(t)
	const badShard = "shardId-000000000042"
	app, stream := e.h.Names()
	before := cps{"old": checkpoint.At("10"), "kept": checkpoint.AtSub("10", 1)}
	e.save(app, stream, before)
	for _, bad := range []checkpoint.Checkpoint{{}, checkpoint.At("12a4"), checkpoint.AtSub("5", -1), checkpoint.At("1" + maxSeq)} {
		err := a.Set(t.Context(), app, stream, cps{
			"old":    checkpoint.At("5"), // valid, backward
			"new":    checkpoint.At("30"),
			badShard: bad,
			"z-new":  checkpoint.Ended(),
		})
		if !errors.Is(err, checkpoint.ErrInvalid) {
			t.Errorf("Set with %#v returned %v, want an error wrapping checkpoint.ErrInvalid", bad, err)
		} else if !strings.Contains(err.Error(), badShard) {
			t.Errorf("Set error %q does not name the shard %q", err, badShard)
		}
		e.expect(app, stream, before)
	}
}

// testAdminDelete checks that Delete removes the shards given and only
// them, skips shards without a checkpoint, and that Save then stores any
// checkpoint for a deleted shard.
func testAdminDelete(t *testing.T, e *env) {
	a := e.admin(t)
	app, stream := e.h.Names()
	_, other := e.h.Names()
	e.save(app, stream, cps{"a": checkpoint.At("100"), "b": checkpoint.Ended(), "c": checkpoint.AtSub("5", 1)})
	e.save(app, other, cps{"a": checkpoint.At("100")})
	e.del(a, app, stream, "a", "missing")
	e.expect(app, stream, cps{"b": checkpoint.Ended(), "c": checkpoint.AtSub("5", 1)})
	e.expect(app, other, cps{"a": checkpoint.At("100")})

	e.save(app, stream, cps{"a": checkpoint.At("1"), "b": checkpoint.At("1")})
	e.expect(app, stream, cps{"a": checkpoint.At("1"), "b": checkpoint.Ended(), "c": checkpoint.AtSub("5", 1)})

	e.del(a, app, stream)
	e.del(a, app, stream, "a", "b", "c")
	e.expect(app, stream, cps{})
	unknown, never := e.h.Names()
	e.del(a, unknown, never, "a")
	e.expect(unknown, never, cps{})
}

// testAdminList checks that List names every group holding a checkpoint,
// once, sorted, with names holding separators given back as they were,
// and no longer names a group whose checkpoints were all deleted.
func testAdminList(t *testing.T, e *env) {
	a := e.admin(t)
	a1, s1 := e.h.Names()
	a2, s2 := e.h.Names()
	mine := []checkpoint.Group{
		{App: a1, Stream: s1}, {App: a1, Stream: s2}, {App: a2, Stream: s1},
		{App: a1 + "/x", Stream: s1}, {App: a1, Stream: "x/" + s1}, {App: a1 + ":1", Stream: s1},
	}
	for _, g := range mine {
		e.save(g.App, g.Stream, cps{"s": checkpoint.At("1"), "t": checkpoint.Ended()})
	}
	gone := checkpoint.Group{App: a2, Stream: s2}
	e.save(gone.App, gone.Stream, cps{"s": checkpoint.At("1")})
	e.del(a, gone.App, gone.Stream, "s")

	groups, err := a.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.IsSortedFunc(groups, checkpoint.CompareGroups) {
		t.Errorf("List is not sorted by app, then stream: %q", groups)
	}
	if len(slices.Compact(slices.Clone(groups))) != len(groups) {
		t.Errorf("List names a group twice: %q", groups)
	}
	var got []checkpoint.Group
	for _, g := range groups {
		if strings.HasPrefix(g.App, a1) || strings.HasPrefix(g.App, a2) {
			got = append(got, g)
		}
	}
	want := slices.SortedFunc(slices.Values(mine), checkpoint.CompareGroups)
	if !slices.Equal(got, want) {
		t.Errorf("List names the groups of this case as\n\t%q\nwant\n\t%q", got, want)
	}
}

func testAdminDoneContext(t *testing.T, e *env) {
	a := e.admin(t)
	app, stream := e.h.Names()
	e.save(app, stream, cps{"s": checkpoint.At("10")})
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := a.List(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a canceled context = %v, want an error wrapping context.Canceled", err)
	}
	if err := a.Set(canceled, app, stream, cps{"s": checkpoint.At("5")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Set with a canceled context = %v, want an error wrapping context.Canceled", err)
	}
	if err := a.Delete(canceled, app, stream, []string{"s"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a canceled context = %v, want an error wrapping context.Canceled", err)
	}
	e.expect(app, stream, cps{"s": checkpoint.At("10")})
}
