package kinesistest_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesin-go/kinesin/kinesistest"
)

func tagPairs(tags []types.Tag) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = aws.ToString(t.Key) + "=" + aws.ToString(t.Value)
	}
	return out
}

// RemoveTagsFromStream, ListTagsForStream paging, and the service's tag
// limits and characters.
func TestStreamTags(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		add := func(tags map[string]string) error {
			_, err := e.c.AddTagsToStream(e.ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: tags})
			return err
		}
		list := func(in *kinesis.ListTagsForStreamInput) *kinesis.ListTagsForStreamOutput {
			in.StreamName = aws.String("s")
			return must[*kinesis.ListTagsForStreamOutput](t)(e.c.ListTagsForStream(e.ctx, in))
		}
		if err := add(map[string]string{"a": "1", "b": "2", "c": "3", "team name": "x:y/z=+-@._"}); err != nil {
			t.Fatal(err)
		}
		page := list(&kinesis.ListTagsForStreamInput{Limit: aws.Int32(2)})
		if got := tagPairs(page.Tags); !slices.Equal(got, []string{"a=1", "b=2"}) || !aws.ToBool(page.HasMoreTags) {
			t.Fatalf("first page %v, more %v", got, aws.ToBool(page.HasMoreTags))
		}
		page = list(&kinesis.ListTagsForStreamInput{Limit: aws.Int32(2), ExclusiveStartTagKey: aws.String("b")})
		if got := tagPairs(page.Tags); !slices.Equal(got, []string{"c=3", "team name=x:y/z=+-@._"}) || aws.ToBool(page.HasMoreTags) {
			t.Fatalf("second page %v, more %v", got, aws.ToBool(page.HasMoreTags))
		}
		if _, err := e.c.RemoveTagsFromStream(e.ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String("s"), TagKeys: []string{"a", "absent"}}); err != nil {
			t.Fatal(err)
		}
		if got := tagPairs(list(&kinesis.ListTagsForStreamInput{}).Tags); !slices.Equal(got, []string{"b=2", "c=3", "team name=x:y/z=+-@._"}) {
			t.Fatalf("after removing a: %v", got)
		}
		// At most 50 tags on a stream: the 51st is refused, and nothing of
		// the call is added.
		many := map[string]string{}
		for i := range 47 {
			many[fmt.Sprintf("k%02d", i)] = "v"
		}
		if err := add(many); err != nil {
			t.Fatal(err)
		}
		wantErr[*types.InvalidArgumentException](t, add(map[string]string{"x": "1", "b": "new"}))
		if got := list(&kinesis.ListTagsForStreamInput{}).Tags; len(got) != 50 || tagPairs(got)[0] != "b=2" {
			t.Fatalf("%d tags after a refused 51st (first %v)", len(got), tagPairs(got)[:1])
		}
		// Replacing a value is no new tag.
		if err := add(map[string]string{"b": "new"}); err != nil {
			t.Fatal(err)
		}
		wantErr[*types.InvalidArgumentException](t, add(map[string]string{"bad*": "1"}))
		wantErr[*types.InvalidArgumentException](t, add(map[string]string{"ok": "bad#"}))
		wantErr[*types.ValidationException](t, add(map[string]string{strings.Repeat("k", 129): "1"}))
		wantErr[*types.ValidationException](t, add(map[string]string{"k": strings.Repeat("v", 257)}))
		wantErr[*types.ValidationException](t, add(map[string]string{}))
		_, err := e.c.ListTagsForStream(e.ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("s"), Limit: aws.Int32(51)})
		wantErr[*types.ValidationException](t, err)
		_, err = e.c.RemoveTagsFromStream(e.ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String("s"), TagKeys: []string{}})
		wantErr[*types.ValidationException](t, err)
		_, err = e.c.RemoveTagsFromStream(e.ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String("nope"), TagKeys: []string{"a"}})
		wantErr[*types.ResourceNotFoundException](t, err)
		_, err = e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("t"), ShardCount: aws.Int32(1), Tags: map[string]string{"bad*": "1"}})
		wantErr[*types.InvalidArgumentException](t, err)
	})
}

// TagResource, UntagResource and ListTagsForResource work on streams and
// consumers by ARN; RegisterStreamConsumer's Tags land on the consumer.
func TestResourceTags(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		streamARN := e.fake.StreamARN("s")
		reg := must[*kinesis.RegisterStreamConsumerOutput](t)(e.c.RegisterStreamConsumer(e.ctx, &kinesis.RegisterStreamConsumerInput{
			StreamARN: aws.String(streamARN), ConsumerName: aws.String("c"), Tags: map[string]string{"owner": "team-a"},
		}))
		consARN := aws.ToString(reg.Consumer.ConsumerARN)
		tags := func(arn string) []string {
			out := must[*kinesis.ListTagsForResourceOutput](t)(e.c.ListTagsForResource(e.ctx, &kinesis.ListTagsForResourceInput{ResourceARN: aws.String(arn)}))
			return tagPairs(out.Tags)
		}
		if got := tags(consARN); !slices.Equal(got, []string{"owner=team-a"}) {
			t.Fatalf("consumer tags %v", got)
		}
		for _, arn := range []string{streamARN, consARN} {
			if _, err := e.c.TagResource(e.ctx, &kinesis.TagResourceInput{ResourceARN: aws.String(arn), Tags: map[string]string{"env": "test", "x": "1"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.c.UntagResource(e.ctx, &kinesis.UntagResourceInput{ResourceARN: aws.String(arn), TagKeys: []string{"x"}}); err != nil {
				t.Fatal(err)
			}
		}
		if got := tags(streamARN); !slices.Equal(got, []string{"env=test"}) {
			t.Fatalf("stream tags %v", got)
		}
		if got := tags(consARN); !slices.Equal(got, []string{"env=test", "owner=team-a"}) {
			t.Fatalf("consumer tags %v", got)
		}
		// The stream's tags are the same through ListTagsForStream.
		out := must[*kinesis.ListTagsForStreamOutput](t)(e.c.ListTagsForStream(e.ctx, &kinesis.ListTagsForStreamInput{StreamARN: aws.String(streamARN)}))
		if got := tagPairs(out.Tags); !slices.Equal(got, []string{"env=test"}) {
			t.Fatalf("ListTagsForStream %v", got)
		}
		_, err := e.c.ListTagsForResource(e.ctx, &kinesis.ListTagsForResourceInput{ResourceARN: aws.String(streamARN + "/consumer/nope:1")})
		wantErr[*types.ResourceNotFoundException](t, err)
		_, err = e.c.ListTagsForResource(e.ctx, &kinesis.ListTagsForResourceInput{ResourceARN: aws.String(e.fake.StreamARN("nope"))})
		wantErr[*types.ResourceNotFoundException](t, err)
		_, err = e.c.TagResource(e.ctx, &kinesis.TagResourceInput{ResourceARN: aws.String("not-an-arn"), Tags: map[string]string{"a": "b"}})
		wantErr[*types.ValidationException](t, err)
	})
}

// UpdateStreamMode switches the capacity mode, through UPDATING, at most
// twice a rolling day with service limits; resharding follows the mode.
func TestUpdateStreamMode(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 2)
		e.clock.Advance(time.Minute)
		arn := aws.String(e.fake.StreamARN("s"))
		mode := func(m types.StreamMode) error {
			_, err := e.c.UpdateStreamMode(e.ctx, &kinesis.UpdateStreamModeInput{StreamARN: arn, StreamModeDetails: &types.StreamModeDetails{StreamMode: m}})
			return err
		}
		if err := mode(types.StreamModeOnDemand); err != nil {
			t.Fatal(err)
		}
		sum := e.summary(t, "s")
		if sum.StreamStatus != types.StreamStatusUpdating || sum.StreamModeDetails.StreamMode != types.StreamModeOnDemand {
			t.Fatalf("after UpdateStreamMode: %s %s", sum.StreamStatus, sum.StreamModeDetails.StreamMode)
		}
		if got := aws.ToInt32(sum.OpenShardCount); got != 2 {
			t.Errorf("OpenShardCount %d, want the 2 shards kept", got)
		}
		wantErr[*types.ResourceInUseException](t, mode(types.StreamModeProvisioned)) // UPDATING
		e.clock.Advance(5 * time.Second)
		_, err := e.c.UpdateShardCount(e.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(3), ScalingType: types.ScalingTypeUniformScaling})
		wantErr[*types.ValidationException](t, err) // ON_DEMAND
		if err := mode(types.StreamModeOnDemand); err != nil {
			t.Fatalf("the current mode again: %v", err)
		}
		if err := mode(types.StreamModeProvisioned); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(5 * time.Second)
		le := wantErr[*types.LimitExceededException](t, mode(types.StreamModeOnDemand)) // a third switch
		t.Logf("third switch: %s", aws.ToString(le.Message))
		e.clock.Advance(24 * time.Hour)
		if err := mode(types.StreamModeOnDemand); err != nil {
			t.Fatal(err)
		}
		wantErr[*types.ValidationException](t, mode("BOGUS"))
		_, err = e.c.UpdateStreamMode(e.ctx, &kinesis.UpdateStreamModeInput{StreamARN: aws.String(e.fake.StreamARN("nope")), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
		wantErr[*types.ResourceNotFoundException](t, err)
	}, kinesistest.WithStreamCreationDelay(time.Minute), kinesistest.WithStreamUpdateDelay(5*time.Second), kinesistest.WithServiceLimits(kinesistest.DefaultLimits()))
}

// Start and StopStreamEncryption: through UPDATING; records written once the
// stream is encrypted say KMS in PutRecord, PutRecords and GetRecords, and
// DescribeStream shows the type and key.
func TestStreamEncryption(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		enc := func(start bool, typ types.EncryptionType, key string) error {
			var err error
			if start {
				_, err = e.c.StartStreamEncryption(e.ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String("s"), EncryptionType: typ, KeyId: aws.String(key)})
			} else {
				_, err = e.c.StopStreamEncryption(e.ctx, &kinesis.StopStreamEncryptionInput{StreamName: aws.String("s"), EncryptionType: typ, KeyId: aws.String(key)})
			}
			return err
		}
		if got := e.put(t, "s", "k", []byte("plain")).EncryptionType; got != types.EncryptionTypeNone {
			t.Fatalf("EncryptionType %s before encryption", got)
		}
		wantErr[*types.InvalidArgumentException](t, enc(true, types.EncryptionTypeNone, "alias/aws/kinesis"))
		if err := enc(true, types.EncryptionTypeKms, "alias/aws/kinesis"); err != nil {
			t.Fatal(err)
		}
		sum := e.summary(t, "s")
		if sum.StreamStatus != types.StreamStatusUpdating || sum.EncryptionType != types.EncryptionTypeKms || aws.ToString(sum.KeyId) != "alias/aws/kinesis" {
			t.Fatalf("summary %s %s %q", sum.StreamStatus, sum.EncryptionType, aws.ToString(sum.KeyId))
		}
		// While UPDATING, records are not encrypted yet.
		if got := e.put(t, "s", "k", []byte("updating")).EncryptionType; got != types.EncryptionTypeNone {
			t.Fatalf("EncryptionType %s while UPDATING", got)
		}
		e.clock.Advance(5 * time.Second)
		if got := e.put(t, "s", "k", []byte("secret")).EncryptionType; got != types.EncryptionTypeKms {
			t.Fatalf("EncryptionType %s once ACTIVE", got)
		}
		out := must[*kinesis.PutRecordsOutput](t)(e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("batch")}}}))
		if out.EncryptionType != types.EncryptionTypeKms {
			t.Fatalf("PutRecords EncryptionType %s", out.EncryptionType)
		}
		recs, _ := e.readShard(t, "s", shardID(0))
		var got []string
		for _, r := range recs {
			got = append(got, string(r.Data)+":"+string(r.EncryptionType))
		}
		if want := []string{"plain:", "updating:", "secret:KMS", "batch:KMS"}; !slices.Equal(got, want) {
			t.Fatalf("records %v, want %v", got, want)
		}
		desc := must[*kinesis.DescribeStreamOutput](t)(e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s")}))
		if desc.StreamDescription.EncryptionType != types.EncryptionTypeKms || aws.ToString(desc.StreamDescription.KeyId) != "alias/aws/kinesis" {
			t.Fatalf("DescribeStream %s %q", desc.StreamDescription.EncryptionType, aws.ToString(desc.StreamDescription.KeyId))
		}
		if err := enc(false, types.EncryptionTypeKms, "alias/aws/kinesis"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(5 * time.Second)
		if got := e.put(t, "s", "k", []byte("plain again")).EncryptionType; got != types.EncryptionTypeNone {
			t.Fatalf("EncryptionType %s after StopStreamEncryption", got)
		}
		if sum := e.summary(t, "s"); sum.EncryptionType != types.EncryptionTypeNone || sum.KeyId != nil {
			t.Fatalf("summary after stop: %s %v", sum.EncryptionType, sum.KeyId)
		}
		_, err := e.c.StartStreamEncryption(e.ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String("s"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("")})
		wantErr[*types.ValidationException](t, err)
	}, kinesistest.WithStreamUpdateDelay(5*time.Second))
}

// Enable and DisableEnhancedMonitoring keep the metrics, which DescribeStream
// shows; ALL stands for the seven.
func TestEnhancedMonitoring(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		on := must[*kinesis.EnableEnhancedMonitoringOutput](t)(e.c.EnableEnhancedMonitoring(e.ctx, &kinesis.EnableEnhancedMonitoringInput{
			StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameIteratorAgeMilliseconds},
		}))
		if len(on.CurrentShardLevelMetrics) != 0 || !slices.Equal(on.DesiredShardLevelMetrics, []types.MetricsName{"IncomingBytes", "IteratorAgeMilliseconds"}) || aws.ToString(on.StreamName) != "s" {
			t.Fatalf("enable: current %v desired %v", on.CurrentShardLevelMetrics, on.DesiredShardLevelMetrics)
		}
		all := must[*kinesis.EnableEnhancedMonitoringOutput](t)(e.c.EnableEnhancedMonitoring(e.ctx, &kinesis.EnableEnhancedMonitoringInput{
			StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameAll},
		}))
		if len(all.DesiredShardLevelMetrics) != 7 {
			t.Fatalf("ALL: desired %v", all.DesiredShardLevelMetrics)
		}
		off := must[*kinesis.DisableEnhancedMonitoringOutput](t)(e.c.DisableEnhancedMonitoring(e.ctx, &kinesis.DisableEnhancedMonitoringInput{
			StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameOutgoingBytes},
		}))
		if len(off.CurrentShardLevelMetrics) != 7 || len(off.DesiredShardLevelMetrics) != 5 || slices.Contains(off.DesiredShardLevelMetrics, types.MetricsNameIncomingBytes) {
			t.Fatalf("disable: current %v desired %v", off.CurrentShardLevelMetrics, off.DesiredShardLevelMetrics)
		}
		desc := must[*kinesis.DescribeStreamOutput](t)(e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s")}))
		if got := desc.StreamDescription.EnhancedMonitoring[0].ShardLevelMetrics; !slices.Equal(got, off.DesiredShardLevelMetrics) {
			t.Fatalf("DescribeStream metrics %v, want %v", got, off.DesiredShardLevelMetrics)
		}
		_, err := e.c.EnableEnhancedMonitoring(e.ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{"Bogus"}})
		wantErr[*types.ValidationException](t, err)
		_, err = e.c.EnableEnhancedMonitoring(e.ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("s"), ShardLevelMetrics: []types.MetricsName{}})
		wantErr[*types.ValidationException](t, err)
	})
}

// DescribeLimits reports the shard limit, the open shards of every stream
// and the ON_DEMAND streams.
func TestDescribeLimits(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "a", 3)
		if _, err := e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("b"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
			t.Fatal(err)
		}
		e.fake.Split("a", shardID(0))
		out := must[*kinesis.DescribeLimitsOutput](t)(e.c.DescribeLimits(e.ctx, &kinesis.DescribeLimitsInput{}))
		if aws.ToInt32(out.ShardLimit) != 50 || aws.ToInt32(out.OpenShardCount) != 8 || aws.ToInt32(out.OnDemandStreamCount) != 1 || aws.ToInt32(out.OnDemandStreamCountLimit) != 50 {
			t.Fatalf("DescribeLimits: ShardLimit %d OpenShardCount %d OnDemandStreamCount %d OnDemandStreamCountLimit %d",
				aws.ToInt32(out.ShardLimit), aws.ToInt32(out.OpenShardCount), aws.ToInt32(out.OnDemandStreamCount), aws.ToInt32(out.OnDemandStreamCountLimit))
		}
	}, kinesistest.WithShardLimit(50))
}
