package tcp

import (
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// handleErrorLocked processes an ICMP error about a segment with sequence
// number seq (valid if ok). RFC 5927 §4.1: the quoted sequence number must
// lie in SND.UNA..SND.NXT, or the message is ignored. Packet too big
// lowers the MSS and retransmits (RFC 1191 §6.5, never below 536 over IPv4
// as RFC 9293 §3.7.1 / RFC 1122 allow) without a congestion response
// (RFC 8201 §5.4). Hard errors (port or protocol
// unreachable) abort a connection in SYN-SENT (ECONNREFUSED); other
// errors are soft (RFC 1122 §4.2.3.9): recorded, reported if the
// connection times out.
func (e *endpoint) handleErrorLocked(terr stack.TransportError, seq seqnum.Value, ok bool) {
	e.stats.ICMPErrors.Inc()
	switch e.state {
	case StateClosed, StateListen, StateTimeWait:
		return
	}
	e.recoveryLocked()
	if !ok || !seq.InRange(e.sndUna, e.sndMax) && !(e.state == StateSynSent && seq == e.iss) {
		return
	}
	switch terr.Kind {
	case stack.ErrorPacketTooBig:
		mtu := int(terr.Info)
		if mtu <= 0 {
			return
		}
		// Info is the next-hop MTU of the network packet; the
		// route's MTU accounts for the network header.
		hdr := 20
		if e.connProtoLocked() == tcpip.IPv6ProtocolNumber {
			hdr = 40
		}
		mss := mtu - hdr - 20
		floor := minMSSv4
		if e.connProtoLocked() == tcpip.IPv6ProtocolNumber {
			floor = minMSSv6
		}
		mss = max(mss, floor)
		cur := e.sndMSS
		if e.tsOK {
			cur += 12
		}
		if mss >= cur {
			return
		}
		e.setSndMSSLocked(mss)
		e.extraLocked().pmtuEvents++
		// RFC 1191 §6.5: retransmit what was sent with the old size.
		// RFC 8201 §5.4 and RFC 4821 §4: the loss is due to the
		// path's MTU, not congestion, so no window is reduced: the
		// too-big segments are marked lost here, which keeps RACK
		// from counting them as losses that start fast recovery
		// (rackOnPMTULocked), and go again with the new size in
		// the go-back-N below, cwnd and ssthresh untouched.
		e.rackOnPMTULocked(e.sndMSS)
		e.sndNxt = e.sndUna
		e.rtt.timing = false
		e.sendDataLocked()
	case stack.ErrorPortUnreachable, stack.ErrorProtocolUnreachable:
		if e.state == StateSynSent {
			e.p.stats.FailedConnections.Inc()
			e.resetLocked(tcpip.ErrConnectionRefused, false)
			return
		}
		e.extraLocked().softErr = terr.Err
	default:
		e.extraLocked().softErr = terr.Err
	}
}
