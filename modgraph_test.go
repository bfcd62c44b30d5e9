package kinesin_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleGraphIsLean: a program that imports only the library gets none
// of the dependencies of its optional parts (the Redis store, the examples,
// the SDK tests, the CLI, the benchmarks) in its module graph: they live in
// modules of their own. It builds such a program in a fresh module, tidied
// from the module cache (the test's own build filled it), and reads
// `go list -m all`.
func TestModuleGraphIsLean(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a fresh module")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/fresh\n\ngo 1.26\n\nrequire github.com/kinesin-go/kinesin v0.1.0\n\nreplace github.com/kinesin-go/kinesin => "+root+"\n")
	write("main.go", "package main\n\nimport \"github.com/kinesin-go/kinesin\"\n\nfunc main() { _ = kinesin.Latest }\n")
	run := func(args ...string) string {
		cmd := exec.Command(gobin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	all := run("list", "-m", "all")
	for _, unwanted := range []string{
		"github.com/redis/go-redis",
		"go.opentelemetry.io/otel/sdk",
		"go.opentelemetry.io/otel/exporters",
		"go.opentelemetry.io/contrib",
		"github.com/aws/aws-sdk-go-v2/service/s3",
		"github.com/aws/aws-sdk-go-v2/service/sns",
		"github.com/aws/aws-sdk-go-v2/service/sqs",
	} {
		for line := range strings.Lines(all) {
			if strings.HasPrefix(line, unwanted) {
				t.Errorf("a program importing kinesin gets %s", strings.TrimSpace(line))
			}
		}
	}
	t.Logf("go list -m all of a program importing kinesin: %d modules", strings.Count(all, "\n"))
}
