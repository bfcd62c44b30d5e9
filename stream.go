package kinesin

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinesin-go/kinesin/internal/consumer"
)

// Stream is an open Kinesis stream: the records of all its shards, merged.
// Read them once, with Records or Chan. Its methods are safe for concurrent
// use.
type Stream[T any] struct {
	eng *consumer.Engine
	dec Decoder[T]
	log *slog.Logger

	name, arn string
	// consumerARN is the Enhanced Fan-Out consumer, when reading with EFO.
	consumerARN string
	// deregister deregisters it on Close (WithDeregisterOnClose); nil otherwise.
	deregister func(context.Context) error

	// batchSize and batchWait shape the batches of Batches.
	batchSize int
	batchWait time.Duration

	consumed  atomic.Bool
	chanOnce  sync.Once
	ch        chan *Record[T]
	pumps     sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	errOnce   sync.Once
	err       error // the engine's fatal error, as this package reports it
}

// Name returns the stream's name.
func (s *Stream[T]) Name() string { return s.name }

// ARN returns the stream's ARN.
func (s *Stream[T]) ARN() string { return s.arn }

// ConsumerARN returns the ARN of the Enhanced Fan-Out consumer the stream
// reads with, or "" when it polls.
func (s *Stream[T]) ConsumerARN() string { return s.consumerARN }

// WorkerID returns the id this worker writes as lease owner (see
// lease.WithWorkerID), or "" without WithLeases.
func (s *Stream[T]) WorkerID() string { return s.eng.WorkerID() }

// Err returns the fatal error that ended the stream (see the package's list
// of errors), or nil: while the stream runs, and after Close or the end of
// Open's context.
func (s *Stream[T]) Err() error {
	err := s.eng.Err()
	if err == nil {
		return nil
	}
	s.errOnce.Do(func() { s.err = publicError(err) }) // it never changes once set
	return s.err
}

// Flush writes every committed position to the checkpoint store now.
func (s *Stream[T]) Flush(ctx context.Context) error {
	if err := s.eng.Flush(ctx); err != nil {
		if errors.Is(err, consumer.ErrClosed) {
			return ErrClosed
		}
		return err
	}
	return nil
}

// Close stops reading, waits for every goroutine of the stream to end, writes
// the committed positions (waiting at most WithCloseTimeout), and returns the
// error of that write. It is idempotent; records committed after it are not
// written.
//
// With WithLeases, Close hands the worker's shards over: it stops handing
// out records, waits (at most half of WithCloseTimeout) for those already handed
// out to be committed, unless the Records loop has ended, writes their
// checkpoints and releases the leases, so that the other workers take the
// shards at their next lease cycle and start right after the last record
// handed out here. With WithDeregisterOnClose, it then deregisters the Enhanced
// Fan-Out consumer.
func (s *Stream[T]) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.eng.Close()
		s.pumps.Wait()
		if s.deregister != nil {
			ctx, cancel := s.eng.CloseContext()
			defer cancel()
			s.closeErr = errors.Join(s.closeErr, s.deregister(ctx))
		}
	})
	return s.closeErr
}
