package tcp

import (
	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// tsNowLocked is our timestamp clock (RFC 7323 §5.4): milliseconds of
// the stack's monotonic clock plus a per-connection random offset.
func (e *endpoint) tsNowLocked() uint32 {
	return uint32(e.nowLocked().Nanoseconds()/1e6) + e.tsOffset
}

// rcvWindowLocked returns the window field to send and records the right
// edge it advertises. RFC 9293 §3.8.6.2.2 and RFC 1122 §4.2.3.3 (receiver
// SWS avoidance): the right edge moves forward only by at least
// min(buffer/2, MSS); RFC 9293 §3.8.6 (MUST-... "shrinking the window" is
// strongly discouraged): it never moves back.
func (e *endpoint) rcvWindowLocked() uint16 {
	free := min(max(e.rcvBufSize-e.rcvBuf.Len(), 0), 0xffff<<e.rcvWS)
	cur := 0
	if e.rcvAdv.GreaterThan(e.rcvNxt) {
		cur = int(e.rcvNxt.Size(e.rcvAdv))
	}
	wnd := cur
	if free > cur && free-cur >= min(e.rcvBufSize/2, e.advMSS) {
		wnd = free
	}
	// A window opened to the free space is rounded down to the scale's
	// unit (more would promise room we lack); what was advertised
	// already is rounded up, so that the right edge never moves back
	// (RFC 7323 §2.4; RFC 9293 §3.8.6.2.2). Deciding by value (wnd ==
	// free) rounded a window equal to the free space down, 1 to 2^shift
	// − 1 bytes below the edge already advertised.
	scale := uint(e.rcvWS)
	w := wnd >> scale
	if w<<scale < cur {
		w = (cur + (1 << scale) - 1) >> scale
	}
	if w > 0xffff {
		w = 0xffff
	}
	edge := e.rcvNxt.Add(seqnum.Size(w << scale))
	if edge.GreaterThan(e.rcvAdv) {
		e.rcvAdv = edge
	}
	return uint16(w)
}

// windowUpdateDueLocked reports whether reading opened the window enough
// for an update (RFC 1122 §4.2.3.3).
func (e *endpoint) windowUpdateDueLocked() bool {
	free := min(e.rcvBufSize-e.rcvBuf.Len(), 0xffff<<e.rcvWS)
	cur := 0
	if e.rcvAdv.GreaterThan(e.rcvNxt) {
		cur = int(e.rcvNxt.Size(e.rcvAdv))
	}
	return free-cur >= min(e.rcvBufSize/2, e.advMSS)
}

// sendSegmentLocked sends one segment of the connection: flags, seq and
// ack as given, the n bytes of the send buffer at offset off as data,
// the options of the connection (all of our SYN options on a SYN). It
// returns the network layer's error, if any (the segment is then lost).
func (e *endpoint) sendSegmentLocked(seq, ack seqnum.Value, flags header.TCPFlags, off, n int, _ bool) error {
	r := e.route
	if r == nil {
		return nil
	}
	var optBuf [header.TCPMaximumOptionsSize]byte
	ob := header.NewTCPOptionsBuilder(optBuf[:])
	var wnd uint16
	if flags&header.TCPFlagSYN != 0 {
		// RFC 7323 §2.2: the window of a SYN is never scaled.
		ob.AddMSS(uint16(e.advMSS))
		if (e.state == StateSynSent && e.p.sack.Load()) || e.sackOK {
			ob.AddSACKPermitted()
		}
		if e.state == StateSynSent || e.tsOK {
			ob.AddTimestamps(e.tsNowLocked(), e.tsRecent)
		}
		if e.state == StateSynSent || e.wsOK {
			ob.AddWindowScale(e.rcvWS)
		}
		wnd = uint16(min(e.rcvBufSize, 0xffff))
		e.rcvAdv = ack.Add(seqnum.Size(wnd))
	} else {
		// The options and the data must fit in the segment size the
		// MSS allows (RFC 9293 §3.7.1: the MSS counts the options
		// too; sndMSS already leaves room for the timestamps). The
		// senders size their data by segDataMaxLocked so that the
		// SACK blocks fit; should a segment still be full, the SACK
		// option gets only the blocks that fit (AddSACKBlocks adds
		// what the builder's space holds): an oversized segment
		// would be dropped by IP (DF, PacketTooBig), and with it
		// every retransmission while our out-of-order queue stays,
		// which stalled bidirectional transfers for good.
		if room := e.sndMSS + e.tsOptLenLocked() - n; room < len(optBuf) {
			ob = header.NewTCPOptionsBuilder(optBuf[:max(room, e.tsOptLenLocked())])
		}
		if e.tsOK && flags&header.TCPFlagRST == 0 {
			ob.AddTimestamps(e.tsNowLocked(), e.tsRecent)
		}
		if e.sackOK && e.endpointRecovery != nil && (len(e.ooo) > 0 || e.dsackPending) && flags&header.TCPFlagRST == 0 {
			ob.AddSACKBlocks(e.sackBlocksLocked())
		}
		wnd = e.rcvWindowLocked()
	}
	if flags&header.TCPFlagRST != 0 {
		wnd = 0
	}
	// RFC 3168 §6.1: ECE, CWR and ECT(0).
	flags, tos := e.ecnSegmentLocked(seq, flags, n)
	var data buffer.Buffer
	if n > 0 {
		data = e.sndBuf.CloneRange(off, n)
	}
	f := header.TCPFields{
		SrcPort:    e.id.LocalPort,
		DstPort:    e.id.RemotePort,
		SeqNum:     seq,
		AckNum:     ack,
		Flags:      flags,
		WindowSize: wnd,
		Options:    ob.Bytes(),
	}
	hl := f.Size()
	pkt := buffer.NewPacket(r.MaxHeaderLength()+hl, &data)
	t := f.Encode(pkt.PrependHeader(buffer.TransportLayer, hl))
	if nicCapabilities(e.s, r.NIC)&stack.CapabilityTXChecksumOffload == 0 {
		var c header.Checksummer
		for b := range pkt.Payload.All() {
			c.Add(b)
		}
		t.SetChecksum(t.CalculateChecksumPartial(r.LocalAddress, r.RemoteAddress, n, c.Sum()))
	} else {
		// Left to the link; the network layer fills it in if the
		// segment is fragmented after all.
		pkt.ChecksumPending = true
	}
	pkt.TransportProtocol = ProtocolNumber
	if flags&header.TCPFlagACK != 0 {
		e.lastAckSent = ack
		e.ackPending = 0
		e.delackAt = zeroTime
	}
	if flags&header.TCPFlagRST != 0 {
		e.p.stats.ResetsSent.Inc()
	}
	// RFC 1191 §3 (path MTU discovery, as Linux's default): IPv4
	// segments are sent with DF.
	params := stack.NetworkHeaderParams{Protocol: ProtocolNumber, TTL: e.ttl, TOS: tos, DF: r.NetProto == tcpip.IPv4ProtocolNumber}
	if err := r.WritePacket(params, pkt); err != nil {
		e.p.stats.SegmentSendErrors.Inc()
		e.stats.SendErrors.Inc()
		return err
	}
	e.p.stats.SegmentsSent.Inc()
	e.stats.PacketsSent.Inc()
	return nil
}

// tsOptLenLocked is the size of the timestamps option every segment of
// the connection carries (RFC 7323 §3.2: 10 bytes and two NOPs), which
// setSndMSSLocked took off the MSS.
func (e *endpoint) tsOptLenLocked() int {
	if e.tsOK {
		return 12
	}
	return 0
}

// sackOptLenLocked is the size of the SACK option the next segment
// carries (RFC 2018 §3: two NOPs, kind, length and 8 bytes a block; at
// most 3 blocks beside the timestamps, 4 without), 0 if none.
func (e *endpoint) sackOptLenLocked() int {
	if !e.sackOK || e.endpointRecovery == nil || (len(e.ooo) == 0 && !e.dsackPending) {
		return 0
	}
	k := len(e.ooo)
	if e.dsackPending {
		k++
	}
	k = min(k, len(e.sackBuf), (header.TCPMaximumOptionsSize-e.tsOptLenLocked()-4)/8)
	return 4 + 8*k
}

// segDataMaxLocked is the most data the next segment may carry: sndMSS
// less the SACK option it carries, as Linux's tcp_current_mss takes the
// SACK blocks off the MSS (RFC 9293 §3.7.1: the MSS bounds data and
// options together; RFC 2018 §4: SACK blocks ride on data segments too,
// which both directions of a bidirectional transfer send).
func (e *endpoint) segDataMaxLocked() int {
	return max(e.sndMSS-e.sackOptLenLocked(), 1)
}

// sendACKLocked sends a bare ACK.
func (e *endpoint) sendACKLocked() {
	if err := e.sendSegmentLocked(e.sndNxt, e.rcvNxt, header.TCPFlagACK, 0, 0, false); linkFull(err) {
		// The link refused the ACK for want of room (an in-memory link
		// whose queue is full): nothing left, so the ACK stays due and
		// the delayed-ACK timer tries again soon, as Linux schedules an
		// ACK it could not build (__tcp_send_ack: inet_csk_schedule_ack
		// and the delayed-ACK timer). Lost, it would be recovered only
		// by the peer's TLP or RTO when it was the last one of a burst
		// (RFC 1122 §4.2.3.2 wants the ACK sent, delayed at most 500
		// ms).
		e.ackPending = max(e.ackPending, 1)
		if at := e.nowLocked().Add(ackRetryDelay); e.delackAt.IsZero() || at.Before(e.delackAt) {
			e.delackAt = at
		}
		e.armLocked()
	}
}

// finSeqLocked is the sequence number our FIN takes (after all data).
func (e *endpoint) finSeqLocked() seqnum.Value {
	return e.bufSeq.Add(seqnum.Size(e.sndBuf.Len()))
}

// sendDataLocked sends what the send buffer, the windows and the sender's
// rules allow: RFC 9293 §3.8.6.2.1 and RFC 1122 §4.2.3.4 (sender SWS
// avoidance), RFC 896 (Nagle, unless DelayOption(false)), TCP_CORK, RFC
// 5681 (the congestion window) and RFC 3042 (limited transmit).
func (e *endpoint) sendDataLocked() {
	switch e.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
	default:
		return
	}
	if e.endpointRecovery == nil || e.cc == nil {
		if e.sndBuf.Len() == 0 && !e.finQueued {
			// Nothing to send: an idle connection stays without
			// recovery state.
			e.armLocked()
			return
		}
		e.recoveryLocked()
	}
	if e.inRecovery && e.sackOK {
		// RFC 6675 §5 (C): during SACK recovery the pipe decides
		// what is sent (sack.go).
		e.sackRecoverySendLocked()
		e.armLocked()
		return
	}
	for {
		// RFC 6675 §5.1: after an RTO the retransmissions skip the
		// ranges the receiver SACKed, which are not in flight.
		skipLimit, goBack := e.sackSkipLocked()
		off := int(e.bufSeq.Size(e.sndNxt))
		avail := e.sndBuf.Len() - off
		inflight := int(e.sndUna.Size(e.sndNxt))
		clipped := false
		if goBack {
			inflight -= e.sackedBytesLocked(e.sndUna, e.sndNxt)
			if skipLimit >= 0 && skipLimit < avail {
				avail, clipped = skipLimit, true
			}
		}
		wnd := min(int(e.sndWnd), e.cc.Cwnd()+e.limitedTransmitLocked())
		usable := wnd - inflight
		if goBack {
			// The peer's window bounds the right edge, SACKed
			// bytes included.
			usable = min(e.cc.Cwnd()-inflight, int(e.sndWnd)-int(e.sndUna.Size(e.sndNxt)))
		}
		if avail <= 0 {
			if e.finQueued && e.sndNxt == e.finSeqLocked() {
				// RFC 9293 §3.10.4: the FIN follows the data.
				if e.transmitLocked(0, 0, true) {
					continue
				}
			}
			break
		}
		mss := e.segDataMaxLocked()
		n := min(avail, mss)
		if usable < n {
			if usable <= 0 {
				if e.sndWnd == 0 && inflight == 0 {
					e.startPersistLocked()
				}
				break
			}
			// RFC 1122 §4.2.3.4 (sender SWS avoidance): a segment
			// smaller than the MSS that the window cuts short is
			// sent if it fills at least half the largest window
			// the peer offered, or if nothing is in flight (no ACK
			// would come to release it).
			if usable < int(e.maxSndWnd/2) && inflight > 0 {
				break
			}
			n = usable
		}
		last := n == avail && !clipped
		if n < mss && !clipped {
			if e.cork && !e.finQueued {
				break
			}
			// RFC 896: while data is unacknowledged, a partial
			// segment waits for the ACK (RFC 1122 §4.2.3.4 (2)).
			if e.delay && inflight > 0 && !(e.finQueued && last) {
				break
			}
		}
		fin := last && e.finQueued
		if !e.transmitLocked(off, n, fin) {
			break
		}
	}
	e.armLocked()
}

// transmitLocked sends n bytes at offset off of the send buffer at
// SND.NXT (with FIN if fin) and advances SND.NXT. It reports false, and
// leaves SND.NXT where it was, when the link refused the segment for want
// of room (see linkFull): the sender then stops until the next ACK.
func (e *endpoint) transmitLocked(off, n int, fin bool) bool {
	flags := header.TCPFlagACK
	if n > 0 {
		flags |= header.TCPFlagPSH
	}
	if fin {
		flags |= header.TCPFlagFIN
	}
	seq := e.sndNxt
	now := e.nowLocked()
	if e.sndUna == e.sndMax {
		e.headSentAt = now
	}
	if err := e.sendSegmentLocked(seq, e.rcvNxt, flags, off, n, false); linkFull(err) && e.sndUna != e.sndMax {
		// The link's queue is full: backpressure, not loss (RFC
		// 5681 §3 and RFC 6298 §5 concern segments the network
		// lost, and this one never left). The segment stays unsent,
		// as Linux's tcp_transmit_skb failing in the qdisc leaves it
		// at the head of the write queue, and is sent again when an
		// ACK for what is in flight opens the way. With nothing in
		// flight no ACK would come, so the segment is taken as sent
		// and the retransmission timer recovers it.
		return false
	}
	e.rackOnSendLocked(seq, n, fin, now)
	newData := !seq.LessThan(e.sndMax)
	e.sndNxt = seq.Add(seqnum.Size(n))
	if fin {
		e.sndNxt++
	}
	if e.sndNxt.GreaterThan(e.sndMax) {
		if seq.LessThan(e.sndMax) {
			e.countRetransmitLocked()
		}
		e.sndMax = e.sndNxt
		// RFC 6298 §3 / Karn: time one new segment when timestamps
		// do not time them all.
		if !e.tsOK && !e.rtt.timing {
			e.rtt.timing, e.rtt.timedSeq, e.rtt.timedAt = true, seq, now
		}
	} else {
		e.countRetransmitLocked()
	}
	if e.rtoAt.IsZero() || e.persist {
		e.persist = false
		e.rtoAt = now.Add(e.rtoLocked())
	}
	if newData {
		e.tlpScheduleLocked(now) // RFC 8985 §7.2
	}
	return true
}

// linkFull reports whether err is a link refusing a packet because its
// queue is full.
func linkFull(err error) bool {
	return err == tcpip.ErrWouldBlock || err == tcpip.ErrNoBufferSpace
}

func (e *endpoint) countRetransmitLocked() {
	e.retrans++
	e.p.stats.Retransmits.Inc()
	if e.endpointRecovery != nil {
		e.renoOnRetransmitLocked()
	}
}

// retransmitHeadLocked resends the first unacknowledged segment (fast
// retransmit, partial ACKs) without moving SND.NXT.
func (e *endpoint) retransmitHeadLocked() {
	n := e.retransmitAtLocked(e.sndUna, e.sndMSS)
	e.rexmitNext = e.sndUna.Add(seqnum.Size(max(n, 1)))
	e.renoOnRxtHeadLocked()
}

// limitedTransmitLocked is the extra window RFC 3042 allows: one segment
// for each of the first two duplicate ACKs.
func (e *endpoint) limitedTransmitLocked() int {
	// RFC 5682 §3 step 2: F-RTO waits for the ACK of its one
	// retransmission; duplicate ACKs only update the scoreboard.
	if e.inRecovery || e.dupAcks == 0 || e.dupAcks > 2 || e.frto.step == frtoFirst {
		return 0
	}
	return e.dupAcks * e.sndMSS
}

// sendSYNLocked sends our SYN (SYN-SENT) or SYN-ACK (simultaneous open).
func (e *endpoint) sendSYNLocked() {
	flags := header.TCPFlagSYN
	ack := seqnum.Value(0)
	if e.state == StateSynReceived {
		flags |= header.TCPFlagACK
		ack = e.rcvNxt
	}
	e.sendSegmentLocked(e.iss, ack, flags, 0, 0, false)
}

// sackBlocksLocked returns the SACK blocks of the out-of-order queue
// (RFC 2018 §4): first the block holding the most recently received
// segment, then the others from the highest down. The slice shares the
// endpoint's array.
func (e *endpoint) sackBlocksLocked() []header.SACKBlock {
	b := e.sackBuf[:0]
	if e.dsackPending {
		// RFC 2883 §4: a D-SACK block comes first, once.
		e.dsackPending = false
		b = append(b, e.dsackBlock)
	}
	first := -1
	for i := range e.ooo {
		s := &e.ooo[i]
		if e.lastOOOSeq.InRange(s.seq, s.seq.Add(seqnum.Size(s.data.Len()))) {
			first = i
			b = append(b, header.SACKBlock{Start: s.seq, End: s.seq.Add(seqnum.Size(s.data.Len()))})
			break
		}
	}
	for i := len(e.ooo) - 1; i >= 0 && len(b) < len(e.sackBuf); i-- {
		if i == first {
			continue
		}
		s := &e.ooo[i]
		b = append(b, header.SACKBlock{Start: s.seq, End: s.seq.Add(seqnum.Size(s.data.Len()))})
	}
	return b
}
