//go:build unix

package perf

import (
	"syscall"
	"time"
)

// processCPU returns the user plus system CPU time the process has used so
// far, from getrusage(RUSAGE_SELF) (POSIX.1-2008 getrusage).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
