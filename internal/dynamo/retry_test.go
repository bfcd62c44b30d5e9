package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestRetryable(t *testing.T) {
	status := func(code int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("x")}
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"throughput", &types.ProvisionedThroughputExceededException{}, true},
		{"request limit", &types.RequestLimitExceeded{}, true},
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, true},
		{"internal", &types.InternalServerError{}, true},
		{"wrapped", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "Query", Err: &types.ProvisionedThroughputExceededException{}}, true},
		{"503", status(503), true},
		{"connection", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"condition", &types.ConditionalCheckFailedException{}, false},
		{"not found", &types.ResourceNotFoundException{}, false},
		{"validation", &smithy.GenericAPIError{Code: "ValidationException"}, false},
		{"400", status(400), false},
		{"canceled", context.Canceled, false},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"other", errors.New("boom"), false},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%s: %v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// failing returns an op failing with errs in turn, then succeeding, and a
// pointer to the count of its calls.
func failing(errs ...error) (func(context.Context) error, *int) {
	n := 0
	return func(context.Context) error {
		n++
		if n <= len(errs) {
			return errs[n-1]
		}
		return nil
	}, &n
}

func TestRetrier(t *testing.T) {
	throttled := &types.ProvisionedThroughputExceededException{}
	fast := Retrier{Initial: time.Millisecond, Max: 5 * time.Millisecond, MaxElapsed: time.Second}

	op, calls := failing(throttled, &types.InternalServerError{})
	if attempts, err := fast.Do(t.Context(), op); err != nil || attempts != 3 || *calls != 3 {
		t.Errorf("Do after two retryable errors = %d attempts, %v (%d calls); want 3, nil", attempts, err, *calls)
	}

	notFound := &types.ResourceNotFoundException{}
	op, calls = failing(notFound)
	if attempts, err := fast.Do(t.Context(), op); err != notFound || attempts != 1 || *calls != 1 {
		t.Errorf("Do of a non-retryable error = %d attempts, %v; want 1, the error as it is", attempts, err)
	}

	op, calls = failing(throttled)
	if attempts, err := (Retrier{}).Do(t.Context(), op); err != throttled || attempts != 1 || *calls != 1 {
		t.Errorf("Do without MaxElapsed = %d attempts, %v; want a single attempt", attempts, err)
	}

	always := func(context.Context) error { return throttled }
	start := time.Now()
	attempts, err := Retrier{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxElapsed: 50 * time.Millisecond}.Do(t.Context(), always)
	if !errors.Is(err, throttled) || attempts < 2 {
		t.Errorf("Do throttled forever = %d attempts, %v; want several, then the last error", attempts, err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Do gave up after %v, want about 50ms", elapsed)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = Retrier{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxElapsed: time.Hour}.Do(ctx, always)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, throttled) {
		t.Errorf("Do until the deadline = %v, want an error wrapping the deadline and the last error", err)
	}
}
