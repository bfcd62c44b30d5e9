package kinesistest_test

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// env is one fake on a manual clock with a client in one of the two modes.
type env struct {
	mode  string
	fake  *kinesistest.Fake
	clock *kinesistest.ManualClock
	c     *kinesis.Client
	ctx   context.Context
}

var modes = []string{"inproc", "loopback"}

// eachMode runs fn in a parallel subtest per client mode, each with a new fake
// on a manual clock. The clients do not retry, so every error is seen.
func eachMode(t *testing.T, fn func(t *testing.T, e *env), opts ...kinesistest.Option) {
	t.Helper()
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, mode, opts...))
		})
	}
}

func newEnv(tb testing.TB, mode string, opts ...kinesistest.Option) *env {
	tb.Helper()
	clock := kinesistest.NewManualClock(time.Time{})
	fake := kinesistest.New(tb, append([]kinesistest.Option{kinesistest.WithClock(clock)}, opts...)...)
	noRetry := func(o *kinesis.Options) { o.RetryMaxAttempts = 1 }
	var c *kinesis.Client
	switch mode {
	case "inproc":
		c = fake.Client(noRetry)
	case "loopback":
		c = kinesis.NewFromConfig(fake.AWSConfig(), noRetry)
	default:
		tb.Fatalf("unknown mode %q", mode)
	}
	return &env{mode: mode, fake: fake, clock: clock, c: c, ctx: context.Background()}
}

// raceEnabled reports whether the test binary runs under the race detector.
var raceEnabled = func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}()

// heavy marks a test that moves many megabytes: under the race detector,
// where that costs seconds, it runs in process only (the loopback transport
// carries the same bytes, and is exercised by every other test).
func (e *env) heavy(t *testing.T) {
	if raceEnabled && e.mode != "inproc" {
		t.Skip("megabytes of payload: in process only under -race")
	}
}

// wantErr fails the test unless err is (or wraps) a T, and returns it.
func wantErr[T error](t testing.TB, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("want %T, got %v", target, err)
	}
	return target
}

// wantCode fails the test unless err is an API error with one of codes.
func wantCode(t testing.TB, err error, codes ...string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error %v, got %v", codes, err)
	}
	if !slices.Contains(codes, ae.ErrorCode()) {
		t.Fatalf("want error code %v, got %s: %v", codes, ae.ErrorCode(), err)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func (e *env) createStream(t testing.TB, name string, shards int) {
	t.Helper()
	_, err := e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))})
	if err != nil {
		t.Fatalf("CreateStream %s: %v", name, err)
	}
}

func (e *env) put(t testing.TB, stream, pk string, data []byte) *kinesis.PutRecordOutput {
	t.Helper()
	out, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(pk), Data: data})
	if err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	return out
}

func (e *env) putEHK(t testing.TB, stream, ehk string, data []byte) *kinesis.PutRecordOutput {
	t.Helper()
	out, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(ehk), Data: data})
	if err != nil {
		t.Fatalf("PutRecord EHK %s: %v", ehk, err)
	}
	return out
}

func (e *env) iterator(t testing.TB, stream, shard string, typ types.ShardIteratorType, seq *string) string {
	t.Helper()
	out, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: typ, StartingSequenceNumber: seq,
	})
	if err != nil {
		t.Fatalf("GetShardIterator %s %s: %v", shard, typ, err)
	}
	return aws.ToString(out.ShardIterator)
}

// drain reads from it with GetRecords until the tip of an open shard (an
// empty response) or the end of a closed one, and returns the records and,
// for a closed shard, its children.
func (e *env) drain(t testing.TB, it string, limit int32) ([]types.Record, []types.ChildShard) {
	t.Helper()
	var recs []types.Record
	for range 100000 {
		in := &kinesis.GetRecordsInput{ShardIterator: aws.String(it)}
		if limit > 0 {
			in.Limit = aws.Int32(limit)
		}
		out, err := e.c.GetRecords(e.ctx, in)
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		if limit > 0 && len(out.Records) > int(limit) {
			t.Fatalf("GetRecords returned %d records, limit %d", len(out.Records), limit)
		}
		recs = append(recs, out.Records...)
		if out.NextShardIterator == nil {
			if out.ChildShards == nil {
				t.Fatalf("end of shard without ChildShards")
			}
			return recs, out.ChildShards
		}
		if len(out.ChildShards) > 0 {
			t.Fatalf("ChildShards %v with a NextShardIterator", out.ChildShards)
		}
		if len(out.Records) == 0 {
			if aws.ToInt64(out.MillisBehindLatest) != 0 {
				t.Fatalf("empty response %d ms behind", aws.ToInt64(out.MillisBehindLatest))
			}
			return recs, nil
		}
		it = *out.NextShardIterator
	}
	t.Fatal("drain did not end")
	return nil, nil
}

// readShard reads a whole shard from TRIM_HORIZON.
func (e *env) readShard(t testing.TB, stream, shard string) ([]types.Record, []types.ChildShard) {
	t.Helper()
	return e.drain(t, e.iterator(t, stream, shard, types.ShardIteratorTypeTrimHorizon, nil), 0)
}

// listShards pages through ListShards (the SDK has no ListShards paginator:
// the NextToken must be sent without the StreamName).
func (e *env) listShards(t testing.TB, in *kinesis.ListShardsInput) []types.Shard {
	t.Helper()
	var shards []types.Shard
	req := *in
	for range 100000 {
		out, err := e.c.ListShards(e.ctx, &req)
		if err != nil {
			t.Fatalf("ListShards: %v", err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			return shards
		}
		req = kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: in.MaxResults}
	}
	t.Fatal("ListShards did not end")
	return nil
}

func (e *env) shards(t testing.TB, stream string) []types.Shard {
	t.Helper()
	return e.listShards(t, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
}

func (e *env) openShards(t testing.TB, stream string) []types.Shard {
	t.Helper()
	var open []types.Shard
	for _, sh := range e.shards(t, stream) {
		if sh.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, sh)
		}
	}
	return open
}

func (e *env) summary(t testing.TB, stream string) *types.StreamDescriptionSummary {
	t.Helper()
	out, err := e.c.DescribeStreamSummary(e.ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatalf("DescribeStreamSummary: %v", err)
	}
	return out.StreamDescriptionSummary
}

// Hash keys.

var (
	two128     = new(big.Int).Lsh(big.NewInt(1), 128)
	maxHashKey = new(big.Int).Sub(two128, big.NewInt(1))
)

// md5Key is the hash key of a partition key, computed independently of the fake.
func md5Key(pk string) *big.Int {
	sum := md5.Sum([]byte(pk))
	return new(big.Int).SetBytes(sum[:])
}

func bigOf(t testing.TB, s *string) *big.Int {
	t.Helper()
	if s == nil {
		t.Fatal("nil number")
	}
	b, ok := new(big.Int).SetString(*s, 10)
	if !ok {
		t.Fatalf("%q is not a decimal number", *s)
	}
	return b
}

func inRange(t testing.TB, sh types.Shard, key *big.Int) bool {
	t.Helper()
	lo, hi := bigOf(t, sh.HashKeyRange.StartingHashKey), bigOf(t, sh.HashKeyRange.EndingHashKey)
	return lo.Cmp(key) <= 0 && key.Cmp(hi) <= 0
}

// shardFor returns the id of the shard among shards whose range holds key.
func shardFor(t testing.TB, shards []types.Shard, key *big.Int) string {
	t.Helper()
	id := ""
	for _, sh := range shards {
		if inRange(t, sh, key) {
			if id != "" {
				t.Fatalf("hash key %s is in %s and %s", key, id, *sh.ShardId)
			}
			id = *sh.ShardId
		}
	}
	if id == "" {
		t.Fatalf("no shard holds hash key %s", key)
	}
	return id
}

// checkTiling fails unless shards, sorted by starting hash key, cover
// [0, 2^128-1] exactly once.
func checkTiling(t testing.TB, shards []types.Shard) {
	t.Helper()
	sorted := slices.Clone(shards)
	slices.SortFunc(sorted, func(a, b types.Shard) int {
		return bigOf(t, a.HashKeyRange.StartingHashKey).Cmp(bigOf(t, b.HashKeyRange.StartingHashKey))
	})
	next := big.NewInt(0)
	for _, sh := range sorted {
		lo, hi := bigOf(t, sh.HashKeyRange.StartingHashKey), bigOf(t, sh.HashKeyRange.EndingHashKey)
		if lo.Cmp(next) != 0 {
			t.Fatalf("shard %s starts at %s, want %s", *sh.ShardId, lo, next)
		}
		if hi.Cmp(lo) < 0 {
			t.Fatalf("shard %s ends at %s before its start %s", *sh.ShardId, hi, lo)
		}
		next = new(big.Int).Add(hi, big.NewInt(1))
	}
	if next.Cmp(two128) != 0 {
		t.Fatalf("shards end at %s, want 2^128-1", new(big.Int).Sub(next, big.NewInt(1)))
	}
}

// checkUniform fails unless shards tile the hash key space in len(shards)
// ranges of 2^128/n keys each, the last taking the remainder.
func checkUniform(t testing.TB, shards []types.Shard) {
	t.Helper()
	checkTiling(t, shards)
	n := int64(len(shards))
	width := new(big.Int).Div(two128, big.NewInt(n))
	for _, sh := range shards {
		lo, hi := bigOf(t, sh.HashKeyRange.StartingHashKey), bigOf(t, sh.HashKeyRange.EndingHashKey)
		got := new(big.Int).Sub(hi, lo)
		got.Add(got, big.NewInt(1))
		want := width
		if hi.Cmp(maxHashKey) == 0 {
			want = new(big.Int).Sub(two128, new(big.Int).Mul(width, big.NewInt(n-1)))
		}
		if got.Cmp(want) != 0 {
			t.Fatalf("shard %s [%s, %s] holds %s keys, want %s", *sh.ShardId, lo, hi, got, want)
		}
	}
}

func ids(shards []types.Shard) []string {
	out := make([]string, len(shards))
	for i, sh := range shards {
		out[i] = aws.ToString(sh.ShardId)
	}
	return out
}

func shardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

func seqs(recs []types.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = aws.ToString(r.SequenceNumber)
	}
	return out
}

func datas(recs []types.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}
