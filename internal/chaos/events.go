package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Event is one line of a log: what a process did, and when (wall clock, in
// Unix nanoseconds, as every process of a run is on one host).
type Event struct {
	// T is when it happened.
	T int64 `json:"t"`
	// Ev says what happened; see the Ev constants.
	Ev string `json:"ev"`
	// W is the worker: its incarnation name (slot.generation, e.g. "w2.3").
	W string `json:"w,omitempty"`
	// Stream, Shard, Seq, Key and N identify a record (Stream: in puts).
	Stream string `json:"stream,omitempty"`
	Shard  string `json:"shard,omitempty"`
	Seq    string `json:"seq,omitempty"`
	Key    string `json:"key,omitempty"`
	N      int    `json:"n,omitempty"`
	// Detail is free text: an error, a lease worker id, an action's
	// arguments.
	Detail string `json:"detail,omitempty"`
	// Code is an exit code (exited).
	Code int `json:"code,omitempty"`
}

// Time returns e.T as a time.
func (e Event) Time() time.Time { return time.Unix(0, e.T) }

// What an Event says.
const (
	// Producer.
	EvPut      = "put"       // a record acknowledged: Stream, Shard, Seq, Key, N
	EvPutError = "put-error" // a put that failed (retried): Key, N, Detail
	// Worker.
	EvStart    = "start"    // the process started: W, Detail = lease worker id
	EvOpen     = "open"     // Open returned: Detail = its error, if any
	EvRecord   = "rec"      // a record handed out: W, Shard, Seq, Key, N
	EvCommit   = "commit"   // a record committed: W, Shard, Seq
	EvAssigned = "assigned" // ShardHooks.OnAssigned: W, Shard
	EvRevoked  = "revoked"  // ShardHooks.OnRevoked: W, Shard
	EvLost     = "lost"     // ShardHooks.OnLost: W, Shard
	EvTerm     = "term"     // SIGTERM received, Close called
	EvClosed   = "closed"   // Close returned: Detail = its error, if any
	EvExit     = "exit"     // the process is exiting: Detail = why
	// Driver.
	EvSpawn   = "spawn"   // a worker process started: W, Detail = lease worker id
	EvKill    = "kill"    // SIGKILL sent to W
	EvStop    = "stop"    // SIGSTOP sent to W
	EvCont    = "cont"    // SIGCONT sent to W
	EvSigterm = "sigterm" // SIGTERM sent to W
	EvExited  = "exited"  // W exited: Code, Detail = how
	EvReshard = "reshard" // a split, merge or UpdateShardCount: Detail
	EvFault   = "fault"   // a fault injected or cleared: Detail
	EvPhase   = "phase"   // the run entered a phase: Detail (chaos, drain, shutdown)
	EvStall   = "stall"   // the driver did not run from T for Detail (a duration): the machine stalled
)

// Log writes events as JSON lines to a file, one write per line, with no
// buffering of its own: each line is in the kernel when Write returns. It is
// safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
	err error
}

// CreateLog creates (or truncates) the log file at path.
func CreateLog(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Log{f: f}, nil
}

// Write logs e, stamping it with the current time when e.T is 0.
func (l *Log) Write(e Event) {
	if e.T == 0 {
		e.T = time.Now().UnixNano()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := json.Marshal(e)
	if err != nil {
		l.err = err
		return
	}
	l.buf = append(append(l.buf[:0], b...), '\n')
	if _, err := l.f.Write(l.buf); err != nil && l.err == nil {
		l.err = err
	}
}

// Close closes the file and returns the first error of a write or of the
// close.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.f.Close(); err != nil && l.err == nil {
		l.err = err
	}
	return l.err
}

// ReadLog reads the events of a log file. A last line cut short (a process
// killed in the middle of a write) is ignored; any other bad line is an
// error.
func ReadLog(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readEvents(f, path)
}

func readEvents(r io.Reader, name string) ([]Event, error) {
	var out []Event
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 && b[len(b)-1] == '\n' {
			b = b[:len(b)-1]
			var e Event
			if jerr := json.Unmarshal(b, &e); jerr != nil {
				return out, fmt.Errorf("%s:%d: %w", name, line, jerr)
			}
			out = append(out, e)
		} else if len(bytes.TrimSpace(b)) > 0 && err != io.EOF {
			return out, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
	}
}

// Names of the files of a run, in its directory.
const (
	producerLog  = "producer.jsonl"
	driverLog    = "driver.jsonl"
	shardsFile   = "shards.json"
	settingsFile = "settings.json"
	workerSuffix = ".worker.jsonl"
)

// readRun reads the logs of the run in dir: the producer's, the driver's and
// every worker's, each worker's events in the order they were written.
func readRun(dir string) (producer, driver []Event, workers map[string][]Event, err error) {
	if producer, err = ReadLog(filepath.Join(dir, producerLog)); err != nil {
		return nil, nil, nil, err
	}
	if driver, err = ReadLog(filepath.Join(dir, driverLog)); err != nil {
		return nil, nil, nil, err
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"+workerSuffix))
	if err != nil {
		return nil, nil, nil, err
	}
	slices.Sort(names)
	workers = make(map[string][]Event, len(names))
	for _, n := range names {
		evs, err := ReadLog(n)
		if err != nil {
			return nil, nil, nil, err
		}
		workers[strings.TrimSuffix(filepath.Base(n), workerSuffix)] = evs
	}
	return producer, driver, workers, nil
}

// writeJSONFile writes v, indented, to the file at path.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
