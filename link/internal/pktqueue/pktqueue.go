// Package pktqueue holds the packet queues shared by ustack's in-memory
// links: Ring, a bounded FIFO of packets, and Deliverer, a bounded queue of
// inbound packets that a goroutine of its own delivers to a dispatcher for
// as long as one is attached (the receiving half of a pipe, a loopback).
package pktqueue

import (
	"runtime"
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Item is a queued packet with the network protocol to deliver it with.
type Item struct {
	Proto tcpip.NetworkProtocolNumber
	Pkt   *buffer.Packet
}

// Ring is a bounded FIFO of Items in a fixed array. It is not safe for
// concurrent use; its owner locks it.
type Ring struct {
	items   []Item
	head, n int
}

// NewRing returns a Ring that holds up to size items (at least 1).
func NewRing(size int) Ring {
	return Ring{items: make([]Item, max(size, 1))}
}

// Len returns the number of queued items.
func (r *Ring) Len() int { return r.n }

// Cap returns the most items the ring holds.
func (r *Ring) Cap() int { return len(r.items) }

// Full reports whether Push would fail.
func (r *Ring) Full() bool { return r.n == len(r.items) }

// Push appends it and reports true, or reports false if the ring is full.
func (r *Ring) Push(it Item) bool {
	if r.n == len(r.items) {
		return false
	}
	i := r.head + r.n
	if i >= len(r.items) {
		i -= len(r.items)
	}
	r.items[i] = it
	r.n++
	return true
}

// Pop removes and returns the oldest item; ok is false if the ring is
// empty.
func (r *Ring) Pop() (it Item, ok bool) {
	if r.n == 0 {
		return Item{}, false
	}
	it = r.items[r.head]
	r.items[r.head] = Item{}
	r.head++
	if r.head == len(r.items) {
		r.head = 0
	}
	r.n--
	return it, true
}

// ReleaseAll releases every queued packet and returns how many there were.
func (r *Ring) ReleaseAll() int {
	n := r.n
	for {
		it, ok := r.Pop()
		if !ok {
			return n
		}
		it.Pkt.Release()
	}
}

// batchSize is the most packets the delivery goroutine takes from the
// queue under one lock, and delivers before it lets the goroutines it woke
// run (see run). Smaller batches keep the receivers closer behind; 16 lost
// a quarter of the datagrams of perf's udp workload on a loaded machine
// where 64 lost two fifths; bulk TCP throughput was within the noise.
const batchSize = 16

// Deliverer is a bounded queue of inbound packets and the goroutine that
// delivers them, in order, to the attached dispatcher. A packet's owner
// (buffer.Owner) stays charged while the packet is queued and after it is
// delivered: the receiving stack pays it back when it lets go of the packet
// (a socket's reader takes it, or it is dropped on the way), and the
// Deliverer when it discards the packet. The goroutine runs
// from the first Attach of a dispatcher until Attach(nil) or Close, so a
// detached or closed Deliverer holds no goroutine. Packets offered while no
// dispatcher is attached are released and counted, as a wire with nobody
// listening at the far end loses them.
type Deliverer struct {
	attachMu sync.Mutex // serialises Attach and Close; taken before mu

	mu   sync.Mutex
	work sync.Cond // the goroutine waits here for packets or stop; L is &mu
	idle sync.Cond // Attach waits here for the batch in progress; L is &mu
	// Guarded by mu.
	ring    Ring
	d       stack.NetworkDispatcher // nil when detached
	running bool                    // the goroutine runs
	stop    bool                    // the goroutine must exit
	busy    bool                    // the goroutine is delivering a batch
	closed  bool
	exited  chan struct{} // closed by the goroutine as it exits

	delivered, detached *tcpip.Counter
}

// NewDeliverer returns a detached Deliverer queueing up to size packets.
// It counts every delivered packet in delivered and every packet released
// for want of a dispatcher in detached.
func NewDeliverer(size int, delivered, detached *tcpip.Counter) *Deliverer {
	q := &Deliverer{ring: NewRing(size), delivered: delivered, detached: detached}
	q.work.L = &q.mu
	q.idle.L = &q.mu
	return q
}

// Enqueue queues pkt for delivery with proto. If the queue is full it
// returns tcpip.ErrWouldBlock and leaves pkt to the caller. Otherwise it
// takes ownership of pkt: with no dispatcher attached (or after Close) it
// releases pkt, counts it as detached and returns nil.
func (q *Deliverer) Enqueue(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) error {
	q.mu.Lock()
	if q.d == nil {
		q.mu.Unlock()
		pkt.Release()
		q.detached.Inc()
		return nil
	}
	if !q.ring.Push(Item{proto, pkt}) {
		q.mu.Unlock()
		return tcpip.ErrWouldBlock
	}
	q.work.Signal()
	q.mu.Unlock()
	return nil
}

// Attach makes d the dispatcher, starting the goroutine if needed, or with
// d nil stops the goroutine and releases (and counts) the queued packets.
// It returns once no delivery to the previous dispatcher is in progress.
// After Close it does nothing. It must not be called from the delivery
// goroutine (from inside a dispatcher's DeliverNetworkPacket).
func (q *Deliverer) Attach(d stack.NetworkDispatcher) {
	q.attachMu.Lock()
	defer q.attachMu.Unlock()
	q.attachLocked(d)
}

func (q *Deliverer) attachLocked(d stack.NetworkDispatcher) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if d != nil {
		q.d = d
		if !q.running {
			q.running, q.stop = true, false
			q.exited = make(chan struct{})
			go q.run(q.exited)
		}
		// A batch taken before the change goes to the old dispatcher;
		// wait for it.
		for q.busy {
			q.idle.Wait()
		}
		q.mu.Unlock()
		return
	}
	q.d = nil
	if q.running {
		q.stop = true
		q.work.Signal()
		exited := q.exited
		q.mu.Unlock()
		<-exited
		q.mu.Lock()
	}
	// The packets are released outside the lock: releasing one pays its
	// sender back, which may wake a writer that writes to this queue.
	var dropped Ring
	if q.ring.Len() > 0 {
		dropped, q.ring = q.ring, NewRing(q.ring.Cap())
	}
	q.mu.Unlock()
	n := dropped.ReleaseAll()
	q.detached.Add(uint64(n))
}

// Close detaches, stops the goroutine, releases the queued packets and
// makes later Enqueues release theirs. It returns once the goroutine has
// exited.
func (q *Deliverer) Close() {
	q.attachMu.Lock()
	defer q.attachMu.Unlock()
	q.attachLocked(nil)
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// Len returns the number of queued packets.
func (q *Deliverer) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ring.Len()
}

// run is the delivery goroutine.
func (q *Deliverer) run(exited chan struct{}) {
	var batch [batchSize]Item
	var pkts [batchSize]*buffer.Packet
	q.mu.Lock()
	for {
		for q.ring.Len() == 0 && !q.stop {
			q.work.Wait()
		}
		if q.stop {
			break
		}
		n := 0
		for n < len(batch) {
			it, ok := q.ring.Pop()
			if !ok {
				break
			}
			batch[n] = it
			n++
		}
		d := q.d
		q.busy = true
		q.mu.Unlock()
		if bd, ok := d.(stack.BatchDispatcher); ok {
			// One call for the batch, so that the NIC can coalesce
			// it (GRO).
			for i := range n {
				batch[i].Pkt.NetworkProtocol = batch[i].Proto
				pkts[i] = batch[i].Pkt
				batch[i] = Item{}
			}
			bd.DeliverNetworkPackets(pkts[:n])
			clear(pkts[:n])
		} else {
			for i := range n {
				d.DeliverNetworkPacket(batch[i].Proto, batch[i].Pkt)
				batch[i] = Item{}
			}
		}
		q.delivered.Add(uint64(n))
		q.mu.Lock()
		q.busy = false
		q.idle.Broadcast()
		if q.ring.Len() > 0 && !q.stop {
			// More is queued: let the goroutines this batch woke
			// (readers of the sockets it filled) run before the
			// next one, as Linux's NAPI polls a device for a budget
			// of packets and then defers the rest to ksoftirqd,
			// which the scheduler runs beside the readers. A
			// delivery goroutine that never yielded while a fast
			// sender kept its queue full would starve them and
			// overflow their receive buffers.
			q.mu.Unlock()
			runtime.Gosched()
			q.mu.Lock()
		}
	}
	q.running = false
	q.mu.Unlock()
	close(exited)
}
