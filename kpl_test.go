package kinesin_test

// KPL aggregated records through kinesin, in both modes: user records
// delivered one by one with their keys and sub-sequence numbers, corrupt
// aggregates delivered as they are, deaggregation turned off, checkpoints at
// sub-sequence granularity across a restart inside an aggregate, and the
// hash key range check of the reference consumer after a split.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/internal/kpl"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// userRec is a delivered record as the KPL tests compare it.
type userRec struct {
	Seq  string
	Sub  int64
	PK   string
	EHK  string
	Data string
}

func (u userRec) String() string {
	return fmt.Sprintf("%s/%d pk=%q ehk=%q data=%q", u.Seq, u.Sub, u.PK, u.EHK, u.Data)
}

func userRecOf(r *kinesin.Record[[]byte]) userRec {
	return userRec{Seq: r.SequenceNumber, Sub: r.SubSequenceNumber, PK: r.PartitionKey, EHK: r.ExplicitHashKey, Data: string(r.Data)}
}

// kplVectors are the cases of testdata made by an independent producer (npm
// aws-kinesis-agg).
type kplVector struct {
	Name     string  `json:"name"`
	Valid    bool    `json:"valid"`
	PK       string  `json:"recordPartitionKey"`
	EHK      *string `json:"recordExplicitHashKey"`
	Data     []byte  `json:"data"`
	Expected []struct {
		PK   string  `json:"partitionKey"`
		EHK  *string `json:"explicitHashKey"`
		Data []byte  `json:"data"`
		Sub  int64   `json:"subSequenceNumber"`
	} `json:"expected"`
}

func loadVectors(t *testing.T) []kplVector {
	t.Helper()
	b, err := os.ReadFile("internal/kpl/testdata/kpl-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct{ Cases []kplVector }
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) == 0 {
		t.Fatal("no KPL vectors")
	}
	return file.Cases
}

// quiet checks that ch delivers nothing more for a moment.
func quiet[T any](t *testing.T, ch <-chan *kinesin.Record[T], d time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("unexpected record %s/%d", r.SequenceNumber, r.SubSequenceNumber)
	case <-time.After(d):
	}
}

func compareUserRecs(t *testing.T, got, want []userRec) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d records delivered, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("record %d is\n\t%v, want\n\t%v", i, got[i], want[i])
		}
	}
}

// Every vector of the independent producer, put as one Kinesis record, is
// delivered as its user records (partition key, explicit hash key, the
// Kinesis record's sequence number, sub-sequence number, data), or, when
// corrupt (bad MD5, truncated, wrong magic, magic only), as the one plain
// record it is. An aggregate put by kinesistest.PutAggregated, a plain record
// and a record that merely starts with the magic follow. Committing them all
// checkpoints the last Kinesis record whole.
func TestKPLDeaggregation(t *testing.T) {
	eachModeParallel(t, testKPLDeaggregation)
}

func testKPLDeaggregation(t *testing.T, m mode) {
	fake := m.NewFake(t, 1)
	var want []userRec
	var last string
	for _, v := range loadVectors(t) {
		var res kinesistest.PutResult
		var err error
		if v.EHK != nil {
			res, err = fake.PutWithHashKey(testStream, v.PK, *v.EHK, v.Data)
		} else {
			res, err = fake.Put(testStream, v.PK, v.Data)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !v.Valid {
			want = append(want, userRec{Seq: res.SequenceNumber, PK: v.PK, Data: string(v.Data)})
			continue
		}
		for _, e := range v.Expected {
			u := userRec{Seq: res.SequenceNumber, Sub: e.Sub, PK: e.PK, Data: string(e.Data)}
			if e.EHK != nil {
				u.EHK = *e.EHK
			}
			want = append(want, u)
		}
	}
	agg := []kinesistest.UserRecord{
		{PartitionKey: "k1", Data: []byte("first")},
		{PartitionKey: "k2", ExplicitHashKey: "12345678901234567890", Data: []byte("second")},
		{PartitionKey: "k1", Data: []byte("third")},
	}
	res, err := fake.PutAggregated(testStream, agg)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range agg {
		want = append(want, userRec{Seq: res.SequenceNumber, Sub: int64(i), PK: u.PartitionKey, EHK: u.ExplicitHashKey, Data: string(u.Data)})
	}
	for _, raw := range [][]byte{[]byte("plain"), append([]byte(kpl.Magic), "not protobuf, and no digest"...)} {
		res, err := fake.Put(testStream, "plain-pk", raw)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, userRec{Seq: res.SequenceNumber, PK: "plain-pk", Data: string(raw)})
		last = res.SequenceNumber
	}

	store := memcheckpoint.New()
	ctx := testCtx(t, 20*time.Second)
	st := openStream(t, m, ctx, fake, kinesin.Bytes, kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))
	ch := st.Chan()
	recs := takeN(t, ch, len(want), 10*time.Second)
	got := make([]userRec, len(recs))
	for i, r := range recs {
		got[i] = userRecOf(r)
		if r.Err() != nil || !bytes.Equal(r.Value, r.Data) {
			t.Errorf("record %d: Value %q, Err %v", i, r.Value, r.Err())
		}
		r.Commit()
	}
	compareUserRecs(t, got, want)
	quiet(t, ch, 50*time.Millisecond)
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cp := load(t, store)["shardId-000000000000"]; cp != checkpoint.At(last) {
		t.Errorf("checkpoint %v, want the last record %s, whole", cp, last)
	}
}

// With WithDeaggregation(false) an aggregate is delivered as the Kinesis record
// it is.
func TestKPLDeaggregationOff(t *testing.T) {
	eachModeParallel(t, testKPLDeaggregationOff)
}

func testKPLDeaggregationOff(t *testing.T, m mode) {
	fake := m.NewFake(t, 1)
	data, err := kpl.Aggregate([]kpl.Record{{PartitionKey: "a", Data: []byte("one")}, {PartitionKey: "b", Data: []byte("two")}})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := fake.Put(testStream, "outer", data)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := fake.PutAggregated(testStream, []kinesistest.UserRecord{{PartitionKey: "c", Data: []byte("three")}, {PartitionKey: "d", Data: []byte("four")}})
	if err != nil {
		t.Fatal(err)
	}
	st := openStream(t, m, testCtx(t, 20*time.Second), fake, kinesin.Bytes, kinesin.WithDeaggregation(false))
	ch := st.Chan()
	recs := takeN(t, ch, 2, 10*time.Second)
	if got, want := userRecOf(recs[0]), (userRec{Seq: r1.SequenceNumber, PK: "outer", Data: string(data)}); got != want {
		t.Errorf("first record %v, want the aggregate whole: %v", got, want)
	}
	got := userRecOf(recs[1])
	subs, ok := kpl.Deaggregate(recs[1].Data)
	if got.Seq != r2.SequenceNumber || got.Sub != 0 || got.PK != "c" || !ok || len(subs) != 2 || string(subs[1].Data) != "four" {
		t.Errorf("second record %v, want the aggregate of PutAggregated whole", got)
	}
	quiet(t, ch, 50*time.Millisecond)
}

// A process that committed the first k user records of an aggregate (and
// none after), flushed, and died, resumes at user record k+1 of that
// aggregate: nothing committed is delivered again, nothing is skipped. When
// it committed them all, the checkpoint is the whole record and the restart
// starts after it.
func TestKPLRestartInsideAggregate(t *testing.T) {
	eachModeParallel(t, testKPLRestartInsideAggregate)
}

func testKPLRestartInsideAggregate(t *testing.T, m mode) {
	for _, k := range []int{1, 4, 9, 10} {
		t.Run(fmt.Sprintf("committed %d of 10", k), func(t *testing.T) {
			t.Parallel()
			fake := m.NewFake(t, 1)
			const id = "shardId-000000000000"
			// A plain record, the aggregate A of 10, an aggregate B of 3,
			// a plain record.
			var all []userRec
			put := func(res kinesistest.PutResult, err error, recs ...kinesistest.UserRecord) string {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				for i, u := range recs {
					all = append(all, userRec{Seq: res.SequenceNumber, Sub: int64(i), PK: u.PartitionKey, EHK: u.ExplicitHashKey, Data: string(u.Data)})
				}
				return res.SequenceNumber
			}
			userRecs := func(prefix string, n int) []kinesistest.UserRecord {
				var out []kinesistest.UserRecord
				for i := range n {
					out = append(out, kinesistest.UserRecord{PartitionKey: fmt.Sprintf("%s-pk%d", prefix, i%3), Data: []byte(fmt.Sprintf("%s%d", prefix, i))})
				}
				return out
			}
			p0, err := fake.Put(testStream, "p", []byte("p0"))
			put(p0, err, kinesistest.UserRecord{PartitionKey: "p", Data: []byte("p0")})
			aRecs := userRecs("a", 10)
			aRes, err := fake.PutAggregated(testStream, aRecs)
			seqA := put(aRes, err, aRecs...)
			bRecs := userRecs("b", 3)
			bRes, err := fake.PutAggregated(testStream, bRecs)
			put(bRes, err, bRecs...)
			p1, err := fake.Put(testStream, "p", []byte("p1"))
			put(p1, err, kinesistest.UserRecord{PartitionKey: "p", Data: []byte("p1")})

			// First run: commit p0 and the first k of A, in reverse order.
			store := memcheckpoint.New()
			ctx, crash := context.WithCancel(context.Background())
			defer crash()
			st, err := kinesin.Open(ctx, testStream, kinesin.Bytes, append(m.Options(), kinesin.WithClient(fake.Client()), kinesin.WithApp(kinesin.DefaultApp),
				kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))...)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			recs := takeN(t, st.Chan(), len(all), 10*time.Second)
			for i := k; i >= 0; i-- {
				recs[i].Commit()
			}
			if err := st.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			wantCP := checkpoint.AtSub(seqA, int64(k-1))
			if k == len(aRecs) {
				wantCP = checkpoint.At(seqA)
			}
			if cp := load(t, store)[id]; cp != wantCP {
				t.Fatalf("checkpoint %v after committing %d of A's user records, want %v", cp, k, wantCP)
			}
			crash() // no Close: nothing more is written
			snapshot := copyStore(t, store)

			// Second run on what was written.
			sp := &spy{Client: fake.Client()}
			before := len(m.Starts(fake, sp, id))
			st2 := openNamed(t, m, testCtx(t, 20*time.Second), testStream, sp, kinesin.Bytes, kinesin.WithCheckpointer(snapshot))
			ch := st2.Chan()
			rest := all[1+k:]
			recs2 := takeN(t, ch, len(rest), 10*time.Second)
			got := make([]userRec, len(recs2))
			for i, r := range recs2 {
				got[i] = userRecOf(r)
			}
			compareUserRecs(t, got, rest)
			quiet(t, ch, 50*time.Millisecond)
			wantStart := "AT_SEQUENCE_NUMBER"
			if k == len(aRecs) {
				wantStart = "AFTER_SEQUENCE_NUMBER"
			}
			if starts := m.Starts(fake, sp, id)[before:]; len(starts) == 0 || starts[0] != wantStart {
				t.Errorf("the restart read from %v, want %s", starts, wantStart)
			}
		})
	}
}

// After a split, a KPL aggregate written to a child by its first user
// record's explicit hash key may hold user records whose keys belong to the
// other child. As the reference consumer (the KCL's deaggregation) does, such
// an aggregate is dropped whole, wherever its first user record outside the
// shard's range is; aggregates inside the range, and records after a dropped
// one, are delivered and checkpointed as usual.
func TestKPLHashRangeDrop(t *testing.T) {
	eachModeParallel(t, testKPLHashRangeDrop)
}

func testKPLHashRangeDrop(t *testing.T, m mode) {
	fake := m.NewFake(t, 1)
	kids, err := fake.Split(testStream, "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	lower, upper := shardByID(mustShards(t, fake), kids[0]), shardByID(mustShards(t, fake), kids[1])
	in, out := lower.StartingHashKey, upper.StartingHashKey // in and out of the lower child
	aggregate := func(ehks ...string) []byte {
		var recs []kpl.Record
		for i, ehk := range ehks {
			recs = append(recs, kpl.Record{PartitionKey: fmt.Sprintf("pk%d", i), ExplicitHashKey: ehk, Data: []byte(fmt.Sprintf("u%d", i))})
		}
		data, err := kpl.Aggregate(recs)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	putLower := func(data []byte) string {
		res, err := fake.PutWithHashKey(testStream, "outer", in, data)
		if err != nil {
			t.Fatal(err)
		}
		if res.ShardID != lower.ID {
			t.Fatalf("record went to %s, not %s", res.ShardID, lower.ID)
		}
		return res.SequenceNumber
	}
	// Outside from the third user record on, or from the first: dropped.
	putLower(aggregate(in, "1", out, "2"))
	putLower(aggregate(out, in))
	// Inside: kept.
	seqIn := putLower(aggregate(in, "1"))
	// Outside at the last user record only: dropped.
	putLower(aggregate(in, in, out))
	seqPlain := putLower([]byte("plain"))
	want := []userRec{
		{Seq: seqIn, Sub: 0, PK: "pk0", EHK: in, Data: "u0"},
		{Seq: seqIn, Sub: 1, PK: "pk1", EHK: "1", Data: "u1"},
		{Seq: seqPlain, PK: "outer", Data: "plain"},
	}

	store := memcheckpoint.New()
	ctx := testCtx(t, 20*time.Second)
	st := openStream(t, m, ctx, fake, kinesin.Bytes, kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))
	ch := st.Chan()
	recs := takeN(t, ch, len(want), 10*time.Second)
	got := make([]userRec, len(recs))
	for i, r := range recs {
		got[i] = userRecOf(r)
		if r.ShardID != lower.ID {
			t.Errorf("record %d read from %s", i, r.ShardID)
		}
	}
	compareUserRecs(t, got, want)
	quiet(t, ch, 50*time.Millisecond)
	// The aggregates dropped before it hold the checkpoint back no more than
	// records delivered and committed would.
	recs[0].Commit()
	recs[1].Commit()
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cp := load(t, store)[lower.ID]; cp != checkpoint.At(seqIn) {
		t.Errorf("checkpoint %v after both user records of the aggregate kept, want %s whole", cp, seqIn)
	}
	recs[2].Commit()
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cp := load(t, store)[lower.ID]; cp != checkpoint.At(seqPlain) {
		t.Errorf("checkpoint %v, want %s", cp, seqPlain)
	}
}
