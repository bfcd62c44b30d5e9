package redis_test

import (
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kinesin-go/kinesin/checkpoint"
	redisstore "github.com/kinesin-go/kinesin/checkpoint/redis"
	"github.com/kinesin-go/kinesin/internal/storetest"
	"github.com/kinesin-go/kinesin/internal/testenv"
)

// These tests run the consumer of package kinesin on the store: a restart
// resumes after what the store kept, and an outage of the store loses no
// commit.

// TestRestartResumesAfterCheckpoint restarts a consumer, with a new client of
// the same server and prefix: see storetest.RestartResumesAfterCheckpoint.
func TestRestartResumesAfterCheckpoint(t *testing.T) {
	addr := testenv.RedisAddr(t)
	prefix := uniquePrefix()
	storetest.RestartResumesAfterCheckpoint(t, func(t *testing.T) checkpoint.Store {
		return redisstore.New(newClient(t, addr), redisstore.Prefix(prefix))
	})
}

// TestOutageLosesNoCommit stops redis-server (one of the test's own, with an
// append-only file) in the middle of consumption and starts it again (see
// storetest.OutageLosesNoCommit): the consumer writes its newest positions
// once the server is back.
func TestOutageLosesNoCommit(t *testing.T) {
	srv := startServer(t, "--appendonly", "yes", "--appendfsync", "always")
	// No retries inside go-redis, so that a call fails fast while down.
	client := redis.NewClient(&redis.Options{Addr: srv.addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	store := redisstore.New(client)
	storetest.OutageLosesNoCommit[*net.OpError](t, storetest.Outage{
		Store: store,
		Begin: func(*testing.T) { srv.stop() },
		During: func(t *testing.T, app string, _ map[string]checkpoint.Checkpoint) {
			time.Sleep(300 * time.Millisecond) // several checkpoint intervals of failed writes
			if _, err := store.Load(t.Context(), app, storetest.Stream); err == nil {
				t.Fatal("Load succeeded while the server was down")
			}
		},
		End: func(*testing.T) { srv.start() },
	})
}
