package leasetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/faults"
	"github.com/kinesin-go/kinesin/lease"
)

// ErrInvalidFault is wrapped by the error of a fault a Faulty refuses: one
// whose Match names an operation a lease.Store does not have (a typo would
// otherwise inject nothing), whose Times or Probability is out of range, or
// whose Action was made with a value out of range.
var ErrInvalidFault = errors.New("leasetest: invalid fault")

// Op is an operation of a lease.Store, as Match.Op and Faulty.Calls name
// it.
type Op string

// The operations of a lease.Store.
const (
	OpList           Op = "List"
	OpCreate         Op = "Create"
	OpTake           Op = "Take"
	OpRenew          Op = "Renew"
	OpCheckpoint     Op = "Checkpoint"
	OpRelease        Op = "Release"
	OpDelete         Op = "Delete"
	OpRequestHandoff Op = "RequestHandoff"
	OpHeartbeat      Op = "Heartbeat"
	OpDeleteWorker   Op = "DeleteWorker"
)

var vocabulary = faults.Vocabulary{
	Name:    "leasetest",
	Invalid: ErrInvalidFault,
	Ops: []string{string(OpList), string(OpCreate), string(OpTake), string(OpRenew), string(OpCheckpoint),
		string(OpRelease), string(OpDelete), string(OpRequestHandoff), string(OpHeartbeat), string(OpDeleteWorker)},
}

// Match selects the calls a fault applies to. Empty fields match anything.
type Match struct {
	// Op is the operation, one of the Op constants; another value is
	// refused (see Match.Validate).
	Op Op
	// App and Stream are the names the call is about.
	App, Stream string
	// Shard is the shard of the lease the call is about. A Match with a
	// Shard never selects List, Heartbeat or DeleteWorker, which are about
	// no lease.
	Shard string
}

func (m Match) call() faults.Call {
	return faults.Call{Op: string(m.Op), App: m.App, Stream: m.Stream, Shard: m.Shard}
}

// Validate returns an error wrapping ErrInvalidFault when m.Op is neither
// empty nor an operation of a lease.Store.
func (m Match) Validate() error { return vocabulary.CheckMatch(m.call()) }

// Action is what an injected fault does to a call it hits.
type Action struct{ a faults.Action }

var (
	// Pass lets the call through untouched; use it in Script.
	Pass = Action{}
	// Hang blocks the call until its fault is removed (Injected.Remove,
	// Faulty.Clear) or the call's context ends, then lets it through to
	// the store: a process frozen in the middle of a call. A call whose
	// context ended fails with an error wrapping the context's.
	// Faulty.WaitHung waits until calls hang.
	Hang = Action{faults.Action{Kind: faults.Hang}}
)

// Fail fails the call with an error wrapping err before it reaches the
// store: nothing is read or written. A nil err is refused by Inject and
// Script.
func Fail(err error) Action { return Action{faults.Action{Kind: faults.Fail, Err: err}} }

// FailAfter lets the call reach the store and, when the store succeeds,
// fails it with an error wrapping err: a write applied whose reply was lost
// to a timeout, an outcome the caller cannot know. When the store fails the
// call (lease.ErrLost, say), the caller gets the store's error and the call
// does not count as hit (nor against Times). A nil err is refused by Inject
// and Script.
func FailAfter(err error) Action { return Action{faults.Action{Kind: faults.FailAfter, Err: err}} }

// Latency delays the call by d of real time, then lets it through; a call
// whose context ends during the delay fails with an error wrapping the
// context's and does not reach the store. A negative d is refused by
// Inject and Script.
func Latency(d time.Duration) Action {
	return Action{faults.Action{Kind: faults.Latency, Delay: d}}
}

// Fault is a rule that makes matching calls fail, hang or slow down.
type Fault struct {
	Match
	// Action is what happens to a call the fault hits.
	Action Action
	// Times bounds how many calls the fault hits; 0 means no bound.
	Times int
	// Probability, between 0 and 1 exclusive, hits each matching call with
	// that chance, drawn from the Faulty's seeded source (see WithSeed). 0
	// (or 1 and above) hits every matching call.
	Probability float64
}

func (ft Fault) rule() faults.Rule {
	return faults.Rule{Match: ft.call(), Action: ft.Action.a, Times: ft.Times, Probability: ft.Probability}
}

// Validate returns an error wrapping ErrInvalidFault when the fault's Match
// is invalid, Times is negative, Probability is negative or NaN, or its
// Action was made with a value out of range.
func (ft Fault) Validate() error { return vocabulary.CheckRule(ft.rule()) }

// Injected is a fault in force. Its methods are safe for concurrent use.
type Injected struct{ in *faults.Injected }

// Err returns why Inject or Script refused the fault, or nil for a fault put
// in force.
func (in *Injected) Err() error { return in.in.Err() }

// Hits returns how many calls the fault has hit.
func (in *Injected) Hits() int { return in.in.Hits() }

// Remove takes the fault out of force; the calls it hangs go on.
func (in *Injected) Remove() { in.in.Remove() }

// FaultyOption configures a Faulty.
type FaultyOption func(*faultyConfig)

type faultyConfig struct{ seed uint64 }

// WithSeed seeds the random source drawing Fault.Probability, so that a
// test run is repeatable. Overrides the default seed 1.
func WithSeed(seed uint64) FaultyOption { return func(c *faultyConfig) { c.seed = seed } }

// Faulty is a lease.Store that passes every call to the store it wraps,
// except those hit by the faults injected into it: for tests of a Manager,
// or of a consumer with leases, whose store fails, hangs or answers late,
// whatever the store. It counts the calls made through it (Calls).
//
// Faults are tried in the order they were injected; the first that hits a
// call decides what happens to it. A call whose context is already done
// goes to the store (which fails it) and is hit by no fault. Its methods are
// safe for concurrent use.
type Faulty struct {
	store lease.Store
	set   *faults.Set
}

var _ lease.Store = (*Faulty)(nil)

// NewFaulty returns a Faulty wrapping store, with no fault in force. With a
// tb (which may be nil), a fault refused by Inject or Script fails the test,
// and every fault is removed when the test ends, so that no call stays hung.
func NewFaulty(tb testing.TB, store lease.Store, opts ...FaultyOption) *Faulty {
	cfg := faultyConfig{seed: 1}
	for _, o := range opts {
		o(&cfg)
	}
	return &Faulty{store: store, set: faults.NewSet(vocabulary, tb, cfg.seed)}
}

// Unwrap returns the store f wraps: reading it sees what the calls that
// went through wrote, untouched by faults.
func (f *Faulty) Unwrap() lease.Store { return f.store }

// Inject puts a fault in force until it is removed or cleared. A fault that
// fails Fault.Validate is not put in force: the test of a Faulty made with a
// TB fails, naming the fault, and the Injected returned never hits; its Err
// tells why.
func (f *Faulty) Inject(ft Fault) *Injected {
	f.set.Helper()
	return &Injected{f.set.Inject(ft.rule())}
}

// Script gives the n-th call matching m the n-th action (Pass lets a call
// through); calls after the last action pass. For example
// Script(Match{Op: OpRenew}, Fail(err), FailAfter(err), Pass) fails a
// renewal, then applies one and loses its reply, then lets them succeed. A
// Match that fails Match.Validate, or an action made with a value out of
// range, is refused as Inject refuses it.
func (f *Faulty) Script(m Match, steps ...Action) *Injected {
	f.set.Helper()
	as := make([]faults.Action, len(steps))
	for i, s := range steps {
		as[i] = s.a
	}
	return &Injected{f.set.Script(m.call(), as)}
}

// Clear takes every injected fault out of force; the calls they hang go on.
func (f *Faulty) Clear() { f.set.Clear() }

// Calls returns how many times operation op was called through f, whatever
// the outcome.
func (f *Faulty) Calls(op Op) int { return f.set.Calls(string(op)) }

// WaitHung blocks until at least n calls hang at once (see Hang), or ctx
// ends: it then returns ctx.Err(). A test knows a call is stuck in the
// store without sleeping.
func (f *Faulty) WaitHung(ctx context.Context, n int) error { return f.set.WaitHung(ctx, n) }

func (f *Faulty) call(op Op, app, stream, shard string) faults.Call {
	return faults.Call{Op: string(op), App: app, Stream: stream, Shard: shard}
}

// List calls the wrapped store's List, unless a fault hits the call.
func (f *Faulty) List(ctx context.Context, app, stream string) ([]lease.Lease, []lease.Worker, error) {
	var workers []lease.Worker
	leases, err := faults.Value(f.set, ctx, f.call(OpList, app, stream, ""), func(ctx context.Context) ([]lease.Lease, error) {
		var (
			ls  []lease.Lease
			err error
		)
		ls, workers, err = f.store.List(ctx, app, stream)
		return ls, err
	})
	if err != nil {
		return nil, nil, err
	}
	return leases, workers, nil
}

// Create calls the wrapped store's Create, unless a fault hits the call.
func (f *Faulty) Create(ctx context.Context, app, stream string, l lease.Lease) error {
	return f.set.Do(ctx, f.call(OpCreate, app, stream, l.Shard),
		func(ctx context.Context) error { return f.store.Create(ctx, app, stream, l) })
}

// Take calls the wrapped store's Take, unless a fault hits the call.
func (f *Faulty) Take(ctx context.Context, app, stream string, observed lease.Lease, owner string) (lease.Lease, error) {
	return faults.Value(f.set, ctx, f.call(OpTake, app, stream, observed.Shard),
		func(ctx context.Context) (lease.Lease, error) { return f.store.Take(ctx, app, stream, observed, owner) })
}

// Renew calls the wrapped store's Renew, unless a fault hits the call.
func (f *Faulty) Renew(ctx context.Context, app, stream string, held lease.Lease) (lease.Lease, error) {
	return faults.Value(f.set, ctx, f.call(OpRenew, app, stream, held.Shard),
		func(ctx context.Context) (lease.Lease, error) { return f.store.Renew(ctx, app, stream, held) })
}

// Checkpoint calls the wrapped store's Checkpoint, unless a fault hits the
// call.
func (f *Faulty) Checkpoint(ctx context.Context, app, stream string, held lease.Lease, cp checkpoint.Checkpoint) (lease.Lease, error) {
	return faults.Value(f.set, ctx, f.call(OpCheckpoint, app, stream, held.Shard),
		func(ctx context.Context) (lease.Lease, error) { return f.store.Checkpoint(ctx, app, stream, held, cp) })
}

// Release calls the wrapped store's Release, unless a fault hits the call.
func (f *Faulty) Release(ctx context.Context, app, stream string, held lease.Lease) (lease.Lease, error) {
	return faults.Value(f.set, ctx, f.call(OpRelease, app, stream, held.Shard),
		func(ctx context.Context) (lease.Lease, error) { return f.store.Release(ctx, app, stream, held) })
}

// Delete calls the wrapped store's Delete, unless a fault hits the call.
func (f *Faulty) Delete(ctx context.Context, app, stream string, held lease.Lease) error {
	return f.set.Do(ctx, f.call(OpDelete, app, stream, held.Shard),
		func(ctx context.Context) error { return f.store.Delete(ctx, app, stream, held) })
}

// RequestHandoff calls the wrapped store's RequestHandoff, unless a fault
// hits the call.
func (f *Faulty) RequestHandoff(ctx context.Context, app, stream string, observed lease.Lease, to string) (lease.Lease, error) {
	return faults.Value(f.set, ctx, f.call(OpRequestHandoff, app, stream, observed.Shard),
		func(ctx context.Context) (lease.Lease, error) {
			return f.store.RequestHandoff(ctx, app, stream, observed, to)
		})
}

// Heartbeat calls the wrapped store's Heartbeat, unless a fault hits the
// call.
func (f *Faulty) Heartbeat(ctx context.Context, app, stream, worker string) (lease.Worker, error) {
	return faults.Value(f.set, ctx, f.call(OpHeartbeat, app, stream, ""),
		func(ctx context.Context) (lease.Worker, error) { return f.store.Heartbeat(ctx, app, stream, worker) })
}

// DeleteWorker calls the wrapped store's DeleteWorker, unless a fault hits
// the call.
func (f *Faulty) DeleteWorker(ctx context.Context, app, stream string, w lease.Worker) error {
	return f.set.Do(ctx, f.call(OpDeleteWorker, app, stream, ""),
		func(ctx context.Context) error { return f.store.DeleteWorker(ctx, app, stream, w) })
}
