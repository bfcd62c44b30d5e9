// Package checkpoint defines where kinesin keeps the position each consumer
// group has reached in each shard, and the contract every store meets.
//
// A store holds one Checkpoint per (app, stream, shard). The consumer reads the
// whole (app, stream) state once at start-up with Load, and writes the
// positions that advanced since the last write together with Save, at most
// once per checkpoint interval, at shard end, on Flush and on Close.
//
// Stores provided: checkpoint/memcheckpoint (in process, the default),
// checkpoint/dynamocheckpoint and checkpoint/redischeckpoint (a module of its
// own). Every store passes the suite in checkpoint/checkpointtest; a store of
// your own should too.
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
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
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

// Checkpoint is the position a consumer group has reached in a shard. It has
// one of three forms:
//
//   - a position (SequenceNumber set): every record up to and including it
//     was processed;
//   - a start (StartAt: no SequenceNumber, not ShardEnded, Timestamp set): no
//     record was processed yet, and the shard is read from the records that
//     arrived at or after Timestamp. kinesin writes one for each shard when a
//     consumer group starts with Latest, before any record is handed out, so
//     that a restart resumes where the first run started;
//   - the shard-end marker (ShardEnded): every record of the closed shard was
//     processed and its children may be read. Its Timestamp, when set, is the
//     time the shard's read started at: children without a checkpoint of
//     their own are read from there too.
//
// The zero Checkpoint is "no checkpoint".
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
	// Timestamp is the start time of a start checkpoint, and the time the
	// read of an ended shard started at when it started at one (zero
	// otherwise). Stores keep it to the nanosecond, in UTC.
	Timestamp time.Time
}

// Ended returns the shard-end marker.
func Ended() Checkpoint { return Checkpoint{ShardEnded: true} }

// EndedFrom returns the shard-end marker of a shard whose read started at the
// records that arrived at or after t: its children are read from t too
// (unless t is zero, which is Ended()).
func EndedFrom(t time.Time) Checkpoint {
	return Checkpoint{ShardEnded: true, Timestamp: normalTime(t)}
}

// StartAt returns the start checkpoint of a shard none of whose records was
// processed yet, to be read from the records that arrived at or after t.
func StartAt(t time.Time) Checkpoint { return Checkpoint{Timestamp: normalTime(t)} }

// IsStart reports whether c is a start checkpoint (see StartAt).
func (c Checkpoint) IsStart() bool {
	return !c.ShardEnded && c.SequenceNumber == "" && !c.Timestamp.IsZero()
}

// IsZero reports whether c is the zero Checkpoint: no checkpoint.
func (c Checkpoint) IsZero() bool {
	return !c.ShardEnded && c.SequenceNumber == "" && c.Timestamp.IsZero()
}

// normalTime strips t of its monotonic reading and location, so that
// checkpoints holding the same instant compare equal with ==.
func normalTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

// Timestamps of start checkpoints and end markers must lie between the Unix
// epoch and the largest time a stores' fixed-width key holds.
var maxTimestamp = time.Unix(0, 1<<63-1)

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
	if !c.Timestamp.IsZero() && (c.Timestamp.Before(time.Unix(0, 0)) || c.Timestamp.After(maxTimestamp)) {
		return fmt.Errorf("%w: timestamp %v is outside 1970..2262", ErrInvalid, c.Timestamp)
	}
	if c.ShardEnded {
		return nil
	}
	if c.SequenceNumber == "" && !c.Timestamp.IsZero() {
		if c.Partial || c.SubSequenceNumber != 0 {
			return fmt.Errorf("%w: sub-sequence number on a start checkpoint", ErrInvalid)
		}
		return nil
	}
	if c.SequenceNumber != "" && !c.Timestamp.IsZero() {
		return fmt.Errorf("%w: a position (sequence number %s) with a timestamp", ErrInvalid, c.SequenceNumber)
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
// Start checkpoints are before every position, and the shard-end marker is
// after every position; start checkpoints, and end markers, order among
// themselves by Timestamp; positions order by sequence number as an integer,
// then by sub-sequence number, a whole record being after each of its
// sub-records.
func (c Checkpoint) Compare(o Checkpoint) int {
	if k, ok := c.kind(), o.kind(); k != ok {
		return cmp.Compare(k, ok)
	}
	if c.ShardEnded || c.SequenceNumber == "" {
		return c.Timestamp.Compare(o.Timestamp)
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

// kind ranks the three forms of a checkpoint: start, position, end.
func (c Checkpoint) kind() int {
	switch {
	case c.ShardEnded:
		return 2
	case c.SequenceNumber == "":
		return 0
	}
	return 1
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
	case c.ShardEnded && !c.Timestamp.IsZero():
		return "SHARD_END(from " + c.Timestamp.Format(time.RFC3339Nano) + ")"
	case c.ShardEnded:
		return "SHARD_END"
	case c.SequenceNumber == "" && !c.Timestamp.IsZero():
		return "AT_TIMESTAMP(" + c.Timestamp.Format(time.RFC3339Nano) + ")"
	case c.SequenceNumber == "":
		return "none"
	case !c.Partial:
		return c.SequenceNumber
	default:
		return fmt.Sprintf("%s/%d", c.SequenceNumber, c.SubSequenceNumber)
	}
}
