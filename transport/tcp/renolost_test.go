package tcp_test

import (
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// toEstablishedNoSACK is toEstablishedSACK without SACK-permitted in the
// peer's SYN: NewReno recovery (RFC 6582), MSS sackMSS, no Nagle.
func toEstablishedNoSACK(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	e, p, l := toListenEnv(t, newEnv(t, false))
	ob := header.NewTCPOptionsBuilder(make([]byte, 40))
	ob.AddMSS(sackMSS)
	p.send(segOpts{flags: SYN, opts: append([]byte(nil), ob.Bytes()...)})
	sa := p.expect(1)[0]
	if sa.opts.SACKPermitted {
		t.Fatal("SYN-ACK offers SACK to a peer that did not")
	}
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK})
	p.expect(0)
	ep := accept(t, l)
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	if err := ep.SetSockOpt(tcpip.CongestionControlOption("newreno")); err != nil {
		t.Fatal(err)
	}
	return e, p, ep
}

// dupAcks sends n duplicate ACKs of base+ack and returns the offsets of
// the data the stack sent in answer to each.
func dupAcks(t *testing.T, p *peer, base seqnum.Value, ack, n int) [][]int {
	t.Helper()
	out := make([][]int, n)
	for i := range out {
		out[i] = ackSACK(t, p, base, ack)
	}
	return out
}

// renoLostRxtAt returns the 1-based index of the duplicate ACKs after
// which the stack resent offset off, or 0.
func renoLostRxtAt(sent [][]int, off int) int {
	for i, s := range sent {
		for _, o := range s {
			if o == off {
				return i + 1
			}
		}
	}
	return 0
}

// Without SACK, a fast retransmission lost again is seen from the
// duplicate ACKs (renolost.go: RFC 5681 §3.2 counts one segment that
// left the network per duplicate ACK; RFC 8985 §2's rule with DupThresh
// as the reordering allowance): ten segments out, the first lost; the
// third duplicate ACK retransmits it (RFC 6582 §3.2 step 2); window
// inflation then sends new data. The nine segments beyond the hole
// account for nine duplicate ACKs; at the DupThresh-th one more
// (the 12th), segments sent after the retransmission reached the peer
// while the retransmission did not: it is sent again, before any
// timeout. Then a partial ACK (RFC 6582 §3.2 step 5) retransmits the
// next hole, and the count starts again from there.
func TestNewRenoLostRetransmission(t *testing.T) {
	_, p, ep := toEstablishedNoSACK(t)
	b := sendSegments(t, p, ep, 10)
	write(t, ep, make([]byte, 30*sackMSS)) // new data for the inflation
	p.expect(0)
	rtos := info(t, ep).RTOs

	sent := dupAcks(t, p, b, 0, 3)
	// RFC 3042: limited transmit at duplicate ACKs 1 and 2.
	wantSent(t, "dupack 1", sent[0], 10000)
	wantSent(t, "dupack 2", sent[1], 11000)
	wantSent(t, "dupack 3", sent[2], 0)
	// Twelve segments out at the fast retransmit, eleven beyond it:
	// resent at duplicate ACK 11+3 = 14, and not before.
	sent = dupAcks(t, p, b, 0, 14-3)
	if got := renoLostRxtAt(sent, 0); got != 14-3 {
		t.Fatalf("first segment resent after duplicate ACK %d, want 14: %v", got+3, sent)
	}
	segs := 12 // sent so far, from b
	for _, s := range sent {
		for _, o := range s {
			if o != 0 {
				segs++
			}
		}
	}
	if segs == 12 {
		t.Fatalf("window inflation sent no new data: %v", sent)
	}

	// The second retransmission arrives with segments 1 and 2: partial
	// ACK of 3000 (segment 3 was lost too). Segment 3 goes out at once
	// (RFC 6582 §3.2 step 5) and the count starts again: the segments
	// beyond it, plus DupThresh.
	pa := ackSACK(t, p, b, 3000)
	if len(pa) == 0 || pa[0] != 3000 {
		t.Fatalf("partial ACK: sent %v, want segment 3 first", pa)
	}
	// The new data the deflated window let go after segment 3 is not
	// among those that can answer for it.
	want := segs - 4 + 3
	sent = dupAcks(t, p, b, 3000, want)
	if got := renoLostRxtAt(sent, 3000); got != want {
		t.Fatalf("segment 3 resent after duplicate ACK %d of the partial ACK, want %d: %v", got, want, sent)
	}
	if got := info(t, ep).RTOs; got != rtos {
		t.Fatalf("%d retransmission timeouts, want none", got-rtos)
	}
}
