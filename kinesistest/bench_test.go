package kinesistest_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// go test -run '^$' -bench . -benchmem -benchtime 2s ./kinesistest/

// BenchmarkGetRecords reads a shard of 10,000 records of 100 bytes from
// TRIM_HORIZON in one GetRecords call per iteration.
func BenchmarkGetRecords(b *testing.B) {
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b, mode)
			if err := e.fake.CreateStream("s", 1); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 100)
			for i := range 10000 {
				if _, err := e.fake.Put("s", fmt.Sprint(i%100), data); err != nil {
					b.Fatal(err)
				}
			}
			in := &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
			b.ReportAllocs()
			for b.Loop() {
				it, err := e.c.GetShardIterator(e.ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				out, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
				if err != nil {
					b.Fatal(err)
				}
				if len(out.Records) != 10000 {
					b.Fatalf("%d records", len(out.Records))
				}
			}
			b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkPutRecords puts 500 records of 100 bytes per call, on 4 shards.
func BenchmarkPutRecords(b *testing.B) {
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b, mode)
			if err := e.fake.CreateStream("s", 4); err != nil {
				b.Fatal(err)
			}
			entries := make([]types.PutRecordsRequestEntry, 500)
			for i := range entries {
				entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint("key-", i)), Data: make([]byte, 100)}
			}
			in := &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries}
			b.ReportAllocs()
			for b.Loop() {
				out, err := e.c.PutRecords(e.ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				if aws.ToInt32(out.FailedRecordCount) != 0 {
					b.Fatal("records failed")
				}
			}
			b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
