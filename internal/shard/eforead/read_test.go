package eforead_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/shard/eforead"
	"github.com/kinesin-go/kinesin/kinesistest"
)

func TestReadBacklogThenLiveRecords(t *testing.T) {
	e := newEnv(t, false, 1)
	id := e.shardIDs()[0]
	e.put("pk", "r", 0, 100, 0)
	var c collector
	var w watcher
	r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, trimHorizon(id), room(1000), c.deliver)
	c.waitFor(t, 100)
	e.put("pk", "r", 100, 150, 0) // while subscribed
	c.waitFor(t, 150)
	rd.stop(t)
	checkExactly(t, c.names(), names("r", 0, 150))
	if n := e.fake.Calls("SubscribeToShard"); n != 1 {
		t.Errorf("%d SubscribeToShard calls, want 1", n)
	}
	sub := e.fake.Subscriptions()[0]
	if sub.StartingPosition.Type != "TRIM_HORIZON" {
		t.Errorf("subscription %+v: want TRIM_HORIZON", sub)
	}
}

func TestReadStartPositions(t *testing.T) {
	e := newEnv(t, true, 1)
	id := e.shardIDs()[0]
	seqs := e.put("pk", "r", 0, 20, 0)
	e.clock.Advance(time.Minute)
	at := e.clock.Now()
	seqs = append(seqs, e.put("pk", "r", 20, 30, 0)...)
	for _, tc := range []struct {
		start shard.Start
		from  int
	}{
		{shard.Start{Type: types.ShardIteratorTypeTrimHorizon}, 0},
		{shard.Start{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: seqs[7]}, 7},
		{shard.Start{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: seqs[7]}, 8},
		{shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: at}, 20},
		{shard.Start{Type: types.ShardIteratorTypeLatest}, 30},
	} {
		t.Run(string(tc.start.Type), func(t *testing.T) {
			e.clock.Advance(time.Minute) // past the 5 s between subscriptions
			var c collector
			var w watcher
			r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
			rd := startRead(t, r, shard.Spec{ID: id, Start: tc.start}, room(1000), c.deliver)
			w.waitSubscribed(t, 1)
			// One record put while subscribed comes after the rest.
			live := "live-" + string(tc.start.Type)
			seqs = append(seqs, e.put("pk", live, 0, 1, 0)...)
			c.WaitUntil(t, deadline, live, func() bool { return len(c.recs) > 0 && name(c.recs[len(c.recs)-1].Data) == live+"0" })
			rd.stop(t)
			want := append(names("r", tc.from, 30), live+"0")
			got := c.names()
			// Records put live by the earlier cases are in the shard too.
			got = slices.DeleteFunc(got, func(s string) bool { return len(s) > 5 && s[:5] == "live-" && s != want[len(want)-1] })
			checkExactly(t, got, want)
		})
	}
}

func TestReadRejectsBadStart(t *testing.T) {
	e := newEnv(t, false, 1)
	r := newReader(t, e.client, e.consumerARN, fast, shard.Hooks{})
	for _, start := range []shard.Start{{}, {Type: types.ShardIteratorTypeAtSequenceNumber}, {Type: "SOMEWHERE"}} {
		if _, err := r.Read(context.Background(), shard.Spec{ID: e.shardIDs()[0], Start: start}, room(1), (&collector{}).deliver); err == nil {
			t.Errorf("Read from %+v: no error", start)
		}
	}
	if n := e.fake.Calls("SubscribeToShard"); n != 0 {
		t.Errorf("%d SubscribeToShard calls, want 0", n)
	}
	if _, err := eforead.New(e.client, "", fast, shard.Env{}); !errors.Is(err, efo.ErrInvalidOption) {
		t.Errorf("New without a consumer ARN: %v, want ErrInvalidOption", err)
	}
}

// TestRolloverEvery5Minutes runs a reader through several subscription
// lifetimes over a long backlog, with records arriving all along. Every other
// lifetime ends while the reader holds part of an event (room allows no
// more) and the SDK holds more events; the others end while it is caught up.
// Every subscription after the first starts after the previous one's last
// continuation, and nothing is lost or repeated.
func TestRolloverEvery5Minutes(t *testing.T) {
	e := newEnv(t, true, 1)
	id := e.shardIDs()[0]
	// Records of 200 bytes: about 5,000 per event (1 MiB).
	const size = 200
	total := 8000
	e.put("pk", "r", 0, total, size)
	var c collector
	var w watcher
	b := newBudget(&c, 300)
	r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, trimHorizon(id), shard.RoomFunc(b.room), b.deliver)
	const lifetimes = 6
	for i := 1; i <= lifetimes; i++ {
		w.waitSubscribed(t, i)
		// The subscription waits on its lifetime and heartbeat, whether
		// or not it is still sending.
		blockUntil(t, e.clock, 2)
		if i%2 == 1 {
			// Mid-event: room lets 700 more records through, then blocks.
			held := b.capAt(700)
			e.put("pk", "r", total, total+3000, size)
			total += 3000
			c.waitFor(t, held)
			e.clock.Advance(5 * time.Minute)
			b.capAt(-1)
		} else {
			c.waitFor(t, total) // caught up
			e.put("pk", "r", total, total+300, size)
			total += 300
			c.waitFor(t, total)
			e.clock.Advance(5 * time.Minute)
		}
	}
	w.waitSubscribed(t, lifetimes+1)
	c.waitFor(t, total)
	rd.stop(t)
	checkExactly(t, c.names(), names("r", 0, total))

	subs := e.fake.Subscriptions()
	if len(subs) != lifetimes+1 {
		t.Fatalf("%d subscriptions, want %d", len(subs), lifetimes+1)
	}
	for i, s := range subs[:lifetimes] {
		if s.EndReason != "lifetime" {
			t.Errorf("subscription %d ended by %q, want lifetime", i, s.EndReason)
		}
		if i > 0 && s.StartingPosition.Type != "AFTER_SEQUENCE_NUMBER" {
			t.Errorf("subscription %d starts %+v, want AFTER_SEQUENCE_NUMBER", i, s.StartingPosition)
		}
	}
	if len(w.retries) != 0 {
		t.Errorf("retries %v, want none: a subscription ending after 5 minutes is renewed at once", w.retries)
	}
	for _, n := range c.batches {
		if n > 300 {
			t.Fatalf("a batch of %d records, room allowed 300", n)
		}
	}
}

// budget is a room that allows at most per records at a time, and no more
// than a cap on the records delivered in all.
type budget struct {
	c   *collector
	per int
	cap int // -1: none
}

// newBudget returns a budget that lets the first per records through, the
// room the reader asks for before it subscribes.
func newBudget(c *collector, per int) *budget { return &budget{c: c, per: per, cap: per} }

// capAt lets n more records through than were delivered so far (n < 0: any
// number) and returns the new cap.
func (b *budget) capAt(n int) int {
	b.c.Mu.Lock()
	defer b.c.Mu.Unlock()
	b.cap = -1
	if n >= 0 {
		b.cap = len(b.c.recs) + n
	}
	b.c.Notify()
	return b.cap
}

func (b *budget) room(ctx context.Context) (int, error) {
	b.c.Mu.Lock()
	defer b.c.Mu.Unlock()
	for {
		if b.cap < 0 {
			return b.per, nil
		}
		if left := b.cap - len(b.c.recs); left > 0 {
			return min(left, b.per), nil
		}
		ch := b.c.Changed()
		b.c.Mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			b.c.Mu.Lock()
			return 0, ctx.Err()
		}
		b.c.Mu.Lock()
	}
}

func (b *budget) deliver(ctx context.Context, batch shard.Batch) error {
	return b.c.deliver(ctx, batch)
}

// blockUntil waits until n waits are pending on clock.
func blockUntil(t *testing.T, clock *kinesistest.ManualClock, n int) {
	t.Helper()
	timeout := make(chan struct{})
	timer := time.AfterFunc(deadline, func() { close(timeout) })
	defer timer.Stop()
	if !clock.BlockUntil(n, timeout) {
		t.Fatalf("clock has %d waiters, want %d", clock.Waiters(), n)
	}
}

// breakAndResume reads 40 records of 100 KiB (10 per 1 MiB event) from a
// shard whose first subscription a fault ends, and checks that the reader
// subscribes again from where it stopped. The fake refuses a new
// subscription within 5 s of the last one (ResourceInUseException), as the
// service does; the clock moves on once the reader has met that refusal.
func breakAndResume(t *testing.T, fault kinesistest.Action, wantRetryCode string) {
	t.Helper()
	e := newEnv(t, true, 1)
	id := e.shardIDs()[0]
	e.put("pk", "r", 0, 40, 100<<10)
	e.fake.Script(kinesistest.Match{Op: "SubscribeToShard"}, fault)
	var c collector
	var w watcher
	r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, trimHorizon(id), room(7), c.deliver)
	w.waitRetry(t, kinesistest.CodeResourceInUse, 1) // the 5 s rule
	e.clock.Advance(5 * time.Second)
	c.waitFor(t, 40)
	rd.stop(t)
	checkExactly(t, c.names(), names("r", 0, 40))
	subs := e.fake.Subscriptions()
	if len(subs) != 2 || subs[1].StartingPosition.Type != "AFTER_SEQUENCE_NUMBER" {
		t.Fatalf("subscriptions %+v: want 2, the second AFTER_SEQUENCE_NUMBER", subs)
	}
	if subs[0].Records == 0 || subs[0].Records == 40 {
		t.Errorf("the first subscription sent %d records, want part of the backlog", subs[0].Records)
	}
	w.Mu.Lock()
	defer w.Mu.Unlock()
	if wantRetryCode != "" && w.retriesWith(wantRetryCode) == 0 {
		t.Errorf("retries %v, want one after %s", w.retries, wantRetryCode)
	}
	if len(w.retries) == 0 || awserr.Code(w.retries[0]) != wantRetryCode {
		t.Errorf("first retry after %v, want %q", w.retries, wantRetryCode)
	}
}

func TestStreamCutMidBacklogResumes(t *testing.T) {
	breakAndResume(t, kinesistest.CutStream(2), "")
}

func TestExceptionFrameResumes(t *testing.T) {
	for _, code := range []string{kinesistest.CodeInternalFailure, kinesistest.CodeResourceInUse} {
		t.Run(code, func(t *testing.T) {
			breakAndResume(t, kinesistest.StreamException(code, 2), code)
		})
	}
}

func TestResourceInUseOnResubscribeIsRetried(t *testing.T) {
	e := newEnv(t, true, 1)
	id := e.shardIDs()[0]
	e.put("pk", "r", 0, 10, 0)
	in := e.fake.Script(kinesistest.Match{Op: "SubscribeToShard"}, kinesistest.Pass,
		kinesistest.Fail(kinesistest.CodeResourceInUse), kinesistest.Fail(kinesistest.CodeResourceInUse))
	var c collector
	var w watcher
	r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, trimHorizon(id), room(1000), c.deliver)
	c.waitFor(t, 10)
	blockUntil(t, e.clock, 2)
	e.put("pk", "r", 10, 20, 0)
	e.clock.Advance(5 * time.Minute) // the first subscription ends
	w.waitSubscribed(t, 2)
	e.put("pk", "r", 20, 30, 0)
	c.waitFor(t, 30)
	rd.stop(t)
	checkExactly(t, c.names(), names("r", 0, 30))
	if in.Hits() != 2 || w.retriesWith(kinesistest.CodeResourceInUse) != 2 {
		t.Errorf("%d faults hit, retries %v; want 2 ResourceInUse retried", in.Hits(), w.retries)
	}
	if n := e.fake.Calls("SubscribeToShard"); n != 4 {
		t.Errorf("%d SubscribeToShard calls, want 4", n)
	}
}

// The reader asks for room before it subscribes: a subscription pushes its
// first event at once, which the SDK then holds in memory, so a shard with
// no room (the stream's memory budget is held) does not subscribe.
func TestRoomBeforeSubscribing(t *testing.T) {
	e := newEnv(t, true, 1)
	id := e.shardIDs()[0]
	e.put("pk", "r", 0, 10, 0)
	asked, granted := make(chan struct{}), make(chan struct{})
	var once sync.Once
	blocked := shard.RoomFunc(func(ctx context.Context) (int, error) {
		once.Do(func() { close(asked) })
		select {
		case <-granted:
			return 1000, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	var c collector
	r := newReader(t, e.client, e.consumerARN, fast, shard.Hooks{})
	rd := startRead(t, r, trimHorizon(id), blocked, c.deliver)
	<-asked
	if n := e.fake.Calls("SubscribeToShard"); n != 0 {
		t.Fatalf("%d SubscribeToShard calls while room was refused, want 0", n)
	}
	close(granted)
	c.waitFor(t, 10)
	rd.stop(t)
	checkExactly(t, c.names(), names("r", 0, 10))
}

func TestSplitWhileReading(t *testing.T) {
	e := newEnv(t, false, 1)
	parent := e.shardIDs()[0]
	var pc collector
	var w watcher
	r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, trimHorizon(parent), room(1000), pc.deliver)
	for i := range 30 {
		e.put(fmt.Sprint("pk", i), "p", i, i+1, 0)
	}
	pc.waitFor(t, 30)
	children, err := e.fake.Split(e.stream, parent)
	if err != nil {
		t.FailNow()
	}
	for i := range 40 {
		e.put(fmt.Sprint("pk", i), "c", i, i+1, 0)
	}
	end, err := rd.wait(t)
	if err != nil {
		t.Fatalf("parent Read: %v", err)
	}
	var ids []string
	for _, ch := range end.ChildShards {
		ids = append(ids, aws.ToString(ch.ShardId))
		if !slices.Equal(ch.ParentShards, []string{parent}) {
			t.Errorf("child %s has parents %v", aws.ToString(ch.ShardId), ch.ParentShards)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, children[:]) {
		t.Fatalf("End children %v, want %v", ids, children)
	}
	checkExactly(t, pc.names(), names("p", 0, 30))

	// The children from TRIM_HORIZON hold the rest.
	var cc [2]collector
	var got []string
	sizes := make([]int, 2)
	for i, id := range children {
		infos, _ := e.fake.Shards(e.stream)
		for _, in := range infos {
			if in.ID == id {
				sizes[i] = in.Records
			}
		}
		crd := startRead(t, r, trimHorizon(id), room(1000), cc[i].deliver)
		cc[i].waitFor(t, sizes[i])
		crd.stop(t)
		got = append(got, cc[i].names()...)
	}
	if sizes[0] == 0 || sizes[1] == 0 {
		t.Errorf("children hold %v records: want both used", sizes)
	}
	slices.SortFunc(got, func(a, b string) int { return compareNames(a, b) })
	checkExactly(t, got, names("c", 0, 40))
}

// compareNames orders prefix<n> names by n.
func compareNames(a, b string) int {
	var x, y int
	fmt.Sscanf(a[1:], "%d", &x)
	fmt.Sscanf(b[1:], "%d", &y)
	return x - y
}

func TestRoomSmallerThanEventsSplitsThemInOrder(t *testing.T) {
	e := newEnv(t, false, 1)
	id := e.shardIDs()[0]
	e.put("pk", "r", 0, 1000, 0) // one event
	var c collector
	var w watcher
	var mu sync.Mutex
	var allowed []int
	i := 0
	small := shard.RoomFunc(func(ctx context.Context) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		i++
		n := i%7 + 1
		allowed = append(allowed, n)
		return n, nil
	})
	r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, trimHorizon(id), small, c.deliver)
	c.waitFor(t, 1000)
	rd.stop(t)
	checkExactly(t, c.names(), names("r", 0, 1000))
	w.Mu.Lock()
	events := slices.DeleteFunc(slices.Clone(w.events), func(n int) bool { return n == 0 })
	w.Mu.Unlock()
	if !slices.Equal(events, []int{1000}) {
		t.Errorf("events with records %v, want one of 1000", events)
	}
	// Each batch had exactly the room allowed when it was cut (the last one
	// of the event may be shorter).
	c.Mu.Lock()
	defer c.Mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	for k, n := range c.batches[:len(c.batches)-1] {
		if n != allowed[k] {
			t.Fatalf("batch %d has %d records, room allowed %d", k, n, allowed[k])
		}
	}
}

// TestBlockedRoomStopsReading: while room blocks, the reader takes no event:
// the fake stops after the few events the SDK's pipeline and the transport
// hold, and resumes when room allows again.
func TestBlockedRoomStopsReading(t *testing.T) {
	e := newEnv(t, false, 1)
	id := e.shardIDs()[0]
	const n = 80 // 100 KiB each: 10 per event, 8 events
	e.put("pk", "r", 0, n, 100<<10)
	var c collector
	var w watcher
	gate := make(chan struct{})
	var rs signal
	calls := 0
	blocking := shard.RoomFunc(func(ctx context.Context) (int, error) {
		rs.Mu.Lock()
		calls++
		first := calls == 1
		rs.Notify()
		rs.Mu.Unlock()
		if first {
			return 3, nil
		}
		select {
		case <-gate:
			return 1000, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, trimHorizon(id), blocking, c.deliver)
	rs.WaitUntil(t, deadline, "room blocked", func() bool { return calls >= 2 })
	// Nothing can move while room blocks; give a reader that would ignore
	// room the time to show it (an observation window, not a
	// synchronisation).
	time.Sleep(200 * time.Millisecond)
	c.Mu.Lock()
	delivered := len(c.recs)
	c.Mu.Unlock()
	w.Mu.Lock()
	taken := len(w.events)
	w.Mu.Unlock()
	sent := e.fake.Subscriptions()[0].Events
	if delivered != 3 || taken != 1 {
		t.Errorf("while room blocks: %d records delivered, %d events taken; want 3 and 1", delivered, taken)
	}
	// The SDK holds at most two decoded events; the transport one being
	// written.
	if sent > taken+3 || sent >= n/10 {
		t.Errorf("the fake sent %d events while the reader took %d", sent, taken)
	}
	close(gate)
	c.waitFor(t, n)
	rd.stop(t)
	checkExactly(t, c.names(), names("r", 0, n))
}

func TestPacingUnderRepeatedFailures(t *testing.T) {
	t.Run("default interval", func(t *testing.T) {
		e := newEnv(t, false, 1)
		e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: kinesistest.InternalFailure})
		r := newReader(t, e.client, e.consumerARN, efo.Options{InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, shard.Hooks{})
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := r.Read(ctx, trimHorizon(e.shardIDs()[0]), room(10), (&collector{}).deliver)
		if err != context.DeadlineExceeded {
			t.Fatalf("Read: %v", err)
		}
		calls := e.fake.Calls("SubscribeToShard")
		if limit := int(time.Since(start)/time.Second) + 1; calls > limit || calls < 2 {
			t.Errorf("%d SubscribeToShard calls in %v, want 2..%d (1 a second)", calls, time.Since(start), limit)
		}
	})
	// Subscriptions that succeed and break at once are paced the same way.
	for _, tc := range []struct {
		name  string
		fault kinesistest.Action
	}{
		{"InternalFailure", kinesistest.InternalFailure},
		{"ResourceInUse", kinesistest.Fail(kinesistest.CodeResourceInUse)},
		{"LimitExceeded", kinesistest.Throttle},
		{"dropped connection", kinesistest.DropConnection},
		{"ResourceInUse in stream", kinesistest.StreamException(kinesistest.CodeResourceInUse, 0)},
		{"InternalFailure in stream", kinesistest.StreamException(kinesistest.CodeInternalFailure, 1)},
		{"stream cut", kinesistest.CutStream(0)},
	} {
		fault := tc.fault
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, true, 1) // the fake's 5 s rule never ends: only the fault answers
			e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: fault})
			const interval = 20 * time.Millisecond
			r := newReader(t, e.client, e.consumerARN, efo.Options{SubscribeInterval: interval, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, shard.Hooks{})
			ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
			defer cancel()
			start := time.Now()
			if _, err := r.Read(ctx, trimHorizon(e.shardIDs()[0]), room(10), (&collector{}).deliver); err != context.DeadlineExceeded {
				t.Fatalf("Read: %v", err)
			}
			calls := e.fake.Calls("SubscribeToShard")
			// At least one retry; a loaded machine may make fewer.
			if limit := int(time.Since(start)/interval) + 1; calls > limit || calls < 2 {
				t.Errorf("%d SubscribeToShard calls in %v, want 2..%d", calls, time.Since(start), limit)
			}
		})
	}
}

func TestPacingHoldsAcrossReadsOfAShard(t *testing.T) {
	e := newEnv(t, false, 2)
	e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: kinesistest.Fail(kinesistest.CodeAccessDenied)})
	const interval = 50 * time.Millisecond
	r := newReader(t, e.client, e.consumerARN, efo.Options{SubscribeInterval: interval}, shard.Hooks{})
	ids := e.shardIDs()
	start := time.Now()
	for range 4 {
		// Another shard is not held back by this one.
		for _, id := range ids {
			if _, err := r.Read(context.Background(), trimHorizon(id), room(1), (&collector{}).deliver); !awserr.IsPermanent(err) {
				t.Fatalf("Read: %v, want AccessDenied", err)
			}
		}
	}
	if d := time.Since(start); d < 3*interval || d > 3*interval+time.Second {
		t.Errorf("4 Reads of each of 2 shards took %v, want about %v", d, 3*interval)
	}
}

func TestFatalErrorsEndTheRead(t *testing.T) {
	for name, fault := range map[string]kinesistest.Action{
		"AccessDenied":           kinesistest.Fail(kinesistest.CodeAccessDenied),
		"KMSAccessDenied stream": kinesistest.StreamException("KMSAccessDeniedException", 1),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, false, 1)
			e.put("pk", "r", 0, 5, 0)
			e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: fault})
			r := newReader(t, e.client, e.consumerARN, fast, shard.Hooks{})
			_, err := r.Read(context.Background(), trimHorizon(e.shardIDs()[0]), room(10), (&collector{}).deliver)
			if !awserr.IsPermanent(err) {
				t.Fatalf("Read: %v, want a fatal error", err)
			}
			if n := e.fake.Calls("SubscribeToShard"); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}

func TestConsumerDeregisteredWhileReading(t *testing.T) {
	e := newEnv(t, false, 1)
	e.put("pk", "r", 0, 5, 0)
	var c collector
	var w watcher
	r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, trimHorizon(e.shardIDs()[0]), room(10), c.deliver)
	c.waitFor(t, 5)
	if err := efo.Deregister(context.Background(), e.client, e.consumerARN); err != nil {
		t.Fatal(err)
	}
	_, err := rd.wait(t)
	if !errors.Is(err, efo.ErrConsumerGone) || !awserr.IsNotFound(err) {
		t.Fatalf("Read: %v, want ErrConsumerGone and ResourceNotFound", err)
	}
	// The subscription ended with ResourceNotFound; subscribing again told
	// the consumer was gone.
	if len(w.retries) != 1 || !awserr.IsNotFound(w.retries[0]) {
		t.Errorf("retries %v, want one after ResourceNotFound", w.retries)
	}
}

func TestConsumerDeletingWhileReading(t *testing.T) {
	// A consumer DELETING answers ResourceInUse: retried until it is gone.
	e := newEnv(t, true, 1, kinesistest.WithConsumerActivationDelay(10*time.Second))
	var c collector
	var w watcher
	r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, trimHorizon(e.shardIDs()[0]), room(10), c.deliver)
	w.waitSubscribed(t, 1)
	if err := efo.Deregister(context.Background(), e.client, e.consumerARN); err != nil {
		t.Fatal(err)
	}
	w.waitRetry(t, kinesistest.CodeResourceInUse, 2)
	e.clock.Advance(10 * time.Second)
	if _, err := rd.wait(t); !errors.Is(err, efo.ErrConsumerGone) {
		t.Fatalf("Read: %v, want ErrConsumerGone", err)
	}
}

func TestStreamDeletedOrShardMissing(t *testing.T) {
	e := newEnv(t, false, 1)
	r := newReader(t, e.client, e.consumerARN, fast, shard.Hooks{})
	_, err := r.Read(context.Background(), trimHorizon("shardId-000000000099"), room(10), (&collector{}).deliver)
	if !awserr.IsNotFound(err) || errors.Is(err, efo.ErrConsumerGone) {
		t.Fatalf("Read of a missing shard: %v, want ResourceNotFound without ErrConsumerGone", err)
	}
	var w watcher
	r = newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, trimHorizon(e.shardIDs()[0]), room(10), (&collector{}).deliver)
	w.waitSubscribed(t, 1)
	if err := e.fake.DeleteStream(e.stream); err != nil {
		t.FailNow()
	}
	if _, err := rd.wait(t); !awserr.IsNotFound(err) {
		t.Fatalf("Read of a deleted stream: %v, want ResourceNotFound", err)
	}
}

func TestStartTrimmedFallsBackToTrimHorizon(t *testing.T) {
	e := newEnv(t, true, 1)
	seqs := e.put("pk", "old", 0, 5, 0)
	if err := e.fake.SetRetention(e.stream, time.Hour); err != nil {
		t.FailNow()
	}
	e.clock.Advance(2 * time.Hour)
	e.put("pk", "r", 0, 5, 0)
	if _, err := e.fake.Trim(e.stream); err != nil {
		t.FailNow()
	}
	var c collector
	r := newReader(t, e.client, e.consumerARN, fast, shard.Hooks{})
	rd := startRead(t, r, shard.Spec{ID: e.shardIDs()[0], Start: shard.Start{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: seqs[1]}}, room(10), c.deliver)
	c.waitFor(t, 5)
	rd.stop(t)
	checkExactly(t, c.names(), names("r", 0, 5))
	// The first batch says where the lost records start, for the caller's
	// warning; no other batch does.
	if len(c.trimmed) == 0 || c.trimmed[0] != seqs[1] || slices.ContainsFunc(c.trimmed[1:], func(x string) bool { return x != "" }) {
		t.Errorf("TrimmedAfter of the batches %q, want %s on the first only", c.trimmed, seqs[1])
	}
}

func TestRoomAndDeliverErrorsAreReturnedAsTheyAre(t *testing.T) {
	// Two shards: a second subscription to a shard within 5 s would wait.
	e := newEnv(t, false, 2)
	ids := e.shardIDs()
	for i := range 20 {
		e.put(fmt.Sprint("pk", i), "r", i, i+1, 0)
	}
	r := newReader(t, e.client, e.consumerARN, fast, shard.Hooks{})
	errRoom, errDeliver := errors.New("room"), errors.New("deliver")
	_, err := r.Read(context.Background(), trimHorizon(ids[0]), shard.RoomFunc(func(context.Context) (int, error) { return 0, errRoom }), (&collector{}).deliver)
	if err != errRoom {
		t.Errorf("Read: %v, want room's error", err)
	}
	_, err = r.Read(context.Background(), trimHorizon(ids[1]), room(10), func(context.Context, shard.Batch) error { return errDeliver })
	if err != errDeliver {
		t.Errorf("Read: %v, want deliver's error", err)
	}
}

// TestManyShardsOneClient reads several shards at once through one client:
// under -race, this shows the SDK's shared event stream codec is not shared.
func TestManyShardsOneClient(t *testing.T) {
	e := newEnv(t, false, 8)
	for i := range 800 {
		e.put(fmt.Sprint("pk", i), "r", i, i+1, 0)
	}
	r := newReader(t, e.client, e.consumerARN, fast, shard.Hooks{})
	infos, _ := e.fake.Shards(e.stream)
	cs := make([]collector, len(infos))
	for i, in := range infos {
		startRead(t, r, trimHorizon(in.ID), room(37), cs[i].deliver)
	}
	var got []string
	for i, in := range infos {
		cs[i].waitFor(t, in.Records)
		got = append(got, cs[i].names()...)
		if _, err := e.fake.PutWithHashKey(e.stream, "pk", in.StartingHashKey, fmt.Appendf(nil, "live%d", i)); err != nil {
			t.FailNow()
		}
	}
	slices.SortFunc(got, compareNames)
	checkExactly(t, got, names("r", 0, 800))
	for i, in := range infos {
		cs[i].waitFor(t, in.Records+1)
		if got := cs[i].names()[in.Records]; got != fmt.Sprint("live", i) {
			t.Errorf("shard %s: last record %s, want live%d", in.ID, got, i)
		}
	}
}

// TestNoGoroutineOutlivesRead checks, for each way Read can end, that the
// goroutines of its subscriptions have ended when it returns.
func TestNoGoroutineOutlivesRead(t *testing.T) {
	errStop := errors.New("stop")
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, e *env, r *eforead.Reader)
	}{
		{"cancel while idle", func(t *testing.T, e *env, r *eforead.Reader) {
			var c collector
			rd := startRead(t, r, trimHorizon(e.shardIDs()[0]), room(10), c.deliver)
			c.waitFor(t, 5)
			rd.stop(t)
		}},
		{"cancel while room blocks", func(t *testing.T, e *env, r *eforead.Reader) {
			var s signal
			blocked := false
			rd := startRead(t, r, trimHorizon(e.shardIDs()[0]), shard.RoomFunc(func(ctx context.Context) (int, error) {
				s.Mu.Lock()
				blocked = true
				s.Notify()
				s.Mu.Unlock()
				<-ctx.Done()
				return 0, ctx.Err()
			}), (&collector{}).deliver)
			s.WaitUntil(t, deadline, "room", func() bool { return blocked })
			rd.stop(t)
		}},
		{"deliver fails", func(t *testing.T, e *env, r *eforead.Reader) {
			_, err := r.Read(context.Background(), trimHorizon(e.shardIDs()[0]), room(10),
				func(context.Context, shard.Batch) error { return errStop })
			if err != errStop {
				t.Fatal(err)
			}
		}},
		{"shard end", func(t *testing.T, e *env, r *eforead.Reader) {
			if _, err := e.fake.Split(e.stream, e.shardIDs()[0]); err != nil {
				t.FailNow()
			}
			end, err := r.Read(context.Background(), trimHorizon(e.shardIDs()[0]), room(10), (&collector{}).deliver)
			if err != nil || len(end.ChildShards) != 2 {
				t.Fatalf("Read: %+v %v", end, err)
			}
		}},
		{"fatal in stream", func(t *testing.T, e *env, r *eforead.Reader) {
			e.fake.Script(kinesistest.Match{Op: "SubscribeToShard"}, kinesistest.StreamException(kinesistest.CodeAccessDenied, 1))
			if _, err := r.Read(context.Background(), trimHorizon(e.shardIDs()[0]), room(10), (&collector{}).deliver); !awserr.IsPermanent(err) {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, false, 1)
			e.put("pk", "r", 0, 5, 0)
			r := newReader(t, e.client, e.consumerARN, fast, shard.Hooks{})
			before := goleak.IgnoreCurrent()
			tc.run(t, e, r)
			if err := goleak.Find(before); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	if err := (efo.Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
	d := efo.Options{}.WithDefaults()
	if d.SubscribeInterval != time.Second || d.InitialBackoff != 200*time.Millisecond || d.MaxBackoff != 5*time.Second || d.RegisterTimeout != 2*time.Minute {
		t.Errorf("defaults %+v", d)
	}
	for _, o := range []efo.Options{
		{SubscribeInterval: -1}, {InitialBackoff: -1}, {MaxBackoff: -1}, {RegisterTimeout: -1},
		{InitialBackoff: 10 * time.Second, MaxBackoff: time.Second},
	} {
		if err := o.Validate(); !errors.Is(err, efo.ErrInvalidOption) {
			t.Errorf("Validate(%+v) = %v", o, err)
		}
	}
	if d := (efo.Options{InitialBackoff: 10 * time.Second}).WithDefaults(); d.MaxBackoff != 10*time.Second {
		t.Errorf("MaxBackoff %v follows a larger InitialBackoff", d.MaxBackoff)
	}
}

// A subscription from LATEST that breaks before its first event resumes from
// when it was made (AT_TIMESTAMP, on the service's clock), not from LATEST
// again, which would skip the records that arrived in between.
func TestLatestBrokenBeforeFirstEventKeepsRecords(t *testing.T) {
	e := newEnv(t, true, 1)
	id := e.shardIDs()[0]
	e.put("pk", "old", 0, 3, 0)
	e.clock.Advance(time.Second) // the old records are of an earlier second
	e.fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard", Shard: id}, Action: kinesistest.CutStream(0), Times: 1})
	var c collector
	var w watcher
	r := newReader(t, e.client, e.consumerARN, fast, w.hooks())
	rd := startRead(t, r, shard.Spec{ID: id, Start: shard.Start{Type: types.ShardIteratorTypeLatest}}, room(1000), c.deliver)
	w.waitSubscribed(t, 1)
	w.WaitUntil(t, deadline, "a retry after the cut", func() bool { return len(w.retries) > 0 })
	// Put while the reader cannot subscribe again (the 5 s rule, on a clock
	// that does not move), then let it.
	e.put("pk", "meanwhile", 0, 2, 0)
	e.clock.Advance(6 * time.Second)
	w.waitSubscribed(t, 2)
	e.put("pk", "after", 0, 1, 0)
	c.waitFor(t, 3)
	rd.stop(t)
	checkExactly(t, c.names(), append(names("meanwhile", 0, 2), "after0"))
	subs := e.fake.Subscriptions()
	if len(subs) < 2 || subs[0].StartingPosition.Type != "LATEST" || subs[len(subs)-1].StartingPosition.Type != "AT_TIMESTAMP" {
		t.Errorf("subscriptions %+v: want LATEST, then AT_TIMESTAMP", subs)
	}
}
