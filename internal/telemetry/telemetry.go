package telemetry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of kinesin's meter and tracer.
const ScopeName = "github.com/kinesin-go/kinesin"

// SystemKinesis is the messaging.system of every measurement and span. The
// semantic conventions have no registered value for Kinesis; this one follows
// the registered "aws_sqs".
const SystemKinesis = "aws_kinesis"

// The modes a stream is read in: the value of kinesin.mode.
const (
	ModePolling = "polling"
	ModeEFO     = "efo"
)

// The operations named by messaging.operation.name and by span names.
const (
	OpGetRecords       = "GetRecords"
	OpGetShardIterator = "GetShardIterator"
	OpSubscribeToShard = "SubscribeToShard"
	OpListShards       = "ListShards"
	OpCheckpoint       = "checkpoint"
)

// The lease events counted by kinesin.lease.events.
const (
	LeaseAcquired = "acquired"
	LeaseRenewed  = "renewed"
	LeaseLost     = "lost"
	LeaseReleased = "released"
	LeaseStolen   = "stolen"
)

// Attribute keys of kinesin's own attributes; the others are the semantic
// conventions' (semconv).
const (
	ModeKey          = attribute.Key("kinesin.mode")
	OutcomeKey       = attribute.Key("outcome")
	ShardStateKey    = attribute.Key("kinesin.shard.state")
	EventKey         = attribute.Key("event")
	StartPositionKey = attribute.Key("kinesin.shard.start_position")
	ChildShardsKey   = attribute.Key("kinesin.shard.children")
	ShardCountKey    = attribute.Key("kinesin.checkpoint.shards")
)

// Values of OutcomeKey.
const (
	OutcomeOK    = "ok"
	OutcomeError = "error"
)

// durationBuckets are the bucket boundaries, in seconds, the semantic
// conventions advise for messaging.client.operation.duration.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Telemetry holds the instruments and the tracer of one open stream. Its
// methods, and those of the Shards it hands out, are safe for concurrent use
// and never block on I/O. A nil *Telemetry is valid and records nothing.
type Telemetry struct {
	tracer  trace.Tracer
	tracing bool // false when the tracer provider is a no-op one
	// unsetGlobal is the global tracer provider when it was taken before any
	// was set: until one is, its spans record nothing and are skipped.
	unsetGlobal trace.TracerProvider
	stream      string
	readOp      string // the operation that reads records in this mode

	base      attribute.Set
	baseAttrs []attribute.KeyValue

	consumed        metric.Int64Counter
	bytes           metric.Int64Counter
	decodeErrors    metric.Int64Counter
	opDuration      metric.Float64Histogram
	throttles       metric.Int64Counter
	retries         metric.Int64Counter
	dropped         metric.Int64Counter
	expired         metric.Int64Counter
	checkpoints     metric.Int64Counter
	checkpointDur   metric.Float64Histogram
	leaseEvents     metric.Int64Counter
	commits         metric.Int64ObservableCounter
	lag             metric.Int64ObservableGauge
	uncommitted     metric.Int64ObservableUpDownCounter
	owned           metric.Int64ObservableUpDownCounter
	states          metric.Int64ObservableUpDownCounter
	stateCounts     atomic.Pointer[func() map[string]int64]
	meter           metric.Meter
	reg             metric.Registration
	checkpointOK    []metric.RecordOption // outcome=ok
	checkpointOKAdd []metric.AddOption

	mu     sync.Mutex
	shards map[string]*Shard // the open handles, by shard id
	closed bool
}

// New returns the telemetry of the stream named stream, read by the consumer
// group app in mode (ModePolling or ModeEFO). A nil mp or tp means the global
// provider (otel.GetMeterProvider, otel.GetTracerProvider); a no-op tracer
// provider (go.opentelemetry.io/otel/trace/noop) turns every span off at no
// cost. The error joins those of the instruments that could not be created;
// the Telemetry returned is usable anyway, without them.
func New(mp metric.MeterProvider, tp trace.TracerProvider, stream, app, mode string) (*Telemetry, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	var unsetGlobal trace.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
		if isGlobalProxy(tp) {
			unsetGlobal = tp
		}
	}
	t := &Telemetry{
		stream: stream,
		readOp: OpGetRecords,
		shards: make(map[string]*Shard),
	}
	if mode == ModeEFO {
		t.readOp = OpSubscribeToShard
	}
	t.baseAttrs = []attribute.KeyValue{
		semconv.MessagingSystemKey.String(SystemKinesis),
		semconv.MessagingDestinationName(stream),
		semconv.MessagingConsumerGroupName(app),
		ModeKey.String(mode),
	}
	t.base = attribute.NewSet(t.baseAttrs...)
	t.tracing = tracingOn(tp)
	t.unsetGlobal = unsetGlobal
	t.tracer = tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
	m := mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	t.meter = m

	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return orNoop(c, err, metric.Int64Counter(metricnoop.Int64Counter{}), &errs)
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		return orNoop(h, err, metric.Float64Histogram(metricnoop.Float64Histogram{}), &errs)
	}
	t.consumed = counter(MetricConsumedMessages, "{message}",
		"Records delivered to the application, KPL user records counted one by one.")
	t.bytes = counter(MetricConsumedBytes, "By",
		"Bytes of record data delivered to the application.")
	t.decodeErrors = counter(MetricDecodeErrors, "{record}",
		"Records the decoder rejected; they are delivered with a *DecodeError.")
	t.opDuration = histogram(MetricOperationDuration,
		"Duration of the Kinesis calls that read records: GetRecords, GetShardIterator, SubscribeToShard.")
	t.throttles = counter(MetricThrottles, "{call}",
		"Kinesis calls refused because a rate or throughput limit was hit.")
	t.retries = counter(MetricRetries, "{retry}",
		"Waits before calling again after a failed call or a broken subscription.")
	t.dropped = counter(MetricKPLDropped, "{record}",
		"KPL user records dropped because their hash key is outside the shard's range.")
	t.expired = counter(MetricCheckpointExpired, "{resume}",
		"Reads resumed at the trim horizon because the records after the shard's checkpoint were trimmed by retention before they were read.")
	t.checkpoints = counter(MetricCheckpointWrites, "{write}",
		"Writes of committed positions to the checkpoint store.")
	t.checkpointDur = histogram(MetricCheckpointDuration,
		"Duration of the writes of committed positions to the checkpoint store.")
	t.leaseEvents = counter(MetricLeaseEvents, "{event}",
		"Shard lease changes: acquired, renewed, lost, released, stolen.")
	commits, err := m.Int64ObservableCounter(MetricCommits, metric.WithUnit("{commit}"),
		metric.WithDescription("Calls of Record.Commit."))
	t.commits = orNoop(commits, err, metric.Int64ObservableCounter(metricnoop.Int64ObservableCounter{}), &errs)
	lag, err := m.Int64ObservableGauge(MetricMillisBehindLatest, metric.WithUnit("ms"),
		metric.WithDescription("How far the last batch read from the shard was behind its tip (MillisBehindLatest)."))
	t.lag = orNoop(lag, err, metric.Int64ObservableGauge(metricnoop.Int64ObservableGauge{}), &errs)
	uncommitted, err := m.Int64ObservableUpDownCounter(MetricUncommitted, metric.WithUnit("{record}"),
		metric.WithDescription("Records delivered and not yet committed."))
	t.uncommitted = orNoop(uncommitted, err, metric.Int64ObservableUpDownCounter(metricnoop.Int64ObservableUpDownCounter{}), &errs)
	states, err := m.Int64ObservableUpDownCounter(MetricShardStates, metric.WithUnit("{shard}"),
		metric.WithDescription("Shards this consumer knows, by state (kinesin.shard.state): waiting, reading, paused, retrying, ended, finished, handed_over."))
	t.states = orNoop(states, err, metric.Int64ObservableUpDownCounter(metricnoop.Int64ObservableUpDownCounter{}), &errs)
	owned, err := m.Int64ObservableUpDownCounter(MetricShardsOwned, metric.WithUnit("{shard}"),
		metric.WithDescription("Shards this consumer is reading."))
	t.owned = orNoop(owned, err, metric.Int64ObservableUpDownCounter(metricnoop.Int64ObservableUpDownCounter{}), &errs)

	ok := metric.WithAttributeSet(attribute.NewSet(append(t.baseAttrs[:len(t.baseAttrs):len(t.baseAttrs)], OutcomeKey.String(OutcomeOK))...))
	t.checkpointOK = []metric.RecordOption{ok}
	t.checkpointOKAdd = []metric.AddOption{ok}

	ownedOpt := []metric.ObserveOption{metric.WithAttributeSet(t.base)}
	t.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n := 0
		t.mu.Lock()
		for _, sh := range t.shards {
			if !sh.stopped.Load() {
				n++
			}
		}
		t.mu.Unlock()
		o.ObserveInt64(t.owned, int64(n), ownedOpt...)
		if f := t.stateCounts.Load(); f != nil {
			for state, count := range (*f)() {
				o.ObserveInt64(t.states, count, metric.WithAttributeSet(attribute.NewSet(append(t.baseAttrs[:len(t.baseAttrs):len(t.baseAttrs)], ShardStateKey.String(state))...)))
			}
		}
		return nil
	}, t.owned, t.states)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return t, fmt.Errorf("telemetry: %w", errors.Join(errs...))
	}
	return t, nil
}

// ShardStates sets the function kinesin.shards.state reads at each
// collection: how many shards are in each state. It must be cheap and safe
// for concurrent use.
func (t *Telemetry) ShardStates(f func() map[string]int64) {
	if t != nil {
		t.stateCounts.Store(&f)
	}
}

// Names of the instruments.
const (
	MetricConsumedMessages   = "messaging.client.consumed.messages"
	MetricOperationDuration  = "messaging.client.operation.duration"
	MetricConsumedBytes      = "kinesin.consumed.bytes"
	MetricDecodeErrors       = "kinesin.decode.errors"
	MetricCommits            = "kinesin.commits"
	MetricCheckpointWrites   = "kinesin.checkpoint.writes"
	MetricCheckpointDuration = "kinesin.checkpoint.write.duration"
	MetricMillisBehindLatest = "kinesin.shard.millis_behind_latest"
	MetricThrottles          = "kinesin.throttles"
	MetricRetries            = "kinesin.retries"
	MetricShardsOwned        = "kinesin.shards.owned"
	MetricUncommitted        = "kinesin.records.uncommitted"
	MetricKPLDropped         = "kinesin.kpl.dropped"
	MetricCheckpointExpired  = "kinesin.checkpoint.expired"
	MetricLeaseEvents        = "kinesin.lease.events"
	MetricShardStates        = "kinesin.shards.state"
)

// orNoop returns inst, or fallback when the provider returned none; err,
// if any, is added to errs.
func orNoop[I any](inst I, err error, fallback I, errs *[]error) I {
	if err != nil {
		*errs = append(*errs, err)
	}
	if any(inst) == nil {
		return fallback
	}
	return inst
}

// tracingOn reports whether tp may record spans: false for the no-op
// providers, whose spans are skipped without any cost.
func tracingOn(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		return false
	}
	// trace.NewNoopTracerProvider, deprecated, has an unexported type: only
	// comparing with one tells it.
	//lint:ignore SA1019 recognising the deprecated no-op provider needs one to compare with
	return tp != trace.NewNoopTracerProvider()
}

// isGlobalProxy reports whether tp is the stand-in otel.GetTracerProvider
// returns before a provider is set, which delegates to the provider set
// later. Should its type change, spans are merely started for nothing.
func isGlobalProxy(tp trace.TracerProvider) bool {
	t := reflect.TypeOf(tp)
	return t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// spans reports whether spans may be recorded: tracing is on, and the
// global provider, when it is the one used, was set.
func (t *Telemetry) spans() bool {
	return t.tracing && (t.unsetGlobal == nil || otel.GetTracerProvider() != t.unsetGlobal)
}

// Close unregisters the stream's callback (kinesin.shards.owned) and those
// of every Shard still open; errors go to otel.Handle. The synchronous
// instruments keep working. It is idempotent.
func (t *Telemetry) Close() {
	if t == nil {
		return
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	open := make([]*Shard, 0, len(t.shards))
	for _, sh := range t.shards {
		open = append(open, sh)
	}
	t.mu.Unlock()
	for _, sh := range open {
		sh.Close()
	}
	if t.reg != nil {
		if err := t.reg.Unregister(); err != nil {
			otel.Handle(err)
		}
	}
}

// CheckpointWrite records one write of committed positions to the
// checkpoint store: shards positions, written in d, with err. It adds to
// kinesin.checkpoint.writes and kinesin.checkpoint.write.duration (outcome
// ok or error) and, when tracing, makes a span "checkpoint <stream>" ending
// now. A write cut short because ctx ended is not a failure: it is traced
// without an error and not measured.
func (t *Telemetry) CheckpointWrite(ctx context.Context, shards int, d time.Duration, err error) {
	if t == nil {
		return
	}
	cancel := canceled(ctx, err)
	if !cancel {
		if err == nil {
			t.checkpoints.Add(ctx, 1, t.checkpointOKAdd...)
			t.checkpointDur.Record(ctx, d.Seconds(), t.checkpointOK...)
		} else {
			attrs := append(t.baseAttrs[:len(t.baseAttrs):len(t.baseAttrs)],
				OutcomeKey.String(OutcomeError), semconv.ErrorTypeKey.String(ErrorType(err)))
			t.checkpoints.Add(ctx, 1, metric.WithAttributes(attrs...))
			t.checkpointDur.Record(ctx, d.Seconds(), metric.WithAttributes(attrs[:len(attrs)-1]...))
		}
	}
	if !t.spans() {
		return
	}
	end := time.Now()
	_, span := t.tracer.Start(ctx, OpCheckpoint+" "+t.stream,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(end.Add(-d)),
		trace.WithAttributes(t.baseAttrs...),
		trace.WithAttributes(
			semconv.MessagingOperationName(OpCheckpoint),
			semconv.MessagingOperationTypeSettle,
			ShardCountKey.Int(shards)))
	endSpan(span, err, cancel, end)
}

// ShardStarted records that reading shard id starts from the position from
// (such as "TRIM_HORIZON" or "AFTER_SEQUENCE_NUMBER 4961..."): a span
// "shard start", when tracing. Open a Shard handle for the read: the
// handles open and not stopped are the shards counted by
// kinesin.shards.owned.
func (t *Telemetry) ShardStarted(ctx context.Context, id, from string) {
	if t == nil || !t.spans() {
		return
	}
	_, span := t.tracer.Start(ctx, "shard start",
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(t.baseAttrs...),
		trace.WithAttributes(semconv.MessagingDestinationPartitionID(id), StartPositionKey.String(from)))
	span.End()
}

// ShardEnded records that shard id was read to its end, and which shards
// continue it: a span "shard end", when tracing.
func (t *Telemetry) ShardEnded(ctx context.Context, id string, children []string) {
	if t == nil || !t.spans() {
		return
	}
	_, span := t.tracer.Start(ctx, "shard end",
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(t.baseAttrs...),
		trace.WithAttributes(semconv.MessagingDestinationPartitionID(id), ChildShardsKey.StringSlice(children)))
	span.End()
}

// Lease counts a lease event (LeaseAcquired, LeaseRenewed, LeaseLost,
// LeaseReleased or LeaseStolen) of shard in kinesin.lease.events.
func (t *Telemetry) Lease(event, shard string) {
	if t == nil {
		return
	}
	attrs := append(t.baseAttrs[:len(t.baseAttrs):len(t.baseAttrs)],
		EventKey.String(event), semconv.MessagingDestinationPartitionID(shard))
	t.leaseEvents.Add(context.Background(), 1, metric.WithAttributes(attrs...))
}

// endSpan ends span at end with err's status: an error, unless the
// operation was only cut short by its context ending.
func endSpan(span trace.Span, err error, cancel bool, end time.Time) {
	if err != nil && !cancel {
		span.SetAttributes(semconv.ErrorTypeKey.String(ErrorType(err)))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End(trace.WithTimestamp(end))
}
