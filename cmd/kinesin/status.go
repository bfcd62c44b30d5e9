package main

// kinesin status: how far behind an app is, shard by shard, and who reads
// each shard.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/lease"
)

const statusDoc = `
Shows, for each shard of STREAM (open and closed, as ListShards lists them):
its state, the checkpoint of app --app (from --store, or from the leases of
--leases for an app with shard leases), with leases its owner and lease, and
how far behind the checkpoint is: MillisBehindLatest at the checkpoint and
the arrival of the oldest record not processed yet, read with one
GetShardIterator and one GetRecords (Limit 1) at the checkpoint. A shard
without a checkpoint has no lag to show (the app starts it from its
kinesin.WithStart). A total line follows.

A lease's liveness is judged as the workers judge it, from its counter seen
changing on this host's clock within --lease-duration: a single listing only
says "owned, expires <=10s" (unless its owner renews it first); --watch,
refreshing every --interval, tells live leases (renewed) from dead ones
(expired).

--json prints one JSON object per refresh: stream, app, store, time, shards
(shard_id, state, parents, checkpoint {kind, sequence_number,
sub_sequence_number, timestamp, text}, owner, lease_counter, lease (free,
owned, live, expired), lease_expires_by (on this host's clock),
millis_behind_latest,
oldest_unprocessed_arrival, oldest_unprocessed_age_ms, caught_up, error),
workers (leases: worker_id, counter, live, state: live, seen or silent) and
total.

Exit code 1 when a shard could not be read (its row says why), without
--watch.

  kinesin status orders --app billing --leases dynamodb://kinesin-leases --watch
`

type statusFlags struct {
	aws           awsFlags
	stores        storeFlags
	watch         bool
	interval      time.Duration
	json          bool
	leaseDuration time.Duration
}

func statusCommand() *command {
	return &command{
		name:    "status",
		args:    "STREAM",
		summary: "show an app's checkpoints, owners and lag, shard by shard (--watch refreshes it)",
		doc:     statusDoc,
		setup: func(fs *flag.FlagSet) runFunc {
			o := &statusFlags{}
			o.aws.register(fs)
			o.stores.register(fs)
			fs.BoolVar(&o.watch, "watch", false, "refresh every --interval until SIGINT (Ctrl-C)")
			fs.DurationVar(&o.interval, "interval", 2*time.Second, "`DURATION` between refreshes with --watch")
			fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
			fs.DurationVar(&o.leaseDuration, "lease-duration", lease.DefaultLeaseDuration, "the app's lease `DURATION` (lease.WithLeaseDuration), to judge leases expired")
			return o.run
		},
	}
}

// statusReport is one refresh of status, as --json prints it.
type statusReport struct {
	Stream  string         `json:"stream"`
	App     string         `json:"app"`
	Store   string         `json:"store"`
	Time    time.Time      `json:"time"`
	Shards  []statusShard  `json:"shards"`
	Workers []statusWorker `json:"workers,omitempty"`
	Total   statusTotal    `json:"total"`
}

type statusShard struct {
	ShardID                    string         `json:"shard_id"`
	State                      string         `json:"state"`
	Parents                    []string       `json:"parents,omitempty"`
	Checkpoint                 jsonCheckpoint `json:"checkpoint"`
	Owner                      string         `json:"owner,omitempty"`
	LeaseCounter               *uint64        `json:"lease_counter,omitempty"`
	Lease                      string         `json:"lease,omitempty"`
	LeaseExpiresBy             *time.Time     `json:"lease_expires_by,omitempty"`
	MillisBehindLatest         *int64         `json:"millis_behind_latest,omitempty"`
	OldestUnprocessedArrival   *time.Time     `json:"oldest_unprocessed_arrival,omitempty"`
	OldestUnprocessedAgeMillis *int64         `json:"oldest_unprocessed_age_ms,omitempty"`
	CaughtUp                   bool           `json:"caught_up"`
	Error                      string         `json:"error,omitempty"`

	cp        checkpoint.Checkpoint
	expiresIn time.Duration // until LeaseExpiresBy, on this host's clock
}

type statusWorker struct {
	WorkerID string `json:"worker_id"`
	Counter  uint64 `json:"counter"`
	// Live is the workers' own judgement: the row changed, or was first
	// seen, within the lease duration.
	Live bool `json:"live"`
	// State is "live" (a heartbeat seen), "seen" (listed once, not judged
	// yet) or "silent" (unchanged for the lease duration).
	State string `json:"state"`
}

func toStatusWorker(w lease.WorkerState) statusWorker {
	state := "silent"
	switch {
	case w.Live && w.Renewed:
		state = "live"
	case w.Live:
		state = "seen"
	}
	return statusWorker{WorkerID: w.ID, Counter: w.Counter, Live: w.Live, State: state}
}

// workerText writes a worker's state for people.
func workerText(w statusWorker, leaseDuration time.Duration) string {
	switch w.State {
	case "live":
		return "live"
	case "seen":
		return "seen, not judged yet"
	}
	return "silent for " + ago(leaseDuration)
}

type statusTotal struct {
	Shards                     int    `json:"shards"`
	Open                       int    `json:"open"`
	WithCheckpoint             int    `json:"with_checkpoint"`
	CaughtUp                   int    `json:"caught_up"`
	Owned                      int    `json:"owned"`
	Owners                     int    `json:"owners"`
	MaxMillisBehindLatest      int64  `json:"max_millis_behind_latest"`
	OldestUnprocessedAgeMillis *int64 `json:"oldest_unprocessed_age_ms,omitempty"`
	Errors                     int    `json:"errors"`
}

func (o *statusFlags) run(e *env, args []string) error {
	stream, err := oneStream(args)
	if err == nil && (o.interval <= 0 || o.leaseDuration <= 0) {
		err = usagef("--interval and --lease-duration must be positive")
	}
	if err = firstError(err, o.stores.need(false), o.aws.check()); err != nil {
		return err
	}
	ctx, cancel, c, err := o.aws.session(e, true)
	defer cancel()
	if err != nil {
		return err
	}
	src, closeStore, err := o.source(c, stream)
	if err != nil {
		return err
	}
	defer closeStore()
	kc := c.kinesis()
	for {
		rep, err := o.report(ctx, kc, stream, src)
		switch {
		case interrupted(ctx, err):
			return nil
		case err != nil:
			return err
		}
		if o.watch && !o.json && e.stdoutTTY {
			fmt.Fprint(e.stdout, "\x1b[H\x1b[2J") // clear the terminal
		}
		if err := o.print(e.stdout, rep); err != nil {
			return err
		}
		if !o.watch {
			if rep.Total.Errors > 0 {
				return fmt.Errorf("%s could not be read: see the rows", plural(rep.Total.Errors, "shard"))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
		if !o.json {
			fmt.Fprintln(e.stdout)
		}
	}
}

// positions reads the app's checkpoints: from a checkpoint store, or from
// the leases through an Operator (which also gives owners and workers).
type positions struct {
	store checkpoint.Store
	op    *lease.Operator
}

func (o *statusFlags) source(c *clients, stream string) (positions, func(), error) {
	if o.stores.leases.kind != "" {
		op, err := lease.NewOperator(o.stores.leaseStore(c), o.stores.app, stream, lease.WithLeaseDuration(o.leaseDuration))
		if err != nil {
			return positions{}, nil, usagef("%v", err)
		}
		return positions{op: op}, func() {}, nil
	}
	store, closeStore := o.stores.checkpointStore(c)
	return positions{store: store}, closeStore, nil
}

// report reads one refresh: the shards, the positions, a probe per shard.
func (o *statusFlags) report(ctx context.Context, kc *kinesis.Client, stream string, src positions) (*statusReport, error) {
	info, err := describe(ctx, kc, stream)
	if err != nil {
		return nil, err
	}
	rep := &statusReport{Stream: stream, App: o.stores.app, Store: o.stores.url(), Time: info.Now}
	cps := map[string]checkpoint.Checkpoint{}
	leases := map[string]lease.LeaseState{}
	var observed time.Time
	if src.op != nil {
		obs, err := src.op.Observe(ctx)
		if err != nil {
			return nil, err
		}
		observed = obs.Time
		for _, l := range obs.Leases {
			leases[l.Shard] = l
			cps[l.Shard] = l.Checkpoint
		}
		for _, w := range obs.Workers {
			rep.Workers = append(rep.Workers, toStatusWorker(w))
		}
	} else if cps, err = src.store.Load(ctx, o.stores.app, stream); err != nil {
		return nil, err
	}
	owners := map[string]bool{}
	for _, s := range info.Shards {
		row := statusShard{ShardID: s.ID, State: "open", Parents: s.Parents, cp: cps[s.ID], Checkpoint: toJSONCheckpoint(cps[s.ID])}
		if s.Closed {
			row.State = "closed"
		}
		if l, ok := leases[s.ID]; ok {
			row.Owner = l.Owner
			row.LeaseCounter = &l.Counter
			row.Lease = leaseJudgement(l)
			if !l.ExpiresBy.IsZero() {
				row.LeaseExpiresBy = &l.ExpiresBy
				row.expiresIn = l.ExpiresBy.Sub(observed)
			}
			if l.Owner != "" {
				owners[l.Owner] = true
				rep.Total.Owned++
			}
		}
		rep.Shards = append(rep.Shards, row)
	}
	rep.Total.Owners = len(owners)
	probeAll(ctx, kc, stream, rep.Shards)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, r := range rep.Shards {
		t := &rep.Total
		t.Shards++
		if r.State == "open" {
			t.Open++
		}
		if !r.cp.IsZero() {
			t.WithCheckpoint++
		}
		if r.CaughtUp {
			t.CaughtUp++
		}
		if r.Error != "" {
			t.Errors++
		}
		if r.MillisBehindLatest != nil {
			t.MaxMillisBehindLatest = max(t.MaxMillisBehindLatest, *r.MillisBehindLatest)
		}
		if a := r.OldestUnprocessedAgeMillis; a != nil && (t.OldestUnprocessedAgeMillis == nil || *a > *t.OldestUnprocessedAgeMillis) {
			t.OldestUnprocessedAgeMillis = a
		}
	}
	return rep, nil
}

// leaseJudgement names a lease's state: free, owned (seen with an owner,
// not seen renewed yet, not expired), live (seen renewed), expired.
func leaseJudgement(l lease.LeaseState) string {
	switch {
	case l.Owner == "":
		return "free"
	case l.Expired:
		return "expired"
	case l.Renewed:
		return "live"
	}
	return "owned"
}

// probeConcurrency bounds the shards probed at once.
const probeConcurrency = 8

// probeAll fills the lag of each row with a checkpoint.
func probeAll(ctx context.Context, kc *kinesis.Client, stream string, rows []statusShard) {
	sem := make(chan struct{}, probeConcurrency)
	var wg sync.WaitGroup
	for i := range rows {
		r := &rows[i]
		switch {
		case r.cp.IsZero():
			continue
		case r.cp.ShardEnded:
			r.CaughtUp = true
			zero := int64(0)
			r.MillisBehindLatest = &zero
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			probe(ctx, kc, stream, r)
		})
	}
	wg.Wait()
}

// probe reads the first record after the row's checkpoint: one
// GetShardIterator, one GetRecords with Limit 1.
func probe(ctx context.Context, kc *kinesis.Client, stream string, r *statusShard) {
	it, err := kc.GetShardIterator(ctx, iteratorAt(stream, r.ShardID, r.cp))
	if err != nil {
		r.Error = "GetShardIterator at the checkpoint: " + shortError(err)
		return
	}
	local := time.Now()
	out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
	if err != nil {
		r.Error = "GetRecords at the checkpoint: " + shortError(err)
		return
	}
	now := serviceNow(out.ResultMetadata, local)
	behind := aws.ToInt64(out.MillisBehindLatest)
	r.MillisBehindLatest = &behind
	if len(out.Records) == 0 {
		r.CaughtUp = behind == 0 || out.NextShardIterator == nil
		return
	}
	if at := out.Records[0].ApproximateArrivalTimestamp; at != nil {
		arrival := at.UTC()
		age := max(now.Sub(arrival), 0).Milliseconds()
		r.OldestUnprocessedArrival, r.OldestUnprocessedAgeMillis = &arrival, &age
	}
}

// shortError returns err's message, or its AWS error code and message.
func shortError(err error) string {
	var api interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return err.Error()
}

func (o *statusFlags) print(w io.Writer, rep *statusReport) error {
	if o.json {
		return writeJSON(w, rep)
	}
	fmt.Fprintf(w, "stream %s, app %s, %s, at %s\n", rep.Stream, rep.App, o.stores.where(), rep.Time.UTC().Format(time.RFC3339))
	leases := o.stores.leases.kind != ""
	header := []string{"SHARD", "STATE", "CHECKPOINT"}
	if leases {
		header = append(header, "OWNER", "LEASE")
	}
	t := newTable(w, append(header, "BEHIND", "OLDEST UNPROCESSED")...)
	for _, r := range rep.Shards {
		cells := []string{r.ShardID, r.State, r.Checkpoint.Text}
		if leases {
			cells = append(cells, orDash(r.Owner), leaseText(r))
		}
		behind, oldest := "-", "-"
		switch {
		case r.Error != "":
			behind, oldest = "error", r.Error
		case r.MillisBehindLatest != nil:
			behind = ago(time.Duration(*r.MillisBehindLatest) * time.Millisecond)
			if r.CaughtUp {
				oldest = "none (caught up)"
			}
		}
		if r.OldestUnprocessedAgeMillis != nil {
			oldest = ago(time.Duration(*r.OldestUnprocessedAgeMillis)*time.Millisecond) + " old"
		}
		t.row(append(cells, behind, oldest)...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(rep.Workers) > 0 {
		var ws []string
		for _, w := range rep.Workers {
			ws = append(ws, fmt.Sprintf("%s (%s)", w.WorkerID, workerText(w, o.leaseDuration)))
		}
		fmt.Fprintf(w, "workers: %s\n", strings.Join(ws, ", "))
	}
	tot := rep.Total
	line := fmt.Sprintf("total: %s (%d open), %d with a checkpoint, %d caught up", plural(tot.Shards, "shard"), tot.Open, tot.WithCheckpoint, tot.CaughtUp)
	if leases {
		line += fmt.Sprintf(", %s owned by %s", plural(tot.Owned, "lease"), plural(tot.Owners, "worker"))
	}
	line += ", up to " + ago(time.Duration(tot.MaxMillisBehindLatest)*time.Millisecond) + " behind"
	if tot.OldestUnprocessedAgeMillis != nil {
		line += ", oldest unprocessed record " + ago(time.Duration(*tot.OldestUnprocessedAgeMillis)*time.Millisecond) + " old"
	}
	if tot.Errors > 0 {
		line += fmt.Sprintf(", %s unreadable", plural(tot.Errors, "shard"))
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

// leaseText writes a lease's judgement for the table.
func leaseText(r statusShard) string {
	switch {
	case r.Lease == "":
		return "-"
	case r.LeaseExpiresBy != nil:
		return fmt.Sprintf("%s, expires <=%s", r.Lease, ago(r.expiresIn.Round(time.Second)))
	}
	return r.Lease
}
