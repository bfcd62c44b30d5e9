package kinesistest

// SubscribeToShard: the Enhanced Fan-Out event stream.
//
// Behavior:
//   - The consumer must be ACTIVE (else ResourceInUseException) and the shard
//     must exist (else ResourceNotFoundException); these errors are ordinary
//     HTTP 400 JSON errors, before any event.
//   - StartingPosition follows GetShardIterator's rules (see op_records.go):
//     a SequenceNumber with AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER only,
//     a Timestamp with AT_TIMESTAMP only, and a sequence number of this
//     stream and shard (not of another stream, nor of a deleted stream of the
//     same name); anything else is InvalidArgumentException, before any
//     event.
//   - The response is an application/vnd.amazon.eventstream stream whose first
//     message is the initial-response event. A SubscribeToShardEvent follows at
//     once, then one whenever records arrive (pushed, not polled), and an empty
//     one when SubscriptionHeartbeat has passed since the last event. Each
//     event carries at most 10,000 records and 1 MiB, the
//     ContinuationSequenceNumber to resume from with AFTER_SEQUENCE_NUMBER and
//     MillisBehindLatest (0 at the tip of the shard).
//   - At the end of a closed shard the last event carries ChildShards and no
//     ContinuationSequenceNumber, and the stream ends.
//   - A subscription ends cleanly 5 minutes after the call, on the fake's
//     clock.
//   - A second SubscribeToShard for the same consumer and shard within 5 s of
//     a successful one is ResourceInUseException, whether or not the first
//     stream is still open; after that the new one takes over and the old
//     stream ends with a ResourceInUseException exception message.
//   - Deregistering the consumer or deleting the stream ends its streams with a
//     ResourceNotFoundException exception message. Fake.Close ends every
//     stream, even one whose client stopped reading: a write blocked on such
//     a client fails when the fake closes, on the in-process transport as
//     over HTTP.
//   - With WithServiceLimits: 1 call per second per consumer and shard
//     (LimitExceededException; refused calls count) and 2 MiB/s per consumer
//     and shard: events are held back, never failed.
//   - An open stream that has sent what it can waits on two things on the
//     clock (its lifetime and its heartbeat), three while the EFO limit holds
//     it back; an ended stream waits on none. Tests use this with
//     ManualClock.BlockUntil.

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/smithy-go/eventstream"
)

const maxEventBytes = 1 << 20

// Subscription describes one SubscribeToShard call the fake accepted.
type Subscription struct {
	ConsumerARN      string
	ConsumerName     string
	StreamName       string
	ShardID          string
	StartingPosition StartingPosition
	Started          time.Time
	// Ended is zero while the subscription is open.
	Ended time.Time
	// EndReason says why it ended: "lifetime" (5 minutes), "shard end",
	// "client closed", "fake closed", "server stopped" (Server.Shutdown),
	// "cut" (an injected dropped connection) or the code of the exception
	// message that ended it.
	EndReason string
	// Events counts SubscribeToShardEvent messages sent, Records the records
	// they carried.
	Events  int
	Records int
}

// StartingPosition is where a subscription asked to start.
type StartingPosition struct {
	Type           string
	SequenceNumber string
	Timestamp      time.Time
}

// Subscriptions returns the subscriptions the fake accepted, oldest first:
// every open one, and the last 10,000 or so that ended (older ones are
// forgotten, so that a long-running fake stays bounded).
func (f *Fake) Subscriptions() []Subscription {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Subscription, len(f.subs))
	for i, s := range f.subs {
		out[i] = s.info
	}
	return out
}

type subscription struct {
	f        *Fake
	consumer *consumer
	shard    *shard
	info     Subscription // guarded by f.mu
	pos      uint64
	stop     chan struct{} // closed by end
	stopCode string        // guarded by f.mu
	stopMsg  string
	bucket   *tokenBucket // the consumer's read budget on the shard, shared by its subscriptions
}

// end asks the subscription to stop with an exception message. Callers hold
// f.mu.
func (s *subscription) end(code, msg string) {
	if s.stopCode != "" {
		return
	}
	s.stopCode, s.stopMsg = code, msg
	close(s.stop)
}

type subscribeReq struct {
	ConsumerARN      *string `json:"ConsumerARN"`
	ShardId          *string `json:"ShardId"`
	StartingPosition *struct {
		Type           *string `json:"Type"`
		SequenceNumber *string `json:"SequenceNumber"`
		Timestamp      *epoch  `json:"Timestamp"`
	} `json:"StartingPosition"`
}

func (r *subscribeReq) keys(f *Fake) Match {
	m := (&consumerRef{ConsumerARN: r.ConsumerARN}).keys(f)
	if r.ShardId != nil {
		m.Shard = *r.ShardId
	}
	return m
}

func opSubscribeToShard(f *Fake, c *call, r *subscribeReq) (any, *apiError) {
	if r.ConsumerARN == nil || r.ShardId == nil || r.StartingPosition == nil || r.StartingPosition.Type == nil {
		return nil, validation("ConsumerARN, ShardId and StartingPosition are required")
	}
	if err := checkIteratorType(*r.StartingPosition.Type); err != nil {
		return nil, err
	}
	sub, err := f.subscribe(r)
	if err != nil {
		return nil, err
	}
	sub.serve(c)
	return streamed{}, nil
}

func (f *Fake) subscribe(r *subscribeReq) (*subscription, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cons, err := f.findConsumer(&consumerRef{ConsumerARN: r.ConsumerARN})
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if st := cons.status(now); st != "ACTIVE" {
		return nil, inUse("Consumer %s is not in ACTIVE state (it is %s).", cons.arn, st)
	}
	s := cons.stream
	if err := s.ready(now); err != nil {
		return nil, err
	}
	sh := s.byID[*r.ShardId]
	if sh != nil {
		f.autoTrimShard(sh, now)
	}
	if sh == nil || sh.gone {
		return nil, notFound("Shard %s in stream %s under account %s does not exist", *r.ShardId, s.name, f.cfg.account)
	}
	sp := r.StartingPosition
	start := startArgs{op: "SubscribeToShard", seqField: "SequenceNumber", typ: *sp.Type, seq: sp.SequenceNumber, ts: sp.Timestamp}
	if err := start.check(); err != nil {
		return nil, err
	}
	key := cons.arn + "/" + sh.id
	if f.cfg.limits != nil {
		if last, ok := f.subCalls[key]; ok && now.Sub(last) < time.Second/time.Duration(f.cfg.limits.SubscribesPerSecond) {
			f.subCalls[key] = now
			return nil, errorf(CodeLimitExceeded, "Rate exceeded for consumer %s and shard %s", cons.arn, sh.id)
		}
		f.subCalls[key] = now
	}
	if last, ok := f.lastSubscribe[key]; ok && now.Sub(last) < subscribeTakeover {
		return nil, inUse("Another active subscription exists for this consumer: %s", key)
	}
	pos, err := f.position(sh, start)
	if err != nil {
		return nil, err
	}
	if old := f.active[key]; old != nil {
		old.end(CodeResourceInUse, "Another subscription took over consumer "+cons.arn+" on shard "+sh.id)
	}
	sub := &subscription{
		f:        f,
		consumer: cons,
		shard:    sh,
		pos:      pos,
		stop:     make(chan struct{}),
		info: Subscription{
			ConsumerARN:      cons.arn,
			ConsumerName:     cons.name,
			StreamName:       s.name,
			ShardID:          sh.id,
			StartingPosition: StartingPosition{Type: *sp.Type},
			Started:          now,
		},
	}
	if sp.SequenceNumber != nil {
		sub.info.StartingPosition.SequenceNumber = *sp.SequenceNumber
	}
	if sp.Timestamp != nil {
		sub.info.StartingPosition.Timestamp = sp.Timestamp.Time
	}
	if f.cfg.limits != nil {
		// The 2 MiB/s belong to the consumer and shard, not to one
		// subscription: a resubscription does not start with a fresh budget.
		b := f.efoBudgets[key]
		if b == nil {
			nb := newBucket(float64(f.cfg.limits.EFOBytesPerSecond), now)
			b = &nb
			f.efoBudgets[key] = b
		}
		sub.bucket = b
	}
	f.active[key] = sub
	f.lastSubscribe[key] = now
	f.subs = append(f.subs, sub)
	if n := f.cfg.subHistory; len(f.subs) > n+n/4 {
		f.forgetSubscriptions(n)
	}
	return sub, nil
}

// forgetSubscriptions drops the oldest ended subscriptions until at most n
// are left (open ones are all kept), so that a long-running fake does not
// grow without bound. Callers hold f.mu.
func (f *Fake) forgetSubscriptions(n int) {
	drop := len(f.subs) - n
	kept := f.subs[:0]
	for _, sub := range f.subs {
		if drop > 0 && !sub.info.Ended.IsZero() {
			drop--
			continue
		}
		kept = append(kept, sub)
	}
	clear(f.subs[len(kept):])
	f.subs = kept
}

// finish records why the subscription ended and forgets it as active.
func (s *subscription) finish(reason string) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	s.info.Ended = f.clock.Now()
	s.info.EndReason = reason
	key := s.consumer.arn + "/" + s.shard.id
	if f.active[key] == s {
		delete(f.active, key)
	}
}

// event is one batch taken from the shard for a SubscribeToShardEvent.
type event struct {
	records      []record
	continuation string
	behind       int64
	children     []childShard
	end          bool
}

// next takes the next event, or reports why the stream must stop. Callers
// hold f.mu.
func (s *subscription) next(now time.Time) (ev event, stopCode, stopMsg string) {
	f, sh := s.f, s.shard
	if s.stopCode != "" {
		return ev, s.stopCode, s.stopMsg
	}
	f.settle(now)
	f.autoTrimShard(sh, now)
	if sh.gone || f.streams[sh.stream.name] != sh.stream || f.consumers[s.consumer.arn] != s.consumer {
		return ev, CodeResourceNotFound, "Stream " + sh.stream.arn + " or consumer " + s.consumer.arn + " no longer exists"
	}
	i := sh.indexAt(s.pos)
	j, bytes := i, 0
	for j < len(sh.records) && j-i < f.cfg.maxEventRecord {
		n := sh.records[j].size()
		if bytes+n > maxEventBytes && j > i {
			break
		}
		bytes += n
		j++
	}
	ev.records = sh.records[i:j]
	if j > i {
		s.pos = sh.records[j-1].counter + 1
	}
	if j < len(sh.records) {
		ev.behind = max(1, now.Sub(sh.records[j].arrival).Milliseconds())
	}
	if sh.atEnd(s.pos) {
		ev.end = true
		ev.children = sh.stream.childShards(sh)
	} else {
		last := max(s.pos, sh.trimmedBelow, sh.startCounter+1) - 1
		ev.continuation = sh.seq(last)
	}
	if f.cfg.limits != nil {
		s.bucket.take(now, bytes)
	}
	return ev, "", ""
}

// serve writes the event stream until the subscription ends.
//
// While it waits, a subscription has a fixed set of pending waits on the
// fake's clock, so that a test can tell with ManualClock.BlockUntil that it
// is idle: the lifetime and the heartbeat (two), plus one while the EFO
// throughput limit holds it back (three).
func (s *subscription) serve(c *call) {
	reason := s.run(c)
	s.finish(reason)
	if reason == endCut {
		cut(c.w)
	}
}

// cut drops the connection under a stream. Over HTTP it resets the TCP
// connection: the SDK takes a connection closed gracefully between two
// messages (io.ErrUnexpectedEOF from the chunked body) for the end of the
// stream, with no error, whereas a dropped connection must surface as one.
func cut(w http.ResponseWriter) {
	if h, ok := w.(http.Hijacker); ok {
		if conn, _, err := h.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST
			}
			_ = conn.Close()
			return
		}
	}
	dropConn(w) // the in-process transport: a connection reset
}

// endCut is the end reason of a stream cut by an injected fault.
const endCut = "cut"

// endServerStopped is the end reason of a stream whose Server shut down.
const endServerStopped = "server stopped"

// run serves the stream and returns why it ended, once every wait it had on
// the clock is stopped.
func (s *subscription) run(c *call) string {
	f := s.f
	w := c.w
	// The lifetime counts from the call, before any event is out.
	lifetime, stopLifetime := clockTimer(f.clock, subscriptionLifetime)
	defer stopLifetime()
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := eventstream.NewEncoder()
	write := func(msg eventstream.Message) bool {
		if c.cbor {
			msg = inCBOR(msg)
		}
		if err := enc.Encode(w, msg); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	var initial eventstream.Message
	initial.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.EventMessageType))
	initial.Headers.Set(eventstream.EventTypeHeader, eventstream.StringValue("initial-response"))
	initial.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue("application/json"))
	initial.Payload = []byte("{}")
	// gone says why the client can no longer be reached.
	gone := func() string {
		select {
		case <-f.closed:
			return "fake closed"
		default:
			return "client closed"
		}
	}
	// A write to a client that stopped reading blocks; it fails when the
	// client goes away or the fake closes (the loopback server drops its
	// connections, the in-process transport its pipes), so Close never
	// waits for such a client.
	if !write(initial) {
		return gone()
	}

	hb := f.cfg.heartbeat
	heartbeat, stopHeartbeat := clockTimer(f.clock, hb)
	var (
		throttle     <-chan time.Time // pending while the EFO limit holds events back
		stopThrottle = func() {}
	)
	defer func() { stopHeartbeat(); stopThrottle() }()
	var (
		lastSent  time.Time
		hbDue     bool
		sent      int
		stopEarly = func() string { // ends that need no event
			select {
			case <-f.closed:
				return "fake closed"
			default:
			}
			select {
			case <-c.ctx.Done():
				return "client closed"
			default:
			}
			select {
			case <-lifetime:
				return "lifetime"
			case <-c.stop:
				return endServerStopped
			default:
			}
			return ""
		}
	)
	for {
		if reason := stopEarly(); reason != "" {
			return reason
		}
		// Injected stream faults strike once afterEvents events are out.
		if fa := c.fault; fa != nil && sent >= fa.afterEvents {
			switch fa.kind {
			case kindCutStream:
				return endCut
			case kindStreamException:
				write(exceptionMessage(fa.code, "injected exception"))
				return fa.code
			}
		}

		f.mu.Lock()
		now := f.clock.Now()
		var (
			ev        event
			code, msg string
			wait      time.Duration
		)
		if s.stopCode != "" {
			code, msg = s.stopCode, s.stopMsg
		} else if f.cfg.limits != nil {
			wait = s.bucket.wait(now)
		}
		send := false
		if code == "" && wait == 0 {
			ev, code, msg = s.next(now)
			send = len(ev.records) > 0 || ev.end || sent == 0 || hbDue
		}
		notify := s.shard.notify
		f.mu.Unlock()

		if code != "" {
			write(exceptionMessage(code, msg))
			return code
		}
		if wait > 0 && throttle == nil {
			// The wait only shrinks while nothing is sent, so a pending
			// throttle keeps its deadline.
			throttle, stopThrottle = clockTimer(f.clock, wait)
		}
		if send {
			msg := eventMessage
			if c.cbor {
				msg = eventMessageCBOR
			}
			if !write(msg(&ev)) {
				return gone()
			}
			sent++
			lastSent, hbDue = now, false
			f.mu.Lock()
			s.info.Events++
			s.info.Records += len(ev.records)
			f.mu.Unlock()
			if ev.end {
				return "shard end"
			}
			// Send what is waiting at once, or wait for more; either way
			// the loop checks faults and ends first.
			continue
		}
		select {
		case <-notify:
		case <-throttle:
			throttle = nil
		case t := <-heartbeat:
			if due := lastSent.Add(hb); t.Before(due) {
				heartbeat, stopHeartbeat = clockTimer(f.clock, due.Sub(t))
			} else {
				hbDue = true
				heartbeat, stopHeartbeat = clockTimer(f.clock, hb)
			}
		case <-s.stop:
		case <-lifetime:
			return "lifetime"
		case <-c.stop:
			return endServerStopped
		case <-c.ctx.Done():
			return gone() // Close also drops connections
		case <-f.closed:
			return "fake closed"
		}
	}
}

func eventMessage(ev *event) eventstream.Message {
	var m eventstream.Message
	m.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.EventMessageType))
	m.Headers.Set(eventstream.EventTypeHeader, eventstream.StringValue("SubscribeToShardEvent"))
	m.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue("application/json"))
	var children []byte
	if ev.end {
		children = childShardsJSON(ev.children)
	}
	// Sized once: the payload of an event can be a megabyte or more.
	b := make([]byte, 0, eventPayloadLen(ev, children))
	b = append(b, `{"Records":`...)
	b = appendRecordsJSON(b, ev.records)
	b = append(b, `,"MillisBehindLatest":`...)
	b = strconv.AppendInt(b, ev.behind, 10)
	if ev.continuation != "" {
		b = append(b, `,"ContinuationSequenceNumber":"`...)
		b = append(b, ev.continuation...)
		b = append(b, '"')
	}
	if ev.end {
		b = append(b, `,"ChildShards":`...)
		b = append(b, children...)
	}
	m.Payload = append(b, '}')
	return m
}

// eventPayloadLen bounds the length of the payload eventMessage writes for
// ev, whose ChildShards encode as children.
func eventPayloadLen(ev *event, children []byte) int {
	return len(`{"Records":`) + recordsJSONLen(ev.records) +
		len(`,"MillisBehindLatest":`) + maxIntLen +
		len(`,"ContinuationSequenceNumber":""`) + len(ev.continuation) +
		len(`,"ChildShards":`) + len(children) + len(`}`)
}

func exceptionMessage(code, msg string) eventstream.Message {
	var m eventstream.Message
	m.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.ExceptionMessageType))
	m.Headers.Set(eventstream.ExceptionTypeHeader, eventstream.StringValue(code))
	m.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue("application/json"))
	m.Payload = appendJSONString([]byte(`{"message":`), msg)
	m.Payload = append(m.Payload, '}')
	return m
}
