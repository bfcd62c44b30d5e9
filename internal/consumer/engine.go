package consumer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"go.opentelemetry.io/otel/trace"

	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/budget"
	"github.com/kinesin-go/kinesin/internal/commit"
	"github.com/kinesin-go/kinesin/internal/retry"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/telemetry"
)

// ControlAPI is the part of the Kinesis client the engine calls itself; the
// readers call the rest.
type ControlAPI interface {
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

// StartKind is where a consumer group starts reading.
type StartKind int

// The starts of a group.
const (
	StartLatest StartKind = iota + 1
	StartTrimHorizon
	StartAtTimestamp
)

// Position is the configured start of the group.
type Position struct {
	Kind StartKind
	Time time.Time // of StartAtTimestamp
}

// Config is what an Engine runs with; the typed face resolves and checks it.
type Config struct {
	// Name is the stream's name, the namespace of its checkpoints; CallName
	// is what calls name it by (the ARN when Open was given one); Created
	// is its creation time, which tells a stream created again.
	Name, CallName string
	Created        time.Time
	API            ControlAPI
	Reader         shard.Reader
	App            string
	Start          Position
	// Latest is the time Latest stands for in this process: when Open
	// started, on the service's clock.
	Latest         time.Time
	MaxUncommitted int
	// MemoryBudget bounds the bytes of records held over every shard:
	// fetched, queued, and handed out and not committed (see package
	// budget).
	MemoryBudget       int64
	CheckpointInterval time.Duration
	ShardSyncInterval  time.Duration
	CloseTimeout       time.Duration
	StoreOutage        time.Duration
	Deaggregate        bool
	// OpenRetryLimit bounds how long Start retries the first listing of
	// the shards when it fails with an error that may pass.
	OpenRetryLimit time.Duration
	// StallTimeout is how long a shard, or the listing of the shards, may
	// keep failing before the engine fails; PauseWarning how long a shard
	// may sit paused at MaxUncommitted before a warning.
	StallTimeout, PauseWarning time.Duration
	// Health follows the readers; its Hooks are theirs.
	Health *Health
	Log    *slog.Logger
	Tel    *telemetry.Telemetry
	// Decode turns a batch's records into the typed face's (Batch.Typed)
	// and returns how many the decoder rejected. It runs on the shard
	// readers' goroutines, concurrently. It must not keep Batch.Records:
	// the slice is reused for the shard's next batch.
	Decode func(*Batch) (rejected int)
	// Assignment decides which shards this process reads: AllShards or
	// Leased.
	Assignment Assignment
	// StopWhenCaughtUp and StopAt bound the read (see stop.go): it ends by
	// itself once every shard is caught up, with the tip at the time of
	// the first fetch, or with StopAt.
	StopWhenCaughtUp bool
	StopAt           time.Time
	// Shards, when not nil, are the only shards read (see scope.go).
	Shards map[string]bool
}

// Engine reads a stream: the shards its assignment gives it, parents before
// children, and hands their records over in batches; it tracks commits and
// writes checkpoints. Its methods are safe for concurrent use.
type Engine struct {
	cfg    Config
	assign Assignment
	log    *slog.Logger
	tel    *telemetry.Telemetry

	ctx      context.Context // ends on Close, on a fatal error and with Start's ctx
	cancel   context.CancelFunc
	batches  chan *Batch
	kick     chan struct{}  // asks the flusher to write now
	ended    chan readerEnd // reads that returned
	calls    chan func(context.Context)
	iterDone chan struct{} // closed when the application stopped taking records
	iterOnce sync.Once

	mu       sync.Mutex
	trackers map[string]*commit.Tracker
	states   map[string]ShardState // for Stats
	fatal    error
	closing  bool

	ckMu      sync.Mutex // guards the outcome of the last checkpoint writes
	ckLast    time.Time
	ckFailing time.Time
	ckErr     error

	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	flushMu   sync.Mutex
	failSince time.Time // guarded by flushMu: when checkpoint writes started failing

	budget *budget.Budget
	tips   tips // for a bounded read

	finishOnce sync.Once

	// Owned by the run goroutine (and by Start before it runs).
	graph   *graph
	running int
	// stopping: a bounded read is caught up; no read starts any more.
	stopping bool
}

// Start lists the stream's shards, opens the assignment (checkpoints loaded,
// start checkpoints written) and starts reading. The engine runs
// until Close, a fatal error, or the end of ctx. On error nothing is left
// running.
func Start(ctx context.Context, cfg Config) (*Engine, error) {
	e := &Engine{
		cfg:      cfg,
		assign:   cfg.Assignment,
		log:      cfg.Log,
		tel:      cfg.Tel,
		batches:  make(chan *Batch, 16),
		kick:     make(chan struct{}, 1),
		ended:    make(chan readerEnd),
		calls:    make(chan func(context.Context)),
		iterDone: make(chan struct{}),
		trackers: make(map[string]*commit.Tracker),
		states:   make(map[string]ShardState),
		graph:    newGraph(),
		budget:   budget.New(cfg.MemoryBudget),
	}
	err := retry.Transient(ctx, cfg.OpenRetryLimit, awserr.IsTransient, func(err error, wait time.Duration) {
		e.log.Warn("listing shards failed; retrying", "error", err, "wait", wait)
	}, e.list)
	if err != nil {
		return nil, err
	}
	if err := e.checkScope(); err != nil {
		return nil, err
	}
	if cfg.bounded() {
		cfg.Health.SetTip(e.atTip)
	}
	if err := e.assign.open(ctx, e); err != nil {
		return nil, err
	}
	// The stream's work runs in the background, outside any trace of the
	// caller: its spans are roots, whatever span ctx carries.
	e.ctx, e.cancel = context.WithCancel(trace.ContextWithSpanContext(ctx, trace.SpanContext{}))
	e.assign.begin(ctx, e)
	e.tel.ShardStates(e.stateCounts)
	e.wg.Add(3)
	go func() {
		defer e.wg.Done()
		e.run(e.ctx)
	}()
	go func() {
		defer e.wg.Done()
		e.flusher(e.ctx)
	}()
	go func() {
		defer e.wg.Done()
		e.watch(e.ctx)
	}()
	return e, nil
}

// Batches returns the channel of batches to hand to the application.
func (e *Engine) Batches() <-chan *Batch { return e.batches }

// Done returns a channel closed when the engine stops: Close, a fatal
// error, or the end of Start's context.
func (e *Engine) Done() <-chan struct{} { return e.ctx.Done() }

// Err returns the fatal error that ended the engine (a *Failure), or nil.
func (e *Engine) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fatal
}

// HandOut reports whether a record may be handed to the application: always,
// unless the assignment gates records (it may seal a shard's tracker, or
// make it refuse records, when the shard is no longer the process's).
func (e *Engine) HandOut(tr *commit.Tracker, idx uint64) bool {
	return !e.assign.gated() || tr.Yield(idx)
}

// Unhand undoes HandOut for a record that could not be handed over after
// all (the stream stopped first).
func (e *Engine) Unhand(tr *commit.Tracker, idx uint64) {
	if e.assign.gated() {
		tr.Unyield(idx)
	}
}

// Recheck is how often a record waiting to be handed out must be checked
// again with StillHandedOut; 0 when it need not be.
func (e *Engine) Recheck() time.Duration { return e.assign.recheck() }

// StillHandedOut reports whether the records of tr that HandOut let through
// may still reach the application: the tracker was neither sealed nor made
// to refuse records since.
func (e *Engine) StillHandedOut(tr *commit.Tracker) bool { return !e.assign.gated() || tr.Open() }

// IterDone tells the engine that the application stopped taking records: a
// Close need not wait for records handed out to be committed.
func (e *Engine) IterDone() { e.iterOnce.Do(func() { close(e.iterDone) }) }

// Closing reports whether Close was called.
func (e *Engine) Closing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closing
}

// WorkerID returns the process's id among the workers sharing the stream,
// "" when it reads every shard.
func (e *Engine) WorkerID() string { return e.assign.workerID() }

// fail ends the engine with a fatal error; the first one wins.
func (e *Engine) fail(err error) {
	e.mu.Lock()
	first := e.fatal == nil && !e.closing
	if first {
		e.fatal = err
	}
	e.mu.Unlock()
	if first {
		e.log.Error("stream failed", "error", err) // not under e.mu: handlers may be slow
	}
	e.cancel()
}

// failed reports whether the engine ended on a fatal error, Close aside.
func (e *Engine) failed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fatal != nil && !e.closing
}

// Flush writes every committed position now.
func (e *Engine) Flush(ctx context.Context) error {
	if e.Closing() {
		return ErrClosed
	}
	return e.flush(ctx)
}

// Close stops reading, waits for every goroutine of the engine, lets the
// assignment drain (wait, bounded, for what it must), writes the committed
// positions and closes the assignment, each step bounded by CloseTimeout. It
// is idempotent and returns the error of the writes and of the assignment's
// close.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closing = true
		e.mu.Unlock()
		e.assign.seal(e)
		e.cancel()
		e.wg.Wait()
		ctx, cancel := e.CloseContext()
		defer cancel()
		e.assign.drain(ctx, e)
		e.closeErr = errors.Join(e.flush(ctx), e.assign.close(ctx, e))
		e.tel.Close()
	})
	return e.closeErr
}

// track registers the tracker of a shard about to be read. A tracker it
// replaces is retired: its records can no longer be committed.
func (e *Engine) track(id string, tr *commit.Tracker) {
	tr.OnEnd(e.kickFlush)
	e.mu.Lock()
	old := e.trackers[id]
	e.trackers[id] = tr
	e.mu.Unlock()
	if old != nil && old != tr {
		old.Retire()
	}
}

// tracker returns the tracker of shard id, or nil.
func (e *Engine) tracker(id string) *commit.Tracker {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.trackers[id]
}

// untrack drops the tracker of shard id if it is still tr, closes the
// shard's telemetry, and reports whether it did.
func (e *Engine) untrack(id string, tr *commit.Tracker) bool {
	e.mu.Lock()
	ok := e.trackers[id] == tr
	if ok {
		delete(e.trackers, id)
	}
	e.mu.Unlock()
	if ok {
		tr.Retire()              // the bytes of records never committed
		e.tel.Lookup(id).Close() // its records can no longer be committed
	}
	return ok
}

// eachTracker calls f on every tracker, under e.mu: f must not block.
func (e *Engine) eachTracker(f func(id string, tr *commit.Tracker)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, tr := range e.trackers {
		f(id, tr)
	}
}

// kickFlush asks the flusher to write soon, without blocking.
func (e *Engine) kickFlush() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// do runs f on the run goroutine, unless the engine stops first; it is how
// the assignment's goroutines change the graph.
func (e *Engine) do(ctx context.Context, f func(context.Context)) bool {
	select {
	case e.calls <- f:
		return true
	case <-ctx.Done():
		return false
	}
}

// detach returns the context of one store write made under ctx: not
// canceled with ctx, so that Close or a change of assignment never cuts a write
// short (the store may have applied it anyway), but ending at ctx's
// deadline or after CloseTimeout.
func (e *Engine) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	d := time.Now().Add(e.cfg.CloseTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	return context.WithDeadline(context.WithoutCancel(ctx), d)
}

// CloseContext returns a context for a step of closing: it ends after
// CloseTimeout.
func (e *Engine) CloseContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(e.ctx), e.cfg.CloseTimeout)
}
