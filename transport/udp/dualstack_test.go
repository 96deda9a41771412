package udp_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
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
