package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
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
	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	ddbstore "github.com/kinesin-go/kinesin/checkpoint/dynamodb"
	"github.com/kinesin-go/kinesin/internal/testenv"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

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

// newTable creates a checkpoint table of a name never used before.
func newTable(t *testing.T, client *dynamodb.Client) string {
	t.Helper()
	table := checkpointtest.UniqueName("kinesin-checkpoints")
	if err := ddbstore.CreateTable(t.Context(), client, table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return table
}

type harness struct{ store *ddbstore.Store }

func (h harness) Store() checkpoint.Store { return h.store }
func (h harness) Names() (app, stream string) {
	return checkpointtest.UniqueName("app"), checkpointtest.UniqueName("stream")
}
func (h harness) Close() {}

// TestConformance runs the store suite against dynalite, in a table made for
// this run.
func TestConformance(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	store := ddbstore.New(client, table)
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{store}
	})
}

// TestConformanceSerial runs the suite with one write at a time.
func TestConformanceSerial(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	store := ddbstore.New(client, table, ddbstore.Concurrency(1))
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{store}
	})
}

// faultyAPI wraps a client: it fails the next calls of an operation with
// scripted errors, counts calls, and may shrink Query pages.
type faultyAPI struct {
	ddbstore.API
	mu        sync.Mutex
	fail      map[string][]error // by operation: errors of the next calls
	failAll   map[string]error   // by operation: error of every call
	calls     map[string]int
	pageLimit int32
	inFlight  atomic.Int32
	maxFlight atomic.Int32
}

func newFaulty(api ddbstore.API) *faultyAPI {
	return &faultyAPI{API: api, fail: map[string][]error{}, failAll: map[string]error{}, calls: map[string]int{}}
}

func (f *faultyAPI) failNext(op string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = append(f.fail[op], errs...)
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

// call records a call of op and returns the error it must fail with.
func (f *faultyAPI) call(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if err := f.failAll[op]; err != nil {
		return err
	}
	if errs := f.fail[op]; len(errs) > 0 {
		f.fail[op] = errs[1:]
		return errs[0]
	}
	return nil
}

func (f *faultyAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxFlight.Load()
		if n <= m || f.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if err := f.call("UpdateItem"); err != nil {
		return nil, err
	}
	return f.API.UpdateItem(ctx, in, optFns...)
}

func (f *faultyAPI) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if err := f.call("Query"); err != nil {
		return nil, err
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

func TestThrottlingRetried(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	api := newFaulty(client)
	store := ddbstore.New(api, table)
	ctx := t.Context()

	api.failNext("UpdateItem", throttled(), throttled())
	if err := store.Save(ctx, "app", "stream", map[string]checkpoint.Checkpoint{"s": checkpoint.At("10")}); err != nil {
		t.Fatalf("Save throttled twice: %v, want success after retries", err)
	}
	if got := api.count("UpdateItem"); got != 3 {
		t.Errorf("UpdateItem calls = %d, want 3 (two throttled, one through)", got)
	}

	api.failNext("Query", throttled(), &types.RequestLimitExceeded{Message: aws.String("injected")}, &types.InternalServerError{Message: aws.String("injected")})
	got, err := store.Load(ctx, "app", "stream")
	if err != nil || got["s"] != checkpoint.At("10") {
		t.Fatalf("Load throttled three times = %v, %v; want s=10", got, err)
	}
	if got := api.count("Query"); got != 4 {
		t.Errorf("Query calls = %d, want 4", got)
	}
}

func TestRetriesGiveUp(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	api := newFaulty(client)
	api.failEvery("UpdateItem", throttled())
	store := ddbstore.New(api, table, ddbstore.MaxRetryTime(300*time.Millisecond))

	start := time.Now()
	err := store.Save(t.Context(), "app", "stream", map[string]checkpoint.Checkpoint{"shard-7": checkpoint.At("10")})
	elapsed := time.Since(start)
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) {
		t.Fatalf("Save throttled forever = %v, want an error wrapping *types.ProvisionedThroughputExceededException", err)
	}
	for _, want := range []string{"app/stream", "shard-7", table} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if n := api.count("UpdateItem"); n < 3 {
		t.Errorf("UpdateItem calls = %d, want several attempts", n)
	}
	if elapsed > 5*time.Second {
		t.Errorf("Save gave up after %v, want about 300ms", elapsed)
	}
	t.Logf("gave up after %d calls in %v: %v", api.count("UpdateItem"), elapsed.Round(time.Millisecond), err)

	// Without retries, one call.
	api2 := newFaulty(client)
	api2.failEvery("UpdateItem", throttled())
	store = ddbstore.New(api2, table, ddbstore.MaxRetryTime(0))
	if err := store.Save(t.Context(), "app", "stream", map[string]checkpoint.Checkpoint{"s": checkpoint.At("10")}); !errors.As(err, &pte) {
		t.Errorf("Save = %v, want the throttling error", err)
	}
	if n := api2.count("UpdateItem"); n != 1 {
		t.Errorf("UpdateItem calls with MaxRetryTime(0) = %d, want 1", n)
	}
}

func TestContextEndsRetries(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	api := newFaulty(client)
	api.failEvery("Query", throttled())
	store := ddbstore.New(api, table, ddbstore.MaxRetryTime(time.Hour))

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := store.Load(ctx, "app", "stream")
	var pte *types.ProvisionedThroughputExceededException
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &pte) {
		t.Errorf("Load throttled until the deadline = %v, want an error wrapping the deadline and the last error", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Load returned after %v, want about 300ms", elapsed)
	}
}

func TestNonRetryableErrorSurfaces(t *testing.T) {
	client := newClient(t)
	api := newFaulty(client)
	store := ddbstore.New(api, checkpointtest.UniqueName("no-such-table"))
	ctx := t.Context()

	err := store.Save(ctx, "my-app", "my-stream", map[string]checkpoint.Checkpoint{"shardId-000000000003": checkpoint.At("10")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("Save to a missing table = %v, want an error wrapping *types.ResourceNotFoundException", err)
	}
	for _, want := range []string{"my-app/my-stream", "shardId-000000000003", "no-such-table"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Save error %q does not name %q", err, want)
		}
	}
	if _, err := store.Load(ctx, "my-app", "my-stream"); !errors.As(err, &nf) || !strings.Contains(err.Error(), "my-app/my-stream") {
		t.Errorf("Load from a missing table = %v, want a wrapped *types.ResourceNotFoundException naming my-app/my-stream", err)
	}
	if got := api.count("UpdateItem") + api.count("Query"); got != 2 {
		t.Errorf("%d calls, want 2: no retry of a non-retryable error", got)
	}

	// A failing shard among many: the error names it.
	table := newTable(t, client)
	api = newFaulty(client)
	store = ddbstore.New(api, table)
	api.failNext("UpdateItem", &types.ItemCollectionSizeLimitExceededException{Message: aws.String("injected")})
	cps := map[string]checkpoint.Checkpoint{}
	for i := range 20 {
		cps[fmt.Sprintf("shard-%02d", i)] = checkpoint.At("5")
	}
	err = store.Save(ctx, "app", "stream", cps)
	var big *types.ItemCollectionSizeLimitExceededException
	if !errors.As(err, &big) || !strings.Contains(err.Error(), "shard shard-") {
		t.Errorf("Save = %v, want a wrapped *types.ItemCollectionSizeLimitExceededException naming a shard", err)
	}
	// Saving again is harmless and completes the state.
	if err := store.Save(ctx, "app", "stream", cps); err != nil {
		t.Fatal(err)
	}
	if got, err := store.Load(ctx, "app", "stream"); err != nil || len(got) != 20 {
		t.Errorf("Load = %d shards, %v; want 20", len(got), err)
	}
}

func TestUnusableStore(t *testing.T) {
	ctx := t.Context()
	cps := map[string]checkpoint.Checkpoint{"s": checkpoint.At("1")}
	for name, s := range map[string]*ddbstore.Store{
		"nil store":   nil,
		"nil client":  ddbstore.New(nil, "t"),
		"empty table": ddbstore.New(newFaulty(nil), ""),
	} {
		if err := s.Save(ctx, "a", "s", cps); err == nil {
			t.Errorf("%s: Save succeeded", name)
		}
		if _, err := s.Load(ctx, "a", "s"); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
	if err := ddbstore.CreateTable(ctx, nil, "t"); err == nil {
		t.Error("CreateTable with a nil client succeeded")
	}
}

func TestCreateTableIdempotent(t *testing.T) {
	client := newClient(t)
	ctx := t.Context()
	table := checkpointtest.UniqueName("kinesin-create")
	for i := range 3 {
		if err := ddbstore.CreateTable(ctx, client, table); err != nil {
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
	// The table works.
	store := ddbstore.New(client, table)
	if err := store.Save(ctx, "a", "s", map[string]checkpoint.Checkpoint{"x": checkpoint.At("1")}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateTableWrongSchema(t *testing.T) {
	client := newClient(t)
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
	err = ddbstore.CreateTable(ctx, client, table)
	if err == nil || !strings.Contains(err.Error(), "namespace") || !strings.Contains(err.Error(), table) {
		t.Errorf("CreateTable over a table with other keys = %v, want an error naming the table and the keys", err)
	}
}

// TestItemLayout checks the item of a checkpoint against the schema of the
// package doc.
func TestItemLayout(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	store := ddbstore.New(client, table)
	ctx := t.Context()
	seq := "49590338271490256608559692538361571095921575989136588898"
	if err := store.Save(ctx, "billing", "orders/eu", map[string]checkpoint.Checkpoint{
		"shardId-000000000001": checkpoint.AtSub(seq, 3),
		"shardId-000000000002": checkpoint.Ended(),
	}); err != nil {
		t.Fatal(err)
	}
	get := func(shard string) map[string]types.AttributeValue {
		t.Helper()
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(table),
			ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{
				"namespace": &types.AttributeValueMemberS{Value: "7:billing/orders/eu"},
				"shard_id":  &types.AttributeValueMemberS{Value: shard},
			},
		})
		if err != nil || out.Item == nil {
			t.Fatalf("GetItem %s: %v, %v", shard, out, err)
		}
		return out.Item
	}
	str := func(item map[string]types.AttributeValue, name string) string {
		switch v := item[name].(type) {
		case *types.AttributeValueMemberS:
			return "S:" + v.Value
		case *types.AttributeValueMemberN:
			return "N:" + v.Value
		case *types.AttributeValueMemberBOOL:
			return fmt.Sprintf("BOOL:%v", v.Value)
		case nil:
			return "absent"
		default:
			return fmt.Sprintf("%T", v)
		}
	}
	z := strings.Repeat("0", 73)
	item := get("shardId-000000000001")
	for name, want := range map[string]string{
		"seq_key":         "S:0" + z + seq + "0" + strings.Repeat("0", 18) + "3",
		"sequence_number": "S:" + seq,
		"sub_seq":         "N:3",
		"partial":         "BOOL:true",
		"shard_end":       "BOOL:false",
	} {
		if got := str(item, name); got != want {
			t.Errorf("partial item: %s = %s, want %s", name, got, want)
		}
	}
	at, ok := item["updated_at"].(*types.AttributeValueMemberS)
	if ts, err := time.Parse(time.RFC3339Nano, aws.ToString(&at.Value)); !ok || err != nil || time.Since(ts) > time.Minute {
		t.Errorf("updated_at = %v, want a recent RFC 3339 time", item["updated_at"])
	}
	item = get("shardId-000000000002")
	for name, want := range map[string]string{
		"seq_key":         "S:1" + strings.Repeat("0", 149),
		"sequence_number": "absent",
		"shard_end":       "BOOL:true",
	} {
		if got := str(item, name); got != want {
			t.Errorf("ended item: %s = %s, want %s", name, got, want)
		}
	}
}

// TestLongSequencesInCondition checks, item by item, that the condition of
// DynamoDB orders 129-digit sequence numbers as integers.
func TestLongSequencesInCondition(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	store := ddbstore.New(client, table)
	ctx := t.Context()
	nines := strings.Repeat("9", 129)
	steps := []struct{ save, want checkpoint.Checkpoint }{
		{checkpoint.At(strings.Repeat("9", 128)), checkpoint.At(strings.Repeat("9", 128))},
		{checkpoint.At("1" + strings.Repeat("0", 128)), checkpoint.At("1" + strings.Repeat("0", 128))},
		{checkpoint.At(strings.Repeat("9", 128)), checkpoint.At("1" + strings.Repeat("0", 128))},
		{checkpoint.AtSub(nines, 5), checkpoint.AtSub(nines, 5)},
		{checkpoint.AtSub(nines, 4), checkpoint.AtSub(nines, 5)},
		{checkpoint.At(strings.Repeat("9", 128) + "8"), checkpoint.AtSub(nines, 5)},
		{checkpoint.At(nines), checkpoint.At(nines)},
		{checkpoint.AtSub(nines, 1<<63-1), checkpoint.At(nines)},
		{checkpoint.At("0" + nines), checkpoint.At(nines)}, // leading zero: equal
		{checkpoint.Ended(), checkpoint.Ended()},
		{checkpoint.At(nines), checkpoint.Ended()},
	}
	for i, st := range steps {
		if err := store.Save(ctx, "app", "stream", map[string]checkpoint.Checkpoint{"s": st.save}); err != nil {
			t.Fatalf("step %d: Save(%v): %v", i, st.save, err)
		}
		got, err := store.Load(ctx, "app", "stream")
		if err != nil {
			t.Fatal(err)
		}
		if got["s"] != st.want {
			t.Fatalf("step %d: after Save(%v), Load = %v, want %v", i, st.save, got["s"], st.want)
		}
	}
}

func TestLoadPaginates(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	api := newFaulty(client)
	api.pageLimit = 7
	store := ddbstore.New(api, table, ddbstore.Concurrency(4))
	ctx := t.Context()
	want := map[string]checkpoint.Checkpoint{}
	for i := range 50 {
		want[fmt.Sprintf("shardId-%012d", i)] = checkpoint.At(fmt.Sprint(1000 + i))
	}
	if err := store.Save(ctx, "app", "stream", want); err != nil {
		t.Fatal(err)
	}
	if got := api.maxFlight.Load(); got > 4 || got < 2 {
		t.Errorf("at most %d UpdateItem calls in flight, want 2 to 4 with Concurrency(4)", got)
	}
	// A throttled page in the middle is retried without losing the place.
	api.failNext("Query", nil, nil, throttled())
	got, err := store.Load(ctx, "app", "stream")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Load = %d shards, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("shard %s = %v, want %v", k, got[k], v)
		}
	}
	if n := api.count("Query"); n < 9 {
		t.Errorf("Query calls = %d, want at least 9: 8 pages of 7 and a retry", n)
	}
}

func TestLoadRejectsMalformedItem(t *testing.T) {
	client := newClient(t)
	table := newTable(t, client)
	store := ddbstore.New(client, table)
	ctx := t.Context()
	_, err := client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			"namespace":       &types.AttributeValueMemberS{Value: "3:app/stream"},
			"shard_id":        &types.AttributeValueMemberS{Value: "shard-9"},
			"sequence_number": &types.AttributeValueMemberS{Value: "12x"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Load(ctx, "app", "stream")
	if err == nil || !strings.Contains(err.Error(), "shard-9") {
		t.Errorf("Load of a malformed item = %v, want an error naming shard-9", err)
	}
}
