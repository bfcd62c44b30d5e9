package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableAPI is the part of *dynamodb.Client that CreateTable calls.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// tableWait bounds how long CreateTable waits for the table to become ACTIVE
// when ctx has no earlier deadline.
const tableWait = 5 * time.Minute

// CreateTable creates table with partition key namespace and sort key
// shard_id, both strings, and billing mode PAY_PER_REQUEST, unless a table of
// that name exists, then waits until it is ACTIVE (polling DescribeTable
// every 1 to 10 seconds, for at most 5 minutes and while ctx lasts). It is
// idempotent: calling it for a table that exists, or is being created, just
// waits for it.
//
// It fails when the table exists with other key attributes (kind, e.g.
// "checkpoint", names the table the store needs in that error), and returns
// the SDK's errors wrapped (e.g. an *smithy.OperationError for missing
// permissions). Its errors do not name the table: the caller does.
func CreateTable(ctx context.Context, client TableAPI, table, kind string) error {
	if client == nil {
		return errors.New("nil client")
	}
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrNamespace), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrShardID), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AttrNamespace), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(AttrShardID), KeyType: types.KeyTypeRange},
		},
	})
	var exists *types.ResourceInUseException
	if err != nil && !errors.As(err, &exists) {
		return err
	}
	out, err := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = time.Second
		o.MaxDelay = 10 * time.Second
	}).WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, tableWait)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return fmt.Errorf("waiting for the table to be ACTIVE: %w", err)
	}
	return checkSchema(out.Table, kind)
}

// checkSchema reports whether t has the keys a store needs.
func checkSchema(t *types.TableDescription, kind string) error {
	if t == nil {
		return errors.New("DescribeTable returned no table")
	}
	want := map[string]types.KeyType{AttrNamespace: types.KeyTypeHash, AttrShardID: types.KeyTypeRange}
	attrTypes := map[string]types.ScalarAttributeType{}
	for _, d := range t.AttributeDefinitions {
		attrTypes[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	ok := len(t.KeySchema) == len(want)
	for _, k := range t.KeySchema {
		name := aws.ToString(k.AttributeName)
		if want[name] != k.KeyType || attrTypes[name] != types.ScalarAttributeTypeS {
			ok = false
		}
	}
	if !ok {
		var got []string
		for _, k := range t.KeySchema {
			name := aws.ToString(k.AttributeName)
			got = append(got, fmt.Sprintf("%s %s (%s)", k.KeyType, name, attrTypes[name]))
		}
		return fmt.Errorf("the table exists with keys %v; a %s table needs HASH %s (S) and RANGE %s (S)", got, kind, AttrNamespace, AttrShardID)
	}
	return nil
}
