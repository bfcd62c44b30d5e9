package kinesin

import (
	"iter"
	"time"

	"github.com/kinesin-go/kinesin/internal/commit"
	"github.com/kinesin-go/kinesin/internal/consumer"
)

// Record is one record of the stream, decoded.
type Record[T any] struct {
	// Value is the decoded data; the zero T when decoding failed (see Err).
	Value T
	// Data is the record's raw data.
	Data         []byte
	PartitionKey string
	// ExplicitHashKey is the explicit hash key of a user record of a KPL
	// aggregated record, when its producer set one; "" otherwise (Kinesis does
	// not return the explicit hash key of plain records).
	ExplicitHashKey string
	// SequenceNumber is the record's sequence number in its shard; the user
	// records of one KPL aggregated record share it.
	SequenceNumber string
	// SubSequenceNumber is the index of a user record inside a KPL
	// aggregated record, 0 otherwise.
	SubSequenceNumber int64
	ShardID           string
	// ArrivalTime is when Kinesis accepted the record.
	ArrivalTime time.Time
	// MillisBehindLatest is how far behind the tip of its shard the batch
	// holding the record was when it was read.
	MillisBehindLatest int64

	err     error
	tracker *commit.Tracker
	idx     uint64
}

// Commit marks the record processed. It never blocks on I/O and may be called
// from any goroutine, in any order, more than once. The shard's checkpoint
// advances to the highest position below which every record is committed,
// and is written every checkpoint interval, at shard end, on Flush and on
// Close. A record never committed is delivered again after a restart.
func (r *Record[T]) Commit() {
	if r != nil && r.tracker != nil {
		r.tracker.Commit(r.idx)
	}
}

// Err returns the *DecodeError of a record whose data the decoder rejected,
// or nil. Records yields the same error beside the record; Chan users read
// it here.
func (r *Record[T]) Err() error { return r.err }

// decodeBatch makes the typed records of a batch (consumer.Config.Decode):
// it runs on the shard readers' goroutines.
func (s *Stream[T]) decodeBatch(b *consumer.Batch) (rejected int) {
	recs := make([]Record[T], len(b.Records))
	for i := range b.Records {
		raw, r := &b.Records[i], &recs[i]
		r.Data = raw.Data
		r.PartitionKey = raw.PartitionKey
		r.ExplicitHashKey = raw.ExplicitHashKey
		r.SequenceNumber = raw.SequenceNumber
		r.SubSequenceNumber = raw.SubSequenceNumber
		r.ShardID = raw.ShardID
		r.ArrivalTime = raw.ArrivalTime
		r.MillisBehindLatest = raw.MillisBehindLatest
		r.tracker, r.idx = raw.Tracker, raw.Index
		if !s.decode(r) {
			rejected++
		}
	}
	b.Typed = recs
	return rejected
}

// typed returns the records of a batch as decodeBatch made them, each by
// address.
func typed[T any](b *consumer.Batch) iter.Seq2[int, *Record[T]] {
	recs := b.Typed.([]Record[T])
	return func(yield func(int, *Record[T]) bool) {
		for i := range recs {
			if !yield(i, &recs[i]) {
				return
			}
		}
	}
}
