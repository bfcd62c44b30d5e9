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

func TestCreateStreamProvisioned(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		start := e.clock.Now()
		e.createStream(t, "s", 3)
		sum := e.summary(t, "s")
		if sum.StreamStatus != types.StreamStatusActive {
			t.Errorf("status %s, want ACTIVE", sum.StreamStatus)
		}
		if got := aws.ToInt32(sum.OpenShardCount); got != 3 {
			t.Errorf("OpenShardCount %d, want 3", got)
		}
		if sum.StreamModeDetails == nil || sum.StreamModeDetails.StreamMode != types.StreamModeProvisioned {
			t.Errorf("mode %+v, want PROVISIONED", sum.StreamModeDetails)
		}
		if got, want := aws.ToString(sum.StreamARN), "arn:aws:kinesis:us-east-1:123456789012:stream/s"; got != want {
			t.Errorf("ARN %s, want %s", got, want)
		}
		if got := aws.ToInt32(sum.RetentionPeriodHours); got != 24 {
			t.Errorf("retention %d h, want 24", got)
		}
		if !aws.ToTime(sum.StreamCreationTimestamp).Equal(start) {
			t.Errorf("created %v, want %v", sum.StreamCreationTimestamp, start)
		}
		shards := e.shards(t, "s")
		if got, want := ids(shards), []string{shardID(0), shardID(1), shardID(2)}; !slices.Equal(got, want) {
			t.Fatalf("shards %v, want %v", got, want)
		}
		checkUniform(t, shards)
		for _, sh := range shards {
			if sh.ParentShardId != nil || sh.AdjacentParentShardId != nil {
				t.Errorf("new shard %s has parents", *sh.ShardId)
			}
			if sh.SequenceNumberRange == nil || sh.SequenceNumberRange.StartingSequenceNumber == nil || sh.SequenceNumberRange.EndingSequenceNumber != nil {
				t.Errorf("shard %s sequence range %+v", *sh.ShardId, sh.SequenceNumberRange)
			}
		}
		// The service's own split of three shards.
		if got := aws.ToString(shards[0].HashKeyRange.EndingHashKey); got != "113427455640312821154458202477256070484" {
			t.Errorf("shard 0 ends at %s", got)
		}
	})
}

func TestCreateStreamOnDemand(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		_, err := e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{
			StreamName:        aws.String("od"),
			StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
		})
		if err != nil {
			t.Fatal(err)
		}
		sum := e.summary(t, "od")
		if sum.StreamModeDetails.StreamMode != types.StreamModeOnDemand {
			t.Errorf("mode %s", sum.StreamModeDetails.StreamMode)
		}
		if got := aws.ToInt32(sum.OpenShardCount); got != 4 {
			t.Errorf("OpenShardCount %d, want 4", got)
		}
		checkUniform(t, e.shards(t, "od"))
	})
}

func TestCreateStreamErrors(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "dup", 1)
		_, err := e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("dup"), ShardCount: aws.Int32(1)})
		wantErr[*types.ResourceInUseException](t, err)

		for _, name := range []string{"bad name", "a/b", "", strings.Repeat("x", 129), "ünicode"} {
			_, err := e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)})
			wantErr[*types.ValidationException](t, err)
		}
		e.createStream(t, strings.Repeat("x", 128), 1)
		e.createStream(t, "A-z_0.9", 1)

		_, err = e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("zero"), ShardCount: aws.Int32(0)})
		wantErr[*types.ValidationException](t, err)
		_, err = e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("neg"), ShardCount: aws.Int32(-3)})
		wantErr[*types.ValidationException](t, err)
		_, err = e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("noshards")})
		wantErr[*types.InvalidArgumentException](t, err)
		_, err = e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{
			StreamName: aws.String("mode"), ShardCount: aws.Int32(1),
			StreamModeDetails: &types.StreamModeDetails{StreamMode: "BOGUS"},
		})
		wantErr[*types.ValidationException](t, err)

		names := must[*kinesis.ListStreamsOutput](t)(e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{})).StreamNames
		if len(names) != 3 {
			t.Errorf("streams %v, want the 3 created", names)
		}
	})
}

func TestCreateStreamShardLimit(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "a", 6)
		_, err := e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("b"), ShardCount: aws.Int32(5)})
		wantErr[*types.LimitExceededException](t, err)
		_, err = e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("huge"), ShardCount: aws.Int32(1 << 30)})
		wantErr[*types.LimitExceededException](t, err)
		_, err = e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("od"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
		wantErr[*types.LimitExceededException](t, err) // 6 + 4 > 9
		e.createStream(t, "b", 3)
		_, err = e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("c"), ShardCount: aws.Int32(1)})
		wantErr[*types.LimitExceededException](t, err)

		// Resharding counts against the limit too.
		_, err = e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{StreamName: aws.String("b"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("1000")})
		wantErr[*types.LimitExceededException](t, err)
		_, err = e.c.UpdateShardCount(e.ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("b"), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling})
		wantErr[*types.LimitExceededException](t, err)

		// Deleting frees shards; closed shards do not count.
		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("b")}); err != nil {
			t.Fatal(err)
		}
		e.createStream(t, "c", 3)
		if _, err := e.fake.Merge("c", shardID(0), shardID(1)); err != nil {
			t.Fatal(err)
		}
		e.createStream(t, "d", 1) // 6 + 2 open + 1 = 9
	}, kinesistest.WithShardLimit(9))
}

func TestCreateStreamCreatingThenActive(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		if _, err := e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
		if st := e.summary(t, "s").StreamStatus; st != types.StreamStatusCreating {
			t.Fatalf("status %s, want CREATING", st)
		}
		desc := must[*kinesis.DescribeStreamOutput](t)(e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s")}))
		if desc.StreamDescription.StreamStatus != types.StreamStatusCreating {
			t.Fatalf("DescribeStream status %s", desc.StreamDescription.StreamStatus)
		}
		ls := must[*kinesis.ListStreamsOutput](t)(e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{}))
		if len(ls.StreamSummaries) != 1 || ls.StreamSummaries[0].StreamStatus != types.StreamStatusCreating {
			t.Fatalf("ListStreams summaries %+v", ls.StreamSummaries)
		}
		_, err := e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x")})
		wantErr[*types.ResourceInUseException](t, err)
		_, err = e.c.PutRecords(e.ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("x")}}})
		wantErr[*types.ResourceInUseException](t, err)
		_, err = e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceInUseException](t, err)
		_, err = e.c.GetShardIterator(e.ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		wantErr[*types.ResourceInUseException](t, err)
		_, err = e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("12345")})
		wantErr[*types.ResourceInUseException](t, err)

		e.clock.Advance(30*time.Second - time.Millisecond)
		if st := e.summary(t, "s").StreamStatus; st != types.StreamStatusCreating {
			t.Fatalf("status %s after 29.999 s, want CREATING", st)
		}
		e.clock.Advance(time.Millisecond)
		if st := e.summary(t, "s").StreamStatus; st != types.StreamStatusActive {
			t.Fatalf("status %s after 30 s, want ACTIVE", st)
		}
		e.put(t, "s", "k", []byte("x"))
		if got := len(e.shards(t, "s")); got != 2 {
			t.Fatalf("%d shards", got)
		}

		// The helper makes streams ACTIVE at once.
		if err := e.fake.CreateStream("h", 1); err != nil {
			t.Fatal(err)
		}
		if st := e.summary(t, "h").StreamStatus; st != types.StreamStatusActive {
			t.Fatalf("helper stream %s", st)
		}
	}, kinesistest.WithStreamCreationDelay(30*time.Second))
}

func TestDeleteStream(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		e.createStream(t, "other", 1)
		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
			t.Fatal(err)
		}
		_, err := e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceNotFoundException](t, err)
		_, err = e.c.DescribeStreamSummary(e.ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceNotFoundException](t, err)
		_, err = e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceNotFoundException](t, err)
		_, err = e.c.PutRecord(e.ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x")})
		wantErr[*types.ResourceNotFoundException](t, err)
		_, err = e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceNotFoundException](t, err)
		_, err = e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("never")})
		wantErr[*types.ResourceNotFoundException](t, err)
		ls := must[*kinesis.ListStreamsOutput](t)(e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{}))
		if !slices.Equal(ls.StreamNames, []string{"other"}) {
			t.Fatalf("streams %v", ls.StreamNames)
		}
	})
}

func TestDeleteStreamWithConsumers(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		arn, err := e.fake.RegisterConsumer("s", "c1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.fake.RegisterConsumer("s", "c2"); err != nil {
			t.Fatal(err)
		}
		if got := aws.ToInt32(e.summary(t, "s").ConsumerCount); got != 2 {
			t.Fatalf("ConsumerCount %d, want 2", got)
		}
		_, err = e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")})
		wantErr[*types.ResourceInUseException](t, err)
		_, err = e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s"), EnforceConsumerDeletion: aws.Bool(false)})
		wantErr[*types.ResourceInUseException](t, err)
		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s"), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
		_, err = e.c.DescribeStreamConsumer(e.ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
		wantErr[*types.ResourceNotFoundException](t, err)

		// A stream whose consumers were all deregistered deletes without the flag.
		e.createStream(t, "t", 1)
		arn, err = e.fake.RegisterConsumer("t", "c1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.DeregisterStreamConsumer(e.ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
		if got := aws.ToInt32(e.summary(t, "t").ConsumerCount); got != 0 {
			t.Fatalf("ConsumerCount %d after deregistering, want 0", got)
		}
		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("t")}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDeleteStreamOldIteratorAfterRecreate(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 2)
		e.put(t, "s", "k", []byte("old"))
		it := e.iterator(t, "s", shardID(0), types.ShardIteratorTypeTrimHorizon, nil)
		tok := must[*kinesis.ListShardsOutput](t)(e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(1)})).NextToken
		if tok == nil {
			t.Fatal("no NextToken")
		}
		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
			t.Fatal(err)
		}
		_, err := e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		wantErr[*types.ResourceNotFoundException](t, err)

		e.createStream(t, "s", 2)
		e.put(t, "s", "k", []byte("new"))
		_, err = e.c.GetRecords(e.ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		wantErr[*types.ResourceNotFoundException](t, err)
		_, err = e.c.ListShards(e.ctx, &kinesis.ListShardsInput{NextToken: tok})
		wantErr[*types.ResourceNotFoundException](t, err)

		// The new stream reads fine, and holds only the new record.
		var all []string
		for _, sh := range e.shards(t, "s") {
			recs, _ := e.readShard(t, "s", *sh.ShardId)
			all = append(all, datas(recs)...)
		}
		if !slices.Equal(all, []string{"new"}) {
			t.Fatalf("recreated stream holds %q", all)
		}
	})
}

func TestDescribeStreamPaging(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 7)
		var got []string
		var more []bool
		var start *string
		for range 10 {
			out, err := e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s"), Limit: aws.Int32(3), ExclusiveStartShardId: start})
			if err != nil {
				t.Fatal(err)
			}
			d := out.StreamDescription
			got = append(got, ids(d.Shards)...)
			more = append(more, aws.ToBool(d.HasMoreShards))
			if !aws.ToBool(d.HasMoreShards) {
				break
			}
			start = d.Shards[len(d.Shards)-1].ShardId
		}
		want := []string{shardID(0), shardID(1), shardID(2), shardID(3), shardID(4), shardID(5), shardID(6)}
		if !slices.Equal(got, want) || !slices.Equal(more, []bool{true, true, false}) {
			t.Fatalf("pages %v (more %v)", got, more)
		}

		// The SDK paginator (it needs a Limit).
		p := kinesis.NewDescribeStreamPaginator(e.c, &kinesis.DescribeStreamInput{StreamName: aws.String("s"), Limit: aws.Int32(2)})
		got, pages := nil, 0
		for p.HasMorePages() {
			out, err := p.NextPage(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			got = append(got, ids(out.StreamDescription.Shards)...)
		}
		if !slices.Equal(got, want) || pages != 4 {
			t.Fatalf("paginator: %d pages %v", pages, got)
		}

		out := must[*kinesis.DescribeStreamOutput](t)(e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s"), ExclusiveStartShardId: aws.String(shardID(5))}))
		if got := ids(out.StreamDescription.Shards); !slices.Equal(got, []string{shardID(6)}) || aws.ToBool(out.StreamDescription.HasMoreShards) {
			t.Fatalf("after shard 5: %v", got)
		}
		d := out.StreamDescription
		if aws.ToString(d.StreamName) != "s" || d.StreamStatus != types.StreamStatusActive || aws.ToInt32(d.RetentionPeriodHours) != 24 || d.StreamCreationTimestamp == nil {
			t.Fatalf("description %+v", d)
		}
		_, err := e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("s"), Limit: aws.Int32(0)})
		wantCode(t, err, "ValidationException", "InvalidArgumentException")

		// At most 100 shards per call, whatever the Limit.
		e.createStream(t, "big", 150)
		for _, limit := range []*int32{nil, aws.Int32(150), aws.Int32(10000)} {
			out := must[*kinesis.DescribeStreamOutput](t)(e.c.DescribeStream(e.ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("big"), Limit: limit}))
			if n := len(out.StreamDescription.Shards); n != 100 || !aws.ToBool(out.StreamDescription.HasMoreShards) {
				t.Fatalf("limit %v: %d shards, more %v", aws.ToInt32(limit), n, aws.ToBool(out.StreamDescription.HasMoreShards))
			}
		}
	})
}

func TestDescribeStreamSummary(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 3)
		if _, err := e.fake.Split("s", shardID(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.fake.RegisterConsumer("s", "c1"); err != nil {
			t.Fatal(err)
		}
		sum := e.summary(t, "s")
		if got := aws.ToInt32(sum.OpenShardCount); got != 4 {
			t.Errorf("OpenShardCount %d after a split of 3, want 4", got)
		}
		if got := aws.ToInt32(sum.ConsumerCount); got != 1 {
			t.Errorf("ConsumerCount %d, want 1", got)
		}
		if sum.EncryptionType != types.EncryptionTypeNone {
			t.Errorf("encryption %s", sum.EncryptionType)
		}
		if _, err := e.fake.Merge("s", shardID(3), shardID(4)); err != nil {
			t.Fatal(err)
		}
		if got := aws.ToInt32(e.summary(t, "s").OpenShardCount); got != 3 {
			t.Errorf("OpenShardCount %d after a merge, want 3", got)
		}
		_, err := e.c.DescribeStreamSummary(e.ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("nope")})
		wantErr[*types.ResourceNotFoundException](t, err)
	})
}

func TestListStreams(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		var want []string
		for i := range 7 {
			name := fmt.Sprintf("stream-%d", i)
			want = append(want, name)
			e.createStream(t, name, 1)
		}
		var got []string
		in := &kinesis.ListStreamsInput{Limit: aws.Int32(3)}
		var pages []int
		var lastToken *string
		for range 10 {
			out, err := e.c.ListStreams(e.ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.StreamNames...)
			pages = append(pages, len(out.StreamNames))
			if len(out.StreamSummaries) != len(out.StreamNames) {
				t.Fatalf("%d summaries for %d names", len(out.StreamSummaries), len(out.StreamNames))
			}
			for i, s := range out.StreamSummaries {
				if aws.ToString(s.StreamName) != out.StreamNames[i] || s.StreamStatus != types.StreamStatusActive ||
					aws.ToString(s.StreamARN) != e.fake.StreamARN(out.StreamNames[i]) || s.StreamCreationTimestamp == nil {
					t.Fatalf("summary %+v", s)
				}
			}
			if !aws.ToBool(out.HasMoreStreams) {
				if out.NextToken != nil {
					t.Fatal("NextToken on the last page")
				}
				break
			}
			lastToken = out.NextToken
			in = &kinesis.ListStreamsInput{Limit: aws.Int32(3), NextToken: out.NextToken}
		}
		if !slices.Equal(got, want) || !slices.Equal(pages, []int{3, 3, 1}) {
			t.Fatalf("pages %v: %v", pages, got)
		}

		out := must[*kinesis.ListStreamsOutput](t)(e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{ExclusiveStartStreamName: aws.String("stream-4")}))
		if !slices.Equal(out.StreamNames, want[5:]) || aws.ToBool(out.HasMoreStreams) {
			t.Fatalf("after stream-4: %v", out.StreamNames)
		}

		p := kinesis.NewListStreamsPaginator(e.c, &kinesis.ListStreamsInput{}, func(o *kinesis.ListStreamsPaginatorOptions) { o.Limit = 2 })
		got = nil
		for p.HasMorePages() {
			out, err := p.NextPage(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.StreamNames...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paginator: %v", got)
		}

		e.clock.Advance(301 * time.Second)
		_, err := e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{NextToken: lastToken})
		wantErr[*types.ExpiredNextTokenException](t, err)
		_, err = e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{NextToken: aws.String("not a token")})
		wantErr[*types.InvalidArgumentException](t, err)
	})
}

func TestListStreamsAtMost100(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		for i := range 120 {
			if err := e.fake.CreateStream(fmt.Sprintf("s%03d", i), 1); err != nil {
				t.Fatal(err)
			}
		}
		out := must[*kinesis.ListStreamsOutput](t)(e.c.ListStreams(e.ctx, &kinesis.ListStreamsInput{Limit: aws.Int32(1000)}))
		if len(out.StreamNames) != 100 || !aws.ToBool(out.HasMoreStreams) {
			t.Fatalf("%d names, more %v", len(out.StreamNames), aws.ToBool(out.HasMoreStreams))
		}
	})
}

func TestListShardsPaging(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		const n = 2500
		e.createStream(t, "s", n)
		var want []string
		for i := range n {
			want = append(want, shardID(i))
		}
		// Default page size is 1000.
		first := must[*kinesis.ListShardsOutput](t)(e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s")}))
		if len(first.Shards) != 1000 || first.NextToken == nil {
			t.Fatalf("first page %d shards, token %v", len(first.Shards), first.NextToken != nil)
		}
		for _, max := range []int32{0, 333} {
			in := &kinesis.ListShardsInput{StreamName: aws.String("s")}
			if max > 0 {
				in.MaxResults = aws.Int32(max)
			}
			shards := e.listShards(t, in)
			if got := ids(shards); !slices.Equal(got, want) {
				t.Fatalf("MaxResults %d: %d shards", max, len(got))
			}
			checkUniform(t, shards)
		}

		_, err := e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), NextToken: first.NextToken})
		wantErr[*types.InvalidArgumentException](t, err)
		_, err = e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamARN: aws.String(e.fake.StreamARN("s")), NextToken: first.NextToken})
		wantErr[*types.InvalidArgumentException](t, err)
		_, err = e.c.ListShards(e.ctx, &kinesis.ListShardsInput{ExclusiveStartShardId: aws.String(shardID(3)), NextToken: first.NextToken})
		wantErr[*types.InvalidArgumentException](t, err)
		_, err = e.c.ListShards(e.ctx, &kinesis.ListShardsInput{ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, NextToken: first.NextToken})
		wantErr[*types.InvalidArgumentException](t, err)
		_, err = e.c.ListShards(e.ctx, &kinesis.ListShardsInput{NextToken: aws.String("garbage!")})
		wantErr[*types.InvalidArgumentException](t, err)
		// MaxResults is 1 to 10,000 (the member's bounds):
		// ValidationException outside, with the side it fails.
		for _, bad := range []struct {
			max  int32
			want string
		}{{0, "greater than or equal to 1"}, {-3, "greater than or equal to 1"}, {10001, "less than or equal to 10000"}} {
			_, err = e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(bad.max)})
			ve := wantErr[*types.ValidationException](t, err)
			if !strings.Contains(aws.ToString(ve.Message), bad.want) || !strings.Contains(aws.ToString(ve.Message), "maxResults") {
				t.Errorf("MaxResults %d: message %q", bad.max, aws.ToString(ve.Message))
			}
		}
		// Above 1,000 and up to 10,000, at most 1,000 shards a page: "If you
		// specify a value greater than 1000, at most 1000 results are
		// returned." The pages still cover every shard.
		for _, max := range []int32{1001, 10000} {
			page := must[*kinesis.ListShardsOutput](t)(e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(max)}))
			if len(page.Shards) != 1000 || page.NextToken == nil {
				t.Fatalf("MaxResults %d: first page %d shards, NextToken %v; want 1000 and a token", max, len(page.Shards), page.NextToken != nil)
			}
			if got := ids(e.listShards(t, &kinesis.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(max)})); !slices.Equal(got, want) {
				t.Fatalf("MaxResults %d: pages hold %d shards, want %d", max, len(got), n)
			}
		}
		// A MaxResults given with the NextToken sizes the next page.
		next := must[*kinesis.ListShardsOutput](t)(e.c.ListShards(e.ctx, &kinesis.ListShardsInput{NextToken: first.NextToken, MaxResults: aws.Int32(10)}))
		if got := ids(next.Shards); !slices.Equal(got, want[1000:1010]) || next.NextToken == nil {
			t.Fatalf("page after the first with MaxResults 10: %v", got)
		}
		_, err = e.c.ListShards(e.ctx, &kinesis.ListShardsInput{})
		wantErr[*types.InvalidArgumentException](t, err)

		// ExclusiveStartShardId.
		out := must[*kinesis.ListShardsOutput](t)(e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), ExclusiveStartShardId: aws.String(shardID(2497))}))
		if got := ids(out.Shards); !slices.Equal(got, want[2498:]) || out.NextToken != nil {
			t.Fatalf("after 2497: %v", got)
		}
	})
}

func TestListShardsNextTokenExpiry(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 5)
		out := must[*kinesis.ListShardsOutput](t)(e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(2)}))
		e.clock.Advance(299 * time.Second)
		next := must[*kinesis.ListShardsOutput](t)(e.c.ListShards(e.ctx, &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(2)}))
		if got := ids(next.Shards); !slices.Equal(got, []string{shardID(2), shardID(3)}) {
			t.Fatalf("second page %v", got)
		}
		e.clock.Advance(2 * time.Second)
		_, err := e.c.ListShards(e.ctx, &kinesis.ListShardsInput{NextToken: out.NextToken})
		wantErr[*types.ExpiredNextTokenException](t, err)
		// The token issued later is still good.
		last := must[*kinesis.ListShardsOutput](t)(e.c.ListShards(e.ctx, &kinesis.ListShardsInput{NextToken: next.NextToken}))
		if got := ids(last.Shards); !slices.Equal(got, []string{shardID(4)}) || last.NextToken != nil {
			t.Fatalf("last page %v", got)
		}
	})
}

func TestListShardsFilters(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		t0 := e.clock.Now()
		e.createStream(t, "s", 2)
		e.clock.Advance(time.Hour)
		t1 := e.clock.Now()
		if _, err := e.c.SplitShard(e.ctx, &kinesis.SplitShardInput{
			StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("1000"),
		}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Hour)

		list := func(f types.ShardFilter) []string {
			t.Helper()
			return ids(e.listShards(t, &kinesis.ListShardsInput{StreamName: aws.String("s"), ShardFilter: &f}))
		}
		at := func(d time.Duration) *time.Time { return aws.Time(t0.Add(d)) }
		s0, s1, s2, s3 := shardID(0), shardID(1), shardID(2), shardID(3)
		cases := []struct {
			name   string
			filter types.ShardFilter
			want   []string
		}{
			{"after 0", types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String(s0)}, []string{s1, s2, s3}},
			{"after 2", types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String(s2)}, []string{s3}},
			{"at trim horizon", types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}, []string{s0, s1}},
			{"from trim horizon", types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}, []string{s0, s1, s2, s3}},
			{"at latest", types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, []string{s1, s2, s3}},
			{"at before split", types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: at(30 * time.Minute)}, []string{s0, s1}},
			{"at after split", types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: at(90 * time.Minute)}, []string{s1, s2, s3}},
			{"at split", types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(t1)}, []string{s0, s1, s2, s3}},
			{"at before creation", types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: at(-time.Hour)}, []string{s0, s1}},
			{"from before split", types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: at(30 * time.Minute)}, []string{s0, s1, s2, s3}},
			{"from after split", types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: at(90 * time.Minute)}, []string{s1, s2, s3}},
		}
		for _, c := range cases {
			if got := list(c.filter); !slices.Equal(got, c.want) {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}

		// The filter carries over pages.
		got := ids(e.listShards(t, &kinesis.ListShardsInput{
			StreamName: aws.String("s"), MaxResults: aws.Int32(1),
			ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest},
		}))
		if !slices.Equal(got, []string{s1, s2, s3}) {
			t.Errorf("paged AT_LATEST: %v", got)
		}

		// With a trim horizon after the split, the parent is out of both
		// trim-horizon filters.
		if err := e.fake.SetRetention("s", 30*time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := list(types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}); !slices.Equal(got, []string{s1, s2, s3}) {
			t.Errorf("AT_TRIM_HORIZON after the split: %v", got)
		}
		if got := list(types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}); !slices.Equal(got, []string{s1, s2, s3}) {
			t.Errorf("FROM_TRIM_HORIZON after the split: %v", got)
		}

		for _, f := range []types.ShardFilter{
			{Type: types.ShardFilterTypeAfterShardId},
			{Type: types.ShardFilterTypeAtTimestamp},
			{Type: types.ShardFilterTypeFromTimestamp},
		} {
			_, err := e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), ShardFilter: &f})
			wantErr[*types.InvalidArgumentException](t, err)
		}
		_, err := e.c.ListShards(e.ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), ShardFilter: &types.ShardFilter{Type: "BOGUS"}})
		wantCode(t, err, "ValidationException", "InvalidArgumentException")
	})
}

func TestStreamARNEverywhere(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 2)
		arn := aws.String(e.fake.StreamARN("s"))
		ctx := e.ctx

		d := must[*kinesis.DescribeStreamOutput](t)(e.c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamARN: arn}))
		if aws.ToString(d.StreamDescription.StreamARN) != *arn {
			t.Fatalf("DescribeStream ARN %s", aws.ToString(d.StreamDescription.StreamARN))
		}
		must[*kinesis.DescribeStreamSummaryOutput](t)(e.c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn}))
		shards := must[*kinesis.ListShardsOutput](t)(e.c.ListShards(ctx, &kinesis.ListShardsInput{StreamARN: arn})).Shards
		if len(shards) != 2 {
			t.Fatalf("%d shards", len(shards))
		}
		put := must[*kinesis.PutRecordOutput](t)(e.c.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: arn, PartitionKey: aws.String("k"), Data: []byte("a")}))
		puts := must[*kinesis.PutRecordsOutput](t)(e.c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamARN: arn, Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("b")}}}))
		if aws.ToInt32(puts.FailedRecordCount) != 0 {
			t.Fatal("PutRecords failed")
		}
		it := must[*kinesis.GetShardIteratorOutput](t)(e.c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamARN: arn, ShardId: put.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon}))
		gr := must[*kinesis.GetRecordsOutput](t)(e.c.GetRecords(ctx, &kinesis.GetRecordsInput{StreamARN: arn, ShardIterator: it.ShardIterator}))
		if got := datas(gr.Records); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("records %q", got)
		}
		// Both name and ARN, agreeing.
		must[*kinesis.PutRecordOutput](t)(e.c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), StreamARN: arn, PartitionKey: aws.String("k"), Data: []byte("c")}))

		must[*kinesis.IncreaseStreamRetentionPeriodOutput](t)(e.c.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamARN: arn, RetentionPeriodHours: aws.Int32(48)}))
		must[*kinesis.DecreaseStreamRetentionPeriodOutput](t)(e.c.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamARN: arn, RetentionPeriodHours: aws.Int32(24)}))
		must[*kinesis.AddTagsToStreamOutput](t)(e.c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamARN: arn, Tags: map[string]string{"k": "v"}}))
		tags := must[*kinesis.ListTagsForStreamOutput](t)(e.c.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamARN: arn}))
		if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "k" || aws.ToString(tags.Tags[0].Value) != "v" {
			t.Fatalf("tags %+v", tags.Tags)
		}
		must[*kinesis.SplitShardOutput](t)(e.c.SplitShard(ctx, &kinesis.SplitShardInput{StreamARN: arn, ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("1000")}))
		must[*kinesis.MergeShardsOutput](t)(e.c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamARN: arn, ShardToMerge: aws.String(shardID(2)), AdjacentShardToMerge: aws.String(shardID(3))}))
		must[*kinesis.UpdateShardCountOutput](t)(e.c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamARN: arn, TargetShardCount: aws.Int32(3), ScalingType: types.ScalingTypeUniformScaling}))

		// Name and ARN naming different streams.
		e.createStream(t, "other", 1)
		_, err := e.c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("other"), StreamARN: arn})
		wantErr[*types.InvalidArgumentException](t, err)
		_, err = e.c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("other"), StreamARN: arn, PartitionKey: aws.String("k"), Data: []byte("x")})
		wantErr[*types.InvalidArgumentException](t, err)
		_, err = e.c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("other"), StreamARN: arn})
		wantErr[*types.InvalidArgumentException](t, err)
		_, err = e.c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("other"), StreamARN: arn, ShardId: aws.String(shardID(0)), ShardIteratorType: types.ShardIteratorTypeLatest})
		wantErr[*types.InvalidArgumentException](t, err)
		// A GetRecords ARN that is not the iterator's stream.
		_, err = e.c.GetRecords(ctx, &kinesis.GetRecordsInput{StreamARN: aws.String(e.fake.StreamARN("other")), ShardIterator: gr.NextShardIterator})
		wantErr[*types.InvalidArgumentException](t, err)

		// ARNs of streams that do not exist here.
		for _, a := range []string{
			e.fake.StreamARN("missing"),
			"arn:aws:kinesis:us-east-1:999999999999:stream/s",
		} {
			_, err = e.c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String(a)})
			wantErr[*types.ResourceNotFoundException](t, err)
		}

		must[*kinesis.DeleteStreamOutput](t)(e.c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamARN: arn}))
		_, err = e.c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn})
		wantErr[*types.ResourceNotFoundException](t, err)
	})
}

func TestRetentionPeriodAPI(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		hours := func() int32 { return aws.ToInt32(e.summary(t, "s").RetentionPeriodHours) }
		inc := func(h int32) error {
			_, err := e.c.IncreaseStreamRetentionPeriod(e.ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("s"), RetentionPeriodHours: aws.Int32(h)})
			return err
		}
		dec := func(h int32) error {
			_, err := e.c.DecreaseStreamRetentionPeriod(e.ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("s"), RetentionPeriodHours: aws.Int32(h)})
			return err
		}
		if err := inc(48); err != nil {
			t.Fatal(err)
		}
		if h := hours(); h != 48 {
			t.Fatalf("retention %d", h)
		}
		wantErr[*types.InvalidArgumentException](t, inc(30))   // shorter than current
		wantErr[*types.InvalidArgumentException](t, dec(100))  // longer than current
		wantErr[*types.InvalidArgumentException](t, inc(8761)) // above a year
		wantErr[*types.InvalidArgumentException](t, dec(23))   // below a day
		wantErr[*types.InvalidArgumentException](t, inc(0))    // below a day
		wantErr[*types.InvalidArgumentException](t, dec(-1))   // negative
		// The same period is fine.
		if err := inc(48); err != nil {
			t.Fatal(err)
		}
		if err := dec(24); err != nil {
			t.Fatal(err)
		}
		if err := inc(8760); err != nil {
			t.Fatal(err)
		}
		if h := hours(); h != 8760 {
			t.Fatalf("retention %d", h)
		}
		_, err := e.c.IncreaseStreamRetentionPeriod(e.ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("nope"), RetentionPeriodHours: aws.Int32(48)})
		wantErr[*types.ResourceNotFoundException](t, err)
	})
}

func TestTags(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		if _, err := e.c.CreateStream(e.ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1), Tags: map[string]string{"b": "2"}}); err != nil {
			t.Fatal(err)
		}
		must[*kinesis.AddTagsToStreamOutput](t)(e.c.AddTagsToStream(e.ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: map[string]string{"a": "1", "b": "3"}}))
		out := must[*kinesis.ListTagsForStreamOutput](t)(e.c.ListTagsForStream(e.ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("s")}))
		var got []string
		for _, tag := range out.Tags {
			got = append(got, aws.ToString(tag.Key)+"="+aws.ToString(tag.Value))
		}
		if !slices.Equal(got, []string{"a=1", "b=3"}) || aws.ToBool(out.HasMoreTags) {
			t.Fatalf("tags %v", got)
		}
	})
}

func TestConsumerCountAfterDeregistering(t *testing.T) {
	eachMode(t, func(t *testing.T, e *env) {
		e.createStream(t, "s", 1)
		arn, err := e.fake.RegisterConsumer("s", "c")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.DeregisterStreamConsumer(e.ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(10 * time.Second) // DELETING is over
		if got := aws.ToInt32(e.summary(t, "s").ConsumerCount); got != 0 {
			t.Fatalf("ConsumerCount %d once the consumer is gone, want 0", got)
		}
		if _, err := e.c.DeleteStream(e.ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
			t.Fatal(err)
		}
	}, kinesistest.WithConsumerActivationDelay(10*time.Second))
}
