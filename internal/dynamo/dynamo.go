// Package dynamo holds what the DynamoDB stores of kinesin share: the stores
// of checkpoint/dynamocheckpoint and lease/dynamolease keep their items in tables of the
// same key schema (partition key namespace, sort key shard_id, both strings),
// store a checkpoint in the same attributes, and retry the same errors.
//
// It has CreateTable and the schema check, the retryable classification of
// DynamoDB errors and the backoff Retrier, the partition key of an (app,
// stream) pair, the attributes of a checkpoint, and the checks every call of
// a store starts with. Each store wraps the errors in its own words.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/storekey"
)

// Attribute names of the key, and of a checkpoint, in the tables of both
// stores.
const (
	AttrNamespace = "namespace"
	AttrShardID   = "shard_id"
	AttrSeqKey    = "seq_key"
	AttrSeq       = "sequence_number"
	AttrSubSeq    = "sub_seq"
	AttrPartial   = "partial"
	AttrShardEnd  = "shard_end"
	AttrStartTime = "start_time"
	AttrUpdatedAt = "updated_at"
)

// Limits of DynamoDB key attributes, in bytes of UTF-8.
const (
	MaxPartitionKey = 2048
	MaxSortKey      = 1024
)

// NamespaceKey returns the partition key of (app, stream),
// storekey.Namespace: the byte length of app in decimal, ':', app, '/',
// stream. The length makes the encoding unambiguous whatever the names hold:
// "3:a/b/c" is app "a/b" and stream "c", "1:a/b/c" is app "a" and stream
// "b/c". It fails when a name is not valid UTF-8 or the key is longer than
// DynamoDB takes.
func NamespaceKey(app, stream string) (string, error) {
	if !utf8.ValidString(app) || !utf8.ValidString(stream) {
		return "", errors.New("app and stream names must be valid UTF-8 to be stored in DynamoDB")
	}
	ns := storekey.Namespace(app, stream)
	if len(ns) > MaxPartitionKey {
		return "", fmt.Errorf("app and stream names are too long: their partition key %q... has %d bytes, DynamoDB takes at most %d",
			ns[:32], len(ns), MaxPartitionKey)
	}
	return ns, nil
}

// Ready reports why a store cannot make a call now, if it cannot: ctx is
// done, or New was given no client (noClient) or an empty table name.
func Ready(ctx context.Context, noClient bool, table string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case noClient:
		return errors.New("no DynamoDB client: New was given nil")
	case table == "":
		return errors.New("no table name: New was given an empty one")
	}
	return nil
}

// Configure returns o with opts applied in order, skipping nil ones.
func Configure[O any, F ~func(*O)](o O, opts []F) O {
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// CheckpointValues returns the attribute values of cp: the ordering key
// (storekey.OrderKey) and the readable fields; a sequence_number only for a
// position, a start_time (RFC 3339 in UTC, to the nanosecond) only for a start
// checkpoint or an end marker that has one.
func CheckpointValues(cp checkpoint.Checkpoint) map[string]types.AttributeValue {
	v := map[string]types.AttributeValue{
		AttrSeqKey:   &types.AttributeValueMemberS{Value: storekey.OrderKey(cp)},
		AttrSubSeq:   &types.AttributeValueMemberN{Value: strconv.FormatInt(cp.SubSequenceNumber, 10)},
		AttrPartial:  &types.AttributeValueMemberBOOL{Value: cp.Partial},
		AttrShardEnd: &types.AttributeValueMemberBOOL{Value: cp.ShardEnded},
	}
	if !cp.ShardEnded && cp.SequenceNumber != "" {
		v[AttrSeq] = &types.AttributeValueMemberS{Value: cp.SequenceNumber}
	}
	if !cp.Timestamp.IsZero() {
		v[AttrStartTime] = &types.AttributeValueMemberS{Value: cp.Timestamp.UTC().Format(time.RFC3339Nano)}
	}
	return v
}

// Forward is the condition that the stored checkpoint, if any, is below the
// one SetCheckpoint writes.
const Forward = "attribute_not_exists(#k) OR #k < :k"

// checkpointPlaceholders are the names, without # or :, SetCheckpoint gives
// the attributes of a checkpoint in its expression.
var checkpointPlaceholders = map[string]string{
	"k": AttrSeqKey, "seq": AttrSeq, "sub": AttrSubSeq, "partial": AttrPartial, "end": AttrShardEnd, "ts": AttrStartTime,
}

// SetCheckpoint returns the update expression of an UpdateItem storing cp,
// with the SET clauses of more (e.g. "#at = :at") after its own, and adds the
// placeholders it uses (#k, #seq, #sub, #partial, #end, #ts; :k, :seq, :sub,
// :partial, :end, :ts) to names and values. It removes the attributes cp has
// no value for (sequence_number, start_time).
func SetCheckpoint(cp checkpoint.Checkpoint, more string, names map[string]string, values map[string]types.AttributeValue) string {
	cv := CheckpointValues(cp)
	set := []string{"#k = :k", "#sub = :sub", "#partial = :partial", "#end = :end"}
	var remove []string
	for _, p := range []string{"seq", "ts"} {
		if _, ok := cv[checkpointPlaceholders[p]]; ok {
			set = append(set, "#"+p+" = :"+p)
		} else {
			remove = append(remove, "#"+p)
		}
	}
	for p, attr := range checkpointPlaceholders {
		names["#"+p] = attr
		if v, ok := cv[attr]; ok {
			values[":"+p] = v
		}
	}
	update := "SET " + strings.Join(set, ", ") + ", " + more
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	return update
}

// ClearCheckpoint returns the update expression of an UpdateItem removing
// every attribute of a checkpoint, with the SET clauses of more (e.g.
// "#at = :at") before, and adds the placeholders it uses (#k, #seq, #sub,
// #partial, #end, #ts) to names.
func ClearCheckpoint(more string, names map[string]string) string {
	remove := make([]string, 0, len(checkpointPlaceholders))
	for _, p := range []string{"k", "seq", "sub", "partial", "end", "ts"} {
		names["#"+p] = checkpointPlaceholders[p]
		remove = append(remove, "#"+p)
	}
	return "SET " + more + " REMOVE " + strings.Join(remove, ", ")
}

// DecodeCheckpoint reads the checkpoint of item, as CheckpointValues writes
// it; ok is false when the item holds none (no shard_end true, no
// sequence_number and no start_time). A malformed checkpoint is an error
// naming what is wrong.
func DecodeCheckpoint(item map[string]types.AttributeValue) (cp checkpoint.Checkpoint, ok bool, err error) {
	var ts time.Time
	if v, ok := item[AttrStartTime].(*types.AttributeValueMemberS); ok {
		if ts, err = time.Parse(time.RFC3339Nano, v.Value); err != nil {
			return checkpoint.Checkpoint{}, true, fmt.Errorf("%s %q: %v", AttrStartTime, v.Value, err)
		}
	}
	if end, ok := item[AttrShardEnd].(*types.AttributeValueMemberBOOL); ok && end.Value {
		return checkpoint.EndedFrom(ts), true, nil
	}
	seq, ok := item[AttrSeq].(*types.AttributeValueMemberS)
	switch {
	case !ok && ts.IsZero():
		return checkpoint.Checkpoint{}, false, nil
	case !ok:
		cp = checkpoint.StartAt(ts)
	default:
		cp = checkpoint.At(seq.Value)
	}
	if p, ok := item[AttrPartial].(*types.AttributeValueMemberBOOL); ok && p.Value {
		n, ok := item[AttrSubSeq].(*types.AttributeValueMemberN)
		if !ok {
			return checkpoint.Checkpoint{}, true, fmt.Errorf("partial without a number %s", AttrSubSeq)
		}
		sub, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return checkpoint.Checkpoint{}, true, fmt.Errorf("%s %q: %v", AttrSubSeq, n.Value, err)
		}
		cp = checkpoint.AtSub(cp.SequenceNumber, sub)
	}
	if err := cp.Validate(); err != nil {
		return checkpoint.Checkpoint{}, true, err
	}
	return cp, true, nil
}
