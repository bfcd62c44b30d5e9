// Package dynamotest helps test the DynamoDB stores against dynalite: a
// client of the emulator, an API wrapper that injects faults, and the checks
// of a CreateTable.
package dynamotest

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/internal/testenv"
)

// NewClient returns a DynamoDB client of dynalite, whose connections are
// closed when t ends. It skips t, or fails it when emulators are required,
// without dynalite (see testenv.DynaliteURL).
func NewClient(t *testing.T) *dynamodb.Client {
	t.Helper()
	url := testenv.DynaliteURL(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("kinesin", "test", ""),
		HTTPClient:   &http.Client{Transport: tr, Timeout: 30 * time.Second},
	})
}

// Faulty wraps a client: it fails, or loses the answer of, the next calls of
// GetItem, PutItem, UpdateItem, DeleteItem and Query (each named as its
// method, e.g. "UpdateItem"), counts them and the calls in flight, and may
// shrink Query pages. The client's other methods are called as they are. It
// is safe for concurrent use.
type Faulty struct {
	*dynamodb.Client
	// PageLimit, when positive, is the Limit of every Query: small pages.
	PageLimit int32

	mu        sync.Mutex
	fail      map[string][]error // by operation: errors of the next calls
	after     map[string][]error // by operation: errors returned after the call went through
	failAll   map[string]error   // by operation: error of every call
	calls     map[string]int
	inFlight  atomic.Int32
	maxFlight atomic.Int32
}

// NewFaulty returns a Faulty wrapping client, letting every call through.
func NewFaulty(client *dynamodb.Client) *Faulty {
	return &Faulty{Client: client, fail: map[string][]error{}, after: map[string][]error{}, failAll: map[string]error{}, calls: map[string]int{}}
}

// FailNext makes the next calls of op fail with errs, one each, without
// reaching the service (a nil error lets its call through).
func (f *Faulty) FailNext(op string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = append(f.fail[op], errs...)
}

// LoseAnswer makes the next call of op go through but return err, as when
// the connection breaks after the service wrote.
func (f *Faulty) LoseAnswer(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.after[op] = append(f.after[op], err)
}

// FailEvery makes every call of op fail with err, without reaching the
// service, until FailEvery(op, nil).
func (f *Faulty) FailEvery(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAll[op] = err
}

// Count returns how many times op was called.
func (f *Faulty) Count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// MaxInFlight returns the most calls, of any operations, that were in flight
// at the same time.
func (f *Faulty) MaxInFlight() int32 { return f.maxFlight.Load() }

// call records a call of op and returns a function to call when it returns
// and the error it must fail with before, and after, reaching the service.
func (f *Faulty) call(op string) (done func(), before, after error) {
	n := f.inFlight.Add(1)
	for {
		m := f.maxFlight.Load()
		if n <= m || f.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	done = func() { f.inFlight.Add(-1) }
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if err := f.failAll[op]; err != nil {
		return done, err, nil
	}
	if errs := f.fail[op]; len(errs) > 0 {
		f.fail[op] = errs[1:]
		return done, errs[0], nil
	}
	if errs := f.after[op]; len(errs) > 0 {
		f.after[op] = errs[1:]
		return done, nil, errs[0]
	}
	return done, nil, nil
}

// do runs a call of op, next, through the faults.
func do[Out any](f *Faulty, op string, next func() (*Out, error)) (*Out, error) {
	done, before, after := f.call(op)
	defer done()
	if before != nil {
		return nil, before
	}
	out, err := next()
	if after != nil && err == nil {
		return nil, after
	}
	return out, err
}

func (f *Faulty) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return do(f, "GetItem", func() (*dynamodb.GetItemOutput, error) {
		return f.Client.GetItem(ctx, in, optFns...)
	})
}

func (f *Faulty) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return do(f, "PutItem", func() (*dynamodb.PutItemOutput, error) {
		return f.Client.PutItem(ctx, in, optFns...)
	})
}

func (f *Faulty) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return do(f, "UpdateItem", func() (*dynamodb.UpdateItemOutput, error) {
		return f.Client.UpdateItem(ctx, in, optFns...)
	})
}

func (f *Faulty) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return do(f, "DeleteItem", func() (*dynamodb.DeleteItemOutput, error) {
		return f.Client.DeleteItem(ctx, in, optFns...)
	})
}

func (f *Faulty) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if f.PageLimit > 0 {
		c := *in
		c.Limit = aws.Int32(f.PageLimit)
		in = &c
	}
	return do(f, "Query", func() (*dynamodb.QueryOutput, error) {
		return f.Client.Query(ctx, in, optFns...)
	})
}

// Throttled returns the error of a throttled call.
func Throttled() error {
	return &types.ProvisionedThroughputExceededException{Message: aws.String("injected")}
}

// GetItem reads the item of key (namespace, shard_id) in table through
// client, with a strongly consistent read, failing t when it is absent.
func GetItem(t *testing.T, client *dynamodb.Client, table, namespace, shardID string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"namespace": &types.AttributeValueMemberS{Value: namespace},
			"shard_id":  &types.AttributeValueMemberS{Value: shardID},
		},
	})
	if err != nil || out.Item == nil {
		t.Fatalf("GetItem %s: %v, %v", shardID, out, err)
	}
	return out.Item
}

// NewTable makes a table of a name never used before, beginning with prefix,
// with create, a CreateTable of a store, failing t when it fails.
func NewTable(t *testing.T, prefix string, create func(ctx context.Context, table string) error) string {
	t.Helper()
	table := checkpointtest.UniqueName(prefix)
	if err := create(t.Context(), table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return table
}

// CreateTableIdempotent calls create, a CreateTable of a store on client,
// three times for a table of a new name, and checks that the table is then
// ACTIVE, PAY_PER_REQUEST and keyed by namespace (HASH) and shard_id (RANGE).
// It returns the table's name.
func CreateTableIdempotent(t *testing.T, client *dynamodb.Client, create func(ctx context.Context, table string) error) string {
	t.Helper()
	ctx := t.Context()
	table := checkpointtest.UniqueName("kinesin-create")
	for i := range 3 {
		if err := create(ctx, table); err != nil {
			t.Fatalf("CreateTable, call %d: %v", i+1, err)
		}
	}
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	if d.TableStatus != types.TableStatusActive {
		t.Errorf("status %s, want ACTIVE", d.TableStatus)
	}
	if d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode %+v, want PAY_PER_REQUEST", d.BillingModeSummary)
	}
	keys := map[string]types.KeyType{}
	for _, k := range d.KeySchema {
		keys[aws.ToString(k.AttributeName)] = k.KeyType
	}
	if keys["namespace"] != types.KeyTypeHash || keys["shard_id"] != types.KeyTypeRange || len(keys) != 2 {
		t.Errorf("key schema %v, want namespace HASH, shard_id RANGE", keys)
	}
	return table
}

// CreateTableWrongSchema makes a table keyed by "id" through client, checks
// that create, a CreateTable of a store on client, fails on it with an error
// naming the table and the keys, and returns that error.
func CreateTableWrongSchema(t *testing.T, client *dynamodb.Client, create func(ctx context.Context, table string) error) error {
	t.Helper()
	ctx := t.Context()
	table := checkpointtest.UniqueName("kinesin-wrong")
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = create(ctx, table)
	if err == nil || !strings.Contains(err.Error(), "namespace") || !strings.Contains(err.Error(), table) {
		t.Errorf("CreateTable over a table with other keys = %v, want an error naming the table and the keys", err)
	}
	return err
}
