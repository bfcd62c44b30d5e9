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
	switch Code(err) {
	case "InternalFailure", "InternalFailureException", "InternalServerError", "InternalError",
		"ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException":
		return true // server-side, whatever HTTP status carried them
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

// IsPermanent reports errors that retrying cannot fix: missing permissions
// or credentials, unusable KMS keys, malformed or unsupported requests (an
// endpoint that does not know the operation, as an emulator without Enhanced
// Fan-Out). A consumer stops on them at once and tells the user.
func IsPermanent(err error) bool {
	code := Code(err)
	switch code {
	case "KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException",
		"KMSNotFoundException", "KMSOptInRequired", "ValidationException",
		"UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
		"MissingAuthenticationTokenException", "ExpiredTokenException", "InvalidClientTokenId",
		"SignatureDoesNotMatch", "OptInRequired", "UnknownOperationException", "InvalidAction",
		"SerializationException", "NotImplemented", "UnsupportedOperation", "InvalidParameterValue",
		"MissingParameter":
		return true
	}
	return strings.Contains(code, "AccessDenied")
}

// Deserialization follows the failures of one caller's calls to tell a
// response that cannot be read: the same deserialization failure twice
// without a success between is permanent (an endpoint the client cannot
// read, not a garbled response).
type Deserialization struct{ last string }

// Repeated reports whether err is a deserialization failure with the same
// cause as the caller's previous deserialization failure since its last
// success (other failures in between, such as throttling, do not count),
// and remembers it. Call it with every failure, and Reset after a success.
func (d *Deserialization) Repeated(err error) bool {
	if !isDeserialization(err) {
		return false
	}
	msg := root(err).Error() // the cause, without the request id around it
	repeated := msg == d.last
	d.last = msg
	return repeated
}

// root returns the innermost error err wraps (the first, where it wraps
// several).
func root(err error) error {
	for {
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if es := u.Unwrap(); len(es) > 0 {
				next = es[0]
			}
		}
		if next == nil {
			return err
		}
		err = next
	}
}

// Reset forgets the previous failure.
func (d *Deserialization) Reset() { d.last = "" }

// isDeserialization reports whether err says a response could not be read
// as the API defines it.
func isDeserialization(err error) bool {
	var de *smithy.DeserializationError
	if errors.As(err, &de) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "deserialize") || strings.Contains(msg, "deserialization failed")
}

// IsContext reports whether err comes from a context that ended.
func IsContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
