// Package checkpoint defines where kinesin keeps the position each consumer
// group has reached in each shard, and the contract every store meets.
//
// A store holds one Checkpoint per (app, stream, shard). The consumer reads the
// whole (app, stream) state once at start-up with Load, and writes the
// positions that advanced since the last write together with Save, at most
// once per checkpoint interval, at shard end, on Flush and on Close.
//
// Stores provided: checkpoint/memory (in process, the default),
// checkpoint/dynamodb and checkpoint/redis. Every store passes the suite in
// checkpoint/checkpointtest. OrderKey gives stores whose conditional writes
// compare strings a fixed-width key that orders as Compare does.
//
// # Contract
//
// A Store implementation:
//   - never moves a checkpoint backwards: Save ignores, per shard, a position
//     that does not Compare above the stored one, and the comparison is the
//     one of Checkpoint.Compare (sequence numbers as decimal integers of up
//     to 129 digits, then sub-sequence numbers, with the shard-end marker
//     above every position);
//   - keeps the sub-sequence number and the shard-end marker;
//   - validates every checkpoint of a Save before writing any: a Save holding
//     a checkpoint that fails Validate writes nothing and returns an error
//     wrapping ErrInvalid that names the shard. Past validation a Save need
//     not be atomic across shards: after another error some of its shards may
//     be stored, and retrying the Save is harmless since writes only go
//     forward;
//   - keeps (app, stream) pairs apart whatever characters the names and shard
//     ids hold, and keeps no reference to the map given to Save nor to the
//     map returned by Load, which belongs to the caller;
//   - returns errors, wrapped with the operation, instead of hiding them, and
//     wraps ctx.Err() when the context ends; it does not retry forever, the
//     consumer retries;
//   - is safe for concurrent use.
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Store persists checkpoints.
type Store interface {
	// Load returns every checkpoint stored for (app, stream), by shard id.
	// Shards without a checkpoint are absent; an empty state is an empty map
	// and no error.
	Load(ctx context.Context, app, stream string) (map[string]Checkpoint, error)
	// Save stores the given checkpoints of (app, stream), by shard id. A
	// checkpoint that is not above the stored one leaves it unchanged and is
	// not an error.
	Save(ctx context.Context, app, stream string, checkpoints map[string]Checkpoint) error
}

// Checkpoint is the position a consumer group has reached in a shard: every
// record up to and including it was processed.
type Checkpoint struct {
	// SequenceNumber is the sequence number of the last processed record:
	// a decimal integer of up to 129 significant digits, the most the Kinesis
	// API allows (the service hands out 56-digit ones).
	SequenceNumber string
	// SubSequenceNumber is, when Partial, the index inside the KPL aggregated
	// record at SequenceNumber of the last processed user record.
	SubSequenceNumber int64
	// Partial reports that only the user records up to SubSequenceNumber of
	// the aggregated record at SequenceNumber were processed. When false (the
	// zero value) the whole Kinesis record was processed.
	Partial bool
	// ShardEnded reports that every record of the shard was processed and
	// the shard is closed: its children may be read.
	ShardEnded bool
}

// Ended returns the shard-end marker.
func Ended() Checkpoint { return Checkpoint{ShardEnded: true} }

// At returns the checkpoint of a whole record.
func At(sequenceNumber string) Checkpoint {
	return Checkpoint{SequenceNumber: sequenceNumber}
}

// AtSub returns the checkpoint of the user record at index sub inside the KPL
// aggregated record at sequenceNumber.
func AtSub(sequenceNumber string, sub int64) Checkpoint {
	return Checkpoint{SequenceNumber: sequenceNumber, SubSequenceNumber: sub, Partial: true}
}

// ErrInvalid is wrapped by Validate and by stores handed a malformed
// checkpoint.
var ErrInvalid = errors.New("checkpoint: invalid checkpoint")

// Validate reports whether c is a well-formed checkpoint.
func (c Checkpoint) Validate() error {
	if c.ShardEnded {
		return nil
	}
	if !isDecimal(c.SequenceNumber) {
		return fmt.Errorf("%w: sequence number %q is not a decimal integer", ErrInvalid, c.SequenceNumber)
	}
	if len(strings.TrimLeft(c.SequenceNumber, "0")) > maxSequenceDigits {
		return fmt.Errorf("%w: sequence number %q has more than %d digits", ErrInvalid, c.SequenceNumber, maxSequenceDigits)
	}
	if !c.Partial && c.SubSequenceNumber != 0 {
		return fmt.Errorf("%w: sub-sequence number %d on a whole record", ErrInvalid, c.SubSequenceNumber)
	}
	if c.SubSequenceNumber < 0 {
		return fmt.Errorf("%w: negative sub-sequence number %d", ErrInvalid, c.SubSequenceNumber)
	}
	return nil
}

// maxSequenceDigits is the length limit of a sequence number in the Kinesis
// API, whose pattern is 0|([1-9]\d{0,128}).
const maxSequenceDigits = 129

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Compare orders checkpoints: -1 if c is before o, 0 if equal, +1 if after.
// The shard-end marker is after every position; positions order by sequence
// number as an integer, then by sub-sequence number, a whole record being
// after each of its sub-records.
func (c Checkpoint) Compare(o Checkpoint) int {
	switch {
	case c.ShardEnded && o.ShardEnded:
		return 0
	case c.ShardEnded:
		return 1
	case o.ShardEnded:
		return -1
	}
	if n := CompareSequence(c.SequenceNumber, o.SequenceNumber); n != 0 {
		return n
	}
	switch {
	case !c.Partial && !o.Partial:
		return 0
	case !c.Partial:
		return 1
	case !o.Partial:
		return -1
	case c.SubSequenceNumber < o.SubSequenceNumber:
		return -1
	case c.SubSequenceNumber > o.SubSequenceNumber:
		return 1
	}
	return 0
}

// CompareSequence compares two decimal sequence numbers as integers,
// without allocating: -1, 0 or +1.
func CompareSequence(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return strings.Compare(a, b)
}

// String formats c for logs.
func (c Checkpoint) String() string {
	switch {
	case c.ShardEnded:
		return "SHARD_END"
	case !c.Partial:
		return c.SequenceNumber
	default:
		return fmt.Sprintf("%s/%d", c.SequenceNumber, c.SubSequenceNumber)
	}
}
