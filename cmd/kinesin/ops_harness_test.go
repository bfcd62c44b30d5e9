package main

// The harness of the operator commands' tests: a kinesistest fake served
// over its URL, tables in dynalite, Redis prefixes, the command run with an
// AWS environment, and consumers of the kinesin library run in the test
// process to be inspected and moved by the command.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/redis/go-redis/v9"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/dynamocheckpoint"
	"github.com/kinesin-go/kinesin/checkpoint/redischeckpoint"
	"github.com/kinesin-go/kinesin/internal/dynamo/dynamotest"
	"github.com/kinesin-go/kinesin/internal/testenv"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/lease/dynamolease"
)

// world is a fake Kinesis served on a loopback port, on a manual clock.
type world struct {
	t     *testing.T
	fake  *kinesistest.Fake
	clock *kinesistest.ManualClock
	url   string
}

// newWorld serves a fake whose clock starts two hours ago (so that times
// the tests pick between its records are in the past for the command too).
func newWorld(t *testing.T) *world {
	t.Helper()
	clock := kinesistest.NewManualClock(time.Now().Add(-2 * time.Hour).Truncate(time.Second))
	fake := kinesistest.New(t, kinesistest.WithClock(clock))
	srv, err := kinesistest.Serve(fake, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &world{t: t, fake: fake, clock: clock, url: srv.URL()}
}

// put stores records of data under key, returning where they went.
func (w *world) put(stream, key string, data ...string) []kinesistest.PutResult {
	w.t.Helper()
	var out []kinesistest.PutResult
	for _, d := range data {
		r, err := w.fake.Put(stream, key, []byte(d))
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// awsEnv is the environment of the command: static credentials, a region,
// no shared files, no instance metadata.
func awsEnv() []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=kinesin", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

// result is a finished run of the command.
type result struct {
	code           int
	stdout, stderr string
}

// kin runs the command with args, stdin as its standard input, to its end.
func kin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = awsEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return result{0, stdout.String(), stderr.String()}
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return result{ee.ExitCode(), stdout.String(), stderr.String()}
	}
	t.Fatalf("kinesin %v: %v\nstderr:\n%s", args, err, stderr.String())
	return result{}
}

// ok runs the command and fails the test unless it exits 0.
func ok(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := kin(t, stdin, args...)
	if r.code != exitOK {
		t.Fatalf("kinesin %s: exit code %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// decode reads the one JSON object of out into v.
func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
}

// dynamoTables makes a checkpoint table and a lease table in dynalite and
// returns the command's flags for them: --dynamodb-endpoint and the
// tables' URLs.
type tables struct {
	endpoint         string
	checkpoint, leas string
	ckStore          *dynamocheckpoint.Store
	leaseStore       *dynamolease.Store
}

func newTables(t *testing.T) *tables {
	t.Helper()
	client := dynamotest.NewClient(t)
	ck, ls := checkpointtest.UniqueName("ck"), checkpointtest.UniqueName("leases")
	if err := dynamocheckpoint.CreateTable(t.Context(), client, ck); err != nil {
		t.Fatal(err)
	}
	if err := dynamolease.CreateTable(t.Context(), client, ls); err != nil {
		t.Fatal(err)
	}
	return &tables{
		endpoint: testenv.DynaliteURL(t), checkpoint: "dynamodb://" + ck, leas: "dynamodb://" + ls,
		ckStore: dynamocheckpoint.New(client, ck), leaseStore: dynamolease.New(client, ls),
	}
}

// redisStore returns a Redis checkpoint store under prefix.
func redisStore(t *testing.T, prefix string) *redischeckpoint.Store {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { client.Close() })
	return redischeckpoint.New(client, redischeckpoint.WithPrefix(prefix))
}

// consumer is a kinesin stream read in the test process, through Chan
// (which, unlike a Records loop, leaves the stream as it is when Open's
// context ends: a crash); the test commits its records or not.
type consumer struct {
	t      *testing.T
	st     *kinesin.Stream[[]byte]
	recs   <-chan *kinesin.Record[[]byte]
	cancel context.CancelFunc
}

// consume opens stream on the fake's in-process client with opts, until
// close (or crash).
func (w *world) consume(stream string, opts ...kinesin.Option) *consumer {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	client := w.fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	opts = append([]kinesin.Option{kinesin.WithClient(client), kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithCheckpointInterval(50 * time.Millisecond)}, opts...)
	st, err := kinesin.Open(ctx, stream, kinesin.Bytes, opts...)
	if err != nil {
		cancel()
		w.t.Fatal(err)
	}
	c := &consumer{t: w.t, st: st, recs: st.Chan(), cancel: cancel}
	w.t.Cleanup(c.crash)
	return c
}

// next returns the next record, failing the test after waitFor.
func (c *consumer) next() *kinesin.Record[[]byte] {
	c.t.Helper()
	select {
	case r, ok := <-c.recs:
		if !ok {
			c.t.Fatalf("the consumer ended: %v", c.st.Err())
		}
		return r
	case <-time.After(waitFor):
		c.t.Fatalf("no record within %v", waitFor)
	}
	return nil
}

// take returns the next n records' data, committing each.
func (c *consumer) take(n int) []string {
	c.t.Helper()
	var out []string
	for range n {
		r := c.next()
		out = append(out, string(r.Data))
		r.Commit()
	}
	return out
}

// close closes the stream gracefully: checkpoints written, leases released.
func (c *consumer) close() {
	c.t.Helper()
	if err := c.st.Close(); err != nil {
		c.t.Fatalf("Close: %v", err)
	}
	c.cancel()
}

// crash stops the consumer as a killed process would: its context ends,
// without Flush or Close: no checkpoint written, leases left held.
func (c *consumer) crash() {
	c.cancel()
}
