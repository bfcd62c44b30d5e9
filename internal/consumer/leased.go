package consumer

// The leased assignment: the process reads only the shards whose lease its
// leasing.Manager holds, starts each from the checkpoint in its lease, writes
// checkpoints through the Manager (fenced by the lease counter), and hands
// shards over without delivering a record twice.
//
// The Manager's events reach the run goroutine through Engine.do:
//
//   - Acquired: read the shard from the lease's checkpoint (startAt). The
//     shard's tracker yields records only while the lease is valid by the
//     worker's own clock (Event.Valid), so a paused or partitioned worker
//     stops handing them out before it hears of the loss.
//   - Revoke (another worker asked for the shard): stop the reader, seal the
//     shard's tracker so that no more of its records are handed out, and, on
//     a goroutine of its own (handOver), wait for the records handed out to
//     be committed, write the checkpoint, Release. Records fetched and not
//     handed out are left to the next owner, which starts right after the
//     last record handed out here.
//   - Lost: stop the reader, seal the tracker and drop it: its checkpoint
//     can no longer be written, and the next owner reads its records again.
//
// A reader stopped on a lease change reports its end like any other; a lease
// acquired again before that waits for it (pending), so that a shard is
// never read twice at once.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/commit"
	"github.com/kinesin-go/kinesin/internal/leasing"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/telemetry"
	"github.com/kinesin-go/kinesin/lease"
)

// LeasedConfig is what the leased assignment runs with.
type LeasedConfig struct {
	Store   lease.Store
	Options []lease.Option
	// Seed, when set, holds checkpoints the leases created start from (an
	// app moving from a checkpoint store to leases); it is only read.
	Seed checkpoint.Store
	// OnAssigned, OnRevoked and OnLost are the application's callbacks, on
	// the run goroutine.
	OnAssigned, OnRevoked, OnLost func(shard string)
}

// Leased is the assignment of a worker that shares the stream's shards with
// others through leases. It checks the lease options and fails with an error
// wrapping lease.ErrInvalidOption.
func Leased(cfg LeasedConfig) (Assignment, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: the store is nil", lease.ErrInvalidOption)
	}
	if _, err := lease.Configure(cfg.Options...); err != nil {
		return nil, err
	}
	return &leased{cfg: cfg, shards: make(map[string]*leasedShard)}, nil
}

// leaseWriteConcurrency bounds the checkpoint writes one flush makes at the
// same time through the lease manager (one conditional write per shard).
const leaseWriteConcurrency = 16

// maxHandoffWrite bounds how often a handover in progress writes the
// checkpoint of the records committed so far, so that a handover cut short
// by the manager's HandoffTimeout loses little.
const maxHandoffWrite = 200 * time.Millisecond

type leased struct {
	cfg LeasedConfig
	m   *leasing.Manager
	// stop ends the Manager's link to Start's ctx.
	stop func()
	// shards: the lease state of the shards, owned by the run goroutine.
	shards map[string]*leasedShard
}

// leasedShard is what the worker knows of a shard's lease.
type leasedShard struct {
	// pending is a lease acquired while the previous read was still
	// stopping, to start once it returned; handoff cancels the handover of
	// the shard in progress (see handOver).
	pending *leasing.Event
	handoff context.CancelFunc
	// void is set when an Acquired event came after its lease was already
	// gone (see acquired): the Revoke and Lost that follow it are not
	// told to the application, which was not told of the acquisition.
	void bool
}

func (a *leased) state(id string) *leasedShard {
	ls := a.shards[id]
	if ls == nil {
		ls = &leasedShard{}
		a.shards[id] = ls
	}
	return ls
}

// open makes the Manager and creates the leases of the shards listed.
func (a *leased) open(ctx context.Context, e *Engine) error {
	if a.cfg.Seed != nil {
		cps, err := a.cfg.Seed.Load(ctx, e.cfg.App, e.cfg.Name)
		if err != nil {
			return fmt.Errorf("kinesin: loading the checkpoints of app %s, stream %s to seed its leases: %w", e.cfg.App, e.cfg.Name, err)
		}
		maps.Copy(e.graph.cps, cps)
	}
	opts := append([]lease.Option{lease.WithLogger(e.log)}, a.cfg.Options...)
	m, err := leasing.New(a.cfg.Store, e.cfg.App, e.cfg.Name, opts...)
	if err != nil {
		return err
	}
	// The renewals feed the lease-event metric.
	m.SetHooks(leasing.Hooks{OnRenewed: func(id string) { e.tel.Lease(telemetry.LeaseRenewed, id) }})
	a.m = m
	return a.sync(ctx, e, true)
}

// sync creates the leases of shards that have none (see
// leasing.Manager.Sync): with complete, of every shard of the listing just
// made; otherwise of the shards learned since (children a shard's end
// named), never of a shard known from an older listing, which may have left
// the stream since and had its lease deleted.
//
// A lease is created with the checkpoint the seed holds for its shard, else,
// with Latest, a start checkpoint at the group's start time for a shard none
// of whose parents is known (a shard of the stream's creation, or whose
// parents were trimmed away), so that the whole group starts there whichever
// worker reads it first, and a restart resumes there. Other shards get no
// checkpoint: a child is read from where its parents' reads started (see
// startAt).
func (a *leased) sync(ctx context.Context, e *Engine, complete bool) error {
	g := e.graph
	fresh := g.takeFresh()
	ids := fresh
	if complete {
		ids = slices.Collect(maps.Keys(g.nodes))
	}
	slices.Sort(ids)
	shards := make([]leasing.Shard, 0, len(ids))
	for _, id := range ids {
		n := g.nodes[id]
		if complete && !n.listed {
			continue // learned from a lease or a shard's end, not listed now
		}
		s := leasing.Shard{ID: id, Parents: n.parents, Checkpoint: g.cps[id]}
		if s.Checkpoint.IsZero() && e.cfg.Start.Kind == StartLatest && !g.knownParent(n) {
			s.Checkpoint = checkpoint.StartAt(e.cfg.Latest)
		}
		shards = append(shards, s)
	}
	if len(shards) == 0 {
		return nil
	}
	_, err := a.m.Sync(ctx, shards, complete)
	if err != nil && ctx.Err() == nil {
		e.log.Warn("creating the leases of new shards failed; retrying at the next listing", "error", err)
	}
	return err
}

// begin starts the Manager, the forwarding of its events to the run
// goroutine, and the handover of every shard should the engine fail.
func (a *leased) begin(ctx context.Context, e *Engine) {
	// The Manager stops as a crash would (renewing nothing, releasing
	// nothing) when Start's ctx ends; Close stops it gracefully.
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	a.stop = func() {
		stop()
		cancel()
	}
	if err := a.m.Start(mctx); err != nil { // only fails when started twice
		e.log.Error("starting the lease manager", "error", err)
	}
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		for {
			select {
			case ev, ok := <-a.m.Events():
				if !ok || !e.do(e.ctx, func(ctx context.Context) { a.event(ctx, e, ev) }) {
					return
				}
			case <-e.ctx.Done():
				return // events left are dropped: the Manager stops on close
			}
		}
	}()
	go func() {
		defer e.wg.Done()
		<-e.ctx.Done()
		if e.failed() {
			a.handOverAll(e)
		}
	}()
}

// handOverAll hands every shard over after a fatal error, whether Close is
// called or not: what was committed is written and the leases released.
func (a *leased) handOverAll(e *Engine) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), e.cfg.CloseTimeout)
	defer cancel()
	a.seal(e)
	if err := e.flush(ctx); err != nil {
		e.log.Warn("writing checkpoints after the stream failed", "error", err)
	}
	if err := a.close(ctx, e); err != nil {
		e.log.Warn("releasing the leases after the stream failed", "error", err)
	}
}

func (a *leased) schedule(context.Context, *Engine) {} // shards start when acquired

func (a *leased) listed(ctx context.Context, e *Engine, complete bool) { _ = a.sync(ctx, e, complete) }

func (a *leased) gated() bool { return true }

// recheck: a record waiting for the application is checked against its
// lease a few times within the lease's safety margin (a tenth of its
// duration), so that it is never handed out much past the local expiry.
func (a *leased) recheck() time.Duration {
	return min(max(a.m.LeaseDuration()/40, 10*time.Millisecond), 250*time.Millisecond)
}

func (a *leased) held() int {
	if a.m == nil {
		return 0
	}
	return len(a.m.Held())
}

// caughtUp: with leases a bounded read stops once every shard this worker
// holds is caught up or read to its end, and every other shard, as the last
// listing of the leases shows, is read to its end, owned by another worker,
// or not readable yet (a parent not read to its end): the others stop in
// their turn when theirs are.
func (a *leased) caughtUp(e *Engine) bool {
	if a.m == nil {
		return false
	}
	snap := a.m.Snapshot()
	if len(snap) == 0 {
		return false // no listing of the leases yet
	}
	me := a.m.WorkerID()
	held := make(map[string]bool)
	for _, l := range a.m.Held() {
		held[l.Shard] = true
	}
	ended := make(map[string]bool, len(snap))
	known := make(map[string]bool, len(snap))
	for _, l := range snap {
		known[l.Shard] = true
		ended[l.Shard] = l.Ended()
	}
	for _, l := range snap {
		n := e.graph.nodes[l.Shard]
		switch {
		case l.Ended():
		case held[l.Shard] || l.Owner == me:
			if n == nil || (n.phase != done && !n.caughtUp) {
				return false
			}
		case l.Owner != "": // another worker's
		default: // free: a worker must read it, once readable
			readable := true
			for _, p := range l.Parents {
				if known[p] && !ended[p] {
					readable = false
				}
			}
			if readable && (n == nil || !n.caughtUp) {
				return false
			}
		}
	}
	return true
}

func (a *leased) workerID() string {
	if a.m == nil {
		return ""
	}
	return a.m.WorkerID()
}

// event handles an event of the Manager, on the run goroutine.
func (a *leased) event(ctx context.Context, e *Engine, ev leasing.Event) {
	id := ev.Lease.Shard
	switch ev.Kind {
	case leasing.Acquired:
		e.tel.Lease(telemetry.LeaseAcquired, id)
		a.acquired(ctx, e, ev)
	case leasing.Revoke:
		e.tel.Lease(telemetry.LeaseStolen, id)
		e.setState(id, HandedOver)
		ls := a.state(id)
		if !ls.void {
			defer callHook(a.cfg.OnRevoked, id) // once the shard is stopped
		}
		ls.pending = nil
		if n := e.graph.nodes[id]; n != nil && n.run != nil && !n.run.stopped {
			n.run.stopped = true
			n.run.cancel()
		}
		a.handOver(e, id, ls)
	case leasing.Lost:
		e.tel.Lease(telemetry.LeaseLost, id)
		e.setState(id, HandedOver)
		ls := a.state(id)
		if !ls.void {
			defer callHook(a.cfg.OnLost, id) // once the shard is stopped
		}
		ls.pending = nil
		if n := e.graph.nodes[id]; n != nil && n.run != nil {
			n.run.lost = true
			if !n.run.stopped {
				n.run.stopped = true
				n.run.cancel()
			}
		}
		if ls.handoff != nil {
			ls.handoff()
			ls.handoff = nil
		}
		if tr := e.tracker(id); tr != nil {
			tr.Seal() // its records not handed out yet are the next owner's
			e.untrack(id, tr)
		}
		e.log.Warn("shard lease lost; stopped reading the shard", "shard", id)
	}
}

// acquired starts reading the shard of a lease just acquired, or leaves it
// pending until its previous read returned.
func (a *leased) acquired(ctx context.Context, e *Engine, ev leasing.Event) {
	id := ev.Lease.Shard
	n := e.graph.nodes[id]
	if n == nil {
		// Another worker created the lease of a shard this one has not
		// listed yet: list again, for its hash key range.
		if err := e.list(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("listing shards failed", "error", err)
		}
		if n = e.graph.nodes[id]; n == nil {
			n = e.graph.learn(id, nil, ev.Lease.Parents...)
		}
	}
	ls := a.state(id)
	if ev.Valid != nil && !ev.Valid() {
		// The lease went (lost, released after a handoff that timed out,
		// handed over) while its event waited, as behind a slow listing:
		// another worker may hold it now. Reading it, or telling the
		// application it was assigned, would be acting on a lease not
		// held.
		ls.void, ls.pending = true, nil
		e.log.Debug("lease acquired and gone before it could be read", "shard", id)
		return
	}
	ls.void = false
	callHook(a.cfg.OnAssigned, id)
	if ls.handoff != nil {
		ls.handoff() // a handover ended before (it released the lease)
		ls.handoff = nil
	}
	if n.run != nil {
		ls.pending = &ev
		e.log.Debug("lease acquired; waiting for the previous read of the shard to stop", "shard", id)
		return
	}
	a.start(ctx, e, n, ev)
}

// start reads the shard of a lease held.
func (a *leased) start(ctx context.Context, e *Engine, n *node, ev leasing.Event) {
	cp := ev.Lease.Checkpoint
	if cp.ShardEnded {
		// Read to its end by a previous owner: write the end marker again,
		// which releases the lease and lets the children be read.
		n.phase, n.read, n.from = done, true, cp.Timestamp
		e.setState(n.id, Ended)
		tr := commit.New(e.cfg.MaxUncommitted, cp)
		e.track(n.id, tr)
		tr.End()
		e.log.Debug("shard already read to its end; releasing its lease", "shard", n.id)
		return
	}
	if e.stopping || (n.caughtUp && e.cfg.bounded()) {
		// A bounded read that is stopping, or found this shard caught up
		// already (a lease that came back): the lease is held, unread,
		// until Close releases it.
		return
	}
	start := a.startAt(e, n, ev.Lease)
	tr := newTracker(e, cp, start)
	if ev.Valid != nil {
		tr.SetValid(ev.Valid)
	}
	e.startRead(ctx, n, start, tr)
}

// startAt decides where the shard of a lease just acquired is read from: its
// checkpoint; else, for a child shard, from where its parents' reads started
// (their leases, or this worker's reads of them); else the configured start.
func (a *leased) startAt(e *Engine, n *node, l lease.Lease) shard.Start {
	if l.HasCheckpoint() {
		return startFrom(l.Checkpoint)
	}
	if len(l.Parents) == 0 {
		return e.configuredStart()
	}
	from, read := e.graph.lineage(l.Parents)
	for _, pl := range a.m.Snapshot() {
		if slices.Contains(l.Parents, pl.Shard) && pl.HasCheckpoint() {
			read = true
			from = earliest(from, pl.Checkpoint.Timestamp)
		}
	}
	if !read {
		return e.orphanStart()
	}
	return childStart(from)
}

// stopped starts the read of a lease acquired while the previous read was
// stopping.
func (a *leased) stopped(ctx context.Context, e *Engine, n *node) {
	ls := a.state(n.id)
	if ls.pending != nil && ctx.Err() == nil {
		ev := *ls.pending
		ls.pending = nil
		if ev.Valid != nil && !ev.Valid() {
			return // gone meanwhile: its Lost or Revoke follows
		}
		a.start(ctx, e, n, ev)
	}
}

func callHook(f func(string), id string) {
	if f != nil {
		f(id)
	}
}

// handOver hands the lease of a shard over after a Revoke, on a goroutine of
// its own: the reader was stopped; the tracker is sealed, and once the
// records handed out are committed their checkpoint is written and the lease
// released. A Lost event cancels it.
func (a *leased) handOver(e *Engine, id string, ls *leasedShard) {
	if ls.handoff != nil {
		return
	}
	tr := e.tracker(id)
	if tr != nil {
		tr.Seal()
	}
	hctx, cancel := context.WithCancel(e.ctx)
	ls.handoff = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		a.handOverShard(hctx, e, id, tr)
	}()
}

func (a *leased) handOverShard(ctx context.Context, e *Engine, id string, tr *commit.Tracker) {
	began := time.Now()
	if tr != nil && !a.settle(ctx, e, id, tr) {
		return
	}
	wctx, cancel := e.detach(ctx)
	err := a.m.Release(wctx, id)
	cancel()
	switch {
	case err == nil:
		e.tel.Lease(telemetry.LeaseReleased, id)
		e.log.Info("shard handed over", "shard", id, "took", time.Since(began).Round(time.Millisecond))
	case isLost(err):
		// Released with the end marker, or lost meanwhile.
	case ctx.Err() == nil:
		e.log.Warn("releasing a shard handed over failed; the lease manager retries", "shard", id, "error", err)
	}
	if tr != nil {
		e.untrack(id, tr)
	}
}

// settle waits for the records of a shard handed out to be committed,
// writing what is committed as it goes, then writes the last checkpoint,
// and reports whether the lease is still this worker's to release.
func (a *leased) settle(ctx context.Context, e *Engine, id string, tr *commit.Tracker) bool {
	tick := time.NewTicker(min(e.cfg.CheckpointInterval, maxHandoffWrite))
	defer tick.Stop()
	drained := tr.Drained() // nil once it was: then each tick retries
	for {
		select {
		case <-drained:
			drained = nil
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
		err := a.writeOne(ctx, e, id, tr)
		switch {
		case isLost(err):
			e.untrack(id, tr)
			return false
		case drained == nil && err == nil:
			return true
		case drained == nil && ctx.Err() == nil:
			e.log.Warn("writing the checkpoint of a shard handed over failed; retrying", "shard", id, "error", err)
		}
	}
}

// writeOne writes the committed position of tr, if it changed, to the
// lease of shard id.
func (a *leased) writeOne(ctx context.Context, e *Engine, id string, tr *commit.Tracker) error {
	cp, v, dirty := tr.Pending()
	if !dirty {
		return nil
	}
	t0 := time.Now()
	wctx, cancel := e.detach(ctx)
	err := a.m.Checkpoint(wctx, id, cp)
	cancel()
	if isLost(err) {
		e.tel.CheckpointWrite(ctx, 1, time.Since(t0), nil)
	} else {
		e.tel.CheckpointWrite(ctx, 1, time.Since(t0), err)
	}
	if err == nil {
		e.written(pending{id: id, tr: tr, cp: cp, version: v})
	}
	return err
}

// isLost reports whether err says the lease is no longer this worker's:
// not a failure of the store.
func isLost(err error) bool {
	return errors.Is(err, lease.ErrLost) || errors.Is(err, leasing.ErrClosed)
}

// write writes each checkpoint to its shard's lease, conditional on the
// lease this worker holds, a few at a time.
func (a *leased) write(ctx context.Context, e *Engine, ps []pending) error {
	wctx, cancel := e.detach(ctx)
	defer cancel()
	sem := make(chan struct{}, leaseWriteConcurrency)
	var wg sync.WaitGroup
	for i := range ps {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := a.m.Checkpoint(wctx, ps[i].id, ps[i].cp); isLost(err) {
				ps[i].err = errLost
			} else {
				ps[i].err = err
			}
		})
	}
	wg.Wait()
	var errs []error
	for _, p := range ps {
		if p.err != nil && p.err != errLost {
			errs = append(errs, p.err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kinesin: writing %d of %d checkpoints: %w", len(errs), len(ps), err)
	}
	return nil
}

// finished follows the write of a shard's end marker, which released the
// lease.
func (a *leased) finished(e *Engine, id string) { e.tel.Lease(telemetry.LeaseReleased, id) }

// seal stops handing out records: those fetched and not handed out are left
// to the next owners of their shards.
func (a *leased) seal(e *Engine) {
	e.eachTracker(func(_ string, tr *commit.Tracker) { tr.Seal() })
}

// drain waits, at most half of ctx's time (CloseTimeout), for the records
// handed out to be committed, unless the application stopped taking records
// (nothing is processed any more).
func (a *leased) drain(ctx context.Context, e *Engine) {
	a.seal(e)
	var trs []*commit.Tracker
	e.eachTracker(func(_ string, tr *commit.Tracker) { trs = append(trs, tr) })
	wait, cancel := context.WithTimeout(ctx, e.cfg.CloseTimeout/2)
	defer cancel()
	for _, tr := range trs {
		select {
		case <-tr.Drained():
		case <-e.iterDone:
			return
		case <-wait.Done():
			e.log.Warn("records handed out were not all committed in time; the next owners of their shards deliver them again", "waited", e.cfg.CloseTimeout/2)
			return
		}
	}
}

// close closes the Manager: it releases every lease still held and deletes
// the worker's row.
func (a *leased) close(ctx context.Context, e *Engine) error {
	held := a.m.Held()
	err := a.m.Close(ctx)
	if a.stop != nil {
		a.stop()
	}
	if err != nil {
		return fmt.Errorf("kinesin: releasing the shard leases: %w", err)
	}
	for _, l := range held {
		e.tel.Lease(telemetry.LeaseReleased, l.Shard)
	}
	return nil
}
