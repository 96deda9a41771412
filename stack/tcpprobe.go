package stack

import (
	"slices"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// TCPProbeFunc is a TCP probe: a function the TCP implementation calls
// for every segment a connection receives, once the segment has been
// processed, with a copy of the connection's state (see AddTCPProbe).
type TCPProbeFunc func(state TCPEndpointState)

// AddTCPProbe installs f as the stack's TCP probe, replacing any probe
// installed before. The TCP implementation (package tcp) calls it for
// every segment that a connection (an endpoint in any state but LISTEN)
// receives, after the segment was processed, with a copy of the
// endpoint's state taken under its lock at that moment. (The ACK that
// completes a passive open is processed by the listener and reaches the
// probe only if it carries data or a FIN.)
//
// The call itself happens once the endpoint's lock is released, on the
// goroutine that released it (the one that delivered the segment, or a
// user call that processed segments queued meanwhile), so f may call into
// the endpoint or the stack. Calls for one endpoint come in the order the
// segments were processed when the endpoint is used from one goroutine;
// f must be safe for concurrent use, since different endpoints (and one
// endpoint used from several goroutines) call it concurrently. A probe
// removed or replaced while states are queued sees them no more: they go
// to the probe installed when they are handed over, if any.
//
// With no probe installed, the cost per segment is one atomic load.
func (s *Stack) AddTCPProbe(f TCPProbeFunc) {
	if f == nil {
		s.tcpProbe.Store(nil)
		return
	}
	s.tcpProbe.Store(&f)
}

// GetTCPProbe returns the stack's TCP probe, or nil if none is installed.
func (s *Stack) GetTCPProbe() TCPProbeFunc {
	if p := s.tcpProbe.Load(); p != nil {
		return *p
	}
	return nil
}

// RemoveTCPProbe removes the stack's TCP probe.
func (s *Stack) RemoveTCPProbe() { s.tcpProbe.Store(nil) }

// TransportEndpoints returns the endpoints of transport protocol proto
// registered in the stack's demultiplexer, each once, ordered by
// UniqueID (creation order for the stack's own IDs): listeners and
// connections of every network protocol, including those that wait to be
// accepted and those in TIME-WAIT, as long as they are registered. The
// caller gets its own slice; the endpoints may change state or close
// meanwhile.
func (s *Stack) TransportEndpoints(proto tcpip.TransportProtocolNumber) []TransportEndpoint {
	var eps []TransportEndpoint
	seen := make(map[TransportEndpoint]struct{})
	for k, t := range s.demux.allTables() {
		if k.trans != proto {
			continue
		}
		t.mu.RLock()
		for _, e := range t.ids {
			for _, ep := range e.all {
				if _, ok := seen[ep]; !ok {
					seen[ep] = struct{}{}
					eps = append(eps, ep)
				}
			}
		}
		t.mu.RUnlock()
	}
	slices.SortFunc(eps, func(a, b TransportEndpoint) int {
		x, y := a.UniqueID(), b.UniqueID()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return eps
}

// TCPEndpointState is a copy of a TCP endpoint's state, as a TCP probe
// receives it (AddTCPProbe). Sequence numbers are absolute (not relative
// to the ISS); windows and buffers are in bytes; times are the stack
// Clock's. It holds no reference into the endpoint: a probe may keep it.
type TCPEndpointState struct {
	// ID is the endpoint's 4-tuple, from its own point of view.
	ID TransportEndpointID
	// UniqueID is the endpoint's Stack.UniqueID.
	UniqueID uint64
	// State is the connection's state after the segment, a tcp.State
	// (package tcp names the values).
	State uint8
	// Limit is what keeps the connection from sending more after the
	// segment, a tcp.Limit (application, receiver window, congestion
	// window, send buffer, or none). It may catch a passing moment (the
	// application is told of room in the send buffer after the probe
	// runs); Chrono's times, differenced between two states, say what
	// limited the connection in between.
	Limit uint8
	// Chrono is the time the connection spent in each limit so far.
	Chrono TCPChronoState
	// SegTime is when the segment was processed (the stack's Clock).
	SegTime tcpip.MonotonicTime
	// Segment describes the segment received.
	Segment TCPSegmentState

	// RcvBufSize is the receive buffer's size; RcvBufUsed the bytes
	// received in order and not yet read; RcvOOOBytes the bytes held
	// out of order, after a hole.
	RcvBufSize  int
	RcvBufUsed  int
	RcvOOOBytes int
	// AutoTune is the buffers' autotuning state.
	AutoTune TCPAutoTuneState
	// RcvAutoTuning reports whether the receive buffer is sized
	// automatically: receive autotuning on for the stack and no
	// ReceiveBufferSizeOption set on the endpoint.
	RcvAutoTuning bool

	// SACKPermitted reports that both ends agreed on SACK (RFC 2018).
	SACKPermitted bool
	// SACKBlocksSent are the blocks our next ACK reports (RFC 2018 §4:
	// the most recent out-of-order arrival first), after a D-SACK block
	// (RFC 2883) if one is pending; NumSACKBlocksSent of them are valid.
	SACKBlocksSent    [header.TCPMaxSACKBlocks]header.SACKBlock
	NumSACKBlocksSent int

	// Timestamps reports that both ends agreed on RFC 7323 timestamps.
	// RecentTS is TS.Recent (RFC 7323 §4.3), RecentTSTime when it was
	// last updated; TSOffset is the random offset of our timestamp
	// clock (RFC 7323 §5.4).
	Timestamps   bool
	RecentTS     uint32
	RecentTSTime tcpip.MonotonicTime
	TSOffset     uint32

	// SndBufSize is the send buffer's size; SndBufUsed the bytes it
	// holds (unacknowledged and unsent); SndBufQueued those not sent
	// yet.
	SndBufSize   int
	SndBufUsed   int
	SndBufQueued int

	// PMTUEvents counts the reductions of the MSS by Packet Too Big
	// messages (RFC 1191 §6.5); SndMSS is the current MSS.
	PMTUEvents int
	SndMSS     int

	// Receiver is the receive sequence space; Sender the send sequence
	// space and congestion state.
	Receiver TCPReceiverState
	Sender   TCPSenderState
}

// TCPChronoState is the time a connection spent in each sending limit
// since it started (Linux's tcp_info busy, rwnd_limited and
// sndbuf_limited times, and the congestion window's and the
// application's), by the stack's Clock.
type TCPChronoState struct {
	// Busy is the time with data unacknowledged or unsent.
	Busy time.Duration
	// Application, ReceiverWindow, CongestionWindow and SendBuffer are
	// the times sending was limited by each (see tcp.Limit).
	Application      time.Duration
	ReceiverWindow   time.Duration
	CongestionWindow time.Duration
	SendBuffer       time.Duration
}

// TCPAutoTuneState is the state of buffer autotuning (package tcp's
// dynamic right-sizing of the receive buffer and sizing of the send
// buffer from the congestion window).
type TCPAutoTuneState struct {
	// RcvEnabled and SndEnabled report that the receive and send
	// buffers are autotuned (their size was not fixed by the user, and
	// receive autotuning is on for the stack).
	RcvEnabled bool
	SndEnabled bool
	// RcvSpace is the most bytes the application read in one
	// receiver-side RTT so far (Linux's rcvq_space.space); the measure
	// in progress started at RcvSpaceSeq at RcvSpaceTime.
	RcvSpace     int
	RcvSpaceSeq  seqnum.Value
	RcvSpaceTime tcpip.MonotonicTime
	// RcvRTT is the receiver-side RTT estimate (0: none yet).
	RcvRTT time.Duration
}

// TCPSegmentState describes a received segment.
type TCPSegmentState struct {
	// Seq, Ack and Flags are the header's SEG.SEQ, SEG.ACK and flags.
	Seq, Ack seqnum.Value
	Flags    header.TCPFlags
	// Window is the window field as received (not scaled).
	Window uint16
	// DataLen is the payload length.
	DataLen int
	// TSVal and TSEcr are the timestamps option, if HasTimestamps.
	HasTimestamps bool
	TSVal, TSEcr  uint32
	// SACKBlocks are the SACK blocks received, NumSACKBlocks of them
	// valid.
	SACKBlocks    [header.TCPMaxSACKBlocks]header.SACKBlock
	NumSACKBlocks int
}

// TCPReceiverState is the receive sequence space (RFC 9293 §3.3.1).
type TCPReceiverState struct {
	// RcvNxt is RCV.NXT; RcvAcc the right edge of the window advertised
	// (RCV.NXT + RCV.WND when it was sent).
	RcvNxt seqnum.Value
	RcvAcc seqnum.Value
	// RcvWndScale is the shift applied to the windows we send (RFC 7323
	// §2); -1 if window scaling is off.
	RcvWndScale int
	// PendingBufUsed is the bytes held out of order.
	PendingBufUsed int
	// OOOSegments is the number of runs held out of order.
	OOOSegments int
	// RcvMSS is the MSS we advertised.
	RcvMSS int
}

// TCPSenderState is the send sequence space and congestion state.
type TCPSenderState struct {
	// SndUna, SndNxt and SndMax are SND.UNA, SND.NXT and the highest
	// sequence number sent plus one; SndWnd is the peer's window
	// (scaled) and MaxSndWnd the largest seen; SndWndScale the shift of
	// the peer's windows (-1 if off).
	SndUna      seqnum.Value
	SndNxt      seqnum.Value
	SndMax      seqnum.Value
	SndWnd      int
	MaxSndWnd   int
	SndWndScale int
	// Cwnd and Ssthresh are the congestion window and slow-start
	// threshold in bytes.
	Cwnd     int
	Ssthresh int
	// SRTT, RTTVar and RTO are RFC 6298's estimator (RTO with backoff);
	// RTTSample is the sample the segment gave (0: none).
	SRTT      time.Duration
	RTTVar    time.Duration
	RTO       time.Duration
	RTTSample time.Duration
	// Backoff is the RTO backoff exponent (RFC 6298 §5.5).
	Backoff int
	// DupAckCount counts the duplicate ACKs in a row (RFC 5681 §2).
	DupAckCount int
	// Outstanding is the bytes sent and not acknowledged (SND.MAX −
	// SND.UNA); OutstandingSegments that divided by the MSS, rounded up.
	Outstanding         int
	OutstandingSegments int
	// Retransmits counts the segments retransmitted since the
	// connection started.
	Retransmits int
	// FastRecovery is the loss recovery state (RFC 6675, RFC 6582).
	FastRecovery TCPFastRecoveryState
	// CC is the congestion control algorithm's own state.
	CC TCPCongestionState
	// RACK is RFC 8985's loss detection state (RACK-TLP runs with
	// SACK).
	RACK TCPRACKState
	// PRR is RFC 6937's state during a recovery with RACK (zero
	// otherwise).
	PRR TCPPRRState
	// ECN is RFC 3168's state.
	ECN TCPECNState
}

// TCPRACKState is RACK-TLP's per-connection state (RFC 8985 §6.1, §7).
type TCPRACKState struct {
	// Enabled reports that RACK-TLP runs on the connection.
	Enabled bool
	// XmitTime and EndSeq are RACK.xmit_ts and RACK.end_seq, valid if
	// XmitSet: the most recently sent segment delivered.
	XmitTime tcpip.MonotonicTime
	EndSeq   seqnum.Value
	XmitSet  bool
	// RTT is RACK.rtt; MinRTT RACK.min_RTT (0: none yet).
	RTT    time.Duration
	MinRTT time.Duration
	// FACK is RACK.fack, valid if FACKSet.
	FACK    seqnum.Value
	FACKSet bool
	// ReorderingSeen, ReoWndMult and ReoWndPersist are
	// RACK.reordering_seen, RACK.reo_wnd_mult and RACK.reo_wnd_persist.
	ReorderingSeen bool
	ReoWndMult     int
	ReoWndPersist  int
	// ReorderTimer is when the reordering timer (§6.3) fires (zero: not
	// armed).
	ReorderTimer tcpip.MonotonicTime
	// RTORecovery reports the recovery that follows a timeout.
	RTORecovery bool
	// PTO is when the probe timeout (§7.2) fires (zero: not armed);
	// TLPActive, TLPEnd and TLPRetrans are TLP.end_seq (set) and
	// TLP.is_retrans.
	PTO        tcpip.MonotonicTime
	TLPActive  bool
	TLPEnd     seqnum.Value
	TLPRetrans bool
}

// TCPPRRState is proportional rate reduction's state (RFC 6937 §3).
type TCPPRRState struct {
	// Delivered and Out are prr_delivered and prr_out; RecoverFS the
	// flight size when recovery began; Cwnd the window (pipe +
	// sndcnt) at the latest ACK.
	Delivered int
	Out       int
	RecoverFS int
	Cwnd      int
}

// TCPECNState is Explicit Congestion Notification's state (RFC 3168).
type TCPECNState struct {
	// Negotiated reports that both ends agreed on ECN (§6.1.1).
	Negotiated bool
	// EchoPending: a CE mark arrived and our ACKs carry ECE until the
	// peer's CWR (§6.1.3).
	EchoPending bool
	// CWRPending: the window was reduced for an ECE and the next new
	// data segment carries CWR (§6.1.2).
	CWRPending bool
	// RecoveryPoint is SND.MAX at the last reduction for ECE, valid if
	// RecoverySet: no further reduction until SND.UNA passes it.
	RecoveryPoint seqnum.Value
	RecoverySet   bool
}

// TCPFastRecoveryState is the loss recovery state: RFC 6675's variables
// for SACK recovery, RFC 6582's recovery point for NewReno recovery.
type TCPFastRecoveryState struct {
	// Active reports that the sender is in fast recovery.
	Active bool
	// SACK reports that recovery uses the SACK scoreboard (RFC 6675);
	// otherwise RFC 6582 NewReno.
	SACK bool
	// RecoveryPoint is RFC 6675's RecoveryPoint (RFC 6582's "recover"),
	// valid if RecoverySet: HighData when the last recovery started.
	RecoveryPoint seqnum.Value
	RecoverySet   bool
	// HighRxt is the end of the highest range retransmitted in this
	// recovery (exclusive); RescueRxt RFC 6675's RescueRxt, valid if
	// RescueSet.
	HighRxt   seqnum.Value
	RescueRxt seqnum.Value
	RescueSet bool
	// Pipe is RFC 6675 §4 SetPipe() in bytes (with SACK; without, the
	// bytes outstanding).
	Pipe int
	// SACKedBytes is the bytes above SND.UNA the peer SACKed, in
	// SACKedRanges ranges; LostBytes those RFC 6675 §4 IsLost() deems
	// lost (not SACKed, below the DupThresh'th SACKed range from the
	// top).
	SACKedBytes  int
	SACKedRanges int
	LostBytes    int
}

// TCPCongestionState is the congestion control algorithm's own state.
// Only the part of the algorithm in use (Name) is filled.
type TCPCongestionState struct {
	// Name names the algorithm ("newreno", "cubic", …).
	Name string
	// NewReno is RFC 5681 / RFC 6582's state.
	NewReno TCPNewRenoState
	// Cubic is RFC 9438's state.
	Cubic TCPCubicState
	// HyStart is RFC 9406's state (used by both algorithms).
	HyStart TCPHyStartState
}

// TCPNewRenoState is NewReno's state besides cwnd and ssthresh.
type TCPNewRenoState struct {
	// AckedInCA is the bytes acknowledged in congestion avoidance
	// towards the next one-MSS increase (RFC 3465 §2.1).
	AckedInCA int
}

// TCPCubicState is RFC 9438 §4.1.2's variables, in bytes and durations.
type TCPCubicState struct {
	// WMax is W_max: the window before the last reduction (0: none
	// yet). CwndPrior is cwnd_prior; WEst is W_est, the Reno-friendly
	// estimate (§4.3).
	WMax      float64
	CwndPrior float64
	WEst      float64
	// K is the time the cubic function takes to climb back to W_max.
	K time.Duration
	// EpochActive reports that a congestion-avoidance stage is
	// running; Elapsed is its t, the time since its start as the
	// algorithm counts it (by ACKs: each ACK advances it by
	// SRTT·acked/cwnd).
	EpochActive bool
	Elapsed     time.Duration
	// AfterRTO reports that the next stage follows a timeout (§4.8).
	AfterRTO bool
}

// TCPHyStartState is HyStart++'s state (RFC 9406 §4.2).
type TCPHyStartState struct {
	// Done reports that HyStart++ is over for the connection.
	Done bool
	// InCSS reports Conservative Slow Start; CSSRounds counts its
	// rounds and CSSBaselineRTT is cssBaselineMinRtt.
	InCSS          bool
	CSSRounds      int
	CSSBaselineRTT time.Duration
	// WindowEnd ends the current round; LastRoundMinRTT and
	// CurrentRoundMinRTT are the rounds' smallest samples (0: none)
	// and RTTSamples the samples of this round.
	WindowEnd          seqnum.Value
	LastRoundMinRTT    time.Duration
	CurrentRoundMinRTT time.Duration
	RTTSamples         int
}
