package kpl

import (
	"bytes"
	"fmt"
	"testing"
	"unsafe"
)

// FuzzDeaggregate feeds Deaggregate arbitrary Kinesis record data. Random
// bytes almost never carry a matching MD5 digest, which would leave the
// protobuf parser unexplored, so every input is also tried re-sealed: its
// protobuf part (the bytes between the magic and the digest if it has the
// magic, else the whole input) framed with the magic and a fresh digest.
//
// For both, Deaggregate must not panic, must agree with the independent
// test decoder, and whatever it accepts must survive Aggregate and a
// second Deaggregate unchanged.
func FuzzDeaggregate(f *testing.F) {
	for _, c := range loadVectors(f).Cases {
		// The big vectors make every execution (and every minimization
		// step) slow; TestDeaggregateVectors and its prefix tests cover
		// them, and the fuzzer grows big inputs itself where it pays off.
		if len(c.Data) <= 4096 {
			f.Add(c.Data)
		}
	}
	seeds := [][]Record{
		{{PartitionKey: "k", Data: []byte("v")}},
		{{PartitionKey: "a", Data: nil}, {PartitionKey: "b", ExplicitHashKey: "42", Data: []byte{0xFF}}, {PartitionKey: "a", ExplicitHashKey: "42", Data: []byte("x")}},
		{{PartitionKey: "", ExplicitHashKey: MaxHashKey.String(), Data: []byte("max")}},
	}
	for _, recs := range seeds {
		agg, err := Aggregate(recs)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(agg)
	}
	tables := pb{}.str(1, "a").str(2, "42")
	for _, body := range []pb{
		tables.msg(3, rec(0, "x").msg(4, pb{}.str(1, "k").str(2, "v"))),
		tables.msg(3, rec(0, "x").varint(2, 0)).varint(9, 1).raw(0x7B, 0x08, 0x01, 0x7C),
		tables.msg(3, rec(1, "x")),              // index out of range
		tables.msg(3, rec(0, "x").varint(2, 1)), // index out of range
		tables.msg(3, pb{}.varint(1, 0)),        // no data
		tables,                                  // no records
		pb{}.msg(3, rec(0, "x")).str(1, "late"), // tables after records
	} {
		f.Add([]byte(body))             // re-sealed by the target
		f.Add(seal(body))               // already sealed
		f.Add(seal(body)[:len(body)/2]) // truncated
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		checkDeaggregate(t, data)
		checkDeaggregate(t, reseal(data))
	})
}

// reseal frames the protobuf part of data with the magic and a fresh digest.
func reseal(data []byte) []byte {
	if len(data) >= len(Magic)+DigestSize && string(data[:len(Magic)]) == Magic {
		return seal(data[len(Magic) : len(data)-DigestSize])
	}
	return seal(data)
}

func checkDeaggregate(t *testing.T, data []byte) {
	in := bytes.Clone(data)
	prev := Record{PartitionKey: "prev", Data: []byte("prev")}
	dst := make([]Record, 1, 2)
	dst[0] = prev
	got, ok := AppendDeaggregate(dst, data)
	if !bytes.Equal(in, data) {
		t.Fatal("Deaggregate modified its input")
	}
	if got[0].PartitionKey != prev.PartitionKey || !bytes.Equal(got[0].Data, prev.Data) {
		t.Fatal("AppendDeaggregate changed the records already in dst")
	}

	oracle, err := decodeForTest(data)
	if ok != (err == nil) {
		t.Fatalf("Deaggregate ok = %v, test decoder error = %v", ok, err)
	}
	if !ok {
		if len(got) != 1 || cap(got) != 2 {
			t.Fatalf("rejected input changed dst: len %d cap %d", len(got), cap(got))
		}
		return
	}
	recs := got[1:]
	if len(recs) == 0 {
		t.Fatal("accepted an aggregate with no records")
	}
	if !recordsEqual(recs, oracle.records) {
		t.Fatalf("Deaggregate = %+v, test decoder = %+v", recs, oracle.records)
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	for i, r := range recs {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(r.Data)))
		if len(r.Data) > 0 && (p < lo || p+uintptr(len(r.Data)) > lo+uintptr(len(data))) {
			t.Fatalf("record %d: Data is not a sub-slice of the input", i)
		}
		if cap(r.Data) != len(r.Data) {
			t.Fatalf("record %d: cap(Data) %d != len %d", i, cap(r.Data), len(r.Data))
		}
		// The hash key functions must not panic either.
		HashKey(r)
	}
	FilterHashRange(recs, Uint128{Hi: 1 << 63}, MaxHashKey)

	again, err := Aggregate(recs)
	if err != nil {
		t.Fatalf("Aggregate: %v", err)
	}
	round, ok := Deaggregate(again)
	if !ok {
		t.Fatal("Deaggregate rejects the re-aggregated records")
	}
	if !recordsEqual(round, recs) {
		t.Fatalf("round trip = %s, want %s", fmt.Sprint(round), fmt.Sprint(recs))
	}
}
