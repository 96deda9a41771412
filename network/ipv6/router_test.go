package ipv6_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// raOption is an NDP option to encode.
type raOption interface {
	Size() int
	Encode([]byte) header.NDPOption
}

// raFrame returns a Router Advertisement from the router with MAC
// mac(last) to all-nodes.
func raFrame(last byte, f header.NDPRouterAdvertFields, opts ...raOption) []byte {
	size := header.NDPRouterAdvertMinimumSize
	for _, o := range opts {
		size += o.Size()
	}
	body := make([]byte, size)
	f.Encode(body)
	off := header.NDPRouterAdvertMinimumSize
	for _, o := range opts {
		o.Encode(body[off:])
		off += o.Size()
	}
	all := header.IPv6AllNodesMulticastAddr
	src := linkLocal(last)
	return ndpFrame(header.EthernetAddrFromMulticastIPv6(all), mac(last), src, all, 255, ndpMessage(src, all, header.ICMPv6RouterAdvert, 0, body))
}

func prefixOpt(p string, onLink, auto bool, valid, preferred time.Duration) raOption {
	return &header.NDPPrefixInformationFields{Prefix: netip.MustParsePrefix(p), OnLink: onLink, Autonomous: auto, ValidLifetime: valid, PreferredLifetime: preferred}
}

// eui64Addr returns the /64 SLAAC address of mac(last) in prefix (given
// by its first address).
func eui64Addr(prefix string, last byte) netip.Prefix {
	a := addr(prefix).As16()
	id := header.IPv6EUI64InterfaceID(mac(last))
	copy(a[8:], id[:])
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// hostConfig is the RFC default host configuration with DAD of one probe.
func hostConfig() stack.NDPConfigurations {
	c := stack.DefaultNDPConfigurations()
	return c
}

// raHost is a host stack with cfg on a hub, EUI-64 link-local address from
// mac(2), and an event recorder; the link-local address has finished DAD.
func raHost(t *testing.T, cfg stack.NDPConfigurations, opaque stack.OpaqueInterfaceIdentifierOptions) (*testNet, *testlink.Hub, *stack.Stack, *events) {
	n := newNet(t)
	h := n.hub()
	ev := &events{}
	s := n.newStack(stackOpts{ndp: cfg, ndpDisp: ev, opaque: opaque})
	n.addNIC(s, 1, h, mac(2), 1500, "")
	n.advance(10 * time.Second)
	ev.take()
	h.Frames()
	return n, h, s, ev
}

func routes(s *stack.Stack) []string {
	var out []string
	for _, r := range s.GetRouteTable() {
		out = append(out, r.String())
	}
	return out
}

func hasRoute(s *stack.Stack, want string) bool { return slices.Contains(routes(s), want) }

func nicAddr(s *stack.Stack, a netip.Addr) (stack.AddressInfo, bool) {
	for _, info := range nicAddrs(s) {
		if info.Address.Addr() == a {
			return info, true
		}
	}
	return stack.AddressInfo{}, false
}

func nicAddrs(s *stack.Stack) []stack.AddressInfo {
	return s.NICInfo()[1].Addresses
}

// A host solicits routers when its NIC comes up: MaxRtrSolicitations
// solicitations, the first within MaxRtrSolicitationDelay, then
// RtrSolicitationInterval apart (RFC 4861 §6.3.7); an advertisement stops
// them; a router does not solicit.
func TestRouterSolicitation(t *testing.T) {
	for _, tc := range []struct {
		name       string
		answerAt   int // after this many solicitations an RA comes; 0: never
		forwarding bool
		want       int
	}{
		{"unanswered", 0, false, 3},
		{"answered", 1, false, 1},
		{"router", 0, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNet(t)
			h := n.hub()
			cfg := hostConfig()
			cfg.DupAddrDetectTransmits = 0
			s := n.newStack(stackOpts{ndp: cfg})
			if tc.forwarding {
				s.SetForwarding(ipv6Proto, true)
			}
			n.addNIC(s, 1, h, mac(2), 1500, "")
			count := func() int {
				ms, ps := icmpOfType(h.Frames(), header.ICMPv6RouterSolicit)
				for i, p := range ps {
					if p.Destination() != header.IPv6AllRoutersMulticastAddr || p.HopLimit() != 255 || p.Source() != linkLocal(2) {
						t.Errorf("solicitation %v -> %v hop %d", p.Source(), p.Destination(), p.HopLimit())
					}
					rs, _ := header.ParseNDPRouterSolicit(ms[i].MessageBody())
					if la, ok := linkAddrOf(rs.Options()); !ok || la != mac(2) {
						t.Errorf("solicitation without our link-layer address")
					}
				}
				return len(ms)
			}
			total := 0
			n.advance(time.Second)
			total += count()
			if !tc.forwarding && total != 1 {
				t.Fatalf("%d solicitations in the first second, want 1", total)
			}
			if tc.answerAt == 1 {
				h.Send(raFrame(9, header.NDPRouterAdvertFields{RouterLifetime: time.Minute}))
			}
			for range 3 {
				n.advance(4*time.Second - time.Millisecond)
				total += count()
				n.advance(time.Millisecond)
				total += count()
			}
			n.advance(time.Minute)
			total += count()
			if total != tc.want {
				t.Errorf("%d solicitations, want %d", total, tc.want)
			}
		})
	}
}

// Router Advertisement processing (RFC 4861 §6.3.4, RFC 4862 §5.5.3, RFC
// 8106): default router with its lifetime, on-link prefix, SLAAC address
// (EUI-64) with its lifetimes, link parameters, DNS options and M/O flags
// reported; the router lifetime's expiry removes the default route, the
// preferred lifetime's deprecates the address (RFC 6724 rule 3: another
// address is chosen as source), the valid lifetime's removes it.
func TestRouterAdvertisement(t *testing.T) {
	n, h, s, ev := raHost(t, hostConfig(), stack.OpaqueInterfaceIdentifierOptions{})
	rtr := linkLocal(9)
	h.Send(raFrame(9, header.NDPRouterAdvertFields{CurHopLimit: 77, Managed: true, RouterLifetime: 30 * time.Second, RetransTimer: 1500 * time.Millisecond},
		&header.NDPLinkLayerAddressFields{Type: header.NDPOptionSourceLinkLayerAddress, Address: mac(9)},
		&header.NDPMTUFields{MTU: 1400},
		prefixOpt("2001:db8:1::/64", true, true, 3*time.Hour, time.Hour),
		prefixOpt("2001:db8:2::/64", true, true, 5*time.Hour, 5*time.Hour),
		prefixOpt("2001:db8:3::/48", true, true, time.Hour, time.Hour), // no SLAAC: not /64
		&header.NDPRDNSSFields{Lifetime: time.Minute, Addresses: []netip.Addr{addr("2001:db8::53")}},
		&header.NDPDNSSLFields{Lifetime: time.Minute, Domains: []string{"example.com"}},
	))
	n.run()
	slaac1, slaac2 := eui64Addr("2001:db8:1::", 2), eui64Addr("2001:db8:2::", 2)
	for _, want := range []string{
		"route ::/0 via " + rtr.String() + " medium",
		"onlink 2001:db8:1::/64", "onlink 2001:db8:3::/48",
		"addr " + slaac1.String(), "addr " + slaac2.String(),
		"rdnss [2001:db8::53] 1m0s", "dnssl [example.com] 1m0s",
		"dhcpv6 1",
	} {
		if !ev.has(want) {
			t.Errorf("no event %q in %q", want, ev.log)
		}
	}
	ev.take()
	if !hasRoute(s, "::/0 via "+rtr.String()+" nic 1 metric 1024") || !hasRoute(s, "2001:db8:1::/64 nic 1 metric 1024") {
		t.Errorf("routes %q", routes(s))
	}
	if info, ok := nicAddr(s, slaac1.Addr()); !ok || !info.Properties.Tentative {
		t.Errorf("SLAAC address %v: %+v (want tentative)", slaac1, info)
	}
	ep, _ := s.NetworkEndpoint(1, ipv6Proto)
	if ep.MTU() != 1400-header.IPv6MinimumSize {
		t.Errorf("MTU %d after the MTU option", ep.MTU())
	}
	// DAD of the SLAAC address (RetransTimer from the RA: 1.5 s).
	n.advance(1500 * time.Millisecond)
	if info, _ := nicAddr(s, slaac1.Addr()); info.Properties.Tentative {
		t.Error("SLAAC address still tentative")
	}
	// The new hop limit applies to our packets.
	if err := send(t, s, addr("2001:db8:1::9"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1, 2, nil)); err != nil {
		t.Fatal(err)
	}
	n.run()
	for _, p := range seenIPv6(h.Frames()) {
		if p.NextHeader() == tcpip.UDPProtocolNumber && p.HopLimit() != 77 {
			t.Errorf("hop limit %d, want the RA's 77", p.HopLimit())
		}
	}

	// Router lifetime: the default route goes after 30 s.
	n.advance(28 * time.Second)
	if !hasRoute(s, "::/0 via "+rtr.String()+" nic 1 metric 1024") {
		t.Fatal("default route gone early")
	}
	n.advance(time.Second)
	if hasRoute(s, "::/0 via "+rtr.String()+" nic 1 metric 1024") {
		t.Error("default route outlived the router lifetime")
	}
	if got := ev.take(); !slices.Contains(got, "route-gone ::/0 via "+rtr.String()) {
		t.Errorf("events %q", got)
	}

	// Preferred lifetime (1 h): deprecated; the other prefix's address
	// becomes the source for global destinations.
	r, err := s.FindRoute(1, netip.Addr{}, addr("2001:db8:1::77"), ipv6Proto, false)
	if err != nil || r.LocalAddress != slaac1.Addr() {
		t.Fatalf("source %v (%v) before deprecation, want %v", r.LocalAddress, err, slaac1.Addr())
	}
	n.advance(time.Hour - 30*time.Second)
	if info, _ := nicAddr(s, slaac1.Addr()); !info.Properties.Deprecated {
		t.Fatal("not deprecated after the preferred lifetime")
	}
	if got := ev.take(); !slices.Contains(got, "deprecated "+slaac1.String()) {
		t.Errorf("events %q", got)
	}
	r, err = s.FindRoute(1, netip.Addr{}, addr("2001:db8:1::77"), ipv6Proto, false)
	if err != nil || r.LocalAddress != slaac2.Addr() {
		t.Errorf("source %v (%v) after deprecation, want %v", r.LocalAddress, err, slaac2.Addr())
	}
	// A deprecated address still receives (RFC 4862 §5.5.4).
	if s.CheckLocalAddress(1, ipv6Proto, slaac1.Addr()) == 0 {
		t.Error("deprecated address no longer local")
	}
	// Valid lifetime (3 h): removed, with its on-link prefix.
	n.advance(2 * time.Hour)
	if _, ok := nicAddr(s, slaac1.Addr()); ok {
		t.Error("address outlived its valid lifetime")
	}
	if hasRoute(s, "2001:db8:1::/64 nic 1 metric 1024") {
		t.Error("on-link prefix outlived its valid lifetime")
	}
	got := ev.take()
	for _, want := range []string{"invalidated " + slaac1.String(), "onlink-gone 2001:db8:1::/64"} {
		if !slices.Contains(got, want) {
			t.Errorf("no event %q in %q", want, got)
		}
	}
	if _, ok := nicAddr(s, slaac2.Addr()); !ok {
		t.Error("the other prefix's address went too")
	}
}

// RFC 4862 §5.5.3 (e): an advertisement cannot cut the remaining valid
// lifetime below two hours; it can lengthen it, and it can shorten one
// above two hours to two hours.
func TestSLAACTwoHourRule(t *testing.T) {
	n, h, s, _ := raHost(t, hostConfig(), stack.OpaqueInterfaceIdentifierOptions{})
	ra := func(valid time.Duration) {
		h.Send(raFrame(9, header.NDPRouterAdvertFields{}, prefixOpt("2001:db8:1::/64", false, true, valid, 0)))
		n.run()
	}
	a := eui64Addr("2001:db8:1::", 2).Addr()
	ra(10 * time.Hour)
	if _, ok := nicAddr(s, a); !ok {
		t.Fatal("no SLAAC address")
	}
	if info, _ := nicAddr(s, a); !info.Properties.Deprecated {
		t.Error("zero preferred lifetime: not deprecated")
	}
	// 10 h left, a 1-minute lifetime arrives: cut to two hours.
	ra(time.Minute)
	n.advance(2*time.Hour - time.Second)
	if _, ok := nicAddr(s, a); !ok {
		t.Fatal("removed before two hours")
	}
	// Under two hours left: a short lifetime is ignored.
	ra(time.Minute)
	n.advance(time.Minute + time.Second)
	if _, ok := nicAddr(s, a); ok {
		t.Fatal("the remaining lifetime was not kept: the address outlived it")
	}
	// A new prefix; a longer lifetime is taken as is.
	ra(time.Hour)
	n.advance(30 * time.Minute)
	ra(3 * time.Hour)
	n.advance(3*time.Hour - time.Second)
	if _, ok := nicAddr(s, a); !ok {
		t.Fatal("the longer lifetime was not applied")
	}
	n.advance(2 * time.Second)
	if _, ok := nicAddr(s, a); ok {
		t.Error("outlived the new lifetime")
	}
}

// Default router selection by preference (RFC 4191 §3.2, RFC 4861
// §6.3.6): the High router's route wins; when it goes away, the Low one.
// A zero router lifetime removes a router at once; an advertisement with
// the R flag cleared does too (RFC 4861 §7.2.5).
func TestDefaultRouterPreference(t *testing.T) {
	n, h, s, _ := raHost(t, hostConfig(), stack.OpaqueInterfaceIdentifierOptions{})
	h.Send(raFrame(8, header.NDPRouterAdvertFields{RouterLifetime: time.Hour, RouterPreference: header.NDPPreferenceLow},
		&header.NDPLinkLayerAddressFields{Type: header.NDPOptionSourceLinkLayerAddress, Address: mac(8)}))
	h.Send(raFrame(9, header.NDPRouterAdvertFields{RouterLifetime: time.Hour, RouterPreference: header.NDPPreferenceHigh}))
	n.run()
	addAddr(t, s, "2001:db8::2/128")
	n.advance(time.Second)
	next := func() netip.Addr {
		r, err := s.FindRoute(0, netip.Addr{}, addr("2001:db8:99::1"), ipv6Proto, false)
		if err != nil {
			return netip.Addr{}
		}
		return r.NextHop
	}
	if got := next(); got != linkLocal(9) {
		t.Fatalf("next hop %v, want the High router %v (routes %q)", got, linkLocal(9), routes(s))
	}
	h.Send(raFrame(9, header.NDPRouterAdvertFields{RouterLifetime: 0}))
	n.run()
	if got := next(); got != linkLocal(8) {
		t.Fatalf("next hop %v after the High router left, want %v", got, linkLocal(8))
	}
	// Router 8 stops being a router: its entry (from the RA's source
	// link-layer address option) is marked a router by an advertisement
	// with R, then one without R removes it from the list.
	all := header.IPv6AllNodesMulticastAddr
	adv := func(router bool) {
		h.Send(ndpFrame(header.EthernetAddrFromMulticastIPv6(all), mac(8), linkLocal(8), all, 255,
			ndpMessage(linkLocal(8), all, header.ICMPv6NeighborAdvert, 0, naBody(header.NDPNeighborAdvertFields{Router: router, Override: true, TargetAddress: linkLocal(8)}, mac(8)))))
		n.run()
	}
	adv(true)
	adv(false)
	if e, ok := neighbor(t, s, linkLocal(8)); !ok || e.IsRouter {
		t.Fatalf("entry %+v (%v), want a non-router", e, ok)
	}
	if got := next(); got.IsValid() {
		t.Errorf("next hop %v after the R flag was cleared", got)
	}
}

// Route Information options (RFC 4191 §2.3) add more-specific routes.
func TestRouteInformation(t *testing.T) {
	n, h, s, ev := raHost(t, hostConfig(), stack.OpaqueInterfaceIdentifierOptions{})
	h.Send(raFrame(9, header.NDPRouterAdvertFields{},
		&header.NDPRouteInformationFields{Prefix: netip.MustParsePrefix("2001:db8:77::/48"), Preference: header.NDPPreferenceHigh, Lifetime: time.Minute}))
	n.run()
	want := "2001:db8:77::/48 via " + linkLocal(9).String() + " nic 1 metric 1023"
	if !hasRoute(s, want) {
		t.Fatalf("routes %q, want %q", routes(s), want)
	}
	n.advance(time.Minute)
	if hasRoute(s, want) {
		t.Error("route outlived its lifetime")
	}
	if got := ev.take(); !slices.Contains(got, "route-gone 2001:db8:77::/48 via "+linkLocal(9).String()) {
		t.Errorf("events %q", got)
	}
}

// A Redirect from the current first-hop router adds a host route through
// the better next hop (RFC 4861 §8.3); one from another node is refused
// (§8.1).
func TestRedirect(t *testing.T) {
	n, h, s, _ := raHost(t, hostConfig(), stack.OpaqueInterfaceIdentifierOptions{})
	h.Send(raFrame(9, header.NDPRouterAdvertFields{RouterLifetime: time.Hour}))
	n.run()
	dst := addr("2001:db8:5::5")
	redirect := func(from byte, target netip.Addr) {
		body := make([]byte, header.NDPRedirectMinimumSize+header.NDPLinkLayerAddressOptionSize)
		(&header.NDPRedirectFields{TargetAddress: target, DestinationAddress: dst}).Encode(body)
		(&header.NDPLinkLayerAddressFields{Type: header.NDPOptionTargetLinkLayerAddress, Address: mac(7)}).Encode(body[header.NDPRedirectMinimumSize:])
		src := linkLocal(from)
		h.Send(ndpFrame(mac(2), mac(from), src, linkLocal(2), 255, ndpMessage(src, linkLocal(2), header.ICMPv6Redirect, 0, body)))
		n.run()
	}
	redirect(6, linkLocal(7))
	if hasRoute(s, "2001:db8:5::5/128 via "+linkLocal(7).String()+" nic 1 metric 1") {
		t.Fatal("redirect from a node that is not the first hop applied")
	}
	redirect(9, linkLocal(7))
	if !hasRoute(s, "2001:db8:5::5/128 via "+linkLocal(7).String()+" nic 1 metric 1") {
		t.Fatalf("routes %q after the redirect", routes(s))
	}
	if e, ok := neighbor(t, s, linkLocal(7)); !ok || e.LinkAddr != mac(7) {
		t.Errorf("target entry %+v", e)
	}
}

// raBody returns the body of a Router Advertisement with a default router
// lifetime of a minute and an autonomous /64 prefix.
func raBody(prefix string) header.NDPRouterAdvert {
	pi := prefixOpt(prefix, true, true, time.Hour, time.Hour)
	b := make([]byte, header.NDPRouterAdvertMinimumSize+pi.Size())
	(&header.NDPRouterAdvertFields{RouterLifetime: time.Minute}).Encode(b)
	pi.Encode(b[header.NDPRouterAdvertMinimumSize:])
	return header.NDPRouterAdvert(b)
}

// HandleNDPRA feeds an advertisement through the API. A stack that
// forwards ignores advertisements (RFC 4861 §6.2.1: routers do not
// configure themselves from other routers; no SLAAC, no default router)
// unless HandleRAsAlwaysEnabled asks for it (Linux's accept_ra=2).
func TestHandleNDPRA(t *testing.T) {
	for _, tc := range []struct {
		name       string
		forwarding bool
		mode       stack.HandleRAsMode
		learns     bool
	}{
		{"host", false, stack.HandleRAsWhenForwardingDisabled, true},
		{"router", true, stack.HandleRAsWhenForwardingDisabled, false},
		{"router accept_ra=2", true, stack.HandleRAsAlwaysEnabled, true},
		{"disabled", false, stack.HandleRAsDisabled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNet(t)
			h := n.hub()
			cfg := hostConfig()
			cfg.HandleRAs = tc.mode
			cfg.DupAddrDetectTransmits = 0
			s := n.newStack(stackOpts{ndp: cfg})
			s.SetForwarding(ipv6Proto, tc.forwarding)
			n.addNIC(s, 1, h, mac(2), 1500, "")
			n.run()
			if err := s.HandleNDPRA(1, linkLocal(9), raBody("2001:db8:1::/64")); err != nil {
				t.Fatal(err)
			}
			n.run()
			_, formed := nicAddr(s, eui64Addr("2001:db8:1::", 2).Addr())
			routed := hasRoute(s, "::/0 via "+linkLocal(9).String()+" nic 1 metric 1024")
			if formed != tc.learns || routed != tc.learns {
				t.Errorf("address formed %v, default route %v; want %v", formed, routed, tc.learns)
			}
			if err := s.HandleNDPRA(1, addr("2001:db8::9"), raBody("2001:db8:1::/64")); err == nil {
				t.Error("an advertisement from a global address accepted")
			}
			if err := s.HandleNDPRA(5, linkLocal(9), raBody("2001:db8:1::/64")); err == nil {
				t.Error("unknown NIC accepted")
			}
		})
	}
}

// An advertisement's Reachable Time becomes the neighbour cache's
// BaseReachableTime (RFC 4861 §6.3.4): a confirmed neighbour turns STALE
// within 1.5 × 2 s instead of the default 30 s.
func TestRouterAdvertisementReachableTime(t *testing.T) {
	n, h, s, _ := raHost(t, hostConfig(), stack.OpaqueInterfaceIdentifierOptions{})
	h.Send(raFrame(9, header.NDPRouterAdvertFields{ReachableTime: 2 * time.Second}))
	n.run()
	peer := linkLocal(7)
	if err := send(t, s, peer, stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1, 2, nil)); err != nil {
		t.Fatal(err)
	}
	n.run()
	h.Send(ndpFrame(mac(2), mac(7), peer, linkLocal(2), 255, ndpMessage(peer, linkLocal(2), header.ICMPv6NeighborAdvert, 0,
		naBody(header.NDPNeighborAdvertFields{Solicited: true, Override: true, TargetAddress: peer}, mac(7)))))
	n.run()
	if e, _ := neighbor(t, s, peer); e.State != stack.NeighborReachable {
		t.Fatalf("entry %+v, want REACHABLE", e)
	}
	n.advance(3*time.Second + time.Millisecond)
	if e, _ := neighbor(t, s, peer); e.State != stack.NeighborStale {
		t.Errorf("entry %+v 3 s after confirmation, want STALE (BaseReachableTime 2 s)", e)
	}
}
