package consumer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/kpl"
	"github.com/kinesin-go/kinesin/internal/shard"
)

// The graph holds the shards of the stream the engine knows, and decides
// where a shard without a checkpoint is read from: from where its parents'
// reads started (lineage), else from the configured start. The engine's run
// goroutine owns it.

type phase int

const (
	waiting phase = iota // known, not started
	reading              // a reader is running
	done                 // read to its end, or gone
)

// node is a shard of the graph.
type node struct {
	id      string
	parents []string
	// listed: the shard was in a complete listing, so parents it names that
	// were in none are gone from the stream (trimmed).
	listed   bool
	phase    phase
	position string // where the read started, for logs
	// read: the group read the shard (in this process, or it has a
	// checkpoint), so its children are read from where its read started;
	// from is the time that read started at, if it started at one.
	read bool
	from time.Time
	// lo and hi bound the shard's hash keys, when known (hasRange): user
	// records of KPL aggregates outside them are dropped, as the KCL does.
	lo, hi   kpl.Uint128
	hasRange bool
	// run is the read in progress, or one stopped by the assignment that
	// has not returned yet.
	run *run
	// caughtUp: a bounded read found the shard at its tip (see stop.go).
	caughtUp bool
}

type graph struct {
	nodes map[string]*node
	// fresh are the shards learned since the assignment last heard of the
	// graph (Assignment.listed): the children a shard's end named.
	fresh []string
	// cps are the checkpoints known at start: those loaded from the store
	// (and the start checkpoints written), or the seed of the assignment.
	cps map[string]checkpoint.Checkpoint
}

func newGraph() *graph {
	return &graph{nodes: make(map[string]*node), cps: make(map[string]checkpoint.Checkpoint)}
}

// list reads every shard of the stream and learns the new ones; every shard
// listed is marked listed.
func (e *Engine) list(ctx context.Context) error {
	in := &kinesis.ListShardsInput{}
	if isARN(e.cfg.CallName) {
		in.StreamARN = aws.String(e.cfg.CallName)
	} else {
		in.StreamName = aws.String(e.cfg.CallName)
	}
	// The SDK has no ListShards paginator: a NextToken must be sent alone.
	for {
		out, err := e.cfg.API.ListShards(ctx, in)
		if err != nil {
			if awserr.IsNotFound(err) {
				return &Failure{Kind: StreamGone, Err: fmt.Errorf("%s: %w", e.cfg.Name, err)}
			}
			return fmt.Errorf("kinesin: listing shards of %s: %w", e.cfg.Name, err)
		}
		for _, sh := range out.Shards {
			n := e.graph.learn(aws.ToString(sh.ShardId), sh.HashKeyRange, aws.ToString(sh.ParentShardId), aws.ToString(sh.AdjacentParentShardId))
			if n != nil {
				n.listed = true
			}
		}
		if out.NextToken == nil {
			return nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// learn records a shard if it is new, and returns it (nil for an empty id).
func (g *graph) learn(id string, hashRange *types.HashKeyRange, parents ...string) *node {
	if id == "" {
		return nil
	}
	if n, ok := g.nodes[id]; ok {
		return n
	}
	n := &node{id: id}
	if hashRange != nil {
		lo, okLo := kpl.ParseUint128(aws.ToString(hashRange.StartingHashKey))
		hi, okHi := kpl.ParseUint128(aws.ToString(hashRange.EndingHashKey))
		n.lo, n.hi, n.hasRange = lo, hi, okLo && okHi
	}
	for _, p := range parents {
		if p != "" && !slices.Contains(n.parents, p) {
			n.parents = append(n.parents, p)
		}
	}
	g.nodes[id] = n
	g.fresh = append(g.fresh, id)
	return n
}

// takeFresh returns the shards learned since it was last called, and
// forgets them.
func (g *graph) takeFresh() []string {
	f := g.fresh
	g.fresh = nil
	return f
}

// learnChildren records the children a shard's end named, and reports
// whether one of them names a parent the graph does not know: a shard made
// and closed since the last listing (UpdateShardCount makes such), which
// must be listed, and read, before the child.
func (g *graph) learnChildren(children []types.ChildShard) (unknownParent bool) {
	for _, ch := range children {
		n := g.learn(aws.ToString(ch.ShardId), ch.HashKeyRange, ch.ParentShards...)
		for _, p := range n.parents {
			if _, ok := g.nodes[p]; !ok {
				unknownParent = true
			}
		}
	}
	return unknownParent
}

// parentsDone reports whether every parent of n was read to its end or is
// gone from the stream. A parent the graph does not know is gone only when n
// was in a complete listing (which would have held the parent, were it still
// in the stream); until then it is not done, so that a child never passes an
// ancestor the engine has not listed yet.
func (g *graph) parentsDone(n *node) bool {
	for _, p := range n.parents {
		pn, ok := g.nodes[p]
		switch {
		case ok && pn.phase != done:
			return false
		case !ok && !n.listed:
			return false
		}
	}
	return true
}

// knownParent reports whether a parent of n is in the graph or has a
// checkpoint: n is not a shard of the stream's creation, nor one whose
// parents were trimmed away.
func (g *graph) knownParent(n *node) bool {
	for _, p := range n.parents {
		if _, ok := g.nodes[p]; ok {
			return true
		}
		if _, ok := g.cps[p]; ok {
			return true
		}
	}
	return false
}

// lineage looks at the parents of a shard without a checkpoint: read reports
// whether the group read one of them (in this process, or it has a
// checkpoint), and from is the earliest time one of those reads started at,
// zero when none started at a time.
func (g *graph) lineage(parents []string) (from time.Time, read bool) {
	for _, p := range parents {
		var t time.Time
		if pn, ok := g.nodes[p]; ok && pn.read {
			t = pn.from
		} else if cp, ok := g.cps[p]; ok {
			t = cp.Timestamp
		} else {
			continue
		}
		read = true
		from = earliest(from, t)
	}
	return from, read
}

// earliest returns the earlier of two times, a zero time counting as none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// startOf decides where a shard is read from: its checkpoint; without one,
// where its parents' reads started; without a parent the group read, the
// configured start.
func (e *Engine) startOf(n *node, cp checkpoint.Checkpoint) shard.Start {
	if !cp.IsZero() {
		return startFrom(cp)
	}
	if from, read := e.graph.lineage(n.parents); read {
		return childStart(from)
	}
	return e.configuredStart()
}

// startFrom is where a read resumes from a checkpoint that is not the
// shard-end marker.
func startFrom(cp checkpoint.Checkpoint) shard.Start {
	switch {
	case cp.IsStart():
		return shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: cp.Timestamp}
	case cp.Partial:
		return shard.Start{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: cp.SequenceNumber}
	}
	return shard.Start{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: cp.SequenceNumber}
}

// childStart is where a shard without a checkpoint is read from when the
// group read a parent of it: from the time the parent's read started at,
// when it started at one (a record older than the group's start is never
// delivered, as the KCL does it), else from its start: every record of a
// child came after the parents' records.
func childStart(from time.Time) shard.Start {
	if !from.IsZero() {
		return shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: from}
	}
	return shard.Start{Type: types.ShardIteratorTypeTrimHorizon}
}

// configuredStart is where a shard none of whose parents the group read is
// read from, when it has no checkpoint: the configured start, Latest being
// the time it stands for in this process (shards of the stream's creation
// got a start checkpoint at the group's first Open instead).
func (e *Engine) configuredStart() shard.Start {
	switch e.cfg.Start.Kind {
	case StartTrimHorizon:
		return shard.Start{Type: types.ShardIteratorTypeTrimHorizon}
	case StartAtTimestamp:
		return shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: e.cfg.Start.Time}
	}
	return shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: e.cfg.Latest}
}

// orphanStart is where a child is read from when it names parents whose
// reads the group has no trace of any more: from its start,
// rather than lose a record, unless the group starts at a fixed time.
func (e *Engine) orphanStart() shard.Start {
	if e.cfg.Start.Kind == StartAtTimestamp {
		return shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: e.cfg.Start.Time}
	}
	return shard.Start{Type: types.ShardIteratorTypeTrimHorizon}
}

// describeStart formats a start for logs and spans.
func describeStart(st shard.Start) string {
	switch st.Type {
	case types.ShardIteratorTypeAtTimestamp:
		return string(st.Type) + " " + st.Timestamp.UTC().Format(time.RFC3339Nano)
	case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
		return string(st.Type) + " " + st.SequenceNumber
	}
	return string(st.Type)
}

func isARN(s string) bool { return len(s) > 4 && s[:4] == "arn:" }
