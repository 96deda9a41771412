package ipv6_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Fuzz mode bits: what to fix up in the fuzzer's bytes so that it gets
// past the checksums, and how the frame is addressed.
const (
	// fuzzFixLength sets the Payload Length to what follows the header.
	fuzzFixLength = 1 << 0
	// fuzzFixChecksum sets the ICMPv6 checksum of the last header of
	// the chain when it is ICMPv6.
	fuzzFixChecksum  = 1 << 1
	fuzzLinkDstShift = 3 // two bits: ours, all-nodes, solicited-node, another host's
	// fuzzSplit: the data is two frames, the first's length in the
	// first two bytes (to let fragments meet).
	fuzzSplit = 1 << 7
)

// fuzzFrames splits the fuzzer's data into the frames it describes.
func fuzzFrames(mode byte, data []byte) [][]byte {
	if mode&fuzzSplit != 0 && len(data) >= 2 {
		if n := int(data[0])<<8 | int(data[1]); n <= len(data)-2 {
			return [][]byte{fuzzFrame(mode, data[2:2+n]), fuzzFrame(mode, data[2+n:])}
		}
	}
	return [][]byte{fuzzFrame(mode, data)}
}

// fuzzJoin is the inverse of fuzzFrames for seeds.
func fuzzJoin(a, b []byte) []byte {
	return append(append([]byte{byte(len(a) >> 8), byte(len(a))}, a...), b...)
}

// fuzzFrame turns the fuzzer's bytes into a frame for the stack's NIC 1.
func fuzzFrame(mode byte, data []byte) []byte {
	data = append([]byte(nil), data...)
	if len(data) >= header.IPv6MinimumSize {
		if mode&fuzzFixLength != 0 {
			n := len(data) - header.IPv6MinimumSize
			data[4], data[5] = byte(n>>8), byte(n)
		}
		if mode&fuzzFixChecksum != 0 {
			ip := header.IPv6(data)
			it := ip.ExtHdrs()
			for {
				h, ok := it.Next()
				if !ok {
					break
				}
				if h.UpperLayer && h.Type == tcpip.ICMPv6ProtocolNumber && len(h.Bytes) >= header.ICMPv6MinimumSize {
					m := header.ICMPv6(h.Bytes)
					m.SetChecksum(0)
					m.SetChecksum(m.CalculateChecksum(ip.Source(), ip.Destination()))
				}
			}
		}
	}
	dst := mac(2)
	switch (mode >> fuzzLinkDstShift) & 3 {
	case 1:
		dst = header.EthernetAddrFromMulticastIPv6(header.IPv6AllNodesMulticastAddr)
	case 2:
		dst = header.EthernetAddrFromMulticastIPv6(header.SolicitedNodeAddr(hostDst))
	case 3:
		dst = mac(0x33)
	}
	b := make([]byte, header.EthernetMinimumSize, header.EthernetMinimumSize+len(data))
	(&header.EthernetFields{Destination: dst, Source: mac(9), Type: ipv6Proto}).Encode(b)
	return append(b, data...)
}

// fuzzSeeds are valid packets of each kind the inbound path handles.
func fuzzSeeds() [][]byte {
	pkt := func(next tcpip.TransportProtocolNumber, dst netip.Addr, hop uint8, exts, payload []byte) []byte {
		return ip6(header.IPv6Fields{NextHeader: next, Src: stationSrc, Dst: dst, HopLimit: hop}, exts, payload)
	}
	icmp := func(dst netip.Addr, hop uint8, msg []byte) []byte {
		return pkt(tcpip.ICMPv6ProtocolNumber, dst, hop, nil, msg)
	}
	snm := header.SolicitedNodeAddr(hostDst)
	udp := udpish(1, 2, pattern(200))
	quoted := ip6(header.IPv6Fields{NextHeader: tcpip.UDPProtocolNumber, Src: hostDst, Dst: addr("2001:db8:5::5")}, nil, udpish(4000, 53, nil))
	return [][]byte{
		icmp(hostDst, 64, echoRequest(stationSrc, hostDst, 1, 2, []byte("seed"))),
		icmp(snm, 255, ndpMessage(stationSrc, snm, header.ICMPv6NeighborSolicit, 0, nsBody(hostDst, mac(9)))),
		icmp(header.IPv6AllNodesMulticastAddr, 255, ndpMessage(stationSrc, header.IPv6AllNodesMulticastAddr, header.ICMPv6NeighborAdvert, 0,
			naBody(header.NDPNeighborAdvertFields{Override: true, TargetAddress: stationSrc}, mac(9)))),
		icmp(hostDst, 64, icmpMessage(stationSrc, hostDst, header.ICMPv6Fields{Type: header.ICMPv6PacketTooBig, MTU: 1280}, quoted)),
		pkt(tcpip.IPv6HopByHopProtocolNumber, hostDst, 64, append(opts(tcpip.IPv6DestinationOptionsNumber, []byte{5, 2, 0, 0}), opts(tcpip.UDPProtocolNumber, []byte{0x9e, 1, 0})...), udp),
		pkt(tcpip.IPv6RoutingProtocolNumber, hostDst, 64, ext(tcpip.UDPProtocolNumber, []byte{0, 1, 0, 0, 0, 0}), udp),
		fuzzJoin(pkt(tcpip.IPv6FragmentProtocolNumber, hostDst, 64, fragHdr(tcpip.UDPProtocolNumber, 0, true, 7), udp[:96]),
			pkt(tcpip.IPv6FragmentProtocolNumber, hostDst, 64, fragHdr(tcpip.UDPProtocolNumber, 96, false, 7), udp[96:])),
		pkt(tcpip.IPv6FragmentProtocolNumber, hostDst, 64, fragHdr(tcpip.ICMPv6ProtocolNumber, 0, false, 8), echoRequest(stationSrc, hostDst, 1, 1, nil)),
		pkt(tcpip.UDPProtocolNumber, addr("2001:db8:1::5"), 2, nil, udpish(1, 2, pattern(1500))),
	}
}

// FuzzIPv6Inbound feeds arbitrary frames to a router stack running IPv6
// (extension headers, fragments, NDP, ICMPv6 errors, forwarding), then
// lets every timer fire: nothing may panic, and once the stack is closed
// no timer and no buffer may remain.
func FuzzIPv6Inbound(f *testing.F) {
	seeds := fuzzSeeds()
	for i, s := range seeds {
		mode := byte(fuzzFixLength | fuzzFixChecksum)
		switch i {
		case 1:
			mode |= 2 << fuzzLinkDstShift
		case 2:
			mode |= 1 << fuzzLinkDstShift
		case 6:
			mode = fuzzSplit | fuzzFixChecksum
		}
		f.Add(mode, s)
	}
	f.Fuzz(fuzzIPv6Inbound)
}

func fuzzIPv6Inbound(t *testing.T, mode byte, data []byte) {
	before := buffer.ReadStats()
	clock := tcpip.NewManualClock()
	_, fu := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketDestinationPortUnreachable)
	_, fi := newFakeTransport(tcpip.ICMPv6ProtocolNumber, stack.TransportPacketHandled)
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{fu, fi},
		Clock:              clock,
	})
	h1, h2 := testlink.NewHub(), testlink.NewHub()
	s.CreateNIC(1, h1.NewPort(mac(2), 1500).Link())
	s.CreateNIC(2, h2.NewPort(mac(3), 1280).Link())
	s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv6Proto, Address: netip.MustParsePrefix("2001:db8::2/64")}, stack.AddressProperties{})
	s.AddProtocolAddress(2, tcpip.ProtocolAddress{Protocol: ipv6Proto, Address: netip.MustParsePrefix("2001:db8:1::1/64")}, stack.AddressProperties{})
	s.SetRouteTable([]tcpip.Route{
		{Destination: netip.MustParsePrefix("2001:db8::/64"), NIC: 1},
		{Destination: netip.MustParsePrefix("2001:db8:1::/64"), NIC: 2},
		{Destination: netip.MustParsePrefix("::/0"), Gateway: addr("2001:db8:1::5"), NIC: 2},
	})
	s.AddLinkAddress(1, stationSrc, mac(9))
	s.AddLinkAddress(2, addr("2001:db8:1::5"), mac(5))
	s.SetForwarding(ipv6Proto, true)
	s.JoinGroup(ipv6Proto, 1, addr("ff02::1:2:3"))

	for _, fr := range fuzzFrames(mode, data) {
		h1.Send(fr)
	}
	testlink.Run(clock, h1, h2)
	for range 4 {
		clock.Advance(20 * time.Second)
		testlink.Run(clock, h1, h2)
	}
	s.Close()
	if p := clock.Pending(); p != 0 {
		t.Fatalf("%d timers pending after Close", p)
	}
	after := buffer.ReadStats()
	if after.PacketsInUse != before.PacketsInUse || after.ChunksInUse != before.ChunksInUse {
		t.Fatalf("buffers leaked: packets %d -> %d, chunks %d -> %d", before.PacketsInUse, after.PacketsInUse, before.ChunksInUse, after.ChunksInUse)
	}
}

// hostFuzzSeeds are valid packets of the host-side parts of NDP and MLD:
// a Router Advertisement with every option, a Redirect, a Router
// Solicitation, DAD probes and MLD queries.
func hostFuzzSeeds() [][]byte {
	all := header.IPv6AllNodesMulticastAddr
	rtr := linkLocal(9)
	ra := raFrame(9, header.NDPRouterAdvertFields{CurHopLimit: 9, Managed: true, RouterLifetime: time.Minute, ReachableTime: time.Second, RetransTimer: time.Second},
		&header.NDPLinkLayerAddressFields{Type: header.NDPOptionSourceLinkLayerAddress, Address: mac(9)},
		&header.NDPMTUFields{MTU: 1400},
		prefixOpt("2001:db8:1::/64", true, true, time.Hour, 30*time.Second),
		&header.NDPRouteInformationFields{Prefix: netip.MustParsePrefix("2001:db8:7::/48"), Lifetime: time.Minute},
		&header.NDPRDNSSFields{Lifetime: time.Minute, Addresses: []netip.Addr{addr("2001:db8::53")}},
		&header.NDPDNSSLFields{Lifetime: time.Minute, Domains: []string{"example.com"}},
	)[header.EthernetMinimumSize:]
	rd := make([]byte, header.NDPRedirectMinimumSize)
	(&header.NDPRedirectFields{TargetAddress: linkLocal(7), DestinationAddress: addr("2001:db8:5::5")}).Encode(rd)
	rs := make([]byte, header.NDPRouterSolicitMinimumSize)
	snm := header.SolicitedNodeAddr(hostDst)
	q2 := header.MLDv2QueryFields{MaxResponseDelay: time.Second, QRV: 2, QueryInterval: time.Minute}
	qb := make([]byte, q2.Size())
	q2.Encode(qb)
	hbh := []byte{byte(tcpip.ICMPv6ProtocolNumber), 0, 5, 2, 0, 0, 1, 0}
	return [][]byte{
		ra,
		ip6(header.IPv6Fields{NextHeader: tcpip.ICMPv6ProtocolNumber, Src: rtr, Dst: hostDst, HopLimit: 255}, nil, ndpMessage(rtr, hostDst, header.ICMPv6Redirect, 0, rd)),
		ip6(header.IPv6Fields{NextHeader: tcpip.ICMPv6ProtocolNumber, Src: linkLocal(8), Dst: header.IPv6AllRoutersMulticastAddr, HopLimit: 255}, nil,
			ndpMessage(linkLocal(8), header.IPv6AllRoutersMulticastAddr, header.ICMPv6RouterSolicit, 0, rs)),
		ip6(header.IPv6Fields{NextHeader: tcpip.ICMPv6ProtocolNumber, Src: netip.IPv6Unspecified(), Dst: snm, HopLimit: 255}, nil,
			ndpMessage(netip.IPv6Unspecified(), snm, header.ICMPv6NeighborSolicit, 0, nsBody(hostDst, tcpip.LinkAddress{}))),
		ip6(header.IPv6Fields{NextHeader: 0, Src: rtr, Dst: all, HopLimit: 1}, hbh, ndpMessage(rtr, all, header.ICMPv6MLDQuery, 0, qb)),
	}
}

// FuzzIPv6HostNDP feeds arbitrary frames to a host stack with the RFC
// defaults of DAD, router discovery and SLAAC, temporary addresses and
// MLD on (and, with mode bit 2, to a stack that forwards and advertises),
// then lets every timer fire: nothing may panic, and once the stack is
// closed no timer and no buffer may remain.
func FuzzIPv6HostNDP(f *testing.F) {
	for i, s := range hostFuzzSeeds() {
		mode := byte(fuzzFixLength | fuzzFixChecksum | 1<<fuzzLinkDstShift)
		if i == 2 {
			mode |= 1 << 2
		}
		f.Add(mode, s)
	}
	f.Fuzz(fuzzIPv6Host)
}

func fuzzIPv6Host(t *testing.T, mode byte, data []byte) {
	before := buffer.ReadStats()
	clock := tcpip.NewManualClock()
	cfg := stack.DefaultNDPConfigurations()
	cfg.AutoGenTempGlobalAddresses = true
	cfg.SendRouterAdvertisements = true
	cfg.AdvPrefixes = []stack.NDPAdvertisedPrefix{{Prefix: netip.MustParsePrefix("2001:db8:9::/64"), OnLink: true, Autonomous: true}}
	s := stack.New(stack.Options{
		NetworkProtocols: []stack.NetworkProtocolFactory{ipv6.NewProtocol},
		Clock:            clock,
		NDPConfigs:       cfg,
	})
	s.SetNetworkProtocolOption(ipv6Proto, ipv6.MLDOption{Enabled: true})
	if mode&(1<<2) != 0 {
		s.SetForwarding(ipv6Proto, true)
	}
	h := testlink.NewHub()
	s.CreateNIC(1, h.NewPort(mac(2), 1500).Link())
	s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv6Proto, Address: netip.MustParsePrefix("2001:db8::2/64")}, stack.AddressProperties{})
	s.AddRoute(tcpip.Route{Destination: netip.MustParsePrefix("2001:db8::/64"), NIC: 1})
	clock.Advance(5 * time.Second)
	testlink.Run(clock, h)
	for _, fr := range fuzzFrames(mode, data) {
		h.Send(fr)
	}
	testlink.Run(clock, h)
	for range 6 {
		clock.Advance(20 * time.Minute)
		testlink.Run(clock, h)
	}
	s.Close()
	if p := clock.Pending(); p != 0 {
		t.Fatalf("%d timers pending after Close", p)
	}
	after := buffer.ReadStats()
	if after.PacketsInUse != before.PacketsInUse || after.ChunksInUse != before.ChunksInUse {
		t.Fatalf("buffers leaked: packets %d -> %d, chunks %d -> %d", before.PacketsInUse, after.PacketsInUse, before.ChunksInUse, after.ChunksInUse)
	}
}
