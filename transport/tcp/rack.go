package tcp

import (
	"time"

	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// RACK-TLP (RFC 8985) loss detection, used when SACK is in use.
//
// The sender keeps one record per segment sent and not yet cumulatively
// acknowledged (rackState.segs, a slice reused for the life of the
// connection: no allocation per segment once it has grown to the
// window). A record holds the segment's range, when it was last sent,
// and its state for loss recovery:
//
//	delivered  ACKed or SACKed (RFC 8985 §6.1 "Segment.acked/sacked")
//	lost       the last transmission of the original was judged lost
//	           (by RACK, by RFC 6675 IsLost(), or by a timeout)
//	rxt        a retransmission sent after that judgment is in flight
//	everRxt    retransmitted at least once (RFC 8985 "retransmitted")
//
// RFC 6675's pipe is computed from these records (rackPipeLocked): a
// record counts once if its original is not judged lost and once more
// for a retransmission in flight, the two terms of RFC 6675 §4 SetPipe.
// NextSeg's rule (1) retransmits the first record marked lost and not
// retransmitted since; so a retransmission that RACK finds lost again is
// retransmitted again, which RFC 6675's HighRxt alone could not do.
//
// Loss marks come from RACK (§6.2 step 5 on every ACK, and the
// reordering timer of §6.3), from RFC 6675's DupThresh rule until RACK
// has seen reordering (rackDupThreshLocked), and from an RTO (§6.3:
// every segment outstanding is lost). Fast recovery starts on the first
// mark as on the third duplicate ACK.
//
// # Coarse clocks
//
// Transmit times come from the stack's Clock and are compared with the
// ACK's arrival time on the same clock. A clock that ticks coarsely
// gives equal times to segments sent within a tick, and RTT samples of
// zero: RFC 8985 §6.2's RACK_sent_after breaks ties of equal times by
// sequence number (a segment sent later in the same tick has a higher
// end), so a segment sent after the one delivered is never judged lost;
// RACK.rtt is at least rackMinRTT, so a segment sent in the tick of the
// ACK is not judged lost by that ACK; and the RACK and TLP timers are
// never armed for less than rackTimerMin.

// rackMinRTT is the least RACK.rtt: a sample of zero (clock granularity)
// counts as this.
const rackMinRTT = time.Millisecond

// rackTimerMin is the least duration the reordering and probe timers are
// armed for (timer granularity; never 0 or negative).
const rackTimerMin = time.Millisecond

// rackReoPersist is RFC 8985 §6.2 step 4's number of recoveries a grown
// reordering window persists.
const rackReoPersist = 16

// rackMaxRecords bounds the records of one connection. A flight of tiny
// segments (TCP_NODELAY and small writes into a large window) beyond it
// extends the last record instead of adding one: loss detection then
// sees those segments as one, sent at the time of the latest.
const rackMaxRecords = 1 << 14

// tlpWCDelAckT is RFC 8985 §7.2's worst-case delayed ACK time, added to
// the PTO when one segment is in flight.
const tlpWCDelAckT = 200 * time.Millisecond

// tlpNoSRTT is the PTO before any RTT sample (RFC 8985 §7.2: 1 second).
const tlpNoSRTT = time.Second

// Record flags.
const (
	segDelivered uint8 = 1 << iota
	segLost
	segRxt
	segEverRxt
)

// txSeg is the record of one segment sent: RFC 8985 §6.1's per-segment
// variables.
type txSeg struct {
	start, end seqnum.Value        // the range sent, FIN included
	at         tcpip.MonotonicTime // Segment.xmit_ts: the last transmission
	tsval      uint32              // our timestamp on the last transmission
	flags      uint8
}

func (s *txSeg) has(f uint8) bool { return s.flags&f != 0 }
func (s *txSeg) len() int         { return int(s.start.Size(s.end)) }

// rackState is RFC 8985's per-connection state, and TLP's (§7).
type rackState struct {
	segs []txSeg // records from head on, sorted, disjoint, covering [SND.UNA, SND.MAX)
	head int
	// sackedHigh is the highest end of a record delivered above the
	// cumulative ACK (SACKed), valid if sackedHighSet: no delivered
	// record lies above it, which lets rackOnAckLocked stop early.
	sackedHigh    seqnum.Value
	sackedHighSet bool

	// RFC 8985 §6.1 connection variables.
	xmitTS     tcpip.MonotonicTime // RACK.xmit_ts
	endSeq     seqnum.Value        // RACK.end_seq
	xmitSet    bool                // RACK.xmit_ts is set
	rtt        time.Duration       // RACK.rtt
	minRTT     time.Duration       // RACK.min_RTT, 0 before any sample
	fack       seqnum.Value        // RACK.fack
	fackSet    bool
	reoSeen    bool         // RACK.reordering_seen
	reoMult    int          // RACK.reo_wnd_mult
	reoPersist int          // RACK.reo_wnd_persist
	dsackRound seqnum.Value // RACK.dsack_round, valid if dsackSet
	dsackSet   bool
	reoAt      tcpip.MonotonicTime // the reordering timer (§6.3), zero if not armed

	// Recovery after an RTO (§6.2 step 4's "RTO recovery"): until
	// SND.UNA passes rtoRecover.
	rtoRecovery bool
	rtoRecover  seqnum.Value
	wasRecovery bool // in recovery at the previous ACK

	// Per ACK: the D-SACK the ACK carried (sack.go), consumed by
	// rackOnAckLocked.
	dsackSeen bool
	dsack     seqRange
	newLost   int // segments marked lost by the last detection

	// TLP (RFC 8985 §7).
	ptoAt      tcpip.MonotonicTime // the probe timeout, zero if not armed
	tlpActive  bool                // TLP.end_seq is set
	tlpEnd     seqnum.Value        // TLP.end_seq
	tlpRetrans bool                // TLP.is_retrans
	tlpRxt     seqRange            // the range the probe retransmitted
}

// rackOnLocked reports whether RACK-TLP runs on the connection: with
// SACK (RFC 8985 §4: RACK needs SACK to learn what arrived; without it
// the engine keeps RFC 6582 NewReno).
func (e *endpoint) rackOnLocked() bool { return e.sackOK }

// rackSegsLocked returns the live records.
func (e *endpoint) rackSegsLocked() []txSeg { return e.rack.segs[e.rack.head:] }

// rackSentAfter is RFC 8985 §6.2's RACK_sent_after(t1, seq1, t2, seq2):
// whether the segment (t1, seq1) was sent after (t2, seq2); equal times
// (a coarse clock) are ordered by sequence number.
func rackSentAfter(t1 tcpip.MonotonicTime, seq1 seqnum.Value, t2 tcpip.MonotonicTime, seq2 seqnum.Value) bool {
	return t1.After(t2) || (t1 == t2 && seq1.GreaterThan(seq2))
}

// rackSplitLocked makes at a record boundary, splitting the record that
// contains it (a retransmission that covers part of a segment: an MSS
// change, or SACK skipping after an RTO).
func (e *endpoint) rackSplitLocked(at seqnum.Value) {
	segs := e.rackSegsLocked()
	for i := range segs {
		s := segs[i]
		if !at.GreaterThan(s.start) {
			return
		}
		if at.LessThan(s.end) {
			k := e.rack.head + i
			e.rack.segs = append(e.rack.segs, txSeg{})
			copy(e.rack.segs[k+1:], e.rack.segs[k:])
			e.rack.segs[k].end = at
			e.rack.segs[k+1].start = at
			return
		}
	}
}

// rackOnSendLocked records the transmission of [seq, seq+n) (and the FIN
// after it if fin) at now: new data gets a record, a retransmission
// updates the records it covers (RFC 8985 §6.2 step 1: Segment.xmit_ts
// is the time of the latest transmission). It is called before SND.MAX
// moves.
func (e *endpoint) rackOnSendLocked(seq seqnum.Value, n int, fin bool, now tcpip.MonotonicTime) {
	if !e.rackOnLocked() {
		return
	}
	l := n
	if fin {
		l++
	}
	if l <= 0 {
		return
	}
	end := seq.Add(seqnum.Size(l))
	if e.inRecovery {
		// RFC 6937 §3: prr_out counts every byte sent in recovery.
		e.prr.out += l
	}
	ts := uint32(0)
	if e.tsOK {
		ts = e.tsNowLocked()
	}
	if seq.LessThan(e.sndMax) {
		old := seqnum.Min(end, e.sndMax)
		e.rackSplitLocked(seq)
		e.rackSplitLocked(old)
		segs := e.rackSegsLocked()
		for i := range segs {
			s := &segs[i]
			if !s.end.GreaterThan(seq) {
				continue
			}
			if !s.start.LessThan(old) {
				break
			}
			s.at, s.tsval = now, ts
			s.flags = s.flags&segLost | segRxt | segEverRxt
		}
		seq = old
	}
	if seq.LessThan(end) {
		if live := e.rackSegsLocked(); len(live) >= rackMaxRecords {
			last := &live[len(live)-1]
			if last.end == seq && last.flags == 0 {
				last.end, last.at, last.tsval = end, now, ts
				return
			}
		}
		if len(e.rack.segs) == cap(e.rack.segs) && e.rack.head > 0 {
			// Reuse the array's front before growing it.
			k := copy(e.rack.segs, e.rack.segs[e.rack.head:])
			e.rack.segs = e.rack.segs[:k]
			e.rack.head = 0
		}
		e.rack.segs = append(e.rack.segs, txSeg{start: seq, end: end, at: now, tsval: ts})
	}
}

// rackPruneLocked drops the records SND.UNA passed.
func (e *endpoint) rackPruneLocked() {
	segs := e.rack.segs
	h := e.rack.head
	for h < len(segs) && !segs[h].end.GreaterThan(e.sndUna) {
		h++
	}
	if h == len(segs) {
		e.rack.segs, e.rack.head = segs[:0], 0
		return
	}
	if segs[h].start.LessThan(e.sndUna) {
		segs[h].start = e.sndUna
	}
	e.rack.head = h
}

// rackOnAckLocked runs RFC 8985 §6.2 steps 1–5 for the ACK g (after its
// SACK blocks went to the scoreboard, before SND.UNA moves), the TLP
// episode check of §7.4, and feeds RFC 6937's DeliveredData to PRR.
func (e *endpoint) rackOnAckLocked(g *segment, now tcpip.MonotonicTime) {
	if !e.rackOnLocked() {
		return
	}
	r := &e.rack
	// Leaving recovery: RFC 8985 §6.2 step 4, "exiting Fast or RTO
	// recovery" lets a grown reordering window decay.
	inRec := e.rackInRecoveryLocked()
	if r.wasRecovery && !inRec {
		r.reoPersist--
		if r.reoPersist <= 0 {
			r.reoMult = 1
		}
	}
	r.wasRecovery = inRec
	ack := g.ack
	if ack.LessThan(e.sndUna) {
		ack = e.sndUna
	}
	if r.sackedHighSet && !ack.LessThan(r.sackedHigh) {
		r.sackedHighSet = false // every SACKed record is acknowledged
	}
	// Steps 1–3: the segments this ACK delivered.
	var best *txSeg
	delivered, sackedSegs := 0, 0
	segs := e.rackSegsLocked()
	k := 0
	head := true // in the run of segments from SND.UNA not delivered before
	for i := range segs {
		s := &segs[i]
		if s.has(segDelivered) {
			head = false
			if s.end.GreaterThan(ack) {
				sackedSegs++
			}
			continue
		}
		done := !s.end.GreaterThan(ack)
		if !done {
			for k < len(e.sacked) && !e.sacked[k].end.GreaterThan(s.start) {
				k++
			}
			done = k < len(e.sacked) && !e.sacked[k].start.GreaterThan(s.start) && !s.end.GreaterThan(e.sacked[k].end)
			if done {
				sackedSegs++
			}
		}
		if !done {
			if k == len(e.sacked) && (!r.sackedHighSet || !s.start.LessThan(r.sackedHigh)) {
				// No SACK block and no record delivered before
				// lies above: the later records (sorted) are
				// neither delivered nor SACKed, and would change
				// nothing. Without this the loop visited every
				// record in flight on every ACK.
				break
			}
			head = false
			continue
		}
		sacked := s.end.GreaterThan(ack)
		if sacked && (!r.sackedHighSet || r.sackedHigh.LessThan(s.end)) {
			r.sackedHigh, r.sackedHighSet = s.end, true
		}
		s.flags = s.flags&segEverRxt | segDelivered
		delivered += s.len()
		// Step 3: reordering: a segment never retransmitted
		// delivered below RACK.fack arrived out of order. A
		// segment that the cumulative ACK covers above a segment
		// delivered before may instead have arrived in order with
		// its SACK lost (an ACK lost, or more holes than SACK
		// blocks): only SACKed segments and those of the run from
		// SND.UNA count.
		if !r.fackSet || s.end.GreaterThan(r.fack) {
			r.fack, r.fackSet = s.end, true
		} else if s.end.LessThan(r.fack) && !s.has(segEverRxt) && (sacked || head) {
			r.reoSeen = true
		}
		// Step 2: RFC 8985 §6.1's ambiguity of a retransmitted
		// segment: its echoed timestamp must not predate the
		// retransmission; without timestamps, an RTT below the
		// minimum says the ACK was for the original.
		rtt := now.Sub(s.at)
		if s.has(segEverRxt) {
			if e.tsOK && g.opts.HasTimestamps {
				if int32(g.opts.TSEcr-s.tsval) < 0 {
					continue
				}
			} else if r.minRTT > 0 && rtt < r.minRTT {
				continue
			}
		}
		if best == nil || rackSentAfter(s.at, s.end, best.at, best.end) {
			best = s
		}
	}
	if best != nil {
		rtt := max(now.Sub(best.at), rackMinRTT)
		if r.minRTT == 0 || rtt < r.minRTT {
			r.minRTT = rtt
		}
		if !r.xmitSet || rackSentAfter(best.at, best.end, r.xmitTS, r.endSeq) {
			r.rtt = rtt
			r.xmitTS, r.endSeq, r.xmitSet = best.at, best.end, true
		}
	}
	// RFC 6937 §3: DeliveredData of this ACK.
	e.prr.ackDelivered = delivered
	if e.inRecovery {
		e.prrOnAckLocked(delivered)
	}
	// Step 4: the D-SACK rounds of the reordering window.
	if r.dsackSet && !e.sndUna.LessThan(r.dsackRound) {
		r.dsackSet = false
	}
	if !r.dsackSet && r.dsackSeen {
		r.dsackRound, r.dsackSet = e.sndMax, true
		r.reoMult++
		r.reoPersist = rackReoPersist
	}
	// §7.4: the TLP episode.
	e.tlpOnAckLocked(g)
	r.dsackSeen = false
	// Step 5: loss detection, and RFC 6675's DupThresh rule.
	e.rackDetectLossLocked(now, sackedSegs)
	r.newLost += e.rackMarkDupThreshLocked(false)
	if e.prr.pending && r.newLost > 0 {
		e.prr.safe = false
	}
	if len(e.sacked) > 0 && !e.tlpRecoveryProbeLocked() {
		// RFC 8985 §7.2: no probe while the scoreboard holds SACKed
		// data (RACK's timer covers it), except for the stall of
		// fast recovery that it does not cover: an ACK that tells
		// nothing new (a window update) keeps that probe armed.
		r.ptoAt = zeroTime
	}
}

// rackInRecoveryLocked reports fast recovery or recovery after an RTO.
func (e *endpoint) rackInRecoveryLocked() bool {
	if e.rack.rtoRecovery && !e.sndUna.LessThan(e.rack.rtoRecover) {
		e.rack.rtoRecovery = false
	}
	return e.inRecovery || e.rack.rtoRecovery
}

// rackReoWndLocked is RFC 8985 §6.2 step 4's reordering window, given
// the segments SACKed above SND.UNA.
func (e *endpoint) rackReoWndLocked(sackedSegs int) time.Duration {
	r := &e.rack
	if !r.reoSeen {
		// No reordering seen: in recovery, or once DupThresh
		// segments are SACKed, no window (fast detection as
		// RFC 6675 would).
		if e.rackInRecoveryLocked() || sackedSegs >= sackDupThresh {
			return 0
		}
	}
	mult := max(r.reoMult, 1)
	w := time.Duration(mult) * r.minRTT / 4
	if e.rtt.valid {
		w = min(w, e.rtt.srtt)
	}
	return w
}

// rackDetectLossLocked is RFC 8985 §6.2 step 5 and §6.3: it marks lost
// every outstanding segment sent before RACK.xmit_ts whose time
// (RACK.rtt + reo_wnd after its transmission) has passed, and arms the
// reordering timer for the earliest of the others.
func (e *endpoint) rackDetectLossLocked(now tcpip.MonotonicTime, sackedSegs int) {
	r := &e.rack
	r.newLost = 0
	r.reoAt = zeroTime
	if !r.xmitSet {
		return
	}
	reo := e.rackReoWndLocked(sackedSegs)
	var wait time.Duration
	segs := e.rackSegsLocked()
	for i := range segs {
		s := &segs[i]
		if s.has(segDelivered) || (s.has(segLost) && !s.has(segRxt)) {
			continue
		}
		if !rackSentAfter(r.xmitTS, r.endSeq, s.at, s.end) {
			if !s.has(segEverRxt) {
				// Sent (first) no earlier than RACK.xmit_ts: the
				// later records were sent after it too (sorted by
				// sequence, a retransmission comes after the
				// first sending of what precedes it), so none of
				// them is lost by §6.2 step 5 either.
				break
			}
			continue
		}
		left := s.at.Add(r.rtt + reo).Sub(now)
		if left <= 0 {
			s.flags = s.flags&^segRxt | segLost
			r.newLost++
			e.p.stats.RACKLost.Inc()
			continue
		}
		wait = max(wait, left)
	}
	if wait > 0 {
		r.reoAt = now.Add(max(wait, rackTimerMin))
	}
}

// rackLostPendingLocked reports whether a segment is marked lost and not
// retransmitted since.
func (e *endpoint) rackLostPendingLocked() bool {
	segs := e.rackSegsLocked()
	for i := range segs {
		if segs[i].flags&(segDelivered|segLost|segRxt) == segLost {
			return true
		}
	}
	return false
}

// rackMarkDupThreshLocked marks lost what RFC 6675 §4 IsLost() says is
// (the DupThresh rule, kept beside RACK), and with first the segment at
// SND.UNA (§5 (4.3): presumed dropped when recovery starts on DupThresh).
func (e *endpoint) rackMarkDupThreshLocked(first bool) int {
	n := 0
	if !e.rackDupThreshLocked() {
		return 0
	}
	below := e.sackLostBelowLocked()
	segs := e.rackSegsLocked()
	for i := range segs {
		s := &segs[i]
		if s.flags&(segDelivered|segLost|segRxt) != 0 {
			continue
		}
		if (i == 0 && first) || !s.end.GreaterThan(below) {
			s.flags |= segLost
			n++
			continue
		}
		break
	}
	return n
}

// rackDupThreshLocked reports whether RFC 6675's DupThresh rules apply:
// until RACK has seen reordering. RFC 8985 §6.2 step 4 sets reo_wnd to 0
// while no reordering is seen and DupThresh segments are SACKed, so
// RACK alone already detects what DupThresh would; once reordering is
// seen, DupThresh would retransmit what RACK's window waits for (RFC
// 8985 §2: RACK is "an alternative to the DupThresh approach", as
// Linux, which stops counting duplicate ACKs under RACK).
func (e *endpoint) rackDupThreshLocked() bool {
	return !e.rackOnLocked() || !e.rack.reoSeen
}

// rackPipeLocked is RFC 6675 §4 SetPipe() on the records, in octets.
func (e *endpoint) rackPipeLocked() int {
	pipe := 0
	segs := e.rackSegsLocked()
	for i := range segs {
		s := &segs[i]
		if s.has(segDelivered) {
			continue
		}
		if !s.has(segLost) {
			pipe += s.len()
		}
		if s.has(segRxt) {
			pipe += s.len()
		}
	}
	return pipe
}

// rackNextLostLocked returns the first segment marked lost and not
// retransmitted since (RFC 6675 §4 NextSeg rule (1) on the records).
func (e *endpoint) rackNextLostLocked() (*txSeg, bool) {
	segs := e.rackSegsLocked()
	for i := range segs {
		if segs[i].flags&(segDelivered|segLost|segRxt) == segLost {
			return &segs[i], true
		}
	}
	return nil, false
}

// rackRetransmitLocked resends the segment of record s (RFC 6675 §5
// (C.1)) and reports whether anything went.
func (e *endpoint) rackRetransmitLocked(s *txSeg) bool {
	start, l := s.start, s.len()
	sent := e.retransmitAtLocked(start, l)
	if sent == 0 && !(e.finQueued && start.Add(seqnum.Size(l)) == e.finSeqLocked()+1) {
		return false
	}
	if end := start.Add(seqnum.Size(max(sent, 1))); end.GreaterThan(e.highRxt) {
		e.highRxt = end
	}
	e.rxtSndMax = e.sndMax
	return true
}

// rackOnRTOLocked is RFC 8985 §6.3 on a retransmission timeout: every
// outstanding segment is lost; the probe and reordering timers stop.
func (e *endpoint) rackOnRTOLocked() {
	if !e.rackOnLocked() {
		return
	}
	segs := e.rackSegsLocked()
	for i := range segs {
		if !segs[i].has(segDelivered) {
			segs[i].flags = segs[i].flags&segEverRxt | segLost
		}
	}
	e.rack.rtoRecovery, e.rack.rtoRecover = true, e.sndMax
	e.rack.reoAt, e.rack.ptoAt = zeroTime, zeroTime
	e.rack.tlpActive = false
}

// rackOnPMTULocked marks lost every outstanding segment longer than mss,
// the new MSS after a path MTU reduction: the network dropped them for
// their size (RFC 1191 §6.5, RFC 8201 §5.4), and they are to be sent
// again in smaller pieces. A record already marked lost is passed over
// by RACK's detection (rackDetectLossLocked) until it is retransmitted,
// so the segments the drop made old do not count as new losses that
// start fast recovery (RFC 8985 §6.2 step 5): a path MTU change is not
// congestion (RFC 4821 §4). Unlike rackOnRTOLocked, no recovery episode
// begins.
func (e *endpoint) rackOnPMTULocked(mss int) {
	if !e.rackOnLocked() {
		return
	}
	segs := e.rackSegsLocked()
	for i := range segs {
		s := &segs[i]
		if !s.has(segDelivered) && s.len() > mss {
			s.flags = s.flags&segEverRxt | segLost
		}
	}
}

// rackDeadlineLocked is the earliest of the RACK and TLP deadlines.
func (e *endpoint) rackDeadlineLocked() tcpip.MonotonicTime {
	if e.endpointRecovery == nil {
		return zeroTime
	}
	return earliest(e.rack.reoAt, e.rack.ptoAt)
}

// rackStopTimersLocked clears the RACK and TLP deadlines.
func (e *endpoint) rackStopTimersLocked() {
	if e.endpointRecovery == nil {
		return
	}
	e.rack.reoAt, e.rack.ptoAt = zeroTime, zeroTime
}

// rackOnTimerLocked runs the RACK and TLP deadlines that are due.
func (e *endpoint) rackOnTimerLocked(now tcpip.MonotonicTime) {
	due := func(t tcpip.MonotonicTime) bool { return !t.IsZero() && !now.Before(t) }
	if due(e.rack.reoAt) {
		e.rack.reoAt = zeroTime
		e.rackReoTimeoutLocked(now)
	}
	if due(e.rack.ptoAt) {
		e.rack.ptoAt = zeroTime
		e.tlpFireLocked(now)
	}
}

// rackReoTimeoutLocked is RFC 8985 §6.3's reordering timer: detect
// losses again and repair them.
func (e *endpoint) rackReoTimeoutLocked(now tcpip.MonotonicTime) {
	if !e.state.synchronized() || e.sndUna == e.sndMax {
		return
	}
	sackedSegs := 0
	segs := e.rackSegsLocked()
	for i := range segs {
		if segs[i].has(segDelivered) {
			sackedSegs++
		}
	}
	e.rackDetectLossLocked(now, sackedSegs)
	if e.rack.newLost == 0 {
		return
	}
	// No ACK delivered anything (RFC 6937 §3): in recovery, what
	// PRR allowed at the last ACK is sent; the pipe shrank by the
	// segments marked lost.
	e.prr.ackDelivered = 0
	e.rackLossLocked()
}

// rackLossLocked acts on new loss marks: fast recovery starts (RFC 8985
// §6.2: "RACK ... starts fast recovery"), unless the go-back-N of an RTO
// is under way (it retransmits what was lost) or SND.UNA is below the
// previous recovery point (RFC 6582 §3.2 step 1); in recovery the pipe
// decides what is sent.
func (e *endpoint) rackLossLocked() {
	switch {
	case e.inRecovery:
		e.sackRecoverySendLocked()
	case e.rackInRecoveryLocked(), e.recoverSet && e.sndUna.LessThan(e.recover):
	default:
		e.p.stats.RACKRecovery.Inc()
		e.sackEnterRecoveryLocked()
	}
}
