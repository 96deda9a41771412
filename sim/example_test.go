package sim_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/tcpip"
)

// Two hosts 5 ms apart; a sends three requests to an echo server on b.
// The first round trip includes ARP resolution.
func Example() {
	n := sim.New(1)
	a := n.AddHost("a", sim.HostOptions{})
	b := n.AddHost("b", sim.HostOptions{})
	wire := sim.Props{Delay: 5 * time.Millisecond}
	link := n.MustConnect(a, b, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("10.0.0.1/24"),
		AddrB: netip.MustParsePrefix("10.0.0.2/24"),
		AB:    wire,
		BA:    wire,
	})
	n.Run(time.Second) // let the NICs' gratuitous ARP pass

	if _, err := sim.StartUDPEcho(b, 7); err != nil {
		panic(err)
	}
	req, err := sim.StartUDPRequests(a, b, sim.UDPFlowConfig{Port: 7, Count: 3, Interval: 100 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	n.Run(time.Second)

	s := req.Stats()
	fmt.Printf("%d requests, %d replies, round trips %v to %v\n", s.Sent, s.Unique, s.MinLatency, s.MaxLatency)
	c := link.Counters(sim.AToB)
	fmt.Printf("a->b: %d frames sent, %d delivered\n", c.Sent, c.Delivered)
	fmt.Println("virtual time:", n.Now())
	if err := n.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 3 requests, 3 replies, round trips 10ms to 20ms
	// a->b: 5 frames sent, 5 delivered
	// virtual time: 2s
}

// Dual-stack hosts: one link carries an IPv4 and an IPv6 subnet, and the
// same echo server answers over both. The first round trip of each family
// includes its address resolution: ARP, then neighbour discovery.
func Example_dualStack() {
	n := sim.New(1)
	a := n.AddHost("a", sim.HostOptions{IPv6: true})
	b := n.AddHost("b", sim.HostOptions{IPv6: true})
	wire := sim.Props{Delay: 5 * time.Millisecond}
	n.MustConnect(a, b, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("10.0.0.1/24"),
		AddrB: netip.MustParsePrefix("10.0.0.2/24"),
		MoreA: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")},
		MoreB: []netip.Prefix{netip.MustParsePrefix("2001:db8::2/64")},
		AB:    wire,
		BA:    wire,
	})
	n.Run(time.Second) // let the NICs' start-up traffic pass

	if _, err := sim.StartUDPEcho(b, 7); err != nil {
		panic(err)
	}
	for _, to := range []netip.Addr{b.AddrOf(tcpip.IPv4ProtocolNumber), b.AddrOf(tcpip.IPv6ProtocolNumber)} {
		req, err := sim.StartUDPRequests(a, b, sim.UDPFlowConfig{Port: 7, To: to, Count: 3, Interval: 100 * time.Millisecond})
		if err != nil {
			panic(err)
		}
		n.Run(time.Second)
		req.Stop()
		s := req.Stats()
		fmt.Printf("%v: %d requests, %d replies, round trips %v to %v\n", to, s.Sent, s.Unique, s.MinLatency, s.MaxLatency)
	}
	if err := n.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 10.0.0.2: 3 requests, 3 replies, round trips 10ms to 20ms
	// 2001:db8::2: 3 requests, 3 replies, round trips 10ms to 20ms
}
