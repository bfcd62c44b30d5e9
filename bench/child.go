package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
)

// childFlags is what a child process is told: which scenario, which
// consumer, what size. The parent re-executes its own binary with them, so
// that the peak resident set size and the CPU time a child measures are its
// scenario's alone.
type childFlags struct {
	Scenario string
	Consumer string
	Shards   int
	PerShard int
}

// args returns the command line of a child.
func (c childFlags) args(p Params) []string {
	return []string{"-child", c.Scenario, "-consumer", c.Consumer,
		"-shards", strconv.Itoa(c.Shards), "-per-shard", strconv.Itoa(c.PerShard),
		"-idle-warm", p.IdleWarm.String(), "-idle-measure", p.IdleMeasure.String()}
}

// runInChild runs one scenario of one consumer in a child process and
// returns the row it prints (its log goes to this process's stderr).
func runInChild(c childFlags, p Params) (Row, error) {
	self, err := os.Executable()
	if err != nil {
		return Row{}, err
	}
	cmd := exec.Command(self, c.args(p)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return Row{}, fmt.Errorf("%s %s at %d shards: child: %w", c.Scenario, c.Consumer, c.Shards, err)
	}
	var row Row
	if err := json.Unmarshal(out.Bytes(), &row); err != nil {
		return Row{}, fmt.Errorf("%s %s: reading the child's row: %w (%q)", c.Scenario, c.Consumer, err, out.String())
	}
	return row, nil
}

// childMain is the child's side: it runs the scenario and prints its row as
// JSON on stdout.
// With BENCH_CPUPROFILE set to a file name, the child writes its CPU
// profile there (go tool pprof reads it); with BENCH_TRACE, its execution
// trace (go tool trace reads it).
func childMain(c childFlags, p Params) error {
	for _, w := range []struct {
		env   string
		start func(io.Writer) error
		stop  func()
	}{
		{"BENCH_TRACE", trace.Start, trace.Stop},
		{"BENCH_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile},
	} {
		f := os.Getenv(w.env)
		if f == "" {
			continue
		}
		out, err := os.Create(f)
		if err != nil {
			return err
		}
		defer out.Close()
		if err := w.start(out); err != nil {
			return err
		}
		defer w.stop()
	}
	var row Row
	var err error
	switch c.Scenario {
	case scScale:
		row, err = scaleOne(c.Consumer, c.Shards, c.PerShard)
	case scIdle:
		row, err = idleOne(c.Consumer, c.Shards, p)
	default:
		err = fmt.Errorf("no child scenario %q", c.Scenario)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(row)
}
