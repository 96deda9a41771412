package stack_test

import (
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/udp"
)

// Reconfiguring NICs, addresses and routes while UDP traffic flows through
// them neither races (go test -race) nor panics nor leaks, and traffic
// resumes after the NIC comes back.
func TestReconfigureWhileTrafficFlows(t *testing.T) {
	leakcheck.Check(t)
	newStack := func() *stack.Stack {
		return stack.New(stack.Options{
			NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
			TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
		})
	}
	a, b := newStack(), newStack()
	defer a.Close()
	defer b.Close()
	la, lb := pipe.New(pipe.Config{})
	addrA, addrB := netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("10.0.0.2/24")
	for _, x := range []struct {
		s    *stack.Stack
		link stack.LinkEndpoint
		addr netip.Prefix
	}{{a, ethernet.New(la), addrA}, {b, ethernet.New(lb), addrB}} {
		if err := x.s.CreateNIC(1, x.link); err != nil {
			t.Fatal(err)
		}
		x.s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: x.addr}, stack.AddressProperties{})
		x.s.AddRoute(tcpip.Route{Destination: x.addr.Masked(), NIC: 1})
	}
	srv, _ := b.NewEndpoint(tcpip.UDPProtocolNumber, tcpip.IPv4ProtocolNumber)
	defer srv.Close()
	if err := srv.Bind(tcpip.FullAddress{Port: 9}); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var received atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			ep, _ := a.NewEndpoint(tcpip.UDPProtocolNumber, tcpip.IPv4ProtocolNumber)
			defer ep.Close()
			to := &tcpip.FullAddress{Addr: addrB.Addr(), Port: 9}
			for !stop.Load() {
				ep.Write([]byte("traffic"), tcpip.WriteOptions{To: to})
			}
		})
	}
	wg.Go(func() {
		buf := make([]byte, 64)
		for !stop.Load() {
			if _, err := srv.Read(buf, tcpip.ReadOptions{}); err == nil {
				received.Add(1)
			}
		}
	})
	extra := netip.MustParsePrefix("10.0.0.7/24")
	for i := range 200 {
		switch i % 5 {
		case 0:
			b.DisableNIC(1)
		case 1:
			b.EnableNIC(1)
		case 2:
			a.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: extra}, stack.AddressProperties{})
		case 3:
			a.RemoveAddress(1, extra.Addr())
		case 4:
			a.SetRouteTable([]tcpip.Route{{Destination: addrA.Masked(), NIC: 1}})
		}
		_ = a.NICInfo()
		_, _ = b.Neighbors(1, tcpip.IPv4ProtocolNumber)
	}
	b.EnableNIC(1)
	// Traffic still flows once the configuration is back.
	before, deadline := received.Load(), time.Now().Add(10*time.Second)
	for received.Load() < before+10 {
		if time.Now().After(deadline) {
			t.Fatal("traffic did not resume after the NIC came back")
		}
		runtime.Gosched()
	}
	// Removing a NIC under traffic.
	if err := b.RemoveNIC(1); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	if received.Load() == 0 {
		t.Fatal("no datagram arrived")
	}
}
