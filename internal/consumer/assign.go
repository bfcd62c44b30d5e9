package consumer

import (
	"context"
	"time"
)

// Assignment decides which shards of the stream this process reads and
// where their checkpoints go. There are two: AllShards (every shard,
// checkpoints in a checkpoint.Store) and Leased (the shards the process was
// assigned among several, see leased.go). The engine calls them from its
// run goroutine, but for gated, write, finished, seal, drain and close.
type Assignment interface {
	// open prepares reading once the shards are listed, before any read
	// starts: it loads the checkpoints into the graph and writes the start
	// checkpoints.
	open(ctx context.Context, e *Engine) error
	// begin starts what runs beside the engine, under Start's ctx.
	begin(ctx context.Context, e *Engine)
	// schedule starts the reads that may start now.
	schedule(ctx context.Context, e *Engine)
	// listed follows a listing of the shards (complete) or the children a
	// shard's end named (not complete).
	listed(ctx context.Context, e *Engine, complete bool)
	// stopped follows the end of a read the assignment stopped.
	stopped(ctx context.Context, e *Engine, n *node)
	// gated reports whether records are handed out through their tracker
	// (commit.Tracker.Yield), which the assignment may seal.
	gated() bool
	// recheck is how often a record waiting to be handed out is checked
	// again (Engine.StillHandedOut); 0: never.
	recheck() time.Duration
	// write writes the checkpoints ps, setting each one's err, and returns
	// the failures of the store (not errLost), joined.
	write(ctx context.Context, e *Engine, ps []pending) error
	// finished follows the write of a shard's end marker.
	finished(e *Engine, id string)
	// seal stops handing out records, at the start of Close.
	seal(e *Engine)
	// drain waits, bounded by ctx, for what Close must wait for.
	drain(ctx context.Context, e *Engine)
	// close ends the assignment after the last write.
	close(ctx context.Context, e *Engine) error
	// caughtUp reports whether a bounded read may stop: its shards are
	// caught up or read to their end (see stop.go).
	caughtUp(e *Engine) bool
	// workerID is the process's id among the workers, "" when none;
	// held how many shards it was assigned.
	workerID() string
	held() int
}
