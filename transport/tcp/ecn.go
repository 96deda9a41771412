package tcp

import (
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// Explicit Congestion Notification (RFC 3168 §6.1). A connection uses
// ECN when both ends agree in the handshake: the SYN carries ECE and CWR
// (an "ECN-setup SYN"), the SYN-ACK ECE without CWR (§6.1.1). Then:
//
//   - the sender marks its new data segments ECT(0) in the IP header
//     (never pure ACKs, retransmissions, window probes or keepalives,
//     §6.1.4–§6.1.6, nor SYNs and RSTs);
//   - a router that would drop such a packet may mark it CE instead
//     (§5); the receiver then sets ECE on its ACKs until a segment with
//     CWR arrives (§6.1.3);
//   - an ACK with ECE makes the sender reduce its window as for a loss,
//     without retransmitting, at most once per window of data, and set
//     CWR on the next new data segment (§6.1.2).
//
// The IP layer carries the ECN field as the low two bits of
// stack.NetworkHeaderParams.TOS (outbound) and
// stack.NetworkPacketInfo.TOS (inbound), which are IPv4's TOS byte or
// IPv6's Traffic Class alike. The user's TOSOption sets the DSCP bits
// only: as Linux, TCP owns the ECN field of its packets.
//
// SYN cookies: the SYN-ACK of a cookie carries ECE when the SYN asked for
// ECN and carried timestamps; the agreement rides in the TSval (bit 5 of
// its low bits, with the window scale and SACK-permitted, as Linux does)
// and comes back in the completing ACK's TSecr. Without timestamps there
// is nowhere to keep it, so a cookie SYN-ACK to a SYN without timestamps
// does not offer ECN and the connection goes without it: both ends agree
// it was not negotiated.

// ECNOption selects ECN (RFC 3168) as Linux's net.ipv4.tcp_ecn does. As a
// protocol option (Stack.SetTransportProtocolOption) it is the default of
// new endpoints; as a socket option it sets one endpoint's (a listener's
// setting is inherited by its connections). The default is ECNPassive.
type ECNOption int

// ECN modes.
const (
	// ECNOff neither asks for ECN nor accepts it: SYNs asking for it
	// get a SYN-ACK without ECE (RFC 3168 §6.1.1).
	ECNOff ECNOption = 0
	// ECNOn asks for ECN in the SYNs of active opens and accepts it on
	// passive opens.
	ECNOn ECNOption = 1
	// ECNPassive accepts ECN when a SYN asks for it and does not ask
	// in active opens (Linux's tcp_ecn=2, its default).
	ECNPassive ECNOption = 2
)

// valid reports whether o is one of the modes.
func (o ECNOption) valid() bool { return o >= ECNOff && o <= ECNPassive }

// ecnState is a connection's ECN state (RFC 3168 §6.1).
type ecnState struct {
	mode ECNOption // the endpoint's ECNOption
	// synECN: a SYN we sent asked for ECN (active open).
	synECN bool
	// ok: ECN was negotiated for the connection.
	ok bool
	// echo: receiver side, a CE arrived and no CWR since: ECE goes on
	// every ACK (§6.1.3).
	echo bool
	// cwr: sender side, the window was reduced; CWR goes on the next
	// new data segment (§6.1.2).
	cwr bool
	// recover is SND.MAX at the last reduction for ECE (valid if
	// recoverSet): ECE is not answered again until SND.UNA passes it.
	recover    seqnum.Value
	recoverSet bool
}

// ecnResponder is implemented by congestion control algorithms with
// their own response to ECE (RFC 3168 §6.1.2, RFC 9438 §4.6). Others get
// OnLoss followed by OnRecoveryExit: a loss response without the
// recovery in between.
type ecnResponder interface {
	onECE(inflight int)
}

// ecnSynFlagsLocked returns the flags of a SYN we send in SYN-SENT: ECE
// and CWR when the endpoint asks for ECN (RFC 3168 §6.1.1). Only the
// first SYN asks: RFC 3168 §6.1.1.1 lets a host that gets no answer to an
// ECN-setup SYN send the next SYNs without ECN, in case a middlebox drops
// them (Linux's tcp_ecn_fallback).
func (e *endpoint) ecnSynFlagsLocked(flags header.TCPFlags) header.TCPFlags {
	if e.state != StateSynSent || e.ecn.mode != ECNOn || e.retries > 0 {
		return flags
	}
	e.ecn.synECN = true
	return flags | header.TCPFlagECE | header.TCPFlagCWR
}

// ecnSegmentLocked returns the TCP flags and the IP TOS byte of a
// segment the connection sends: flags with ECE and CWR added as §6.1.2
// and §6.1.3 say, and the user's DSCP with ECT(0) on new data.
func (e *endpoint) ecnSegmentLocked(seq seqnum.Value, flags header.TCPFlags, n int) (header.TCPFlags, uint8) {
	tos := e.tos &^ header.ECNMask
	if flags&header.TCPFlagSYN != 0 {
		return e.ecnSynFlagsLocked(flags), tos
	}
	if !e.ecn.ok || flags&header.TCPFlagRST != 0 {
		return flags, tos
	}
	// RFC 3168 §6.1.3: ECE on every ACK while a CE is unanswered.
	if e.ecn.echo && flags&header.TCPFlagACK != 0 {
		flags |= header.TCPFlagECE
	}
	// RFC 3168 §6.1.5: retransmitted segments are not ECT; §6.1.6:
	// neither are window probes; §6.1.4 (pure ACKs): nor segments
	// without data. New data is sent at or above SND.MAX.
	if n > 0 && !seq.LessThan(e.sndMax) {
		tos |= header.ECNECT0
		// RFC 3168 §6.1.2: CWR on the first new data segment after
		// the window was reduced.
		if e.ecn.cwr {
			e.ecn.cwr = false
			flags |= header.TCPFlagCWR
		}
	}
	return flags, tos
}

// ecnSynAckLocked takes the ECN answer of the peer's SYN-ACK in SYN-SENT:
// ECN is on when we asked and the SYN-ACK is an ECN-setup SYN-ACK, ECE
// without CWR (RFC 3168 §6.1.1). An ECE on a SYN-ACK we did not ask for
// is ignored (and a SYN-ACK with both ECE and CWR is not an answer).
func (e *endpoint) ecnSynAckLocked(g *segment) {
	e.ecn.ok = e.ecn.synECN && g.has(header.TCPFlagACK) &&
		g.has(header.TCPFlagECE) && !g.has(header.TCPFlagCWR)
	if e.ecn.ok {
		e.p.stats.ECNNegotiated.Inc()
	}
}

// ecnAcceptLocked is a listener's decision on a SYN: ECN is agreed when
// the SYN is an ECN-setup SYN (ECE and CWR, RFC 3168 §6.1.1; other bits
// such as AE, RFC 3540's NS, do not matter) and the listener accepts ECN.
// Any other combination of the bits is not an error: the SYN is answered
// without ECN, never reset.
func (e *endpoint) ecnAcceptLocked(g *segment) bool {
	return e.ecn.mode != ECNOff && g.has(header.TCPFlagECE) && g.has(header.TCPFlagCWR)
}

// ecnRcvLocked is the receiver side of RFC 3168 §6.1.3 for an acceptable
// segment: CWR ends the echo, then a CE mark (re)starts it. The first CE
// is acknowledged at once, so that the sender hears of it within a
// round trip rather than a delayed-ACK timeout later (as Linux enters
// quick-ACK mode on CE).
func (e *endpoint) ecnRcvLocked(g *segment) {
	if !e.ecn.ok {
		return
	}
	if g.has(header.TCPFlagCWR) {
		e.ecn.echo = false
	}
	if g.ecn == header.ECNCE {
		e.p.stats.ECNCEReceived.Inc()
		if !e.ecn.echo {
			e.ecn.echo = true
			e.quickAcks = max(e.quickAcks, 1)
		}
	}
}

// ecnHoldLocked reports whether the ACK g must not grow the window: it
// echoes congestion (ECE). RFC 3168 §6.1.2 treats the echo as a loss,
// whose ACKs do not grow the window either; Linux likewise holds cwnd in
// its CWR state until the reduced window is acknowledged.
func (e *endpoint) ecnHoldLocked(g *segment) bool {
	return e.ecn.ok && g.has(header.TCPFlagECE)
}

// ecnOnAckLocked is the sender side of RFC 3168 §6.1.2 for an ACK: an
// ECE reduces the window once per window of data, unless loss recovery
// already reduced it for this window.
func (e *endpoint) ecnOnAckLocked(g *segment) {
	if !e.ecn.ok || !g.has(header.TCPFlagECE) || g.has(header.TCPFlagSYN) {
		return
	}
	e.p.stats.ECNECEReceived.Inc()
	if e.inRecovery || e.frto.step != frtoOff {
		// RFC 3168 §6.1.2: the loss response already reduced the
		// window of this data; the receiver keeps echoing until it
		// sees CWR, so send it.
		e.ecn.cwr = true
		return
	}
	if e.ecn.recoverSet && !e.sndUna.GreaterThan(e.ecn.recover) {
		// RFC 3168 §6.1.2: one reaction per window of data at
		// most: the ECEs of the data sent before the last
		// reduction echo the same congestion.
		return
	}
	inflight := int(e.sndUna.Size(e.sndMax))
	if r, ok := e.cc.(ecnResponder); ok {
		r.onECE(inflight)
	} else {
		e.cc.OnLoss(inflight)
		e.cc.OnRecoveryExit(inflight)
	}
	e.ecn.recover, e.ecn.recoverSet = e.sndMax, true
	e.ecn.cwr = true
	// A reduction for ECE is not a retransmission: nothing to undo,
	// and the undo of an earlier episode would erase it.
	e.undoDisarmLocked()
	e.p.stats.ECNCwndReductions.Inc()
}

// setECNOptionLocked is SetSockOpt(ECNOption).
func (e *endpoint) setECNOptionLocked(v ECNOption) error {
	if !v.valid() {
		return tcpip.ErrInvalidOptionValue
	}
	e.ecn.mode = v
	return nil
}
