package efo

import (
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/kinesin-go/kinesin/internal/retry"
)

// Options tune the EFO readers of a stream (kinesin.WithEFOOptions), Register
// and Deregister. A zero field takes the default its documentation gives.
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

// ErrInvalidOption is wrapped by the errors of Validate and New for options
// out of range.
var ErrInvalidOption = errors.New("efo: invalid option")

// Validate reports options out of range.
func (o Options) Validate() error {
	switch {
	case o.SubscribeInterval < 0:
		return fmt.Errorf("%w: SubscribeInterval %v is negative", ErrInvalidOption, o.SubscribeInterval)
	case o.InitialBackoff < 0 || o.MaxBackoff < 0:
		return fmt.Errorf("%w: negative backoff", ErrInvalidOption)
	case o.RegisterTimeout < 0:
		return fmt.Errorf("%w: RegisterTimeout %v is negative", ErrInvalidOption, o.RegisterTimeout)
	}
	if d := o.WithDefaults(); d.MaxBackoff < d.InitialBackoff {
		return fmt.Errorf("%w: MaxBackoff %v is shorter than InitialBackoff %v", ErrInvalidOption, d.MaxBackoff, d.InitialBackoff)
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
