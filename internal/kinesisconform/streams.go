package kinesisconform

// Cases about streams and their shard lists: create, describe, list, delete,
// addressing by ARN, capacity modes.

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func testDescribeStream(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	out, err := tg.Client.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String(s.name)})
	if err != nil {
		t.Fatalf("DescribeStream: %v", err)
	}
	d := out.StreamDescription
	if got := aws.ToString(d.StreamName); got != s.name {
		t.Errorf("StreamName %q, want %q", got, s.name)
	}
	region := tg.Client.Options().Region
	arnRE := regexp.MustCompile(`^arn:aws:kinesis:` + regexp.QuoteMeta(region) + `:\d{12}:stream/` + regexp.QuoteMeta(s.name) + `$`)
	if !arnRE.MatchString(aws.ToString(d.StreamARN)) {
		t.Errorf("StreamARN %q, want arn:aws:kinesis:%s:<account>:stream/%s", aws.ToString(d.StreamARN), region, s.name)
	}
	if d.StreamStatus != types.StreamStatusActive {
		t.Errorf("StreamStatus %s, want ACTIVE", d.StreamStatus)
	}
	if got := aws.ToInt32(d.RetentionPeriodHours); got != 24 {
		t.Errorf("RetentionPeriodHours %d, want the default 24", got)
	}
	if aws.ToBool(d.HasMoreShards) {
		t.Errorf("HasMoreShards true for a 2-shard stream")
	}
	if ts := aws.ToTime(d.StreamCreationTimestamp); time.Since(ts).Abs() > 10*time.Minute {
		t.Errorf("StreamCreationTimestamp %v, want about now", ts)
	}
	if got := sortedIDs(d.Shards); !slices.Equal(got, []string{shardID(0), shardID(1)}) {
		t.Fatalf("shards %v, want %s and %s", got, shardID(0), shardID(1))
	}
	for _, sh := range d.Shards {
		if sh.SequenceNumberRange == nil || sh.SequenceNumberRange.EndingSequenceNumber != nil {
			t.Errorf("shard %s: SequenceNumberRange %+v, want an open range", aws.ToString(sh.ShardId), sh.SequenceNumberRange)
			continue
		}
		bigOf(t, sh.SequenceNumberRange.StartingSequenceNumber, "StartingSequenceNumber")
		if sh.ParentShardId != nil || sh.AdjacentParentShardId != nil {
			t.Errorf("shard %s of a new stream has a parent", aws.ToString(sh.ShardId))
		}
	}
	checkCover(t, d.Shards)
}

func testDescribeStreamSummary(t *testing.T, tg *Target) {
	s := tg.newStream(t, 3)
	out, err := tg.Client.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(s.name)})
	if err != nil {
		t.Fatalf("DescribeStreamSummary: %v", err)
	}
	d := out.StreamDescriptionSummary
	if got := aws.ToString(d.StreamName); got != s.name {
		t.Errorf("StreamName %q, want %q", got, s.name)
	}
	if d.StreamStatus != types.StreamStatusActive {
		t.Errorf("StreamStatus %s, want ACTIVE", d.StreamStatus)
	}
	if got := aws.ToInt32(d.OpenShardCount); got != 3 {
		t.Errorf("OpenShardCount %d, want 3", got)
	}
	if got := aws.ToInt32(d.RetentionPeriodHours); got != 24 {
		t.Errorf("RetentionPeriodHours %d, want 24", got)
	}
	if d.StreamCreationTimestamp == nil {
		t.Errorf("no StreamCreationTimestamp")
	}
	full, err := tg.Client.DescribeStream(t.Context(), &kinesis.DescribeStreamInput{StreamName: aws.String(s.name)})
	if err != nil {
		t.Fatalf("DescribeStream: %v", err)
	}
	if a, b := aws.ToString(d.StreamARN), aws.ToString(full.StreamDescription.StreamARN); a == "" || a != b {
		t.Errorf("summary StreamARN %q, DescribeStream's %q: want the same ARN", a, b)
	}
}

// listStreamNames pages through ListStreams (by ExclusiveStartStreamName,
// which every implementation has) and reports whether name is listed.
func (tg *Target) streamListed(t *testing.T, name string) (bool, *types.StreamSummary) {
	t.Helper()
	in := &kinesis.ListStreamsInput{Limit: aws.Int32(100)}
	for page := 0; page < 1000; page++ {
		out, err := tg.Client.ListStreams(t.Context(), in)
		if err != nil {
			t.Fatalf("ListStreams: %v", err)
		}
		if slices.Contains(out.StreamNames, name) {
			for _, s := range out.StreamSummaries {
				if aws.ToString(s.StreamName) == name {
					return true, &s
				}
			}
			return true, nil
		}
		if !aws.ToBool(out.HasMoreStreams) || len(out.StreamNames) == 0 {
			return false, nil
		}
		in = &kinesis.ListStreamsInput{Limit: aws.Int32(100), ExclusiveStartStreamName: aws.String(out.StreamNames[len(out.StreamNames)-1])}
	}
	t.Fatalf("ListStreams: more than 1000 pages")
	return false, nil
}

func testListStreams(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	if ok, _ := tg.streamListed(t, s.name); !ok {
		t.Fatalf("ListStreams does not list %s", s.name)
	}
}

func testListStreamsSummaries(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	ok, sum := tg.streamListed(t, s.name)
	if !ok {
		t.Fatalf("ListStreams does not list %s", s.name)
	}
	if sum == nil {
		t.Fatalf("ListStreams lists %s in StreamNames but not in StreamSummaries", s.name)
	}
	if aws.ToString(sum.StreamARN) != s.arn || sum.StreamStatus != types.StreamStatusActive {
		t.Errorf("summary ARN %q status %s, want %q ACTIVE", aws.ToString(sum.StreamARN), sum.StreamStatus, s.arn)
	}
}

func testCreateStreamNameInUse(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	_, err := tg.Client.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(s.name), ShardCount: aws.Int32(1)})
	wantErr[*types.ResourceInUseException](t, err, "CreateStream with a name in use")
}

func testDeleteStream(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	ctx := t.Context()
	if _, err := tg.Client.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(s.name)}); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	// The service shows the stream DELETING for a while: wait until gone.
	w := kinesis.NewStreamNotExistsWaiter(tg.Client, func(o *kinesis.StreamNotExistsWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 100 * time.Millisecond
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(s.name)}, tg.waitTimeout()); err != nil {
		t.Fatalf("waiting for %s to be deleted: %v", s.name, err)
	}
	_, err := tg.Client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(s.name)})
	wantErr[*types.ResourceNotFoundException](t, err, "DescribeStreamSummary of a deleted stream")
	_, err = tg.Client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(s.name), PartitionKey: aws.String("k"), Data: []byte("x")})
	wantErr[*types.ResourceNotFoundException](t, err, "PutRecord to a deleted stream")
	_, err = tg.Client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(s.name), ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	wantErr[*types.ResourceNotFoundException](t, err, "GetShardIterator of a deleted stream")
	if ok, _ := tg.streamListed(t, s.name); ok {
		t.Errorf("ListStreams still lists deleted stream %s", s.name)
	}
}

func testUnknownStream(t *testing.T, tg *Target) {
	name := streamName(t) + "-never-created"
	ctx := t.Context()
	calls := map[string]func() error{
		"DescribeStream": func() error {
			_, err := tg.Client.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)})
			return err
		},
		"DescribeStreamSummary": func() error {
			_, err := tg.Client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
			return err
		},
		"ListShards": func() error {
			_, err := tg.Client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
			return err
		},
		"PutRecord": func() error {
			_, err := tg.Client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte("x")})
			return err
		},
		"PutRecords": func() error {
			_, err := tg.Client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("x")}}})
			return err
		},
		"GetShardIterator": func() error {
			_, err := tg.Client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			return err
		},
	}
	for _, op := range slices.Sorted(maps.Keys(calls)) {
		wantErr[*types.ResourceNotFoundException](t, calls[op](), op+" of an unknown stream")
	}
}

func testStreamARNAddressing(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	ctx := t.Context()
	arn := aws.String(s.arn)
	sum, err := tg.Client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn})
	if err != nil {
		t.Fatalf("DescribeStreamSummary by ARN: %v", err)
	}
	if got := aws.ToString(sum.StreamDescriptionSummary.StreamName); got != s.name {
		t.Errorf("DescribeStreamSummary by ARN: StreamName %q, want %q", got, s.name)
	}
	if _, err := tg.Client.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamARN: arn}); err != nil {
		t.Fatalf("DescribeStream by ARN: %v", err)
	}
	ls, err := tg.Client.ListShards(ctx, &kinesis.ListShardsInput{StreamARN: arn})
	if err != nil {
		t.Fatalf("ListShards by ARN: %v", err)
	}
	if len(ls.Shards) != 2 {
		t.Fatalf("ListShards by ARN: %d shards, want 2", len(ls.Shards))
	}
	put, err := tg.Client.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: arn, PartitionKey: aws.String("k"), Data: []byte("by-arn")})
	if err != nil {
		t.Fatalf("PutRecord by ARN: %v", err)
	}
	pr, err := tg.Client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamARN: arn, Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("by-arn-2")}}})
	if err != nil || aws.ToInt32(pr.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords by ARN: %v %+v", err, pr)
	}
	it, err := tg.Client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamARN: arn, ShardId: put.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatalf("GetShardIterator by ARN: %v", err)
	}
	gr, err := tg.Client.GetRecords(ctx, &kinesis.GetRecordsInput{StreamARN: arn, ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatalf("GetRecords with StreamARN: %v", err)
	}
	if got := datas(gr.Records); !slices.Equal(got, []string{"by-arn", "by-arn-2"}) {
		t.Errorf("GetRecords by ARN: %q, want [by-arn by-arn-2]", got)
	}
	missing := aws.String(s.arn + "-missing")
	_, err = tg.Client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: missing})
	wantErr[*types.ResourceNotFoundException](t, err, "DescribeStreamSummary of an unknown ARN")
}

func testListShardsPaging(t *testing.T, tg *Target) {
	s := tg.newStream(t, 5)
	var ids []string
	in := &kinesis.ListShardsInput{StreamName: aws.String(s.name), MaxResults: aws.Int32(2)}
	pages := 0
	for {
		out, err := tg.Client.ListShards(t.Context(), in)
		if err != nil {
			t.Fatalf("ListShards page %d: %v", pages+1, err)
		}
		pages++
		if len(out.Shards) > 2 {
			t.Fatalf("ListShards with MaxResults 2 returned %d shards", len(out.Shards))
		}
		ids = append(ids, shardIDs(out.Shards)...)
		if out.NextToken == nil {
			break
		}
		if pages > 5 {
			t.Fatalf("ListShards: still a NextToken after %d pages of 2 for 5 shards", pages)
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(2)}
	}
	slices.Sort(ids) // the service promises no order
	want := []string{shardID(0), shardID(1), shardID(2), shardID(3), shardID(4)}
	if !slices.Equal(ids, want) {
		t.Fatalf("paged shard ids %v, want %v once each", ids, want)
	}
	if pages < 3 {
		t.Errorf("%d pages for 5 shards with MaxResults 2, want at least 3", pages)
	}
}

func testListShardsMaxResultsBounds(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	// ListShardsInput MaxResults: "Valid Range: Minimum value of 1. Maximum
	// value of 10000."
	for _, max := range []int32{0, 10001} {
		_, err := tg.Client.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(s.name), MaxResults: aws.Int32(max)})
		checkErr[*types.ValidationException](t, err, fmt.Sprintf("ListShards MaxResults %d", max))
	}
	// Within the range, above the 1,000 a page holds: every shard of a small
	// stream, no NextToken.
	out, err := tg.Client.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(s.name), MaxResults: aws.Int32(10000)})
	if err != nil {
		t.Fatalf("ListShards MaxResults 10000: %v", err)
	}
	if len(out.Shards) != 2 || out.NextToken != nil {
		t.Fatalf("ListShards MaxResults 10000 of 2 shards: %v, NextToken %v", shardIDs(out.Shards), out.NextToken != nil)
	}
}

func testListShardsNextTokenExcludesStreamName(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	out, err := tg.Client.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(s.name), MaxResults: aws.Int32(1)})
	if err != nil {
		t.Fatalf("ListShards: %v", err)
	}
	if out.NextToken == nil {
		t.Fatalf("ListShards with MaxResults 1 of 2 shards: no NextToken")
	}
	// "Don't specify StreamName or StreamCreationTimestamp if you specify
	// NextToken" (ListShards API reference).
	_, err = tg.Client.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(s.name), NextToken: out.NextToken})
	wantErr[*types.InvalidArgumentException](t, err, "ListShards with both StreamName and NextToken")
}

func testListShardsFilterAtLatest(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	shards := tg.shards(t, s.name)
	tg.split(t, s.name, shards[0], midpoint(t, shards[0]))
	all := tg.shards(t, s.name)
	if len(all) != 4 {
		t.Fatalf("after a split, ListShards lists %v, want 4 shards", shardIDs(all))
	}
	out, err := tg.Client.ListShards(t.Context(), &kinesis.ListShardsInput{
		StreamName:  aws.String(s.name),
		ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest},
	})
	if err != nil {
		t.Fatalf("ListShards AT_LATEST: %v", err)
	}
	got := shardIDs(out.Shards)
	slices.Sort(got)
	if want := []string{shardID(1), shardID(2), shardID(3)}; !slices.Equal(got, want) {
		t.Fatalf("ListShards AT_LATEST after splitting %s: %v, want the open shards %v", shardID(0), got, want)
	}
}

func testUnknownShard(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	_, err := tg.Client.GetShardIterator(t.Context(), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(s.name), ShardId: aws.String(shardID(7)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	wantErr[*types.ResourceNotFoundException](t, err, "GetShardIterator of an unknown shard")
}

func testDescribeStreamShardPaging(t *testing.T, tg *Target) {
	s := tg.newStream(t, 5)
	var ids []string
	in := &kinesis.DescribeStreamInput{StreamName: aws.String(s.name), Limit: aws.Int32(2)}
	for calls := 1; ; calls++ {
		out, err := tg.Client.DescribeStream(t.Context(), in)
		if err != nil {
			t.Fatalf("DescribeStream: %v", err)
		}
		d := out.StreamDescription
		if len(d.Shards) > 2 {
			t.Fatalf("DescribeStream with Limit 2 returned %d shards", len(d.Shards))
		}
		ids = append(ids, shardIDs(d.Shards)...)
		if !aws.ToBool(d.HasMoreShards) {
			break
		}
		if calls > 5 || len(d.Shards) == 0 {
			t.Fatalf("DescribeStream: HasMoreShards still true after %d calls (%v)", calls, ids)
		}
		in.ExclusiveStartShardId = aws.String(ids[len(ids)-1])
	}
	slices.Sort(ids) // the service promises no order
	if want := []string{shardID(0), shardID(1), shardID(2), shardID(3), shardID(4)}; !slices.Equal(ids, want) {
		t.Fatalf("DescribeStream pages gave %v, want %v once each", ids, want)
	}
}

func testListShardsExclusiveStartShardId(t *testing.T, tg *Target) {
	s := tg.newStream(t, 4)
	out, err := tg.Client.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(s.name), ExclusiveStartShardId: aws.String(shardID(1))})
	if err != nil {
		t.Fatalf("ListShards ExclusiveStartShardId: %v", err)
	}
	if got, want := shardIDs(out.Shards), []string{shardID(2), shardID(3)}; !slices.Equal(got, want) {
		t.Fatalf("ListShards after %s: %v, want %v", shardID(1), got, want)
	}
}

func testProvisionedStreamMode(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	sum := tg.waitActive(t, s.name)
	if sum.StreamModeDetails == nil || sum.StreamModeDetails.StreamMode != types.StreamModeProvisioned {
		t.Fatalf("DescribeStreamSummary StreamModeDetails %+v for a stream created with a ShardCount, want PROVISIONED", sum.StreamModeDetails)
	}
}

func testOnDemandStream(t *testing.T, tg *Target) {
	name := streamName(t)
	_, err := tg.Client.CreateStream(t.Context(), &kinesis.CreateStreamInput{
		StreamName:        aws.String(name),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
	})
	if err != nil {
		t.Fatalf("CreateStream ON_DEMAND: %v", err)
	}
	t.Cleanup(func() { tg.deleteStream(t, name) })
	sum := tg.waitActive(t, name)
	if sum.StreamModeDetails == nil || sum.StreamModeDetails.StreamMode != types.StreamModeOnDemand {
		t.Errorf("StreamModeDetails %+v, want ON_DEMAND", sum.StreamModeDetails)
	}
	// An on-demand stream starts with 4 MB/s of write capacity: 4 shards.
	if got := aws.ToInt32(sum.OpenShardCount); got != 4 {
		t.Errorf("an on-demand stream starts with %d open shards, want 4", got)
	}
}

func testUniformHashKeyRanges(t *testing.T, tg *Target) {
	// The ranges of a 3-shard stream as the AWS CLI reference's
	// describe-stream example shows them: each floor(2^128/3) wide, the last
	// shard taking the rest. (For 2 shards the implementations disagree on
	// whether shard 1 starts at 2^127 or 2^127-1, and no documented output
	// settles it, so the suite does not assert it.)
	want := [][2]string{
		{"0", "113427455640312821154458202477256070484"},
		{"113427455640312821154458202477256070485", "226854911280625642308916404954512140969"},
		{"226854911280625642308916404954512140970", "340282366920938463463374607431768211455"},
	}
	s := tg.newStream(t, 3)
	shards := tg.shards(t, s.name)
	if len(shards) != 3 {
		t.Fatalf("%d shards, want 3", len(shards))
	}
	for _, sh := range shards {
		i := slices.Index([]string{shardID(0), shardID(1), shardID(2)}, aws.ToString(sh.ShardId))
		if i < 0 {
			t.Fatalf("unexpected shard %s", aws.ToString(sh.ShardId))
		}
		got := [2]string{aws.ToString(sh.HashKeyRange.StartingHashKey), aws.ToString(sh.HashKeyRange.EndingHashKey)}
		if got != want[i] {
			t.Errorf("shard %s range %v, want %v", aws.ToString(sh.ShardId), got, want[i])
		}
	}
}
