package efo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/cenkalti/backoff/v4"

	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/retry"
)

// API is the part of *kinesis.Client this package calls.
type API interface {
	RegisterStreamConsumer(ctx context.Context, in *kinesis.RegisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error)
	DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error)
	DeregisterStreamConsumer(ctx context.Context, in *kinesis.DeregisterStreamConsumerInput, optFns ...func(*kinesis.Options)) (*kinesis.DeregisterStreamConsumerOutput, error)
	SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, optFns ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error)
}

var _ API = (*kinesis.Client)(nil)

var (
	// ErrConsumerGone is wrapped by the errors of Register, when the consumer
	// ARN it was given names no consumer or one being deleted, and of
	// Reader.Read, when the reader's consumer was deregistered.
	ErrConsumerGone = errors.New("efo: the consumer is not registered")
	// ErrRegisterTimeout is wrapped by the error of Register when the
	// consumer is not ACTIVE within Options.RegisterTimeout, and of
	// Deregister when it kept failing that long.
	ErrRegisterTimeout = errors.New("efo: timed out")
)

// noRetry makes the SDK give one attempt: this package paces its own retries
// to the service's limits.
func noRetry(o *kinesis.Options) { o.RetryMaxAttempts = 1 }

// IsConsumerARN reports whether s is a consumer ARN
// (arn:PARTITION:kinesis:REGION:ACCOUNT:stream/STREAM/consumer/NAME:TIMESTAMP)
// rather than a consumer name, which cannot contain a colon.
func IsConsumerARN(s string) bool {
	return strings.HasPrefix(s, "arn:") && strings.Contains(s, ":stream/") && strings.Contains(s, "/consumer/")
}

// optionsOf returns the one Options of a variadic parameter, with defaults.
func optionsOf(opts []Options) (Options, error) {
	var o Options
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		return o, fmt.Errorf("%w: %d Options given, at most one is used", ErrInvalidOption, len(opts))
	}
	if err := o.Validate(); err != nil {
		return o, err
	}
	return o.WithDefaults(), nil
}

// Register returns the ARN of the ACTIVE consumer named consumer on the
// stream streamARN, registering it if it does not exist.
//
// consumer is a consumer name, or a consumer ARN: an ARN is only described
// and waited for, never registered (streamARN may then be empty; if not, it
// must be the ARN's stream). A consumer that is CREATING is waited for; one
// that is DELETING is waited for and registered again. Throttling
// (LimitExceededException: 5 registrations a second per account, 5 consumers
// CREATING at once per stream, 20 DescribeStreamConsumer calls a second),
// ResourceInUseException (registered or deleted concurrently), server errors
// and network errors are retried with backoff (opts' InitialBackoff and
// MaxBackoff).
//
// At most one Options is used: its InitialBackoff, MaxBackoff and
// RegisterTimeout. Register returns ctx's error if ctx ends first, an error
// wrapping ErrRegisterTimeout if the consumer is not ACTIVE within
// RegisterTimeout, one wrapping ErrConsumerGone if the consumer ARN given
// names no consumer (or one being deleted), and errors that retrying cannot
// fix wrapped (a missing stream is a ResourceNotFoundException).
func Register(ctx context.Context, api API, streamARN, consumer string, opts ...Options) (consumerARN string, err error) {
	o, err := optionsOf(opts)
	if err != nil {
		return "", err
	}
	byARN := IsConsumerARN(consumer)
	switch {
	case consumer == "":
		return "", errors.New("efo: Register: empty consumer name")
	case byARN && streamARN != "" && !strings.HasPrefix(consumer, streamARN+"/consumer/"):
		return "", fmt.Errorf("efo: Register: consumer %s is not a consumer of stream %s", consumer, streamARN)
	case !byARN && !strings.HasPrefix(streamARN, "arn:"):
		return "", fmt.Errorf("efo: Register: %q is not a stream ARN", streamARN)
	}
	g := &registrar{api: api, bo: o.backoff(), deadline: time.Now().Add(o.RegisterTimeout), timeout: o.RegisterTimeout}
	if byARN {
		return g.waitARN(ctx, consumer)
	}
	return g.registerName(ctx, streamARN, consumer)
}

// registrar is one Register or Deregister call.
type registrar struct {
	api      API
	bo       backoff.BackOff
	deadline time.Time
	timeout  time.Duration
	// last is why the last attempt failed.
	last error
}

// wait waits before the next attempt, after why. It returns ctx's error, or
// an error wrapping ErrRegisterTimeout and why when the next attempt would
// start after the deadline.
func (g *registrar) wait(ctx context.Context, what string, why error) error {
	g.last = why
	d := g.bo.NextBackOff()
	if time.Now().Add(d).After(g.deadline) {
		return fmt.Errorf("%w: %s after %v: %w", ErrRegisterTimeout, what, g.timeout, why)
	}
	return retry.SleepUntil(ctx, time.Now().Add(d))
}

// call runs one API call under the deadline. A call cut short by the
// deadline returns an error wrapping ErrRegisterTimeout; one cut short by
// ctx, ctx's error.
func (g *registrar) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithDeadline(ctx, g.deadline)
	defer cancel()
	err := fn(cctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case cctx.Err() != nil && g.last != nil:
		return fmt.Errorf("%w: %s after %v (before: %v): %w", ErrRegisterTimeout, what, g.timeout, g.last, err)
	case cctx.Err() != nil:
		return fmt.Errorf("%w: %s after %v: %w", ErrRegisterTimeout, what, g.timeout, err)
	}
	return err
}

// describe describes a consumer.
func (g *registrar) describe(ctx context.Context, what string, in *kinesis.DescribeStreamConsumerInput) (*types.ConsumerDescription, error) {
	var out *kinesis.DescribeStreamConsumerOutput
	err := g.call(ctx, what, func(ctx context.Context) (err error) {
		out, err = g.api.DescribeStreamConsumer(ctx, in, noRetry)
		return err
	})
	if err != nil {
		return nil, err
	}
	if out.ConsumerDescription == nil {
		return nil, errors.New("DescribeStreamConsumer returned no ConsumerDescription")
	}
	return out.ConsumerDescription, nil
}

// retryable reports whether a registration call failing with err may
// succeed later. The end of ctx or of the deadline is not retryable.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || awserr.IsContext(err) || errors.Is(err, ErrRegisterTimeout) {
		return false
	}
	return !awserr.IsPermanent(err) && !awserr.IsNotFound(err) && !awserr.IsInvalidArgument(err)
}

// failed returns the error to end a registration call with: ctx's, as it is,
// a timeout, or err wrapped.
func failed(ctx context.Context, what string, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, ErrRegisterTimeout):
		return err
	}
	return fmt.Errorf("efo: %s: %w", what, err)
}

// waitARN waits until the consumer consumerARN is ACTIVE.
func (g *registrar) waitARN(ctx context.Context, consumerARN string) (string, error) {
	what := "DescribeStreamConsumer " + consumerARN
	for {
		desc, err := g.describe(ctx, what, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(consumerARN)})
		switch {
		case err == nil && desc.ConsumerStatus == types.ConsumerStatusActive:
			return consumerARN, nil
		case err == nil && desc.ConsumerStatus == types.ConsumerStatusDeleting:
			return "", fmt.Errorf("efo: consumer %s is being deleted: %w", consumerARN, ErrConsumerGone)
		case err == nil:
			err = fmt.Errorf("consumer %s is %s", consumerARN, desc.ConsumerStatus)
		case awserr.IsNotFound(err):
			return "", fmt.Errorf("efo: %s: %w: %w", what, ErrConsumerGone, err)
		case !retryable(ctx, err):
			return "", failed(ctx, what, err)
		}
		if err := g.wait(ctx, "consumer "+consumerARN+" not ACTIVE", err); err != nil {
			return "", err
		}
	}
}

// registerName registers the consumer name on streamARN unless it exists, and
// waits until it is ACTIVE.
func (g *registrar) registerName(ctx context.Context, streamARN, name string) (string, error) {
	what := "consumer " + name + " of " + streamARN
	for {
		desc, err := g.describe(ctx, "DescribeStreamConsumer "+what, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)})
		switch {
		case err == nil && desc.ConsumerStatus == types.ConsumerStatusActive:
			return aws.ToString(desc.ConsumerARN), nil
		case err == nil:
			// CREATING: wait. DELETING: wait until it is gone, then
			// register it again.
			err = fmt.Errorf("consumer %s is %s", aws.ToString(desc.ConsumerARN), desc.ConsumerStatus)
		case awserr.IsNotFound(err):
			err = g.register(ctx, streamARN, name)
			if err == nil {
				// Describe it again: ACTIVE, or CREATING for a while.
				continue
			}
			if !retryable(ctx, err) {
				return "", failed(ctx, "RegisterStreamConsumer "+what, err)
			}
		case !retryable(ctx, err):
			return "", failed(ctx, "DescribeStreamConsumer "+what, err)
		}
		if err := g.wait(ctx, what+" not ACTIVE", err); err != nil {
			return "", err
		}
	}
}

// register calls RegisterStreamConsumer once.
func (g *registrar) register(ctx context.Context, streamARN, name string) error {
	return g.call(ctx, "RegisterStreamConsumer "+name, func(ctx context.Context) error {
		_, err := g.api.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
			StreamARN:    aws.String(streamARN),
			ConsumerName: aws.String(name),
		}, noRetry)
		return err
	})
}

// Deregister deregisters the consumer consumerARN. A consumer that does not
// exist is not an error. The consumer is DELETING for a while after
// Deregister returns; its subscriptions end with ResourceNotFoundException.
// Throttling (5 calls a second per account), ResourceInUseException, server
// and network errors are retried with backoff for up to RegisterTimeout (at
// most one Options is used). It returns ctx's error if ctx ends first.
func Deregister(ctx context.Context, api API, consumerARN string, opts ...Options) error {
	o, err := optionsOf(opts)
	if err != nil {
		return err
	}
	if !IsConsumerARN(consumerARN) {
		return fmt.Errorf("efo: Deregister: %q is not a consumer ARN", consumerARN)
	}
	g := &registrar{api: api, bo: o.backoff(), deadline: time.Now().Add(o.RegisterTimeout), timeout: o.RegisterTimeout}
	for {
		err := g.call(ctx, "DeregisterStreamConsumer "+consumerARN, func(ctx context.Context) error {
			_, err := api.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(consumerARN)}, noRetry)
			return err
		})
		switch {
		case err == nil, awserr.IsNotFound(err):
			return nil
		case !retryable(ctx, err):
			return failed(ctx, "DeregisterStreamConsumer "+consumerARN, err)
		}
		if err := g.wait(ctx, "DeregisterStreamConsumer "+consumerARN, err); err != nil {
			return err
		}
	}
}
