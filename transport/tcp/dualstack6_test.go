package tcp_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/tcp"
)

// IPv6 addresses of stacks A and B in the two-family tests.
var (
	addrA6 = netip.MustParseAddr("fd00::1")
	addrB6 = netip.MustParseAddr("fd00::2")
)

// newEnv46 is newEnv(t, true) with IPv6 too: A and B also have addrA6 and
// addrB6 on an on-link fd00::/64.
func newEnv46(t *testing.T) *env {
	t.Helper()
	leakcheck.Check(t)
	testnet.CheckBuffers(t)
	clock := tcpip.NewManualClock()
	hub := testnet.NewHub(clock)
	t.Cleanup(hub.Close)
	e := &env{t: t, hub: hub, clock: clock, sn: &sniffer{}}
	opts := testnet.Options{
		Networks:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		Transports: []stack.TransportProtocolFactory{tcp.NewProtocol},
	}
	e.a, e.b = hub.NewStack(t, opts), hub.NewStack(t, opts)
	e.linkA = addNIC(t, hub, e.a, addrA)
	e.linkB = addNIC(t, hub, e.b, addrB)
	for _, h := range []struct {
		s    *stack.Stack
		addr netip.Addr
	}{{e.a, addrA6}, {e.b, addrB6}} {
		p := netip.PrefixFrom(h.addr, 64)
		if err := h.s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv6ProtocolNumber, Address: p}, stack.AddressProperties{}); err != nil {
			t.Fatal(err)
		}
		if err := h.s.AddRoute(tcpip.Route{Destination: p.Masked(), NIC: 1}); err != nil {
			t.Fatal(err)
		}
	}
	hub.NewPort(false, tcpip.LinkAddress{}, 1500, 0).Attach(e.sn)
	return e
}

// dial connects a new endpoint of s of family netProto to dst and returns
// it once established.
func (e *env) dial(s *stack.Stack, netProto tcpip.NetworkProtocolNumber, dst tcpip.FullAddress) tcpip.Endpoint {
	t := e.t
	t.Helper()
	c, err := s.NewEndpoint(tcp.ProtocolNumber, netProto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Connect(dst); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect(%v) = %v", dst.Addr, err)
	}
	e.pump()
	if err := c.Connect(dst); err != nil {
		t.Fatalf("second Connect(%v) = %v", dst.Addr, err)
	}
	return c
}

// One dual-stack listener serves both families: an IPv6 client over IPv6
// and an IPv4 client over IPv4, reported IPv4-mapped (RFC 3493 §3.7).
func TestDualStackListenerServesBothFamilies(t *testing.T) {
	e := newEnv46(t)
	l, err := e.b.NewEndpoint(tcp.ProtocolNumber, tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	if err := l.Bind(tcpip.FullAddress{Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(8); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		netProto   tcpip.NetworkProtocolNumber
		dst        netip.Addr
		wantRemote netip.Addr // as the accepted endpoint reports it
		wantLocal  netip.Addr
	}{
		{tcpip.IPv4ProtocolNumber, addrB, mapped(addrA), mapped(addrB)},
		{tcpip.IPv6ProtocolNumber, addrB6, addrA6, addrB6},
		// A dual-stack client to the mapped address: IPv4 again.
		{tcpip.IPv6ProtocolNumber, mapped(addrB), mapped(addrA), mapped(addrB)},
	} {
		cli := e.dial(e.a, tc.netProto, tcpip.FullAddress{Addr: tc.dst, Port: 80})
		srv, ra, err := l.Accept()
		if err != nil {
			t.Fatalf("Accept (client to %v): %v", tc.dst, err)
		}
		t.Cleanup(srv.Close)
		if ra.Addr != tc.wantRemote {
			t.Errorf("client to %v: accepted from %v, want %v", tc.dst, ra.Addr, tc.wantRemote)
		}
		if la, _ := srv.LocalAddress(); la.Addr != tc.wantLocal || la.Port != 80 {
			t.Errorf("client to %v: accepted LocalAddress %+v, want %v:80", tc.dst, la, tc.wantLocal)
		}
		e.exchange(cli, srv)
	}
}

// The cases of dual-stack addressing that need an IPv6 address of the
// stack: an IPV6_V6ONLY listener serves IPv6 and refuses IPv4; an
// endpoint bound to an IPv6 address cannot reach a mapped destination
// (Linux: ENETUNREACH); a dual-stack wildcard and an IPv6-only one on the
// same port conflict over IPv6.
func TestV6OnlyWithIPv6Peers(t *testing.T) {
	e := newEnv46(t)
	l := newTCP6(t, e.b, tcpip.V6OnlyOption(true))
	if err := l.Bind(tcpip.FullAddress{Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(8); err != nil {
		t.Fatal(err)
	}
	cli := e.dial(e.a, tcpip.IPv6ProtocolNumber, tcpip.FullAddress{Addr: addrB6, Port: 80})
	srv := accept(t, l)
	e.exchange(cli, srv)

	v4 := newTCP(t, e.a)
	dst := tcpip.FullAddress{Addr: addrB, Port: 80}
	if err := v4.Connect(dst); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect = %v", err)
	}
	e.pump()
	if err := v4.Connect(dst); !errors.Is(err, tcpip.ErrConnectionRefused) {
		t.Fatalf("IPv4 Connect to an IPv6-only listener = %v", err)
	}

	b6 := newTCP6(t, e.a)
	if err := b6.Bind(tcpip.FullAddress{Addr: addrA6}); err != nil {
		t.Fatal(err)
	}
	if err := b6.Connect(tcpip.FullAddress{Addr: mapped(addrB), Port: 80}); !errors.Is(err, tcpip.ErrNetworkUnreachable) {
		t.Fatalf("Connect to a mapped address from an IPv6 address = %v", err)
	}
	if err := newTCP6(t, e.b).Bind(tcpip.FullAddress{Port: 80}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("dual-stack Bind beside an IPv6-only listener = %v", err)
	}
	if err := newTCP6(t, e.b).Bind(tcpip.FullAddress{Addr: addrB6, Port: 80}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("IPv6 address Bind beside an IPv6-only listener = %v", err)
	}
}
