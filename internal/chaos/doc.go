// Package chaos is a soak of kinesin's shard leases under process failures,
// resharding and service faults, with separate OS processes as in
// production, and a checker of what they did.
//
// # The processes
//
// One program, cmd/chaos, has a subcommand per role:
//
//   - fake: a kinesistest.Fake served over loopback HTTP, with its control
//     API (kinesistest.Control) beside the Kinesis protocol. In EFO mode its
//     clock runs 60 times faster than the wall clock (as the root package's
//     tests do), so that a resubscription waits 80 ms, not 5 s.
//   - producer: writes {key, n} records, n counting up per key, a key's next
//     record only once the previous one is acknowledged, and logs every
//     acknowledged put (shard, sequence number, key, n).
//   - worker: consumes the stream with kinesin.Open and WithLeases on a
//     DynamoDB lease table (dynalite), polling or with Enhanced Fan-Out,
//     and logs every record handed out (shard, sequence number, key, n,
//     wall time), every commit (made a few milliseconds after the record
//     came, as processing would), the lease callbacks (ShardHooks.OnAssigned,
//     ShardHooks.OnRevoked, ShardHooks.OnLost) and its start, Close and exit.
//   - soak: the driver and the checker (Soak), for runs outside go test.
//   - check: the checker alone, on the logs of an earlier run.
//
// Every process writes its log as JSON lines, one write(2) per line on an
// unbuffered file, so a line is in the kernel before the next record is
// handed out, and a SIGKILL loses nothing that was logged.
//
// # The driver
//
// Soak starts the fake, the producer and Config.Workers workers, then, for
// Config.Duration, from a seed: SIGKILLs workers; SIGTERMs them (a graceful
// Close); SIGSTOPs them and SIGCONTs them later (pauses of half to two and
// a half lease durations, so longer than the lease duration too); restarts
// dead workers (with the same lease worker id or a new one); splits, merges
// and UpdateShardCounts the stream while it is read; and injects faults
// through the control API: throttling, 500s and 503s, expired iterators,
// dropped connections, latency, and in EFO mode cut and failed event
// streams. It keeps at least two workers running (neither dead nor
// paused), and disrupts no worker during a failover window (the lease
// duration plus a cycle plus the slack) after a SIGKILL, so that each
// failover is measured alone. The seed decides every choice; the timing of a
// loaded machine still varies from run to run.
//
// Then it resumes paused workers, clears the faults, restarts dead workers,
// stops the producer, waits until every acknowledged record was handed out
// (or Config.DrainTimeout), stops the workers with SIGTERM, saves the final
// shard list and runs the checker.
//
// # The checks
//
// Check reads the logs and fails the run on:
//
//   - lost: an acknowledged record never handed out;
//   - order: a key's record handed out before the key's previous record was
//     handed out anywhere, or a worker handing out a key's records out of
//     order without a reassignment of the shard in between;
//   - parents before children: a shard's first record handed out before
//     every record of each of its ancestors was handed out;
//   - fencing: a record handed out by a worker after another worker was
//     assigned its shard (more recently than the first one), or of a shard
//     the worker was never assigned (the first record a worker logs after a
//     SIGCONT is exempt: it may have been received before the pause and
//     logged after it);
//   - finished shard re-read: a shard assigned, or its records handed out
//     again, after all of its records were handed out and a descendant was
//     assigned;
//   - failover: a SIGKILLed worker's shards first handed out or assigned by
//     another worker later than LeaseDuration + CycleInterval (the bound the
//     README states) + Config.FailoverSlack after the kill, plus the time the
//     machine stalled meanwhile (the driver logs when it did not run for
//     300ms or more); a shard taken back by the killed worker restarted
//     under the same lease worker id is no failover;
//   - duplicates: a record handed out again for another reason than a
//     SIGKILLed or paused worker's uncommitted records (or a worker's lease
//     lost for lack of renewal): after a planned handoff (SIGTERM, Close), a
//     rebalance (Revoke), a fencing violation, a re-read, or unexplained;
//   - exits: a worker that exited on its own, or whose Close failed or hung.
//
// It prints the figures: records, duplicates by cause, failover and
// handoff times (p50, max), the records a worker handed out after a SIGCONT
// on a lease that had expired during the pause, and the machine's stalls.
//
// # Running it
//
// TestChaosSoak runs a bounded soak in polling and EFO modes when dynalite
// runs (KINESIN_DYNALITE_URL, as ./scripts/test sets it), skipped otherwise
// (failed with KINESIN_REQUIRE_EMULATORS=1). Flags lengthen it:
//
//	./scripts/test -run TestChaosSoak -v ./internal/chaos/ -args -chaos.duration 5m -chaos.seed 7 -chaos.mode efo
//
// or run it as a program against a dynalite of your own:
//
//	go run ./internal/chaos/cmd/chaos soak -dynamodb http://127.0.0.1:8000 -mode polling -seed 3 -duration 10m
package chaos
