package ipv4_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// redirectFrame returns an Ethernet frame from the router with link
// address mac(from) and IPv4 address src to 10.0.0.1 (mac(1)): a
// Redirect of the given code to gateway gw, quoting a datagram from
// 10.0.0.1 to dst.
func redirectFrame(from byte, src netip.Addr, code header.ICMPv4Code, gw, dst netip.Addr) []byte {
	quoted := make([]byte, header.IPv4MinimumSize+8)
	(&header.IPv4Fields{TotalLength: uint16(len(quoted)), TTL: 63, Protocol: tcpip.UDPProtocolNumber,
		Source: addr("10.0.0.1"), Destination: dst}).Encode(quoted)
	msg := icmpMessage(header.ICMPv4Fields{Type: header.ICMPv4Redirect, Code: code, Gateway: gw}, quoted)
	return frame(mac(1), mac(from), header.IPv4Fields{Protocol: tcpip.ICMPv4ProtocolNumber, Source: src, Destination: addr("10.0.0.1")}, msg)
}

func routeStrings(s *stack.Stack) []string {
	var out []string
	for _, r := range s.GetRouteTable() {
		out = append(out, fmt.Sprintf("%s via %s metric %d", r.Destination, r.Gateway, r.Metric))
	}
	return out
}

// A Redirect from the current first-hop gateway gives the destination a
// host route through the new gateway (RFC 1122 §3.2.2.2, network
// redirects taken as host redirects); one from another node, one naming a
// gateway off the NIC's subnets, or any Redirect to a host that turned
// them off or to a router, changes nothing.
func TestRedirect(t *testing.T) {
	dst := addr("192.0.2.7")
	const want = "192.0.2.7/32 via 10.0.0.253 metric 1"
	for _, tc := range []struct {
		name       string
		from       byte
		src        netip.Addr
		code       header.ICMPv4Code
		gw         netip.Addr
		off        bool
		forwarding bool
		applies    bool
	}{
		{name: "host redirect", from: 9, src: addr("10.0.0.254"), code: header.ICMPv4RedirectHost, gw: addr("10.0.0.253"), applies: true},
		{name: "network redirect", from: 9, src: addr("10.0.0.254"), code: header.ICMPv4RedirectNet, gw: addr("10.0.0.253"), applies: true},
		{name: "not the first hop", from: 8, src: addr("10.0.0.99"), code: header.ICMPv4RedirectHost, gw: addr("10.0.0.253")},
		{name: "gateway off-link", from: 9, src: addr("10.0.0.254"), code: header.ICMPv4RedirectHost, gw: addr("172.16.0.1")},
		{name: "gateway is us", from: 9, src: addr("10.0.0.254"), code: header.ICMPv4RedirectHost, gw: addr("10.0.0.1")},
		{name: "unknown code", from: 9, src: addr("10.0.0.254"), code: 4, gw: addr("10.0.0.253")},
		{name: "turned off", from: 9, src: addr("10.0.0.254"), code: header.ICMPv4RedirectHost, gw: addr("10.0.0.253"), off: true},
		{name: "router", from: 9, src: addr("10.0.0.254"), code: header.ICMPv4RedirectHost, gw: addr("10.0.0.253"), forwarding: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNet(t)
			h := n.hub()
			s := n.newStack(stackOpts{})
			n.addNIC(s, 1, h, mac(1), 1500, "10.0.0.1/24")
			if err := s.AddRoute(tcpip.Route{Destination: netip.MustParsePrefix("0.0.0.0/0"), Gateway: addr("10.0.0.254"), NIC: 1}); err != nil {
				t.Fatal(err)
			}
			if tc.off {
				if err := s.SetNetworkProtocolOption(ipv4Proto, ipv4.AcceptRedirectsOption(false)); err != nil {
					t.Fatal(err)
				}
			}
			s.SetForwarding(ipv4Proto, tc.forwarding)
			h.Send(redirectFrame(tc.from, tc.src, tc.code, tc.gw, dst))
			n.run()
			if got := slices.Contains(routeStrings(s), want); got != tc.applies {
				t.Fatalf("routes %q: redirect applied %v, want %v", routeStrings(s), got, tc.applies)
			}
			r, err := s.FindRoute(0, netip.Addr{}, dst, ipv4Proto, false)
			if err != nil {
				t.Fatal(err)
			}
			wantHop := addr("10.0.0.254")
			if tc.applies {
				wantHop = addr("10.0.0.253")
			}
			if r.NextHop != wantHop {
				t.Errorf("next hop to %s: %s, want %s", dst, r.NextHop, wantHop)
			}
			wantCounter(t, s, "ICMPv4.Received.Redirect", 1)
		})
	}
}
