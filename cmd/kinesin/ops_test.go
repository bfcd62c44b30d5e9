package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinesin-go/kinesin"
	"github.com/kinesin-go/kinesin/checkpoint/checkpointtest"
	"github.com/kinesin-go/kinesin/internal/testenv"
	"github.com/kinesin-go/kinesin/kinesistest"
	"github.com/kinesin-go/kinesin/lease"
)

// tail prints every record put wrote, each shard's in the order put wrote
// them, with the sequence numbers put printed, and KPL aggregates split
// into their user records; SIGINT stops it with exit code 0.
func TestTailPrintsWhatPutWrote(t *testing.T) {
	w := newWorld(t)
	if err := w.fake.CreateStream("orders", 3); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf("line %02d ü", i))
	}
	put := ok(t, strings.Join(lines, "\n")+"\n", "put", "orders", "--endpoint", w.url)
	placed := strings.Split(strings.TrimSpace(put.stdout), "\n")
	if len(placed) != len(lines) || !strings.Contains(put.stderr, "30 records written") {
		t.Fatalf("put printed %d lines for %d records:\n%s\nstderr: %s", len(placed), len(lines), put.stdout, put.stderr)
	}
	want := map[string][]string{} // by shard: "sequence data", in put's order
	for i, p := range placed {
		shard, seq, _ := strings.Cut(p, " ")
		want[shard] = append(want[shard], seq+" "+lines[i])
	}
	if len(want) < 2 {
		t.Fatalf("random partition keys put every record on %v", slices.Collect(maps.Keys(want)))
	}
	agg, err := w.fake.PutAggregated("orders", []kinesistest.UserRecord{
		{PartitionKey: "u", Data: []byte("user 0")}, {PartitionKey: "u", Data: []byte("user 1")}, {PartitionKey: "u", Data: []byte{0xff, 0}},
	})
	if err != nil {
		t.Fatal(err)
	}

	tail := start(t, "tail", "orders", "--from", "trim-horizon", "--format", "json", "--endpoint", w.url)
	got := map[string][]string{}
	var user []tailRecord
	for range len(lines) + 3 {
		var r tailRecord
		if err := json.Unmarshal([]byte(tail.line()), &r); err != nil {
			t.Fatal(err)
		}
		if r.SequenceNumber == agg.SequenceNumber {
			user = append(user, r)
			continue
		}
		if r.Text == nil || string(r.Data) != *r.Text {
			t.Errorf("record %+v: text and data differ", r)
		}
		got[r.ShardID] = append(got[r.ShardID], r.SequenceNumber+" "+*r.Text)
	}
	tail.signal(syscall.SIGINT)
	if code := tail.wait(); code != exitOK {
		t.Errorf("tail exit code %d after SIGINT, want 0; stderr:\n%s", code, tail.stderr)
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("tail printed, by shard:\n%q\nwant what put wrote:\n%q", got, want)
	}
	if len(user) != 3 || user[0].ShardID != agg.ShardID || string(user[1].Data) != "user 1" || user[2].SubSequenceNumber != 2 || user[2].Text != nil {
		t.Errorf("the KPL aggregate's user records: %+v", user)
	}

	// The text and raw formats.
	if err := w.fake.CreateStream("small", 1); err != nil {
		t.Fatal(err)
	}
	w.put("small", "key 1", "hello world")
	w.fake.PutAggregated("small", []kinesistest.UserRecord{{PartitionKey: "a", Data: []byte("x")}, {PartitionKey: "b", Data: []byte{0xff, 0xfe}}})
	text := start(t, "tail", "small", "--from", "trim-horizon", "--endpoint", w.url)
	for i, want := range []string{` "key 1" hello world`, ` a x`, ` b base64://4=`} {
		l := text.line()
		fields := strings.Fields(l)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "shardId-") || !strings.HasSuffix(l, want) {
			t.Errorf("text line %d %q, want shard, sequence, arrival, then %q", i, l, want)
		}
		if i == 2 && !strings.HasSuffix(fields[1], "/1") {
			t.Errorf("the second user record's sequence %q, want /1 after it", fields[1])
		}
	}
	text.signal(syscall.SIGTERM)
	if code := text.wait(); code != exitOK {
		t.Errorf("tail exit code %d after SIGTERM, want 0", code)
	}
	raw := start(t, "tail", "small", "--from", "trim-horizon", "--format", "raw", "--endpoint", w.url)
	if l := raw.line(); l != "hello world" {
		t.Errorf("raw line %q, want the data", l)
	}
	raw.signal(syscall.SIGINT)
	raw.wait()
}

// statusReportOf runs status --json and decodes it.
func statusReportOf(t *testing.T, args ...string) statusReport {
	t.Helper()
	var rep statusReport
	decode(t, ok(t, "", append([]string{"status", "--json"}, args...)...).stdout, &rep)
	return rep
}

// status shows an app with shard leases that lags: its owner, its
// checkpoint, and the oldest record not processed, by arrival.
func TestStatusShowsALaggingAppAndItsOwner(t *testing.T) {
	w := newWorld(t)
	tb := newTables(t)
	if err := w.fake.CreateStream("orders", 2); err != nil {
		t.Fatal(err)
	}
	early := w.put("orders", "a", "e1", "e2", "e3", "e4")
	w.clock.Advance(30 * time.Minute)
	late := w.put("orders", "a", "l1", "l2")
	lateAt := w.clock.Now()
	w.clock.Advance(30 * time.Minute)

	app := checkpointtest.UniqueName("billing")
	flags, leases := leaseSetup(t, w, tb, app, "worker-a")
	c := w.consume("orders", kinesin.WithApp(app), leases)
	if got := c.take(4); !slices.Equal(got, []string{"e1", "e2", "e3", "e4"}) {
		t.Fatalf("the consumer read %q", got)
	}
	c.next() // l1: read, not committed
	if err := c.st.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	var row statusShard
	eventually(t, "status shows the lease of worker-a with the checkpoint at e4", func() bool {
		rep := statusReportOf(t, flags...)
		for _, r := range rep.Shards {
			if r.ShardID == early[0].ShardID {
				row = r
			}
		}
		return row.Owner == "worker-a" && row.Checkpoint.SequenceNumber == early[3].SequenceNumber
	})
	if row.Checkpoint.Kind != "position" || row.State != "open" || row.LeaseCounter == nil || row.Lease == "" || row.Lease == "free" {
		t.Errorf("row %+v: want an open shard, a position, a lease held", row)
	}
	if row.MillisBehindLatest == nil || *row.MillisBehindLatest <= 0 || row.CaughtUp {
		t.Errorf("row %+v: want MillisBehindLatest above 0, not caught up", row)
	}
	if row.OldestUnprocessedArrival == nil || !row.OldestUnprocessedArrival.Equal(lateAt) ||
		row.OldestUnprocessedAgeMillis == nil || *row.OldestUnprocessedAgeMillis != (30*time.Minute).Milliseconds() {
		t.Errorf("row %+v: want the oldest unprocessed record l1, arrived %v, 30m old", row, lateAt)
	}
	if late[0].ShardID != early[0].ShardID {
		t.Fatalf("one key on two shards: %v %v", late, early)
	}
	rep := statusReportOf(t, flags...)
	if rep.Total.Shards != 2 || rep.Total.Owned != 2 || rep.Total.Owners != 1 || rep.Total.OldestUnprocessedAgeMillis == nil ||
		*rep.Total.OldestUnprocessedAgeMillis != (30*time.Minute).Milliseconds() || len(rep.Workers) != 1 || rep.Workers[0].WorkerID != "worker-a" {
		t.Errorf("report %+v", rep)
	}

	// --watch refreshes until SIGINT; the lease seen renewed is judged live.
	watch := start(t, append([]string{"status", "--watch", "--interval", "100ms", "--json"}, flags...)...)
	for live := false; !live; {
		var r statusReport
		if err := json.Unmarshal([]byte(watch.line()), &r); err != nil {
			t.Fatal(err)
		}
		for _, s := range r.Shards {
			live = live || (s.ShardID == early[0].ShardID && s.Lease == "live")
		}
	}
	watch.signal(syscall.SIGINT)
	if code := watch.wait(); code != exitOK {
		t.Errorf("status --watch: exit code %d after SIGINT, want 0", code)
	}

	text := ok(t, "", append([]string{"status"}, flags...)...).stdout
	for _, want := range []string{"worker-a", early[3].SequenceNumber, "30m0s old", "OWNER", "total: 2 shards (2 open)", "2 leases owned by 1 worker"} {
		if !strings.Contains(text, want) {
			t.Errorf("status does not say %q:\n%s", want, text)
		}
	}
}

// checkpoints set --to TIME makes a restarted consumer read again from
// TIME: exactly the records that arrived since, every shard from there;
// with a checkpoint store in DynamoDB and in Redis.
func TestCheckpointsSetToTimeReplays(t *testing.T) {
	for _, kind := range []string{"dynamodb", "redis"} {
		t.Run(kind, func(t *testing.T) {
			w := newWorld(t)
			var flags []string
			var opts []kinesin.Option
			app := checkpointtest.UniqueName("billing")
			switch kind {
			case "dynamodb":
				tb := newTables(t)
				flags = []string{"--store", tb.checkpoint, "--dynamodb-endpoint", tb.endpoint}
				opts = []kinesin.Option{kinesin.WithCheckpointer(tb.ckStore)}
			case "redis":
				prefix := checkpointtest.UniqueName("kinesin-test") + ":"
				flags = []string{"--store", "redis://" + testenv.RedisAddr(t) + "/0?prefix=" + prefix}
				opts = []kinesin.Option{kinesin.WithCheckpointer(redisStore(t, prefix))}
			}
			opts = append(opts, kinesin.WithApp(app))
			flags = append([]string{"orders", "--app", app, "--endpoint", w.url}, flags...)
			replay(t, w, flags, opts)
		})
	}
}

// replay runs the scenario of TestCheckpointsSetToTimeReplays with the
// command's flags and the consumer's options for one store.
func replay(t *testing.T, w *world, flags []string, opts []kinesin.Option) {
	if err := w.fake.CreateStream("orders", 2); err != nil {
		t.Fatal(err)
	}
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	var last kinesistest.PutResult
	batch := func(prefix string) map[string][]string {
		byShard := map[string][]string{}
		for _, k := range keys {
			last = w.put("orders", k, prefix+k)[0]
			byShard[last.ShardID] = append(byShard[last.ShardID], prefix+k)
		}
		return byShard
	}
	olds := batch("old-")
	w.clock.Advance(time.Hour)
	since := w.clock.Now().Add(-time.Minute)
	news := batch("new-")
	if len(olds) != 2 {
		t.Fatalf("the keys land on one shard: %v", olds)
	}

	c := w.consume("orders", opts...)
	c.take(2 * len(keys))
	c.close()
	before := ok(t, "", append([]string{"checkpoints", "list", "--json"}, flags...)...).stdout

	// Without --yes and without a terminal: a dry run.
	set := append([]string{"checkpoints", "set", "--to", since.UTC().Format(time.RFC3339)}, flags...)
	dry := ok(t, "", set...)
	if !strings.Contains(dry.stderr, "dry run, nothing changed") || !strings.Contains(dry.stdout, "2 of 2 shards to set") {
		t.Errorf("a set without --yes:\n%s\nstderr: %s", dry.stdout, dry.stderr)
	}
	if after := ok(t, "", append([]string{"checkpoints", "list", "--json"}, flags...)...).stdout; after != before {
		t.Errorf("a dry run changed the checkpoints:\n%s\nthen\n%s", before, after)
	}
	done := ok(t, "", append(set, "--yes")...)
	if !strings.Contains(done.stdout, "set 2 checkpoints") {
		t.Errorf("set --yes said:\n%s", done.stdout)
	}
	var listed struct {
		Checkpoints []struct {
			ShardID    string         `json:"shard_id"`
			Checkpoint jsonCheckpoint `json:"checkpoint"`
		} `json:"checkpoints"`
	}
	decode(t, ok(t, "", append([]string{"checkpoints", "list", "--json"}, flags...)...).stdout, &listed)
	for _, l := range listed.Checkpoints {
		if l.Checkpoint.Kind != "start" || l.Checkpoint.Timestamp == nil || !l.Checkpoint.Timestamp.Equal(since) {
			t.Errorf("listed %+v, want a start at %v", l, since)
		}
	}

	// The restarted consumer reads each shard from the new records on.
	c = w.consume("orders", opts...)
	got := map[string][]string{}
	for range len(keys) {
		r := c.next()
		got[r.ShardID] = append(got[r.ShardID], string(r.Data))
		r.Commit()
	}
	if !maps.EqualFunc(got, news, slices.Equal) {
		t.Errorf("after set --to %v the consumer read %q, want %q", since, got, news)
	}
	c.close()
	rep := statusReportOf(t, flags...)
	if rep.Total.CaughtUp != 2 || rep.Total.WithCheckpoint != 2 {
		t.Errorf("status after the replay: %+v, want both shards caught up", rep.Total)
	}

	// --to SEQ: the records of its shard after it.
	ok(t, "", slices.Concat([]string{"checkpoints", "set", "--to", last.SequenceNumber, "--shards", last.ShardID, "--yes"}, flags)...)
	decode(t, ok(t, "", append([]string{"checkpoints", "list", "--json"}, flags...)...).stdout, &listed)
	for _, l := range listed.Checkpoints {
		if l.ShardID == last.ShardID && (l.Checkpoint.Kind != "position" || l.Checkpoint.SequenceNumber != last.SequenceNumber) {
			t.Errorf("after set --to %s: %+v", last.SequenceNumber, l)
		}
	}

	// reset removes them; list names the app until then.
	apps := ok(t, "", slices.Concat([]string{"checkpoints", "list"}, slices.DeleteFunc(slices.Clone(flags), func(s string) bool { return s == "--app" || strings.HasPrefix(s, "billing-") }))...).stdout
	if !strings.Contains(apps, "billing-") {
		t.Errorf("checkpoints list without --app does not name the app:\n%s", apps)
	}
	ok(t, "", append([]string{"checkpoints", "reset", "--yes"}, flags...)...)
	decode(t, ok(t, "", append([]string{"checkpoints", "list", "--json"}, flags...)...).stdout, &listed)
	if len(listed.Checkpoints) != 0 {
		t.Errorf("after reset: %+v", listed.Checkpoints)
	}
}

// leaseFlags returns the command's flags for the app's leases, and the
// consumer's option for them, with a 1s lease.
func leaseSetup(t *testing.T, w *world, tb *tables, app, worker string) ([]string, kinesin.Option) {
	flags := []string{"orders", "--app", app, "--leases", tb.leas, "--endpoint", w.url, "--dynamodb-endpoint", tb.endpoint, "--lease-duration", "1s"}
	return flags, kinesin.WithLeases(tb.leaseStore, lease.WithWorkerID(worker), lease.WithLeaseDuration(time.Second), lease.WithCycleInterval(100*time.Millisecond))
}

// With shard leases, checkpoints set refuses while a worker holds them
// (exit code 3), writes over it with --force (the worker replays from
// there at once), sets released leases at once and a crashed worker's once
// they expire.
func TestCheckpointsSetWithLeases(t *testing.T) {
	w := newWorld(t)
	tb := newTables(t)
	if err := w.fake.CreateStream("orders", 2); err != nil {
		t.Fatal(err)
	}
	app := checkpointtest.UniqueName("billing")
	flags, leases := leaseSetup(t, w, tb, app, "worker-a")
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
	for _, k := range keys {
		w.put("orders", k, "old-"+k)
	}
	w.clock.Advance(time.Hour)
	since := w.clock.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	var news []string
	for _, k := range keys {
		w.put("orders", k, "new-"+k)
		news = append(news, "new-"+k)
	}
	slices.Sort(news)
	sorted := func(s []string) []string { slices.Sort(s); return s }

	c := w.consume("orders", kinesin.WithApp(app), leases)
	c.take(2 * len(keys))
	set := append([]string{"checkpoints", "set", "--to", since, "--yes"}, flags...)
	r := kin(t, "", set...)
	if r.code != exitRefused || !strings.Contains(r.stderr, "live workers hold leases") || !strings.Contains(r.stderr, "owner worker-a") {
		t.Fatalf("set while worker-a reads: exit code %d, stderr:\n%s", r.code, r.stderr)
	}
	ok(t, "", append(set, "--force")...)
	if got := sorted(c.take(len(keys))); !slices.Equal(got, news) {
		t.Errorf("after set --force the running worker read %q, want %q again", got, news)
	}
	c.close()

	// Released by Close: set at once, read from there by the next run.
	ok(t, "", append([]string{"checkpoints", "set", "--to", "trim-horizon", "--yes"}, flags...)...)
	c = w.consume("orders", kinesin.WithApp(app), leases)
	if got := c.take(2 * len(keys)); !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "old-") }) {
		t.Errorf("after set --to trim-horizon the consumer read %q, want the old records too", got)
	}
	c.crash()

	// Held by a crashed worker: set once the leases expired.
	done := ok(t, "", set...)
	if !strings.Contains(done.stderr, "watching them for up to 1s") {
		t.Errorf("set after a crash did not say it watches the leases:\n%s", done.stderr)
	}
	c = w.consume("orders", kinesin.WithApp(app), leases)
	if got := sorted(c.take(len(keys))); !slices.Equal(got, news) {
		t.Errorf("after set following a crash the consumer read %q, want %q", got, news)
	}
	c.close()
}

// leasesOf runs leases list --json.
func leasesOf(t *testing.T, flags []string, extra ...string) (ls []jsonLease, ws []statusWorker) {
	t.Helper()
	var out struct {
		Leases  []jsonLease    `json:"leases"`
		Workers []statusWorker `json:"workers"`
	}
	decode(t, ok(t, "", slices.Concat([]string{"leases", "list", "--json"}, flags, extra)...).stdout, &out)
	return out.Leases, out.Workers
}

// leases list shows owners, counters and liveness; leases release frees a
// crashed worker's leases at once.
func TestLeasesListAndRelease(t *testing.T) {
	w := newWorld(t)
	tb := newTables(t)
	if err := w.fake.CreateStream("orders", 2); err != nil {
		t.Fatal(err)
	}
	app := checkpointtest.UniqueName("billing")
	flags, leases := leaseSetup(t, w, tb, app, "worker-a")
	flags = slices.DeleteFunc(flags, func(s string) bool { return s == "--endpoint" || s == w.url })
	c := w.consume("orders", kinesin.WithApp(app), leases)
	eventually(t, "worker-a holds both leases", func() bool {
		ls, _ := leasesOf(t, flags)
		return len(ls) == 2 && ls[0].Owner == "worker-a" && ls[1].Owner == "worker-a"
	})
	ls, ws := leasesOf(t, flags, "--observe", "1500ms")
	for _, l := range ls {
		if l.State != "live" || l.Counter == 0 || l.ExpiresBy == nil {
			t.Errorf("lease of a running worker: %+v, want live", l)
		}
	}
	if len(ws) != 1 || ws[0].WorkerID != "worker-a" || !ws[0].Live || ws[0].State != "live" {
		t.Errorf("workers %+v, want worker-a live", ws)
	}
	text := ok(t, "", append([]string{"leases", "list"}, flags...)...).stdout
	for _, want := range []string{"SHARD", "OWNER", "worker-a", "shardId-000000000000", "WORKER"} {
		if !strings.Contains(text, want) {
			t.Errorf("leases list does not say %q:\n%s", want, text)
		}
	}

	c.crash()
	ls, ws = leasesOf(t, flags, "--observe", "1500ms")
	for _, l := range ls {
		if l.State != "expired" || l.Owner != "worker-a" {
			t.Errorf("lease of a crashed worker: %+v, want worker-a's, expired", l)
		}
	}
	if len(ws) != 1 || ws[0].Live || ws[0].State != "silent" {
		t.Errorf("workers %+v, want worker-a silent", ws)
	}
	release := append([]string{"leases", "release", "--owner", "worker-a"}, flags...)
	if dry := ok(t, "", release...); !strings.Contains(dry.stderr, "dry run") || !strings.Contains(dry.stdout, "2 leases to release") {
		t.Errorf("release without --yes:\n%s\nstderr: %s", dry.stdout, dry.stderr)
	}
	if ls, _ := leasesOf(t, flags); ls[0].Owner != "worker-a" {
		t.Errorf("a dry run released %+v", ls[0])
	}
	if r := ok(t, "", append(release, "--yes")...); !strings.Contains(r.stdout, "released 2 leases") {
		t.Errorf("release --yes said:\n%s", r.stdout)
	}
	for _, l := range func() []jsonLease { ls, _ := leasesOf(t, flags); return ls }() {
		if l.Owner != "" || l.State != "free" {
			t.Errorf("after release: %+v, want free", l)
		}
	}
	if r := ok(t, "", append(release, "--yes")...); !strings.Contains(r.stderr, "no lease with an owner") {
		t.Errorf("a second release said:\n%s", r.stderr)
	}
}

// Failures while running exit 1 with a message naming what failed; values
// only the service can judge bad exit 2.
func TestOperatorFailures(t *testing.T) {
	w := newWorld(t)
	if err := w.fake.CreateStream("orders", 2); err != nil {
		t.Fatal(err)
	}
	redis := "redis://" + testenv.RedisAddr(t) + "/0?prefix=" + checkpointtest.UniqueName("kinesin-test") + ":"
	future := w.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "orders", "--app", "a", "--store", redis, "--endpoint", "http://127.0.0.1:1"}, exitError, "cannot reach the Kinesis endpoint"},
		{[]string{"tail", "orders", "--endpoint", "http://127.0.0.1:1"}, exitError, "connection refused"},
		{[]string{"put", "orders", "--endpoint", "http://127.0.0.1:1"}, exitError, "cannot reach the Kinesis endpoint"},
		{[]string{"checkpoints", "list", "orders", "--app", "a", "--store", "redis://127.0.0.1:1"}, exitError, "connection refused"},
		{[]string{"status", "nope", "--app", "a", "--store", redis, "--endpoint", w.url}, exitError, "stream nope not found"},
		{[]string{"tail", "nope", "--endpoint", w.url}, exitError, "stream nope not found"},
		{[]string{"checkpoints", "set", "orders", "--app", "a", "--store", redis, "--endpoint", w.url, "--to", future}, exitUsage, "is in the future"},
		{[]string{"checkpoints", "set", "orders", "--app", "a", "--store", redis, "--endpoint", w.url, "--to", "4959"}, exitUsage, "name it with --shards"},
		{[]string{"checkpoints", "set", "orders", "--app", "a", "--store", redis, "--endpoint", w.url, "--to", "4959", "--shards", "shardId-000000000000"}, exitError, "is not a sequence number of shardId-000000000000"},
		{[]string{"checkpoints", "set", "orders", "--app", "a", "--store", redis, "--endpoint", w.url, "--to", "latest", "--shards", "shardId-000000000009"}, exitUsage, `the stream orders has no shard "shardId-000000000009"`},
		{[]string{"checkpoints", "set", "orders", "--app", "a", "--store", redis, "--endpoint", w.url, "--to", "latest", "--force"}, exitUsage, "--force applies to --leases only"},
		{[]string{"leases", "release", "orders", "--app", "a", "--leases", "dynamodb://t", "--dynamodb-endpoint", "http://127.0.0.1:1"}, exitError, "connection refused"},
		{[]string{"checkpoints", "list", "orders", "--app", "a", "--store", "dynamodb://no-such-table", "--dynamodb-endpoint", testenv.DynaliteURL(t)}, exitError, "table no-such-table: operation error DynamoDB: Query"},
	} {
		t.Run(strings.Join(tc.args[:2], " "), func(t *testing.T) {
			t.Parallel()
			r := kin(t, "a record\n", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("kinesin %s: exit code %d, stderr:\n%s\nwant %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
}

// Without a region, the commands that call AWS say so (exit code 2); with
// an AWS profile that does not exist, they name it (exit code 1).
func TestAWSConfigurationErrors(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{nil, []string{"status", "s", "--app", "a", "--store", "dynamodb://t"}, exitUsage, "no AWS region: pass --region or set AWS_REGION"},
		{[]string{"AWS_REGION=us-east-1"}, []string{"tail", "s", "--profile", "nosuchprofile"}, exitError, "--profile nosuchprofile"},
	} {
		cmd := exec.CommandContext(t.Context(), binary(t), tc.args...)
		cmd.Env = append(slices.DeleteFunc(awsEnv(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_REGION=") }), tc.env...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("kinesin %s: %v, stderr:\n%s\nwant exit code %d and %q", strings.Join(tc.args, " "), err, stderr.String(), tc.code, tc.want)
		}
	}
}

// On a terminal, a change asks first: an answer other than yes changes
// nothing (exit code 3), yes applies it. Run in process, with the answers
// as standard input.
func TestChangeAsksOnATerminal(t *testing.T) {
	w := newWorld(t)
	if err := w.fake.CreateStream("orders", 1); err != nil {
		t.Fatal(err)
	}
	for _, kv := range awsEnv() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, v)
		}
	}
	prefix := checkpointtest.UniqueName("kinesin-test") + ":"
	args := []string{"checkpoints", "set", "orders", "--app", "a", "--store", "redis://" + testenv.RedisAddr(t) + "/0?prefix=" + prefix, "--endpoint", w.url, "--to", "latest"}
	store := redisStore(t, prefix)
	for _, tc := range []struct {
		answer string
		code   int
		set    bool
	}{{"", exitRefused, false}, {"n\n", exitRefused, false}, {"nope\n", exitRefused, false}, {"yes\n", exitOK, true}} {
		var stdout, stderr strings.Builder
		code := run(args, &env{stdin: strings.NewReader(tc.answer), stdout: &stdout, stderr: &stderr, interactive: true})
		cps, err := store.Load(t.Context(), "a", "orders")
		if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || (len(cps) > 0) != tc.set || !strings.Contains(stderr.String(), "Set 1 checkpoint of app a on stream orders? [y/N]") {
			t.Errorf("answer %q: exit code %d, %d checkpoints; want %d, set %v; stderr:\n%s", tc.answer, code, len(cps), tc.code, tc.set, stderr.String())
		}
	}
}

// tail --stop-when-caught-up prints what the stream holds and ends by
// itself with exit code 0; --stop-at ends after the records that arrived by
// then; --shards prints only the shards named.
func TestTailStops(t *testing.T) {
	w := newWorld(t)
	if err := w.fake.CreateStream("dump", 2); err != nil {
		t.Fatal(err)
	}
	early := w.put("dump", "a", "a1", "a2")
	early = append(early, w.put("dump", "b", "b1")...)
	w.clock.Advance(time.Minute)
	stopAt := w.clock.Now()
	w.clock.Advance(time.Minute)
	late := w.put("dump", "a", "a3")
	late = append(late, w.put("dump", "b", "b2")...)

	lines := func(out string) map[string][]string {
		got := map[string][]string{}
		for l := range strings.Lines(out) {
			var r tailRecord
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%v: %q", err, l)
			}
			got[r.ShardID] = append(got[r.ShardID], *r.Text)
		}
		return got
	}
	want := func(data []string, rs []kinesistest.PutResult, shard string) map[string][]string {
		m := map[string][]string{}
		for i, r := range rs {
			if shard == "" || r.ShardID == shard {
				m[r.ShardID] = append(m[r.ShardID], data[i])
			}
		}
		return m
	}
	all := append(slices.Clone(early), late...)
	allData := []string{"a1", "a2", "b1", "a3", "b2"}

	r := ok(t, "", "tail", "dump", "--from", "trim-horizon", "--stop-when-caught-up", "--format", "json", "--endpoint", w.url)
	if got, want := lines(r.stdout), want(allData, all, ""); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("--stop-when-caught-up printed %q, want %q", got, want)
	}
	r = ok(t, "", "tail", "dump", "--from", "trim-horizon", "--stop-at", stopAt.Format(time.RFC3339Nano), "--format", "json", "--endpoint", w.url)
	if got, want := lines(r.stdout), want(allData[:3], early, ""); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("--stop-at printed %q, want %q", got, want)
	}
	shard := late[0].ShardID
	r = ok(t, "", "tail", "dump", "--from", "trim-horizon", "--stop-when-caught-up", "--shards", shard, "--format", "json", "--endpoint", w.url)
	if got, want := lines(r.stdout), want(allData, all, shard); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("--shards %s printed %q, want %q", shard, got, want)
	}

	for _, bad := range [][]string{
		{"--stop-at", "yesterday"},
		{"--stop-at", stopAt.Format(time.RFC3339), "--stop-when-caught-up"},
		{"--shards", "shardId-000000000009", "--stop-when-caught-up"},
	} {
		r := kin(t, "", append([]string{"tail", "dump", "--endpoint", w.url}, bad...)...)
		if r.code != exitUsage {
			t.Errorf("tail %q: exit code %d, want %d (usage); stderr:\n%s", bad, r.code, exitUsage, r.stderr)
		}
	}
}
