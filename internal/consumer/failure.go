package consumer

import (
	"errors"
	"time"
)

// FailureKind says what ended the engine.
type FailureKind int

const (
	// StreamGone: the stream does not exist, was deleted, or was deleted
	// and created again.
	StreamGone FailureKind = iota + 1
	// ReadFailed: a shard could not be read in a way retrying cannot fix.
	ReadFailed
	// CheckpointsFailed: the store of the checkpoints kept failing for
	// longer than the configured outage.
	CheckpointsFailed
)

// Failure is the fatal error of the engine, and the error of Start when the
// stream is not found. The typed face turns it into its public errors.
type Failure struct {
	Kind FailureKind
	// Shard is the shard a ReadFailed is about ("" for the listing of
	// the shards), and Op the call that failed, when known.
	Shard, Op string
	// Since is when the failures started: of the shard's calls (a stall),
	// or of the checkpoint writes.
	Since time.Time
	// Stalled: the shard's calls failed with errors retrying could fix,
	// for longer than the stall timeout (Since to the failure); Err is the
	// last one.
	Stalled bool
	Err     error
}

func (f *Failure) Error() string { return f.Err.Error() }

// Unwrap returns the cause.
func (f *Failure) Unwrap() error { return f.Err }

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("kinesin: stream closed")
