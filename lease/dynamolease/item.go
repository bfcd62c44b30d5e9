package dynamolease

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesin-go/kinesin/internal/dynamo"
	"github.com/kinesin-go/kinesin/lease"
)

// Attribute names of an item. Those of the key and of the checkpoint are
// the ones internal/dynamo writes and reads, as in a checkpoint table.
const (
	attrNamespace = dynamo.AttrNamespace
	attrShardID   = dynamo.AttrShardID
	attrOwner     = "owner"
	attrCounter   = "counter"
	attrNextOwner = "next_owner"
	attrParents   = "parents"
	attrSeqKey    = dynamo.AttrSeqKey
	attrWorkerID  = "worker_id"
	attrUpdatedAt = dynamo.AttrUpdatedAt
)

// WorkerPrefix begins the sort key of every worker row: "worker#" and the
// worker id. Kinesis shard ids (shardId-...) never begin with it; a lease
// for a shard id that does is refused.
const WorkerPrefix = "worker#"

// namespaceKey returns the partition key of (app, stream),
// storekey.Namespace: the byte length of app in decimal, ':', app, '/',
// stream. Its errors wrap lease.ErrInvalid.
func namespaceKey(app, stream string) (string, error) {
	ns, err := dynamo.NamespaceKey(app, stream)
	if err != nil {
		return "", fmt.Errorf("%w: %w", lease.ErrInvalid, err)
	}
	return ns, nil
}

// checkShard reports whether id can be the sort key of a lease.
func checkShard(id string) error {
	if err := lease.CheckShardID(id); err != nil {
		return err
	}
	switch {
	case len(id) > dynamo.MaxSortKey:
		return fmt.Errorf("%w: shard id has %d bytes, DynamoDB takes at most %d", lease.ErrInvalid, len(id), dynamo.MaxSortKey)
	case strings.HasPrefix(id, WorkerPrefix):
		return fmt.Errorf("%w: shard id %q begins with %q, the prefix of worker rows", lease.ErrInvalid, id, WorkerPrefix)
	}
	return nil
}

// checkWorker reports whether id can name a worker row.
func checkWorker(id string) error {
	if err := lease.CheckWorkerID(id); err != nil {
		return err
	}
	if len(WorkerPrefix)+len(id) > dynamo.MaxSortKey {
		return fmt.Errorf("%w: worker id has %d bytes, at most %d fit in a sort key", lease.ErrInvalid, len(id), dynamo.MaxSortKey-len(WorkerPrefix))
	}
	return nil
}

func str(v string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: v} }

func num(n uint64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}

func key(ns, sortKey string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrNamespace: str(ns), attrShardID: str(sortKey)}
}

func parentsValue(parents []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(parents))
	for i, p := range parents {
		l[i] = str(p)
	}
	return &types.AttributeValueMemberL{Value: l}
}

// decodeCounter reads the counter of an item.
func decodeCounter(item map[string]types.AttributeValue) (uint64, error) {
	n, ok := item[attrCounter].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("no number %s", attrCounter)
	}
	c, err := strconv.ParseUint(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %v", attrCounter, n.Value, err)
	}
	return c, nil
}

func optString(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// decodeLease reads a lease item.
func decodeLease(item map[string]types.AttributeValue) (lease.Lease, error) {
	shard, ok := item[attrShardID].(*types.AttributeValueMemberS)
	if !ok {
		return lease.Lease{}, fmt.Errorf("an item has no string %s", attrShardID)
	}
	bad := func(format string, args ...any) (lease.Lease, error) {
		return lease.Lease{}, fmt.Errorf("lease %s: malformed item: "+format, append([]any{shard.Value}, args...)...)
	}
	l := lease.Lease{Shard: shard.Value, Owner: optString(item, attrOwner), NextOwner: optString(item, attrNextOwner)}
	c, err := decodeCounter(item)
	if err != nil {
		return bad("%v", err)
	}
	l.Counter = c
	if ps, ok := item[attrParents].(*types.AttributeValueMemberL); ok {
		for _, p := range ps.Value {
			s, ok := p.(*types.AttributeValueMemberS)
			if !ok {
				return bad("%s holds a value that is not a string", attrParents)
			}
			l.Parents = append(l.Parents, s.Value)
		}
	}
	cp, ok, err := dynamo.DecodeCheckpoint(item)
	switch {
	case err != nil:
		return bad("%v", err)
	case ok:
		l.Checkpoint = cp
	}
	return l, nil
}

// decodeWorker reads a worker row.
func decodeWorker(item map[string]types.AttributeValue) (lease.Worker, error) {
	sk := optString(item, attrShardID)
	id, ok := strings.CutPrefix(sk, WorkerPrefix)
	if !ok {
		return lease.Worker{}, fmt.Errorf("item %q is not a worker row", sk)
	}
	c, err := decodeCounter(item)
	if err != nil {
		return lease.Worker{}, fmt.Errorf("worker %s: malformed item: %v", id, err)
	}
	return lease.Worker{ID: id, Counter: c}, nil
}

// sortLeases sorts leases by shard id, as List promises.
func sortLeases(ls []lease.Lease) {
	slices.SortFunc(ls, func(a, b lease.Lease) int { return strings.Compare(a.Shard, b.Shard) })
}
