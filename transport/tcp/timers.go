package tcp

import (
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// delayedACKTimeout is Linux's delayed ACK timer (TCP_DELACK_MIN, 40 ms);
// RFC 1122 §4.2.3.2 and RFC 5681 §4.2 require less than 500 ms.
const delayedACKTimeout = 40 * time.Millisecond

// ackRetryDelay is how soon an ACK the link refused for want of room is
// tried again (sendACKLocked).
const ackRetryDelay = time.Millisecond

// persistMax bounds the backoff of zero-window probes.
const persistMax = 60 * time.Second

// earliest returns the earlier of two deadlines, zero meaning none.
func earliest(a, b tcpip.MonotonicTime) tcpip.MonotonicTime {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// nowLocked returns the stack's monotonic time, read from the clock once
// per locked operation (a segment, or a batch of them from the backlog; a
// user call and the segments it sends; a timer) and cached in e.now until
// unlock. Reading the clock 5–8 times per segment cost about a tenth of
// the CPU of a bulk transfer; the times TCP keeps need no finer grain
// than one operation: RTT samples and RTO deadlines (RFC 6298 §2 asks
// for a clock granularity of G, not for a read per use) and RACK's
// transmit times (RFC 8985 §6.1 tolerates coarse clocks: segments sent
// in one batch share a time and are ordered by sequence number).
func (e *endpoint) nowLocked() tcpip.MonotonicTime {
	if e.now.IsZero() {
		e.now = e.s.Clock().NowMonotonic()
	}
	return e.now
}

// armLocked sets the endpoint's one clock timer to its earliest deadline
// or stops it when none is set.
func (e *endpoint) armLocked() {
	if e.keepalive && e.state.connected() && e.keepaliveAt.IsZero() {
		e.keepaliveAt = e.lastRcvAt.Add(e.kaIdle)
	}
	if !e.keepalive {
		e.keepaliveAt = zeroTime
	}
	at := earliest(earliest(e.rtoAt, e.delackAt), earliest(e.keepaliveAt, e.closeAt))
	at = earliest(at, e.lingerAt)
	at = earliest(at, e.rackDeadlineLocked())
	if at == e.timerAt {
		return
	}
	if !e.timerAt.IsZero() && (at.IsZero() || e.timerAt.Before(at)) {
		// The deadline moved later (every ACK of new data restarts
		// the RTO, RFC 6298 §5.3) or went away (the delayed ACK
		// left with the next segment's ACK): the timer stays armed
		// for the earlier time rather than being stopped and reset
		// per segment; when it fires, onTimer finds nothing due and
		// arms it again for the real deadline, if any
		// (stopTimersLocked stops it for good).
		return
	}
	e.timerAt = at
	if at.IsZero() {
		return
	}
	d := at.Sub(e.nowLocked())
	if d < 0 {
		d = 0
	}
	if e.timer == nil {
		e.timer = e.s.Clock().AfterFunc(d, e.onTimer)
		return
	}
	e.timer.Reset(d)
}

// stopTimersLocked clears every deadline and stops the timer.
func (e *endpoint) stopTimersLocked() {
	e.rtoAt, e.delackAt, e.keepaliveAt, e.closeAt = zeroTime, zeroTime, zeroTime, zeroTime
	e.lingerAt = zeroTime
	e.rackStopTimersLocked()
	e.persist = false
	e.timerAt = zeroTime
	if e.timer != nil {
		e.timer.Stop()
	}
}

// onTimer runs the deadlines that are due.
func (e *endpoint) onTimer() {
	e.lock()
	defer e.unlock()
	e.recoveryLocked()
	e.timerAt = zeroTime
	now := e.nowLocked()
	due := func(t tcpip.MonotonicTime) bool { return !t.IsZero() && !now.Before(t) }
	if due(e.lingerAt) {
		e.lingerAt = zeroTime
		// SO_LINGER's timeout (see Close): a connection not yet in
		// CLOSED or TIME-WAIT is aborted with an RST (RFC 9293
		// §3.10.5 ABORT call).
		if e.state != StateClosed && e.state != StateTimeWait {
			e.p.stats.AbortOnLinger.Inc()
			e.resetLocked(tcpip.ErrConnectionAborted, true)
			return
		}
	}
	if due(e.closeAt) {
		e.closeAt = zeroTime
		// TIME-WAIT over (RFC 9293 §3.10.8), or an orphan waited
		// too long in FIN-WAIT-2 (Linux's tcp_fin_timeout).
		e.cleanupLocked()
		e.notifyLocked(tcpip.EventHUp)
		return
	}
	if due(e.delackAt) {
		e.delackAt = zeroTime
		if e.state.synchronized() {
			e.sendACKLocked()
		}
	}
	e.rackOnTimerLocked(now) // RFC 8985 §6.3, §7.3
	if due(e.rtoAt) {
		e.rtoAt = zeroTime
		if e.state == StateListen {
			e.listenTimerLocked(now)
		} else if e.persist {
			e.persistTimerLocked(now)
		} else {
			e.retransmitTimerLocked(now)
		}
		if e.state == StateClosed {
			return
		}
	}
	if due(e.keepaliveAt) {
		e.keepaliveAt = zeroTime
		e.keepaliveTimerLocked(now)
		if e.state == StateClosed {
			return
		}
	}
	e.armLocked()
}

// retransmitTimerLocked handles an expired retransmission timer: RFC 6298
// §5.4–5.6 (retransmit the earliest segment, back off, restart), RFC
// 5681 §3.1 (cwnd to one segment), the SYN and SYN-ACK retries, and the
// user timeout (RFC 5482) and tcp_retries2 limits.
func (e *endpoint) retransmitTimerLocked(now tcpip.MonotonicTime) {
	switch e.state {
	case StateSynSent, StateSynReceived:
		if e.retries >= synRetries {
			e.p.stats.FailedConnections.Inc()
			e.p.stats.Timeouts.Inc()
			e.resetLocked(e.timeoutErrLocked(), false)
			return
		}
		e.retries++
		e.backoff++
		e.rtt.timing = false
		e.countRetransmitLocked()
		e.sendSYNLocked()
		e.rtoAt = now.Add(e.rtoLocked())
		return
	}
	if e.sndUna == e.sndMax {
		return
	}
	e.p.stats.Timeouts.Inc()
	if e.userTimeout > 0 && now.Sub(e.headSentAt) >= e.userTimeout {
		e.p.stats.UserTimeouts.Inc()
		e.timeoutLocked()
		return
	}
	if e.retries >= maxRetries {
		e.timeoutLocked()
		return
	}
	e.retries++
	e.backoff++
	e.rtoCount++
	if e.rtoSince.IsZero() {
		// RFC 6298 §5.5 backs the timer off: a backoff period starts
		// at the first expiry and lasts until an ACK of new data
		// (newAckLocked), the later expiries of the period included.
		e.rtoSince = now
	}
	e.rtoLastAt = now
	e.rtt.timing = false
	// RFC 5681 §3.1 eq. (4) takes ssthresh from FlightSize; the data
	// the receiver SACKed is not in flight (RFC 6675 §2, pipe): counted,
	// a recovery that ended in a timeout after new data kept flowing
	// behind a lost retransmission left ssthresh at several pipes, and
	// the slow start after the RTO overflowed the queue again.
	inflight := int(e.sndUna.Size(e.sndMax)) - e.sackedBytesLocked(e.sndUna, e.sndMax)
	e.frtoOnTimeoutLocked()
	e.cc.OnRTO(inflight)
	e.rackOnRTOLocked() // RFC 8985 §6.3
	e.inRecovery = false
	e.undoArmed = false
	// RFC 6675 §5.1: the scoreboard is kept, so that the go-back-N
	// retransmission skips what the receiver holds (snd.go). RFC 2018
	// §8 allows the receiver to renege: from the second timeout of the
	// same segment on, the SACKed bits are cleared.
	if e.retries > 1 {
		e.sacked = e.sacked[:0]
	}
	// RFC 6582 §3.2 step 4: no fast recovery until then (recoverSet:
	// without it the guard of dupAckLocked and ackLocked did not hold
	// after a first timeout, and three duplicate ACKs or RACK's marks
	// of the timeout started a fast recovery in the middle of the
	// go-back-N, reducing the window a second time).
	e.recover, e.recoverSet = e.sndMax, true
	e.dupAcks = 0
	e.renoOnTimeoutLocked()
	// Go back N: resend from SND.UNA as the window allows.
	e.sndNxt = e.sndUna
	e.rtoAt = zeroTime
	e.sendDataLocked()
	e.frtoStartLocked() // RFC 5682 step 1 went out
	if e.rtoAt.IsZero() {
		e.rtoAt = now.Add(e.rtoLocked())
	}
	if e.userTimeout > 0 {
		if lim := e.headSentAt.Add(e.userTimeout); lim.Before(e.rtoAt) {
			e.rtoAt = lim
		}
	}
}

// timeoutLocked gives the connection up (ETIMEDOUT).
func (e *endpoint) timeoutLocked() {
	if e.state == StateEstablished || e.state == StateCloseWait {
		e.p.stats.EstablishedTimeout.Inc()
	}
	e.resetLocked(e.timeoutErrLocked(), true)
}

// timeoutErrLocked is the error of a connection that timed out: the last
// soft ICMP error if there was one (RFC 1122 §4.2.3.9, as Linux reports
// sk_err_soft), else ErrTimeout.
func (e *endpoint) timeoutErrLocked() error {
	if e.extra != nil && e.extra.softErr != nil {
		return e.extra.softErr
	}
	return tcpip.ErrTimeout
}

// startPersistLocked arms the persist timer (RFC 9293 §3.8.6.1): the peer
// offers a zero window while we have data to send.
func (e *endpoint) startPersistLocked() {
	if !e.rtoAt.IsZero() {
		return
	}
	e.persist = true
	e.rtoAt = e.nowLocked().Add(min(e.rtoLocked(), persistMax))
}

// persistTimerLocked sends a zero-window probe: like Linux, a segment
// with the sequence number before SND.UNA and no data, which the peer
// must answer with an ACK carrying its window (RFC 9293 §3.8.6.1 probes
// with new data; both elicit the ACK). The interval backs off.
func (e *endpoint) persistTimerLocked(now tcpip.MonotonicTime) {
	e.persist = false
	if e.sndWnd != 0 || int(e.bufSeq.Size(e.sndNxt)) >= e.sndBuf.Len() {
		e.sendDataLocked()
		return
	}
	e.p.stats.ZeroWindowProbes.Inc()
	if e.userTimeout > 0 && !e.headSentAt.IsZero() && now.Sub(e.headSentAt) >= e.userTimeout {
		e.p.stats.UserTimeouts.Inc()
		e.timeoutLocked()
		return
	}
	e.sendSegmentLocked(e.sndUna-1, e.rcvNxt, header.TCPFlagACK, 0, 0, false)
	e.backoff++
	e.persist = true
	e.rtoAt = now.Add(min(e.rtoLocked(), persistMax))
}

// keepaliveTimerLocked sends keepalive probes after kaIdle without
// traffic and every kaIntvl after that, and gives up after kaCount
// unanswered probes (RFC 1122 §4.2.3.6; the probe is the "SEG.SEQ =
// SND.NXT-1" segment with no data).
func (e *endpoint) keepaliveTimerLocked(now tcpip.MonotonicTime) {
	if !e.keepalive || !e.state.connected() {
		return
	}
	idle := now.Sub(e.lastRcvAt)
	if e.kaProbes == 0 && idle < e.kaIdle {
		e.keepaliveAt = e.lastRcvAt.Add(e.kaIdle)
		return
	}
	if int(e.kaProbes) >= e.kaCount {
		e.p.stats.KeepAliveTimeouts.Inc()
		e.timeoutLocked()
		return
	}
	if e.userTimeout > 0 && e.kaProbes > 0 && idle >= e.userTimeout {
		e.p.stats.UserTimeouts.Inc()
		e.timeoutLocked()
		return
	}
	e.kaProbes++
	e.p.stats.KeepAlivesSent.Inc()
	e.sendSegmentLocked(e.sndNxt-1, e.rcvNxt, header.TCPFlagACK, 0, 0, false)
	e.keepaliveAt = now.Add(e.kaIntvl)
}

// endRTOBackoffLocked closes the current RTO backoff period, if any: an
// ACK of new data arrived (RFC 6298 §5.3 restarts the timer from the
// unbacked-off RTO then; ustack resets the backoff as Linux does).
func (e *endpoint) endRTOBackoffLocked(now tcpip.MonotonicTime) {
	if e.endpointRecovery == nil || e.rtoSince.IsZero() {
		return
	}
	e.rtoTotal += now.Sub(e.rtoSince)
	e.rtoSince = zeroTime
}

// rtoBackoffTimeLocked is the time spent in RTO backoff so far, the
// current period up to now included.
func (e *endpoint) rtoBackoffTimeLocked() time.Duration {
	d := e.rtoTotal
	if !e.rtoSince.IsZero() {
		d += e.nowLocked().Sub(e.rtoSince)
	}
	return d
}
