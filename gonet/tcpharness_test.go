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
)

// streamImpl is a stream transport the TCP adapter is tested over.
type streamImpl struct {
	name string
	// factories returns the transport protocol factories of the stacks
	// at addresses a and b.
	factories func(a, b netip.Addr) (fa, fb stack.TransportProtocolFactory)
}

// streamImpls lists the transports: the in-memory fake always, the TCP
// engine when its test file is built (tcpengine_test.go).
var streamImpls = []streamImpl{{
	name: "fake",
	factories: func(a, b netip.Addr) (stack.TransportProtocolFactory, stack.TransportProtocolFactory) {
		f := newFakeStreams()
		return f.factory(a), f.factory(b)
	},
}}

// forEachStream runs test once per stream transport, as a subtest, with two
// stacks A and B joined by a pipe of Ethernet frames.
func forEachStream(t *testing.T, test func(t *testing.T, a, b *stack.Stack)) {
	for _, impl := range streamImpls {
		t.Run(impl.name, func(t *testing.T) {
			a, b := streamHosts(t, impl)
			test(t, a, b)
		})
	}
}

// streamHosts starts the goroutine-leak check and returns two stacks A
// (addrA) and B (addrB) running IPv4, ARP and the stream transport impl,
// closed when the test ends.
func streamHosts(t *testing.T, impl streamImpl) (a, b *stack.Stack) {
	t.Helper()
	leakcheck.Check(t)
	linkA, linkB := pipe.New(pipe.Config{})
	fa, fb := impl.factories(addrA, addrB)
	a = streamHost(t, linkA, addrA, fa)
	b = streamHost(t, linkB, addrB, fb)
	return a, b
}

func streamHost(t testing.TB, link stack.LinkEndpoint, addr netip.Addr, transport stack.TransportProtocolFactory) *stack.Stack {
	t.Helper()
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{transport},
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
