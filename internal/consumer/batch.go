package consumer

import (
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
}
