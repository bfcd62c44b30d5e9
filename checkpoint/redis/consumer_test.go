package redis_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	redisstore "github.com/kinesin-go/kinesin/checkpoint/redis"
	"github.com/kinesin-go/kinesin/internal/testenv"
)

// TestConsumer runs the consumer of package kinesin on the store (see
// checkpointtest.RunConsumerTests): a restart, with a new client of the same
// server and prefix, resumes after what the store kept, and an outage of
// the store loses no commit.
func TestConsumer(t *testing.T) {
	addr := testenv.RedisAddr(t)
	prefix := uniquePrefix()
	checkpointtest.RunConsumerTests(t, func(t *testing.T) checkpoint.Store {
		return redisstore.New(newClient(t, addr), redisstore.Prefix(prefix))
	})
}

// TestOutageLosesNoCommit stops redis-server (one of the test's own, with an
// append-only file) in the middle of consumption and starts it again (see
// checkpointtest.OutageLosesNoCommit): the consumer writes its newest
// positions once the server is back.
func TestOutageLosesNoCommit(t *testing.T) {
	srv := startServer(t, "--appendonly", "yes", "--appendfsync", "always")
	// No retries inside go-redis, so that a call fails fast while down.
	client := redis.NewClient(&redis.Options{Addr: srv.addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { client.Close() })
	failed := &failedWrites{}
	client.AddHook(failed)
	store := redisstore.New(client)
	var before int64
	checkpointtest.OutageLosesNoCommit[*net.OpError](t, checkpointtest.Outage{
		Store: store,
		Begin: func(*testing.T) {
			srv.stop()
			before = failed.n.Load()
		},
		During: func(t *testing.T, app, stream string, _ map[string]checkpoint.Checkpoint) {
			if n := failed.n.Load(); n < before+3 {
				t.Errorf("%d failed writes during the outage, want one per failed save", n-before)
			}
			_, err := store.Load(t.Context(), app, stream)
			if err == nil {
				t.Fatal("Load succeeded while the server was down")
			}
			if opErr := (*net.OpError)(nil); !errors.As(err, &opErr) {
				t.Fatalf("Load failed with %v (%T), want a network error while the server was down", err, err)
			}
		},
		End: func(*testing.T) { srv.start() },
	})
}

// failedWrites is a go-redis hook counting the checkpoint writes (the save
// script, run with EVALSHA or EVAL, alone or pipelined) that failed.
type failedWrites struct{ n atomic.Int64 }

func (f *failedWrites) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failedWrites) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		f.count(cmd, err)
		return err
	}
}

func (f *failedWrites) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			f.count(cmd, err)
		}
		return err
	}
}

func (f *failedWrites) count(cmd redis.Cmder, err error) {
	if err == nil {
		err = cmd.Err()
	}
	if strings.HasPrefix(strings.ToLower(cmd.Name()), "eval") && err != nil && !errors.Is(err, redis.Nil) {
		f.n.Add(1)
	}
}
