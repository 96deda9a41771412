package tcp

import (
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
)

// Undo of spurious window reductions. A fast retransmit or a timeout
// that the network did not need (reordering, a delay spike) halved the
// window for nothing; three detectors tell it afterwards:
//
//   - D-SACK (RFC 3708 §3, sack.go): every retransmission of a fast
//     recovery came back D-SACKed;
//   - Eifel (RFC 3522 §3.2): the first ACK of new data after the first
//     retransmission echoes a timestamp older than that retransmission,
//     so the original segment, not the retransmission, was acknowledged
//     (timestamps must be on);
//   - F-RTO (RFC 5682, frto.go): after a timeout, new data sent instead
//     of retransmissions is acknowledged together with data that was
//     never retransmitted.
//
// The response (RFC 4015 §3) restores what the congestion control
// algorithm had before the reduction; ccUndoer lets it do so, with its
// own state (CUBIC's W_max, K and epoch, RFC 9438 §4.9). After a
// fast recovery the window is restored whole, as Linux does: the
// recovery is over, and what is in flight is what the restored window
// allows. After a spurious timeout the sender has most of a window in
// flight again and may have sent little for an RTO: ssthresh comes back
// whole, but cwnd at most FlightSize + min(bytes acknowledged, IW) (RFC
// 4015 §3's rule against a burst), and slow start climbs back to
// ssthresh within a round trip or two. Linux restores cwnd whole there
// too and relies on pacing to avoid the burst; ustack does not pace.

// ccUndoer is implemented by congestion control algorithms that can
// take back a window reduction found spurious.
type ccUndoer interface {
	// saveUndo remembers the state before a reduction (called before
	// OnLoss and OnRTO).
	saveUndo()
	// undo restores the state saved: ssthresh never below its current
	// value, cwnd never below its current value and, if maxCwnd > 0,
	// not above maxCwnd.
	undo(maxCwnd int)
}

// eifelState is RFC 3522's detector for the current episode.
type eifelState struct {
	// armed: the next ACK of new data is the first after the
	// episode's first retransmission, whose TSval is ts.
	armed bool
	ts    uint32
	// rto: the episode began with a retransmission timeout.
	rto bool
}

// undoSaveLocked starts an episode that may be undone: a fast
// retransmit or (rto) a timeout is about to reduce the window and
// retransmit. RFC 3522 §3.2: the TSval of the retransmission is
// remembered; it is sent right after this, at the same clock reading.
func (e *endpoint) undoSaveLocked(rto bool) {
	if u, ok := e.cc.(ccUndoer); ok {
		u.saveUndo()
	}
	e.eifel = eifelState{armed: e.tsOK, ts: e.tsNowLocked(), rto: rto}
}

// undoOnRTOLocked is called when the retransmission timer expires, before
// the algorithm's OnRTO. The state before the first timeout of a segment
// is the one to restore; a timeout during a fast recovery keeps the
// recovery's saved state (the window before the recovery) and its
// Eifel timestamp, as Linux keeps its undo marker.
func (e *endpoint) undoOnRTOLocked() {
	if e.retries > 1 {
		return
	}
	if e.inRecovery && e.undoArmed {
		e.eifel.rto = true
		return
	}
	e.undoSaveLocked(true)
}

// undoDisarmLocked forgets the episode: nothing may be undone any more.
func (e *endpoint) undoDisarmLocked() {
	e.undoArmed = false
	e.eifel.armed = false
}

// undoRestoreLocked restores the algorithm's state (see ccUndoer.undo)
// and forgets the episode.
func (e *endpoint) undoRestoreLocked(maxCwnd int) {
	e.undoDisarmLocked()
	if u, ok := e.cc.(ccUndoer); ok {
		u.undo(maxCwnd)
	}
}

// spuriousOnAckLocked runs the detectors after an ACK was processed;
// una is SND.UNA before it, sacked tells whether it SACKed new data.
func (e *endpoint) spuriousOnAckLocked(g *segment, una seqnum.Value, sacked bool) {
	acked := 0
	if e.sndUna.GreaterThan(una) {
		acked = int(una.Size(e.sndUna))
	}
	if acked > 0 && e.eifel.armed {
		// RFC 3522 §3.2: the first acceptable ACK after the
		// retransmission decides.
		e.eifel.armed = false
		if g.opts.HasTimestamps && g.opts.TSEcr != 0 {
			if int32(g.opts.TSEcr-e.eifel.ts) < 0 {
				if e.eifel.rto {
					e.spuriousRTOLocked(acked)
					return
				}
				// A spurious fast retransmit: undone once the
				// recovery is over (this ACK ended it), as the
				// D-SACK detector does. An ACK that leaves the
				// recovery going shows further holes: a loss,
				// and no undo.
				if !e.inRecovery {
					e.p.stats.SpuriousRecovery.Inc()
					e.undoRestoreLocked(0)
				}
				return
			}
			// The ACK echoes the retransmission: the original was
			// lost and the timeout genuine (RFC 3522 §3.2 finds no
			// spurious retransmission). F-RTO has nothing left to
			// find out.
			if e.eifel.rto && e.frto.step != frtoOff {
				e.frtoRevertLocked(e.frto.step == frtoSecond)
			}
		}
	}
	e.frtoOnAckLocked(g, acked, sacked)
}

// spuriousRTOLocked is the response to a spurious timeout (RFC 4015 §3,
// with the choices explained at the top of this file): no further
// go-back-N retransmissions, SND.NXT back to SND.MAX; the congestion
// state restored, cwnd at most FlightSize + min(acked, IW). The timeout
// set the recovery point to SND.MAX (RFC 6582 §3.2 step 4) so that the
// go-back-N retransmissions would not start a fast retransmit; with no
// go-back-N, that point goes: a segment of the window that is really
// lost is repaired by fast retransmit (or SACK recovery) as in any
// window, not by another timeout.
func (e *endpoint) spuriousRTOLocked(acked int) {
	e.frto.step = frtoOff
	e.p.stats.SpuriousRTORecovery.Inc()
	e.sndNxt = e.sndMax
	e.recoverSet = false
	e.rackUndoLossLocked()
	flight := int(e.sndUna.Size(e.sndMax))
	e.undoRestoreLocked(flight + min(acked, initialWindowSegments*e.sndMSS))
}

// rackUndoLossLocked takes back the loss marks the timeout put on every
// outstanding segment (RFC 8985 §6.3, rackOnRTOLocked): they were in
// flight, not lost, and RTO recovery is over, as Linux unmarks them when
// it undoes a spurious timeout. A segment lost for real is found again
// by RACK or the DupThresh rule, as in any window.
func (e *endpoint) rackUndoLossLocked() {
	if !e.rackOnLocked() {
		return
	}
	segs := e.rackSegsLocked()
	for i := range segs {
		if !segs[i].has(segDelivered) {
			segs[i].flags &^= segLost | segRxt
		}
	}
	e.rack.rtoRecovery = false
}

// dupAckLike reports whether g acknowledges nothing new and carries no
// data: a duplicate ACK in the sense of RFC 5682 (the window may have
// changed).
func (e *endpoint) dupAckLike(g *segment, acked int) bool {
	return acked == 0 && g.ack == e.sndUna && g.dataLen == 0 &&
		!g.has(header.TCPFlagSYN|header.TCPFlagFIN|header.TCPFlagRST)
}
