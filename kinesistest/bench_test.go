package kinesistest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/kinesin-go/kinesin/kinesistest"
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

// BenchmarkGetRecordsAnswer times the fake alone answering a GetRecords call
// of 10,000 records of 100 bytes, in JSON and in CBOR (the Java SDK's
// default), without a client decoding the answer.
func BenchmarkGetRecordsAnswer(b *testing.B) {
	fake := kinesistest.New(b)
	fake.CreateStream("s", 1)
	data := make([]byte, 100)
	for i := range 10000 {
		if _, err := fake.Put("s", fmt.Sprint(i%100), data); err != nil {
			b.Fatal(err)
		}
	}
	h := fake.Handler()
	serve := func(contentType string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", "Kinesis_20131202.GetRecords")
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d %s", rec.Code, rec.Body)
		}
		return rec
	}
	it := func() string {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`))
		req.Header.Set("X-Amz-Target", "Kinesis_20131202.GetShardIterator")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out struct{ ShardIterator string }
		json.Unmarshal(rec.Body.Bytes(), &out)
		return out.ShardIterator
	}()
	b.Run("json", func(b *testing.B) {
		body := []byte(`{"ShardIterator":"` + it + `"}`)
		b.ReportAllocs()
		for b.Loop() {
			serve("application/x-amz-json-1.1", body)
		}
		b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("cbor", func(b *testing.B) {
		body := cbor.Encode(cbor.Map{"ShardIterator": cbor.String(it)})
		b.ReportAllocs()
		for b.Loop() {
			serve("application/x-amz-cbor-1.1", body)
		}
		b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "records/s")
	})
}
