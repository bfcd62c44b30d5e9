package checkpoint

import (
	"fmt"
	"strconv"
	"strings"
)

// An ordering key is a fixed-width string of 150 ASCII digits that orders as
// Compare orders checkpoints, for stores whose conditional writes compare
// strings (DynamoDB conditions, Redis scripts):
//
//	[0]        '1' for the shard-end marker, '0' for a position
//	[1:130]    the sequence number, zero-padded to 129 digits
//	[130]      '1' for a whole record, '0' for a sub-record (Partial)
//	[131:150]  the sub-sequence number of a sub-record, zero-padded to 19 digits
//
// Every key has the same length and holds digits only, so comparing two keys
// as strings orders them as Checkpoint.Compare orders the
// checkpoints: the marker above every position, then by sequence number as an
// integer, then sub-records by index and below their whole record.
const (
	seqDigits = 129 // longest sequence number the Kinesis API allows
	subDigits = 19  // digits of the largest int64
	// OrderKeyLen is the length of every ordering key.
	OrderKeyLen = 1 + seqDigits + 1 + subDigits
)

// OrderKey returns the ordering key of c, which must be valid (see Validate).
func OrderKey(c Checkpoint) string {
	var b [OrderKeyLen]byte
	for i := range b {
		b[i] = '0'
	}
	if c.ShardEnded {
		b[0] = '1'
		return string(b[:])
	}
	seq := strings.TrimLeft(c.SequenceNumber, "0")
	copy(b[1+seqDigits-len(seq):1+seqDigits], seq)
	if c.Partial {
		sub := strconv.FormatInt(c.SubSequenceNumber, 10)
		copy(b[OrderKeyLen-len(sub):], sub)
	} else {
		b[1+seqDigits] = '1'
	}
	return string(b[:])
}

// ParseOrderKey returns the checkpoint of an ordering key. The sequence
// number comes back without leading zeros ("0" for zero).
func ParseOrderKey(s string) (Checkpoint, error) {
	if len(s) != OrderKeyLen || strings.Trim(s, "0123456789") != "" {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint %q: want %d digits", s, OrderKeyLen)
	}
	kind, seq, whole, sub := s[0], s[1:1+seqDigits], s[1+seqDigits], s[2+seqDigits:]
	switch {
	case kind == '1' && strings.Trim(s[1:], "0") == "":
		return Ended(), nil
	case kind != '0' || whole > '1':
		return Checkpoint{}, fmt.Errorf("malformed checkpoint %q", s)
	}
	if seq = strings.TrimLeft(seq, "0"); seq == "" {
		seq = "0"
	}
	if whole == '1' {
		if strings.Trim(sub, "0") != "" {
			return Checkpoint{}, fmt.Errorf("malformed checkpoint %q: sub-sequence number on a whole record", s)
		}
		return At(seq), nil
	}
	n, err := strconv.ParseInt(sub, 10, 64)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint %q: %w", s, err)
	}
	return AtSub(seq, n), nil
}

// Namespace joins an app and a stream name into one key, unambiguously
// whatever the names hold: the byte length of app in decimal, ':', app, '/',
// stream. "3:a/b/c" is app "a/b" and stream "c"; "1:a/b/c" is app "a" and
// stream "b/c".
func Namespace(app, stream string) string {
	return strconv.Itoa(len(app)) + ":" + app + "/" + stream
}
