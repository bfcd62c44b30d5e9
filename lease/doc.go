// Package lease splits the shards of a stream among the processes (workers)
// of one consumer group, with leases kept in a shared store: each worker
// reads only the shards it holds a lease on, a dead worker's shards move to
// the others within seconds, a new worker gets its share within two cycles
// (within about one lease duration right after a failover, below),
// shards move between live workers without a record processed twice, and a
// worker that lost a lease can never overwrite the checkpoint of the next
// owner.
//
// A Lease per (app, stream, shard) carries its owner, a counter, the shard's
// checkpoint and its parent shards. A Store keeps them (lease/memory in
// process, lease/dynamodb in a DynamoDB table; both pass the suite in
// lease/leasetest). A Manager runs the protocol for one worker and tells the
// worker's scheduler what to read through Events:
//
//	m, err := lease.New(store, "billing", "orders")
//	if err != nil { ... }
//	m.Sync(ctx, shards)              // create the leases of listed shards
//	m.Start(ctx)
//	for ev := range m.Events() {
//		switch ev.Kind {
//		case lease.Acquired: // start reading ev.Lease.Shard from ev.Lease.Checkpoint
//		case lease.Revoke:   // stop, wait for commits, m.Checkpoint(...), m.Release(...)
//		case lease.Lost:     // stop reading now
//		}
//	}
//	// while reading: m.Checkpoint(ctx, shard, cp) for committed positions
//	// on shutdown: stop readers, write checkpoints, then m.Close(ctx)
//
// # Counters, expiry and fencing
//
// Every write that changes a lease's ownership or progress (take, renew,
// checkpoint, release) increments its counter, and is conditional on the
// owner and counter the writer holds. So of two workers racing for a lease
// exactly one wins, and a worker that lost a lease (it paused, its lease
// expired and another took it) fails every later write with ErrLost: its
// checkpoint never overwrites the new owner's. That is the fencing.
//
// No wall clocks are compared across hosts. Each worker remembers, for every
// lease it lists, the counter and when on its own monotonic clock (the Clock
// interface) it first saw that counter: a lease is expired when its counter
// has not changed for LeaseDuration (default 10s). Owners renew every
// RenewInterval (default a third of it). An owner whose renewals fail gives
// a lease up (Lost) when 90% of LeaseDuration has passed since it sent its
// last successful write: before any observer can judge the lease expired,
// since observers start counting when they see the write, after it was
// sent. Worker liveness works the same way: each worker increments its own
// worker row every cycle (Heartbeat), and a worker is live while its row
// changes.
//
// # The cycle
//
// Every CycleInterval (default 2s) a worker heartbeats, lists the whole
// table (one paginated read), and:
//
//  1. drops the leases it holds that are listed with another owner, a larger
//     counter, or not at all (sending Lost), and sends Revoke for held leases
//     another worker asked for;
//  2. counts the readable leases: not ended, and every parent's lease ended
//     (shard-end marker) or gone. A child shard is read only after all its
//     parents were read to their end, by whichever worker held them: parents
//     before children across the cluster, which keeps per-key order across
//     splits and merges;
//  3. counts the live workers: itself, rows whose counter changed within
//     LeaseDuration, owners of unexpired readable leases, minus owners of
//     expired readable leases; and aims at target = ceil(readable / live);
//  4. below target, takes leases: first those it owns in the table but does
//     not hold (a restart under the same WorkerID), then free ones, then
//     expired ones (in random order to spread concurrent takers);
//  5. still below target, asks for handoffs (Store.RequestHandoff) from the
//     most loaded worker, one lease at a time, as long as that worker has two
//     more than it would, up to its target (and MaxStealsPerCycle);
//  6. deletes ended leases once their children have checkpoints (below);
//  7. deletes worker rows unchanged for 5 × LeaseDuration.
//
// Besides, the Manager wakes up exactly when a lease of another worker
// expires, so a dead worker's shards are taken within LeaseDuration plus one
// CycleInterval of its last renewal (the observers see its last renewal at
// most one cycle late), in one cycle when the survivors can absorb them.
//
// # Graceful handoff
//
// Stealing is a request, not a take: the new worker sets the lease's
// NextOwner without changing its counter. The owner sees it in the lease
// returned by its next write (a checkpoint, usually within a commit interval,
// or a renewal) or at its next cycle, whichever comes first, and sends
// Revoke; its scheduler stops reading the shard,
// waits (bounded) for the records in flight to be committed, writes their
// checkpoint with Checkpoint and calls Release, which frees the lease. The
// requester takes the free lease at its next cycle and starts exactly at the
// checkpoint: zero duplicates on a planned move. A scheduler that does not
// Release within HandoffTimeout (default LeaseDuration/2) loses the lease
// (Lost) and the Manager releases it anyway. A new worker asks for its
// share in its first cycle and owns it in its second.
//
// Except right after a failover: expiry and liveness are judged on the
// local clock, from when this worker first saw a counter, and a worker's
// first sight of a row counts as a change. So a worker joining right after
// another died counts the dead worker as live (and its leases as unexpired)
// until the dead row's counter has been still, on the joiner's clock, for
// LeaseDuration: until then its target is computed with one worker too many
// and it takes or asks for less than its share. It reaches its full share
// within about one LeaseDuration of joining (plus a cycle or two for the
// handoffs), not within two cycles. The survivors, which saw the row stop
// earlier, take the dead worker's leases meanwhile as usual.
//
// Close is the same for every lease at once: after the scheduler stopped
// reading and wrote its checkpoints, Close releases every lease and deletes
// the worker's row, so the others take the shards at their next cycle.
//
// # Resharding and cleanup
//
// The scheduler calls Sync with every shard it lists (with its parents).
// Sync creates missing leases, except for a shard one of whose descendants
// already has a lease (its own lease was cleaned up). When a scheduler reads
// a shard to its end it writes the shard-end marker with
// Checkpoint(checkpoint.Ended()), which also releases the lease. The children
// become readable once all their parents are ended or gone.
//
// An ended lease is deleted, by any worker, once at least one lease names it
// as a parent and every lease naming it as a parent has a checkpoint
// (Lease.HasCheckpoint: a position, or the shard-end marker); an owner alone
// is not enough, and an ended lease without child leases is kept. So a
// scheduler that decides where a child starts (from its start, because a
// parent was read) by looking for the parent's lease still finds it when the
// child's first owner died before its first checkpoint. The deletion is
// conditional on the counter it was listed with.
//
// # Events and hooks
//
// Events are sent on one channel, in order, never blocking the Manager (they
// queue). Acquired: start reading. Revoke: hand over (above). Lost: stop now.
// A Lost may follow a failed Checkpoint, a failed renewal, a listing showing
// another owner, or a local expiry. Hooks (OnAssigned, OnRevoked, OnLost)
// run on the Manager's goroutine before the event is sent: they must not
// block nor call the Manager. OnRenewed, also on the Manager's goroutine and
// under the same rules, is called with the shard of every lease its renewal
// pass renewed (no event matches it): for a count of renewals.
// Manager.HandoffTimeout returns the handoff timeout in effect, for a
// scheduler to bound its wait for records in flight after a Revoke.
//
// # Errors
//
//   - ErrLost (errors.Is) from Checkpoint or Release: the lease is no longer
//     this worker's. Stop reading the shard; a Lost event follows a refused
//     Checkpoint. Store methods return it when their condition fails.
//   - ErrExists: Store.Create found the lease; Sync ignores it.
//   - ErrInvalid, checkpoint.ErrInvalid: a malformed argument. Fix the call.
//   - ErrClosed: the Manager is closed.
//   - ErrInvalidOption, from New: a bad option; the message names it.
//   - Anything else is the store's failure (wrapped, e.g. a DynamoDB
//     throttling error after the store's retries): Checkpoint may be retried;
//     the Manager retries its own renewals, takes and listings every
//     RenewInterval or CycleInterval and logs them (WithLogger).
//
// A write (take, renew, checkpoint, release) that fails with anything but
// ErrLost or a validation error (a deadline, a cancellation, a network
// error) may have been applied by the store, its reply lost: the worker
// would then hold a stale counter, and its next write would fail with
// ErrLost. So the Manager reads the lease back (a List, bounded by
// RenewInterval and by the lease's local expiry, not by the write's ended
// context) and adopts it when it is this worker's with the counter the write
// would have produced (for a checkpoint: with that checkpoint; for a
// release: free); a Checkpoint then returns nil. When the lease reads back
// unchanged, the error is returned and the write retried as above; when it
// reads back as anything else, the lease is lost (ErrLost, Lost).
package lease
