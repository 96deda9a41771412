package tcp

import (
	"fmt"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// pmtuEventsLocked returns the number of MSS reductions by Packet Too
// Big.
func (e *endpoint) pmtuEventsLocked() int {
	if e.extra == nil {
		return 0
	}
	return e.extra.pmtuEvents
}

// probeCaptureLocked copies the endpoint's state after g was processed
// into the queue of states for the stack's probe (handleSegmentLocked
// calls it when a probe is installed).
func (e *endpoint) probeCaptureLocked(g *segment) {
	if e.state == StateListen {
		// The listener only hands SYNs on; its children are probed.
		return
	}
	in := e.extraLocked()
	if in.probeQ == nil {
		e.bmu.Lock()
		in.probeQ, in.probeSpare = in.probeSpare, nil
		e.bmu.Unlock()
	}
	in.probeQ = append(in.probeQ, stack.TCPEndpointState{})
	st := &in.probeQ[len(in.probeQ)-1]
	e.fillStateLocked(st)
	seg := &st.Segment
	seg.Seq, seg.Ack, seg.Flags, seg.Window, seg.DataLen = g.seq, g.ack, g.flags, g.wnd, g.dataLen
	if g.opts.HasTimestamps {
		seg.HasTimestamps, seg.TSVal, seg.TSEcr = true, g.opts.TSVal, g.opts.TSEcr
	}
	seg.NumSACKBlocks = copy(seg.SACKBlocks[:], g.opts.SACK())
	if e.sndUna != in.probeUna {
		st.Sender.RTTSample = e.rtt.last
	}
	in.probeUna = e.sndUna
}

// probeSpareMax bounds the array an endpoint keeps for its captures
// (states of about 800 bytes): one lock holder usually hands over one
// state, and a burst drained from the backlog leaves a larger array to
// the garbage collector rather than to an idle connection (DESIGN.md
// principle 6).
const probeSpareMax = 4

// probeFlush hands the captured states q to the stack's probe, without
// the endpoint's lock, and keeps q's array in in (the endpoint's
// extra state) for the next captures while a probe is installed.
func (e *endpoint) probeFlush(in *endpointExtra, q []stack.TCPEndpointState) {
	f := e.s.GetTCPProbe()
	if f != nil {
		for i := range q {
			f(q[i])
		}
	}
	if f == nil || cap(q) > probeSpareMax {
		return
	}
	clear(q)
	e.bmu.Lock()
	if in.probeSpare == nil {
		in.probeSpare = q[:0]
	}
	e.bmu.Unlock()
}

// fillStateLocked copies the endpoint's state into st (the segment
// fields aside).
func (e *endpoint) fillStateLocked(st *stack.TCPEndpointState) {
	defer e.borrowRecoveryLocked()()
	st.ID = e.id
	st.UniqueID = e.uniqueID
	st.State = uint8(e.state)
	st.Limit = uint8(e.limitLocked())
	acc, busy := e.chronoTimesLocked()
	st.Chrono = stack.TCPChronoState{
		Busy: busy, Application: acc[LimitApplication], ReceiverWindow: acc[LimitReceiverWindow],
		CongestionWindow: acc[LimitCongestionWindow], SendBuffer: acc[LimitSendBuffer],
	}
	st.SegTime = e.nowLocked()

	st.RcvBufSize = e.rcvBufSize
	st.RcvBufUsed = e.rcvBuf.Len()
	st.RcvOOOBytes = e.oooBytes
	st.AutoTune = stack.TCPAutoTuneState{
		RcvEnabled: !e.rcvBufUser && e.p.moderate.Load(), SndEnabled: !e.sndBufUser,
		RcvRTT: e.rcvRTTLocked(),
	}
	if x := e.extra; x != nil { // without, nothing was measured: zeros
		st.AutoTune.RcvSpace, st.AutoTune.RcvSpaceSeq, st.AutoTune.RcvSpaceTime = int(x.rcvSpace), x.rcvSpaceSeq, x.rcvSpaceAt
	}
	st.RcvAutoTuning = e.rcvAutotuneLocked()
	st.SACKPermitted = e.sackOK
	st.NumSACKBlocksSent = e.sackBlocksPendingLocked(&st.SACKBlocksSent)
	st.Timestamps = e.tsOK
	st.RecentTS = e.tsRecent
	st.RecentTSTime = e.tsRecentAt
	st.TSOffset = e.tsOffset
	st.SndBufSize = e.sndBufSize
	st.SndBufUsed = e.sndBuf.Len()
	st.SndBufQueued = e.unsentLocked()
	st.PMTUEvents = e.pmtuEventsLocked()
	st.SndMSS = e.sndMSS

	r := &st.Receiver
	r.RcvNxt = e.rcvNxt
	r.RcvAcc = e.rcvAdv
	r.RcvWndScale = -1
	if e.wsOK {
		r.RcvWndScale = int(e.rcvWS)
	}
	r.PendingBufUsed = e.oooBytes
	r.OOOSegments = len(e.ooo)
	r.RcvMSS = e.advMSS

	s := &st.Sender
	s.SndUna, s.SndNxt, s.SndMax = e.sndUna, e.sndNxt, e.sndMax
	s.SndWnd, s.MaxSndWnd = int(e.sndWnd), int(e.maxSndWnd)
	s.SndWndScale = -1
	if e.wsOK {
		s.SndWndScale = int(e.sndWS)
	}
	if e.cc != nil {
		s.Cwnd, s.Ssthresh = e.cc.Cwnd(), e.cc.Ssthresh()
		if r, ok := e.cc.(ccStateReporter); ok {
			r.reportState(&s.CC)
		}
		s.CC.Name = e.cc.Name()
	} else {
		s.CC.Name = e.ccName
	}
	s.SRTT, s.RTTVar, s.RTO = e.rtt.srtt, e.rtt.rttvar, e.rtoLocked()
	s.Backoff = int(e.backoff)
	s.DupAckCount = e.dupAcks
	if e.state.synchronized() {
		s.Outstanding = int(e.sndUna.Size(e.sndMax))
	}
	if e.sndMSS > 0 {
		s.OutstandingSegments = (s.Outstanding + e.sndMSS - 1) / e.sndMSS
	}
	s.Retransmits = e.retrans
	e.fillRecoveryLocked(&s.FastRecovery)

	if e.rackOnLocked() {
		rk, ra := &s.RACK, &e.rack
		rk.Enabled = true
		rk.XmitTime, rk.EndSeq, rk.XmitSet = ra.xmitTS, ra.endSeq, ra.xmitSet
		rk.RTT, rk.MinRTT = ra.rtt, ra.minRTT
		rk.FACK, rk.FACKSet = ra.fack, ra.fackSet
		rk.ReorderingSeen, rk.ReoWndMult, rk.ReoWndPersist = ra.reoSeen, ra.reoMult, ra.reoPersist
		rk.ReorderTimer = ra.reoAt
		rk.RTORecovery = ra.rtoRecovery
		rk.PTO = ra.ptoAt
		rk.TLPActive, rk.TLPEnd, rk.TLPRetrans = ra.tlpActive, ra.tlpEnd, ra.tlpRetrans
	}
	if e.inRecovery && e.rackOnLocked() {
		s.PRR = stack.TCPPRRState{Delivered: e.prr.delivered, Out: e.prr.out, RecoverFS: e.prr.recoverFS, Cwnd: e.prr.cwnd}
	}
	s.ECN = stack.TCPECNState{
		Negotiated: e.ecn.ok, EchoPending: e.ecn.echo, CWRPending: e.ecn.cwr,
		RecoveryPoint: e.ecn.recover, RecoverySet: e.ecn.recoverSet,
	}
}

// fillRecoveryLocked copies the loss recovery state and summarises the
// SACK scoreboard (RFC 6675 §4).
func (e *endpoint) fillRecoveryLocked(fr *stack.TCPFastRecoveryState) {
	fr.Active = e.inRecovery
	fr.SACK = e.sackOK
	fr.RecoveryPoint, fr.RecoverySet = e.recover, e.recoverSet
	fr.HighRxt = e.highRxt
	fr.RescueRxt, fr.RescueSet = e.rescueRxt, e.rescueSet
	if !e.state.synchronized() {
		return
	}
	outstanding := int(e.sndUna.Size(e.sndMax))
	fr.Pipe = outstanding
	if !e.sackOK {
		// RFC 5681 §2: FlightSize.
		return
	}
	fr.SACKedBytes = e.sackedBytesLocked(e.sndUna, e.sndMax)
	fr.SACKedRanges = len(e.sacked)
	if e.rackOnLocked() {
		// RFC 8985: the records say what is lost (RACK's time rule
		// and the DupThresh rule); SetPipe() runs on them at any time.
		segs := e.rackSegsLocked()
		for i := range segs {
			if s := &segs[i]; s.has(segLost) && !s.has(segDelivered) {
				fr.LostBytes += s.len()
			}
		}
		fr.Pipe = e.rackPipeLocked()
		return
	}
	if lost := e.sackLostBelowLocked(); e.sndUna.LessThan(lost) {
		fr.LostBytes = int(e.sndUna.Size(lost)) - e.sackedBytesLocked(e.sndUna, lost)
	}
	if e.inRecovery {
		// RFC 6675 §4 SetPipe(); HighRxt is valid in recovery only.
		fr.Pipe = e.sackPipeLocked()
	} else {
		// SetPipe() with nothing retransmitted: what is neither
		// SACKed nor lost.
		fr.Pipe = outstanding - fr.SACKedBytes - fr.LostBytes
	}
}

// unsentLocked returns the bytes of the send buffer not sent yet (from
// SND.NXT, so after a timeout those to be sent again count).
func (e *endpoint) unsentLocked() int {
	if !e.state.synchronized() {
		return 0
	}
	return max(e.sndBuf.Len()-int(e.bufSeq.Size(e.sndNxt)), 0)
}

// sackBlocksPendingLocked copies into b the SACK blocks our next ACK
// would carry (the pending D-SACK block, then the out-of-order runs as
// sackBlocksLocked orders them) without consuming the D-SACK, and
// returns how many.
func (e *endpoint) sackBlocksPendingLocked(b *[header.TCPMaxSACKBlocks]header.SACKBlock) int {
	if !e.sackOK {
		return 0
	}
	n := 0
	if e.dsackPending {
		b[n] = e.dsackBlock
		n++
	}
	first := -1
	for i := range e.ooo {
		s := &e.ooo[i]
		end := s.seq.Add(seqnum.Size(s.data.Len()))
		if e.lastOOOSeq.InRange(s.seq, end) {
			first = i
			b[n] = header.SACKBlock{Start: s.seq, End: end}
			n++
			break
		}
	}
	for i := len(e.ooo) - 1; i >= 0 && n < len(b); i-- {
		if i == first {
			continue
		}
		s := &e.ooo[i]
		b[n] = header.SACKBlock{Start: s.seq, End: s.seq.Add(seqnum.Size(s.data.Len()))}
		n++
	}
	return n
}

// ccStateReporter is implemented by the congestion controls whose own
// state the probe reports (stack.TCPCongestionState).
type ccStateReporter interface {
	reportState(st *stack.TCPCongestionState)
}

var (
	_ ccStateReporter = (*newReno)(nil)
	_ ccStateReporter = (*cubic)(nil)
)

func (r *newReno) reportState(st *stack.TCPCongestionState) {
	st.NewReno.AckedInCA = r.acc
	r.hs.reportState(&st.HyStart)
}

func (c *cubic) reportState(st *stack.TCPCongestionState) {
	cs := &st.Cubic
	cs.WMax, cs.CwndPrior, cs.WEst = c.wMax, c.cwndPrior, c.wEst
	cs.K = secondsDuration(c.k)
	cs.EpochActive = c.epoch
	cs.Elapsed = secondsDuration(c.t)
	cs.AfterRTO = c.afterRTO
	c.hs.reportState(&st.HyStart)
}

func (h *hystart) reportState(st *stack.TCPHyStartState) {
	st.Done = h.done
	st.InCSS = h.css
	st.CSSRounds = int(h.cssRounds)
	st.CSSBaselineRTT = h.cssBaseline
	st.WindowEnd = h.windowEnd
	st.LastRoundMinRTT = h.lastRoundMin
	st.CurrentRoundMinRTT = h.curRoundMin
	st.RTTSamples = int(h.samples)
}

// secondsDuration converts seconds to a Duration, saturating (CUBIC's t
// may reach about 31 years, within a Duration's 292).
func secondsDuration(s float64) time.Duration {
	const maxSec = float64(1<<63-1) / float64(time.Second)
	if !(s > 0) {
		return 0
	}
	if s >= maxSec {
		return 1<<63 - 1
	}
	return time.Duration(s * float64(time.Second))
}

// Limit is what keeps a connection from sending more right now, as
// Linux's TCP "chrono" accounting classifies it (tcp_info's busy,
// rwnd_limited and sndbuf_limited times), with the congestion window
// and the application as categories of their own.
type Limit uint8

// The limits, from Info.Limit.
const (
	// LimitNone: the connection does not send: not established, or
	// everything written before its FIN was sent (or it is closed).
	LimitNone Limit = iota
	// LimitApplication: everything written was sent and the send buffer
	// has room: the application is not writing (or writes too little
	// for a full segment while data is unacknowledged, RFC 9293
	// §3.7.4's Nagle algorithm).
	LimitApplication
	// LimitReceiverWindow: data waits because the peer's window is
	// full (RFC 9293 §3.8.6.2.1's usable window is below a segment):
	// the peer reads too slowly or its buffer is too small for the
	// path.
	LimitReceiverWindow
	// LimitCongestionWindow: data waits because the bytes in flight
	// fill the congestion window (RFC 5681 §2): the path's capacity,
	// loss, or a window still growing.
	LimitCongestionWindow
	// LimitSendBuffer: everything written was sent but the send buffer
	// is full of unacknowledged data: the application is blocked on a
	// send buffer smaller than what the path could carry.
	LimitSendBuffer

	numLimits
)

var limitNames = [...]string{
	LimitNone:             "none",
	LimitApplication:      "application",
	LimitReceiverWindow:   "receiver-window",
	LimitCongestionWindow: "congestion-window",
	LimitSendBuffer:       "send-buffer",
}

// String names the limit.
func (l Limit) String() string {
	if l < numLimits {
		return limitNames[l]
	}
	return "limit(?)"
}

// MarshalText implements encoding.TextMarshaler (JSON shows the name).
func (l Limit) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// limitLocked classifies what keeps the connection from sending now.
func (e *endpoint) limitLocked() Limit {
	switch e.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
	default:
		// Handshake, closed, or everything sent was acknowledged
		// after our FIN.
		return LimitNone
	}
	// The application will write no more once the FIN is queued.
	done := e.finQueued || e.shutdown&tcpip.ShutdownWrite != 0
	unsent := e.unsentLocked()
	if unsent == 0 {
		switch {
		case done:
			return LimitNone
		case !e.writableLocked():
			return LimitSendBuffer
		}
		return LimitApplication
	}
	if e.cc == nil {
		return LimitNone
	}
	need := min(unsent, e.sndMSS)
	// RFC 9293 §3.8.6.2.1: the usable window is SND.UNA + SND.WND −
	// SND.NXT.
	if int(e.sndWnd)-int(e.sndUna.Size(e.sndNxt)) < need {
		return LimitReceiverWindow
	}
	cwnd, flight := e.cc.Cwnd(), int(e.sndUna.Size(e.sndNxt))
	if e.endpointRecovery != nil && e.inRecovery && e.sackOK {
		// RFC 6675 §5 (C): recovery sends while cwnd − pipe ≥ 1 SMSS;
		// with RACK the window is PRR's (RFC 6937 §3: pipe + sndcnt,
		// as computed at the latest ACK).
		cwnd, flight = e.sackRecoveryCwndLocked(), e.sackPipeLocked()
		if e.rackOnLocked() {
			cwnd = e.prr.cwnd
		}
	}
	if cwnd-flight < need {
		return LimitCongestionWindow
	}
	// Data waits with both windows open: a small segment held by
	// Nagle or cork until the data in flight is acknowledged. If the
	// buffer is full meanwhile, the application waits on it.
	if !done && !e.writableLocked() {
		return LimitSendBuffer
	}
	return LimitApplication
}

// chrono accounts the time a connection spends in each Limit, and busy
// (data unacknowledged or unsent), as Linux's tcp_chrono_start/stop do:
// the limit is recomputed whenever the endpoint's lock is released (every
// segment, timer and user call), and the clock is read only when it
// changes. The start of the current state is the endpoint's
// chronoSince (zero: never started), outside the struct so that these two
// bytes fill a gap of the endpoint's layout; the times accounted so far
// are in its endpointExtra (acc, busyT), made when there is a first time
// to add.
type chrono struct {
	cur  Limit
	busy bool
}

// chronoLocked records a change of limit or busy state.
func (e *endpoint) chronoLocked() {
	l := e.limitLocked()
	busy := e.state.synchronized() && (e.sndUna != e.sndMax || e.unsentLocked() > 0)
	c := &e.chrono
	if l == c.cur && busy == c.busy {
		return
	}
	now := e.nowLocked()
	if !e.chronoSince.IsZero() {
		if d := now.Sub(e.chronoSince); d != 0 {
			in := e.extraLocked()
			in.acc[c.cur] += d
			if c.busy {
				in.busyT += d
			}
		}
	}
	c.cur, c.busy, e.chronoSince = l, busy, now
}

// chronoTimesLocked returns the time spent in each limit and busy, up
// to now.
func (e *endpoint) chronoTimesLocked() ([numLimits]time.Duration, time.Duration) {
	c := &e.chrono
	var acc [numLimits]time.Duration
	var busy time.Duration
	if in := e.extra; in != nil {
		acc, busy = in.acc, in.busyT
	}
	if !e.chronoSince.IsZero() {
		d := e.nowLocked().Sub(e.chronoSince)
		acc[c.cur] += d
		if c.busy {
			busy += d
		}
	}
	return acc, busy
}

// UnmarshalText implements encoding.TextUnmarshaler for the names String
// gives.
func (l *Limit) UnmarshalText(b []byte) error {
	for i, n := range limitNames {
		if n == string(b) {
			*l = Limit(i)
			return nil
		}
	}
	return fmt.Errorf("tcp: unknown limit %q", b)
}
