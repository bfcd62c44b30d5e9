package dynamocheckpoint

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/dynamo"
	"github.com/kinesin-go/kinesin/internal/storekey"
)

// AdminAPI is the part of *dynamodb.Client that the methods of
// checkpoint.Admin call besides API's: a client given to New that lacks
// them makes List and Delete fail with an error wrapping
// errors.ErrUnsupported. A *dynamodb.Client has them.
type AdminAPI interface {
	API
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ checkpoint.Admin = (*Store)(nil)

// admin returns the client as an AdminAPI, or an error naming what it
// lacks.
func (s *Store) admin() (AdminAPI, error) {
	a, ok := s.client.(AdminAPI)
	if !ok {
		return nil, fmt.Errorf("the client, a %T, has no DeleteItem and Scan methods: %w", s.client, errors.ErrUnsupported)
	}
	return a, nil
}

// List returns every (app, stream) pair holding at least one checkpoint,
// sorted by app, then stream. It reads the whole table with a Scan of the
// partition keys, page after page: use it for operators' tools, not in a
// hot path. An item whose partition key was not made by this package is
// skipped.
func (s *Store) List(ctx context.Context) ([]checkpoint.Group, error) {
	fail := func(err error) ([]checkpoint.Group, error) {
		return nil, fmt.Errorf("dynamodb: list the groups of table %s: %w", s.tableName(), err)
	}
	if err := dynamo.Ready(ctx, s == nil || s.client == nil, s.tableName()); err != nil {
		return fail(err)
	}
	client, err := s.admin()
	if err != nil {
		return fail(err)
	}
	items, err := dynamo.Items(ctx, s.opts.retry, dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{
		TableName:                aws.String(s.table),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#ns"),
		ExpressionAttributeNames: map[string]string{"#ns": attrNamespace},
	}), func(p *dynamodb.ScanOutput) []map[string]types.AttributeValue { return p.Items })
	if err != nil {
		return fail(err)
	}
	seen := map[checkpoint.Group]bool{}
	for _, item := range items {
		ns, ok := item[attrNamespace].(*types.AttributeValueMemberS)
		if !ok {
			continue
		}
		if app, stream, ok := storekey.ParseNamespace(ns.Value); ok {
			seen[checkpoint.Group{App: app, Stream: stream}] = true
		}
	}
	return slices.SortedFunc(maps.Keys(seen), checkpoint.CompareGroups), nil
}

// Set stores the given checkpoints whatever is stored, backwards too, with
// one UpdateItem per shard (no condition), Concurrency at a time. It checks
// every checkpoint and shard id first and writes nothing when one is
// invalid; once writing, it stops at the first shard that fails, the shards
// written until then staying written.
func (s *Store) Set(ctx context.Context, app, stream string, checkpoints map[string]checkpoint.Checkpoint) error {
	return s.writeAll(ctx, "set "+app+"/"+stream+" in", app, stream, checkpoints, false)
}

// Delete removes the checkpoints of shards, with one DeleteItem per shard,
// Concurrency at a time; a shard without one is skipped.
func (s *Store) Delete(ctx context.Context, app, stream string, shards []string) error {
	fail := func(err error) error {
		return fmt.Errorf("dynamodb: delete from %s/%s in table %s: %w", app, stream, s.tableName(), err)
	}
	ns, err := s.start(ctx, app, stream)
	if err != nil {
		return fail(err)
	}
	client, err := s.admin()
	if err != nil {
		return fail(err)
	}
	for _, shard := range shards {
		if err := checkShardID(shard); err != nil {
			return fail(fmt.Errorf("shard %s: %w", shard, err))
		}
	}
	err = s.each(ctx, slices.Compact(slices.Sorted(slices.Values(shards))), func(ctx context.Context, shard string) error {
		_, err := s.opts.retry.Do(ctx, func(ctx context.Context) error {
			_, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
				TableName: aws.String(s.table),
				Key: map[string]types.AttributeValue{
					attrNamespace: &types.AttributeValueMemberS{Value: ns},
					attrShardID:   &types.AttributeValueMemberS{Value: shard},
				},
			})
			return err
		})
		return err
	})
	if err != nil {
		return fail(err)
	}
	return nil
}
