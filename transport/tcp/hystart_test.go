package tcp

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/seqnum"
)

const testMSS = 1000

// hsAcks plays n ACKs on r, each acknowledging one MSS with the RTT
// sample rtt while inflight segments are outstanding after it: a round
// trip lasts inflight ACKs.
func hsAcks(r *newReno, una *seqnum.Value, n, inflight int, rtt time.Duration) {
	for range n {
		*una = una.Add(testMSS)
		r.onRoundAck(*una, una.Add(seqnum.Size(inflight*testMSS)), rtt)
		r.OnAck(testMSS, 0, rtt)
	}
}

// RFC 5681 §3.1: ssthresh starts arbitrarily high, slow start adds at
// most one SMSS per ACK (eq. 2, L = 1 of RFC 3465) and stops at ssthresh.
func TestNewRenoSlowStartByteCounting(t *testing.T) {
	r := NewNewReno(testMSS).(*newReno)
	if r.Cwnd() != 10*testMSS || r.Ssthresh() < 1<<30 {
		t.Fatalf("initial cwnd %d ssthresh %d", r.Cwnd(), r.Ssthresh())
	}
	r.OnAck(3*testMSS, 0, 0) // a stretch ACK counts one SMSS
	if r.Cwnd() != 11*testMSS {
		t.Fatalf("cwnd %d after a stretch ACK, want %d", r.Cwnd(), 11*testMSS)
	}
	r.OnAck(100, 0, 0) // a small ACK counts its bytes
	if r.Cwnd() != 11*testMSS+100 {
		t.Fatalf("cwnd %d", r.Cwnd())
	}
	r.ssthresh = 12 * testMSS
	r.OnAck(testMSS, 0, 0)
	r.OnAck(testMSS, 0, 0)
	// At ssthresh: congestion avoidance (about one MSS per window).
	c := r.Cwnd()
	r.OnAck(testMSS, 0, 0)
	if r.Cwnd() != c {
		t.Fatalf("congestion avoidance grew cwnd by %d on one ACK", r.Cwnd()-c)
	}
}

// RFC 6582 §3.2: fast recovery sets ssthresh to half the flight, and
// the full acknowledgment leaves cwnd at min(ssthresh, FlightSize+SMSS).
func TestNewRenoRecoveryExit(t *testing.T) {
	r := NewNewReno(testMSS).(*newReno)
	r.OnLoss(40 * testMSS)
	if r.Ssthresh() != 20*testMSS || r.Cwnd() != 23*testMSS {
		t.Fatalf("after loss cwnd %d ssthresh %d", r.Cwnd(), r.Ssthresh())
	}
	r.OnDupAck()
	r.OnPartialAck(5 * testMSS)
	r.OnRecoveryExit(30 * testMSS)
	if r.Cwnd() != 20*testMSS {
		t.Fatalf("exit cwnd %d, want ssthresh %d", r.Cwnd(), 20*testMSS)
	}
	r.OnLoss(40 * testMSS)
	r.OnRecoveryExit(2 * testMSS)
	if r.Cwnd() != 3*testMSS {
		t.Fatalf("exit cwnd %d, want FlightSize+SMSS %d", r.Cwnd(), 3*testMSS)
	}
	if !r.hs.done {
		t.Fatal("HyStart++ still on after a loss (RFC 9406 §4.2)")
	}
}

// RFC 9406 §4.2: a round whose minimum RTT exceeds the previous round's
// by the threshold enters CSS (a quarter of the growth); CSS_ROUNDS
// rounds later ssthresh = cwnd.
func TestHyStartCSSThenAvoidance(t *testing.T) {
	r := NewNewReno(testMSS).(*newReno)
	una := seqnum.Value(1000)
	hsAcks(r, &una, 10, 10, 20*time.Millisecond) // round 1: 20 ms
	hsAcks(r, &una, 20, 20, 20*time.Millisecond) // round 2: 20 ms
	if r.hs.css {
		t.Fatal("CSS without a delay increase")
	}
	// Round 3: 25 ms ≥ 20 ms + max(4 ms, 20/8 ms), seen after
	// N_RTT_SAMPLE samples.
	hsAcks(r, &una, 7, 40, 25*time.Millisecond)
	if r.hs.css {
		t.Fatal("CSS before N_RTT_SAMPLE samples")
	}
	hsAcks(r, &una, 1, 40, 25*time.Millisecond)
	if !r.hs.css {
		t.Fatal("no CSS after a 5 ms increase")
	}
	c := r.Cwnd()
	r.OnAck(4*testMSS, 0, 0)
	if got := r.Cwnd() - c; got != testMSS/4 {
		t.Fatalf("CSS growth %d, want %d", got, testMSS/4)
	}
	hsAcks(r, &una, 32, 40, 25*time.Millisecond) // the rest of round 3
	// Rounds 4 to 7 in CSS; the first ACK of round 8 ends CSS.
	for i := range hsCSSRounds - 1 {
		hsAcks(r, &una, 40, 40, 26*time.Millisecond)
		if r.Ssthresh() < 1<<30 || !r.hs.css {
			t.Fatalf("left CSS after %d rounds", i+2)
		}
	}
	hsAcks(r, &una, 1, 40, 26*time.Millisecond)
	if r.Ssthresh() != r.Cwnd() || !r.hs.done {
		t.Fatalf("after CSS: cwnd %d ssthresh %d done %v", r.Cwnd(), r.Ssthresh(), r.hs.done)
	}
}

// RFC 9406 §4.2: an RTT below the CSS baseline was jitter: slow start
// resumes.
func TestHyStartCSSSpuriousReturnsToSlowStart(t *testing.T) {
	r := NewNewReno(testMSS).(*newReno)
	una := seqnum.Value(1)
	hsAcks(r, &una, 10, 10, 20*time.Millisecond)
	hsAcks(r, &una, 20, 20, 30*time.Millisecond)
	if !r.hs.css {
		t.Fatal("no CSS after a 10 ms increase")
	}
	hsAcks(r, &una, 8, 40, 21*time.Millisecond)
	if r.hs.css {
		t.Fatal("still in CSS after an RTT below the baseline")
	}
	c := r.Cwnd()
	r.OnAck(testMSS, 0, 0)
	if r.Cwnd()-c != testMSS {
		t.Fatalf("slow start growth %d after CSS ended", r.Cwnd()-c)
	}
}

// A sender that does not pace sends slow start in bursts: while the
// window is below the path's BDP, each flight builds a queue that drains
// before the next, and a round (by sequence, RFC 9406 §4.2) begins with
// the ACKs of the previous flight's tail (delayed by that queue) and ends
// with the next flight's head (not delayed). HyStart++ must enter CSS
// once and stay there: the head's lower samples are the same round's,
// not a spurious delay increase, and the next rounds' first samples
// (tails again) stay at the baseline. Before the fix, every head sample
// below the baseline sent the connection back to slow start, every
// round, and slow start ran on until the queue overflowed.
func TestHyStartBurstyRoundsDoNotOscillate(t *testing.T) {
	for _, cc := range []string{"newreno", "cubic"} {
		t.Run(cc, func(t *testing.T) {
			var ro roundObserver
			var hs *hystart
			var c CongestionControl
			switch cc {
			case "newreno":
				r := NewNewReno(testMSS).(*newReno)
				ro, hs, c = r, &r.hs, r
			default:
				r := NewCubic(testMSS).(*cubic)
				ro, hs, c = r, &r.hs, r
			}
			una := seqnum.Value(1)
			ack := func(n, inflight int, rtt time.Duration) {
				for range n {
					una = una.Add(testMSS)
					ro.onRoundAck(una, una.Add(seqnum.Size(inflight*testMSS)), rtt)
					c.OnAck(testMSS, inflight*testMSS, rtt)
				}
			}
			const (
				base = 100 * time.Millisecond
				tail = 113 * time.Millisecond // ≥ base + base/8
			)
			ack(10, 10, base)
			ack(20, 20, base)
			entries, exits := 0, 0
			inCSS := false
			w := 40
			for round := 0; round < 2*hsCSSRounds && !hs.done; round++ {
				// The round: 8 samples of the previous flight's tail,
				// then the next flight's head at the base RTT.
				for i := range w {
					rtt := base
					if i < hsNRTTSample {
						rtt = tail
					}
					ack(1, w, rtt)
					switch {
					case hs.css && !inCSS:
						entries++
					case !hs.css && inCSS && !hs.done:
						exits++
					}
					inCSS = hs.css
					if hs.done {
						break // congestion avoidance from here
					}
				}
				w = w * 5 / 4
			}
			if entries != 1 || exits != 0 {
				t.Errorf("CSS entered %d times and left for slow start %d times, want once and never", entries, exits)
			}
			// ssthresh = cwnd at CSS's end; the ACK that ended it then
			// grew cwnd by congestion avoidance (CUBIC: a few bytes).
			if !hs.done || c.Ssthresh() > c.Cwnd() || c.Cwnd()-c.Ssthresh() > testMSS {
				t.Errorf("after %d rounds of CSS: HyStart++ done %v, cwnd %d, ssthresh %d; want congestion avoidance from ssthresh = cwnd",
					hsCSSRounds, hs.done, c.Cwnd(), c.Ssthresh())
			}
		})
	}
}

// A reduction in the initial slow start ends HyStart++ (RFC 9406 §4.2);
// when the reduction is undone as spurious (RFC 3708, RFC 4015, RFC 9438
// §4.9: undo.go), the connection is back in its initial slow start and
// HyStart++ with it (§4.3), keeping its rounds; a reduction undone
// after HyStart++ had ended does not bring it back.
func TestHyStartResumesAfterUndo(t *testing.T) {
	for _, cc := range []string{"newreno", "cubic"} {
		t.Run(cc, func(t *testing.T) {
			var ro roundObserver
			var hs *hystart
			var c CongestionControl
			switch cc {
			case "newreno":
				r := NewNewReno(testMSS).(*newReno)
				ro, hs, c = r, &r.hs, r
			default:
				r := NewCubic(testMSS).(*cubic)
				ro, hs, c = r, &r.hs, r
			}
			u := c.(ccUndoer)
			una := seqnum.Value(1)
			for range 30 {
				una = una.Add(testMSS)
				ro.onRoundAck(una, una.Add(20*testMSS), 20*time.Millisecond)
				c.OnAck(testMSS, 20*testMSS, 20*time.Millisecond)
			}
			last := hs.lastRoundMin
			u.saveUndo()
			c.OnLoss(c.Cwnd())
			if !hs.done {
				t.Fatal("HyStart++ on after a loss")
			}
			u.undo(0)
			if hs.done || c.Ssthresh() < 1<<29 {
				t.Fatalf("after undo: HyStart++ done %v, ssthresh %d; want the initial slow start with HyStart++", hs.done, c.Ssthresh())
			}
			if hs.lastRoundMin != last || last == 0 {
				t.Fatalf("rounds lost: lastRoundMinRTT %v, was %v", hs.lastRoundMin, last)
			}
			// A timeout in congestion avoidance, undone: HyStart++
			// stays off.
			hs.stop()
			u.saveUndo()
			c.OnRTO(c.Cwnd())
			u.undo(0)
			if !hs.done {
				t.Fatal("HyStart++ back after undoing a reduction made without it")
			}
		})
	}
}
