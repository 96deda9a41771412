package udp

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/dgram"
	"github.com/ustack-go/ustack/transport/internal/rcvq"
)

// endpointState is the state of an endpoint; see the package doc for the
// transitions.
type endpointState uint8

const (
	stateInitial   endpointState = iota // no port
	stateBound                          // a port, no peer
	stateConnected                      // a port and a peer
	stateClosed                         // Close or Abort
)

// String returns the state's name.
func (s endpointState) String() string {
	switch s {
	case stateInitial:
		return "initial"
	case stateBound:
		return "bound"
	case stateConnected:
		return "connected"
	case stateClosed:
		return "closed"
	}
	return "state(?)"
}

// Network protocol lists for reservations and registrations. They are
// shared and never modified.
var (
	netProtosV4   = []tcpip.NetworkProtocolNumber{tcpip.IPv4ProtocolNumber}
	netProtosV6   = []tcpip.NetworkProtocolNumber{tcpip.IPv6ProtocolNumber}
	netProtosDual = []tcpip.NetworkProtocolNumber{tcpip.IPv6ProtocolNumber, tcpip.IPv4ProtocolNumber}
)

// netProtosFor returns the list holding only np.
func netProtosFor(np tcpip.NetworkProtocolNumber) []tcpip.NetworkProtocolNumber {
	if np == tcpip.IPv4ProtocolNumber {
		return netProtosV4
	}
	return netProtosV6
}

// reservation is a port held in the stack's PortManager, with the exact
// arguments ReleasePort needs.
type reservation struct {
	netProtos []tcpip.NetworkProtocolNumber
	addr      netip.Addr
	port      uint16
	flags     stack.PortFlags
	device    tcpip.NICID
}

// registration is an entry in the stack's demultiplexer, with the exact
// arguments UnregisterTransportEndpoint needs.
type registration struct {
	netProtos []tcpip.NetworkProtocolNumber
	id        stack.TransportEndpointID
	flags     stack.PortFlags
	device    tcpip.NICID
}

// membership is a multicast group joined through the endpoint.
type membership struct {
	nic   tcpip.NICID
	group netip.Addr
}

// endpoint is a UDP endpoint. It implements tcpip.Endpoint for its user
// and stack.TransportEndpoint for the demultiplexer.
//
// Locking: mu guards every field below it. It is held while calling into
// the stack's port manager, demultiplexer and multicast membership (whose
// locks come after it), never while sending a datagram or notifying the
// wait queue. The fields above mu are fixed at creation.
type endpoint struct {
	p         *protocol
	s         *stack.Stack
	netProto  tcpip.NetworkProtocolNumber // the endpoint's family
	uniqueID  uint64
	waitQueue tcpip.WaitQueue
	stats     tcpip.EndpointStats

	mu    sync.Mutex
	state endpointState
	// explicitBind: the port was chosen by Bind (kept across a
	// disconnect) rather than picked by Connect or Write.
	explicitBind bool
	res          reservation  // valid unless state is initial or closed
	reg          registration // valid unless state is initial or closed
	// bindAddr is the address given to Bind, normalised (unmapped, zero
	// for a wildcard); sock.BindNIC the NIC given with it.
	bindAddr netip.Addr
	// sendAddr is the source address of datagrams: the bound or
	// connected local address unless it is a multicast or broadcast
	// address (then the route picks one, as Linux's inet_bind leaves
	// inet_saddr zero for those), zero for a wildcard.
	sendAddr netip.Addr

	// The peer, when connected: its address (unmapped) and port, the
	// network protocol used to reach it and the cached route.
	remote       netip.AddrPort
	connNetProto tcpip.NetworkProtocolNumber
	route        *stack.Route

	// sock is the receive queue, shutdown flags, pending error, bound
	// NIC and socket options all datagram endpoints share; UDP's own
	// options follow.
	sock        dgram.Socket
	reusePort   bool
	noChecksum  bool
	v6only      bool
	mcastTTL    uint8
	mcastLoop   bool
	mcastNIC    tcpip.NICID
	mcastAddr   netip.Addr
	memberships []membership

	// wmem is what the datagrams this endpoint sent and that are not
	// paid back yet are charged (buffer.Owner: those a link holds, and
	// over an in-memory link those not yet read or dropped by the far
	// stack), and sndbuf a copy of sock.SndBufSize readable without mu:
	// Linux's sk_wmem_alloc and sk_sndbuf. See Write and PacketReleased.
	wmem   atomic.Int64
	sndbuf atomic.Int64
	// linkWait is set while a writer waits for a link whose queue was
	// full to let go of one of our datagrams (Write, linkFull).
	linkWait atomic.Bool
}

var (
	_ tcpip.Endpoint          = (*endpoint)(nil)
	_ stack.TransportEndpoint = (*endpoint)(nil)
)

func newEndpoint(p *protocol, netProto tcpip.NetworkProtocolNumber) *endpoint {
	e := &endpoint{
		p:        p,
		s:        p.s,
		netProto: netProto,
		uniqueID: p.s.UniqueID(),
		sock:     dgram.NewSocket(dgram.Transport),
		// RFC 1112 §6.1: multicast datagrams are sent with a TTL of
		// 1 unless the application asks otherwise; RFC 1112 §6.3 and
		// Linux loop them back to local members by default.
		mcastTTL:  1,
		mcastLoop: true,
	}
	e.sndbuf.Store(int64(e.sock.SndBufSize))
	return e
}

// UniqueID implements stack.TransportEndpoint.
func (e *endpoint) UniqueID() uint64 { return e.uniqueID }

// WaitQueue implements tcpip.Endpoint.
func (e *endpoint) WaitQueue() *tcpip.WaitQueue { return &e.waitQueue }

// Stats implements tcpip.Endpoint.
func (e *endpoint) Stats() *tcpip.EndpointStats { return &e.stats }

// Listen implements tcpip.Endpoint: UDP does not listen.
func (e *endpoint) Listen(int) error { return tcpip.ErrNotSupported }

// Accept implements tcpip.Endpoint: UDP does not accept.
func (e *endpoint) Accept() (tcpip.Endpoint, tcpip.FullAddress, error) {
	return nil, tcpip.FullAddress{}, tcpip.ErrNotSupported
}

// portFlagsLocked returns the sharing flags of the options set now.
func (e *endpoint) portFlagsLocked() stack.PortFlags {
	return stack.PortFlags{ReuseAddress: e.sock.ReuseAddr, LoadBalanced: e.reusePort}
}

// wildcardNetProtosLocked returns the protocols a reservation at the
// wildcard address covers: both for a dual-stack IPv6 endpoint.
func (e *endpoint) wildcardNetProtosLocked() []tcpip.NetworkProtocolNumber {
	if e.netProto == tcpip.IPv4ProtocolNumber {
		return netProtosV4
	}
	if e.v6only {
		return netProtosV6
	}
	return netProtosDual
}

// localAddrLocked normalises an address given to Bind: it returns the
// address (unmapped; zero for a wildcard) and the protocols a reservation
// of it covers.
func (e *endpoint) localAddrLocked(a netip.Addr) (netip.Addr, []tcpip.NetworkProtocolNumber, error) {
	a = a.WithZone("")
	switch {
	case !a.IsValid():
		return netip.Addr{}, e.wildcardNetProtosLocked(), nil
	case e.netProto == tcpip.IPv4ProtocolNumber:
		a = a.Unmap()
		if !a.Is4() {
			return netip.Addr{}, nil, tcpip.ErrAddressFamily
		}
		if a.IsUnspecified() {
			a = netip.Addr{}
		}
		return a, netProtosV4, nil
	case a.Is4() || a.Is4In6():
		// RFC 4291 §2.5.5.2: an IPv4-mapped address names an IPv4
		// node; an IPV6_V6ONLY socket refuses it (Linux: EINVAL).
		if e.v6only {
			return netip.Addr{}, nil, tcpip.ErrInvalidArgument
		}
		a = a.Unmap()
		if a.IsUnspecified() {
			a = netip.Addr{}
		}
		return a, netProtosV4, nil
	case a.IsUnspecified():
		return netip.Addr{}, e.wildcardNetProtosLocked(), nil
	}
	return a, netProtosV6, nil
}

// remoteAddrLocked normalises a destination address: it returns the
// address (unmapped) and the network protocol that reaches it.
func (e *endpoint) remoteAddrLocked(a netip.Addr) (netip.Addr, tcpip.NetworkProtocolNumber, error) {
	a = a.WithZone("")
	switch {
	case !a.IsValid():
		return netip.Addr{}, 0, tcpip.ErrDestinationRequired
	case e.netProto == tcpip.IPv4ProtocolNumber:
		a = a.Unmap()
		if !a.Is4() {
			return netip.Addr{}, 0, tcpip.ErrAddressFamily
		}
		return a, tcpip.IPv4ProtocolNumber, nil
	case a.Is4() || a.Is4In6():
		// Linux (udpv6_sendmsg, __ip6_datagram_connect): an
		// IPV6_V6ONLY socket cannot reach IPv4-mapped destinations
		// (ENETUNREACH).
		if e.v6only {
			return netip.Addr{}, 0, tcpip.ErrNetworkUnreachable
		}
		return a.Unmap(), tcpip.IPv4ProtocolNumber, nil
	}
	return a, tcpip.IPv6ProtocolNumber, nil
}

// bindableLocked reports whether a (unmapped, not a wildcard) may be
// bound: an address of the stack (on device, if set), a multicast
// address, or an IPv4 broadcast address, as Linux's inet_bind accepts
// (RTN_LOCAL, RTN_MULTICAST, RTN_BROADCAST; otherwise EADDRNOTAVAIL).
func (e *endpoint) bindableLocked(a netip.Addr, device tcpip.NICID) bool {
	np := tcpip.NetworkProtocolFor(a)
	if a.IsMulticast() || isLimitedBroadcast(a) {
		return true
	}
	if e.s.CheckLocalAddress(device, np, a) != 0 {
		return true
	}
	return e.isSubnetBroadcast(a, device)
}

// isSubnetBroadcast reports whether a is the directed broadcast address of
// a subnet of NIC device (0: of any NIC).
func (e *endpoint) isSubnetBroadcast(a netip.Addr, device tcpip.NICID) bool {
	if !a.Is4() {
		return false
	}
	for _, id := range e.s.NICs() {
		if (device == 0 || id == device) && e.s.IsSubnetBroadcast(id, tcpip.IPv4ProtocolNumber, a) {
			return true
		}
	}
	return false
}

// isLimitedBroadcast reports whether a is 255.255.255.255 (RFC 919 §7).
func isLimitedBroadcast(a netip.Addr) bool {
	return a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// sendAddrFor returns the source address datagrams of an endpoint bound or
// connected to local take: local itself unless it is a multicast or
// broadcast address, which is never a source (RFC 1122 §3.2.1.3, Linux's
// inet_bind leaving inet_saddr zero for them).
func (e *endpoint) sendAddrFor(local netip.Addr, device tcpip.NICID) netip.Addr {
	if !local.IsValid() || local.IsMulticast() || isLimitedBroadcast(local) || e.isSubnetBroadcast(local, device) {
		return netip.Addr{}
	}
	return local
}

// Bind implements tcpip.Endpoint. Port 0 picks an ephemeral port; a zero
// Addr binds every local address (and, on a dual-stack IPv6 endpoint,
// every IPv4 address too); a NIC binds the endpoint to that NIC as
// BindToDeviceOption does.
func (e *endpoint) Bind(addr tcpip.FullAddress) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state {
	case stateInitial:
	case stateClosed:
		return tcpip.ErrInvalidEndpointState
	default:
		// Linux's inet_bind: EINVAL for a socket that has a port.
		return tcpip.ErrAlreadyBound
	}
	a, netProtos, err := e.localAddrLocked(addr.Addr)
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
	if a.IsValid() && !e.bindableLocked(a, device) {
		return tcpip.ErrBadLocalAddress
	}
	if err := e.reserveLocked(netProtos, a, addr.Port, device); err != nil {
		return err
	}
	e.explicitBind = true
	e.bindAddr, e.sock.BindNIC = a, addr.NIC
	e.sendAddr = e.sendAddrFor(a, device)
	return nil
}

// reserveLocked reserves port (0: an ephemeral port) at a over netProtos,
// registers the endpoint for it and moves to the bound state.
func (e *endpoint) reserveLocked(netProtos []tcpip.NetworkProtocolNumber, a netip.Addr, port uint16, device tcpip.NICID) error {
	flags := e.portFlagsLocked()
	port, err := e.s.PortManager().ReservePort(netProtos, ProtocolNumber, a, port, flags, device, netip.AddrPort{}, nil)
	if err != nil {
		return err
	}
	res := reservation{netProtos: netProtos, addr: a, port: port, flags: flags, device: device}
	reg := registration{
		netProtos: netProtos,
		id:        stack.TransportEndpointID{LocalPort: port, LocalAddress: a},
		flags:     flags,
		device:    device,
	}
	if err := e.s.RegisterTransportEndpoint(reg.netProtos, ProtocolNumber, reg.id, e, reg.flags, reg.device); err != nil {
		e.s.PortManager().ReleasePort(res.netProtos, ProtocolNumber, res.addr, res.port, res.flags, res.device, netip.AddrPort{})
		return err
	}
	e.res, e.reg = res, reg
	e.state = stateBound
	return nil
}

// autoBindLocked gives an endpoint in the initial state an ephemeral port
// at the wildcard address, as Linux's inet_autobind does before a connect
// or a send, so that replies reach it.
func (e *endpoint) autoBindLocked() error {
	if e.state != stateInitial {
		return nil
	}
	device := e.sock.Device()
	if err := e.reserveLocked(e.wildcardNetProtosLocked(), netip.Addr{}, 0, device); err != nil {
		return err
	}
	e.explicitBind = false
	e.bindAddr, e.sendAddr = netip.Addr{}, netip.Addr{}
	return nil
}

// unregisterLocked removes the endpoint's demultiplexer entry.
func (e *endpoint) unregisterLocked() {
	r := &e.reg
	e.s.UnregisterTransportEndpoint(r.netProtos, ProtocolNumber, r.id, e, r.flags, r.device)
	e.reg = registration{}
}

// releaseLocked gives the endpoint's port back.
func (e *endpoint) releaseLocked() {
	r := &e.res
	e.s.PortManager().ReleasePort(r.netProtos, ProtocolNumber, r.addr, r.port, r.flags, r.device, netip.AddrPort{})
	e.res = reservation{}
}

// findRouteLocked finds a route for datagrams to dst over np, out of nic
// (0: the endpoint's device, or any NIC). Multicast destinations use the
// MulticastInterfaceOption when neither names a NIC, as Linux's
// udp_sendmsg falls back to inet->mc_index and mc_addr.
func (e *endpoint) findRouteLocked(nic tcpip.NICID, dst netip.Addr, np tcpip.NetworkProtocolNumber) (*stack.Route, error) {
	if nic == 0 {
		nic = e.sock.Device()
	}
	local := e.sendAddr
	if dst.IsMulticast() {
		if nic == 0 {
			nic = e.mcastNIC
		}
		if !local.IsValid() {
			local = e.mcastAddr
		}
	}
	if local.IsValid() && tcpip.NetworkProtocolFor(local) != np {
		local = netip.Addr{}
	}
	return e.s.FindRoute(nic, local, dst, np, e.mcastLoop)
}

// Connect implements tcpip.Endpoint: it sets the peer datagrams go to by
// default and the only one they are received from (RFC 768 leaves this to
// the socket layer; this is the BSD/Linux connect(2) of a datagram
// socket). A zero Addr disconnects (AF_UNSPEC).
func (e *endpoint) Connect(addr tcpip.FullAddress) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == stateClosed {
		return tcpip.ErrInvalidEndpointState
	}
	if !addr.Addr.IsValid() {
		return e.disconnectLocked()
	}
	dst, np, err := e.remoteAddrLocked(addr.Addr)
	if err != nil {
		return err
	}
	if e.state != stateInitial && !containsProto(e.res.netProtos, np) {
		return familyMismatch(np)
	}
	device := e.sock.Device()
	if addr.NIC != 0 && device != 0 && addr.NIC != device {
		return tcpip.ErrInvalidArgument
	}
	nic := addr.NIC
	if nic == 0 {
		nic = device
	}
	r, err := e.findRouteLocked(nic, dst, np)
	if err != nil {
		return err
	}
	// Linux's ip4_datagram_connect: a broadcast peer needs SO_BROADCAST
	// (EACCES).
	if r.IsOutboundBroadcast() && !e.sock.Broadcast {
		return tcpip.ErrBroadcastDisabled
	}
	autoBound := e.state == stateInitial
	if err := e.autoBindLocked(); err != nil {
		return err
	}
	local := e.bindAddr
	if !local.IsValid() {
		local = r.LocalAddress
	}
	reg := registration{
		netProtos: netProtosFor(np),
		id: stack.TransportEndpointID{
			LocalPort:     e.res.port,
			LocalAddress:  local,
			RemotePort:    addr.Port,
			RemoteAddress: dst,
		},
		flags:  e.res.flags,
		device: e.res.device,
	}
	if !sameRegistration(&reg, &e.reg) {
		if err := e.s.RegisterTransportEndpoint(reg.netProtos, ProtocolNumber, reg.id, e, reg.flags, reg.device); err != nil {
			if autoBound {
				e.unregisterLocked()
				e.releaseLocked()
				e.state = stateInitial
			}
			return err
		}
		e.unregisterLocked()
		e.reg = reg
	}
	e.remote = netip.AddrPortFrom(dst, addr.Port)
	e.connNetProto = np
	e.route = r
	e.sendAddr = e.sendAddrFor(local, device)
	e.state = stateConnected
	return nil
}

// disconnectLocked undoes Connect: as Linux's udp_disconnect, the endpoint
// keeps a port it was bound to explicitly (and is registered for it
// again), and gives back one Connect or Write picked.
func (e *endpoint) disconnectLocked() error {
	if e.state != stateConnected {
		return nil
	}
	e.unregisterLocked()
	e.remote, e.route, e.connNetProto = netip.AddrPort{}, nil, 0
	if !e.explicitBind {
		e.releaseLocked()
		e.state = stateInitial
		e.sendAddr = netip.Addr{}
		return nil
	}
	reg := registration{
		netProtos: e.res.netProtos,
		id:        stack.TransportEndpointID{LocalPort: e.res.port, LocalAddress: e.res.addr},
		flags:     e.res.flags,
		device:    e.res.device,
	}
	e.state = stateBound
	e.sendAddr = e.sendAddrFor(e.bindAddr, e.sock.Device())
	if err := e.s.RegisterTransportEndpoint(reg.netProtos, ProtocolNumber, reg.id, e, reg.flags, reg.device); err != nil {
		// The port is still ours, but someone registered for its
		// exact address meanwhile: give it back rather than keep a
		// port that receives nothing.
		e.releaseLocked()
		e.state = stateInitial
		e.explicitBind = false
		return err
	}
	e.reg = reg
	return nil
}

func sameRegistration(a, b *registration) bool {
	return a.id == b.id && a.flags == b.flags && a.device == b.device &&
		len(a.netProtos) == len(b.netProtos) && (len(a.netProtos) == 0 || a.netProtos[0] == b.netProtos[0])
}

func containsProto(list []tcpip.NetworkProtocolNumber, np tcpip.NetworkProtocolNumber) bool {
	for _, p := range list {
		if p == np {
			return true
		}
	}
	return false
}

// Shutdown implements tcpip.Endpoint. As Linux's inet_shutdown, an
// endpoint that is not connected gets tcpip.ErrNotConnected but the
// directions are shut all the same, so that a reader blocked on it wakes.
// After ShutdownRead the datagrams already queued can be read, then Read
// reports tcpip.ErrClosedForReceive; datagrams arriving afterwards are
// dropped (Linux would still queue them, but its blocking read returns 0
// then; the end of a datagram stream needs a definite point). After
// ShutdownWrite, Write fails with tcpip.ErrClosedForSend.
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
	ev := tcpip.EventOut
	if how&tcpip.ShutdownRead != 0 {
		ev |= tcpip.EventIn | tcpip.EventRdHUp
	}
	e.waitQueue.Notify(ev | tcpip.EventHUp)
	return err
}

// Close implements tcpip.Endpoint: it unregisters the endpoint, gives its
// port back, leaves its multicast groups and frees its receive queue.
func (e *endpoint) Close() {
	e.mu.Lock()
	if e.state == stateClosed {
		e.mu.Unlock()
		return
	}
	rcv := e.closeLocked()
	e.mu.Unlock()
	// The queued datagrams pay their senders back (see HandlePacket),
	// which wakes their writers: not under our lock.
	rcv.Clear()
	e.waitQueue.Notify(tcpip.EventHUp | tcpip.EventIn | tcpip.EventOut)
}

// Abort implements stack.TransportEndpoint (stack Close).
func (e *endpoint) Abort() { e.Close() }

// closeLocked moves the endpoint to the closed state and returns its
// receive queue, which the caller clears after unlocking.
func (e *endpoint) closeLocked() rcvq.Queue {
	if e.state != stateInitial {
		e.unregisterLocked()
		e.releaseLocked()
	}
	for _, m := range e.memberships {
		e.s.LeaveGroup(tcpip.NetworkProtocolFor(m.group), m.nic, m.group)
	}
	e.memberships = nil
	rcv := e.sock.Rcv.TakeAll()
	e.route = nil
	e.remote = netip.AddrPort{}
	e.state = stateClosed
	return rcv
}

// LocalAddress implements tcpip.Endpoint: the bound address and port (the
// local address chosen by Connect when bound to a wildcard), in the
// endpoint's family.
func (e *endpoint) LocalAddress() (tcpip.FullAddress, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.reg.id.LocalAddress
	if e.netProto == tcpip.IPv6ProtocolNumber {
		if a.IsValid() {
			a = mapped(e.netProto, a)
		} else if !containsProto(e.res.netProtos, tcpip.IPv6ProtocolNumber) && e.state != stateInitial && e.state != stateClosed {
			// Bound to the IPv4 wildcard: ::ffff:0.0.0.0.
			a = netip.AddrFrom16(netip.IPv4Unspecified().As16())
		}
	}
	return tcpip.FullAddress{NIC: e.sock.BindNIC, Addr: a, Port: e.reg.id.LocalPort}, nil
}

// RemoteAddress implements tcpip.Endpoint: the peer, or
// tcpip.ErrNotConnected.
func (e *endpoint) RemoteAddress() (tcpip.FullAddress, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateConnected {
		return tcpip.FullAddress{}, tcpip.ErrNotConnected
	}
	return tcpip.FullAddress{Addr: mapped(e.netProto, e.remote.Addr()), Port: e.remote.Port()}, nil
}

// Readiness implements tcpip.Endpoint. The endpoint is writable while the
// datagrams not yet paid back are charged less than half its send buffer,
// as Linux's sock_writeable has it; a closed one always is.
func (e *endpoint) Readiness(mask tcpip.Events) tcpip.Events {
	e.mu.Lock()
	r := e.sock.Readiness(e.state == stateClosed)
	closed := e.state == stateClosed
	e.mu.Unlock()
	if !closed && !e.writable() {
		r &^= tcpip.EventOut
	}
	return r & mask
}

// writable reports whether the send buffer is less than half used and no
// writer waits for a full link.
func (e *endpoint) writable() bool {
	return 2*e.wmem.Load() < e.sndbuf.Load() && !e.linkWait.Load()
}

// PacketReleased implements buffer.Owner: one of the endpoint's datagrams
// was paid back (a link transmitted it, or, over an in-memory link, the
// receiving socket's reader took it or it was dropped on the way; see
// package link/pipe). It may come after Close, from any goroutine, and
// takes no lock of the endpoint. Writers waiting for room are woken when
// the charge falls to half the send buffer, as Linux's
// sock_def_write_space wakes them, so that a blocked writer resumes with
// room for a burst rather than for one datagram at a time. A writer
// waiting for a full link is woken by the first release.
func (e *endpoint) PacketReleased(charge int) {
	c := int64(charge)
	n := e.wmem.Add(-c)
	half := e.sndbuf.Load() / 2
	linkWaited := e.linkWait.Load() && e.linkWait.Swap(false)
	if linkWaited || (n <= half && n+c > half) {
		e.waitQueue.Notify(tcpip.EventOut)
	}
}

// LastError implements tcpip.Endpoint.
func (e *endpoint) LastError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sock.TakeErr()
}
