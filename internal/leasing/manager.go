package leasing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/lease"
)

// Shard is a shard of the stream as the scheduler lists it, for
// Manager.Sync.
type Shard struct {
	ID string
	// Parents are the shard's parent ids (ParentShardId and
	// AdjacentParentShardId), none for a shard of the stream's creation.
	Parents []string
	// Checkpoint is the checkpoint a lease created for the shard starts
	// with: a start checkpoint (the group starts at a time), a checkpoint
	// carried over from a checkpoint store, or none.
	Checkpoint checkpoint.Checkpoint
}

// ErrClosed is returned by a Manager's methods after Close.
var ErrClosed = errors.New("lease: manager closed")

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

// EventKind says what happened to a lease.
type EventKind int

const (
	// Acquired: the worker now holds the lease. Start reading the shard
	// from Lease.Checkpoint (from its start when there is none and a parent
	// was read, else from the configured position).
	Acquired EventKind = iota + 1
	// Revoke: another worker asked for the lease (balancing). Stop reading
	// the shard, wait (bounded) for the records in flight to be committed,
	// write their checkpoint with Manager.Checkpoint, then call
	// Manager.Release: the next owner starts exactly there. Until Release,
	// the lease stays held and renewed; after HandoffTimeout the Manager
	// releases it itself and sends Lost.
	Revoke
	// Lost: the worker no longer holds the lease: another took it, a
	// renewal or checkpoint was refused, or renewals failed for 90% of the
	// lease duration. Stop reading the shard now and drop its uncommitted
	// records: their checkpoint can no longer be written (it would fail with
	// ErrLost), and the next owner reads them again.
	Lost
)

func (k EventKind) String() string {
	switch k {
	case Acquired:
		return "Acquired"
	case Revoke:
		return "Revoke"
	case Lost:
		return "Lost"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a change of the leases a worker holds, sent on Manager.Events.
type Event struct {
	Kind EventKind
	// Lease is the lease as the worker last wrote or saw it.
	Lease Lease
	// Valid, on an Acquired event, reports whether the worker may still act
	// on the lease, by the Manager's clock and without a store call: false
	// from its local expiry (when the worker gives up a lease it could not
	// renew, a tenth of LeaseDuration before any other worker may take it),
	// or once it was lost, released or handed over. A scheduler checks it
	// before handing out each record of the shard, so that a worker that
	// was paused or cut off from the store stops at once, before it hears
	// of the loss. It is safe for concurrent use and cheap. Nil on other
	// events.
	Valid func() bool
}

func (e Event) String() string { return e.Kind.String() + " " + e.Lease.String() }

// Manager runs the lease protocol of one worker for one (app, stream): it
// takes, renews, balances, hands over and cleans up leases in a Store, and
// tells a scheduler which shards to read through Events. Its methods are
// safe for concurrent use.
type Manager struct {
	store       Store
	app, stream string
	cfg         lease.Settings
	hooks       Hooks
	clock       Clock
	log         *slog.Logger

	events chan Event
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}

	mu       sync.Mutex
	held     map[string]*holding
	incoming []Event // emitted, not yet handed to the loop
	emitted  int
	snapshot []Lease
	// seen is the shards of the scheduler's last complete listing (Sync);
	// gone the shards it showed gone from the stream (see listedNow).
	seen, gone map[string]bool
	self       Worker // the worker row as last written
	started    bool
	closed     bool
	closeDone  chan struct{}
	closeErr   error
	cancelRun  context.CancelFunc

	// Owned by the loop goroutine.
	obs       observer
	outgoing  []Event
	nextRenew time.Time
	nextCycle time.Time
	rand      *rand.Rand
}

// holding is a lease the worker holds.
type holding struct {
	// write is held across every store write of the lease, so that
	// renewals, checkpoints and releases, each conditional on the counter
	// the previous one wrote, never race. A channel, so that waiting for it
	// can end with a context.
	write chan struct{}
	shard string

	// Guarded by Manager.mu.
	lease     Lease
	renewedAt time.Time // when the last successful write was sent
	revokeAt  time.Time // when Revoke was sent; zero: not revoked
	releasing bool      // given up: to be released, no longer read
	gone      bool      // released or lost: no more writes

	// until is the lease's local expiry (renewedAt + holdFor); nil once it
	// was lost, released or handed over. Read without a lock (Event.Valid).
	until atomic.Pointer[time.Time]
}

// hold sets the local expiry of h from the time sent of its last successful
// write, or clears it (a zero sent) once the lease is no longer held.
func (m *Manager) hold(h *holding, sent time.Time) {
	if sent.IsZero() {
		h.until.Store(nil)
		return
	}
	until := sent.Add(m.holdFor())
	h.until.Store(&until)
}

// valid returns Event.Valid for h.
func (m *Manager) valid(h *holding) func() bool {
	return func() bool {
		until := h.until.Load()
		return until != nil && m.clock.Now().Before(*until)
	}
}

func (h *holding) lock(ctx context.Context) error {
	select {
	case h.write <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *holding) tryLock() bool {
	select {
	case h.write <- struct{}{}:
		return true
	default:
		return false
	}
}

func (h *holding) unlock() { <-h.write }

// New returns a Manager for the leases of (app, stream) in store. It checks
// the options (errors wrap ErrInvalidOption) and does nothing else: Sync
// creates leases, Start starts the protocol.
func New(store Store, app, stream string, opts ...Option) (*Manager, error) {
	cfg, err := lease.Configure(opts...)
	if store == nil {
		err = errors.Join(err, fmt.Errorf("%w: the store is nil", ErrInvalidOption))
	}
	if stream == "" {
		err = errors.Join(err, fmt.Errorf("%w: the stream name is empty", ErrInvalidOption))
	}
	if err != nil {
		return nil, err
	}
	return &Manager{
		store:  store,
		app:    app,
		stream: stream,
		cfg:    cfg,
		clock:  cfg.Clock,
		log:    cfg.Logger.With("app", app, "stream", stream, "worker", cfg.WorkerID),
		events: make(chan Event),
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		held:   make(map[string]*holding),
		obs:    newObserver(),
		rand:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}, nil
}

// LeaseDuration returns the LeaseDuration option, or its default.
func (m *Manager) LeaseDuration() time.Duration { return m.cfg.LeaseDuration }

// WorkerID returns the id the worker writes as owner.
func (m *Manager) WorkerID() string { return m.cfg.WorkerID }

// HandoffTimeout returns how long, after a Revoke event, the Manager waits
// for the scheduler's Release before it releases the lease itself and sends
// Lost: the HandoffTimeout option, or its default of half of LeaseDuration.
// A scheduler bounds its wait for in-flight records by it (less a margin
// for the checkpoint write), so that the handoff loses nothing.
func (m *Manager) HandoffTimeout() time.Duration { return m.cfg.HandoffTimeout }

// Events returns the channel of lease changes for the scheduler, in the order
// they happened. Receive from it promptly: the Manager queues events without
// bound rather than block renewals. It is closed when the Manager stops (on
// Close, or when Start's context ends); events not received by then are
// dropped.
func (m *Manager) Events() <-chan Event { return m.events }

// SetHooks sets the functions the Manager calls as leases change hands. Call
// it before Start; the hooks run on the Manager's goroutine.
func (m *Manager) SetHooks(h Hooks) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hooks = h
}

// Start starts the protocol: a first cycle at once, then renewals every
// RenewInterval and cycles every CycleInterval, on a goroutine of the
// Manager's. When ctx ends the goroutine stops at once, releasing nothing,
// as a crash would (the leases expire and others take them); Close stops
// gracefully. Start fails after an earlier Start or Close.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return ErrClosed
	case m.started:
		return errors.New("lease: Start called twice")
	}
	m.started = true
	runCtx, cancel := context.WithCancel(ctx)
	m.cancelRun = cancel
	go m.run(runCtx)
	return nil
}

// Held returns the leases the worker holds and reads, by shard id order: not
// those being handed over after a Revoke.
func (m *Manager) Held() []Lease {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Lease
	for _, id := range slices.Sorted(maps.Keys(m.held)) {
		if h := m.held[id]; !h.releasing && h.revokeAt.IsZero() {
			out = append(out, h.lease.Clone())
		}
	}
	return out
}

// Snapshot returns every lease of (app, stream) as the last cycle listed
// them, by shard id: what the scheduler may consult, e.g. to see whether a
// parent was read.
func (m *Manager) Snapshot() []Lease {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Lease, len(m.snapshot))
	for i, l := range m.snapshot {
		out[i] = l.Clone()
	}
	return out
}

// emit queues an event for the loop to hand to hooks and Events.
func (m *Manager) emit(kind EventKind, l Lease) { m.emitEvent(Event{Kind: kind, Lease: l}) }

// emitEvent queues ev for the loop to hand to hooks and Events.
func (m *Manager) emitEvent(ev Event) {
	ev.Lease = ev.Lease.Clone()
	m.mu.Lock()
	m.incoming = append(m.incoming, ev)
	m.emitted++
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// holdingOf returns the holding of shard, or an error: ErrClosed, or ErrLost
// when the worker does not hold it.
func (m *Manager) holdingOf(shard string) (*holding, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	h := m.held[shard]
	if h == nil || h.gone || h.releasing {
		return nil, fmt.Errorf("%w: shard %s is not held by worker %s", ErrLost, shard, m.cfg.WorkerID)
	}
	return h, nil
}

func (m *Manager) wrap(op, shard string, err error) error {
	return fmt.Errorf("lease: %s %s/%s %s: %w", op, m.app, m.stream, shard, err)
}

// lose drops h after a write was refused, the lease was seen taken, or it
// expired locally, and sends Lost (once per lease).
func (m *Manager) lose(h *holding, why string) {
	m.mu.Lock()
	if h.gone {
		m.mu.Unlock()
		return
	}
	h.gone = true
	m.hold(h, time.Time{})
	l := h.lease
	if m.held[l.Shard] == h {
		delete(m.held, l.Shard)
	}
	m.mu.Unlock()
	m.log.Info("lease lost", "shard", l.Shard, "why", why)
	m.emit(Lost, l)
}

// wrote records a successful write of h sent at sent. h.write is held.
func (m *Manager) wrote(h *holding, l Lease, sent time.Time) {
	m.mu.Lock()
	if l.Counter != h.lease.Counter {
		h.renewedAt = sent
		if !h.gone && !h.releasing {
			m.hold(h, sent)
		}
	}
	h.lease = l
	revoke := l.NextOwner != "" && l.NextOwner != m.cfg.WorkerID && h.revokeAt.IsZero() && !h.releasing
	if revoke {
		h.revokeAt = m.clock.Now()
	}
	m.mu.Unlock()
	if revoke {
		m.log.Info("lease handoff asked", "shard", l.Shard, "to", l.NextOwner)
		m.emit(Revoke, l)
	}
}

// Checkpoint writes cp to the lease of shard, conditional on the counter the
// worker holds: when the lease was lost (taken by another worker after it
// expired) the write fails with an error wrapping ErrLost, leaves the new
// owner's checkpoint as it is, and Lost is sent. A cp that is not above the
// stored checkpoint (by checkpoint.Checkpoint.Compare) writes nothing and is
// not an error. A successful write also renews the lease. Checkpoints and
// renewals of one lease are serialized.
//
// Writing the shard-end marker (checkpoint.Ended) finishes the lease: the
// Manager releases it (retrying in the background if that fails) so that
// any worker may take its children; no event follows.
//
// It fails with an error wrapping checkpoint.ErrInvalid for a malformed cp,
// ErrLost for a shard the worker does not hold, ErrClosed after Close, and
// with the store's error otherwise (the lease stays held).
func (m *Manager) Checkpoint(ctx context.Context, shard string, cp checkpoint.Checkpoint) error {
	if err := cp.Validate(); err != nil {
		return m.wrap("checkpoint", shard, err)
	}
	h, err := m.holdingOf(shard)
	if err != nil {
		return m.wrap("checkpoint", shard, err)
	}
	if err := h.lock(ctx); err != nil {
		return m.wrap("checkpoint", shard, err)
	}
	defer h.unlock()
	m.mu.Lock()
	held, gone := h.lease, h.gone || h.releasing
	m.mu.Unlock()
	if gone {
		return m.wrap("checkpoint", shard, fmt.Errorf("%w: released or lost meanwhile", ErrLost))
	}
	sent := m.clock.Now()
	l, err := m.store.Checkpoint(ctx, m.app, m.stream, held, cp)
	if err != nil {
		l, err = m.settle(context.WithoutCancel(ctx), h, held, err, func(l Lease) bool { return checkpointed(l, held, cp) })
	}
	if errors.Is(err, ErrLost) {
		m.lose(h, "checkpoint refused: "+err.Error())
	}
	if err != nil {
		return m.wrap("checkpoint", shard, err)
	}
	m.wrote(h, l, sent)
	if l.Ended() {
		m.mu.Lock()
		h.releasing = true
		m.hold(h, time.Time{})
		m.mu.Unlock()
		m.log.Info("shard ended; releasing its lease", "shard", shard)
		if err := m.release(ctx, context.WithoutCancel(ctx), h); err != nil && !errors.Is(err, ErrLost) {
			m.log.Warn("releasing an ended lease failed; retrying in the background", "shard", shard, "error", err)
		}
	}
	return nil
}

// Release gives up the lease of shard: it frees it in the store (the next
// owner starts from its checkpoint) and stops renewing it. Call it after a
// Revoke, once the shard's checkpoint is written, or to stop reading a shard
// for any reason. When the store fails, the Manager keeps retrying the
// release in the background and the shard is no longer the caller's either
// way; the error is returned for logs. It fails with ErrLost when the lease
// was lost meanwhile (no Lost event then), and ErrClosed after Close.
func (m *Manager) Release(ctx context.Context, shard string) error {
	h, err := m.holdingOf(shard)
	if err != nil {
		return m.wrap("release", shard, err)
	}
	m.mu.Lock()
	h.releasing = true
	m.hold(h, time.Time{})
	m.mu.Unlock()
	if err := h.lock(ctx); err != nil {
		return m.wrap("release", shard, err)
	}
	defer h.unlock()
	return m.release(ctx, context.WithoutCancel(ctx), h)
}

// release frees h in the store. h.write is held and h.releasing set. base
// is the context to read the lease back on after an unclear failure (see
// settle).
func (m *Manager) release(ctx, base context.Context, h *holding) error {
	m.mu.Lock()
	l, gone := h.lease, h.gone
	m.mu.Unlock()
	if gone {
		return nil
	}
	_, err := m.store.Release(ctx, m.app, m.stream, l)
	if err != nil {
		_, err = m.settle(base, h, l, err, func(x Lease) bool { return x.Owner == "" && x.Counter == l.Counter+1 })
	}
	if err != nil && !errors.Is(err, ErrLost) {
		return m.wrap("release", l.Shard, err)
	}
	m.mu.Lock()
	h.gone = true
	m.hold(h, time.Time{})
	if m.held[l.Shard] == h {
		delete(m.held, l.Shard)
	}
	m.mu.Unlock()
	if err != nil {
		return m.wrap("release", l.Shard, err)
	}
	m.log.Info("lease released", "shard", l.Shard)
	return nil
}

// Sync creates the leases of shards that have none, with their parents and
// Checkpoint, so that workers can take them, and returns how many it
// created. The scheduler calls it with every shard it lists (complete: at
// start and after each ListShards) and with the children a shard's end names
// (not complete). Leases that exist are left as they are, and so are leases
// of shards not given.
//
// Leases are created parents first, so that no worker ever sees a child's
// lease before those of the parents it names (it would take a missing parent
// for one gone from the stream). A lease whose shard was read to its end is
// never deleted while the shard is still in the stream (see makePlan), so
// Sync never creates again the lease of a shard read to its end, however
// stale the scheduler's list.
//
// With complete, shards is the whole stream as just listed: the Manager
// keeps it to tell ended leases whose shard is gone (past the stream's
// retention) from those still listed, and a parent missing from it is gone
// from the stream. Without, shards are new ones (children a shard's end
// named), and a shard is created only once every parent it names has a
// lease: a parent without one may be a shard the scheduler has not listed
// yet (made and closed between two listings, as UpdateShardCount does), and
// a child created before it would be read before it. The next complete
// listing creates both, parent first.
func (m *Manager) Sync(ctx context.Context, shards []Shard, complete bool) (int, error) {
	if complete {
		m.listedNow(shards)
	}
	leases, _, err := m.store.List(ctx, m.app, m.stream)
	if err != nil {
		return 0, fmt.Errorf("lease: sync %s/%s: %w", m.app, m.stream, err)
	}
	has := make(map[string]bool, len(leases))
	for _, l := range leases {
		has[l.Shard] = true
	}
	created := 0
	for _, s := range parentsFirst(shards) {
		if has[s.ID] {
			continue
		}
		if !complete && slices.ContainsFunc(s.Parents, func(p string) bool { return p != "" && !has[p] }) {
			m.log.Debug("a new shard names a parent without a lease; its lease waits for a complete listing", "shard", s.ID, "parents", s.Parents)
			continue
		}
		var parents []string
		for _, p := range s.Parents {
			if p != "" {
				parents = append(parents, p)
			}
		}
		err := m.store.Create(ctx, m.app, m.stream, Lease{Shard: s.ID, Parents: parents, Checkpoint: s.Checkpoint})
		switch {
		case err == nil:
			created++
			has[s.ID] = true
		case errors.Is(err, ErrExists):
		default:
			// A child created without this parent's lease would look
			// readable: create none below a failure.
			return created, fmt.Errorf("lease: sync %s/%s: creating %s (and none after it): %w", m.app, m.stream, s.ID, err)
		}
	}
	if created > 0 {
		m.log.Info("leases created", "count", created)
	}
	return created, nil
}

// listedNow records a complete listing: which shards are gone from the
// stream (past its retention), for the cleanup of their ended leases. A
// shard is gone when it was in an earlier listing and is not in this one, or
// when a shard of this listing names it as parent and it is not there
// (children outlive their parents). A shard merely missing from a listing is
// not: it may be newer than the listing.
func (m *Manager) listedNow(shards []Shard) {
	listed := make(map[string]bool, len(shards))
	for _, s := range shards {
		listed[s.ID] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = make(map[string]bool)
	}
	gone := make(map[string]bool)
	for id := range m.seen {
		if !listed[id] {
			gone[id] = true
			delete(m.seen, id)
		}
	}
	for _, s := range shards {
		m.seen[s.ID] = true
		for _, p := range s.Parents {
			if p != "" && !listed[p] {
				gone[p] = true
			}
		}
	}
	m.gone = gone
}

// parentsFirst orders shards so that each comes after the parents among
// them, by id otherwise.
func parentsFirst(shards []Shard) []Shard {
	sorted := slices.SortedFunc(slices.Values(shards), func(a, b Shard) int { return strings.Compare(a.ID, b.ID) })
	index := make(map[string]int, len(sorted))
	for i, s := range sorted {
		index[s.ID] = i
	}
	out := make([]Shard, 0, len(sorted))
	state := make([]byte, len(sorted)) // 0 new, 1 visiting, 2 placed
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return // placed, or a cycle no stream has: broken here
		}
		state[i] = 1
		for _, p := range sorted[i].Parents {
			if j, ok := index[p]; ok {
				visit(j)
			}
		}
		state[i] = 2
		out = append(out, sorted[i])
	}
	for i := range sorted {
		visit(i)
	}
	return out
}

// Close stops the worker gracefully: it stops renewals and cycles, releases
// every lease still held (conditional on its counter: one lost meanwhile is
// left alone), deletes the worker's row so that others count it gone at
// once, and closes Events. Call it after the scheduler stopped reading and
// wrote the checkpoints of its shards with Checkpoint: the next owners
// start exactly there. It waits for checkpoints in flight and gives up when
// ctx ends, returning an error wrapping ctx.Err(); leases it could not
// release expire and are taken after LeaseDuration. It is idempotent: later
// calls wait for the first and return its result.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		done := m.closeDone
		m.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("lease: close: %w", ctx.Err())
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.closeErr
	}
	m.closed = true
	m.closeDone = make(chan struct{})
	started := m.started
	m.mu.Unlock()

	close(m.stop)
	if started {
		select {
		case <-m.done:
		case <-ctx.Done():
			m.cancelRun()
			<-m.done
		}
		m.cancelRun()
	} else {
		close(m.events)
	}

	m.mu.Lock()
	hs := slices.Collect(maps.Values(m.held))
	self := m.self
	m.mu.Unlock()
	errs := make([]error, len(hs))
	released := make([]bool, len(hs))
	m.parallel(len(hs), func(i int) {
		h := hs[i]
		if err := h.lock(ctx); err != nil {
			errs[i] = m.wrap("release", h.shard, err)
			return
		}
		defer h.unlock()
		m.mu.Lock()
		h.releasing = true
		m.hold(h, time.Time{})
		m.mu.Unlock()
		if err := m.release(ctx, ctx, h); err != nil && !errors.Is(err, ErrLost) {
			errs[i] = err
			return
		}
		released[i] = true
	})
	if self.ID != "" {
		if err := m.store.DeleteWorker(ctx, m.app, m.stream, self); err != nil && !errors.Is(err, ErrLost) {
			errs = append(errs, err)
		}
	}
	n := 0
	for _, ok := range released {
		if ok {
			n++
		}
	}
	m.log.Info("lease manager closed", "released", n)
	err := errors.Join(errs...)
	if err != nil {
		err = fmt.Errorf("lease: close %s/%s: %w", m.app, m.stream, err)
	}
	m.mu.Lock()
	m.closeErr = err
	close(m.closeDone)
	m.mu.Unlock()
	return err
}

// parallel calls f(0..n-1), at most Concurrency at a time, and waits.
func (m *Manager) parallel(n int, f func(i int)) {
	if n == 1 || m.cfg.Concurrency == 1 {
		for i := range n {
			f(i)
		}
		return
	}
	sem := make(chan struct{}, m.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}
