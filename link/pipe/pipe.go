// Package pipe provides a pair of connected link endpoints, a virtual cable
// between two stacks in one process: what one end writes, the other end
// receives. It is the link of the two-stack tests and examples, of the
// benchmarks, and of simple simulations (wrap an end with impair.New for
// loss and delay).
//
// By default a pipe carries raw frames, like a cable or a TAP device: a
// frame arrives at the other end whole, in the Payload, delivered with
// protocol 0, and the link header is the business of a wrapper: use
// ethernet.New on both ends for Ethernet. Each end then has a link address
// (Config.AddressA, AddressB; by default DefaultAddressA and
// DefaultAddressB). With Config.L3 the pipe carries bare IP packets
// instead, like a TUN device: packets are delivered with the protocol
// their version nibble names, and the ends have no link address.
//
// # Delivery
//
// A write never delivers synchronously: WritePackets converts each packet
// into the inbound form (linkutil.ToInbound, which copies nothing) and
// queues it at the other end, whose delivery goroutine hands it to that
// end's dispatcher, in order, in batches. The goroutine runs
// while a dispatcher is attached to its end; an end with no dispatcher
// (never attached, detached or closed) discards what is written to it and
// counts it in its Stats.RxDetached, and the writer sees success, as a
// cable with nothing plugged in at the far end would.
//
// Each direction's queue is bounded (Config.QueueSize). When it is full,
// WritePackets stops and returns tcpip.ErrWouldBlock, releasing the
// packets it could not queue (the writer's Stats.TxQueueFull counts them,
// and so does the NIC): backpressure, never a silent drop, so that a
// benchmark or test that overruns the receiver sees it. Senders hold back
// on it: TCP waits for its next ACK, and a UDP writer with datagrams in
// flight waits for one of them to be paid back (see below).
//
// # Backpressure from end to end
//
// A packet stays charged to its sender (buffer.Owner: a UDP endpoint's
// send buffer) while it is queued, and after the far end's stack received
// it: both stacks are in this process, so the charge travels with the
// packet up to the receiving socket and is paid back when that socket's
// reader takes the datagram, or wherever the packet is dropped on the way
// (a full queue here, a filter, no socket for it, a bad checksum, a full
// receive buffer, the receiving socket closed with the datagram queued).
// This is how an AF_UNIX datagram socket holds its sender back: a UDP
// writer then never has more than its SO_SNDBUF in flight, the far
// socket's queue included, so that a receiver whose SO_RCVBUF is at least
// that SO_SNDBUF loses nothing to that writer however slowly it reads:
// the writer waits instead (gonet's UDPConn.Write blocks; a non-blocking
// Write gets tcpip.ErrWouldBlock and EventOut once half the buffer was
// paid back). The price is the AF_UNIX one: a receiving socket that is
// never read, and never closed, keeps such a writer blocked. A datagram
// delivered to several sockets (multicast, broadcast) pays its sender
// back when it is delivered, and a stack that forwards a packet onto
// another link passes the charge on with it. A link that transmits (a TAP
// device) pays the sender back once the packet is written, as Linux
// frees a transmitted skb.
//
// Close stops the end's goroutine and returns once it has exited.
//
// # Checksum offload
//
// Bytes do not change between the ends of a pipe, so by default both ends
// report CapabilityRXChecksumOffload and CapabilityTXChecksumOffload, as a
// Linux veth pair or a virtio-net device with checksum offload does: TCP
// and UDP neither compute their checksums on output nor verify them on
// input (the IPv4 header checksum is still computed and verified). Packets
// captured by a sniffer on an end then carry transport checksums that were
// never filled in, as tcpdump shows on a veth ("incorrect cksum"), unless
// the sniffer fills them in its copy (sniffer.Options.FillChecksums). A
// stack that forwards such packets to a link without offload, or fragments
// them, computes the checksums first (buffer.Packet.ChecksumPending), as
// Linux completes CHECKSUM_PARTIAL packets. Config.NoChecksumOffload gives
// every packet its checksums.
package pipe

import (
	"sync/atomic"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/link/internal/pktqueue"
	"github.com/ustack-go/ustack/link/linkutil"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Config configures a pipe. The zero value is a pipe of raw frames with an
// MTU of 1500, the default addresses and queues of DefaultQueueSize.
type Config struct {
	// MTU of both ends; zero means 1500 (Ethernet's, RFC 894).
	MTU uint32
	// L3 makes the pipe carry IP packets rather than frames: no link
	// addresses, delivery with the protocol of the version nibble.
	L3 bool
	// AddressA and AddressB are the link addresses of the ends of a pipe
	// of frames; zero means DefaultAddressA and DefaultAddressB. They are
	// ignored with L3.
	AddressA, AddressB tcpip.LinkAddress
	// Capabilities are reported by both ends, in addition to checksum
	// offload (see NoChecksumOffload).
	Capabilities stack.LinkCapabilities
	// NoChecksumOffload turns off the RX and TX checksum offload that both
	// ends report by default (see the package doc): the stacks then
	// compute and verify transport checksums in software. A test that
	// corrupts frames between the ends (impair with Corrupt) needs it.
	NoChecksumOffload bool
	// QueueSize bounds each direction's queue, in packets; zero means
	// DefaultQueueSize.
	QueueSize int
}

// DefaultQueueSize is each direction's queue size when Config.QueueSize is
// zero.
const DefaultQueueSize = 256

// Default link addresses of the ends of a pipe of frames: locally
// administered unicast addresses (IEEE 802-2014 §8.3: the U/L bit set, the
// I/G bit clear). A pipe is a segment of its own, so every pipe can use the
// same two.
var (
	DefaultAddressA = tcpip.LinkAddress{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}
	DefaultAddressB = tcpip.LinkAddress{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}
)

const defaultMTU = 1500

// Stats counts what crosses one end of a pipe.
type Stats struct {
	TxPackets   tcpip.Counter // queued for the other end
	TxQueueFull tcpip.Counter // refused with ErrWouldBlock: the other end's queue was full
	TxClosed    tcpip.Counter // refused with ErrStackClosed: written after Close
	RxPackets   tcpip.Counter // delivered to this end's dispatcher
	RxDetached  tcpip.Counter // discarded: written to this end while it had no dispatcher
}

// Endpoint is one end of a pipe. Its methods are safe for concurrent use.
type Endpoint struct {
	mtu    uint32
	addr   tcpip.LinkAddress
	caps   stack.LinkCapabilities
	l3     bool
	peer   *Endpoint
	rx     *pktqueue.Deliverer // delivers to this end's dispatcher
	closed atomic.Bool
	stats  Stats
}

var _ stack.LinkEndpoint = (*Endpoint)(nil)

// New returns the two ends of a new pipe, both detached.
func New(cfg Config) (a, b *Endpoint) {
	if cfg.MTU == 0 {
		cfg.MTU = defaultMTU
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.L3 {
		cfg.AddressA, cfg.AddressB = tcpip.LinkAddress{}, tcpip.LinkAddress{}
	} else {
		if cfg.AddressA.IsZero() {
			cfg.AddressA = DefaultAddressA
		}
		if cfg.AddressB.IsZero() {
			cfg.AddressB = DefaultAddressB
		}
	}
	caps := cfg.Capabilities
	if !cfg.NoChecksumOffload {
		caps |= stack.CapabilityRXChecksumOffload | stack.CapabilityTXChecksumOffload
	}
	a = &Endpoint{mtu: cfg.MTU, addr: cfg.AddressA, caps: caps, l3: cfg.L3}
	b = &Endpoint{mtu: cfg.MTU, addr: cfg.AddressB, caps: caps, l3: cfg.L3}
	a.peer, b.peer = b, a
	a.rx = pktqueue.NewDeliverer(cfg.QueueSize, &a.stats.RxPackets, &a.stats.RxDetached)
	b.rx = pktqueue.NewDeliverer(cfg.QueueSize, &b.stats.RxPackets, &b.stats.RxDetached)
	return a, b
}

// Peer returns the other end of the pipe.
func (e *Endpoint) Peer() *Endpoint { return e.peer }

// MTU implements stack.LinkEndpoint.
func (e *Endpoint) MTU() uint32 { return e.mtu }

// MaxHeaderLength implements stack.LinkEndpoint: a pipe adds no header.
func (e *Endpoint) MaxHeaderLength() int { return 0 }

// LinkAddress implements stack.LinkEndpoint.
func (e *Endpoint) LinkAddress() tcpip.LinkAddress { return e.addr }

// Capabilities implements stack.LinkEndpoint.
func (e *Endpoint) Capabilities() stack.LinkCapabilities { return e.caps }

// AddHeader implements stack.LinkEndpoint: a pipe adds no header.
func (e *Endpoint) AddHeader(*buffer.Packet) {}

// Stats returns the end's counters.
func (e *Endpoint) Stats() *Stats { return &e.stats }

// Attach implements stack.LinkEndpoint. Attaching a dispatcher starts the
// end's delivery goroutine; Attach(nil) stops it, discards what was queued
// for delivery, and returns once the goroutine has exited. It must not be
// called from inside the end's deliveries.
func (e *Endpoint) Attach(d stack.NetworkDispatcher) { e.rx.Attach(d) }

// WritePackets implements stack.LinkEndpoint: it queues the packets, in
// order, for delivery at the other end. See the package doc for a full
// queue and for an other end without a dispatcher.
func (e *Endpoint) WritePackets(pkts []*buffer.Packet) (int, error) {
	if e.closed.Load() {
		e.stats.TxClosed.Add(uint64(len(pkts)))
		releaseAll(pkts)
		return 0, tcpip.ErrStackClosed
	}
	for i, pkt := range pkts {
		var proto tcpip.NetworkProtocolNumber
		if e.l3 {
			proto = linkutil.OutboundIPProtocol(pkt)
		}
		in := linkutil.ToInbound(pkt)
		if err := e.peer.rx.Enqueue(proto, in); err != nil {
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

// Close implements stack.LinkEndpoint: it detaches the end, stops its
// goroutine (returning once it has exited) and makes its WritePackets fail
// with tcpip.ErrStackClosed; what the other end writes to it from then on
// is discarded. The other end stays open until closed itself.
func (e *Endpoint) Close() {
	e.closed.Store(true)
	e.rx.Close()
}
