package bench

import (
	"encoding/json"
	"os"
	"slices"
	"time"
)

// Scenario names, in the order of the table.
const (
	scBacklog = "backlog"
	scScale   = "scale"
	scLatency = "latency"
	scLimits  = "limits"
	scIdle    = "idle"
)

// allScenarios are the scenarios in the order they run and are printed.
var allScenarios = []string{scBacklog, scScale, scLatency, scLimits, scIdle}

// Results are what one run of the bench measured, written as JSON by -json
// and read back by -markdown.
type Results struct {
	// Date is when the run started (UTC).
	Date time.Time
	// Commit is the repository's commit, as the script passes it.
	Commit string
	// CPU is the processor's model name; NProc the CPUs the process may use.
	CPU   string
	NProc int
	Go    string
	// MachineNote says what the machine was doing besides, for the README
	// section ("" for a quiet machine).
	MachineNote string
	// Args are the bench's command-line arguments.
	Args []string
	// Params are the sizes the scenarios ran with.
	Params Params
	Rows   []Row
	// Notes tell what the figures need to be read right (a fallback taken,
	// a size scaled down).
	Notes []string
}

// Params are the sizes of the scenarios.
type Params struct {
	Runs            int
	BacklogShards   int
	BacklogPerShard int
	ScaleShards     []int
	ScalePerShard   int
	ScaleRuns       int
	// ScalePerShardMax is the records per shard of the largest shard
	// count, when scaled down.
	ScalePerShardMax int
	LatencyShards    int
	LatencyInterval  time.Duration
	LatencyWarm      time.Duration
	LatencyMeasure   time.Duration
	LatencyRuns      int
	LimitsShards     int
	LimitsPerShard   int
	IdleShards       int
	IdleWarm         time.Duration
	IdleMeasure      time.Duration
}

// Row is one consumer in one scenario; the fields of other scenarios stay
// zero.
type Row struct {
	Scenario string
	Consumer string
	Settings string
	Shards   int `json:",omitempty"`
	PerShard int `json:",omitempty"`

	// backlog and scale: medians of the runs, and every run.
	RecordsPerSec  float64   `json:",omitempty"`
	CPUNsPerRecord float64   `json:",omitempty"`
	RunsRate       []float64 `json:",omitempty"`
	RunsCPU        []float64 `json:",omitempty"`

	// scale: time to deliver every record, the process's peak resident
	// set size while consuming and its resident size before (the fake and
	// its records), the most goroutines seen: medians of the runs, and
	// every run's time and peak.
	Seconds     float64   `json:",omitempty"`
	RunsSeconds []float64 `json:",omitempty"`
	RunsPeakMiB []float64 `json:",omitempty"`
	PeakRSS     int64     `json:",omitempty"`
	BaseRSS     int64     `json:",omitempty"`
	Goroutines  int       `json:",omitempty"`

	// latency: put-to-delivery percentiles, in ms.
	P50Ms   float64 `json:",omitempty"`
	P99Ms   float64 `json:",omitempty"`
	MaxMs   float64 `json:",omitempty"`
	Samples int     `json:",omitempty"`
	// latency and idle: GetRecords calls a second per shard.
	CallsPerShardSec float64 `json:",omitempty"`

	// limits: catch-up read throughput per shard, and its share of the
	// limit.
	MiBPerSec float64 `json:",omitempty"`
	SharePct  float64 `json:",omitempty"`

	// idle: CPU seconds a second (cores).
	Cores float64 `json:",omitempty"`
}

// rows returns the rows of scenario sc.
func (r *Results) rows(sc string) []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Scenario == sc {
			out = append(out, row)
		}
	}
	return out
}

// find returns the row of consumer name in scenario sc with shards shards
// (0: any), or nil.
func (r *Results) find(sc, name string, shards int) *Row {
	i := slices.IndexFunc(r.Rows, func(row Row) bool {
		return row.Scenario == sc && row.Consumer == name && (shards == 0 || row.Shards == shards)
	})
	if i < 0 {
		return nil
	}
	return &r.Rows[i]
}

// save writes the results to path as JSON.
func (r *Results) save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// loadResults reads results written by save.
func loadResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
