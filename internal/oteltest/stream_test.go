package oteltest_test

// OpenTelemetry metrics and spans, and slog logs, of a stream consumed
// through the fake, in both modes: the counters equal what was delivered and
// committed, the lag reaches 0, injected throttles and checkpoint failures are
// counted, spans have the documented names, kinds and attributes and are made
// per call, never per record, the global providers are the default, and the
// logs are silent by default and never per record.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/internal/kpl"
	"github.com/kinesin-go/kinesin/internal/streamtest"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/memlease"
)

// telApp is the app (consumer group) the telemetry tests consume as.
const telApp = "billing"

// Attribute keys the tests look at.
const (
	keyShard   = attribute.Key("messaging.destination.partition.id")
	keyOp      = attribute.Key("messaging.operation.name")
	keyOpType  = attribute.Key("messaging.operation.type")
	keyErrType = attribute.Key("error.type")
	keyOutcome = attribute.Key("outcome")
)

// otelSink is an SDK meter provider read by hand and an SDK tracer provider
// recording every span, both shut down with the test.
type otelSink struct {
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func newOTelSink(t testing.TB) *otelSink {
	t.Helper()
	o := &otelSink{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	o.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(o.reader))
	o.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(o.spans))
	t.Cleanup(func() {
		_ = o.mp.Shutdown(context.Background())
		_ = o.tp.Shutdown(context.Background())
	})
	return o
}

// options give the providers to a stream, and consume as telApp.
func (o *otelSink) options() []kinesin.Option {
	return []kinesin.Option{kinesin.WithMeterProvider(o.mp), kinesin.WithTracerProvider(o.tp), kinesin.WithApp(telApp)}
}

// dataPoint is one data point of an instrument, whatever its type.
type dataPoint struct {
	attrs attribute.Set
	value float64 // a histogram's sum
	count uint64  // a histogram's count
}

// instrument is what one instrument reported in a collection.
type instrument struct {
	kind   string // Counter, UpDownCounter, Gauge or Histogram
	unit   string
	points []dataPoint
}

type metricsOut map[string]instrument

// collect reads every instrument of kinesin's scope.
func (o *otelSink) collect(t testing.TB) metricsOut {
	t.Helper()
	return collectFrom(t, o.reader)
}

func collectFrom(t testing.TB, reader *sdkmetric.ManualReader) metricsOut {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collecting metrics: %v", err)
	}
	out := metricsOut{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/kinesin-go/kinesin" {
			t.Errorf("metrics of scope %q", sm.Scope.Name)
			continue
		}
		for _, m := range sm.Metrics {
			in := instrument{unit: m.Unit}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				in.kind = "UpDownCounter"
				if d.IsMonotonic {
					in.kind = "Counter"
				}
				for _, p := range d.DataPoints {
					in.points = append(in.points, dataPoint{attrs: p.Attributes, value: float64(p.Value)})
				}
			case metricdata.Gauge[int64]:
				in.kind = "Gauge"
				for _, p := range d.DataPoints {
					in.points = append(in.points, dataPoint{attrs: p.Attributes, value: float64(p.Value)})
				}
			case metricdata.Histogram[float64]:
				in.kind = "Histogram"
				for _, p := range d.DataPoints {
					in.points = append(in.points, dataPoint{attrs: p.Attributes, value: p.Sum, count: p.Count})
				}
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			out[m.Name] = in
		}
	}
	return out
}

// matching returns the points of name whose attributes include want.
func (ms metricsOut) matching(name string, want ...attribute.KeyValue) []dataPoint {
	var out []dataPoint
	for _, p := range ms[name].points {
		if hasAttrs(p.attrs, want...) {
			out = append(out, p)
		}
	}
	return out
}

// sum adds the values of the points of name whose attributes include want.
func (ms metricsOut) sum(name string, want ...attribute.KeyValue) float64 {
	var s float64
	for _, p := range ms.matching(name, want...) {
		s += p.value
	}
	return s
}

// count adds the counts of the histogram points of name whose attributes
// include want.
func (ms metricsOut) count(name string, want ...attribute.KeyValue) uint64 {
	var n uint64
	for _, p := range ms.matching(name, want...) {
		n += p.count
	}
	return n
}

func hasAttrs(set attribute.Set, want ...attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

func shardIs(id string) attribute.KeyValue { return keyShard.String(id) }

// baseAttrs are the attributes of every measurement and span of a stream
// of testStream consumed as telApp in mode m.
func baseAttrs(m streamtest.Mode) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "aws_kinesis"),
		attribute.String("messaging.destination.name", streamtest.Stream),
		attribute.String("messaging.consumer.group.name", telApp),
		attribute.String("kinesin.mode", m.Name),
	}
}

// checkBase fails unless every point of every instrument carries the base
// attributes of mode m.
func checkBase(t *testing.T, ms metricsOut, m streamtest.Mode) {
	t.Helper()
	for name, in := range ms {
		for _, p := range in.points {
			if !hasAttrs(p.attrs, baseAttrs(m)...) {
				t.Errorf("%s: point %v lacks the stream's attributes", name, p.attrs.ToSlice())
				return
			}
		}
	}
}

// spansNamed returns the ended spans called name.
func (o *otelSink) spansNamed(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range o.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func spanAttrs(s sdktrace.ReadOnlySpan) attribute.Set { return attribute.NewSet(s.Attributes()...) }

// spanAttr returns the value of a span's attribute key, "" when it has none.
func spanAttr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}

// readOps are the operations that read records in mode m.
func readOps(m streamtest.Mode) []string {
	if m.EFO {
		return []string{"SubscribeToShard"}
	}
	return []string{"GetRecords", "GetShardIterator"}
}

// A backlog of known records and bytes, consumed and committed: the counters
// equal what was delivered and committed, per shard and in all, with the
// stream's attributes; the uncommitted records go up, then back to 0; the lag
// reaches 0 on every shard; the shards owned are the shards read; a Flush is
// one checkpoint write; the spans are those documented, one per call.
func TestTelemetryCountsWhatWasConsumed(t *testing.T) {
	streamtest.EachModeParallel(t, testTelemetryCountsWhatWasConsumed)
}

func testTelemetryCountsWhatWasConsumed(t *testing.T, m streamtest.Mode) {
	const shards, perShard = 4, 500
	const total = shards * perShard
	fake := m.NewFake(t, shards)
	open := streamtest.OpenShards(t, fake, streamtest.Stream)
	streamtest.FillShards(t, fake, streamtest.Stream, perShard)
	wantBytes := map[string]int{}
	allBytes := 0
	for i, sh := range open {
		for j := range perShard {
			n := len(streamtest.ItemJSON(streamtest.Item{Shard: i, N: j}))
			wantBytes[sh.ID] += n
			allBytes += n
		}
	}
	o := newOTelSink(t)
	store := memcheckpoint.New()
	ctx := streamtest.Ctx(t, 30*time.Second)
	st := streamtest.Open(t, m, ctx, fake, kinesin.JSON[streamtest.Item],
		append(o.options(), kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))...)
	c := streamtest.Collect(st, false)
	streamtest.Eventually(t, 20*time.Second, func() bool { return c.Count() == total }, "%d of %d records delivered", c.Count(), total)

	ms := o.collect(t)
	checkBase(t, ms, m)
	readOp := readOps(m)[0]
	if got := ms.sum("kinesin.shards.owned"); got != shards {
		t.Errorf("kinesin.shards.owned = %v while reading %d shards", got, shards)
	}
	if got := ms.sum("messaging.client.consumed.messages"); got != total {
		t.Errorf("messaging.client.consumed.messages = %v, want %d", got, total)
	}
	if got := ms.sum("kinesin.consumed.bytes"); got != float64(allBytes) {
		t.Errorf("kinesin.consumed.bytes = %v, want %d", got, allBytes)
	}
	for _, sh := range open {
		if got := ms.sum("messaging.client.consumed.messages", shardIs(sh.ID), keyOp.String(readOp)); got != perShard {
			t.Errorf("messaging.client.consumed.messages{%s, %s} = %v, want %d", sh.ID, readOp, got, perShard)
		}
		if got := ms.sum("kinesin.consumed.bytes", shardIs(sh.ID)); got != float64(wantBytes[sh.ID]) {
			t.Errorf("kinesin.consumed.bytes{%s} = %v, want %d", sh.ID, got, wantBytes[sh.ID])
		}
		if got := ms.sum("kinesin.records.uncommitted", shardIs(sh.ID)); got != perShard {
			t.Errorf("kinesin.records.uncommitted{%s} = %v before any commit, want %d", sh.ID, got, perShard)
		}
	}
	if got := ms.sum("kinesin.commits"); got != 0 {
		t.Errorf("kinesin.commits = %v before any commit", got)
	}
	for _, name := range []string{"kinesin.decode.errors", "kinesin.kpl.dropped", "kinesin.throttles", "kinesin.retries", "kinesin.checkpoint.writes"} {
		if got := ms.sum(name); got != 0 {
			t.Errorf("%s = %v without any", name, got)
		}
	}

	if n := c.CommitPending(); n != total {
		t.Fatalf("committed %d records, want %d", n, total)
	}
	ms = o.collect(t)
	if got := ms.sum("kinesin.commits"); got != total {
		t.Errorf("kinesin.commits = %v, want %d", got, total)
	}
	for _, sh := range open {
		if got := ms.sum("kinesin.commits", shardIs(sh.ID)); got != perShard {
			t.Errorf("kinesin.commits{%s} = %v, want %d", sh.ID, got, perShard)
		}
		if p := ms.matching("kinesin.records.uncommitted", shardIs(sh.ID)); len(p) != 1 || p[0].value != 0 {
			t.Errorf("kinesin.records.uncommitted{%s}: %v once all are committed, want one point of 0", sh.ID, p)
		}
	}

	// Caught up, the readers see MillisBehindLatest 0 on every shard.
	var lag metricsOut
	streamtest.Eventually(t, 10*time.Second, func() bool {
		lag = o.collect(t)
		for _, sh := range open {
			if p := lag.matching("kinesin.shard.millis_behind_latest", shardIs(sh.ID)); len(p) != 1 || p[0].value != 0 {
				return false
			}
		}
		return true
	}, "kinesin.shard.millis_behind_latest: %v", lag["kinesin.shard.millis_behind_latest"].points)

	if err := st.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	ms = o.collect(t)
	if got := ms.sum("kinesin.checkpoint.writes", keyOutcome.String("ok")); got != 1 {
		t.Errorf("kinesin.checkpoint.writes{ok} = %v after one Flush, want 1", got)
	}
	if got := ms.sum("kinesin.checkpoint.writes"); got != 1 {
		t.Errorf("kinesin.checkpoint.writes = %v after one Flush, want 1", got)
	}
	if got := ms.count("kinesin.checkpoint.write.duration", keyOutcome.String("ok")); got != 1 {
		t.Errorf("kinesin.checkpoint.write.duration{ok}: %d writes, want 1", got)
	}
	for _, op := range readOps(m) {
		if got := ms.count("messaging.client.operation.duration", keyOp.String(op)); got == 0 {
			t.Errorf("messaging.client.operation.duration{%s}: no call measured", op)
		}
	}
	for _, p := range ms["messaging.client.operation.duration"].points {
		if _, failed := p.attrs.Value(keyErrType); failed {
			t.Errorf("messaging.client.operation.duration: a failure %v without any fault", p.attrs.ToSlice())
		}
		if id, _ := p.attrs.Value(keyShard); !slices.ContainsFunc(open, func(sh kinesistest.ShardInfo) bool { return sh.ID == id.AsString() }) {
			t.Errorf("messaging.client.operation.duration: point of shard %q", id.AsString())
		}
	}

	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c.Wait(t, 5*time.Second)

	// Spans: as documented, and one per call, not per record.
	base := baseAttrs(m)
	calls := 0
	for _, op := range readOps(m) {
		spans := o.spansNamed(op)
		n := fake.Calls(op)
		calls += n
		// A call cut short by Close before it reached the fake is traced too.
		if len(spans) < n || len(spans) > n+shards {
			t.Errorf("%d %s spans for %d calls", len(spans), op, n)
		}
		for _, s := range spans {
			attrs := spanAttrs(s)
			id, _ := attrs.Value(keyShard)
			if s.SpanKind() != trace.SpanKindClient || s.Parent().IsValid() ||
				!hasAttrs(attrs, append(slices.Clone(base), keyOp.String(op))...) || wantBytes[id.AsString()] == 0 {
				t.Fatalf("%s span: kind %v, parent %v, attributes %v", op, s.SpanKind(), s.Parent(), s.Attributes())
			}
			if ty, ok := attrs.Value(keyOpType); (op == "GetShardIterator") == ok || (ok && ty.AsString() != "receive") {
				t.Fatalf("%s span: messaging.operation.type %q", op, ty.AsString())
			}
			if s.Status().Code != codes.Unset || attrs.HasValue(keyErrType) {
				t.Fatalf("%s span: status %v, attributes %v, without any fault", op, s.Status(), s.Attributes())
			}
		}
	}
	cps := o.spansNamed("checkpoint " + streamtest.Stream)
	if len(cps) != 1 {
		t.Errorf("%d checkpoint spans after one Flush (Close had nothing left to write), want 1", len(cps))
	}
	for _, s := range cps {
		if s.SpanKind() != trace.SpanKindClient || s.Status().Code != codes.Unset || !hasAttrs(spanAttrs(s), append(slices.Clone(base),
			keyOp.String("checkpoint"), keyOpType.String("settle"), attribute.Int("kinesin.checkpoint.shards", shards))...) {
			t.Errorf("checkpoint span: kind %v, status %v, attributes %v", s.SpanKind(), s.Status(), s.Attributes())
		}
	}
	starts := o.spansNamed("shard start")
	if len(starts) != shards {
		t.Errorf("%d shard start spans, want %d", len(starts), shards)
	}
	started := map[string]bool{}
	for _, s := range starts {
		started[spanAttr(s, keyShard)] = true
		if s.SpanKind() != trace.SpanKindInternal || !hasAttrs(spanAttrs(s), append(slices.Clone(base),
			attribute.String("kinesin.shard.start_position", "TRIM_HORIZON"))...) {
			t.Errorf("shard start span: kind %v, attributes %v", s.SpanKind(), s.Attributes())
		}
	}
	if len(started) != shards {
		t.Errorf("shard start spans for %d shards, want %d", len(started), shards)
	}
	if n := len(o.spansNamed("shard end")); n != 0 {
		t.Errorf("%d shard end spans, and no shard ended", n)
	}
	all := len(o.spans.Ended())
	if want := calls + shards + 1 + shards; all > want {
		t.Errorf("%d spans in all, want at most %d: %d calls, %d shard starts, 1 checkpoint write", all, want, calls, shards)
	}
	t.Logf("%d spans for %d records (%d calls)", all, total, calls)

	// Closed, the stream reports no shard and no record in flight any more.
	ms = o.collect(t)
	for _, name := range []string{"kinesin.shards.owned", "kinesin.records.uncommitted", "kinesin.shard.millis_behind_latest"} {
		if p := ms[name].points; len(p) != 0 {
			t.Errorf("%s after Close: %d points", name, len(p))
		}
	}
}

// Throttles injected by the fake are counted as throttles, and their waits as
// retries, with the operation and the error's code; their calls are measured
// with error.type and traced with an Error status.
func TestTelemetryThrottles(t *testing.T) {
	streamtest.EachModeParallel(t, testTelemetryThrottles)
}

func testTelemetryThrottles(t *testing.T, m streamtest.Mode) {
	const shards, perShard, throttles = 2, 20, 4
	fake := m.NewFake(t, shards)
	streamtest.FillShards(t, fake, streamtest.Stream, perShard)
	op, code := "GetRecords", "ProvisionedThroughputExceededException"
	if m.EFO {
		op, code = "SubscribeToShard", "LimitExceededException"
	}
	faults := map[string]*kinesistest.Injected{
		op: fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: op}, Action: kinesistest.Throttle, Times: throttles}),
	}
	if !m.EFO {
		faults["GetShardIterator"] = fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "GetShardIterator"}, Action: kinesistest.Throttle, Times: 2})
	}
	o := newOTelSink(t)
	ctx := streamtest.Ctx(t, 20*time.Second)
	st := streamtest.Open(t, m, ctx, fake, kinesin.JSON[streamtest.Item], o.options()...)
	c := streamtest.Collect(st, true)
	streamtest.Eventually(t, 15*time.Second, func() bool { return c.Count() == shards*perShard }, "%d records", c.Count())
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c.Wait(t, 5*time.Second)

	ms := o.collect(t)
	checkBase(t, ms, m)
	for fop, in := range faults {
		n := in.Hits()
		want := map[string]int{"GetShardIterator": 2}[fop]
		if fop == op {
			want = throttles
		}
		if n != want {
			t.Fatalf("%d %s calls throttled, want %d", n, fop, want)
		}
		fcode := "ProvisionedThroughputExceededException"
		if fop == "SubscribeToShard" {
			fcode = code
		}
		if got := ms.sum("kinesin.throttles", keyOp.String(fop)); got < float64(n) {
			t.Errorf("kinesin.throttles{%s} = %v, want at least %d", fop, got, n)
		}
		if got := ms.sum("kinesin.retries", keyOp.String(fop)); got < float64(n) {
			t.Errorf("kinesin.retries{%s} = %v, want at least %d", fop, got, n)
		}
		if got := ms.sum("kinesin.retries", keyOp.String(fop), keyErrType.String(fcode)); got != float64(n) {
			t.Errorf("kinesin.retries{%s, %s} = %v, want %d", fop, fcode, got, n)
		}
		if got := ms.count("messaging.client.operation.duration", keyOp.String(fop), keyErrType.String(fcode)); got != uint64(n) {
			t.Errorf("messaging.client.operation.duration{%s, %s}: %d calls, want %d", fop, fcode, got, n)
		}
		ok := uint64(0)
		for _, p := range ms.matching("messaging.client.operation.duration", keyOp.String(fop)) {
			if !p.attrs.HasValue(keyErrType) {
				ok += p.count
			}
		}
		if ok == 0 {
			t.Errorf("messaging.client.operation.duration{%s}: no successful call", fop)
		}
		failed := 0
		for _, s := range o.spansNamed(fop) {
			attrs := spanAttrs(s)
			if s.Status().Code == codes.Error {
				failed++
				if v, _ := attrs.Value(keyErrType); v.AsString() != fcode || !strings.Contains(s.Status().Description, fcode) {
					t.Errorf("failed %s span: error.type %q, status %v", fop, v.AsString(), s.Status())
				}
			} else if attrs.HasValue(keyErrType) {
				t.Errorf("%s span with error.type and status %v", fop, s.Status())
			}
		}
		if failed != n {
			t.Errorf("%d %s spans with an Error status, want %d", failed, fop, n)
		}
	}
	for _, p := range ms["kinesin.throttles"].points {
		if v, _ := p.attrs.Value(keyOp); faults[v.AsString()] == nil {
			t.Errorf("kinesin.throttles %v: no such throttle was injected", p.attrs.ToSlice())
		}
	}
}

// EFO: a subscription the service breaks with a throttling exception, after
// the call succeeded, counts as a throttle too, and its wait as a retry.
func TestTelemetryEFOStreamThrottle(t *testing.T) {
	t.Parallel()
	m := streamtest.EFOMode
	fake := m.NewFake(t, 1)
	streamtest.FillShards(t, fake, streamtest.Stream, 20)
	const code = "KMSThrottlingException"
	broken := fake.Script(kinesistest.Match{Op: "SubscribeToShard"}, kinesistest.StreamException(code, 1))
	o := newOTelSink(t)
	st := streamtest.Open(t, m, streamtest.Ctx(t, 20*time.Second), fake, kinesin.JSON[streamtest.Item], o.options()...)
	c := streamtest.Collect(st, true)
	var ms metricsOut
	streamtest.Eventually(t, 10*time.Second, func() bool {
		ms = o.collect(t)
		return c.Count() == 20 && ms.sum("kinesin.retries", keyErrType.String(code)) > 0
	}, "%d records, kinesin.retries %v", c.Count(), ms["kinesin.retries"].points)
	if n := broken.Hits(); n != 1 {
		t.Fatalf("%d subscriptions broken, want 1", n)
	}
	if got := ms.sum("kinesin.retries", keyOp.String("SubscribeToShard"), keyErrType.String(code)); got != 1 {
		t.Errorf("kinesin.retries{SubscribeToShard, %s} = %v, want 1", code, got)
	}
	if got := ms.sum("kinesin.throttles", keyOp.String("SubscribeToShard")); got != 1 {
		t.Errorf("kinesin.throttles{SubscribeToShard} = %v, want 1", got)
	}
	// The call succeeded: it is measured and traced as a success.
	if got := ms.count("messaging.client.operation.duration", keyErrType.String(code)); got != 0 {
		t.Errorf("messaging.client.operation.duration{%s}: %d calls, and none failed", code, got)
	}
}

// A checkpoint write failing is counted with outcome=error and error.type,
// timed, and traced with an Error status; the next write that succeeds with
// outcome=ok.
func TestTelemetryCheckpointFailure(t *testing.T) {
	t.Parallel()
	m := streamtest.PollingMode // writing checkpoints is the same in both modes
	fake := m.NewFake(t, 2)
	streamtest.FillShards(t, fake, streamtest.Stream, 10)
	o := newOTelSink(t)
	store := checkpointtest.NewFaulty(t, memcheckpoint.New())
	ctx := streamtest.Ctx(t, 20*time.Second)
	st := streamtest.Open(t, m, ctx, fake, kinesin.JSON[streamtest.Item],
		append(o.options(), kinesin.WithCheckpointer(store), kinesin.WithCheckpointInterval(time.Hour))...)
	c := streamtest.Collect(st, true)
	streamtest.Eventually(t, 10*time.Second, func() bool { return c.Count() == 20 }, "%d records", c.Count())

	down := store.Inject(checkpointtest.Fault{Action: checkpointtest.Fail(errors.New("store down"))})
	if err := st.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded with the store down")
	}
	ms := o.collect(t)
	checkBase(t, ms, m)
	failed := []attribute.KeyValue{keyOutcome.String("error"), keyErrType.String("_OTHER")}
	if got := ms.sum("kinesin.checkpoint.writes", failed...); got != 1 {
		t.Errorf("kinesin.checkpoint.writes{error, _OTHER} = %v, want 1", got)
	}
	if got := ms.sum("kinesin.checkpoint.writes", keyOutcome.String("ok")); got != 0 {
		t.Errorf("kinesin.checkpoint.writes{ok} = %v, want 0", got)
	}
	if got := ms.count("kinesin.checkpoint.write.duration", keyOutcome.String("error")); got != 1 {
		t.Errorf("kinesin.checkpoint.write.duration{error}: %d writes, want 1", got)
	}
	for _, p := range ms["kinesin.checkpoint.write.duration"].points {
		if p.attrs.HasValue(keyErrType) {
			t.Errorf("kinesin.checkpoint.write.duration has error.type: %v", p.attrs.ToSlice())
		}
	}
	spans := o.spansNamed("checkpoint " + streamtest.Stream)
	if len(spans) != 1 || spans[0].Status().Code != codes.Error || !hasAttrs(spanAttrs(spans[0]), keyErrType.String("_OTHER")) ||
		!strings.Contains(spans[0].Status().Description, "store down") {
		for _, s := range spans {
			t.Logf("checkpoint span: status %v, attributes %v", s.Status(), s.Attributes())
		}
		t.Errorf("%d checkpoint spans, want 1 with an Error status and error.type _OTHER", len(spans))
	}

	down.Remove()
	if err := st.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	ms = o.collect(t)
	if got := ms.sum("kinesin.checkpoint.writes", keyOutcome.String("ok")); got != 1 {
		t.Errorf("kinesin.checkpoint.writes{ok} = %v once the store is back, want 1", got)
	}
	if got := ms.sum("kinesin.checkpoint.writes"); got != 2 {
		t.Errorf("kinesin.checkpoint.writes = %v, want 2", got)
	}
	if spans := o.spansNamed("checkpoint " + streamtest.Stream); len(spans) != 2 || spans[1].Status().Code != codes.Unset {
		t.Errorf("%d checkpoint spans, the second should have succeeded", len(spans))
	}
}

// A shard split: the parent's records, a poison record and KPL aggregates in
// a child, one of which is dropped for its hash keys. Decode errors and
// dropped user records are counted on the child; the parent's end is traced
// with its children and logged; every commit is counted and every record
// delivered uncommitted shows, the parent's too, although its read is over.
func TestTelemetryDecodeErrorsDropsAndShardEnd(t *testing.T) {
	streamtest.EachModeParallel(t, testTelemetryDecodeErrorsDropsAndShardEnd)
}

func testTelemetryDecodeErrorsDropsAndShardEnd(t *testing.T, m streamtest.Mode) {
	fake := m.NewFake(t, 1)
	parent := "shardId-000000000000"
	for i := range 3 {
		if _, err := fake.Put(streamtest.Stream, "pk", []byte(fmt.Sprintf("p%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	kids, err := fake.Split(streamtest.Stream, parent)
	if err != nil {
		t.Fatal(err)
	}
	lower, upper := streamtest.ShardByID(streamtest.MustShards(t, fake), kids[0]), streamtest.ShardByID(streamtest.MustShards(t, fake), kids[1])
	in, out := lower.StartingHashKey, upper.StartingHashKey
	putLower := func(data []byte) {
		t.Helper()
		res, err := fake.PutWithHashKey(streamtest.Stream, "outer", in, data)
		if err != nil {
			t.Fatal(err)
		}
		if res.ShardID != lower.ID {
			t.Fatalf("record went to %s, not %s", res.ShardID, lower.ID)
		}
	}
	aggregate := func(ehks ...string) []byte {
		var recs []kpl.Record
		for i, ehk := range ehks {
			recs = append(recs, kpl.Record{PartitionKey: fmt.Sprintf("pk%d", i), ExplicitHashKey: ehk, Data: []byte(fmt.Sprintf("u%d", i))})
		}
		data, err := kpl.Aggregate(recs)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	putLower(aggregate(in, out, in)) // 3 user records dropped: one is outside
	putLower(aggregate(in, "1"))     // 2 user records kept
	putLower([]byte("poison"))
	dec := func(data []byte) (string, error) {
		if string(data) == "poison" {
			return "", errors.New("poisoned")
		}
		return string(data), nil
	}

	o := newOTelSink(t)
	logs := &logStore{}
	ctx := streamtest.Ctx(t, 20*time.Second)
	st := streamtest.Open(t, m, ctx, fake, dec, append(o.options(), kinesin.WithLogger(slog.New(logs.handler())),
		kinesin.WithCheckpointer(memcheckpoint.New()), kinesin.WithCheckpointInterval(time.Hour))...)
	recs := streamtest.TakeN(t, st.Chan(), 3+2+1, 10*time.Second)
	bad := 0
	for _, r := range recs {
		if r.Err() != nil {
			bad++
		}
	}
	if bad != 1 {
		t.Errorf("%d records with a decode error, want 1", bad)
	}
	// The parent was read to its end and its children are read: it is no
	// longer owned.
	var ms metricsOut
	streamtest.Eventually(t, 10*time.Second, func() bool {
		ms = o.collect(t)
		return ms.sum("kinesin.shards.owned") == 2 && len(o.spansNamed("shard start")) == 3
	}, "kinesin.shards.owned = %v, %d shard start spans", ms.sum("kinesin.shards.owned"), len(o.spansNamed("shard start")))
	checkBase(t, ms, m)
	if got := ms.sum("kinesin.decode.errors", shardIs(lower.ID)); got != 1 {
		t.Errorf("kinesin.decode.errors{%s} = %v, want 1", lower.ID, got)
	}
	if got := ms.sum("kinesin.decode.errors"); got != 1 {
		t.Errorf("kinesin.decode.errors = %v, want 1", got)
	}
	if got := ms.sum("kinesin.kpl.dropped", shardIs(lower.ID)); got != 3 {
		t.Errorf("kinesin.kpl.dropped{%s} = %v, want 3", lower.ID, got)
	}
	for id, want := range map[string]float64{parent: 3, lower.ID: 3} {
		if got := ms.sum("messaging.client.consumed.messages", shardIs(id)); got != want {
			t.Errorf("messaging.client.consumed.messages{%s} = %v, want %v", id, got, want)
		}
		if got := ms.sum("kinesin.records.uncommitted", shardIs(id)); got != want {
			t.Errorf("kinesin.records.uncommitted{%s} = %v before any commit, want %v", id, got, want)
		}
	}
	if got := ms.sum("kinesin.consumed.bytes"); got != 3*2+2*2+6 {
		t.Errorf("kinesin.consumed.bytes = %v, want %d", got, 3*2+2*2+6)
	}

	if p := ms.matching("kinesin.shard.millis_behind_latest", shardIs(parent)); len(p) != 0 {
		t.Errorf("kinesin.shard.millis_behind_latest of the parent, whose read is over: %v", p)
	}

	// The parent's read is over, but its records are still committed: its
	// commits and uncommitted records are reported until it is finished.
	for i, r := range recs {
		if (r.ShardID == parent) != (i < 3) {
			t.Fatalf("record %d is of %s", i, r.ShardID)
		}
		if i != 2 {
			r.Commit()
		}
	}
	ms = o.collect(t)
	if got := ms.sum("kinesin.commits"); got != 5 {
		t.Errorf("kinesin.commits = %v, want 5 (%v from the parent, whose read is over)", got, ms.sum("kinesin.commits", shardIs(parent)))
	}
	if got := ms.sum("kinesin.records.uncommitted", shardIs(parent)); got != 1 {
		t.Errorf("kinesin.records.uncommitted{%s} = %v, want 1", parent, got)
	}
	if got := ms.sum("kinesin.records.uncommitted"); got != 1 {
		t.Errorf("kinesin.records.uncommitted = %v, want 1", got)
	}
	// Its last record committed, the parent's end marker is written: it is
	// finished, and reported no more.
	recs[2].Commit()
	streamtest.Eventually(t, 5*time.Second, func() bool {
		ms = o.collect(t)
		return len(ms.matching("kinesin.commits", shardIs(parent))) == 0
	}, "kinesin.commits still reported for the finished parent")
	for _, name := range []string{"kinesin.records.uncommitted", "kinesin.shard.millis_behind_latest"} {
		if p := ms.matching(name, shardIs(parent)); len(p) != 0 {
			t.Errorf("%s of the finished parent: %v", name, p)
		}
	}
	if got := ms.sum("kinesin.commits", shardIs(lower.ID)); got != 3 {
		t.Errorf("kinesin.commits{%s} = %v, want 3", lower.ID, got)
	}
	if got := ms.sum("kinesin.checkpoint.writes", keyOutcome.String("ok")); got < 1 {
		t.Errorf("kinesin.checkpoint.writes{ok} = %v: the parent's end marker was not written", got)
	}

	ends := o.spansNamed("shard end")
	if len(ends) != 1 || ends[0].SpanKind() != trace.SpanKindInternal || !hasAttrs(spanAttrs(ends[0]), append(baseAttrs(m), shardIs(parent),
		attribute.StringSlice("kinesin.shard.children", kids[:]))...) {
		for _, s := range ends {
			t.Logf("shard end span: kind %v, attributes %v", s.SpanKind(), s.Attributes())
		}
		t.Errorf("%d shard end spans, want 1 for %s with children %v", len(ends), parent, kids)
	}
	for _, s := range o.spansNamed("shard start") {
		if id := spanAttr(s, keyShard); id != parent && !hasAttrs(spanAttrs(s), attribute.String("kinesin.shard.start_position", "TRIM_HORIZON")) {
			t.Errorf("shard start of child %s: %v", id, s.Attributes())
		}
	}
	if got := logs.find(slog.LevelInfo, "shard ended", "shard", parent); got != 1 {
		t.Errorf("%d INFO logs of the parent's end, want 1: %v", got, logs.all())
	}
	if got := logs.find(slog.LevelInfo, "reading shard", "", ""); got != 3 {
		t.Errorf("%d INFO logs of a shard's start, want 3: %v", got, logs.all())
	}
	if got := logs.find(slog.LevelWarn, "dropped the user records", "shard", lower.ID); got != 1 {
		t.Errorf("%d WARN logs of the dropped aggregate, want 1: %v", got, logs.all())
	}
}

// Spans of the background work (the readers' calls, shard starts, periodic
// checkpoint writes) are roots of their own traces, even when the context
// given to Open carries a span; a Flush is traced under the caller's span.
func TestTelemetryBackgroundSpansAreRoots(t *testing.T) {
	streamtest.EachModeParallel(t, testTelemetryBackgroundSpansAreRoots)
}

func testTelemetryBackgroundSpansAreRoots(t *testing.T, m streamtest.Mode) {
	fake := m.NewFake(t, 2)
	streamtest.FillShards(t, fake, streamtest.Stream, 10)
	o := newOTelSink(t)
	ctx, startup := o.tp.Tracer("app").Start(streamtest.Ctx(t, 20*time.Second), "startup")
	st := streamtest.Open(t, m, ctx, fake, kinesin.JSON[streamtest.Item], append(o.options(), kinesin.WithCheckpointInterval(time.Hour))...)
	c := streamtest.Collect(st, false)
	streamtest.Eventually(t, 10*time.Second, func() bool { return c.Count() == 20 }, "%d records", c.Count())
	startup.End()
	c.CommitPending()
	fctx, flush := o.tp.Tracer("app").Start(context.Background(), "flush")
	if err := st.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	flush.End()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	c.Wait(t, 5*time.Second)
	flushed := 0
	for _, s := range o.spans.Ended() {
		switch {
		case s.Name() == "startup" || s.Name() == "flush":
		case s.Name() == "checkpoint "+streamtest.Stream:
			if s.Parent().SpanID() != flush.SpanContext().SpanID() {
				t.Errorf("the span of Flush's write is not a child of the caller's span")
			}
			flushed++
		case s.Parent().IsValid():
			t.Errorf("span %s has parent %v (the span of Open's context is %v)", s.Name(), s.Parent().SpanID(), startup.SpanContext().SpanID())
			return
		}
	}
	if flushed != 1 {
		t.Errorf("%d checkpoint spans, want 1 for the Flush", flushed)
	}
}

// With no provider given, the stream's metrics and spans go to the global
// providers. It sets them, so it does not run in parallel; they are restored
// after.
func TestTelemetryGlobalProvidersByDefault(t *testing.T) {
	streamtest.EachMode(t, func(t *testing.T, m streamtest.Mode) {
		o := newOTelSink(t)
		prevMP, prevTP := otel.GetMeterProvider(), otel.GetTracerProvider()
		otel.SetMeterProvider(o.mp)
		otel.SetTracerProvider(o.tp)
		t.Cleanup(func() {
			otel.SetMeterProvider(prevMP)
			otel.SetTracerProvider(prevTP)
		})
		fake := m.NewFake(t, 2)
		streamtest.FillShards(t, fake, streamtest.Stream, 25)
		st := streamtest.Open(t, m, streamtest.Ctx(t, 20*time.Second), fake, kinesin.JSON[streamtest.Item], kinesin.WithApp(telApp))
		c := streamtest.Collect(st, true)
		streamtest.Eventually(t, 10*time.Second, func() bool { return c.Count() == 50 }, "%d records", c.Count())
		ms := o.collect(t)
		checkBase(t, ms, m)
		if got := ms.sum("messaging.client.consumed.messages"); got != 50 {
			t.Errorf("messaging.client.consumed.messages through the global meter provider = %v, want 50", got)
		}
		if got := ms.sum("kinesin.shards.owned"); got != 2 {
			t.Errorf("kinesin.shards.owned through the global meter provider = %v, want 2", got)
		}
		if n := len(o.spansNamed(readOps(m)[0])); n == 0 {
			t.Errorf("no %s span through the global tracer provider", readOps(m)[0])
		}
		if n := len(o.spansNamed("shard start")); n != 2 {
			t.Errorf("%d shard start spans through the global tracer provider, want 2", n)
		}
	})
}

// logStore keeps the log records of a handler and of those derived from it.
type logStore struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r logRecord) String() string {
	keys := make([]string, 0, len(r.attrs))
	for k := range r.attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", r.level, r.msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, r.attrs[k])
	}
	return b.String()
}

// handler returns a handler enabled at every level, recording into ls.
func (ls *logStore) handler() slog.Handler { return &recordingHandler{store: ls} }

func (ls *logStore) all() []logRecord {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return slices.Clone(ls.recs)
}

// find counts the records at level whose message starts with msg and, when
// key is not "", whose attribute key is value.
func (ls *logStore) find(level slog.Level, msg, key, value string) int {
	n := 0
	for _, r := range ls.all() {
		if r.level == level && strings.HasPrefix(r.msg, msg) && (key == "" || r.attrs[key] == value) {
			n++
		}
	}
	return n
}

// counts returns how many records there are of each level and message.
func (ls *logStore) counts() map[string]int {
	out := map[string]int{}
	for _, r := range ls.all() {
		out[r.level.String()+" "+r.msg]++
	}
	return out
}

type recordingHandler struct {
	store *logStore
	attrs []slog.Attr
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.store.mu.Lock()
	h.store.recs = append(h.store.recs, rec)
	h.store.mu.Unlock()
	return nil
}

func (h *recordingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordingHandler{store: h.store, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *recordingHandler) WithGroup(string) slog.Handler { return h }

// consumeLogged consumes a backlog of perShard records on each of shards
// shards, with throttles throttled calls of the mode's reading operation,
// logging to logs (nil: no WithLogger), and closes the stream.
func consumeLogged(t *testing.T, m streamtest.Mode, shards, perShard, throttles int, logs *logStore) {
	t.Helper()
	fake := m.NewFake(t, shards)
	streamtest.FillShards(t, fake, streamtest.Stream, perShard)
	if throttles > 0 {
		op := "GetRecords"
		if m.EFO {
			op = "SubscribeToShard"
		}
		fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: op}, Action: kinesistest.Throttle, Times: throttles})
	}
	var opts []kinesin.Option
	if logs != nil {
		opts = append(opts, kinesin.WithLogger(slog.New(logs.handler())))
	}
	st := streamtest.Open(t, m, streamtest.Ctx(t, 20*time.Second), fake, kinesin.JSON[streamtest.Item], opts...)
	c := streamtest.Collect(st, true)
	streamtest.Eventually(t, 15*time.Second, func() bool { return c.Count() == shards*perShard }, "%d records", c.Count())
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c.Wait(t, 5*time.Second)
}

// WithLogger: the start of each shard is logged at INFO with its id, each
// retry after a throttle at DEBUG with its error, and nothing per record: the
// same logs for 50 records a shard as for 1,000.
func TestTelemetryLogs(t *testing.T) {
	streamtest.EachModeParallel(t, testTelemetryLogs)
}

func testTelemetryLogs(t *testing.T, m streamtest.Mode) {
	const shards, throttles = 3, 3
	logs := &logStore{}
	consumeLogged(t, m, shards, 50, throttles, logs)
	for _, sh := range []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002"} {
		if n := logs.find(slog.LevelInfo, "reading shard", "shard", sh); n != 1 {
			t.Errorf("%d INFO logs of the start of %s, want 1", n, sh)
		}
	}
	retry := "GetRecords failed, retrying"
	if m.EFO {
		retry = "subscribing again after a failure"
	}
	if n := logs.find(slog.LevelDebug, retry, "", ""); n != throttles {
		t.Errorf("%d DEBUG logs %q, want %d", n, retry, throttles)
	}
	for _, r := range logs.all() {
		if r.attrs["stream"] != streamtest.Stream || r.attrs["app"] != kinesin.DefaultApp {
			t.Errorf("log without the stream and app: %v", r)
		}
		if r.msg == retry && (!strings.Contains(r.attrs["error"], "Exception") || r.attrs["wait"] == "") {
			t.Errorf("retry log without its error and wait: %v", r)
		}
	}

	small := logs.counts()
	more := &logStore{}
	consumeLogged(t, m, shards, 1000, throttles, more)
	if large := more.counts(); !mapsEqual(small, large) {
		t.Errorf("the logs depend on the number of records:\n\t50 a shard:    %v\n\t1,000 a shard: %v", small, large)
	}
	t.Logf("logs: %v", small)
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Without WithLogger, kinesin logs nothing, not even through slog's default
// logger. It sets the default logger, so it does not run in parallel; it is
// restored after.
func TestTelemetrySilentByDefault(t *testing.T) {
	streamtest.EachMode(t, func(t *testing.T, m streamtest.Mode) {
		logs := &logStore{}
		prev, w, flags := slog.Default(), log.Writer(), log.Flags()
		slog.SetDefault(slog.New(logs.handler()))
		t.Cleanup(func() {
			slog.SetDefault(prev)
			log.SetOutput(w) // SetDefault sent the log package's output to the handler
			log.SetFlags(flags)
		})
		consumeLogged(t, m, 2, 20, 2, nil)
		if recs := logs.all(); len(recs) != 0 {
			t.Errorf("%d records logged without WithLogger, first %v", len(recs), recs[0])
		}
	})
}

// With leases, lease changes are counted in kinesin.lease.events: acquired
// when a shard's lease is taken, renewed as it is renewed, released on Close.
func TestTelemetryLeaseEvents(t *testing.T) {
	fake := streamtest.NewFake(t, 2)
	sink := newOTelSink(t)
	ctx := streamtest.Ctx(t, 20*time.Second)
	st, err := kinesin.Open(ctx, streamtest.Stream, kinesin.JSON[streamtest.Item], append(sink.options(),
		kinesin.WithClient(fake.Client()), kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithLeases(memlease.New(), lease.WithLeaseDuration(streamtest.LeaseDuration), lease.WithCycleInterval(streamtest.LeaseCycle)))...)
	if err != nil {
		t.Fatal(err)
	}
	event := func(e string) float64 {
		return sink.collect(t).sum("kinesin.lease.events", attribute.String("event", e))
	}
	streamtest.Eventually(t, 10*time.Second, func() bool { return event("acquired") == 2 && event("renewed") >= 2 },
		"2 leases acquired and renewed (acquired %v, renewed %v)", event("acquired"), event("renewed"))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if got := event("released"); got != 2 {
		t.Errorf("%v leases released on Close, want 2", got)
	}
}
