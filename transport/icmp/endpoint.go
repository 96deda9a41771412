package icmp

import (
	"net/netip"
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/rcvq"
)

// endpointState is the state of an echo endpoint:
//
//	initial ──Bind / Write──▶ bound ──Connect──▶ connected
//	                            ▲                    │
//	                            └─Connect(zero Addr)─┘
//	any ──Close──▶ closed
type endpointState uint8

const (
	stateInitial endpointState = iota
	stateBound
	stateConnected
	stateClosed
)

// endpoint is an ICMP echo endpoint. It implements tcpip.Endpoint and
// stack.TransportEndpoint.
//
// Locking: mu guards the fields below it; it is held while calling the
// port manager and demultiplexer, never while sending or notifying.
type endpoint struct {
	p         *protocol
	s         *stack.Stack
	uniqueID  uint64
	waitQueue tcpip.WaitQueue
	stats     tcpip.EndpointStats

	mu       sync.Mutex
	state    endpointState
	netProto []tcpip.NetworkProtocolNumber // {p.netProto}, for the stack's calls
	ident    uint16                        // the bound "port"
	flags    stack.PortFlags               // as reserved
	device   tcpip.NICID                   // as reserved and registered
	bindAddr netip.Addr                    // zero: wildcard
	bindNIC  tcpip.NICID
	regID    stack.TransportEndpointID
	remote   netip.Addr
	route    *stack.Route
	shutdown tcpip.ShutdownFlags
	lastErr  error

	rcv        rcvq.Queue
	rcvBufSize int
	sndBufSize int

	reuseAddr    bool
	bindToDevice tcpip.NICID
	broadcast    bool
	ttl          uint8
	tos          uint8
	v6only       bool
	rcvTOS       bool
	rcvTTL       bool
	rcvPktInfo   bool
	timestamp    bool
}

var (
	_ tcpip.Endpoint          = (*endpoint)(nil)
	_ stack.TransportEndpoint = (*endpoint)(nil)
)

func newEndpoint(p *protocol) *endpoint {
	return &endpoint{
		p:          p,
		s:          p.s,
		uniqueID:   p.s.UniqueID(),
		netProto:   []tcpip.NetworkProtocolNumber{p.netProto},
		rcvBufSize: DefaultReceiveBufferSize,
		sndBufSize: DefaultSendBufferSize,
	}
}

// UniqueID implements stack.TransportEndpoint.
func (e *endpoint) UniqueID() uint64 { return e.uniqueID }

// WaitQueue implements tcpip.Endpoint.
func (e *endpoint) WaitQueue() *tcpip.WaitQueue { return &e.waitQueue }

// Stats implements tcpip.Endpoint.
func (e *endpoint) Stats() *tcpip.EndpointStats { return &e.stats }

// Listen implements tcpip.Endpoint: not supported.
func (e *endpoint) Listen(int) error { return tcpip.ErrNotSupported }

// Accept implements tcpip.Endpoint: not supported.
func (e *endpoint) Accept() (tcpip.Endpoint, tcpip.FullAddress, error) {
	return nil, tcpip.FullAddress{}, tcpip.ErrNotSupported
}

// addrLocked normalises an address of the endpoint's family.
func (e *endpoint) addrLocked(a netip.Addr) (netip.Addr, error) {
	a = a.WithZone("")
	if e.p.netProto == tcpip.IPv4ProtocolNumber {
		a = a.Unmap()
		if a.IsValid() && !a.Is4() {
			return netip.Addr{}, tcpip.ErrAddressFamily
		}
	} else if a.Is4() || a.Is4In6() {
		// Linux's ping_v6_sendmsg and ping_check_bind_addr: an
		// ICMPv6 socket does not speak IPv4.
		return netip.Addr{}, tcpip.ErrAddressFamily
	}
	if a.IsUnspecified() {
		a = netip.Addr{}
	}
	return a, nil
}

func (e *endpoint) deviceLocked() tcpip.NICID {
	if e.bindToDevice != 0 {
		return e.bindToDevice
	}
	return e.bindNIC
}

// Bind implements tcpip.Endpoint: Port is the Identifier (0 picks one).
// The address must be the stack's or a wildcard (Linux's
// ping_check_bind_addr).
func (e *endpoint) Bind(addr tcpip.FullAddress) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state {
	case stateInitial:
	case stateClosed:
		return tcpip.ErrInvalidEndpointState
	default:
		return tcpip.ErrAlreadyBound
	}
	a, err := e.addrLocked(addr.Addr)
	if err != nil {
		return err
	}
	if addr.NIC != 0 {
		if e.bindToDevice != 0 && e.bindToDevice != addr.NIC {
			return tcpip.ErrInvalidArgument
		}
		if !e.s.HasNIC(addr.NIC) {
			return tcpip.ErrUnknownDevice
		}
	}
	device := e.bindToDevice
	if device == 0 {
		device = addr.NIC
	}
	if a.IsValid() && e.s.CheckLocalAddress(device, e.p.netProto, a) == 0 {
		return tcpip.ErrBadLocalAddress
	}
	if err := e.bindLocked(a, addr.Port, device); err != nil {
		return err
	}
	e.bindNIC = addr.NIC
	return nil
}

// bindLocked reserves ident (0: an ephemeral one) at a and registers the
// endpoint for it.
func (e *endpoint) bindLocked(a netip.Addr, ident uint16, device tcpip.NICID) error {
	flags := stack.PortFlags{ReuseAddress: e.reuseAddr}
	ident, err := e.s.PortManager().ReservePort(e.netProto, e.p.number, a, ident, flags, device, netip.AddrPort{}, nil)
	if err != nil {
		return err
	}
	id := stack.TransportEndpointID{LocalPort: ident, LocalAddress: a}
	if err := e.s.RegisterTransportEndpoint(e.netProto, e.p.number, id, e, flags, device); err != nil {
		e.s.PortManager().ReleasePort(e.netProto, e.p.number, a, ident, flags, device, netip.AddrPort{})
		return err
	}
	e.ident, e.flags, e.device, e.bindAddr, e.regID = ident, flags, device, a, id
	e.state = stateBound
	return nil
}

// Connect implements tcpip.Endpoint: replies are then taken only from the
// peer, and Write needs no destination. A zero Addr disconnects.
func (e *endpoint) Connect(addr tcpip.FullAddress) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == stateClosed {
		return tcpip.ErrInvalidEndpointState
	}
	if !addr.Addr.IsValid() {
		if e.state == stateConnected {
			id := stack.TransportEndpointID{LocalPort: e.ident, LocalAddress: e.bindAddr}
			if err := e.reregisterLocked(id); err != nil {
				return err
			}
			e.remote, e.route = netip.Addr{}, nil
			e.state = stateBound
		}
		return nil
	}
	dst, err := e.addrLocked(addr.Addr)
	if err != nil {
		return err
	}
	if !dst.IsValid() {
		return tcpip.ErrInvalidArgument
	}
	nic := addr.NIC
	if nic == 0 {
		nic = e.deviceLocked()
	}
	r, err := e.s.FindRoute(nic, e.bindAddr, dst, e.p.netProto, false /* multicastLoop */)
	if err != nil {
		return err
	}
	if r.IsOutboundBroadcast() && !e.broadcast {
		return tcpip.ErrBroadcastDisabled
	}
	if e.state == stateInitial {
		if err := e.bindLocked(netip.Addr{}, 0, e.deviceLocked()); err != nil {
			return err
		}
	}
	local := e.bindAddr
	if !local.IsValid() {
		local = r.LocalAddress
	}
	id := stack.TransportEndpointID{LocalPort: e.ident, LocalAddress: local, RemoteAddress: dst}
	if err := e.reregisterLocked(id); err != nil {
		return err
	}
	e.remote, e.route = dst, r
	e.state = stateConnected
	return nil
}

// reregisterLocked moves the endpoint's demultiplexer entry to id.
func (e *endpoint) reregisterLocked(id stack.TransportEndpointID) error {
	if id == e.regID {
		return nil
	}
	if err := e.s.RegisterTransportEndpoint(e.netProto, e.p.number, id, e, e.flags, e.device); err != nil {
		return err
	}
	e.s.UnregisterTransportEndpoint(e.netProto, e.p.number, e.regID, e, e.flags, e.device)
	e.regID = id
	return nil
}

// Shutdown implements tcpip.Endpoint, as the UDP endpoint's (Linux's
// inet_shutdown: not connected gives ErrNotConnected, yet shuts).
func (e *endpoint) Shutdown(how tcpip.ShutdownFlags) error {
	if how&(tcpip.ShutdownRead|tcpip.ShutdownWrite) == 0 || how&^(tcpip.ShutdownRead|tcpip.ShutdownWrite) != 0 {
		return tcpip.ErrInvalidArgument
	}
	e.mu.Lock()
	if e.state == stateClosed {
		e.mu.Unlock()
		return tcpip.ErrNotConnected
	}
	var err error
	if e.state != stateConnected {
		err = tcpip.ErrNotConnected
	}
	e.shutdown |= how
	e.mu.Unlock()
	e.waitQueue.Notify(tcpip.EventIn | tcpip.EventOut | tcpip.EventHUp | tcpip.EventRdHUp)
	return err
}

// Close implements tcpip.Endpoint.
func (e *endpoint) Close() {
	e.mu.Lock()
	if e.state == stateClosed {
		e.mu.Unlock()
		return
	}
	if e.state != stateInitial {
		e.s.UnregisterTransportEndpoint(e.netProto, e.p.number, e.regID, e, e.flags, e.device)
		e.s.PortManager().ReleasePort(e.netProto, e.p.number, e.bindAddr, e.ident, e.flags, e.device, netip.AddrPort{})
	}
	e.rcv.Clear()
	e.route = nil
	e.state = stateClosed
	e.mu.Unlock()
	e.waitQueue.Notify(tcpip.EventHUp | tcpip.EventIn | tcpip.EventOut)
}

// Abort implements stack.TransportEndpoint.
func (e *endpoint) Abort() { e.Close() }

// LocalAddress implements tcpip.Endpoint: Port is the Identifier.
func (e *endpoint) LocalAddress() (tcpip.FullAddress, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return tcpip.FullAddress{NIC: e.bindNIC, Addr: e.regID.LocalAddress, Port: e.ident}, nil
}

// RemoteAddress implements tcpip.Endpoint.
func (e *endpoint) RemoteAddress() (tcpip.FullAddress, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateConnected {
		return tcpip.FullAddress{}, tcpip.ErrNotConnected
	}
	return tcpip.FullAddress{Addr: e.remote}, nil
}

// Readiness implements tcpip.Endpoint.
func (e *endpoint) Readiness(mask tcpip.Events) tcpip.Events {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := tcpip.EventOut
	if e.state == stateClosed {
		return (r | tcpip.EventIn | tcpip.EventHUp) & mask
	}
	if e.rcv.Len() > 0 || e.shutdown&tcpip.ShutdownRead != 0 {
		r |= tcpip.EventIn
	}
	if e.shutdown&tcpip.ShutdownRead != 0 {
		r |= tcpip.EventRdHUp
	}
	if e.shutdown == tcpip.ShutdownRead|tcpip.ShutdownWrite {
		r |= tcpip.EventHUp
	}
	if e.lastErr != nil {
		r |= tcpip.EventErr
	}
	return r & mask
}

// LastError implements tcpip.Endpoint.
func (e *endpoint) LastError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.lastErr
	e.lastErr = nil
	return err
}

// Write implements tcpip.Endpoint: p is an echo request message (Linux's
// ping_common_sendmsg: at least the 8-byte header, type echo request, code
// 0, else EINVAL). The stack sets the Identifier and the checksum.
func (e *endpoint) Write(p []byte, opts tcpip.WriteOptions) (int, error) {
	if len(p) < EchoHeaderSize || p[0] != e.p.echoRequest || p[1] != 0 {
		return 0, tcpip.ErrInvalidArgument
	}
	if len(p) > e.p.maxMessage() {
		return 0, tcpip.ErrMessageTooLong
	}
	r, ident, params, err := e.prepareWrite(&opts)
	if err != nil {
		return 0, err
	}
	pkt := buffer.NewPacket(r.MaxHeaderLength()+EchoHeaderSize, nil)
	hdr := pkt.PrependHeader(buffer.TransportLayer, EchoHeaderSize)
	copy(hdr, p[:EchoHeaderSize])
	header.ICMPv4(hdr).SetIdent(ident) // the same field in ICMPv6
	data := p[EchoHeaderSize:]
	e.p.setChecksum(hdr, data, r.LocalAddress, r.RemoteAddress)
	pkt.Payload.Append(data)
	pkt.TransportProtocol = e.p.number
	if err := r.WritePacket(params, pkt); err != nil {
		e.stats.SendErrors.Inc()
		return 0, err
	}
	e.stats.PacketsSent.Inc()
	e.stats.BytesSent.Add(uint64(len(p)))
	return len(p), nil
}

// prepareWrite returns the route, Identifier and header parameters of a
// datagram, binding the endpoint first if needed.
func (e *endpoint) prepareWrite(opts *tcpip.WriteOptions) (*stack.Route, uint16, stack.NetworkHeaderParams, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	params := stack.NetworkHeaderParams{Protocol: e.p.number, TTL: e.ttl, TOS: e.tos}
	if opts.TTL != 0 {
		params.TTL = opts.TTL
	}
	if e.state == stateClosed || e.shutdown&tcpip.ShutdownWrite != 0 {
		return nil, 0, params, tcpip.ErrClosedForSend
	}
	if err := e.lastErr; err != nil {
		e.lastErr = nil
		return nil, 0, params, err
	}
	var r *stack.Route
	if opts.To == nil {
		if e.state != stateConnected {
			return nil, 0, params, tcpip.ErrDestinationRequired
		}
		r = e.route
	} else {
		dst, err := e.addrLocked(opts.To.Addr)
		if err != nil {
			return nil, 0, params, err
		}
		if !dst.IsValid() {
			return nil, 0, params, tcpip.ErrDestinationRequired
		}
		if e.state == stateConnected && dst == e.remote && (opts.To.NIC == 0 || opts.To.NIC == e.route.NIC) {
			r = e.route
		} else {
			nic := opts.To.NIC
			if nic == 0 {
				nic = e.deviceLocked()
			}
			r, err = e.s.FindRoute(nic, e.bindAddr, dst, e.p.netProto, false /* multicastLoop */)
			if err != nil {
				e.stats.SendErrors.Inc()
				return nil, 0, params, err
			}
		}
	}
	// Linux's ping_v4_sendmsg: a broadcast destination needs
	// SO_BROADCAST (EACCES).
	if r.IsOutboundBroadcast() && !e.broadcast {
		return nil, 0, params, tcpip.ErrBroadcastDisabled
	}
	if e.state == stateInitial {
		// Linux's inet_send_prepare binds an ephemeral Identifier.
		if err := e.bindLocked(netip.Addr{}, 0, e.deviceLocked()); err != nil {
			return nil, 0, params, err
		}
	}
	return r, e.ident, params, nil
}

// HandlePacket implements stack.TransportEndpoint: an echo reply for this
// endpoint, queued whole (ICMP header included) for Read.
func (e *endpoint) HandlePacket(id stack.TransportEndpointID, info stack.NetworkPacketInfo, pkt *buffer.Packet) {
	n := pkt.Payload.Len()
	e.mu.Lock()
	if e.state == stateClosed || e.shutdown&tcpip.ShutdownRead != 0 {
		e.mu.Unlock()
		e.stats.ReceiveBufferErrors.Inc()
		pkt.Release()
		return
	}
	ent := rcvq.Entry{Pkt: pkt, Src: info.Source, Dst: info.Destination, NIC: info.NIC, TTL: info.TTL, TOS: info.TOS}
	if e.timestamp {
		ent.Timestamp = e.s.Clock().Now()
	}
	if !e.rcv.Push(ent, e.rcvBufSize) {
		e.mu.Unlock()
		e.stats.ReceiveBufferErrors.Inc()
		pkt.Release()
		return
	}
	e.mu.Unlock()
	e.stats.PacketsReceived.Inc()
	e.stats.BytesReceived.Add(uint64(n))
	e.waitQueue.Notify(tcpip.EventIn)
}

// HandleError implements stack.TransportEndpoint: as Linux's ping_err
// without IP_RECVERR, a connected endpoint keeps hard errors for its next
// Read or Write; everything else is ignored.
func (e *endpoint) HandleError(terr stack.TransportError, orig *buffer.Packet) {
	orig.Release()
	switch terr.Kind {
	case stack.ErrorPortUnreachable, stack.ErrorProtocolUnreachable, stack.ErrorAdministrativelyProhibited, stack.ErrorParameterProblem:
	default:
		return
	}
	err := terr.Err
	if err == nil {
		err = tcpip.ErrConnectionRefused
	}
	e.mu.Lock()
	if e.state != stateConnected {
		e.mu.Unlock()
		return
	}
	e.lastErr = err
	e.mu.Unlock()
	e.stats.ICMPErrors.Inc()
	e.waitQueue.Notify(tcpip.EventErr)
}

// Read implements tcpip.Endpoint: one echo reply, ICMP header included.
func (e *endpoint) Read(p []byte, opts tcpip.ReadOptions) (tcpip.ReadResult, error) {
	e.mu.Lock()
	if err := e.lastErr; err != nil {
		e.lastErr = nil
		e.mu.Unlock()
		return tcpip.ReadResult{}, err
	}
	if opts.Peek {
		f := e.rcv.Front()
		if f == nil {
			err := e.emptyErrorLocked()
			e.mu.Unlock()
			return tcpip.ReadResult{}, err
		}
		res := e.resultLocked(f, p, &opts)
		e.mu.Unlock()
		return res, nil
	}
	ent, ok := e.rcv.Pop()
	if !ok {
		err := e.emptyErrorLocked()
		e.mu.Unlock()
		return tcpip.ReadResult{}, err
	}
	res := e.resultLocked(&ent, p, &opts)
	e.mu.Unlock()
	ent.Pkt.Release()
	return res, nil
}

func (e *endpoint) emptyErrorLocked() error {
	if e.state == stateClosed || e.shutdown&tcpip.ShutdownRead != 0 {
		return tcpip.ErrClosedForReceive
	}
	return tcpip.ErrWouldBlock
}

func (e *endpoint) resultLocked(ent *rcvq.Entry, p []byte, opts *tcpip.ReadOptions) tcpip.ReadResult {
	res := tcpip.ReadResult{N: ent.Pkt.Payload.CopyTo(p), Total: ent.Pkt.Payload.Len()}
	if opts.NeedRemoteAddr {
		res.RemoteAddr = tcpip.FullAddress{NIC: ent.NIC, Addr: ent.Src}
	}
	c := &res.Control
	if e.rcvTOS {
		c.HasTOS, c.TOS = true, ent.TOS
	}
	if e.rcvTTL {
		c.HasTTL, c.TTL = true, ent.TTL
	}
	if e.rcvPktInfo {
		c.HasPacketInfo, c.LocalAddr, c.NIC = true, ent.Dst, ent.NIC
	}
	if e.timestamp && !ent.Timestamp.IsZero() {
		c.HasTimestamp, c.Timestamp = true, ent.Timestamp
	}
	return res
}

// SetSockOpt implements tcpip.Endpoint.
func (e *endpoint) SetSockOpt(opt any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch v := opt.(type) {
	case tcpip.ReuseAddressOption:
		e.reuseAddr = bool(v)
	case tcpip.BindToDeviceOption:
		if v != 0 && !e.s.HasNIC(tcpip.NICID(v)) {
			return tcpip.ErrUnknownDevice
		}
		if e.state != stateInitial {
			// The Identifier is registered for a device already.
			return tcpip.ErrInvalidEndpointState
		}
		e.bindToDevice = tcpip.NICID(v)
	case tcpip.BroadcastOption:
		e.broadcast = bool(v)
	case tcpip.TTLOption:
		e.ttl = uint8(v)
	case tcpip.TOSOption:
		e.tos = uint8(v)
	case tcpip.V6OnlyOption:
		if e.p.netProto != tcpip.IPv6ProtocolNumber {
			return tcpip.ErrUnknownProtocolOption
		}
		e.v6only = bool(v)
	case tcpip.ReceiveTOSOption:
		e.rcvTOS = bool(v)
	case tcpip.ReceiveTTLOption:
		e.rcvTTL = bool(v)
	case tcpip.ReceivePacketInfoOption:
		e.rcvPktInfo = bool(v)
	case tcpip.TimestampOption:
		e.timestamp = bool(v)
	case tcpip.ReceiveBufferSizeOption:
		e.rcvBufSize = min(max(int(v), MinBufferSize), MaxBufferSize)
	case tcpip.SendBufferSizeOption:
		e.sndBufSize = min(max(int(v), MinBufferSize), MaxBufferSize)
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// GetSockOpt implements tcpip.Endpoint.
func (e *endpoint) GetSockOpt(opt any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch v := opt.(type) {
	case *tcpip.ReuseAddressOption:
		*v = tcpip.ReuseAddressOption(e.reuseAddr)
	case *tcpip.BindToDeviceOption:
		*v = tcpip.BindToDeviceOption(e.bindToDevice)
	case *tcpip.BroadcastOption:
		*v = tcpip.BroadcastOption(e.broadcast)
	case *tcpip.TTLOption:
		*v = tcpip.TTLOption(e.ttl)
	case *tcpip.TOSOption:
		*v = tcpip.TOSOption(e.tos)
	case *tcpip.V6OnlyOption:
		if e.p.netProto != tcpip.IPv6ProtocolNumber {
			return tcpip.ErrUnknownProtocolOption
		}
		*v = tcpip.V6OnlyOption(e.v6only)
	case *tcpip.ReceiveTOSOption:
		*v = tcpip.ReceiveTOSOption(e.rcvTOS)
	case *tcpip.ReceiveTTLOption:
		*v = tcpip.ReceiveTTLOption(e.rcvTTL)
	case *tcpip.ReceivePacketInfoOption:
		*v = tcpip.ReceivePacketInfoOption(e.rcvPktInfo)
	case *tcpip.TimestampOption:
		*v = tcpip.TimestampOption(e.timestamp)
	case *tcpip.ReceiveBufferSizeOption:
		*v = tcpip.ReceiveBufferSizeOption(e.rcvBufSize)
	case *tcpip.SendBufferSizeOption:
		*v = tcpip.SendBufferSizeOption(e.sndBufSize)
	case *tcpip.ReceiveQueueSizeOption:
		n := 0
		if f := e.rcv.Front(); f != nil {
			n = f.Pkt.Payload.Len()
		}
		*v = tcpip.ReceiveQueueSizeOption(n)
	case *tcpip.SendQueueSizeOption:
		*v = 0
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}
