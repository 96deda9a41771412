package tcp

// Proportional Rate Reduction (RFC 6937) sets how much SACK recovery
// (sack.go) may send on each ACK. Over the recovery the window falls
// from the flight at its start (RecoverFS) to ssthresh in proportion to
// the data the receiver reports delivered, instead of RFC 6675's step
// to ssthresh at once (a burst of silence, then a burst of sending) or
// RFC 5681's inflation; at the end cwnd is close to ssthresh. ssthresh
// is the congestion control algorithm's (its OnLoss), so PRR serves
// NewReno and CUBIC alike.
//
// When the pipe has fallen to ssthresh or below (further losses, or
// data SACKed before the recovery started), the reduction bound lets the
// window grow back to ssthresh: PRR-SSRB (slow start, one segment more
// than delivered per ACK), RFC 6937 §3's recommendation, by default;
// PRR-CRB (conservative: no more than delivered since the start) on an
// ACK that marks new losses, as Linux's tcp_cwnd_reduction gives the
// extra segment only to ACKs that report no new loss. (Limiting SSRB
// further, to ACKs that advance SND.UNA as Linux also does, left the
// pipe one segment short of ssthresh at the end of most recoveries of
// a small window: measured in sim under 5 % loss with CUBIC, 2m19s
// instead of 2m09s for 12 transfers of 4 MiB.)

// prrState is RFC 6937 §3's state of one recovery.
type prrState struct {
	delivered    int  // prr_delivered
	out          int  // prr_out
	recoverFS    int  // RecoverFS
	ackDelivered int  // DeliveredData of the latest ACK
	pending      bool // an ACK arrived since the send quota was computed
	safe         bool // the latest ACK advanced SND.UNA and marked no new loss
	cwnd         int  // pipe + sndcnt at the latest ACK
}

// prrStartLocked is RFC 6937 §3's initialization on entering recovery,
// after the algorithm set ssthresh. The ACK that started the recovery
// counts as its first (its DeliveredData, in ackDelivered, included).
func (e *endpoint) prrStartLocked() {
	d := e.prr.ackDelivered
	e.prr = prrState{
		delivered:    d,
		recoverFS:    int(e.sndUna.Size(e.sndMax)),
		ackDelivered: d,
		pending:      true,
		safe:         false,
	}
}

// prrOnAckLocked takes an ACK in recovery that delivered bytes
// (RFC 6937 §3: DeliveredData, the change in SND.UNA plus the change
// in SACKed bytes). The ACK is safe for PRR-SSRB unless it marks new
// losses (rackOnAckLocked clears safe then).
func (e *endpoint) prrOnAckLocked(delivered int) {
	e.prr.delivered += delivered
	e.prr.ackDelivered = delivered
	e.prr.pending = true
	e.prr.safe = true
}

// prrWindowLocked returns the congestion window of recovery: on the
// first call after an ACK, RFC 6937 §3's sndcnt is computed and the
// window is pipe + sndcnt; later calls (the application wrote) use
// what remains of that quota.
func (e *endpoint) prrWindowLocked() int {
	p := &e.prr
	if !p.pending {
		return p.cwnd
	}
	p.pending = false
	pipe := e.sackPipeLocked()
	ssthresh := max(e.cc.Ssthresh(), e.sndMSS)
	var sndcnt int
	if pipe > ssthresh {
		// Proportional rate reduction:
		// sndcnt = CEIL(prr_delivered · ssthresh / RecoverFS) − prr_out.
		fs := int64(max(p.recoverFS, 1))
		sndcnt = int((int64(p.delivered)*int64(ssthresh)+fs-1)/fs) - p.out
	} else {
		// The reduction bound.
		limit := p.delivered - p.out // PRR-CRB
		if p.safe {
			// PRR-SSRB.
			limit = max(p.delivered-p.out, p.ackDelivered) + e.sndMSS
		}
		// Per ACK, no more than DeliveredData + 1 SMSS (slow
		// start's ACK clock). Taken literally, the cumulative
		// prr_delivered − prr_out sends the whole gap
		// ssthresh − pipe in one burst when many losses are
		// detected at once (RACK marks a lost burst together):
		// in sim's rtt100ms scenario that burst overflowed the
		// queue and cost a second recovery (7.2 s instead of
		// 5.0 s for 16 MiB).
		limit = min(limit, p.ackDelivered+e.sndMSS)
		sndcnt = min(ssthresh-pipe, limit)
	}
	if p.out == 0 {
		// RFC 6675 §5 (4.3): the fast retransmit goes whatever
		// the proportion says (as Linux forces one segment).
		sndcnt = max(sndcnt, e.sndMSS)
	}
	p.cwnd = pipe + max(sndcnt, 0)
	return p.cwnd
}
