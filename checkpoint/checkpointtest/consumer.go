package checkpointtest

import (
	"context"
	"testing"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/storetest"
)

// consumer adapts the consumer scenarios to checkpoint stores.
var consumer = storetest.Kind[checkpoint.Store]{
	Options: func(store checkpoint.Store, _ string) []kinesin.Option {
		return []kinesin.Option{kinesin.WithCheckpointer(store)}
	},
	Held: func(ctx context.Context, store checkpoint.Store, app, stream string) (map[string]checkpoint.Checkpoint, error) {
		return store.Load(ctx, app, stream)
	},
	Faulty: func(t *testing.T, store checkpoint.Store) storetest.Faulty[checkpoint.Store] {
		f := NewFaulty(t, store)
		return storetest.Faulty[checkpoint.Store]{
			Store:   f,
			Inner:   store,
			Writes:  func() int { return f.Calls(OpSave) },
			FailAll: func(err error) func() { return f.Inject(Fault{Action: Fail(err)}).Remove },
		}
	},
}

// RunConsumerTests runs the consumer of package kinesin on checkpoint stores
// that newStore makes, against the in-memory Kinesis of package kinesistest,
// each scenario as a subtest of t:
//
//   - RestartResumesAfterCheckpoint, with newStore;
//   - OutageLosesNoCommit, with an outage of a store newStore makes
//     injected by a Faulty wrapping it: every call fails, with the store
//     untouched.
//
// A store with a way to fail for real (a server that can be stopped, a
// client that can be made to fail) may run OutageLosesNoCommit again with
// it.
func RunConsumerTests(t *testing.T, newStore func(t *testing.T) checkpoint.Store) {
	t.Helper()
	storetest.Run(t, consumer, newStore)
}

// RestartResumesAfterCheckpoint consumes part of a backlog with commits,
// crashes (the context ends: no Flush, no Close), and checks that a new
// process, with a new store, gets every record after the checkpoints the
// store kept and none before, and that its Close writes the last ones.
//
// newStore returns a store on a new client of the same storage each time it
// is called: once for the first process, once for the new one. An
// in-process store returns the same store each time.
func RestartResumesAfterCheckpoint(t *testing.T, newStore func(t *testing.T) checkpoint.Store) {
	t.Helper()
	storetest.RestartResumesAfterCheckpoint(t, consumer, newStore)
}

// Outage makes a store fail and recover, for OutageLosesNoCommit.
type Outage struct {
	// Store is the store under test; Begin and End act on it.
	Store checkpoint.Store
	// Begin starts an outage: every write of Store fails until End. It is
	// called twice, the second time after End.
	Begin func(t *testing.T)
	// During, if not nil, runs during the first outage, once at least
	// three writes of the consumer's commits failed (and ended); it fails
	// t when the outage did not show. kept is what Store held for (app,
	// stream) when the outage began.
	During func(t *testing.T, app, stream string, kept map[string]checkpoint.Checkpoint)
	// End ends the outage.
	End func(t *testing.T)
}

// OutageLosesNoCommit makes every write of the store fail for a while, then
// lets them through: the consumer keeps the newest positions and writes them
// once the store answers. An outage longer than kinesin.StoreOutage then
// ends a stream with a *kinesin.CheckpointError wrapping the store's error,
// an E.
func OutageLosesNoCommit[E error](t *testing.T, o Outage) {
	t.Helper()
	storetest.OutageLosesNoCommit[checkpoint.Store, E](t, consumer, storetest.Outage[checkpoint.Store](o))
}
