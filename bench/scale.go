package bench

import (
	"fmt"
	"log"
	"math"
	"slices"
	"time"

	harlow "github.com/harlow/kinesis-consumer"

	"github.com/kinesin-go/kinesin"
)

// scaleRunners are the consumers of the scale scenario, each with its
// defaults but for reading from TRIM_HORIZON; the bare loop unpaced.
func scaleRunners() []runner {
	return lineup(true, "defaults (polling), WithStart(TrimHorizon)", []kinesin.Option{kinesin.WithStart(kinesin.TrimHorizon)},
		"defaults (ScanInterval 250ms, MaxRecords 10,000), TRIM_HORIZON", harlow.WithShardIteratorType("TRIM_HORIZON"))
}

// runScale consumes each shard count's backlog with each consumer, every
// run in a child process of its own, p.ScaleRuns times interleaved (round i
// starts with consumer i mod n), and keeps the median of each figure.
func runScale(p Params, notes *[]string) ([]Row, error) {
	var rows []Row
	largest := slices.Max(p.ScaleShards)
	runners := scaleRunners()
	for _, shards := range p.ScaleShards {
		perShard := p.ScalePerShard
		if shards == largest && p.ScalePerShardMax > 0 && p.ScalePerShardMax != perShard {
			perShard = p.ScalePerShardMax
			*notes = append(*notes, fmt.Sprintf("scale: %d records per shard at %d shards (%d at the others)",
				perShard, shards, p.ScalePerShard))
		}
		runs := make([][]Row, len(runners))
		for round := range p.ScaleRuns {
			for k := range runners {
				i := (round + k) % len(runners)
				row, err := runInChild(childFlags{Scenario: scScale, Consumer: runners[i].Name, Shards: shards, PerShard: perShard}, p)
				if err != nil {
					return nil, err
				}
				log.Printf("scale %d shards round %d %s: %.2fs, peak RSS %d MiB (%d before), %d goroutines",
					shards, round+1, runners[i].Name, row.Seconds, row.PeakRSS>>20, row.BaseRSS>>20, row.Goroutines)
				runs[i] = append(runs[i], row)
			}
		}
		for _, rs := range runs {
			rows = append(rows, medianRow(rs))
		}
	}
	return rows, nil
}

// medianRow returns the first of rows with the median of each scale figure,
// and every run's time and peak RSS.
func medianRow(rows []Row) Row {
	out := rows[0]
	field := func(f func(Row) float64) (float64, []float64) {
		xs := make([]float64, len(rows))
		for i, r := range rows {
			xs[i] = f(r)
		}
		return median(xs), xs
	}
	out.Seconds, out.RunsSeconds = field(func(r Row) float64 { return r.Seconds })
	out.RecordsPerSec = float64(out.Shards*out.PerShard) / out.Seconds
	out.CPUNsPerRecord, out.RunsCPU = field(func(r Row) float64 { return r.CPUNsPerRecord })
	peak, peaks := field(func(r Row) float64 { return float64(r.PeakRSS) })
	out.PeakRSS = int64(peak)
	out.RunsPeakMiB = make([]float64, len(peaks))
	for i, p := range peaks {
		out.RunsPeakMiB[i] = math.Round(p / (1 << 20))
	}
	base, _ := field(func(r Row) float64 { return float64(r.BaseRSS) })
	out.BaseRSS = int64(base)
	g, _ := field(func(r Row) float64 { return float64(r.Goroutines) })
	out.Goroutines = int(math.Round(g))
	return out
}

// scaleOne fills shards × perShard records, then consumes them with the
// consumer named name, measuring the time, this process's peak resident set
// size from the end of the fill on, and the most goroutines.
func scaleOne(name string, shards, perShard int) (Row, error) {
	r, err := pick(scaleRunners(), name)
	if err != nil {
		return Row{}, err
	}
	fake, _, err := newStream(shards, perShard)
	if err != nil {
		return Row{}, err
	}
	defer fake.Close()
	client := fake.Client()
	settle()
	base, err := procStatus("VmRSS")
	if err != nil {
		return Row{}, err
	}
	hwm := func() (int64, error) { return procStatus("VmHWM") }
	if resetPeakRSS() != nil {
		// The peak of the whole process, the fill included.
		hwm = func() (int64, error) { return maxRSS(), nil }
	}
	g := watchGoroutines(5 * time.Millisecond)
	res, err := consumeBacklog(r, client, shards*perShard, 0, 30*time.Minute)
	goroutines := g.Stop()
	if err != nil {
		return Row{}, err
	}
	peak, err := hwm()
	if err != nil {
		return Row{}, err
	}
	return Row{Scenario: scScale, Consumer: r.Name, Settings: r.Settings, Shards: shards, PerShard: perShard,
		Seconds: res.Wall.Seconds(), RecordsPerSec: float64(shards*perShard) / res.Wall.Seconds(),
		CPUNsPerRecord: float64(res.CPU.Nanoseconds()) / float64(shards*perShard),
		PeakRSS:        peak, BaseRSS: base, Goroutines: goroutines}, nil
}
