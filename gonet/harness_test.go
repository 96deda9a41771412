package gonet_test

import (
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
	"github.com/ustack-go/ustack/transport/udp"
)

// Addresses of the two hosts of every test: A and B on one Ethernet
// segment (TEST-NET-1, RFC 5737), and an address of that subnet nobody has.
var (
	addrA      = netip.MustParseAddr("192.0.2.1")
	addrB      = netip.MustParseAddr("192.0.2.2")
	addrAbsent = netip.MustParseAddr("192.0.2.99")
	subnet     = netip.MustParsePrefix("192.0.2.0/24")
)

// hosts starts the goroutine-leak check and returns two stacks joined by a
// pipe of Ethernet frames, A at addrA and B at addrB, running IPv4, ARP,
// UDP and ICMP echo; the stacks are closed when the test ends.
func hosts(t *testing.T) (a, b *stack.Stack) {
	t.Helper()
	return hostsWithClock(t, nil)
}

// hostsWithClock is hosts with the given clock for both stacks (nil: the
// real clock).
func hostsWithClock(t *testing.T, clock tcpip.Clock) (a, b *stack.Stack) {
	t.Helper()
	leakcheck.Check(t)
	linkA, linkB := pipe.New(pipe.Config{})
	a = host(t, linkA, addrA, clock)
	b = host(t, linkB, addrB, clock)
	return a, b
}

func host(t *testing.T, link stack.LinkEndpoint, addr netip.Addr, clock tcpip.Clock) *stack.Stack {
	t.Helper()
	s := stack.New(stack.Options{
		Clock:              clock,
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol, icmp.NewProtocol4},
	})
	t.Cleanup(s.Close)
	if err := s.CreateNIC(1, ethernet.New(link)); err != nil {
		t.Fatalf("CreateNIC: %v", err)
	}
	pa := tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: netip.PrefixFrom(addr, subnet.Bits())}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		t.Fatalf("AddProtocolAddress: %v", err)
	}
	if err := s.AddRoute(tcpip.Route{Destination: subnet, NIC: 1}); err != nil {
		t.Fatalf("AddRoute: %v", err)
	}
	return s
}
