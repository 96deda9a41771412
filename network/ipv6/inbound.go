package ipv6

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// chainPos is where the walk of a packet's header chain stands: the type
// of the next item, the offset of the Next Header field that named it, and
// its own offset in the packet (which is also the length of the network
// header consumed so far).
type chainPos struct {
	next    tcpip.TransportProtocolNumber
	nextOff int
	off     int
	// reassembled marks a packet put together from fragments.
	reassembled bool
	// routerAlert is the value of a Router Alert option in the
	// Hop-by-Hop Options header (RFC 2711), -1 if there is none; MLD
	// needs it (RFC 3810 §5).
	routerAlert int
}

// Offsets of fixed header fields, for Parameter Problem pointers.
const (
	ipv6PayloadLengthOff = 4
	ipv6NextHeaderOff    = 6
	// fragOffsetOff is the offset of the Fragment Offset field in a
	// Fragment header.
	fragOffsetOff = 2
	// routingTypeOff is the offset of the Routing Type field in a
	// Routing header.
	routingTypeOff = 2
)

// HandlePacket implements stack.NetworkEndpoint: the inbound path. pkt's
// payload starts with the IPv6 header.
func (e *endpoint) HandlePacket(pkt *buffer.Packet) {
	st := &e.p.stats.IPv6
	st.PacketsReceived.Inc()
	h, ok := e.consumeHeader(pkt)
	if !ok {
		pkt.Release()
		return
	}
	src, dst := h.Source(), h.Destination()
	loop := e.nic.IsLoopback()

	// RFC 4291 §2.7: a multicast address is never a source. §2.5.3: the
	// loopback address never arrives from outside the node; RFC 4942
	// §2.2 (and Linux) drops IPv4-mapped sources, which would let a
	// packet pose as IPv4 traffic to dual-stack sockets.
	if src.IsMulticast() || (src == ipv6Loopback && !loop) || src.Is4In6() {
		st.InvalidSourceAddress.Inc()
		pkt.Release()
		return
	}
	// RFC 4291 §2.5.2: the unspecified address is never a destination.
	if dst.IsUnspecified() || (dst == ipv6Loopback && !loop) || dst.Is4In6() {
		st.InvalidDestination.Inc()
		pkt.Release()
		return
	}
	if dst.IsMulticast() {
		// RFC 4291 §2.7: scope 0 is reserved, and interface-local
		// multicast is for loopback transmission only (RFC 4291
		// §2.7: "packets with interface-local scope received from
		// another node must be discarded").
		switch multicastScope(dst) {
		case scopeReserved:
			st.InvalidDestination.Inc()
			pkt.Release()
			return
		case scopeInterfaceLocal:
			if !loop {
				st.InvalidDestination.Inc()
				pkt.Release()
				return
			}
		}
	}

	pos := chainPos{next: h.NextHeader(), nextOff: ipv6NextHeaderOff, off: header.IPv6MinimumSize, routerAlert: -1}
	if !e.isLocal(dst, pkt.Type) {
		// RFC 4861 §8 and RFC 4291 §2.7: nothing that came as link
		// multicast, or to a multicast address (ustack does no
		// multicast routing), is forwarded.
		if pkt.Type == buffer.PacketHost && !dst.IsMulticast() && e.p.s.Forwarding(tcpip.IPv6ProtocolNumber) {
			e.forward(pkt, pos)
			return
		}
		st.InvalidDestination.Inc()
		pkt.Release()
		return
	}
	e.processChain(pkt, pos)
}

// consumeHeader validates the fixed header at the front of pkt's payload,
// counting the reason of a failure, drops link-layer padding after the
// packet and moves the header into the header area.
func (e *endpoint) consumeHeader(pkt *buffer.Packet) (header.IPv6, bool) {
	st := &e.p.stats.IPv6
	n := pkt.Payload.Len()
	b, ok := pkt.Peek(header.IPv6MinimumSize)
	if !ok {
		st.HeaderTooShort.Inc()
		return nil, false
	}
	// RFC 8200 §3: the version is 6.
	if b[0]>>4 != header.IPv6Version {
		st.BadVersion.Inc()
		return nil, false
	}
	// RFC 8200 §3: Payload Length counts what follows the fixed header;
	// like Linux (ipv6_rcv), a packet longer than what the link
	// delivered is dropped. Jumbograms (a zero length, RFC 2675) are not
	// supported: a zero Payload Length is an empty payload.
	pl := int(binary.BigEndian.Uint16(b[ipv6PayloadLengthOff:]))
	if header.IPv6MinimumSize+pl > n {
		st.BadTotalLength.Inc()
		return nil, false
	}
	if n > header.IPv6MinimumSize+pl {
		// Link padding (Ethernet's minimum frame) is not data.
		pkt.Payload.Truncate(header.IPv6MinimumSize + pl)
	}
	hdr, _ := pkt.ConsumeHeader(buffer.NetworkLayer, header.IPv6MinimumSize)
	return header.IPv6(hdr), true
}

// isLocal decides whether a packet for dst is for this host.
func (e *endpoint) isLocal(dst netip.Addr, linkType buffer.PacketType) bool {
	nic := e.nic
	switch {
	case nic.HasAddress(tcpip.IPv6ProtocolNumber, dst):
		return true
	case dst.IsMulticast():
		// RFC 4291 §2.7: packets for the groups the NIC belongs to.
		return e.IsInGroup(dst) || nic.Promiscuous()
	case nic.IsLoopback() && dst == ipv6Loopback:
		return true
	case nic.Promiscuous():
		return true
	case linkType == buffer.PacketHost && e.p.s.CheckLocalAddress(0, tcpip.IPv6ProtocolNumber, dst) != 0:
		// The weak host model (RFC 1122 §3.3.4.2), as Linux: an
		// address of another NIC of this host is this host's.
		return true
	}
	return false
}

// headers returns the fixed header of pkt, which must have been consumed.
// It is looked up again after each ConsumeHeader, which may move it.
func headers(pkt *buffer.Packet) header.IPv6 { return header.IPv6(pkt.NetworkHeader()) }

// consumeExtHdr moves the extension header of type t at the front of pkt's
// payload into the network header and returns it, or false if the payload
// is too short for it.
func consumeExtHdr(pkt *buffer.Packet, t tcpip.TransportProtocolNumber) ([]byte, bool) {
	n := header.IPv6FragmentHeaderSize
	if t != tcpip.IPv6FragmentProtocolNumber {
		b, ok := pkt.Peek(2)
		if !ok {
			return nil, false
		}
		if t == header.IPv6AHProtocolNumber {
			// RFC 4302 §2.2: 4-octet units, minus 2.
			n = (int(b[1]) + 2) * 4
		} else {
			// RFC 8200 §4.3 and §4.8: 8-octet units, not counting
			// the first 8.
			n = (int(b[1]) + 1) * 8
		}
	}
	return pkt.ConsumeHeader(buffer.NetworkLayer, n)
}

// processChain walks the header chain of a packet for this host from pos,
// in order (RFC 8200 §4.1), and delivers its upper-layer payload. It owns
// pkt.
func (e *endpoint) processChain(pkt *buffer.Packet, pos chainPos) {
	st := &e.p.stats.IPv6
	for {
		switch t := pos.next; t {
		case tcpip.IPv6HopByHopProtocolNumber, tcpip.IPv6DestinationOptionsNumber:
			if t == tcpip.IPv6HopByHopProtocolNumber && pos.off != header.IPv6MinimumSize {
				// RFC 8200 §4.1: Hop-by-Hop Options only right
				// after the fixed header; elsewhere it is an
				// unrecognized Next Header (RFC 8200 §4, code 1).
				st.MalformedOptions.Inc()
				e.sendParamProblem(pkt, header.ICMPv6UnknownHeader, pos.nextOff, false)
				pkt.Release()
				return
			}
			b, ok := consumeExtHdr(pkt, t)
			if !ok {
				st.MalformedOptions.Inc()
				pkt.Release()
				return
			}
			if !e.processOptions(pkt, t, b, &pos) {
				pkt.Release()
				return
			}
			pos.next, pos.nextOff, pos.off = tcpip.TransportProtocolNumber(b[0]), pos.off, pos.off+len(b)

		case tcpip.IPv6RoutingProtocolNumber:
			b, ok := consumeExtHdr(pkt, t)
			if !ok {
				st.MalformedOptions.Inc()
				pkt.Release()
				return
			}
			// RFC 8200 §4.4: a Routing header of a type the node
			// does not process is ignored when Segments Left is 0;
			// otherwise the packet is discarded with a Parameter
			// Problem, code 0, pointing at the Routing Type. ustack
			// processes no type: type 0 is deprecated (RFC 5095 §3:
			// "treated as an unrecognized Routing Type"), and the
			// others (Mobile IPv6, RPL, segment routing) are not
			// implemented.
			if segsLeft := b[3]; segsLeft != 0 {
				st.RoutingHeaderRefused.Inc()
				e.sendParamProblem(pkt, header.ICMPv6ErroneousHeader, pos.off+routingTypeOff, false)
				pkt.Release()
				return
			}
			pos.next, pos.nextOff, pos.off = tcpip.TransportProtocolNumber(b[0]), pos.off, pos.off+len(b)

		case tcpip.IPv6FragmentProtocolNumber:
			b, ok := consumeExtHdr(pkt, t)
			if !ok {
				st.MalformedOptions.Inc()
				pkt.Release()
				return
			}
			fh := header.IPv6FragmentHeader(b)
			if fh.IsAtomic() {
				// RFC 6946 §4: an atomic fragment (offset 0, M
				// clear) is processed as a whole packet, apart
				// from any fragments with its Identification.
				pos.next, pos.nextOff, pos.off = fh.NextHeader(), pos.off, pos.off+len(b)
				continue
			}
			if pos.reassembled {
				// A fragment inside a reassembled packet: nothing
				// sends that.
				st.ReassemblyMalformed.Inc()
				pkt.Release()
				return
			}
			var done bool
			if pkt, pos, done = e.handleFragment(pkt, fh, pos); !done {
				return
			}

		case tcpip.IPv6NoNextHeaderNumber:
			// RFC 8200 §4.7: nothing follows; any bytes after the
			// last header are ignored.
			st.PacketsDelivered.Inc()
			pkt.Release()
			return

		default:
			// The upper layer, or an extension header ustack does
			// not process (AH, ESP, Mobility, HIP, Shim6, the
			// experimental numbers): raw endpoints may take it, as
			// on Linux; otherwise deliver answers with Parameter
			// Problem, code 1 (RFC 8200 §4).
			e.deliver(pkt, pos)
			return
		}
	}
}

// processOptions processes the options of a Hop-by-Hop or Destination
// Options header b (RFC 8200 §4.2), at pos in the packet, and reports
// whether the packet goes on.
func (e *endpoint) processOptions(pkt *buffer.Packet, t tcpip.TransportProtocolNumber, b []byte, pos *chainPos) bool {
	st := &e.p.stats.IPv6
	dst := headers(pkt).Destination()
	it := header.IPv6ExtHdr{Type: t, Offset: pos.off, Bytes: b}.Options()
	for {
		o, ok := it.Next()
		if !ok {
			break
		}
		switch {
		case o.Type == header.IPv6OptionPad1 || o.Type == header.IPv6OptionPadN:
			// RFC 8200 §4.2: padding, nothing to do.
			continue
		case o.Type == header.IPv6OptionRouterAlert && t == tcpip.IPv6HopByHopProtocolNumber:
			// RFC 2711 §2.1: recorded for MLD (RFC 3810 §5), which
			// requires it; hosts need nothing else of it.
			if v, ok := o.RouterAlert(); ok {
				pos.routerAlert = int(v)
			}
			continue
		}
		// RFC 8200 §4.2: an unrecognized option is handled as the two
		// high-order bits of its type say.
		switch o.Type.Action() {
		case header.IPv6OptionActionSkip:
			continue
		case header.IPv6OptionActionDiscard:
			st.UnknownOptionDiscarded.Inc()
			return false
		case header.IPv6OptionActionDiscardICMP:
			// RFC 4443 §2.4(e.3): sent even to a multicast
			// destination.
			st.UnknownOptionDiscarded.Inc()
			e.sendParamProblem(pkt, header.ICMPv6UnknownOption, o.Offset, true)
			return false
		default: // header.IPv6OptionActionDiscardICMPUnlessMulticast
			st.UnknownOptionDiscarded.Inc()
			if !dst.IsMulticast() {
				e.sendParamProblem(pkt, header.ICMPv6UnknownOption, o.Offset, false)
			}
			return false
		}
	}
	if it.Err() != nil {
		// An option running past its header: dropped silently, as
		// Linux does (ip6_parse_tlv).
		st.MalformedOptions.Inc()
		return false
	}
	return true
}

// upperLayerMinimum is the part of an upper-layer header RFC 7112 §5
// wants in a first fragment, for the protocols whose header size is known.
func upperLayerMinimum(t tcpip.TransportProtocolNumber) int {
	switch t {
	case tcpip.UDPProtocolNumber:
		return header.UDPMinimumSize
	case tcpip.TCPProtocolNumber:
		return header.TCPMinimumSize
	case tcpip.ICMPv6ProtocolNumber:
		return header.ICMPv6HeaderSize
	}
	return 0
}

// headerChainComplete reports whether data, the fragmentable part of a
// first fragment whose Fragment header names next, holds the whole header
// chain up to and including the upper-layer header (RFC 7112 §5).
func headerChainComplete(next tcpip.TransportProtocolNumber, data []byte) bool {
	it := header.NewIPv6ExtHdrIterator(next, 0, data, 0)
	for {
		h, ok := it.Next()
		if !ok {
			return it.Err() == nil
		}
		if h.UpperLayer {
			return len(h.Bytes) >= upperLayerMinimum(h.Type)
		}
	}
}

// handleFragment processes a fragment (RFC 8200 §4.5) whose Fragment
// header fh was just consumed at pos. When it completes its packet, it
// returns the reassembled packet and the position after the fragmentable
// part's first header, and done is true; otherwise the fragment is held or
// dropped and done is false. It owns pkt.
func (e *endpoint) handleFragment(pkt *buffer.Packet, fh header.IPv6FragmentHeader, pos chainPos) (*buffer.Packet, chainPos, bool) {
	st := &e.p.stats.IPv6
	st.FragmentsReceived.Inc()
	n := pkt.Payload.Len()
	off := int(fh.FragmentOffset())
	// RFC 8200 §4.5: a fragment whose length is not a multiple of 8
	// octets while M is set is answered with Parameter Problem, code 0,
	// pointing at the Payload Length; one that would make the packet
	// exceed 65535 octets, pointing at the Fragment Offset.
	if fh.More() && n%8 != 0 {
		st.ReassemblyMalformed.Inc()
		e.sendParamProblem(pkt, header.ICMPv6ErroneousHeader, ipv6PayloadLengthOff, false)
		pkt.Release()
		return nil, pos, false
	}
	if pos.off-header.IPv6MinimumSize+off+n > header.IPv6MaximumPayloadSize {
		st.ReassemblyMalformed.Inc()
		e.sendParamProblem(pkt, header.ICMPv6ErroneousHeader, pos.off+fragOffsetOff, false)
		pkt.Release()
		return nil, pos, false
	}
	if n == 0 {
		st.ReassemblyMalformed.Inc()
		pkt.Release()
		return nil, pos, false
	}
	if off == 0 {
		// RFC 7112 §5: the first fragment carries the whole header
		// chain, or it is dropped with Parameter Problem, code 3
		// (pointer 0, RFC 7112 §6).
		b, _ := pkt.Peek(min(n, header.IPv6ExtHdrMaximumSize*4))
		if !headerChainComplete(fh.NextHeader(), b) {
			st.IncompleteHeaderChain.Inc()
			e.sendParamProblem(pkt, header.ICMPv6IncompleteHeaderChain, 0, false)
			pkt.Release()
			return nil, pos, false
		}
	}
	h := headers(pkt)
	fi := fragInfo{src: h.Source(), dst: h.Destination(), id: fh.ID(), off: off, more: fh.More()}
	whole := e.p.frags.process(e, fi, pkt)
	if whole == nil {
		return nil, pos, false
	}
	return whole.pkt, chainPos{next: whole.next, nextOff: whole.typeOff, off: whole.unfragLen, reassembled: true, routerAlert: pos.routerAlert}, true
}

// deliver hands an upper-layer payload for this host to ICMPv6 or the
// transport dispatcher. It owns pkt.
func (e *endpoint) deliver(pkt *buffer.Packet, pos chainPos) {
	st := &e.p.stats.IPv6
	h := headers(pkt)
	proto := pos.next
	dst := h.Destination()
	info := stack.NetworkPacketInfo{
		NIC:         e.nic.ID(),
		Source:      h.Source(),
		Destination: dst,
		Multicast:   dst.IsMulticast(),
		TTL:         h.HopLimit(),
		TOS:         h.TrafficClass(),
	}
	pkt.TransportProtocol = proto
	if proto == tcpip.ICMPv6ProtocolNumber {
		st.PacketsDelivered.Inc()
		e.handleICMP(pkt, info, pos)
		return
	}
	switch e.d.DeliverTransportPacket(proto, info, pkt) {
	case stack.TransportPacketHandled:
		st.PacketsDelivered.Inc()
	case stack.TransportPacketProtocolUnreachable:
		// RFC 8200 §4: an unrecognized Next Header is answered with
		// Parameter Problem, code 1, pointing at the field that named
		// it (Linux does the same for unknown upper layers).
		st.UnknownProtocol.Inc()
		e.sendParamProblem(pkt, header.ICMPv6UnknownHeader, pos.nextOff, false)
		pkt.Release()
	case stack.TransportPacketDestinationPortUnreachable:
		// RFC 4443 §3.1: code 4, port unreachable, when the transport
		// has no listener.
		st.PacketsDelivered.Inc()
		e.sendICMPError(pkt, header.ICMPv6DstUnreachable, header.ICMPv6PortUnreachable, 0, false)
		pkt.Release()
	default:
		pkt.Release()
	}
}

// deliverToTransport hands an ICMPv6 message, already processed here, to
// the transport dispatcher for raw and echo endpoints. No error is ever
// sent about it (RFC 4443 §2.4(e)). It owns pkt.
func (e *endpoint) deliverToTransport(pkt *buffer.Packet, info stack.NetworkPacketInfo) {
	if e.d.DeliverTransportPacket(tcpip.ICMPv6ProtocolNumber, info, pkt) != stack.TransportPacketHandled {
		pkt.Release()
	}
}
