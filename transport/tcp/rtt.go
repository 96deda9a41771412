package tcp

import (
	"time"

	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// RTO bounds. RFC 6298 §2.4 asks for a 1 s minimum; like Linux
// (TCP_RTO_MIN) we use 200 ms, which §2.4 allows with care and every
// large deployment uses. RFC 6298 §2.5 allows a maximum of at least 60 s;
// Linux uses 120 s. RFC 6298 §2.1: 1 s before any measurement.
const (
	MinRTO     = 200 * time.Millisecond
	MaxRTO     = 120 * time.Second
	InitialRTO = time.Second
)

var zeroTime tcpip.MonotonicTime

// rttState is the RFC 6298 estimator.
type rttState struct {
	srtt   time.Duration
	rttvar time.Duration
	rto    time.Duration // 0: InitialRTO
	last   time.Duration // the latest sample, 0 once consumed
	valid  bool          // a measurement has been made
	// Karn's algorithm without timestamps: one segment timed at once,
	// abandoned when anything is retransmitted.
	timing   bool
	timedSeq seqnum.Value
	timedAt  tcpip.MonotonicTime
}

// sample adds a measurement r (RFC 6298 §2.2, §2.3 with α = 1/8, β = 1/4,
// G taken as 1 ms, K = 4).
func (s *rttState) sample(r time.Duration) {
	if r <= 0 {
		r = time.Millisecond
	}
	s.last = r
	if !s.valid {
		s.srtt, s.rttvar, s.valid = r, r/2, true
	} else {
		d := s.srtt - r
		if d < 0 {
			d = -d
		}
		s.rttvar = (3*s.rttvar + d) / 4
		s.srtt = (7*s.srtt + r) / 8
	}
	s.rto = min(max(s.srtt+max(time.Millisecond, 4*s.rttvar), MinRTO), MaxRTO)
}

// base returns the current RTO before backoff.
func (s *rttState) base() time.Duration {
	if s.rto == 0 {
		return InitialRTO
	}
	return s.rto
}

// rtoLocked returns the RTO with the exponential backoff of RFC 6298
// §5.5, capped at MaxRTO.
func (e *endpoint) rtoLocked() time.Duration {
	r := e.rtt.base()
	for i := uint(0); i < e.backoff && r < MaxRTO; i++ {
		r *= 2
	}
	return min(r, MaxRTO)
}

// rttOnAckLocked takes an RTT sample from an ACK that acknowledged new
// data up to ack: from the echoed timestamp (RFC 7323 §4.1: every such
// ACK gives a sample) or from the timed segment (RFC 6298 §3, Karn).
func (e *endpoint) rttOnAckLocked(ack seqnum.Value, tsEcr uint32, hasTS bool) {
	now := e.nowLocked()
	if e.tsOK && hasTS && tsEcr != 0 {
		d := e.tsNowLocked() - tsEcr
		if e.endpointRecovery != nil && !e.rtoSince.IsZero() {
			// Karn's rule (RFC 6298 §3) for timestamps: an ACK that
			// ends an RTO backoff period but echoes a timestamp
			// sent before the latest timeout belongs to an earlier
			// transmission whose ACK was lost (the peer rejects the
			// later retransmission as a duplicate and echoes its
			// older TS.Recent, RFC 7323 §5.3 R2 before R3): the
			// sample would count the backoff (seconds on a 1 ms path
			// at 20 % loss, then RTOs of minutes). It is not taken.
			last := uint32(e.rtoLastAt.Nanoseconds()/1e6) + e.tsOffset
			if int32(tsEcr-last) < 0 {
				return
			}
		}
		if d < 1<<31 {
			e.rtt.sample(time.Duration(d) * time.Millisecond)
			return
		}
	}
	if e.rtt.timing && ack.GreaterThan(e.rtt.timedSeq) {
		e.rtt.timing = false
		e.rtt.sample(now.Sub(e.rtt.timedAt))
	}
}
