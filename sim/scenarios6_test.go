package sim_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// ipv6Family runs the scenario table over IPv6: the same hosts, links,
// seeds and impairments, IPv6 addresses, neighbour discovery instead of
// ARP, Packet Too Big instead of fragmentation needed.
var ipv6Family = scenarioFamily{
	name: "IPv6", proto: tcpip.IPv6ProtocolNumber,
	host:   sim.HostOptions{IPv6: true, Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}},
	router: sim.HostOptions{IPv6: true, Forwarding: true},
	a:      netip.MustParsePrefix("2001:db8::a/64"), b: netip.MustParsePrefix("2001:db8::b/64"),
	ar: netip.MustParsePrefix("2001:db8:1::a/64"), ra: netip.MustParsePrefix("2001:db8:1::1/64"),
	rb: netip.MustParsePrefix("2001:db8:2::1/64"), br: netip.MustParsePrefix("2001:db8:2::b/64"),
	ipHeader: 40,
	golden:   "testdata/tcp_scenarios6.golden", test: "TestTCPScenarios6",
	// RFC 4443 §3.2, RFC 8201 §4.
	tooBig: func(r *sim.Host) uint64 { return r.Stats().ICMPv6.Sent.PacketTooBig.Load() },
}

// familyTolerance is how far a scenario's virtual time over IPv6 may be
// from its time over IPv4. An IPv6 header is 20 bytes longer than an
// IPv4 one: a full 1500-byte frame carries 1440 bytes of data instead of
// 1460 (1.4 % fewer; 1208 against 1228 after mtudrop's fall to 1280,
// 1.6 %), and every ACK is 20 bytes longer. So a transfer bound by the
// bandwidth (noloss, duplicate, rtt100ms, mtudrop) takes about 1.5 %
// longer, one bound by timers (zerowindow's pauses, vanish's user
// timeout) the same time. The lossy ones see the same seeded impairment
// draws, frame for frame, until the first frame whose fate depends on its
// size or on an extra frame (a neighbour solicitation or MLD report
// where IPv4 had ARP): their times agree as long as the recovery does not
// take another turn; 15 % bounds that for loss1pct, loss5pct and corrupt.
// Two are only logged: loss20pct, a chain of exponential retransmission
// backoffs (RFC 6298 §5.5) where one frame lost more or less moves the
// end by many seconds, and reorder, whose time is bimodal whatever the
// family (seeds 1 to 6 over IPv4: 1.64, 3.53, 1.74, 3.35, 1.60, 3.15 s;
// over IPv6: 3.45, 3.58, 3.51, 3.38, 1.65, 1.61 s), as the spurious
// recoveries are undone (RFC 2883 §5, D-SACK) or not. Both are held to
// their own golden rows.
var familyTolerance = map[string]float64{
	"noloss": 0.05, "duplicate": 0.05, "rtt100ms": 0.05, "mtudrop": 0.05,
	"zerowindow": 0.05, "vanish": 0.05,
	"loss1pct": 0.15, "loss5pct": 0.15, "corrupt": 0.15,
}

// raceScenarios6 are the scenarios TestTCPScenarios6 runs under the race
// detector, which makes every frame several times dearer: the IPv4 table
// covers the rest there, and a run without -race all of them.
var raceScenarios6 = []string{"noloss", "loss1pct", "zerowindow", "mtudrop", "vanish"}

// TestTCPScenarios6 runs issue 5's table of TCP scenarios over IPv6
// (issue 8), compares each time with its golden row
// (testdata/tcp_scenarios6.golden, rewritten by -update like the IPv4
// one), then runs each scenario again over IPv4 and compares the two
// times (familyTolerance). The IPv4 times are measured rather than read
// from the IPv4 golden table because that table may lag the TCP under
// test by its own tolerance, far more than the header sizes explain.
// Under the race detector the IPv4 runs and the comparison are left out.
func TestTCPScenarios6(t *testing.T) {
	scenarios := tcpScenarios
	if raceEnabled {
		scenarios = slices.DeleteFunc(slices.Clone(tcpScenarios), func(sc tcpScenario) bool {
			return !slices.Contains(raceScenarios6, sc.name)
		})
	}
	rows := runScenarioTable(t, &ipv6Family, scenarios)
	if raceEnabled {
		t.Log("race detector on: the IPv6 times are not compared with IPv4 ones")
		return
	}
	for _, r := range rows {
		i := slices.IndexFunc(tcpScenarios, func(sc tcpScenario) bool { return sc.name == r.name })
		sc := tcpScenarios[i]
		var v4 scenarioRow
		ok := t.Run("ipv4/"+sc.name, func(t *testing.T) { v4 = sc.run(t, &ipv4Family, sc.seed) })
		if !ok || v4.time <= 0 {
			continue
		}
		ratio := r.time.Seconds() / v4.time.Seconds()
		tol, compared := familyTolerance[r.name]
		t.Logf("%-10s IPv6 %12v  IPv4 %12v  IPv6/IPv4 %.4f", r.name, r.time.Round(time.Microsecond), v4.time.Round(time.Microsecond), ratio)
		if compared && (ratio < 1-tol || ratio > 1+tol) {
			t.Errorf("%s: %v over IPv6, %v over IPv4: the ratio %.3f is outside 1±%.2f", r.name, r.time, v4.time, ratio, tol)
		}
	}
}
