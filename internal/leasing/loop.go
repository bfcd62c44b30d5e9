package leasing

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"
)

// workerRetentionFactor: a worker row unchanged for this many lease
// durations is deleted by whichever worker sees it.
const workerRetentionFactor = 5

// run is the Manager's goroutine: it does what is due when its timer fires,
// and hands events to hooks and to Events in between. It arms exactly one
// timer at a time, and only after the due work is done, so that a test with
// a manual clock knows the work is done when a timer is armed again.
func (m *Manager) run(ctx context.Context) {
	defer close(m.done)
	defer close(m.events)
	timer := m.clock.After(0)
	for {
		m.mu.Lock()
		in := m.incoming
		m.incoming = nil
		m.mu.Unlock()
		for _, ev := range in {
			m.hook(ev)
			m.outgoing = append(m.outgoing, ev)
		}
		var (
			out  chan<- Event
			head Event
		)
		if len(m.outgoing) > 0 {
			out, head = m.events, m.outgoing[0]
		}
		select {
		case <-ctx.Done():
			return
		case <-m.stop:
			return
		case <-m.kick:
		case out <- head:
			m.outgoing[0] = Event{}
			m.outgoing = m.outgoing[1:]
		case <-timer:
			m.wake(ctx)
			timer = m.clock.After(m.nextDeadline().Sub(m.clock.Now()))
		}
	}
}

func (m *Manager) hook(ev Event) {
	var f func(Lease)
	switch ev.Kind {
	case Acquired:
		f = m.hooks.OnAssigned
	case Revoke:
		f = m.hooks.OnRevoked
	case Lost:
		f = m.hooks.OnLost
	}
	if f != nil {
		f(ev.Lease.Clone())
	}
}

// wake does the work that is due: local expiry, handoff timeouts, renewals
// and the cycle.
//
// The renewal pass and the cycle each end (their store calls fail on their
// context) when their interval has passed or a held lease reaches its local
// expiry, whichever comes first: a store that hangs never keeps the worker
// reading a shard past the moment it must give it up.
func (m *Manager) wake(ctx context.Context) {
	now := m.clock.Now()
	m.expire(ctx, now)
	if !now.Before(m.nextRenew) {
		pass, cancel := context.WithTimeout(ctx, m.passTimeout(now, m.cfg.RenewInterval))
		m.renew(ctx, pass)
		cancel()
		m.nextRenew = now.Add(m.cfg.RenewInterval)
		m.expire(ctx, m.clock.Now())
	}
	if !now.Before(m.nextCycle) {
		now := m.clock.Now()
		pass, cancel := context.WithTimeout(ctx, m.passTimeout(now, m.cfg.CycleInterval))
		m.cycle(ctx, pass, now)
		cancel()
		m.nextCycle = now.Add(m.cfg.CycleInterval)
		m.expire(ctx, m.clock.Now())
	}
}

// passTimeout returns d, or less: the time left before the earliest local
// expiry of a held lease.
func (m *Manager) passTimeout(now time.Time, d time.Duration) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range m.held {
		if h.gone || h.releasing {
			continue
		}
		if left := h.renewedAt.Add(m.holdFor()).Sub(now); left > 0 && left < d {
			d = left
		}
	}
	return d
}

// nextDeadline returns when wake must run next: the next renewal or cycle,
// the earliest local expiry or handoff timeout of a held lease, or the
// moment a lease of another worker expires if its counter does not change
// (so that a dead worker's leases are taken right when they expire).
//
// Deadlines already past (a lease whose write was in flight at the last
// wake) are left to the next renewal: the result is always after now.
func (m *Manager) nextDeadline() time.Time {
	now := m.clock.Now()
	next := m.nextRenew
	if m.nextCycle.Before(next) {
		next = m.nextCycle
	}
	earlier := func(at time.Time) {
		if at.After(now) && at.Before(next) {
			next = at
		}
	}
	m.mu.Lock()
	for _, h := range m.held {
		if h.gone || h.releasing {
			continue
		}
		earlier(h.renewedAt.Add(m.holdFor()))
		if !h.revokeAt.IsZero() {
			earlier(h.revokeAt.Add(m.cfg.HandoffTimeout))
		}
	}
	snapshot := m.snapshot
	m.mu.Unlock()
	if at, ok := m.obs.nextExpiry(snapshot, m.cfg.WorkerID, now, m.cfg.LeaseDuration); ok {
		earlier(at)
	}
	return next
}

// holdings returns the leases held, by shard id.
func (m *Manager) holdings() []*holding {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*holding, 0, len(m.held))
	for _, id := range slices.Sorted(maps.Keys(m.held)) {
		out = append(out, m.held[id])
	}
	return out
}

// holdFor is how long after sending its last successful write of a lease the
// worker gives the lease up when it cannot renew it: a tenth of
// LeaseDuration before any observer may judge it expired (observers count
// from when they see the write, after it was sent), a margin for clocks that
// run at slightly different rates and for the scheduler to stop reading.
func (m *Manager) holdFor() time.Duration {
	return m.cfg.LeaseDuration - m.cfg.LeaseDuration/10
}

// expire drops the leases not renewed for holdFor (renewals kept failing,
// the store hangs, or the process was paused): other workers may judge them
// expired soon, so the scheduler must stop reading them, even when a write
// is in flight (should it succeed, the lease is the worker's in the table
// and the next cycle takes it back). It also gives up leases whose Revoke
// was not answered within HandoffTimeout, releasing them now, or at the next
// renewal when a write is in flight.
func (m *Manager) expire(ctx context.Context, now time.Time) {
	for _, h := range m.holdings() {
		m.mu.Lock()
		live := !h.gone && !h.releasing
		expired := live && now.Sub(h.renewedAt) >= m.holdFor()
		timedOut := live && !expired && !h.revokeAt.IsZero() && now.Sub(h.revokeAt) >= m.cfg.HandoffTimeout
		if timedOut {
			h.releasing = true
			m.hold(h, time.Time{})
		}
		l := h.lease
		m.mu.Unlock()
		switch {
		case expired:
			m.lose(h, "not renewed in time")
		case timedOut:
			m.log.Warn("handoff not completed in time; releasing the lease", "shard", l.Shard, "timeout", m.cfg.HandoffTimeout)
			m.emit(Lost, l)
			if h.tryLock() {
				if err := m.release(ctx, ctx, h); err != nil && !errors.Is(err, ErrLost) && ctx.Err() == nil {
					m.log.Warn("release failed; retrying", "shard", l.Shard, "error", err)
				}
				h.unlock()
			}
		}
	}
}

// renew renews every held lease, and releases those given up, on ctx (the
// pass's context; base is the run's, to read leases back on). A lease with a
// write in flight is skipped: that write renews it.
//
// OnRenewed is called for each lease renewed, on the Manager's goroutine,
// after the pass.
func (m *Manager) renew(base, ctx context.Context) {
	hs := m.holdings()
	renewed := make([]bool, len(hs))
	defer func() {
		if f := m.hooks.OnRenewed; f != nil {
			for i, ok := range renewed {
				if ok {
					f(hs[i].shard)
				}
			}
		}
	}()
	m.parallel(len(hs), func(i int) {
		h := hs[i]
		if !h.tryLock() {
			return
		}
		defer h.unlock()
		m.mu.Lock()
		l, gone, releasing := h.lease, h.gone, h.releasing
		m.mu.Unlock()
		switch {
		case gone:
			return
		case releasing:
			if err := m.release(ctx, base, h); err != nil && !errors.Is(err, ErrLost) && ctx.Err() == nil {
				m.log.Warn("release failed; retrying", "shard", l.Shard, "error", err)
			}
			return
		}
		sent := m.clock.Now()
		nl, err := m.store.Renew(ctx, m.app, m.stream, l)
		if err != nil {
			nl, err = m.settle(base, h, l, err, func(x Lease) bool { return writtenBy(x, l, m.cfg.WorkerID) })
		}
		switch {
		case errors.Is(err, ErrLost):
			m.lose(h, "renewal refused: "+err.Error())
		case err != nil:
			if ctx.Err() == nil {
				m.log.Warn("renewal failed; retrying", "shard", l.Shard, "error", err)
			}
		default:
			m.wrote(h, nl, sent)
			renewed[i] = true
		}
	})
}

// cycle heartbeats, lists the lease table, reconciles the held leases with
// it, and takes, balances and cleans up as makePlan decides, on ctx (the
// pass's context; base is the run's, to read leases back on).
func (m *Manager) cycle(base, ctx context.Context, now time.Time) {
	if w, err := m.store.Heartbeat(ctx, m.app, m.stream, m.cfg.WorkerID); err != nil {
		if ctx.Err() == nil {
			m.log.Warn("heartbeat failed", "error", err)
		}
	} else {
		m.mu.Lock()
		m.self = w
		m.mu.Unlock()
	}
	leases, workers, err := m.store.List(ctx, m.app, m.stream)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("listing leases failed", "error", err)
		}
		return
	}
	m.obs.observe(now, leases, workers)
	m.mu.Lock()
	m.snapshot = leases
	m.mu.Unlock()

	mine, busy := m.reconcile(leases)
	m.mu.Lock()
	gone := m.gone
	m.mu.Unlock()
	p := makePlan(planInput{
		self:            m.cfg.WorkerID,
		now:             now,
		leaseDuration:   m.cfg.LeaseDuration,
		workerRetention: workerRetentionFactor * m.cfg.LeaseDuration,
		maxSteals:       m.cfg.MaxSteals,
		leases:          leases,
		workers:         workers,
		mine:            mine,
		busy:            busy,
		gone:            gone,
		obs:             &m.obs,
		rand:            m.rand,
	})
	m.log.Debug("lease cycle", "readable", p.readable, "workers", len(p.live), "target", p.target,
		"held", p.held, "take", len(p.take), "steal", len(p.steal), "cleanup", len(p.cleanup))

	m.parallel(len(p.take), func(i int) {
		l := p.take[i]
		sent := m.clock.Now()
		nl, err := m.store.Take(ctx, m.app, m.stream, l, m.cfg.WorkerID)
		if unclear(err) {
			// The take may have applied: read it back rather than leave
			// the lease owned in the table and not held until the next
			// cycle reclaims it.
			budget := min(m.cfg.RenewInterval, sent.Add(m.holdFor()).Sub(m.clock.Now()))
			if rl, found, rerr := m.readBack(base, l.Shard, budget); rerr == nil && found && writtenBy(rl, l, m.cfg.WorkerID) {
				m.log.Info("a take that failed was applied; adopting the lease as written", "shard", l.Shard, "error", err)
				nl, err = rl, nil
			}
		}
		if err != nil {
			if !errors.Is(err, ErrLost) && ctx.Err() == nil {
				m.log.Warn("taking a lease failed", "shard", l.Shard, "error", err)
			}
			return
		}
		h := &holding{write: make(chan struct{}, 1), shard: nl.Shard, lease: nl, renewedAt: sent}
		m.hold(h, sent)
		m.mu.Lock()
		m.held[nl.Shard] = h
		m.mu.Unlock()
		from := "free"
		switch {
		case l.Owner == m.cfg.WorkerID:
			from = "own, not held"
		case l.Owner != "":
			from = "expired, of " + l.Owner
		}
		m.log.Info("lease acquired", "shard", nl.Shard, "from", from, "checkpoint", nl.Checkpoint.String())
		m.emitEvent(Event{Kind: Acquired, Lease: nl, Valid: m.valid(h)})
	})
	m.parallel(len(p.steal), func(i int) {
		l := p.steal[i]
		if _, err := m.store.RequestHandoff(ctx, m.app, m.stream, l, m.cfg.WorkerID); err != nil {
			if !errors.Is(err, ErrLost) && ctx.Err() == nil {
				m.log.Warn("asking a handoff failed", "shard", l.Shard, "owner", l.Owner, "error", err)
			}
			return
		}
		m.log.Info("lease handoff asked for", "shard", l.Shard, "owner", l.Owner)
	})
	m.parallel(len(p.cleanup), func(i int) {
		l := p.cleanup[i]
		if err := m.store.Delete(ctx, m.app, m.stream, l); err != nil {
			if !errors.Is(err, ErrLost) && ctx.Err() == nil {
				m.log.Warn("deleting an ended lease failed", "shard", l.Shard, "error", err)
			}
			return
		}
		m.log.Info("ended lease deleted: its shard left the stream, and its children have checkpoints", "shard", l.Shard)
	})
	for _, w := range p.dead {
		if err := m.store.DeleteWorker(ctx, m.app, m.stream, w); err == nil {
			m.log.Info("dead worker row deleted", "dead_worker", w.ID)
		}
	}
}

// reconcile compares the held leases with a listing made after every take
// of this worker: a lease listed with another owner, a larger counter than
// the worker wrote, or not listed at all, was lost; one listed with a handoff
// request is revoked. It returns the leases the worker holds and reads, and
// every lease it still writes to. Leases with a write in flight are left
// alone.
func (m *Manager) reconcile(leases []Lease) (mine, busy map[string]bool) {
	listed := make(map[string]Lease, len(leases))
	for _, l := range leases {
		listed[l.Shard] = l
	}
	for _, h := range m.holdings() {
		if !h.tryLock() {
			continue
		}
		m.mu.Lock()
		held, skip := h.lease, h.gone || h.releasing
		m.mu.Unlock()
		if !skip {
			l, ok := listed[held.Shard]
			switch {
			case !ok:
				m.lose(h, "the lease was deleted")
			case l.Owner != m.cfg.WorkerID:
				m.lose(h, "taken by "+l.Owner)
			case l.Counter > held.Counter:
				m.lose(h, "written by another process under the same worker id")
			case l.Counter == held.Counter && l.NextOwner != held.NextOwner:
				m.wrote(h, l, time.Time{})
			}
		}
		h.unlock()
	}
	mine, busy = make(map[string]bool), make(map[string]bool)
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, h := range m.held {
		busy[id] = true
		if !h.releasing && !h.gone && h.revokeAt.IsZero() {
			mine[id] = true
		}
	}
	return mine, busy
}
