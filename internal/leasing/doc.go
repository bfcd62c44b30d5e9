// Package leasing runs the lease protocol of package lease for one worker: a
// Manager takes, renews, balances, hands over and cleans up leases in a
// lease.Store and tells the engine's Leased assignment which shards to read
// through Events. The protocol itself (counters, expiry, the cycle, handoff,
// tombstones) is documented on package lease, whose options configure it.
//
//	m, err := leasing.New(store, "billing", "orders", opts...)
//	m.SetHooks(hooks)                  // optional, before Start
//	m.Sync(ctx, shards, true)          // create the leases of listed shards
//	m.Start(ctx)
//	for ev := range m.Events() {
//		switch ev.Kind {
//		case leasing.Acquired: // read ev.Lease.Shard from ev.Lease.Checkpoint
//		case leasing.Revoke:   // stop, wait for commits, m.Checkpoint, m.Release
//		case leasing.Lost:     // stop reading now
//		}
//	}
//	// while reading: m.Checkpoint(ctx, shard, cp) for committed positions
//	// on shutdown: stop readers, write checkpoints, then m.Close(ctx)
//
// Events are sent on one channel, in order, never blocking the Manager (they
// queue). Hooks run on the Manager's goroutine before the event is sent:
// they must not block nor call the Manager. Event.Valid reports, without a
// lock, whether the lease is still held by its local expiry: the engine
// checks it before handing out each record, so a paused worker stops at
// once. ErrClosed: the Manager is closed; ErrLost from Checkpoint or
// Release: the lease is no longer this worker's (a Lost event follows).
package leasing
