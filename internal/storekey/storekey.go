// Package storekey encodes checkpoints and (app, stream) pairs into the
// strings kinesin's stores key and compare them by: OrderKey for conditional
// writes that must never move a checkpoint backwards, Namespace for the
// partition of one consumer group on one stream. It is the layout of the
// DynamoDB and Redis stores' data, not an API.
package storekey

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// An ordering key is a fixed-width string of 150 ASCII digits that orders as
// checkpoint.Checkpoint.Compare orders checkpoints, for stores whose conditional writes compare
// strings (DynamoDB conditions, Redis scripts). Its first digit is the form:
//
//	'0'  a start checkpoint
//	'1'  a position
//	'2'  the shard-end marker
//
// A position follows with
//
//	[1:130]    the sequence number, zero-padded to 129 digits
//	[130]      '1' for a whole record, '0' for a sub-record (Partial)
//	[131:150]  the sub-sequence number of a sub-record, zero-padded to 19 digits
//
// and a start checkpoint or an end marker with its Timestamp as Unix
// nanoseconds, zero-padded to 19 digits ([1:20]; zeros for an end marker
// without one), then zeros.
//
// Every key has the same length and holds digits only, so comparing two keys
// as strings orders them as checkpoint.Checkpoint.Compare orders the checkpoints:
// starts, then positions by sequence number as an integer and sub-records by
// index below their whole record, then end markers; starts and end markers
// among themselves by time. The key holds every field of the checkpoint, so
// ParseOrderKey gives the checkpoint back.
const (
	seqDigits  = 129 // longest sequence number the Kinesis API allows
	subDigits  = 19  // digits of the largest int64
	timeDigits = 19  // digits of the largest int64 of Unix nanoseconds
	// OrderKeyLen is the length of every ordering key.
	OrderKeyLen = 1 + seqDigits + 1 + subDigits
)

// The first digit of an ordering key.
const (
	keyStart    = '0'
	keyPosition = '1'
	keyEnd      = '2'
)

// OrderKey returns the ordering key of c, which must be valid (see checkpoint.Checkpoint.Validate).
func OrderKey(c checkpoint.Checkpoint) string {
	var b [OrderKeyLen]byte
	for i := range b {
		b[i] = '0'
	}
	if c.ShardEnded || c.SequenceNumber == "" {
		b[0] = keyStart
		if c.ShardEnded {
			b[0] = keyEnd
		}
		if !c.Timestamp.IsZero() {
			ns := strconv.FormatInt(c.Timestamp.UnixNano(), 10)
			copy(b[1+timeDigits-len(ns):1+timeDigits], ns)
		}
		return string(b[:])
	}
	b[0] = keyPosition
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
// number comes back without leading zeros ("0" for zero), the timestamp in
// UTC.
func ParseOrderKey(s string) (checkpoint.Checkpoint, error) {
	if len(s) != OrderKeyLen || strings.Trim(s, "0123456789") != "" {
		return checkpoint.Checkpoint{}, fmt.Errorf("malformed checkpoint %q: want %d digits", s, OrderKeyLen)
	}
	switch s[0] {
	case keyStart, keyEnd:
		if strings.Trim(s[1+timeDigits:], "0") != "" {
			return checkpoint.Checkpoint{}, fmt.Errorf("malformed checkpoint %q: digits after the timestamp", s)
		}
		ns, err := strconv.ParseInt(s[1:1+timeDigits], 10, 64)
		if err != nil {
			return checkpoint.Checkpoint{}, fmt.Errorf("malformed checkpoint %q: %w", s, err)
		}
		var t time.Time
		if ns != 0 {
			t = time.Unix(0, ns)
		}
		if s[0] == keyEnd {
			return checkpoint.EndedFrom(t), nil
		}
		if t.IsZero() {
			return checkpoint.Checkpoint{}, fmt.Errorf("malformed checkpoint %q: a start without a time", s)
		}
		return checkpoint.StartAt(t), nil
	case keyPosition:
	default:
		return checkpoint.Checkpoint{}, fmt.Errorf("malformed checkpoint %q: unknown form %q", s, s[0])
	}
	seq, whole, sub := s[1:1+seqDigits], s[1+seqDigits], s[2+seqDigits:]
	if whole > '1' {
		return checkpoint.Checkpoint{}, fmt.Errorf("malformed checkpoint %q", s)
	}
	if seq = strings.TrimLeft(seq, "0"); seq == "" {
		seq = "0"
	}
	if whole == '1' {
		if strings.Trim(sub, "0") != "" {
			return checkpoint.Checkpoint{}, fmt.Errorf("malformed checkpoint %q: sub-sequence number on a whole record", s)
		}
		return checkpoint.At(seq), nil
	}
	n, err := strconv.ParseInt(sub, 10, 64)
	if err != nil {
		return checkpoint.Checkpoint{}, fmt.Errorf("malformed checkpoint %q: %w", s, err)
	}
	return checkpoint.AtSub(seq, n), nil
}

// Namespace joins an app and a stream name into one key, unambiguously
// whatever the names hold: the byte length of app in decimal, ':', app, '/',
// stream. "3:a/b/c" is app "a/b" and stream "c"; "1:a/b/c" is app "a" and
// stream "b/c".
func Namespace(app, stream string) string {
	return strconv.Itoa(len(app)) + ":" + app + "/" + stream
}

// ParseNamespace returns the app and stream names Namespace joined into ns;
// ok is false when ns was not made by Namespace.
func ParseNamespace(ns string) (app, stream string, ok bool) {
	n, rest, found := strings.Cut(ns, ":")
	size, err := strconv.Atoi(n)
	if !found || err != nil || size < 0 || strconv.Itoa(size) != n || size >= len(rest) || rest[size] != '/' {
		return "", "", false
	}
	return rest[:size], rest[size+1:], true
}
