// Package loopback provides the loopback link endpoint: everything the
// stack writes to it comes back to the same stack as inbound packets, as
// through Linux's lo device. A NIC over it is a loopback NIC
// (stack.CapabilityLoopback).
//
// The endpoint carries bare IP packets with no link header and an MTU of
// 65536 (Linux's lo default). Like every link of ustack it never delivers
// synchronously from inside WritePackets: written packets are converted to
// the inbound form and queued, and a goroutine of the endpoint delivers
// them, in order, to the attached dispatcher. The goroutine runs while a
// dispatcher is attached. The queue is bounded; when it is full,
// WritePackets returns tcpip.ErrWouldBlock for the packets it could not
// queue (counted in Stats.TxQueueFull and by the NIC). Packets written
// while no dispatcher is attached are discarded and counted.
//
// As over a pipe (see package pipe), a packet stays charged to its sender
// (buffer.Owner, a UDP endpoint's send buffer) until the receiving socket's
// reader takes it or it is dropped: a UDP writer to a local socket waits
// for the reader rather than overflowing its receive buffer.
//
// By default the endpoint reports RX and TX checksum offload as well, as
// Linux's lo does: bytes that never leave memory need no checksum.
package loopback

import (
	"sync/atomic"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/link/internal/pktqueue"
	"github.com/ustack-go/ustack/link/linkutil"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Options configures an Endpoint. The zero value gives the defaults.
type Options struct {
	// MTU; zero means DefaultMTU.
	MTU uint32
	// QueueSize bounds the queue, in packets; zero means
	// DefaultQueueSize.
	QueueSize int
	// NoChecksumOffload makes the endpoint report only
	// CapabilityLoopback, so that the stack computes and checks
	// checksums on loopback traffic too (to test them, or to capture
	// valid packets with a sniffer).
	NoChecksumOffload bool
}

// DefaultMTU is the loopback MTU, Linux's for lo.
const DefaultMTU = 65536

// DefaultQueueSize is the queue size when Options.QueueSize is zero.
const DefaultQueueSize = 1024

// Stats counts what crosses the endpoint.
type Stats struct {
	TxPackets   tcpip.Counter // queued for delivery
	TxQueueFull tcpip.Counter // refused with ErrWouldBlock: the queue was full
	TxClosed    tcpip.Counter // refused with ErrStackClosed: written after Close
	RxPackets   tcpip.Counter // delivered to the dispatcher
	RxDetached  tcpip.Counter // discarded: written while no dispatcher was attached
}

// Endpoint is a loopback link endpoint. Its methods are safe for
// concurrent use.
type Endpoint struct {
	mtu    uint32
	caps   stack.LinkCapabilities
	rx     *pktqueue.Deliverer
	closed atomic.Bool
	stats  Stats
}

var _ stack.LinkEndpoint = (*Endpoint)(nil)

// New returns a detached loopback Endpoint.
func New(opts Options) *Endpoint {
	if opts.MTU == 0 {
		opts.MTU = DefaultMTU
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	e := &Endpoint{mtu: opts.MTU, caps: stack.CapabilityLoopback}
	if !opts.NoChecksumOffload {
		e.caps |= stack.CapabilityRXChecksumOffload | stack.CapabilityTXChecksumOffload
	}
	e.rx = pktqueue.NewDeliverer(opts.QueueSize, &e.stats.RxPackets, &e.stats.RxDetached)
	return e
}

// MTU implements stack.LinkEndpoint.
func (e *Endpoint) MTU() uint32 { return e.mtu }

// MaxHeaderLength implements stack.LinkEndpoint: no link header.
func (e *Endpoint) MaxHeaderLength() int { return 0 }

// LinkAddress implements stack.LinkEndpoint: a loopback has none.
func (e *Endpoint) LinkAddress() tcpip.LinkAddress { return tcpip.LinkAddress{} }

// Capabilities implements stack.LinkEndpoint.
func (e *Endpoint) Capabilities() stack.LinkCapabilities { return e.caps }

// AddHeader implements stack.LinkEndpoint: no link header.
func (e *Endpoint) AddHeader(*buffer.Packet) {}

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() *Stats { return &e.stats }

// Attach implements stack.LinkEndpoint. Attaching starts the delivery
// goroutine; Attach(nil) stops it, discards the queue and returns once the
// goroutine has exited. It must not be called from inside a delivery.
func (e *Endpoint) Attach(d stack.NetworkDispatcher) { e.rx.Attach(d) }

// WritePackets implements stack.LinkEndpoint: it queues the packets for
// delivery back to the dispatcher, each with its NetworkProtocol, or the
// protocol of its IP version nibble if that is zero (a raw write).
func (e *Endpoint) WritePackets(pkts []*buffer.Packet) (int, error) {
	if e.closed.Load() {
		e.stats.TxClosed.Add(uint64(len(pkts)))
		releaseAll(pkts)
		return 0, tcpip.ErrStackClosed
	}
	for i, pkt := range pkts {
		proto := pkt.NetworkProtocol
		if proto == 0 {
			proto = linkutil.OutboundIPProtocol(pkt)
		}
		in := linkutil.ToInbound(pkt)
		if err := e.rx.Enqueue(proto, in); err != nil {
			in.Release()
			releaseAll(pkts[i+1:])
			e.stats.TxPackets.Add(uint64(i))
			e.stats.TxQueueFull.Add(uint64(len(pkts) - i))
			return i, err
		}
	}
	e.stats.TxPackets.Add(uint64(len(pkts)))
	return len(pkts), nil
}

func releaseAll(pkts []*buffer.Packet) {
	for _, p := range pkts {
		p.Release()
	}
}

// Close implements stack.LinkEndpoint: it detaches, stops the goroutine
// (returning once it has exited), discards the queue and makes
// WritePackets fail with tcpip.ErrStackClosed.
func (e *Endpoint) Close() {
	e.closed.Store(true)
	e.rx.Close()
}
