package kinesistest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrInvalidFault is wrapped by the error of a fault the fake refuses: one
// whose Match names an operation the fake does not serve (a typo would
// otherwise inject nothing), or whose Times or Probability is out of range.
var ErrInvalidFault = errors.New("kinesistest: invalid fault")

// Match selects the calls a fault applies to. Empty fields match anything.
type Match struct {
	// Op is an operation name such as "GetRecords" or "SubscribeToShard":
	// one of Operations(), or empty for every operation. Another name is
	// refused (see Match.Validate).
	Op string
	// Stream is a stream name or ARN. A GetRecords call is about the stream
	// of its shard iterator.
	Stream string
	// Shard is a shard id such as "shardId-000000000001".
	Shard string
	// Consumer is an EFO consumer name or ARN.
	Consumer string
}

// Validate returns an error wrapping ErrInvalidFault when m.Op is neither
// empty nor an operation the fake serves.
func (m Match) Validate() error {
	if m.Op != "" && operations[m.Op] == nil {
		return fmt.Errorf("%w: Match.Op %q is not an operation the fake serves (see Operations)", ErrInvalidFault, m.Op)
	}
	return nil
}

// Validate returns an error wrapping ErrInvalidFault when the fault's Match
// is invalid, Times is negative, Probability is negative or NaN, or its
// Action was made with a value out of range.
func (ft Fault) Validate() error {
	if err := ft.Match.Validate(); err != nil {
		return err
	}
	if ft.Times < 0 {
		return fmt.Errorf("%w: Times %d is negative", ErrInvalidFault, ft.Times)
	}
	if ft.Probability < 0 || math.IsNaN(ft.Probability) {
		return fmt.Errorf("%w: Probability %v is not between 0 and 1", ErrInvalidFault, ft.Probability)
	}
	return ft.Action.validate()
}

func (m Match) matches(c Match) bool {
	norm := func(s, sep string, name func(string) string) string {
		if strings.Contains(s, sep) {
			return name(s)
		}
		return s
	}
	stream := norm(m.Stream, ":stream/", streamNameOf)
	cons := norm(m.Consumer, "/consumer/", consumerNameOf)
	return (m.Op == "" || m.Op == c.Op) &&
		(stream == "" || stream == c.Stream) &&
		(m.Shard == "" || m.Shard == c.Shard) &&
		(cons == "" || cons == c.Consumer)
}

type kind int

const (
	kindPass kind = iota
	kindError
	kindLatency
	kindDrop
	kindFailRecords
	kindCutStream
	kindStreamException
)

// Action is what an injected fault does to a call it hits.
type Action struct {
	kind        kind
	code        string
	latency     time.Duration
	fraction    float64
	afterEvents int
}

// throttleCode stands for the throttling error of the operation hit.
const throttleCode = "kinesistest.Throttle"

var (
	// Pass lets the call through untouched; use it in Script.
	Pass = Action{}
	// Throttle fails the call as the service does when a limit is exceeded:
	// ProvisionedThroughputExceededException for GetRecords,
	// GetShardIterator, PutRecord and PutRecords, LimitExceededException for
	// every other operation.
	Throttle = Action{kind: kindError, code: throttleCode}
	// InternalFailure fails the call with HTTP 500 InternalFailureException.
	InternalFailure = Action{kind: kindError, code: CodeInternalFailure}
	// ServiceUnavailable fails the call with HTTP 503.
	ServiceUnavailable = Action{kind: kindError, code: CodeServiceUnavailable}
	// ExpiredIterator fails the call with ExpiredIteratorException.
	ExpiredIterator = Action{kind: kindError, code: CodeExpiredIterator}
	// DropConnection ends the exchange without a response: a connection
	// reset on the in-process transport, a closed connection over HTTP.
	DropConnection = Action{kind: kindDrop}
)

// Fail fails the call with the given error code (one of the Code
// constants, or any other) and the HTTP status the service uses for it.
func Fail(code string) Action { return Action{kind: kindError, code: code} }

// Latency delays the call by d on the fake's clock, then serves it. A call
// whose client gives up during the delay is not served. A negative d is
// refused by Inject and Script.
func Latency(d time.Duration) Action { return Action{kind: kindLatency, latency: d} }

// FailRecords makes PutRecords fail each record with the given chance
// (between 0 and 1) and error code, as a partial failure: the call succeeds
// and reports FailedRecordCount. A chance of 0 fails no record, 1 every
// record; a chance outside 0 to 1 is refused by Inject and Script. An empty
// code means ProvisionedThroughputExceededException.
func FailRecords(fraction float64, code string) Action {
	if code == "" {
		code = CodeThroughputExceeded
	}
	if fraction == 0 {
		// The per-record draw takes 0 as "always", as Fault.Probability
		// does; no record failing is letting the call through.
		return Pass
	}
	return Action{kind: kindFailRecords, fraction: fraction, code: code}
}

// CutStream drops a SubscribeToShard connection after it has sent
// afterEvents events, mid-stream, without an exception message. A negative
// afterEvents is refused by Inject and Script.
func CutStream(afterEvents int) Action {
	return Action{kind: kindCutStream, afterEvents: afterEvents}
}

// StreamException ends a SubscribeToShard stream with an exception message
// of the given code (for example ResourceInUseException or
// InternalFailureException) after it has sent afterEvents events. A
// negative afterEvents is refused by Inject and Script.
func StreamException(code string, afterEvents int) Action {
	return Action{kind: kindStreamException, code: code, afterEvents: afterEvents}
}

// validate refuses an action made with a value out of range.
func (a Action) validate() error {
	switch {
	case a.afterEvents < 0:
		return fmt.Errorf("%w: a stream action after %d events", ErrInvalidFault, a.afterEvents)
	case a.latency < 0:
		return fmt.Errorf("%w: Latency %v is negative", ErrInvalidFault, a.latency)
	case a.kind == kindFailRecords && !(a.fraction > 0 && a.fraction <= 1):
		return fmt.Errorf("%w: FailRecords chance %v is not between 0 and 1", ErrInvalidFault, a.fraction)
	}
	return nil
}

// Fault is a rule that makes matching calls fail or slow down.
type Fault struct {
	Match
	// Action is what happens to a call the fault hits.
	Action Action
	// Times bounds how many calls the fault hits; 0 means no bound.
	Times int
	// Probability, between 0 and 1 exclusive, hits each matching call with
	// that chance, drawn from the fake's seeded source (see WithSeed). 0 (or 1
	// and above) hits every matching call.
	Probability float64
}

// Injected is a fault in force. Its methods are safe for concurrent use.
type Injected struct {
	f       *Fake
	fault   Fault
	script  []Action
	seen    int
	hits    int
	removed bool
	err     error // why the fault was refused; set before it is returned
}

// Inject puts a fault in force until it is removed or exhausted. Faults are
// tried in the order they were injected; the first that hits a call decides
// what happens to it. Helpers of the Fake are never faulted.
//
// A fault that fails Fault.Validate (an unknown operation name, say) is not
// put in force: a Fake made with a TB fails the test, naming the fault, and
// the Injected returned never hits; its Err tells why.
func (f *Fake) Inject(fault Fault) *Injected {
	if f.tb != nil {
		f.tb.Helper()
	}
	return f.add(&Injected{f: f, fault: fault}, fault.Validate(), "Inject")
}

// Script gives the n-th call matching m the n-th action (Pass lets a call
// through); calls after the last action pass. For example
// Script(Match{Op: "GetRecords"}, Throttle, Throttle, Pass) fails two calls,
// then lets them succeed. A Match that fails Match.Validate, or an action
// made with a value out of range, is refused as Inject refuses it.
func (f *Fake) Script(m Match, steps ...Action) *Injected {
	if f.tb != nil {
		f.tb.Helper()
	}
	err := m.Validate()
	for _, a := range steps {
		if err == nil {
			err = a.validate()
		}
	}
	return f.add(&Injected{f: f, fault: Fault{Match: m}, script: steps}, err, "Script")
}

// add puts in in force, or, when err is not nil, reports err and returns in
// out of force.
func (f *Fake) add(in *Injected, err error, what string) *Injected {
	if err != nil {
		if f.tb != nil {
			f.tb.Helper()
		}
		in.err = f.fail(what, err)
		in.removed = true
		return in
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, in)
	return in
}

// Err returns why Inject or Script refused the fault, or nil for a fault
// put in force.
func (in *Injected) Err() error { return in.err }

// Hits returns how many calls the fault has hit.
func (in *Injected) Hits() int {
	in.f.mu.Lock()
	defer in.f.mu.Unlock()
	return in.hits
}

// Remove takes the fault out of force.
func (in *Injected) Remove() {
	in.f.mu.Lock()
	defer in.f.mu.Unlock()
	in.removed = true
}

// ClearFaults takes every injected fault out of force.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, in := range f.faults {
		in.removed = true
	}
	f.faults = nil
}

// chance draws true with probability p. Callers hold f.mu.
func (f *Fake) chance(p float64) bool {
	if p <= 0 || p >= 1 {
		return p >= 1 || p <= 0
	}
	return f.rng.Float64() < p
}

// pick finds the action of the first fault hitting c. Callers hold f.mu.
func (f *Fake) pick(c *call) (Action, bool) {
	for _, in := range f.faults {
		if in.removed || !in.fault.matches(c.match) {
			continue
		}
		if in.script != nil {
			if in.seen >= len(in.script) {
				continue
			}
			a := in.script[in.seen]
			in.seen++
			if a.kind == kindPass {
				continue
			}
			in.hits++
			return a, true
		}
		if in.fault.Times > 0 && in.hits >= in.fault.Times {
			continue
		}
		if !f.chance(in.fault.Probability) {
			continue
		}
		in.hits++
		return in.fault.Action, true
	}
	return Action{}, false
}

// applyFault applies the injected fault that hits c, if any: it returns the
// error to answer with, or nil after a delay or when the fault's effect
// belongs to the operation (c.fault).
func (f *Fake) applyFault(c *call) *apiError {
	f.mu.Lock()
	a, ok := f.pick(c)
	f.mu.Unlock()
	if !ok {
		return nil
	}
	switch a.kind {
	case kindLatency:
		if !f.sleep(c.ctx, a.latency) {
			// The client went away (or the fake closed) first: the call
			// is not served.
			return &apiError{code: dropConnection}
		}
		return nil
	case kindDrop:
		return &apiError{code: dropConnection}
	case kindError:
		code := a.code
		if code == throttleCode {
			code = CodeLimitExceeded
			switch c.op {
			case "GetRecords", "GetShardIterator", "PutRecord", "PutRecords":
				code = CodeThroughputExceeded
			}
		}
		return errorf(code, "injected fault on %s", c.op)
	default:
		c.fault = &a
		return nil
	}
}
