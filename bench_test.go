package kinesin_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/polling"
)

// bareLoop reads every shard from TRIM_HORIZON to its tip with the SDK's
// GetRecords, one goroutine per shard, as fast as the fake answers: the upper
// bound of any consumer on this fake.
func bareLoop(b *testing.B, client *kinesis.Client, total int) {
	b.Helper()
	ctx := context.Background()
	out, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	counts := make([]int, len(out.Shards))
	for i, sh := range out.Shards {
		wg.Go(func() {
			it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("bench"),
				ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				b.Error(err)
				return
			}
			iter := it.ShardIterator
			for iter != nil {
				gr, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
				if err != nil {
					b.Error(err)
					return
				}
				counts[i] += len(gr.Records)
				if len(gr.Records) == 0 && aws.ToInt64(gr.MillisBehindLatest) == 0 {
					return
				}
				iter = gr.NextShardIterator
			}
		})
	}
	wg.Wait()
	n := 0
	for _, c := range counts {
		n += c
	}
	if n != total {
		b.Fatalf("bare loop read %d of %d", n, total)
	}
}

// unpacedPolling reads as fast as the service answers: no call or byte
// pacing, kinesin's own cost per record.
var unpacedPolling = polling.Options{MinInterval: time.Nanosecond, IdleInterval: time.Millisecond, ReadRate: 1 << 40}

// BenchmarkConsume consumes a backlog of 4 × 50,000 records of 200 bytes
// through the in-process fake, which has no limits here.
//
// vs-bare: each iteration reads the backlog with a bare loop of the SDK's
// GetRecords (one goroutine per shard, as fast as the fake answers) and with
// kinesin unpaced (no call or byte pacing: kinesin's own cost per record),
// back to back, and reports both rates and their ratio (kinesin/bare), so
// the machine's noise hits both alike. default: kinesin with its default
// pacing, which keeps to the service's 5 calls and 2 MiB a second per shard
// (about 10,000 such records a second per shard).
func BenchmarkConsume(b *testing.B) {
	fake := kinesistest.New(b)
	backlog(b, fake, benchPerShard)
	client := fake.Client()
	total := benchShards * benchPerShard
	unpaced := kinesin.WithPolling(unpacedPolling)
	b.Run("vs-bare", func(b *testing.B) {
		var bare, kin time.Duration
		var mallocs uint64
		for i := 0; b.Loop(); i++ {
			// alternate which goes first, so heap growth favours neither
			runBare := func() {
				t := time.Now()
				bareLoop(b, client, total)
				bare += time.Since(t)
			}
			runKinesin := func() {
				t := time.Now()
				mallocs += consumeAll(b, client, total, unpaced)
				kin += time.Since(t)
			}
			if i%2 == 0 {
				runBare()
				runKinesin()
			} else {
				runKinesin()
				runBare()
			}
		}
		n := float64(b.N * total)
		b.ReportMetric(n/bare.Seconds(), "bare-records/s")
		b.ReportMetric(n/kin.Seconds(), "kinesin-records/s")
		b.ReportMetric(bare.Seconds()/kin.Seconds(), "kinesin/bare")
		b.ReportMetric(float64(mallocs)/n, "allocs/record")
	})
	b.Run("default", func(b *testing.B) {
		for b.Loop() {
			consumeAll(b, client, total)
		}
		b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "records/s")
	})
}

// benchLimited consumes a backlog of perShard records a shard through a fake
// with the service's limits on (real time), and reports the read throughput
// per shard over the whole run (MiB/s/shard, %limit; the fake's budget starts
// with a second's worth, as a token bucket does, so this exceeds the limit)
// and while catching up, from the 25th percent of the backlog to its last
// record (catch-up-MiB/s/shard, catch-up-%limit): the figure to hold against
// the limit. The backlog is long (about 20 s) so that the edges of that window
// (a call delivers up to 2 MB at once) move it by a few percent at most.
func benchLimited(b *testing.B, perShard, rate int, opts ...kinesin.Option) {
	fake := kinesistest.New(b, kinesistest.WithServiceLimits(kinesistest.DefaultLimits()))
	backlog(b, fake, perShard)
	client := fake.Client()
	total := benchShards * perShard
	from := total / 4
	recordBytes := float64(benchRecordSize + 4) // data and partition key, as the fake counts
	var whole, catchUp time.Duration
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		start := time.Now()
		st, err := kinesin.Open(ctx, "bench", kinesin.Bytes, append([]kinesin.Option{kinesin.WithClient(client),
			kinesin.WithStart(kinesin.TrimHorizon)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		var mark time.Time
		for rec, err := range st.Records() {
			if err != nil {
				b.Fatal(err)
			}
			rec.Commit()
			if n++; n == from {
				mark = time.Now()
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
		whole += end.Sub(start)
		catchUp += end.Sub(mark)
	}
	perSecond := float64(perShard) * recordBytes * float64(b.N) / whole.Seconds()
	catchUpPerSecond := float64(total-from) / benchShards * recordBytes * float64(b.N) / catchUp.Seconds()
	b.ReportMetric(perSecond/(1<<20), "MiB/s/shard")
	b.ReportMetric(100*perSecond/float64(rate), "%limit")
	b.ReportMetric(catchUpPerSecond/(1<<20), "catch-up-MiB/s/shard")
	b.ReportMetric(100*catchUpPerSecond/float64(rate), "catch-up-%limit")
}

// BenchmarkConsumeServiceLimits polls a backlog through the fake with the
// service's limits on (2 MiB/s and 5 GetRecords calls a second per shard):
// the read throughput kinesin reaches while catching up, against the limit.
func BenchmarkConsumeServiceLimits(b *testing.B) {
	benchLimited(b, 200000, kinesistest.DefaultLimits().ReadBytesPerSecond)
}
