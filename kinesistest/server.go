package kinesistest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	targetPrefix = "Kinesis_20131202."
	contentType  = "application/x-amz-json-1.1"
	maxBodyBytes = 16 << 20
)

// call is one request being served.
type call struct {
	ctx   context.Context
	stop  <-chan struct{} // closed when the Server carrying the call stops; nil otherwise
	cbor  bool            // the request is CBOR, and so is the answer
	op    string
	w     http.ResponseWriter
	match Match   // what the request is about, for fault matching
	fault *Action // the injected fault that applies to this call, if any
}

// operation serves one Kinesis operation.
type operation func(f *Fake, c *call, body []byte) (any, *apiError)

// keyed requests say which stream, shard and consumer they are about.
type keyed interface{ keys(f *Fake) Match }

// op adapts a typed handler: it decodes the request, applies injected faults
// and runs fn.
func op[Req any, PReq interface {
	*Req
	keyed
}](fn func(f *Fake, c *call, req *Req) (any, *apiError)) operation {
	return func(f *Fake, c *call, body []byte) (any, *apiError) {
		req := PReq(new(Req))
		if fd, ok := any(req).(fastDecoder); !ok || !fd.decodeFast(body) {
			*req = *new(Req) // drop what a failed fast path decoded
			if err := decodeJSON(body, req); err != nil {
				return nil, err
			}
		}
		c.match = req.keys(f)
		c.match.Op = c.op
		if e := f.applyFault(c); e != nil {
			return nil, e
		}
		if f.cfg.limits != nil {
			f.mu.Lock()
			e := f.throttle(c, f.clock.Now())
			f.mu.Unlock()
			if e != nil {
				return nil, e
			}
		}
		return fn(f, c, (*Req)(req))
	}
}

// fastDecoder is a request with a hand-written decoder for the common shape
// of its body. decodeFast decodes exactly what encoding/json would, or
// reports false for anything outside that shape (escapes, unknown members,
// other types...), and the request is decoded again with encoding/json.
type fastDecoder interface{ decodeFast(body []byte) bool }

var operations map[string]operation

func init() {
	operations = map[string]operation{
		"CreateStream":                  op(opCreateStream),
		"DeleteStream":                  op(opDeleteStream),
		"DescribeStream":                op(opDescribeStream),
		"DescribeStreamSummary":         op(opDescribeStreamSummary),
		"ListStreams":                   op(opListStreams),
		"ListShards":                    op(opListShards),
		"PutRecord":                     op(opPutRecord),
		"PutRecords":                    op(opPutRecords),
		"GetShardIterator":              op(opGetShardIterator),
		"GetRecords":                    op(opGetRecords),
		"SplitShard":                    op(opSplitShard),
		"MergeShards":                   op(opMergeShards),
		"UpdateShardCount":              op(opUpdateShardCount),
		"RegisterStreamConsumer":        op(opRegisterStreamConsumer),
		"DescribeStreamConsumer":        op(opDescribeStreamConsumer),
		"ListStreamConsumers":           op(opListStreamConsumers),
		"DeregisterStreamConsumer":      op(opDeregisterStreamConsumer),
		"SubscribeToShard":              op(opSubscribeToShard),
		"IncreaseStreamRetentionPeriod": op(opIncreaseRetention),
		"DecreaseStreamRetentionPeriod": op(opDecreaseRetention),
		"AddTagsToStream":               op(opAddTags),
		"RemoveTagsFromStream":          op(opRemoveTags),
		"ListTagsForStream":             op(opListTags),
		"TagResource":                   op(opTagResource),
		"UntagResource":                 op(opUntagResource),
		"ListTagsForResource":           op(opListTagsForResource),
		"UpdateStreamMode":              op(opUpdateStreamMode),
		"StartStreamEncryption":         op(opStartStreamEncryption),
		"StopStreamEncryption":          op(opStopStreamEncryption),
		"EnableEnhancedMonitoring":      op(opEnableMonitoring),
		"DisableEnhancedMonitoring":     op(opDisableMonitoring),
		"DescribeLimits":                op(opDescribeLimits),
	}
}

// Operations returns the names of the operations the fake serves.
func Operations() []string {
	out := make([]string, 0, len(operations))
	for name := range operations {
		out = append(out, name)
	}
	return out
}

// streamed is returned by an operation that wrote its own response.
type streamed struct{}

func (f *Fake) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", requestID())
	// The service's clock, as the service sends it: clients read it (the SDK
	// for clock skew, kinesin for where Latest starts).
	w.Header().Set("Date", f.clock.Now().UTC().Format(http.TimeFormat))
	inCBOR := isCBOR(r.Header.Get("Content-Type"))
	fail := func(e *apiError) { writeErrorIn(w, e, inCBOR) }
	if r.Method != http.MethodPost {
		fail(errorf(CodeUnknownOperation, "method %s is not supported; the Kinesis protocol uses POST /", r.Method))
		return
	}
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, targetPrefix)
	fn := operations[name]
	if !ok || fn == nil {
		f.count("Unknown")
		fail(errorf(CodeUnknownOperation, "unknown operation %q", target))
		return
	}
	f.count(name)
	select {
	case <-f.closed:
		fail(errorf(CodeServiceUnavailable, "the fake is closed"))
		return
	default:
	}
	body, err := readBody(r)
	if err != nil {
		fail(errorf(CodeSerialization, "reading the request body: %v", err))
		return
	}
	if len(body) > maxBodyBytes {
		fail(validation("request body larger than %d bytes", maxBodyBytes))
		return
	}
	if inCBOR {
		if body, err = cborToJSON(body); err != nil {
			fail(errorf(CodeSerialization, "%v", err))
			return
		}
	}
	c := &call{ctx: r.Context(), stop: serverStop(r.Context()), cbor: inCBOR, op: name, w: w}
	out, apiErr := fn(f, c, body)
	switch {
	case apiErr != nil && apiErr.code == dropConnection:
		dropConn(w)
	case apiErr != nil:
		fail(apiErr)
	case out == (streamed{}):
	case inCBOR:
		writeCBOR(w, out)
	default:
		writeJSON(w, out)
	}
}

// readBody reads the request body, at most maxBodyBytes+1 bytes of it, in
// one allocation when the request says its length.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= maxBodyBytes {
		buf := make([]byte, n)
		_, err := io.ReadFull(r.Body, buf)
		return buf, err
	}
	return io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
}

// dropConnection is the pseudo error code of an injected dropped connection.
const dropConnection = "kinesistest.DropConnection"

// dropConn ends the exchange without a response: over HTTP the connection is
// closed; on the in-process transport the client gets a connection reset.
func dropConn(w http.ResponseWriter) {
	if d, ok := w.(interface{ drop() }); ok {
		d.drop()
		return
	}
	panic(http.ErrAbortHandler) // net/http closes the connection quietly
}

// jsonAppender is a response that encodes itself, faster than reflection.
type jsonAppender interface{ appendJSON(b []byte) []byte }

func writeJSON(w http.ResponseWriter, v any) {
	var body []byte
	release := func() {}
	if a, ok := v.(jsonAppender); ok {
		// Responses that encode themselves are the large ones (records):
		// their buffers are reused.
		buf := getRespBuf()
		body = a.appendJSON((*buf)[:0])
		release = func() { *buf = body; putRespBuf(buf) }
	} else {
		var err error
		body, err = json.Marshal(v)
		if err != nil {
			writeError(w, errorf(CodeInternalFailure, "encoding the response: %v", err))
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if o, ok := w.(interface{ writeOwned([]byte, func()) }); ok {
		o.writeOwned(body, release) // the in-process transport keeps body: no copy
		return
	}
	_, _ = w.Write(body)
	release()
}

// Bounds of the response buffers kept for reuse.
const (
	// firstRespBuf is the size a new response buffer starts at.
	firstRespBuf = 512
	// maxPooledResp bounds the buffers kept: a GetRecords response holds
	// at most 10 MiB of data, about 14 MiB of JSON.
	maxPooledResp = 16 << 20
)

var respBufs = sync.Pool{New: func() any { b := make([]byte, 0, firstRespBuf); return &b }}

// getRespBuf returns an empty buffer for a response body.
func getRespBuf() *[]byte { return respBufs.Get().(*[]byte) }

// putRespBuf gives a response buffer back once nobody reads it any more.
func putRespBuf(b *[]byte) {
	if cap(*b) > maxPooledResp {
		return
	}
	*b = (*b)[:0]
	respBufs.Put(b)
}

func writeError(w http.ResponseWriter, e *apiError) { writeErrorIn(w, e, false) }

// writeErrorIn writes an error in JSON, or in CBOR for a CBOR request.
func writeErrorIn(w http.ResponseWriter, e *apiError, inCBOR bool) {
	var body []byte
	ct := contentType
	if inCBOR {
		body, ct = cborError(e), cborContentType
	} else {
		body, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{e.code, e.message})
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("X-Amzn-ErrorType", e.code+":")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// decodeJSON decodes a request body; an empty body is an empty object.
func decodeJSON(body []byte, v any) *apiError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return errorf(CodeSerialization, "malformed JSON at offset %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return errorf(CodeSerialization, "field %s: expected %s, got %s", te.Field, te.Type, te.Value)
		default:
			return errorf(CodeSerialization, "cannot decode request: %v", err)
		}
	}
	return nil
}

// epoch is a timestamp on the wire: seconds since the epoch as a JSON number.
type epoch struct{ time.Time }

func (e epoch) MarshalJSON() ([]byte, error) { return appendEpoch(nil, e.Time), nil }

func (e *epoch) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return &json.UnmarshalTypeError{Value: "timestamp " + string(b), Type: reflect.TypeFor[float64]()}
	}
	sec, frac := math.Modf(v)
	e.Time = time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()
	return nil
}

func appendEpoch(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	frac := ms % 1000
	if frac < 0 {
		frac = -frac
	}
	if frac < 100 {
		b = append(b, '0')
	}
	if frac < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, frac, 10)
}

func ep(t time.Time) *epoch { return &epoch{t} }

var reqCounter atomic.Uint64

func requestID() string {
	return "kinesistest-" + strconv.FormatUint(reqCounter.Add(1), 36)
}

// streamRef is the StreamName / StreamARN pair most requests carry.
type streamRef struct {
	StreamName *string `json:"StreamName"`
	StreamARN  *string `json:"StreamARN"`
}

func (r *streamRef) keys(*Fake) Match { return Match{Stream: r.name()} }

// name returns the stream name given by name or ARN.
func (r *streamRef) name() string {
	if r.StreamName != nil {
		return *r.StreamName
	}
	if r.StreamARN != nil {
		if _, n, ok := strings.Cut(*r.StreamARN, ":stream/"); ok {
			return n
		}
		return *r.StreamARN
	}
	return ""
}

// resolve finds the stream a request names, after removing the streams
// whose deletion is over. Callers hold f.mu.
func (f *Fake) resolve(r *streamRef) (*stream, *apiError) {
	f.settle(f.clock.Now())
	if r.StreamName == nil && r.StreamARN == nil {
		return nil, invalidArg("either StreamName or StreamARN must be given")
	}
	if r.StreamName != nil && !validStreamName(*r.StreamName) {
		return nil, validation("1 validation error detected: Value '%s' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128", *r.StreamName)
	}
	if r.StreamARN != nil {
		_, name, ok := strings.Cut(*r.StreamARN, ":stream/")
		if !ok || !strings.HasPrefix(*r.StreamARN, "arn:") || strings.Contains(name, "/") {
			return nil, validation("StreamARN %q is not a stream ARN", *r.StreamARN)
		}
		if r.StreamName != nil && *r.StreamName != name {
			return nil, invalidArg("StreamName %q and StreamARN %q name different streams", *r.StreamName, *r.StreamARN)
		}
		s := f.streams[name]
		if s == nil || s.arn != *r.StreamARN {
			return nil, notFound("Stream %s under account %s not found.", name, f.cfg.account)
		}
		return s, nil
	}
	s := f.streams[*r.StreamName]
	if s == nil {
		return nil, notFound("Stream %s under account %s not found.", *r.StreamName, f.cfg.account)
	}
	return s, nil
}

func validStreamName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func (f *Fake) count(op string) {
	f.mu.Lock()
	f.calls[op]++
	f.mu.Unlock()
}

// Calls returns how many requests of operation op the fake has received,
// faulted ones included. Helpers of the Fake are not counted.
func (f *Fake) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// CallCounts returns the number of requests received per operation.
func (f *Fake) CallCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.calls))
	for k, v := range f.calls {
		out[k] = v
	}
	return out
}

// ResetCalls sets every call count back to zero.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.calls)
}
