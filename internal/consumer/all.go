package consumer

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/commit"
	"github.com/kinesin-go/kinesin/internal/shard"
)

// AllShards is the assignment of a process that reads every shard of the
// stream, its checkpoints in store.
func AllShards(store checkpoint.Store) Assignment { return &allShards{store: store} }

type allShards struct {
	store checkpoint.Store
}

// open loads the group's checkpoints and, with Latest, writes the start
// checkpoints.
func (a *allShards) open(ctx context.Context, e *Engine) error {
	cps, err := a.store.Load(ctx, e.cfg.App, e.cfg.Name)
	if err != nil {
		return fmt.Errorf("kinesin: loading checkpoints of app %s, stream %s: %w", e.cfg.App, e.cfg.Name, err)
	}
	maps.Copy(e.graph.cps, cps)
	return a.recordStarts(ctx, e)
}

// recordStarts makes Latest durable: each shard none of whose parents is
// known (a shard of the stream's creation, or whose parents were trimmed)
// that has no checkpoint gets a start checkpoint at the time Latest stands
// for, written before any record is read, so that a restart resumes there
// instead of at a later Latest. Its descendants are read from there through
// their lineage.
func (a *allShards) recordStarts(ctx context.Context, e *Engine) error {
	if e.cfg.Start.Kind != StartLatest {
		return nil
	}
	starts := make(map[string]checkpoint.Checkpoint)
	for id, n := range e.graph.nodes {
		if _, ok := e.graph.cps[id]; !ok && e.inScope(id) && !e.graph.knownParent(n) {
			starts[id] = checkpoint.StartAt(e.cfg.Latest)
		}
	}
	if len(starts) == 0 {
		return nil
	}
	if err := a.store.Save(ctx, e.cfg.App, e.cfg.Name, starts); err != nil {
		return fmt.Errorf("kinesin: writing the start checkpoints of app %s, stream %s: %w", e.cfg.App, e.cfg.Name, err)
	}
	maps.Copy(e.graph.cps, starts)
	e.log.Info("group starts at the stream's tip", "at", e.cfg.Latest, "shards", len(starts))
	return nil
}

func (a *allShards) begin(context.Context, *Engine) {}

// schedule starts every shard whose parents are done, until nothing changes.
func (a *allShards) schedule(ctx context.Context, e *Engine) {
	if ctx.Err() != nil || e.stopping {
		return
	}
	g := e.graph
	for changed := true; changed; {
		changed = false
		var ids []string
		for id, n := range g.nodes {
			if n.phase == waiting {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			if !e.inScope(id) {
				continue
			}
			n := g.nodes[id]
			cp := g.cps[id]
			if cp.ShardEnded {
				n.phase, n.read, n.from, changed = done, true, cp.Timestamp, true
				continue
			}
			if !e.parentsDone(n) {
				e.setState(id, Waiting)
				continue
			}
			start := e.startOf(n, cp)
			e.startRead(ctx, n, start, newTracker(e, cp, start))
			changed = true
		}
	}
}

func (a *allShards) listed(_ context.Context, e *Engine, _ bool) { e.graph.takeFresh() }
func (a *allShards) stopped(context.Context, *Engine, *node)     {}
func (a *allShards) gated() bool                                 { return false }
func (a *allShards) recheck() time.Duration                      { return 0 }
func (a *allShards) finished(*Engine, string)                    {}
func (a *allShards) seal(*Engine)                                {}
func (a *allShards) drain(context.Context, *Engine)              {}
func (a *allShards) close(context.Context, *Engine) error        { return nil }
func (a *allShards) workerID() string                            { return "" }
func (a *allShards) caughtUp(e *Engine) bool                     { return e.allCaughtUp() }

// write saves every checkpoint in one Save.
func (a *allShards) write(ctx context.Context, e *Engine, ps []pending) error {
	cps := make(map[string]checkpoint.Checkpoint, len(ps))
	for _, p := range ps {
		cps[p.id] = p.cp
	}
	err := a.store.Save(ctx, e.cfg.App, e.cfg.Name, cps)
	if err != nil {
		err = fmt.Errorf("kinesin: writing %d checkpoints: %w", len(ps), err)
	}
	for i := range ps {
		ps[i].err = err
	}
	return err
}

// newTracker returns the tracker of a read from start, whose checkpoint is
// cp: a read that starts at a time without a checkpoint starts from a start
// checkpoint at that time (not written), so that the shard's end marker
// carries the time for its children.
func newTracker(e *Engine, cp checkpoint.Checkpoint, start shard.Start) *commit.Tracker {
	if cp.IsZero() && start.Type == types.ShardIteratorTypeAtTimestamp {
		cp = checkpoint.StartAt(start.Timestamp)
	}
	return commit.New(e.cfg.MaxUncommitted, cp)
}
func (a *allShards) held() int { return 0 }
