// Package pollread reads Kinesis shards with GetShardIterator and
// GetRecords for kinesin's engine (internal/consumer), tuned by
// polling.Options.
//
// A Reader reads one shard from a starting position to its end, handing
// records over in batches. After a GetRecords call that returned records
// (or found none but is behind the tip), it calls again after MinInterval,
// or once the bytes read are paid for at ReadRate; after one that found
// nothing at the tip, after IdleInterval, doubling with each such call in
// a row up to MaxIdleInterval, and back to MinInterval as soon as a call
// returns records. One exception: the first call of a read is sized by the
// room before the size of the records is known (the memory budget counts
// an unseen record as 1 MiB); when it comes back full and the room then
// pays for more, the second call follows at once (the two within the
// service's 5 calls a second, and the first call's bytes, up to a
// MinInterval's worth at ReadRate, counted as the second's), so a read does
// not start with a round of MinInterval for a handful of records.
//
// # Errors
//
// Throttling (ProvisionedThroughputExceededException and the like), server
// errors, network errors and errors it does not know are retried with
// exponential backoff and jitter, each retry reported to the hooks (OnRetry)
// and logged at DEBUG: the caller decides how long is too long. An expired
// shard iterator is replaced by one just after the last record handed over,
// so nothing is lost or repeated. A starting sequence number older than the
// stream's retention (InvalidArgumentException) falls back to TRIM_HORIZON;
// the batch (or the End) read after it says so in TrimmedAfter. Errors that
// retrying cannot fix end the read at once: missing permissions or
// credentials, unusable KMS keys, malformed or unknown operations
// (UnknownOperationException), the same unreadable response twice, and
// ResourceNotFoundException, which the caller tells apart (the shard was
// trimmed away, or the stream was deleted).
package pollread

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/cenkalti/backoff/v4"

	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/retry"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/svctime"
	"github.com/kinesin-go/kinesin/polling"
)

// API is the part of *kinesis.Client a Reader calls.
type API interface {
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// Operation names given to the hooks (shard.Hooks).
const (
	OpGetRecords       = shard.OpGetRecords
	OpGetShardIterator = shard.OpGetShardIterator
)

// Reader reads shards; it implements shard.Reader. It is safe for concurrent
// use; each Read reads one shard.
type Reader struct {
	api   API
	opts  polling.Options
	log   *slog.Logger
	hooks shard.Hooks
	// decoder is the option function choosing the decoder of GetRecords
	// responses (shard.Env.Decoder).
	decoder func(*kinesis.Options)
}

// New returns a Reader calling api with opts, logging and reporting to env.
// It fails, with an error wrapping polling.ErrInvalidOption, for options
// out of range (see polling.Options.Validate).
func New(api API, opts polling.Options, env shard.Env) (*Reader, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Reader{api: api, opts: opts.WithDefaults(), log: env.Logger(), hooks: env.Hooks, decoder: env.Decoder()}, nil
}

// latestSkew is how much earlier than a LATEST iterator was asked for, by
// this host's clock, a read resumes when that iterator expired before any
// record was handed over and the client did not report the service's clock:
// a margin for the difference between the two.
const latestSkew = 5 * time.Second

// noRetry makes the SDK give one attempt: the reader paces its own retries
// to the shard's limits.
func noRetry(o *kinesis.Options) { o.RetryMaxAttempts = 1 }

var _ shard.Reader = (*Reader)(nil)

// Read reads sh from sh.Start to the end of the shard, until ctx ends or an
// error that retrying cannot fix. Before each GetRecords call it calls
// room.Wait, which may block, for how many records it may fetch, and after a
// call that brought none (or failed) room.Unused; it hands each non-empty
// batch to deliver, which may block. When the shard is closed and read to its
// end, Read returns its End and a nil error. Errors from room and deliver,
// and ctx's error, are returned as they are.
func (r *Reader) Read(ctx context.Context, sh shard.Spec, room shard.Room, deliver shard.Deliver) (shard.End, error) {
	bo := r.backoff()
	var deser awserr.Deserialization // the same unreadable response twice is permanent
	start := sh.Start
	var trimmed string // the start found past retention, until a batch says so
	iter, err := r.iterator(ctx, sh, &start, &trimmed, bo)
	if err != nil {
		return shard.End{}, err
	}
	var lastCall time.Time
	var planned time.Time    // when the last call was to go
	var credit time.Duration // taken off the next wait (see gridCredit)
	wait := time.Duration(0)
	idle := 0              // calls in a row that found nothing at the tip
	first := true          // no GetRecords call has succeeded yet
	asked := 0             // the Limit of the last call
	var followAt time.Time // when a follow-up call may go; zero: none
	for {
		var n int
		if !followAt.IsZero() {
			// The first call was sized before the room knew the size of
			// the records and came back full: if the room now pays for
			// more, the second call goes at once (once the bytes are paid
			// for), the two within the service's 5 a second.
			if n, err = room.Wait(ctx); err != nil {
				return shard.End{}, err
			}
			at := lastCall.Add(wait - credit)
			if min(n, r.opts.MaxRecords) > asked {
				at = followAt
			}
			followAt = time.Time{}
			planned = at
			if err := retry.SleepUntil(ctx, at); err != nil {
				return shard.End{}, err
			}
		} else {
			// The pace first, then the room: room reserves memory for the
			// call, which should not sit idle through the wait.
			at := lastCall.Add(wait - credit)
			planned = time.Time{}
			if !lastCall.IsZero() {
				planned = at
			}
			if err := retry.SleepUntil(ctx, at); err != nil {
				return shard.End{}, err
			}
			if n, err = room.Wait(ctx); err != nil {
				return shard.End{}, err
			}
		}
		asked = min(n, r.opts.MaxRecords)
		lastCall = time.Now()
		credit = 0
		out, err := r.api.GetRecords(ctx, &kinesis.GetRecordsInput{
			ShardIterator: aws.String(iter),
			Limit:         aws.Int32(int32(asked)),
		}, noRetry, r.decoder)
		if r.hooks.OnCall != nil {
			r.hooks.OnCall(ctx, sh.ID, OpGetRecords, lastCall, time.Since(lastCall), err)
		}
		if err != nil || len(out.Records) == 0 {
			// No records to hold: the room goes back for the wait.
			room.Unused()
		}
		if err == nil && r.hooks.OnFetch != nil {
			r.hooks.OnFetch(sh.ID, len(out.Records), aws.ToInt64(out.MillisBehindLatest))
		}
		if err != nil {
			if ctx.Err() != nil {
				return shard.End{}, ctx.Err()
			}
			switch {
			case awserr.IsExpiredIterator(err):
				// A fresh iterator from just after the last record handed
				// over: nothing lost, nothing repeated.
				r.log.DebugContext(ctx, "shard iterator expired", "shard", sh.ID)
				if iter, err = r.iterator(ctx, sh, &start, &trimmed, bo); err != nil {
					return shard.End{}, err
				}
				wait = r.opts.MinInterval
				continue
			case awserr.IsPermanent(err), awserr.IsNotFound(err), deser.Repeated(err):
				return shard.End{}, fmt.Errorf("polling: GetRecords on %s: %w", sh.ID, err)
			}
			d := r.retryWait(bo)
			if r.hooks.OnRetry != nil {
				r.hooks.OnRetry(sh.ID, OpGetRecords, d, err, false)
			}
			r.log.DebugContext(ctx, "GetRecords failed, retrying", "shard", sh.ID, "wait", d, "error", err)
			wait = d
			continue
		}
		bo.Reset()
		deser.Reset()
		behind := aws.ToInt64(out.MillisBehindLatest)
		if len(out.Records) > 0 {
			if err := deliver(ctx, shard.Batch{Records: out.Records, MillisBehindLatest: behind, TrimmedAfter: trimmed}); err != nil {
				return shard.End{}, err
			}
			trimmed = ""
			last := out.Records[len(out.Records)-1]
			start = shard.Start{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.ToString(last.SequenceNumber)}
		}
		if out.NextShardIterator == nil {
			return shard.End{ChildShards: out.ChildShards, TrimmedAfter: trimmed}, nil
		}
		iter = *out.NextShardIterator
		switch {
		case len(out.Records) > 0:
			// Records flow: call again as soon as the shard's limits allow,
			// calls and bytes (a call that read more than the budget of
			// one interval would only be throttled).
			idle = 0
			paid := readTime(out.Records, r.opts.ReadRate)
			wait = max(r.opts.MinInterval, paid)
			credit = gridCredit(lastCall, planned, wait)
			if first && len(out.Records) == asked && asked < r.opts.MaxRecords {
				// The follow-up stands in for the call the first one
				// would have been, had the records' size been known: the
				// first call's bytes count against it up to a
				// MinInterval's worth (the 2 MiB/s a second allows 512 KiB
				// each 250ms call), and only the rest is paid for first.
				followAt = lastCall.Add(max(0, paid-r.opts.MinInterval))
			}
		case behind > 0:
			// Nothing, but more behind it (a stretch of the shard without
			// records): go on reading.
			idle = 0
			wait = r.opts.MinInterval
			credit = gridCredit(lastCall, planned, wait)
		default:
			// Caught up: IdleInterval, doubling while the shard stays
			// empty, up to MaxIdleInterval.
			wait = idleWait(r.opts, idle)
			idle++
		}
		first = false
	}
}

// serviceGap is the least time between two calls on a shard the service's
// 5 GetRecords calls a second allow.
const serviceGap = 200 * time.Millisecond

// gridCredit is how much earlier than wait after the last call, made at
// last, the next one goes, given that the last call was planned for planned
// (zero when it was not paced) and started late (a timer that fired late, a
// scheduler that ran the reader late, the room): the lateness, so that the
// calls keep to a grid of wait and a MinInterval of 250ms makes 4 calls a
// second, not a few less; but at most a tenth of wait, and never bringing
// two calls closer than the service's 200ms. A call never goes before the
// grid that the first paced call started, so the calls a second stay at
// most one per wait.
func gridCredit(last, planned time.Time, wait time.Duration) time.Duration {
	if planned.IsZero() {
		return 0
	}
	return max(0, min(last.Sub(planned), wait/10, wait-serviceGap))
}

// idleWait is the wait after the (n+1)-th call in a row that found nothing
// at the tip of the shard: IdleInterval doubled n times, at most
// MaxIdleInterval.
func idleWait(o polling.Options, n int) time.Duration {
	d := o.IdleInterval
	for ; n > 0 && d < o.MaxIdleInterval; n-- {
		d *= 2
	}
	return min(d, o.MaxIdleInterval)
}

// readTime is how long the shard's read budget takes to pay for records.
func readTime(records []types.Record, rate int) time.Duration {
	n := 0
	for i := range records {
		n += len(records[i].Data) + len(aws.ToString(records[i].PartitionKey))
	}
	return time.Duration(float64(n) / float64(rate) * float64(time.Second))
}

// iterator gets a shard iterator for start, retrying what can be retried. A
// starting sequence number past the stream's retention falls back to
// TRIM_HORIZON: start is updated to say so, and trimmed set to that sequence
// number.
func (r *Reader) iterator(ctx context.Context, sh shard.Spec, start *shard.Start, trimmed *string, bo backoff.BackOff) (string, error) {
	var deser awserr.Deserialization
	for {
		in := &kinesis.GetShardIteratorInput{ShardId: aws.String(sh.ID), ShardIteratorType: start.Type}
		if isARN(sh.Stream) {
			in.StreamARN = aws.String(sh.Stream)
		} else {
			in.StreamName = aws.String(sh.Stream)
		}
		switch start.Type {
		case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
			in.StartingSequenceNumber = aws.String(start.SequenceNumber)
		case types.ShardIteratorTypeAtTimestamp:
			in.Timestamp = aws.Time(start.Timestamp)
		}
		asked := time.Now()
		out, err := r.api.GetShardIterator(ctx, in, noRetry)
		if r.hooks.OnCall != nil {
			r.hooks.OnCall(ctx, sh.ID, OpGetShardIterator, asked, time.Since(asked), err)
		}
		if err == nil {
			bo.Reset()
			if start.Type == types.ShardIteratorTypeLatest {
				// Should this iterator expire before a record is handed
				// over, LATEST again would skip what arrived meanwhile:
				// resume from when it was asked for instead, on the
				// service's clock.
				*start = shard.Start{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: svctime.Before(out.ResultMetadata, asked, latestSkew)}
			}
			return aws.ToString(out.ShardIterator), nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		switch {
		case awserr.IsInvalidArgument(err) && start.SequenceNumber != "":
			r.log.DebugContext(ctx, "starting sequence number is no longer in the stream (older than its retention?): reading from TRIM_HORIZON",
				"shard", sh.ID, "sequence_number", start.SequenceNumber, "error", err)
			*trimmed = start.SequenceNumber
			*start = shard.Start{Type: types.ShardIteratorTypeTrimHorizon}
			continue
		case awserr.IsPermanent(err), awserr.IsNotFound(err), awserr.IsInvalidArgument(err), deser.Repeated(err):
			return "", fmt.Errorf("polling: GetShardIterator on %s: %w", sh.ID, err)
		}
		d := r.retryWait(bo)
		if r.hooks.OnRetry != nil {
			r.hooks.OnRetry(sh.ID, OpGetShardIterator, d, err, false)
		}
		r.log.DebugContext(ctx, "GetShardIterator failed, retrying", "shard", sh.ID, "wait", d, "error", err)
		if err := retry.SleepUntil(ctx, time.Now().Add(d)); err != nil {
			return "", err
		}
	}
}

// retryWait is the next wait of bo, within MaxBackoff despite the jitter, and
// never below MinInterval: a retry is a call like any other, subject to the
// shard's limit of 5 calls a second (GetRecords and GetShardIterator alike).
func (r *Reader) retryWait(bo backoff.BackOff) time.Duration {
	return max(min(bo.NextBackOff(), r.opts.MaxBackoff), r.opts.MinInterval)
}

// backoff returns the retry schedule of the reader: it never gives up, the
// caller decides when to stop.
func (r *Reader) backoff() backoff.BackOff {
	return retry.Backoff(r.opts.InitialBackoff, r.opts.MaxBackoff)
}

func isARN(s string) bool { return len(s) > 4 && s[:4] == "arn:" }
