package kinesin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memcheckpoint"
	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/consumer"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/polling"
)

// KinesisAPI is the part of *kinesis.Client that kinesin calls. Pass a
// *kinesis.Client, or a wrapper of one, to WithClient.
type KinesisAPI interface {
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	RegisterStreamConsumer(ctx context.Context, in *kinesis.RegisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error)
	DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error)
	DeregisterStreamConsumer(ctx context.Context, in *kinesis.DeregisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DeregisterStreamConsumerOutput, error)
	SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, optFns ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error)
}

var _ KinesisAPI = (*kinesis.Client)(nil)

// Option configures Open. Options never fail: Open checks them all at once
// and reports every bad value in one error wrapping ErrInvalidOption.
type Option func(*config)

type config struct {
	client             KinesisAPI
	clientSet          bool
	awsConfig          *aws.Config
	store              checkpoint.Store
	storeSet           bool
	app                string
	appSet             bool
	start              StartPosition
	polling            polling.Options
	pollingSet         bool
	efoConsumer        string
	efoSet             bool
	efo                efo.Options
	efoOptionsSet      bool
	deregister         bool
	checkpointInterval time.Duration
	maxUncommitted     int
	memoryBudget       int64
	shardSync          time.Duration
	closeTimeout       time.Duration
	storeOutage        time.Duration
	stallTimeout       time.Duration
	pauseWarning       time.Duration
	deaggregate        bool
	sdkDecoder         bool
	logger             *slog.Logger
	meterProvider      metric.MeterProvider
	tracerProvider     trace.TracerProvider
	leaseStore         lease.Store
	leaseSet           bool
	leaseOpts          []lease.Option
	shardHooks         ShardHooks
	shardHooksSet      bool
	batchSize          int
	batchWait          time.Duration
	stopWhenCaughtUp   bool
	stopAt             time.Time
	stopAtSet          bool
	shards             []string
	shardsSet          bool

	// assignment is made by validate from the options above.
	assignment consumer.Assignment
}

// Defaults of the options.
const (
	DefaultApp                = "kinesin"
	DefaultCheckpointInterval = 5 * time.Second
	DefaultMaxUncommitted     = 20000
	DefaultMemoryBudget       = 320 << 20
	DefaultBatchSize          = 1000
	DefaultBatchWait          = time.Second
	DefaultShardSyncInterval  = 30 * time.Second
	DefaultCloseTimeout       = 30 * time.Second
	DefaultStoreOutage        = time.Minute
	DefaultStallTimeout       = 5 * time.Minute
	DefaultPauseWarning       = time.Minute
)

func defaults() config {
	return config{
		app:                DefaultApp,
		start:              Latest,
		checkpointInterval: DefaultCheckpointInterval,
		maxUncommitted:     DefaultMaxUncommitted,
		memoryBudget:       DefaultMemoryBudget,
		batchSize:          DefaultBatchSize,
		batchWait:          DefaultBatchWait,
		shardSync:          DefaultShardSyncInterval,
		closeTimeout:       DefaultCloseTimeout,
		storeOutage:        DefaultStoreOutage,
		stallTimeout:       DefaultStallTimeout,
		pauseWarning:       DefaultPauseWarning,
		deaggregate:        true,
	}
}

// WithClient sets the Kinesis client, overriding the default: a
// *kinesis.Client built from config.LoadDefaultConfig.
func WithClient(c KinesisAPI) Option {
	return func(cfg *config) { cfg.client, cfg.clientSet = c, true }
}

// WithAWSConfig builds the Kinesis client from cfg, overriding the default
// config.LoadDefaultConfig. WithClient takes precedence.
func WithAWSConfig(c aws.Config) Option { return func(cfg *config) { cfg.awsConfig = &c } }

// WithCheckpointer sets where committed positions are stored, overriding the
// default: a new in-memory store, which forgets everything when the process
// ends.
func WithCheckpointer(s checkpoint.Store) Option {
	return func(cfg *config) { cfg.store, cfg.storeSet = s, true }
}

// WithApp names the consumer group: the namespace of its checkpoints and
// leases. Processes with the same app name resume from the same checkpoints
// and share the stream's shards. It is required with WithCheckpointer or
// WithLeases, so that two services that share a store never share
// checkpoints by accident (Open fails with ErrInvalidOption naming WithApp).
// Without a store (the default in-memory checkpoints) it defaults to
// "kinesin".
func WithApp(name string) Option { return func(cfg *config) { cfg.app, cfg.appSet = name, true } }

// WithStart sets where the consumer group starts reading a stream: where a
// shard that has no checkpoint is read from, overriding the default Latest.
// A checkpoint always wins. A shard created by resharding (a child) whose
// parent the group read is read from where the parent's read started: from
// its start when that was a checkpoint or TrimHorizon, from the same time
// when it was Latest or AtTimestamp (so a record older than the group's start
// is never delivered, nor one newer skipped). See StartPosition.
func WithStart(p StartPosition) Option { return func(cfg *config) { cfg.start = p } }

// WithPolling tunes the polling readers (see polling.Options), overriding the
// defaults given there.
func WithPolling(o polling.Options) Option {
	return func(cfg *config) { cfg.polling, cfg.pollingSet = o, true }
}

// WithEFO reads the stream with Enhanced Fan-Out (package efo) instead of
// polling, overriding the default polling readers. consumer is the name of
// the stream consumer, registered at Open if it does not exist and waited for
// until ACTIVE, or the ARN of an existing one. Each shard gets its own
// SubscribeToShard subscription, renewed before the service's 5-minute limit
// from the last delivered record.
func WithEFO(consumer string) Option {
	return func(cfg *config) { cfg.efoConsumer, cfg.efoSet = consumer, true }
}

// WithEFOOptions tunes the Enhanced Fan-Out readers and the consumer's
// registration (see efo.Options), overriding the defaults given there. It
// needs WithEFO.
func WithEFOOptions(o efo.Options) Option {
	return func(cfg *config) { cfg.efo, cfg.efoOptionsSet = o, true }
}

// WithDeregisterOnClose sets whether Close deregisters the Enhanced Fan-Out
// consumer, overriding the default false (the consumer is kept, and billed,
// for the next run). It needs WithEFO.
func WithDeregisterOnClose(deregister bool) Option {
	return func(cfg *config) { cfg.deregister = deregister }
}

// WithLogger sets the logger, overriding the default that logs nothing.
// kinesin logs shard starts and ends, resharding, retries, fallbacks and
// checkpoint failures; nothing per record.
func WithLogger(l *slog.Logger) Option { return func(cfg *config) { cfg.logger = l } }

// WithMeterProvider sets where kinesin's OpenTelemetry metrics go,
// overriding the default: the global MeterProvider (otel.GetMeterProvider).
// The README lists every instrument.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(cfg *config) { cfg.meterProvider = mp }
}

// WithTracerProvider sets where kinesin's OpenTelemetry spans go, overriding
// the default: the global TracerProvider (otel.GetTracerProvider). Spans
// cover each GetRecords, GetShardIterator and SubscribeToShard call, each
// checkpoint write and each shard's start and end; none is made per record.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(cfg *config) { cfg.tracerProvider = tp }
}

// WithCheckpointInterval sets how often committed positions are written to the
// store, overriding the default 5s. They are also written at shard end, on
// Flush and on Close.
func WithCheckpointInterval(d time.Duration) Option {
	return func(cfg *config) { cfg.checkpointInterval = d }
}

// WithMaxUncommitted bounds how many records of one shard may be delivered and
// not yet committed, overriding the default 20,000. A shard at the bound is
// not read until records are committed. The bound counts user records: the
// user records of a KPL aggregate are handed over as room allows.
// WithMemoryBudget bounds the same records in bytes, over all shards.
func WithMaxUncommitted(n int) Option { return func(cfg *config) { cfg.maxUncommitted = n } }

// WithMemoryBudget bounds the bytes of records the stream holds over all its
// shards: fetched and not yet handed out, queued, and handed out and not yet
// committed, counting each record's data, partition key and sequence number
// and 224 bytes of bookkeeping (what a delivered record's own structures
// take besides, with []byte values). Overrides the default 320 MiB. Before each
// fetch a shard's reader waits for room and asks for as many records as the
// room pays for, sized by the largest record seen (1 MiB until one is); the
// room is shared fairly: a fetch takes at most the shard's share (the budget
// divided by the shards being read) beyond what it holds, a shard holding
// more than half its share waits for its records to be committed, one
// holding none gets one record when a record is larger than a share, and
// when shards wait, the one holding the least goes first. A read waits for
// its whole grant, or for a quarter of the budget to be free, rather than
// fetch the few records that a commit or two made room for (each fetch
// counts against the shard's calls a second). Room is held for a fetch
// only: a read waiting for records (an empty shard between polls, a
// subscription between events) holds none. A record larger than the whole
// budget is fetched alone. Memory held stays within the budget plus, per
// shard being read, one fetch of records larger than any seen before (at
// most 10 MiB polling; one SubscribeToShard event, already received, with
// Enhanced Fan-Out), plus the response bodies being decoded, plus what the
// application keeps of records it committed (decoded values, Data). The
// share also bounds how fast a shard catches up: 4 fetches a second of at
// most budget / shards counted bytes each (with 320 MiB, the service's
// 2 MiB/s per shard up to 640 shards, about 1.25 MiB/s at 1,000).
func WithMemoryBudget(bytes int64) Option { return func(cfg *config) { cfg.memoryBudget = bytes } }

// WithShardSyncInterval sets how often the shard list is read again to find new
// shards, overriding the default 30s. Children of a shard that ends are found
// at once, whatever this interval.
func WithShardSyncInterval(d time.Duration) Option { return func(cfg *config) { cfg.shardSync = d } }

// WithCloseTimeout bounds each step of Close that waits on I/O (a shard's
// handover, the last checkpoint writes, the release of leases), overriding
// the default 30s.
func WithCloseTimeout(d time.Duration) Option { return func(cfg *config) { cfg.closeTimeout = d } }

// WithStoreOutage sets how long checkpoint writes may keep failing before the
// stream ends with a *CheckpointError, overriding the default 1m. Until then
// the newest committed positions are kept and written again each interval.
func WithStoreOutage(d time.Duration) Option { return func(cfg *config) { cfg.storeOutage = d } }

// WithStallTimeout sets how long a shard's reads (or the listing of the
// shards) may keep failing with errors that retrying could fix (throttling,
// server and network errors, unknown errors) before the stream fails with a
// *ReadError wrapping ErrStalled that names the shard, the operation, since
// when, and the last error, overriding the default 5m. Until then the calls
// are retried with backoff, and logged once at WARN (after a tenth of the
// timeout, at most 30s), then once at ERROR (after half of it), never per
// retry. Errors that retrying cannot fix fail the stream at once.
func WithStallTimeout(d time.Duration) Option { return func(cfg *config) { cfg.stallTimeout = d } }

// WithPauseWarning sets how long a shard may sit paused at WithMaxUncommitted
// (its records delivered and not committed reached the bound) before a
// warning names it and the uncommitted count, overriding the default 1m.
func WithPauseWarning(d time.Duration) Option { return func(cfg *config) { cfg.pauseWarning = d } }

// WithLeases shares the stream's shards among the processes (workers) of one
// consumer group: every Stream opened on the same stream with the same
// WithApp name and a lease store holding the same leases (one DynamoDB table
// of lease/dynamolease for processes on many hosts, one lease/memlease store for
// workers in one process). Each worker reads only the shards it holds a
// lease on; opts tune the lease manager (see package lease: LeaseDuration,
// CycleInterval, WorkerID...). Without it, a Stream reads every shard.
//
// What a worker sees:
//   - Shares: each worker reads about ceil(shards / workers) shards. A new
//     worker gets its share within two lease cycles (CycleInterval, default
//     2s), moved from the others by planned handoffs.
//   - Planned handoffs (balancing, Close): the worker stops reading the
//     shard, stops handing out its records, waits for those already handed
//     out to be committed, writes the checkpoint and releases the lease; the
//     next owner starts right after it. No record is delivered twice when
//     the application commits what it received (within the lease manager's
//     HandoffTimeout, default half of LeaseDuration).
//   - Failover: the shards of a worker that died (or stopped renewing its
//     leases, e.g. Open's context ended without Close) are read again by
//     the others within LeaseDuration (default 10s) plus one cycle, from
//     their last checkpoint: records committed after it are delivered
//     again.
//   - Fencing: a worker that lost a lease (it was paused past the lease
//     duration, or its lease store calls failed) stops reading the shard at
//     once, drops the shard's records not yet handed out, and can never
//     write its checkpoint over the next owner's.
//   - Resharding: a child shard is read, by whichever worker, only once
//     every parent was read to its end and its records committed, so each
//     partition key's records keep their order across the cluster.
//
// Checkpoints are kept in the leases. A shard whose lease has no checkpoint
// is read as a Stream without leases reads it (see WithStart): a child of a
// shard the group read from where its parent's read started, any other shard
// from WithStart's position, Latest being the time of the group's first Open
// (kept as a start checkpoint in the leases of the stream's first shards).
//
// Moving an app from WithCheckpointer to WithLeases: give both, with the
// same app name. Every lease a worker creates then starts from the checkpoint
// that store holds for its shard, so nothing is delivered twice or skipped;
// the store is read once, at Open, and never written. Without it, the leases
// start afresh (from WithStart). Once every shard has its lease, the
// WithCheckpointer option may be dropped.
//
// Close hands over every shard: it waits (at most half of
// WithCloseTimeout) for the records already received to be committed; call it
// from another goroutine than the one holding uncommitted records, or break
// out of the Records loop.
//
// See WithShardHooks to follow the shards the worker reads, and
// Stream.WorkerID for its id.
func WithLeases(store lease.Store, opts ...lease.Option) Option {
	return func(cfg *config) { cfg.leaseStore, cfg.leaseSet, cfg.leaseOpts = store, true, opts }
}

// ShardHooks are functions called when the worker's shards change, with
// WithLeases (see WithShardHooks). Every field is optional.
type ShardHooks struct {
	// OnAssigned is called with a shard's id when the worker acquired its
	// lease, just before reading it. A lease the worker acquired and lost
	// again before its scheduler could act on it (held up, as by a slow
	// listing) is not told of: neither OnAssigned nor, then, OnRevoked or
	// OnLost is called for it.
	OnAssigned func(shard string)
	// OnRevoked is called with a shard's id when another worker asked for
	// its lease (balancing): the worker stops reading it and, once the
	// records of it already received are committed, writes its checkpoint
	// and releases the lease. Commit those records promptly.
	OnRevoked func(shard string)
	// OnLost is called with a shard's id when the worker lost its lease
	// without handing it over: another worker took it after it expired
	// (this worker was paused, or could not renew it). The records of it
	// already received can no longer be checkpointed: the next owner
	// delivers them again.
	OnLost func(shard string)
}

// WithShardHooks sets functions called when the worker's shards change,
// overriding the default of none. It needs WithLeases.
//
// The hooks are called on the Stream's scheduling goroutine, one at a time,
// in the order of the lease changes: never concurrently with each other.
// They must return quickly (no shard starts or stops while one runs) and
// must not call the Stream's methods (Close would wait for them forever).
func WithShardHooks(h ShardHooks) Option {
	return func(cfg *config) { cfg.shardHooks, cfg.shardHooksSet = h, true }
}

// WithBatchSize sets how many records a batch of Batches holds at most,
// overriding the default 1,000. It must be at least 1.
func WithBatchSize(n int) Option { return func(cfg *config) { cfg.batchSize = n } }

// WithBatchWait sets how long the first record of a batch of Batches waits
// for more before the batch goes out with fewer than WithBatchSize records,
// overriding the default 1s. It must be positive.
func WithBatchWait(d time.Duration) Option { return func(cfg *config) { cfg.batchWait = d } }

// StopWhenCaughtUp makes the stream end by itself once it has read every
// shard up to its tip: Records, Chan and Batches end with a nil error, as
// after Close. A shard is caught up when a fetch finds it at its tip
// (MillisBehindLatest 0) and its records were handed out; shards read to
// their end count too, and their children are read, so every record the
// stream held at Open is delivered, whatever resharding happened since (and
// records that arrived since, up to the tips reached, may come as well).
// The stream then stops reading, waits (at most WithCloseTimeout) for the
// records handed out to be committed, and writes the committed positions.
// The default is to read until Close. With WithLeases each worker stops
// once the shards it holds are caught up and every other shard is read to
// its end, held by another worker, or not readable yet; workers still
// reading take over the shards a stopped worker released. Options that
// bound a read read as sentences (StopWhenCaughtUp, StopAt); the others are
// named With....
func StopWhenCaughtUp() Option { return func(cfg *config) { cfg.stopWhenCaughtUp = true } }

// StopAt is StopWhenCaughtUp for the records that arrived at or before t
// (ApproximateArrivalTimestamp): a shard is done once a fetch finds it at
// its tip or finds a record that arrived after t, which is not delivered
// (nor any after it). t must not be in the future of the service's clock
// (use StopWhenCaughtUp), nor before an AtTimestamp start, nor older than
// the stream's retention; Open refuses those with ErrInvalidOption.
func StopAt(t time.Time) Option {
	return func(cfg *config) { cfg.stopAt, cfg.stopAtSet = t, true }
}

// WithShards reads only the shards named, for tools and tests, overriding
// the default of every shard. Their children are not read; a shard named
// whose parents are not named is read without waiting for them, from its
// checkpoint or else from WithStart. Open fails with ErrInvalidOption for
// ids the stream does not list, and with WithLeases.
func WithShards(ids ...string) Option {
	return func(cfg *config) { cfg.shards, cfg.shardsSet = ids, true }
}

// shardSet returns the shards of WithShards as a set, nil without it.
func (c *config) shardSet() map[string]bool {
	if !c.shardsSet {
		return nil
	}
	set := make(map[string]bool, len(c.shards))
	for _, id := range c.shards {
		set[id] = true
	}
	return set
}

// WithDeaggregation sets whether records in the KPL aggregated format are split
// into their user records, overriding the default true. Each user record is
// delivered and committed on its own, with its partition key, explicit hash
// key and sub-sequence number; a restart inside an aggregate resumes after
// its last committed user record. A record that is not a well-formed
// aggregate is delivered as it is. With false, aggregates are delivered as
// they are.
func WithDeaggregation(enabled bool) Option { return func(cfg *config) { cfg.deaggregate = enabled } }

// WithSDKDecoder sets whether GetRecords responses and SubscribeToShard
// events are decoded by the AWS SDK's own decoder instead of kinesin's.
// kinesin's decoder makes the same records, field by field, and the same
// errors, with a few allocations per response instead of about nine per
// record: several times less CPU. It replaces the protocol of those two
// calls only (a client given to WithClient keeps its middleware, signing
// and retries; a Protocol of its own in its options is kept, and decodes).
// The records of one response then share one allocation for their Data:
// a record kept long keeps its whole response's data in memory, so copy the
// Data of records kept past their neighbours. Overrides the default false
// (kinesin's decoder).
func WithSDKDecoder(use bool) Option { return func(cfg *config) { cfg.sdkDecoder = use } }

// configure applies opts over the defaults and checks them with the other
// arguments of Open, reporting every bad value at once.
func configure[T any](stream string, dec Decoder[T], opts []Option) (*config, error) {
	cfg := defaults()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	err := cfg.validate()
	if dec == nil {
		err = errors.Join(err, fmt.Errorf("%w: the decoder is nil", ErrInvalidOption))
	}
	if stream == "" {
		err = errors.Join(err, fmt.Errorf("%w: the stream name is empty", ErrInvalidOption))
	}
	if err != nil {
		return nil, err
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	return &cfg, nil
}

// validate reports every bad option at once, and makes the assignment.
func (c *config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...))
	}
	if c.app == "" {
		bad("WithApp: the app name is empty")
	}
	if !c.appSet && (c.storeSet || c.leaseSet) {
		bad("WithApp is required with WithCheckpointer or WithLeases: name the consumer group, so that no other service shares its checkpoints")
	}
	if c.checkpointInterval <= 0 {
		bad("WithCheckpointInterval %v is not positive", c.checkpointInterval)
	}
	if c.batchSize < 1 {
		bad("WithBatchSize %d is less than 1", c.batchSize)
	}
	if c.batchWait <= 0 {
		bad("WithBatchWait %v is not positive", c.batchWait)
	}
	if c.stopAtSet && c.stopAt.IsZero() {
		bad("StopAt: the time is zero")
	}
	if c.stopAtSet && c.stopWhenCaughtUp {
		bad("StopAt and StopWhenCaughtUp both given: choose one")
	}
	if c.shardsSet {
		if len(c.shards) == 0 {
			bad("WithShards: no shard named")
		}
		if slices.Contains(c.shards, "") {
			bad("WithShards: an empty shard id")
		}
		if c.leaseSet {
			bad("WithShards and WithLeases both given: a subset of the shards is read by one process")
		}
	}
	if c.memoryBudget <= 0 {
		bad("WithMemoryBudget %d is not positive", c.memoryBudget)
	}
	if c.maxUncommitted < 1 {
		bad("WithMaxUncommitted %d is less than 1", c.maxUncommitted)
	}
	if c.shardSync <= 0 {
		bad("WithShardSyncInterval %v is not positive", c.shardSync)
	}
	if c.closeTimeout <= 0 {
		bad("WithCloseTimeout %v is not positive", c.closeTimeout)
	}
	if c.storeOutage <= 0 {
		bad("WithStoreOutage %v is not positive", c.storeOutage)
	}
	if c.stallTimeout <= 0 {
		bad("WithStallTimeout %v is not positive", c.stallTimeout)
	}
	if c.pauseWarning <= 0 {
		bad("WithPauseWarning %v is not positive", c.pauseWarning)
	}
	if c.start.kind == startAtTimestamp && c.start.ts.IsZero() {
		bad("WithStart: AtTimestamp needs a time")
	}
	if c.start.kind == startUnset {
		bad("WithStart: use Latest, TrimHorizon or AtTimestamp(t)")
	}
	if c.clientSet && isNil(c.client) {
		bad("WithClient: the client is nil")
	}
	if err := c.polling.Validate(); err != nil {
		bad("WithPolling: %v", err)
	}
	if c.efoSet {
		if c.efoConsumer == "" {
			bad("WithEFO: the consumer name is empty")
		}
		if c.pollingSet {
			bad("WithPolling and WithEFO both given: a stream is read either by polling or with Enhanced Fan-Out")
		}
		if err := c.efo.Validate(); err != nil {
			bad("WithEFOOptions: %v", err)
		}
	} else {
		if c.efoOptionsSet {
			bad("WithEFOOptions given without WithEFO")
		}
		if c.deregister {
			bad("WithDeregisterOnClose given without WithEFO")
		}
	}
	if c.store == nil && c.storeSet {
		bad("WithCheckpointer: the store is nil")
	}
	if c.leaseSet {
		if c.leaseStore == nil {
			bad("WithLeases: the lease store is nil")
		} else {
			var err error
			c.assignment, err = consumer.Leased(consumer.LeasedConfig{
				Store: c.leaseStore, Options: c.leaseOpts, Seed: c.store,
				OnAssigned: c.shardHooks.OnAssigned, OnRevoked: c.shardHooks.OnRevoked, OnLost: c.shardHooks.OnLost,
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: WithLeases: %w", ErrInvalidOption, err))
			}
		}
	} else {
		if c.shardHooksSet {
			bad("WithShardHooks given without WithLeases")
		}
		store := c.store
		if store == nil {
			store = memcheckpoint.New()
		}
		c.assignment = consumer.AllShards(store)
	}
	return errors.Join(errs...)
}

// isNil reports whether v is nil, or an interface holding a nil pointer,
// map, slice, func or channel.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// StartPosition is where a consumer group starts reading a stream: Latest,
// TrimHorizon or AtTimestamp(t).
//
// What a restart does: a shard with a checkpoint resumes just after it,
// whatever the position. TrimHorizon and AtTimestamp need nothing stored to
// start at the same place again. Latest is fixed at the group's first Open:
// Open writes a start checkpoint at that time for each shard that has none
// (with WithLeases, into the leases it creates) before any record is read, so
// a process that stops before committing a record, even before reading one,
// is followed by one that starts at the same time, and delivers it.
type StartPosition struct {
	kind startKind
	ts   time.Time
}

type startKind int

const (
	startUnset startKind = iota
	startLatest
	startTrimHorizon
	startAtTimestamp
)

var (
	// Latest reads the records put after the group's first Open: every
	// record put after Open returns is delivered (and, since the service's
	// clock is read to the second, those of up to a second before Open may
	// be too). It is the time Open started, read from the Date of the
	// service's first response (the local clock less a second when the client
	// does not report it), recorded in start checkpoints: see StartPosition.
	// Shards already closed at that time are read too, which costs one call
	// each and finds nothing new, so that their children start at the same
	// time.
	Latest = StartPosition{kind: startLatest}
	// TrimHorizon reads every record the stream still holds, oldest first.
	TrimHorizon = StartPosition{kind: startTrimHorizon}
)

// AtTimestamp reads records that arrived at t or later. A t in the future
// (by the service's clock, read at Open) is refused with ErrInvalidOption, as
// the service refuses it.
func AtTimestamp(t time.Time) StartPosition { return StartPosition{kind: startAtTimestamp, ts: t} }

// position is p for the engine.
func (p StartPosition) position() consumer.Position {
	switch p.kind {
	case startTrimHorizon:
		return consumer.Position{Kind: consumer.StartTrimHorizon}
	case startAtTimestamp:
		return consumer.Position{Kind: consumer.StartAtTimestamp, Time: p.ts}
	}
	return consumer.Position{Kind: consumer.StartLatest}
}

// String names the position.
func (p StartPosition) String() string {
	switch p.kind {
	case startLatest:
		return "LATEST"
	case startTrimHorizon:
		return "TRIM_HORIZON"
	case startAtTimestamp:
		return "AT_TIMESTAMP(" + p.ts.Format(time.RFC3339Nano) + ")"
	}
	return "unset"
}
