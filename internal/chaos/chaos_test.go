//go:build unix

package chaos_test

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin/internal/chaos"
	"github.com/kinesin-go/kinesin/internal/testenv"
)

var (
	soakDuration = flag.Duration("chaos.duration", 0, "how long the chaos lasts in each mode (default: the bounded run, 45s)")
	soakSeed     = flag.Uint64("chaos.seed", 1, "seed of the driver's choices")
	soakMode     = flag.String("chaos.mode", "", "polling or efo (default: both, one after the other)")
	soakKeep     = flag.Bool("chaos.keep", false, "keep the logs of a run that passed too")
	soakRace     = flag.Bool("chaos.race", false, "build the soak's processes with the race detector")
	soakSlack    = flag.Duration("chaos.failover-slack", 500*time.Millisecond, "failover time allowed beyond LeaseDuration + CycleInterval")
)

// boundedChaos is the chaos of each mode in the run ./scripts/test makes:
// with the start, the drain and the shutdown, both modes take about 2 of
// the 4 minutes the soak may take there.
const boundedChaos = 45 * time.Second

// TestChaosSoak runs the lease soak (see the package documentation) in
// polling and EFO modes: worker processes on a dynalite lease table,
// SIGKILLed, SIGTERMed, paused and restarted while the stream is resharded
// and faulted, and the checks of their logs. Without dynalite it is skipped
// (failed when KINESIN_REQUIRE_EMULATORS=1). -chaos.duration, -chaos.seed
// and -chaos.mode make other runs:
//
//	./scripts/test -run TestChaosSoak -v ./internal/chaos/ -args -chaos.duration 5m -chaos.seed 7 -chaos.mode efo
func TestChaosSoak(t *testing.T) {
	dynalite := testenv.DynaliteURL(t)
	if testing.Short() {
		t.Skip("the soak runs for minutes; not with -short")
	}
	modes := []string{"polling", "efo"}
	if *soakMode != "" {
		modes = []string{*soakMode}
	}
	duration := *soakDuration
	if duration <= 0 {
		duration = boundedChaos
	}
	bin := buildChaos(t)
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "kinesin-chaos-"+mode+"-")
			if err != nil {
				t.Fatal(err)
			}
			// Start, drain (60s at most) and shutdown (15s at most) come on
			// top of the chaos.
			ctx, cancel := context.WithTimeout(t.Context(), duration+3*time.Minute)
			defer cancel()
			rep, err := chaos.Soak(ctx, chaos.Config{
				Bin: bin, Dir: dir, DynamoURL: dynalite, Mode: mode, Seed: *soakSeed, Duration: duration,
				FailoverSlack: *soakSlack,
				Logf:          t.Logf,
			})
			if err != nil {
				t.Fatalf("the soak's harness failed (not a finding about the library): %v; logs in %s", err, dir)
			}
			if rep.Failed() {
				t.Errorf("the soak found failures (logs in %s; rerun the checker with go run ./internal/chaos/cmd/chaos check %s):\n%s", dir, dir, rep)
				return
			}
			t.Logf("\n%s", rep)
			if *soakKeep {
				t.Logf("logs in %s", dir)
			} else {
				os.RemoveAll(dir)
			}
		})
	}
}

// buildChaos builds cmd/chaos into a temporary directory.
func buildChaos(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go tool on PATH to build the soak's program: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "chaos")
	args := []string{"build", "-o", bin}
	if *soakRace {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool, append(args, "github.com/kinesin-go/kinesin/internal/chaos/cmd/chaos")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the soak program: %v\n%s", err, out)
	}
	return bin
}
