// Package storetest runs the consumer of package kinesin on a
// checkpoint.Store, against the fake of package kinesistest: a restart
// resumes after what the store kept, and an outage of the store loses no
// commit. Each store's tests call it with the store and, for an outage, the
// way to make that store fail and recover.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

// Stream is the name of the stream the scenarios read.
const Stream = "events"

var fastPolling = polling.Options{
	MinInterval:    time.Millisecond,
	IdleInterval:   5 * time.Millisecond,
	InitialBackoff: time.Millisecond,
	MaxBackoff:     10 * time.Millisecond,
}

type event struct {
	N int `json:"n"`
}

// RestartResumesAfterCheckpoint consumes part of a backlog with commits,
// crashes (the context ends: no Flush, no Close), and checks that a new
// process, with a new store, gets every record after the persisted
// checkpoints and none before.
//
// newStore returns a store on a new client of the same storage each time it
// is called: once for the first process, once for the new one.
func RestartResumesAfterCheckpoint(t *testing.T, newStore func(t *testing.T) checkpoint.Store) {
	t.Helper()
	fake := kinesistest.New(t)
	seqs := backlog(t, fake, 200)
	app := checkpointtest.UniqueName("app")

	ctx, crash := context.WithCancel(t.Context())
	defer crash()
	store := newStore(t)
	st := open(t, ctx, fake, store, app)
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
	Eventually(t, 10*time.Second, func() bool { return Holds(t, store, app, want) }, "the periodic checkpoint of the first half")
	crash()

	// The new process.
	store2 := newStore(t)
	st2 := open(t, t.Context(), fake, store2, app)
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
	if end := last(seqs); !Holds(t, store2, app, end) {
		t.Errorf("after Close the store does not hold the last records %v", end)
	}
}

// Outage makes a store fail and recover, for OutageLosesNoCommit.
type Outage struct {
	// Store is the store under test; Begin and End act on it.
	Store checkpoint.Store
	// Begin starts an outage: every write of Store fails until End.
	Begin func(t *testing.T)
	// During runs during an outage, once commits were made: it waits until
	// the consumer has tried, and failed, to write them, and fails t when
	// the outage did not show. kept is what Store held for (app, Stream)
	// when the outage began.
	During func(t *testing.T, app string, kept map[string]checkpoint.Checkpoint)
	// End ends the outage.
	End func(t *testing.T)
}

// OutageLosesNoCommit makes every write of the store fail for a while, then
// lets them through: the consumer keeps the newest positions and writes them
// once the store answers. An outage longer than StoreOutage ends the stream
// with a *kinesin.CheckpointError wrapping the store's error, an E.
func OutageLosesNoCommit[E error](t *testing.T, o Outage) {
	t.Helper()
	fake := kinesistest.New(t)
	seqs := backlog(t, fake, 100)
	app := checkpointtest.UniqueName("app")

	st := open(t, t.Context(), fake, o.Store, app)
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
	Eventually(t, 10*time.Second, func() bool { return Holds(t, o.Store, app, half) }, "the first half")

	o.Begin(t)
	for _, rec := range late {
		rec.Commit()
	}
	o.During(t, app, half)
	o.End(t)
	end := last(seqs)
	Eventually(t, 10*time.Second, func() bool { return Holds(t, o.Store, app, end) }, "the commits made during the outage")
	if err := st.Err(); err != nil {
		t.Errorf("stream error after a short outage: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	// An outage outlasting the bound ends the stream.
	fake2 := kinesistest.New(t)
	backlog(t, fake2, 10)
	st2 := open(t, t.Context(), fake2, o.Store, checkpointtest.UniqueName("app"), kinesin.StoreOutage(300*time.Millisecond))
	defer st2.Close()
	o.Begin(t)
	for _, rec := range receive(t, st2.Chan(), 10) {
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
}

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

func open(t *testing.T, ctx context.Context, fake *kinesistest.Fake, store checkpoint.Store, app string, opts ...kinesin.Option) *kinesin.Stream[event] {
	t.Helper()
	opts = append([]kinesin.Option{
		kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithPolling(fastPolling),
		kinesin.WithCheckpointer(store),
		kinesin.WithApp(app),
		kinesin.CheckpointInterval(20 * time.Millisecond),
	}, opts...)
	st, err := kinesin.Open(ctx, Stream, kinesin.JSON[event], opts...)
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

// Eventually polls cond for up to d, failing t when it is still false then.
func Eventually(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Holds reports whether store holds exactly want for (app, Stream).
func Holds(t *testing.T, store checkpoint.Store, app string, want map[string]checkpoint.Checkpoint) bool {
	t.Helper()
	got, err := store.Load(t.Context(), app, Stream)
	if err != nil {
		t.Logf("Load: %v", err)
		return false
	}
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
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
