package tcp_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

const (
	ACK = header.TCPFlagACK
	SYN = header.TCPFlagSYN
	FIN = header.TCPFlagFIN
	RST = header.TCPFlagRST
	PSH = header.TCPFlagPSH
)

func mssOpt(mss uint16) []byte {
	ob := header.NewTCPOptionsBuilder(make([]byte, 40))
	ob.AddMSS(mss)
	return append([]byte(nil), ob.Bytes()...)
}

// toListen gives a listener of A on port 80 (LISTEN) and a raw peer.
func toListen(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	return toListenEnv(t, newEnv(t, false))
}

func toListenEnv(t *testing.T, e *env) (*env, *peer, tcpip.Endpoint) {
	l := listen(t, e.a, addrA, 80, 8)
	wantState(t, l, tcp.StateListen)
	return e, &peer{e: e, port: 40000, lport: 80, iss: 1000, nxt: 1000}, l
}

// toEstablishedPassive completes a handshake (no options but MSS) with a
// listener of A and returns the accepted endpoint (ESTABLISHED).
func toEstablishedPassive(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	return toEstablishedPassiveEnv(t, newEnv(t, false))
}

func toEstablishedPassiveEnv(t *testing.T, e *env) (*env, *peer, tcpip.Endpoint) {
	e, p, l := toListenEnv(t, e)
	p.send(segOpts{flags: SYN, opts: mssOpt(1460)})
	sa := p.expect(1)[0]
	check(t, sa, SYN|ACK, sa.f.SeqNum, 1001)
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK})
	p.expect(0)
	ep := accept(t, l)
	wantState(t, ep, tcp.StateEstablished)
	return e, p, ep
}

// toSynSent starts a connection from A to the raw peer (SYN-SENT) and
// returns the SYN.
func toSynSent(t *testing.T) (*env, *peer, tcpip.Endpoint, seg) {
	e := newEnv(t, false)
	p := &peer{e: e, port: 40000, iss: 5000, nxt: 5000}
	ep := newTCP(t, e.a)
	if err := ep.Connect(tcpip.FullAddress{Addr: addrPeer, Port: 40000}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	syn := p.expect(1)[0]
	p.lport = syn.f.SrcPort
	wantState(t, ep, tcp.StateSynSent)
	return e, p, ep, syn
}

// toEstablishedActive completes the active open.
func toEstablishedActive(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	e, p, ep, syn := toSynSent(t)
	p.send(segOpts{flags: SYN | ACK, ack: sv(syn.f.SeqNum + 1), opts: mssOpt(1460)})
	p.ack = syn.f.SeqNum + 1
	a := p.expect(1)[0]
	check(t, a, ACK, syn.f.SeqNum+1, 5001)
	wantState(t, ep, tcp.StateEstablished)
	return e, p, ep
}

// toFinWait1 closes an established connection (FIN sent, not acked).
func toFinWait1(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	e, p, ep := toEstablishedPassive(t)
	ep.Close()
	fin := p.expect(1)[0]
	check(t, fin, FIN|ACK, p.ack, p.nxt)
	wantState(t, ep, tcp.StateFinWait1)
	return e, p, ep
}

func toFinWait2(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	e, p, ep := toFinWait1(t)
	p.ack++
	p.send(segOpts{flags: ACK})
	p.expect(0)
	wantState(t, ep, tcp.StateFinWait2)
	return e, p, ep
}

func toTimeWait(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	e, p, ep := toFinWait2(t)
	p.send(segOpts{flags: FIN | ACK})
	a := p.expect(1)[0]
	check(t, a, ACK, p.ack, p.nxt)
	wantState(t, ep, tcp.StateTimeWait)
	return e, p, ep
}

func toCloseWait(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	e, p, ep := toEstablishedPassive(t)
	p.send(segOpts{flags: FIN | ACK})
	a := p.expect(1)[0]
	check(t, a, ACK, p.ack, p.nxt)
	wantState(t, ep, tcp.StateCloseWait)
	return e, p, ep
}

func toLastAck(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	e, p, ep := toCloseWait(t)
	ep.Close()
	fin := p.expect(1)[0]
	check(t, fin, FIN|ACK, p.ack, p.nxt)
	wantState(t, ep, tcp.StateLastAck)
	return e, p, ep
}

func toClosing(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	e, p, ep := toFinWait1(t)
	// The peer's FIN crosses ours: it does not acknowledge our FIN.
	p.send(segOpts{flags: FIN | ACK})
	a := p.expect(1)[0]
	check(t, a, ACK, p.ack+1, p.nxt)
	wantState(t, ep, tcp.StateClosing)
	return e, p, ep
}

func TestStateListen(t *testing.T) {
	e, p, l := toListen(t)
	p.send(segOpts{flags: SYN, opts: synOpts(100)})
	sa := p.expect(1)[0]
	check(t, sa, SYN|ACK, sa.f.SeqNum, 1001)
	o := sa.opts
	if !o.HasMSS || o.MSS != 1460 || !o.SACKPermitted || !o.HasTimestamps || o.TSEcr != 100 ||
		!o.HasWindowScale || o.WindowScale != defaultWS || sa.f.WindowSize != 65535 {
		t.Fatalf("SYN-ACK options %+v window %d", o, sa.f.WindowSize)
	}
	// A retransmitted SYN gets the same SYN-ACK.
	p.send(segOpts{flags: SYN, seq: sv(1000), opts: synOpts(100)})
	check(t, p.expect(1)[0], SYN|ACK, sa.f.SeqNum, 1001)
	// An ACK for nothing gets RST <SEQ=SEG.ACK> (RFC 9293 §3.10.7.2).
	q := &peer{e: e, port: 40001, lport: 80, nxt: 7, ack: 12345}
	q.send(segOpts{flags: ACK})
	check(t, q.expect(1)[0], RST, 12345, 0)
	// An RST is ignored.
	q.send(segOpts{flags: RST})
	q.expect(0)
	// The handshake completes.
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK, opts: tsOpt(101, sa.opts.TSVal)})
	p.expect(0)
	if l.Readiness(tcpip.EventIn) == 0 {
		t.Fatal("listener not readable")
	}
	c := accept(t, l)
	in := info(t, c)
	if in.State != tcp.StateEstablished || !in.Timestamps || in.SndWScale != 7 || in.RcvWScale != defaultWS || in.SndMSS != 1460-12 {
		t.Fatalf("info %+v", in)
	}
}

func TestStateListenHalfOpenTimeout(t *testing.T) {
	e, p, _ := toListen(t)
	p.send(segOpts{flags: SYN, opts: mssOpt(1460)})
	sa := p.expect(1)[0]
	start := e.clock.NowMonotonic()
	var at []time.Duration
	for range 6 {
		next, ok := e.clock.NextDeadline()
		if !ok {
			t.Fatal("no timer")
		}
		e.clock.AdvanceTo(next)
		if segs := p.expect(1); len(segs) == 1 {
			check(t, segs[0], SYN|ACK, sa.f.SeqNum, 1001)
			at = append(at, e.clock.NowMonotonic().Sub(start))
		}
		if len(at) == 5 {
			break
		}
	}
	want := []time.Duration{1, 3, 7, 15, 31}
	for i, w := range want {
		if at[i] != w*time.Second {
			t.Fatalf("SYN-ACK retransmissions at %v, want %v s", at, want)
		}
	}
	e.advance(time.Minute)
	if n := counter(e.a, "TCP.HalfOpenTimedOut"); n != 1 {
		t.Fatalf("HalfOpenTimedOut = %d", n)
	}
}

func TestStateSynSent(t *testing.T) {
	e, p, ep, syn := toSynSent(t)
	o := syn.opts
	if syn.f.Flags != SYN || !o.HasMSS || o.MSS != 1460 || !o.SACKPermitted || !o.HasTimestamps ||
		!o.HasWindowScale || o.WindowScale != defaultWS || syn.f.WindowSize != 65535 {
		t.Fatalf("SYN %+v options %+v", syn.f, o)
	}
	// An RST without ACK is ignored in SYN-SENT.
	p.send(segOpts{flags: RST})
	p.expect(0)
	wantState(t, ep, tcp.StateSynSent)
	// A bad ACK gets an RST.
	p.send(segOpts{flags: SYN | ACK, ack: sv(syn.f.SeqNum + 7)})
	check(t, p.expect(1)[0], RST, syn.f.SeqNum+7, 0)
	// RST with an acceptable ACK: refused.
	p.send(segOpts{flags: RST | ACK, ack: sv(syn.f.SeqNum + 1)})
	p.expect(0)
	err := ep.Connect(tcpip.FullAddress{Addr: addrPeer, Port: 40000})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Connect = %v", err)
	}
	_ = e
}

// RFC 6298 §5.5 backoff and tcp_syn_retries: SYNs at 0, 1, 3, 7, 15, 31,
// 63 s, then ErrTimeout at 127 s.
func TestSynRetriesTimeout(t *testing.T) {
	e, p, ep, syn := toSynSent(t)
	start := e.clock.NowMonotonic()
	var at []time.Duration
	for {
		next, ok := e.clock.NextDeadline()
		if !ok {
			break
		}
		e.clock.AdvanceTo(next)
		e.pump()
		for _, s := range e.sn.take() {
			if s.src == addrA {
				check(t, s, SYN, syn.f.SeqNum, 0)
				at = append(at, e.clock.NowMonotonic().Sub(start))
			}
		}
	}
	want := []time.Duration{1, 3, 7, 15, 31, 63}
	if len(at) != len(want) {
		t.Fatalf("SYN retransmissions at %v", at)
	}
	for i := range want {
		if at[i] != want[i]*time.Second {
			t.Fatalf("SYN retransmissions at %v, want %v s", at, want)
		}
	}
	if d := e.clock.NowMonotonic().Sub(start); d != 127*time.Second {
		t.Fatalf("gave up after %v", d)
	}
	if err := ep.Connect(tcpip.FullAddress{Addr: addrPeer, Port: 40000}); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Connect = %v", err)
	}
	_ = p
}

func TestStateSynReceivedSimultaneous(t *testing.T) {
	e, p, ep, syn := toSynSent(t)
	// The peer's SYN crosses ours.
	p.send(segOpts{flags: SYN, opts: mssOpt(1400)})
	sa := p.expect(1)[0]
	check(t, sa, SYN|ACK, syn.f.SeqNum, 5001)
	wantState(t, ep, tcp.StateSynReceived)
	p.ack = syn.f.SeqNum + 1
	p.send(segOpts{flags: ACK})
	p.expect(0)
	wantState(t, ep, tcp.StateEstablished)
	if in := info(t, ep); in.SndMSS != 1400 {
		t.Fatalf("SndMSS %d", in.SndMSS)
	}
	_ = e
}

func TestStateEstablished(t *testing.T) {
	e, p, ep := toEstablishedActive(t)
	// Data is acknowledged at once while in quick-ACK mode.
	p.send(segOpts{flags: ACK | PSH, data: []byte("abc")})
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	if got := readAll(t, ep); string(got) != "abc" {
		t.Fatalf("read %q", got)
	}
	// Out of the window: an ACK, nothing else (RFC 9293 §3.10.7.4).
	p.send(segOpts{flags: ACK, seq: sv(p.nxt + 1<<20), data: []byte("x")})
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	// RFC 5961 §3.2: an RST in the window but not at RCV.NXT draws a
	// challenge ACK.
	p.send(segOpts{flags: RST, seq: sv(p.nxt + 10)})
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	// RFC 5961 §4.2: a SYN draws a challenge ACK.
	p.send(segOpts{flags: SYN, seq: sv(p.nxt + 100)})
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	if n := counter(e.a, "TCP.ChallengeACKsSent"); n != 2 {
		t.Fatalf("ChallengeACKsSent = %d", n)
	}
	// RFC 5961 §5.2: an ACK of data never sent draws an ACK.
	p.send(segOpts{flags: ACK, ack: sv(p.ack + 1000)})
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	// Data sent is ACKed.
	write(t, ep, []byte("hello"))
	d := p.expect(1)[0]
	check(t, d, ACK|PSH, p.ack, p.nxt)
	if string(d.data) != "hello" {
		t.Fatalf("data %q", d.data)
	}
	p.ack += 5
	p.send(segOpts{flags: ACK})
	p.expect(0)
	// The exact RST resets.
	p.send(segOpts{flags: RST})
	p.expect(0)
	if _, err := ep.Read(make([]byte, 1), tcpip.ReadOptions{}); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read = %v", err)
	}
	wantState(t, ep, tcp.StateClosed)
}

func TestOutOfOrder(t *testing.T) {
	_, p, ep := toEstablishedPassive(t)
	base := p.nxt
	p.send(segOpts{flags: ACK, seq: sv(base + 3), data: []byte("def")})
	check(t, p.expect(1)[0], ACK, p.ack, base)
	p.send(segOpts{flags: ACK, seq: sv(base + 9), data: []byte("jkl")})
	check(t, p.expect(1)[0], ACK, p.ack, base)
	p.send(segOpts{flags: ACK, seq: sv(base + 5), data: []byte("fghi")})
	check(t, p.expect(1)[0], ACK, p.ack, base)
	if got := readAll(t, ep); len(got) != 0 {
		t.Fatalf("read %q before the hole filled", got)
	}
	p.send(segOpts{flags: ACK, seq: sv(base), data: []byte("abc")})
	check(t, p.expect(1)[0], ACK, p.ack, base+12)
	if got := readAll(t, ep); string(got) != "abcdefghijkl" {
		t.Fatalf("read %q", got)
	}
}

func TestStateFinWait(t *testing.T) {
	e, p, ep := toTimeWait(t)
	// A retransmitted FIN is acknowledged again.
	p.send(segOpts{flags: FIN | ACK, seq: sv(p.nxt - 1)})
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	e.advance(2*tcp.DefaultMSL - time.Second)
	wantState(t, ep, tcp.StateTimeWait)
	e.advance(time.Second)
	wantState(t, ep, tcp.StateClosed)
	// The port is closed now.
	p.send(segOpts{flags: ACK})
	check(t, p.expect(1)[0], RST, p.ack, 0)
}

func TestStateCloseWaitLastAck(t *testing.T) {
	_, p, ep := toLastAck(t)
	p.ack++
	p.send(segOpts{flags: ACK})
	p.expect(0)
	wantState(t, ep, tcp.StateClosed)
}

func TestStateClosing(t *testing.T) {
	e, p, ep := toClosing(t)
	p.ack++
	p.send(segOpts{flags: ACK})
	p.expect(0)
	wantState(t, ep, tcp.StateTimeWait)
	e.advance(2 * tcp.DefaultMSL)
	wantState(t, ep, tcp.StateClosed)
}

func TestStateFinWait2Data(t *testing.T) {
	// In FIN-WAIT-2 after Close, data from the peer resets (Linux).
	_, p, ep := toFinWait2(t)
	p.send(segOpts{flags: ACK, data: []byte("late")})
	s := p.expect(1)[0]
	if !s.has(RST) {
		t.Fatalf("got %v, want RST", s.f.Flags)
	}
	wantState(t, ep, tcp.StateClosed)
}

func TestCloseWithUnreadDataResets(t *testing.T) {
	_, p, ep := toEstablishedPassive(t)
	p.send(segOpts{flags: ACK, data: []byte("unread")})
	p.expect(1)
	ep.Close()
	check(t, p.expect(1)[0], RST|ACK, p.ack, p.nxt)
}

func TestLingerZeroResets(t *testing.T) {
	_, p, ep := toEstablishedPassive(t)
	if err := ep.SetSockOpt(tcpip.LingerOption{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	ep.Close()
	check(t, p.expect(1)[0], RST|ACK, p.ack, p.nxt)
}

func TestClosedPortRST(t *testing.T) {
	e := newEnv(t, false)
	p := &peer{e: e, port: 40000, lport: 81, nxt: 1000}
	p.send(segOpts{flags: SYN, data: []byte("xy")})
	check(t, p.expect(1)[0], RST|ACK, 0, 1003)
	p.send(segOpts{flags: ACK, ack: sv(77)})
	check(t, p.expect(1)[0], RST, 77, 0)
	p.send(segOpts{flags: RST})
	p.expect(0)
	if n := counter(e.a, "TCP.NoEndpoint"); n != 3 {
		t.Fatalf("NoEndpoint = %d", n)
	}
	if n := counter(e.a, "TCP.ResetsSent"); n != 2 {
		t.Fatalf("ResetsSent = %d", n)
	}
}

func TestTimeWaitReuse(t *testing.T) {
	// A listener keeps listening while one of its connections is in
	// TIME-WAIT; a new SYN with a higher sequence number reopens it
	// (RFC 6191).
	e, p, l := toListen(t)
	p.send(segOpts{flags: SYN, opts: mssOpt(1460)})
	sa := p.expect(1)[0]
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK})
	p.expect(0)
	c := accept(t, l)
	c.Close()
	check(t, p.expect(1)[0], FIN|ACK, p.ack, p.nxt)
	p.ack++
	p.send(segOpts{flags: FIN | ACK})
	p.expect(1)
	wantState(t, c, tcp.StateTimeWait)
	// An old SYN (lower sequence number) gets an ACK.
	p.send(segOpts{flags: SYN, seq: sv(p.nxt - 100)})
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	// A new one opens a new connection.
	p.send(segOpts{flags: SYN, seq: sv(p.nxt + 100000), opts: mssOpt(1460)})
	sa2 := p.expect(1)[0]
	check(t, sa2, SYN|ACK, sa2.f.SeqNum, p.nxt+100001)
	wantState(t, c, tcp.StateClosed)
	_ = e
}

var _ = seqnum.Value(0)

// An orphaned connection (closed by its user) gives up waiting in
// FIN-WAIT-2 after 60 s, as Linux's tcp_fin_timeout; one that was only
// half-closed waits as long as its user keeps it.
func TestFinWait2OrphanTimeout(t *testing.T) {
	e, p, ep := toFinWait2(t)
	e.advance(59 * time.Second)
	wantState(t, ep, tcp.StateFinWait2)
	e.advance(time.Second)
	wantState(t, ep, tcp.StateClosed)
	_ = p

	e2, p2, ep2 := toEstablishedPassive(t)
	if err := ep2.Shutdown(tcpip.ShutdownWrite); err != nil {
		t.Fatal(err)
	}
	check(t, p2.expect(1)[0], FIN|ACK, p2.ack, p2.nxt)
	p2.ack++
	p2.send(segOpts{flags: ACK})
	p2.expect(0)
	e2.advance(5 * time.Minute)
	wantState(t, ep2, tcp.StateFinWait2)
	ep2.Close()
	e2.advance(time.Minute)
	wantState(t, ep2, tcp.StateClosed)
}

// RFC 2018 §4: with SACK permitted, ACKs sent while data is out of order
// carry SACK blocks, the most recent first.
func TestSACKBlocks(t *testing.T) {
	_, p, l := toListen(t)
	p.send(segOpts{flags: SYN, opts: synOpts(100)})
	sa := p.expect(1)[0]
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK, opts: tsOpt(101, sa.opts.TSVal)})
	p.expect(0)
	c := accept(t, l)
	base := p.nxt
	p.send(segOpts{flags: ACK, seq: sv(base + 10), data: []byte("0123456789"), opts: tsOpt(102, 0)})
	a := p.expect(1)[0]
	if a.opts.NumSACKBlocks != 1 || a.opts.SACKBlocks[0] != (header.SACKBlock{Start: base + 10, End: base + 20}) {
		t.Fatalf("SACK %+v", a.opts.SACK())
	}
	p.send(segOpts{flags: ACK, seq: sv(base + 30), data: []byte("0123456789"), opts: tsOpt(103, 0)})
	a = p.expect(1)[0]
	want := []header.SACKBlock{{Start: base + 30, End: base + 40}, {Start: base + 10, End: base + 20}}
	if a.opts.NumSACKBlocks != 2 || a.opts.SACKBlocks[0] != want[0] || a.opts.SACKBlocks[1] != want[1] {
		t.Fatalf("SACK %+v, want %+v", a.opts.SACK(), want)
	}
	p.send(segOpts{flags: ACK, seq: sv(base), data: []byte("0123456789"), opts: tsOpt(104, 0)})
	a = p.expect(1)[0]
	check(t, a, ACK, p.ack, base+20)
	if a.opts.NumSACKBlocks != 1 || a.opts.SACKBlocks[0] != want[0] {
		t.Fatalf("SACK %+v", a.opts.SACK())
	}
	if got := readAll(t, c); len(got) != 20 {
		t.Fatalf("read %d bytes", len(got))
	}
}

// RFC 9293 §3.10.7.4: with our window zero, a segment at RCV.NXT still
// has its ACK processed; its data is dropped and the zero window
// re-advertised.
func TestZeroReceiveWindowAcceptsACK(t *testing.T) {
	e := newEnv(t, false)
	l := newTCP(t, e.a)
	if err := l.SetSockOpt(tcpip.ReceiveBufferSizeOption(4096)); err != nil {
		t.Fatal(err)
	}
	if err := l.Bind(tcpip.FullAddress{Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(1); err != nil {
		t.Fatal(err)
	}
	p := &peer{e: e, port: 40000, lport: 80, nxt: 1000}
	p.send(segOpts{flags: SYN, opts: mssOpt(1460)})
	sa := p.expect(1)[0]
	if sa.f.WindowSize != 4096 {
		t.Fatalf("SYN-ACK window %d", sa.f.WindowSize)
	}
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK})
	p.expect(0)
	ep := accept(t, l)
	if err := ep.SetSockOpt(tcpip.QuickAckOption(true)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1460, 1460, 1176} {
		p.send(segOpts{flags: ACK, data: make([]byte, n)})
		p.expect(1)
	}
	write(t, ep, []byte("12345"))
	d := p.expect(1)[0]
	if d.f.WindowSize != 0 {
		t.Fatalf("window %d, want 0", d.f.WindowSize)
	}
	p.send(segOpts{flags: ACK, ack: sv(p.ack + 5), data: []byte("more")})
	a := p.expect(1)[0]
	check(t, a, ACK, p.ack+5, p.nxt-4)
	if a.f.WindowSize != 0 {
		t.Fatalf("window %d, want 0", a.f.WindowSize)
	}
	if in := info(t, ep); in.Unacked != 0 {
		t.Fatalf("ACK not processed: %+v", in)
	}
}

// FIN-WAIT-1: the FIN is retransmitted on RTO until acknowledged.
func TestStateFinWait1Retransmit(t *testing.T) {
	e, p, ep := toFinWait1(t)
	e.advance(200 * time.Millisecond)
	check(t, p.expect(1)[0], FIN|ACK, p.ack, p.nxt)
	e.advance(400 * time.Millisecond)
	check(t, p.expect(1)[0], FIN|ACK, p.ack, p.nxt)
	p.ack++
	p.send(segOpts{flags: ACK})
	p.expect(0)
	wantState(t, ep, tcp.StateFinWait2)
	e.advance(10 * time.Second)
	p.expect(0)
}
