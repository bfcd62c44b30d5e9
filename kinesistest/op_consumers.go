package kinesistest

// Enhanced Fan-Out consumers: RegisterStreamConsumer, DescribeStreamConsumer,
// ListStreamConsumers, DeregisterStreamConsumer.
//
// Behavior:
//   - A registered consumer is CREATING for ConsumerActivationDelay, then
//     ACTIVE; the RegisterStreamConsumer response says CREATING even when the
//     delay is 0. A deregistered one is DELETING for the same delay, then
//     gone. Its subscriptions end at once with ResourceNotFoundException.
//   - At most 20 consumers per stream and 5 CREATING at once
//     (LimitExceededException); a name already registered is
//     ResourceInUseException.
//   - Consumers are found by ConsumerARN, or by StreamARN and ConsumerName.

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

type consumer struct {
	stream   *stream
	name     string
	arn      string
	created  time.Time
	activeAt time.Time
	goneAt   time.Time // set when deregistered
	tags     map[string]string
}

func (c *consumer) status(now time.Time) string {
	switch {
	case !c.goneAt.IsZero():
		return "DELETING"
	case now.Before(c.activeAt):
		return "CREATING"
	default:
		return "ACTIVE"
	}
}

func (c *consumer) describe(now time.Time, withStream bool) map[string]any {
	m := map[string]any{
		"ConsumerName":              c.name,
		"ConsumerARN":               c.arn,
		"ConsumerStatus":            c.status(now),
		"ConsumerCreationTimestamp": ep(c.created),
	}
	if withStream {
		m["StreamARN"] = c.stream.arn
	}
	return m
}

// purgeConsumers drops deregistered consumers whose DELETING time is over.
// Callers hold f.mu.
func (f *Fake) purgeConsumers(now time.Time) {
	for arn, c := range f.consumers {
		if !c.goneAt.IsZero() && !now.Before(c.goneAt) {
			delete(f.consumers, arn)
			delete(c.stream.consumers, c.name)
		}
	}
}

type consumerRef struct {
	StreamARN    *string `json:"StreamARN"`
	ConsumerName *string `json:"ConsumerName"`
	ConsumerARN  *string `json:"ConsumerARN"`
}

func (r *consumerRef) keys(*Fake) Match {
	var m Match
	if r.StreamARN != nil {
		m.Stream = streamNameOf(*r.StreamARN)
	}
	if r.ConsumerName != nil {
		m.Consumer = *r.ConsumerName
	}
	if r.ConsumerARN != nil {
		m.Stream = streamNameOf(*r.ConsumerARN)
		m.Consumer = consumerNameOf(*r.ConsumerARN)
	}
	return m
}

// streamNameOf returns the stream name inside a stream or consumer ARN.
func streamNameOf(arn string) string {
	_, rest, ok := strings.Cut(arn, ":stream/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// consumerNameOf returns the consumer name inside a consumer ARN.
func consumerNameOf(arn string) string {
	_, rest, ok := strings.Cut(arn, "/consumer/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, ":")
	return name
}

// findConsumer resolves a consumer reference. Callers hold f.mu.
func (f *Fake) findConsumer(r *consumerRef) (*consumer, *apiError) {
	f.purgeConsumers(f.clock.Now())
	if r.ConsumerARN != nil {
		if r.StreamARN != nil || r.ConsumerName != nil {
			return nil, invalidArg("give either ConsumerARN, or StreamARN and ConsumerName")
		}
		c := f.consumers[*r.ConsumerARN]
		if c == nil {
			return nil, notFound("Consumer %s not found.", *r.ConsumerARN)
		}
		return c, nil
	}
	if r.StreamARN == nil || r.ConsumerName == nil {
		return nil, invalidArg("give either ConsumerARN, or StreamARN and ConsumerName")
	}
	s, err := f.resolve(&streamRef{StreamARN: r.StreamARN})
	if err != nil {
		return nil, err
	}
	c := s.consumers[*r.ConsumerName]
	if c == nil {
		return nil, notFound("Consumer %s under stream %s not found.", *r.ConsumerName, s.arn)
	}
	return c, nil
}

type registerConsumerReq struct {
	StreamARN    *string           `json:"StreamARN"`
	ConsumerName *string           `json:"ConsumerName"`
	Tags         map[string]string `json:"Tags"`
}

func (r *registerConsumerReq) keys(f *Fake) Match {
	return (&consumerRef{StreamARN: r.StreamARN, ConsumerName: r.ConsumerName}).keys(f)
}

func opRegisterStreamConsumer(f *Fake, c *call, r *registerConsumerReq) (any, *apiError) {
	if r.StreamARN == nil || r.ConsumerName == nil {
		return nil, validation("StreamARN and ConsumerName are required")
	}
	if !validStreamName(*r.ConsumerName) {
		return nil, validation("1 validation error detected: Value '%s' at 'consumerName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", *r.ConsumerName)
	}
	if err := checkTags(r.Tags); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cons, err := f.registerConsumer(&streamRef{StreamARN: r.StreamARN}, *r.ConsumerName)
	if err != nil {
		return nil, err
	}
	if len(r.Tags) > 0 {
		cons.tags = make(map[string]string, len(r.Tags))
		addTags(cons.tags, r.Tags, cons.arn)
	}
	// The service answers CREATING, however soon the consumer is ACTIVE:
	// code must wait for ACTIVE with DescribeStreamConsumer.
	d := cons.describe(f.clock.Now(), false)
	d["ConsumerStatus"] = "CREATING"
	return map[string]any{"Consumer": d}, nil
}

// registerConsumer adds a consumer. Callers hold f.mu.
func (f *Fake) registerConsumer(ref *streamRef, name string) (*consumer, *apiError) {
	s, err := f.resolve(ref)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if err := s.changeable(f, now); err != nil {
		return nil, err
	}
	f.purgeConsumers(now)
	if _, ok := s.consumers[name]; ok {
		return nil, inUse("Consumer %s under stream %s already exists for account %s.", name, s.arn, f.cfg.account)
	}
	if len(s.consumers) >= maxConsumers {
		return nil, errorf(CodeLimitExceeded, "Stream %s has reached its limit of %d consumers.", s.arn, maxConsumers)
	}
	creating := 0
	for _, c := range s.consumers {
		if c.status(now) == "CREATING" {
			creating++
		}
	}
	if creating >= maxCreatingConsumers {
		return nil, errorf(CodeLimitExceeded, "Stream %s already has %d consumers in CREATING state.", s.arn, maxCreatingConsumers)
	}
	cons := &consumer{
		stream:   s,
		name:     name,
		arn:      s.arn + "/consumer/" + name + ":" + strconv.FormatInt(now.Unix(), 10),
		created:  now,
		activeAt: now.Add(f.cfg.consumerDelay),
	}
	s.consumers[name] = cons
	f.consumers[cons.arn] = cons
	return cons, nil
}

func opDescribeStreamConsumer(f *Fake, c *call, r *consumerRef) (any, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cons, err := f.findConsumer(r)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ConsumerDescription": cons.describe(f.clock.Now(), true)}, nil
}

// maxConsumersPage is the most consumers ListStreamConsumers returns per
// call.
const maxConsumersPage = 100

type listConsumersReq struct {
	StreamARN               *string `json:"StreamARN"`
	MaxResults              *int    `json:"MaxResults"`
	NextToken               *string `json:"NextToken"`
	StreamCreationTimestamp *epoch  `json:"StreamCreationTimestamp"`
}

func (r *listConsumersReq) keys(f *Fake) Match {
	return (&consumerRef{StreamARN: r.StreamARN}).keys(f)
}

func opListStreamConsumers(f *Fake, c *call, r *listConsumersReq) (any, *apiError) {
	if r.StreamARN == nil {
		return nil, validation("StreamARN is required")
	}
	limit := maxConsumersPage
	if r.MaxResults != nil {
		if err := checkRange("maxResults", *r.MaxResults, 1, 10000); err != nil {
			return nil, err
		}
		// "If you specify a value greater than 100, at most 100 results
		// are returned."
		limit = min(*r.MaxResults, maxConsumersPage)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.resolve(&streamRef{StreamARN: r.StreamARN})
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	f.purgeConsumers(now)
	after := ""
	if r.NextToken != nil {
		var t pageToken
		if err := f.decodeToken(*r.NextToken, &t); err != nil {
			return nil, err
		}
		if t.Stream != s.name || t.Gen != s.gen {
			return nil, invalidArg("NextToken belongs to another stream")
		}
		after = t.After
	}
	names := make([]string, 0, len(s.consumers))
	for name := range s.consumers {
		if name > after {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	more := len(names) > limit
	if more {
		names = names[:limit]
	}
	list := make([]map[string]any, 0, len(names))
	for _, name := range names {
		list = append(list, s.consumers[name].describe(now, false))
	}
	out := map[string]any{"Consumers": list}
	if more {
		out["NextToken"] = f.encodeToken(pageToken{Stream: s.name, Gen: s.gen, After: names[len(names)-1]})
	}
	return out, nil
}

func opDeregisterStreamConsumer(f *Fake, c *call, r *consumerRef) (any, *apiError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cons, err := f.findConsumer(r)
	if err != nil {
		return nil, err
	}
	f.deregister(cons)
	return struct{}{}, nil
}

// deregister starts removing a consumer. Callers hold f.mu.
func (f *Fake) deregister(cons *consumer) {
	now := f.clock.Now()
	if cons.goneAt.IsZero() {
		cons.goneAt = now.Add(f.cfg.consumerDelay)
	}
	for _, sub := range f.active {
		if sub.consumer == cons {
			sub.end(CodeResourceNotFound, "Consumer "+cons.arn+" was deregistered")
		}
	}
	f.purgeConsumers(now)
}
