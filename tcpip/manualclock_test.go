package tcpip

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestManualClockRunsTimersInDeadlineOrder(t *testing.T) {
	c := NewManualClock()
	var got []string
	record := func(s string) func() { return func() { got = append(got, s) } }
	c.AfterFunc(30*time.Millisecond, record("c30"))
	c.AfterFunc(10*time.Millisecond, record("a10"))
	c.AfterFunc(20*time.Millisecond, record("b20"))
	c.AfterFunc(10*time.Millisecond, record("a10-second")) // tie: armed later, runs later
	c.AfterFunc(0, record("now"))

	if n := c.Advance(15 * time.Millisecond); n != 3 {
		t.Fatalf("Advance(15ms) ran %d callbacks, want 3", n)
	}
	if want := []string{"now", "a10", "a10-second"}; !slices.Equal(got, want) {
		t.Fatalf("after 15ms got %v, want %v", got, want)
	}
	c.Advance(time.Hour)
	if want := []string{"now", "a10", "a10-second", "b20", "c30"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if c.Pending() != 0 {
		t.Fatalf("Pending() = %d after all ran", c.Pending())
	}
}

func TestManualClockNowDuringCallbackIsDeadline(t *testing.T) {
	c := NewManualClock()
	start := c.NowMonotonic()
	var seen []time.Duration
	c.AfterFunc(7*time.Millisecond, func() { seen = append(seen, c.NowMonotonic().Sub(start)) })
	c.AfterFunc(3*time.Millisecond, func() { seen = append(seen, c.NowMonotonic().Sub(start)) })
	c.Advance(time.Second)
	if want := []time.Duration{3 * time.Millisecond, 7 * time.Millisecond}; !slices.Equal(seen, want) {
		t.Fatalf("Now inside callbacks = %v, want %v", seen, want)
	}
	if got := c.NowMonotonic().Sub(start); got != time.Second {
		t.Fatalf("after Advance(1s) clock moved %v", got)
	}
	if got := c.Now().Sub(ManualClockStart); got != time.Second {
		t.Fatalf("wall clock moved %v, want 1s", got)
	}
}

// Timers armed by callbacks run in the same Advance if they fall due within
// it, relative to the callback's deadline, and in order with the others.
func TestManualClockReentrantTimers(t *testing.T) {
	c := NewManualClock()
	start := c.NowMonotonic()
	var got []string
	stamp := func(name string) { got = append(got, fmt.Sprintf("%s@%v", name, c.NowMonotonic().Sub(start))) }

	var tick func()
	ticks := 0
	tick = func() {
		stamp("tick")
		ticks++
		if ticks < 4 {
			c.AfterFunc(10*time.Millisecond, tick)
		}
	}
	c.AfterFunc(10*time.Millisecond, tick)
	c.AfterFunc(25*time.Millisecond, func() { stamp("other") })
	// A callback that arms a timer due at once: runs right after it.
	c.AfterFunc(15*time.Millisecond, func() {
		stamp("outer")
		c.AfterFunc(0, func() { stamp("inner") })
	})

	c.Advance(35 * time.Millisecond)
	want := []string{"tick@10ms", "outer@15ms", "inner@15ms", "tick@20ms", "other@25ms", "tick@30ms"}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if c.Pending() != 1 {
		t.Fatalf("Pending() = %d, want the 4th tick", c.Pending())
	}
	c.Advance(time.Hour)
	if ticks != 4 {
		t.Fatalf("ticks = %d", ticks)
	}
}

func TestManualClockStopAndReset(t *testing.T) {
	c := NewManualClock()
	ran := 0
	tm := c.AfterFunc(10*time.Millisecond, func() { ran++ })
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if tm.Stop() {
		t.Fatal("second Stop returned true")
	}
	c.Advance(time.Second)
	if ran != 0 {
		t.Fatal("stopped timer ran")
	}
	if tm.Reset(10 * time.Millisecond) {
		t.Fatal("Reset of a stopped timer reported it pending")
	}
	c.Advance(5 * time.Millisecond)
	if !tm.Reset(10 * time.Millisecond) { // now due at 15ms from here
		t.Fatal("Reset of a pending timer reported it not pending")
	}
	c.Advance(9 * time.Millisecond)
	if ran != 0 {
		t.Fatal("reset timer ran at its old deadline")
	}
	c.Advance(time.Millisecond)
	if ran != 1 {
		t.Fatalf("ran = %d, want 1", ran)
	}
	if tm.Stop() {
		t.Fatal("Stop after the timer ran returned true")
	}

	// A callback may stop another timer due at the same instant.
	var second Timer
	secondRan := false
	c.AfterFunc(time.Millisecond, func() { second.Stop() })
	second = c.AfterFunc(time.Millisecond, func() { secondRan = true })
	c.Advance(time.Millisecond)
	if secondRan {
		t.Fatal("timer stopped by an earlier callback at the same deadline ran")
	}
}

func TestManualClockRunNextAndNextDeadline(t *testing.T) {
	c := NewManualClock()
	if _, ok := c.NextDeadline(); ok {
		t.Fatal("NextDeadline with no timers")
	}
	if c.RunNext() {
		t.Fatal("RunNext with no timers")
	}
	start := c.NowMonotonic()
	c.AfterFunc(time.Hour, func() {})
	c.AfterFunc(time.Minute, func() {})
	d, ok := c.NextDeadline()
	if !ok || d.Sub(start) != time.Minute {
		t.Fatalf("NextDeadline = %v %v", d.Sub(start), ok)
	}
	if !c.RunNext() || c.NowMonotonic().Sub(start) != time.Minute {
		t.Fatalf("RunNext moved to %v", c.NowMonotonic().Sub(start))
	}
	if !c.RunNext() || c.NowMonotonic().Sub(start) != time.Hour {
		t.Fatalf("RunNext moved to %v", c.NowMonotonic().Sub(start))
	}
	if c.RunNext() {
		t.Fatal("RunNext after the last timer")
	}
}

func TestManualClockAdvanceInsideCallbackPanics(t *testing.T) {
	c := NewManualClock()
	var recovered any
	c.AfterFunc(time.Millisecond, func() {
		defer func() { recovered = recover() }()
		c.Advance(time.Millisecond)
	})
	c.Advance(time.Second)
	if recovered == nil {
		t.Fatal("advancing inside a callback did not panic")
	}
	// The clock is still usable.
	ran := false
	c.AfterFunc(time.Millisecond, func() { ran = true })
	c.Advance(time.Millisecond)
	if !ran {
		t.Fatal("clock unusable after the panic")
	}
}

// The same schedule gives the same order every time, and timers may be armed
// from other goroutines while the clock is advanced.
func TestManualClockDeterministicAndConcurrent(t *testing.T) {
	run := func() []int {
		c := NewManualClock()
		var mu sync.Mutex
		var order []int
		for i := range 200 {
			d := time.Duration((i*7919)%50) * time.Millisecond
			c.AfterFunc(d, func() {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
			})
		}
		c.Advance(time.Second)
		return order
	}
	a, b := run(), run()
	if len(a) != 200 || !slices.Equal(a, b) {
		t.Fatalf("two runs differ or lost timers: %d %d", len(a), len(b))
	}

	c := NewManualClock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	count, rearmed := 0, 0
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				tm := c.AfterFunc(time.Millisecond, func() { mu.Lock(); count++; mu.Unlock() })
				// Reset of a timer that already ran arms it again.
				if i%3 == 0 && !tm.Reset(2*time.Millisecond) {
					mu.Lock()
					rearmed++
					mu.Unlock()
				}
			}
		})
	}
	for range 50 {
		c.Advance(time.Millisecond)
	}
	wg.Wait()
	c.Advance(time.Second)
	if count != 800+rearmed {
		t.Fatalf("%d callbacks ran, want %d", count, 800+rearmed)
	}
}

func TestStdClock(t *testing.T) {
	c := NewStdClock()
	a := c.NowMonotonic()
	if a.IsZero() {
		t.Fatal("real monotonic reading is the zero value")
	}
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	<-done
	if b := c.NowMonotonic(); !b.After(a) || b.Sub(a) < time.Millisecond {
		t.Fatalf("monotonic clock moved %v across a 1ms timer", b.Sub(a))
	}
	tm := c.AfterFunc(time.Hour, func() { t.Error("stopped timer ran") })
	if !tm.Stop() {
		t.Fatal("Stop of a pending real timer returned false")
	}
}
