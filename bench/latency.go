package bench

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	harlow "github.com/harlow/kinesis-consumer"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// streamingRunners are the consumers of the latency and limits scenarios,
// each with its defaults but for reading from TRIM_HORIZON: kinesin polling,
// kinesin with Enhanced Fan-Out, harlow.
func streamingRunners() []runner {
	var rs []runner
	for _, v := range kinesinVariants {
		rs = append(rs, kinesinRunner(v, v.Name, "defaults (polling: MinInterval 250ms, IdleInterval 500ms doubling to 2s, ReadRate 2 MiB/s), WithStart(TrimHorizon)",
			kinesin.WithStart(kinesin.TrimHorizon)))
	}
	for _, v := range kinesinVariants {
		rs = append(rs, kinesinRunner(v, v.Name+" EFO", "defaults with WithEFO, WithStart(TrimHorizon)",
			kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithEFO(efoConsumer)))
	}
	return append(rs, harlowRunner("defaults (ScanInterval 250ms, MaxRecords 10,000), TRIM_HORIZON",
		harlow.WithShardIteratorType("TRIM_HORIZON")))
}

// runLatency measures, for each consumer on a fake of its own running on the
// real clock, the time from just before a record is put to its delivery,
// under steady traffic: a record on each of p.LatencyShards shards at
// random gaps averaging p.LatencyInterval (uniform from half to one and a
// half of it, so that the puts do not keep one phase against a consumer's
// polls, which would make its p50 a matter of luck). Records put during
// p.LatencyWarm are not counted. Each consumer runs p.LatencyRuns times,
// the consumers interleaved; the percentiles are of every run's samples.
func runLatency(p Params) ([]Row, error) {
	runners := streamingRunners()
	type pool struct {
		samples []time.Duration
		calls   float64
	}
	pools := make([]pool, len(runners))
	for round := range max(p.LatencyRuns, 1) {
		for i, r := range runners {
			samples, calls, err := latencyOne(r, p, uint64(round*len(runners)+i))
			if err != nil {
				return nil, err
			}
			log.Printf("latency round %d %s: p50 %.1f ms, p99 %.1f ms (%d samples), %.2f GetRecords/s/shard",
				round+1, r.Name, msOf(percentile(samples, 50)), msOf(percentile(samples, 99)), len(samples), calls)
			pools[i].samples = append(pools[i].samples, samples...)
			pools[i].calls += calls / float64(max(p.LatencyRuns, 1))
		}
	}
	var rows []Row
	for i, r := range runners {
		s := pools[i].samples
		slices.Sort(s)
		row := Row{Scenario: scLatency, Consumer: r.Name, Settings: r.Settings, Shards: p.LatencyShards,
			P50Ms: msOf(percentile(s, 50)), P99Ms: msOf(percentile(s, 99)), MaxMs: msOf(s[len(s)-1]),
			Samples: len(s), CallsPerShardSec: pools[i].calls}
		log.Printf("latency %s: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d samples), %.2f GetRecords/s/shard",
			r.Name, row.P50Ms, row.P99Ms, row.MaxMs, row.Samples, row.CallsPerShardSec)
		rows = append(rows, row)
	}
	return rows, nil
}

// msOf is d in milliseconds.
func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencyOne runs one consumer under the traffic once, the gaps between puts
// drawn from seed, and returns the latencies of the records put in the
// measured window, sorted, and the GetRecords calls per second per shard.
func latencyOne(r runner, p Params, seed uint64) ([]time.Duration, float64, error) {
	fake, shards, err := newStream(p.LatencyShards, 0)
	if err != nil {
		return nil, 0, err
	}
	defer fake.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	start := time.Now()
	from, until := start.Add(p.LatencyWarm), start.Add(p.LatencyWarm+p.LatencyMeasure)
	var (
		mu      sync.Mutex
		samples []time.Duration
		want    int // records put in [from, until)
	)
	got := make(chan struct{}, 1)
	sink := func(data []byte) bool {
		at := putTime(data)
		lat := time.Since(at)
		if !at.Before(from) && at.Before(until) {
			mu.Lock()
			samples = append(samples, lat)
			mu.Unlock()
			select {
			case got <- struct{}{}:
			default:
			}
		}
		return true
	}
	errc := make(chan error, 1)
	go func() { errc <- r.run(ctx, fake.Client(), sink) }()

	calls := watchCalls(fake, shards)
	defer calls.stop()
	// The traffic: a record on each shard every interval, until the end.
	rnd := rand.New(rand.NewPCG(seed, 14))
	timer := time.NewTimer(0)
	defer timer.Stop()
	data := payload()
	for now := range timer.C {
		timer.Reset(p.LatencyInterval/2 + time.Duration(rnd.Int64N(int64(p.LatencyInterval))))
		if err := early(errc); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", r.Name, err)
		}
		if !now.Before(until) {
			break
		}
		for i, sh := range shards {
			at := time.Now()
			if _, err := fake.PutWithHashKey(streamName, partitionKey(i), sh.StartingHashKey, stamped(data, at)); err != nil {
				return nil, 0, err
			}
			if !at.Before(from) && at.Before(until) { // as the sink counts them
				want++
			}
		}
	}
	rate := calls.rate(from, until)

	// Wait for the records put in the window (at most 10 s more).
	deadline := time.After(10 * time.Second)
	for {
		mu.Lock()
		n := len(samples)
		mu.Unlock()
		if n >= want {
			break
		}
		select {
		case <-got:
		case <-deadline:
			return nil, 0, fmt.Errorf("%s: %d of %d records delivered 10 s after the last put", r.Name, n, want)
		case err := <-errc:
			return nil, 0, fmt.Errorf("%s stopped: %v", r.Name, err)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		return nil, 0, fmt.Errorf("%s: %w", r.Name, err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(samples)
	if len(samples) == 0 {
		return nil, 0, fmt.Errorf("%s: no record put in the measured window", r.Name)
	}
	return samples, rate, nil
}

// callWatch notes when each shard's GetRecords calls reach the fake: a
// fault that lets every call through counts them per shard, and a sampler
// notes the time each count grows (within a millisecond).
type callWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	at   [][]time.Time // per shard
}

func watchCalls(fake *kinesistest.Fake, shards []kinesistest.ShardInfo) *callWatch {
	w := &callWatch{done: make(chan struct{}), at: make([][]time.Time, len(shards))}
	counters := make([]*kinesistest.Injected, len(shards))
	for i, sh := range shards {
		counters[i] = fake.Inject(kinesistest.Fault{Match: kinesistest.Match{Op: "GetRecords", Shard: sh.ID}, Action: kinesistest.Pass})
	}
	seen := make([]int, len(shards))
	w.wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.done:
				return
			case now := <-tick.C:
				w.mu.Lock()
				for i, c := range counters {
					for n := c.Hits(); seen[i] < n; seen[i]++ {
						w.at[i] = append(w.at[i], now)
					}
				}
				w.mu.Unlock()
			}
		}
	})
	return w
}

func (w *callWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.wg.Wait()
}

// rate returns the GetRecords calls a second per shard in [from, until):
// for each shard, the calls in it after the first over the time from the
// first to the last (so that a window cutting a call period counts it
// whole, neither a call more nor less), averaged over the shards.
func (w *callWatch) rate(from, until time.Time) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var sum float64
	n := 0
	for _, at := range w.at {
		var in []time.Time
		for _, t := range at {
			if !t.Before(from) && t.Before(until) {
				in = append(in, t)
			}
		}
		if len(in) < 2 {
			continue
		}
		sum += float64(len(in)-1) / in[len(in)-1].Sub(in[0]).Seconds()
		n++
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// early returns the error of a runner that stopped before it was told to,
// or nil while it runs.
func early(errc <-chan error) error {
	select {
	case err := <-errc:
		return fmt.Errorf("stopped early: %v", err)
	default:
		return nil
	}
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted samples,
// nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// limitsRunners are the consumers of the limits scenario: those of the
// latency scenario.
func limitsRunners() []runner { return streamingRunners() }

// runLimits consumes a backlog of p.LimitsShards × p.LimitsPerShard records
// through a fake with the service's limits on (real clock), one fake per
// consumer, and gives each the read throughput per shard from the 25th
// percent of the backlog to its last record (the catch-up rate, against
// 2 MiB/s; the fake's budget starts with a second's worth, which the first
// quarter absorbs).
func runLimits(p Params) ([]Row, error) {
	limits := kinesistest.DefaultLimits()
	total := p.LimitsShards * p.LimitsPerShard
	from := total / 4
	var rows []Row
	for _, r := range limitsRunners() {
		fake, _, err := newStream(p.LimitsShards, p.LimitsPerShard, kinesistest.WithServiceLimits(limits))
		if err != nil {
			return nil, err
		}
		res, err := consumeBacklog(r, fake.Client(), total, from, 10*time.Minute)
		fake.Close()
		if err != nil {
			return nil, err
		}
		perShard := float64(total-from) / float64(p.LimitsShards) * (recordSize + keySize) / res.FromMark.Seconds()
		row := Row{Scenario: scLimits, Consumer: r.Name, Settings: r.Settings, Shards: p.LimitsShards, PerShard: p.LimitsPerShard,
			MiBPerSec: perShard / (1 << 20), SharePct: 100 * perShard / float64(limits.ReadBytesPerSecond)}
		log.Printf("limits %s: %.2f MiB/s/shard, %.1f%% of 2 MiB/s", r.Name, row.MiBPerSec, row.SharePct)
		rows = append(rows, row)
	}
	return rows, nil
}
