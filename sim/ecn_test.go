package sim_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/transport/tcp"
)

// ecnRun sends size bytes from a to b over 100 Mbit/s × 20 ms with a
// 128 KiB queue that marks ECN-capable packets CE once 64 KiB wait
// (MarkCEQueueBytes), with ECN on both hosts or off.
func ecnRun(t *testing.T, ecn bool, size int64) (sim.StreamResult, sim.Counters, *sim.Host, *sim.Host) {
	t.Helper()
	n := newNet(t, 1)
	a := n.AddHost("a", tcpHostOptions)
	b := n.AddHost("b", tcpHostOptions)
	mode := tcp.ECNOff
	if ecn {
		mode = tcp.ECNOn
	}
	for _, h := range []*sim.Host{a, b} {
		if err := h.Stack().SetTransportProtocolOption(tcp.ProtocolNumber, mode); err != nil {
			t.Fatal(err)
		}
	}
	p := sim.Props{Delay: 10 * time.Millisecond, Bandwidth: 100e6, QueueBytes: 128 << 10, MarkCEQueueBytes: 64 << 10}
	l := n.MustConnect(a, b, sim.LinkConfig{AddrA: prefixA, AddrB: prefixB, AB: p, BA: p})
	s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: size, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	n.RunUntil(s.Done, time.Hour)
	r := s.Result()
	s.Close()
	if !r.OK() || r.Received != size {
		t.Fatalf("ECN %v: %v", ecn, r)
	}
	return r, l.Counters(sim.AToB), a, b
}

// RFC 3168 end to end: over a bottleneck whose queue marks CE before it
// overflows, an ECN connection is told of the congestion by marks
// instead of drops: the receiver echoes them (ECE), the sender reduces
// its window without retransmitting and the queue overflows less. The
// same path without ECN (the marks are not made: no packet is
// ECN-capable) fills the queue until it drops.
func TestECNMarkingBottleneck(t *testing.T) {
	const size = 8 << 20
	on, con, a, b := ecnRun(t, true, size)
	off, coff, a0, _ := ecnRun(t, false, size)
	ta, tb := &a.Stats().TCP, &b.Stats().TCP
	t.Logf("ECN:    %.1f Mbit/s, %d CE marks, %d queue drops, %d retransmits, %d window reductions for ECE",
		on.Goodput/1e6, con.MarkedCE, con.DroppedQueue, ta.Retransmits.Load(), ta.ECNCwndReductions.Load())
	t.Logf("no ECN: %.1f Mbit/s, %d CE marks, %d queue drops, %d retransmits",
		off.Goodput/1e6, coff.MarkedCE, coff.DroppedQueue, a0.Stats().TCP.Retransmits.Load())
	if ta.ECNNegotiated.Load() != 1 || tb.ECNNegotiated.Load() != 1 {
		t.Fatalf("ECNNegotiated %d, %d", ta.ECNNegotiated.Load(), tb.ECNNegotiated.Load())
	}
	if con.MarkedCE == 0 || tb.ECNCEReceived.Load() == 0 || ta.ECNECEReceived.Load() == 0 || ta.ECNCwndReductions.Load() == 0 {
		t.Fatalf("marks %d, CE received %d, ECE received %d, reductions %d", con.MarkedCE,
			tb.ECNCEReceived.Load(), ta.ECNECEReceived.Load(), ta.ECNCwndReductions.Load())
	}
	if coff.MarkedCE != 0 || coff.DroppedQueue == 0 {
		t.Fatalf("without ECN: %d marks, %d queue drops", coff.MarkedCE, coff.DroppedQueue)
	}
	if con.DroppedQueue >= coff.DroppedQueue || ta.Retransmits.Load() >= a0.Stats().TCP.Retransmits.Load() {
		t.Fatalf("ECN: %d queue drops, %d retransmits; without: %d, %d", con.DroppedQueue,
			ta.Retransmits.Load(), coff.DroppedQueue, a0.Stats().TCP.Retransmits.Load())
	}
}

// Props.MarkCE marks ECN-capable packets at random; packets that are not
// ECN-capable are never marked.
func TestLinkMarkCE(t *testing.T) {
	for _, ecn := range []bool{true, false} {
		n := newNet(t, 1)
		a := n.AddHost("a", tcpHostOptions)
		b := n.AddHost("b", tcpHostOptions)
		mode := tcp.ECNOff
		if ecn {
			mode = tcp.ECNOn
		}
		if err := a.Stack().SetTransportProtocolOption(tcp.ProtocolNumber, mode); err != nil {
			t.Fatal(err)
		}
		p := sim.Props{Delay: 5 * time.Millisecond, MarkCE: 0.05}
		l := n.MustConnect(a, b, sim.LinkConfig{AddrA: prefixA, AddrB: prefixB, AB: p, BA: p})
		s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: 1 << 20, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		n.RunUntil(s.Done, time.Hour)
		if r := s.Result(); !r.OK() {
			t.Fatal(r)
		}
		s.Close()
		c := l.Counters(sim.Both)
		ce := b.Stats().TCP.ECNCEReceived.Load()
		if ecn && (c.MarkedCE == 0 || ce != c.MarkedCE) {
			t.Fatalf("ECN: %d marked, %d CE received", c.MarkedCE, ce)
		}
		if !ecn && (c.MarkedCE != 0 || ce != 0) {
			t.Fatalf("no ECN: %d marked, %d CE received", c.MarkedCE, ce)
		}
	}
}
