package kinesin_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/memlease"
	"github.com/kinesin-go/kinesin/polling"
	"go.uber.org/goleak"
)

func TestOpenUnknownStream(t *testing.T) {
	fake := newFake(t, 1)
	for _, name := range []string{"nope", fake.StreamARN("nope")} {
		st, err := kinesin.Open(context.Background(), name, kinesin.JSON[item], kinesin.WithClient(fake.Client()))
		if !errors.Is(err, kinesin.ErrStreamNotFound) || st != nil {
			t.Errorf("Open(%q) = %v, %v; want ErrStreamNotFound", name, st, err)
		}
	}
}

// Every bad option is reported, in one error wrapping ErrInvalidOption whose
// message names each.
func TestOpenBadOptions(t *testing.T) {
	fake := newFake(t, 1)
	for _, tc := range []struct {
		name   string
		stream string
		dec    kinesin.Decoder[item]
		opts   []kinesin.Option
		want   []string
	}{
		{"MaxUncommitted", testStream, kinesin.JSON[item], []kinesin.Option{kinesin.WithMaxUncommitted(0)}, []string{"MaxUncommitted"}},
		{"CheckpointInterval", testStream, kinesin.JSON[item], []kinesin.Option{kinesin.WithCheckpointInterval(-1)}, []string{"CheckpointInterval"}},
		{"WithApp", testStream, kinesin.JSON[item], []kinesin.Option{kinesin.WithApp("")}, []string{"WithApp"}},
		{"MaxRecords", testStream, kinesin.JSON[item], []kinesin.Option{kinesin.WithPolling(polling.Options{MaxRecords: 20000})}, []string{"WithPolling", "MaxRecords"}},
		{"decoder", testStream, nil, nil, []string{"decoder"}},
		{"stream", "", kinesin.JSON[item], nil, []string{"stream name"}},
		{"start", testStream, kinesin.JSON[item], []kinesin.Option{kinesin.WithStart(kinesin.StartPosition{})}, []string{"WithStart"}},
		{"timestamp", testStream, kinesin.JSON[item], []kinesin.Option{kinesin.WithStart(kinesin.AtTimestamp(time.Time{}))}, []string{"AtTimestamp"}},
		{"store", testStream, kinesin.JSON[item], []kinesin.Option{kinesin.WithCheckpointer(nil)}, []string{"WithCheckpointer"}},
		{"store without app", testStream, kinesin.JSON[item], []kinesin.Option{kinesin.WithCheckpointer(memcheckpoint.New())}, []string{"WithApp is required"}},
		{"leases without app", testStream, kinesin.JSON[item], []kinesin.Option{kinesin.WithLeases(memlease.New())}, []string{"WithApp is required"}},
		{"intervals", testStream, kinesin.JSON[item], []kinesin.Option{kinesin.WithShardSyncInterval(0), kinesin.WithCloseTimeout(-time.Second), kinesin.WithStoreOutage(0)},
			[]string{"ShardSyncInterval", "CloseTimeout", "StoreOutage"}},
		{"all at once", "", nil, []kinesin.Option{
			kinesin.WithMaxUncommitted(0), kinesin.WithCheckpointInterval(-1), kinesin.WithApp(""),
			kinesin.WithPolling(polling.Options{MaxRecords: 20000}),
		}, []string{"MaxUncommitted", "CheckpointInterval", "WithApp", "MaxRecords", "decoder", "stream name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fake.CallCounts()
			opts := append([]kinesin.Option{kinesin.WithClient(fake.Client())}, tc.opts...)
			st, err := kinesin.Open(context.Background(), tc.stream, tc.dec, opts...)
			if !errors.Is(err, kinesin.ErrInvalidOption) || st != nil {
				t.Fatalf("Open = %v, %v; want ErrInvalidOption", st, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if after := fake.CallCounts(); len(after) != len(before) || after["DescribeStreamSummary"] != before["DescribeStreamSummary"] {
				t.Errorf("Open called the service despite bad options: %v", after)
			}
		})
	}
}

// awsEnv empties the environment the default AWS configuration reads.
func awsEnv(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "",
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty,
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
	} {
		t.Setenv(k, v)
	}
}

func TestOpenWithoutAWSConfig(t *testing.T) {
	t.Run("no region", func(t *testing.T) {
		awsEnv(t)
		_, err := kinesin.Open(context.Background(), testStream, kinesin.JSON[item])
		if !errors.Is(err, kinesin.ErrNoAWSConfig) {
			t.Fatalf("Open = %v, want ErrNoAWSConfig", err)
		}
		if !strings.Contains(err.Error(), "region") {
			t.Errorf("error %q does not say the region is missing", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		awsEnv(t)
		t.Setenv("AWS_REGION", "eu-west-1")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := kinesin.Open(ctx, testStream, kinesin.JSON[item])
		if !errors.Is(err, kinesin.ErrNoAWSConfig) {
			t.Fatalf("Open = %v, want ErrNoAWSConfig", err)
		}
	})
	t.Run("WithAWSConfig without region", func(t *testing.T) {
		_, err := kinesin.Open(context.Background(), testStream, kinesin.JSON[item], kinesin.WithAWSConfig(aws.Config{}))
		if !errors.Is(err, kinesin.ErrNoAWSConfig) {
			t.Fatalf("Open = %v, want ErrNoAWSConfig", err)
		}
	})
	t.Run("WithAWSConfig", func(t *testing.T) {
		fake := newFake(t, 1)
		fake.Put(testStream, "pk", itemJSON(item{N: 7}))
		st, err := kinesin.Open(testCtx(t, 10*time.Second), testStream, kinesin.JSON[item], kinesin.WithAWSConfig(fake.AWSConfig()),
			kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithPolling(fastPolling))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for rec, err := range st.Records() {
			if err != nil || rec.Value.N != 7 {
				t.Fatalf("yielded %v, %v", rec, err)
			}
			break
		}
	})
}

// A stream named by ARN is read, and checkpointed under its name.
func TestOpenByARN(t *testing.T) {
	eachModeParallel(t, testOpenByARN)
}

func testOpenByARN(t *testing.T, m mode) {
	fake := m.NewFake(t, 2)
	want := fillShards(t, fake, testStream, 10)
	store := memcheckpoint.New()
	ctx := testCtx(t, 10*time.Second)
	st := openNamed(t, m, ctx, fake.StreamARN(testStream), fake.Client(), kinesin.JSON[item], kinesin.WithCheckpointer(store))
	if st.Name() != testStream || st.ARN() != fake.StreamARN(testStream) {
		t.Errorf("Name %q, ARN %q", st.Name(), st.ARN())
	}
	c := collect(st, true)
	eventually(t, 5*time.Second, func() bool { return c.Count() == 20 }, "%d records", c.Count())
	for id, seqs := range want {
		checkShardOrder(t, id, c.Shard(id), seqs)
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cps := load(t, store)
	for id, seqs := range want {
		if cps[id] != checkpoint.At(seqs[9]) {
			t.Errorf("checkpoint of %s under the stream's name: %v", id, cps[id])
		}
	}
}

// Apps keep their checkpoints apart.
func TestAppsHaveTheirOwnCheckpoints(t *testing.T) {
	fake := newFake(t, 1)
	seqs := fillShards(t, fake, testStream, 5)["shardId-000000000000"]
	store := memcheckpoint.New()
	ctx := testCtx(t, 10*time.Second)
	st := openStream(t, pollingMode, ctx, fake, kinesin.JSON[item], kinesin.WithCheckpointer(store), kinesin.WithApp("billing"))
	c := collect(st, true)
	eventually(t, 5*time.Second, func() bool { return c.Count() == 5 }, "records")
	st.Close()
	cps, _ := store.Load(ctx, "billing", testStream)
	if cps["shardId-000000000000"] != checkpoint.At(seqs[4]) {
		t.Errorf("app billing: %v", cps)
	}
	if cps := load(t, store); len(cps) != 0 {
		t.Errorf("default app has checkpoints %v", cps)
	}
}

// Where shards without a checkpoint start: the shard iterators asked for in
// polling mode, the starting positions of the subscriptions in EFO mode.
func TestStartPositions(t *testing.T) {
	eachModeParallel(t, testStartPositions)
}

func testStartPositions(t *testing.T, m mode) {
	t.Run("Latest", func(t *testing.T) {
		t.Parallel()
		fake := m.NewFake(t, 2)
		fillShards(t, fake, testStream, 10)
		nextSecond(t, fake)
		sp := &spy{Client: fake.Client()}
		st := openNamed(t, m, testCtx(t, 10*time.Second), testStream, sp, kinesin.JSON[item], kinesin.WithStart(kinesin.Latest))
		c := collect(st, true)
		// Latest means after Open.
		eventually(t, 5*time.Second, func() bool { return m.ShardsStarted(fake, sp) == 2 }, "reads")
		want := fillShards(t, fake, testStream, 3)
		eventually(t, 5*time.Second, func() bool { return c.Count() >= 6 }, "new records")
		for id, seqs := range want {
			checkShardOrder(t, id, c.Shard(id), seqs)
		}
	})
	t.Run("default is Latest", func(t *testing.T) {
		t.Parallel()
		fake := m.NewFake(t, 1)
		fillShards(t, fake, testStream, 10)
		sp := &spy{Client: fake.Client()}
		st, err := kinesin.Open(testCtx(t, 10*time.Second), testStream, kinesin.JSON[item], append(m.Options(), kinesin.WithClient(sp))...)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		eventually(t, 5*time.Second, func() bool { return m.ShardsStarted(fake, sp) == 1 }, "a read")
		if its := m.Starts(fake, sp, "shardId-000000000000"); its[0] != "AT_TIMESTAMP" {
			t.Errorf("default start %v, want AT_TIMESTAMP (Latest, the time of Open)", its)
		}
	})
	t.Run("TrimHorizon", func(t *testing.T) {
		t.Parallel()
		fake := m.NewFake(t, 2)
		want := fillShards(t, fake, testStream, 10)
		st := openStream(t, m, testCtx(t, 10*time.Second), fake, kinesin.JSON[item], kinesin.WithStart(kinesin.TrimHorizon))
		c := collect(st, true)
		eventually(t, 5*time.Second, func() bool { return c.Count() >= 20 }, "records")
		for id, seqs := range want {
			checkShardOrder(t, id, c.Shard(id), seqs)
		}
	})
	t.Run("AtTimestamp", func(t *testing.T) {
		t.Parallel()
		clock := kinesistest.NewManualClock(time.Time{})
		fake := m.NewFake(t, 2, kinesistest.WithClock(clock))
		fillShards(t, fake, testStream, 10)
		clock.Advance(time.Minute)
		from := clock.Now()
		want := fillShards(t, fake, testStream, 4)
		clock.Advance(time.Minute)
		for id, seqs := range fillShards(t, fake, testStream, 2) {
			want[id] = append(want[id], seqs...)
		}
		st := openStream(t, m, testCtx(t, 10*time.Second), fake, kinesin.JSON[item], kinesin.WithStart(kinesin.AtTimestamp(from)))
		c := collect(st, true)
		eventually(t, 5*time.Second, func() bool { return c.Count() >= 12 }, "records")
		for id, seqs := range want {
			checkShardOrder(t, id, c.Shard(id), seqs)
		}
	})
	t.Run("checkpoint wins", func(t *testing.T) {
		t.Parallel()
		fake := m.NewFake(t, 2)
		all := fillShards(t, fake, testStream, 10)
		nextSecond(t, fake)
		store := memcheckpoint.New()
		const id = "shardId-000000000000"
		store.Save(context.Background(), kinesin.DefaultApp, testStream, map[string]checkpoint.Checkpoint{id: checkpoint.At(all[id][5])})
		sp := &spy{Client: fake.Client()}
		st := openNamed(t, m, testCtx(t, 10*time.Second), testStream, sp, kinesin.JSON[item],
			kinesin.WithCheckpointer(store), kinesin.WithStart(kinesin.Latest))
		c := collect(st, true)
		eventually(t, 5*time.Second, func() bool { return c.Count() >= 4 && m.ShardsStarted(fake, sp) == 2 }, "records after the checkpoint")
		if its := m.Starts(fake, sp, id); len(its) != 1 || its[0] != "AFTER_SEQUENCE_NUMBER" {
			t.Errorf("checkpointed shard read from %v, want AFTER_SEQUENCE_NUMBER", its)
		}
		checkShardOrder(t, id, c.Shard(id), all[id][6:])
		if n := c.CountOf("shardId-000000000001"); n != 0 {
			t.Errorf("%d records of the shard without checkpoint, started at Latest", n)
		}
	})
	t.Run("Latest reads closed shards from the start time", func(t *testing.T) {
		// A shard closed before Open holds nothing new: it is read from the
		// time of Open (one call) to its end, and its children from the
		// same time, so that nothing put before Open comes.
		t.Parallel()
		fake := m.NewFake(t, 1)
		const parent = "shardId-000000000000"
		fillShards(t, fake, testStream, 10)
		kids, err := fake.Split(testStream, parent)
		if err != nil {
			t.Fatal(err)
		}
		fillShards(t, fake, testStream, 5) // before Open, into the children
		nextSecond(t, fake)
		sp := &spy{Client: fake.Client()}
		st := openNamed(t, m, testCtx(t, 10*time.Second), testStream, sp, kinesin.JSON[item], kinesin.WithStart(kinesin.Latest))
		c := collect(st, true)
		eventually(t, 5*time.Second, func() bool { return m.ShardsStarted(fake, sp) == 3 }, "reads of the parent and the children")
		want := fillShards(t, fake, testStream, 3)
		eventually(t, 5*time.Second, func() bool { return c.Count() >= 6 }, "new records")
		for _, k := range append([]string{parent}, kids[:]...) {
			checkShardOrder(t, k, c.Shard(k), want[k])
			if its := m.Starts(fake, sp, k); len(its) != 1 || its[0] != "AT_TIMESTAMP" {
				t.Errorf("%s read from %v, want AT_TIMESTAMP", k, its)
			}
		}
	})
	t.Run("Latest reads new children from the start time", func(t *testing.T) {
		// A shard split while it is read: its children start at the time
		// its read started at, which holds all of their records, so records
		// put between the split and their first read are not lost.
		t.Parallel()
		fake := m.NewFake(t, 1)
		const parent = "shardId-000000000000"
		sp := &spy{Client: fake.Client()}
		st := openNamed(t, m, testCtx(t, 10*time.Second), testStream, sp, kinesin.JSON[item], kinesin.WithStart(kinesin.Latest))
		c := collect(st, true)
		eventually(t, 5*time.Second, func() bool { return m.ShardsStarted(fake, sp) == 1 }, "the parent's read")
		before := fillShards(t, fake, testStream, 4)
		kids, err := fake.Split(testStream, parent)
		if err != nil {
			t.Fatal(err)
		}
		want := fillShards(t, fake, testStream, 50)
		eventually(t, 5*time.Second, func() bool { return c.Count() >= 104 }, "records: %d", c.Count())
		checkShardOrder(t, parent, c.Shard(parent), before[parent])
		for _, k := range kids {
			checkShardOrder(t, k, c.Shard(k), want[k])
			if its := m.Starts(fake, sp, k); len(its) == 0 || its[0] != "AT_TIMESTAMP" {
				t.Errorf("child %s read from %v, want AT_TIMESTAMP", k, its)
			}
		}
	})
}

// Open retries its control-plane calls (DescribeStreamSummary, ListShards)
// through errors that may pass: a fleet starting during a blip starts.
func TestOpenRetriesTransientErrors(t *testing.T) {
	for _, op := range []string{"DescribeStreamSummary", "ListShards"} {
		t.Run(op, func(t *testing.T) {
			fake := newFake(t, 1)
			fake.Put(testStream, "pk", itemJSON(item{N: 1}))
			// The SDK's own retryer is off: these are kinesin's retries.
			in := fake.Script(kinesistest.Match{Op: op}, kinesistest.InternalFailure, kinesistest.ServiceUnavailable,
				kinesistest.InternalFailure, kinesistest.ServiceUnavailable, kinesistest.InternalFailure)
			client := fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
			st := openNamed(t, pollingMode, testCtx(t, 20*time.Second), testStream, client, kinesin.JSON[item])
			if in.Hits() != 5 {
				t.Errorf("%d %s calls failed, want 5", in.Hits(), op)
			}
			for rec, err := range st.Records() {
				if err != nil || rec.Value.N != 1 {
					t.Fatalf("(%v, %v), want the record", rec, err)
				}
				break
			}
		})
	}
	// An error that retrying cannot fix is not retried.
	fake := newFake(t, 1)
	in := fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.Fail("AccessDeniedException")})
	_, err := kinesin.Open(testCtx(t, 20*time.Second), testStream, kinesin.JSON[item], kinesin.WithClient(fake.Client()))
	if err == nil || in.Hits() != 1 {
		t.Errorf("Open with ListShards denied: %v after %d calls, want an error after 1", err, in.Hits())
	}
}

// failingList is a lease store whose List always fails.
type failingList struct{ lease.Store }

func (failingList) List(context.Context, string, string) ([]lease.Lease, []lease.Worker, error) {
	return nil, nil, errors.New("lease store down")
}

// A failing Open leaves nothing behind: no goroutine, no Enhanced Fan-Out
// consumer it registered for this run (internal/oteltest checks that no
// OpenTelemetry callback stays registered either).
func TestFailingOpenLeavesNothingBehind(t *testing.T) {
	denyList := func(fake *kinesistest.Fake) {
		fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.Fail("AccessDeniedException")})
	}
	t.Run("EFO consumer", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		fake := newFake(t, 1)
		denyList(fake)
		if _, err := kinesin.Open(testCtx(t, 10*time.Second), testStream, kinesin.JSON[item], kinesin.WithClient(fake.Client()),
			kinesin.WithEFO(testConsumer), kinesin.WithEFOOptions(fastEFO), kinesin.WithDeregisterOnClose(true)); err == nil {
			t.Fatal("Open succeeded")
		}
		if n := fake.Calls("RegisterStreamConsumer"); n != 1 {
			t.Fatalf("%d RegisterStreamConsumer calls, want 1", n)
		}
		if n := fake.Calls("DeregisterStreamConsumer"); n != 1 {
			t.Errorf("%d DeregisterStreamConsumer calls after a failed Open, want 1", n)
		}
	})
	t.Run("leases", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		fake := newFake(t, 2)
		_, err := kinesin.Open(testCtx(t, 10*time.Second), testStream, kinesin.JSON[item], kinesin.WithClient(fake.Client()),
			kinesin.WithApp("billing"), kinesin.WithLeases(failingList{memlease.New()}))
		if err == nil || !strings.Contains(err.Error(), "lease store down") {
			t.Fatalf("Open = %v, want the lease store's error", err)
		}
	})
}
