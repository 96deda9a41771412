// Package udp implements UDP (RFC 768, with the host requirements of
// RFC 1122 §4.1) for ustack: a transport protocol for stack.New
// (udp.NewProtocol) and its endpoints, which behave as Linux's
// non-blocking SOCK_DGRAM sockets.
//
// # Endpoints
//
// An endpoint is created by Stack.NewEndpoint(udp.ProtocolNumber, netProto)
// and used through tcpip.Endpoint. It moves through these states:
//
//	initial ──Bind──▶ bound ──Connect──▶ connected
//	   │                ▲                   │
//	   │                └─Connect(zero Addr)┘ (back to initial if the
//	   └──Connect / Write: ephemeral port──▶   port was not bound)
//	any ──Close──▶ closed
//
// Reads and writes never block: Read returns tcpip.ErrWouldBlock when no
// datagram is queued and the WaitQueue reports EventIn when the queue
// stops being empty. Writes are handed to the network layer at once, and
// each datagram is charged to the endpoint's send buffer
// (SendBufferSizeOption) until it is paid back (buffer.Owner), as Linux
// charges sk_wmem_alloc: Write returns tcpip.ErrWouldBlock while the
// buffer is full, or while a link whose queue is full holds datagrams of
// the endpoint, and EventOut follows when there is room again. A writer
// faster than its link thus waits (gonet's UDPConn.Write blocks) rather
// than losing datagrams; a full link with none of the endpoint's
// datagrams in flight refuses with tcpip.ErrNoBufferSpace (ENOBUFS).
// SendQueueSizeOption reports the bytes charged (Linux's SIOCOUTQ for UDP).
//
// # Backpressure over in-memory links
//
// A link that transmits (a TAP device) pays a datagram back once it is
// written. A pipe or a loopback carries the charge to the receiving stack
// of the same process (see package link/pipe): the datagram is paid back
// when the receiving endpoint's reader takes it, or where it is dropped
// (no endpoint for it, a bad checksum or length, a full receive buffer,
// the receiving endpoint shut for reading or closed with it queued, a
// full link queue on the way), as an AF_UNIX datagram socket charges its
// sender. A writer then has at most SO_SNDBUF in flight, the far
// endpoint's queue included, and the receive queue charges a datagram
// still charged to its sender no more than the sender was (rcvq.Queue.Push):
// a receiver whose SO_RCVBUF is at least the writer's SO_SNDBUF (equal by
// default) never drops that writer's datagrams, however slowly it reads,
// and the writer waits for it instead. As with AF_UNIX, a receiving
// endpoint that is neither read nor closed keeps its writers blocked.
// Multicast and broadcast datagrams, which go to several endpoints, are
// paid back on delivery; a sender closed while its datagrams are queued
// elsewhere is paid back later, harmlessly.
//
// Inbound datagrams are processed to completion on the goroutine that
// delivers them and queued in the endpoint's receive queue, bounded by
// ReceiveBufferSizeOption; drops are counted in tcpip.UDPStats and in the
// endpoint's Stats. A connected endpoint caches its route, so that
// nothing is allocated per datagram on its send or receive path once the
// queues have grown to the traffic (a datagram to another destination
// looks its route up, which allocates one). An endpoint owns no goroutine
// and no timer.
//
// # Dual stack
//
// An IPv6 endpoint without V6OnlyOption bound to the IPv6 wildcard also
// receives IPv4 datagrams, reported with IPv4-mapped addresses
// (RFC 4291 §2.5.5.2, RFC 3493 §3.7), and sends to IPv4-mapped addresses
// over IPv4. Bound to an IPv4-mapped address it is IPv4-only; bound to an
// IPv6 address, IPv6-only (see familyMismatch for Linux's errors). It
// joins IPv4 groups by their mapped addresses, with IPv4's multicast
// rules.
package udp

import (
	"errors"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/dgram"
)

// ProtocolNumber is UDP's IP protocol number.
const ProtocolNumber = tcpip.UDPProtocolNumber

// Largest payloads of one datagram: the 16-bit IPv4 Total Length less the
// minimum IPv4 header and the UDP header (65535-20-8), and the 16-bit IPv6
// Payload Length less the UDP header (65535-8), as Linux's EMSGSIZE limits.
const (
	MaxPayloadIPv4 = 0xffff - 20 - header.UDPMinimumSize
	MaxPayloadIPv6 = 0xffff - header.UDPMinimumSize
)

// Buffer sizes (SO_RCVBUF, SO_SNDBUF). The defaults are Linux's
// net.core.rmem_default and wmem_default; values set are clamped to
// [MinBufferSize, MaxBufferSize].
const (
	DefaultReceiveBufferSize = dgram.DefaultReceiveBufferSize // 212992
	DefaultSendBufferSize    = dgram.DefaultSendBufferSize    // 212992
	MinBufferSize            = dgram.MinBufferSize            // 4096
	MaxBufferSize            = dgram.MaxBufferSize            // 4 MiB
)

// maxMemberships bounds the multicast groups one endpoint joins, as Linux's
// net.ipv4.igmp_max_memberships (20) does.
const maxMemberships = 20

// errMalformedHeader is returned by ParsePorts for a header too short to
// hold the ports.
var errMalformedHeader = errors.New("udp: header too short")

// protocol is UDP on one stack.
type protocol struct {
	s     *stack.Stack
	stats *tcpip.UDPStats
}

var _ stack.TransportProtocol = (*protocol)(nil)

// NewProtocol returns UDP for a stack; it is a stack.TransportProtocolFactory
// for stack.Options.TransportProtocols.
func NewProtocol(s *stack.Stack) stack.TransportProtocol {
	return &protocol{s: s, stats: &s.Stats().UDP}
}

// Number implements stack.TransportProtocol.
func (p *protocol) Number() tcpip.TransportProtocolNumber { return ProtocolNumber }

// NewEndpoint implements stack.TransportProtocol.
func (p *protocol) NewEndpoint(netProto tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error) {
	if netProto != tcpip.IPv4ProtocolNumber && netProto != tcpip.IPv6ProtocolNumber {
		return nil, tcpip.ErrUnknownProtocol
	}
	return newEndpoint(p, netProto), nil
}

// MinimumPacketSize implements stack.TransportProtocol.
func (p *protocol) MinimumPacketSize() int { return header.UDPMinimumSize }

// ParsePorts implements stack.TransportProtocol. A header too short for the
// ports is counted as malformed (RFC 768: every datagram carries the
// 8-byte header).
func (p *protocol) ParsePorts(hdr []byte) (src, dst uint16, err error) {
	if len(hdr) < header.UDPMinimumSize {
		p.stats.Malformed.Inc()
		return 0, 0, errMalformedHeader
	}
	u := header.UDP(hdr)
	return u.SourcePort(), u.DestinationPort(), nil
}

// HandleUnknownDestinationPacket implements stack.TransportProtocol: a
// valid datagram for a port no endpoint holds is counted as UnknownPort and
// answered with ICMP port unreachable by the network layer (RFC 1122
// §4.1.3.1: "UDP SHOULD send an ICMP Port Unreachable message"), except
// when it was addressed to a broadcast or multicast address (RFC 1122
// §3.2.2: no ICMP error about such datagrams). As Linux's __udp4_lib_rcv,
// the datagram is validated (length, checksum) first: an invalid one is
// dropped and counted without an answer.
func (p *protocol) HandleUnknownDestinationPacket(id stack.TransportEndpointID, info stack.NetworkPacketInfo, pkt *buffer.Packet) stack.TransportPacketDisposition {
	if _, ok := p.validate(info, pkt, nil); !ok {
		pkt.Release()
		return stack.TransportPacketHandled
	}
	p.stats.UnknownPort.Inc()
	if info.Multicast || info.LocalAddressBroadcast {
		pkt.Release()
		return stack.TransportPacketHandled
	}
	// Not consumed: the network layer quotes the datagram in its ICMP
	// message, then releases it.
	return stack.TransportPacketDestinationPortUnreachable
}

// SetOption implements stack.TransportProtocol: UDP has no protocol
// options.
func (p *protocol) SetOption(any) error { return tcpip.ErrUnknownProtocolOption }

// Option implements stack.TransportProtocol.
func (p *protocol) Option(any) error { return tcpip.ErrUnknownProtocolOption }

// Close implements stack.TransportProtocol: UDP holds nothing beyond its
// endpoints.
func (p *protocol) Close() {}

// validate checks the datagram at the front of pkt's payload (the UDP
// header and data, the network header consumed) and returns its length
// from the header. Drops are counted in the protocol's stats and in es if
// it is not nil. pkt is not modified.
//
// RFC 768: Length counts header and data, so it is at least 8 and at most
// what the network layer delivered; bytes beyond it are not part of the
// datagram (Linux trims them, udp4_csum_init/pskb_trim_rcsum). RFC 1122
// §4.1.3.4: a datagram whose checksum is non-zero and invalid MUST be
// silently discarded. A zero checksum means none was computed, which IPv4
// allows (RFC 768) and IPv6 does not (RFC 8200 §8.1: IPv6 receivers must
// discard such datagrams; Linux counts them as checksum errors). A link
// that verifies checksums itself (CapabilityRXChecksumOffload) spares the
// check.
func (p *protocol) validate(info stack.NetworkPacketInfo, pkt *buffer.Packet, es *tcpip.EndpointStats) (int, bool) {
	hdr, ok := pkt.Peek(header.UDPMinimumSize)
	if !ok {
		p.countMalformed(es)
		return 0, false
	}
	u := header.UDP(hdr)
	length := int(u.Length())
	if length < header.UDPMinimumSize || length > pkt.Payload.Len() {
		p.countMalformed(es)
		return 0, false
	}
	src, dst := info.Source.Unmap(), info.Destination.Unmap()
	// RFC 1122 §3.2.1.3: a source address names one host, never a
	// multicast or broadcast address (the network layer checks it too;
	// a datagram from such a source could make its receiver answer a
	// whole group).
	if src.IsMulticast() || isLimitedBroadcast(src) {
		p.stats.InvalidSource.Inc()
		if es != nil {
			es.MalformedPackets.Inc()
		}
		return 0, false
	}
	if p.rxChecksumOffloaded(info.NIC) {
		return length, true
	}
	if u.Checksum() == 0 {
		if src.Is4() {
			return length, true
		}
		p.countChecksumError(es)
		return 0, false
	}
	if src.Is4() != dst.Is4() {
		p.countMalformed(es)
		return 0, false
	}
	// The sum over the pseudo-header, the header with its checksum
	// field and the data is all ones when the checksum is right
	// (RFC 1071 §1(3)).
	var c header.Checksummer
	rest := length
	for b := range pkt.Payload.All() {
		if len(b) > rest {
			b = b[:rest]
		}
		c.Add(b)
		if rest -= len(b); rest == 0 {
			break
		}
	}
	sum := header.PseudoHeaderChecksum(ProtocolNumber, src, dst, uint32(length))
	if header.ChecksumCombine(sum, c.Sum()) != 0xffff {
		p.countChecksumError(es)
		return 0, false
	}
	return length, true
}

func (p *protocol) countMalformed(es *tcpip.EndpointStats) {
	p.stats.Malformed.Inc()
	if es != nil {
		es.MalformedPackets.Inc()
	}
}

func (p *protocol) countChecksumError(es *tcpip.EndpointStats) {
	p.stats.ChecksumErrors.Inc()
	if es != nil {
		es.ChecksumErrors.Inc()
	}
}

// linkCapabilities is implemented by the stack's NICs (stack.NetworkInterface
// values) that report their link's capabilities.
type linkCapabilities interface {
	Capabilities() stack.LinkCapabilities
}

// nicCapabilities returns the link capabilities of NIC id, or none if the
// NIC is gone or does not report them.
func nicCapabilities(s *stack.Stack, id tcpip.NICID) stack.LinkCapabilities {
	ni, err := s.Interface(id)
	if err != nil {
		return 0
	}
	if c, ok := ni.(linkCapabilities); ok {
		return c.Capabilities()
	}
	return 0
}

// rxChecksumOffloaded reports whether NIC id's link verified the
// checksums of what it delivers.
func (p *protocol) rxChecksumOffloaded(id tcpip.NICID) bool {
	return nicCapabilities(p.s, id)&stack.CapabilityRXChecksumOffload != 0
}

// mapped returns addr as the user of an endpoint of family netProto sees
// it: IPv4 addresses as IPv4-mapped IPv6 addresses on IPv6 endpoints
// (RFC 3493 §3.7).
func mapped(netProto tcpip.NetworkProtocolNumber, addr netip.Addr) netip.Addr {
	if netProto == tcpip.IPv6ProtocolNumber && addr.Is4() {
		return netip.AddrFrom16(addr.As16())
	}
	return addr
}
