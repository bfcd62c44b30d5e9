package consumer

import (
	"slices"
	"strings"
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
)

// ShardState is what a shard is doing, as Stats reports it.
type ShardState int

// The states of a shard.
const (
	// Waiting: known, not read yet: a parent is not read to its end.
	Waiting ShardState = iota + 1
	// Reading: its reader runs.
	Reading
	// Paused: its reader waits for records to be committed
	// (WithMaxUncommitted).
	Paused
	// Retrying: its reader's calls fail and are retried.
	Retrying
	// Ended: read to its end; its end marker is written once its records
	// are all committed.
	Ended
	// Finished: read to its end and its end marker written.
	Finished
	// HandedOver: another worker reads it now (a lease handed over or
	// lost).
	HandedOver
)

var stateNames = [...]string{Waiting: "waiting", Reading: "reading", Paused: "paused", Retrying: "retrying",
	Ended: "ended", Finished: "finished", HandedOver: "handed_over"}

func (s ShardState) String() string {
	if s > 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// ShardStats is a snapshot of a shard.
type ShardStats struct {
	ShardID string
	State   ShardState
	// Checkpoint is the committed position (the zero Checkpoint when none).
	Checkpoint checkpoint.Checkpoint
	// LastSequenceNumber is the sequence number of the last record
	// delivered; "" before one.
	LastSequenceNumber string
	// MillisBehindLatest is how far behind the shard's tip the last fetch
	// was; -1 before one.
	MillisBehindLatest int64
	// Delivered counts the records delivered by this process; Uncommitted
	// those delivered and not committed.
	Delivered   uint64
	Uncommitted int
	// PausedSince is when the shard paused at WithMaxUncommitted (Paused).
	PausedSince time.Time
	// FailingSince, Operation and LastError describe its failures
	// (Retrying).
	FailingSince time.Time
	Operation    string
	LastError    error
}

// Stats is a snapshot of the engine.
type Stats struct {
	// Shards are the shards the process reads or read, by id.
	Shards []ShardStats
	// MemoryHeld is the bytes of records held (and reserved for fetches)
	// over every shard, of MemoryBudget.
	MemoryHeld, MemoryBudget int64
	// WorkerID and LeasesHeld describe a worker among others (Leased).
	WorkerID   string
	LeasesHeld int
	// LastCheckpointWrite is when checkpoints were last written;
	// CheckpointsFailingSince and CheckpointError describe writes failing
	// since.
	LastCheckpointWrite     time.Time
	CheckpointsFailingSince time.Time
	CheckpointError         error
}

// setState records what a shard is doing, for Stats; the zero state forgets
// it.
func (e *Engine) setState(id string, s ShardState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s == 0 {
		delete(e.states, id)
		return
	}
	e.states[id] = s
}

// Stats returns a snapshot of the engine. It does no I/O and waits on
// nothing but short locks.
func (e *Engine) Stats() Stats {
	type item struct {
		id    string
		state ShardState
	}
	var items []item
	trackers := make(map[string]bool)
	e.mu.Lock()
	for id, s := range e.states {
		items = append(items, item{id, s})
	}
	for id := range e.trackers {
		trackers[id] = true
	}
	e.mu.Unlock()
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.id, b.id) })
	st := Stats{WorkerID: e.assign.workerID(), LeasesHeld: e.assign.held(), MemoryHeld: e.budget.Held(), MemoryBudget: e.budget.Limit()}
	for _, it := range items {
		ss := ShardStats{ShardID: it.id, State: it.state, MillisBehindLatest: -1}
		if tr := e.tracker(it.id); tr != nil {
			ss.Checkpoint, _, _ = tr.Pending()
			ss.Delivered, ss.LastSequenceNumber = tr.Added()
			ss.Uncommitted = tr.Outstanding()
			ss.PausedSince, _ = tr.PausedSince()
		} else if it.state == Finished {
			ss.Checkpoint = checkpoint.Ended()
		}
		ss.FailingSince, ss.Operation, ss.MillisBehindLatest, ss.LastError = e.cfg.Health.failing(it.id)
		if ss.State == Reading {
			switch {
			case !ss.FailingSince.IsZero():
				ss.State = Retrying
			case !ss.PausedSince.IsZero():
				ss.State = Paused
			}
		}
		st.Shards = append(st.Shards, ss)
	}
	e.ckMu.Lock()
	st.LastCheckpointWrite, st.CheckpointsFailingSince, st.CheckpointError = e.ckLast, e.ckFailing, e.ckErr
	e.ckMu.Unlock()
	return st
}

// stateCounts counts the shards in each state, for the telemetry.
func (e *Engine) stateCounts() map[string]int64 {
	out := make(map[string]int64)
	for _, s := range e.Stats().Shards {
		out[s.State.String()]++
	}
	return out
}

// wrote records the outcome of a write of checkpoints, for Stats.
func (e *Engine) wrote(err error) {
	e.ckMu.Lock()
	defer e.ckMu.Unlock()
	if err == nil {
		e.ckLast, e.ckFailing, e.ckErr = time.Now(), time.Time{}, nil
		return
	}
	if e.ckFailing.IsZero() {
		e.ckFailing = time.Now()
	}
	e.ckErr = err
}
