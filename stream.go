package kinesin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"go.opentelemetry.io/otel/trace"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/memory"
	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/commit"
	"github.com/kinesin-go/kinesin/internal/svctime"
	"github.com/kinesin-go/kinesin/internal/telemetry"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/polling"
	"github.com/kinesin-go/kinesin/shard"
)

// Stream is an open Kinesis stream: the records of all its shards, merged.
// Read them once, with Records or Chan. Its methods are safe for concurrent
// use.
type Stream[T any] struct {
	cfg    config
	dec    Decoder[T]
	api    KinesisAPI
	log    *slog.Logger
	reader shard.Reader

	// name is the stream's name, the namespace of its checkpoints; callName is
	// what API calls name it by (the ARN when Open was given one).
	name     string
	arn      string
	callName string
	created  time.Time // the stream's creation time: tells a re-created stream
	// consumerARN is the Enhanced Fan-Out consumer, when reading with EFO.
	consumerARN string
	// latest is the time Latest stands for in this process: when Open
	// started, on the service's clock (see svctime.Before). The group's
	// start is that of its first Open, kept in start checkpoints.
	latest time.Time
	tel    *telemetry.Telemetry

	ctx     context.Context // ends on Close, on a fatal error and with Open's ctx
	cancel  context.CancelFunc
	batches chan *batch[T]
	kick    chan struct{} // asks the flusher to write now

	mu       sync.Mutex
	trackers map[string]*commit.Tracker
	fatal    error
	closing  bool

	wg        sync.WaitGroup
	consumed  atomic.Bool
	chanOnce  sync.Once
	ch        chan *Record[T]
	closeOnce sync.Once
	closeErr  error

	flushMu   sync.Mutex
	failSince time.Time // guarded by flushMu: when checkpoint writes started failing

	// leases is the worker's lease manager, with WithLeases (leases.go);
	// stopLeases ends its link to Open's ctx. iterDone is closed when the
	// Records loop ended.
	leases     *lease.Manager
	stopLeases func()
	iterDone   chan struct{}
	iterOnce   sync.Once
}

type batch[T any] struct{ recs []Record[T] }

// Open opens a stream, named by name or ARN, whose records are decoded by
// dec. It fails at once, without starting anything, when an option is bad
// (ErrInvalidOption), no AWS configuration is usable (ErrNoAWSConfig), the
// stream does not exist (ErrStreamNotFound), or the checkpoint store (the
// lease store, with WithLeases) or the shard list cannot be read. Reading
// starts when Open returns; the stream runs until Close, a fatal error, or
// the end of ctx.
//
// With WithLeases, the end of ctx stops the worker as a crash would: its
// lease manager stops renewing, and the other workers take its shards once
// their leases expire, unless Close follows soon enough to release them (a
// Records loop calls it when it ends). A fatal error hands the shards over
// at once.
func Open[T any](ctx context.Context, stream string, dec Decoder[T], opts ...Option) (*Stream[T], error) {
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
	api, err := cfg.kinesisClient(ctx)
	if err != nil {
		return nil, err
	}
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.store == nil {
		cfg.store = memory.New()
	}

	in := &kinesis.DescribeStreamSummaryInput{}
	if isARN(stream) {
		in.StreamARN = aws.String(stream)
	} else {
		in.StreamName = aws.String(stream)
	}
	asked := time.Now()
	desc, err := api.DescribeStreamSummary(ctx, in)
	switch {
	case awserr.IsNotFound(err):
		return nil, fmt.Errorf("%w: %s: %w", ErrStreamNotFound, stream, err)
	case err != nil:
		return nil, fmt.Errorf("kinesin: describing stream %s: %w", stream, err)
	case desc.StreamDescriptionSummary == nil:
		return nil, fmt.Errorf("kinesin: describing stream %s: the response has no StreamDescriptionSummary", stream)
	}
	sum := desc.StreamDescriptionSummary
	s := &Stream[T]{
		cfg:      cfg,
		dec:      dec,
		api:      api,
		log:      log.With("stream", aws.ToString(sum.StreamName), "app", cfg.app),
		name:     aws.ToString(sum.StreamName),
		arn:      aws.ToString(sum.StreamARN),
		callName: stream,
		created:  aws.ToTime(sum.StreamCreationTimestamp),
		latest:   svctime.Before(desc.ResultMetadata, asked, latestSkew),
		batches:  make(chan *batch[T], 16),
		kick:     make(chan struct{}, 1),
		trackers: make(map[string]*commit.Tracker),
		iterDone: make(chan struct{}),
	}
	if st := cfg.start; st.kind == startAtTimestamp && st.ts.After(s.latest.Add(latestSkew)) {
		return nil, fmt.Errorf("%w: WithStart: AtTimestamp(%s) is in the future (the service's clock reads %s)",
			ErrInvalidOption, st.ts.Format(time.RFC3339Nano), s.latest.Format(time.RFC3339))
	}
	mode := telemetry.ModePolling
	if cfg.efoSet {
		mode = telemetry.ModeEFO
	}
	if s.tel, err = telemetry.New(cfg.meterProvider, cfg.tracerProvider, s.name, cfg.app, mode); err != nil {
		s.log.Warn("OpenTelemetry instruments could not be made; going on without them", "error", err)
		s.tel = nil // a nil *Telemetry records nothing
	}
	if cfg.efoSet {
		arn, err := efo.Register(ctx, api, s.arn, cfg.efoConsumer, cfg.efo)
		if err != nil {
			return nil, fmt.Errorf("kinesin: registering Enhanced Fan-Out consumer %s of %s: %w", cfg.efoConsumer, s.name, err)
		}
		s.consumerARN = arn
		s.log.Info("reading with Enhanced Fan-Out", "consumer", arn)
		// subscribed holds, by shard id, whether the last SubscribeToShard
		// call succeeded: a retry then follows a subscription that broke,
		// whose throttling Operation did not count.
		var subscribed sync.Map
		s.reader = efo.New(api, arn, cfg.efo, s.log, efo.Hooks{
			OnSubscribe: func(id string, d time.Duration, err error) {
				subscribed.Store(id, err == nil)
				s.tel.Lookup(id).Operation(s.ctx, telemetry.OpSubscribeToShard, time.Now().Add(-d), d, err)
			},
			OnEvent: func(id string, _ int, behind int64) { s.tel.Lookup(id).Lag(behind) },
			OnRetry: func(id string, _ time.Duration, err error) {
				sh := s.tel.Lookup(id)
				if open, _ := subscribed.Load(id); open == true && awserr.IsThrottle(err) {
					sh.Throttle(telemetry.OpSubscribeToShard)
				}
				sh.Retry(telemetry.OpSubscribeToShard, err)
			},
		})
	} else {
		s.reader = polling.New(api, cfg.polling, s.log, polling.Hooks{
			OnCall: func(id, op string, d time.Duration, err error) {
				s.tel.Lookup(id).Operation(s.ctx, op, time.Now().Add(-d), d, err)
			},
			OnGetRecords: func(id string, _ int, behind int64) { s.tel.Lookup(id).Lag(behind) },
			OnRetry:      func(id, op string, _ time.Duration, err error) { s.tel.Lookup(id).Retry(op, err) },
		})
	}

	var cps map[string]checkpoint.Checkpoint
	if cfg.leaseSet && cfg.storeSet {
		// Moving to leases: the leases created start from these.
		if cps, err = cfg.store.Load(ctx, cfg.app, s.name); err != nil {
			return nil, s.abandon(ctx, fmt.Errorf("kinesin: loading the checkpoints of app %s, stream %s to seed its leases: %w", cfg.app, s.name, err))
		}
	}
	if cfg.leaseSet {
		// Checkpoints are in the leases.
		// The renewal hook feeds the lease-event metric; a WithHooks among
		// the user's lease options replaces it.
		renewed := lease.WithHooks(lease.Hooks{OnRenewed: func(id string) { s.tel.Lease(telemetry.LeaseRenewed, id) }})
		s.leases, err = lease.New(cfg.leaseStore, cfg.app, s.name, append([]lease.Option{lease.WithLogger(log), renewed}, cfg.leaseOpts...)...)
		if err != nil {
			return nil, s.abandon(ctx, fmt.Errorf("%w: WithLeases: %w", ErrInvalidOption, err))
		}
	} else if cps, err = cfg.store.Load(ctx, cfg.app, s.name); err != nil {
		return nil, s.abandon(ctx, fmt.Errorf("kinesin: loading checkpoints of app %s, stream %s: %w", cfg.app, s.name, err))
	}
	co := &coordinator[T]{s: s, cps: cps, shards: make(map[string]*shardInfo), events: make(chan shardEvent)}
	if err := co.refresh(ctx); err != nil {
		return nil, s.abandon(ctx, err)
	}
	if s.leases != nil {
		if err := co.initLeases(ctx); err != nil {
			return nil, s.abandon(ctx, err)
		}
	} else if err := co.recordStarts(ctx); err != nil {
		return nil, s.abandon(ctx, err)
	}

	// The stream's work runs in the background, outside any trace of the
	// caller: its spans are roots, whatever span ctx carries.
	s.ctx, s.cancel = context.WithCancel(trace.ContextWithSpanContext(ctx, trace.SpanContext{}))
	if s.leases != nil {
		s.startLeases(ctx)
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		co.run(s.ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.flusher(s.ctx)
	}()
	return s, nil
}

// abandon undoes what a failing Open did once the consumer was registered:
// with DeregisterOnClose, there will be no Close to deregister it, so it is
// deregistered now. It returns err, joined with the deregistration's error.
func (s *Stream[T]) abandon(ctx context.Context, err error) error {
	if !s.cfg.deregister || s.consumerARN == "" {
		return err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.closeTimeout)
	defer cancel()
	if derr := efo.Deregister(dctx, s.api, s.consumerARN, s.cfg.efo); derr != nil {
		return errors.Join(err, fmt.Errorf("kinesin: deregistering consumer %s: %w", s.consumerARN, derr))
	}
	return err
}

// kinesisClient returns the configured client, or builds one from the AWS
// configuration, checking that it has a region and credentials.
func (c *config) kinesisClient(ctx context.Context) (KinesisAPI, error) {
	if c.client != nil {
		return c.client, nil
	}
	var awsCfg aws.Config
	if c.awsConfig != nil {
		awsCfg = *c.awsConfig
	} else {
		var err error
		if awsCfg, err = awsconfig.LoadDefaultConfig(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoAWSConfig, err)
		}
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("%w: no region (set AWS_REGION, a profile's region, or pass WithClient)", ErrNoAWSConfig)
	}
	if awsCfg.Credentials == nil {
		return nil, fmt.Errorf("%w: no credentials provider", ErrNoAWSConfig)
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("%w: retrieving credentials: %w", ErrNoAWSConfig, err)
	}
	return kinesis.NewFromConfig(awsCfg), nil
}

func isARN(s string) bool { return strings.HasPrefix(s, "arn:") }

// latestSkew is how much earlier than this host's clock Latest starts when
// the client does not report the service's clock: a margin for the
// difference between the two.
const latestSkew = time.Second

// Name returns the stream's name.
func (s *Stream[T]) Name() string { return s.name }

// ARN returns the stream's ARN.
func (s *Stream[T]) ARN() string { return s.arn }

// fail ends the stream with a fatal error; the first one wins.
func (s *Stream[T]) fail(err error) {
	s.mu.Lock()
	first := s.fatal == nil && !s.closing
	if first {
		s.fatal = err
	}
	s.mu.Unlock()
	if first {
		s.log.Error("stream failed", "error", err) // not under s.mu: handlers may be slow
	}
	s.cancel()
}

// Err returns the fatal error that ended the stream (see the package's list
// of errors), or nil: while the stream runs, and after Close or the end of
// Open's context.
func (s *Stream[T]) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

// Flush writes every committed position to the checkpoint store now.
func (s *Stream[T]) Flush(ctx context.Context) error {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return ErrClosed
	}
	return s.flush(ctx)
}

// Close stops reading, waits for every goroutine of the stream to end, writes
// the committed positions (waiting at most CloseTimeout), and returns the
// error of that write. It is idempotent; records committed after it are not
// written.
//
// With WithLeases, Close hands the worker's shards over: it stops handing
// out records, waits (at most half of CloseTimeout) for those already handed
// out to be committed, unless the Records loop has ended, writes their
// checkpoints and releases the leases, so that the other workers take the
// shards at their next lease cycle and start right after the last record
// handed out here.
func (s *Stream[T]) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.sealAll()
		s.cancel()
		s.wg.Wait()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.cfg.closeTimeout)
		defer cancel()
		s.drain(ctx)
		s.closeErr = s.flush(ctx)
		if err := s.closeLeases(ctx); err != nil {
			s.closeErr = errors.Join(s.closeErr, err)
		}
		defer s.tel.Close()
		if s.cfg.deregister && s.consumerARN != "" {
			if err := efo.Deregister(ctx, s.api, s.consumerARN, s.cfg.efo); err != nil {
				s.closeErr = errors.Join(s.closeErr, fmt.Errorf("kinesin: deregistering consumer %s: %w", s.consumerARN, err))
			} else {
				s.log.Info("deregistered the Enhanced Fan-Out consumer", "consumer", s.consumerARN)
			}
		}
	})
	return s.closeErr
}

// flusher writes committed positions every checkpoint interval, and when a
// shard's end marker becomes writable.
func (s *Stream[T]) flusher(ctx context.Context) {
	t := time.NewTicker(s.cfg.checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		err := s.flush(ctx)
		if err == nil || ctx.Err() != nil {
			continue
		}
		s.flushMu.Lock()
		since := s.failSince
		s.flushMu.Unlock()
		if time.Since(since) >= s.cfg.storeOutage {
			s.fail(&CheckpointError{Since: since, Err: err})
			return
		}
		s.log.Warn("checkpoint write failed; keeping the positions and retrying", "error", err, "failing_since", since)
	}
}

// flush writes the checkpoints that changed since they were last written.
func (s *Stream[T]) flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.leases != nil {
		return s.flushLeases(ctx)
	}
	s.mu.Lock()
	cps := make(map[string]checkpoint.Checkpoint)
	versions := make(map[string]uint64)
	for id, tr := range s.trackers {
		if cp, v, dirty := tr.Pending(); dirty {
			cps[id], versions[id] = cp, v
		}
	}
	s.mu.Unlock()
	if len(cps) == 0 {
		s.failSince = time.Time{}
		return nil
	}
	t0 := time.Now()
	err := s.cfg.store.Save(ctx, s.cfg.app, s.name, cps)
	s.tel.CheckpointWrite(ctx, len(cps), time.Since(t0), err)
	if err != nil {
		if s.failSince.IsZero() {
			s.failSince = time.Now()
		}
		return fmt.Errorf("kinesin: writing %d checkpoints: %w", len(cps), err)
	}
	s.failSince = time.Time{}
	var finished []string
	s.mu.Lock()
	for id, v := range versions {
		tr := s.trackers[id]
		tr.MarkWritten(v)
		if tr.Finished() {
			delete(s.trackers, id)
			finished = append(finished, id)
		}
	}
	s.mu.Unlock()
	for _, id := range finished { // outside s.mu: telemetry and logs may be slow
		s.tel.Lookup(id).Close() // its records can no longer be committed
		s.log.Info("shard finished", "shard", id)
	}
	return nil
}

// track registers the tracker of a shard about to be read.
func (s *Stream[T]) track(id string, from checkpoint.Checkpoint) *commit.Tracker {
	tr := commit.New(s.cfg.maxUncommitted, from)
	s.mu.Lock()
	s.trackers[id] = tr
	s.mu.Unlock()
	return tr
}

// kickFlush asks the flusher to write soon, without blocking.
func (s *Stream[T]) kickFlush() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// ConsumerARN returns the ARN of the Enhanced Fan-Out consumer the stream
// reads with, or "" when it polls.
func (s *Stream[T]) ConsumerARN() string { return s.consumerARN }
