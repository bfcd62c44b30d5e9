package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinesin-go/kinesin/internal/commit"
	"github.com/kinesin-go/kinesin/internal/shard"
)

// A bounded read (Config.StopWhenCaughtUp, Config.StopAt) ends by itself
// once every shard in scope is done: read to its end, or caught up. A shard
// is caught up when a fetch found it at its tip (MillisBehindLatest 0) and
// that fetch's records were handed over, or, with StopAt, when a record that
// arrived after StopAt was fetched (it and the records after it are not
// handed over). Children of shards read to their end are in scope and read
// too, so records of the stream's shards at the time of Open (or StopAt) are
// all delivered whatever resharding happened. The engine then stops
// reading, waits (bounded by CloseTimeout) for the records handed out to be
// committed, writes the committed positions, and ends without an error.

// stopCheckInterval is how often a bounded read checks whether it may stop,
// besides when a shard is caught up or ends.
const stopCheckInterval = 200 * time.Millisecond

// bounded reports whether the read ends by itself.
func (c *Config) bounded() bool { return c.StopWhenCaughtUp || !c.StopAt.IsZero() }

// tips follows, per shard, the fetches that found it at its tip, until
// their records are handed over. Its methods run on the readers'
// goroutines.
type tips struct {
	mu      sync.Mutex
	pending map[string]int  // records of the fetch at the tip not yet handed over
	sent    map[string]bool // shards whose catching up was reported
}

// atTip follows a fetch of records records that found shard id at its tip.
func (e *Engine) atTip(id string, records int) {
	t := &e.tips
	t.mu.Lock()
	_, had := t.pending[id]
	if records == 0 || had {
		// Nothing to hand over; or an earlier fetch at the tip, whose
		// records were handed over before this one was made.
		delete(t.pending, id)
		t.mu.Unlock()
		e.caughtUp(id)
		return
	}
	if t.pending == nil {
		t.pending = make(map[string]int)
	}
	t.pending[id] = records
	t.mu.Unlock()
}

// handedOver follows the hand-over of n records of a fetch of shard id.
func (e *Engine) handedOver(id string, n int) {
	t := &e.tips
	t.mu.Lock()
	left, ok := t.pending[id]
	if !ok {
		t.mu.Unlock()
		return
	}
	if left -= n; left > 0 {
		t.pending[id] = left
		t.mu.Unlock()
		return
	}
	delete(t.pending, id)
	t.mu.Unlock()
	e.caughtUp(id)
}

// caughtUp reports, once per shard, that shard id is caught up to the run
// goroutine.
func (e *Engine) caughtUp(id string) {
	t := &e.tips
	t.mu.Lock()
	if t.sent == nil {
		t.sent = make(map[string]bool)
	}
	first := !t.sent[id]
	t.sent[id] = true
	t.mu.Unlock()
	if !first {
		return
	}
	select {
	case e.calls <- func(ctx context.Context) { e.markCaughtUp(ctx, id) }:
	case <-e.ctx.Done():
	}
}

// markCaughtUp records on the run goroutine that a shard is caught up.
func (e *Engine) markCaughtUp(ctx context.Context, id string) {
	if n := e.graph.nodes[id]; n != nil {
		n.caughtUp = true
		e.log.Debug("shard caught up", "shard", id)
	}
	e.checkStop(ctx)
}

// pastStopAt returns how many of the fetch's first records arrived at or
// before Config.StopAt, and whether one after it was found: that one and
// the records after it are not handed over, and the shard is caught up.
func (e *Engine) pastStopAt(b *shard.Batch) (keep int, found bool) {
	if e.cfg.StopAt.IsZero() {
		return len(b.Records), false
	}
	for i := range b.Records {
		if t := aws.ToTime(b.Records[i].ApproximateArrivalTimestamp); t.After(e.cfg.StopAt) {
			return i, true
		}
	}
	return len(b.Records), false
}

// checkStop starts the stop of a bounded read once every shard in scope is
// done or caught up (with leases: see Assignment.caughtUp). It runs on the
// run goroutine.
func (e *Engine) checkStop(ctx context.Context) {
	if !e.cfg.bounded() || e.stopping || ctx.Err() != nil {
		return
	}
	if !e.assign.caughtUp(e) {
		return
	}
	e.stopping = true
	e.log.Info("every shard is caught up: the stream stops")
	for _, n := range e.graph.nodes {
		if n.run != nil && !n.run.stopped {
			n.run.stopped = true
			n.run.cancel()
		}
	}
	if e.running == 0 {
		e.finish()
	}
}

// allCaughtUp reports whether every shard of the graph in scope is read to
// its end or caught up.
func (e *Engine) allCaughtUp() bool {
	for id, n := range e.graph.nodes {
		if e.inScope(id) && n.phase != done && !n.caughtUp {
			return false
		}
	}
	return true
}

// finish ends a bounded read once its readers returned: it waits (bounded
// by CloseTimeout) for the records handed out to be committed, writes the
// committed positions and ends the engine without an error.
func (e *Engine) finish() {
	e.finishOnce.Do(func() {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			ctx, cancel := context.WithTimeout(e.ctx, e.cfg.CloseTimeout)
			defer cancel()
			e.flushMarker(ctx, "") // what a Batches loop holds goes out
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for e.outstanding() > 0 {
				select {
				case <-t.C:
				case <-e.iterDone: // nothing is processed any more
					cancel()
				case <-ctx.Done():
				}
				if ctx.Err() != nil {
					break
				}
			}
			if n := e.outstanding(); n > 0 {
				e.log.Warn("stopping with records handed out and not committed", "uncommitted", n)
			}
			fctx, fcancel := e.CloseContext()
			defer fcancel()
			if err := e.flush(fctx); err != nil {
				e.log.Warn("writing the committed positions at the stop failed; Close writes them again", "error", err)
			}
			e.cancel()
		}()
	})
}

// outstanding counts the records delivered and not committed, over every
// shard.
func (e *Engine) outstanding() int {
	n := 0
	e.eachTracker(func(_ string, tr *commit.Tracker) { n += tr.Outstanding() })
	return n
}
