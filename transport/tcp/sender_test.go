package tcp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// RFC 896: a small segment waits while data is unacknowledged.
func TestNagle(t *testing.T) {
	_, p, ep := toEstablishedPassive(t)
	write(t, ep, []byte("one"))
	p.expect(1)
	write(t, ep, []byte("two"))
	write(t, ep, []byte("three"))
	p.expect(0)
	p.ack += 3
	p.send(segOpts{flags: ACK})
	d := p.expect(1)[0]
	if string(d.data) != "twothree" {
		t.Fatalf("sent %q", d.data)
	}
	// TCP_NODELAY: sent at once.
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	write(t, ep, []byte("four"))
	if d := p.expect(1)[0]; string(d.data) != "four" {
		t.Fatalf("sent %q", d.data)
	}
}

func TestCork(t *testing.T) {
	_, p, ep := toEstablishedPassive(t)
	if err := ep.SetSockOpt(tcpip.CorkOption(true)); err != nil {
		t.Fatal(err)
	}
	write(t, ep, []byte("a"))
	write(t, ep, []byte("b"))
	p.expect(0)
	if err := ep.SetSockOpt(tcpip.CorkOption(false)); err != nil {
		t.Fatal(err)
	}
	if d := p.expect(1)[0]; string(d.data) != "ab" {
		t.Fatalf("sent %q", d.data)
	}
}

// RFC 1122 §4.2.3.2 / RFC 5681 §4.2: after the quick-ACK phase, a lone
// segment is acknowledged within 40 ms, every second full-size segment at
// once.
func TestDelayedACK(t *testing.T) {
	e, p, _ := toEstablishedPassive(t)
	for range 16 {
		p.send(segOpts{flags: ACK, data: []byte("q")})
		p.expect(1)
	}
	p.send(segOpts{flags: ACK, data: []byte("x")})
	p.expect(0)
	e.advance(39 * time.Millisecond)
	p.expect(0)
	e.advance(time.Millisecond)
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	full := make([]byte, 1460)
	p.send(segOpts{flags: ACK, data: full})
	p.expect(0)
	p.send(segOpts{flags: ACK, data: full})
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	// TCP_QUICKACK.
	_ = tcp.StateClosed
}

func TestListenBacklogOverflow(t *testing.T) {
	e := newEnv(t, false)
	l := listen(t, e.a, addrA, 80, 1)
	p := &peer{e: e, port: 41000, lport: 80, nxt: 1000}
	q := &peer{e: e, port: 41001, lport: 80, nxt: 1000}
	p.send(segOpts{flags: SYN, opts: mssOpt(1460)})
	q.send(segOpts{flags: SYN, opts: mssOpt(1460)})
	sas := p.expect(2)
	p.ack, q.ack = sas[0].f.SeqNum+1, sas[1].f.SeqNum+1
	p.send(segOpts{flags: ACK})
	q.send(segOpts{flags: ACK})
	p.expect(0)
	// The second ACK found the accept queue full: dropped, the
	// half-open entry kept (Linux).
	if n := counter(e.a, "TCP.ListenOverflowACKDrop"); n != 1 {
		t.Fatalf("ListenOverflowACKDrop = %d", n)
	}
	// While the queue is full, SYNs are dropped.
	r := &peer{e: e, port: 41002, lport: 80, nxt: 1000}
	r.send(segOpts{flags: SYN, opts: mssOpt(1460)})
	r.expect(0)
	if n := counter(e.a, "TCP.ListenOverflowSYNDrop"); n != 1 {
		t.Fatalf("ListenOverflowSYNDrop = %d", n)
	}
	accept(t, l)
	// The retransmitted ACK now finds room.
	q.send(segOpts{flags: ACK, seq: sv(1001)})
	q.expect(0)
	accept(t, l)
	if _, _, err := l.Accept(); !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("Accept = %v", err)
	}
}

func TestSecondListenerRefused(t *testing.T) {
	e := newEnv(t, false)
	a := newTCP(t, e.a)
	b := newTCP(t, e.a)
	for _, ep := range []tcpip.Endpoint{a, b} {
		if err := ep.SetSockOpt(tcpip.ReuseAddressOption(true)); err != nil {
			t.Fatal(err)
		}
		if err := ep.Bind(tcpip.FullAddress{Port: 80}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Listen(1); err != nil {
		t.Fatal(err)
	}
	if err := b.Listen(1); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("second Listen = %v", err)
	}
}

func TestReusePortListeners(t *testing.T) {
	e := newEnv(t, false)
	for range 2 {
		ep := newTCP(t, e.a)
		if err := ep.SetSockOpt(tcpip.ReusePortOption(true)); err != nil {
			t.Fatal(err)
		}
		if err := ep.Bind(tcpip.FullAddress{Port: 80}); err != nil {
			t.Fatal(err)
		}
		if err := ep.Listen(4); err != nil {
			t.Fatalf("Listen with SO_REUSEPORT: %v", err)
		}
	}
}

func TestQuickAckAndInfoCounters(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	if err := ep.SetSockOpt(tcpip.QuickAckOption(true)); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		p.send(segOpts{flags: ACK, data: []byte("z")})
		p.expect(1) // every segment acknowledged at once
	}
	write(t, ep, []byte("12345"))
	p.expect(1)
	p.ack += 5
	p.send(segOpts{flags: ACK})
	p.expect(0)
	in := info(t, ep)
	if in.BytesReceived != 20 || in.BytesAcked != 5 || in.Unacked != 0 || in.State != tcp.StateEstablished {
		t.Fatalf("info %+v", in)
	}
	_ = e
}

// An ACK the link refuses for want of room (a full in-memory queue) is
// not lost: it stays due and goes out when the delayed-ACK timer tries
// again a millisecond later, instead of leaving the peer to a tail loss
// probe or a timeout.
func TestRefusedACKSentAgain(t *testing.T) {
	e, p, _ := toEstablishedPassive(t)
	refused := 0
	e.linkA.setRefuse(func(ip []byte) bool {
		if refused > 0 {
			return false
		}
		refused++
		return true
	})
	p.send(segOpts{flags: ACK, data: []byte("q")})
	p.expect(0)
	if refused != 1 {
		t.Fatalf("the link saw %d refusals, want the ACK refused once", refused)
	}
	e.advance(time.Millisecond)
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	e.advance(time.Second)
	p.expect(0)
}
