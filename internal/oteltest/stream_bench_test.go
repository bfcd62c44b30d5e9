package oteltest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/internal/streamtest"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

// BenchmarkInstrumentation consumes a streamtest.Backlog of 4 × 20,000 records of 200
// bytes through the in-process fake, unpaced, with OpenTelemetry's no-op
// providers (the cost of the instrumentation when it is off) and with the
// SDK's (a meter provider with a manual reader, collected after each run, and
// a tracer provider recording every span). Each iteration consumes the
// streamtest.Backlog once with each, in turn, so that both see the same machine: the
// figures are noop-ns/record, sdk-ns/record and their difference,
// sdk-extra-ns/record. batch=100 reads 100 records a call instead of up to
// 10,000: a hundred times more calls, batches and spans per record.
func BenchmarkStreamInstrumentation(b *testing.B) {
	const perShard = 20000
	fake := kinesistest.New(b)
	streamtest.Backlog(b, fake, perShard)
	client := fake.Client()
	total := streamtest.BenchShards * perShard

	for _, batch := range []int{0, 100} {
		name := "batch=10000"
		if batch > 0 {
			name = fmt.Sprintf("batch=%d", batch)
		}
		b.Run(name, func(b *testing.B) {
			// Unpaced, as BenchmarkConsume/vs-bare: no wait between calls and
			// no read-rate pacing (the default ReadRate, 2 MiB/s a shard,
			// would make the figures the pacing's, not the instrumentation's).
			pace := kinesin.WithPolling(polling.Options{MaxRecords: batch, MinInterval: time.Nanosecond,
				IdleInterval: time.Millisecond, ReadRate: 1 << 40})
			var (
				took    [2]time.Duration
				mallocs [2]uint64
				spans   int
			)
			consume := func(sdk bool) {
				opts := []kinesin.Option{pace, kinesin.WithMeterProvider(metricnoop.NewMeterProvider()), kinesin.WithTracerProvider(tracenoop.NewTracerProvider())}
				var reader *sdkmetric.ManualReader
				var rec *tracetest.SpanRecorder
				if sdk {
					reader, rec = sdkmetric.NewManualReader(), tracetest.NewSpanRecorder()
					mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
					tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
					defer func() {
						_ = mp.Shutdown(context.Background())
						_ = tp.Shutdown(context.Background())
					}()
					opts = []kinesin.Option{pace, kinesin.WithMeterProvider(mp), kinesin.WithTracerProvider(tp)}
				}
				i := 0
				if sdk {
					i = 1
				}
				start := time.Now()
				mallocs[i] += streamtest.ConsumeAll(b, client, total, opts...)
				if sdk {
					var rm metricdata.ResourceMetrics
					if err := reader.Collect(context.Background(), &rm); err != nil {
						b.Fatal(err)
					}
					took[i] += time.Since(start)
					if len(rm.ScopeMetrics) == 0 || len(rec.Ended()) == 0 {
						b.Fatal("the SDK recorded nothing")
					}
					spans += len(rec.Ended())
					return
				}
				took[i] += time.Since(start)
			}
			n := 0
			for b.Loop() {
				// In turn, first one, then the other: neither always runs
				// on a warmer machine.
				consume(n%2 == 1)
				consume(n%2 == 0)
				n++
			}
			records := float64(n * total)
			off, on := float64(took[0].Nanoseconds())/records, float64(took[1].Nanoseconds())/records
			b.ReportMetric(off, "noop-ns/record")
			b.ReportMetric(on, "sdk-ns/record")
			b.ReportMetric(on-off, "sdk-extra-ns/record")
			b.ReportMetric(float64(mallocs[0])/records, "noop-allocs/record")
			b.ReportMetric(float64(mallocs[1])/records, "sdk-allocs/record")
			b.ReportMetric(float64(spans)/records*1000, "spans/1k-records")
		})
	}
}
