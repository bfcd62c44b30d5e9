// Package bench measures kinesin against github.com/harlow/kinesis-consumer
// v0.5.0 and a bare aws-sdk-go-v2 GetRecords loop, all in one process on the
// same in-process fake (kinesistest), and prints one table:
//
//   - backlog: 4 shards × 50,000 records of 200 bytes read from
//     TRIM_HORIZON, unpaced: records/s and CPU ns/record (the process's CPU
//     time, getrusage), the median of 5 runs, the consumers interleaved;
//   - scale: 1, 16, 128, 512 and 1,024 shards × 2,000 records, with each
//     consumer's defaults, each run in a child process of its own: time to
//     deliver every record, peak resident set size, most goroutines, the
//     median of 3 runs;
//   - latency: put-to-delivery p50 and p99 under steady traffic (puts at
//     random gaps) with each consumer's defaults (kinesin polling, kinesin
//     Enhanced Fan-Out, harlow), on the fake's real clock, 3 interleaved
//     runs of each;
//   - service limits: the share of 2 MiB/s per shard each reaches catching
//     up, with the fake's limits on;
//   - idle: the CPU of 1,024 empty shards with defaults.
//
// Its command is bench/cmd/bench (Main here). Usage:
//
//	bench [-json results.json] [-scenarios backlog,scale,...] [sizes...]
//	bench -markdown results.json [-readme ../README.md]
//
// The first form runs the scenarios, prints the table and issue 14's
// targets, and writes the results as JSON. The second prints the README's
// Performance section from such results (or writes it between the
// <!-- bench:start --> and <!-- bench:end --> markers of -readme). The
// script bench/run does both.
package bench

import (
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Main runs the bench with the command line args (without the program's
// name): the command bench/cmd/bench, and the children it re-executes.
// A -h asked for returns flag.ErrHelp.
func Main(args []string) error {
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench: ")
	return run(args)
}

func run(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	p := defaultParams()
	var (
		jsonOut   = fs.String("json", "", "write the results as JSON to this file")
		markdown  = fs.String("markdown", "", "print the README section of these JSON results instead of measuring")
		readme    = fs.String("readme", "", "with -markdown: write the section between the markers of this README")
		commit    = fs.String("commit", "", "the commit measured, for the README section")
		note      = fs.String("machine-note", "the machine was shared with other work", "what the machine was doing besides, for the README section (\"\" for a quiet machine)")
		scenarios = fs.String("scenarios", strings.Join(allScenarios, ","), "the scenarios to run, comma-separated")
		scale     = fs.String("scale-shards", "1,16,128,512,1024", "the shard counts of the scale scenario")
		child     = fs.String("child", "", "internal: run one scenario of one consumer and print its row")
		consumer  = fs.String("consumer", "", "internal: the consumer of -child")
		shards    = fs.Int("shards", 0, "internal: the shards of -child")
		perShard  = fs.Int("per-shard", 0, "internal: the records per shard of -child")
	)
	fs.IntVar(&p.Runs, "runs", p.Runs, "runs of each consumer in the backlog scenario (the median is kept)")
	fs.IntVar(&p.BacklogPerShard, "backlog-per-shard", p.BacklogPerShard, "records per shard of the backlog scenario")
	fs.IntVar(&p.ScaleRuns, "scale-runs", p.ScaleRuns, "runs of each consumer at each shard count (the median is kept)")
	fs.IntVar(&p.ScalePerShard, "scale-per-shard", p.ScalePerShard, "records per shard of the scale scenario")
	fs.IntVar(&p.ScalePerShardMax, "scale-per-shard-max", p.ScalePerShardMax, "records per shard at the largest shard count (0: -scale-per-shard)")
	fs.DurationVar(&p.LatencyWarm, "latency-warm", p.LatencyWarm, "traffic not measured at the start of each latency run")
	fs.IntVar(&p.LatencyRuns, "latency-runs", p.LatencyRuns, "runs of each consumer in the latency scenario (the percentiles are of every run's samples)")
	fs.DurationVar(&p.LatencyMeasure, "latency-measure", p.LatencyMeasure, "traffic measured in each latency run")
	fs.IntVar(&p.LimitsPerShard, "limits-per-shard", p.LimitsPerShard, "records per shard of the service-limits scenario")
	fs.IntVar(&p.IdleShards, "idle-shards", p.IdleShards, "shards of the idle scenario")
	fs.DurationVar(&p.IdleWarm, "idle-warm", p.IdleWarm, "time the idle consumers settle before the measure")
	fs.DurationVar(&p.IdleMeasure, "idle-measure", p.IdleMeasure, "time the idle CPU is measured over")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *child != "" {
		return childMain(childFlags{Scenario: *child, Consumer: *consumer, Shards: *shards, PerShard: *perShard}, p)
	}
	if *markdown != "" {
		r, err := loadResults(*markdown)
		if err != nil {
			return err
		}
		if *readme != "" {
			return updateReadme(*readme, r)
		}
		writeSection(os.Stdout, r)
		return nil
	}
	var err error
	if p.ScaleShards, err = parseInts(*scale); err != nil {
		return fmt.Errorf("-scale-shards: %w", err)
	}
	want := strings.Split(*scenarios, ",")
	for _, sc := range want {
		if !slices.Contains(allScenarios, sc) {
			return fmt.Errorf("-scenarios: no scenario %q (have %s)", sc, strings.Join(allScenarios, ", "))
		}
	}
	r := &Results{Date: time.Now().UTC(), Commit: *commit, MachineNote: *note, CPU: cpuModel(), NProc: runtime.NumCPU(),
		Go: runtime.Version(), Args: args, Params: p}
	steps := []struct {
		name string
		run  func() ([]Row, error)
	}{
		{scBacklog, func() ([]Row, error) { return runBacklog(p) }},
		{scScale, func() ([]Row, error) { return runScale(p, &r.Notes) }},
		{scLatency, func() ([]Row, error) { return runLatency(p) }},
		{scLimits, func() ([]Row, error) { return runLimits(p) }},
		{scIdle, func() ([]Row, error) { return runIdle(p) }},
	}
	for _, s := range steps {
		if !slices.Contains(want, s.name) {
			continue
		}
		log.Printf("%s...", s.name)
		rows, err := s.run()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		r.Rows = append(r.Rows, rows...)
		if *jsonOut != "" { // after each scenario, so that a failure keeps the others
			if err := r.save(*jsonOut); err != nil {
				return err
			}
		}
	}
	writeSection(os.Stdout, r)
	fmt.Println()
	writeTargets(os.Stdout, r)
	return nil
}

// defaultParams are the sizes of issue 14.
func defaultParams() Params {
	return Params{
		Runs: 5, BacklogShards: 4, BacklogPerShard: 50000,
		ScaleShards: []int{1, 16, 128, 512, 1024}, ScalePerShard: 2000, ScaleRuns: 3,
		LatencyShards: 4, LatencyInterval: 10 * time.Millisecond, LatencyWarm: 2 * time.Second, LatencyMeasure: 8 * time.Second, LatencyRuns: 3,
		LimitsShards: 4, LimitsPerShard: 200000,
		IdleShards: 1024, IdleWarm: 5 * time.Second, IdleMeasure: 10 * time.Second,
	}
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// cpuModel returns the processor's model name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
