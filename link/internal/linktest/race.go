//go:build race

package linktest

// RaceEnabled reports whether the race detector is on.
const RaceEnabled = true
