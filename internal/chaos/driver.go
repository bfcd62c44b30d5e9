//go:build unix

package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kinesin-go/kinesin/lease/dynamolease"
)

// slot is a worker slot: one worker process at a time, restarted under a
// new incarnation name after it died.
type slot struct {
	name     string // w1
	gen      int
	inc      string // the current incarnation: w1.3
	proc     *process
	paused   bool
	resumeAt time.Time
	// killed or terminated by the driver: its exit is expected.
	expectExit bool
	terminated time.Time // when SIGTERM was sent; zero if not
	restartAt  time.Time // zero: not dead, or not to restart
}

func (s *slot) running() bool {
	return s.proc != nil && !s.proc.exited() && !s.paused && s.terminated.IsZero()
}

// driver runs one soak.
type driver struct {
	cfg      Config
	ctx      context.Context
	rng      *rand.Rand
	log      *Log
	ctl      *controlClient
	fakeURL  string
	table    string
	app      string
	fake     *process
	producer *process
	slots    []*slot
	procsMu  sync.Mutex
	procs    []*process // every process started, for cleanup

	lastKill   time.Time
	faultHits  int
	counts     map[string]int // actions done, by kind
	faultKinds map[string]int
}

// Soak runs a soak: it starts the fake, the producer and the workers,
// disrupts them for cfg.Duration, drains, stops everything, and checks the
// logs. The error is the harness's (a process that would not start, the
// fake that stopped answering...); what the library did wrong is in the
// Report's failures. Every process it started is gone when it returns.
func Soak(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	log, err := CreateLog(filepath.Join(cfg.Dir, driverLog))
	if err != nil {
		return nil, err
	}
	d := &driver{
		cfg: cfg, ctx: ctx, log: log,
		rng:        rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		table:      fmt.Sprintf("chaos-leases-%d-%d", time.Now().UnixNano(), cfg.Seed),
		app:        fmt.Sprintf("chaos-%s-%d", cfg.Mode, cfg.Seed),
		counts:     map[string]int{},
		faultKinds: map[string]int{},
	}
	defer d.cleanup()
	st := settings{Mode: cfg.Mode, Seed: cfg.Seed, Duration: cfg.Duration, Workers: cfg.Workers,
		LeaseDuration: cfg.LeaseDuration, CycleInterval: cfg.CycleInterval, FailoverSlack: cfg.FailoverSlack}
	if err := writeJSONFile(filepath.Join(cfg.Dir, settingsFile), st); err != nil {
		return nil, err
	}
	if err := d.run(); err != nil {
		return nil, err
	}
	if err := log.Close(); err != nil {
		return nil, err
	}
	rep, err := Check(cfg.Dir)
	if rep != nil {
		rep.Actions = d.counts
		rep.FaultKinds = d.faultKinds
		rep.FaultHits = d.faultHits
	}
	return rep, err
}

// cleanup kills every process still running.
func (d *driver) cleanup() {
	d.procsMu.Lock()
	procs := slices.Clone(d.procs)
	d.procsMu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			p.kill()
		}
	}
}

func (d *driver) start(name string, args []string, stdout io.Writer) (*process, error) {
	p, err := startProcess(name, d.cfg.Bin, args, stdout, filepath.Join(d.cfg.Dir, name+".stderr"))
	if err != nil {
		return nil, err
	}
	d.procsMu.Lock()
	d.procs = append(d.procs, p)
	d.procsMu.Unlock()
	return p, nil
}

// sleep waits d, or returns the context's error.
func (d *driver) sleep(dur time.Duration) error {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
}

// between returns a random duration in [lo, hi).
func (d *driver) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(d.rng.Int64N(int64(hi-lo)))
}

func (d *driver) run() error {
	cfg := d.cfg
	if err := d.startFake(); err != nil {
		return err
	}
	d.ctl = newControlClient(d.fakeURL)
	if err := d.ctl.createStream(d.ctx, soakStream, cfg.Shards); err != nil {
		return fmt.Errorf("creating the stream: %w", err)
	}
	if cfg.Mode == "efo" {
		if err := d.ctl.registerConsumer(d.ctx, soakStream, soakConsumer); err != nil {
			return fmt.Errorf("registering the EFO consumer: %w", err)
		}
	}
	tctx, cancel := context.WithTimeout(d.ctx, time.Minute)
	err := dynamolease.CreateTable(tctx, dynamoClient(cfg.DynamoURL), d.table)
	cancel()
	if err != nil {
		return fmt.Errorf("creating the lease table: %w", err)
	}
	producer, err := d.start("producer", []string{"producer", "-kinesis", d.fakeURL, "-stream", soakStream,
		"-keys", strconv.Itoa(cfg.Keys), "-rate", strconv.Itoa(cfg.Rate), "-log", filepath.Join(cfg.Dir, producerLog)}, nil)
	if err != nil {
		return err
	}
	d.producer = producer
	for i := range cfg.Workers {
		s := &slot{name: fmt.Sprintf("w%d", i+1)}
		d.slots = append(d.slots, s)
		if err := d.spawn(s, false); err != nil {
			return err
		}
	}
	cfg.Logf("chaos %s seed %d: fake %s, lease table %s, %d workers; chaos for %v (logs in %s)",
		cfg.Mode, cfg.Seed, d.fakeURL, d.table, cfg.Workers, cfg.Duration, cfg.Dir)

	stopWatch := d.watchStalls()
	defer stopWatch()
	d.phase("chaos")
	if err := d.chaos(); err != nil {
		return err
	}
	d.phase("drain")
	if err := d.calm(); err != nil {
		return err
	}
	drained, err := d.drain()
	if err != nil {
		return err
	}
	d.phase("shutdown")
	d.shutdown()
	if !drained {
		cfg.Logf("not every acknowledged record was handed out within %v of the end of the chaos", cfg.DrainTimeout)
	}
	shards, err := d.ctl.shards(context.WithoutCancel(d.ctx), soakStream)
	if err != nil {
		return fmt.Errorf("listing the final shards: %w", err)
	}
	if err := writeJSONFile(filepath.Join(cfg.Dir, shardsFile), shards); err != nil {
		return err
	}
	d.fake.signal(syscall.SIGTERM)
	d.fake.stdin.Close()
	if !d.fake.wait(10 * time.Second) {
		d.fake.kill()
	}
	return nil
}

func (d *driver) phase(name string) {
	d.log.Write(Event{Ev: EvPhase, Detail: name})
	d.cfg.Logf("phase %s", name)
}

// startFake starts the fake and reads its URL.
func (d *driver) startFake() error {
	args := []string{"fake", "-seed", strconv.FormatUint(d.cfg.Seed, 10)}
	if d.cfg.Mode == "efo" {
		args = append(args, "-clock-factor", strconv.Itoa(efoClockFactor))
	}
	r, w := io.Pipe()
	fake, err := d.start("fake", args, w)
	if err != nil {
		return err
	}
	d.fake = fake
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				select {
				case url <- u:
				default:
				}
			}
		}
		io.Copy(io.Discard, r)
	}()
	go func() {
		<-fake.done
		w.Close()
	}()
	select {
	case d.fakeURL = <-url:
		return nil
	case <-fake.done:
		return fmt.Errorf("the fake exited before listening; see %s", filepath.Join(d.cfg.Dir, "fake.stderr"))
	case <-time.After(60 * time.Second):
		return errors.New("the fake did not listen within 60s")
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
}

// spawn starts the next incarnation of a worker slot, under the same lease
// worker id as the last one or, at random, a new one.
func (d *driver) spawn(s *slot, random bool) error {
	s.gen++
	s.inc = fmt.Sprintf("%s.%d", s.name, s.gen)
	leaseID := s.inc
	if random && d.rng.IntN(2) == 0 {
		leaseID = s.name // a restart under a fixed id takes its leases back at once
	}
	if !random {
		leaseID = s.name
	}
	cfg := d.cfg
	args := []string{"worker", "-kinesis", d.fakeURL, "-dynamodb", cfg.DynamoURL, "-table", d.table,
		"-app", d.app, "-stream", soakStream, "-mode", cfg.Mode, "-consumer", soakConsumer,
		"-name", s.inc, "-lease-id", leaseID,
		"-lease-duration", cfg.LeaseDuration.String(), "-cycle", cfg.CycleInterval.String(),
		"-checkpoint", cfg.CheckpointInterval.String(), "-close-timeout", closeTimeout.String(),
		"-seed", strconv.FormatUint(d.rng.Uint64(), 10),
		"-log", filepath.Join(cfg.Dir, s.inc+workerSuffix)}
	p, err := d.start(s.inc, args, nil)
	if err != nil {
		return err
	}
	s.proc, s.paused, s.expectExit, s.terminated, s.restartAt = p, false, false, time.Time{}, time.Time{}
	d.log.Write(Event{Ev: EvSpawn, W: s.inc, Detail: leaseID})
	return nil
}

// reap notes the workers that exited, and when to restart them (restart:
// during the chaos).
func (d *driver) reap(restart bool) {
	for _, s := range d.slots {
		if s.proc == nil || !s.proc.exited() {
			continue
		}
		code, how := s.proc.how()
		d.log.Write(Event{Ev: EvExited, W: s.inc, Code: code, Detail: how})
		if !s.expectExit {
			d.cfg.Logf("%s exited on its own: %s", s.inc, how)
		}
		s.proc = nil
		if restart {
			s.restartAt = time.Now().Add(d.between(500*time.Millisecond, 3*time.Second))
		}
	}
}

// runningCount counts the workers alive, not paused and not terminating.
func (d *driver) runningCount() int {
	n := 0
	for _, s := range d.slots {
		if s.running() {
			n++
		}
	}
	return n
}

// chaos disrupts the workers, reshards and injects faults until the end of
// the chaos phase.
func (d *driver) chaos() error {
	end := time.Now().Add(d.cfg.Duration)
	next := time.Now().Add(d.between(time.Second, 2*time.Second))
	for time.Now().Before(end) {
		if err := d.sleep(50 * time.Millisecond); err != nil {
			return err
		}
		d.reap(true)
		now := time.Now()
		for _, s := range d.slots {
			if s.paused && !now.Before(s.resumeAt) {
				d.resume(s)
			}
			if s.proc == nil && !s.restartAt.IsZero() && !now.Before(s.restartAt) {
				if err := d.spawn(s, true); err != nil {
					return err
				}
				d.counts["restart"]++
			}
		}
		if now.Before(next) {
			continue
		}
		next = now.Add(d.between(800*time.Millisecond, 2*time.Second))
		if err := d.act(); err != nil {
			return err
		}
	}
	return nil
}

// act does one random action.
func (d *driver) act() error {
	type choice struct {
		weight int
		do     func() error
	}
	choices := []choice{
		{3, d.disrupt},
		{2, d.reshard},
		{3, d.injectFault},
		{1, d.clearFaults},
	}
	total := 0
	for _, c := range choices {
		total += c.weight
	}
	r := d.rng.IntN(total)
	for _, c := range choices {
		if r < c.weight {
			return c.do()
		}
		r -= c.weight
	}
	return nil
}

// disrupt SIGKILLs, SIGTERMs or SIGSTOPs a running worker, if two others
// keep running and no failover is being measured.
func (d *driver) disrupt() error {
	window := d.cfg.LeaseDuration + d.cfg.CycleInterval + d.cfg.FailoverSlack + time.Second
	if time.Since(d.lastKill) < window || d.runningCount() < 3 {
		return nil
	}
	var cands []*slot
	for _, s := range d.slots {
		if s.running() {
			cands = append(cands, s)
		}
	}
	s := cands[d.rng.IntN(len(cands))]
	switch d.rng.IntN(3) {
	case 0:
		d.log.Write(Event{Ev: EvKill, W: s.inc})
		s.expectExit = true
		s.proc.signal(syscall.SIGKILL)
		d.lastKill = time.Now()
		d.counts["SIGKILL"]++
	case 1:
		d.log.Write(Event{Ev: EvSigterm, W: s.inc})
		s.expectExit = true
		s.terminated = time.Now()
		s.proc.signal(syscall.SIGTERM)
		d.counts["SIGTERM"]++
	default:
		dur := time.Duration(float64(d.cfg.LeaseDuration) * (0.5 + 2*d.rng.Float64()))
		d.log.Write(Event{Ev: EvStop, W: s.inc, Detail: dur.String()})
		s.paused, s.resumeAt = true, time.Now().Add(dur)
		s.proc.signal(syscall.SIGSTOP)
		d.counts["SIGSTOP"]++
		if dur > d.cfg.LeaseDuration {
			d.counts["SIGSTOP longer than the lease"]++
		}
	}
	return nil
}

func (d *driver) resume(s *slot) {
	d.log.Write(Event{Ev: EvCont, W: s.inc})
	s.proc.signal(syscall.SIGCONT)
	s.paused = false
}

// openShards lists the open shards, by hash key range.
func (d *driver) openShards() ([]Shard, error) {
	all, err := d.ctl.shards(d.ctx, soakStream)
	if err != nil {
		return nil, err
	}
	var open []Shard
	for _, s := range all {
		if s.Open {
			open = append(open, s)
		}
	}
	key := func(s Shard) *big.Int {
		n, _ := new(big.Int).SetString(s.StartingHashKey, 10)
		return n
	}
	slices.SortFunc(open, func(a, b Shard) int { return key(a).Cmp(key(b)) })
	return open, nil
}

// reshard splits, merges or scales the stream, keeping 2 to MaxShards open
// shards. A refusal of the fake is logged, not an error of the run.
func (d *driver) reshard() error {
	open, err := d.openShards()
	if err != nil {
		return fmt.Errorf("listing the shards: %w", err)
	}
	n := len(open)
	var detail string
	switch op := d.rng.IntN(3); {
	case op == 0 && n < d.cfg.MaxShards:
		s := open[d.rng.IntN(n)]
		var children []string
		children, err = d.ctl.split(d.ctx, soakStream, s.ID)
		detail = fmt.Sprintf("split %s into %v", s.ID, children)
		d.counts["split"]++
	case op == 1 && n > 2:
		i := d.rng.IntN(n - 1)
		var child string
		child, err = d.ctl.merge(d.ctx, soakStream, open[i].ID, open[i+1].ID)
		detail = fmt.Sprintf("merge %s and %s into %s", open[i].ID, open[i+1].ID, child)
		d.counts["merge"]++
	default:
		lo, hi := (n+1)/2, min(2*n, d.cfg.MaxShards)
		lo = max(lo, 2)
		if hi <= lo {
			return nil
		}
		target := lo + d.rng.IntN(hi-lo+1)
		if target == n {
			return nil
		}
		err = d.ctl.shardCount(d.ctx, soakStream, target)
		detail = fmt.Sprintf("UpdateShardCount %d to %d", n, target)
		d.counts["UpdateShardCount"]++
	}
	if err != nil {
		detail += ": " + err.Error()
		var ce *controlError
		if !errors.As(err, &ce) {
			return fmt.Errorf("%s: %w", detail, err)
		}
	}
	d.log.Write(Event{Ev: EvReshard, Detail: detail})
	return nil
}

// injectFault injects a random fault of the mode's read path, or of the
// calls Open makes.
func (d *driver) injectFault() error {
	type spec struct {
		name string
		f    fault
	}
	act := func(typ string, kv ...any) map[string]any {
		m := map[string]any{"type": typ}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	on := func(op string) map[string]string { return map[string]string{"op": op, "stream": soakStream} }
	specs := []spec{
		{"ListShards 500s", fault{Match: on("ListShards"), Action: act("internal-failure"), Times: 1 + d.rng.IntN(3)}},
		{"DescribeStreamSummary 503s", fault{Match: on("DescribeStreamSummary"), Action: act("service-unavailable"), Times: 1 + d.rng.IntN(3)}},
	}
	if d.cfg.Mode == "polling" {
		specs = append(specs,
			spec{"GetRecords throttles", fault{Match: on("GetRecords"), Action: act("throttle"), Times: 20, Probability: 0.3}},
			spec{"GetRecords 500s", fault{Match: on("GetRecords"), Action: act("internal-failure"), Times: 6}},
			spec{"GetRecords 503s", fault{Match: on("GetRecords"), Action: act("service-unavailable"), Times: 6}},
			spec{"GetRecords expired iterators", fault{Match: on("GetRecords"), Action: act("expired-iterator"), Times: 6}},
			spec{"GetRecords dropped connections", fault{Match: on("GetRecords"), Action: act("drop-connection"), Times: 3}},
			spec{"GetRecords latency", fault{Match: on("GetRecords"), Action: act("latency", "latency", "300ms"), Times: 10}},
			spec{"GetShardIterator throttles", fault{Match: on("GetShardIterator"), Action: act("throttle"), Times: 4}},
			spec{"GetShardIterator 500s", fault{Match: on("GetShardIterator"), Action: act("internal-failure"), Times: 4}},
		)
	} else {
		specs = append(specs,
			spec{"SubscribeToShard cut streams", fault{Match: on("SubscribeToShard"), Action: act("cut-stream", "afterEvents", 1+d.rng.IntN(5)), Times: 4}},
			spec{"SubscribeToShard stream exceptions", fault{Match: on("SubscribeToShard"), Action: act("stream-exception", "code", "InternalFailureException", "afterEvents", d.rng.IntN(4)), Times: 3}},
			spec{"SubscribeToShard throttles", fault{Match: on("SubscribeToShard"), Action: act("throttle"), Times: 4}},
			spec{"SubscribeToShard 500s", fault{Match: on("SubscribeToShard"), Action: act("internal-failure"), Times: 3}},
			spec{"SubscribeToShard dropped connections", fault{Match: on("SubscribeToShard"), Action: act("drop-connection"), Times: 2}},
		)
	}
	s := specs[d.rng.IntN(len(specs))]
	if d.rng.IntN(2) == 0 && s.name != "ListShards 500s" && s.name != "DescribeStreamSummary 503s" {
		if open, err := d.openShards(); err == nil && len(open) > 0 {
			s.f.Match["shard"] = open[d.rng.IntN(len(open))].ID
		}
	}
	id, err := d.ctl.inject(d.ctx, s.f)
	if err != nil {
		return fmt.Errorf("injecting %s: %w", s.name, err)
	}
	b, _ := json.Marshal(s.f)
	d.log.Write(Event{Ev: EvFault, Detail: fmt.Sprintf("%s (id %s): %s", s.name, id, b)})
	d.faultKinds[s.name]++
	return nil
}

// clearFaults takes every fault out of force, counting their hits first.
func (d *driver) clearFaults() error {
	hits, err := d.ctl.faultHits(d.ctx)
	if err != nil {
		return fmt.Errorf("listing the faults: %w", err)
	}
	for _, h := range hits {
		d.faultHits += h
	}
	if err := d.ctl.clearFaults(d.ctx); err != nil {
		return fmt.Errorf("clearing the faults: %w", err)
	}
	d.log.Write(Event{Ev: EvFault, Detail: "cleared"})
	return nil
}

// calm ends the chaos: it clears the faults, resumes the paused workers and
// restarts the dead ones.
func (d *driver) calm() error {
	if err := d.clearFaults(); err != nil {
		return err
	}
	for _, s := range d.slots {
		if s.paused {
			d.resume(s)
		}
	}
	// Wait for the workers terminating to exit, then restart every dead one.
	deadline := time.Now().Add(closeTimeout + 10*time.Second)
	for {
		d.reap(false)
		busy := false
		for _, s := range d.slots {
			busy = busy || (s.proc != nil && !s.terminated.IsZero())
		}
		if !busy || time.Now().After(deadline) {
			break
		}
		if err := d.sleep(50 * time.Millisecond); err != nil {
			return err
		}
	}
	for _, s := range d.slots {
		if s.proc != nil && !s.terminated.IsZero() { // Close hung: the checker reports it
			d.log.Write(Event{Ev: EvKill, W: s.inc, Detail: "SIGTERM not obeyed in time"})
			s.proc.kill()
			d.reap(false)
		}
		if s.proc == nil {
			if err := d.spawn(s, true); err != nil {
				return err
			}
			d.counts["restart"]++
		}
	}
	return nil
}

// drain stops the producer and waits until every acknowledged record was
// handed out, or DrainTimeout.
func (d *driver) drain() (bool, error) {
	d.producer.signal(syscall.SIGTERM)
	if !d.producer.wait(30 * time.Second) {
		return false, errors.New("the producer did not stop within 30s of SIGTERM")
	}
	if code, how := d.producer.how(); code != 0 {
		return false, fmt.Errorf("the producer ended with %s; see %s", how, filepath.Join(d.cfg.Dir, "producer.stderr"))
	}
	deadline := time.Now().Add(d.cfg.DrainTimeout)
	for {
		d.reap(false)
		missing, err := d.missing()
		if err != nil {
			return false, err
		}
		if missing == 0 {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		if err := d.sleep(time.Second); err != nil {
			return false, err
		}
	}
}

// missing counts the acknowledged records not handed out yet.
func (d *driver) missing() (int, error) {
	producer, _, workers, err := readRun(d.cfg.Dir)
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	for _, evs := range workers {
		for _, e := range evs {
			if e.Ev == EvRecord {
				seen[e.Shard+"/"+e.Seq] = true
			}
		}
	}
	n := 0
	for _, e := range producer {
		if e.Ev == EvPut && !seen[e.Shard+"/"+e.Seq] {
			n++
		}
	}
	return n, nil
}

// shutdown SIGTERMs every worker and waits for them to close; one that does
// not within WithCloseTimeout and 10 seconds is killed (the checker reports it).
func (d *driver) shutdown() {
	for _, s := range d.slots {
		if s.proc != nil {
			d.log.Write(Event{Ev: EvSigterm, W: s.inc})
			s.expectExit = true
			s.terminated = time.Now()
			s.proc.signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(closeTimeout + 10*time.Second)
	for _, s := range d.slots {
		if s.proc == nil {
			continue
		}
		if !s.proc.wait(time.Until(deadline)) {
			d.log.Write(Event{Ev: EvKill, W: s.inc, Detail: "SIGTERM not obeyed in time"})
			s.proc.kill()
		}
	}
	d.reap(false)
}

// stallThreshold: a gap this long between two ticks of 50ms is a stall of
// the machine (or of the driver's process), logged for the checker, which
// does not blame the library for the time a failover lost to it.
const stallThreshold = 300 * time.Millisecond

// watchStalls logs the stalls of the driver's process until the returned
// function is called.
func (d *driver) watchStalls() func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			now := time.Now()
			if gap := now.Sub(last); gap >= stallThreshold {
				d.log.Write(Event{T: last.UnixNano(), Ev: EvStall, Detail: gap.String()})
			}
			last = now
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
