// Package consumer is kinesin's engine: it reads the shards of a stream,
// parents before children, hands their records over in batches, tracks the
// application's commits and writes checkpoints. It knows nothing of the
// record type: the typed face (package kinesin) decodes.
//
// Which shards a process reads is its Assignment: AllShards (every shard,
// checkpoints in a checkpoint.Store: all.go) or Leased (the shards whose
// lease the process holds among several workers: leased.go). Nothing else in
// the package knows which one runs.
//
// # A record's way
//
//  1. A shard reader (package polling: GetShardIterator and GetRecords;
//     package efo: SubscribeToShard) started by Engine.startRead (run.go)
//     asks the shard's commit.Tracker how many records it may take (Room),
//     fetches them and hands them to delivery.deliver (deliver.go).
//  2. deliver splits KPL aggregates (internal/kpl), registers the records
//     with the tracker (internal/commit: Add gives each an index), has the
//     typed face decode them (Config.Decode, on the reader's goroutine) and
//     queues the Batch on Engine.Batches.
//  3. The typed face (iterator.go of package kinesin) takes the batch and,
//     for each record, asks Engine.HandOut whether it may go to the
//     application (the Leased assignment refuses records of a shard it is
//     giving up), then yields it from Records or sends it on Chan.
//  4. Record.Commit (record.go of package kinesin) marks it in the tracker,
//     which moves the shard's checkpoint to the highest position below
//     which every record is committed.
//  5. The flusher (flush.go) collects, every checkpoint interval, at shard
//     end, on Flush and on Close, the checkpoints that changed and has the
//     assignment write them: one checkpoint.Store.Save (all.go), or one
//     conditional write per lease through the lease manager (leased.go).
//
// When a reader reaches the end of a closed shard, the run goroutine
// (run.go) learns its children (graph.go), ends its tracker (the end marker
// is written once every record is committed) and starts the children whose
// parents are all done, each from its checkpoint or from where its parents'
// reads started.
package consumer
