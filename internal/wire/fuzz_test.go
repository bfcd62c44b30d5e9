package wire

import (
	"testing"
)

// fuzzSeeds are the edge cases and a small response of the fake.
func fuzzSeeds(f *testing.F, event bool) {
	for _, c := range edgeCases {
		if event {
			f.Add([]byte(asEvent(c.body)))
		} else {
			f.Add([]byte(c.body))
		}
	}
}

// FuzzGetRecords decodes mutated GetRecords bodies with the SDK and with
// this package: both decode to the same output, or both fail with a
// *smithy.DeserializationError; this package never panics, and fails with
// ErrMalformed where the SDK panics.
//
//	go test -run '^$' -fuzz FuzzGetRecords ./internal/wire/
func FuzzGetRecords(f *testing.F) {
	fuzzSeeds(f, false)
	f.Fuzz(func(t *testing.T, body []byte) {
		sdkOut, sdkErr := sdkDecode(body)
		ourOut, ourErr := ourDecode(body)
		if d := agree(sdkOut, sdkErr, ourOut, ourErr); d != "" {
			t.Fatal(d)
		}
	})
}

// FuzzSubscribeToShardEvent does the same with SubscribeToShardEvent
// payloads in event stream messages.
//
//	go test -run '^$' -fuzz FuzzSubscribeToShardEvent ./internal/wire/
func FuzzSubscribeToShardEvent(f *testing.F) {
	fuzzSeeds(f, true)
	f.Fuzz(func(t *testing.T, payload []byte) {
		if d := agreeEvents(eventMessage(payload)); d != "" {
			t.Fatal(d)
		}
	})
}

// FuzzEventStream does the same with whole event stream messages, headers
// and framing included.
//
//	go test -run '^$' -fuzz FuzzEventStream ./internal/wire/
func FuzzEventStream(f *testing.F) {
	for _, stream := range eventStreams() {
		f.Add(stream)
	}
	f.Add(eventMessage([]byte(asEvent(edgeCases[3].body))))
	f.Fuzz(func(t *testing.T, stream []byte) {
		if d := agreeEvents(stream); d != "" {
			t.Fatal(d)
		}
	})
}
