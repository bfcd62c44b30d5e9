package bench

import (
	"log"
	"slices"
	"time"

	harlow "github.com/harlow/kinesis-consumer"

	"github.com/kinesin-go/kinesin"
)

// backlogRunners are the consumers of the backlog scenario, all unpaced:
// the bare loop, kinesin polling with no pacing, harlow with its scan
// interval at 1 ns (a call as soon as the last one's records are processed).
// Each reads from TRIM_HORIZON, 10,000 records a call.
func backlogRunners() []runner {
	return lineup(true, unpacedSettings, []kinesin.Option{kinesin.WithStart(kinesin.TrimHorizon), kinesin.WithPolling(unpaced)},
		"ScanInterval 1ns (unpaced), MaxRecords 10,000 (default)",
		harlow.WithShardIteratorType("TRIM_HORIZON"), harlow.WithScanInterval(time.Nanosecond))
}

// runBacklog consumes shards × perShard records of 200 bytes runs times with
// each consumer, interleaved (round i starts with consumer i mod n), after a
// round of warm-up, and gives each the median records/s and CPU ns/record of
// its runs. The fake
// alone (serving GetRecords with nobody decoding) runs too, as the floor of
// every row: the process's CPU time counts the fake's work as well.
func runBacklog(p Params) ([]Row, error) {
	fake, _, err := newStream(p.BacklogShards, p.BacklogPerShard)
	if err != nil {
		return nil, err
	}
	defer fake.Close()
	total := p.BacklogShards * p.BacklogPerShard
	runners := append(backlogRunners(), fakeAloneRunner(fake))
	rates := make([][]float64, len(runners))
	cpus := make([][]float64, len(runners))
	// A first round, not counted, grows the heap and warms the caches for all.
	for _, r := range runners {
		if _, err := consumeBacklog(r, fake.Client(), total, 0, 10*time.Minute); err != nil {
			return nil, err
		}
	}
	for round := range p.Runs {
		for k := range runners {
			i := (round + k) % len(runners)
			settle()
			res, err := consumeBacklog(runners[i], fake.Client(), total, 0, 10*time.Minute)
			if err != nil {
				return nil, err
			}
			rates[i] = append(rates[i], float64(total)/res.Wall.Seconds())
			cpus[i] = append(cpus[i], float64(res.CPU.Nanoseconds())/float64(total))
			log.Printf("backlog round %d %s: %.0f records/s, %.0f CPU ns/record", round+1, runners[i].Name,
				rates[i][len(rates[i])-1], cpus[i][len(cpus[i])-1])
		}
	}
	rows := make([]Row, len(runners))
	for i, r := range runners {
		rows[i] = Row{Scenario: scBacklog, Consumer: r.Name, Settings: r.Settings, Shards: p.BacklogShards,
			PerShard: p.BacklogPerShard, RecordsPerSec: median(rates[i]), CPUNsPerRecord: median(cpus[i]),
			RunsRate: rates[i], RunsCPU: cpus[i]}
	}
	return rows, nil
}

// median returns the median of xs (the mean of the middle two for an even
// count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
