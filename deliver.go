package kinesin

import (
	"bytes"
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/commit"
	"github.com/kinesin-go/kinesin/internal/kpl"
	"github.com/kinesin-go/kinesin/internal/telemetry"
	"github.com/kinesin-go/kinesin/shard"
)

// delivery turns the batches a shard reader fetches into records for the
// consumer. Its deliver runs on the reader's goroutine.
type delivery[T any] struct {
	s     *Stream[T]
	shard *shardInfo
	tr    *commit.Tracker
	// skip, when set, is a partial checkpoint the read started at: the user
	// records up to it, in the first record read, were committed already.
	skip *checkpoint.Checkpoint
	subs []kpl.Record // scratch for deaggregation
	tel  *telemetry.Shard
}

// userRecord is one record to deliver: a plain Kinesis record, or one user
// record of a KPL aggregate.
type userRecord struct {
	kr   *types.Record
	data []byte
	pk   string
	ehk  string
	sub  int64
	pos  checkpoint.Checkpoint
}

// deliver splits aggregates, decodes, registers the records with the
// shard's tracker and queues them for the consumer.
func (d *delivery[T]) deliver(ctx context.Context, b shard.Batch) error {
	s := d.s
	if b.TrimmedAfter != "" && len(b.Records) > 0 {
		s.trimmed(d.shard.id, d.tel, b.TrimmedAfter, aws.ToString(b.Records[0].SequenceNumber))
	}
	if !s.cfg.deaggregate || (d.skip == nil && !anyAggregate(b.Records)) {
		return d.deliverPlain(ctx, b)
	}
	items := make([]userRecord, 0, len(b.Records))
	for i := range b.Records {
		kr := &b.Records[i]
		seq := aws.ToString(kr.SequenceNumber)
		skip := d.skip
		d.skip = nil // it only concerns the first record read
		if subs, ok := kpl.AppendDeaggregate(d.subs[:0], kr.Data); ok {
			d.subs = subs
			if d.shard.hasRange {
				var dropped int
				if subs, dropped = kpl.FilterHashRange(subs, d.shard.lo, d.shard.hi); dropped > 0 {
					d.tel.Dropped(dropped)
					s.log.Warn("dropped the user records of a KPL aggregate outside the shard's hash key range (the stream was resharded after it was written)",
						"shard", d.shard.id, "sequence_number", seq, "dropped", dropped)
				}
			}
			for j := range subs {
				pos := checkpoint.AtSub(seq, int64(j))
				if j == len(subs)-1 {
					pos = checkpoint.At(seq) // the last one completes the record
				}
				if skip != nil && skip.SequenceNumber == seq && int64(j) <= skip.SubSequenceNumber {
					continue
				}
				sr := &subs[j]
				items = append(items, userRecord{kr: kr, data: sr.Data, pk: sr.PartitionKey, ehk: sr.ExplicitHashKey, sub: int64(j), pos: pos})
			}
			continue
		}
		items = append(items, userRecord{kr: kr, data: kr.Data, pk: aws.ToString(kr.PartitionKey), pos: checkpoint.At(seq)})
	}
	// The reader took at most the room left in Kinesis records; its user
	// records may be many more: hand them over as room allows, so that
	// MaxUncommitted bounds user records.
	for len(items) > 0 {
		n, err := d.tr.Room(ctx)
		if err != nil {
			return err
		}
		k := min(n, len(items))
		if err := d.emit(ctx, items[:k], b.MillisBehindLatest); err != nil {
			return err
		}
		items = items[k:]
	}
	return nil
}

// emit decodes items, registers them with the shard's tracker and queues
// them for the consumer.
func (d *delivery[T]) emit(ctx context.Context, items []userRecord, behind int64) error {
	s := d.s
	recs := make([]Record[T], len(items))
	size, bad := 0, 0
	first := d.tr.Add(len(items), func(i int) checkpoint.Checkpoint { return items[i].pos })
	for i := range items {
		it, r := &items[i], &recs[i]
		r.Data = it.data
		r.PartitionKey = it.pk
		r.ExplicitHashKey = it.ehk
		r.SequenceNumber = it.pos.SequenceNumber
		r.SubSequenceNumber = it.sub
		r.ShardID = d.shard.id
		r.ArrivalTime = aws.ToTime(it.kr.ApproximateArrivalTimestamp)
		r.MillisBehindLatest = behind
		r.tracker = d.tr
		r.idx = first + uint64(i)
		size += len(it.data)
		if !d.decode(r, it.sub) {
			bad++
		}
	}
	d.tel.Delivered(ctx, len(recs), size)
	d.tel.DecodeErrors(bad)
	select {
	case s.batches <- &batch[T]{recs: recs}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// decode sets r.Value from r.Data, or r.err to a *DecodeError, and reports
// whether it decoded. A decoder that panics is a decoding error too: the
// stream goes on.
func (d *delivery[T]) decode(r *Record[T], sub int64) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			r.err = &DecodeError{ShardID: r.ShardID, SequenceNumber: r.SequenceNumber, SubSequenceNumber: sub, Data: r.Data,
				Panic: v, Err: fmt.Errorf("%w: %v", ErrDecoderPanic, v)}
			ok = false
		}
	}()
	v, err := d.s.dec(r.Data)
	if err != nil {
		r.err = &DecodeError{ShardID: r.ShardID, SequenceNumber: r.SequenceNumber, SubSequenceNumber: sub, Data: r.Data, Err: err}
		return false
	}
	r.Value = v
	return true
}

// trimmed warns that the records of shard id after the sequence number after
// (its checkpoint) and before before were trimmed by the stream's retention
// before they were read, and counts it. before is "" when the shard ended
// with nothing after them.
func (s *Stream[T]) trimmed(id string, tel *telemetry.Shard, after, before string) {
	tel.Expired()
	if before == "" {
		before = "the end of the shard"
	}
	s.log.Warn("records were trimmed by the stream's retention before they were read: resuming at the trim horizon",
		"shard", id, "lost_after", after, "lost_before", before)
}

// anyAggregate reports whether a record of the batch may be a KPL aggregate.
func anyAggregate(records []types.Record) bool {
	for i := range records {
		if bytes.HasPrefix(records[i].Data, []byte(kpl.Magic)) {
			return true
		}
	}
	return false
}

// deliverPlain is deliver for a batch without KPL aggregates (or with
// deaggregation off): every Kinesis record is one record, built in place.
func (d *delivery[T]) deliverPlain(ctx context.Context, b shard.Batch) error {
	s := d.s
	n := len(b.Records)
	if n == 0 {
		return nil
	}
	recs := make([]Record[T], n)
	first := d.tr.Add(n, func(i int) checkpoint.Checkpoint {
		return checkpoint.At(aws.ToString(b.Records[i].SequenceNumber))
	})
	size, bad := 0, 0
	for i := range b.Records {
		kr, r := &b.Records[i], &recs[i]
		r.Data = kr.Data
		r.PartitionKey = aws.ToString(kr.PartitionKey)
		r.SequenceNumber = aws.ToString(kr.SequenceNumber)
		r.ShardID = d.shard.id
		r.ArrivalTime = aws.ToTime(kr.ApproximateArrivalTimestamp)
		r.MillisBehindLatest = b.MillisBehindLatest
		r.tracker = d.tr
		r.idx = first + uint64(i)
		size += len(kr.Data)
		if !d.decode(r, 0) {
			bad++
		}
	}
	d.tel.Delivered(ctx, n, size)
	d.tel.DecodeErrors(bad)
	select {
	case s.batches <- &batch[T]{recs: recs}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
