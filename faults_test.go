package kinesin_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

// Faults lose nothing and repeat nothing: every record once, in order.
// Polling: throttling of 30% of GetRecords calls, expired iterators and
// internal failures. EFO: see testEFOFaults.
func TestFaultsLoseAndRepeatNothing(t *testing.T) {
	t.Parallel()
	t.Run("polling", func(t *testing.T) {
		t.Parallel()
		testPollingFaults(t)
	})
	t.Run("efo", func(t *testing.T) {
		t.Parallel()
		testEFOFaults(t)
	})
}

func testPollingFaults(t *testing.T) {
	const shards, perShard = 3, 2000
	fake := newFake(t, shards, kinesistest.WithSeed(7))
	want := fillShards(t, fake, testStream, perShard)
	E, P := kinesistest.ExpiredIterator, kinesistest.Pass
	expired := fake.Script(kinesistest.Match{Op: "GetRecords"}, P, P, P, E, P, P, E, E, P, P, P, P, E, P, P, P, P, P, E, P, P, E)
	internal := fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "GetRecords"}, Action: kinesistest.InternalFailure, Probability: 0.1, Times: 10})
	unavailable := fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "GetRecords"}, Action: kinesistest.ServiceUnavailable, Times: 3, Probability: 0.1})
	itThrottle := fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "GetShardIterator"}, Action: kinesistest.Throttle, Probability: 0.3})
	throttle := fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "GetRecords"}, Action: kinesistest.Throttle, Probability: 0.3})

	ctx := testCtx(t, 30*time.Second)
	// Small batches: many calls, so many faults.
	st := openStream(t, pollingMode, ctx, fake, kinesin.JSON[item], kinesin.WithPolling(polling.Options{
		MaxRecords: 50, MinInterval: time.Millisecond, IdleInterval: 5 * time.Millisecond,
		InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	}))
	got := map[string][]seen{}
	total := 0
	for rec, err := range st.Records() {
		if err != nil {
			t.Fatalf("yielded %v after %d records", err, total)
		}
		got[rec.ShardID] = append(got[rec.ShardID], seen{Seq: rec.SequenceNumber})
		rec.Commit()
		total++
		if total == shards*perShard {
			// End marker per shard: a repeat would come before it.
			for id, seqs := range fillShards(t, fake, testStream, 1) {
				want[id] = append(want[id], seqs...)
			}
		}
		if total == shards*(perShard+1) {
			break
		}
	}
	for id, seqs := range want {
		checkShardOrder(t, id, got[id], seqs)
	}
	t.Logf("faults hit: %d expired iterators, %d internal failures, %d unavailable, %d throttled GetRecords, %d throttled GetShardIterator (of %d GetRecords calls)",
		expired.Hits(), internal.Hits(), unavailable.Hits(), throttle.Hits(), itThrottle.Hits(), fake.Calls("GetRecords"))
	if expired.Hits() < 5 || internal.Hits() == 0 || throttle.Hits() < 20 {
		t.Errorf("too few faults hit to prove anything")
	}
}

// Errors retrying cannot fix end the stream: yielded once, last, with a nil
// record, and returned by Err.
// In EFO mode the open subscriptions are cut after their first event and
// the next SubscribeToShard call is denied.
func TestFatalReadError(t *testing.T) {
	eachModeParallel(t, testFatalReadError)
}

func testFatalReadError(t *testing.T, m mode) {
	// In EFO mode the subscriptions end when their 5 minutes are over, on a
	// clock the test moves once every record was delivered: the fatal
	// subscription comes after them.
	clock := kinesistest.NewManualClock(time.Now())
	fake := m.NewFake(t, 2, kinesistest.WithClock(clock))
	fillShards(t, fake, testStream, 5)
	ctx := testCtx(t, 10*time.Second)
	st := openStream(t, m, ctx, fake, kinesin.JSON[item])
	n := 0
	var fatal error
	for rec, err := range st.Records() {
		if fatal != nil {
			t.Fatalf("yielded (%v, %v) after the fatal error", rec, err)
		}
		if err != nil {
			if rec != nil {
				t.Errorf("fatal error yielded beside a record")
			}
			fatal = err
			continue
		}
		rec.Commit()
		if n++; n == 10 {
			op := map[bool]string{false: "GetRecords", true: "SubscribeToShard"}[m.EFO]
			fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: op}, Action: kinesistest.Fail(kinesistest.CodeAccessDenied)})
			clock.Advance(5*time.Minute + time.Second)
		}
	}
	if n != 10 {
		t.Errorf("%d records before the fatal error, want 10", n)
	}
	var re *kinesin.ReadError
	if !errors.As(fatal, &re) || re.ShardID == "" {
		t.Fatalf("fatal error %v (%T), want a *kinesin.ReadError naming a shard", fatal, fatal)
	}
	if !errors.Is(st.Err(), fatal) {
		t.Errorf("Err() = %v, want %v", st.Err(), fatal)
	}
	t.Logf("fatal: %v", fatal)
}

// Chan users read the fatal error from Err once the channel is closed.
func TestFatalReadErrorChan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m        mode
		op, code string
	}{
		{pollingMode, "GetRecords", kinesistest.CodeAccessDenied},
		{pollingMode, "GetShardIterator", "KMSAccessDeniedException"},
		{efoMode, "SubscribeToShard", "KMSAccessDeniedException"},
	} {
		t.Run(tc.m.Name+"/"+tc.op, func(t *testing.T) {
			t.Parallel()
			fake := tc.m.NewFake(t, 2)
			fillShards(t, fake, testStream, 5)
			if tc.op != "GetRecords" { // the first call fails
				fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: tc.op}, Action: kinesistest.Fail(tc.code)})
			}
			ctx := testCtx(t, 10*time.Second)
			st := openStream(t, tc.m, ctx, fake, kinesin.JSON[item])
			c := collect(st, true)
			if tc.op == "GetRecords" {
				eventually(t, 5*time.Second, func() bool { return c.Count() == 10 }, "10 records")
				fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: tc.op}, Action: kinesistest.Fail(tc.code)})
			}
			c.Wait(t, 5*time.Second)
			var re *kinesin.ReadError
			if err := st.Err(); !errors.As(err, &re) || re.ShardID == "" {
				t.Fatalf("Err() = %v, want a *kinesin.ReadError", err)
			}
			if err := st.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := st.Err(); !errors.As(err, &re) {
				t.Errorf("Err() after Close = %v, want the fatal error still", err)
			}
		})
	}
}

// A stream deleted while it is read ends with ErrStreamNotFound. In EFO mode
// the deletion ends the subscriptions with ResourceNotFoundException and
// takes the consumer with it: the stream is gone, not just the consumer.
func TestStreamDeletedWhileRead(t *testing.T) {
	eachModeParallel(t, testStreamDeletedWhileRead)
}

func testStreamDeletedWhileRead(t *testing.T, m mode) {
	for _, form := range []string{"Records", "Chan"} {
		t.Run(form, func(t *testing.T) {
			fake := m.NewFake(t, 2)
			fillShards(t, fake, testStream, 5)
			ctx := testCtx(t, 10*time.Second)
			st := openStream(t, m, ctx, fake, kinesin.JSON[item])
			var fatal error
			if form == "Records" {
				n := 0
				for rec, err := range st.Records() {
					if fatal != nil {
						t.Fatalf("yielded (%v, %v) after the fatal error", rec, err)
					}
					if err != nil {
						if rec != nil {
							t.Error("fatal error beside a record")
						}
						fatal = err
						continue
					}
					if n++; n == 10 {
						fake.DeleteStream(testStream)
					}
				}
			} else {
				c := collect(st, true)
				eventually(t, 5*time.Second, func() bool { return c.Count() == 10 }, "10 records")
				fake.DeleteStream(testStream)
				c.Wait(t, 5*time.Second)
				fatal = st.Err()
			}
			if !errors.Is(fatal, kinesin.ErrStreamNotFound) {
				t.Fatalf("fatal error %v, want ErrStreamNotFound", fatal)
			}
			if !errors.Is(st.Err(), kinesin.ErrStreamNotFound) {
				t.Errorf("Err() = %v", st.Err())
			}
		})
	}
}

// Checkpoint writes failing for longer than WithStoreOutage end the stream with
// a *CheckpointError; shorter outages are ridden out.
func TestCheckpointStoreOutage(t *testing.T) {
	t.Run("short", func(t *testing.T) {
		fake := newFake(t, 1)
		seqs := fillShards(t, fake, testStream, 5)["shardId-000000000000"]
		store := checkpointtest.NewFaulty(t, memcheckpoint.New())
		st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item],
			kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(5*time.Millisecond), kinesin.WithStoreOutage(time.Minute))
		store.Inject(checkpointtest.Fault{Match: checkpointtest.Match{Op: checkpointtest.OpSave}, Action: checkpointtest.Fail(errors.New("store down")), Times: 3})
		c := collect(st, true)
		// Three failed saves, then one that goes through.
		saves := func() int { return store.Calls(checkpointtest.OpSave) }
		eventually(t, 5*time.Second, func() bool { return saves() >= 4 }, "saves retried after failures: %d", saves())
		eventually(t, 5*time.Second, func() bool {
			return load(t, store)["shardId-000000000000"] == checkpoint.At(seqs[4])
		}, "the checkpoint after the outage")
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		c.Wait(t, 5*time.Second)
		if err := st.Err(); err != nil {
			t.Errorf("Err() = %v after a short outage", err)
		}
	})
	t.Run("long", func(t *testing.T) {
		fake := newFake(t, 1)
		fillShards(t, fake, testStream, 5)
		store := checkpointtest.NewFaulty(t, memcheckpoint.New())
		st := openStream(t, pollingMode, testCtx(t, 10*time.Second), fake, kinesin.JSON[item],
			kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(5*time.Millisecond), kinesin.WithStoreOutage(50*time.Millisecond))
		boom := errors.New("store down")
		store.Inject(checkpointtest.Fault{Action: checkpointtest.Fail(boom)})
		var fatal error
		n := 0
		for rec, err := range st.Records() {
			if err != nil {
				fatal = err
				break
			}
			rec.Commit()
			n++
		}
		var ce *kinesin.CheckpointError
		if !errors.As(fatal, &ce) || !errors.Is(fatal, boom) || ce.Since.IsZero() {
			t.Fatalf("fatal error %v, want a *CheckpointError wrapping the store's error", fatal)
		}
		if n != 5 {
			t.Errorf("%d records before the fatal error", n)
		}
	})
}

// testEFOFaults: every way a subscription fails, one case each, and all of
// them at random, lose nothing and repeat nothing. Records of 8 KiB spread a
// shard's backlog over 3 events, so the faults hit mid-backlog. On top of the
// injected faults, the fake refuses each resubscription within 5 s (scaled)
// of the last one with ResourceInUseException, as the service does.
func testEFOFaults(t *testing.T) {
	const shards, perShard, pad = 2, 300, 8 << 10
	type A = kinesistest.Action
	SE, F := kinesistest.StreamException, kinesistest.Fail
	for _, tc := range []struct {
		name   string
		script []A // the successive SubscribeToShard calls of each shard
		random []kinesistest.Fault
	}{
		{name: "CutStream", script: []A{kinesistest.CutStream(1), kinesistest.CutStream(1), kinesistest.CutStream(0)}},
		{name: "InternalFailure frame", script: []A{SE(kinesistest.CodeInternalFailure, 1), SE(kinesistest.CodeInternalFailure, 0), SE(kinesistest.CodeInternalFailure, 1)}},
		{name: "ResourceInUse frame", script: []A{SE(kinesistest.CodeResourceInUse, 1), SE(kinesistest.CodeResourceInUse, 1)}},
		{name: "ResourceInUse on subscribe", script: []A{F(kinesistest.CodeResourceInUse), F(kinesistest.CodeResourceInUse), kinesistest.CutStream(1), F(kinesistest.CodeResourceInUse)}},
		{name: "throttled subscribe", script: []A{kinesistest.Throttle, kinesistest.Throttle, kinesistest.CutStream(1), kinesistest.Throttle}},
		{name: "random", random: []kinesistest.Fault{
			{Action: kinesistest.CutStream(1), Probability: 0.3},
			{Action: SE(kinesistest.CodeInternalFailure, 1), Probability: 0.2},
			{Action: SE(kinesistest.CodeResourceInUse, 1), Probability: 0.2},
			{Action: kinesistest.Throttle, Probability: 0.3},
			{Action: kinesistest.InternalFailure, Probability: 0.2},
			{Action: kinesistest.DropConnection, Probability: 0.2, Times: 4},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := efoMode.NewFake(t, shards, kinesistest.WithSeed(11))
			want := fillPadded(t, fake, testStream, perShard, pad)
			var hit []*kinesistest.Injected
			for id := range want {
				if len(tc.script) > 0 {
					hit = append(hit, fake.Script(kinesistest.Match{Op: "SubscribeToShard", Shard: id}, tc.script...))
				}
			}
			for _, f := range tc.random {
				f.Match = kinesistest.Match{Op: "SubscribeToShard"}
				hit = append(hit, fake.Inject(f))
			}
			ctx := testCtx(t, 30*time.Second)
			st := openStream(t, efoMode, ctx, fake, kinesin.JSON[item])
			c := collect(st, true)
			eventually(t, 20*time.Second, func() bool { return c.Count() >= shards*perShard }, "%d of %d records", c.Count(), shards*perShard)
			// An end marker per shard: a repeat would come before it.
			for id, seqs := range fillShards(t, fake, testStream, 1) {
				want[id] = append(want[id], seqs...)
			}
			eventually(t, 10*time.Second, func() bool { return c.Count() >= shards*(perShard+1) }, "the end markers")
			for id, seqs := range want {
				checkShardOrder(t, id, c.Shard(id), seqs)
			}
			if err := st.Err(); err != nil {
				t.Errorf("Err() = %v", err)
			}
			hits := 0
			for _, in := range hit {
				hits += in.Hits()
			}
			refused := fake.Calls("SubscribeToShard") - len(fake.Subscriptions())
			t.Logf("%d faults hit; %d SubscribeToShard calls, %d subscriptions", hits, fake.Calls("SubscribeToShard"), len(fake.Subscriptions()))
			switch {
			case len(tc.script) > 0 && hits != shards*len(tc.script):
				t.Errorf("%d scripted faults hit, want %d", hits, shards*len(tc.script))
			case len(tc.random) > 0 && hits < 5:
				t.Errorf("only %d random faults hit", hits)
			}
			if refused < 0 {
				t.Errorf("more subscriptions than calls")
			}
		})
	}
}
