package tcp

import "time"

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
}

// infoLocked fills an Info.
func (e *endpoint) infoLocked() Info {
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
	return in
}
