package kinesisconform

// Cases about stream settings and the account: retention, tags, encryption,
// enhanced monitoring, capacity mode, limits.

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func testRetentionPeriod(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	ctx := t.Context()
	inc := func(h int32) error {
		_, err := tg.Client.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String(s.name), RetentionPeriodHours: aws.Int32(h)})
		return err
	}
	dec := func(h int32) error {
		_, err := tg.Client.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String(s.name), RetentionPeriodHours: aws.Int32(h)})
		return err
	}
	if err := inc(48); err != nil {
		t.Fatalf("IncreaseStreamRetentionPeriod 48: %v", err)
	}
	if got := aws.ToInt32(tg.waitActive(t, s.name).RetentionPeriodHours); got != 48 {
		t.Fatalf("RetentionPeriodHours %d after increasing to 48", got)
	}
	// "The maximum value of a stream's retention period is 8760 hours";
	// "The minimum value of a stream's retention period is 24 hours"; an
	// increase to less, or a decrease to more, than the current period is
	// refused (the messages point at the other operation).
	checkErr[*types.InvalidArgumentException](t, inc(8761), "IncreaseStreamRetentionPeriod 8761")
	checkErr[*types.InvalidArgumentException](t, dec(23), "DecreaseStreamRetentionPeriod 23")
	checkErr[*types.InvalidArgumentException](t, inc(30), "IncreaseStreamRetentionPeriod below the current 48")
	checkErr[*types.InvalidArgumentException](t, dec(72), "DecreaseStreamRetentionPeriod above the current 48")
	if err := dec(24); err != nil {
		t.Fatalf("DecreaseStreamRetentionPeriod 24: %v", err)
	}
	if got := aws.ToInt32(tg.waitActive(t, s.name).RetentionPeriodHours); got != 24 {
		t.Fatalf("RetentionPeriodHours %d after decreasing to 24", got)
	}
}

func (tg *Target) tags(t *testing.T, name string, in *kinesis.ListTagsForStreamInput) (*kinesis.ListTagsForStreamOutput, []string) {
	t.Helper()
	in.StreamName = aws.String(name)
	out, err := tg.Client.ListTagsForStream(t.Context(), in)
	if err != nil {
		t.Fatalf("ListTagsForStream: %v", err)
	}
	return out, tagPairs(out.Tags)
}

func tagPairs(tags []types.Tag) []string {
	out := make([]string, len(tags))
	for i, tag := range tags {
		out[i] = aws.ToString(tag.Key) + "=" + aws.ToString(tag.Value)
	}
	slices.Sort(out)
	return out
}

func (tg *Target) addTags(t *testing.T, name string, tags map[string]string) error {
	t.Helper()
	_, err := tg.Client.AddTagsToStream(t.Context(), &kinesis.AddTagsToStreamInput{StreamName: aws.String(name), Tags: tags})
	return err
}

func testRemoveTagsFromStream(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	if err := tg.addTags(t, s.name, map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatalf("AddTagsToStream: %v", err)
	}
	// "If you specify a tag that does not exist, it is ignored."
	if _, err := tg.Client.RemoveTagsFromStream(t.Context(), &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String(s.name), TagKeys: []string{"a", "absent"}}); err != nil {
		t.Fatalf("RemoveTagsFromStream: %v", err)
	}
	if _, got := tg.tags(t, s.name, &kinesis.ListTagsForStreamInput{}); !slices.Equal(got, []string{"b=2"}) {
		t.Fatalf("tags %v after removing a, want [b=2]", got)
	}
}

func testListTagsForStreamPaging(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	if err := tg.addTags(t, s.name, map[string]string{"a": "1", "b": "2", "c": "3"}); err != nil {
		t.Fatalf("AddTagsToStream: %v", err)
	}
	out, first := tg.tags(t, s.name, &kinesis.ListTagsForStreamInput{Limit: aws.Int32(2)})
	if len(first) != 2 || !aws.ToBool(out.HasMoreTags) {
		t.Fatalf("ListTagsForStream Limit 2 of 3 tags: %v, HasMoreTags %v", first, aws.ToBool(out.HasMoreTags))
	}
	// "To list additional tags, set ExclusiveStartTagKey to the last key in
	// the response."
	out, rest := tg.tags(t, s.name, &kinesis.ListTagsForStreamInput{ExclusiveStartTagKey: out.Tags[len(out.Tags)-1].Key})
	all := append(first, rest...)
	slices.Sort(all)
	if !slices.Equal(all, []string{"a=1", "b=2", "c=3"}) || aws.ToBool(out.HasMoreTags) {
		t.Fatalf("the pages hold %v (HasMoreTags %v at the end), want a, b, c once each", all, aws.ToBool(out.HasMoreTags))
	}
}

func testTagLimit(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	// Ten tags a call: what some implementations still take per call (the
	// reference now says "a set of up to 50").
	for call := range 5 {
		tags := map[string]string{}
		for i := range 10 {
			tags[fmt.Sprintf("k%02d", 10*call+i)] = "v"
		}
		if err := tg.addTags(t, s.name, tags); err != nil {
			t.Fatalf("AddTagsToStream of tags %d to %d: %v", 10*call, 10*call+9, err)
		}
	}
	// "You can assign up to 50 tags to a data stream."
	wantErr[*types.InvalidArgumentException](t, tg.addTags(t, s.name, map[string]string{"one-more": "v"}), "AddTagsToStream of a 51st tag")
	// Replacing the value of a tag adds none.
	if err := tg.addTags(t, s.name, map[string]string{"k00": "new"}); err != nil {
		t.Fatalf("AddTagsToStream replacing a value at 50 tags: %v", err)
	}
}

func testTagResource(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	ctx := t.Context()
	arn := aws.String(s.arn)
	if _, err := tg.Client.TagResource(ctx, &kinesis.TagResourceInput{ResourceARN: arn, Tags: map[string]string{"env": "test", "x": "1"}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if _, err := tg.Client.UntagResource(ctx, &kinesis.UntagResourceInput{ResourceARN: arn, TagKeys: []string{"x"}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	out, err := tg.Client.ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: arn})
	if err != nil {
		t.Fatalf("ListTagsForResource: %v", err)
	}
	if got := tagPairs(out.Tags); !slices.Equal(got, []string{"env=test"}) {
		t.Fatalf("ListTagsForResource %v, want [env=test]", got)
	}
	// The stream's tags, whichever operation reads them.
	if _, got := tg.tags(t, s.name, &kinesis.ListTagsForStreamInput{}); !slices.Equal(got, []string{"env=test"}) {
		t.Fatalf("ListTagsForStream %v after TagResource, want [env=test]", got)
	}
}

func testStreamEncryption(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	ctx := t.Context()
	const key = "alias/aws/kinesis" // "a master key owned by Kinesis Data Streams"
	if _, err := tg.Client.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String(s.name), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String(key)}); err != nil {
		t.Fatalf("StartStreamEncryption: %v", err)
	}
	sum := tg.waitActive(t, s.name)
	if sum.EncryptionType != types.EncryptionTypeKms || aws.ToString(sum.KeyId) != key {
		t.Fatalf("after StartStreamEncryption: EncryptionType %s KeyId %q", sum.EncryptionType, aws.ToString(sum.KeyId))
	}
	// "After you enable encryption, you can verify that encryption is applied
	// by inspecting the API response from PutRecord or PutRecords." It "can
	// take up to 5 seconds after the stream is in an ACTIVE status".
	tg.eventually(t, "records encrypted", func() bool {
		out, err := tg.Client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(s.name), PartitionKey: aws.String("k"), Data: []byte("x")})
		if err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
		return out.EncryptionType == types.EncryptionTypeKms
	})
	if _, err := tg.Client.StopStreamEncryption(ctx, &kinesis.StopStreamEncryptionInput{StreamName: aws.String(s.name), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String(key)}); err != nil {
		t.Fatalf("StopStreamEncryption: %v", err)
	}
	if sum := tg.waitActive(t, s.name); sum.EncryptionType != types.EncryptionTypeNone {
		t.Fatalf("after StopStreamEncryption: EncryptionType %s", sum.EncryptionType)
	}
}

func testStartStreamEncryptionNone(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	// "The encryption type to use. The only valid value is KMS."
	_, err := tg.Client.StartStreamEncryption(t.Context(), &kinesis.StartStreamEncryptionInput{StreamName: aws.String(s.name), EncryptionType: types.EncryptionTypeNone, KeyId: aws.String("alias/aws/kinesis")})
	wantErr[*types.InvalidArgumentException](t, err, "StartStreamEncryption with EncryptionType NONE")
}

func testEnhancedMonitoring(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	ctx := t.Context()
	on, err := tg.Client.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String(s.name), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameOutgoingRecords}})
	if err != nil {
		t.Fatalf("EnableEnhancedMonitoring: %v", err)
	}
	if len(on.CurrentShardLevelMetrics) != 0 || !sameMetrics(on.DesiredShardLevelMetrics, types.MetricsNameIncomingBytes, types.MetricsNameOutgoingRecords) {
		t.Fatalf("EnableEnhancedMonitoring: current %v desired %v", on.CurrentShardLevelMetrics, on.DesiredShardLevelMetrics)
	}
	tg.waitActive(t, s.name)
	desc, err := tg.Client.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(s.name)})
	if err != nil {
		t.Fatalf("DescribeStream: %v", err)
	}
	if em := desc.StreamDescription.EnhancedMonitoring; len(em) != 1 || !sameMetrics(em[0].ShardLevelMetrics, types.MetricsNameIncomingBytes, types.MetricsNameOutgoingRecords) {
		t.Fatalf("DescribeStream EnhancedMonitoring %+v", em)
	}
	off, err := tg.Client.DisableEnhancedMonitoring(ctx, &kinesis.DisableEnhancedMonitoringInput{StreamName: aws.String(s.name), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes}})
	if err != nil {
		t.Fatalf("DisableEnhancedMonitoring: %v", err)
	}
	if !sameMetrics(off.DesiredShardLevelMetrics, types.MetricsNameOutgoingRecords) {
		t.Fatalf("DisableEnhancedMonitoring: desired %v, want [OutgoingRecords]", off.DesiredShardLevelMetrics)
	}
}

func sameMetrics(got []types.MetricsName, want ...types.MetricsName) bool {
	g := slices.Clone(got)
	slices.Sort(g)
	slices.Sort(want)
	return slices.Equal(g, want)
}

func testDescribeLimits(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	out, err := tg.Client.DescribeLimits(t.Context(), &kinesis.DescribeLimitsInput{})
	if err != nil {
		t.Fatalf("DescribeLimits: %v", err)
	}
	limit, open := aws.ToInt32(out.ShardLimit), aws.ToInt32(out.OpenShardCount)
	if open < 2 || limit < open || aws.ToInt32(out.OnDemandStreamCountLimit) < 1 || out.OnDemandStreamCount == nil {
		t.Fatalf("DescribeLimits with stream %s of 2 shards: ShardLimit %d OpenShardCount %d OnDemandStreamCount %v OnDemandStreamCountLimit %d",
			s.name, limit, open, out.OnDemandStreamCount, aws.ToInt32(out.OnDemandStreamCountLimit))
	}
}

func testUpdateStreamMode(t *testing.T, tg *Target) {
	s := tg.newStream(t, 2)
	ctx := t.Context()
	mode := func(m types.StreamMode) {
		t.Helper()
		if _, err := tg.Client.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: aws.String(s.arn), StreamModeDetails: &types.StreamModeDetails{StreamMode: m}}); err != nil {
			t.Fatalf("UpdateStreamMode %s: %v", m, err)
		}
		if sum := tg.waitActive(t, s.name); sum.StreamModeDetails == nil || sum.StreamModeDetails.StreamMode != m {
			t.Fatalf("StreamModeDetails %+v after UpdateStreamMode %s", sum.StreamModeDetails, m)
		}
	}
	mode(types.StreamModeOnDemand)
	mode(types.StreamModeProvisioned)
}
