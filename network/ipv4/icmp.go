package ipv4

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// icmpErrorMaxDatagram is the largest ICMP error datagram: RFC 1812
// §4.3.2.3 has the quote of the offending datagram fill up to 576 bytes,
// and Linux does the same as a host.
const icmpErrorMaxDatagram = 576

// icmpErrorTOS is the TOS of ICMP errors: RFC 1812 §4.3.2.5, precedence 6
// (internetwork control).
const icmpErrorTOS = 0xc0

// handleICMP processes an ICMP message for this host (RFC 792). h is its
// IPv4 header. It owns pkt.
func (e *endpoint) handleICMP(pkt *buffer.Packet, h header.IPv4, info stack.NetworkPacketInfo, opts ipv4Options) {
	st := &e.p.stats.ICMPv4
	n := pkt.Payload.Len()
	if n < header.ICMPv4MinimumSize {
		st.Malformed.Inc()
		pkt.Release()
		return
	}
	// RFC 792: the checksum covers the whole message.
	var c header.Checksummer
	for b := range pkt.Payload.All() {
		c.Add(b)
	}
	if c.Sum() != 0xffff {
		st.ChecksumErrors.Inc()
		pkt.Release()
		return
	}
	hb, _ := pkt.Peek(header.ICMPv4MinimumSize)
	icmp := header.ICMPv4(hb)
	typ := icmp.Type()
	icmpCount(&st.Received, typ)
	switch typ {
	case header.ICMPv4Echo:
		e.handleEcho(pkt, h, icmp, info, opts)
	case header.ICMPv4DstUnreachable, header.ICMPv4TimeExceeded, header.ICMPv4ParamProblem:
		e.handleICMPError(pkt, icmp, info)
	case header.ICMPv4Redirect:
		// Not an error for transports (Linux's icmp_redirect reports
		// none to sockets); raw endpoints see it.
		e.handleRedirect(pkt, icmp, info)
		e.deliverToTransport(pkt, tcpip.ICMPv4ProtocolNumber, info)
	default:
		// Echo replies go to ICMP echo endpoints; source quench is
		// ignored (RFC 6633 §1); the other types are queries a host
		// need not answer (RFC 6918 deprecates most). Raw endpoints see
		// every one of them.
		e.deliverToTransport(pkt, tcpip.ICMPv4ProtocolNumber, info)
	}
}

// icmpCount counts one message of type t.
func icmpCount(m *tcpip.ICMPv4Messages, t header.ICMPv4Type) {
	switch t {
	case header.ICMPv4EchoReply:
		m.EchoReply.Inc()
	case header.ICMPv4DstUnreachable:
		m.DstUnreachable.Inc()
	case header.ICMPv4SourceQuench:
		m.SourceQuench.Inc()
	case header.ICMPv4Redirect:
		m.Redirect.Inc()
	case header.ICMPv4Echo:
		m.EchoRequest.Inc()
	case header.ICMPv4TimeExceeded:
		m.TimeExceeded.Inc()
	case header.ICMPv4ParamProblem:
		m.ParamProblem.Inc()
	case header.ICMPv4Timestamp:
		m.Timestamp.Inc()
	case header.ICMPv4TimestampReply:
		m.TimestampReply.Inc()
	case header.ICMPv4InfoRequest:
		m.InfoRequest.Inc()
	case header.ICMPv4InfoReply:
		m.InfoReply.Inc()
	default:
		m.Other.Inc()
	}
}

// handleEcho answers an echo request (RFC 792, RFC 1122 §3.2.2.6) and then
// hands it to the transport dispatcher for raw endpoints. icmp is the
// message's header. It owns pkt.
func (e *endpoint) handleEcho(pkt *buffer.Packet, h header.IPv4, icmp header.ICMPv4, info stack.NetworkPacketInfo, opts ipv4Options) {
	defer e.deliverToTransport(pkt, tcpip.ICMPv4ProtocolNumber, info)
	st := &e.p.stats.ICMPv4
	if (info.LocalAddressBroadcast || info.Multicast) && !e.p.echoBroadcastReply.Load() {
		st.EchoBroadcastIgnored.Inc()
		return
	}
	if !e.isSingleHost(info.Source) {
		// There is no one to answer (RFC 1122 §3.2.1.3: 0.0.0.0 is
		// not a reply address).
		st.NotSentToErr.Inc()
		return
	}
	// RFC 1122 §3.2.2.6: the reply comes from the address the request
	// was sent to, or from one of this host's addresses when that was a
	// broadcast or multicast address.
	local, nicID := info.Destination, tcpip.NICID(0)
	if info.LocalAddressBroadcast || info.Multicast || !e.isOwnedByStack(local) {
		local, nicID = netip.Addr{}, e.nic.ID()
	}
	r, err := e.p.s.FindRoute(nicID, local, info.Source, tcpip.IPv4ProtocolNumber, false /* multicastLoop */)
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
	body := pkt.Payload.CloneRange(header.ICMPv4MinimumSize, n-header.ICMPv4MinimumSize)
	reply := buffer.NewPacket(out.MaxHeaderLength()+header.ICMPv4MinimumSize, &body)
	rh := header.ICMPv4(reply.PrependHeader(buffer.TransportLayer, header.ICMPv4MinimumSize))
	copy(rh, icmp)
	// RFC 792: the reply is the request with type 0 (and code 0); the
	// checksum is updated for that one word (RFC 1624), the data being
	// the same.
	oldWord := binary.BigEndian.Uint16(icmp)
	rh.SetType(header.ICMPv4EchoReply)
	rh.SetCode(0)
	rh.SetChecksum(header.ChecksumUpdate(icmp.Checksum(), oldWord, 0))

	var ob [header.IPv4MaximumOptionsSize]byte
	hp := ipv4HeaderParams{
		src:     r.LocalAddress,
		dst:     info.Source,
		proto:   tcpip.ICMPv4ProtocolNumber,
		tos:     h.TOS(),
		options: ob[:ipv4EchoReplyOptions(ob[:], h, opts)],
		record:  true,
	}
	if err := out.writePacket(r, &hp, reply); err != nil {
		st.SendErrors.Inc()
		return
	}
	st.Sent.EchoReply.Inc()
}

// handleICMPError passes an ICMP error about a datagram this host sent to
// the transport that sent it (RFC 1122 §3.2.2: "the ICMP error messages
// MUST be passed to the transport layer"), and the message itself to the
// transport dispatcher for raw endpoints. It owns pkt.
func (e *endpoint) handleICMPError(pkt *buffer.Packet, icmp header.ICMPv4, info stack.NetworkPacketInfo) {
	st := &e.p.stats.ICMPv4
	body := pkt.Payload.Len() - header.ICMPv4MinimumSize
	var qbuf [header.IPv4MaximumHeaderSize]byte
	k, _ := pkt.Payload.ReadAt(qbuf[:min(body, len(qbuf))], header.ICMPv4MinimumSize)
	quoted := qbuf[:k]
	// RFC 792: the message quotes the offending datagram's header and
	// at least 64 bits of its data, enough for the transport's ports.
	if k < header.IPv4MinimumSize || quoted[0]>>4 != header.IPv4Version {
		st.Malformed.Inc()
		e.deliverToTransport(pkt, tcpip.ICMPv4ProtocolNumber, info)
		return
	}
	qhl := int(quoted[0]&0xf) * 4
	if qhl < header.IPv4MinimumSize || body < qhl+8 {
		st.Malformed.Inc()
		e.deliverToTransport(pkt, tcpip.ICMPv4ProtocolNumber, info)
		return
	}
	qh := header.IPv4(quoted[:qhl])
	terr := icmpTransportError(icmp, qh)
	terr.Source = info.Source
	proto, local, remote := qh.Protocol(), qh.Source(), qh.Destination()
	firstFragment := qh.IsFirstFragment()

	var orig *buffer.Packet
	if firstFragment {
		b := pkt.Payload.CloneRange(header.ICMPv4MinimumSize, body)
		orig = buffer.NewPacket(0, &b)
		orig.ConsumeHeader(buffer.NetworkLayer, qhl)
		orig.NetworkProtocol = tcpip.IPv4ProtocolNumber
		orig.TransportProtocol = proto
		orig.NIC = e.nic.ID()
	}
	e.deliverToTransport(pkt, tcpip.ICMPv4ProtocolNumber, info)
	if orig != nil {
		// A quote of a later fragment holds no transport header: no
		// endpoint can be found for it.
		e.d.DeliverTransportError(proto, local, remote, terr, orig)
	}
}

// icmpTransportError translates an ICMP error into what transports see,
// with the errors Linux reports for each code (icmp_err_convert). qh is
// the quoted header.
func icmpTransportError(icmp header.ICMPv4, qh header.IPv4) stack.TransportError {
	switch icmp.Type() {
	case header.ICMPv4TimeExceeded:
		return stack.TransportError{Kind: stack.ErrorTTLExceeded, Err: tcpip.ErrHostUnreachable}
	case header.ICMPv4ParamProblem:
		return stack.TransportError{Kind: stack.ErrorParameterProblem, Info: uint32(icmp.Pointer()), Err: tcpip.ErrMalformed}
	}
	switch icmp.Code() {
	case header.ICMPv4NetUnreachable, header.ICMPv4DstNetUnknown, header.ICMPv4NetUnreachableForTOS:
		return stack.TransportError{Kind: stack.ErrorNetworkUnreachable, Err: tcpip.ErrNetworkUnreachable}
	case header.ICMPv4ProtoUnreachable:
		return stack.TransportError{Kind: stack.ErrorProtocolUnreachable, Err: tcpip.ErrConnectionRefused}
	case header.ICMPv4PortUnreachable:
		return stack.TransportError{Kind: stack.ErrorPortUnreachable, Err: tcpip.ErrConnectionRefused}
	case header.ICMPv4FragmentationNeeded:
		return stack.TransportError{Kind: stack.ErrorPacketTooBig, Info: icmpNextHopMTU(icmp.MTU(), qh.TotalLength()), Err: tcpip.ErrMessageTooLong}
	case header.ICMPv4SourceRouteFailed:
		return stack.TransportError{Kind: stack.ErrorHostUnreachable, Err: tcpip.ErrNotSupported}
	case header.ICMPv4DstHostUnknown:
		return stack.TransportError{Kind: stack.ErrorHostUnreachable, Err: tcpip.ErrHostDown}
	case header.ICMPv4NetProhibited:
		return stack.TransportError{Kind: stack.ErrorAdministrativelyProhibited, Err: tcpip.ErrNetworkUnreachable}
	case header.ICMPv4HostProhibited, header.ICMPv4AdminProhibited:
		return stack.TransportError{Kind: stack.ErrorAdministrativelyProhibited, Err: tcpip.ErrHostUnreachable}
	}
	// Host unreachable and the remaining codes (isolated, for TOS,
	// precedence): EHOSTUNREACH.
	return stack.TransportError{Kind: stack.ErrorHostUnreachable, Err: tcpip.ErrHostUnreachable}
}

// icmpPlateaus are the MTU plateaus of RFC 1191 §7, largest first.
var icmpPlateaus = [...]uint32{32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, header.IPv4MinimumMTU}

// icmpNextHopMTU returns the path MTU a fragmentation-needed message
// reports. A router that predates RFC 1191 sends zero (RFC 1191 §4), and a
// value not below the quoted datagram's length cannot be right: then the
// next plateau below that length is the estimate (RFC 1191 §5, §7). No MTU
// is below the 68 bytes RFC 791 requires of every link.
func icmpNextHopMTU(mtu, quotedLen uint16) uint32 {
	if mtu == 0 || (quotedLen > 0 && mtu >= quotedLen) {
		for _, p := range icmpPlateaus {
			if p < uint32(quotedLen) {
				return p
			}
		}
		return header.IPv4MinimumMTU
	}
	return max(uint32(mtu), header.IPv4MinimumMTU)
}

// isSingleHost reports whether addr names one host, so that an ICMP
// message may be sent to it (RFC 1122 §3.2.2): not 0.0.0.0 or the rest of
// 0/8, not a loopback address from outside, not a broadcast, multicast or
// class E address.
func (e *endpoint) isSingleHost(addr netip.Addr) bool {
	if !addr.Is4() {
		return false
	}
	a := addr.As4()
	switch {
	case a[0] == 0, a[0] >= 224: // 0/8, class D, class E and 255.255.255.255
		return false
	case addr.IsLoopback() && !e.nic.IsLoopback():
		return false
	}
	return !e.p.s.IsSubnetBroadcast(e.nic.ID(), tcpip.IPv4ProtocolNumber, addr)
}

// icmpIsQuery reports whether t is an ICMP query (informational) type;
// like Linux, ustack counts unknown types as errors, about which no error
// is sent.
func icmpIsQuery(t header.ICMPv4Type) bool {
	switch t {
	case header.ICMPv4EchoReply, header.ICMPv4Echo, header.ICMPv4RouterAdvertisement,
		header.ICMPv4RouterSolicitation, header.ICMPv4Timestamp, header.ICMPv4TimestampReply,
		header.ICMPv4InfoRequest, header.ICMPv4InfoReply, header.ICMPv4AddressMaskRequest,
		header.ICMPv4AddressMaskReply, header.ICMPv4ExtendedEchoRequest, header.ICMPv4ExtendedEchoReply:
		return true
	}
	return false
}

// icmpErrorAllowed applies the rules of RFC 1122 §3.2.2 to the datagram
// an ICMP error would be about: no error about an ICMP error, about a
// datagram sent to a broadcast or multicast address (IP or link layer),
// about a fragment other than the first, or to a source that is not a
// single host.
func (e *endpoint) icmpErrorAllowed(orig *buffer.Packet, oh header.IPv4) bool {
	dst := oh.Destination()
	if dst.IsMulticast() || e.isBroadcast(dst) ||
		orig.Type == buffer.PacketBroadcast || orig.Type == buffer.PacketMulticast {
		return false
	}
	if !oh.IsFirstFragment() || !e.isSingleHost(oh.Source()) {
		return false
	}
	if oh.Protocol() == tcpip.ICMPv4ProtocolNumber {
		t := orig.TransportHeader()
		if len(t) == 0 {
			t, _ = orig.Peek(1)
		}
		if len(t) == 0 || !icmpIsQuery(header.ICMPv4Type(t[0])) {
			return false
		}
	}
	return true
}

// sendICMPError sends an ICMP error of type typ and code about orig, a
// datagram whose IPv4 header is orig.NetworkHeader() (mtu and pointer are
// the Fragmentation Needed and Parameter Problem fields). It follows
// RFC 1122 §3.2.2 (see icmpErrorAllowed) and the stack's rate limit
// (RFC 1812 §4.3.2.8). The caller keeps orig.
func (e *endpoint) sendICMPError(orig *buffer.Packet, typ header.ICMPv4Type, code header.ICMPv4Code, mtu uint16, pointer uint8) {
	st := &e.p.stats.ICMPv4
	oh := header.IPv4(orig.NetworkHeader())
	if len(oh) < header.IPv4MinimumSize {
		return
	}
	if !e.icmpErrorAllowed(orig, oh) {
		st.NotSentToErr.Inc()
		return
	}
	if !e.p.s.AllowICMPMessage() {
		st.RateLimited.Inc()
		return
	}
	// RFC 1812 §4.3.2.4: the source is an address of the interface the
	// error leaves by; when the datagram was for this host, Linux uses
	// the address it was sent to, which is what the sender expects.
	var local netip.Addr
	if dst := oh.Destination(); e.isOwnedByStack(dst) {
		local = dst
	}
	r, err := e.p.s.FindRoute(0, local, oh.Source(), tcpip.IPv4ProtocolNumber, false /* multicastLoop */)
	if err != nil {
		st.SendErrors.Inc()
		return
	}
	out := e.p.endpointOn(r.NIC)
	if out == nil {
		st.SendErrors.Inc()
		return
	}

	// The quote: the header, and as much of the rest as fits in 576
	// bytes (RFC 1812 §4.3.2.3) and in the outgoing link's MTU.
	th := orig.TransportHeader()
	limit := min(icmpErrorMaxDatagram, int(out.nic.MTU())) - header.IPv4MinimumSize - header.ICMPv4MinimumSize
	if limit < len(oh) {
		// A link below RFC 791's 68-byte minimum cannot carry the quote.
		st.SendErrors.Inc()
		return
	}
	headLen := min(len(oh)+len(th), limit)
	qn := max(0, min(orig.Payload.Len(), limit-headLen))
	q := orig.Payload.CloneRange(0, qn)
	pkt := buffer.NewPacket(out.MaxHeaderLength()+header.ICMPv4MinimumSize+headLen, &q)
	qh := pkt.Prepend(headLen)
	copy(qh[copy(qh, oh):], th)
	f := header.ICMPv4Fields{Type: typ, Code: code, MTU: mtu, Pointer: pointer}
	ih := f.Encode(pkt.PrependHeader(buffer.TransportLayer, header.ICMPv4MinimumSize))
	var c header.Checksummer
	c.Add(qh)
	for b := range pkt.Payload.All() {
		c.Add(b)
	}
	ih.SetChecksum(ih.CalculateChecksumPartial(c.Sum()))

	hp := ipv4HeaderParams{
		src:   r.LocalAddress,
		dst:   oh.Source(),
		proto: tcpip.ICMPv4ProtocolNumber,
		tos:   icmpErrorTOS,
	}
	if err := out.writePacket(r, &hp, pkt); err != nil {
		st.SendErrors.Inc()
		return
	}
	icmpCount(&st.Sent, typ)
}

// HandleLinkResolutionFailure implements stack.LinkResolutionFailureHandler:
// pkt, a datagram this endpoint sent, is dropped because its next hop did
// not answer ARP. A datagram this host forwarded is answered with host
// unreachable to its source (RFC 1812 §5.2.7.1); for one this host sent
// itself the transport that sent it is told directly, as Linux reports
// EHOSTUNREACH to the socket without an ICMP message. The NIC keeps pkt.
func (e *endpoint) HandleLinkResolutionFailure(pkt *buffer.Packet) {
	h := header.IPv4(pkt.NetworkHeader())
	if len(h) < header.IPv4MinimumSize {
		return
	}
	src := h.Source()
	if !e.isOwnedByStack(src) && !src.IsUnspecified() {
		e.sendICMPError(pkt, header.ICMPv4DstUnreachable, header.ICMPv4HostUnreachable, 0, 0)
		return
	}
	if !h.IsFirstFragment() {
		return
	}
	orig := buffer.NewPacket(0, nil)
	orig.Payload.Append(h)
	orig.Payload.Append(pkt.TransportHeader())
	rest := pkt.Payload.Clone()
	orig.Payload.Merge(&rest)
	orig.ConsumeHeader(buffer.NetworkLayer, len(h))
	orig.NetworkProtocol = tcpip.IPv4ProtocolNumber
	orig.TransportProtocol = h.Protocol()
	orig.NIC = e.nic.ID()
	terr := stack.TransportError{Kind: stack.ErrorHostUnreachable, Err: tcpip.ErrHostUnreachable, Source: src, Local: true}
	e.d.DeliverTransportError(h.Protocol(), src, h.Destination(), terr, orig)
}
