package tcpip

import (
	"time"
)

// Clock is the only source of time for protocol code. Packages of ustack
// never call time.Now, time.Sleep, time.AfterFunc or time.NewTimer; they ask
// the stack's Clock. The real clock is NewStdClock; tests and the simulator
// use a ManualClock, which makes every timer deterministic.
type Clock interface {
	// Now returns the current wall-clock time. Use it for timestamps that
	// leave the stack (pcap records, log lines), never to measure intervals.
	Now() time.Time

	// NowMonotonic returns the current time on a clock that never jumps.
	// Protocols measure every interval with it.
	NowMonotonic() MonotonicTime

	// AfterFunc calls f in its own goroutine (real clock) or from the
	// goroutine that advances the clock (ManualClock) once d has elapsed,
	// and returns a Timer that can stop or re-arm the call.
	//
	// A callback may run concurrently with a Stop that returns false: code
	// whose timers guard state must re-check that state under its own lock
	// when the callback runs.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call made by Clock.AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not started yet, and reports
	// whether it did so.
	Stop() bool

	// Reset re-arms the timer to call its function after d, whether or not
	// it has fired or been stopped, and reports whether it was pending.
	Reset(d time.Duration) bool
}

// MonotonicTime is a reading of a monotonic clock: nanoseconds since an
// arbitrary epoch of the clock that produced it. The zero value is that
// epoch. Readings from different clocks cannot be compared. MonotonicTime is
// comparable, and its zero value is usable as "never".
type MonotonicTime struct {
	ns int64
}

// MonotonicFromNanoseconds returns the reading ns nanoseconds after the epoch.
func MonotonicFromNanoseconds(ns int64) MonotonicTime { return MonotonicTime{ns} }

// Nanoseconds returns the nanoseconds since the epoch.
func (t MonotonicTime) Nanoseconds() int64 { return t.ns }

// Add returns t+d.
func (t MonotonicTime) Add(d time.Duration) MonotonicTime { return MonotonicTime{t.ns + int64(d)} }

// Sub returns t-u.
func (t MonotonicTime) Sub(u MonotonicTime) time.Duration { return time.Duration(t.ns - u.ns) }

// Before reports whether t is before u.
func (t MonotonicTime) Before(u MonotonicTime) bool { return t.ns < u.ns }

// After reports whether t is after u.
func (t MonotonicTime) After(u MonotonicTime) bool { return t.ns > u.ns }

// IsZero reports whether t is the epoch (the zero value).
func (t MonotonicTime) IsZero() bool { return t.ns == 0 }

// String formats t as a duration since the epoch.
func (t MonotonicTime) String() string { return time.Duration(t.ns).String() }

// stdClock reads the operating system's clocks.
type stdClock struct {
	base time.Time // carries Go's monotonic reading; NowMonotonic counts from it
}

// NewStdClock returns the Clock backed by package time. Its monotonic
// readings start near (but not at) zero when it is created.
func NewStdClock() Clock {
	// Start at one second past the epoch so no real reading is the zero
	// MonotonicTime, which callers use to mean "never".
	return &stdClock{base: time.Now().Add(-time.Second)}
}

// Now implements Clock.
func (c *stdClock) Now() time.Time { return time.Now() }

// NowMonotonic implements Clock.
func (c *stdClock) NowMonotonic() MonotonicTime {
	return MonotonicTime{int64(time.Since(c.base))}
}

// AfterFunc implements Clock.
func (c *stdClock) AfterFunc(d time.Duration, f func()) Timer {
	return stdTimer{time.AfterFunc(d, f)}
}

type stdTimer struct{ t *time.Timer }

func (t stdTimer) Stop() bool                 { return t.t.Stop() }
func (t stdTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }
