// Package checkpointtest is the conformance suite every checkpoint.Store
// passes: one set of behaviour tests, run by each store package against its
// own store, so that all stores keep the contract written in package
// checkpoint. It also runs the consumer of package kinesin on a store
// (RunConsumerTests), and wraps any store in a Faulty that injects faults
// into its calls.
//
// # Wiring a store
//
// A store package runs the suite from one test, handing it a function that
// builds a Harness for each case:
//
//	func TestConformance(t *testing.T) {
//		checkpointtest.RunConformanceTests(t, func(t *testing.T) checkpointtest.Harness {
//			client := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
//			return &harness{client: client, store: redischeckpoint.New(client)}
//		})
//	}
//
//	type harness struct {
//		client *redis.Client
//		store  *redisstore.Store
//	}
//
//	func (h *harness) Store() checkpoint.Store { return h.store }
//	func (h *harness) Names() (app, stream string) {
//		return checkpointtest.UniqueName("app"), checkpointtest.UniqueName("stream")
//	}
//	func (h *harness) Close() { h.client.Close() }
//
// A store kept in a long-lived emulator or service runs the suite again and
// again against the same state: its Names must never repeat across runs,
// which UniqueName ensures. An in-process store made fresh for each case only
// needs names that differ within the case, from a counter for instance.
//
// # What is checked
//
// Each case is a subtest named after the behaviour it checks, with a harness
// of its own: an empty Load; round trips of whole, partial and shard-end
// checkpoints; forward-only writes; sequence numbers compared as integers of
// up to 129 digits, whatever their length or leading zeros; partial sub-record
// checkpoints before their whole record; the shard-end marker above every
// position; isolation of (app, stream) pairs, including names that join into
// the same string; independent shards in one Save; all-or-nothing
// validation with errors wrapping checkpoint.ErrInvalid and naming the shard;
// contexts already done, which fail Load and Save with an error wrapping
// ctx.Err() and let Save write nothing; concurrent Saves and Loads; maps owned
// by the caller; a state of 1,000 shards.
//
// On a store that implements checkpoint.Admin, the Admin cases check it too
// (they skip on others): Set moving checkpoints backwards, over the end
// marker and onto new shards, Save going forward from what Set stored;
// Set validating every checkpoint before writing any; Delete removing the
// shards given and only them; List naming every group once, sorted, names
// with separators intact, and not a group whose checkpoints were all
// deleted; done contexts failing all three.
//
// # The consumer on a store
//
// RunConsumerTests runs the consumer of package kinesin with the store,
// against the in-memory Kinesis of package kinesistest: a process that
// crashes and restarts resumes just after the checkpoints the store kept
// (RestartResumesAfterCheckpoint), and an outage of the store loses no
// commit, while one outlasting kinesin.WithStoreOutage ends the stream
// (OutageLosesNoCommit). A store needs nothing but a function returning a
// store on a new client of its storage:
//
//	func TestConsumer(t *testing.T) {
//		prefix := uniquePrefix()
//		checkpointtest.RunConsumerTests(t, func(t *testing.T) checkpoint.Store {
//			return redischeckpoint.New(newClient(t), redisstore.Prefix(prefix))
//		})
//	}
//
// The outage is injected by a Faulty. A store with a way to fail for real (a
// server the test can stop) runs OutageLosesNoCommit again with an Outage
// that stops and restarts it.
//
// # Faults
//
// A Faulty wraps any checkpoint.Store and passes its calls through, but for
// those hit by the faults injected into it, in the vocabulary of
// kinesistest's faults: a Fault selects calls by operation (OpLoad, OpSave),
// app and stream (Match), bounded by a count (Times) or a seeded chance
// (Probability), or a Script gives successive calls successive actions. An
// Action fails a call before the store (Fail), after the store applied it
// (FailAfter: an unclear outcome), hangs it until the fault is removed
// (Hang; WaitHung waits until calls hang), or delays it (Latency). A fault on
// an unknown operation, or with a value out of range, is refused with an
// error wrapping ErrInvalidFault.
//
//	store := checkpointtest.NewFaulty(t, memory.New())
//	store.Inject(checkpointtest.Fault{
//		Match:  checkpointtest.Match{Op: checkpointtest.OpSave},
//		Action: checkpointtest.Fail(errors.New("store down")),
//		Times:  3,
//	})
//	// ... open a stream WithCheckpointer(store): its first three saves fail
package checkpointtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/storetest"
)

// Harness adapts one store implementation to the suite. The suite makes a
// harness per case and calls Close when the case ends.
type Harness interface {
	// Store returns the store under test. The suite calls it once per case
	// and may call its methods from many goroutines.
	Store() checkpoint.Store
	// Names returns an app name and a stream name, each different from
	// every name an earlier call returned (in this run or an earlier one
	// against the same storage), so that the case starts from an empty state
	// and can pair the names of two calls crosswise. The suite calls it
	// several times per case and also builds names from the returned ones by
	// joining them with one of the characters - _ . : / | # and a lowercase
	// letter.
	Names() (app, stream string)
	// Close releases what the harness holds. The store is not used after it.
	Close()
}

// UniqueName returns prefix followed by a suffix unique across processes and
// runs (a timestamp, random bytes and a counter), made of lowercase letters,
// digits and '-' only, for Harness.Names of a store with durable state.
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
			c.run(t, &env{t: t, h: h, store: h.Store()})
		})
	}
}

// cases lists the suite in the order it runs.
var cases = []struct {
	name string
	run  func(*testing.T, *env)
}{
	{"EmptyLoad", testEmptyLoad},
	{"EmptySave", testEmptySave},
	{"RoundTripManyShards", testRoundTrip},
	{"CallerOwnsMaps", testCallerOwnsMaps},
	{"ForwardOnly", testForwardOnly},
	{"SequenceNumbersCompareAsIntegers", testIntegerOrder},
	{"PartialThenWholeRecord", testPartialThenWhole},
	{"SubSequenceNumbersRoundTrip", testSubSequenceRoundTrip},
	{"ShardEndIsFinal", testShardEnd},
	{"StartCheckpoints", testStartCheckpoints},
	{"AppsAndStreamsIsolated", testIsolation},
	{"JoinedNamesDoNotCollide", testJoinedNames},
	{"MixedForwardAndBackward", testMixed},
	{"InvalidRejectedWholly", testInvalid},
	{"DoneContext", testDoneContext},
	{"ConcurrentSaves", testConcurrentSaves},
	{"ThousandShards", testThousandShards},
}

// env is what a case works with.
type env struct {
	t     *testing.T
	h     Harness
	store checkpoint.Store
}

// with returns e for the subtest t.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (e *env) save(app, stream string, cps map[string]checkpoint.Checkpoint) {
	e.t.Helper()
	if err := e.store.Save(e.t.Context(), app, stream, cps); err != nil {
		e.t.Fatalf("Save(%q, %q, %v): %v", app, stream, cps, err)
	}
}

func (e *env) load(app, stream string) map[string]checkpoint.Checkpoint {
	e.t.Helper()
	got, err := e.store.Load(e.t.Context(), app, stream)
	if err != nil {
		e.t.Fatalf("Load(%q, %q): %v", app, stream, err)
	}
	if got == nil {
		e.t.Fatalf("Load(%q, %q) returned a nil map and no error; want a non-nil map", app, stream)
	}
	return got
}

// expect checks that (app, stream) holds exactly want: same shards, each
// checkpoint equal field by field.
func (e *env) expect(app, stream string, want map[string]checkpoint.Checkpoint) {
	e.t.Helper()
	got := e.load(app, stream)
	if !maps.Equal(got, want) {
		e.t.Errorf("Load(%q, %q):\n%s", app, stream, diff(got, want))
	}
}

// expectShard checks that shard of (app, stream) holds want, comparing with
// Checkpoint.Compare so that a store may drop leading zeros.
func (e *env) expectShard(app, stream, shard string, want checkpoint.Checkpoint) {
	e.t.Helper()
	got, ok := e.load(app, stream)[shard]
	switch {
	case !ok:
		e.t.Errorf("Load(%q, %q)[%q] is absent, want %v", app, stream, shard, want)
	case got.Compare(want) != 0 || got.Partial != want.Partial || got.ShardEnded != want.ShardEnded || !got.Timestamp.Equal(want.Timestamp):
		e.t.Errorf("Load(%q, %q)[%q] = %#v, want %#v", app, stream, shard, got, want)
	}
}

func diff(got, want map[string]checkpoint.Checkpoint) string {
	var b strings.Builder
	keys := slices.Sorted(maps.Keys(got))
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	shown := 0
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		if gok == wok && g == w {
			continue
		}
		if shown++; shown > 10 {
			fmt.Fprintf(&b, "\t...\n")
			break
		}
		switch {
		case !gok:
			fmt.Fprintf(&b, "\tshard %q: missing, want %#v\n", k, w)
		case !wok:
			fmt.Fprintf(&b, "\tshard %q: got %#v, want none\n", k, g)
		default:
			fmt.Fprintf(&b, "\tshard %q: got %#v, want %#v\n", k, g, w)
		}
	}
	fmt.Fprintf(&b, "\t(%d shards, want %d)", len(got), len(want))
	return b.String()
}

type cps = map[string]checkpoint.Checkpoint

// seq56 is a sequence number as Kinesis hands them out: 56 digits.
const seq56 = "49590338271490256608559692538361571095921575989136588898"

// maxSeq is the largest sequence number the Kinesis API allows: 129 nines.
var maxSeq = strings.Repeat("9", 129)

func testEmptyLoad(t *testing.T, e *env) {
	app, stream := e.h.Names()
	got, err := e.store.Load(t.Context(), app, stream)
	if err != nil {
		t.Fatalf("Load of an empty state: %v, want no error", err)
	}
	if got == nil || len(got) != 0 {
		t.Fatalf("Load of an empty state = %#v, want an empty non-nil map", got)
	}
	// A map the caller may fill.
	got["shardId-000000000000"] = checkpoint.At("1")
}

func testEmptySave(t *testing.T, e *env) {
	app, stream := e.h.Names()
	e.save(app, stream, nil)
	e.save(app, stream, cps{})
	e.expect(app, stream, cps{})
	e.save(app, stream, cps{"s": checkpoint.At("7")})
	e.save(app, stream, cps{})
	e.expect(app, stream, cps{"s": checkpoint.At("7")})
}

func testRoundTrip(t *testing.T, e *env) {
	app, stream := e.h.Names()
	want := cps{}
	for i := range 60 {
		shard := fmt.Sprintf("shardId-%012d", i)
		switch i % 4 {
		case 0:
			want[shard] = checkpoint.At(seq56[:56-i%10])
		case 1:
			want[shard] = checkpoint.AtSub(seq56, int64(i))
		case 2:
			want[shard] = checkpoint.Ended()
		case 3:
			want[shard] = checkpoint.At(strconv.Itoa(i))
		}
	}
	e.save(app, stream, want)
	e.expect(app, stream, want)
	// A second Load sees the same state.
	e.expect(app, stream, want)
}

func testCallerOwnsMaps(t *testing.T, e *env) {
	app, stream := e.h.Names()
	in := cps{"a": checkpoint.At("10"), "b": checkpoint.AtSub("20", 3)}
	e.save(app, stream, in)
	in["a"] = checkpoint.At("99")
	in["c"] = checkpoint.At("1")
	delete(in, "b")
	want := cps{"a": checkpoint.At("10"), "b": checkpoint.AtSub("20", 3)}
	e.expect(app, stream, want)

	out := e.load(app, stream)
	out["a"] = checkpoint.Ended()
	out["z"] = checkpoint.At("5")
	delete(out, "b")
	e.expect(app, stream, want)
}

func testForwardOnly(t *testing.T, e *env) {
	app, stream := e.h.Names()
	e.save(app, stream, cps{"s": checkpoint.At("100")})
	e.save(app, stream, cps{"s": checkpoint.At("50")})
	e.expect(app, stream, cps{"s": checkpoint.At("100")})
	e.save(app, stream, cps{"s": checkpoint.At("100")})
	e.expect(app, stream, cps{"s": checkpoint.At("100")})
	e.save(app, stream, cps{"s": checkpoint.At("150")})
	e.expect(app, stream, cps{"s": checkpoint.At("150")})
	e.save(app, stream, cps{"s": checkpoint.At("149")})
	e.expect(app, stream, cps{"s": checkpoint.At("150")})
}

func testIntegerOrder(t *testing.T, e *env) {
	// Each step saves one checkpoint of shard s; want is what s then holds.
	// A store comparing strings, or numbers of 64 bits or floats, fails.
	for _, tc := range []struct {
		name  string
		steps []string
		want  string
	}{
		{"9<10", []string{"9", "10"}, "10"},
		{"10>9", []string{"10", "9"}, "10"},
		{"99<100", []string{"100", "99"}, "100"},
		{"real 56 digits", []string{seq56, "49590338271490256608559692538361571095921575989136588897"}, seq56},
		{"55<56 digits", []string{seq56, "9" + seq56[:54]}, seq56},
		{"56 digits up", []string{seq56, "49590338271490256608559692538361571095921575989136588899"}, "49590338271490256608559692538361571095921575989136588899"},
		{"last digits beyond float64", []string{seq56, "49590338271490256608559692538361571095921575989136588901"}, "49590338271490256608559692538361571095921575989136588901"},
		{"beyond 64 bits", []string{"18446744073709551616", "18446744073709551615"}, "18446744073709551616"},
		{"beyond 128 bits", []string{"340282366920938463463374607431768211456", "340282366920938463463374607431768211455"}, "340282366920938463463374607431768211456"},
		{"129 digits", []string{strings.Repeat("9", 128) + "8", maxSeq, "1" + strings.Repeat("0", 128)}, maxSeq},
		{"128<129 digits", []string{"1" + strings.Repeat("0", 128), strings.Repeat("9", 128)}, "1" + strings.Repeat("0", 128)},
		{"leading zeros below", []string{"0010", "9"}, "10"},
		{"leading zeros above", []string{"9", "0010"}, "10"},
		{"many leading zeros", []string{"13", "000000000000000000000000000000000000000000000000000000000000012"}, "13"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			app, stream := e.h.Names()
			for _, s := range tc.steps {
				e.save(app, stream, cps{"s": checkpoint.At(s)})
			}
			e.expectShard(app, stream, "s", checkpoint.At(tc.want))
		})
	}
}

func testPartialThenWhole(t *testing.T, e *env) {
	app, stream := e.h.Names()
	step := func(cp, want checkpoint.Checkpoint) {
		t.Helper()
		e.save(app, stream, cps{"s": cp})
		e.expect(app, stream, cps{"s": want})
	}
	step(checkpoint.AtSub(seq56, 0), checkpoint.AtSub(seq56, 0))
	step(checkpoint.AtSub(seq56, 3), checkpoint.AtSub(seq56, 3))
	step(checkpoint.AtSub(seq56, 2), checkpoint.AtSub(seq56, 3))
	step(checkpoint.AtSub(seq56, 3), checkpoint.AtSub(seq56, 3))
	step(checkpoint.AtSub(seq56, 10), checkpoint.AtSub(seq56, 10)) // 10 after 3, not "10" before "3"
	step(checkpoint.At(seq56), checkpoint.At(seq56))
	step(checkpoint.AtSub(seq56, 11), checkpoint.At(seq56)) // the whole record is after every sub-record
	step(checkpoint.AtSub("49590338271490256608559692538361571095921575989136588897", 99), checkpoint.At(seq56))
	next := "49590338271490256608559692538361571095921575989136588899"
	step(checkpoint.AtSub(next, 0), checkpoint.AtSub(next, 0))
	step(checkpoint.At(seq56), checkpoint.AtSub(next, 0))
}

func testSubSequenceRoundTrip(t *testing.T, e *env) {
	app, stream := e.h.Names()
	want := cps{
		"whole":  checkpoint.At("5"),
		"zero":   checkpoint.AtSub("5", 0), // not the whole record
		"one":    checkpoint.AtSub("5", 1),
		"big":    checkpoint.AtSub("5", 1<<40+1),
		"max":    checkpoint.AtSub("5", 1<<63-1), // beyond float64 precision
		"beyond": checkpoint.AtSub(maxSeq, 9007199254740993),
	}
	e.save(app, stream, want)
	e.expect(app, stream, want)
}

func testShardEnd(t *testing.T, e *env) {
	app, stream := e.h.Names()
	e.save(app, stream, cps{"a": checkpoint.At("10"), "b": checkpoint.Ended()})
	e.save(app, stream, cps{"a": checkpoint.Ended()})
	want := cps{"a": checkpoint.Ended(), "b": checkpoint.Ended()}
	e.expect(app, stream, want)
	for _, cp := range []checkpoint.Checkpoint{
		checkpoint.At("11"),
		checkpoint.At(maxSeq),
		checkpoint.AtSub(maxSeq, 1<<62),
		checkpoint.Ended(),
	} {
		e.save(app, stream, cps{"a": cp, "b": cp})
		e.expect(app, stream, want)
	}
}

// testStartCheckpoints checks start checkpoints and end markers with a
// time: they round-trip to the nanosecond, a start is below every position
// and a later start above an earlier one, and an end marker keeps its time.
func testStartCheckpoints(t *testing.T, e *env) {
	app, stream := e.h.Names()
	t0 := time.Date(2026, 12, 7, 1, 2, 3, 456789012, time.UTC)
	t1 := t0.Add(time.Hour)
	e.save(app, stream, cps{
		"a": checkpoint.StartAt(t1),
		"b": checkpoint.StartAt(t0),
		"c": checkpoint.At("5"),
		"d": checkpoint.EndedFrom(t0),
		"e": checkpoint.StartAt(time.Unix(0, 1)),
	})
	e.expect(app, stream, cps{
		"a": checkpoint.StartAt(t1),
		"b": checkpoint.StartAt(t0),
		"c": checkpoint.At("5"),
		"d": checkpoint.EndedFrom(t0),
		"e": checkpoint.StartAt(time.Unix(0, 1)),
	})
	// An earlier start, a start over a position, a start over an end: none
	// written. A later start is, and a position over a start.
	e.save(app, stream, cps{
		"a": checkpoint.StartAt(t0),
		"b": checkpoint.StartAt(t1),
		"c": checkpoint.StartAt(t1),
		"d": checkpoint.StartAt(t1),
		"e": checkpoint.AtSub("0", 0),
	})
	e.expect(app, stream, cps{
		"a": checkpoint.StartAt(t1),
		"b": checkpoint.StartAt(t1),
		"c": checkpoint.At("5"),
		"d": checkpoint.EndedFrom(t0),
		"e": checkpoint.AtSub("0", 0),
	})
	// The end of a shard read from a start keeps the start's time.
	e.save(app, stream, cps{"a": checkpoint.EndedFrom(t1), "b": checkpoint.Ended()})
	e.expectShard(app, stream, "a", checkpoint.EndedFrom(t1))
	e.expectShard(app, stream, "b", checkpoint.Ended())
}

func testIsolation(t *testing.T, e *env) {
	a1, s1 := e.h.Names()
	a2, s2 := e.h.Names()
	ns := []struct{ app, stream string }{{a1, s1}, {a1, s2}, {a2, s1}, {a2, s2}}
	for i, n := range ns {
		e.save(n.app, n.stream, cps{
			"shardId-000000000000":    checkpoint.At(strconv.Itoa(100 + i)),
			fmt.Sprintf("only-%d", i): checkpoint.AtSub("7", int64(i)),
		})
	}
	for i, n := range ns {
		e.expect(n.app, n.stream, cps{
			"shardId-000000000000":    checkpoint.At(strconv.Itoa(100 + i)),
			fmt.Sprintf("only-%d", i): checkpoint.AtSub("7", int64(i)),
		})
	}
	// Moving one namespace forward, or trying to move it backward, leaves the
	// others alone.
	e.save(a1, s1, cps{"shardId-000000000000": checkpoint.Ended()})
	e.save(a2, s2, cps{"shardId-000000000000": checkpoint.At("1")})
	for i, n := range ns[1:] {
		got := e.load(n.app, n.stream)["shardId-000000000000"]
		if want := checkpoint.At(strconv.Itoa(101 + i)); got != want {
			t.Errorf("Load(%q, %q)[shardId-000000000000] = %v, want %v", n.app, n.stream, got, want)
		}
	}
}

// testJoinedNames checks that a store does not key its records by joining
// app, stream and shard with a separator that may occur in them.
func testJoinedNames(t *testing.T, e *env) {
	for _, tc := range []struct{ name, sep string }{
		{"dash", "-"}, {"underscore", "_"}, {"dot", "."}, {"colon", ":"},
		{"slash", "/"}, {"bar", "|"}, {"hash", "#"},
	} {
		sep := tc.sep
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			app, stream := e.h.Names()
			type key struct{ app, stream, shard string }
			keys := []key{
				{app + sep + "x", stream, "k"},
				{app, "x" + sep + stream, "k"},
				{app, stream + sep + "y", "k"},
				{app, stream, "y" + sep + "k"},
				{app, stream, "k"},
			}
			for i, k := range keys {
				e.save(k.app, k.stream, cps{k.shard: checkpoint.At(strconv.Itoa(10 * (len(keys) - i)))})
			}
			for i, k := range keys {
				want := cps{k.shard: checkpoint.At(strconv.Itoa(10 * (len(keys) - i)))}
				if i == 3 || i == 4 { // one (app, stream), two shards
					want = cps{keys[3].shard: checkpoint.At("20"), keys[4].shard: checkpoint.At("10")}
				}
				e.expect(k.app, k.stream, want)
			}
		})
	}
}

func testMixed(t *testing.T, e *env) {
	app, stream := e.h.Names()
	e.save(app, stream, cps{
		"a": checkpoint.At("100"),
		"b": checkpoint.At("100"),
		"c": checkpoint.AtSub("100", 5),
		"d": checkpoint.Ended(),
		"e": checkpoint.At("100"),
	})
	e.save(app, stream, cps{
		"a": checkpoint.At("50"),        // backward: ignored
		"b": checkpoint.At("150"),       // forward
		"c": checkpoint.AtSub("100", 4), // backward
		"d": checkpoint.At("999"),       // below the end
		"e": checkpoint.At("100"),       // equal
		"f": checkpoint.At("1"),         // new
		"g": checkpoint.Ended(),         // new, ended
	})
	e.expect(app, stream, cps{
		"a": checkpoint.At("100"),
		"b": checkpoint.At("150"),
		"c": checkpoint.AtSub("100", 5),
		"d": checkpoint.Ended(),
		"e": checkpoint.At("100"),
		"f": checkpoint.At("1"),
		"g": checkpoint.Ended(),
	})
}

func testInvalid(t *testing.T, e *env) {
	const badShard = "shardId-000000000042"
	for _, tc := range []struct {
		name string
		cp   checkpoint.Checkpoint
	}{
		{"empty", checkpoint.Checkpoint{}},
		{"empty partial", checkpoint.AtSub("", 1)},
		{"letters", checkpoint.At("12a4")},
		{"sign", checkpoint.At("-5")},
		{"plus", checkpoint.At("+5")},
		{"space", checkpoint.At(" 5")},
		{"more than 129 digits", checkpoint.At("1" + maxSeq)},
		{"negative sub-sequence", checkpoint.AtSub("5", -1)},
		{"sub-sequence on whole record", checkpoint.Checkpoint{SequenceNumber: "5", SubSequenceNumber: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			app, stream := e.h.Names()
			before := cps{"old": checkpoint.At("10"), "kept": checkpoint.AtSub("10", 1)}
			e.save(app, stream, before)
			err := e.store.Save(t.Context(), app, stream, cps{
				"old":    checkpoint.At("20"), // valid, forward
				"new":    checkpoint.At("30"), // valid, new
				badShard: tc.cp,               // rejects the whole Save
				"z-new":  checkpoint.Ended(),  // valid, new
				"kept":   checkpoint.At("5"),  // valid, backward
			})
			if !errors.Is(err, checkpoint.ErrInvalid) {
				t.Errorf("Save with %#v returned %v, want an error wrapping checkpoint.ErrInvalid", tc.cp, err)
			} else if !strings.Contains(err.Error(), badShard) {
				t.Errorf("Save error %q does not name the shard %q", err, badShard)
			}
			e.expect(app, stream, before)
		})
	}
}

func testDoneContext(t *testing.T, e *env) {
	app, stream := e.h.Names()
	e.save(app, stream, cps{"s": checkpoint.At("10")})

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"canceled", canceled, context.Canceled},
		{"deadline exceeded", expired, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			if got, err := e.store.Load(tc.ctx, app, stream); !errors.Is(err, tc.want) {
				t.Errorf("Load with a %s context = %v, %v; want an error wrapping %v", tc.name, got, err, tc.want)
			}
			if err := e.store.Save(tc.ctx, app, stream, cps{"s": checkpoint.At("20")}); !errors.Is(err, tc.want) {
				t.Errorf("Save with a %s context = %v; want an error wrapping %v", tc.name, err, tc.want)
			}
			// The store still works with a live context.
			e.expectShard(app, stream, "s", checkpoint.At("10"))
		})
	}
}

func testConcurrentSaves(t *testing.T, e *env) {
	const (
		writers = 8
		rounds  = 25
		shards  = 4
	)
	app, stream := e.h.Names()
	ctx := t.Context()
	shard := func(k int) string { return fmt.Sprintf("shardId-%012d", k) }

	// A reader checks, meanwhile, that no shard is ever seen going backward.
	done := make(chan struct{})
	var readerErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		seen := cps{}
		for {
			select {
			case <-done:
				return
			default:
			}
			got, err := e.store.Load(ctx, app, stream)
			if err != nil {
				readerErr = fmt.Errorf("concurrent Load: %w", err)
				return
			}
			for k, cp := range got {
				if old, ok := seen[k]; ok && cp.Compare(old) < 0 {
					readerErr = fmt.Errorf("shard %s went backward from %v to %v", k, old, cp)
					return
				}
				seen[k] = cp
			}
		}
	})

	errs := make(chan error, writers)
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			for r := range rounds {
				// Writer w saves, in round r, positions r*writers+w: every
				// writer's positions increase, and they interleave.
				pos := r*writers + w
				batch := cps{}
				for k := range shards {
					if k == shards-1 {
						batch[shard(k)] = checkpoint.AtSub("1000", int64(pos))
					} else {
						batch[shard(k)] = checkpoint.At(strconv.Itoa(pos * (k + 1)))
					}
				}
				if err := e.store.Save(ctx, app, stream, batch); err != nil {
					errs <- fmt.Errorf("writer %d round %d: %w", w, r, err)
					return
				}
			}
		})
	}
	writersWG.Wait()
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if readerErr != nil {
		t.Error(readerErr)
	}
	maxPos := rounds*writers - 1
	want := cps{}
	for k := range shards {
		if k == shards-1 {
			want[shard(k)] = checkpoint.AtSub("1000", int64(maxPos))
		} else {
			want[shard(k)] = checkpoint.At(strconv.Itoa(maxPos * (k + 1)))
		}
	}
	e.expect(app, stream, want)
}

func testThousandShards(t *testing.T, e *env) {
	app, stream := e.h.Names()
	want := cps{}
	for i := range 1000 {
		id := fmt.Sprintf("shardId-%012d", i)
		switch {
		case i%10 == 0:
			want[id] = checkpoint.Ended()
		case i%3 == 0:
			want[id] = checkpoint.AtSub(seq56, int64(i))
		default:
			want[id] = checkpoint.At(fmt.Sprintf("4959%052d", i))
		}
	}
	e.save(app, stream, want)
	e.expect(app, stream, want)

	// Moving half of them forward, in one Save, keeps the other half.
	next := cps{}
	for i := 0; i < 1000; i += 2 {
		id := fmt.Sprintf("shardId-%012d", i)
		next[id] = checkpoint.At(fmt.Sprintf("4960%052d", i))
		if !want[id].ShardEnded {
			want[id] = next[id]
		}
	}
	e.save(app, stream, next)
	e.expect(app, stream, want)
}
