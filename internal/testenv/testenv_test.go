package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fakeTB records Skipf and Fatalf calls instead of ending the test.
type fakeTB struct {
	testing.TB // nil: calling anything not overridden panics
	skipped    string
	fatal      string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) { f.skipped = fmt.Sprintf(format, args...) }

func (f *fakeTB) Fatalf(format string, args ...any) { f.fatal = fmt.Sprintf(format, args...) }

var lookups = []struct {
	name string
	env  string
	fn   func(testing.TB) string
}{
	{"kinesalite", KinesaliteURLEnv, KinesaliteURL},
	{"kinesis-local", KinesisLocalURLEnv, KinesisLocalURL},
	{"dynalite", DynaliteURLEnv, DynaliteURL},
	{"redis-server", RedisAddrEnv, RedisAddr},
}

func TestLookup(t *testing.T) {
	for _, l := range lookups {
		t.Run(l.name, func(t *testing.T) {
			t.Run("set", func(t *testing.T) {
				for _, req := range []string{"", "1"} {
					t.Setenv(RequireEnv, req)
					t.Setenv(l.env, " http://127.0.0.1:1234 ")
					f := &fakeTB{}
					if got := l.fn(f); got != "http://127.0.0.1:1234" {
						t.Errorf("require=%q: got %q, want the trimmed value", req, got)
					}
					if f.skipped != "" || f.fatal != "" {
						t.Errorf("require=%q: unexpected skip %q / fatal %q", req, f.skipped, f.fatal)
					}
				}
			})
			t.Run("unset skips", func(t *testing.T) {
				for _, req := range []string{"", "0", "false", "no"} {
					t.Setenv(RequireEnv, req)
					t.Setenv(l.env, "")
					f := &fakeTB{}
					if got := l.fn(f); got != "" {
						t.Errorf("require=%q: got %q, want empty", req, got)
					}
					if f.fatal != "" {
						t.Errorf("require=%q: unexpected fatal %q", req, f.fatal)
					}
					for _, want := range []string{l.name + " not running", l.env, "./scripts/test"} {
						if !strings.Contains(f.skipped, want) {
							t.Errorf("require=%q: skip message %q lacks %q", req, f.skipped, want)
						}
					}
				}
			})
			t.Run("unset fails when required", func(t *testing.T) {
				for _, req := range []string{"1", "true", " 1 "} {
					t.Setenv(RequireEnv, req)
					t.Setenv(l.env, "  ")
					f := &fakeTB{}
					if got := l.fn(f); got != "" {
						t.Errorf("require=%q: got %q, want empty", req, got)
					}
					if f.skipped != "" {
						t.Errorf("require=%q: unexpected skip %q", req, f.skipped)
					}
					for _, want := range []string{l.name + " not running", l.env, RequireEnv} {
						if !strings.Contains(f.fatal, want) {
							t.Errorf("require=%q: fatal message %q lacks %q", req, f.fatal, want)
						}
					}
				}
			})
		})
	}
}

// TestEmulatorsAnswer checks the emulators scripts/test started: each answers
// on the address it exported. Without them the subtests skip (or fail when
// KINESIN_REQUIRE_EMULATORS is set).
func TestEmulatorsAnswer(t *testing.T) {
	client := &http.Client{Timeout: 10 * time.Second}
	for _, l := range lookups[:3] {
		t.Run(l.name, func(t *testing.T) {
			url := l.fn(t)
			resp, err := client.Post(url, "application/x-amz-json-1.1", strings.NewReader("{}"))
			if err != nil {
				t.Fatalf("POST %s: %v", url, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			// No credentials and no X-Amz-Target: any HTTP answer shows it is up.
			t.Logf("%s answered %s", url, resp.Status)
		})
	}
	t.Run("redis-server", func(t *testing.T) {
		addr := RedisAddr(t)
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, "PING\r\n"); err != nil {
			t.Fatalf("write PING: %v", err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || line != "+PONG\r\n" {
			t.Fatalf("PING answered %q, %v; want +PONG", line, err)
		}
	})
}
