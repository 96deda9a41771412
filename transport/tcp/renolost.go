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
// retransmitted one; once more arrive than that, segments sent after the
// retransmission reached the receiver while the retransmission, ahead of
// them, did not. This is RACK's rule (RFC 8985 §2: a segment is lost when
// one sent after it was delivered, allowing for some reordering) applied
// to what a connection without SACK can see, with RFC 5681 §3.2's
// DupThresh as the reordering allowance (RFC 8985 §6.2 keeps DupThresh
// as the allowance before a reordering window is learnt). Dividing bytes
// by the MSS undercounts segments only when some were smaller than it,
// which bulk transfers do not send; the price of a mistake is one
// spurious retransmission.
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
	// The dups already counted came from the segments beyond the head
	// (at most beyond of them in all).
	e.renoRxtLost = max(beyond, dups) + sackDupThresh
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
