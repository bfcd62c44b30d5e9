package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kinesin-go/kinesin/internal/awserr"
)

// ErrorTypeOther is the error.type of an error nothing better describes.
const ErrorTypeOther = "_OTHER"

// ErrorType returns the error.type value of err, a short name of low
// cardinality:
//
//   - the AWS error code when err carries one (smithy.APIError), such as
//     "ProvisionedThroughputExceededException";
//   - "timeout" for a deadline that passed or a network timeout;
//   - "canceled" for a context canceled;
//   - the value of an ErrorType() string method in err's chain;
//   - else the Go type of the first error in err's chain that is not a mere
//     wrapper (fmt.Errorf, errors.Join, the SDK's operation and request
//     errors, url.Error), such as "*net.OpError";
//   - ErrorTypeOther ("_OTHER") for sentinel errors made by errors.New, such
//     as io.EOF.
//
// It returns "" for a nil error.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	if code := awserr.Code(err); code != "" {
		return code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return "timeout"
	}
	var typed interface{ ErrorType() string }
	if errors.As(err, &typed) {
		if s := typed.ErrorType(); s != "" {
			return s
		}
	}
	for e := err; e != nil; {
		if next, ok := unwrapWrapper(e); ok {
			e = next
			continue
		}
		if reflect.TypeOf(e) == errorStringType {
			return ErrorTypeOther
		}
		return reflect.TypeOf(e).String()
	}
	return ErrorTypeOther
}

var (
	errorStringType = reflect.TypeOf(errors.New(""))
	wrapErrorType   = reflect.TypeOf(fmt.Errorf("%w", errors.New("")))
	wrapErrorsType  = reflect.TypeOf(fmt.Errorf("%w%w", errors.New(""), errors.New("")))
	joinErrorType   = reflect.TypeOf(errors.Join(errors.New("")))
)

// unwrapWrapper returns the error e wraps when e only adds context to it.
func unwrapWrapper(e error) (error, bool) {
	switch w := e.(type) {
	case *smithy.OperationError:
		return w.Err, true
	case *smithyhttp.RequestSendError:
		return w.Err, true
	case *url.Error:
		return w.Err, true
	}
	switch reflect.TypeOf(e) {
	case wrapErrorType:
		return errors.Unwrap(e), true
	case wrapErrorsType, joinErrorType:
		if errs := e.(interface{ Unwrap() []error }).Unwrap(); len(errs) > 0 {
			return errs[0], true
		}
	}
	return nil, false
}

// canceled reports whether err only says that ctx ended: the operation was
// cut short because the consumer is stopping, which is not a failure.
func canceled(ctx context.Context, err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, context.Canceled) || (ctx != nil && ctx.Err() != nil)
}
