package kinesin_test

// The cluster example as separate OS processes: three workers against a
// kinesistest fake served over loopback HTTP and a dynalite lease table. One
// is killed with SIGKILL, one stopped with SIGINT (a planned Close).

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/lease"
)

// clusterProcess is a running examples/cluster worker.
type clusterProcess struct {
	id     string
	cmd    *exec.Cmd
	done   chan struct{} // closed when its output ended and it exited
	mu     sync.Mutex
	stderr []string
	err    error
}

// buildCluster builds examples/cluster into a temporary directory.
func buildCluster(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool on PATH to build the example: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "cluster")
	cmd := exec.Command(goTool, "build", "-o", bin, "./examples/cluster")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/cluster: %v\n%s", err, out)
	}
	return bin
}

// startProcess starts worker id of the example, feeding what it prints into
// the ledger.
func startProcess(t *testing.T, bin string, l *leaseLedger, id string, args ...string) *clusterProcess {
	t.Helper()
	cmd := exec.Command(bin, append(args, "-worker", id)...)
	cmd.Env = append(os.Environ(),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_EC2_METADATA_DISABLED=true")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &clusterProcess{id: id, cmd: cmd, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			// <worker> <shard> <sequence number> <partition key> <data>
			f := strings.Fields(sc.Text())
			var it item
			if len(f) != 5 || json.Unmarshal([]byte(f[4]), &it) != nil {
				t.Errorf("%s printed %q", id, sc.Text())
				continue
			}
			l.add(leaseDelivery{worker: f[0], shard: f[1], seq: f[2], key: it.Key, n: it.N, at: time.Now()})
		}
		io.Copy(io.Discard, stdout)
	})
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr = append(p.stderr, sc.Text())
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
	})
	go func() {
		wg.Wait()
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Logf("stderr of %s:\n%s", id, strings.Join(p.stderr, "\n"))
		}
	})
	return p
}

// wait waits for the process to exit and returns how it did.
func (p *clusterProcess) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v", p.id, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Three worker processes of examples/cluster share 6 shards through a
// dynalite lease table. One is killed with SIGKILL: the others read its
// shards again within the lease duration plus a cycle. Another gets SIGINT
// and closes: its shards move with no record delivered twice. No record is
// lost.
func TestClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example")
	}
	testClusterProcesses(t, leaseTestDuration, leaseTestCycle, leaseSlack)
}

// TestClusterProcessesDefaultTimings is TestClusterProcesses with the
// default lease duration (10s) and cycle (2s), for the README's figures: set
// KINESIN_LEASE_DEFAULTS=1 to run it.
func TestClusterProcessesDefaultTimings(t *testing.T) {
	if os.Getenv("KINESIN_LEASE_DEFAULTS") == "" {
		t.Skip("set KINESIN_LEASE_DEFAULTS=1 to measure failover with the default lease timings")
	}
	testClusterProcesses(t, lease.DefaultLeaseDuration, lease.DefaultCycleInterval, 2*time.Second)
}

func testClusterProcesses(t *testing.T, leaseDuration, cycle, slack time.Duration) {
	store, table, dynalite := newDynaliteLeases(t)
	bin := buildCluster(t)
	fake := newFake(t, 6)
	c := newLeaseCluster(t, pollingMode, fake, store)
	p := startLeaseProducer(t, fake, 60, 1, 5*time.Millisecond)
	args := []string{
		"-kinesis-endpoint", fake.URL(), "-dynamodb-endpoint", dynalite, "-table", table,
		"-app", c.app, "-stream", testStream, "-start", "trim-horizon",
		"-lease-duration", leaseDuration.String(), "-cycle", cycle.String(), "-checkpoint", "100ms",
	}
	l := c.ledger
	l.setPhase("start")
	procs := map[string]*clusterProcess{}
	for _, id := range []string{"p1", "p2", "p3"} {
		procs[id] = startProcess(t, bin, l, id, args...)
	}
	c.waitShape(30*time.Second+3*leaseDuration, "[2 2 2]", "p1", "p2", "p3")
	c.waitReading(10 * time.Second)

	l.setPhase("kill")
	owners, _ := c.owners()
	dead := owners["p3"]
	killed := time.Now()
	l.died("p3", "kill")
	if err := procs["p3"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	procs["p3"].wait(t, 10*time.Second)
	failover := c.waitTaken(leaseDuration+cycle+slack+5*time.Second, dead, "p3", killed)
	c.waitShape(10*time.Second+2*leaseDuration, "[3 3]", "p1", "p2")
	if failover > leaseDuration+cycle+slack {
		t.Errorf("failover took %v, want at most the lease duration plus a cycle (%v) and %v of slack", failover, leaseDuration+cycle, slack)
	}

	l.setPhase("sigint")
	owners, _ = c.owners()
	moved := owners["p1"]
	stopping := time.Now()
	if err := procs["p1"].cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := procs["p1"].wait(t, 15*time.Second); err != nil {
		t.Errorf("p1 exited with %v after SIGINT", err)
	}
	exited := time.Since(stopping)
	handed := c.waitTaken(10*time.Second+2*cycle, moved, "p1", stopping)
	c.waitShape(10*time.Second+2*cycle, "[6]", "p2")

	l.setPhase("end")
	p.halt()
	c.waitAll(p)
	if err := procs["p2"].cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := procs["p2"].wait(t, 15*time.Second); err != nil {
		t.Errorf("p2 exited with %v after SIGINT", err)
	}
	dups := l.duplicates()
	t.Logf("processes: SIGKILL failover of %d shards %v (lease duration %v, cycle %v); SIGINT: exit in %v, %d shards read by the other %v after the signal; %d records delivered for %d produced; duplicates %v",
		len(dead), failover.Round(time.Millisecond), leaseDuration, cycle, exited.Round(time.Millisecond),
		len(moved), handed.Round(time.Millisecond), l.count(), sum(p.produced()), dups)
	for _, phase := range []string{"start", "sigint", "end"} {
		if dups[phase] != 0 {
			t.Errorf("%d records delivered twice in phase %s, want 0", dups[phase], phase)
		}
	}
}
