package ipv4_test

import (
	"encoding/binary"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Every malformed or misaddressed datagram is dropped and counted under
// its own reason, and nothing reaches the transport.
func TestInboundValidation(t *testing.T) {
	good := func() header.IPv4Fields {
		return header.IPv4Fields{Protocol: tcpip.UDPProtocolNumber, TTL: 64, Source: addr("10.0.0.9"), Destination: addr("10.0.0.2")}
	}
	payload := udpish(1, 2, []byte("data"))
	build := func(f header.IPv4Fields, mutate func(ip []byte)) []byte {
		b := frame(mac(2), mac(9), f, payload)
		if mutate != nil {
			mutate(b[header.EthernetMinimumSize:])
		}
		return b
	}
	fix := func(ip []byte) { h := header.IPv4(ip); h.SetChecksum(0); h.SetChecksum(h.CalculateChecksum()) }
	with := func(m func(*header.IPv4Fields)) header.IPv4Fields { f := good(); m(&f); return f }
	for _, tc := range []struct {
		name    string
		frame   []byte
		counter string
	}{
		{"too short", build(good(), nil)[:header.EthernetMinimumSize+19], "IPv4.HeaderTooShort"},
		{"version 6", build(good(), func(ip []byte) { ip[0] = 0x65; fix(ip) }), "IPv4.BadVersion"},
		{"IHL 4", build(good(), func(ip []byte) { ip[0] = 0x44; fix(ip) }), "IPv4.BadHeaderLength"},
		{"IHL past the end", build(good(), func(ip []byte) { ip[0] = 0x4f }), "IPv4.BadHeaderLength"},
		{"checksum", build(good(), func(ip []byte) { ip[10] ^= 1 }), "IPv4.ChecksumErrors"},
		{"total length short", build(good(), func(ip []byte) { binary.BigEndian.PutUint16(ip[2:], 19); fix(ip) }), "IPv4.BadTotalLength"},
		{"total length long", build(good(), func(ip []byte) { binary.BigEndian.PutUint16(ip[2:], 1400); fix(ip) }), "IPv4.BadTotalLength"},
		{"multicast source", build(with(func(f *header.IPv4Fields) { f.Source = addr("224.0.0.5") }), nil), "IPv4.InvalidSourceAddress"},
		{"broadcast source", build(with(func(f *header.IPv4Fields) { f.Source = addr("255.255.255.255") }), nil), "IPv4.InvalidSourceAddress"},
		{"directed broadcast source", build(with(func(f *header.IPv4Fields) { f.Source = addr("10.0.0.255") }), nil), "IPv4.InvalidSourceAddress"},
		{"loopback source", build(with(func(f *header.IPv4Fields) { f.Source = addr("127.0.0.1") }), nil), "IPv4.InvalidSourceAddress"},
		{"loopback destination", build(with(func(f *header.IPv4Fields) { f.Destination = addr("127.0.0.1") }), nil), "IPv4.InvalidDestination"},
		{"not ours", build(with(func(f *header.IPv4Fields) { f.Destination = addr("10.0.0.3") }), nil), "IPv4.InvalidDestination"},
		{"group not joined", build(with(func(f *header.IPv4Fields) { f.Destination = addr("239.1.1.1") }), nil), "IPv4.InvalidDestination"},
		{"option length", build(with(func(f *header.IPv4Fields) { f.Options = []byte{7, 40, 4, 0} }), nil), "IPv4.MalformedOptions"},
		{"record route pointer", build(with(func(f *header.IPv4Fields) { f.Options = []byte{7, 7, 2, 0, 0, 0, 0} }), nil), "IPv4.MalformedOptions"},
		{"router alert length", build(with(func(f *header.IPv4Fields) { f.Options = []byte{148, 3, 0} }), nil), "IPv4.MalformedOptions"},
		{"source route", build(with(func(f *header.IPv4Fields) { f.Options = []byte{131, 7, 4, 10, 0, 0, 3} }), nil), "IPv4.RoutingHeaderRefused"},
		{"timestamp overflow", build(with(func(f *header.IPv4Fields) { f.Options = []byte{68, 4, 5, 0xf0} }), nil), "IPv4.MalformedOptions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h, b, ft := fragHost(t)
			h.Send(tc.frame)
			n.run()
			wantCounter(t, b, tc.counter, 1)
			wantCounter(t, b, "IPv4.PacketsReceived", 1)
			wantCounter(t, b, "IPv4.PacketsDelivered", 0)
			if got := ft.take(); len(got) != 0 {
				t.Errorf("delivered %d packets", len(got))
			}
		})
	}
}

// A valid datagram with Ethernet padding after it and unknown options is
// delivered without the padding.
func TestInboundPaddingAndUnknownOptions(t *testing.T) {
	n, h, b, ft := fragHost(t)
	f := header.IPv4Fields{Protocol: tcpip.UDPProtocolNumber, Source: addr("10.0.0.9"), Destination: addr("10.0.0.2"),
		Options: []byte{1, 30, 4, 0, 0, 148, 4, 0, 0}} // NOP, unknown option 30, router alert
	payload := udpish(1, 2, []byte("x"))
	h.Send(frame(mac(2), mac(9), f, payload)) // padded to 60 bytes by nobody: 14+32+9 = 55
	fr := frame(mac(2), mac(9), header.IPv4Fields{Protocol: tcpip.UDPProtocolNumber, Source: addr("10.0.0.9"), Destination: addr("10.0.0.2")}, payload)
	h.Send(append(fr, make([]byte, 60-len(fr))...))
	n.run()
	got := ft.take()
	if len(got) != 2 {
		t.Fatalf("delivered %d packets, want 2", len(got))
	}
	for _, d := range got {
		if string(d.payload) != string(payload) {
			t.Errorf("payload %x, want %x", d.payload, payload)
		}
	}
	wantCounter(t, b, "IPv4.PacketsDelivered", 2)
}

// Limited and directed broadcasts are delivered and marked as such; the
// transport's info says so.
func TestBroadcastReceived(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	ft, f := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	a := n.newStack(stackOpts{})
	b := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{f}})
	n.addNIC(a, 1, h, mac(1), 1500, "10.0.0.1/24")
	n.addNIC(b, 1, h, mac(2), 1500, "10.0.0.2/24")
	n.run()
	for _, dst := range []string{"255.255.255.255", "10.0.0.255"} {
		if err := send(t, a, addr(dst), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1, 2, []byte(dst))); err != nil {
			t.Fatalf("send to %s: %v", dst, err)
		}
	}
	n.run()
	got := ft.take()
	if len(got) != 2 {
		t.Fatalf("delivered %d, want 2", len(got))
	}
	for i, dst := range []string{"255.255.255.255", "10.0.0.255"} {
		if got[i].info.Destination != addr(dst) || !got[i].info.LocalAddressBroadcast || got[i].info.Multicast {
			t.Errorf("%s: info %+v", dst, got[i].info)
		}
	}
	// No ARP was needed for either.
	wantCounter(t, a, "ARP.RequestsSent", 0)
}

func TestProtocolOptions(t *testing.T) {
	n := newNet(t)
	s := n.newStack(stackOpts{})
	for _, tc := range []struct {
		set, get any
	}{
		{ipv4.DefaultTTLOption(32), new(ipv4.DefaultTTLOption)},
		{ipv4.ReassemblyTimeoutOption(60e9), new(ipv4.ReassemblyTimeoutOption)},
		{ipv4.ReassemblyMemoryLimitOption(1 << 20), new(ipv4.ReassemblyMemoryLimitOption)},
		{ipv4.MaxFragmentsOption(10), new(ipv4.MaxFragmentsOption)},
		{ipv4.IGMPVersionOption(2), new(ipv4.IGMPVersionOption)},
		{ipv4.EchoBroadcastReplyOption(true), new(ipv4.EchoBroadcastReplyOption)},
	} {
		if err := s.SetNetworkProtocolOption(ipv4Proto, tc.set); err != nil {
			t.Errorf("Set %T: %v", tc.set, err)
		}
		if err := s.NetworkProtocolOption(ipv4Proto, tc.get); err != nil {
			t.Errorf("Get %T: %v", tc.get, err)
		}
	}
	var ttl ipv4.DefaultTTLOption
	s.NetworkProtocolOption(ipv4Proto, &ttl)
	if ttl != 32 {
		t.Errorf("TTL %d", ttl)
	}
	for _, bad := range []any{ipv4.DefaultTTLOption(0), ipv4.ReassemblyTimeoutOption(0), ipv4.ReassemblyMemoryLimitOption(0), ipv4.MaxFragmentsOption(1), ipv4.IGMPVersionOption(4)} {
		if err := s.SetNetworkProtocolOption(ipv4Proto, bad); err != tcpip.ErrInvalidOptionValue {
			t.Errorf("Set %T(%v): %v", bad, bad, err)
		}
	}
	if err := s.SetNetworkProtocolOption(ipv4Proto, 42); err != tcpip.ErrUnknownProtocolOption {
		t.Errorf("unknown option: %v", err)
	}
	if err := s.NetworkProtocolOption(ipv4Proto, new(int)); err != tcpip.ErrUnknownProtocolOption {
		t.Errorf("unknown option: %v", err)
	}
}

// The default TTL option applies to unicast; multicast gets TTL 1.
func TestDefaultTTL(t *testing.T) {
	n, a, _, _, _ := twoHosts(t, 1500)
	h := n.hubs[0]
	a.SetNetworkProtocolOption(ipv4Proto, ipv4.DefaultTTLOption(17))
	a.AddLinkAddress(1, addr("10.0.0.2"), mac(2))
	h.Frames()
	send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: 253}, []byte("x"))
	if err := a.AddRoute(tcpip.Route{Destination: netipPrefix("224.0.0.0/4"), NIC: 1}); err != nil {
		t.Fatal(err)
	}
	send(t, a, addr("239.0.0.1"), stack.NetworkHeaderParams{Protocol: 253}, []byte("x"))
	ips := seenIPv4(h.Frames())
	if len(ips) != 2 || ips[0].TTL() != 17 || ips[1].TTL() != 1 {
		t.Fatalf("TTLs: %v", ips)
	}
}
