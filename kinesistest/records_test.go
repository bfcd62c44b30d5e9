package kinesistest_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestPutRecordRouting(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 5)
		shards := e.shards(t, "s")
		seen := map[string]int{}
		for i := range 200 {
			pk := fmt.Sprintf("key-%d", i)
			out := e.put(t, "s", pk, []byte(pk))
			want := shardFor(t, shards, md5Key(pk))
			if got := aws.ToString(out.ShardId); got != want {
				t.Fatalf("key %s (hash %s) went to %s, want %s", pk, md5Key(pk), got, want)
			}
			seen[want]++
		}
		if len(seen) != 5 {
			t.Fatalf("200 keys reached only %d of 5 shards: %v", len(seen), seen)
		}
		// What was put is what each shard holds.
		for _, sh := range shards {
			recs, _ := e.readShard(t, "s", *sh.ShardId)
			if len(recs) != seen[*sh.ShardId] {
				t.Fatalf("shard %s holds %d records, want %d", *sh.ShardId, len(recs), seen[*sh.ShardId])
			}
			for _, r := range recs {
				if !inRange(t, sh, md5Key(aws.ToString(r.PartitionKey))) || string(r.Data) != aws.ToString(r.PartitionKey) {
					t.Fatalf("record %q in shard %s", aws.ToString(r.PartitionKey), *sh.ShardId)
				}
			}
		}

		// After a split, keys of the parent's range go to the children.
		if _, err := e.fake.Split("s", shardID(2)); err != nil {
			t.Fatal(err)
		}
		open := e.openShards(t, "s")
		for i := range 100 {
			pk := fmt.Sprintf("after-%d", i)
			out := e.put(t, "s", pk, []byte("x"))
			if got, want := aws.ToString(out.ShardId), shardFor(t, open, md5Key(pk)); got != want {
				t.Fatalf("after split: key %s went to %s, want %s", pk, got, want)
			}
			if aws.ToString(out.ShardId) == shardID(2) {
				t.Fatal("record put on a closed shard")
			}
		}
	})
}

func TestPutRecordExplicitHashKey(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 4)
		shards := e.shards(t, "s")
		quarter := new(big.Int).Rsh(two128, 2)
		cases := []struct {
			key  *big.Int
			want string
		}{
			{big.NewInt(0), shardID(0)},
			{new(big.Int).Sub(quarter, big.NewInt(1)), shardID(0)},
			{quarter, shardID(1)},
			{new(big.Int).Mul(quarter, big.NewInt(3)), shardID(3)},
			{maxHashKey, shardID(3)},
		}
		for _, c := range cases {
			// A partition key that hashes elsewhere: the explicit key wins.
			pk := "pk"
			for i := 0; shardFor(t, shards, md5Key(pk)) == c.want; i++ {
				pk = fmt.Sprintf("pk%d", i)
			}
			out, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{
				StreamName: aws.String("s"), PartitionKey: aws.String(pk), ExplicitHashKey: aws.String(c.key.String()), Data: []byte("x"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(out.ShardId); got != c.want {
				t.Errorf("hash key %s went to %s, want %s", c.key, got, c.want)
			}
		}
		for _, bad := range []string{"-1", "abc", "1.5", "", " 1", two128.String(), "1" + strings.Repeat("0", 40), "0x10"} {
			_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{
				StreamName: aws.String("s"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(bad), Data: []byte("x"),
			})
			wantErr[*types.InvalidArgumentException](t, err)
		}
		out, err := e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
			{PartitionKey: aws.String("a"), ExplicitHashKey: aws.String(maxHashKey.String()), Data: []byte("x")},
			{PartitionKey: aws.String("b"), ExplicitHashKey: aws.String("0"), Data: []byte("y")},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if got := []string{aws.ToString(out.Records[0].ShardId), aws.ToString(out.Records[1].ShardId)}; !slices.Equal(got, []string{shardID(3), shardID(0)}) {
			t.Fatalf("PutRecords with explicit keys went to %v", got)
		}
		_, err = e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
			{PartitionKey: aws.String("a"), ExplicitHashKey: aws.String("nope"), Data: []byte("x")},
		}})
		wantErr[*types.InvalidArgumentException](t, err)
	})
}

func TestPutRecordValidation(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		put := func(pk string, data []byte) error {
			_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String(pk), Data: data})
			return err
		}
		wantErr[*types.ValidationException](t, put("", []byte("x")))
		wantErr[*types.ValidationException](t, put(strings.Repeat("k", 257), []byte("x")))
		_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), Data: []byte("x")})
		wantErr[*types.ValidationException](t, err)
		for _, pk := range []string{"k", strings.Repeat("k", 256), strings.Repeat("é", 256), "key with spaces\t\"quotes\""} {
			if err := put(pk, []byte("x")); err != nil {
				t.Fatalf("pk of %d bytes: %v", len(pk), err)
			}
		}
		if err := put("kk", []byte{}); err != nil {
			t.Fatalf("empty data: %v", err)
		}
		_, err = e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("nope"), PartitionKey: aws.String("k"), Data: []byte("x")})
		wantErr[*types.ResourceNotFoundException](t, err)

		// The partition key comes back exactly.
		recs, _ := e.readShard(t, "s", shardID(0))
		var pks []string
		for _, r := range recs {
			pks = append(pks, aws.ToString(r.PartitionKey))
		}
		if want := []string{"k", strings.Repeat("k", 256), strings.Repeat("é", 256), "key with spaces\t\"quotes\"", "kk"}; !slices.Equal(pks, want) {
			t.Fatalf("partition keys %q", pks)
		}
	})
}

func TestPutRecords(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 3)
		shards := e.shards(t, "s")
		entries := make([]types.PutRecordsRequestEntry, 500)
		for i := range entries {
			pk := fmt.Sprintf("pk-%d", i)
			entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(pk), Data: []byte(fmt.Sprint(i))}
		}
		out, err := e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 || len(out.Records) != 500 {
			t.Fatalf("failed %d, %d results", aws.ToInt32(out.FailedRecordCount), len(out.Records))
		}
		last := map[string]*big.Int{}
		bySeq := map[string]int{}
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				t.Fatalf("record %d: %s", i, aws.ToString(r.ErrorCode))
			}
			sh := aws.ToString(r.ShardId)
			if want := shardFor(t, shards, md5Key(*entries[i].PartitionKey)); sh != want {
				t.Fatalf("record %d on %s, want %s", i, sh, want)
			}
			seq := bigOf(t, r.SequenceNumber)
			if prev := last[sh]; prev != nil && prev.Cmp(seq) >= 0 {
				t.Fatalf("record %d: sequence %s not above %s on %s", i, seq, prev, sh)
			}
			last[sh] = seq
			bySeq[*r.SequenceNumber] = i
		}
		// The results are in request order: each sequence number holds the
		// data of the entry at its index.
		for _, sh := range shards {
			recs, _ := e.readShard(t, "s", *sh.ShardId)
			for _, r := range recs {
				i, ok := bySeq[*r.SequenceNumber]
				if !ok || string(r.Data) != fmt.Sprint(i) || aws.ToString(r.PartitionKey) != *entries[i].PartitionKey {
					t.Fatalf("record %s holds %q, result index %d", *r.SequenceNumber, r.Data, i)
				}
				delete(bySeq, *r.SequenceNumber)
			}
		}
		if len(bySeq) != 0 {
			t.Fatalf("%d records not found", len(bySeq))
		}

		_, err = e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: append(entries, entries[0])})
		wantErr[*types.ValidationException](t, err)
		_, err = e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{}})
		wantErr[*types.ValidationException](t, err)
		// A bad entry fails the whole call.
		_, err = e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
			{PartitionKey: aws.String("ok"), Data: []byte("x")},
			{PartitionKey: aws.String(""), Data: []byte("x")},
		}})
		wantErr[*types.ValidationException](t, err)
		_, err = e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("nope"), Records: entries[:1]})
		wantErr[*types.ResourceNotFoundException](t, err)
	})
}

func TestRecordSizeLimit(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.heavy(t)
		e.createStream(t, "s", 1)
		// 1 MiB, partition key included.
		pk := "kk"
		if _, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String(pk), Data: make([]byte, 1<<20-len(pk))}); err != nil {
			t.Fatalf("1 MiB record: %v", err)
		}
		_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String(pk), Data: make([]byte, 1<<20-len(pk)+1)})
		wantErr[*types.ValidationException](t, err)
		_, err = e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
			{PartitionKey: aws.String("ok"), Data: []byte("x")},
			{PartitionKey: aws.String(pk), Data: make([]byte, 1<<20-len(pk)+1)},
		}})
		wantErr[*types.ValidationException](t, err)
		if info, _ := e.fake.Shards("s"); info[0].Records != 1 {
			t.Fatalf("%d records stored, want 1", info[0].Records)
		}
	})
}

func TestPutRecordsSizeLimit(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.heavy(t)
		e.createStream(t, "s", 2)
		mib := func(pk string) types.PutRecordsRequestEntry {
			return types.PutRecordsRequestEntry{PartitionKey: aws.String(pk), Data: bytes.Repeat([]byte{'d'}, 1<<20-len(pk))}
		}
		five := []types.PutRecordsRequestEntry{mib("a"), mib("b"), mib("c"), mib("d"), mib("e")}
		out, err := e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: five})
		if err != nil {
			t.Fatalf("5 MiB: %v", err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatal("records failed")
		}
		_, err = e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: append(five, types.PutRecordsRequestEntry{PartitionKey: aws.String("f"), Data: []byte("x")})})
		wantErr[*types.InvalidArgumentException](t, err)
		info, _ := e.fake.Shards("s")
		if n := info[0].Records + info[1].Records; n != 5 {
			t.Fatalf("%d records stored, want the 5 of the first call", n)
		}
	})
}

func TestSequenceNumbers(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 4)
		var all []string
		for i := range 20 {
			out := e.put(t, "s", fmt.Sprint("k", i), []byte("x"))
			all = append(all, *out.SequenceNumber)
			batch := make([]types.PutRecordsRequestEntry, 40)
			for j := range batch {
				batch[j] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint("b", i, "-", j)), Data: []byte("y")}
			}
			res := must[*kinesis.PutRecordsOutput](t)(e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: batch}))
			for _, r := range res.Records {
				all = append(all, *r.SequenceNumber)
			}
		}
		// Unique in the stream and growing with every put, as big integers
		// and as strings alike.
		for i := 1; i < len(all); i++ {
			a, b := bigOf(t, &all[i-1]), bigOf(t, &all[i])
			if a.Cmp(b) >= 0 {
				t.Fatalf("sequence %s after %s", all[i], all[i-1])
			}
			if strings.Compare(all[i-1], all[i]) >= 0 {
				t.Fatalf("sequence %s not above %s as a string", all[i], all[i-1])
			}
		}
		// Pairs in any order compare the same way as numbers and strings.
		for i := 0; i < len(all); i += 7 {
			for j := 0; j < len(all); j += 11 {
				if got, want := strings.Compare(all[i], all[j]), bigOf(t, &all[i]).Cmp(bigOf(t, &all[j])); got != want {
					t.Fatalf("%s vs %s: string %d, number %d", all[i], all[j], got, want)
				}
			}
		}
		// Per shard: records in strictly increasing order, above the
		// shard's starting sequence number.
		total := 0
		for _, sh := range e.shards(t, "s") {
			start := bigOf(t, sh.SequenceNumberRange.StartingSequenceNumber)
			recs, _ := e.readShard(t, "s", *sh.ShardId)
			prev := start
			for i, r := range recs {
				seq := bigOf(t, r.SequenceNumber)
				if (i == 0 && seq.Cmp(prev) < 0) || (i > 0 && seq.Cmp(prev) <= 0) {
					t.Fatalf("shard %s: sequence %s after %s", *sh.ShardId, seq, prev)
				}
				prev = seq
			}
			total += len(recs)
		}
		if total != len(all) {
			t.Fatalf("read %d records, put %d", total, len(all))
		}
	})
}

func TestGetShardIteratorTypes(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		sh := shardID(0)
		var puts []string
		var times []time.Time
		for i := range 10 {
			times = append(times, e.clock.Now())
			puts = append(puts, *e.put(t, "s", "k", []byte(fmt.Sprint(i))).SequenceNumber)
			e.clock.Advance(time.Second)
		}
		read := func(typ types.ShardIteratorType, seq *string) []string {
			t.Helper()
			recs, _ := e.drain(t, e.iterator(t, "s", sh, typ, seq), 0)
			return datas(recs)
		}
		nums := func(from, to int) []string {
			var out []string
			for i := from; i < to; i++ {
				out = append(out, fmt.Sprint(i))
			}
			return out
		}
		if got := read(types.ShardIteratorTypeTrimHorizon, nil); !slices.Equal(got, nums(0, 10)) {
			t.Errorf("TRIM_HORIZON: %v", got)
		}
		if got := read(types.ShardIteratorTypeAtSequenceNumber, &puts[3]); !slices.Equal(got, nums(3, 10)) {
			t.Errorf("AT_SEQUENCE_NUMBER 3: %v", got)
		}
		if got := read(types.ShardIteratorTypeAfterSequenceNumber, &puts[3]); !slices.Equal(got, nums(4, 10)) {
			t.Errorf("AFTER_SEQUENCE_NUMBER 3: %v", got)
		}
		if got := read(types.ShardIteratorTypeAfterSequenceNumber, &puts[9]); len(got) != 0 {
			t.Errorf("AFTER_SEQUENCE_NUMBER last: %v", got)
		}
		start := e.shards(t, "s")[0].SequenceNumberRange.StartingSequenceNumber
		if got := read(types.ShardIteratorTypeAtSequenceNumber, start); !slices.Equal(got, nums(0, 10)) {
			t.Errorf("AT_SEQUENCE_NUMBER of the shard start: %v", got)
		}

		at := func(ts time.Time) []string {
			t.Helper()
			out, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{
				StreamName: aws.String("s"), ShardId: aws.String(sh), ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(ts),
			})
			if err != nil {
				t.Fatal(err)
			}
			recs, _ := e.drain(t, *out.ShardIterator, 0)
			return datas(recs)
		}
		if got := at(times[5]); !slices.Equal(got, nums(5, 10)) {
			t.Errorf("AT_TIMESTAMP of record 5: %v", got)
		}
		if got := at(times[5].Add(500 * time.Millisecond)); !slices.Equal(got, nums(6, 10)) {
			t.Errorf("AT_TIMESTAMP between 5 and 6: %v", got)
		}
		if got := at(times[0].Add(-time.Hour)); !slices.Equal(got, nums(0, 10)) {
			t.Errorf("AT_TIMESTAMP before every record: %v", got)
		}
		if got := at(e.clock.Now()); len(got) != 0 {
			t.Errorf("AT_TIMESTAMP of the fake's present: %v", got)
		}
		// A timestamp later than the fake's clock, even by a millisecond, is
		// refused, as the service refuses one later than its own.
		for _, ahead := range []time.Duration{time.Millisecond, time.Hour} {
			_, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{
				StreamName: aws.String("s"), ShardId: aws.String(sh), ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(e.clock.Now().Add(ahead)),
			})
			ia := wantErr[*types.InvalidArgumentException](t, err)
			if !strings.Contains(aws.ToString(ia.Message), "cannot be greater than the currentTimestampInMillis") {
				t.Errorf("AT_TIMESTAMP %v ahead: message %q", ahead, aws.ToString(ia.Message))
			}
		}

		// LATEST starts after the last record.
		latest := e.iterator(t, "s", sh, types.ShardIteratorTypeLatest, nil)
		if recs, _ := e.drain(t, latest, 0); len(recs) != 0 {
			t.Fatalf("LATEST read %d old records", len(recs))
		}
		e.put(t, "s", "k", []byte("new"))
		if recs, _ := e.drain(t, latest, 0); !slices.Equal(datas(recs), []string{"new"}) {
			t.Fatalf("LATEST then put: %q", datas(recs))
		}
	})
}

func TestGetShardIteratorErrors(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 2)
		seq0 := e.putEHK(t, "s", "0", []byte("a")).SequenceNumber
		seq1 := e.putEHK(t, "s", maxHashKey.String(), []byte("b")).SequenceNumber
		get := func(shard string, typ types.ShardIteratorType, seq *string) error {
			_, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{
				StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: typ, StartingSequenceNumber: seq,
			})
			return err
		}
		if err := get(shardID(0), types.ShardIteratorTypeAtSequenceNumber, seq0); err != nil {
			t.Fatal(err)
		}
		// A sequence number of another shard.
		wantErr[*types.InvalidArgumentException](t, get(shardID(0), types.ShardIteratorTypeAtSequenceNumber, seq1))
		wantErr[*types.InvalidArgumentException](t, get(shardID(1), types.ShardIteratorTypeAfterSequenceNumber, seq0))
		// Malformed sequence numbers.
		for _, bad := range []string{"", "123", "abc", "-1", *seq0 + "0", strings.Replace(*seq0, "4", "x", 1)} {
			wantErr[*types.InvalidArgumentException](t, get(shardID(0), types.ShardIteratorTypeAtSequenceNumber, aws.String(bad)))
		}
		wantErr[*types.InvalidArgumentException](t, get(shardID(0), types.ShardIteratorTypeAtSequenceNumber, nil))
		wantErr[*types.InvalidArgumentException](t, get(shardID(0), types.ShardIteratorTypeAtTimestamp, nil))
		wantCode(t, get(shardID(0), "BOGUS", nil), "ValidationException", "InvalidArgumentException")
		// Unknown shard or stream.
		wantErr[*types.ResourceNotFoundException](t, get(shardID(7), types.ShardIteratorTypeTrimHorizon, nil))
		wantErr[*types.ResourceNotFoundException](t, get("shard-bogus", types.ShardIteratorTypeTrimHorizon, nil))
		_, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("nope"), ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeLatest})
		wantErr[*types.ResourceNotFoundException](t, err)
	})
}

func TestGetRecordsLimit(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		for i := range 30 {
			e.put(t, "s", "k", []byte(fmt.Sprint(i)))
		}
		it := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeTrimHorizon, nil)
		var sizes []int
		next := &it
		for next != nil {
			out, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: next, Limit: aws.Int32(7)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Records) == 0 {
				break
			}
			sizes = append(sizes, len(out.Records))
			next = out.NextShardIterator
		}
		if !slices.Equal(sizes, []int{7, 7, 7, 7, 2}) {
			t.Fatalf("pages %v", sizes)
		}
		for _, ok := range []int32{1, 10000} {
			if _, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: &it, Limit: aws.Int32(ok)}); err != nil {
				t.Fatalf("limit %d: %v", ok, err)
			}
		}
		_, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: &it, Limit: aws.Int32(10001)})
		wantErr[*types.InvalidArgumentException](t, err)
		for _, bad := range []int32{0, -1} {
			_, err = e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: &it, Limit: aws.Int32(bad)})
			wantCode(t, err, "ValidationException", "InvalidArgumentException")
		}
	})
}

func TestGetRecordsDefaultLimit(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		for i := range 10001 {
			if _, err := e.fake.Put("s", "k", []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		it := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeTrimHorizon, nil)
		out := must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: &it}))
		if len(out.Records) != 10000 || aws.ToInt64(out.MillisBehindLatest) == 0 {
			t.Fatalf("%d records, %d ms behind", len(out.Records), aws.ToInt64(out.MillisBehindLatest))
		}
		out = must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator}))
		if len(out.Records) != 1 || aws.ToInt64(out.MillisBehindLatest) != 0 {
			t.Fatalf("second call: %d records, %d ms behind", len(out.Records), aws.ToInt64(out.MillisBehindLatest))
		}
	})
}

func TestGetRecordsSizeCap(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.heavy(t)
		e.createStream(t, "s", 1)
		const pk = "k"
		for i := range 12 {
			data := bytes.Repeat([]byte{byte('a' + i)}, 1<<20-len(pk))
			if _, err := e.fake.Put("s", pk, data); err != nil {
				t.Fatal(err)
			}
		}
		it := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeTrimHorizon, nil)
		out := must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: &it}))
		if len(out.Records) != 10 {
			t.Fatalf("first call: %d records of 1 MiB, want 10 (10 MiB)", len(out.Records))
		}
		if aws.ToInt64(out.MillisBehindLatest) == 0 {
			t.Fatal("MillisBehindLatest 0 with records left")
		}
		for i, r := range out.Records {
			if len(r.Data) != 1<<20-len(pk) || r.Data[0] != byte('a'+i) {
				t.Fatalf("record %d: %d bytes of %q", i, len(r.Data), r.Data[:1])
			}
		}
		out = must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator}))
		if len(out.Records) != 2 || out.Records[0].Data[0] != 'k' {
			t.Fatalf("second call: %d records", len(out.Records))
		}
	})
}

func TestGetRecordsMillisBehindLatest(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		it := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeTrimHorizon, nil)
		out := must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: &it}))
		if out.MillisBehindLatest == nil || *out.MillisBehindLatest != 0 || len(out.Records) != 0 || out.NextShardIterator == nil {
			t.Fatalf("empty shard: %d records, behind %v", len(out.Records), out.MillisBehindLatest)
		}
		for i := range 5 {
			e.put(t, "s", "k", []byte(fmt.Sprint(i)))
		}
		e.clock.Advance(10 * time.Second)
		out = must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator, Limit: aws.Int32(2)}))
		if b := aws.ToInt64(out.MillisBehindLatest); b < 10000 {
			t.Fatalf("2 of 5 records read 10 s late: %d ms behind", b)
		}
		out = must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator}))
		if len(out.Records) != 3 || aws.ToInt64(out.MillisBehindLatest) != 0 {
			t.Fatalf("rest: %d records, %d ms behind", len(out.Records), aws.ToInt64(out.MillisBehindLatest))
		}
		// Records just put are behind by at least 1 ms until read.
		e.put(t, "s", "k", []byte("a"))
		e.put(t, "s", "k", []byte("b"))
		out = must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator, Limit: aws.Int32(1)}))
		if b := aws.ToInt64(out.MillisBehindLatest); b < 1 {
			t.Fatalf("one record left: %d ms behind", b)
		}
	})
}

func TestGetRecordsChaining(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 3)
		want := map[string][]string{}
		for b := range 4 {
			batch := make([]types.PutRecordsRequestEntry, 250)
			for i := range batch {
				batch[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(b*250 + i)), Data: []byte(fmt.Sprint(b*250 + i))}
			}
			out := must[*kinesis.PutRecordsOutput](t)(e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: batch}))
			for _, r := range out.Records {
				want[*r.ShardId] = append(want[*r.ShardId], *r.SequenceNumber)
			}
		}
		total := 0
		for _, sh := range e.shards(t, "s") {
			recs, children := e.drain(t, e.iterator(t, "s", *sh.ShardId, types.ShardIteratorTypeTrimHorizon, nil), 37)
			if children != nil {
				t.Fatalf("open shard %s ended", *sh.ShardId)
			}
			if got := seqs(recs); !slices.Equal(got, want[*sh.ShardId]) {
				t.Fatalf("shard %s: read %d records, want %d in put order", *sh.ShardId, len(got), len(want[*sh.ShardId]))
			}
			total += len(recs)
		}
		if total != 1000 {
			t.Fatalf("read %d records", total)
		}
	})
}

func TestIteratorExpiry(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		e.put(t, "s", "k", []byte("a"))
		it := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeTrimHorizon, nil)
		e.clock.Advance(5*time.Minute - time.Second)
		out := must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: &it}))
		if len(out.Records) != 1 {
			t.Fatalf("%d records", len(out.Records))
		}
		e.clock.Advance(2 * time.Second)
		_, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: &it})
		wantErr[*types.ExpiredIteratorException](t, err)
		// The next iterator was issued later: still good.
		e.put(t, "s", "k", []byte("b"))
		out = must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator}))
		if !slices.Equal(datas(out.Records), []string{"b"}) {
			t.Fatalf("records %q", datas(out.Records))
		}
		e.clock.Advance(time.Hour)
		_, err = e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
		wantErr[*types.ExpiredIteratorException](t, err)
	})
}

func TestGetRecordsBadIterator(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		for _, bad := range []string{"", "garbage", "!!!not base64!!!", "AAAA", base64.StdEncoding.EncodeToString([]byte("s\x00x\x00y"))} {
			_, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(bad)})
			wantErr[*types.InvalidArgumentException](t, err)
		}
	})
}

func TestGetRecordsClosedShard(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 2)
		for i := range 5 {
			e.putEHK(t, "s", "0", []byte(fmt.Sprint("before", i)))
		}
		latest := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeLatest, nil)
		children, err := e.fake.Split("s", shardID(0))
		if err != nil {
			t.Fatal(err)
		}
		e.putEHK(t, "s", "0", []byte("after"))

		recs, kids := e.readShard(t, "s", shardID(0))
		if len(recs) != 5 || string(recs[4].Data) != "before4" {
			t.Fatalf("parent holds %q", datas(recs))
		}
		if len(kids) != 2 {
			t.Fatalf("ChildShards %+v", kids)
		}
		shards := e.shards(t, "s")
		for i, k := range kids {
			if aws.ToString(k.ShardId) != children[i] || !slices.Equal(k.ParentShards, []string{shardID(0)}) {
				t.Fatalf("child %d: %s parents %v", i, aws.ToString(k.ShardId), k.ParentShards)
			}
			for _, sh := range shards {
				if *sh.ShardId == children[i] && (*sh.HashKeyRange.StartingHashKey != *k.HashKeyRange.StartingHashKey || *sh.HashKeyRange.EndingHashKey != *k.HashKeyRange.EndingHashKey) {
					t.Fatalf("child %s range differs from ListShards", children[i])
				}
			}
		}
		// The end comes at once after the last record; MillisBehindLatest 0.
		it := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeAfterSequenceNumber, recs[4].SequenceNumber)
		out := must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: &it}))
		if len(out.Records) != 0 || out.NextShardIterator != nil || len(out.ChildShards) != 2 || aws.ToInt64(out.MillisBehindLatest) != 0 {
			t.Fatalf("after the last record: %d records, next %v, %d children", len(out.Records), out.NextShardIterator != nil, len(out.ChildShards))
		}
		// An iterator taken before the split at LATEST ends too.
		if recs, kids := e.drain(t, latest, 0); len(recs) != 0 || len(kids) != 2 {
			t.Fatalf("LATEST before split: %d records, %d children", len(recs), len(kids))
		}
		// LATEST on a closed shard ends at once.
		if _, kids := e.drain(t, e.iterator(t, "s", shardID(0), types.ShardIteratorTypeLatest, nil), 0); len(kids) != 2 {
			t.Fatalf("LATEST on closed shard: %d children", len(kids))
		}
		// The new record is in the lower child.
		recs, _ = e.readShard(t, "s", children[0])
		if !slices.Equal(datas(recs), []string{"after"}) {
			t.Fatalf("child holds %q", datas(recs))
		}
		// A closed shard without records ends at once as well.
		if _, err := e.fake.Split("s", shardID(1)); err != nil {
			t.Fatal(err)
		}
		if recs, kids := e.readShard(t, "s", shardID(1)); len(recs) != 0 || len(kids) != 2 {
			t.Fatalf("empty closed shard: %d records, %d children", len(recs), len(kids))
		}
	})
}

func TestRetentionTrim(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 2)
		if err := e.fake.SetRetention("s", time.Hour); err != nil {
			t.Fatal(err)
		}
		var old, fresh []string
		for i := range 5 {
			old = append(old, *e.putEHK(t, "s", "0", []byte(fmt.Sprint("old", i))).SequenceNumber)
		}
		e.clock.Advance(58 * time.Minute)
		for i := range 5 {
			fresh = append(fresh, *e.putEHK(t, "s", "0", []byte(fmt.Sprint("new", i))).SequenceNumber)
		}
		held := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeTrimHorizon, nil)
		e.clock.Advance(3 * time.Minute) // old records 61 min old, fresh ones 3
		n, err := e.fake.Trim("s")
		if err != nil || n != 5 {
			t.Fatalf("Trim removed %d (%v), want 5", n, err)
		}
		recs, _ := e.readShard(t, "s", shardID(0))
		if !slices.Equal(seqs(recs), fresh) {
			t.Fatalf("after trim: %q", datas(recs))
		}
		// An iterator taken before the trim skips the trimmed records.
		if recs, _ := e.drain(t, held, 0); !slices.Equal(seqs(recs), fresh) {
			t.Fatalf("old iterator after trim: %q", datas(recs))
		}
		get := func(typ types.ShardIteratorType, seq string) error {
			_, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{
				StreamName: aws.String("s"), ShardId: aws.String(shardID(0)), ShardIteratorType: typ, StartingSequenceNumber: aws.String(seq),
			})
			return err
		}
		for _, seq := range old {
			wantErr[*types.InvalidArgumentException](t, get(types.ShardIteratorTypeAtSequenceNumber, seq))
		}
		for _, seq := range old[:4] {
			wantErr[*types.InvalidArgumentException](t, get(types.ShardIteratorTypeAfterSequenceNumber, seq))
		}
		if err := get(types.ShardIteratorTypeAtSequenceNumber, fresh[0]); err != nil {
			t.Fatal(err)
		}
		if err := get(types.ShardIteratorTypeAfterSequenceNumber, fresh[0]); err != nil {
			t.Fatal(err)
		}

		// A closed shard whose records all passed retention is no longer
		// listed, nor readable.
		if _, err := e.fake.Split("s", shardID(0)); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Hour) // the fresh records are 63 min old; the split exactly 60
		if n, _ := e.fake.Trim("s"); n != 5 {
			t.Fatalf("second trim removed %d", n)
		}
		if got := ids(e.shards(t, "s")); !slices.Equal(got, []string{shardID(0), shardID(1), shardID(2), shardID(3)}) {
			t.Fatalf("closed shard within retention of its closing: %v", got)
		}
		e.clock.Advance(time.Millisecond)
		e.fake.Trim("s")
		if got := ids(e.shards(t, "s")); !slices.Equal(got, []string{shardID(1), shardID(2), shardID(3)}) {
			t.Fatalf("after the closed shard passed retention: %v", got)
		}
		desc := must[*kinesis.DescribeStreamOutput](t)(e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s")}))
		if got := ids(desc.StreamDescription.Shards); !slices.Equal(got, []string{shardID(1), shardID(2), shardID(3)}) {
			t.Fatalf("DescribeStream: %v", got)
		}
		_, err = e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		wantErr[*types.ResourceNotFoundException](t, err)
		// The open shard with no records is still listed.
		if got := aws.ToInt32(e.summary(t, "s").OpenShardCount); got != 3 {
			t.Fatalf("OpenShardCount %d", got)
		}
	})
}

// TestConcurrentPutAndGet puts from many goroutines while others read every
// shard, through one client, and checks every record is read exactly once,
// in sequence order per shard. Run it with -race.
func TestConcurrentPutAndGet(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		const (
			shards  = 4
			writers = 8
			perW    = 80
			total   = writers * perW
		)
		e.createStream(t, "s", shards)
		var (
			writing, reading sync.WaitGroup
			mu               sync.Mutex
			putSeqs          = map[string]string{} // sequence number -> data
			readSeqs         = map[string]string{}
			errs             = make(chan error, writers+shards)
			writersDone      = make(chan struct{})
			progress         = make([]chan struct{}, shards) // a reader's wake-up call
		)
		for i := range progress {
			progress[i] = make(chan struct{}, 1)
		}
		signal := func() {
			for _, p := range progress {
				select {
				case p <- struct{}{}:
				default:
				}
			}
		}
		for w := range writers {
			writing.Add(1)
			go func() {
				defer writing.Done()
				for i := 0; i < perW; {
					if i%3 == 0 {
						data := fmt.Sprintf("w%d-%d", w, i)
						out, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String(data), Data: []byte(data)})
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						putSeqs[*out.SequenceNumber] = data
						mu.Unlock()
						signal()
						i++
						continue
					}
					batch := make([]types.PutRecordsRequestEntry, 0, 2)
					for range 2 {
						if i == perW {
							break
						}
						data := fmt.Sprintf("w%d-%d", w, i)
						batch = append(batch, types.PutRecordsRequestEntry{PartitionKey: aws.String(data), Data: []byte(data)})
						i++
					}
					out, err := e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: batch})
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for j, r := range out.Records {
						putSeqs[*r.SequenceNumber] = string(batch[j].Data)
					}
					mu.Unlock()
					signal()
				}
			}()
		}
		for s := range shards {
			reading.Add(1)
			go func() {
				defer reading.Done()
				it, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shardID(s)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
				if err != nil {
					errs <- err
					return
				}
				next := it.ShardIterator
				var last string
				for {
					finished := false
					select {
					case <-writersDone:
						finished = true // every record is in: an empty read is the end
					default:
					}
					out, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: next, Limit: aws.Int32(25)})
					if err != nil {
						errs <- err
						return
					}
					for _, r := range out.Records {
						if *r.SequenceNumber <= last {
							errs <- fmt.Errorf("shard %d: %s after %s", s, *r.SequenceNumber, last)
							return
						}
						last = *r.SequenceNumber
						mu.Lock()
						_, dup := readSeqs[last]
						readSeqs[last] = string(r.Data)
						mu.Unlock()
						if dup {
							errs <- fmt.Errorf("read %s twice", last)
							return
						}
					}
					next = out.NextShardIterator
					if len(out.Records) == 0 {
						if finished {
							return
						}
						select {
						case <-progress[s]:
						case <-writersDone:
						}
					}
				}
			}()
		}
		writing.Wait()
		close(writersDone)
		reading.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(putSeqs) != total || len(readSeqs) != total {
			t.Fatalf("put %d, read %d, want %d", len(putSeqs), len(readSeqs), total)
		}
		for seq, data := range putSeqs {
			if readSeqs[seq] != data {
				t.Fatalf("%s: put %q, read %q", seq, data, readSeqs[seq])
			}
		}
	})
}

// TestSequenceNumbersNameTheirStream: a sequence number belongs to its
// stream. Another stream's, even from the shard of the same index and at the
// same place, is InvalidArgumentException ("did not come from this stream"),
// and so is one of a deleted stream, once a stream of the same name is
// created again.
func TestSequenceNumbersNameTheirStream(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "a", 2)
		e.createStream(t, "b", 2)
		seqA := e.putEHK(t, "a", "0", []byte("a")).SequenceNumber
		seqB := e.putEHK(t, "b", "0", []byte("b")).SequenceNumber
		startA := e.shards(t, "a")[0].SequenceNumberRange.StartingSequenceNumber
		get := func(stream string, typ types.ShardIteratorType, seq *string) error {
			_, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{
				StreamName: aws.String(stream), ShardId: aws.String(shardID(0)), ShardIteratorType: typ, StartingSequenceNumber: seq,
			})
			return err
		}
		for _, typ := range []types.ShardIteratorType{types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber} {
			if err := get("a", typ, seqA); err != nil {
				t.Fatal(err)
			}
			if err := get("b", typ, seqB); err != nil {
				t.Fatal(err)
			}
			wantErr[*types.InvalidArgumentException](t, get("b", typ, seqA))
			wantErr[*types.InvalidArgumentException](t, get("a", typ, seqB))
			wantErr[*types.InvalidArgumentException](t, get("b", typ, startA))
		}

		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("a")}); err != nil {
			t.Fatal(err)
		}
		e.createStream(t, "a", 2)
		seqA2 := e.putEHK(t, "a", "0", []byte("a2")).SequenceNumber
		wantErr[*types.InvalidArgumentException](t, get("a", types.ShardIteratorTypeAtSequenceNumber, seqA))
		wantErr[*types.InvalidArgumentException](t, get("a", types.ShardIteratorTypeAfterSequenceNumber, seqA))
		recs, _ := e.drain(t, e.iterator(t, "a", shardID(0), types.ShardIteratorTypeAtSequenceNumber, seqA2), 0)
		if !slices.Equal(datas(recs), []string{"a2"}) {
			t.Fatalf("AT_SEQUENCE_NUMBER of the new stream's record read %q", datas(recs))
		}
		for _, s := range []*string{seqA, seqB, seqA2, startA} {
			if len(*s) != 56 {
				t.Fatalf("sequence number %s has %d digits, want 56", *s, len(*s))
			}
		}
		if *seqA == *seqB || *seqA == *seqA2 {
			t.Fatalf("two streams share sequence number %s", *seqA)
		}
	})
}

// TestGetShardIteratorParameterMismatch: a StartingSequenceNumber goes with
// AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER only, a Timestamp with
// AT_TIMESTAMP only; anything else is InvalidArgumentException, as on the
// service ("Must either specify (1) AT_SEQUENCE_NUMBER or
// AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or
// LATEST and no StartingSequenceNumber ...").
func TestGetShardIteratorParameterMismatch(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		seq := e.put(t, "s", "k", []byte("x")).SequenceNumber
		ts := aws.Time(e.clock.Now())
		get := func(typ types.ShardIteratorType, seq *string, ts *time.Time) error {
			_, err := e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{
				StreamName: aws.String("s"), ShardId: aws.String(shardID(0)), ShardIteratorType: typ, StartingSequenceNumber: seq, Timestamp: ts,
			})
			return err
		}
		for _, c := range []struct {
			typ     types.ShardIteratorType
			seq     *string
			ts      *time.Time
			wantErr bool
		}{
			{types.ShardIteratorTypeTrimHorizon, nil, nil, false},
			{types.ShardIteratorTypeLatest, nil, nil, false},
			{types.ShardIteratorTypeAtSequenceNumber, seq, nil, false},
			{types.ShardIteratorTypeAfterSequenceNumber, seq, nil, false},
			{types.ShardIteratorTypeAtTimestamp, nil, ts, false},

			{types.ShardIteratorTypeTrimHorizon, seq, nil, true},
			{types.ShardIteratorTypeLatest, seq, nil, true},
			{types.ShardIteratorTypeAtTimestamp, seq, ts, true},
			{types.ShardIteratorTypeAtTimestamp, seq, nil, true},
			{types.ShardIteratorTypeTrimHorizon, nil, ts, true},
			{types.ShardIteratorTypeLatest, nil, ts, true},
			{types.ShardIteratorTypeAtSequenceNumber, seq, ts, true},
			{types.ShardIteratorTypeAfterSequenceNumber, seq, ts, true},
			{types.ShardIteratorTypeAtSequenceNumber, nil, ts, true},
		} {
			err := get(c.typ, c.seq, c.ts)
			what := fmt.Sprintf("%s with StartingSequenceNumber %t, Timestamp %t", c.typ, c.seq != nil, c.ts != nil)
			switch {
			case !c.wantErr && err != nil:
				t.Errorf("%s: %v", what, err)
			case c.wantErr:
				var ia *types.InvalidArgumentException
				if !errors.As(err, &ia) {
					t.Errorf("%s: %v, want InvalidArgumentException", what, err)
				}
			}
		}
	})
}
