package telemetry

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kinesin-go/kinesin/internal/awserr"
)

// ShardSources are what a Shard's observable instruments read at each
// collection, on the collecting goroutine: they must be safe for concurrent
// use and must not block. Either may be nil, and the instrument then reports
// nothing for the shard.
type ShardSources struct {
	// Commits returns how many times Record.Commit was called on the
	// shard's records, a count that never decreases (kinesin.commits). The
	// Load method of an atomic.Uint64 fits.
	Commits func() uint64
	// Uncommitted returns how many records of the shard were delivered and
	// not committed (kinesin.records.uncommitted). The Outstanding method of
	// the shard's commit.Tracker fits.
	Uncommitted func() int
}

// Shard is the telemetry of the read of one shard: the measurement options
// of its attributes are computed once, so that its per-batch methods
// allocate nothing with a no-op provider. A Shard is read from
// Telemetry.Shard to Stop (or Close): the Shards being read are those counted
// by kinesin.shards.owned, and only their lag is reported. It is observed
// until Close: its commits and uncommitted records are reported after its
// read is over, as long as its records delivered may still be committed. Its
// methods are safe for concurrent use; a nil *Shard records nothing.
type Shard struct {
	t     *Telemetry
	id    string
	attrs []attribute.KeyValue // the stream's attributes and the shard id

	add         []metric.AddOption // the shard's attribute set
	consumedAdd []metric.AddOption // and messaging.operation.name
	observe     []metric.ObserveOption

	lag     atomic.Int64 // lagUnset until the first Lag
	stopped atomic.Bool  // set by Stop: the read is over

	reg       metric.Registration // set before the Shard is shared
	closeOnce sync.Once

	mu  sync.Mutex
	ops []*opAttrs // by operation and error type, few: both are of low cardinality
}

// lagUnset marks a shard whose lag is not known yet: nothing is observed.
const lagUnset = math.MinInt64

// maxOpAttrs bounds the cache of attribute sets of a Shard's operations.
const maxOpAttrs = 64

// opAttrs are the measurement options of one operation of a shard, failed
// with one error type ("" for success).
type opAttrs struct {
	op, errType string
	add         []metric.AddOption
	record      []metric.RecordOption
	span        []attribute.KeyValue
}

// Shard opens the telemetry of the read of shard id, whose observable
// instruments read src. Open one when a reader starts on the shard, Stop it
// when the reader returns, and Close it once the shard's records can no
// longer be committed (they all were and the checkpoint was written, or the
// stream stopped). Opening a shard again closes the handle opened before, so
// that each shard is observed once.
func (t *Telemetry) Shard(id string, src ShardSources) *Shard {
	if t == nil {
		return nil
	}
	attrs := append(t.baseAttrs[:len(t.baseAttrs):len(t.baseAttrs)], semconv.MessagingDestinationPartitionID(id))
	set := attribute.NewSet(attrs...)
	sh := &Shard{
		t:           t,
		id:          id,
		attrs:       attrs,
		add:         []metric.AddOption{metric.WithAttributeSet(set)},
		consumedAdd: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(append(attrs[:len(attrs):len(attrs)], semconv.MessagingOperationName(t.readOp))...))},
		observe:     []metric.ObserveOption{metric.WithAttributeSet(set)},
	}
	sh.lag.Store(lagUnset)

	reg, err := t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if ms := sh.lag.Load(); ms != lagUnset && !sh.stopped.Load() {
			o.ObserveInt64(t.lag, ms, sh.observe...)
		}
		if src.Commits != nil {
			o.ObserveInt64(t.commits, int64(src.Commits()), sh.observe...)
		}
		if src.Uncommitted != nil {
			o.ObserveInt64(t.uncommitted, int64(src.Uncommitted()), sh.observe...)
		}
		return nil
	}, t.lag, t.commits, t.uncommitted)
	if err != nil {
		otel.Handle(err)
	}
	sh.reg = reg

	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		sh.Close()
		return sh
	}
	old := t.shards[id]
	t.shards[id] = sh
	t.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return sh
}

// Lookup returns the open Shard of shard id, or nil (a valid Shard that
// records nothing) when there is none: for hooks that only get a shard id.
// It allocates nothing.
func (t *Telemetry) Lookup(id string) *Shard {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shards[id]
}

// ID returns the shard's id.
func (sh *Shard) ID() string {
	if sh == nil {
		return ""
	}
	return sh.id
}

// Stop records that the read of the shard is over, whatever the reason:
// it no longer counts in kinesin.shards.owned and its lag is no longer
// reported, but its commits and uncommitted records are, until Close. It is
// idempotent.
func (sh *Shard) Stop() {
	if sh == nil {
		return
	}
	sh.stopped.Store(true)
}

// Close unregisters the shard's callbacks: its observable instruments
// (commits, lag, uncommitted records) report nothing more for it, and it no
// longer counts in kinesin.shards.owned (it is stopped). Its other methods
// keep working. It is idempotent.
func (sh *Shard) Close() {
	if sh == nil {
		return
	}
	sh.stopped.Store(true)
	sh.closeOnce.Do(func() {
		t := sh.t
		t.mu.Lock()
		if t.shards[sh.id] == sh {
			delete(t.shards, sh.id)
		}
		t.mu.Unlock()
		if sh.reg != nil {
			if err := sh.reg.Unregister(); err != nil {
				otel.Handle(err)
			}
		}
	})
}

// Delivered counts records delivered to the application, with bytes of
// data in all (messaging.client.consumed.messages, kinesin.consumed.bytes).
// Call it once per batch.
func (sh *Shard) Delivered(ctx context.Context, records, bytes int) {
	if sh == nil {
		return
	}
	if records > 0 {
		sh.t.consumed.Add(ctx, int64(records), sh.consumedAdd...)
	}
	if bytes > 0 {
		sh.t.bytes.Add(ctx, int64(bytes), sh.add...)
	}
}

// DecodeErrors counts n records the decoder rejected
// (kinesin.decode.errors).
func (sh *Shard) DecodeErrors(n int) {
	if sh == nil || n <= 0 {
		return
	}
	sh.t.decodeErrors.Add(context.Background(), int64(n), sh.add...)
}

// Dropped counts n KPL user records dropped because their hash key is
// outside the shard's range (kinesin.kpl.dropped).
func (sh *Shard) Dropped(n int) {
	if sh == nil || n <= 0 {
		return
	}
	sh.t.dropped.Add(context.Background(), int64(n), sh.add...)
}

// Expired counts a read resumed at the trim horizon because the records
// after the shard's checkpoint were trimmed before they were read
// (kinesin.checkpoint.expired).
func (sh *Shard) Expired() {
	if sh == nil {
		return
	}
	sh.t.expired.Add(context.Background(), 1, sh.add...)
}

// Lag stores how many milliseconds the last batch read was behind the tip
// of the shard (MillisBehindLatest): kinesin.shard.millis_behind_latest
// reports the latest value stored, and nothing before the first.
func (sh *Shard) Lag(ms int64) {
	if sh == nil {
		return
	}
	sh.lag.Store(ms)
}

// Operation records one call to Kinesis, op (OpGetRecords,
// OpGetShardIterator, OpSubscribeToShard), that started at start, took d
// and returned err: its duration in messaging.client.operation.duration
// (with error.type when it failed, see ErrorType), a throttle in
// kinesin.throttles when err says a limit was hit, and, when tracing, a
// span named op, of kind Client, from start to start+d, with the error's
// status. A call cut short because ctx ended is not a failure: it is traced
// without an error and not measured. The hook that reports the call after
// the fact calls it, which is why it takes the start.
func (sh *Shard) Operation(ctx context.Context, op string, start time.Time, d time.Duration, err error) {
	if sh == nil {
		return
	}
	t := sh.t
	cancel := canceled(ctx, err)
	ok := sh.opAttrs(op, "")
	if !cancel {
		a := ok
		if err != nil {
			a = sh.opAttrs(op, ErrorType(err))
			if awserr.IsThrottle(err) {
				t.throttles.Add(ctx, 1, ok.add...)
			}
		}
		t.opDuration.Record(ctx, d.Seconds(), a.record...)
	}
	if !t.spans() {
		return
	}
	_, span := t.tracer.Start(ctx, op,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(start),
		trace.WithAttributes(ok.span...))
	endSpan(span, err, cancel, start.Add(d))
}

// Retry counts a wait before calling op again after err, a failed call or
// a broken subscription (kinesin.retries, with error.type). An err that
// only says the context ended is not counted.
func (sh *Shard) Retry(op string, err error) {
	if sh == nil || canceled(context.Background(), err) {
		return
	}
	sh.t.retries.Add(context.Background(), 1, sh.opAttrs(op, ErrorType(err)).add...)
}

// Throttle counts a call to op refused because a limit was hit
// (kinesin.throttles). Operation counts the throttles of the calls it
// records: call Throttle only for the others.
func (sh *Shard) Throttle(op string) {
	if sh == nil {
		return
	}
	sh.t.throttles.Add(context.Background(), 1, sh.opAttrs(op, "").add...)
}

// opAttrs returns the options of op failed with errType, computed once.
func (sh *Shard) opAttrs(op, errType string) *opAttrs {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, a := range sh.ops {
		if a.op == op && a.errType == errType {
			return a
		}
	}
	attrs := append(sh.attrs[:len(sh.attrs):len(sh.attrs)], semconv.MessagingOperationName(op))
	span := attrs
	if op == OpGetRecords || op == OpSubscribeToShard {
		span = append(span[:len(span):len(span)], semconv.MessagingOperationTypeReceive)
	}
	if errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attrs...))
	a := &opAttrs{op: op, errType: errType, add: []metric.AddOption{opt}, record: []metric.RecordOption{opt}, span: span}
	if len(sh.ops) < maxOpAttrs {
		sh.ops = append(sh.ops, a)
	}
	return a
}
