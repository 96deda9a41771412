// Package raw implements raw IP endpoints for ustack, as Linux's SOCK_RAW
// sockets of AF_INET and AF_INET6 (raw(7)), and Factory, the
// stack.RawFactory that enables raw and packet endpoints on a stack:
//
//	s := stack.New(stack.Options{..., RawFactory: raw.Factory{}})
//
// Without it the stack refuses them (tcpip.ErrNotPermitted), as Linux
// requires CAP_NET_RAW.
//
// A raw endpoint is created for one network protocol and one transport
// protocol number. It receives a copy of every inbound packet of that
// protocol the stack delivers, whether or not a transport endpoint also
// takes it: IPv4 packets with their IP header, as Linux's raw IPv4
// sockets; IPv6 packets without it (RFC 3542 §3: the IPv6 header and its
// extension headers are never passed up). Bind narrows what it receives to
// packets for one local address, Connect to packets from one peer, and
// BindToDeviceOption to one NIC.
//
// Write sends p as the transport packet (the stack building the IP header
// with the endpoint's protocol, TTL and TOS), or, with
// HeaderIncludedOption, as a whole IP packet whose header the user built
// (the network layer fills in Total Length, checksum, and a zero
// Identification or source address, as Linux's raw_send_hdrinc does). The
// destination is opts.To or the connected peer; it routes the packet,
// whatever a header-included packet's destination field says (as in
// Linux). An endpoint for protocol 255 (IPPROTO_RAW) is send-only and
// always header-included.
package raw

import (
	"net/netip"
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/dgram"
	"github.com/ustack-go/ustack/transport/internal/rcvq"
	"github.com/ustack-go/ustack/transport/packet"
)

// ProtocolRaw is IPPROTO_RAW: a send-only, header-included endpoint.
const ProtocolRaw tcpip.TransportProtocolNumber = 255

// Buffer sizes: Linux's defaults, and the bounds values set are clamped to.
const (
	DefaultReceiveBufferSize = dgram.DefaultReceiveBufferSize // 212992
	DefaultSendBufferSize    = dgram.DefaultSendBufferSize    // 212992
	MinBufferSize            = dgram.MinBufferSize            // 4096
	MaxBufferSize            = dgram.MaxBufferSize            // 4 MiB
)

// Factory is the stack.RawFactory that makes raw IP endpoints (this
// package) and packet endpoints (package packet). Its zero value is
// ready to use.
type Factory struct{}

var _ stack.RawFactory = Factory{}

// NewRawEndpoint implements stack.RawFactory.
func (Factory) NewRawEndpoint(s *stack.Stack, netProto tcpip.NetworkProtocolNumber, transProto tcpip.TransportProtocolNumber, associated bool) (tcpip.Endpoint, error) {
	return NewEndpoint(s, netProto, transProto, associated)
}

// NewPacketEndpoint implements stack.RawFactory.
func (Factory) NewPacketEndpoint(s *stack.Stack, cooked bool, netProto tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error) {
	return packet.NewEndpoint(s, cooked, netProto)
}

// endpoint is a raw IP endpoint. It implements tcpip.Endpoint and
// stack.RawTransportEndpoint.
//
// Locking: mu guards the fields below it; it is held while registering
// with the stack, never while sending or notifying.
type endpoint struct {
	s          *stack.Stack
	netProto   tcpip.NetworkProtocolNumber
	transProto tcpip.TransportProtocolNumber
	associated bool
	waitQueue  tcpip.WaitQueue
	stats      tcpip.EndpointStats

	mu         sync.Mutex
	closed     bool
	registered bool
	bindAddr   netip.Addr // receive only packets to it; zero: any
	connected  bool
	remote     netip.Addr
	route      *stack.Route
	// sock is the receive queue, shutdown flags, pending error, bound
	// NIC and options all datagram endpoints share.
	sock    dgram.Socket
	hdrIncl bool
}

var (
	_ tcpip.Endpoint             = (*endpoint)(nil)
	_ stack.RawTransportEndpoint = (*endpoint)(nil)
)

// NewEndpoint returns a raw endpoint of transport protocol transProto over
// netProto on s. associated says the stack runs transProto itself (its
// packets also go to the protocol's endpoints); raw endpoints receive
// copies either way. Stack.NewRawEndpoint calls it through Factory.
func NewEndpoint(s *stack.Stack, netProto tcpip.NetworkProtocolNumber, transProto tcpip.TransportProtocolNumber, associated bool) (tcpip.Endpoint, error) {
	if netProto != tcpip.IPv4ProtocolNumber && netProto != tcpip.IPv6ProtocolNumber {
		return nil, tcpip.ErrUnknownProtocol
	}
	e := &endpoint{
		s:          s,
		netProto:   netProto,
		transProto: transProto,
		associated: associated,
		sock:       dgram.NewSocket(dgram.RawIP),
		// raw(7): IPPROTO_RAW implies IP_HDRINCL.
		hdrIncl: transProto == ProtocolRaw,
	}
	// raw(7): an IPPROTO_RAW socket cannot receive.
	if transProto != ProtocolRaw {
		if err := s.RegisterRawTransportEndpoint(netProto, transProto, e); err != nil {
			return nil, err
		}
		e.registered = true
	}
	return e, nil
}

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

// addrLocked normalises an address for the endpoint's family.
func (e *endpoint) addrLocked(a netip.Addr) (netip.Addr, error) {
	a = a.WithZone("")
	if e.netProto == tcpip.IPv4ProtocolNumber {
		a = a.Unmap()
	}
	if a.IsValid() && tcpip.NetworkProtocolFor(a) != e.netProto || a.Is4In6() {
		return netip.Addr{}, tcpip.ErrAddressFamily
	}
	if a.IsUnspecified() {
		a = netip.Addr{}
	}
	return a, nil
}

// Bind implements tcpip.Endpoint: the endpoint then receives only packets
// for addr.Addr (zero: any) and sends from it; the port is ignored, as in
// Linux's raw_bind, which also requires a local, multicast or broadcast
// address (EADDRNOTAVAIL).
func (e *endpoint) Bind(addr tcpip.FullAddress) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return tcpip.ErrInvalidEndpointState
	}
	a, err := e.addrLocked(addr.Addr)
	if err != nil {
		return err
	}
	if addr.NIC != 0 && !e.s.HasNIC(addr.NIC) {
		return tcpip.ErrUnknownDevice
	}
	device := e.sock.BindToDevice
	if device == 0 {
		device = addr.NIC
	}
	if a.IsValid() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255}) &&
		e.s.CheckLocalAddress(device, e.netProto, a) == 0 {
		return tcpip.ErrBadLocalAddress
	}
	e.bindAddr, e.sock.BindNIC = a, addr.NIC
	return nil
}

// sourceLocked returns the source address for sending: the bound address
// unless it is multicast or broadcast.
func (e *endpoint) sourceLocked() netip.Addr {
	a := e.bindAddr
	if a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}
	}
	return a
}

// Connect implements tcpip.Endpoint: the peer becomes Write's default
// destination and the only source received from. A zero Addr
// disconnects.
func (e *endpoint) Connect(addr tcpip.FullAddress) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return tcpip.ErrInvalidEndpointState
	}
	if !addr.Addr.IsValid() {
		e.connected, e.remote, e.route = false, netip.Addr{}, nil
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
	r, err := e.s.FindRoute(nic, e.sourceLocked(), dst, e.netProto, true /* multicastLoop */)
	if err != nil {
		return err
	}
	if r.IsOutboundBroadcast() && !e.sock.Broadcast {
		return tcpip.ErrBroadcastDisabled
	}
	e.connected, e.remote, e.route = true, dst, r
	return nil
}

// Shutdown implements tcpip.Endpoint, as a UDP endpoint's (Linux's
// inet_shutdown: ErrNotConnected when not connected, but shut anyway).
func (e *endpoint) Shutdown(how tcpip.ShutdownFlags) error {
	if how&(tcpip.ShutdownRead|tcpip.ShutdownWrite) == 0 || how&^(tcpip.ShutdownRead|tcpip.ShutdownWrite) != 0 {
		return tcpip.ErrInvalidArgument
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return tcpip.ErrNotConnected
	}
	var err error
	if !e.connected {
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
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	if e.registered {
		e.s.UnregisterRawTransportEndpoint(e.netProto, e.transProto, e)
		e.registered = false
	}
	e.sock.Rcv.Clear()
	e.route = nil
	e.mu.Unlock()
	e.waitQueue.Notify(tcpip.EventHUp | tcpip.EventIn | tcpip.EventOut)
}

// Abort implements stack.RawTransportEndpoint.
func (e *endpoint) Abort() { e.Close() }

// LocalAddress implements tcpip.Endpoint: the bound address; Port is the
// transport protocol number, as Linux's raw sockets report it.
func (e *endpoint) LocalAddress() (tcpip.FullAddress, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return tcpip.FullAddress{NIC: e.sock.BindNIC, Addr: e.bindAddr, Port: uint16(e.transProto)}, nil
}

// RemoteAddress implements tcpip.Endpoint.
func (e *endpoint) RemoteAddress() (tcpip.FullAddress, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.connected {
		return tcpip.FullAddress{}, tcpip.ErrNotConnected
	}
	return tcpip.FullAddress{Addr: e.remote}, nil
}

// Readiness implements tcpip.Endpoint.
func (e *endpoint) Readiness(mask tcpip.Events) tcpip.Events {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sock.Readiness(e.closed) & mask
}

// LastError implements tcpip.Endpoint: raw endpoints keep no
// asynchronous errors (Linux reports them only with IP_RECVERR).
func (e *endpoint) LastError() error { return nil }

// HandlePacket implements stack.RawTransportEndpoint: a copy of an inbound
// packet of the endpoint's protocol, its network header in
// pkt.NetworkHeader. Packets the endpoint's address, peer or device rule
// out are ignored (Linux's raw_v4_match); the others are queued, or
// dropped and counted when the receive buffer is full.
func (e *endpoint) HandlePacket(info stack.NetworkPacketInfo, pkt *buffer.Packet) {
	e.mu.Lock()
	if e.closed || e.sock.Shutdown&tcpip.ShutdownRead != 0 ||
		(e.bindAddr.IsValid() && info.Destination != e.bindAddr) ||
		(e.connected && info.Source != e.remote) ||
		(e.sock.Device() != 0 && info.NIC != e.sock.Device()) {
		e.mu.Unlock()
		pkt.Release()
		return
	}
	skip := 0
	if e.netProto == tcpip.IPv6ProtocolNumber {
		// RFC 3542 §3: no IPv6 header on raw IPv6 endpoints.
		skip = pkt.HeaderLen()
	} else {
		// Anything in the header area before the IP header (a link
		// header) is not part of the datagram.
		skip = pkt.HeaderLen() - len(pkt.NetworkHeader()) - len(pkt.TransportHeader())
	}
	ent := rcvq.Entry{
		Pkt:  pkt,
		Src:  info.Source,
		Dst:  info.Destination,
		NIC:  info.NIC,
		TTL:  info.TTL,
		TOS:  info.TOS,
		Skip: skip,
	}
	n := pkt.Len() - skip
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

// Read implements tcpip.Endpoint: one packet (see the package doc for what
// it includes). RemoteAddr, if asked for, is the source address.
func (e *endpoint) Read(p []byte, opts tcpip.ReadOptions) (tcpip.ReadResult, error) {
	e.mu.Lock()
	res, done, err := e.sock.Read(p, &opts, e.closed)
	e.mu.Unlock()
	done.Release()
	return res, err
}

// Write implements tcpip.Endpoint (see the package doc).
func (e *endpoint) Write(p []byte, opts tcpip.WriteOptions) (int, error) {
	r, params, hdrIncl, err := e.prepareWrite(&opts)
	if err != nil {
		return 0, err
	}
	if hdrIncl {
		// The smallest IPv4 header is 20 bytes (RFC 791 §3.1), the
		// IPv6 header 40 (RFC 8200 §3).
		minHeader := header.IPv4MinimumSize
		if e.netProto == tcpip.IPv6ProtocolNumber {
			minHeader = 40
		}
		if len(p) < minHeader {
			return 0, tcpip.ErrInvalidArgument
		}
		if len(p) > 0xffff {
			return 0, tcpip.ErrMessageTooLong
		}
		pkt := buffer.NewPacketFromBytes(r.MaxHeaderLength(), p)
		err = r.WriteHeaderIncludedPacket(pkt)
	} else {
		// The 16-bit IPv4 Total Length and IPv6 Payload Length
		// (RFC 791 §3.1, RFC 8200 §3) bound one packet.
		limit := 0xffff
		if e.netProto == tcpip.IPv4ProtocolNumber {
			limit -= header.IPv4MinimumSize
		}
		if len(p) > limit {
			return 0, tcpip.ErrMessageTooLong
		}
		pkt := buffer.NewPacket(r.MaxHeaderLength(), nil)
		pkt.Payload.Append(p)
		if e.netProto == tcpip.IPv6ProtocolNumber && e.transProto == tcpip.ICMPv6ProtocolNumber && len(p) >= 4 {
			setICMPv6Checksum(pkt, r)
		}
		pkt.TransportProtocol = e.transProto
		err = r.WritePacket(params, pkt)
	}
	if err != nil {
		e.stats.SendErrors.Inc()
		return 0, err
	}
	e.stats.PacketsSent.Inc()
	e.stats.BytesSent.Add(uint64(len(p)))
	return len(p), nil
}

// setICMPv6Checksum computes the checksum of the ICMPv6 message in pkt's
// payload: RFC 3542 §3.1 has the kernel compute it for raw ICMPv6
// sockets, since the application does not know the source address the
// pseudo-header (RFC 4443 §2.3) needs.
func setICMPv6Checksum(pkt *buffer.Packet, r *stack.Route) {
	b, ok := pkt.Payload.PullUpWritable(4)
	if !ok {
		return
	}
	b[2], b[3] = 0, 0
	var c header.Checksummer
	for v := range pkt.Payload.All() {
		c.Add(v)
	}
	sum := header.PseudoHeaderChecksum(tcpip.ICMPv6ProtocolNumber, r.LocalAddress, r.RemoteAddress, uint32(pkt.Payload.Len()))
	x := ^header.ChecksumCombine(sum, c.Sum())
	b[2], b[3] = byte(x>>8), byte(x)
}

// prepareWrite returns the route and header parameters of a packet.
func (e *endpoint) prepareWrite(opts *tcpip.WriteOptions) (*stack.Route, stack.NetworkHeaderParams, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	params := stack.NetworkHeaderParams{Protocol: e.transProto, TTL: e.sock.TTL, TOS: e.sock.TOS}
	if opts.TTL != 0 {
		params.TTL = opts.TTL
	}
	if e.closed || e.sock.Shutdown&tcpip.ShutdownWrite != 0 {
		return nil, params, false, tcpip.ErrClosedForSend
	}
	var r *stack.Route
	if opts.To == nil {
		if !e.connected {
			return nil, params, false, tcpip.ErrDestinationRequired
		}
		r = e.route
	} else {
		dst, err := e.addrLocked(opts.To.Addr)
		if err != nil {
			return nil, params, false, err
		}
		if !dst.IsValid() {
			return nil, params, false, tcpip.ErrDestinationRequired
		}
		nic := opts.To.NIC
		if nic == 0 {
			nic = e.sock.Device()
		}
		r, err = e.s.FindRoute(nic, e.sourceLocked(), dst, e.netProto, true /* multicastLoop */)
		if err != nil {
			e.stats.SendErrors.Inc()
			return nil, params, false, err
		}
	}
	// Linux's raw_sendmsg: a broadcast destination needs SO_BROADCAST
	// (EACCES).
	if r.IsOutboundBroadcast() && !e.sock.Broadcast {
		return nil, params, false, tcpip.ErrBroadcastDisabled
	}
	return r, params, e.hdrIncl, nil
}

// SetSockOpt implements tcpip.Endpoint.
func (e *endpoint) SetSockOpt(opt any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sock.SetSockOpt(opt) {
		return nil
	}
	switch v := opt.(type) {
	case tcpip.HeaderIncludedOption:
		if e.transProto == ProtocolRaw && !bool(v) {
			// raw(7): IPPROTO_RAW always includes the header.
			return tcpip.ErrInvalidOptionValue
		}
		e.hdrIncl = bool(v)
	case tcpip.BindToDeviceOption:
		if v != 0 && !e.s.HasNIC(tcpip.NICID(v)) {
			return tcpip.ErrUnknownDevice
		}
		e.sock.BindToDevice = tcpip.NICID(v)
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
	if v, ok := opt.(*tcpip.HeaderIncludedOption); ok {
		*v = tcpip.HeaderIncludedOption(e.hdrIncl)
		return nil
	}
	return tcpip.ErrUnknownProtocolOption
}
