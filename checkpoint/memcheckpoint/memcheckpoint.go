// Package memcheckpoint is an in-process checkpoint.Store: the default store of
// kinesin, and the one tests use.
//
// It meets the whole contract of package checkpoint, as checked by the suite
// in checkpoint/checkpointtest: writes only go forward per shard (by
// checkpoint.Checkpoint.Compare), a Save holding an invalid checkpoint writes
// nothing, a done context fails the call, Load returns a copy the caller
// owns, and every method is safe for concurrent use. A Save is atomic: it
// applies all of its shards or none.
//
// Checkpoints live as long as the Store: a process restart starts from an
// empty state. Store implements checkpoint.Admin too: Set and Delete are
// atomic like Save.
//
// To test a consumer whose store fails, hangs or answers late, wrap a Store
// in a checkpointtest.Faulty.
package memcheckpoint

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// Store is an in-process checkpoint.Store. The zero value is an empty store,
// as New returns.
type Store struct {
	mu    sync.Mutex
	state map[namespace]map[string]checkpoint.Checkpoint
}

type namespace struct{ app, stream string }

var _ checkpoint.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{state: make(map[namespace]map[string]checkpoint.Checkpoint)}
}

// Load returns a copy of every checkpoint stored for (app, stream), by shard
// id: an empty non-nil map when there is none.
//
// It fails with an error wrapping ctx.Err() when ctx is done.
func (s *Store) Load(ctx context.Context, app, stream string) (map[string]checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: load %s/%s: %w", app, stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cps := maps.Clone(s.state[namespace{app, stream}])
	if cps == nil {
		cps = make(map[string]checkpoint.Checkpoint)
	}
	return cps, nil
}

// Save stores, for each shard, the given checkpoint when it is above the
// stored one (by checkpoint.Checkpoint.Compare); a checkpoint that is not
// leaves the stored one unchanged and is not an error.
//
// Save is all or nothing: when one checkpoint fails Validate, it returns an
// error wrapping checkpoint.ErrInvalid that names the shard (the first in
// lexical order) and stores nothing. It also fails, storing nothing, with an
// error wrapping ctx.Err() when ctx is done. Save keeps no reference to
// checkpoints.
func (s *Store) Save(ctx context.Context, app, stream string, checkpoints map[string]checkpoint.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: save %s/%s: %w", app, stream, err)
	}
	for _, shard := range slices.Sorted(maps.Keys(checkpoints)) {
		if err := checkpoints[shard].Validate(); err != nil {
			return fmt.Errorf("memory: save %s/%s: shard %s: %w", app, stream, shard, err)
		}
	}
	if len(checkpoints) == 0 {
		return nil
	}
	if s.state == nil {
		s.state = make(map[namespace]map[string]checkpoint.Checkpoint)
	}
	ns := namespace{app, stream}
	stored := s.state[ns]
	if stored == nil {
		stored = make(map[string]checkpoint.Checkpoint, len(checkpoints))
		s.state[ns] = stored
	}
	for shard, cp := range checkpoints {
		if old, ok := stored[shard]; ok && cp.Compare(old) <= 0 {
			continue
		}
		stored[shard] = cp
	}
	return nil
}

var _ checkpoint.Admin = (*Store)(nil)

// List returns every (app, stream) pair holding at least one checkpoint,
// sorted by app, then stream.
func (s *Store) List(ctx context.Context) ([]checkpoint.Group, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: list: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	groups := make([]checkpoint.Group, 0, len(s.state))
	for ns, cps := range s.state {
		if len(cps) > 0 {
			groups = append(groups, checkpoint.Group{App: ns.app, Stream: ns.stream})
		}
	}
	slices.SortFunc(groups, checkpoint.CompareGroups)
	return groups, nil
}

// Set stores the given checkpoints whatever is stored, backwards too. Like
// Save, it is all or nothing: a checkpoint failing Validate fails it, naming
// the shard, with nothing stored.
func (s *Store) Set(ctx context.Context, app, stream string, checkpoints map[string]checkpoint.Checkpoint) error {
	return s.edit(ctx, "set", app, stream, func(stored map[string]checkpoint.Checkpoint) error {
		for _, shard := range slices.Sorted(maps.Keys(checkpoints)) {
			if err := checkpoints[shard].Validate(); err != nil {
				return fmt.Errorf("shard %s: %w", shard, err)
			}
		}
		maps.Copy(stored, checkpoints)
		return nil
	})
}

// Delete removes the checkpoints of shards; a shard without one is skipped.
func (s *Store) Delete(ctx context.Context, app, stream string, shards []string) error {
	return s.edit(ctx, "delete", app, stream, func(stored map[string]checkpoint.Checkpoint) error {
		for _, shard := range shards {
			delete(stored, shard)
		}
		return nil
	})
}

// edit runs change on the checkpoints of (app, stream) under the lock,
// failing first when ctx is done, and drops the namespace when it is left
// empty.
func (s *Store) edit(ctx context.Context, verb, app, stream string, change func(map[string]checkpoint.Checkpoint) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s %s/%s: %w", verb, app, stream, err)
	}
	if s.state == nil {
		s.state = make(map[namespace]map[string]checkpoint.Checkpoint)
	}
	ns := namespace{app, stream}
	stored := s.state[ns]
	if stored == nil {
		stored = make(map[string]checkpoint.Checkpoint)
	}
	if err := change(stored); err != nil {
		return fmt.Errorf("memory: %s %s/%s: %w", verb, app, stream, err)
	}
	if len(stored) == 0 {
		delete(s.state, ns)
	} else {
		s.state[ns] = stored
	}
	return nil
}
