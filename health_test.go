package kinesin_test

// Failures are loud and health is visible (issue 13): errors that retrying
// cannot fix end Open or the stream at once, failures that go on end it after
// WithStallTimeout, each logged once per change of state, and Stats tells
// what every shard is doing.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/eventstream"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

// noEFO is a Kinesis client of an endpoint without Enhanced Fan-Out: it does
// not know the EFO operations.
type noEFO struct{ *kinesis.Client }

func unknownOperation(op string) error {
	return &smithy.GenericAPIError{Code: "UnknownOperationException", Message: op + " is not supported"}
}

func (noEFO) RegisterStreamConsumer(context.Context, *kinesis.RegisterStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error) {
	return nil, unknownOperation("RegisterStreamConsumer")
}

func (noEFO) DescribeStreamConsumer(context.Context, *kinesis.DescribeStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error) {
	return nil, unknownOperation("DescribeStreamConsumer")
}

func (noEFO) SubscribeToShard(context.Context, *kinesis.SubscribeToShardInput, ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error) {
	return nil, unknownOperation("SubscribeToShard")
}

// WithEFO on an endpoint without Enhanced Fan-Out fails Open within seconds,
// naming the operation, the service's error findable with errors.As.
func TestOpenWithoutEFOFailsFast(t *testing.T) {
	fake := newFake(t, 1)
	began := time.Now()
	_, err := kinesin.Open(testCtx(t, time.Minute), testStream, kinesin.JSON[item],
		kinesin.WithClient(noEFO{fake.Client()}), kinesin.WithEFO(testConsumer))
	took := time.Since(began)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" || !strings.Contains(err.Error(), "registering Enhanced Fan-Out consumer") {
		t.Fatalf("Open = %v, want the UnknownOperationException of the registration", err)
	}
	if took > 5*time.Second {
		t.Errorf("Open took %v to fail, want a few seconds at most", took)
	}
	t.Logf("Open failed in %v: %v", took, err)
}

// dropInitialResponse makes the fake's SubscribeToShard streams look like
// kinesis-local's: without their initial-response event.
type dropInitialResponse struct{ base http.RoundTripper }

func (d dropInitialResponse) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := d.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || req.Header.Get("X-Amz-Target") != "Kinesis_20131202.SubscribeToShard" {
		return resp, err
	}
	// The first message is the initial-response: read it and go on from
	// the next.
	if _, err := eventstream.NewDecoder().Decode(resp.Body, nil); err != nil {
		resp.Body.Close()
		return nil, err
	}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

// EFO against an endpoint whose event streams the SDK cannot read (no
// initial-response: kinesis-local without kinesistest.AddInitialResponse)
// fails the stream within seconds with a *ReadError naming the shard,
// instead of subscribing again forever.
func TestEFOWithoutInitialResponseFailsFast(t *testing.T) {
	fake := newFake(t, 1, kinesistest.WithClock(kinesistest.ScaledClock(efoClockFactor)))
	fake.Put(testStream, "pk", itemJSON(item{N: 1})) // an event comes at once
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client := kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		BaseEndpoint: aws.String(fake.URL()),
		HTTPClient:   &http.Client{Transport: dropInitialResponse{base: tr}},
	})
	st := openNamed(t, efoMode, testCtx(t, time.Minute), testStream, client, kinesin.JSON[item])
	began := time.Now()
	var fatal error
	for _, err := range st.Records() {
		fatal = err
	}
	took := time.Since(began)
	var re *kinesin.ReadError
	if !errors.As(fatal, &re) || re.ShardID != "shardId-000000000000" || !strings.Contains(fatal.Error(), "initial-response") {
		t.Fatalf("the stream ended with %v, want a *ReadError of the shard naming the missing initial-response", fatal)
	}
	if took > 10*time.Second {
		t.Errorf("the stream took %v to fail, want a few seconds", took)
	}
	t.Logf("failed in %v: %v", took, fatal)
}

// An endpoint that fails every call after Open (errors that retrying could
// fix) fails the stream after WithStallTimeout with a *ReadError wrapping
// ErrStalled that names the shard, the operation, since when and the last
// error; meanwhile each shard is logged once at WARN, once at ERROR.
func TestFailuresPastTheStallTimeoutFailTheStream(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		fake := m.NewFake(t, 1)
		logs := &logSink{}
		const stall = 1500 * time.Millisecond
		st := openStream(t, m, testCtx(t, time.Minute), fake, kinesin.JSON[item],
			kinesin.WithStallTimeout(stall), kinesin.WithLogger(slog.New(logs)))
		c := collect(st, true)
		fake.Put(testStream, "pk", itemJSON(item{N: 1}))
		eventually(t, 10*time.Second, func() bool { return c.Count() == 1 }, "the first record")
		for _, op := range []string{"GetRecords", "GetShardIterator", "SubscribeToShard"} {
			fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: op}, Action: kinesistest.InternalFailure})
		}
		if m.EFO {
			// Break the open subscription: the reader subscribes again.
			fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard"}, Action: kinesistest.CutStream(0)})
		}
		c.Wait(t, 30*time.Second)
		failed := time.Now()
		var re *kinesin.ReadError
		err := st.Err()
		if !errors.As(err, &re) || !errors.Is(err, kinesin.ErrStalled) || re.ShardID != "shardId-000000000000" || re.Operation == "" || re.Since.IsZero() ||
			!strings.Contains(err.Error(), "InternalFailure") {
			t.Fatalf("Err() = %#v (%v), want a *ReadError of the shard wrapping ErrStalled, with the operation, since and the last error", re, err)
		}
		// An open subscription lives on (up to its 5 minutes) after the
		// endpoint starts failing: what counts is from the first failure.
		took := failed.Sub(re.Since)
		if took < stall || took > stall+5*time.Second {
			t.Errorf("the stream failed %v after the shard's first failure, want the stall timeout (%v) and a little", took, stall)
		}
		warns, errs := logs.find(slog.LevelWarn, "shard failing"), logs.find(slog.LevelError, "shard failing")
		if len(warns) != 1 || len(errs) != 1 {
			t.Errorf("%d WARN and %d ERROR lines about the failing shard, want one each (not one per retry)", len(warns), len(errs))
		}
		t.Logf("failed %v after the shard's first failure: %v", took, err)
	})
}

// statsOf returns the stats of a shard.
func statsOf[T any](st *kinesin.Stream[T], id string) kinesin.ShardStats {
	for _, s := range st.Stats().Shards {
		if s.ShardID == id {
			return s
		}
	}
	return kinesin.ShardStats{}
}

// Stats tells each shard's state, position, lag, and counts.
func TestStats(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		fake := m.NewFake(t, 2)
		const parent, other = "shardId-000000000000", "shardId-000000000001"
		st := openStream(t, m, testCtx(t, time.Minute), fake, kinesin.JSON[item], kinesin.WithMaxUncommitted(3),
			kinesin.WithPauseWarning(time.Hour))
		c := collect(st, false)
		// Reading, then paused at WithMaxUncommitted.
		eventually(t, 10*time.Second, func() bool { return statsOf(st, parent).State == kinesin.ShardReading }, "the shard reading")
		fillShards(t, fake, testStream, 5)
		eventually(t, 10*time.Second, func() bool { return statsOf(st, parent).State == kinesin.ShardPaused },
			"the shard paused at MaxUncommitted: %+v", statsOf(st, parent))
		s := statsOf(st, parent)
		if s.Uncommitted != 3 || s.Delivered != 3 || s.LastSequenceNumber == "" || s.PausedSince.IsZero() || s.MillisBehindLatest < 0 {
			t.Errorf("paused shard %+v, want 3 delivered and uncommitted, a last sequence number, a pause time and a lag", s)
		}
		if st.Stats().ShardsOwned != 2 {
			t.Errorf("ShardsOwned = %d, want 2", st.Stats().ShardsOwned)
		}
		c.CommitPending()
		// Split the parent: it ends and finishes; its children wait for it
		// until its records are all delivered, then read.
		kids, err := fake.Split(testStream, parent)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if c.CommitPending() == 0 && statsOf(st, parent).State == kinesin.ShardFinished {
				break
			}
			eventually(t, 10*time.Second, func() bool { return c.PendingCount() > 0 || statsOf(st, parent).State == kinesin.ShardFinished },
				"the parent's records: %+v", statsOf(st, parent))
		}
		if s := statsOf(st, parent); s.Checkpoint.ShardEnded != true {
			t.Errorf("finished parent %+v, want its end marker as checkpoint", s)
		}
		eventually(t, 10*time.Second, func() bool { return statsOf(st, kids[0]).State == kinesin.ShardReading }, "the child reading")
		// Retrying: the other shard's calls fail.
		for _, op := range []string{"GetRecords", "GetShardIterator", "SubscribeToShard"} {
			fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: op, Shard: other}, Action: kinesistest.InternalFailure})
		}
		if m.EFO {
			fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "SubscribeToShard", Shard: other}, Action: kinesistest.CutStream(0)})
		} else {
			fillShards(t, fake, testStream, 1)
		}
		eventually(t, 10*time.Second, func() bool { return statsOf(st, other).State == kinesin.ShardRetrying }, "the other shard retrying: %+v", statsOf(st, other))
		if s := statsOf(st, other); s.RetryingSince.IsZero() || s.Operation == "" || s.LastError == nil {
			t.Errorf("retrying shard %+v, want since when, the operation and the error", s)
		}
		fake.ClearFaults()
		eventually(t, 10*time.Second, func() bool { c.CommitPending(); return statsOf(st, other).State == kinesin.ShardReading }, "the other shard recovered")
		if h := st.Stats(); h.LastCheckpointWrite.IsZero() || !h.CheckpointsFailingSince.IsZero() {
			t.Errorf("checkpoint health %+v, want a last write and no failure", h)
		}
	})
}

// A child whose parent is not read to its end waits, and Stats says so.
func TestStatsWaiting(t *testing.T) {
	fake := newFake(t, 1)
	const parent = "shardId-000000000000"
	fillShards(t, fake, testStream, 5)
	kids, err := fake.Split(testStream, parent)
	if err != nil {
		t.Fatal(err)
	}
	st := openStream(t, pollingMode, testCtx(t, time.Minute), fake, kinesin.JSON[item], kinesin.WithMaxUncommitted(2))
	collect(st, false) // holds the parent's records: the children wait
	eventually(t, 10*time.Second, func() bool { return statsOf(st, kids[0]).State == kinesin.ShardWaiting }, "the child waiting: %+v", st.Stats())
}

// With leases, a shard handed over shows so.
func TestStatsHandedOver(t *testing.T) {
	fake := newFake(t, 2)
	c := newLeaseCluster(t, pollingMode, fake, memlease.New())
	a := c.join("a", nil)
	c.waitShape(10*time.Second, "[2]", "a")
	c.join("b", nil)
	c.waitShape(10*time.Second, "[1 1]", "a", "b")
	var handed int
	for _, s := range a.st.Stats().Shards {
		if s.State == kinesin.ShardHandedOver {
			handed++
		}
	}
	if st := a.st.Stats(); handed != 1 || st.WorkerID != "a" || st.LeasesHeld != 1 {
		t.Errorf("worker a's stats %+v, want one shard handed over, worker id a, one lease held", st)
	}
}

// A shard paused at WithMaxUncommitted for longer than WithPauseWarning is
// warned of, once per pause, with its uncommitted count.
func TestPausedShardWarning(t *testing.T) {
	fake := newFake(t, 1)
	logs := &logSink{}
	st := openStream(t, pollingMode, testCtx(t, time.Minute), fake, kinesin.JSON[item], kinesin.WithMaxUncommitted(3),
		kinesin.WithPauseWarning(50*time.Millisecond), kinesin.WithLogger(slog.New(logs)))
	collect(st, false)
	fillShards(t, fake, testStream, 5)
	eventually(t, 10*time.Second, func() bool { return len(logs.find(slog.LevelWarn, "shard paused")) > 0 }, "a warning")
	w := logs.find(slog.LevelWarn, "shard paused")
	if len(w) != 1 || w[0]["uncommitted"] != "3" || w[0]["shard"] != "shardId-000000000000" {
		t.Errorf("warnings %v, want one naming the shard and 3 uncommitted", w)
	}
}

// A shard waiting for room in the stream's memory budget is paused too: its
// Stats say so, and it is warned of with the bytes held. The second record
// of 600 KiB does not fit in a budget of 1 MiB beside the first.
func TestMemoryBudgetPauseIsVisible(t *testing.T) {
	fake := newFake(t, 1)
	logs := &logSink{}
	st := openStream(t, pollingMode, testCtx(t, time.Minute), fake, kinesin.JSON[item], kinesin.WithMemoryBudget(1<<20),
		kinesin.WithPauseWarning(50*time.Millisecond), kinesin.WithLogger(slog.New(logs)))
	c := collect(st, false)
	fillPadded(t, fake, testStream, 3, 600<<10)
	eventually(t, 10*time.Second, func() bool { return c.Count() == 1 }, "the first record")
	eventually(t, 10*time.Second, func() bool { return len(logs.find(slog.LevelWarn, "shard paused")) > 0 }, "a warning")
	w := logs.find(slog.LevelWarn, "shard paused")
	if len(w) != 1 || w[0]["shard"] != "shardId-000000000000" || w[0]["budget_bytes"] != "1048576" || w[0]["held_bytes"] == "" {
		t.Errorf("warnings %v, want one naming the shard, the bytes held and the budget", w)
	}
	s := st.Stats()
	if s.Shards[0].State != kinesin.ShardPaused || s.Shards[0].PausedSince.IsZero() || s.MemoryHeld < 600<<10 || s.MemoryBudget != 1<<20 {
		t.Errorf("stats %+v, want the shard paused and 600 KiB held of 1 MiB", s)
	}
	if n := c.CommitPending(); n != 1 {
		t.Fatalf("committed %d, want 1", n)
	}
	eventually(t, 10*time.Second, func() bool { return c.Count() == 2 }, "the second record, once the first is committed")
}
