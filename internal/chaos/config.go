package chaos

import (
	"errors"
	"fmt"
	"time"
)

// Config is a soak run.
type Config struct {
	// Bin is the chaos program (cmd/chaos), run for every role.
	Bin string
	// Dir is where the run's logs, settings and final shard list go.
	Dir string
	// DynamoURL is the DynamoDB endpoint (dynalite) of the lease table.
	DynamoURL string
	// Mode is polling or efo.
	Mode string
	// Seed decides every choice of the driver (and seeds the fake's
	// probabilistic faults and the workers' commit delays).
	Seed uint64
	// Duration is how long the chaos lasts, before the drain.
	Duration time.Duration
	// Workers is how many worker processes run; default 4.
	Workers int
	// Shards is the stream's initial shard count; default 4. Resharding
	// keeps the open shards between 2 and MaxShards (default 8).
	Shards, MaxShards int
	// Keys and Rate: the producer's partition keys (default 32) and
	// records a second (default 100).
	Keys, Rate int
	// LeaseDuration and CycleInterval of the workers' lease managers;
	// default 2s and 200ms. CheckpointInterval: default 100ms.
	LeaseDuration, CycleInterval, CheckpointInterval time.Duration
	// FailoverSlack is what a failover may take beyond LeaseDuration +
	// CycleInterval (the bound the README states) before the check fails:
	// the store calls of the taking worker and the scheduling of a loaded
	// machine; default 500ms.
	FailoverSlack time.Duration
	// DrainTimeout bounds the wait, after the chaos, for every acknowledged
	// record to be handed out; default 60s.
	DrainTimeout time.Duration
	// Logf, when set, reports progress.
	Logf func(format string, args ...any)
}

// settings are what the checker needs of a run's configuration.
type settings struct {
	Mode          string        `json:"mode"`
	Seed          uint64        `json:"seed"`
	Duration      time.Duration `json:"duration"`
	Workers       int           `json:"workers"`
	LeaseDuration time.Duration `json:"leaseDuration"`
	CycleInterval time.Duration `json:"cycleInterval"`
	FailoverSlack time.Duration `json:"failoverSlack"`
}

const (
	soakStream   = "orders"
	soakConsumer = "chaos"
	// efoClockFactor: in EFO mode the fake's clock runs this much faster
	// than the wall clock, so that a resubscription within the service's 5
	// seconds of the last one waits 80 ms, not 5 s.
	efoClockFactor = 60
	// closeTimeout is the workers' CloseTimeout.
	closeTimeout = 5 * time.Second
	// pauseMargin: a SIGSTOP explains a duplicate of a record the paused
	// worker logged up to this long after the driver logged the stop (the
	// signal is sent right after).
	pauseMargin = 100 * time.Millisecond
)

func (c *Config) fill() error {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Workers, 4)
	def(&c.Shards, 4)
	def(&c.MaxShards, 8)
	def(&c.Keys, 32)
	def(&c.Rate, 100)
	defD(&c.LeaseDuration, 2*time.Second)
	defD(&c.CycleInterval, 200*time.Millisecond)
	defD(&c.CheckpointInterval, 100*time.Millisecond)
	defD(&c.FailoverSlack, 500*time.Millisecond)
	defD(&c.DrainTimeout, 60*time.Second)
	defD(&c.Duration, time.Minute)
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	switch {
	case c.Bin == "" || c.Dir == "" || c.DynamoURL == "":
		return errors.New("chaos: Bin, Dir and DynamoURL are required")
	case c.Mode != "polling" && c.Mode != "efo":
		return fmt.Errorf("chaos: mode %q: want polling or efo", c.Mode)
	case c.Workers < 3:
		return fmt.Errorf("chaos: %d workers: the driver keeps two running while it disrupts a third", c.Workers)
	case c.MaxShards < 2 || c.Shards < 1 || c.Shards > c.MaxShards:
		return fmt.Errorf("chaos: %d shards, at most %d", c.Shards, c.MaxShards)
	}
	return nil
}
