package ipv6_test

import (
	"fmt"
	"net/netip"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
)

// Two stacks on one Ethernet segment: each NIC forms its link-local
// address when it comes up, and a ping endpoint of A reaches B's global
// address once NDP resolved it.
func Example() {
	clock := tcpip.NewManualClock()
	hub := testlink.NewHub()
	newHost := func(last byte, global string) *stack.Stack {
		s := stack.New(stack.Options{
			NetworkProtocols:   []stack.NetworkProtocolFactory{ipv6.NewProtocol},
			TransportProtocols: []stack.TransportProtocolFactory{icmp.NewProtocol6},
			Clock:              clock,
		})
		port := hub.NewPort(tcpip.LinkAddress{0x02, 0, 0, 0, 0, last}, 1500)
		s.CreateNIC(1, port.Link())
		p := netip.MustParsePrefix(global)
		s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv6ProtocolNumber, Address: p}, stack.AddressProperties{})
		s.AddRoute(tcpip.Route{Destination: p.Masked(), NIC: 1})
		return s
	}
	a := newHost(1, "2001:db8::1/64")
	b := newHost(2, "2001:db8::2/64")
	defer a.Close()
	defer b.Close()
	for _, addr := range b.AllAddresses()[1] {
		fmt.Println("B has", addr.Address)
	}

	ep, _ := a.NewEndpoint(icmp.ProtocolNumber6, tcpip.IPv6ProtocolNumber)
	defer ep.Close()
	req := make([]byte, header.ICMPv6MinimumSize+4)
	(&header.ICMPv6Fields{Type: header.ICMPv6EchoRequest, Sequence: 1}).Encode(req)
	copy(req[header.ICMPv6MinimumSize:], "ping")
	ep.Write(req, tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: netip.MustParseAddr("2001:db8::2")}})
	testlink.Run(clock, hub)

	buf := make([]byte, 100)
	res, err := ep.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	m := header.ICMPv6(buf[:res.N])
	fmt.Printf("%v from %v: %q\n", m.Type(), res.RemoteAddr.Addr, m.Payload())
	// Output:
	// B has fe80::ff:fe00:2/64
	// B has 2001:db8::2/64
	// echo reply from 2001:db8::2: "ping"
}
