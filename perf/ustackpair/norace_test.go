//go:build !race

package ustackpair_test

const raceEnabled = false
