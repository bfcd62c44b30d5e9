package checkpointtest_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/internal/flawtest"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// flawEnv names, in the environment of a child test process, the flaw of the
// store TestFlawedStore runs the suite against.
const flawEnv = "CHECKPOINTTEST_FLAW"

// TestSuiteCatchesFlaws runs the suite, in a child process each, against
// stores with one deliberate flaw, and checks that the cases meant to catch
// it fail, while the same store without a flaw passes.
func TestSuiteCatchesFlaws(t *testing.T) {
	flawtest.CatchesFlaws(t, flawEnv, "TestFlawedStore", map[string][]string{
		"none":                 nil,
		"stringCompare":        {"SequenceNumbersCompareAsIntegers"},
		"float64Compare":       {"SequenceNumbersCompareAsIntegers"},
		"overwrite":            {"ForwardOnly", "PartialThenWholeRecord", "ShardEndIsFinal", "MixedForwardAndBackward"},
		"endOverwritten":       {"ShardEndIsFinal", "MixedForwardAndBackward"},
		"wholeBeforeSub":       {"PartialThenWholeRecord"},
		"dropPartial":          {"PartialThenWholeRecord", "SubSequenceNumbersRoundTrip"},
		"int32Sub":             {"SubSequenceNumbersRoundTrip"},
		"ignoreApp":            {"AppsAndStreamsIsolated"},
		"joinedKey":            {"JoinedNamesDoNotCollide"},
		"noValidation":         {"InvalidRejectedWholly"},
		"validateWhileWriting": {"InvalidRejectedWholly"},
		"ignoreCtx":            {"DoneContext"},
		"returnsInternal":      {"CallerOwnsMaps"},
		"keepsSaveMap":         {"CallerOwnsMaps"},
		"nilEmpty":             {"EmptyLoad"},
		"firstPageOnly":        {"ThousandShards"},
		"setForwardOnly":       {"AdminSetMovesAnywhere"},
		"setNoValidation":      {"AdminSetInvalidRejectedWholly"},
		"deleteWholeGroup":     {"AdminDelete"},
		"listKeepsEmpty":       {"AdminListGroups"},
		"listSplitsAtSlash":    {"AdminListGroups"},
		"adminIgnoresCtx":      {"AdminDoneContext"},
	})
}

// TestFlawedStore runs the suite against the store with the flaw named in
// the environment; only TestSuiteCatchesFlaws runs it.
func TestFlawedStore(t *testing.T) {
	flaw := flawtest.Flaw(t, flawEnv)
	checkpointtest.RunConformanceTests(t, func(*testing.T) checkpointtest.Harness {
		return harness{&flawed{flaw: flaw, state: make(map[nsKey]map[string]checkpoint.Checkpoint)}}
	})
}

type harness struct{ store *flawed }

func (h harness) Store() checkpoint.Store { return h.store }
func (h harness) Names() (app, stream string) {
	return checkpointtest.UniqueName("app"), checkpointtest.UniqueName("stream")
}
func (h harness) Close() {}

func TestUniqueName(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		n := checkpointtest.UniqueName("app")
		if seen[n] {
			t.Fatalf("UniqueName returned %q twice", n)
		}
		seen[n] = true
		if !strings.HasPrefix(n, "app-") || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Fatalf("UniqueName(%q) = %q: want the prefix, then [a-z0-9-] only", "app", n)
		}
	}
}

// flawed is a correct store but for the flaw it is named.
type flawed struct {
	flaw  string
	mu    sync.Mutex
	state map[nsKey]map[string]checkpoint.Checkpoint
}

type nsKey struct{ app, stream string }

func (s *flawed) key(app, stream string) nsKey {
	switch s.flaw {
	case "ignoreApp":
		return nsKey{"", stream}
	case "joinedKey":
		return nsKey{app + "/" + stream, ""}
	}
	return nsKey{app, stream}
}

// above reports whether n replaces o.
func (s *flawed) above(n, o checkpoint.Checkpoint) bool {
	positions := !n.ShardEnded && !o.ShardEnded
	switch s.flaw {
	case "overwrite":
		return true
	case "endOverwritten":
		if o.ShardEnded {
			return !n.ShardEnded
		}
	case "stringCompare":
		if positions && n.SequenceNumber != o.SequenceNumber {
			return n.SequenceNumber > o.SequenceNumber
		}
	case "float64Compare":
		if positions {
			a, _ := strconv.ParseFloat(n.SequenceNumber, 64)
			b, _ := strconv.ParseFloat(o.SequenceNumber, 64)
			if a != b {
				return a > b
			}
			n.SequenceNumber = o.SequenceNumber
		}
	case "wholeBeforeSub":
		if positions && checkpoint.CompareSequence(n.SequenceNumber, o.SequenceNumber) == 0 {
			sub := func(c checkpoint.Checkpoint) int64 {
				if !c.Partial {
					return -1
				}
				return c.SubSequenceNumber
			}
			return sub(n) > sub(o)
		}
	}
	return n.Compare(o) > 0
}

func (s *flawed) Load(ctx context.Context, app, stream string) (map[string]checkpoint.Checkpoint, error) {
	if err := ctx.Err(); err != nil && s.flaw != "ignoreCtx" {
		return nil, fmt.Errorf("flawed: load: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.key(app, stream)
	stored := s.state[k]
	switch s.flaw {
	case "returnsInternal":
		if stored == nil {
			stored = make(map[string]checkpoint.Checkpoint)
			s.state[k] = stored
		}
		return stored, nil
	case "nilEmpty":
		if len(stored) == 0 {
			return nil, nil
		}
	case "firstPageOnly":
		out := make(map[string]checkpoint.Checkpoint)
		for _, shard := range slices.Sorted(maps.Keys(stored)) {
			if len(out) == 100 {
				break
			}
			out[shard] = stored[shard]
		}
		return out, nil
	}
	out := maps.Clone(stored)
	if out == nil {
		out = make(map[string]checkpoint.Checkpoint)
	}
	return out, nil
}

func (s *flawed) Save(ctx context.Context, app, stream string, cps map[string]checkpoint.Checkpoint) error {
	if err := ctx.Err(); err != nil && s.flaw != "ignoreCtx" {
		return fmt.Errorf("flawed: save: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flaw != "noValidation" && s.flaw != "validateWhileWriting" {
		for shard, cp := range cps {
			if err := cp.Validate(); err != nil {
				return fmt.Errorf("flawed: save: shard %s: %w", shard, err)
			}
		}
	}
	k := s.key(app, stream)
	stored := s.state[k]
	if stored == nil {
		if s.flaw == "keepsSaveMap" && cps != nil {
			s.state[k] = cps
			return nil
		}
		stored = make(map[string]checkpoint.Checkpoint)
		s.state[k] = stored
	}
	for _, shard := range slices.Sorted(maps.Keys(cps)) {
		cp := cps[shard]
		if s.flaw == "validateWhileWriting" {
			if err := cp.Validate(); err != nil {
				return fmt.Errorf("flawed: save: shard %s: %w", shard, err)
			}
		}
		switch s.flaw {
		case "dropPartial":
			cp.Partial, cp.SubSequenceNumber = false, 0
		case "int32Sub":
			cp.SubSequenceNumber = int64(int32(cp.SubSequenceNumber))
		}
		if old, ok := stored[shard]; ok && !s.above(cp, old) {
			continue
		}
		stored[shard] = cp
	}
	return nil
}

func (s *flawed) adminCtx(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil && s.flaw != "adminIgnoresCtx" {
		return fmt.Errorf("flawed: %s: %w", op, err)
	}
	return nil
}

func (s *flawed) List(ctx context.Context) ([]checkpoint.Group, error) {
	if err := s.adminCtx(ctx, "list"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var groups []checkpoint.Group
	for k, stored := range s.state {
		if len(stored) == 0 && s.flaw != "listKeepsEmpty" {
			continue
		}
		g := checkpoint.Group{App: k.app, Stream: k.stream}
		if s.flaw == "listSplitsAtSlash" {
			joined := k.app + "/" + k.stream
			i := strings.LastIndex(joined, "/")
			g = checkpoint.Group{App: joined[:i], Stream: joined[i+1:]}
		}
		groups = append(groups, g)
	}
	slices.SortFunc(groups, checkpoint.CompareGroups)
	return slices.Compact(groups), nil
}

func (s *flawed) Set(ctx context.Context, app, stream string, cps map[string]checkpoint.Checkpoint) error {
	if s.flaw == "setForwardOnly" {
		return s.Save(ctx, app, stream, cps)
	}
	if err := s.adminCtx(ctx, "set"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flaw != "setNoValidation" {
		for shard, cp := range cps {
			if err := cp.Validate(); err != nil {
				return fmt.Errorf("flawed: set: shard %s: %w", shard, err)
			}
		}
	}
	k := s.key(app, stream)
	if s.state[k] == nil {
		s.state[k] = make(map[string]checkpoint.Checkpoint)
	}
	maps.Copy(s.state[k], cps)
	return nil
}

func (s *flawed) Delete(ctx context.Context, app, stream string, shards []string) error {
	if err := s.adminCtx(ctx, "delete"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.key(app, stream)
	if s.flaw == "deleteWholeGroup" && len(shards) > 0 {
		delete(s.state, k)
		return nil
	}
	for _, shard := range shards {
		delete(s.state[k], shard)
	}
	return nil
}
