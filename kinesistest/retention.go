package kinesistest

// Retention and the bytes the fake holds.
//
// Behavior:
//   - With RetentionTrimming on (the default), records that arrived more
//     than the stream's retention period ago, on the fake's clock, are gone:
//     reads start after them, and a closed shard whose records are all gone
//     (closed more than the retention period ago) is no longer listed, nor
//     readable (ResourceNotFoundException), as the service stops listing
//     expired shards. Trimming is lazy: a call that touches a shard (a write,
//     GetShardIterator, GetRecords, a subscription's next event) trims it
//     first, a call that lists or describes shards trims them all. No
//     goroutine runs; nothing changes while the clock stands still.
//   - Fake.Trim trims a stream on demand, whether trimming is on or off.
//   - The fake holds at most MaxStoredBytes bytes of records (data and
//     partition keys): a write past the bound fails whole with
//     LimitExceededException. Trimmed records and deleted streams free their
//     bytes.

import (
	"fmt"
	"time"
)

// trimShard removes the records of sh that are past retention at now, and
// hides sh when it is closed and has nothing left within retention. It
// returns how many records it removed. Callers hold f.mu.
func (f *Fake) trimShard(sh *shard, now time.Time) int {
	if sh.gone {
		return 0
	}
	horizon := now.Add(-sh.stream.retention)
	n := 0
	if len(sh.records) > 0 && sh.records[0].arrival.Before(horizon) {
		// arrival times never decrease along a shard
		lo, hi := 0, len(sh.records)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if sh.records[mid].arrival.Before(horizon) {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		n = lo
		freed := 0
		for i := range n {
			freed += sh.records[i].size()
		}
		f.stored -= int64(freed)
		sh.trimmedBelow = sh.records[n-1].counter + 1
		// Drop the references to the data at once; the array behind the
		// slice shrinks when appends next grow it.
		clear(sh.records[:n])
		sh.records = sh.records[n:]
		if len(sh.records) == 0 {
			sh.records = nil
		}
	}
	if !sh.open() && len(sh.records) == 0 && sh.closedAt.Before(horizon) {
		sh.gone = true
		sh.wake()
	}
	return n
}

// trimStream trims every shard of s. Callers hold f.mu.
func (f *Fake) trimStream(s *stream, now time.Time) int {
	removed := 0
	for _, sh := range s.shards {
		removed += f.trimShard(sh, now)
	}
	return removed
}

// autoTrimShard trims sh when retention trimming is on. Callers hold f.mu.
func (f *Fake) autoTrimShard(sh *shard, now time.Time) {
	if f.cfg.trim {
		f.trimShard(sh, now)
	}
}

// autoTrimStream trims s when retention trimming is on. Callers hold f.mu.
func (f *Fake) autoTrimStream(s *stream, now time.Time) {
	if f.cfg.trim {
		f.trimStream(s, now)
	}
}

// reserve checks that n more bytes of records fit within MaxStoredBytes.
// Callers hold f.mu.
func (f *Fake) reserve(n int) *apiError {
	if f.stored+int64(n) > f.cfg.maxStored && f.cfg.trim {
		// Trimming is lazy: records past retention may still count.
		now := f.clock.Now()
		for _, s := range f.streams {
			f.trimStream(s, now)
		}
	}
	if f.stored+int64(n) > f.cfg.maxStored {
		return errorf(CodeLimitExceeded, "kinesistest: the fake holds %d bytes of records and its bound is %d (MaxStoredBytes): this write of %d bytes would pass it; records trimmed by retention or deleted with their stream free their bytes", f.stored, f.cfg.maxStored, n)
	}
	return nil
}

// forget frees the bytes of every record of s, which is being deleted.
// Callers hold f.mu.
func (f *Fake) forget(s *stream) {
	for _, sh := range s.shards {
		for i := range sh.records {
			f.stored -= int64(sh.records[i].size())
		}
		sh.records = nil
	}
}

// StoredBytes returns how many bytes of records (data and partition keys)
// the fake holds, over all its streams: what MaxStoredBytes bounds.
func (f *Fake) StoredBytes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stored
}

// SetRetention sets a stream's retention period, without the 24-hour minimum
// the API has, so tests can expire records quickly. With RetentionTrimming on
// (the default), records past the new period are gone from the next call
// that touches their shard; Trim removes them at once.
func (f *Fake) SetRetention(stream string, d time.Duration) error {
	if f.tb != nil {
		f.tb.Helper()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&streamRef{StreamName: &stream})
	if err != nil {
		return f.fail("SetRetention "+stream, err)
	}
	if d <= 0 {
		return f.fail("SetRetention "+stream, fmt.Errorf("retention %v is not positive", d))
	}
	s.retention = d
	return nil
}

// Trim applies retention now, whether RetentionTrimming is on or off:
// records that arrived more than the retention period ago are removed, and
// closed shards left with nothing inside retention stop being listed. It
// returns how many records were removed.
func (f *Fake) Trim(stream string) (int, error) {
	if f.tb != nil {
		f.tb.Helper()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&streamRef{StreamName: &stream})
	if err != nil {
		return 0, f.fail("Trim "+stream, err)
	}
	return f.trimStream(s, f.clock.Now()), nil
}
