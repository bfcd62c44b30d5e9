package kpl

import (
	"crypto/md5"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Protobuf field numbers of Record and Tag that only the decoder needs.
const (
	fieldTags   protowire.Number = 4 // Record.tags
	fieldTagKey protowire.Number = 1 // Tag.key (required)
)

// Deaggregate decodes data, the data of one Kinesis record, as a KPL
// aggregated record. It is [AppendDeaggregate] with a nil destination;
// see there for what is accepted and what the records share with data.
func Deaggregate(data []byte) ([]Record, bool) {
	return AppendDeaggregate(nil, data)
}

// AppendDeaggregate decodes data, the data of one Kinesis record, as a KPL
// aggregated record and appends its user records to dst in wire order. It
// returns the extended slice and true if data is a valid aggregate, and
// dst unchanged and false otherwise; then data is not an aggregate (or a
// corrupt one) and the caller delivers the Kinesis record unchanged, as one
// plain record. AppendDeaggregate never panics, whatever data holds.
//
// The user record appended at dst[len(dst)+i] has sub-sequence number i:
// its index in the aggregate. Its PartitionKey comes from the partition key
// table, its ExplicitHashKey from the explicit hash key table if the record
// has an explicit_hash_key_index (an empty table entry reads as "no explicit
// hash key"), and its Data is a sub-slice of data, not a copy: it shares
// data's memory, so data must not be modified while the records are in use.
// Data's capacity is capped at its length, so appending to it never
// overwrites the rest of data. The keys are copied (all keys of one
// aggregate share one allocation), so they never change with data.
//
// data is a valid aggregate if, and only if:
//   - it starts with [Magic] and ends with a [DigestSize]-byte MD5 digest
//     that matches the protobuf bytes between the two;
//   - those bytes are a well-formed AggregatedRecord message: every tag and
//     length is in bounds, no wire type is reserved, groups are balanced;
//   - every Record has its required partition_key_index and data fields,
//     and every Tag its required key;
//   - every partition_key_index is below the length of the partition key
//     table and every explicit_hash_key_index (where present) below the
//     length of the explicit hash key table;
//   - it holds at least one Record.
//
// Fields with an expected number but another wire type, unknown fields,
// and tags are skipped, as protobuf parsers do; if a non-repeated field
// occurs more than once, the last occurrence wins. Strings are not
// checked to be UTF-8, as proto2 parsers do not.
//
// Compared with the reference consumer (the Java KCL, AggregatorUtil):
//
//   - An aggregate with zero records is rejected, so the Kinesis record is
//     delivered unchanged as one plain record. The KCL returns no user
//     record at all for it when its protobuf part is non-empty (and a plain
//     record when it is empty): the Kinesis record silently disappears.
//     The KPL never writes such an aggregate, so one can only come from
//     another producer or a bug; delivering it keeps the rule that every
//     Kinesis record yields at least one delivered record (sub-sequence
//     numbers 0 to n-1, n >= 1), so none disappears without a trace.
//   - An index outside its table rejects the whole aggregate (a plain
//     record). The KCL delivers the records before it, logs an error and
//     loses the rest; it also truncates an index to 32 bits first.
//
// AppendDeaggregate allocates at most twice per aggregate beyond the growth
// of dst, which it grows at most once: one string holding every key, and,
// for aggregates with more than 64 keys in their tables, the table itself.
// Nothing is allocated per user record.
func AppendDeaggregate(dst []Record, data []byte) ([]Record, bool) {
	if len(data) < len(Magic)+DigestSize || string(data[:len(Magic)]) != Magic {
		return dst, false
	}
	body := data[len(Magic) : len(data)-DigestSize]
	if md5.Sum(body) != [DigestSize]byte(data[len(data)-DigestSize:]) {
		return dst, false
	}
	return appendRecords(dst, body)
}

// appendRecords is AppendDeaggregate after the magic and the digest are
// checked: body is the protobuf AggregatedRecord message.
func appendRecords(dst []Record, body []byte) ([]Record, bool) {
	l, ok := scan(body)
	if !ok || l.records == 0 {
		return dst, false
	}

	// scan has checked the top level: the table walks below cannot fail.
	// They start and end on field boundaries scan found, so they skip the
	// records when, as the KPL writes them, the tables come first.
	tables := body[:l.tablesEnd]

	// Copy every table entry into one string, then slice the tables out
	// of it. Tables of up to 64 keys live on the stack.
	var sb strings.Builder
	sb.Grow(l.keyBytes)
	for b := tables; len(b) > 0; {
		num, v, n := nextField(b)
		if n < 0 {
			return dst, false
		}
		b = b[n:]
		if num == fieldPartitionKeyTable || num == fieldExplicitHashKeyTable {
			sb.Write(v)
		}
	}
	keys := sb.String()
	var stack [64]string
	var table []string
	if n := l.pks + l.ehks; n <= len(stack) {
		table = stack[:n]
	} else {
		table = make([]string, n)
	}
	pkTable, ehkTable := table[:l.pks], table[l.pks:]
	off, pk, ehk := 0, 0, 0
	for b := tables; len(b) > 0; {
		num, v, n := nextField(b)
		if n < 0 {
			return dst, false
		}
		b = b[n:]
		switch num {
		case fieldPartitionKeyTable:
			pkTable[pk] = keys[off : off+len(v)]
			pk++
		case fieldExplicitHashKeyTable:
			ehkTable[ehk] = keys[off : off+len(v)]
			ehk++
		default:
			continue
		}
		off += len(v)
	}

	// Parse the records, each once, straight into dst. A bad one undoes
	// the appends, so a rejected aggregate leaves no trace in dst.
	out := slices.Grow(dst, l.records)
	for b := body[l.recordsStart:]; len(b) > 0; {
		num, v, n := nextField(b)
		if n < 0 {
			clear(out[len(dst):])
			return dst, false
		}
		b = b[n:]
		if num != fieldRecords {
			continue
		}
		r, ok := parseRecord(v)
		if !ok || r.pk >= uint64(len(pkTable)) || (r.hasEHK && r.ehk >= uint64(len(ehkTable))) {
			clear(out[len(dst):])
			return dst, false
		}
		rec := Record{PartitionKey: pkTable[r.pk], Data: r.data[:len(r.data):len(r.data)]}
		if r.hasEHK {
			rec.ExplicitHashKey = ehkTable[r.ehk]
		}
		out = append(out, rec)
	}
	return out, true
}

// layout is what scan learns about the top level of an AggregatedRecord
// message.
type layout struct {
	pks, ehks, records int // number of table entries and records
	keyBytes           int // total length of all table entries
	tablesEnd          int // offset just after the last table entry
	recordsStart       int // offset of the first record
}

// scan checks that body is a well-formed sequence of protobuf fields and
// measures the AggregatedRecord message it holds. The records themselves
// are parsed later, once.
func scan(body []byte) (l layout, ok bool) {
	l.recordsStart = len(body)
	for off := 0; off < len(body); {
		num, v, n := nextField(body[off:])
		if n < 0 {
			return l, false
		}
		switch num {
		case fieldPartitionKeyTable:
			l.pks++
			l.keyBytes += len(v)
			l.tablesEnd = off + n
		case fieldExplicitHashKeyTable:
			l.ehks++
			l.keyBytes += len(v)
			l.tablesEnd = off + n
		case fieldRecords:
			if l.records == 0 {
				l.recordsStart = off
			}
			l.records++
		}
		off += n
	}
	return l, true
}

// nextField consumes the next top-level field of an AggregatedRecord
// message from b. For a length-delimited field numbered 1 to 3 (a table
// entry or a record) it returns the number and the value; for any other
// field, which the decoder skips, it returns number 0. n is the length of
// the field, or negative if b does not start with a well-formed field.
func nextField(b []byte) (num protowire.Number, v []byte, n int) {
	num, typ, n := consumeTag(b)
	if n < 0 {
		return 0, nil, n
	}
	if typ == protowire.BytesType &&
		(num == fieldPartitionKeyTable || num == fieldExplicitHashKeyTable || num == fieldRecords) {
		v, m := consumeBytes(b[n:])
		if m < 0 {
			return 0, nil, m
		}
		return num, v, n + m
	}
	m := protowire.ConsumeFieldValue(num, typ, b[n:])
	if m < 0 {
		return 0, nil, m
	}
	return 0, nil, n + m
}

// rawRecord is a Record message with its indexes not yet resolved.
type rawRecord struct {
	pk, ehk uint64
	hasEHK  bool
	data    []byte
}

// parseRecord parses a Record message and reports whether it is well-formed
// and has its required fields (and its tags theirs).
func parseRecord(msg []byte) (r rawRecord, ok bool) {
	var hasPK, hasData bool
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return r, false
		}
		msg = msg[n:]
		switch {
		case num == fieldPartitionKeyIndex && typ == protowire.VarintType:
			r.pk, n = consumeVarint(msg)
			hasPK = true
		case num == fieldExplicitHashKeyIndex && typ == protowire.VarintType:
			r.ehk, n = consumeVarint(msg)
			r.hasEHK = true
		case num == fieldData && typ == protowire.BytesType:
			r.data, n = consumeBytes(msg)
			hasData = true
		case num == fieldTags && typ == protowire.BytesType:
			var tag []byte
			tag, n = consumeBytes(msg)
			if n >= 0 && !validTag(tag) {
				return r, false
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, msg)
		}
		if n < 0 {
			return r, false
		}
		msg = msg[n:]
	}
	return r, hasPK && hasData
}

// validTag reports whether msg is a well-formed Tag message with its
// required key. Tags are otherwise ignored.
func validTag(msg []byte) bool {
	hasKey := false
	for len(msg) > 0 {
		num, typ, n := consumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		if num == fieldTagKey && typ == protowire.BytesType {
			hasKey = true
		}
		n = protowire.ConsumeFieldValue(num, typ, msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
	}
	return hasKey
}

// consumeVarint is protowire.ConsumeVarint with an inlined fast path for
// the one-byte varints that make up most of an aggregate.
func consumeVarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

// consumeTag is protowire.ConsumeTag with an inlined fast path for
// one-byte tags (field numbers 1 to 15).
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if len(b) > 0 && b[0] < 0x80 && b[0] >= 1<<3 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return protowire.ConsumeTag(b)
}

// consumeBytes is protowire.ConsumeBytes using consumeVarint.
func consumeBytes(b []byte) ([]byte, int) {
	m, n := consumeVarint(b)
	if n < 0 {
		return nil, n
	}
	if m > uint64(len(b)-n) {
		return nil, -1 // truncated
	}
	return b[n : n+int(m)], n + int(m)
}
