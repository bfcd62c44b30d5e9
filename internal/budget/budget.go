// Package budget bounds the bytes of records a stream holds: fetched and
// not yet handed over, queued, and handed over and not yet committed, over
// all its shards.
//
// Each shard's read has an Account. Before a fetch the read reserves bytes
// (Reserve), which blocks while the stream holds its limit; Records turns the
// grant into how many records to ask for, from the size of the largest
// record seen so far (the service's default maximum, 1 MiB, until one is
// seen). The records fetched are settled (Settle), replacing the
// reservation, and released one by one as they are committed (Release), or
// all at once when the shard's records are dropped (a lost lease).
//
// Fairness: a grant is at most the account's share of the limit (the limit
// divided by the accounts reading) beyond what it holds; an account holding
// more than half its share waits for its records to be committed, and one
// holding nothing gets one record when a record is larger than a share.
// When reads wait, the one holding the least goes first. So a shard whose
// records are not committed cannot take the room of the others. A read
// waits for its whole grant, or for a quarter of the limit to be free
// (whichever is less), rather than take the little room a commit or two
// free: each fetch counts against the shard's calls a second, and a fetch
// of a few records where a share would fit makes catching up take more of
// them.
//
// The bound is exact while records are no larger than the largest seen; a
// larger one can take a fetch past its grant by at most that fetch.
package budget

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRecordEstimate is the size a fetch is sized with before any record
// was seen: what the largest record of the service's default maximum counts
// for (1 MiB of data and partition key, a sequence number of up to 128
// digits, Overhead).
const DefaultRecordEstimate = 1<<20 + 256

// Overhead is what a record costs besides its data, partition key and
// sequence number: the bookkeeping of its delivery and commit, its Record
// (168 bytes with []byte values), its slot in the commit tracker (32) and
// its part of the slices holding them, measured: 200-byte records delivered
// and not committed take 485 bytes each of heap, and count for 484
// (TestMemoryBudgetCountsSmallRecords).
const Overhead = 224

// Size is what a record of data, partition key and sequence number counts
// for.
func Size(data []byte, partitionKey, sequenceNumber string) int64 {
	return int64(len(data)+len(partitionKey)+len(sequenceNumber)) + Overhead
}

// Budget is the limit of one stream. Its methods, and its Accounts', are
// safe for concurrent use.
type Budget struct {
	limit   int64
	largest atomic.Int64 // the largest record seen

	mu      sync.Mutex
	total   int64 // held and reserved, over every account
	active  int   // accounts reading
	waiters []*waiter
}

type waiter struct {
	a     *Account
	grant chan int64 // receives the grant, once
}

// New returns a Budget of limit bytes; 0 or less means no limit.
func New(limit int64) *Budget {
	if limit <= 0 {
		limit = math.MaxInt64 / 4
	}
	return &Budget{limit: limit}
}

// Limit returns the budget's limit in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// Held returns the bytes held and reserved over every account.
func (b *Budget) Held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// Observe notes the size of a record fetched (see Size).
func (b *Budget) Observe(size int64) {
	for {
		cur := b.largest.Load()
		if size <= cur || b.largest.CompareAndSwap(cur, size) {
			return
		}
	}
}

// estimate is the size a fetch is sized with: the largest record seen.
func (b *Budget) estimate() int64 {
	if n := b.largest.Load(); n > 0 {
		return n
	}
	return DefaultRecordEstimate
}

// Records returns how many records a grant of bytes pays for: at least one.
func (b *Budget) Records(grant int64) int {
	n := grant / b.estimate()
	if n < 1 {
		return 1
	}
	if n > 1<<30 {
		return 1 << 30
	}
	return int(n)
}

// Account is the bytes one read of a shard holds.
type Account struct {
	b        *Budget
	held     int64     // settled and not released; guarded by b.mu
	reserved int64     // guarded by b.mu
	reading  bool      // guarded by b.mu
	waiting  time.Time // since when Reserve waits; zero when it does not. Guarded by b.mu
}

// WaitingSince returns since when the account's read has been waiting for
// room, or the zero time.
func (a *Account) WaitingSince() time.Time {
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	return a.waiting
}

// Open returns the account of a read, counted among the reading ones until
// Done.
func (b *Budget) Open() *Account {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active++
	return &Account{b: b, reading: true}
}

// grantable returns what a's next grant would be now, or 0 when it must
// wait. b.mu is held.
func (b *Budget) grantable(a *Account) int64 {
	left := b.limit - b.total
	one := b.estimate()
	if b.total == 0 {
		// Nothing is held: a record larger than the whole budget still
		// goes, alone.
		left = max(left, one)
	}
	if left < one {
		return 0
	}
	share := b.limit / int64(max(b.active, 1))
	want := share - a.held
	if a.held > 0 && want < max(one, share/2) {
		// It holds more than half its share: its read waits for its
		// records to be committed rather than fetch a few at a time.
		return 0
	}
	want = max(want, one) // records larger than a share come one at a time
	// Less than the account may have is granted only once a quarter of
	// the limit is free (or one record, when that is more): while records
	// held are committed one by one, a read paced to a few calls a second
	// would otherwise spend a call on the record or two each commit frees.
	if left < min(want, max(b.limit/4, one)) {
		return 0
	}
	return min(left, want)
}

// Reserve blocks until there is room for a fetch of the account's read and
// returns the bytes granted, which it holds as reserved until Settle (or the
// next Reserve, or Done). It returns ctx's error if ctx ends first.
func (a *Account) Reserve(ctx context.Context) (int64, error) {
	b := a.b
	b.mu.Lock()
	b.unreserve(a)
	if len(b.waiters) == 0 {
		if g := b.grantable(a); g > 0 {
			b.reserve(a, g)
			b.mu.Unlock()
			return g, nil
		}
	}
	w := &waiter{a: a, grant: make(chan int64, 1)}
	a.waiting = time.Now()
	b.waiters = append(b.waiters, w)
	b.wake()
	b.mu.Unlock()
	select {
	case g := <-w.grant:
		return g, nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		a.waiting = time.Time{}
		for i, x := range b.waiters {
			if x == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				return 0, ctx.Err()
			}
		}
		// Granted meanwhile: give it back.
		<-w.grant
		b.unreserve(a)
		b.wake()
		return 0, ctx.Err()
	}
}

// reserve grants g to a. b.mu is held.
func (b *Budget) reserve(a *Account, g int64) {
	a.reserved = g
	b.total += g
}

// unreserve drops a's reservation. b.mu is held.
func (b *Budget) unreserve(a *Account) {
	b.total -= a.reserved
	a.reserved = 0
}

// wake grants room to the waiters that can have it, the one holding the
// least first, in order of arrival among equals. b.mu is held.
func (b *Budget) wake() {
	for len(b.waiters) > 0 {
		best := 0
		for i, w := range b.waiters {
			if w.a.held < b.waiters[best].a.held {
				best = i
			}
		}
		w := b.waiters[best]
		g := b.grantable(w.a)
		if g == 0 {
			return
		}
		b.waiters = append(b.waiters[:best], b.waiters[best+1:]...)
		w.a.waiting = time.Time{}
		b.reserve(w.a, g)
		w.grant <- g
	}
}

// Unreserve gives back the account's reservation: the fetch it was for
// brought nothing, or failed.
func (a *Account) Unreserve() {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if a.reserved == 0 {
		return
	}
	b.unreserve(a)
	b.wake()
}

// Settle records that the fetch reserved for brought n bytes of records,
// now held until released: the reservation is replaced by them. Records
// delivered in several parts settle each part; the first replaces the
// reservation.
func (a *Account) Settle(n int64) {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unreserve(a)
	a.held += n
	b.total += n
	b.wake()
}

// Release returns n bytes of records the account held (committed, or
// dropped).
func (a *Account) Release(n int64) {
	if n <= 0 {
		return
	}
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	a.held -= n
	b.total -= n
	b.wake()
}

// Done records that the account's read ended: its reservation is dropped
// and it no longer counts among the reading accounts. What it holds stays
// held until released. Idempotent.
func (a *Account) Done() {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unreserve(a)
	if a.reading {
		a.reading = false
		b.active--
	}
	b.wake()
}
