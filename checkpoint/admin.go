package checkpoint

import (
	"cmp"
	"context"
)

// Admin is what a Store may offer operators and their tools besides the
// consumer's Load and Save: listing the consumer groups it holds, moving a
// shard's checkpoint anywhere (backwards too), and deleting checkpoints.
// The kinesin command's `checkpoints` subcommands use it; programs may too.
//
// It is optional: a Store that does not implement it still works with the
// consumer. The stores of this module, and checkpoint/redischeckpoint,
// implement it; checkpointtest.RunConformanceTests checks it on every store
// that does.
//
// Moving a checkpoint does not reach a consumer that runs: it keeps reading
// from the position it holds in memory, and its next Save moves the
// checkpoint forward from the one set. Stop the consumers of the group
// first, then set or delete, then start them: they resume from the
// checkpoints as they are then. A Store cannot tell whether a consumer runs;
// with shard leases (package lease), the checkpoints live in the leases, and
// lease.SetCheckpoints refuses while live workers hold them.
//
// # Contract
//
// An Admin implementation, besides the contract of Store:
//   - Set stores each checkpoint given whatever the stored one is (above,
//     below, equal or none), validating every one first: a Set holding an
//     invalid checkpoint or shard id writes nothing and returns an error
//     wrapping ErrInvalid that names the shard. After Set, Save moves
//     forward from the checkpoints Set stored;
//   - Delete removes the checkpoints of the shards given; a shard without
//     one is not an error. Save then stores any checkpoint for them;
//   - List returns every (app, stream) pair holding at least one
//     checkpoint, each once, sorted by app then stream, the names as given
//     to Save and Set whatever characters they hold;
//   - neither Set nor Delete need be atomic across shards (a retry is
//     harmless); each wraps ctx.Err() when the context ends, and writes
//     nothing when it was done before the call.
type Admin interface {
	Store
	// List returns every (app, stream) pair that holds at least one
	// checkpoint, sorted by app, then stream. It may read the whole store
	// (a DynamoDB Scan, a Redis SCAN): it is for operators, not for the
	// consumer.
	List(ctx context.Context) ([]Group, error)
	// Set stores the given checkpoints of (app, stream), by shard id,
	// whatever is stored: unlike Save it moves checkpoints backwards too.
	Set(ctx context.Context, app, stream string, checkpoints map[string]Checkpoint) error
	// Delete removes the checkpoints of the given shards of (app, stream).
	// A shard without a checkpoint is skipped.
	Delete(ctx context.Context, app, stream string, shards []string) error
}

// Group names the checkpoints of one consumer group on one stream: an app
// (kinesin.WithApp) and a stream name.
type Group struct {
	App    string
	Stream string
}

// CompareGroups orders groups by app, then stream, as Admin.List sorts
// them.
func CompareGroups(a, b Group) int {
	if c := cmp.Compare(a.App, b.App); c != 0 {
		return c
	}
	return cmp.Compare(a.Stream, b.Stream)
}
