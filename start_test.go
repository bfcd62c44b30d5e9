package kinesin_test

// Where a consumer group starts and what a restart does: Latest kept in start
// checkpoints, children read from where their parents' reads started, and the
// edge cases of issue 11 (a bound that holds with KPL aggregates, single use,
// a decoder that panics, bad options, a checkpoint past retention, moving an
// app to leases).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

// A record delivered and not committed when the first process of a group
// started with Latest stops is delivered again by the next process: the
// group's start was written as a start checkpoint before anything was read,
// and the next process resumes there, not at a later Latest.
func TestLatestRestartRedeliversUncommitted(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		for _, how := range []string{"Close", "crash"} {
			t.Run(how, func(t *testing.T) {
				fake := m.NewFake(t, 2)
				fillShards(t, fake, testStream, 3) // before the group starts
				nextSecond(t, fake)
				store := memcheckpoint.New()
				ctx, crash := context.WithCancel(context.Background())
				defer crash()
				first := openStream(t, m, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithStart(kinesin.Latest))
				c1 := collect(first, false)
				want := fillShards(t, fake, testStream, 2)
				eventually(t, 10*time.Second, func() bool { return c1.Count() == 4 }, "the records put after Open: %d", c1.Count())
				after := store
				if how == "Close" {
					if err := first.Close(); err != nil {
						t.Fatal(err)
					}
				} else {
					after = copyStore(t, store) // what a killed process leaves
					crash()
				}
				c1.Wait(t, 10*time.Second)

				second := openStream(t, m, testCtx(t, 20*time.Second), fake, kinesin.JSON[item], kinesin.WithCheckpointer(after), kinesin.WithStart(kinesin.Latest))
				c2 := collect(second, true)
				eventually(t, 10*time.Second, func() bool { return c2.Count() == 4 }, "the uncommitted records delivered again: %d", c2.Count())
				for id, seqs := range want {
					checkShardOrder(t, id, c2.Shard(id), seqs)
				}
			})
		}
	})
}

// The sibling of a child that was read: a stream split before the group's
// first Open, whose parent the first process reads (nothing after the start
// time) and whose one child it reads; records put into the other child while
// no process runs are delivered by the next one.
func TestLatestSiblingChildAfterRestart(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		fake := m.NewFake(t, 1)
		const parent = "shardId-000000000000"
		fillShards(t, fake, testStream, 3)
		kids, err := fake.Split(testStream, parent)
		if err != nil {
			t.Fatal(err)
		}
		fillShards(t, fake, testStream, 2) // before the group starts
		nextSecond(t, fake)
		store := memcheckpoint.New()
		first := openStream(t, m, testCtx(t, 20*time.Second), fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithStart(kinesin.Latest))
		c1 := collect(first, true)
		res, err := fake.PutWithHashKey(testStream, "pk", shardByID(openShards(t, fake, testStream), kids[0]).StartingHashKey, itemJSON(item{N: 1}))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() bool { return c1.Count() == 1 }, "the record put into one child")
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		if cp := load(t, store)[kids[0]]; cp != checkpoint.At(res.SequenceNumber) {
			t.Fatalf("checkpoint of %s: %v", kids[0], cp)
		}
		want := fillShards(t, fake, testStream, 3) // while no process runs
		second := openStream(t, m, testCtx(t, 20*time.Second), fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithStart(kinesin.Latest))
		c2 := collect(second, true)
		eventually(t, 10*time.Second, func() bool { return c2.Count() == 6 }, "the records put while no process ran: %d", c2.Count())
		for _, k := range kids {
			checkShardOrder(t, k, c2.Shard(k), want[k])
		}
	})
}

// gate holds every GetShardIterator and SubscribeToShard call until it is
// opened.
type gate struct {
	*kinesis.Client
	open chan struct{}
}

func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return g.Client.GetShardIterator(ctx, in, optFns...)
}

func (g *gate) SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, optFns ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error) {
	if err := g.wait(ctx); err != nil {
		return nil, err
	}
	return g.Client.SubscribeToShard(ctx, in, optFns...)
}

// Latest means after Open returns, not after a shard's first read: a record
// put between the two is delivered.
func TestLatestKeepsRecordsPutBeforeTheFirstRead(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		fake := m.NewFake(t, 2)
		fillShards(t, fake, testStream, 2)
		nextSecond(t, fake)
		g := &gate{Client: fake.Client(), open: make(chan struct{})}
		st := openNamed(t, m, testCtx(t, 20*time.Second), testStream, g, kinesin.JSON[item], kinesin.WithStart(kinesin.Latest))
		c := collect(st, true)
		want := fillShards(t, fake, testStream, 2) // no shard is read yet
		close(g.open)
		eventually(t, 10*time.Second, func() bool { return c.Count() == 4 }, "the records put before the first read: %d", c.Count())
		for id, seqs := range want {
			checkShardOrder(t, id, c.Shard(id), seqs)
		}
	})
}

// AtTimestamp across a reshard: a parent closed before the timestamp, whose
// children hold records from before it and after it. Only those after it are
// delivered, with and without leases.
func TestAtTimestampAcrossReshard(t *testing.T) {
	setup := func(t *testing.T, m mode) (*kinesistest.Fake, time.Time, map[string][]string) {
		clock := kinesistest.NewManualClock(time.Time{})
		fake := m.NewFake(t, 1, kinesistest.WithClock(clock))
		fillShards(t, fake, testStream, 3)
		if _, err := fake.Split(testStream, "shardId-000000000000"); err != nil {
			t.Fatal(err)
		}
		fillShards(t, fake, testStream, 2) // into the children, before the timestamp
		clock.Advance(time.Minute)
		at := clock.Now()
		want := fillShards(t, fake, testStream, 3)
		return fake, at, want
	}
	eachModeParallel(t, func(t *testing.T, m mode) {
		t.Run("without leases", func(t *testing.T) {
			fake, at, want := setup(t, m)
			st := openStream(t, m, testCtx(t, 20*time.Second), fake, kinesin.JSON[item], kinesin.WithStart(kinesin.AtTimestamp(at)))
			c := collect(st, true)
			eventually(t, 10*time.Second, func() bool { return c.Count() >= 6 }, "the records after the timestamp: %d", c.Count())
			settle(t, 5*time.Second, 100*time.Millisecond, c.Count)
			for id, seqs := range want {
				checkShardOrder(t, id, c.Shard(id), seqs)
			}
			if c.Count() != 6 {
				t.Errorf("%d records delivered, want the 6 after the timestamp", c.Count())
			}
		})
		t.Run("with leases", func(t *testing.T) {
			fake, at, want := setup(t, m)
			cl := newLeaseCluster(t, m, fake, memlease.New(), kinesin.WithStart(kinesin.AtTimestamp(at)))
			cl.join("a", nil)
			cl.join("b", nil)
			eventually(t, 10*time.Second, func() bool { return cl.ledger.count() >= 6 }, "the records after the timestamp: %d", cl.ledger.count())
			settle(t, 5*time.Second, 100*time.Millisecond, cl.ledger.count)
			got := cl.ledger.seqs()
			for id, seqs := range want {
				if !slices.Equal(got[id], seqs) {
					t.Errorf("shard %s: delivered %v, want %v", id, got[id], seqs)
				}
			}
			if n := cl.ledger.count(); n != 6 {
				t.Errorf("%d records delivered, want the 6 after the timestamp", n)
			}
		})
	})
}

// WithMaxUncommitted bounds user records, KPL aggregates included: a consumer
// that commits nothing holds exactly the bound, then gets the rest, in order,
// as it commits.
func TestMaxUncommittedHoldsWithAggregates(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		fake := m.NewFake(t, 1)
		var want []string
		for a := range 3 {
			agg := make([]kinesistest.UserRecord, 100)
			for i := range agg {
				agg[i] = kinesistest.UserRecord{PartitionKey: "pk", Data: fmt.Appendf(nil, "%d-%d", a, i)}
				want = append(want, string(agg[i].Data))
			}
			if _, err := fake.PutAggregated(testStream, agg); err != nil {
				t.Fatal(err)
			}
		}
		const bound = 5
		st := openStream(t, m, testCtx(t, 30*time.Second), fake, kinesin.String, kinesin.WithMaxUncommitted(bound))
		ch := st.Chan()
		var got []*kinesin.Record[string]
		for len(got) < len(want) {
			recs := takeN(t, ch, bound, 10*time.Second)
			quiet(t, ch, 30*time.Millisecond) // no more until they are committed
			got = append(got, recs...)
			for _, r := range recs {
				r.Commit()
			}
		}
		for i, r := range got {
			if r.Value != want[i] {
				t.Fatalf("record %d is %q, want %q", i, r.Value, want[i])
			}
		}
	})
}

// A decoder that panics is a decoding error: the record comes with a
// *DecodeError carrying the panic value, and the stream goes on.
func TestDecoderPanicIsADecodeError(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		fake := m.NewFake(t, 1)
		for _, s := range []string{"ok-1", "boom", "ok-2"} {
			if _, err := fake.Put(testStream, "pk", []byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		dec := func(b []byte) (string, error) {
			if string(b) == "boom" {
				panic("the decoder fell over")
			}
			return string(b), nil
		}
		st := openStream(t, m, testCtx(t, 20*time.Second), fake, dec)
		var got []string
		for rec, err := range st.Records() {
			var de *kinesin.DecodeError
			switch {
			case errors.As(err, &de):
				if !errors.Is(err, kinesin.ErrDecoderPanic) || de.Panic != "the decoder fell over" || string(de.Data) != "boom" || rec == nil {
					t.Errorf("decode error %v (panic %v, data %q), want one wrapping ErrDecoderPanic with the panic value", err, de.Panic, de.Data)
				}
				got = append(got, "panic")
			case err != nil:
				t.Fatal(err)
			default:
				got = append(got, rec.Value)
			}
			rec.Commit()
			if len(got) == 3 {
				break
			}
		}
		if want := []string{"ok-1", "panic", "ok-2"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

// logSink collects the records of a slog logger.
type logSink struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSink) WithGroup(string) slog.Handler      { return l }

// find returns the attributes of the records at level whose message holds
// msg.
func (l *logSink) find(level slog.Level, msg string) []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.recs {
		if r.Level != level || !strings.Contains(r.Message, msg) {
			continue
		}
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		out = append(out, attrs)
	}
	return out
}

// Bad values of the start and the client are refused at Open.
func TestOpenRefusesBadStartAndClient(t *testing.T) {
	fake := newFake(t, 1)
	for _, tc := range []struct {
		name string
		opts []kinesin.Option
		want string
	}{
		{"nil client", []kinesin.Option{kinesin.WithClient(nil)}, "WithClient"},
		{"typed nil client", []kinesin.Option{kinesin.WithClient((*kinesis.Client)(nil))}, "WithClient"},
		{"AtTimestamp in the future", []kinesin.Option{kinesin.WithClient(fake.Client()), kinesin.WithStart(kinesin.AtTimestamp(fake.Clock().Now().Add(time.Hour)))}, "in the future"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := kinesin.Open(context.Background(), testStream, kinesin.JSON[item], tc.opts...)
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, kinesin.ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v, want ErrInvalidOption naming %q", err, tc.want)
			}
		})
	}
}

// Moving an app from WithCheckpointer to WithLeases: given both, the leases
// start from the store's checkpoints, so nothing is delivered twice or
// skipped.
func TestMovingToLeasesKeepsCheckpoints(t *testing.T) {
	for _, tc := range []struct {
		name   string
		leases func(t *testing.T) lease.Store
	}{
		{"memory", func(*testing.T) lease.Store { return memlease.New() }},
		{"dynamodb", func(t *testing.T) lease.Store { s, _, _ := newDynaliteLeases(t); return s }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake(t, 2)
			store := memcheckpoint.New()
			all := fillShards(t, fake, testStream, 6)
			// The app, without leases, commits the first 4 of each shard.
			const app = "billing"
			before := openStream(t, pollingMode, testCtx(t, 20*time.Second), fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithApp(app))
			n := 0
			for rec, err := range before.Records() {
				if err != nil {
					t.Fatal(err)
				}
				if rec.Value.N < 4 {
					rec.Commit()
				}
				if n++; n == 12 {
					break
				}
			}
			// Now with leases, seeded from the store.
			st := openStream(t, pollingMode, testCtx(t, 20*time.Second), fake, kinesin.JSON[item],
				kinesin.WithApp(app), kinesin.WithCheckpointer(store), kinesin.WithLeases(tc.leases(t), lease.WithLeaseDuration(leaseTestDuration), lease.WithCycleInterval(leaseTestCycle)))
			c := collect(st, true)
			eventually(t, 10*time.Second, func() bool { return c.Count() >= 4 }, "the records after the checkpoints: %d", c.Count())
			settle(t, 5*time.Second, 100*time.Millisecond, c.Count)
			for id, seqs := range all {
				checkShardOrder(t, id, c.Shard(id), seqs[4:])
			}
		})
	}
}
