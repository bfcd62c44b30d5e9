package main

// kinesin leases list|release: who reads which shard of an app with shard
// leases.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/kinesin-go/kinesin/lease"
)

const leasesListDoc = `
Lists the leases of app --app on STREAM in the lease table --leases: for each
shard its owner (or free), counter, checkpoint, parents and handoff request,
and the worker rows (a worker is live when its heartbeat is seen, silent when
its row stays still for --lease-duration). Reads the table only.

A lease's liveness is judged as the workers judge it, from its counter seen
changing on this host's clock within --lease-duration. One listing cannot
tell a live lease from a dead one: it says "owned, expires <=10s" (unless
renewed). --observe DURATION watches the leases that long (listing every
second) and then tells them apart: "live" (seen renewed), "expired"
(unchanged for --lease-duration), or still "owned".

--json prints one object: stream, app, leases (shard_id, owner, counter,
checkpoint, parents, next_owner, state: free, owned, live or expired,
expires_by on this host's clock), workers (worker_id, counter, live, state:
live, seen or silent).

  kinesin leases list orders --app billing --leases dynamodb://kinesin-leases --observe 12s
`

const leasesReleaseDoc = `
Frees the leases of app --app on STREAM, whatever worker holds them: every
lease with an owner, or those of --shards and of --owner. Each release is
conditional on the lease's counter as listed (a release that loses to a
renewal is tried again on a new listing), and increments it: the owner loses
the lease (its next write fails) and stops reading the shard; any worker
takes the free lease at its next cycle, from its checkpoint. Release the
leases of a killed worker to have its shards read again at once rather than
once its leases expire.

The command prints the leases it will release, then asks for a confirmation
on the terminal; --yes releases without asking, --dry-run only prints. When
standard input is not a terminal and --yes is not given, it is a dry run.

  kinesin leases release orders --app billing --leases dynamodb://kinesin-leases --owner host-1234-ab12cd34 --yes
`

type leasesFlags struct {
	aws           awsFlags
	stores        storeFlags
	json          bool
	leaseDuration time.Duration
	observeFor    time.Duration
	shards        shardList
	owner         string
	yes, dryRun   bool
}

func (o *leasesFlags) register(fs *flag.FlagSet) {
	o.aws.register(fs)
	o.stores.register(fs)
	fs.BoolVar(&o.json, "json", false, "print JSON instead of text")
	fs.DurationVar(&o.leaseDuration, "lease-duration", lease.DefaultLeaseDuration, "the app's lease `DURATION` (lease.WithLeaseDuration), to judge leases expired")
}

func leasesListCommand() *command {
	return &command{
		name:    "leases list",
		args:    "STREAM",
		summary: "list an app's leases: owner, counter, checkpoint, liveness; and its workers",
		doc:     leasesListDoc,
		setup: func(fs *flag.FlagSet) runFunc {
			o := &leasesFlags{}
			o.register(fs)
			fs.DurationVar(&o.observeFor, "observe", 0, "watch the leases for `DURATION` before printing, to judge which are live")
			return o.list
		},
	}
}

func leasesReleaseCommand() *command {
	return &command{
		name:    "leases release",
		args:    "STREAM",
		summary: "free an app's leases whatever worker holds them (a killed worker's, at once)",
		doc:     leasesReleaseDoc,
		setup: func(fs *flag.FlagSet) runFunc {
			o := &leasesFlags{}
			o.register(fs)
			fs.Var(&o.shards, "shards", "release the leases of these shard `IDS`, separated by commas")
			fs.StringVar(&o.owner, "owner", "", "release the leases that worker `ID` holds")
			fs.BoolVar(&o.yes, "yes", false, "release without asking")
			fs.BoolVar(&o.dryRun, "dry-run", false, "print the leases, release nothing")
			return o.release
		},
	}
}

// observe checks the flags, makes an Operator of the app's leases and
// observes them once.
func (o *leasesFlags) observe(ctx context.Context, args []string) (string, *lease.Operator, lease.Observation, error) {
	fail := func(err error) (string, *lease.Operator, lease.Observation, error) {
		return "", nil, lease.Observation{}, err
	}
	stream, err := oneStream(args)
	switch {
	case err != nil:
	case o.leaseDuration <= 0 || o.observeFor < 0:
		err = usagef("--lease-duration must be positive, --observe not negative")
	case o.yes && o.dryRun:
		err = usagef("--yes and --dry-run contradict each other")
	}
	if err = firstError(err, o.stores.need(true), o.aws.check()); err != nil {
		return fail(err)
	}
	c, err := o.aws.load(ctx)
	if err != nil {
		return fail(err)
	}
	op, err := lease.NewOperator(o.stores.leaseStore(c), o.stores.app, stream, lease.WithLeaseDuration(o.leaseDuration))
	if err != nil {
		return fail(usagef("%v", err))
	}
	obs, err := op.Observe(ctx)
	if err != nil {
		return fail(err)
	}
	return stream, op, obs, nil
}

// jsonLease is a lease in the JSON output of the leases commands.
type jsonLease struct {
	ShardID    string         `json:"shard_id"`
	Owner      string         `json:"owner,omitempty"`
	Counter    uint64         `json:"counter"`
	Checkpoint jsonCheckpoint `json:"checkpoint"`
	Parents    []string       `json:"parents,omitempty"`
	NextOwner  string         `json:"next_owner,omitempty"`
	State      string         `json:"state"`
	ExpiresBy  *time.Time     `json:"expires_by,omitempty"`
}

func toJSONLease(l lease.LeaseState) jsonLease {
	j := jsonLease{
		ShardID: l.Shard, Owner: l.Owner, Counter: l.Counter, Checkpoint: toJSONCheckpoint(l.Checkpoint),
		Parents: l.Parents, NextOwner: l.NextOwner, State: leaseJudgement(l),
	}
	if !l.ExpiresBy.IsZero() {
		j.ExpiresBy = &l.ExpiresBy
	}
	return j
}

func (o *leasesFlags) list(e *env, args []string) error {
	ctx, cancel := e.signalContext()
	defer cancel()
	stream, op, obs, err := o.observe(ctx, args)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(o.observeFor); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(time.Second, time.Until(deadline))):
		}
		if obs, err = op.Observe(ctx); err != nil {
			return err
		}
	}
	if o.json {
		leases := []jsonLease{}
		for _, l := range obs.Leases {
			leases = append(leases, toJSONLease(l))
		}
		workers := []statusWorker{}
		for _, w := range obs.Workers {
			workers = append(workers, toStatusWorker(w))
		}
		return writeJSON(e.stdout, map[string]any{"stream": stream, "app": o.stores.app, "leases": leases, "workers": workers})
	}
	fmt.Fprintf(e.stdout, "stream %s, app %s, %s\n%s, %s\n", stream, o.stores.app, o.stores.where(), plural(len(obs.Leases), "lease"), plural(len(obs.Workers), "worker"))
	if len(obs.Leases) > 0 {
		printLeases(e.stdout, obs)
	}
	if len(obs.Workers) > 0 {
		t := newTable(e.stdout, "WORKER", "COUNTER", "STATE")
		for _, w := range obs.Workers {
			sw := toStatusWorker(w)
			t.row(w.ID, fmt.Sprint(w.Counter), workerText(sw, o.leaseDuration))
		}
		return t.flush()
	}
	return nil
}

// printLeases writes the leases of obs as a table.
func printLeases(w io.Writer, obs lease.Observation) {
	t := newTable(w, "SHARD", "OWNER", "COUNTER", "CHECKPOINT", "PARENTS", "STATE")
	for _, l := range obs.Leases {
		state := leaseJudgement(l)
		if !l.ExpiresBy.IsZero() {
			state += ", expires <=" + ago(l.ExpiresBy.Sub(obs.Time).Round(time.Second))
		}
		if l.NextOwner != "" {
			state += ", handoff to " + l.NextOwner
		}
		t.row(l.Shard, orDash(l.Owner), fmt.Sprint(l.Counter), cpText(l.Checkpoint), orDash(strings.Join(l.Parents, ",")), state)
	}
	t.flush()
}

func (o *leasesFlags) release(e *env, args []string) error {
	ctx, cancel := e.signalContext()
	defer cancel()
	stream, op, obs, err := o.observe(ctx, args)
	if err != nil {
		return err
	}
	for _, id := range o.shards {
		if !slices.ContainsFunc(obs.Leases, func(l lease.LeaseState) bool { return l.Shard == id }) {
			return usagef("--shards: app %s has no lease of shard %q on %s", o.stores.app, id, stream)
		}
	}
	var chosen lease.Observation
	chosen.Time = obs.Time
	var shards []string
	for _, l := range obs.Leases {
		if l.Owner == "" || (len(o.shards) > 0 && !slices.Contains(o.shards, l.Shard)) || (o.owner != "" && l.Owner != o.owner) {
			continue
		}
		chosen.Leases = append(chosen.Leases, l)
		shards = append(shards, l.Shard)
	}
	report := func(released []lease.Lease, applied bool) error {
		if !o.json {
			return nil
		}
		out := []jsonLease{}
		if applied {
			for _, l := range released {
				out = append(out, toJSONLease(lease.LeaseState{Lease: l}))
			}
		} else {
			for _, l := range chosen.Leases {
				out = append(out, toJSONLease(l))
			}
		}
		return writeJSON(e.stdout, map[string]any{"stream": stream, "app": o.stores.app, "leases": out, "applied": applied})
	}
	if !o.json {
		fmt.Fprintf(e.stdout, "stream %s, app %s, %s\n%s to release:\n", stream, o.stores.app, o.stores.where(), plural(len(shards), "lease"))
		if len(shards) > 0 {
			printLeases(e.stdout, chosen)
		}
	}
	switch {
	case len(shards) == 0:
		fmt.Fprintln(e.stderr, "kinesin leases release: no lease with an owner to release")
		return report(nil, false)
	case o.dryRun:
		fmt.Fprintln(e.stderr, "kinesin leases release: dry run, nothing changed")
		return report(nil, false)
	case !o.yes && !e.interactive:
		fmt.Fprintln(e.stderr, "kinesin leases release: standard input is not a terminal: dry run, nothing changed (pass --yes to apply)")
		return report(nil, false)
	case !o.yes:
		ok, err := confirm(e, fmt.Sprintf("Release %s of app %s on stream %s?", plural(len(shards), "lease"), o.stores.app, stream))
		if err != nil {
			return err
		}
		if !ok {
			return &refusedError{errors.New("nothing changed")}
		}
	}
	released, err := op.Release(ctx, shards)
	if err != nil {
		if len(released) > 0 {
			return fmt.Errorf("%s released, then: %w", plural(len(released), "lease"), err)
		}
		return err
	}
	if !o.json {
		fmt.Fprintf(e.stdout, "released %s\n", plural(len(released), "lease"))
	}
	return report(released, true)
}
