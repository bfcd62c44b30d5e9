package kinesin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	phase    phase
	position string // where the read started, for logs
	// lineage: the shard was read in this process or has a checkpoint, so
	// its children are read from where its read started (see childStart);
	// from is the time it started at, if it started at one.
	lineage bool
	from    time.Time
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
		c.syncLeases(ctx)
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

// recordStarts makes Latest durable without leases: each shard of the
// stream's creation (none of whose parents is known) that has no checkpoint
// gets a start checkpoint at the time Latest stands for, written before any
// record is read, so that a restart resumes there instead of at a later
// Latest. Its descendants are read from there through their lineage.
func (c *coordinator[T]) recordStarts(ctx context.Context) error {
	s := c.s
	if s.cfg.start.kind != startLatest {
		return nil
	}
	starts := make(map[string]checkpoint.Checkpoint)
	for id, sh := range c.shards {
		if _, ok := c.cps[id]; !ok && !c.anyParentKnown(sh) {
			starts[id] = checkpoint.StartAt(s.latest)
		}
	}
	if len(starts) == 0 {
		return nil
	}
	if err := s.cfg.store.Save(ctx, s.cfg.app, s.name, starts); err != nil {
		return fmt.Errorf("kinesin: writing the start checkpoints of app %s, stream %s: %w", s.cfg.app, s.name, err)
	}
	if c.cps == nil {
		c.cps = make(map[string]checkpoint.Checkpoint, len(starts))
	}
	maps.Copy(c.cps, starts)
	s.log.Info("group starts at the stream's tip", "at", s.latest, "shards", len(starts))
	return nil
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
			c.learn(aws.ToString(sh.ShardId), sh.HashKeyRange, aws.ToString(sh.ParentShardId), aws.ToString(sh.AdjacentParentShardId))
		}
		if out.NextToken == nil {
			return nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// learn records a shard if it is new.
func (c *coordinator[T]) learn(id string, hashRange *types.HashKeyRange, parents ...string) {
	if id == "" {
		return
	}
	if _, ok := c.shards[id]; ok {
		return
	}
	sh := &shardInfo{id: id}
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
	if ev.err == nil && ev.end.TrimmedAfter != "" {
		s.trimmed(ev.id, s.tel.Lookup(ev.id), ev.end.TrimmedAfter, "")
	}
	if ev.run.stopped { // on a lease change
		return c.stoppedEnded(ctx, sh, ev)
	}
	switch {
	case ev.err == nil:
		sh.phase = done
		tr.End()
		for _, ch := range ev.end.ChildShards {
			c.learn(aws.ToString(ch.ShardId), ch.HashKeyRange, ch.ParentShards...)
		}
		s.log.Info("shard ended", "shard", ev.id, "children", childIDs(ev.end.ChildShards))
		s.tel.ShardEnded(ctx, ev.id, childIDs(ev.end.ChildShards))
		if len(ev.end.ChildShards) > 0 {
			c.syncLeases(ctx) // the children's leases, for any worker to take
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
			cp := c.cps[id]
			if cp.ShardEnded {
				sh.phase, sh.lineage, sh.from, changed = done, true, cp.Timestamp, true
				continue
			}
			if !c.parentsDone(sh) {
				continue
			}
			c.start(ctx, sh, c.startOf(sh, cp), cp)
			changed = true
		}
	}
}

// startOf decides where a shard is read from: its checkpoint; without one,
// where its parents' reads started (lineage); without a parent the group
// read, the configured start.
func (c *coordinator[T]) startOf(sh *shardInfo, cp checkpoint.Checkpoint) shard.Start {
	if !cp.IsZero() {
		return startFrom(cp)
	}
	if from, read := c.lineage(sh.parents); read {
		return childStart(from)
	}
	return c.s.configuredStart()
}

// lineage looks at the parents of a shard without a checkpoint: read reports
// whether the group read one of them (in this process, or it has a
// checkpoint), and from is the earliest time one of those reads started at,
// zero when none started at a time.
func (c *coordinator[T]) lineage(parents []string) (from time.Time, read bool) {
	for _, p := range parents {
		var t time.Time
		if ps, ok := c.shards[p]; ok && ps.lineage {
			read, t = true, ps.from
		} else if cp, ok := c.cps[p]; ok {
			read, t = true, cp.Timestamp
		} else {
			continue
		}
		if !t.IsZero() && (from.IsZero() || t.Before(from)) {
			from = t
		}
	}
	return from, read
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
// read from, when it has no checkpoint: WithStart's position, Latest being
// the time of the first Open (see latestStart).
func (s *Stream[T]) configuredStart() shard.Start {
	switch s.cfg.start.kind {
	case startTrimHorizon:
		return shard.Start{Type: types.ShardIteratorTypeTrimHorizon}
	case startAtTimestamp:
		return shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: s.cfg.start.ts}
	}
	return shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: s.latest}
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

// start launches the reader of a shard.
func (c *coordinator[T]) start(ctx context.Context, sh *shardInfo, start shard.Start, cp checkpoint.Checkpoint) {
	s := c.s
	sh.phase, sh.lineage = reading, true
	sh.position = describeStart(start)
	sh.from = time.Time{}
	if start.Type == types.ShardIteratorTypeAtTimestamp {
		sh.from = start.Timestamp
		if cp.IsZero() {
			// The tracker's end marker carries the time, for the children.
			cp = checkpoint.StartAt(start.Timestamp)
		}
	}
	tr := s.track(sh.id, cp)
	tr.OnEnd(s.kickFlush)
	tel := s.tel.Shard(sh.id, telemetry.ShardSources{Commits: tr.Commits, Uncommitted: tr.Outstanding})
	s.tel.ShardStarted(ctx, sh.id, sh.position)
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
