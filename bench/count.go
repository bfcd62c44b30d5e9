package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// counted is one run of a runner over a backlog of total records.
type counted struct {
	// Wall is the time from the start of the runner to the delivery of the
	// last record.
	Wall time.Duration
	// CPU is the process's CPU time over the same span.
	CPU time.Duration
	// FromMark is the time from the delivery of the mark-th record to the
	// last one (0 without a mark).
	FromMark time.Duration
}

// counter is a sink that counts records and notes when the mark-th and the
// last one arrive.
type counter struct {
	total, mark int64
	n           atomic.Int64
	done        chan struct{}
	marked      atomic.Int64 // UnixNano; atomic: another goroutine may deliver the last record first
	end         time.Time
	cpuEnd      time.Duration
}

func newCounter(total, mark int) *counter {
	return &counter{total: int64(total), mark: int64(mark), done: make(chan struct{})}
}

func (c *counter) sink(_ []byte) bool {
	n := c.n.Add(1)
	switch n {
	case c.mark:
		c.marked.Store(time.Now().UnixNano())
	case c.total:
		c.cpuEnd = cpuTime()
		c.end = time.Now()
		close(c.done)
	}
	return n < c.total
}

// consumeBacklog runs r over a fake's stream holding total records until it
// has delivered them all, noting the time from the mark-th (0: none). The
// runner then stops; a runner that ends before, or takes longer than
// timeout, is an error.
func consumeBacklog(r runner, client *kinesis.Client, total, mark int, timeout time.Duration) (counted, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := newCounter(total, mark)
	errc := make(chan error, 1)
	start, cpu0 := time.Now(), cpuTime()
	go func() { errc <- r.run(ctx, client, c.sink) }()
	select {
	case <-c.done:
	case err := <-errc:
		if err == nil {
			err = fmt.Errorf("it stopped (%v)", ctx.Err())
		}
		return counted{}, fmt.Errorf("%s: %d of %d records: %w", r.Name, c.n.Load(), total, err)
	}
	if err := <-errc; err != nil {
		return counted{}, fmt.Errorf("%s: %w", r.Name, err)
	}
	res := counted{Wall: c.end.Sub(start), CPU: c.cpuEnd - cpu0}
	if mark > 0 {
		res.FromMark = c.end.Sub(time.Unix(0, c.marked.Load()))
	}
	return res, nil
}
