// Package telemetry holds kinesin's OpenTelemetry metrics and spans: the
// instruments of a stream, and the calls its readers, delivery and flusher
// make to record into them.
//
// A stream makes one Telemetry with New, from the meter and tracer providers
// it was given (the global ones by default), and one Shard handle per shard
// read, with Telemetry.Shard. A Shard holds its attribute sets and
// measurement options computed once: its per-batch methods (Delivered, Lag,
// Operation) allocate nothing with a no-op provider, and Operation starts no
// span with a no-op tracer provider.
//
// # Attributes
//
// Every measurement and span carries the stream's attributes, named after
// the OpenTelemetry messaging semantic conventions where they have a name:
//
//	messaging.system               "aws_kinesis" (no registered value yet)
//	messaging.destination.name     the stream's name
//	messaging.consumer.group.name  the app (kinesin.WithApp)
//	kinesin.mode                   "polling" or "efo"
//
// and those of one shard carry messaging.destination.partition.id, the
// shard id. Failures carry error.type (see ErrorType): the AWS error code
// when there is one. An operation cut short because its context ended (the
// stream is closing) is not a failure.
//
// # Instruments
//
// INSTRUMENTS.md, beside this file, has the same table in markdown, for the
// README; a test keeps both in line with the instruments. partition.id and
// operation.name stand for messaging.destination.partition.id and
// messaging.operation.name; error.type is only on failures.
//
//	name                                 type                     unit       attributes (besides the stream's)         meaning
//	messaging.client.consumed.messages   Counter                  {message}  partition.id, operation.name              records delivered to the application (KPL user records one by one)
//	kinesin.consumed.bytes               Counter                  By         partition.id                              bytes of record data delivered
//	kinesin.decode.errors                Counter                  {record}   partition.id                              records the decoder rejected
//	kinesin.commits                      ObservableCounter        {commit}   partition.id                              calls of Record.Commit
//	kinesin.records.uncommitted          ObservableUpDownCounter  {record}   partition.id                              records delivered and not yet committed
//	kinesin.shard.millis_behind_latest   ObservableGauge          ms         partition.id                              how far behind the shard's tip the last batch read was
//	messaging.client.operation.duration  Histogram                s          partition.id, operation.name, error.type  duration of GetRecords, GetShardIterator, SubscribeToShard calls
//	kinesin.throttles                    Counter                  {call}     partition.id, operation.name              calls refused because a limit was hit
//	kinesin.retries                      Counter                  {retry}    partition.id, operation.name, error.type  waits before calling again after a failure
//	kinesin.kpl.dropped                  Counter                  {record}   partition.id                              KPL user records outside the shard's hash key range, dropped
//	kinesin.checkpoint.expired           Counter                  {resume}   partition.id                              reads resumed at the trim horizon: the records after the checkpoint were trimmed unread
//	kinesin.checkpoint.writes            Counter                  {write}    outcome, error.type                       writes of committed positions to the checkpoint store
//	kinesin.checkpoint.write.duration    Histogram                s          outcome                                   duration of those writes
//	kinesin.shards.owned                 ObservableUpDownCounter  {shard}                                              shards this consumer is reading
//	kinesin.lease.events                 Counter                  {event}    partition.id, event                       lease changes: acquired, renewed, lost, released, stolen
//	kinesin.shards.state                 ObservableUpDownCounter  {shard}    kinesin.shard.state                       shards known, by state: waiting, reading, paused, retrying, ended, finished, handed_over
//
// The durations' buckets are those the semantic conventions advise for
// messaging.client.operation.duration (5ms to 10s). Uncommitted records and
// owned shards are up-down counters rather than gauges because they add up
// across shards and processes.
//
// # Spans
//
//	GetRecords, GetShardIterator,  Client    one per call, from its start to its end, with the shard's attributes,
//	SubscribeToShard                         messaging.operation.name, messaging.operation.type "receive" (GetRecords,
//	                                         SubscribeToShard), and error.type and an Error status when it failed
//	checkpoint <stream>            Client    one per write to the checkpoint store, with messaging.operation.name
//	                                         "checkpoint", messaging.operation.type "settle", kinesin.checkpoint.shards
//	shard start                    Internal  a shard's read starts, with kinesin.shard.start_position
//	shard end                      Internal  a shard was read to its end, with kinesin.shard.children
//
// The readers' calls run in the background, outside any trace of the
// application: each call's span is the root of a trace of its own.
package telemetry
