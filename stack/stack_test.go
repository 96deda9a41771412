package stack

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/tcpip"
)

var (
	ipv4 = tcpip.IPv4ProtocolNumber
	ipv6 = tcpip.IPv6ProtocolNumber
)

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

type testStack struct {
	*Stack
	clock *tcpip.ManualClock
	links map[tcpip.NICID]*fakeLink
}

func newTestStack(t *testing.T, opts Options) *testStack {
	t.Helper()
	leakcheck.Check(t)
	clock := tcpip.NewManualClock()
	opts.Clock = clock
	if opts.NetworkProtocols == nil {
		opts.NetworkProtocols = []NetworkProtocolFactory{newFakeNetProto(ipv4), newFakeNetProto(ipv6)}
	}
	s := New(opts)
	t.Cleanup(func() {
		s.Close()
		s.Wait()
		if n := clock.Pending(); n != 0 {
			t.Errorf("%d timers pending after Close", n)
		}
	})
	return &testStack{Stack: s, clock: clock, links: map[tcpip.NICID]*fakeLink{}}
}

func (ts *testStack) addNIC(t *testing.T, id tcpip.NICID, addrs ...string) *fakeLink {
	t.Helper()
	l := &fakeLink{mtu: 1500}
	if err := ts.CreateNIC(id, l); err != nil {
		t.Fatalf("CreateNIC(%d): %v", id, err)
	}
	for _, a := range addrs {
		p := mustPrefix(a)
		if err := ts.AddProtocolAddress(id, tcpip.ProtocolAddress{Protocol: tcpip.NetworkProtocolFor(p.Addr()), Address: p}, AddressProperties{}); err != nil {
			t.Fatalf("AddProtocolAddress(%d, %s): %v", id, a, err)
		}
	}
	ts.links[id] = l
	return l
}

func (ts *testStack) fakeEP(id tcpip.NICID, proto tcpip.NetworkProtocolNumber) *fakeNetEP {
	ep, _ := ts.NetworkEndpoint(id, proto)
	return ep.(*fakeNetEP)
}

func TestNICLifecycle(t *testing.T) {
	s := newTestStack(t, Options{})
	l := &fakeLink{mtu: 1500}
	if err := s.CreateNICWithOptions(1, l, NICOptions{Name: "eth0", Disabled: true, Context: "ctx"}); err != nil {
		t.Fatal(err)
	}
	if l.dispatcher() != nil {
		t.Fatal("a disabled NIC attached to its link")
	}
	if err := s.CreateNIC(1, &fakeLink{}); !errors.Is(err, tcpip.ErrDuplicateNICID) {
		t.Fatalf("duplicate ID: %v", err)
	}
	if err := s.CreateNICWithOptions(2, &fakeLink{}, NICOptions{Name: "eth0"}); !errors.Is(err, tcpip.ErrDuplicateNICID) {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := s.CreateNIC(0, &fakeLink{}); !errors.Is(err, tcpip.ErrInvalidArgument) {
		t.Fatalf("ID 0: %v", err)
	}
	if !s.HasNIC(1) || s.CheckNIC(1) || s.HasNIC(9) {
		t.Fatal("HasNIC/CheckNIC wrong for a disabled NIC")
	}
	if err := s.EnableNIC(1); err != nil {
		t.Fatal(err)
	}
	if l.dispatcher() == nil || !s.CheckNIC(1) || !s.fakeEP(1, ipv4).enabled {
		t.Fatal("EnableNIC did not attach and enable")
	}
	info := s.NICInfo()[1]
	if info.Name != "eth0" || info.Context != "ctx" || !info.Flags.Up || info.MTU != 1500 {
		t.Fatalf("NICInfo = %+v", info)
	}
	if id, ok := s.NICByName("eth0"); !ok || id != 1 {
		t.Fatal("NICByName")
	}
	if err := s.DisableNIC(1); err != nil {
		t.Fatal(err)
	}
	if l.dispatcher() != nil || s.fakeEP(1, ipv4).enabled {
		t.Fatal("DisableNIC did not detach and disable")
	}
	s.AddRoute(tcpip.Route{Destination: mustPrefix("0.0.0.0/0"), NIC: 1})
	ep := s.fakeEP(1, ipv4)
	if err := s.RemoveNIC(1); err != nil {
		t.Fatal(err)
	}
	if !l.closed || s.HasNIC(1) || len(s.GetRouteTable()) != 0 || !ep.closed {
		t.Fatal("RemoveNIC did not close the link, the endpoints and the routes")
	}
	if err := s.RemoveNIC(1); !errors.Is(err, tcpip.ErrUnknownNICID) {
		t.Fatalf("second RemoveNIC: %v", err)
	}
	if err := s.EnableNIC(7); !errors.Is(err, tcpip.ErrUnknownNICID) {
		t.Fatalf("EnableNIC unknown: %v", err)
	}
}

func TestAddresses(t *testing.T) {
	s := newTestStack(t, Options{})
	s.addNIC(t, 1, "10.0.0.1/24")
	ep := s.fakeEP(1, ipv4)
	add := func(a string, peb PrimaryEndpointBehavior) error {
		p := mustPrefix(a)
		return s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.NetworkProtocolFor(p.Addr()), Address: p}, AddressProperties{PEB: peb})
	}
	if err := add("10.0.0.1/16", CanBePrimaryEndpoint); !errors.Is(err, tcpip.ErrDuplicateAddress) {
		t.Fatalf("duplicate: %v", err)
	}
	for _, bad := range []tcpip.ProtocolAddress{
		{Protocol: ipv6, Address: mustPrefix("10.9.9.9/24")},
		{Protocol: ipv4, Address: mustPrefix("0.0.0.0/0")},
		{Protocol: ipv4, Address: mustPrefix("224.0.0.1/32")},
		{Protocol: ipv4},
	} {
		if err := s.AddProtocolAddress(1, bad, AddressProperties{}); !errors.Is(err, tcpip.ErrInvalidArgument) {
			t.Errorf("AddProtocolAddress(%v) = %v", bad, err)
		}
	}
	if err := s.AddProtocolAddress(9, tcpip.ProtocolAddress{Protocol: ipv4, Address: mustPrefix("10.1.1.1/8")}, AddressProperties{}); !errors.Is(err, tcpip.ErrUnknownNICID) {
		t.Fatalf("unknown NIC: %v", err)
	}
	main := func() string {
		p, err := s.GetMainNICAddress(1, ipv4)
		if err != nil {
			t.Fatal(err)
		}
		return p.String()
	}
	if got := main(); got != "10.0.0.1/24" {
		t.Fatalf("main = %s", got)
	}
	add("10.0.0.2/24", NeverPrimaryEndpoint)
	add("10.0.0.3/24", FirstPrimaryEndpoint)
	if got := main(); got != "10.0.0.3/24" {
		t.Fatalf("main after FirstPrimary = %s", got)
	}
	s.SetAddressProperties(1, mustAddr("10.0.0.3"), AddressProperties{PEB: FirstPrimaryEndpoint, Deprecated: true})
	if got := main(); got != "10.0.0.1/24" {
		t.Fatalf("main with the first deprecated = %s", got)
	}
	if owner := s.CheckLocalAddress(0, ipv4, mustAddr("10.0.0.2")); owner != 1 {
		t.Fatalf("CheckLocalAddress = %d", owner)
	}
	if owner := s.CheckLocalAddress(0, ipv4, mustAddr("10.0.0.9")); owner != 0 {
		t.Fatalf("CheckLocalAddress of a foreign address = %d", owner)
	}
	if err := s.RemoveAddress(1, mustAddr("10.0.0.3")); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAddress(1, mustAddr("10.0.0.3")); !errors.Is(err, tcpip.ErrAddressNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	if len(ep.added) != 3 || len(ep.removed) != 1 || ep.removed[0] != mustPrefix("10.0.0.3/24") {
		t.Fatalf("protocol told: added %v removed %v", ep.added, ep.removed)
	}
	all := s.AllAddresses()[1]
	if len(all) != 2 || all[0].Address != mustPrefix("10.0.0.1/24") {
		t.Fatalf("AllAddresses = %v", all)
	}
	// Tentative addresses are not usable.
	s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv6, Address: mustPrefix("fd00::1/64")}, AddressProperties{Tentative: true})
	if s.CheckLocalAddress(1, ipv6, mustAddr("fd00::1")) != 0 {
		t.Fatal("tentative address usable")
	}
	if p, _ := s.GetMainNICAddress(1, ipv6); p.IsValid() {
		t.Fatalf("tentative address chosen as main: %v", p)
	}
}

func TestAddressRanges(t *testing.T) {
	s := newTestStack(t, Options{})
	s.addNIC(t, 1)
	if err := s.AddAddressRange(1, ipv4, mustPrefix("192.168.7.0/24")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAddressRange(1, ipv4, mustPrefix("192.168.7.9/24")); !errors.Is(err, tcpip.ErrDuplicateAddress) {
		t.Fatalf("duplicate range: %v", err)
	}
	for addr, want := range map[string]bool{
		"192.168.7.0": false, "192.168.7.1": true, "192.168.7.254": true, "192.168.7.255": false, "192.168.8.1": false,
	} {
		if got := s.CheckLocalAddress(0, ipv4, mustAddr(addr)) == 1; got != want {
			t.Errorf("%s in range: %v, want %v", addr, got, want)
		}
	}
	if r := s.NICAddressRanges()[1]; len(r) != 1 || r[0] != mustPrefix("192.168.7.0/24") {
		t.Fatalf("NICAddressRanges = %v", r)
	}
	if err := s.RemoveAddressRange(1, mustPrefix("192.168.7.0/24")); err != nil {
		t.Fatal(err)
	}
	if s.CheckLocalAddress(0, ipv4, mustAddr("192.168.7.1")) != 0 {
		t.Fatal("range still answers after removal")
	}
}

func TestRouteTableOrder(t *testing.T) {
	s := newTestStack(t, Options{})
	routes := []tcpip.Route{
		{Destination: mustPrefix("0.0.0.0/0"), Gateway: mustAddr("10.0.0.254"), NIC: 1, Metric: 100},
		{Destination: mustPrefix("10.1.0.0/16"), NIC: 2, Metric: 20},
		{Destination: mustPrefix("10.1.0.0/16"), NIC: 3, Metric: 10},
		{Destination: mustPrefix("10.1.2.0/24"), NIC: 1},
		{Destination: mustPrefix("0.0.0.0/0"), Gateway: mustAddr("10.0.0.253"), NIC: 1, Metric: 100},
	}
	s.SetRouteTable(routes)
	got := s.GetRouteTable()
	want := []tcpip.Route{routes[3], routes[2], routes[1], routes[0], routes[4]}
	if !slices.Equal(got, want) {
		t.Fatalf("table order\n got %v\nwant %v", got, want)
	}
	if err := s.AddRoute(routes[3]); !errors.Is(err, tcpip.ErrDuplicateAddress) {
		t.Fatalf("duplicate AddRoute: %v", err)
	}
	if n := s.RemoveRoutes(func(r tcpip.Route) bool { return r.NIC == 1 }); n != 3 {
		t.Fatalf("RemoveRoutes removed %d", n)
	}
}

func TestFindRoute(t *testing.T) {
	s := newTestStack(t, Options{})
	s.addNIC(t, 1, "10.0.0.1/24", "fd00::1/64")
	s.addNIC(t, 2, "10.1.0.1/16")
	s.addNIC(t, 3, "10.2.0.1/16")
	s.addNIC(t, 4) // no address
	s.SetRouteTable([]tcpip.Route{
		{Destination: mustPrefix("10.0.0.0/24"), NIC: 1},
		{Destination: mustPrefix("10.1.0.0/16"), NIC: 2, Metric: 20},
		{Destination: mustPrefix("10.1.0.0/16"), NIC: 3, Metric: 10},
		{Destination: mustPrefix("172.16.0.0/12"), NIC: 4},
		{Destination: mustPrefix("0.0.0.0/0"), Gateway: mustAddr("10.0.0.254"), NIC: 1},
		{Destination: mustPrefix("fd00::/64"), NIC: 1},
	})
	for _, tc := range []struct {
		name          string
		nic           tcpip.NICID
		local, remote string
		wantNIC       tcpip.NICID
		wantLocal     string
		wantNextHop   string
		wantLink      tcpip.LinkAddress
		wantErr       error
	}{
		{name: "on-link", remote: "10.0.0.7", wantNIC: 1, wantLocal: "10.0.0.1"},
		{name: "metric wins", remote: "10.1.3.4", wantNIC: 3, wantLocal: "10.2.0.1"},
		{name: "NIC restricts", nic: 2, remote: "10.1.3.4", wantNIC: 2, wantLocal: "10.1.0.1"},
		{name: "local address picks NIC", local: "10.1.0.1", remote: "10.1.3.4", wantNIC: 2, wantLocal: "10.1.0.1"},
		{name: "default via gateway", remote: "8.8.8.8", wantNIC: 1, wantLocal: "10.0.0.1", wantNextHop: "10.0.0.254"},
		{name: "ipv6 on-link", remote: "fd00::9", wantNIC: 1, wantLocal: "fd00::1"},
		{name: "no route", remote: "2001:db8::1", wantErr: tcpip.ErrNetworkUnreachable},
		{name: "route but no source address", remote: "172.16.0.1", wantErr: tcpip.ErrNoRoute},
		{name: "foreign local", local: "10.9.9.9", remote: "10.0.0.7", wantErr: tcpip.ErrBadLocalAddress},
		{name: "foreign local on NIC without spoofing", nic: 1, local: "10.9.9.9", remote: "10.0.0.7", wantErr: tcpip.ErrBadLocalAddress},
		{name: "limited broadcast on NIC", nic: 2, remote: "255.255.255.255", wantNIC: 2, wantLocal: "10.1.0.1", wantLink: tcpip.BroadcastLinkAddress},
		{name: "limited broadcast by table", remote: "255.255.255.255", wantNIC: 1, wantLocal: "10.0.0.1", wantLink: tcpip.BroadcastLinkAddress},
		{name: "directed broadcast", remote: "10.0.0.255", wantNIC: 1, wantLocal: "10.0.0.1", wantLink: tcpip.BroadcastLinkAddress},
		{name: "multicast without route", nic: 3, remote: "224.0.0.251", wantNIC: 3, wantLocal: "10.2.0.1"},
		{name: "link-local without route", nic: 1, remote: "fe80::2", wantNIC: 1, wantLocal: "fd00::1"},
		{name: "link-local without NIC", remote: "fe80::2", wantErr: tcpip.ErrNetworkUnreachable},
		{name: "unknown NIC", nic: 9, remote: "224.0.0.1", wantErr: tcpip.ErrUnknownNICID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var local netip.Addr
			if tc.local != "" {
				local = mustAddr(tc.local)
			}
			remote := mustAddr(tc.remote)
			r, err := s.FindRoute(tc.nic, local, remote, tcpip.NetworkProtocolFor(remote), false)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var nh netip.Addr
			if tc.wantNextHop != "" {
				nh = mustAddr(tc.wantNextHop)
			}
			if r.NIC != tc.wantNIC || r.LocalAddress != mustAddr(tc.wantLocal) || r.NextHop != nh || r.RemoteLinkAddress != tc.wantLink || r.Loop != LoopOut {
				t.Fatalf("route = %+v", r)
			}
		})
	}
	// ErrNetworkUnreachable and ErrNoRoute map to distinct errnos.
	if tcpip.ErrnoOf(tcpip.ErrNetworkUnreachable) == tcpip.ErrnoOf(tcpip.ErrNoRoute) {
		t.Fatal("the two route errors share an errno")
	}
	// A disabled NIC's routes are skipped: with NIC 3 down the /16 goes to NIC 2.
	s.DisableNIC(3)
	if r, err := s.FindRoute(0, netip.Addr{}, mustAddr("10.1.3.4"), ipv4, false); err != nil || r.NIC != 2 {
		t.Fatalf("with NIC 3 down: %v %v", r, err)
	}
	s.SetSpoofing(1, true)
	if r, err := s.FindRoute(1, mustAddr("10.9.9.9"), mustAddr("10.0.0.7"), ipv4, false); err != nil || r.LocalAddress != mustAddr("10.9.9.9") {
		t.Fatalf("spoofing: %v %v", r, err)
	}
}

func TestFindRouteMulticastLoopAndHandleLocal(t *testing.T) {
	s := newTestStack(t, Options{HandleLocal: true})
	s.addNIC(t, 1, "10.0.0.1/24")
	s.addNIC(t, 2, "10.5.0.1/24")
	group := mustAddr("239.1.2.3")
	s.JoinGroup(ipv4, 1, group)
	r, err := s.FindRoute(1, netip.Addr{}, group, ipv4, true)
	if err != nil || r.Loop != LoopOut|LoopLocal {
		t.Fatalf("multicast loop route: %+v %v", r, err)
	}
	if r, _ := s.FindRoute(1, netip.Addr{}, group, ipv4, false); r.Loop != LoopOut {
		t.Fatal("multicast loop without multicastLoop")
	}
	if !s.IsInGroup(1, group) || s.IsInGroup(2, group) {
		t.Fatal("IsInGroup")
	}
	// A packet to our own address on another NIC loops back internally,
	// delivered from a clock callback and not from inside the send.
	r, err = s.FindRoute(0, netip.Addr{}, mustAddr("10.5.0.1"), ipv4, false)
	if err != nil || r.Loop != LoopLocal || r.NIC != 2 {
		t.Fatalf("handle-local route: %+v %v", r, err)
	}
	pkt := buffer.NewPacketFromBytes(64, []byte("payload"))
	copy(pkt.PrependHeader(buffer.NetworkLayer, 4), "hdr:")
	if err := r.WritePacket(NetworkHeaderParams{}, pkt); err != nil {
		t.Fatal(err)
	}
	ep := s.fakeEP(2, ipv4)
	if len(ep.takeHandled()) != 0 {
		t.Fatal("local delivery happened inside the send")
	}
	s.clock.Advance(0)
	got := ep.takeHandled()
	if len(got) != 1 {
		t.Fatalf("delivered %d packets", len(got))
	}
	if b := got[0].Payload.Flatten(); string(b) != "hdr:payload" || got[0].NIC != 2 {
		t.Fatalf("looped packet %q on NIC %d", b, got[0].NIC)
	}
	got[0].Release()
	if len(s.links[2].written) != 0 {
		t.Fatal("handle-local packet also went out")
	}
}

func TestInboundDispatch(t *testing.T) {
	s := newTestStack(t, Options{})
	l := s.addNIC(t, 1, "10.0.0.1/24")
	ep := s.fakeEP(1, ipv4)
	d := l.dispatcher()
	deliver := func(proto tcpip.NetworkProtocolNumber, typ buffer.PacketType) {
		p := buffer.NewPacketFromBytes(0, []byte{1, 2, 3, 4})
		p.Type = typ
		d.DeliverNetworkPacket(proto, p)
	}
	deliver(ipv4, buffer.PacketHost)
	deliver(0x88cc, buffer.PacketHost)
	deliver(ipv4, buffer.PacketOtherHost)
	s.SetPromiscuousMode(1, true)
	deliver(ipv4, buffer.PacketOtherHost)
	s.DisableNIC(1)
	d.DeliverNetworkPacket(ipv4, buffer.NewPacketFromBytes(0, []byte{1}))
	for _, p := range ep.takeHandled() {
		if p.NIC != 1 || p.NetworkProtocol != ipv4 {
			t.Fatalf("packet NIC %d proto %v", p.NIC, p.NetworkProtocol)
		}
		p.Release()
	}
	st := s.NICInfo()[1].Stats.Snapshot()
	for name, want := range map[string]uint64{"RxPackets": 4, "RxUnknownProtocol": 1, "RxNotForUs": 1, "RxDisabled": 1} {
		if got, _ := st.Get(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if got, _ := s.Stats().NICs.Snapshot().Get("RxNotForUs"); got != 1 {
		t.Errorf("stack-wide RxNotForUs = %d", got)
	}
}

func TestOutboundCounters(t *testing.T) {
	s := newTestStack(t, Options{})
	l := s.addNIC(t, 1, "10.0.0.1/24")
	s.AddRoute(tcpip.Route{Destination: mustPrefix("10.0.0.0/24"), NIC: 1})
	r, err := s.FindRoute(0, netip.Addr{}, mustAddr("10.0.0.2"), ipv4, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WritePacket(NetworkHeaderParams{}, buffer.NewPacketFromBytes(32, make([]byte, 100))); err != nil {
		t.Fatal(err)
	}
	l.err = tcpip.ErrWouldBlock
	if err := r.WritePacket(NetworkHeaderParams{}, buffer.NewPacketFromBytes(32, make([]byte, 100))); !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("full link: %v", err)
	}
	l.err = nil
	s.DisableNIC(1)
	if err := r.WritePacket(NetworkHeaderParams{}, buffer.NewPacketFromBytes(32, make([]byte, 100))); !errors.Is(err, tcpip.ErrNetworkDown) {
		t.Fatalf("disabled NIC: %v", err)
	}
	st := s.NICInfo()[1].Stats.Snapshot()
	for name, want := range map[string]uint64{"TxPackets": 1, "TxBytes": 100, "TxQueueFull": 1, "TxDisabled": 1} {
		if got, _ := st.Get(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if len(l.written) != 1 || l.written[0].LinkSource != l.addr || l.written[0].Type != buffer.PacketOutgoing {
		t.Fatalf("written %v", l.written)
	}
}

func TestICMPRateLimit(t *testing.T) {
	s := newTestStack(t, Options{})
	if s.ICMPLimit() != DefaultICMPLimit || s.ICMPBurst() != DefaultICMPBurst {
		t.Fatal("defaults")
	}
	s.SetICMPLimit(10)
	s.SetICMPBurst(3)
	allowed := 0
	for range 10 {
		if s.AllowICMPMessage() {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("burst allowed %d", allowed)
	}
	s.clock.Advance(250 * time.Millisecond) // 2.5 tokens
	allowed = 0
	for range 10 {
		if s.AllowICMPMessage() {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("after 250ms at 10/s allowed %d", allowed)
	}
	s.clock.Advance(time.Hour)
	allowed = 0
	for range 10 {
		if s.AllowICMPMessage() {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("bucket overfilled: %d", allowed)
	}
}

func TestProtocolOptionsAndEndpoints(t *testing.T) {
	s := newTestStack(t, Options{})
	if err := s.SetNetworkProtocolOption(0x1234, 1); !errors.Is(err, tcpip.ErrUnknownProtocol) {
		t.Fatalf("unknown network protocol: %v", err)
	}
	if err := s.SetNetworkProtocolOption(ipv4, 1); !errors.Is(err, tcpip.ErrUnknownProtocolOption) {
		t.Fatalf("unknown option: %v", err)
	}
	if err := s.SetTransportProtocolOption(tcpip.TCPProtocolNumber, 1); !errors.Is(err, tcpip.ErrUnknownProtocol) {
		t.Fatalf("unknown transport protocol: %v", err)
	}
	if _, err := s.NewEndpoint(tcpip.UDPProtocolNumber, ipv4); !errors.Is(err, tcpip.ErrUnknownProtocol) {
		t.Fatalf("NewEndpoint without the protocol: %v", err)
	}
	if _, err := s.NewRawEndpoint(tcpip.UDPProtocolNumber, ipv4, false); !errors.Is(err, tcpip.ErrNotPermitted) {
		t.Fatalf("raw without RawFactory: %v", err)
	}
	if _, err := s.NewPacketEndpoint(true, 0); !errors.Is(err, tcpip.ErrNotPermitted) {
		t.Fatalf("packet without RawFactory: %v", err)
	}
	if s.Forwarding(ipv4) {
		t.Fatal("forwarding on by default")
	}
	s.SetForwarding(ipv4, true)
	if !s.Forwarding(ipv4) || s.Forwarding(ipv6) {
		t.Fatal("SetForwarding")
	}
	if a, b := s.UniqueID(), s.UniqueID(); a == b {
		t.Fatal("UniqueID repeats")
	}
}

func TestStackCloseClosesNICs(t *testing.T) {
	s := newTestStack(t, Options{})
	l := s.addNIC(t, 1, "10.0.0.1/24")
	s.Close()
	s.Wait()
	if !l.closed || s.HasNIC(1) {
		t.Fatal("Close left a NIC")
	}
	if err := s.CreateNIC(2, &fakeLink{}); !errors.Is(err, tcpip.ErrStackClosed) {
		t.Fatalf("CreateNIC after Close: %v", err)
	}
	s.Close() // idempotent
}

// Routes to the same destination are shared while one is in use, so that
// many connections to one peer hold one Route; a route table change that
// moves the path gives a new Route, and the old one is untouched.
func TestFindRouteShared(t *testing.T) {
	s := newTestStack(t, Options{})
	s.addNIC(t, 1, "10.0.0.1/24")
	s.addNIC(t, 2, "10.1.0.1/24")
	s.SetRouteTable([]tcpip.Route{{Destination: mustPrefix("0.0.0.0/0"), Gateway: mustAddr("10.0.0.254"), NIC: 1}})
	find := func() *Route {
		t.Helper()
		r, err := s.FindRoute(0, netip.Addr{}, mustAddr("8.8.8.8"), ipv4, false)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1, r2 := find(), find()
	if r1 != r2 {
		t.Fatalf("two lookups of one path: %p and %p, want one Route", r1, r2)
	}
	if r3, err := s.FindRoute(0, netip.Addr{}, mustAddr("8.8.4.4"), ipv4, false); err != nil || r3 == r1 || r3.RemoteAddress != mustAddr("8.8.4.4") {
		t.Fatalf("another destination: %+v %v", r3, err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: mustPrefix("0.0.0.0/0"), Gateway: mustAddr("10.1.0.254"), NIC: 2}})
	r4 := find()
	if r4 == r1 || r4.NIC != 2 || r4.NextHop != mustAddr("10.1.0.254") {
		t.Fatalf("after the table changed: %+v", r4)
	}
	if r1.NIC != 1 || r1.NextHop != mustAddr("10.0.0.254") {
		t.Fatalf("the old route changed: %+v", r1)
	}
}
