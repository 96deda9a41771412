package udp_test

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
	"github.com/ustack-go/ustack/transport/udp"
)

// mapped returns a's IPv4-mapped IPv6 form (RFC 4291 §2.5.5.2).
func mapped(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }

// newUDP6 returns an IPv6 UDP endpoint of s, made through the protocol
// instance: the test stacks run no IPv6 network protocol, which a
// dual-stack endpoint talking to IPv4 peers does not need.
func newUDP6(t testing.TB, s *stack.Stack) tcpip.Endpoint {
	t.Helper()
	ep, err := s.TransportProtocolInstance(udp.ProtocolNumber).NewEndpoint(tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Close)
	return ep
}

// A dual-stack endpoint bound to an IPv4-mapped address is IPv4-only
// (RFC 4291 §2.5.5.2; Linux's inet6_bind), and one connected to a mapped
// address talks IPv4; every address it reports is mapped.
func TestDualStackMappedBindAndConnect(t *testing.T) {
	e := newEnv(t, envOptions{})
	srv := newUDP6(t, e.b)
	if err := srv.Bind(tcpip.FullAddress{Addr: mapped(addrB), Port: 53}); err != nil {
		t.Fatal(err)
	}
	if la, _ := srv.LocalAddress(); la.Addr != mapped(addrB) || la.Port != 53 {
		t.Fatalf("LocalAddress = %+v", la)
	}
	// The port is taken for IPv4 at that address, not for IPv6.
	if err := newUDP(t, e.b).Bind(tcpip.FullAddress{Addr: addrB, Port: 53}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("IPv4 Bind of the mapped address's port = %v", err)
	}
	v6 := newUDP6(t, e.b)
	if err := v6.SetSockOpt(tcpip.V6OnlyOption(true)); err != nil {
		t.Fatal(err)
	}
	if err := v6.Bind(tcpip.FullAddress{Port: 53}); err != nil {
		t.Fatalf("IPv6-only Bind of the port = %v", err)
	}
	// Linux: EAFNOSUPPORT towards IPv6 from a mapped address.
	v6dst := to(netip.MustParseAddr("2001:db8::1"), 53)
	if _, err := srv.Write([]byte("x"), tcpip.WriteOptions{To: v6dst}); !errors.Is(err, tcpip.ErrAddressFamily) {
		t.Fatalf("Write to IPv6 from a mapped address = %v", err)
	}
	if err := srv.Connect(*v6dst); !errors.Is(err, tcpip.ErrAddressFamily) {
		t.Fatalf("Connect to IPv6 from a mapped address = %v", err)
	}

	cli := newUDP6(t, e.a)
	if err := cli.Connect(tcpip.FullAddress{Addr: mapped(addrB), Port: 53}); err != nil {
		t.Fatal(err)
	}
	la, _ := cli.LocalAddress()
	if la.Addr != mapped(addrA) || la.Port == 0 {
		t.Fatalf("client LocalAddress = %+v", la)
	}
	if ra, _ := cli.RemoteAddress(); ra.Addr != mapped(addrB) || ra.Port != 53 {
		t.Fatalf("client RemoteAddress = %+v", ra)
	}
	send(t, cli, []byte("query"), nil)
	e.hub.Pump()
	res := expect(t, srv, []byte("query"), netip.AddrPortFrom(mapped(addrA), la.Port))
	recvNone(t, v6)
	send(t, srv, []byte("answer"), &res.RemoteAddr)
	e.hub.Pump()
	expect(t, cli, []byte("answer"), netip.AddrPortFrom(mapped(addrB), 53))

	// An IPv4 peer sees plain IPv4.
	v4 := bound(t, e.a, netip.Addr{}, 1000)
	send(t, srv, []byte("to v4"), to(mapped(addrA), 1000))
	e.hub.Pump()
	expect(t, v4, []byte("to v4"), netip.AddrPortFrom(addrB, 53))
}

// RFC 3493 §3.7 and Linux: a dual-stack endpoint joins an IPv4 group
// through its mapped address and then follows IPv4 multicast rules
// (IGMP membership, IP_MULTICAST_IF, TTL 1); sources are reported mapped.
func TestDualStackMulticastMappedGroup(t *testing.T) {
	e := newEnv(t, envOptions{eth: true})
	rcv := newUDP6(t, e.b)
	if err := rcv.Bind(tcpip.FullAddress{Port: 5000}); err != nil {
		t.Fatal(err)
	}
	if err := rcv.SetSockOpt(tcpip.AddMembershipOption{MulticastAddr: mapped(group), NIC: 1}); err != nil {
		t.Fatalf("join of a mapped group: %v", err)
	}
	if !e.b.IsInGroup(1, group) {
		t.Fatal("B did not join the IPv4 group")
	}
	snd := newUDP6(t, e.a)
	if err := snd.SetSockOpt(tcpip.MulticastInterfaceOption{InterfaceAddr: mapped(addrA)}); err != nil {
		t.Fatal(err)
	}
	send(t, snd, []byte("to the group"), to(mapped(group), 5000))
	e.hub.Pump()
	expect(t, rcv, []byte("to the group"), netip.AddrPortFrom(mapped(addrA), localPort(t, snd)))
	if err := rcv.SetSockOpt(tcpip.RemoveMembershipOption{MulticastAddr: mapped(group), NIC: 1}); err != nil {
		t.Fatalf("leave of a mapped group: %v", err)
	}
	if e.b.IsInGroup(1, group) {
		t.Fatal("B is still in the group")
	}
}

// IPv6 addresses of stacks A and B in the two-family tests.
var (
	addrA6 = netip.MustParseAddr("fd00::1")
	addrB6 = netip.MustParseAddr("fd00::2")
)

// newEnv46 is newEnv with IPv6 too: A and B also have addrA6 and addrB6
// on an on-link fd00::/64 (bare IP packets: no neighbour discovery).
func newEnv46(t *testing.T) *env {
	t.Helper()
	leakcheck.Check(t)
	testnet.CheckBuffers(t)
	hub := testnet.NewHub(tcpip.NewManualClock())
	t.Cleanup(hub.Close)
	opts := testnet.Options{
		Networks:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		Transports: []stack.TransportProtocolFactory{udp.NewProtocol},
	}
	e := &env{hub: hub, a: hub.NewStack(t, opts), b: hub.NewStack(t, opts)}
	hub.AddNIC(t, e.a, 1, netip.PrefixFrom(addrA, 24), testnet.NICOptions{})
	hub.AddNIC(t, e.b, 1, netip.PrefixFrom(addrB, 24), testnet.NICOptions{})
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
	return e
}

// One dual-stack socket on [::]:53 answers an IPv6 client over IPv6 and
// an IPv4 one over IPv4 (seen mapped); a socket bound to an IPv6 address
// cannot reach a mapped destination (Linux: ENETUNREACH).
func TestDualStackBothFamilies(t *testing.T) {
	e := newEnv46(t)
	srv, err := e.b.NewEndpoint(udp.ProtocolNumber, tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.Bind(tcpip.FullAddress{Port: 53}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		netProto tcpip.NetworkProtocolNumber
		dst      netip.Addr
		from     netip.Addr // the client as srv sees it
		replyVia netip.Addr // srv as the client sees it
	}{
		{tcpip.IPv6ProtocolNumber, addrB6, addrA6, addrB6},
		{tcpip.IPv4ProtocolNumber, addrB, mapped(addrA), addrB},
		{tcpip.IPv6ProtocolNumber, mapped(addrB), mapped(addrA), mapped(addrB)},
	} {
		cli, err := e.a.NewEndpoint(udp.ProtocolNumber, tc.netProto)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cli.Close)
		send(t, cli, []byte("query"), to(tc.dst, 53))
		e.hub.Pump()
		res := expect(t, srv, []byte("query"), netip.AddrPortFrom(tc.from, localPort(t, cli)))
		send(t, srv, []byte("answer"), &res.RemoteAddr)
		e.hub.Pump()
		expect(t, cli, []byte("answer"), netip.AddrPortFrom(tc.replyVia, 53))
	}

	b6, err := e.a.NewEndpoint(udp.ProtocolNumber, tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b6.Close)
	if err := b6.Bind(tcpip.FullAddress{Addr: addrA6}); err != nil {
		t.Fatal(err)
	}
	if _, err := b6.Write([]byte("x"), tcpip.WriteOptions{To: to(mapped(addrB), 53)}); !errors.Is(err, tcpip.ErrNetworkUnreachable) {
		t.Fatalf("Write to a mapped address from an IPv6 address = %v", err)
	}
	if err := b6.Connect(tcpip.FullAddress{Addr: mapped(addrB), Port: 53}); !errors.Is(err, tcpip.ErrNetworkUnreachable) {
		t.Fatalf("Connect to a mapped address from an IPv6 address = %v", err)
	}
}
