// Command otel shows kinesin's OpenTelemetry metrics and spans, without an
// AWS account: it starts the in-memory Kinesis of package kinesistest,
// creates a stream of 2 shards holding a backlog of JSON orders, reads them
// all with kinesin.Open given an SDK meter provider and tracer provider, and
// prints the metrics with the stdout exporter before it exits.
//
//	go run ./examples/otel                      metrics on stdout, spans on stderr
//	go run ./examples/otel -traces spans.json   spans into a file
//	go run ./examples/otel 2>/dev/null          metrics only
//
// It also traces the AWS SDK's calls themselves, with the otelaws middleware:
// each GetRecords then appears twice, as kinesin's span "GetRecords" (with
// the shard, the stream and the consumer group) and as the SDK's
// "Kinesis.GetRecords" (with the HTTP request).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-sdk-go-v2/otelaws"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// Order is what the producer writes and the consumer decodes.
type Order struct {
	ID       string  `json:"id"`
	Customer string  `json:"customer"`
	Amount   float64 `json:"amount"`
}

func main() {
	traces := flag.String("traces", "", "write spans to this file instead of stderr")
	orders := flag.Int("orders", 200, "how many orders to put and read")
	flag.Parse()
	if err := run(*orders, *traces); err != nil {
		fmt.Fprintln(os.Stderr, "otel:", err)
		os.Exit(1)
	}
}

func run(orders int, tracesPath string) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	res := resource.NewSchemaless(semconv.ServiceName("kinesin-otel-example"))

	// Metrics: a periodic reader exporting to stdout every 10s, and once
	// more at Shutdown, below, so that the last values print before exit.
	metricExp, err := stdoutmetric.New(stdoutmetric.WithPrettyPrint())
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(10*time.Second))),
	)

	// Spans: to stderr, one JSON object per line, or to a file.
	var spanOut io.Writer = os.Stderr
	if tracesPath != "" {
		f, err := os.Create(tracesPath)
		if err != nil {
			return err
		}
		defer f.Close()
		spanOut = f
	}
	traceExp, err := stdouttrace.New(stdouttrace.WithWriter(spanOut))
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(traceExp))

	// Shut down the providers last, whatever happens: this flushes the spans
	// and exports the metrics one last time.
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		err = errors.Join(err, tp.Shutdown(sctx), mp.Shutdown(sctx))
	}()

	// An in-memory Kinesis speaking the real protocol: no AWS account needed.
	fake := kinesistest.New(nil)
	defer fake.Close()
	if err := fake.CreateStream("orders", 2); err != nil {
		return err
	}
	customers := []string{"ada", "grace", "linus", "ken", "barbara", "edsger", "margaret"}
	for i := range orders {
		o := Order{ID: fmt.Sprintf("o-%04d", i), Customer: customers[i%len(customers)], Amount: float64(10 + i%90)}
		data, _ := json.Marshal(o)
		if _, err := fake.Put("orders", o.Customer, data); err != nil {
			return err
		}
	}

	// Trace the AWS SDK's calls too: the otelaws middleware makes a span per
	// call. With a client from an aws.Config, append it to the config:
	//
	//	cfg, _ := config.LoadDefaultConfig(ctx)
	//	otelaws.AppendMiddlewares(&cfg.APIOptions, otelaws.WithTracerProvider(tp))
	//	kinesin.Open(ctx, "orders", dec, kinesin.WithAWSConfig(cfg), ...)
	//
	// The fake's client takes the same middleware through its options.
	//
	// otelaws is no longer maintained upstream (its latest release is
	// deprecated). The SDK also traces itself: set kinesis.Options.TracerProvider
	// (aws.Config.TracerProvider) to smithyoteltracing.Adapt(tp), from
	// github.com/aws/smithy-go/tracing/smithyoteltracing.
	client := fake.Client(func(o *kinesis.Options) {
		otelaws.AppendMiddlewares(&o.APIOptions, otelaws.WithTracerProvider(tp))
	})

	stream, err := kinesin.Open(ctx, "orders", kinesin.JSON[Order],
		kinesin.WithClient(client),
		kinesin.WithStart(kinesin.TrimHorizon),
		kinesin.WithApp("otel-example"),
		kinesin.WithMeterProvider(mp),
		kinesin.WithTracerProvider(tp),
	)
	if err != nil {
		return err
	}
	defer stream.Close()

	seen := 0
	for rec, err := range stream.Records() {
		if err != nil {
			return err
		}
		rec.Commit()
		if seen++; seen == orders {
			// Export now, while the stream is open: the observable
			// instruments (lag, commits, uncommitted records, shards
			// owned) report only while their shards are read.
			fmt.Printf("# read and committed %d orders; the metrics while the stream is open:\n", seen)
			if err := mp.ForceFlush(ctx); err != nil {
				return err
			}
			break // closes the stream, writing the last checkpoints
		}
	}
	if seen < orders {
		return fmt.Errorf("stream ended after %d of %d orders: %v", seen, orders, stream.Err())
	}
	if err := stream.Close(); err != nil {
		return err
	}
	// The deferred mp.Shutdown exports them once more.
	fmt.Println("# the metrics after Close, its checkpoint writes included:")
	return nil
}
