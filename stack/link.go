package stack

import (
	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// LinkCapabilities describe what a link can do and needs.
type LinkCapabilities uint32

// Link capabilities.
const (
	// CapabilityResolutionRequired: the link has link addresses, so IP
	// next hops must be resolved (ARP, NDP) before sending (Ethernet).
	CapabilityResolutionRequired LinkCapabilities = 1 << iota
	// CapabilityLoopback: everything written comes back in; the NIC is a
	// loopback NIC (it owns 127.0.0.0/8 and ::1 semantics).
	CapabilityLoopback
	// CapabilityRXChecksumOffload: inbound transport checksums have been
	// verified already (in-memory links between trusted stacks).
	CapabilityRXChecksumOffload
	// CapabilityTXChecksumOffload: outbound transport checksums need not
	// be computed (the peer trusts the link).
	CapabilityTXChecksumOffload
)

// LinkEndpoint is a link a NIC sends and receives packets through: a TUN or
// TAP device, an in-memory pipe, a loopback, or a wrapper such as ethernet,
// sniffer or impair around another LinkEndpoint.
//
// Ownership of packets follows package buffer: WritePackets takes ownership
// of every packet it is given, written or not; DeliverNetworkPacket hands
// ownership of the delivered packet to the dispatcher.
//
// A link never delivers synchronously from inside WritePackets back into a
// dispatcher (a loopback or pipe queues and delivers from its own goroutine
// or the simulator's loop), so a protocol may send while holding its locks.
type LinkEndpoint interface {
	// MTU is the largest network-layer packet (IP header included, link
	// header excluded) the link carries.
	MTU() uint32

	// MaxHeaderLength is the room the link needs in front of the network
	// header for its own headers (AddHeader), 0 if it has none.
	MaxHeaderLength() int

	// LinkAddress is the link's own address, zero if it has none.
	LinkAddress() tcpip.LinkAddress

	// Capabilities reports the link's capabilities.
	Capabilities() LinkCapabilities

	// Attach starts delivering inbound packets to d. Attach(nil) stops
	// delivery and returns only once no delivery is in progress, so that
	// the NIC being detached sees no packet afterwards.
	Attach(d NetworkDispatcher)

	// AddHeader prepends the link's header to an outbound packet, using
	// pkt.LinkSource, pkt.LinkDestination and pkt.NetworkProtocol. Links
	// without a header do nothing.
	AddHeader(pkt *buffer.Packet)

	// WritePackets sends packets that already carry their link headers,
	// in order, and returns how many it wrote. On error (a full queue:
	// tcpip.ErrWouldBlock / ErrNoBufferSpace; a closed link:
	// tcpip.ErrStackClosed or ErrNetworkDown), pkts[n:] were not written.
	// It owns every packet of pkts once called.
	WritePackets(pkts []*buffer.Packet) (n int, err error)

	// Close detaches the link and frees what it holds (goroutines, file
	// descriptors). It returns once all of them are gone.
	Close()
}

// NetworkDispatcher receives the packets a link delivers: a NIC, or a
// wrapping link such as ethernet.
type NetworkDispatcher interface {
	// DeliverNetworkPacket hands an inbound packet to the dispatcher,
	// which owns it from then on. proto is the network protocol when the
	// link knows it (an EtherType it parsed, the version nibble of a TUN
	// packet), or 0 for a raw frame whose header is still in the payload.
	// pkt.LinkHeader holds the link header if the link consumed one.
	DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet)
}

// BatchDispatcher is a NetworkDispatcher that also takes the packets a link
// has at once, as a batch: a NIC, which coalesces the in-order TCP segments
// of a batch (GRO, see Options.NoGRO), or a wrapping link that passes the
// batch on. A link that delivers in batches (a pipe's delivery goroutine)
// uses DeliverNetworkPackets when its dispatcher implements it.
type BatchDispatcher interface {
	NetworkDispatcher
	// DeliverNetworkPackets is DeliverNetworkPacket of each packet in
	// order, with each packet's network protocol in pkt.NetworkProtocol
	// (0 for a raw frame). The dispatcher owns the packets, and may
	// reuse pkts' storage until it returns.
	DeliverNetworkPackets(pkts []*buffer.Packet)
}
