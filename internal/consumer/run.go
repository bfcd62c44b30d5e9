package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/cenkalti/backoff/v4"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/budget"
	"github.com/kinesin-go/kinesin/internal/commit"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/telemetry"
)

// The run goroutine owns the graph: it lists shards, lets the assignment
// start the reads, and handles their ends. Readers report to it over
// e.ended, the assignment over e.calls.

// run is one read of a shard.
type run struct {
	id     string
	tr     *commit.Tracker
	cancel context.CancelFunc
	// stopped: cancelled by the assignment (the shard was taken away); its end is
	// not the shard's.
	stopped bool
	// lost: the shard is no longer this process's, nor its records.
	lost bool
}

// readerEnd is a read that returned.
type readerEnd struct {
	run *run
	end shard.End
	err error
}

func (e *Engine) run(ctx context.Context) {
	defer e.tel.Close() // nothing is read any more, even if Close never comes
	e.assign.schedule(ctx, e)
	e.checkStop(ctx)
	sync := time.NewTicker(e.cfg.ShardSyncInterval)
	defer sync.Stop()
	var stopCheck <-chan time.Time // with leases, the other workers' shards change too
	if e.cfg.bounded() {
		t := time.NewTicker(stopCheckInterval)
		defer t.Stop()
		stopCheck = t.C
	}
	var (
		retry   <-chan time.Time
		failing time.Time // since the listing has failed, zero when it has not
	)
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 100*time.Millisecond, 5*time.Second, 0
	bo.Reset() // NewExponentialBackOff started it at its default interval
	relist := func() {
		if err := e.list(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			var f *Failure
			if errors.As(err, &f) || awserr.IsPermanent(err) {
				e.fail(err)
				return
			}
			if failing.IsZero() {
				failing = time.Now()
				e.log.Warn("listing shards failed; retrying", "error", err)
			}
			if time.Since(failing) >= e.cfg.StallTimeout {
				e.fail(&Failure{Kind: ReadFailed, Op: "ListShards", Since: failing, Stalled: true, Err: err})
				return
			}
			retry = time.After(bo.NextBackOff())
			return
		}
		if !failing.IsZero() {
			e.log.Info("listing shards recovered", "failed_for", time.Since(failing).Round(time.Millisecond))
		}
		bo.Reset()
		retry, failing = nil, time.Time{}
		e.assign.listed(ctx, e, true)
		e.assign.schedule(ctx, e)
	}
	for {
		select {
		case <-ctx.Done():
			for e.running > 0 { // readers end with ctx; collect them
				<-e.ended
				e.running--
			}
			return
		case ev := <-e.ended:
			e.running--
			if e.readerEnded(ctx, ev) {
				relist()
			} else {
				e.assign.schedule(ctx, e)
			}
			e.checkStop(ctx)
			if e.stopping && e.running == 0 {
				e.finish()
			}
		case <-stopCheck:
			e.checkStop(ctx)
		case f := <-e.calls:
			f(ctx)
		case <-sync.C:
			relist()
		case <-retry:
			relist()
		}
	}
}

// startRead launches the reader of node n from start; cp is the checkpoint
// the read starts from (the zero Checkpoint when there is none).
func (e *Engine) startRead(ctx context.Context, n *node, start shard.Start, tr *commit.Tracker) *run {
	n.phase, n.read = reading, true
	e.setState(n.id, Reading)
	n.position = describeStart(start)
	n.from = time.Time{}
	if start.Type == types.ShardIteratorTypeAtTimestamp {
		n.from = start.Timestamp
	}
	e.track(n.id, tr)
	acct := e.budget.Open()
	tr.SetAccount(acct)
	tel := e.tel.Shard(n.id, telemetry.ShardSources{Commits: tr.Commits, Uncommitted: tr.Outstanding})
	e.tel.ShardStarted(ctx, n.id, n.position)
	d := newDelivery(e, n, tr, tel)
	e.running++
	rctx, cancel := context.WithCancel(ctx)
	r := &run{id: n.id, tr: tr, cancel: cancel}
	n.run = r
	e.log.Info("reading shard", "shard", n.id, "from", n.position)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		// The read is over; the shard's commits and uncommitted records are
		// observed until its records are all committed and written (untrack
		// closes tel then), or the engine stops (run closes e.tel).
		defer tel.Stop()
		defer cancel()
		defer acct.Done()
		end, err := e.cfg.Reader.Read(rctx, shard.Spec{Stream: e.cfg.CallName, ID: n.id, Start: start}, e.room(tr, acct), d.deliver)
		if err == nil {
			// Read to its end: what is held of it goes out before its
			// children's records come.
			e.flushMarker(rctx, n.id)
		}
		e.ended <- readerEnd{run: r, end: end, err: err}
	}()
	return r
}

// room is the shard.Room of a read: records the shard's tracker has room
// for (MaxUncommitted) and, of those, as many as the bytes the stream's
// memory budget grants pay for.
func (e *Engine) room(tr *commit.Tracker, acct *budget.Account) shard.Room {
	return readRoom{e: e, tr: tr, acct: acct}
}

// readRoom is the shard.Room of one read.
type readRoom struct {
	e    *Engine
	tr   *commit.Tracker
	acct *budget.Account
}

func (r readRoom) Wait(ctx context.Context) (int, error) {
	n, err := r.tr.Room(ctx)
	if err != nil {
		return 0, err
	}
	grant, err := r.acct.Reserve(ctx)
	if err != nil {
		return 0, err
	}
	return min(n, r.e.budget.Records(grant)), nil
}

func (r readRoom) Unused() { r.acct.Unreserve() }

// readerEnded handles a read's end and reports whether the shard list must
// be read again at once: a shard ended and the service did not name its
// children, or named one with a parent the graph does not know.
func (e *Engine) readerEnded(ctx context.Context, ev readerEnd) (relist bool) {
	n := e.graph.nodes[ev.run.id]
	if n.run == ev.run {
		n.run = nil
	}
	e.cfg.Health.forget(n.id)
	if ev.err == nil && ev.end.TrimmedAfter != "" {
		e.trimmed(n.id, e.tel.Lookup(n.id), ev.end.TrimmedAfter, "")
	}
	if ev.run.stopped { // by the assignment
		n.phase = waiting
		if ev.err == nil && !ev.run.lost {
			// It reached the end before it stopped: once every record is
			// committed the end marker is written.
			ev.run.tr.End()
			relist = e.childrenOf(ctx, n, ev.end)
		}
		e.assign.stopped(ctx, e, n)
		return relist
	}
	switch {
	case ev.err == nil:
		n.phase = done
		e.setState(n.id, Ended)
		ev.run.tr.End()
		e.log.Info("shard ended", "shard", n.id, "children", childIDs(ev.end.ChildShards))
		e.tel.ShardEnded(ctx, n.id, childIDs(ev.end.ChildShards))
		return e.childrenOf(ctx, n, ev.end)
	case ctx.Err() != nil:
		n.phase = waiting
	case awserr.IsNotFound(ev.err):
		return e.notFound(ctx, n, ev)
	default:
		e.fail(&Failure{Kind: ReadFailed, Shard: n.id, Err: ev.err})
	}
	return false
}

// childrenOf learns the children a shard's end named, lets the assignment
// know them, and reports whether the shards
// must be listed first: the service named none (kinesalite), or named one
// with a parent the graph does not know.
func (e *Engine) childrenOf(ctx context.Context, n *node, end shard.End) (relist bool) {
	if len(end.ChildShards) == 0 {
		return true
	}
	if e.graph.learnChildren(end.ChildShards) {
		e.log.Info("a child shard names a parent not listed yet; listing the shards", "shard", n.id)
		return true
	}
	e.assign.listed(ctx, e, false)
	return false
}

// notFound handles a read that ended with ResourceNotFoundException: the
// stream is gone or was created again (fatal), the EFO consumer is gone
// (fatal), or the shard is gone (trimmed past retention): it counts as read.
func (e *Engine) notFound(ctx context.Context, n *node, ev readerEnd) (relist bool) {
	out, err := e.describe(ctx)
	switch {
	case awserr.IsNotFound(err):
		e.fail(&Failure{Kind: StreamGone, Err: fmt.Errorf("%s was deleted: %w", e.cfg.Name, ev.err)})
		return false
	case err == nil && out.StreamDescriptionSummary != nil && !e.cfg.Created.IsZero() &&
		!aws.ToTime(out.StreamDescriptionSummary.StreamCreationTimestamp).Equal(e.cfg.Created):
		e.fail(&Failure{Kind: StreamGone, Err: fmt.Errorf("%s was deleted and created again: %w", e.cfg.Name, ev.err)})
		return false
	case errors.Is(ev.err, efo.ErrConsumerGone):
		// The stream is there but the EFO consumer was deregistered: the
		// shard is not gone, and taking it for ended would write its end
		// marker and skip the rest of it on restart.
		e.fail(&Failure{Kind: ReadFailed, Shard: n.id, Err: ev.err})
		return false
	case err != nil:
		// Whether the stream still exists is unknown: taking the shard for
		// gone could skip the rest of it.
		if ctx.Err() == nil {
			e.fail(&Failure{Kind: ReadFailed, Shard: n.id, Err: errors.Join(ev.err, fmt.Errorf("describing the stream: %w", err))})
		}
		return false
	}
	e.log.Warn("shard no longer exists (past retention?); its children will be read", "shard", n.id, "error", ev.err)
	n.phase = done
	ev.run.tr.End()
	return true
}

// describe describes the stream, retrying errors that may pass (throttling,
// server and network errors) with backoff for up to half a minute.
func (e *Engine) describe(ctx context.Context) (*kinesis.DescribeStreamSummaryOutput, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 100*time.Millisecond, 5*time.Second, 30*time.Second
	bo.Reset()
	in := &kinesis.DescribeStreamSummaryInput{}
	if isARN(e.cfg.CallName) {
		in.StreamARN = aws.String(e.cfg.CallName)
	} else {
		in.StreamName = aws.String(e.cfg.CallName)
	}
	for {
		out, err := e.cfg.API.DescribeStreamSummary(ctx, in)
		if err == nil || awserr.IsNotFound(err) || awserr.IsPermanent(err) || ctx.Err() != nil {
			return out, err
		}
		d := bo.NextBackOff()
		if d == backoff.Stop {
			return out, err
		}
		e.log.Warn("describing the stream failed; retrying", "error", err, "wait", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return out, ctx.Err()
		}
	}
}

func childIDs(cs []types.ChildShard) []string {
	out := make([]string, len(cs))
	for i, ch := range cs {
		out[i] = aws.ToString(ch.ShardId)
	}
	return out
}
