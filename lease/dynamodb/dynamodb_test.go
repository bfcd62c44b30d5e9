package dynamodb_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/testenv"
	"github.com/kinesin-go/kinesin/lease"
	ddblease "github.com/kinesin-go/kinesin/lease/dynamodb"
	"github.com/kinesin-go/kinesin/lease/leasetest"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns a DynamoDB client of dynalite, whose connections are
// closed when t ends.
func newClient(t *testing.T) *dynamodb.Client {
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

// newTable creates a lease table of a name never used before.
func newTable(t *testing.T, client *dynamodb.Client) string {
	t.Helper()
	table := leasetest.UniqueName("kinesin-leases")
	if err := ddblease.CreateTable(t.Context(), client, table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return table
}

type harness struct{ store *ddblease.Store }

func (h harness) Store() lease.Store { return h.store }
func (h harness) Names() (string, string) {
	return leasetest.UniqueName("app"), leasetest.UniqueName("stream")
}
func (h harness) Close() {}

// TestConformance runs the store suite against dynalite, in a table made for
// this run.
func TestConformance(t *testing.T) {
	client := newClient(t)
	store := ddblease.New(client, newTable(t, client))
	leasetest.RunConformanceTests(t, func(*testing.T) leasetest.Harness { return harness{store} })
}

// TestConformanceSmallPages runs the suite with Query pages of 7 items, so
// that List goes through many pages.
func TestConformanceSmallPages(t *testing.T) {
	client := newClient(t)
	api := newFaulty(client)
	api.pageLimit = 7
	store := ddblease.New(api, newTable(t, client))
	leasetest.RunConformanceTests(t, func(*testing.T) leasetest.Harness { return harness{store} })
	if api.count("Query") < 10 {
		t.Errorf("%d Query calls, want many pages", api.count("Query"))
	}
}

// faultyAPI wraps a client: it fails or repeats the next calls of an
// operation, counts calls, and may shrink Query pages.
type faultyAPI struct {
	ddblease.API
	mu        sync.Mutex
	fail      map[string][]error // by operation: errors of the next calls
	after     map[string][]error // by operation: errors returned after the call went through
	failAll   map[string]error
	calls     map[string]int
	pageLimit int32
}

func newFaulty(api ddblease.API) *faultyAPI {
	return &faultyAPI{API: api, fail: map[string][]error{}, after: map[string][]error{}, failAll: map[string]error{}, calls: map[string]int{}}
}

func (f *faultyAPI) failNext(op string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = append(f.fail[op], errs...)
}

// loseAnswer makes the next call of op go through but return err, as when
// the connection breaks after the service wrote.
func (f *faultyAPI) loseAnswer(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.after[op] = append(f.after[op], err)
}

func (f *faultyAPI) failEvery(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAll[op] = err
}

func (f *faultyAPI) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// call records a call of op and returns the error it must fail with before,
// and after, reaching the service.
func (f *faultyAPI) call(op string) (before, after error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if err := f.failAll[op]; err != nil {
		return err, nil
	}
	if errs := f.fail[op]; len(errs) > 0 {
		f.fail[op] = errs[1:]
		return errs[0], nil
	}
	if errs := f.after[op]; len(errs) > 0 {
		f.after[op] = errs[1:]
		return nil, errs[0]
	}
	return nil, nil
}

func (f *faultyAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	before, after := f.call("UpdateItem")
	if before != nil {
		return nil, before
	}
	out, err := f.API.UpdateItem(ctx, in, optFns...)
	if after != nil && err == nil {
		return nil, after
	}
	return out, err
}

func (f *faultyAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if before, _ := f.call("PutItem"); before != nil {
		return nil, before
	}
	return f.API.PutItem(ctx, in, optFns...)
}

func (f *faultyAPI) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	before, after := f.call("DeleteItem")
	if before != nil {
		return nil, before
	}
	out, err := f.API.DeleteItem(ctx, in, optFns...)
	if after != nil && err == nil {
		return nil, after
	}
	return out, err
}

func (f *faultyAPI) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if before, _ := f.call("Query"); before != nil {
		return nil, before
	}
	if f.pageLimit > 0 {
		c := *in
		c.Limit = aws.Int32(f.pageLimit)
		in = &c
	}
	return f.API.Query(ctx, in, optFns...)
}

func throttled() error {
	return &types.ProvisionedThroughputExceededException{Message: aws.String("injected")}
}

func internal() error { return &types.InternalServerError{Message: aws.String("injected")} }

// setup returns a store on a fresh table through a faulty API, and a free
// lease "s" in (app, stream).
func setup(t *testing.T, opts ...ddblease.Option) (*ddblease.Store, *faultyAPI, lease.Lease) {
	t.Helper()
	client := newClient(t)
	api := newFaulty(client)
	store := ddblease.New(api, newTable(t, client), opts...)
	if err := store.Create(t.Context(), "app", "stream", lease.Lease{Shard: "s"}); err != nil {
		t.Fatal(err)
	}
	ls, _, err := store.List(t.Context(), "app", "stream")
	if err != nil || len(ls) != 1 {
		t.Fatalf("List = %v, %v", ls, err)
	}
	return store, api, ls[0]
}

func TestThrottlingRetried(t *testing.T) {
	store, api, free := setup(t)
	ctx := t.Context()
	api.failNext("UpdateItem", throttled(), internal())
	h, err := store.Take(ctx, "app", "stream", free, "w")
	if err != nil {
		t.Fatalf("Take throttled twice: %v, want success after retries", err)
	}
	if h.Owner != "w" || h.Counter != 1 {
		t.Errorf("Take = %v, want owner w, counter 1", h)
	}
	if got := api.count("UpdateItem"); got != 3 {
		t.Errorf("UpdateItem calls = %d, want 3", got)
	}
	api.failNext("Query", throttled(), &types.RequestLimitExceeded{Message: aws.String("injected")})
	if ls, _, err := store.List(ctx, "app", "stream"); err != nil || len(ls) != 1 {
		t.Fatalf("List throttled twice = %v, %v", ls, err)
	}
}

// TestRetriedWriteThatWent checks writes whose first attempt reached the
// service but whose answer was lost: the retry fails its condition, and the
// store reads the item back to report success.
func TestRetriedWriteThatWent(t *testing.T) {
	store, api, free := setup(t)
	ctx := t.Context()
	api.loseAnswer("UpdateItem", internal())
	h, err := store.Take(ctx, "app", "stream", free, "w")
	if err != nil || h.Owner != "w" || h.Counter != 1 {
		t.Fatalf("Take whose first answer was lost = %v, %v; want success, counter 1", h, err)
	}
	api.loseAnswer("UpdateItem", internal())
	h, err = store.Renew(ctx, "app", "stream", h)
	if err != nil || h.Counter != 2 {
		t.Fatalf("Renew whose first answer was lost = %v, %v; want counter 2", h, err)
	}
	api.loseAnswer("UpdateItem", internal())
	h, err = store.Checkpoint(ctx, "app", "stream", h, checkpoint.At("77"))
	if err != nil || h.Counter != 3 || h.Checkpoint != checkpoint.At("77") {
		t.Fatalf("Checkpoint whose first answer was lost = %v, %v; want counter 3 at 77", h, err)
	}
	api.loseAnswer("UpdateItem", internal())
	h, err = store.Release(ctx, "app", "stream", h)
	if err != nil || h.Owner != "" || h.Counter != 4 {
		t.Fatalf("Release whose first answer was lost = %v, %v; want free, counter 4", h, err)
	}
	api.loseAnswer("DeleteItem", internal())
	if err := store.Delete(ctx, "app", "stream", h); err != nil {
		t.Fatalf("Delete whose first answer was lost: %v", err)
	}
	// Without a retry, a failed condition is ErrLost, never success.
	if _, err := store.Renew(ctx, "app", "stream", lease.Lease{Shard: "s", Owner: "w", Counter: 3}); !errors.Is(err, lease.ErrLost) {
		t.Errorf("Renew of a deleted lease = %v, want ErrLost", err)
	}
}

func TestRetriesGiveUp(t *testing.T) {
	store, api, free := setup(t, ddblease.MaxRetryTime(200*time.Millisecond))
	api.failEvery("UpdateItem", throttled())
	start := time.Now()
	_, err := store.Take(t.Context(), "app", "stream", free, "w")
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) {
		t.Fatalf("Take throttled forever = %v, want a wrapped *types.ProvisionedThroughputExceededException", err)
	}
	if errors.Is(err, lease.ErrLost) {
		t.Errorf("a throttled Take reported ErrLost: %v", err)
	}
	for _, want := range []string{"app/stream", " s ", "take"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("gave up after %v, want about 200ms", elapsed)
	}
	if n := api.count("UpdateItem"); n < 2 {
		t.Errorf("%d UpdateItem calls, want several", n)
	}
}

func TestNonRetryableErrorSurfaces(t *testing.T) {
	client := newClient(t)
	api := newFaulty(client)
	store := ddblease.New(api, leasetest.UniqueName("no-such-table"))
	ctx := t.Context()
	_, _, err := store.List(ctx, "my-app", "my-stream")
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "my-app/my-stream") {
		t.Errorf("List of a missing table = %v, want a wrapped *types.ResourceNotFoundException naming my-app/my-stream", err)
	}
	_, err = store.Heartbeat(ctx, "my-app", "my-stream", "w")
	if !errors.As(err, &nf) {
		t.Errorf("Heartbeat on a missing table = %v, want ResourceNotFoundException", err)
	}
	if got := api.count("Query") + api.count("UpdateItem"); got != 2 {
		t.Errorf("%d calls, want 2: no retry of a non-retryable error", got)
	}
}

func TestUnusableStore(t *testing.T) {
	ctx := t.Context()
	for name, s := range map[string]*ddblease.Store{
		"nil store":   nil,
		"nil client":  ddblease.New(nil, "t"),
		"empty table": ddblease.New(newFaulty(nil), ""),
	} {
		if _, _, err := s.List(ctx, "a", "s"); err == nil {
			t.Errorf("%s: List succeeded", name)
		}
		if _, err := s.Heartbeat(ctx, "a", "s", "w"); err == nil {
			t.Errorf("%s: Heartbeat succeeded", name)
		}
	}
	if err := ddblease.CreateTable(ctx, nil, "t"); err == nil {
		t.Error("CreateTable with a nil client succeeded")
	}
}

func TestKeyLimits(t *testing.T) {
	client := newClient(t)
	store := ddblease.New(client, newTable(t, client))
	ctx := t.Context()
	for _, shard := range []string{"worker#x", strings.Repeat("s", 1025)} {
		if err := store.Create(ctx, "a", "s", lease.Lease{Shard: shard}); !errors.Is(err, lease.ErrInvalid) {
			t.Errorf("Create(%.20q) = %v, want ErrInvalid", shard, err)
		}
	}
	if _, err := store.Heartbeat(ctx, "a", "s", strings.Repeat("w", 1018)); !errors.Is(err, lease.ErrInvalid) {
		t.Errorf("Heartbeat with a too long id = %v, want ErrInvalid", err)
	}
	if _, _, err := store.List(ctx, strings.Repeat("a", 2048), "s"); !errors.Is(err, lease.ErrInvalid) {
		t.Errorf("List with a too long app name = %v, want ErrInvalid", err)
	}
}

func TestCreateTableIdempotent(t *testing.T) {
	client := newClient(t)
	ctx := t.Context()
	table := leasetest.UniqueName("kinesin-create")
	for i := range 3 {
		if err := ddblease.CreateTable(ctx, client, table); err != nil {
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
}

func TestCreateTableWrongSchema(t *testing.T) {
	client := newClient(t)
	ctx := t.Context()
	table := leasetest.UniqueName("kinesin-wrong")
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = ddblease.CreateTable(ctx, client, table)
	if err == nil || !strings.Contains(err.Error(), "namespace") || !strings.Contains(err.Error(), table) {
		t.Errorf("CreateTable over a table with other keys = %v, want an error naming the table and the keys", err)
	}
}

// TestItemLayout checks the items of a lease and a worker against the schema
// of the package doc.
func TestItemLayout(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	store := ddblease.New(client, table)
	ctx := t.Context()
	const app, stream = "billing", "orders/eu"
	seq := "49590338271490256608559692538361571095921575989136588898"
	if err := store.Create(ctx, app, stream, lease.Lease{Shard: "shardId-000000000005", Parents: []string{"shardId-000000000002", "shardId-000000000001"}}); err != nil {
		t.Fatal(err)
	}
	ls, _, err := store.List(ctx, app, stream)
	if err != nil {
		t.Fatal(err)
	}
	h, err := store.Take(ctx, app, stream, ls[0], "worker-a")
	if err != nil {
		t.Fatal(err)
	}
	if h, err = store.Checkpoint(ctx, app, stream, h, checkpoint.AtSub(seq, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err = store.RequestHandoff(ctx, app, stream, h, "worker-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Heartbeat(ctx, app, stream, "worker-a"); err != nil {
		t.Fatal(err)
	}
	get := func(sk string) map[string]types.AttributeValue {
		t.Helper()
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(table),
			ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{
				"namespace": &types.AttributeValueMemberS{Value: "7:billing/orders/eu"},
				"shard_id":  &types.AttributeValueMemberS{Value: sk},
			},
		})
		if err != nil || out.Item == nil {
			t.Fatalf("GetItem %s: %v, %v", sk, out, err)
		}
		return out.Item
	}
	s := func(item map[string]types.AttributeValue, name string) string {
		switch v := item[name].(type) {
		case *types.AttributeValueMemberS:
			return v.Value
		case *types.AttributeValueMemberN:
			return "N:" + v.Value
		case *types.AttributeValueMemberBOOL:
			if v.Value {
				return "true"
			}
			return "false"
		case *types.AttributeValueMemberL:
			var parts []string
			for _, e := range v.Value {
				parts = append(parts, e.(*types.AttributeValueMemberS).Value)
			}
			return "L:" + strings.Join(parts, ",")
		case nil:
			return "<absent>"
		}
		return "?"
	}
	item := get("shardId-000000000005")
	for name, want := range map[string]string{
		"owner":           "worker-a",
		"counter":         "N:2",
		"next_owner":      "worker-b",
		"parents":         "L:shardId-000000000002,shardId-000000000001",
		"seq_key":         checkpoint.OrderKey(checkpoint.AtSub(seq, 3)),
		"sequence_number": seq,
		"sub_seq":         "N:3",
		"partial":         "true",
		"shard_end":       "false",
	} {
		if got := s(item, name); got != want {
			t.Errorf("lease attribute %s = %q, want %q", name, got, want)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, s(item, "updated_at")); err != nil {
		t.Errorf("updated_at: %v", err)
	}
	w := get("worker#worker-a")
	if s(w, "worker_id") != "worker-a" || s(w, "counter") != "N:1" {
		t.Errorf("worker row %v", w)
	}
}
