// Package channel provides a link endpoint whose other end is the program
// itself: packets the stack writes are queued for the program to Read, and
// the program hands the stack inbound packets with InjectInbound. Tests use
// it to see exactly what a stack sends and to feed it crafted packets;
// custom drivers (a userspace VPN moving packets over its own transport,
// say) use it as the glue between ustack and their I/O.
//
// The outbound queue is bounded. When it is full, WritePackets returns
// tcpip.ErrWouldBlock for the packets it could not queue (the NIC counts
// them as TxQueueFull): packets are never dropped silently. A reader
// waits for packets with ReadContext, or selects on C.
//
// The endpoint has no link header of its own; wrap it with ethernet.New to
// carry Ethernet frames.
package channel

import (
	"context"
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/link/internal/pktqueue"
	"github.com/ustack-go/ustack/link/linkutil"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Config configures an Endpoint. The zero value is usable: MTU 1500, no
// link address, no capabilities, a queue of DefaultQueueSize packets.
type Config struct {
	// MTU is the endpoint's MTU; zero means 1500.
	MTU uint32
	// LinkAddress is the endpoint's link address; zero means none.
	LinkAddress tcpip.LinkAddress
	// Capabilities are reported by Capabilities.
	Capabilities stack.LinkCapabilities
	// QueueSize bounds the outbound queue, in packets; zero means
	// DefaultQueueSize.
	QueueSize int
}

// DefaultQueueSize is the outbound queue's size when Config.QueueSize is
// zero.
const DefaultQueueSize = 256

// defaultMTU is Ethernet's (RFC 894).
const defaultMTU = 1500

// Stats counts what crosses an Endpoint.
type Stats struct {
	TxPackets   tcpip.Counter // queued for Read
	TxQueueFull tcpip.Counter // refused with ErrWouldBlock: the queue was full
	TxClosed    tcpip.Counter // refused with ErrStackClosed: written after Close
	RxPackets   tcpip.Counter // injected and delivered to the dispatcher
	RxDetached  tcpip.Counter // injected with no dispatcher attached, or after Close
}

// Endpoint is a link endpoint whose outbound packets the program reads and
// whose inbound packets the program injects. Its methods are safe for
// concurrent use.
type Endpoint struct {
	mtu   uint32
	addr  tcpip.LinkAddress
	caps  stack.LinkCapabilities
	gate  linkutil.DispatchGate
	stats Stats

	notify chan struct{} // capacity 1; holds a token while packets may be queued
	done   chan struct{} // closed by Close

	mu sync.Mutex
	// Guarded by mu.
	queue  pktqueue.Ring
	closed bool
}

var _ stack.LinkEndpoint = (*Endpoint)(nil)

// New returns a detached Endpoint configured by cfg.
func New(cfg Config) *Endpoint {
	if cfg.MTU == 0 {
		cfg.MTU = defaultMTU
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	return &Endpoint{
		mtu:    cfg.MTU,
		addr:   cfg.LinkAddress,
		caps:   cfg.Capabilities,
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		queue:  pktqueue.NewRing(cfg.QueueSize),
	}
}

// MTU implements stack.LinkEndpoint.
func (e *Endpoint) MTU() uint32 { return e.mtu }

// MaxHeaderLength implements stack.LinkEndpoint: the endpoint adds no
// header.
func (e *Endpoint) MaxHeaderLength() int { return 0 }

// LinkAddress implements stack.LinkEndpoint.
func (e *Endpoint) LinkAddress() tcpip.LinkAddress { return e.addr }

// Capabilities implements stack.LinkEndpoint.
func (e *Endpoint) Capabilities() stack.LinkCapabilities { return e.caps }

// AddHeader implements stack.LinkEndpoint: the endpoint adds no header.
func (e *Endpoint) AddHeader(*buffer.Packet) {}

// Attach implements stack.LinkEndpoint. It returns once no InjectInbound
// is delivering to the previous dispatcher; it must not be called from
// inside a delivery.
func (e *Endpoint) Attach(d stack.NetworkDispatcher) { e.gate.Attach(d) }

// IsAttached reports whether a dispatcher is attached.
func (e *Endpoint) IsAttached() bool { return e.gate.Attached() }

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() *Stats { return &e.stats }

// WritePackets implements stack.LinkEndpoint: it queues the packets, as
// they are (link header, if a wrapper added one, in the header area), for
// Read. When the queue fills it returns tcpip.ErrWouldBlock and releases
// the packets it could not queue; after Close it returns
// tcpip.ErrStackClosed.
func (e *Endpoint) WritePackets(pkts []*buffer.Packet) (int, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.stats.TxClosed.Add(uint64(len(pkts)))
		releaseAll(pkts)
		return 0, tcpip.ErrStackClosed
	}
	n := 0
	for n < len(pkts) && e.queue.Push(pktqueue.Item{Pkt: pkts[n]}) {
		n++
	}
	e.mu.Unlock()
	if n > 0 {
		e.stats.TxPackets.Add(uint64(n))
		e.signal()
	}
	if n < len(pkts) {
		e.stats.TxQueueFull.Add(uint64(len(pkts) - n))
		releaseAll(pkts[n:])
		return n, tcpip.ErrWouldBlock
	}
	return n, nil
}

func releaseAll(pkts []*buffer.Packet) {
	for _, p := range pkts {
		p.Release()
	}
}

// signal leaves a token in notify if there is none.
func (e *Endpoint) signal() {
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// Read returns the oldest queued outbound packet, which the caller then
// owns, or false if the queue is empty. It never blocks.
func (e *Endpoint) Read() (*buffer.Packet, bool) {
	e.mu.Lock()
	it, ok := e.queue.Pop()
	more := e.queue.Len() > 0
	e.mu.Unlock()
	if more {
		// Pass the token on to another reader.
		e.signal()
	}
	return it.Pkt, ok
}

// ReadContext returns the oldest queued outbound packet, waiting for one if
// the queue is empty. It returns ctx.Err() if ctx ends first, and
// tcpip.ErrStackClosed once the endpoint is closed.
func (e *Endpoint) ReadContext(ctx context.Context) (*buffer.Packet, error) {
	for {
		if pkt, ok := e.Read(); ok {
			return pkt, nil
		}
		select {
		case <-e.notify:
		case <-e.done:
			return nil, tcpip.ErrStackClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// C returns a channel that receives a value after packets are queued. A
// value means "Read may succeed now"; the channel holds at most one, so a
// reader drains with Read until it reports false and then waits on C
// again.
func (e *Endpoint) C() <-chan struct{} { return e.notify }

// Len returns the number of queued outbound packets.
func (e *Endpoint) Len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.queue.Len()
}

// Drain releases every queued outbound packet and returns how many there
// were.
func (e *Endpoint) Drain() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.queue.ReleaseAll()
}

// InjectInbound delivers pkt, in the inbound form (the whole frame or
// packet in pkt.Payload), to the attached dispatcher with proto, on the
// caller's goroutine, and reports true. With no dispatcher attached, or
// after Close, it releases pkt and reports false. It takes ownership of
// pkt either way. It may be called from any number of goroutines; it must
// not be called from inside WritePackets (from a dispatcher's reply path
// synchronously, say), since links never deliver synchronously into the
// sender.
func (e *Endpoint) InjectInbound(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) bool {
	if !e.gate.Deliver(proto, pkt) {
		e.stats.RxDetached.Inc()
		return false
	}
	e.stats.RxPackets.Inc()
	return true
}

// Close implements stack.LinkEndpoint: it detaches, releases the queued
// packets and makes WritePackets fail and ReadContext return
// tcpip.ErrStackClosed. Packets already taken by Read are the reader's.
func (e *Endpoint) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.queue.ReleaseAll()
	e.mu.Unlock()
	close(e.done)
	e.gate.Attach(nil)
}
