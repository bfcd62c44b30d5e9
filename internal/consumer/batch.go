package consumer

import (
	"context"
	"time"

	"github.com/kinesin-go/kinesin/internal/commit"
)

// Record is one record for the application, before decoding: a Kinesis
// record, or one user record of a KPL aggregate. The typed face copies it
// into its own record type.
type Record struct {
	Data              []byte
	PartitionKey      string
	ExplicitHashKey   string
	SequenceNumber    string
	SubSequenceNumber int64
	ShardID           string
	ArrivalTime       time.Time
	// MillisBehindLatest is how far behind the tip of its shard the fetch
	// holding the record was.
	MillisBehindLatest int64
	// Tracker and Index commit the record (Tracker.Commit(Index)) and gate
	// its hand-out (Engine.HandOut).
	Tracker *commit.Tracker
	Index   uint64
}

// Batch is consecutive records of one shard, in order, as one fetch (or part
// of one) brought them.
type Batch struct {
	ShardID string
	Records []Record
	// Typed is what Config.Decode made of Records, for the typed face; the
	// engine does not look at it.
	Typed any
	// Flush marks a batch without records: what was received of ShardID
	// (of every shard, when ShardID is "") is to be handed out now, not held
	// for more: the shard was read to its end (its children's records come
	// next), or a bounded read is stopping. Records and Chan skip it.
	Flush bool
}

// flushMarker queues a Flush batch for shard id ("": every shard), unless ctx
// ends first.
func (e *Engine) flushMarker(ctx context.Context, id string) {
	select {
	case e.batches <- &Batch{ShardID: id, Flush: true}:
	case <-ctx.Done():
	}
}
