// Package awserr classifies errors returned by the AWS SDK for the readers,
// stores and schedulers of kinesin: what to retry, what ends a shard and what
// is fatal.
package awserr

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Code returns the service error code of err, or "".
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsThrottle reports whether err says a rate or throughput limit was hit.
func IsThrottle(err error) bool {
	switch Code(err) {
	case "ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException",
		"KMSThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequestsException",
		"SlowDown", "RequestThrottled", "RequestThrottledException":
		return true
	}
	var quota ratelimit.QuotaExceededError
	return errors.As(err, &quota)
}

// IsTransient reports errors that may pass if the call is made again: those
// the SDK's own retryer retries (throttling, server errors, timeouts,
// connection errors: aws/retry's DefaultThrottles and DefaultRetryables), and
// the throttling codes IsThrottle knows.
func IsTransient(err error) bool {
	if err == nil || IsContext(err) {
		return false
	}
	return IsThrottle(err) ||
		retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary ||
		retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// Is reports whether err carries the service error code.
func Is(err error, code string) bool { return Code(err) == code }

// IsExpiredIterator reports an ExpiredIteratorException.
func IsExpiredIterator(err error) bool { return Is(err, "ExpiredIteratorException") }

// IsNotFound reports a ResourceNotFoundException.
func IsNotFound(err error) bool { return Is(err, "ResourceNotFoundException") }

// IsInvalidArgument reports an InvalidArgumentException.
func IsInvalidArgument(err error) bool { return Is(err, "InvalidArgumentException") }

// IsResourceInUse reports a ResourceInUseException.
func IsResourceInUse(err error) bool { return Is(err, "ResourceInUseException") }

// IsFatal reports errors that retrying cannot fix: missing permissions or
// credentials, unusable KMS keys, malformed requests. A consumer stops on
// them and tells the user.
func IsFatal(err error) bool {
	code := Code(err)
	switch code {
	case "KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException",
		"KMSNotFoundException", "KMSOptInRequired", "ValidationException",
		"UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
		"MissingAuthenticationTokenException", "ExpiredTokenException", "InvalidClientTokenId",
		"SignatureDoesNotMatch", "OptInRequired":
		return true
	}
	return strings.Contains(code, "AccessDenied")
}

// IsContext reports whether err comes from a context that ended.
func IsContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
