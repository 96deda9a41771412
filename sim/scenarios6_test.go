package sim_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// tcp6HostOptions are the options of the IPv6 scenario hosts: IPv6 and
// TCP on top of the defaults.
var tcp6HostOptions = sim.HostOptions{
	Networks:   []stack.NetworkProtocolFactory{ipv6.NewProtocol},
	Transports: []stack.TransportProtocolFactory{tcp.NewProtocol},
}

var (
	prefix6A = netip.MustParsePrefix("2001:db8::a/64")
	prefix6B = netip.MustParsePrefix("2001:db8::b/64")
)

// scenarioHosts6 is scenarioHosts over IPv6.
func scenarioHosts6(t *testing.T, seed uint64, extra sim.Props) (n *sim.Network, a, b *sim.Host, l *sim.Link) {
	t.Helper()
	n = newNet(t, seed)
	a = n.AddHost("a", tcp6HostOptions)
	b = n.AddHost("b", tcp6HostOptions)
	p := extra
	if p.Delay == 0 {
		p.Delay = scenarioPath.Delay
	}
	p.Bandwidth, p.QueueBytes = scenarioPath.Bandwidth, scenarioPath.QueueBytes
	l = n.MustConnect(a, b, sim.LinkConfig{AddrA: prefix6A, AddrB: prefix6B, AB: p, BA: p})
	return n, a, b, l
}

// TestTCPScenariosIPv6 repeats issue 5's delivery scenarios over IPv6
// (issue 8): 16 MiB byte-exact from a to b over the impaired base path,
// and a path MTU drop that a router reports with Packet Too Big (RFC 8201
// §4, RFC 4443 §3.2). The loss-free, throughput-bound ones must take
// about as long as over IPv4 (the golden table: 20 more header bytes a
// segment is 1.4 %).
func TestTCPScenariosIPv6(t *testing.T) {
	if testing.Short() {
		t.Skip("16 MiB transfers")
	}
	golden, err := readScenarioGolden(scenarioGolden)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []struct {
		name    string
		extra   sim.Props
		compare bool
	}{
		{"noloss", sim.Props{}, true},
		{"loss1pct", sim.Props{Loss: 0.01}, false},
		{"loss5pct", sim.Props{Loss: 0.05}, false},
		{"reorder", sim.Props{Reorder: 0.05, ReorderDelay: 5 * time.Millisecond}, false},
		{"duplicate", sim.Props{Duplicate: 0.05}, true},
		{"corrupt", sim.Props{Corrupt: 0.02}, false},
		{"rtt100ms", sim.Props{Delay: 50 * time.Millisecond}, true},
	} {
		t.Run(sc.name, func(t *testing.T) {
			n, a, b, l := scenarioHosts6(t, 1, sc.extra)
			s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: scenarioSize, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			row := finishTransfer(t, n, s, a, b)
			c := l.Counters(sim.Both)
			t.Logf("%v virtual, %.3f Mbit/s, %d retransmits; link: %d sent, %d lost, %d duplicated, %d corrupted, %d reordered",
				row.time, row.goodput/1e6, row.retransmits, c.Sent, c.DroppedLoss, c.Duplicated, c.Corrupted, c.Reordered)
			if a.Stats().IPv6.PacketsSent.Load() == 0 || a.Stats().IPv4.PacketsSent.Load() != 0 {
				t.Errorf("IPv6 packets sent %d, IPv4 %d: not an IPv6 transfer", a.Stats().IPv6.PacketsSent.Load(), a.Stats().IPv4.PacketsSent.Load())
			}
			if sc.extra.Corrupt > 0 && a.Stats().TCP.ChecksumErrors.Load()+b.Stats().TCP.ChecksumErrors.Load() == 0 {
				t.Error("no corrupted segment caught by the TCP checksum")
			}
			if g, ok := golden[sc.name]; ok && sc.compare {
				lo := time.Duration(float64(g.time) * (1 - scenarioTolerance))
				hi := time.Duration(float64(g.time) * (1 + scenarioTolerance))
				if row.time < lo || row.time > hi {
					t.Errorf("%v of virtual time over IPv6, %v over IPv4 (±%.0f %%)", row.time, g.time, scenarioTolerance*100)
				}
			}
		})
	}
	t.Run("mtudrop", mtuDropScenario6)
}

// mtuDropScenario6 is mtuDropScenario over IPv6: the r–b link's MTU drops
// from 1500 to 1280 mid-transfer; r answers with Packet Too Big and a's
// TCP lowers its MSS to 1280 less the IPv6 and TCP headers (RFC 8201 §4,
// RFC 9293 §3.7.1).
func mtuDropScenario6(t *testing.T) {
	const seed = 1
	n := newNet(t, seed)
	a := n.AddHost("a", tcp6HostOptions)
	r := n.AddHost("r", sim.HostOptions{Networks: []stack.NetworkProtocolFactory{ipv6.NewProtocol}, Forwarding: true})
	b := n.AddHost("b", tcp6HostOptions)
	half := scenarioPath
	half.Delay /= 2
	n.MustConnect(a, r, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("2001:db8:1::1/64"), AddrB: netip.MustParsePrefix("2001:db8:1::2/64"), AB: half, BA: half,
	})
	rb := n.MustConnect(r, b, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("2001:db8:2::1/64"), AddrB: netip.MustParsePrefix("2001:db8:2::2/64"), AB: half, BA: half,
	})
	if err := a.SetDefaultRoute(netip.MustParseAddr("2001:db8:1::2")); err != nil {
		t.Fatal(err)
	}
	if err := b.SetDefaultRoute(netip.MustParseAddr("2001:db8:2::1")); err != nil {
		t.Fatal(err)
	}
	var snd tcpip.Endpoint
	cfg := sim.StreamConfig{Port: 80, Size: scenarioSize, Seed: seed}
	cfg.NewEndpoint = func(h *sim.Host) (tcpip.Endpoint, error) {
		ep, err := h.Stack().NewEndpoint(tcpip.TCPProtocolNumber, tcpip.IPv6ProtocolNumber)
		if h == a {
			snd = ep
		}
		return ep, err
	}
	s, err := sim.StartStream(a, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const newMTU = 1280
	if !n.RunUntil(func() bool { return s.Result().Received >= 4<<20 || s.Done() }, scenarioLimit) || s.Done() {
		t.Fatalf("before the MTU drop: %v", s.Result())
	}
	var before, after tcp.InfoOption
	if err := snd.GetSockOpt(&before); err != nil {
		t.Fatal(err)
	}
	rb.SetMTU(newMTU)
	if !n.RunUntil(func() bool { return s.Result().Received >= 8<<20 || s.Done() }, scenarioLimit) || s.Done() {
		t.Fatalf("after the MTU drop: %v", s.Result())
	}
	if err := snd.GetSockOpt(&after); err != nil {
		t.Fatal(err)
	}
	wantMSS := newMTU - 60
	if after.Timestamps {
		wantMSS -= 12
	}
	t.Logf("sender's MSS %d before the drop, %d after", before.SndMSS, after.SndMSS)
	if after.SndMSS != wantMSS {
		t.Errorf("sender's MSS %d after the path MTU fell to %d, want %d", after.SndMSS, newMTU, wantMSS)
	}
	row := finishTransfer(t, n, s, a, b)
	t.Logf("%v virtual, %.3f Mbit/s, %d retransmits", row.time, row.goodput/1e6, row.retransmits)
	if ptb := r.Stats().ICMPv6.Sent.PacketTooBig.Load(); ptb == 0 {
		t.Error("the router sent no Packet Too Big")
	}
}
