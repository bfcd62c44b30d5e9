package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestNamespaceKey(t *testing.T) {
	seen := map[string][2]string{}
	names := []string{"", "a", "a/b", "b", "1:a", "a/", "/b", "7:", "é", "{x}"}
	for _, app := range names {
		for _, stream := range names {
			ns, err := namespaceKey(app, stream)
			if err != nil {
				t.Fatalf("namespaceKey(%q, %q): %v", app, stream, err)
			}
			if prev, ok := seen[ns]; ok {
				t.Errorf("namespaceKey(%q, %q) = %q, as for %q", app, stream, ns, prev)
			}
			seen[ns] = [2]string{app, stream}
		}
	}
	if ns, _ := namespaceKey("billing", "orders"); ns != "7:billing/orders" {
		t.Errorf(`namespaceKey("billing", "orders") = %q, want "7:billing/orders"`, ns)
	}
	if _, err := namespaceKey("bad\xff", "s"); err == nil {
		t.Error("namespaceKey accepted an app name that is not UTF-8")
	}
	if _, err := namespaceKey(strings.Repeat("a", 2042), "s"); err == nil {
		t.Error("namespaceKey accepted a key over 2,048 bytes")
	}
}

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
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%s: %v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
