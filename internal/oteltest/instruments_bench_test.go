package oteltest_test

import (
	"context"
	"testing"
	"time"

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

// BenchmarkInstrumentation measures what the telemetry of one batch of 500
// records costs a shard reader, per record: the calls the core makes per
// GetRecords call (Operation, Lag, Delivered), with no-op providers and with
// the SDK's (a manual reader, and a tracer provider recording every span).
func BenchmarkInstrumentation(b *testing.B) {
	const batch = 500
	run := func(b *testing.B, mp metric.MeterProvider, tp trace.TracerProvider, reset func()) {
		tel, err := telemetry.New(mp, tp, "orders", "billing", telemetry.ModePolling)
		if err != nil {
			b.Fatal(err)
		}
		defer tel.Close()
		sh := tel.Shard("shardId-000000000000", telemetry.ShardSources{Commits: func() uint64 { return 0 }, Uncommitted: func() int { return 0 }})
		defer sh.Close()
		ctx := context.Background()
		start := time.Now()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			sh.Operation(ctx, telemetry.OpGetRecords, start, 20*time.Millisecond, nil)
			sh.Lag(int64(i))
			sh.Delivered(ctx, batch, batch*1024)
			if reset != nil && i%4096 == 4095 {
				b.StopTimer()
				reset()
				b.StartTimer()
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/batch, "ns/record")
	}
	b.Run("noop", func(b *testing.B) {
		run(b, metricnoop.NewMeterProvider(), tracenoop.NewTracerProvider(), nil)
	})
	b.Run("sdk", func(b *testing.B) {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		spans := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
		defer func() {
			_ = mp.Shutdown(context.Background())
			_ = tp.Shutdown(context.Background())
		}()
		run(b, mp, tp, func() {
			spans.Reset() // keeps memory bounded; collecting is the reader's cost, not the reader's caller's
			var rm metricdata.ResourceMetrics
			_ = reader.Collect(context.Background(), &rm)
		})
	})
	b.Run("sdk-metrics-only", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer func() { _ = mp.Shutdown(context.Background()) }()
		run(b, mp, tracenoop.NewTracerProvider(), nil)
	})
}
