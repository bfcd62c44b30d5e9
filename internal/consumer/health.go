package consumer

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/shard"
	"github.com/kinesin-go/kinesin/internal/telemetry"
)

// Health follows what the shard readers report: each call to the
// telemetry, and per shard whether it is failing, since when and with what,
// and how far behind its tip it is. It logs a shard's failures once per
// change of state (failing, still failing, recovered), never per retry, and
// tells the engine which shards have failed for longer than the stall bound.
// Its methods are safe for concurrent use.
type Health struct {
	log *slog.Logger
	tel *telemetry.Telemetry
	// warnAfter and errorAfter are how long a shard fails before it is
	// logged at WARN, then at ERROR.
	warnAfter, errorAfter time.Duration

	// tip, when set (a bounded read), is told of every fetch that found its
	// shard at the tip, with the number of its records.
	tip func(id string, records int)

	mu     sync.Mutex
	shards map[string]*shardHealth
}

// SetTip sets the function told of the fetches at a shard's tip. It is set
// before the readers start.
func (h *Health) SetTip(f func(id string, records int)) { h.tip = f }

// shardHealth is what Health knows of a shard.
type shardHealth struct {
	failingSince time.Time // since the first failure after the last fetch; zero when healthy
	op           string    // the call that failed last
	lastErr      error
	level        slog.Level // the level the failure was last logged at; 0 (INFO): not yet
	lag          int64      // MillisBehindLatest of the last fetch; -1 before one
}

// NewHealth returns the Health of a stream whose shards fail the stream once
// they failed for stall: they are logged at WARN after a tenth of it (at
// most 30 s), at ERROR after half of it.
func NewHealth(tel *telemetry.Telemetry, log *slog.Logger, stall time.Duration) *Health {
	return &Health{
		log:        log,
		tel:        tel,
		warnAfter:  min(stall/10, 30*time.Second),
		errorAfter: stall / 2,
		shards:     make(map[string]*shardHealth),
	}
}

// Hooks are the hooks of the shard readers.
func (h *Health) Hooks() shard.Hooks {
	return shard.Hooks{
		OnCall: func(ctx context.Context, id, op string, start time.Time, d time.Duration, err error) {
			h.tel.Lookup(id).Operation(ctx, op, start, d, err) // throttles of calls included
		},
		OnFetch: func(id string, records int, behind int64) {
			h.tel.Lookup(id).Lag(behind)
			h.fetched(id, behind)
			if behind == 0 && h.tip != nil {
				h.tip(id, records)
			}
		},
		OnRetry: func(id, op string, _ time.Duration, err error, broken bool) {
			sh := h.tel.Lookup(id)
			if broken && awserr.IsThrottle(err) {
				sh.Throttle(op) // a subscription the service ended for a limit
			}
			sh.Retry(op, err)
			h.failed(id, op, err)
		},
	}
}

func (h *Health) shard(id string) *shardHealth {
	s := h.shards[id]
	if s == nil {
		s = &shardHealth{lag: -1}
		h.shards[id] = s
	}
	return s
}

// fetched records a fetch of a shard: it is healthy.
func (h *Health) fetched(id string, behind int64) {
	h.mu.Lock()
	s := h.shard(id)
	s.lag = behind
	since, level, op, last := s.failingSince, s.level, s.op, s.lastErr
	s.failingSince, s.level, s.lastErr = time.Time{}, 0, nil
	h.mu.Unlock()
	if !since.IsZero() && level > slog.LevelInfo {
		h.log.Info("shard recovered", "shard", id, "failed_for", time.Since(since).Round(time.Millisecond), "operation", op, "last_error", last)
	}
}

// failed records a failure of a call to op on a shard, which the reader
// retries.
func (h *Health) failed(id, op string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.shard(id)
	if s.failingSince.IsZero() {
		s.failingSince = time.Now()
	}
	s.op, s.lastErr = op, err
}

// forget drops what is known of a shard no longer read.
func (h *Health) forget(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.shards, id)
}

// failing returns since when a shard has been failing, with the last call
// and error, and its lag (-1 when unknown).
func (h *Health) failing(id string) (since time.Time, op string, lag int64, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.shards[id]
	if s == nil {
		return time.Time{}, "", -1, nil
	}
	return s.failingSince, s.op, s.lag, s.lastErr
}

// stalled is a shard that failed for longer than the bound.
type stalled struct {
	id, op string
	since  time.Time
	err    error
}

// check logs the shards whose failures reached a new level and returns
// those failing for stall or longer.
func (h *Health) check(now time.Time, stall time.Duration) []stalled {
	type change struct {
		id, op string
		since  time.Time
		err    error
		level  slog.Level
	}
	var changes []change
	var out []stalled
	h.mu.Lock()
	for id, s := range h.shards {
		if s.failingSince.IsZero() {
			continue
		}
		d := now.Sub(s.failingSince)
		level := s.level
		switch {
		case d >= h.errorAfter:
			level = slog.LevelError
		case d >= h.warnAfter:
			level = slog.LevelWarn
		}
		if level > s.level {
			s.level = level
			changes = append(changes, change{id, s.op, s.failingSince, s.lastErr, level})
		}
		if d >= stall {
			out = append(out, stalled{id: id, op: s.op, since: s.failingSince, err: s.lastErr})
		}
	}
	h.mu.Unlock()
	for _, c := range changes { // not under h.mu: handlers may be slow
		h.log.Log(context.Background(), c.level, "shard failing; retrying", "shard", c.id, "operation", c.op,
			"failing_for", now.Sub(c.since).Round(time.Second), "error", c.err)
	}
	return out
}
