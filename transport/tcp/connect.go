package tcp

import (
	"net/netip"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Connect implements tcpip.Endpoint: it sends a SYN and returns
// tcpip.ErrConnectStarted; EventOut tells when the handshake is over.
// Then, as Linux's connect(2) on a non-blocking socket, the next Connect
// returns nil (connected) or the error that ended the attempt (an RST:
// ErrConnectionRefused; no answer: ErrTimeout), and later ones
// ErrAlreadyConnected.
//
// After a failed attempt (ErrConnectionRefused, ErrTimeout, …) has been
// reported, Connect may be called again and starts a new attempt from
// CLOSED, as Linux's connect(2) allows on a socket whose connection
// failed: an explicitly bound endpoint keeps its port, an automatically
// bound one gets a new ephemeral port.
func (e *endpoint) Connect(addr tcpip.FullAddress) error {
	e.lock()
	defer e.unlock()
	switch e.state {
	case StateSynSent, StateSynReceived:
		return tcpip.ErrAlreadyConnecting
	case StateListen:
		return tcpip.ErrInvalidEndpointState
	case StateClosed:
		if e.hardErr != nil && !e.connectSeen {
			e.connectSeen = true
			e.errPending = false
			return e.hardErr
		}
		if e.everConn || e.userClosed {
			return tcpip.ErrInvalidEndpointState
		}
		if e.hardErr != nil {
			// The failure was reported: start afresh.
			e.resetConnLocked()
		}
	default:
		if !e.connectSeen {
			e.connectSeen = true
			return nil
		}
		return tcpip.ErrAlreadyConnected
	}
	dst, err := e.remoteAddrLocked(addr.Addr)
	if err != nil {
		return err
	}
	if !dst.IsValid() {
		return tcpip.ErrDestinationRequired
	}
	if addr.Port == 0 {
		return tcpip.ErrConnectionRefused
	}
	nic := addr.NIC
	if nic == 0 {
		nic = e.deviceLocked()
	}
	netProto := tcpip.NetworkProtocolFor(dst)
	r, err := e.s.FindRoute(nic, e.bindAddr, dst, netProto, false)
	if err != nil {
		return err
	}
	local := e.bindAddr
	if !local.IsValid() {
		local = r.LocalAddress
	}
	id := stack.TransportEndpointID{LocalPort: e.id.LocalPort, LocalAddress: local, RemotePort: addr.Port, RemoteAddress: dst}
	autoBound := false
	if !e.bound {
		// An ephemeral port whose 4-tuple is free (RFC 6056 §3.3.4
		// through the port manager; testPort rejects a port that a
		// connection, TIME-WAIT included, uses to the same peer).
		flags := stack.PortFlags{ReuseAddress: e.reuseAddr, LoadBalanced: e.reusePort, TupleOnly: true}
		dest := netip.AddrPortFrom(dst, addr.Port)
		test := func(port uint16) (bool, error) {
			tid := id
			tid.LocalPort = port
			ep := e.s.FindTransportEndpoint(netProto, ProtocolNumber, tid, r.NIC)
			if te, ok := ep.(*endpoint); ok && !te.isListener.Load() {
				return false, nil
			}
			return true, nil
		}
		port, err := e.s.PortManager().ReservePort(e.netProtos(), ProtocolNumber, local, 0, flags, e.deviceLocked(), dest, test)
		if err != nil {
			if err == tcpip.ErrNoPortAvailable {
				e.p.stats.PortExhausted.Inc()
			}
			return err
		}
		e.bound = true
		e.res = reservation{netProtos: e.netProtoSet(), addr: local, port: port, flags: flags, device: e.deviceLocked(), dest: dest}
		id.LocalPort = port
		autoBound = true
	}
	e.regFlags = stack.PortFlags{}
	if err := e.s.RegisterTransportEndpoint(e.netProtos(), ProtocolNumber, id, e, e.regFlags, e.deviceLocked()); err != nil {
		if autoBound {
			e.releasePortLocked()
		}
		return err
	}
	e.registered = true
	e.id = id
	e.route = r
	e.nic = r.NIC
	e.initLocalLocked()
	e.iss = e.p.newISN(id)
	e.sndUna, e.sndNxt, e.sndMax = e.iss, e.iss+1, e.iss+1
	e.bufSeq = e.iss + 1
	e.setStateLocked(StateSynSent)
	e.p.stats.ActiveOpenings.Inc()
	e.headSentAt = e.nowLocked()
	e.sendSYNLocked()
	e.rtoAt = e.headSentAt.Add(e.rtoLocked())
	e.armLocked()
	return tcpip.ErrConnectStarted
}

// resetConnLocked returns an endpoint whose connection attempt failed to
// the state of a new one in CLOSED (RFC 9293 §3.3.2: CLOSED holds no
// connection state), keeping its options and its bound port.
func (e *endpoint) resetConnLocked() {
	e.hardErr, e.errPending = nil, false
	if x := e.extra; x != nil {
		x.softErr = nil
		x.rcvSpace, x.rcvSpaceAt, x.rcvRTTUs, x.rcvRTTAtMs = 0, zeroTime, 0, 0
	}
	e.connectSeen = false
	e.shutdown = 0
	e.id = stack.TransportEndpointID{LocalAddress: e.bindAddr}
	if e.bound {
		e.id.LocalPort = e.res.port
	}
	e.nic = 0
	e.sndWnd, e.maxSndWnd = 0, 0
	e.rcvFin = false
	e.sndWS, e.rcvWS, e.wsOK, e.sackOK, e.tsOK = 0, 0, false, false, false
	e.ecn = ecnState{mode: e.ecn.mode}
	e.rtt = rttState{}
	e.cc = nil
	if e.endpointRecovery != nil {
		// A failed attempt holds no data: nothing to release.
		e.endpointRecovery = nil
	}
	e.retries, e.backoff, e.kaProbes, e.ackPending = 0, 0, 0, 0
	e.retrans, e.bytesAcked, e.bytesReceived = 0, 0, 0
}

// routeMSS is the MSS the route allows: its MTU (the largest transport
// packet) less the TCP header (RFC 9293 §3.7.1: MTU − 40 over IPv4
// without options).
func (e *endpoint) routeMSS() int {
	if e.route == nil {
		return defaultMSSv4
	}
	return int(e.route.MTU()) - header.TCPMinimumSize
}

// initLocalLocked sets what our SYN announces: the MSS (RFC 9293 §3.7.1),
// the window scale that lets the largest receive buffer autotuning may
// reach be advertised (RFC 7323 §2.3, at most 14), the timestamp offset (RFC 7323 §5.4, random per
// connection).
func (e *endpoint) initLocalLocked() {
	e.advMSS = min(e.routeMSS(), 0xffff)
	if e.maxSeg > 0 {
		e.advMSS = min(e.advMSS, e.maxSeg)
	}
	e.rcvWS = windowShift(e.rcvBufCeilLocked())
	e.tsOffset = uint32(e.s.RandUint64())
	e.lastRcvAt = e.nowLocked()
	// Quick ACKs at the start of a connection, as Linux's quickack
	// mode, so that the peer's slow start is not slowed by delayed
	// ACKs.
	e.quickAcks = quickAckStart
}

// negotiateLocked takes the peer's SYN options (RFC 9293 §3.7.1; RFC 7323
// §2.2, §3.2: window scaling and timestamps only if both sides sent them;
// RFC 2018 §2: SACK-permitted likewise) and sets the send MSS and the
// congestion control.
func (e *endpoint) negotiateLocked(o *header.TCPOptions, weSentAll bool) {
	e.wsOK = o.HasWindowScale
	if e.wsOK {
		e.sndWS = min(o.WindowScale, header.TCPMaxWindowScale)
	} else {
		e.sndWS, e.rcvWS = 0, 0
	}
	e.sackOK = o.SACKPermitted
	e.tsOK = o.HasTimestamps
	if e.tsOK {
		e.tsRecent = o.TSVal
		e.tsRecentAt = e.nowLocked()
	}
	_ = weSentAll
	e.peerMSS = defaultMSSv4
	if e.connProtoLocked() == tcpip.IPv6ProtocolNumber {
		e.peerMSS = defaultMSSv6
	}
	if o.HasMSS && o.MSS > 0 {
		e.peerMSS = int(o.MSS)
	}
	e.setSndMSSLocked(min(e.peerMSS, e.routeMSS()))
	// The congestion control is made with the recovery state, when the
	// connection first carries data (recoveryLocked, newCCLocked).
}

// newCCLocked makes the endpoint's congestion control, once the MSS is
// negotiated.
func (e *endpoint) newCCLocked() {
	f, ok := lookupCC(e.ccName)
	if !ok {
		f = NewNewReno
	}
	e.cc = f(e.sndMSS)
}

// setSndMSSLocked sets the data carried per segment from an effective MSS
// (RFC 9293 §3.7.1: Eff.snd.MSS = min(SendMSS, MMS_S − headers)), less the
// timestamp option each segment carries (RFC 7323 §3.2, as Linux's
// mss_cache), and never below 64 bytes of data.
func (e *endpoint) setSndMSSLocked(mss int) {
	if e.maxSeg > 0 {
		mss = min(mss, e.maxSeg)
	}
	if e.tsOK {
		mss -= 12
	}
	e.sndMSS = max(mss, 64)
	if e.cc != nil {
		e.cc.SetMSS(e.sndMSS)
	}
}

// establishLocked enters ESTABLISHED.
func (e *endpoint) establishLocked() {
	e.setStateLocked(StateEstablished)
	e.everConn = true
	e.retries, e.backoff = 0, 0
	e.rtoAt = zeroTime
	if e.timer != nil {
		// The SYN's retransmission timer: an idle connection does
		// not keep it (DESIGN.md principle 6); the next deadline
		// makes a new one (armLocked).
		e.timer.Stop()
		e.timer, e.timerAt = nil, zeroTime
	}
	e.notifyLocked(tcpip.EventOut)
}

// synSentLocked processes a segment in SYN-SENT (RFC 9293 §3.10.7.3).
func (e *endpoint) synSentLocked(g *segment) {
	defer g.release()
	if g.has(header.TCPFlagACK) {
		// First: the ACK must acknowledge our SYN.
		if g.ack.LessThanEq(e.iss) || g.ack.GreaterThan(e.sndNxt) {
			e.p.stats.UnacceptableACK.Inc()
			if !g.has(header.TCPFlagRST) {
				e.p.sendRaw(e.id, e.nic, g.ack, 0, header.TCPFlagRST, 0, nil)
			}
			return
		}
	}
	if g.has(header.TCPFlagRST) {
		// RFC 9293 §3.10.7.3 and RFC 5961 §3.2: an RST is
		// acceptable in SYN-SENT only with an acceptable ACK.
		if g.has(header.TCPFlagACK) {
			e.p.stats.ResetsReceived.Inc()
			e.p.stats.FailedConnections.Inc()
			e.resetLocked(tcpip.ErrConnectionRefused, false)
			return
		}
		e.p.stats.SynSentDrops.Inc()
		return
	}
	if !g.has(header.TCPFlagSYN) {
		// RFC 9293 §3.10.7.3 fifth: "if neither of the SYN or RST
		// bits is set, then drop the segment and return".
		e.p.stats.SynSentDrops.Inc()
		return
	}
	e.irs = g.seq
	e.rcvNxt = g.seq + 1
	e.negotiateLocked(&g.opts, true)
	e.ecnSynAckLocked(g)
	if g.has(header.TCPFlagACK) {
		e.rttOnAckLocked(g.ack, g.opts.TSEcr, g.opts.HasTimestamps)
		if !e.tsOK && e.retries == 0 {
			e.rtt.sample(e.nowLocked().Sub(e.headSentAt))
		}
		e.sndUna = g.ack
		// RFC 7323 §2.2: the window of a SYN is not scaled.
		e.sndWnd = uint32(g.wnd)
		e.maxSndWnd = e.sndWnd
		e.sndWl1, e.sndWl2 = g.seq, g.ack
		e.establishLocked()
		e.rcvAdv = e.rcvNxt
		if g.dataLen > 0 || g.has(header.TCPFlagFIN) {
			// RFC 9293 §3.10.7.3: "continue processing at the sixth
			// step": data and FIN that came with the SYN-ACK.
			e.rcvAdv = e.rcvNxt.Add(seqnum.Size(min(e.rcvBufSize, 0xffff)))
			g.seq++
			g.flags &^= header.TCPFlagSYN
			e.dataLocked(g)
		}
		if e.state != StateClosed {
			e.sendACKLocked()
			e.sendDataLocked()
			e.armLocked()
		}
		return
	}
	// Simultaneous open (RFC 9293 §3.5, Figure 8).
	e.setStateLocked(StateSynReceived)
	e.sndWnd = uint32(g.wnd)
	e.maxSndWnd = e.sndWnd
	e.sndWl1, e.sndWl2 = g.seq, g.ack
	e.retries, e.backoff = 0, 0
	e.sendSYNLocked()
	e.rtoAt = e.nowLocked().Add(e.rtoLocked())
	e.armLocked()
}
