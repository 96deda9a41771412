package tcp

import (
	"math"
	"time"

	"github.com/ustack-go/ustack/seqnum"
)

// CUBIC (RFC 9438) grows the window as a cubic function of the time since
// the last congestion event, centred on W_max, the window where that
// event happened: fast far below W_max (concave region), flat near it,
// fast again above it (convex region). A Reno estimate (W_est) keeps it
// at least as fast as Reno where Reno would be faster.
//
// # Units
//
// The CongestionControl interface counts bytes, so every window here is
// in bytes, as float64 to keep the fractional growth of each ACK. RFC
// 9438's formulas are in segments; the cubic term C·(t−K)³ is in segments
// and is multiplied by the MSS where it meets a byte window.
//
// # Time
//
// The interface gives the algorithm no clock (and STYLE.md forbids the
// wall clock), so t, the time since the start of the congestion-avoidance
// stage (RFC 9438 §4.2), is counted by ACKs: each ACK of acked bytes
// advances t by srtt·acked/cwnd. A window's worth of ACKs arrives per
// round trip while the flow is window-limited, so t follows real time
// there; while the application keeps the window from filling, t advances
// more slowly, which keeps the window from jumping after an idle or
// application-limited period (RFC 9438 §5.8).
//
// # Overflow safety
//
// All of the arithmetic is float64 on clamped inputs, so it is the same
// on 32- and 64-bit platforms and cannot overflow, divide by zero or make
// NaN or ±Inf:
//
//   - MSS in [1, cubicMaxMSS]; acked and inflight in [0, cubicMaxWindow];
//     RTT in [0, cubicMaxRTT] (negative counts as 0).
//   - Every window (cwnd, ssthresh, W_max, W_est, cwnd_prior) in
//     [0, cubicMaxWindow] = 2^30 bytes; cwnd at least one MSS; divisions
//     are by cwnd or the MSS, both ≥ 1.
//   - t in [0, cubicMaxElapsed] (about 31 years; a NaN step is ignored),
//     so |t−K|³·C·MSS ≤ (1e9)³·0.4·65535 ≈ 3e31, far from float64's 1e308;
//     K ≤ ∛(2^30/0.4) ≈ 1390 s.
//   - Results are clamped to [MSS, cubicMaxWindow] before conversion to
//     int, so Cwnd and Ssthresh are in [1, 2^30] on any platform.
const (
	// cubicC is RFC 9438 §4.1.1's C, in segments/s³.
	cubicC = 0.4
	// cubicBeta is RFC 9438 §4.1.1's β_cubic, the multiplicative
	// decrease factor.
	cubicBeta = 0.7
	// cubicAlpha is RFC 9438 §4.3's α_cubic = 3(1−β)/(1+β) ≈ 0.529: the
	// additive increase that makes an AIMD(α, β) flow as fast as Reno.
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)

	// cubicMaxWindow bounds every window (bytes).
	cubicMaxWindow = 1 << 30
	// cubicMaxMSS bounds the MSS (bytes); TCP's MSS option is 16 bits.
	cubicMaxMSS = 1<<16 - 1
	// cubicMaxRTT bounds the RTT used (an hour; RFC 6298's RTO is at
	// most 120 s here, so real RTTs are far below).
	cubicMaxRTT = time.Hour
	// cubicMaxElapsed bounds t, in seconds (about 31.7 years).
	cubicMaxElapsed = 1e9
)

// cubic is RFC 9438's state. Windows are bytes (see the units above).
type cubic struct {
	mss      float64 // in [1, cubicMaxMSS]
	cwnd     float64 // in [mss, cubicMaxWindow]
	ssthresh float64 // in [2·mss, cubicMaxWindow] once set

	// RFC 9438 §4.1.2's variables.
	wMax      float64 // W_max: the window before the last reduction (0: none yet)
	cwndPrior float64 // cwnd_prior: cwnd when ssthresh was last set
	wEst      float64 // W_est: the Reno-friendly estimate
	k         float64 // K, seconds
	t         float64 // seconds since the epoch's start (ACK-clocked)
	epoch     bool    // a congestion-avoidance stage is running (t, K valid)
	afterRTO  bool    // the next stage follows a timeout (RFC 9438 §4.8)

	hs hystart

	// prior is the state before the last reduction (RFC 9438 §4.9),
	// for undo (undo.go).
	prior cubicPrior
}

// cubicPrior is what RFC 9438 §4.9 restores after a spurious congestion
// event: cwnd, ssthresh, cwnd_prior, W_max, K, the epoch (t and whether
// it runs), W_est, and whether the stage follows a timeout.
type cubicPrior struct {
	cwnd, ssthresh, cwndPrior, wMax, wEst, k, t float64
	epoch, afterRTO                             bool
	hyStart                                     bool // HyStart++ was still on
}

var _ roundObserver = (*cubic)(nil)

func init() {
	RegisterCongestionControl("cubic", NewCubic)
}

// NewCubic returns CUBIC (RFC 9438) for a connection whose MSS is mss,
// with RFC 6928's initial window and HyStart++ (RFC 9406) in the initial
// slow start (RFC 9438 §4.10). It is registered as "cubic"; select it per
// endpoint with tcpip.CongestionControlOption("cubic"). Fast recovery's
// bookkeeping stays the connection's, as for NewReno. Spurious congestion
// events (RFC 9438 §4.9) are undone through the connection's detectors
// (D-SACK, Eifel, F-RTO: undo.go).
func NewCubic(mss int) CongestionControl {
	m := cubicClampMSS(mss)
	return &cubic{
		mss:  m,
		cwnd: cubicClamp(initialWindowSegments*m, m),
		// RFC 9438 §4.10, RFC 5681 §3.1: ssthresh starts
		// arbitrarily high.
		ssthresh: cubicMaxWindow,
	}
}

// cubicClampMSS takes an MSS into [1, cubicMaxMSS].
func cubicClampMSS(mss int) float64 {
	return float64(min(max(mss, 1), cubicMaxMSS))
}

// cubicClamp takes a window into [lo, cubicMaxWindow]; NaN gives lo.
func cubicClamp(w, lo float64) float64 {
	if !(w >= lo) { // also NaN
		return lo
	}
	return min(w, cubicMaxWindow)
}

// cubicBytes takes a count from the connection into [0, cubicMaxWindow].
func cubicBytes(n int) float64 {
	return float64(min(max(n, 0), cubicMaxWindow))
}

// cubicK is RFC 9438 §4.2 Figure 2: K = ∛((W_max − cwnd_epoch)/C), the
// time the cubic function takes to climb from cwnd_epoch back to W_max.
// Windows are bytes, so the difference is divided by the MSS. A
// cwnd_epoch at or above W_max gives K = 0 (the convex region from the
// start).
func cubicK(wMax, cwndEpoch, mss float64) float64 {
	d := (wMax - cwndEpoch) / mss
	if !(d > 0) {
		return 0
	}
	return math.Cbrt(min(d, cubicMaxWindow) / cubicC)
}

// cubicW is RFC 9438 §4.2 Figure 1, W_cubic(t) = C·(t−K)³ + W_max, in
// bytes, clamped to [0, cubicMaxWindow].
func cubicW(t, k, wMax, mss float64) float64 {
	d := min(max(t, 0), cubicMaxElapsed) - k
	return cubicClamp(cubicC*d*d*d*mss+wMax, 0)
}

func (c *cubic) Name() string  { return "cubic" }
func (c *cubic) Cwnd() int     { return int(cubicClamp(c.cwnd, c.mss)) }
func (c *cubic) Ssthresh() int { return int(cubicClamp(c.ssthresh, c.mss)) }

// SetMSS rescales the windows to the new MSS, so that they keep their
// size in segments, and restarts the congestion-avoidance epoch (K
// depends on the MSS).
func (c *cubic) SetMSS(mss int) {
	if mss <= 0 {
		return
	}
	m := cubicClampMSS(mss)
	f := m / c.mss
	c.cwnd = cubicClamp(c.cwnd*f, m)
	c.wMax = cubicClamp(c.wMax*f, 0)
	c.cwndPrior = cubicClamp(c.cwndPrior*f, 0)
	c.mss = m
	c.epoch = false
}

// onRoundAck implements roundObserver: HyStart++ during the initial slow
// start (RFC 9438 §4.10 recommends RFC 9406).
func (c *cubic) onRoundAck(ack, sndMax seqnum.Value, sample time.Duration) {
	if c.cwnd >= c.ssthresh {
		return
	}
	c.hs.onAck(ack, sndMax, sample)
	if c.hs.exitToCA {
		// RFC 9406 §4.2: CSS over, ssthresh = cwnd.
		c.hs.exitToCA = false
		c.ssthresh = c.cwnd
	}
}

// OnAck grows the window: slow start below ssthresh, as NewReno's
// (RFC 9438 §4.10, RFC 5681 §3.1 with RFC 3465 byte counting and
// HyStart++'s CSS); congestion avoidance by RFC 9438 §4.2–§4.5 above it.
func (c *cubic) OnAck(acked, inflight int, rtt time.Duration) {
	_ = inflight
	a := cubicBytes(acked)
	if a == 0 {
		return
	}
	if c.cwnd < c.ssthresh {
		inc := float64(c.hs.growth(int(min(a, abcLimit*c.mss))))
		c.cwnd = cubicClamp(min(c.cwnd+inc, max(c.ssthresh, c.cwnd+c.mss)), c.mss)
		return
	}
	r := min(max(rtt, 0), cubicMaxRTT).Seconds()
	// Time by ACK clocking (see the package comment on time): a
	// window of ACKs is a round trip.
	c.avoid(a, r, r*a/c.cwnd)
}

// avoid is congestion avoidance for an ACK of a bytes with smoothed RTT
// r seconds, advancing t by dt seconds. It is OnAck's core, apart so that
// tests can drive t directly (jumps of years, zero, NaN).
func (c *cubic) avoid(a, r, dt float64) {
	if !c.epoch {
		c.startEpoch()
	}
	if dt > 0 { // also not NaN
		c.t = min(c.t+dt, cubicMaxElapsed)
	}
	// RFC 9438 §4.3: W_est grows by α_cubic segments per window of
	// ACKs: W_est += α·segments_acked/cwnd, in bytes α·a·MSS/cwnd.
	// Once W_est reaches cwnd_prior, α_cubic becomes 1 (Reno's
	// increase, as Reno would have by then recovered its window).
	alpha := cubicAlpha
	if c.wEst >= c.cwndPrior {
		alpha = 1
	}
	c.wEst = cubicClamp(c.wEst+alpha*a*c.mss/c.cwnd, 0)
	// RFC 9438 §4.3: while W_cubic(t) is below W_est, the flow is in
	// the Reno-friendly region: cwnd = W_est.
	if cubicW(c.t, c.k, c.wMax, c.mss) < c.wEst {
		c.cwnd = cubicClamp(max(c.cwnd, c.wEst), c.mss)
		return
	}
	// RFC 9438 §4.2: target = W_cubic(t+RTT), at least cwnd and at
	// most 1.5·cwnd. §4.4 (concave, cwnd < W_max) and §4.5 (convex,
	// cwnd ≥ W_max) both grow cwnd by (target − cwnd)/cwnd per
	// segment acknowledged: in bytes, (target − cwnd)·a/cwnd.
	target := cubicW(c.t+r, c.k, c.wMax, c.mss)
	target = min(max(target, c.cwnd), 1.5*c.cwnd)
	c.cwnd = cubicClamp(c.cwnd+(target-c.cwnd)*a/c.cwnd, c.mss)
}

// startEpoch begins a congestion-avoidance stage (RFC 9438 §4.2): t = 0,
// cwnd_epoch = cwnd, K from W_max, W_est = cwnd_epoch (§4.3). After a
// timeout (§4.8), or when no congestion event has set W_max above the
// window (slow start left by HyStart++ or at ssthresh), K = 0 and W_max =
// cwnd_epoch: the cubic function starts in its convex region.
func (c *cubic) startEpoch() {
	c.epoch = true
	c.t = 0
	if c.afterRTO || c.wMax <= c.cwnd {
		c.wMax = c.cwnd
		c.afterRTO = false
	}
	c.k = cubicK(c.wMax, c.cwnd, c.mss)
	c.wEst = c.cwnd
}

// reduce is RFC 9438 §4.6 and §4.7, at a congestion event with inflight
// bytes outstanding: W_max with fast convergence, cwnd_prior, and
// ssthresh = max(flight_size·β_cubic, 2·SMSS).
func (c *cubic) reduce(inflight int) {
	// §4.7: a window below the previous W_max means the flow's share
	// is falling (a new flow joined): release more by remembering a
	// lower W_max, cwnd·(1+β)/2.
	if c.cwnd < c.wMax {
		c.wMax = c.cwnd * (1 + cubicBeta) / 2
	} else {
		c.wMax = c.cwnd
	}
	// §4.6: cwnd_prior = cwnd; ssthresh from the flight size (the
	// RFC's choice; with cwnd instead, an application-limited flow's
	// ssthresh would exceed what it had in flight).
	c.cwndPrior = c.cwnd
	c.ssthresh = cubicClamp(cubicBytes(inflight)*cubicBeta, 2*c.mss)
	c.epoch = false
	c.hs.stop()
}

// OnLoss: RFC 9438 §4.6 multiplicative decrease, then cwnd = ssthresh +
// 3·SMSS: the connection's fast recovery is RFC 5681 §3.2/RFC 6582's,
// with window inflation (OnDupAck) and deflation (OnRecoveryExit), as
// for NewReno.
func (c *cubic) OnLoss(inflight int) {
	c.reduce(inflight)
	c.afterRTO = false
	c.cwnd = cubicClamp(c.ssthresh+3*c.mss, c.mss)
}

// OnDupAck inflates the window by one MSS (RFC 5681 §3.2 step 4).
func (c *cubic) OnDupAck() { c.cwnd = cubicClamp(c.cwnd+c.mss, c.mss) }

// OnPartialAck deflates the window by the amount acknowledged and adds
// back one MSS (RFC 6582 §3.2 step 5).
func (c *cubic) OnPartialAck(acked int) {
	a := cubicBytes(acked)
	w := c.cwnd - a
	if a >= c.mss {
		w += c.mss
	}
	c.cwnd = cubicClamp(w, c.mss)
}

// OnRecoveryExit sets cwnd to min(ssthresh, FlightSize + SMSS) (RFC 6582
// §3.2 step 3, option 1); the next ACK starts the congestion-avoidance
// stage (RFC 9438 §4.2), or slow start back to ssthresh if the flight
// was small.
func (c *cubic) OnRecoveryExit(inflight int) {
	c.cwnd = cubicClamp(min(c.ssthresh, cubicBytes(inflight)+c.mss), c.mss)
	c.epoch = false
}

// OnRTO: RFC 9438 §4.8: Reno's response to a timeout (RFC 5681 §3.1,
// cwnd = 1 SMSS) but ssthresh by β_cubic as in §4.6; the first
// congestion-avoidance stage after it uses K = 0 and W_max = the window at
// its start (startEpoch).
func (c *cubic) OnRTO(inflight int) {
	c.reduce(inflight)
	c.afterRTO = true
	c.cwnd = c.mss
}

var (
	_ ccUndoer     = (*cubic)(nil)
	_ ecnResponder = (*cubic)(nil)
)

// saveUndo implements ccUndoer: RFC 9438 §4.9 lets CUBIC keep its
// variables as they were before a congestion event, to restore them if
// the event proves spurious.
func (c *cubic) saveUndo() {
	c.prior = cubicPrior{
		cwnd: c.cwnd, ssthresh: c.ssthresh, cwndPrior: c.cwndPrior,
		wMax: c.wMax, wEst: c.wEst, k: c.k, t: c.t,
		epoch: c.epoch, afterRTO: c.afterRTO, hyStart: !c.hs.done,
	}
}

// undo implements ccUndoer: RFC 9438 §4.9, the variables saved before
// the spurious event come back: W_max, K, cwnd_prior, W_est and the
// epoch (its t as it was: the ACK-clocked time of the reduction's round
// trips is not counted, a small underestimate of t), ssthresh never
// below its current value, cwnd never below its current value and at
// most maxCwnd if given. While cwnd is below the restored ssthresh,
// slow start brings it back (RFC 9438 §4.10); the epoch's cubic function
// resumes after.
func (c *cubic) undo(maxCwnd int) {
	p := c.prior
	if p.cwnd == 0 {
		return // nothing saved
	}
	w := p.cwnd
	if maxCwnd > 0 {
		w = min(w, cubicBytes(maxCwnd))
	}
	c.cwnd = cubicClamp(max(c.cwnd, w), c.mss)
	c.ssthresh = cubicClamp(max(c.ssthresh, p.ssthresh), 2*c.mss)
	c.cwndPrior, c.wMax, c.wEst, c.k, c.t = p.cwndPrior, p.wMax, p.wEst, p.k, p.t
	c.epoch, c.afterRTO = p.epoch, p.afterRTO
	if p.hyStart {
		c.hs.resume()
	}
}

// onECE implements ecnResponder: RFC 9438 §4.6, the multiplicative
// decrease of a congestion event, here without fast recovery (RFC 3168
// §6.1.2: nothing is retransmitted): cwnd = ssthresh = max(flight_size ·
// β_cubic, 2·SMSS). A mark is no retransmission: no detector can find
// it spurious, and the connection disarms any pending undo (ecn.go).
func (c *cubic) onECE(inflight int) {
	c.reduce(inflight)
	c.afterRTO = false
	c.cwnd = cubicClamp(c.ssthresh, c.mss)
}
