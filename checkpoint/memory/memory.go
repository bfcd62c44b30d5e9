// Package memory is an in-process checkpoint.Store: the default store of
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
// empty state.
//
// # Faults
//
// For tests of a consumer whose store is down, FailWith makes every call fail
// until it is called again with nil, and FailNext fails only the next few
// calls. Saves and Writes count the calls made and the checkpoints actually
// changed.
package memory

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
	mu     sync.Mutex
	state  map[namespace]map[string]checkpoint.Checkpoint
	fail   error // set by FailWith
	next   error // set by FailNext
	nextN  int   // calls left to fail with next
	saves  int
	writes int
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
// It fails with an error wrapping ctx.Err() when ctx is done, and with the
// error set by FailWith or FailNext.
func (s *Store) Load(ctx context.Context, app, stream string) (map[string]checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: load %s/%s: %w", app, stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.injected(); err != nil {
		return nil, fmt.Errorf("memory: load %s/%s: %w", app, stream, err)
	}
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
// error wrapping ctx.Err() when ctx is done, and with the error set by
// FailWith or FailNext. Save keeps no reference to checkpoints.
func (s *Store) Save(ctx context.Context, app, stream string, checkpoints map[string]checkpoint.Checkpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: save %s/%s: %w", app, stream, err)
	}
	if err := s.injected(); err != nil {
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
		s.writes++
	}
	return nil
}

// FailWith makes every later Load and Save fail with an error wrapping err,
// without touching the stored checkpoints, until FailWith(nil) is called. A
// failed Save still counts in Saves. FailWith takes precedence over FailNext,
// whose count it does not consume.
func (s *Store) FailWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// FailNext makes the next n calls of Load or Save fail with an error
// wrapping err, then lets calls through again: a store that is down for a
// while. It replaces any earlier FailNext; FailNext(0, nil) cancels it. A
// call that fails on its done context does not count among the n.
func (s *Store) FailNext(n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil || n <= 0 {
		s.next, s.nextN = nil, 0
		return
	}
	s.next, s.nextN = err, n
}

// injected returns the error a call must fail with, if any, consuming one
// FailNext failure. s.mu is held.
func (s *Store) injected() error {
	if s.fail != nil {
		return s.fail
	}
	if s.nextN > 0 {
		s.nextN--
		return s.next
	}
	return nil
}

// Saves returns how many times Save was called, whatever its outcome.
func (s *Store) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// Writes returns how many shard checkpoints Save actually changed: a
// checkpoint ignored because it is not above the stored one does not count.
func (s *Store) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}
