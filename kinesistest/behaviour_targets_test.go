package kinesistest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesin-go/kinesin/internal/kinesisconform"
	"github.com/kinesin-go/kinesin/internal/testenv"
	"github.com/kinesin-go/kinesin/kinesistest"
)

// behaviourTargets are the implementations TestBehaviour runs the suite
// against, each with the cases it cannot do and why.
var behaviourTargets = []struct {
	name  string
	build func(t *testing.T) *kinesisconform.Target
}{
	{"kinesistest", func(t *testing.T) *kinesisconform.Target {
		fake := kinesistest.New(t)
		return &kinesisconform.Target{
			Name:   "kinesistest",
			Client: fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 2 }),
			// Where the fake differs from the service: each entry is a bug to
			// fix in the fake, then delete here. None is known.
			Divergences: map[string]string{},
		}
	}},
	{"kinesalite", func(t *testing.T) *kinesisconform.Target {
		return &kinesisconform.Target{
			Name:   "kinesalite 3.3.3",
			Client: behaviourEmulatorClient(t, testenv.KinesaliteURL(t)),
			Divergences: map[string]string{
				// Missing features.
				"StreamARNAddressing":          "has no StreamARN parameters (a call by ARN alone is ValidationException: streamName must not be null)",
				"EnhancedFanOutConsumers":      "has no enhanced fan-out (RegisterStreamConsumer is UnknownOperationException)",
				"DeleteStreamWithConsumers":    "has no enhanced fan-out (RegisterStreamConsumer is UnknownOperationException)",
				"UpdateShardCount":             "has no UpdateShardCount (UnknownOperationException)",
				"ClosedShardChildShards":       "sends no ChildShards at the end of a closed shard (the shard just ends)",
				"ListShardsFilterAtLatest":     "ignores ShardFilter: AT_LATEST lists the closed parent too",
				"ListStreamsSummaries":         "answers ListStreams without StreamSummaries",
				"ProvisionedStreamMode":        "predates capacity modes: DescribeStreamSummary has no StreamModeDetails",
				"OnDemandStream":               "predates capacity modes: CreateStream without ShardCount is ValidationException",
				"UpdateStreamMode":             "predates capacity modes: has no UpdateStreamMode (UnknownOperationException)",
				"UpdateShardCountBeyondDouble": "has no UpdateShardCount (UnknownOperationException)",
				"TagResource":                  "has no TagResource (UnknownOperationException)",
				"StreamEncryption":             "has no StartStreamEncryption (UnknownOperationException)",
				"StartStreamEncryptionNone":    "has no StartStreamEncryption (UnknownOperationException)",
				"EnhancedMonitoring":           "has no EnableEnhancedMonitoring (UnknownOperationException)",
				"DescribeLimits":               "has no DescribeLimits (UnknownOperationException)",
				// Paging.
				"ListShardsPaging":                      "ignores ListShards MaxResults: every shard in one page, no NextToken",
				"ListShardsNextTokenExcludesStreamName": "never returns a ListShards NextToken (MaxResults is ignored)",
				"DescribeStreamShardPaging":             "ignores DescribeStream Limit: every shard in one call",
				// Wrong answers.
				"ReshardClosedShard":            "splits an already split (closed) shard again without error; the service answers InvalidArgumentException (has already been merged or split)",
				"GetRecordsLimitAboveMax":       "answers GetRecords Limit 10001 with ValidationException (Member must have value less than or equal to 10000); the API reference documents InvalidArgumentException for a Limit greater than 10,000",
				"RetentionPeriod":               "caps retention at 168 hours, the service's old maximum: IncreaseStreamRetentionPeriod 8761 is ValidationException (Member must have value less than or equal to 168), where the reference allows up to 8760 and refuses more with InvalidArgumentException",
				"SequenceNumberOtherStream":     "tells streams apart in a sequence number only by the second they were created in: accepts the sequence number of another stream created in the same second",
				"SequenceNumberOfDeletedStream": "tells streams apart in a sequence number only by the second they were created in: accepts the sequence number of a deleted stream when one of the same name is created in the same second",
			},
		}
	}},
	{"kinesis-local", func(t *testing.T) *kinesisconform.Target {
		return &kinesisconform.Target{
			Name:   "kinesis-local 0.6.2",
			Client: behaviourEmulatorClient(t, testenv.KinesisLocalURL(t)),
			Divergences: map[string]string{
				"ListStreamsSummaries":            "answers ListStreams without StreamSummaries",
				"MalformedIterator":               "answers a malformed shard iterator with HTTP 500 UnknownError, not InvalidArgumentException",
				"AtSequenceNumberOtherShard":      "answers another shard's sequence number with ResourceNotFoundException (Unable to find record with provided SequenceNumber), not InvalidArgumentException",
				"IteratorParameterMismatch":       "ignores a StartingSequenceNumber given with TRIM_HORIZON or LATEST instead of answering InvalidArgumentException",
				"GetRecordsLimitZero":             "answers GetRecords Limit 0 with InvalidArgumentException, not ValidationException",
				"SequenceNumberOtherStream":       "answers another stream's sequence number with ResourceNotFoundException (Unable to find record with provided SequenceNumber), not InvalidArgumentException",
				"SequenceNumberOfDeletedStream":   "accepts the sequence number of a deleted stream of the same name",
				"PutValidation":                   "answers a partition key of 0 or 257 characters with InvalidArgumentException, not ValidationException, and accepts PutRecords of 501 records",
				"ReshardClosedShard":              "answers SplitShard of an already split shard with ResourceInUseException (Shard ... is not active), not InvalidArgumentException",
				"SplitShardKeyBounds":             "accepts a NewStartingHashKey equal to the shard's StartingHashKey, StartingHashKey+1 or EndingHashKey (the first leaves a child with an empty range)",
				"SplitParentEndingSequenceNumber": "gives a closed shard EndingSequenceNumber 9223372036854775807 (2^63-1), below the sequence numbers of its own records",
				"DeleteStreamWithConsumers":       "refuses DeleteStream without EnforceConsumerDeletion (ResourceInUseException) but deletes the stream anyway moments later",
				"ListShardsMaxResultsBounds":      "answers ListShards MaxResults 0 with HTTP 500 UnknownError and accepts MaxResults 10001, where the member's range is 1 to 10,000 (ValidationException)",
				"UpdateShardCountBeyondDouble":    "lets UpdateShardCount scale 3 shards down to 1, below half the open shard count (it halves with integer division)",
			},
		}
	}},
}

// behaviourEmulatorClient returns a client for an emulator at url: region
// us-east-1, any static key pair (the emulators reject anonymous requests),
// two attempts per call. Its idle connections are closed when t ends, so no
// goroutine outlives the test.
func behaviourEmulatorClient(t *testing.T, url string) *kinesis.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return kinesis.New(kinesis.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDKINESINCONFORM", "conform-secret", ""),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: 2,
		HTTPClient:       &http.Client{Transport: tr, Timeout: 30 * time.Second},
	})
}
