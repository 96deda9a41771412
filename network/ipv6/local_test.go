package ipv6_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/link/loopback"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/raw"
)

// Handle-local: a packet to the stack's own address loops back inside it,
// whatever its size, and never reaches the wire.
func TestHandleLocal(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	ft, f := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	s := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{f}, handleLocal: true})
	n.addNIC(s, 1, h, mac(1), 1500, "2001:db8::1/64")
	n.run()
	h.Frames()
	data := udpish(1, 2, pattern(3000))
	if err := send(t, s, addr("2001:db8::1"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, data); err != nil {
		t.Fatal(err)
	}
	n.run()
	got := ft.take()
	if len(got) != 1 || !bytes.Equal(got[0].payload, data) || got[0].info.Source != addr("2001:db8::1") {
		t.Fatalf("looped back %d packets", len(got))
	}
	if fr := h.Frames(); len(fr) != 0 {
		t.Errorf("%d frames on the wire", len(fr))
	}
	wantCounter(t, s, "IPv6.FragmentsCreated", 0)
}

// A loopback NIC carries ::1 to itself; ::1 from a real link is refused.
func TestLoopback(t *testing.T) {
	n := newNet(t)
	ft, f := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	s := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{f}})
	if err := s.CreateNIC(1, loopback.New(loopback.Options{})); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAddress(1, ipv6Proto, addr("::1")); err != nil {
		t.Fatal(err)
	}
	s.AddRoute(tcpip.Route{Destination: netipPrefix("::1/128"), NIC: 1})
	data := udpish(1, 2, pattern(10))
	if err := send(t, s, addr("::1"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, data); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var got []delivered
	for len(got) == 0 && time.Now().Before(deadline) {
		n.run()
		got = ft.take()
		time.Sleep(time.Millisecond)
	}
	if len(got) != 1 || !bytes.Equal(got[0].payload, data) || got[0].info.Source != addr("::1") {
		t.Fatalf("looped back %d packets", len(got))
	}
	if addrs := s.AllAddresses()[1]; len(addrs) != 1 {
		t.Errorf("loopback NIC addresses %v: no link-local address expected", addrs)
	}
}

// Multicast: a member of a group receives packets to it, until it leaves;
// packets to a group default to hop limit 1 (RFC 3493 §5.2) and loop back
// to the sender's own membership when asked.
func TestMulticastGroups(t *testing.T) {
	n, h, b, ft := host(t, stack.TransportPacketHandled)
	group := addr("ff05::1:3")
	pkt := func() []byte {
		return frame(header.EthernetAddrFromMulticastIPv6(group), mac(9),
			ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: stationSrc, Dst: group}, nil, udpish(1, 2, nil)))
	}
	h.Send(pkt())
	n.run()
	if got := ft.take(); len(got) != 0 {
		t.Fatalf("delivered %d before joining", len(got))
	}
	if err := b.JoinGroup(ipv6Proto, 1, group); err != nil {
		t.Fatal(err)
	}
	if err := b.JoinGroup(ipv6Proto, 1, group); err != nil {
		t.Fatal(err)
	}
	h.Send(pkt())
	n.run()
	if got := ft.take(); len(got) != 1 || !got[0].info.Multicast {
		t.Fatalf("delivered %v after joining", got)
	}
	// Joins are counted: one leave keeps the membership.
	b.LeaveGroup(ipv6Proto, 1, group)
	h.Send(pkt())
	n.run()
	if got := ft.take(); len(got) != 1 {
		t.Fatalf("delivered %d after one of two leaves", len(got))
	}

	// Sending to the group with multicast loop.
	r, err := b.FindRoute(1, hostDst, group, ipv6Proto, true /* multicastLoop */)
	if err != nil {
		t.Fatal(err)
	}
	h.Frames()
	if err := r.WritePacket(stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, buffer.NewPacketFromBytes(r.MaxHeaderLength(), udpish(1, 2, []byte("m")))); err != nil {
		t.Fatal(err)
	}
	n.run()
	if got := ft.take(); len(got) != 1 {
		t.Fatalf("looped %d", len(got))
	}
	frames := h.Frames()
	ips := seenIPv6(frames)
	if len(ips) != 1 || ips[0].Destination() != group || ips[0].HopLimit() != ipv6.DefaultMulticastHopLimit {
		t.Fatalf("on the wire: %v", ips)
	}
	if eth, _ := header.ParseEthernet(frames[0].Bytes); eth.Destination() != header.EthernetAddrFromMulticastIPv6(group) {
		t.Errorf("link destination %v", eth.Destination())
	}

	b.LeaveGroup(ipv6Proto, 1, group)
	h.Send(pkt())
	n.run()
	if got := ft.take(); len(got) != 0 {
		t.Fatalf("delivered %d after leaving", len(got))
	}
	if err := b.LeaveGroup(ipv6Proto, 1, group); err == nil {
		t.Error("leaving a group not joined succeeded")
	}
}

// Source address selection prefers the destination's scope (RFC 6724 §5
// rule 2): the link-local address for link-local destinations, the global
// one for global destinations beyond the link.
func TestSourceAddressScope(t *testing.T) {
	_, _, b, _ := host(t, stack.TransportPacketHandled)
	b.AddRoute(tcpip.Route{Destination: netipPrefix("::/0"), Gateway: linkLocal(9), NIC: 1})
	for _, tc := range []struct{ dst, want string }{
		{"2001:db8:77::1", "2001:db8::2"},
		{linkLocal(9).String(), "fe80::ff:fe00:2"},
		{"ff02::1", "fe80::ff:fe00:2"},
		{"2001:db8::9", "2001:db8::2"},
	} {
		nic := tcpip.NICID(0)
		if a := addr(tc.dst); a.IsLinkLocalUnicast() || a.IsMulticast() {
			nic = 1
		}
		r, err := b.FindRoute(nic, netipZero, addr(tc.dst), ipv6Proto, false)
		if err != nil {
			t.Fatalf("FindRoute(%s): %v", tc.dst, err)
		}
		if r.LocalAddress != addr(tc.want) {
			t.Errorf("source for %s: %s, want %s", tc.dst, r.LocalAddress, tc.want)
		}
	}
}

// The endpoint's sizes: MTU less the fixed header, room for a fragment
// header.
func TestEndpointSizes(t *testing.T) {
	n := newNet(t)
	s := n.newStack(stackOpts{})
	n.addNIC(s, 1, n.hub(), mac(1), 1500, "2001:db8::1/64")
	ep, err := s.NetworkEndpoint(1, ipv6Proto)
	if err != nil {
		t.Fatal(err)
	}
	if ep.MTU() != 1460 || ep.MaxHeaderLength() != 14+48 {
		t.Errorf("MTU %d, MaxHeaderLength %d", ep.MTU(), ep.MaxHeaderLength())
	}
}

// No ICMPv6 error answers an ICMPv6 error (RFC 4443 §2.4(e.1)), even when
// the problem is in an extension header before it; an informational
// message gets one.
func TestNoErrorAboutError(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  []byte
		want int
	}{
		{"error", icmpMessage(stationSrc, hostDst, header.ICMPv6Fields{Type: header.ICMPv6DstUnreachable}, make([]byte, 48)), 0},
		{"redirect", icmpMessage(stationSrc, hostDst, header.ICMPv6Fields{Type: header.ICMPv6Redirect}, make([]byte, 40)), 0},
		{"echo request", echoRequest(stationSrc, hostDst, 1, 1, nil), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h, b, _ := host(t, stack.TransportPacketHandled)
			h.Send(frame(mac(2), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.IPv6DestinationOptionsNumber, Src: stationSrc, Dst: hostDst},
				opts(tcpip.ICMPv6ProtocolNumber, []byte{0x9e, 2, 0, 0}), tc.msg)))
			n.run()
			pps, _ := icmpOfType(h.Frames(), header.ICMPv6ParamProblem)
			if len(pps) != tc.want {
				t.Errorf("sent %d parameter problems, want %d", len(pps), tc.want)
			}
			wantCounter(t, b, "ICMPv6.NotSentToErr", uint64(1-tc.want))
		})
	}
}

// ICMPv6 errors are sent under the stack's rate limit (RFC 4443 §2.4(f)).
func TestErrorRateLimit(t *testing.T) {
	n, h, b, _ := host(t, stack.TransportPacketDestinationPortUnreachable)
	b.SetICMPBurst(3)
	b.SetICMPLimit(1)
	for range 10 {
		h.Send(frame(mac(2), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: stationSrc, Dst: hostDst}, nil, udpish(1, 2, nil))))
	}
	n.run()
	if ms, _ := icmpOfType(h.Frames(), header.ICMPv6DstUnreachable); len(ms) != 3 {
		t.Errorf("sent %d errors, want the burst of 3", len(ms))
	}
	wantCounter(t, b, "ICMPv6.RateLimited", 7)
	n.advance(time.Second)
	h.Send(frame(mac(2), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: stationSrc, Dst: hostDst}, nil, udpish(1, 2, nil))))
	n.run()
	if ms, _ := icmpOfType(h.Frames(), header.ICMPv6DstUnreachable); len(ms) != 1 {
		t.Errorf("sent %d errors a second later, want 1", len(ms))
	}
}

// Raw IPv6 endpoints see ICMPv6 messages and packets of protocols with no
// transport, and send with a header of their own (IPV6_HDRINCL-like).
func TestRawEndpoints(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	b := n.newStack(stackOpts{raw: raw.Factory{}})
	n.addNIC(b, 1, h, mac(2), 1500, "2001:db8::2/64")
	b.AddLinkAddress(1, stationSrc, mac(9))
	n.run()
	h.Frames()
	ep, err := b.NewRawEndpoint(253, ipv6Proto, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	h.Send(frame(mac(2), mac(9), ip6(header.IPv6Fields{NextHeader: 253, Src: stationSrc, Dst: hostDst}, nil, []byte("raw data"))))
	n.run()
	buf := make([]byte, 100)
	res, err := ep.Read(buf, tcpip.ReadOptions{})
	if err != nil || string(buf[:res.N]) != "raw data" {
		t.Fatalf("raw read %q, %v", buf[:res.N], err)
	}
	// Delivered to a raw endpoint: no parameter problem.
	if pps, _ := icmpOfType(h.Frames(), header.ICMPv6ParamProblem); len(pps) != 0 {
		t.Errorf("sent %d parameter problems", len(pps))
	}

	// A header-included packet: Payload Length and source filled in.
	r, err := b.FindRoute(0, netipZero, stationSrc, ipv6Proto, false)
	if err != nil {
		t.Fatal(err)
	}
	pkt := ip6(header.IPv6Fields{NextHeader: 253, Dst: stationSrc, HopLimit: 9, PayloadLength: 1}, nil, []byte("hello"))
	if err := r.WriteHeaderIncludedPacket(buffer.NewPacketFromBytes(r.MaxHeaderLength(), pkt)); err != nil {
		t.Fatal(err)
	}
	ips := seenIPv6(h.Frames())
	if len(ips) != 1 || ips[0].PayloadLength() != 5 || ips[0].Source() != hostDst || ips[0].HopLimit() != 9 || string(ips[0].Payload()) != "hello" {
		t.Fatalf("sent %v", ips)
	}
	if err := r.WriteHeaderIncludedPacket(buffer.NewPacketFromBytes(r.MaxHeaderLength(), []byte{0x45, 0, 0})); err != tcpip.ErrInvalidArgument {
		t.Errorf("bad header: %v", err)
	}
}
