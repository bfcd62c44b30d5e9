package dynamocheckpoint

import (
	"context"
	"fmt"

	"github.com/kinesin-go/kinesin/internal/dynamo"
)

// TableAPI is the part of *dynamodb.Client that CreateTable calls: its
// CreateTable and DescribeTable methods. Pass a *dynamodb.Client, or a
// wrapper of one.
type TableAPI = dynamo.TableAPI

// CreateTable creates table with the schema of the package doc (partition key
// namespace and sort key shard_id, both strings) and billing mode
// PAY_PER_REQUEST, unless a table of that name exists, then waits until it is
// ACTIVE (polling DescribeTable every 1 to 10 seconds, for at most 5 minutes
// and while ctx lasts). It is idempotent: calling it for a table that exists,
// or is being created, just waits for it.
//
// It fails when the table exists with other key attributes, and returns the
// SDK's errors wrapped (e.g. an *smithy.OperationError for missing
// permissions).
func CreateTable(ctx context.Context, client TableAPI, table string) error {
	if err := dynamo.CreateTable(ctx, client, table, "checkpoint"); err != nil {
		return fmt.Errorf("dynamodb: create table %s: %w", table, err)
	}
	return nil
}
