package kinesin_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/internal/wire"
)

// decoderSpy passes every call to a client and counts, among its
// GetRecords and SubscribeToShard calls, those whose option functions
// install kinesin's decoder (wire) and those that leave the SDK's.
type decoderSpy struct {
	*kinesis.Client
	wire, sdk atomic.Int64
}

// observe applies a call's option functions to the client's options, as
// the SDK does, and counts which decoder they leave.
func (s *decoderSpy) observe(optFns []func(*kinesis.Options)) {
	o := s.Client.Options()
	for _, f := range optFns {
		f(&o)
	}
	if wire.Installed(&o) {
		s.wire.Add(1)
	} else {
		s.sdk.Add(1)
	}
}

func (s *decoderSpy) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	s.observe(optFns)
	return s.Client.GetRecords(ctx, in, optFns...)
}

func (s *decoderSpy) SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, optFns ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error) {
	s.observe(optFns)
	return s.Client.SubscribeToShard(ctx, in, optFns...)
}

// WithSDKDecoder switches the decoder of the readers' calls, polling and
// EFO: by default every GetRecords and SubscribeToShard call decodes with
// kinesin's decoder, with WithSDKDecoder(true) none does, and the records
// are delivered alike.
func TestSDKDecoderOption(t *testing.T) {
	eachModeParallel(t, func(t *testing.T, m mode) {
		for _, tc := range []struct {
			name    string
			opts    []kinesin.Option
			wantSDK bool
		}{
			{"default", nil, false},
			{"WithSDKDecoder(false)", []kinesin.Option{kinesin.WithSDKDecoder(false)}, false},
			{"WithSDKDecoder(true)", []kinesin.Option{kinesin.WithSDKDecoder(true)}, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				fake := m.NewFake(t, 2)
				want := fillShards(t, fake, testStream, 20)
				sp := &decoderSpy{Client: fake.Client()}
				// The mode's tuning without its options (they carry the
				// decoder KINESIN_TEST_SDK_DECODER asks for).
				opts := []kinesin.Option{kinesin.WithClient(sp), kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithPolling(fastPolling)}
				if m.EFO {
					opts = []kinesin.Option{kinesin.WithClient(sp), kinesin.WithStart(kinesin.TrimHorizon),
						kinesin.WithEFO(testConsumer), kinesin.WithEFOOptions(fastEFO)}
				}
				st, err := kinesin.Open(testCtx(t, 20*time.Second), testStream, kinesin.JSON[item], append(opts, tc.opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				c := collect(st, true)
				eventually(t, 10*time.Second, func() bool { return c.Count() >= 40 }, "40 records (%d)", c.Count())
				for id, seqs := range want {
					checkShardOrder(t, id, c.Shard(id), seqs)
					for i, s := range c.Shard(id) {
						if s.Item.N != i {
							t.Errorf("shard %s: record %d holds n=%d", id, i, s.Item.N)
						}
					}
				}
				wireCalls, sdkCalls := sp.wire.Load(), sp.sdk.Load()
				if tc.wantSDK && (sdkCalls == 0 || wireCalls != 0) {
					t.Errorf("%d calls decoded by kinesin's decoder, %d by the SDK's: want every one by the SDK's", wireCalls, sdkCalls)
				}
				if !tc.wantSDK && (wireCalls == 0 || sdkCalls != 0) {
					t.Errorf("%d calls decoded by kinesin's decoder, %d by the SDK's: want every one by kinesin's", wireCalls, sdkCalls)
				}
			})
		}
	})
}
