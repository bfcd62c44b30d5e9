package kinesistest_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/aws/smithy-go/eventstream"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// cborClient speaks the Kinesis protocol in CBOR, as the AWS SDK for Java
// does by default: Content-Type application/x-amz-cbor-1.1, blobs as byte
// strings, timestamps as tag 1 around epoch milliseconds.
type cborClient struct {
	t   *testing.T
	url string
	c   *http.Client
}

func newCBORClient(t *testing.T, fake *kinesistest.Fake) *cborClient {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &cborClient{t: t, url: fake.URL(), c: &http.Client{Transport: tr}}
}

// post sends a raw body for op and returns the response, body unread.
func (c *cborClient) post(op string, body []byte) *http.Response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), http.MethodPost, c.url+"/", bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-cbor-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", op, err)
	}
	return resp
}

// do sends op with a CBOR body and returns the status and decoded answer.
func (c *cborClient) do(op string, in cbor.Map) (int, cbor.Map, http.Header) {
	c.t.Helper()
	resp := c.post(op, cbor.Encode(in))
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-cbor-1.1" {
		c.t.Fatalf("%s answered Content-Type %q, want CBOR", op, ct)
	}
	v, err := cbor.Decode(body)
	if err != nil {
		c.t.Fatalf("%s answered %x: not CBOR: %v", op, body, err)
	}
	m, ok := v.(cbor.Map)
	if !ok {
		c.t.Fatalf("%s answered %T, want a map", op, v)
	}
	return resp.StatusCode, m, resp.Header
}

// ok sends op and fails the test unless it succeeds.
func (c *cborClient) ok(op string, in cbor.Map) cbor.Map {
	c.t.Helper()
	status, out, _ := c.do(op, in)
	if status != http.StatusOK {
		c.t.Fatalf("%s: HTTP %d %v", op, status, out)
	}
	return out
}

func cborMillis(t time.Time) *cbor.Tag { return &cbor.Tag{ID: 1, Value: cbor.Uint(t.UnixMilli())} }

func str(t *testing.T, v cbor.Value) string {
	t.Helper()
	s, ok := v.(cbor.String)
	if !ok {
		t.Fatalf("%v (%T) is not a CBOR text string", v, v)
	}
	return string(s)
}

// The control and data planes in CBOR: byte strings for Data, tag 1 around
// epoch milliseconds for timestamps, both ways.
func TestCBORRequestsAndAnswers(t *testing.T) {
	t.Parallel()
	clock := kinesistest.NewManualClock(time.Date(2026, 3, 4, 5, 6, 7, 891e6, time.UTC))
	fake := kinesistest.New(t, kinesistest.WithClock(clock))
	c := newCBORClient(t, fake)
	c.ok("CreateStream", cbor.Map{"StreamName": cbor.String("s"), "ShardCount": cbor.Uint(1)})
	sum := c.ok("DescribeStreamSummary", cbor.Map{"StreamName": cbor.String("s")})["StreamDescriptionSummary"].(cbor.Map)
	if got := sum["StreamCreationTimestamp"]; !cborTimeIs(got, clock.Now()) {
		t.Fatalf("StreamCreationTimestamp %#v, want tag 1 around %d ms", got, clock.Now().UnixMilli())
	}
	if sum["OpenShardCount"] != cbor.Uint(1) || str(t, sum["StreamStatus"]) != "ACTIVE" {
		t.Fatalf("summary %v", sum)
	}

	data := []byte{0, 1, 2, 0xff, 'x'}
	put := c.ok("PutRecord", cbor.Map{"StreamName": cbor.String("s"), "PartitionKey": cbor.String("k"), "Data": cbor.Slice(data)})
	shard := str(t, put["ShardId"])
	batch := c.ok("PutRecords", cbor.Map{"StreamName": cbor.String("s"), "Records": cbor.List{
		cbor.Map{"PartitionKey": cbor.String("a"), "Data": cbor.Slice("second")},
	}})
	if batch["FailedRecordCount"] != cbor.Uint(0) {
		t.Fatalf("PutRecords %v", batch)
	}
	// AT_TIMESTAMP with the Java SDK's timestamp: the record's arrival.
	it := c.ok("GetShardIterator", cbor.Map{
		"StreamName": cbor.String("s"), "ShardId": cbor.String(shard),
		"ShardIteratorType": cbor.String("AT_TIMESTAMP"), "Timestamp": cborMillis(clock.Now()),
	})["ShardIterator"]
	recs := c.ok("GetRecords", cbor.Map{"ShardIterator": it, "Limit": cbor.Uint(10)})
	list := recs["Records"].(cbor.List)
	if len(list) != 2 {
		t.Fatalf("GetRecords %v", recs)
	}
	first := list[0].(cbor.Map)
	if got, ok := first["Data"].(cbor.Slice); !ok || !bytes.Equal(got, data) {
		t.Fatalf("Data %#v, want the byte string %x", first["Data"], data)
	}
	if !cborTimeIs(first["ApproximateArrivalTimestamp"], clock.Now()) {
		t.Fatalf("ApproximateArrivalTimestamp %#v", first["ApproximateArrivalTimestamp"])
	}
	if str(t, first["PartitionKey"]) != "k" || recs["MillisBehindLatest"] != cbor.Uint(0) {
		t.Fatalf("record %v, answer %v", first, recs)
	}

	// A timestamp later than the fake's clock is refused, as in JSON.
	status, out, h := c.do("GetShardIterator", cbor.Map{
		"StreamName": cbor.String("s"), "ShardId": cbor.String(shard),
		"ShardIteratorType": cbor.String("AT_TIMESTAMP"), "Timestamp": cborMillis(clock.Now().Add(time.Second)),
	})
	if status != http.StatusBadRequest || str(t, out["__type"]) != "InvalidArgumentException" {
		t.Fatalf("future AT_TIMESTAMP: HTTP %d %v", status, out)
	}
	if got := h.Get("X-Amzn-ErrorType"); got != "InvalidArgumentException:" {
		t.Errorf("X-Amzn-ErrorType %q", got)
	}
}

func cborTimeIs(v cbor.Value, want time.Time) bool {
	tag, ok := v.(*cbor.Tag)
	return ok && tag.ID == 1 && tag.Value == cbor.Uint(want.UnixMilli())
}

// Errors come in CBOR: the code in __type and X-Amzn-ErrorType, the message
// beside it; a body that is not CBOR is SerializationException.
func TestCBORErrors(t *testing.T) {
	t.Parallel()
	fake := kinesistest.New(t)
	c := newCBORClient(t, fake)
	status, out, h := c.do("DescribeStream", cbor.Map{"StreamName": cbor.String("nope")})
	if status != http.StatusBadRequest || str(t, out["__type"]) != "ResourceNotFoundException" || h.Get("X-Amzn-ErrorType") != "ResourceNotFoundException:" {
		t.Fatalf("HTTP %d %v %v", status, out, h)
	}
	if msg := str(t, out["message"]); msg == "" {
		t.Fatal("no message")
	}
	for name, body := range map[string][]byte{
		"truncated":       {0xa1, 0x6a},
		"reserved":        {0x1c},
		"huge negint key": cbor.Encode(cbor.Map{"Limit": cbor.NegInt(0)}),
	} {
		resp := c.post("ListStreams", body)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		v, err := cbor.Decode(raw)
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: HTTP %d %x %v", name, resp.StatusCode, raw, err)
		}
		if got := str(t, v.(cbor.Map)["__type"]); got != "SerializationException" {
			t.Errorf("%s: %s, want SerializationException", name, got)
		}
	}
	// An unknown operation is answered in CBOR too.
	status, out, _ = c.do("Nope", cbor.Map{})
	if status != http.StatusBadRequest || str(t, out["__type"]) != "UnknownOperationException" {
		t.Fatalf("unknown operation: HTTP %d %v", status, out)
	}
}

// Indefinite-length maps and strings, as Jackson's CBOR generator (which the
// Java SDK uses) may write them, are read.
func TestCBORIndefiniteLengths(t *testing.T) {
	t.Parallel()
	fake := kinesistest.New(t)
	fake.CreateStream("stream-one", 1)
	c := newCBORClient(t, fake)
	var b []byte
	b = append(b, 0xbf)            // map, indefinite
	b = append(b, 0x6a)            // text of 10
	b = append(b, "StreamName"...) //
	b = append(b, 0x7f, 0x66)      // text, indefinite; a chunk of 6
	b = append(b, "stream"...)     //
	b = append(b, 0x64)            // a chunk of 4
	b = append(b, "-one"...)       //
	b = append(b, 0xff, 0xff)      // end of text, end of map
	resp := c.post("DescribeStreamSummary", b)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	v, err := cbor.Decode(raw)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d %x %v", resp.StatusCode, raw, err)
	}
	if got := str(t, v.(cbor.Map)["StreamDescriptionSummary"].(cbor.Map)["StreamName"]); got != "stream-one" {
		t.Fatalf("StreamName %q", got)
	}
}

// SubscribeToShard in CBOR: the initial response, the events and the
// exceptions of the event stream carry CBOR payloads.
func TestCBORSubscribeToShard(t *testing.T) {
	t.Parallel()
	fake := kinesistest.New(t)
	fake.CreateStream("s", 1)
	arn, _ := fake.RegisterConsumer("s", "c")
	fake.Put("s", "k", []byte{9, 8, 7})
	c := newCBORClient(t, fake)
	resp := c.post("SubscribeToShard", cbor.Encode(cbor.Map{
		"ConsumerARN": cbor.String(arn), "ShardId": cbor.String(shard0),
		"StartingPosition": cbor.Map{"Type": cbor.String("TRIM_HORIZON")},
	}))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.amazon.eventstream" {
		t.Fatalf("HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	dec := eventstream.NewDecoder()
	next := func() (eventstream.Message, cbor.Map) {
		t.Helper()
		msg, err := dec.Decode(resp.Body, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ct := msg.Headers.Get(eventstream.ContentTypeHeader); ct == nil || ct.String() != "application/x-amz-cbor-1.1" {
			t.Fatalf(":content-type %v", ct)
		}
		v, err := cbor.Decode(msg.Payload)
		if err != nil {
			t.Fatalf("payload %x: %v", msg.Payload, err)
		}
		return msg, v.(cbor.Map)
	}
	msg, payload := next()
	if msg.Headers.Get(eventstream.EventTypeHeader).String() != "initial-response" || len(payload) != 0 {
		t.Fatalf("first message %v %v", msg.Headers, payload)
	}
	msg, payload = next()
	if msg.Headers.Get(eventstream.EventTypeHeader).String() != "SubscribeToShardEvent" {
		t.Fatalf("second message %v", msg.Headers)
	}
	recs := payload["Records"].(cbor.List)
	if len(recs) != 1 || !slices.Equal([]byte(recs[0].(cbor.Map)["Data"].(cbor.Slice)), []byte{9, 8, 7}) {
		t.Fatalf("event %v", payload)
	}
	if _, ok := payload["ContinuationSequenceNumber"].(cbor.String); !ok {
		t.Fatalf("event without ContinuationSequenceNumber: %v", payload)
	}
	fake.DeleteStream("s")
	msg, payload = next()
	if msg.Headers.Get(eventstream.MessageTypeHeader).String() != "exception" || msg.Headers.Get(eventstream.ExceptionTypeHeader).String() != "ResourceNotFoundException" || str(t, payload["message"]) == "" {
		t.Fatalf("last message %v %v", msg.Headers, payload)
	}
}

// FuzzCBOR feeds CBOR (and not CBOR) bodies to every operation: the fake
// answers each with a 2xx or 4xx in CBOR, never a 5xx, and never panics.
func FuzzCBOR(f *testing.F) {
	ops := sortedOps()
	seeds := []cbor.Map{
		{},
		{"StreamName": cbor.String("s")},
		{"StreamName": cbor.String("s"), "ShardCount": cbor.Uint(3)},
		{"StreamName": cbor.String("s"), "PartitionKey": cbor.String("k"), "Data": cbor.Slice("x")},
		{"StreamName": cbor.String("s"), "ShardId": cbor.String(shard0), "ShardIteratorType": cbor.String("AT_TIMESTAMP"), "Timestamp": &cbor.Tag{ID: 1, Value: cbor.Uint(1767225600000)}},
		{"StreamName": cbor.String("s"), "Records": cbor.List{cbor.Map{"PartitionKey": cbor.String("k"), "Data": cbor.Slice{1}}}},
		{"StreamName": cbor.String("s"), "ShardFilter": cbor.Map{"Type": cbor.String("AT_TIMESTAMP"), "Timestamp": &cbor.Tag{ID: 1, Value: cbor.Float64(1767225600.5)}}},
		{"StreamName": cbor.String("s"), "Limit": cbor.NegInt(3), "Tags": cbor.Map{"a": cbor.Bool(true)}},
	}
	for i := range ops {
		for _, s := range seeds {
			f.Add(uint8(i), cbor.Encode(s))
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		fake := robustFake(t)
		name := ops[int(op)%len(ops)]
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", "Kinesis_20131202."+name)
		req.Header.Set("Content-Type", "application/x-amz-cbor-1.1")
		rec := httptest.NewRecorder()
		fake.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %x: status %d", name, body, rec.Code)
		}
		if name != "SubscribeToShard" || rec.Code != http.StatusOK {
			if _, err := cbor.Decode(rec.Body.Bytes()); err != nil {
				t.Fatalf("%s %x: answer %x is not CBOR: %v", name, body, rec.Body.Bytes(), err)
			}
		}
	})
}
