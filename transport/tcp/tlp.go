package tcp

import "github.com/ustack-go/ustack/tcpip"

// Tail Loss Probe (RFC 8985 §7): when the tail of a flight is lost no
// SACK comes to start fast recovery, and only the RTO would repair it. A
// probe timeout (PTO) of about two round trips after the last
// transmission sends one segment, new data or the last segment again,
// whose ACK carries the SACK information RACK needs to detect the loss.

// tlpScheduleLocked arms the PTO (RFC 8985 §7.2) after new data was sent
// or an ACK processed, if the connection may probe: SACK in use, no
// SACKed data on the scoreboard, not in loss recovery, no probe of this
// episode outstanding, data in flight. In fast recovery it is armed too
// (tlpRecoveryProbeLocked).
func (e *endpoint) tlpScheduleLocked(now tcpip.MonotonicTime) {
	if !e.rackOnLocked() {
		return
	}
	r := &e.rack
	if e.sndUna == e.sndMax || e.persist || r.tlpActive || e.retries > 0 {
		r.ptoAt = zeroTime
		return
	}
	if (len(e.sacked) > 0 || e.inRecovery || e.rackInRecoveryLocked()) && !e.tlpRecoveryProbeLocked() {
		r.ptoAt = zeroTime
		return
	}
	switch e.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
	default:
		r.ptoAt = zeroTime
		return
	}
	pto := tlpNoSRTT
	if e.rtt.valid {
		// RFC 8985 §7.2: PTO = 2·SRTT, plus the worst-case delayed
		// ACK when a single segment is in flight (its ACK may be
		// delayed).
		pto = 2 * e.rtt.srtt
		// RFC 5681 §4.2: a receiver holding out-of-order data
		// acknowledges at once, so in fast recovery no delayed ACK
		// is waited for.
		if int(e.sndUna.Size(e.sndMax)) <= e.sndMSS && !e.inRecovery {
			pto += tlpWCDelAckT
		}
	}
	pto = max(pto, rackTimerMin)
	at := now.Add(pto)
	// RFC 8985 §7.2: the PTO never fires later than the RTO would.
	if !e.rtoAt.IsZero() && e.rtoAt.Before(at) {
		at = e.rtoAt
		if !at.After(now) {
			at = now.Add(rackTimerMin)
		}
	}
	r.ptoAt = at
}

// tlpFireLocked is RFC 8985 §7.3: the PTO expired; send one probe: a new
// segment if there is one and the peer's window admits it, else the
// highest segment sent again. The RTO is then re-armed.
func (e *endpoint) tlpFireLocked(now tcpip.MonotonicTime) {
	if !e.rackOnLocked() || e.sndUna == e.sndMax {
		return
	}
	switch e.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
	default:
		return
	}
	r := &e.rack
	if e.sackSendNewLocked() {
		r.tlpRetrans = false
	} else {
		segs := e.rackSegsLocked()
		if len(segs) == 0 {
			return
		}
		k := len(segs) - 1
		if segs[k].has(segDelivered) && e.inRecovery {
			// In recovery the highest segment may be SACKed while
			// a retransmission below it is the last transmission:
			// probe with the latest sent of those not delivered.
			k = -1
			for i := range segs {
				if !segs[i].has(segDelivered) && (k < 0 || rackSentAfter(segs[i].at, segs[i].end, segs[k].at, segs[k].end)) {
					k = i
				}
			}
			if k < 0 {
				return
			}
		}
		s := segs[k]
		if s.has(segDelivered) {
			return
		}
		if !e.rackRetransmitLocked(&segs[k]) {
			return
		}
		r.tlpRetrans = true
		r.tlpRxt = seqRange{s.start, s.end}
	}
	if e.inRecovery {
		// The recovery already reduced the window (RFC 6675 §5
		// (4.2)): a probe it sent repairs no loss of its own, and
		// the episode's response of §7.4 does not apply.
		r.tlpRetrans = false
	}
	e.p.stats.TLPProbes.Inc()
	r.tlpActive, r.tlpEnd = true, e.sndMax
	// RFC 8985 §7.3: after the probe the RTO is armed, not the PTO.
	e.rtoAt = now.Add(e.rtoLocked())
}

// tlpOnAckLocked is RFC 8985 §7.4: an ACK at or beyond TLP.end_seq ends
// the probe's episode. If the probe retransmitted a segment, and the ACK
// passes the probe without a D-SACK having shown that both copies
// arrived, the probe repaired a loss: the congestion controller responds
// as to any loss (the window is reduced once).
func (e *endpoint) tlpOnAckLocked(g *segment) {
	r := &e.rack
	if !r.tlpActive || g.ack.LessThan(r.tlpEnd) {
		return
	}
	switch {
	case !r.tlpRetrans:
		// New data probed: RACK's ordinary detection handles any loss.
		r.tlpActive = false
	case r.dsackSeen && r.dsack.start == r.tlpRxt.start:
		// Both the original and the probe arrived: no loss.
		r.tlpActive = false
	case g.ack.GreaterThan(r.tlpEnd):
		// The probe repaired the loss of the tail.
		r.tlpActive = false
		e.tlpReduceLocked()
	case g.ack == e.sndUna && g.dataLen == 0 && g.opts.NumSACKBlocks == 0:
		// A pure duplicate ACK without SACK: the second copy arrived
		// at a receiver that sends no D-SACK; no loss.
		r.tlpActive = false
	}
}

// tlpReduceLocked is the congestion response to a loss the probe
// repaired (RFC 8985 §7.4, as RFC 5681 §3.2's to a fast retransmit, in
// one step): ssthresh by the algorithm, cwnd = ssthresh.
func (e *endpoint) tlpReduceLocked() {
	e.p.stats.TLPRecovered.Inc()
	e.cc.OnLoss(int(e.sndUna.Size(e.sndMax)))
	e.cc.OnRecoveryExit(e.cc.Ssthresh())
}

// tlpRecoveryProbeLocked reports whether a probe may be sent in fast
// recovery, which RFC 8985 §7.2 (c) leaves to RACK: RACK judges a
// segment lost only once a segment sent after it is delivered (§6.2
// step 5), so when the last transmissions of the flight (a
// retransmission, new data) or the one ACK that acknowledges them are
// lost, and the pipe leaves no room to send more, no ACK comes and no
// RACK timer covers them: only the RTO would end the stall. A Linux
// receiver acknowledges a batch of segments that arrives at once with
// one ACK, so the loss of that one ACK stalls recovery this way. In
// fast recovery the probe timer therefore runs too, re-armed whenever
// recovery sends (sackRecoverySendLocked): it fires only after 2·SRTT
// without a transmission.
func (e *endpoint) tlpRecoveryProbeLocked() bool {
	return e.inRecovery
}
