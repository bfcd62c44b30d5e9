package redischeckpoint_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/redischeckpoint"
	"github.com/kinesin-go/kinesin/internal/testenv"
)

// TestMain fails the package if any goroutine outlives the tests, but for
// the one go-redis starts after a failed dial to probe the server again
// (internal/pool.(*ConnPool).tryDial): it sleeps for a second and Close does
// not stop it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// newClient returns a client of addr, closed when t ends.
func newClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// uniquePrefix returns a key prefix no earlier run used.
func uniquePrefix() string { return checkpointtest.UniqueName("kinesin-test") + ":" }

type harness struct{ store *redischeckpoint.Store }

func (h harness) Store() checkpoint.Store { return h.store }
func (h harness) Names() (app, stream string) {
	return checkpointtest.UniqueName("app"), checkpointtest.UniqueName("stream")
}
func (h harness) Close() {}

// TestConformance runs the store suite against redis-server, under a prefix
// of its own.
func TestConformance(t *testing.T) {
	client := newClient(t, testenv.RedisAddr(t))
	store := redischeckpoint.New(client, redischeckpoint.WithPrefix(uniquePrefix()))
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{store}
	})
}

// TestConformanceDefaultPrefix runs the suite with the default prefix, with
// a client per case.
func TestConformanceDefaultPrefix(t *testing.T) {
	addr := testenv.RedisAddr(t)
	checkpointtest.RunConformanceTests(t, func(t *testing.T) checkpointtest.Harness {
		return harness{redischeckpoint.New(newClient(t, addr))}
	})
}

func TestKeyLayout(t *testing.T) {
	client := newClient(t, testenv.RedisAddr(t))
	prefix := uniquePrefix()
	store := redischeckpoint.New(client, redischeckpoint.WithPrefix(prefix))
	ctx := t.Context()

	key := store.Key("billing", "orders/eu")
	if want := prefix + "{7:billing/orders/eu}"; key != want {
		t.Errorf("Key = %q, want %q", key, want)
	}
	if got, want := redischeckpoint.New(client).Key("a", "b"), "kinesin:checkpoint:{1:a/b}"; got != want {
		t.Errorf("Key with the default prefix = %q, want %q", got, want)
	}
	seq := "49590338271490256608559692538361571095921575989136588898"
	if err := store.Save(ctx, "billing", "orders/eu", map[string]checkpoint.Checkpoint{
		"shardId-000000000001": checkpoint.AtSub(seq, 3),
		"shardId-000000000002": checkpoint.At("0042"),
		"shardId-000000000003": checkpoint.Ended(),
		"shardId-000000000004": checkpoint.StartAt(time.Unix(1700000000, 5)),
		"shardId-000000000005": checkpoint.EndedFrom(time.Unix(1700000000, 5)),
	}); err != nil {
		t.Fatal(err)
	}
	raw, err := client.HGetAll(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	z := func(n int) string { return strings.Repeat("0", n) }
	want := map[string]string{
		"shardId-000000000001": "1" + z(73) + seq + "0" + z(18) + "3",
		"shardId-000000000002": "1" + z(127) + "42" + "1" + z(19),
		"shardId-000000000003": "2" + z(149),
		"shardId-000000000004": "0" + "1700000000000000005" + z(130),
		"shardId-000000000005": "2" + "1700000000000000005" + z(130),
	}
	if len(raw) != len(want) {
		t.Errorf("HGETALL %s = %d fields, want %d", key, len(raw), len(want))
	}
	for k, v := range want {
		if raw[k] != v {
			t.Errorf("field %s = %q, want %q", k, raw[k], v)
		}
	}
	got, err := store.Load(ctx, "billing", "orders/eu")
	if err != nil || got["shardId-000000000002"] != checkpoint.At("42") {
		t.Errorf("Load = %v, %v; want shardId-000000000002 at 42 without leading zeros", got, err)
	}
}

func TestPrefixesIsolated(t *testing.T) {
	client := newClient(t, testenv.RedisAddr(t))
	ctx := t.Context()
	p := uniquePrefix()
	a, b := redischeckpoint.New(client, redischeckpoint.WithPrefix(p+"a:")), redischeckpoint.New(client, redischeckpoint.WithPrefix(p+"b:"))
	if err := a.Save(ctx, "app", "stream", map[string]checkpoint.Checkpoint{"s": checkpoint.At("10")}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Load(ctx, "app", "stream"); err != nil || len(got) != 0 {
		t.Errorf("Load under another prefix = %v, %v; want empty", got, err)
	}
}

// commandLog records the commands a client sends.
type commandLog struct {
	mu   sync.Mutex
	cmds []string
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }
func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.mu.Lock()
		l.cmds = append(l.cmds, cmd.Name())
		l.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (l *commandLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.cmds
	l.cmds = nil
	return c
}

// TestOneCommandPerCall checks that a Save of a thousand shards and a Load
// of them are one command each.
func TestOneCommandPerCall(t *testing.T) {
	client := newClient(t, testenv.RedisAddr(t))
	log := &commandLog{}
	client.AddHook(log)
	store := redischeckpoint.New(client, redischeckpoint.WithPrefix(uniquePrefix()))
	ctx := t.Context()
	cps := map[string]checkpoint.Checkpoint{}
	for i := range 1000 {
		cps[fmt.Sprintf("shardId-%012d", i)] = checkpoint.At(strconv.Itoa(i + 1))
	}
	// Load the script first, so that the count is the steady one.
	if err := store.Save(ctx, "warm", "up", cps); err != nil {
		t.Fatal(err)
	}
	log.take()
	if err := store.Save(ctx, "app", "stream", cps); err != nil {
		t.Fatal(err)
	}
	if got := log.take(); len(got) != 1 || got[0] != "evalsha" {
		t.Errorf("Save of 1000 shards sent %v, want one evalsha", got)
	}
	got, err := store.Load(ctx, "app", "stream")
	if err != nil || len(got) != 1000 {
		t.Fatalf("Load = %d shards, %v", len(got), err)
	}
	if got := log.take(); len(got) != 1 || got[0] != "hgetall" {
		t.Errorf("Load sent %v, want one hgetall", got)
	}
}

// TestScriptReloadAfterFlush checks that Save works once the server forgot
// the script (SCRIPT FLUSH, as after a restart or failover).
func TestScriptReloadAfterFlush(t *testing.T) {
	client := newClient(t, testenv.RedisAddr(t))
	log := &commandLog{}
	client.AddHook(log)
	store := redischeckpoint.New(client, redischeckpoint.WithPrefix(uniquePrefix()))
	ctx := t.Context()
	save := func(seq string) {
		t.Helper()
		if err := store.Save(ctx, "app", "stream", map[string]checkpoint.Checkpoint{"s": checkpoint.At(seq)}); err != nil {
			t.Fatalf("Save(%s): %v", seq, err)
		}
	}
	save("10")
	for round := range 2 {
		if err := client.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		log.take()
		save(strconv.Itoa(20 + round))
		if got := log.take(); len(got) != 2 || got[0] != "evalsha" || got[1] != "eval" {
			t.Errorf("Save after SCRIPT FLUSH sent %v, want evalsha (NOSCRIPT) then eval", got)
		}
		save("5") // backward: ignored, through the cached script again
		if got := log.take(); len(got) != 1 || got[0] != "evalsha" {
			t.Errorf("second Save after SCRIPT FLUSH sent %v, want one evalsha", got)
		}
	}
	got, err := store.Load(ctx, "app", "stream")
	if err != nil || got["s"] != checkpoint.At("21") {
		t.Errorf("Load = %v, %v; want s=21", got, err)
	}
}

// TestMalformedStoredValue checks that a value the store did not write is
// reported, not overwritten nor hidden.
func TestMalformedStoredValue(t *testing.T) {
	client := newClient(t, testenv.RedisAddr(t))
	store := redischeckpoint.New(client, redischeckpoint.WithPrefix(uniquePrefix()))
	ctx := t.Context()
	key := store.Key("app", "stream")
	if err := client.HSet(ctx, key, "bad-shard", "12345").Err(); err != nil {
		t.Fatal(err)
	}
	err := store.Save(ctx, "app", "stream", map[string]checkpoint.Checkpoint{
		"a":         checkpoint.At("1"),
		"bad-shard": checkpoint.At("99999999"),
	})
	if err == nil || !strings.Contains(err.Error(), "bad-shard") || !strings.Contains(err.Error(), "app/stream") {
		t.Errorf("Save over a malformed value = %v, want an error naming app/stream and bad-shard", err)
	}
	if n, _ := client.HLen(ctx, key).Result(); n != 1 {
		t.Errorf("hash has %d fields after the failed Save, want 1: nothing written", n)
	}
	if _, err := store.Load(ctx, "app", "stream"); err == nil || !strings.Contains(err.Error(), "bad-shard") {
		t.Errorf("Load of a malformed value = %v, want an error naming bad-shard", err)
	}
	// A key of another type.
	other := store.Key("app", "string")
	if err := client.Set(ctx, other, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := store.Save(ctx, "app", "string", map[string]checkpoint.Checkpoint{"a": checkpoint.At("1")}); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("Save to a string key = %v, want WRONGTYPE", err)
	}
}

func TestNilClient(t *testing.T) {
	var nilStore *redischeckpoint.Store
	for _, s := range []*redischeckpoint.Store{redischeckpoint.New(nil), nilStore} {
		testNilClient(t, s)
	}
}

func testNilClient(t *testing.T, s *redischeckpoint.Store) {
	if err := s.Save(t.Context(), "a", "s", map[string]checkpoint.Checkpoint{"x": checkpoint.At("1")}); err == nil {
		t.Error("Save with a nil client succeeded")
	}
	if _, err := s.Load(t.Context(), "a", "s"); err == nil {
		t.Error("Load with a nil client succeeded")
	}
}

// server is a redis-server of a test's own.
type server struct {
	t    *testing.T
	addr string
	dir  string
	args []string
	cmd  *exec.Cmd
}

// startServer starts a redis-server on a free loopback port, with args
// added to its command line.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if testenv.Required() {
			t.Fatalf("redis-server not on PATH: %v", err)
		}
		t.Skipf("redis-server not on PATH: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &server{t: t, addr: addr, dir: t.TempDir(), args: args}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	args := append([]string{"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", s.dir}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !ping(s.addr) {
		if time.Now().After(deadline) {
			s.stop()
			s.t.Fatalf("redis-server on %s did not answer within 10s", s.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server the test started and waits for it to exit.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// TestServerDown checks that a store whose server is down returns errors,
// and works again once the server is back.
func TestServerDown(t *testing.T) {
	srv := startServer(t)
	client := newClient(t, srv.addr)
	store := redischeckpoint.New(client)
	ctx := t.Context()
	cps := func(seq string) map[string]checkpoint.Checkpoint {
		return map[string]checkpoint.Checkpoint{"shardId-000000000000": checkpoint.At(seq)}
	}
	if err := store.Save(ctx, "app", "stream", cps("10")); err != nil {
		t.Fatal(err)
	}

	srv.stop()
	start := time.Now()
	err := store.Save(ctx, "app", "stream", cps("20"))
	var op *net.OpError
	if err == nil || !errors.As(err, &op) || !strings.Contains(err.Error(), "app/stream") {
		t.Errorf("Save while down = %v, want a *net.OpError wrapped with app/stream", err)
	}
	if _, err := store.Load(ctx, "app", "stream"); err == nil || !strings.Contains(err.Error(), "app/stream") {
		t.Errorf("Load while down = %v, want an error naming app/stream", err)
	}
	t.Logf("down: Save and Load failed in %v: %v", time.Since(start).Round(time.Millisecond), err)

	// A done context is reported as such while down.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := store.Save(canceled, "app", "stream", cps("20")); !errors.Is(err, context.Canceled) {
		t.Errorf("Save with a canceled context while down = %v, want context.Canceled", err)
	}

	srv.start() // an empty server: no persistence
	if err := store.Save(ctx, "app", "stream", cps("30")); err != nil {
		t.Fatalf("Save after the server came back: %v", err)
	}
	got, err := store.Load(ctx, "app", "stream")
	if err != nil || got["shardId-000000000000"] != checkpoint.At("30") {
		t.Errorf("Load after the server came back = %v, %v; want 30", got, err)
	}
}

// TestListPrefixIsLiteral checks that List reads only the keys of its own
// prefix, whose glob characters (* ? [ ] \) match themselves, not other
// prefixes they would match as a pattern.
func TestListPrefixIsLiteral(t *testing.T) {
	client := newClient(t, testenv.RedisAddr(t))
	ctx := t.Context()
	p := uniquePrefix()
	glob := redischeckpoint.New(client, redischeckpoint.WithPrefix(p+`*?[ab]\:`))
	plain := redischeckpoint.New(client, redischeckpoint.WithPrefix(p+"xya:"))
	for store, app := range map[*redischeckpoint.Store]string{glob: "glob", plain: "plain"} {
		if err := store.Save(ctx, app, "orders", map[string]checkpoint.Checkpoint{"s": checkpoint.At("1")}); err != nil {
			t.Fatal(err)
		}
	}
	for store, app := range map[*redischeckpoint.Store]string{glob: "glob", plain: "plain"} {
		groups, err := store.List(ctx)
		if want := []checkpoint.Group{{App: app, Stream: "orders"}}; err != nil || !slices.Equal(groups, want) {
			t.Errorf("List under %q = %q, %v; want %q", store.Key("", ""), groups, err, want)
		}
	}
}
