package tcp_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// frtoFireRTO runs the endpoint's timers until the retransmission timer
// expires: first, with SACK, the tail loss probe (RFC 8985 §7.3) sends a
// new segment. It returns the data segments sent at the timeout and the
// offset from base of the first byte never sent (SND.MAX).
func frtoFireRTO(t *testing.T, e *env, base seqnum.Value, mss int) ([]seg, int) {
	t.Helper()
	high := 0
	for range 4 {
		next, ok := e.clock.NextDeadline()
		if !ok {
			t.Fatal("no timer")
		}
		before := counter(e.a, "TCP.Timeouts")
		e.clock.AdvanceTo(next)
		e.pump()
		var sent []seg
		for _, s := range e.sn.take() {
			if s.src == addrA && len(s.data) > 0 {
				sent = append(sent, s)
				high = max(high, int(base.Size(s.f.SeqNum))+len(s.data))
			}
		}
		if counter(e.a, "TCP.Timeouts") > before {
			return sent, high
		}
	}
	t.Fatal("no timeout")
	return nil, 0
}

// frtoSent pumps and returns the offsets from base of the data
// segments A sent.
func frtoSent(e *env, base seqnum.Value) []int {
	e.pump()
	var out []int
	for _, s := range e.sn.take() {
		if s.src == addrA && len(s.data) > 0 {
			out = append(out, int(base.Size(s.f.SeqNum)))
		}
	}
	return out
}

// offsets are the offsets of segments from base.
func offsets(base seqnum.Value, segs []seg) []int {
	var out []int
	for _, s := range segs {
		out = append(out, int(base.Size(s.f.SeqNum)))
	}
	return out
}

// frtoStart writes 14 segments of mss bytes (10 go out: the initial
// window), lets the retransmission timer expire (after a tail loss probe
// with SACK) and checks that only the first segment is retransmitted
// (RFC 5682 step 1). It returns the first segment's sequence number, the
// ssthresh before the timeout and the offset of the next new byte.
func frtoStart(t *testing.T, e *env, p *peer, ep tcpip.Endpoint, mss int) (seqnum.Value, int, int) {
	t.Helper()
	write(t, ep, make([]byte, 14*mss))
	segs := p.expect(10)
	b := segs[0].f.SeqNum
	ssthresh := info(t, ep).Ssthresh
	rto, next := frtoFireRTO(t, e, b, mss)
	wantSent(t, "RTO", offsets(b, rto), 0)
	if got := counter(e.a, "TCP.Timeouts"); got != 1 {
		t.Fatalf("Timeouts = %d", got)
	}
	return b, ssthresh, next
}

// RFC 5682 §3 (SACK-enhanced F-RTO), a delay spike: the ACK of the
// retransmission makes the sender send two new segments instead of
// retransmitting (step 2b); the next ACK acknowledges segments that were
// never retransmitted (step 3a): the timeout was spurious, nothing more
// is retransmitted, ssthresh comes back (RFC 4015).
func TestFRTOSpuriousSACK(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	b, ssthresh, n := frtoStart(t, e, p, ep, sackMSS)
	wantSent(t, "step 2", ackSACK(t, p, b, 1000), n, n+1000)
	got := ackSACK(t, p, b, 5000)
	if n := counter(e.a, "TCP.SpuriousRTORecovery"); n != 1 {
		t.Fatalf("SpuriousRTORecovery = %d", n)
	}
	for _, off := range got {
		if off < n+2000 {
			t.Fatalf("after the spurious timeout sent %v: retransmissions", got)
		}
	}
	if in := info(t, ep); in.Ssthresh != ssthresh || in.Retransmits != 1 {
		t.Fatalf("ssthresh %d (before the timeout %d), %d retransmissions", in.Ssthresh, ssthresh, in.Retransmits)
	}
	// The rest is acknowledged: no further retransmission, no timeout.
	ackSACK(t, p, b, n+2000)
	ackSACK(t, p, b, 14000)
	e.advance(5 * time.Second)
	if n := counter(e.a, "TCP.Retransmits"); n != 1 {
		t.Fatalf("Retransmits = %d", n)
	}
}

// RFC 5682 §3 step 3b: the segments were lost. After the two new
// segments, the next ACK is a duplicate that SACKs only them: the
// timeout was genuine and go-back-N resumes from SND.UNA in slow start,
// skipping the SACKed segments (RFC 6675 §5.1).
func TestFRTOGenuineSACK(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	b, ssthresh, n := frtoStart(t, e, p, ep, sackMSS)
	wantSent(t, "step 2", ackSACK(t, p, b, 1000), n, n+1000)
	// cwnd: 1 SMSS after the timeout, 2 after the ACK of step 2.
	wantSent(t, "step 3", ackSACK(t, p, b, 1000, n, n+2000), 1000, 2000)
	if n := counter(e.a, "TCP.SpuriousRTORecovery"); n != 0 {
		t.Fatalf("SpuriousRTORecovery = %d", n)
	}
	if in := info(t, ep); in.Ssthresh >= ssthresh || in.Cwnd > 3*sackMSS {
		t.Fatalf("cwnd %d ssthresh %d after a genuine timeout", in.Cwnd, in.Ssthresh)
	}
	wantSent(t, "slow start", ackSACK(t, p, b, 3000, n, n+2000), 3000, 4000, 5000)
}

// RFC 5682 §3 step 2: with SACK, duplicate ACKs before the ACK of the
// retransmission only update the scoreboard; a first ACK that
// acknowledges everything up to the recovery point (step 2a) ends F-RTO
// without a verdict.
func TestFRTOSACKStep2(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	b, _, n := frtoStart(t, e, p, ep, sackMSS)
	wantSent(t, "dup", ackSACK(t, p, b, 0, 5000, 6000))
	wantSent(t, "step 2", ackSACK(t, p, b, 1000, 5000, 6000), n, n+1000)
	// A SACK of original data below the recovery point that was never
	// retransmitted: spurious (step 3a).
	ackSACK(t, p, b, 1000, 5000, 7000)
	if n := counter(e.a, "TCP.SpuriousRTORecovery"); n != 1 {
		t.Fatalf("SpuriousRTORecovery = %d", n)
	}
}

func TestFRTOStep2CoversRecover(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	b, _, n := frtoStart(t, e, p, ep, sackMSS)
	wantSent(t, "step 2a", ackSACK(t, p, b, n), n, n+1000)
	ackSACK(t, p, b, 14000)
	if n := counter(e.a, "TCP.SpuriousRTORecovery"); n != 0 {
		t.Fatalf("SpuriousRTORecovery = %d", n)
	}
}

// frtoBasicMSS is the segment size of the basic F-RTO tests' peer (no SACK,
// no timestamps: toEstablishedPassive's MSS 1460).
const frtoBasicMSS = 1460

// RFC 5682 §2 (basic F-RTO, no SACK), spurious: the second ACK after the
// timeout advances the window.
func TestFRTOSpuriousBasic(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	b, ssthresh, _ := frtoStart(t, e, p, ep, frtoBasicMSS)
	wantSent(t, "step 2", ackSACK(t, p, b, frtoBasicMSS), 10*frtoBasicMSS, 11*frtoBasicMSS)
	got := ackSACK(t, p, b, 4*frtoBasicMSS)
	if n := counter(e.a, "TCP.SpuriousRTORecovery"); n != 1 {
		t.Fatalf("SpuriousRTORecovery = %d", n)
	}
	for _, off := range got {
		if off < 12*frtoBasicMSS {
			t.Fatalf("after the spurious timeout sent %v", got)
		}
	}
	if in := info(t, ep); in.Ssthresh != ssthresh {
		t.Fatalf("ssthresh %d, before the timeout %d", in.Ssthresh, ssthresh)
	}
}

// RFC 5682 §2 step 3a, genuine: a duplicate ACK after the new data: go
// back to SND.UNA.
func TestFRTOGenuineBasic(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	b, _, _ := frtoStart(t, e, p, ep, frtoBasicMSS)
	wantSent(t, "step 2", ackSACK(t, p, b, frtoBasicMSS), 10*frtoBasicMSS, 11*frtoBasicMSS)
	// cwnd 2 SMSS and one segment of limited transmit (RFC 3042): 3
	// SMSS, as RFC 5682 §2 step 3a allows.
	wantSent(t, "step 3", ackSACK(t, p, b, frtoBasicMSS), frtoBasicMSS, 2*frtoBasicMSS, 3*frtoBasicMSS)
	if n := counter(e.a, "TCP.SpuriousRTORecovery"); n != 0 {
		t.Fatalf("SpuriousRTORecovery = %d", n)
	}
}

// RFC 5682 §2 step 2a, basic: a duplicate ACK as the first ACK reverts
// at once: the go-back-N goes on (here the limited transmit of RFC 3042
// that the duplicate allows), and no new data is sent.
func TestFRTOBasicDupFirst(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	b, _, _ := frtoStart(t, e, p, ep, frtoBasicMSS)
	wantSent(t, "dup", ackSACK(t, p, b, 0), frtoBasicMSS)
	wantSent(t, "ACK", ackSACK(t, p, b, frtoBasicMSS), 2*frtoBasicMSS)
	if n := counter(e.a, "TCP.SpuriousRTORecovery"); n != 0 {
		t.Fatalf("SpuriousRTORecovery = %d", n)
	}
}

// eifelMSS is the data of a segment to a peer with timestamps: MSS 1460
// less the 12 bytes of the option.
const eifelMSS = 1448

// eifelEstablished completes a passive open with a peer that offers
// SACK, timestamps and window scaling (as Linux) and turns Nagle off.
func eifelEstablished(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	t.Helper()
	e, p, l := toListenEnv(t, newEnv(t, false))
	p.send(segOpts{flags: SYN, opts: synOpts(100)})
	sa := p.expect(1)[0]
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK, opts: tsOpt(101, sa.opts.TSVal)})
	p.expect(0)
	ep := accept(t, l)
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	return e, p, ep
}

// eifelOpt is the timestamps option followed by SACK blocks (offsets
// from base).
func eifelOpt(val, ecr uint32, base seqnum.Value, offs ...int) []byte {
	ob := header.NewTCPOptionsBuilder(make([]byte, 40))
	ob.AddTimestamps(val, ecr)
	var blocks []header.SACKBlock
	for i := 0; i+1 < len(offs); i += 2 {
		blocks = append(blocks, header.SACKBlock{Start: base.Add(seqnum.Size(offs[i])), End: base.Add(seqnum.Size(offs[i+1]))})
	}
	if len(blocks) > 0 {
		ob.AddSACKBlocks(blocks)
	}
	return append([]byte(nil), ob.Bytes()...)
}

// eifelACK acknowledges base+ack echoing ecr, with SACK blocks, and returns
// the offsets of the data A sent in answer.
func eifelACK(p *peer, base seqnum.Value, ack int, ecr uint32, offs ...int) []int {
	p.send(segOpts{flags: ACK, ack: sv(base.Add(seqnum.Size(ack))), opts: eifelOpt(200, ecr, base, offs...)})
	return frtoSent(p.e, base)
}

// eifelStart writes 14 segments (10 go out) and returns their base, the
// TSval of the originals and the Info before anything was lost.
func eifelStart(t *testing.T, p *peer, ep tcpip.Endpoint) (seqnum.Value, uint32, int) {
	t.Helper()
	write(t, ep, make([]byte, 14*eifelMSS))
	segs := p.expect(10)
	return segs[0].f.SeqNum, segs[0].opts.TSVal, info(t, ep).Ssthresh
}

// RFC 3522 §3.2 after a timeout: the first ACK after the retransmission
// echoes the TSval of the original: the timeout was spurious. Nothing
// more is retransmitted (RFC 4015 §3: SND.NXT = SND.MAX) and ssthresh is
// restored.
func TestEifelSpuriousRTO(t *testing.T) {
	e, p, ep := eifelEstablished(t)
	b, orig, ssthresh := eifelStart(t, p, ep)
	rto, n := frtoFireRTO(t, e, b, eifelMSS)
	wantSent(t, "RTO", offsets(b, rto), 0)
	got := eifelACK(p, b, 3*eifelMSS, orig)
	if n := counter(e.a, "TCP.SpuriousRTORecovery"); n != 1 {
		t.Fatalf("SpuriousRTORecovery = %d", n)
	}
	for _, off := range got {
		if off < n {
			t.Fatalf("after the spurious timeout sent %v: retransmissions", got)
		}
	}
	if in := info(t, ep); in.Ssthresh != ssthresh {
		t.Fatalf("ssthresh %d, before the timeout %d", in.Ssthresh, ssthresh)
	}
}

// RFC 3522 §3.2: the ACK echoes the retransmission's TSval: the original
// was lost; the conventional recovery goes on (go-back-N in slow start).
func TestEifelGenuineRTO(t *testing.T) {
	e, p, ep := eifelEstablished(t)
	b, _, ssthresh := eifelStart(t, p, ep)
	rto, _ := frtoFireRTO(t, e, b, eifelMSS)
	wantSent(t, "RTO", offsets(b, rto), 0)
	rx := rto[0].opts.TSVal
	wantSent(t, "ACK", eifelACK(p, b, eifelMSS, rx), eifelMSS, 2*eifelMSS)
	if n := counter(e.a, "TCP.SpuriousRTORecovery"); n != 0 {
		t.Fatalf("SpuriousRTORecovery = %d", n)
	}
	if in := info(t, ep); in.Ssthresh >= ssthresh {
		t.Fatalf("ssthresh %d restored after a genuine timeout", in.Ssthresh)
	}
}

// RFC 3522 §3.2 on a fast retransmit (reordering): the ACK that ends the
// recovery echoes the original's TSval: the recovery is undone (NewReno
// and CUBIC, RFC 9438 §4.9). Echoing the retransmission's TSval, it is
// not.
func TestEifelSpuriousFastRetransmit(t *testing.T) {
	for _, cc := range []string{"newreno", "cubic"} {
		for _, spurious := range []bool{true, false} {
			name := cc + "/genuine"
			if spurious {
				name = cc + "/spurious"
			}
			t.Run(name, func(t *testing.T) {
				e, p, ep := eifelEstablished(t)
				if err := ep.SetSockOpt(tcpip.CongestionControlOption(cc)); err != nil {
					t.Fatal(err)
				}
				b, orig, _ := eifelStart(t, p, ep)
				before := info(t, ep)
				e.advance(10 * time.Millisecond)
				m := eifelMSS
				eifelACK(p, b, 0, orig, m, 2*m)
				eifelACK(p, b, 0, orig, m, 3*m)
				var rx uint32
				p.send(segOpts{flags: ACK, ack: sv(b), opts: eifelOpt(200, orig, b, m, 4*m)})
				e.pump()
				for _, s := range e.sn.take() {
					if s.src == addrA && len(s.data) > 0 && s.f.SeqNum == b {
						rx = s.opts.TSVal
					}
				}
				if rx == 0 || rx == orig {
					t.Fatalf("fast retransmit TSval %d (original %d)", rx, orig)
				}
				ecr := rx
				if spurious {
					ecr = orig
				}
				// The recovery point: the ten segments and the
				// two of limited transmit (RFC 3042).
				eifelACK(p, b, 12*m, ecr)
				in := info(t, ep)
				n := counter(e.a, "TCP.SpuriousRecovery")
				if spurious && (n != 1 || in.Ssthresh != before.Ssthresh || in.Cwnd < before.Cwnd) {
					t.Fatalf("SpuriousRecovery %d, cwnd %d ssthresh %d; before %d %d", n, in.Cwnd, in.Ssthresh, before.Cwnd, before.Ssthresh)
				}
				if !spurious && (n != 0 || in.Ssthresh >= before.Ssthresh) {
					t.Fatalf("SpuriousRecovery %d, ssthresh %d; before %d", n, in.Ssthresh, before.Ssthresh)
				}
			})
		}
	}
}

// RFC 3708 with CUBIC: a fast retransmit D-SACKed after the recovery
// is undone (RFC 9438 §4.9), as TestDSACKUndoesSpuriousRecovery does for
// NewReno.
func TestDSACKUndoCubic(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	if err := ep.SetSockOpt(tcpip.CongestionControlOption("cubic")); err != nil {
		t.Fatal(err)
	}
	b := sendSegments(t, p, ep, 10)
	wantSent(t, "ACK 2", ackSACK(t, p, b, 2000))
	before := info(t, ep)
	wantSent(t, "SACK 4", ackSACK(t, p, b, 2000, 3000, 4000))
	wantSent(t, "SACK 5", ackSACK(t, p, b, 2000, 3000, 5000))
	wantSent(t, "SACK 6", ackSACK(t, p, b, 2000, 3000, 6000), 2000)
	if in := info(t, ep); in.Ssthresh >= before.Ssthresh {
		t.Fatalf("ssthresh %d in recovery", in.Ssthresh)
	}
	wantSent(t, "full", ackSACK(t, p, b, 10000))
	wantSent(t, "D-SACK", ackSACK(t, p, b, 10000, 2000, 3000))
	if got := counter(e.a, "TCP.SpuriousRecovery"); got != 1 {
		t.Fatalf("SpuriousRecovery = %d", got)
	}
	if in := info(t, ep); in.Cwnd < before.Cwnd || in.Ssthresh != before.Ssthresh {
		t.Fatalf("after undo cwnd %d ssthresh %d, before recovery %d %d", in.Cwnd, in.Ssthresh, before.Cwnd, before.Ssthresh)
	}
}
