package tcp_test

import (
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// toEstablishedSACKTS is toEstablishedSACK with RFC 7323 timestamps
// negotiated too (the peer's TSval starts at 100); it returns the
// stack's SYN-ACK TSval, for the peer's TSecr.
func toEstablishedSACKTS(t *testing.T) (*env, *peer, tcpip.Endpoint, uint32) {
	e, p, l := toListenEnv(t, newEnv(t, false))
	ob := header.NewTCPOptionsBuilder(make([]byte, 40))
	ob.AddMSS(sackMSS)
	ob.AddSACKPermitted()
	ob.AddTimestamps(100, 0)
	p.send(segOpts{flags: SYN, opts: append([]byte(nil), ob.Bytes()...)})
	sa := p.expect(1)[0]
	if !sa.opts.SACKPermitted || !sa.opts.HasTimestamps {
		t.Fatalf("SYN-ACK options %+v", sa.opts)
	}
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK, opts: tsOpt(101, sa.opts.TSVal)})
	p.expect(0)
	ep := accept(t, l)
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	if err := ep.SetSockOpt(tcpip.CongestionControlOption("newreno")); err != nil {
		t.Fatal(err)
	}
	return e, p, ep, sa.opts.TSVal
}

// tsSACKOpt encodes the timestamps option and SACK blocks given as pairs
// of offsets from base.
func tsSACKOpt(tsVal, tsEcr uint32, base seqnum.Value, offs ...int) []byte {
	ob := header.NewTCPOptionsBuilder(make([]byte, 40))
	ob.AddTimestamps(tsVal, tsEcr)
	var blocks []header.SACKBlock
	for i := 0; i+1 < len(offs); i += 2 {
		blocks = append(blocks, header.SACKBlock{Start: base.Add(seqnum.Size(offs[i])), End: base.Add(seqnum.Size(offs[i+1]))})
	}
	if len(blocks) > 0 {
		ob.AddSACKBlocks(blocks)
	}
	return append([]byte(nil), ob.Bytes()...)
}

// RFC 2883 §4 with RFC 7323 §5.3: a retransmission whose original came
// first (late, reordered) carries an older TSval than the segments that
// followed the original; PAWS drops it, and the ACK it draws must still
// report it in a D-SACK block, or the sender cannot find its recovery
// spurious (RFC 3708). Before the fix the ACK carried no SACK option.
func TestDSACKForPAWSRejectedDuplicate(t *testing.T) {
	e, p, _, ecr := toEstablishedSACKTS(t)
	start := p.nxt
	data := make([]byte, 100)
	// The original, then newer data that moves TS.Recent on.
	p.send(segOpts{flags: ACK | PSH, data: data, opts: tsOpt(200, ecr)})
	p.expect(1)
	p.send(segOpts{flags: ACK | PSH, data: data, opts: tsOpt(300, ecr)})
	p.expect(1)
	// The retransmission of the first, sent before the second.
	p.send(segOpts{flags: ACK | PSH, seq: sv(start), data: data, opts: tsOpt(250, ecr)})
	a := p.expect(1)[0]
	if got := counter(e.a, "TCP.PAWSRejected"); got != 1 {
		t.Fatalf("PAWSRejected = %d, want 1", got)
	}
	check(t, a, ACK, p.ack, start+200)
	if a.opts.NumSACKBlocks != 1 || a.opts.SACKBlocks[0] != (header.SACKBlock{Start: start, End: start + 100}) {
		t.Fatalf("ACK of the duplicate: SACK blocks %+v, want the D-SACK [%d, %d)", a.opts.SACK(), start, start+100)
	}
	// Data above RCV.NXT with an old timestamp (an old incarnation's)
	// is no duplicate: no D-SACK.
	p.send(segOpts{flags: ACK | PSH, seq: sv(start + 300), data: data, opts: tsOpt(250, ecr)})
	a = p.expect(1)[0]
	if a.opts.NumSACKBlocks != 0 {
		t.Fatalf("ACK of old data above RCV.NXT: SACK blocks %+v", a.opts.SACK())
	}
}

// RFC 2883 §4 and RFC 3708 on the sender, with RFC 7323 §5.3: the 3rd
// segment is only delayed, its fast retransmission spurious; the ACK
// carrying the retransmission's D-SACK is itself reordered behind a
// later ACK, so that its TSval trails TS.Recent and its cumulative ACK
// is old. PAWS must let it through (an old pure ACK with SACK blocks)
// and the D-SACK must undo the recovery. Before the fix PAWS dropped it
// and the window stayed halved.
func TestPAWSReorderedDSACKUndoes(t *testing.T) {
	e, p, ep, ecr := toEstablishedSACKTS(t)
	// Segments of sackMSS less the timestamps option: offsets below
	// count them (k is the offset of the k-th segment).
	const seg = sackMSS - 12
	write(t, ep, make([]byte, 10*seg))
	b := p.expect(10)[0].f.SeqNum
	ack := func(step string, tsVal uint32, ackSeg int, segs ...int) []int {
		t.Helper()
		offs := make([]int, len(segs))
		for i, k := range segs {
			offs[i] = k * seg
		}
		p.send(segOpts{flags: ACK, ack: sv(b.Add(seqnum.Size(ackSeg * seg))), opts: tsSACKOpt(tsVal, ecr, b, offs...)})
		p.e.pump()
		var out []int
		for _, s := range p.e.sn.take() {
			if s.src == addrA && len(s.data) > 0 {
				out = append(out, int(b.Size(s.f.SeqNum))/seg)
			}
		}
		return out
	}
	wantSent(t, "ACK 2", ack("ACK 2", 200, 2))
	before := info(t, ep)
	ack("SACK 4", 201, 2, 3, 4)
	ack("SACK 5", 202, 2, 3, 5)
	if got := ack("SACK 6", 203, 2, 3, 6); len(got) == 0 || got[0] != 2 {
		t.Fatalf("SACK 6: sent segments %v, want the fast retransmission of the 3rd (2) first", got)
	}
	if in := info(t, ep); in.Ssthresh >= before.Ssthresh {
		t.Fatalf("ssthresh %d in recovery", in.Ssthresh)
	}
	ack("SACK 10", 204, 2, 3, 10)
	// The original 3rd arrives: recovery ends.
	ack("full", 205, 10)
	// The D-SACK of the retransmission (sent with TSval 206) arrives
	// after a later ACK (TSval 207): old TSval, old cumulative ACK.
	ack("later", 207, 10)
	if got := counter(e.a, "TCP.SpuriousRecovery"); got != 0 {
		t.Fatalf("SpuriousRecovery = %d before the D-SACK", got)
	}
	ack("D-SACK", 206, 9, 2, 3)
	if got := counter(e.a, "TCP.PAWSRejected"); got != 0 {
		t.Fatalf("PAWSRejected = %d: the reordered ACK with the D-SACK was dropped", got)
	}
	if got := counter(e.a, "TCP.DSACKReceived"); got != 1 {
		t.Fatalf("DSACKReceived = %d", got)
	}
	if got := counter(e.a, "TCP.SpuriousRecovery"); got != 1 {
		t.Fatalf("SpuriousRecovery = %d, want the recovery undone", got)
	}
	if in := info(t, ep); in.Ssthresh != before.Ssthresh {
		t.Fatalf("after undo ssthresh %d, before recovery %d", in.Ssthresh, before.Ssthresh)
	}
	// An old ACK without SACK blocks and an old TSval is still
	// rejected by PAWS.
	ack("old", 206, 9)
	if got := counter(e.a, "TCP.PAWSRejected"); got != 1 {
		t.Fatalf("PAWSRejected = %d for an old ACK without SACK", got)
	}
}
