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

// Option configures a Manager.
type Option func(*config)

type config struct {
	leaseDuration  time.Duration
	renewInterval  time.Duration
	cycleInterval  time.Duration
	handoffTimeout time.Duration
	maxSteals      int
	concurrency    int
	workerID       string
	clock          Clock
	logger         *slog.Logger
	hooks          Hooks
}

// Defaults.
const (
	DefaultLeaseDuration = 10 * time.Second
	DefaultCycleInterval = 2 * time.Second
	DefaultConcurrency   = 16
)

// LeaseDuration sets how long a lease whose counter no observer sees change
// stays its owner's: after it, other workers take it. The owner renews it
// every RenewInterval and gives up a lease it could not renew for 90% of
// this. Overrides the default 10s.
func LeaseDuration(d time.Duration) Option { return func(c *config) { c.leaseDuration = d } }

// RenewInterval sets how often the held leases are renewed, overriding the
// default of a third of LeaseDuration. It must be at most half of
// LeaseDuration, so that one failed renewal does not lose the lease.
func RenewInterval(d time.Duration) Option { return func(c *config) { c.renewInterval = d } }

// CycleInterval sets how often the worker heartbeats, reads the lease table,
// and takes, balances and cleans up leases, overriding the default 2s. It
// must be shorter than LeaseDuration: a dead worker's shards are taken
// within LeaseDuration plus one CycleInterval.
func CycleInterval(d time.Duration) Option { return func(c *config) { c.cycleInterval = d } }

// MaxStealsPerCycle bounds how many handoffs a worker asks for in one cycle
// when it is below its share and no lease is free or expired, overriding the
// default 0: no bound beyond the worker's need (its target minus what it
// holds), so that a new worker asks for its whole share in its first cycle
// and owns it in its second.
func MaxStealsPerCycle(n int) Option { return func(c *config) { c.maxSteals = n } }

// HandoffTimeout sets how long, after a Revoke event, the Manager waits for
// the scheduler to call Release before it releases the lease itself and
// sends Lost, overriding the default of half of LeaseDuration.
func HandoffTimeout(d time.Duration) Option { return func(c *config) { c.handoffTimeout = d } }

// Concurrency sets how many store writes (renewals, takes, releases) one pass
// makes at the same time, overriding the default 16. It must be at least 1.
func Concurrency(n int) Option { return func(c *config) { c.concurrency = n } }

// WorkerID sets the id this worker writes as owner, overriding the default
// of the host name, the process id and random hex, unique per process. A
// fixed id lets a restarted process take back at once the leases its
// previous run held (fencing that run); two live processes must never share
// one.
func WorkerID(id string) Option { return func(c *config) { c.workerID = id } }

// WithClock sets the clock the Manager measures time with, overriding the
// real clock. Tests pass a manual one (leasetest.Clock).
func WithClock(clock Clock) Option { return func(c *config) { c.clock = clock } }

// WithLogger sets where the Manager logs lease changes (Info) and failures
// it retries (Warn), overriding the default of no logging.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithHooks sets functions called on lease changes; see Hooks.
func WithHooks(h Hooks) Option { return func(c *config) { c.hooks = h } }

// Hooks are optional functions the Manager calls when a lease changes, for
// metrics and logs, before the matching Event is sent on Events. They are
// called on the Manager's own goroutine, one at a time, in event order. They
// must return quickly and must not call the Manager's methods: while one
// runs, no lease is renewed, and Close would deadlock.
type Hooks struct {
	// OnAssigned is called when the worker acquired a lease (Acquired).
	OnAssigned func(Lease)
	// OnRevoked is called when the worker is asked to hand a lease over
	// (Revoke).
	OnRevoked func(Lease)
	// OnLost is called when the worker lost a lease (Lost).
	OnLost func(Lease)
	// OnRenewed is called with the shard id of every lease the Manager
	// renewed (every RenewInterval, a successful Store.Renew, or one whose
	// reply was lost but that reads back as applied), after the renewal
	// pass, one lease at a time. Checkpoints, which also renew, do not call
	// it. No Event matches it. Like the other hooks it runs on the Manager's
	// goroutine and must not block nor call the Manager: count, don't wait.
	OnRenewed func(shard string)
}

func defaults() config {
	return config{
		leaseDuration: DefaultLeaseDuration,
		cycleInterval: DefaultCycleInterval,
		concurrency:   DefaultConcurrency,
	}
}

// validate fills the defaults that depend on other settings and rejects
// bad values, naming the options.
func (c *config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...))
	}
	if c.leaseDuration <= 0 {
		bad("LeaseDuration %v is not positive", c.leaseDuration)
	}
	if c.renewInterval == 0 {
		c.renewInterval = c.leaseDuration / 3
	}
	if c.handoffTimeout == 0 {
		c.handoffTimeout = c.leaseDuration / 2
	}
	switch {
	case c.renewInterval <= 0:
		bad("RenewInterval %v is not positive", c.renewInterval)
	case c.leaseDuration > 0 && c.renewInterval > c.leaseDuration/2:
		bad("RenewInterval %v is more than half of LeaseDuration %v: one failed renewal would lose the lease", c.renewInterval, c.leaseDuration)
	}
	switch {
	case c.cycleInterval <= 0:
		bad("CycleInterval %v is not positive", c.cycleInterval)
	case c.leaseDuration > 0 && c.cycleInterval >= c.leaseDuration:
		bad("CycleInterval %v is not shorter than LeaseDuration %v: workers would not see each other alive", c.cycleInterval, c.leaseDuration)
	}
	if c.handoffTimeout <= 0 {
		bad("HandoffTimeout %v is not positive", c.handoffTimeout)
	}
	if c.maxSteals < 0 {
		bad("MaxStealsPerCycle %d is negative", c.maxSteals)
	}
	if c.concurrency < 1 {
		bad("Concurrency %d is less than 1", c.concurrency)
	}
	if c.workerID == "" {
		c.workerID = defaultWorkerID()
	} else if !utf8.ValidString(c.workerID) {
		bad("WorkerID %q is not valid UTF-8", c.workerID)
	}
	if c.clock == nil {
		c.clock = realClock{}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
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
