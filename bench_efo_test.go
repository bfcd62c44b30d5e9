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
// and polling (GetRecords every 500 ms once caught up, 200 ms apart while
// behind). Each run takes 300 samples; p50 and p99 are reported in ms.
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

// BenchmarkConsumeEFOServiceLimits consumes a backlog of 4 shards with
// Enhanced Fan-Out (default options) through the fake with the service's
// limits on: each subscription gets 2 MiB/s, on the wall clock. It reports
// the read throughput per shard over the whole run (MiB/s/shard, %limit, as
// BenchmarkConsumeServiceLimits does for polling) and in the steady state,
// from 40% to 90% of the backlog consumed (steady-MiB/s/shard,
// steady-%limit): the fake's budget starts with a second's worth, as a token
// bucket does, and an event may overdraw it, so the first 3 MiB or so of
// each shard come at once; and at any time a few events are in flight
// between the fake and the consumer.
func BenchmarkConsumeEFOServiceLimits(b *testing.B) {
	const perShard = 60000 // about 12 MB a shard: 6 s at 2 MiB/s
	limits := kinesistest.DefaultLimits()
	fake := kinesistest.New(b, kinesistest.WithServiceLimits(limits))
	backlog(b, fake, perShard)
	client := fake.Client()
	total := benchShards * perShard
	recordBytes := float64(benchRecordSize + 4) // data and partition key, as the fake counts
	from, to := total*4/10, total*9/10          // the steady state
	var elapsed, steady time.Duration
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		start := time.Now()
		st, err := kinesin.Open(ctx, "bench", kinesin.Bytes, kinesin.WithClient(client),
			kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithEFO("bench-consumer"))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		var steadyFrom, steadyTo time.Time
		for rec, err := range st.Records() {
			if err != nil {
				b.Fatal(err)
			}
			rec.Commit()
			switch n++; n {
			case from:
				steadyFrom = time.Now()
			case to:
				steadyTo = time.Now()
			}
			if n == total {
				break
			}
		}
		end := time.Now()
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		cancel()
		if n != total {
			b.Fatalf("consumed %d of %d", n, total)
		}
		elapsed += end.Sub(start)
		steady += steadyTo.Sub(steadyFrom)
	}
	limit := float64(limits.EFOBytesPerSecond)
	perSecond := float64(perShard) * recordBytes * float64(b.N) / elapsed.Seconds()
	steadyPerSecond := float64(to-from) / benchShards * recordBytes * float64(b.N) / steady.Seconds()
	b.ReportMetric(perSecond/(1<<20), "MiB/s/shard")
	b.ReportMetric(100*perSecond/limit, "%limit")
	b.ReportMetric(steadyPerSecond/(1<<20), "steady-MiB/s/shard")
	b.ReportMetric(100*steadyPerSecond/limit, "steady-%limit")
}
