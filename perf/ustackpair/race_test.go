//go:build race

package ustackpair_test

// raceEnabled is true under the race detector, whose sync.Pool drops a
// random share of what it is given, so allocation counts mean nothing.
const raceEnabled = true
