package main

// kinesin checkpoints list|set|reset: inspect and move an app's
// checkpoints.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesin-go/kinesin/checkpoint"
	"github.com/kinesin-go/kinesin/lease"
)

const checkpointsListDoc = `
Lists the checkpoints of app --app on STREAM: from the checkpoint store
--store, or from the leases of --leases for an app with shard leases (with
each lease's owner). Without --app, with --store, lists the apps that hold
checkpoints of STREAM. Reads the store only.

  kinesin checkpoints list orders --app billing --store dynamodb://kinesin-checkpoints
  kinesin checkpoints list orders --store redis://127.0.0.1:6379
`

const changeDoc = `
The shards are every shard the stream lists (open and closed), or those of
--shards. The command prints each change (shard, checkpoint now, checkpoint
after), then asks for a confirmation on the terminal; --yes applies without
asking, --dry-run only prints. When standard input is not a terminal (a
script) and --yes is not given, it is a dry run: nothing changes (exit 0).

Stop the app's consumers first: a running consumer keeps reading from the
position it holds in memory, and writes its own checkpoints over these.
With --leases, the command refuses (exit code 3) while live workers hold the
leases of the shards: it watches the leases that have an owner for up to
--lease-duration, and goes on once they expire (a killed worker's), or stops
as soon as one is renewed. A worker's Close releases its leases, so stopped
apps are not waited for. --force writes over live leases: their workers lose
them (each write increments the lease's counter) and take them again from
the new checkpoints. With --store, nothing can tell whether consumers run.
`

const checkpointsSetDoc = `
Moves the checkpoints of app --app on STREAM, forwards or backwards, to --to:

  trim-horizon   every record the stream holds: a start at the stream's
                 creation (the records that arrived at or after it)
  latest         the records put from now on: a start at the service's now
  TIME           the records that arrived at or after TIME: ` + timeHelp + `
  SEQ            a sequence number of the one shard of --shards: the
                 records after it

The app's consumers, started again, read each shard from there. The
checkpoints are in --store (kinesin.WithCheckpointer) or, for an app with
shard leases, in the leases of --leases (a shard without a lease gets one,
free).
` + changeDoc + `
  kinesin checkpoints set orders --app billing --store dynamodb://kinesin-checkpoints --to 2026-12-07T09:00:00Z
  kinesin checkpoints set orders --app billing --leases dynamodb://kinesin-leases --to -1h --yes
`

const checkpointsResetDoc = `
Removes the checkpoints of app --app on STREAM, from --store, or from the
leases of --leases (the leases stay, without a checkpoint): the app's
consumers, started again, read those shards as never read, from their
kinesin.WithStart.
` + changeDoc + `
  kinesin checkpoints reset orders --app billing --store redis://127.0.0.1:6379 --shards shardId-000000000003
`

// cpFlags are the flags of the checkpoints commands.
type cpFlags struct {
	aws           awsFlags
	stores        storeFlags
	json          bool
	to            string
	shards        shardList
	yes, dryRun   bool
	force         bool
	leaseDuration time.Duration
}

func (o *cpFlags) register(fs *flag.FlagSet, change bool) {
	o.aws.register(fs)
	o.stores.register(fs)
	fs.BoolVar(&o.json, "json", false, "print JSON instead of text")
	if !change {
		return
	}
	fs.Var(&o.shards, "shards", "the shard `IDS` to change, separated by commas (default: every shard)")
	fs.BoolVar(&o.yes, "yes", false, "apply without asking")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the changes, apply nothing")
	fs.BoolVar(&o.force, "force", false, "with --leases, write over leases that live workers hold")
	fs.DurationVar(&o.leaseDuration, "lease-duration", lease.DefaultLeaseDuration, "the app's lease `DURATION` (lease.WithLeaseDuration): how long a lease with an\nowner is watched before it is judged expired")
}

func checkpointsListCommand() *command {
	return &command{
		name:    "checkpoints list",
		args:    "STREAM",
		summary: "list an app's checkpoints (from --store or --leases), or the apps of a stream",
		doc:     checkpointsListDoc,
		setup: func(fs *flag.FlagSet) runFunc {
			o := &cpFlags{}
			o.register(fs, false)
			return o.list
		},
	}
}

func checkpointsSetCommand() *command {
	return checkpointsChangeCommand("set", "move an app's checkpoints, backwards too: --to trim-horizon, latest, TIME or SEQ", checkpointsSetDoc)
}

func checkpointsResetCommand() *command {
	return checkpointsChangeCommand("reset", "remove an app's checkpoints: its consumers start those shards again from WithStart", checkpointsResetDoc)
}

// checkpointsChangeCommand returns checkpoints set or reset.
func checkpointsChangeCommand(verb, summary, doc string) *command {
	return &command{
		name:    "checkpoints " + verb,
		args:    "STREAM",
		summary: summary,
		doc:     doc,
		setup: func(fs *flag.FlagSet) runFunc {
			o := &cpFlags{}
			o.register(fs, true)
			if verb == "set" {
				fs.StringVar(&o.to, "to", "", "where to move the checkpoints: trim-horizon, latest, a `POSITION` TIME or SEQ\n(see above)")
			}
			return func(e *env, args []string) error { return o.change(e, args, verb == "set") }
		},
	}
}

// needsAWS reports whether the stores need the AWS configuration.
func (s *storeFlags) needsAWS() bool {
	return s.store.kind == "dynamodb" || s.leases.kind != ""
}

func (o *cpFlags) list(e *env, args []string) error {
	stream, err := oneStream(args)
	if err != nil {
		return err
	}
	if o.stores.app == "" && o.stores.store.kind != "" && o.stores.leases.kind == "" {
		return o.listApps(e, stream)
	}
	if err := firstError(o.stores.need(false), o.aws.check()); err != nil {
		return err
	}
	ctx, cancel, c, err := o.aws.session(e, o.stores.needsAWS())
	defer cancel()
	if err != nil {
		return err
	}
	type row struct {
		ShardID    string         `json:"shard_id"`
		Checkpoint jsonCheckpoint `json:"checkpoint"`
		Owner      string         `json:"owner,omitempty"`
	}
	var rows []row
	if o.stores.leases.kind != "" {
		ls, _, err := o.stores.leaseStore(c).List(ctx, o.stores.app, stream)
		if err != nil {
			return err
		}
		for _, l := range ls {
			rows = append(rows, row{ShardID: l.Shard, Checkpoint: toJSONCheckpoint(l.Checkpoint), Owner: l.Owner})
		}
	} else {
		store, closeStore := o.stores.checkpointStore(c)
		defer closeStore()
		cps, err := store.Load(ctx, o.stores.app, stream)
		if err != nil {
			return err
		}
		for _, shard := range slices.Sorted(maps.Keys(cps)) {
			rows = append(rows, row{ShardID: shard, Checkpoint: toJSONCheckpoint(cps[shard])})
		}
	}
	if o.json {
		if rows == nil {
			rows = []row{}
		}
		return writeJSON(e.stdout, map[string]any{"stream": stream, "app": o.stores.app, "store": o.stores.url(), "checkpoints": rows})
	}
	fmt.Fprintf(e.stdout, "stream %s, app %s, %s\n", stream, o.stores.app, o.stores.where())
	if len(rows) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no checkpoints")
		return err
	}
	header := []string{"SHARD", "CHECKPOINT"}
	if o.stores.leases.kind != "" {
		header = append(header, "OWNER")
	}
	t := newTable(e.stdout, header...)
	for _, r := range rows {
		cells := []string{r.ShardID, r.Checkpoint.Text}
		if o.stores.leases.kind != "" {
			cells = append(cells, orDash(r.Owner))
		}
		t.row(cells...)
	}
	return t.flush()
}

// listApps lists the apps holding checkpoints of stream in --store.
func (o *cpFlags) listApps(e *env, stream string) error {
	if err := o.aws.check(); err != nil {
		return err
	}
	ctx, cancel, c, err := o.aws.session(e, o.stores.needsAWS())
	defer cancel()
	if err != nil {
		return err
	}
	store, closeStore := o.stores.checkpointStore(c)
	defer closeStore()
	groups, err := store.List(ctx)
	if err != nil {
		return err
	}
	type app struct {
		App         string `json:"app"`
		Checkpoints int    `json:"checkpoints"`
	}
	apps := []app{}
	for _, g := range groups {
		if g.Stream != stream {
			continue
		}
		cps, err := store.Load(ctx, g.App, stream)
		if err != nil {
			return err
		}
		apps = append(apps, app{App: g.App, Checkpoints: len(cps)})
	}
	if o.json {
		return writeJSON(e.stdout, map[string]any{"stream": stream, "store": o.stores.store.raw, "apps": apps})
	}
	fmt.Fprintf(e.stdout, "stream %s, %s\n", stream, o.stores.where())
	if len(apps) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no app holds checkpoints of the stream")
		return err
	}
	t := newTable(e.stdout, "APP", "CHECKPOINTS")
	for _, a := range apps {
		t.row(a.App, fmt.Sprint(a.Checkpoints))
	}
	return t.flush()
}

// cpChange is one shard's change, as printed.
type cpChange struct {
	ShardID   string         `json:"shard_id"`
	From      jsonCheckpoint `json:"from"`
	To        jsonCheckpoint `json:"to"`
	Owner     string         `json:"owner,omitempty"`
	Unchanged bool           `json:"unchanged"`

	to      checkpoint.Checkpoint
	parents []string
	live    bool
}

// change runs checkpoints set (set) or reset.
func (o *cpFlags) change(e *env, args []string, set bool) error {
	verb := "reset"
	if set {
		verb = "set"
	}
	stream, err := oneStream(args)
	if err = firstError(err, o.stores.need(false), o.aws.check()); err != nil {
		return err
	}
	switch {
	case set && o.to == "":
		return usagef("--to is required: trim-horizon, latest, TIME or SEQ")
	case set && !validTo(o.to):
		return usagef("--to %q: want trim-horizon, latest, SEQ, or %s", o.to, timeHelp)
	case o.leaseDuration <= 0:
		return usagef("--lease-duration %v is not positive", o.leaseDuration)
	case o.force && o.stores.leases.kind == "":
		return usagef("--force applies to --leases only")
	case o.yes && o.dryRun:
		return usagef("--yes and --dry-run contradict each other")
	}
	ctx, cancel, c, err := o.aws.session(e, true)
	defer cancel()
	if err != nil {
		return err
	}
	kc := c.kinesis()
	info, err := describe(ctx, kc, stream)
	if err != nil {
		return err
	}
	shards, err := selectShards(info, o.shards)
	if err != nil {
		return err
	}
	var to checkpoint.Checkpoint
	if set {
		if to, err = o.target(ctx, kc, info, shards); err != nil {
			return err
		}
	}

	// What each shard holds now.
	var (
		current = map[string]checkpoint.Checkpoint{}
		owners  = map[string]lease.LeaseState{}
		store   checkpoint.Admin
		op      *lease.Operator
	)
	if o.stores.leases.kind != "" {
		op, err = lease.NewOperator(o.stores.leaseStore(c), o.stores.app, stream, lease.WithLeaseDuration(o.leaseDuration))
		if err != nil {
			return usagef("%v", err)
		}
		obs, err := op.Observe(ctx)
		if err != nil {
			return err
		}
		for _, l := range obs.Leases {
			current[l.Shard], owners[l.Shard] = l.Checkpoint, l
		}
	} else {
		var closeStore func()
		store, closeStore = o.stores.checkpointStore(c)
		defer closeStore()
		if current, err = store.Load(ctx, o.stores.app, stream); err != nil {
			return err
		}
	}
	var changes []cpChange
	todo := 0
	for _, s := range shards {
		ch := cpChange{ShardID: s.ID, From: toJSONCheckpoint(current[s.ID]), To: toJSONCheckpoint(to), to: to, parents: s.Parents}
		ch.Unchanged = current[s.ID] == to
		if l, ok := owners[s.ID]; ok {
			ch.Owner, ch.live = l.Owner, l.Live()
		}
		if !ch.Unchanged {
			todo++
		}
		changes = append(changes, ch)
	}

	report := func(applied bool) error {
		if o.json {
			return writeJSON(e.stdout, map[string]any{
				"stream": stream, "app": o.stores.app, "store": o.stores.url(), "changes": changes, "applied": applied,
			})
		}
		return nil
	}
	if !o.json {
		o.printPlan(e.stdout, stream, verb, changes, todo)
	}
	if todo == 0 {
		fmt.Fprintf(e.stderr, "kinesin checkpoints %s: nothing to change\n", verb)
		return report(false)
	}
	switch {
	case o.dryRun:
		fmt.Fprintf(e.stderr, "kinesin checkpoints %s: dry run, nothing changed\n", verb)
		return report(false)
	case !o.yes && !e.interactive:
		fmt.Fprintf(e.stderr, "kinesin checkpoints %s: standard input is not a terminal: dry run, nothing changed (pass --yes to apply)\n", verb)
		return report(false)
	case !o.yes:
		ok, err := confirm(e, fmt.Sprintf("%s %s of app %s on stream %s?", strings.ToUpper(verb[:1])+verb[1:], plural(todo, "checkpoint"), o.stores.app, stream))
		if err != nil {
			return err
		}
		if !ok {
			return &refusedError{errors.New("nothing changed")}
		}
	}

	var pending []cpChange
	for _, ch := range changes {
		if !ch.Unchanged {
			pending = append(pending, ch)
		}
	}
	if op != nil {
		err = o.applyLeases(ctx, e, op, pending)
	} else {
		err = o.applyStore(ctx, store, stream, pending, set)
	}
	if err != nil {
		return err
	}
	if !o.json {
		fmt.Fprintf(e.stdout, "%s %s\n", verb, plural(len(pending), "checkpoint"))
	}
	return report(true)
}

// validTo reports whether --to is written as one of its forms.
func validTo(to string) bool {
	_, isTime := parseTime(to, time.Now())
	return to == "trim-horizon" || to == "latest" || isDecimal(to) || isTime
}

// target resolves --to against the stream.
func (o *cpFlags) target(ctx context.Context, kc *kinesis.Client, info *streamInfo, shards []shardInfo) (checkpoint.Checkpoint, error) {
	switch {
	case o.to == "trim-horizon":
		if info.Created.IsZero() {
			return checkpoint.Checkpoint{}, fmt.Errorf("stream %s: DescribeStreamSummary gave no creation time to start from", info.Name)
		}
		return checkpoint.StartAt(info.Created.Truncate(time.Second)), nil
	case o.to == "latest":
		return checkpoint.StartAt(info.Now), nil
	case isDecimal(o.to):
		if len(shards) != 1 {
			return checkpoint.Checkpoint{}, usagef("--to %s: a sequence number belongs to one shard: name it with --shards", o.to)
		}
		cp := checkpoint.At(o.to)
		if err := cp.Validate(); err != nil {
			return checkpoint.Checkpoint{}, usagef("--to %s: %v", o.to, err)
		}
		if _, err := kc.GetShardIterator(ctx, iteratorAt(info.Name, shards[0].ID, cp)); err != nil {
			return checkpoint.Checkpoint{}, fmt.Errorf("--to %s is not a sequence number of %s that can be read after: %s", o.to, shards[0].ID, shortError(err))
		}
		return cp, nil
	}
	t, ok := parseTime(o.to, info.Now)
	if !ok {
		return checkpoint.Checkpoint{}, usagef("--to %q: want trim-horizon, latest, SEQ, or %s", o.to, timeHelp)
	}
	if t.After(info.Now) {
		return checkpoint.Checkpoint{}, usagef("--to %s is in the future: the service's clock says %s", t.UTC().Format(time.RFC3339), info.Now.UTC().Format(time.RFC3339))
	}
	cp := checkpoint.StartAt(t)
	if err := cp.Validate(); err != nil {
		return checkpoint.Checkpoint{}, usagef("--to %s: %v", o.to, err)
	}
	return cp, nil
}

func (o *cpFlags) printPlan(w io.Writer, stream, verb string, changes []cpChange, todo int) {
	fmt.Fprintf(w, "stream %s, app %s, %s\n%d of %s to %s:\n", stream, o.stores.app, o.stores.where(), todo, plural(len(changes), "shard"), verb)
	header := []string{"SHARD", "NOW", "AFTER"}
	if o.stores.leases.kind != "" {
		header = append(header, "OWNER")
	}
	t := newTable(w, header...)
	for _, ch := range changes {
		after := ch.To.Text
		if ch.Unchanged {
			after = "(unchanged)"
		}
		cells := []string{ch.ShardID, ch.From.Text, after}
		if o.stores.leases.kind != "" {
			cells = append(cells, orDash(ch.Owner))
		}
		t.row(cells...)
	}
	t.flush()
}

// confirm asks question on standard error and reads the answer: yes or y.
func confirm(e *env, question string) (bool, error) {
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	answer, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes", nil
}

func (o *cpFlags) applyStore(ctx context.Context, store checkpoint.Admin, stream string, pending []cpChange, set bool) error {
	if set {
		cps := make(map[string]checkpoint.Checkpoint, len(pending))
		for _, ch := range pending {
			cps[ch.ShardID] = ch.to
		}
		return store.Set(ctx, o.stores.app, stream, cps)
	}
	shards := make([]string, len(pending))
	for i, ch := range pending {
		shards[i] = ch.ShardID
	}
	return store.Delete(ctx, o.stores.app, stream, shards)
}

func (o *cpFlags) applyLeases(ctx context.Context, e *env, op *lease.Operator, pending []cpChange) error {
	targets := make([]lease.Target, len(pending))
	var watched []string
	for i, ch := range pending {
		targets[i] = lease.Target{Shard: ch.ShardID, Checkpoint: ch.to, Parents: ch.parents}
		if ch.live {
			watched = append(watched, ch.ShardID)
		}
	}
	if len(watched) > 0 && !o.force {
		fmt.Fprintf(e.stderr, "kinesin checkpoints: %s with an owner (%s): watching them for up to %v: renewed, they are live and nothing changes; expired, they are set\n",
			plural(len(watched), "lease"), strings.Join(watched, ", "), o.leaseDuration)
	}
	written, err := op.SetCheckpoints(ctx, targets, o.force)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, lease.ErrHeld):
		return &refusedError{fmt.Errorf("live workers hold leases of these shards; stop them (Close releases their leases) or pass --force: %w", err)}
	case errors.Is(err, lease.ErrLost) && len(written) == 0:
		return &refusedError{fmt.Errorf("a worker took a lease while it was being set: a consumer of the app runs; stop it, or pass --force: %w", err)}
	case len(written) > 0:
		return fmt.Errorf("%s set, then: %w", plural(len(written), "checkpoint"), err)
	}
	return err
}
