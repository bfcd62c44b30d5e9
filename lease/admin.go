package lease

import (
	"context"
	"errors"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// ErrHeld is returned by Operator.SetCheckpoints, without force, when a
// live worker holds one of the leases: the Operator saw its counter change
// (a renewal, a take). Stop the workers, or pass force.
var ErrHeld = errors.New("lease: held by a live worker")

// Admin is what a Store may offer operators and their tools besides the
// protocol's calls: moving a lease's checkpoint anywhere, backwards too. The
// kinesin command's `checkpoints set` and `checkpoints reset` use it through
// Operator.SetCheckpoints; programs may too.
//
// It is optional: a Store that does not implement it still works with the
// consumer. lease/memlease and lease/dynamolease implement it;
// leasetest.RunConformanceTests checks it on every store that does.
//
// Listing leases, and releasing one whatever worker holds it, need no more
// than Store: List, and Release given the lease as listed (see Operator).
//
// # Contract
//
// SetCheckpoint is a conditional write like the others: it succeeds
// atomically or fails with ErrLost, and increments Counter by exactly one
// when it succeeds, which fences the holder the lease had (its next write,
// conditional on the counter it held, fails with ErrLost, and it stops
// reading the shard). It keeps Owner, NextOwner and Parents; it validates
// cp (checkpoint.ErrInvalid) and the shard id (ErrInvalid) before writing.
type Admin interface {
	Store
	// SetCheckpoint stores cp in the lease of observed.Shard if it is still
	// held by observed.Owner ("" for free) with observed.Counter, whatever
	// the stored checkpoint is (unlike Checkpoint, it moves backwards too),
	// and increments the counter. The zero Checkpoint removes the lease's
	// checkpoint: its shard is then read as one never read (from the
	// group's start, or where its parents' reads started). It returns the
	// lease as written, or ErrLost.
	SetCheckpoint(ctx context.Context, app, stream string, observed Lease, cp checkpoint.Checkpoint) (Lease, error)
}
