package efo

import (
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/kinesin-go/kinesin/internal/retry"
)

// Options tune a Reader, Register and Deregister. A zero field takes the
// default its documentation gives.
type Options struct {
	// SubscribeInterval is the least time between the starts of two
	// SubscribeToShard calls on a shard; default 1s, the service's limit per
	// consumer and shard. A shorter interval exceeds that limit and only
	// makes sense against an emulator.
	SubscribeInterval time.Duration
	// InitialBackoff is the first wait after a failed call or a broken
	// subscription, growing 1.5 times with each failure in a row, with ±30%
	// jitter; default 200ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between failed calls; default 5s.
	MaxBackoff time.Duration
	// RegisterTimeout bounds how long Register waits for the consumer to be
	// ACTIVE, retries included, and how long Deregister retries; default 2m.
	RegisterTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultSubscribeInterval = time.Second
	DefaultInitialBackoff    = 200 * time.Millisecond
	DefaultMaxBackoff        = 5 * time.Second
	DefaultRegisterTimeout   = 2 * time.Minute
)

// ErrInvalidOptions is wrapped by the error Validate returns.
var ErrInvalidOptions = errors.New("efo: invalid options")

// Validate reports options out of range.
func (o Options) Validate() error {
	switch {
	case o.SubscribeInterval < 0:
		return fmt.Errorf("%w: SubscribeInterval %v is negative", ErrInvalidOptions, o.SubscribeInterval)
	case o.InitialBackoff < 0 || o.MaxBackoff < 0:
		return fmt.Errorf("%w: negative backoff", ErrInvalidOptions)
	case o.RegisterTimeout < 0:
		return fmt.Errorf("%w: RegisterTimeout %v is negative", ErrInvalidOptions, o.RegisterTimeout)
	}
	if d := o.WithDefaults(); d.MaxBackoff < d.InitialBackoff {
		return fmt.Errorf("%w: MaxBackoff %v is shorter than InitialBackoff %v", ErrInvalidOptions, d.MaxBackoff, d.InitialBackoff)
	}
	return nil
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.SubscribeInterval == 0 {
		o.SubscribeInterval = DefaultSubscribeInterval
	}
	if o.InitialBackoff == 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(DefaultMaxBackoff, o.InitialBackoff)
	}
	if o.RegisterTimeout == 0 {
		o.RegisterTimeout = DefaultRegisterTimeout
	}
	return o
}

// backoff returns the retry schedule of o (with defaults applied): it never
// gives up, the caller decides when to stop.
func (o Options) backoff() backoff.BackOff { return retry.Backoff(o.InitialBackoff, o.MaxBackoff) }

// Hooks observe a Reader. Every field is optional; hooks run on the
// goroutine of the Read they are about, and must not block.
type Hooks struct {
	// OnSubscribe runs after each SubscribeToShard call, which took d, with
	// its error (nil when the subscription is open).
	OnSubscribe func(shardID string, d time.Duration, err error)
	// OnEvent runs for each SubscribeToShardEvent taken from a subscription,
	// before its records are handed over; records is how many it carries
	// (0 for the heartbeats the service sends while the shard is quiet).
	OnEvent func(shardID string, records int, millisBehind int64)
	// OnRetry runs before the Reader waits to subscribe again after err: a
	// failed call, or a subscription that broke.
	OnRetry func(shardID string, wait time.Duration, err error)
}
