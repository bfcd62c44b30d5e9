package kinesin

import (
	"iter"
	"sync/atomic"
	"time"
)

// Records returns the stream's records, merged from every shard, each with
// nil or the *DecodeError of a record the decoder rejected. Records of one
// shard come in order, and a child shard's records come only after all of its
// parents' records.
//
// It returns a single-use iterator. The first call of Records or Chan takes
// the stream's records: an iterator from a later call, or a second range over
// the same iterator, yields ErrConsumed once and nothing else, and leaves the
// stream as it is. Breaking out of the loop closes the stream, as Close does.
// The loop ends when the stream is closed or Open's context ends; a fatal
// error is yielded once, last, with a nil record.
func (s *Stream[T]) Records() iter.Seq2[*Record[T], error] {
	mayRange := s.claim()
	return func(yield func(*Record[T], error) bool) {
		if !mayRange() {
			yield(nil, ErrConsumed)
			return
		}
		defer s.rangeDone()
		for {
			select {
			case b := <-s.eng.Batches():
				if b.Flush {
					continue
				}
				for _, r := range typed[T](b) {
					if !s.eng.HandOut(r.tracker, r.idx) {
						continue
					}
					if !yield(r, r.err) {
						return
					}
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

// Chan returns a channel of the stream's records, for select loops and
// worker pools; decoding errors are read with Record.Err. Records of one shard
// are sent in order, and a child shard's only after all of its parents'.
//
// The channel holds up to ChanBuffer records sent ahead of the receiver, so
// that handing a record over costs no switch between goroutines. With
// WithLeases it holds none: a record is sent only while its shard's lease is
// valid, checked just before, and a record waiting in a buffer could come
// out after the lease was lost (say, after the process was paused).
//
// The channel is closed when the stream ends: after Close, at the end of
// Open's context, or on a fatal error; Err then says which. Records still in
// its buffer then are taken back, as if never sent (they are delivered again
// after a restart). Every call returns the same channel. If Records was
// called first, the records are its: the channel returned is closed at once,
// the misuse is logged at ERROR, and the stream is left as it is (Err still
// describes how it ends).
func (s *Stream[T]) Chan() <-chan *Record[T] {
	s.chanOnce.Do(func() {
		size := ChanBuffer
		if s.eng.Recheck() > 0 {
			size = 0 // records waiting must be checked again: none may wait in a buffer
		}
		s.ch = make(chan *Record[T], size)
		if !s.consumed.CompareAndSwap(false, true) {
			s.log.Error("Chan called after Records: the stream's records go to the Records loop; the channel is closed")
			close(s.ch)
			return
		}
		if s.eng.Closing() {
			close(s.ch)
			return
		}
		s.pumps.Add(1)
		go s.pump()
	})
	return s.ch
}

// ChanBuffer is how many records the channel of Stream.Chan holds ahead of
// its receivers, without WithLeases (with it, none).
const ChanBuffer = 256

// pump moves batches to the Chan channel, one record at a time. While a
// record waits for room in the channel, it checks every recheck that the
// record may still be handed out (leases: its shard's lease is still valid),
// and drops it otherwise. When the stream ends it takes back the records
// left in the channel's buffer.
func (s *Stream[T]) pump() {
	defer s.pumps.Done()
	defer close(s.ch)
	defer s.takeBack()
	var tick <-chan time.Time
	if every := s.eng.Recheck(); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case b := <-s.eng.Batches():
			if b.Flush {
				continue
			}
			for _, r := range typed[T](b) {
				if !s.eng.HandOut(r.tracker, r.idx) {
					continue
				}
				if !s.send(r, tick) {
					return
				}
			}
		case <-s.eng.Done():
			return
		}
	}
}

// send sends r on the channel, and reports whether the stream goes on.
func (s *Stream[T]) send(r *Record[T], tick <-chan time.Time) bool {
	select {
	case s.ch <- r: // room in the buffer, or a receiver waiting
		return true
	default:
	}
	for {
		select {
		case s.ch <- r:
			return true
		case <-s.eng.Done():
			s.eng.Unhand(r.tracker, r.idx) // not handed out after all
			return false
		case <-tick:
			if !s.eng.StillHandedOut(r.tracker) {
				s.eng.Unhand(r.tracker, r.idx)
				return true
			}
		}
	}
}

// takeBack takes the records left in the channel's buffer back from the
// application, once the stream ended: they are not handed out.
func (s *Stream[T]) takeBack() {
	for {
		select {
		case r := <-s.ch:
			s.eng.Unhand(r.tracker, r.idx)
		default:
			return
		}
	}
}

// claim takes the stream's records for the iterator being made, if no other
// form took them. It returns what the iterator asks when ranged: whether
// this range may read the stream (the iterator claimed it, and this is its
// first range).
func (s *Stream[T]) claim() func() bool {
	claimed := s.consumed.CompareAndSwap(false, true)
	var ranged atomic.Bool
	return func() bool { return claimed && ranged.CompareAndSwap(false, true) }
}

// rangeDone ends the range of an iterator that read the stream: nothing is
// processed any more, so Close need not wait for records handed out to be
// committed.
func (s *Stream[T]) rangeDone() {
	s.eng.IterDone()
	s.Close()
}
