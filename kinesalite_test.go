package kinesin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/aws/smithy-go"
	"math/big"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/internal/testenv"
	"github.com/kinesin-go/kinesin/polling"
)

// kinesaliteClient returns a client of the kinesalite at url; its idle
// connections are closed when t ends.
func kinesaliteClient(t *testing.T, url string) *kinesis.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDKINESIN", "kinesin-secret", ""),
		BaseEndpoint: aws.String(url),
		HTTPClient:   &http.Client{Transport: tr, Timeout: 30 * time.Second},
	})
}

// waitActive polls until the stream is ACTIVE, for 30 s at most. It runs on
// the producer's goroutine, so it returns an error instead of failing t.
func waitActive(ctx context.Context, c *kinesis.Client, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stream %s not ACTIVE after 30 s (last error %v)", name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// openShardsOf lists the open shards of a stream, lowest hash range first.
func openShardsOf(ctx context.Context, c *kinesis.Client, name string) ([]types.Shard, error) {
	out, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		return nil, err
	}
	var open []types.Shard
	for _, sh := range out.Shards {
		if sh.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, sh)
		}
	}
	slices.SortFunc(open, func(a, b types.Shard) int {
		return hashKey(a.HashKeyRange.StartingHashKey).Cmp(hashKey(b.HashKeyRange.StartingHashKey))
	})
	return open, nil
}

func hashKey(s *string) *big.Int {
	n, _ := new(big.Int).SetString(aws.ToString(s), 10)
	return n
}

// reshard splits the lowest open shard at its middle (split) or merges the
// two highest open shards.
func reshard(ctx context.Context, c *kinesis.Client, name string, split bool) error {
	if err := waitActive(ctx, c, name); err != nil {
		return err
	}
	open, err := openShardsOf(ctx, c, name)
	if err != nil {
		return err
	}
	if split {
		sh := open[0]
		mid := new(big.Int).Add(hashKey(sh.HashKeyRange.StartingHashKey), hashKey(sh.HashKeyRange.EndingHashKey))
		_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(name),
			ShardToSplit: sh.ShardId, NewStartingHashKey: aws.String(mid.Rsh(mid, 1).String())})
		return err
	}
	a, b := open[len(open)-2], open[len(open)-1]
	_, err = c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(name),
		ShardToMerge: a.ShardId, AdjacentShardToMerge: b.ShardId})
	return err
}

// Against kinesalite, which returns no ChildShards at the end of a closed
// shard: records keep their per-key order, and none is lost, across a split
// and a merge made while the stream is consumed. The shard list is read
// again as soon as a shard ends (ShardSyncInterval is an hour here), so the
// children are read without waiting for a periodic refresh.
func TestKinesaliteSplitAndMergeWhileConsuming(t *testing.T) {
	c := kinesaliteClient(t, testenv.KinesaliteURL(t))
	ctx := testCtx(t, 2*time.Minute)
	name := fmt.Sprintf("kinesin-reshard-%d", time.Now().UnixNano())
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(name)})
	})
	if err := waitActive(ctx, c, name); err != nil {
		t.Fatal(err)
	}

	const keys, perKey = 10, 60
	type rec struct {
		K string `json:"k"`
		N int    `json:"n"`
	}
	var produced atomic.Int64
	produceErr := make(chan error, 1)
	go func() {
		for i := range keys * perKey {
			r := rec{K: fmt.Sprintf("k%d", i%keys), N: i / keys}
			data, _ := json.Marshal(r)
			if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name),
				PartitionKey: aws.String(r.K), Data: data}); err != nil {
				produceErr <- err
				return
			}
			produced.Add(1)
			switch i {
			case keys * perKey / 3:
				if err := reshard(ctx, c, name, true); err != nil {
					produceErr <- fmt.Errorf("split: %w", err)
					return
				}
			case 2 * keys * perKey / 3:
				if err := reshard(ctx, c, name, false); err != nil {
					produceErr <- fmt.Errorf("merge: %w", err)
					return
				}
			}
		}
		produceErr <- nil
	}()

	st, err := kinesin.Open(ctx, name, kinesin.JSON[rec], kinesin.WithClient(c),
		kinesin.WithStart(kinesin.TrimHorizon), kinesin.ShardSyncInterval(time.Hour),
		kinesin.WithPolling(polling.Options{MinInterval: 10 * time.Millisecond, IdleInterval: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	next := map[string]int{}
	shardsSeen := map[string]bool{}
	got := 0
	for r, err := range st.Records() {
		if err != nil {
			t.Fatalf("after %d records: %v", got, err)
		}
		if r.Value.N != next[r.Value.K] {
			t.Fatalf("key %s: record %d came when %d was due (shard %s)", r.Value.K, r.Value.N, next[r.Value.K], r.ShardID)
		}
		next[r.Value.K]++
		shardsSeen[r.ShardID] = true
		r.Commit()
		if got++; got == keys*perKey {
			break
		}
	}
	if err := <-produceErr; err != nil {
		t.Fatal(err)
	}
	if got != keys*perKey {
		t.Fatalf("consumed %d of %d records (%d produced): %v", got, keys*perKey, produced.Load(), st.Err())
	}
	// 2 shards, 2 children of the split, 1 child of the merge.
	if len(shardsSeen) < 4 {
		t.Errorf("records came from %d shards %v; the children of the split and merge should have been read", len(shardsSeen), shardsSeen)
	}
}

// WithEFO on kinesalite, which has no Enhanced Fan-Out, fails Open within
// seconds with the service's error, not after the registration timeout.
func TestKinesaliteWithoutEFOFailsOpenFast(t *testing.T) {
	c := kinesaliteClient(t, testenv.KinesaliteURL(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("no-efo-%d", time.Now().UnixNano())
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if err := waitActive(ctx, c, name); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err := kinesin.Open(ctx, name, kinesin.JSON[item], kinesin.WithClient(c), kinesin.WithEFO("app"))
	took := time.Since(began)
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("Open = %v, want the service's error", err)
	}
	if took > 10*time.Second {
		t.Errorf("Open took %v to fail, want seconds", took)
	}
	t.Logf("Open failed in %v: %v", took, err)
}
