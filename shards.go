package kinesin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/cenkalti/backoff/v4"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/kpl"
	"github.com/kinesin-go/kinesin/internal/telemetry"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/shard"
)

// The coordinator owns the shard graph of a stream: it lists shards, decides
// where each is read from, and starts a shard only when every parent has been
// read to its end (so a child's records are delivered after all of its
// parents'). One goroutine runs it; readers report to it over events.

type phase int

const (
	waiting phase = iota // known, not started
	reading              // a reader is running
	done                 // read to its end, skipped, or gone
)

type shardInfo struct {
	id       string
	parents  []string
	closed   bool // closed when it was listed
	phase    phase
	position string // where the read started, for logs
	// lineage: the shard was read in this process or has a checkpoint, so
	// its children must be read from their start.
	lineage bool
	// lo and hi bound the shard's hash keys, when known (hasRange): user
	// records of KPL aggregates outside them are dropped, as the KCL does.
	lo, hi   kpl.Uint128
	hasRange bool

	// run is the read in progress (reading), or one stopped on a lease
	// change that has not returned yet.
	run *readerRun
	// With leases: pending is a lease acquired while the previous read
	// was still stopping, to start once it returned; handoff cancels the
	// handover of the shard in progress (see handOver).
	pending *lease.Lease
	handoff context.CancelFunc
}

type shardEvent struct {
	id  string
	end shard.End
	err error
	run *readerRun
}

type coordinator[T any] struct {
	s       *Stream[T]
	cps     map[string]checkpoint.Checkpoint
	shards  map[string]*shardInfo
	events  chan shardEvent
	running int
}

func (c *coordinator[T]) run(ctx context.Context) {
	s := c.s
	c.schedule(ctx)
	sync := time.NewTicker(s.cfg.shardSync)
	defer sync.Stop()
	var retry <-chan time.Time
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 100*time.Millisecond, 5*time.Second, 0
	bo.Reset() // NewExponentialBackOff started it at its default interval
	relist := func() {
		if err := c.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if awserr.IsFatal(err) || awserr.IsNotFound(err) {
				s.fail(err)
				return
			}
			d := bo.NextBackOff()
			s.log.Warn("listing shards failed; retrying", "error", err, "wait", d)
			retry = time.After(d)
			return
		}
		bo.Reset()
		retry = nil
		c.syncLeases(ctx, false)
		c.schedule(ctx)
	}
	var leaseEvents <-chan lease.Event
	if s.leases != nil {
		leaseEvents = s.leases.Events()
	}
	for {
		select {
		case <-ctx.Done():
			for c.running > 0 { // readers end with ctx; collect them
				<-c.events
				c.running--
			}
			// Nothing is read any more: the shards' observable instruments
			// report nothing more, even if Close is never called.
			s.tel.Close()
			return
		case ev := <-c.events:
			c.running--
			if c.ended(ctx, ev) {
				relist()
			} else {
				c.schedule(ctx)
			}
		case ev, ok := <-leaseEvents:
			if !ok { // the manager stopped: Open's context ended, or Close
				leaseEvents = nil
				continue
			}
			c.leaseEvent(ctx, ev)
		case <-sync.C:
			relist()
		case <-retry:
			relist()
		}
	}
}

// refresh lists every shard of the stream and learns the new ones.
func (c *coordinator[T]) refresh(ctx context.Context) error {
	s := c.s
	in := &kinesis.ListShardsInput{}
	if isARN(s.callName) {
		in.StreamARN = aws.String(s.callName)
	} else {
		in.StreamName = aws.String(s.callName)
	}
	// The SDK has no ListShards paginator: a NextToken must be sent alone.
	for {
		out, err := s.api.ListShards(ctx, in)
		if err != nil {
			if awserr.IsNotFound(err) {
				return fmt.Errorf("%w: %s: %w", ErrStreamNotFound, s.name, err)
			}
			return fmt.Errorf("kinesin: listing shards of %s: %w", s.name, err)
		}
		for _, sh := range out.Shards {
			c.learn(aws.ToString(sh.ShardId), sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil,
				sh.HashKeyRange, aws.ToString(sh.ParentShardId), aws.ToString(sh.AdjacentParentShardId))
		}
		if out.NextToken == nil {
			return nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// learn records a shard if it is new.
func (c *coordinator[T]) learn(id string, closed bool, hashRange *types.HashKeyRange, parents ...string) {
	if id == "" {
		return
	}
	if sh, ok := c.shards[id]; ok {
		sh.closed = sh.closed || closed
		return
	}
	sh := &shardInfo{id: id, closed: closed}
	if hashRange != nil {
		lo, okLo := kpl.ParseUint128(aws.ToString(hashRange.StartingHashKey))
		hi, okHi := kpl.ParseUint128(aws.ToString(hashRange.EndingHashKey))
		sh.lo, sh.hi, sh.hasRange = lo, hi, okLo && okHi
	}
	for _, p := range parents {
		if p != "" {
			sh.parents = append(sh.parents, p)
		}
	}
	c.shards[id] = sh
}

// ended handles a reader's end and reports whether the shard list must be
// read again at once (a shard ended and the service did not name its
// children).
func (c *coordinator[T]) ended(ctx context.Context, ev shardEvent) (relist bool) {
	s := c.s
	sh := c.shards[ev.id]
	tr := ev.run.tr
	if sh.run == ev.run {
		sh.run = nil
	}
	if ev.run.stopped { // on a lease change
		return c.stoppedEnded(ctx, sh, ev)
	}
	switch {
	case ev.err == nil:
		sh.phase = done
		tr.End()
		for _, ch := range ev.end.ChildShards {
			c.learn(aws.ToString(ch.ShardId), false, ch.HashKeyRange, ch.ParentShards...)
		}
		s.log.Info("shard ended", "shard", ev.id, "children", childIDs(ev.end.ChildShards))
		s.tel.ShardEnded(ctx, ev.id, childIDs(ev.end.ChildShards))
		if len(ev.end.ChildShards) > 0 {
			c.syncLeases(ctx, false) // the children's leases, for any worker to take
		}
		return len(ev.end.ChildShards) == 0
	case ctx.Err() != nil:
		sh.phase = waiting
		return false
	case awserr.IsNotFound(ev.err):
		// The shard or the whole stream is gone.
		out, err := c.describe(ctx)
		if awserr.IsNotFound(err) {
			s.fail(fmt.Errorf("%w: %s was deleted: %w", ErrStreamNotFound, s.name, ev.err))
			return false
		}
		if err == nil && out.StreamDescriptionSummary != nil && !s.created.IsZero() &&
			!aws.ToTime(out.StreamDescriptionSummary.StreamCreationTimestamp).Equal(s.created) {
			s.fail(fmt.Errorf("%w: %s was deleted and created again: %w", ErrStreamNotFound, s.name, ev.err))
			return false
		}
		if errors.Is(ev.err, efo.ErrConsumerGone) {
			// The stream is there but the EFO consumer was deregistered:
			// the shard is not gone, and taking it for ended would write
			// its end marker and skip the rest of it on restart.
			s.fail(&ReadError{ShardID: ev.id, Err: ev.err})
			return false
		}
		if err != nil {
			// Whether the stream still exists is unknown: taking the shard
			// for gone could skip the rest of it.
			if ctx.Err() == nil {
				s.fail(&ReadError{ShardID: ev.id, Err: errors.Join(ev.err, fmt.Errorf("describing the stream: %w", err))})
			}
			return false
		}
		s.log.Warn("shard no longer exists (past retention?); its children will be read", "shard", ev.id, "error", ev.err)
		sh.phase = done
		tr.End()
		return true
	default:
		s.fail(&ReadError{ShardID: ev.id, Err: ev.err})
		return false
	}
}

// describe describes the stream, retrying errors that may pass (throttling,
// server and network errors) with backoff for up to half a minute.
func (c *coordinator[T]) describe(ctx context.Context) (*kinesis.DescribeStreamSummaryOutput, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 100*time.Millisecond, 5*time.Second, 30*time.Second
	bo.Reset()
	for {
		out, err := c.s.api.DescribeStreamSummary(ctx, c.describeInput())
		if err == nil || awserr.IsNotFound(err) || awserr.IsFatal(err) || ctx.Err() != nil {
			return out, err
		}
		d := bo.NextBackOff()
		if d == backoff.Stop {
			return out, err
		}
		c.s.log.Warn("describing the stream failed; retrying", "error", err, "wait", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return out, ctx.Err()
		}
	}
}

func (c *coordinator[T]) describeInput() *kinesis.DescribeStreamSummaryInput {
	in := &kinesis.DescribeStreamSummaryInput{}
	if isARN(c.s.callName) {
		in.StreamARN = aws.String(c.s.callName)
	} else {
		in.StreamName = aws.String(c.s.callName)
	}
	return in
}

func childIDs(cs []types.ChildShard) []string {
	out := make([]string, len(cs))
	for i, ch := range cs {
		out[i] = aws.ToString(ch.ShardId)
	}
	return out
}

// parentsDone reports whether every parent of sh was read to its end, or is
// gone from the stream.
func (c *coordinator[T]) parentsDone(sh *shardInfo) bool {
	for _, p := range sh.parents {
		if ps, ok := c.shards[p]; ok && ps.phase != done {
			return false
		}
	}
	return true
}

// fromLineage reports whether a parent of sh was read or checkpointed: then sh
// is read from its start, whatever the configured start position. A parent
// trimmed away since it was checkpointed is no longer listed, but its
// checkpoint still says the app was reading it.
func (c *coordinator[T]) fromLineage(sh *shardInfo) bool {
	for _, p := range sh.parents {
		if ps, ok := c.shards[p]; ok && ps.lineage {
			return true
		}
		if _, ok := c.cps[p]; ok {
			return true
		}
	}
	return false
}

// schedule starts every shard whose parents are done, until nothing changes.
func (c *coordinator[T]) schedule(ctx context.Context) {
	if ctx.Err() != nil || c.s.leases != nil { // with leases, shards start when acquired
		return
	}
	for changed := true; changed; {
		changed = false
		ids := make([]string, 0, len(c.shards))
		for id, sh := range c.shards {
			if sh.phase == waiting {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			sh := c.shards[id]
			cp, hasCP := c.cps[id]
			if hasCP && cp.ShardEnded {
				sh.phase, sh.lineage, changed = done, true, true
				continue
			}
			if !c.parentsDone(sh) {
				continue
			}
			start, skip := c.startOf(sh, cp, hasCP)
			if skip {
				sh.phase, changed = done, true
				c.s.log.Debug("shard closed before the start position; skipped", "shard", id)
				continue
			}
			c.start(ctx, sh, start, cp)
			changed = true
		}
	}
}

// startOf decides where a shard is read from, or that it is skipped.
func (c *coordinator[T]) startOf(sh *shardInfo, cp checkpoint.Checkpoint, hasCP bool) (shard.Start, bool) {
	switch {
	case hasCP && cp.Partial:
		return shard.Start{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: cp.SequenceNumber}, false
	case hasCP:
		return shard.Start{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: cp.SequenceNumber}, false
	case c.fromLineage(sh):
		return shard.Start{Type: types.ShardIteratorTypeTrimHorizon}, false
	}
	switch c.s.cfg.start.kind {
	case startTrimHorizon:
		return shard.Start{Type: types.ShardIteratorTypeTrimHorizon}, false
	case startAtTimestamp:
		return shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: c.s.cfg.start.ts}, false
	default: // Latest: a shard closed already holds nothing new
		return shard.Start{Type: types.ShardIteratorTypeLatest}, sh.closed
	}
}

// start launches the reader of a shard.
func (c *coordinator[T]) start(ctx context.Context, sh *shardInfo, start shard.Start, cp checkpoint.Checkpoint) {
	s := c.s
	sh.phase, sh.lineage = reading, true
	sh.position = string(start.Type) + " " + start.SequenceNumber
	tr := s.track(sh.id, cp)
	tr.OnEnd(s.kickFlush)
	tel := s.tel.Shard(sh.id, telemetry.ShardSources{Commits: tr.Commits, Uncommitted: tr.Outstanding})
	s.tel.ShardStarted(ctx, sh.id, strings.TrimSpace(sh.position))
	d := &delivery[T]{s: s, shard: sh, tr: tr, tel: tel}
	if cp.Partial && start.Type == types.ShardIteratorTypeAtSequenceNumber {
		d.skip = &cp // user records up to cp were committed
	}
	c.running++
	rctx, cancel := context.WithCancel(ctx)
	run := &readerRun{tr: tr, cancel: cancel}
	sh.run = run
	s.log.Info("reading shard", "shard", sh.id, "from", sh.position)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// The read is over; the shard's commits and uncommitted records are
		// observed until its records are all committed and written (flush
		// closes tel then), or the stream stops (run closes s.tel).
		defer tel.Stop()
		defer cancel()
		end, err := s.reader.Read(rctx, shard.Spec{Stream: s.callName, ID: sh.id, Start: start}, tr.Room, d.deliver)
		c.events <- shardEvent{id: sh.id, end: end, err: err, run: run}
	}()
}
