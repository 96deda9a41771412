package linktest

import "time"

// WaitTimeout is how long tests wait, in wall time, for something another
// goroutine does.
const WaitTimeout = 10 * time.Second

// NewTimeout returns a timer firing after WaitTimeout.
func NewTimeout() *time.Timer { return time.NewTimer(WaitTimeout) }
