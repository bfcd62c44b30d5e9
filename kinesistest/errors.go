package kinesistest

import (
	"fmt"
	"net/http"
)

// Error codes the fake returns, as the service spells them. The Go SDK turns
// each into its typed error (for example *types.ResourceNotFoundException);
// codes without a Kinesis type arrive as a smithy.GenericAPIError with the
// code.
const (
	CodeResourceNotFound      = "ResourceNotFoundException"
	CodeResourceInUse         = "ResourceInUseException"
	CodeInvalidArgument       = "InvalidArgumentException"
	CodeLimitExceeded         = "LimitExceededException"
	CodeThroughputExceeded    = "ProvisionedThroughputExceededException"
	CodeExpiredIterator       = "ExpiredIteratorException"
	CodeExpiredNextToken      = "ExpiredNextTokenException"
	CodeInternalFailure       = "InternalFailureException"
	CodeAccessDenied          = "AccessDeniedException"
	CodeValidation            = "ValidationException"
	CodeSerialization         = "SerializationException"
	CodeUnknownOperation      = "UnknownOperationException"
	CodeServiceUnavailable    = "ServiceUnavailable"
	CodeKMSThrottling         = "KMSThrottlingException"
	CodeThrottling            = "ThrottlingException"
	CodeUnrecognizedClient    = "UnrecognizedClientException"
	CodeIncompleteSignature   = "IncompleteSignatureException"
	CodeMissingAuthentication = "MissingAuthenticationTokenException"
)

// apiError is an error the fake answers with: an HTTP status and a Kinesis
// error code.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// statusOf gives the HTTP status the service uses for a code.
func statusOf(code string) int {
	switch code {
	case CodeInternalFailure:
		return http.StatusInternalServerError
	case CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

func errorf(code, format string, args ...any) *apiError {
	return &apiError{status: statusOf(code), code: code, message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return errorf(CodeResourceNotFound, format, args...)
}

func invalidArg(format string, args ...any) *apiError {
	return errorf(CodeInvalidArgument, format, args...)
}

func validation(format string, args ...any) *apiError {
	return errorf(CodeValidation, format, args...)
}

func inUse(format string, args ...any) *apiError {
	return errorf(CodeResourceInUse, format, args...)
}
