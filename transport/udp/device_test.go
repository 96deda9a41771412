package udp_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/udp"
)

// SO_BINDTODEVICE: endpoints bound to different NICs share a port, and
// each receives only what arrives on its NIC.
func TestBindToDevice(t *testing.T) {
	leakcheck.Check(t)
	testnet.CheckBuffers(t)
	clock := tcpip.NewManualClock()
	hub1, hub2 := testnet.NewHub(clock), testnet.NewHub(clock)
	t.Cleanup(hub1.Close)
	t.Cleanup(hub2.Close)
	opts := testnet.Options{
		Networks:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		Transports: []stack.TransportProtocolFactory{udp.NewProtocol},
	}
	s := hub1.NewStack(t, opts)
	c1 := hub1.NewStack(t, opts)
	c2 := hub2.NewStack(t, opts)
	hub1.AddNIC(t, s, 1, netip.MustParsePrefix("10.0.0.2/24"), testnet.NICOptions{})
	hub2.AddNIC(t, s, 2, netip.MustParsePrefix("10.0.1.2/24"), testnet.NICOptions{})
	hub1.AddNIC(t, c1, 1, netip.MustParsePrefix("10.0.0.1/24"), testnet.NICOptions{})
	hub2.AddNIC(t, c2, 1, netip.MustParsePrefix("10.0.1.1/24"), testnet.NICOptions{})
	pump := func() { hub1.Pump(); hub2.Pump() }

	ep1 := bound(t, s, netip.Addr{}, 53, tcpip.BindToDeviceOption(1))
	ep2 := bound(t, s, netip.Addr{}, 53, tcpip.BindToDeviceOption(2))
	// Unbound to a device, the port conflicts with both.
	if err := newUDP(t, s).Bind(tcpip.FullAddress{Port: 53}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("Bind without device = %v", err)
	}
	// FullAddress.NIC binds to the device too.
	ep3 := newUDP(t, s)
	if err := ep3.Bind(tcpip.FullAddress{NIC: 1, Port: 54}); err != nil {
		t.Fatal(err)
	}

	send(t, newUDP(t, c1), []byte("via 1"), to(netip.MustParseAddr("10.0.0.2"), 53))
	send(t, newUDP(t, c2), []byte("via 2"), to(netip.MustParseAddr("10.0.1.2"), 53))
	// The weak host model delivers 10.0.1.2 on NIC 1 too, but nobody
	// listens on port 54 of NIC 2.
	send(t, newUDP(t, c2), []byte("wrong NIC"), to(netip.MustParseAddr("10.0.1.2"), 54))
	pump()
	expect(t, ep1, []byte("via 1"), netip.AddrPort{})
	expect(t, ep2, []byte("via 2"), netip.AddrPort{})
	recvNone(t, ep1)
	recvNone(t, ep2)
	recvNone(t, ep3)

	// Moving an endpoint to another device moves what it receives.
	if err := ep1.SetSockOpt(tcpip.BindToDeviceOption(2)); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("moving onto ep2's device = %v", err)
	}
	ep2.Close()
	if err := ep1.SetSockOpt(tcpip.BindToDeviceOption(2)); err != nil {
		t.Fatal(err)
	}
	send(t, newUDP(t, c2), []byte("moved"), to(netip.MustParseAddr("10.0.1.2"), 53))
	pump()
	expect(t, ep1, []byte("moved"), netip.AddrPort{})
	// Sends follow the device.
	send(t, ep1, []byte("out of 2"), to(netip.MustParseAddr("10.0.1.1"), 99))
	if _, err := ep1.Write([]byte("x"), tcpip.WriteOptions{To: to(netip.MustParseAddr("10.0.0.1"), 99)}); err == nil {
		t.Fatal("sent to NIC 1's subnet out of NIC 2")
	}
}

// A dual-stack IPv6 endpoint (no IPV6_V6ONLY) bound to the IPv6 wildcard
// receives IPv4 datagrams, reported with IPv4-mapped addresses
// (RFC 4291 §2.5.5.2), and answers them over IPv4.
func TestDualStack(t *testing.T) {
	e := newEnv(t, envOptions{})
	proto := e.b.TransportProtocolInstance(udp.ProtocolNumber)
	ep, err := proto.NewEndpoint(tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Close)
	if err := ep.Bind(tcpip.FullAddress{Addr: netip.IPv6Unspecified(), Port: 53}); err != nil {
		t.Fatal(err)
	}
	la, _ := ep.LocalAddress()
	if la.Port != 53 || la.Addr.IsValid() {
		t.Fatalf("LocalAddress = %+v", la)
	}
	// The IPv4 port is taken too.
	if err := newUDP(t, e.b).Bind(tcpip.FullAddress{Port: 53}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("IPv4 Bind of a dual-stack port = %v", err)
	}
	cli := bound(t, e.a, netip.Addr{}, 1000)
	send(t, cli, []byte("v4 to v6"), to(addrB, 53))
	e.hub.Pump()
	res := expect(t, ep, []byte("v4 to v6"), netip.AddrPortFrom(netip.AddrFrom16(addrA.As16()), 1000))
	send(t, ep, []byte("v6 to v4"), &res.RemoteAddr)
	e.hub.Pump()
	expect(t, cli, []byte("v6 to v4"), netip.AddrPortFrom(addrB, 53))

	// With IPV6_V6ONLY, IPv4 is not received, and IPv4-mapped
	// destinations are unreachable.
	v6, err := proto.NewEndpoint(tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v6.Close)
	if err := v6.SetSockOpt(tcpip.V6OnlyOption(true)); err != nil {
		t.Fatal(err)
	}
	if err := v6.Bind(tcpip.FullAddress{Port: 54}); err != nil {
		t.Fatal(err)
	}
	if err := v6.SetSockOpt(tcpip.V6OnlyOption(false)); !errors.Is(err, tcpip.ErrInvalidEndpointState) {
		t.Fatalf("V6OnlyOption after Bind = %v", err)
	}
	send(t, cli, []byte("v4"), to(addrB, 54))
	e.hub.Pump()
	recvNone(t, v6)
	if got := counter(e.b, "UDP.UnknownPort"); got != 1 {
		t.Fatalf("UDP.UnknownPort = %d", got)
	}
	if _, err := v6.Write([]byte("x"), tcpip.WriteOptions{To: &res.RemoteAddr}); !errors.Is(err, tcpip.ErrNetworkUnreachable) {
		t.Fatalf("V6only Write to a mapped address = %v", err)
	}
	// An IPv4 endpoint can then take IPv4 port 54.
	bound(t, e.b, netip.Addr{}, 54)
}
