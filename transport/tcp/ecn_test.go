package tcp_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

const (
	ECE = header.TCPFlagECE
	CWR = header.TCPFlagCWR
	AE  = header.TCPFlagAE
)

// ecnOf is the ECN codepoint of a segment's IP header.
func ecnOf(s seg) uint8 { return s.tos & header.ECNMask }

// toEstablishedECN completes a passive open in which the peer's SYN asks
// for ECN (RFC 3168 §6.1.1) with MSS 1000 and SACK, without timestamps,
// turns Nagle off and returns the accepted endpoint and the SYN-ACK.
func toEstablishedECN(t *testing.T) (*env, *peer, tcpip.Endpoint, seg) {
	t.Helper()
	e, p, l := toListenEnv(t, newEnv(t, false))
	ob := header.NewTCPOptionsBuilder(make([]byte, 40))
	ob.AddMSS(sackMSS)
	ob.AddSACKPermitted()
	p.send(segOpts{flags: SYN | ECE | CWR, opts: append([]byte(nil), ob.Bytes()...)})
	sa := p.expect(1)[0]
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK})
	p.expect(0)
	ep := accept(t, l)
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	return e, p, ep, sa
}

// RFC 3168 §6.1.1 on a listener with the default (ECNPassive): an
// ECN-setup SYN gets an ECN-setup SYN-ACK (ECE, not CWR, not ECT); the
// connection's new data goes out ECT(0), its pure ACKs and
// retransmissions Not-ECT (§6.1.4, §6.1.5).
func TestECNPassiveNegotiation(t *testing.T) {
	e, p, ep, sa := toEstablishedECN(t)
	if !sa.has(ECE) || sa.has(CWR) || ecnOf(sa) != header.ECNNotECT {
		t.Fatalf("SYN-ACK %v tos %#x, want ECE without CWR, Not-ECT", sa.f.Flags, sa.tos)
	}
	if got := counter(e.a, "TCP.ECNNegotiated"); got != 1 || !info(t, ep).ECN {
		t.Fatalf("ECNNegotiated = %d, Info.ECN %v", got, info(t, ep).ECN)
	}
	write(t, ep, make([]byte, 2*sackMSS))
	for _, s := range p.expect(2) {
		if ecnOf(s) != header.ECNECT0 || s.has(ECE|CWR) {
			t.Fatalf("data segment %v tos %#x, want ECT(0)", s.f.Flags, s.tos)
		}
	}
	// A pure ACK of the peer's data is Not-ECT.
	p.send(segOpts{flags: ACK, data: []byte("x")})
	p.ack = p.ack.Add(2 * sackMSS)
	e.advance(0)
	for _, s := range e.sn.take() {
		if s.src == addrA && ecnOf(s) != header.ECNNotECT {
			t.Fatalf("pure ACK tos %#x", s.tos)
		}
	}
	// A retransmission (RTO) is Not-ECT.
	write(t, ep, make([]byte, sackMSS))
	if s := p.expect(1)[0]; ecnOf(s) != header.ECNECT0 {
		t.Fatalf("new data tos %#x", s.tos)
	}
	e.advance(time.Second) // past the RTO
	rx := 0
	for _, s := range e.sn.take() {
		if s.src == addrA && len(s.data) > 0 {
			rx++
			if ecnOf(s) != header.ECNNotECT {
				t.Fatalf("retransmission tos %#x", s.tos)
			}
		}
	}
	if rx == 0 {
		t.Fatal("no retransmission")
	}
}

// The user's TOSOption keeps its DSCP; TCP owns the ECN bits.
func TestECNKeepsDSCP(t *testing.T) {
	_, p, ep, _ := toEstablishedECN(t)
	if err := ep.SetSockOpt(tcpip.TOSOption(0xb8 | 3)); err != nil {
		t.Fatal(err)
	}
	write(t, ep, []byte("x"))
	if s := p.expect(1)[0]; s.tos != 0xb8|header.ECNECT0 {
		t.Fatalf("tos %#x, want %#x", s.tos, 0xb8|header.ECNECT0)
	}
}

// RFC 3168 §6.1.1 on the active side: ECNOn sends an ECN-setup SYN; the
// retransmitted SYN asks no more (§6.1.1.1); an ECN-setup SYN-ACK turns
// ECN on.
func TestECNActiveNegotiation(t *testing.T) {
	e := newEnv(t, false)
	p := &peer{e: e, port: 40000, iss: 5000, nxt: 5000}
	ep := newTCP(t, e.a)
	if err := ep.SetSockOpt(tcp.ECNOn); err != nil {
		t.Fatal(err)
	}
	var got tcp.ECNOption
	if err := ep.GetSockOpt(&got); err != nil || got != tcp.ECNOn {
		t.Fatalf("GetSockOpt = %v, %v", got, err)
	}
	if err := ep.SetSockOpt(tcp.ECNOption(7)); !errors.Is(err, tcpip.ErrInvalidOptionValue) {
		t.Fatalf("SetSockOpt(7) = %v", err)
	}
	if err := ep.Connect(tcpip.FullAddress{Addr: addrPeer, Port: 40000}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	syn := p.expect(1)[0]
	if !syn.has(ECE) || !syn.has(CWR) || ecnOf(syn) != header.ECNNotECT {
		t.Fatalf("SYN %v tos %#x, want ECE|CWR, Not-ECT", syn.f.Flags, syn.tos)
	}
	p.lport = syn.f.SrcPort
	e.advance(time.Second) // the SYN's RTO
	rx := p.expect(1)[0]
	if !rx.has(SYN) || rx.has(ECE|CWR) {
		t.Fatalf("retransmitted SYN %v, want no ECE/CWR", rx.f.Flags)
	}
	p.send(segOpts{flags: SYN | ACK | ECE, ack: sv(syn.f.SeqNum + 1), opts: mssOpt(1000)})
	p.ack = syn.f.SeqNum + 1
	p.expect(1)
	wantState(t, ep, tcp.StateEstablished)
	write(t, ep, []byte("x"))
	if s := p.expect(1)[0]; ecnOf(s) != header.ECNECT0 {
		t.Fatalf("data tos %#x, want ECT(0)", s.tos)
	}
}

// An active open that did not ask for ECN (the default) ignores an ECE on
// the SYN-ACK: no RST, no ECN. A SYN-ACK with ECE and CWR is not an
// ECN-setup SYN-ACK either.
func TestECNUnrequestedSynAck(t *testing.T) {
	for _, c := range []struct {
		name  string
		mode  tcp.ECNOption
		flags header.TCPFlags
	}{
		{"default/ECE", tcp.ECNPassive, ECE},
		{"default/ECE|CWR|AE", tcp.ECNPassive, ECE | CWR | AE},
		{"on/ECE|CWR", tcp.ECNOn, ECE | CWR},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, false)
			p := &peer{e: e, port: 40000, iss: 5000, nxt: 5000}
			ep := newTCP(t, e.a)
			if err := ep.SetSockOpt(c.mode); err != nil {
				t.Fatal(err)
			}
			if err := ep.Connect(tcpip.FullAddress{Addr: addrPeer, Port: 40000}); !errors.Is(err, tcpip.ErrConnectStarted) {
				t.Fatal(err)
			}
			syn := p.expect(1)[0]
			p.lport = syn.f.SrcPort
			p.send(segOpts{flags: SYN | ACK | c.flags, ack: sv(syn.f.SeqNum + 1), opts: mssOpt(1000)})
			p.ack = syn.f.SeqNum + 1
			a := p.expect(1)[0]
			if a.has(header.TCPFlagRST) || a.has(ECE|CWR) {
				t.Fatalf("answer %v", a.f.Flags)
			}
			wantState(t, ep, tcp.StateEstablished)
			write(t, ep, []byte("x"))
			if s := p.expect(1)[0]; ecnOf(s) != header.ECNNotECT {
				t.Fatalf("data tos %#x, want Not-ECT", s.tos)
			}
			if got := counter(e.a, "TCP.ECNNegotiated"); got != 0 || info(t, ep).ECN {
				t.Fatalf("ECNNegotiated = %d, Info.ECN %v", got, info(t, ep).ECN)
			}
		})
	}
}

// SYNs with any mix of ECE, CWR and AE (RFC 3540's NS) to a listener
// with ECN off, and SYNs that are not ECN-setup SYNs to one with ECN on,
// get a normal SYN-ACK, without ECE, never an RST.
func TestECNSYNsNeverReset(t *testing.T) {
	for _, c := range []struct {
		name  string
		mode  tcp.ECNOption
		flags header.TCPFlags
		ecn   bool // the SYN-ACK carries ECE
	}{
		{"off/ECE|CWR", tcp.ECNOff, ECE | CWR, false},
		{"off/ECE", tcp.ECNOff, ECE, false},
		{"off/CWR", tcp.ECNOff, CWR, false},
		{"off/ECE|CWR|AE", tcp.ECNOff, ECE | CWR | AE, false},
		{"off/AE", tcp.ECNOff, AE, false},
		{"passive/ECE", tcp.ECNPassive, ECE, false},
		{"passive/CWR|AE", tcp.ECNPassive, CWR | AE, false},
		{"passive/ECE|CWR|AE", tcp.ECNPassive, ECE | CWR | AE, true},
		{"on/ECE|CWR", tcp.ECNOn, ECE | CWR, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, false)
			if err := e.a.SetTransportProtocolOption(tcp.ProtocolNumber, c.mode); err != nil {
				t.Fatal(err)
			}
			var got tcp.ECNOption
			if err := e.a.TransportProtocolOption(tcp.ProtocolNumber, &got); err != nil || got != c.mode {
				t.Fatalf("protocol option = %v, %v", got, err)
			}
			_, p, l := toListenEnv(t, e)
			p.send(segOpts{flags: SYN | c.flags, opts: mssOpt(1000)})
			sa := p.expect(1)[0]
			if !sa.has(SYN|ACK) || sa.has(header.TCPFlagRST) || sa.has(CWR) || sa.has(ECE) != c.ecn {
				t.Fatalf("SYN-ACK %v, want ECE %v", sa.f.Flags, c.ecn)
			}
			p.ack = sa.f.SeqNum + 1
			p.send(segOpts{flags: ACK})
			p.expect(0)
			ep := accept(t, l)
			write(t, ep, []byte("x"))
			want := header.ECNNotECT
			if c.ecn {
				want = header.ECNECT0
			}
			if s := p.expect(1)[0]; ecnOf(s) != want {
				t.Fatalf("data tos %#x, want ECN %d", s.tos, want)
			}
		})
	}
}

// RFC 3168 §6.1.3: a CE-marked data segment makes every following ACK
// carry ECE, at once for the first, until a segment with CWR arrives; a
// CE on the CWR segment itself starts the echo again.
func TestECNReceiverEchoesCE(t *testing.T) {
	e, p, _, _ := toEstablishedECN(t)
	data := make([]byte, 100)
	wantECE := func(step string, want bool) {
		t.Helper()
		e.advance(0)
		var acks []seg
		for _, s := range e.sn.take() {
			if s.src == addrA {
				acks = append(acks, s)
			}
		}
		if len(acks) == 0 {
			e.advance(50 * time.Millisecond) // the delayed ACK
			for _, s := range e.sn.take() {
				if s.src == addrA {
					acks = append(acks, s)
				}
			}
		}
		if len(acks) == 0 {
			t.Fatalf("%s: no ACK", step)
		}
		for _, a := range acks {
			if a.has(ECE) != want || a.has(CWR) || ecnOf(a) != header.ECNNotECT {
				t.Fatalf("%s: ACK %v tos %#x, want ECE %v", step, a.f.Flags, a.tos, want)
			}
		}
	}
	p.send(segOpts{flags: ACK, data: data, tos: header.ECNECT0})
	wantECE("ECT", false)
	p.send(segOpts{flags: ACK, data: data, tos: header.ECNCE})
	wantECE("CE", true)
	if got := counter(e.a, "TCP.ECNCEReceived"); got != 1 {
		t.Fatalf("ECNCEReceived = %d", got)
	}
	p.send(segOpts{flags: ACK, data: data, tos: header.ECNECT0})
	wantECE("ECT after CE", true)
	p.send(segOpts{flags: ACK, data: data, tos: header.ECNECT0})
	wantECE("ECT after CE again", true)
	p.send(segOpts{flags: ACK | CWR, data: data, tos: header.ECNECT0})
	wantECE("CWR", false)
	p.send(segOpts{flags: ACK, data: data, tos: header.ECNECT0})
	wantECE("ECT after CWR", false)
	p.send(segOpts{flags: ACK | CWR, data: data, tos: header.ECNCE})
	wantECE("CWR and CE", true)
}

// A connection without ECN ignores CE marks (a router should not mark
// Not-ECT packets, but the receiver has nothing to echo them with).
func TestECNNotNegotiatedIgnoresCE(t *testing.T) {
	e, p, _ := toEstablishedPassive(t)
	p.send(segOpts{flags: ACK, data: []byte("x"), tos: header.ECNCE})
	e.advance(50 * time.Millisecond)
	for _, s := range e.sn.take() {
		if s.src == addrA && s.has(ECE) {
			t.Fatalf("ACK %v", s.f.Flags)
		}
	}
	if got := counter(e.a, "TCP.ECNCEReceived"); got != 0 {
		t.Fatalf("ECNCEReceived = %d", got)
	}
}

// RFC 3168 §6.1.2: an ACK with ECE halves the window (NewReno) without a
// retransmission; CWR goes on the next new data segment only; further
// ECEs for the same window of data are ignored; an ECE for data sent
// after the reduction reduces again.
func TestECNSenderReducesOncePerWindow(t *testing.T) {
	e, p, ep, _ := toEstablishedECN(t)
	// NewReno's halving is counted below (CUBIC, the default, is
	// TestECNCubicReduction's).
	if err := ep.SetSockOpt(tcpip.CongestionControlOption("newreno")); err != nil {
		t.Fatal(err)
	}
	write(t, ep, make([]byte, 40*sackMSS))
	segs := p.expect(10)
	b := segs[0].f.SeqNum
	at := func(off int) *seqnum.Value { return sv(b.Add(seqnum.Size(off))) }
	// Two ACKs without ECE: slow start grows cwnd to 12 segments.
	p.send(segOpts{flags: ACK, ack: at(sackMSS)})
	p.send(segOpts{flags: ACK, ack: at(2 * sackMSS)})
	sent := p.expect(4)
	before := info(t, ep)
	if before.Cwnd != 12*sackMSS {
		t.Fatalf("cwnd %d before ECE", before.Cwnd)
	}
	for _, s := range sent {
		if s.has(CWR) {
			t.Fatal("CWR before any ECE")
		}
	}
	// ECE: the ACK does not grow the window; cwnd = ssthresh = cwnd/2
	// = 6 segments, 11 in flight: nothing sent, nothing retransmitted.
	p.send(segOpts{flags: ACK | ECE, ack: at(3 * sackMSS)})
	p.expect(0)
	in := info(t, ep)
	if in.Cwnd != 6*sackMSS || in.Ssthresh != 6*sackMSS || in.Retransmits != 0 {
		t.Fatalf("after ECE: cwnd %d ssthresh %d retransmits %d", in.Cwnd, in.Ssthresh, in.Retransmits)
	}
	if got := counter(e.a, "TCP.ECNCwndReductions"); got != 1 {
		t.Fatalf("ECNCwndReductions = %d", got)
	}
	// More ECEs for the data in flight at the reduction (up to 14000):
	// no further reduction. Once the flight is under the window, the
	// first new segment carries CWR, the next ones do not.
	var cwr []int
	for k := 4; k <= 10; k++ {
		p.send(segOpts{flags: ACK | ECE, ack: at(k * sackMSS)})
		p.e.pump()
		for _, s := range p.e.sn.take() {
			if s.src == addrA && len(s.data) > 0 && s.has(CWR) {
				cwr = append(cwr, int(b.Size(s.f.SeqNum)))
			}
		}
	}
	if got := counter(e.a, "TCP.ECNCwndReductions"); got != 1 {
		t.Fatalf("ECNCwndReductions = %d after ECEs of the same window", got)
	}
	if len(cwr) != 1 || cwr[0] < 14*sackMSS {
		t.Fatalf("CWR on segments at %v, want one, at or above 14000", cwr)
	}
	if got := counter(e.a, "TCP.ECNECEReceived"); got != 8 {
		t.Fatalf("ECNECEReceived = %d", got)
	}
	// An ECE that acknowledges past the reduction's window reduces
	// again.
	mid := info(t, ep)
	p.send(segOpts{flags: ACK | ECE, ack: at(15 * sackMSS)})
	p.e.pump()
	p.e.sn.take()
	if got := counter(e.a, "TCP.ECNCwndReductions"); got != 2 {
		t.Fatalf("ECNCwndReductions = %d after the next window", got)
	}
	if in := info(t, ep); in.Ssthresh >= mid.Ssthresh || in.Retransmits != 0 {
		t.Fatalf("second reduction: ssthresh %d (was %d), retransmits %d", in.Ssthresh, mid.Ssthresh, in.Retransmits)
	}
}

// CUBIC's response to ECE (RFC 9438 §4.6): cwnd = ssthresh = 0.7 ·
// flight size.
func TestECNCubicReduction(t *testing.T) {
	_, p, ep, _ := toEstablishedECN(t)
	if err := ep.SetSockOpt(tcpip.CongestionControlOption("cubic")); err != nil {
		t.Fatal(err)
	}
	write(t, ep, make([]byte, 20*sackMSS))
	b := p.expect(10)[0].f.SeqNum
	p.send(segOpts{flags: ACK | ECE, ack: sv(b.Add(1000))})
	p.e.pump()
	p.e.sn.take()
	// 9 segments in flight when the ECE arrived.
	if in := info(t, ep); in.Ssthresh != 6300 || in.Cwnd != 6300 || in.Retransmits != 0 {
		t.Fatalf("cwnd %d ssthresh %d retransmits %d, want 6300", in.Cwnd, in.Ssthresh, in.Retransmits)
	}
}

// SYN cookies keep the ECN agreement in the TSval when the SYN carries
// timestamps; without timestamps the cookie SYN-ACK does not offer ECN.
func TestECNSYNCookies(t *testing.T) {
	for _, ts := range []bool{true, false} {
		name := "timestamps"
		if !ts {
			name = "no timestamps"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, false)
			if err := e.a.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.MaxHalfOpenOption(1)); err != nil {
				t.Fatal(err)
			}
			_, p, l := toListenEnv(t, e)
			// Fill the half-open budget with another peer's SYN.
			other := &peer{e: e, port: 40001, lport: 80, iss: 9000, nxt: 9000}
			other.send(segOpts{flags: SYN, opts: mssOpt(1000)})
			e.pump()
			e.sn.take()
			opts := mssOpt(1460)
			if ts {
				opts = synOpts(100)
			}
			p.send(segOpts{flags: SYN | ECE | CWR, opts: opts})
			sa := p.expect(1)[0]
			if got := counter(e.a, "TCP.SYNCookiesSent"); got != 1 {
				t.Fatalf("SYNCookiesSent = %d", got)
			}
			if sa.has(ECE) != ts || sa.has(CWR) {
				t.Fatalf("cookie SYN-ACK %v, want ECE %v", sa.f.Flags, ts)
			}
			p.ack = sa.f.SeqNum + 1
			ack := segOpts{flags: ACK}
			if ts {
				ack.opts = tsOpt(101, sa.opts.TSVal)
			}
			p.send(ack)
			p.expect(0)
			ep := accept(t, l)
			write(t, ep, []byte("x"))
			want := header.ECNNotECT
			if ts {
				want = header.ECNECT0
			}
			if s := p.expect(1)[0]; ecnOf(s) != want {
				t.Fatalf("data tos %#x, want ECN %d", s.tos, want)
			}
		})
	}
}

// Two ustack stacks: ECNOn on the client, the default on the server:
// both ends agree, and a transfer works.
func TestECNTwoStacks(t *testing.T) {
	e := newEnv(t, true)
	if err := e.a.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.ECNOn); err != nil {
		t.Fatal(err)
	}
	cli, srv, _ := e.connectPair()
	if got := counter(e.a, "TCP.ECNNegotiated") + counter(e.b, "TCP.ECNNegotiated"); got != 2 {
		t.Fatalf("ECNNegotiated = %d, want 1 on each side", got)
	}
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i)
	}
	write(t, cli, data)
	e.advance(time.Second)
	if got := readAll(t, srv); len(got) != len(data) {
		t.Fatalf("read %d bytes", len(got))
	}
	ect := 0
	for _, s := range e.sn.take() {
		if s.src == addrA && len(s.data) > 0 && ecnOf(s) == header.ECNECT0 {
			ect++
		}
	}
	if ect == 0 {
		t.Fatal("no ECT(0) data segment")
	}
}

// sniffer6 records the traffic class and TCP flags of the IPv6 TCP
// segments crossing the hub.
type sniffer6 struct {
	mu   sync.Mutex
	segs []seg
}

func (s *sniffer6) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	b := pkt.AppendTo(nil)
	pkt.Release()
	ip, err := header.ParseIPv6(b)
	if err != nil || ip.NextHeader() != tcpip.TCPProtocolNumber {
		return
	}
	tt, err := header.ParseTCP(ip.Payload())
	if err != nil {
		return
	}
	s.mu.Lock()
	s.segs = append(s.segs, seg{src: ip.Source(), tos: ip.TrafficClass(), f: tt.Fields(), data: append([]byte(nil), tt.Payload()...)})
	s.mu.Unlock()
}

// ECN over IPv6 (RFC 3168 §5 uses the Traffic Class alike): the
// handshake agrees, data segments carry ECT(0) in the Traffic Class, and
// a transfer works; the user's traffic class keeps its DSCP.
func TestECNOverIPv6(t *testing.T) {
	e := newEnv46(t)
	sn := &sniffer6{}
	e.hub.NewPort(false, tcpip.LinkAddress{}, 1500, 0).Attach(sn)
	if err := e.a.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.ECNOn); err != nil {
		t.Fatal(err)
	}
	l, err := e.b.NewEndpoint(tcp.ProtocolNumber, tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	if err := l.Bind(tcpip.FullAddress{Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(8); err != nil {
		t.Fatal(err)
	}
	cli := e.dial(e.a, tcpip.IPv6ProtocolNumber, tcpip.FullAddress{Addr: addrB6, Port: 80})
	if err := cli.SetSockOpt(tcpip.TOSOption(0x28)); err != nil {
		t.Fatal(err)
	}
	srv, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if a, b := counter(e.a, "TCP.ECNNegotiated"), counter(e.b, "TCP.ECNNegotiated"); a != 1 || b != 1 {
		t.Fatalf("ECNNegotiated %d, %d", a, b)
	}
	e.exchange(cli, srv)
	var syn, data bool
	sn.mu.Lock()
	defer sn.mu.Unlock()
	for _, s := range sn.segs {
		if s.src != addrA6 {
			continue
		}
		switch {
		case s.has(SYN):
			syn = true
			if !s.has(ECE|CWR) || s.tos&header.ECNMask != header.ECNNotECT {
				t.Errorf("SYN %v traffic class %#x", s.f.Flags, s.tos)
			}
		case len(s.data) > 0:
			data = true
			if s.tos != 0x28|header.ECNECT0 {
				t.Errorf("data traffic class %#x, want %#x", s.tos, 0x28|header.ECNECT0)
			}
		}
	}
	if !syn || !data {
		t.Fatalf("IPv6 SYN seen %v, data seen %v", syn, data)
	}
}
