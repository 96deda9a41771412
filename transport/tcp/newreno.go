package tcp

import (
	"time"

	"github.com/ustack-go/ustack/seqnum"
)

// initialWindowSegments is RFC 6928's initial window: 10 segments.
const initialWindowSegments = 10

// newReno is RFC 5681's slow start and congestion avoidance with RFC
// 6582's NewReno fast recovery, and HyStart++ (RFC 9406) in the initial
// slow start.
type newReno struct {
	mss      int
	cwnd     int
	ssthresh int
	acc      int // bytes acknowledged in congestion avoidance
	hs       hystart

	// The window before the last reduction, for undo (undo.go), and
	// whether HyStart++ was still on then.
	undoCwnd, undoSsthresh int
	undoHyStart            bool
}

var _ roundObserver = (*newReno)(nil)

// onRoundAck implements roundObserver: HyStart++ during the initial slow
// start (RFC 9406).
func (r *newReno) onRoundAck(ack, sndMax seqnum.Value, sample time.Duration) {
	if r.cwnd >= r.ssthresh {
		return
	}
	r.hs.onAck(ack, sndMax, sample)
	if r.hs.exitToCA {
		// RFC 9406 §4.2: CSS over, ssthresh = cwnd: congestion
		// avoidance from here.
		r.hs.exitToCA = false
		r.ssthresh = r.cwnd
	}
}

// NewNewReno returns RFC 5681/6582 NewReno for a connection whose MSS is
// mss, with RFC 6928's initial window and HyStart++ (RFC 9406) in the
// initial slow start; it is registered as "newreno", the default, and is
// the base other algorithms can wrap (a wrapper that hides its type runs
// plain slow start: the connection feeds HyStart++ through an unexported
// interface).
func NewNewReno(mss int) CongestionControl {
	// RFC 5681 §3.1: ssthresh starts arbitrarily high.
	return &newReno{mss: mss, cwnd: initialWindowSegments * mss, ssthresh: 1 << 30}
}

func (r *newReno) Name() string  { return "newreno" }
func (r *newReno) Cwnd() int     { return r.cwnd }
func (r *newReno) Ssthresh() int { return r.ssthresh }

func (r *newReno) SetMSS(mss int) {
	if mss <= 0 {
		return
	}
	r.cwnd = r.cwnd / r.mss * mss
	r.mss = mss
	r.cwnd = max(r.cwnd, mss)
}

// abcLimit is RFC 3465's L in segments: slow start grows cwnd by at most
// L·SMSS per ACK. RFC 5681 §3.1 eq. 2 (standards track) uses L = 1;
// RFC 3465 §2.2 (experimental) allows L = 2, which restores doubling per
// round trip behind a receiver's delayed ACKs. Measured on a 100 Mbit/s ×
// 20 ms path with a 128 KiB drop-tail queue (TestGoodputSlowStart), L = 2
// overshot twice as far (224 queue drops instead of 103 for 16 MiB,
// 82.8 instead of 87.7 Mbit/s) and let HyStart++ (hystart.go) see the
// queue too late, gaining only 3 Mbit/s on 1 MiB; L = 1 stays.
const abcLimit = 1

// OnAck grows the window: RFC 5681 §3.1, slow start by the bytes
// acknowledged, at most abcLimit·SMSS per ACK (Appropriate Byte Counting,
// RFC 3465 §2.2), a quarter of that in HyStart++'s CSS (RFC 9406 §4.2);
// congestion avoidance by about one MSS per RTT (eq. 3, counted in
// bytes, RFC 3465 §2.1).
func (r *newReno) OnAck(acked, inflight int, _ time.Duration) {
	if r.cwnd < r.ssthresh {
		// RFC 5681 §3.1: slow start ends at ssthresh; the rest of
		// this ACK is not counted twice.
		inc := r.hs.growth(min(acked, abcLimit*r.mss))
		r.cwnd = min(r.cwnd+inc, max(r.ssthresh, r.cwnd+r.mss))
		return
	}
	r.acc += acked
	if r.acc >= r.cwnd {
		r.acc -= r.cwnd
		r.cwnd += r.mss
	}
}

// OnLoss: RFC 5681 §3.2 steps 2 and 3: ssthresh = max(FlightSize/2,
// 2·SMSS) (eq. 4), cwnd = ssthresh + 3·SMSS.
func (r *newReno) OnLoss(inflight int) {
	r.ssthresh = max(inflight/2, 2*r.mss)
	r.cwnd = r.ssthresh + 3*r.mss
	r.acc = 0
	r.hs.stop()
}

// OnDupAck inflates the window by one MSS (RFC 5681 §3.2 step 4).
func (r *newReno) OnDupAck() { r.cwnd += r.mss }

// OnPartialAck deflates the window by the amount acknowledged and adds
// back one MSS (RFC 6582 §3.2 step 5).
func (r *newReno) OnPartialAck(acked int) {
	r.cwnd -= acked
	if acked >= r.mss {
		r.cwnd += r.mss
	}
	r.cwnd = max(r.cwnd, r.mss)
}

// OnRecoveryExit sets cwnd to min(ssthresh, FlightSize + SMSS) (RFC 6582
// §3.2 step 3, option 1).
func (r *newReno) OnRecoveryExit(inflight int) {
	r.cwnd = max(min(r.ssthresh, inflight+r.mss), r.mss)
}

// OnRTO: RFC 5681 §3.1 eq. 4 and "LW": ssthresh = max(FlightSize/2,
// 2·SMSS), cwnd = 1 SMSS.
func (r *newReno) OnRTO(inflight int) {
	r.ssthresh = max(inflight/2, 2*r.mss)
	r.cwnd = r.mss
	r.acc = 0
	r.hs.stop()
}

var (
	_ ccUndoer     = (*newReno)(nil)
	_ ecnResponder = (*newReno)(nil)
)

// saveUndo implements ccUndoer.
func (r *newReno) saveUndo() {
	r.undoCwnd, r.undoSsthresh, r.undoHyStart = r.cwnd, r.ssthresh, !r.hs.done
}

// undo implements ccUndoer: after a spurious fast retransmit or timeout
// (RFC 4015 §3), cwnd and ssthresh go back to their values before the
// reduction, never below their current ones, cwnd at most maxCwnd if
// given.
func (r *newReno) undo(maxCwnd int) {
	w := r.undoCwnd
	if maxCwnd > 0 {
		w = min(w, maxCwnd)
	}
	r.cwnd = max(r.cwnd, w)
	r.ssthresh = max(r.ssthresh, r.undoSsthresh)
	if r.undoHyStart {
		r.hs.resume()
	}
}

// onECE implements ecnResponder: RFC 3168 §6.1.2 treats the echo as a
// loss and halves cwnd, ssthresh with it; at least 2·SMSS as RFC 5681
// eq. 4, without fast recovery's inflation.
func (r *newReno) onECE(_ int) {
	r.ssthresh = max(r.cwnd/2, 2*r.mss)
	r.cwnd = r.ssthresh
	r.acc = 0
	r.hs.stop()
}
