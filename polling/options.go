// Package polling tunes the polling readers of kinesin, its default way of
// reading a stream: each shard is read with GetShardIterator and GetRecords.
// After a call that returned records, the next comes Options.MinInterval
// later (250ms: 4 calls a second, within the service's 5 a second per
// shard), or once the shard's read throughput (Options.ReadRate) has paid
// for the bytes read. After a call that found nothing at the tip of the
// shard, the next comes Options.IdleInterval later, and each further empty
// call doubles the wait up to Options.MaxIdleInterval; a call that returns
// records brings it back to MinInterval. A record put on a shard that
// receives records steadily is thus delivered within MinInterval of its
// put (half of it on average), one on a shard that was quiet within
// MaxIdleInterval, and an idle shard costs one call every MaxIdleInterval.
// One exception to MinInterval: the first call of a shard's read is sized
// by kinesin's memory budget before any record's size is known (a record
// counts as 1 MiB until then), so it may ask for few records; when it
// comes back full and the budget then pays for more, the second call
// follows at once, the two still within the service's 5 a second (and the
// first call's bytes, up to a MinInterval's worth at ReadRate, counted as
// the second's: a read does not wait for the few bytes a blind first call
// brought to be paid for).
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
	// MinInterval is the time between the starts of two GetRecords calls
	// on a shard while records come (but the first two of a read: see the
	// package doc); default 250ms. The calls keep to a grid of it: a call
	// that started late (a timer or the scheduler late, a wait for memory)
	// brings the next one earlier by as much, by at most a tenth of
	// MinInterval and never closer than 200ms, so a shard gets 1 /
	// MinInterval calls a second, never more. The service allows 5
	// GetRecords calls a second per shard, shared by every polling consumer
	// of the stream: 4 a second leave a fifth of them to retries and other
	// consumers, and still deliver a record within 250ms of its put (125ms
	// on average). Below 200ms a consumer exceeds the limit alone: only for
	// emulators.
	MinInterval time.Duration
	// IdleInterval is the time between the starts of two GetRecords calls
	// on a shard after a call that found nothing at its tip; default 500ms.
	// It must not be shorter than MinInterval.
	IdleInterval time.Duration
	// MaxIdleInterval bounds the wait after calls that found nothing at
	// the tip, which doubles from IdleInterval with each such call in a
	// row; default 4 × IdleInterval (2s with the default IdleInterval). It
	// must not be shorter than IdleInterval. It is the longest a record put
	// on a quiet shard waits for its call, and sets what a stream of idle
	// shards costs: one call per shard every MaxIdleInterval.
	MaxIdleInterval time.Duration
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
	DefaultMinInterval    = 250 * time.Millisecond
	DefaultIdleInterval   = 500 * time.Millisecond
	DefaultInitialBackoff = 200 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultReadRate       = 2 << 20
)

// DefaultMaxIdleFactor is how many IdleIntervals MaxIdleInterval is by
// default.
const DefaultMaxIdleFactor = 4

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
	case o.MaxIdleInterval < 0:
		return fmt.Errorf("%w: MaxIdleInterval %v is negative", ErrInvalidOption, o.MaxIdleInterval)
	case o.InitialBackoff < 0 || o.MaxBackoff < 0:
		return fmt.Errorf("%w: negative backoff", ErrInvalidOption)
	case o.ReadRate < 0:
		return fmt.Errorf("%w: ReadRate %d is negative", ErrInvalidOption, o.ReadRate)
	}
	d := o.WithDefaults()
	switch {
	case d.IdleInterval < d.MinInterval:
		return fmt.Errorf("%w: IdleInterval %v is shorter than MinInterval %v", ErrInvalidOption, d.IdleInterval, d.MinInterval)
	case d.MaxIdleInterval < d.IdleInterval:
		return fmt.Errorf("%w: MaxIdleInterval %v is shorter than IdleInterval %v", ErrInvalidOption, d.MaxIdleInterval, d.IdleInterval)
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
	if o.MaxIdleInterval == 0 {
		o.MaxIdleInterval = DefaultMaxIdleFactor * o.IdleInterval
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
