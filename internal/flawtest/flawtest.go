// Package flawtest checks that a conformance suite catches flawed stores: the
// test binary of the suite runs the suite again, in a child process per
// flaw, against a store with that one deliberate flaw, and checks that the
// cases meant to catch it fail, while the store without a flaw passes.
//
// In the suite's own tests:
//
//	func TestSuiteCatchesFlaws(t *testing.T) {
//		flawtest.CatchesFlaws(t, flawEnv, "TestFlawedStore", map[string][]string{
//			"none":      nil,
//			"ignoreCtx": {"DoneContext"},
//		})
//	}
//
//	func TestFlawedStore(t *testing.T) {
//		flaw := flawtest.Flaw(t, flawEnv)
//		suite.RunConformanceTests(t, ... a store with flaw ...)
//	}
package flawtest

import (
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// CatchesFlaws runs test, a test function of the running test binary that
// runs the suite against the store with the flaw Flaw returns, in a child
// process per flaw, with the environment variable env naming the flaw. fails
// gives, by flaw, the cases of the suite (subtests of test) that must fail;
// none means the suite must pass. The child processes run in parallel.
//
// It skips t in a child process, and in -short mode.
func CatchesFlaws(t *testing.T, env, test string, fails map[string][]string) {
	t.Helper()
	if os.Getenv(env) != "" {
		t.Skip("in a child process")
	}
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	for _, flaw := range slices.Sorted(maps.Keys(fails)) {
		t.Run(flaw, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), env+"="+flaw)
			out, err := cmd.CombinedOutput()
			switch {
			case len(fails[flaw]) == 0 && err != nil:
				t.Fatalf("the suite fails the store without a flaw: %v\n%s", err, out)
			case len(fails[flaw]) > 0 && err == nil:
				t.Fatalf("the suite passes a store with flaw %s:\n%s", flaw, out)
			}
			for _, name := range fails[flaw] {
				if !strings.Contains(string(out), "--- FAIL: "+test+"/"+name+" (") {
					t.Errorf("case %s does not catch flaw %s:\n%s", name, flaw, out)
				}
			}
		})
	}
}

// Flaw returns the flaw named in the environment variable env, in a child
// process CatchesFlaws started; elsewhere it skips t.
func Flaw(t *testing.T, env string) string {
	t.Helper()
	flaw := os.Getenv(env)
	if flaw == "" {
		t.Skip("run by TestSuiteCatchesFlaws")
	}
	return flaw
}
