package kinesistest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// controlServer serves a fake and its control API on one loopback server,
// as a fake in its own process would, and returns the fake, the server's URL
// and a Kinesis client of that URL that sees every error (one attempt).
func controlServer(t *testing.T, opts ...kinesistest.Option) (*kinesistest.Fake, string, *kinesis.Client) {
	t.Helper()
	fake := kinesistest.New(nil, opts...)
	mux := http.NewServeMux()
	mux.Handle("/", fake.Handler())
	mux.Handle(kinesistest.ControlPrefix, kinesistest.NewControl(fake))
	srv := httptest.NewServer(mux)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		fake.Close()
		srv.Close()
	})
	client := kinesis.New(kinesis.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		HTTPClient:       &http.Client{Transport: tr},
		RetryMaxAttempts: 1,
	})
	return fake, srv.URL, client
}

// call sends a control request (body nil for none, a string as it is,
// anything else as JSON) and returns the status and the decoded JSON answer
// (nil when empty).
func call(t *testing.T, method, url string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, url, ct)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer %q is not a JSON object: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// want fails the test unless the status is want.
func want(t *testing.T, what string, got, wantStatus int, out map[string]any) {
	t.Helper()
	if got != wantStatus {
		t.Fatalf("%s: status %d (%v), want %d", what, got, out, wantStatus)
	}
}

// A stream created, filled, split, merged and scaled through the control
// API is what the Kinesis API of the same server then shows.
func TestControlStreams(t *testing.T) {
	fake, url, client := controlServer(t)
	ctl := url + kinesistest.ControlPrefix
	ctx := t.Context()

	st, out, _ := call(t, "POST", ctl+"streams", map[string]any{"name": "orders", "shards": 2})
	want(t, "create", st, http.StatusCreated, out)
	if out["arn"] != fake.StreamARN("orders") || out["name"] != "orders" {
		t.Errorf("create answered %v", out)
	}

	st, out, _ = call(t, "POST", ctl+"streams/orders/records", map[string]any{"records": []map[string]any{
		{"partitionKey": "a", "text": "hello"},
		{"partitionKey": "b", "data": []byte{0, 1, 2}},
		{"partitionKey": "c", "explicitHashKey": "0", "text": "low"},
	}})
	want(t, "put", st, http.StatusOK, out)
	recs := out["records"].([]any)
	if len(recs) != 3 {
		t.Fatalf("put answered %v, want 3 results", out)
	}
	low := recs[2].(map[string]any)
	if low["shardId"] != "shardId-000000000000" || low["sequenceNumber"] == "" {
		t.Errorf("the record with hash key 0 went to %v, want shardId-000000000000 with a sequence number", low)
	}
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String("orders"), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(low["sequenceNumber"].(string)),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) == 0 || string(got.Records[0].Data) != "low" || aws.ToString(got.Records[0].PartitionKey) != "c" {
		t.Errorf("GetRecords at the put's sequence number read %v, want the record c/low", got.Records)
	}

	st, out, _ = call(t, "POST", ctl+"streams/orders/split", map[string]any{"shard": "shardId-000000000000"})
	want(t, "split", st, http.StatusOK, out)
	children := out["children"].([]any)
	if len(children) != 2 {
		t.Fatalf("split answered %v", out)
	}
	st, out, _ = call(t, "POST", ctl+"streams/orders/merge", map[string]any{"shard": children[1], "adjacent": children[0]})
	want(t, "merge", st, http.StatusOK, out)
	merged := out["child"].(string)
	st, out, _ = call(t, "POST", ctl+"streams/orders/shard-count", map[string]any{"target": 4})
	want(t, "shard-count", st, http.StatusOK, out)
	if out["current"] != 2.0 || out["target"] != 4.0 {
		t.Errorf("shard-count answered %v, want current 2, target 4", out)
	}

	st, out, _ = call(t, "GET", ctl+"streams/orders/shards", nil)
	want(t, "shards", st, http.StatusOK, out)
	open := 0
	byID := map[string]map[string]any{}
	for _, s := range out["shards"].([]any) {
		sh := s.(map[string]any)
		byID[sh["id"].(string)] = sh
		if sh["open"] == true {
			open++
		}
	}
	if open != 4 {
		t.Errorf("%d open shards after UpdateShardCount to 4, want 4: %v", open, out)
	}
	m := byID[merged]
	if m == nil || m["parentShardId"] != children[0] || m["adjacentParentShardId"] != children[1] || m["open"] != false {
		t.Errorf("merged child %s listed as %v, want parents %v, closed by the scaling", merged, m, children)
	}
	if r := byID["shardId-000000000000"]; r["records"] != 2.0 || r["open"] != false {
		t.Errorf("shardId-000000000000 listed as %v, want closed with 2 records", r)
	}
	listed, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.Shards) != len(byID) {
		t.Errorf("ListShards lists %d shards, the control API %d", len(listed.Shards), len(byID))
	}

	st, out, _ = call(t, "POST", ctl+"streams/orders/consumers", map[string]any{"name": "app"})
	want(t, "register", st, http.StatusCreated, out)
	d, err := client.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(out["arn"].(string))})
	if err != nil || d.ConsumerDescription.ConsumerStatus != types.ConsumerStatusActive {
		t.Errorf("the consumer registered through the control API: %v, %v; want it ACTIVE", d, err)
	}

	st, out, _ = call(t, "DELETE", ctl+"streams/orders", nil)
	want(t, "delete", st, http.StatusNoContent, out)
	if _, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")}); err == nil {
		t.Error("the stream deleted through the control API is still described")
	}
}

// Faults and scripts injected through the control API hit the Kinesis API
// of the same server, are listed with their hits, and go away when removed.
func TestControlFaults(t *testing.T) {
	fake, url, client := controlServer(t)
	ctl := url + kinesistest.ControlPrefix
	ctx := t.Context()
	fake.CreateStream("orders", 1)

	st, out, _ := call(t, "POST", ctl+"faults", map[string]any{
		"match":  map[string]any{"op": "GetShardIterator", "stream": "orders"},
		"action": map[string]any{"type": "throttle"},
		"times":  1,
	})
	want(t, "inject", st, http.StatusCreated, out)
	throttle := out["id"].(string)
	iter := func() error {
		_, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String("orders"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		return err
	}
	var pte *types.ProvisionedThroughputExceededException
	if err := iter(); !errors.As(err, &pte) {
		t.Errorf("first GetShardIterator: %v, want ProvisionedThroughputExceededException", err)
	}
	if err := iter(); err != nil {
		t.Errorf("second GetShardIterator: %v, want success (times 1)", err)
	}

	st, out, _ = call(t, "POST", ctl+"faults", map[string]any{
		"match":  map[string]any{"op": "ListShards"},
		"script": []map[string]any{{"type": "internal-failure"}, {"type": "pass"}, {"type": "fail", "code": "AccessDeniedException"}},
	})
	want(t, "script", st, http.StatusCreated, out)
	script := out["id"].(string)
	codes := []string{}
	for range 4 {
		_, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("orders")})
		var api smithy.APIError
		switch {
		case err == nil:
			codes = append(codes, "ok")
		case errors.As(err, &api):
			codes = append(codes, api.ErrorCode())
		default:
			codes = append(codes, err.Error())
		}
	}
	if got := strings.Join(codes, " "); got != "InternalFailureException ok AccessDeniedException ok" {
		t.Errorf("ListShards through the script: %s, want InternalFailureException ok AccessDeniedException ok", got)
	}

	st, out, _ = call(t, "GET", ctl+"faults", nil)
	want(t, "list", st, http.StatusOK, out)
	faults := out["faults"].([]any)
	if len(faults) != 2 {
		t.Fatalf("listed %v, want 2 faults", out)
	}
	f0, f1 := faults[0].(map[string]any), faults[1].(map[string]any)
	if f0["id"] != throttle || f0["hits"] != 1.0 || f0["times"] != 1.0 || f0["action"].(map[string]any)["type"] != "throttle" ||
		f0["match"].(map[string]any)["op"] != "GetShardIterator" {
		t.Errorf("the throttle is listed as %v", f0)
	}
	if f1["id"] != script || f1["hits"] != 2.0 || len(f1["script"].([]any)) != 3 {
		t.Errorf("the script is listed as %v, want 2 hits and 3 steps", f1)
	}

	st, out, _ = call(t, "POST", ctl+"faults", map[string]any{
		"match":  map[string]any{"op": "DescribeStreamSummary"},
		"action": map[string]any{"type": "service-unavailable"},
	})
	want(t, "inject 503", st, http.StatusCreated, out)
	unavailable := out["id"].(string)
	describe := func() error {
		_, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
		return err
	}
	var api smithy.APIError
	if err := describe(); !errors.As(err, &api) || api.ErrorCode() != kinesistest.CodeServiceUnavailable {
		t.Errorf("DescribeStreamSummary with the fault: %v, want ServiceUnavailable", err)
	}
	st, out, _ = call(t, "DELETE", ctl+"faults/"+unavailable, nil)
	want(t, "remove", st, http.StatusNoContent, out)
	if err := describe(); err != nil {
		t.Errorf("DescribeStreamSummary after removing the fault: %v", err)
	}
	st, out, _ = call(t, "DELETE", ctl+"faults/"+unavailable, nil)
	want(t, "remove again", st, http.StatusNotFound, out)
	if out["code"] != "NotFound" {
		t.Errorf("removing a removed fault answered %v, want code NotFound", out)
	}

	call(t, "POST", ctl+"faults", map[string]any{"match": map[string]any{}, "action": map[string]any{"type": "drop-connection"}})
	st, out, _ = call(t, "DELETE", ctl+"faults", nil)
	want(t, "clear", st, http.StatusNoContent, out)
	if err := describe(); err != nil {
		t.Errorf("DescribeStreamSummary after clearing the faults: %v", err)
	}
	_, out, _ = call(t, "GET", ctl+"faults", nil)
	if n := len(out["faults"].([]any)); n != 0 {
		t.Errorf("%d faults listed after clearing, want none", n)
	}

	st, out, _ = call(t, "GET", ctl+"calls", nil)
	want(t, "calls", st, http.StatusOK, out)
	if c := out["calls"].(map[string]any); c["ListShards"] != 4.0 || c["GetShardIterator"] != 2.0 {
		t.Errorf("calls %v, want 4 ListShards and 2 GetShardIterator", c)
	}
	st, out, _ = call(t, "DELETE", ctl+"calls", nil)
	want(t, "reset calls", st, http.StatusNoContent, out)
	_, out, _ = call(t, "GET", ctl+"calls", nil)
	if c := out["calls"].(map[string]any); len(c) != 0 {
		t.Errorf("calls %v after the reset, want none", c)
	}
}

// The clock endpoints tell the fake's time and move a ManualClock.
func TestControlClock(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := kinesistest.NewManualClock(start)
	_, url, _ := controlServer(t, kinesistest.WithClock(clock))
	ctl := url + kinesistest.ControlPrefix

	st, out, _ := call(t, "GET", ctl+"clock", nil)
	want(t, "clock", st, http.StatusOK, out)
	if out["manual"] != true || out["now"] != start.Format(time.RFC3339Nano) {
		t.Errorf("clock answered %v, want manual at %v", out, start)
	}
	if _, err := time.Parse(time.RFC3339Nano, out["wall"].(string)); err != nil {
		t.Errorf("wall %v: %v", out["wall"], err)
	}
	st, out, _ = call(t, "POST", ctl+"clock/advance", map[string]any{"by": "1m30s"})
	want(t, "advance", st, http.StatusOK, out)
	if got := clock.Now(); !got.Equal(start.Add(90*time.Second)) || out["now"] != got.Format(time.RFC3339Nano) {
		t.Errorf("after advancing 1m30s: clock at %v, answer %v; want %v", got, out, start.Add(90*time.Second))
	}

	_, url, _ = controlServer(t)
	st, out, _ = call(t, "POST", url+kinesistest.ControlPrefix+"clock/advance", map[string]any{"by": "1s"})
	want(t, "advance a real clock", st, http.StatusConflict, out)
	if out["code"] != "ClockNotManual" {
		t.Errorf("advancing the real clock answered %v, want code ClockNotManual", out)
	}
}

// Bad requests get the documented status and code, and a message naming
// what is wrong.
func TestControlErrors(t *testing.T) {
	fake, url, _ := controlServer(t)
	ctl := url + kinesistest.ControlPrefix
	fake.CreateStream("orders", 1)
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code, mentions     string
	}{
		{"unknown endpoint", "GET", "nothing", nil, 404, "NotFound", "no endpoint"},
		{"unknown stream endpoint", "POST", "streams/orders/nothing", "{}", 404, "NotFound", "no endpoint"},
		{"wrong method", "PUT", "faults", "{}", 405, "MethodNotAllowed", "DELETE, GET, POST"},
		{"no body", "POST", "streams", nil, 400, "InvalidRequest", "no JSON body"},
		{"malformed JSON", "POST", "streams", "{", 400, "InvalidRequest", "malformed"},
		{"trailing data", "POST", "streams", `{"name":"x","shards":1} {}`, 400, "InvalidRequest", "after the JSON object"},
		{"unknown member", "POST", "streams", `{"name":"x","shards":1,"mode":"ON_DEMAND"}`, 400, "InvalidRequest", "mode"},
		{"no shards", "POST", "streams", map[string]any{"name": "x"}, 400, "InvalidRequest", "shards"},
		{"stream exists", "POST", "streams", map[string]any{"name": "orders", "shards": 1}, 409, "ResourceInUseException", "orders"},
		{"unknown stream", "GET", "streams/nope/shards", nil, 404, "ResourceNotFoundException", "nope"},
		{"unknown shard", "POST", "streams/orders/split", map[string]any{"shard": "shardId-000000000009"}, 404, "ResourceNotFoundException", "shardId-000000000009"},
		{"merge not adjacent", "POST", "streams/orders/merge", map[string]any{"shard": "shardId-000000000000", "adjacent": "shardId-000000000000"}, 400, "InvalidArgumentException", ""},
		{"scale too far", "POST", "streams/orders/shard-count", map[string]any{"target": 3}, 400, "InvalidArgumentException", "between half and double"},
		{"record without key", "POST", "streams/orders/records", map[string]any{"records": []map[string]any{{"text": "x"}}}, 400, "InvalidRequest", "partitionKey"},
		{"data and text", "POST", "streams/orders/records", map[string]any{"records": []map[string]any{{"partitionKey": "k", "text": "x", "data": []byte("y")}}}, 400, "InvalidRequest", "not both"},
		{"no records", "POST", "streams/orders/records", map[string]any{"records": []any{}}, 400, "InvalidRequest", "1 to 10000"},
		{"unknown action", "POST", "faults", map[string]any{"action": map[string]any{"type": "explode"}}, 400, "InvalidRequest", "explode"},
		{"latency without duration", "POST", "faults", map[string]any{"action": map[string]any{"type": "latency"}}, 400, "InvalidRequest", "latency"},
		{"bad duration", "POST", "faults", map[string]any{"action": map[string]any{"type": "latency", "latency": "soon"}}, 400, "InvalidRequest", "soon"},
		{"fail without code", "POST", "faults", map[string]any{"action": map[string]any{"type": "fail"}}, 400, "InvalidRequest", "code"},
		{"fraction out of range", "POST", "faults", map[string]any{"action": map[string]any{"type": "fail-records", "fraction": 2}}, 400, "InvalidRequest", "fraction"},
		{"action and script", "POST", "faults", map[string]any{"action": map[string]any{"type": "pass"}, "script": []any{map[string]any{"type": "pass"}}}, 400, "InvalidRequest", "either"},
		{"neither action nor script", "POST", "faults", map[string]any{"match": map[string]any{"op": "GetRecords"}}, 400, "InvalidRequest", "either"},
		{"script with times", "POST", "faults", map[string]any{"script": []any{map[string]any{"type": "throttle"}}, "times": 2}, 400, "InvalidRequest", "times"},
		{"bad script step", "POST", "faults", map[string]any{"script": []any{map[string]any{"type": "pass"}, map[string]any{"type": "stream-exception"}}}, 400, "InvalidRequest", "step 1"},
		{"probability out of range", "POST", "faults", map[string]any{"action": map[string]any{"type": "throttle"}, "probability": 1.5}, 400, "InvalidRequest", "probability"},
		{"id given", "POST", "faults", map[string]any{"id": "7", "action": map[string]any{"type": "throttle"}}, 400, "InvalidRequest", "id"},
		{"advance by nothing", "POST", "clock/advance", map[string]any{"by": "0s"}, 400, "InvalidRequest", "positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, out, h := call(t, c.method, ctl+c.path, c.body)
			if st != c.status || out["code"] != c.code {
				t.Fatalf("status %d, answer %v; want %d with code %s", st, out, c.status, c.code)
			}
			if msg, _ := out["message"].(string); !strings.Contains(msg, c.mentions) {
				t.Errorf("message %q does not mention %q", msg, c.mentions)
			}
			if c.status == 405 && h.Get("Allow") != "DELETE, GET, POST" {
				t.Errorf("Allow %q, want DELETE, GET, POST", h.Get("Allow"))
			}
		})
	}
	if n, _ := fake.Shards("orders"); len(n) != 1 {
		t.Errorf("the refused requests changed the stream: %v", n)
	}
	_, out, _ := call(t, "GET", ctl+"faults", nil)
	if n := len(out["faults"].([]any)); n != 0 {
		t.Errorf("%d faults in force after refused injections, want none", n)
	}
}
