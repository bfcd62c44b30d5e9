package kinesistest

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/aws/smithy-go/eventstream"
)

// AddInitialResponse returns an http.RoundTripper for endpoints that never
// send the initial-response event a SubscribeToShard stream must start with,
// such as kinesis-local (etspaceman's kinesis-mock, npm kinesis-local): it
// prepends one to every successful SubscribeToShard response it carries,
// through base (http.DefaultTransport when nil), and passes everything else
// as it is. The Go SDK's client fails such a stream with "expected
// initial-response" without it. Use it in the HTTP client of the Kinesis
// client given to tests, never against the real service:
//
//	client := kinesis.New(kinesis.Options{
//		BaseEndpoint: aws.String(kinesisLocalURL),
//		HTTPClient:   &http.Client{Transport: kinesistest.AddInitialResponse(nil)},
//		// Region, Credentials...
//	})
//
// kinesistest's own fake sends the event, as the service does.
func AddInitialResponse(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return initialResponse{base: base}
}

type initialResponse struct{ base http.RoundTripper }

func (s initialResponse) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK ||
		req.Header.Get("X-Amz-Target") != targetPrefix+"SubscribeToShard" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.amazon.eventstream") {
		return resp, err
	}
	var msg eventstream.Message
	msg.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.EventMessageType))
	msg.Headers.Set(eventstream.EventTypeHeader, eventstream.StringValue("initial-response"))
	msg.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue("application/json"))
	msg.Payload = []byte("{}")
	var first bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&first, msg); err != nil {
		resp.Body.Close()
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(&first, resp.Body), resp.Body}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}
