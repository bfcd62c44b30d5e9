// Package redischeckpoint is a checkpoint.Store kept in Redis, through
// github.com/redis/go-redis/v9.
//
//	import "github.com/kinesin-go/kinesin/checkpoint/redischeckpoint"
//
//	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"}) // github.com/redis/go-redis/v9
//	store := redischeckpoint.New(client)
//	st, err := kinesin.Open(ctx, "orders", dec, kinesin.WithCheckpointer(store), kinesin.WithApp("billing"))
//
// It meets the contract of package checkpoint, as checked by the suite in
// checkpoint/checkpointtest run against redis-server. It takes any
// redis.UniversalClient: a single server, Sentinel failover, a Ring or
// Redis Cluster, since every call touches exactly one key.
//
// # Key layout
//
// One hash per (app, stream), under the key
//
//	<prefix>{<length of app>:<app>/<stream>}
//
// with the prefix "kinesin:checkpoint:" by default (see Prefix) and the byte
// length of the app name in decimal: app "billing" and stream "orders" are
// kept under "kinesin:checkpoint:{7:billing/orders}" (Store.Key returns it).
// The length keeps pairs apart whatever bytes the names hold ("3:a/b/c" is
// app "a/b", "1:a/b/c" is app "a"); the braces make the namespace a Redis
// Cluster hash tag.
//
// In the hash, the field is the shard id and the value the shard's
// checkpoint as a string of 150 digits that compares, as a string, the way
// checkpoint.Checkpoint.Compare orders checkpoints:
//
//	[0]        '0' for a start checkpoint, '1' for a position, '2' for the shard-end marker
//	[1:130]    a position's sequence number, zero-padded to 129 digits
//	[130]      '1' for a whole record, '0' for a sub-record (Partial)
//	[131:150]  the sub-sequence number of a sub-record, zero-padded to 19 digits
//
// A start checkpoint, and an end marker, hold their time in Unix
// nanoseconds, zero-padded to 19 digits, at [1:20], and zeros after.
//
// Sequence numbers come back from Load without leading zeros.
//
// # Reads and writes
//
// Load is one HGETALL. Save is one EVALSHA of a Lua script (EVAL when the
// server's script cache lacks it, e.g. after SCRIPT FLUSH or a restart) that
// compares, for every shard of the call, the stored value with the new one
// and writes only those above, so a checkpoint never moves backwards. Redis
// runs the script atomically: a Save applies all of its shards or, when it
// fails, none. The script refuses, writing nothing, a Save whose hash holds
// a value not made by this package, rather than overwrite it.
//
// # Errors and retries
//
// Errors are returned wrapped, naming the app, stream and key, and a done
// context fails the call with an error wrapping ctx.Err(). The store does
// not retry: go-redis retries a command that failed on the network up to the
// client's MaxRetries (3 by default), which is safe here since the script
// only moves checkpoints forward; the consumer retries the rest.
//
// # Operators
//
// Store implements checkpoint.Admin, for the kinesin command and tools of
// your own: Set (one HSET of every shard given, backwards too), Delete (one
// HDEL) and List (a SCAN of the keys under the prefix, on every master of a
// Redis Cluster). While the
// server is down, a call fails once go-redis gives up: about 3.5s with the
// client's default dial and command retries. What you may see:
//
//   - checkpoint.ErrInvalid: a malformed checkpoint; nothing of that Save was
//     written. A bug of the caller.
//   - a *net.OpError or io.EOF: the server cannot be reached; the consumer
//     keeps its positions and retries.
//   - a redis.Error such as WRONGTYPE, NOAUTH or READONLY: the key holds
//     something else, or the client is not allowed to write there.
//   - "malformed checkpoint stored for shard ...": a value of the hash was
//     not written by this package; fix or delete it.
//   - context.Canceled or context.DeadlineExceeded: the caller's context
//     ended.
package redischeckpoint

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/storekey"
)

// DefaultPrefix is the prefix of every key unless Prefix says otherwise.
const DefaultPrefix = "kinesin:checkpoint:"

// saveScript writes, in the hash KEYS[1], for each pair (shard id, value) of
// ARGV, the value when it is above the stored one. Values all have the same
// length and hold digits only, so the string comparison of Lua orders them.
// It first checks every stored value it would compare with, and fails,
// writing nothing, on one of another format. It returns how many it wrote.
var saveScript = redis.NewScript(`
local key = KEYS[1]
local want = tonumber(ARGV[1])
local old = {}
for i = 2, #ARGV, 2 do
  local v = redis.call('HGET', key, ARGV[i])
  if v and (#v ~= want or not string.match(v, '^%d+$')) then
    return redis.error_reply('malformed checkpoint stored for shard ' .. ARGV[i])
  end
  old[i] = v
end
local written = 0
for i = 2, #ARGV, 2 do
  if (not old[i]) or ARGV[i + 1] > old[i] then
    redis.call('HSET', key, ARGV[i], ARGV[i + 1])
    written = written + 1
  end
end
return written
`)

// Store is a checkpoint.Store kept in Redis. It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ checkpoint.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*options)

type options struct {
	prefix string
}

// WithPrefix sets the prefix of the keys the store uses, overriding the default
// "kinesin:checkpoint:". Stores with different prefixes keep apart in one
// database. A prefix holding '{' would make its own hash tag and put every
// (app, stream) of the store in one Redis Cluster slot.
func WithPrefix(p string) Option {
	return func(o *options) { o.prefix = p }
}

// New returns a store keeping checkpoints in Redis through client. The store
// does not close the client. A nil client makes every call fail.
func New(client redis.UniversalClient, opts ...Option) *Store {
	o := options{prefix: DefaultPrefix}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return &Store{client: client, prefix: o.prefix}
}

// Key returns the key of the hash holding the checkpoints of (app, stream).
func (s *Store) Key(app, stream string) string {
	prefix := DefaultPrefix
	if s != nil {
		prefix = s.prefix
	}
	return prefix + "{" + storekey.Namespace(app, stream) + "}"
}

var errNoClient = errors.New("no Redis client: New was given nil")

// Load returns every checkpoint stored for (app, stream), by shard id, with
// one HGETALL: an empty non-nil map when there is none.
func (s *Store) Load(ctx context.Context, app, stream string) (map[string]checkpoint.Checkpoint, error) {
	key, fail, err := s.begin(ctx, "load %s/%s from %s", app, stream)
	if err != nil {
		return nil, err
	}
	vals, err := s.client.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fail(err)
	}
	out := make(map[string]checkpoint.Checkpoint, len(vals))
	for shard, v := range vals {
		cp, err := storekey.ParseOrderKey(v)
		if err != nil {
			return nil, fail(fmt.Errorf("shard %s: %w", shard, err))
		}
		out[shard] = cp
	}
	return out, nil
}

// begin starts a call on the hash of (app, stream): it returns its key, the
// function wrapping the call's errors (what, a format, names the call from
// app, stream and key), and the call's error when ctx is done or the store
// has no client.
func (s *Store) begin(ctx context.Context, what, app, stream string) (string, func(error) error, error) {
	key := s.Key(app, stream)
	fail := func(err error) error {
		return fmt.Errorf("redis: "+what+": %w", app, stream, key, err)
	}
	if err := ctx.Err(); err != nil {
		return key, fail, fail(err)
	}
	if s == nil || s.client == nil {
		return key, fail, fail(errNoClient)
	}
	return key, fail, nil
}

// fields validates checkpoints and returns, in shard order, the pairs of
// shard id and ordering key to write; nil for none.
func fields(checkpoints map[string]checkpoint.Checkpoint) ([]any, error) {
	shards := slices.Sorted(maps.Keys(checkpoints))
	var out []any
	for _, shard := range shards {
		cp := checkpoints[shard]
		if err := cp.Validate(); err != nil {
			return nil, fmt.Errorf("shard %s: %w", shard, err)
		}
		out = append(out, shard, storekey.OrderKey(cp))
	}
	return out, nil
}

// Save stores, for each shard, the given checkpoint when it is above the
// stored one (by checkpoint.Checkpoint.Compare), with one script run for the
// whole call; a checkpoint that is not above leaves the stored one unchanged
// and is not an error. Save applies all of its shards or none.
//
// When one checkpoint fails Validate, it writes nothing and returns an error
// wrapping checkpoint.ErrInvalid that names the shard (the first in lexical
// order). Save keeps no reference to checkpoints.
func (s *Store) Save(ctx context.Context, app, stream string, checkpoints map[string]checkpoint.Checkpoint) error {
	key, fail, err := s.begin(ctx, "save %s/%s to %s", app, stream)
	if err != nil {
		return err
	}
	pairs, err := fields(checkpoints)
	if err != nil || len(pairs) == 0 {
		return wrapErr(fail, err)
	}
	args := append([]any{storekey.OrderKeyLen}, pairs...)
	if err := saveScript.Run(ctx, s.client, []string{key}, args...).Err(); err != nil {
		return fail(err)
	}
	return nil
}

// wrapErr returns fail(err), or nil when err is nil.
func wrapErr(fail func(error) error, err error) error {
	if err == nil {
		return nil
	}
	return fail(err)
}
