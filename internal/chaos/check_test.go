package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scenario writes the logs of a made-up run, for the checker.
type scenario struct {
	t        *testing.T
	dir      string
	shards   []Shard
	producer []Event
	driver   []Event
	workers  map[string][]Event
}

// t0 is the time of a scenario's first event; ms(x) is x milliseconds
// later.
const t0 = int64(1_700_000_000_000_000_000)

func ms(x int) int64 { return t0 + int64(x)*int64(time.Millisecond) }

func newScenario(t *testing.T, shards ...Shard) *scenario {
	return &scenario{t: t, dir: t.TempDir(), shards: shards, workers: map[string][]Event{}}
}

// open and closed make shards of the final list.
func open(id string, parents ...string) Shard   { return shard(id, true, parents) }
func closed(id string, parents ...string) Shard { return shard(id, false, parents) }

func shard(id string, isOpen bool, parents []string) Shard {
	s := Shard{ID: id, Open: isOpen}
	if len(parents) > 0 {
		s.ParentShardID = parents[0]
	}
	if len(parents) > 1 {
		s.AdjacentParentShardID = parents[1]
	}
	return s
}

// put acknowledges record seq of shard: key, n.
func (s *scenario) put(at int, shard, seq, key string, n int) {
	s.producer = append(s.producer, Event{T: ms(at), Ev: EvPut, Shard: shard, Seq: seq, Key: key, N: n})
}

// rec: worker w hands out the record.
func (s *scenario) rec(at int, w, shard, seq, key string, n int) {
	s.workers[w] = append(s.workers[w], Event{T: ms(at), Ev: EvRecord, W: w, Shard: shard, Seq: seq, Key: key, N: n})
}

// hook: worker w's lease callback ev for shard.
func (s *scenario) hook(at int, w, ev, shard string) {
	s.workers[w] = append(s.workers[w], Event{T: ms(at), Ev: ev, W: w, Shard: shard})
}

// drv: the driver's event ev about worker w.
func (s *scenario) drv(at int, ev, w string, code int, detail string) {
	s.driver = append(s.driver, Event{T: ms(at), Ev: ev, W: w, Code: code, Detail: detail})
}

// kill SIGKILLs w; term SIGTERMs it and it exits cleanly.
func (s *scenario) kill(at int, w string) {
	s.drv(at, EvKill, w, 0, "")
	s.drv(at+50, EvExited, w, -1, "signal: killed")
}

func (s *scenario) term(at int, w string) {
	s.drv(at, EvSigterm, w, 0, "")
	s.drv(at+50, EvExited, w, 0, "exit status 0")
}

func (s *scenario) check() *Report {
	s.t.Helper()
	st := settings{Mode: "polling", Seed: 1, Duration: time.Minute, Workers: len(s.workers),
		LeaseDuration: 2 * time.Second, CycleInterval: 200 * time.Millisecond, FailoverSlack: 500 * time.Millisecond}
	for name, v := range map[string]any{settingsFile: st, shardsFile: s.shards} {
		if err := writeJSONFile(filepath.Join(s.dir, name), v); err != nil {
			s.t.Fatal(err)
		}
	}
	write := func(name string, evs []Event) {
		l, err := CreateLog(filepath.Join(s.dir, name))
		if err != nil {
			s.t.Fatal(err)
		}
		for _, e := range evs {
			l.Write(e)
		}
		if err := l.Close(); err != nil {
			s.t.Fatal(err)
		}
	}
	write(producerLog, s.producer)
	write(driverLog, s.driver)
	for w, evs := range s.workers {
		write(w+workerSuffix, evs)
	}
	rep, err := Check(s.dir)
	if err != nil {
		s.t.Fatal(err)
	}
	return rep
}

// want fails the test unless exactly the named checks failed.
func want(t *testing.T, rep *Report, failed ...string) {
	t.Helper()
	var got []string
	for _, c := range rep.Checks {
		if c.Failures > 0 {
			got = append(got, c.Name)
		}
	}
	if strings.Join(got, ",") != strings.Join(failed, ",") {
		t.Errorf("failed checks %v, want %v; report:\n%s", got, failed, rep)
	}
}

// A worker SIGKILLed, its shard taken over within the bound, its uncommitted
// record handed out again: every check passes, the duplicate is the killed
// worker's, the failover measured.
func TestCheckFailoverPasses(t *testing.T) {
	s := newScenario(t, open("s0"))
	s.put(0, "s0", "1", "k", 0)
	s.put(10, "s0", "2", "k", 1)
	s.put(3000, "s0", "3", "k", 2)
	s.hook(0, "w1", EvAssigned, "s0")
	s.rec(5, "w1", "s0", "1", "k", 0)
	s.rec(15, "w1", "s0", "2", "k", 1)
	s.kill(100, "w1")
	s.hook(2200, "w2", EvAssigned, "s0")
	s.rec(2210, "w2", "s0", "2", "k", 1)
	s.rec(3010, "w2", "s0", "3", "k", 2)
	s.term(4000, "w2")
	rep := s.check()
	want(t, rep)
	if rep.Duplicates[CauseKilled] != 1 || len(rep.Failover) != 1 || rep.Failover[0] != 2100*time.Millisecond {
		t.Errorf("duplicates %v, failover %v; want 1 of the killed worker and a failover of 2.1s", rep.Duplicates, rep.Failover)
	}
	if rep.Acked != 3 || rep.Delivered != 3 || rep.Deliveries != 4 {
		t.Errorf("records %d/%d/%d, want 3 acknowledged, 3 handed out, 4 hand-outs", rep.Acked, rep.Delivered, rep.Deliveries)
	}
}

// The time the machine stalled during a failover is added to its bound.
func TestCheckFailoverStall(t *testing.T) {
	s := newScenario(t, open("s0"))
	s.put(0, "s0", "1", "k", 0)
	s.hook(0, "w1", EvAssigned, "s0")
	s.rec(5, "w1", "s0", "1", "k", 0)
	s.kill(100, "w1")
	s.driver = append(s.driver, Event{T: ms(1000), Ev: EvStall, Detail: "800ms"})
	s.hook(3300, "w2", EvAssigned, "s0") // 3.2s: 2.2s + 0.5s + 0.8s stalled
	s.term(4000, "w2")
	rep := s.check()
	want(t, rep)
	if len(rep.Stalls) != 1 || rep.Stalls[0] != 800*time.Millisecond {
		t.Errorf("stalls %v, want one of 800ms", rep.Stalls)
	}
}

// A shard taken back by the killed worker restarted under the same lease id
// is not a failover.
func TestCheckFailoverRestartSameID(t *testing.T) {
	s := newScenario(t, open("s0"))
	s.put(0, "s0", "1", "k", 0)
	s.workers["w1.1"] = []Event{{T: ms(0), Ev: EvStart, W: "w1.1", Detail: "w1"}}
	s.hook(1, "w1.1", EvAssigned, "s0")
	s.rec(5, "w1.1", "s0", "1", "k", 0)
	s.kill(100, "w1.1")
	s.workers["w1.2"] = []Event{{T: ms(500), Ev: EvStart, W: "w1.2", Detail: "w1"}}
	s.hook(600, "w1.2", EvAssigned, "s0")
	s.term(1000, "w1.2")
	rep := s.check()
	want(t, rep)
	if len(rep.Failover) != 0 || !strings.Contains(rep.Checks[5].Summary, "1 shards taken back first by the killed worker restarted") {
		t.Errorf("failover %v, check %+v; want no failover, one shard taken back", rep.Failover, rep.Checks[5])
	}
}

// A failover beyond LeaseDuration + CycleInterval + the slack fails; a shard
// never taken over that still had records fails too.
func TestCheckFailoverTooSlow(t *testing.T) {
	s := newScenario(t, open("s0"), open("s1"))
	s.put(0, "s0", "1", "k", 0)
	s.put(0, "s1", "1", "j", 0)
	s.put(5000, "s1", "2", "j", 1)
	s.hook(0, "w1", EvAssigned, "s0")
	s.hook(0, "w1", EvAssigned, "s1")
	s.rec(5, "w1", "s0", "1", "k", 0)
	s.rec(5, "w1", "s1", "1", "j", 0)
	s.kill(100, "w1")
	s.hook(3000, "w2", EvAssigned, "s0") // 2.9s > 2.2s + 0.5s
	s.term(6000, "w2")
	rep := s.check()
	want(t, rep, "lost", "failover")
	if c := rep.Checks[5]; c.Failures != 2 || !strings.Contains(c.Examples[0], "2.9s") || !strings.Contains(c.Examples[1], "never") {
		t.Errorf("failover check: %+v", c)
	}
}

// Records handed out by a worker after another was assigned the shard fail
// the fencing check, except the first one logged after a SIGCONT.
func TestCheckFencing(t *testing.T) {
	s := newScenario(t, open("s0"))
	for i := range 4 {
		s.put(i, "s0", fmt.Sprint(i+1), "k", i)
	}
	s.hook(0, "w1", EvAssigned, "s0")
	s.rec(10, "w1", "s0", "1", "k", 0)
	s.drv(20, EvStop, "w1", 0, "3s")
	s.hook(2100, "w2", EvAssigned, "s0")
	s.rec(2110, "w2", "s0", "2", "k", 1)
	s.rec(2120, "w2", "s0", "3", "k", 2)
	s.drv(3020, EvCont, "w1", 0, "")
	s.rec(3021, "w1", "s0", "2", "k", 1) // received before the pause: exempt
	s.rec(3022, "w1", "s0", "3", "k", 2) // handed out after w2 took it
	s.rec(3023, "w1", "s0", "4", "k", 3)
	s.hook(3100, "w1", EvLost, "s0")
	s.term(4000, "w1")
	s.term(4000, "w2")
	rep := s.check()
	want(t, rep, "fencing")
	c := rep.Checks[3]
	if c.Failures != 2 || !strings.Contains(c.Examples[0], "w1 handed out 2 records of s0") || !strings.Contains(c.Summary, "1 exempt") {
		t.Errorf("fencing check: %+v", c)
	}
	if rep.Duplicates[CausePaused] != 1 || rep.Duplicates[CauseFencing] != 1 {
		t.Errorf("duplicates %v, want 1 of the paused worker (the exempt record) and 1 fencing violation", rep.Duplicates)
	}
	if rep.ResumedThenLost != 3 {
		t.Errorf("%d records handed out after the SIGCONT and before the Lost, want 3", rep.ResumedThenLost)
	}
}

// A finished shard assigned and read again after its child was assigned
// fails the re-read check; the child read before its grandparent's records
// were all handed out fails parents before children and order.
func TestCheckRereadAndLineage(t *testing.T) {
	t.Run("re-read", func(t *testing.T) {
		s := newScenario(t, closed("p"), open("c", "p"))
		s.put(0, "p", "1", "k", 0)
		s.put(100, "c", "1", "k", 1)
		s.hook(0, "w1", EvAssigned, "p")
		s.rec(10, "w1", "p", "1", "k", 0)
		s.hook(200, "w1", EvAssigned, "c")
		s.rec(210, "w1", "c", "1", "k", 1)
		s.hook(5000, "w2", EvAssigned, "p") // resurrected
		s.rec(5010, "w2", "p", "1", "k", 0)
		s.term(6000, "w1")
		s.term(6000, "w2")
		rep := s.check()
		want(t, rep, "finished shard re-read")
		if rep.Duplicates[CauseReread] != 1 || rep.Checks[4].Failures != 2 {
			t.Errorf("duplicates %v, re-read check %+v", rep.Duplicates, rep.Checks[4])
		}
	})
	t.Run("grandparent", func(t *testing.T) {
		s := newScenario(t, closed("g"), closed("p", "g"), open("c", "p"))
		s.put(0, "g", "1", "k", 0)
		s.put(10, "g", "2", "k", 1)
		s.put(100, "c", "1", "k", 2)
		s.hook(0, "w1", EvAssigned, "g")
		s.rec(10, "w1", "g", "1", "k", 0)
		s.hook(50, "w2", EvAssigned, "c")
		s.rec(150, "w2", "c", "1", "k", 2) // before g's record n 1
		s.rec(300, "w1", "g", "2", "k", 1)
		s.term(1000, "w1")
		s.term(1000, "w2")
		rep := s.check()
		want(t, rep, "order", "parents before children")
		if c := rep.Checks[2]; !strings.Contains(c.Examples[0], "c first handed out at t+0.150s, while its ancestor g still had 1 records") {
			t.Errorf("parents before children: %+v", c)
		}
	})
}

// A worker handing out a key's records out of order fails unless the shard
// was assigned to it again in between.
func TestCheckOrder(t *testing.T) {
	for _, reassigned := range []bool{false, true} {
		t.Run(fmt.Sprint("reassigned=", reassigned), func(t *testing.T) {
			s := newScenario(t, open("s0"))
			s.put(0, "s0", "1", "k", 0)
			s.put(1, "s0", "2", "k", 1)
			s.hook(0, "w1", EvAssigned, "s0")
			s.rec(10, "w1", "s0", "1", "k", 0)
			s.rec(20, "w1", "s0", "2", "k", 1)
			if reassigned {
				s.drv(25, EvStop, "w1", 0, "3s")
				s.hook(30, "w1", EvLost, "s0")
				s.hook(40, "w1", EvAssigned, "s0")
			}
			s.rec(50, "w1", "s0", "1", "k", 0)
			s.term(1000, "w1")
			rep := s.check()
			if reassigned {
				want(t, rep)
			} else {
				want(t, rep, "order", "duplicates")
				if rep.Duplicates[CauseUnexplaind] != 1 {
					t.Errorf("duplicates %v, want 1 unexplained", rep.Duplicates)
				}
			}
		})
	}
}

// Duplicates after a SIGTERM or a Revoke fail; those of a lease lost
// without a pause do not.
func TestCheckDuplicateCauses(t *testing.T) {
	cases := []struct {
		name   string
		before func(s *scenario)
		cause  string
		fail   bool
	}{
		{"SIGTERM", func(s *scenario) { s.term(100, "w1") }, CauseHandoff, true},
		{"Revoke", func(s *scenario) { s.hook(100, "w1", EvRevoked, "s0") }, CauseRebalance, true},
		{"Lost", func(s *scenario) { s.hook(100, "w1", EvLost, "s0") }, CauseLost, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScenario(t, open("s0"))
			s.put(0, "s0", "1", "k", 0)
			s.hook(0, "w1", EvAssigned, "s0")
			s.rec(10, "w1", "s0", "1", "k", 0)
			c.before(s)
			s.hook(200, "w2", EvAssigned, "s0")
			s.rec(210, "w2", "s0", "1", "k", 0)
			if c.name != "SIGTERM" {
				s.term(1000, "w1")
			}
			s.term(1000, "w2")
			rep := s.check()
			if rep.Duplicates[c.cause] != 1 {
				t.Errorf("duplicates %v, want 1 %s", rep.Duplicates, c.cause)
			}
			if c.fail {
				want(t, rep, "duplicates")
			} else {
				want(t, rep)
			}
		})
	}
}

// A worker that exits on its own, fails to Close or hangs fails the exits
// check, with the end of its standard error.
func TestCheckExits(t *testing.T) {
	s := newScenario(t, open("s0"))
	s.workers["w1"] = []Event{{T: ms(0), Ev: EvOpen, W: "w1", Detail: "ListShards: InternalFailureException"}}
	s.drv(10, EvExited, "w1", 1, "exit status 1")
	s.workers["w2"] = []Event{{T: ms(0), Ev: EvOpen, W: "w2"}}
	s.term(10, "w2")
	s.workers["w3"] = []Event{{T: ms(0), Ev: EvOpen, W: "w3"}, {T: ms(20), Ev: EvClosed, W: "w3", Detail: "writing checkpoints: boom"}}
	s.drv(10, EvSigterm, "w3", 0, "")
	s.drv(30, EvExited, "w3", 1, "exit status 1")
	s.workers["w4"] = []Event{{T: ms(0), Ev: EvOpen, W: "w4"}}
	s.drv(10, EvSigterm, "w4", 0, "")
	s.drv(20000, EvKill, "w4", 0, "SIGTERM not obeyed in time")
	s.drv(20050, EvExited, "w4", -1, "signal: killed")
	if err := os.WriteFile(filepath.Join(s.dir, "w1.stderr"), []byte("chaos: worker w1.1: Open: InternalFailureException\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := s.check()
	want(t, rep, "exits")
	c := rep.Checks[len(rep.Checks)-1]
	if c.Failures != 3 || !strings.Contains(c.Examples[0], "w1 exited on its own") || !strings.Contains(c.Examples[0], "Open: InternalFailureException") ||
		!strings.Contains(c.Examples[1], "w3 ended with exit status 1 after SIGTERM") || !strings.Contains(c.Examples[2], "w4 did not exit") {
		t.Errorf("exits check: %+v", c)
	}
}

// A log cut short by a SIGKILL in the middle of a line reads up to the last
// whole line; a bad line elsewhere is an error.
func TestReadLogCutShort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.jsonl")
	if err := os.WriteFile(path, []byte(`{"t":1,"ev":"rec"}`+"\n"+`{"t":2,"ev":"re`), 0o644); err != nil {
		t.Fatal(err)
	}
	evs, err := ReadLog(path)
	if err != nil || len(evs) != 1 || evs[0].T != 1 {
		t.Errorf("ReadLog = %v, %v; want the first event only", evs, err)
	}
	if err := os.WriteFile(path, []byte("{\"t\":1}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLog(path); err == nil || !strings.Contains(err.Error(), "w.jsonl:2") {
		t.Errorf("ReadLog of a bad line: %v, want an error naming line 2", err)
	}
}
