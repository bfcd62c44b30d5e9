package kinesin

import (
	"context"
	"time"

	"github.com/kinesin-go/kinesin/internal/awserr"
	"github.com/kinesin-go/kinesin/internal/telemetry"
	"github.com/kinesin-go/kinesin/shard"
)

// readerHooks report what the shard readers do to the stream's telemetry.
func readerHooks(tel *telemetry.Telemetry) shard.Hooks {
	return shard.Hooks{
		OnCall: func(ctx context.Context, id, op string, start time.Time, d time.Duration, err error) {
			tel.Lookup(id).Operation(ctx, op, start, d, err) // throttles of calls included
		},
		OnFetch: func(id string, _ int, behind int64) { tel.Lookup(id).Lag(behind) },
		OnRetry: func(id, op string, _ time.Duration, err error, broken bool) {
			sh := tel.Lookup(id)
			if broken && awserr.IsThrottle(err) {
				sh.Throttle(op) // a subscription the service ended for a limit
			}
			sh.Retry(op, err)
		},
	}
}
