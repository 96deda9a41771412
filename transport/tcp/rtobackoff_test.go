package tcp_test

import (
	"testing"
	"time"
)

// TestRTOBackoffTime checks Info.RTOs and Info.RTOBackoffTime on the
// manual clock: a backoff period runs from the first retransmission
// timeout to the next ACK of new data, counts while it runs, survives a
// duplicate ACK, and a second period adds to the first.
func TestRTOBackoffTime(t *testing.T) {
	e, p, ep := toEstablishedPassive(t)
	if in := info(t, ep); in.RTOs != 0 || in.RTOBackoffTime != 0 {
		t.Fatalf("fresh connection: RTOs %d, backoff time %v", in.RTOs, in.RTOBackoffTime)
	}
	start := e.clock.NowMonotonic()
	since := func() time.Duration { return e.clock.NowMonotonic().Sub(start) }
	// expire runs the clock to the next deadline (the RTO) and takes the
	// retransmission.
	expire := func() {
		t.Helper()
		for {
			next, ok := e.clock.NextDeadline()
			if !ok {
				t.Fatal("no timer armed")
			}
			e.clock.AdvanceTo(next)
			e.pump()
			if segs := e.sn.take(); len(segs) > 0 {
				if len(segs) != 1 || len(segs[0].data) != 4 {
					t.Fatalf("at the timeout: %d segments", len(segs))
				}
				return
			}
		}
	}

	write(t, ep, []byte("data"))
	p.expect(1)
	// 100 ms without an ACK: the timer has not fired, nothing counted.
	e.advance(100 * time.Millisecond)
	p.expect(0)
	if in := info(t, ep); in.RTOs != 0 || in.RTOBackoffTime != 0 {
		t.Fatalf("before the first timeout: RTOs %d, backoff time %v", in.RTOs, in.RTOBackoffTime)
	}
	// Three timeouts (200, 600 and 1400 ms: TestRTOBackoff).
	for range 3 {
		expire()
	}
	first := since()
	if first != 1400*time.Millisecond {
		t.Fatalf("third timeout at %v, want 1.4s", first)
	}
	in := info(t, ep)
	if in.RTOs != 3 || in.RTOBackoffTime != first-200*time.Millisecond {
		t.Fatalf("after 3 timeouts at %v: RTOs %d, backoff time %v, want 3, %v", first, in.RTOs, in.RTOBackoffTime, first-200*time.Millisecond)
	}
	// The period is still open: it grows with the clock.
	e.advance(300 * time.Millisecond)
	if got, want := info(t, ep).RTOBackoffTime, since()-200*time.Millisecond; got != want {
		t.Fatalf("open period: backoff time %v, want %v", got, want)
	}
	// A duplicate ACK (nothing new acknowledged) does not end it.
	p.send(segOpts{flags: ACK})
	p.expect(0)
	e.advance(100 * time.Millisecond)
	if got, want := info(t, ep).RTOBackoffTime, since()-200*time.Millisecond; got != want {
		t.Fatalf("after a duplicate ACK: backoff time %v, want %v", got, want)
	}
	// The ACK of the data closes it.
	p.ack += 4
	p.send(segOpts{flags: ACK})
	p.expect(0)
	closed := since() - 200*time.Millisecond
	e.advance(time.Second)
	in = info(t, ep)
	if in.RTOs != 3 || in.RTOBackoffTime != closed {
		t.Fatalf("after the ACK: RTOs %d, backoff time %v, want 3, %v", in.RTOs, in.RTOBackoffTime, closed)
	}

	// A second period: one timeout, an ACK 50 ms after it.
	write(t, ep, []byte("more"))
	p.expect(1)
	expire()
	e.advance(50 * time.Millisecond)
	p.ack += 4
	p.send(segOpts{flags: ACK})
	p.expect(0)
	e.advance(time.Second)
	in = info(t, ep)
	if want := closed + 50*time.Millisecond; in.RTOs != 4 || in.RTOBackoffTime != want {
		t.Fatalf("after the second period: RTOs %d, backoff time %v, want 4, %v", in.RTOs, in.RTOBackoffTime, want)
	}
	if in.Backoff != 0 {
		t.Fatalf("backoff exponent %d after the ACK, want 0", in.Backoff)
	}
}

// TestRTTSampleAfterRTO: an ACK that ends an RTO backoff but echoes the
// timestamp of a transmission older than the latest timeout (the peer got
// that one, its ACK was lost, and it echoed the old TS.Recent to the
// retransmissions it dropped as duplicates) gives no RTT sample; one
// echoing the latest retransmission does.
func TestRTTSampleAfterRTO(t *testing.T) {
	e, p, l := toListenEnv(t, newEnv(t, false))
	p.send(segOpts{flags: SYN, opts: synOpts(100)})
	sa := p.expect(1)[0]
	p.ack = sa.f.SeqNum + 1
	p.send(segOpts{flags: ACK, opts: tsOpt(200, sa.opts.TSVal)})
	p.expect(0)
	ep := accept(t, l)
	if !info(t, ep).Timestamps {
		t.Fatal("timestamps not negotiated")
	}
	// expire runs the clock to the retransmission and returns it.
	expire := func() seg {
		t.Helper()
		for {
			next, ok := e.clock.NextDeadline()
			if !ok {
				t.Fatal("no timer armed")
			}
			e.clock.AdvanceTo(next)
			e.pump()
			if segs := e.sn.take(); len(segs) > 0 {
				return segs[0]
			}
		}
	}

	write(t, ep, []byte("data"))
	orig := p.expect(1)[0]
	expire()
	expire()
	rtt := info(t, ep).RTT
	// The ACK echoes the original's timestamp, 600 ms old.
	p.ack += 4
	p.send(segOpts{flags: ACK, opts: tsOpt(300, orig.opts.TSVal)})
	p.expect(0)
	if in := info(t, ep); in.RTT != rtt || in.Backoff != 0 || in.Unacked != 0 {
		t.Fatalf("after an ACK echoing the original: RTT %v (was %v), backoff %d, unacked %d", in.RTT, rtt, in.Backoff, in.Unacked)
	}

	// Again, the ACK echoing the retransmission, 50 ms later: a sample.
	write(t, ep, []byte("more"))
	p.expect(1)
	rtx := expire()
	e.advance(50 * time.Millisecond)
	p.ack += 4
	p.send(segOpts{flags: ACK, opts: tsOpt(400, rtx.opts.TSVal)})
	p.expect(0)
	if in := info(t, ep); in.RTT == rtt || in.RTT > 50*time.Millisecond {
		t.Fatalf("after an ACK echoing the retransmission 50 ms later: RTT %v (was %v)", in.RTT, rtt)
	}
}
