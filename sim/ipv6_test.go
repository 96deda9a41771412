package sim_test

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
	"github.com/ustack-go/ustack/transport/tcp"
	"github.com/ustack-go/ustack/transport/udp"
)

// v6Line returns hosts a, r (a router) and c on the line a–r–c over
// IPv6 only (2001:db8:1::/64 and 2001:db8:2::/64), d of delay each way on
// each link, the r–c link's MTU rcMTU (zero: 1500), and the default
// routes of a and c through r.
func v6Line(t *testing.T, n *sim.Network, d time.Duration, rcMTU uint32) (a, r, c *sim.Host) {
	t.Helper()
	end := sim.HostOptions{IPv6: true, Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
	a = n.AddHost("a", end)
	r = n.AddHost("r", sim.HostOptions{IPv6: true, Forwarding: true})
	c = n.AddHost("c", end)
	p := sim.Props{Delay: d}
	n.MustConnect(a, r, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("2001:db8:1::a/64"), AddrB: netip.MustParsePrefix("2001:db8:1::1/64"), AB: p, BA: p,
	})
	n.MustConnect(r, c, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("2001:db8:2::1/64"), AddrB: netip.MustParsePrefix("2001:db8:2::c/64"), AB: p, BA: p, MTU: rcMTU,
	})
	if err := a.SetDefaultRoute(netip.MustParseAddr("2001:db8:1::1")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetDefaultRoute(netip.MustParseAddr("2001:db8:2::1")); err != nil {
		t.Fatal(err)
	}
	// Let the NICs' start-up traffic (MLD reports of the link-local
	// addresses' groups) pass.
	n.Run(time.Second)
	return a, r, c
}

// An ICMPv6 echo endpoint pings across a router: neighbour discovery
// (RFC 4861 §7.2) resolves each hop over the simulated Ethernet links the
// first time, and the router forwards (RFC 8200 §3: hop limit less one).
func TestIPv6PingThroughRouter(t *testing.T) {
	n := newNet(t, 1)
	a, r, c := v6Line(t, n, 5*time.Millisecond, 0)
	if got := c.AddrOf(tcpip.IPv6ProtocolNumber); got != netip.MustParseAddr("2001:db8:2::c") || c.AddrOf(tcpip.IPv4ProtocolNumber).IsValid() {
		t.Fatalf("c.AddrOf: IPv6 %v, IPv4 %v", got, c.AddrOf(tcpip.IPv4ProtocolNumber))
	}
	ep, err := a.Stack().NewEndpoint(icmp.ProtocolNumber6, tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	buf := make([]byte, 1500)
	for seq := uint16(1); seq <= 2; seq++ {
		req := make([]byte, header.ICMPv6MinimumSize+4)
		f := header.ICMPv6Fields{Type: header.ICMPv6EchoRequest, Sequence: seq}
		f.Encode(req)
		copy(req[header.ICMPv6MinimumSize:], "ping")
		start := n.Now()
		to := tcpip.FullAddress{Addr: c.Addr()}
		if _, err := ep.Write(req, tcpip.WriteOptions{To: &to}); err != nil {
			t.Fatal(err)
		}
		var res tcpip.ReadResult
		ok := n.RunUntil(func() bool {
			res, err = ep.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true})
			return !errors.Is(err, tcpip.ErrWouldBlock)
		}, time.Second)
		if !ok || err != nil {
			t.Fatalf("no reply to echo %d: %v", seq, err)
		}
		m, err := header.ParseICMPv6(buf[:res.N])
		if err != nil || m.Type() != header.ICMPv6EchoReply || m.Sequence() != seq || string(m.Payload()) != "ping" {
			t.Fatalf("reply %+v, %v", m.Fields(), err)
		}
		if res.RemoteAddr.Addr != c.Addr() {
			t.Errorf("reply from %v", res.RemoteAddr.Addr)
		}
		// Four hops of 5 ms, plus a solicitation and an advertisement
		// on both links the first time (the reply needs none: the
		// solicitations left entries for their senders, RFC 4861
		// §7.2.3).
		rtt := n.Now() - start
		want := 20 * time.Millisecond
		if seq == 1 {
			want = 40 * time.Millisecond
		}
		if rtt != want {
			t.Errorf("echo %d: rtt %v, want %v", seq, rtt, want)
		}
	}
	if got := r.Stats().IPv6.PacketsForwarded.Load(); got != 4 {
		t.Errorf("router forwarded %d packets, want 4", got)
	}
	if ns := a.Stats().ICMPv6.Sent.NeighborSolicit.Load(); ns == 0 {
		t.Error("a sent no neighbour solicitation")
	}
	if a.Stats().ARP.RequestsSent.Load() != 0 || a.Stats().IPv4.PacketsSent.Load() != 0 {
		t.Errorf("a sent IPv4 or ARP on an IPv6-only line: %d ARP, %d IPv4", a.Stats().ARP.RequestsSent.Load(), a.Stats().IPv4.PacketsSent.Load())
	}
}

// UDP over IPv6 across the router: requests to an echo server and back,
// and a one-way stream, every datagram delivered on loss-free links.
func TestIPv6UDP(t *testing.T) {
	n := newNet(t, 1)
	a, _, c := v6Line(t, n, 2*time.Millisecond, 0)
	if _, err := sim.StartUDPEcho(c, 7); err != nil {
		t.Fatal(err)
	}
	req, err := sim.StartUDPRequests(a, c, sim.UDPFlowConfig{Port: 7, Count: 50, Interval: time.Millisecond, Size: 500})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sim.StartUDPStream(c, a, sim.UDPFlowConfig{Port: 5000, Count: 50, Interval: time.Millisecond, Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n.Run(time.Second)
	rs, ss := req.Stats(), st.Stats()
	if rs.Sent != 50 || rs.Received != 50 || ss.Sent != 50 || ss.Received != 50 {
		t.Errorf("requests %+v, stream %+v: want 50 sent and received each", rs, ss)
	}
	if a.Stats().IPv6.PacketsSent.Load() < 50 || a.Stats().IPv4.PacketsSent.Load() != 0 {
		t.Errorf("a sent %d IPv6 and %d IPv4 packets", a.Stats().IPv6.PacketsSent.Load(), a.Stats().IPv4.PacketsSent.Load())
	}
}

// StreamTransfer moves a TCP stream over IPv6 across the router, SHA-256
// verified.
func TestIPv6StreamTransfer(t *testing.T) {
	n := newNet(t, 1)
	a, _, c := v6Line(t, n, 5*time.Millisecond, 0)
	r := sim.StreamTransfer(a, c, 80, 1<<20, 7)
	if !r.OK() || r.Received != 1<<20 || r.SentSHA256 != r.ReceivedSHA256 {
		t.Fatalf("transfer: %v", r)
	}
	t.Logf("%v", r)
	if a.Stats().IPv6.PacketsSent.Load() == 0 || a.Stats().IPv4.PacketsSent.Load() != 0 {
		t.Errorf("a sent %d IPv6 and %d IPv4 packets", a.Stats().IPv6.PacketsSent.Load(), a.Stats().IPv4.PacketsSent.Load())
	}
}

// Dual-stack hosts: one link carries an IPv4 and an IPv6 subnet (MoreA,
// MoreB); TCP streams run over each family, and one dual-stack UDP echo
// endpoint serves both (IPv4 peers seen as v4-mapped addresses, RFC 4291
// §2.5.5.2).
func TestDualStack(t *testing.T) {
	n := newNet(t, 1)
	opts := sim.HostOptions{IPv6: true, Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
	a := n.AddHost("a", opts)
	b := n.AddHost("b", opts)
	p := sim.Props{Delay: 5 * time.Millisecond, Bandwidth: 10e6}
	n.MustConnect(a, b, sim.LinkConfig{
		AddrA: prefixA, AddrB: prefixB,
		MoreA: []netip.Prefix{netip.MustParsePrefix("2001:db8::a/64")},
		MoreB: []netip.Prefix{netip.MustParsePrefix("2001:db8::b/64")},
		AB:    p, BA: p,
	})
	b4, b6 := b.AddrOf(tcpip.IPv4ProtocolNumber), b.AddrOf(tcpip.IPv6ProtocolNumber)
	if b4 != prefixB.Addr() || b6 != netip.MustParseAddr("2001:db8::b") || b.Addr() != b4 || len(b.Addrs()) != 2 {
		t.Fatalf("b's addresses: %v (IPv4 %v, IPv6 %v)", b.Addrs(), b4, b6)
	}
	for i, to := range []netip.Addr{b4, b6} {
		s, err := sim.StartStream(a, b, sim.StreamConfig{Port: uint16(80 + i), To: to, Size: 256 << 10, Seed: uint64(i)})
		if err != nil {
			t.Fatal(err)
		}
		n.RunUntil(s.Done, time.Minute)
		if r := s.Result(); !r.OK() || r.Received != 256<<10 {
			t.Errorf("stream to %v: %v", to, r)
		}
	}
	if a.Stats().IPv4.PacketsSent.Load() == 0 || a.Stats().IPv6.PacketsSent.Load() == 0 {
		t.Errorf("a sent %d IPv4 and %d IPv6 packets: want both", a.Stats().IPv4.PacketsSent.Load(), a.Stats().IPv6.PacketsSent.Load())
	}
	echo, err := sim.StartUDPEcho(b, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []netip.Addr{b4, b6} {
		req, err := sim.StartUDPRequests(a, b, sim.UDPFlowConfig{Port: 7, To: to, Count: 5, Interval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		n.Run(time.Second)
		if st := req.Stats(); st.Received != 5 {
			t.Errorf("echo over %v: %+v", to, st)
		}
		req.Stop()
	}
	if echo.Echoed != 10 || echo.Errors != 0 {
		t.Errorf("echo server: %d echoed, %d errors; want 10, 0", echo.Echoed, echo.Errors)
	}
}

// An IPv6 address on a host that does not run IPv6 is refused with an
// error naming the option.
func TestIPv6AddressNeedsIPv6(t *testing.T) {
	n := newNet(t, 1)
	a := n.AddHost("a", sim.HostOptions{})
	b := n.AddHost("b", sim.HostOptions{IPv6: true})
	_, err := n.Connect(a, b, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("2001:db8::a/64"), AddrB: netip.MustParsePrefix("2001:db8::b/64"),
	})
	if err == nil {
		t.Fatal("IPv6 address accepted on a host without IPv6")
	}
	t.Log(err)
	if _, err := udpEPFamily(b, tcpip.IPv6ProtocolNumber); err != nil {
		t.Errorf("IPv6 UDP endpoint on an IPv6 host: %v", err)
	}
}

// udpEPFamily opens (and closes) a UDP endpoint of family proto on h.
func udpEPFamily(h *sim.Host, proto tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error) {
	ep, err := h.Stack().NewEndpoint(udp.ProtocolNumber, proto)
	if err == nil {
		ep.Close()
	}
	return ep, err
}

// A dual-stack host draws its random numbers in the same order on every
// run: the NIC's network endpoints (and their neighbour caches, each of
// which draws its ReachableTime, RFC 4861 §6.3.2) are made in protocol
// number order, not in a map's random order. The same seed then gives the
// same trace: here the unicast probes of neighbour unreachability
// detection (RFC 4861 §7.3.3), whose times follow the ReachableTime
// drawn, of a minute of one datagram a second over IPv6.
func TestDeterminismDualStack(t *testing.T) {
	run := func() []sim.Event {
		n := newNet(t, 1)
		var trace []sim.Event
		n.SetTrace(func(e sim.Event) { trace = append(trace, e) })
		opts := sim.HostOptions{IPv6: true}
		a := n.AddHost("a", opts)
		b := n.AddHost("b", opts)
		p := sim.Props{Delay: time.Millisecond}
		n.MustConnect(a, b, sim.LinkConfig{
			AddrA: prefixA, AddrB: prefixB,
			MoreA: []netip.Prefix{netip.MustParsePrefix("2001:db8::a/64")},
			MoreB: []netip.Prefix{netip.MustParsePrefix("2001:db8::b/64")},
			AB:    p, BA: p,
		})
		st, err := sim.StartUDPStream(a, b, sim.UDPFlowConfig{Port: 9, To: b.AddrOf(tcpip.IPv6ProtocolNumber), Count: 60, Interval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		n.Run(time.Minute)
		if got := st.Stats().Unique; got != 60 {
			t.Fatalf("%d of 60 datagrams arrived", got)
		}
		return trace
	}
	first := run()
	probes := 0
	for _, e := range first {
		// A unicast solicitation: 14 + 40 + 24 + 8 (source link
		// address option) bytes.
		if e.Kind == sim.EventSend && e.Size == 86 {
			probes++
		}
	}
	if probes == 0 {
		t.Fatal("no neighbour solicitation in a minute: the test shows nothing")
	}
	for i := range 15 {
		if again := run(); !slices.Equal(again, first) {
			t.Fatalf("run %d differs from the first with the same seed (%d and %d events)", i+2, len(again), len(first))
		}
	}
}
