package kinesistest

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// TestPipeWriterGivesUpOnClose: once streaming, a write of the in-process
// transport waits for the client to read it, but not past the fake's Close:
// a handler writing to a client that stopped reading notices the close, and
// the client reads a connection reset.
func TestPipeWriterGivesUpOnClose(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{})
	w := &pipeWriter{header: make(http.Header), ready: make(chan struct{}), cancel: func() {}, closed: closed}
	w.WriteHeader(http.StatusOK)
	w.Flush()
	<-w.ready
	wrote := make(chan error, 1)
	go func() {
		_, err := w.Write([]byte("nobody reads this"))
		wrote <- err
	}()
	// Know the Write is blocked on the pipe (its goroutine parked in it)
	// before the fake closes.
	WaitParked(t, 10*time.Second, "in the Write", func(stack string) bool {
		return strings.Contains(stack, "io.(*pipe).write") && strings.Contains(stack, "TestPipeWriterGivesUpOnClose")
	})
	select {
	case err := <-wrote:
		t.Fatalf("Write returned (%v) with no reader and the fake open", err)
	default:
	}
	close(closed)
	select {
	case err := <-wrote:
		if err == nil {
			t.Fatal("Write succeeded after the fake closed, with no reader")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write still blocked 10 s after the fake closed")
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Fatal("a Write after the fake closed succeeded")
	}
	w.finish()
	if _, err := io.ReadAll(w.body); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the client read %v, want a connection reset", err)
	}
}

// TestPipeWriterStreamsUntilFinished: a streaming response the handler
// finishes reaches the client whole, and the fake closing afterwards changes
// nothing (goleak, in TestMain, checks nothing is left waiting for it).
func TestPipeWriterStreamsUntilFinished(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{})
	w := &pipeWriter{header: make(http.Header), ready: make(chan struct{}), cancel: func() {}, closed: closed}
	w.Write([]byte("head "))
	w.Flush()
	<-w.ready
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Write([]byte("streamed"))
		w.finish()
	}()
	b, err := io.ReadAll(w.body)
	if err != nil || string(b) != "head streamed" {
		t.Fatalf("read %q, %v", b, err)
	}
	<-done
	close(closed)
}

// testRecords returns n records of the given partition key and data.
func testRecords(n int, pk string, data []byte) []record {
	out := make([]record, n)
	for i := range out {
		out[i] = record{counter: uint64(i + 1), seq: "49" + strings.Repeat("7", 54), pk: pk, data64: base64.StdEncoding.EncodeToString(data), dataLen: len(data),
			arrival: time.Unix(1700000000, 123e6)}
	}
	return out
}

// TestEventMessageSizedOnce: eventMessage sizes its payload before writing
// it, whatever the records: as many allocations for a thousand records as
// for one, with data of every length modulo 3 (base64 padding). (Events
// with ChildShards go through encoding/json, whose pooled buffers make
// allocation counts vary under the race detector: TestPayloadBounds covers
// them.)
func TestEventMessageSizedOnce(t *testing.T) {
	const cont = "49000000000000000000000000000000000000000000000000000001"
	allocs := func(ev *event) float64 {
		// 20 runs: AllocsPerRun rounds the average down, so the odd
		// allocation of the runtime does not count, whereas a payload
		// grown once in every run does.
		return testing.AllocsPerRun(20, func() { eventMessage(ev) })
	}
	base := allocs(&event{records: testRecords(1, "k", []byte("x")), continuation: cont})
	for _, c := range []struct {
		name string
		ev   event
	}{
		{"no records", event{continuation: cont}},
		{"1000 1-byte records", event{records: testRecords(1000, "k", []byte("x")), continuation: cont}},
		{"500 2-byte records", event{records: testRecords(500, "pk", []byte("xy")), continuation: cont}},
		{"300 3-byte records", event{records: testRecords(300, "pk-3", []byte("xyz")), continuation: cont}},
		{"100 empty records, 256-byte keys", event{records: testRecords(100, strings.Repeat("p", 256), nil), continuation: cont}},
		{"2 records of 100 KiB", event{records: testRecords(2, "k", make([]byte, 100<<10+1)), continuation: cont}},
	} {
		if got := allocs(&c.ev); got != base {
			t.Errorf("%s: %v allocations, want %v as for one record: the payload was not sized once", c.name, got, base)
		}
	}
}

// TestPayloadBounds: the sizes the hand-written encoders reserve hold what
// they write, partition keys needing escapes and ChildShards included, and
// eventMessage writes its payload into the room it reserved, never growing
// it.
func TestPayloadBounds(t *testing.T) {
	var kids []childShard
	for i := range 2 {
		var c childShard
		c.ShardId = "shardId-00000000000" + string(rune('1'+i))
		c.ParentShards = []string{"shardId-000000000000"}
		c.HashKeyRange.StartingHashKey = "170141183460469231731687303715884105728"
		c.HashKeyRange.EndingHashKey = "340282366920938463463374607431768211455"
		kids = append(kids, c)
	}
	keys := []string{"k", "\x00\x01\x1f", "<>&", "\u2028\u2029", "\xff\xfe", `"\`, "ключ ✓", strings.Repeat("\x01", 256)}
	for _, pk := range keys {
		for _, size := range []int{0, 1, 2, 3, 4, 1000} {
			recs := testRecords(50, pk, make([]byte, size))
			for _, end := range []bool{false, true} {
				ev := &event{records: recs, behind: -1 << 63, end: end}
				var children []byte
				if end {
					ev.children = kids
					children = childShardsJSON(kids)
				} else {
					ev.continuation = recs[0].seq
				}
				m := eventMessage(ev)
				n, limit := len(m.Payload), eventPayloadLen(ev, children)
				if n > limit {
					t.Errorf("event of %q, %d bytes: payload %d bytes, over the %d reserved", pk, size, n, limit)
				}
				if cap(m.Payload) != limit {
					t.Errorf("event of %q, %d bytes: payload capacity %d, not the %d reserved", pk, size, cap(m.Payload), limit)
				}
			}
			for _, children := range [][]childShard{nil, kids} {
				resp := &getRecordsResp{records: recs, next: strings.Repeat("i", 200), behind: 1 << 62, children: children}
				b := resp.appendJSON(nil)
				if n, limit := len(b), recordsJSONLen(recs)+len(resp.next)+len(childShardsJSON(children))+100; n > limit {
					t.Errorf("GetRecords of %q, %d bytes: %d bytes, over %d", pk, size, n, limit)
				}
			}
		}
	}
}

// TestForgetSubscriptions: past its history, the fake forgets the oldest
// ended subscriptions and keeps every open one, in order.
func TestForgetSubscriptions(t *testing.T) {
	f := newFake(defaultConfig())
	defer f.Close()
	ended := time.Unix(1, 0)
	for i := range 10 {
		sub := &subscription{info: Subscription{ShardID: string(rune('a' + i))}}
		if i != 1 && i != 5 {
			sub.info.Ended = ended
		}
		f.subs = append(f.subs, sub)
	}
	f.forgetSubscriptions(4)
	var got string
	for _, s := range f.subs {
		got += s.info.ShardID
	}
	// a to j, b and f open: the six oldest ended (a, c, d, e, g, h) go.
	if got != "bfij" {
		t.Fatalf("kept %q, want the open b and f and the last ended i and j", got)
	}
}

// TestCBORDirectMatchesJSON: the answers encoded to CBOR directly (GetRecords,
// SubscribeToShard events) decode to what their JSON form converts to,
// whatever the records: keys needing escapes, empty and large data,
// encrypted records, ChildShards.
func TestCBORDirectMatchesJSON(t *testing.T) {
	t.Parallel()
	var kids []childShard
	for i := range 2 {
		var c childShard
		c.ShardId = "shardId-00000000000" + string(rune('1'+i))
		c.ParentShards = []string{"shardId-000000000000"}
		c.HashKeyRange.StartingHashKey = "0"
		c.HashKeyRange.EndingHashKey = "340282366920938463463374607431768211455"
		kids = append(kids, c)
	}
	decode := func(b []byte) cbor.Value {
		t.Helper()
		v, err := cbor.Decode(b)
		if err != nil {
			t.Fatalf("%x: %v", b, err)
		}
		return v
	}
	for _, pk := range []string{"k", "\x00\"\\", "ключ ✓", strings.Repeat("p", 256)} {
		for _, size := range []int{0, 1, 23, 24, 255, 256, 65536} {
			recs := testRecords(30, pk, make([]byte, size))
			recs[3].kms = true
			recs[4].arrival = time.Unix(0, 0)
			for _, children := range [][]childShard{nil, {}, kids} {
				resp := &getRecordsResp{records: recs, next: "it", behind: 1 << 40, children: children}
				viaJSON, err := jsonToCBOR(resp.appendJSON(nil))
				if err != nil {
					t.Fatal(err)
				}
				if a, b := decode(resp.appendCBOR(nil)), decode(viaJSON); !reflect.DeepEqual(a, b) {
					t.Fatalf("GetRecords of %q, %d bytes: direct %#v, via JSON %#v", pk, size, a, b)
				}
				ev := &event{records: recs, behind: 7, continuation: recs[0].seq, children: children, end: children != nil}
				direct := eventMessageCBOR(ev)
				if a, b := decode(direct.Payload), decode(inCBOR(eventMessage(ev)).Payload); !reflect.DeepEqual(a, b) {
					t.Fatalf("event of %q, %d bytes: direct %#v, via JSON %#v", pk, size, a, b)
				}
			}
		}
	}
}
