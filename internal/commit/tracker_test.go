package commit_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/commit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// seq is the position of record i in these tests: sequence number 1000+i.
func seq(i int) checkpoint.Checkpoint { return checkpoint.At(strconv.Itoa(1000 + i)) }

// add registers n records starting at record from.
func add(tr *commit.Tracker, from, n int) uint64 {
	return tr.Add(n, func(i int) checkpoint.Checkpoint { return seq(from + i) }, nil)
}

func pending(t *testing.T, tr *commit.Tracker) checkpoint.Checkpoint {
	t.Helper()
	cp, _, _ := tr.Pending()
	return cp
}

func TestInOrderCommits(t *testing.T) {
	tr := commit.New(100, checkpoint.Checkpoint{})
	if _, _, dirty := tr.Pending(); dirty {
		t.Fatal("a new tracker is dirty")
	}
	first := add(tr, 0, 5)
	if first != 0 {
		t.Fatalf("first index %d", first)
	}
	if second := add(tr, 5, 5); second != 5 {
		t.Fatalf("second batch starts at %d, want 5", second)
	}
	for i := range 10 {
		tr.Commit(uint64(i))
		if cp := pending(t, tr); cp != seq(i) {
			t.Fatalf("after committing %d: %v, want %v", i, cp, seq(i))
		}
	}
	if n := tr.Outstanding(); n != 0 {
		t.Errorf("outstanding %d", n)
	}
}

func TestOutOfOrderCommitsAdvanceOverThePrefixOnly(t *testing.T) {
	from := seq(-1)
	tr := commit.New(100, from)
	add(tr, 0, 6)
	for _, step := range []struct {
		commit int
		want   checkpoint.Checkpoint
	}{
		{3, from}, {1, from}, {5, from}, {0, seq(1)}, {2, seq(3)}, {4, seq(5)},
	} {
		tr.Commit(uint64(step.commit))
		if cp := pending(t, tr); cp != step.want {
			t.Fatalf("after committing %d: %v, want %v", step.commit, cp, step.want)
		}
	}
}

func TestDuplicateAndUnknownCommitsDoNothing(t *testing.T) {
	tr := commit.New(3, checkpoint.Checkpoint{})
	add(tr, 0, 3)
	tr.Commit(1)
	tr.Commit(1)
	tr.Commit(99)
	if n := tr.Outstanding(); n != 2 {
		t.Fatalf("outstanding %d after a duplicate and an unknown commit, want 2", n)
	}
	tr.Commit(0)
	tr.Commit(0) // below the base now
	if cp := pending(t, tr); cp != seq(1) {
		t.Fatalf("checkpoint %v", cp)
	}
	if n := tr.Outstanding(); n != 1 {
		t.Fatalf("outstanding %d, want 1", n)
	}
}

func TestPendingAndMarkWritten(t *testing.T) {
	tr := commit.New(10, checkpoint.Checkpoint{})
	add(tr, 0, 3)
	tr.Commit(1)
	if _, _, dirty := tr.Pending(); dirty {
		t.Fatal("dirty although the prefix did not move")
	}
	tr.Commit(0)
	cp, v, dirty := tr.Pending()
	if !dirty || cp != seq(1) {
		t.Fatalf("Pending = %v, %v, want %v dirty", cp, dirty, seq(1))
	}
	tr.Commit(2) // moves on while cp is being written
	tr.MarkWritten(v)
	cp, v2, dirty := tr.Pending()
	if !dirty || cp != seq(2) || v2 <= v {
		t.Fatalf("after a commit during the write: %v v%d dirty %v", cp, v2, dirty)
	}
	tr.MarkWritten(v2)
	tr.MarkWritten(v) // an older write finishing late does not make it dirty
	if _, _, dirty := tr.Pending(); dirty {
		t.Fatal("dirty after writing the newest version")
	}
}

func TestRoomBlocksAtTheLimit(t *testing.T) {
	tr := commit.New(4, checkpoint.Checkpoint{})
	ctx := context.Background()
	if n, err := tr.Room(ctx); n != 4 || err != nil {
		t.Fatalf("Room = %d, %v", n, err)
	}
	add(tr, 0, 3)
	if n, _ := tr.Room(ctx); n != 1 {
		t.Fatalf("Room = %d, want 1", n)
	}
	add(tr, 3, 1)
	got := make(chan int)
	go func() {
		n, err := tr.Room(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("Room returned %d at the limit", n)
	case <-time.After(50 * time.Millisecond):
	}
	tr.Commit(2) // out of order still frees room
	select {
	case n := <-got:
		if n != 1 {
			t.Fatalf("Room = %d after one commit, want 1", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Room stayed blocked after a commit")
	}
}

func TestRoomEndsWithContext(t *testing.T) {
	tr := commit.New(1, checkpoint.Checkpoint{})
	add(tr, 0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := tr.Room(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Room returned %v", err)
	}
}

func TestEndBecomesShardEndMarker(t *testing.T) {
	t.Run("all committed", func(t *testing.T) {
		tr := commit.New(10, checkpoint.Checkpoint{})
		var ended atomic.Int32
		tr.OnEnd(func() { ended.Add(1) })
		add(tr, 0, 2)
		tr.Commit(0)
		tr.Commit(1)
		_, v, _ := tr.Pending()
		tr.MarkWritten(v)
		tr.End()
		cp, v, dirty := tr.Pending()
		if cp != checkpoint.Ended() || !dirty || ended.Load() != 1 {
			t.Fatalf("after End: %v dirty %v, OnEnd called %d times", cp, dirty, ended.Load())
		}
		if tr.Finished() {
			t.Fatal("finished before the marker was written")
		}
		tr.MarkWritten(v)
		if !tr.Finished() {
			t.Fatal("not finished after the marker was written")
		}
	})
	t.Run("commits after the end", func(t *testing.T) {
		tr := commit.New(10, checkpoint.Checkpoint{})
		var ended atomic.Int32
		tr.OnEnd(func() { ended.Add(1) })
		add(tr, 0, 3)
		tr.Commit(1)
		tr.End()
		if cp := pending(t, tr); cp.ShardEnded || ended.Load() != 0 {
			t.Fatalf("marker %v with records uncommitted", cp)
		}
		tr.Commit(0)
		if cp := pending(t, tr); cp != seq(1) {
			t.Fatalf("checkpoint %v, want %v", cp, seq(1))
		}
		tr.Commit(2)
		cp, v, dirty := tr.Pending()
		if cp != checkpoint.Ended() || !dirty || ended.Load() != 1 {
			t.Fatalf("after the last commit: %v dirty %v, OnEnd called %d times", cp, dirty, ended.Load())
		}
		tr.Commit(2)
		if ended.Load() != 1 {
			t.Fatal("OnEnd called again by a duplicate commit")
		}
		tr.MarkWritten(v)
		if !tr.Finished() {
			t.Fatal("not finished")
		}
	})
	t.Run("empty shard", func(t *testing.T) {
		tr := commit.New(10, checkpoint.Checkpoint{})
		tr.End()
		if cp, _, dirty := tr.Pending(); cp != checkpoint.Ended() || !dirty {
			t.Fatalf("empty shard's end: %v dirty %v", cp, dirty)
		}
	})
	// A read that started at a time ends with a marker carrying it, for the
	// children; the start itself is not written again.
	t.Run("read from a start checkpoint", func(t *testing.T) {
		at := time.Date(2026, 12, 7, 1, 2, 3, 4, time.UTC)
		tr := commit.New(10, checkpoint.StartAt(at))
		if cp, _, dirty := tr.Pending(); cp != checkpoint.StartAt(at) || dirty {
			t.Fatalf("before any record: %v dirty %v, want the start, not dirty", cp, dirty)
		}
		add(tr, 0, 1)
		tr.Commit(0)
		tr.End()
		if cp, _, dirty := tr.Pending(); cp != checkpoint.EndedFrom(at) || !dirty {
			t.Fatalf("end of a shard read from %v: %v dirty %v, want %v", at, cp, dirty, checkpoint.EndedFrom(at))
		}
	})
}

// Against a model, with random batches and random commit orders, long
// enough for the queue to be compacted many times.
func TestMatchesModel(t *testing.T) {
	for s := range uint64(20) {
		rng := rand.New(rand.NewPCG(s, s+1))
		tr := commit.New(64, checkpoint.Checkpoint{})
		var committed []bool
		var open []int
		next := 0
		for step := 0; step < 3000; step++ {
			room := 0
			if len(open) < 64 { // Room blocks at the limit
				var err error
				if room, err = tr.Room(context.Background()); err != nil {
					t.Fatal(err)
				}
				if want := 64 - len(open); room != want {
					t.Fatalf("seed %d step %d: room %d, want %d", s, step, room, want)
				}
			}
			if rng.IntN(2) == 0 && room > 0 {
				n := 1 + rng.IntN(room)
				if first := add(tr, next, n); first != uint64(next) {
					t.Fatalf("seed %d: batch index %d, want %d", s, first, next)
				}
				for range n {
					committed = append(committed, false)
					open = append(open, next)
					next++
				}
			} else if len(open) > 0 {
				k := rng.IntN(len(open))
				i := open[k]
				open = append(open[:k], open[k+1:]...)
				tr.Commit(uint64(i))
				committed[i] = true
			}
			prefix := 0
			for prefix < len(committed) && committed[prefix] {
				prefix++
			}
			want := checkpoint.Checkpoint{}
			if prefix > 0 {
				want = seq(prefix - 1)
			}
			if cp := pending(t, tr); cp != want {
				t.Fatalf("seed %d step %d: checkpoint %v, want %v", s, step, cp, want)
			}
			if tr.Outstanding() != len(open) {
				t.Fatalf("seed %d step %d: outstanding %d, want %d", s, step, tr.Outstanding(), len(open))
			}
		}
	}
}

// Concurrent commits from many goroutines, with a reader adding under
// backpressure: the end position is the last record's.
func TestConcurrentCommits(t *testing.T) {
	const total, limit, workers = 20000, 500, 8
	tr := commit.New(limit, checkpoint.Checkpoint{})
	work := make(chan uint64, limit)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			var held []uint64
			for idx := range work {
				held = append(held, idx)
				if len(held) > rng.IntN(8) {
					rng.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
					for _, h := range held {
						tr.Commit(h)
					}
					held = held[:0]
				}
			}
			for _, h := range held {
				tr.Commit(h)
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for sent := 0; sent < total; {
		n, err := tr.Room(ctx)
		if err != nil {
			t.Fatalf("Room after %d records: %v (outstanding %d)", sent, err, tr.Outstanding())
		}
		if o := tr.Outstanding(); o > limit {
			t.Fatalf("outstanding %d above the limit", o)
		}
		n = min(n, 1+sent%37, total-sent)
		first := add(tr, sent, n)
		for i := range n {
			work <- first + uint64(i)
		}
		sent += n
	}
	close(work)
	wg.Wait()
	if cp := pending(t, tr); cp != seq(total-1) {
		t.Fatalf("checkpoint %v, want %v", cp, seq(total-1))
	}
}

// Records yielded before Seal must be committed for Drained to close; those
// never yielded (still queued) hold the checkpoint back and are left to the
// next owner; Unyield takes back a record that was not handed over.
func TestSealWaitsForYieldedRecords(t *testing.T) {
	tr := commit.New(100, checkpoint.Checkpoint{})
	first := add(tr, 0, 6)
	for i := range 4 {
		if !tr.Yield(first + uint64(i)) {
			t.Fatalf("Yield(%d) refused before Seal", i)
		}
	}
	tr.Unyield(first + 3) // could not be handed over after all
	if n := tr.InHand(); n != 3 {
		t.Fatalf("in hand %d, want 3", n)
	}
	tr.Commit(first)
	tr.Seal()
	if tr.Yield(first + 4) {
		t.Fatal("Yield accepted after Seal")
	}
	select {
	case <-tr.Drained():
		t.Fatal("drained with records in hand")
	default:
	}
	tr.Commit(first + 2)
	tr.Commit(first + 1)
	select {
	case <-tr.Drained():
	case <-time.After(time.Second):
		t.Fatal("not drained once every yielded record was committed")
	}
	if cp := pending(t, tr); cp != seq(2) {
		t.Errorf("checkpoint %v, want the last yielded record %v", cp, seq(2))
	}
	if n := tr.Outstanding(); n != 3 {
		t.Errorf("outstanding %d, want the 3 records never committed", n)
	}
	tr.Seal() // idempotent
	// A tracker sealed with nothing in hand is drained at once.
	empty := commit.New(10, checkpoint.Checkpoint{})
	add(empty, 0, 2)
	empty.Seal()
	select {
	case <-empty.Drained():
	default:
		t.Error("a sealed tracker with nothing yielded is not drained")
	}
}
