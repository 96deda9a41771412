package tcp_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// SO_LINGER with a timeout: Close returns at once, the data and FIN keep
// being sent, and the connection is reset when the timeout expires
// before the close completed.
func TestLingerTimeoutAborts(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	if err := ep.SetSockOpt(tcpip.LingerOption{Enabled: true, Timeout: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	write(t, ep, []byte("hello"))
	d := p.expect(1)[0]
	if string(d.data) != "hello" {
		t.Fatalf("data %q", d.data)
	}
	ep.Close() // must not block
	fin := p.expect(1)[0]
	check(t, fin, FIN|ACK, p.ack+5, p.nxt)
	wantState(t, ep, tcp.StateFinWait1)
	// The peer never answers: retransmissions go on until the linger
	// timeout, then an RST.
	e.advance(3*time.Second - time.Millisecond)
	segs := e.sn.take()
	for _, s := range segs {
		if s.has(RST) {
			t.Fatalf("RST before the linger timeout: %v", brief(segs))
		}
	}
	if len(segs) == 0 {
		t.Fatal("no retransmission before the linger timeout")
	}
	e.advance(time.Millisecond)
	segs = e.sn.take()
	if len(segs) != 1 || !segs[0].has(RST) {
		t.Fatalf("at the linger timeout got %v, want one RST", brief(segs))
	}
	wantState(t, ep, tcp.StateClosed)
	if n := counter(e.a, "TCP.AbortOnLinger"); n != 1 {
		t.Fatalf("AbortOnLinger = %d", n)
	}
	e.advance(time.Minute)
	p.expect(0)
}

// A close that completes (TIME-WAIT, or CLOSED through LAST-ACK) before
// the linger timeout is not reset.
func TestLingerTimeoutCompletes(t *testing.T) {
	t.Run("time-wait", func(t *testing.T) {
		e, p, ep := toEstablishedPassive(t)
		if err := ep.SetSockOpt(tcpip.LingerOption{Enabled: true, Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		ep.Close()
		p.expect(1)
		p.ack++
		p.send(segOpts{flags: FIN | ACK})
		p.expect(1)
		wantState(t, ep, tcp.StateTimeWait)
		e.advance(2 * time.Second)
		p.expect(0)
		wantState(t, ep, tcp.StateTimeWait)
		if n := counter(e.a, "TCP.AbortOnLinger"); n != 0 {
			t.Fatalf("AbortOnLinger = %d", n)
		}
		e.advance(2 * tcp.DefaultMSL)
		wantState(t, ep, tcp.StateClosed)
	})
	t.Run("last-ack", func(t *testing.T) {
		e, p, ep := toCloseWait(t)
		if err := ep.SetSockOpt(tcpip.LingerOption{Enabled: true, Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		ep.Close()
		p.expect(1)
		wantState(t, ep, tcp.StateLastAck)
		p.ack++
		p.send(segOpts{flags: ACK})
		p.expect(0)
		wantState(t, ep, tcp.StateClosed)
		e.advance(2 * time.Second)
		p.expect(0)
		if n := counter(e.a, "TCP.AbortOnLinger"); n != 0 {
			t.Fatalf("AbortOnLinger = %d", n)
		}
	})
	t.Run("fin-wait-2 aborted", func(t *testing.T) {
		// FIN-WAIT-2 is not a completed close: the peer may never
		// send its FIN.
		e, p, ep := toEstablishedPassive(t)
		if err := ep.SetSockOpt(tcpip.LingerOption{Enabled: true, Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		ep.Close()
		p.expect(1)
		p.ack++
		p.send(segOpts{flags: ACK})
		p.expect(0)
		wantState(t, ep, tcp.StateFinWait2)
		e.advance(time.Second)
		check(t, p.expect(1)[0], RST|ACK, p.ack, p.nxt)
		wantState(t, ep, tcp.StateClosed)
	})
}
