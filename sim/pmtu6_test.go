package sim_test

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
	"github.com/ustack-go/ustack/transport/udp"
)

// pmtuNarrow is the MTU of the middle link of pmtuPath: below the 1500
// of the others, above IPv6's minimum of 1280 (RFC 8200 §5).
const pmtuNarrow = 1400

// pmtuPath returns the hosts of the path a–r1–r2–c over IPv6, routers r1
// and r2 joined by a link of MTU pmtuNarrow, the others of MTU 1500, 5 ms
// each way on each link. The narrow link is in the middle, as on the
// Internet: neither end's NIC knows of it, both announce an MSS for 1500
// (RFC 9293 §3.7.1), and only Packet Too Big from r1 tells a. It also
// returns the largest frame delivered across the narrow link towards c,
// Ethernet header included, as the run goes.
func pmtuPath(t *testing.T, n *sim.Network) (a, r1, c *sim.Host, largest *int) {
	t.Helper()
	end := sim.HostOptions{IPv6: true, Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
	router := sim.HostOptions{IPv6: true, Forwarding: true}
	a = n.AddHost("a", end)
	r1 = n.AddHost("r1", router)
	r2 := n.AddHost("r2", router)
	c = n.AddHost("c", end)
	p := sim.Props{Delay: 5 * time.Millisecond}
	pfx := netip.MustParsePrefix
	n.MustConnect(a, r1, sim.LinkConfig{AddrA: pfx("2001:db8:1::a/64"), AddrB: pfx("2001:db8:1::1/64"), AB: p, BA: p})
	n.MustConnect(r1, r2, sim.LinkConfig{AddrA: pfx("2001:db8:2::1/64"), AddrB: pfx("2001:db8:2::2/64"), AB: p, BA: p, MTU: pmtuNarrow})
	n.MustConnect(r2, c, sim.LinkConfig{AddrA: pfx("2001:db8:3::2/64"), AddrB: pfx("2001:db8:3::c/64"), AB: p, BA: p})
	for _, rt := range []struct {
		h  *sim.Host
		gw string
	}{{a, "2001:db8:1::1"}, {r1, "2001:db8:2::2"}, {r2, "2001:db8:2::1"}, {c, "2001:db8:3::2"}} {
		if err := rt.h.SetDefaultRoute(netip.MustParseAddr(rt.gw)); err != nil {
			t.Fatal(err)
		}
	}
	largest = new(int)
	n.SetTrace(func(e sim.Event) {
		if e.Link == "r1-r2" && e.Dir == sim.AToB && e.Kind == sim.EventDeliver {
			*largest = max(*largest, e.Size)
		}
	})
	// Let the NICs' start-up traffic (MLD reports) pass.
	n.Run(time.Second)
	return a, r1, c, largest
}

// TCP from a to c across pmtuPath's narrow link: the first full-sized
// segments are too big for it, router r1 answers with
// Packet Too Big (RFC 4443 §3.2), a's IPv6 layer lowers its path MTU to c
// (RFC 8201 §4) and its TCP its MSS to the new path MTU less the
// headers (RFC 8201 §5.4, RFC 9293 §3.7.1); the segments lost are sent
// again and the transfer completes with its SHA-256 verified, without a
// single fragment (TCP sizes its segments to the path).
func TestIPv6PathMTUDiscoveryTCP(t *testing.T) {
	n := newNet(t, 1)
	a, r, c, largest := pmtuPath(t, n)
	var snd tcpip.Endpoint
	const size = 4 << 20
	cfg := sim.StreamConfig{Port: 80, Size: size, Seed: 3}
	cfg.NewEndpoint = func(h *sim.Host) (tcpip.Endpoint, error) {
		ep, err := h.Stack().NewEndpoint(tcp.ProtocolNumber, tcpip.IPv6ProtocolNumber)
		if h == a {
			snd = ep
		}
		return ep, err
	}
	s, err := sim.StartStream(a, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var info tcp.InfoOption
	getInfo := func() {
		t.Helper()
		if err := snd.GetSockOpt(&info); err != nil {
			t.Fatal(err)
		}
	}
	// The windows just after the MSS reduction, then again once the
	// segments too big were sent again: RFC 8201 §5.4 and RFC 4821 §4,
	// a smaller path MTU is no sign of congestion, so neither window
	// may shrink (SetMSS keeps their size in segments).
	if !n.RunUntil(func() bool { getInfo(); return info.PMTUEvents > 0 }, time.Minute) {
		t.Fatal("the sender never lowered its MSS")
	}
	cwnd0, ssthresh0 := info.Cwnd, info.Ssthresh
	n.Run(200 * time.Millisecond) // several round trips of 30 ms
	getInfo()
	if info.Cwnd < cwnd0 || info.Ssthresh < ssthresh0 {
		t.Errorf("after the Packet Too Big: cwnd %d → %d, ssthresh %d → %d; want neither reduced", cwnd0, info.Cwnd, ssthresh0, info.Ssthresh)
	}
	n.RunUntil(s.Done, time.Minute)
	res := s.Result()
	getInfo()
	st := &a.Stats().TCP
	t.Logf("%v; sender's MSS %d; largest frame to c %d bytes; %d Packet Too Big received; %d retransmits, %d timeouts; cwnd %d, ssthresh %d, peer's window %d, %d MSS reductions",
		res, info.SndMSS, *largest, a.Stats().ICMPv6.Received.PacketTooBig.Load(), st.Retransmits.Load(), st.Timeouts.Load(),
		info.Cwnd, info.Ssthresh, info.SndWnd, info.PMTUEvents)
	if !res.OK() || res.Received != size || res.SentSHA256 != res.ReceivedSHA256 {
		t.Fatalf("transfer: %v", res)
	}
	for _, c := range []struct {
		name string
		v    *tcpip.Counter
	}{{"fast recoveries", &st.FastRecovery}, {"SACK recoveries", &st.SACKRecovery}, {"RACK recoveries", &st.RACKRecovery}, {"timeouts", &st.Timeouts}} {
		if got := c.v.Load(); got != 0 {
			t.Errorf("%d %s: the Packet Too Big was taken for congestion", got, c.name)
		}
	}
	wantMSS := pmtuNarrow - header.IPv6MinimumSize - header.TCPMinimumSize
	if info.Timestamps {
		// RFC 7323 §3.2: 10 bytes of option, padded to 12.
		wantMSS -= 12
	}
	if info.SndMSS != wantMSS {
		t.Errorf("sender's MSS %d, want %d (path MTU %d)", info.SndMSS, wantMSS, pmtuNarrow)
	}
	if ptb, got := r.Stats().ICMPv6.Sent.PacketTooBig.Load(), a.Stats().ICMPv6.Received.PacketTooBig.Load(); ptb == 0 || got == 0 {
		t.Errorf("Packet Too Big: router sent %d, a received %d", ptb, got)
	}
	if f := a.Stats().IPv6.FragmentsCreated.Load(); f != 0 {
		t.Errorf("a made %d fragments of TCP segments", f)
	}
	if *largest > pmtuNarrow+header.EthernetMinimumSize {
		t.Errorf("a %d-byte frame crossed the link of MTU %d", *largest, pmtuNarrow)
	}
}

// UDP from a to c across pmtuPath's narrow link: the first datagram, of
// a full 1500-byte packet, dies at router r1, which reports it with
// Packet Too Big; a's IPv6 layer learns the path MTU and fragments the next ones at
// the source (RFC 8200 §4.5, §5), c reassembles them, and the datagram
// arrives whole.
func TestIPv6PathMTUDiscoveryUDP(t *testing.T) {
	n := newNet(t, 1)
	a, r, c, largest := pmtuPath(t, n)

	rx, err := c.Stack().NewEndpoint(udp.ProtocolNumber, tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := rx.Bind(tcpip.FullAddress{Port: 9000}); err != nil {
		t.Fatal(err)
	}
	tx, err := a.Stack().NewEndpoint(udp.ProtocolNumber, tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	// A payload that makes a packet of exactly the first hop's MTU.
	payload := make([]byte, 1500-header.IPv6MinimumSize-header.UDPMinimumSize)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	to := tcpip.FullAddress{Addr: c.Addr(), Port: 9000}
	buf := make([]byte, 2048)
	send := func(seq byte) bool {
		t.Helper()
		payload[0] = seq
		if _, err := tx.Write(payload, tcpip.WriteOptions{To: &to}); err != nil {
			t.Fatalf("datagram %d: %v", seq, err)
		}
		var res tcpip.ReadResult
		got := n.RunUntil(func() bool {
			res, err = rx.Read(buf, tcpip.ReadOptions{})
			return !errors.Is(err, tcpip.ErrWouldBlock)
		}, time.Second)
		if got && (err != nil || !bytes.Equal(buf[:res.N], payload)) {
			t.Fatalf("datagram %d: %d bytes read (%v), want the %d sent", seq, res.N, err, len(payload))
		}
		return got
	}

	if send(1) {
		t.Fatal("a packet larger than the next hop's MTU crossed the router")
	}
	if ptb := r.Stats().ICMPv6.Sent.PacketTooBig.Load(); ptb != 1 {
		t.Fatalf("router sent %d Packet Too Big, want 1", ptb)
	}
	if got := a.Stats().ICMPv6.Received.PacketTooBig.Load(); got != 1 {
		t.Fatalf("a received %d Packet Too Big, want 1", got)
	}
	if f := a.Stats().IPv6.FragmentsCreated.Load(); f != 0 {
		t.Fatalf("a fragmented %d times before the Packet Too Big", f)
	}

	for seq := byte(2); seq <= 3; seq++ {
		if !send(seq) {
			t.Fatalf("datagram %d did not arrive after the Packet Too Big", seq)
		}
	}
	created := a.Stats().IPv6.FragmentsCreated.Load()
	received := c.Stats().IPv6.FragmentsReceived.Load()
	t.Logf("a made %d fragments, c received %d; largest frame to c %d bytes", created, received, *largest)
	// Two datagrams, two fragments each: 1448 bytes of IPv6 payload
	// do not fit one 1400-byte packet with its fragment header.
	if created != 4 || received != 4 {
		t.Errorf("fragments: a made %d, c received %d; want 4 and 4", created, received)
	}
	if *largest > pmtuNarrow+header.EthernetMinimumSize {
		t.Errorf("a %d-byte frame crossed the link of MTU %d", *largest, pmtuNarrow)
	}
	if ptb := r.Stats().ICMPv6.Sent.PacketTooBig.Load(); ptb != 1 {
		t.Errorf("router sent %d Packet Too Big in all, want 1", ptb)
	}
}
