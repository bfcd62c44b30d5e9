package dynamolease_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/dynamo/dynamotest"
	"github.com/kinesin-go/kinesin/internal/storekey"
	"github.com/kinesin-go/kinesin/lease"
	"github.com/kinesin-go/kinesin/lease/dynamolease"
	"github.com/kinesin-go/kinesin/lease/leasetest"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// createTable is CreateTable on client, for the helpers of package dynamotest.
func createTable(client *dynamodb.Client) func(context.Context, string) error {
	return func(ctx context.Context, table string) error { return dynamolease.CreateTable(ctx, client, table) }
}

// newTable creates a lease table of a name never used before.
func newTable(t *testing.T, client *dynamodb.Client) string {
	t.Helper()
	return dynamotest.NewTable(t, "kinesin-leases", createTable(client))
}

type harness struct{ store *dynamolease.Store }

func (h harness) Store() lease.Store { return h.store }
func (h harness) Names() (string, string) {
	return leasetest.UniqueName("app"), leasetest.UniqueName("stream")
}
func (h harness) Close() {}

// TestConformance runs the store suite against dynalite, in a table made for
// this run.
func TestConformance(t *testing.T) {
	client := dynamotest.NewClient(t)
	store := dynamolease.New(client, newTable(t, client))
	leasetest.RunConformanceTests(t, func(*testing.T) leasetest.Harness { return harness{store} })
}

// TestConformanceSmallPages runs the suite with Query pages of 7 items, so
// that List goes through many pages.
func TestConformanceSmallPages(t *testing.T) {
	client := dynamotest.NewClient(t)
	api := dynamotest.NewFaulty(client)
	api.PageLimit = 7
	store := dynamolease.New(api, newTable(t, client))
	leasetest.RunConformanceTests(t, func(*testing.T) leasetest.Harness { return harness{store} })
	if api.Count("Query") < 10 {
		t.Errorf("%d Query calls, want many pages", api.Count("Query"))
	}
}

// TestConsumer runs the consumer of package kinesin with its shards leased
// from the store (see leasetest.RunConsumerTests): a restart, with a new
// client of the same table, resumes after the leases' checkpoints, and an
// outage of the store loses no commit.
func TestConsumer(t *testing.T) {
	table := newTable(t, dynamotest.NewClient(t))
	leasetest.RunConsumerTests(t, func(t *testing.T) lease.Store {
		return dynamolease.New(dynamotest.NewClient(t), table)
	})
}

func internal() error { return &types.InternalServerError{Message: aws.String("injected")} }

// setup returns a store on a fresh table through a faulty API, and a free
// lease "s" in (app, stream).
func setup(t *testing.T, opts ...dynamolease.Option) (*dynamolease.Store, *dynamotest.Faulty, lease.Lease) {
	t.Helper()
	client := dynamotest.NewClient(t)
	api := dynamotest.NewFaulty(client)
	store := dynamolease.New(api, newTable(t, client), opts...)
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
	api.FailNext("UpdateItem", dynamotest.Throttled(), internal())
	h, err := store.Take(ctx, "app", "stream", free, "w")
	if err != nil {
		t.Fatalf("Take throttled twice: %v, want success after retries", err)
	}
	if h.Owner != "w" || h.Counter != 1 {
		t.Errorf("Take = %v, want owner w, counter 1", h)
	}
	if got := api.Count("UpdateItem"); got != 3 {
		t.Errorf("UpdateItem calls = %d, want 3", got)
	}
	api.FailNext("Query", dynamotest.Throttled(), &types.RequestLimitExceeded{Message: aws.String("injected")})
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
	api.LoseAnswer("UpdateItem", internal())
	h, err := store.Take(ctx, "app", "stream", free, "w")
	if err != nil || h.Owner != "w" || h.Counter != 1 {
		t.Fatalf("Take whose first answer was lost = %v, %v; want success, counter 1", h, err)
	}
	api.LoseAnswer("UpdateItem", internal())
	h, err = store.Renew(ctx, "app", "stream", h)
	if err != nil || h.Counter != 2 {
		t.Fatalf("Renew whose first answer was lost = %v, %v; want counter 2", h, err)
	}
	api.LoseAnswer("UpdateItem", internal())
	h, err = store.Checkpoint(ctx, "app", "stream", h, checkpoint.At("77"))
	if err != nil || h.Counter != 3 || h.Checkpoint != checkpoint.At("77") {
		t.Fatalf("Checkpoint whose first answer was lost = %v, %v; want counter 3 at 77", h, err)
	}
	api.LoseAnswer("UpdateItem", internal())
	h, err = store.SetCheckpoint(ctx, "app", "stream", h, checkpoint.At("7"))
	if err != nil || h.Counter != 4 || h.Checkpoint != checkpoint.At("7") {
		t.Fatalf("SetCheckpoint whose first answer was lost = %v, %v; want counter 4 at 7", h, err)
	}
	api.LoseAnswer("UpdateItem", internal())
	h, err = store.SetCheckpoint(ctx, "app", "stream", h, checkpoint.Checkpoint{})
	if err != nil || h.Counter != 5 || h.HasCheckpoint() {
		t.Fatalf("SetCheckpoint(none) whose first answer was lost = %v, %v; want counter 5, no checkpoint", h, err)
	}
	api.LoseAnswer("UpdateItem", internal())
	h, err = store.Release(ctx, "app", "stream", h)
	if err != nil || h.Owner != "" || h.Counter != 6 {
		t.Fatalf("Release whose first answer was lost = %v, %v; want free, counter 6", h, err)
	}
	api.LoseAnswer("DeleteItem", internal())
	if err := store.Delete(ctx, "app", "stream", h); err != nil {
		t.Fatalf("Delete whose first answer was lost: %v", err)
	}
	// Without a retry, a failed condition is ErrLost, never success.
	if _, err := store.Renew(ctx, "app", "stream", lease.Lease{Shard: "s", Owner: "w", Counter: 3}); !errors.Is(err, lease.ErrLost) {
		t.Errorf("Renew of a deleted lease = %v, want ErrLost", err)
	}
}

func TestRetriesGiveUp(t *testing.T) {
	store, api, free := setup(t, dynamolease.WithMaxRetryTime(200*time.Millisecond))
	api.FailEvery("UpdateItem", dynamotest.Throttled())
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
	if n := api.Count("UpdateItem"); n < 2 {
		t.Errorf("%d UpdateItem calls, want several", n)
	}
}

func TestNonRetryableErrorSurfaces(t *testing.T) {
	client := dynamotest.NewClient(t)
	api := dynamotest.NewFaulty(client)
	store := dynamolease.New(api, leasetest.UniqueName("no-such-table"))
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
	if got := api.Count("Query") + api.Count("UpdateItem"); got != 2 {
		t.Errorf("%d calls, want 2: no retry of a non-retryable error", got)
	}
}

func TestUnusableStore(t *testing.T) {
	ctx := t.Context()
	for name, s := range map[string]*dynamolease.Store{
		"nil store":   nil,
		"nil client":  dynamolease.New(nil, "t"),
		"empty table": dynamolease.New(dynamotest.NewFaulty(nil), ""),
	} {
		if _, _, err := s.List(ctx, "a", "s"); err == nil {
			t.Errorf("%s: List succeeded", name)
		}
		if _, err := s.Heartbeat(ctx, "a", "s", "w"); err == nil {
			t.Errorf("%s: Heartbeat succeeded", name)
		}
	}
	if err := dynamolease.CreateTable(ctx, nil, "t"); err == nil {
		t.Error("CreateTable with a nil client succeeded")
	}
}

func TestKeyLimits(t *testing.T) {
	client := dynamotest.NewClient(t)
	store := dynamolease.New(client, newTable(t, client))
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
	client := dynamotest.NewClient(t)
	dynamotest.CreateTableIdempotent(t, client, createTable(client))
}

func TestCreateTableWrongSchema(t *testing.T) {
	client := dynamotest.NewClient(t)
	dynamotest.CreateTableWrongSchema(t, client, createTable(client))
}

// TestItemLayout checks the items of a lease and a worker against the schema
// of the package doc.
func TestItemLayout(t *testing.T) {
	client := dynamotest.NewClient(t)
	table := newTable(t, client)
	store := dynamolease.New(client, table)
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
		return dynamotest.GetItem(t, client, table, "7:billing/orders/eu", sk)
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
		"seq_key":         storekey.OrderKey(checkpoint.AtSub(seq, 3)),
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
