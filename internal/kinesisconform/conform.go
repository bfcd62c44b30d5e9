// Package kinesisconform is a behaviour suite for Kinesis Data Streams
// implementations, in the style of gocloud's drivertest: one table of named
// cases (cases.go), each driving a real aws-sdk-go-v2 *kinesis.Client against
// a Target and asserting what the real service does. The kinesistest package
// runs it against its fake and against the kinesalite and kinesis-local
// emulators (kinesistest/behaviour_test.go).
//
// A test wires a target and runs the table:
//
//	kinesisconform.Run(t, &kinesisconform.Target{
//		Name:   "kinesalite 3.3.3",
//		Client: client,
//		Divergences: map[string]string{
//			"StreamARNAddressing": "has no StreamARN parameters",
//		},
//	})
//
// # What a case asserts
//
// The service's behaviour, never an implementation's: as the Kinesis API
// reference documents it, or, where the reference is silent (exact error
// codes, key bounds), as the service answered kinesalite's own test suite,
// which was written against it. A case names its source in a comment where
// it is not the API reference.
//
// # Divergences
//
// A case a target cannot do, or does wrongly, is named in Target.Divergences
// with the reason; the case is then skipped with "<Name>: <reason>", never
// left out silently. A reason for a bug in our own fake starts with
// "FAKE BUG: ", so the bug shows in every run until it is fixed. A divergence
// that names no case fails the run, so the map cannot rot.
//
// # Streams
//
// Every case creates its own streams with names no other run uses (a run id
// from the start time, a counter and the case's name), so reruns against a
// long-lived emulator never collide; waits for ACTIVE with the SDK's
// StreamExists waiter (or by polling DescribeStreamSummary, see
// Target.PollSummary); and deletes them when it ends. Cases run in parallel
// and keep data small, tens of records, because emulators are slow.
package kinesisconform

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Target is one Kinesis implementation the suite runs against.
type Target struct {
	// Name names the target in skip messages, e.g. "kinesalite 3.3.3".
	Name string

	// Client is the client every case drives. Build it with a small
	// RetryMaxAttempts: the cases assert errors, not retries.
	Client *kinesis.Client

	// Divergences maps a case name to the reason the target cannot do what the
	// case asserts. The case is skipped with "<Name>: <reason>". A reason for
	// a bug in the implementation under test starts with "FAKE BUG: ".
	Divergences map[string]string

	// PollSummary makes the suite wait for a stream to become ACTIVE by
	// polling DescribeStreamSummary, instead of the SDK's StreamExists waiter
	// (which polls DescribeStream), for targets whose DescribeStream cannot
	// serve the waiter. The default is the waiter.
	PollSummary bool

	// WaitTimeout bounds each wait for a stream or consumer to settle,
	// overriding the default 20s.
	WaitTimeout time.Duration
}

// conformCase is one named behaviour of the service.
type conformCase struct {
	name string
	run  func(t *testing.T, tg *Target)
}

// Run runs every case of the table against tg, each as a parallel subtest
// named after the case.
func Run(t *testing.T, tg *Target) {
	t.Helper()
	if tg.Client == nil {
		t.Fatalf("kinesisconform: target %q has no client", tg.Name)
	}
	names := make(map[string]bool, len(cases))
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("kinesisconform: case %q listed twice", c.name)
		}
		names[c.name] = true
	}
	for name := range tg.Divergences {
		if !names[name] {
			t.Errorf("kinesisconform: target %q lists a divergence for %q, which is no case of the suite", tg.Name, name)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if reason, ok := tg.Divergences[c.name]; ok {
				t.Skipf("%s: %s", tg.Name, reason)
			}
			t.Parallel()
			c.run(t, tg)
		})
	}
}

func (tg *Target) waitTimeout() time.Duration {
	if tg.WaitTimeout > 0 {
		return tg.WaitTimeout
	}
	return 20 * time.Second
}

var (
	runID     = strconv.FormatInt(time.Now().UnixMilli(), 36)
	streamSeq atomic.Int64
	unsafeRE  = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)
)

// streamName returns a name no earlier run used: a run id, a counter and
// the case's name, within the service's 128 characters.
func streamName(t *testing.T) string {
	caseName := t.Name()
	if i := strings.LastIndexByte(caseName, '/'); i >= 0 {
		caseName = caseName[i+1:]
	}
	name := fmt.Sprintf("kconf-%s-%d-%s", runID, streamSeq.Add(1), unsafeRE.ReplaceAllString(caseName, "_"))
	if len(name) > 128 {
		name = name[:128]
	}
	return name
}

// stream is a stream a case created.
type stream struct {
	name string
	arn  string
}

// newStream creates a fresh provisioned stream of n shards, waits until it is
// ACTIVE, and deletes it when the test ends.
func (tg *Target) newStream(t *testing.T, n int) stream {
	t.Helper()
	name := streamName(t)
	_, err := tg.Client.CreateStream(t.Context(), &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(int32(n)),
	})
	if err != nil {
		t.Fatalf("CreateStream %s (%d shards): %v", name, n, err)
	}
	t.Cleanup(func() { tg.deleteStream(t, name) })
	sum := tg.waitActive(t, name)
	return stream{name: name, arn: aws.ToString(sum.StreamARN)}
}

// deleteStream deletes a stream at the end of a test: a stream already gone
// is fine; a stream still UPDATING is retried until the wait timeout.
func (tg *Target) deleteStream(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), tg.waitTimeout())
	defer cancel()
	for {
		_, err := tg.Client.DeleteStream(ctx, &kinesis.DeleteStreamInput{
			StreamName:              aws.String(name),
			EnforceConsumerDeletion: aws.Bool(true),
		})
		var nf *types.ResourceNotFoundException
		var inUse *types.ResourceInUseException
		switch {
		case err == nil || errors.As(err, &nf):
			return
		case errors.As(err, &inUse) && ctx.Err() == nil:
			time.Sleep(20 * time.Millisecond)
		default:
			t.Errorf("cleanup: DeleteStream %s: %v", name, err)
			return
		}
	}
}

// waitActive waits until the stream is ACTIVE (after creation or a reshard)
// and returns its summary.
func (tg *Target) waitActive(t *testing.T, name string) *types.StreamDescriptionSummary {
	t.Helper()
	ctx := t.Context()
	if !tg.PollSummary {
		w := kinesis.NewStreamExistsWaiter(tg.Client, func(o *kinesis.StreamExistsWaiterOptions) {
			o.MinDelay = 10 * time.Millisecond
			o.MaxDelay = 100 * time.Millisecond
		})
		if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, tg.waitTimeout()); err != nil {
			t.Fatalf("waiting for stream %s to be ACTIVE: %v", name, err)
		}
	}
	deadline := time.Now().Add(tg.waitTimeout())
	for {
		out, err := tg.Client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeStreamSummary %s: %v", name, err)
		}
		s := out.StreamDescriptionSummary
		if s.StreamStatus == types.StreamStatusActive {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s still %s after %v", name, s.StreamStatus, tg.waitTimeout())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shards lists every shard of the stream through ListShards pages, sorted by
// shard ID (the service promises no order; IDs are zero-padded, so on a new
// stream this is also the order of the hash key ranges).
func (tg *Target) shards(t *testing.T, name string) []types.Shard {
	t.Helper()
	var all []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(name)}
	for page := 0; ; page++ {
		out, err := tg.Client.ListShards(t.Context(), in)
		if err != nil {
			t.Fatalf("ListShards %s: %v", name, err)
		}
		all = append(all, out.Shards...)
		if out.NextToken == nil || len(out.Shards) == 0 || page > 100 {
			slices.SortFunc(all, func(a, b types.Shard) int { return strings.Compare(aws.ToString(a.ShardId), aws.ToString(b.ShardId)) })
			return all
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

func shardByID(t *testing.T, shards []types.Shard, id string) types.Shard {
	t.Helper()
	for _, s := range shards {
		if aws.ToString(s.ShardId) == id {
			return s
		}
	}
	t.Fatalf("no shard %s among %v", id, shardIDs(shards))
	return types.Shard{}
}

func shardIDs(shards []types.Shard) []string {
	ids := make([]string, len(shards))
	for i, s := range shards {
		ids[i] = aws.ToString(s.ShardId)
	}
	return ids
}

// sortedIDs returns the shards' IDs in order: the service promises no
// order of shards in DescribeStream or ListShards.
func sortedIDs(shards []types.Shard) []string {
	ids := shardIDs(shards)
	slices.Sort(ids)
	return ids
}

func openShards(shards []types.Shard) []types.Shard {
	var open []types.Shard
	for _, s := range shards {
		if s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
	}
	return open
}

// shardID is the service's name of the shard with index i.
func shardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// putRecords puts one record per key (data "<key>#<i>") in one PutRecords
// call and returns the results in request order.
func (tg *Target) putRecords(t *testing.T, name string, keys ...string) []types.PutRecordsResultEntry {
	t.Helper()
	entries := make([]types.PutRecordsRequestEntry, len(keys))
	for i, k := range keys {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(k), Data: []byte(fmt.Sprintf("%s#%d", k, i))}
	}
	out, err := tg.Client.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries})
	if err != nil {
		t.Fatalf("PutRecords %s (%d records): %v", name, len(keys), err)
	}
	if n := aws.ToInt32(out.FailedRecordCount); n != 0 || len(out.Records) != len(keys) {
		t.Fatalf("PutRecords: %d failed, %d results for %d records: %+v", n, len(out.Records), len(keys), out.Records)
	}
	return out.Records
}

// putToShard puts a record with the shard's starting hash key as explicit
// hash key, so it lands on that shard, and returns its sequence number.
func (tg *Target) putToShard(t *testing.T, name string, sh types.Shard, data string) string {
	t.Helper()
	out, err := tg.Client.PutRecord(t.Context(), &kinesis.PutRecordInput{
		StreamName:      aws.String(name),
		PartitionKey:    aws.String("pk"),
		ExplicitHashKey: sh.HashKeyRange.StartingHashKey,
		Data:            []byte(data),
	})
	if err != nil {
		t.Fatalf("PutRecord to %s: %v", aws.ToString(sh.ShardId), err)
	}
	if got := aws.ToString(out.ShardId); got != aws.ToString(sh.ShardId) {
		t.Fatalf("PutRecord with ExplicitHashKey %s went to %s, want %s", aws.ToString(sh.HashKeyRange.StartingHashKey), got, aws.ToString(sh.ShardId))
	}
	return aws.ToString(out.SequenceNumber)
}

// iterator returns a shard iterator; seq is used by the sequence number
// types, ts by AT_TIMESTAMP.
func (tg *Target) iterator(t *testing.T, name, shard string, typ types.ShardIteratorType, seq string, ts *time.Time) string {
	t.Helper()
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String(shard), ShardIteratorType: typ, Timestamp: ts}
	if seq != "" {
		in.StartingSequenceNumber = aws.String(seq)
	}
	out, err := tg.Client.GetShardIterator(t.Context(), in)
	if err != nil {
		t.Fatalf("GetShardIterator %s %s %s: %v", shard, typ, seq, err)
	}
	if aws.ToString(out.ShardIterator) == "" {
		t.Fatalf("GetShardIterator %s %s: empty iterator", shard, typ)
	}
	return *out.ShardIterator
}

// reading is what read saw.
type reading struct {
	records []types.Record
	last    *kinesis.GetRecordsOutput // the last response
	next    string                    // its NextShardIterator, "" at the end of a closed shard
	calls   int
}

// readN calls GetRecords from it, following NextShardIterator, until it has
// at least want records (or reaches the end of a closed shard).
func (tg *Target) readN(t *testing.T, it string, limit int32, want int) reading {
	t.Helper()
	maxCalls := 20
	if limit > 0 {
		maxCalls += want / int(limit)
	}
	r := tg.readLoop(t, it, limit, maxCalls, func(r *reading) bool { return len(r.records) >= want })
	if len(r.records) < want {
		t.Fatalf("read %d records in %d GetRecords calls, want %d", len(r.records), r.calls, want)
	}
	return r
}

// readTip reads from it until a response has no records and
// MillisBehindLatest 0 (or the end of a closed shard).
func (tg *Target) readTip(t *testing.T, it string, limit int32) reading {
	t.Helper()
	r := tg.readLoop(t, it, limit, 50, func(r *reading) bool {
		return len(r.last.Records) == 0 && aws.ToInt64(r.last.MillisBehindLatest) == 0
	})
	if r.next != "" && (len(r.last.Records) != 0 || aws.ToInt64(r.last.MillisBehindLatest) != 0) {
		t.Fatalf("not at the tip after %d GetRecords calls (%d records)", r.calls, len(r.records))
	}
	return r
}

// readToEnd reads a closed shard until GetRecords returns no
// NextShardIterator.
func (tg *Target) readToEnd(t *testing.T, it string) reading {
	t.Helper()
	r := tg.readLoop(t, it, 0, 20, func(*reading) bool { return false })
	if r.next != "" {
		t.Fatalf("closed shard: after %d GetRecords calls and %d records, still a NextShardIterator", r.calls, len(r.records))
	}
	return r
}

// readLoop calls GetRecords from it, following NextShardIterator, until done
// says so, a response has no NextShardIterator, or maxCalls calls. Every
// response must respect limit.
func (tg *Target) readLoop(t *testing.T, it string, limit int32, maxCalls int, done func(*reading) bool) reading {
	t.Helper()
	var r reading
	for r.calls < maxCalls {
		in := &kinesis.GetRecordsInput{ShardIterator: aws.String(it)}
		if limit > 0 {
			in.Limit = aws.Int32(limit)
		}
		out, err := tg.Client.GetRecords(t.Context(), in)
		r.calls++
		if err != nil {
			t.Fatalf("GetRecords (call %d): %v", r.calls, err)
		}
		if limit > 0 && len(out.Records) > int(limit) {
			t.Fatalf("GetRecords with Limit %d returned %d records", limit, len(out.Records))
		}
		r.records = append(r.records, out.Records...)
		r.last = out
		r.next = aws.ToString(out.NextShardIterator)
		if r.next == "" || done(&r) {
			return r
		}
		it = r.next
	}
	return r
}

func datas(recs []types.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}

var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// hashOf is the hash key of a partition key: its MD5 as a 128-bit big-endian
// unsigned integer.
func hashOf(pk string) *big.Int {
	sum := md5.Sum([]byte(pk))
	return new(big.Int).SetBytes(sum[:])
}

func bigOf(t *testing.T, s *string, what string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(aws.ToString(s), 10)
	if !ok {
		t.Fatalf("%s %q is not a decimal integer", what, aws.ToString(s))
	}
	return n
}

func hashRange(t *testing.T, sh types.Shard) (lo, hi *big.Int) {
	t.Helper()
	if sh.HashKeyRange == nil {
		t.Fatalf("shard %s has no HashKeyRange", aws.ToString(sh.ShardId))
	}
	return bigOf(t, sh.HashKeyRange.StartingHashKey, "StartingHashKey"), bigOf(t, sh.HashKeyRange.EndingHashKey, "EndingHashKey")
}

// owner returns the open shard whose hash key range holds key.
func owner(t *testing.T, shards []types.Shard, key *big.Int) string {
	t.Helper()
	for _, sh := range openShards(shards) {
		lo, hi := hashRange(t, sh)
		if lo.Cmp(key) <= 0 && key.Cmp(hi) <= 0 {
			return aws.ToString(sh.ShardId)
		}
	}
	t.Fatalf("no open shard holds hash key %s", key)
	return ""
}

// checkCover checks the shards' ranges are contiguous, ordered by starting
// hash key, and cover 0 .. 2^128-1.
func checkCover(t *testing.T, shards []types.Shard) {
	t.Helper()
	s := slices.Clone(shards)
	slices.SortFunc(s, func(a, b types.Shard) int {
		return bigOf(t, a.HashKeyRange.StartingHashKey, "").Cmp(bigOf(t, b.HashKeyRange.StartingHashKey, ""))
	})
	next := big.NewInt(0)
	for _, sh := range s {
		lo, hi := hashRange(t, sh)
		if lo.Cmp(next) != 0 {
			t.Fatalf("shard %s starts at %s, want %s (shards %v)", aws.ToString(sh.ShardId), lo, next, shardIDs(s))
		}
		next = new(big.Int).Add(hi, big.NewInt(1))
	}
	if want := new(big.Int).Add(maxHashKey, big.NewInt(1)); next.Cmp(want) != 0 {
		t.Fatalf("shards end at %s, want 2^128-1", new(big.Int).Sub(next, big.NewInt(1)))
	}
}

// checkIncreasing checks sequence numbers are decimal and strictly increase
// as big integers.
func checkIncreasing(t *testing.T, seqs []string) {
	t.Helper()
	var prev *big.Int
	for i, s := range seqs {
		n := bigOf(t, &s, "SequenceNumber")
		if prev != nil && n.Cmp(prev) <= 0 {
			t.Fatalf("sequence number %d (%s) is not greater than the one before (%s)", i, s, prev)
		}
		prev = n
	}
}

// wantErr fails the test at once unless err is (wraps) an E, such as
// *types.ResourceNotFoundException.
func wantErr[E error](t *testing.T, err error, what string) {
	t.Helper()
	if !checkErr[E](t, err, what) {
		t.FailNow()
	}
}

// checkErr reports (and marks the test failed) unless err is (wraps) an E.
func checkErr[E error](t *testing.T, err error, what string) bool {
	t.Helper()
	var target E
	if err == nil {
		t.Errorf("%s: no error, want %T", what, target)
		return false
	}
	if !errors.As(err, &target) {
		t.Errorf("%s: got %v (%T), want %T", what, err, err, target)
		return false
	}
	return true
}

// eventually polls f until it returns true or the wait timeout passes.
func (tg *Target) eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(tg.waitTimeout())
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, tg.waitTimeout())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
