package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// putAndGet puts a record on stream through client and reads it back from
// its shard with GetShardIterator (TRIM_HORIZON) and GetRecords.
func putAndGet(t *testing.T, client *kinesis.Client, stream string, data []byte) {
	t.Helper()
	ctx := context.Background()
	put, err := client.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName: aws.String(stream), PartitionKey: aws.String("pk-1"), Data: data,
	})
	if err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: put.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatalf("GetShardIterator: %v", err)
	}
	got, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatalf("GetRecords: %v", err)
	}
	if len(got.Records) != 1 || !bytes.Equal(got.Records[0].Data, data) ||
		aws.ToString(got.Records[0].SequenceNumber) != aws.ToString(put.SequenceNumber) {
		t.Fatalf("GetRecords = %+v, want the record put (%s, %q)", got.Records, aws.ToString(put.SequenceNumber), data)
	}
}

func streamStatus(t *testing.T, client *kinesis.Client, stream string) types.StreamStatus {
	t.Helper()
	out, err := client.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatalf("DescribeStreamSummary %s: %v", stream, err)
	}
	return out.StreamDescriptionSummary.StreamStatus
}

// apiCode returns the AWS error code of err, or "" when it has none.
func apiCode(err error) string {
	var ae interface{ ErrorCode() string }
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// The fake prints its endpoint first, then the control API and the streams
// of --create; the Go SDK creates, writes and reads through it (fast profile:
// a stream is ACTIVE at once); SIGTERM stops it with exit code 0 and the port
// closes.
func TestFakeServesTheGoSDK(t *testing.T) {
	p := start(t, "fake", "--addr", "127.0.0.1:0", "--create", "orders:2", "--create", "audit:1", "--region", "eu-west-1", "--account", "210987654321")
	endpoint, kv := p.header("stream")
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("first line %q, want the endpoint http://127.0.0.1:PORT", endpoint)
	}
	if got := kv["control"]; len(got) != 1 || got[0] != endpoint+"/_kinesistest/" {
		t.Errorf("control: %v, want %s/_kinesistest/", got, endpoint)
	}
	if got, want := p.line(), "stream: audit arn:aws:kinesis:eu-west-1:210987654321:stream/audit"; got != want {
		t.Errorf("last line %q, want %q", got, want)
	}
	if got, want := kv["stream"][0], "orders arn:aws:kinesis:eu-west-1:210987654321:stream/orders"; got != want {
		t.Errorf("stream: %q, want %q", got, want)
	}

	client, _ := newClient(t, endpoint, "")
	ctx := context.Background()
	sum, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	if s := sum.StreamDescriptionSummary; s.StreamStatus != types.StreamStatusActive || aws.ToInt32(s.OpenShardCount) != 2 {
		t.Fatalf("orders: %s with %d shards, want ACTIVE with 2", s.StreamStatus, aws.ToInt32(s.OpenShardCount))
	}
	putAndGet(t, client, "orders", []byte(`{"id":1}`))

	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("events"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if got := streamStatus(t, client, "events"); got != types.StreamStatusActive {
		t.Fatalf("events after CreateStream: %s, want ACTIVE at once with the fast profile", got)
	}
	putAndGet(t, client, "events", []byte("hello"))

	p.stop()
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(endpoint, "http://"), time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the fake stopped", endpoint)
	}
}

// The plain endpoint speaks cleartext HTTP/2 with prior knowledge (h2c).
func TestFakeServesH2C(t *testing.T) {
	p := start(t, "fake", "--addr", "127.0.0.1:0", "--create", "orders:1")
	endpoint := p.line()
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protocols}
	defer tr.CloseIdleConnections()
	rec := &protoRecorder{inner: &http.Client{Transport: tr}, protos: map[string]int{}}
	client, _ := newClient(t, endpoint, "")
	overH2C := func(o *kinesis.Options) { o.HTTPClient = rec }
	if _, err := client.PutRecord(context.Background(), &kinesis.PutRecordInput{
		StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: []byte("h2c"),
	}, overH2C); err != nil {
		t.Fatalf("PutRecord over h2c: %v", err)
	}
	if got := rec.seen(); got["HTTP/2.0"] != 1 || len(got) != 1 {
		t.Fatalf("protocols seen %v, want one HTTP/2.0 response", got)
	}
	p.stop()
}

// With --tls the fake prints a TLS endpoint and the path of its certificate;
// the Go SDK, trusting it, speaks HTTP/2 and subscribes to a shard over it.
// SIGINT ends the subscription cleanly, the process exits 0 and the
// certificate's temporary directory is removed.
func TestFakeTLSSubscribeToShard(t *testing.T) {
	p := start(t, "fake", "--addr", "127.0.0.1:0", "--tls", "--create", "orders:1")
	endpoint, kv := p.header("cert")
	tlsURL, cert := kv["tls"][0], kv["cert"][0]
	if !strings.HasPrefix(tlsURL, "https://127.0.0.1:") || tlsURL == strings.Replace(endpoint, "http", "https", 1) {
		t.Fatalf("tls: %q, want https://127.0.0.1:PORT on another port than %s", tlsURL, endpoint)
	}
	if _, err := os.Stat(cert); err != nil {
		t.Fatalf("cert: %v", err)
	}
	client, rec := newClient(t, tlsURL, cert)
	ctx := context.Background()
	reg, err := client.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/orders"), ConsumerName: aws.String("app"),
	})
	if err != nil {
		t.Fatalf("RegisterStreamConsumer: %v", err)
	}
	sub, err := client.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
		ConsumerARN: reg.Consumer.ConsumerARN, ShardId: aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
	})
	if err != nil {
		t.Fatalf("SubscribeToShard: %v", err)
	}
	stream := sub.GetStream()
	defer stream.Close()
	if _, err := client.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: []byte("over TLS"),
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(waitFor)
	for got := false; !got; {
		select {
		case ev, ok := <-stream.Events():
			if !ok {
				t.Fatalf("event stream ended before the record: %v", stream.Err())
			}
			e := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent).Value
			for _, r := range e.Records {
				got = got || string(r.Data) == "over TLS"
			}
		case <-deadline:
			t.Fatal("no event with the record put")
		}
	}
	if seen := rec.seen(); seen["HTTP/2.0"] < 3 || len(seen) != 1 {
		t.Fatalf("protocols seen %v, want HTTP/2.0 only", seen)
	}

	p.signal(os.Interrupt)
	for range stream.Events() { // the subscription ends cleanly
	}
	if err := stream.Err(); err != nil {
		t.Errorf("subscription ended with %v, want a clean end on a graceful stop", err)
	}
	if code := p.wait(); code != exitOK {
		t.Fatalf("exit code %d after SIGINT, want 0; stderr:\n%s", code, p.stderr)
	}
	if _, err := os.Stat(filepath.Dir(cert)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the certificate's directory is left behind: %v", err)
	}
}

// --cert-file writes the certificate where it is asked to (implying --tls)
// and keeps it at exit; --tls-addr sets the TLS address.
func TestFakeCertFileAndTLSAddr(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := l.Addr().String()
	l.Close()
	certFile := filepath.Join(t.TempDir(), "fake.pem")
	p := start(t, "fake", "--addr", "127.0.0.1:0", "--cert-file", certFile, "--tls-addr", tlsAddr, "--create", "orders:1")
	_, kv := p.header("cert")
	if got := kv["tls"][0]; got != "https://"+tlsAddr {
		t.Errorf("tls: %s, want https://%s", got, tlsAddr)
	}
	if got := kv["cert"][0]; got != certFile {
		t.Errorf("cert: %s, want %s", got, certFile)
	}
	client, _ := newClient(t, "https://"+tlsAddr, certFile)
	putAndGet(t, client, "orders", []byte("x"))
	p.stop()
	if _, err := os.Stat(certFile); err != nil {
		t.Errorf("--cert-file is not kept: %v", err)
	}
}

// control calls the control API of the fake at endpoint and decodes its
// answer into out (when not nil).
func control(t *testing.T, endpoint, method, path, body string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, endpoint+"/_kinesistest/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// --profile realistic turns on the service's timings and limits; with
// --clock manual the control API moves the clock: a stream created through
// the API is CREATING until 10 s pass. Streams of --create are ACTIVE at
// once, and DescribeStreamSummary is limited to 20 calls a second.
func TestFakeRealisticProfile(t *testing.T) {
	p := start(t, "fake", "--addr", "127.0.0.1:0", "--profile", "realistic", "--clock", "manual", "--create", "orders:1")
	endpoint := p.line()
	client, _ := newClient(t, endpoint, "")
	ctx := context.Background()
	if got := streamStatus(t, client, "orders"); got != types.StreamStatusActive {
		t.Fatalf("orders of --create: %s, want ACTIVE", got)
	}
	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("events"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if got := streamStatus(t, client, "events"); got != types.StreamStatusCreating {
		t.Fatalf("events after CreateStream: %s, want CREATING with the realistic profile", got)
	}
	var clock struct {
		Manual bool `json:"manual"`
	}
	control(t, endpoint, "GET", "clock", "", &clock)
	if !clock.Manual {
		t.Fatal("--clock manual: the control API says the clock is not manual")
	}
	control(t, endpoint, "POST", "clock/advance", `{"by":"10s"}`, nil)
	if got := streamStatus(t, client, "events"); got != types.StreamStatusActive {
		t.Fatalf("events 10 s after CreateStream: %s, want ACTIVE", got)
	}

	// The clock does not move any more: 20 calls of DescribeStreamSummary in
	// this second (one above) pass, the 21st is refused.
	var err error
	for n := 2; n <= 21 && err == nil; n++ {
		_, err = client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
		if n <= 20 && err != nil {
			t.Fatalf("call %d: %v", n, err)
		}
	}
	if apiCode(err) != "LimitExceededException" {
		t.Fatalf("21st DescribeStreamSummary in a second: %v, want LimitExceededException", err)
	}
	p.stop()
}

// --max-stored-bytes bounds the records the fake holds: a write past it is
// LimitExceededException.
func TestFakeMaxStoredBytes(t *testing.T) {
	p := start(t, "fake", "--addr", "127.0.0.1:0", "--max-stored-bytes", "1KiB", "--create", "orders:1")
	client, _ := newClient(t, p.line(), "")
	put := func() error {
		_, err := client.PutRecord(context.Background(), &kinesis.PutRecordInput{
			StreamName: aws.String("orders"), PartitionKey: aws.String("k"), Data: bytes.Repeat([]byte("x"), 600),
		})
		return err
	}
	if err := put(); err != nil {
		t.Fatalf("first 600 bytes: %v", err)
	}
	if err := put(); apiCode(err) != "LimitExceededException" {
		t.Fatalf("600 more bytes past a 1 KiB bound: %v, want LimitExceededException", err)
	}
	p.stop()
}

// slowCall starts a ListStreams that the fake holds for an hour (a latency
// fault through the control API) and returns once the fake has received it.
func slowCall(t *testing.T, endpoint string) {
	t.Helper()
	control(t, endpoint, "POST", "faults", `{"match":{"op":"ListStreams"},"action":{"type":"latency","latency":"1h"}}`, nil)
	client, _ := newClient(t, endpoint, "")
	go client.ListStreams(context.Background(), &kinesis.ListStreamsInput{}) //nolint:errcheck // cut by the stop
	eventually(t, "the slow call is received", func() bool {
		var calls struct {
			Calls map[string]int `json:"calls"`
		}
		control(t, endpoint, "GET", "calls", "", &calls)
		return calls.Calls["ListStreams"] == 1
	})
}

// A graceful stop waits for the requests in flight up to --shutdown-timeout,
// or until a second signal; then it closes them and exits 1, naming why.
func TestFakeForcedStop(t *testing.T) {
	for _, tc := range []struct {
		name, timeout string
		second        bool
		want          string
	}{
		{"timeout", "200ms", false, "--shutdown-timeout 200ms passed"},
		{"second signal", "1h", true, "a second signal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, "fake", "--addr", "127.0.0.1:0", "--shutdown-timeout", tc.timeout)
			slowCall(t, p.line())
			p.signal(syscall.SIGTERM)
			if tc.second {
				eventually(t, "the fake is stopping", func() bool { return strings.Contains(p.stderr.String(), "stopping") })
				p.signal(os.Interrupt)
			}
			if code := p.wait(); code != exitError {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitError, p.stderr)
			}
			if !strings.Contains(p.stderr.String(), tc.want) {
				t.Fatalf("stderr does not say %q:\n%s", tc.want, p.stderr)
			}
		})
	}
}

// An address that cannot be listened on is a failure while running: exit 1.
func TestFakeAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	code, stdout, stderr := runOnce(t, "fake", "--addr", l.Addr().String())
	if code != exitError || stdout != "" || !strings.Contains(stderr, "address already in use") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout, address already in use", code, stdout, stderr)
	}
}
