package oteltest_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/internal/streamtest"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// A failing Open leaves no OpenTelemetry callback registered (nor any
// goroutine): the observable instruments of a stream that never ran report
// nothing.
func TestFailingOpenUnregistersCallbacks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fake := streamtest.NewFake(t, 2)
	fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "ListShards"}, Action: kinesistest.Fail("AccessDeniedException")})
	o := newOTelSink(t)
	if _, err := kinesin.Open(streamtest.Ctx(t, 10*time.Second), streamtest.Stream, kinesin.JSON[streamtest.Item],
		append(o.options(), kinesin.WithClient(fake.Client()))...); err == nil {
		t.Fatal("Open succeeded")
	}
	for name, in := range o.collect(t) {
		if len(in.points) > 0 {
			t.Errorf("%s reports %d points after a failed Open: its callback is still registered", name, len(in.points))
		}
	}
}

// A checkpoint whose records were trimmed by retention before they were
// read counts once in kinesin.checkpoint.expired, on the shard.
func TestTelemetryCheckpointExpired(t *testing.T) {
	streamtest.EachModeParallel(t, func(t *testing.T, m streamtest.Mode) {
		clock := kinesistest.NewManualClock(time.Time{})
		fake := m.NewFake(t, 1, kinesistest.WithClock(clock))
		const id = "shardId-000000000000"
		old := streamtest.FillShards(t, fake, streamtest.Stream, 10)[id]
		store := memcheckpoint.New()
		if err := store.Save(context.Background(), telApp, streamtest.Stream, map[string]checkpoint.Checkpoint{id: checkpoint.At(old[4])}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Hour)
		streamtest.FillShards(t, fake, streamtest.Stream, 3)
		if err := fake.SetRetention(streamtest.Stream, time.Hour); err != nil {
			t.Fatal(err)
		}
		if n, _ := fake.Trim(streamtest.Stream); n != 10 {
			t.Fatalf("trimmed %d records, want 10", n)
		}
		o := newOTelSink(t)
		st := streamtest.Open(t, m, streamtest.Ctx(t, 20*time.Second), fake, kinesin.JSON[streamtest.Item],
			append(o.options(), kinesin.WithCheckpointer(store))...)
		c := streamtest.Collect(st, true)
		streamtest.Eventually(t, 5*time.Second, func() bool { return c.Count() == 3 }, "the records inside retention: %d", c.Count())
		if n := o.collect(t).sum("kinesin.checkpoint.expired", shardIs(id)); n != 1 {
			t.Errorf("kinesin.checkpoint.expired = %v, want 1", n)
		}
	})
}
