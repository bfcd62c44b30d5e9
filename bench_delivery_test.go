//go:build unix

package kinesin_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// BenchmarkForms consumes the backlog of BenchmarkConsume unpaced, from the
// in-process fake, through each form of delivery: the Records iterator, the
// Chan channel read by one goroutine, and by 4 workers. It reports the wall
// time (ns/record) and the process's CPU time (cpu-ns/record, the fake's
// and the SDK's included) per record; every record is committed.
func BenchmarkForms(b *testing.B) {
	fake := kinesistest.New(b)
	backlog(b, fake, benchPerShard)
	client := fake.Client()
	for _, form := range forms {
		b.Run(form.name, func(b *testing.B) {
			benchForm(b, client, "bench", benchShards*benchPerShard, form.workers)
		})
	}
}

// BenchmarkDelivery is BenchmarkForms without the fake and the SDK: a
// client serving GetRecords from records made once, in memory, so that
// what is measured is kinesin's delivery of records (batches, tracking,
// hand-out, the form's handover), at 4 and at 256 shards.
func BenchmarkDelivery(b *testing.B) {
	const total = 204800
	for _, shards := range []int{4, 256} {
		api := newMemAPI(shards, total/shards)
		for _, form := range forms {
			b.Run(fmt.Sprintf("%s/shards=%d", form.name, shards), func(b *testing.B) {
				benchForm(b, api, "mem", total, form.workers)
			})
		}
	}
}

// forms are the forms of delivery BenchmarkForms and BenchmarkDelivery
// measure.
var forms = []struct {
	name    string
	workers int // 0: Records; else goroutines reading Chan
}{{"records", 0}, {"chan", 1}, {"chan-4-workers", 4}}

// benchForm runs b.N reads of total records of stream through api with
// unpacedPolling, in one form, and reports the time per record.
func benchForm(b *testing.B, api kinesin.KinesisAPI, stream string, total, workers int) {
	var cpu time.Duration
	for b.Loop() {
		before := cpuTime(b)
		consumeForm(b, api, stream, total, workers, kinesin.WithPolling(unpacedPolling))
		cpu += cpuTime(b) - before
	}
	n := float64(b.N * total)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/record")
	b.ReportMetric(0, "ns/op")
}

// consumeForm reads total records of stream from TRIM_HORIZON, committing
// each, with Records (workers 0) or from Chan with that many goroutines.
func consumeForm(b *testing.B, api kinesin.KinesisAPI, stream string, total, workers int, opts ...kinesin.Option) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := kinesin.Open(ctx, stream, kinesin.Bytes, append([]kinesin.Option{kinesin.WithClient(api),
		kinesin.WithStart(kinesin.TrimHorizon)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	if workers == 0 {
		for rec, err := range st.Records() {
			if err != nil {
				b.Fatal(err)
			}
			rec.Commit()
			if n.Add(1) == int64(total) {
				break
			}
		}
	} else {
		done := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for rec := range st.Chan() {
					rec.Commit()
					if n.Add(1) == int64(total) {
						once.Do(func() { close(done) })
					}
				}
			})
		}
		select {
		case <-done:
		case <-ctx.Done():
		}
		defer wg.Wait()
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if got := n.Load(); got < int64(total) {
		b.Fatalf("consumed %d of %d", got, total)
	}
}

// cpuTime returns the CPU time the process used so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memAPI is a stream of open shards whose records are made once: it serves
// DescribeStreamSummary, ListShards, GetShardIterator (TRIM_HORIZON) and
// GetRecords (up to 10,000 records a call) from memory, and nothing else.
type memAPI struct {
	kinesin.KinesisAPI // nil: the other calls are not made
	shards             [][]types.Record
}

// newMemAPI returns a stream of shards shards of perShard records of
// benchRecordSize bytes.
func newMemAPI(shards, perShard int) *memAPI {
	data := make([]byte, benchRecordSize)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	arrival := time.Now()
	m := &memAPI{shards: make([][]types.Record, shards)}
	for s := range m.shards {
		recs := make([]types.Record, perShard)
		for i := range recs {
			recs[i] = types.Record{
				Data:                        data,
				PartitionKey:                aws.String(fmt.Sprintf("k%03d", i%1000)),
				SequenceNumber:              aws.String(fmt.Sprintf("4959%052d", i+1)),
				ApproximateArrivalTimestamp: aws.Time(arrival),
			}
		}
		m.shards[s] = recs
	}
	return m
}

func memShardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

func (m *memAPI) DescribeStreamSummary(_ context.Context, in *kinesis.DescribeStreamSummaryInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &types.StreamDescriptionSummary{
		StreamName: in.StreamName, StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/" + aws.ToString(in.StreamName)),
		StreamCreationTimestamp: aws.Time(time.Unix(1, 0)), StreamStatus: types.StreamStatusActive,
	}}, nil
}

func (m *memAPI) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	out := &kinesis.ListShardsOutput{}
	for i := range m.shards {
		out.Shards = append(out.Shards, types.Shard{ShardId: aws.String(memShardID(i)),
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")}})
	}
	return out, nil
}

func (m *memAPI) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	if in.ShardIteratorType != types.ShardIteratorTypeTrimHorizon {
		return nil, errors.New("memAPI: only TRIM_HORIZON")
	}
	id := strings.TrimPrefix(aws.ToString(in.ShardId), "shardId-")
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(id + "/0")}, nil
}

func (m *memAPI) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	s, off, _ := strings.Cut(aws.ToString(in.ShardIterator), "/")
	shard, err1 := strconv.Atoi(s)
	from, err2 := strconv.Atoi(off)
	if err1 != nil || err2 != nil || shard >= len(m.shards) {
		return nil, fmt.Errorf("memAPI: bad iterator %q", aws.ToString(in.ShardIterator))
	}
	recs := m.shards[shard]
	to := min(from+int(aws.ToInt32(in.Limit)), len(recs))
	return &kinesis.GetRecordsOutput{
		Records:            recs[from:to],
		NextShardIterator:  aws.String(s + "/" + strconv.Itoa(to)),
		MillisBehindLatest: aws.Int64(int64(len(recs) - to)),
	}, nil
}
