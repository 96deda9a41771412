package ipv6_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// station7 is a station without a static entry at B: 2001:db8::7, MAC 7.
var station7 = addr("2001:db8::7")

// ndpFrame returns a frame from MAC src carrying an NDP message with the
// given hop limit.
func ndpFrame(linkDst, linkSrc tcpip.LinkAddress, src, dst netip.Addr, hop uint8, msg []byte) []byte {
	return frame(linkDst, linkSrc, ip6(header.IPv6Fields{NextHeader: tcpip.ICMPv6ProtocolNumber, Src: src, Dst: dst, HopLimit: hop}, nil, msg))
}

// neighbor returns B's entry for a on NIC 1.
func neighbor(t *testing.T, s *stack.Stack, a netip.Addr) (stack.NeighborEntry, bool) {
	t.Helper()
	es, err := s.Neighbors(1, ipv6Proto)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Addr == a {
			return e, true
		}
	}
	return stack.NeighborEntry{}, false
}

// A solicitation for our address is answered with a solicited, overriding
// advertisement carrying our link address, unicast to the solicitor, whose
// link address is cached as STALE (RFC 4861 §7.2.3, §7.2.4).
func TestNDPAnswersSolicitation(t *testing.T) {
	n, h, b, _ := host(t, stack.TransportPacketHandled)
	snm := header.SolicitedNodeAddr(hostDst)
	h.Send(ndpFrame(header.EthernetAddrFromMulticastIPv6(snm), mac(7), station7, snm, 255,
		ndpMessage(station7, snm, header.ICMPv6NeighborSolicit, 0, nsBody(hostDst, mac(7)))))
	n.run()
	frames := h.Frames()
	nas, ps := icmpOfType(frames, header.ICMPv6NeighborAdvert)
	if len(nas) != 1 {
		t.Fatalf("sent %d advertisements, want 1", len(nas))
	}
	na := header.NDPNeighborAdvert(nas[0].MessageBody())
	if !na.Solicited() || !na.Override() || na.Router() || na.TargetAddress() != hostDst {
		t.Errorf("advertisement %+v", na.Fields())
	}
	if la, ok := linkAddrOf(na.Options()); !ok || la != mac(2) {
		t.Errorf("target link-layer address %v %v, want %v", la, ok, mac(2))
	}
	if ps[0].Source() != hostDst || ps[0].Destination() != station7 || ps[0].HopLimit() != 255 {
		t.Errorf("advertisement from %s to %s hop limit %d", ps[0].Source(), ps[0].Destination(), ps[0].HopLimit())
	}
	if !nas[0].IsChecksumValid(hostDst, station7) {
		t.Error("checksum")
	}
	if eth, _ := header.ParseEthernet(lastIPv6Frame(frames)); eth.Destination() != mac(7) {
		t.Errorf("sent to %v, want %v", eth.Destination(), mac(7))
	}
	if e, ok := neighbor(t, b, station7); !ok || e.State != stack.NeighborStale || e.LinkAddr != mac(7) {
		t.Errorf("entry %+v %v, want STALE at %v", e, ok, mac(7))
	}
	wantCounter(t, b, "ICMPv6.Received.NeighborSolicit", 1)
	wantCounter(t, b, "ICMPv6.Sent.NeighborAdvert", 1)
}

// lastIPv6Frame returns the last IPv6 frame of frames.
func lastIPv6Frame(frames []testlink.Frame) []byte {
	for i := len(frames) - 1; i >= 0; i-- {
		if eth, err := header.ParseEthernet(frames[i].Bytes); err == nil && eth.Type() == ipv6Proto {
			return frames[i].Bytes
		}
	}
	return nil
}

// linkAddrOf returns the link-layer address of the first link-layer
// address option.
func linkAddrOf(o header.NDPOptions) (tcpip.LinkAddress, bool) {
	it := o.Iterator()
	for opt, ok := it.Next(); ok; opt, ok = it.Next() {
		if la, ok := opt.LinkLayerAddress(); ok {
			return la, true
		}
	}
	return tcpip.LinkAddress{}, false
}

// A duplicate address detection probe (from ::, no source link-layer
// address) for an address we hold is answered to all-nodes, not solicited
// (RFC 4861 §7.2.4), and teaches nothing.
func TestNDPAnswersDADProbe(t *testing.T) {
	n, h, b, _ := host(t, stack.TransportPacketHandled)
	snm := header.SolicitedNodeAddr(hostDst)
	unspec := netip.IPv6Unspecified()
	h.Send(ndpFrame(header.EthernetAddrFromMulticastIPv6(snm), mac(7), unspec, snm, 255,
		ndpMessage(unspec, snm, header.ICMPv6NeighborSolicit, 0, nsBody(hostDst, tcpip.LinkAddress{}))))
	n.run()
	nas, ps := icmpOfType(h.Frames(), header.ICMPv6NeighborAdvert)
	if len(nas) != 1 {
		t.Fatalf("sent %d advertisements, want 1", len(nas))
	}
	na := header.NDPNeighborAdvert(nas[0].MessageBody())
	if na.Solicited() || !na.Override() || ps[0].Destination() != header.IPv6AllNodesMulticastAddr {
		t.Errorf("advertisement %+v to %s", na.Fields(), ps[0].Destination())
	}
	if es, _ := b.Neighbors(1, ipv6Proto); len(es) != 2 { // the two static entries
		t.Errorf("entries %v", es)
	}
	wantCounter(t, b, "ICMPv6.NDPDuplicateAddress", 1)
}

// Invalid NDP messages are dropped and counted (RFC 4861 §7.1), and
// nothing is answered.
func TestNDPValidation(t *testing.T) {
	snm := header.SolicitedNodeAddr(hostDst)
	snmMAC := header.EthernetAddrFromMulticastIPv6(snm)
	unspec := netip.IPv6Unspecified()
	zeroLenOpt := append(nsBody(hostDst, tcpip.LinkAddress{}), 1, 0, 0, 0, 0, 0, 0, 0)
	for _, tc := range []struct {
		name    string
		frame   []byte
		counter string
	}{
		{"hop limit", ndpFrame(snmMAC, mac(7), station7, snm, 254, ndpMessage(station7, snm, header.ICMPv6NeighborSolicit, 0, nsBody(hostDst, mac(7)))), "ICMPv6.NDPInvalidHopLim"},
		{"code", ndpFrame(snmMAC, mac(7), station7, snm, 255, ndpMessage(station7, snm, header.ICMPv6NeighborSolicit, 1, nsBody(hostDst, mac(7)))), "ICMPv6.Malformed"},
		{"zero-length option", ndpFrame(snmMAC, mac(7), station7, snm, 255, ndpMessage(station7, snm, header.ICMPv6NeighborSolicit, 0, zeroLenOpt)), "ICMPv6.NDPInvalidOptions"},
		{"short", ndpFrame(snmMAC, mac(7), station7, snm, 255, ndpMessage(station7, snm, header.ICMPv6NeighborSolicit, 0, nsBody(hostDst, mac(7))[:12])), "ICMPv6.Malformed"},
		{"multicast target", ndpFrame(snmMAC, mac(7), station7, snm, 255, ndpMessage(station7, snm, header.ICMPv6NeighborSolicit, 0, nsBody(snm, mac(7)))), "ICMPv6.Malformed"},
		{"DAD probe with source link address", ndpFrame(snmMAC, mac(7), unspec, snm, 255, ndpMessage(unspec, snm, header.ICMPv6NeighborSolicit, 0, nsBody(hostDst, mac(7)))), "ICMPv6.Malformed"},
		{"DAD probe to unicast", ndpFrame(mac(2), mac(7), unspec, hostDst, 255, ndpMessage(unspec, hostDst, header.ICMPv6NeighborSolicit, 0, nsBody(hostDst, tcpip.LinkAddress{}))), "ICMPv6.Malformed"},
		{"multicast source link address", ndpFrame(snmMAC, mac(7), station7, snm, 255, ndpMessage(station7, snm, header.ICMPv6NeighborSolicit, 0, nsBody(hostDst, tcpip.BroadcastLinkAddress))), "ICMPv6.NDPInvalidOptions"},
		{"target not ours", ndpFrame(mac(2), mac(7), station7, hostDst, 255, ndpMessage(station7, hostDst, header.ICMPv6NeighborSolicit, 0, nsBody(addr("2001:db8::3"), mac(7)))), "ICMPv6.NDPTargetNotOurs"},
		{"solicited advertisement to multicast", ndpFrame(header.EthernetAddrFromMulticastIPv6(header.IPv6AllNodesMulticastAddr), mac(7), station7, header.IPv6AllNodesMulticastAddr, 255,
			ndpMessage(station7, header.IPv6AllNodesMulticastAddr, header.ICMPv6NeighborAdvert, 0, naBody(header.NDPNeighborAdvertFields{Solicited: true, TargetAddress: station7}, mac(7)))), "ICMPv6.Malformed"},
		{"router solicitation at a host", ndpFrame(mac(2), mac(7), station7, hostDst, 255, ndpMessage(station7, hostDst, header.ICMPv6RouterSolicit, 0, make([]byte, 4))), "ICMPv6.RouterOnlyAtHost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h, b, _ := host(t, stack.TransportPacketHandled)
			h.Send(tc.frame)
			n.run()
			wantCounter(t, b, tc.counter, 1)
			if _, ps := icmpOfType(h.Frames(), header.ICMPv6NeighborAdvert); len(ps) != 0 && ps[len(ps)-1].Source() == hostDst {
				t.Error("B sent an advertisement")
			}
			if _, ok := neighbor(t, b, station7); ok {
				t.Error("learnt the sender")
			}
		})
	}
}

// Advertisements update entries by their flags (RFC 4861 §7.2.5): one with
// Override replaces the link address; one without it only marks a
// REACHABLE entry STALE; an unsolicited one for an unknown address creates
// no entry; one for our own address is a duplicate.
func TestNDPAdvertisements(t *testing.T) {
	n, h, b, _ := host(t, stack.TransportPacketHandled)
	allNodes := header.IPv6AllNodesMulticastAddr
	allMAC := header.EthernetAddrFromMulticastIPv6(allNodes)
	advertise := func(f header.NDPNeighborAdvertFields, tll tcpip.LinkAddress, from tcpip.LinkAddress) {
		h.Send(ndpFrame(allMAC, from, f.TargetAddress, allNodes, 255, ndpMessage(f.TargetAddress, allNodes, header.ICMPv6NeighborAdvert, 0, naBody(f, tll))))
		n.run()
	}
	// No entry: nothing learnt.
	advertise(header.NDPNeighborAdvertFields{Override: true, TargetAddress: station7}, mac(7), mac(7))
	if _, ok := neighbor(t, b, station7); ok {
		t.Fatal("unsolicited advertisement created an entry")
	}
	// B resolves ::7 (A answers solicited): REACHABLE.
	if err := send(t, b, station7, stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1, 2, nil)); err != nil {
		t.Fatal(err)
	}
	n.run()
	nss, _ := icmpOfType(h.Frames(), header.ICMPv6NeighborSolicit)
	if len(nss) != 1 {
		t.Fatalf("sent %d solicitations, want 1", len(nss))
	}
	h.Send(ndpFrame(mac(2), mac(7), station7, hostDst, 255, ndpMessage(station7, hostDst, header.ICMPv6NeighborAdvert, 0,
		naBody(header.NDPNeighborAdvertFields{Solicited: true, Override: true, TargetAddress: station7}, mac(7)))))
	n.run()
	if e, _ := neighbor(t, b, station7); e.State != stack.NeighborReachable || e.LinkAddr != mac(7) {
		t.Fatalf("entry %+v, want REACHABLE at %v", e, mac(7))
	}
	// Without Override and another address: STALE, address kept.
	advertise(header.NDPNeighborAdvertFields{TargetAddress: station7}, mac(8), mac(8))
	if e, _ := neighbor(t, b, station7); e.State != stack.NeighborStale || e.LinkAddr != mac(7) {
		t.Errorf("entry %+v, want STALE at %v", e, mac(7))
	}
	// With Override: the new address, STALE (not solicited).
	advertise(header.NDPNeighborAdvertFields{Override: true, Router: true, TargetAddress: station7}, mac(8), mac(8))
	if e, _ := neighbor(t, b, station7); e.State != stack.NeighborStale || e.LinkAddr != mac(8) || !e.IsRouter {
		t.Errorf("entry %+v, want STALE router at %v", e, mac(8))
	}
	// Our own address advertised by another node.
	advertise(header.NDPNeighborAdvertFields{Override: true, TargetAddress: hostDst}, mac(8), mac(8))
	wantCounter(t, b, "ICMPv6.NDPDuplicateAddress", 1)
}

// Neighbour unreachability detection end to end (RFC 4861 §7.3.3, RFC
// 7048): INCOMPLETE with multicast retransmissions, REACHABLE after the
// solicited advertisement, STALE after ReachableTime, DELAY on use, PROBE
// with unicast solicitations, REACHABLE again on an answer, and
// UNREACHABLE when the neighbour stops answering.
func TestNDPNeighborUnreachabilityDetection(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	a := n.newStack(stackOpts{})
	b := n.newStack(stackOpts{})
	n.addNIC(a, 1, h, mac(1), 1500, "2001:db8::1/64")
	n.addNIC(b, 1, h, mac(2), 1500, "2001:db8::2/64")
	n.run()
	h.Frames()
	bAddr := addr("2001:db8::2")
	ping := func() {
		t.Helper()
		if err := send(t, a, bAddr, stack.NetworkHeaderParams{Protocol: tcpip.ICMPv6ProtocolNumber}, echoRequest(addr("2001:db8::1"), bAddr, 1, 1, nil)); err != nil {
			t.Fatal(err)
		}
	}
	state := func() stack.NeighborState {
		e, ok := neighbor(t, a, bAddr)
		if !ok {
			return 0
		}
		return e.State
	}

	// INCOMPLETE: B is silent at first, A retransmits every second.
	h.SetFilter(func(f testlink.Frame) bool { return false })
	ping()
	if s := state(); s != stack.NeighborIncomplete {
		t.Fatalf("state %v, want INCOMPLETE", s)
	}
	n.advance(1500 * time.Millisecond)
	nss, ps := icmpOfType(h.Frames(), header.ICMPv6NeighborSolicit)
	if len(nss) != 2 || ps[0].Destination() != header.SolicitedNodeAddr(bAddr) {
		t.Fatalf("solicitations %d (to %v), want 2 multicast", len(nss), ps)
	}
	h.SetFilter(nil)
	n.advance(time.Second)
	if s := state(); s != stack.NeighborReachable {
		t.Fatalf("state %v, want REACHABLE", s)
	}
	h.Frames()

	// STALE after ReachableTime (at most 1.5 × 30 s).
	n.advance(46 * time.Second)
	if s := state(); s != stack.NeighborStale {
		t.Fatalf("state %v, want STALE", s)
	}
	// DELAY on use, PROBE after 5 s with a unicast solicitation, which B
	// answers: REACHABLE.
	ping()
	if s := state(); s != stack.NeighborDelay {
		t.Fatalf("state %v, want DELAY", s)
	}
	h.Frames()
	n.advance(5 * time.Second)
	nss, ps = icmpOfType(h.Frames(), header.ICMPv6NeighborSolicit)
	if len(nss) == 0 || ps[0].Destination() != bAddr {
		t.Fatalf("probe %v, want a unicast solicitation to %s", ps, bAddr)
	}
	if s := state(); s != stack.NeighborReachable {
		t.Fatalf("state %v, want REACHABLE after the probe", s)
	}

	// B vanishes: STALE, DELAY, PROBE ×3, UNREACHABLE.
	h.SetFilter(func(f testlink.Frame) bool { return false })
	n.advance(46 * time.Second)
	ping()
	n.advance(5*time.Second + 3*time.Second + 100*time.Millisecond)
	if s := state(); s != stack.NeighborUnreachable {
		t.Fatalf("state %v, want UNREACHABLE", s)
	}
}

// A packet whose next hop never answers fails its transport with
// EHOSTUNREACH after MaxMulticastProbes solicitations (RFC 4861 §7.2.2).
func TestNDPResolutionFailure(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	_, fu := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	a := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{fu}})
	n.addNIC(a, 1, h, mac(1), 1500, "2001:db8::1/64")
	n.run()
	h.Frames()
	ep := register(t, a, tcpip.UDPProtocolNumber, addr("2001:db8::1"), 4000, addr("2001:db8::77"), 53)
	if err := send(t, a, addr("2001:db8::77"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(4000, 53, nil)); err != nil {
		t.Fatal(err)
	}
	n.advance(4 * time.Second)
	nss, ps := icmpOfType(h.Frames(), header.ICMPv6NeighborSolicit)
	if len(nss) != 3 {
		t.Errorf("sent %d solicitations, want 3", len(nss))
	}
	for i, p := range ps {
		if p.Destination() != addr("ff02::1:ff00:77") || p.Source() != addr("2001:db8::1") || p.HopLimit() != 255 {
			t.Errorf("solicitation %d from %s to %s hop limit %d", i, p.Source(), p.Destination(), p.HopLimit())
		}
	}
	errs := ep.takeErrs()
	if len(errs) != 1 || errs[0].Kind != stack.ErrorHostUnreachable || !errs[0].Local {
		t.Fatalf("errors %+v, want one local host unreachable", errs)
	}
	wantCounter(t, a, "ICMPv6.ResolutionFailure", 1)
}

// A stack that forwards sets the Router flag in its advertisements.
func TestNDPRouterFlag(t *testing.T) {
	n, h, b, _ := host(t, stack.TransportPacketHandled)
	b.SetForwarding(ipv6Proto, true)
	h.Send(ndpFrame(mac(2), mac(7), station7, hostDst, 255, ndpMessage(station7, hostDst, header.ICMPv6NeighborSolicit, 0, nsBody(hostDst, mac(7)))))
	n.run()
	nas, _ := icmpOfType(h.Frames(), header.ICMPv6NeighborAdvert)
	if len(nas) != 1 || !header.NDPNeighborAdvert(nas[0].MessageBody()).Router() {
		t.Fatalf("advertisements %v, want one with the Router flag", nas)
	}
}

// A NIC forms its EUI-64 link-local address when it comes up, and answers
// solicitations for it; the option turns it off.
func TestLinkLocalAutoGeneration(t *testing.T) {
	for _, on := range []bool{true, false} {
		n := newNet(t)
		h := n.hub()
		b := n.newStack(stackOpts{noLinkLocal: !on})
		n.addNIC(b, 1, h, mac(2), 1500, "")
		n.run()
		var v ipv6.AutoGenLinkLocalOption
		b.NetworkProtocolOption(ipv6Proto, &v)
		if bool(v) != on {
			t.Errorf("option reads %v", v)
		}
		ll := addr("fe80::ff:fe00:2")
		if got := b.CheckLocalAddress(1, ipv6Proto, ll) == 1; got != on {
			t.Fatalf("option %v: has %s: %v", on, ll, got)
		}
		if !on {
			continue
		}
		snm := header.SolicitedNodeAddr(ll)
		h.Send(ndpFrame(header.EthernetAddrFromMulticastIPv6(snm), mac(7), linkLocal(7), snm, 255, ndpMessage(linkLocal(7), snm, header.ICMPv6NeighborSolicit, 0, nsBody(ll, mac(7)))))
		n.run()
		if nas, _ := icmpOfType(h.Frames(), header.ICMPv6NeighborAdvert); len(nas) != 1 {
			t.Errorf("sent %d advertisements for the link-local address", len(nas))
		}
	}
}
