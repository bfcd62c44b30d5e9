package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	ddbstore "github.com/kinesin-go/kinesin/checkpoint/dynamodb"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

// These tests run the consumer of package kinesin on the store: a restart
// resumes after what the store kept, and an outage of the store loses no
// commit.

const testStream = "events"

var fastPolling = polling.Options{
	MinInterval:    time.Millisecond,
	IdleInterval:   5 * time.Millisecond,
	InitialBackoff: time.Millisecond,
	MaxBackoff:     10 * time.Millisecond,
}

type event struct {
	N int `json:"n"`
}

// backlog puts n events in a new stream of 2 shards of the fake and returns
// their sequence numbers by shard, in order.
func backlog(t *testing.T, fake *kinesistest.Fake, n int) map[string][]string {
	t.Helper()
	if err := fake.CreateStream(testStream, 2); err != nil {
		t.Fatal(err)
	}
	seqs := map[string][]string{}
	for i := range n {
		r, err := fake.Put(testStream, fmt.Sprintf("key-%d", i), fmt.Appendf(nil, `{"n":%d}`, i))
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
	st, err := kinesin.Open(ctx, testStream, kinesin.JSON[event], opts...)
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

// eventually polls cond for up to d.
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

// holds reports whether store holds exactly want for (app, testStream).
func holds(t *testing.T, store checkpoint.Store, app string, want map[string]checkpoint.Checkpoint) bool {
	t.Helper()
	got, err := store.Load(t.Context(), app, testStream)
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

// TestRestartResumesAfterCheckpoint consumes part of a backlog with commits,
// crashes (the context ends: no Flush, no Close), and checks that a new
// process, with a new client of the same table, gets every record after the
// persisted checkpoints and none before.
func TestRestartResumesAfterCheckpoint(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	fake := kinesistest.New(t)
	seqs := backlog(t, fake, 200)
	app := checkpointtest.UniqueName("app")

	ctx, crash := context.WithCancel(t.Context())
	defer crash()
	st := open(t, ctx, fake, ddbstore.New(client, table), app)
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
	eventually(t, 10*time.Second, func() bool { return holds(t, ddbstore.New(client, table), app, want) },
		"the periodic checkpoint of the first half")
	crash()

	// The new process.
	client2 := newClient(t)
	st2 := open(t, t.Context(), fake, ddbstore.New(client2, table), app)
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
	end := map[string]checkpoint.Checkpoint{}
	for shard, s := range seqs {
		end[shard] = checkpoint.At(s[len(s)-1])
	}
	if !holds(t, ddbstore.New(client2, table), app, end) {
		t.Errorf("after Close the store does not hold the last records %v", end)
	}
}

// TestOutageLosesNoCommit fails every write for a while, then lets them
// through: the consumer keeps the newest positions and writes them once the
// table answers. An outage longer than StoreOutage ends the stream with a
// *kinesin.CheckpointError wrapping the store's error.
func TestOutageLosesNoCommit(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	fake := kinesistest.New(t)
	seqs := backlog(t, fake, 100)
	api := newFaulty(client)
	store := ddbstore.New(api, table, ddbstore.MaxRetryTime(50*time.Millisecond))
	app := checkpointtest.UniqueName("app")

	st := open(t, t.Context(), fake, store, app)
	defer st.Close()
	recs := receive(t, st.Chan(), 100)
	half := map[string]checkpoint.Checkpoint{}
	seen := map[string]int{}
	var late []*kinesin.Record[event]
	for _, rec := range recs {
		if seen[rec.ShardID]++; seen[rec.ShardID] <= len(seqs[rec.ShardID])/2 {
			rec.Commit()
			half[rec.ShardID] = checkpoint.At(rec.SequenceNumber)
		} else {
			late = append(late, rec)
		}
	}
	eventually(t, 10*time.Second, func() bool { return holds(t, store, app, half) }, "the first half")

	outage := &types.InternalServerError{Message: aws.String("injected outage")}
	api.failEvery("UpdateItem", outage)
	before := api.count("UpdateItem")
	for _, rec := range late {
		rec.Commit()
	}
	eventually(t, 10*time.Second, func() bool { return api.count("UpdateItem") >= before+6 }, "failed writes during the outage")
	if !holds(t, store, app, half) {
		t.Fatal("the store moved during the outage")
	}
	api.failEvery("UpdateItem", nil)
	end := map[string]checkpoint.Checkpoint{}
	for shard, s := range seqs {
		end[shard] = checkpoint.At(s[len(s)-1])
	}
	eventually(t, 10*time.Second, func() bool { return holds(t, store, app, end) }, "the commits made during the outage")
	if err := st.Err(); err != nil {
		t.Errorf("stream error after a short outage: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	// An outage outlasting the bound ends the stream.
	fake2 := kinesistest.New(t)
	backlog(t, fake2, 10)
	api.failEvery("UpdateItem", outage)
	st2 := open(t, t.Context(), fake2, store, checkpointtest.UniqueName("app"), kinesin.StoreOutage(300*time.Millisecond))
	defer st2.Close()
	for _, rec := range receive(t, st2.Chan(), 10) {
		rec.Commit()
	}
	select {
	case <-drained(st2.Chan()):
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end after an outage longer than StoreOutage")
	}
	var cerr *kinesin.CheckpointError
	var ise *types.InternalServerError
	if err := st2.Err(); !errors.As(err, &cerr) || !errors.As(err, &ise) {
		t.Errorf("stream error = %v, want a *kinesin.CheckpointError wrapping the store's *types.InternalServerError", err)
	}
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
