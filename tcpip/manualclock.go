package tcpip

import (
	"container/heap"
	"sync"
	"time"
)

// ManualClock is a Clock whose time moves only when told to. Timers run in
// deadline order, ties broken by the order in which they were armed, on the
// goroutine that calls Advance, AdvanceTo or RunNext. While a callback runs,
// Now and NowMonotonic return that timer's deadline, so timers armed by the
// callback are relative to it; timers that fall due inside the interval being
// advanced run in the same call. Given the same calls, a ManualClock runs the
// same callbacks in the same order every time.
//
// All methods are safe for concurrent use. Callbacks run without the clock's
// lock held and may call any method but the three that advance the clock:
// one goroutine at a time drives time, and advancing from inside a callback,
// or from another goroutine while a callback runs, panics (a test bug that
// would otherwise make the order of callbacks depend on scheduling).
type ManualClock struct {
	advanceMu sync.Mutex // serialises Advance/AdvanceTo/RunNext

	mu        sync.Mutex // guards the fields below
	wallStart time.Time
	now       int64 // nanoseconds since the epoch of the monotonic clock
	seq       uint64
	timers    timerHeap
	running   bool // a callback is running
}

// ManualClockStart is the wall-clock time a ManualClock reads before it is
// first advanced: 2000-01-01T00:00:00Z.
var ManualClockStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ManualClockEpochOffset is the monotonic reading of a new ManualClock; it
// is not zero so that no reading equals the zero MonotonicTime.
const ManualClockEpochOffset = time.Second

// NewManualClock returns a ManualClock reading ManualClockStart.
func NewManualClock() *ManualClock {
	return &ManualClock{wallStart: ManualClockStart, now: int64(ManualClockEpochOffset)}
}

// Now implements Clock.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wallStart.Add(time.Duration(c.now - int64(ManualClockEpochOffset)))
}

// NowMonotonic implements Clock.
func (c *ManualClock) NowMonotonic() MonotonicTime {
	c.mu.Lock()
	defer c.mu.Unlock()
	return MonotonicTime{c.now}
}

// AfterFunc implements Clock. A non-positive d makes the timer due at once:
// it runs at the next Advance (Advance(0) included) or RunNext.
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	t := &manualTimer{c: c, f: f, index: -1}
	c.mu.Lock()
	c.armLocked(t, d)
	c.mu.Unlock()
	return t
}

func (c *ManualClock) armLocked(t *manualTimer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	t.deadline = c.now + int64(d)
	c.seq++
	t.seq = c.seq
	heap.Push(&c.timers, t)
}

// Advance moves the clock forward by d, running every timer that falls due
// on the way, and returns the number of callbacks run. d must not be negative.
func (c *ManualClock) Advance(d time.Duration) int {
	if d < 0 {
		panic("tcpip: ManualClock.Advance with a negative duration")
	}
	c.mu.Lock()
	to := c.now + int64(d)
	c.mu.Unlock()
	return c.advanceTo(to)
}

// AdvanceTo moves the clock forward to t, running every timer that falls
// due on the way. It does nothing if t is not after the current time except
// run timers that are already due.
func (c *ManualClock) AdvanceTo(t MonotonicTime) int {
	return c.advanceTo(t.ns)
}

func (c *ManualClock) advanceTo(to int64) int {
	c.lockAdvance()
	defer c.advanceMu.Unlock()
	n := 0
	for c.runOne(to) {
		n++
	}
	c.mu.Lock()
	if to > c.now {
		c.now = to
	}
	c.mu.Unlock()
	return n
}

// RunNext moves the clock to the earliest pending deadline (if it is in the
// future) and runs that one timer. It reports whether there was one. A
// simulation loop is `for clock.RunNext() {}` with a bound of its own.
func (c *ManualClock) RunNext() bool {
	c.lockAdvance()
	defer c.advanceMu.Unlock()
	return c.runOne(-1)
}

func (c *ManualClock) lockAdvance() {
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if running {
		panic("tcpip: ManualClock advanced while a timer callback runs")
	}
	c.advanceMu.Lock()
}

// runOne runs the earliest timer if its deadline is at most limit (any
// deadline if limit is negative). The caller holds advanceMu.
func (c *ManualClock) runOne(limit int64) bool {
	c.mu.Lock()
	if len(c.timers) == 0 || (limit >= 0 && c.timers[0].deadline > limit) {
		c.mu.Unlock()
		return false
	}
	t := heap.Pop(&c.timers).(*manualTimer)
	if t.deadline > c.now {
		c.now = t.deadline
	}
	c.running = true
	c.mu.Unlock()

	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()
	t.f()
	return true
}

// NextDeadline returns the deadline of the earliest pending timer, and false
// if none is pending.
func (c *ManualClock) NextDeadline() (MonotonicTime, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return MonotonicTime{}, false
	}
	return MonotonicTime{c.timers[0].deadline}, true
}

// Pending returns the number of timers armed and not yet run or stopped.
// After a stack using this clock is closed it must be zero.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type manualTimer struct {
	c *ManualClock
	f func()

	// Guarded by c.mu.
	deadline int64
	seq      uint64
	index    int // position in c.timers, -1 when not pending
}

// Stop implements Timer.
func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.timers, t.index)
	return true
}

// Reset implements Timer.
func (t *manualTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	pending := t.index >= 0
	if pending {
		heap.Remove(&t.c.timers, t.index)
	}
	t.c.armLocked(t, d)
	return pending
}

// timerHeap orders timers by deadline, then by arming order.
type timerHeap []*manualTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].deadline != h[j].deadline {
		return h[i].deadline < h[j].deadline
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*manualTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
