package gonet_test

import (
	"net/netip"
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// fakeStreams is an in-memory stand-in for TCP, shared by the stacks of one
// test: it keeps the tcpip.Endpoint contract of a stream endpoint (Connect
// returns ErrConnectStarted and reports the outcome on the WaitQueue, Write
// takes what fits in a bounded receive buffer of the peer, Read returns
// ErrClosedForReceive at the end of the stream, Listen/Accept with
// ErrWouldBlock) without sending a packet, so that the adapter is tested on
// its own, independently of the TCP engine.
//
// A connection to a port nobody listens on is refused; one to fakeBlackhole
// never completes.
type fakeStreams struct {
	mu        sync.Mutex
	listeners map[netip.AddrPort]*fakeStreamEP // guarded by mu
	nextPort  uint16                           // guarded by mu
	bufSize   int
}

// fakeBlackhole is an address whose connections stay in SYN-SENT: the
// address of the subnet nobody has, which TCP cannot reach either.
var fakeBlackhole = addrAbsent

// fakeStreamBufSize is the receive buffer of fake endpoints: small, so that
// large writes are taken in pieces and block.
const fakeStreamBufSize = 16 << 10

func newFakeStreams() *fakeStreams {
	return &fakeStreams{listeners: map[netip.AddrPort]*fakeStreamEP{}, nextPort: 40000, bufSize: fakeStreamBufSize}
}

// factory returns the transport protocol factory of a stack whose address
// is addr.
func (f *fakeStreams) factory(addr netip.Addr) stack.TransportProtocolFactory {
	return func(*stack.Stack) stack.TransportProtocol { return &fakeStreamProto{f: f, addr: addr} }
}

type fakeStreamProto struct {
	f    *fakeStreams
	addr netip.Addr
}

func (p *fakeStreamProto) Number() tcpip.TransportProtocolNumber { return tcpip.TCPProtocolNumber }
func (p *fakeStreamProto) NewEndpoint(tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error) {
	return &fakeStreamEP{f: p.f, host: p.addr}, nil
}
func (p *fakeStreamProto) MinimumPacketSize() int { return 20 }
func (p *fakeStreamProto) ParsePorts([]byte) (uint16, uint16, error) {
	return 0, 0, tcpip.ErrMalformed
}
func (p *fakeStreamProto) HandleUnknownDestinationPacket(stack.TransportEndpointID, stack.NetworkPacketInfo, *buffer.Packet) stack.TransportPacketDisposition {
	return stack.TransportPacketHandled
}
func (p *fakeStreamProto) SetOption(any) error { return tcpip.ErrUnknownProtocolOption }
func (p *fakeStreamProto) Option(any) error    { return tcpip.ErrUnknownProtocolOption }
func (p *fakeStreamProto) Close()              {}

type fakeStreamState int

const (
	fakeInitial fakeStreamState = iota
	fakeConnecting
	fakeConnected
	fakeListening
	fakeFailed
	fakeClosed
)

// fakeStreamEP is one endpoint of fakeStreams. Every field but wq is
// guarded by f.mu.
type fakeStreamEP struct {
	f    *fakeStreams
	host netip.Addr
	wq   tcpip.WaitQueue

	state   fakeStreamState
	bound   bool
	local   netip.AddrPort // the zero Addr: bound to the wildcard
	remote  netip.AddrPort
	peer    *fakeStreamEP
	rcv     []byte
	finRcvd bool // the peer shut down its sending side
	shutRd  bool
	shutWr  bool
	reset   bool // the peer went away while we still had things to say
	lastErr error

	backlog int
	queue   []*fakeStreamEP
}

// notifyAll wakes every endpoint of eps with all events: waiters retry and
// find out what changed.
func notifyAll(eps ...*fakeStreamEP) {
	for _, ep := range eps {
		if ep != nil {
			ep.wq.Notify(tcpip.EventsAll)
		}
	}
}

func (e *fakeStreamEP) Read(p []byte, opts tcpip.ReadOptions) (tcpip.ReadResult, error) {
	e.f.mu.Lock()
	if len(e.rcv) > 0 && !e.shutRd {
		n := copy(p, e.rcv)
		if !opts.Peek {
			e.rcv = e.rcv[n:]
		}
		peer := e.peer
		e.f.mu.Unlock()
		notifyAll(peer)
		return tcpip.ReadResult{N: n, Total: n}, nil
	}
	defer e.f.mu.Unlock()
	switch {
	case e.reset && !e.shutRd:
		return tcpip.ReadResult{}, tcpip.ErrConnectionReset
	case e.shutRd || e.finRcvd:
		return tcpip.ReadResult{}, tcpip.ErrClosedForReceive
	case e.state == fakeConnected:
		return tcpip.ReadResult{}, tcpip.ErrWouldBlock
	case e.state == fakeClosed:
		return tcpip.ReadResult{}, tcpip.ErrClosedForReceive
	default:
		return tcpip.ReadResult{}, tcpip.ErrNotConnected
	}
}

func (e *fakeStreamEP) Write(p []byte, _ tcpip.WriteOptions) (int, error) {
	e.f.mu.Lock()
	switch {
	case e.shutWr:
		e.f.mu.Unlock()
		return 0, tcpip.ErrClosedForSend
	case e.reset:
		e.f.mu.Unlock()
		return 0, tcpip.ErrConnectionReset
	case e.state != fakeConnected:
		e.f.mu.Unlock()
		return 0, tcpip.ErrNotConnected
	}
	peer := e.peer
	if peer.state == fakeClosed || peer.shutRd {
		// The peer no longer reads: it answers with a reset.
		e.reset = true
		e.f.mu.Unlock()
		return 0, tcpip.ErrConnectionReset
	}
	room := e.f.bufSize - len(peer.rcv)
	if room <= 0 {
		e.f.mu.Unlock()
		return 0, tcpip.ErrWouldBlock
	}
	n := min(room, len(p))
	peer.rcv = append(peer.rcv, p[:n]...)
	e.f.mu.Unlock()
	notifyAll(peer)
	return n, nil
}

func (e *fakeStreamEP) Bind(addr tcpip.FullAddress) error {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	if e.state != fakeInitial || e.bound {
		return tcpip.ErrAlreadyBound
	}
	a := addr.Addr
	if a.IsValid() && a != e.host {
		return tcpip.ErrBadLocalAddress
	}
	port := addr.Port
	if port == 0 {
		e.f.nextPort++
		port = e.f.nextPort
	}
	if e.f.listeners[netip.AddrPortFrom(e.host, port)] != nil {
		return tcpip.ErrAddressInUse
	}
	// A wildcard bind stays a wildcard in LocalAddress, as with TCP.
	e.local = netip.AddrPortFrom(a, port)
	e.bound = true
	return nil
}

func (e *fakeStreamEP) Connect(addr tcpip.FullAddress) error {
	e.f.mu.Lock()
	switch e.state {
	case fakeConnecting:
		e.f.mu.Unlock()
		return tcpip.ErrAlreadyConnecting
	case fakeConnected:
		e.f.mu.Unlock()
		return tcpip.ErrAlreadyConnected
	case fakeFailed:
		e.f.mu.Unlock()
		return tcpip.ErrConnectionRefused
	case fakeInitial:
	default:
		e.f.mu.Unlock()
		return tcpip.ErrInvalidEndpointState
	}
	if !e.bound {
		e.f.nextPort++
		e.local = netip.AddrPortFrom(e.host, e.f.nextPort)
		e.bound = true
	} else if !e.local.Addr().IsValid() {
		e.local = netip.AddrPortFrom(e.host, e.local.Port())
	}
	e.remote = addr.AddrPort()
	e.state = fakeConnecting
	if addr.Addr == fakeBlackhole {
		e.f.mu.Unlock()
		return tcpip.ErrConnectStarted
	}
	l := e.f.listeners[e.remote]
	if l == nil || len(l.queue) >= l.backlog {
		// RFC 9293 §3.10.7.1: a SYN to a closed port is answered by a
		// reset, which fails the connection.
		e.state = fakeFailed
		e.lastErr = tcpip.ErrConnectionRefused
		e.f.mu.Unlock()
		notifyAll(e)
		return tcpip.ErrConnectStarted
	}
	srv := &fakeStreamEP{f: e.f, host: l.host, state: fakeConnected, bound: true, local: e.remote, remote: e.local, peer: e}
	e.peer = srv
	e.state = fakeConnected
	l.queue = append(l.queue, srv)
	e.f.mu.Unlock()
	notifyAll(e, l)
	return tcpip.ErrConnectStarted
}

func (e *fakeStreamEP) Listen(backlog int) error {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	if e.state != fakeInitial || !e.bound {
		return tcpip.ErrInvalidEndpointState
	}
	e.state = fakeListening
	e.backlog = backlog
	e.f.listeners[netip.AddrPortFrom(e.host, e.local.Port())] = e
	return nil
}

func (e *fakeStreamEP) Accept() (tcpip.Endpoint, tcpip.FullAddress, error) {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	if e.state != fakeListening {
		return nil, tcpip.FullAddress{}, tcpip.ErrInvalidEndpointState
	}
	if len(e.queue) == 0 {
		return nil, tcpip.FullAddress{}, tcpip.ErrWouldBlock
	}
	c := e.queue[0]
	e.queue = e.queue[1:]
	return c, tcpip.FullAddressFrom(c.remote), nil
}

func (e *fakeStreamEP) Shutdown(how tcpip.ShutdownFlags) error {
	e.f.mu.Lock()
	if e.state != fakeConnected {
		e.f.mu.Unlock()
		return tcpip.ErrNotConnected
	}
	if how&tcpip.ShutdownRead != 0 {
		e.shutRd = true
		e.rcv = nil
	}
	if how&tcpip.ShutdownWrite != 0 && !e.shutWr {
		e.shutWr = true
		e.peer.finRcvd = true
	}
	peer := e.peer
	e.f.mu.Unlock()
	notifyAll(e, peer)
	return nil
}

func (e *fakeStreamEP) Close() {
	e.f.mu.Lock()
	var wake []*fakeStreamEP
	switch e.state {
	case fakeListening:
		delete(e.f.listeners, netip.AddrPortFrom(e.host, e.local.Port()))
		for _, c := range e.queue {
			c.state = fakeClosed
			c.peer.reset = true
			wake = append(wake, c.peer)
		}
		e.queue = nil
	case fakeConnected:
		if !e.shutWr {
			e.peer.finRcvd = true
		}
		if len(e.rcv) > 0 {
			// Closing with unread data resets the connection (RFC
			// 2525 §2.17, as Linux does).
			e.peer.reset = true
		}
		wake = append(wake, e.peer)
	}
	e.state = fakeClosed
	e.rcv = nil
	e.f.mu.Unlock()
	notifyAll(append(wake, e)...)
}

func (e *fakeStreamEP) LocalAddress() (tcpip.FullAddress, error) {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	return tcpip.FullAddressFrom(e.local), nil
}

func (e *fakeStreamEP) RemoteAddress() (tcpip.FullAddress, error) {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	if e.state != fakeConnected {
		return tcpip.FullAddress{}, tcpip.ErrNotConnected
	}
	return tcpip.FullAddressFrom(e.remote), nil
}

func (e *fakeStreamEP) Readiness(mask tcpip.Events) tcpip.Events {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	var r tcpip.Events
	switch e.state {
	case fakeListening:
		if len(e.queue) > 0 {
			r |= tcpip.EventIn
		}
	case fakeConnected:
		if len(e.rcv) > 0 || e.finRcvd || e.shutRd || e.reset {
			r |= tcpip.EventIn
		}
		if e.finRcvd {
			r |= tcpip.EventRdHUp
		}
		if e.shutWr || e.reset || e.f.bufSize-len(e.peer.rcv) > 0 {
			r |= tcpip.EventOut
		}
		if e.reset || (e.finRcvd && e.shutWr) {
			r |= tcpip.EventHUp
		}
	case fakeFailed:
		r |= tcpip.EventOut | tcpip.EventHUp
	case fakeClosed:
		r |= tcpip.EventHUp
	}
	if e.lastErr != nil {
		r |= tcpip.EventErr
	}
	return r & mask
}

func (e *fakeStreamEP) WaitQueue() *tcpip.WaitQueue { return &e.wq }
func (e *fakeStreamEP) SetSockOpt(opt any) error {
	switch opt.(type) {
	case tcpip.ReuseAddressOption, tcpip.DelayOption, tcpip.KeepAliveOption:
		return nil
	}
	return tcpip.ErrUnknownProtocolOption
}
func (e *fakeStreamEP) GetSockOpt(any) error { return tcpip.ErrUnknownProtocolOption }

func (e *fakeStreamEP) LastError() error {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	err := e.lastErr
	e.lastErr = nil
	return err
}

func (e *fakeStreamEP) Stats() *tcpip.EndpointStats { return &tcpip.EndpointStats{} }
