package kinesin_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// A process that dies keeps only what the periodic checkpoint wrote: a
// restart on that store delivers again every record after the persisted
// checkpoint, and none at or before it.
func TestRestartAfterCrashRedeliversAfterCheckpoint(t *testing.T) {
	eachMode(t, testRestartAfterCrashRedeliversAfterCheckpoint)
}

func testRestartAfterCrashRedeliversAfterCheckpoint(t *testing.T, m mode) {
	const shards, perShard, committed = 2, 400, 250
	fake := m.NewFake(t, shards)
	want := fillShards(t, fake, testStream, perShard)
	store := checkpointtest.NewFaulty(t, memcheckpoint.New()) // counting the saves

	// First run: commit the first 250 records of each shard, deliver the
	// rest without committing them, then die (the context ends; no Flush,
	// no Close).
	ctx, crash := context.WithCancel(context.Background())
	defer crash()
	beforeOpen := goleak.IgnoreCurrent()
	st, err := kinesin.Open(ctx, testStream, kinesin.JSON[item], append(m.Options(), kinesin.WithClient(fake.Client()), kinesin.WithApp(kinesin.DefaultApp),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(10*time.Millisecond))...)
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
		return store.Calls(checkpointtest.OpSave) > 0
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
	st2 := openStream(t, m, ctx2, fake, kinesin.JSON[item], kinesin.WithCheckpointer(snapshot), kinesin.WithStart(kinesin.Latest))
	c := collect(st2, true)
	eventually(t, 10*time.Second, func() bool { return c.Count() >= shards*(perShard-committed) }, "redelivery: %d records", c.Count())
	// One more record per shard marks the end: anything repeated would come
	// before it.
	for id, seqs := range fillShards(t, fake, testStream, 1) {
		want[id] = append(want[id], seqs...)
	}
	eventually(t, 10*time.Second, func() bool { return c.Count() >= shards*(perShard-committed+1) }, "the end records")
	for id, seqs := range want {
		checkShardOrder(t, id, c.Shard(id), seqs[committed:])
	}
	if err := st2.Close(); err != nil {
		t.Fatal(err)
	}
	c.Wait(t, 5*time.Second)
}

// The stream's goroutines end with Open's context, without Close.
func TestContextEndStopsGoroutinesWithoutClose(t *testing.T) {
	eachMode(t, testContextEndStopsGoroutinesWithoutClose)
}

func testContextEndStopsGoroutinesWithoutClose(t *testing.T, m mode) {
	fake := m.NewFake(t, 3)
	fillShards(t, fake, testStream, 10)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	st, err := kinesin.Open(ctx, testStream, kinesin.JSON[item], append(m.Options(), kinesin.WithClient(fake.Client()), kinesin.WithApp(kinesin.DefaultApp),
		kinesin.WithStart(kinesin.TrimHorizon))...)
	if err != nil {
		t.Fatal(err)
	}
	c := collect(st, false)
	eventually(t, 5*time.Second, func() bool { return c.Count() == 30 }, "30 records")
	cancel()
	c.Wait(t, 5*time.Second)
	if err := st.Err(); err != nil {
		t.Errorf("Err() = %v after the context ended", err)
	}
	// goleak.VerifyNone (deferred) checks that nothing is left, Close or not.
}

// A checkpoint whose records were trimmed by retention before they were read:
// the read resumes at the trim horizon, a warning names the shard and the
// range lost, and kinesin.checkpoint.expired counts it.
func TestCheckpointPastRetentionFallsBackToTrimHorizon(t *testing.T) {
	eachModeParallel(t, testCheckpointPastRetentionFallsBackToTrimHorizon)
}

func testCheckpointPastRetentionFallsBackToTrimHorizon(t *testing.T, m mode) {
	clock := kinesistest.NewManualClock(time.Time{})
	fake := m.NewFake(t, 1, kinesistest.WithClock(clock))
	const id = "shardId-000000000000"
	old := fillShards(t, fake, testStream, 100)[id]
	store := memcheckpoint.New()
	store.Save(context.Background(), kinesin.DefaultApp, testStream, map[string]checkpoint.Checkpoint{id: checkpoint.At(old[9])})
	clock.Advance(2 * time.Hour)
	kept := fillShards(t, fake, testStream, 20)[id]
	fake.SetRetention(testStream, time.Hour)
	if n, _ := fake.Trim(testStream); n != 100 {
		t.Fatalf("trimmed %d records, want 100", n)
	}
	ctx := testCtx(t, 20*time.Second)
	logs := &logSink{}
	opts := []kinesin.Option{kinesin.WithCheckpointer(store), kinesin.WithStart(kinesin.Latest),
		kinesin.WithLogger(slog.New(logs)), kinesin.WithApp(kinesin.DefaultApp)}
	st := openStream(t, m, ctx, fake, kinesin.JSON[item], opts...)
	c := collect(st, true)
	eventually(t, 5*time.Second, func() bool { return c.Count() == 20 }, "the records inside retention: %d", c.Count())
	// One warning names the shard and the range lost (internal/oteltest
	// checks the counter that counts it).
	warns := logs.find(slog.LevelWarn, "trimmed")
	if len(warns) != 1 || warns[0]["shard"] != id || warns[0]["lost_after"] != old[9] || warns[0]["lost_before"] != kept[0] {
		t.Errorf("warnings %v, want one naming %s, lost_after %s, lost_before %s", warns, id, old[9], kept[0])
	}
	more := fillShards(t, fake, testStream, 5)[id]
	eventually(t, 5*time.Second, func() bool { return c.Count() == 25 }, "records put after the fallback: %d", c.Count())
	checkShardOrder(t, id, c.Shard(id), append(kept, more...))
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
	eachModeParallel(t, testTrimmedParentCountsAsDone)
}

func testTrimmedParentCountsAsDone(t *testing.T, m mode) {
	const parent = "shardId-000000000000"
	setup := func(t *testing.T) (*kinesistest.Fake, []string, map[string][]string) {
		clock := kinesistest.NewManualClock(time.Time{})
		fake := m.NewFake(t, 1, kinesistest.WithClock(clock))
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
		st := openStream(t, m, testCtx(t, 10*time.Second), fake, kinesin.JSON[item])
		c := collect(st, true)
		eventually(t, 5*time.Second, func() bool { return c.Count() == 16 }, "the children's records: %d", c.Count())
		for id, seqs := range kids {
			checkShardOrder(t, id, c.Shard(id), seqs)
		}
	})
	t.Run("parent checkpointed, start Latest", func(t *testing.T) {
		// The app was reading the parent: the children belong to it and
		// are read from their start, whatever the start position.
		fake, parentSeqs, kids := setup(t)
		store := memcheckpoint.New()
		store.Save(context.Background(), kinesin.DefaultApp, testStream, map[string]checkpoint.Checkpoint{parent: checkpoint.At(parentSeqs[4])})
		st := openStream(t, m, testCtx(t, 10*time.Second), fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithStart(kinesin.Latest))
		c := collect(st, true)
		eventually(t, 5*time.Second, func() bool { return c.Count() == 16 }, "the children's records: %d", c.Count())
		for id, seqs := range kids {
			checkShardOrder(t, id, c.Shard(id), seqs)
		}
	})
	t.Run("trimmed while read", func(t *testing.T) {
		// The parent's reader is held by backpressure while the parent is
		// split and trimmed away: its next call finds no shard, and the
		// children are read. (In EFO mode the reader holds the event with
		// all 10 parent records already: it delivers them first.)
		t.Parallel()
		clock := kinesistest.NewManualClock(time.Time{})
		fake := m.NewFake(t, 1, kinesistest.WithClock(clock))
		parentSeqs := fillShards(t, fake, testStream, 10)[parent]
		ctx := testCtx(t, 10*time.Second)
		st := openStream(t, m, ctx, fake, kinesin.JSON[item], kinesin.WithMaxUncommitted(3))
		c := collect(st, false)
		eventually(t, 5*time.Second, func() bool { return c.Count() == 3 }, "3 parent records")
		if _, err := fake.Split(testStream, parent); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Hour)
		kids := fillShards(t, fake, testStream, 8)
		if err := fake.SetRetention(testStream, time.Hour); err != nil {
			t.Fatal(err)
		}
		removed, err := fake.Trim(testStream)
		if err != nil {
			t.Fatal(err)
		}
		if removed != len(parentSeqs) {
			t.Fatalf("Trim removed %d records, want the parent's %d", removed, len(parentSeqs))
		}
		shards, err := fake.Shards(testStream)
		if err != nil {
			t.Fatal(err)
		}
		for _, sh := range shards {
			if sh.ID == parent {
				t.Fatalf("the parent is still listed after the trim: %+v", sh)
			}
		}
		childrenRead := func() bool {
			for id, seqs := range kids {
				if c.CountOf(id) < len(seqs) {
					return false
				}
			}
			return true
		}
		for !childrenRead() {
			c.CommitPending()
			if ctx.Err() != nil {
				t.Fatalf("%d records delivered; the children were not read after the parent was trimmed away", c.Count())
			}
			time.Sleep(time.Millisecond)
		}
		for id, seqs := range kids {
			checkShardOrder(t, id, c.Shard(id), seqs)
		}
		got := c.Shard(parent)
		checkShardOrder(t, parent, got, parentSeqs[:min(len(got), len(parentSeqs))])
		t.Logf("%d parent records delivered before it was trimmed away", len(got))
		if err := st.Err(); err != nil {
			t.Errorf("Err() = %v", err)
		}
	})
}

// A shard found missing while the stream cannot be described: transient
// failures of DescribeStreamSummary are retried, then the shard counts as
// gone (trimmed away) and its children are read; a failure that retrying
// cannot fix ends the stream with a *ReadError, without taking the shard for
// ended (which would write its end marker and skip it on restart).
func TestShardNotFoundWhileDescribeFails(t *testing.T) {
	t.Parallel()
	const parent = "shardId-000000000000"
	for _, tc := range []struct {
		name  string
		fault kinesistest.Fault
		fatal bool
	}{
		{"transient", kinesistest.Fault{Action: kinesistest.InternalFailure, Times: 3}, false},
		{"fatal", kinesistest.Fault{Action: kinesistest.Fail(kinesistest.CodeAccessDenied)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := kinesistest.NewManualClock(time.Time{})
			fake := newFake(t, 1, kinesistest.WithClock(clock))
			fillShards(t, fake, testStream, 10)
			store := memcheckpoint.New()
			ctx := testCtx(t, 10*time.Second)
			// One attempt per call: the stream's own retries are seen.
			client := fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
			st := openNamed(t, pollingMode, ctx, testStream, client, kinesin.JSON[item], kinesin.WithMaxUncommitted(3),
				kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(5*time.Millisecond))
			c := collect(st, false)
			eventually(t, 5*time.Second, func() bool { return c.Count() == 3 }, "3 parent records")
			fake.Split(testStream, parent)
			clock.Advance(2 * time.Hour)
			kids := fillShards(t, fake, testStream, 8)
			fake.SetRetention(testStream, time.Hour)
			fake.Trim(testStream)
			tc.fault.Match = kinesistest.Match{Op: "DescribeStreamSummary"}
			in := fake.Inject(tc.fault)
			c.CommitPending()
			if tc.fatal {
				c.Wait(t, 5*time.Second)
				var re *kinesin.ReadError
				if err := st.Err(); !errors.As(err, &re) || re.ShardID != parent {
					t.Fatalf("Err() = %v, want a *ReadError of %s", err, parent)
				}
				st.Close()
				if cp := load(t, store)[parent]; cp.ShardEnded {
					t.Errorf("the parent was checkpointed as ended")
				}
				return
			}
			eventually(t, 5*time.Second, func() bool { c.CommitPending(); return c.Count() == 3+16 }, "the children's records: %d", c.Count())
			for id, seqs := range kids {
				checkShardOrder(t, id, c.Shard(id), seqs)
			}
			if in.Hits() != 3 {
				t.Errorf("%d DescribeStreamSummary faults hit, want 3", in.Hits())
			}
			if err := st.Err(); err != nil {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}
