package sim_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// Two ustack hosts configure themselves from a ustack router's
// advertisements (RFC 4861 §6.2, RFC 4862 §5.5), one on each side of it:
// each forms its SLAAC address after DAD and a default route through the
// router's link-local address, and a TCP transfer between them crosses
// the router, all on the simulator's clock.
func TestSLAACThroughRouter(t *testing.T) {
	n := newNet(t, 1)
	host := stack.DefaultNDPConfigurations()
	hostOpts := sim.HostOptions{
		Networks:   []stack.NetworkProtocolFactory{ipv6.NewProtocol},
		Transports: []stack.TransportProtocolFactory{tcp.NewProtocol},
		NDPConfigs: host,
	}
	a := n.AddHost("a", hostOpts)
	b := n.AddHost("b", hostOpts)
	rcfg := stack.DefaultNDPConfigurations()
	rcfg.SendRouterAdvertisements = true
	r := n.AddHost("r", sim.HostOptions{Networks: []stack.NetworkProtocolFactory{ipv6.NewProtocol}, Forwarding: true, NDPConfigs: rcfg})
	p := sim.Props{Delay: time.Millisecond, Bandwidth: 100e6}
	la := n.MustConnect(a, r, sim.LinkConfig{AB: p, BA: p})
	lb := n.MustConnect(b, r, sim.LinkConfig{AB: p, BA: p})
	// Each of the router's NICs advertises its own prefix.
	for _, x := range []struct {
		l      *sim.Link
		prefix string
	}{{la, "2001:db8:a::/64"}, {lb, "2001:db8:b::/64"}} {
		_, nic := x.l.NICs()
		c := rcfg
		c.AdvPrefixes = []stack.NDPAdvertisedPrefix{{Prefix: netip.MustParsePrefix(x.prefix), OnLink: true, Autonomous: true}}
		if err := r.Stack().SetNDPConfigurations(nic, c); err != nil {
			t.Fatal(err)
		}
		// The router's own address in the prefix and its on-link
		// route, as a router is configured by hand.
		own := netip.PrefixFrom(netip.MustParsePrefix(x.prefix).Addr().Next(), 64)
		if err := r.Stack().AddProtocolAddress(nic, tcpip.ProtocolAddress{Protocol: tcpip.IPv6ProtocolNumber, Address: own}, stack.AddressProperties{}); err != nil {
			t.Fatal(err)
		}
		if err := r.Stack().AddRoute(tcpip.Route{Destination: own.Masked(), NIC: nic}); err != nil {
			t.Fatal(err)
		}
	}
	slaac := func(h *sim.Host, prefix string) netip.Addr {
		p := netip.MustParsePrefix(prefix)
		for _, a := range h.Stack().NICInfo()[1].Addresses {
			if p.Contains(a.Address.Addr()) && !a.Properties.Tentative {
				return a.Address.Addr()
			}
		}
		return netip.Addr{}
	}
	if !n.RunUntil(func() bool { return slaac(a, "2001:db8:a::/64").IsValid() && slaac(b, "2001:db8:b::/64").IsValid() }, time.Minute) {
		t.Fatalf("no SLAAC addresses after a minute: a %v, b %v", a.Stack().NICInfo()[1].Addresses, b.Stack().NICInfo()[1].Addresses)
	}
	rll := header.LinkLocalAddrFromMAC(r.Stack().NICInfo()[1].LinkAddress)
	found := false
	for _, rt := range a.Stack().GetRouteTable() {
		if rt.Destination.Bits() == 0 && rt.Gateway == rll {
			found = true
		}
	}
	if !found {
		t.Errorf("a's routes %v: no default route through the router %v", a.Stack().GetRouteTable(), rll)
	}
	s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: 1 << 20, Seed: 1, To: slaac(b, "2001:db8:b::/64")})
	if err != nil {
		t.Fatal(err)
	}
	n.RunUntil(s.Done, time.Minute)
	if res := s.Result(); !res.OK() || res.Received != 1<<20 || res.SentSHA256 != res.ReceivedSHA256 {
		t.Fatalf("transfer across the router: %v", res)
	}
	if fwd := r.Stats().IPv6.PacketsForwarded.Load(); fwd == 0 {
		t.Error("the router forwarded nothing")
	}
}
