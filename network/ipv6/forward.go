package ipv6

import (
	"errors"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// forward sends a packet that is not for this host on towards its
// destination (RFC 8200 §3, §4; RFC 4443 §3). The caller checked that
// forwarding is on and that the packet came to this NIC's link address.
// pos is the start of the header chain. It owns pkt.
func (e *endpoint) forward(pkt *buffer.Packet, pos chainPos) {
	st := &e.p.stats.IPv6
	h := headers(pkt)
	src, dst := h.Source(), h.Destination()

	// RFC 4291 §2.5.6: packets from or to link-local addresses never
	// leave their link. RFC 4443 §3.1: a link-local source is answered
	// with Destination Unreachable, beyond scope of source address
	// (code 2).
	if dst.IsLinkLocalUnicast() {
		st.LinkLocalNotForwarded.Inc()
		pkt.Release()
		return
	}
	if src.IsLinkLocalUnicast() {
		st.LinkLocalNotForwarded.Inc()
		e.sendICMPError(pkt, header.ICMPv6DstUnreachable, header.ICMPv6BeyondScope, 0, false)
		pkt.Release()
		return
	}
	// RFC 4291 §2.5.2: a packet from :: is never forwarded.
	if src.IsUnspecified() {
		st.InvalidSourceAddress.Inc()
		pkt.Release()
		return
	}

	// RFC 8200 §4: the Hop-by-Hop Options header is the one header every
	// node on the path examines.
	if pos.next == tcpip.IPv6HopByHopProtocolNumber {
		b, ok := pkt.Peek(2)
		if !ok {
			st.MalformedOptions.Inc()
			pkt.Release()
			return
		}
		n := (int(b[1]) + 1) * 8
		if b, ok = pkt.Peek(n); !ok {
			st.MalformedOptions.Inc()
			pkt.Release()
			return
		}
		// Process a copy: the options stay in the payload, which is
		// forwarded as it came.
		opts := append([]byte(nil), b...)
		if !e.processOptions(pkt, tcpip.IPv6HopByHopProtocolNumber, opts, &pos) {
			pkt.Release()
			return
		}
	}

	// RFC 8200 §3 and RFC 4443 §3.3: a packet whose Hop Limit would reach
	// zero is discarded and its source told with Time Exceeded, code 0.
	if h.HopLimit() <= 1 {
		st.HopLimitExceeded.Inc()
		e.sendICMPError(pkt, header.ICMPv6TimeExceeded, header.ICMPv6HopLimitExceeded, 0, false)
		pkt.Release()
		return
	}

	r, err := e.p.s.FindRoute(0, netip.Addr{}, dst, tcpip.IPv6ProtocolNumber, false /* multicastLoop */)
	if err != nil {
		// RFC 4443 §3.1: no route, Destination Unreachable code 0
		// (address unreachable, code 3, when routes match but none
		// can be used).
		st.NoRoute.Inc()
		code := header.ICMPv6AddressUnreachable
		if errors.Is(err, tcpip.ErrNetworkUnreachable) {
			code = header.ICMPv6NoRoute
		}
		e.sendICMPError(pkt, header.ICMPv6DstUnreachable, code, 0, false)
		pkt.Release()
		return
	}
	out := e.p.endpointOn(r.NIC)
	if out == nil || r.Loop&stack.LoopLocal != 0 {
		st.InvalidDestination.Inc()
		pkt.Release()
		return
	}

	// RFC 8200 §5 and RFC 4443 §3.2: routers do not fragment; a packet
	// larger than the next link's MTU is answered with Packet Too Big
	// carrying that MTU.
	size := header.IPv6MinimumSize + int(h.PayloadLength())
	if mtu := int(out.nic.MTU()); size > mtu {
		st.PacketTooBig.Inc()
		e.sendICMPError(pkt, header.ICMPv6PacketTooBig, 0, uint32(mtu), true)
		pkt.Release()
		return
	}

	h.SetHopLimit(h.HopLimit() - 1)
	// The inbound headers in front of the IPv6 header (the link's)
	// become headroom for the outbound link header.
	pkt.TrimHeaders(pkt.HeaderLen() - len(pkt.NetworkHeader()))
	st.PacketsForwarded.Inc()
	nextHop := r.NextHop
	if !nextHop.IsValid() {
		nextHop = dst
	}
	// The path MTU cache is for this host's own packets: the link MTU was
	// checked above.
	out.output(nextHop, netip.Addr{}, tcpip.LinkAddress{}, pkt, false /* mayFragment */)
}
