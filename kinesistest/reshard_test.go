package kinesistest_test

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
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
		// Adjacent, but given higher range first: the service refuses the
		// pair ("not an adjacent pair of shards eligible for merging").
		wantErr[*types.InvalidArgumentException](t, merge(shardID(1), shardID(0)))
		wantErr[*types.InvalidArgumentException](t, merge(shardID(2), shardID(1)))
		if open := e.openShards(t, "s"); len(open) != 3 {
			t.Fatalf("a refused merge changed the open shards: %v", ids(open))
		}
		if err := merge(shardID(0), shardID(1)); err != nil {
			t.Fatal(err)
		}
		shards := byID(e.shards(t, "s"))
		child := shards[shardID(3)]
		if aws.ToString(child.ParentShardId) != shardID(0) || aws.ToString(child.AdjacentParentShardId) != shardID(1) {
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
			if len(kids) != 1 || aws.ToString(kids[0].ShardId) != shardID(3) || !slices.Equal(kids[0].ParentShards, []string{shardID(0), shardID(1)}) {
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
		// The merged child and shard 2 are adjacent, shard 2 above.
		wantErr[*types.InvalidArgumentException](t, merge(shardID(2), shardID(3)))
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
	}, kinesistest.WithShardLimit(8))
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
	}, kinesistest.WithReshardDelay(10*time.Second))
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

// TestSplitShardKeyBounds: SplitShard takes a NewStartingHashKey "greater
// than one plus the shard's StartingHashKey and less than the shard's
// EndingHashKey", as the service's message says, and no other: each child
// gets two hash keys at least.
func TestSplitShardKeyBounds(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		split := func(shard string, key *big.Int) error {
			_, err := e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shard), NewStartingHashKey: aws.String(key.String())})
			return err
		}
		n := big.NewInt
		// Shard 0 covers every hash key.
		for _, bad := range []*big.Int{n(0), n(1), maxHashKey} {
			wantErr[*types.InvalidArgumentException](t, split(shardID(0), bad))
		}
		if got := len(e.shards(t, "s")); got != 1 {
			t.Fatalf("%d shards after refused splits", got)
		}
		// Shard 1 covers [0, 999], shard 2 [1000, 2^128-1].
		if err := split(shardID(0), n(1000)); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []*big.Int{n(0), n(1), n(999), n(1000)} {
			wantErr[*types.InvalidArgumentException](t, split(shardID(1), bad))
		}
		for _, bad := range []*big.Int{n(1000), n(1001), maxHashKey} {
			wantErr[*types.InvalidArgumentException](t, split(shardID(2), bad))
		}
		// The keys next to the bounds are fine.
		if err := split(shardID(1), n(2)); err != nil { // shards 3 [0, 1] and 4 [2, 999]
			t.Fatalf("split [0, 999] at 2: %v", err)
		}
		if err := split(shardID(4), n(998)); err != nil { // shards 5 [2, 997] and 6 [998, 999]
			t.Fatalf("split [2, 999] at 998: %v", err)
		}
		if err := split(shardID(2), new(big.Int).Sub(maxHashKey, n(1))); err != nil {
			t.Fatalf("split [1000, 2^128-1] at 2^128-2: %v", err)
		}
		open := e.openShards(t, "s")
		checkTiling(t, open)
		for _, sh := range open {
			if bigOf(t, sh.HashKeyRange.EndingHashKey).Cmp(bigOf(t, sh.HashKeyRange.StartingHashKey)) < 1 {
				t.Errorf("shard %s has fewer than 2 hash keys", *sh.ShardId)
			}
		}
		// A 2-key shard cannot be split at all.
		for _, key := range []*big.Int{n(0), n(1), n(2)} {
			wantErr[*types.InvalidArgumentException](t, split(shardID(3), key))
		}
	})
}

// TestSplitHelperSmallShards: the Split helper splits at the middle, which
// SplitShard accepts for a shard of 4 hash keys or more; a smaller shard is a
// clear error.
func TestSplitHelperSmallShards(t *testing.T) {
	t.Parallel()
	fake := kinesistest.New(nil) // helper failures are expected: no TB to report them to
	t.Cleanup(fake.Close)
	c := fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	for width := int64(2); width <= 12; width++ {
		name := fmt.Sprint("w", width)
		if err := fake.CreateStream(name, 1); err != nil {
			t.Fatal(err)
		}
		// Shard 1 covers [0, width-1].
		if _, err := c.SplitShard(t.Context(), &kinesis.SplitShardInput{
			StreamName: aws.String(name), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String(fmt.Sprint(width)),
		}); err != nil {
			t.Fatal(err)
		}
		kids, err := fake.Split(name, shardID(1))
		if width < 4 {
			if err == nil || !strings.Contains(err.Error(), "too few to split") {
				t.Fatalf("Split of a %d-key shard: %v, want a too-few-keys error", width, err)
			}
			shards, _ := fake.Shards(name)
			if len(shards) != 3 || !shards[1].Open {
				t.Fatalf("a failed Split changed the shards: %+v", shards)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Split of a %d-key shard: %v", width, err)
		}
		shards, _ := fake.Shards(name)
		byID := map[string]kinesistest.ShardInfo{}
		for _, sh := range shards {
			byID[sh.ID] = sh
		}
		lo, hi := byID[kids[0]], byID[kids[1]]
		mid, _ := strconv.ParseInt(hi.StartingHashKey, 10, 64)
		if lo.StartingHashKey != "0" || lo.EndingHashKey != fmt.Sprint(mid-1) || hi.EndingHashKey != fmt.Sprint(width-1) {
			t.Fatalf("width %d: children [%s, %s] and [%s, %s]", width, lo.StartingHashKey, lo.EndingHashKey, hi.StartingHashKey, hi.EndingHashKey)
		}
		if mid <= 1 || mid >= width-1 {
			t.Fatalf("width %d: split at %d, outside what SplitShard accepts (2 to %d)", width, mid, width-2)
		}
		if mid != width/2 {
			t.Fatalf("width %d: split at %d, not the middle", width, mid)
		}
	}
}

// TestMergeHelperEitherOrder: the Merge helper takes an adjacent pair either
// way round and merges it as MergeShards needs it, lower range first.
func TestMergeHelperEitherOrder(t *testing.T) {
	t.Parallel()
	fake := kinesistest.New(t)
	fake.CreateStream("s", 4)
	for _, pair := range [][2]string{{shardID(1), shardID(0)}, {shardID(2), shardID(3)}} {
		child, err := fake.Merge("s", pair[0], pair[1])
		if err != nil {
			t.Fatal(err)
		}
		shards, _ := fake.Shards("s")
		for _, sh := range shards {
			if sh.ID != child {
				continue
			}
			lower, upper := min(pair[0], pair[1]), max(pair[0], pair[1]) // ids in range order on a new stream
			if sh.ParentShardID != lower || sh.AdjacentParentShardID != upper {
				t.Fatalf("Merge(%s, %s): child %s has parents %s and %s, want %s and %s", pair[0], pair[1], child, sh.ParentShardID, sh.AdjacentParentShardID, lower, upper)
			}
		}
	}
	// Children 4 [shards 0+1] and 5 [shards 2+3], given upper first.
	if _, err := fake.Merge("s", shardID(5), shardID(4)); err != nil {
		t.Fatal(err)
	}
}

// TestUpdateShardCountUnevenShards: UpdateShardCount reaches uniform shards
// from shards left uneven by SplitShard, even where a target boundary is
// the last or the second hash key of a shard (a cut SplitShard would refuse).
func TestUpdateShardCountUnevenShards(t *testing.T) {
	half := new(big.Int).Lsh(big.NewInt(1), 127) // the boundary of 2 uniform shards
	for _, at := range []*big.Int{
		new(big.Int).Add(half, big.NewInt(1)), // shard 1 ends at the boundary
		new(big.Int).Sub(half, big.NewInt(1)), // shard 2 starts just before it
	} {
		t.Run(at.String(), func(t *testing.T) {
			eachMode(t, func(t *testing.T, e *env) {
				e.createStream(t, "s", 1)
				if _, err := e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{
					StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String(at.String()),
				}); err != nil {
					t.Fatal(err)
				}
				if _, err := e.c.UpdateShardCount(e.ctx, &kinesis.UpdateShardCountInput{
					StreamName: aws.String("s"), TargetShardCount: aws.Int32(2), ScalingType: types.ScalingTypeUniformScaling,
				}); err != nil {
					t.Fatal(err)
				}
				open := e.openShards(t, "s")
				if len(open) != 2 {
					t.Fatalf("open shards %v", ids(open))
				}
				checkUniform(t, open)
				for _, sh := range open {
					if sh.ParentShardId == nil {
						t.Fatalf("open shard %s has no parent", *sh.ShardId)
					}
				}
			})
		})
	}
}
