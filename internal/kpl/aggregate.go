// Package kpl implements the Kinesis Producer Library (KPL) aggregated
// record format.
//
// An aggregated Kinesis record packs many user records into one Kinesis
// record. Its data is the 4-byte [Magic] prefix, a protobuf-encoded
// AggregatedRecord message, and the 16-byte MD5 digest of that protobuf
// message:
//
//	message AggregatedRecord {
//	  repeated string partition_key_table     = 1;
//	  repeated string explicit_hash_key_table = 2;
//	  repeated Record records                 = 3;
//	}
//	message Record {
//	  required uint64 partition_key_index     = 1;
//	  optional uint64 explicit_hash_key_index = 2;
//	  required bytes  data                    = 3;
//	  repeated Tag    tags                    = 4;
//	}
//	message Tag {
//	  required string key   = 1;
//	  optional string value = 2;
//	}
//
// [Aggregate] encodes the format and [Deaggregate] (or [AppendDeaggregate])
// decodes it; both work on the wire format by hand with the protowire
// package: no generated code is involved. [HashKey] and [FilterHashRange]
// give the hash keys of user records and apply the reference consumer's
// check that the user records of an aggregate belong to the shard that
// delivered it.
package kpl

import (
	"crypto/md5"
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
)

// Magic is the 4-byte prefix (F3 89 9A C2) that marks the data of a Kinesis
// record as a KPL aggregated record.
const Magic = "\xF3\x89\x9A\xC2"

// DigestSize is the length of the MD5 digest of the protobuf message that
// ends every aggregated record.
const DigestSize = md5.Size

// Protobuf field numbers of AggregatedRecord.
const (
	fieldPartitionKeyTable    protowire.Number = 1
	fieldExplicitHashKeyTable protowire.Number = 2
	fieldRecords              protowire.Number = 3
)

// Protobuf field numbers of Record.
const (
	fieldPartitionKeyIndex    protowire.Number = 1
	fieldExplicitHashKeyIndex protowire.Number = 2
	fieldData                 protowire.Number = 3
)

// ErrNoRecords is returned by [Aggregate] when it is given no records.
var ErrNoRecords = errors.New("kpl: no records to aggregate")

// Record is one user record inside a KPL aggregated record.
type Record struct {
	// PartitionKey is the record's partition key.
	PartitionKey string
	// ExplicitHashKey is the record's explicit hash key, a decimal 128-bit
	// number; the empty string means the record has none.
	ExplicitHashKey string
	// Data is the record's payload.
	Data []byte
}

// Aggregate encodes records as the data of one KPL aggregated Kinesis
// record: [Magic], the protobuf AggregatedRecord, and the MD5 digest of the
// protobuf bytes.
//
// Partition keys and explicit hash keys are deduplicated into their tables
// in first-seen order, as the KPL does; the explicit hash key table only
// holds keys of records that have one, and the index field is omitted for
// records without one. Records keep their order, so the sub-sequence number
// of records[i] is i. Aggregate returns [ErrNoRecords] if records is empty.
// It does not check the size limits of a Kinesis record.
func Aggregate(records []Record) ([]byte, error) {
	if len(records) == 0 {
		return nil, ErrNoRecords
	}

	// First pass: build the key tables and the record indexes, and compute
	// the exact encoded size so the output is allocated once.
	type indexes struct{ pk, ehk uint64 }
	idx := make([]indexes, len(records))
	var pkTable, ehkTable []string
	pkIndex := make(map[string]uint64)
	var ehkIndex map[string]uint64
	size := 0
	for i, r := range records {
		pk, ok := pkIndex[r.PartitionKey]
		if !ok {
			pk = uint64(len(pkTable))
			pkIndex[r.PartitionKey] = pk
			pkTable = append(pkTable, r.PartitionKey)
			size += protowire.SizeTag(fieldPartitionKeyTable) + protowire.SizeBytes(len(r.PartitionKey))
		}
		idx[i].pk = pk
		if r.ExplicitHashKey != "" {
			ehk, ok := ehkIndex[r.ExplicitHashKey]
			if !ok {
				if ehkIndex == nil {
					ehkIndex = make(map[string]uint64)
				}
				ehk = uint64(len(ehkTable))
				ehkIndex[r.ExplicitHashKey] = ehk
				ehkTable = append(ehkTable, r.ExplicitHashKey)
				size += protowire.SizeTag(fieldExplicitHashKeyTable) + protowire.SizeBytes(len(r.ExplicitHashKey))
			}
			idx[i].ehk = ehk
		}
		size += protowire.SizeTag(fieldRecords) + protowire.SizeBytes(recordSize(r, idx[i].pk, idx[i].ehk))
	}

	// Second pass: encode. Fields are written in field-number order, as
	// protobuf serializers (and the KPL) do.
	out := make([]byte, 0, len(Magic)+size+DigestSize)
	out = append(out, Magic...)
	for _, k := range pkTable {
		out = protowire.AppendTag(out, fieldPartitionKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	for _, k := range ehkTable {
		out = protowire.AppendTag(out, fieldExplicitHashKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	for i, r := range records {
		out = protowire.AppendTag(out, fieldRecords, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(recordSize(r, idx[i].pk, idx[i].ehk)))
		out = protowire.AppendTag(out, fieldPartitionKeyIndex, protowire.VarintType)
		out = protowire.AppendVarint(out, idx[i].pk)
		if r.ExplicitHashKey != "" {
			out = protowire.AppendTag(out, fieldExplicitHashKeyIndex, protowire.VarintType)
			out = protowire.AppendVarint(out, idx[i].ehk)
		}
		out = protowire.AppendTag(out, fieldData, protowire.BytesType)
		out = protowire.AppendBytes(out, r.Data)
	}

	digest := md5.Sum(out[len(Magic):])
	out = append(out, digest[:]...)
	return out, nil
}

// recordSize returns the encoded size of the Record message for r, given
// its table indexes.
func recordSize(r Record, pk, ehk uint64) int {
	n := protowire.SizeTag(fieldPartitionKeyIndex) + protowire.SizeVarint(pk)
	if r.ExplicitHashKey != "" {
		n += protowire.SizeTag(fieldExplicitHashKeyIndex) + protowire.SizeVarint(ehk)
	}
	n += protowire.SizeTag(fieldData) + protowire.SizeBytes(len(r.Data))
	return n
}
