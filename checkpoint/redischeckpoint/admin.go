package redischeckpoint

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/storekey"
)

var _ checkpoint.Admin = (*Store)(nil)

// List returns every (app, stream) pair holding at least one checkpoint
// under the store's prefix, sorted by app, then stream. It walks the keys
// with SCAN (on every master of a Redis Cluster, every shard of a Ring):
// use it for operators' tools, not in a hot path. A key under the prefix
// that this package did not make is skipped.
func (s *Store) List(ctx context.Context) ([]checkpoint.Group, error) {
	prefix := DefaultPrefix
	if s != nil {
		prefix = s.prefix
	}
	fail := func(err error) ([]checkpoint.Group, error) {
		return nil, fmt.Errorf("redis: list the groups under %q: %w", prefix, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if s == nil || s.client == nil {
		return fail(errNoClient)
	}
	var (
		mu   sync.Mutex
		seen = map[checkpoint.Group]bool{}
	)
	pattern := escapeGlob(prefix) + "{*}"
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			ns := strings.TrimSuffix(strings.TrimPrefix(iter.Val(), prefix+"{"), "}")
			if app, stream, ok := storekey.ParseNamespace(ns); ok {
				mu.Lock()
				seen[checkpoint.Group{App: app, Stream: stream}] = true
				mu.Unlock()
			}
		}
		return iter.Err()
	}
	var err error
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	default:
		err = scan(ctx, s.client)
	}
	if err != nil {
		return fail(err)
	}
	return slices.SortedFunc(maps.Keys(seen), checkpoint.CompareGroups), nil
}

// escapeGlob escapes the characters SCAN's MATCH pattern gives a meaning.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Set stores the given checkpoints whatever is stored, backwards too, with
// one HSET: all of them or, when it fails, none. A checkpoint failing
// Validate fails it, naming the shard, with nothing written. Set also
// overwrites values this package did not write, which Save refuses to
// compare with.
func (s *Store) Set(ctx context.Context, app, stream string, checkpoints map[string]checkpoint.Checkpoint) error {
	key, fail, err := s.begin(ctx, "set %s/%s in %s", app, stream)
	if err != nil {
		return err
	}
	pairs, err := fields(checkpoints)
	if err != nil || len(pairs) == 0 {
		return wrapErr(fail, err)
	}
	return wrapErr(fail, s.client.HSet(ctx, key, pairs...).Err())
}

// Delete removes the checkpoints of shards with one HDEL; a shard without
// one is skipped.
func (s *Store) Delete(ctx context.Context, app, stream string, shards []string) error {
	key, fail, err := s.begin(ctx, "delete from %s/%s in %s", app, stream)
	if err != nil || len(shards) == 0 {
		return err
	}
	return wrapErr(fail, s.client.HDel(ctx, key, shards...).Err())
}
