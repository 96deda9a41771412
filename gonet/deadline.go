package gonet

import (
	"sync"
	"time"
)

// deadline is one direction's (read or write) deadline of a connection, as
// net.Conn's SetReadDeadline and SetWriteDeadline describe it: once it has
// passed, pending and future calls fail with a timeout until it is moved
// again.
//
// Blocked calls take the channel returned by expired when they start and
// select on it. The channel is closed when the deadline passes and replaced
// by a fresh one only when a new deadline is set after that, so that a call
// blocked under an old deadline sees any later change that does not
// re-expire it: extending a deadline that has not passed yet keeps the
// same channel and moves only the timer.
//
// Timers use package time directly: gonet is the boundary between ustack
// and code written against package net, whose deadlines are wall-clock
// times, and it is exempt from the rule that protocol code reads time from
// the stack's Clock.
//
// The zero value is a deadline never set, ready to use. Its channel is made
// on first use (the first call that may block, or the first set), so that
// an idle connection carries none.
type deadline struct {
	mu    sync.Mutex
	ch    chan struct{} // closed when the deadline passes; nil until first needed; guarded by mu
	done  bool          // ch is closed; guarded by mu
	timer *time.Timer   // pending expiry, nil if none; guarded by mu
	// gen counts the deadlines set, so that a timer callback that lost
	// the race with a newer set (Stop returned false) does nothing.
	gen uint64 // guarded by mu
}

func newDeadline() *deadline {
	return &deadline{}
}

// chLocked returns d.ch, making it first if needed. d.mu must be held.
func (d *deadline) chLocked() chan struct{} {
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

// set moves the deadline to t: the zero Time means none, a time in the
// past expires it at once.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.done {
		// The old deadline passed: calls from now on wait on a new
		// channel.
		d.ch = make(chan struct{})
		d.done = false
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		close(d.chLocked())
		d.done = true
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() { d.fire(gen) })
}

// fire expires the deadline set as generation gen, unless a newer set
// replaced it.
func (d *deadline) fire(gen uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen != gen || d.done {
		return
	}
	d.timer = nil
	close(d.chLocked())
	d.done = true
}

// expired returns the channel closed when the current deadline passes.
func (d *deadline) expired() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chLocked()
}

// passed reports whether the current deadline has passed.
func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done
}

// stop cancels the pending timer, so that a closed connection leaves none
// behind.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
