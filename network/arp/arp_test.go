package arp_test

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

func TestMain(m *testing.M) {
	buffer.SetCounting(true)
	os.Exit(m.Run())
}

const ipv4Proto = tcpip.IPv4ProtocolNumber

func addr(s string) netip.Addr        { return netip.MustParseAddr(s) }
func mac(last byte) tcpip.LinkAddress { return tcpip.LinkAddress{0x02, 0, 0, 0, 0, last} }
func prefix(s string) netip.Prefix    { return netip.MustParsePrefix(s) }
func protoAddr(s string) tcpip.ProtocolAddress {
	return tcpip.ProtocolAddress{Protocol: ipv4Proto, Address: prefix(s)}
}

// testNet is stacks with IPv4 and ARP on one hub, sharing a manual clock;
// its cleanup checks that Close left no timer and no buffer.
type testNet struct {
	t      *testing.T
	clock  *tcpip.ManualClock
	hub    *testlink.Hub
	stacks []*stack.Stack
}

func newNet(t *testing.T) *testNet {
	t.Helper()
	leakcheck.Check(t)
	before := buffer.ReadStats()
	n := &testNet{t: t, clock: tcpip.NewManualClock(), hub: testlink.NewHub()}
	t.Cleanup(func() {
		for _, s := range n.stacks {
			s.Close()
			s.Wait()
		}
		if p := n.clock.Pending(); p != 0 {
			t.Errorf("%d timers pending after Close", p)
		}
		after := buffer.ReadStats()
		if after.PacketsInUse != before.PacketsInUse || after.ChunksInUse != before.ChunksInUse {
			t.Errorf("buffers leaked: packets %d -> %d, chunks %d -> %d",
				before.PacketsInUse, after.PacketsInUse, before.ChunksInUse, after.ChunksInUse)
		}
	})
	return n
}

// host adds a stack with NIC 1 on the hub at link address m, with the
// address a (none if empty).
func (n *testNet) host(m tcpip.LinkAddress, a string) *stack.Stack {
	n.t.Helper()
	s := stack.New(stack.Options{
		NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		Clock:            n.clock,
	})
	n.stacks = append(n.stacks, s)
	if err := s.CreateNIC(1, n.hub.NewPort(m, 1500).Link()); err != nil {
		n.t.Fatal(err)
	}
	if a != "" {
		if err := s.AddProtocolAddress(1, protoAddr(a), stack.AddressProperties{}); err != nil {
			n.t.Fatal(err)
		}
		s.AddRoute(tcpip.Route{Destination: prefix(a).Masked(), NIC: 1})
	}
	return s
}

func (n *testNet) run() { testlink.Run(n.clock, n.hub) }

func (n *testNet) advance(d time.Duration) {
	n.run()
	end := n.clock.NowMonotonic().Add(d)
	for {
		next, ok := n.clock.NextDeadline()
		if !ok || next.After(end) {
			break
		}
		n.clock.AdvanceTo(next)
		n.run()
	}
	n.clock.AdvanceTo(end)
	n.run()
}

// arpFrame is an ARP packet seen on the hub.
type arpFrame struct {
	eth header.Ethernet
	arp header.ARP
}

func (n *testNet) arpFrames() []arpFrame {
	var out []arpFrame
	for _, f := range n.hub.Frames() {
		eth, err := header.ParseEthernet(f.Bytes)
		if err != nil || eth.Type() != tcpip.ARPProtocolNumber {
			continue
		}
		a, err := header.ParseARP(eth.Payload())
		if err != nil {
			n.t.Errorf("bad ARP frame: %v", err)
			continue
		}
		out = append(out, arpFrame{eth, a})
	}
	return out
}

// sendARP injects an ARP packet from a station that is not a stack.
func (n *testNet) sendARP(dst tcpip.LinkAddress, f header.ARPFields) {
	b := make([]byte, header.EthernetMinimumFrameSize)
	(&header.EthernetFields{Destination: dst, Source: f.SenderHardwareAddress, Type: tcpip.ARPProtocolNumber}).Encode(b)
	f.Encode(b[header.EthernetMinimumSize:])
	n.hub.Send(b)
}

func counter(t *testing.T, s *stack.Stack, name string) uint64 {
	t.Helper()
	v, ok := s.Stats().Snapshot().Get(name)
	if !ok {
		t.Fatalf("no counter %s", name)
	}
	return v
}

func wantCounter(t *testing.T, s *stack.Stack, name string, want uint64) {
	t.Helper()
	if got := counter(t, s, name); got != want {
		t.Errorf("%s = %d, want %d", name, got, want)
	}
}

func entry(t *testing.T, s *stack.Stack, a netip.Addr) (stack.NeighborEntry, bool) {
	t.Helper()
	entries, err := s.Neighbors(1, ipv4Proto)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Addr == a {
			return e, true
		}
	}
	return stack.NeighborEntry{}, false
}

// RFC 826: a broadcast request, a unicast reply, a REACHABLE entry at the
// requester and a STALE one at the target (RFC 4861 §7.2.3 as ARP uses it).
func TestRequestReply(t *testing.T) {
	n := newNet(t)
	a := n.host(mac(1), "10.0.0.1/24")
	b := n.host(mac(2), "10.0.0.2/24")
	n.run()
	n.hub.Frames()
	var got tcpip.LinkAddress
	var gotErr error
	done := false
	_, err := a.GetLinkAddress(1, addr("10.0.0.2"), netip.Addr{}, func(la tcpip.LinkAddress, err error) { got, gotErr, done = la, err, true })
	if err != tcpip.ErrWouldBlock {
		t.Fatalf("GetLinkAddress: %v, want ErrWouldBlock", err)
	}
	n.run()
	if !done || gotErr != nil || got != mac(2) {
		t.Fatalf("resolved %v %v %v", done, got, gotErr)
	}
	frames := n.arpFrames()
	if len(frames) != 2 {
		t.Fatalf("%d ARP frames, want request and reply", len(frames))
	}
	req, rep := frames[0], frames[1]
	if req.eth.Destination() != tcpip.BroadcastLinkAddress || req.arp.Op() != header.ARPRequest ||
		req.arp.SenderHardwareAddress() != mac(1) || req.arp.SenderProtocolAddress() != addr("10.0.0.1") ||
		req.arp.TargetHardwareAddress() != (tcpip.LinkAddress{}) || req.arp.TargetProtocolAddress() != addr("10.0.0.2") {
		t.Errorf("request %+v to %s", req.arp.Fields(), req.eth.Destination())
	}
	if rep.eth.Destination() != mac(1) || rep.arp.Op() != header.ARPReply ||
		rep.arp.SenderHardwareAddress() != mac(2) || rep.arp.SenderProtocolAddress() != addr("10.0.0.2") ||
		rep.arp.TargetHardwareAddress() != mac(1) || rep.arp.TargetProtocolAddress() != addr("10.0.0.1") {
		t.Errorf("reply %+v to %s", rep.arp.Fields(), rep.eth.Destination())
	}
	if e, ok := entry(t, a, addr("10.0.0.2")); !ok || e.State != stack.NeighborReachable || e.LinkAddr != mac(2) {
		t.Errorf("A's entry %+v", e)
	}
	if e, ok := entry(t, b, addr("10.0.0.1")); !ok || e.State != stack.NeighborStale || e.LinkAddr != mac(1) {
		t.Errorf("B's entry %+v", e)
	}
	wantCounter(t, a, "ARP.RequestsSent", 1)
	wantCounter(t, a, "ARP.RepliesReceived", 1)
	wantCounter(t, b, "ARP.RequestsReceived", 2) // A's announcement and its request
	wantCounter(t, b, "ARP.RepliesSent", 1)
}

// RFC 5227 §2.3: a new address is announced with a broadcast request whose
// sender and target are the address, if the NIC is up.
func TestGratuitousOnAddAddress(t *testing.T) {
	n := newNet(t)
	a := n.host(mac(1), "")
	a.AddProtocolAddress(1, protoAddr("10.0.0.1/24"), stack.AddressProperties{})
	frames := n.arpFrames()
	if len(frames) != 1 {
		t.Fatalf("%d frames, want one announcement", len(frames))
	}
	g := frames[0]
	if g.eth.Destination() != tcpip.BroadcastLinkAddress || g.arp.Op() != header.ARPRequest || !g.arp.IsGratuitous() ||
		g.arp.SenderProtocolAddress() != addr("10.0.0.1") || g.arp.SenderHardwareAddress() != mac(1) {
		t.Errorf("announcement %+v", g.arp.Fields())
	}
	wantCounter(t, a, "ARP.GratuitousSent", 1)

	a.DisableNIC(1)
	a.AddProtocolAddress(1, protoAddr("10.0.1.1/24"), stack.AddressProperties{})
	if frames := n.arpFrames(); len(frames) != 0 {
		t.Errorf("announced on a disabled NIC")
	}
	// Coming up announces every address.
	a.EnableNIC(1)
	if frames := n.arpFrames(); len(frames) != 2 {
		t.Errorf("%d announcements on enable, want 2", len(frames))
	}
}

// Three requests one second apart, then failure (Linux's defaults).
func TestRetriesAndFailure(t *testing.T) {
	n := newNet(t)
	a := n.host(mac(1), "10.0.0.1/24")
	n.run()
	n.hub.Frames()
	var gotErr error
	var at []time.Duration
	start := n.clock.NowMonotonic()
	a.GetLinkAddress(1, addr("10.0.0.77"), netip.Addr{}, func(_ tcpip.LinkAddress, err error) { gotErr = err })
	for range 5 {
		for _, f := range n.arpFrames() {
			if f.arp.Op() == header.ARPRequest && f.arp.TargetProtocolAddress() == addr("10.0.0.77") {
				at = append(at, n.clock.NowMonotonic().Sub(start))
			}
		}
		n.advance(time.Second)
	}
	if len(at) != 3 || at[0] != 0 || at[1] != time.Second || at[2] != 2*time.Second {
		t.Errorf("requests at %v, want 0s 1s 2s", at)
	}
	if gotErr != tcpip.ErrHostUnreachable {
		t.Errorf("resolution error %v", gotErr)
	}
	wantCounter(t, a, "ARP.RequestsSent", 3)
}

// Requests from an address already cached update it (RFC 826 merge);
// gratuitous ARP from an unknown host adds nothing.
func TestMergeRule(t *testing.T) {
	n := newNet(t)
	a := n.host(mac(1), "10.0.0.1/24")
	n.run()
	n.sendARP(tcpip.BroadcastLinkAddress, header.ARPFields{Op: header.ARPRequest, SenderHardwareAddress: mac(5), SenderProtocolAddress: addr("10.0.0.5"), TargetProtocolAddress: addr("10.0.0.1")})
	n.run()
	if e, ok := entry(t, a, addr("10.0.0.5")); !ok || e.LinkAddr != mac(5) {
		t.Fatalf("no entry from a request for us: %+v", e)
	}
	// 10.0.0.5 moved to another MAC and announces it.
	n.sendARP(tcpip.BroadcastLinkAddress, header.ARPFields{Op: header.ARPRequest, SenderHardwareAddress: mac(6), SenderProtocolAddress: addr("10.0.0.5"), TargetProtocolAddress: addr("10.0.0.5")})
	// 10.0.0.7, unknown, announces itself; and asks for someone else.
	n.sendARP(tcpip.BroadcastLinkAddress, header.ARPFields{Op: header.ARPReply, SenderHardwareAddress: mac(7), SenderProtocolAddress: addr("10.0.0.7"), TargetProtocolAddress: addr("10.0.0.7")})
	n.sendARP(tcpip.BroadcastLinkAddress, header.ARPFields{Op: header.ARPRequest, SenderHardwareAddress: mac(8), SenderProtocolAddress: addr("10.0.0.8"), TargetProtocolAddress: addr("10.0.0.9")})
	n.run()
	if e, _ := entry(t, a, addr("10.0.0.5")); e.LinkAddr != mac(6) {
		t.Errorf("entry not updated by gratuitous ARP: %+v", e)
	}
	for _, other := range []string{"10.0.0.7", "10.0.0.8"} {
		if _, ok := entry(t, a, addr(other)); ok {
			t.Errorf("entry created for %s", other)
		}
	}
	wantCounter(t, a, "ARP.RequestsNotForUs", 2)
}

// Every bad packet is dropped under its own reason and answered by
// nothing.
func TestDrops(t *testing.T) {
	n := newNet(t)
	a := n.host(mac(1), "10.0.0.1/24")
	n.run()
	n.hub.Frames()
	good := header.ARPFields{Op: header.ARPRequest, SenderHardwareAddress: mac(5), SenderProtocolAddress: addr("10.0.0.5"), TargetProtocolAddress: addr("10.0.0.1")}
	raw := func(mutate func([]byte)) {
		b := make([]byte, header.EthernetMinimumFrameSize)
		(&header.EthernetFields{Destination: tcpip.BroadcastLinkAddress, Source: mac(5), Type: tcpip.ARPProtocolNumber}).Encode(b)
		good.Encode(b[header.EthernetMinimumSize:])
		mutate(b[header.EthernetMinimumSize:])
		n.hub.Send(b)
	}
	raw(func(b []byte) { b[1] = 6 })                // hardware type 6 (IEEE 802)
	raw(func(b []byte) { b[2], b[3] = 0x86, 0xdd }) // protocol IPv6
	raw(func(b []byte) { b[4] = 8 })                // hardware length 8
	raw(func(b []byte) { b[7] = 3 })                // RARP request
	// Truncated: the addresses end early.
	trunc := make([]byte, header.EthernetMinimumSize+header.ARPSize)
	(&header.EthernetFields{Destination: tcpip.BroadcastLinkAddress, Source: mac(5), Type: tcpip.ARPProtocolNumber}).Encode(trunc)
	good.Encode(trunc[header.EthernetMinimumSize:])
	n.hub.Send(trunc[:header.EthernetMinimumSize+20])
	bad := func(m func(*header.ARPFields)) { f := good; m(&f); n.sendARP(tcpip.BroadcastLinkAddress, f) }
	bad(func(f *header.ARPFields) { f.SenderHardwareAddress = tcpip.LinkAddress{1, 0, 0x5e, 0, 0, 1} }) // multicast MAC
	bad(func(f *header.ARPFields) { f.SenderHardwareAddress = mac(1) })                                 // our MAC
	bad(func(f *header.ARPFields) { f.SenderProtocolAddress = addr("10.0.0.1") })                       // our address: a conflict
	bad(func(f *header.ARPFields) { f.SenderProtocolAddress = addr("224.0.0.1") })
	bad(func(f *header.ARPFields) { f.SenderProtocolAddress = addr("10.0.0.255") })
	bad(func(f *header.ARPFields) { f.TargetProtocolAddress = addr("10.0.0.3") }) // not for us
	n.run()
	wantCounter(t, a, "ARP.UnsupportedHardware", 1)
	wantCounter(t, a, "ARP.UnsupportedProtocol", 1)
	wantCounter(t, a, "ARP.Malformed", 3)
	wantCounter(t, a, "ARP.InvalidSourceAddress", 5)
	wantCounter(t, a, "ARP.RequestsNotForUs", 1)
	wantCounter(t, a, "ARP.RepliesSent", 0)
	wantCounter(t, a, "ARP.PacketsReceived", 11)
	if e, ok := entry(t, a, addr("10.0.0.5")); ok {
		t.Errorf("learnt from bad packets: %+v", e)
	}
}

// RFC 5227 §2.1.1: a probe (sender 0.0.0.0) for our address is answered;
// nothing is learnt from it.
func TestProbeAnswered(t *testing.T) {
	n := newNet(t)
	a := n.host(mac(1), "10.0.0.1/24")
	n.run()
	n.hub.Frames()
	n.sendARP(tcpip.BroadcastLinkAddress, header.ARPFields{Op: header.ARPRequest, SenderHardwareAddress: mac(5), TargetProtocolAddress: addr("10.0.0.1")})
	n.run()
	frames := n.arpFrames()
	if len(frames) != 2 || frames[1].arp.Op() != header.ARPReply || frames[1].eth.Destination() != mac(5) || frames[1].arp.TargetProtocolAddress() != netip.IPv4Unspecified() {
		t.Fatalf("probe not answered: %d frames", len(frames))
	}
	if entries, _ := a.Neighbors(1, ipv4Proto); len(entries) != 0 {
		t.Errorf("learnt from a probe: %v", entries)
	}
}

// With ProxyPromiscuous a promiscuous NIC answers for every address.
func TestProxyPromiscuous(t *testing.T) {
	n := newNet(t)
	a := n.host(mac(1), "10.0.0.1/24")
	n.run()
	n.hub.Frames()
	ask := func() []arpFrame {
		n.sendARP(tcpip.BroadcastLinkAddress, header.ARPFields{Op: header.ARPRequest, SenderHardwareAddress: mac(5), SenderProtocolAddress: addr("10.0.0.5"), TargetProtocolAddress: addr("192.0.2.7")})
		n.run()
		return n.arpFrames()
	}
	a.SetPromiscuousMode(1, true)
	if f := ask(); len(f) != 1 {
		t.Fatalf("answered without the option")
	}
	if err := a.SetNetworkProtocolOption(tcpip.ARPProtocolNumber, arp.ProxyPromiscuous(true)); err != nil {
		t.Fatal(err)
	}
	var on arp.ProxyPromiscuous
	if a.NetworkProtocolOption(tcpip.ARPProtocolNumber, &on); !on {
		t.Error("option not read back")
	}
	f := ask()
	if len(f) != 2 || f[1].arp.SenderProtocolAddress() != addr("192.0.2.7") || f[1].arp.SenderHardwareAddress() != mac(1) {
		t.Fatalf("proxy reply: %d frames", len(f))
	}
	a.SetPromiscuousMode(1, false)
	if f := ask(); len(f) != 1 {
		t.Fatalf("answered when not promiscuous")
	}
	if err := a.SetNetworkProtocolOption(tcpip.ARPProtocolNumber, 5); err != tcpip.ErrUnknownProtocolOption {
		t.Errorf("unknown option: %v", err)
	}
}

// Address ranges answer too.
func TestAddressRangeAnswered(t *testing.T) {
	n := newNet(t)
	a := n.host(mac(1), "10.0.0.1/24")
	a.AddAddressRange(1, ipv4Proto, prefix("10.9.0.0/16"))
	n.run()
	n.hub.Frames()
	n.sendARP(tcpip.BroadcastLinkAddress, header.ARPFields{Op: header.ARPRequest, SenderHardwareAddress: mac(5), SenderProtocolAddress: addr("10.0.0.5"), TargetProtocolAddress: addr("10.9.3.4")})
	n.run()
	if f := n.arpFrames(); len(f) != 2 || f[1].arp.SenderProtocolAddress() != addr("10.9.3.4") {
		t.Fatalf("range address not answered: %d frames", len(f))
	}
}

// RFC 1112 §6.4 and broadcasts need no request.
func TestResolveStaticAddress(t *testing.T) {
	n := newNet(t)
	a := n.host(mac(1), "10.0.0.1/24")
	ep, err := a.NetworkEndpoint(1, tcpip.ARPProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	r := ep.(stack.LinkAddressResolver)
	if r.ResolvedProtocol() != ipv4Proto {
		t.Error("resolves", r.ResolvedProtocol())
	}
	for _, tc := range []struct {
		a    string
		want tcpip.LinkAddress
		ok   bool
	}{
		{"255.255.255.255", tcpip.BroadcastLinkAddress, true},
		{"10.0.0.255", tcpip.BroadcastLinkAddress, true},
		{"224.0.0.251", tcpip.LinkAddress{1, 0, 0x5e, 0, 0, 0xfb}, true},
		{"239.255.1.2", tcpip.LinkAddress{1, 0, 0x5e, 0x7f, 1, 2}, true},
		{"10.0.0.2", tcpip.LinkAddress{}, false},
		{"::1", tcpip.LinkAddress{}, false},
	} {
		la, ok := r.ResolveStaticAddress(addr(tc.a))
		if la != tc.want || ok != tc.ok {
			t.Errorf("%s: %s %v", tc.a, la, ok)
		}
	}
	// A unicast probe goes to the known link address.
	n.run()
	n.hub.Frames()
	if err := r.LinkAddressRequest(addr("10.0.0.2"), netip.Addr{}, mac(2)); err != nil {
		t.Fatal(err)
	}
	if f := n.arpFrames(); len(f) != 1 || f[0].eth.Destination() != mac(2) || f[0].arp.SenderProtocolAddress() != addr("10.0.0.1") {
		t.Errorf("unicast probe: %v", f)
	}
	b := n.host(mac(2), "")
	ep, _ = b.NetworkEndpoint(1, tcpip.ARPProtocolNumber)
	if err := ep.(stack.LinkAddressResolver).LinkAddressRequest(addr("10.0.0.2"), netip.Addr{}, tcpip.LinkAddress{}); err != tcpip.ErrBadLocalAddress {
		t.Errorf("request without an address: %v", err)
	}
}
