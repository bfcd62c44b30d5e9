package consumer

import (
	"context"
	"errors"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/commit"
)

// pending is the committed position of a shard that changed since it was
// last written.
type pending struct {
	id      string
	tr      *commit.Tracker
	cp      checkpoint.Checkpoint
	version uint64
	// err is the outcome of its write, set by the assignment; errLost
	// means the shard is no longer this process's to write.
	err error
}

// errLost is the outcome of a write refused because the shard is no longer
// this process's (the assignment gave it away): not a failure of the
// store.
var errLost = errors.New("the shard is no longer this process's")

// flusher writes committed positions every checkpoint interval, and when a
// shard's end marker becomes writable.
func (e *Engine) flusher(ctx context.Context) {
	t := time.NewTicker(e.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.kick:
		}
		err := e.flush(ctx)
		if err == nil || ctx.Err() != nil {
			continue
		}
		e.flushMu.Lock()
		since := e.failSince
		e.flushMu.Unlock()
		if time.Since(since) >= e.cfg.StoreOutage {
			e.fail(&Failure{Kind: CheckpointsFailed, Since: since, Err: err})
			return
		}
		e.log.Warn("checkpoint write failed; keeping the positions and retrying", "error", err, "failing_since", since)
	}
}

// flush writes the checkpoints that changed since they were last written,
// through the assignment, and drops the trackers of shards finished (their
// end marker written) or no longer this process's.
func (e *Engine) flush(ctx context.Context) error {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	var ps []pending
	e.eachTracker(func(id string, tr *commit.Tracker) {
		if cp, v, dirty := tr.Pending(); dirty {
			ps = append(ps, pending{id: id, tr: tr, cp: cp, version: v})
		}
	})
	if len(ps) == 0 {
		e.failSince = time.Time{}
		return nil
	}
	t0 := time.Now()
	err := e.assign.write(ctx, e, ps)
	e.tel.CheckpointWrite(ctx, len(ps), time.Since(t0), err)
	e.wrote(err)
	for _, p := range ps {
		switch {
		case p.err == nil:
			e.written(p)
		case errors.Is(p.err, errLost):
			// No longer this process's: the next owner reads the records
			// after the checkpoint it finds.
			e.untrack(p.id, p.tr)
		}
	}
	if err != nil {
		if e.failSince.IsZero() {
			e.failSince = time.Now()
		}
		return err
	}
	e.failSince = time.Time{}
	return nil
}

// written marks p's checkpoint written, and drops its tracker once the
// shard is finished.
func (e *Engine) written(p pending) {
	p.tr.MarkWritten(p.version)
	if p.tr.Finished() && e.untrack(p.id, p.tr) {
		e.setState(p.id, Finished)
		e.assign.finished(e, p.id)
		e.log.Info("shard finished", "shard", p.id)
	}
}
