package kinesin

import (
	"iter"
	"time"

	"github.com/kinesin-go/kinesin/internal/consumer"
)

// Batch is consecutive records of one shard, in order, as Batches yields
// them.
type Batch[T any] struct {
	ShardID string
	// Records are the batch's records, in sequence order; a record the
	// decoder rejected carries its *DecodeError (Record.Err).
	Records []*Record[T]
}

// Commit commits every record of the batch (see Record.Commit).
func (b *Batch[T]) Commit() {
	for _, r := range b.Records {
		r.Commit()
	}
}

// Batches returns the stream's records in batches of one shard each, for
// sinks that write many records at once: the records of a shard, in order,
// as they were fetched, split or joined to at most WithBatchSize records (a
// batch of fewer goes out once its first record has waited WithBatchWait, or
// when its shard was read to its end). Batches of different shards may come
// interleaved; a shard's come in order, and a child shard's only after all of
// its parents' batches. Commit a batch (or its records) once it is
// processed; a batch not committed is delivered again after a restart, as a
// whole or in part, never skipped.
//
// Batches is single-use as Records and Chan are: the first call of the three
// takes the stream's records; a later call yields ErrConsumed once and
// nothing else. Breaking out of the loop closes the stream. The loop ends
// when the stream is closed or Open's context ends (or, with
// StopWhenCaughtUp or StopAt, once the stream is read); a fatal error is
// yielded once, last, with a nil batch.
func (s *Stream[T]) Batches() iter.Seq2[*Batch[T], error] {
	mayRange := s.claim()
	return func(yield func(*Batch[T], error) bool) {
		if !mayRange() {
			yield(nil, ErrConsumed)
			return
		}
		defer s.rangeDone()
		j := &joiner[T]{s: s, held: make(map[string]*held[T])}
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			j.arm(timer)
			select {
			case b := <-s.eng.Batches():
				if !j.take(b, yield) {
					return
				}
			case <-timer.C:
				if !j.due(time.Now(), yield) {
					return
				}
			case <-s.eng.Done():
				if err := s.Err(); err != nil {
					yield(nil, err)
				}
				return
			}
		}
	}
}

// joiner splits and joins the engine's batches into the application's.
type joiner[T any] struct {
	s    *Stream[T]
	held map[string]*held[T] // per shard, records received and not yet yielded
}

// held is what a shard has waiting: records, since its oldest arrived.
type held[T any] struct {
	recs  []*Record[T]
	since time.Time
}

// take adds the records of an engine batch to their shard's, yields the full
// batches, and reports whether the application goes on.
func (j *joiner[T]) take(b *consumer.Batch, yield func(*Batch[T], error) bool) bool {
	if b.Flush {
		if b.ShardID == "" {
			for id := range j.held {
				if !j.emit(id, yield) {
					return false
				}
			}
			return true
		}
		return j.emit(b.ShardID, yield)
	}
	h := j.held[b.ShardID]
	if h == nil {
		h = &held[T]{}
		j.held[b.ShardID] = h
	}
	for _, r := range typed[T](b) {
		if len(h.recs) == 0 {
			h.since = time.Now()
		}
		h.recs = append(h.recs, r)
		if len(h.recs) >= j.s.batchSize && !j.emit(b.ShardID, yield) {
			return false
		}
	}
	return true
}

// due yields the batches whose first record has waited WithBatchWait.
func (j *joiner[T]) due(now time.Time, yield func(*Batch[T], error) bool) bool {
	for id, h := range j.held {
		if len(h.recs) > 0 && now.Sub(h.since) >= j.s.batchWait && !j.emit(id, yield) {
			return false
		}
	}
	return true
}

// arm sets timer to the next time a held batch is due.
func (j *joiner[T]) arm(timer *time.Timer) {
	var next time.Time
	for _, h := range j.held {
		if len(h.recs) > 0 && (next.IsZero() || h.since.Before(next)) {
			next = h.since
		}
	}
	if next.IsZero() {
		timer.Reset(time.Hour)
		return
	}
	timer.Reset(max(time.Until(next.Add(j.s.batchWait)), 0))
}

// emit yields what shard id holds, the records that may still be handed out
// (with leases, those of a shard still this worker's), and reports whether
// the application goes on.
func (j *joiner[T]) emit(id string, yield func(*Batch[T], error) bool) bool {
	h := j.held[id]
	if h == nil || len(h.recs) == 0 {
		return true
	}
	recs := h.recs
	h.recs = nil
	out := make([]*Record[T], 0, len(recs))
	for _, r := range recs {
		if j.s.eng.HandOut(r.tracker, r.idx) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return true
	}
	return yield(&Batch[T]{ShardID: id, Records: out}, nil)
}
