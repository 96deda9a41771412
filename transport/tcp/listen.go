package tcp

import (
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// listener is the state of a listening endpoint: the SYN queue of
// half-open connections (SYN-RECEIVED, held as small entries rather than
// endpoints, as Linux's request socks) and the accept queue of
// established connections.
type listener struct {
	backlog int
	acceptQ []*endpoint
	synQ    map[stack.TransportEndpointID]*synEntry
	synMax  int
	cookies bool
}

// synEntry is a half-open connection: what our SYN-ACK said and what the
// peer's SYN asked for.
type synEntry struct {
	id       stack.TransportEndpointID
	nic      tcpip.NICID
	iss, irs seqnum.Value
	opts     header.TCPOptions // the SYN's options
	tsOffset uint32
	rcvWS    uint8
	advMSS   int
	retries  int
	deadline tcpip.MonotonicTime
	sentAt   tcpip.MonotonicTime // first SYN-ACK, for an RTT sample
	ecn      bool                // ECN agreed: the SYN-ACK carries ECE (RFC 3168 §6.1.1)
}

// synAckTimeout is the first SYN-ACK retransmission timeout (RFC 6298
// §2.1's initial RTO, as Linux's TCP_TIMEOUT_INIT).
const synAckTimeout = time.Second

// listenLocked processes a segment for a listener (RFC 9293 §3.10.7.2)
// and its half-open connections. It owns g.
func (e *endpoint) listenLocked(g *segment) {
	l := e.l
	if _, ok := l.synQ[g.id]; !ok && !g.has(header.TCPFlagSYN) && e.handOffLocked(g) {
		return
	}
	switch {
	case g.has(header.TCPFlagRST):
		// An RST for a half-open connection removes it (RFC 9293
		// §3.10.7.4 for SYN-RECEIVED from LISTEN); otherwise ignored.
		if se := l.synQ[g.id]; se != nil && g.seq == se.irs+1 {
			e.synQDelLocked(g.id)
		} else {
			e.p.stats.ListenDrops.Inc()
		}
		g.release()
	case g.has(header.TCPFlagACK):
		e.listenACKLocked(g)
	case g.has(header.TCPFlagSYN):
		e.listenSYNLocked(g)
		g.release()
	default:
		// RFC 9293 §3.10.7.2 fourth: "any other control or
		// text-bearing segment ... drop the segment and return".
		e.p.stats.ListenDrops.Inc()
		g.release()
	}
}

// handOffLocked passes g to the connection now registered under its
// 4-tuple, if there is one, and reports whether it did. The demuxer chose
// this listener for g before the handshake that g follows completed:
// several segments of one connection can be queued for the listener (in
// its backlog, or on their way to it) when the first of them promotes the
// half-open entry and registers the child. Those that follow belong to the
// child, as the demuxer would now route them; answering them here would
// find no half-open entry and reset an established connection (RFC 9293
// §3.10.7.2 applies to segments for no connection, and this one has one).
// The segment is re-delivered once the listener's lock is released (see
// unlock), through the demuxer, which now finds the child.
func (e *endpoint) handOffLocked(g *segment) bool {
	ep := e.s.FindTransportEndpoint(tcpip.NetworkProtocolFor(g.id.RemoteAddress), ProtocolNumber, g.id, g.nic)
	c, ok := ep.(*endpoint)
	if !ok || c == e || c.isListener.Load() {
		return false
	}
	x := e.extraLocked()
	x.redirect = append(x.redirect, *g)
	return true
}

// listenSYNLocked answers a SYN with a SYN-ACK, keeping a half-open
// entry, or with a SYN cookie when the SYN queue is full (RFC 4987 §3.6).
func (e *endpoint) listenSYNLocked(g *segment) {
	l := e.l
	if g.has(header.TCPFlagFIN) || g.id.RemoteAddress.IsMulticast() {
		e.p.stats.ListenDrops.Inc()
		return
	}
	if se := l.synQ[g.id]; se != nil {
		// A retransmitted SYN: answer again (Linux's
		// inet_rtx_syn_ack from tcp_check_req).
		if g.seq == se.irs {
			e.sendSYNACKLocked(se)
		} else {
			// Another SYN for a half-open 4-tuple: the entry
			// stands until it completes or times out.
			e.p.stats.ListenDrops.Inc()
		}
		return
	}
	if len(l.acceptQ) >= l.backlog {
		// Linux drops SYNs while the accept queue is full.
		e.p.stats.ListenOverflowSYNDrop.Inc()
		return
	}
	now := e.s.Clock().NowMonotonic()
	se := &synEntry{id: g.id, nic: g.nic, irs: g.seq, opts: g.opts}
	se.opts.NumSACKBlocks = 0
	se.rcvWS = 0
	if g.opts.HasWindowScale {
		se.rcvWS = windowShift(e.rcvBufCeilLocked())
	}
	se.advMSS = e.listenMSSLocked(g)
	se.tsOffset = uint32(e.s.RandUint64())
	se.ecn = e.ecnAcceptLocked(g)
	if len(l.synQ) >= l.synMax || e.p.halfOpen.Load() >= e.p.maxHalfOpen.Load() {
		if !l.cookies {
			e.p.stats.ListenOverflowSYNDrop.Inc()
			return
		}
		e.sendCookieLocked(g, se)
		return
	}
	se.iss = e.p.newISN(g.id)
	se.sentAt = now
	se.deadline = now.Add(synAckTimeout)
	l.synQ[g.id] = se
	e.p.halfOpen.Add(1)
	e.sendSYNACKLocked(se)
	if e.rtoAt.IsZero() || se.deadline.Before(e.rtoAt) {
		e.rtoAt = se.deadline
	}
}

// synQDelLocked removes a half-open entry, if present, and counts it out
// of the stack-wide half-open total.
func (e *endpoint) synQDelLocked(id stack.TransportEndpointID) {
	if _, ok := e.l.synQ[id]; ok {
		delete(e.l.synQ, id)
		e.p.halfOpen.Add(-1)
	}
}

// listenMSSLocked is the MSS a SYN-ACK to g announces: the route's.
func (e *endpoint) listenMSSLocked(g *segment) int {
	mss := defaultMSSv4
	if r, err := e.s.FindRoute(g.nic, g.id.LocalAddress, g.id.RemoteAddress, tcpip.NetworkProtocolFor(g.id.RemoteAddress), false); err == nil {
		mss = int(r.MTU()) - header.TCPMinimumSize
	}
	if e.maxSeg > 0 {
		mss = min(mss, e.maxSeg)
	}
	return min(mss, 0xffff)
}

// sendSYNACKLocked sends the SYN-ACK of a half-open connection, with the
// options the SYN asked for (RFC 7323 §2.2, §3.2; RFC 2018 §2).
func (e *endpoint) sendSYNACKLocked(se *synEntry) {
	var optBuf [header.TCPMaximumOptionsSize]byte
	ob := header.NewTCPOptionsBuilder(optBuf[:])
	ob.AddMSS(uint16(se.advMSS))
	if se.opts.SACKPermitted {
		ob.AddSACKPermitted()
	}
	if se.opts.HasTimestamps {
		ob.AddTimestamps(uint32(e.s.Clock().NowMonotonic().Nanoseconds()/1e6)+se.tsOffset, se.opts.TSVal)
	}
	if se.opts.HasWindowScale {
		ob.AddWindowScale(se.rcvWS)
	}
	wnd := uint16(min(e.rcvBufSize, 0xffff))
	flags := header.TCPFlagSYN | header.TCPFlagACK
	if se.ecn {
		// RFC 3168 §6.1.1: an ECN-setup SYN-ACK has ECE, not CWR.
		flags |= header.TCPFlagECE
	}
	e.p.sendRaw(se.id, se.nic, se.iss, se.irs+1, flags, wnd, ob.Bytes())
}

// listenACKLocked completes a handshake: an ACK of our SYN-ACK (from the
// SYN queue or a valid SYN cookie) makes a connection in the accept
// queue; any other ACK is answered with RST (RFC 9293 §3.10.7.2).
func (e *endpoint) listenACKLocked(g *segment) {
	l := e.l
	se := l.synQ[g.id]
	if se == nil {
		if g.has(header.TCPFlagSYN) || !l.cookies {
			// RFC 9293 §3.10.7.2 second: any ACK to a listener
			// is bad: <SEQ=SEG.ACK><CTL=RST>.
			e.p.stats.UnacceptableACK.Inc()
			e.p.replyRST(g, g.nic)
			g.release()
			return
		}
		se = e.checkCookieLocked(g)
		if se == nil {
			e.p.replyRST(g, g.nic)
			g.release()
			return
		}
	} else if g.ack != se.iss+1 || g.has(header.TCPFlagSYN) {
		e.p.stats.UnacceptableACK.Inc()
		e.p.replyRST(g, g.nic)
		g.release()
		return
	}
	if g.seq != se.irs+1 {
		// RFC 9293 §3.10.7.4 first check, in SYN-RECEIVED: out of
		// window; acknowledge.
		e.p.stats.ListenDrops.Inc()
		g.release()
		return
	}
	if len(l.acceptQ) >= l.backlog {
		// Linux keeps the half-open entry and drops the ACK; the
		// peer's retransmission may find room.
		e.p.stats.ListenOverflowACKDrop.Inc()
		g.release()
		return
	}
	e.synQDelLocked(g.id)
	c := e.newChildLocked(se, g)
	if c == nil {
		e.p.stats.ListenDrops.Inc()
		g.release()
		return
	}
	l.acceptQ = append(l.acceptQ, c)
	e.notifyLocked(tcpip.EventIn)
}

// newChildLocked makes the established connection of a completed
// handshake, registers it and lets it process the rest of g (data in the
// third segment). The listener's lock comes before the child's.
func (e *endpoint) newChildLocked(se *synEntry, g *segment) *endpoint {
	c := newEndpoint(e.p, e.netProto)
	c.sndBufSize, c.rcvBufSize = e.sndBufSize, e.rcvBufSize
	c.sndBufUser, c.rcvBufUser = e.sndBufUser, e.rcvBufUser
	c.delay, c.cork, c.keepalive, c.ttl, c.tos = e.delay, e.cork, e.keepalive, e.ttl, e.tos
	// Shared until either sets one (writeOptsLocked).
	c.endpointOpts = e.endpointOpts
	c.ecn = ecnState{mode: e.ecn.mode, ok: se.ecn}
	// A dual-stack listener's IPv4 connections are IPv4 on the wire
	// (dualstack.go); the child reports their addresses mapped.
	c.v6only = e.v6only
	r, err := e.s.FindRoute(se.nic, se.id.LocalAddress, se.id.RemoteAddress, tcpip.NetworkProtocolFor(se.id.RemoteAddress), false)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	c.id, c.route, c.nic = se.id, r, r.NIC
	c.bindAddr = e.bindAddr
	c.initLocalLocked()
	c.rcvWS = se.rcvWS
	c.advMSS = se.advMSS
	c.tsOffset = se.tsOffset
	c.iss, c.irs = se.iss, se.irs
	c.sndUna, c.sndNxt, c.sndMax, c.bufSeq = se.iss+1, se.iss+1, se.iss+1, se.iss+1
	c.rcvNxt = se.irs + 1
	c.rcvAdv = c.rcvNxt.Add(seqnum.Size(min(c.rcvBufSize, 0xffff)))
	c.lastAckSent = c.rcvNxt
	c.negotiateLocked(&se.opts, false)
	c.rcvWS = se.rcvWS
	if !c.wsOK {
		c.rcvWS = 0
	}
	if c.tsOK && g.opts.HasTimestamps {
		c.tsRecent = g.opts.TSVal
		c.rttOnAckLocked(g.ack, g.opts.TSEcr, true)
	} else if se.retries == 0 && !se.sentAt.IsZero() {
		// RFC 6298 §3 (Karn): the SYN-ACK was not retransmitted, so
		// the ACK times it.
		c.rtt.sample(e.s.Clock().NowMonotonic().Sub(se.sentAt))
	}
	c.sndWnd = uint32(g.wnd) << c.sndWS
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = g.seq, g.ack
	c.regFlags = stack.PortFlags{}
	if err := e.s.RegisterTransportEndpoint(c.netProtos(), ProtocolNumber, c.id, c, c.regFlags, c.deviceLocked()); err != nil {
		c.mu.Unlock()
		return nil
	}
	c.registered = true
	if c.ecn.ok {
		e.p.stats.ECNNegotiated.Inc()
	}
	c.establishLocked()
	c.events = 0
	e.p.stats.PassiveOpenings.Inc()
	if g.dataLen > 0 || g.has(header.TCPFlagFIN) {
		c.handleSegmentLocked(g)
	} else {
		g.release()
		c.armLocked()
	}
	c.unlock()
	return c
}

// listenTimerLocked retransmits SYN-ACKs that are due, with exponential
// backoff, and frees half-open entries after synAckRetries
// retransmissions (counted in HalfOpenTimedOut).
func (e *endpoint) listenTimerLocked(now tcpip.MonotonicTime) {
	var next tcpip.MonotonicTime
	for id, se := range e.l.synQ {
		if !now.Before(se.deadline) {
			if se.retries >= synAckRetries {
				e.synQDelLocked(id)
				e.p.stats.HalfOpenTimedOut.Inc()
				continue
			}
			se.retries++
			e.p.stats.Retransmits.Inc()
			e.sendSYNACKLocked(se)
			se.deadline = now.Add(synAckTimeout << se.retries)
		}
		next = earliest(next, se.deadline)
	}
	e.rtoAt = next
}

// closeListenerLocked stops listening: half-open entries are forgotten and
// connections not yet accepted are reset, as Linux does.
func (e *endpoint) closeListenerLocked() {
	l := e.l
	if l == nil {
		return
	}
	for _, c := range l.acceptQ {
		c.mu.Lock()
		c.userClosed = true
		c.resetLocked(tcpip.ErrConnectionAborted, true)
		c.unlock()
	}
	l.acceptQ = nil
	e.p.halfOpen.Add(-int64(len(l.synQ)))
	clear(l.synQ)
	e.l = nil
	e.isListener.Store(false)
	e.stopTimersLocked()
	e.unlistenPortLocked()
}
