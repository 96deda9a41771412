package icmp

import (
	"net/netip"
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/dgram"
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
	regID    stack.TransportEndpointID
	remote   netip.Addr
	route    *stack.Route

	// sock is the receive queue, shutdown flags, pending error, bound
	// NIC and options all datagram endpoints share.
	sock   dgram.Socket
	v6only bool
}

var (
	_ tcpip.Endpoint          = (*endpoint)(nil)
	_ stack.TransportEndpoint = (*endpoint)(nil)
)

func newEndpoint(p *protocol) *endpoint {
	return &endpoint{
		p:        p,
		s:        p.s,
		uniqueID: p.s.UniqueID(),
		netProto: []tcpip.NetworkProtocolNumber{p.netProto},
		sock:     dgram.NewSocket(dgram.Transport),
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
		if e.sock.BindToDevice != 0 && e.sock.BindToDevice != addr.NIC {
			return tcpip.ErrInvalidArgument
		}
		if !e.s.HasNIC(addr.NIC) {
			return tcpip.ErrUnknownDevice
		}
	}
	device := e.sock.BindToDevice
	if device == 0 {
		device = addr.NIC
	}
	if a.IsValid() && e.s.CheckLocalAddress(device, e.p.netProto, a) == 0 {
		return tcpip.ErrBadLocalAddress
	}
	if err := e.bindLocked(a, addr.Port, device); err != nil {
		return err
	}
	e.sock.BindNIC = addr.NIC
	return nil
}

// bindLocked reserves ident (0: an ephemeral one) at a and registers the
// endpoint for it.
func (e *endpoint) bindLocked(a netip.Addr, ident uint16, device tcpip.NICID) error {
	flags := stack.PortFlags{ReuseAddress: e.sock.ReuseAddr}
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
		nic = e.sock.Device()
	}
	r, err := e.s.FindRoute(nic, e.bindAddr, dst, e.p.netProto, false /* multicastLoop */)
	if err != nil {
		return err
	}
	if r.IsOutboundBroadcast() && !e.sock.Broadcast {
		return tcpip.ErrBroadcastDisabled
	}
	if e.state == stateInitial {
		if err := e.bindLocked(netip.Addr{}, 0, e.sock.Device()); err != nil {
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
	e.sock.Shutdown |= how
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
	e.sock.Rcv.Clear()
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
	return tcpip.FullAddress{NIC: e.sock.BindNIC, Addr: e.regID.LocalAddress, Port: e.ident}, nil
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
	return e.sock.Readiness(e.state == stateClosed) & mask
}

// LastError implements tcpip.Endpoint.
func (e *endpoint) LastError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sock.TakeErr()
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
	params := stack.NetworkHeaderParams{Protocol: e.p.number, TTL: e.sock.TTL, TOS: e.sock.TOS}
	if opts.TTL != 0 {
		params.TTL = opts.TTL
	}
	if e.state == stateClosed || e.sock.Shutdown&tcpip.ShutdownWrite != 0 {
		return nil, 0, params, tcpip.ErrClosedForSend
	}
	if err := e.sock.TakeErr(); err != nil {
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
				nic = e.sock.Device()
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
	if r.IsOutboundBroadcast() && !e.sock.Broadcast {
		return nil, 0, params, tcpip.ErrBroadcastDisabled
	}
	if e.state == stateInitial {
		// Linux's inet_send_prepare binds an ephemeral Identifier.
		if err := e.bindLocked(netip.Addr{}, 0, e.sock.Device()); err != nil {
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
	if e.state == stateClosed || e.sock.Shutdown&tcpip.ShutdownRead != 0 {
		e.mu.Unlock()
		e.stats.ReceiveBufferErrors.Inc()
		pkt.Release()
		return
	}
	ent := rcvq.Entry{Pkt: pkt, Src: info.Source, Dst: info.Destination, NIC: info.NIC, TTL: info.TTL, TOS: info.TOS}
	if !e.sock.Enqueue(ent, e.s.Clock()) {
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
	e.sock.Err = err
	e.mu.Unlock()
	e.stats.ICMPErrors.Inc()
	e.waitQueue.Notify(tcpip.EventErr)
}

// Read implements tcpip.Endpoint: one echo reply, ICMP header included.
func (e *endpoint) Read(p []byte, opts tcpip.ReadOptions) (tcpip.ReadResult, error) {
	e.mu.Lock()
	res, done, err := e.sock.Read(p, &opts, e.state == stateClosed)
	e.mu.Unlock()
	done.Release()
	return res, err
}

// SetSockOpt implements tcpip.Endpoint.
func (e *endpoint) SetSockOpt(opt any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sock.SetSockOpt(opt) {
		return nil
	}
	switch v := opt.(type) {
	case tcpip.BindToDeviceOption:
		if v != 0 && !e.s.HasNIC(tcpip.NICID(v)) {
			return tcpip.ErrUnknownDevice
		}
		if e.state != stateInitial {
			// The Identifier is registered for a device already.
			return tcpip.ErrInvalidEndpointState
		}
		e.sock.BindToDevice = tcpip.NICID(v)
	case tcpip.V6OnlyOption:
		if e.p.netProto != tcpip.IPv6ProtocolNumber {
			return tcpip.ErrUnknownProtocolOption
		}
		e.v6only = bool(v)
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// GetSockOpt implements tcpip.Endpoint.
func (e *endpoint) GetSockOpt(opt any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sock.GetSockOpt(opt) {
		return nil
	}
	switch v := opt.(type) {
	case *tcpip.V6OnlyOption:
		if e.p.netProto != tcpip.IPv6ProtocolNumber {
			return tcpip.ErrUnknownProtocolOption
		}
		*v = tcpip.V6OnlyOption(e.v6only)
	default:
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}
