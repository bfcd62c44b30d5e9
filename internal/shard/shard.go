// Package shard is the contract between kinesin's stream scheduler and the
// readers of single shards: polling (GetRecords) and efo (SubscribeToShard).
// A Reader reads one shard from a starting position to its end, asking before
// each fetch how many records it may take and handing each fetch over as a
// Batch.
package shard

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/internal/wire"
)

// Start is where a read begins.
type Start struct {
	// Type is TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER,
	// AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP.
	Type types.ShardIteratorType
	// SequenceNumber goes with AT_ and AFTER_SEQUENCE_NUMBER.
	SequenceNumber string
	// Timestamp goes with AT_TIMESTAMP.
	Timestamp time.Time
}

// Spec names the shard to read and where to begin.
type Spec struct {
	// Stream is the stream's name or ARN (readers that need the ARN are given
	// it).
	Stream string
	// ID is the shard id.
	ID    string
	Start Start
}

// Batch is the records of one fetch, in sequence order.
type Batch struct {
	Records []types.Record
	// MillisBehindLatest is how far the batch is from the tip of the shard.
	MillisBehindLatest int64
	// TrimmedAfter, on the first batch read after the start's sequence
	// number was found past the stream's retention, is that sequence
	// number: the read resumed at TRIM_HORIZON, and the records after it
	// and before this batch were trimmed unread.
	TrimmedAfter string
}

// End is how a shard read ended: the shard is closed and was read to its end.
type End struct {
	// ChildShards are the shards that replaced the closed shard, as the
	// service reported them; empty from services that do not (kinesalite).
	ChildShards []types.ChildShard
	// TrimmedAfter is as Batch.TrimmedAfter, for a read that found its
	// start trimmed and no record after it.
	TrimmedAfter string
}

// Room is the room a read has for the records it fetches.
type Room interface {
	// Wait blocks until records may be fetched and returns how many, or
	// returns ctx's error. What it grants is held for one fetch: until the
	// records fetched are delivered (their first part replaces it), the
	// next Wait, or Unused.
	Wait(ctx context.Context) (int, error)
	// Unused gives back what the last Wait granted when the fetch brought
	// no records (or failed), so that a read does not hold room while it
	// waits for records: an idle shard must not keep the others waiting.
	Unused()
}

// RoomFunc is a Room of a function, with nothing to give back: for tests
// and tools.
type RoomFunc func(ctx context.Context) (int, error)

// Wait calls f.
func (f RoomFunc) Wait(ctx context.Context) (int, error) { return f(ctx) }

// Unused does nothing.
func (RoomFunc) Unused() {}

// Deliver hands a batch over; it may block, and returns ctx's error if ctx
// ends first.
type Deliver func(ctx context.Context, b Batch) error

// Reader reads shards.
type Reader interface {
	// Read reads spec's shard from spec.Start until the shard's end, ctx's
	// end, or an error that retrying cannot fix. Before each fetch it calls
	// room.Wait and takes at most that many records, and calls room.Unused
	// after a fetch that brought none; it hands each non-empty fetch to
	// deliver, in order. When the shard is closed and read to its end it
	// returns the End and a nil error. Errors of room and deliver, and ctx's,
	// are returned as they are; a ResourceNotFoundException (the shard or the
	// stream is gone) is returned wrapped, for the caller to tell apart.
	Read(ctx context.Context, spec Spec, room Room, deliver Deliver) (End, error)
}

// Operations a Reader reports to its Hooks.
const (
	OpGetRecords       = "GetRecords"
	OpGetShardIterator = "GetShardIterator"
	OpSubscribeToShard = "SubscribeToShard"
)

// Hooks observe a Reader; both readers take them. Every field is optional;
// hooks run on the goroutine of the Read they are about and must not block.
type Hooks struct {
	// OnCall runs after each call the reader makes, with the context of the
	// Read: op is GetRecords, GetShardIterator or SubscribeToShard (the call
	// that opens a subscription), which started at start, took d and failed
	// with err (nil on success).
	OnCall func(ctx context.Context, shardID, op string, start time.Time, d time.Duration, err error)
	// OnFetch runs for each fetch of records, before they are handed over:
	// a GetRecords response, or a SubscribeToShard event (with 0 records for
	// the heartbeats of a quiet shard).
	OnFetch func(shardID string, records int, millisBehind int64)
	// OnRetry runs before the reader waits to call op again after err: a
	// call that failed, or (broken) a subscription that broke after it
	// opened.
	OnRetry func(shardID, op string, wait time.Duration, err error, broken bool)
}

// Env is what a Reader is made with besides its client and options: where
// it logs (nil: nowhere), its hooks, and which decoder reads its responses.
type Env struct {
	Log   *slog.Logger
	Hooks Hooks
	// SDKDecoder makes the reader's GetRecords responses and
	// SubscribeToShard events decoded by the AWS SDK's own decoder; by
	// default internal/wire decodes them (wire.Install).
	SDKDecoder bool
}

// Decoder returns the option function that gives a reader's GetRecords or
// SubscribeToShard call the decoder env chooses.
func (env Env) Decoder() func(*kinesis.Options) { return wire.Option(!env.SDKDecoder) }

// Logger returns env.Log, or a logger that logs nothing.
func (env Env) Logger() *slog.Logger {
	if env.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return env.Log
}
