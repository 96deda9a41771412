package ipv4

import (
	"errors"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// forward sends a datagram that is not for this host on towards its
// destination (RFC 1812 §5.2, §5.3). The caller checked that forwarding is
// on and that the datagram came to this NIC's link address. h is the
// header in pkt's header area. It owns pkt.
func (e *endpoint) forward(pkt *buffer.Packet, h header.IPv4, opts ipv4Options) {
	st := &e.p.stats.IPv4
	src, dst := h.Source(), h.Destination()

	// RFC 3927 §7: datagrams from or to IPv4 link-local addresses
	// never leave their link.
	if src.IsLinkLocalUnicast() || dst.IsLinkLocalUnicast() {
		st.LinkLocalNotForwarded.Inc()
		pkt.Release()
		return
	}
	// RFC 1812 §5.3.7: a router does not forward a datagram from 0.0.0.0
	// (or from 0/8): such a source names no host beyond this link.
	if src.As4()[0] == 0 {
		st.InvalidSourceAddress.Inc()
		pkt.Release()
		return
	}
	// RFC 1812 §5.3.1: a datagram whose TTL would reach zero is
	// discarded and its sender told with Time Exceeded, code 0.
	if h.TTL() <= 1 {
		st.HopLimitExceeded.Inc()
		e.sendICMPError(pkt, header.ICMPv4TimeExceeded, header.ICMPv4TTLExceeded, 0, 0)
		pkt.Release()
		return
	}

	r, err := e.p.s.FindRoute(0, netip.Addr{}, dst, tcpip.IPv4ProtocolNumber, false /* multicastLoop */)
	if err != nil {
		// RFC 1812 §5.2.7.1: no route, Destination Unreachable; the
		// code follows Linux (net unreachable when no route matches,
		// host unreachable when routes match but none can be used).
		st.NoRoute.Inc()
		code := header.ICMPv4HostUnreachable
		if errors.Is(err, tcpip.ErrNetworkUnreachable) {
			code = header.ICMPv4NetUnreachable
		}
		e.sendICMPError(pkt, header.ICMPv4DstUnreachable, code, 0, 0)
		pkt.Release()
		return
	}
	out := e.p.endpointOn(r.NIC)
	if out == nil || r.Loop&stack.LoopLocal != 0 || r.IsOutboundBroadcast() {
		// A directed broadcast of another subnet is not forwarded
		// (RFC 2644 §3 turns directed-broadcast forwarding off by
		// default); a route that loops back means the destination is
		// this host after all, which classify ruled out.
		st.InvalidDestination.Inc()
		pkt.Release()
		return
	}

	// RFC 1191 §4 and RFC 1812 §5.2.7.1: a datagram larger than the
	// next hop's MTU with Don't Fragment set is answered with
	// "fragmentation needed" carrying that MTU.
	mtu := int(out.nic.MTU())
	if int(h.TotalLength()) > mtu && h.DontFragment() {
		st.PacketTooBig.Inc()
		e.sendICMPError(pkt, header.ICMPv4DstUnreachable, header.ICMPv4FragmentationNeeded, uint16(min(mtu, header.IPv4MaximumPacketSize)), 0)
		pkt.Release()
		return
	}

	// RFC 1812 §5.3.1: decrement the TTL; SetTTL updates the checksum
	// incrementally (RFC 1624), so corruption is not hidden.
	h.SetTTL(h.TTL() - 1)
	if opts.recordRoute >= 0 || opts.timestamp >= 0 {
		// RFC 791 §3.1: a router records the address of the interface
		// it sends the datagram out of.
		changed, ok := ipv4RecordOptions(h, opts, r.LocalAddress, e.p.s.Clock().Now())
		if !ok {
			st.MalformedOptions.Inc()
			pkt.Release()
			return
		}
		if changed {
			h.SetChecksum(h.CalculateChecksum())
		}
	}

	// The inbound headers in front of the IPv4 header (the link's)
	// become headroom for the outbound link header.
	pkt.TrimHeaders(pkt.HeaderLen() - h.HeaderLength())
	st.PacketsForwarded.Inc()
	nextHop := r.NextHop
	if !nextHop.IsValid() {
		nextHop = dst
	}
	out.output(nextHop, tcpip.LinkAddress{}, pkt, true /* mayFragment */)
}
