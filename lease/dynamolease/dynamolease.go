// Package dynamolease is a lease.Store kept in an Amazon DynamoDB table, through
// the AWS SDK for Go v2.
//
//	import "github.com/kinesin-go/kinesin/lease/dynamolease"
//
//	client := dynamodb.NewFromConfig(cfg) // github.com/aws/aws-sdk-go-v2/service/dynamodb
//	if err := dynamolease.CreateTable(ctx, client, "kinesin-leases"); err != nil { ... }
//	store := dynamolease.New(client, "kinesin-leases")
//	m, err := lease.New(store, "billing", "orders")
//
// It meets the contract of lease.Store, and of lease.Admin, as checked by the
// suite in lease/leasetest run against dynalite.
//
// # Table schema
//
// One item per (app, stream, shard) lease and one per (app, stream, worker),
// in a table with
//
//	partition key  namespace  (S)  app and stream (below)
//	sort key       shard_id   (S)  the shard id, e.g. shardId-000000000007,
//	                               or "worker#" and the worker id for a worker row
//
// CreateTable makes such a table (billing mode PAY_PER_REQUEST), or you can
// create it yourself with any billing mode; the store reads no index. The
// partition key is the byte length of the app name in decimal, ':', the app
// name, '/', and the stream name: app "billing" and stream "orders" give
// "7:billing/orders" (the key of the checkpoint table of
// checkpoint/dynamocheckpoint; keep leases in a table of their own). All the leases
// and workers of an (app, stream) share a partition, so List is one Query;
// that partition's write throughput (1,000 write units per second) bounds a
// stream to roughly 2,000 leases with the lease package's defaults (a renewal every
// 3.3 s and a checkpoint every few seconds per lease).
// Shard ids are non-empty UTF-8 of at most 1,024 bytes that do not begin with
// "worker#"; worker ids at most 1,017 bytes.
//
// A lease item also holds:
//
//	owner            (S)     the owning worker; absent when the lease is free
//	counter          (N)     the lease counter, from 0 at creation
//	next_owner       (S)     the worker that asked for a handoff; absent when none
//	parents          (L)     the parent shard ids, as strings, in order; absent when none
//	seq_key          (S)     the checkpoint's ordering key, as in checkpoint/dynamocheckpoint; absent without a checkpoint
//	sequence_number  (S)     the checkpoint's sequence number; only for a position
//	sub_seq          (N)     its sub-sequence number (0 unless partial)
//	partial          (BOOL)  only the sub-records up to sub_seq were processed
//	shard_end        (BOOL)  the shard was read to its end
//	start_time       (S)     of a start checkpoint, or of an end marker that has
//	                         one (see checkpoint.Checkpoint), RFC 3339 UTC
//	updated_at       (S)     wall-clock time of the last write, RFC 3339 UTC, for people
//
// A worker row holds worker_id (S), counter (N) and updated_at (S).
// updated_at is never compared: expiry is judged by each worker watching
// counters on its own monotonic clock.
//
// # Writes
//
// Every operation is one conditional call, with #placeholders for every
// attribute name:
//
//	Create          PutItem     attribute_not_exists(shard_id)                 fails: ErrExists
//	Take            UpdateItem  counter = :c AND owner = :o (or no owner)      SET owner, counter+1; REMOVE next_owner
//	Renew           UpdateItem  counter = :c AND owner = :o                    SET counter+1
//	Checkpoint      UpdateItem  ... AND (no seq_key OR seq_key < :k)            SET checkpoint, counter+1
//	Release         UpdateItem  counter = :c AND owner = :o                    REMOVE owner, next_owner; SET counter+1
//	Delete          DeleteItem  counter = :c AND owner = :o (or no owner)
//	RequestHandoff  UpdateItem  owner = :o AND (no next_owner OR next_owner = :to)   SET next_owner
//	Heartbeat       UpdateItem  none                                          ADD counter 1
//	DeleteWorker    DeleteItem  counter = :c
//	SetCheckpoint   UpdateItem  counter = :c AND owner = :o (or no owner)      SET checkpoint (or REMOVE it), counter+1
//
// A ConditionalCheckFailedException becomes an error wrapping lease.ErrLost
// (lease.ErrExists for Create). Since DynamoDB (and dynalite) cannot say
// which part of a condition failed, a failed Checkpoint reads the item back
// (strongly consistent GetItem) to tell a checkpoint that is not forward (no
// error, the lease returned as stored) from a lost lease. A write that failed
// transiently, was retried, and then failed its condition may have succeeded
// the first time: the item is read back, and when it is exactly what the
// write makes, the write is reported as successful.
//
// List reads the (app, stream) partition with a strongly consistent Query,
// page after page.
//
// # Errors
//
// Throttling (ProvisionedThroughputExceededException, RequestLimitExceeded,
// ThrottlingException), errors on the service's side (InternalServerError,
// HTTP 5xx) and connection errors are retried with exponential jittered
// backoff for at most MaxRetryTime (default 2s: a lease write that cannot
// get through in that time is better reported to the worker, which retries
// on its own schedule) and while the context lasts, on top of the SDK
// client's own retries. Every other error, or the last one when retries give
// up, is returned wrapped, naming the table, app, stream and shard or worker:
// errors.As finds the SDK's typed error, e.g. *types.ResourceNotFoundException
// when the table does not exist. A done context fails the call with an error
// wrapping ctx.Err().
package dynamolease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/dynamo"
	"github.com/kinesin-go/kinesin/internal/storekey"
	"github.com/kinesin-go/kinesin/lease"
)

// API is the part of *dynamodb.Client that Store calls. Pass a
// *dynamodb.Client, or a wrapper of one.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store is a lease.Store kept in a DynamoDB table. It is safe for concurrent
// use.
type Store struct {
	client API
	table  string
	opts   options
}

var _ lease.Admin = (*Store)(nil)

// Option configures a Store.
type Option func(*options)

type options struct {
	retry dynamo.Retrier
	now   func() time.Time
}

// DefaultMaxRetryTime is how long a throttled or transiently failing call is
// retried by default.
const DefaultMaxRetryTime = 2 * time.Second

// WithMaxRetryTime sets for how long a throttled or transiently failing call is
// retried, with exponential jittered backoff from 25ms up to 500ms between
// attempts, overriding the default 2s. Keep it well below the lease
// duration: renewals must not wait longer than the lease lives. Zero or less
// turns these retries off: each call is then tried once (beyond the SDK
// client's own retries).
func WithMaxRetryTime(d time.Duration) Option {
	return func(o *options) { o.retry.MaxElapsed = max(d, 0) }
}

// New returns a store keeping leases in table through client. The table must
// have the schema of the package doc; CreateTable makes one. An empty table
// name or a nil client makes every call fail.
func New(client API, table string, opts ...Option) *Store {
	o := dynamo.Configure(options{
		retry: dynamo.Retrier{Initial: 25 * time.Millisecond, Max: 500 * time.Millisecond, MaxElapsed: DefaultMaxRetryTime},
		now:   time.Now,
	}, opts)
	return &Store{client: client, table: table, opts: o}
}

func (s *Store) tableName() string {
	if s == nil {
		return ""
	}
	return s.table
}

// start checks what every call needs and returns the partition key.
func (s *Store) start(ctx context.Context, app, stream string) (string, error) {
	if err := dynamo.Ready(ctx, s == nil || s.client == nil, s.tableName()); err != nil {
		return "", err
	}
	return namespaceKey(app, stream)
}

// failer wraps errors of an operation with its names.
func (s *Store) failer(op, app, stream, id string) func(error) error {
	return func(err error) error {
		if id == "" {
			return fmt.Errorf("dynamodb: %s %s/%s in table %s: %w", op, app, stream, s.tableName(), err)
		}
		return fmt.Errorf("dynamodb: %s %s/%s %s in table %s: %w", op, app, stream, id, s.tableName(), err)
	}
}

func conflict(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func (s *Store) now() string { return s.opts.now().UTC().Format(time.RFC3339Nano) }

// List returns every lease and worker row of (app, stream), sorted by id.
func (s *Store) List(ctx context.Context, app, stream string) ([]lease.Lease, []lease.Worker, error) {
	fail := s.failer("list", app, stream, "")
	ns, err := s.start(ctx, app, stream)
	if err != nil {
		return nil, nil, fail(err)
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		ConsistentRead:           aws.Bool(true),
		KeyConditionExpression:   aws.String("#ns = :ns"),
		ExpressionAttributeNames: map[string]string{"#ns": attrNamespace},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ns": str(ns),
		},
	}
	var (
		leases  []lease.Lease
		workers []lease.Worker
	)
	items, err := dynamo.Items(ctx, s.opts.retry, dynamodb.NewQueryPaginator(s.client, in),
		func(p *dynamodb.QueryOutput) []map[string]types.AttributeValue { return p.Items })
	if err != nil {
		return nil, nil, fail(err)
	}
	for _, item := range items {
		if strings.HasPrefix(optString(item, attrShardID), WorkerPrefix) {
			w, err := decodeWorker(item)
			if err != nil {
				return nil, nil, fail(err)
			}
			workers = append(workers, w)
			continue
		}
		l, err := decodeLease(item)
		if err != nil {
			return nil, nil, fail(err)
		}
		leases = append(leases, l)
	}
	sortLeases(leases)
	slices.SortFunc(workers, func(a, b lease.Worker) int { return strings.Compare(a.ID, b.ID) })
	return leases, workers, nil
}

// get reads the item of a lease with a strongly consistent GetItem: nil when
// it does not exist.
func (s *Store) get(ctx context.Context, ns, shard string) (map[string]types.AttributeValue, error) {
	var out *dynamodb.GetItemOutput
	_, err := s.opts.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.table),
			ConsistentRead: aws.Bool(true),
			Key:            key(ns, shard),
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the item back: %w", err)
	}
	return out.Item, nil
}

// Create stores a new free lease, or fails with lease.ErrExists.
func (s *Store) Create(ctx context.Context, app, stream string, l lease.Lease) error {
	fail := s.failer("create", app, stream, l.Shard)
	ns, err := s.start(ctx, app, stream)
	if err != nil {
		return fail(err)
	}
	if err := checkShard(l.Shard); err != nil {
		return fail(err)
	}
	for _, p := range l.Parents {
		if !utf8.ValidString(p) {
			return fail(fmt.Errorf("%w: parent shard id %q is not valid UTF-8", lease.ErrInvalid, p))
		}
	}
	item := key(ns, l.Shard)
	item[attrCounter] = num(0)
	item[attrUpdatedAt] = str(s.now())
	if len(l.Parents) > 0 {
		item[attrParents] = parentsValue(l.Parents)
	}
	if l.HasCheckpoint() {
		if err := l.Checkpoint.Validate(); err != nil {
			return fail(err)
		}
		for k, v := range dynamo.CheckpointValues(l.Checkpoint) {
			item[k] = v
		}
	}
	_, err = s.opts.retry.Do(ctx, func(ctx context.Context) error {
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                aws.String(s.table),
			Item:                     item,
			ConditionExpression:      aws.String("attribute_not_exists(#sk)"),
			ExpressionAttributeNames: map[string]string{"#sk": attrShardID},
		})
		return err
	})
	if conflict(err) {
		return fail(lease.ErrExists)
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// write is one conditional UpdateItem on a lease, returning the item as
// written. On a failed condition it returns lost; when the call had been
// retried before, it first reads the item back and returns it as written
// when ok accepts it (the first attempt succeeded).
type write struct {
	ns, shard string
	update    string
	cond      string
	names     map[string]string
	values    map[string]types.AttributeValue
	// resolve decides, from the current item (nil when absent), what a
	// failed condition means; nil: lease.ErrLost.
	resolve func(item map[string]types.AttributeValue, retried bool) (lease.Lease, error)
}

func (s *Store) update(ctx context.Context, w write) (lease.Lease, error) {
	names := map[string]string{"#at": attrUpdatedAt}
	for k, v := range w.names {
		names[k] = v
	}
	values := map[string]types.AttributeValue{":at": str(s.now())}
	for k, v := range w.values {
		values[k] = v
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(w.ns, w.shard),
		UpdateExpression:          aws.String(w.update),
		ConditionExpression:       aws.String(w.cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	}
	var out *dynamodb.UpdateItemOutput
	attempts, err := s.opts.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.client.UpdateItem(ctx, in)
		return err
	})
	if conflict(err) {
		if w.resolve == nil {
			return lease.Lease{}, fmt.Errorf("%w: the lease changed or is gone", lease.ErrLost)
		}
		item, err := s.get(ctx, w.ns, w.shard)
		if err != nil {
			return lease.Lease{}, fmt.Errorf("%w: the lease changed or is gone (%w)", lease.ErrLost, err)
		}
		return w.resolve(item, attempts > 1)
	}
	if err != nil {
		return lease.Lease{}, err
	}
	return decodeLease(out.Attributes)
}

// lostUnless returns a resolve function accepting the current item as the
// result of a retried write when it has owner and counter.
func lostUnless(owner string, counter uint64) func(map[string]types.AttributeValue, bool) (lease.Lease, error) {
	return func(item map[string]types.AttributeValue, retried bool) (lease.Lease, error) {
		if item != nil && retried {
			l, err := decodeLease(item)
			if err == nil && l.Owner == owner && l.Counter == counter {
				return l, nil
			}
		}
		return lease.Lease{}, describeLost(item)
	}
}

// describeLost returns an ErrLost naming what the item holds now.
func describeLost(item map[string]types.AttributeValue) error {
	if item == nil {
		return fmt.Errorf("%w: no such lease", lease.ErrLost)
	}
	owner, c := optString(item, attrOwner), ""
	if n, err := decodeCounter(item); err == nil {
		c = fmt.Sprint(n)
	}
	return fmt.Errorf("%w: now held by %q with counter %s", lease.ErrLost, owner, c)
}

// ownerCond returns the condition that the owner is owner ("" for none), and
// adds its placeholders.
func ownerCond(owner string, names map[string]string, values map[string]types.AttributeValue) string {
	names["#o"] = attrOwner
	if owner == "" {
		return "attribute_not_exists(#o)"
	}
	values[":o"] = str(owner)
	return "#o = :o"
}

func checkHolder(l lease.Lease) error {
	if err := checkShard(l.Shard); err != nil {
		return err
	}
	if l.Owner == "" {
		return fmt.Errorf("%w: no owner given", lease.ErrInvalid)
	}
	return nil
}

// Take makes owner the owner of a lease still held as observed.
func (s *Store) Take(ctx context.Context, app, stream string, observed lease.Lease, owner string) (lease.Lease, error) {
	fail := s.failer("take", app, stream, observed.Shard)
	ns, err := s.start(ctx, app, stream)
	if err == nil {
		err = checkShard(observed.Shard)
	}
	if err == nil {
		err = checkWorker(owner)
	}
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	names := map[string]string{"#sk": attrShardID, "#c": attrCounter, "#next": attrNextOwner}
	values := map[string]types.AttributeValue{":c": num(observed.Counter), ":one": num(1), ":new": str(owner)}
	cond := "attribute_exists(#sk) AND #c = :c AND " + ownerCond(observed.Owner, names, values)
	l, err := s.update(ctx, write{
		ns: ns, shard: observed.Shard,
		update:  "SET #o = :new, #c = #c + :one, #at = :at REMOVE #next",
		cond:    cond,
		names:   names,
		values:  values,
		resolve: lostUnless(owner, observed.Counter+1),
	})
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	return l, nil
}

// Renew increments the counter of a lease still held.
func (s *Store) Renew(ctx context.Context, app, stream string, held lease.Lease) (lease.Lease, error) {
	fail := s.failer("renew", app, stream, held.Shard)
	ns, err := s.start(ctx, app, stream)
	if err == nil {
		err = checkHolder(held)
	}
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	names := map[string]string{"#c": attrCounter}
	values := map[string]types.AttributeValue{":c": num(held.Counter), ":one": num(1)}
	l, err := s.update(ctx, write{
		ns: ns, shard: held.Shard,
		update:  "SET #c = #c + :one, #at = :at",
		cond:    "#c = :c AND " + ownerCond(held.Owner, names, values),
		names:   names,
		values:  values,
		resolve: lostUnless(held.Owner, held.Counter+1),
	})
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	return l, nil
}

// Checkpoint stores cp in a lease still held, when cp is above the stored
// checkpoint.
func (s *Store) Checkpoint(ctx context.Context, app, stream string, held lease.Lease, cp checkpoint.Checkpoint) (lease.Lease, error) {
	fail := s.failer("checkpoint", app, stream, held.Shard)
	ns, err := s.start(ctx, app, stream)
	if err == nil {
		err = checkHolder(held)
	}
	if err == nil {
		err = cp.Validate()
	}
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	names := map[string]string{"#c": attrCounter}
	values := map[string]types.AttributeValue{":c": num(held.Counter), ":one": num(1)}
	update := dynamo.SetCheckpoint(cp, "#c = #c + :one, #at = :at", names, values)
	cond := "#c = :c AND " + ownerCond(held.Owner, names, values) + " AND (" + dynamo.Forward + ")"
	wantKey := storekey.OrderKey(cp)
	l, err := s.update(ctx, write{
		ns: ns, shard: held.Shard, update: update, cond: cond, names: names, values: values,
		resolve: func(item map[string]types.AttributeValue, retried bool) (lease.Lease, error) {
			if item == nil {
				return lease.Lease{}, describeLost(nil)
			}
			l, err := decodeLease(item)
			if err != nil {
				return lease.Lease{}, err
			}
			switch {
			case l.Owner == held.Owner && l.Counter == held.Counter:
				return l, nil // still held: cp was not forward
			case retried && l.Owner == held.Owner && l.Counter == held.Counter+1 && optString(item, attrSeqKey) == wantKey:
				return l, nil // the first attempt wrote it
			}
			return lease.Lease{}, describeLost(item)
		},
	})
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	return l, nil
}

// SetCheckpoint stores cp (the zero Checkpoint: none) in a lease still held
// as observed (owner "" for free), whatever the stored checkpoint is.
func (s *Store) SetCheckpoint(ctx context.Context, app, stream string, observed lease.Lease, cp checkpoint.Checkpoint) (lease.Lease, error) {
	fail := s.failer("set checkpoint", app, stream, observed.Shard)
	ns, err := s.start(ctx, app, stream)
	if err == nil {
		err = checkShard(observed.Shard)
	}
	if err == nil && !cp.IsZero() {
		err = cp.Validate()
	}
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	names := map[string]string{"#sk": attrShardID, "#c": attrCounter}
	values := map[string]types.AttributeValue{":c": num(observed.Counter), ":one": num(1)}
	update, wantKey := dynamo.ClearCheckpoint("#c = #c + :one, #at = :at", names), ""
	if !cp.IsZero() {
		update, wantKey = dynamo.SetCheckpoint(cp, "#c = #c + :one, #at = :at", names, values), storekey.OrderKey(cp)
	}
	cond := "attribute_exists(#sk) AND #c = :c AND " + ownerCond(observed.Owner, names, values)
	l, err := s.update(ctx, write{
		ns: ns, shard: observed.Shard, update: update, cond: cond, names: names, values: values,
		resolve: func(item map[string]types.AttributeValue, retried bool) (lease.Lease, error) {
			if item != nil && retried && optString(item, attrSeqKey) == wantKey {
				l, err := decodeLease(item)
				if err == nil && l.Owner == observed.Owner && l.Counter == observed.Counter+1 {
					return l, nil // the first attempt wrote it
				}
			}
			return lease.Lease{}, describeLost(item)
		},
	})
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	return l, nil
}

// Release frees a lease still held.
func (s *Store) Release(ctx context.Context, app, stream string, held lease.Lease) (lease.Lease, error) {
	fail := s.failer("release", app, stream, held.Shard)
	ns, err := s.start(ctx, app, stream)
	if err == nil {
		err = checkHolder(held)
	}
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	names := map[string]string{"#c": attrCounter, "#next": attrNextOwner}
	values := map[string]types.AttributeValue{":c": num(held.Counter), ":one": num(1)}
	l, err := s.update(ctx, write{
		ns: ns, shard: held.Shard,
		update:  "SET #c = #c + :one, #at = :at REMOVE #o, #next",
		cond:    "#c = :c AND " + ownerCond(held.Owner, names, values),
		names:   names,
		values:  values,
		resolve: lostUnless("", held.Counter+1),
	})
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	return l, nil
}

// Delete removes a lease still held as given.
func (s *Store) Delete(ctx context.Context, app, stream string, held lease.Lease) error {
	fail := s.failer("delete", app, stream, held.Shard)
	ns, err := s.start(ctx, app, stream)
	if err == nil {
		err = checkShard(held.Shard)
	}
	if err != nil {
		return fail(err)
	}
	names := map[string]string{"#c": attrCounter}
	values := map[string]types.AttributeValue{":c": num(held.Counter)}
	cond := "#c = :c AND " + ownerCond(held.Owner, names, values)
	return s.delete(ctx, ns, held.Shard, cond, names, values, fail)
}

// delete is one conditional DeleteItem. A retried call whose condition fails
// on an item that is gone succeeded the first time.
func (s *Store) delete(ctx context.Context, ns, sk, cond string, names map[string]string, values map[string]types.AttributeValue, fail func(error) error) error {
	attempts, err := s.opts.retry.Do(ctx, func(ctx context.Context) error {
		_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(s.table),
			Key:                       key(ns, sk),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
		return err
	})
	if conflict(err) {
		if attempts > 1 {
			if item, gerr := s.get(ctx, ns, sk); gerr == nil && item == nil {
				return nil
			}
		}
		return fail(fmt.Errorf("%w: the item changed or is gone", lease.ErrLost))
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// RequestHandoff sets next_owner of a lease still owned by observed.Owner.
func (s *Store) RequestHandoff(ctx context.Context, app, stream string, observed lease.Lease, to string) (lease.Lease, error) {
	fail := s.failer("request handoff", app, stream, observed.Shard)
	ns, err := s.start(ctx, app, stream)
	if err == nil {
		err = checkHolder(observed)
	}
	if err == nil {
		err = checkWorker(to)
	}
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	names := map[string]string{"#next": attrNextOwner}
	values := map[string]types.AttributeValue{":to": str(to)}
	cond := ownerCond(observed.Owner, names, values) + " AND (attribute_not_exists(#next) OR #next = :to)"
	l, err := s.update(ctx, write{
		ns: ns, shard: observed.Shard,
		update: "SET #next = :to, #at = :at",
		cond:   cond, names: names, values: values,
	})
	if err != nil {
		return lease.Lease{}, fail(err)
	}
	return l, nil
}

// Heartbeat increments the counter of worker's row, creating it.
func (s *Store) Heartbeat(ctx context.Context, app, stream, worker string) (lease.Worker, error) {
	fail := s.failer("heartbeat", app, stream, worker)
	ns, err := s.start(ctx, app, stream)
	if err == nil {
		err = checkWorker(worker)
	}
	if err != nil {
		return lease.Worker{}, fail(err)
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(ns, WorkerPrefix+worker),
		UpdateExpression:         aws.String("SET #w = :w, #at = :at ADD #c :one"),
		ExpressionAttributeNames: map[string]string{"#w": attrWorkerID, "#at": attrUpdatedAt, "#c": attrCounter},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":w": str(worker), ":at": str(s.now()), ":one": num(1),
		},
		ReturnValues: types.ReturnValueAllNew,
	}
	var out *dynamodb.UpdateItemOutput
	_, err = s.opts.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.client.UpdateItem(ctx, in)
		return err
	})
	if err != nil {
		return lease.Worker{}, fail(err)
	}
	w, err := decodeWorker(out.Attributes)
	if err != nil {
		return lease.Worker{}, fail(err)
	}
	return w, nil
}

// DeleteWorker removes a worker row whose counter is still w.Counter.
func (s *Store) DeleteWorker(ctx context.Context, app, stream string, w lease.Worker) error {
	fail := s.failer("delete worker", app, stream, w.ID)
	ns, err := s.start(ctx, app, stream)
	if err == nil {
		err = checkWorker(w.ID)
	}
	if err != nil {
		return fail(err)
	}
	return s.delete(ctx, ns, WorkerPrefix+w.ID, "#c = :c",
		map[string]string{"#c": attrCounter}, map[string]types.AttributeValue{":c": num(w.Counter)}, fail)
}
