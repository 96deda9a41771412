package ipv4

import (
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// redirectRouteMetric is the metric of the host routes Redirects add: below
// the metric of a route the user adds without one (0 sorts first, so a
// user's own host route for the destination still wins), above nothing
// else, as the IPv6 protocol's redirect routes.
const redirectRouteMetric = 1

// AcceptRedirectsOption makes a host act on ICMP Redirects (RFC 1122
// §3.2.2.2: a host "MUST update its routing information" when it receives
// one); on by default, as Linux's accept_redirects on a host. Turning it off
// (Linux's accept_redirects=0, a hardening many deployments apply) keeps the
// route table exactly the user's. A stack that forwards never acts on them
// (RFC 1812 §4.3.3.2 lets a forwarding router ignore them; Linux does).
type AcceptRedirectsOption bool

// handleRedirect applies a Redirect (RFC 792) after the checks of RFC 1122
// §3.2.2.2: the message comes from the current first-hop gateway for the
// quoted datagram's destination, and the new gateway is on a subnet of the
// NIC it arrived on. The destination then gets a host route through the
// new gateway. icmp is the message's header; pkt holds the message (the
// caller still owns it).
func (e *endpoint) handleRedirect(pkt *buffer.Packet, icmp header.ICMPv4, info stack.NetworkPacketInfo) {
	st := &e.p.stats.ICMPv4
	if !e.p.acceptRedirects.Load() || e.p.s.Forwarding(tcpip.IPv4ProtocolNumber) {
		return
	}
	if icmp.Code() > header.ICMPv4RedirectTOSHost {
		st.Malformed.Inc()
		return
	}
	var q [header.IPv4MinimumSize]byte
	if n, _ := pkt.Payload.ReadAt(q[:], header.ICMPv4MinimumSize); n < len(q) || q[0]>>4 != header.IPv4Version {
		st.Malformed.Inc()
		return
	}
	dst, gw := header.IPv4(q[:]).Destination(), icmp.Gateway()
	if !e.isSingleHost(gw) || !e.isSingleHost(dst) || e.isOwnedByStack(gw) || gw == dst {
		st.Malformed.Inc()
		return
	}
	// RFC 1122 §3.2.2.2: "the new gateway address it specifies is not on
	// the same connected (sub-)net through which the Redirect arrived"
	// means discard.
	onLink := false
	for _, a := range e.nic.Addresses(tcpip.IPv4ProtocolNumber) {
		if a.Address.Contains(gw) {
			onLink = true
			break
		}
	}
	if !onLink {
		st.Malformed.Inc()
		return
	}
	// RFC 1122 §3.2.2.2: neither if "the source of the Redirect is not
	// the current first-hop gateway for the specified destination".
	r, err := e.p.s.FindRoute(e.nic.ID(), netip.Addr{}, dst, tcpip.IPv4ProtocolNumber, false)
	if err != nil || r.NIC != e.nic.ID() || r.NextHop != info.Source {
		st.Malformed.Inc()
		return
	}
	// RFC 1122 §3.2.2.2: "a Network Redirect message SHOULD be treated
	// identically to a Host Redirect message" (the subnet mask is not
	// known), and the TOS codes as their plain ones (RFC 1349's TOS
	// routing is obsolete: RFC 2474).
	host := netip.PrefixFrom(dst, 32)
	id := e.nic.ID()
	e.p.s.RemoveRoutes(func(r tcpip.Route) bool {
		return r.NIC == id && r.Destination == host && r.Metric == redirectRouteMetric
	})
	_ = e.p.s.AddRoute(tcpip.Route{Destination: host, Gateway: gw, NIC: id, Metric: redirectRouteMetric})
}
