// Package kinesistest is an in-memory Amazon Kinesis Data Streams service for
// tests. It speaks the service's wire protocol (JSON 1.1, CBOR as the Java
// SDK sends it, and the event stream of SubscribeToShard) to real clients,
// the aws-sdk-go-v2 Kinesis client first, so the code under test runs
// unchanged: its requests, the SDK's retries and the SDK's typed errors are
// the real ones. It reproduces what a consumer depends on: shards and their
// hash key ranges, sequence numbers, iterators that expire, resharding with
// parent and child shards, Enhanced Fan-Out consumers and their 5-minute
// subscriptions, retention, and, on request, the service's limits and
// timings. Injected faults and a clock the test controls make failures and
// days of service time quick and repeatable.
//
// A Fake is reached in four ways:
//
//   - [Fake.Client] returns a *kinesis.Client wired to the fake through an
//     in-process transport: no sockets, event streams included. It is the
//     fastest way.
//   - [Fake.URL] starts a loopback HTTP/1.1 server on 127.0.0.1 and returns
//     its address; [Fake.AWSConfig] returns an aws.Config for it, for code
//     that builds its own clients with kinesis.NewFromConfig.
//   - [Serve] serves it on an address of your choice for SDKs and tools of
//     any language: HTTP/1.1 and cleartext HTTP/2 (h2c) on the plain port,
//     HTTP/2 over TLS with a generated self-signed certificate
//     ([WithTLS]), extra handlers beside the protocol ([WithHandler]) and
//     a graceful [Server.Shutdown].
//   - [Fake.Handler] returns the fake as an http.Handler to serve as you like.
//
// All of them serve the same fake; they can be used together. Helpers such as
// [Fake.CreateStream], [Fake.Put], [Fake.Split], [Fake.RegisterConsumer] and
// [Fake.Shards] set up and inspect state directly, without the wire protocol:
// they are neither counted by [Fake.Calls] nor hit by injected faults, nor
// held back by the limits of [WithServiceLimits] (the records
// [Fake.Put], [Fake.PutWithHashKey] and [Fake.PutAggregated] store do not
// count against them either, so a test fills a backlog at once), and
// CreateStream and RegisterConsumer make their resource ACTIVE at once.
// [Fake.Split] splits a shard at the middle of its hash key range, which
// works for any shard of 4 hash keys or more (SplitShard's own bound; a
// smaller shard is an error), and [Fake.Merge] takes an adjacent pair in
// either order and merges it lower range first, as MergeShards needs it.
//
// A test creates a fake with New(t), which closes it when the test ends:
//
//	func TestReader(t *testing.T) {
//		fake := kinesistest.New(t)
//		fake.CreateStream("orders", 2)
//		fake.Put("orders", "customer-1", []byte(`{"id":1}`))
//
//		client := fake.Client(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
//		// or, over HTTP: client := kinesis.NewFromConfig(fake.AWSConfig())
//		runReader(t, client, "orders")
//	}
//
// Outside tests, [NewFake] returns the fake or an error, and the caller
// closes it. Options never replace a value out of range: New fails the test
// with a message naming the option, NewFake returns an error wrapping
// [ErrInvalidOption]. Close ends every subscription, stops the loopback
// server and waits for the requests in flight: no goroutine of the fake
// outlives it. A subscription whose client stopped reading ends too: a write
// blocked on it fails when the fake closes, on the in-process transport as
// over HTTP.
//
// # Behavior
//
// The fake refuses what the service refuses, with the service's error codes
// (and, where known, its messages), so that code under test meets the
// service's errors in tests rather than in production. Each file of the
// package opens with the behaviour it implements; in short:
//
//   - Streams are CREATING for [WithStreamCreationDelay], UPDATING for
//     [WithReshardDelay] after SplitShard, MergeShards or UpdateShardCount and
//     for [WithStreamUpdateDelay] after UpdateStreamMode or a change of
//     encryption, DELETING for [WithStreamDeletionDelay] after DeleteStream, then
//     gone; consumers are CREATING, then DELETING, for
//     [WithConsumerActivationDelay]. All are 0 by default. Resharding, mode and
//     encryption changes need an ACTIVE stream (ResourceInUseException);
//     records can be read and written while a stream is UPDATING or
//     DELETING, as the service allows.
//   - Records older than the stream's retention (24 hours unless changed)
//     on the fake's clock are gone, and a closed shard whose records all
//     are gone is no longer listed, as on the service ([WithRetentionTrimming]).
//     The fake trims lazily, when a call touches a shard: nothing runs in
//     the background.
//   - A sequence number belongs to its stream and shard: given to
//     GetShardIterator or SubscribeToShard for a shard of another index, of
//     another stream, or of a deleted stream of the same name created again,
//     it is InvalidArgumentException ("did not come from this stream").
//     Sequence numbers have 56 digits and grow with every record of a
//     stream.
//   - GetShardIterator takes a StartingSequenceNumber with
//     AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER only, a Timestamp with
//     AT_TIMESTAMP only, and no Timestamp later than the fake's clock;
//     SubscribeToShard's StartingPosition follows the same rules. Anything
//     else is InvalidArgumentException.
//   - GetRecords takes a Limit from 1 to 10,000: above is
//     InvalidArgumentException, as the API reference says, below
//     ValidationException. ListShards returns at most 1,000 shards a call
//     and takes a MaxResults from 1 to 10,000 (ValidationException outside);
//     DescribeStream and ListStreams return at most 100, ListStreamConsumers
//     100.
//   - SplitShard takes a NewStartingHashKey greater than one plus the shard's
//     StartingHashKey and less than its EndingHashKey; MergeShards takes as
//     AdjacentShardToMerge the shard whose range starts right after
//     ShardToMerge's ends (the pair the other way round is
//     InvalidArgumentException). UpdateShardCount reshapes any set of shards,
//     uneven ones included, to at most double and at least half the open
//     shards.
//   - Tags (AddTagsToStream, RemoveTagsFromStream, ListTagsForStream,
//     TagResource, UntagResource, ListTagsForResource, on streams and
//     consumers), UpdateStreamMode, Start/StopStreamEncryption (records say
//     KMS once encrypted), Enable/DisableEnhancedMonitoring and
//     DescribeLimits keep real state and validate their input as the service
//     does. [Operations] lists the operations served.
//   - CBOR: a request in application/x-amz-cbor-1.1 (the AWS SDK for Java's
//     default) is answered in CBOR, errors and event stream payloads
//     included; blobs are byte strings and timestamps tag 1 around epoch
//     milliseconds, as that SDK reads and writes them.
//   - The fake holds at most [WithMaxStoredBytes] of records (1 GiB by default):
//     a write past it is LimitExceededException, so a long-running fake
//     stays bounded. Trimmed records and deleted streams free their bytes.
//
// # Clock
//
// Every time-based behaviour of the fake runs on its [Clock]: shard iterators
// and NextTokens that expire after 5 minutes, the 5-minute lifetime of a
// subscription and its 5-second takeover rule, heartbeats, the CREATING,
// UPDATING and DELETING states, retention, service-limit windows, injected
// latency and the arrival time of records. The default is [RealClock].
// [WithClock] sets another:
//
//   - [NewManualClock] returns a clock that moves only when the test calls
//     Advance or Set. Nothing in the fake polls the clock, so a test that
//     never moves it sees no time-based behaviour at all.
//   - [ScaledClock] runs faster than the wall clock: with factor 60 a
//     subscription ends after 5 real seconds.
//
// With a ManualClock, a test learns that the fake is waiting before it
// advances the clock, without sleeping: [ManualClock.BlockUntil] waits until a
// number of waits are pending, [ManualClock.Waiters] counts them and
// [ManualClock.NextDeadline] tells when the next one is due. An open
// subscription that has sent what it can waits on two (its lifetime and its
// heartbeat), three while the EFO throughput limit holds it back; a call slowed
// by [Latency] waits on one. A wait the fake gives up (a subscription that
// ended, a call whose client went away) stops counting at once.
//
// # Faults
//
// [Fake.Inject] puts a [Fault] in force: a [Match] selecting calls by
// operation, stream (name or ARN), shard and consumer (name or ARN), an
// [Action], and optionally Times (how many calls it hits) and Probability (the
// chance it hits each matching call, drawn from a source seeded by [WithSeed],
// so runs repeat). [Fake.Script] gives successive matching calls successive
// actions, such as Throttle, Throttle, Pass. Faults are tried in the order they
// were injected; [Injected.Hits] counts the calls a fault hit,
// [Injected.Remove] and [Fake.ClearFaults] take faults out of force. A Match
// naming an operation the fake does not serve (a typo), or an action made
// with a value out of range (CutStream(-1), say), is refused: the test
// fails, and [Injected.Err] wraps [ErrInvalidFault] (see [Fault.Validate]).
//
// The actions, and what the SDK client sees:
//
//   - [Throttle]: ProvisionedThroughputExceededException for GetRecords,
//     GetShardIterator, PutRecord and PutRecords, LimitExceededException for
//     other operations (HTTP 400).
//   - [InternalFailure]: InternalFailureException (HTTP 500);
//     [ServiceUnavailable]: ServiceUnavailable (HTTP 503); [ExpiredIterator]:
//     ExpiredIteratorException; [Fail]: any error code.
//   - [Latency]: the call is served after a delay on the fake's clock.
//   - [DropConnection]: no response; the SDK sees a connection error.
//   - [FailRecords]: PutRecords succeeds but fails some records, with
//     FailedRecordCount and a per-record ErrorCode.
//   - [CutStream]: a SubscribeToShard stream loses its connection after some
//     events; the stream's Err reports a connection error.
//   - [StreamException]: a SubscribeToShard stream ends with an exception
//     message after some events; the stream's Err is the SDK's typed error,
//     such as *types.ResourceInUseException.
//
// The SDK's default retryer retries throttling errors, 500s, 503s and
// connection errors up to 3 attempts in all, with backoff: set
// RetryMaxAttempts to 1 to see every error. [Fake.Calls], [Fake.CallCounts]
// and [Fake.ResetCalls] count the requests received per operation, faulted
// ones and retries included.
//
// # Service limits
//
// By default the fake enforces only the limits of each call: GetRecords
// returns at most 10,000 records and 10 MiB, PutRecords takes at most 500
// records and 5 MiB, a record holds at most 1 MiB. [WithServiceLimits] turns
// on the service's limits, on the fake's clock ([DefaultLimits] gives the
// service's values; see [Limits]):
//
//   - GetRecords: 5 calls a second per shard, and 2 MiB a second of reads,
//     shared by every polling reader of the shard. A call may read more than
//     is left, up to 10 MiB; the shard then throttles until the clock pays
//     the debt back, and for 5 seconds after a call that read 10 MiB.
//   - GetShardIterator: 5 calls a second per shard.
//   - Writes: 1,000 records and 1 MiB a second per shard, partition keys
//     included. PutRecord fails with ProvisionedThroughputExceededException;
//     PutRecords fails the records over the limit, one by one. The helpers
//     that put records are not limited and do not count.
//   - SubscribeToShard: 1 call a second per consumer and shard
//     (LimitExceededException), and 2 MiB a second per consumer and shard for
//     the events, not shared between consumers: events are held back, never
//     failed.
//   - Control-plane operations: the call rates the API reference gives
//     ([ControlPlaneRates]), per account or per stream as it says:
//     DescribeStreamSummary 20 a second, DescribeStream 10, ListShards 1,000
//     per stream, DescribeStreamConsumer 20 per stream, RegisterStreamConsumer
//     5, DeregisterStreamConsumer and ListStreamConsumers 5 per stream,
//     CreateStream, DeleteStream, SplitShard, MergeShards, ListStreams and
//     the tag operations 5, UpdateShardCount 10, DescribeLimits 1
//     (LimitExceededException past them).
//   - UpdateShardCount: 10 scalings a stream in a rolling 24 hours, and at
//     most 10,000 shards a stream; UpdateStreamMode twice, and each of
//     StartStreamEncryption and StopStreamEncryption 25 times, a stream in a
//     rolling 24 hours; at most 5 streams CREATING at once
//     (LimitExceededException).
//
// # Realistic profile
//
// [WithRealistic] turns on, in one option, what the fast defaults leave out: the
// service's timings (CREATING 10 s, UPDATING 30 s after a reshard and 5 s
// after a mode or encryption change, DELETING 10 s, consumers CREATING and
// DELETING 5 s, on the test's clock), retention trimming and every limit of
// WithServiceLimits. With a ManualClock the timings cost nothing; options
// after it override what it sets.
//
// # Enhanced Fan-Out
//
// RegisterStreamConsumer makes a consumer CREATING for
// [WithConsumerActivationDelay], then ACTIVE; DeregisterStreamConsumer makes it
// DELETING for the same delay, then it is gone. A stream has at most 20
// consumers and 5 CREATING at once (LimitExceededException). Consumers are
// found by ARN or by stream ARN and name; ListStreamConsumers pages with
// MaxResults and NextToken.
//
// SubscribeToShard answers errors (a consumer that is not ACTIVE, a shard that
// does not exist) as ordinary HTTP 400 errors. Otherwise its event stream
// begins with the initial-response message, then an event at once, then an
// event as soon as records are put: the fake pushes them, it does not poll.
// Each event holds at most 10,000 records and 1 MiB, MillisBehindLatest (0
// at the tip) and a ContinuationSequenceNumber from which a new subscription
// with AFTER_SEQUENCE_NUMBER resumes with no gap and no repeat. An empty event
// comes when [WithSubscriptionHeartbeat] (5 s) passes without one. At the end of a
// closed shard, the last event carries ChildShards and no
// ContinuationSequenceNumber, then the stream ends. A stream also ends:
//
//   - cleanly (Err nil) 5 minutes after the call, or when the [Server]
//     carrying it shuts down;
//   - with ResourceInUseException when a new subscription of the same consumer
//     and shard takes over; a new call within 5 seconds of the last successful
//     one fails with ResourceInUseException instead;
//   - with ResourceNotFoundException when the consumer is deregistered or the
//     stream is gone;
//   - when the client closes it, or the fake is closed.
//
// [Fake.Subscriptions] tells what the fake accepted: consumer, shard, starting
// position, start and end times, why it ended, events and records sent.
//
// Two quirks of the Go SDK (service/kinesis v1.56, smithy-go v1.28) matter to
// code that subscribes:
//
//   - The event streams of one *kinesis.Client share decoding state, and the
//     race detector reports concurrent streams (aws/smithy-go#714). Giving each
//     SubscribeToShard call a protocol of its own avoids it:
//     func(o *kinesis.Options) { o.Protocol = awsjson.New11(schemas.Kinesis_20131202) },
//     with awsjson from github.com/aws/smithy-go/transport/http/protocol/awsjson
//     and schemas from github.com/aws/aws-sdk-go-v2/service/kinesis/schemas.
//   - The SDK takes a stream that stops in the middle, at a message boundary,
//     for a stream that ended: Err is nil. A subscription can end early
//     without an error; resume from the last ContinuationSequenceNumber.
//
// Over HTTP/1.1 the SDK may also close a connection under a response that
// arrives before it has finished sending its request; [Fake.AWSConfig] gives
// an HTTP client that avoids it (see there). Over HTTP/2 ([Serve]), as with
// the service, it does not happen.
//
// # Deliberately not implemented
//
//   - Authentication and authorization: any credentials are accepted, no
//     signature is checked, AccessDeniedException comes only from a fault.
//   - KMS: encryption is bookkeeping; any KeyId is accepted, no KMS error
//     occurs but by a fault.
//   - Enhanced monitoring measures nothing: the metrics are only recorded.
//   - Resource policies, account settings, warm throughput (accepted and
//     ignored by UpdateStreamMode), maximum record size changes, record
//     distribution strategies and channels, and the operations around them:
//     they are UnknownOperationException.
//   - ON_DEMAND streams keep the shards they have; they never scale by
//     themselves.
//   - The limits of operations the API reference gives no rate for (the
//     retention, monitoring, mode and encryption operations, TagResource and
//     its kin) are not enforced; inject Throttle to test them.
//   - SequenceNumberForOrdering is accepted and ignored: ordering within a
//     shard already holds.
//   - The service's durations are not documented: the delays of [WithRealistic]
//     are typical values, not measured ones.
package kinesistest
