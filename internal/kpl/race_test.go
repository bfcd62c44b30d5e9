//go:build race

package kpl

// raceEnabled reports whether the race detector instruments the build,
// which changes allocation counts.
const raceEnabled = true
