// Package polling tunes the polling readers of kinesin, its default way of
// reading a stream: each shard is read with GetShardIterator and GetRecords,
// keeping within the service's limit of 5 GetRecords calls a second per shard
// (Options.MinInterval), calling again as soon as that and the shard's read
// throughput (Options.ReadRate) allow while it is behind the tip of the
// shard, and waiting Options.IdleInterval once it has caught up.
// kinesin.WithPolling takes the Options.
//
// # Errors
//
// Throttling (ProvisionedThroughputExceededException and the like), server
// errors, network errors and errors the reader does not know are retried
// with exponential backoff and jitter (Options.InitialBackoff growing to
// Options.MaxBackoff), until the shard has failed for kinesin's
// WithStallTimeout. An expired shard iterator is replaced by one just after
// the last record handed over, so nothing is lost or repeated. A starting
// sequence number older than the stream's retention falls back to
// TRIM_HORIZON, with a warning naming the records lost. Errors that
// retrying cannot fix end the stream at once: missing permissions or
// credentials, unusable KMS keys, malformed or unknown operations, the same
// unreadable response twice.
package polling

import (
	"errors"
	"fmt"
	"time"
)

// Options tune the polling readers of a stream (kinesin.WithPolling). A zero
// field takes the default its documentation gives.
type Options struct {
	// MaxRecords is the most records one GetRecords call asks for, from 1
	// to 10,000; default 10,000.
	MaxRecords int
	// MinInterval is the least time between the starts of two GetRecords
	// calls on a shard; default 200ms, the service's limit of 5 calls a
	// second. A shorter interval exceeds that limit and only makes sense
	// against an emulator.
	MinInterval time.Duration
	// IdleInterval is the time between the starts of two GetRecords calls
	// on a shard once it has caught up with the tip; default 500ms. It must not
	// be shorter than MinInterval.
	IdleInterval time.Duration
	// InitialBackoff is the first wait after a throttled or failed call,
	// growing 1.5 times with each failure in a row, with ±30% jitter;
	// default 200ms. A wait is never shorter than MinInterval.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between failed calls, jitter included;
	// default 5s.
	MaxBackoff time.Duration
	// ReadRate is the read throughput, in bytes a second, a shard allows
	// (shared by every polling consumer of the stream): while behind, the
	// reader calls again only once the bytes it just read are paid for, so
	// it keeps up without being throttled; default 2 MiB, the service's.
	ReadRate int
}

// Defaults of Options.
const (
	DefaultMaxRecords     = 10000
	DefaultMinInterval    = 200 * time.Millisecond
	DefaultIdleInterval   = 500 * time.Millisecond
	DefaultInitialBackoff = 200 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultReadRate       = 2 << 20
)

// ErrInvalidOption is wrapped by the errors of Validate and New for options
// out of range.
var ErrInvalidOption = errors.New("polling: invalid option")

// Validate reports options out of range.
func (o Options) Validate() error {
	switch {
	case o.MaxRecords < 0 || o.MaxRecords > 10000:
		return fmt.Errorf("%w: MaxRecords %d is outside 1..10000", ErrInvalidOption, o.MaxRecords)
	case o.MinInterval < 0:
		return fmt.Errorf("%w: MinInterval %v is negative", ErrInvalidOption, o.MinInterval)
	case o.IdleInterval < 0:
		return fmt.Errorf("%w: IdleInterval %v is negative", ErrInvalidOption, o.IdleInterval)
	case o.InitialBackoff < 0 || o.MaxBackoff < 0:
		return fmt.Errorf("%w: negative backoff", ErrInvalidOption)
	case o.ReadRate < 0:
		return fmt.Errorf("%w: ReadRate %d is negative", ErrInvalidOption, o.ReadRate)
	}
	d := o.WithDefaults()
	switch {
	case d.IdleInterval < d.MinInterval:
		return fmt.Errorf("%w: IdleInterval %v is shorter than MinInterval %v", ErrInvalidOption, d.IdleInterval, d.MinInterval)
	case d.MaxBackoff < d.InitialBackoff:
		return fmt.Errorf("%w: MaxBackoff %v is shorter than InitialBackoff %v", ErrInvalidOption, d.MaxBackoff, d.InitialBackoff)
	}
	return nil
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.MaxRecords == 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if o.MinInterval == 0 {
		o.MinInterval = DefaultMinInterval
	}
	if o.IdleInterval == 0 {
		o.IdleInterval = max(DefaultIdleInterval, o.MinInterval)
	}
	if o.InitialBackoff == 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(DefaultMaxBackoff, o.InitialBackoff)
	}
	if o.ReadRate == 0 {
		o.ReadRate = DefaultReadRate
	}
	return o
}
