// Package storetest is the body of the consumer scenarios that
// checkpoint/checkpointtest and lease/leasetest make public: the consumer of
// package kinesin runs on a store, against the fake of package kinesistest,
// and a restart resumes after what the store kept, and an outage of the
// store loses no commit. A Kind adapts the scenarios to checkpoint stores or
// to lease stores.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

// Stream is the name of the stream the scenarios read.
const Stream = "events"

// Worker is the worker id of the consumers of the scenarios: the same
// across a restart.
const Worker = "storetest-worker"

// Kind adapts a kind of store, S, to the scenarios.
type Kind[S any] struct {
	// Options returns the options that make a consumer, as the worker
	// named worker, keep its positions in store.
	Options func(store S, worker string) []kinesin.Option
	// Held returns the positions store holds for (app, stream), by shard.
	Held func(ctx context.Context, store S, app, stream string) (map[string]checkpoint.Checkpoint, error)
	// Faulty wraps store in a fault-injecting wrapper, made for t.
	Faulty func(t *testing.T, store S) Faulty[S]
}

// Faulty is a store wrapped by a fault-injecting wrapper.
type Faulty[S any] struct {
	// Store is the wrapper.
	Store S
	// Inner is the store wrapped.
	Inner S
	// Writes returns how many calls writing positions went through Store.
	Writes func() int
	// FailAll fails every call of Store with an error wrapping err until
	// the function returned is called.
	FailAll func(err error) (undo func())
}

// Outage makes a store fail and recover, for OutageLosesNoCommit.
type Outage[S any] struct {
	// Store is the store under test; Begin and End act on it.
	Store S
	// Begin starts an outage: every write of Store fails until End.
	Begin func(t *testing.T)
	// During, if not nil, runs during an outage, once at least three
	// writes of the consumer's commits failed; it fails t when the outage
	// did not show. kept is what Store held for (app, stream)
	// when the outage began.
	During func(t *testing.T, app, stream string, kept map[string]checkpoint.Checkpoint)
	// End ends the outage.
	End func(t *testing.T)
}

// OutageError is the error of an outage Injected makes.
type OutageError struct{}

func (OutageError) Error() string { return "storetest: injected outage" }

// Injected returns an outage of store made by the kind's fault-injecting
// wrapper: every call fails with an OutageError, without reaching store.
// During it checks that reading through the wrapper fails so, and that
// store itself still holds what it held.
func Injected[S any](t *testing.T, k Kind[S], store S) Outage[S] {
	f := k.Faulty(t, store)
	var undo func()
	return Outage[S]{
		Store: f.Store,
		Begin: func(*testing.T) { undo = f.FailAll(OutageError{}) },
		During: func(t *testing.T, app, stream string, kept map[string]checkpoint.Checkpoint) {
			if _, err := k.Held(t.Context(), f.Store, app, stream); !errors.As(err, new(OutageError)) {
				t.Fatalf("reading the store during the outage = %v, want the outage's error", err)
			}
			if got, err := k.Held(t.Context(), f.Inner, app, stream); err != nil || !maps.Equal(got, kept) {
				t.Fatalf("the store holds %v (%v) during the outage, want what it held before: %v", got, err, kept)
			}
		},
		End: func(*testing.T) { undo() },
	}
}

var fastPolling = polling.Options{
	MinInterval:    time.Millisecond,
	IdleInterval:   5 * time.Millisecond,
	InitialBackoff: time.Millisecond,
	MaxBackoff:     10 * time.Millisecond,
}

type event struct {
	N int `json:"n"`
}

// Run runs, as subtests of t, RestartResumesAfterCheckpoint with newStore
// and OutageLosesNoCommit with an outage of a store newStore makes,
// Injected by the kind's wrapper.
func Run[S any](t *testing.T, k Kind[S], newStore func(t *testing.T) S) {
	t.Helper()
	t.Run("RestartResumesAfterCheckpoint", func(t *testing.T) {
		RestartResumesAfterCheckpoint(t, k, newStore)
	})
	t.Run("OutageLosesNoCommit", func(t *testing.T) {
		OutageLosesNoCommit[S, OutageError](t, k, Injected(t, k, newStore(t)))
	})
}

// RestartResumesAfterCheckpoint consumes part of a backlog with commits,
// crashes (the context ends: no Flush, no Close), and checks that a new
// process, with a new store of the same storage and the same worker id,
// gets every record after the persisted checkpoints and none before.
//
// newStore returns a store on a new client of the same storage each time it
// is called: once for the first process, once for the new one.
func RestartResumesAfterCheckpoint[S any](t *testing.T, k Kind[S], newStore func(t *testing.T) S) {
	t.Helper()
	fake := kinesistest.New(t)
	seqs := backlog(t, fake, 200)
	app := uniqueApp()

	ctx, crash := context.WithCancel(t.Context())
	defer crash()
	store := newStore(t)
	st := open(t, ctx, fake, k.Options(store, Worker), app)
	committed := map[string]int{} // records committed per shard: the first half
	want := map[string]checkpoint.Checkpoint{}
	for shard, s := range seqs {
		committed[shard] = len(s) / 2
		want[shard] = checkpoint.At(s[len(s)/2-1])
	}
	seen := map[string]int{}
	for _, rec := range receive(t, st.Chan(), 200) {
		if seen[rec.ShardID]++; seen[rec.ShardID] <= committed[rec.ShardID] {
			rec.Commit()
		}
	}
	eventually(t, 10*time.Second, func() bool { return holds(t, k, store, app, want) }, "the periodic checkpoint of the first half")
	crash()

	// The new process.
	store2 := newStore(t)
	st2 := open(t, t.Context(), fake, k.Options(store2, Worker), app)
	defer st2.Close()
	rest := 200
	for _, c := range committed {
		rest -= c
	}
	got := map[string][]string{}
	for _, rec := range receive(t, st2.Chan(), rest) {
		got[rec.ShardID] = append(got[rec.ShardID], rec.SequenceNumber)
		rec.Commit()
	}
	select {
	case rec := <-st2.Chan():
		t.Errorf("extra record %s/%s after the %d expected", rec.ShardID, rec.SequenceNumber, rest)
	case <-time.After(200 * time.Millisecond):
	}
	for shard, s := range seqs {
		if fmt.Sprint(got[shard]) != fmt.Sprint(s[committed[shard]:]) {
			t.Errorf("shard %s: restart delivered %d records from %v, want the %d after %s",
				shard, len(got[shard]), first(got[shard]), len(s)-committed[shard], s[committed[shard]-1])
		}
	}
	if err := st2.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if end := last(seqs); !holds(t, k, store2, app, end) {
		t.Errorf("after Close the store does not hold the last records %v", end)
	}
}

// OutageLosesNoCommit makes every write of the store fail for a while, then
// lets them through: the consumer keeps the newest positions and writes them
// once the store answers. An outage longer than StoreOutage ends the stream
// with a *kinesin.CheckpointError wrapping the store's error, an E.
func OutageLosesNoCommit[S any, E error](t *testing.T, k Kind[S], o Outage[S]) {
	t.Helper()
	fake := kinesistest.New(t)
	seqs := backlog(t, fake, 100)
	app := uniqueApp()

	counted := k.Faulty(t, o.Store) // no fault: counts the writes
	st := open(t, t.Context(), fake, k.Options(counted.Store, Worker), app)
	defer st.Close()
	half := map[string]checkpoint.Checkpoint{}
	seen := map[string]int{}
	var late []*kinesin.Record[event]
	for _, rec := range receive(t, st.Chan(), 100) {
		if seen[rec.ShardID]++; seen[rec.ShardID] <= len(seqs[rec.ShardID])/2 {
			rec.Commit()
			half[rec.ShardID] = checkpoint.At(rec.SequenceNumber)
		} else {
			late = append(late, rec)
		}
	}
	eventually(t, 10*time.Second, func() bool { return holds(t, k, o.Store, app, half) }, "the first half")

	o.Begin(t)
	before := counted.Writes()
	for _, rec := range late {
		rec.Commit()
	}
	// Several checkpoint intervals of failed writes. Writes counts the
	// calls begun; a flush writes each of the 2 shards at most once, and
	// begins only once the one before ended: 2 more calls begun, and those
	// counted before have ended.
	eventually(t, 10*time.Second, func() bool { return counted.Writes() >= before+3 }, "failed writes during the outage")
	n := counted.Writes()
	eventually(t, 10*time.Second, func() bool { return counted.Writes() >= n+2 }, "failed writes during the outage")
	if o.During != nil {
		o.During(t, app, Stream, half)
	}
	o.End(t)
	end := last(seqs)
	eventually(t, 10*time.Second, func() bool { return holds(t, k, o.Store, app, end) }, "the commits made during the outage")
	if err := st.Err(); err != nil {
		t.Errorf("stream error after a short outage: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	// An outage outlasting the bound ends the stream.
	fake2 := kinesistest.New(t)
	backlog(t, fake2, 10)
	st2 := open(t, t.Context(), fake2, k.Options(o.Store, Worker), uniqueApp(), kinesin.StoreOutage(300*time.Millisecond))
	defer st2.Close()
	recs := receive(t, st2.Chan(), 10)
	o.Begin(t)
	for _, rec := range recs {
		rec.Commit()
	}
	select {
	case <-drained(st2.Chan()):
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end after an outage longer than StoreOutage")
	}
	var cerr *kinesin.CheckpointError
	var serr E
	if err := st2.Err(); !errors.As(err, &cerr) || !errors.As(err, &serr) {
		t.Errorf("stream error = %v, want a *kinesin.CheckpointError wrapping the store's %T", err, serr)
	}
	o.End(t)
}

var uniqueSeq atomic.Uint64

// UniqueName returns prefix followed by a suffix unique across processes and
// runs (a timestamp, random bytes and a counter), made of lowercase letters,
// digits and '-' only.
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails
	return fmt.Sprintf("%s-%s-%s-%d", prefix,
		strconv.FormatInt(time.Now().UnixMilli(), 36), hex.EncodeToString(b[:]), uniqueSeq.Add(1))
}

func uniqueApp() string { return UniqueName("app") }

// backlog puts n events in a new stream of 2 shards of the fake and returns
// their sequence numbers by shard, in order.
func backlog(t *testing.T, fake *kinesistest.Fake, n int) map[string][]string {
	t.Helper()
	if err := fake.CreateStream(Stream, 2); err != nil {
		t.Fatal(err)
	}
	seqs := map[string][]string{}
	for i := range n {
		r, err := fake.Put(Stream, fmt.Sprintf("key-%d", i), fmt.Appendf(nil, `{"n":%d}`, i))
		if err != nil {
			t.Fatal(err)
		}
		seqs[r.ShardID] = append(seqs[r.ShardID], r.SequenceNumber)
	}
	if len(seqs) != 2 {
		t.Fatalf("records went to %d shards, want 2", len(seqs))
	}
	return seqs
}

// last returns the checkpoints of the last records of seqs.
func last(seqs map[string][]string) map[string]checkpoint.Checkpoint {
	end := map[string]checkpoint.Checkpoint{}
	for shard, s := range seqs {
		end[shard] = checkpoint.At(s[len(s)-1])
	}
	return end
}

func open(t *testing.T, ctx context.Context, fake *kinesistest.Fake, store []kinesin.Option, app string, opts ...kinesin.Option) *kinesin.Stream[event] {
	t.Helper()
	all := append([]kinesin.Option{
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithPolling(fastPolling),
		kinesin.WithApp(app),
		kinesin.CheckpointInterval(20 * time.Millisecond),
	}, store...)
	st, err := kinesin.Open(ctx, Stream, kinesin.JSON[event], append(all, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return st
}

// receive reads n records from ch, failing t after 10s without one.
func receive(t *testing.T, ch <-chan *kinesin.Record[event], n int) []*kinesin.Record[event] {
	t.Helper()
	var out []*kinesin.Record[event]
	for len(out) < n {
		select {
		case rec, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended after %d of %d records", len(out), n)
			}
			out = append(out, rec)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d records delivered", len(out), n)
		}
	}
	return out
}

// eventually polls cond for up to d, failing t when it is still false then.
func eventually(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holds reports whether store holds exactly want for (app, Stream).
func holds[S any](t *testing.T, k Kind[S], store S, app string, want map[string]checkpoint.Checkpoint) bool {
	t.Helper()
	got, err := k.Held(t.Context(), store, app, Stream)
	if err != nil {
		t.Logf("reading the store: %v", err)
		return false
	}
	return maps.Equal(got, want)
}

// drained returns a channel closed once ch is.
func drained[T any](ch <-chan T) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	return done
}

func first(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return s[0]
}
