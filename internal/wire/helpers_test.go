package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/eventstream"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// errPanic stands for a decoder that panicked.
var errPanic = errors.New("the decoder panicked")

var getRecordsSchema = smithy.NewOperationSchema(schemas.GetRecords, schemas.GetRecordsInput, schemas.GetRecordsOutput)

// response returns a successful HTTP response with body.
func response(body []byte) *smithyhttp.Response {
	return &smithyhttp.Response{Response: &http.Response{
		StatusCode:    200,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
	}}
}

// decodeWith decodes a GetRecords body with p, turning a panic into
// errPanic.
func decodeWith(p smithyhttp.ClientProtocol, body []byte) (out *kinesis.GetRecordsOutput, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	out = &kinesis.GetRecordsOutput{}
	err = p.DeserializeResponse(context.Background(), getRecordsSchema, kinesis.TypeRegistry, response(body), out)
	return out, err
}

// sdkDecode decodes a GetRecords body as the SDK does.
func sdkDecode(body []byte) (*kinesis.GetRecordsOutput, error) {
	return decodeWith(newSDKProtocol(), body)
}

// ourDecode decodes a GetRecords body with this package.
func ourDecode(body []byte) (*kinesis.GetRecordsOutput, error) {
	return decodeWith(&protocol{ClientProtocol: newSDKProtocol()}, body)
}

// agree reports how the two decoders' results differ, or "" when they
// agree: the same output, or both a *smithy.DeserializationError. The SDK
// panicking where this package returns a DeserializationError wrapping
// ErrMalformed counts as agreeing when sdkPanicOK is true.
func agree[T any](sdkOut T, sdkErr error, ourOut T, ourErr error) string {
	var sd, od *smithy.DeserializationError
	switch {
	case sdkErr == nil && ourErr == nil:
		if !reflect.DeepEqual(sdkOut, ourOut) {
			return "outputs differ: " + difference(dump(sdkOut), dump(ourOut))
		}
		return ""
	case sdkErr == nil:
		return fmt.Sprintf("the SDK decoded, this package failed: %v", ourErr)
	case ourErr == nil:
		return fmt.Sprintf("this package decoded, the SDK failed: %v\nours %.2000s", sdkErr, dump(ourOut))
	case errors.Is(sdkErr, errPanic):
		if !errors.Is(ourErr, ErrMalformed) {
			return fmt.Sprintf("the SDK panicked (%v), this package failed with %v, which is not ErrMalformed", sdkErr, ourErr)
		}
		return ""
	case errors.As(sdkErr, &sd) != errors.As(ourErr, &od):
		return fmt.Sprintf("errors of different classes:\nsdk  %T %v\nours %T %v", sdkErr, sdkErr, ourErr, ourErr)
	}
	return ""
}

// difference shows where two dumps first differ.
func difference(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(i-300, 0)
	return fmt.Sprintf("at byte %d:\nsdk  …%.600s\nours …%.600s", i, a[from:], b[from:])
}

// dump shows a value with its pointers followed.
func dump(v any) string {
	var b bytes.Buffer
	dumpValue(&b, reflect.ValueOf(v), 0)
	return b.String()
}

func dumpValue(b *bytes.Buffer, v reflect.Value, depth int) {
	if depth > 8 {
		b.WriteString("…")
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		if t, ok := v.Interface().(interface{ UnixNano() int64 }); ok && v.Kind() == reflect.Pointer {
			fmt.Fprintf(b, "&%v", t)
			return
		}
		b.WriteString("&")
		dumpValue(b, v.Elem(), depth+1)
	case reflect.Struct:
		if t, ok := v.Interface().(interface{ UnixNano() int64 }); ok {
			fmt.Fprintf(b, "%v", t)
			return
		}
		b.WriteString("{")
		for i := 0; i < v.NumField(); i++ {
			if !v.Type().Field(i).IsExported() || v.Type().Field(i).Name == "ResultMetadata" {
				continue
			}
			fmt.Fprintf(b, "%s:", v.Type().Field(i).Name)
			dumpValue(b, v.Field(i), depth+1)
			b.WriteString(" ")
		}
		b.WriteString("}")
	case reflect.Slice:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			fmt.Fprintf(b, "%q", v.Bytes())
			return
		}
		b.WriteString("[")
		for i := 0; i < v.Len(); i++ {
			dumpValue(b, v.Index(i), depth+1)
			b.WriteString(",")
		}
		b.WriteString("]")
	case reflect.String:
		b.WriteString(strconv.Quote(v.String()))
	default:
		fmt.Fprintf(b, "%v", v.Interface())
	}
}

// eventMessage encodes payload as a SubscribeToShardEvent message.
func eventMessage(payload []byte) []byte {
	var msg eventstream.Message
	msg.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.EventMessageType))
	msg.Headers.Set(eventstream.EventTypeHeader, eventstream.StringValue("SubscribeToShardEvent"))
	msg.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue("application/json"))
	msg.Payload = payload
	return encode(msg)
}

func encode(msg eventstream.Message) []byte {
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, msg); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// eventWith reads one event stream message from stream with p, turning a
// panic into errPanic.
func eventWith(p smithyhttp.ClientProtocol, stream []byte) (ev smithy.Deserializable, err error) {
	defer func() {
		if r := recover(); r != nil {
			ev, err = nil, fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return p.DeserializeEventMessage(schemas.SubscribeToShardEventStream, kinesis.TypeRegistry, bytes.NewReader(stream))
}

// agreeEvents compares what the SDK and this package read from stream. The
// SDK's event decoding errors are plain errors: only their presence is
// compared.
func agreeEvents(stream []byte) string {
	sdkEv, sdkErr := eventWith(newSDKProtocol(), stream)
	ourEv, ourErr := eventWith(&protocol{ClientProtocol: newSDKProtocol()}, stream)
	switch {
	case sdkErr != nil && ourErr != nil:
		if errors.Is(sdkErr, errPanic) && !errors.Is(ourErr, ErrMalformed) {
			return fmt.Sprintf("the SDK panicked (%v), this package failed with %v, which is not ErrMalformed", sdkErr, ourErr)
		}
		var sd, od *smithy.DeserializationError
		if errors.As(sdkErr, &sd) != errors.As(ourErr, &od) || (sdkErr == io.EOF) != (ourErr == io.EOF) {
			return fmt.Sprintf("errors of different classes:\nsdk  %T %v\nours %T %v", sdkErr, sdkErr, ourErr, ourErr)
		}
		if !errors.Is(sdkErr, errPanic) && !errors.Is(ourErr, ErrMalformed) &&
			(sdkErr.Error() != ourErr.Error() || reflect.TypeOf(sdkErr) != reflect.TypeOf(ourErr) || !reflect.DeepEqual(sdkErr, ourErr)) {
			return fmt.Sprintf("different errors:\nsdk  %T %v\nours %T %v", sdkErr, sdkErr, ourErr, ourErr)
		}
		return ""
	case sdkErr != nil || ourErr != nil:
		return fmt.Sprintf("one failed:\nsdk  %v\nours %v (%.2000s)", sdkErr, ourErr, dump(ourEv))
	}
	if !reflect.DeepEqual(sdkEv, ourEv) {
		return fmt.Sprintf("events differ: %T, %T: %s", sdkEv, ourEv, difference(dump(sdkEv), dump(ourEv)))
	}
	return ""
}

// staticCreds are credentials for clients that reach no service.
var staticCreds = credentials.NewStaticCredentialsProvider("AKIDWIRE", "wire-secret", "")

// replay is an HTTP client that answers every request with the same
// response, as recorded from a service.
type replay struct {
	status int
	header http.Header
	body   []byte
	// noLength hides the Content-Length.
	noLength bool
}

func (r *replay) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	n := int64(len(r.body))
	if r.noLength {
		n = -1
	}
	status := r.status
	if status == 0 {
		status = 200
	}
	return &http.Response{
		StatusCode:    status,
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(r.body)),
		ContentLength: n,
		Request:       req,
	}, nil
}

// replayClient returns a real *kinesis.Client whose every call gets r's
// response.
func replayClient(r kinesis.HTTPClient, optFns ...func(*kinesis.Options)) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:           "us-east-1",
		Credentials:      staticCreds,
		BaseEndpoint:     aws.String("http://replay.invalid"),
		HTTPClient:       r,
		RetryMaxAttempts: 1,
	}, optFns...)
}

// recorder is an HTTP client that keeps the bodies of the GetRecords
// responses it passes on.
type recorder struct {
	base   kinesis.HTTPClient
	mu     sync.Mutex
	bodies [][]byte
	header http.Header
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	getRecords := req.Header.Get("X-Amz-Target") == "Kinesis_20131202.GetRecords"
	resp, err := r.base.Do(req)
	if err != nil || !getRecords {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.bodies = append(r.bodies, body)
	r.header = resp.Header.Clone()
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// mustAgree fails t when the SDK and this package disagree on body.
func mustAgree(t testing.TB, name string, body []byte) (*kinesis.GetRecordsOutput, error) {
	t.Helper()
	sdkOut, sdkErr := sdkDecode(body)
	ourOut, ourErr := ourDecode(body)
	if d := agree(sdkOut, sdkErr, ourOut, ourErr); d != "" {
		t.Errorf("%s: body %.300q: %s", name, body, d)
	}
	return ourOut, ourErr
}
