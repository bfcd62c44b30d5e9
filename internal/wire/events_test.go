package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/eventstream"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// asEvent turns a GetRecords body into a SubscribeToShardEvent payload of
// the same shape.
func asEvent(body string) string {
	return strings.ReplaceAll(body, `"NextShardIterator"`, `"ContinuationSequenceNumber"`)
}

// TestEventPayloads decodes SubscribeToShardEvent messages with the SDK and
// with this package: the fake's responses and the edge cases, as event
// payloads.
func TestEventPayloads(t *testing.T) {
	for i, body := range fakeCorpus(t) {
		if d := agreeEvents(eventMessage([]byte(asEvent(string(body))))); d != "" {
			t.Fatalf("response %d: %s", i, d)
		}
	}
	for _, c := range edgeCases {
		if d := agreeEvents(eventMessage([]byte(asEvent(c.body)))); d != "" {
			t.Errorf("%s: %s", c.name, d)
		}
	}
	ev, err := eventWith(&protocol{ClientProtocol: newSDKProtocol()},
		eventMessage([]byte(`{"Records":[{"Data":"QQ==","PartitionKey":"k","SequenceNumber":"1"}],"ContinuationSequenceNumber":"1","MillisBehindLatest":0}`)))
	if e, ok := ev.(*types.SubscribeToShardEvent); err != nil || !ok || len(e.Records) != 1 || aws.ToString(e.ContinuationSequenceNumber) != "1" {
		t.Fatalf("got %T %v, %v", ev, ev, err)
	}
}

// eventStreams are event streams other than one good SubscribeToShardEvent:
// exceptions, errors, unknown events, broken framing.
func eventStreams() map[string][]byte {
	msg := func(headers map[string]string, payload string) []byte {
		var m eventstream.Message
		for k, v := range headers {
			m.Headers.Set(k, eventstream.StringValue(v))
		}
		m.Payload = []byte(payload)
		return encode(m)
	}
	good := eventMessage([]byte(`{"Records":[],"ContinuationSequenceNumber":"1","MillisBehindLatest":0}`))
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	badPrelude := bytes.Clone(good)
	binary.BigEndian.PutUint32(badPrelude, 3)
	var intType eventstream.Message
	intType.Headers.Set(eventstream.MessageTypeHeader, eventstream.Int32Value(1))
	intType.Headers.Set(eventstream.EventTypeHeader, eventstream.StringValue("SubscribeToShardEvent"))
	return map[string][]byte{
		"exception": msg(map[string]string{":message-type": "exception", ":exception-type": "ResourceInUseException", ":content-type": "application/json"},
			`{"message":"another subscription"}`),
		"internal failure": msg(map[string]string{":message-type": "exception", ":exception-type": "InternalFailureException"}, `{"message":"oops"}`),
		"KMS exception":    msg(map[string]string{":message-type": "exception", ":exception-type": "KMSThrottlingException"}, `{"message":"slow"}`),
		"unknown exception": msg(map[string]string{":message-type": "exception", ":exception-type": "BrandNewException"},
			`{"__type":"BrandNewException","message":"new"}`),
		"exception bad payload":     msg(map[string]string{":message-type": "exception", ":exception-type": "ResourceInUseException"}, `{`),
		"error":                     msg(map[string]string{":message-type": "error", ":error-code": "InternalError", ":error-message": "boom"}, ``),
		"unknown event":             msg(map[string]string{":message-type": "event", ":event-type": "FutureEvent", ":content-type": "application/json"}, `{"x":1}`),
		"no message type":           msg(map[string]string{":event-type": "SubscribeToShardEvent"}, `{}`),
		"no event type":             msg(map[string]string{":message-type": "event"}, `{}`),
		"unknown message type":      msg(map[string]string{":message-type": "gossip"}, `{}`),
		"message type not a string": encode(intType),
		"event with no payload":     msg(map[string]string{":message-type": "event", ":event-type": "SubscribeToShardEvent"}, ``),
		"bad CRC":                   badCRC,
		"bad prelude":               badPrelude,
		"empty stream":              nil,
		"cut in the prelude":        good[:6],
		"cut in the payload":        good[:len(good)-10],
		"two messages":              append(bytes.Clone(good), good...),
	}
}

// TestEventMessages checks that messages other than SubscribeToShardEvent
// come out as the SDK makes them.
func TestEventMessages(t *testing.T) {
	for name, stream := range eventStreams() {
		if d := agreeEvents(stream); d != "" {
			t.Errorf("%s: %s", name, d)
		}
	}
}

// readEvents subscribes to a shard of the fake's stream from its start and
// returns its events until want records came.
func readEvents(t *testing.T, client *kinesis.Client, consumerARN, shardID string, want int, optFns ...func(*kinesis.Options)) []types.SubscribeToShardEventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := client.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
		ConsumerARN:      aws.String(consumerARN),
		ShardId:          aws.String(shardID),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
	}, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	es := out.GetStream()
	defer es.Close()
	var events []types.SubscribeToShardEventStream
	n := 0
	for n < want {
		select {
		case ev, ok := <-es.Events():
			if !ok {
				t.Fatalf("the stream ended after %d records: %v", n, es.Err())
			}
			events = append(events, ev)
			if e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
				n += len(e.Value.Records)
			}
		case <-ctx.Done():
			t.Fatalf("%d records of %d after 20s", n, want)
		}
	}
	return events
}

// TestSubscribeToShard reads the same shard through two consumers of the
// fake, with the SDK's decoder and with this package's: the events are
// the same.
func TestSubscribeToShard(t *testing.T) {
	fake := kinesistest.New(t, kinesistest.WithClock(kinesistest.NewManualClock(time.Unix(1_700_000_000, 0))))
	if err := fake.CreateStream("s", 1); err != nil {
		t.Fatal(err)
	}
	putCorpus(t, fake, "s", 4)
	sdkARN, _ := fake.RegisterConsumer("s", "sdk")
	ourARN, _ := fake.RegisterConsumer("s", "ours")
	client := fake.Client()
	sdk := readEvents(t, client, sdkARN, "shardId-000000000000", 300)
	ours := readEvents(t, client, ourARN, "shardId-000000000000", 300, Install)
	if d := agree(sdk, nil, ours, nil); d != "" {
		t.Fatal(d)
	}
}

// TestSubscribeConcurrently runs subscriptions side by side on one client
// with the decoder installed on the client: the race detector checks that
// they share no decoding state (aws/smithy-go#714).
func TestSubscribeConcurrently(t *testing.T) {
	fake := kinesistest.New(t)
	const shards = 4
	if err := fake.CreateStream("s", shards); err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		fake.Put("s", fmt.Sprint("key-", i), bytes.Repeat([]byte{byte(i)}, 100+i%100))
	}
	arn, _ := fake.RegisterConsumer("s", "c")
	client := fake.Client(Install)
	infos, err := fake.Shards("s")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	counts := make([]int, len(infos))
	for i, sh := range infos {
		n := sh.Records
		wg.Go(func() {
			for _, ev := range readEvents(t, client, arn, sh.ID, n) {
				if e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
					for _, r := range e.Value.Records {
						if len(r.Data) < 100 || aws.ToString(r.PartitionKey) == "" {
							t.Errorf("shard %s: a bad record: %q", sh.ID, r.Data)
						}
						counts[i]++
					}
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, c := range counts {
		total += c
	}
	if total != 400 {
		t.Fatalf("%d records read, want 400", total)
	}
}

// TestSubscribeUsesDecoder checks that the decoder, not the SDK's, decodes
// the events of a SubscribeToShard call: its errors wrap ErrMalformed. Off,
// the SDK decodes.
func TestSubscribeUsesDecoder(t *testing.T) {
	var initial eventstream.Message
	initial.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.EventMessageType))
	initial.Headers.Set(eventstream.EventTypeHeader, eventstream.StringValue("initial-response"))
	initial.Payload = []byte(`{}`)
	body := append(encode(initial), eventMessage([]byte(`{"Records":[{"Data":"QQ"}]}`))...)
	r := &replay{header: http.Header{"Content-Type": {"application/vnd.amazon.eventstream"}}, body: body}
	for _, on := range []bool{true, false} {
		out, err := replayClient(r).SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{
			ConsumerARN:      aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1"),
			ShardId:          aws.String("shardId-000000000000"),
			StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest},
		}, Option(on))
		if err != nil {
			t.Fatal(err)
		}
		es := out.GetStream()
		for range es.Events() {
			t.Fatal("an event from a malformed payload")
		}
		if err := es.Err(); err == nil || errors.Is(err, ErrMalformed) != on {
			t.Fatalf("on=%v: error %v", on, err)
		}
		es.Close()
	}
}
