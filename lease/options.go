package lease

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
	"unicode/utf8"
)

// Option configures the lease protocol of a worker (kinesin.WithLeases takes
// them).
type Option func(*Settings)

// Settings are the values the options set, with their defaults, as
// Configure returns them: what kinesin's lease manager runs with.
type Settings struct {
	LeaseDuration  time.Duration
	RenewInterval  time.Duration
	CycleInterval  time.Duration
	HandoffTimeout time.Duration
	MaxSteals      int
	Concurrency    int
	WorkerID       string
	Clock          Clock
	Logger         *slog.Logger
}

// Configure applies opts over the defaults and checks them, naming every bad
// value in one error wrapping ErrInvalidOption.
func Configure(opts ...Option) (Settings, error) {
	c := defaults()
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c, c.validate()
}

// Defaults.
const (
	DefaultLeaseDuration = 10 * time.Second
	DefaultCycleInterval = 2 * time.Second
	DefaultConcurrency   = 16
)

// WithLeaseDuration sets how long a lease whose counter no observer sees change
// stays its owner's: after it, other workers take it. The owner renews it
// every RenewInterval and gives up a lease it could not renew for 90% of
// this. Overrides the default 10s.
func WithLeaseDuration(d time.Duration) Option { return func(c *Settings) { c.LeaseDuration = d } }

// WithRenewInterval sets how often the held leases are renewed, overriding the
// default of a third of LeaseDuration. It must be at most half of
// LeaseDuration, so that one failed renewal does not lose the lease.
func WithRenewInterval(d time.Duration) Option { return func(c *Settings) { c.RenewInterval = d } }

// WithCycleInterval sets how often the worker heartbeats, reads the lease table,
// and takes, balances and cleans up leases, overriding the default 2s. It
// must be shorter than LeaseDuration: a dead worker's shards are taken
// within LeaseDuration plus one CycleInterval.
func WithCycleInterval(d time.Duration) Option { return func(c *Settings) { c.CycleInterval = d } }

// WithMaxStealsPerCycle bounds how many handoffs a worker asks for in one cycle
// when it is below its share and no lease is free or expired, overriding the
// default 0: no bound beyond the worker's need (its target minus what it
// holds), so that a new worker asks for its whole share in its first cycle
// and owns it in its second.
func WithMaxStealsPerCycle(n int) Option { return func(c *Settings) { c.MaxSteals = n } }

// WithHandoffTimeout sets how long a worker asked to hand a lease over waits
// for the records it handed out to be committed before it frees the lease at
// its last checkpoint anyway, overriding the default of half of
// LeaseDuration. The next owner reads again what was not committed.
func WithHandoffTimeout(d time.Duration) Option { return func(c *Settings) { c.HandoffTimeout = d } }

// WithConcurrency sets how many store writes (renewals, takes, releases) one pass
// makes at the same time, overriding the default 16. It must be at least 1.
func WithConcurrency(n int) Option { return func(c *Settings) { c.Concurrency = n } }

// WithWorkerID sets the id this worker writes as owner, overriding the default
// of the host name, the process id and random hex, unique per process. A
// fixed id lets a restarted process take back at once the leases its
// previous run held (fencing that run); two live processes must never share
// one.
func WithWorkerID(id string) Option { return func(c *Settings) { c.WorkerID = id } }

// WithClock sets the clock the lease protocol measures time with, overriding the
// real clock. Tests pass a manual one (leasetest.Clock).
func WithClock(clock Clock) Option { return func(c *Settings) { c.Clock = clock } }

// WithLogger sets where the lease protocol logs lease changes (Info) and
// failures it retries (Warn), overriding kinesin.WithLogger's logger.
func WithLogger(l *slog.Logger) Option { return func(c *Settings) { c.Logger = l } }

func defaults() Settings {
	return Settings{
		LeaseDuration: DefaultLeaseDuration,
		CycleInterval: DefaultCycleInterval,
		Concurrency:   DefaultConcurrency,
	}
}

// validate fills the defaults that depend on other settings and rejects
// bad values, naming the options.
func (c *Settings) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...))
	}
	if c.LeaseDuration <= 0 {
		bad("LeaseDuration %v is not positive", c.LeaseDuration)
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = c.LeaseDuration / 3
	}
	if c.HandoffTimeout == 0 {
		c.HandoffTimeout = c.LeaseDuration / 2
	}
	switch {
	case c.RenewInterval <= 0:
		bad("RenewInterval %v is not positive", c.RenewInterval)
	case c.LeaseDuration > 0 && c.RenewInterval > c.LeaseDuration/2:
		bad("RenewInterval %v is more than half of LeaseDuration %v: one failed renewal would lose the lease", c.RenewInterval, c.LeaseDuration)
	}
	switch {
	case c.CycleInterval <= 0:
		bad("CycleInterval %v is not positive", c.CycleInterval)
	case c.LeaseDuration > 0 && c.CycleInterval >= c.LeaseDuration:
		bad("CycleInterval %v is not shorter than LeaseDuration %v: workers would not see each other alive", c.CycleInterval, c.LeaseDuration)
	}
	if c.HandoffTimeout <= 0 {
		bad("HandoffTimeout %v is not positive", c.HandoffTimeout)
	}
	if c.MaxSteals < 0 {
		bad("MaxStealsPerCycle %d is negative", c.MaxSteals)
	}
	if c.Concurrency < 1 {
		bad("Concurrency %d is less than 1", c.Concurrency)
	}
	if c.WorkerID == "" {
		c.WorkerID = defaultWorkerID()
	} else if !utf8.ValidString(c.WorkerID) {
		bad("WorkerID %q is not valid UTF-8", c.WorkerID)
	}
	if c.Clock == nil {
		c.Clock = RealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// defaultWorkerID returns the host name, the process id and 4 random bytes.
func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
