package consumer

import (
	"bytes"
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/budget"
	"github.com/kinesin-go/kinesin/internal/commit"
	"github.com/kinesin-go/kinesin/internal/kpl"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/telemetry"
)

// delivery turns the fetches of one read of a shard into batches for the
// application. Its deliver runs on the reader's goroutine.
type delivery struct {
	e      *Engine
	shard  string
	tr     *commit.Tracker
	tel    *telemetry.Shard
	lo, hi kpl.Uint128 // the shard's hash key range, when hasRange
	// hasRange: user records of KPL aggregates outside the range are
	// dropped, as the KCL does.
	hasRange bool
	// skip, when set, is a partial checkpoint the read started at: the user
	// records up to it, in the first record read, were committed already.
	skip *checkpoint.Checkpoint
	subs []kpl.Record // scratch for deaggregation
	// past: a bounded read met a record after Config.StopAt; nothing more
	// of the shard is handed over.
	past bool
}

func newDelivery(e *Engine, n *node, tr *commit.Tracker, tel *telemetry.Shard) *delivery {
	d := &delivery{e: e, shard: n.id, tr: tr, tel: tel, lo: n.lo, hi: n.hi, hasRange: n.hasRange}
	if from, _, _ := tr.Pending(); from.Partial {
		d.skip = &from // the read starts AT_SEQUENCE_NUMBER of this record
	}
	return d
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

// recordSize is what a Kinesis record counts for in the memory budget.
func recordSize(r *types.Record) int64 {
	return budget.Size(r.Data, aws.ToString(r.PartitionKey), aws.ToString(r.SequenceNumber))
}

// deliver splits aggregates, registers the records with the shard's
// tracker, has them decoded and queues them for the application.
func (d *delivery) deliver(ctx context.Context, b shard.Batch) error {
	if d.past {
		return nil
	}
	fetched := len(b.Records)
	keep, past := d.e.pastStopAt(&b)
	b.Records = b.Records[:keep]
	if err := d.deliverRecords(ctx, b); err != nil {
		return err
	}
	if past {
		d.past = true
		d.e.caughtUp(d.shard)
	} else if d.e.cfg.bounded() {
		d.e.handedOver(d.shard, fetched)
	}
	return nil
}

// deliverRecords delivers the records of a fetch.
func (d *delivery) deliverRecords(ctx context.Context, b shard.Batch) error {
	var largest int64
	for i := range b.Records {
		largest = max(largest, recordSize(&b.Records[i]))
	}
	d.e.budget.Observe(largest)
	if b.TrimmedAfter != "" && len(b.Records) > 0 {
		d.e.trimmed(d.shard, d.tel, b.TrimmedAfter, aws.ToString(b.Records[0].SequenceNumber))
	}
	if !d.e.cfg.Deaggregate || (d.skip == nil && !anyAggregate(b.Records)) {
		return d.deliverPlain(ctx, b)
	}
	items := d.userRecords(b.Records)
	// The reader took at most the room left in Kinesis records; its user
	// records may be many more: hand them over as room allows, so that
	// WithMaxUncommitted bounds user records.
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

// userRecords splits the KPL aggregates among records into their user
// records, dropping those outside the shard's hash key range and, in the
// first record read, those a partial checkpoint says were committed.
func (d *delivery) userRecords(records []types.Record) []userRecord {
	items := make([]userRecord, 0, len(records))
	for i := range records {
		kr := &records[i]
		seq := aws.ToString(kr.SequenceNumber)
		skip := d.skip
		d.skip = nil // it only concerns the first record read
		subs, ok := kpl.AppendDeaggregate(d.subs[:0], kr.Data)
		if !ok {
			items = append(items, userRecord{kr: kr, data: kr.Data, pk: aws.ToString(kr.PartitionKey), pos: checkpoint.At(seq)})
			continue
		}
		d.subs = subs
		if d.hasRange {
			var dropped int
			if subs, dropped = kpl.FilterHashRange(subs, d.lo, d.hi); dropped > 0 {
				d.tel.Dropped(dropped)
				d.e.log.Warn("dropped the user records of a KPL aggregate outside the shard's hash key range (the stream was resharded after it was written)",
					"shard", d.shard, "sequence_number", seq, "dropped", dropped)
			}
		}
		for j := range subs {
			if skip != nil && skip.SequenceNumber == seq && int64(j) <= skip.SubSequenceNumber {
				continue
			}
			pos := checkpoint.AtSub(seq, int64(j))
			if j == len(subs)-1 {
				pos = checkpoint.At(seq) // the last one completes the record
			}
			sr := &subs[j]
			items = append(items, userRecord{kr: kr, data: sr.Data, pk: sr.PartitionKey, ehk: sr.ExplicitHashKey, sub: int64(j), pos: pos})
		}
	}
	return items
}

// emit registers items with the tracker and queues them.
func (d *delivery) emit(ctx context.Context, items []userRecord, behind int64) error {
	b := &Batch{ShardID: d.shard, Records: scratch(len(items))}
	first := d.tr.Add(len(items), func(i int) checkpoint.Checkpoint { return items[i].pos }, func(i int) int64 {
		return budget.Size(items[i].data, items[i].pk, items[i].pos.SequenceNumber)
	})
	size := 0
	for i := range items {
		it, r := &items[i], &b.Records[i]
		*r = Record{
			Data:               it.data,
			PartitionKey:       it.pk,
			ExplicitHashKey:    it.ehk,
			SequenceNumber:     it.pos.SequenceNumber,
			SubSequenceNumber:  it.sub,
			ShardID:            d.shard,
			ArrivalTime:        aws.ToTime(it.kr.ApproximateArrivalTimestamp),
			MillisBehindLatest: behind,
			Tracker:            d.tr,
			Index:              first + uint64(i),
		}
		size += len(it.data)
	}
	return d.queue(ctx, b, size)
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

// deliverPlain is deliver for a fetch without KPL aggregates (or with
// deaggregation off): every Kinesis record is one record, built in place.
func (d *delivery) deliverPlain(ctx context.Context, f shard.Batch) error {
	n := len(f.Records)
	if n == 0 {
		return nil
	}
	b := &Batch{ShardID: d.shard, Records: scratch(n)}
	first := d.tr.Add(n, func(i int) checkpoint.Checkpoint {
		return checkpoint.At(aws.ToString(f.Records[i].SequenceNumber))
	}, func(i int) int64 { return recordSize(&f.Records[i]) })
	size := 0
	for i := range f.Records {
		kr := &f.Records[i]
		b.Records[i] = Record{
			Data:               kr.Data,
			PartitionKey:       aws.ToString(kr.PartitionKey),
			SequenceNumber:     aws.ToString(kr.SequenceNumber),
			ShardID:            d.shard,
			ArrivalTime:        aws.ToTime(kr.ApproximateArrivalTimestamp),
			MillisBehindLatest: f.MillisBehindLatest,
			Tracker:            d.tr,
			Index:              first + uint64(i),
		}
		size += len(kr.Data)
	}
	return d.queue(ctx, b, size)
}

// scratches hold the untyped records of batches being decoded: Config.Decode
// copies what it keeps (Batch.Typed), so the slice serves another batch, of
// any shard, once the batch is decoded.
var scratches sync.Pool // of *[]Record

// maxScratch bounds the scratch slices kept for reuse: the records of a
// full GetRecords call.
const maxScratch = 10_000

// scratch returns n records to fill; queue gives them back (release).
func scratch(n int) []Record {
	if p, _ := scratches.Get().(*[]Record); p != nil && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]Record, n)
}

// release gives back records scratch returned, cleared so that they hold no
// record's data meanwhile.
func release(recs []Record) {
	if cap(recs) > maxScratch {
		return
	}
	clear(recs)
	recs = recs[:0]
	scratches.Put(&recs)
}

// queue has b decoded and sends it to the application's side.
func (d *delivery) queue(ctx context.Context, b *Batch, size int) error {
	rejected := d.e.cfg.Decode(b)
	d.tel.Delivered(ctx, len(b.Records), size)
	d.tel.DecodeErrors(rejected)
	// The typed face copied what it needs (Typed): the untyped records
	// serve another batch, rather than wait with this one.
	release(b.Records)
	b.Records = nil
	select {
	case d.e.batches <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// trimmed warns that the records of shard id after the sequence number after
// (its checkpoint) and before before were trimmed by the stream's retention
// before they were read, and counts it. before is "" when the shard ended
// with nothing after them.
func (e *Engine) trimmed(id string, tel *telemetry.Shard, after, before string) {
	tel.Expired()
	if before == "" {
		before = "the end of the shard"
	}
	e.log.Warn("records were trimmed by the stream's retention before they were read: resuming at the trim horizon",
		"shard", id, "lost_after", after, "lost_before", before)
}
