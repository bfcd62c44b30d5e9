package wire

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/eventstream"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

// Install makes one Kinesis API call decode a successful GetRecords
// response, and the SubscribeToShardEvent messages of a SubscribeToShard
// event stream, with this package's decoder. Pass it among the call's
// option functions:
//
//	out, err := client.GetRecords(ctx, in, wire.Install)
//
// It replaces the call's Options.Protocol, the SDK's awsJson 1.1 protocol,
// with one that hands every other operation, every error response and
// every other event stream message to a protocol of the SDK's. A Protocol
// of another type, set by the caller, is kept: the SDK decodes. Install
// has no state and may also be given to kinesis.New, for every call.
func Install(o *kinesis.Options) {
	switch p := o.Protocol.(type) {
	case *protocol:
	case *awsjson.Protocol:
		o.Protocol = &protocol{ClientProtocol: p}
	case nil:
		o.Protocol = &protocol{ClientProtocol: newSDKProtocol()}
	}
}

// Option returns Install when on is true, and an option that changes
// nothing when it is false: the switch that turns this package's decoder
// on and off.
func Option(on bool) func(*kinesis.Options) {
	if on {
		return Install
	}
	return func(*kinesis.Options) {}
}

// Installed reports whether calls made with o decode with this package.
func Installed(o *kinesis.Options) bool {
	_, ok := o.Protocol.(*protocol)
	return ok
}

// newSDKProtocol returns the protocol a new kinesis.Client uses.
func newSDKProtocol() *awsjson.Protocol { return awsjson.New11(schemas.Kinesis_20131202) }

// protocol is the SDK's awsJson 1.1 protocol with this package's decoder
// for GetRecords responses and SubscribeToShardEvent messages. It has no
// state of its own: the SDK's event stream codec keeps some in each
// protocol instance (aws/smithy-go#714), so the event stream methods hand
// over to a protocol instance of their own.
type protocol struct {
	smithyhttp.ClientProtocol
}

// DeserializeResponse decodes successful GetRecords responses and hands
// everything else to the SDK.
func (p *protocol) DeserializeResponse(ctx context.Context, schema *smithy.OperationSchema, reg *smithy.TypeRegistry, resp *smithyhttp.Response, out smithy.Deserializable) error {
	gr, ok := out.(*kinesis.GetRecordsOutput)
	if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return p.ClientProtocol.DeserializeResponse(ctx, schema, reg, resp, out)
	}
	b := getBody()
	defer putBody(b)
	var err error
	if *b, err = readBody(resp.Body, resp.ContentLength, *b); err != nil {
		return &smithy.DeserializationError{Err: err}
	}
	if err := DecodeGetRecords(*b, gr); err != nil {
		return &smithy.DeserializationError{Err: err}
	}
	return nil
}

// DeserializeInitialResponse reads the first message of an event stream,
// as the SDK does.
func (p *protocol) DeserializeInitialResponse(schema *smithy.Schema, r io.Reader, out smithy.Deserializable) error {
	return newSDKProtocol().DeserializeInitialResponse(schema, r, out)
}

// SerializeEventMessage writes an event, as the SDK does (Kinesis has no
// input event streams).
func (p *protocol) SerializeEventMessage(schema, variant *smithy.Schema, v smithy.Serializable, w io.Writer) error {
	return newSDKProtocol().SerializeEventMessage(schema, variant, v, w)
}

// SerializeInitialRequest writes the first message of an input event
// stream, as the SDK does.
func (p *protocol) SerializeInitialRequest(schema *smithy.Schema, v smithy.Serializable, w io.Writer) error {
	return newSDKProtocol().SerializeInitialRequest(schema, v, w)
}

// events decodes the framing of event stream messages; it has no state.
var events = eventstream.NewDecoder()

// payloads holds buffers for event payloads, which are decoded into
// allocations of their own and then dropped.
var payloads = sync.Pool{New: func() any { return new([]byte) }}

// DeserializeEventMessage reads the next message of an event stream. It
// decodes SubscribeToShardEvent messages itself and re-encodes any other
// message for the SDK to decode, so that exceptions, errors and unknown
// events come out as the SDK makes them.
func (p *protocol) DeserializeEventMessage(schema *smithy.Schema, reg *smithy.TypeRegistry, r io.Reader) (smithy.Deserializable, error) {
	if schema != schemas.SubscribeToShardEventStream {
		return newSDKProtocol().DeserializeEventMessage(schema, reg, r)
	}
	buf := payloads.Get().(*[]byte)
	defer payloads.Put(buf)
	msg, err := events.Decode(r, (*buf)[:0])
	if cap(msg.Payload) > cap(*buf) && cap(msg.Payload) <= maxPooledBody {
		*buf = msg.Payload[:0]
	}
	if err != nil {
		// As the SDK: a stream cut inside a message ends like one cut
		// between messages.
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if isEvent(&msg, "SubscribeToShardEvent") {
		ev := new(types.SubscribeToShardEvent)
		if err := DecodeSubscribeToShardEvent(msg.Payload, ev); err != nil {
			return nil, fmt.Errorf("deserialize event SubscribeToShardEvent: %w", err)
		}
		return ev, nil
	}
	var again bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&again, msg); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return newSDKProtocol().DeserializeEventMessage(schema, reg, &again)
}

// isEvent reports whether msg is an event of the given type, reading its
// headers as the SDK does.
func isEvent(msg *eventstream.Message, eventType string) bool {
	mt := msg.Headers.Get(eventstream.MessageTypeHeader)
	et := msg.Headers.Get(eventstream.EventTypeHeader)
	return mt != nil && mt.String() == eventstream.EventMessageType && et != nil && et.String() == eventType
}
