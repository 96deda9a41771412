//go:build !race

package gonet_test

// raceEnabled reports whether the race detector is on: tests that measure
// real-clock throughput skip under it.
const raceEnabled = false
