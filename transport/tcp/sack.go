package tcp

import (
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
)

// The sender's SACK-based loss recovery is RFC 6675's conservative
// algorithm. Its variables map onto the endpoint as:
//
//	HighACK       SND.UNA (e.sndUna)
//	HighData      SND.MAX (e.sndMax)
//	HighRxt       e.highRxt: the end of the highest range retransmitted
//	              in this recovery (exclusive, so "S1 ≤ HighRxt" of
//	              §4 SetPipe reads "S1 < e.highRxt")
//	RescueRxt     e.rescueRxt, valid when e.rescueSet
//	RecoveryPoint e.recover
//	DupThresh     sackDupThresh
//	the scoreboard e.sacked: the SACKed ranges above SND.UNA, sorted
//
// Pipe (§4 SetPipe) is counted in octets, from the per-segment records
// of RACK (rack.go) on a connection; what is lost is what RACK (RFC
// 8985), the DupThresh rule of §4 IsLost() or a timeout marked lost. The
// congestion window during recovery is proportional rate reduction's
// (RFC 6937, prr.go), which brings it from the flight at the start to
// ssthresh; RFC 5681's window inflation stood in for the pipe estimate
// and is not applied on top of it. The algorithm's OnLoss, OnPartialAck
// and OnRecoveryExit hooks are still called, so NewReno (or another
// algorithm) sets ssthresh on entry and the window on exit by its own
// rules. The scoreboard arithmetic below without records (§4 as
// written, HighRxt marking what was retransmitted) is kept for
// endpoints that track none.
//
// Connections without SACK keep RFC 6582 NewReno recovery (rcv.go).

// sackDupThresh is RFC 6675 §2's DupThresh.
const sackDupThresh = 3

// seqRange is a range [start, end) of sequence numbers.
type seqRange struct {
	start, end seqnum.Value
}

// sackUpdateLocked is RFC 6675 §4 Update(): it records the SACK blocks of
// g that lie above the cumulative ACK and within SND.UNA..SND.MAX. A
// D-SACK (RFC 2883 §4) is counted and fed to the spurious-recovery
// detector, not to the scoreboard. It reports whether g SACKed new data.
func (e *endpoint) sackUpdateLocked(g *segment) bool {
	if !e.sackOK || g.opts.NumSACKBlocks == 0 {
		return false
	}
	blocks := g.opts.SACK()
	// RFC 2883 §4: the first block is a D-SACK if the cumulative ACK
	// covers it, or if the second block contains it.
	first := blocks[0]
	dsack := first.Start.LessThan(first.End) &&
		(first.End.LessThanEq(g.ack) ||
			(len(blocks) > 1 && blocks[1].Start.LessThanEq(first.Start) && first.End.LessThanEq(blocks[1].End)))
	if dsack {
		e.p.stats.DSACKReceived.Inc()
		e.rack.dsackSeen, e.rack.dsack = true, seqRange{first.Start, first.End} // RFC 8985 §6.2 step 4, §7.4
		e.sackDSACKLocked(first.Start, first.End)
		blocks = blocks[1:]
	}
	before := e.sackedBytesLocked(e.sndUna, e.sndMax)
	for _, b := range blocks {
		if !b.Start.LessThan(b.End) || b.Start.LessThan(g.ack) || b.Start.LessThan(e.sndUna) || b.End.GreaterThan(e.sndMax) {
			continue
		}
		e.sackAddLocked(b.Start, b.End)
	}
	return e.sackedBytesLocked(e.sndUna, e.sndMax) != before
}

// sackAddLocked merges [s, t) into the sorted, disjoint scoreboard.
func (e *endpoint) sackAddLocked(s, t seqnum.Value) {
	i := 0
	for i < len(e.sacked) && e.sacked[i].end.LessThan(s) {
		i++
	}
	j := i
	for j < len(e.sacked) && !e.sacked[j].start.GreaterThan(t) {
		s = seqnum.Min(s, e.sacked[j].start)
		t = seqnum.Max(t, e.sacked[j].end)
		j++
	}
	if i == j {
		e.sacked = append(e.sacked, seqRange{})
		copy(e.sacked[i+1:], e.sacked[i:])
	} else if j > i+1 {
		e.sacked = append(e.sacked[:i+1], e.sacked[j:]...)
	}
	e.sacked[i] = seqRange{s, t}
}

// sackPruneLocked drops what SND.UNA passed.
func (e *endpoint) sackPruneLocked() {
	k := 0
	for k < len(e.sacked) && !e.sacked[k].end.GreaterThan(e.sndUna) {
		k++
	}
	if k > 0 {
		n := copy(e.sacked, e.sacked[k:])
		e.sacked = e.sacked[:n]
	}
	if len(e.sacked) > 0 && e.sacked[0].start.LessThan(e.sndUna) {
		e.sacked[0].start = e.sndUna
	}
	e.rackPruneLocked()
}

// sackedBytesLocked returns how many bytes of [a, b) are SACKed.
func (e *endpoint) sackedBytesLocked(a, b seqnum.Value) int {
	n := 0
	for _, r := range e.sacked {
		s, t := seqnum.Max(r.start, a), seqnum.Min(r.end, b)
		if s.LessThan(t) {
			n += int(s.Size(t))
		}
	}
	return n
}

// sackLostBelowLocked returns the sequence number below which every
// byte not SACKed is lost by RFC 6675 §4 IsLost(): DupThresh
// discontiguous SACKed ranges, or more than (DupThresh − 1)·SMSS SACKed
// bytes, lie above it. It returns SND.UNA when nothing is lost.
func (e *endpoint) sackLostBelowLocked() seqnum.Value {
	bytes, count := 0, 0
	for i := len(e.sacked) - 1; i >= 0; i-- {
		r := e.sacked[i]
		bytes += int(r.start.Size(r.end))
		count++
		if count >= sackDupThresh || bytes > (sackDupThresh-1)*e.sndMSS {
			return r.start
		}
	}
	return e.sndUna
}

// sackIsLostLocked is RFC 6675 §4 IsLost(seq).
func (e *endpoint) sackIsLostLocked(seq seqnum.Value) bool {
	for _, r := range e.sacked {
		if seq.InRange(r.start, r.end) {
			return false
		}
	}
	return seq.LessThan(e.sackLostBelowLocked())
}

// sackPipeLocked is RFC 6675 §4 SetPipe(), in octets: every byte of
// HighACK..HighData not SACKed counts once if not lost (§4 (a)) and once
// more if it was retransmitted in this recovery (§4 (b)).
func (e *endpoint) sackPipeLocked() int {
	if e.rackOnLocked() {
		return e.rackPipeLocked()
	}
	una, max := e.sndUna, e.sndMax
	lost := seqnum.Max(e.sackLostBelowLocked(), una)
	pipe := 0
	if lost.LessThan(max) {
		pipe += int(lost.Size(max)) - e.sackedBytesLocked(lost, max)
	}
	if rx := seqnum.Min(e.highRxt, max); una.LessThan(rx) {
		pipe += int(una.Size(rx)) - e.sackedBytesLocked(una, rx)
	}
	return pipe
}

// sackHighestLocked returns the end of the highest SACKed range
// ("the highest octet SACKed" of RFC 6675 §4 NextSeg, exclusive).
func (e *endpoint) sackHighestLocked() (seqnum.Value, bool) {
	if len(e.sacked) == 0 {
		return 0, false
	}
	return e.sacked[len(e.sacked)-1].end, true
}

// sackHoleLocked returns the first byte at or after from (and SND.UNA)
// that is not SACKed and lies below limit, with the length of the hole
// it starts (up to limit).
func (e *endpoint) sackHoleLocked(from, limit seqnum.Value) (seqnum.Value, int, bool) {
	p := seqnum.Max(from, e.sndUna)
	for _, r := range e.sacked {
		if !p.LessThan(limit) {
			return 0, 0, false
		}
		if p.LessThan(r.start) {
			return p, int(p.Size(seqnum.Min(r.start, limit))), true
		}
		if p.LessThan(r.end) {
			p = r.end
		}
	}
	if p.LessThan(limit) {
		return p, int(p.Size(limit)), true
	}
	return 0, 0, false
}

// sackEnterRecoveryLocked is RFC 6675 §5 step (4): enter loss recovery.
func (e *endpoint) sackEnterRecoveryLocked() {
	// RFC 3708 / RFC 4015: remember the window to restore if every
	// retransmission of this episode turns out spurious (D-SACKed).
	e.undoStartEpisodeLocked()
	// (4.1) RecoveryPoint = HighData.
	e.inRecovery = true
	e.partialSeen = false
	e.recover = e.sndMax
	e.recoverSet = true
	e.p.stats.FastRetransmits.Inc()
	e.p.stats.FastRecovery.Inc()
	e.p.stats.SACKRecovery.Inc()
	// (4.2) ssthresh = cwnd = (FlightSize / 2): the algorithm's rule.
	e.cc.OnLoss(int(e.sndUna.Size(e.sndMax)))
	e.highRxt = e.sndUna
	e.rescueSet = false
	if e.rackOnLocked() {
		// RFC 8985 (rack.go) and RFC 6937 (prr.go): the records
		// say what is lost, PRR how much goes; (4.3)'s
		// retransmission of HighACK+1 is NextSeg rule (1) on a
		// DupThresh start.
		e.rack.tlpActive = false
		e.prrStartLocked()
		e.rackMarkDupThreshLocked(e.dupAcks >= sackDupThresh || e.sackIsLostLocked(e.sndUna))
		e.rxtSndMax = e.sndMax
		e.rtoAt = e.nowLocked().Add(e.rtoLocked())
		e.sackRecoverySendLocked()
		return
	}
	// (4.3) Retransmit the first segment presumed dropped, HighACK+1.
	if n := e.retransmitAtLocked(e.sndUna, e.sndMSS); n > 0 {
		e.highRxt = e.sndUna.Add(seqnum.Size(n))
	}
	e.rxtSndMax = e.sndMax
	e.rtoAt = e.nowLocked().Add(e.rtoLocked())
	// (4.4) Run SetPipe and send what (C) allows.
	e.sackRecoverySendLocked()
}

// sackRecoveryCwndLocked is the congestion window of RFC 6675 §5 during
// recovery: ssthresh, as (4.2) set it, never less than one segment.
func (e *endpoint) sackRecoveryCwndLocked() int {
	return max(e.cc.Ssthresh(), e.sndMSS)
}

// sackRecoverySendLocked is RFC 6675 §5 step (C): while cwnd − pipe ≥ 1
// SMSS, send the segment NextSeg() chooses.
func (e *endpoint) sackRecoverySendLocked() {
	cwnd := e.sackRecoveryCwndLocked()
	if e.rackOnLocked() {
		cwnd = e.prrWindowLocked()
	}
	for cwnd-e.sackPipeLocked() >= e.sndMSS {
		if !e.sackNextSegLocked() {
			break
		}
	}
	if e.rackOnLocked() {
		// RFC 8985 §7.2: the probe timer, for the stall that RACK's
		// timer does not cover (tlpRecoveryProbeLocked).
		e.tlpScheduleLocked(e.nowLocked())
	}
}

// sackNextSegLocked is RFC 6675 §4 NextSeg() followed by the
// transmission of what it chose (§5 (C.1)–(C.4)). It reports whether a
// segment was sent that counts in the pipe.
func (e *endpoint) sackNextSegLocked() bool {
	from := seqnum.Max(e.highRxt, e.sndUna)
	high, ok := e.sackHighestLocked()
	// (1) The first hole above HighRxt, below the highest SACKed
	// octet, that IsLost() says is lost: (C.3) HighRxt follows it.
	// With RACK (rack.go), the first segment marked lost and not
	// retransmitted since, wherever it lies.
	if e.rackOnLocked() {
		if s, lost := e.rackNextLostLocked(); lost && e.rackRetransmitLocked(s) {
			return true
		}
	} else if ok {
		if seq, n, found := e.sackHoleLocked(from, high); found && seq.LessThan(e.sackLostBelowLocked()) {
			if sent := e.retransmitAtLocked(seq, n); sent > 0 {
				e.highRxt = seq.Add(seqnum.Size(sent))
				e.rxtSndMax = e.sndMax
				return true
			}
		}
	}
	// (2) New data the receiver's window admits.
	if e.sackSendNewLocked() {
		return true
	}
	// (3) A hole above HighRxt below the highest SACKed octet, lost or
	// not.
	if ok {
		if seq, n, found := e.sackHoleLocked(from, high); found {
			if sent := e.retransmitAtLocked(seq, n); sent > 0 {
				e.highRxt = seq.Add(seqnum.Size(sent))
				e.rxtSndMax = e.sndMax
				return true
			}
		}
	}
	// (4) One rescue retransmission per recovery, of the highest
	// unSACKed segment, when HighACK > RescueRxt or RescueRxt is
	// undefined; RescueRxt = RecoveryPoint; HighRxt is not moved. It
	// does not count in the pipe, so the caller stops after it.
	//
	// ustack waits for the evidence the rule exists for, a lost tail:
	// the rescue is sent only once the cumulative ACK has passed every
	// retransmission of the recovery (HighACK ≥ HighRxt) and nothing
	// new was sent after the last of them. The unSACKed tail was sent
	// before those retransmissions, so had it arrived its SACKs would
	// have come first. Taken literally, rule (4) fires in mid-recovery
	// whenever the pipe falls below cwnd with no new data to send,
	// duplicating segments still in flight.
	if (!e.rescueSet || e.sndUna.GreaterThan(e.rescueRxt)) &&
		!e.sndUna.LessThan(e.highRxt) && e.sndMax == e.rxtSndMax {
		end := e.sndMax
		if ok && high == e.sndMax {
			end = e.sacked[len(e.sacked)-1].start
		}
		if e.sndUna.LessThan(end) {
			start := e.sndUna
			if int(e.sndUna.Size(end)) > e.sndMSS {
				start = end.Sub(seqnum.Size(e.sndMSS))
			}
			e.rescueSet, e.rescueRxt = true, e.recover
			e.retransmitAtLocked(start, int(start.Size(end)))
		}
	}
	return false
}

// sackSendNewLocked sends one segment of new data (or the FIN) during
// recovery if the peer's window admits it (RFC 6675 §4 NextSeg rule 2).
func (e *endpoint) sackSendNewLocked() bool {
	if e.sndNxt != e.sndMax {
		return false
	}
	off := int(e.bufSeq.Size(e.sndNxt))
	avail := e.sndBuf.Len() - off
	if avail <= 0 {
		if e.finQueued && e.sndNxt == e.finSeqLocked() {
			return e.transmitLocked(0, 0, true)
		}
		return false
	}
	n := min(avail, e.segDataMaxLocked())
	if int(e.sndUna.Size(e.sndMax))+n > int(e.sndWnd) {
		return false
	}
	return e.transmitLocked(off, n, n == avail && e.finQueued)
}

// sackUndoMaxRxt bounds the retransmissions of one recovery that the
// spurious-recovery detector tracks; a longer recovery is not undone.
const sackUndoMaxRxt = 64

// sackDSACKLocked takes a D-SACK for [s, t) (RFC 2883 §4). A D-SACK that
// covers a range retransmitted in the current or last recovery says one
// of its two copies was unnecessary; once every retransmission of the
// episode has been D-SACKed, the recovery was spurious (RFC 3708 §3):
// the window is restored (RFC 4015 §3.2's response, without its
// adaptation of DupThresh). D-SACKs of anything else (the network's
// duplicates) are only counted.
func (e *endpoint) sackDSACKLocked(s, t seqnum.Value) {
	if !e.undoArmed {
		return
	}
	for i, r := range e.undoRxt {
		if !r.start.LessThan(s) && !r.end.GreaterThan(t) {
			// RFC 8985 §6.2 step 3 sees reordering when a segment
			// never retransmitted is delivered below RACK.fack. A
			// segment that RACK or DupThresh marked lost too early
			// is retransmitted before its original arrives, and
			// then only this D-SACK shows the original delivered
			// after segments sent later: the same event, so it
			// sets RACK.reordering_seen too (as Linux's undo of a
			// partial recovery checks reordering when the hole was
			// filled by the delayed original). Without it a path
			// that delays segments by more than DupThresh later
			// ones keeps a zero reordering window in recovery and
			// retransmits every delayed segment. The episode's
			// retransmissions are fast recovery's only (a timeout
			// disarms it): a delay spike's spurious timeout does
			// not count.
			e.rack.reoSeen = true
			e.undoRxt = append(e.undoRxt[:i], e.undoRxt[i+1:]...)
			e.undoDSACKs++
			e.sackMaybeUndoLocked()
			return
		}
	}
}

// undoStartEpisodeLocked starts the spurious-recovery detector's episode
// for a SACK recovery that begins (RFC 3708 §3): the state to restore,
// and the retransmissions to see D-SACKed.
func (e *endpoint) undoStartEpisodeLocked() {
	if e.undoArmed && len(e.undoRxt) > 0 && e.sndUna.LessThan(e.undoRxtEnd) {
		// The last episode's D-SACKs may still come: its latest
		// retransmission is not a round trip old (the ACK of what
		// was sent before it has not arrived). Reordering that
		// starts a spurious recovery often starts the next one
		// before then; saving the window now would save the one
		// the last episode reduced, and undoing both would restore
		// only that (the reorder scenario over IPv6: ssthresh left
		// at 28 KB, 3.45 s instead of 1.74 s for 16 MiB). The
		// episodes are merged: the window before the first comes
		// back once every retransmission of both is D-SACKed.
		// Eifel (undo.go) judges one retransmission, not a merged
		// episode: it is left out.
		e.eifel.armed = false
		return
	}
	e.undoSaveLocked(false)
	e.undoArmed, e.undoDSACKs = true, 0
	e.undoRxt = e.undoRxt[:0]
}

// undoNoteRxtLocked records a retransmission of [seq, seq+n) in the
// armed episode, sent now (at SND.MAX).
func (e *endpoint) undoNoteRxtLocked(seq seqnum.Value, n int) {
	e.undoRxt = append(e.undoRxt, seqRange{seq, seq.Add(seqnum.Size(n))})
	e.undoRxtEnd = e.sndMax
}

// sackMaybeUndoLocked undoes the last recovery once it is over and every
// one of its retransmissions was D-SACKed.
func (e *endpoint) sackMaybeUndoLocked() {
	if !e.undoArmed || e.inRecovery || e.undoDSACKs == 0 || len(e.undoRxt) > 0 {
		return
	}
	e.p.stats.SpuriousRecovery.Inc()
	e.undoRestoreLocked(0)
}

// sackSkipLocked moves SND.NXT past a SACKed range after an RTO (RFC
// 6675 §5.1: the retransmissions skip what the receiver holds). It
// reports whether SND.NXT was below SND.MAX with SACK in use (a go-back-N
// retransmission) and the bytes that may be sent before the next SACKed
// range (-1: no such range).
func (e *endpoint) sackSkipLocked() (int, bool) {
	if !e.sackOK || !e.sndNxt.LessThan(e.sndMax) {
		return -1, false
	}
	for _, r := range e.sacked {
		if e.sndNxt.InRange(r.start, r.end) {
			e.sndNxt = r.end
			continue
		}
		if e.sndNxt.LessThan(r.start) {
			return int(e.sndNxt.Size(r.start)), true
		}
	}
	return -1, true
}

// retransmitAtLocked resends at most limit bytes (and one MSS) from seq
// without moving SND.NXT, with the FIN if it follows them, and returns the
// data bytes sent (0 if the link refused the segment for want of room).
func (e *endpoint) retransmitAtLocked(seq seqnum.Value, limit int) int {
	if seq.LessThan(e.bufSeq) {
		seq = e.bufSeq
	}
	off := int(e.bufSeq.Size(seq))
	avail := e.sndBuf.Len() - off
	n := min(max(avail, 0), e.segDataMaxLocked(), limit)
	fin := n == avail && e.finQueued && e.sndMax.GreaterThan(e.finSeqLocked())
	if n <= 0 && !fin {
		return 0
	}
	flags := header.TCPFlagACK
	if fin {
		flags |= header.TCPFlagFIN
	}
	if err := e.sendSegmentLocked(seq, e.rcvNxt, flags, off, max(n, 0), false); linkFull(err) && e.sndUna != e.sndMax {
		// The link's queue is full: nothing went, and the
		// retransmission waits for an ACK as new data does
		// (transmitLocked).
		return 0
	}
	e.rackOnSendLocked(seq, max(n, 0), fin, e.nowLocked())
	e.countRetransmitLocked()
	if e.undoArmed {
		if len(e.undoRxt) >= sackUndoMaxRxt {
			e.undoArmed = false
		} else {
			e.undoNoteRxtLocked(seq, max(n, 0))
		}
	}
	e.rtt.timing = false // Karn's rule
	return max(n, 0)
}
