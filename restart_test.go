package kinesin_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memory"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// A process that dies keeps only what the periodic checkpoint wrote: a
// restart on that store delivers again every record after the persisted
// checkpoint, and none at or before it.
func TestRestartAfterCrashRedeliversAfterCheckpoint(t *testing.T) {
	const shards, perShard, committed = 2, 400, 250
	fake := newFake(t, shards)
	want := fillShards(t, fake, testStream, perShard)
	store := memory.New()

	// First run: commit the first 250 records of each shard, deliver the
	// rest without committing them, then die (the context ends; no Flush,
	// no Close).
	ctx, crash := context.WithCancel(context.Background())
	defer crash()
	beforeOpen := goleak.IgnoreCurrent()
	st, err := kinesin.Open(ctx, testStream, kinesin.JSON[item], kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithPolling(fastPolling),
		kinesin.WithCheckpointer(store), kinesin.CheckpointInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ch := st.Chan()
	var late []*kinesin.Record[item]
	for n := 0; n < shards*perShard; n++ {
		select {
		case rec := <-ch:
			if rec.Value.N < committed {
				rec.Commit()
			} else {
				late = append(late, rec)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d records delivered", n)
		}
	}
	eventually(t, 5*time.Second, func() bool {
		cps := load(t, store)
		for id, seqs := range want {
			if cps[id] != checkpoint.At(seqs[committed-1]) {
				return false
			}
		}
		return store.Saves() > 0
	}, "the periodic checkpoint of the committed records")
	crash()
	// The stream stops with its context: the channel closes, and every
	// goroutine of the stream ends without Close.
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the channel was not closed after the context ended")
	}
	goleak.VerifyNone(t, beforeOpen)
	if err := st.Err(); err != nil {
		t.Errorf("Err() = %v after the context ended, want nil", err)
	}
	snapshot := copyStore(t, store)
	// Commits after the crash reach nothing.
	for _, r := range late {
		r.Commit()
	}
	if err := st.Close(); err != nil { // releases what is left; the snapshot is taken
		t.Logf("Close after the crash: %v", err)
	}

	// Restart on the snapshot.
	ctx2 := testCtx(t, 20*time.Second)
	st2 := openStream(t, ctx2, fake, kinesin.JSON[item], kinesin.WithCheckpointer(snapshot), kinesin.WithStart(kinesin.Latest))
	c := collect(st2, true)
	eventually(t, 10*time.Second, func() bool { return c.count() >= shards*(perShard-committed) }, "redelivery: %d records", c.count())
	// One more record per shard marks the end: anything repeated would come
	// before it.
	for id, seqs := range fillShards(t, fake, testStream, 1) {
		want[id] = append(want[id], seqs...)
	}
	eventually(t, 10*time.Second, func() bool { return c.count() >= shards*(perShard-committed+1) }, "the end records")
	for id, seqs := range want {
		checkShardOrder(t, id, c.shard(id), seqs[committed:])
	}
	if err := st2.Close(); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 5*time.Second)
}

// The stream's goroutines end with Open's context, without Close.
func TestContextEndStopsGoroutinesWithoutClose(t *testing.T) {
	fake := newFake(t, 3)
	fillShards(t, fake, testStream, 10)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	st, err := kinesin.Open(ctx, testStream, kinesin.JSON[item], kinesin.WithClient(fake.Client()),
		kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithPolling(fastPolling))
	if err != nil {
		t.Fatal(err)
	}
	c := collect(st, false)
	eventually(t, 5*time.Second, func() bool { return c.count() == 30 }, "30 records")
	cancel()
	c.wait(t, 5*time.Second)
	if err := st.Err(); err != nil {
		t.Errorf("Err() = %v after the context ended", err)
	}
	// goleak.VerifyNone (deferred) checks that nothing is left, Close or not.
}

// A checkpoint older than the stream's retention falls back to TRIM_HORIZON
// and the stream goes on.
func TestCheckpointPastRetentionFallsBackToTrimHorizon(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Time{})
	fake := newFake(t, 1, kinesistest.WithClock(clock))
	const id = "shardId-000000000000"
	old := fillShards(t, fake, testStream, 100)[id]
	store := memory.New()
	store.Save(context.Background(), kinesin.DefaultApp, testStream, map[string]checkpoint.Checkpoint{id: checkpoint.At(old[9])})
	clock.Advance(2 * time.Hour)
	kept := fillShards(t, fake, testStream, 20)[id]
	fake.SetRetention(testStream, time.Hour)
	if n, _ := fake.Trim(testStream); n != 100 {
		t.Fatalf("trimmed %d records, want 100", n)
	}
	ctx := testCtx(t, 20*time.Second)
	st := openStream(t, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithStart(kinesin.Latest))
	c := collect(st, true)
	eventually(t, 5*time.Second, func() bool { return c.count() == 20 }, "the records inside retention: %d", c.count())
	more := fillShards(t, fake, testStream, 5)[id]
	eventually(t, 5*time.Second, func() bool { return c.count() == 25 }, "records put after the fallback: %d", c.count())
	checkShardOrder(t, id, c.shard(id), append(kept, more...))
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cp := load(t, store)[id]; cp != checkpoint.At(more[4]) {
		t.Errorf("checkpoint %v, want %s", cp, more[4])
	}
}

// A parent shard trimmed away (no longer listed) counts as read: its
// children are read, from their start when the parent was being consumed.
func TestTrimmedParentCountsAsDone(t *testing.T) {
	const parent = "shardId-000000000000"
	setup := func(t *testing.T) (*kinesistest.Fake, []string, map[string][]string) {
		clock := kinesistest.NewManualClock(time.Time{})
		fake := newFake(t, 1, kinesistest.WithClock(clock))
		parentSeqs := fillShards(t, fake, testStream, 10)[parent]
		if _, err := fake.Split(testStream, parent); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Hour)
		kids := fillShards(t, fake, testStream, 8)
		fake.SetRetention(testStream, time.Hour)
		fake.Trim(testStream)
		for _, sh := range mustShards(t, fake) {
			if sh.ID == parent {
				t.Fatalf("the parent is still listed after Trim")
			}
		}
		return fake, parentSeqs, kids
	}
	t.Run("trim horizon", func(t *testing.T) {
		fake, _, kids := setup(t)
		st := openStream(t, testCtx(t, 10*time.Second), fake, kinesin.JSON[item])
		c := collect(st, true)
		eventually(t, 5*time.Second, func() bool { return c.count() == 16 }, "the children's records: %d", c.count())
		for id, seqs := range kids {
			checkShardOrder(t, id, c.shard(id), seqs)
		}
	})
	t.Run("parent checkpointed, start Latest", func(t *testing.T) {
		// The app was reading the parent: the children belong to it and
		// are read from their start, whatever the start position.
		fake, parentSeqs, kids := setup(t)
		store := memory.New()
		store.Save(context.Background(), kinesin.DefaultApp, testStream, map[string]checkpoint.Checkpoint{parent: checkpoint.At(parentSeqs[4])})
		st := openStream(t, testCtx(t, 10*time.Second), fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithStart(kinesin.Latest))
		c := collect(st, true)
		eventually(t, 5*time.Second, func() bool { return c.count() == 16 }, "the children's records: %d", c.count())
		for id, seqs := range kids {
			checkShardOrder(t, id, c.shard(id), seqs)
		}
	})
	t.Run("trimmed while read", func(t *testing.T) {
		// The parent's reader is held by backpressure while the parent is
		// split and trimmed away: its next call finds no shard, and the
		// children are read.
		clock := kinesistest.NewManualClock(time.Time{})
		fake := newFake(t, 1, kinesistest.WithClock(clock))
		fillShards(t, fake, testStream, 10)
		ctx := testCtx(t, 10*time.Second)
		st := openStream(t, ctx, fake, kinesin.JSON[item], kinesin.MaxUncommitted(3))
		c := collect(st, false)
		eventually(t, 5*time.Second, func() bool { return c.count() == 3 }, "3 parent records")
		fake.Split(testStream, parent)
		clock.Advance(2 * time.Hour)
		kids := fillShards(t, fake, testStream, 8)
		fake.SetRetention(testStream, time.Hour)
		fake.Trim(testStream)
		for c.count() < 3+16 {
			c.commitPending()
			if ctx.Err() != nil {
				t.Fatalf("%d records delivered; the children were not read after the parent was trimmed away", c.count())
			}
			time.Sleep(time.Millisecond)
		}
		for id, seqs := range kids {
			checkShardOrder(t, id, c.shard(id), seqs)
		}
		if err := st.Err(); err != nil {
			t.Errorf("Err() = %v", err)
		}
	})
}

func mustShards(t *testing.T, fake *kinesistest.Fake) []kinesistest.ShardInfo {
	t.Helper()
	shards, err := fake.Shards(testStream)
	if err != nil {
		t.Fatal(err)
	}
	return shards
}
