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
// checkpoint and its parent shards. A Store keeps them (lease/memlease in
// process, lease/dynamolease in a DynamoDB table; both pass the suite in
// lease/leasetest; write your own against that suite). kinesin runs the
// protocol below for every worker that opens a stream with leases:
//
//	store, err := dynamolease.New(dynamodb.NewFromConfig(cfg), "kinesin-leases")
//	if err != nil { ... }
//	stream, err := kinesin.Open(ctx, "orders", kinesin.JSON[Order],
//		kinesin.WithApp("billing"),
//		kinesin.WithLeases(store, lease.WithLeaseDuration(10*time.Second)),
//		kinesin.WithShardHooks(kinesin.ShardHooks{OnLost: ...}))
//
// The options of this package tune the protocol; the checkpoints live in the
// leases, so no separate checkpointer is needed.
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
//     counter, or not at all (it stops reading them), and starts handing over
//     the held leases another worker asked for;
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
//  6. deletes ended leases whose shards left the stream once their children
//     have checkpoints (below);
//  7. deletes worker rows unchanged for 5 × LeaseDuration.
//
// Besides, a worker wakes up exactly when a lease of another worker
// expires, so a dead worker's shards are taken within LeaseDuration plus one
// CycleInterval of its last renewal (the observers see its last renewal at
// most one cycle late), in one cycle when the survivors can absorb them.
//
// # Graceful handoff
//
// Stealing is a request, not a take: the new worker sets the lease's
// NextOwner without changing its counter. The owner sees it in the lease
// returned by its next write (a checkpoint, usually within a commit interval,
// or a renewal) or at its next cycle, whichever comes first. It stops
// reading the shard, waits (bounded by HandoffTimeout, default
// LeaseDuration/2) for the records in flight to be committed, writes their
// checkpoint and frees the lease. The requester takes the free lease at its
// next cycle and starts exactly at the checkpoint: zero duplicates on a
// planned move, when the application commits what it was handed within the
// timeout; past it the lease is freed at the last checkpoint, and the
// records after it are read again by the next owner. A new worker asks for
// its share in its first cycle and owns it in its second.
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
// Stream.Close is the same for every lease at once: after the worker stopped
// reading and wrote its checkpoints, it frees every lease and deletes its
// worker row, so the others take the shards at their next cycle.
//
// # Resharding and cleanup
//
// Every worker creates the leases of the shards it lists that have none,
// parents before children, so that no worker sees a child's lease before
// the leases of the parents it names; a child that a shard's end names is
// created at once when all its parents have leases, else at the next
// listing. A worker that reads a shard to its end writes the shard-end
// marker (checkpoint.Ended()) into its lease, which also frees it. A child
// becomes readable once all its parents are ended or gone.
//
// An ended lease is a tombstone: it tells every worker, however stale its
// listing, that its shard was read to its end, so none creates it again
// and reads it twice. It is deleted, by any worker, only once its shard is
// gone from the stream (listed before and missing from the last listing,
// or named as a parent there and missing), at least one lease names it as
// a parent, and every lease naming it as a parent has a checkpoint
// (Lease.HasCheckpoint); an owner alone is not enough. The deletion is
// conditional on the counter it was listed with.
//
// # Lease changes
//
// A worker starts reading a shard when it takes its lease (from the lease's
// checkpoint, or from the shard's start when a parent was read), stops
// reading it and hands it over on a handoff request (above), and stops at
// once when it loses it: after a failed checkpoint or renewal, a listing
// showing another owner, or its local expiry. kinesin.WithShardHooks tells
// the application about each (OnAssigned, OnRevoked, OnLost). A lost
// shard's records already handed out fail to Commit; the next owner reads
// them again from the last checkpoint: at-least-once.
//
// # Operators
//
// An Operator (NewOperator) is the view of a person or a tool on the leases
// of one (app, stream), as the kinesin command's `leases` and `checkpoints`
// subcommands use it: Observe lists them and judges each live or expired
// as a worker would (from counters it saw change on its own clock, so its
// judgement sharpens over successive calls), SetCheckpoints moves their
// checkpoints, backwards too, through the optional Admin interface of a
// store (refusing with ErrHeld while a live worker holds one, unless
// forced), and Release frees leases whatever worker holds them. Every write
// is conditional on the counter observed, and increments it: a worker that
// held the lease loses it, fenced as above, and takes it again from the new
// checkpoint.
//
// # Errors
//
//   - ErrLost (errors.Is): the lease is no longer this worker's. Store
//     methods return it when their condition fails; a worker stops reading
//     the shard.
//   - ErrExists: Store.Create found the lease.
//   - ErrHeld: Operator.SetCheckpoints saw a live worker hold a lease.
//   - ErrInvalid, checkpoint.ErrInvalid: a malformed argument.
//   - ErrInvalidOption: a bad option; the message names it (kinesin.Open
//     returns it).
//   - Anything else is the store's failure (wrapped, e.g. a DynamoDB
//     throttling error after the store's retries): the worker retries its
//     renewals, takes and listings every RenewInterval or CycleInterval and
//     logs them; a checkpoint that fails is retried at the next commit
//     interval.
//
// A write (take, renew, checkpoint, release) that fails with anything but
// ErrLost or a validation error (a deadline, a cancellation, a network
// error) may have been applied by the store, its reply lost: the worker
// would then hold a stale counter, and its next write would fail with
// ErrLost. So the worker reads the lease back (a List, bounded by
// RenewInterval and by the lease's local expiry, not by the write's ended
// context) and adopts it when it is this worker's with the counter the write
// would have produced (for a checkpoint: with that checkpoint; for a
// release: free); a Checkpoint then returns nil. When the lease reads back
// unchanged, the error is returned and the write retried as above; when it
// reads back as anything else, the lease is lost (ErrLost, Lost).
package lease
