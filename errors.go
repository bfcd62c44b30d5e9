package kinesin

import (
	"errors"
	"fmt"
	"time"

	"github.com/kinesin-go/kinesin/internal/consumer"
)

// The sentinel errors; see the package documentation for what to do about
// each.
var (
	// ErrInvalidOption is wrapped by Open's error for bad options.
	ErrInvalidOption = errors.New("kinesin: invalid option")
	// ErrNoAWSConfig is wrapped by Open's error when no usable AWS
	// configuration is found.
	ErrNoAWSConfig = errors.New("kinesin: no usable AWS configuration")
	// ErrStreamNotFound is wrapped when the stream does not exist.
	ErrStreamNotFound = errors.New("kinesin: stream not found")
	// ErrConsumed is yielded when a stream's records are asked for twice.
	ErrConsumed = errors.New("kinesin: the stream's records were already asked for (Records and Chan are single-use)")
	// ErrClosed is returned by Flush after Close.
	ErrClosed = errors.New("kinesin: stream closed")
	// ErrDecoderPanic is wrapped by the Err of a *DecodeError whose decoder
	// panicked; DecodeError.Panic holds the value it panicked with.
	ErrDecoderPanic = errors.New("kinesin: the decoder panicked")
	// ErrStalled is wrapped by the *ReadError of a shard whose calls kept
	// failing with errors retrying could fix for longer than
	// WithStallTimeout.
	ErrStalled = errors.New("kinesin: kept failing past the stall timeout")
)

// DecodeError is the error beside a record the decoder rejected.
type DecodeError struct {
	ShardID           string
	SequenceNumber    string
	SubSequenceNumber int64
	// Data is the record's raw data.
	Data []byte
	// Err is the decoder's error; it wraps ErrDecoderPanic when the decoder
	// panicked.
	Err error
	// Panic is the value the decoder panicked with, nil when it returned
	// an error.
	Panic any
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("kinesin: decoding record %s of %s: %v", e.SequenceNumber, e.ShardID, e.Err)
}

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// ReadError is the fatal error of a shard that could not be read: an error
// retrying cannot fix, or (wrapping ErrStalled) failures that kept going for
// longer than WithStallTimeout.
type ReadError struct {
	// ShardID is the shard, "" for the listing of the shards.
	ShardID string
	// Operation is the call that failed (GetRecords, GetShardIterator,
	// SubscribeToShard, ListShards), when known.
	Operation string
	// Since is when the failures started, for a stall.
	Since time.Time
	// Err is the last error.
	Err error
}

func (e *ReadError) Error() string {
	what := "reading shard " + e.ShardID
	if e.ShardID == "" {
		what = "listing the shards"
	}
	return fmt.Sprintf("kinesin: %s: %v", what, e.Err)
}

// Unwrap returns the cause, typically an error of the AWS SDK.
func (e *ReadError) Unwrap() error { return e.Err }

// CheckpointError is the fatal error of a checkpoint store that kept
// failing.
type CheckpointError struct {
	// Since is when writes started failing.
	Since time.Time
	Err   error
}

func (e *CheckpointError) Error() string {
	return fmt.Sprintf("kinesin: checkpoint writes failing since %s: %v", e.Since.Format(time.RFC3339), e.Err)
}

// Unwrap returns the store's last error.
func (e *CheckpointError) Unwrap() error { return e.Err }

// publicError turns an error of the engine into the errors this package
// documents: a *consumer.Failure becomes ErrStreamNotFound, a *ReadError or
// a *CheckpointError.
func publicError(err error) error {
	var scope *consumer.ScopeError
	if errors.As(err, &scope) {
		return fmt.Errorf("%w: WithShards: %w", ErrInvalidOption, err)
	}
	var f *consumer.Failure
	if !errors.As(err, &f) {
		return err
	}
	switch f.Kind {
	case consumer.StreamGone:
		return fmt.Errorf("%w: %w", ErrStreamNotFound, f.Err)
	case consumer.ReadFailed:
		re := &ReadError{ShardID: f.Shard, Operation: f.Op, Since: f.Since, Err: f.Err}
		if f.Stalled {
			re.Err = fmt.Errorf("%w: %s failing since %s (%v): %w", ErrStalled, f.Op,
				f.Since.Format(time.RFC3339), time.Since(f.Since).Round(time.Second), f.Err)
		}
		return re
	case consumer.CheckpointsFailed:
		return &CheckpointError{Since: f.Since, Err: f.Err}
	}
	return err
}
