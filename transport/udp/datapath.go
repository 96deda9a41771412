package udp

import (
	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/rcvq"
)

// sendParams is what a datagram takes from the endpoint's state, gathered
// under its lock and used after releasing it.
type sendParams struct {
	route      *stack.Route
	srcPort    uint16
	dstPort    uint16
	net        stack.NetworkHeaderParams
	noChecksum bool
	sndbuf     int64 // SO_SNDBUF
}

// Write implements tcpip.Endpoint: p is sent as one datagram to the peer,
// or to opts.To. An endpoint without a port gets an ephemeral one first.
// The datagram goes to the network layer before Write returns, and the
// layer's errors are returned; a link whose queue is full refuses it with
// tcpip.ErrNoBufferSpace (ENOBUFS, the datagram is lost).
//
// Each datagram is charged to the endpoint's send buffer until it is paid
// back (buffer.Owner): by a link that transmits it, once written; over an
// in-memory link to another stack of the process (link/pipe,
// link/loopback), only when the receiving socket's reader takes it or it
// is dropped on the way, as an AF_UNIX datagram socket charges its
// sender. Write returns tcpip.ErrWouldBlock while the charge is at
// SO_SNDBUF, and EventOut follows when it is down to half, so that a
// writer faster than the link, or than the reader at the other end of an
// in-memory link, waits rather than losing datagrams to the link's queue
// or to the receiver's full buffer. A link whose queue is full while
// datagrams of this endpoint are in flight makes Write return
// tcpip.ErrWouldBlock too, with EventOut when one of them is paid back
// (see linkFull).
func (e *endpoint) Write(p []byte, opts tcpip.WriteOptions) (int, error) {
	sp, err := e.prepareWrite(len(p), &opts)
	if err != nil {
		return 0, err
	}
	// Linux's sock_alloc_send_pskb admits a datagram while the socket's
	// charged bytes are under sk_sndbuf, and otherwise makes the writer
	// wait (EAGAIN without blocking).
	if e.wmem.Load() >= sp.sndbuf {
		return 0, tcpip.ErrWouldBlock
	}
	err = e.send(&sp, p)
	if linkRefused(err) && e.linkFull() {
		// The link let go of all our datagrams since it refused
		// this one: there may be room now.
		if err = e.send(&sp, p); linkRefused(err) && e.linkFull() {
			e.countSendError()
			return 0, tcpip.ErrNoBufferSpace
		}
	}
	if linkRefused(err) {
		return 0, tcpip.ErrWouldBlock
	}
	if err != nil {
		e.countSendError()
		return 0, err
	}
	e.stats.PacketsSent.Inc()
	e.stats.BytesSent.Add(uint64(len(p)))
	e.p.stats.PacketsSent.Inc()
	return len(p), nil
}

// linkRefused reports whether err is a link refusing a datagram for want
// of room in its queue.
func linkRefused(err error) bool {
	return err == tcpip.ErrWouldBlock || err == tcpip.ErrNoBufferSpace
}

// linkFull is Write's answer to a link (or a neighbour's queue) that
// refused a datagram for want of room. If datagrams of this endpoint are
// in flight (in the link, or not yet read or dropped by the far stack of
// an in-memory link), their release will come, and with it room: the
// writer waits for it (Write returns tcpip.ErrWouldBlock, and EventOut
// follows the next release, see PacketReleased), as a sender sleeps on a
// full qdisc rather than losing what it writes. linkFull reports true if
// none is in flight: then no release will come, and Write tries once more
// (the queue may have drained meanwhile) before giving the datagram up
// with tcpip.ErrNoBufferSpace (ENOBUFS, as Linux's ip_send_skb reports a
// qdisc drop).
func (e *endpoint) linkFull() bool {
	e.linkWait.Store(true)
	// A release after the Store sees linkWait and notifies; one before
	// it has already lowered wmem, so that wmem being zero here means
	// no release is to come.
	if e.wmem.Load() == 0 {
		e.linkWait.Store(false)
		return true
	}
	return false
}

// countSendError counts a datagram that could not be sent: no route, or
// the network layer or link refused it. Requests refused for what they ask
// (no destination, too long, broadcast not enabled) are not counted.
func (e *endpoint) countSendError() {
	e.stats.SendErrors.Inc()
	e.p.stats.SendErrors.Inc()
}

// prepareWrite checks a datagram of n bytes against the endpoint's state
// and options and returns how to send it.
func (e *endpoint) prepareWrite(n int, opts *tcpip.WriteOptions) (sendParams, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == stateClosed || e.sock.Shutdown&tcpip.ShutdownWrite != 0 {
		return sendParams{}, tcpip.ErrClosedForSend
	}
	// A pending ICMP error is reported by the next send, as Linux's
	// sock_alloc_send_pskb reports sk_err.
	if err := e.sock.TakeErr(); err != nil {
		return sendParams{}, err
	}
	var sp sendParams
	if opts.To == nil {
		if e.state != stateConnected {
			return sendParams{}, tcpip.ErrDestinationRequired
		}
		if err := e.checkSizeLocked(e.connNetProto, n); err != nil {
			return sendParams{}, err
		}
		if e.route == nil {
			// The cached route was lost to a device change.
			r, err := e.findRouteLocked(0, e.remote.Addr(), e.connNetProto)
			if err != nil {
				e.countSendError()
				return sendParams{}, err
			}
			e.route = r
		}
		sp.route, sp.dstPort = e.route, e.remote.Port()
	} else {
		dst, np, err := e.remoteAddrLocked(opts.To.Addr)
		if err != nil {
			return sendParams{}, err
		}
		// Linux's udp_sendmsg: EINVAL for destination port 0.
		if opts.To.Port == 0 {
			return sendParams{}, tcpip.ErrInvalidArgument
		}
		if err := e.checkSizeLocked(np, n); err != nil {
			return sendParams{}, err
		}
		if e.state != stateInitial && !containsProto(e.res.netProtos, np) {
			return sendParams{}, familyMismatch(np)
		}
		if err := e.autoBindLocked(); err != nil {
			return sendParams{}, err
		}
		device := e.sock.Device()
		if opts.To.NIC != 0 && device != 0 && opts.To.NIC != device {
			return sendParams{}, tcpip.ErrInvalidArgument
		}
		if e.state == stateConnected && e.route != nil && np == e.connNetProto &&
			dst == e.remote.Addr() && (opts.To.NIC == 0 || opts.To.NIC == e.route.NIC) {
			sp.route = e.route
		} else {
			r, err := e.findRouteLocked(opts.To.NIC, dst, np)
			if err != nil {
				e.countSendError()
				return sendParams{}, err
			}
			sp.route = r
		}
		sp.dstPort = opts.To.Port
	}
	// Linux's udp_sendmsg (ip_route_output_flow): a broadcast
	// destination needs SO_BROADCAST (EACCES).
	if sp.route.IsOutboundBroadcast() && !e.sock.Broadcast {
		return sendParams{}, tcpip.ErrBroadcastDisabled
	}
	sp.srcPort = e.reg.id.LocalPort
	sp.sndbuf = int64(e.sock.SndBufSize)
	sp.net = stack.NetworkHeaderParams{Protocol: ProtocolNumber, TTL: e.sock.TTL, TOS: e.sock.TOS}
	if sp.route.RemoteAddress.IsMulticast() {
		// RFC 1112 §6.1: the multicast TTL, 1 unless set. A TTL of 0
		// (this host only) cannot be asked of the network layer,
		// whose 0 means its default.
		sp.net.TTL = e.mcastTTL
	}
	if opts.TTL != 0 {
		sp.net.TTL = opts.TTL
	}
	// SO_NO_CHECK concerns IPv4 only: the IPv6 checksum is mandatory
	// (RFC 8200 §8.1).
	sp.noChecksum = e.noChecksum && sp.route.NetProto == tcpip.IPv4ProtocolNumber
	return sp, nil
}

// checkSizeLocked refuses a payload that no datagram of np can carry
// (EMSGSIZE): the IPv4 Total Length and the IPv6 Payload Length are 16-bit
// fields (RFC 791 §3.1, RFC 8200 §3).
func (e *endpoint) checkSizeLocked(np tcpip.NetworkProtocolNumber, n int) error {
	limit := MaxPayloadIPv6
	if np == tcpip.IPv4ProtocolNumber {
		limit = MaxPayloadIPv4
	}
	if n > limit {
		return tcpip.ErrMessageTooLong
	}
	return nil
}

// send builds the datagram in a packet whose headroom holds every header
// below it and writes it along sp.route.
func (e *endpoint) send(sp *sendParams, p []byte) error {
	r := sp.route
	pkt := buffer.NewPacket(r.MaxHeaderLength()+header.UDPMinimumSize, nil)
	pkt.Payload.Append(p)
	f := header.UDPFields{
		SrcPort: sp.srcPort,
		DstPort: sp.dstPort,
		Length:  uint16(header.UDPMinimumSize + len(p)),
	}
	u := f.Encode(pkt.PrependHeader(buffer.TransportLayer, header.UDPMinimumSize))
	// RFC 768 and RFC 1122 §4.1.3.4: the checksum is computed unless
	// the application turned it off (IPv4 only), or the link computes
	// it itself.
	if !sp.noChecksum {
		if nicCapabilities(e.s, r.NIC)&stack.CapabilityTXChecksumOffload == 0 {
			u.SetChecksum(u.CalculateChecksumPartial(r.LocalAddress, r.RemoteAddress, header.Checksum(p, 0)))
		} else {
			// Left to the link; the network layer fills it in if
			// the datagram is fragmented after all.
			pkt.ChecksumPending = true
		}
	}
	pkt.TransportProtocol = ProtocolNumber
	// The charge is the datagram's truesize with the headers the layers
	// below will add, which is what the receiving endpoint charges it
	// too (rcvq.Charge): equal buffers hold as many datagrams.
	charge := rcvq.Charge(pkt) + r.MaxHeaderLength()
	e.wmem.Add(int64(charge))
	pkt.SetOwner(e, charge)
	return r.WritePacket(sp.net, pkt)
}

// HandlePacket implements stack.TransportEndpoint: a datagram for this
// endpoint, the network header consumed. It is validated (see
// protocol.validate) and queued for Read, or dropped and counted when the
// receive buffer is full.
func (e *endpoint) HandlePacket(id stack.TransportEndpointID, info stack.NetworkPacketInfo, pkt *buffer.Packet) {
	if info.Multicast || info.LocalAddressBroadcast {
		// Over an in-memory link the sender is paid back only when
		// its datagram is read (see Write), but a multicast or
		// broadcast datagram goes to every member as a clone that is
		// not charged, and the charge of the original would hold the
		// sender to whichever member came last: it is paid back on
		// delivery, and such a sender is paced by its link, as over
		// a real one.
		pkt.Orphan()
	}
	length, ok := e.p.validate(info, pkt, &e.stats)
	if !ok {
		pkt.Release()
		return
	}
	pkt.Payload.Truncate(length)
	pkt.Payload.TrimFront(header.UDPMinimumSize)
	n := pkt.Payload.Len()

	e.mu.Lock()
	if e.state == stateClosed || e.sock.Shutdown&tcpip.ShutdownRead != 0 {
		// Raced with Close, or no longer reading: nowhere to queue
		// it.
		e.mu.Unlock()
		e.stats.ReceiveBufferErrors.Inc()
		e.p.stats.ReceiveBufferErrors.Inc()
		pkt.Release()
		return
	}
	ent := rcvq.Entry{
		Pkt:     pkt,
		Src:     info.Source,
		SrcPort: id.RemotePort,
		Dst:     info.Destination,
		NIC:     info.NIC,
		TTL:     info.TTL,
		TOS:     info.TOS,
	}
	// Readers are told when the queue stops being empty: one that
	// finds datagrams reads until it is empty again before it waits, so
	// a notification per datagram of a burst would wake nobody.
	wake := e.sock.Rcv.Len() == 0
	if !e.sock.Enqueue(ent, e.s.Clock()) {
		e.mu.Unlock()
		e.stats.ReceiveBufferErrors.Inc()
		e.p.stats.ReceiveBufferErrors.Inc()
		pkt.Release()
		return
	}
	e.mu.Unlock()
	e.stats.PacketsReceived.Inc()
	e.stats.BytesReceived.Add(uint64(n))
	e.p.stats.PacketsReceived.Inc()
	if wake {
		e.waitQueue.Notify(tcpip.EventIn)
	}
}

// HandleError implements stack.TransportEndpoint. RFC 1122 §4.1.3.3 has UDP
// pass every ICMP error to the application; ustack does what Linux does
// for sockets without IP_RECVERR: a connected endpoint keeps the hard
// errors (port, protocol unreachable, administratively prohibited,
// parameter problem: icmp_err_convert's fatal codes) for its next Read or
// Write and LastError, and signals EventErr; soft errors (network or host
// unreachable, time exceeded, fragmentation needed) and every error for an
// unconnected endpoint are ignored, since its user cannot tell which of
// its destinations failed.
func (e *endpoint) HandleError(terr stack.TransportError, orig *buffer.Packet) {
	orig.Release()
	var err error
	switch terr.Kind {
	case stack.ErrorPortUnreachable, stack.ErrorProtocolUnreachable:
		err = tcpip.ErrConnectionRefused
	case stack.ErrorAdministrativelyProhibited:
		err = tcpip.ErrHostUnreachable
	case stack.ErrorParameterProblem:
		err = tcpip.ErrMalformed
	case stack.ErrorHostUnreachable, stack.ErrorNetworkUnreachable:
		// Remote host/net unreachable messages are soft errors that a
		// Linux socket without IP_RECVERR ignores (icmp_err_convert),
		// but when this stack itself failed to resolve the next hop
		// the sender is told: its datagrams go nowhere.
		if !terr.Local {
			return
		}
		err = tcpip.ErrHostUnreachable
	default:
		return
	}
	if terr.Err != nil {
		err = terr.Err
	}
	e.mu.Lock()
	if e.state != stateConnected {
		e.mu.Unlock()
		return
	}
	e.sock.Err = err
	e.mu.Unlock()
	e.stats.ICMPErrors.Inc()
	e.waitQueue.Notify(tcpip.EventErr)
}

// Read implements tcpip.Endpoint: it returns one datagram (truncated to
// len(p), with ReadResult.Total its full size), or tcpip.ErrWouldBlock. A
// pending ICMP error is returned first, as Linux's __skb_recv_udp checks
// sock_error before dequeuing.
func (e *endpoint) Read(p []byte, opts tcpip.ReadOptions) (tcpip.ReadResult, error) {
	e.mu.Lock()
	// A peeked datagram stays queued: it is copied under the lock.
	res, done, err := e.sock.Read(p, &opts, e.state == stateClosed)
	e.mu.Unlock()
	done.Release()
	// An IPv6 endpoint reports IPv4 addresses as IPv4-mapped ones.
	res.RemoteAddr.Addr = mapped(e.netProto, res.RemoteAddr.Addr)
	res.Control.LocalAddr = mapped(e.netProto, res.Control.LocalAddr)
	return res, err
}
