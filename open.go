package kinesin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin/efo"
	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/consumer"
	"github.com/kinesin-go/kinesin/internal/retry"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/shard/eforead"
	"github.com/kinesin-go/kinesin/internal/shard/pollread"
	"github.com/kinesin-go/kinesin/internal/svctime"
	"github.com/kinesin-go/kinesin/internal/telemetry"
)

// Open opens a stream, named by name or ARN, whose records are decoded by
// dec. It fails at once, leaving nothing behind, when an option is bad
// (ErrInvalidOption), no AWS configuration is usable (ErrNoAWSConfig), the
// stream does not exist (ErrStreamNotFound), or the checkpoint store (the
// lease store, with WithLeases) or the shard list cannot be read. Reading
// starts when Open returns; the stream runs until Close, a fatal error, or
// the end of ctx.
//
// With WithLeases, the end of ctx stops the worker as a crash would: it
// stops renewing its leases, and the other workers take its shards once the
// leases expire, unless Close follows soon enough to release them (a Records
// loop calls it when it ends). A fatal error hands the shards over at once.
func Open[T any](ctx context.Context, stream string, dec Decoder[T], opts ...Option) (_ *Stream[T], err error) {
	cfg, err := configure(stream, dec, opts) // validate
	if err != nil {
		return nil, err
	}
	var undo cleanup // whatever a failing Open started
	defer func() {
		if err != nil {
			if uerr := undo.run(ctx, cfg.closeTimeout); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
	}()
	api, err := cfg.kinesisClient(ctx) // client
	if err != nil {
		return nil, err
	}
	info, err := describeStream(ctx, api, stream, cfg.logger) // describe
	if err != nil {
		return nil, err
	}
	if err := cfg.checkTimes(info); err != nil {
		return nil, err
	}
	log := cfg.logger.With("stream", info.name, "app", cfg.app)
	tel := cfg.telemetry(info.name, log)
	undo.add(func(context.Context) error { tel.Close(); return nil })
	health := consumer.NewHealth(tel, log, cfg.stallTimeout)
	reader, consumerARN, err := cfg.reader(ctx, api, info, health.Hooks(), log, &undo) // reader
	if err != nil {
		return nil, err
	}
	s := &Stream[T]{dec: dec, log: log, name: info.name, arn: info.arn, consumerARN: consumerARN,
		batchSize: cfg.batchSize, batchWait: cfg.batchWait}
	eng, err := consumer.Start(ctx, consumer.Config{ // assignment, start
		Name: info.name, CallName: stream, Created: info.created, Latest: info.latest,
		API: api, Reader: reader, App: cfg.app, Start: cfg.start.position(),
		MaxUncommitted: cfg.maxUncommitted, MemoryBudget: cfg.memoryBudget, CheckpointInterval: cfg.checkpointInterval,
		ShardSyncInterval: cfg.shardSync, CloseTimeout: cfg.closeTimeout, StoreOutage: cfg.storeOutage,
		Deaggregate: cfg.deaggregate, OpenRetryLimit: OpenRetryLimit, StallTimeout: cfg.stallTimeout, PauseWarning: cfg.pauseWarning,
		Health: health, Log: log, Tel: tel, Decode: s.decodeBatch, Assignment: cfg.assignment,
		StopWhenCaughtUp: cfg.stopWhenCaughtUp, StopAt: cfg.stopAt, Shards: cfg.shardSet(),
	})
	if err != nil {
		return nil, publicError(err)
	}
	s.eng, s.deregister = eng, undo.take(deregisterStep)
	return s, nil
}

// streamInfo is what Open learns of the stream.
type streamInfo struct {
	name, arn string
	created   time.Time
	// latest is the time Latest stands for in this process: when Open
	// started, on the service's clock (see svctime.Before).
	latest time.Time
	// retention is how long the stream keeps records.
	retention time.Duration
}

// latestSkew is how much earlier than this host's clock Latest starts when
// the client does not report the service's clock: a margin for the
// difference between the two.
const latestSkew = time.Second

// OpenRetryLimit bounds how long Open retries a control-plane call
// (DescribeStreamSummary, ListShards) that fails with an error that may pass:
// throttling, a server error, a network error. Open's context may end it
// sooner.
const OpenRetryLimit = time.Minute

// describeStream describes the stream named by name or ARN, retrying errors
// that may pass for up to OpenRetryLimit.
func describeStream(ctx context.Context, api KinesisAPI, stream string, log *slog.Logger) (streamInfo, error) {
	in := &kinesis.DescribeStreamSummaryInput{}
	if isARN(stream) {
		in.StreamARN = aws.String(stream)
	} else {
		in.StreamName = aws.String(stream)
	}
	var (
		asked time.Time
		desc  *kinesis.DescribeStreamSummaryOutput
	)
	err := retry.Transient(ctx, OpenRetryLimit, awserr.IsTransient, func(err error, wait time.Duration) {
		log.Warn("describing the stream failed; retrying", "stream", stream, "error", err, "wait", wait)
	}, func(ctx context.Context) (err error) {
		asked = time.Now()
		desc, err = api.DescribeStreamSummary(ctx, in)
		return err
	})
	switch {
	case awserr.IsNotFound(err):
		return streamInfo{}, fmt.Errorf("%w: %s: %w", ErrStreamNotFound, stream, err)
	case err != nil:
		return streamInfo{}, fmt.Errorf("kinesin: describing stream %s: %w", stream, err)
	case desc.StreamDescriptionSummary == nil:
		return streamInfo{}, fmt.Errorf("kinesin: describing stream %s: the response has no StreamDescriptionSummary", stream)
	}
	sum := desc.StreamDescriptionSummary
	return streamInfo{
		name:      aws.ToString(sum.StreamName),
		arn:       aws.ToString(sum.StreamARN),
		created:   aws.ToTime(sum.StreamCreationTimestamp),
		latest:    svctime.Before(desc.ResultMetadata, asked, latestSkew),
		retention: time.Duration(aws.ToInt32(sum.RetentionPeriodHours)) * time.Hour,
	}, nil
}

// checkTimes checks the times of the options against the service's clock
// (latest) and the stream's retention: an AtTimestamp in the future is
// refused, as the service refuses it; a StopAt in the future (the read
// would not stop at it: use StopWhenCaughtUp), before the start, or older
// than the stream's retention (its records are gone: nothing would be read)
// is refused too.
func (c *config) checkTimes(info streamInfo) error {
	latest := info.latest
	if st := c.start; st.kind == startAtTimestamp && st.ts.After(latest.Add(latestSkew)) {
		return fmt.Errorf("%w: WithStart: AtTimestamp(%s) is in the future (the service's clock reads %s)",
			ErrInvalidOption, st.ts.Format(time.RFC3339Nano), latest.Format(time.RFC3339))
	}
	if c.stopAt.IsZero() {
		return nil
	}
	at := c.stopAt.Format(time.RFC3339Nano)
	switch {
	case c.stopAt.After(latest.Add(latestSkew)):
		return fmt.Errorf("%w: StopAt(%s) is in the future (the service's clock reads %s): use StopWhenCaughtUp to stop at the tip",
			ErrInvalidOption, at, latest.Format(time.RFC3339))
	case c.start.kind == startAtTimestamp && c.stopAt.Before(c.start.ts):
		return fmt.Errorf("%w: StopAt(%s) is before the start, AtTimestamp(%s): nothing would be read",
			ErrInvalidOption, at, c.start.ts.Format(time.RFC3339Nano))
	case info.retention > 0 && c.stopAt.Before(latest.Add(-info.retention)):
		return fmt.Errorf("%w: StopAt(%s) is older than the stream's retention of %v: its records are gone",
			ErrInvalidOption, at, info.retention)
	}
	return nil
}

// telemetry makes the stream's OpenTelemetry instruments; should that fail,
// the stream goes on without them.
func (c *config) telemetry(name string, log *slog.Logger) *telemetry.Telemetry {
	mode := telemetry.ModePolling
	if c.efoSet {
		mode = telemetry.ModeEFO
	}
	tel, err := telemetry.New(c.meterProvider, c.tracerProvider, name, c.app, mode)
	if err != nil {
		log.Warn("OpenTelemetry instruments could not be made; going on without them", "error", err)
		return nil // a nil *Telemetry records nothing
	}
	return tel
}

// reader makes the shard reader: polling, or Enhanced Fan-Out once the
// consumer is registered and ACTIVE (deregistered by a failing Open, or by
// Close, with WithDeregisterOnClose).
func (c *config) reader(ctx context.Context, api KinesisAPI, info streamInfo, hooks shard.Hooks, log *slog.Logger, undo *cleanup) (shard.Reader, string, error) {
	if !c.efoSet {
		r, err := pollread.New(api, c.polling, shard.Env{Log: log, Hooks: hooks, SDKDecoder: c.sdkDecoder})
		return r, "", err
	}
	arn, err := efo.Register(ctx, api, info.arn, c.efoConsumer, c.efo)
	if err != nil {
		return nil, "", fmt.Errorf("kinesin: registering Enhanced Fan-Out consumer %s of %s: %w", c.efoConsumer, info.name, err)
	}
	log.Info("reading with Enhanced Fan-Out", "consumer", arn)
	if c.deregister {
		undo.addNamed(deregisterStep, func(ctx context.Context) error {
			if err := efo.Deregister(ctx, api, arn, c.efo); err != nil {
				return fmt.Errorf("kinesin: deregistering consumer %s: %w", arn, err)
			}
			log.Info("deregistered the Enhanced Fan-Out consumer", "consumer", arn)
			return nil
		})
	}
	r, err := eforead.New(api, arn, c.efo, shard.Env{Log: log, Hooks: hooks, SDKDecoder: c.sdkDecoder})
	return r, arn, err
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

// deregisterStep names the cleanup step that deregisters the EFO consumer:
// a successful Open hands it to Close.
const deregisterStep = "deregister"

// cleanup is what a failing Open undoes, last started first.
type cleanup struct {
	steps []cleanupStep
}

type cleanupStep struct {
	name string
	f    func(context.Context) error
}

func (u *cleanup) add(f func(context.Context) error) { u.addNamed("", f) }

func (u *cleanup) addNamed(name string, f func(context.Context) error) {
	u.steps = append(u.steps, cleanupStep{name: name, f: f})
}

// take removes the step named name and returns it, nil when there is none.
func (u *cleanup) take(name string) func(context.Context) error {
	i := slices.IndexFunc(u.steps, func(s cleanupStep) bool { return s.name == name })
	if i < 0 {
		return nil
	}
	f := u.steps[i].f
	u.steps = slices.Delete(u.steps, i, i+1)
	return f
}

// run undoes every step, each bounded by timeout, even after ctx ended.
func (u *cleanup) run(ctx context.Context, timeout time.Duration) error {
	var errs []error
	for _, s := range slices.Backward(u.steps) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		errs = append(errs, s.f(sctx))
		cancel()
	}
	return errors.Join(errs...)
}
