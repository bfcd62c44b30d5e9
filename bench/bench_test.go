package bench

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand for the bench binary when a test
// re-executes it as a child (runInChild runs os.Executable).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		if err := run(os.Args[1:]); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tiny are sizes small enough for a smoke test.
func tiny() Params {
	p := defaultParams()
	p.Runs = 1
	p.BacklogShards, p.BacklogPerShard = 2, 300
	p.ScaleShards, p.ScalePerShard, p.ScaleRuns = []int{3}, 100, 2
	p.LatencyShards, p.LatencyWarm, p.LatencyMeasure = 1, 100*time.Millisecond, 700*time.Millisecond
	p.LimitsShards, p.LimitsPerShard = 2, 500
	p.IdleShards, p.IdleWarm, p.IdleMeasure = 4, 200*time.Millisecond, time.Second
	return p
}

// Every backlog consumer, the fake alone included, delivers every record
// once, with a positive rate and CPU cost.
func TestBacklog(t *testing.T) {
	rows, err := runBacklog(tiny())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(backlogRunners())+1 {
		t.Fatalf("%d rows, want one per consumer and the fake alone", len(rows))
	}
	for _, r := range rows {
		if r.RecordsPerSec <= 0 || r.CPUNsPerRecord <= 0 {
			t.Errorf("%s: %.0f records/s, %.0f CPU ns/record", r.Consumer, r.RecordsPerSec, r.CPUNsPerRecord)
		}
	}
}

// The scale scenario runs each consumer in a child process (this test
// binary, through TestMain) and reads back its row.
func TestScaleInChildren(t *testing.T) {
	var notes []string
	p := tiny()
	rows, err := runScale(p, &notes)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(scaleRunners()) {
		t.Fatalf("%d rows, want %d", len(rows), len(scaleRunners()))
	}
	for _, r := range rows {
		if len(r.RunsSeconds) != 2 || r.Seconds <= 0 || r.CPUNsPerRecord <= 0 || r.BaseRSS <= 0 || r.PeakRSS <= 0 || r.Goroutines <= 0 || r.Shards != 3 || r.PerShard != 100 {
			t.Errorf("%s: %+v", r.Consumer, r)
		}
	}
}

// Each streaming consumer delivers the records of the measured window and
// gets latency percentiles from them.
func TestLatency(t *testing.T) {
	rows, err := runLatency(tiny())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Samples == 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms {
			t.Errorf("%s: %+v", r.Consumer, r)
		}
	}
}

// The service-limits scenario reads a backlog under the fake's limits.
func TestLimits(t *testing.T) {
	rows, err := runLimits(tiny())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.SharePct <= 0 {
			t.Errorf("%s: %+v", r.Consumer, r)
		}
	}
}

// The idle scenario measures CPU and calls of consumers on empty shards.
func TestIdle(t *testing.T) {
	p := tiny()
	for _, r := range idleRunners() {
		row, err := idleOne(r.Name, p.IdleShards, p)
		if err != nil {
			t.Fatal(err)
		}
		if row.Cores <= 0 || row.CallsPerShardSec <= 0 {
			t.Errorf("%s: %+v", r.Name, row)
		}
	}
}

// The README section names where it was measured and holds a row per
// consumer; the targets name each of issue 14's.
func TestReport(t *testing.T) {
	r := &Results{Date: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Commit: "abc1234", MachineNote: "it was busy", CPU: "Some CPU", NProc: 2,
		Go: "go1.26", Params: tiny(), Notes: []string{"a note"}}
	r.Params.ScaleShards = []int{3, 5}
	r.Rows = []Row{
		{Scenario: scBacklog, Consumer: bareName, Settings: "s1", RecordsPerSec: 200000, CPUNsPerRecord: 5000},
		{Scenario: scBacklog, Consumer: "kinesin", Settings: "s2", RecordsPerSec: 100000, CPUNsPerRecord: 2000},
		{Scenario: scScale, Consumer: "kinesin", Shards: 3, PerShard: 100, Seconds: 1, RecordsPerSec: 300, CPUNsPerRecord: 4000, PeakRSS: 3 << 20, BaseRSS: 1 << 20},
		{Scenario: scScale, Consumer: harlowName, Settings: "s3", Shards: 3, PerShard: 100, Seconds: 2, RecordsPerSec: 150, CPUNsPerRecord: 2000, PeakRSS: 2 << 20, BaseRSS: 1 << 20},
		{Scenario: scScale, Consumer: harlowName, Settings: "s3", Shards: 5, PerShard: 100, Seconds: 2, RecordsPerSec: 250, PeakRSS: 2 << 20, BaseRSS: 1 << 20},
		{Scenario: scLatency, Consumer: "kinesin EFO", P50Ms: 0.2, P99Ms: 1.5, MaxMs: 3, Samples: 10},
		{Scenario: scIdle, Consumer: "kinesin", Cores: 0.1, CallsPerShardSec: 1},
	}
	var b bytes.Buffer
	writeSection(&b, r)
	for _, want := range []string{"2030-01-02", "`abc1234`", "2 × Some CPU", "| bare SDK loop | 200,000 records/s · 5,000 CPU ns/record |",
		"0.50× the bare loop's records/s, 0.40× its CPU/record", "2.00× harlow's records/s, 2.00× its CPU/record, 1.50× its peak RSS",
		"p50 0.2 ms · p99 1.5 ms", "10.0% of a core", "- a note", "- backlog, kinesin: s2", "not with other runs: it was busy.",
		"| scale: 5 shards × 100 records | harlow v0.5.0 |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("section lacks %q:\n%s", want, b.String())
		}
	}
	if n := strings.Count(b.String(), "- scale, harlow v0.5.0: s3"); n != 1 {
		t.Errorf("harlow's scale settings listed %d times, want once", n)
	}
	b.Reset()
	writeTargets(&b, r)
	for _, want := range []string{"| backlog CPU ns/record at most 0.5× the bare loop's (the fake's CPU included, as measured) | 2,000 vs 5,000 (0.40×) | yes |",
		"| 512 shards: records/s and peak RSS against harlow's |  | not measured |", "| EFO p99 < 5 ms | 1.5 ms | yes |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("targets lack %q:\n%s", want, b.String())
		}
	}
}

// The section replaces what lies between the markers, and nothing else; a
// README without them is refused.
func TestReplaceSection(t *testing.T) {
	doc := "# x\n\n## Performance\n\n" + markStart + "\nold\nlines\n" + markEnd + "\n\nafter\n"
	out, err := replaceSection([]byte(doc), []byte("\nnew\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# x\n\n## Performance\n\n" + markStart + "\nnew\n" + markEnd + "\n\nafter\n"
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if _, err := replaceSection([]byte("no markers"), nil); !errors.Is(err, errNoMarkers) {
		t.Errorf("without markers: %v", err)
	}
	if _, err := replaceSection([]byte(markEnd+markStart), nil); !errors.Is(err, errNoMarkers) {
		t.Errorf("markers swapped: %v", err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replaceSection(readme, []byte("x")); err != nil {
		t.Errorf("the repository's README: %v", err)
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.6: "1,234,568", -12345: "-12,345"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}
