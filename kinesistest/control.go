package kinesistest

// The control API: a Fake driven over HTTP by another process.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
)

// ControlPrefix is the path under which a Control serves its endpoints.
const ControlPrefix = "/_kinesistest/"

// Control is a small HTTP API, in JSON, that sets up, reshards and faults a
// Fake served in a process of its own, so that another process (a test
// driver, a chaos harness, a shell with curl) drives it as a test in process
// drives a Fake through its methods. It is meant to be served beside the
// Kinesis protocol on one listener:
//
//	fake := kinesistest.New(nil)
//	defer fake.Close()
//	mux := http.NewServeMux()
//	mux.Handle("/", fake.Handler())                                  // Kinesis: POST /
//	mux.Handle(kinesistest.ControlPrefix, kinesistest.NewControl(fake)) // control: /_kinesistest/...
//	http.Serve(listener, mux)
//
// Control does what the Fake's methods do, with their semantics (helpers are
// neither counted nor faulted, see the package documentation), except
// shard-count, which calls UpdateShardCount through the Kinesis API in
// process (with one attempt): it is counted by Calls and can be hit by a
// fault matching UpdateShardCount. Serve a Fake made with New(nil, ...): one
// made with a TB also reports each refused helper call to the test.
//
// # Requests and responses
//
// Bodies are JSON objects, in and out (Content-Type application/json);
// unknown members of a request are refused. Durations are Go duration
// strings ("250ms", "1.5s"), times RFC 3339 with nanoseconds. Every path
// below starts with ControlPrefix (/_kinesistest/); {name} is a stream name.
//
//	GET    clock
//	    200 {"now": time on the fake's clock, "wall": wall time, "manual": true for a ManualClock}
//	POST   clock/advance               {"by": "1s"}
//	    200 {"now": ...}; moves a ManualClock (ManualClock.Advance); 409 ClockNotManual otherwise
//
//	POST   streams                     {"name": "orders", "shards": 4}
//	    201 {"name", "arn"}; the stream is ACTIVE at once (Fake.CreateStream)
//	DELETE streams/{name}
//	    204; deletes the stream and its consumers (Fake.DeleteStream)
//	GET    streams/{name}/shards
//	    200 {"shards": [{"id", "parentShardId", "adjacentParentShardId",
//	         "startingHashKey", "endingHashKey", "open", "children", "records"}]}
//	         every listed shard, by id (Fake.Shards)
//	POST   streams/{name}/records      {"records": [{"partitionKey", "explicitHashKey", "data" | "text"}]}
//	    200 {"records": [{"shardId", "sequenceNumber"}]}, in request order
//	         (Fake.Put, Fake.PutWithHashKey); "data" is base64, "text" UTF-8,
//	         "explicitHashKey" optional; at most 10,000 records a request
//	POST   streams/{name}/split        {"shard": "shardId-000000000000"}
//	    200 {"children": [lower, upper]} (Fake.Split: at the middle of the range)
//	POST   streams/{name}/merge        {"shard": id, "adjacent": id}
//	    200 {"child": id} (Fake.Merge: the pair in either order)
//	POST   streams/{name}/shard-count  {"target": 8}
//	    200 {"current": 4, "target": 8} (UpdateShardCount, UNIFORM_SCALING)
//	POST   streams/{name}/consumers    {"name": "app"}
//	    201 {"arn"}; the consumer is ACTIVE at once (Fake.RegisterConsumer)
//
//	GET    faults
//	    200 {"faults": [fault...]}: the faults injected and not removed (those
//	         whose times are used up included), in injection order
//	POST   faults                      {"match": {...}, "action": {...}, "times": 3, "probability": 0.5}
//	POST   faults                      {"match": {...}, "script": [{...}, {...}]}
//	    201 fault; Fake.Inject, or Fake.Script with "script" (then without
//	         times and probability)
//	DELETE faults/{id}
//	    204; takes the fault out of force (Injected.Remove)
//	DELETE faults
//	    204; takes every fault out of force (Fake.ClearFaults)
//
//	GET    calls
//	    200 {"calls": {"GetRecords": 12, ...}} (Fake.CallCounts)
//	DELETE calls
//	    204 (Fake.ResetCalls)
//
// A fault is {"id": "1", "match": {"op", "stream", "shard", "consumer"},
// "action" or "script", "times", "probability", "hits"}: ids are decimal
// strings, never reused; "hits" counts the calls it hit (Injected.Hits).
// Members of "match" are optional, as in Match. An action is
// {"type": ..., ...} with type one of:
//
//	pass                  lets the call through (in scripts)
//	throttle              Throttle
//	internal-failure      InternalFailure (HTTP 500)
//	service-unavailable   ServiceUnavailable (HTTP 503)
//	expired-iterator      ExpiredIterator
//	drop-connection       DropConnection
//	fail                  Fail(code): needs "code"
//	latency               Latency(d): needs "latency", a positive duration
//	fail-records          FailRecords(fraction, code): "fraction" in (0, 1], "code" optional
//	cut-stream            CutStream(afterEvents): "afterEvents" optional, 0 by default
//	stream-exception      StreamException(code, afterEvents): needs "code"
//
// # Errors
//
// A refused request is answered with an HTTP error status and
// {"code": ..., "message": ...}. The codes of the control API itself:
//
//	400 InvalidRequest     malformed JSON, an unknown member, a missing or bad value
//	404 NotFound           no such endpoint, or no such fault
//	405 MethodNotAllowed   the endpoint exists for other methods (listed in Allow)
//	409 ClockNotManual     clock/advance on a clock that is not a ManualClock
//
// When the Fake refuses the operation, the code is the Fake's Kinesis error
// code and the status follows it: 404 for ResourceNotFoundException (no such
// stream or shard), 409 for ResourceInUseException (a stream that exists, or
// is UPDATING), 400 for the others (InvalidArgumentException for a shard
// that cannot be split, merged or scaled so, LimitExceededException...), 500
// when the cause is unknown.
type Control struct {
	fake *Fake

	clientOnce sync.Once
	client     *kinesis.Client

	mu     sync.Mutex
	faults []*controlFault
	nextID int
}

type controlFault struct {
	id     string
	spec   faultSpec
	handle *Injected
}

// NewControl returns the control API of fake, to be mounted at
// ControlPrefix beside fake.Handler (see Control).
func NewControl(fake *Fake) *Control { return &Control{fake: fake} }

// Control error codes (see Control).
const (
	controlInvalid      = "InvalidRequest"
	controlNotFound     = "NotFound"
	controlBadMethod    = "MethodNotAllowed"
	controlClockManual  = "ClockNotManual"
	controlMaxRecords   = 10000
	controlMaxBodyBytes = 16 << 20
)

// controlError is a refused control request.
type controlError struct {
	status  int
	code    string
	message string
	allow   []string // for 405
}

func (e *controlError) Error() string { return e.code + ": " + e.message }

func invalidRequest(format string, args ...any) *controlError {
	return &controlError{status: http.StatusBadRequest, code: controlInvalid, message: fmt.Sprintf(format, args...)}
}

// ServeHTTP serves the endpoints documented on Control.
func (c *Control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, ControlPrefix)
	if !ok {
		writeControlError(w, &controlError{status: http.StatusNotFound, code: controlNotFound, message: fmt.Sprintf("%s is not under %s", r.URL.Path, ControlPrefix)})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, controlMaxBodyBytes)
	status, out, err := c.route(r, strings.Split(strings.Trim(rest, "/"), "/"))
	if err != nil {
		writeControlError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if out == nil {
		w.WriteHeader(status)
		return
	}
	body, jerr := json.Marshal(out)
	if jerr != nil {
		writeControlError(w, &controlError{status: http.StatusInternalServerError, code: "InternalError", message: jerr.Error()})
		return
	}
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// endpoint serves one method of one path.
type endpoint func(r *http.Request) (int, any, error)

// route dispatches a request by its path segments (after ControlPrefix) and
// method.
func (c *Control) route(r *http.Request, seg []string) (int, any, error) {
	var methods map[string]endpoint
	switch {
	case len(seg) == 1 && seg[0] == "clock":
		methods = map[string]endpoint{http.MethodGet: c.clock}
	case len(seg) == 2 && seg[0] == "clock" && seg[1] == "advance":
		methods = map[string]endpoint{http.MethodPost: c.advance}
	case len(seg) == 1 && seg[0] == "streams":
		methods = map[string]endpoint{http.MethodPost: c.createStream}
	case len(seg) == 2 && seg[0] == "streams" && seg[1] != "":
		methods = map[string]endpoint{http.MethodDelete: func(*http.Request) (int, any, error) { return c.deleteStream(seg[1]) }}
	case len(seg) == 3 && seg[0] == "streams" && seg[1] != "":
		name := seg[1]
		with := func(f func(string, *http.Request) (int, any, error)) endpoint {
			return func(r *http.Request) (int, any, error) { return f(name, r) }
		}
		switch seg[2] {
		case "shards":
			methods = map[string]endpoint{http.MethodGet: with(c.shards)}
		case "records":
			methods = map[string]endpoint{http.MethodPost: with(c.putRecords)}
		case "split":
			methods = map[string]endpoint{http.MethodPost: with(c.split)}
		case "merge":
			methods = map[string]endpoint{http.MethodPost: with(c.merge)}
		case "shard-count":
			methods = map[string]endpoint{http.MethodPost: with(c.shardCount)}
		case "consumers":
			methods = map[string]endpoint{http.MethodPost: with(c.registerConsumer)}
		}
	case len(seg) == 1 && seg[0] == "faults":
		methods = map[string]endpoint{http.MethodGet: c.listFaults, http.MethodPost: c.inject, http.MethodDelete: c.clearFaults}
	case len(seg) == 2 && seg[0] == "faults" && seg[1] != "":
		methods = map[string]endpoint{http.MethodDelete: func(*http.Request) (int, any, error) { return c.removeFault(seg[1]) }}
	case len(seg) == 1 && seg[0] == "calls":
		methods = map[string]endpoint{http.MethodGet: c.calls, http.MethodDelete: c.resetCalls}
	}
	if methods == nil {
		return 0, nil, &controlError{status: http.StatusNotFound, code: controlNotFound, message: fmt.Sprintf("no endpoint %s", r.URL.Path)}
	}
	e, ok := methods[r.Method]
	if !ok {
		allow := slices.Sorted(maps.Keys(methods))
		return 0, nil, &controlError{status: http.StatusMethodNotAllowed, code: controlBadMethod, allow: allow,
			message: fmt.Sprintf("%s %s: allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))}
	}
	return e(r)
}

func writeControlError(w http.ResponseWriter, err error) {
	var ce *controlError
	if !errors.As(err, &ce) {
		ce = fakeError(err)
	}
	if len(ce.allow) > 0 {
		w.Header().Set("Allow", strings.Join(ce.allow, ", "))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ce.status)
	body, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{ce.code, ce.message})
	w.Write(append(body, '\n'))
}

// fakeError turns an error of a Fake helper or of the in-process client into
// a controlError carrying the Fake's Kinesis error code.
func fakeError(err error) *controlError {
	code := ""
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	} else {
		// The helpers' errors name their code in their message.
		for _, c := range []string{CodeResourceNotFound, CodeResourceInUse, CodeInvalidArgument, CodeLimitExceeded, CodeValidation} {
			if strings.Contains(err.Error(), c) {
				code = c
				break
			}
		}
	}
	switch code {
	case "":
		return &controlError{status: http.StatusInternalServerError, code: "InternalError", message: err.Error()}
	case CodeResourceNotFound:
		return &controlError{status: http.StatusNotFound, code: code, message: err.Error()}
	case CodeResourceInUse:
		return &controlError{status: http.StatusConflict, code: code, message: err.Error()}
	default:
		return &controlError{status: http.StatusBadRequest, code: code, message: err.Error()}
	}
}

// decode reads a JSON request body into v, refusing unknown members and
// trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return invalidRequest("the request has no JSON body")
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return invalidRequest("the request body is larger than %d bytes", tooBig.Limit)
		}
		return invalidRequest("malformed request body: %v", err)
	}
	if dec.More() {
		return invalidRequest("malformed request body: data after the JSON object")
	}
	return nil
}

// duration is a Go duration string in JSON.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"250ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// clock: GET clock.
func (c *Control) clock(*http.Request) (int, any, error) {
	_, manual := c.fake.Clock().(*ManualClock)
	return http.StatusOK, map[string]any{
		"now":    c.fake.Clock().Now().Format(time.RFC3339Nano),
		"wall":   time.Now().Format(time.RFC3339Nano),
		"manual": manual,
	}, nil
}

// advance: POST clock/advance.
func (c *Control) advance(r *http.Request) (int, any, error) {
	var req struct {
		By *duration `json:"by"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.By == nil || *req.By <= 0 {
		return 0, nil, invalidRequest(`"by" must be a positive duration`)
	}
	mc, ok := c.fake.Clock().(*ManualClock)
	if !ok {
		return 0, nil, &controlError{status: http.StatusConflict, code: controlClockManual, message: "the fake's clock is not a ManualClock: it cannot be advanced"}
	}
	mc.Advance(time.Duration(*req.By))
	return http.StatusOK, map[string]any{"now": mc.Now().Format(time.RFC3339Nano)}, nil
}

// createStream: POST streams.
func (c *Control) createStream(r *http.Request) (int, any, error) {
	var req struct {
		Name   string `json:"name"`
		Shards int    `json:"shards"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == "" || req.Shards < 1 {
		return 0, nil, invalidRequest(`"name" must be a stream name and "shards" at least 1`)
	}
	if err := c.fake.CreateStream(req.Name, req.Shards); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"name": req.Name, "arn": c.fake.StreamARN(req.Name)}, nil
}

// deleteStream: DELETE streams/{name}.
func (c *Control) deleteStream(name string) (int, any, error) {
	if err := c.fake.DeleteStream(name); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// ControlShard is a shard as the control API lists it (GET
// streams/{name}/shards, see Control): ShardInfo in JSON, for a client of
// the API to decode.
type ControlShard struct {
	ID                    string   `json:"id"`
	ParentShardID         string   `json:"parentShardId,omitempty"`
	AdjacentParentShardID string   `json:"adjacentParentShardId,omitempty"`
	StartingHashKey       string   `json:"startingHashKey"`
	EndingHashKey         string   `json:"endingHashKey"`
	Open                  bool     `json:"open"`
	Children              []string `json:"children,omitempty"`
	Records               int      `json:"records"`
}

// shards: GET streams/{name}/shards.
func (c *Control) shards(name string, _ *http.Request) (int, any, error) {
	infos, err := c.fake.Shards(name)
	if err != nil {
		return 0, nil, err
	}
	out := make([]ControlShard, 0, len(infos))
	for _, s := range infos {
		out = append(out, ControlShard(s))
	}
	return http.StatusOK, map[string]any{"shards": out}, nil
}

// putRecords: POST streams/{name}/records.
func (c *Control) putRecords(name string, r *http.Request) (int, any, error) {
	var req struct {
		Records []struct {
			PartitionKey    string  `json:"partitionKey"`
			ExplicitHashKey string  `json:"explicitHashKey"`
			Data            []byte  `json:"data"`
			Text            *string `json:"text"`
		} `json:"records"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Records) == 0 || len(req.Records) > controlMaxRecords {
		return 0, nil, invalidRequest(`"records" must hold 1 to %d records, not %d`, controlMaxRecords, len(req.Records))
	}
	type result struct {
		ShardID        string `json:"shardId"`
		SequenceNumber string `json:"sequenceNumber"`
	}
	out := make([]result, 0, len(req.Records))
	for i, rec := range req.Records {
		data := rec.Data
		if rec.Text != nil {
			if data != nil {
				return 0, nil, invalidRequest("record %d: give \"data\" or \"text\", not both", i)
			}
			data = []byte(*rec.Text)
		}
		if rec.PartitionKey == "" {
			return 0, nil, invalidRequest("record %d: \"partitionKey\" is required", i)
		}
		var (
			res PutResult
			err error
		)
		if rec.ExplicitHashKey != "" {
			res, err = c.fake.PutWithHashKey(name, rec.PartitionKey, rec.ExplicitHashKey, data)
		} else {
			res, err = c.fake.Put(name, rec.PartitionKey, data)
		}
		if err != nil {
			// The records before it are stored: say so.
			ce := fakeError(err)
			ce.message = fmt.Sprintf("record %d (the %d before it were stored): %s", i, i, ce.message)
			return 0, nil, ce
		}
		out = append(out, result(res))
	}
	return http.StatusOK, map[string]any{"records": out}, nil
}

// split: POST streams/{name}/split.
func (c *Control) split(name string, r *http.Request) (int, any, error) {
	var req struct {
		Shard string `json:"shard"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Shard == "" {
		return 0, nil, invalidRequest(`"shard" is required`)
	}
	children, err := c.fake.Split(name, req.Shard)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"children": children[:]}, nil
}

// merge: POST streams/{name}/merge.
func (c *Control) merge(name string, r *http.Request) (int, any, error) {
	var req struct {
		Shard    string `json:"shard"`
		Adjacent string `json:"adjacent"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Shard == "" || req.Adjacent == "" {
		return 0, nil, invalidRequest(`"shard" and "adjacent" are required`)
	}
	child, err := c.fake.Merge(name, req.Shard, req.Adjacent)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"child": child}, nil
}

// shardCount: POST streams/{name}/shard-count.
func (c *Control) shardCount(name string, r *http.Request) (int, any, error) {
	var req struct {
		Target int `json:"target"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Target < 1 {
		return 0, nil, invalidRequest(`"target" must be at least 1`)
	}
	c.clientOnce.Do(func() {
		c.client = c.fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	})
	out, err := c.client.UpdateShardCount(r.Context(), &kinesis.UpdateShardCountInput{
		StreamName:       aws.String(name),
		TargetShardCount: aws.Int32(int32(min(req.Target, 1<<30))),
		ScalingType:      "UNIFORM_SCALING",
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]int32{"current": aws.ToInt32(out.CurrentShardCount), "target": aws.ToInt32(out.TargetShardCount)}, nil
}

// registerConsumer: POST streams/{name}/consumers.
func (c *Control) registerConsumer(name string, r *http.Request) (int, any, error) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == "" {
		return 0, nil, invalidRequest(`"name" is required`)
	}
	arn, err := c.fake.RegisterConsumer(name, req.Name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"arn": arn}, nil
}

// matchSpec is a Match in JSON.
type matchSpec struct {
	Op       string `json:"op,omitempty"`
	Stream   string `json:"stream,omitempty"`
	Shard    string `json:"shard,omitempty"`
	Consumer string `json:"consumer,omitempty"`
}

// match returns the Match.
func (m matchSpec) match() Match {
	out := Match{Stream: m.Stream, Shard: m.Shard, Consumer: m.Consumer}
	setName(&out.Op, m.Op)
	return out
}

// setName sets a field of a string type (string, or a named string type) from
// a string.
func setName[S ~string](field *S, v string) { *field = S(v) }

// actionSpec is an Action in JSON.
type actionSpec struct {
	Type        string    `json:"type"`
	Code        string    `json:"code,omitempty"`
	Latency     *duration `json:"latency,omitempty"`
	Fraction    float64   `json:"fraction,omitempty"`
	AfterEvents int       `json:"afterEvents,omitempty"`
}

// action checks a and returns its Action.
func (a actionSpec) action() (Action, error) {
	needCode := func() error {
		if a.Code == "" {
			return invalidRequest("action %q needs a \"code\"", a.Type)
		}
		return nil
	}
	switch a.Type {
	case "pass":
		return Pass, nil
	case "throttle":
		return Throttle, nil
	case "internal-failure":
		return InternalFailure, nil
	case "service-unavailable":
		return ServiceUnavailable, nil
	case "expired-iterator":
		return ExpiredIterator, nil
	case "drop-connection":
		return DropConnection, nil
	case "fail":
		if err := needCode(); err != nil {
			return Action{}, err
		}
		return Fail(a.Code), nil
	case "latency":
		if a.Latency == nil || *a.Latency <= 0 {
			return Action{}, invalidRequest(`action "latency" needs a positive "latency"`)
		}
		return Latency(time.Duration(*a.Latency)), nil
	case "fail-records":
		if a.Fraction <= 0 || a.Fraction > 1 {
			return Action{}, invalidRequest(`action "fail-records" needs a "fraction" in (0, 1], not %v`, a.Fraction)
		}
		return FailRecords(a.Fraction, a.Code), nil
	case "cut-stream":
		if a.AfterEvents < 0 {
			return Action{}, invalidRequest(`"afterEvents" %d is negative`, a.AfterEvents)
		}
		return CutStream(a.AfterEvents), nil
	case "stream-exception":
		if err := needCode(); err != nil {
			return Action{}, err
		}
		if a.AfterEvents < 0 {
			return Action{}, invalidRequest(`"afterEvents" %d is negative`, a.AfterEvents)
		}
		return StreamException(a.Code, a.AfterEvents), nil
	case "":
		return Action{}, invalidRequest(`an action needs a "type"`)
	}
	return Action{}, invalidRequest("unknown action type %q: want pass, throttle, internal-failure, service-unavailable, expired-iterator, drop-connection, fail, latency, fail-records, cut-stream or stream-exception", a.Type)
}

// faultSpec is a fault or a script in JSON.
type faultSpec struct {
	ID          string       `json:"id"`
	Match       matchSpec    `json:"match"`
	Action      *actionSpec  `json:"action,omitempty"`
	Script      []actionSpec `json:"script,omitempty"`
	Times       int          `json:"times,omitempty"`
	Probability float64      `json:"probability,omitempty"`
	Hits        int          `json:"hits"`
}

// inject: POST faults.
func (c *Control) inject(r *http.Request) (int, any, error) {
	var req faultSpec
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if req.ID != "" || req.Hits != 0 {
		return 0, nil, invalidRequest(`"id" and "hits" are set by the fake`)
	}
	if req.Times < 0 {
		return 0, nil, invalidRequest(`"times" %d is negative`, req.Times)
	}
	if req.Probability < 0 || req.Probability > 1 {
		return 0, nil, invalidRequest(`"probability" %v is not between 0 and 1`, req.Probability)
	}
	var start func() *Injected
	switch {
	case (req.Action == nil) == (req.Script == nil):
		return 0, nil, invalidRequest(`give either "action" or "script"`)
	case req.Action != nil:
		a, err := req.Action.action()
		if err != nil {
			return 0, nil, err
		}
		fault := Fault{Match: req.Match.match(), Action: a, Times: req.Times, Probability: req.Probability}
		start = func() *Injected { return c.fake.Inject(fault) }
	default:
		if req.Times != 0 || req.Probability != 0 {
			return 0, nil, invalidRequest(`a script takes no "times" nor "probability"`)
		}
		steps := make([]Action, len(req.Script))
		for i, s := range req.Script {
			a, err := s.action()
			if err != nil {
				var ce *controlError
				errors.As(err, &ce)
				return 0, nil, invalidRequest("script step %d: %s", i, ce.message)
			}
			steps[i] = a
		}
		m := req.Match.match()
		start = func() *Injected { return c.fake.Script(m, steps...) }
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	req.ID = strconv.Itoa(c.nextID)
	f := &controlFault{id: req.ID, spec: req, handle: start()}
	c.faults = append(c.faults, f)
	return http.StatusCreated, f.view(), nil
}

// view returns the fault as listed, with its hits.
func (f *controlFault) view() faultSpec {
	v := f.spec
	v.Hits = f.handle.Hits()
	return v
}

// listFaults: GET faults.
func (c *Control) listFaults(*http.Request) (int, any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]faultSpec, 0, len(c.faults))
	for _, f := range c.faults {
		out = append(out, f.view())
	}
	return http.StatusOK, map[string]any{"faults": out}, nil
}

// removeFault: DELETE faults/{id}.
func (c *Control) removeFault(id string) (int, any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.faults {
		if f.id == id {
			f.handle.Remove()
			c.faults = slices.Delete(c.faults, i, i+1)
			return http.StatusNoContent, nil, nil
		}
	}
	return 0, nil, &controlError{status: http.StatusNotFound, code: controlNotFound, message: fmt.Sprintf("no fault %q in force", id)}
}

// clearFaults: DELETE faults.
func (c *Control) clearFaults(*http.Request) (int, any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fake.ClearFaults()
	c.faults = nil
	return http.StatusNoContent, nil, nil
}

// calls: GET calls.
func (c *Control) calls(*http.Request) (int, any, error) {
	return http.StatusOK, map[string]any{"calls": c.fake.CallCounts()}, nil
}

// resetCalls: DELETE calls.
func (c *Control) resetCalls(*http.Request) (int, any, error) {
	c.fake.ResetCalls()
	return http.StatusNoContent, nil, nil
}
