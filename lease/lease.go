package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// Lease is the state of one shard of (app, stream) in a lease store: who reads
// it, the fencing counter, how far it was read, and which shards it was made
// from.
type Lease struct {
	// Shard is the shard id, e.g. shardId-000000000007.
	Shard string
	// Owner is the id of the worker that holds the lease; "" when it is
	// free.
	Owner string
	// Counter grows by one with every write that changes ownership or
	// progress (take, renew, checkpoint, release). Writes by a holder are
	// conditional on the counter it holds: that fences a holder that lost
	// the lease. A worker judges a lease expired when it sees the counter
	// unchanged for the lease duration on its own monotonic clock.
	Counter uint64
	// Checkpoint is the position every record up to which was processed;
	// the zero Checkpoint when there is none yet. The shard-end marker
	// (checkpoint.Ended) says the shard was read to its end.
	Checkpoint checkpoint.Checkpoint
	// Parents are the ids of the shards this one was split or merged from
	// (none, one, or two for a merge), in the order given to Create.
	Parents []string
	// NextOwner is the worker that asked the owner to hand the lease over
	// (see Store.RequestHandoff); "" when none did. Take and Release clear
	// it. Asking leaves Counter unchanged.
	NextOwner string
}

// Ended reports whether the lease carries the shard-end marker: its shard was
// read to its end, and its children may be read.
func (l Lease) Ended() bool { return l.Checkpoint.ShardEnded }

// HasCheckpoint reports whether the lease holds a checkpoint: a position, a
// start checkpoint, or the shard-end marker.
func (l Lease) HasCheckpoint() bool { return !l.Checkpoint.IsZero() }

// Started reports whether the shard's reading started: the lease has an
// owner or a checkpoint. (An ended lease is deleted only once all its
// children have a checkpoint: see HasCheckpoint.)
func (l Lease) Started() bool { return l.Owner != "" || l.HasCheckpoint() }

// Clone returns a copy of l that shares no memory with it.
func (l Lease) Clone() Lease {
	l.Parents = slices.Clone(l.Parents)
	return l
}

// String formats l for logs.
func (l Lease) String() string {
	owner := l.Owner
	if owner == "" {
		owner = "(free)"
	}
	cp := "none"
	if l.HasCheckpoint() {
		cp = l.Checkpoint.String()
	}
	s := fmt.Sprintf("%s owner=%s counter=%d checkpoint=%s", l.Shard, owner, l.Counter, cp)
	if len(l.Parents) > 0 {
		s += fmt.Sprintf(" parents=%v", l.Parents)
	}
	if l.NextOwner != "" {
		s += " next=" + l.NextOwner
	}
	return s
}

// Worker is the liveness row of a worker in a lease store. Its counter grows
// with every heartbeat; a worker is live, for an observer, while it sees the
// counter change at least once per lease duration.
type Worker struct {
	ID      string
	Counter uint64
}

// The errors of stores. Match them with errors.Is: stores wrap them with the operation, the app, the stream and the
// shard.
var (
	// ErrLost is returned by a conditional write whose condition failed:
	// the lease is not (or no longer) held with the owner and counter the
	// caller gave, or was deleted. A holder that gets it has lost the
	// lease: it must stop reading the shard at once. It is also returned
	// for a lease the worker does not hold.
	ErrLost = errors.New("lease: lost")
	// ErrExists is returned by Store.Create for a lease that exists.
	ErrExists = errors.New("lease: already exists")
	// ErrInvalid is returned for a malformed argument: an empty shard or
	// worker id, an id a store cannot keep. Checkpoints that fail
	// checkpoint.Checkpoint.Validate are refused with an error wrapping
	// checkpoint.ErrInvalid instead.
	ErrInvalid = errors.New("lease: invalid argument")
	// ErrInvalidOption is wrapped by New's error for bad options.
	ErrInvalidOption = errors.New("lease: invalid option")
)

// Store keeps the leases and worker rows of every (app, stream).
//
// # Contract
//
// A Store implementation:
//   - keeps one lease per (app, stream, shard) and one worker row per (app,
//     stream, worker id), with (app, stream) pairs kept apart whatever
//     characters the names hold, and worker rows apart from leases even when
//     a worker id equals a shard id;
//   - makes every write conditional as each method says, atomically: of two
//     writes conditional on the same counter, at most one succeeds, the
//     other failing with an error wrapping ErrLost (ErrExists for Create);
//   - increments Counter by exactly one on every successful Take, Renew,
//     Checkpoint (that writes) and Release, and never otherwise
//     (RequestHandoff and Create leave or set it as documented);
//   - never moves a checkpoint backwards, comparing as
//     checkpoint.Checkpoint.Compare does;
//   - returns leases the caller owns (no shared Parents slice) and keeps
//     none it was given;
//   - validates arguments before writing, returning errors wrapping
//     ErrInvalid or checkpoint.ErrInvalid;
//   - returns errors wrapped with the operation, app, stream and shard;
//     wraps ctx.Err() when the context ends; may retry throttled or
//     transient failures for a bounded time, never forever;
//   - is safe for concurrent use.
//
// The checks are the suite in lease/leasetest; lease/memlease and
// lease/dynamolease pass it.
type Store interface {
	// List returns every lease and every worker row of (app, stream), each
	// sorted by id, in one (paginated) strongly consistent read.
	List(ctx context.Context, app, stream string) ([]Lease, []Worker, error)
	// Create stores a new free lease for l.Shard with l.Parents and
	// l.Checkpoint (the zero Checkpoint for none), Counter 0, no owner and
	// no NextOwner, unless a lease of that shard exists: then it fails with
	// ErrExists and changes nothing. l.Owner, l.Counter and l.NextOwner are
	// ignored.
	Create(ctx context.Context, app, stream string, l Lease) error
	// Take makes owner the owner of the lease of observed.Shard, if it is
	// still held by observed.Owner ("" for free) with observed.Counter: it
	// increments the counter and clears NextOwner. It returns the lease as
	// written, or ErrLost when the condition fails or the lease is gone.
	Take(ctx context.Context, app, stream string, observed Lease, owner string) (Lease, error)
	// Renew increments the counter of the lease of held.Shard if it is
	// still held by held.Owner (not "") with held.Counter, and returns it as
	// written (with any NextOwner a worker set), or ErrLost.
	Renew(ctx context.Context, app, stream string, held Lease) (Lease, error)
	// Checkpoint stores cp in the lease of held.Shard if it is still held
	// by held.Owner (not "") with held.Counter and cp is above the stored
	// checkpoint (by checkpoint.Checkpoint.Compare), incrementing the
	// counter. When cp is not above, it writes nothing and returns the
	// stored lease and no error, as long as the lease is still held so;
	// otherwise it fails with ErrLost. A cp failing Validate is refused
	// with checkpoint.ErrInvalid.
	Checkpoint(ctx context.Context, app, stream string, held Lease, cp checkpoint.Checkpoint) (Lease, error)
	// Release frees the lease of held.Shard if it is still held by
	// held.Owner (not "") with held.Counter: it removes the owner and
	// NextOwner and increments the counter. It returns the lease as
	// written, or ErrLost.
	Release(ctx context.Context, app, stream string, held Lease) (Lease, error)
	// Delete removes the lease of held.Shard if it is still held by
	// held.Owner ("" for free) with held.Counter, or fails with ErrLost.
	Delete(ctx context.Context, app, stream string, held Lease) error
	// RequestHandoff asks the owner of the lease of observed.Shard to hand
	// it over to worker to: it sets NextOwner to to, if the lease is still
	// owned by observed.Owner (not "") and has no NextOwner or NextOwner to.
	// It leaves the counter unchanged, so the owner's writes still succeed
	// and observers do not see the lease change. It returns the lease as
	// stored, or ErrLost.
	RequestHandoff(ctx context.Context, app, stream string, observed Lease, to string) (Lease, error)
	// Heartbeat increments the counter of worker's row, creating it with
	// counter 1 when absent, and returns it.
	Heartbeat(ctx context.Context, app, stream, worker string) (Worker, error)
	// DeleteWorker removes w.ID's row if its counter is still w.Counter,
	// or fails with ErrLost (also when the row is gone).
	DeleteWorker(ctx context.Context, app, stream string, w Worker) error
}

// CheckShardID reports whether id can name a lease: non-empty valid UTF-8.
// Stores may refuse more (lease/dynamolease refuses ids longer than 1,024 bytes
// and ids starting with "worker#").
func CheckShardID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty shard id", ErrInvalid)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: shard id %q is not valid UTF-8", ErrInvalid, id)
	}
	return nil
}

// CheckWorkerID reports whether id can name a worker: non-empty valid UTF-8.
func CheckWorkerID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty worker id", ErrInvalid)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: worker id %q is not valid UTF-8", ErrInvalid, id)
	}
	return nil
}
