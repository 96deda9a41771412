package ipv4

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// ipv4DstKind classifies the destination of a datagram delivered locally.
type ipv4DstKind uint8

const (
	ipv4DstUnicast ipv4DstKind = iota
	ipv4DstBroadcast
	ipv4DstMulticast
)

// HandlePacket implements stack.NetworkEndpoint: the inbound path. pkt's
// payload starts with the IPv4 header.
func (e *endpoint) HandlePacket(pkt *buffer.Packet) {
	st := &e.p.stats.IPv4
	st.PacketsReceived.Inc()
	h, ok := e.consumeHeader(pkt)
	if !ok {
		pkt.Release()
		return
	}
	src, dst := h.Source(), h.Destination()

	// RFC 1122 §3.2.1.3: a datagram whose source is not a single host
	// (a broadcast or multicast address), or a loopback address arriving
	// from outside, is silently discarded. 0.0.0.0 is allowed: hosts
	// use it while they learn their address (DHCP, RFC 2131 §4.1).
	if src.IsMulticast() || src == ipv4Broadcast || (src.IsLoopback() && !e.nic.IsLoopback()) ||
		e.p.s.IsSubnetBroadcast(e.nic.ID(), tcpip.IPv4ProtocolNumber, src) {
		st.InvalidSourceAddress.Inc()
		pkt.Release()
		return
	}
	// RFC 1122 §3.2.1.3 (g) and RFC 1812 §5.3.7: a loopback or
	// unspecified destination from outside is a martian.
	if (dst.IsLoopback() && !e.nic.IsLoopback()) || dst.IsUnspecified() {
		st.InvalidDestination.Inc()
		pkt.Release()
		return
	}

	opts := ipv4NoOptions
	if h.HeaderLength() > header.IPv4MinimumSize {
		o, pointer, ok := ipv4ParseOptions(h.Options())
		if !ok {
			st.MalformedOptions.Inc()
			e.sendICMPError(pkt, header.ICMPv4ParamProblem, header.ICMPv4PointerIndicatesError, 0, uint8(pointer))
			pkt.Release()
			return
		}
		if o.sourceRoute {
			// RFC 7126 §4.3.3 and §4.4.3 recommend dropping source
			// routed datagrams, as Linux does by default
			// (accept_source_route=0): source routing defeats
			// address-based filtering.
			st.RoutingHeaderRefused.Inc()
			pkt.Release()
			return
		}
		opts = o
	}

	kind, local := e.classify(dst, pkt.Type)
	if !local {
		// RFC 1812 §5.3.4 and RFC 1122 §3.3.6: a datagram that came as
		// a link-layer broadcast or multicast is never forwarded, nor
		// is anything this NIC saw only because it is promiscuous.
		if pkt.Type == buffer.PacketHost && !dst.IsMulticast() && e.p.s.Forwarding(tcpip.IPv4ProtocolNumber) {
			e.forward(pkt, h, opts)
			return
		}
		st.InvalidDestination.Inc()
		pkt.Release()
		return
	}

	if opts.recordRoute >= 0 || opts.timestamp >= 0 {
		// This host is a module the datagram passes through: it makes
		// its entry as the receiving interface (Linux records the
		// address the datagram is for, or the NIC's own).
		addr := dst
		if kind != ipv4DstUnicast || !e.nic.HasAddress(tcpip.IPv4ProtocolNumber, dst) {
			p, _ := e.nic.PrimaryAddress(tcpip.IPv4ProtocolNumber, src)
			addr = p.Addr()
		}
		if addr.Is4() {
			changed, ok := ipv4RecordOptions(h, opts, addr, e.p.s.Clock().Now())
			if !ok {
				st.MalformedOptions.Inc()
				e.sendICMPError(pkt, header.ICMPv4ParamProblem, header.ICMPv4PointerIndicatesError, 0, uint8(header.IPv4MinimumSize+opts.timestamp+3))
				pkt.Release()
				return
			}
			if changed {
				h.SetChecksum(h.CalculateChecksum())
			}
		}
	}

	if h.IsFragment() {
		st.FragmentsReceived.Inc()
		pkt, h = e.p.frags.process(e, h, pkt)
		if pkt == nil {
			return
		}
	}
	e.deliver(pkt, h, kind, opts)
}

// consumeHeader validates the IPv4 header at the front of pkt's payload,
// counting the reason of a failure, drops link-layer padding after the
// datagram and moves the header into the header area. The checks are those
// of header.ParseIPv4 (which needs the datagram in one slice, while pkt may
// hold it in several chunks), plus the header checksum.
func (e *endpoint) consumeHeader(pkt *buffer.Packet) (header.IPv4, bool) {
	st := &e.p.stats.IPv4
	n := pkt.Payload.Len()
	b, ok := pkt.Peek(header.IPv4MinimumSize)
	if !ok {
		st.HeaderTooShort.Inc()
		return nil, false
	}
	// RFC 1122 §3.2.1.1: a version other than 4 is discarded.
	if b[0]>>4 != header.IPv4Version {
		st.BadVersion.Inc()
		return nil, false
	}
	// RFC 791 §3.1: IHL counts 32-bit words, 5 at least (RFC 1812
	// §5.2.2 (4)).
	hl := int(b[0]&0xf) * 4
	if hl < header.IPv4MinimumSize || hl > n {
		st.BadHeaderLength.Inc()
		return nil, false
	}
	if b, ok = pkt.Peek(hl); !ok {
		st.BadHeaderLength.Inc()
		return nil, false
	}
	// RFC 1122 §3.2.1.2: a datagram whose header checksum fails is
	// silently discarded.
	if !header.IPv4(b).IsChecksumValid() {
		st.ChecksumErrors.Inc()
		return nil, false
	}
	// RFC 1812 §5.2.2 (5): Total Length must cover the header; like
	// Linux (ip_rcv_core) a datagram longer than what the link delivered
	// is dropped too.
	tl := int(binary.BigEndian.Uint16(b[2:]))
	if tl < hl || tl > n {
		st.BadTotalLength.Inc()
		return nil, false
	}
	if n > tl {
		// Link padding (Ethernet's minimum frame) is not data.
		pkt.Payload.Truncate(tl)
	}
	hdr, _ := pkt.ConsumeHeader(buffer.NetworkLayer, hl)
	return header.IPv4(hdr), true
}

// classify decides whether a datagram for dst is for this host, and how
// it was addressed.
func (e *endpoint) classify(dst netip.Addr, linkType buffer.PacketType) (ipv4DstKind, bool) {
	nic := e.nic
	switch {
	case nic.HasAddress(tcpip.IPv4ProtocolNumber, dst):
		return ipv4DstUnicast, true
	case dst == ipv4Broadcast:
		return ipv4DstBroadcast, true
	case dst.IsMulticast():
		// RFC 1112 §6.2: datagrams for groups the NIC belongs to.
		return ipv4DstMulticast, e.IsInGroup(dst) || nic.Promiscuous()
	case e.p.s.IsSubnetBroadcast(nic.ID(), tcpip.IPv4ProtocolNumber, dst):
		// RFC 919 §7, RFC 922: the directed broadcast of one of the
		// NIC's subnets.
		return ipv4DstBroadcast, true
	case nic.IsLoopback() && dst.IsLoopback():
		// RFC 1122 §3.2.1.3 (g): all of 127/8 is this host.
		return ipv4DstUnicast, true
	case nic.Promiscuous():
		return ipv4DstUnicast, true
	case linkType == buffer.PacketHost && e.p.s.CheckLocalAddress(0, tcpip.IPv4ProtocolNumber, dst) != 0:
		// The weak host model of RFC 1122 §3.3.4.2, as Linux: an
		// address of another NIC of this host is this host's.
		return ipv4DstUnicast, true
	}
	return ipv4DstUnicast, false
}

// deliver hands a whole datagram for this host to ICMP, IGMP or the
// transport dispatcher. It owns pkt.
func (e *endpoint) deliver(pkt *buffer.Packet, h header.IPv4, kind ipv4DstKind, opts ipv4Options) {
	st := &e.p.stats.IPv4
	proto := h.Protocol()
	info := stack.NetworkPacketInfo{
		NIC:                   e.nic.ID(),
		Source:                h.Source(),
		Destination:           h.Destination(),
		LocalAddressBroadcast: kind == ipv4DstBroadcast,
		Multicast:             kind == ipv4DstMulticast,
		TTL:                   h.TTL(),
		TOS:                   h.TOS(),
	}
	pkt.TransportProtocol = proto
	switch proto {
	case tcpip.ICMPv4ProtocolNumber:
		st.PacketsDelivered.Inc()
		e.handleICMP(pkt, h, info, opts)
		return
	case tcpip.IGMPProtocolNumber:
		st.PacketsDelivered.Inc()
		e.handleIGMP(pkt, h, info, opts)
		return
	}
	switch e.d.DeliverTransportPacket(proto, info, pkt) {
	case stack.TransportPacketHandled:
		st.PacketsDelivered.Inc()
	case stack.TransportPacketProtocolUnreachable:
		// RFC 1122 §3.2.2.1: a host SHOULD send protocol unreachable
		// when the transport protocol is not supported.
		st.UnknownProtocol.Inc()
		e.sendICMPError(pkt, header.ICMPv4DstUnreachable, header.ICMPv4ProtoUnreachable, 0, 0)
		pkt.Release()
	case stack.TransportPacketDestinationPortUnreachable:
		// The transport counted the missing port (UDP UnknownPort);
		// RFC 1122 §3.2.2.1 has the host answer port unreachable.
		st.PacketsDelivered.Inc()
		e.sendICMPError(pkt, header.ICMPv4DstUnreachable, header.ICMPv4PortUnreachable, 0, 0)
		pkt.Release()
	default:
		pkt.Release()
	}
}

// deliverToTransport hands an ICMP or IGMP message, already processed
// here, to the transport dispatcher for raw and ICMP echo endpoints. No
// ICMP error is ever sent about it (RFC 1122 §3.2.2: never about an ICMP
// message; IGMP has no transport to be unreachable). It owns pkt.
func (e *endpoint) deliverToTransport(pkt *buffer.Packet, proto tcpip.TransportProtocolNumber, info stack.NetworkPacketInfo) {
	if e.d.DeliverTransportPacket(proto, info, pkt) != stack.TransportPacketHandled {
		pkt.Release()
	}
}
