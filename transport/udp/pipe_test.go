package udp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/impair"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/udp"
)

// waitReadable blocks until ep has a datagram, as a blocking socket
// would, through its WaitQueue.
func waitReadable(t testing.TB, ep tcpip.Endpoint) {
	t.Helper()
	w := tcpip.NewChannelWaiter()
	h := ep.WaitQueue().Register(w, tcpip.EventIn)
	defer ep.WaitQueue().Unregister(h)
	deadline := time.After(5 * time.Second)
	for ep.Readiness(tcpip.EventIn) == 0 {
		select {
		case <-w:
		case <-deadline:
			t.Fatal("no datagram within 5s")
		}
	}
}

// pipeOptions configures overPipe.
type pipeOptions struct {
	pipe pipe.Config
	// impairAB, if set, impairs what A sends to B.
	impairAB *impair.Direction
}

// overPipe builds stacks A (10.0.0.1) and B (10.0.0.2) joined by a pipe of
// Ethernet frames, delivered by the pipe's goroutines: the production
// links, not the test hub. It starts the goroutine and buffer leak checks.
func overPipe(t *testing.T, o pipeOptions) (a, b *stack.Stack) {
	t.Helper()
	leakcheck.Check(t)
	testnet.CheckBuffers(t)
	clock := tcpip.NewManualClock()
	newStack := func() *stack.Stack {
		s := stack.New(stack.Options{
			NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
			TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
			Clock:              clock,
		})
		t.Cleanup(s.Close)
		return s
	}
	a, b = newStack(), newStack()
	la, lb := pipe.New(o.pipe)
	var linkA stack.LinkEndpoint = la
	if o.impairAB != nil {
		linkA = impair.New(la, impair.Config{Seed: 1, Tx: *o.impairAB}, clock)
	}
	for _, n := range []struct {
		s    *stack.Stack
		link stack.LinkEndpoint
		addr netip.Prefix
	}{
		{a, ethernet.New(linkA), netip.PrefixFrom(addrA, 24)},
		{b, ethernet.New(lb), netip.PrefixFrom(addrB, 24)},
	} {
		if err := n.s.CreateNIC(1, n.link); err != nil {
			t.Fatal(err)
		}
		if err := n.s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: n.addr}, stack.AddressProperties{}); err != nil {
			t.Fatal(err)
		}
		if err := n.s.AddRoute(tcpip.Route{Destination: n.addr.Masked(), NIC: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

// UDP echo between two stacks over a pipe of Ethernet frames (ARP
// resolves B first).
func TestEchoOverPipe(t *testing.T) {
	a, b := overPipe(t, pipeOptions{})
	srv := bound(t, b, netip.Addr{}, 7)
	cli := newUDP(t, a)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 7}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		msg := []byte{'e', 'c', 'h', 'o', byte(i)}
		send(t, cli, msg, nil)
		waitReadable(t, srv)
		_, res := recv(t, srv)
		send(t, srv, msg, &res.RemoteAddr)
		waitReadable(t, cli)
		expect(t, cli, msg, netip.AddrPortFrom(addrB, 7))
	}
}
