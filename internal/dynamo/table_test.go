package dynamo_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kinesin-go/kinesin/internal/dynamo"
	"github.com/kinesin-go/kinesin/internal/dynamo/dynamotest"
)

// createTable is dynamo.CreateTable of a "test" table on client, its errors
// naming the table as a store's CreateTable does.
func createTable(client dynamo.TableAPI) func(context.Context, string) error {
	return func(ctx context.Context, table string) error {
		if err := dynamo.CreateTable(ctx, client, table, "test"); err != nil {
			return fmt.Errorf("create table %s: %w", table, err)
		}
		return nil
	}
}

func TestCreateTableIdempotent(t *testing.T) {
	client := dynamotest.NewClient(t)
	dynamotest.CreateTableIdempotent(t, client, createTable(client))
}

func TestCreateTableWrongSchema(t *testing.T) {
	client := dynamotest.NewClient(t)
	err := dynamotest.CreateTableWrongSchema(t, client, createTable(client))
	if want := "a test table needs HASH namespace (S) and RANGE shard_id (S)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CreateTable over a table with other keys = %v, want it to say %q", err, want)
	}
}

func TestCreateTableNilClient(t *testing.T) {
	if err := dynamo.CreateTable(t.Context(), nil, "t", "test"); err == nil {
		t.Error("CreateTable with a nil client succeeded")
	}
}
