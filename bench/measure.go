package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// cpuTime returns the CPU time this process has used, user and system, in
// all its threads: the figure a per-record cost is taken from (wall time
// would count the waits, and the other work of a shared machine).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus returns a memory field of /proc/self/status ("VmRSS",
// "VmHWM"), in bytes.
func procStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	prefix := []byte(field + ":")
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		fields := bytes.Fields(line[len(prefix):])
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, fmt.Errorf("unexpected /proc/self/status line %q", line)
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0, err
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// resetPeakRSS sets this process's peak resident set size (VmHWM) back to
// its current one, so that a later VmHWM is the peak of what follows.
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// maxRSS is getrusage's peak resident set size of the whole process, in
// bytes: the fallback when VmHWM cannot be reset.
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss << 10 // kB on Linux
}

// settle collects garbage and returns freed memory to the system, so that
// what a scenario measures starts from the live heap.
func settle() {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
}

// goroutinePeak samples runtime.NumGoroutine until stopped and keeps the
// highest count seen.
type goroutinePeak struct {
	peak atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
}

// watchGoroutines starts sampling every interval.
func watchGoroutines(interval time.Duration) *goroutinePeak {
	g := &goroutinePeak{stop: make(chan struct{})}
	g.peak.Store(int64(runtime.NumGoroutine()))
	g.wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-g.stop:
				return
			case <-tick.C:
				if n := int64(runtime.NumGoroutine()); n > g.peak.Load() {
					g.peak.Store(n)
				}
			}
		}
	})
	return g
}

// Stop ends the sampling and returns the peak.
func (g *goroutinePeak) Stop() int {
	close(g.stop)
	g.wg.Wait()
	if n := int64(runtime.NumGoroutine()); n > g.peak.Load() {
		g.peak.Store(n)
	}
	return int(g.peak.Load())
}
