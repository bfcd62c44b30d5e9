package kinesisconform

// Cases about enhanced fan-out consumers (registration only; SubscribeToShard
// is not covered).

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func testEnhancedFanOutConsumers(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	ctx := t.Context()
	const consumer = "conform-consumer"
	reg, err := tg.Client.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(s.arn), ConsumerName: aws.String(consumer)})
	if err != nil {
		t.Fatalf("RegisterStreamConsumer: %v", err)
	}
	c := reg.Consumer
	arn := aws.ToString(c.ConsumerARN)
	t.Cleanup(func() {
		// DeleteStream's EnforceConsumerDeletion removes it too; this is for a
		// case that fails half way. The error (gone already) does not matter.
		ctx, cancel := context.WithTimeout(context.Background(), tg.waitTimeout())
		defer cancel()
		_, _ = tg.Client.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arn)})
	})
	if aws.ToString(c.ConsumerName) != consumer {
		t.Errorf("ConsumerName %q, want %q", aws.ToString(c.ConsumerName), consumer)
	}
	if !strings.HasPrefix(arn, s.arn+"/consumer/"+consumer+":") {
		t.Errorf("ConsumerARN %q, want %s/consumer/%s:<timestamp>", arn, s.arn, consumer)
	}
	if c.ConsumerStatus != types.ConsumerStatusCreating && c.ConsumerStatus != types.ConsumerStatusActive {
		t.Errorf("ConsumerStatus %s after registering, want CREATING or ACTIVE", c.ConsumerStatus)
	}
	if c.ConsumerCreationTimestamp == nil {
		t.Errorf("no ConsumerCreationTimestamp")
	}
	_, err = tg.Client.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(s.arn), ConsumerName: aws.String(consumer)})
	wantErr[*types.ResourceInUseException](t, err, "RegisterStreamConsumer with a name in use")

	tg.eventually(t, "consumer ACTIVE", func() bool {
		d, err := tg.Client.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
		if err != nil {
			t.Fatalf("DescribeStreamConsumer by ARN: %v", err)
		}
		return d.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive
	})
	d, err := tg.Client.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(s.arn), ConsumerName: aws.String(consumer)})
	if err != nil {
		t.Fatalf("DescribeStreamConsumer by stream and name: %v", err)
	}
	if got := aws.ToString(d.ConsumerDescription.ConsumerARN); got != arn {
		t.Errorf("DescribeStreamConsumer by name: ConsumerARN %q, want %q", got, arn)
	}
	if got := aws.ToString(d.ConsumerDescription.StreamARN); got != s.arn {
		t.Errorf("DescribeStreamConsumer: StreamARN %q, want %q", got, s.arn)
	}
	list, err := tg.Client.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(s.arn)})
	if err != nil {
		t.Fatalf("ListStreamConsumers: %v", err)
	}
	if len(list.Consumers) != 1 || aws.ToString(list.Consumers[0].ConsumerARN) != arn || list.Consumers[0].ConsumerStatus != types.ConsumerStatusActive {
		t.Errorf("ListStreamConsumers %+v, want the one ACTIVE consumer %s", list.Consumers, arn)
	}
	sum := tg.waitActive(t, s.name)
	if got := aws.ToInt32(sum.ConsumerCount); got != 1 {
		t.Errorf("DescribeStreamSummary ConsumerCount %d, want 1", got)
	}

	if _, err := tg.Client.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arn)}); err != nil {
		t.Fatalf("DeregisterStreamConsumer: %v", err)
	}
	// The consumer is DELETING for a while, then gone.
	tg.eventually(t, "consumer gone", func() bool {
		d, err := tg.Client.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)})
		if err == nil {
			if st := d.ConsumerDescription.ConsumerStatus; st != types.ConsumerStatusDeleting {
				t.Fatalf("consumer %s after deregistering, want DELETING or gone", st)
			}
			return false
		}
		wantErr[*types.ResourceNotFoundException](t, err, "DescribeStreamConsumer of a deregistered consumer")
		return true
	})
	list, err = tg.Client.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(s.arn)})
	if err != nil {
		t.Fatalf("ListStreamConsumers: %v", err)
	}
	if len(list.Consumers) != 0 {
		t.Errorf("ListStreamConsumers after deregistering: %+v, want none", list.Consumers)
	}
}

func testDeleteStreamWithConsumers(t *testing.T, tg *Target) {
	s := tg.newStream(t, 1)
	ctx := t.Context()
	if _, err := tg.Client.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(s.arn), ConsumerName: aws.String("c")}); err != nil {
		t.Fatalf("RegisterStreamConsumer: %v", err)
	}
	// "If this parameter is unset (null) or if you set it to false, and the
	// stream has registered consumers, the call to DeleteStream fails with a
	// ResourceInUseException." (DeleteStream, EnforceConsumerDeletion)
	_, err := tg.Client.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(s.name)})
	wantErr[*types.ResourceInUseException](t, err, "DeleteStream of a stream with a consumer, without EnforceConsumerDeletion")
	// The refused call leaves the stream as it was.
	sum, err := tg.Client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(s.name)})
	if err != nil {
		t.Fatalf("DescribeStreamSummary after a refused DeleteStream: %v", err)
	}
	if st := sum.StreamDescriptionSummary.StreamStatus; st != types.StreamStatusActive {
		t.Fatalf("stream %s after a refused DeleteStream, want ACTIVE", st)
	}
	if _, err := tg.Client.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(s.name), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatalf("DeleteStream with EnforceConsumerDeletion: %v", err)
	}
}
