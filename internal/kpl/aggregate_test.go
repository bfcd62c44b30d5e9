package kpl

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// testAggregate is the result of decoding an aggregated record with the
// test-only decoder below.
type testAggregate struct {
	pkTable  []string
	ehkTable []string
	records  []Record
	// hasEHKIndex[i] reports whether records[i] carried an
	// explicit_hash_key_index field.
	hasEHKIndex []bool
}

// decodeForTest is a minimal, strict decoder of the KPL aggregated format,
// written independently of Aggregate and of Deaggregate so they can check
// each other (FuzzDeaggregate compares Deaggregate with it). It is a test
// helper only; the real decoder is Deaggregate.
func decodeForTest(b []byte) (*testAggregate, error) {
	if len(b) < len(Magic)+md5.Size {
		return nil, fmt.Errorf("too short: %d bytes", len(b))
	}
	if string(b[:len(Magic)]) != Magic {
		return nil, errors.New("wrong magic")
	}
	body := b[len(Magic) : len(b)-md5.Size]
	if sum := md5.Sum(body); !bytes.Equal(sum[:], b[len(b)-md5.Size:]) {
		return nil, errors.New("bad md5")
	}

	type rawRecord struct {
		pk, ehk       uint64
		hasPK, hasEHK bool
		data          []byte
		hasData       bool
	}
	agg := &testAggregate{}
	var raws []rawRecord
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		body = body[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(body)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			agg.pkTable = append(agg.pkTable, v)
			body = body[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(body)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			agg.ehkTable = append(agg.ehkTable, v)
			body = body[n:]
		case num == 3 && typ == protowire.BytesType:
			msg, n := protowire.ConsumeBytes(body)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			body = body[n:]
			var r rawRecord
			for len(msg) > 0 {
				num, typ, n := protowire.ConsumeTag(msg)
				if n < 0 {
					return nil, protowire.ParseError(n)
				}
				msg = msg[n:]
				switch {
				case num == 1 && typ == protowire.VarintType:
					r.pk, n = protowire.ConsumeVarint(msg)
					r.hasPK = true
				case num == 2 && typ == protowire.VarintType:
					r.ehk, n = protowire.ConsumeVarint(msg)
					r.hasEHK = true
				case num == 3 && typ == protowire.BytesType:
					r.data, n = protowire.ConsumeBytes(msg)
					r.hasData = true
				case num == 4 && typ == protowire.BytesType:
					var tag []byte
					tag, n = protowire.ConsumeBytes(msg)
					if n >= 0 {
						if err := checkTagForTest(tag); err != nil {
							return nil, fmt.Errorf("record %d: %w", len(raws), err)
						}
					}
				default: // unknown fields
					n = protowire.ConsumeFieldValue(num, typ, msg)
				}
				if n < 0 {
					return nil, protowire.ParseError(n)
				}
				msg = msg[n:]
			}
			if !r.hasPK || !r.hasData {
				return nil, fmt.Errorf("record %d misses a required field", len(raws))
			}
			raws = append(raws, r)
		default:
			n := protowire.ConsumeFieldValue(num, typ, body)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			body = body[n:]
		}
	}
	for i, r := range raws {
		if r.pk >= uint64(len(agg.pkTable)) {
			return nil, fmt.Errorf("record %d: partition key index %d out of range", i, r.pk)
		}
		rec := Record{PartitionKey: agg.pkTable[r.pk], Data: r.data}
		if r.hasEHK {
			if r.ehk >= uint64(len(agg.ehkTable)) {
				return nil, fmt.Errorf("record %d: explicit hash key index %d out of range", i, r.ehk)
			}
			rec.ExplicitHashKey = agg.ehkTable[r.ehk]
		}
		agg.records = append(agg.records, rec)
		agg.hasEHKIndex = append(agg.hasEHKIndex, r.hasEHK)
	}
	if len(agg.records) == 0 {
		return nil, errors.New("no records")
	}
	return agg, nil
}

// checkTagForTest checks that msg is a Tag message with its required key.
func checkTagForTest(msg []byte) error {
	hasKey := false
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
		if num == 1 && typ == protowire.BytesType {
			hasKey = true
		}
		if n = protowire.ConsumeFieldValue(num, typ, msg); n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
	}
	if !hasKey {
		return errors.New("tag without key")
	}
	return nil
}

// topLevelFields returns the field numbers of the AggregatedRecord message
// in b (an aggregated record), in wire order.
func topLevelFields(t *testing.T, b []byte) []protowire.Number {
	t.Helper()
	body := b[len(Magic) : len(b)-md5.Size]
	var nums []protowire.Number
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			t.Fatalf("parse tag: %v", protowire.ParseError(n))
		}
		body = body[n:]
		n = protowire.ConsumeFieldValue(num, typ, body)
		if n < 0 {
			t.Fatalf("parse field %d: %v", num, protowire.ParseError(n))
		}
		body = body[n:]
		nums = append(nums, num)
	}
	return nums
}

func recordsEqual(a, b []Record) bool {
	return slices.EqualFunc(a, b, func(x, y Record) bool {
		return x.PartitionKey == y.PartitionKey &&
			x.ExplicitHashKey == y.ExplicitHashKey &&
			bytes.Equal(x.Data, y.Data)
	})
}

type vectorFile struct {
	Generator string       `json:"generator"`
	Cases     []vectorCase `json:"cases"`
}

type vectorCase struct {
	Name                  string  `json:"name"`
	Valid                 bool    `json:"valid"`
	RecordPartitionKey    string  `json:"recordPartitionKey"`
	RecordExplicitHashKey *string `json:"recordExplicitHashKey"`
	Data                  []byte  `json:"data"`
	Expected              []struct {
		PartitionKey      string  `json:"partitionKey"`
		ExplicitHashKey   *string `json:"explicitHashKey"`
		Data              []byte  `json:"data"`
		SubSequenceNumber int     `json:"subSequenceNumber"`
	} `json:"expected"`
}

func (c vectorCase) expectedRecords(t testing.TB) []Record {
	t.Helper()
	recs := make([]Record, len(c.Expected))
	for i, e := range c.Expected {
		if e.SubSequenceNumber != i {
			t.Fatalf("expected[%d] has sub-sequence number %d", i, e.SubSequenceNumber)
		}
		recs[i] = Record{PartitionKey: e.PartitionKey, Data: e.Data}
		if e.ExplicitHashKey != nil {
			if *e.ExplicitHashKey == "" {
				t.Fatalf("expected[%d] has an empty explicit hash key", i)
			}
			recs[i].ExplicitHashKey = *e.ExplicitHashKey
		}
	}
	return recs
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/kpl-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Cases) == 0 {
		t.Fatal("no vectors")
	}
	return vf
}

func TestVectors(t *testing.T) {
	vf := loadVectors(t)
	valid, identical := 0, 0
	for _, c := range vf.Cases {
		t.Run(c.Name, func(t *testing.T) {
			want := c.expectedRecords(t)
			if !c.Valid {
				// Not an aggregate: the record is delivered unchanged, as
				// one plain record.
				if _, err := decodeForTest(c.Data); err == nil {
					t.Errorf("test decoder accepted an invalid vector")
				}
				if len(want) != 1 || !bytes.Equal(want[0].Data, c.Data) || want[0].PartitionKey != c.RecordPartitionKey {
					t.Errorf("invalid vector does not expect its record unchanged")
				}
				return
			}
			valid++

			got, err := decodeForTest(c.Data)
			if err != nil {
				t.Fatalf("decode vector: %v", err)
			}
			if !recordsEqual(got.records, want) {
				t.Fatalf("vector decodes to %+v, want %+v", got.records, want)
			}

			agg, err := Aggregate(want)
			if err != nil {
				t.Fatalf("Aggregate: %v", err)
			}
			round, err := decodeForTest(agg)
			if err != nil {
				t.Fatalf("decode Aggregate output: %v", err)
			}
			if !recordsEqual(round.records, want) {
				t.Fatalf("Aggregate output decodes to %+v, want %+v", round.records, want)
			}
			if !slices.Equal(round.pkTable, got.pkTable) || !slices.Equal(round.ehkTable, got.ehkTable) {
				t.Logf("key tables differ from %s: got %q/%q, vector %q/%q",
					vf.Generator, round.pkTable, round.ehkTable, got.pkTable, got.ehkTable)
			}
			// Every vector was made with keys in first-seen order, the
			// order Aggregate uses, so the bytes must match exactly.
			if bytes.Equal(agg, c.Data) {
				identical++
			} else {
				t.Errorf("Aggregate output (%d bytes) differs from the %s vector (%d bytes)",
					len(agg), vf.Generator, len(c.Data))
			}
		})
	}
	t.Logf("%d of %d valid vectors from %s are byte-identical to Aggregate output", identical, valid, vf.Generator)
	if valid == 0 {
		t.Error("no valid vectors")
	}
}

func TestAggregateMagicAndDigest(t *testing.T) {
	b, err := Aggregate([]Record{{PartitionKey: "k", Data: []byte("hello")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(Magic) != 4 || Magic != "\xF3\x89\x9A\xC2" {
		t.Fatalf("Magic = % X", Magic)
	}
	if !bytes.HasPrefix(b, []byte{0xF3, 0x89, 0x9A, 0xC2}) {
		t.Fatalf("output starts with % X, want magic", b[:min(len(b), 4)])
	}
	body := b[4 : len(b)-16]
	sum := md5.Sum(body)
	if !bytes.Equal(b[len(b)-16:], sum[:]) {
		t.Fatalf("trailer % X, want MD5 of body % X", b[len(b)-16:], sum)
	}
	if DigestSize != 16 {
		t.Fatalf("DigestSize = %d", DigestSize)
	}
	// Any corruption of the body must break the digest.
	bad := bytes.Clone(b)
	bad[5] ^= 0xFF
	if _, err := decodeForTest(bad); err == nil {
		t.Fatal("corrupted output still decodes")
	}
}

func TestAggregateExplicitHashKeyTable(t *testing.T) {
	t.Run("absent", func(t *testing.T) {
		b, err := Aggregate([]Record{
			{PartitionKey: "a", Data: []byte("1")},
			{PartitionKey: "b", Data: []byte("2")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(topLevelFields(t, b), 2) {
			t.Fatal("explicit hash key table present although no record has an explicit hash key")
		}
		got, err := decodeForTest(b)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(got.hasEHKIndex, true) {
			t.Fatal("explicit_hash_key_index written for a record without an explicit hash key")
		}
	})
	t.Run("present", func(t *testing.T) {
		recs := []Record{
			{PartitionKey: "a", Data: []byte("1")},
			{PartitionKey: "a", ExplicitHashKey: "42", Data: []byte("2")},
			{PartitionKey: "b", ExplicitHashKey: "7", Data: []byte("3")},
			{PartitionKey: "c", ExplicitHashKey: "42", Data: []byte("4")},
		}
		b, err := Aggregate(recs)
		if err != nil {
			t.Fatal(err)
		}
		wantFields := []protowire.Number{1, 1, 1, 2, 2, 3, 3, 3, 3}
		if f := topLevelFields(t, b); !slices.Equal(f, wantFields) {
			t.Fatalf("top-level fields %v, want %v", f, wantFields)
		}
		got, err := decodeForTest(b)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.ehkTable, []string{"42", "7"}) {
			t.Fatalf("explicit hash key table %q", got.ehkTable)
		}
		if !slices.Equal(got.hasEHKIndex, []bool{false, true, true, true}) {
			t.Fatalf("explicit_hash_key_index presence %v", got.hasEHKIndex)
		}
		if !recordsEqual(got.records, recs) {
			t.Fatalf("decoded %+v, want %+v", got.records, recs)
		}
	})
}

func TestAggregateDeduplicatesKeysInFirstSeenOrder(t *testing.T) {
	recs := []Record{
		{PartitionKey: "z", Data: []byte("1")},
		{PartitionKey: "a", Data: nil},
		{PartitionKey: "z", Data: []byte{}},
		{PartitionKey: "m", Data: []byte("4")},
		{PartitionKey: "a", Data: []byte("5")},
	}
	b, err := Aggregate(recs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeForTest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.pkTable, []string{"z", "a", "m"}) {
		t.Fatalf("partition key table %q, want [z a m]", got.pkTable)
	}
	if !recordsEqual(got.records, recs) {
		t.Fatalf("decoded %+v, want %+v", got.records, recs)
	}
}

func TestAggregateEmpty(t *testing.T) {
	for _, recs := range [][]Record{nil, {}} {
		b, err := Aggregate(recs)
		if !errors.Is(err, ErrNoRecords) {
			t.Errorf("Aggregate(%#v) error = %v, want ErrNoRecords", recs, err)
		}
		if b != nil {
			t.Errorf("Aggregate(%#v) = % X, want nil", recs, b)
		}
	}
}

func BenchmarkAggregate(b *testing.B) {
	recs := make([]Record, 100)
	for i := range recs {
		data := bytes.Repeat([]byte{byte(i)}, 100)
		recs[i] = Record{PartitionKey: fmt.Sprintf("partition-%d", i%10), Data: data}
	}
	b.ReportAllocs()
	b.SetBytes(100 * 100)
	for b.Loop() {
		if _, err := Aggregate(recs); err != nil {
			b.Fatal(err)
		}
	}
}
