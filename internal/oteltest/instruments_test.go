package oteltest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/kinesin-go/kinesin/internal/telemetry"
)

// harness is a Telemetry recording into the SDK: a manual reader and a span
// recorder.
type harness struct {
	t      *testing.T
	tel    *telemetry.Telemetry
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
}

func newHarness(t *testing.T, mode string) *harness {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = tp.Shutdown(context.Background())
	})
	tel, err := telemetry.New(mp, tp, "orders", "billing", mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tel.Close)
	return &harness{t: t, tel: tel, reader: reader, spans: spans}
}

// point is one data point, whatever its instrument's type.
type point struct {
	attrs attribute.Set
	value float64 // the sum of a histogram
	count uint64  // a histogram's count
}

// metric is what one instrument reported.
type metricOut struct {
	name, kind, unit string
	points           []point
}

// collect reads every instrument.
func (h *harness) collect() map[string]metricOut {
	h.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		h.t.Fatal(err)
	}
	out := make(map[string]metricOut)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != telemetry.ScopeName {
			h.t.Errorf("scope %q, want %q", sm.Scope.Name, telemetry.ScopeName)
		}
		for _, m := range sm.Metrics {
			mo := metricOut{name: m.Name, unit: m.Unit}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				mo.kind = "UpDownCounter"
				if d.IsMonotonic {
					mo.kind = "Counter"
				}
				for _, p := range d.DataPoints {
					mo.points = append(mo.points, point{attrs: p.Attributes, value: float64(p.Value)})
				}
			case metricdata.Gauge[int64]:
				mo.kind = "Gauge"
				for _, p := range d.DataPoints {
					mo.points = append(mo.points, point{attrs: p.Attributes, value: float64(p.Value)})
				}
			case metricdata.Histogram[float64]:
				mo.kind = "Histogram"
				for _, p := range d.DataPoints {
					mo.points = append(mo.points, point{attrs: p.Attributes, value: p.Sum, count: p.Count})
				}
			default:
				h.t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			out[m.Name] = mo
		}
	}
	return out
}

// sum adds the values of the points of name whose attributes include want.
func sum(ms map[string]metricOut, name string, want ...attribute.KeyValue) float64 {
	var s float64
	for _, p := range ms[name].points {
		if hasAll(p.attrs, want) {
			s += p.value
		}
	}
	return s
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

var base = []attribute.KeyValue{
	attribute.String("messaging.system", "aws_kinesis"),
	attribute.String("messaging.destination.name", "orders"),
	attribute.String("messaging.consumer.group.name", "billing"),
	attribute.String("kinesin.mode", "polling"),
}

func shardAttr(id string) attribute.KeyValue {
	return attribute.String("messaging.destination.partition.id", id)
}

func apiErr(code string) error {
	return &smithy.OperationError{ServiceID: "Kinesis", OperationName: "GetRecords",
		Err: &smithy.GenericAPIError{Code: code, Message: "boom"}}
}

var throttled = apiErr("ProvisionedThroughputExceededException")

// spec is the documented name, type, unit and attributes of an instrument.
type spec struct {
	name, kind, unit string
	keys             []string // besides the stream's attributes
	optional         []string // on some points only
}

const partition = "messaging.destination.partition.id"

var specs = []spec{
	{"messaging.client.consumed.messages", "Counter", "{message}", []string{partition, "messaging.operation.name"}, nil},
	{"kinesin.consumed.bytes", "Counter", "By", []string{partition}, nil},
	{"kinesin.decode.errors", "Counter", "{record}", []string{partition}, nil},
	{"kinesin.commits", "Counter", "{commit}", []string{partition}, nil},
	{"kinesin.records.uncommitted", "UpDownCounter", "{record}", []string{partition}, nil},
	{"kinesin.shard.millis_behind_latest", "Gauge", "ms", []string{partition}, nil},
	{"messaging.client.operation.duration", "Histogram", "s", []string{partition, "messaging.operation.name"}, []string{"error.type"}},
	{"kinesin.throttles", "Counter", "{call}", []string{partition, "messaging.operation.name"}, nil},
	{"kinesin.retries", "Counter", "{retry}", []string{partition, "messaging.operation.name"}, []string{"error.type"}},
	{"kinesin.kpl.dropped", "Counter", "{record}", []string{partition}, nil},
	{"kinesin.checkpoint.writes", "Counter", "{write}", []string{"outcome"}, []string{"error.type"}},
	{"kinesin.checkpoint.write.duration", "Histogram", "s", []string{"outcome"}, nil},
	{"kinesin.shards.owned", "UpDownCounter", "{shard}", nil, nil},
	{"kinesin.lease.events", "Counter", "{event}", []string{partition, "event"}, nil},
}

// exercise calls every method once, so that every instrument reports.
func exercise(tel *telemetry.Telemetry) {
	ctx := context.Background()
	var commits atomic.Uint64
	commits.Add(3)
	sh := tel.Shard("shardId-000000000000", telemetry.ShardSources{Commits: commits.Load, Uncommitted: func() int { return 2 }})
	now := time.Now()
	sh.Delivered(ctx, 5, 100)
	sh.DecodeErrors(1)
	sh.Dropped(1)
	sh.Lag(1500)
	sh.Operation(ctx, telemetry.OpGetRecords, now, 20*time.Millisecond, nil)
	sh.Operation(ctx, telemetry.OpGetRecords, now, 20*time.Millisecond, throttled)
	sh.Retry(telemetry.OpGetRecords, throttled)
	sh.Throttle(telemetry.OpGetShardIterator)
	tel.CheckpointWrite(ctx, 1, 3*time.Millisecond, nil)
	tel.CheckpointWrite(ctx, 1, 3*time.Millisecond, apiErr("ConditionalCheckFailedException"))
	tel.ShardStarted(ctx, "shardId-000000000000", "TRIM_HORIZON")
	tel.ShardEnded(ctx, "shardId-000000000000", []string{"shardId-000000000001"})
	tel.Lease(telemetry.LeaseAcquired, "shardId-000000000000")
}

func TestInstrumentsAsDocumented(t *testing.T) {
	h := newHarness(t, telemetry.ModePolling)
	exercise(h.tel)
	ms := h.collect()
	if len(ms) != len(specs) {
		t.Errorf("%d instruments reported, %d documented", len(ms), len(specs))
	}
	for _, s := range specs {
		m, ok := ms[s.name]
		if !ok {
			t.Errorf("%s: not reported", s.name)
			continue
		}
		if m.kind != s.kind || m.unit != s.unit {
			t.Errorf("%s: %s in %q, want %s in %q", s.name, m.kind, m.unit, s.kind, s.unit)
		}
		for _, p := range m.points {
			if !hasAll(p.attrs, base) {
				t.Errorf("%s: point %v lacks the stream's attributes", s.name, p.attrs.ToSlice())
			}
			want := append(slices.Clone(s.keys), "messaging.system", "messaging.destination.name", "messaging.consumer.group.name", "kinesin.mode")
			for _, k := range want {
				if !p.attrs.HasValue(attribute.Key(k)) {
					t.Errorf("%s: point %v lacks %s", s.name, p.attrs.ToSlice(), k)
				}
			}
			for _, kv := range p.attrs.ToSlice() {
				if !slices.Contains(want, string(kv.Key)) && !slices.Contains(s.optional, string(kv.Key)) {
					t.Errorf("%s: undocumented attribute %s", s.name, kv.Key)
				}
			}
		}
	}
}

// TestInstrumentsMarkdown checks that INSTRUMENTS.md, pasted into the
// README, lists the instruments as they are.
func TestInstrumentsMarkdown(t *testing.T) {
	md, err := os.ReadFile("../telemetry/INSTRUMENTS.md")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{
		"Counter": "Counter", "ObservableCounter": "Counter", "Histogram": "Histogram",
		"ObservableGauge": "Gauge", "ObservableUpDownCounter": "UpDownCounter", "UpDownCounter": "UpDownCounter",
	}
	rows := map[string]spec{}
	for line := range strings.Lines(string(md)) {
		cells := strings.Split(strings.TrimSpace(line), "|")
		if len(cells) != 7 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue // not a row of the instruments' table
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if _, isMetric := kinds[strings.TrimSpace(cells[2])]; !isMetric {
			continue // the spans' table
		}
		var keys []string
		for _, k := range strings.Split(cells[4], ",") {
			if k = strings.Trim(strings.TrimSpace(k), "`"); k != "" {
				keys = append(keys, k)
			}
		}
		rows[name] = spec{name: name, kind: kinds[strings.TrimSpace(cells[2])], unit: strings.Trim(strings.TrimSpace(cells[3]), "`"), keys: keys}
	}
	if len(rows) != len(specs) {
		t.Errorf("INSTRUMENTS.md lists %d instruments, want %d", len(rows), len(specs))
	}
	for _, s := range specs {
		r, ok := rows[s.name]
		if !ok {
			t.Errorf("INSTRUMENTS.md: %s is missing", s.name)
			continue
		}
		want := append(slices.Clone(s.keys), s.optional...)
		slices.Sort(want)
		slices.Sort(r.keys)
		if r.kind != s.kind || r.unit != s.unit || !slices.Equal(r.keys, want) {
			t.Errorf("INSTRUMENTS.md: %s is a %s in %q with %v, want a %s in %q with %v", s.name, r.kind, r.unit, r.keys, s.kind, s.unit, want)
		}
	}
	// The package documentation names them too.
	doc, err := os.ReadFile("../telemetry/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if !strings.Contains(string(doc), "//\t"+s.name+" ") {
			t.Errorf("internal/telemetry/doc.go: %s is not in the package documentation's table", s.name)
		}
	}
}

func TestCountersSumWhatWasReported(t *testing.T) {
	h := newHarness(t, telemetry.ModePolling)
	ctx := context.Background()
	a := h.tel.Shard("shardId-a", telemetry.ShardSources{})
	b := h.tel.Shard("shardId-b", telemetry.ShardSources{})
	for i := range 10 {
		a.Delivered(ctx, 500, 500*100)
		b.Delivered(ctx, i, i*10)
	}
	a.DecodeErrors(3)
	a.DecodeErrors(0)
	b.Dropped(7)
	now := time.Now()
	a.Operation(ctx, telemetry.OpGetRecords, now, 10*time.Millisecond, nil)
	a.Operation(ctx, telemetry.OpGetRecords, now, 30*time.Millisecond, throttled)
	a.Operation(ctx, telemetry.OpGetRecords, now, 40*time.Millisecond, throttled)
	a.Operation(ctx, telemetry.OpGetShardIterator, now, 50*time.Millisecond, apiErr("InternalFailure"))
	a.Retry(telemetry.OpGetRecords, throttled)
	a.Retry(telemetry.OpGetRecords, io.ErrUnexpectedEOF)
	b.Throttle(telemetry.OpSubscribeToShard)
	h.tel.CheckpointWrite(ctx, 2, 5*time.Millisecond, nil)
	h.tel.CheckpointWrite(ctx, 2, 7*time.Millisecond, nil)
	h.tel.CheckpointWrite(ctx, 2, 9*time.Millisecond, apiErr("ConditionalCheckFailedException"))
	h.tel.Lease(telemetry.LeaseAcquired, "shardId-a")
	h.tel.Lease(telemetry.LeaseLost, "shardId-a")
	h.tel.Lease(telemetry.LeaseAcquired, "shardId-b")

	ms := h.collect()
	op := func(name string) attribute.KeyValue { return attribute.String("messaging.operation.name", name) }
	errType := func(name string) attribute.KeyValue { return attribute.String("error.type", name) }
	checks := []struct {
		name  string
		attrs []attribute.KeyValue
		want  float64
	}{
		{"messaging.client.consumed.messages", []attribute.KeyValue{shardAttr("shardId-a"), op("GetRecords")}, 5000},
		{"messaging.client.consumed.messages", []attribute.KeyValue{shardAttr("shardId-b")}, 45},
		{"kinesin.consumed.bytes", []attribute.KeyValue{shardAttr("shardId-a")}, 500000},
		{"kinesin.consumed.bytes", []attribute.KeyValue{shardAttr("shardId-b")}, 450},
		{"kinesin.decode.errors", []attribute.KeyValue{shardAttr("shardId-a")}, 3},
		{"kinesin.kpl.dropped", []attribute.KeyValue{shardAttr("shardId-b")}, 7},
		{"kinesin.throttles", []attribute.KeyValue{shardAttr("shardId-a"), op("GetRecords")}, 2},
		{"kinesin.throttles", []attribute.KeyValue{shardAttr("shardId-b"), op("SubscribeToShard")}, 1},
		{"kinesin.retries", []attribute.KeyValue{shardAttr("shardId-a"), errType("ProvisionedThroughputExceededException")}, 1},
		{"kinesin.retries", []attribute.KeyValue{shardAttr("shardId-a"), errType("_OTHER")}, 1},
		{"kinesin.checkpoint.writes", []attribute.KeyValue{attribute.String("outcome", "ok")}, 2},
		{"kinesin.checkpoint.writes", []attribute.KeyValue{attribute.String("outcome", "error"), errType("ConditionalCheckFailedException")}, 1},
		{"kinesin.lease.events", []attribute.KeyValue{attribute.String("event", "acquired")}, 2},
		{"kinesin.lease.events", []attribute.KeyValue{attribute.String("event", "lost"), shardAttr("shardId-a")}, 1},
	}
	for _, c := range checks {
		if got := sum(ms, c.name, c.attrs...); got != c.want {
			t.Errorf("%s %v = %v, want %v", c.name, c.attrs, got, c.want)
		}
	}

	// The histograms: one point per attribute set, with count and sum.
	hist := func(name string, attrs ...attribute.KeyValue) (uint64, float64) {
		var n uint64
		var s float64
		for _, p := range ms[name].points {
			if hasAll(p.attrs, attrs) {
				n += p.count
				s += p.value
			}
		}
		return n, s
	}
	if n, s := hist("messaging.client.operation.duration", op("GetRecords")); n != 3 || !near(s, 0.08) {
		t.Errorf("GetRecords durations: %d summing %v, want 3 summing 0.08", n, s)
	}
	if n, _ := hist("messaging.client.operation.duration", op("GetRecords"), errType("ProvisionedThroughputExceededException")); n != 2 {
		t.Errorf("throttled GetRecords durations: %d, want 2", n)
	}
	if n, _ := hist("messaging.client.operation.duration", op("GetShardIterator"), errType("InternalFailure")); n != 1 {
		t.Errorf("failed GetShardIterator durations: %d, want 1", n)
	}
	for _, p := range ms["messaging.client.operation.duration"].points {
		if v, _ := p.attrs.Value("error.type"); v.AsString() == "" && p.count != 1 {
			t.Errorf("successful calls: %d, want 1", p.count)
		}
	}
	if n, s := hist("kinesin.checkpoint.write.duration", attribute.String("outcome", "ok")); n != 2 || !near(s, 0.012) {
		t.Errorf("checkpoint write durations: %d summing %v, want 2 summing 0.012", n, s)
	}
	if n, _ := hist("kinesin.checkpoint.write.duration", attribute.String("outcome", "error")); n != 1 {
		t.Errorf("failed checkpoint write durations: %d, want 1", n)
	}
}

func hasKey(set attribute.Set, key string) bool { return set.HasValue(attribute.Key(key)) }

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestContextEndIsNotAFailure(t *testing.T) {
	h := newHarness(t, telemetry.ModePolling)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sh := h.tel.Shard("shardId-a", telemetry.ShardSources{})
	sh.Operation(ctx, telemetry.OpGetRecords, time.Now(), time.Millisecond, ctx.Err())
	sh.Operation(ctx, telemetry.OpGetRecords, time.Now(), time.Millisecond,
		&smithy.OperationError{ServiceID: "Kinesis", OperationName: "GetRecords", Err: &smithyhttp.RequestSendError{Err: ctx.Err()}})
	sh.Retry(telemetry.OpGetRecords, context.Canceled)
	h.tel.CheckpointWrite(ctx, 1, time.Millisecond, fmt.Errorf("saving: %w", context.Canceled))
	ms := h.collect()
	for _, name := range []string{"messaging.client.operation.duration", "kinesin.retries", "kinesin.checkpoint.writes", "kinesin.checkpoint.write.duration"} {
		if len(ms[name].points) != 0 {
			t.Errorf("%s: %d points after calls cut short by their context", name, len(ms[name].points))
		}
	}
	spans := h.spans.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	for _, s := range spans {
		if s.Status().Code == codes.Error {
			t.Errorf("span %s: status %v after its context ended", s.Name(), s.Status())
		}
	}
}

func TestObservablesReadTheLatestValues(t *testing.T) {
	h := newHarness(t, telemetry.ModeEFO)
	var commits atomic.Uint64
	var uncommitted atomic.Int64
	a := h.tel.Shard("shardId-a", telemetry.ShardSources{Commits: commits.Load, Uncommitted: func() int { return int(uncommitted.Load()) }})
	b := h.tel.Shard("shardId-b", telemetry.ShardSources{})

	ms := h.collect()
	if n := len(ms["kinesin.shard.millis_behind_latest"].points); n != 0 {
		t.Errorf("lag reported for %d shards before any Lag call", n)
	}
	if got := sum(ms, "kinesin.shards.owned"); got != 2 {
		t.Errorf("shards owned = %v, want 2", got)
	}

	a.Lag(90000)
	a.Lag(1200)
	b.Lag(0)
	commits.Add(10)
	uncommitted.Store(40)
	ms = h.collect()
	if got := sum(ms, "kinesin.shard.millis_behind_latest", shardAttr("shardId-a")); got != 1200 {
		t.Errorf("lag of a = %v, want 1200", got)
	}
	if got := sum(ms, "kinesin.shard.millis_behind_latest", shardAttr("shardId-b")); got != 0 || len(ms["kinesin.shard.millis_behind_latest"].points) != 2 {
		t.Errorf("lag of b = %v in %d points, want 0 in 2", got, len(ms["kinesin.shard.millis_behind_latest"].points))
	}
	if got := sum(ms, "kinesin.commits", shardAttr("shardId-a")); got != 10 {
		t.Errorf("commits = %v, want 10", got)
	}
	if got := sum(ms, "kinesin.records.uncommitted", shardAttr("shardId-a")); got != 40 {
		t.Errorf("uncommitted = %v, want 40", got)
	}
	if n := len(ms["kinesin.commits"].points); n != 1 {
		t.Errorf("commits reported for %d shards, want 1 (b has no source)", n)
	}
	commits.Add(5)
	uncommitted.Store(0)
	ms = h.collect()
	if got := sum(ms, "kinesin.commits"); got != 15 {
		t.Errorf("commits = %v, want 15", got)
	}
	if got := sum(ms, "kinesin.records.uncommitted"); got != 0 {
		t.Errorf("uncommitted = %v, want 0", got)
	}
}

func TestCloseUnregistersCallbacks(t *testing.T) {
	h := newHarness(t, telemetry.ModePolling)
	calls := 0
	src := telemetry.ShardSources{Commits: func() uint64 { calls++; return 1 }}
	a := h.tel.Shard("shardId-a", src)
	b := h.tel.Shard("shardId-b", telemetry.ShardSources{Commits: func() uint64 { return 2 }})
	a.Lag(5)
	b.Lag(6)
	h.collect()
	if calls != 1 {
		t.Fatalf("source read %d times in a collection, want 1", calls)
	}

	a.Close()
	a.Close() // idempotent
	ms := h.collect()
	if calls != 1 {
		t.Errorf("the source of a closed shard was read")
	}
	for _, name := range []string{"kinesin.commits", "kinesin.shard.millis_behind_latest"} {
		if got := sum(ms, name, shardAttr("shardId-a")); got != 0 {
			t.Errorf("%s of a closed shard = %v", name, got)
		}
		if n := len(ms[name].points); n != 1 {
			t.Errorf("%s: %d points, want b's only", name, n)
		}
	}
	if got := sum(ms, "kinesin.shards.owned"); got != 1 {
		t.Errorf("shards owned = %v, want 1", got)
	}
	a.Delivered(context.Background(), 1, 1) // still works
	if got := sum(h.collect(), "messaging.client.consumed.messages", shardAttr("shardId-a")); got != 1 {
		t.Errorf("consumed after Close = %v, want 1", got)
	}

	// Opening a shard again replaces the handle: it is observed once.
	b2 := h.tel.Shard("shardId-b", telemetry.ShardSources{Commits: func() uint64 { return 7 }})
	ms = h.collect()
	if got := sum(ms, "kinesin.commits", shardAttr("shardId-b")); got != 7 {
		t.Errorf("commits of the reopened shard = %v, want 7", got)
	}
	if got := sum(ms, "kinesin.shards.owned"); got != 1 {
		t.Errorf("shards owned = %v, want 1", got)
	}
	b.Close() // closing the replaced handle leaves the new one
	if got := sum(h.collect(), "kinesin.shards.owned"); got != 1 {
		t.Errorf("shards owned after closing the replaced handle = %v, want 1", got)
	}

	h.tel.Close()
	h.tel.Close()
	ms = h.collect()
	for _, name := range []string{"kinesin.commits", "kinesin.shards.owned", "kinesin.shard.millis_behind_latest"} {
		if n := len(ms[name].points); n != 0 {
			t.Errorf("%s: %d points after Telemetry.Close", name, n)
		}
	}
	b2.Close()
	// A shard opened after Close is not observed.
	h.tel.Shard("shardId-c", telemetry.ShardSources{Commits: func() uint64 { return 1 }}).Lag(3)
	if n := len(h.collect()["kinesin.commits"].points); n != 0 {
		t.Errorf("a shard opened after Close is observed")
	}
}

func TestSpans(t *testing.T) {
	h := newHarness(t, telemetry.ModePolling)
	ctx := context.Background()
	sh := h.tel.Shard("shardId-a", telemetry.ShardSources{})
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sh.Operation(ctx, telemetry.OpGetRecords, start, 25*time.Millisecond, nil)
	sh.Operation(ctx, telemetry.OpGetShardIterator, start, 5*time.Millisecond, throttled)
	sh.Delivered(ctx, 1, 1)
	h.tel.CheckpointWrite(ctx, 3, 10*time.Millisecond, nil)
	h.tel.CheckpointWrite(ctx, 3, 10*time.Millisecond, errors.New("store down"))
	h.tel.ShardStarted(ctx, "shardId-a", "TRIM_HORIZON")
	h.tel.ShardEnded(ctx, "shardId-a", []string{"shardId-b", "shardId-c"})

	spans := h.spans.Ended()
	names := make([]string, len(spans))
	for i, s := range spans {
		names[i] = s.Name()
	}
	want := []string{"GetRecords", "GetShardIterator", "checkpoint orders", "checkpoint orders", "shard start", "shard end"}
	if !slices.Equal(names, want) {
		t.Fatalf("spans %q, want %q", names, want)
	}
	attrsOf := func(s sdktrace.ReadOnlySpan) attribute.Set { return attribute.NewSet(s.Attributes()...) }

	get := spans[0]
	if get.SpanKind() != trace.SpanKindClient {
		t.Errorf("GetRecords: kind %v, want client", get.SpanKind())
	}
	if !get.StartTime().Equal(start) || !get.EndTime().Equal(start.Add(25*time.Millisecond)) {
		t.Errorf("GetRecords: %v to %v, want %v to %v", get.StartTime(), get.EndTime(), start, start.Add(25*time.Millisecond))
	}
	if !hasAll(attrsOf(get), append(slices.Clone(base), shardAttr("shardId-a"),
		attribute.String("messaging.operation.name", "GetRecords"), attribute.String("messaging.operation.type", "receive"))) {
		t.Errorf("GetRecords: attributes %v", get.Attributes())
	}
	if get.Status().Code != codes.Unset || hasKey(attrsOf(get), "error.type") {
		t.Errorf("GetRecords: status %v, attributes %v for a success", get.Status(), get.Attributes())
	}
	if get.Parent().IsValid() {
		t.Errorf("GetRecords: has a parent")
	}

	iter := spans[1]
	if iter.Status().Code != codes.Error || !strings.Contains(iter.Status().Description, "ProvisionedThroughputExceededException") {
		t.Errorf("GetShardIterator: status %v, want an error", iter.Status())
	}
	if !hasAll(attrsOf(iter), []attribute.KeyValue{attribute.String("error.type", "ProvisionedThroughputExceededException"),
		attribute.String("messaging.operation.name", "GetShardIterator")}) || hasKey(attrsOf(iter), "messaging.operation.type") {
		t.Errorf("GetShardIterator: attributes %v", iter.Attributes())
	}

	cp := spans[2]
	if cp.SpanKind() != trace.SpanKindClient || cp.EndTime().Sub(cp.StartTime()) != 10*time.Millisecond {
		t.Errorf("checkpoint: kind %v, lasting %v", cp.SpanKind(), cp.EndTime().Sub(cp.StartTime()))
	}
	if !hasAll(attrsOf(cp), append(slices.Clone(base), attribute.String("messaging.operation.name", "checkpoint"),
		attribute.String("messaging.operation.type", "settle"), attribute.Int("kinesin.checkpoint.shards", 3))) {
		t.Errorf("checkpoint: attributes %v", cp.Attributes())
	}
	if cp.Status().Code != codes.Unset {
		t.Errorf("checkpoint: status %v for a success", cp.Status())
	}
	if failed := spans[3]; failed.Status().Code != codes.Error || !hasAll(attrsOf(failed), []attribute.KeyValue{attribute.String("error.type", "_OTHER")}) {
		t.Errorf("failed checkpoint: status %v, attributes %v", failed.Status(), failed.Attributes())
	}

	started, ended := spans[4], spans[5]
	if started.SpanKind() != trace.SpanKindInternal || !hasAll(attrsOf(started), append(slices.Clone(base), shardAttr("shardId-a"), attribute.String("kinesin.shard.start_position", "TRIM_HORIZON"))) {
		t.Errorf("shard start: kind %v, attributes %v", started.SpanKind(), started.Attributes())
	}
	if !hasAll(attrsOf(ended), append(slices.Clone(base), shardAttr("shardId-a"), attribute.StringSlice("kinesin.shard.children", []string{"shardId-b", "shardId-c"}))) {
		t.Errorf("shard end: attributes %v", ended.Attributes())
	}
}

func TestSpanParentFromContext(t *testing.T) {
	h := newHarness(t, telemetry.ModeEFO)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "close")
	h.tel.CheckpointWrite(ctx, 1, time.Millisecond, nil)
	parent.End()
	spans := h.spans.Ended()
	if len(spans) != 2 || spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("the checkpoint span is not a child of the context's span")
	}
}

func TestEFOReadsWithSubscribeToShard(t *testing.T) {
	h := newHarness(t, telemetry.ModeEFO)
	h.tel.Shard("shardId-a", telemetry.ShardSources{}).Delivered(context.Background(), 4, 40)
	ms := h.collect()
	want := []attribute.KeyValue{attribute.String("kinesin.mode", "efo"), attribute.String("messaging.operation.name", "SubscribeToShard")}
	if got := sum(ms, "messaging.client.consumed.messages", want...); got != 4 {
		t.Errorf("consumed %v = %v, want 4", want, got)
	}
}

func TestNoopTracerStartsNoSpans(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tel, err := telemetry.New(mp, tracenoop.NewTracerProvider(), "orders", "billing", telemetry.ModePolling)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Close()
	sh := tel.Shard("shardId-a", telemetry.ShardSources{})
	// Metrics are still recorded.
	sh.Operation(context.Background(), telemetry.OpGetRecords, time.Now(), time.Millisecond, nil)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.ScopeMetrics) != 1 || len(rm.ScopeMetrics[0].Metrics) == 0 {
		t.Errorf("no metrics recorded with a no-op tracer provider")
	}
}

func TestNilProvidersAreTheGlobalOnes(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	// Before any global provider is set, spans are skipped at no cost. (Once
	// set, the global providers cannot be unset: with -count=2 this part is
	// skipped.)
	var early *telemetry.Telemetry
	if reflect.TypeOf(otel.GetTracerProvider()).Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global" {
		var err error
		if early, err = telemetry.New(nil, nil, "orders", "billing", telemetry.ModePolling); err != nil {
			t.Fatal(err)
		}
		defer early.Close()
		sh := early.Shard("shardId-early", telemetry.ShardSources{})
		if n := testing.AllocsPerRun(100, func() { sh.Operation(ctx, telemetry.OpGetRecords, start, time.Millisecond, nil) }); n != 0 {
			t.Errorf("Operation: %v allocations per call with the global tracer provider unset", n)
		}
	}

	reader := sdkmetric.NewManualReader()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	spans := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))

	tel, err := telemetry.New(nil, nil, "orders", "billing", telemetry.ModePolling)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Close()
	sh := tel.Shard("shardId-a", telemetry.ShardSources{})
	sh.Delivered(ctx, 3, 30)
	sh.Operation(ctx, telemetry.OpGetRecords, start, time.Millisecond, nil)
	wantSpans := 1
	if early != nil {
		// Made before the providers were set, it uses them now.
		sh := early.Shard("shardId-early", telemetry.ShardSources{})
		sh.Delivered(ctx, 4, 40)
		sh.Operation(ctx, telemetry.OpGetRecords, start, time.Millisecond, nil)
		wantSpans++
	}
	h := &harness{t: t, reader: reader}
	ms := h.collect()
	if got := sum(ms, "messaging.client.consumed.messages", shardAttr("shardId-a")); got != 3 {
		t.Errorf("consumed through the global meter provider = %v, want 3", got)
	}
	if got := sum(ms, "messaging.client.consumed.messages", shardAttr("shardId-early")); early != nil && got != 4 {
		t.Errorf("consumed through the global meter provider set late = %v, want 4", got)
	}
	if n := len(spans.Ended()); n != wantSpans {
		t.Errorf("%d spans through the global tracer provider, want %d", n, wantSpans)
	}
}

func TestNilIsValid(t *testing.T) {
	var tel *telemetry.Telemetry
	sh := tel.Shard("shardId-a", telemetry.ShardSources{})
	if sh != nil {
		t.Fatal("a nil Telemetry gave a Shard")
	}
	ctx := context.Background()
	sh.Delivered(ctx, 1, 1)
	sh.DecodeErrors(1)
	sh.Dropped(1)
	sh.Lag(1)
	sh.Operation(ctx, telemetry.OpGetRecords, time.Now(), time.Second, nil)
	sh.Retry(telemetry.OpGetRecords, throttled)
	sh.Throttle(telemetry.OpGetRecords)
	sh.Close()
	tel.CheckpointWrite(ctx, 1, time.Second, nil)
	tel.ShardStarted(ctx, "a", "LATEST")
	tel.ShardEnded(ctx, "a", nil)
	tel.Lease(telemetry.LeaseLost, "a")
	tel.Close()
}

func TestNoAllocationsWithNoopProviders(t *testing.T) {
	tel, err := telemetry.New(metricnoop.NewMeterProvider(), tracenoop.NewTracerProvider(), "orders", "billing", telemetry.ModePolling)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Close()
	sh := tel.Shard("shardId-000000000000", telemetry.ShardSources{})
	ctx := context.Background()
	start := time.Now()
	sh.Operation(ctx, telemetry.OpGetRecords, start, time.Millisecond, throttled) // computes the error's attributes once
	calls := map[string]func(){
		"Delivered":       func() { sh.Delivered(ctx, 500, 500*1024) },
		"Lag":             func() { sh.Lag(1234) },
		"Operation":       func() { sh.Operation(ctx, telemetry.OpGetRecords, start, time.Millisecond, nil) },
		"DecodeErrors":    func() { sh.DecodeErrors(2) },
		"Dropped":         func() { sh.Dropped(2) },
		"Throttle":        func() { sh.Throttle(telemetry.OpGetRecords) },
		"CheckpointWrite": func() { tel.CheckpointWrite(ctx, 4, time.Millisecond, nil) },
	}
	for name, f := range calls {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per call with no-op providers", name, n)
		}
	}
}

// TestPerBatchCallsDoNotAllocateWithTheSDKMeter: with the SDK's meter and
// tracing off, the per-batch calls reuse their attribute sets.
func TestPerBatchCallsDoNotAllocateWithTheSDKMeter(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	tel, err := telemetry.New(mp, tracenoop.NewTracerProvider(), "orders", "billing", telemetry.ModePolling)
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Close()
	sh := tel.Shard("shardId-000000000000", telemetry.ShardSources{})
	ctx := context.Background()
	start := time.Now()
	sh.Delivered(ctx, 1, 1)
	sh.Operation(ctx, telemetry.OpGetRecords, start, time.Millisecond, nil)
	for name, f := range map[string]func(){
		"Delivered": func() { sh.Delivered(ctx, 500, 500*1024) },
		"Operation": func() { sh.Operation(ctx, telemetry.OpGetRecords, start, time.Millisecond, nil) },
		"Lag":       func() { sh.Lag(1234) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per call with the SDK's meter", name, n)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, telemetry.ModePolling)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				h.collect()
			}
		}
	})
	var workers sync.WaitGroup
	for i := range 8 {
		workers.Go(func() {
			ctx := context.Background()
			var commits atomic.Uint64
			for j := range 200 {
				sh := h.tel.Shard(fmt.Sprintf("shardId-%d", i%4), telemetry.ShardSources{Commits: commits.Load})
				sh.Delivered(ctx, 10, 100)
				sh.Lag(int64(j))
				commits.Add(1)
				sh.Operation(ctx, telemetry.OpGetRecords, time.Now(), time.Millisecond, throttled)
				sh.Retry(telemetry.OpGetRecords, throttled)
				h.tel.CheckpointWrite(ctx, 1, time.Millisecond, nil)
				if j%2 == 0 {
					sh.Close()
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	if got := sum(h.collect(), "messaging.client.consumed.messages"); got != 8*200*10 {
		t.Errorf("consumed = %v, want %d", got, 8*200*10)
	}
}

func TestErrorType(t *testing.T) {
	type myErr struct{ error }
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{apiErr("ProvisionedThroughputExceededException"), "ProvisionedThroughputExceededException"},
		{fmt.Errorf("polling: GetRecords on shardId-0: %w", apiErr("ExpiredIteratorException")), "ExpiredIteratorException"},
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("saving: %w", context.DeadlineExceeded), "timeout"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, "*net.OpError"},
		{&smithy.OperationError{ServiceID: "Kinesis", OperationName: "GetRecords", Err: &smithyhttp.RequestSendError{
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}}, "*net.OpError"},
		{io.EOF, "_OTHER"},
		{fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), "_OTHER"},
		{errors.Join(myErr{errors.New("x")}, io.EOF), "oteltest_test.myErr"},
		{typedErr{}, "conflict"},
	}
	for _, c := range cases {
		if got := telemetry.ErrorType(c.err); got != c.want {
			t.Errorf("ErrorType(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

type typedErr struct{}

func (typedErr) Error() string     { return "typed" }
func (typedErr) ErrorType() string { return "conflict" }

// interface checks: the noop instruments satisfy what New falls back to.
var _ metric.Int64Counter = metricnoop.Int64Counter{}
