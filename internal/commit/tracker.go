// Package commit tracks, per shard, which delivered records were committed,
// and so which checkpoint may be written: the highest position below which
// every record is committed. It also bounds how many records of a shard may
// be delivered and not yet committed.
//
// When a shard's lease is handed over (package lease), the tracker also
// tells which delivered records reached the application (Yield) from those
// still queued, so that the handover can wait for the former to be committed
// (Seal, Drained) and leave the latter to the next owner.
package commit

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/budget"
)

// Tracker follows the records of one shard. Add is called by the shard's
// reader, Commit by any goroutine, in any order; all methods are safe for
// concurrent use and none does I/O.
type Tracker struct {
	mu          sync.Mutex
	limit       int
	base        uint64 // the index of pending[head]
	pending     []slot
	head        int
	outstanding int
	done        checkpoint.Checkpoint // the highest contiguous committed position
	endMarker   checkpoint.Checkpoint // what done becomes once the shard ended
	version     uint64                // grows whenever done changes
	written     uint64                // the version last persisted
	ended       bool                  // every record of the shard was delivered
	room        chan struct{}         // a token when outstanding dropped below limit
	onEnd       func()
	commits     atomic.Uint64 // Commit calls, for metrics

	inHand  int           // yielded records not committed
	sealed  bool          // no more records are yielded
	drained chan struct{} // closed once sealed with nothing in hand
	valid   func() bool   // when set, Yield refuses once it reports false

	account *budget.Account // where the bytes of the records are held; nil: nowhere
	retired bool            // the records' bytes were released all at once

	added       uint64    // records registered with Add, in all
	last        string    // the sequence number of the last record added
	pausedSince time.Time // when Room started waiting for room; zero while it does not
}

// slot is one record added: its position, kept in 32 bytes (a tracker
// holds one for each record not yet committed), and its state.
type slot struct {
	seq       string // the record's sequence number
	sub       int64  // with partial, the index of the user record in its KPL aggregate
	size      int32  // the record's bytes held in the account
	partial   bool
	committed bool
	yielded   bool
}

// pos returns the slot's position.
func (s *slot) pos() checkpoint.Checkpoint {
	return checkpoint.Checkpoint{SequenceNumber: s.seq, SubSequenceNumber: s.sub, Partial: s.partial}
}

// New returns a Tracker allowing at most limit uncommitted records, starting
// from the checkpoint from (the zero Checkpoint when there is none). When
// from is a start checkpoint (the read starts at a time), the shard-end
// marker the tracker ends with carries that time (checkpoint.EndedFrom), so
// that the shard's children are read from it too.
func New(limit int, from checkpoint.Checkpoint) *Tracker {
	end := checkpoint.Ended()
	switch {
	case from.IsStart():
		end = checkpoint.EndedFrom(from.Timestamp)
	case from.ShardEnded:
		end = from
	}
	return &Tracker{limit: max(limit, 1), done: from, endMarker: end, room: make(chan struct{}, 1), drained: make(chan struct{})}
}

// Room blocks until fewer than the limit of records are uncommitted, and
// returns how many more may be delivered. It returns ctx's error if ctx ends
// first.
func (t *Tracker) Room(ctx context.Context) (int, error) {
	defer t.unpause()
	for {
		t.mu.Lock()
		n := t.limit - t.outstanding
		if n <= 0 && t.pausedSince.IsZero() {
			t.pausedSince = time.Now()
		}
		t.mu.Unlock()
		if n > 0 {
			return n, nil
		}
		select {
		case <-t.room:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (t *Tracker) unpause() {
	t.mu.Lock()
	t.pausedSince = time.Time{}
	t.mu.Unlock()
}

// PausedSince returns since when the shard's read has been waiting for
// records to be committed, or the zero time: Room for the tracker's limit,
// or (forMemory) the account's budget for room in bytes.
func (t *Tracker) PausedSince() (since time.Time, forMemory bool) {
	t.mu.Lock()
	since, a := t.pausedSince, t.account
	t.mu.Unlock()
	if since.IsZero() && a != nil {
		return a.WaitingSince(), true
	}
	return since, false
}

// Added returns how many records were registered with Add in all, and the
// sequence number of the last one.
func (t *Tracker) Added() (n uint64, last string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.added, t.last
}

// SetAccount makes the tracker hold the bytes of its records in a (see Add),
// releasing each record's as it is committed, and the rest on Retire.
func (t *Tracker) SetAccount(a *budget.Account) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.account = a
}

// Add registers n delivered records, whose positions pos(0)..pos(n-1) grow,
// and returns the index of the first; the others follow it. Positions are
// those of records (checkpoint.At, checkpoint.AtSub): their sequence
// number, sub-sequence number and Partial are what is kept. size, when not
// nil, gives the bytes each record holds in the tracker's account: they are
// settled there now and released as the record is committed.
func (t *Tracker) Add(n int, pos func(i int) checkpoint.Checkpoint, size func(i int) int64) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	first := t.base + uint64(len(t.pending)-t.head)
	if t.head > 0 && t.head >= len(t.pending)/2 {
		// drop the committed prefix so the queue does not grow forever
		n := copy(t.pending, t.pending[t.head:])
		clear(t.pending[n:])
		t.pending = t.pending[:n]
		t.head = 0
	}
	var total int64
	for i := range n {
		p := pos(i)
		sl := slot{seq: p.SequenceNumber, sub: p.SubSequenceNumber, partial: p.Partial}
		if size != nil && t.account != nil && !t.retired {
			sz := min(size(i), math.MaxInt32)
			sl.size = int32(sz)
			total += sz
		}
		t.pending = append(t.pending, sl)
	}
	if t.account != nil && !t.retired {
		t.account.Settle(total)
	}
	if n > 0 {
		t.last = t.pending[len(t.pending)-1].seq
	}
	t.added += uint64(n)
	t.outstanding += n
	return first
}

// OnEnd sets a function called, without the tracker's lock, when the
// checkpoint becomes the shard-end marker. It must not block.
func (t *Tracker) OnEnd(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onEnd = f
}

// Commit marks the record at index idx committed. Committing a record twice,
// or an index the tracker never handed out, does nothing.
func (t *Tracker) Commit(idx uint64) {
	t.commits.Add(1)
	if f := t.commit(idx); f != nil {
		f()
	}
}

// commit does Commit's work and returns the OnEnd function when the shard
// just became finished.
func (t *Tracker) commit(idx uint64) func() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if idx < t.base {
		return nil
	}
	i := t.head + int(idx-t.base)
	if i >= len(t.pending) || t.pending[i].committed {
		return nil
	}
	t.pending[i].committed = true
	if sz := t.pending[i].size; sz > 0 && t.account != nil && !t.retired {
		t.account.Release(int64(sz))
	}
	if t.pending[i].yielded {
		t.inHand--
		t.checkDrained()
	}
	wasFull := t.outstanding >= t.limit
	t.outstanding--
	if i == t.head {
		for t.head < len(t.pending) && t.pending[t.head].committed {
			t.done = t.pending[t.head].pos()
			t.pending[t.head] = slot{}
			t.head++
			t.base++
		}
		t.version++
	}
	if wasFull && t.outstanding < t.limit {
		select {
		case t.room <- struct{}{}:
		default:
		}
	}
	if t.ended && t.outstanding == 0 {
		t.done = t.endMarker
		return t.onEnd
	}
	return nil
}

// Retire releases the bytes of every record not committed from the
// tracker's account: the records are dropped (the shard's tracker is
// forgotten), and later commits release nothing. Idempotent.
func (t *Tracker) Retire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.retired || t.account == nil {
		t.retired = true
		return
	}
	t.retired = true
	var total int64
	for i := t.head; i < len(t.pending); i++ {
		if !t.pending[i].committed {
			total += int64(t.pending[i].size)
		}
	}
	t.account.Release(total)
}

// End records that every record of the shard was delivered: once all are
// committed, the checkpoint becomes the shard-end marker.
func (t *Tracker) End() {
	t.mu.Lock()
	t.ended = true
	var f func()
	if t.outstanding == 0 {
		t.done = t.endMarker
		t.version++
		f = t.onEnd
	}
	t.mu.Unlock()
	if f != nil {
		f()
	}
}

// SetValid makes Yield refuse records once valid reports false (a lease's
// local expiry): valid is called, under the tracker's lock, before each
// record is yielded; it must be cheap and must not call the tracker.
func (t *Tracker) SetValid(valid func() bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.valid = valid
}

// Open reports whether records may still be yielded: the tracker is not
// sealed, and its SetValid function (if any) reports true.
func (t *Tracker) Open() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.sealed && (t.valid == nil || t.valid())
}

// Yield records that the record at index idx is being handed to the
// application, and reports whether it may be: false once the tracker is
// sealed, or its SetValid function reports false (the record is then left
// uncommitted, for the next owner of the shard to read), or for an index
// that is not pending. A record yielded and not committed is in hand;
// Drained waits for none to be.
func (t *Tracker) Yield(idx uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.slot(idx)
	if !ok || t.sealed || t.pending[i].committed || (t.valid != nil && !t.valid()) {
		return false
	}
	if !t.pending[i].yielded {
		t.pending[i].yielded = true
		t.inHand++
	}
	return true
}

// Unyield undoes Yield for a record that could not be handed over after
// all (the stream stopped first).
func (t *Tracker) Unyield(idx uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.slot(idx)
	if !ok || !t.pending[i].yielded || t.pending[i].committed {
		return
	}
	t.pending[i].yielded = false
	t.inHand--
	t.checkDrained()
}

// Seal stops the yielding of records: Yield returns false from now on. The
// checkpoint can then advance at most to the last record yielded, once
// every record in hand is committed, which Drained tells. Idempotent.
func (t *Tracker) Seal() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sealed = true
	t.checkDrained()
}

// Drained returns a channel closed once the tracker is sealed and every
// record yielded was committed.
func (t *Tracker) Drained() <-chan struct{} { return t.drained }

// InHand returns how many records were yielded and not committed.
func (t *Tracker) InHand() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inHand
}

// slot returns the position in pending of the record at index idx. t.mu is
// held.
func (t *Tracker) slot(idx uint64) (int, bool) {
	if idx < t.base {
		return 0, false
	}
	i := t.head + int(idx-t.base)
	return i, i < len(t.pending)
}

// checkDrained closes drained when sealed with nothing in hand. t.mu is
// held.
func (t *Tracker) checkDrained() {
	if t.sealed && t.inHand == 0 {
		select {
		case <-t.drained:
		default:
			close(t.drained)
		}
	}
}

// Commits returns how many times Commit was called.
func (t *Tracker) Commits() uint64 { return t.commits.Load() }

// Outstanding returns how many delivered records are not committed.
func (t *Tracker) Outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.outstanding
}

// Pending returns the checkpoint to write and its version, and whether it
// changed since the last MarkWritten.
func (t *Tracker) Pending() (checkpoint.Checkpoint, uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done, t.version, t.version != t.written
}

// MarkWritten records that the checkpoint of the given version was
// persisted.
func (t *Tracker) MarkWritten(version uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if version > t.written {
		t.written = version
	}
}

// Finished reports whether the shard was delivered to its end, every record
// committed and the end marker persisted.
func (t *Tracker) Finished() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ended && t.outstanding == 0 && t.written == t.version
}
