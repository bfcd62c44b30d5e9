package kinesin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// Breaking out of Records closes the stream: every goroutine ends, the
// committed positions are written, and Close afterwards is harmless.
func TestBreakClosesEverything(t *testing.T) {
	eachMode(t, testBreakClosesEverything)
}

func testBreakClosesEverything(t *testing.T, m mode) {
	fake := m.NewFake(t, 4)
	want := fillShards(t, fake, testStream, 100)
	store := checkpointtest.NewFaulty(t, memcheckpoint.New()) // counting the saves
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := kinesin.Open(ctx, testStream, kinesin.JSON[item], append(m.Options(), kinesin.WithClient(fake.Client()), kinesin.WithApp(kinesin.DefaultApp),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))...)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]string{}
	n := 0
	for rec, err := range st.Records() {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n > 250 {
			break // this one is not committed
		}
		rec.Commit()
		last[rec.ShardID] = rec.SequenceNumber
	}
	if n := store.Calls(checkpointtest.OpSave); n != 1 {
		t.Errorf("%d saves after break, want the 1 of the implicit Close", n)
	}
	cps := load(t, store)
	for id := range want {
		seq, ok := last[id]
		if cp, has := cps[id]; has != ok || (ok && cp != checkpoint.At(seq)) {
			t.Errorf("shard %s: checkpoint %v, want the last committed %q", id, cp, seq)
		}
	}
	for range 2 {
		if err := st.Close(); err != nil {
			t.Errorf("Close after break: %v", err)
		}
	}
	if err := st.Err(); err != nil {
		t.Errorf("Err() = %v after break", err)
	}
	if err := st.Flush(ctx); !errors.Is(err, kinesin.ErrClosed) {
		t.Errorf("Flush after break = %v, want ErrClosed", err)
	}
}

// Close ends the Records loop and the Chan channel, flushes, and is
// idempotent; afterwards Flush says ErrClosed and Err is nil.
func TestCloseEndsConsumption(t *testing.T) {
	eachMode(t, testCloseEndsConsumption)
}

func testCloseEndsConsumption(t *testing.T, m mode) {
	for _, form := range []string{"Records", "Chan"} {
		t.Run(form, func(t *testing.T) {
			fake := m.NewFake(t, 2)
			want := fillShards(t, fake, testStream, 5)
			store := memcheckpoint.New()
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			ctx := testCtx(t, 10*time.Second)
			st, err := kinesin.Open(ctx, testStream, kinesin.JSON[item], append(m.Options(), kinesin.WithClient(fake.Client()), kinesin.WithApp(kinesin.DefaultApp),
				kinesin.WithStart(kinesin.TrimHorizon),
				kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))...)
			if err != nil {
				t.Fatal(err)
			}
			ended := make(chan int)
			if form == "Records" {
				go func() {
					n := 0
					for rec, err := range st.Records() {
						if err != nil {
							t.Errorf("yielded %v", err)
							continue
						}
						rec.Commit()
						n++
					}
					ended <- n
				}()
			} else {
				ch := st.Chan()
				go func() {
					n := 0
					for rec := range ch {
						rec.Commit()
						n++
					}
					ended <- n
				}()
			}
			eventually(t, 5*time.Second, func() bool {
				if err := st.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				cps := load(t, store)
				for id, seqs := range want {
					if cps[id] != checkpoint.At(seqs[4]) {
						return false
					}
				}
				return true
			}, "every record committed and flushed")
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case n := <-ended:
				if n != 10 {
					t.Errorf("%d records consumed, want 10", n)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the consumer did not stop after Close")
			}
			if err := st.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := st.Flush(ctx); !errors.Is(err, kinesin.ErrClosed) {
				t.Errorf("Flush after Close = %v, want ErrClosed", err)
			}
			if err := st.Err(); err != nil {
				t.Errorf("Err() after Close = %v, want nil", err)
			}
		})
	}
}

// Records and Chan are single use: a second call yields ErrConsumed, or gets
// a closed channel, and leaves the stream to its first consumer.
func TestSingleUse(t *testing.T) {
	t.Run("Records twice", func(t *testing.T) {
		fake := newFake(t, 1)
		fake.Put(testStream, "pk", itemJSON(item{}))
		st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item])
		for range st.Records() {
			break
		}
		calls := 0
		for rec, err := range st.Records() {
			calls++
			if rec != nil || !errors.Is(err, kinesin.ErrConsumed) {
				t.Errorf("second Records yielded (%v, %v), want (nil, ErrConsumed)", rec, err)
			}
		}
		if calls != 1 {
			t.Errorf("second Records yielded %d times, want once", calls)
		}
	})
	t.Run("Records called twice, the first never ranged", func(t *testing.T) {
		// The first call takes the records, ranged or not: the second
		// yields ErrConsumed, as documented, and the first still streams.
		fake := newFake(t, 1)
		fake.Put(testStream, "pk", itemJSON(item{N: 1}))
		st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item])
		first := st.Records()
		second := st.Records()
		for rec, err := range second {
			if rec != nil || !errors.Is(err, kinesin.ErrConsumed) {
				t.Errorf("second Records yielded (%v, %v), want (nil, ErrConsumed)", rec, err)
			}
		}
		for rec, err := range first {
			if err != nil || rec.Value.N != 1 {
				t.Errorf("first Records yielded (%v, %v), want the record", rec, err)
			}
			break
		}
		// Ranging the first iterator again is consuming it twice.
		for rec, err := range first {
			if rec != nil || !errors.Is(err, kinesin.ErrConsumed) {
				t.Errorf("first Records ranged again yielded (%v, %v), want (nil, ErrConsumed)", rec, err)
			}
		}
	})
	t.Run("Chan while Records runs", func(t *testing.T) {
		// Chan after Records gets a closed channel and changes nothing else:
		// the loop goes on, and ends without an error on Close.
		fake := newFake(t, 1)
		fake.Put(testStream, "pk", itemJSON(item{N: 1}))
		st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item])
		got := make(chan int, 10)
		loopErr := make(chan error, 1)
		go func() {
			var last error
			for rec, err := range st.Records() {
				if err != nil {
					last = err
					continue
				}
				got <- rec.Value.N
			}
			loopErr <- last
		}()
		if n := <-got; n != 1 {
			t.Fatalf("got %d, want 1", n)
		}
		if _, ok := <-st.Chan(); ok {
			t.Error("Chan after Records delivered a record")
		}
		fake.Put(testStream, "pk", itemJSON(item{N: 2}))
		select {
		case n := <-got:
			if n != 2 {
				t.Errorf("got %d, want 2", n)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the Records loop stopped after Chan was called")
		}
		if err := st.Err(); err != nil {
			t.Errorf("Err() = %v while the stream runs", err)
		}
		st.Close()
		select {
		case err := <-loopErr:
			if err != nil {
				t.Errorf("the Records loop ended with %v after Close, want no error", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the Records loop did not end after Close")
		}
		if err := st.Err(); err != nil {
			t.Errorf("Err() = %v after Close, want nil", err)
		}
	})
	t.Run("Records after Chan", func(t *testing.T) {
		fake := newFake(t, 1)
		st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item])
		ch := st.Chan()
		if st.Chan() != ch {
			t.Error("Chan returned a different channel the second time")
		}
		for rec, err := range st.Records() {
			if rec != nil || !errors.Is(err, kinesin.ErrConsumed) {
				t.Errorf("Records after Chan yielded (%v, %v), want (nil, ErrConsumed)", rec, err)
			}
		}
		// The refused Records did not close the stream: the channel still
		// delivers.
		fake.Put(testStream, "pk", itemJSON(item{N: 3}))
		select {
		case rec := <-ch:
			if rec == nil || rec.Value.N != 3 {
				t.Errorf("received %v", rec)
			}
		case <-time.After(5 * time.Second):
			t.Error("the channel delivered nothing after a refused Records")
		}
		st.Close()
		if _, ok := <-ch; ok {
			t.Error("the channel was not closed by Close")
		}
		if err := st.Err(); err != nil {
			t.Errorf("Err() = %v: the refused Records is not the Chan user's error", err)
		}
	})
	t.Run("Chan after Close", func(t *testing.T) {
		fake := newFake(t, 1)
		st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item])
		st.Close()
		if _, ok := <-st.Chan(); ok {
			t.Error("Chan after Close delivered a record")
		}
		if err := st.Err(); err != nil {
			t.Errorf("Err() = %v", err)
		}
	})
}

// The end of Open's context ends the Records loop without an error; Close
// afterwards still writes the committed positions.
func TestContextEndIsNotAnError(t *testing.T) {
	eachModeParallel(t, testContextEndIsNotAnError)
}

func testContextEndIsNotAnError(t *testing.T, m mode) {
	fake := m.NewFake(t, 2)
	want := fillShards(t, fake, testStream, 5)
	store := memcheckpoint.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openStream(t, m, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))
	n := 0
	for rec, err := range st.Records() {
		if err != nil {
			t.Fatalf("yielded %v", err)
		}
		rec.Commit()
		if n++; n == 10 {
			cancel()
		}
	}
	if err := st.Err(); err != nil {
		t.Errorf("Err() = %v after the context ended", err)
	}
	// Leaving the loop closed the stream, which flushed.
	cps := load(t, store)
	for id, seqs := range want {
		if cps[id] != checkpoint.At(seqs[4]) {
			t.Errorf("shard %s: checkpoint %v, want %s", id, cps[id], seqs[4])
		}
	}
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// Commit on a nil record, twice, or after Close does not panic.
func TestCommitIsHarmless(t *testing.T) {
	var r *kinesin.Record[item]
	r.Commit()
	(&kinesin.Record[item]{}).Commit()
	fake := newFake(t, 1)
	fake.Put(testStream, "pk", itemJSON(item{}))
	st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item])
	for rec, err := range st.Records() {
		if err != nil {
			t.Fatal(err)
		}
		rec.Commit()
		rec.Commit()
		st.Close()
		rec.Commit()
	}
}

// A stream deleted and created again under the same name while it is read is
// a new stream: its shards reuse the old ids, which were read to their end,
// so going on would read nothing. The stream fails with ErrStreamNotFound.
func TestRecreatedStreamIsFatal(t *testing.T) {
	eachModeParallel(t, testRecreatedStreamIsFatal)
}

func testRecreatedStreamIsFatal(t *testing.T, m mode) {
	clock := kinesistest.NewManualClock(time.Now())
	fake := m.NewFake(t, 1, kinesistest.WithClock(clock))
	fillShards(t, fake, testStream, 3)
	ctx := testCtx(t, 20*time.Second)
	st := openStream(t, m, ctx, fake, kinesin.JSON[item])
	n := 0
	for rec, err := range st.Records() {
		if err != nil {
			if !errors.Is(err, kinesin.ErrStreamNotFound) || rec != nil {
				t.Fatalf("got %v, %v; want nil and ErrStreamNotFound", rec, err)
			}
			// Usually "created again"; "deleted" when a read fell between
			// the delete and the create.
			t.Logf("fatal error: %v", err)
			return
		}
		rec.Commit()
		if n++; n == 3 {
			if err := fake.DeleteStream(testStream); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Second) // a different creation time
			if err := fake.CreateStream(testStream, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatalf("the loop ended without an error after %d records", n)
}
