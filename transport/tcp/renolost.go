package tcp

// Lost retransmissions in NewReno recovery without SACK.
//
// RFC 6582 repairs one hole per round trip and relies on the
// retransmission timer (RFC 6298) when a retransmission is lost again:
// the duplicate ACKs keep coming, each one acknowledging nothing new.
// With a 200 ms minimum RTO on a path of a few milliseconds every such
// loss costs hundreds of round trips, and the go-back-N after it (RFC
// 5681 §3.1, cwnd of one segment) is slow to recover.
//
// The duplicate ACKs say more than that, though. RFC 5681 §3.2 (step 4)
// and RFC 6582 §3.2 (step 4) count each duplicate ACK as one segment
// that left the network; the window inflation of fast recovery is built
// on it. The segments outstanding when the retransmission went out can
// produce at most as many duplicate ACKs as there are of them beyond the
// retransmitted one, less those the receiver already holds (renoHeld,
// below: they reported themselves before); once more arrive than that,
// segments sent after the retransmission reached the receiver while the
// retransmission, ahead of them, did not. This is RACK's rule (RFC 8985
// §2: a segment is lost when one sent after it was delivered, allowing
// for some reordering) applied to what a connection without SACK can
// see. The reordering allowance is RACK's too (RFC 8985 §6.2 step 4): in
// recovery, no reordering window until the connection has seen
// reordering (one duplicate ACK beyond the bound is enough), and once it
// has, RFC 5681 §3.2's DupThresh (three), the allowance RFC 8985 keeps
// for a sender that cannot measure a reordering window in time. Without
// SACK, reordering shows as a segment that duplicate ACKs reported
// missing and that then arrived without having been retransmitted (RFC
// 8985 §6.2 step 2's RACK.reordering_seen; renoReorderOnAckLocked).
// Dividing bytes by the MSS undercounts segments only when some were
// smaller than it, which bulk transfers do not send; segments or
// duplicate ACKs lost on the way only delay the verdict; the price of a
// mistake is one spurious retransmission.
//
// The retransmission is sent again without a second window reduction:
// RFC 6582 §3.2 step 1 reduces once per window of data, and the loss of
// a retransmission belongs to the window being recovered. When nothing
// new could be sent after the retransmission (no data, or the receive
// window is closed) the duplicate ACKs cannot exceed the bound and the
// retransmission timer remains the last resort (RFC 6298 §5).

// renoArmLostRxtLocked records, after a retransmission of the head in
// NewReno recovery without SACK (fast retransmit or partial ACK), the
// duplicate ACK count beyond which that retransmission is taken as lost;
// dups is the count the next duplicate ACK adds to (those already
// received were for segments beyond the head).
func (e *endpoint) renoArmLostRxtLocked(dups int) {
	if e.sackOK || e.sndMSS <= 0 {
		return
	}
	beyond := (int(e.rexmitNext.Size(e.sndMax)) + e.sndMSS - 1) / e.sndMSS
	// The segments beyond the head that the receiver holds already
	// (renoHeld, below) send no more duplicate ACKs: those still to
	// come from the segments outstanding are beyond − renoHeld.
	e.renoRxtLost = dups + max(beyond-e.renoHeld, 0) + e.renoReoAllowanceLocked()
}

// renoReoAllowanceLocked is the number of duplicate ACKs beyond those
// the segments outstanding before a retransmission can produce that
// shows the retransmission lost: RFC 8985 §6.2 step 4 uses no
// reordering window in recovery until reordering has been seen (a
// single segment sent after the retransmission and delivered shows it
// lost), DupThresh segments once it has (RFC 8985 §6.2 keeps DupThresh
// as the allowance of a connection that cannot measure a window in
// time).
func (e *endpoint) renoReoAllowanceLocked() int {
	if e.renoReord {
		return sackDupThresh
	}
	return 1
}

// renoReorderOnAckLocked records, at an ACK of new data without SACK
// (before SND.UNA moves), whether it shows reordering (RFC 8985 §6.2
// step 2, RACK.reordering_seen): duplicate ACKs said the segment at
// SND.UNA was missing, and it arrived without having been retransmitted
// (no fast recovery, no timeout, not the go-back-N after one), so it
// was delivered after segments sent later.
func (e *endpoint) renoReorderOnAckLocked() {
	if e.sackOK || e.renoReord || e.dupAcks == 0 || e.inRecovery || e.retries > 0 ||
		e.renoGoBackLocked() {
		return
	}
	e.renoReord = true
}

// renoLostRxtLocked checks, at a duplicate ACK in NewReno recovery
// without SACK, whether the latest retransmission of the head was lost,
// and sends it again if so.
func (e *endpoint) renoLostRxtLocked() {
	if e.sackOK || e.renoRxtLost == 0 || e.dupAcks < e.renoRxtLost {
		return
	}
	// RFC 8985 §2 (see above): segments sent after the retransmission
	// were delivered. RFC 6298 §5.3: the timer keeps running; an ACK of
	// new data restarts it.
	e.retransmitHeadLocked()
	e.renoArmLostRxtLocked(e.dupAcks)
}

// Segments held beyond SND.UNA without SACK.
//
// A sender with SACK sees the segments the receiver holds beyond a hole,
// and RFC 6675 §5 step (2) starts loss recovery as soon as DupThresh of
// them are above SND.UNA (IsLost(HighACK + 1), §4), whatever the count
// of duplicate ACKs for the current SND.UNA: several of them may have
// been reported before SND.UNA reached the hole. Without SACK the
// duplicate ACKs are the only report, one per segment that arrived out
// of order (RFC 5681 §3.2 step 4 and RFC 6582 §3.2 step 4 count them so
// for the window inflation), and RFC 5681 §2 counts them per
// acknowledgment number: a cumulative ACK that moves SND.UNA to the
// next hole restarts the count from zero, although the segments beyond
// that hole, reported by the duplicate ACKs of the previous one, are
// still held. When the segment at the next hole was lost, which at a
// few percent of loss is common, the duplicate ACKs for it are only
// those of segments that had not yet arrived: after a recovery that
// repaired one hole with the receiver holding the rest of the window,
// none or one or two, and the retransmission timer repairs it (RFC
// 6298 §5) after 200 round trips of a short path.
//
// So ustack keeps, as Linux does for connections without SACK (its
// emulated SACK count), an estimate of the segments held beyond
// SND.UNA: each duplicate ACK adds one; a cumulative ACK of k segments
// takes off k − 1 (one segment filled the hole, the others were among
// those counted); the estimate never exceeds the segments outstanding
// beyond SND.UNA. Lost duplicate ACKs only make it smaller. When it
// reaches DupThresh beyond a new SND.UNA, the segment there is taken as
// lost and fast retransmit starts (RFC 6675 §5 step (2) with this
// estimate standing in for the scoreboard), still under RFC 6582 §3.2
// step 1's rule: not while SND.UNA is below the previous recovery point.
// A duplicate ACK drawn by an unnecessary retransmission (one whose
// original had arrived) adds one too many; the estimate is cleared at a
// timeout and not fed during the go-back-N that follows it (RFC 6582
// §4.2: duplicate ACKs after a timeout may come from the retransmission
// of segments the receiver already held), and DupThresh of such
// mistakes would be needed for a spurious fast retransmit.

// renoHeldOnDupAckLocked counts a duplicate ACK without SACK: one more
// segment beyond SND.UNA reached the receiver.
func (e *endpoint) renoHeldOnDupAckLocked() {
	if e.sackOK {
		return
	}
	if e.renoGoBackLocked() {
		// RFC 6582 §4.2: the go-back-N after a timeout; see above.
		return
	}
	e.renoHeld = min(e.renoHeld+1, e.renoOutstandingLocked(0)-1)
}

// renoGoBackLocked reports whether duplicate ACKs may come from the
// retransmissions after a timeout (RFC 6582 §4.2: they resend segments
// the receiver may hold already): until an ACK covers data sent after
// the latest of them (the duplicates, sent before that data, reached the
// receiver before it). RFC 6582 §3.2 step 1 lets a fast retransmit start
// once the ACK reaches the timeout's recovery point; F-RTO (RFC 5682)
// may have sent new data beyond that point before the go-back-N, so the
// estimate waits for data sent after the last retransmission instead.
func (e *endpoint) renoGoBackLocked() bool {
	if e.renoGoBack && e.sndUna.GreaterThan(e.renoGoBackEnd) {
		e.renoGoBack = false
	}
	return e.renoGoBack
}

// renoHeldOnAckLocked updates the estimate for a cumulative ACK of acked
// bytes (before SND.UNA moves).
func (e *endpoint) renoHeldOnAckLocked(acked int) {
	if e.sackOK || e.renoHeld == 0 || e.sndMSS <= 0 {
		return
	}
	k := (acked + e.sndMSS - 1) / e.sndMSS
	e.renoHeld = max(0, min(e.renoHeld-(k-1), e.renoOutstandingLocked(acked)-1))
}

// renoOutstandingLocked is the number of segments outstanding once
// acked more bytes are acknowledged.
func (e *endpoint) renoOutstandingLocked(acked int) int {
	if e.sndMSS <= 0 {
		return 0
	}
	return (int(e.sndUna.Size(e.sndMax)) - acked + e.sndMSS - 1) / e.sndMSS
}

// renoHeldLostLocked reports whether, without SACK, DupThresh segments
// beyond SND.UNA are held by the receiver: RFC 6675 §5 step (2)'s
// IsLost(HighACK + 1) on the estimate above.
func (e *endpoint) renoHeldLostLocked() bool {
	return !e.sackOK && e.renoHeld >= sackDupThresh && e.sndUna != e.sndMax
}
