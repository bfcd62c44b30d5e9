package kinesisconform

// Cases about writing and reading records: routing, PutRecords results,
// iterator types, GetRecords paging and errors.

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func testPutGetRoundTrip(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	noise := make([]byte, 1024)
	for i := range noise {
		noise[i] = byte(i*131 + i/7)
	}
	puts := []struct {
		pk   string
		data []byte
	}{
		{"k0", []byte("hello")},
		{"k1", all},
		{"k2", []byte{0}},
		{"empty", []byte{}},
		{"ключ ✓", []byte("héllo, 世界 ✓")},
		{"k4", []byte{0xff, 0xfe, 0xfd, 0x00, 0x80}},
		{strings.Repeat("p", 256), noise},
	}
	var seqs []string
	for _, p := range puts {
		out, err := tg.Client.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String(s.name), PartitionKey: aws.String(p.pk), Data: p.data})
		if err != nil {
			t.Fatalf("PutRecord %q: %v", p.pk, err)
		}
		if got := aws.ToString(out.ShardId); got != shardID(0) {
			t.Errorf("PutRecord ShardId %q, want %s", got, shardID(0))
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	checkIncreasing(t, seqs)
	r := tg.readN(t, tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeTrimHorizon, "", nil), 0, len(puts))
	if len(r.records) != len(puts) {
		t.Fatalf("read %d records, want %d", len(r.records), len(puts))
	}
	for i, rec := range r.records {
		if !bytes.Equal(rec.Data, puts[i].data) {
			t.Errorf("record %d: Data %x, want %x", i, rec.Data, puts[i].data)
		}
		if got := aws.ToString(rec.PartitionKey); got != puts[i].pk {
			t.Errorf("record %d: PartitionKey %q, want %q", i, got, puts[i].pk)
		}
		if got := aws.ToString(rec.SequenceNumber); got != seqs[i] {
			t.Errorf("record %d: SequenceNumber %s, want %s as PutRecord returned", i, got, seqs[i])
		}
		if ts := aws.ToTime(rec.ApproximateArrivalTimestamp); time.Since(ts).Abs() > 10*time.Minute {
			t.Errorf("record %d: ApproximateArrivalTimestamp %v, want about now", i, ts)
		}
	}
}

func testPartitionKeyRouting(t *testing.T, tg *Target) {
	s := tg.newStream(t, 4)
	shards := tg.shards(t, s.name)
	hit := map[string]bool{}
	for i := range 8 {
		pk := fmt.Sprintf("key-%d", i)
		out, err := tg.Client.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String(s.name), PartitionKey: aws.String(pk), Data: []byte(pk)})
		if err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
		if got, want := aws.ToString(out.ShardId), owner(t, shards, hashOf(pk)); got != want {
			t.Errorf("PutRecord %q (MD5 %s) went to %s, want %s", pk, hashOf(pk), got, want)
		}
		hit[aws.ToString(out.ShardId)] = true
	}
	keys := make([]string, 24)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i+8)
	}
	for i, res := range tg.putRecords(t, s.name, keys...) {
		if got, want := aws.ToString(res.ShardId), owner(t, shards, hashOf(keys[i])); got != want {
			t.Errorf("PutRecords %q (MD5 %s) went to %s, want %s", keys[i], hashOf(keys[i]), got, want)
		}
		hit[aws.ToString(res.ShardId)] = true
	}
	if len(hit) < 3 {
		t.Errorf("32 keys hit only shards %v of 4", hit)
	}
}

func testExplicitHashKeyRouting(t *testing.T, tg *Target) {
	s := tg.newStream(t, 4)
	shards := tg.shards(t, s.name)
	var entries []types.PutRecordsRequestEntry
	var want []string
	for _, sh := range shards {
		lo, hi := hashRange(t, sh)
		for _, k := range []*big.Int{lo, hi, midpoint(t, sh)} {
			// The same partition key everywhere: the explicit hash key decides.
			out, err := tg.Client.PutRecord(t.Context(), &kinesis.PutRecordInput{
				StreamName: aws.String(s.name), PartitionKey: aws.String("same"), ExplicitHashKey: aws.String(k.String()), Data: []byte("x"),
			})
			if err != nil {
				t.Fatalf("PutRecord ExplicitHashKey %s: %v", k, err)
			}
			if got := aws.ToString(out.ShardId); got != aws.ToString(sh.ShardId) {
				t.Errorf("PutRecord ExplicitHashKey %s went to %s, want %s", k, got, aws.ToString(sh.ShardId))
			}
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("same"), ExplicitHashKey: aws.String(k.String()), Data: []byte("y")})
			want = append(want, aws.ToString(sh.ShardId))
		}
	}
	out, err := tg.Client.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(s.name), Records: entries})
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	for i, res := range out.Records {
		if got := aws.ToString(res.ShardId); got != want[i] {
			t.Errorf("PutRecords entry %d ExplicitHashKey %s went to %s, want %s", i, aws.ToString(entries[i].ExplicitHashKey), got, want[i])
		}
	}
}

func testExplicitHashKeyOutOfRange(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	tooBig := new(big.Int).Add(maxHashKey, big.NewInt(1)).String() // 2^128: 39 digits, within the pattern
	_, err := tg.Client.PutRecord(t.Context(), &kinesis.PutRecordInput{
		StreamName: aws.String(s.name), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(tooBig), Data: []byte("x"),
	})
	wantErr[*types.InvalidArgumentException](t, err, "PutRecord with ExplicitHashKey 2^128")
}

func testPutRecordsResults(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	shards := tg.shards(t, s.name)
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = fmt.Sprintf("pr-%d", i)
	}
	res := tg.putRecords(t, s.name, keys...)
	perShard := map[string][]int{} // shard -> indexes into keys, in request order
	for i, r := range res {
		if r.ErrorCode != nil || r.ErrorMessage != nil {
			t.Errorf("entry %d: ErrorCode %q in a successful result", i, aws.ToString(r.ErrorCode))
		}
		id := aws.ToString(r.ShardId)
		if want := owner(t, shards, hashOf(keys[i])); id != want {
			t.Errorf("entry %d (%q) went to %s, want %s", i, keys[i], id, want)
		}
		perShard[id] = append(perShard[id], i)
	}
	for id, idx := range perShard {
		var seqs, want []string
		for _, i := range idx {
			seqs = append(seqs, aws.ToString(res[i].SequenceNumber))
			want = append(want, fmt.Sprintf("%s#%d", keys[i], i))
		}
		checkIncreasing(t, seqs)
		r := tg.readN(t, tg.iterator(t, s.name, id, types.ShardIteratorTypeTrimHorizon, "", nil), 0, len(idx))
		if got := datas(r.records); !slices.Equal(got, want) {
			t.Errorf("shard %s holds %q, want %q in request order", id, got, want)
		}
		for j, rec := range r.records {
			if j < len(seqs) && aws.ToString(rec.SequenceNumber) != seqs[j] {
				t.Errorf("shard %s record %d: SequenceNumber %s, want %s", id, j, aws.ToString(rec.SequenceNumber), seqs[j])
			}
		}
	}
}

// putN puts n records "r0".."r(n-1)" to the one shard of a 1-shard stream
// and returns their sequence numbers.
func (tg *Target) putN(t *testing.T, name string, prefix string, n int) []string {
	t.Helper()
	entries := make([]types.PutRecordsRequestEntry, n)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte(fmt.Sprintf("%s%d", prefix, i))}
	}
	out, err := tg.Client.PutRecords(t.Context(), &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v %+v", err, out)
	}
	seqs := make([]string, n)
	for i, r := range out.Records {
		seqs[i] = aws.ToString(r.SequenceNumber)
	}
	checkIncreasing(t, seqs)
	return seqs
}

func names(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func testIteratorTrimHorizon(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	tg.putN(t, s.name, "r", 5)
	r := tg.readTip(t, tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeTrimHorizon, "", nil), 0)
	if got := datas(r.records); !slices.Equal(got, names("r", 0, 5)) {
		t.Fatalf("TRIM_HORIZON read %q, want r0..r4", got)
	}
}

func testIteratorLatest(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	tg.putN(t, s.name, "old", 3)
	it := tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeLatest, "", nil)
	// LATEST starts just after the most recent record when the iterator is
	// made: records put afterwards are read, earlier ones are not.
	tg.putN(t, s.name, "new", 2)
	r := tg.readTip(t, it, 0)
	if got := datas(r.records); !slices.Equal(got, names("new", 0, 2)) {
		t.Fatalf("LATEST read %q, want [new0 new1]", got)
	}
}

func testIteratorAtSequenceNumber(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	seqs := tg.putN(t, s.name, "r", 5)
	r := tg.readTip(t, tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeAtSequenceNumber, seqs[2], nil), 0)
	if got := datas(r.records); !slices.Equal(got, names("r", 2, 5)) {
		t.Fatalf("AT_SEQUENCE_NUMBER %s read %q, want r2..r4", seqs[2], got)
	}
	if got := aws.ToString(r.records[0].SequenceNumber); got != seqs[2] {
		t.Errorf("first record %s, want %s", got, seqs[2])
	}
}

func testIteratorAfterSequenceNumber(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	seqs := tg.putN(t, s.name, "r", 5)
	r := tg.readTip(t, tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeAfterSequenceNumber, seqs[2], nil), 0)
	if got := datas(r.records); !slices.Equal(got, names("r", 3, 5)) {
		t.Fatalf("AFTER_SEQUENCE_NUMBER %s read %q, want r3 r4", seqs[2], got)
	}
	it := tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeAfterSequenceNumber, seqs[4], nil)
	tg.putN(t, s.name, "later", 1)
	r = tg.readTip(t, it, 0)
	if got := datas(r.records); !slices.Equal(got, []string{"later0"}) {
		t.Fatalf("AFTER_SEQUENCE_NUMBER of the last record read %q, want [later0]", got)
	}
}

func testIteratorAtTimestamp(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	before := time.Now().Add(-time.Minute)
	tg.putN(t, s.name, "a", 3)
	time.Sleep(50 * time.Millisecond)
	tg.putN(t, s.name, "b", 3)
	all := tg.readN(t, tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeTrimHorizon, "", nil), 0, 6)
	ts := aws.ToTime(all.records[3].ApproximateArrivalTimestamp)
	if prev := aws.ToTime(all.records[2].ApproximateArrivalTimestamp); !prev.Before(ts) {
		t.Fatalf("arrival of a2 %v is not before b0's %v despite a 50ms pause", prev, ts)
	}
	r := tg.readTip(t, tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeAtTimestamp, "", &ts), 0)
	if got := datas(r.records); !slices.Equal(got, names("b", 0, 3)) {
		t.Fatalf("AT_TIMESTAMP %v (b0's arrival) read %q, want b0..b2", ts, got)
	}
	r = tg.readTip(t, tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeAtTimestamp, "", &before), 0)
	if got := datas(r.records); len(got) != 6 {
		t.Fatalf("AT_TIMESTAMP before the stream existed read %q, want all 6", got)
	}
}

func testGetRecordsLimit(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	tg.putN(t, s.name, "r", 10)
	it := tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeTrimHorizon, "", nil)
	out, err := tg.Client.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(3)})
	if err != nil {
		t.Fatalf("GetRecords Limit 3: %v", err)
	}
	if n := len(out.Records); n < 1 || n > 3 {
		t.Fatalf("GetRecords Limit 3 of 10 records returned %d", n)
	}
	if got := datas(out.Records); !slices.Equal(got, names("r", 0, len(got))) {
		t.Fatalf("GetRecords Limit 3 returned %q, want the first records in order", got)
	}
	r := tg.readN(t, aws.ToString(out.NextShardIterator), 3, 10-len(out.Records))
	if got := append(datas(out.Records), datas(r.records)...); !slices.Equal(got, names("r", 0, 10)) {
		t.Fatalf("reading on with Limit 3 gave %q, want r0..r9", got)
	}
}

func testNextShardIteratorChaining(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	seqs := tg.putN(t, s.name, "r", 25)
	r := tg.readN(t, tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeTrimHorizon, "", nil), 4, 25)
	if got := datas(r.records); !slices.Equal(got, names("r", 0, 25)) {
		t.Fatalf("chained reads gave %q, want r0..r24 once each in order", got)
	}
	for i, rec := range r.records {
		if got := aws.ToString(rec.SequenceNumber); got != seqs[i] {
			t.Fatalf("record %d: SequenceNumber %s, want %s", i, got, seqs[i])
		}
	}
	if r.next == "" {
		t.Fatalf("no NextShardIterator on an open shard")
	}
	tip := tg.readTip(t, r.next, 4)
	if len(tip.records) != 0 {
		t.Fatalf("reading on past the last record gave %q", datas(tip.records))
	}
	if tip.next == "" {
		t.Fatalf("no NextShardIterator at the tip of an open shard")
	}
}

func testMillisBehindLatest(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	tg.putN(t, s.name, "r", 5)
	it := tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeTrimHorizon, "", nil)
	for i := 0; i < 20; i++ {
		out, err := tg.Client.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(2)})
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		if out.MillisBehindLatest == nil {
			t.Fatalf("GetRecords response %d has no MillisBehindLatest", i)
		}
		if ms := *out.MillisBehindLatest; ms < 0 {
			t.Fatalf("MillisBehindLatest %d", ms)
		}
		if len(out.Records) == 0 {
			if ms := *out.MillisBehindLatest; ms != 0 {
				t.Fatalf("MillisBehindLatest %d at the tip, want 0", ms)
			}
			return
		}
		it = aws.ToString(out.NextShardIterator)
	}
	t.Fatalf("never reached the tip of 5 records")
}

func testAtSequenceNumberOtherShard(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	shards := tg.shards(t, s.name)
	seq0 := tg.putToShard(t, s.name, shards[0], "on-0")
	tg.putToShard(t, s.name, shards[1], "on-1")
	for _, typ := range []types.ShardIteratorType{types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber} {
		_, err := tg.Client.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{
			StreamName: aws.String(s.name), ShardId: shards[1].ShardId, ShardIteratorType: typ, StartingSequenceNumber: aws.String(seq0),
		})
		wantErr[*types.InvalidArgumentException](t, err, fmt.Sprintf("GetShardIterator %s on %s with a sequence number of %s", typ, shardID(1), shardID(0)))
	}
}

func testMalformedIterator(t *testing.T, tg *Target) {
	_, err := tg.Client.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String("not-a-shard-iterator")})
	wantErr[*types.InvalidArgumentException](t, err, "GetRecords with a malformed iterator")
}

func testPutValidation(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	ctx := t.Context()
	_, err := tg.Client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(s.name), PartitionKey: aws.String(strings.Repeat("k", 257)), Data: []byte("x")})
	checkErr[*types.ValidationException](t, err, "PutRecord with a 257-character partition key")
	_, err = tg.Client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(s.name), PartitionKey: aws.String(""), Data: []byte("x")})
	checkErr[*types.ValidationException](t, err, "PutRecord with an empty partition key")
	entries := make([]types.PutRecordsRequestEntry, 501)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("x")}
	}
	_, err = tg.Client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.name), Records: entries})
	checkErr[*types.ValidationException](t, err, "PutRecords of 501 records")
}

func testIteratorOfDeletedStream(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	tg.putN(t, s.name, "r", 1)
	it := tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeTrimHorizon, "", nil)
	if _, err := tg.Client.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String(s.name)}); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	w := kinesis.NewStreamNotExistsWaiter(tg.Client, func(o *kinesis.StreamNotExistsWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 100 * time.Millisecond
	})
	if err := w.Wait(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String(s.name)}, tg.waitTimeout()); err != nil {
		t.Fatalf("waiting for %s to be deleted: %v", s.name, err)
	}
	_, err := tg.Client.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
	wantErr[*types.ResourceNotFoundException](t, err, "GetRecords with an iterator of a deleted stream")
}

func testGetRecordsLimitZero(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	it := tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeTrimHorizon, "", nil)
	// Limit's documented range is 1 to 10000; a value below the minimum
	// fails the member's constraint: ValidationException.
	_, err := tg.Client.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(0)})
	checkErr[*types.ValidationException](t, err, "GetRecords with Limit 0 (the minimum is 1)")
}

func testGetRecordsLimitAboveMax(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	it := tg.iterator(t, s.name, shardID(0), types.ShardIteratorTypeTrimHorizon, "", nil)
	// The API reference, GetRecords, Limit: "If you specify a value that is
	// greater than 10,000, GetRecords throws InvalidArgumentException."
	_, err := tg.Client.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(10001)})
	checkErr[*types.InvalidArgumentException](t, err, "GetRecords with Limit 10001 (greater than 10,000)")
}

func testIteratorAtTimestampFuture(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	tg.putN(t, s.name, "r", 1)
	// The service refuses a timestamp later than its own clock ("The
	// timestampInMillis parameter cannot be greater than the
	// currentTimestampInMillis", as kinesalite's suite, run against the
	// service, records it). An hour ahead is past any clock skew.
	future := time.Now().Add(time.Hour)
	_, err := tg.Client.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(s.name), ShardId: aws.String(shardID(0)),
		ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: &future,
	})
	checkErr[*types.InvalidArgumentException](t, err, "GetShardIterator AT_TIMESTAMP an hour in the future")
}

func testIteratorParameterMismatch(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	seqs := tg.putN(t, s.name, "r", 1)
	for _, c := range []struct {
		typ types.ShardIteratorType
		seq string
	}{
		{types.ShardIteratorTypeAtSequenceNumber, ""},
		{types.ShardIteratorTypeAfterSequenceNumber, ""},
		{types.ShardIteratorTypeTrimHorizon, seqs[0]},
		{types.ShardIteratorTypeLatest, seqs[0]},
		{types.ShardIteratorTypeAtTimestamp, ""}, // and no Timestamp
	} {
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String(s.name), ShardId: aws.String(shardID(0)), ShardIteratorType: c.typ}
		what := fmt.Sprintf("GetShardIterator %s without its parameter", c.typ)
		if c.seq != "" {
			in.StartingSequenceNumber = aws.String(c.seq)
			what = fmt.Sprintf("GetShardIterator %s with a StartingSequenceNumber", c.typ)
		}
		_, err := tg.Client.GetShardIterator(t.Context(), in)
		checkErr[*types.InvalidArgumentException](t, err, what)
	}
}

// putOne puts one record to the first shard of a 1-shard stream and returns
// its sequence number.
func (tg *Target) putOne(t *testing.T, name, data string) string {
	t.Helper()
	out, err := tg.Client.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte(data)})
	if err != nil {
		t.Fatalf("PutRecord %s: %v", name, err)
	}
	return aws.ToString(out.SequenceNumber)
}

// The service refuses a sequence number that is not its stream's ("... is
// invalid because it did not come from this stream": kinesalite's suite, run
// against the service), even when it names the shard of the same index.

func testSequenceNumberOtherStream(t *testing.T, tg *Target) {
	a := tg.newStream(t, 1)
	seqA := tg.putOne(t, a.name, "a")
	b := tg.newStream(t, 1)
	tg.putOne(t, b.name, "b")
	for _, typ := range []types.ShardIteratorType{types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber} {
		_, err := tg.Client.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{
			StreamName: aws.String(b.name), ShardId: aws.String(shardID(0)), ShardIteratorType: typ, StartingSequenceNumber: aws.String(seqA),
		})
		checkErr[*types.InvalidArgumentException](t, err, fmt.Sprintf("GetShardIterator %s on %s with a sequence number of another stream's %s", typ, shardID(0), shardID(0)))
	}
}

func testSequenceNumberOfDeletedStream(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	old := tg.putOne(t, s.name, "old")
	if _, err := tg.Client.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String(s.name)}); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	w := kinesis.NewStreamNotExistsWaiter(tg.Client, func(o *kinesis.StreamNotExistsWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 100 * time.Millisecond
	})
	if err := w.Wait(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String(s.name)}, tg.waitTimeout()); err != nil {
		t.Fatalf("waiting for %s to be deleted: %v", s.name, err)
	}
	if _, err := tg.Client.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(s.name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("CreateStream %s again: %v", s.name, err)
	}
	tg.waitActive(t, s.name)
	tg.putOne(t, s.name, "new")
	_, err := tg.Client.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(s.name), ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(old),
	})
	checkErr[*types.InvalidArgumentException](t, err, "GetShardIterator AT_SEQUENCE_NUMBER with a sequence number of the deleted stream of the same name")
}
