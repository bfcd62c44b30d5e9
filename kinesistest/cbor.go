package kinesistest

// CBOR: the Kinesis protocol as the AWS SDK for Java sends it by default
// (Content-Type application/x-amz-cbor-1.1): the JSON 1.1 protocol with
// bodies in CBOR instead of JSON.
//
// Behavior:
//   - A request whose Content-Type is application/x-amz-cbor-1.1 is answered
//     in CBOR, with that Content-Type: its result, its error (a map of
//     __type and message, beside the X-Amzn-ErrorType header, as in JSON)
//     and, for SubscribeToShard, the payloads of the event stream
//     (initial-response, events and exceptions), whose :content-type header
//     says CBOR too.
//   - Blobs (Data) are CBOR byte strings; timestamps are tag 1 around the
//     epoch milliseconds as an integer, as the Java SDK writes and reads them
//     (its AwsCborProtocolFactory: UNIX_TIMESTAMP_MILLIS). In requests, a
//     tag 1 around an integer is milliseconds, around a float seconds.
//   - A body that is not CBOR, or holds what no Kinesis request holds (a map
//     key that is not a string, an integer past 64 bits...), is
//     SerializationException.
//
// The fake speaks JSON inside: a CBOR request is turned into the JSON the
// operations decode, and their JSON answer into CBOR, knowing the members
// the API reference types as blob (Data) or timestamp (see cborTimestamps).
// The codec is smithy-go's encoding/cbor, which the AWS SDK for Go already
// depends on.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/aws/smithy-go/eventstream"
)

const cborContentType = "application/x-amz-cbor-1.1"

// isCBOR reports whether a request's Content-Type asks for CBOR.
func isCBOR(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "application/x-amz-cbor")
}

// cborTimestamps are the members the API reference types as timestamp.
var cborTimestamps = map[string]bool{
	"ApproximateArrivalTimestamp": true,
	"StreamCreationTimestamp":     true,
	"ConsumerCreationTimestamp":   true,
	"Timestamp":                   true,
}

// cborBlob is the member the API reference types as blob.
const cborBlob = "Data"

// cborToJSON turns a CBOR request body into the JSON the operations decode.
// An empty body is an empty object.
func cborToJSON(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("malformed CBOR: %w", err)
	}
	return appendCBORAsJSON(make([]byte, 0, 2*len(body)), v)
}

func appendCBORAsJSON(b []byte, v cbor.Value) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case cbor.Map:
		b = append(b, '{')
		first := true
		for k, item := range v {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, k)
			b = append(b, ':')
			if b, err = appendCBORAsJSON(b, item); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case cbor.List:
		b = append(b, '[')
		for i, item := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendCBORAsJSON(b, item); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case cbor.String:
		return appendJSONString(b, string(v)), nil
	case cbor.Slice:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v)
		return append(b, '"'), nil
	case cbor.Uint:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case cbor.NegInt:
		if v == 0 || v > 1<<63 {
			return nil, fmt.Errorf("negative integer %s is out of range", "-"+strconv.FormatUint(uint64(v), 10))
		}
		return strconv.AppendInt(b, -int64(v-1)-1, 10), nil
	case cbor.Float32:
		return appendJSONFloat(b, float64(v))
	case cbor.Float64:
		return appendJSONFloat(b, float64(v))
	case cbor.Bool:
		return strconv.AppendBool(b, bool(v)), nil
	case *cbor.Nil, *cbor.Undefined:
		return append(b, "null"...), nil
	case *cbor.Tag:
		if v.ID == 1 {
			return appendCBORTime(b, v.Value)
		}
		return appendCBORAsJSON(b, v.Value)
	}
	return nil, fmt.Errorf("unexpected CBOR item %T", v)
}

func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("number %v has no JSON form", f)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), nil
}

// appendCBORTime appends the epoch seconds of a tag 1 timestamp: an integer
// is milliseconds (the Java SDK's form), a float seconds.
func appendCBORTime(b []byte, v cbor.Value) ([]byte, error) {
	var ms int64
	switch v := v.(type) {
	case cbor.Uint:
		if v > math.MaxInt64 {
			return nil, fmt.Errorf("timestamp %d ms is out of range", v)
		}
		ms = int64(v)
	case cbor.NegInt:
		if v == 0 || v > math.MaxInt64 {
			return nil, fmt.Errorf("timestamp is out of range")
		}
		ms = -int64(v)
	case cbor.Float32:
		return appendJSONFloat(b, float64(v))
	case cbor.Float64:
		return appendJSONFloat(b, float64(v))
	default:
		return nil, fmt.Errorf("timestamp tag around %T, not a number", v)
	}
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	frac := ms % 1000
	if frac < 100 {
		b = append(b, '0')
	}
	if frac < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, frac, 10), nil
}

// jsonToCBOR turns a JSON answer of the fake into CBOR: Data members become
// byte strings, timestamps tag 1 around epoch milliseconds.
func jsonToCBOR(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	cv, err := jsonValueToCBOR(v, "")
	if err != nil {
		return nil, err
	}
	return cbor.Encode(cv), nil
}

// jsonValueToCBOR converts v, the value of member key (or "").
func jsonValueToCBOR(v any, key string) (cbor.Value, error) {
	switch v := v.(type) {
	case map[string]any:
		m := make(cbor.Map, len(v))
		for k, item := range v {
			cv, err := jsonValueToCBOR(item, k)
			if err != nil {
				return nil, err
			}
			m[k] = cv
		}
		return m, nil
	case []any:
		l := make(cbor.List, len(v))
		for i, item := range v {
			cv, err := jsonValueToCBOR(item, key)
			if err != nil {
				return nil, err
			}
			l[i] = cv
		}
		return l, nil
	case string:
		if key == cborBlob {
			data, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("member %s: %w", key, err)
			}
			return cbor.Slice(data), nil
		}
		return cbor.String(v), nil
	case json.Number:
		if cborTimestamps[key] {
			sec, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return nil, fmt.Errorf("member %s: %w", key, err)
			}
			return &cbor.Tag{ID: 1, Value: cborInt(int64(math.Round(sec * 1000)))}, nil
		}
		if i, err := v.Int64(); err == nil {
			return cborInt(i), nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", key, err)
		}
		return cbor.Float64(f), nil
	case bool:
		return cbor.Bool(v), nil
	case nil:
		return &cbor.Nil{}, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %T", v)
}

func cborInt(i int64) cbor.Value {
	if i < 0 {
		return cbor.NegInt(uint64(-(i + 1)) + 1)
	}
	return cbor.Uint(i)
}

// writeCBOR writes out, an operation's answer, in CBOR.
func writeCBOR(w http.ResponseWriter, out any) {
	var body []byte
	var err error
	switch a := out.(type) {
	case cborAppender:
		body = a.appendCBOR(nil)
	case jsonAppender:
		body, err = jsonToCBOR(a.appendJSON(make([]byte, 0, 512)))
	default:
		if body, err = json.Marshal(out); err == nil {
			body, err = jsonToCBOR(body)
		}
	}
	if err != nil {
		writeErrorIn(w, errorf(CodeInternalFailure, "encoding the response in CBOR: %v", err), true)
		return
	}
	h := w.Header()
	h.Set("Content-Type", cborContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// cborError is the CBOR body of an error.
func cborError(e *apiError) []byte {
	return cbor.Encode(cbor.Map{"__type": cbor.String(e.code), "message": cbor.String(e.message)})
}

// inCBOR turns the JSON payload of an event stream message into CBOR and
// says so in its :content-type header; a CBOR payload is left as it is.
func inCBOR(m eventstream.Message) eventstream.Message {
	if ct := m.Headers.Get(eventstream.ContentTypeHeader); ct != nil && ct.String() == cborContentType {
		return m
	}
	if p, err := jsonToCBOR(m.Payload); err == nil {
		m.Payload = p
	} else {
		m.Payload = cbor.Encode(cbor.Map{})
	}
	m.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue(cborContentType))
	return m
}

// The answers that carry records (GetRecords, SubscribeToShard events) are
// encoded to CBOR directly, as they are to JSON: going through JSON would
// cost several times the JSON encoding alone.

// cborAppender is an answer that encodes itself in CBOR.
type cborAppender interface{ appendCBOR(b []byte) []byte }

// CBOR major types.
const (
	cborUint  = 0 << 5
	cborNeg   = 1 << 5
	cborBytes = 2 << 5
	cborText  = 3 << 5
	cborArray = 4 << 5
	cborMap   = 5 << 5
	cborTag   = 6 << 5
)

// appendCBORHead appends the head of a data item: its major type and
// argument n, in the shortest form.
func appendCBORHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= math.MaxUint8:
		return append(b, major|24, byte(n))
	case n <= math.MaxUint16:
		return append(b, major|25, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return append(b, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendCBORText(b []byte, s string) []byte {
	return append(appendCBORHead(b, cborText, uint64(len(s))), s...)
}

func appendCBORInt(b []byte, i int64) []byte {
	if i < 0 {
		return appendCBORHead(b, cborNeg, uint64(-(i + 1)))
	}
	return appendCBORHead(b, cborUint, uint64(i))
}

// appendCBORRecords appends records as a CBOR array of Kinesis records.
func appendCBORRecords(b []byte, records []record) []byte {
	b = appendCBORHead(b, cborArray, uint64(len(records)))
	for i := range records {
		rec := &records[i]
		n := uint64(4)
		if rec.kms {
			n++
		}
		b = appendCBORHead(b, cborMap, n)
		b = appendCBORText(b, "SequenceNumber")
		b = appendCBORText(b, rec.seq)
		b = appendCBORText(b, "ApproximateArrivalTimestamp")
		b = appendCBORHead(b, cborTag, 1)
		b = appendCBORInt(b, rec.arrival.UnixMilli())
		b = appendCBORText(b, cborBlob)
		b = appendCBORHead(b, cborBytes, uint64(rec.dataLen))
		b = appendBase64Decoded(b, rec.data64)
		b = appendCBORText(b, "PartitionKey")
		b = appendCBORText(b, rec.pk)
		if rec.kms {
			b = appendCBORText(b, "EncryptionType")
			b = appendCBORText(b, "KMS")
		}
	}
	return b
}

// appendBase64Decoded appends the bytes of s, base64 the fake wrote.
func appendBase64Decoded(b []byte, s string) []byte {
	b = slices.Grow(b, base64.StdEncoding.DecodedLen(len(s)))
	n, _ := base64.StdEncoding.Decode(b[len(b):cap(b)], []byte(s))
	return b[:len(b)+n]
}

// cborRecordsLen bounds what appendCBORRecords writes for records.
func cborRecordsLen(records []record) int {
	const overhead = 9 + 1 + // array head; map head
		15 + 28 + 5 + 9 + 13 + // keys: SequenceNumber, ApproximateArrivalTimestamp, Data, PartitionKey
		9 + 1 + 9 + 9 + 9 + // heads of the values and the tag
		15 + 4 // EncryptionType: KMS
	n := 9
	for i := range records {
		n += overhead + len(records[i].seq) + records[i].dataLen + len(records[i].pk)
	}
	return n
}

// appendCBORChildShards appends ChildShards, through the JSON form: they
// are few.
func appendCBORChildShards(b []byte, children []childShard) []byte {
	v, err := jsonToCBOR(childShardsJSON(children))
	if err != nil { // cannot happen: the JSON is the fake's own
		return appendCBORHead(b, cborArray, 0)
	}
	return append(b, v...)
}

func (r *getRecordsResp) appendCBOR(b []byte) []byte {
	n := uint64(2)
	if r.next != "" {
		n++
	}
	if r.children != nil {
		n++
	}
	b = slices.Grow(b, cborRecordsLen(r.records)+len(r.next)+64)
	b = appendCBORHead(b, cborMap, n)
	b = appendCBORText(b, "Records")
	b = appendCBORRecords(b, r.records)
	b = appendCBORText(b, "MillisBehindLatest")
	b = appendCBORInt(b, r.behind)
	if r.next != "" {
		b = appendCBORText(b, "NextShardIterator")
		b = appendCBORText(b, r.next)
	}
	if r.children != nil {
		b = appendCBORText(b, "ChildShards")
		b = appendCBORChildShards(b, r.children)
	}
	return b
}

// eventMessageCBOR is eventMessage with a CBOR payload.
func eventMessageCBOR(ev *event) eventstream.Message {
	var m eventstream.Message
	m.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.EventMessageType))
	m.Headers.Set(eventstream.EventTypeHeader, eventstream.StringValue("SubscribeToShardEvent"))
	m.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue(cborContentType))
	n := uint64(2)
	if ev.continuation != "" {
		n++
	}
	if ev.end {
		n++
	}
	b := make([]byte, 0, cborRecordsLen(ev.records)+len(ev.continuation)+64)
	b = appendCBORHead(b, cborMap, n)
	b = appendCBORText(b, "Records")
	b = appendCBORRecords(b, ev.records)
	b = appendCBORText(b, "MillisBehindLatest")
	b = appendCBORInt(b, ev.behind)
	if ev.continuation != "" {
		b = appendCBORText(b, "ContinuationSequenceNumber")
		b = appendCBORText(b, ev.continuation)
	}
	if ev.end {
		b = appendCBORText(b, "ChildShards")
		b = appendCBORChildShards(b, ev.children)
	}
	m.Payload = b
	return m
}
