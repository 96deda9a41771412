package tcp

import (
	"time"

	"github.com/ustack-go/ustack/seqnum"
)

// HyStart++ (RFC 9406) lets slow start leave before it overshoots: when
// the smallest RTT seen in a round trip grows by a threshold over the
// previous round's, the queue at the bottleneck is filling, and the
// window grows by a quarter of the slow-start rate (Conservative Slow
// Start, CSS) for a few rounds before congestion avoidance. Without it,
// slow start doubles the window until the queue overflows, losing up to
// half a window at once (on a 100 Mbit/s × 20 ms path with a 128 KiB
// queue, over a hundred segments).
//
// RFC 9406 §4.3's constants, for a sender that does not pace.
const (
	hsMinRTTThresh    = 4 * time.Millisecond
	hsMaxRTTThresh    = 16 * time.Millisecond
	hsMinRTTDivisor   = 8
	hsNRTTSample      = 8
	hsCSSGrowthDivide = 4
	hsCSSRounds       = 5
)

// roundObserver is implemented by congestion controls that follow round
// trips and RTT samples (HyStart++). The connection calls onRoundAck for
// every ACK of new data outside recovery, before OnAck, with SND.MAX and
// the RTT sample the ACK gave (0 if none).
type roundObserver interface {
	onRoundAck(ack, sndMax seqnum.Value, sample time.Duration)
}

// hystart is RFC 9406's state. Zero RTTs stand for "infinity" (none
// seen).
//
// The fields are ordered, and the counters 32-bit, so that the state
// packs into 40 bytes: every connection holds one (inside its congestion
// control), idle ones included.
type hystart struct {
	done         bool // left for good: loss, RTO, or CSS over
	started      bool // a round is being measured (windowEnd valid)
	css          bool
	exitToCA     bool // CSS ended: the caller sets ssthresh = cwnd
	windowEnd    seqnum.Value
	samples      int32
	cssRounds    int32
	lastRoundMin time.Duration
	curRoundMin  time.Duration
	cssBaseline  time.Duration
}

// onAck follows rounds and samples (RFC 9406 §4.2); it reports nothing
// itself: growth() and exitToCA tell the window what to do.
func (h *hystart) onAck(ack, sndMax seqnum.Value, sample time.Duration) {
	if h.done {
		return
	}
	// RFC 9406 §4.2: a round ends when the ACK covers windowEnd, the
	// SND.NXT of the round's start.
	if !h.started || !ack.LessThan(h.windowEnd) {
		if h.started && h.css {
			h.cssRounds++
			if h.cssRounds >= hsCSSRounds {
				// §4.2: after CSS_ROUNDS rounds in CSS, enter
				// congestion avoidance.
				h.exitToCA = true
				h.done = true
				h.css = false
				return
			}
		}
		h.started = true
		h.lastRoundMin = h.curRoundMin
		h.curRoundMin = 0
		h.samples = 0
		h.windowEnd = sndMax
	}
	if sample <= 0 {
		return
	}
	if h.curRoundMin == 0 || sample < h.curRoundMin {
		h.curRoundMin = sample
	}
	h.samples++
	if h.samples < hsNRTTSample || h.lastRoundMin == 0 {
		return
	}
	if !h.css {
		// §4.2: RttThresh = max(MIN_RTT_THRESH,
		// min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH)).
		thresh := max(hsMinRTTThresh, min(h.lastRoundMin/hsMinRTTDivisor, hsMaxRTTThresh))
		if h.curRoundMin >= h.lastRoundMin+thresh {
			h.css = true
			h.cssBaseline = h.curRoundMin
			h.cssRounds = 0
		}
		return
	}
	// §4.2: in CSS, a round whose minimum RTT is below the baseline
	// means the delay increase was spurious: back to slow start.
	//
	// The check is made once per round, when the round has exactly
	// N_RTT_SAMPLE samples, so that it compares like with like: the
	// baseline is the minimum of the first N_RTT_SAMPLE (or a few more)
	// samples of the round that entered CSS. A sender that does not
	// pace sends slow start's two segments per ACK in bursts: each
	// flight builds a queue that drains before the next while the
	// window is below the path's BDP, and a round (by sequence, §4.2)
	// begins with the ACKs of the previous flight's tail, which carry
	// that queue, before the next flight's head, which does not. With
	// the check on every later ACK (the RFC's pseudocode taken
	// literally), the head of the very next flight always fell below a
	// baseline taken from a tail: CSS was entered and left again in
	// each round, and slow start ran on until the queue overflowed
	// (100 Mbit/s, 100 ms, one BDP of queue: cwnd 2.7 MB, over a
	// thousand losses; sim TestHyStartNoOvershoot).
	if h.samples != hsNRTTSample {
		return
	}
	if h.curRoundMin < h.cssBaseline {
		h.css = false
		h.cssBaseline = 0
	}
}

// growth scales the slow-start increase of one ACK: a quarter in CSS.
func (h *hystart) growth(inc int) int {
	if h.css && !h.done {
		return inc / hsCSSGrowthDivide
	}
	return inc
}

// stop ends HyStart++ for the connection: RFC 9406 §4.2, a loss in slow
// start or CSS ends both; §4.3, HyStart++ is used for the initial slow
// start only (later slow starts after an RTO run to ssthresh, which a
// loss has made meaningful).
func (h *hystart) stop() {
	h.done = true
	h.css = false
}

// resume turns HyStart++ back on after the reduction that stopped it was
// undone (undo.go: the loss was spurious, RFC 3708, RFC 4015). RFC 9406
// §4.2 leaves HyStart++ at a loss; a loss that did not happen leaves the
// connection in its initial slow start, where §4.3 wants HyStart++: the
// slow start that the undo resumes (ssthresh back at its initial,
// arbitrarily high value) would otherwise run on until the queue
// overflows. stop() kept the rounds' state (windowEnd, the RTT minima):
// the round in progress goes on, and the next round compares with the
// last one measured (a fresh start would need two rounds of samples,
// two doublings of the window, before it could see a delay increase).
func (h *hystart) resume() { h.done = false }
