package dynamodb_test

import (
	"maps"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	ddbstore "github.com/kinesin-go/kinesin/checkpoint/dynamodb"
	"github.com/kinesin-go/kinesin/internal/dynamo/dynamotest"
)

// TestConsumer runs the consumer of package kinesin on the store (see
// checkpointtest.RunConsumerTests): a restart, with a new client of the same
// table, resumes after what the store kept, and an outage of the store
// loses no commit.
func TestConsumer(t *testing.T) {
	table := newTable(t, dynamotest.NewClient(t))
	checkpointtest.RunConsumerTests(t, func(t *testing.T) checkpoint.Store {
		return ddbstore.New(dynamotest.NewClient(t), table)
	})
}

// TestOutageLosesNoCommit fails every write of the table for a while, then
// lets them through (see checkpointtest.OutageLosesNoCommit): the store
// retries, then returns the SDK's error, and the consumer writes its newest
// positions once the table answers.
func TestOutageLosesNoCommit(t *testing.T) {
	client := dynamotest.NewClient(t)
	api := dynamotest.NewFaulty(client)
	store := ddbstore.New(api, newTable(t, client), ddbstore.MaxRetryTime(50*time.Millisecond))
	outage := &types.InternalServerError{Message: aws.String("injected outage")}
	var before int
	checkpointtest.OutageLosesNoCommit[*types.InternalServerError](t, checkpointtest.Outage{
		Store: store,
		Begin: func(*testing.T) {
			api.FailEvery("UpdateItem", outage)
			before = api.Count("UpdateItem")
		},
		During: func(t *testing.T, app, stream string, kept map[string]checkpoint.Checkpoint) {
			if n := api.Count("UpdateItem"); n < before+3 {
				t.Errorf("%d UpdateItem calls during the outage, want one at least per failed save", n-before)
			}
			if got, err := store.Load(t.Context(), app, stream); err != nil || !maps.Equal(got, kept) {
				t.Fatalf("the store holds %v (%v) during the outage, want %v", got, err, kept)
			}
		},
		End: func(*testing.T) { api.FailEvery("UpdateItem", nil) },
	})
}
