package kinesin_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/internal/streamtest"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

// Records are decoded on the shard readers' goroutines, in parallel, before
// the application takes them: the decoder of every shard's first record
// runs at the same time, while nothing reads the stream yet.
func TestDecodeRunsOnReadersInParallel(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		const shards = 4
		fake := m.NewFake(t, shards)
		fillShards(t, fake, testStream, 1)
		var inside atomic.Int32
		allIn := make(chan struct{})
		var once sync.Once
		dec := func(data []byte) (item, error) {
			if inside.Add(1) == shards {
				once.Do(func() { close(allIn) })
			}
			select { // serial decoding would wait here for ever
			case <-allIn:
			case <-time.After(10 * time.Second):
			}
			return kinesin.JSON[item](data)
		}
		st := openStream(t, m, testCtx(t, 20*time.Second), fake, dec)
		select {
		case <-allIn:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d shards' decoders ran at once, with nothing reading the stream", inside.Load(), shards)
		}
		n := 0
		for rec, err := range st.Records() {
			if err != nil {
				t.Fatal(err)
			}
			rec.Commit()
			if n++; n == shards {
				break
			}
		}
	})
}

// The merge of the shards' batches is fair: a shard with a long backlog
// does not hold back the records of the others. With batches of 10
// records, a busy shard's reader fills the queue of batches to the
// application before the quiet shards get records; once they do, their
// records come after at most a few of the busy shard's batches (those
// queued before them), not after its backlog.
func TestBusyShardDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	const backlog, batch, quiet = 3000, 10, 5
	fake := newFake(t, 4)
	shards := openShards(t, fake, testStream)
	busy := shards[0].ID
	for i := range backlog {
		if _, err := fake.PutWithHashKey(testStream, "busy", shards[0].StartingHashKey, itemJSON(item{N: i})); err != nil {
			t.Fatal(err)
		}
	}
	opts := fastPolling
	opts.MaxRecords = batch
	st := openStream(t, pollingMode, testCtx(t, 30*time.Second), fake, kinesin.JSON[item], kinesin.WithPolling(opts))
	delivered := func(id string) uint64 {
		for _, s := range st.Stats().Shards {
			if s.ShardID == id {
				return s.Delivered
			}
		}
		return 0
	}
	// The busy shard's reader fills the queue and waits.
	streamtest.Settle(t, 10*time.Second, 100*time.Millisecond, func() uint64 { return delivered(busy) })
	if d := delivered(busy); d >= backlog {
		t.Fatalf("the busy shard delivered its whole backlog (%d) before anything was read", d)
	}
	for _, sh := range shards[1:] {
		for i := range quiet {
			if _, err := fake.PutWithHashKey(testStream, "quiet", sh.StartingHashKey, itemJSON(item{N: i})); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, 10*time.Second, func() bool {
		for _, sh := range shards[1:] {
			if delivered(sh.ID) < quiet {
				return false
			}
		}
		return true
	}, "the quiet shards' readers to fetch their records")
	busyBefore, left := 0, quiet*(len(shards)-1)
	for rec, err := range st.Records() {
		if err != nil {
			t.Fatal(err)
		}
		rec.Commit()
		if rec.ShardID == busy {
			busyBefore++
			continue
		}
		if left--; left == 0 {
			break
		}
	}
	// The queue of batches holds 16; allow for as many again.
	if limit := 32 * batch; busyBefore > limit {
		t.Errorf("%d records of the busy shard came before the last of the quiet shards', want at most %d", busyBefore, limit)
	}
	t.Logf("%d records of the busy shard came before the last of the quiet shards'", busyBefore)
}

// Without leases, the channel of Chan holds ChanBuffer records sent ahead of
// the receiver; those still in it when the stream ends are taken back, so a
// receiver sees none after Close. With leases it holds none: a record is
// sent only while its lease is valid.
func TestChanBuffer(t *testing.T) {
	t.Run("without leases", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		fake := newFake(t, 2)
		fillShards(t, fake, testStream, 100)
		st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item])
		ch := st.Chan()
		if cap(ch) != kinesin.ChanBuffer {
			t.Errorf("cap(Chan()) = %d, want ChanBuffer (%d)", cap(ch), kinesin.ChanBuffer)
		}
		eventually(t, 5*time.Second, func() bool { return len(ch) == 200 }, "every record sent ahead (%d)", len(ch))
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		n := 0
		for range ch {
			n++
		}
		if n != 0 {
			t.Errorf("%d records received after Close, want 0: they are taken back", n)
		}
	})
	t.Run("with leases", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		fake := newFake(t, 2)
		fillShards(t, fake, testStream, 100)
		st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item],
			kinesin.WithLeases(memlease.New(), lease.WithLeaseDuration(leaseTestDuration), lease.WithCycleInterval(leaseTestCycle)),
			kinesin.WithCheckpointer(memcheckpoint.New()), kinesin.WithCloseTimeout(2*time.Second))
		ch := st.Chan()
		if cap(ch) != 0 {
			t.Errorf("cap(Chan()) = %d with leases, want 0", cap(ch))
		}
		for _, rec := range streamtest.TakeN(t, ch, 10, 5*time.Second) {
			rec.Commit()
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
