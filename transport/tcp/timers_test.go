package tcp_test

import (
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// RFC 6298: with no RTT measured beyond the handshake's (0 on the manual
// clock), the RTO is the 200 ms minimum, doubled at each expiry.
func TestRTOBackoff(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	write(t, ep, []byte("data"))
	first := p.expect(1)[0]
	start := e.clock.NowMonotonic()
	var at []time.Duration
	for len(at) < 5 {
		next, ok := e.clock.NextDeadline()
		if !ok {
			t.Fatal("no timer")
		}
		e.clock.AdvanceTo(next)
		e.pump()
		for _, s := range e.sn.take() {
			check(t, s, first.f.Flags, first.f.SeqNum, first.f.AckNum)
			if string(s.data) != "data" {
				t.Fatalf("retransmitted %q", s.data)
			}
			at = append(at, e.clock.NowMonotonic().Sub(start))
		}
	}
	want := []time.Duration{200, 600, 1400, 3000, 6200}
	for i := range want {
		if at[i] != want[i]*time.Millisecond {
			t.Fatalf("retransmissions at %v, want %v ms", at, want)
		}
	}
	if in := info(t, ep); in.Backoff != 5 || in.Retransmits != 5 {
		t.Fatalf("info %+v", in)
	}
	// The ACK stops the timer and resets the backoff.
	p.ack += 4
	p.send(segOpts{flags: ACK})
	p.expect(0)
	if in := info(t, ep); in.Backoff != 0 || in.Unacked != 0 {
		t.Fatalf("info %+v", in)
	}
}

func TestUserTimeout(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	if err := ep.SetSockOpt(tcpip.UserTimeoutOption(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	write(t, ep, []byte("data"))
	p.expect(1)
	start := e.clock.NowMonotonic()
	for ep.Readiness(tcpip.EventErr) == 0 {
		next, ok := e.clock.NextDeadline()
		if !ok {
			t.Fatal("no timer and no error")
		}
		e.clock.AdvanceTo(next)
		e.pump()
	}
	if d := e.clock.NowMonotonic().Sub(start); d < 5*time.Second || d > 7*time.Second {
		t.Fatalf("timed out after %v", d)
	}
	if _, err := ep.Write([]byte("x"), tcpip.WriteOptions{}); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Write = %v", err)
	}
	if n := counter(e.a, "TCP.UserTimeouts"); n != 1 {
		t.Fatalf("UserTimeouts = %d", n)
	}
}

func TestKeepalive(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	for _, o := range []any{tcpip.KeepaliveIdleOption(10 * time.Second), tcpip.KeepaliveIntervalOption(2 * time.Second),
		tcpip.KeepaliveCountOption(3), tcpip.KeepAliveOption(true)} {
		if err := ep.SetSockOpt(o); err != nil {
			t.Fatal(err)
		}
	}
	e.advance(10*time.Second - time.Millisecond)
	p.expect(0)
	e.advance(time.Millisecond)
	// RFC 1122 §4.2.3.6: SEG.SEQ = SND.NXT − 1, no data.
	check(t, p.expect(1)[0], ACK, p.ack-1, p.nxt)
	// An answer restarts the idle time.
	p.send(segOpts{flags: ACK})
	p.expect(0)
	e.advance(10 * time.Second)
	check(t, p.expect(1)[0], ACK, p.ack-1, p.nxt)
	e.advance(2 * time.Second)
	p.expect(1)
	e.advance(2 * time.Second)
	p.expect(1)
	e.advance(2 * time.Second)
	// Three probes unanswered: the connection is reset.
	s := p.expect(1)[0]
	if !s.has(header.TCPFlagRST) {
		t.Fatalf("got %v, want RST", s.f.Flags)
	}
	if _, err := ep.Read(make([]byte, 1), tcpip.ReadOptions{}); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("Read = %v", err)
	}
	if n := counter(e.a, "TCP.KeepAliveTimeouts"); n != 1 {
		t.Fatalf("KeepAliveTimeouts = %d", n)
	}
}

func TestZeroWindow(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	// The peer closes its window.
	p.send(segOpts{flags: ACK, zero: true})
	p.expect(0)
	write(t, ep, []byte("blocked"))
	p.expect(0)
	// Persist probes with backoff.
	e.advance(200 * time.Millisecond)
	probe := p.expect(1)[0]
	check(t, probe, ACK, p.ack-1, p.nxt)
	if n := counter(e.a, "TCP.ZeroWindowProbes"); n != 1 {
		t.Fatalf("ZeroWindowProbes = %d", n)
	}
	e.advance(400 * time.Millisecond)
	p.expect(1)
	// The window opens: the data goes.
	p.send(segOpts{flags: ACK, wnd: 1000})
	d := p.expect(1)[0]
	if string(d.data) != "blocked" {
		t.Fatalf("sent %q", d.data)
	}
}

// A zero window from a slow reader between two stacks, then opening.
func TestZeroWindowTwoStacks(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	if err := srv.SetSockOpt(tcpip.ReceiveBufferSizeOption(8192)); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	transfer(t, e, cli, srv, data)
}

func TestRetransmitAfterLoss(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	// Drop the 3rd data segment once: fast retransmit (3 duplicate
	// ACKs) recovers it.
	n := 0
	e.linkA.setDrop(func(ip []byte) bool {
		if len(ip) > 100 {
			n++
			return n == 3
		}
		return false
	})
	data := make([]byte, 200000)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	transfer(t, e, cli, srv, data)
	if counter(e.a, "TCP.FastRetransmits") == 0 {
		t.Fatal("no fast retransmit")
	}
	// Drop every data segment for a while: RTO recovers.
	m := 0
	e.linkA.setDrop(func(ip []byte) bool {
		if len(ip) > 100 {
			m++
			return m <= 20
		}
		return false
	})
	transfer(t, e, cli, srv, data)
	if counter(e.a, "TCP.Timeouts") == 0 {
		t.Fatal("no RTO")
	}
}

func TestRandomLoss(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	r := rand.New(rand.NewPCG(5, 6))
	drop := func(ip []byte) bool { return r.IntN(20) == 0 }
	e.linkA.setDrop(drop)
	e.linkB.setDrop(func(ip []byte) bool { return r.IntN(20) == 0 })
	data := make([]byte, 300000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	transfer(t, e, cli, srv, data)
	transfer(t, e, srv, cli, data)
	e.linkA.setDrop(nil)
	e.linkB.setDrop(nil)
	if counter(e.a, "TCP.Retransmits") == 0 || counter(e.b, "TCP.Retransmits") == 0 {
		t.Fatal("no retransmissions under loss")
	}
}

func TestSYNFloodCookies(t *testing.T) {
	e := newEnv(t, true)
	if err := e.a.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.SYNQueueSizeOption(2)); err != nil {
		t.Fatal(err)
	}
	l := listen(t, e.a, addrA, 80, 16)
	// The flood: SYNs that are never completed.
	for i := range 5 {
		p := &peer{e: e, port: uint16(30000 + i), lport: 80, nxt: 1000}
		p.send(segOpts{flags: SYN, opts: synOpts(100)})
	}
	e.pump()
	e.sn.take()
	if n := counter(e.a, "TCP.SYNCookiesSent"); n != 3 {
		t.Fatalf("SYNCookiesSent = %d", n)
	}
	// A real client connects through a cookie.
	c := newTCP(t, e.b)
	if err := c.Connect(tcpip.FullAddress{Addr: addrA, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	e.pump()
	if err := c.Connect(tcpip.FullAddress{Addr: addrA, Port: 80}); err != nil {
		t.Fatalf("Connect = %v", err)
	}
	s := accept(t, l)
	if n := counter(e.a, "TCP.SYNCookiesValid"); n != 1 {
		t.Fatalf("SYNCookiesValid = %d", n)
	}
	in := info(t, s)
	if !in.Timestamps || !in.WindowScale || in.SndWScale != defaultWS || !in.SACKPermitted {
		t.Fatalf("cookie connection info %+v", in)
	}
	data := make([]byte, 300000)
	for i := range data {
		data[i] = byte(i)
	}
	transfer(t, e, c, s, data)
	transfer(t, e, s, c, data)
	e.sn.take()
	// A forged ACK is refused.
	p := &peer{e: e, port: 31000, lport: 80, nxt: 1001, ack: 123456}
	p.send(segOpts{flags: ACK})
	check(t, p.expect(1)[0], RST, 123456, 0)
	if n := counter(e.a, "TCP.SYNCookiesInvalid"); n != 1 {
		t.Fatalf("SYNCookiesInvalid = %d", n)
	}
	// Let the half-open entries time out.
	e.advance(2 * time.Minute)
}

func TestPAWS(t *testing.T) {
	e, p, l := toListen(t)
	p.send(segOpts{flags: SYN, opts: synOpts(1000)})
	sa := p.expect(1)[0]
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK, opts: tsOpt(1001, sa.opts.TSVal)})
	p.expect(0)
	c := accept(t, l)
	p.send(segOpts{flags: ACK, data: []byte("new"), opts: tsOpt(1002, sa.opts.TSVal)})
	p.expect(1)
	// An old timestamp: dropped and acknowledged (RFC 7323 §5.3).
	p.send(segOpts{flags: ACK, data: []byte("old"), opts: tsOpt(500, sa.opts.TSVal)})
	a := p.expect(1)[0]
	check(t, a, ACK, p.ack, p.nxt-3)
	if a.opts.TSEcr != 1002 {
		t.Fatalf("TSEcr %d", a.opts.TSEcr)
	}
	if got := readAll(t, c); string(got) != "new" {
		t.Fatalf("read %q", got)
	}
	if n := counter(e.a, "TCP.PAWSRejected"); n != 1 {
		t.Fatalf("PAWSRejected = %d", n)
	}
}

// The receiver does not read: its window closes, the sender probes, and
// reading reopens the window (RFC 9293 §3.8.6.1, RFC 1122 §4.2.3.3).
func TestZeroWindowThenOpen(t *testing.T) {
	e := newEnv(t, true)
	if err := e.b.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.MSLOption(time.Second)); err != nil {
		t.Fatal(err)
	}
	l := listen(t, e.b, addrB, 80, 1)
	if err := l.SetSockOpt(tcpip.ReceiveBufferSizeOption(16384)); err != nil {
		t.Fatal(err)
	}
	cli := newTCP(t, e.a)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	e.pump()
	srv := accept(t, l)
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i * 13)
	}
	n, err := cli.Write(data, tcpip.WriteOptions{})
	if err != nil || n != len(data) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	e.advance(time.Second)
	var q tcpip.ReceiveQueueSizeOption
	if err := srv.GetSockOpt(&q); err != nil || q != 16384 {
		t.Fatalf("receive queue %d, %v", q, err)
	}
	if in := info(t, cli); in.SndWnd != 0 {
		t.Fatalf("sender sees window %d", in.SndWnd)
	}
	e.advance(10 * time.Second)
	if counter(e.a, "TCP.ZeroWindowProbes") == 0 {
		t.Fatal("no zero-window probe")
	}
	var got []byte
	for range 1000 {
		got = append(got, readAll(t, srv)...)
		if len(got) == len(data) {
			break
		}
		e.advance(10 * time.Millisecond)
	}
	if string(got) != string(data) {
		t.Fatalf("got %d bytes", len(got))
	}
}

// Reordering: some segments arrive after their successor; the receiver's
// out-of-order queue and duplicate ACKs (with limited transmit) keep the
// stream exact.
func TestReordering(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	r := rand.New(rand.NewPCG(7, 8))
	e.linkA.setHold(func(ip []byte) bool { return len(ip) > 100 && r.IntN(5) == 0 })
	data := make([]byte, 500000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	transfer(t, e, cli, srv, data)
	e.linkA.setHold(nil)
	e.pump()
}

// Several losses in one window: with SACK the holes are retransmitted as
// the duplicate ACKs come, each exactly once, without a timeout.
func TestSACKRecovery(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	if err := cli.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	transfer(t, e, cli, srv, make([]byte, 200000)) // open the window
	n := 0
	e.linkA.setDrop(func(ip []byte) bool {
		if len(ip) > 1000 {
			n++
			return n == 5 || n == 8 || n == 11
		}
		return false
	})
	before := counter(e.a, "TCP.Retransmits")
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i * 31)
	}
	transfer(t, e, cli, srv, data)
	if got := counter(e.a, "TCP.SACKRecovery"); got != 1 {
		t.Errorf("SACKRecovery = %d", got)
	}
	if got := counter(e.a, "TCP.Retransmits") - before; got != 3 {
		t.Errorf("%d retransmissions for 3 losses", got)
	}
	if got := counter(e.a, "TCP.Timeouts"); got != 0 {
		t.Errorf("%d timeouts", got)
	}
}

// The stack-wide half-open bound applies across listeners.
func TestMaxHalfOpenAcrossListeners(t *testing.T) {
	e := newEnv(t, false)
	if err := e.a.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.MaxHalfOpenOption(2)); err != nil {
		t.Fatal(err)
	}
	listen(t, e.a, addrA, 80, 8)
	listen(t, e.a, addrA, 81, 8)
	for i, port := range []uint16{80, 81, 80, 81} {
		p := &peer{e: e, port: uint16(42000 + i), lport: port, nxt: 1000}
		p.send(segOpts{flags: SYN, opts: mssOpt(1460)})
		p.expect(1)
	}
	if n := counter(e.a, "TCP.SYNCookiesSent"); n != 2 {
		t.Fatalf("SYNCookiesSent = %d, want 2", n)
	}
	e.advance(2 * time.Minute)
	if n := counter(e.a, "TCP.HalfOpenTimedOut"); n != 2 {
		t.Fatalf("HalfOpenTimedOut = %d", n)
	}
	e.sn.take()
	// The entries freed, new SYNs are queued again.
	p := &peer{e: e, port: 43000, lport: 80, nxt: 1000}
	p.send(segOpts{flags: SYN, opts: mssOpt(1460)})
	p.expect(1)
	if n := counter(e.a, "TCP.SYNCookiesSent"); n != 2 {
		t.Fatalf("SYNCookiesSent = %d, want 2", n)
	}
}
