package wire

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// benchRecords is how many records a replayed response holds.
const benchRecords = 10_000

var (
	benchOnce sync.Once
	benchBody []byte
)

// benchResponse records, once, a GetRecords response of the fake holding
// 10,000 records of 100 to 200 random bytes.
func benchResponse(b *testing.B) []byte {
	benchOnce.Do(func() {
		fake := kinesistest.New(nil)
		defer fake.Close()
		if err := fake.CreateStream("bench", 1); err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(7, 7))
		for i := range benchRecords {
			data := make([]byte, 100+rng.IntN(101))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			if _, err := fake.Put("bench", fmt.Sprintf("partition-key-%d", i%1000), data); err != nil {
				b.Fatal(err)
			}
		}
		opts := fake.ClientOptions()
		rec := &recorder{base: opts.HTTPClient}
		opts.HTTPClient = rec
		client := kinesis.New(opts)
		ctx := context.Background()
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String("bench"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			b.Fatal(err)
		}
		out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(benchRecords)})
		if err != nil || len(out.Records) != benchRecords {
			b.Fatalf("%d records, %v", len(out.Records), err)
		}
		benchBody = rec.bodies[0]
	})
	if benchBody == nil {
		b.Fatal("no response recorded")
	}
	return benchBody
}

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGetRecords calls GetRecords on a real *kinesis.Client whose HTTP
// client replays a response of 10,000 records of 100 to 200 bytes: the
// client's whole middleware stack (signing, retries, metrics) runs, then
// the SDK's decoder or this package's. It reports records per CPU-second of
// the process (garbage collection included), allocations and bytes per
// record. Compare the two in one run:
//
//	go test -run '^$' -bench GetRecords -count 10 ./internal/wire/ | tee bench.txt
//	benchstat -col /decoder bench.txt
func BenchmarkGetRecords(b *testing.B) {
	body := benchResponse(b)
	r := &replay{header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Requestid": {"bench"}}, body: body}
	in := &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAAAAAAAAH4cHUYOeR2tJjU3y8l4p")}
	for _, decoder := range []string{"sdk", "wire"} {
		b.Run("decoder="+decoder, func(b *testing.B) {
			client := replayClient(r, Option(decoder == "wire"))
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			cpu := cpuTime()
			for b.Loop() {
				out, err := client.GetRecords(ctx, in)
				if err != nil || len(out.Records) != benchRecords {
					b.Fatalf("%d records, %v", len(out.Records), err)
				}
			}
			cpu = cpuTime() - cpu
			records := float64(b.N) * benchRecords
			b.ReportMetric(records/cpu.Seconds(), "records/CPU-s")
			b.ReportMetric(float64(cpu.Nanoseconds())/records, "CPU-ns/record")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
		})
	}
}

// BenchmarkDecode decodes the same response with the protocols alone, the
// client's middleware left out.
func BenchmarkDecode(b *testing.B) {
	body := benchResponse(b)
	for _, decoder := range []string{"sdk", "wire"} {
		b.Run("decoder="+decoder, func(b *testing.B) {
			o := kinesis.Options{Protocol: newSDKProtocol()}
			Option(decoder == "wire")(&o)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				out := &kinesis.GetRecordsOutput{}
				err := o.Protocol.DeserializeResponse(context.Background(), getRecordsSchema, kinesis.TypeRegistry, response(body), out)
				if err != nil || len(out.Records) != benchRecords {
					b.Fatalf("%d records, %v", len(out.Records), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*benchRecords), "ns/record")
		})
	}
}
