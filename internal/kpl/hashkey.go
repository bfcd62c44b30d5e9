package kpl

import (
	"crypto/md5"
	"encoding/binary"
	"math"
	"math/bits"
)

// Uint128 is an unsigned 128-bit integer, the type of Kinesis hash keys:
// Hi holds the most significant 64 bits. The zero value is 0.
type Uint128 struct {
	Hi, Lo uint64
}

// MaxHashKey is 2^128-1, the largest hash key and the end of the hash key
// range of a stream.
var MaxHashKey = Uint128{Hi: math.MaxUint64, Lo: math.MaxUint64}

// ParseUint128 parses s, a decimal number between 0 and 2^128-1, as Kinesis
// writes hash keys (explicit hash keys, shard hash key ranges). Only ASCII
// digits are accepted (leading zeros are); ok is false for anything else:
// an empty string, a sign, spaces, or a number above 2^128-1.
func ParseUint128(s string) (u Uint128, ok bool) {
	if s == "" {
		return Uint128{}, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return Uint128{}, false
		}
		// u = u*10 + digit, failing on overflow.
		hi, lo := bits.Mul64(u.Lo, 10)
		ovf, hi2 := bits.Mul64(u.Hi, 10)
		hi, carry := bits.Add64(hi, hi2, 0)
		if ovf != 0 || carry != 0 {
			return Uint128{}, false
		}
		lo, carry = bits.Add64(lo, uint64(c-'0'), 0)
		hi, carry = bits.Add64(hi, 0, carry)
		if carry != 0 {
			return Uint128{}, false
		}
		u = Uint128{Hi: hi, Lo: lo}
	}
	return u, true
}

// Cmp compares u and v and returns -1, 0 or +1.
func (u Uint128) Cmp(v Uint128) int {
	switch {
	case u.Hi < v.Hi || (u.Hi == v.Hi && u.Lo < v.Lo):
		return -1
	case u == v:
		return 0
	default:
		return +1
	}
}

// String returns u in decimal, the form [ParseUint128] reads.
func (u Uint128) String() string {
	if u.Hi == 0 {
		return formatUint64(u.Lo)
	}
	// Divide by 10^19, the largest power of ten below 2^64, at most twice.
	const e19 = 10_000_000_000_000_000_000
	var buf [39]byte // 2^128-1 has 39 digits
	i := len(buf)
	for u.Hi != 0 {
		q1, r1 := bits.Div64(0, u.Hi, e19)
		q0, r0 := bits.Div64(r1, u.Lo, e19)
		u = Uint128{Hi: q1, Lo: q0}
		// r0 < 10^19: exactly 19 digits, zero-padded.
		for range 19 {
			i--
			buf[i] = byte('0' + r0%10)
			r0 /= 10
		}
	}
	return formatUint64(u.Lo) + string(buf[i:])
}

func formatUint64(v uint64) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(buf[i:])
		}
	}
}

// PartitionKeyHash returns the hash key of a partition key: the MD5 digest
// of its bytes read as a big-endian 128-bit number, as Kinesis computes it.
// (For a key that is not valid UTF-8, which no Kinesis API accepts, the KCL
// would hash its UTF-8 re-encoding with replacement characters instead.)
func PartitionKeyHash(partitionKey string) Uint128 {
	var buf [256]byte // Kinesis partition keys are at most 256 bytes
	d := md5.Sum(append(buf[:0], partitionKey...))
	return Uint128{Hi: binary.BigEndian.Uint64(d[:8]), Lo: binary.BigEndian.Uint64(d[8:])}
}

// HashKey returns the hash key of a user record: its explicit hash key if
// it has one, else the [PartitionKeyHash] of its partition key. ok is false
// if the explicit hash key is not a decimal number between 0 and 2^128-1
// (see [ParseUint128]); no hash key is then known.
func HashKey(r Record) (key Uint128, ok bool) {
	if r.ExplicitHashKey != "" {
		return ParseUint128(r.ExplicitHashKey)
	}
	return PartitionKeyHash(r.PartitionKey), true
}

// InRange reports whether start <= key <= end: whether key belongs to a
// shard whose hash key range is [start, end] (Kinesis ranges are inclusive).
func InRange(key, start, end Uint128) bool {
	return key.Cmp(start) >= 0 && key.Cmp(end) <= 0
}

// FilterHashRange applies the hash key range check of the reference
// consumer to the user records of one aggregate, as [Deaggregate] returns
// them, read from a shard whose hash key range is [start, end]. It returns
// the records to deliver, a prefix of records that shares its memory, and
// how many records it dropped from its end; len(kept)+dropped is
// len(records).
//
// A user record of an aggregate can hash outside the range of the shard it
// was read from: a producer may aggregate records for a parent shard, or
// with a stale shard map, and Kinesis routes the aggregate by its own key
// alone. The reference consumer (the Java KCL, AggregatorUtil.deaggregate)
// then drops the whole aggregate, not only the out-of-range record and
// those after it: on meeting the first such record it removes the ones of
// the same aggregate already accepted and skips the rest. FilterHashRange
// does the same, so the prefix it returns is either all of records
// (dropped == 0) or empty (dropped == len(records)). The caller should
// count the drop in a metric; the sub-sequence numbers of records are
// unaffected.
//
// A record whose explicit hash key does not parse (see [HashKey]) counts as
// out of range, so it drops the aggregate too. (The KCL throws on it and,
// by accident of its error handling, keeps the records before it and loses
// the rest.)
//
// Only aggregates are filtered: a plain Kinesis record, or one Deaggregate
// rejected, is delivered whatever its key. When [start, end] is the whole
// hash key space, partition keys are not hashed.
func FilterHashRange(records []Record, start, end Uint128) (kept []Record, dropped int) {
	whole := start == (Uint128{}) && end == MaxHashKey
	for _, r := range records {
		if whole && r.ExplicitHashKey == "" {
			continue // every partition key hashes inside
		}
		key, ok := HashKey(r)
		if !ok || !InRange(key, start, end) {
			return records[:0], len(records)
		}
	}
	return records, 0
}
