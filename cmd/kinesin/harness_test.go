package main

// The harness of the command's tests: the binary, built once per run with go
// build, started as a process whose output lines are read with deadlines.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// waitFor bounds every wait of the tests: for a line, an exit, a state.
const waitFor = 20 * time.Second

var (
	buildDir  string
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kinesin-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binary returns the path of the kinesin command, built with go build the
// first time it is asked for.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(buildDir, "kinesin")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// lockedBuffer is a bytes.Buffer safe for a writer and readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a running kinesin command.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string // standard output, line by line; closed at its end
	stderr *lockedBuffer
	exited chan struct{} // closed once the process is waited for
	code   int           // its exit code, once exited is closed
}

// start starts kinesin with args; the test's cleanup kills it if it still
// runs.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = awsEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, lines: make(chan string, 64), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() {
		<-scanned // Wait closes the pipe: read it all first
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			p.code = 0
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -1
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// line returns the next line of standard output.
func (p *proc) line() string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("kinesin ended its output; stderr:\n%s", p.stderr)
		}
		return l
	case <-time.After(waitFor):
		p.t.Fatalf("no line from kinesin within %v; stderr:\n%s", waitFor, p.stderr)
	}
	return ""
}

// header reads the endpoint (the first line) and the "key: value" lines
// after it, up to and including the line of key last.
func (p *proc) header(last string) (string, map[string][]string) {
	p.t.Helper()
	endpoint := p.line()
	kv := map[string][]string{}
	for {
		k, v, ok := strings.Cut(p.line(), ": ")
		if !ok {
			p.t.Fatalf("a line after the endpoint is not key: value: %q", k)
		}
		kv[k] = append(kv[k], v)
		if k == last {
			return endpoint, kv
		}
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// wait returns the exit code once the process has exited.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(waitFor):
		p.t.Fatalf("kinesin still runs %v later; stderr:\n%s", waitFor, p.stderr)
	}
	return 0
}

// stop sends SIGTERM and checks the process stops gracefully: exit code 0,
// "stopped" on standard error.
func (p *proc) stop() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != exitOK {
		p.t.Fatalf("exit code %d after SIGTERM, want %d; stderr:\n%s", code, exitOK, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "kinesin fake: stopped") {
		p.t.Fatalf("stderr does not say stopped:\n%s", p.stderr)
	}
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitFor)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runOnce runs kinesin to its end and returns its exit code, standard
// output and standard error.
func runOnce(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	r := kin(t, "", args...)
	return r.code, r.stdout, r.stderr
}

// protoRecorder is an HTTP client noting the protocol of each response.
type protoRecorder struct {
	inner  kinesis.HTTPClient
	mu     sync.Mutex
	protos map[string]int
}

func (r *protoRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.inner.Do(req)
	if err == nil {
		r.mu.Lock()
		r.protos[resp.Proto]++
		r.mu.Unlock()
	}
	return resp, err
}

func (r *protoRecorder) seen() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.protos {
		out[k] = v
	}
	return out
}

// newClient returns a Kinesis client of the Go SDK for endpoint, with any
// credentials, one attempt per call, and an HTTP client recording protocols
// that trusts the certificate in certFile, if any.
func newClient(t *testing.T, endpoint, certFile string) (*kinesis.Client, *protoRecorder) {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone() // HTTP/2 when TLS offers it
	if certFile != "" {
		pem, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("%s holds no PEM certificate", certFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	rec := &protoRecorder{inner: hc, protos: map[string]int{}}
	client := kinesis.New(kinesis.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       rec,
	})
	return client, rec
}
