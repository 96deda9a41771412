package gonet_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
	"github.com/ustack-go/ustack/transport/udp"
)

// newHost returns a stack with IPv4, ARP, UDP and ICMP echo on an Ethernet
// link, with the address addr and a route to its subnet.
func newHost(link stack.LinkEndpoint, addr netip.Prefix) *stack.Stack {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol, icmp.NewProtocol4},
	})
	if err := s.CreateNIC(1, ethernet.New(link)); err != nil {
		log.Fatal(err)
	}
	pa := tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: addr}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		log.Fatal(err)
	}
	if err := s.AddRoute(tcpip.Route{Destination: addr.Masked(), NIC: 1}); err != nil {
		log.Fatal(err)
	}
	return s
}

// Two stacks in one process, joined by an in-memory Ethernet cable,
// exchange a UDP datagram through package net's interfaces.
func Example() {
	linkA, linkB := pipe.New(pipe.Config{})
	a := newHost(linkA, netip.MustParsePrefix("192.0.2.1/24"))
	defer a.Close()
	b := newHost(linkB, netip.MustParsePrefix("192.0.2.2/24"))
	defer b.Close()

	// An echo server on b, port 7.
	server, err := gonet.ListenUDP(b, netip.MustParseAddrPort("0.0.0.0:7"), tcpip.IPv4ProtocolNumber)
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := server.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed
			}
			server.WriteToUDPAddrPort(buf[:n], from)
		}
	}()

	// A client on a: a connected UDPConn is a net.Conn.
	conn, err := gonet.DialUDP(a, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:7"), tcpip.IPv4ProtocolNumber)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("hello, ustack")); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s from %v\n", buf[:n], conn.RemoteAddr())
	// Output: hello, ustack from 192.0.2.2:7
}

// Ping sends echo requests from one stack to another and reports the
// replies, with round-trip times measured on the stack's clock.
func ExamplePing() {
	linkA, linkB := pipe.New(pipe.Config{})
	a := newHost(linkA, netip.MustParsePrefix("192.0.2.1/24"))
	defer a.Close()
	b := newHost(linkB, netip.MustParsePrefix("192.0.2.2/24"))
	defer b.Close()

	replies, err := gonet.Ping(context.Background(), a, netip.MustParseAddr("192.0.2.2"), gonet.PingOptions{
		Count:    3,
		Interval: 10 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range replies {
		fmt.Printf("%d bytes from %v: seq=%d\n", r.Size, r.From, r.Seq)
	}
	// Output:
	// 56 bytes from 192.0.2.2: seq=1
	// 56 bytes from 192.0.2.2: seq=2
	// 56 bytes from 192.0.2.2: seq=3
}
