package kinesistest_test

import (
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesin-go/kinesin/kinesistest"
)

func byID(shards []types.Shard) map[string]types.Shard {
	m := make(map[string]types.Shard, len(shards))
	for _, sh := range shards {
		m[*sh.ShardId] = sh
	}
	return m
}

func TestSplitShard(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		var before []string
		for i := range 3 {
			before = append(before, *e.put(t, "s", fmt.Sprint("k", i), []byte("x")).SequenceNumber)
		}
		mid := new(big.Int).Rsh(two128, 1)
		if _, err := e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{
			StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String(mid.String()),
		}); err != nil {
			t.Fatal(err)
		}
		shards := e.shards(t, "s")
		if got := ids(shards); !slices.Equal(got, []string{shardID(0), shardID(1), shardID(2)}) {
			t.Fatalf("shards %v", got)
		}
		m := byID(shards)
		parent, lo, hi := m[shardID(0)], m[shardID(1)], m[shardID(2)]
		end := parent.SequenceNumberRange.EndingSequenceNumber
		if end == nil {
			t.Fatal("parent has no EndingSequenceNumber")
		}
		if bigOf(t, end).Cmp(bigOf(t, &before[2])) < 0 {
			t.Fatalf("parent ends at %s before its last record %s", *end, before[2])
		}
		for _, ch := range []types.Shard{lo, hi} {
			if aws.ToString(ch.ParentShardId) != shardID(0) || ch.AdjacentParentShardId != nil {
				t.Fatalf("child %s parents %v %v", *ch.ShardId, aws.ToString(ch.ParentShardId), aws.ToString(ch.AdjacentParentShardId))
			}
			if ch.SequenceNumberRange.EndingSequenceNumber != nil {
				t.Fatalf("child %s closed", *ch.ShardId)
			}
			if bigOf(t, ch.SequenceNumberRange.StartingSequenceNumber).Cmp(bigOf(t, end)) <= 0 {
				t.Fatalf("child %s starts at %s, not after the parent's end %s", *ch.ShardId, *ch.SequenceNumberRange.StartingSequenceNumber, *end)
			}
		}
		wantRange := func(sh types.Shard, from, to *big.Int) {
			t.Helper()
			if bigOf(t, sh.HashKeyRange.StartingHashKey).Cmp(from) != 0 || bigOf(t, sh.HashKeyRange.EndingHashKey).Cmp(to) != 0 {
				t.Fatalf("%s covers [%s, %s], want [%s, %s]", *sh.ShardId, *sh.HashKeyRange.StartingHashKey, *sh.HashKeyRange.EndingHashKey, from, to)
			}
		}
		wantRange(parent, big.NewInt(0), maxHashKey)
		wantRange(lo, big.NewInt(0), new(big.Int).Sub(mid, big.NewInt(1)))
		wantRange(hi, mid, maxHashKey)
		checkTiling(t, []types.Shard{lo, hi})

		// Records after the split go to the children, by hash key.
		if got := aws.ToString(e.putEHK(t, "s", new(big.Int).Sub(mid, big.NewInt(1)).String(), []byte("lo")).ShardId); got != shardID(1) {
			t.Fatalf("key below the split went to %s", got)
		}
		if got := aws.ToString(e.putEHK(t, "s", mid.String(), []byte("hi")).ShardId); got != shardID(2) {
			t.Fatalf("key at the split went to %s", got)
		}
		for i := range 50 {
			pk := fmt.Sprint("after", i)
			want := shardID(1)
			if md5Key(pk).Cmp(mid) >= 0 {
				want = shardID(2)
			}
			if got := aws.ToString(e.put(t, "s", pk, []byte("x")).ShardId); got != want {
				t.Fatalf("key %s went to %s, want %s", pk, got, want)
			}
		}
		recs, kids := e.readShard(t, "s", shardID(0))
		if !slices.Equal(seqs(recs), before) || len(kids) != 2 {
			t.Fatalf("parent: %d records, %d children", len(recs), len(kids))
		}
		if got := aws.ToInt32(e.summary(t, "s").OpenShardCount); got != 2 {
			t.Fatalf("OpenShardCount %d", got)
		}
		// DescribeStream agrees with ListShards.
		desc := must[*kinesis.DescribeStreamOutput](t)(e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s")}))
		if aws.ToString(desc.StreamDescription.Shards[0].SequenceNumberRange.EndingSequenceNumber) != *end {
			t.Fatal("DescribeStream shows another ending sequence number")
		}
	})
}

func TestSplitShardErrors(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 2)
		split := func(shard, key string) error {
			_, err := e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shard), NewStartingHashKey: aws.String(key)})
			return err
		}
		shards := e.shards(t, "s")
		start0 := *shards[0].HashKeyRange.StartingHashKey
		start1 := *shards[1].HashKeyRange.StartingHashKey
		for _, bad := range []string{"abc", "-5", "", two128.String(), start0, start1, maxHashKey.String()} {
			wantErr[*types.InvalidArgumentException](t, split(shardID(0), bad))
		}
		wantErr[*types.ResourceNotFoundException](t, split(shardID(9), "1000"))
		_, err := e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{StreamName: aws.String("nope"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("1000")})
		wantErr[*types.ResourceNotFoundException](t, err)
		if err := split(shardID(0), "1000"); err != nil {
			t.Fatal(err)
		}
		// The parent is closed now.
		wantErr[*types.InvalidArgumentException](t, split(shardID(0), "2000"))
		_, err = e.c.MergeShards(e.ctx, &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String(shardID(0)), AdjacentShardToMerge: aws.String(shardID(1))})
		wantErr[*types.InvalidArgumentException](t, err)
		if err := split(shardID(2), "500"); err != nil {
			t.Fatal(err)
		}
		checkTiling(t, e.openShards(t, "s"))
	})
}

func TestMergeShards(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 3)
		merge := func(a, b string) error {
			_, err := e.c.MergeShards(e.ctx, &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String(a), AdjacentShardToMerge: aws.String(b)})
			return err
		}
		wantErr[*types.InvalidArgumentException](t, merge(shardID(0), shardID(2)))
		wantErr[*types.InvalidArgumentException](t, merge(shardID(1), shardID(1)))
		wantErr[*types.ResourceNotFoundException](t, merge(shardID(0), shardID(7)))

		e.putEHK(t, "s", "0", []byte("in0"))
		e.putEHK(t, "s", maxHashKey.String(), []byte("in2"))
		before := byID(e.shards(t, "s"))
		// Adjacent, given higher range first.
		if err := merge(shardID(1), shardID(0)); err != nil {
			t.Fatal(err)
		}
		shards := byID(e.shards(t, "s"))
		child := shards[shardID(3)]
		if aws.ToString(child.ParentShardId) != shardID(1) || aws.ToString(child.AdjacentParentShardId) != shardID(0) {
			t.Fatalf("child parents %s %s", aws.ToString(child.ParentShardId), aws.ToString(child.AdjacentParentShardId))
		}
		if *child.HashKeyRange.StartingHashKey != *before[shardID(0)].HashKeyRange.StartingHashKey ||
			*child.HashKeyRange.EndingHashKey != *before[shardID(1)].HashKeyRange.EndingHashKey {
			t.Fatalf("child range [%s, %s]", *child.HashKeyRange.StartingHashKey, *child.HashKeyRange.EndingHashKey)
		}
		for _, p := range []string{shardID(0), shardID(1)} {
			if shards[p].SequenceNumberRange.EndingSequenceNumber == nil {
				t.Fatalf("parent %s still open", p)
			}
			recs, kids := e.readShard(t, "s", p)
			if len(kids) != 1 || aws.ToString(kids[0].ShardId) != shardID(3) || !slices.Equal(kids[0].ParentShards, []string{shardID(1), shardID(0)}) {
				t.Fatalf("parent %s children %+v", p, kids)
			}
			if p == shardID(0) && !slices.Equal(datas(recs), []string{"in0"}) {
				t.Fatalf("parent 0 holds %q", datas(recs))
			}
		}
		if got := aws.ToString(e.putEHK(t, "s", "0", []byte("x")).ShardId); got != shardID(3) {
			t.Fatalf("hash key 0 went to %s after the merge", got)
		}
		checkTiling(t, e.openShards(t, "s"))
		wantErr[*types.InvalidArgumentException](t, merge(shardID(0), shardID(3)))
		// The merged child and shard 2 are adjacent.
		if err := merge(shardID(3), shardID(2)); err != nil {
			t.Fatal(err)
		}
		open := e.openShards(t, "s")
		if got := ids(open); !slices.Equal(got, []string{shardID(4)}) {
			t.Fatalf("open shards %v", got)
		}
		checkTiling(t, open)
	})
}

func TestUpdateShardCount(t *testing.T) {
	for _, tc := range []struct{ from, to int }{
		{4, 8}, {8, 4}, {3, 5}, {5, 3}, {1, 2}, {2, 1}, {6, 11}, {7, 4}, {5, 10}, {10, 5},
	} {
		t.Run(fmt.Sprintf("%dto%d", tc.from, tc.to), func(t *testing.T) {
			eachMode(t, func(t *testing.T, e *env) {
				e.createStream(t, "s", tc.from)
				var keys []string
				for i := range 40 {
					keys = append(keys, fmt.Sprint("key", i))
					e.put(t, "s", keys[i], []byte(keys[i]))
				}
				original := byID(e.shards(t, "s"))
				out, err := e.c.UpdateShardCount(e.ctx, &kinesis.UpdateShardCountInput{
					StreamName: aws.String("s"), TargetShardCount: aws.Int32(int32(tc.to)), ScalingType: types.ScalingTypeUniformScaling,
				})
				if err != nil {
					t.Fatal(err)
				}
				if aws.ToInt32(out.CurrentShardCount) != int32(tc.from) || aws.ToInt32(out.TargetShardCount) != int32(tc.to) || aws.ToString(out.StreamName) != "s" {
					t.Fatalf("output %+v", out)
				}
				all := e.shards(t, "s")
				shards := byID(all)
				var open []types.Shard
				for _, sh := range all {
					if sh.SequenceNumberRange.EndingSequenceNumber == nil {
						open = append(open, sh)
					}
					if _, ok := original[*sh.ShardId]; ok {
						continue
					}
					// Every new shard has one or two parents, all closed.
					parents := []string{aws.ToString(sh.ParentShardId)}
					if sh.AdjacentParentShardId != nil {
						parents = append(parents, *sh.AdjacentParentShardId)
					}
					for _, p := range parents {
						ps, ok := shards[p]
						if !ok || ps.SequenceNumberRange.EndingSequenceNumber == nil {
							t.Fatalf("new shard %s has parent %q, which is not a closed shard", *sh.ShardId, p)
						}
					}
				}
				if len(open) != tc.to {
					t.Fatalf("%d open shards, want %d", len(open), tc.to)
				}
				if got := aws.ToInt32(e.summary(t, "s").OpenShardCount); got != int32(tc.to) {
					t.Fatalf("OpenShardCount %d", got)
				}
				checkUniform(t, open)

				// Every record is still readable by following the shard
				// lineage, and new records go to the open shards.
				total := 0
				for id := range original {
					recs, _ := e.readShard(t, "s", id)
					total += len(recs)
				}
				if total != len(keys) {
					t.Fatalf("read %d records from the original shards, want %d", total, len(keys))
				}
				for _, k := range keys[:20] {
					if got, want := aws.ToString(e.put(t, "s", k, []byte("x")).ShardId), shardFor(t, open, md5Key(k)); got != want {
						t.Fatalf("key %s went to %s, want %s", k, got, want)
					}
				}
			})
		})
	}
}

func TestUpdateShardCountErrors(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 4)
		update := func(n int32, scaling types.ScalingType) error {
			_, err := e.c.UpdateShardCount(e.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(n), ScalingType: scaling})
			return err
		}
		wantErr[*types.InvalidArgumentException](t, update(9, types.ScalingTypeUniformScaling))
		wantErr[*types.InvalidArgumentException](t, update(1, types.ScalingTypeUniformScaling))
		wantCode(t, update(0, types.ScalingTypeUniformScaling), "ValidationException", "InvalidArgumentException")
		wantCode(t, update(-4, types.ScalingTypeUniformScaling), "ValidationException", "InvalidArgumentException")
		wantCode(t, update(5, "BOGUS"), "ValidationException", "InvalidArgumentException")
		_, err := e.c.UpdateShardCount(e.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("nope"), TargetShardCount: aws.Int32(2), ScalingType: types.ScalingTypeUniformScaling})
		wantErr[*types.ResourceNotFoundException](t, err)
		// Within double and half: 8 and 2.
		if err := update(8, types.ScalingTypeUniformScaling); err != nil {
			t.Fatal(err)
		}
		if err := update(4, types.ScalingTypeUniformScaling); err != nil {
			t.Fatal(err)
		}
		if err := update(2, types.ScalingTypeUniformScaling); err != nil {
			t.Fatal(err)
		}
		// Past the account's shard limit, other streams included.
		if err := update(4, types.ScalingTypeUniformScaling); err != nil {
			t.Fatal(err)
		}
		e.createStream(t, "t", 2)
		wantErr[*types.LimitExceededException](t, update(7, types.ScalingTypeUniformScaling))
		if err := update(6, types.ScalingTypeUniformScaling); err != nil {
			t.Fatal(err)
		}
	}, kinesistest.ShardLimit(8))
}

func TestReshardDelay(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 4)
		split := func(shard string) error {
			_, err := e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shard), NewStartingHashKey: aws.String("1000")})
			return err
		}
		if err := split(shardID(0)); err != nil {
			t.Fatal(err)
		}
		if st := e.summary(t, "s").StreamStatus; st != types.StreamStatusUpdating {
			t.Fatalf("status %s, want UPDATING", st)
		}
		// The new shards exist at once and take records.
		if got := aws.ToString(e.putEHK(t, "s", "0", []byte("x")).ShardId); got != shardID(4) {
			t.Fatalf("put went to %s", got)
		}
		if n := len(e.openShards(t, "s")); n != 5 {
			t.Fatalf("%d open shards", n)
		}
		wantErr[*types.ResourceInUseException](t, split(shardID(1)))
		_, err := e.c.MergeShards(e.ctx, &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String(shardID(1)), AdjacentShardToMerge: aws.String(shardID(2))})
		wantErr[*types.ResourceInUseException](t, err)
		_, err = e.c.UpdateShardCount(e.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling})
		wantErr[*types.ResourceInUseException](t, err)

		e.clock.Advance(10*time.Second - time.Millisecond)
		wantErr[*types.ResourceInUseException](t, split(shardID(1)))
		e.clock.Advance(time.Millisecond)
		if st := e.summary(t, "s").StreamStatus; st != types.StreamStatusActive {
			t.Fatalf("status %s after the delay", st)
		}
		if _, err := e.c.MergeShards(e.ctx, &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String(shardID(1)), AdjacentShardToMerge: aws.String(shardID(2))}); err != nil {
			t.Fatal(err)
		}
		if st := e.summary(t, "s").StreamStatus; st != types.StreamStatusUpdating {
			t.Fatalf("status %s after a merge, want UPDATING", st)
		}
		e.clock.Advance(10 * time.Second)
		if _, err := e.c.UpdateShardCount(e.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(2), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
			t.Fatal(err)
		}
		if st := e.summary(t, "s").StreamStatus; st != types.StreamStatusUpdating {
			t.Fatalf("status %s after UpdateShardCount, want UPDATING", st)
		}
	}, kinesistest.ReshardDelay(10*time.Second))
}

func TestReshardOnDemand(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		if _, err := e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{
			StreamName: aws.String("od"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
		}); err != nil {
			t.Fatal(err)
		}
		_, err := e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{StreamName: aws.String("od"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("1000")})
		wantErr[*types.ValidationException](t, err)
		_, err = e.c.MergeShards(e.ctx, &kinesis.MergeShardsInput{StreamName: aws.String("od"), ShardToMerge: aws.String(shardID(0)), AdjacentShardToMerge: aws.String(shardID(1))})
		wantErr[*types.ValidationException](t, err)
		_, err = e.c.UpdateShardCount(e.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("od"), TargetShardCount: aws.Int32(5), ScalingType: types.ScalingTypeUniformScaling})
		wantErr[*types.ValidationException](t, err)
		if n := len(e.openShards(t, "od")); n != 4 {
			t.Fatalf("%d open shards", n)
		}
	})
}
