package ipv4_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Fuzz mode bits: what to fix up in the fuzzer's bytes so that it gets
// past the checksums, and how the frame is addressed.
const (
	fuzzFixIPChecksum    = 1 << 0
	fuzzFixInnerChecksum = 1 << 1
	fuzzARP              = 1 << 2
	fuzzLinkDstShift     = 3 // two bits: ours, broadcast, multicast, another host's
	// fuzzHost: the stack does not forward, so it acts on redirects.
	fuzzHost = 1 << 5
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
	typ := ipv4Proto
	if mode&fuzzARP != 0 {
		typ = tcpip.ARPProtocolNumber
	} else if len(data) >= header.IPv4MinimumSize {
		hl := int(data[0]&0xf) * 4
		if hl >= header.IPv4MinimumSize && hl <= len(data) {
			if mode&fuzzFixInnerChecksum != 0 && len(data) >= hl+4 {
				inner := data[hl:]
				inner[2], inner[3] = 0, 0
				x := ^header.Checksum(inner, 0)
				inner[2], inner[3] = byte(x>>8), byte(x)
			}
			if mode&fuzzFixIPChecksum != 0 {
				h := header.IPv4(data[:hl])
				h.SetChecksum(0)
				h.SetChecksum(h.CalculateChecksum())
			}
		}
	}
	dst := mac(2)
	switch (mode >> fuzzLinkDstShift) & 3 {
	case 1:
		dst = tcpip.BroadcastLinkAddress
	case 2:
		dst = tcpip.LinkAddress{1, 0, 0x5e, 0, 0, 1}
	case 3:
		dst = mac(0x33)
	}
	b := make([]byte, header.EthernetMinimumSize, header.EthernetMinimumSize+len(data))
	(&header.EthernetFields{Destination: dst, Source: mac(9), Type: typ}).Encode(b)
	return append(b, data...)
}

// fuzzSeeds are valid packets of each kind the inbound path handles.
func fuzzSeeds() [][]byte {
	ip := func(f header.IPv4Fields, payload []byte) []byte {
		if f.Source == (netip.Addr{}) {
			f.Source = addr("10.0.0.9")
		}
		if f.Destination == (netip.Addr{}) {
			f.Destination = addr("10.0.0.2")
		}
		return frame(mac(2), mac(9), f, payload)[header.EthernetMinimumSize:]
	}
	var rr [40]byte
	var ra [4]byte
	(&header.IPv4RouterAlertOptionFields{}).Encode(ra[:])
	arpReq := make([]byte, header.ARPSize)
	(&header.ARPFields{Op: header.ARPRequest, SenderHardwareAddress: mac(9), SenderProtocolAddress: addr("10.0.0.9"), TargetProtocolAddress: addr("10.0.0.2")}).Encode(arpReq)
	payload := udpish(1, 2, pattern(64))
	return [][]byte{
		ip(header.IPv4Fields{Protocol: tcpip.ICMPv4ProtocolNumber}, echoRequest(1, 2, []byte("seed"))),
		ip(header.IPv4Fields{Protocol: tcpip.ICMPv4ProtocolNumber, Options: (&header.IPv4RecordRouteOptionFields{Slots: 9}).Encode(rr[:])}, echoRequest(1, 2, nil)),
		ip(header.IPv4Fields{Protocol: tcpip.UDPProtocolNumber}, udpish(1, 2, []byte("x"))),
		ip(header.IPv4Fields{Protocol: 200}, []byte("12345678")),
		fuzzJoin(ip(header.IPv4Fields{Protocol: tcpip.UDPProtocolNumber, ID: 7, Flags: header.IPv4FlagMoreFragments}, payload[:32]),
			ip(header.IPv4Fields{Protocol: tcpip.UDPProtocolNumber, ID: 7, FragmentOffset: 32}, payload[32:])),
		ip(header.IPv4Fields{Protocol: tcpip.IGMPProtocolNumber, TTL: 1, Destination: addr("224.0.0.1"), Options: ra[:]}, v3Query(time.Second, netip.IPv4Unspecified())),
		ip(header.IPv4Fields{Protocol: tcpip.IGMPProtocolNumber, TTL: 1, Destination: addr("224.0.0.1"), Options: ra[:]}, v2Query(time.Second, netip.IPv4Unspecified())),
		ip(header.IPv4Fields{Protocol: tcpip.UDPProtocolNumber, Destination: addr("10.0.1.5"), TTL: 2}, udpish(1, 2, pattern(1600))),
		ip(header.IPv4Fields{Protocol: tcpip.ICMPv4ProtocolNumber}, icmpMessage(header.ICMPv4Fields{Type: header.ICMPv4DstUnreachable, Code: header.ICMPv4FragmentationNeeded, MTU: 1000},
			ip(header.IPv4Fields{Protocol: tcpip.UDPProtocolNumber, Source: addr("10.0.0.2"), Destination: addr("10.0.0.9")}, udpish(53, 4000, nil)))),
		ip(header.IPv4Fields{Protocol: tcpip.ICMPv4ProtocolNumber, Source: addr("10.0.0.9")}, icmpMessage(header.ICMPv4Fields{Type: header.ICMPv4Redirect, Code: header.ICMPv4RedirectHost, Gateway: addr("10.0.0.8")},
			ip(header.IPv4Fields{Protocol: tcpip.UDPProtocolNumber, Source: addr("10.0.0.2"), Destination: addr("192.0.2.7")}, udpish(53, 4000, nil)))),
		arpReq,
	}
}

// FuzzIPv4Inbound feeds arbitrary frames to a router stack running IPv4
// and ARP, then lets every timer fire: nothing may panic, and once the
// stack is closed no timer and no buffer may remain.
func FuzzIPv4Inbound(f *testing.F) {
	seeds := fuzzSeeds()
	for i, s := range seeds {
		mode := byte(fuzzFixIPChecksum | fuzzFixInnerChecksum)
		switch i {
		case 4:
			mode |= fuzzSplit
		case len(seeds) - 2:
			mode |= fuzzHost
		case len(seeds) - 1:
			mode = fuzzARP | 1<<fuzzLinkDstShift
		}
		f.Add(mode, s)
	}
	f.Fuzz(fuzzIPv4Inbound)
}

func fuzzIPv4Inbound(t *testing.T, mode byte, data []byte) {
	{
		before := buffer.ReadStats()
		clock := tcpip.NewManualClock()
		_, fu := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketDestinationPortUnreachable)
		_, fi := newFakeTransport(tcpip.ICMPv4ProtocolNumber, stack.TransportPacketHandled)
		s := stack.New(stack.Options{
			NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
			TransportProtocols: []stack.TransportProtocolFactory{fu, fi},
			Clock:              clock,
		})
		h1, h2 := testlink.NewHub(), testlink.NewHub()
		s.CreateNIC(1, h1.NewPort(mac(2), 1500).Link())
		s.CreateNIC(2, h2.NewPort(mac(3), 1000).Link())
		s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4Proto, Address: netip.MustParsePrefix("10.0.0.2/24")}, stack.AddressProperties{})
		s.AddProtocolAddress(2, tcpip.ProtocolAddress{Protocol: ipv4Proto, Address: netip.MustParsePrefix("10.0.1.1/24")}, stack.AddressProperties{})
		s.SetRouteTable([]tcpip.Route{
			{Destination: netip.MustParsePrefix("10.0.0.0/24"), NIC: 1},
			{Destination: netip.MustParsePrefix("10.0.1.0/24"), NIC: 2},
			{Destination: netip.MustParsePrefix("192.0.2.0/24"), Gateway: addr("10.0.0.9"), NIC: 1},
			{Destination: netip.MustParsePrefix("0.0.0.0/0"), Gateway: addr("10.0.1.5"), NIC: 2},
		})
		s.AddLinkAddress(1, addr("10.0.0.9"), mac(9))
		s.AddLinkAddress(2, addr("10.0.1.5"), mac(5))
		s.SetForwarding(ipv4Proto, mode&fuzzHost == 0)
		s.JoinGroup(ipv4Proto, 1, addr("239.1.2.3"))
		s.SetNetworkProtocolOption(ipv4Proto, ipv4.EchoBroadcastReplyOption(true))

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
}
