package kpl

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// pb builds protobuf messages field by field, for hand-made aggregates.
type pb []byte

func (b pb) str(num protowire.Number, s string) pb {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func (b pb) bytes(num protowire.Number, v []byte) pb {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func (b pb) msg(num protowire.Number, m pb) pb { return b.bytes(num, m) }

func (b pb) varint(num protowire.Number, v uint64) pb {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// raw appends bytes as they are, for malformed encodings.
func (b pb) raw(v ...byte) pb { return append(b, v...) }

// seal frames body as an aggregated record: magic, body, MD5 of body.
func seal(body []byte) []byte {
	sum := md5.Sum(body)
	out := append([]byte(Magic), body...)
	return append(out, sum[:]...)
}

// rec is a well-formed Record message with a partition key index and data.
func rec(pk uint64, data string) pb {
	return pb{}.varint(1, pk).str(3, data)
}

// deliver is what a consumer does with the data of one Kinesis record:
// deaggregate it, or deliver it unchanged as one plain record.
func deliver(partitionKey string, data []byte) []Record {
	if recs, ok := Deaggregate(data); ok {
		return recs
	}
	return []Record{{PartitionKey: partitionKey, Data: data}}
}

func TestDeaggregateVectors(t *testing.T) {
	vf := loadVectors(t)
	for _, c := range vf.Cases {
		t.Run(c.Name, func(t *testing.T) {
			want := c.expectedRecords(t) // index i has sub-sequence number i
			got, ok := Deaggregate(c.Data)
			if ok != c.Valid {
				t.Fatalf("Deaggregate ok = %v, want %v", ok, c.Valid)
			}
			if ok && !recordsEqual(got, want) {
				t.Fatalf("Deaggregate = %+v, want %+v", got, want)
			}
			if !ok && got != nil {
				t.Fatalf("Deaggregate returned %d records with ok = false", len(got))
			}
			// Either way, what the consumer delivers is exactly the
			// expected records: invalid vectors pass through unchanged.
			if d := deliver(c.RecordPartitionKey, c.Data); !recordsEqual(d, want) {
				t.Fatalf("delivered %+v, want %+v", d, want)
			}
		})
	}
}

func TestDeaggregateRoundTrip(t *testing.T) {
	many := func(n, keys int, ehk bool) []Record {
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{
				PartitionKey: fmt.Sprintf("key-%d", i%keys),
				Data:         bytes.Repeat([]byte{byte(i)}, i%7),
			}
			if ehk && i%3 == 0 {
				recs[i].ExplicitHashKey = fmt.Sprint(uint64(i) * 1_000_000_007)
			}
		}
		return recs
	}
	cases := map[string][]Record{
		"one":             {{PartitionKey: "k", Data: []byte("v")}},
		"empty key":       {{PartitionKey: "", Data: []byte("v")}},
		"nil and empty":   {{PartitionKey: "a"}, {PartitionKey: "b", Data: []byte{}}},
		"unicode":         {{PartitionKey: "ключ-🔑", Data: []byte("データ")}, {PartitionKey: "鍵", Data: []byte{0, 0xFF}}},
		"explicit hash":   {{PartitionKey: "a", ExplicitHashKey: "0", Data: []byte("1")}, {PartitionKey: "a", ExplicitHashKey: MaxHashKey.String(), Data: []byte("2")}, {PartitionKey: "a", Data: []byte("3")}},
		"long key":        {{PartitionKey: strings.Repeat("p", 256), Data: []byte("x")}},
		"big data":        {{PartitionKey: "k", Data: bytes.Repeat([]byte("0123456789"), 100_000)}},
		"64 keys (stack)": many(200, 64, false),
		"65 keys (heap)":  many(200, 65, false),
		"mixed tables":    many(500, 40, true),
	}
	for name, recs := range cases {
		t.Run(name, func(t *testing.T) {
			agg, err := Aggregate(recs)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := Deaggregate(agg)
			if !ok {
				t.Fatal("Deaggregate rejected Aggregate output")
			}
			if !recordsEqual(got, recs) {
				t.Fatalf("round trip = %+v, want %+v", got, recs)
			}
		})
	}
}

func TestAppendDeaggregate(t *testing.T) {
	recs := []Record{
		{PartitionKey: "a", Data: []byte("one")},
		{PartitionKey: "b", ExplicitHashKey: "42", Data: []byte("two")},
		{PartitionKey: "a", Data: []byte("three")},
	}
	agg, err := Aggregate(recs)
	if err != nil {
		t.Fatal(err)
	}
	prev := Record{PartitionKey: "plain", Data: []byte("plain")}

	t.Run("appends after dst", func(t *testing.T) {
		dst := []Record{prev}
		got, ok := AppendDeaggregate(dst, agg)
		if !ok || !recordsEqual(got, append([]Record{prev}, recs...)) {
			t.Fatalf("AppendDeaggregate = %+v, %v", got, ok)
		}
	})
	t.Run("reuses capacity", func(t *testing.T) {
		dst := make([]Record, 1, 10)
		dst[0] = prev
		got, ok := AppendDeaggregate(dst, agg)
		if !ok || &got[0] != &dst[0] {
			t.Fatalf("AppendDeaggregate did not reuse the capacity of dst (ok = %v)", ok)
		}
	})
	t.Run("dst unchanged on failure", func(t *testing.T) {
		bad := bytes.Clone(agg)
		bad[len(bad)-1] ^= 1
		dst := make([]Record, 1, 10)
		dst[0] = prev
		got, ok := AppendDeaggregate(dst, bad)
		if ok || len(got) != 1 || cap(got) != 10 || &got[0] != &dst[0] || !recordsEqual(got, []Record{prev}) {
			t.Fatalf("AppendDeaggregate(bad) = %+v (len %d cap %d), %v", got, len(got), cap(got), ok)
		}
	})
	t.Run("data aliases input, keys do not", func(t *testing.T) {
		in := bytes.Clone(agg)
		got, ok := Deaggregate(in)
		if !ok {
			t.Fatal("rejected")
		}
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(in)))
		hi := lo + uintptr(len(in))
		for i, r := range got {
			p := uintptr(unsafe.Pointer(unsafe.SliceData(r.Data)))
			if p < lo || p+uintptr(len(r.Data)) > hi {
				t.Errorf("record %d: Data is not a sub-slice of the input", i)
			}
			if cap(r.Data) != len(r.Data) {
				t.Errorf("record %d: cap(Data) = %d, want len %d", i, cap(r.Data), len(r.Data))
			}
		}
		// Appending to one record's Data must not overwrite the input.
		_ = append(got[0].Data, "XXXXXXXX"...)
		if !bytes.Equal(in, agg) {
			t.Fatal("appending to Data modified the input")
		}
		// Keys are copies: clobbering the input leaves them intact.
		for i := range in {
			in[i] = 'Z'
		}
		for i, r := range got {
			if r.PartitionKey != recs[i].PartitionKey || r.ExplicitHashKey != recs[i].ExplicitHashKey {
				t.Fatalf("record %d keys changed with the input: %q %q", i, r.PartitionKey, r.ExplicitHashKey)
			}
		}
	})
}

// TestDeaggregateAllocs pins the allocation budget: none per user record.
func TestDeaggregateAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("instrumented build")
	}
	build := func(n, keys int) []byte {
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{PartitionKey: fmt.Sprintf("pk-%d", i%keys), Data: []byte("data")}
		}
		agg, err := Aggregate(recs)
		if err != nil {
			t.Fatal(err)
		}
		return agg
	}
	for _, tc := range []struct {
		n, keys int
		want    float64
	}{
		{1, 1, 1},       // the key string
		{1000, 10, 1},   // still one, for a thousand records
		{1000, 64, 1},   // tables up to 64 keys live on the stack
		{1000, 1000, 2}, // bigger tables take one allocation
	} {
		agg := build(tc.n, tc.keys)
		dst := make([]Record, 0, tc.n)
		allocs := testing.AllocsPerRun(100, func() {
			var ok bool
			if dst, ok = AppendDeaggregate(dst[:0], agg); !ok {
				t.Fatal("rejected")
			}
		})
		if allocs != tc.want {
			t.Errorf("%d records, %d keys: %v allocations per aggregate, want %v", tc.n, tc.keys, allocs, tc.want)
		}
	}
	// Rejected input allocates nothing.
	bad := build(10, 10)
	bad[10] ^= 1
	if allocs := testing.AllocsPerRun(100, func() { Deaggregate(bad) }); allocs != 0 {
		t.Errorf("rejecting a corrupt aggregate allocates %v times", allocs)
	}
}

func TestDeaggregateCorrupt(t *testing.T) {
	valid, err := Aggregate([]Record{
		{PartitionKey: "a", Data: []byte("one")},
		{PartitionKey: "b", ExplicitHashKey: "42", Data: []byte("two")},
	})
	if err != nil {
		t.Fatal(err)
	}
	withTail := func(b []byte, tail ...byte) []byte { return append(bytes.Clone(b), tail...) }
	badMD5 := bytes.Clone(valid)
	badMD5[len(badMD5)-1] ^= 0x80
	wrongMagic := bytes.Clone(valid)
	wrongMagic[0] = 0xF4
	tables := pb{}.str(1, "a").str(2, "42")

	cases := map[string][]byte{
		"nil":                      nil,
		"empty":                    {},
		"plain text":               []byte(`{"id":1}`),
		"magic only":               []byte(Magic),
		"magic and short digest":   append([]byte(Magic), make([]byte, DigestSize-1)...),
		"magic and garbage digest": append([]byte(Magic), make([]byte, DigestSize)...),
		"empty body":               seal(nil),
		"wrong magic":              wrongMagic,
		"bad md5":                  badMD5,
		"trailing byte":            withTail(valid, 0),
		"missing digest":           valid[:len(valid)-DigestSize],

		// Valid MD5 over a bad body.
		"zero records":              seal(tables),
		"zero records, no tables":   seal(pb{}.varint(9, 1)),
		"pk index out of range":     seal(pb{}.str(1, "a").msg(3, rec(0, "x")).msg(3, rec(1, "y"))),
		"pk index huge":             seal(pb{}.str(1, "a").msg(3, rec(1<<32, "x"))),
		"pk index without table":    seal(pb{}.msg(3, rec(0, "x"))),
		"ehk index out of range":    seal(tables.msg(3, rec(0, "x").varint(2, 1))),
		"ehk index without table":   seal(pb{}.str(1, "a").msg(3, rec(0, "x").varint(2, 0))),
		"missing data":              seal(tables.msg(3, pb{}.varint(1, 0))),
		"missing pk index":          seal(tables.msg(3, pb{}.str(3, "x"))),
		"pk index as bytes":         seal(tables.msg(3, pb{}.str(1, "\x00").str(3, "x"))),
		"data as varint":            seal(tables.msg(3, pb{}.varint(1, 0).varint(3, 7))),
		"empty record":              seal(tables.msg(3, nil)),
		"tag without key":           seal(tables.msg(3, rec(0, "x").msg(4, pb{}.str(2, "v")))),
		"tag malformed":             seal(tables.msg(3, rec(0, "x").msg(4, pb{}.raw(0x0A, 5, 'k')))),
		"truncated table entry":     seal(pb{}.raw(0x0A, 10, 'a', 'b')),
		"truncated record":          seal(tables.raw(0x1A, 10).varint(1, 0)),
		"record length overflows":   seal(tables.raw(0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F)),
		"truncated tag":             seal(tables.msg(3, rec(0, "x")).raw(0x80)),
		"varint overflow":           seal(tables.msg(3, rec(0, "x")).raw(0x48, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F)),
		"field number zero":         seal(tables.msg(3, rec(0, "x")).raw(0x02, 0x00)),
		"reserved wire type 6":      seal(tables.msg(3, rec(0, "x")).raw(0x4E)),
		"reserved wire type 7":      seal(tables.msg(3, rec(0, "x")).raw(0x4F)),
		"end group without start":   seal(tables.msg(3, rec(0, "x")).raw(0x4C)),
		"unterminated group":        seal(tables.msg(3, rec(0, "x")).raw(0x4B, 0x08, 0x01)),
		"mismatched group":          seal(tables.msg(3, rec(0, "x")).raw(0x4B, 0x54)),
		"bad field inside record":   seal(tables.msg(3, rec(0, "x").raw(0x4E))),
		"good record then bad one":  seal(tables.msg(3, rec(0, "x")).msg(3, pb{}.varint(1, 0))),
		"bad record then good one":  seal(tables.msg(3, pb{}.varint(1, 0)).msg(3, rec(0, "x"))),
		"record field number zero":  seal(tables.msg(3, rec(0, "x").raw(0x00, 0x00))),
		"truncated pk index varint": seal(tables.msg(3, pb{}.str(3, "x").raw(0x08, 0x80))),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if got, ok := Deaggregate(data); ok || got != nil {
				t.Fatalf("Deaggregate = %+v, %v; want nil, false", got, ok)
			}
			if _, err := decodeForTest(data); err == nil {
				t.Fatal("the test decoder accepts the case: it does not test what it says")
			}
			if d := deliver("pk", data); len(d) != 1 || !bytes.Equal(d[0].Data, data) {
				t.Fatalf("not delivered unchanged: %+v", d)
			}
		})
	}
}

// TestDeaggregateEveryPrefix truncates a valid aggregate at every byte
// offset: no prefix is valid (the digest no longer matches) or panics.
func TestDeaggregateEveryPrefix(t *testing.T) {
	vf := loadVectors(t)
	for _, c := range vf.Cases {
		if !c.Valid {
			continue
		}
		for n := range len(c.Data) {
			// Every prefix of the small vectors; of the big one (33 KB,
			// which would hash half a gigabyte), both ends and a sample.
			if len(c.Data) > 4096 && n > 256 && n < len(c.Data)-256 && n%61 != 0 {
				continue
			}
			if _, ok := Deaggregate(c.Data[:n]); ok {
				t.Fatalf("%s: prefix of %d of %d bytes accepted", c.Name, n, len(c.Data))
			}
		}
	}
	// The same with a fresh digest: every prefix of the protobuf body,
	// re-sealed, is rejected unless it ends on a field boundary, and then
	// it holds a prefix of the records.
	recs := []Record{
		{PartitionKey: "a", Data: []byte("one")},
		{PartitionKey: "b", ExplicitHashKey: "42", Data: []byte("two")},
		{PartitionKey: "a", Data: []byte("three")},
	}
	agg, err := Aggregate(recs)
	if err != nil {
		t.Fatal(err)
	}
	body := agg[len(Magic) : len(agg)-DigestSize]
	accepted := 0
	for n := range len(body) + 1 {
		got, ok := Deaggregate(seal(body[:n]))
		if !ok {
			continue
		}
		accepted++
		if len(got) == 0 || !recordsEqual(got, recs[:len(got)]) {
			t.Fatalf("body prefix of %d bytes decodes to %+v", n, got)
		}
	}
	if accepted != len(recs) {
		t.Fatalf("%d body prefixes accepted, want %d (one per record boundary)", accepted, len(recs))
	}
}

// TestDeaggregateBitFlips flips every bit of an aggregate: the MD5 digest
// (or the magic) catches every one.
func TestDeaggregateBitFlips(t *testing.T) {
	agg, err := Aggregate([]Record{
		{PartitionKey: "a", Data: []byte("one")},
		{PartitionKey: "b", ExplicitHashKey: "42", Data: []byte("two")},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Clone(agg)
	for i := range b {
		for bit := range 8 {
			b[i] ^= 1 << bit
			if _, ok := Deaggregate(b); ok {
				t.Fatalf("flip of bit %d of byte %d accepted", bit, i)
			}
			b[i] ^= 1 << bit
		}
	}
	if _, ok := Deaggregate(b); !ok {
		t.Fatal("the unflipped aggregate is rejected")
	}
}

// TestDeaggregateSkips checks that well-formed fields the decoder does not
// use are skipped, wherever they are.
func TestDeaggregateSkips(t *testing.T) {
	group := pb{}.raw(0x7B).varint(1, 5).raw(0x7C) // field 15, start/end group
	cases := []struct {
		name string
		body pb
		want []Record
	}{{
		name: "unknown top-level fields of every wire type",
		body: pb{}.varint(9, 1).str(1, "a").
			raw(0x55, 1, 2, 3, 4).             // field 10, fixed32
			raw(0x59, 1, 2, 3, 4, 5, 6, 7, 8). // field 11, fixed64
			str(12, "junk").raw(group...).
			msg(3, rec(0, "x")).varint(1<<29-1, 3),
		want: []Record{{PartitionKey: "a", Data: []byte("x")}},
	}, {
		name: "unknown record fields",
		body: pb{}.str(1, "a").msg(3, rec(0, "x").varint(5, 1).str(6, "y").raw(group...)),
		want: []Record{{PartitionKey: "a", Data: []byte("x")}},
	}, {
		name: "tags",
		body: pb{}.str(1, "a").str(1, "b").
			msg(3, rec(0, "x").msg(4, pb{}.str(1, "k").str(2, "v")).msg(4, pb{}.str(1, "k2"))).
			msg(3, pb{}.msg(4, pb{}.str(1, "k").varint(7, 1)).varint(1, 1).str(3, "y")),
		want: []Record{{PartitionKey: "a", Data: []byte("x")}, {PartitionKey: "b", Data: []byte("y")}},
	}, {
		name: "tags field with another wire type",
		body: pb{}.str(1, "a").msg(3, rec(0, "x").varint(4, 1)),
		want: []Record{{PartitionKey: "a", Data: []byte("x")}},
	}, {
		name: "known numbers with other wire types",
		body: pb{}.varint(1, 5).str(1, "a").varint(2, 5).varint(3, 5).
			msg(3, rec(0, "x").str(2, "\x07")),
		want: []Record{{PartitionKey: "a", Data: []byte("x")}},
	}, {
		name: "tables after records, interleaved",
		body: pb{}.msg(3, rec(1, "x").varint(2, 0)).str(1, "a").msg(3, rec(0, "y")).
			str(2, "99").str(1, "b"),
		want: []Record{{PartitionKey: "b", ExplicitHashKey: "99", Data: []byte("x")}, {PartitionKey: "a", Data: []byte("y")}},
	}, {
		name: "fields of a record in any order",
		body: pb{}.str(1, "a").str(2, "7").msg(3, pb{}.str(3, "x").varint(2, 0).varint(1, 0)),
		want: []Record{{PartitionKey: "a", ExplicitHashKey: "7", Data: []byte("x")}},
	}, {
		name: "repeated non-repeated fields: last wins",
		body: pb{}.str(1, "a").str(1, "b").msg(3, rec(0, "old").varint(1, 1).str(3, "new")),
		want: []Record{{PartitionKey: "b", Data: []byte("new")}},
	}, {
		name: "non-minimal varints",
		body: pb{}.str(1, "a").msg(3, pb{}.raw(0x88, 0x00, 0x80, 0x80, 0x00).str(3, "x")),
		want: []Record{{PartitionKey: "a", Data: []byte("x")}},
	}, {
		name: "unused table entries",
		body: pb{}.str(1, "a").str(1, "unused").str(2, "1").str(2, "2").msg(3, rec(0, "x")),
		want: []Record{{PartitionKey: "a", Data: []byte("x")}},
	}, {
		name: "empty explicit hash key reads as none",
		body: pb{}.str(1, "a").str(2, "").msg(3, rec(0, "x").varint(2, 0)),
		want: []Record{{PartitionKey: "a", Data: []byte("x")}},
	}, {
		name: "keys that are not UTF-8",
		body: pb{}.str(1, "\xFF\xFE").msg(3, rec(0, "x")),
		want: []Record{{PartitionKey: "\xFF\xFE", Data: []byte("x")}},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := seal(c.body)
			got, ok := Deaggregate(data)
			if !ok {
				t.Fatal("Deaggregate rejected the aggregate")
			}
			if !recordsEqual(got, c.want) {
				t.Fatalf("Deaggregate = %+v, want %+v", got, c.want)
			}
			if oracle, err := decodeForTest(data); err != nil || !recordsEqual(oracle.records, c.want) {
				t.Fatalf("test decoder disagrees: %v", err)
			}
		})
	}
}

func buildBenchAggregate(b *testing.B, n, size, keys int) []byte {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			PartitionKey: fmt.Sprintf("partition-key-%d", i%keys),
			Data:         bytes.Repeat([]byte{byte(i)}, size),
		}
	}
	agg, err := Aggregate(recs)
	if err != nil {
		b.Fatal(err)
	}
	return agg
}

// BenchmarkDeaggregate reports throughput over the aggregate's bytes and
// heap allocations per user record. "new" gets a fresh slice per aggregate
// (Deaggregate); "reuse" appends into a reused one (AppendDeaggregate),
// which leaves only the per-aggregate key allocation(s).
func BenchmarkDeaggregate(b *testing.B) {
	for _, bc := range []struct{ n, size, keys int }{
		{100, 100, 10},
		{1000, 50, 100},
		{1000, 50, 1000},
	} {
		agg := buildBenchAggregate(b, bc.n, bc.size, bc.keys)
		for _, reuse := range []bool{false, true} {
			mode := "new"
			if reuse {
				mode = "reuse"
			}
			name := fmt.Sprintf("%dx%dB/%dkeys/%s", bc.n, bc.size, bc.keys, mode)
			b.Run(name, func(b *testing.B) {
				dst := make([]Record, 0, bc.n)
				b.SetBytes(int64(len(agg)))
				b.ReportAllocs()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				ops := 0
				for b.Loop() {
					var recs []Record
					var ok bool
					if reuse {
						recs, ok = AppendDeaggregate(dst[:0], agg)
					} else {
						recs, ok = Deaggregate(agg)
					}
					if !ok || len(recs) != bc.n {
						b.Fatal("rejected")
					}
					ops++
				}
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(ops)/float64(bc.n), "allocs/subrecord")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(ops)/float64(bc.n), "ns/subrecord")
			})
		}
	}
}

// BenchmarkDeaggregateParts splits BenchmarkDeaggregate (reuse mode) into
// its two costs: checking the MD5 digest, and parsing the protobuf.
func BenchmarkDeaggregateParts(b *testing.B) {
	for _, bc := range []struct{ n, size, keys int }{
		{100, 100, 10},
		{1000, 50, 100},
	} {
		agg := buildBenchAggregate(b, bc.n, bc.size, bc.keys)
		body := agg[len(Magic) : len(agg)-DigestSize]
		b.Run(fmt.Sprintf("%dx%dB/md5", bc.n, bc.size), func(b *testing.B) {
			b.SetBytes(int64(len(agg)))
			for b.Loop() {
				md5.Sum(body)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(bc.n), "ns/subrecord")
		})
		b.Run(fmt.Sprintf("%dx%dB/parse", bc.n, bc.size), func(b *testing.B) {
			dst := make([]Record, 0, bc.n)
			b.SetBytes(int64(len(agg)))
			b.ReportAllocs()
			for b.Loop() {
				if recs, ok := appendRecords(dst[:0], body); !ok || len(recs) != bc.n {
					b.Fatal("rejected")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(bc.n), "ns/subrecord")
		})
	}
}
