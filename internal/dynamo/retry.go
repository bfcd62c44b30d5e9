package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/cenkalti/backoff/v4"
)

// retryableCodes are the DynamoDB error codes of a call worth repeating:
// throttling, and failures on the service's side.
var retryableCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded":                   true,
	"ThrottlingException":                    true,
	"Throttling":                             true,
	"TooManyRequestsException":               true,
	"InternalServerError":                    true,
	"InternalFailure":                        true,
	"ServiceUnavailable":                     true,
	"RequestTimeout":                         true,
	"RequestTimeoutException":                true,
	"TransactionConflictException":           true,
}

// Retryable reports whether err, returned by a DynamoDB call, is throttling or
// a transient failure: one of retryableCodes, an HTTP status of 500 or more,
// or a connection error the SDK itself would retry. A canceled call is not.
func Retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		if retryableCodes[api.ErrorCode()] {
			return true
		}
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() >= 500 {
		return true
	}
	if api != nil {
		return false // an answer from the service that is none of the above
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// Retrier runs calls again, with exponential jittered backoff (from Initial,
// doubling up to Max, ±50%), while they fail with a Retryable error, for at
// most MaxElapsed.
type Retrier struct {
	Initial    time.Duration
	Max        time.Duration
	MaxElapsed time.Duration // 0: a single attempt
}

// Do calls op until it succeeds, fails with an error that is not retryable,
// the backoff gives up, or ctx ends, and returns how many times it called op.
// It returns op's last error as it is, or, when ctx ended while waiting, an
// error wrapping both ctx.Err() and op's last error.
func (r Retrier) Do(ctx context.Context, op func(context.Context) error) (int, error) {
	var b *backoff.ExponentialBackOff
	for attempts := 1; ; attempts++ {
		err := op(ctx)
		if err == nil || !Retryable(err) || r.MaxElapsed <= 0 {
			return attempts, err
		}
		if cerr := ctx.Err(); cerr != nil {
			return attempts, fmt.Errorf("%w (last attempt: %w)", cerr, err)
		}
		if b == nil {
			b = backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(r.Initial),
				backoff.WithMaxInterval(r.Max),
				backoff.WithMaxElapsedTime(r.MaxElapsed),
				backoff.WithRandomizationFactor(0.5),
				backoff.WithMultiplier(2),
			)
		}
		d := b.NextBackOff()
		if d == backoff.Stop {
			return attempts, fmt.Errorf("gave up retrying after %v: %w", r.MaxElapsed, err)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempts, fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// Pager is a paginator of the DynamoDB client, such as
// *dynamodb.QueryPaginator or *dynamodb.ScanPaginator, whose pages are Os.
type Pager[O any] interface {
	HasMorePages() bool
	NextPage(ctx context.Context, optFns ...func(*dynamodb.Options)) (O, error)
}

// Items returns the items of every page of pages, each page read with r (so
// retried while it fails with a Retryable error); items returns a page's
// items.
func Items[O any](ctx context.Context, r Retrier, pages Pager[O], items func(O) []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for pages.HasMorePages() {
		var page O
		_, err := r.Do(ctx, func(ctx context.Context) error {
			var err error
			page, err = pages.NextPage(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, items(page)...)
	}
	return out, nil
}
