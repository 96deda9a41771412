package ipv4

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// ipv4HeaderParams are the inputs of a header this package builds.
type ipv4HeaderParams struct {
	src, dst netip.Addr
	proto    tcpip.TransportProtocolNumber
	ttl, tos uint8
	df       bool
	// options is the options area, unpadded (nil for none).
	options []byte
	// record makes the sender's entry in the record route and timestamp
	// options (echo replies, RFC 1122 §3.2.2.6).
	record bool
}

// WritePacket implements stack.NetworkEndpoint.
func (e *endpoint) WritePacket(r *stack.Route, params stack.NetworkHeaderParams, pkt *buffer.Packet) error {
	hp := ipv4HeaderParams{
		src:   r.LocalAddress,
		dst:   r.RemoteAddress,
		proto: params.Protocol,
		ttl:   params.TTL,
		tos:   params.TOS,
		df:    params.DF,
	}
	return e.writePacket(r, &hp, pkt)
}

// writePacket adds the header described by hp to pkt and sends it along r,
// whose endpoint e must be. It owns pkt.
func (e *endpoint) writePacket(r *stack.Route, hp *ipv4HeaderParams, pkt *buffer.Packet) error {
	if hp.ttl == 0 {
		if hp.dst.IsMulticast() {
			// RFC 1112 §6.1: multicast stays on the local network
			// unless the sender asks for a larger TTL.
			hp.ttl = DefaultMulticastTTL
		} else {
			hp.ttl = uint8(e.p.defaultTTL.Load())
		}
	}
	if err := e.addHeader(pkt, hp); err != nil {
		return err
	}
	return e.sendAlong(r, pkt, true /* mayFragment */)
}

// addHeader prepends the IPv4 header described by hp to pkt. It owns pkt
// and releases it on error.
func (e *endpoint) addHeader(pkt *buffer.Packet, hp *ipv4HeaderParams) error {
	f := header.IPv4Fields{
		TOS:         hp.tos,
		ID:          e.p.newID(),
		TTL:         hp.ttl,
		Protocol:    hp.proto,
		Source:      hp.src,
		Destination: hp.dst,
		Options:     hp.options,
	}
	if !f.Source.IsValid() {
		f.Source = netip.IPv4Unspecified()
	}
	if hp.df {
		f.Flags = header.IPv4FlagDontFragment
	}
	hl := f.Size()
	total := hl + pkt.Len()
	// RFC 791 §3.1: Total Length is 16 bits wide.
	if total > header.IPv4MaximumPacketSize || hl > header.IPv4MaximumHeaderSize || !f.Destination.Is4() || !f.Source.Is4() {
		pkt.Release()
		e.p.stats.IPv4.OutgoingErrors.Inc()
		if total > header.IPv4MaximumPacketSize {
			return tcpip.ErrMessageTooLong
		}
		return tcpip.ErrInvalidArgument
	}
	f.TotalLength = uint16(total)
	h := f.Encode(pkt.PrependHeader(buffer.NetworkLayer, hl))
	if hp.record && len(hp.options) > 0 {
		if o, _, ok := ipv4ParseOptions(h.Options()); ok {
			if changed, _ := ipv4RecordOptions(h, o, f.Source, e.p.s.Clock().Now()); changed {
				h.SetChecksum(h.CalculateChecksum())
			}
		}
	}
	pkt.NetworkProtocol = tcpip.IPv4ProtocolNumber
	pkt.TransportProtocol = hp.proto
	return nil
}

// sendAlong sends a finished datagram (header in front) along r: back into
// the stack, out of the NIC, or both, as r.Loop says. It owns pkt.
func (e *endpoint) sendAlong(r *stack.Route, pkt *buffer.Packet, mayFragment bool) error {
	if r.Loop&stack.LoopLocal != 0 {
		if r.Loop&stack.LoopOut == 0 {
			// Handle-local and loopback routes: the datagram goes
			// back in whole, whatever its size (no link MTU applies).
			e.p.stats.IPv4.PacketsSent.Inc()
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
	return e.output(nextHop, r.RemoteLinkAddress, pkt, mayFragment)
}

// output sends a finished datagram out of the NIC to nextHop (or to the
// link address linkAddr if it is known, for broadcasts), fragmenting it if
// it is larger than the link MTU. It owns pkt.
func (e *endpoint) output(nextHop netip.Addr, linkAddr tcpip.LinkAddress, pkt *buffer.Packet, mayFragment bool) error {
	mtu := int(e.nic.MTU())
	if pkt.ChecksumPending && (pkt.Len() > mtu || e.nic.Capabilities()&stack.CapabilityTXChecksumOffload == 0) {
		e.fillChecksum(pkt)
	}
	if pkt.Len() <= mtu {
		return e.writeOne(nextHop, linkAddr, pkt)
	}
	hdr := pkt.Headers()
	if !mayFragment || len(hdr) < header.IPv4MinimumSize || header.IPv4(hdr).DontFragment() {
		// RFC 791 §3.2: a datagram with Don't Fragment set that does
		// not fit is not sent; the sender learns EMSGSIZE, as from
		// Linux (RFC 1191 §3: path MTU discovery relies on it).
		pkt.Release()
		e.p.stats.IPv4.PacketTooBig.Inc()
		return tcpip.ErrMessageTooLong
	}
	return e.fragment(nextHop, linkAddr, pkt, mtu)
}

// fillChecksum computes the TCP or UDP checksum of a datagram whose
// sender left it to a transmit offload (pkt.ChecksumPending) and that is
// about to leave by a link without one, or to be fragmented (no link can
// then compute it over the whole datagram): Linux's skb_checksum_help on
// egress. A fragment cannot be completed, its datagram being elsewhere in
// part; it goes as it came (RFC 1812 §5.2.6: a router forwards fragments
// without reassembling).
func (e *endpoint) fillChecksum(pkt *buffer.Packet) {
	hdr := pkt.Headers()
	if len(hdr) < header.IPv4MinimumSize {
		return
	}
	h := header.IPv4(hdr)
	if h.IsFragment() {
		return
	}
	stack.FillTransportChecksum(pkt, h.HeaderLength(), h.Protocol(), h.Source(), h.Destination())
}

// writeOne hands one datagram or fragment to the NIC. It owns pkt.
func (e *endpoint) writeOne(nextHop netip.Addr, linkAddr tcpip.LinkAddress, pkt *buffer.Packet) error {
	var err error
	if !linkAddr.IsZero() {
		err = e.nic.WritePacketToLinkAddress(linkAddr, tcpip.IPv4ProtocolNumber, pkt)
	} else {
		err = e.nic.WritePacket(nextHop, tcpip.IPv4ProtocolNumber, pkt)
	}
	if err != nil {
		e.p.stats.IPv4.OutgoingErrors.Inc()
		return err
	}
	e.p.stats.IPv4.PacketsSent.Inc()
	return nil
}

// fragment splits a datagram that does not fit the link MTU into
// fragments and sends them (RFC 791 §3.2 "Fragmentation"). The datagram's
// header is the first header of pkt; whatever header bytes follow it (a
// transport header) are data to fragment, as is the payload. Fragments
// share the payload's chunks: only headers are written.
func (e *endpoint) fragment(nextHop netip.Addr, linkAddr tcpip.LinkAddress, pkt *buffer.Packet, mtu int) error {
	st := &e.p.stats.IPv4
	headers := pkt.Headers()
	hl := header.IPv4(headers).HeaderLength()
	var hbuf [header.IPv4MaximumHeaderSize]byte
	orig := header.IPv4(hbuf[:copy(hbuf[:], headers[:hl])])
	proto := pkt.TransportProtocol

	// RFC 791 §3.2: options whose copied flag is set go in every
	// fragment, the others only in the first.
	var copied [header.IPv4MaximumOptionsSize]byte
	nCopied, err := header.IPv4CopiedOptions(copied[:], orig.Options())
	if err != nil {
		nCopied = 0
	}
	restHL := header.IPv4MinimumSize + (nCopied+3)&^3

	if mtu-max(hl, restHL) < header.IPv4FragmentOffsetUnit {
		// Not even 8 bytes of data fit: the MTU is below what RFC 791
		// requires of every link (68).
		pkt.Release()
		st.FragmentationErrors.Inc()
		return tcpip.ErrMessageTooLong
	}

	var data buffer.Buffer
	data.Append(headers[hl:])
	data.Merge(&pkt.Payload)
	pkt.Release()

	fields := orig.Fields()
	baseOff := int(fields.FragmentOffset)
	origMore := fields.Flags&header.IPv4FlagMoreFragments != 0
	linkHeadroom := e.nic.MaxLinkHeaderLength()
	off := 0
	for first := true; data.Len() > 0; first = false {
		fhl := hl
		if !first {
			fhl = restHL
			fields.Options = copied[:nCopied]
		}
		n := data.Len()
		last := n <= mtu-fhl
		if !last {
			// RFC 791 §3.2: every fragment but the last carries a
			// multiple of 8 octets.
			n = (mtu - fhl) &^ (header.IPv4FragmentOffsetUnit - 1)
		}
		part := data.Split(n)
		frag := buffer.NewPacket(linkHeadroom+fhl, &part)
		fields.TotalLength = uint16(fhl + n)
		fields.FragmentOffset = uint16(baseOff + off)
		fields.Flags &^= header.IPv4FlagMoreFragments
		if !last || origMore {
			fields.Flags |= header.IPv4FlagMoreFragments
		}
		fields.Encode(frag.PrependHeader(buffer.NetworkLayer, fhl))
		frag.NetworkProtocol = tcpip.IPv4ProtocolNumber
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
// endpoints with IP_HDRINCL. pkt holds the whole datagram: its header is
// at the front of the header area if pkt has headers, else at the front of
// the payload. As on Linux (raw(7)), the Total Length and the checksum are
// always filled in, the Identification and the source address when they
// are zero; the datagram is not fragmented (larger than the MTU:
// tcpip.ErrMessageTooLong) and a malformed header gives
// tcpip.ErrInvalidArgument.
func (e *endpoint) WriteHeaderIncludedPacket(r *stack.Route, pkt *buffer.Packet) error {
	total := pkt.Len()
	var hb []byte
	if pkt.HeaderLen() > 0 {
		hb = pkt.Headers()
	} else {
		hb, _ = pkt.Payload.PullUpWritable(min(total, header.IPv4MaximumHeaderSize))
	}
	if len(hb) < header.IPv4MinimumSize || hb[0]>>4 != header.IPv4Version {
		pkt.Release()
		return tcpip.ErrInvalidArgument
	}
	hl := int(hb[0]&0xf) * 4
	if hl < header.IPv4MinimumSize || hl > len(hb) {
		pkt.Release()
		return tcpip.ErrInvalidArgument
	}
	if total > header.IPv4MaximumPacketSize || (r.Loop&stack.LoopOut != 0 && total > int(e.nic.MTU())) {
		pkt.Release()
		e.p.stats.IPv4.PacketTooBig.Inc()
		return tcpip.ErrMessageTooLong
	}
	h := header.IPv4(hb[:hl])
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	if h.ID() == 0 {
		binary.BigEndian.PutUint16(h[4:], e.p.newID())
	}
	if h.Source().IsUnspecified() && r.LocalAddress.Is4() {
		a := r.LocalAddress.As4()
		copy(h[12:16], a[:])
	}
	h.SetChecksum(h.CalculateChecksum())
	pkt.NetworkProtocol = tcpip.IPv4ProtocolNumber
	pkt.TransportProtocol = h.Protocol()
	return e.sendAlong(r, pkt, false /* mayFragment */)
}
