//go:build race

package wire

// raceEnabled reports whether the race detector instruments the build,
// which makes sync.Pool drop items and so changes allocation counts.
const raceEnabled = true
