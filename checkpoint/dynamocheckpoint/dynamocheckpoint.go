// Package dynamocheckpoint is a checkpoint.Store kept in an Amazon DynamoDB table,
// through the AWS SDK for Go v2.
//
//	import "github.com/kinesin-go/kinesin/checkpoint/dynamocheckpoint"
//
//	client := dynamodb.NewFromConfig(cfg) // github.com/aws/aws-sdk-go-v2/service/dynamodb
//	if err := dynamocheckpoint.CreateTable(ctx, client, "kinesin-checkpoints"); err != nil { ... }
//	store := dynamocheckpoint.New(client, "kinesin-checkpoints")
//	st, err := kinesin.Open(ctx, "orders", dec, kinesin.WithCheckpointer(store), kinesin.WithApp("billing"))
//
// It meets the contract of package checkpoint, as checked by the suite in
// checkpoint/checkpointtest run against dynalite.
//
// # Table schema
//
// One item per (app, stream, shard), in a table with
//
//	partition key  namespace  (S)  app and stream, encoded as below
//	sort key       shard_id   (S)  the shard id, e.g. shardId-000000000007
//
// CreateTable makes such a table (billing mode PAY_PER_REQUEST), or you can
// create it yourself with any billing mode; the store reads no other index.
// The partition key is the byte length of the app name in decimal, ':', the
// app name, '/', and the stream name: app "billing" and stream "orders" give
// "7:billing/orders". The length keeps pairs apart whatever characters the
// names hold ("3:a/b/c" is app "a/b", "1:a/b/c" is app "a"). Names must be
// valid UTF-8 and the partition key at most 2,048 bytes; shard ids non-empty
// UTF-8 of at most 1,024 bytes.
//
// Each item also holds:
//
//	seq_key          (S)     the ordering key: 150 digits, see below
//	sequence_number  (S)     the sequence number as saved; only for a position
//	sub_seq          (N)     the sub-sequence number (0 unless partial)
//	partial          (BOOL)  only the sub-records up to sub_seq were processed
//	shard_end        (BOOL)  the shard was read to its end
//	start_time       (S)     of a start checkpoint, or of an end marker that
//	                         has one (see checkpoint.Checkpoint), RFC 3339 in UTC
//	updated_at       (S)     time of the write, RFC 3339 in UTC
//
// Sequence numbers have up to 129 digits and DynamoDB numbers hold 38, so the
// order is kept in seq_key, a string of 150 digits that compares as
// checkpoint.Checkpoint.Compare does: its first
// digit is '0' for a start checkpoint, '1' for a position, '2' for the
// shard-end marker; a position follows with the sequence number zero-padded
// to 129 digits, '1' for a whole record or '0' for a sub-record, and the
// sub-sequence number zero-padded to 19 digits; a start or an end marker
// with its time in Unix nanoseconds. Load reads the other attributes;
// seq_key is only compared. Writes use UpdateItem, so attributes you add to
// an item (a TTL, an owner) are kept.
//
// # Writes
//
// Save writes each shard with one conditional UpdateItem,
// "attribute_not_exists(seq_key) OR seq_key < :new": a checkpoint never moves
// backwards, and a write refused by the condition is not newer and not an
// error. DynamoDB has no conditional batch write, so the shards of one Save
// are written concurrently, a few at a time (Concurrency); a Save is not
// atomic across shards, which the contract allows: writes only go forward, so
// a retried Save is harmless. Save validates every checkpoint before writing
// any. Load reads the (app, stream) state with a strongly consistent Query,
// one call per 1 MB page: about one call for a thousand shards.
//
// # Operators
//
// Store implements checkpoint.Admin, for the kinesin command and tools of
// your own: Set (one unconditional UpdateItem per shard, so backwards too),
// Delete (one DeleteItem per shard) and List (a Scan of the partition keys
// of the whole table). They need a client with DeleteItem and Scan
// (AdminAPI), as a *dynamodb.Client has, and the IAM actions
// dynamodb:UpdateItem, dynamodb:DeleteItem and dynamodb:Scan.
//
// # Errors
//
// Throttling (ProvisionedThroughputExceededException, RequestLimitExceeded,
// ThrottlingException), errors on the service's side (InternalServerError,
// HTTP 5xx) and connection errors are retried with exponential jittered
// backoff for at most MaxRetryTime (default 10s) and while the context lasts,
// on top of the SDK client's own retries. Every other error, or the last one
// when retries give up, is returned wrapped, naming the table, app, stream
// and shard: errors.As finds the SDK's typed error, e.g.
// *types.ResourceNotFoundException when the table does not exist. A done
// context fails the call with an error wrapping ctx.Err().
package dynamocheckpoint

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/dynamo"
)

// Attribute names of an item (see the package doc), as internal/dynamo
// writes and reads them.
const (
	attrNamespace = dynamo.AttrNamespace
	attrShardID   = dynamo.AttrShardID
	attrSeq       = dynamo.AttrSeq
	attrSubSeq    = dynamo.AttrSubSeq
	attrPartial   = dynamo.AttrPartial
	attrShardEnd  = dynamo.AttrShardEnd
	attrStartTime = dynamo.AttrStartTime
	attrUpdatedAt = dynamo.AttrUpdatedAt
)

// API is the part of *dynamodb.Client that Store calls. Pass a
// *dynamodb.Client, or a wrapper of one.
type API interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store is a checkpoint.Store kept in a DynamoDB table. It is safe for
// concurrent use.
type Store struct {
	client API
	table  string
	opts   options
}

var _ checkpoint.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*options)

type options struct {
	concurrency int
	retry       dynamo.Retrier
	now         func() time.Time
}

// Default settings.
const (
	DefaultConcurrency  = 8
	DefaultMaxRetryTime = 10 * time.Second
)

// WithConcurrency sets how many shards of one Save are written at the same time,
// overriding the default 8. Values below 1 mean 1.
func WithConcurrency(n int) Option {
	return func(o *options) { o.concurrency = max(n, 1) }
}

// WithMaxRetryTime sets for how long a throttled or transiently failing call is
// retried, with exponential jittered backoff from 50ms up to 2s between
// attempts, overriding the default 10s. Zero or less turns these retries off:
// each call is then tried once (beyond the SDK client's own retries).
func WithMaxRetryTime(d time.Duration) Option {
	return func(o *options) { o.retry.MaxElapsed = max(d, 0) }
}

// New returns a store keeping checkpoints in table through client. The table
// must have the schema of the package doc; CreateTable makes one. An empty
// table name or a nil client makes every call fail.
func New(client API, table string, opts ...Option) *Store {
	o := dynamo.Configure(options{
		concurrency: DefaultConcurrency,
		retry:       dynamo.Retrier{Initial: 50 * time.Millisecond, Max: 2 * time.Second, MaxElapsed: DefaultMaxRetryTime},
		now:         time.Now,
	}, opts)
	return &Store{client: client, table: table, opts: o}
}

// start checks what every call needs and returns the partition key.
func (s *Store) start(ctx context.Context, app, stream string) (string, error) {
	if err := dynamo.Ready(ctx, s == nil || s.client == nil, s.tableName()); err != nil {
		return "", err
	}
	return dynamo.NamespaceKey(app, stream)
}

// Load returns every checkpoint stored for (app, stream), by shard id: an
// empty non-nil map when there is none. It reads them with a strongly
// consistent Query, page after page, retrying throttled pages.
func (s *Store) Load(ctx context.Context, app, stream string) (map[string]checkpoint.Checkpoint, error) {
	fail := func(err error) (map[string]checkpoint.Checkpoint, error) {
		return nil, fmt.Errorf("dynamodb: load %s/%s from table %s: %w", app, stream, s.tableName(), err)
	}
	ns, err := s.start(ctx, app, stream)
	if err != nil {
		return fail(err)
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		ConsistentRead:           aws.Bool(true),
		KeyConditionExpression:   aws.String("#ns = :ns"),
		ProjectionExpression:     aws.String("#shard, #seq, #sub, #partial, #end, #ts"),
		ExpressionAttributeNames: map[string]string{"#ns": attrNamespace, "#shard": attrShardID, "#seq": attrSeq, "#sub": attrSubSeq, "#partial": attrPartial, "#end": attrShardEnd, "#ts": attrStartTime},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ns": &types.AttributeValueMemberS{Value: ns},
		},
	}
	items, err := dynamo.Items(ctx, s.opts.retry, dynamodb.NewQueryPaginator(s.client, in), queryItems)
	if err != nil {
		return fail(err)
	}
	out := make(map[string]checkpoint.Checkpoint, len(items))
	for _, item := range items {
		shard, cp, err := decodeItem(item)
		if err != nil {
			return fail(err)
		}
		out[shard] = cp
	}
	return out, nil
}

func queryItems(p *dynamodb.QueryOutput) []map[string]types.AttributeValue { return p.Items }

// decodeItem reads the shard id and checkpoint of an item.
func decodeItem(item map[string]types.AttributeValue) (string, checkpoint.Checkpoint, error) {
	shard, ok := item[attrShardID].(*types.AttributeValueMemberS)
	if !ok {
		return "", checkpoint.Checkpoint{}, fmt.Errorf("an item has no string %s", attrShardID)
	}
	bad := func(format string, args ...any) (string, checkpoint.Checkpoint, error) {
		return "", checkpoint.Checkpoint{}, fmt.Errorf("shard %s: malformed item: "+format, append([]any{shard.Value}, args...)...)
	}
	cp, ok, err := dynamo.DecodeCheckpoint(item)
	switch {
	case err != nil:
		return bad("%v", err)
	case !ok:
		return bad("no string %s", attrSeq)
	}
	return shard.Value, cp, nil
}

// Save stores, for each shard, the given checkpoint when it is above the
// stored one (by checkpoint.Checkpoint.Compare), with one conditional
// UpdateItem per shard, Concurrency at a time; a checkpoint that is not above
// leaves the stored one unchanged and is not an error.
//
// It first checks every checkpoint and shard id, and writes nothing when one
// is invalid, returning an error wrapping checkpoint.ErrInvalid that names
// the shard (the first in lexical order). Once writing, it stops at the
// first shard that fails, returning that shard's error; the shards written
// until then stay written. Save keeps no reference to checkpoints.
func (s *Store) Save(ctx context.Context, app, stream string, checkpoints map[string]checkpoint.Checkpoint) error {
	return s.writeAll(ctx, "save "+app+"/"+stream+" to", app, stream, checkpoints, true)
}

// writeAll checks checkpoints, then writes each (when forward, only if
// above the stored one), Concurrency at a time. what names the call in its
// errors.
func (s *Store) writeAll(ctx context.Context, what, app, stream string, checkpoints map[string]checkpoint.Checkpoint, forward bool) error {
	fail := func(err error) error {
		return fmt.Errorf("dynamodb: %s table %s: %w", what, s.tableName(), err)
	}
	ns, err := s.start(ctx, app, stream)
	if err != nil {
		return fail(err)
	}
	shards, err := checkShards(checkpoints)
	if err != nil {
		return fail(err)
	}
	if err := s.each(ctx, shards, func(ctx context.Context, shard string) error {
		return s.write(ctx, ns, shard, checkpoints[shard], forward)
	}); err != nil {
		return fail(err)
	}
	return nil
}

// each runs do for every shard, Concurrency at a time, in order, until one
// fails; the first failure cancels the others' calls and is returned, naming
// its shard.
func (s *Store) each(ctx context.Context, shards []string, do func(ctx context.Context, shard string) error) error {
	if len(shards) == 0 {
		return nil
	}
	if len(shards) == 1 || s.opts.concurrency == 1 {
		for _, shard := range shards {
			if err := do(ctx, shard); err != nil {
				return fmt.Errorf("shard %s: %w", shard, err)
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		next     int
		firstErr error
		wg       sync.WaitGroup
	)
	take := func() (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next == len(shards) {
			return "", false
		}
		next++
		return shards[next-1], true
	}
	for range min(s.opts.concurrency, len(shards)) {
		wg.Go(func() {
			for {
				shard, ok := take()
				if !ok {
					return
				}
				if err := do(ctx, shard); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("shard %s: %w", shard, err)
						cancel()
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// write stores cp for shard; when forward, only if the stored checkpoint is
// below it.
func (s *Store) write(ctx context.Context, ns, shard string, cp checkpoint.Checkpoint, forward bool) error {
	names := map[string]string{"#at": attrUpdatedAt}
	values := map[string]types.AttributeValue{
		":at": &types.AttributeValueMemberS{Value: s.opts.now().UTC().Format(time.RFC3339Nano)},
	}
	update := dynamo.SetCheckpoint(cp, "#at = :at", names, values)
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key: map[string]types.AttributeValue{
			attrNamespace: &types.AttributeValueMemberS{Value: ns},
			attrShardID:   &types.AttributeValueMemberS{Value: shard},
		},
		UpdateExpression:          aws.String(update),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
	if forward {
		in.ConditionExpression = aws.String(dynamo.Forward)
	}
	_, err := s.opts.retry.Do(ctx, func(ctx context.Context) error {
		_, err := s.client.UpdateItem(ctx, in)
		return err
	})
	var notNewer *types.ConditionalCheckFailedException
	if errors.As(err, &notNewer) {
		return nil // the stored checkpoint is at or above cp
	}
	return err
}

// checkShards checks the shard id and the checkpoint of each of
// checkpoints, and returns the shard ids in order.
func checkShards(checkpoints map[string]checkpoint.Checkpoint) ([]string, error) {
	shards := slices.Sorted(maps.Keys(checkpoints))
	for _, shard := range shards {
		err := checkShardID(shard)
		if err == nil {
			err = checkpoints[shard].Validate()
		}
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", shard, err)
		}
	}
	return shards, nil
}

// checkShardID reports whether id can be a sort key.
func checkShardID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty shard id", checkpoint.ErrInvalid)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: shard id is not valid UTF-8", checkpoint.ErrInvalid)
	case len(id) > dynamo.MaxSortKey:
		return fmt.Errorf("%w: shard id has %d bytes, DynamoDB takes at most %d", checkpoint.ErrInvalid, len(id), dynamo.MaxSortKey)
	}
	return nil
}

func (s *Store) tableName() string {
	if s == nil {
		return ""
	}
	return s.table
}
