package kinesin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

// reshardedStream makes a stream whose one shard was split, and whose
// children were merged, with records put in each generation: parent, then
// the two children, then the merged grandchild. It returns the sequence
// numbers put, by shard, and the shards in the order their records must
// come (the children between them in any order).
func reshardedStream(t *testing.T, fake *kinesistest.Fake) (map[string][]string, []string) {
	t.Helper()
	const parent = "shardId-000000000000"
	seqs := fillShards(t, fake, testStream, 7)
	kids, err := fake.Split(testStream, parent)
	if err != nil {
		t.Fatal(err)
	}
	for id, s := range fillShards(t, fake, testStream, 6) {
		seqs[id] = s
	}
	merged, err := fake.Merge(testStream, kids[0], kids[1])
	if err != nil {
		t.Fatal(err)
	}
	for id, s := range fillShards(t, fake, testStream, 5) {
		seqs[id] = s
	}
	return seqs, []string{parent, kids[0], kids[1], merged}
}

// checkGenerations fails unless every shard's records came in order, each
// once, and no child's record came before the last record of its parent
// (order is the order records were yielded, with their shards).
func checkGenerations(t *testing.T, got []seen, seqs map[string][]string, gens []string) {
	t.Helper()
	byShard := map[string][]seen{}
	first, last := map[string]int{}, map[string]int{}
	for i, s := range got {
		byShard[s.Shard] = append(byShard[s.Shard], s)
		if _, ok := first[s.Shard]; !ok {
			first[s.Shard] = i
		}
		last[s.Shard] = i
	}
	for id, want := range seqs {
		checkShardOrder(t, id, byShard[id], want)
	}
	parent, kids, merged := gens[0], gens[1:3], gens[3]
	for _, k := range kids {
		if first[k] < last[parent] {
			t.Errorf("child %s's first record came before its parent's last", k)
		}
		if first[merged] < last[k] {
			t.Errorf("the merged shard's first record came before the last of its parent %s", k)
		}
	}
}

// Batches: a shard's records in order, split to WithBatchSize, joined across
// fetches, flushed after WithBatchWait or at the shard's end, parents'
// batches before children's, across a split and a merge; and the stream
// stops by itself with StopWhenCaughtUp.
func TestBatchesAcrossSplitAndMerge(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		fake := m.NewFake(t, 1)
		seqs, gens := reshardedStream(t, fake)
		st := openStream(t, m, testCtx(t, 30*time.Second), fake, kinesin.JSON[item],
			kinesin.WithBatchSize(4), kinesin.WithBatchWait(20*time.Millisecond), kinesin.StopWhenCaughtUp())
		var got []seen
		batches := 0
		for b, err := range st.Batches() {
			if err != nil {
				t.Fatalf("Batches: %v", err)
			}
			batches++
			if len(b.Records) == 0 || len(b.Records) > 4 {
				t.Errorf("a batch of %d records, want 1 to 4", len(b.Records))
			}
			for _, r := range b.Records {
				if r.ShardID != b.ShardID {
					t.Errorf("a record of %s in a batch of %s", r.ShardID, b.ShardID)
				}
				got = append(got, seen{Shard: r.ShardID, Seq: r.SequenceNumber})
			}
			b.Commit()
		}
		if err := st.Err(); err != nil {
			t.Fatalf("Err after the stream caught up = %v, want nil", err)
		}
		checkGenerations(t, got, seqs, gens)
		// 7, 6, 6 and 5 records in batches of at most 4: at least 2+2+2+2.
		if batches < 8 {
			t.Errorf("%d batches, want at least 8", batches)
		}
	})
}

// A batch not committed is delivered again after a restart, from its first
// record: never skipped, even when a later batch was committed.
func TestBatchesRestartRedeliversUncommitted(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		fake := m.NewFake(t, 1)
		const id = "shardId-000000000000"
		seqs := fillShards(t, fake, testStream, 12)[id]
		store := memcheckpoint.New()
		ctx := testCtx(t, 30*time.Second)
		st := openStream(t, m, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store),
			kinesin.WithBatchSize(4), kinesin.WithBatchWait(time.Hour), kinesin.WithCheckpointInterval(time.Hour))
		n := 0
		for b, err := range st.Batches() {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n != 2 { // the second batch is not committed; the third is
				b.Commit()
			}
			if n == 3 {
				break // closes the stream, writing what was committed
			}
		}
		if cp := load(t, store)[id]; cp != checkpoint.At(seqs[3]) {
			t.Fatalf("checkpoint after the first run = %v, want the last record of the first batch, %s", cp, seqs[3])
		}
		again := openStream(t, m, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.StopWhenCaughtUp())
		var got []seen
		for b, err := range again.Batches() {
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range b.Records {
				got = append(got, seen{Shard: r.ShardID, Seq: r.SequenceNumber})
			}
			b.Commit()
		}
		checkShardOrder(t, id, got, seqs[4:])
	})
}

// StopWhenCaughtUp ends Records, Chan and Batches by themselves, with a nil
// error, once every shard was read to its tip, children of a split before
// Open included, and the committed positions are written.
func TestStopWhenCaughtUp(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		for _, form := range []string{"Records", "Chan", "Batches"} {
			t.Run(form, func(t *testing.T) {
				fake := m.NewFake(t, 2)
				seqs := fillShards(t, fake, testStream, 5)
				kids, err := fake.Split(testStream, "shardId-000000000000")
				if err != nil {
					t.Fatal(err)
				}
				for id, s := range fillShards(t, fake, testStream, 4) {
					seqs[id] = append(seqs[id], s...)
				}
				store := memcheckpoint.New()
				st := openStream(t, m, testCtx(t, 30*time.Second), fake, kinesin.JSON[item],
					kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour), kinesin.StopWhenCaughtUp())
				got := map[string][]seen{}
				take := func(r *kinesin.Record[item]) {
					got[r.ShardID] = append(got[r.ShardID], seen{Shard: r.ShardID, Seq: r.SequenceNumber})
					r.Commit()
				}
				switch form {
				case "Records":
					for r, err := range st.Records() {
						if err != nil {
							t.Fatal(err)
						}
						take(r)
					}
				case "Chan":
					for r := range st.Chan() {
						take(r)
					}
				case "Batches":
					for b, err := range st.Batches() {
						if err != nil {
							t.Fatal(err)
						}
						for _, r := range b.Records {
							take(r)
						}
					}
				}
				if err := st.Err(); err != nil {
					t.Fatalf("Err = %v, want nil", err)
				}
				cps := load(t, store)
				for id, want := range seqs {
					checkShardOrder(t, id, got[id], want)
					if id == kids[0] || id == kids[1] || id == "shardId-000000000001" {
						if cps[id] != checkpoint.At(want[len(want)-1]) {
							t.Errorf("checkpoint of %s = %v, want its last record %s, written before the stream ended", id, cps[id], want[len(want)-1])
						}
					}
				}
			})
		}
	})
}

// StopAt delivers the records that arrived at or before its time, and not
// one after it, then ends.
func TestStopAt(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		clock := kinesistest.NewManualClock(time.Now().Add(-time.Hour))
		fake := m.NewFake(t, 2, kinesistest.WithClock(clock))
		before := fillShards(t, fake, testStream, 6)
		clock.Advance(time.Minute)
		stop := clock.Now()
		clock.Advance(time.Minute)
		fillShards(t, fake, testStream, 4) // after StopAt
		clock.Advance(time.Minute)
		st := openStream(t, m, testCtx(t, 30*time.Second), fake, kinesin.JSON[item], kinesin.StopAt(stop))
		got := map[string][]seen{}
		for r, err := range st.Records() {
			if err != nil {
				t.Fatal(err)
			}
			got[r.ShardID] = append(got[r.ShardID], seen{Shard: r.ShardID, Seq: r.SequenceNumber})
			r.Commit()
		}
		for id, want := range before {
			checkShardOrder(t, id, got[id], want)
		}
	})
}

// StopWhenCaughtUp with leases: two workers end by themselves once the
// stream is read, and between them every record was delivered.
func TestStopWhenCaughtUpWithLeases(t *testing.T) {
	fake := newFake(t, 4)
	seqs := fillShards(t, fake, testStream, 5)
	store := memlease.New()
	ctx := testCtx(t, 60*time.Second)
	type result struct {
		got []seen
		err error
	}
	done := make(chan result, 2)
	for _, w := range []string{"w1", "w2"} {
		st := openStream(t, pollingMode, ctx, fake, kinesin.JSON[item], kinesin.WithApp("shapes"),
			kinesin.WithLeases(store, lease.WithWorkerID(w), lease.WithLeaseDuration(leaseTestDuration), lease.WithCycleInterval(leaseTestCycle)),
			kinesin.StopWhenCaughtUp())
		go func() {
			var r result
			for rec, err := range st.Records() {
				if err != nil {
					r.err = err
					break
				}
				r.got = append(r.got, seen{Shard: rec.ShardID, Seq: rec.SequenceNumber})
				rec.Commit()
			}
			done <- r
		}()
	}
	got := map[string]map[string]bool{}
	for range 2 {
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatal(r.err)
			}
			for _, s := range r.got {
				if got[s.Shard] == nil {
					got[s.Shard] = map[string]bool{}
				}
				got[s.Shard][s.Seq] = true
			}
		case <-ctx.Done():
			t.Fatal("the workers did not stop by themselves")
		}
	}
	for id, want := range seqs {
		for _, seq := range want {
			if !got[id][seq] {
				t.Errorf("record %s of %s never delivered", seq, id)
			}
		}
	}
}

// WithShards reads the shards named and no other, not their children.
func TestWithShards(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		fake := m.NewFake(t, 3)
		seqs := fillShards(t, fake, testStream, 4)
		const named, other = "shardId-000000000001", "shardId-000000000002"
		if _, err := fake.Split(testStream, named); err != nil {
			t.Fatal(err)
		}
		fillShards(t, fake, testStream, 2) // into the children and the others
		st := openStream(t, m, testCtx(t, 30*time.Second), fake, kinesin.JSON[item],
			kinesin.WithShards(named, other), kinesin.StopWhenCaughtUp())
		got := map[string][]seen{}
		for r, err := range st.Records() {
			if err != nil {
				t.Fatal(err)
			}
			got[r.ShardID] = append(got[r.ShardID], seen{Shard: r.ShardID, Seq: r.SequenceNumber})
			r.Commit()
		}
		checkShardOrder(t, named, got[named], seqs[named])
		if len(got[other]) != 6 {
			t.Errorf("%d records of %s, want 6", len(got[other]), other)
		}
		if len(got) != 2 {
			t.Errorf("records of %d shards, want only the 2 named: %v", len(got), keys(got))
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Bad values of the reading shapes' options fail Open with ErrInvalidOption,
// naming them.
func TestReadingShapesBadOptions(t *testing.T) {
	fake := newFake(t, 2)
	fake.SetRetention(testStream, 24*time.Hour)
	now := time.Now()
	for _, tc := range []struct {
		name string
		opts []kinesin.Option
		want string
	}{
		{"batch size", []kinesin.Option{kinesin.WithBatchSize(0)}, "WithBatchSize"},
		{"batch wait", []kinesin.Option{kinesin.WithBatchWait(0)}, "WithBatchWait"},
		{"zero StopAt", []kinesin.Option{kinesin.StopAt(time.Time{})}, "StopAt"},
		{"StopAt in the future", []kinesin.Option{kinesin.StopAt(now.Add(time.Hour))}, "future"},
		{"StopAt before the start", []kinesin.Option{kinesin.WithStart(kinesin.AtTimestamp(now.Add(-time.Minute))), kinesin.StopAt(now.Add(-time.Hour))}, "before the start"},
		{"StopAt past retention", []kinesin.Option{kinesin.StopAt(now.Add(-48 * time.Hour))}, "retention"},
		{"both stops", []kinesin.Option{kinesin.StopWhenCaughtUp(), kinesin.StopAt(now.Add(-time.Minute))}, "both"},
		{"no shard", []kinesin.Option{kinesin.WithShards()}, "WithShards"},
		{"empty shard id", []kinesin.Option{kinesin.WithShards("")}, "WithShards"},
		{"unknown shard", []kinesin.Option{kinesin.WithShards("shardId-000000000000", "shardId-000000000099")}, "shardId-000000000099"},
		{"shards and leases", []kinesin.Option{kinesin.WithApp("a"), kinesin.WithShards("shardId-000000000000"), kinesin.WithLeases(memlease.New())}, "WithLeases"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]kinesin.Option{kinesin.WithClient(fake.Client())}, tc.opts...)
			st, err := kinesin.Open(context.Background(), testStream, kinesin.JSON[item], opts...)
			if !errors.Is(err, kinesin.ErrInvalidOption) || st != nil {
				t.Fatalf("Open = %v, %v; want ErrInvalidOption", st, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// StopWhenCaughtUp on shards with nothing to read ends at once: a first
// fetch (or event) at the tip with no record is enough.
func TestStopWhenCaughtUpEmptyStream(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		fake := m.NewFake(t, 3)
		st := openStream(t, m, testCtx(t, 30*time.Second), fake, kinesin.JSON[item], kinesin.StopWhenCaughtUp())
		for r, err := range st.Records() {
			t.Fatalf("yielded %v, %v from an empty stream", r, err)
		}
		if err := st.Err(); err != nil {
			t.Fatalf("Err = %v, want nil", err)
		}
	})
}
