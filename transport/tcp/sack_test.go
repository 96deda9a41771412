package tcp_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// sackMSS is the MSS of the SACK tests' peer: segments of 1000 bytes.
const sackMSS = 1000

// toEstablishedSACK completes a handshake in which the peer offers MSS
// 1000 and SACK (no timestamps, no window scale), turns Nagle off and
// returns the accepted endpoint.
func toEstablishedSACK(t *testing.T) (*env, *peer, tcpip.Endpoint) {
	return toEstablishedSACKEnv(t, newEnv(t, false))
}

// toEstablishedSACKEnv is toEstablishedSACK on e.
func toEstablishedSACKEnv(t *testing.T, e *env) (*env, *peer, tcpip.Endpoint) {
	e, p, l := toListenEnv(t, e)
	ob := header.NewTCPOptionsBuilder(make([]byte, 40))
	ob.AddMSS(sackMSS)
	ob.AddSACKPermitted()
	p.send(segOpts{flags: SYN, opts: append([]byte(nil), ob.Bytes()...)})
	sa := p.expect(1)[0]
	if !sa.opts.SACKPermitted {
		t.Fatal("SYN-ACK without SACK-permitted")
	}
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK})
	p.expect(0)
	ep := accept(t, l)
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	// The walkthroughs count NewReno's windows (RFC 5681 §3.1:
	// ssthresh = FlightSize/2), not the default CUBIC's (β = 0.7).
	if err := ep.SetSockOpt(tcpip.CongestionControlOption("newreno")); err != nil {
		t.Fatal(err)
	}
	return e, p, ep
}

// sackOpt encodes SACK blocks given as pairs of offsets from base.
func sackOpt(base seqnum.Value, offs ...int) []byte {
	var blocks []header.SACKBlock
	for i := 0; i+1 < len(offs); i += 2 {
		blocks = append(blocks, header.SACKBlock{Start: base.Add(seqnum.Size(offs[i])), End: base.Add(seqnum.Size(offs[i+1]))})
	}
	ob := header.NewTCPOptionsBuilder(make([]byte, 40))
	ob.AddSACKBlocks(blocks)
	return append([]byte(nil), ob.Bytes()...)
}

// sendSegments writes n segments of sackMSS bytes and returns the
// sequence number of the first.
func sendSegments(t *testing.T, p *peer, ep tcpip.Endpoint, n int) seqnum.Value {
	t.Helper()
	write(t, ep, make([]byte, n*sackMSS))
	segs := p.expect(n)
	for i, s := range segs {
		if len(s.data) != sackMSS || s.f.SeqNum != segs[0].f.SeqNum.Add(seqnum.Size(i*sackMSS)) {
			t.Fatalf("segment %d: %s", i, brief(segs))
		}
	}
	return segs[0].f.SeqNum
}

// ackSACK sends an ACK of base+ack with the SACK blocks offs (offsets
// from base) and returns what the stack sent in answer, as offsets of
// the data segments.
func ackSACK(t *testing.T, p *peer, base seqnum.Value, ack int, offs ...int) []int {
	t.Helper()
	o := segOpts{flags: ACK, ack: sv(base.Add(seqnum.Size(ack)))}
	if len(offs) > 0 {
		o.opts = sackOpt(base, offs...)
	}
	p.send(o)
	p.e.pump()
	var out []int
	for _, s := range p.e.sn.take() {
		if s.src == addrA && len(s.data) > 0 {
			out = append(out, int(base.Size(s.f.SeqNum)))
		}
	}
	return out
}

func wantSent(t *testing.T, step string, got []int, want ...int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: sent %v, want %v", step, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: sent %v, want %v", step, got, want)
		}
	}
}

// RFC 6675 §5: ten segments sent, the 3rd and 5th lost. Recovery starts
// at the third duplicate ACK with the 3rd segment (§5 (4.3)); the pipe
// (§4 SetPipe) lets the 5th go once IsLost() says so (more than
// 2·SMSS SACKed above it); recovery ends at the ACK of RecoveryPoint,
// without a timeout.
func TestSACKRecoveryWalkthrough(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	b := sendSegments(t, p, ep, 10)
	wantSent(t, "ACK 1", ackSACK(t, p, b, 1000))
	wantSent(t, "ACK 2", ackSACK(t, p, b, 2000))
	// Segment 4 arrives: dupack 1.
	wantSent(t, "SACK 4", ackSACK(t, p, b, 2000, 3000, 4000))
	// Segment 6: dupack 2; 3000 bytes SACKed in two ranges above the
	// 3rd: not yet lost.
	wantSent(t, "SACK 6", ackSACK(t, p, b, 2000, 5000, 6000, 3000, 4000))
	// Segment 7: dupack 3, recovery: the 3rd is retransmitted.
	// ssthresh = FlightSize/2 = 4000; pipe = 4000 unSACKed not lost +
	// 1000 retransmitted: nothing more.
	wantSent(t, "SACK 7", ackSACK(t, p, b, 2000, 5000, 7000, 3000, 4000), 2000)
	if in := info(t, ep); in.Ssthresh != 4000 {
		t.Fatalf("ssthresh %d", in.Ssthresh)
	}
	if got := counter(e.a, "TCP.SACKRecovery"); got != 1 {
		t.Fatalf("SACKRecovery = %d", got)
	}
	// Segment 8: 3000 bytes SACKed above the 5th: lost. pipe = 2000 +
	// 1000 < cwnd: it is retransmitted (NextSeg rule 1).
	wantSent(t, "SACK 8", ackSACK(t, p, b, 2000, 5000, 8000, 3000, 4000), 4000)
	// Segments 9 and 10: no hole left to fill, no new data, and the
	// rescue retransmission waits (see TestSACKRescueRetransmission).
	wantSent(t, "SACK 9", ackSACK(t, p, b, 2000, 5000, 9000, 3000, 4000))
	wantSent(t, "SACK 10", ackSACK(t, p, b, 2000, 5000, 10000, 3000, 4000))
	// The retransmitted 3rd arrives: a partial ACK.
	wantSent(t, "partial", ackSACK(t, p, b, 4000, 5000, 10000))
	// The retransmitted 5th: HighACK ≥ RecoveryPoint, recovery over.
	wantSent(t, "full", ackSACK(t, p, b, 10000))
	if got := counter(e.a, "TCP.Retransmits"); got != 2 {
		t.Fatalf("%d retransmissions", got)
	}
	// Out of recovery: new data goes by the window NewReno left
	// (RFC 6582 §3.2 step 3: min(ssthresh, FlightSize + SMSS)).
	in := info(t, ep)
	if in.Cwnd != sackMSS {
		t.Fatalf("cwnd %d after recovery", in.Cwnd)
	}
	if got := counter(e.a, "TCP.Timeouts"); got != 0 {
		t.Fatalf("%d timeouts", got)
	}
	write(t, ep, make([]byte, 2*sackMSS))
	p.expect(1)
}

// RFC 6675 §4 NextSeg rule 4: the 2nd, 9th and 10th of ten segments are
// lost. After the retransmitted 2nd is acknowledged (a partial ACK that
// leaves nothing SACKed), one rescue retransmission of the highest
// unSACKed segment goes; its SACK makes the 9th retransmittable by rule
// 3, and recovery ends without a timeout.
func TestSACKRescueRetransmission(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	b := sendSegments(t, p, ep, 10)
	wantSent(t, "ACK 1", ackSACK(t, p, b, 1000))
	wantSent(t, "SACK 3", ackSACK(t, p, b, 1000, 2000, 3000))
	wantSent(t, "SACK 4", ackSACK(t, p, b, 1000, 2000, 4000))
	wantSent(t, "SACK 5", ackSACK(t, p, b, 1000, 2000, 5000), 1000)
	wantSent(t, "SACK 6", ackSACK(t, p, b, 1000, 2000, 6000))
	wantSent(t, "SACK 7", ackSACK(t, p, b, 1000, 2000, 7000))
	wantSent(t, "SACK 8", ackSACK(t, p, b, 1000, 2000, 8000))
	// The 2nd arrives: ACK 8000; the 9th and 10th are unSACKed.
	wantSent(t, "partial", ackSACK(t, p, b, 8000), 9000)
	// The rescued 10th is SACKed: the 9th goes by rule 3.
	wantSent(t, "SACK 10", ackSACK(t, p, b, 8000, 9000, 10000), 8000)
	// Only one rescue per recovery.
	wantSent(t, "SACK 10 again", ackSACK(t, p, b, 8000, 9000, 10000))
	wantSent(t, "full", ackSACK(t, p, b, 10000))
	if got := counter(e.a, "TCP.Retransmits"); got != 3 {
		t.Fatalf("%d retransmissions", got)
	}
	if got := counter(e.a, "TCP.Timeouts"); got != 0 {
		t.Fatalf("%d timeouts", got)
	}
}

// RFC 6675 §5.1: after a timeout the retransmissions start at SND.UNA
// and skip what the receiver SACKed.
func TestSACKRTOSkipsSACKed(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	b := sendSegments(t, p, ep, 10)
	// The 2nd and 3rd arrive, nothing else: two duplicate ACKs.
	wantSent(t, "SACK 2", ackSACK(t, p, b, 0, 1000, 2000))
	wantSent(t, "SACK 3", ackSACK(t, p, b, 0, 1000, 3000))
	// RACK's reordering timer (RFC 8985 §6.3) finds the 1st lost a
	// round trip later and starts recovery with it; that
	// retransmission is lost as well, and no ACK comes. 2·SRTT after
	// it (the handshake's short RTT) the probe of the stalled recovery
	// (tlp.go) sends the last segment again; it is lost too.
	e.advance(5 * time.Millisecond)
	segs := p.expect(2)
	check(t, segs[0], ACK, b, p.nxt)
	check(t, segs[1], ACK, b.Add(9000), p.nxt)
	if got := counter(e.a, "TCP.RACKRecovery"); got != 1 {
		t.Fatalf("RACKRecovery = %d", got)
	}
	if got := counter(e.a, "TCP.TLPProbes"); got != 1 {
		t.Fatalf("TLPProbes = %d", got)
	}
	e.advance(time.Duration(info(t, ep).RTO))
	segs = p.expect(1)
	check(t, segs[0], ACK|PSH, b, p.nxt)
	if got := counter(e.a, "TCP.Timeouts"); got != 1 {
		t.Fatalf("%d timeouts", got)
	}
	// The 1st is acknowledged: slow start sends two, skipping the
	// SACKed 2nd and 3rd.
	wantSent(t, "ACK 1", ackSACK(t, p, b, 1000, 1000, 3000), 3000, 4000)
	wantSent(t, "ACK 5", ackSACK(t, p, b, 5000), 5000, 6000, 7000)
}

// RFC 2883 §4: a duplicate segment is reported in the first SACK block
// of the ACK it draws, below the cumulative ACK or, when the duplicate
// lies in the out-of-order queue, followed by the block that holds it.
func TestDSACKReported(t *testing.T) {
	_, p, _ := toEstablishedSACK(t)
	start := p.nxt
	data := make([]byte, 100)
	p.send(segOpts{flags: ACK | PSH, data: data})
	p.expect(1)
	// The same segment again.
	p.send(segOpts{flags: ACK | PSH, seq: sv(start), data: data})
	a := p.expect(1)[0]
	check(t, a, ACK, p.ack, start+100)
	if a.opts.NumSACKBlocks != 1 || a.opts.SACKBlocks[0] != (header.SACKBlock{Start: start, End: start + 100}) {
		t.Fatalf("SACK %+v", a.opts.SACK())
	}
	// A segment beyond a hole, then it again.
	p.send(segOpts{flags: ACK | PSH, seq: sv(start + 200), data: data})
	a = p.expect(1)[0]
	if a.opts.NumSACKBlocks != 1 || a.opts.SACKBlocks[0] != (header.SACKBlock{Start: start + 200, End: start + 300}) {
		t.Fatalf("SACK %+v", a.opts.SACK())
	}
	p.send(segOpts{flags: ACK | PSH, seq: sv(start + 200), data: data})
	a = p.expect(1)[0]
	want := []header.SACKBlock{{Start: start + 200, End: start + 300}, {Start: start + 200, End: start + 300}}
	if a.opts.NumSACKBlocks != 2 || a.opts.SACKBlocks[0] != want[0] || a.opts.SACKBlocks[1] != want[1] {
		t.Fatalf("SACK %+v, want %+v", a.opts.SACK(), want)
	}
	// The D-SACK is reported once.
	p.send(segOpts{flags: ACK | PSH, seq: sv(start + 400), data: data})
	a = p.expect(1)[0]
	if a.opts.NumSACKBlocks != 2 || a.opts.SACKBlocks[0].Start != start+400 {
		t.Fatalf("SACK %+v", a.opts.SACK())
	}
	// A segment half old: its old part is the D-SACK.
	p.send(segOpts{flags: ACK | PSH, seq: sv(start + 50), data: data})
	a = p.expect(1)[0]
	check(t, a, ACK, p.ack, start+150)
	if a.opts.NumSACKBlocks == 0 || a.opts.SACKBlocks[0] != (header.SACKBlock{Start: start + 50, End: start + 100}) {
		t.Fatalf("SACK %+v", a.opts.SACK())
	}
}

// RFC 2883 §4 on the sender, RFC 3708 and RFC 4015: the 3rd segment is
// only delayed; its fast retransmission is D-SACKed after recovery, so
// the recovery was spurious and the window is restored.
func TestDSACKUndoesSpuriousRecovery(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	b := sendSegments(t, p, ep, 10)
	wantSent(t, "ACK 2", ackSACK(t, p, b, 2000))
	before := info(t, ep)
	wantSent(t, "SACK 4", ackSACK(t, p, b, 2000, 3000, 4000))
	wantSent(t, "SACK 5", ackSACK(t, p, b, 2000, 3000, 5000))
	wantSent(t, "SACK 6", ackSACK(t, p, b, 2000, 3000, 6000), 2000)
	if in := info(t, ep); in.Ssthresh >= before.Ssthresh {
		t.Fatalf("ssthresh %d in recovery", in.Ssthresh)
	}
	wantSent(t, "SACK 10", ackSACK(t, p, b, 2000, 3000, 10000))
	// The original 3rd arrives: recovery ends.
	wantSent(t, "full", ackSACK(t, p, b, 10000))
	if got := counter(e.a, "TCP.SpuriousRecovery"); got != 0 {
		t.Fatalf("SpuriousRecovery = %d before the D-SACK", got)
	}
	// The retransmission arrives: D-SACK below the cumulative ACK.
	wantSent(t, "D-SACK", ackSACK(t, p, b, 10000, 2000, 3000))
	if got := counter(e.a, "TCP.DSACKReceived"); got != 1 {
		t.Fatalf("DSACKReceived = %d", got)
	}
	if got := counter(e.a, "TCP.SpuriousRecovery"); got != 1 {
		t.Fatalf("SpuriousRecovery = %d", got)
	}
	if in := info(t, ep); in.Cwnd < before.Cwnd || in.Ssthresh != before.Ssthresh {
		t.Fatalf("after undo cwnd %d ssthresh %d, before recovery %d %d", in.Cwnd, in.Ssthresh, before.Cwnd, before.Ssthresh)
	}
	// A second D-SACK of the same range changes nothing.
	wantSent(t, "D-SACK again", ackSACK(t, p, b, 10000, 2000, 3000))
	if got := counter(e.a, "TCP.SpuriousRecovery"); got != 1 {
		t.Fatalf("SpuriousRecovery = %d", got)
	}
}

// A D-SACK for a segment that was lost and retransmitted is counted but
// does not undo: one of the episode's retransmissions repaired a loss.
func TestDSACKNoUndoForRealLoss(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	b := sendSegments(t, p, ep, 10)
	wantSent(t, "SACK 2", ackSACK(t, p, b, 0, 1000, 2000))
	wantSent(t, "SACK 3", ackSACK(t, p, b, 0, 1000, 3000))
	wantSent(t, "SACK 4", ackSACK(t, p, b, 0, 1000, 4000), 0)
	wantSent(t, "full", ackSACK(t, p, b, 10000))
	// A D-SACK inside the second block (RFC 2883 §4's other case), for
	// data never retransmitted.
	wantSent(t, "D-SACK", ackSACK(t, p, b, 10000, 5000, 6000))
	if got := counter(e.a, "TCP.DSACKReceived"); got != 1 {
		t.Fatalf("DSACKReceived = %d", got)
	}
	if got := counter(e.a, "TCP.SpuriousRecovery"); got != 0 {
		t.Fatalf("SpuriousRecovery = %d", got)
	}
	_ = tcp.StateClosed
}

// RFC 7323 §5.3 with Linux's disordered-ACK exemption: a pure duplicate
// ACK whose timestamp is older than TS.Recent passes PAWS; a segment
// with data and the same old timestamp does not.
func TestPAWSDisorderedACK(t *testing.T) {
	e, p, l := toListenEnv(t, newEnv(t, false))
	p.send(segOpts{flags: SYN, opts: synOpts(100)})
	sa := p.expect(1)[0]
	p.ack = sa.f.SeqNum + 1
	tsEcr := sa.opts.TSVal
	p.send(segOpts{flags: ACK, opts: tsOpt(200, tsEcr)})
	p.expect(0)
	ep := accept(t, l)
	write(t, ep, []byte("hello"))
	p.expect(1)
	// An ACK newer than TS.Recent, then a reordered older duplicate.
	p.send(segOpts{flags: ACK, opts: tsOpt(300, tsEcr)})
	p.expect(0)
	p.send(segOpts{flags: ACK, opts: tsOpt(250, tsEcr)})
	p.expect(0)
	if got := counter(e.a, "TCP.PAWSRejected"); got != 0 {
		t.Fatalf("PAWSRejected = %d for a disordered pure ACK", got)
	}
	// Data with the old timestamp is still rejected, and answered.
	p.send(segOpts{flags: ACK | PSH, opts: tsOpt(250, tsEcr), data: []byte("x")})
	p.expect(1)
	if got := counter(e.a, "TCP.PAWSRejected"); got != 1 {
		t.Fatalf("PAWSRejected = %d", got)
	}
	// So is a pure ACK that acknowledges new data (not a duplicate).
	p.ack += 5
	p.send(segOpts{flags: ACK, opts: tsOpt(250, tsEcr)})
	p.expect(1)
	if got := counter(e.a, "TCP.PAWSRejected"); got != 2 {
		t.Fatalf("PAWSRejected = %d", got)
	}
}
