package tcp

import (
	"fmt"
	"strings"
	"time"

	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Info is a snapshot of a connection, as Linux's struct tcp_info
// (TCP_INFO), read with GetSockOpt(*InfoOption).
type Info struct {
	State State
	// RTT, RTTVar and RTO are the RFC 6298 estimator's values.
	RTT    time.Duration
	RTTVar time.Duration
	RTO    time.Duration
	// Cwnd and Ssthresh are in bytes; CongestionControl names the
	// algorithm.
	Cwnd              int
	Ssthresh          int
	CongestionControl string
	// SndMSS is the data per segment we send; RcvMSS the MSS we
	// advertised.
	SndMSS int
	RcvMSS int
	// SndWnd is the peer's window; RcvWnd the window we advertise.
	SndWnd int
	RcvWnd int
	// BytesAcked are the bytes of ours the peer acknowledged;
	// BytesReceived the bytes received in order.
	BytesAcked    uint64
	BytesReceived uint64
	// Retransmits counts every segment retransmitted; Backoff is the
	// current RTO backoff exponent.
	Retransmits int
	Backoff     int
	// Unacked is the bytes in flight; NotSent the bytes queued and not
	// yet sent.
	Unacked int
	NotSent int
	// Negotiated options.
	WindowScale   bool
	SndWScale     uint8
	RcvWScale     uint8
	Timestamps    bool
	SACKPermitted bool
	// RTOs counts the retransmission timeouts of data (not of the SYN or
	// of zero-window probes); RTOBackoffTime is the time the connection
	// spent in RTO backoff: from each timeout that began a period to the
	// next ACK of new data, the current period up to now included.
	RTOs           uint64
	RTOBackoffTime time.Duration

	// SndBufSize and SndBufUsed are the send buffer's size and the
	// bytes it holds (unacknowledged and unsent); RcvBufSize and
	// RcvBufUsed the receive buffer's size and the bytes received in
	// order and not read; RcvOOOBytes the bytes held after a hole.
	SndBufSize  int
	SndBufUsed  int
	RcvBufSize  int
	RcvBufUsed  int
	RcvOOOBytes int
	// SndBufAutoTuning and RcvBufAutoTuning report that the buffers
	// grow automatically (autotune.go); false when the user fixed
	// their size (SendBufferSizeOption, ReceiveBufferSizeOption).
	SndBufAutoTuning bool
	RcvBufAutoTuning bool

	// BytesInFlight estimates the bytes in the network: RFC 6675 §4's
	// pipe with SACK, Unacked without.
	BytesInFlight int
	// DupAcks counts the duplicate ACKs in a row (RFC 5681 §2).
	DupAcks int
	// The SACK scoreboard (RFC 6675 §4): SACKedBytes above SND.UNA in
	// SACKedRanges ranges, and LostBytes, those IsLost() deems lost.
	SACKedBytes  int
	SACKedRanges int
	LostBytes    int
	// InRecovery reports fast recovery (RFC 6675 with SACK, RFC 6582
	// without); RecoveryPoint is where it ends, as an offset from
	// SND.UNA (0 outside recovery). HighRxt is the end of the highest
	// range retransmitted in it and RescueRxt RFC 6675's RescueRxt
	// (-1: none), both offsets from SND.UNA (negative once passed).
	InRecovery    bool
	RecoveryPoint int
	HighRxt       int
	RescueRxt     int
	// ECN reports that ECN was negotiated (RFC 3168 §6.1.1);
	// ReorderingSeen that RACK saw reordering (RFC 8985 §6.2), which
	// widens its reordering window.
	ECN            bool
	ReorderingSeen bool
	// PMTUEvents counts the reductions of the MSS by ICMP Packet Too
	// Big / Fragmentation Needed (RFC 1191 §6.5).
	PMTUEvents int
	// MinRTT is the smallest RTT measured (RACK.min_RTT, RFC 8985 §6.1;
	// 0 without SACK or before a sample).
	MinRTT time.Duration

	// Limit is what keeps the connection from sending more right now.
	Limit Limit
	// BusyTime is the time the connection had data unacknowledged or
	// unsent (Linux's tcpi_busy_time); the *LimitedTime fields split
	// the time since the connection was established by Limit (Linux's
	// tcpi_rwnd_limited and tcpi_sndbuf_limited, and ours for the
	// congestion window and the application). Times are the stack
	// Clock's.
	BusyTime          time.Duration
	AppLimitedTime    time.Duration
	RwndLimitedTime   time.Duration
	CwndLimitedTime   time.Duration
	SndBufLimitedTime time.Duration
}

// infoLocked fills an Info.
func (e *endpoint) infoLocked() Info {
	defer e.borrowRecoveryLocked()()
	in := Info{
		State:             e.state,
		RTT:               e.rtt.srtt,
		RTTVar:            e.rtt.rttvar,
		RTO:               e.rtoLocked(),
		SndMSS:            e.sndMSS,
		RcvMSS:            e.advMSS,
		SndWnd:            int(e.sndWnd),
		BytesAcked:        e.bytesAcked,
		BytesReceived:     e.bytesReceived,
		Retransmits:       e.retrans,
		Backoff:           int(e.backoff),
		WindowScale:       e.wsOK,
		SndWScale:         e.sndWS,
		RcvWScale:         e.rcvWS,
		Timestamps:        e.tsOK,
		SACKPermitted:     e.sackOK,
		CongestionControl: e.ccName,
		RTOs:              e.rtoCount,
		RTOBackoffTime:    e.rtoBackoffTimeLocked(),
	}
	if e.rcvAdv.GreaterThan(e.rcvNxt) {
		in.RcvWnd = int(e.rcvNxt.Size(e.rcvAdv))
	}
	if e.cc != nil {
		in.Cwnd, in.Ssthresh = e.cc.Cwnd(), e.cc.Ssthresh()
	}
	if e.state.synchronized() {
		in.Unacked = int(e.sndUna.Size(e.sndNxt))
		in.NotSent = max(e.sndBuf.Len()-int(e.bufSeq.Size(e.sndNxt)), 0)
	}
	in.SndBufSize, in.SndBufUsed = e.sndBufSize, e.sndBuf.Len()
	in.RcvBufSize, in.RcvBufUsed, in.RcvOOOBytes = e.rcvBufSize, e.rcvBuf.Len(), e.oooBytes
	in.SndBufAutoTuning, in.RcvBufAutoTuning = !e.sndBufUser, !e.rcvBufUser && e.p.moderate.Load()
	in.DupAcks = e.dupAcks
	var fr stack.TCPFastRecoveryState
	e.fillRecoveryLocked(&fr)
	in.BytesInFlight = fr.Pipe
	in.SACKedBytes, in.SACKedRanges, in.LostBytes = fr.SACKedBytes, fr.SACKedRanges, fr.LostBytes
	in.InRecovery = fr.Active
	in.RescueRxt = -1
	if fr.Active {
		in.RecoveryPoint = seqOffset(e.sndUna, fr.RecoveryPoint)
		in.HighRxt = seqOffset(e.sndUna, fr.HighRxt)
		if fr.RescueSet {
			in.RescueRxt = seqOffset(e.sndUna, fr.RescueRxt)
		}
	}
	in.ECN = e.ecn.ok
	in.PMTUEvents = e.pmtuEventsLocked()
	in.ReorderingSeen = e.rackOnLocked() && e.rack.reoSeen
	if e.rackOnLocked() {
		in.MinRTT = e.rack.minRTT
	}
	e.chronoLocked()
	in.Limit = e.chrono.cur
	acc, busy := e.chronoTimesLocked()
	in.BusyTime = busy
	in.AppLimitedTime = acc[LimitApplication]
	in.RwndLimitedTime = acc[LimitReceiverWindow]
	in.CwndLimitedTime = acc[LimitCongestionWindow]
	in.SndBufLimitedTime = acc[LimitSendBuffer]
	return in
}

// seqOffset returns v − base as a signed distance.
func seqOffset(base, v seqnum.Value) int { return int(int32(uint32(v) - uint32(base))) }

// Why explains in one sentence what limits the connection's sending right
// now (Limit), with the figures behind it: the answer to "why is this
// connection slow".
func (in Info) Why() string {
	switch in.Limit {
	case LimitApplication:
		if in.NotSent > 0 {
			return fmt.Sprintf("the application: %d bytes wait for the data in flight to be acknowledged (small writes held by Nagle or cork)", in.NotSent)
		}
		return fmt.Sprintf("the application: everything written was sent and the send buffer has room (%s of %s used)", formatBytes(in.SndBufUsed), formatBytes(in.SndBufSize))
	case LimitReceiverWindow:
		if in.SndWnd == 0 {
			return fmt.Sprintf("the receiver: its window is zero (its application does not read); %s wait to be sent", formatBytes(in.NotSent))
		}
		return fmt.Sprintf("the receiver's window: %s advertised, %s unacknowledged; the peer reads slowly or its receive buffer is small for the path (%s)",
			formatBytes(in.SndWnd), formatBytes(in.Unacked), rateOf(in.SndWnd, in.RTT))
	case LimitCongestionWindow:
		phase := "congestion avoidance"
		switch {
		case in.InRecovery:
			phase = fmt.Sprintf("fast recovery (%s lost, %s SACKed)", formatBytes(in.LostBytes), formatBytes(in.SACKedBytes))
		case in.Backoff > 0:
			phase = fmt.Sprintf("retransmission timeout, RTO backed off ×%d", 1<<min(in.Backoff, 30))
		case in.Cwnd < in.Ssthresh:
			phase = "slow start"
		}
		queue := ""
		if in.MinRTT > 0 && in.RTT > 2*in.MinRTT {
			// The window exceeds what the path holds: the excess
			// waits in a queue and only adds delay.
			queue = fmt.Sprintf("; the RTT is %.1f× its minimum %v: a queue builds at the bottleneck", in.RTT.Seconds()/in.MinRTT.Seconds(), in.MinRTT.Round(time.Microsecond))
		}
		return fmt.Sprintf("the congestion window: %s in flight of a %s window in %s (%s)%s",
			formatBytes(in.BytesInFlight), formatBytes(in.Cwnd), phase, rateOf(in.Cwnd, in.RTT), queue)
	case LimitSendBuffer:
		hint := "a larger SendBufferSizeOption would help"
		if in.SndBufAutoTuning {
			hint = "autotuning grows it with the congestion window, up to the stack's maximum"
		}
		return fmt.Sprintf("the send buffer: all %s of it hold unacknowledged data while the application waits to write (%s); %s",
			formatBytes(in.SndBufSize), rateOf(in.SndBufSize, in.RTT), hint)
	}
	switch in.State {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
		if in.Unacked > 0 {
			return fmt.Sprintf("nothing: everything was sent before the FIN, %s wait to be acknowledged", formatBytes(in.Unacked))
		}
		return "nothing: everything was sent before the FIN"
	}
	return "nothing: not sending in " + in.State.String()
}

// limitPhrases names the limits in the report.
var limitPhrases = [...]string{
	LimitNone:             "nothing",
	LimitApplication:      "application",
	LimitReceiverWindow:   "receiver's window",
	LimitCongestionWindow: "congestion window",
	LimitSendBuffer:       "send buffer",
}

// ms rounds d to the millisecond for the report.
func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// MainLimit returns the limit the connection spent the most time in
// while it had something to send (the application, the receiver's
// window, the congestion window or the send buffer), and that time; a
// reading of Limit may catch a passing moment (an ACK that the
// application has not answered yet), MainLimit the pattern.
func (in Info) MainLimit() (Limit, time.Duration) {
	best, d := LimitNone, time.Duration(0)
	for _, c := range []struct {
		l Limit
		d time.Duration
	}{
		{LimitCongestionWindow, in.CwndLimitedTime},
		{LimitReceiverWindow, in.RwndLimitedTime},
		{LimitSendBuffer, in.SndBufLimitedTime},
		{LimitApplication, in.AppLimitedTime},
	} {
		if c.d > d {
			best, d = c.l, c.d
		}
	}
	return best, d
}

// rateOf describes the rate a window of w bytes allows per round trip.
func rateOf(w int, rtt time.Duration) string {
	if rtt <= 0 {
		return "no RTT measured yet"
	}
	return fmt.Sprintf("at most %.3g Mbit/s at RTT %v", float64(w)*8/rtt.Seconds()/1e6, rtt.Round(10*time.Microsecond))
}

// formatBytes writes n bytes with a binary unit.
func formatBytes(n int) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// String formats the Info as a multi-line report: state and options,
// RTT, windows, buffers, loss recovery, counters, what limits sending
// (Why) and where the time went.
func (in Info) String() string {
	var b strings.Builder
	opts := ""
	if in.WindowScale {
		opts += fmt.Sprintf(" wscale:%d,%d", in.SndWScale, in.RcvWScale)
	}
	if in.Timestamps {
		opts += " ts"
	}
	if in.SACKPermitted {
		opts += " sack"
	}
	if in.ECN {
		opts += " ecn"
	}
	fmt.Fprintf(&b, "state %s  cc %s  mss %d (advertised %d)%s\n", in.State, in.CongestionControl, in.SndMSS, in.RcvMSS, opts)
	fmt.Fprintf(&b, "rtt %v ±%v  min %v  rto %v  backoff %d\n", in.RTT.Round(time.Microsecond), in.RTTVar.Round(time.Microsecond),
		in.MinRTT.Round(time.Microsecond), in.RTO, in.Backoff)
	ss := formatBytes(in.Ssthresh)
	if in.Ssthresh >= 1<<30 {
		ss = "∞"
	}
	fmt.Fprintf(&b, "cwnd %s  ssthresh %s  in flight %s  unacked %s  peer window %s  our window %s\n",
		formatBytes(in.Cwnd), ss, formatBytes(in.BytesInFlight), formatBytes(in.Unacked), formatBytes(in.SndWnd), formatBytes(in.RcvWnd))
	auto := func(on bool) string {
		if on {
			return "autotuned"
		}
		return "fixed"
	}
	fmt.Fprintf(&b, "send buffer %s of %s, %s (%s not sent)  receive buffer %s of %s, %s (%s out of order)\n",
		formatBytes(in.SndBufUsed), formatBytes(in.SndBufSize), auto(in.SndBufAutoTuning), formatBytes(in.NotSent),
		formatBytes(in.RcvBufUsed), formatBytes(in.RcvBufSize), auto(in.RcvBufAutoTuning), formatBytes(in.RcvOOOBytes))
	if in.SACKPermitted {
		reo := ""
		if in.ReorderingSeen {
			reo = "  reordering seen"
		}
		fmt.Fprintf(&b, "scoreboard: %s SACKed in %d ranges, %s lost  dupacks %d%s\n",
			formatBytes(in.SACKedBytes), in.SACKedRanges, formatBytes(in.LostBytes), in.DupAcks, reo)
	}
	if in.InRecovery {
		rescue := "none"
		if in.RescueRxt >= 0 {
			rescue = fmt.Sprintf("SND.UNA%+d", in.RescueRxt)
		}
		fmt.Fprintf(&b, "in fast recovery until SND.UNA%+d  HighRxt SND.UNA%+d  RescueRxt %s\n", in.RecoveryPoint, in.HighRxt, rescue)
	}
	fmt.Fprintf(&b, "retransmits %d  timeouts %d (%v in backoff)  acked %d B  received %d B\n",
		in.Retransmits, in.RTOs, ms(in.RTOBackoffTime), in.BytesAcked, in.BytesReceived)
	if in.PMTUEvents > 0 {
		fmt.Fprintf(&b, "path MTU lowered the MSS %d times\n", in.PMTUEvents)
	}
	fmt.Fprintf(&b, "limited by %s\n", in.Why())
	if l, d := in.MainLimit(); l != LimitNone {
		total := in.CwndLimitedTime + in.RwndLimitedTime + in.SndBufLimitedTime + in.AppLimitedTime
		fmt.Fprintf(&b, "mostly limited by the %s (%.0f%% of %v)\n", limitPhrases[l], 100*d.Seconds()/total.Seconds(), ms(total))
	}
	fmt.Fprintf(&b, "time: busy %v  cwnd-limited %v  rwnd-limited %v  sndbuf-limited %v  app-limited %v\n",
		ms(in.BusyTime), ms(in.CwndLimitedTime), ms(in.RwndLimitedTime), ms(in.SndBufLimitedTime), ms(in.AppLimitedTime))
	return b.String()
}

// Diagnose reads the Info of a TCP endpoint of this package (a
// tcpip.Endpoint from Stack.NewEndpoint, or one gonet wraps), for a
// report with Info.String or Info.Why.
func Diagnose(ep tcpip.Endpoint) (Info, error) {
	var o InfoOption
	if err := ep.GetSockOpt(&o); err != nil {
		return Info{}, err
	}
	return Info(o), nil
}

// Conn is a TCP endpoint of a stack as Connections lists it.
type Conn struct {
	// ID is the endpoint's 4-tuple (a listener's has no remote part,
	// and no local address if it listens on every address).
	ID stack.TransportEndpointID
	// NetProto is the endpoint's network protocol (an IPv6 endpoint
	// may carry IPv4 connections: dual stack).
	NetProto tcpip.NetworkProtocolNumber
	// UniqueID is the endpoint's stack.Stack.UniqueID.
	UniqueID uint64
	// Info is the endpoint's state when it was listed.
	Info Info
}

// Connections lists the TCP endpoints of s: its listeners and its
// connections (those waiting to be accepted and those in TIME-WAIT
// included), in the order they were created, each with its Info.
func Connections(s *stack.Stack) []Conn {
	eps := s.TransportEndpoints(ProtocolNumber)
	conns := make([]Conn, 0, len(eps))
	for _, te := range eps {
		e, ok := te.(*endpoint)
		if !ok {
			continue
		}
		e.lock()
		c := Conn{ID: e.id, NetProto: e.netProto, UniqueID: e.uniqueID, Info: e.infoLocked()}
		e.unlock()
		conns = append(conns, c)
	}
	return conns
}
