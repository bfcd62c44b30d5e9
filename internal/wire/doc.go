// Package wire decodes Kinesis GetRecords responses and the
// SubscribeToShardEvent messages of SubscribeToShard event streams for the
// AWS SDK's *kinesis.Client, several times faster than the SDK's decoder
// and with a fixed number of allocations per response instead of about
// nine per record. The rest of the call (endpoint, signing, retries,
// metrics, tracing, error responses) stays the SDK's.
//
// # Installing it
//
// [Install] is an option function for one call (or for a client, given to
// kinesis.New); any *kinesis.Client, and any wrapper that passes option
// functions through, takes it:
//
//	out, err := client.GetRecords(ctx, in, wire.Install)
//	sub, err := client.SubscribeToShard(ctx, in, wire.Install)
//
// [Option] is the switch: Option(true) is Install, Option(false) changes
// nothing, and the SDK decodes as it always did.
//
// Install replaces the call's Options.Protocol. In this SDK version
// (service/kinesis v1.56, smithy-go v1.28) decoding is schema based: the
// operation's deserialize middleware ("OperationDeserializer") hands the
// HTTP response to Options.Protocol.DeserializeResponse, and the event
// stream reader, in a goroutine of its own after the middleware stack has
// returned, hands each message to Options.Protocol.DeserializeEventMessage.
// The protocol is therefore the one place that reaches both, and replacing
// it keeps the SDK's middleware as it is: its span and
// deserialization-duration metric, its closing of the body, its result
// metadata. The replacement wraps the SDK's awsJson 1.1 protocol and hands
// it every operation but GetRecords, every response that is not a 2xx, and
// every event stream message that is not a SubscribeToShardEvent (which it
// re-encodes for the SDK): errors are exactly the SDK's (typed exceptions
// such as *types.ExpiredIteratorException, smithy.APIError codes and
// messages, HTTP status and request IDs). A Protocol of another type set by
// the caller is kept. The replacement has no state: unlike the SDK's
// protocol, whose event stream codec is shared by every stream of a client
// (aws/smithy-go#714), it may serve concurrent streams, so a call with
// Install needs no protocol instance of its own.
//
// # What it guarantees
//
// For any body, the output is the SDK's, field by field: Records (Data,
// PartitionKey, SequenceNumber, ApproximateArrivalTimestamp,
// EncryptionType), NextShardIterator or ContinuationSequenceNumber,
// MillisBehindLatest, ChildShards with HashKeyRange and ParentShards; nil
// and empty are told apart as the SDK tells them (a missing or null
// Records is nil, [] is empty; "" Data is empty, not nil; a null record is
// a zero record). The SDK's reading of JSON is followed to its quirks:
// strings are unescaped as encoding/json does (invalid UTF-8 becomes U+FFFD
// only in strings that hold an escape), members may come in any order,
// unknown members are skipped, a repeated member replaces the earlier one
// (which must still be valid), nulls leave fields unset, bytes after the
// top-level object are ignored, and timestamps become the SDK's
// milliseconds (epoch seconds × 1000 rounded to 53 bits, truncated,
// saturated). Where the body is malformed (bad JSON, a field of the wrong
// type, invalid base64) the call fails where the SDK's fails, with the
// same class of error: for GetRecords a *smithy.DeserializationError, for
// events the SDK's "deserialize event SubscribeToShardEvent: ..." error; in
// both, the error wraps [ErrMalformed]. One deliberate difference: the SDK
// panics on the timestamp "NaN"; this package returns an error. It never
// panics on input. Differential tests and fuzz targets (go test -fuzz
// FuzzGetRecords, FuzzSubscribeToShardEvent) hold it to this against the
// SDK's own decoder.
//
// # Memory
//
// A response body is read into one pooled buffer, sized from its
// Content-Length (at most 32 MiB ahead of the data; 64 KiB to start when
// the length is unknown), and released once decoded. A first pass checks
// the whole document and notes where each record's fields lie; a second
// makes, for the whole response, one []types.Record, one []string and one
// []time.Time that the records' *string and *time.Time fields point into,
// one []byte holding every record's Data, and one string holding every
// partition key and sequence number. Each Data slice is capped at its own
// length, so appending to it never touches another record's. The other
// side of one allocation per kind: a record kept alive keeps the Data and
// strings of its whole response alive; copy what must outlive the rest.
package wire
