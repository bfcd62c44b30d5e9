package kinesistest

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
)

// TB is the part of testing.TB the fake uses: *testing.T, *testing.B and
// *testing.F satisfy it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Cleanup(func())
}

// ErrInvalidOption is wrapped by the error of an option given a value out of
// its range: NewFake returns it, New reports it to the test.
var ErrInvalidOption = errors.New("kinesistest: invalid option")

// Option configures a Fake. An option given a value out of its range is
// refused, never replaced: New fails the test through its TB, naming the
// option, and NewFake returns an error wrapping ErrInvalidOption.
type Option func(*config) error

// invalid returns the error of option name given a bad value.
func invalid(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, name, fmt.Sprintf(format, args...))
}

type config struct {
	clock          Clock
	region         string
	account        string
	limits         *Limits
	seed           uint64
	streamDelay    time.Duration // CREATING
	deleteDelay    time.Duration // DELETING
	reshardDelay   time.Duration // UPDATING after resharding
	updateDelay    time.Duration // UPDATING after a mode or encryption change
	consumerDelay  time.Duration // consumer CREATING, DELETING
	heartbeat      time.Duration
	shardLimit     int
	maxEventRecord int
	trim           bool  // retention trimming on the clock
	maxStored      int64 // bytes of records the fake holds at most
	subHistory     int   // ended subscriptions Subscriptions remembers
}

func defaultConfig() config {
	return config{
		clock:          RealClock(),
		region:         "us-east-1",
		account:        "123456789012",
		seed:           1,
		heartbeat:      5 * time.Second,
		shardLimit:     10000,
		maxEventRecord: maxGetRecordsLimit,
		trim:           true,
		maxStored:      DefaultMaxStoredBytes,
		subHistory:     defaultSubHistory,
	}
}

// apply runs opts over the defaults and returns the first error.
func buildConfig(opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return defaultConfig(), err
		}
	}
	return cfg, nil
}

// WithClock sets the clock every time-based behaviour runs on, overriding the
// default RealClock(). A nil clock, or a ScaledClock of a factor that is not
// positive, is refused.
func WithClock(c Clock) Option {
	return func(cfg *config) error {
		if c == nil {
			return invalid("WithClock", "nil clock")
		}
		if sc, ok := c.(*scaledClock); ok {
			if err := sc.check(); err != nil {
				return err
			}
		}
		cfg.clock = c
		return nil
	}
}

// WithRegion sets the region used in ARNs, overriding the default
// "us-east-1". An empty region, or one with a colon or a space (which ARNs
// cannot hold), is refused.
func WithRegion(region string) Option {
	return func(cfg *config) error {
		if region == "" || strings.ContainsAny(region, ": \t\n/") {
			return invalid("WithRegion", "%q is not a region name", region)
		}
		cfg.region = region
		return nil
	}
}

// WithAccountID sets the account used in ARNs, overriding the default
// "123456789012". Anything but 12 digits (the form ARNs require) is refused.
func WithAccountID(id string) Option {
	return func(cfg *config) error {
		if len(id) != 12 || !allDigits(id) {
			return invalid("WithAccountID", "%q is not an account id of 12 digits", id)
		}
		cfg.account = id
		return nil
	}
}

// WithServiceLimits turns on the service's limits (see Limits): the
// throughput of shards and consumers, the call rates of control-plane
// operations, UpdateShardCount's rolling 24-hour limits, and at most 5
// streams CREATING at once. It overrides the default of no limits beyond the
// caps every call has (GetRecords at most 10,000 records and 10 MiB...). A
// negative field, or a call rate for an operation the fake does not serve, is
// refused; a zero field takes the service's value.
func WithServiceLimits(l Limits) Option {
	return func(cfg *config) error {
		// A copy for each fake: one Option may make fakes concurrently.
		lim := l
		lim.CallRates = maps.Clone(l.CallRates)
		if err := lim.check(); err != nil {
			return err
		}
		lim.fill()
		cfg.limits = &lim
		return nil
	}
}

// WithSeed seeds the random source used by probabilistic faults, overriding
// the default seed 1, so a test run is repeatable.
func WithSeed(seed uint64) Option {
	return func(cfg *config) error {
		cfg.seed = seed
		return nil
	}
}

// delay builds an option setting a non-negative duration.
func delay(name string, d time.Duration, set func(*config, time.Duration)) Option {
	return func(cfg *config) error {
		if d < 0 {
			return invalid(name, "negative duration %v", d)
		}
		set(cfg, d)
		return nil
	}
}

// WithStreamCreationDelay sets how long a stream created through CreateStream
// stays CREATING before it becomes ACTIVE, overriding the default 0. The
// CreateStream helper of the Fake always makes streams ACTIVE at once. A
// negative delay is refused.
func WithStreamCreationDelay(d time.Duration) Option {
	return delay("StreamCreationDelay", d, func(c *config, d time.Duration) { c.streamDelay = d })
}

// WithStreamDeletionDelay sets how long a stream deleted through DeleteStream
// stays DELETING before it is gone, overriding the default 0. While
// DELETING, the stream is still described and listed, and its records can
// still be read and written, as the service allows; control-plane changes
// are ResourceInUseException. The DeleteStream helper of the Fake removes
// streams at once. A negative delay is refused.
func WithStreamDeletionDelay(d time.Duration) Option {
	return delay("StreamDeletionDelay", d, func(c *config, d time.Duration) { c.deleteDelay = d })
}

// WithReshardDelay sets how long a stream stays UPDATING after SplitShard,
// MergeShards or UpdateShardCount, overriding the default 0. The new shards
// exist at once; while UPDATING, further resharding fails with
// ResourceInUseException, as it does on the service. A negative delay is
// refused.
func WithReshardDelay(d time.Duration) Option {
	return delay("ReshardDelay", d, func(c *config, d time.Duration) { c.reshardDelay = d })
}

// WithStreamUpdateDelay sets how long a stream stays UPDATING after
// UpdateStreamMode, StartStreamEncryption or StopStreamEncryption,
// overriding the default 0. A negative delay is refused.
func WithStreamUpdateDelay(d time.Duration) Option {
	return delay("StreamUpdateDelay", d, func(c *config, d time.Duration) { c.updateDelay = d })
}

// WithConsumerActivationDelay sets how long a registered EFO consumer stays
// CREATING (and a deregistered one DELETING), overriding the default 0. A
// negative delay is refused.
func WithConsumerActivationDelay(d time.Duration) Option {
	return delay("ConsumerActivationDelay", d, func(c *config, d time.Duration) { c.consumerDelay = d })
}

// WithSubscriptionHeartbeat sets how often a SubscribeToShard stream sends an
// empty event while there is nothing new to send, overriding the default 5s.
// A duration of 0 or less is refused.
func WithSubscriptionHeartbeat(d time.Duration) Option {
	return func(cfg *config) error {
		if d <= 0 {
			return invalid("SubscriptionHeartbeat", "interval %v is not positive", d)
		}
		cfg.heartbeat = d
		return nil
	}
}

// WithShardLimit sets the account's shard limit checked by CreateStream,
// UpdateShardCount and SplitShard and reported by DescribeLimits,
// overriding the default 10000 (the service's default quota). A limit of 0
// or less is refused.
func WithShardLimit(n int) Option {
	return func(cfg *config) error {
		if n <= 0 {
			return invalid("ShardLimit", "limit %d is not positive", n)
		}
		cfg.shardLimit = n
		return nil
	}
}

// WithRetentionTrimming turns the trimming of records past their stream's
// retention period on or off, overriding the default on. When on, records
// older than the retention period (24 hours unless changed) on the fake's
// clock are gone, and a closed shard whose records are all gone stops being
// listed, as on the service: the fake trims a shard lazily when a call
// touches it (a read, a write, a listing), so no goroutine runs and a test
// that never moves its clock past the retention period sees nothing. When
// off, records stay until Fake.Trim removes them.
func WithRetentionTrimming(on bool) Option {
	return func(cfg *config) error {
		cfg.trim = on
		return nil
	}
}

// DefaultMaxStoredBytes is the default of MaxStoredBytes: 1 GiB.
const DefaultMaxStoredBytes = 1 << 30

// WithMaxStoredBytes bounds the bytes of records (data and partition keys) the
// fake holds, over all its streams, overriding DefaultMaxStoredBytes. A
// write that would pass the bound fails whole: PutRecord and PutRecords with
// LimitExceededException ("kinesistest: the fake holds N bytes of records,
// its bound is M ..."), the helpers with an error. Records trimmed by
// retention and deleted streams free their bytes. A bound of 0 or less is
// refused.
func WithMaxStoredBytes(n int64) Option {
	return func(cfg *config) error {
		if n <= 0 {
			return invalid("MaxStoredBytes", "bound %d is not positive", n)
		}
		cfg.maxStored = n
		return nil
	}
}

// defaultSubHistory is how many ended subscriptions Subscriptions keeps.
const defaultSubHistory = 10000

// WithRealistic turns on what the service does and the fast defaults leave out,
// in one option, for tests (and servers) that want the service's timings
// rather than speed. On the fake's clock (the one the test chose):
//
//   - a stream is CREATING for 10 s after CreateStream, DELETING for 10 s
//     after DeleteStream, UPDATING for 30 s after SplitShard, MergeShards or
//     UpdateShardCount and for 5 s after UpdateStreamMode or a change of
//     encryption; a consumer is CREATING for 5 s after
//     RegisterStreamConsumer and DELETING for 5 s after
//     DeregisterStreamConsumer. The service documents none of these
//     durations (it says "a few seconds" for encryption and "a few minutes"
//     for large scalings); they are typical of small streams, long enough
//     that code which does not wait for ACTIVE fails as it would on the
//     service.
//   - retention trimming is on (as it is by default);
//   - every limit of WithServiceLimits(DefaultLimits()) is on.
//
// Options given after WithRealistic override what it sets.
func WithRealistic() Option {
	return func(cfg *config) error {
		cfg.streamDelay = 10 * time.Second
		cfg.deleteDelay = 10 * time.Second
		cfg.reshardDelay = 30 * time.Second
		cfg.updateDelay = 5 * time.Second
		cfg.consumerDelay = 5 * time.Second
		cfg.trim = true
		l := DefaultLimits()
		cfg.limits = &l
		return nil
	}
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
