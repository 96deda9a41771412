//go:build !race

package sim_test

// raceEnabled reports that the race detector is on: the goodput table
// runs a subset then.
const raceEnabled = false
