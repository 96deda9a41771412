package tcp

import (
	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// pawsIdle is RFC 7323 §5.5's limit: TS.Recent older than 24 days is
// invalid and not used by PAWS.
const pawsIdleMs = 24 * 24 * 3600 * 1000

// handleSegmentLocked processes one inbound segment by the endpoint's
// state. It owns g.
func (e *endpoint) handleSegmentLocked(g *segment) {
	switch e.state {
	case StateListen:
		e.listenLocked(g)
	case StateSynSent:
		if g.dataLen > 0 || g.has(header.TCPFlagFIN) {
			e.recoveryLocked() // data or FIN with the SYN-ACK
		}
		e.synSentLocked(g)
	case StateClosed:
		// Raced with the endpoint's end: answer as a closed port
		// (RFC 9293 §3.10.7.1).
		e.p.stats.NoEndpoint.Inc()
		e.p.replyRST(g, g.nic)
		g.release()
	default:
		e.recoveryLocked()
		e.rcvLocked(g)
		g.release()
	}
	e.armLocked()
	if e.s.GetTCPProbe() != nil {
		e.probeCaptureLocked(g)
	}
}

// acceptableLocked is RFC 9293 §3.10.7.4's first check, the table of
// segment acceptability against RCV.NXT and RCV.WND.
func (e *endpoint) acceptableLocked(g *segment) bool {
	wnd := seqnum.Size(0)
	if e.rcvAdv.GreaterThan(e.rcvNxt) {
		wnd = e.rcvNxt.Size(e.rcvAdv)
	}
	n := g.logicalLen()
	switch {
	case n == 0 && wnd == 0:
		return g.seq == e.rcvNxt
	case n == 0:
		return g.seq.InWindow(e.rcvNxt, wnd)
	case wnd == 0:
		// RFC 9293 §3.10.7.4: with a zero window "special
		// allowance should be made to accept valid ACKs, URGs, and
		// RSTs": a segment at RCV.NXT is processed for its control
		// bits and ACK, its data trimmed away (as Linux's
		// tcp_sequence admits it).
		return g.seq == e.rcvNxt
	}
	return g.seq.InWindow(e.rcvNxt, wnd) || g.seq.Add(n-1).InWindow(e.rcvNxt, wnd)
}

// challengeACKLocked sends a challenge ACK (RFC 5961 §3.2, §4.2), within
// the rate limit of §7.
func (e *endpoint) challengeACKLocked() {
	if e.p.allowChallengeACK() {
		e.sendACKLocked()
	}
}

// rcvLocked processes a segment in SYN-RECEIVED or a synchronized state,
// following the steps of RFC 9293 §3.10.7.4. It does not release g.
func (e *endpoint) rcvLocked(g *segment) {
	now := e.nowLocked()
	// RFC 6191 §2: a SYN for a connection in TIME-WAIT opens a new
	// incarnation if its timestamp (or, without timestamps, its
	// sequence number) is higher than the old connection's.
	if e.state == StateTimeWait && g.has(header.TCPFlagSYN) && !g.has(header.TCPFlagACK|header.TCPFlagRST) {
		newer := false
		if e.tsOK && g.opts.HasTimestamps {
			newer = int32(g.opts.TSVal-e.tsRecent) > 0
		} else {
			newer = g.seq.GreaterThan(e.rcvNxt)
		}
		if newer {
			e.cleanupLocked()
			x := e.extraLocked()
			x.redirect = append(x.redirect, *g)
			g.pkt = nil // handed on
			return
		}
	}
	// RFC 7323 §5.3 R1 (PAWS): a segment whose timestamp is older than
	// TS.Recent is a duplicate from an old incarnation of the sequence
	// space; it is acknowledged (unless RST) and dropped.
	if e.tsOK && g.opts.HasTimestamps && !g.has(header.TCPFlagRST) &&
		int32(g.opts.TSVal-e.tsRecent) < 0 &&
		now.Sub(e.tsRecentAt).Milliseconds() < pawsIdleMs &&
		!e.pawsDisorderedACKLocked(g) {
		e.p.stats.PAWSRejected.Inc()
		if e.sackOK && g.dataLen > 0 && g.seq.LessThan(e.rcvNxt) {
			// RFC 2883 §4: a duplicate is reported whatever drops
			// it. A retransmission whose original arrived (late,
			// reordered) carries an older TSval than the segments
			// after it and fails PAWS here; without its D-SACK the
			// sender cannot find the recovery spurious (RFC 3708).
			e.dsackSetLocked(g.seq, g.seq.Add(seqnum.Size(min(g.dataLen, int(g.seq.Size(e.rcvNxt))))))
		}
		e.sendACKLocked()
		return
	}
	// First: sequence number.
	if !e.acceptableLocked(g) {
		e.p.stats.OutOfWindow.Inc()
		if e.sackOK && g.dataLen > 0 && g.seq.LessThan(e.rcvNxt) {
			// RFC 2883 §4: the duplicate is reported in the
			// first SACK block of the ACK it draws.
			e.dsackSetLocked(g.seq, g.seq.Add(seqnum.Size(min(g.dataLen, int(g.seq.Size(e.rcvNxt))))))
		}
		if !g.has(header.TCPFlagRST) {
			e.sendACKLocked()
		}
		return
	}
	// Second: RST (RFC 5961 §3.2): only an RST at exactly RCV.NXT
	// resets; any other in the window draws a challenge ACK.
	if g.has(header.TCPFlagRST) {
		if g.seq != e.rcvNxt {
			e.challengeACKLocked()
			return
		}
		e.p.stats.ResetsReceived.Inc()
		switch e.state {
		case StateSynReceived:
			// RFC 9293 §3.10.7.4: from an active open the user is
			// told the connection was refused.
			e.resetLocked(tcpip.ErrConnectionRefused, false)
		case StateClosing, StateLastAck, StateTimeWait:
			e.cleanupLocked()
			e.notifyLocked(tcpip.EventHUp | tcpip.EventIn | tcpip.EventOut)
		default:
			e.p.stats.EstablishedResets.Inc()
			e.resetLocked(tcpip.ErrConnectionReset, false)
		}
		return
	}
	// Fourth: SYN (RFC 5961 §4.2): a SYN in a synchronized state draws
	// a challenge ACK whatever its sequence number. In SYN-RECEIVED a
	// retransmitted SYN of the peer is answered with our SYN-ACK.
	if g.has(header.TCPFlagSYN) {
		if e.state == StateSynReceived && g.seq == e.irs {
			e.sendSYNLocked()
			return
		}
		e.challengeACKLocked()
		return
	}
	// Fifth: ACK. RFC 9293 §3.10.7.4: "if the ACK bit is off, drop
	// the segment and return".
	if !g.has(header.TCPFlagACK) {
		e.p.stats.NoACKDrops.Inc()
		return
	}
	e.lastRcvAt = now
	e.kaProbes = 0
	e.ecnRcvLocked(g)
	if e.state == StateSynReceived {
		if !g.ack.GreaterThan(e.sndUna) || g.ack.GreaterThan(e.sndMax) {
			// RFC 9293 §3.10.7.4: an unacceptable ACK in
			// SYN-RECEIVED draws <SEQ=SEG.ACK><CTL=RST>.
			e.p.stats.UnacceptableACK.Inc()
			e.p.sendRaw(e.id, e.nic, g.ack, 0, header.TCPFlagRST, 0, nil)
			return
		}
		e.sndWnd = uint32(g.wnd) << e.sndWS
		e.maxSndWnd = max(e.maxSndWnd, e.sndWnd)
		e.sndWl1, e.sndWl2 = g.seq, g.ack
		e.establishLocked()
	}
	if !e.ackLocked(g, now) {
		return
	}
	if e.state == StateClosed {
		return
	}
	// RFC 7323 §4.3: TS.Recent is updated from a segment that covers
	// Last.ACK.sent.
	if e.tsOK && g.opts.HasTimestamps && g.seq.LessThanEq(e.lastAckSent) && int32(g.opts.TSVal-e.tsRecent) >= 0 {
		e.tsRecent = g.opts.TSVal
		e.tsRecentAt = now
	}
	// Seventh: segment text; eighth: FIN.
	switch e.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
		e.dataLocked(g)
	case StateCloseWait, StateClosing, StateLastAck, StateTimeWait:
		// RFC 9293 §3.10.7.4 step 7: the peer's FIN was received,
		// data is ignored. A retransmitted FIN is acknowledged (in
		// TIME-WAIT the 2·MSL wait restarts).
		if g.dataLen > 0 {
			e.p.stats.DataDiscarded.Inc()
		}
		if g.has(header.TCPFlagFIN) || g.dataLen > 0 {
			e.sendACKLocked()
		}
		if e.state == StateTimeWait && g.has(header.TCPFlagFIN) {
			e.closeAt = now.Add(2 * e.p.getMSL())
		}
	}
	e.sendDataLocked()
}

// ackLocked processes the acknowledgment of g (RFC 9293 §3.10.7.4 fifth
// step, RFC 5961 §5.2, RFC 5681 and RFC 6582). It returns false if the
// segment is to be dropped.
func (e *endpoint) ackLocked(g *segment, now tcpip.MonotonicTime) bool {
	// RFC 5961 §5.2: acceptable ACKs lie in
	// [SND.UNA − MAX.SND.WND, SND.NXT]; others draw an ACK and are
	// dropped.
	if g.ack.GreaterThan(e.sndMax) {
		e.p.stats.UnacceptableACK.Inc()
		e.sendACKLocked()
		return false
	}
	if g.ack.LessThan(e.sndUna.Sub(seqnum.Size(e.maxSndWnd))) {
		e.challengeACKLocked()
		return false
	}
	wnd := uint32(g.wnd) << e.sndWS
	sacked := e.sackUpdateLocked(g)
	e.rackOnAckLocked(g, now) // RFC 8985 §6.2, §7.4
	una := e.sndUna
	if g.ack.GreaterThan(e.sndUna) {
		e.newAckLocked(g, now)
	} else if g.ack == e.sndUna && g.dataLen == 0 && !g.has(header.TCPFlagFIN) &&
		wnd == e.sndWnd && e.sndMax != e.sndUna &&
		(sacked || !e.sackOK || g.opts.NumSACKBlocks == 0) {
		// RFC 5681 §2: a duplicate ACK. RFC 6675 §2: with SACK, one
		// whose SACK option tells nothing new (a lone D-SACK, RFC
		// 2883: a duplicate segment reached the peer) is not.
		e.dupAckLocked()
	}
	// Spurious retransmissions (undo.go, frto.go) and ECN (ecn.go).
	e.spuriousOnAckLocked(g, una, sacked)
	e.ecnOnAckLocked(g)
	// RFC 6675 §5 (3): IsLost(HighACK + 1) starts recovery before
	// DupThresh duplicate ACKs (several SACKed segments per ACK, or
	// lost ACKs); as RFC 6582 §3.2 step 1, not below the previous
	// recovery point.
	if (sacked || e.rack.newLost > 0) && e.sackOK && !e.inRecovery && e.sndMax != e.sndUna &&
		!(e.recoverSet && e.sndUna.LessThan(e.recover)) {
		if e.sackIsLostLocked(e.sndUna) && e.rackDupThreshLocked() {
			e.sackEnterRecoveryLocked()
		} else if !e.rack.rtoRecovery && e.rackLostPendingLocked() {
			// RFC 8985 §6.2: RACK marked a loss first (not in
			// the go-back-N after a timeout, whose marks are
			// the timeout's, rack.go).
			e.p.stats.RACKRecovery.Inc()
			e.sackEnterRecoveryLocked()
		}
	}
	// Window update (RFC 9293 §3.10.7.4: SND.WL1 < SEG.SEQ, or equal
	// and SND.WL2 ≤ SEG.ACK).
	if e.sndWl1.LessThan(g.seq) || (e.sndWl1 == g.seq && e.sndWl2.LessThanEq(g.ack)) {
		opened := wnd > e.sndWnd
		e.sndWnd = wnd
		e.maxSndWnd = max(e.maxSndWnd, wnd)
		e.sndWl1, e.sndWl2 = g.seq, g.ack
		if opened && e.persist {
			e.persist = false
			e.rtoAt = zeroTime
			e.backoff = 0
		}
	}
	finAcked := e.finQueued && e.sndUna == e.finSeqLocked()+1
	switch e.state {
	case StateFinWait1:
		if finAcked {
			e.setStateLocked(StateFinWait2)
			if e.userClosed {
				e.closeAt = now.Add(finWait2Timeout)
			}
		}
	case StateClosing:
		if finAcked {
			e.enterTimeWaitLocked(now)
		}
	case StateLastAck:
		if finAcked {
			e.p.stats.EstablishedClosed.Inc()
			e.cleanupLocked()
			e.notifyLocked(tcpip.EventHUp)
			return false
		}
	}
	return true
}

// newAckLocked handles an ACK of new data.
func (e *endpoint) newAckLocked(g *segment, now tcpip.MonotonicTime) {
	acked := int(e.sndUna.Size(g.ack))
	e.renoOnAckLocked(g, acked, now)
	e.rtt.last = 0
	e.rttOnAckLocked(g.ack, g.opts.TSEcr, g.opts.HasTimestamps)
	sample := e.rtt.last
	e.renoOnSampleLocked(sample)
	// Drop the acknowledged data from the send buffer.
	if g.ack.GreaterThan(e.bufSeq) {
		n := min(int(e.bufSeq.Size(g.ack)), e.sndBuf.Len())
		e.sndBuf.TrimFront(n)
		if e.sndBuf.Len() == 0 {
			e.sndBuf.Release()
		}
		e.bufSeq = e.bufSeq.Add(seqnum.Size(n))
		e.bytesAcked += uint64(n)
		if n > 0 && !e.finQueued && e.writableLocked() {
			e.notifyLocked(tcpip.EventOut)
		}
	}
	e.sndUna = g.ack
	if e.sndNxt.LessThan(e.sndUna) {
		e.sndNxt = e.sndUna
	}
	e.sackPruneLocked()
	e.headSentAt = now
	e.retries, e.backoff = 0, 0
	e.endRTOBackoffLocked(now)
	inflight := int(e.sndUna.Size(e.sndMax))
	if e.inRecovery {
		if !g.ack.LessThan(e.recover) {
			// RFC 6582 §3.2 step 3, RFC 6675 §5: full
			// acknowledgment, HighACK ≥ RecoveryPoint.
			e.inRecovery = false
			e.cc.OnRecoveryExit(inflight)
			e.sackMaybeUndoLocked()
		} else if e.sackOK {
			// RFC 6675 §5 (A), (C): a cumulative ACK in recovery
			// shrinks the pipe; the algorithm sees it as a partial
			// ACK. The timer restarts on each (RFC 6298 §5.3, below:
			// RFC 6582's "impatient" single restart is NewReno's,
			// whose recovery repairs one hole per round trip; SACK
			// recovery repairs many and may last several RTOs).
			e.cc.OnPartialAck(acked)
			e.sackRecoverySendLocked()
		} else {
			// Step 5: partial acknowledgment: retransmit the next
			// hole, deflate, and restart the timer for the first
			// partial ACK only. With SACK the hole may lie beyond
			// what was already retransmitted in this recovery.
			if !e.rexmitNext.GreaterThan(e.sndUna) {
				e.retransmitHeadLocked()
			}
			// The duplicate ACKs start again from zero (below).
			e.renoArmLostRxtLocked(0)
			e.cc.OnPartialAck(acked)
			if !e.partialSeen {
				e.partialSeen = true
				e.rtoAt = now.Add(e.rtoLocked())
			}
		}
	} else {
		if ro, ok := e.cc.(roundObserver); ok {
			ro.onRoundAck(g.ack, e.sndMax, sample)
		}
		if !e.ecnHoldLocked(g) {
			e.cc.OnAck(acked, inflight, e.rtt.srtt)
		}
		e.sndBufExpandLocked()
	}
	e.dupAcks = 0
	// RFC 6298 §5.2, §5.3: stop the timer when everything is
	// acknowledged, restart it otherwise.
	if e.sndUna == e.sndMax {
		if !e.persist {
			e.rtoAt = zeroTime
		}
	} else if !e.inRecovery || !e.partialSeen {
		e.rtoAt = now.Add(e.rtoLocked())
	}
	if !e.inRecovery && e.renoHeldLostLocked() {
		// RFC 6675 §5 (2) without SACK (renolost.go): DupThresh
		// segments beyond the new SND.UNA reached the peer.
		e.renoFastRetransmitLocked()
	}
	e.tlpScheduleLocked(now) // RFC 8985 §7.2
	// RFC 4861 §7.3.1: forward progress confirms the neighbour.
	if r := e.route; r != nil {
		if nc := r.Interface().Neighbors(r.NetProto); nc != nil {
			next := r.NextHop
			if !next.IsValid() {
				next = r.RemoteAddress
			}
			nc.HandleUpperLevelConfirmation(next)
		}
	}
}

// dupAckLocked counts a duplicate ACK: RFC 3042 limited transmit for the
// first two, fast retransmit at the third (RFC 5681 §3.2 with RFC 6582
// §3.2 step 1's recovery point; without SACK also once DupThresh segments
// are held beyond SND.UNA, renolost.go), window inflation after.
func (e *endpoint) dupAckLocked() {
	e.dupAcks++
	e.renoOnDupAckLocked()
	switch {
	case e.inRecovery && e.sackOK:
		// RFC 6675 §5 (A), (C): the scoreboard was updated; send
		// what the pipe allows.
		e.sackRecoverySendLocked()
	case e.inRecovery:
		e.cc.OnDupAck()
		e.renoLostRxtLocked()
	case e.sackOK:
		if e.dupAcks != sackDupThresh {
			return
		}
		// RFC 6582 §3.2 step 1: no new recovery while the ACK is
		// below the previous recovery point (the loss belongs to a
		// window already recovered, or to an RTO's go-back-N).
		if e.recoverSet && e.sndUna.LessThan(e.recover) {
			return
		}
		// RFC 6675 §5 (2): DupAcks ≥ DupThresh (unless RACK has
		// seen reordering, rack.go).
		if e.rackDupThreshLocked() {
			e.sackEnterRecoveryLocked()
		}
	case e.renoFastRetransmitDueLocked():
		// RFC 5681 §3.2 step 2: the third duplicate ACK, or DupThresh
		// segments held beyond SND.UNA (renolost.go).
		e.renoFastRetransmitLocked()
	}
}

// renoFastRetransmitLocked enters NewReno fast recovery without SACK:
// RFC 6582 §3.2 steps 1 and 2 (RFC 5681 §3.2 steps 2 and 3), unless the
// cumulative ACK is below the previous recovery point.
func (e *endpoint) renoFastRetransmitLocked() {
	// RFC 6582 §3.2 step 1: no new recovery while the ACK is below the
	// previous recovery point (the loss belongs to a window already
	// recovered, or to an RTO's go-back-N).
	if e.recoverSet && e.sndUna.LessThan(e.recover) {
		return
	}
	e.inRecovery = true
	e.partialSeen = false
	e.recover = e.sndMax
	e.recoverSet = true
	e.p.stats.FastRetransmits.Inc()
	e.p.stats.FastRecovery.Inc()
	e.undoSaveLocked(false)
	e.cc.OnLoss(int(e.sndUna.Size(e.sndMax)))
	e.retransmitHeadLocked()
	// A fast retransmission found unneeded shows reordering, unless the
	// duplicate ACKs may be a timeout's duplicates (renolost.go).
	e.reno.rxtFast = !e.renoGoBackLocked()
	e.renoArmLostRxtLocked(e.dupAcks)
	e.rtoAt = e.nowLocked().Add(e.rtoLocked())
}

// enterTimeWaitLocked moves to TIME-WAIT for 2·MSL (RFC 9293 §3.10.7.4).
func (e *endpoint) enterTimeWaitLocked(now tcpip.MonotonicTime) {
	e.setStateLocked(StateTimeWait)
	e.rtoAt, e.delackAt, e.keepaliveAt = zeroTime, zeroTime, zeroTime
	e.lingerAt = zeroTime // the close completed (see Close)
	e.persist = false
	e.closeAt = now.Add(2 * e.p.getMSL())
	e.sndBuf.Release()
	e.notifyLocked(tcpip.EventHUp)
}

// dataLocked takes the data and FIN of an acceptable segment (RFC 9293
// §3.10.7.4 seventh and eighth steps): in-order data goes to the receive
// buffer, data beyond a hole to the out-of-order queue, which may fill the
// whole window; ACKs follow RFC 5681 §4.2 and RFC 1122 §4.2.3.2.
func (e *endpoint) dataLocked(g *segment) {
	if g.dataLen == 0 && !g.has(header.TCPFlagFIN) {
		return
	}
	if e.shutdown&tcpip.ShutdownRead != 0 && e.userClosed && g.dataLen > 0 {
		// Data for a closed socket: Linux answers with RST
		// (tcp_rcv_state_process, "data after close").
		e.p.stats.DataDiscarded.Inc()
		e.resetLocked(nil, true)
		return
	}
	seq := g.seq
	data := &g.pkt.Payload
	fin := g.has(header.TCPFlagFIN)
	// Trim what was already received.
	if seq.LessThan(e.rcvNxt) {
		k := int(seq.Size(e.rcvNxt))
		if k > data.Len() {
			// Only the FIN may be new.
			k = data.Len()
		}
		if k > 0 && e.sackOK {
			// RFC 2883 §4: the part received before is reported
			// as a D-SACK.
			e.dsackSetLocked(seq, seq.Add(seqnum.Size(k)))
		}
		data.TrimFront(k)
		seq = seq.Add(seqnum.Size(k))
	}
	// Trim what lies beyond the window advertised (RFC 9293 §3.10.7.4,
	// seventh step: segments are trimmed to the window). The window was
	// advertised from free buffer space and never shrinks, so what it
	// admits fits.
	limit := seqnum.Max(e.rcvAdv, e.rcvNxt)
	if end := seq.Add(seqnum.Size(data.Len())); end.GreaterThan(limit) {
		keep := 0
		if limit.GreaterThan(seq) {
			keep = int(seq.Size(limit))
		}
		data.Truncate(keep)
		fin = false
		e.p.stats.ReceiveBufferDrops.Inc()
		e.stats.ReceiveBufferErrors.Inc()
		if data.Len() == 0 {
			// Nothing fits: tell the sender the window at once.
			e.sendACKLocked()
			return
		}
	}
	n := data.Len()
	outOfOrder := seq != e.rcvNxt
	if outOfOrder {
		if n > 0 && !e.oooAdmitLocked(data) {
			// Over the memory budget (autotune.go): dropped,
			// and the ACK tells what we hold.
			e.sendACKLocked()
			return
		}
		if n > 0 {
			e.lastOOOSeq = seq
			e.oooInsertLocked(seq, data)
		}
		if fin {
			e.oooFin, e.oooFinSeq = true, seq.Add(seqnum.Size(n))
		}
		// RFC 5681 §4.2: an out-of-order segment is acknowledged at
		// once (a duplicate ACK for the sender's fast retransmit).
		e.sendACKLocked()
		return
	}
	filled := false
	if n > 0 {
		e.rcvBuf.Merge(data)
		e.rcvNxt = e.rcvNxt.Add(seqnum.Size(n))
		e.bytesReceived += uint64(n)
		if len(e.ooo) > 0 {
			filled = e.oooDrainLocked()
		}
		e.rcvRTTMeasureLocked(g, e.nowLocked())
		e.notifyLocked(tcpip.EventIn)
	}
	if !fin && e.oooFin && e.oooFinSeq == e.rcvNxt && len(e.ooo) == 0 {
		fin = true
	}
	if fin {
		e.rcvFinLocked()
		return
	}
	// Delayed ACK: ACK every second full-size segment at once, and
	// every segment during quick-ACK; otherwise within 40 ms. A segment
	// coalesced by GRO counts as the segments it holds (RFC 1122
	// §4.2.3.2: an ACK for at least every second full-sized segment).
	e.ackPending += int32(max(1, g.pkt.Segments))
	switch {
	case filled, e.dsackPending, e.quickAcks > 0, e.ackPending >= 2:
		if e.quickAcks > 0 {
			e.quickAcks--
		}
		e.sendACKLocked()
	default:
		if e.delackAt.IsZero() {
			e.delackAt = e.nowLocked().Add(delayedACKTimeout)
		}
	}
}

// rcvFinLocked takes the peer's FIN, in order (RFC 9293 §3.10.7.4 eighth
// step).
func (e *endpoint) rcvFinLocked() {
	e.rcvNxt++
	e.rcvFin = true
	e.oooFin = false
	e.notifyLocked(tcpip.EventIn | tcpip.EventRdHUp)
	now := e.nowLocked()
	switch e.state {
	case StateSynReceived, StateEstablished:
		e.setStateLocked(StateCloseWait)
	case StateFinWait1:
		if e.finQueued && e.sndUna == e.finSeqLocked()+1 {
			e.enterTimeWaitLocked(now)
		} else {
			e.setStateLocked(StateClosing)
		}
	case StateFinWait2:
		e.enterTimeWaitLocked(now)
	}
	e.sendACKLocked()
}

// oooInsertLocked queues data at seq (after a hole) in the out-of-order
// queue, which stays sorted and free of overlaps, adjacent runs merged.
// It takes data's bytes.
func (e *endpoint) oooInsertLocked(seq seqnum.Value, data *buffer.Buffer) {
	end := seq.Add(seqnum.Size(data.Len()))
	// Cut the new data against the runs already queued.
	for i := range e.ooo {
		if data.Len() == 0 {
			break
		}
		s := &e.ooo[i]
		sEnd := s.seq.Add(seqnum.Size(s.data.Len()))
		switch {
		case !sEnd.GreaterThan(seq) || !s.seq.LessThan(end):
			// Disjoint.
		case !s.seq.GreaterThan(seq) && !sEnd.LessThan(end):
			// Already held: RFC 2883 §4 reports it as a D-SACK,
			// followed by the block that holds it.
			if e.sackOK {
				e.dsackSetLocked(seq, end)
				e.lastOOOSeq = s.seq
			}
			data.Release()
			return
		case !s.seq.GreaterThan(seq):
			// s overlaps the front of the new data.
			data.TrimFront(int(seq.Size(sEnd)))
			seq = sEnd
		case !sEnd.LessThan(end):
			// s overlaps its tail.
			data.Truncate(int(seq.Size(s.seq)))
			end = s.seq
		default:
			// The new data covers s.
			e.oooBytes -= s.data.Len()
			s.data.Release()
		}
	}
	if data.Len() == 0 {
		return
	}
	e.oooBytes += data.Len()
	out := e.oooTmp[:0]
	placed := false
	for i := range e.ooo {
		s := &e.ooo[i]
		if s.data.Len() == 0 {
			continue
		}
		if !placed && seq.LessThan(s.seq) {
			out = append(out, oooSeg{seq: seq})
			out[len(out)-1].data.Merge(data)
			placed = true
		}
		out = append(out, oooSeg{seq: s.seq})
		out[len(out)-1].data.Merge(&s.data)
	}
	if !placed {
		out = append(out, oooSeg{seq: seq})
		out[len(out)-1].data.Merge(data)
	}
	clear(e.ooo)
	e.oooTmp = e.ooo[:0]
	// Merge runs that touch.
	w := 0
	for r := 1; r < len(out); r++ {
		if out[w].seq.Add(seqnum.Size(out[w].data.Len())) == out[r].seq {
			out[w].data.Merge(&out[r].data)
			continue
		}
		w++
		if w != r {
			out[w].seq = out[r].seq
			out[w].data.Merge(&out[r].data)
		}
	}
	clear(out[w+1:])
	e.ooo = out[:w+1]
}

// oooDrainLocked moves the out-of-order runs that RCV.NXT reached to the
// receive buffer and reports whether any did.
func (e *endpoint) oooDrainLocked() bool {
	moved := false
	k := 0
	for k < len(e.ooo) {
		s := &e.ooo[k]
		if s.seq.GreaterThan(e.rcvNxt) {
			break
		}
		e.oooBytes -= s.data.Len()
		end := s.seq.Add(seqnum.Size(s.data.Len()))
		if end.GreaterThan(e.rcvNxt) {
			s.data.TrimFront(int(s.seq.Size(e.rcvNxt)))
			n := s.data.Len()
			e.rcvBuf.Merge(&s.data)
			e.rcvNxt = e.rcvNxt.Add(seqnum.Size(n))
			e.bytesReceived += uint64(n)
			moved = true
		} else {
			s.data.Release()
		}
		k++
	}
	if k > 0 {
		n := copy(e.ooo, e.ooo[k:])
		for i := n; i < len(e.ooo); i++ {
			e.ooo[i] = oooSeg{}
		}
		e.ooo = e.ooo[:n]
	}
	if len(e.ooo) == 0 {
		// DESIGN.md principle 6: an emptied queue gives its arrays
		// back; the next reordering allocates them again.
		e.ooo, e.oooTmp = nil, nil
	}
	return moved
}

// dsackSetLocked records the duplicate [s, t) for the next ACK's first
// SACK block (RFC 2883 §4).
func (e *endpoint) dsackSetLocked(s, t seqnum.Value) {
	e.dsackPending = true
	e.dsackBlock = header.SACKBlock{Start: s, End: t}
}

// pawsDisorderedACKLocked reports whether g is a pure ACK that PAWS may
// let through although its timestamp is older than TS.Recent, as Linux's
// tcp_disordered_ack does (RFC 7323 §5.3 leaves room for it: PAWS guards
// data against wrapped sequence numbers, and an ACK without data carries
// none): no data and no SYN, FIN or RST, SEG.SEQ = RCV.NXT, SEG.ACK =
// SND.UNA (a duplicate ACK, which may carry SACK blocks), the window
// unchanged, and a timestamp that trails TS.Recent by less than one RTO
// (in milliseconds, our timestamp unit; a peer with a slower clock is
// covered all the more).
//
// An old ACK (SEG.ACK < SND.UNA) that carries SACK blocks passes too:
// the network reordered it behind later ACKs. Its cumulative ACK and
// window are stale and change nothing (RFC 9293 §3.10.7.4: SND.WL1 and
// SND.WL2 keep the window from it), but its first block may be the
// D-SACK of a retransmission (RFC 2883 §4), sent once: dropping it made
// a spurious recovery impossible to undo (RFC 3708 waits for every
// retransmission's D-SACK) and hid the reordering from RACK (RFC 8985
// §7.4).
func (e *endpoint) pawsDisorderedACKLocked(g *segment) bool {
	return g.dataLen == 0 && !g.has(header.TCPFlagSYN|header.TCPFlagFIN|header.TCPFlagRST) &&
		g.has(header.TCPFlagACK) && g.seq == e.rcvNxt &&
		((g.ack == e.sndUna && uint32(g.wnd)<<e.sndWS == e.sndWnd) ||
			(g.ack.LessThan(e.sndUna) && e.sackOK && g.opts.NumSACKBlocks > 0)) &&
		int64(e.tsRecent-g.opts.TSVal) <= e.rtoLocked().Milliseconds()
}
