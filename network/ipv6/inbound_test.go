package ipv6_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Every malformed or misaddressed packet is dropped and counted under its
// own reason, and nothing reaches the transport.
func TestInboundValidation(t *testing.T) {
	payload := udpish(1, 2, []byte("data"))
	good := func() header.IPv6Fields {
		return header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: stationSrc, Dst: hostDst}
	}
	with := func(m func(*header.IPv6Fields)) []byte {
		f := good()
		m(&f)
		return frame(mac(2), mac(9), ip6(f, nil, payload))
	}
	mutate := func(m func(ip []byte)) []byte {
		b := frame(mac(2), mac(9), ip6(good(), nil, payload))
		m(b[header.EthernetMinimumSize:])
		return b
	}
	for _, tc := range []struct {
		name    string
		frame   []byte
		counter string
	}{
		{"too short", mutate(func([]byte) {})[:header.EthernetMinimumSize+39], "IPv6.HeaderTooShort"},
		{"version 4", mutate(func(ip []byte) { ip[0] = 0x45 }), "IPv6.BadVersion"},
		{"payload length past the end", mutate(func(ip []byte) { binary.BigEndian.PutUint16(ip[4:], 1000) }), "IPv6.BadTotalLength"},
		{"multicast source", with(func(f *header.IPv6Fields) { f.Src = addr("ff02::1") }), "IPv6.InvalidSourceAddress"},
		{"loopback source", with(func(f *header.IPv6Fields) { f.Src = addr("::1") }), "IPv6.InvalidSourceAddress"},
		{"v4-mapped source", with(func(f *header.IPv6Fields) { f.Src = addr("::ffff:10.0.0.1") }), "IPv6.InvalidSourceAddress"},
		{"unspecified destination", with(func(f *header.IPv6Fields) { f.Dst = addr("::") }), "IPv6.InvalidDestination"},
		{"loopback destination", with(func(f *header.IPv6Fields) { f.Dst = addr("::1") }), "IPv6.InvalidDestination"},
		{"not ours", with(func(f *header.IPv6Fields) { f.Dst = addr("2001:db8::3") }), "IPv6.InvalidDestination"},
		{"group not joined", with(func(f *header.IPv6Fields) { f.Dst = addr("ff02::1234") }), "IPv6.InvalidDestination"},
		{"interface-local from outside", with(func(f *header.IPv6Fields) { f.Dst = addr("ff01::1") }), "IPv6.InvalidDestination"},
		{"reserved scope", with(func(f *header.IPv6Fields) { f.Dst = addr("ff00::1") }), "IPv6.InvalidDestination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h, b, ft := host(t, stack.TransportPacketHandled)
			h.Send(tc.frame)
			n.run()
			wantCounter(t, b, tc.counter, 1)
			wantCounter(t, b, "IPv6.PacketsReceived", 1)
			wantCounter(t, b, "IPv6.PacketsDelivered", 0)
			if got := ft.take(); len(got) != 0 {
				t.Errorf("delivered %d packets", len(got))
			}
		})
	}
}

// A valid packet with Ethernet padding after it is delivered without the
// padding, and the transport sees the hop limit and traffic class.
func TestInboundPadding(t *testing.T) {
	n, h, b, ft := host(t, stack.TransportPacketHandled)
	payload := udpish(1, 2, []byte("x"))
	fr := frame(mac(2), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: stationSrc, Dst: hostDst, HopLimit: 7, TrafficClass: 0xb8}, nil, payload))
	h.Send(append(fr, make([]byte, 100-len(fr))...))
	n.run()
	got := ft.take()
	if len(got) != 1 {
		t.Fatalf("delivered %d packets, want 1", len(got))
	}
	if !bytes.Equal(got[0].payload, payload) {
		t.Errorf("payload %x, want %x", got[0].payload, payload)
	}
	if got[0].info.TTL != 7 || got[0].info.TOS != 0xb8 || got[0].info.Source != stationSrc {
		t.Errorf("info %+v", got[0].info)
	}
	wantCounter(t, b, "IPv6.PacketsDelivered", 1)
}

// opts encodes options into a Hop-by-Hop or Destination Options header
// naming next.
func opts(next tcpip.TransportProtocolNumber, o ...[]byte) []byte {
	var data []byte
	for _, x := range o {
		data = append(data, x...)
	}
	b := ext(next, data)
	// Pad the rest with PadN (or Pad1) as RFC 8200 §4.2 requires.
	if rest := len(b) - 2 - len(data); rest == 1 {
		b[len(b)-1] = 0
	} else if rest > 1 {
		b[2+len(data)] = 1
		b[3+len(data)] = byte(rest - 2)
	}
	return b
}

// Extension headers are processed in order (RFC 8200 §4): each case says
// whether the payload is delivered, which counter names the drop, and
// which Parameter Problem (code, pointer) goes back, if any.
func TestExtensionHeaders(t *testing.T) {
	const (
		udp  = tcpip.UDPProtocolNumber
		hbh  = tcpip.IPv6HopByHopProtocolNumber
		dst  = tcpip.IPv6DestinationOptionsNumber
		rt   = tcpip.IPv6RoutingProtocolNumber
		none = tcpip.IPv6NoNextHeaderNumber
	)
	routing := func(next tcpip.TransportProtocolNumber, typ, segsLeft byte) []byte {
		return ext(next, []byte{typ, segsLeft, 0, 0, 0, 0})
	}
	pad1 := []byte{0}
	padN := []byte{1, 2, 0, 0}
	ra := []byte{5, 2, 0, 0}
	unknown := func(action byte) []byte { return []byte{action<<6 | 0x1e, 2, 0xaa, 0xbb} }
	type want struct {
		deliver bool
		counter string
		code    int // -1: no parameter problem
		pointer uint32
	}
	for _, tc := range []struct {
		name  string
		first tcpip.TransportProtocolNumber
		exts  []byte
		dst   string
		want  want
	}{
		{"hop-by-hop with padding and router alert", hbh, opts(udp, pad1, padN, ra), "", want{true, "", -1, 0}},
		{"destination options", dst, opts(udp, padN), "", want{true, "", -1, 0}},
		{"hop-by-hop then destination options", hbh, append(opts(dst), opts(udp)...), "", want{true, "", -1, 0}},
		{"hop-by-hop not first", dst, append(opts(hbh), opts(udp)...), "", want{false, "IPv6.MalformedOptions", int(header.ICMPv6UnknownHeader), 40}},
		{"unknown option, skip", dst, opts(udp, unknown(0)), "", want{true, "", -1, 0}},
		{"unknown option, discard", dst, opts(udp, unknown(1)), "", want{false, "IPv6.UnknownOptionDiscarded", -1, 0}},
		{"unknown option, ICMP", dst, opts(udp, unknown(2)), "", want{false, "IPv6.UnknownOptionDiscarded", int(header.ICMPv6UnknownOption), 42}},
		{"unknown option, ICMP even to multicast", dst, opts(udp, unknown(2)), "ff02::1", want{false, "IPv6.UnknownOptionDiscarded", int(header.ICMPv6UnknownOption), 42}},
		{"unknown option, ICMP unless multicast", dst, opts(udp, pad1, unknown(3)), "", want{false, "IPv6.UnknownOptionDiscarded", int(header.ICMPv6UnknownOption), 43}},
		{"unknown option, ICMP unless multicast, to multicast", dst, opts(udp, unknown(3)), "ff02::1", want{false, "IPv6.UnknownOptionDiscarded", -1, 0}},
		{"option past its header", dst, ext(udp, []byte{1, 9, 0, 0, 0, 0}), "", want{false, "IPv6.MalformedOptions", -1, 0}},
		{"routing type 0 with segments left", rt, routing(udp, 0, 1), "", want{false, "IPv6.RoutingHeaderRefused", int(header.ICMPv6ErroneousHeader), 42}},
		{"routing type 0, no segments left", rt, routing(udp, 0, 0), "", want{true, "", -1, 0}},
		{"unknown routing type, no segments left", rt, routing(udp, 200, 0), "", want{true, "", -1, 0}},
		{"unknown routing type with segments left", rt, routing(udp, 200, 3), "", want{false, "IPv6.RoutingHeaderRefused", int(header.ICMPv6ErroneousHeader), 42}},
		{"header past the end", dst, []byte{byte(udp), 3, 1, 0, 0, 0, 0, 0}, "", want{false, "IPv6.MalformedOptions", -1, 0}},
		{"unknown extension header (AH)", header.IPv6AHProtocolNumber, ext(udp, make([]byte, 6)), "", want{false, "IPv6.UnknownProtocol", int(header.ICMPv6UnknownHeader), 6}},
		{"unknown upper layer", 200, nil, "", want{false, "IPv6.UnknownProtocol", int(header.ICMPv6UnknownHeader), 6}},
		{"unknown upper layer after options", dst, opts(201), "", want{false, "IPv6.UnknownProtocol", int(header.ICMPv6UnknownHeader), 40}},
		{"no next header", dst, opts(none), "", want{false, "IPv6.PacketsDelivered", -1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h, b, ft := host(t, stack.TransportPacketHandled)
			d := hostDst
			if tc.dst != "" {
				d = addr(tc.dst)
			}
			payload := udpish(1, 2, []byte("payload"))
			f := header.IPv6Fields{NextHeader: tc.first, Src: stationSrc, Dst: d}
			linkDst := mac(2)
			if d.IsMulticast() {
				linkDst = header.EthernetAddrFromMulticastIPv6(d)
			}
			h.Send(frame(linkDst, mac(9), ip6(f, tc.exts, payload)))
			n.run()
			got := ft.take()
			if tc.want.deliver {
				if len(got) != 1 || !bytes.Equal(got[0].payload, payload) {
					t.Fatalf("delivered %d packets, want the payload", len(got))
				}
				if wantHdr := header.IPv6MinimumSize + len(tc.exts); len(got[0].netHdr) != wantHdr {
					t.Errorf("network header %d bytes, want %d", len(got[0].netHdr), wantHdr)
				}
			} else if len(got) != 0 {
				t.Fatalf("delivered %d packets, want none", len(got))
			}
			if tc.want.counter != "" {
				wantCounter(t, b, tc.want.counter, 1)
			}
			pps, _ := icmpOfType(h.Frames(), header.ICMPv6ParamProblem)
			if tc.want.code < 0 {
				if len(pps) != 0 {
					t.Fatalf("sent %d parameter problems, want none", len(pps))
				}
				return
			}
			if len(pps) != 1 {
				t.Fatalf("sent %d parameter problems, want 1", len(pps))
			}
			if pp := pps[0]; int(pp.Code()) != tc.want.code || pp.Pointer() != tc.want.pointer {
				t.Errorf("parameter problem code %d pointer %d, want code %d pointer %d", pp.Code(), pp.Pointer(), tc.want.code, tc.want.pointer)
			}
			q := pps[0].Payload()
			if orig := ip6(f, tc.exts, payload); !bytes.Equal(q, orig) {
				t.Errorf("quote %x, want the packet %x", q, orig)
			}
		})
	}
}

// A packet for a transport with no endpoint for the port is answered with
// Destination Unreachable, port unreachable (RFC 4443 §3.1 code 4), which
// quotes the packet; nothing answers a multicast packet.
func TestPortUnreachable(t *testing.T) {
	n, h, b, _ := host(t, stack.TransportPacketDestinationPortUnreachable)
	pkt := ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: stationSrc, Dst: hostDst}, nil, udpish(1000, 53, []byte("query")))
	h.Send(frame(mac(2), mac(9), pkt))
	h.Send(frame(header.EthernetAddrFromMulticastIPv6(addr("ff02::1")), mac(9),
		ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: stationSrc, Dst: addr("ff02::1")}, nil, udpish(1000, 53, nil))))
	n.run()
	ms, ps := icmpOfType(h.Frames(), header.ICMPv6DstUnreachable)
	if len(ms) != 1 {
		t.Fatalf("sent %d destination unreachables, want 1", len(ms))
	}
	if ms[0].Code() != header.ICMPv6PortUnreachable || !bytes.Equal(ms[0].Payload(), pkt) {
		t.Errorf("code %d quote %x", ms[0].Code(), ms[0].Payload())
	}
	if ps[0].Source() != hostDst || ps[0].Destination() != stationSrc || !ms[0].IsChecksumValid(hostDst, stationSrc) {
		t.Errorf("error from %s to %s, checksum valid %v", ps[0].Source(), ps[0].Destination(), ms[0].IsChecksumValid(hostDst, stationSrc))
	}
	wantCounter(t, b, "ICMPv6.Sent.DstUnreachable", 1)
	wantCounter(t, b, "ICMPv6.NotSentToErr", 1)
}

// ICMPv6 errors from the network reach the transport endpoint that sent
// the packet in error, translated as Linux does; Packet Too Big lowers the
// path MTU, never below 1280.
func TestErrorsToTransport(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    header.ICMPv6Fields
		kind stack.TransportErrorKind
		err  error
		info uint32
	}{
		{"port unreachable", header.ICMPv6Fields{Type: header.ICMPv6DstUnreachable, Code: header.ICMPv6PortUnreachable}, stack.ErrorPortUnreachable, tcpip.ErrConnectionRefused, 0},
		{"no route", header.ICMPv6Fields{Type: header.ICMPv6DstUnreachable, Code: header.ICMPv6NoRoute}, stack.ErrorNetworkUnreachable, tcpip.ErrNetworkUnreachable, 0},
		{"address unreachable", header.ICMPv6Fields{Type: header.ICMPv6DstUnreachable, Code: header.ICMPv6AddressUnreachable}, stack.ErrorHostUnreachable, tcpip.ErrHostUnreachable, 0},
		{"time exceeded", header.ICMPv6Fields{Type: header.ICMPv6TimeExceeded}, stack.ErrorTTLExceeded, tcpip.ErrHostUnreachable, 0},
		{"packet too big", header.ICMPv6Fields{Type: header.ICMPv6PacketTooBig, MTU: 1400}, stack.ErrorPacketTooBig, tcpip.ErrMessageTooLong, 1400},
		{"packet too big below 1280", header.ICMPv6Fields{Type: header.ICMPv6PacketTooBig, MTU: 600}, stack.ErrorPacketTooBig, tcpip.ErrMessageTooLong, 1280},
		{"parameter problem", header.ICMPv6Fields{Type: header.ICMPv6ParamProblem, Pointer: 7}, stack.ErrorParameterProblem, tcpip.ErrMalformed, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h, b, _ := host(t, stack.TransportPacketHandled)
			ep := register(t, b, tcpip.UDPProtocolNumber, hostDst, 4000, addr("2001:db8:5::5"), 53)
			quoted := ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: hostDst, Dst: addr("2001:db8:5::5")}, nil, udpish(4000, 53, pattern(100)))
			h.Send(frame(mac(2), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.ICMPv6ProtocolNumber, Src: stationSrc, Dst: hostDst}, nil,
				icmpMessage(stationSrc, hostDst, tc.f, quoted))))
			n.run()
			errs := ep.takeErrs()
			if len(errs) != 1 {
				t.Fatalf("endpoint got %d errors, want 1", len(errs))
			}
			e := errs[0]
			if e.Kind != tc.kind || e.Err != tc.err || e.Info != tc.info || e.Source != stationSrc {
				t.Errorf("error %+v, want kind %v err %v info %d", e, tc.kind, tc.err, tc.info)
			}
			if tc.f.Type == header.ICMPv6PacketTooBig {
				// The next packet to that destination is fragmented
				// to the new path MTU.
				b.AddRoute(tcpip.Route{Destination: netipPrefix("::/0"), Gateway: stationSrc, NIC: 1})
				if err := send(t, b, addr("2001:db8:5::5"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(4000, 53, pattern(1450))); err != nil {
					t.Fatal(err)
				}
				n.run()
				frags := 0
				for _, ip := range seenIPv6(h.Frames()) {
					if ip.NextHeader() == tcpip.IPv6FragmentProtocolNumber {
						frags++
					}
					if ip.NextHeader() == tcpip.UDPProtocolNumber {
						t.Errorf("sent unfragmented %d bytes", len(ip))
					}
					if len(ip) > int(tc.info) {
						t.Errorf("sent %d bytes, path MTU %d", len(ip), tc.info)
					}
				}
				if frags != 2 {
					t.Errorf("sent %d fragments, want 2", frags)
				}
			}
		})
	}
}

// A path MTU learnt from Packet Too Big ages out after 10 minutes (RFC 8201
// §4), and a larger value never raises it meanwhile.
func TestPathMTUAging(t *testing.T) {
	n, h, b, _ := host(t, stack.TransportPacketHandled)
	far := addr("2001:db8:5::5")
	b.AddRoute(tcpip.Route{Destination: netipPrefix("::/0"), Gateway: stationSrc, NIC: 1})
	ptb := func(mtu uint32) {
		quoted := ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: hostDst, Dst: far}, nil, udpish(4000, 53, nil))
		h.Send(frame(mac(2), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.ICMPv6ProtocolNumber, Src: stationSrc, Dst: hostDst}, nil,
			icmpMessage(stationSrc, hostDst, header.ICMPv6Fields{Type: header.ICMPv6PacketTooBig, MTU: mtu}, quoted))))
		n.run()
	}
	// largest returns the size of the largest packet sent for a
	// 1450-byte datagram.
	largest := func() int {
		t.Helper()
		h.Frames()
		if err := send(t, b, far, stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(4000, 53, pattern(1442))); err != nil {
			t.Fatal(err)
		}
		n.run()
		m := 0
		for _, ip := range seenIPv6(h.Frames()) {
			m = max(m, len(ip))
		}
		return m
	}
	if got := largest(); got != 1490 {
		t.Fatalf("before: largest packet %d, want 1490", got)
	}
	ptb(1300)
	ptb(1400) // does not raise it
	if got := largest(); got > 1300 {
		t.Fatalf("after Packet Too Big: largest packet %d, want at most 1300", got)
	}
	n.advance(9 * time.Minute)
	if got := largest(); got > 1300 {
		t.Fatalf("after 9 minutes: largest packet %d", got)
	}
	n.advance(time.Minute)
	if got := largest(); got != 1490 {
		t.Fatalf("after 10 minutes: largest packet %d, want 1490", got)
	}
}
