// Package testenv tells tests where the local emulators run.
//
// scripts/test starts kinesalite, kinesis-local, dynalite and redis-server on
// free 127.0.0.1 ports and exports their addresses in the environment
// variables named below. A test asks for the emulator it needs:
//
//	url := testenv.KinesaliteURL(t)
//
// When the variable is unset the test is skipped, so a plain `go test ./...`
// without emulators still passes; when KINESIN_REQUIRE_EMULATORS is true (as
// scripts/test and CI set it) the test fails instead, so CI never skips
// silently.
package testenv

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// Environment variables read by this package and exported by scripts/test.
const (
	// KinesaliteURLEnv holds kinesalite's base URL, e.g. http://127.0.0.1:4567.
	KinesaliteURLEnv = "KINESIN_KINESALITE_URL"
	// KinesisLocalURLEnv holds kinesis-local's (kinesis-mock) plain HTTP base URL.
	KinesisLocalURLEnv = "KINESIN_KINESIS_LOCAL_URL"
	// DynaliteURLEnv holds dynalite's base URL.
	DynaliteURLEnv = "KINESIN_DYNALITE_URL"
	// RedisAddrEnv holds redis-server's host:port, e.g. 127.0.0.1:6379.
	RedisAddrEnv = "KINESIN_REDIS_ADDR"
	// RequireEnv, when true ("1", "true"...), turns a missing emulator from a
	// skip into a test failure.
	RequireEnv = "KINESIN_REQUIRE_EMULATORS"
)

// KinesaliteURL returns the base URL of the kinesalite emulator, or skips the
// test (fails it when emulators are required) when KINESIN_KINESALITE_URL is unset.
func KinesaliteURL(t testing.TB) string {
	t.Helper()
	return lookup(t, "kinesalite", KinesaliteURLEnv)
}

// KinesisLocalURL returns the base URL of the kinesis-local emulator, or skips
// the test (fails it when emulators are required) when
// KINESIN_KINESIS_LOCAL_URL is unset.
func KinesisLocalURL(t testing.TB) string {
	t.Helper()
	return lookup(t, "kinesis-local", KinesisLocalURLEnv)
}

// DynaliteURL returns the base URL of the dynalite emulator, or skips the test
// (fails it when emulators are required) when KINESIN_DYNALITE_URL is unset.
func DynaliteURL(t testing.TB) string {
	t.Helper()
	return lookup(t, "dynalite", DynaliteURLEnv)
}

// RedisAddr returns the host:port of the redis server, or skips the test (fails
// it when emulators are required) when KINESIN_REDIS_ADDR is unset.
func RedisAddr(t testing.TB) string {
	t.Helper()
	return lookup(t, "redis-server", RedisAddrEnv)
}

// Required reports whether KINESIN_REQUIRE_EMULATORS is set to a true value
// (as strconv.ParseBool reads it), in which case a missing emulator fails the
// test instead of skipping it.
func Required() bool {
	v, err := strconv.ParseBool(strings.TrimSpace(os.Getenv(RequireEnv)))
	return err == nil && v
}

// lookup returns the trimmed value of env, or skips or fails t when it is empty.
// It returns "" only when t's Skipf or Fatalf returned (a fake testing.TB).
func lookup(t testing.TB, name, env string) string {
	t.Helper()
	if v := strings.TrimSpace(os.Getenv(env)); v != "" {
		return v
	}
	if Required() {
		t.Fatalf("%s not running: %s is unset but %s is true; run the tests with ./scripts/test", name, env, RequireEnv)
		return ""
	}
	t.Skipf("%s not running: set %s or run ./scripts/test", name, env)
	return ""
}
