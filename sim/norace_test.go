//go:build !race

package sim_test

// raceEnabled reports that the race detector is on: the goodput table
// and TestTCPScenarios6 run a subset then, and TestSYNFlood6 not at all.
const raceEnabled = false
