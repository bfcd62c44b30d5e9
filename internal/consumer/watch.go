package consumer

import (
	"context"
	"time"

	"github.com/kinesin-go/kinesin/internal/commit"
)

// watch checks, every watchInterval, the shards failing for longer than the
// stall timeout (the engine fails with the first), logs changes of their
// state, and warns of shards paused at MaxUncommitted for longer than
// Config.PauseWarning.
func (e *Engine) watch(ctx context.Context) {
	t := time.NewTicker(e.watchInterval())
	defer t.Stop()
	warned := make(map[*commit.Tracker]time.Time) // the pause each tracker was warned of
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if st := e.cfg.Health.check(now, e.cfg.StallTimeout); len(st) > 0 {
				s := st[0]
				e.fail(&Failure{Kind: ReadFailed, Shard: s.id, Op: s.op, Since: s.since, Stalled: true, Err: s.err})
				return
			}
			e.warnPaused(now, warned)
		}
	}
}

// watchInterval is how often watch looks: a tenth of the stall timeout, at
// most a second.
func (e *Engine) watchInterval() time.Duration {
	return max(min(e.cfg.StallTimeout/10, time.Second), time.Millisecond)
}

// warnPaused warns, once per pause, of each shard paused at MaxUncommitted
// for longer than PauseWarning.
func (e *Engine) warnPaused(now time.Time, warned map[*commit.Tracker]time.Time) {
	type paused struct {
		id          string
		since       time.Time
		uncommitted int
		memory      bool
	}
	var ps []paused
	live := make(map[*commit.Tracker]bool)
	e.eachTracker(func(id string, tr *commit.Tracker) {
		live[tr] = true
		since, memory := tr.PausedSince()
		if since.IsZero() || now.Sub(since) < e.cfg.PauseWarning || warned[tr].Equal(since) {
			return
		}
		warned[tr] = since
		ps = append(ps, paused{id, since, tr.Outstanding(), memory})
	})
	for tr := range warned {
		if !live[tr] {
			delete(warned, tr)
		}
	}
	for _, p := range ps {
		if p.memory {
			e.log.Warn("shard paused: the records the stream holds reached its memory budget; commit them to go on",
				"shard", p.id, "uncommitted", p.uncommitted, "held_bytes", e.budget.Held(), "budget_bytes", e.budget.Limit(),
				"paused_for", now.Sub(p.since).Round(time.Second))
			continue
		}
		e.log.Warn("shard paused: its records delivered and not committed reached MaxUncommitted; commit them to go on",
			"shard", p.id, "uncommitted", p.uncommitted, "paused_for", now.Sub(p.since).Round(time.Second))
	}
}
