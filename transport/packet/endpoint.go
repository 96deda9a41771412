// Package packet implements link-level endpoints for ustack, as Linux's
// AF_PACKET sockets (packet(7)): they see copies of the frames that NICs
// receive and send, before any network-layer processing, and send frames
// of their own.
//
// A raw endpoint (SOCK_RAW) reads and writes whole frames, link header
// included. A cooked endpoint (SOCK_DGRAM) reads frames without their link
// header and writes network packets for which the stack builds the link
// header (Stack.WritePacket) from the destination in WriteOptions.To: NIC,
// LinkAddr and Port (the network protocol, as sll_protocol).
//
// An endpoint starts receiving at once, on every NIC, the frames of the
// protocol it was created for (0: every protocol, ETH_P_ALL); Bind
// narrows it to one NIC (FullAddress.NIC) and, if Port is not 0, changes
// the protocol. Reads report the frame's NIC, source link address and
// protocol in ReadResult.RemoteAddr and its protocol and packet type in
// ReadResult.LinkPacketInfo. The receive queue is bounded by
// ReceiveBufferSizeOption; frames that do not fit are dropped and counted
// in the endpoint's Stats.
//
// Endpoints are made through stack.Stack.NewPacketEndpoint, which requires
// stack.Options.RawFactory (raw.Factory).
package packet

import (
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/dgram"
	"github.com/ustack-go/ustack/transport/internal/rcvq"
)

// Buffer sizes: Linux's defaults, and the bounds values set are clamped to.
const (
	DefaultReceiveBufferSize = dgram.DefaultReceiveBufferSize // 212992
	DefaultSendBufferSize    = dgram.DefaultSendBufferSize    // 212992
	MinBufferSize            = dgram.MinBufferSize            // 4096
	MaxBufferSize            = dgram.MaxBufferSize            // 4 MiB
)

// endpoint is a packet endpoint. It implements tcpip.Endpoint and
// stack.PacketEndpoint.
//
// Locking: mu guards the fields below it. It is held while registering
// with the stack, never while sending or notifying.
type endpoint struct {
	s         *stack.Stack
	cooked    bool
	waitQueue tcpip.WaitQueue
	stats     tcpip.EndpointStats

	mu     sync.Mutex
	closed bool
	nic    tcpip.NICID                 // registered on: 0 for every NIC
	proto  tcpip.NetworkProtocolNumber // registered for: 0 for every protocol
	// sock is the receive queue, shutdown flags, buffer sizes and
	// TimestampOption.
	sock dgram.Socket
}

var (
	_ tcpip.Endpoint       = (*endpoint)(nil)
	_ stack.PacketEndpoint = (*endpoint)(nil)
)

// NewEndpoint returns a packet endpoint on s receiving the frames of
// netProto (0: every protocol) on every NIC. Stack.NewPacketEndpoint calls
// it through raw.Factory.
func NewEndpoint(s *stack.Stack, cooked bool, netProto tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error) {
	e := &endpoint{
		s:      s,
		cooked: cooked,
		proto:  netProto,
		sock:   dgram.NewSocket(dgram.Packet),
	}
	if err := s.RegisterPacketEndpoint(0, netProto, e); err != nil {
		return nil, err
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

// Connect implements tcpip.Endpoint: packet endpoints do not connect
// (Linux: EOPNOTSUPP).
func (e *endpoint) Connect(tcpip.FullAddress) error { return tcpip.ErrNotSupported }

// Bind implements tcpip.Endpoint: the endpoint then receives the frames
// of NIC addr.NIC only (0: every NIC) and, if addr.Port is not 0, of the
// protocol addr.Port (Linux's packet_bind: sll_protocol 0 keeps the
// socket's protocol).
func (e *endpoint) Bind(addr tcpip.FullAddress) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return tcpip.ErrInvalidEndpointState
	}
	if addr.NIC != 0 && !e.s.HasNIC(addr.NIC) {
		return tcpip.ErrUnknownDevice
	}
	proto := e.proto
	if addr.Port != 0 {
		proto = tcpip.NetworkProtocolNumber(addr.Port)
	}
	if addr.NIC == e.nic && proto == e.proto {
		return nil
	}
	if err := e.s.RegisterPacketEndpoint(addr.NIC, proto, e); err != nil {
		return err
	}
	e.s.UnregisterPacketEndpoint(e.nic, e.proto, e)
	e.nic, e.proto = addr.NIC, proto
	return nil
}

// Shutdown implements tcpip.Endpoint: reading stops delivery to the
// queue; writing makes Write fail.
func (e *endpoint) Shutdown(how tcpip.ShutdownFlags) error {
	if how&(tcpip.ShutdownRead|tcpip.ShutdownWrite) == 0 || how&^(tcpip.ShutdownRead|tcpip.ShutdownWrite) != 0 {
		return tcpip.ErrInvalidArgument
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return tcpip.ErrNotConnected
	}
	e.sock.Shutdown |= how
	e.mu.Unlock()
	e.waitQueue.Notify(tcpip.EventIn | tcpip.EventOut | tcpip.EventHUp | tcpip.EventRdHUp)
	return nil
}

// Close implements tcpip.Endpoint: it stops receiving and frees the queue.
func (e *endpoint) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.s.UnregisterPacketEndpoint(e.nic, e.proto, e)
	e.sock.Rcv.Clear()
	e.mu.Unlock()
	e.waitQueue.Notify(tcpip.EventHUp | tcpip.EventIn | tcpip.EventOut)
}

// Abort implements stack.PacketEndpointAborter: Stack.Close closes the
// endpoint, waking its readers.
func (e *endpoint) Abort() { e.Close() }

// LocalAddress implements tcpip.Endpoint: the NIC and protocol bound.
func (e *endpoint) LocalAddress() (tcpip.FullAddress, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fa := tcpip.FullAddress{NIC: e.nic, Port: uint16(e.proto)}
	if e.nic != 0 {
		if ni, err := e.s.Interface(e.nic); err == nil {
			fa.LinkAddr = ni.LinkAddress()
		}
	}
	return fa, nil
}

// RemoteAddress implements tcpip.Endpoint: never connected.
func (e *endpoint) RemoteAddress() (tcpip.FullAddress, error) {
	return tcpip.FullAddress{}, tcpip.ErrNotConnected
}

// Readiness implements tcpip.Endpoint.
func (e *endpoint) Readiness(mask tcpip.Events) tcpip.Events {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sock.Readiness(e.closed) & mask
}

// LastError implements tcpip.Endpoint: packet endpoints have no
// asynchronous errors.
func (e *endpoint) LastError() error { return nil }

// HandlePacket implements stack.PacketEndpoint: a copy of a frame of NIC
// nic, received or sent, with its link header (if the link has one) in
// pkt.LinkHeader. It is queued, or dropped and counted when the receive
// buffer is full.
func (e *endpoint) HandlePacket(nic tcpip.NICID, proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	skip := 0
	if e.cooked {
		skip = e.linkHeaderLen(nic, pkt)
	}
	// Measured before queueing: once queued, a concurrent Read may take
	// and release the packet.
	size := uint64(pkt.Len() - skip)
	e.mu.Lock()
	if e.closed || e.sock.Shutdown&tcpip.ShutdownRead != 0 || (e.nic != 0 && nic != e.nic) {
		e.mu.Unlock()
		pkt.Release()
		return
	}
	ent := rcvq.Entry{
		Pkt:      pkt,
		NIC:      nic,
		LinkSrc:  pkt.LinkSource,
		NetProto: proto,
		PktType:  pkt.Type,
		Skip:     skip,
	}
	if !e.sock.Enqueue(ent, e.s.Clock()) {
		e.mu.Unlock()
		e.stats.ReceiveBufferErrors.Inc()
		pkt.Release()
		return
	}
	e.mu.Unlock()
	e.stats.PacketsReceived.Inc()
	e.stats.BytesReceived.Add(size)
	e.waitQueue.Notify(tcpip.EventIn)
}

// linkHeaderLen returns the length of the link header at the front of
// pkt: the header the link recorded, or for a frame written whole
// (Stack.WriteRawPacket) the NIC's link header length.
func (e *endpoint) linkHeaderLen(nic tcpip.NICID, pkt *buffer.Packet) int {
	if lh := pkt.LinkHeader(); len(lh) > 0 {
		return len(lh)
	}
	if pkt.Type != buffer.PacketOutgoing || pkt.HeaderLen() != 0 {
		return 0
	}
	ni, err := e.s.Interface(nic)
	if err != nil {
		return 0
	}
	return min(ni.MaxLinkHeaderLength(), pkt.Len())
}

// Read implements tcpip.Endpoint: one frame (without its link header for
// a cooked endpoint). RemoteAddr, if asked for, is the frame's NIC, source
// link address and protocol; LinkPacketInfo its protocol and packet type.
func (e *endpoint) Read(p []byte, opts tcpip.ReadOptions) (tcpip.ReadResult, error) {
	e.mu.Lock()
	res, done, err := e.sock.Read(p, &opts, e.closed)
	e.mu.Unlock()
	done.Release()
	return res, err
}

// Write implements tcpip.Endpoint. A raw endpoint sends p as a whole
// frame out of opts.To.NIC (or the bound NIC); a cooked endpoint sends p
// as a packet of protocol opts.To.Port (or the bound protocol) to the
// link address opts.To.LinkAddr, the stack adding the link header.
func (e *endpoint) Write(p []byte, opts tcpip.WriteOptions) (int, error) {
	e.mu.Lock()
	if e.closed || e.sock.Shutdown&tcpip.ShutdownWrite != 0 {
		e.mu.Unlock()
		return 0, tcpip.ErrClosedForSend
	}
	nic, proto := e.nic, e.proto
	var dst tcpip.LinkAddress
	e.mu.Unlock()
	if to := opts.To; to != nil {
		if to.NIC != 0 {
			nic = to.NIC
		}
		if to.Port != 0 {
			proto = tcpip.NetworkProtocolNumber(to.Port)
		}
		dst = to.LinkAddr
	}
	// Linux's packet_snd: no device to send on is an error (ENXIO).
	if nic == 0 {
		return 0, tcpip.ErrDestinationRequired
	}
	var err error
	if e.cooked {
		if proto == 0 {
			return 0, tcpip.ErrInvalidArgument
		}
		err = e.s.WritePacket(nic, dst, proto, p)
	} else {
		err = e.s.WriteRawPacket(nic, p)
	}
	if err != nil {
		e.stats.SendErrors.Inc()
		return 0, err
	}
	e.stats.PacketsSent.Inc()
	e.stats.BytesSent.Add(uint64(len(p)))
	return len(p), nil
}

// SetSockOpt implements tcpip.Endpoint: the buffer sizes and
// TimestampOption.
func (e *endpoint) SetSockOpt(opt any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.sock.SetSockOpt(opt) {
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}

// GetSockOpt implements tcpip.Endpoint: the buffer sizes, TimestampOption
// and the queue sizes.
func (e *endpoint) GetSockOpt(opt any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.sock.GetSockOpt(opt) {
		return tcpip.ErrUnknownProtocolOption
	}
	return nil
}
