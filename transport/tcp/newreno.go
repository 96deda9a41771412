package tcp

import "time"

// initialWindowSegments is RFC 6928's initial window: 10 segments.
const initialWindowSegments = 10

// newReno is RFC 5681's slow start and congestion avoidance with RFC
// 6582's NewReno fast recovery.
type newReno struct {
	mss      int
	cwnd     int
	ssthresh int
	acc      int // bytes acknowledged in congestion avoidance
}

// NewNewReno returns RFC 5681/6582 NewReno for a connection whose MSS is
// mss, with RFC 6928's initial window; it is registered as "newreno", the
// default, and is the base other algorithms can wrap.
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

// OnAck grows the window: RFC 5681 §3.1, slow start by at most one MSS
// per ACK (eq. 2, with Appropriate Byte Counting L = 1 SMSS), congestion
// avoidance by about one MSS per RTT (eq. 3, counted in bytes).
func (r *newReno) OnAck(acked, inflight int, _ time.Duration) {
	if r.cwnd < r.ssthresh {
		r.cwnd += min(acked, r.mss)
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
}
