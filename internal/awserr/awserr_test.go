package awserr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func apiErr(code string) error {
	return &smithy.OperationError{ServiceID: "Kinesis", OperationName: "GetRecords",
		Err: fmt.Errorf("request id 1: %w", &smithy.GenericAPIError{Code: code, Message: "m"})}
}

func TestClasses(t *testing.T) {
	for _, tc := range []struct {
		err                  error
		transient, permanent bool
	}{
		{apiErr("ProvisionedThroughputExceededException"), true, false},
		{apiErr("LimitExceededException"), true, false},
		{apiErr("InternalFailure"), true, false},
		{apiErr("ServiceUnavailable"), true, false},
		{&smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 400}}, Err: errors.New("x")}, false, false},
		{&smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 503}}, Err: errors.New("x")}, true, false},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true, false},
		{apiErr("UnknownOperationException"), false, true},
		{apiErr("AccessDeniedException"), false, true},
		{apiErr("ValidationException"), false, true},
		{apiErr("KMSDisabledException"), false, true},
		{apiErr("SomethingNew"), false, false}, // unknown: retried, within the stall bound
		{context.Canceled, false, false},
		{nil, false, false},
	} {
		if got := IsTransient(tc.err); got != tc.transient {
			t.Errorf("IsTransient(%v) = %v, want %v", tc.err, got, tc.transient)
		}
		if got := tc.err != nil && IsPermanent(tc.err); got != tc.permanent {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.permanent)
		}
	}
}

// The same unreadable response twice is permanent, whatever other failures
// come between; a success forgets it.
func TestDeserializationRepeated(t *testing.T) {
	deser := func(id string) error {
		return &smithy.OperationError{ServiceID: "Kinesis", OperationName: "SubscribeToShard",
			Err: fmt.Errorf("request id %s: deserialize initial response: %w", id, errors.New("expected initial-response, got SubscribeToShardEvent"))}
	}
	var d Deserialization
	steps := []struct {
		err  error
		want bool
	}{
		{deser("1"), false},
		{apiErr("ResourceInUseException"), false},
		{deser("2"), true}, // same cause, another request id
		{&smithy.DeserializationError{Err: errors.New("other")}, false},
		{&smithy.DeserializationError{Err: errors.New("other")}, true},
	}
	for i, s := range steps {
		if got := d.Repeated(s.err); got != s.want {
			t.Errorf("step %d: Repeated(%v) = %v, want %v", i, s.err, got, s.want)
		}
	}
	d.Reset()
	if d.Repeated(deser("3")) {
		t.Error("Repeated after Reset = true, want false")
	}
}
