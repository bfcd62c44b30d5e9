// Package efo reads Kinesis shards with Enhanced Fan-Out (EFO): a registered
// stream consumer holds one SubscribeToShard subscription per shard, and the
// service pushes records to it as they arrive, with its own 2 MB/s per shard
// (not shared with other consumers) and about 70 ms of propagation delay,
// instead of the 5 GetRecords calls a second that every polling consumer of a
// shard shares. kinesin.WithEFO chooses it; this package can also be used on
// its own.
//
// # Registration
//
// An EFO consumer is a named resource of the stream. [Register] describes it,
// registers it when it does not exist, and waits until it is ACTIVE: a new
// consumer is CREATING for a few seconds first. RegisterStreamConsumer allows 5
// calls a second per account and 5 consumers CREATING at once per stream; a
// LimitExceededException, or a ResourceInUseException (the same name being
// registered by another process, or still being deleted), is retried with
// backoff until the consumer is ACTIVE, ctx ends or Options.RegisterTimeout
// passes. Register also takes a consumer ARN, which it only waits for.
// [Deregister] removes a consumer; processes sharing a consumer should leave
// it registered and deregister it only when the application is retired.
//
// # Subscriptions
//
// A [Reader] reads one shard per Read call. It subscribes from the shard
// reader's start position (AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER,
// TRIM_HORIZON, LATEST or AT_TIMESTAMP) and hands the records of each event
// over in order. The service ends every subscription after 5 minutes; the
// Reader then subscribes again from the last event's
// ContinuationSequenceNumber (AFTER_SEQUENCE_NUMBER), so nothing is lost or
// repeated across subscriptions. At the end of a closed shard (split or
// merged), the last event carries the child shards and no continuation, and
// Read returns them in a shard.End.
//
// The Reader never calls SubscribeToShard more than once per
// Options.SubscribeInterval (default 1s, the service's limit per consumer
// and shard), counted per shard across Read calls of the same Reader.
//
// Backpressure: before taking each event's records the Reader asks its room
// function how many records it may hand over. While room blocks, the Reader
// stops reading the event stream; the SDK's reader goroutine then blocks, the
// connection's flow control fills up, and the service stops sending, as TCP
// would. When room allows fewer records than an event holds, the Reader
// hands over the first part and holds the rest, in order, until room allows
// more. Memory therefore stays bounded by a few events (at most 1 MiB each)
// per shard, whatever the backlog.
//
// Each event stream is closed, and its error checked, before Read subscribes
// again or returns, and Read waits (up to 5 s) for the SDK's goroutines
// reading it to end: no goroutine started for a subscription outlives Read.
//
// # Errors
//
// What Read does with each kind of error:
//
//   - ResourceInUseException (a previous subscription to the shard started
//     less than 5 s ago, or another process took the shard over), throttling
//     (LimitExceededException), InternalFailureException, other server errors,
//     dropped connections, broken event streams and errors it does not know:
//     Read subscribes again from where it stopped, after an exponential
//     backoff with jitter (Options.InitialBackoff growing to
//     Options.MaxBackoff), reporting each retry to the hooks (OnRetry) and
//     logging it at DEBUG. They never end a read by themselves: the caller
//     decides how long is too long (kinesin fails a stream whose shard kept
//     failing for WithStallTimeout). Two processes reading the same shard with the same
//     consumer take the subscription from each other every few seconds: use
//     leases, which stop the loser's Read.
//   - ResourceNotFoundException from SubscribeToShard: the shard or the stream
//     is gone, or the consumer was deregistered. Read returns it wrapped; when
//     the consumer is gone the error also wraps [ErrConsumerGone]. The caller
//     tells a shard trimmed away from a deleted stream. A
//     ResourceNotFoundException ending an open subscription is first retried
//     once by subscribing again, which tells the cases apart.
//   - A starting sequence number the service rejects with
//     InvalidArgumentException (older than the stream's retention) falls back
//     to TRIM_HORIZON, as the polling reader does; the next batch's
//     TrimmedAfter (or the End's) tells the caller, which warns.
//   - Errors that retrying cannot fix (missing permissions or credentials,
//     unusable KMS keys, malformed requests, an endpoint that does not know
//     SubscribeToShard (UnknownOperationException), the same unreadable
//     response twice, such as an event stream without its initial-response):
//     Read returns them wrapped, at once.
//   - Errors of room and deliver, and ctx's, are returned as they are.
//
// [Register] returns what retrying cannot fix at once (wrapped: an endpoint
// without Enhanced Fan-Out answers UnknownOperationException), ctx's error
// as it is, and an error wrapping [ErrRegisterTimeout] when the consumer is
// not ACTIVE within Options.RegisterTimeout.
//
// # Cost and IAM
//
// Enhanced Fan-Out is billed per consumer-shard hour and per GB delivered,
// on top of the stream's own price (see the Kinesis pricing page); a
// registered consumer costs while it exists, whether or not it is read. A
// stream has at most 20 consumers (50 in on-demand advantage mode). EFO pays
// off with several applications reading one stream, or when latency matters;
// a single consumer of a quiet stream is cheaper polling.
//
// The IAM policy needs, on the stream: kinesis:DescribeStreamSummary and
// kinesis:ListShards (to find the shards, as in polling mode) and
// kinesis:RegisterStreamConsumer; on the consumer
// (arn:...:stream/NAME/consumer/CONSUMER:*): kinesis:DescribeStreamConsumer,
// kinesis:SubscribeToShard, and kinesis:DeregisterStreamConsumer when the
// application deregisters it. KMS-encrypted streams also need kms:Decrypt on
// the key.
//
// # HTTP/2
//
// The service serves SubscribeToShard over HTTP/2 only. The SDK's default
// HTTP client negotiates HTTP/2 over TLS (ALPN); a custom http.Transport must
// keep HTTP/2 enabled (ForceAttemptHTTP2, or the defaults of
// http.DefaultTransport). Emulators may serve it over HTTP/1.1.
//
// The SDK's event stream decoder keeps its state per client, so concurrent
// subscriptions on one *kinesis.Client race (aws/smithy-go#714); the Reader
// gives each SubscribeToShard call a protocol instance of its own, so one
// client can serve every shard.
package efo
