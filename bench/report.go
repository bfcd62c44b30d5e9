package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Markers delimit the generated part of the README's Performance section.
const (
	markStart = "<!-- bench:start -->"
	markEnd   = "<!-- bench:end -->"
)

// errNoMarkers is returned when a README lacks the marker pair.
var errNoMarkers = errors.New("the README has no " + markStart + " ... " + markEnd + " pair")

// writeSection writes the README section of r: where and how it was
// measured, the table, each row's settings and the notes.
func writeSection(w io.Writer, r *Results) {
	commit := r.Commit
	if commit == "" {
		commit = "unknown"
	}
	fmt.Fprintf(w, "Measured by `bench/run` on %s at commit `%s`, on %d × %s (`nproc` %d), %s. ",
		r.Date.UTC().Format("2006-01-02"), commit, r.NProc, r.CPU, r.NProc, r.Go)
	fmt.Fprintf(w, "The bench module runs kinesin, github.com/harlow/kinesis-consumer v0.5.0 and a bare "+
		"aws-sdk-go-v2 GetRecords loop in one process, against the same in-process fake (`kinesistest`, "+
		"its in-process transport): the fake's work counts in every CPU figure (the backlog's row of the fake alone gives its share there). "+
		"Compare the rows of this one run with each other, not with other runs")
	if r.MachineNote != "" {
		fmt.Fprintf(w, ": %s", r.MachineNote)
	}
	fmt.Fprintf(w, ".\n\n")
	writeTable(w, r)
	fmt.Fprintf(w, "\nSettings of each row:\n\n")
	seen := map[string]bool{}
	for _, sc := range allScenarios {
		for _, row := range r.rows(sc) {
			line := fmt.Sprintf("- %s, %s: %s\n", scenarioShort(sc), row.Consumer, row.Settings)
			if !seen[line] { // once, not once per shard count
				seen[line] = true
				fmt.Fprint(w, line)
			}
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "\nNotes:\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// scenarioShort names a scenario in the settings list.
func scenarioShort(sc string) string {
	switch sc {
	case scLimits:
		return "service limits"
	case scIdle:
		return "idle"
	}
	return sc
}

// writeTable writes the one table of every scenario.
func writeTable(w io.Writer, r *Results) {
	p := r.Params
	fmt.Fprintf(w, "| scenario | consumer | figures | compared |\n|---|---|---|---|\n")
	row := func(scenario string, x Row, figures, compared string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", scenario, x.Consumer, figures, compared)
	}
	first := func(i int, s string) string {
		if i == 0 {
			return s
		}
		return ""
	}

	bare := r.find(scBacklog, bareName, 0)
	fake := r.find(scBacklog, fakeAloneName, 0)
	for i, x := range r.rows(scBacklog) {
		cmp := ""
		if bare != nil && x.Consumer != bareName {
			cmp = fmt.Sprintf("%s× the bare loop's records/s, %s× its CPU/record",
				ratio(x.RecordsPerSec, bare.RecordsPerSec), ratio(x.CPUNsPerRecord, bare.CPUNsPerRecord))
			if net, ok := netOfFake(&x, bare, fake); ok && x.Consumer != fakeAloneName {
				cmp += fmt.Sprintf(" (%s× net of the fake's CPU/record)", ratio(net, 1))
			}
		}
		row(first(i, fmt.Sprintf("backlog: %d shards × %s records × %d B from TRIM_HORIZON, median of %d interleaved runs after one of warm-up",
			p.BacklogShards, thousands(float64(p.BacklogPerShard)), recordSize, p.Runs)),
			x, fmt.Sprintf("%s records/s · %s CPU ns/record", thousands(x.RecordsPerSec), thousands(x.CPUNsPerRecord)), cmp)
	}

	for n, shards := range p.ScaleShards {
		harl := r.find(scScale, harlowName, shards)
		var rows []Row
		for _, x := range r.rows(scScale) {
			if x.Shards == shards {
				rows = append(rows, x)
			}
		}
		for i, x := range rows {
			cmp := ""
			if harl != nil && x.Consumer != harlowName {
				cmp = fmt.Sprintf("%s× harlow's records/s, %s× its CPU/record, %s× its peak RSS",
					ratio(x.RecordsPerSec, harl.RecordsPerSec), ratio(x.CPUNsPerRecord, harl.CPUNsPerRecord),
					ratio(float64(x.PeakRSS), float64(harl.PeakRSS)))
			}
			scenario := fmt.Sprintf("scale: %s × %s records", plural(shards, "shard"), thousands(float64(x.PerShard)))
			if n == 0 {
				scenario += fmt.Sprintf(" × %d B from TRIM_HORIZON, median of %d interleaved runs, each in a process of its own; "+
					"peak RSS while consuming, and (before) the process's RSS once the fake holds the records", recordSize, p.ScaleRuns)
			}
			row(first(i, scenario),
				x, fmt.Sprintf("%.2f s (%s records/s) · %s CPU ns/record · peak RSS %s (%s before) · %s goroutines",
					x.Seconds, thousands(x.RecordsPerSec), thousands(x.CPUNsPerRecord), mib(x.PeakRSS), mib(x.BaseRSS),
					thousands(float64(x.Goroutines))), cmp)
		}
	}

	harlLat := r.find(scLatency, harlowName, 0)
	for i, x := range r.rows(scLatency) {
		cmp := ""
		if harlLat != nil && x.Consumer != harlowName && !strings.HasSuffix(x.Consumer, " EFO") { // polling against polling
			cmp = fmt.Sprintf("p50 %s× harlow's, p99 %s×", ratio(x.P50Ms, harlLat.P50Ms), ratio(x.P99Ms, harlLat.P99Ms))
		}
		calls := ""
		if x.CallsPerShardSec > 0 {
			calls = fmt.Sprintf(" · %.2f GetRecords/s/shard", x.CallsPerShardSec)
		}
		row(first(i, fmt.Sprintf("latency, put to delivery: %d shards, a record on each at random gaps of %v on average (%v to %v) for %v (after %v), real clock; %d interleaved runs of each, percentiles of all their samples",
			p.LatencyShards, p.LatencyInterval, p.LatencyInterval/2, p.LatencyInterval*3/2, p.LatencyMeasure, p.LatencyWarm, max(p.LatencyRuns, 1))),
			x, fmt.Sprintf("p50 %s · p99 %s · max %s (%s samples)%s", ms(x.P50Ms), ms(x.P99Ms), ms(x.MaxMs),
				thousands(float64(x.Samples)), calls), cmp)
	}

	for i, x := range r.rows(scLimits) {
		row(first(i, fmt.Sprintf("service limits on (2 MiB/s and 5 calls/s per shard): %d shards × %s records, from the 25th percent to the last record",
			p.LimitsShards, thousands(float64(p.LimitsPerShard)))),
			x, fmt.Sprintf("%.2f MiB/s per shard", x.MiBPerSec), fmt.Sprintf("%.1f%% of 2 MiB/s", x.SharePct))
	}

	harlIdle := r.find(scIdle, harlowName, 0)
	for i, x := range r.rows(scIdle) {
		cmp := ""
		if harlIdle != nil && x.Consumer != harlowName {
			cmp = fmt.Sprintf("%s× harlow's CPU", ratio(x.Cores, harlIdle.Cores))
		}
		row(first(i, fmt.Sprintf("idle: %s empty shards, measured for %v after %v", thousands(float64(p.IdleShards)), p.IdleMeasure, p.IdleWarm)),
			x, fmt.Sprintf("%.1f%% of a core · %.2f GetRecords/s/shard · %s goroutines", 100*x.Cores, x.CallsPerShardSec,
				thousands(float64(x.Goroutines))), cmp)
	}
}

// writeTargets writes issue 14's targets against the results, for the
// first kinesin variant.
func writeTargets(w io.Writer, r *Results) {
	k := kinesinVariants[0].Name
	fmt.Fprintf(w, "| target (issue 14) | measured | met |\n|---|---|---|\n")
	target := func(what, measured string, ok, known bool) {
		met := "no"
		switch {
		case !known:
			met = "not measured"
		case ok:
			met = "yes"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", what, measured, met)
	}
	shards := 512
	if kin, harl := r.find(scScale, k, shards), r.find(scScale, harlowName, shards); kin != nil && harl != nil {
		rate, rss := kin.RecordsPerSec/harl.RecordsPerSec, float64(kin.PeakRSS)/float64(harl.PeakRSS)
		target("512 shards: records/s at least 1.5× harlow's",
			fmt.Sprintf("%s× (CPU/record %s× harlow's)", ratio(rate, 1), ratio(kin.CPUNsPerRecord, harl.CPUNsPerRecord)), rate >= 1.5, true)
		target("512 shards: peak RSS at most harlow's", fmt.Sprintf("%s vs %s (%s×)", mib(kin.PeakRSS), mib(harl.PeakRSS), ratio(rss, 1)), rss <= 1, true)
	} else {
		target("512 shards: records/s and peak RSS against harlow's", "", false, false)
	}
	if kin, bare := r.find(scBacklog, k, 0), r.find(scBacklog, bareName, 0); kin != nil && bare != nil {
		x := kin.CPUNsPerRecord / bare.CPUNsPerRecord
		net := ""
		if n, ok := netOfFake(kin, bare, r.find(scBacklog, fakeAloneName, 0)); ok {
			net = fmt.Sprintf("; net of the fake's, %s×", ratio(n, 1))
		}
		target("backlog CPU ns/record at most 0.5× the bare loop's (the fake's CPU included, as measured)",
			fmt.Sprintf("%s vs %s (%s×%s)", thousands(kin.CPUNsPerRecord), thousands(bare.CPUNsPerRecord), ratio(x, 1), net), x <= 0.5, true)
	} else {
		target("backlog CPU ns/record at most 0.5× the bare loop's", "", false, false)
	}
	if kin, harl := r.find(scLatency, k, 0), r.find(scLatency, harlowName, 0); kin != nil && harl != nil {
		target("polling p50 at most harlow's", fmt.Sprintf("%.1f ms vs %.1f ms", kin.P50Ms, harl.P50Ms), kin.P50Ms <= harl.P50Ms, true)
	} else {
		target("polling p50 at most harlow's", "", false, false)
	}
	if kin := r.find(scLatency, k, 0); kin != nil {
		target("polling p50 ≤ 130 ms, p99 ≤ 260 ms, ≤ 4 GetRecords/s/shard",
			fmt.Sprintf("p50 %s, p99 %s, %.2f calls/s/shard", ms(kin.P50Ms), ms(kin.P99Ms), kin.CallsPerShardSec),
			// Calls are counted whole over the window: compare the rate as
			// printed, to two decimals.
			kin.P50Ms <= 130 && kin.P99Ms <= 260 && math.Round(kin.CallsPerShardSec*100) <= 400, true)
	} else {
		target("polling p50 ≤ 130 ms, p99 ≤ 260 ms, ≤ 4 GetRecords/s/shard", "", false, false)
	}
	if kin := r.find(scLatency, k+" EFO", 0); kin != nil {
		target("EFO p99 < 5 ms", ms(kin.P99Ms), kin.P99Ms < 5, true)
	} else {
		target("EFO p99 < 5 ms", "", false, false)
	}
	if kin, harl := r.find(scIdle, k, 0), r.find(scIdle, harlowName, 0); kin != nil {
		than := ""
		if harl != nil {
			than = fmt.Sprintf(" (harlow %.1f%%)", 100*harl.Cores)
		}
		target("idle at 1,024 empty shards at most half of the issue's ~35% of a core (≤ 17.5%)",
			fmt.Sprintf("%.1f%% of a core%s", 100*kin.Cores, than), kin.Cores <= 0.175, true)
	} else {
		target("idle at 1,024 empty shards at most half of the issue's ~35% of a core", "", false, false)
	}
}

// replaceSection replaces what lies between the markers of readme with
// section, and returns the new document.
func replaceSection(readme, section []byte) ([]byte, error) {
	i := bytes.Index(readme, []byte(markStart))
	j := bytes.Index(readme, []byte(markEnd))
	if i < 0 || j < i {
		return nil, errNoMarkers
	}
	var out bytes.Buffer
	out.Write(readme[:i+len(markStart)])
	out.WriteString("\n")
	out.Write(bytes.TrimSpace(section))
	out.WriteString("\n")
	out.Write(readme[j:])
	return out.Bytes(), nil
}

// updateReadme writes the section of r between the markers of the README
// at path.
func updateReadme(path string, r *Results) error {
	readme, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var section bytes.Buffer
	writeSection(&section, r)
	out, err := replaceSection(readme, section.Bytes())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// plural formats n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return thousands(float64(n)) + " " + thing + "s"
}

// ratio formats a/b with two decimals ("n/a" when b is 0).
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

// ms formats milliseconds: one decimal below 100 ms, none above.
func ms(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return thousands(v) + " ms"
}

// mib formats bytes in MiB.
func mib(b int64) string { return thousands(float64(b)/(1<<20)) + " MiB" }

// thousands formats v rounded to an integer, with commas between thousands.
func thousands(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// netOfFake is x's CPU per record over the bare loop's, both less the fake's
// own (the row of the fake alone): the consumers' own costs compared. ok is
// false without the fake's row or when it is not below both.
func netOfFake(x, bare, fake *Row) (float64, bool) {
	if fake == nil || fake.CPUNsPerRecord >= x.CPUNsPerRecord || fake.CPUNsPerRecord >= bare.CPUNsPerRecord {
		return 0, false
	}
	return (x.CPUNsPerRecord - fake.CPUNsPerRecord) / (bare.CPUNsPerRecord - fake.CPUNsPerRecord), true
}
