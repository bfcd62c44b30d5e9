// Package kinesin consumes Amazon Kinesis Data Streams as typed records.
//
// Open a stream with a decoder, range over its records, and commit each one
// when it is handled:
//
//	stream, err := kinesin.Open(ctx, "orders", kinesin.JSON[Order])
//	if err != nil { ... }
//	defer stream.Close()
//	for rec, err := range stream.Records() {
//		if err != nil { ... }     // a *DecodeError beside rec, or the fatal error
//		handle(rec.Value)
//		rec.Commit()
//	}
//
// Every shard is read in order, by polling (the default) or with Enhanced
// Fan-Out (WithEFO); parents are read before their children after a reshard.
// A commit marks one record done, in any order; the checkpoint of a shard
// advances to the newest record below which every record is committed, and
// is written to a checkpoint.Store every WithCheckpointInterval, on Flush and
// on Close. A restart resumes after the checkpoint, so a record is delivered
// at least once: what was handed out but not committed comes again. Several
// processes share a stream's shards with WithLeases. Chan is the channel
// form of Records, for a pool of workers.
//
// The examples below run against kinesistest, an in-memory Kinesis that
// speaks the service's protocol: tests of a consumer use it the same way.
//
// # Errors
//
// The errors a kinesin user can see, and what to do about each:
//
//   - ErrInvalidOption, from Open: an option has a bad value or two options
//     conflict; the message names them. Fix the call.
//   - ErrNoAWSConfig, from Open: no client was given and the default AWS
//     configuration has no region or no usable credentials. Configure the
//     environment, or pass WithClient / WithAWSConfig.
//   - ErrStreamNotFound, from Open, or the fatal error of a stream whose
//     Kinesis stream was deleted while it was read. Check the name, region
//     and account.
//   - *DecodeError, beside a record whose data the decoder rejected (or
//     panicked on: its Err wraps ErrDecoderPanic, its Panic holds the value):
//     the record is still delivered with its raw Data, and the stream goes
//     on. Commit it (to skip it) or handle its Data; it is not fatal.
//   - *ReadError, fatal: reading a shard failed in a way retrying cannot fix
//     (missing permissions, unusable KMS key), or the Enhanced Fan-Out
//     consumer was deregistered while the stream was read (it then wraps
//     efo.ErrConsumerGone). Throttling, server and network errors are
//     retried with backoff; a shard whose calls keep failing for longer than
//     WithStallTimeout fails the stream with a *ReadError wrapping
//     ErrStalled.
//   - *CheckpointError, fatal: the checkpoint store (the lease store, with
//     WithLeases) kept failing for longer than WithStoreOutage. Committed
//     positions not yet written are lost to a restart, which delivers those
//     records again. With leases, a checkpoint refused because the lease
//     was lost is not a failure: the shard is no longer read, and its next
//     owner delivers the records after the checkpoint it finds.
//   - ErrConsumed, yielded by an iterator of Records when the stream's
//     records were already taken (by an earlier Records call, a range of the
//     same iterator, or Chan); a Chan called after Records returns a closed
//     channel instead. A stream is consumed once; the first consumer keeps
//     it, and the stream's Err is unaffected.
//   - ErrClosed, from Flush: the stream is closed.
//
// A fatal error is yielded once, last, by Records (with a nil record), and
// returned by Err after the Chan channel closes. The end of the context given
// to Open, Close, and breaking out of Records are not errors.
package kinesin
