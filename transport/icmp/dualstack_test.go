package icmp_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
	"github.com/ustack-go/ustack/transport/internal/testnet"
)

// Ping endpoints are per family, as Linux's ping sockets: an ICMPv6
// endpoint refuses IPv4 and IPv4-mapped addresses with
// ErrAddressFamily (there is no dual-stack ICMP: ICMPv4 and ICMPv6 are
// different protocols, RFC 4443 §1), and an ICMPv4 endpoint takes a
// mapped address as the IPv4 address it names.
func TestPingNoDualStack(t *testing.T) {
	p := testnet.NewPair(t, true, testnet.Options{
		Networks:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		Transports: []stack.TransportProtocolFactory{icmp.NewProtocol4, icmp.NewProtocol6},
	})
	// The test stack runs no IPv6: make the endpoint through the
	// protocol instance.
	ep6, err := p.A.TransportProtocolInstance(icmp.ProtocolNumber6).NewEndpoint(tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep6.Close)
	for _, a := range []netip.Addr{testnet.AddrB, netip.AddrFrom16(testnet.AddrB.As16())} {
		req := make([]byte, header.ICMPv6MinimumSize)
		f := header.ICMPv6Fields{Type: header.ICMPv6EchoRequest}
		f.Encode(req)
		if _, err := ep6.Write(req, tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: a}}); !errors.Is(err, tcpip.ErrAddressFamily) {
			t.Errorf("ICMPv6 Write to %v = %v, want ErrAddressFamily", a, err)
		}
		if err := ep6.Connect(tcpip.FullAddress{Addr: a}); !errors.Is(err, tcpip.ErrAddressFamily) {
			t.Errorf("ICMPv6 Connect to %v = %v, want ErrAddressFamily", a, err)
		}
		if err := ep6.Bind(tcpip.FullAddress{Addr: netip.AddrFrom16(testnet.AddrA.As16())}); !errors.Is(err, tcpip.ErrAddressFamily) {
			t.Errorf("ICMPv6 Bind to a mapped address = %v, want ErrAddressFamily", err)
		}
	}
	// IPV6_V6ONLY is stored, as Linux's ipv6 socket option, and makes
	// no difference: the endpoint is IPv6-only either way.
	if err := ep6.SetSockOpt(tcpip.V6OnlyOption(false)); err != nil {
		t.Fatal(err)
	}
	if err := ep6.Connect(tcpip.FullAddress{Addr: netip.AddrFrom16(testnet.AddrB.As16())}); !errors.Is(err, tcpip.ErrAddressFamily) {
		t.Errorf("ICMPv6 Connect to a mapped address without V6ONLY = %v", err)
	}

	ep4 := newPing(t, p.A)
	write(t, ep4, echo(7, "mapped"), &tcpip.FullAddress{Addr: netip.AddrFrom16(testnet.AddrB.As16())})
	p.Hub.Pump()
	res := reply(t, ep4, localPort(t, ep4), 7, "mapped")
	if res.RemoteAddr.Addr != testnet.AddrB {
		t.Fatalf("reply from %v", res.RemoteAddr.Addr)
	}
}
