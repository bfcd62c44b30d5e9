package kinesistest

import (
	"fmt"

	"github.com/kinesin-go/kinesin/internal/kpl"
)

// Helpers set up and inspect the fake directly, without the wire protocol:
// they are neither counted by Calls nor hit by injected faults, and the
// limits of WithServiceLimits neither limit nor count the records they put.
// Each returns an error; a Fake made with a TB also reports it with
// TB.Errorf, so a test may ignore the return value.

// fail wraps a helper failure and reports it to the test, if any.
func (f *Fake) fail(helper string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("kinesistest: %s: %w", helper, err)
	if f.tb != nil {
		f.tb.Helper()
		f.tb.Errorf("%v", err)
	}
	return err
}

// apiErr turns a possibly nil *apiError into an error without the typed-nil
// trap.
func apiErr(e *apiError) error {
	if e == nil {
		return nil
	}
	return e
}

// CreateStream creates a provisioned stream with n shards and makes it ACTIVE
// at once, whatever StreamCreationDelay says.
func (f *Fake) CreateStream(name string, n int) error {
	if f.tb != nil {
		f.tb.Helper()
	}
	f.mu.Lock()
	_, err := f.createStream(name, n, false, 0, nil)
	f.mu.Unlock()
	return f.fail("CreateStream "+name, apiErr(err))
}

// DeleteStream deletes a stream and its consumers, ending their
// subscriptions.
func (f *Fake) DeleteStream(name string) error {
	if f.tb != nil {
		f.tb.Helper()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&streamRef{StreamName: &name})
	if err != nil {
		return f.fail("DeleteStream "+name, err)
	}
	f.deleteStream(s)
	return nil
}

// PutResult says where a record was stored.
type PutResult struct {
	ShardID        string
	SequenceNumber string
}

// Put stores one record routed by its partition key, as PutRecord does, but
// whatever the write limits of WithServiceLimits: a test can fill a backlog
// at once, and the records put do not count against the limits.
func (f *Fake) Put(stream, partitionKey string, data []byte) (PutResult, error) {
	if f.tb != nil {
		f.tb.Helper()
	}
	r, err := f.putEntry(stream, putEntry{pk: partitionKey, data: data})
	return r, f.fail("Put "+stream, err)
}

// PutWithHashKey stores one record routed by an explicit hash key (a decimal
// number below 2^128), whatever the write limits, as Put does.
func (f *Fake) PutWithHashKey(stream, partitionKey, explicitHashKey string, data []byte) (PutResult, error) {
	if f.tb != nil {
		f.tb.Helper()
	}
	r, err := f.putEntry(stream, putEntry{pk: partitionKey, ehk: explicitHashKey, hasEHK: true, data: data})
	return r, f.fail("PutWithHashKey "+stream, err)
}

func (f *Fake) putEntry(name string, e putEntry) (PutResult, error) {
	if err := checkEntry(e, 0); err != nil {
		return PutResult{}, err
	}
	// data may be reused by the caller: the fake keeps its own copy.
	e.data = append([]byte(nil), e.data...)
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&streamRef{StreamName: &name})
	if err != nil {
		return PutResult{}, err
	}
	sh, rec, err := f.put(s, e, f.clock.Now(), false)
	if err != nil {
		return PutResult{}, err
	}
	return PutResult{ShardID: sh.id, SequenceNumber: rec.seq}, nil
}

// UserRecord is one user record inside a KPL aggregated record.
type UserRecord struct {
	PartitionKey string
	// ExplicitHashKey is optional.
	ExplicitHashKey string
	Data            []byte
}

// PutAggregated stores one Kinesis record holding records in the KPL
// aggregated format (magic, protobuf AggregatedRecord, MD5), as the Kinesis
// Producer Library writes it. Like the KPL, it routes the Kinesis record by
// the first user record's explicit hash key, or else its partition key.
// Like Put, it is not subject to the write limits.
func (f *Fake) PutAggregated(stream string, records []UserRecord) (PutResult, error) {
	if f.tb != nil {
		f.tb.Helper()
	}
	if len(records) == 0 {
		return PutResult{}, f.fail("PutAggregated "+stream, fmt.Errorf("no records"))
	}
	in := make([]kpl.Record, len(records))
	for i, r := range records {
		in[i] = kpl.Record{PartitionKey: r.PartitionKey, ExplicitHashKey: r.ExplicitHashKey, Data: r.Data}
	}
	data, err := kpl.Aggregate(in)
	if err != nil {
		return PutResult{}, f.fail("PutAggregated "+stream, err)
	}
	e := putEntry{pk: records[0].PartitionKey, data: data}
	if records[0].ExplicitHashKey != "" {
		e.ehk, e.hasEHK = records[0].ExplicitHashKey, true
	}
	r, perr := f.putEntry(stream, e)
	return r, f.fail("PutAggregated "+stream, perr)
}

// Split splits an open shard at the middle of its hash key range and returns
// the ids of the two children, lower range first. The middle is a
// NewStartingHashKey SplitShard accepts (greater than one plus the shard's
// StartingHashKey and less than its EndingHashKey) for every shard of 4 hash
// keys or more; a smaller shard cannot be split, and Split fails.
func (f *Fake) Split(stream, shardID string) ([2]string, error) {
	if f.tb != nil {
		f.tb.Helper()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&streamRef{StreamName: &stream})
	if err != nil {
		return [2]string{}, f.fail("Split "+shardID, err)
	}
	sh, err := f.openShard(s, shardID)
	if err != nil {
		return [2]string{}, f.fail("Split "+shardID, err)
	}
	mid := sh.midpoint()
	if err := f.checkSplitKey(sh, mid); err != nil {
		return [2]string{}, f.fail("Split "+shardID, fmt.Errorf("shard %s covers hash keys %s to %s only: too few to split (SplitShard needs at least 4): %w", shardID, sh.loStr, sh.hiStr, err))
	}
	a, b, err := f.split(s, shardID, mid, f.clock.Now())
	if err != nil {
		return [2]string{}, f.fail("Split "+shardID, err)
	}
	return [2]string{a.id, b.id}, nil
}

// Merge merges two adjacent open shards, given in either order, and returns
// the child's id. It passes them to the merge as MergeShards needs them
// (which, unlike Merge, refuses them the other way round): the one with the
// lower hash key range as ShardToMerge, which becomes the child's
// ParentShardId, the other as AdjacentShardToMerge, its
// AdjacentParentShardId.
func (f *Fake) Merge(stream, shardID, adjacentShardID string) (string, error) {
	if f.tb != nil {
		f.tb.Helper()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&streamRef{StreamName: &stream})
	if err != nil {
		return "", f.fail("Merge "+shardID, err)
	}
	a, err := f.openShard(s, shardID)
	if err != nil {
		return "", f.fail("Merge "+shardID, err)
	}
	b, err := f.openShard(s, adjacentShardID)
	if err != nil {
		return "", f.fail("Merge "+shardID, err)
	}
	if b.lo.cmp(a.lo) < 0 {
		a, b = b, a
	}
	child, err := f.merge(s, a.id, b.id, f.clock.Now())
	if err != nil {
		return "", f.fail("Merge "+shardID, err)
	}
	return child.id, nil
}

// ShardInfo describes one shard of a stream.
type ShardInfo struct {
	ID                    string
	ParentShardID         string
	AdjacentParentShardID string
	StartingHashKey       string
	EndingHashKey         string
	// Open is false once the shard was split or merged.
	Open bool
	// Children are the ids of the shards that replaced a closed shard.
	Children []string
	// Records is how many records the shard holds (trimmed ones excluded).
	Records int
}

// Shards describes every listed shard of a stream, in shard id order.
func (f *Fake) Shards(stream string) ([]ShardInfo, error) {
	if f.tb != nil {
		f.tb.Helper()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&streamRef{StreamName: &stream})
	if err != nil {
		return nil, f.fail("Shards "+stream, err)
	}
	f.autoTrimStream(s, f.clock.Now())
	var out []ShardInfo
	for _, sh := range s.visibleShards() {
		out = append(out, ShardInfo{
			ID:                    sh.id,
			ParentShardID:         sh.parent,
			AdjacentParentShardID: sh.adjacent,
			StartingHashKey:       sh.loStr,
			EndingHashKey:         sh.hiStr,
			Open:                  sh.open(),
			Children:              append([]string(nil), sh.children...),
			Records:               len(sh.records),
		})
	}
	return out, nil
}

// RegisterConsumer registers an EFO consumer on a stream and makes it ACTIVE
// at once, whatever ConsumerActivationDelay says. It returns the consumer ARN.
func (f *Fake) RegisterConsumer(stream, name string) (string, error) {
	if f.tb != nil {
		f.tb.Helper()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cons, err := f.registerConsumer(&streamRef{StreamName: &stream}, name)
	if err != nil {
		return "", f.fail("RegisterConsumer "+name, err)
	}
	cons.activeAt = cons.created
	return cons.arn, nil
}

// StreamARN returns the ARN of a stream of this fake (existing or not).
func (f *Fake) StreamARN(stream string) string { return f.streamARN(stream) }
