package tcp

import "github.com/ustack-go/ustack/seqnum"

// F-RTO (RFC 5682): detection of spurious retransmission timeouts
// without timestamps. After a timeout the sender retransmits the first
// unacknowledged segment (step 1), as any TCP does; when that
// retransmission is acknowledged, it sends up to two segments of new
// data instead of retransmitting more (step 2); if the next ACK then
// acknowledges data that was never retransmitted, the original segments
// were only delayed and the timeout was spurious (step 3): the sender
// goes on with new data and takes back the window reduction (undo.go).
// Otherwise it reverts to the conventional recovery: go-back-N from
// SND.UNA in slow start (RFC 5681 §3.1, RFC 6675 §5.1 with SACK).
//
// With SACK the SACK-enhanced variant (RFC 5682 §3) runs: duplicate ACKs
// in step 2 only update the scoreboard, and in step 3 a SACK of data
// below the recovery point that was not retransmitted also shows the
// timeout spurious. Without SACK the basic algorithm (§2) runs.
//
// With timestamps the Eifel detector (RFC 3522, undo.go) decides on the
// first ACK after the retransmission already, before F-RTO would send
// new data: it tells apart the two copies of the segment directly.
//
// F-RTO runs on the first timeout of a segment outside fast recovery, as
// Linux does not enter it from recovery either (a timeout there means a
// retransmission was lost, which is no delay spike). A repeated timeout
// of the same segment ends it: the conventional recovery goes on, and
// the Eifel detector (with timestamps) still compares the first ACK with
// the first retransmission.

// frtoStep is where F-RTO is.
type frtoStep uint8

const (
	frtoOff    frtoStep = iota // not running: conventional RTO recovery
	frtoFirst                  // step 2: waiting for the first ACK after the retransmission
	frtoSecond                 // step 3: new data sent, waiting for the next ACK
)

// frtoState is F-RTO's state for the current timeout.
type frtoState struct {
	step frtoStep
	// eligible is set when a timeout may start F-RTO (see above).
	eligible bool
	// recover is SND.MAX when the timer expired (RFC 5682 §2 step 1's
	// "recover", §3's RecoveryPoint).
	recover seqnum.Value
	// rxtEnd is the end of what step 1 retransmitted.
	rxtEnd seqnum.Value
	// sackedBelow is what the scoreboard held below recover when step
	// 3 began.
	sackedBelow int
}

// frtoOnTimeoutLocked is called when the retransmission timer expires,
// before the window is reduced.
func (e *endpoint) frtoOnTimeoutLocked() {
	e.frto.eligible = e.retries == 1 && !e.inRecovery
	e.frto.step = frtoOff
	e.undoOnRTOLocked()
}

// frtoStartLocked is step 1, after the timeout's first retransmission
// went out (retransmitTimerLocked).
func (e *endpoint) frtoStartLocked() {
	if !e.frto.eligible || !e.sndNxt.GreaterThan(e.sndUna) {
		return
	}
	e.frto.step = frtoFirst
	e.frto.recover = e.sndMax
	e.frto.rxtEnd = e.sndNxt
}

// frtoOnAckLocked runs steps 2 and 3 for an ACK that acknowledged acked
// bytes of new data (0 for none) and, if sacked, SACKed new data.
func (e *endpoint) frtoOnAckLocked(g *segment, acked int, sacked bool) {
	switch e.frto.step {
	case frtoFirst:
		if acked == 0 {
			// RFC 5682 §2 step 2a: a duplicate ACK reverts. §3
			// step 2: with SACK it only updated the scoreboard;
			// wait for the ACK of the retransmission.
			if !e.sackOK && e.dupAckLike(g, acked) {
				e.frtoRevertLocked(false)
			}
			return
		}
		// Step 2a: an ACK that covers the recovery point tells
		// nothing (all was acknowledged); one that does not cover
		// the whole retransmission shows more loss at its head.
		if !e.sndUna.LessThan(e.frto.recover) || e.sndUna.LessThan(e.frto.rxtEnd) {
			e.frtoRevertLocked(false)
			return
		}
		// Step 2b: up to two segments of new data, if the send
		// buffer and the peer's window have them; else revert
		// (nothing to probe with).
		nxt := e.sndNxt
		e.sndNxt = e.sndMax
		sent := 0
		for sent < 2 && e.sackSendNewLocked() {
			sent++
		}
		if sent == 0 {
			e.sndNxt = nxt
			e.frtoRevertLocked(false)
			return
		}
		e.frto.step = frtoSecond
		e.frto.sackedBelow = e.sackedBytesLocked(e.sndUna, e.frto.recover)
	case frtoSecond:
		// Step 3b (§2) / 3a (§3): data that was never
		// retransmitted is acknowledged: by the cumulative ACK (only
		// step 1's segment was retransmitted, and it was
		// acknowledged in step 2), or with SACK below the recovery
		// point.
		if acked > 0 || (e.sackOK && sacked && e.sackedBytesLocked(e.sndUna, e.frto.recover) > e.frto.sackedBelow) {
			e.spuriousRTOLocked(acked)
			return
		}
		// Step 3a (§2) / 3b (§3): a duplicate ACK: the timeout was
		// genuine.
		if e.dupAckLike(g, acked) {
			e.frtoRevertLocked(true)
		}
	}
}

// frtoRevertLocked ends F-RTO for the conventional recovery (RFC 5682 §2
// steps 2a and 3a): if new data was sent in step 2 (goBack), SND.NXT
// returns to SND.UNA so that the unacknowledged segments are
// retransmitted in slow start. The window is at most 3 SMSS then, as
// step 3a asks: one after the timeout, plus one for the ACK of step 2.
func (e *endpoint) frtoRevertLocked(goBack bool) {
	e.frto.step = frtoOff
	if goBack {
		e.sndNxt = e.sndUna
	}
}
