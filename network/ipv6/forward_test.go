package ipv6_test

import (
	"bytes"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// router builds R between two hubs: NIC 1 (2001:db8:1::1, MAC 1) on h1,
// NIC 2 (2001:db8:2::1, MAC 2, MTU mtu2) on h2, with forwarding on and
// static entries for the stations 2001:db8:1::9 (MAC 9) and 2001:db8:2::9
// (MAC 0x19).
func router(t *testing.T, mtu2 uint32) (*testNet, *testlink.Hub, *testlink.Hub, *stack.Stack) {
	n := newNet(t)
	h1, h2 := n.hub(), n.hub()
	r := n.newStack(stackOpts{})
	n.addNIC(r, 1, h1, mac(1), 1500, "2001:db8:1::1/64")
	n.addNIC(r, 2, h2, mac(2), mtu2, "2001:db8:2::1/64")
	r.SetForwarding(ipv6Proto, true)
	r.AddLinkAddress(1, addr("2001:db8:1::9"), mac(9))
	r.AddLinkAddress(2, addr("2001:db8:2::9"), mac(0x19))
	n.run()
	h1.Frames()
	h2.Frames()
	return n, h1, h2, r
}

// A forwarded packet leaves by the other NIC with its Hop Limit one less
// and nothing else changed.
func TestForward(t *testing.T) {
	n, h1, h2, r := router(t, 1500)
	pkt := ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: addr("2001:db8:1::9"), Dst: addr("2001:db8:2::9"), HopLimit: 10, TrafficClass: 0x10, FlowLabel: 0x12345},
		opts(tcpip.UDPProtocolNumber, []byte{0x1e, 2, 0, 0}), udpish(1, 2, pattern(100)))
	h1.Send(frame(mac(1), mac(9), pkt))
	n.run()
	got := seenIPv6(h2.Frames())
	if len(got) != 1 {
		t.Fatalf("forwarded %d packets, want 1", len(got))
	}
	want := append([]byte(nil), pkt...)
	want[7] = 9
	if !bytes.Equal(got[0], want) {
		t.Errorf("forwarded %x, want %x", got[0], want)
	}
	wantCounter(t, r, "IPv6.PacketsForwarded", 1)
}

// Packets the router cannot forward are answered as RFC 4443 §3 says.
func TestForwardErrors(t *testing.T) {
	src := addr("2001:db8:1::9")
	for _, tc := range []struct {
		name    string
		f       header.IPv6Fields
		size    int
		counter string
		typ     header.ICMPv6Type
		code    header.ICMPv6Code
		word    uint32
	}{
		{"hop limit", header.IPv6Fields{Src: src, Dst: addr("2001:db8:2::9"), HopLimit: 1}, 100, "IPv6.HopLimitExceeded", header.ICMPv6TimeExceeded, header.ICMPv6HopLimitExceeded, 0},
		{"too big", header.IPv6Fields{Src: src, Dst: addr("2001:db8:2::9")}, 1400, "IPv6.PacketTooBig", header.ICMPv6PacketTooBig, 0, 1280},
		{"no route", header.IPv6Fields{Src: src, Dst: addr("2001:db8:3::9")}, 100, "IPv6.NoRoute", header.ICMPv6DstUnreachable, header.ICMPv6NoRoute, 0},
		{"link-local source", header.IPv6Fields{Src: linkLocal(9), Dst: addr("2001:db8:2::9")}, 100, "IPv6.LinkLocalNotForwarded", header.ICMPv6DstUnreachable, header.ICMPv6BeyondScope, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h1, h2, r := router(t, 1280)
			r.AddLinkAddress(1, linkLocal(9), mac(9))
			tc.f.NextHeader = tcpip.UDPProtocolNumber
			pkt := ip6(tc.f, nil, udpish(1, 2, pattern(tc.size)))
			h1.Send(frame(mac(1), mac(9), pkt))
			n.run()
			if got := seenIPv6(h2.Frames()); len(got) != 0 {
				t.Errorf("forwarded %d packets", len(got))
			}
			wantCounter(t, r, tc.counter, 1)
			ms, ps := icmpOfType(h1.Frames(), tc.typ)
			if len(ms) != 1 {
				t.Fatalf("sent %d messages of type %v, want 1", len(ms), tc.typ)
			}
			m := ms[0]
			if m.Code() != tc.code || header.ICMPv6(m).Pointer() != tc.word || ps[0].Destination() != tc.f.Src {
				t.Errorf("code %d word %d to %s", m.Code(), m.Pointer(), ps[0].Destination())
			}
			if len(ps[0]) > header.IPv6MinimumMTU {
				t.Errorf("error of %d bytes", len(ps[0]))
			}
			q := m.Payload()
			if !bytes.HasPrefix(pkt, q) || len(q) < min(len(pkt), header.IPv6MinimumMTU-48) {
				t.Errorf("quote of %d bytes is not the packet's first %d", len(q), min(len(pkt), header.IPv6MinimumMTU-48))
			}
		})
	}
}

// Packets to a link-local destination are not forwarded, and nothing is
// answered (RFC 4291 §2.5.6).
func TestForwardLinkLocalDestination(t *testing.T) {
	n, h1, h2, r := router(t, 1500)
	h1.Send(frame(mac(1), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: addr("2001:db8:1::9"), Dst: linkLocal(0x19)}, nil, udpish(1, 2, nil))))
	n.run()
	if got := seenIPv6(h2.Frames()); len(got) != 0 {
		t.Errorf("forwarded %d packets", len(got))
	}
	wantCounter(t, r, "IPv6.LinkLocalNotForwarded", 1)
}

// A router processes the Hop-by-Hop Options header (RFC 8200 §4): an
// unknown option whose type says "discard" stops the packet there, one
// that says "skip" lets it through untouched.
func TestForwardHopByHop(t *testing.T) {
	for _, tc := range []struct {
		name    string
		option  byte
		forward bool
		icmp    bool
	}{
		{"skip", 0x1e, true, false},
		{"discard", 0x5e, false, false},
		{"discard with ICMP", 0x9e, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h1, h2, r := router(t, 1500)
			pkt := ip6(header.IPv6Fields{NextHeader: tcpip.IPv6HopByHopProtocolNumber, Src: addr("2001:db8:1::9"), Dst: addr("2001:db8:2::9")},
				opts(tcpip.UDPProtocolNumber, []byte{tc.option, 2, 0, 0}), udpish(1, 2, nil))
			h1.Send(frame(mac(1), mac(9), pkt))
			n.run()
			if got := len(seenIPv6(h2.Frames())); got != map[bool]int{true: 1, false: 0}[tc.forward] {
				t.Errorf("forwarded %d packets", got)
			}
			pps, _ := icmpOfType(h1.Frames(), header.ICMPv6ParamProblem)
			if (len(pps) == 1) != tc.icmp || (tc.icmp && (pps[0].Code() != header.ICMPv6UnknownOption || pps[0].Pointer() != 42)) {
				t.Errorf("parameter problems %v", pps)
			}
			if !tc.forward {
				wantCounter(t, r, "IPv6.UnknownOptionDiscarded", 1)
			}
		})
	}
}
