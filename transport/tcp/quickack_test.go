package tcp_test

import (
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

func quickAckOn(t *testing.T, ep tcpip.Endpoint) bool {
	t.Helper()
	var v tcpip.QuickAckOption
	if err := ep.GetSockOpt(&v); err != nil {
		t.Fatal(err)
	}
	return bool(v)
}

// QuickAckOption is one-shot like Linux's TCP_QUICKACK: true enters
// quick-ACK mode for 64 segments, GetSockOpt tells whether the mode is
// on, and delayed ACKs resume once it ends.
func TestQuickAckOneShot(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	// A new connection starts in quick-ACK mode (16 segments).
	if !quickAckOn(t, ep) {
		t.Fatal("quick-ACK mode off at connection start")
	}
	if err := ep.SetSockOpt(tcpip.QuickAckOption(false)); err != nil {
		t.Fatal(err)
	}
	if quickAckOn(t, ep) {
		t.Fatal("quick-ACK mode on after QuickAckOption(false)")
	}
	// Delayed ACKs: one small segment waits for the 40 ms timer.
	p.send(segOpts{flags: ACK, data: []byte("a")})
	p.expect(0)
	// Enabling the mode acknowledges what is pending at once.
	if err := ep.SetSockOpt(tcpip.QuickAckOption(true)); err != nil {
		t.Fatal(err)
	}
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	if !quickAckOn(t, ep) {
		t.Fatal("quick-ACK mode off after QuickAckOption(true)")
	}
	for i := range 64 {
		if !quickAckOn(t, ep) {
			t.Fatalf("quick-ACK mode ended after %d segments", i)
		}
		p.send(segOpts{flags: ACK, data: []byte("b")})
		check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	}
	if quickAckOn(t, ep) {
		t.Fatal("quick-ACK mode still on after 64 segments")
	}
	// Delayed ACKs again: the first segment waits, the second is
	// acknowledged with it.
	p.send(segOpts{flags: ACK, data: []byte("c")})
	p.expect(0)
	p.send(segOpts{flags: ACK, data: []byte("d")})
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	p.send(segOpts{flags: ACK, data: []byte("e")})
	p.expect(0)
	e.advance(40e6)
	check(t, p.expect(1)[0], ACK, p.ack, p.nxt)
	readAll(t, ep)
}
