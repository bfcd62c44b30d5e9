package kinesin_test

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// latencySamples is how many records each latency run measures.
const latencySamples = 300

// measureLatency opens a one-shard stream on a fresh fake with opts, waits
// until it reads, then puts a record every 10 ms holding its put time, and
// returns, for latencySamples records, the time from just before the put to
// the yield of the record.
func measureLatency(b *testing.B, opts ...kinesin.Option) []time.Duration {
	b.Helper()
	fake := kinesistest.New(b)
	if err := fake.CreateStream("latency", 1); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := kinesin.Open(ctx, "latency", kinesin.Bytes, append([]kinesin.Option{
		kinesin.WithClient(fake.Client()), kinesin.WithStart(kinesin.TrimHorizon)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	put := func() {
		var data [8]byte
		binary.BigEndian.PutUint64(data[:], uint64(time.Now().UnixNano()))
		if _, err := fake.Put("latency", "pk", data[:]); err != nil {
			b.Error(err)
		}
	}
	// A first record, once it is delivered, shows the reader is running.
	put()
	recs := st.Records()
	var out []time.Duration
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() {
		close(stop)
		wg.Wait()
	}()
	warm := false
	for rec, err := range recs {
		if err != nil {
			b.Fatal(err)
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(rec.Data)))
		lat := time.Since(at)
		rec.Commit()
		if !warm {
			warm = true
			wg.Go(func() {
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						put()
					}
				}
			})
			continue
		}
		out = append(out, lat)
		if len(out) == latencySamples {
			break
		}
	}
	if len(out) != latencySamples {
		b.Fatalf("%d of %d samples", len(out), latencySamples)
	}
	return out
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// BenchmarkLatency measures put-to-yield latency through kinesin on the
// in-process fake, one record put every 10 ms, with each mode's default
// options: Enhanced Fan-Out (the fake pushes each record as it arrives)
// and polling (GetRecords every 250 ms while calls return records, which
// they all do at this rate). Each run takes 300 samples; p50 and p99 are
// reported in ms.
func BenchmarkLatency(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts []kinesin.Option
	}{
		{"efo", []kinesin.Option{kinesin.WithEFO("bench")}},
		{"polling", nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var all []time.Duration
			for b.Loop() {
				all = append(all, measureLatency(b, tc.opts...)...)
			}
			slices.Sort(all)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(percentile(all, 50)), "p50-ms")
			b.ReportMetric(ms(percentile(all, 99)), "p99-ms")
			b.ReportMetric(ms(all[len(all)-1]), "max-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkConsumeEFOServiceLimits is BenchmarkConsumeServiceLimits with
// Enhanced Fan-Out (default options): each consumer gets 2 MiB/s per shard.
func BenchmarkConsumeEFOServiceLimits(b *testing.B) {
	benchLimited(b, 200000, kinesistest.DefaultLimits().EFOBytesPerSecond, kinesin.WithEFO("bench-consumer"))
}
