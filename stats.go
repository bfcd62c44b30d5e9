package kinesin

import (
	"time"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/internal/consumer"
)

// ShardState is what a shard is doing, as Stats reports it.
type ShardState string

// The states of a shard. The same names are the values of the
// kinesin.shard.state attribute of the kinesin.shards.state metric.
const (
	// ShardWaiting: known and not read yet: a parent is not read to its end.
	ShardWaiting ShardState = "waiting"
	// ShardReading: its records are being read.
	ShardReading ShardState = "reading"
	// ShardPaused: reading waits for records to be committed: those of the
	// shard delivered and not committed reached WithMaxUncommitted, or those
	// the stream holds reached WithMemoryBudget.
	ShardPaused ShardState = "paused"
	// ShardRetrying: its reads fail and are retried (RetryingSince,
	// Operation, LastError); past WithStallTimeout the stream fails.
	ShardRetrying ShardState = "retrying"
	// ShardEnded: read to its end; its end marker is written once its
	// records are all committed.
	ShardEnded ShardState = "ended"
	// ShardFinished: read to its end and its end marker written.
	ShardFinished ShardState = "finished"
	// ShardHandedOver: another worker reads it now (WithLeases): its lease
	// was handed over or lost.
	ShardHandedOver ShardState = "handed_over"
)

// ShardStats is what a stream knows of one of its shards.
type ShardStats struct {
	ShardID string
	State   ShardState
	// Checkpoint is the committed position: every record up to it was
	// committed (the zero Checkpoint before any).
	Checkpoint checkpoint.Checkpoint
	// LastSequenceNumber is the sequence number of the last record
	// delivered; "" before one.
	LastSequenceNumber string
	// MillisBehindLatest is how far behind the shard's tip the last fetch
	// was, in milliseconds; -1 before one.
	MillisBehindLatest int64
	// Delivered counts the records this stream delivered from the shard;
	// Uncommitted those delivered and not committed.
	Delivered   uint64
	Uncommitted int
	// PausedSince is when the shard paused (ShardPaused): at
	// WithMaxUncommitted, or waiting for room in WithMemoryBudget.
	PausedSince time.Time
	// RetryingSince is when its reads started failing, Operation the call
	// that failed last and LastError its error (ShardRetrying).
	RetryingSince time.Time
	Operation     string
	LastError     error
}

// Stats is a snapshot of a stream: its shards and its health.
type Stats struct {
	// Shards are the shards the stream reads or has read, by id (with
	// WithLeases, those this worker was assigned).
	Shards []ShardStats
	// ShardsOwned counts the shards being read (reading, paused or
	// retrying).
	ShardsOwned int
	// MemoryHeld is the bytes of records the stream holds (fetched, queued,
	// delivered and not committed, and reserved for the fetches under way),
	// of MemoryBudget (WithMemoryBudget).
	MemoryHeld, MemoryBudget int64
	// WorkerID is this worker's id and LeasesHeld how many leases it holds
	// (WithLeases).
	WorkerID   string
	LeasesHeld int
	// LastCheckpointWrite is when committed positions were last written;
	// CheckpointsFailingSince and CheckpointError tell writes that fail
	// (past WithStoreOutage the stream fails).
	LastCheckpointWrite     time.Time
	CheckpointsFailingSince time.Time
	CheckpointError         error
}

// Stats returns a snapshot of the stream. It is cheap, does no I/O, and may
// be called from any goroutine, at any time, even after Close.
func (s *Stream[T]) Stats() Stats {
	es := s.eng.Stats()
	st := Stats{
		WorkerID: es.WorkerID, LeasesHeld: es.LeasesHeld, MemoryHeld: es.MemoryHeld, MemoryBudget: es.MemoryBudget,
		LastCheckpointWrite:     es.LastCheckpointWrite,
		CheckpointsFailingSince: es.CheckpointsFailingSince, CheckpointError: es.CheckpointError,
		Shards: make([]ShardStats, len(es.Shards)),
	}
	for i, sh := range es.Shards {
		state := ShardState(sh.State.String())
		st.Shards[i] = ShardStats{
			ShardID: sh.ShardID, State: state, Checkpoint: sh.Checkpoint, LastSequenceNumber: sh.LastSequenceNumber,
			MillisBehindLatest: sh.MillisBehindLatest, Delivered: sh.Delivered, Uncommitted: sh.Uncommitted,
			PausedSince: sh.PausedSince, RetryingSince: sh.FailingSince, Operation: sh.Operation, LastError: sh.LastError,
		}
		switch sh.State {
		case consumer.Reading, consumer.Paused, consumer.Retrying:
			st.ShardsOwned++
		}
	}
	return st
}
