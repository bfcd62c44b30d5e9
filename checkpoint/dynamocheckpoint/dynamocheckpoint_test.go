package dynamocheckpoint_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/checkpoint/dynamocheckpoint"
	"github.com/kinesin-go/kinesin/internal/dynamo/dynamotest"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// createTable is CreateTable on client, for the helpers of package dynamotest.
func createTable(client *dynamodb.Client) func(context.Context, string) error {
	return func(ctx context.Context, table string) error { return dynamocheckpoint.CreateTable(ctx, client, table) }
}

// newTable creates a checkpoint table of a name never used before.
func newTable(t *testing.T, client *dynamodb.Client) string {
	t.Helper()
	return dynamotest.NewTable(t, "kinesin-checkpoints", createTable(client))
}

type harness struct{ store *dynamocheckpoint.Store }

func (h harness) Store() checkpoint.Store { return h.store }
func (h harness) Names() (app, stream string) {
	return checkpointtest.UniqueName("app"), checkpointtest.UniqueName("stream")
}
func (h harness) Close() {}

// TestConformance runs the store suite against dynalite, in a table made for
// this run.
func TestConformance(t *testing.T) {
	client := dynamotest.NewClient(t)
	table := newTable(t, client)
	store := dynamocheckpoint.New(client, table)
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{store}
	})
}

// TestConformanceSerial runs the suite with one write at a time.
func TestConformanceSerial(t *testing.T) {
	client := dynamotest.NewClient(t)
	table := newTable(t, client)
	store := dynamocheckpoint.New(client, table, dynamocheckpoint.WithConcurrency(1))
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{store}
	})
}

func TestThrottlingRetried(t *testing.T) {
	client := dynamotest.NewClient(t)
	table := newTable(t, client)
	api := dynamotest.NewFaulty(client)
	store := dynamocheckpoint.New(api, table)
	ctx := t.Context()

	api.FailNext("UpdateItem", dynamotest.Throttled(), dynamotest.Throttled())
	if err := store.Save(ctx, "app", "stream", map[string]checkpoint.Checkpoint{"s": checkpoint.At("10")}); err != nil {
		t.Fatalf("Save throttled twice: %v, want success after retries", err)
	}
	if got := api.Count("UpdateItem"); got != 3 {
		t.Errorf("UpdateItem calls = %d, want 3 (two throttled, one through)", got)
	}

	api.FailNext("Query", dynamotest.Throttled(), &types.RequestLimitExceeded{Message: aws.String("injected")}, &types.InternalServerError{Message: aws.String("injected")})
	got, err := store.Load(ctx, "app", "stream")
	if err != nil || got["s"] != checkpoint.At("10") {
		t.Fatalf("Load throttled three times = %v, %v; want s=10", got, err)
	}
	if got := api.Count("Query"); got != 4 {
		t.Errorf("Query calls = %d, want 4", got)
	}
}

func TestRetriesGiveUp(t *testing.T) {
	client := dynamotest.NewClient(t)
	table := newTable(t, client)
	api := dynamotest.NewFaulty(client)
	api.FailEvery("UpdateItem", dynamotest.Throttled())
	store := dynamocheckpoint.New(api, table, dynamocheckpoint.WithMaxRetryTime(300*time.Millisecond))

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
	if n := api.Count("UpdateItem"); n < 3 {
		t.Errorf("UpdateItem calls = %d, want several attempts", n)
	}
	if elapsed > 5*time.Second {
		t.Errorf("Save gave up after %v, want about 300ms", elapsed)
	}
	t.Logf("gave up after %d calls in %v: %v", api.Count("UpdateItem"), elapsed.Round(time.Millisecond), err)

	// Without retries, one call.
	api2 := dynamotest.NewFaulty(client)
	api2.FailEvery("UpdateItem", dynamotest.Throttled())
	store = dynamocheckpoint.New(api2, table, dynamocheckpoint.WithMaxRetryTime(0))
	if err := store.Save(t.Context(), "app", "stream", map[string]checkpoint.Checkpoint{"s": checkpoint.At("10")}); !errors.As(err, &pte) {
		t.Errorf("Save = %v, want the throttling error", err)
	}
	if n := api2.Count("UpdateItem"); n != 1 {
		t.Errorf("UpdateItem calls with WithMaxRetryTime(0) = %d, want 1", n)
	}
}

func TestContextEndsRetries(t *testing.T) {
	client := dynamotest.NewClient(t)
	table := newTable(t, client)
	api := dynamotest.NewFaulty(client)
	api.FailEvery("Query", dynamotest.Throttled())
	store := dynamocheckpoint.New(api, table, dynamocheckpoint.WithMaxRetryTime(time.Hour))

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
	client := dynamotest.NewClient(t)
	api := dynamotest.NewFaulty(client)
	store := dynamocheckpoint.New(api, checkpointtest.UniqueName("no-such-table"))
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
	if got := api.Count("UpdateItem") + api.Count("Query"); got != 2 {
		t.Errorf("%d calls, want 2: no retry of a non-retryable error", got)
	}

	// A failing shard among many: the error names it.
	table := newTable(t, client)
	api = dynamotest.NewFaulty(client)
	store = dynamocheckpoint.New(api, table)
	api.FailNext("UpdateItem", &types.ItemCollectionSizeLimitExceededException{Message: aws.String("injected")})
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
	for name, s := range map[string]*dynamocheckpoint.Store{
		"nil store":   nil,
		"nil client":  dynamocheckpoint.New(nil, "t"),
		"empty table": dynamocheckpoint.New(dynamotest.NewFaulty(nil), ""),
	} {
		if err := s.Save(ctx, "a", "s", cps); err == nil {
			t.Errorf("%s: Save succeeded", name)
		}
		if _, err := s.Load(ctx, "a", "s"); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
	if err := dynamocheckpoint.CreateTable(ctx, nil, "t"); err == nil {
		t.Error("CreateTable with a nil client succeeded")
	}
}

func TestCreateTableIdempotent(t *testing.T) {
	client := dynamotest.NewClient(t)
	table := dynamotest.CreateTableIdempotent(t, client, createTable(client))
	// The table works.
	store := dynamocheckpoint.New(client, table)
	if err := store.Save(t.Context(), "a", "s", map[string]checkpoint.Checkpoint{"x": checkpoint.At("1")}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateTableWrongSchema(t *testing.T) {
	client := dynamotest.NewClient(t)
	dynamotest.CreateTableWrongSchema(t, client, createTable(client))
}

// TestItemLayout checks the item of a checkpoint against the schema of the
// package doc.
func TestItemLayout(t *testing.T) {
	client := dynamotest.NewClient(t)
	table := newTable(t, client)
	store := dynamocheckpoint.New(client, table)
	ctx := t.Context()
	seq := "49590338271490256608559692538361571095921575989136588898"
	if err := store.Save(ctx, "billing", "orders/eu", map[string]checkpoint.Checkpoint{
		"shardId-000000000001": checkpoint.AtSub(seq, 3),
		"shardId-000000000002": checkpoint.Ended(),
		"shardId-000000000003": checkpoint.StartAt(time.Date(2026, 12, 7, 1, 2, 3, 4, time.UTC)),
	}); err != nil {
		t.Fatal(err)
	}
	get := func(shard string) map[string]types.AttributeValue {
		t.Helper()
		return dynamotest.GetItem(t, client, table, "7:billing/orders/eu", shard)
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
		"seq_key":         "S:1" + z + seq + "0" + strings.Repeat("0", 18) + "3",
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
		"seq_key":         "S:2" + strings.Repeat("0", 149),
		"sequence_number": "absent",
		"shard_end":       "BOOL:true",
		"start_time":      "absent",
	} {
		if got := str(item, name); got != want {
			t.Errorf("ended item: %s = %s, want %s", name, got, want)
		}
	}
	item = get("shardId-000000000003")
	for name, want := range map[string]string{
		"seq_key":         "S:0" + "1796605323000000004" + strings.Repeat("0", 130),
		"sequence_number": "absent",
		"shard_end":       "BOOL:false",
		"start_time":      "S:2026-12-07T01:02:03.000000004Z",
	} {
		if got := str(item, name); got != want {
			t.Errorf("start item: %s = %s, want %s", name, got, want)
		}
	}
}

// TestLongSequencesInCondition checks, item by item, that the condition of
// DynamoDB orders 129-digit sequence numbers as integers.
func TestLongSequencesInCondition(t *testing.T) {
	client := dynamotest.NewClient(t)
	table := newTable(t, client)
	store := dynamocheckpoint.New(client, table)
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
	client := dynamotest.NewClient(t)
	table := newTable(t, client)
	api := dynamotest.NewFaulty(client)
	api.PageLimit = 7
	store := dynamocheckpoint.New(api, table, dynamocheckpoint.WithConcurrency(4))
	ctx := t.Context()
	want := map[string]checkpoint.Checkpoint{}
	for i := range 50 {
		want[fmt.Sprintf("shardId-%012d", i)] = checkpoint.At(fmt.Sprint(1000 + i))
	}
	if err := store.Save(ctx, "app", "stream", want); err != nil {
		t.Fatal(err)
	}
	if got := api.MaxInFlight(); got > 4 || got < 2 {
		t.Errorf("at most %d UpdateItem calls in flight, want 2 to 4 with WithConcurrency(4)", got)
	}
	// A throttled page in the middle is retried without losing the place.
	api.FailNext("Query", nil, nil, dynamotest.Throttled())
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
	if n := api.Count("Query"); n < 9 {
		t.Errorf("Query calls = %d, want at least 9: 8 pages of 7 and a retry", n)
	}
}

func TestLoadRejectsMalformedItem(t *testing.T) {
	client := dynamotest.NewClient(t)
	table := newTable(t, client)
	store := dynamocheckpoint.New(client, table)
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
