package eforead_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/shard/eforead"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// benchFake returns a fake with a one-shard stream holding n records of size
// bytes and an ACTIVE consumer.
func benchFake(b *testing.B, n, size int, opts ...kinesistest.Option) (*kinesistest.Fake, string, string) {
	b.Helper()
	fake := kinesistest.New(b, opts...)
	if err := fake.CreateStream("orders", 1); err != nil {
		b.FailNow()
	}
	arn, err := fake.RegisterConsumer("orders", "bench")
	if err != nil {
		b.FailNow()
	}
	data := payload("r", 0, size)
	for range n {
		if _, err := fake.Put("orders", "pk", data); err != nil {
			b.FailNow()
		}
	}
	infos, _ := fake.Shards("orders")
	return fake, arn, infos[0].ID
}

// readAll reads n records of a shard from TRIM_HORIZON and returns when the
// last one is delivered.
func readAll(b *testing.B, r *eforead.Reader, id string, n int) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := 0
	_, err := r.Read(ctx, trimHorizon(id), room(10000), func(_ context.Context, batch shard.Batch) error {
		if got += len(batch.Records); got >= n {
			cancel()
		}
		return nil
	})
	if err != context.Canceled || got != n {
		b.Fatalf("Read: %v after %d records, want %d", err, got, n)
	}
}

// BenchmarkReadEFO reads a backlog of 100,000 records of 100 bytes through
// the in-process fake, without service limits: the cost of the reader, the
// SDK's event stream decoding and the fake.
func BenchmarkReadEFO(b *testing.B) {
	const n, size = 100_000, 100
	clock := kinesistest.NewManualClock(time.Time{})
	fake, arn, id := benchFake(b, n, size, kinesistest.WithClock(clock))
	r := newReader(b, fake.Client(), arn, efo.Options{SubscribeInterval: time.Nanosecond}, shard.Hooks{})
	b.ReportAllocs()
	for b.Loop() {
		clock.Advance(10 * time.Second) // past the 5 s between subscriptions
		readAll(b, r, id, n)
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(n*b.N)/s, "records/s")
	b.ReportMetric(float64(n*size*b.N)/s/(1<<20), "MiB/s")
}

// BenchmarkReadEFOServiceLimits reads a backlog of 12 MiB from a fake that
// enforces the EFO limit of 2 MiB/s per consumer and shard, on the real
// clock, and reports the throughput reached as a share of the limit (the
// "%limit" metric; the target is 90 or more). The fake charges each event
// (up to 1 MiB) when it sends it, then holds the next one back until the
// charge is paid: so the bytes of every event but the last are counted
// against the time up to the next delivery, after the first second's burst.
func BenchmarkReadEFOServiceLimits(b *testing.B) {
	const n, size = 12 * 1024, 1024
	const charged = size + len("pk") // the fake charges data and partition key
	var reached []float64
	for b.Loop() {
		b.StopTimer()
		// The service's read limits; writes unbounded to fill the backlog.
		fake, arn, id := benchFake(b, n, size, kinesistest.WithServiceLimits(kinesistest.Limits{
			WriteRecordsPerSecond: 1 << 30,
			WriteBytesPerSecond:   1 << 40,
		}))
		r := newReader(b, fake.Client(), arn, efo.Options{}, shard.Hooks{})
		b.StartTimer()
		ctx, cancel := context.WithCancel(context.Background())
		var (
			got, from, last int // records delivered; before the first measured and the last delivery
			t0, t1          time.Time
		)
		_, err := r.Read(ctx, trimHorizon(id), room(10000), func(_ context.Context, batch shard.Batch) error {
			now := time.Now()
			// The bucket starts full (one second's worth): measure after it.
			if t0.IsZero() && got*charged >= 2<<20 {
				t0, from = now, got
			}
			last, t1 = got, now
			if got += len(batch.Records); got >= n {
				cancel()
			}
			return nil
		})
		cancel()
		if err != context.Canceled || got != n {
			b.Fatalf("Read: %v after %d records", err, got)
		}
		rate := float64((last-from)*charged) / t1.Sub(t0).Seconds()
		reached = append(reached, 100*rate/float64(2<<20))
		b.StopTimer()
		fake.Close()
		b.StartTimer()
	}
	slices.Sort(reached)
	b.ReportMetric(reached[len(reached)/2], "%limit")
}

// BenchmarkEFOLatency measures the time from putting a record to its
// delivery through a live subscription on the in-process fake, one record at
// a time, and reports the median and the 99th percentile.
func BenchmarkEFOLatency(b *testing.B) {
	fake, arn, id := benchFake(b, 0, 0)
	r := newReader(b, fake.Client(), arn, efo.Options{}, shard.Hooks{})
	got := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = r.Read(ctx, shard.Spec{ID: id, Start: trimHorizon(id).Start}, room(10000), func(_ context.Context, batch shard.Batch) error {
			for range batch.Records {
				got <- time.Now()
			}
			return nil
		})
	}()
	defer func() { cancel(); <-done }()
	data := []byte("latency")
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := fake.Put("orders", "pk", data); err != nil {
			b.FailNow()
		}
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("record not delivered within 10s")
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
