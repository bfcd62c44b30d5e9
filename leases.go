package kinesin

// Shard leases (WithLeases): the worker reads only the shards whose lease its
// lease.Manager holds, starts each from the checkpoint in its lease, writes
// checkpoints through the Manager (fenced by the lease counter), and hands
// shards over without delivering a record twice.
//
// The coordinator's goroutine receives the Manager's events:
//
//   - Acquired: read the shard from the lease's checkpoint (startAt).
//   - Revoke (another worker asked for the shard): stop the reader, seal the
//     shard's tracker so that no more of its records are handed to the
//     application, and, on a goroutine of its own (handOver), wait for the
//     records handed out to be committed, write the checkpoint, Release.
//     Records fetched and not handed out are left to the next owner, which
//     starts right after the last record handed out here.
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/commit"
	"github.com/kinesin-go/kinesin/internal/telemetry"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/shard"
)

// leaseWriteConcurrency bounds the checkpoint writes one flush makes at the
// same time through the lease manager (one conditional write per shard).
const leaseWriteConcurrency = 16

// detach returns the context of one lease write made under ctx: not
// canceled with ctx, so that Close or a lease change never cuts a write short
// (the store may have applied it anyway, and the manager, unaware of the
// counter it wrote, would then lose the lease at its next write), but ending
// at ctx's deadline or after CloseTimeout.
func (s *Stream[T]) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	d := time.Now().Add(s.cfg.closeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	return context.WithDeadline(context.WithoutCancel(ctx), d)
}

// maxHandoffWrite bounds how often a handover in progress writes the
// checkpoint of the records committed so far, so that a handover cut short
// by the manager's HandoffTimeout loses little.
const maxHandoffWrite = 200 * time.Millisecond

// readerRun is one read of a shard.
type readerRun struct {
	tr     *commit.Tracker
	cancel context.CancelFunc
	// stopped: cancelled on a lease change (Revoke, Lost); its end is not
	// the shard's.
	stopped bool
	// lost: the lease was lost; the shard's records are the next owner's.
	lost bool
}

// WorkerID returns the id this worker writes as lease owner (see
// lease.WorkerID), or "" without WithLeases.
func (s *Stream[T]) WorkerID() string {
	if s.leases == nil {
		return ""
	}
	return s.leases.WorkerID()
}

// initLeases creates the leases of the shards listed at Open, before the
// manager starts.
func (c *coordinator[T]) initLeases(ctx context.Context) error {
	return c.syncLeases(ctx)
}

// syncLeases creates the leases of the known shards that have none (see
// lease.Manager.Sync), and logs a failure: the next listing tries again.
//
// A lease is created with the checkpoint the seed store holds for its shard
// (WithCheckpointer beside WithLeases: an app moving to leases), else, with
// Latest, a start checkpoint at the group's start time for a shard none of
// whose parents is known (a shard of the stream's creation, or whose parents
// were trimmed away), so that the whole group starts there whichever worker
// reads it first, and a restart resumes there. Other shards get no
// checkpoint: a child is read from where its parents' reads started (see
// startAt).
func (c *coordinator[T]) syncLeases(ctx context.Context) error {
	s := c.s
	if s.leases == nil {
		return nil
	}
	shards := make([]lease.Shard, 0, len(c.shards))
	for _, id := range slices.Sorted(maps.Keys(c.shards)) {
		sh := c.shards[id]
		ls := lease.Shard{ID: id, Parents: sh.parents, Checkpoint: c.cps[id]}
		if ls.Checkpoint.IsZero() && s.cfg.start.kind == startLatest && !c.anyParentKnown(sh) {
			ls.Checkpoint = checkpoint.StartAt(s.latest)
		}
		shards = append(shards, ls)
	}
	_, err := s.leases.Sync(ctx, shards)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("creating the leases of new shards failed; retrying at the next listing", "error", err)
	}
	return err
}

// anyParentKnown reports whether a parent of sh is listed or has a
// checkpoint.
func (c *coordinator[T]) anyParentKnown(sh *shardInfo) bool {
	for _, p := range sh.parents {
		if _, ok := c.shards[p]; ok {
			return true
		}
		if _, ok := c.cps[p]; ok {
			return true
		}
	}
	return false
}

// leaseEvent handles an event of the lease manager.
func (c *coordinator[T]) leaseEvent(ctx context.Context, ev lease.Event) {
	s := c.s
	id := ev.Lease.Shard
	sh := c.shards[id]
	switch ev.Kind {
	case lease.Acquired:
		s.tel.Lease(telemetry.LeaseAcquired, id)
		if sh == nil {
			// Another worker created the lease of a shard this one has not
			// listed yet: list again, for its hash key range.
			if err := c.refresh(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("listing shards failed", "error", err)
			}
			if sh = c.shards[id]; sh == nil {
				c.learn(id, nil, ev.Lease.Parents...)
				sh = c.shards[id]
			}
		}
		callHook(s.cfg.onAssigned, id)
		if sh.handoff != nil {
			sh.handoff() // a handover ended before (it released the lease)
			sh.handoff = nil
		}
		if sh.run != nil {
			l := ev.Lease
			sh.pending = &l
			s.log.Debug("lease acquired; waiting for the previous read of the shard to stop", "shard", id)
			return
		}
		c.acquire(ctx, sh, ev.Lease)
	case lease.Revoke:
		s.tel.Lease(telemetry.LeaseStolen, id)
		defer callHook(s.cfg.onRevoked, id) // once the shard is stopped
		if sh == nil {
			sh = &shardInfo{id: id}
			c.shards[id] = sh
		}
		sh.pending = nil
		if sh.run != nil && !sh.run.stopped {
			sh.run.stopped = true
			sh.run.cancel()
		}
		c.handOver(ctx, sh)
	case lease.Lost:
		s.tel.Lease(telemetry.LeaseLost, id)
		defer callHook(s.cfg.onLost, id) // once the shard is stopped
		if sh == nil {
			return
		}
		sh.pending = nil
		if sh.run != nil {
			sh.run.lost = true
			if !sh.run.stopped {
				sh.run.stopped = true
				sh.run.cancel()
			}
		}
		if sh.handoff != nil {
			sh.handoff()
			sh.handoff = nil
		}
		if tr := s.tracker(id); tr != nil {
			tr.Seal() // its records not handed out yet are the next owner's
			s.untrack(id, tr)
		}
		s.log.Warn("shard lease lost; stopped reading the shard", "shard", id)
	}
}

func callHook(f func(string), id string) {
	if f != nil {
		f(id)
	}
}

// acquire starts reading a shard whose lease was acquired.
func (c *coordinator[T]) acquire(ctx context.Context, sh *shardInfo, l lease.Lease) {
	s := c.s
	cp := l.Checkpoint
	if cp.ShardEnded {
		// Read to its end by a previous owner: write the end marker again,
		// which releases the lease and lets the children be read.
		sh.phase, sh.lineage, sh.from = done, true, cp.Timestamp
		tr := s.track(sh.id, cp)
		tr.OnEnd(s.kickFlush)
		tr.End()
		s.log.Debug("shard already read to its end; releasing its lease", "shard", sh.id)
		return
	}
	c.start(ctx, sh, c.startAt(sh, l), cp)
}

// startAt decides where the shard of a lease just acquired is read from: its
// checkpoint; else, for a child shard, from where its parents' reads started
// (their leases, or this worker's reads of them); else the configured
// position.
func (c *coordinator[T]) startAt(sh *shardInfo, l lease.Lease) shard.Start {
	if l.HasCheckpoint() {
		return startFrom(l.Checkpoint)
	}
	if len(l.Parents) == 0 {
		return c.s.configuredStart()
	}
	from, read := c.lineage(l.Parents)
	for _, pl := range c.s.leases.Snapshot() {
		if slices.Contains(l.Parents, pl.Shard) && pl.HasCheckpoint() {
			read = true
			if t := pl.Checkpoint.Timestamp; !t.IsZero() && (from.IsZero() || t.Before(from)) {
				from = t
			}
		}
	}
	if !read {
		// The parents' leases are gone (trimmed, or deleted once every
		// child had a checkpoint): read the child whole rather than lose
		// a record, unless the group starts at a fixed time.
		if s := c.s.cfg.start; s.kind == startAtTimestamp {
			return shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: s.ts}
		}
		return shard.Start{Type: types.ShardIteratorTypeTrimHorizon}
	}
	return childStart(from)
}

// stoppedEnded handles the end of a read stopped on a lease change, and
// starts the read of a lease acquired meanwhile.
func (c *coordinator[T]) stoppedEnded(ctx context.Context, sh *shardInfo, ev shardEvent) bool {
	sh.phase = waiting
	if ev.err == nil && !ev.run.lost {
		// It reached the end before it stopped: the handover writes the
		// end marker once every record is committed.
		ev.run.tr.End()
		for _, ch := range ev.end.ChildShards {
			c.learn(aws.ToString(ch.ShardId), ch.HashKeyRange, ch.ParentShards...)
		}
		if len(ev.end.ChildShards) > 0 {
			c.syncLeases(ctx)
		}
	}
	if sh.pending != nil && ctx.Err() == nil {
		l := *sh.pending
		sh.pending = nil
		c.acquire(ctx, sh, l)
	}
	return false
}

// handOver hands the lease of sh over after a Revoke, on a goroutine of its
// own: the reader was stopped; the tracker is sealed, and once the records
// handed out are committed their checkpoint is written and the lease
// released. A Lost event cancels it.
func (c *coordinator[T]) handOver(ctx context.Context, sh *shardInfo) {
	s := c.s
	if sh.handoff != nil {
		return
	}
	tr := s.tracker(sh.id)
	if tr != nil {
		tr.Seal()
	}
	hctx, cancel := context.WithCancel(ctx)
	sh.handoff = cancel
	id := sh.id
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.handOver(hctx, id, tr)
	}()
}

func (s *Stream[T]) handOver(ctx context.Context, id string, tr *commit.Tracker) {
	began := time.Now()
	if tr != nil {
		tick := time.NewTicker(min(s.cfg.checkpointInterval, maxHandoffWrite))
		defer tick.Stop()
	wait:
		for {
			select {
			case <-tr.Drained():
				break wait
			case <-tick.C:
				// What is committed so far, should the handover be cut short.
				if err := s.writeLease(ctx, id, tr); errors.Is(err, lease.ErrLost) || errors.Is(err, lease.ErrClosed) {
					s.untrack(id, tr)
					return
				}
			case <-ctx.Done():
				return
			}
		}
		for {
			err := s.writeLease(ctx, id, tr)
			if err == nil {
				break
			}
			if errors.Is(err, lease.ErrLost) || errors.Is(err, lease.ErrClosed) {
				s.untrack(id, tr)
				return
			}
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("writing the checkpoint of a shard handed over failed; retrying", "shard", id, "error", err)
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}
	wctx, cancel := s.detach(ctx)
	err := s.leases.Release(wctx, id)
	cancel()
	switch {
	case err == nil:
		s.tel.Lease(telemetry.LeaseReleased, id)
		s.log.Info("shard handed over", "shard", id, "took", time.Since(began).Round(time.Millisecond))
	case errors.Is(err, lease.ErrLost) || errors.Is(err, lease.ErrClosed):
		// Released with the end marker, or lost meanwhile.
	case ctx.Err() == nil:
		s.log.Warn("releasing a shard handed over failed; the lease manager retries", "shard", id, "error", err)
	}
	if tr != nil {
		s.untrack(id, tr)
	}
}

// writeLease writes the committed position of tr, if it changed, to the
// lease of shard id.
func (s *Stream[T]) writeLease(ctx context.Context, id string, tr *commit.Tracker) error {
	cp, v, dirty := tr.Pending()
	if !dirty {
		return nil
	}
	t0 := time.Now()
	wctx, cancel := s.detach(ctx)
	err := s.leases.Checkpoint(wctx, id, cp)
	cancel()
	s.tel.CheckpointWrite(ctx, 1, time.Since(t0), ignoreLost(err))
	if err == nil {
		tr.MarkWritten(v)
		s.finished(id, tr)
	}
	return err
}

// ignoreLost returns err, or nil for a write refused because the lease is no
// longer this worker's: not a failure of the store.
func ignoreLost(err error) error {
	if errors.Is(err, lease.ErrLost) || errors.Is(err, lease.ErrClosed) {
		return nil
	}
	return err
}

// flushLeases writes the committed positions that changed to the shards'
// leases, each write conditional on the lease this worker holds. A shard
// whose lease was lost is dropped: its reader stops on the Lost event.
func (s *Stream[T]) flushLeases(ctx context.Context) error {
	type write struct {
		id  string
		tr  *commit.Tracker
		cp  checkpoint.Checkpoint
		v   uint64
		err error
	}
	var ws []write
	s.mu.Lock()
	for id, tr := range s.trackers {
		if cp, v, dirty := tr.Pending(); dirty {
			ws = append(ws, write{id: id, tr: tr, cp: cp, v: v})
		}
	}
	s.mu.Unlock()
	if len(ws) == 0 {
		s.failSince = time.Time{}
		return nil
	}
	t0 := time.Now()
	wctx, cancel := s.detach(ctx)
	defer cancel()
	sem := make(chan struct{}, leaseWriteConcurrency)
	var wg sync.WaitGroup
	for i := range ws {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ws[i].err = s.leases.Checkpoint(wctx, ws[i].id, ws[i].cp)
		})
	}
	wg.Wait()
	var errs []error
	for _, w := range ws {
		switch {
		case w.err == nil:
			w.tr.MarkWritten(w.v)
			s.finished(w.id, w.tr)
		case ignoreLost(w.err) == nil:
			// No longer this worker's: the next owner reads the records
			// after the checkpoint it finds.
			s.untrack(w.id, w.tr)
		default:
			errs = append(errs, w.err)
		}
	}
	err := errors.Join(errs...)
	s.tel.CheckpointWrite(ctx, len(ws), time.Since(t0), err)
	if err != nil {
		if s.failSince.IsZero() {
			s.failSince = time.Now()
		}
		return fmt.Errorf("kinesin: writing %d of %d checkpoints: %w", len(errs), len(ws), err)
	}
	s.failSince = time.Time{}
	return nil
}

// finished drops tr once its shard's end marker is written (which released
// the lease).
func (s *Stream[T]) finished(id string, tr *commit.Tracker) {
	if tr.Finished() && s.untrack(id, tr) {
		s.tel.Lease(telemetry.LeaseReleased, id)
		s.log.Info("shard finished", "shard", id)
	}
}

// tracker returns the tracker of shard id, or nil.
func (s *Stream[T]) tracker(id string) *commit.Tracker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trackers[id]
}

// untrack drops the tracker of shard id if it is still tr, and closes the
// shard's telemetry, and reports whether it did.
func (s *Stream[T]) untrack(id string, tr *commit.Tracker) bool {
	s.mu.Lock()
	ok := s.trackers[id] == tr
	if ok {
		delete(s.trackers, id)
	}
	s.mu.Unlock()
	if ok {
		s.tel.Lookup(id).Close() // its records can no longer be committed
	}
	return ok
}

// sealAll stops handing out records, with leases: those fetched and not
// handed out are left to the next owners of their shards.
func (s *Stream[T]) sealAll() {
	if s.leases == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tr := range s.trackers {
		tr.Seal()
	}
}

// drain waits, with leases, at most half of ctx's time (CloseTimeout), for
// the records handed out to be committed, unless the Records loop ended
// (nothing is processed any more).
func (s *Stream[T]) drain(ctx context.Context) {
	if s.leases == nil {
		return
	}
	s.sealAll()
	s.mu.Lock()
	trs := slices.Collect(maps.Values(s.trackers))
	s.mu.Unlock()
	wait, cancel := context.WithTimeout(ctx, s.cfg.closeTimeout/2)
	defer cancel()
	for _, tr := range trs {
		select {
		case <-tr.Drained():
		case <-s.iterDone:
			return
		case <-wait.Done():
			s.log.Warn("records handed out were not all committed in time; the next owners of their shards deliver them again", "waited", s.cfg.closeTimeout/2)
			return
		}
	}
}

// startLeases starts the lease manager, once Open succeeded. It stops as a
// crash would (renewing nothing, releasing nothing) when Open's ctx ends;
// Close stops it gracefully. A fatal error hands the shards over at once,
// whether Close is called or not.
func (s *Stream[T]) startLeases(ctx context.Context) {
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	s.stopLeases = func() {
		stop()
		cancel()
	}
	if err := s.leases.Start(mctx); err != nil { // only fails when started twice
		s.log.Error("starting the lease manager", "error", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-s.ctx.Done()
		s.mu.Lock()
		fatal := s.fatal != nil && !s.closing
		s.mu.Unlock()
		if !fatal {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.cfg.closeTimeout)
		defer cancel()
		s.sealAll()
		if err := s.flush(cctx); err != nil {
			s.log.Warn("writing checkpoints after the stream failed", "error", err)
		}
		if err := s.closeLeases(cctx); err != nil {
			s.log.Warn("releasing the leases after the stream failed", "error", err)
		}
	}()
}

// closeLeases closes the lease manager: it releases every lease still held
// and deletes the worker's row.
func (s *Stream[T]) closeLeases(ctx context.Context) error {
	if s.leases == nil {
		return nil
	}
	held := s.leases.Held()
	err := s.leases.Close(ctx)
	if s.stopLeases != nil {
		s.stopLeases()
	}
	if err != nil {
		return fmt.Errorf("kinesin: releasing the shard leases: %w", err)
	}
	for _, l := range held {
		s.tel.Lease(telemetry.LeaseReleased, l.Shard)
	}
	return nil
}
