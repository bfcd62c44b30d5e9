package kinesistest

// Resharding: SplitShard, MergeShards, UpdateShardCount.
//
// Behavior:
//   - A split closes the parent and opens two children covering
//     [start, NewStartingHashKey-1] and [NewStartingHashKey, end]; a merge
//     closes both parents and opens one child with ParentShardId and
//     AdjacentParentShardId. The new shards exist at once; the stream is
//     UPDATING for ReshardDelay, during which further resharding is
//     ResourceInUseException.
//   - SplitShard's NewStartingHashKey must be greater than one plus the
//     shard's StartingHashKey and less than its EndingHashKey, as the
//     service's message says: each child gets at least two hash keys, and a
//     shard of fewer than 4 cannot be split. Any other key is
//     InvalidArgumentException.
//   - MergeShards takes ShardToMerge and, as AdjacentShardToMerge, the shard
//     whose range starts right after ShardToMerge's ends: the pair the other
//     way round, or shards that are not adjacent, is InvalidArgumentException
//     ("... are not an adjacent pair of shards eligible for merging"). The
//     child's ParentShardId is ShardToMerge, its AdjacentParentShardId
//     AdjacentShardToMerge.
//   - Resharding a closed shard is InvalidArgumentException (a shard that does
//     not exist: ResourceNotFoundException). Resharding an ON_DEMAND stream is
//     ValidationException.
//   - UpdateShardCount with UNIFORM_SCALING reaches the target through real
//     splits and merges, so every new shard has one or two parents, as on the
//     service. The target must lie within half and double the open shard count
//     (InvalidArgumentException otherwise, as kinesis-local answers). With
//     WithServiceLimits, a stream scales at most 10 times in a rolling 24
//     hours, and to at most 10,000 shards (LimitExceededException), as the
//     API reference's default limits say.
//     These splits are the service's own, not SplitShard calls: they cut a
//     shard at any target boundary inside it, even one that leaves a child a
//     single hash key (shards left uneven by earlier splits), and merge each
//     pair lower range first.
//   - The Split helper splits at the middle of the range, which SplitShard
//     accepts for any shard of 4 hash keys or more; the Merge helper takes
//     the pair in either order and merges it lower range first.

import (
	"math/big"
	"slices"
	"time"
)

type splitShardReq struct {
	streamRef
	ShardToSplit       *string `json:"ShardToSplit"`
	NewStartingHashKey *string `json:"NewStartingHashKey"`
}

func (r *splitShardReq) keys(f *Fake) Match {
	m := r.streamRef.keys(f)
	if r.ShardToSplit != nil {
		m.Shard = *r.ShardToSplit
	}
	return m
}

func opSplitShard(f *Fake, c *call, r *splitShardReq) (any, *apiError) {
	if r.ShardToSplit == nil || r.NewStartingHashKey == nil {
		return nil, validation("ShardToSplit and NewStartingHashKey are required")
	}
	key, ok := parseHashKey(*r.NewStartingHashKey)
	if !ok {
		return nil, invalidArg("NewStartingHashKey %q is not a hash key between 0 and 2^128-1", *r.NewStartingHashKey)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if err := f.canReshard(s, now, 1); err != nil {
		return nil, err
	}
	sh, err := f.openShard(s, *r.ShardToSplit)
	if err != nil {
		return nil, err
	}
	if err := f.checkSplitKey(sh, key); err != nil {
		return nil, err
	}
	if _, _, err := f.split(s, sh.id, key, now); err != nil {
		return nil, err
	}
	s.updating = now.Add(f.cfg.reshardDelay)
	return struct{}{}, nil
}

// checkSplitKey checks key is a NewStartingHashKey SplitShard accepts for
// sh: greater than one plus its StartingHashKey and less than its
// EndingHashKey.
func (f *Fake) checkSplitKey(sh *shard, key u128) *apiError {
	// key > lo+1 without overflow: key > lo, then key-1 > lo.
	if key.cmp(sh.lo) <= 0 || key.sub1().cmp(sh.lo) <= 0 || key.cmp(sh.hi) >= 0 {
		return invalidArg("NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.", key, sh.id, sh.stream.name, f.cfg.account, sh.loStr, sh.hiStr)
	}
	return nil
}

// canReshard checks the stream can change shape now, adding extra shards.
func (f *Fake) canReshard(s *stream, now time.Time, extra int) *apiError {
	if s.onDemand {
		return validation("Stream %s under account %s is in ON_DEMAND capacity mode: resharding is only supported for PROVISIONED streams.", s.name, f.cfg.account)
	}
	switch s.status(now) {
	case "CREATING", "UPDATING", "DELETING":
		return inUse("Stream %s under account %s not ACTIVE, instead in state %s", s.name, f.cfg.account, s.status(now))
	}
	if f.openShardTotal()+extra > f.cfg.shardLimit {
		return errorf(CodeLimitExceeded, "This request would exceed the shard limit for the account %s in %s. Limit: %d.", f.cfg.account, f.cfg.region, f.cfg.shardLimit)
	}
	return nil
}

// openShard finds an open shard of s for resharding.
func (f *Fake) openShard(s *stream, id string) (*shard, *apiError) {
	sh := s.byID[id]
	if sh == nil || sh.gone {
		return nil, notFound("Could not find shard %s in stream %s under account %s.", id, s.name, f.cfg.account)
	}
	if !sh.open() {
		return nil, invalidArg("Shard %s in stream %s under account %s has already been merged or split, and thus is not eligible for merging or splitting.", id, s.name, f.cfg.account)
	}
	return sh, nil
}

// split splits shard id of s at key into [start, key-1] and [key, end]. It
// only needs both children non-empty: SplitShard and the Split helper check
// the service's stricter bound first (checkSplitKey); UpdateShardCount's
// splits need not. Callers hold f.mu.
func (f *Fake) split(s *stream, id string, key u128, now time.Time) (*shard, *shard, *apiError) {
	sh, err := f.openShard(s, id)
	if err != nil {
		return nil, nil, err
	}
	if key.cmp(sh.lo) <= 0 || key.cmp(sh.hi) > 0 {
		return nil, nil, errorf(CodeInternalFailure, "kinesistest: split of shard %s [%s, %s] at %s leaves a child empty", sh.id, sh.loStr, sh.hiStr, key)
	}
	sh.close(now)
	a := s.newShard(sh.lo, key.sub1(), sh.id, "", now)
	b := s.newShard(key, sh.hi, sh.id, "", now)
	sh.children = []string{a.id, b.id}
	return a, b, nil
}

type mergeShardsReq struct {
	streamRef
	ShardToMerge         *string `json:"ShardToMerge"`
	AdjacentShardToMerge *string `json:"AdjacentShardToMerge"`
}

func (r *mergeShardsReq) keys(f *Fake) Match {
	m := r.streamRef.keys(f)
	if r.ShardToMerge != nil {
		m.Shard = *r.ShardToMerge
	}
	return m
}

func opMergeShards(f *Fake, c *call, r *mergeShardsReq) (any, *apiError) {
	if r.ShardToMerge == nil || r.AdjacentShardToMerge == nil {
		return nil, validation("ShardToMerge and AdjacentShardToMerge are required")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if err := f.canReshard(s, now, 0); err != nil {
		return nil, err
	}
	if _, err := f.merge(s, *r.ShardToMerge, *r.AdjacentShardToMerge, now); err != nil {
		return nil, err
	}
	s.updating = now.Add(f.cfg.reshardDelay)
	return struct{}{}, nil
}

// merge merges two open shards of s as MergeShards does: adjacentID's range
// must start right after id's ends. Callers hold f.mu.
func (f *Fake) merge(s *stream, id, adjacentID string, now time.Time) (*shard, *apiError) {
	a, err := f.openShard(s, id)
	if err != nil {
		return nil, err
	}
	b, err := f.openShard(s, adjacentID)
	if err != nil {
		return nil, err
	}
	if a == b || a.hi == maxHashKey || a.hi.add(1) != b.lo {
		return nil, invalidArg("Shards %s and %s in stream %s under account %s are not an adjacent pair of shards eligible for merging", id, adjacentID, s.name, f.cfg.account)
	}
	a.close(now)
	b.close(now)
	child := s.newShard(a.lo, b.hi, a.id, b.id, now)
	a.children = []string{child.id}
	b.children = []string{child.id}
	return child, nil
}

type updateShardCountReq struct {
	streamRef
	TargetShardCount *int    `json:"TargetShardCount"`
	ScalingType      *string `json:"ScalingType"`
}

func opUpdateShardCount(f *Fake, c *call, r *updateShardCountReq) (any, *apiError) {
	if r.TargetShardCount == nil || r.ScalingType == nil {
		return nil, validation("TargetShardCount and ScalingType are required")
	}
	if *r.ScalingType != "UNIFORM_SCALING" {
		return nil, validation("ScalingType %q is not UNIFORM_SCALING", *r.ScalingType)
	}
	target := *r.TargetShardCount
	if target < 1 {
		return nil, validation("TargetShardCount must be at least 1")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&r.streamRef)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if s.onDemand {
		return nil, f.canReshard(s, now, 0)
	}
	current := len(s.openShards())
	if target > 2*current || 2*target < current {
		return nil, invalidArg("UpdateShardCount cannot scale stream %s from %d to %d shards: the target must lie between half and double the open shard count", s.name, current, target)
	}
	if err := f.canReshard(s, now, max(0, target-current)); err != nil {
		return nil, err
	}
	if l := f.cfg.limits; l != nil {
		if err := f.scalingLimits(s, l, now, current, target); err != nil {
			return nil, err
		}
		s.scalings.add(now)
	}
	if err := f.scaleUniform(s, target, now); err != nil {
		return nil, err
	}
	s.updating = now.Add(f.cfg.reshardDelay)
	return map[string]any{"StreamName": s.name, "StreamARN": s.arn, "CurrentShardCount": current, "TargetShardCount": target}, nil
}

// scalingLimits checks the limits of UpdateShardCount that
// WithServiceLimits turns on: scalings per rolling 24 hours, and the shards
// of one stream.
func (f *Fake) scalingLimits(s *stream, l *Limits, now time.Time, current, target int) *apiError {
	if s.scalings.full(now, l.ScalingsPerDay) {
		return errorf(CodeLimitExceeded, "UpdateShardCount has scaled stream %s under account %s %d times in the last 24 hours: the limit is %d scalings per rolling 24-hour period.", s.name, f.cfg.account, l.ScalingsPerDay, l.ScalingsPerDay)
	}
	most := l.MaxShardsPerStream
	switch {
	case current <= most && target > most:
		return errorf(CodeLimitExceeded, "UpdateShardCount cannot scale stream %s under account %s to %d shards: the limit is %d shards in a stream.", s.name, f.cfg.account, target, most)
	case current > most && target >= most:
		return errorf(CodeLimitExceeded, "UpdateShardCount cannot scale stream %s under account %s, which has %d shards, down to %d: a stream of more than %d shards scales down only below %d.", s.name, f.cfg.account, current, target, most, most)
	}
	return nil
}

// scaleUniform reshapes the open shards of s into target even ranges: first
// every open shard is split at each target boundary inside it, then the
// pieces of each target range are merged pairwise until one is left.
func (f *Fake) scaleUniform(s *stream, target int, now time.Time) *apiError {
	ranges := uniformRanges(target)
	for _, r := range ranges[1:] {
		boundary := r[0]
		for _, sh := range s.openShards() {
			if sh.lo.cmp(boundary) < 0 && boundary.cmp(sh.hi) <= 0 {
				if _, _, err := f.split(s, sh.id, boundary, now); err != nil {
					return err
				}
				break
			}
		}
	}
	for _, r := range ranges {
		for {
			var inside []*shard
			for _, sh := range s.openShards() {
				if r[0].cmp(sh.lo) <= 0 && sh.hi.cmp(r[1]) <= 0 {
					inside = append(inside, sh)
				}
			}
			if len(inside) <= 1 {
				break
			}
			// open shards are listed in creation order; merge the two lowest
			// (adjacent: together they tile the target range), lower range
			// first, as MergeShards needs.
			sortByRange(inside)
			if _, err := f.merge(s, inside[0].id, inside[1].id, now); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortByRange(shards []*shard) {
	slices.SortFunc(shards, func(a, b *shard) int { return a.lo.cmp(b.lo) })
}

// midpoint returns the hash key halfway through sh's range, where the Split
// helper splits.
func (sh *shard) midpoint() u128 {
	sum := new(big.Int).Add(sh.lo.big(), sh.hi.big())
	sum.Add(sum, big.NewInt(1))
	return fromBig(sum.Rsh(sum, 1))
}
