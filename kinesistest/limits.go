package kinesistest

import "time"

// Limits are the service's throughput limits, enforced per shard when the
// fake is built WithServiceLimits. A zero field takes the service's value,
// given in its documentation. Limit windows run on the fake's clock.
//
// Whatever the limits, every GetRecords call returns at most 10,000 records
// and 10 MiB, and every PutRecords call takes at most 500 records and 5 MiB.
type Limits struct {
	// GetRecordsPerSecond is the GetRecords call rate per shard, shared by
	// every polling reader of the shard: 5.
	GetRecordsPerSecond int
	// GetShardIteratorPerSecond is the GetShardIterator call rate per shard: 5.
	GetShardIteratorPerSecond int
	// ReadBytesPerSecond is the polling read throughput per shard, shared by
	// every polling reader: 2 MiB. A call may return more than is left (up
	// to 10 MiB); calls then fail until the shard's budget is paid back.
	ReadBytesPerSecond int
	// LargeCallPenalty is how long GetRecords calls on a shard fail after a
	// call that returned 10 MiB: 5s.
	LargeCallPenalty time.Duration
	// WriteRecordsPerSecond is the write rate per shard: 1,000 records.
	// The write limits apply to PutRecord and PutRecords; the helpers Put,
	// PutWithHashKey and PutAggregated, which set up tests, are neither
	// limited nor counted.
	WriteRecordsPerSecond int
	// WriteBytesPerSecond is the write throughput per shard: 1 MiB.
	WriteBytesPerSecond int
	// EFOBytesPerSecond is the Enhanced Fan-Out throughput per consumer and
	// shard: 2 MiB.
	EFOBytesPerSecond int
	// SubscribesPerSecond is the SubscribeToShard call rate per consumer and
	// shard: 1.
	SubscribesPerSecond int
}

// DefaultLimits returns the service's limits.
func DefaultLimits() Limits {
	var l Limits
	l.fill()
	return l
}

func (l *Limits) fill() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.GetRecordsPerSecond, 5)
	def(&l.GetShardIteratorPerSecond, 5)
	def(&l.ReadBytesPerSecond, 2<<20)
	def(&l.WriteRecordsPerSecond, 1000)
	def(&l.WriteBytesPerSecond, 1<<20)
	def(&l.EFOBytesPerSecond, 2<<20)
	def(&l.SubscribesPerSecond, 1)
	if l.LargeCallPenalty <= 0 {
		l.LargeCallPenalty = 5 * time.Second
	}
}

// tokenBucket refills at rate tokens a second up to one second's worth. Its
// balance may go below zero: a debt paid back by waiting.
type tokenBucket struct {
	rate   float64
	tokens float64
	last   time.Time
	init   bool
}

func newBucket(rate float64, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, tokens: rate, last: now, init: true}
}

func (b *tokenBucket) refill(now time.Time, rate float64) {
	if !b.init {
		*b = newBucket(rate, now)
		return
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.rate, b.tokens+dt*b.rate)
		b.last = now
	}
}

func (b *tokenBucket) take(now time.Time, n int) {
	b.refill(now, b.rate)
	b.tokens -= float64(n)
}

// wait returns how long until the balance is positive again.
func (b *tokenBucket) wait(now time.Time) time.Duration {
	b.refill(now, b.rate)
	if b.tokens > 0 {
		return 0
	}
	return time.Duration(-b.tokens/b.rate*float64(time.Second)) + time.Millisecond
}

// rateWindow counts calls in the last second.
type rateWindow struct{ calls []time.Time }

func (w *rateWindow) allow(now time.Time, perSecond int) bool {
	cut := 0
	for cut < len(w.calls) && now.Sub(w.calls[cut]) >= time.Second {
		cut++
	}
	w.calls = append(w.calls[:0], w.calls[cut:]...)
	if len(w.calls) >= perSecond {
		return false
	}
	w.calls = append(w.calls, now)
	return true
}

// readWindow is a shard's polling read budget.
type readWindow struct {
	calls     rateWindow
	iterators rateWindow
	bytes     tokenBucket
	penalty   time.Time
}

func (r *readWindow) allowCall(now time.Time, l *Limits) bool {
	r.bytes.refill(now, float64(l.ReadBytesPerSecond))
	if now.Before(r.penalty) || r.bytes.tokens <= 0 {
		return false
	}
	return r.calls.allow(now, l.GetRecordsPerSecond)
}

func (r *readWindow) allowIterator(now time.Time, l *Limits) bool {
	return r.iterators.allow(now, l.GetShardIteratorPerSecond)
}

func (r *readWindow) charge(now time.Time, n int, l *Limits) {
	r.bytes.take(now, n)
	if n >= maxGetRecordsBytes {
		r.penalty = now.Add(l.LargeCallPenalty)
	}
}

// writeWindow is a shard's write budget.
type writeWindow struct {
	records tokenBucket
	bytes   tokenBucket
}

func (w *writeWindow) allow(now time.Time, n int, l *Limits) bool {
	w.records.refill(now, float64(l.WriteRecordsPerSecond))
	w.bytes.refill(now, float64(l.WriteBytesPerSecond))
	if w.records.tokens < 1 || w.bytes.tokens < float64(n) {
		return false
	}
	w.records.tokens--
	w.bytes.tokens -= float64(n)
	return true
}
