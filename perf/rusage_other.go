//go:build !unix

package perf

import "time"

// processCPU returns zero where getrusage is missing: CPU figures read as
// zero there.
func processCPU() time.Duration { return 0 }
