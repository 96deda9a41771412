package tcpip

import "sync"

// Events is a set of readiness events of an endpoint, with the values of
// poll(2)'s POLLIN, POLLOUT, … so that they can be passed through as they
// are.
type Events uint16

// Readiness events.
const (
	EventIn    Events = 0x01 // readable: data, a connection to accept, EOF
	EventPri   Events = 0x02 // urgent data
	EventOut   Events = 0x04 // writable
	EventErr   Events = 0x08 // an error is pending
	EventHUp   Events = 0x10 // the peer closed, or the endpoint is closed
	EventRdHUp Events = 0x2000

	EventsAll = EventIn | EventPri | EventOut | EventErr | EventHUp | EventRdHUp
)

// Waiter is notified when an endpoint becomes ready. Notify is called with
// the events that happened; it must not block and must not call back into
// the endpoint (endpoints call it with their own locks released, but a
// Waiter that re-enters may still see the endpoint mid-operation).
type Waiter interface {
	Notify(Events)
}

// WaiterFunc adapts a function to Waiter.
type WaiterFunc func(Events)

// Notify implements Waiter.
func (f WaiterFunc) Notify(e Events) { f(e) }

// ChannelWaiter is a Waiter that sends on a channel of capacity one,
// dropping the send if one is already pending: the usual way for a
// goroutine to block until an endpoint may be ready.
type ChannelWaiter chan struct{}

// NewChannelWaiter returns a ChannelWaiter.
func NewChannelWaiter() ChannelWaiter { return make(ChannelWaiter, 1) }

// Notify implements Waiter.
func (c ChannelWaiter) Notify(Events) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// WaitQueue is the list of Waiters of one endpoint, each interested in some
// events. The zero value is empty and ready to use. Endpoints call Notify
// after a change of readiness, without holding their own lock.
type WaitQueue struct {
	mu      sync.Mutex
	next    WaitHandle
	entries []waitEntry
}

// WaitHandle identifies one registration in a WaitQueue.
type WaitHandle uint64

type waitEntry struct {
	h    WaitHandle
	w    Waiter
	mask Events
}

// Register adds w, to be notified of the events in mask, and returns the
// handle that Unregister takes.
func (q *WaitQueue) Register(w Waiter, mask Events) WaitHandle {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	q.entries = append(q.entries, waitEntry{q.next, w, mask})
	return q.next
}

// Unregister removes the registration h; it does nothing if h is not
// registered.
func (q *WaitQueue) Unregister(h WaitHandle) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, e := range q.entries {
		if e.h == h {
			q.entries = append(q.entries[:i], q.entries[i+1:]...)
			return
		}
	}
}

// Notify calls every Waiter interested in any of events. Waiters run with
// the queue's lock held: they must not register or unregister.
func (q *WaitQueue) Notify(events Events) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range q.entries {
		if e.mask&events != 0 {
			e.w.Notify(events & e.mask)
		}
	}
}

// Len returns the number of registrations, for leak checks.
func (q *WaitQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}
