package leasing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// unclear reports whether a write that failed with err may nevertheless
// have been applied by the store: a deadline, a cancellation, a network or
// throttling error, anything but a refused condition (ErrLost) or an
// argument rejected before writing.
func unclear(err error) bool {
	return err != nil &&
		!errors.Is(err, ErrLost) &&
		!errors.Is(err, ErrInvalid) &&
		!errors.Is(err, checkpoint.ErrInvalid) &&
		!errors.Is(err, ErrExists) &&
		!errors.Is(err, ErrClosed)
}

// readBack lists the lease of shard after a write whose outcome is unclear.
// It lists on base (not the write's context, which has usually ended), bounded
// by budget. found is false when the lease is not
// listed; err is the listing's error (nothing is known then).
func (m *Manager) readBack(base context.Context, shard string, budget time.Duration) (l Lease, found bool, err error) {
	if budget <= 0 {
		return Lease{}, false, errors.New("no time left to read the lease back")
	}
	rctx, cancel := context.WithTimeout(base, budget)
	defer cancel()
	leases, _, err := m.store.List(rctx, m.app, m.stream)
	if err != nil {
		return Lease{}, false, err
	}
	for _, l := range leases {
		if l.Shard == shard {
			return l, true, nil
		}
	}
	return Lease{}, false, nil
}

// readBackBudget is how long reading h back may take: a renewal interval,
// and never past the moment the worker gives h up (its local expiry).
func (m *Manager) readBackBudget(h *holding) time.Duration {
	m.mu.Lock()
	left := h.renewedAt.Add(m.holdFor()).Sub(m.clock.Now())
	m.mu.Unlock()
	return min(m.cfg.RenewInterval, left)
}

// settle decides a write of h, held as held when sent, that failed with err.
// base is the context to read back on: the caller's context without its
// cancellation for a method of the Manager, the Manager's run context for
// its own passes (so that a stopped Manager reads nothing).
// A write the store refused (ErrLost) or rejected returns err as it is.
// After an unclear failure (see unclear) the store may have applied the
// write, leaving the worker holding a stale counter that would fail its
// next write with ErrLost: settle reads the lease back and
//   - returns it and no error when applied says the write took effect (the
//     caller adopts it as written);
//   - returns err when the lease is still held as held (the write was not
//     applied; the caller retries as before), or when the read failed too;
//   - returns an error wrapping ErrLost otherwise: another worker (or
//     another process under this worker id) wrote it, or it is gone.
func (m *Manager) settle(base context.Context, h *holding, held Lease, err error, applied func(Lease) bool) (Lease, error) {
	if !unclear(err) {
		return Lease{}, err
	}
	l, found, rerr := m.readBack(base, held.Shard, m.readBackBudget(h))
	switch {
	case rerr != nil:
		return Lease{}, err
	case found && applied(l):
		m.log.Info("a write that failed was applied; adopting the lease as written", "shard", held.Shard, "counter", l.Counter, "error", err)
		return l, nil
	case found && l.Owner == held.Owner && l.Counter == held.Counter:
		return Lease{}, err
	case !found:
		return Lease{}, fmt.Errorf("%w: the lease is gone (read back after: %v)", ErrLost, err)
	}
	return Lease{}, fmt.Errorf("%w: read back as %v after: %v", ErrLost, l, err)
}

// checkpointed reports whether l is what a Checkpoint of cp conditional on
// held wrote (or found, when cp was not above the stored checkpoint).
func checkpointed(l, held Lease, cp checkpoint.Checkpoint) bool {
	if l.Owner != held.Owner || !l.HasCheckpoint() {
		return false
	}
	switch l.Counter {
	case held.Counter + 1:
		return cp.Compare(l.Checkpoint) == 0
	case held.Counter:
		return cp.Compare(l.Checkpoint) <= 0
	}
	return false
}

// writtenBy reports whether l is held by owner with the counter a write
// conditional on held would have produced.
func writtenBy(l, held Lease, owner string) bool {
	return l.Owner == owner && l.Counter == held.Counter+1
}
