package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// partitionKeys are keys of every kind the service takes: the fake writes
// those needing it with encoding/json's escapes.
var partitionKeys = []string{
	"a", "customer-42", strings.Repeat("k", 256), "héllo", "中文键", "😀 emoji", `quote " and \ backslash`,
	"tab\tnewline\ncr\r", "<html>&amp;", "\u2028\u2029", "nul\x00byte", "\x7f", "invalid \xff utf-8",
}

// putCorpus puts records of many shapes into stream: every partition key,
// data from 0 bytes to 1 MiB.
func putCorpus(t testing.TB, fake *kinesistest.Fake, stream string, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	sizes := []int{0, 1, 2, 3, 4, 5, 100, 150, 200, 1000, 4096, 1<<20 - 1024}
	for i := range 300 {
		n := sizes[i%len(sizes)]
		if n > 4096 && i > len(sizes) {
			n = 100 // one record of 1 MiB is enough
		}
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if _, err := fake.Put(stream, partitionKeys[i%len(partitionKeys)], data); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll reads every shard of stream to its end (for closed shards) or
// until it is caught up, with client, and returns every GetRecords output.
func readAll(t testing.TB, client *kinesis.Client, stream string, limit int32) []*kinesis.GetRecordsOutput {
	t.Helper()
	ctx := context.Background()
	shards, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var outs []*kinesis.GetRecordsOutput
	for _, sh := range shards.Shards {
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(limit)})
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, out)
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return outs
}

// fakeCorpus returns GetRecords response bodies recorded from the fake: a
// stream of records of every shape, a shard split so that its parent ends
// with ChildShards, empty responses.
func fakeCorpus(t testing.TB) [][]byte {
	t.Helper()
	fake := kinesistest.New(t)
	if err := fake.CreateStream("corpus", 2); err != nil {
		t.Fatal(err)
	}
	putCorpus(t, fake, "corpus", 1)
	if _, err := fake.Split("corpus", "shardId-000000000000"); err != nil {
		t.Fatal(err)
	}
	putCorpus(t, fake, "corpus", 2)
	opts := fake.ClientOptions()
	rec := &recorder{base: opts.HTTPClient}
	opts.HTTPClient = rec
	client := kinesis.New(opts)
	readAll(t, client, "corpus", 37)
	readAll(t, client, "corpus", 10_000)
	return rec.bodies
}

// TestFakeCorpus decodes every response of the fake with the SDK and with
// this package.
func TestFakeCorpus(t *testing.T) {
	bodies := fakeCorpus(t)
	var records, children int
	for i, body := range bodies {
		out, err := mustAgree(t, fmt.Sprintf("response %d", i), body)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		records += len(out.Records)
		children += len(out.ChildShards)
	}
	if records < 1200 || children == 0 {
		t.Fatalf("the corpus has %d records, %d child shards: it does not cover what it should", records, children)
	}
}

// TestClientCorpus reads the fake through two real clients, one with the
// decoder and one without: every output is the same.
func TestClientCorpus(t *testing.T) {
	// A clock that stands still: MillisBehindLatest is the same for both.
	fake := kinesistest.New(t, kinesistest.WithClock(kinesistest.NewManualClock(time.Unix(1_700_000_000, 0))))
	if err := fake.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	putCorpus(t, fake, "s", 3)
	sdk := readAll(t, fake.Client(), "s", 50)
	ours := readAll(t, fake.Client(Install), "s", 50)
	if len(sdk) != len(ours) {
		t.Fatalf("%d responses with the SDK, %d with the decoder", len(sdk), len(ours))
	}
	for i := range sdk {
		// Iterators and metadata differ from call to call.
		sdk[i].NextShardIterator, ours[i].NextShardIterator = nil, nil
		sdk[i].ResultMetadata, ours[i].ResultMetadata = middleware.Metadata{}, middleware.Metadata{}
		if d := agree(sdk[i], nil, ours[i], nil); d != "" {
			t.Fatalf("response %d: %s", i, d)
		}
	}
}

// TestClientReplay replays recorded responses to real clients with and
// without the decoder: outputs and result metadata are the same.
func TestClientReplay(t *testing.T) {
	bodies := fakeCorpus(t)
	header := http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Requestid": {"req-1234"}}
	ctx := context.Background()
	in := &kinesis.GetRecordsInput{ShardIterator: aws.String("it")}
	for i, body := range bodies[:20] {
		for _, noLength := range []bool{false, true} {
			r := &replay{header: header, body: body, noLength: noLength}
			sdkOut, sdkErr := replayClient(r).GetRecords(ctx, in)
			ourOut, ourErr := replayClient(r).GetRecords(ctx, in, Install)
			if sdkErr != nil || ourErr != nil {
				t.Fatalf("response %d: %v, %v", i, sdkErr, ourErr)
			}
			sdkMD, ourMD := sdkOut.ResultMetadata, ourOut.ResultMetadata
			sdkOut.ResultMetadata, ourOut.ResultMetadata = middleware.Metadata{}, middleware.Metadata{}
			if d := agree(sdkOut, nil, ourOut, nil); d != "" {
				t.Fatalf("response %d: %s", i, d)
			}
			sdkID, _ := awsmiddleware.GetRequestIDMetadata(sdkMD)
			ourID, _ := awsmiddleware.GetRequestIDMetadata(ourMD)
			if sdkID != "req-1234" || ourID != sdkID {
				t.Fatalf("request IDs %q with the SDK, %q with the decoder", sdkID, ourID)
			}
			sdkRaw, _ := awsmiddleware.GetRawResponse(sdkMD).(*smithyhttp.Response)
			ourRaw, _ := awsmiddleware.GetRawResponse(ourMD).(*smithyhttp.Response)
			if sdkRaw == nil || ourRaw == nil || sdkRaw.StatusCode != ourRaw.StatusCode {
				t.Fatalf("raw responses %v, %v", sdkRaw, ourRaw)
			}
			if a, b := attempts(sdkMD), attempts(ourMD); a != b || a == 0 {
				t.Fatalf("%d attempts recorded with the SDK, %d with the decoder", a, b)
			}
		}
	}
}

// errorCodes are the errors the service returns to GetRecords, and one it
// does not.
var errorCodes = []string{
	kinesistest.CodeThroughputExceeded, kinesistest.CodeExpiredIterator, kinesistest.CodeResourceNotFound,
	kinesistest.CodeInvalidArgument, kinesistest.CodeInternalFailure, kinesistest.CodeServiceUnavailable,
	kinesistest.CodeAccessDenied, kinesistest.CodeKMSThrottling, kinesistest.CodeValidation,
	kinesistest.CodeThrottling, kinesistest.CodeUnrecognizedClient, "KMSDisabledException", "SomethingNewException",
}

// recordOne records one GetRecords response of the fake, which fails with
// code when code is not empty.
func recordOne(t *testing.T, code string) *replay {
	t.Helper()
	fake := kinesistest.New(t)
	if err := fake.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	fake.Put("s", "k", []byte("v"))
	if code != "" {
		fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "GetRecords"}, Action: kinesistest.Fail(code)})
	}
	opts := fake.ClientOptions()
	var last *replay
	opts.HTTPClient = doFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := fake.ClientOptions().HTTPClient.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = &replay{status: resp.StatusCode, header: resp.Header, body: body}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, err
	})
	opts.RetryMaxAttempts = 1
	client := kinesis.New(opts)
	it, err := client.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	client.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	return last
}

// attempts returns how many attempts a call's metadata records.
func attempts(md middleware.Metadata) int {
	r, _ := retry.GetAttemptResults(md)
	return len(r.Results)
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(req *http.Request) (*http.Response, error) { return f(req) }

// TestClientErrors replays the fake's error responses to clients with and
// without the decoder: the errors are the same, typed exceptions, codes,
// messages, faults, HTTP status and request IDs included.
func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	in := &kinesis.GetRecordsInput{ShardIterator: aws.String("it")}
	for _, code := range errorCodes {
		r := recordOne(t, code)
		if r.status < 400 {
			t.Fatalf("%s: status %d", code, r.status)
		}
		_, sdkErr := replayClient(r).GetRecords(ctx, in)
		_, ourErr := replayClient(r).GetRecords(ctx, in, Install)
		if sdkErr == nil || ourErr == nil {
			t.Fatalf("%s: errors %v, %v", code, sdkErr, ourErr)
		}
		if sdkErr.Error() != ourErr.Error() {
			t.Errorf("%s: errors differ:\nsdk  %v\nours %v", code, sdkErr, ourErr)
		}
		var sdkAPI, ourAPI smithy.APIError
		if !errors.As(sdkErr, &sdkAPI) || !errors.As(ourErr, &ourAPI) {
			t.Fatalf("%s: not API errors: %T, %T", code, sdkErr, ourErr)
		}
		if reflect.TypeOf(sdkAPI) != reflect.TypeOf(ourAPI) || sdkAPI.ErrorCode() != ourAPI.ErrorCode() ||
			sdkAPI.ErrorMessage() != ourAPI.ErrorMessage() || sdkAPI.ErrorFault() != ourAPI.ErrorFault() {
			t.Errorf("%s: API errors differ: %T %s %q %v, %T %s %q %v", code,
				sdkAPI, sdkAPI.ErrorCode(), sdkAPI.ErrorMessage(), sdkAPI.ErrorFault(),
				ourAPI, ourAPI.ErrorCode(), ourAPI.ErrorMessage(), ourAPI.ErrorFault())
		}
		var sdkResp, ourResp *awshttp.ResponseError
		if !errors.As(sdkErr, &sdkResp) || !errors.As(ourErr, &ourResp) ||
			sdkResp.ServiceRequestID() != ourResp.ServiceRequestID() || sdkResp.HTTPStatusCode() != ourResp.HTTPStatusCode() {
			t.Errorf("%s: response errors differ: %v, %v", code, sdkResp, ourResp)
		}
		if ourResp != nil && ourResp.ServiceRequestID() == "" {
			t.Errorf("%s: no request ID", code)
		}
	}
	// A typed exception, as the SDK makes it.
	_, err := replayClient(recordOne(t, kinesistest.CodeExpiredIterator)).GetRecords(ctx, in, Install)
	if !errors.As(err, new(*types.ExpiredIteratorException)) {
		t.Fatalf("error %T %v: want *types.ExpiredIteratorException", err, err)
	}
}

// TestClientRetries checks that retries are untouched: throttled twice, the
// call succeeds on its third attempt.
func TestClientRetries(t *testing.T) {
	fake := kinesistest.New(t)
	if err := fake.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	fake.Put("s", "k", []byte("v"))
	client := fake.Client(func(o *kinesis.Options) {
		o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = retry.BackoffDelayerFunc(noDelay) })
	})
	it, err := client.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	fake.Script(kinesistest.Match{Op: "GetRecords"}, kinesistest.Throttle, kinesistest.InternalFailure, kinesistest.Pass)
	fake.ResetCalls()
	out, err := client.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}, Install)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 1 || string(out.Records[0].Data) != "v" || fake.Calls("GetRecords") != 3 {
		t.Fatalf("%d records, %d calls", len(out.Records), fake.Calls("GetRecords"))
	}
	if n := attempts(out.ResultMetadata); n != 3 {
		t.Fatalf("%d attempts recorded, want 3", n)
	}
}

func noDelay(int, error) (time.Duration, error) { return 0, nil }

// TestClientUsesDecoder checks that the decoder, not the SDK's, decodes in
// a client call: its errors wrap ErrMalformed. Off, the SDK decodes.
func TestClientUsesDecoder(t *testing.T) {
	r := &replay{header: http.Header{}, body: []byte(`{"Records":[{"Data":"QQ"}]}`)}
	in := &kinesis.GetRecordsInput{ShardIterator: aws.String("it")}
	for _, on := range []bool{true, false} {
		_, err := replayClient(r).GetRecords(context.Background(), in, Option(on))
		var de *smithy.DeserializationError
		if !errors.As(err, &de) || errors.Is(err, ErrMalformed) != on {
			t.Fatalf("on=%v: error %v", on, err)
		}
	}
	// Installed at client construction, for every call.
	_, err := replayClient(r, Install).GetRecords(context.Background(), in)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("installed on the client: error %v", err)
	}
}

// failingBody returns its bytes, then an error.
type failingBody struct {
	r   io.Reader
	err error
}

func (b *failingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, b.err
	}
	return n, err
}

func (b *failingBody) Close() error { return nil }

// TestBodyReadError checks that a body cut by the network fails as with the
// SDK: a DeserializationError wrapping the read error, which the retryer
// sees.
func TestBodyReadError(t *testing.T) {
	cut := errors.New("connection reset by peer")
	body := []byte(`{"Records":[{"Data":"QQ=="}]}`)
	for _, p := range []smithyhttp.ClientProtocol{newSDKProtocol(), &protocol{ClientProtocol: newSDKProtocol()}} {
		resp := response(body)
		resp.Body = &failingBody{r: bytes.NewReader(body[:10]), err: cut}
		err := p.DeserializeResponse(context.Background(), getRecordsSchema, kinesis.TypeRegistry, resp, &kinesis.GetRecordsOutput{})
		var de *smithy.DeserializationError
		if !errors.As(err, &de) || !errors.Is(err, cut) {
			t.Fatalf("%T: error %v", p, err)
		}
	}
}

// TestContentLength checks that the body, not its Content-Length, decides
// what is decoded, as with the SDK.
func TestContentLength(t *testing.T) {
	body := []byte(`{"Records":[{"Data":"QQ=="}],"NextShardIterator":"n"}`)
	for _, n := range []int64{-1, 0, 5, int64(len(body)), int64(len(body)) + 1000, 1 << 40} {
		var outs [2]*kinesis.GetRecordsOutput
		var errs [2]error
		for i, p := range []smithyhttp.ClientProtocol{newSDKProtocol(), &protocol{ClientProtocol: newSDKProtocol()}} {
			resp := response(body)
			resp.ContentLength = n
			outs[i] = &kinesis.GetRecordsOutput{}
			errs[i] = p.DeserializeResponse(context.Background(), getRecordsSchema, kinesis.TypeRegistry, resp, outs[i])
		}
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("Content-Length %d: %v, %v", n, errs[0], errs[1])
		}
		if d := agree(outs[0], nil, outs[1], nil); d != "" {
			t.Fatalf("Content-Length %d: %s", n, d)
		}
	}
}

// otherProtocol is a protocol of a caller's own.
type otherProtocol struct{ smithyhttp.ClientProtocol }

// TestInstall checks what Install does to the call's protocol.
func TestInstall(t *testing.T) {
	var o kinesis.Options
	Install(&o)
	if !Installed(&o) {
		t.Fatal("not installed on a nil protocol")
	}
	p := o.Protocol
	Install(&o)
	if o.Protocol != p {
		t.Fatal("installed twice")
	}
	o.Protocol = otherProtocol{newSDKProtocol()}
	Install(&o)
	if Installed(&o) {
		t.Fatal("a protocol of the caller's was replaced")
	}
	o.Protocol = newSDKProtocol()
	Option(false)(&o)
	if Installed(&o) {
		t.Fatal("Option(false) installed the decoder")
	}
	Option(true)(&o)
	if !Installed(&o) {
		t.Fatal("Option(true) did not install the decoder")
	}
}
