package tcp_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
)

// warmRTT runs rounds round trips of one segment each, the peer
// acknowledging rtts[i%len(rtts)] after the segment left, so that the
// RTT estimators (RFC 6298's and RACK's) know the path. Each ACK also
// grows the window by a segment (slow start).
func warmRTT(t *testing.T, e *env, p *peer, ep tcpip.Endpoint, rounds int, rtts ...time.Duration) {
	t.Helper()
	for i := range rounds {
		write(t, ep, make([]byte, sackMSS))
		s := p.expect(1)[0]
		e.advance(rtts[i%len(rtts)])
		p.send(segOpts{flags: ACK, ack: sv(s.f.SeqNum.Add(sackMSS))})
		p.expect(0)
	}
}

// dataSent returns the offsets from base of the data segments the stack
// sent since the last look.
func dataSent(e *env, base seqnum.Value) []int {
	e.pump()
	var out []int
	for _, s := range e.sn.take() {
		if s.src == addrA && len(s.data) > 0 {
			out = append(out, int(base.Size(s.f.SeqNum)))
		}
	}
	return out
}

// RFC 8985 §6.2: a segment SACKed out of order makes the segments sent
// before it lost only once RACK.rtt + reo_wnd passed since they were
// sent; reo_wnd is RACK.min_RTT/4 while fewer than DupThresh segments
// are SACKed (step 4). The 1st of ten segments arrives 3 ms after the
// 2nd, within the 5 ms window: nothing is retransmitted.
func TestRACKReorderWithinWindow(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 20*time.Millisecond)
	b := sendSegments(t, p, ep, 10)
	e.advance(20 * time.Millisecond)
	wantSent(t, "SACK 2", ackSACK(t, p, b, 0, 1000, 2000))
	e.advance(3 * time.Millisecond)
	wantSent(t, "ACK 2", ackSACK(t, p, b, 2000))
	e.advance(time.Millisecond)
	wantSent(t, "ACK 10", ackSACK(t, p, b, 10000))
	if got := counter(e.a, "TCP.Retransmits"); got != 0 {
		t.Fatalf("%d retransmissions", got)
	}
	if got := counter(e.a, "TCP.RACKLost"); got != 0 {
		t.Fatalf("RACKLost = %d", got)
	}
}

// RFC 8985 §6.3: the reordering timer. The 1st of ten segments is lost,
// the 2nd SACKed: 5 ms (reo_wnd) after the SACK the timer marks the 1st
// lost and fast recovery retransmits it; the segments sent after the
// 2nd (equal transmit times, higher sequence numbers) are not lost.
func TestRACKReorderTimer(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 20*time.Millisecond)
	b := sendSegments(t, p, ep, 10)
	e.advance(20 * time.Millisecond)
	wantSent(t, "SACK 2", ackSACK(t, p, b, 0, 1000, 2000))
	e.advance(4 * time.Millisecond)
	wantSent(t, "within reo_wnd", dataSent(e, b))
	e.advance(2 * time.Millisecond)
	wantSent(t, "timer", dataSent(e, b), 0)
	if got := counter(e.a, "TCP.RACKLost"); got != 1 {
		t.Fatalf("RACKLost = %d", got)
	}
	if got := counter(e.a, "TCP.RACKRecovery"); got != 1 {
		t.Fatalf("RACKRecovery = %d", got)
	}
	// The 3rd to 10th arrive, then the retransmission: recovery ends
	// without a timeout.
	wantSent(t, "SACK 3-10", ackSACK(t, p, b, 0, 1000, 10000))
	wantSent(t, "full", ackSACK(t, p, b, 10000))
	if got := counter(e.a, "TCP.Timeouts"); got != 0 {
		t.Fatalf("%d timeouts", got)
	}
	if got := counter(e.a, "TCP.Retransmits"); got != 1 {
		t.Fatalf("%d retransmissions", got)
	}
}

// RFC 8985 §6.2: a reordering seen (a segment delivered below RACK.fack
// that was never retransmitted) keeps the window open even with
// DupThresh segments SACKed, where it would otherwise be 0 (step 4), and
// RFC 6675's DupThresh no longer starts recovery: the 1st segment, late
// by 4 ms, is not retransmitted although three SACKed segments follow
// it.
func TestRACKReorderingSeen(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 20*time.Millisecond)
	// A first reordering: the 2nd before the 1st.
	b := sendSegments(t, p, ep, 2)
	e.advance(20 * time.Millisecond)
	wantSent(t, "SACK 2", ackSACK(t, p, b, 0, 1000, 2000))
	wantSent(t, "ACK 2", ackSACK(t, p, b, 2000))
	b = sendSegments(t, p, ep, 6)
	e.advance(20 * time.Millisecond)
	wantSent(t, "SACK 2", ackSACK(t, p, b, 0, 1000, 2000))
	wantSent(t, "SACK 2-3", ackSACK(t, p, b, 0, 1000, 3000))
	wantSent(t, "SACK 2-4", ackSACK(t, p, b, 0, 1000, 4000))
	wantSent(t, "SACK 2-5", ackSACK(t, p, b, 0, 1000, 5000))
	e.advance(4 * time.Millisecond)
	wantSent(t, "ACK 6", ackSACK(t, p, b, 6000))
	if got := counter(e.a, "TCP.Retransmits"); got != 0 {
		t.Fatalf("%d retransmissions", got)
	}
	if got := counter(e.a, "TCP.FastRecovery"); got != 0 {
		t.Fatalf("%d recoveries", got)
	}
}

// RFC 8985 §6.2 step 5: without reordering seen, DupThresh SACKed
// segments make reo_wnd 0: the segment before them is lost as soon as
// RACK.rtt has passed, as RFC 6675 would say.
func TestRACKNoReorderingZeroWindow(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 20*time.Millisecond)
	b := sendSegments(t, p, ep, 6)
	e.advance(20 * time.Millisecond)
	wantSent(t, "SACK 2", ackSACK(t, p, b, 0, 1000, 2000))
	wantSent(t, "SACK 2-3", ackSACK(t, p, b, 0, 1000, 3000))
	wantSent(t, "SACK 2-4", ackSACK(t, p, b, 0, 1000, 4000), 0)
}

// RFC 8985 §6.2: a retransmission that is lost again is found lost by
// RACK when a segment sent after it is delivered, and is retransmitted
// again, without a timeout (RFC 6675 alone waits for the RTO).
func TestRACKLostRetransmission(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 20*time.Millisecond)
	write(t, ep, make([]byte, 20*sackMSS))
	segs := p.expect(20)
	b := segs[0].f.SeqNum
	e.advance(20 * time.Millisecond)
	// The 1st is lost; the 2nd to 4th arrive: recovery retransmits
	// the 1st (reo_wnd is 0: no reordering, DupThresh SACKed).
	ackSACK(t, p, b, 0, 1000, 2000)
	ackSACK(t, p, b, 0, 1000, 3000)
	wantSent(t, "SACK 2-4", ackSACK(t, p, b, 0, 1000, 4000), 0)
	// More SACKs of the original flight clock out new data (PRR).
	write(t, ep, make([]byte, 20*sackMSS))
	var sent []int
	for i := 5; i <= 20; i++ {
		sent = append(sent, ackSACK(t, p, b, 0, 1000, i*1000)...)
	}
	if len(sent) == 0 || sent[0] != 20000 {
		t.Fatalf("sent %v in recovery", sent)
	}
	// The retransmission is lost too. A round trip after it, the SACK
	// of the first segment sent after it arrives: the 1st goes again.
	e.advance(21 * time.Millisecond)
	// (PRR may send new data after it.)
	if got := ackSACK(t, p, b, 0, 1000, 20000, 20000, 21000); len(got) == 0 || got[0] != 0 {
		t.Fatalf("sent %v, want the 1st again first", got)
	}
	if got := counter(e.a, "TCP.Retransmits"); got != 2 {
		t.Fatalf("%d retransmissions", got)
	}
	if got := counter(e.a, "TCP.Timeouts"); got != 0 {
		t.Fatalf("%d timeouts", got)
	}
}

// RFC 8985 §7.2, §7.3: with several segments in flight and no ACK, the
// probe timeout fires 2·SRTT after the last transmission and, with no
// new data to send, retransmits the last segment.
func TestTLPSeveralSegments(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 5*time.Millisecond, 190*time.Millisecond)
	in := info(t, ep)
	pto := 2 * in.RTT
	if pto >= in.RTO {
		t.Fatalf("PTO %v not below RTO %v: the test needs a larger RTTVar", pto, in.RTO)
	}
	b := sendSegments(t, p, ep, 4)
	e.advance(pto - time.Millisecond)
	wantSent(t, "before PTO", dataSent(e, b))
	e.advance(time.Millisecond)
	wantSent(t, "PTO", dataSent(e, b), 3000)
	if got := counter(e.a, "TCP.TLPProbes"); got != 1 {
		t.Fatalf("TLPProbes = %d", got)
	}
	// One probe per episode; the RTO is armed after it (§7.3).
	e.advance(in.RTO - time.Millisecond)
	wantSent(t, "no second probe", dataSent(e, b))
	e.advance(2 * time.Millisecond)
	wantSent(t, "RTO", dataSent(e, b), 0)
}

// RFC 8985 §7.2: with a single segment in flight the PTO allows for the
// peer's delayed ACK: 2·SRTT + WCDelAckT (200 ms), capped by the RTO.
func TestTLPOneSegment(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 5*time.Millisecond, 190*time.Millisecond)
	in := info(t, ep)
	pto := 2*in.RTT + 200*time.Millisecond
	if pto >= in.RTO {
		t.Fatalf("PTO %v not below RTO %v: the test needs a larger RTTVar", pto, in.RTO)
	}
	b := sendSegments(t, p, ep, 1)
	e.advance(pto - time.Millisecond)
	wantSent(t, "before PTO", dataSent(e, b))
	e.advance(time.Millisecond)
	wantSent(t, "PTO", dataSent(e, b), 0)
}

// RFC 8985 §7.2: the PTO never fires after the RTO would have.
func TestTLPCappedByRTO(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 20*time.Millisecond)
	in := info(t, ep)
	if 2*in.RTT+200*time.Millisecond <= in.RTO {
		t.Fatalf("RTO %v, RTT %v: the cap is not exercised", in.RTO, in.RTT)
	}
	b := sendSegments(t, p, ep, 1)
	e.advance(in.RTO - time.Millisecond)
	wantSent(t, "before RTO", dataSent(e, b))
	e.advance(time.Millisecond)
	wantSent(t, "probe at the RTO", dataSent(e, b), 0)
	if got := counter(e.a, "TCP.TLPProbes"); got != 1 {
		t.Fatalf("TLPProbes = %d", got)
	}
	if got := counter(e.a, "TCP.Timeouts"); got != 0 {
		t.Fatalf("%d timeouts", got)
	}
}

// RFC 8985 §7.3: new data that the congestion window holds back is sent
// as the probe (the receiver's window admits it).
func TestTLPNewData(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 5*time.Millisecond, 190*time.Millisecond)
	cwnd := info(t, ep).Cwnd / sackMSS
	write(t, ep, make([]byte, (cwnd+3)*sackMSS))
	segs := p.expect(cwnd)
	b := segs[0].f.SeqNum
	e.advance(2 * info(t, ep).RTT)
	wantSent(t, "PTO", dataSent(e, b), cwnd*sackMSS)
}

// RFC 8985 §7.4: a probe that retransmitted the last segment, followed by
// an ACK beyond it with no D-SACK: the probe repaired a loss, and the
// congestion window is reduced (once) to the algorithm's ssthresh.
func TestTLPRecovered(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 5*time.Millisecond, 190*time.Millisecond)
	before := info(t, ep)
	b := sendSegments(t, p, ep, 4)
	// The 1st to 3rd arrive; the 4th is lost.
	e.advance(before.RTT)
	wantSent(t, "ACK 3", ackSACK(t, p, b, 3000))
	e.advance(before.RTO)
	wantSent(t, "probe", dataSent(e, b), 3000)
	wantSent(t, "ACK 4", ackSACK(t, p, b, 4000))
	if got := counter(e.a, "TCP.TLPRecovered"); got != 0 {
		t.Fatalf("TLPRecovered = %d before the episode ended", got)
	}
	write(t, ep, make([]byte, sackMSS))
	wantSent(t, "new", dataSent(e, b), 4000)
	wantSent(t, "ACK 5", ackSACK(t, p, b, 5000))
	if got := counter(e.a, "TCP.TLPRecovered"); got != 1 {
		t.Fatalf("TLPRecovered = %d", got)
	}
	in := info(t, ep)
	if in.Ssthresh >= before.Cwnd || in.Cwnd > in.Ssthresh+sackMSS {
		t.Fatalf("after the repaired loss cwnd %d, ssthresh %d (cwnd before %d)", in.Cwnd, in.Ssthresh, before.Cwnd)
	}
	if got := counter(e.a, "TCP.Timeouts"); got != 0 {
		t.Fatalf("%d timeouts", got)
	}
}

// RFC 8985 §7.4: when both the original and the probe arrive, the D-SACK
// of the probe shows there was no loss: no window reduction.
func TestTLPSpuriousProbe(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 5*time.Millisecond, 190*time.Millisecond)
	before := info(t, ep)
	b := sendSegments(t, p, ep, 4)
	e.advance(3 * before.RTO / 4)
	wantSent(t, "probe", dataSent(e, b), 3000)
	wantSent(t, "ACK 4", ackSACK(t, p, b, 4000))
	wantSent(t, "D-SACK", ackSACK(t, p, b, 4000, 3000, 4000))
	write(t, ep, make([]byte, sackMSS))
	wantSent(t, "new", dataSent(e, b), 4000)
	wantSent(t, "ACK 5", ackSACK(t, p, b, 5000))
	if got := counter(e.a, "TCP.TLPRecovered"); got != 0 {
		t.Fatalf("TLPRecovered = %d", got)
	}
	if in := info(t, ep); in.Cwnd < before.Cwnd {
		t.Fatalf("cwnd %d after a spurious probe, was %d", in.Cwnd, before.Cwnd)
	}
}

// RFC 6937 through the engine: 20 segments in flight, the 1st lost,
// ssthresh = 10 segments. During recovery new data goes at one segment
// for every two delivered while pipe > ssthresh, and the recovery ends
// with cwnd = ssthresh.
func TestPRRRecovery(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 20*time.Millisecond)
	write(t, ep, make([]byte, 20*sackMSS))
	segs := p.expect(20)
	b := segs[0].f.SeqNum
	e.advance(20 * time.Millisecond)
	ackSACK(t, p, b, 0, 1000, 2000)
	ackSACK(t, p, b, 0, 1000, 3000)
	wantSent(t, "SACK 2-4", ackSACK(t, p, b, 0, 1000, 4000), 0)
	if in := info(t, ep); in.Ssthresh != 10*sackMSS {
		t.Fatalf("ssthresh %d", in.Ssthresh)
	}
	// Data to send from now on.
	write(t, ep, make([]byte, 40*sackMSS))
	wantSent(t, "write", dataSent(e, b))
	var pattern []int
	for i := 5; i <= 20; i++ {
		pattern = append(pattern, len(ackSACK(t, p, b, 0, 1000, i*1000)))
	}
	// The ACK that started the recovery delivered one segment and the
	// fast retransmit counts in prr_out: after the k-th ACK of the
	// recovery sndcnt = ⌈k/2⌉ − prr_out segments, a segment at every
	// second ACK from the 3rd (the 7th segment SACKed). pipe falls to
	// ssthresh at the 15th segment; from then on one per ACK.
	want := []int{0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1}
	for i := range want {
		if pattern[i] != want[i] {
			t.Fatalf("segments per ACK %v, want %v", pattern, want)
		}
	}
	// The retransmission arrives: recovery is over, cwnd = ssthresh.
	ackSACK(t, p, b, 20000)
	in := info(t, ep)
	if in.Cwnd != in.Ssthresh {
		t.Fatalf("cwnd %d at the end of recovery, ssthresh %d", in.Cwnd, in.Ssthresh)
	}
}

// coarseClock is a view of a ManualClock that ticks every tick: the
// time it reports is rounded down to the tick (timers still run on the
// manual clock; one that fires between ticks sees the earlier tick).
// It records every duration a timer was armed for.
type coarseClock struct {
	*tcpip.ManualClock
	tick time.Duration
	mu   sync.Mutex
	arms []time.Duration
}

func (c *coarseClock) NowMonotonic() tcpip.MonotonicTime {
	ns := c.ManualClock.NowMonotonic().Nanoseconds()
	return tcpip.MonotonicFromNanoseconds(ns - ns%int64(c.tick))
}

func (c *coarseClock) record(d time.Duration) {
	c.mu.Lock()
	c.arms = append(c.arms, d)
	c.mu.Unlock()
}

func (c *coarseClock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	c.record(d)
	return &coarseTimer{Timer: c.ManualClock.AfterFunc(d, f), c: c}
}

// takeArms returns and forgets the durations recorded.
func (c *coarseClock) takeArms() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.arms
	c.arms = nil
	return a
}

type coarseTimer struct {
	tcpip.Timer
	c *coarseClock
}

func (t *coarseTimer) Reset(d time.Duration) bool {
	t.c.record(d)
	return t.Timer.Reset(d)
}

// newCoarseEnv is newEnv (one stack) with stack A on a coarse view of
// the hub's clock.
func newCoarseEnv(t *testing.T, tick time.Duration) (*env, *coarseClock) {
	t.Helper()
	leakcheck.Check(t)
	testnet.CheckBuffers(t)
	clock := tcpip.NewManualClock()
	cc := &coarseClock{ManualClock: clock, tick: tick}
	hub := testnet.NewHub(clock)
	t.Cleanup(hub.Close)
	t.Cleanup(func() {
		if n := clock.Pending(); n != 0 {
			t.Errorf("%d timers pending after the stacks closed", n)
		}
	})
	e := &env{t: t, hub: hub, clock: clock, sn: &sniffer{}}
	opts := stackOpts()
	opts.Clock = cc
	e.a = hub.NewStack(t, opts)
	e.linkA = addNIC(t, hub, e.a, addrA)
	hub.NewPort(false, tcpip.LinkAddress{}, 1500, 0).Attach(e.sn)
	return e, cc
}

// RFC 8985 on a coarse clock (1 ms and 15 ms ticks, a 20 ms path, and a
// 5 ms path shorter than the 15 ms tick): the segments of a flight share
// transmit times, and RTT samples are multiples of the tick, 0 included.
// With in-order delivery but for one segment late by 2 ms, nothing is
// marked lost (RACK_sent_after orders equal times by sequence, and
// RACK.rtt is at least rackMinRTT, so an ACK in the tick of the
// transmission marks nothing); when a segment is really lost, RACK finds
// it and only it; and no RACK, TLP or other timer is ever armed for 0 or
// a negative duration.
func TestRACKCoarseClock(t *testing.T) {
	for _, c := range []struct{ tick, rtt time.Duration }{
		{time.Millisecond, 20 * time.Millisecond},
		{15 * time.Millisecond, 20 * time.Millisecond},
		{15 * time.Millisecond, 5 * time.Millisecond},
	} {
		t.Run(c.tick.String()+"/"+c.rtt.String(), func(t *testing.T) {
			e, cc := newCoarseEnv(t, c.tick)
			e, p, ep := toEstablishedSACKEnv(t, e)
			// Misalign the flight with the ticks.
			e.advance(7 * time.Millisecond)
			warmRTT(t, e, p, ep, 30, c.rtt)
			cc.takeArms()
			// Reordering: the 1st of ten segments arrives 2 ms
			// after the 2nd. The flight leaves 1 ms into a tick.
			now := e.clock.NowMonotonic().Nanoseconds()
			e.advance(c.tick - time.Duration(now%int64(c.tick)) + time.Millisecond)
			b := sendSegments(t, p, ep, 10)
			e.advance(c.rtt)
			wantSent(t, "SACK 2", ackSACK(t, p, b, 0, 1000, 2000))
			e.advance(2 * time.Millisecond)
			wantSent(t, "ACK 2", ackSACK(t, p, b, 2000))
			// The rest arrive in order, one a millisecond.
			for i := 3; i <= 10; i++ {
				e.advance(time.Millisecond)
				wantSent(t, "ACK", ackSACK(t, p, b, i*1000))
			}
			if got := counter(e.a, "TCP.Retransmits"); got != 0 {
				t.Fatalf("%d retransmissions", got)
			}
			if got := counter(e.a, "TCP.RACKLost"); got != 0 {
				t.Fatalf("RACKLost = %d", got)
			}
			// A real loss: the 1st of ten is lost; the others arrive
			// a millisecond apart.
			b = sendSegments(t, p, ep, 10)
			e.advance(c.rtt)
			var sent []int
			for i := 2; i <= 10; i++ {
				sent = append(sent, ackSACK(t, p, b, 0, 1000, i*1000)...)
				e.advance(time.Millisecond)
			}
			// Reordering was seen above: reo_wnd (a quarter of
			// the minimum RTT) passes after the last SACK. (Waited
			// for in steps: 2·SRTT after the retransmission, the
			// probe of a stalled recovery would send it again.)
			for range 40 {
				if len(sent) > 0 {
					break
				}
				e.advance(time.Millisecond)
				sent = append(sent, dataSent(e, b)...)
			}
			wantSent(t, "loss", sent, 0)
			wantSent(t, "repaired", ackSACK(t, p, b, 10000))
			if got := counter(e.a, "TCP.Timeouts"); got != 0 {
				t.Fatalf("%d timeouts", got)
			}
			for _, d := range cc.takeArms() {
				if d <= 0 {
					t.Fatalf("a timer was armed for %v", d)
				}
			}
		})
	}
}

// RFC 8985 §6.2 step 4: a D-SACK (a retransmission was spurious) grows
// reo_wnd by RACK.min_RTT/4 for the next 16 recoveries. With reordering
// seen and a 20 ms path the window is 5 ms: a segment late by 8 ms is
// retransmitted; once the D-SACK of that retransmission arrives the
// window is 10 ms, and the same lateness no longer draws one.
func TestRACKDSACKGrowsWindow(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 20*time.Millisecond)
	late := func(step string, wantRxt bool) {
		t.Helper()
		b := sendSegments(t, p, ep, 4)
		e.advance(20 * time.Millisecond)
		wantSent(t, step+": SACK 2", ackSACK(t, p, b, 0, 1000, 2000))
		e.advance(8 * time.Millisecond)
		got := dataSent(e, b)
		if wantRxt {
			wantSent(t, step+": after 8 ms", got, 0)
		} else {
			wantSent(t, step+": after 8 ms", got)
		}
		wantSent(t, step+": ACK 4", ackSACK(t, p, b, 4000))
		if wantRxt {
			// The retransmission arrives after the original: D-SACK.
			wantSent(t, step+": D-SACK", ackSACK(t, p, b, 4000, 0, 1000))
		}
	}
	// A first reordering within the window sets reordering_seen.
	b := sendSegments(t, p, ep, 2)
	e.advance(20 * time.Millisecond)
	ackSACK(t, p, b, 0, 1000, 2000)
	e.advance(2 * time.Millisecond)
	ackSACK(t, p, b, 2000)
	late("5 ms window", true)
	late("10 ms window", false)
	if got := counter(e.a, "TCP.Retransmits"); got != 1 {
		t.Fatalf("%d retransmissions", got)
	}
}

// A stall in fast recovery that only a probe ends (RFC 8985 §7.2, see
// tlpRecoveryProbeLocked): ten segments, the 1st lost; the receiver
// (as Linux does for a batch that arrives at once) SACKs the other nine
// in one ACK; recovery retransmits the 1st, and the pipe leaves no room
// for more. The one ACK of the retransmission is lost. RACK has no
// segment sent after the retransmission to judge it by, so without a
// probe nothing is sent until the RTO; the probe retransmits it 2·SRTT
// after it left, and its ACK ends recovery without a timeout.
func TestTLPStallInRecovery(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 20*time.Millisecond)
	in := info(t, ep)
	pto := 2 * in.RTT
	if pto+2*time.Millisecond >= in.RTO {
		t.Fatalf("PTO %v not below RTO %v", pto, in.RTO)
	}
	b := sendSegments(t, p, ep, 10)
	e.advance(20 * time.Millisecond)
	wantSent(t, "SACK 2-10", ackSACK(t, p, b, 0, 1000, 10000), 0)
	// The ACK of the retransmission is lost.
	e.advance(pto - time.Millisecond)
	wantSent(t, "before PTO", dataSent(e, b))
	e.advance(2 * time.Millisecond)
	wantSent(t, "PTO", dataSent(e, b), 0)
	if got := counter(e.a, "TCP.TLPProbes"); got != 1 {
		t.Fatalf("TLPProbes = %d", got)
	}
	wantSent(t, "ACK 10", ackSACK(t, p, b, 10000))
	e.advance(in.RTO)
	wantSent(t, "after recovery", dataSent(e, b))
	if got := counter(e.a, "TCP.Timeouts"); got != 0 {
		t.Fatalf("%d timeouts", got)
	}
	if got := counter(e.a, "TCP.Retransmits"); got != 2 {
		t.Fatalf("%d retransmissions", got)
	}
}

// A segment delayed by more than DupThresh later ones is retransmitted at
// once while no reordering was seen (RFC 8985 §6.2 step 4: no window in
// recovery); the original then fills the hole, and the D-SACK of the
// retransmission shows it was delivered late: reordering_seen (see
// sackDSACKLocked), so that the next such delay waits for the reordering
// window instead of being retransmitted.
func TestRACKDSACKShowsReordering(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	warmRTT(t, e, p, ep, 30, 20*time.Millisecond)
	b := sendSegments(t, p, ep, 5)
	e.advance(20 * time.Millisecond)
	wantSent(t, "SACK 2-5", ackSACK(t, p, b, 0, 1000, 5000), 0)
	if info(t, ep).ReorderingSeen {
		t.Fatal("reordering seen before the D-SACK")
	}
	wantSent(t, "ACK 5", ackSACK(t, p, b, 5000))
	wantSent(t, "D-SACK", ackSACK(t, p, b, 5000, 0, 1000))
	if !info(t, ep).ReorderingSeen {
		t.Fatal("the D-SACK of a fast retransmission did not set reordering_seen")
	}
	e.advance(time.Second) // the recovery's undo and the next window
	b = sendSegments(t, p, ep, 5)
	e.advance(20 * time.Millisecond)
	wantSent(t, "SACK 2-5 again", ackSACK(t, p, b, 0, 1000, 5000))
	wantSent(t, "ACK 5 again", ackSACK(t, p, b, 5000))
	if got := counter(e.a, "TCP.Retransmits"); got != 1 {
		t.Fatalf("%d retransmissions, want only the first delayed segment's", got)
	}
}
