package kinesin_test

// The tests of package kinesin use the harness of internal/streamtest (shared
// with internal/oteltest) by the short names below.

import (
	"context"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/internal/streamtest"
	"github.com/kinesin-go/kinesin/kinesistest"
)

type (
	mode      = streamtest.Mode
	item      = streamtest.Item
	seen      = streamtest.Seen
	collector = streamtest.Collector
	spy       = streamtest.Spy
)

const (
	testStream        = streamtest.Stream
	testConsumer      = streamtest.Consumer
	efoClockFactor    = streamtest.EFOClockFactor
	benchShards       = streamtest.BenchShards
	benchPerShard     = streamtest.BenchPerShard
	benchRecordSize   = streamtest.BenchRecordSize
	leaseTestDuration = streamtest.LeaseDuration
	leaseTestCycle    = streamtest.LeaseCycle
	leaseSlack        = streamtest.LeaseSlack
)

var (
	fastPolling      = streamtest.FastPolling
	fastEFO          = streamtest.FastEFO
	pollingMode      = streamtest.PollingMode
	efoMode          = streamtest.EFOMode
	eachMode         = streamtest.EachMode
	eachModeParallel = streamtest.EachModeParallel
	itemJSON         = streamtest.ItemJSON
	eventually       = streamtest.Eventually
	nextSecond       = streamtest.NextSecond
	testCtx          = streamtest.Ctx
	newFake          = streamtest.NewFake
	openShards       = streamtest.OpenShards
	fillShards       = streamtest.FillShards
	fillPadded       = streamtest.FillPadded
	load             = streamtest.Load
	copyStore        = streamtest.CopyStore
	collect          = streamtest.Collect
	checkShardOrder  = streamtest.CheckShardOrder
	subscriptionsOf  = streamtest.SubscriptionsOf
	mustShards       = streamtest.MustShards
	shardByID        = streamtest.ShardByID
	backlog          = streamtest.Backlog
	consumeAll       = streamtest.ConsumeAll
)

func steady[V comparable](t testing.TB, d time.Duration, value func() V, what string) V {
	t.Helper()
	return streamtest.Steady(t, d, value, what)
}

func settle[V comparable](t testing.TB, timeout, quiet time.Duration, value func() V) V {
	t.Helper()
	return streamtest.Settle(t, timeout, quiet, value)
}

func openStream[T any](t testing.TB, m mode, ctx context.Context, fake *kinesistest.Fake, dec kinesin.Decoder[T], opts ...kinesin.Option) *kinesin.Stream[T] {
	t.Helper()
	return streamtest.Open(t, m, ctx, fake, dec, opts...)
}

func openNamed[T any](t testing.TB, m mode, ctx context.Context, name string, api kinesin.KinesisAPI, dec kinesin.Decoder[T], opts ...kinesin.Option) *kinesin.Stream[T] {
	t.Helper()
	return streamtest.OpenNamed(t, m, ctx, name, api, dec, opts...)
}

func takeN[T any](t *testing.T, ch <-chan *kinesin.Record[T], n int, timeout time.Duration) []*kinesin.Record[T] {
	t.Helper()
	return streamtest.TakeN(t, ch, n, timeout)
}
