package kinesistest

import "time"

// Limits are the service's limits, enforced when the fake is built
// WithServiceLimits (or WithRealistic). A zero field takes the service's value,
// given in its documentation. Limit windows run on the fake's clock.
//
// Whatever the limits, every GetRecords call returns at most 10,000 records
// and 10 MiB, every PutRecords call takes at most 500 records and 5 MiB, and
// UpdateShardCount scales at most to double and down to half the open shard
// count.
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

	// CallRates overrides the call rates of control-plane operations, in
	// calls a second, by operation name; an operation not named keeps the
	// service's rate (see ControlPlaneRates). A call over its rate is
	// LimitExceededException.
	CallRates map[string]int
	// ScalingsPerDay is how many UpdateShardCount calls a stream takes in a
	// rolling 24 hours: 10.
	ScalingsPerDay int
	// ModeChangesPerDay is how many UpdateStreamMode calls a stream takes in
	// a rolling 24 hours: 2.
	ModeChangesPerDay int
	// EncryptionChangesPerDay is how many StartStreamEncryption calls, and
	// as many StopStreamEncryption calls, a stream takes in a rolling 24
	// hours: 25.
	EncryptionChangesPerDay int
	// CreatingStreams is how many streams may be CREATING at once; one more
	// CreateStream is LimitExceededException: 5.
	CreatingStreams int
	// MaxShardsPerStream bounds the open shards UpdateShardCount may scale a
	// stream to: 10,000.
	MaxShardsPerStream int
}

// callRate is the service's call rate of a control-plane operation.
type callRate struct {
	perSecond int
	// perStream is true for a rate per stream, false for one per account.
	perStream bool
}

// controlPlane holds the call rates the API reference gives for
// control-plane operations ("... has a limit of N transactions per second per
// account" or "per stream"). Operations it gives no rate for are not
// limited.
var controlPlane = map[string]callRate{
	"AddTagsToStream":          {5, false},
	"CreateStream":             {5, false},
	"DeleteStream":             {5, false},
	"DeregisterStreamConsumer": {5, true},
	"DescribeLimits":           {1, false},
	"DescribeStream":           {10, false},
	"DescribeStreamConsumer":   {20, true},
	"DescribeStreamSummary":    {20, false},
	"ListShards":               {1000, true},
	"ListStreamConsumers":      {5, true},
	"ListStreams":              {5, false},
	"ListTagsForStream":        {5, false},
	"MergeShards":              {5, false},
	"RegisterStreamConsumer":   {5, false},
	"RemoveTagsFromStream":     {5, false},
	"SplitShard":               {5, false},
	"UpdateShardCount":         {10, false},
}

// ControlPlaneRates returns the call rates, in calls a second, of the
// control-plane operations WithServiceLimits limits, as the API reference
// gives them: per account for most, per stream for ListShards (1,000),
// DescribeStreamConsumer (20), ListStreamConsumers (5) and
// DeregisterStreamConsumer (5). The data plane has its own fields in Limits.
func ControlPlaneRates() map[string]int {
	out := make(map[string]int, len(controlPlane))
	for op, r := range controlPlane {
		out[op] = r.perSecond
	}
	return out
}

// DefaultLimits returns the service's limits.
func DefaultLimits() Limits {
	var l Limits
	l.fill()
	return l
}

// check refuses negative fields and call rates that do not apply.
func (l *Limits) check() error {
	ints := []struct {
		name string
		v    int
	}{
		{"GetRecordsPerSecond", l.GetRecordsPerSecond},
		{"GetShardIteratorPerSecond", l.GetShardIteratorPerSecond},
		{"ReadBytesPerSecond", l.ReadBytesPerSecond},
		{"WriteRecordsPerSecond", l.WriteRecordsPerSecond},
		{"WriteBytesPerSecond", l.WriteBytesPerSecond},
		{"EFOBytesPerSecond", l.EFOBytesPerSecond},
		{"SubscribesPerSecond", l.SubscribesPerSecond},
		{"ScalingsPerDay", l.ScalingsPerDay},
		{"ModeChangesPerDay", l.ModeChangesPerDay},
		{"EncryptionChangesPerDay", l.EncryptionChangesPerDay},
		{"CreatingStreams", l.CreatingStreams},
		{"MaxShardsPerStream", l.MaxShardsPerStream},
	}
	for _, f := range ints {
		if f.v < 0 {
			return invalid("WithServiceLimits", "Limits.%s is negative (%d)", f.name, f.v)
		}
	}
	if l.LargeCallPenalty < 0 {
		return invalid("WithServiceLimits", "Limits.LargeCallPenalty is negative (%v)", l.LargeCallPenalty)
	}
	for op, r := range l.CallRates {
		if _, ok := controlPlane[op]; !ok {
			return invalid("WithServiceLimits", "Limits.CallRates names %q, which is no control-plane operation with a call rate (see ControlPlaneRates)", op)
		}
		if r <= 0 {
			return invalid("WithServiceLimits", "Limits.CallRates[%q] is %d, not a positive rate", op, r)
		}
	}
	return nil
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
	def(&l.ScalingsPerDay, 10)
	def(&l.ModeChangesPerDay, 2)
	def(&l.EncryptionChangesPerDay, 25)
	def(&l.CreatingStreams, 5)
	def(&l.MaxShardsPerStream, 10000)
	if l.LargeCallPenalty <= 0 {
		l.LargeCallPenalty = 5 * time.Second
	}
	rates := ControlPlaneRates()
	for op, r := range l.CallRates {
		rates[op] = r
	}
	l.CallRates = rates
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

// dayWindow counts events in a rolling 24 hours.
type dayWindow struct{ at []time.Time }

// full reports whether n events already happened in the 24 hours before
// now, forgetting older ones.
func (w *dayWindow) full(now time.Time, n int) bool {
	cut := 0
	for cut < len(w.at) && now.Sub(w.at[cut]) >= 24*time.Hour {
		cut++
	}
	w.at = append(w.at[:0], w.at[cut:]...)
	return len(w.at) >= n
}

// add records an event at now.
func (w *dayWindow) add(now time.Time) { w.at = append(w.at, now) }
