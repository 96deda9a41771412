package ipv6_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// events records NDP dispatcher events as strings.
type events struct {
	mu  sync.Mutex
	log []string
}

func (r *events) add(format string, args ...any) {
	r.mu.Lock()
	r.log = append(r.log, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// take returns the events since the last call.
func (r *events) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.log
	r.log = nil
	return l
}

// has reports whether an event starting with prefix was recorded (and
// leaves the log alone).
func (r *events) has(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.log, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

func (r *events) OnDuplicateAddressDetectionResult(nic tcpip.NICID, a netip.Addr, res stack.DADResult) {
	r.add("dad %v %v", a, res)
}
func (r *events) OnOffLinkRouteUpdated(nic tcpip.NICID, p netip.Prefix, router netip.Addr, prf header.NDPRoutePreference) {
	r.add("route %v via %v %v", p, router, prf)
}
func (r *events) OnOffLinkRouteInvalidated(nic tcpip.NICID, p netip.Prefix, router netip.Addr) {
	r.add("route-gone %v via %v", p, router)
}
func (r *events) OnOnLinkPrefixDiscovered(nic tcpip.NICID, p netip.Prefix) { r.add("onlink %v", p) }
func (r *events) OnOnLinkPrefixInvalidated(nic tcpip.NICID, p netip.Prefix) {
	r.add("onlink-gone %v", p)
}
func (r *events) OnAutoGenAddress(nic tcpip.NICID, a netip.Prefix) { r.add("addr %v", a) }
func (r *events) OnAutoGenAddressDeprecated(nic tcpip.NICID, a netip.Prefix) {
	r.add("deprecated %v", a)
}
func (r *events) OnAutoGenAddressInvalidated(nic tcpip.NICID, a netip.Prefix) {
	r.add("invalidated %v", a)
}
func (r *events) OnRecursiveDNSServerOption(nic tcpip.NICID, addrs []netip.Addr, l time.Duration) {
	r.add("rdnss %v %v", addrs, l)
}
func (r *events) OnDNSSearchListOption(nic tcpip.NICID, d []string, l time.Duration) {
	r.add("dnssl %v %v", d, l)
}
func (r *events) OnDHCPv6Configuration(nic tcpip.NICID, c stack.DHCPv6ConfigurationFromNDPRA) {
	r.add("dhcpv6 %d", c)
}

// dadHost is a stack on a hub with DAD on (transmits probes RetransTimer
// apart), no link-local address, and an event recorder.
func dadHost(t *testing.T, transmits uint8, retrans time.Duration) (*testNet, *testlink.Hub, *stack.Stack, *events) {
	n := newNet(t)
	h := n.hub()
	ev := &events{}
	cfg := stack.NDPConfigurations{DupAddrDetectTransmits: transmits, RetransmitTimer: retrans}
	s := n.newStack(stackOpts{noLinkLocal: true, ndp: cfg, ndpDisp: ev})
	n.addNIC(s, 1, h, mac(2), 1500, "")
	n.run()
	h.Frames()
	return n, h, s, ev
}

func addAddr(t *testing.T, s *stack.Stack, p string) {
	t.Helper()
	pa := tcpip.ProtocolAddress{Protocol: ipv6Proto, Address: netip.MustParsePrefix(p)}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
}

func tentative(t *testing.T, s *stack.Stack, a netip.Addr) bool {
	t.Helper()
	v, err := s.IsAddrTentative(1, a)
	if err != nil {
		t.Fatalf("IsAddrTentative(%v): %v", a, err)
	}
	return v
}

// dadProbes returns the DAD solicitations among the frames sent by ports
// (not injected): from ::, to the
// target's solicited-node group, without a source link-layer address
// option, with a nonce; it fails the test for any other solicitation.
func dadProbes(t *testing.T, frames []testlink.Frame, target netip.Addr) [][]byte {
	t.Helper()
	frames = slices.DeleteFunc(slices.Clone(frames), func(f testlink.Frame) bool { return f.From == nil })
	ms, ps := icmpOfType(frames, header.ICMPv6NeighborSolicit)
	var nonces [][]byte
	for i, m := range ms {
		ns, err := header.ParseNDPNeighborSolicit(m.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		if ns.TargetAddress() != target {
			continue
		}
		if !ps[i].Source().IsUnspecified() || ps[i].Destination() != header.SolicitedNodeAddr(target) || ps[i].HopLimit() != 255 {
			t.Errorf("probe %v -> %v hop %d", ps[i].Source(), ps[i].Destination(), ps[i].HopLimit())
		}
		var nonce []byte
		it := ns.Options().Iterator()
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			switch o.Type() {
			case header.NDPOptionSourceLinkLayerAddress:
				t.Error("DAD probe with a source link-layer address (RFC 4862 §5.4.2)")
			case header.NDPOptionNonce:
				nonce, _ = o.Nonce()
			}
		}
		if len(nonce) < 6 {
			t.Errorf("probe nonce %x, want 6 bytes at least (RFC 7527 §4.1)", nonce)
		}
		nonces = append(nonces, slices.Clone(nonce))
	}
	return nonces
}

// A new address is tentative while DupAddrDetectTransmits probes go out
// RetransTimer apart, then preferred (RFC 4862 §5.4.2, §5.4.3). While
// tentative it is not a source and not answered for.
func TestDADSuccess(t *testing.T) {
	n, h, s, ev := dadHost(t, 3, 2*time.Second)
	a := addr("2001:db8::2")
	addAddr(t, s, "2001:db8::2/64")
	if !tentative(t, s, a) {
		t.Fatal("new address not tentative")
	}
	if p, _ := s.GetMainNICAddress(1, ipv6Proto); p.IsValid() {
		t.Errorf("source %v chosen while tentative", p)
	}
	n.run()
	if got := len(dadProbes(t, h.Frames(), a)); got != 1 {
		t.Fatalf("%d probes at once, want 1", got)
	}
	// Someone resolving the tentative address gets no answer.
	h.Send(ndpFrame(header.EthernetAddrFromMulticastIPv6(header.SolicitedNodeAddr(a)), mac(9), addr("2001:db8::9"), header.SolicitedNodeAddr(a), 255,
		ndpMessage(addr("2001:db8::9"), header.SolicitedNodeAddr(a), header.ICMPv6NeighborSolicit, 0, nsBody(a, mac(9)))))
	n.run()
	if nas, _ := icmpOfType(h.Frames(), header.ICMPv6NeighborAdvert); len(nas) != 0 {
		t.Error("answered a solicitation for a tentative address")
	}
	var nonces [][]byte
	for i := 1; i < 3; i++ {
		n.advance(2*time.Second - time.Millisecond)
		if got := dadProbes(t, h.Frames(), a); len(got) != 0 {
			t.Fatalf("probe %d before RetransTimer", i+1)
		}
		n.advance(time.Millisecond)
		got := dadProbes(t, h.Frames(), a)
		if len(got) != 1 {
			t.Fatalf("%d probes at %d×RetransTimer, want 1", len(got), i)
		}
		nonces = append(nonces, got...)
		if !tentative(t, s, a) {
			t.Fatalf("preferred after %d probes", i+1)
		}
	}
	if len(ev.take()) != 0 {
		t.Error("events before DAD ended")
	}
	n.advance(2*time.Second - time.Millisecond)
	if !tentative(t, s, a) {
		t.Fatal("preferred before the last RetransTimer ended")
	}
	n.advance(time.Millisecond)
	if tentative(t, s, a) {
		t.Fatal("still tentative after DAD")
	}
	if got := ev.take(); !slices.Equal(got, []string{"dad 2001:db8::2 succeeded"}) {
		t.Errorf("events %q", got)
	}
	if p, _ := s.GetMainNICAddress(1, ipv6Proto); p.Addr() != a {
		t.Errorf("source %v, want %v", p, a)
	}
	if len(nonces) == 2 && slices.Equal(nonces[0], make([]byte, len(nonces[0]))) {
		t.Error("all-zero nonce")
	}
	n.advance(time.Minute)
	if got := len(dadProbes(t, h.Frames(), a)); got != 0 {
		t.Errorf("%d probes after DAD", got)
	}
}

// A DAD probe from another node for our tentative address, or an
// advertisement of it, is a conflict (RFC 4862 §5.4.3, §5.4.4): the
// address is removed and the dispatcher told. Our own probe looped back
// (same nonce, RFC 7527 §4.2) is not.
func TestDADConflict(t *testing.T) {
	a := addr("2001:db8::2")
	sn := header.SolicitedNodeAddr(a)
	snMAC := header.EthernetAddrFromMulticastIPv6(sn)
	for _, tc := range []struct {
		name     string
		msg      func(own []byte) []byte
		conflict bool
	}{
		{"looped back own probe", func(own []byte) []byte { return own }, false},
		{"probe with another nonce", func([]byte) []byte {
			nf := header.NDPNonceFields{Nonce: []byte{1, 2, 3, 4, 5, 6}}
			body := make([]byte, header.NDPNeighborSolicitMinimumSize+nf.Size())
			(&header.NDPNeighborSolicitFields{TargetAddress: a}).Encode(body)
			nf.Encode(body[header.NDPNeighborSolicitMinimumSize:])
			return ndpFrame(snMAC, mac(9), netip.IPv6Unspecified(), sn, 255, ndpMessage(netip.IPv6Unspecified(), sn, header.ICMPv6NeighborSolicit, 0, body))
		}, true},
		{"probe without nonce", func([]byte) []byte {
			return ndpFrame(snMAC, mac(9), netip.IPv6Unspecified(), sn, 255, ndpMessage(netip.IPv6Unspecified(), sn, header.ICMPv6NeighborSolicit, 0, nsBody(a, tcpip.LinkAddress{})))
		}, true},
		{"advertisement", func([]byte) []byte {
			all := header.IPv6AllNodesMulticastAddr
			return ndpFrame(header.EthernetAddrFromMulticastIPv6(all), mac(9), a, all, 255,
				ndpMessage(a, all, header.ICMPv6NeighborAdvert, 0, naBody(header.NDPNeighborAdvertFields{Override: true, TargetAddress: a}, mac(9))))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, h, s, ev := dadHost(t, 2, time.Second)
			addAddr(t, s, "2001:db8::2/64")
			n.run()
			var own []byte
			for _, f := range h.Frames() {
				own = f.Bytes
			}
			h.Send(tc.msg(own))
			n.run()
			_, err := s.IsAddrTentative(1, a)
			if tc.conflict {
				if err != tcpip.ErrAddressNotFound {
					t.Fatalf("address still there after a conflict (err %v)", err)
				}
				if got := ev.take(); !slices.Equal(got, []string{"dad 2001:db8::2 duplicate"}) {
					t.Errorf("events %q", got)
				}
				wantCounter(t, s, "ICMPv6.NDPDuplicateAddress", 1)
				n.advance(5 * time.Second)
				if got := len(dadProbes(t, h.Frames(), a)); got != 0 {
					t.Errorf("%d probes after the conflict", got)
				}
				return
			}
			if err != nil || !tentative(t, s, a) {
				t.Fatalf("looped-back probe ended DAD (err %v)", err)
			}
			n.advance(2 * time.Second)
			if tentative(t, s, a) {
				t.Error("DAD did not succeed")
			}
			if got := ev.take(); !slices.Equal(got, []string{"dad 2001:db8::2 succeeded"}) {
				t.Errorf("events %q", got)
			}
		})
	}
}

// DupTentativeAddrDetected ends DAD as a duplicate; IsAddrTentative and
// it refuse unknown and assigned addresses.
func TestDupTentativeAddrDetected(t *testing.T) {
	n, _, s, ev := dadHost(t, 1, time.Second)
	a := addr("2001:db8::2")
	if err := s.DupTentativeAddrDetected(1, a); err != tcpip.ErrAddressNotFound {
		t.Errorf("unknown address: %v", err)
	}
	addAddr(t, s, "2001:db8::2/64")
	if err := s.DupTentativeAddrDetected(1, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IsAddrTentative(1, a); err != tcpip.ErrAddressNotFound {
		t.Errorf("IsAddrTentative after the conflict: %v", err)
	}
	if got := ev.take(); !slices.Equal(got, []string{"dad 2001:db8::2 duplicate"}) {
		t.Errorf("events %q", got)
	}
	addAddr(t, s, "2001:db8::3/64")
	n.advance(time.Second)
	if err := s.DupTentativeAddrDetected(1, addr("2001:db8::3")); err == nil {
		t.Error("assigned address accepted")
	}
	if _, err := s.IsAddrTentative(9, a); err == nil {
		t.Error("unknown NIC accepted")
	}
}

// With DupAddrDetectTransmits 0 (the zero configuration) addresses are
// usable at once and nothing is sent.
func TestDADOff(t *testing.T) {
	n, h, s, _ := dadHost(t, 0, 0)
	addAddr(t, s, "2001:db8::2/64")
	n.run()
	if tentative(t, s, addr("2001:db8::2")) {
		t.Error("tentative with DAD off")
	}
	if got := len(dadProbes(t, h.Frames(), addr("2001:db8::2"))); got != 0 {
		t.Errorf("%d probes with DAD off", got)
	}
}

// Removing an address during DAD aborts it.
func TestDADAbort(t *testing.T) {
	n, h, s, ev := dadHost(t, 3, time.Second)
	addAddr(t, s, "2001:db8::2/64")
	if err := s.RemoveAddress(1, addr("2001:db8::2")); err != nil {
		t.Fatal(err)
	}
	n.advance(5 * time.Second)
	if got := ev.take(); !slices.Equal(got, []string{"dad 2001:db8::2 aborted"}) {
		t.Errorf("events %q", got)
	}
	if got := len(dadProbes(t, h.Frames(), addr("2001:db8::2"))); got != 1 {
		t.Errorf("%d probes, want only the first", got)
	}
}

// The link-local address formed when the NIC comes up goes through DAD
// too, its first probe after a random delay below MAX_RTR_SOLICITATION_DELAY
// (RFC 4862 §5.4.2, §5.3), and is then usable.
func TestLinkLocalDAD(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	ev := &events{}
	cfg := stack.DefaultNDPConfigurations()
	cfg.MaxRtrSolicitations = 0
	s := n.newStack(stackOpts{ndp: cfg, ndpDisp: ev})
	n.addNIC(s, 1, h, mac(2), 1500, "")
	ll := linkLocal(2)
	if !tentative(t, s, ll) {
		t.Fatal("link-local address not tentative at first")
	}
	n.advance(time.Second - time.Nanosecond)
	if got := len(dadProbes(t, h.Frames(), ll)); got != 1 {
		t.Fatalf("%d probes within MAX_RTR_SOLICITATION_DELAY, want 1", got)
	}
	n.advance(time.Second)
	if tentative(t, s, ll) {
		t.Error("link-local address still tentative after the delay and RetransTimer")
	}
	if got := ev.take(); !slices.Equal(got, []string{"dad " + ll.String() + " succeeded"}) {
		t.Errorf("events %q", got)
	}
}
