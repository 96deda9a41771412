package ipv6

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// handleICMP processes an ICMPv6 message for this host (RFC 4443, RFC
// 4861). pos is where its header chain ended. It owns pkt.
func (e *endpoint) handleICMP(pkt *buffer.Packet, info stack.NetworkPacketInfo, pos chainPos) {
	st := &e.p.stats.ICMPv6
	n := pkt.Payload.Len()
	if n < header.ICMPv6MinimumSize {
		st.Malformed.Inc()
		pkt.Release()
		return
	}
	// RFC 4443 §2.3: the checksum covers the message and the IPv6
	// pseudo-header (RFC 8200 §8.1).
	var c header.Checksummer
	for b := range pkt.Payload.All() {
		c.Add(b)
	}
	if header.ChecksumCombine(header.PseudoHeaderChecksum(tcpip.ICMPv6ProtocolNumber, info.Source, info.Destination, uint32(n)), c.Sum()) != 0xffff {
		st.ChecksumErrors.Inc()
		pkt.Release()
		return
	}
	hb, _ := pkt.Peek(header.ICMPv6MinimumSize)
	icmp := header.ICMPv6(hb)
	typ := icmp.Type()
	icmpCount(&st.Received, typ)
	switch typ {
	case header.ICMPv6EchoRequest:
		e.handleEcho(pkt, info)
	case header.ICMPv6DstUnreachable, header.ICMPv6PacketTooBig, header.ICMPv6TimeExceeded, header.ICMPv6ParamProblem:
		e.handleICMPError(pkt, info)
	case header.ICMPv6NeighborSolicit, header.ICMPv6NeighborAdvert,
		header.ICMPv6RouterSolicit, header.ICMPv6RouterAdvert, header.ICMPv6Redirect:
		e.handleNDP(pkt, typ, info)
	case header.ICMPv6MLDQuery, header.ICMPv6MLDv1Report, header.ICMPv6MLDv1Done, header.ICMPv6MLDv2Report:
		e.handleMLD(pkt, typ, info, pos)
	default:
		// Echo replies go to ICMPv6 echo endpoints; RFC 4443 §2.4(b):
		// an unknown informational message is passed up and otherwise
		// ignored, an unknown error (type below 128) likewise. Raw
		// endpoints see every message.
		e.deliverToTransport(pkt, info)
	}
}

// icmpCount counts one message of type t.
func icmpCount(m *tcpip.ICMPv6Messages, t header.ICMPv6Type) {
	switch t {
	case header.ICMPv6DstUnreachable:
		m.DstUnreachable.Inc()
	case header.ICMPv6PacketTooBig:
		m.PacketTooBig.Inc()
	case header.ICMPv6TimeExceeded:
		m.TimeExceeded.Inc()
	case header.ICMPv6ParamProblem:
		m.ParamProblem.Inc()
	case header.ICMPv6EchoRequest:
		m.EchoRequest.Inc()
	case header.ICMPv6EchoReply:
		m.EchoReply.Inc()
	case header.ICMPv6RouterSolicit:
		m.RouterSolicit.Inc()
	case header.ICMPv6RouterAdvert:
		m.RouterAdvert.Inc()
	case header.ICMPv6NeighborSolicit:
		m.NeighborSolicit.Inc()
	case header.ICMPv6NeighborAdvert:
		m.NeighborAdvert.Inc()
	case header.ICMPv6Redirect:
		m.Redirect.Inc()
	default:
		m.Other.Inc()
	}
}

// handleEcho answers an echo request (RFC 4443 §4.1, §4.2) and then hands
// it to the transport dispatcher for raw endpoints. It owns pkt.
func (e *endpoint) handleEcho(pkt *buffer.Packet, info stack.NetworkPacketInfo) {
	defer e.deliverToTransport(pkt, info)
	st := &e.p.stats.ICMPv6
	if info.Multicast && !e.p.echoMulticastReply.Load() {
		st.NotSentToErr.Inc()
		return
	}
	if info.Source.IsUnspecified() {
		// No one to answer.
		st.NotSentToErr.Inc()
		return
	}
	// RFC 4443 §4.2: the reply comes from the address the request was
	// sent to if it is unicast; for a multicast (or anycast) request,
	// from a unicast address of the interface it came in by.
	local, nicID := info.Destination, tcpip.NICID(0)
	if info.Multicast || !e.isOwnedByStack(local) {
		local, nicID = netip.Addr{}, e.nic.ID()
	}
	if info.Source.IsLinkLocalUnicast() || info.Source.IsMulticast() {
		nicID = e.nic.ID()
	}
	r, err := e.p.s.FindRoute(nicID, local, info.Source, tcpip.IPv6ProtocolNumber, false /* multicastLoop */)
	if err != nil {
		st.SendErrors.Inc()
		return
	}
	out := e.p.endpointOn(r.NIC)
	if out == nil {
		st.SendErrors.Inc()
		return
	}
	n := pkt.Payload.Len()
	hb, _ := pkt.Peek(header.ICMPv6MinimumSize)
	var req [header.ICMPv6MinimumSize]byte
	copy(req[:], hb)
	body := pkt.Payload.CloneRange(header.ICMPv6MinimumSize, n-header.ICMPv6MinimumSize)
	reply := buffer.NewPacket(out.MaxHeaderLength()+header.ICMPv6MinimumSize, &body)
	rh := header.ICMPv6(reply.PrependHeader(buffer.TransportLayer, header.ICMPv6MinimumSize))
	copy(rh, req[:])
	// RFC 4443 §4.2: the reply carries the request's identifier,
	// sequence number and data. The checksum is computed anew: the
	// pseudo-header's addresses may differ from the request's.
	rh.SetType(header.ICMPv6EchoReply)
	rh.SetCode(0)
	rh.SetChecksum(0)
	var c header.Checksummer
	c.Add(rh[header.ICMPv6HeaderSize:])
	for b := range reply.Payload.All() {
		c.Add(b)
	}
	rh.SetChecksum(rh.CalculateChecksumPartial(r.LocalAddress, info.Source, n-header.ICMPv6HeaderSize, c.Sum()))
	hp := ipv6HeaderParams{
		src:          r.LocalAddress,
		dst:          info.Source,
		proto:        tcpip.ICMPv6ProtocolNumber,
		trafficClass: info.TOS,
	}
	if err := out.writePacket(r, &hp, reply); err != nil {
		st.SendErrors.Inc()
		return
	}
	st.Sent.EchoReply.Inc()
}

// upperLayer walks the header chain of a quoted packet q (the fixed
// header first) and returns the upper-layer protocol and its offset, or
// false if the quote ends before it or it is in a later fragment.
func upperLayer(q []byte) (tcpip.TransportProtocolNumber, int, bool) {
	if len(q) < header.IPv6MinimumSize {
		return 0, 0, false
	}
	it := header.NewIPv6ExtHdrIterator(header.IPv6(q).NextHeader(), ipv6NextHeaderOff, q[header.IPv6MinimumSize:], header.IPv6MinimumSize)
	for {
		h, ok := it.Next()
		if !ok {
			return 0, 0, false
		}
		if h.Type == tcpip.IPv6FragmentProtocolNumber && header.IPv6FragmentHeader(h.Bytes).FragmentOffset() != 0 {
			// A later fragment: no transport header in the quote.
			return 0, 0, false
		}
		if h.UpperLayer {
			return h.Type, h.Offset, true
		}
	}
}

// handleICMPError passes an ICMPv6 error about a packet this host sent to
// the transport that sent it (RFC 4443 §3: "the upper-layer protocol ...
// MUST be notified"), after updating the path MTU for Packet Too Big
// (RFC 8201 §4), and the message itself to the transport dispatcher for
// raw endpoints. It owns pkt.
func (e *endpoint) handleICMPError(pkt *buffer.Packet, info stack.NetworkPacketInfo) {
	st := &e.p.stats.ICMPv6
	body := pkt.Payload.Len() - header.ICMPv6MinimumSize
	var first [header.ICMPv6MinimumSize]byte
	pkt.Payload.ReadAt(first[:], 0)
	icmp := header.ICMPv6(first[:])
	// The quote: enough for the fixed header, a chain of extension
	// headers and the transport's ports.
	var qbuf [header.IPv6MinimumSize + 512]byte
	k, _ := pkt.Payload.ReadAt(qbuf[:min(body, len(qbuf))], header.ICMPv6MinimumSize)
	quoted := qbuf[:k]
	if k < header.IPv6MinimumSize || quoted[0]>>4 != header.IPv6Version {
		st.Malformed.Inc()
		e.deliverToTransport(pkt, info)
		return
	}
	qh := header.IPv6(quoted)
	local, remote := qh.Source(), qh.Destination()
	terr := icmpTransportError(icmp)
	terr.Source = info.Source
	if icmp.Type() == header.ICMPv6PacketTooBig {
		// RFC 8201 §4: the PMTU of the quoted destination drops to
		// the reported MTU, never below 1280, and never rises.
		terr.Info = e.p.pmtu.update(remote, icmp.MTU())
	}
	proto, uoff, ok := upperLayer(quoted)
	var orig *buffer.Packet
	if ok && body >= uoff+8 {
		b := pkt.Payload.CloneRange(header.ICMPv6MinimumSize, body)
		orig = buffer.NewPacket(0, &b)
		orig.ConsumeHeader(buffer.NetworkLayer, uoff)
		orig.NetworkProtocol = tcpip.IPv6ProtocolNumber
		orig.TransportProtocol = proto
		orig.NIC = e.nic.ID()
	}
	e.deliverToTransport(pkt, info)
	if orig != nil {
		e.d.DeliverTransportError(proto, local, remote, terr, orig)
	}
}

// icmpTransportError translates an ICMPv6 error into what transports see,
// with the errors Linux reports for each code (icmpv6_err_convert).
func icmpTransportError(icmp header.ICMPv6) stack.TransportError {
	switch icmp.Type() {
	case header.ICMPv6PacketTooBig:
		return stack.TransportError{Kind: stack.ErrorPacketTooBig, Info: icmp.MTU(), Err: tcpip.ErrMessageTooLong}
	case header.ICMPv6TimeExceeded:
		return stack.TransportError{Kind: stack.ErrorTTLExceeded, Err: tcpip.ErrHostUnreachable}
	case header.ICMPv6ParamProblem:
		// Linux reports every code as EPROTO, a hard error.
		return stack.TransportError{Kind: stack.ErrorParameterProblem, Info: icmp.Pointer(), Err: tcpip.ErrMalformed}
	}
	switch icmp.Code() {
	case header.ICMPv6NoRoute:
		return stack.TransportError{Kind: stack.ErrorNetworkUnreachable, Err: tcpip.ErrNetworkUnreachable}
	case header.ICMPv6AdminProhibited, header.ICMPv6SourcePolicyFailed, header.ICMPv6RejectRoute:
		return stack.TransportError{Kind: stack.ErrorAdministrativelyProhibited, Err: tcpip.ErrHostUnreachable}
	case header.ICMPv6PortUnreachable:
		return stack.TransportError{Kind: stack.ErrorPortUnreachable, Err: tcpip.ErrConnectionRefused}
	}
	// Beyond scope, address unreachable and the rest: EHOSTUNREACH.
	return stack.TransportError{Kind: stack.ErrorHostUnreachable, Err: tcpip.ErrHostUnreachable}
}

// icmpErrorAllowed applies RFC 4443 §2.4(e) to the packet an error would
// be about: no error about an ICMPv6 error or a redirect, nor about a
// packet sent to a multicast address (IP or link layer) unless
// allowMulticast (Packet Too Big, and Parameter Problem code 2 for an
// option whose type asks for it, §2.4(e.3)), nor to a source that is not
// a single host (unspecified, multicast).
func (e *endpoint) icmpErrorAllowed(orig *buffer.Packet, oh header.IPv6, allowMulticast bool) bool {
	if !allowMulticast && (oh.Destination().IsMulticast() ||
		orig.Type == buffer.PacketBroadcast || orig.Type == buffer.PacketMulticast) {
		return false
	}
	src := oh.Source()
	if src.IsUnspecified() || src.IsMulticast() || (src == ipv6Loopback && !e.nic.IsLoopback()) {
		return false
	}
	// The packet's upper layer: the walk of its header chain may have
	// stopped before it (an error about an extension header), so the
	// chain is walked again over the packet's first bytes.
	var buf [header.IPv6MinimumSize + 512]byte
	n := copy(buf[:], oh)
	n += copy(buf[n:], orig.TransportHeader())
	k, _ := orig.Payload.ReadAt(buf[n:], 0)
	proto, off, ok := upperLayer(buf[:n+k])
	if ok && proto == tcpip.ICMPv6ProtocolNumber {
		if off >= n+k {
			return false
		}
		if t := header.ICMPv6Type(buf[off]); t.IsError() || t == header.ICMPv6Redirect {
			return false
		}
	}
	return true
}

// sendParamProblem sends a Parameter Problem of the given code pointing at
// offset pointer of orig (RFC 4443 §3.4). The caller keeps orig.
func (e *endpoint) sendParamProblem(orig *buffer.Packet, code header.ICMPv6Code, pointer int, allowMulticast bool) {
	e.sendICMPError(orig, header.ICMPv6ParamProblem, code, uint32(pointer), allowMulticast)
}

// sendICMPError sends an ICMPv6 error of type typ and code about orig, a
// packet whose IPv6 header (and the extension headers processed) is
// orig.NetworkHeader(); word is the MTU of Packet Too Big or the pointer
// of Parameter Problem. It follows RFC 4443 §2.4(e) (see
// icmpErrorAllowed) and the stack's rate limit (§2.4(f)). The caller keeps
// orig.
func (e *endpoint) sendICMPError(orig *buffer.Packet, typ header.ICMPv6Type, code header.ICMPv6Code, word uint32, allowMulticast bool) {
	st := &e.p.stats.ICMPv6
	oh := header.IPv6(orig.NetworkHeader())
	if len(oh) < header.IPv6MinimumSize {
		return
	}
	if typ == header.ICMPv6PacketTooBig {
		allowMulticast = true
	}
	if !e.icmpErrorAllowed(orig, oh, allowMulticast) {
		st.NotSentToErr.Inc()
		return
	}
	if !e.p.s.AllowICMPMessage() {
		st.RateLimited.Inc()
		return
	}
	// RFC 4443 §2.2: the source is the address the packet was sent to
	// if it was one of ours, else an address of the interface the error
	// leaves by.
	var local netip.Addr
	if dst := oh.Destination(); !dst.IsMulticast() && e.isOwnedByStack(dst) {
		local = dst
	}
	nicID := tcpip.NICID(0)
	if oh.Source().IsLinkLocalUnicast() || local.IsLinkLocalUnicast() {
		nicID = e.nic.ID()
	}
	r, err := e.p.s.FindRoute(nicID, local, oh.Source(), tcpip.IPv6ProtocolNumber, false /* multicastLoop */)
	if err != nil {
		st.SendErrors.Inc()
		return
	}
	out := e.p.endpointOn(r.NIC)
	if out == nil {
		st.SendErrors.Inc()
		return
	}

	// RFC 4443 §2.4(c): as much of the packet as fits without the
	// error exceeding the minimum MTU, 1280 bytes.
	th := orig.TransportHeader()
	limit := header.IPv6MinimumMTU - header.IPv6MinimumSize - header.ICMPv6MinimumSize
	headLen := min(len(oh)+len(th), limit)
	qn := max(0, min(orig.Payload.Len(), limit-headLen))
	q := orig.Payload.CloneRange(0, qn)
	pkt := buffer.NewPacket(out.MaxHeaderLength()+header.ICMPv6MinimumSize+headLen, &q)
	qh := pkt.Prepend(headLen)
	copy(qh[copy(qh, oh):], th)
	ih := pkt.PrependHeader(buffer.TransportLayer, header.ICMPv6MinimumSize)
	ih[0], ih[1] = uint8(typ), uint8(code)
	binary.BigEndian.PutUint32(ih[4:], word)
	var c header.Checksummer
	c.Add(ih[header.ICMPv6HeaderSize:])
	c.Add(qh)
	for b := range pkt.Payload.All() {
		c.Add(b)
	}
	bodyLen := header.ICMPv6MinimumSize - header.ICMPv6HeaderSize + headLen + qn
	header.ICMPv6(ih).SetChecksum(header.ICMPv6(ih).CalculateChecksumPartial(r.LocalAddress, oh.Source(), bodyLen, c.Sum()))

	hp := ipv6HeaderParams{
		src:   r.LocalAddress,
		dst:   oh.Source(),
		proto: tcpip.ICMPv6ProtocolNumber,
	}
	if err := out.writePacket(r, &hp, pkt); err != nil {
		st.SendErrors.Inc()
		return
	}
	icmpCount(&st.Sent, typ)
}

// HandleLinkResolutionFailure implements stack.LinkResolutionFailureHandler:
// pkt, a packet this endpoint sent, is dropped because its next hop did
// not answer neighbour solicitations. RFC 4861 §7.2.2: a forwarded packet
// is answered with Destination Unreachable, address unreachable (code 3);
// the transport that sent one of this host's own packets is told
// directly, as Linux reports EHOSTUNREACH. The NIC keeps pkt.
func (e *endpoint) HandleLinkResolutionFailure(pkt *buffer.Packet) {
	h := header.IPv6(pkt.NetworkHeader())
	if len(h) < header.IPv6MinimumSize {
		return
	}
	src := h.Source()
	if !e.isOwnedByStack(src) && !src.IsUnspecified() {
		e.sendICMPError(pkt, header.ICMPv6DstUnreachable, header.ICMPv6AddressUnreachable, 0, false)
		return
	}
	var b buffer.Buffer
	b.Append(h)
	b.Append(pkt.TransportHeader())
	rest := pkt.Payload.Clone()
	b.Merge(&rest)
	flat := b.Flatten()
	proto, uoff, ok := upperLayer(flat[:min(len(flat), header.IPv6MinimumSize+512)])
	b.Release()
	if !ok {
		return
	}
	orig := buffer.NewPacketFromBytes(0, flat)
	orig.ConsumeHeader(buffer.NetworkLayer, uoff)
	orig.NetworkProtocol = tcpip.IPv6ProtocolNumber
	orig.TransportProtocol = proto
	orig.NIC = e.nic.ID()
	terr := stack.TransportError{Kind: stack.ErrorHostUnreachable, Err: tcpip.ErrHostUnreachable, Source: src, Local: true}
	e.d.DeliverTransportError(proto, src, h.Destination(), terr, orig)
}
