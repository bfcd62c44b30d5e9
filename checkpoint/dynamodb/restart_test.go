package dynamodb_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	ddbstore "github.com/kinesin-go/kinesin/checkpoint/dynamodb"
	"github.com/kinesin-go/kinesin/internal/dynamo/dynamotest"
	"github.com/kinesin-go/kinesin/internal/storetest"
)

// These tests run the consumer of package kinesin on the store: a restart
// resumes after what the store kept, and an outage of the store loses no
// commit.

// TestRestartResumesAfterCheckpoint restarts a consumer, with a new client of
// the same table: see storetest.RestartResumesAfterCheckpoint.
func TestRestartResumesAfterCheckpoint(t *testing.T) {
	table := newTable(t, dynamotest.NewClient(t))
	storetest.RestartResumesAfterCheckpoint(t, func(t *testing.T) checkpoint.Store {
		return ddbstore.New(dynamotest.NewClient(t), table)
	})
}

// TestOutageLosesNoCommit fails every write for a while, then lets them
// through (see storetest.OutageLosesNoCommit): the consumer writes its newest
// positions once the table answers.
func TestOutageLosesNoCommit(t *testing.T) {
	client := dynamotest.NewClient(t)
	api := dynamotest.NewFaulty(client)
	store := ddbstore.New(api, newTable(t, client), ddbstore.MaxRetryTime(50*time.Millisecond))
	outage := &types.InternalServerError{Message: aws.String("injected outage")}
	var before int
	storetest.OutageLosesNoCommit[*types.InternalServerError](t, storetest.Outage{
		Store: store,
		Begin: func(*testing.T) {
			api.FailEvery("UpdateItem", outage)
			before = api.Count("UpdateItem")
		},
		During: func(t *testing.T, app string, kept map[string]checkpoint.Checkpoint) {
			storetest.Eventually(t, 10*time.Second, func() bool { return api.Count("UpdateItem") >= before+6 }, "failed writes during the outage")
			if !storetest.Holds(t, store, app, kept) {
				t.Fatal("the store moved during the outage")
			}
		},
		End: func(*testing.T) { api.FailEvery("UpdateItem", nil) },
	})
}
