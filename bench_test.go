package kinesin_test

import (
	"context"
	"fmt"
	"runtime"
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

const (
	benchShards     = 4
	benchPerShard   = 50000
	benchRecordSize = 200
)

// backlog fills a stream of benchShards shards with benchPerShard records of
// benchRecordSize bytes each, spread evenly by explicit hash key.
func backlog(b *testing.B, fake *kinesistest.Fake, perShard int) {
	b.Helper()
	if err := fake.CreateStream("bench", benchShards); err != nil {
		b.Fatal(err)
	}
	shards, err := fake.Shards("bench")
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, benchRecordSize)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	for _, sh := range shards {
		for i := range perShard {
			if _, err := fake.PutWithHashKey("bench", fmt.Sprintf("k%03d", i%1000), sh.StartingHashKey, data); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// consumeAll reads total records with kinesin from TRIM_HORIZON, committing
// each, and returns the number of mallocs it took.
func consumeAll(b *testing.B, client *kinesis.Client, total int, opts polling.Options) uint64 {
	b.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := kinesin.Open(ctx, "bench", kinesin.Bytes, kinesin.WithClient(client),
		kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithPolling(opts))
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for rec, err := range st.Records() {
		if err != nil {
			b.Fatal(err)
		}
		rec.Commit()
		if n++; n == total {
			break
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n != total {
		b.Fatalf("consumed %d of %d", n, total)
	}
	return after.Mallocs - before.Mallocs
}

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

// BenchmarkConsume consumes a backlog of 4 × 50,000 records of 200 bytes
// through the in-process fake: kinesin with its default pacing (at most 5
// GetRecords calls a second per shard), kinesin unpaced (the per-record cost
// of kinesin itself), and a bare loop of the SDK's GetRecords, in one run so
// the figures compare.
func BenchmarkConsume(b *testing.B) {
	fake := kinesistest.New(b)
	backlog(b, fake, benchPerShard)
	client := fake.Client()
	total := benchShards * benchPerShard
	report := func(b *testing.B, mallocs uint64) {
		b.ReportMetric(float64(b.N*total)/b.Elapsed().Seconds(), "records/s")
		if mallocs > 0 {
			b.ReportMetric(float64(mallocs)/float64(b.N*total), "allocs/record")
		}
	}
	b.Run("bare-GetRecords", func(b *testing.B) {
		for b.Loop() {
			bareLoop(b, client, total)
		}
		report(b, 0)
	})
	b.Run("kinesin-unpaced", func(b *testing.B) {
		var mallocs uint64
		for b.Loop() {
			mallocs += consumeAll(b, client, total, polling.Options{MinInterval: time.Nanosecond, IdleInterval: time.Millisecond})
		}
		report(b, mallocs)
	})
	b.Run("kinesin-default", func(b *testing.B) {
		var mallocs uint64
		for b.Loop() {
			mallocs += consumeAll(b, client, total, polling.Options{})
		}
		report(b, mallocs)
	})
}

// BenchmarkConsumeServiceLimits consumes a backlog through the fake with the
// service's limits on (2 MiB/s and 5 GetRecords calls a second per shard,
// real time): the read throughput per shard kinesin reaches while catching
// up, as a fraction of the 2 MiB/s limit.
func BenchmarkConsumeServiceLimits(b *testing.B) {
	const perShard = 40000 // about 4 s of reading at 2 MiB/s
	fake := kinesistest.New(b, kinesistest.WithServiceLimits(kinesistest.DefaultLimits()))
	backlog(b, fake, perShard)
	client := fake.Client()
	total := benchShards * perShard
	for b.Loop() {
		consumeAll(b, client, total, polling.Options{})
	}
	bytesPerShard := float64(perShard * (benchRecordSize + 4)) // data and partition key, as the fake counts
	perSecond := bytesPerShard * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(perSecond/(1<<20), "MiB/s/shard")
	b.ReportMetric(100*perSecond/float64(kinesistest.DefaultLimits().ReadBytesPerSecond), "%limit")
}
