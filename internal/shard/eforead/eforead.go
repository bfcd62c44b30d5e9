// Package eforead reads Kinesis shards through the SubscribeToShard
// subscriptions of an Enhanced Fan-Out consumer for kinesin's engine
// (internal/consumer), tuned by efo.Options; package efo registers the
// consumer and documents how a read behaves.
package eforead

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/cenkalti/backoff/v4"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/retry"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/svctime"
)

// Reader reads shards through the subscriptions of one EFO consumer. It is
// safe for concurrent use; each Read reads one shard.
type Reader struct {
	api         efo.API
	consumerARN string
	opts        efo.Options
	log         *slog.Logger
	hooks       shard.Hooks
	// decoder is the option function choosing the decoder of
	// SubscribeToShard events (shard.Env.Decoder).
	decoder func(*kinesis.Options)

	mu sync.Mutex
	// next holds, per shard, the earliest time of its next SubscribeToShard
	// call. Entries in the past are pruned once the map doubles.
	next    map[string]time.Time
	pruneAt int
}

var _ shard.Reader = (*Reader)(nil)

// New returns a Reader subscribing with the consumer consumerARN (see
// efo.Register) through api, tuned by opts, logging and reporting to env.
// It fails, with an error wrapping efo.ErrInvalidOption, for options out of range
// (see Options.Validate) or an empty consumerARN.
func New(api efo.API, consumerARN string, opts efo.Options, env shard.Env) (*Reader, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if consumerARN == "" {
		return nil, fmt.Errorf("%w: the consumer ARN is empty", efo.ErrInvalidOption)
	}
	return &Reader{
		api:         api,
		consumerARN: consumerARN,
		opts:        opts.WithDefaults(),
		log:         env.Logger(),
		hooks:       env.Hooks,
		decoder:     env.Decoder(),
		next:        make(map[string]time.Time),
		pruneAt:     64,
	}, nil
}

// ConsumerARN returns the ARN of the consumer the Reader subscribes with.
func (r *Reader) ConsumerARN() string { return r.consumerARN }

// Read reads spec's shard from spec.Start to its end, until ctx ends or an
// error that retrying cannot fix (see the package documentation, Errors).
// spec.Stream is not used: the consumer names the stream.
//
// Before each subscription Read calls room.Wait, which may block, so that no
// subscription starts while there is no room; after an event with records
// (but the first of a subscription, which that grant is for), room.Wait
// again for how many records it may hand over; it hands them to deliver,
// which may block, in batches of at most that many records, in order, never
// splitting or reordering an event other than into consecutive parts. An
// event without records gives the room back (room.Unused): a subscription
// waiting for events holds none. While room or deliver blocks, Read does not
// read the event stream. When the shard is closed and read to its end, Read
// returns its End (the child shards) and a nil error. Errors from room and
// deliver, and ctx's error, are returned as they are.
func (r *Reader) Read(ctx context.Context, spec shard.Spec, room shard.Room, deliver shard.Deliver) (shard.End, error) {
	pos, err := startingPosition(spec.Start)
	if err != nil {
		return shard.End{}, fmt.Errorf("efo: shard %s: %w", spec.ID, err)
	}
	rd := &reading{r: r, id: spec.ID, room: room, deliver: deliver, pos: pos, bo: retry.Backoff(r.opts.InitialBackoff, r.opts.MaxBackoff)}
	return rd.run(ctx)
}

// startingPosition turns a shard reader's start into a SubscribeToShard
// starting position.
func startingPosition(s shard.Start) (types.StartingPosition, error) {
	p := types.StartingPosition{Type: s.Type}
	switch s.Type {
	case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
		if s.SequenceNumber == "" {
			return p, fmt.Errorf("start %s without a sequence number", s.Type)
		}
		p.SequenceNumber = aws.String(s.SequenceNumber)
	case types.ShardIteratorTypeAtTimestamp:
		p.Timestamp = aws.Time(s.Timestamp)
	case types.ShardIteratorTypeTrimHorizon, types.ShardIteratorTypeLatest:
	default:
		return p, fmt.Errorf("unknown start type %q", s.Type)
	}
	return p, nil
}

// pace waits until shardID may be subscribed to again, at most once per
// SubscribeInterval, and books that slot.
func (r *Reader) pace(ctx context.Context, shardID string) error {
	now := time.Now()
	r.mu.Lock()
	at := now
	if next, ok := r.next[shardID]; ok && next.After(now) {
		at = next
	}
	r.next[shardID] = at.Add(r.opts.SubscribeInterval)
	if len(r.next) >= r.pruneAt {
		for id, next := range r.next {
			if !next.After(now) {
				delete(r.next, id)
			}
		}
		r.pruneAt = max(64, 2*len(r.next))
	}
	r.mu.Unlock()
	return retry.SleepUntil(ctx, at)
}

// ownCodec gives one SubscribeToShard call a protocol instance of its own:
// the SDK's event stream codec keeps decoding state per protocol instance,
// shared by every open stream of a client, and concurrent streams race on
// it (aws/smithy-go#714). A protocol the user chose is kept.
func ownCodec(o *kinesis.Options) {
	if _, ok := o.Protocol.(*awsjson.Protocol); ok || o.Protocol == nil {
		o.Protocol = awsjson.New11(schemas.Kinesis_20131202)
	}
}

// latestSkew is how much earlier than a LATEST subscription was made, by
// this host's clock, the next subscription starts when that one broke before
// its first event and the client did not report the service's clock: a
// margin for the difference between the two.
const latestSkew = 5 * time.Second

// closeWait bounds how long Read waits for the SDK's goroutines of a closed
// event stream to end.
const closeWait = 5 * time.Second

// reading is one Read call.
type reading struct {
	r       *Reader
	id      string
	room    shard.Room
	deliver shard.Deliver
	// pos is where the next subscription starts: the start given, then
	// after the ContinuationSequenceNumber of the last event handed over.
	pos types.StartingPosition
	// lastSeq is the sequence number of the last record handed over.
	lastSeq string
	// trimmed is the start found past the stream's retention, until a
	// batch (or the End) says so.
	trimmed string
	deser   awserr.Deserialization // the same unreadable response twice is permanent
	bo      backoff.BackOff
}

// outcome is how one subscription went.
type outcome struct {
	// subscribed is true when SubscribeToShard succeeded.
	subscribed bool
	// events counts the events taken.
	events int
	// end is set when the shard ended.
	end *shard.End
	// stop is the error of room, deliver or ctx: Read returns it as it is.
	stop error
	// err is why the call failed or the subscription broke; nil when it
	// ended cleanly (its 5 minutes were over).
	err error
}

// run subscribes again and again, paced and with backoff after failures,
// until the shard ends or an error ends the read.
func (rd *reading) run(ctx context.Context) (shard.End, error) {
	r := rd.r
	var (
		wait   time.Duration // backoff before the next call, when why is set
		why    error         // the failure the wait is for
		broken bool          // why broke an open subscription
	)
	for {
		if why != nil {
			if r.hooks.OnRetry != nil {
				r.hooks.OnRetry(rd.id, shard.OpSubscribeToShard, wait, why, broken)
			}
			r.log.DebugContext(ctx, "subscribing again after a failure", "shard", rd.id, "wait", wait, "error", why)
			if err := retry.SleepUntil(ctx, time.Now().Add(wait)); err != nil {
				return shard.End{}, err
			}
			why = nil
		}
		if err := r.pace(ctx, rd.id); err != nil {
			return shard.End{}, err
		}
		// Room first: a subscription pushes its first event at once, and
		// the SDK holds it in memory until it is taken.
		n, err := rd.room.Wait(ctx)
		if err != nil {
			return shard.End{}, err
		}
		o := rd.subscription(ctx, n)
		switch {
		case o.stop != nil:
			return shard.End{}, o.stop
		case o.end != nil:
			return *o.end, nil
		case ctx.Err() != nil:
			return shard.End{}, ctx.Err()
		}
		if o.events > 0 {
			rd.bo.Reset()
			rd.deser.Reset()
		}
		err = o.err
		switch {
		case err != nil && rd.deser.Repeated(err):
			// The same unreadable response twice (an endpoint whose event
			// stream the SDK cannot read): retrying will not help.
			return shard.End{}, fmt.Errorf("efo: SubscribeToShard on %s: %w", rd.id, err)
		case !o.subscribed && awserr.IsPermanent(err):
			return shard.End{}, fmt.Errorf("efo: SubscribeToShard on %s: %w", rd.id, err)
		case !o.subscribed && awserr.IsNotFound(err):
			return shard.End{}, rd.notFound(ctx, err)
		case !o.subscribed && awserr.IsInvalidArgument(err) && rd.pos.SequenceNumber != nil:
			r.log.DebugContext(ctx, "starting sequence number is no longer in the stream (older than its retention?): reading from TRIM_HORIZON",
				"shard", rd.id, "sequence_number", aws.ToString(rd.pos.SequenceNumber), "error", err)
			rd.trimmed = aws.ToString(rd.pos.SequenceNumber)
			rd.pos = types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}
			continue
		case !o.subscribed && awserr.IsInvalidArgument(err):
			return shard.End{}, fmt.Errorf("efo: SubscribeToShard on %s: %w", rd.id, err)
		case !o.subscribed:
			// ResourceInUse (the last subscription is less than 5 s old),
			// throttling, server and network errors.
		case err == nil && o.events > 0:
			// The subscription's 5 minutes are over: renew it at once, from
			// its last continuation.
			r.log.DebugContext(ctx, "subscription ended, renewing", "shard", rd.id, "events", o.events,
				"from", aws.ToString(rd.pos.SequenceNumber))
			continue
		case err == nil:
			err = errors.New("the subscription ended without an event")
		case awserr.IsPermanent(err):
			return shard.End{}, fmt.Errorf("efo: subscription to %s: %w", rd.id, err)
		default:
			// The stream broke: ResourceInUse (taken over), InternalFailure,
			// a dropped connection, or ResourceNotFound (the shard, the
			// stream or the consumer is gone: subscribing again tells).
		}
		wait, why, broken = rd.bo.NextBackOff(), err, o.subscribed
	}
}

// subscription subscribes from rd.pos, hands over the records of the events
// until the subscription ends, and closes it. room is what room granted for
// the first event.
func (rd *reading) subscription(ctx context.Context, room int) (o outcome) {
	r := rd.r
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pos := rd.pos
	called := time.Now()
	out, err := r.api.SubscribeToShard(sctx, &kinesis.SubscribeToShardInput{
		ConsumerARN:      aws.String(r.consumerARN),
		ShardId:          aws.String(rd.id),
		StartingPosition: &pos,
	}, noRetry, ownCodec, r.decoder)
	var es *kinesis.SubscribeToShardEventStream
	if err == nil {
		if out != nil {
			es = out.GetStream()
		}
		if es == nil || es.Reader == nil {
			err = errors.New("SubscribeToShard returned no event stream")
		}
	}
	if r.hooks.OnCall != nil {
		r.hooks.OnCall(ctx, rd.id, shard.OpSubscribeToShard, called, time.Since(called), err)
	}
	if err != nil {
		rd.room.Unused()
		o.err = err
		return o
	}
	o.subscribed = true
	r.log.DebugContext(ctx, "subscribed", "shard", rd.id, "type", pos.Type, "sequence_number", aws.ToString(pos.SequenceNumber))
	if pos.Type == types.ShardIteratorTypeLatest {
		// Should this subscription break before its first event, LATEST
		// again would skip what arrived meanwhile: resume from when it was
		// made instead, on the service's clock.
		rd.pos = types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(svctime.Before(out.ResultMetadata, called, latestSkew))}
	}

	closed := rd.take(ctx, es, &o, room)
	if closed {
		// The stream ended by itself: its error is final.
		o.err = es.Err()
	}
	// Cancelling the call first ends a blocked read of the response body on
	// every transport; then Close stops the SDK's goroutines.
	cancel()
	es.Close()
	if err := es.Err(); !closed && err != nil && !awserr.IsContext(err) {
		r.log.DebugContext(ctx, "event stream error after the read stopped", "shard", rd.id, "error", err)
	}
	if !waitClosed(es) {
		r.log.WarnContext(ctx, "the SDK's event stream reader did not stop", "shard", rd.id, "waited", closeWait)
	}
	return o
}

// waitClosed waits (up to closeWait) until the SDK's goroutines reading a
// closed event stream have ended, and reports whether they did.
func waitClosed(es *kinesis.SubscribeToShardEventStream) bool {
	c, ok := es.Reader.(interface{ Closed() <-chan struct{} })
	if !ok {
		return true
	}
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-c.Closed():
		return true
	case <-t.C:
		return false
	}
}

// take reads the events of es and hands their records over until the stream
// ends (it returns true), the shard ends (o.end), or room, deliver or ctx
// fail (o.stop). first is the room granted for the first event, asked
// before subscribing; for each of the others room is asked once the event
// came, when it has records, so that a subscription waiting for events
// holds no room (an event taken counts once room is granted: the memory
// budget's worst case has one event per shard beyond it).
func (rd *reading) take(ctx context.Context, es *kinesis.SubscribeToShardEventStream, o *outcome, first int) (closed bool) {
	r := rd.r
	events := es.Events()
	granted := true // first is held
	for {
		var ev types.SubscribeToShardEventStream
		var ok bool
		select {
		case ev, ok = <-events:
		case <-ctx.Done():
			o.stop = ctx.Err()
			return false
		}
		if !ok {
			rd.room.Unused()
			return true
		}
		e, isEvent := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !isEvent {
			r.log.DebugContext(ctx, "unknown event skipped", "shard", rd.id, "type", fmt.Sprintf("%T", ev))
			continue
		}
		o.events++
		behind := aws.ToInt64(e.Value.MillisBehindLatest)
		if r.hooks.OnFetch != nil {
			r.hooks.OnFetch(rd.id, len(e.Value.Records), behind)
		}
		recs := rd.fresh(ctx, e.Value.Records)
		n := first
		switch {
		case len(recs) == 0:
			rd.room.Unused()
		case !granted:
			var err error
			if n, err = rd.room.Wait(ctx); err != nil {
				o.stop = err
				return false
			}
		}
		granted = false
		if err := rd.hand(ctx, recs, behind, n); err != nil {
			o.stop = err
			return false
		}
		cont := e.Value.ContinuationSequenceNumber
		if cont == nil {
			if len(e.Value.ChildShards) == 0 {
				r.log.WarnContext(ctx, "last event of a shard without child shards", "shard", rd.id)
			}
			o.end = &shard.End{ChildShards: e.Value.ChildShards, TrimmedAfter: rd.trimmed}
			return false
		}
		rd.pos = types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(*cont)}
	}
}

// hand hands records over in order, at most n at first, then as much as room
// allows each time, until all of them are delivered.
func (rd *reading) hand(ctx context.Context, recs []types.Record, behind int64, n int) error {
	for len(recs) > 0 {
		k := min(max(n, 1), len(recs))
		if err := rd.deliver(ctx, shard.Batch{Records: recs[:k:k], MillisBehindLatest: behind, TrimmedAfter: rd.trimmed}); err != nil {
			return err
		}
		rd.trimmed = ""
		rd.lastSeq = aws.ToString(recs[k-1].SequenceNumber)
		if recs = recs[k:]; len(recs) == 0 {
			return nil
		}
		var err error
		if n, err = rd.room.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// fresh drops the leading records at or before the last one handed over,
// which a service could send again after a resubscription; none are
// expected.
func (rd *reading) fresh(ctx context.Context, recs []types.Record) []types.Record {
	if rd.lastSeq == "" {
		return recs
	}
	i := 0
	for i < len(recs) {
		seq := aws.ToString(recs[i].SequenceNumber)
		if seq == "" || seqAfter(seq, rd.lastSeq) {
			break
		}
		i++
	}
	if i > 0 {
		rd.r.log.WarnContext(ctx, "records received again were dropped", "shard", rd.id, "records", i, "last", rd.lastSeq)
	}
	return recs[i:]
}

// seqAfter reports whether the decimal sequence number a is above b.
func seqAfter(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

// notFound returns the error of a SubscribeToShard call that failed with
// ResourceNotFoundException, wrapping efo.ErrConsumerGone as well when the
// consumer is gone.
func (rd *reading) notFound(ctx context.Context, err error) error {
	out, derr := rd.r.api.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(rd.r.consumerARN)}, noRetry)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case awserr.IsNotFound(derr),
		derr == nil && out.ConsumerDescription != nil && out.ConsumerDescription.ConsumerStatus == types.ConsumerStatusDeleting:
		return fmt.Errorf("efo: SubscribeToShard on %s: %w: %w", rd.id, efo.ErrConsumerGone, err)
	}
	return fmt.Errorf("efo: SubscribeToShard on %s: %w", rd.id, err)
}

// noRetry makes the SDK give one attempt: the reader paces its own retries
// to the shard's limits.
func noRetry(o *kinesis.Options) { o.RetryMaxAttempts = 1 }
