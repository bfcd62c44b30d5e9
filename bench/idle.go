package bench

import (
	"context"
	"fmt"
	"log"
	"runtime"
	"time"

	"github.com/kinesin-go/kinesin/kinesistest"
)

// idleRunners are the consumers of the idle scenario, with their defaults
// (both start at LATEST).
func idleRunners() []runner {
	return lineup(false, "defaults (polling, IdleInterval 500ms doubling to MaxIdleInterval 2s)", nil, "defaults (ScanInterval 250ms)")
}

// runIdle measures each consumer idling on an empty stream, each in a child
// process.
func runIdle(p Params) ([]Row, error) {
	var rows []Row
	for _, r := range idleRunners() {
		row, err := runInChild(childFlags{Scenario: scIdle, Consumer: r.Name, Shards: p.IdleShards}, p)
		if err != nil {
			return nil, err
		}
		log.Printf("idle %d shards %s: %.3f cores, %.2f GetRecords/s/shard", p.IdleShards, r.Name, row.Cores, row.CallsPerShardSec)
		rows = append(rows, row)
	}
	return rows, nil
}

// idleOne starts the consumer named name on a stream of empty shards, lets
// it settle for p.IdleWarm, then measures the CPU time and the GetRecords
// calls of p.IdleMeasure.
func idleOne(name string, shards int, p Params) (Row, error) {
	r, err := pick(idleRunners(), name)
	if err != nil {
		return Row{}, err
	}
	fake, _, err := newStream(shards, 0)
	if err != nil {
		return Row{}, err
	}
	defer fake.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- r.run(ctx, fake.Client(), func([]byte) bool { return true }) }()
	cores, calls, err := idleWindow(fake, p.IdleWarm, p.IdleMeasure, errc)
	if err != nil {
		return Row{}, fmt.Errorf("%s: %w", name, err)
	}
	goroutines := runtime.NumGoroutine()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			return Row{}, fmt.Errorf("%s: %w", name, err)
		}
	case <-time.After(time.Minute):
		return Row{}, fmt.Errorf("%s did not stop within a minute", name)
	}
	return Row{Scenario: scIdle, Consumer: r.Name, Settings: r.Settings, Shards: shards,
		Cores: cores, CallsPerShardSec: calls / float64(shards), Goroutines: goroutines}, nil
}

// idleWindow waits warm, then returns the CPU time a second over measure
// and the GetRecords calls a second; errc reporting early is an error.
func idleWindow(fake *kinesistest.Fake, warm, measure time.Duration, errc <-chan error) (cores, calls float64, err error) {
	wait := func(d time.Duration) error {
		select {
		case err := <-errc:
			return fmt.Errorf("the consumer stopped: %v", err)
		case <-time.After(d):
			return nil
		}
	}
	if err := wait(warm); err != nil {
		return 0, 0, err
	}
	cpu0, calls0, t0 := cpuTime(), fake.Calls("GetRecords"), time.Now()
	if err := wait(measure); err != nil {
		return 0, 0, err
	}
	cpu1, calls1, t1 := cpuTime(), fake.Calls("GetRecords"), time.Now()
	secs := t1.Sub(t0).Seconds()
	return (cpu1 - cpu0).Seconds() / secs, float64(calls1-calls0) / secs, nil
}
