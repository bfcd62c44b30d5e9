package kinesin_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
)

// Every record of a backlog is yielded exactly once, each shard's in sequence
// order, and once all are committed and flushed each shard's checkpoint is
// its last record: no commit is lost in a gap.
func TestDeliversEveryRecordOnceInShardOrder(t *testing.T) {
	eachModeParallel(t, testDeliversEveryRecordOnceInShardOrder)
}

func testDeliversEveryRecordOnceInShardOrder(t *testing.T, m mode) {
	const shards, perShard = 4, 5000
	fake := m.NewFake(t, shards)
	want := fillShards(t, fake, testStream, perShard)
	store := memcheckpoint.New()
	ctx := testCtx(t, 40*time.Second)
	st := openStream(t, m, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))

	got := map[string][]seen{}
	count := map[string]int{} // by sequence number
	total, sentinels := 0, 0
	for rec, err := range st.Records() {
		if err != nil {
			t.Fatalf("yielded error after %d records: %v", total, err)
		}
		total++
		count[rec.SequenceNumber]++
		got[rec.ShardID] = append(got[rec.ShardID], seen{Shard: rec.ShardID, Seq: rec.SequenceNumber, Item: rec.Value})
		rec.Commit()
		if total == shards*perShard {
			// A duplicate would come before a record put now: one more
			// record per shard closes the run.
			for id, seqs := range fillShards(t, fake, testStream, 1) {
				want[id] = append(want[id], seqs...)
			}
		}
		if rec.Value.N == 0 && total > shards*perShard {
			sentinels++
		}
		if sentinels == shards {
			if err := st.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			break
		}
	}
	if total != shards*(perShard+1) {
		t.Fatalf("yielded %d records, want %d", total, shards*(perShard+1))
	}
	for seq, n := range count {
		if n != 1 {
			t.Errorf("record %s yielded %d times", seq, n)
		}
	}
	cps := load(t, store)
	for id, seqs := range want {
		checkShardOrder(t, id, got[id], seqs)
		if cp, want := cps[id], checkpoint.At(seqs[len(seqs)-1]); cp != want {
			t.Errorf("checkpoint of %s is %v, want its last record %v", id, cp, want)
		}
	}
}

// Commits made in any order by a pool of workers move each shard's checkpoint
// only over the contiguous committed prefix: at every Flush it is exactly the
// last record of that prefix.
func TestOutOfOrderCommitsCheckpointContiguousPrefix(t *testing.T) {
	eachModeParallel(t, testOutOfOrderCommitsCheckpointContiguousPrefix)
}

func testOutOfOrderCommitsCheckpointContiguousPrefix(t *testing.T, m mode) {
	const shards, perShard, workers = 2, 1000, 8
	fake := m.NewFake(t, shards)
	want := fillShards(t, fake, testStream, perShard)
	pos := map[string]int{} // sequence number -> index in its shard
	for _, seqs := range want {
		for i, s := range seqs {
			pos[s] = i
		}
	}
	store := memcheckpoint.New()
	ctx := testCtx(t, 30*time.Second)
	st := openStream(t, m, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))

	// Workers commit under gate's read lock and note the commit before
	// releasing it; the checker takes the write lock, so what it reads is
	// exactly what the stream's trackers hold.
	var gate sync.RWMutex
	committed := map[string][]bool{}
	for id := range want {
		committed[id] = make([]bool, perShard)
	}
	var done atomic.Int64
	ch := st.Chan()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			var held []*kinesin.Record[item]
			release := func() {
				rng.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
				for _, r := range held {
					if rng.IntN(8) == 0 {
						time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond) // work
					}
					gate.RLock()
					r.Commit()
					committed[r.ShardID][pos[r.SequenceNumber]] = true
					gate.RUnlock()
					done.Add(1)
				}
				held = held[:0]
			}
			target := 1 + rng.IntN(16)
			for {
				var r *kinesin.Record[item]
				ok := true
				if len(held) == 0 {
					r, ok = <-ch
				} else {
					select {
					case r, ok = <-ch:
					case <-time.After(time.Millisecond):
						release()
						continue
					}
				}
				if !ok {
					release()
					return
				}
				held = append(held, r)
				if len(held) >= target {
					release()
					target = 1 + rng.IntN(16)
				}
			}
		}()
	}

	check := func() (gaps bool) {
		gate.Lock()
		defer gate.Unlock()
		if err := st.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		cps := load(t, store)
		for id, c := range committed {
			prefix := 0
			for prefix < len(c) && c[prefix] {
				prefix++
			}
			for _, ok := range c[prefix:] {
				gaps = gaps || ok
			}
			cp, has := cps[id]
			switch {
			case prefix == 0 && has:
				t.Fatalf("shard %s: checkpoint %v while its first record is not committed", id, cp)
			case prefix > 0 && cp != checkpoint.At(want[id][prefix-1]):
				t.Fatalf("shard %s: checkpoint %v, want %v (record %d, end of the committed prefix)", id, cp, want[id][prefix-1], prefix-1)
			}
		}
		return gaps
	}
	checks, withGaps := 0, 0
	deadline := time.Now().Add(25 * time.Second)
	for done.Load() < shards*perShard {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d records committed", done.Load(), shards*perShard)
		}
		checks++
		if check() {
			withGaps++
		}
		time.Sleep(time.Millisecond)
	}
	check()
	t.Logf("%d flushes checked, %d with commits beyond a gap", checks, withGaps)
	if withGaps == 0 {
		t.Error("no flush happened while commits were out of order: the test proved nothing")
	}
	cps := load(t, store)
	for id, seqs := range want {
		if cps[id] != checkpoint.At(seqs[len(seqs)-1]) {
			t.Errorf("final checkpoint of %s is %v, want %s", id, cps[id], seqs[len(seqs)-1])
		}
	}
	st.Close()
	wg.Wait()
}

// A record the decoder rejects is yielded with a *DecodeError carrying its
// shard, sequence number and raw data, beside a usable record; the stream
// goes on and the record can be committed.
func TestPoisonRecordRecords(t *testing.T) {
	eachModeParallel(t, testPoisonRecordRecords)
}

func testPoisonRecordRecords(t *testing.T, m mode) {
	fake := m.NewFake(t, 1)
	poison := []byte(`{"n": oops`)
	var seqs []string
	for i := range 10 {
		data := itemJSON(item{N: i})
		if i == 5 {
			data = poison
		}
		res, err := fake.Put(testStream, "pk", data)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, res.SequenceNumber)
	}
	store := memcheckpoint.New()
	ctx := testCtx(t, 10*time.Second)
	st := openStream(t, m, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))
	n, decodeErrs := 0, 0
	for rec, err := range st.Records() {
		if rec == nil {
			t.Fatalf("nil record with error %v", err)
		}
		if err != nil {
			var de *kinesin.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
			}
			decodeErrs++
			if de.ShardID != rec.ShardID || de.ShardID == "" {
				t.Errorf("DecodeError.ShardID %q, record's %q", de.ShardID, rec.ShardID)
			}
			if de.SequenceNumber != seqs[5] || rec.SequenceNumber != seqs[5] {
				t.Errorf("DecodeError.SequenceNumber %s, record's %s, want %s", de.SequenceNumber, rec.SequenceNumber, seqs[5])
			}
			if !bytes.Equal(de.Data, poison) || !bytes.Equal(rec.Data, poison) {
				t.Errorf("DecodeError.Data %q, record's Data %q, want %q", de.Data, rec.Data, poison)
			}
			var syntax *json.SyntaxError
			if !errors.As(err, &syntax) {
				t.Errorf("the decoder's error is not unwrapped: %v", err)
			}
			if rec.Err() != err {
				t.Errorf("rec.Err() = %v, want the yielded error", rec.Err())
			}
		} else if rec.Value.N != n {
			t.Errorf("record %d has value %d", n, rec.Value.N)
		}
		if rec.PartitionKey != "pk" || rec.ArrivalTime.IsZero() || rec.ShardID != "shardId-000000000000" || rec.SubSequenceNumber != 0 {
			t.Errorf("record %d: PartitionKey %q, ArrivalTime %v, ShardID %q, SubSequenceNumber %d", n, rec.PartitionKey, rec.ArrivalTime, rec.ShardID, rec.SubSequenceNumber)
		}
		rec.Commit()
		n++
		if n == len(seqs) {
			break
		}
	}
	if decodeErrs != 1 {
		t.Errorf("%d decode errors, want 1", decodeErrs)
	}
	// break closed the stream, which wrote the checkpoint past the poison.
	if cp := load(t, store)["shardId-000000000000"]; cp != checkpoint.At(seqs[9]) {
		t.Errorf("checkpoint %v, want %s", cp, seqs[9])
	}
}

// In the Chan form, the decode error of a poison record is read with
// Record.Err, the stream goes on, and Err stays nil.
func TestPoisonRecordChan(t *testing.T) {
	eachModeParallel(t, testPoisonRecordChan)
}

func testPoisonRecordChan(t *testing.T, m mode) {
	fake := m.NewFake(t, 1)
	myErr := errors.New("not a number")
	dec := func(data []byte) (int, error) {
		if data[0] < '0' || data[0] > '9' {
			return 0, myErr
		}
		return int(data[0] - '0'), nil
	}
	for _, d := range []string{"1", "2", "x", "4"} {
		fake.Put(testStream, "pk", []byte(d))
	}
	ctx := testCtx(t, 10*time.Second)
	st := openStream(t, m, ctx, fake, dec)
	ch := st.Chan()
	for i, want := range []int{1, 2, -1, 4} {
		var rec *kinesin.Record[int]
		select {
		case rec = <-ch:
		case <-ctx.Done():
			t.Fatalf("record %d not delivered", i)
		}
		if want < 0 {
			var de *kinesin.DecodeError
			if !errors.As(rec.Err(), &de) || !errors.Is(rec.Err(), myErr) || string(de.Data) != "x" || string(rec.Data) != "x" {
				t.Errorf("poison record: Err() = %v, Data %q", rec.Err(), rec.Data)
			}
		} else if rec.Err() != nil || rec.Value != want {
			t.Errorf("record %d: value %d, Err() %v", i, rec.Value, rec.Err())
		}
		rec.Commit()
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Err(); err != nil {
		t.Errorf("Err() = %v after a decode error and Close, want nil", err)
	}
}

// With WithMaxUncommitted and no commit, each shard's reader stops at the bound
// and stops reading: no GetRecords call in polling mode; in EFO mode the
// subscription's event stream is not read, so the fake can send no more
// events (a few sit in the SDK's reader and the pipe). Committing lets it go
// on, every record once and in order.
func TestBackpressureStopsReaders(t *testing.T) {
	eachModeParallel(t, testBackpressureStopsReaders)
}

func testBackpressureStopsReaders(t *testing.T, m mode) {
	shards, perShard, limit, pad := 2, 500, 100, 0
	if m.EFO {
		// Records of 64 KiB: an event holds about 15, the backlog of a
		// shard fills 7 events.
		perShard, limit, pad = 100, 10, 64<<10
	}
	fake := m.NewFake(t, shards)
	want := fillPadded(t, fake, testStream, perShard, pad)
	ctx := testCtx(t, 20*time.Second)
	st := openStream(t, m, ctx, fake, kinesin.JSON[item], kinesin.WithMaxUncommitted(limit))
	c := collect(st, false)

	eventually(t, 5*time.Second, func() bool { return c.Count() == shards*limit }, "%d records delivered, want %d", c.Count(), shards*limit)
	if m.EFO {
		// What the fake sent holds still, short of the backlog, with no new
		// subscription.
		type sent struct{ subs, events, records int }
		sentNow := func() sent {
			var s sent
			for _, sub := range fake.Subscriptions() {
				s.subs++
				s.events += sub.Events
				s.records += sub.Records
			}
			return s
		}
		// The SDK's reader takes another event or two, then the fake's
		// writes wait: what it sent holds still (an event of 1 MiB takes a
		// few hundred milliseconds to encode and decode under the race
		// detector), far short of the backlog.
		s := settle(t, 15*time.Second, 700*time.Millisecond, sentNow)
		if s.subs != shards || s.records >= shards*perShard || s.events > 4*shards {
			t.Errorf("held reader: %d subscriptions sent %d events, %d records of %d: want %d subscriptions, part of the backlog",
				s.subs, s.events, s.records, shards*perShard, shards)
		}
		t.Logf("held at %d records; the fake sent %d events, %d records", c.Count(), s.events, s.records)
	} else {
		calls := steady(t, 300*time.Millisecond, func() int { return fake.Calls("GetRecords") }, "the GetRecords call count")
		t.Logf("held at %d records after %d GetRecords calls", c.Count(), calls)
	}
	steady(t, 50*time.Millisecond, c.Count, "the delivered count")
	for id := range want {
		if n := c.CountOf(id); n != limit {
			t.Errorf("shard %s: %d records delivered without commit, want %d", id, n, limit)
		}
	}

	// Commit what was delivered, then everything as it comes.
	for c.Count() < shards*perShard {
		c.CommitPending()
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d records delivered after commits", c.Count(), shards*perShard)
		}
		time.Sleep(time.Millisecond)
	}
	c.CommitPending()
	for id, seqs := range want {
		checkShardOrder(t, id, c.Shard(id), seqs)
	}
}
