package ipv6_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// routerConfig advertises 2001:db8:1::/64 for SLAAC.
func routerConfig() stack.NDPConfigurations {
	c := stack.DefaultNDPConfigurations()
	c.SendRouterAdvertisements = true
	c.MinRtrAdvInterval = 30 * time.Second
	c.MaxRtrAdvInterval = 60 * time.Second
	c.AdvLinkMTU = 1480
	c.AdvOtherConfigFlag = true
	c.AdvPrefixes = []stack.NDPAdvertisedPrefix{{Prefix: netip.MustParsePrefix("2001:db8:1::/64"), OnLink: true, Autonomous: true}}
	c.AdvRecursiveDNSServers = []netip.Addr{addr("2001:db8:1::53")}
	return c
}

// A stack that forwards and is configured to advertise is a router (RFC
// 4861 §6.2): it sends unsolicited advertisements at random intervals
// within [MinRtrAdvInterval, MaxRtrAdvInterval] (the first ones sooner),
// answers solicitations, does not solicit, and ignores other routers'
// advertisements; a host on its link forms an address in the advertised
// prefix and routes through it.
func TestRouterAdvertising(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	rtrEv, hostEv := &events{}, &events{}
	r := n.newStack(stackOpts{ndp: routerConfig(), ndpDisp: rtrEv})
	r.SetForwarding(ipv6Proto, true)
	n.addNIC(r, 1, h, mac(1), 1500, "")
	hostCfg := hostConfig()
	hostCfg.MaxRtrSolicitations = 0 // the host's solicitation is sent by hand below
	host := n.newStack(stackOpts{ndp: hostCfg, ndpDisp: hostEv})
	n.addNIC(host, 1, h, mac(2), 1500, "")

	n.advance(20 * time.Second)
	ras, ps := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert)
	if len(ras) == 0 {
		t.Fatal("no advertisement within MAX_INITIAL_RTR_ADVERT_INTERVAL")
	}
	ra, err := header.ParseNDPRouterAdvert(ras[0].MessageBody())
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Source() != linkLocal(1) || ps[0].Destination() != header.IPv6AllNodesMulticastAddr || ps[0].HopLimit() != 255 {
		t.Errorf("advertisement %v -> %v hop %d", ps[0].Source(), ps[0].Destination(), ps[0].HopLimit())
	}
	if ra.RouterLifetime() != 180*time.Second || !ra.Other() || ra.Managed() {
		t.Errorf("advertisement %+v", ra.Fields())
	}
	var sawPrefix, sawMTU, sawSLL, sawRDNSS bool
	it := ra.Options().Iterator()
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		switch o.Type() {
		case header.NDPOptionPrefixInformation:
			pi, _ := o.PrefixInformation()
			sawPrefix = pi.Prefix() == netip.MustParsePrefix("2001:db8:1::/64") && pi.OnLink() && pi.Autonomous() &&
				pi.ValidLifetime() == stack.DefaultAdvValidLifetime && pi.PreferredLifetime() == stack.DefaultAdvPreferredLifetime
		case header.NDPOptionMTU:
			m, _ := o.MTU()
			sawMTU = m == 1480
		case header.NDPOptionSourceLinkLayerAddress:
			la, _ := o.LinkLayerAddress()
			sawSLL = la == mac(1)
		case header.NDPOptionRDNSS:
			sawRDNSS = true
		}
	}
	if !sawPrefix || !sawMTU || !sawSLL || !sawRDNSS {
		t.Errorf("options: prefix %v, MTU %v, SLL %v, RDNSS %v", sawPrefix, sawMTU, sawSLL, sawRDNSS)
	}
	if rs, _ := icmpOfType(h.Frames(), header.ICMPv6RouterSolicit); len(rs) != 0 {
		t.Error("router solicited")
	}

	// The host configured itself from it.
	slaac := eui64Addr("2001:db8:1::", 2).Addr()
	if info, ok := nicAddr(host, slaac); !ok || info.Properties.Tentative {
		t.Errorf("host address %v: %+v", slaac, info)
	}
	if !hasRoute(host, "::/0 via "+linkLocal(1).String()+" nic 1 metric 1024") {
		t.Errorf("host routes %q", routes(host))
	}
	if !hostEv.has("dhcpv6 2") {
		t.Errorf("host events %q", hostEv.log)
	}
	// The router ignored its own advertisements (and formed nothing).
	if got := slaacAddrs(r, "2001:db8:1::/64"); len(got) != 0 {
		t.Errorf("router formed %v", got)
	}

	// Periodic advertisements within [Min, Max] once the initial ones
	// are out.
	n.advance(10 * time.Minute)
	h.Frames()
	var gaps []time.Duration
	last := n.clock.NowMonotonic()
	for range 20 * 60 {
		n.advance(time.Second)
		if ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) > 0 {
			now := n.clock.NowMonotonic()
			gaps = append(gaps, now.Sub(last))
			last = now
		}
	}
	if len(gaps) < 5 {
		t.Fatalf("%d advertisements in 20 minutes", len(gaps))
	}
	for _, g := range gaps[1:] {
		if g < 30*time.Second || g > 61*time.Second {
			t.Errorf("interval %v outside [30s, 60s]", g)
		}
	}

	// A solicitation is answered within MAX_RA_DELAY_TIME (but not
	// sooner than MIN_DELAY_BETWEEN_RAS after the last one): wait for an
	// advertisement, then MIN_DELAY_BETWEEN_RAS (the next periodic one is
	// MinRtrAdvInterval, 30 s, away).
	for range 120 {
		n.advance(time.Second)
		if ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) > 0 {
			break
		}
	}
	n.advance(3 * time.Second)
	h.Frames()
	body := make([]byte, header.NDPRouterSolicitMinimumSize)
	all := header.IPv6AllRoutersMulticastAddr
	h.Send(ndpFrame(header.EthernetAddrFromMulticastIPv6(all), mac(2), linkLocal(2), all, 255, ndpMessage(linkLocal(2), all, header.ICMPv6RouterSolicit, 0, body)))
	n.advance(500 * time.Millisecond)
	if ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) != 1 {
		t.Errorf("%d advertisements within 500ms of a solicitation, want 1", len(ras))
	}
	// Another solicitation at once: the answer waits for
	// MIN_DELAY_BETWEEN_RAS (3 s) after the last advertisement.
	h.Send(ndpFrame(header.EthernetAddrFromMulticastIPv6(all), mac(2), linkLocal(2), all, 255, ndpMessage(linkLocal(2), all, header.ICMPv6RouterSolicit, 0, body)))
	n.advance(2 * time.Second)
	if ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) != 0 {
		t.Errorf("answered within MIN_DELAY_BETWEEN_RAS of the last advertisement")
	}
	n.advance(1500 * time.Millisecond)
	if ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) != 1 {
		t.Errorf("%d answers to the second solicitation, want 1", len(ras))
	}
}

// A host (forwarding off) never advertises even when configured to;
// turning forwarding on starts advertising, turning it off or
// SetNDPConfigurations without SendRouterAdvertisements stops it.
func TestRouterAdvertisingSwitch(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	s := n.newStack(stackOpts{ndp: routerConfig()})
	n.addNIC(s, 1, h, mac(1), 1500, "")
	n.advance(time.Minute)
	if ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) != 0 {
		t.Fatal("a host advertised")
	}
	s.SetForwarding(ipv6Proto, true)
	n.advance(time.Minute)
	if ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) == 0 {
		t.Fatal("no advertisement once forwarding")
	}
	s.SetForwarding(ipv6Proto, false)
	// RFC 4861 §6.2.5: one final advertisement with a zero lifetime.
	ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert)
	if len(ras) != 1 {
		t.Fatalf("%d final advertisements, want 1", len(ras))
	}
	if ra, _ := header.ParseNDPRouterAdvert(ras[0].MessageBody()); ra.RouterLifetime() != 0 {
		t.Errorf("final advertisement with lifetime %v", ra.RouterLifetime())
	}
	n.advance(10 * time.Minute)
	if ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) != 0 {
		t.Fatalf("%d advertisements after forwarding went off", len(ras))
	}
	s.SetForwarding(ipv6Proto, true)
	if err := s.SetNDPConfigurations(1, routerConfig()); err != nil {
		t.Fatal(err)
	}
	n.advance(time.Minute)
	if ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) == 0 {
		t.Fatal("no advertisement with forwarding back on")
	}
	cfg := routerConfig()
	cfg.SendRouterAdvertisements = false
	if err := s.SetNDPConfigurations(1, cfg); err != nil {
		t.Fatal(err)
	}
	if ras, _ = icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) != 1 {
		t.Errorf("%d final advertisements, want 1", len(ras))
	}
	n.advance(10 * time.Minute)
	if ras, _ := icmpOfType(h.Frames(), header.ICMPv6RouterAdvert); len(ras) != 0 {
		t.Errorf("%d advertisements after turning advertising off", len(ras))
	}
	if err := s.SetNDPConfigurations(7, cfg); err == nil {
		t.Error("unknown NIC accepted")
	}
}

// mldMessage is an MLD message seen on the wire.
type mldMessage struct {
	src, dst    netip.Addr
	typ         header.ICMPv6Type
	group       netip.Addr // MLDv1
	records     []string   // MLDv2: "type group"
	routerAlert bool
	hop         uint8
}

// mldSent decodes the MLD messages among frames: the fixed header, a
// Hop-by-Hop header, then ICMPv6.
func mldSent(t *testing.T, frames []testlink.Frame) []mldMessage {
	t.Helper()
	var out []mldMessage
	for _, ip := range seenIPv6(frames) {
		if ip.NextHeader() != 0 {
			continue
		}
		p := ip.Payload()
		if len(p) < 8 || p[0] != byte(tcpip.ICMPv6ProtocolNumber) {
			continue
		}
		hbhLen := (int(p[1]) + 1) * 8
		m := mldMessage{src: ip.Source(), dst: ip.Destination(), hop: ip.HopLimit()}
		// Router Alert: type 5, length 2, value 0.
		for i := 2; i+3 < hbhLen; {
			if p[i] == 0 {
				i++
				continue
			}
			if p[i] == 5 && p[i+1] == 2 && p[i+2] == 0 && p[i+3] == 0 {
				m.routerAlert = true
			}
			i += 2 + int(p[i+1])
		}
		icmp := header.ICMPv6(p[hbhLen:])
		if icmp.CalculateChecksum(ip.Source(), ip.Destination()) != 0xffff && icmp.Checksum() == 0 {
			t.Error("MLD message without a checksum")
		}
		m.typ = icmp.Type()
		switch m.typ {
		case header.ICMPv6MLDv1Report, header.ICMPv6MLDv1Done:
			b, err := header.ParseMLD(icmp.MessageBody())
			if err != nil {
				t.Fatal(err)
			}
			m.group = b.MulticastAddress()
		case header.ICMPv6MLDv2Report:
			r, err := header.ParseMLDv2Report(icmp.MessageBody())
			if err != nil {
				t.Fatal(err)
			}
			it := r.Records()
			for rec, ok := it.Next(); ok; rec, ok = it.Next() {
				m.records = append(m.records, fmt.Sprintf("%d %v", rec.Type(), rec.MulticastAddress()))
			}
		default:
			continue
		}
		out = append(out, m)
	}
	return out
}

// MLD (RFC 3810, RFC 2710): a join is reported at once and repeated
// (Robustness Variable 2) within the Unsolicited Report Interval, for
// solicited-node groups too but never for ff02::1; reports carry hop limit
// 1 and a Router Alert and come from the link-local address (or :: during
// its DAD); general and group-specific queries are answered within their
// maximum response delay; an MLDv1 query switches to MLDv1 reports; a
// leave sends a Done (v1) or a CHANGE_TO_INCLUDE record (v2).
func TestMLDReports(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	cfg := stack.DefaultNDPConfigurations()
	cfg.MaxRtrSolicitations = 0
	s := n.newStack(stackOpts{ndp: cfg})
	if err := s.SetNetworkProtocolOption(ipv6Proto, ipv6.MLDOption{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	n.addNIC(s, 1, h, mac(2), 1500, "")
	n.run()
	ll := linkLocal(2)
	snLL := header.SolicitedNodeAddr(ll)
	// During DAD of the link-local address: from ::.
	msgs := mldSent(t, h.Frames())
	if len(msgs) != 1 || !msgs[0].src.IsUnspecified() || msgs[0].dst != header.IPv6AllMLDv2RoutersMulticastAddr ||
		!slices.Equal(msgs[0].records, []string{fmt.Sprintf("%d %v", header.MLDv2ChangeToExclude, snLL)}) {
		t.Fatalf("at enable: %+v", msgs)
	}
	for _, m := range msgs {
		if m.hop != 1 || !m.routerAlert {
			t.Errorf("report hop %d router alert %v", m.hop, m.routerAlert)
		}
	}
	n.advance(5 * time.Second)
	h.Frames()

	g := addr("ff12::1234")
	if err := s.JoinGroup(ipv6Proto, 1, g); err != nil {
		t.Fatal(err)
	}
	if err := s.JoinGroup(ipv6Proto, 1, header.IPv6AllNodesMulticastAddr); err != nil {
		t.Fatal(err)
	}
	n.run()
	want := fmt.Sprintf("%d %v", header.MLDv2ChangeToExclude, g)
	msgs = mldSent(t, h.Frames())
	if len(msgs) != 1 || msgs[0].src != ll || !slices.Equal(msgs[0].records, []string{want}) {
		t.Fatalf("join: %+v", msgs)
	}
	n.advance(time.Second)
	if msgs = mldSent(t, h.Frames()); len(msgs) != 1 || !slices.Equal(msgs[0].records, []string{want}) {
		t.Fatalf("repeat: %+v", msgs)
	}
	n.advance(10 * time.Second)
	if msgs = mldSent(t, h.Frames()); len(msgs) != 0 {
		t.Fatalf("more than Robustness reports: %+v", msgs)
	}

	query := func(v1 bool, group netip.Addr, delay time.Duration) {
		var body []byte
		if v1 {
			body = make([]byte, header.MLDMinimumSize)
			(&header.MLDFields{MaxResponseDelay: delay, MulticastAddress: group}).Encode(body)
		} else {
			f := header.MLDv2QueryFields{MaxResponseDelay: delay, MulticastAddress: group, QRV: 2, QueryInterval: 125 * time.Second}
			body = make([]byte, f.Size())
			f.Encode(body)
		}
		src, dst := linkLocal(9), header.IPv6AllNodesMulticastAddr
		if group.IsValid() && !group.IsUnspecified() {
			dst = group
		}
		msg := ndpMessage(src, dst, header.ICMPv6MLDQuery, 0, body)
		hbh := []byte{byte(tcpip.ICMPv6ProtocolNumber), 0, 5, 2, 0, 0, 1, 0}
		h.Send(frame(header.EthernetAddrFromMulticastIPv6(dst), mac(9), ip6(header.IPv6Fields{NextHeader: 0, Src: src, Dst: dst, HopLimit: 1}, hbh, msg)))
		n.run()
	}
	// MLDv2 general query: one report of every group (ff02::1 excluded)
	// within the delay.
	query(false, netip.IPv6Unspecified(), 2*time.Second)
	n.advance(2 * time.Second)
	msgs = mldSent(t, h.Frames())
	if len(msgs) != 1 {
		t.Fatalf("general query answers: %+v", msgs)
	}
	got := slices.Sorted(slices.Values(msgs[0].records))
	exp := slices.Sorted(slices.Values([]string{fmt.Sprintf("%d %v", header.MLDv2ModeIsExclude, g), fmt.Sprintf("%d %v", header.MLDv2ModeIsExclude, snLL)}))
	if !slices.Equal(got, exp) {
		t.Errorf("general query answer %q, want %q", got, exp)
	}
	// MLDv1 group-specific query: MLDv1 report to the group.
	query(true, g, time.Second)
	n.advance(time.Second)
	msgs = mldSent(t, h.Frames())
	if len(msgs) != 1 || msgs[0].typ != header.ICMPv6MLDv1Report || msgs[0].group != g || msgs[0].dst != g {
		t.Fatalf("v1 query answers: %+v", msgs)
	}
	// Leaving in MLDv1 mode: a Done to all-routers.
	if err := s.LeaveGroup(ipv6Proto, 1, g); err != nil {
		t.Fatal(err)
	}
	n.run()
	msgs = mldSent(t, h.Frames())
	if len(msgs) != 1 || msgs[0].typ != header.ICMPv6MLDv1Done || msgs[0].dst != header.IPv6AllRoutersMulticastAddr || msgs[0].group != g {
		t.Fatalf("v1 leave: %+v", msgs)
	}
	// After the Older Version Querier Present Timeout: MLDv2 again.
	n.advance(261 * time.Second)
	h.Frames()
	if err := s.JoinGroup(ipv6Proto, 1, g); err != nil {
		t.Fatal(err)
	}
	if err := s.LeaveGroup(ipv6Proto, 1, g); err != nil {
		t.Fatal(err)
	}
	n.run()
	msgs = mldSent(t, h.Frames())
	leave := []string{fmt.Sprintf("%d %v", header.MLDv2ChangeToInclude, g)}
	if len(msgs) != 2 || !slices.Equal(msgs[1].records, leave) {
		t.Fatalf("v2 leave: %+v", msgs)
	}
	// The leave is repeated (Robustness Variable), the join's repeat
	// is not sent any more.
	n.advance(time.Second)
	if msgs = mldSent(t, h.Frames()); len(msgs) != 1 || !slices.Equal(msgs[0].records, leave) {
		t.Fatalf("v2 leave repeat: %+v", msgs)
	}
	// A query without Router Alert is counted and ignored.
	n.advance(time.Minute)
	h.Frames()
	body := make([]byte, header.MLDMinimumSize)
	(&header.MLDFields{MaxResponseDelay: time.Second}).Encode(body)
	dst := header.IPv6AllNodesMulticastAddr
	h.Send(frame(header.EthernetAddrFromMulticastIPv6(dst), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.ICMPv6ProtocolNumber, Src: linkLocal(9), Dst: dst, HopLimit: 1}, nil,
		ndpMessage(linkLocal(9), dst, header.ICMPv6MLDQuery, 0, body))))
	n.advance(2 * time.Second)
	if msgs = mldSent(t, h.Frames()); len(msgs) != 0 {
		t.Errorf("answered a query without Router Alert: %+v", msgs)
	}
	wantCounter(t, s, "MLD.RouterAlertMissing", 1)
}

// MLD is off by default: nothing is sent.
func TestMLDOffByDefault(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	s := n.newStack(stackOpts{})
	n.addNIC(s, 1, h, mac(2), 1500, "2001:db8::2/64")
	if err := s.JoinGroup(ipv6Proto, 1, addr("ff12::1")); err != nil {
		t.Fatal(err)
	}
	n.advance(time.Minute)
	if msgs := mldSent(t, h.Frames()); len(msgs) != 0 {
		t.Errorf("MLD sent %+v while off", msgs)
	}
}
