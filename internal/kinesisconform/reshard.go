package kinesisconform

// Cases about resharding: SplitShard, MergeShards, UpdateShardCount and
// reading a closed shard.

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// midpoint is the middle of the shard's hash key range.
func midpoint(t *testing.T, sh types.Shard) *big.Int {
	lo, hi := hashRange(t, sh)
	m := new(big.Int).Add(lo, hi)
	return m.Rsh(m.Add(m, big.NewInt(1)), 1)
}

// split splits sh at key and waits until the stream is ACTIVE again.
func (tg *Target) split(t *testing.T, name string, sh types.Shard, key *big.Int) {
	t.Helper()
	_, err := tg.Client.SplitShard(t.Context(), &kinesis.SplitShardInput{
		StreamName: aws.String(name), ShardToSplit: sh.ShardId, NewStartingHashKey: aws.String(key.String()),
	})
	if err != nil {
		t.Fatalf("SplitShard %s at %s: %v", aws.ToString(sh.ShardId), key, err)
	}
	tg.waitActive(t, name)
}

// merge merges two shards and waits until the stream is ACTIVE again.
func (tg *Target) merge(t *testing.T, name string, a, b types.Shard) {
	t.Helper()
	_, err := tg.Client.MergeShards(t.Context(), &kinesis.MergeShardsInput{
		StreamName: aws.String(name), ShardToMerge: a.ShardId, AdjacentShardToMerge: b.ShardId,
	})
	if err != nil {
		t.Fatalf("MergeShards %s %s: %v", aws.ToString(a.ShardId), aws.ToString(b.ShardId), err)
	}
	tg.waitActive(t, name)
}

func testSplitShard(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	parent := tg.shards(t, s.name)[0]
	lo, hi := hashRange(t, parent)
	key := new(big.Int).Add(lo, new(big.Int).Div(new(big.Int).Sub(hi, lo), big.NewInt(3))) // a third of the way
	tg.putToShard(t, s.name, parent, "before")
	tg.split(t, s.name, parent, key)

	shards := tg.shards(t, s.name)
	if got, want := sortedIDs(shards), []string{shardID(0), shardID(1), shardID(2), shardID(3)}; !slices.Equal(got, want) {
		t.Fatalf("shards after the split %v, want %v", got, want)
	}
	p := shardByID(t, shards, shardID(0))
	if p.SequenceNumberRange == nil || p.SequenceNumberRange.EndingSequenceNumber == nil {
		t.Fatalf("split parent %s has no EndingSequenceNumber", shardID(0))
	}
	bigOf(t, p.SequenceNumberRange.EndingSequenceNumber, "EndingSequenceNumber")
	keyMinus1 := new(big.Int).Sub(key, big.NewInt(1))
	for _, c := range []struct {
		id     string
		lo, hi *big.Int
	}{{shardID(2), lo, keyMinus1}, {shardID(3), key, hi}} {
		ch := shardByID(t, shards, c.id)
		clo, chi := hashRange(t, ch)
		if clo.Cmp(c.lo) != 0 || chi.Cmp(c.hi) != 0 {
			t.Errorf("child %s range [%s, %s], want [%s, %s]", c.id, clo, chi, c.lo, c.hi)
		}
		if got := aws.ToString(ch.ParentShardId); got != shardID(0) {
			t.Errorf("child %s ParentShardId %q, want %s", c.id, got, shardID(0))
		}
		if ch.AdjacentParentShardId != nil {
			t.Errorf("split child %s has AdjacentParentShardId %s", c.id, *ch.AdjacentParentShardId)
		}
		if ch.SequenceNumberRange == nil || ch.SequenceNumberRange.EndingSequenceNumber != nil {
			t.Errorf("child %s is not open", c.id)
		}
	}
	open := openShards(shards)
	if len(open) != 3 {
		t.Fatalf("open shards %v, want 3", shardIDs(open))
	}
	checkCover(t, open)
	// New records for the parent's range go to the children.
	tg.putToShard(t, s.name, shardByID(t, shards, shardID(2)), "to-2")
	tg.putToShard(t, s.name, shardByID(t, shards, shardID(3)), "to-3")
	for i := 0; i < 16; i++ {
		pk := fmt.Sprintf("after-%d", i)
		h := hashOf(pk)
		if h.Cmp(lo) < 0 || h.Cmp(hi) > 0 {
			continue
		}
		out, err := tg.Client.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String(s.name), PartitionKey: aws.String(pk), Data: []byte(pk)})
		if err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
		if got, want := aws.ToString(out.ShardId), owner(t, shards, h); got != want || got == shardID(0) {
			t.Errorf("PutRecord %q after the split went to %s, want child %s", pk, got, want)
		}
	}
	sum := tg.waitActive(t, s.name)
	if got := aws.ToInt32(sum.OpenShardCount); got != 3 {
		t.Errorf("OpenShardCount %d after splitting one of 2 shards, want 3", got)
	}
}

func testSplitShardKeyOutsideRange(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	shards := tg.shards(t, s.name)
	lo1, _ := hashRange(t, shards[1]) // the first hash key of shard 1 is outside shard 0
	_, err := tg.Client.SplitShard(t.Context(), &kinesis.SplitShardInput{
		StreamName: aws.String(s.name), ShardToSplit: shards[0].ShardId, NewStartingHashKey: aws.String(lo1.String()),
	})
	wantErr[*types.InvalidArgumentException](t, err, "SplitShard at a hash key outside the shard")
}

// splitOne makes a 1-shard stream holding records p0..p2, splits the shard
// at its middle, and puts c0, c1 (to the children) after the split.
func (tg *Target) splitOne(t *testing.T) (stream, types.Shard) {
	t.Helper()
	s := tg.newStream(t, 1)
	parent := tg.shards(t, s.name)[0]
	tg.putN(t, s.name, "p", 3)
	tg.split(t, s.name, parent, midpoint(t, parent))
	tg.putN(t, s.name, "c", 2)
	return s, parent
}

func testReadClosedShardToEnd(t *testing.T, tg *Target) {
	s, parent := tg.splitOne(t)
	r := tg.readToEnd(t, tg.iterator(t, s.name, aws.ToString(parent.ShardId), types.ShardIteratorTypeTrimHorizon, "", nil))
	if got := datas(r.records); !slices.Equal(got, names("p", 0, 3)) {
		t.Fatalf("the split parent holds %q, want p0..p2 only", got)
	}
}

func testClosedShardChildShards(t *testing.T, tg *Target) {
	s, parent := tg.splitOne(t)
	r := tg.readToEnd(t, tg.iterator(t, s.name, aws.ToString(parent.ShardId), types.ShardIteratorTypeTrimHorizon, "", nil))
	kids := r.last.ChildShards
	if len(kids) != 2 {
		t.Fatalf("the last GetRecords of the split parent has ChildShards %+v, want the 2 children", kids)
	}
	lo, hi := hashRange(t, parent)
	mid := midpoint(t, parent)
	want := map[string][2]*big.Int{
		shardID(1): {lo, new(big.Int).Sub(mid, big.NewInt(1))},
		shardID(2): {mid, hi},
	}
	for _, k := range kids {
		id := aws.ToString(k.ShardId)
		rng, ok := want[id]
		if !ok {
			t.Errorf("unexpected child %s", id)
			continue
		}
		delete(want, id)
		if !slices.Equal(k.ParentShards, []string{aws.ToString(parent.ShardId)}) {
			t.Errorf("child %s ParentShards %v, want [%s]", id, k.ParentShards, aws.ToString(parent.ShardId))
		}
		if k.HashKeyRange == nil {
			t.Errorf("child %s has no HashKeyRange", id)
			continue
		}
		clo, chi := bigOf(t, k.HashKeyRange.StartingHashKey, "StartingHashKey"), bigOf(t, k.HashKeyRange.EndingHashKey, "EndingHashKey")
		if clo.Cmp(rng[0]) != 0 || chi.Cmp(rng[1]) != 0 {
			t.Errorf("child %s range [%s, %s], want [%s, %s]", id, clo, chi, rng[0], rng[1])
		}
	}
}

func testMergeShards(t *testing.T, tg *Target) {
	s := tg.newStream(t, 3)
	shards := tg.shards(t, s.name)
	a, b := shards[1], shards[2]
	alo, _ := hashRange(t, a)
	_, bhi := hashRange(t, b)
	tg.putToShard(t, s.name, a, "on-1")
	tg.putToShard(t, s.name, b, "on-2")
	tg.merge(t, s.name, a, b)

	shards = tg.shards(t, s.name)
	if got, want := sortedIDs(shards), []string{shardID(0), shardID(1), shardID(2), shardID(3)}; !slices.Equal(got, want) {
		t.Fatalf("shards after the merge %v, want %v", got, want)
	}
	child := shardByID(t, shards, shardID(3))
	if got := aws.ToString(child.ParentShardId); got != shardID(1) {
		t.Errorf("merge child ParentShardId %q, want %s", got, shardID(1))
	}
	if got := aws.ToString(child.AdjacentParentShardId); got != shardID(2) {
		t.Errorf("merge child AdjacentParentShardId %q, want %s", got, shardID(2))
	}
	clo, chi := hashRange(t, child)
	if clo.Cmp(alo) != 0 || chi.Cmp(bhi) != 0 {
		t.Errorf("merge child range [%s, %s], want [%s, %s]", clo, chi, alo, bhi)
	}
	for _, id := range []string{shardID(1), shardID(2)} {
		p := shardByID(t, shards, id)
		if p.SequenceNumberRange == nil || p.SequenceNumberRange.EndingSequenceNumber == nil {
			t.Errorf("merged parent %s has no EndingSequenceNumber", id)
		}
	}
	checkCover(t, openShards(shards))
	for _, k := range []*big.Int{alo, bhi} {
		out, err := tg.Client.PutRecord(t.Context(), &kinesis.PutRecordInput{
			StreamName: aws.String(s.name), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(k.String()), Data: []byte("after"),
		})
		if err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
		if got := aws.ToString(out.ShardId); got != shardID(3) {
			t.Errorf("PutRecord ExplicitHashKey %s after the merge went to %s, want %s", k, got, shardID(3))
		}
	}
	if got := aws.ToInt32(tg.waitActive(t, s.name).OpenShardCount); got != 2 {
		t.Errorf("OpenShardCount %d after merging two of 3 shards, want 2", got)
	}
}

func testMergeNonAdjacent(t *testing.T, tg *Target) {
	s := tg.newStream(t, 3)
	shards := tg.shards(t, s.name)
	_, err := tg.Client.MergeShards(t.Context(), &kinesis.MergeShardsInput{
		StreamName: aws.String(s.name), ShardToMerge: shards[0].ShardId, AdjacentShardToMerge: shards[2].ShardId,
	})
	wantErr[*types.InvalidArgumentException](t, err, "MergeShards of shards 0 and 2 (not adjacent)")
}

func testReshardClosedShard(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	parent := tg.shards(t, s.name)[0]
	tg.split(t, s.name, parent, midpoint(t, parent))
	_, err := tg.Client.SplitShard(t.Context(), &kinesis.SplitShardInput{
		StreamName: aws.String(s.name), ShardToSplit: parent.ShardId, NewStartingHashKey: aws.String(midpoint(t, parent).String()),
	})
	wantErr[*types.InvalidArgumentException](t, err, "SplitShard of a shard already split")
}

func testUpdateShardCount(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	out, err := tg.Client.UpdateShardCount(t.Context(), &kinesis.UpdateShardCountInput{
		StreamName: aws.String(s.name), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling,
	})
	if err != nil {
		t.Fatalf("UpdateShardCount 2 -> 4: %v", err)
	}
	if aws.ToInt32(out.CurrentShardCount) != 2 || aws.ToInt32(out.TargetShardCount) != 4 || aws.ToString(out.StreamName) != s.name {
		t.Errorf("UpdateShardCount output Current %d Target %d StreamName %q, want 2, 4, %q",
			aws.ToInt32(out.CurrentShardCount), aws.ToInt32(out.TargetShardCount), aws.ToString(out.StreamName), s.name)
	}
	sum := tg.waitActive(t, s.name)
	if got := aws.ToInt32(sum.OpenShardCount); got != 4 {
		t.Errorf("OpenShardCount %d after UpdateShardCount to 4", got)
	}
	open := openShards(tg.shards(t, s.name))
	if len(open) != 4 {
		t.Fatalf("open shards %v, want 4", shardIDs(open))
	}
	checkCover(t, open)
	for _, sh := range open {
		if sh.ParentShardId == nil {
			t.Errorf("open shard %s after UpdateShardCount has no parent", aws.ToString(sh.ShardId))
		}
	}
}

func testUpdateShardCountBeyondDouble(t *testing.T, tg *Target) {
	s := tg.newStream(t, 3)
	// UpdateShardCount's default limits: no scaling "to more than double
	// your current shard count" nor "below half". (The error code is not
	// documented; kinesis-local and the fake answer InvalidArgumentException,
	// scaling tools catch it or LimitExceededException.)
	for _, target := range []int32{7, 1} {
		_, err := tg.Client.UpdateShardCount(t.Context(), &kinesis.UpdateShardCountInput{
			StreamName: aws.String(s.name), TargetShardCount: aws.Int32(target), ScalingType: types.ScalingTypeUniformScaling,
		})
		var ia *types.InvalidArgumentException
		var le *types.LimitExceededException
		if !errors.As(err, &ia) && !errors.As(err, &le) {
			t.Errorf("UpdateShardCount of 3 shards to %d: %v, want InvalidArgumentException or LimitExceededException", target, err)
		}
	}
	if got := len(openShards(tg.shards(t, s.name))); got != 3 {
		t.Errorf("%d open shards after refused scalings, want the 3 unchanged", got)
	}
}

func testSplitParentEndingSequenceNumber(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	parent := tg.shards(t, s.name)[0]
	seqs := tg.putN(t, s.name, "p", 3)
	tg.split(t, s.name, parent, midpoint(t, parent))
	p := shardByID(t, tg.shards(t, s.name), shardID(0))
	if p.SequenceNumberRange == nil || p.SequenceNumberRange.EndingSequenceNumber == nil {
		t.Fatalf("split parent has no EndingSequenceNumber")
	}
	end := bigOf(t, p.SequenceNumberRange.EndingSequenceNumber, "EndingSequenceNumber")
	last := bigOf(t, &seqs[2], "SequenceNumber")
	if end.Cmp(last) < 0 {
		t.Errorf("split parent EndingSequenceNumber %s is below its last record's %s", end, last)
	}
	start := bigOf(t, p.SequenceNumberRange.StartingSequenceNumber, "StartingSequenceNumber")
	if end.Cmp(start) < 0 {
		t.Errorf("split parent range [%s, %s] ends before it starts", start, end)
	}
}

func testSplitShardKeyBounds(t *testing.T, tg *Target) {
	// "NewStartingHashKey ... is not both greater than one plus the shard's
	// StartingHashKey and less than the shard's EndingHashKey": the service
	// refuses the first two keys of the range and its last (kinesalite's
	// suite, run against the service, checks 1 and the EndingHashKey). A fresh
	// stream for each key, so a wrongly accepted split cannot hide the next.
	for _, at := range []string{"StartingHashKey", "StartingHashKey+1", "EndingHashKey"} {
		s := tg.newStream(t, 1)
		sh := tg.shards(t, s.name)[0]
		lo, hi := hashRange(t, sh)
		k := map[string]*big.Int{"StartingHashKey": lo, "StartingHashKey+1": new(big.Int).Add(lo, big.NewInt(1)), "EndingHashKey": hi}[at]
		_, err := tg.Client.SplitShard(t.Context(), &kinesis.SplitShardInput{
			StreamName: aws.String(s.name), ShardToSplit: sh.ShardId, NewStartingHashKey: aws.String(k.String()),
		})
		checkErr[*types.InvalidArgumentException](t, err, fmt.Sprintf("SplitShard at the shard's %s (%s)", at, k))
	}
}

func testLatestOnClosedShard(t *testing.T, tg *Target) {
	s, parent := tg.splitOne(t)
	r := tg.readToEnd(t, tg.iterator(t, s.name, aws.ToString(parent.ShardId), types.ShardIteratorTypeLatest, "", nil))
	if len(r.records) != 0 {
		t.Fatalf("LATEST on a closed shard read %q, want nothing", datas(r.records))
	}
}

func testMergeInvertedAdjacency(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	// ShardToMerge must be the lower range, AdjacentShardToMerge the one just
	// above it (kinesalite's suite, run against the service: "adjacency is
	// inverted" is InvalidArgumentException).
	_, err := tg.Client.MergeShards(t.Context(), &kinesis.MergeShardsInput{
		StreamName: aws.String(s.name), ShardToMerge: aws.String(shardID(1)), AdjacentShardToMerge: aws.String(shardID(0)),
	})
	wantErr[*types.InvalidArgumentException](t, err, "MergeShards with ShardToMerge above AdjacentShardToMerge")
}
