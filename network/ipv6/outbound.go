package ipv6

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// ipv6HeaderParams are the inputs of a header this package builds.
type ipv6HeaderParams struct {
	src, dst     netip.Addr
	proto        tcpip.TransportProtocolNumber
	hopLimit     uint8
	trafficClass uint8
}

// WritePacket implements stack.NetworkEndpoint.
func (e *endpoint) WritePacket(r *stack.Route, params stack.NetworkHeaderParams, pkt *buffer.Packet) error {
	hp := ipv6HeaderParams{
		src:          r.LocalAddress,
		dst:          r.RemoteAddress,
		proto:        params.Protocol,
		hopLimit:     params.TTL,
		trafficClass: params.TOS,
	}
	return e.writePacket(r, &hp, pkt)
}

// writePacket adds the header described by hp to pkt and sends it along r,
// whose endpoint e must be. It owns pkt.
func (e *endpoint) writePacket(r *stack.Route, hp *ipv6HeaderParams, pkt *buffer.Packet) error {
	if hp.hopLimit == 0 {
		if hp.dst.IsMulticast() {
			// RFC 3493 §5.2: multicast stays on the link unless the
			// sender asks for more.
			hp.hopLimit = DefaultMulticastHopLimit
		} else {
			hp.hopLimit = uint8(e.p.defaultHopLimit.Load())
			if h := e.curHopLimit.Load(); h != 0 {
				// RFC 4861 §6.3.4: the router's Cur Hop Limit.
				hp.hopLimit = uint8(h)
			}
		}
	}
	if err := e.addHeader(pkt, hp); err != nil {
		return err
	}
	return e.sendAlong(r, pkt, true /* mayFragment */)
}

// addHeader prepends the fixed header described by hp to pkt. It owns pkt
// and releases it on error.
func (e *endpoint) addHeader(pkt *buffer.Packet, hp *ipv6HeaderParams) error {
	src := hp.src
	if !src.IsValid() {
		src = netip.IPv6Unspecified()
	}
	n := pkt.Len()
	// RFC 8200 §3: Payload Length is 16 bits wide (no jumbograms).
	if n > header.IPv6MaximumPayloadSize || !hp.dst.Is6() || hp.dst.Is4In6() || !src.Is6() {
		pkt.Release()
		e.p.stats.IPv6.OutgoingErrors.Inc()
		if n > header.IPv6MaximumPayloadSize {
			return tcpip.ErrMessageTooLong
		}
		return tcpip.ErrInvalidArgument
	}
	f := header.IPv6Fields{
		TrafficClass:  hp.trafficClass,
		PayloadLength: uint16(n),
		NextHeader:    hp.proto,
		HopLimit:      hp.hopLimit,
		Src:           src,
		Dst:           hp.dst,
	}
	f.Encode(pkt.PrependHeader(buffer.NetworkLayer, header.IPv6MinimumSize))
	pkt.NetworkProtocol = tcpip.IPv6ProtocolNumber
	pkt.TransportProtocol = hp.proto
	return nil
}

// sendAlong sends a finished packet (header in front) along r: back into
// the stack, out of the NIC, or both, as r.Loop says. It owns pkt.
func (e *endpoint) sendAlong(r *stack.Route, pkt *buffer.Packet, mayFragment bool) error {
	if r.Loop&stack.LoopLocal != 0 {
		if r.Loop&stack.LoopOut == 0 {
			// Handle-local and loopback routes: the packet goes back
			// in whole, whatever its size.
			e.p.stats.IPv6.PacketsSent.Inc()
			r.LoopBack(pkt)
			return nil
		}
		// Multicast loop: a copy for this host's own members.
		r.LoopBack(pkt.Clone())
	}
	nextHop := r.NextHop
	if !nextHop.IsValid() {
		nextHop = r.RemoteAddress
	}
	return e.output(nextHop, r.RemoteAddress, r.RemoteLinkAddress, pkt, mayFragment)
}

// pathMTU returns the MTU to use for packets to dst out of this NIC: the
// link MTU, or less if Packet Too Big said so (RFC 8201 §4).
func (e *endpoint) pathMTU(dst netip.Addr) int {
	mtu := int(e.nic.MTU())
	if p := int(e.p.pmtu.get(dst)); p > 0 && p < mtu {
		mtu = p
	}
	return mtu
}

// output sends a finished packet out of the NIC to nextHop (or to the link
// address linkAddr if it is known), fragmenting it if it is larger than the
// path MTU to dst and mayFragment allows. It owns pkt.
func (e *endpoint) output(nextHop, dst netip.Addr, linkAddr tcpip.LinkAddress, pkt *buffer.Packet, mayFragment bool) error {
	if e.nic.MTU() < header.IPv6MinimumMTU {
		// RFC 8200 §5: IPv6 needs links of 1280 bytes at least.
		pkt.Release()
		e.p.stats.IPv6.OutgoingErrors.Inc()
		return tcpip.ErrMessageTooLong
	}
	mtu := e.pathMTU(dst)
	if pkt.ChecksumPending && (pkt.Len() > mtu || e.nic.Capabilities()&stack.CapabilityTXChecksumOffload == 0) {
		e.fillChecksum(pkt)
	}
	if pkt.Len() <= mtu {
		return e.writeOne(nextHop, linkAddr, pkt)
	}
	if !mayFragment {
		pkt.Release()
		e.p.stats.IPv6.PacketTooBig.Inc()
		return tcpip.ErrMessageTooLong
	}
	return e.fragment(nextHop, linkAddr, pkt, mtu)
}

// fillChecksum computes the TCP or UDP checksum of a packet whose sender
// left it to a transmit offload (pkt.ChecksumPending) and that is about to
// leave by a link without one, or to be fragmented: Linux's
// skb_checksum_help on egress. RFC 8200 §8.1 makes the UDP checksum
// mandatory over IPv6, so an unfilled one must not reach such a link. The
// extension headers that may precede the transport header (RFC 8200 §4.1)
// are walked to find it; a fragment cannot be completed (its packet is
// elsewhere in part) and goes as it came.
func (e *endpoint) fillChecksum(pkt *buffer.Packet) {
	hdr, ok := stack.PacketPrefix(pkt, header.IPv6MinimumSize)
	if !ok {
		return
	}
	h := header.IPv6(hdr)
	src, dst := h.Source(), h.Destination()
	next, off := h.NextHeader(), header.IPv6MinimumSize
	// RFC 8200 §4.1 allows each extension header once (Destination
	// Options twice); the bound keeps a crafted chain cheap.
	for range 8 {
		switch next {
		case tcpip.IPv6HopByHopProtocolNumber, tcpip.IPv6RoutingProtocolNumber, tcpip.IPv6DestinationOptionsNumber:
			// RFC 8200 §4.3, §4.4, §4.6: Next Header, then Hdr Ext
			// Len in 8-octet units not counting the first 8.
			b, ok := stack.PacketPrefix(pkt, off+2)
			if !ok {
				return
			}
			next = tcpip.TransportProtocolNumber(b[off])
			off += (int(b[off+1]) + 1) * 8
		case tcpip.TCPProtocolNumber, tcpip.UDPProtocolNumber:
			stack.FillTransportChecksum(pkt, off, next, src, dst)
			return
		default:
			// A Fragment header (RFC 8200 §4.5), ESP, no next header
			// or an unknown one: nothing this host can complete.
			return
		}
	}
}

// writeOne hands one packet or fragment to the NIC. It owns pkt.
func (e *endpoint) writeOne(nextHop netip.Addr, linkAddr tcpip.LinkAddress, pkt *buffer.Packet) error {
	var err error
	if !linkAddr.IsZero() {
		err = e.nic.WritePacketToLinkAddress(linkAddr, tcpip.IPv6ProtocolNumber, pkt)
	} else {
		err = e.nic.WritePacket(nextHop, tcpip.IPv6ProtocolNumber, pkt)
	}
	if err != nil {
		e.p.stats.IPv6.OutgoingErrors.Inc()
		return err
	}
	e.p.stats.IPv6.PacketsSent.Inc()
	return nil
}

// fragment splits a packet that does not fit the path MTU into fragments
// and sends them (RFC 8200 §4.5). The packet's network header (the fixed
// header and any extension headers this package added) is the
// unfragmentable part; everything after it, transport header included, is
// the fragmentable part. Fragments share the payload's chunks: only
// headers are written.
func (e *endpoint) fragment(nextHop netip.Addr, linkAddr tcpip.LinkAddress, pkt *buffer.Packet, mtu int) error {
	st := &e.p.stats.IPv6
	netHdr := pkt.NetworkHeader()
	if len(netHdr) < header.IPv6MinimumSize {
		pkt.Release()
		st.FragmentationErrors.Inc()
		return tcpip.ErrInvalidArgument
	}
	var ubuf [header.IPv6MinimumSize + header.IPv6ExtHdrMaximumSize]byte
	if len(netHdr) > len(ubuf) {
		pkt.Release()
		st.FragmentationErrors.Inc()
		return tcpip.ErrMessageTooLong
	}
	unfrag := ubuf[:copy(ubuf[:], netHdr)]
	// The Next Header field that will name the Fragment header: the
	// fixed header's, or that of the last extension header.
	typeOff := ipv6NextHeaderOff
	for off := header.IPv6MinimumSize; off+2 <= len(unfrag); off += (int(unfrag[off+1]) + 1) * 8 {
		typeOff = off
	}
	nextHdr := unfrag[typeOff]
	unfrag[typeOff] = uint8(tcpip.IPv6FragmentProtocolNumber)
	hl := len(unfrag) + header.IPv6FragmentHeaderSize
	// RFC 8200 §4.5: every fragment but the last carries a multiple of 8
	// octets of the fragmentable part.
	per := (mtu - hl) &^ 7
	if per < 8 {
		pkt.Release()
		st.FragmentationErrors.Inc()
		return tcpip.ErrMessageTooLong
	}

	var data buffer.Buffer
	data.Append(pkt.Headers()[len(netHdr):])
	data.Merge(&pkt.Payload)
	proto := pkt.TransportProtocol
	pkt.Release()

	id := e.p.newID()
	linkHeadroom := e.nic.MaxLinkHeaderLength()
	for off := 0; data.Len() > 0; {
		n := min(data.Len(), per)
		last := n == data.Len()
		part := data.Split(n)
		frag := buffer.NewPacket(linkHeadroom+hl, &part)
		b := frag.PrependHeader(buffer.NetworkLayer, hl)
		copy(b, unfrag)
		binary.BigEndian.PutUint16(b[ipv6PayloadLengthOff:], uint16(hl-header.IPv6MinimumSize+n))
		ff := header.IPv6FragmentHeaderFields{
			NextHeader:     tcpip.TransportProtocolNumber(nextHdr),
			FragmentOffset: uint16(off),
			More:           !last,
			ID:             id,
		}
		ff.Encode(b[len(unfrag):])
		frag.NetworkProtocol = tcpip.IPv6ProtocolNumber
		frag.TransportProtocol = proto
		st.FragmentsCreated.Inc()
		if err := e.writeOne(nextHop, linkAddr, frag); err != nil {
			data.Release()
			return err
		}
		off += n
	}
	return nil
}

// WriteHeaderIncludedPacket implements stack.NetworkEndpoint for raw
// endpoints with IPV6_HDRINCL. pkt holds the whole packet, its fixed header
// at the front of the header area if pkt has headers, else at the front of
// the payload. The Payload Length is always filled in, the source address
// when it is ::; the packet is not fragmented (larger than the MTU:
// tcpip.ErrMessageTooLong), and a malformed header gives
// tcpip.ErrInvalidArgument.
func (e *endpoint) WriteHeaderIncludedPacket(r *stack.Route, pkt *buffer.Packet) error {
	total := pkt.Len()
	var hb []byte
	if pkt.HeaderLen() > 0 {
		hb = pkt.Headers()
	} else {
		hb, _ = pkt.Payload.PullUpWritable(min(total, header.IPv6MinimumSize))
	}
	if len(hb) < header.IPv6MinimumSize || hb[0]>>4 != header.IPv6Version {
		pkt.Release()
		return tcpip.ErrInvalidArgument
	}
	if total-header.IPv6MinimumSize > header.IPv6MaximumPayloadSize ||
		(r.Loop&stack.LoopOut != 0 && total > int(e.nic.MTU())) {
		pkt.Release()
		e.p.stats.IPv6.PacketTooBig.Inc()
		return tcpip.ErrMessageTooLong
	}
	h := header.IPv6(hb[:header.IPv6MinimumSize])
	h.SetPayloadLength(uint16(total - header.IPv6MinimumSize))
	if h.Source().IsUnspecified() && r.LocalAddress.Is6() {
		h.SetSource(r.LocalAddress)
	}
	if pkt.HeaderLen() == 0 {
		pkt.ConsumeHeader(buffer.NetworkLayer, header.IPv6MinimumSize)
	}
	pkt.NetworkProtocol = tcpip.IPv6ProtocolNumber
	pkt.TransportProtocol = h.NextHeader()
	return e.sendAlong(r, pkt, false /* mayFragment */)
}
