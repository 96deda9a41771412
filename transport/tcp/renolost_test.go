package tcp_test

import (
	"testing"
	"time"

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
// left the network per duplicate ACK; RFC 8985 §2's rule, with no
// reordering allowance in recovery while no reordering was seen, §6.2
// step 4): ten segments out, the first and the fourth lost; the third
// duplicate ACK retransmits the first (RFC 6582 §3.2 step 2), and that
// retransmission is lost too; window inflation sends new data. The
// eleven segments beyond the hole can account for eleven duplicate ACKs
// (the lost fourth one for none, which the sender cannot know); the
// 12th shows a segment sent after the retransmission delivered: the
// first segment goes again, before any timeout. The second
// retransmission arrives: a partial ACK (RFC 6582 §3.2 step 5) sends
// the fourth segment, and its count starts from what the receiver
// holds beyond it (renoHeld): only the segments not yet arrived can
// still answer for it.
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
	// Twelve segments out at the fast retransmit, eleven beyond it,
	// three of which reported: resent at duplicate ACK 3 + (11 − 3) + 1
	// = 12, and not before.
	sent = dupAcks(t, p, b, 0, 12-3)
	if got := renoLostRxtAt(sent, 0); got != 12-3 {
		t.Fatalf("first segment resent after duplicate ACK %d, want 12: %v", got+3, sent)
	}
	segs := 12 // sent so far, from b
	for _, s := range sent {
		for _, o := range s {
			if o != 0 {
				segs++
			}
		}
	}
	if segs < 14 {
		t.Fatalf("window inflation sent %d segments of new data, want at least 2: %v", segs-12, sent)
	}

	// The second retransmission arrives after segments 1 and 2 (and
	// 4 to 13, the senders of duplicate ACKs 3 to 12): partial ACK of
	// 3000. Segment 3 goes out at once (RFC 6582 §3.2 step 5).
	pa := ackSACK(t, p, b, 3000)
	if len(pa) == 0 || pa[0] != 3000 {
		t.Fatalf("partial ACK: sent %v, want segment 3 first", pa)
	}
	// Beyond segment 3 the receiver holds the ten segments 4 to 13;
	// segments 14 to segs−1 may still report themselves, and one more
	// duplicate ACK shows segment 3 lost again. (New data the deflated
	// window let go after segment 3 is not among those that can answer
	// for it.)
	want := segs - 14 + 1
	sent = dupAcks(t, p, b, 3000, want)
	if got := renoLostRxtAt(sent, 3000); got != want {
		t.Fatalf("segment 3 resent after duplicate ACK %d of the partial ACK, want %d: %v", got, want, sent)
	}
	if got := info(t, ep).RTOs; got != rtos {
		t.Fatalf("%d retransmission timeouts, want none", got-rtos)
	}
}

// Once the connection has seen reordering (RFC 8985 §6.2 step 2: a
// segment reported missing by duplicate ACKs arrived without having been
// retransmitted), the allowance for a lost retransmission is DupThresh
// again (renolost.go): the fast retransmission of a segment is resent
// at three duplicate ACKs beyond those the segments outstanding can
// produce, not one.
func TestNewRenoLostRetransmissionReordering(t *testing.T) {
	_, p, ep := toEstablishedNoSACK(t)
	b := sendSegments(t, p, ep, 10)
	write(t, ep, make([]byte, 30*sackMSS))
	p.expect(0)
	total := 10 // segments sent from b
	count := func(sent ...[]int) {
		for _, s := range sent {
			total += len(s)
		}
	}
	// Segment 0 is late: segments 1 and 2 draw two duplicate ACKs,
	// then it arrives and the ACK covers the three.
	count(dupAcks(t, p, b, 0, 2)...)
	count(ackSACK(t, p, b, 3000))
	// Segment 3 is lost, and so is its fast retransmission.
	sent := dupAcks(t, p, b, 3000, 3)
	if len(sent[2]) == 0 || sent[2][0] != 3000 {
		t.Fatalf("dupack 3: sent %v, want segment 3 first", sent[2])
	}
	count(sent[0], sent[1])
	// total segments out at the fast retransmit, beyond = total − 4 of
	// them after segment 3, three reported: resent at 3 + (beyond − 3)
	// + DupThresh = beyond + 3.
	beyond := total - 4
	sent = dupAcks(t, p, b, 3000, beyond)
	if got := renoLostRxtAt(sent, 3000); got != beyond {
		t.Fatalf("segment 3 resent after duplicate ACK %d, want %d: %v", got+3, beyond+3, sent)
	}
}

// Without SACK, the segments the receiver holds beyond a hole that the
// cumulative ACK reaches were reported by the duplicate ACKs of the
// hole before it (renolost.go, renoHeld): RFC 6675 §5 step (2) starts
// loss recovery once DupThresh segments are held above SND.UNA, and the
// estimate stands in for the scoreboard. Ten segments out; segment 0
// and its fast retransmission are lost, and so is segment 12, new data
// sent during the recovery. Segments 13 to 16 arrive and report
// themselves as duplicate ACKs of segment 0 (the first of them resends
// it); when the second retransmission arrives the ACK covers the
// recovery point (RFC 6582 §3.2 step 3: recovery ends), and the four
// segments held beyond segment 12 show it lost: it is retransmitted at
// once, not after a timeout (no more duplicate ACKs would come: the
// segments that could send them have arrived).
func TestNewRenoHeldSegmentsAfterRecovery(t *testing.T) {
	e, p, ep := toEstablishedNoSACK(t)
	b := sendSegments(t, p, ep, 10)
	write(t, ep, make([]byte, 30*sackMSS))
	p.expect(0)
	fr := counter(e.a, "TCP.FastRetransmits")
	var sent [][]int
	// Segments 1 to 11 arrive (10 and 11 sent by limited transmit),
	// then 13 to 16: segment 12 is lost.
	for i := 1; i <= 16; i++ {
		if i == 12 {
			continue
		}
		sent = append(sent, ackSACK(t, p, b, 0))
		// Segment i+1 was sent before the ACK it would answer
		// arrives: the stack must have sent it by now.
		if i < 16 && highest(sent) < (i+1)*sackMSS && i+1 != 12 {
			t.Fatalf("after duplicate ACK %d: segment %d not sent yet: %v", len(sent), i+1, sent)
		}
	}
	// Segment 13, sent after the fast retransmission, is the first to
	// show it lost (TestNewRenoLostRetransmission).
	if got := 3 + renoLostRxtAt(sent[3:], 0); got != 12 {
		t.Fatalf("the fast retransmission resent after duplicate ACK %d, want 12: %v", got, sent)
	}
	// The resent segment 0 arrives: ACK of 12000, the recovery point.
	full := ackSACK(t, p, b, 12000)
	if len(full) == 0 || full[0] != 12000 {
		t.Fatalf("ACK of the recovery point: sent %v, want segment 12 first", full)
	}
	if got := counter(e.a, "TCP.FastRetransmits") - fr; got != 2 {
		t.Fatalf("%d fast retransmits, want 2", got)
	}
	if got := info(t, ep).RTOs; got != 0 {
		t.Fatalf("%d retransmission timeouts, want none", got)
	}
}

// highest returns the highest offset in sent, -1 if none.
func highest(sent [][]int) int {
	h := -1
	for _, s := range sent {
		for _, o := range s {
			h = max(h, o)
		}
	}
	return h
}

// goBackToRecoveryPoint runs the timeout of TestNewRenoGoBackDuplicates
// up to the ACK of the go-back-N's last byte (12000): segments 0 and 2
// lost, every ACK of the others too; F-RTO (RFC 5682) sends 10 and 11
// after the ACK of the retransmitted 0, their duplicate ACKs make it go
// back to 2 (go-back-N: 2 to 5), and segment 2 fills the hole. Segments
// 12 to 14 are out.
func goBackToRecoveryPoint(t *testing.T) (*env, *peer, tcpip.Endpoint, seqnum.Value) {
	t.Helper()
	e, p, ep := toEstablishedNoSACK(t)
	b := sendSegments(t, p, ep, 10)
	write(t, ep, make([]byte, 30*sackMSS))
	p.expect(0)
	next, ok := e.clock.NextDeadline()
	if !ok {
		t.Fatal("no timer armed")
	}
	e.clock.AdvanceTo(next)
	if got := p.expect(1); got[0].f.SeqNum != b {
		t.Fatalf("at the timeout: %s", brief(got))
	}
	step := func(name string, ack int, want ...int) {
		t.Helper()
		wantSent(t, name, ackSACK(t, p, b, ack), want...)
	}
	step("ACK of the retransmission", 2000, 10000, 11000) // RFC 5682 §2 step 2b
	step("10 arrives", 2000, 2000, 3000, 4000)            // step 3a: go-back-N
	step("11 arrives", 2000, 5000)
	step("2 arrives", 12000, 12000, 13000, 14000)
	return e, p, ep, b
}

// The retransmissions after a timeout resend segments the receiver may
// hold already, and each such duplicate draws a duplicate ACK (RFC 6582
// §4.2). Those are not segments held beyond a hole, nor signs of
// reordering (renolost.go, renoGoBackLocked): ten segments out, 0 and 2
// lost, every ACK of the others lost too: the timer fires. F-RTO (RFC
// 5682) sends 10 and 11 after the ACK of the retransmitted 0; their
// duplicate ACKs make it go back to 2 (go-back-N: 2 to 5). Segment 2
// fills the hole (ACK of 12000), and the duplicates of 3 and 4 arrive
// after it: two duplicate ACKs. Segment 12 arrives next (ACK 13000);
// then 13 is lost: the fast retransmit comes at the third duplicate ACK,
// not the first (the two duplicates counted as held segments), and that
// retransmission, lost too, is resent at the first duplicate ACK beyond
// what the segments outstanding can produce (the duplicates did not
// count as reordering).
func TestNewRenoGoBackDuplicates(t *testing.T) {
	_, p, _, b := goBackToRecoveryPoint(t)
	step := func(name string, ack int, want ...int) {
		t.Helper()
		wantSent(t, name, ackSACK(t, p, b, ack), want...)
	}
	step("duplicate 3", 12000, 15000) // RFC 3042
	step("duplicate 4", 12000, 16000)
	step("12 arrives", 13000)
	total := 17 // segments 0 to 16 sent
	sent := dupAcks(t, p, b, 13000, 3)
	wantSent(t, "14 arrives", sent[0], 17000)
	wantSent(t, "15 arrives", sent[1], 18000)
	if len(sent[2]) == 0 || sent[2][0] != 13000 {
		t.Fatalf("16 arrives: sent %v, want the fast retransmit of 13 first", sent[2])
	}
	total += 2
	// Segments 14 to 18 beyond 13, three of which reported: the
	// retransmission is lost at duplicate ACK 3 + (5 − 3) + 1 = 6.
	beyond := total - 14
	sent = dupAcks(t, p, b, 13000, beyond+1-3)
	if got := renoLostRxtAt(sent, 13000); got != beyond+1-3 {
		t.Fatalf("13 resent after duplicate ACK %d, want %d: %v", got+3, beyond+1, sent)
	}
}

// rttSample gives the connection of toEstablishedNoSACK a minimum RTT of
// 10 ms: ten segments out, their ACK 10 ms later. It returns the base
// sequence number and the segments the ACK sent (offsets from base).
func rttSample(t *testing.T, e *env, p *peer, ep tcpip.Endpoint) (seqnum.Value, []int) {
	t.Helper()
	b := sendSegments(t, p, ep, 10)
	write(t, ep, make([]byte, 60*sackMSS))
	p.expect(0)
	e.clock.Advance(10 * time.Millisecond)
	return b, ackSACK(t, p, b, 10000)
}

// A retransmission of the head that an ACK shows unneeded (RFC 8985 §6.2
// step 2: the ACK came sooner than the minimum RTT after it, so it was
// for the original) will draw a duplicate ACK when it arrives, which
// reports no segment held and no segment sent after the retransmission
// delivered (renolost.go, renoState.bogus). Segment 10 is lost, fast
// retransmitted and repaired (partial ACK of 14000, 10 ms later); the
// partial ACK retransmits segment 14 (RFC 6582 §3.2 step 5), which was
// only in flight: its ACK comes 1 ms later, and segment 15 goes in turn.
// Segment 15 was lost too, and so is its retransmission. Beyond it, the
// seven segments 16 to 22 can draw seven duplicate ACKs, and the
// duplicate of 14 one more: the retransmission of 15 is resent at the
// ninth, not the eighth.
func TestNewRenoUnneededRetransmission(t *testing.T) {
	e, p, ep := toEstablishedNoSACK(t)
	b, first := rttSample(t, e, p, ep)
	if len(first) != 11 || first[10] != 20000 {
		t.Fatalf("ACK of the first flight: sent %v, want segments 10 to 20", first)
	}
	sent := dupAcks(t, p, b, 10000, 3)
	wantSent(t, "dupack 1", sent[0], 21000)
	wantSent(t, "dupack 2", sent[1], 22000)
	wantSent(t, "dupack 3", sent[2], 10000)
	e.clock.Advance(10 * time.Millisecond)
	wantSent(t, "partial ACK", ackSACK(t, p, b, 14000), 14000)
	e.clock.Advance(time.Millisecond)
	wantSent(t, "ACK of the original 14", ackSACK(t, p, b, 15000), 15000)
	// Segments 16 to 22 outstanding beyond 15: 7 + the duplicate + 1.
	const want = 7 + 1 + 1
	sent = dupAcks(t, p, b, 15000, want)
	if got := renoLostRxtAt(sent, 15000); got != want {
		t.Fatalf("segment 15 resent after duplicate ACK %d, want %d: %v", got, want, sent)
	}
}

// A fast retransmission found unneeded (its ACK came sooner than the
// minimum RTT after it) shows the original delivered after DupThresh
// segments sent later: reordering by DupThresh segments (renolost.go,
// renoState.reoDeg), which NewReno's fast retransmits turn into
// duplicates that no duplicate ACK count can tell from segments held.
// From then on the estimate of the segments held is not used, and the
// allowance for a lost retransmission is DupThresh (RFC 8985 §6.2 step
// 4): segment 10 arrives 1 ms after its fast retransmission, after the
// rest of the flight; then the first segment sent after the recovery
// point is lost, and so is its fast retransmission, which is resent at
// three duplicate ACKs beyond those the segments outstanding can draw.
func TestNewRenoUnneededFastRetransmit(t *testing.T) {
	e, p, ep := toEstablishedNoSACK(t)
	b, first := rttSample(t, e, p, ep)
	total := 10 + len(first) // segments sent from b
	count := func(sent ...[]int) {
		for _, s := range sent {
			total += len(s)
		}
	}
	// Segments 11 to 22 (21 and 22 by limited transmit) arrive before
	// 10: twelve duplicate ACKs, the third one a fast retransmit.
	sent := dupAcks(t, p, b, 10000, 12)
	if len(sent[2]) == 0 || sent[2][0] != 10000 {
		t.Fatalf("dupack 3: sent %v, want the fast retransmit of 10", sent[2])
	}
	sent[2] = sent[2][1:]
	count(sent...)
	recover := 23 // segments 0 to 22 were out at the fast retransmit
	e.clock.Advance(time.Millisecond)
	count(ackSACK(t, p, b, recover*sackMSS))
	if total < recover+4 {
		t.Fatalf("%d segments sent, want at least 4 beyond the recovery point", total)
	}
	// Segment 23 is lost; 24 to 26 arrive, the third duplicate ACK
	// retransmits it.
	sent = dupAcks(t, p, b, recover*sackMSS, 3)
	if len(sent[2]) == 0 || sent[2][0] != recover*sackMSS {
		t.Fatalf("dupack 3 of segment %d: sent %v, want its fast retransmit", recover, sent[2])
	}
	// (What the third duplicate ACK let go after the retransmission
	// cannot answer for it.)
	count(sent[0], sent[1])
	// beyond = total − 24 segments after 23, three reported: resent
	// at 3 + (beyond − 3) + DupThresh = beyond + 3.
	beyond := total - recover - 1
	sent = dupAcks(t, p, b, recover*sackMSS, beyond)
	if got := renoLostRxtAt(sent, recover*sackMSS); got != beyond {
		t.Fatalf("segment %d resent after duplicate ACK %d, want %d: %v", recover, got+3, beyond+3, sent)
	}
}

// The duplicate ACKs a timeout's retransmissions can draw come within
// their round trip: srtt + 4·rttvar after the last of them (RFC 6298
// §2.3's RTO without its minimum) the duplicate ACKs report segments
// held again (renolost.go, renoGoBackLocked), without an ACK of data
// sent after them. After the go-back-N of TestNewRenoGoBackDuplicates,
// 10 ms on (no ACK: 12 is late), 13 arrives: a duplicate ACK, then 12:
// the ACK of 14000 shows reordering, and the allowance for a lost
// retransmission is DupThresh from then on (RFC 8985 §6.2 step 4): 14
// is lost, and so is its fast retransmission, resent three duplicate
// ACKs beyond those the segments outstanding can draw.
func TestNewRenoGoBackEndsByTime(t *testing.T) {
	e, p, ep, b := goBackToRecoveryPoint(t)
	in := info(t, ep)
	wait := in.RTT + 4*in.RTTVar + time.Millisecond
	if wait > 100*time.Millisecond || in.RTO <= wait {
		t.Fatalf("RTT %v, RTTVar %v, RTO %v: the wait would not be below the RTO", in.RTT, in.RTTVar, in.RTO)
	}
	e.advance(wait)
	p.expect(0)
	wantSent(t, "13 arrives", ackSACK(t, p, b, 12000), 15000) // RFC 3042
	// 12 arrives; segments 0 to 15 were sent.
	total := 16 + len(ackSACK(t, p, b, 14000))
	sent := dupAcks(t, p, b, 14000, 3)
	if len(sent[2]) == 0 || sent[2][0] != 14000 {
		t.Fatalf("dupack 3 of 14: sent %v, want its fast retransmit", sent)
	}
	total += len(sent[0]) + len(sent[1])
	// beyond = total − 15 segments after 14, three reported: resent at
	// 3 + (beyond − 3) + DupThresh = beyond + 3.
	beyond := total - 15
	sent = dupAcks(t, p, b, 14000, beyond)
	if got := renoLostRxtAt(sent, 14000); got != beyond {
		t.Fatalf("14 resent after duplicate ACK %d, want %d: %v", got+3, beyond+3, sent)
	}
}
