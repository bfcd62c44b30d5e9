package main

// The stream as the operator commands see it: its shards, its creation and
// the service's clock; and positions written as flags.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// shardInfo is a shard of the stream, as ListShards lists it.
type shardInfo struct {
	ID      string
	Parents []string // ParentShardId, then AdjacentParentShardId
	Closed  bool
}

// streamInfo is what the commands read of a stream.
type streamInfo struct {
	Name    string
	Created time.Time
	Shards  []shardInfo
	// Now is the service's clock when the shards were listed (its Date
	// header, truncated to the second), else this host's.
	Now time.Time
}

// serviceNow returns the time of a response's Date header, else local.
func serviceNow(md middleware.Metadata, local time.Time) time.Time {
	if t, ok := awsmiddleware.GetServerTime(md); ok && !t.IsZero() {
		return t.Truncate(time.Second)
	}
	return local
}

// describe reads the stream's creation time and lists its shards, open and
// closed.
func describe(ctx context.Context, kc *kinesis.Client, stream string) (*streamInfo, error) {
	sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, streamError(stream, err)
	}
	info := &streamInfo{Name: stream, Now: time.Now()}
	if d := sum.StreamDescriptionSummary; d != nil && d.StreamCreationTimestamp != nil {
		info.Created = *d.StreamCreationTimestamp
	}
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		local := time.Now()
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			return nil, streamError(stream, err)
		}
		info.Now = serviceNow(out.ResultMetadata, local)
		for _, s := range out.Shards {
			sh := shardInfo{ID: aws.ToString(s.ShardId)}
			for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
				if aws.ToString(p) != "" {
					sh.Parents = append(sh.Parents, *p)
				}
			}
			sh.Closed = s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil
			info.Shards = append(info.Shards, sh)
		}
		if out.NextToken == nil {
			return info, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// streamError names the stream in a Kinesis error, and says what a
// missing stream means.
func streamError(stream string, err error) error {
	var (
		nf *types.ResourceNotFoundException
		ne *net.OpError
	)
	switch {
	case errors.As(err, &nf):
		return fmt.Errorf("stream %s not found (check the name, --region and --endpoint): %w", stream, err)
	case errors.As(err, &ne):
		return fmt.Errorf("stream %s: cannot reach the Kinesis endpoint (--endpoint, --region): %w", stream, ne)
	}
	return fmt.Errorf("stream %s: %w", stream, err)
}

// selectShards returns the shards of info named by ids (all of them when
// ids is empty); an id the stream does not list is a usage error.
func selectShards(info *streamInfo, ids []string) ([]shardInfo, error) {
	if len(ids) == 0 {
		return info.Shards, nil
	}
	var out []shardInfo
	for _, id := range ids {
		i := indexShard(info.Shards, id)
		if i < 0 {
			return nil, usagef("--shards: the stream %s has no shard %q", info.Name, id)
		}
		out = append(out, info.Shards[i])
	}
	return out, nil
}

func indexShard(shards []shardInfo, id string) int {
	for i, s := range shards {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// shardList is a --shards flag: shard ids, comma-separated, repeatable.
type shardList []string

func (l *shardList) String() string { return strings.Join(*l, ",") }

func (l *shardList) Set(v string) error {
	for _, id := range strings.Split(v, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			return fmt.Errorf("want shard ids separated by commas, such as shardId-000000000000,shardId-000000000001")
		}
		*l = append(*l, id)
	}
	return nil
}

// parseTime reads a time flag: RFC 3339 (2026-12-07T10:00:00Z), or a
// negative duration meaning that long before now (-90m). ok is false when
// v is neither.
func parseTime(v string, now time.Time) (t time.Time, ok bool) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	if d, err := time.ParseDuration(v); err == nil && d < 0 {
		return now.Add(d), true
	}
	return time.Time{}, false
}

// timeHelp describes the times flags take.
const timeHelp = "a time in RFC 3339 (2026-12-07T10:00:00Z) or a negative duration from now (-90m)"

// isDecimal reports whether s is a decimal integer: a sequence number.
func isDecimal(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// iteratorAt returns GetShardIterator's input for reading the records after
// cp, the position a consumer resumes from.
func iteratorAt(stream, shard string, cp checkpoint.Checkpoint) *kinesis.GetShardIteratorInput {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard)}
	switch {
	case cp.IsStart():
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(cp.Timestamp)
	case cp.Partial:
		in.ShardIteratorType = types.ShardIteratorTypeAtSequenceNumber
		in.StartingSequenceNumber = aws.String(cp.SequenceNumber)
	default:
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(cp.SequenceNumber)
	}
	return in
}
