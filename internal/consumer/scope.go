package consumer

import (
	"fmt"
	"slices"
	"strings"
)

// The scope of a read (Config.Shards): only the shards named are read, not
// their children. A shard named whose parents are not is read as if they
// were read to their end: from its checkpoint, else from the configured
// start (its parents were not read).

// inScope reports whether shard id is read.
func (e *Engine) inScope(id string) bool { return e.cfg.Shards == nil || e.cfg.Shards[id] }

// parentsDone reports whether n may be read: every parent in scope is read to
// its end (see graph.parentsDone).
func (e *Engine) parentsDone(n *node) bool {
	if e.cfg.Shards == nil {
		return e.graph.parentsDone(n)
	}
	for _, p := range n.parents {
		if !e.inScope(p) {
			continue
		}
		if pn, ok := e.graph.nodes[p]; ok && pn.phase != done {
			return false
		}
	}
	return true
}

// checkScope returns an error naming the shards of Config.Shards the first
// listing of the stream did not show.
func (e *Engine) checkScope() error {
	var unknown []string
	for id := range e.cfg.Shards {
		if _, ok := e.graph.nodes[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return &ScopeError{Unknown: unknown}
}

// ScopeError is the error of Start when shards to read (Config.Shards) are
// not shards of the stream.
type ScopeError struct{ Unknown []string }

func (e *ScopeError) Error() string {
	return fmt.Sprintf("the stream has no shard %s", strings.Join(e.Unknown, ", "))
}
