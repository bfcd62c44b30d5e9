package kinesistest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// wire sends raw requests to a fake, through its loopback URL or straight to
// its Handler with an httptest.ResponseRecorder.
type wire struct {
	fake   *kinesistest.Fake
	clock  *kinesistest.ManualClock
	url    string // empty: use the handler
	client *http.Client
}

type wireResp struct {
	status int
	header http.Header
	body   []byte
}

// code is the error code of an error response, from X-Amzn-ErrorType as the
// SDK reads it, checked against the body's __type.
func (r wireResp) code(t testing.TB) string {
	t.Helper()
	h := r.header.Get("X-Amzn-ErrorType")
	h, _, _ = strings.Cut(h, ":")
	var body struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if body.Type != h {
		t.Fatalf("X-Amzn-ErrorType %q, __type %q", h, body.Type)
	}
	return h
}

func eachWire(t *testing.T, fn func(t *testing.T, w *wire)) {
	t.Parallel()
	for _, mode := range []string{"handler", "loopback"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			fn(t, newWire(t, mode))
		})
	}
}

func newWire(t testing.TB, mode string) *wire {
	clock := kinesistest.NewManualClock(time.Time{})
	w := &wire{fake: kinesistest.New(t, kinesistest.WithClock(clock)), clock: clock}
	if mode == "loopback" {
		w.url = w.fake.URL()
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		w.client = &http.Client{Transport: tr}
	}
	return w
}

func (w *wire) do(t testing.TB, method, target string, body []byte) wireResp {
	t.Helper()
	var req *http.Request
	if w.url == "" {
		req = httptest.NewRequest(method, "/", bytes.NewReader(body))
	} else {
		var err error
		req, err = http.NewRequest(method, w.url+"/", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
	}
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if w.url == "" {
		rec := httptest.NewRecorder()
		w.fake.Handler().ServeHTTP(rec, req)
		res := rec.Result()
		return wireResp{status: res.StatusCode, header: res.Header, body: rec.Body.Bytes()}
	}
	res, err := w.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return wireResp{status: res.StatusCode, header: res.Header, body: b}
}

func (w *wire) call(t testing.TB, op, body string) wireResp {
	t.Helper()
	return w.do(t, http.MethodPost, "Kinesis_20131202."+op, []byte(body))
}

func (w *wire) ok(t testing.TB, op, body string) map[string]any {
	t.Helper()
	r := w.call(t, op, body)
	if r.status != http.StatusOK {
		t.Fatalf("%s %s: %d %s", op, body, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Fatalf("%s: Content-Type %q", op, ct)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s response %q: %v", op, r.body, err)
	}
	return m
}

func (w *wire) fails(t testing.TB, op, body string, status int, codes ...string) {
	t.Helper()
	r := w.call(t, op, body)
	if r.status != status {
		t.Fatalf("%s %s: status %d (%s), want %d", op, body, r.status, r.body, status)
	}
	if c := r.code(t); !slices.Contains(codes, c) {
		t.Fatalf("%s %s: code %s, want %v", op, body, c, codes)
	}
}

func TestWireUnknownOperation(t *testing.T) {
	eachWire(t, func(t *testing.T, w *wire) {
		for _, target := range []string{"Kinesis_20131202.Bogus", "Kinesis_20131202.", "Kinesis_20131202", "DynamoDB_20120810.ListTables", "ListStreams", ""} {
			r := w.do(t, http.MethodPost, target, []byte("{}"))
			if r.status != http.StatusBadRequest || r.code(t) != "UnknownOperationException" {
				t.Fatalf("target %q: %d %s", target, r.status, r.body)
			}
		}
	})
}

func TestWireNotPost(t *testing.T) {
	eachWire(t, func(t *testing.T, w *wire) {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead} {
			r := w.do(t, method, "Kinesis_20131202.ListStreams", nil)
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("%s /: status %d", method, r.status)
			}
		}
		r := w.do(t, http.MethodGet, "", nil)
		if r.status < 400 || r.status >= 500 {
			t.Fatalf("GET / without target: status %d", r.status)
		}
	})
}

func TestWireMalformedJSON(t *testing.T) {
	eachWire(t, func(t *testing.T, w *wire) {
		for _, op := range []string{"CreateStream", "PutRecord", "GetRecords", "ListShards", "ListStreams"} {
			for _, body := range []string{`{"StreamName":`, `{`, `nope`, `{"a":1}}`, `{"StreamName":"s",}`, "\x00\xff"} {
				w.fails(t, op, body, http.StatusBadRequest, "SerializationException")
			}
		}
	})
}

func TestWireWrongFieldType(t *testing.T) {
	eachWire(t, func(t *testing.T, w *wire) {
		cases := []struct{ op, body string }{
			{"CreateStream", `{"StreamName":5,"ShardCount":1}`},
			{"CreateStream", `{"StreamName":"s","ShardCount":"1"}`},
			{"CreateStream", `{"StreamName":"s","ShardCount":1.5}`},
			{"CreateStream", `{"StreamName":"s","ShardCount":1e40}`},
			{"CreateStream", `{"StreamName":["s"],"ShardCount":1}`},
			{"PutRecord", `{"StreamName":"s","PartitionKey":"k","Data":12}`},
			{"PutRecord", `{"StreamName":"s","PartitionKey":"k","Data":"not base64!"}`},
			{"PutRecord", `{"StreamName":"s","PartitionKey":"k","Data":"-_-_"}`}, // URL-safe alphabet
			{"PutRecords", `{"StreamName":"s","Records":{}}`},
			{"GetRecords", `{"ShardIterator":true}`},
			{"GetRecords", `{"ShardIterator":"x","Limit":"10"}`},
			{"GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":"2026-01-01T00:00:00Z"}`},
			{"ListShards", `{"StreamName":"s","ShardFilter":"AT_LATEST"}`},
			{"ListStreams", `[]`},
			{"DescribeStream", `"s"`},
		}
		for _, c := range cases {
			w.fails(t, c.op, c.body, http.StatusBadRequest, "SerializationException")
		}
	})
}

func TestWireMissingRequired(t *testing.T) {
	eachWire(t, func(t *testing.T, w *wire) {
		w.fake.CreateStream("s", 1)
		cases := []struct{ op, body string }{
			{"CreateStream", `{}`},
			{"CreateStream", `{"ShardCount":1}`},
			{"DeleteStream", `{}`},
			{"DescribeStream", `{}`},
			{"DescribeStreamSummary", `{}`},
			{"ListShards", `{}`},
			{"PutRecord", `{"StreamName":"s","Data":"eA=="}`},
			{"PutRecord", `{"StreamName":"s","PartitionKey":"k"}`},
			{"PutRecord", `{"PartitionKey":"k","Data":"eA=="}`},
			{"PutRecords", `{"StreamName":"s"}`},
			{"PutRecords", `{"StreamName":"s","Records":[{"PartitionKey":"k"}]}`},
			{"PutRecords", `{"StreamName":"s","Records":[{"Data":"eA=="}]}`},
			{"GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000"}`},
			{"GetShardIterator", `{"StreamName":"s","ShardIteratorType":"LATEST"}`},
			{"GetRecords", `{}`},
			{"SplitShard", `{"StreamName":"s","ShardToSplit":"shardId-000000000000"}`},
			{"MergeShards", `{"StreamName":"s","ShardToMerge":"shardId-000000000000"}`},
			{"UpdateShardCount", `{"StreamName":"s","ScalingType":"UNIFORM_SCALING"}`},
			{"UpdateShardCount", `{"StreamName":"s","TargetShardCount":2}`},
			{"IncreaseStreamRetentionPeriod", `{"StreamName":"s"}`},
			{"DecreaseStreamRetentionPeriod", `{"StreamName":"s"}`},
			{"RegisterStreamConsumer", `{"ConsumerName":"c"}`},
			{"DescribeStreamConsumer", `{}`},
			{"ListStreamConsumers", `{}`},
			{"DeregisterStreamConsumer", `{}`},
			{"SubscribeToShard", `{}`},
			{"AddTagsToStream", `{"Tags":{"a":"b"}}`},
			{"ListTagsForStream", `{}`},
		}
		for _, c := range cases {
			w.fails(t, c.op, c.body, http.StatusBadRequest, "ValidationException", "InvalidArgumentException")
		}
		// An empty body is an empty object, as for operations without input.
		w.fails(t, "DescribeStream", "", http.StatusBadRequest, "ValidationException", "InvalidArgumentException")
		w.ok(t, "ListStreams", "")
		w.ok(t, "ListStreams", "{}")
		w.ok(t, "ListStreams", `{"UnknownField":[1,2,{"x":null}]}`)
	})
}

func TestWireTimestampsAreNumbers(t *testing.T) {
	eachWire(t, func(t *testing.T, w *wire) {
		w.clock.Set(time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC))
		want := "1772600767.891"
		w.ok(t, "CreateStream", `{"StreamName":"s","ShardCount":1}`)
		w.ok(t, "PutRecord", `{"StreamName":"s","PartitionKey":"k","Data":"eA=="}`)
		check := func(where string, v any) {
			t.Helper()
			n, ok := v.(json.Number)
			if !ok {
				t.Fatalf("%s: %T %v, want a JSON number", where, v, v)
			}
			if string(n) != want {
				t.Fatalf("%s: %s, want %s", where, n, want)
			}
		}
		sum := w.ok(t, "DescribeStreamSummary", `{"StreamName":"s"}`)["StreamDescriptionSummary"].(map[string]any)
		check("DescribeStreamSummary", sum["StreamCreationTimestamp"])
		desc := w.ok(t, "DescribeStream", `{"StreamName":"s"}`)["StreamDescription"].(map[string]any)
		check("DescribeStream", desc["StreamCreationTimestamp"])
		ls := w.ok(t, "ListStreams", `{}`)["StreamSummaries"].([]any)
		check("ListStreams", ls[0].(map[string]any)["StreamCreationTimestamp"])
		it := w.ok(t, "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`)["ShardIterator"].(string)
		gr := w.ok(t, "GetRecords", fmt.Sprintf(`{"ShardIterator":%q}`, it))
		check("GetRecords", gr["Records"].([]any)[0].(map[string]any)["ApproximateArrivalTimestamp"])
		if _, ok := gr["MillisBehindLatest"].(json.Number); !ok {
			t.Fatalf("MillisBehindLatest %T", gr["MillisBehindLatest"])
		}
		w.fake.RegisterConsumer("s", "c")
		cons := w.ok(t, "ListStreamConsumers", fmt.Sprintf(`{"StreamARN":%q}`, w.fake.StreamARN("s")))["Consumers"].([]any)
		check("ListStreamConsumers", cons[0].(map[string]any)["ConsumerCreationTimestamp"])

		// Timestamps in requests are numbers too, seconds with a fraction.
		// (The manual clock is at 2026-01-01T00:00:00Z; these are an hour
		// before: a later one would be refused.)
		w.ok(t, "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1767222000.891}`)
		w.ok(t, "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1767222000}`)
	})
}

func TestWireDataBase64(t *testing.T) {
	eachWire(t, func(t *testing.T, w *wire) {
		w.fake.CreateStream("s", 1)
		raw := []byte{0xfb, 0xff, 0xfe, 0x00, 0x3e, 0x3f}
		std := base64.StdEncoding.EncodeToString(raw)
		if !strings.ContainsAny(std, "+/") {
			t.Fatalf("test data %q has no + or /", std)
		}
		w.ok(t, "PutRecord", fmt.Sprintf(`{"StreamName":"s","PartitionKey":"k","Data":%q}`, std))
		w.ok(t, "PutRecords", `{"StreamName":"s","Records":[{"PartitionKey":"k","Data":"AQ=="},{"PartitionKey":"k","Data":""}]}`)
		it := w.ok(t, "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`)["ShardIterator"].(string)
		recs := w.ok(t, "GetRecords", fmt.Sprintf(`{"ShardIterator":%q}`, it))["Records"].([]any)
		var got []string
		for _, r := range recs {
			got = append(got, r.(map[string]any)["Data"].(string))
		}
		if want := []string{std, "AQ==", ""}; !slices.Equal(got, want) {
			t.Fatalf("Data %q, want %q", got, want)
		}
	})
}

// TestWirePutRecordsBodies sends PutRecords bodies in the many spellings JSON
// allows and checks what is stored, or the error: the fake decodes the
// common spelling by hand and must mean the same as encoding/json.
func TestWirePutRecordsBodies(t *testing.T) {
	eachWire(t, func(t *testing.T, w *wire) {
		w.fake.CreateStream("s", 1)
		cases := []struct {
			body string
			want []string // "pk=data" of the stored records; nil for an error
			code string
		}{
			{`{"Records":[{"Data":"YQ==","PartitionKey":"k"}],"StreamName":"s"}`, []string{"k=a"}, ""},
			{`{"StreamName":"s","Records":[{"PartitionKey":"k1","Data":"YQ=="},{"PartitionKey":"k2","Data":"Yg==","ExplicitHashKey":"7"}]}`, []string{"k1=a", "k2=b"}, ""},
			{" \n{ \"StreamName\" : \"s\" ,\t\"Records\" : [ { \"Data\" : \"YQ==\" , \"PartitionKey\" : \"k\" } ] }\r\n ", []string{"k=a"}, ""},
			{`{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","Records":[{"Data":"","PartitionKey":"empty"}]}`, []string{"empty="}, ""},
			{`{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"k\u00e9\"\\"}]}`, []string{"ké\"\\=a"}, ""},
			{`{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"ké"}]}`, []string{"ké=a"}, ""},
			{`{"streamname":"s","records":[{"data":"YQ==","partitionkey":"lower"}]}`, []string{"lower=a"}, ""},
			{`{"StreamName":"x","StreamName":"s","Records":[{"Data":"Yg==","Data":"YQ==","PartitionKey":"dup"}]}`, []string{"dup=a"}, ""},
			{`{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"k","Extra":{"a":[1,2]}}],"Other":null}`, []string{"k=a"}, ""},
			{`{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"k","ExplicitHashKey":null}]}`, []string{"k=a"}, ""},
			{`{"StreamName":"s","Records":[{"Data":"YQ\u003d\u003d","PartitionKey":"k"}]}`, []string{"k=a"}, ""},
			{`{"StreamName":"s","Records":[{"Data":null,"PartitionKey":"k"}]}`, nil, "ValidationException"},
			{`{"StreamName":"s","Records":[{"PartitionKey":"k"}]}`, nil, "ValidationException"},
			{`{"StreamName":"s","Records":[]}`, nil, "ValidationException"},
			{`{"StreamName":"s","Records":null}`, nil, "ValidationException"},
			{`{"StreamName":"s"}`, nil, "ValidationException"},
			{`{"StreamName":"s","Records":[{"Data":"YQ=","PartitionKey":"k"}]}`, nil, "SerializationException"},
			{`{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"k"}]}x`, nil, "SerializationException"},
			{`{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"k"},]}`, nil, "SerializationException"},
			{`{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"k"}]`, nil, "SerializationException"},
			{`{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":7}]}`, nil, "SerializationException"},
			{`{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"k\x"}]}`, nil, "SerializationException"},
			{"{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"k\x01\"}]}", nil, "SerializationException"},
			{`{"StreamName":"nope","Records":[{"Data":"YQ==","PartitionKey":"k"}]}`, nil, "ResourceNotFoundException"},
		}
		var stored []string
		for _, c := range cases {
			r := w.call(t, "PutRecords", c.body)
			if c.want == nil {
				if r.status != http.StatusBadRequest || r.code(t) != c.code {
					t.Fatalf("%s: %d %s, want %s", c.body, r.status, r.body, c.code)
				}
				continue
			}
			if r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", c.body, r.status, r.body)
			}
			stored = append(stored, c.want...)
		}
		// Invalid UTF-8 in a key becomes U+FFFD, as encoding/json has it.
		if r := w.call(t, "PutRecords", "{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"YQ==\",\"PartitionKey\":\"k\xff\"}]}"); r.status != http.StatusOK {
			t.Fatalf("invalid UTF-8: %d %s", r.status, r.body)
		}
		stored = append(stored, "k\uFFFD=a")
		it := w.ok(t, "GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`)["ShardIterator"].(string)
		var got []string
		for _, rec := range w.ok(t, "GetRecords", fmt.Sprintf(`{"ShardIterator":%q}`, it))["Records"].([]any) {
			m := rec.(map[string]any)
			data, err := base64.StdEncoding.DecodeString(m["Data"].(string))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m["PartitionKey"].(string)+"="+string(data))
		}
		if !slices.Equal(got, stored) {
			t.Fatalf("stored %q, want %q", got, stored)
		}
	})
}

func TestWireErrorShape(t *testing.T) {
	eachWire(t, func(t *testing.T, w *wire) {
		r := w.call(t, "DescribeStream", `{"StreamName":"missing"}`)
		if r.status != http.StatusBadRequest || r.code(t) != "ResourceNotFoundException" {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Fatalf("Content-Type %q", ct)
		}
		if r.header.Get("X-Amzn-Requestid") == "" {
			t.Fatal("no x-amzn-RequestId")
		}
		var body map[string]any
		json.Unmarshal(r.body, &body)
		if msg, _ := body["message"].(string); !strings.Contains(msg, "missing") {
			t.Fatalf("message %q", msg)
		}
	})
}

// garbage makes request bodies for the robustness tests: random bytes,
// truncated JSON, and JSON objects whose members have the names the Kinesis
// API uses with values of any type.
type garbage struct{ r *rand.Rand }

var fieldNames = []string{
	"StreamName", "StreamARN", "ShardCount", "StreamModeDetails", "StreamMode", "Tags", "Limit",
	"ExclusiveStartShardId", "ExclusiveStartStreamName", "NextToken", "MaxResults", "ShardFilter", "Type",
	"ShardId", "Timestamp", "StreamCreationTimestamp", "PartitionKey", "Data", "ExplicitHashKey",
	"SequenceNumberForOrdering", "Records", "ShardIteratorType", "StartingSequenceNumber", "ShardIterator",
	"ShardToSplit", "NewStartingHashKey", "ShardToMerge", "AdjacentShardToMerge", "TargetShardCount",
	"ScalingType", "RetentionPeriodHours", "EnforceConsumerDeletion", "ConsumerName", "ConsumerARN",
	"StartingPosition", "SequenceNumber",
}

var stringValues = []string{
	"s", "", "shardId-000000000000", "shardId-000000000001", "shardId-999999999999", "TRIM_HORIZON", "LATEST",
	"AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "AT_TIMESTAMP", "AFTER_SHARD_ID", "AT_TRIM_HORIZON",
	"FROM_TRIM_HORIZON", "AT_LATEST", "FROM_TIMESTAMP", "ON_DEMAND", "PROVISIONED", "UNIFORM_SCALING",
	"arn:aws:kinesis:us-east-1:123456789012:stream/s", "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1",
	"arn:", ":stream/", "0", "340282366920938463463374607431768211455", "340282366920938463463374607431768211456",
	"-1", "49000000000000000000000000000000000000000000000000000000", "eA==", "!!", "\x00", "é", strings.Repeat("x", 300),
}

func (g garbage) value(depth int) any {
	switch n := g.r.IntN(12); {
	case n < 4:
		return stringValues[g.r.IntN(len(stringValues))]
	case n < 6:
		return []any{0, 1, -1, 2, 5, 100, 10000, 10001, 1 << 31, 1 << 53, -(1 << 62), 1.5, 1e300, -1e300}[g.r.IntN(14)]
	case n == 6:
		return g.r.IntN(2) == 0
	case n == 7:
		return nil
	case n < 10 && depth < 3:
		arr := make([]any, g.r.IntN(4))
		for i := range arr {
			arr[i] = g.value(depth + 1)
		}
		return arr
	case depth < 3:
		return g.object(depth + 1)
	default:
		return "s"
	}
}

func (g garbage) object(depth int) map[string]any {
	m := map[string]any{}
	for range g.r.IntN(6) {
		m[fieldNames[g.r.IntN(len(fieldNames))]] = g.value(depth)
	}
	return m
}

func (g garbage) body() []byte {
	switch g.r.IntN(5) {
	case 0:
		b := make([]byte, g.r.IntN(64))
		for i := range b {
			b[i] = byte(g.r.UintN(256))
		}
		return b
	case 1:
		b, _ := json.Marshal(g.object(0))
		return b[:g.r.IntN(len(b)+1)]
	default:
		b, _ := json.Marshal(g.object(0))
		return b
	}
}

// serveRaw serves one request straight from the handler: a panic fails the
// test. The request's context is already cancelled, so a SubscribeToShard
// that gets through ends at once.
func serveRaw(t testing.TB, fake *kinesistest.Fake, op string, body []byte) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	rec := httptest.NewRecorder()
	fake.Handler().ServeHTTP(rec, req)
	return rec.Code
}

func robustFake(t testing.TB) *kinesistest.Fake {
	fake := kinesistest.New(t, kinesistest.WithClock(kinesistest.NewManualClock(time.Time{})), kinesistest.WithShardLimit(50))
	fake.CreateStream("s", 2)
	for i := range 5 {
		fake.Put("s", fmt.Sprint(i), []byte{byte(i)})
	}
	fake.RegisterConsumer("s", "c")
	return fake
}

func sortedOps() []string {
	ops := kinesistest.Operations()
	slices.Sort(ops)
	return ops
}

// TestWireGarbage feeds random bodies to every operation: the fake answers
// each with a 2xx or 4xx, never a 5xx, and never panics.
func TestWireGarbage(t *testing.T) {
	t.Parallel()
	ops := sortedOps()
	if len(ops) < 20 {
		t.Fatalf("only %d operations: %v", len(ops), ops)
	}
	g := garbage{rand.New(rand.NewPCG(1, 2))}
	fake := robustFake(t)
	counts := map[int]int{}
	for i := range 3000 {
		op := ops[i%len(ops)]
		body := g.body()
		status := serveRaw(t, fake, op, body)
		if status >= 500 {
			t.Fatalf("%s %q: status %d", op, body, status)
		}
		counts[status]++
	}
	if counts[200] == 0 || counts[400] == 0 {
		t.Fatalf("statuses %v: the bodies reach too little", counts)
	}

	// And a sample over loopback HTTP, through the server's own recovery.
	w := newWire(t, "loopback")
	w.fake.CreateStream("s", 2)
	for i := range 300 {
		op := ops[i%len(ops)]
		if op == "SubscribeToShard" {
			continue // a stream that got through would stay open
		}
		body := g.body()
		if r := w.call(t, op, string(body)); r.status >= 500 {
			t.Fatalf("loopback %s %q: status %d %s", op, body, r.status, r.body)
		}
	}
}

// FuzzHandler: go test -run '^$' -fuzz FuzzHandler ./kinesistest/
func FuzzHandler(f *testing.F) {
	ops := sortedOps()
	seeds := []string{
		`{}`, `{"StreamName":"s"}`, `{"StreamName":"s","ShardCount":3}`,
		`{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`,
		`{"StreamName":"s","PartitionKey":"k","Data":"eA=="}`,
		`{"StreamName":"s","Records":[{"PartitionKey":"k","Data":"eA==","ExplicitHashKey":"0"}]}`,
		`{"ShardIterator":"cwAxADAAMAAw","Limit":5}`,
		`{"StreamName":"s","ShardFilter":{"Type":"AT_TIMESTAMP","Timestamp":1767225600}}`,
		`{"StreamName":"s","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"1000"}`,
		`{"StreamName":"s","ShardToMerge":"shardId-000000000000","AdjacentShardToMerge":"shardId-000000000001"}`,
		`{"StreamName":"s","TargetShardCount":4,"ScalingType":"UNIFORM_SCALING"}`,
		`{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s","ConsumerName":"c"}`,
		`{"NextToken":"eyJ0IjowfQ"}`,
	}
	for i := range ops {
		for _, s := range seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		fake := robustFake(t)
		name := ops[int(op)%len(ops)]
		if status := serveRaw(t, fake, name, body); status >= 500 {
			t.Fatalf("%s %q: status %d", name, body, status)
		}
	})
}
