package tcp

import (
	"time"

	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// Loss detection of NewReno recovery without SACK, from the duplicate
// ACKs.
//
// RFC 6582 repairs one hole per round trip and relies on the
// retransmission timer (RFC 6298) when a retransmission is lost again,
// or when a hole has too few segments behind it to draw three duplicate
// ACKs. With a 200 ms minimum RTO on a path of a few milliseconds every
// such loss costs hundreds of round trips, and the go-back-N after it
// (RFC 5681 §3.1, cwnd of one segment) is slow to recover. The duplicate
// ACKs say more than RFC 6582 takes from them, though: RFC 5681 §3.2
// (step 4) and RFC 6582 §3.2 (step 4) count each one as a segment that
// left the network (the window inflation of fast recovery is built on
// it), a segment the receiver holds beyond the hole. Two rules follow,
// documented extensions in the spirit of RFC 6675 and RFC 8985 for a
// sender that sees no scoreboard.
//
// Segments held beyond SND.UNA (renoState.held). A sender with SACK sees
// the segments the receiver holds beyond a hole, and RFC 6675 §5 step
// (2) starts loss recovery as soon as DupThresh of them are above
// SND.UNA (IsLost(HighACK + 1), §4), whatever the count of duplicate
// ACKs for the current SND.UNA: several may have been reported before
// SND.UNA reached the hole. RFC 5681 §2 counts duplicate ACKs per
// acknowledgment number, so a cumulative ACK that moves SND.UNA to the
// next hole restarts the count from zero although the segments beyond
// that hole, reported by the duplicate ACKs of the previous one, are
// still held. When the segment at the next hole was lost, which at a few
// percent of loss is common (new data sent in a recovery, lost, with the
// rest of the window behind it arriving while the previous hole was
// repaired), the duplicate ACKs for it are only those of the segments
// that had not yet arrived: none, one or two, and the retransmission
// timer repairs it. So ustack keeps, as Linux does for connections
// without SACK (its emulated SACK count), an estimate of the segments
// held beyond SND.UNA: each duplicate ACK adds one; a cumulative ACK of
// k segments takes off k − 1 (one segment filled the hole, the others
// were among those counted); it never exceeds the segments outstanding
// beyond SND.UNA. When it reaches DupThresh, the segment at SND.UNA is
// taken as lost and fast retransmit starts (RFC 6675 §5 step (2), the
// estimate standing in for the scoreboard), still under RFC 6582 §3.2
// step 1's rule: not while SND.UNA is below the previous recovery point.
//
// A duplicate ACK that reports no segment held is one drawn by a
// duplicate segment: a retransmission whose original had arrived, or an
// original that arrived after its retransmission. RFC 6582 §4.2 warns of
// those after a timeout, whose go-back-N resends segments the receiver
// may hold (its "careful" rule ignores duplicate ACKs below the
// timeout's recovery point; an ACK that jumps over it, the receiver
// holding the rest of the window, is still followed by the duplicate
// ACKs of the segments the go-back-N sent again). The estimate is
// cleared at a timeout and not fed until an ACK covers data sent after
// the timeout's last retransmission (the duplicates, sent before that
// data, arrived before it), or until the ACKs of those retransmissions
// are in (an RTO's time without its minimum, RFC 6298 §2.3, after the
// last of them). In fast recovery NewReno retransmits the head at every
// partial ACK (RFC 6582 §3.2 step 5), often a segment still in flight;
// such a retransmission is found unneeded as RFC 8985 §6.2 step 2 finds
// an ACK to be for the original transmission: it echoes a timestamp
// older than the retransmission (RFC 3522 §2), or it came sooner than
// the minimum RTT after it. Each one will draw a duplicate ACK that is
// not counted (renoState.bogus), here nor as evidence against a
// retransmission (below). An original that arrives after its
// retransmission cannot be told from the ACKs; it takes reordering by
// more than the DupThresh segments a fast retransmit waits for. The
// sender measures the reordering it sees (renoState.reoDeg, in segments:
// the duplicate ACKs a segment drew before it arrived without having
// been retransmitted, at least DupThresh for a fast retransmission found
// unneeded, as Linux measures its reordering degree), and stops trusting
// the estimate once it reaches DupThresh, falling back to RFC 5681's
// count per acknowledgment number. (Left in, those duplicates made the
// estimate grow with every spurious fast retransmit until it claimed the
// whole window held, and every retransmission was judged lost at once:
// measured, every segment of a transfer over a path reordering by 40
// segments sent twice.)
//
// Lost retransmissions (renoState.rxtLost). The segments outstanding
// when the head was retransmitted can produce at most as many duplicate
// ACKs as there are of them beyond the head, less those the receiver
// already holds (they reported themselves before); once more arrive than
// that, segments sent after the retransmission reached the receiver
// while the retransmission, ahead of them, did not. This is RACK's rule
// (RFC 8985 §2: a segment is lost when one sent after it was delivered,
// allowing for some reordering) applied to what a connection without
// SACK can see. The reordering allowance is RACK's too (RFC 8985 §6.2
// step 4): in recovery, no reordering window until the connection has
// seen reordering (one duplicate ACK beyond the bound is enough), and
// once it has, RFC 5681 §3.2's DupThresh (three), the allowance RFC 8985
// keeps for a sender that cannot measure a window in time. Without SACK,
// reordering shows as a segment that duplicate ACKs reported missing and
// that then arrived without having been retransmitted, or as a fast
// retransmission found unneeded (RFC 8985 §6.2 step 2's
// RACK.reordering_seen; reoDeg above). The retransmission is sent again
// without a second window reduction: RFC 6582 §3.2 step 1 reduces once
// per window of data, and the loss of a retransmission belongs to the
// window being recovered. When nothing new could be sent after the
// retransmission (no data, or the receive window is closed) the
// duplicate ACKs cannot exceed the bound and the retransmission timer
// remains the last resort (RFC 6298 §5).
//
// Dividing bytes by the MSS undercounts segments only when some were
// smaller than it, which bulk transfers do not send; segments or
// duplicate ACKs lost on the way only make the estimates smaller and
// delay a verdict; the price of a mistake is one spurious
// retransmission, or a fast retransmit where the timer would have fired.

// renoState is the loss detection state of NewReno recovery without
// SACK (see above), in endpointRecovery.
type renoState struct {
	// rxtLost is the duplicate ACK count at which the latest
	// retransmission of the head is taken as lost, 0 for none.
	rxtLost int
	// held is the estimate of the segments the receiver holds beyond
	// SND.UNA.
	held int
	// bogus is the number of duplicate ACKs still expected from
	// retransmissions found unneeded.
	bogus int
	// reoDeg is the largest reordering seen, in segments (0: none).
	reoDeg int
	// goBack: duplicate ACKs may still come from the retransmissions
	// after a timeout, the latest sent at goBackAt while SND.MAX was
	// goBackEnd.
	goBack    bool
	goBackEnd seqnum.Value
	goBackAt  tcpip.MonotonicTime
	// dups is the number of duplicate ACKs of the current SND.UNA
	// counted in held.
	dups int
	// The retransmissions of the head in fast recovery: rxtN of the
	// segment at rxtSeq, the latest at rxtAt with timestamp rxtTS; the
	// first a fast retransmit if rxtFast.
	rxtN    int
	rxtSeq  seqnum.Value
	rxtAt   tcpip.MonotonicTime
	rxtTS   uint32
	rxtFast bool
	// minRTT is the least RTT sample, 0 before any (RFC 8985
	// RACK.min_RTT).
	minRTT time.Duration
}

// renoArmLostRxtLocked records, after a retransmission of the head in
// NewReno recovery without SACK (fast retransmit, partial ACK, or a
// retransmission found lost), the duplicate ACK count beyond which that
// retransmission is taken as lost; dups is the count the next duplicate
// ACK adds to.
func (e *endpoint) renoArmLostRxtLocked(dups int) {
	if e.sackOK || e.sndMSS <= 0 {
		return
	}
	beyond := (int(e.rexmitNext.Size(e.sndMax)) + e.sndMSS - 1) / e.sndMSS
	// The segments beyond the head that the receiver holds already
	// send no more duplicate ACKs: those still to come from the
	// segments outstanding are beyond − held. Without the estimate, the
	// duplicate ACKs counted so far stand for the segments held.
	held := e.reno.held
	if !e.renoHeldTrustedLocked() {
		held = dups
	}
	e.reno.rxtLost = dups + max(beyond-held, 0) + e.renoReoAllowanceLocked()
}

// renoReoAllowanceLocked is the number of duplicate ACKs beyond those
// the segments outstanding before a retransmission can produce that
// shows the retransmission lost: RFC 8985 §6.2 step 4 uses no
// reordering window in recovery until reordering has been seen (a
// single segment sent after the retransmission and delivered shows it
// lost), DupThresh segments once it has.
func (e *endpoint) renoReoAllowanceLocked() int {
	if e.reno.reoDeg > 0 {
		return sackDupThresh
	}
	return 1
}

// renoHeldTrustedLocked reports whether the estimate of the segments held
// is used: not once reordering by DupThresh segments was seen (see
// above).
func (e *endpoint) renoHeldTrustedLocked() bool {
	return e.reno.reoDeg < sackDupThresh
}

// renoLostRxtLocked checks, at a duplicate ACK in NewReno recovery
// without SACK, whether the latest retransmission of the head was lost,
// and sends it again if so.
func (e *endpoint) renoLostRxtLocked() {
	if e.sackOK || e.reno.rxtLost == 0 || e.dupAcks < e.reno.rxtLost {
		return
	}
	// RFC 8985 §2 (see above): segments sent after the retransmission
	// were delivered. RFC 6298 §5.3: the timer keeps running; an ACK of
	// new data restarts it.
	e.retransmitHeadLocked()
	e.renoArmLostRxtLocked(e.dupAcks)
}

// renoOnRxtHeadLocked records a retransmission of the head in fast
// recovery without SACK (retransmitHeadLocked).
func (e *endpoint) renoOnRxtHeadLocked() {
	r := &e.reno
	if r.rxtN == 0 || r.rxtSeq != e.sndUna {
		r.rxtN, r.rxtSeq, r.rxtFast = 0, e.sndUna, false
	}
	r.rxtN++
	r.rxtAt = e.nowLocked()
	r.rxtTS = e.tsNowLocked()
}

// renoOnAckLocked updates the state at an ACK of new data without SACK,
// before SND.UNA moves to g.ack (acked bytes on): the verdict on the
// head's retransmissions, reordering, and the estimate of the segments
// held.
func (e *endpoint) renoOnAckLocked(g *segment, acked int, now tcpip.MonotonicTime) {
	if e.sackOK || e.sndMSS <= 0 {
		return
	}
	r := &e.reno
	if r.rxtN > 0 {
		// RFC 8985 §6.2 step 2: an ACK of the retransmitted head that
		// echoes a timestamp older than the retransmission (RFC 3522
		// §2), or that came sooner than the minimum RTT after it, is
		// for an earlier transmission: the retransmissions were not
		// needed, and each will draw a duplicate ACK. A fast
		// retransmission not needed shows the original delivered after
		// DupThresh segments sent later (RACK.reordering_seen), unless
		// the duplicate ACKs that started it may have been drawn by a
		// timeout's retransmissions.
		early := r.minRTT > 0 && now.Sub(r.rxtAt) < r.minRTT
		echo := e.tsOK && g.opts.HasTimestamps && g.opts.TSEcr != 0 && int32(g.opts.TSEcr-r.rxtTS) < 0
		if early || echo {
			r.bogus = min(r.bogus+r.rxtN, e.renoOutstandingLocked(0))
			if r.rxtFast {
				r.reoDeg = max(r.reoDeg, sackDupThresh)
			}
		}
		r.rxtN = 0
	}
	// RFC 8985 §6.2 step 2 (RACK.reordering_seen): duplicate ACKs said
	// the segment at SND.UNA was missing, and it arrived without having
	// been retransmitted (no fast recovery, no timeout, not the
	// go-back-N after one): it was delivered after as many segments
	// sent later.
	if r.dups > 0 && !e.inRecovery && e.retries == 0 {
		r.reoDeg = max(r.reoDeg, r.dups)
	}
	r.dups = 0
	// One segment filled the hole, the others were held.
	if r.held > 0 {
		k := (acked + e.sndMSS - 1) / e.sndMSS
		r.held = max(0, min(r.held-(k-1), e.renoOutstandingLocked(acked)-1))
	}
}

// renoOnSampleLocked takes an RTT sample for the minimum RTT.
func (e *endpoint) renoOnSampleLocked(sample time.Duration) {
	if !e.sackOK && sample > 0 && (e.reno.minRTT == 0 || sample < e.reno.minRTT) {
		e.reno.minRTT = sample
	}
}

// renoOnDupAckLocked counts a duplicate ACK without SACK: one more
// segment beyond SND.UNA reached the receiver, unless the ACK may have
// been drawn by a duplicate segment (see above).
func (e *endpoint) renoOnDupAckLocked() {
	if e.sackOK {
		return
	}
	r := &e.reno
	if e.renoGoBackLocked() {
		return
	}
	if r.bogus > 0 {
		// A duplicate segment's: no segment held, and no segment sent
		// after the head's latest retransmission either (above).
		r.bogus--
		if r.rxtLost > 0 {
			r.rxtLost++
		}
		return
	}
	if !e.renoHeldTrustedLocked() {
		return
	}
	r.dups++
	r.held = min(r.held+1, e.renoOutstandingLocked(0)-1)
}

// renoOnTimeoutLocked resets the state at a retransmission timeout: the
// go-back-N starts (RFC 6582 §4.2, see above).
func (e *endpoint) renoOnTimeoutLocked() {
	r := &e.reno
	r.held, r.bogus, r.rxtN, r.dups = 0, 0, 0, 0
	r.goBack, r.goBackEnd, r.goBackAt = true, e.sndMax, e.nowLocked()
}

// renoOnRetransmitLocked notes a retransmission sent (by any path) for
// the end of the go-back-N after a timeout.
func (e *endpoint) renoOnRetransmitLocked() {
	if e.reno.goBack {
		e.reno.goBackEnd, e.reno.goBackAt = e.sndMax, e.nowLocked()
	}
}

// renoGoBackLocked reports whether duplicate ACKs may come from the
// retransmissions after a timeout (RFC 6582 §4.2: they resend segments
// the receiver may hold already): until an ACK covers data sent after
// the latest of them (the duplicates, sent before that data, reached the
// receiver before it), or until their ACKs are in: srtt + 4·rttvar after
// the latest (RFC 6298 §2.3's RTO without the minimum of §2.4).
func (e *endpoint) renoGoBackLocked() bool {
	r := &e.reno
	if !r.goBack {
		return false
	}
	if e.sndUna.GreaterThan(r.goBackEnd) ||
		(e.rtt.valid && e.nowLocked().Sub(r.goBackAt) > e.rtt.srtt+4*e.rtt.rttvar) {
		r.goBack = false
	}
	return r.goBack
}

// renoOutstandingLocked is the number of segments outstanding once
// acked more bytes are acknowledged.
func (e *endpoint) renoOutstandingLocked(acked int) int {
	if e.sndMSS <= 0 {
		return 0
	}
	return max(0, (int(e.sndUna.Size(e.sndMax))-acked+e.sndMSS-1)/e.sndMSS)
}

// renoHeldLostLocked reports whether, without SACK, DupThresh segments
// beyond SND.UNA are held by the receiver: RFC 6675 §5 step (2)'s
// IsLost(HighACK + 1) on the estimate above.
func (e *endpoint) renoHeldLostLocked() bool {
	return !e.sackOK && e.renoHeldTrustedLocked() && e.reno.held >= sackDupThresh && e.sndUna != e.sndMax
}

// renoFastRetransmitDueLocked reports whether, outside recovery without
// SACK, a duplicate ACK starts fast retransmit: RFC 5681 §3.2 step 2's
// third duplicate ACK, or DupThresh segments held beyond SND.UNA.
func (e *endpoint) renoFastRetransmitDueLocked() bool {
	return e.dupAcks == sackDupThresh || e.renoHeldLostLocked()
}
