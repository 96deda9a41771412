package gonet

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// DefaultBacklog is the accept queue length of ListenTCP: the number of
// connections that have completed their handshake and wait for Accept. It
// is what package net asks of Linux (net.Listen passes the kernel's
// net.core.somaxconn, 4096 since Linux 5.4), so that a server ported from
// package net keeps its accept queue: with a shorter one, a burst of
// connections while the accepting goroutine waits for a CPU loses SYNs to
// the full queue and each such client waits a second for its SYN's
// retransmission (RFC 6298 §2.1).
const DefaultBacklog = 4096

// TCPConn is a TCP connection of a stack behind net.Conn. Its methods are
// safe for concurrent use and block the calling goroutine until they can
// complete, their deadline passes (os.ErrDeadlineExceeded) or the TCPConn is
// closed (net.ErrClosed). Read returns io.EOF once the peer has closed its
// side and every byte it sent has been read.
//
// Every other error is a *net.OpError with Net "tcp" wrapping the cause: a
// tcpip error, which errors.Is also matches against its syscall.Errno
// (errors.Is(err, syscall.ECONNRESET)), os.ErrDeadlineExceeded or
// net.ErrClosed.
type TCPConn struct {
	ep       tcpip.Endpoint
	netProto tcpip.NetworkProtocolNumber
	// closed is set by Close (under closeMu), before the endpoint is
	// closed.
	closed atomic.Bool

	// Fixed at creation: the connection's addresses.
	laddr netip.AddrPort
	raddr netip.AddrPort

	// writeMu serialises Writes, so that the bytes of one Write are not
	// interleaved with those of another when the endpoint takes them in
	// several pieces, as package net promises.
	writeMu sync.Mutex

	// closeMu serialises Close with the making of blk.
	closeMu sync.Mutex
	// blk is nil until a call first needs it (connBlocking): an idle
	// connection carries no deadline and no channel (DESIGN.md
	// principle 6). Set once, under closeMu.
	blk atomic.Pointer[connBlocking]
}

// connBlocking is the state of a TCPConn that only calls that may block,
// and deadlines, use.
type connBlocking struct {
	readDeadline  deadline
	writeDeadline deadline
	closing       chan struct{} // closed by Close, before the endpoint
}

// blocking returns c's connBlocking, making it on first use. One made
// after Close has its closing channel closed already.
func (c *TCPConn) blocking() *connBlocking {
	if b := c.blk.Load(); b != nil {
		return b
	}
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if b := c.blk.Load(); b != nil {
		return b
	}
	b := &connBlocking{closing: make(chan struct{})}
	if c.closed.Load() {
		close(b.closing)
	}
	c.blk.Store(b)
	return b
}

var _ net.Conn = (*TCPConn)(nil)

// DialTCP connects to raddr from any local address and an ephemeral port,
// and returns the connection once the handshake is done. The stack must
// run TCP.
func DialTCP(s *stack.Stack, raddr netip.AddrPort) (*TCPConn, error) {
	return DialContextTCP(context.Background(), s, netip.AddrPort{}, raddr, 0)
}

// DialContextTCP connects to raddr from laddr (the zero AddrPort: any local
// address and an ephemeral port; a port of 0: an ephemeral port). netProto
// is tcpip.IPv4ProtocolNumber or IPv6ProtocolNumber; 0 picks raddr's
// family. ctx bounds the handshake: when it is cancelled or its deadline
// passes before the connection is established, the attempt is aborted
// (the endpoint is closed) and the error wraps ctx.Err().
//
// A refused connection fails with an error that errors.Is matches against
// syscall.ECONNREFUSED; a peer that does not answer, with ETIMEDOUT once the
// endpoint gives up retransmitting its SYN.
func DialContextTCP(ctx context.Context, s *stack.Stack, laddr, raddr netip.AddrPort, netProto tcpip.NetworkProtocolNumber) (*TCPConn, error) {
	netProto = netProtoFor(s, netProto, raddr, laddr)
	fail := func(err error) (*TCPConn, error) {
		return nil, opError("dial", "tcp", netAddr("tcp", laddr), netAddr("tcp", raddr), err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if !raddr.Addr().IsValid() {
		return fail(tcpip.ErrDestinationRequired)
	}
	ra, err := fullAddress(s, raddr, netProto)
	if err != nil {
		return fail(err)
	}
	ep, err := s.NewEndpoint(tcpip.TCPProtocolNumber, netProto)
	if err != nil {
		return fail(err)
	}
	if laddr.Addr().IsValid() || laddr.Port() != 0 {
		la, err := fullAddress(s, laddr, netProto)
		if err == nil {
			err = ep.Bind(la)
		}
		if err != nil {
			ep.Close()
			return fail(err)
		}
	}
	if err := connect(ctx, ep, ra); err != nil {
		ep.Close()
		return fail(err)
	}
	return newTCPConn(ep, netProto, ra), nil
}

// connect starts the handshake of ep with ra and waits for its end. RFC
// 9293 §3.10.1: OPEN of an active connection sends the SYN and returns; the
// endpoint reports the outcome as EventOut (ESTABLISHED) or EventErr and
// EventHUp (refused, unreachable, timed out), as a non-blocking socket's
// connect(2) does.
func connect(ctx context.Context, ep tcpip.Endpoint, ra tcpip.FullAddress) error {
	err := ep.Connect(ra)
	if err != tcpip.ErrConnectStarted {
		return err
	}
	return block(ctx, ep, tcpip.EventOut|tcpip.EventErr|tcpip.EventHUp, nil, nil, func() error {
		r := ep.Readiness(tcpip.EventOut | tcpip.EventErr | tcpip.EventHUp)
		if r == 0 {
			return tcpip.ErrWouldBlock
		}
		if err := ep.LastError(); err != nil {
			return err
		}
		if r&(tcpip.EventErr|tcpip.EventHUp) == 0 {
			return nil
		}
		// An error or hang-up whose cause LastError no longer holds:
		// connecting again reports it, as connect(2) called a second
		// time returns the failure of the first (or EISCONN if the
		// connection was made and the peer has already closed it).
		switch err := ep.Connect(ra); err {
		case nil, tcpip.ErrAlreadyConnected:
			return nil
		case tcpip.ErrConnectStarted, tcpip.ErrAlreadyConnecting:
			return tcpip.ErrConnectionRefused
		default:
			return err
		}
	})
}

// newTCPConn wraps the connected endpoint ep, whose peer is ra.
func newTCPConn(ep tcpip.Endpoint, netProto tcpip.NetworkProtocolNumber, ra tcpip.FullAddress) *TCPConn {
	c := &TCPConn{ep: ep, netProto: netProto}
	if la, err := ep.LocalAddress(); err == nil {
		c.laddr = endpointAddr(la, netProto)
	}
	if r, err := ep.RemoteAddress(); err == nil {
		ra = r
	}
	c.raddr = ra.AddrPort()
	return c
}

// LocalAddr returns the local address, a *net.TCPAddr.
func (c *TCPConn) LocalAddr() net.Addr { return netAddr("tcp", c.laddr) }

// RemoteAddr returns the peer's address, a *net.TCPAddr.
func (c *TCPConn) RemoteAddr() net.Addr { return netAddr("tcp", c.raddr) }

// LocalAddrPort returns the local address.
func (c *TCPConn) LocalAddrPort() netip.AddrPort { return c.laddr }

// RemoteAddrPort returns the peer's address.
func (c *TCPConn) RemoteAddrPort() netip.AddrPort { return c.raddr }

// Read reads up to len(b) bytes of the stream. It blocks until at least
// one byte is there, and returns io.EOF (unwrapped, as package net does) at
// the end of the stream: the peer sent its FIN, or CloseRead was called.
func (c *TCPConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		if err := c.checkOpen("read"); err != nil {
			return 0, err
		}
		return 0, nil
	}
	var n int
	blk := c.blocking()
	err := block(context.Background(), c.ep, tcpip.EventIn|tcpip.EventErr|tcpip.EventHUp|tcpip.EventRdHUp, blk.readDeadline.expired(), blk.closing, func() error {
		res, err := c.ep.Read(b, tcpip.ReadOptions{})
		n = res.N
		if err == nil && n == 0 {
			// A stream read of nothing is the end of the stream.
			err = tcpip.ErrClosedForReceive
		}
		return c.pendingError(err)
	})
	if err == tcpip.ErrClosedForReceive && !c.closed.Load() {
		return 0, io.EOF
	}
	if err != nil {
		return 0, c.fail("read", err)
	}
	return n, nil
}

// pendingError returns the asynchronous error of the endpoint (a reset, a
// timeout) in place of tcpip.ErrWouldBlock when the endpoint reports one,
// so that a call waiting for data or room does not wait for events that
// will never come.
func (c *TCPConn) pendingError(err error) error {
	if err != tcpip.ErrWouldBlock || c.ep.Readiness(tcpip.EventErr) == 0 {
		return err
	}
	if e := c.ep.LastError(); e != nil {
		return e
	}
	return err
}

// Write writes all of b to the stream, blocking while the send buffer is
// full. It returns len(b), or the number of bytes the endpoint took before
// an error (the write deadline passed, the connection was reset, Close).
func (c *TCPConn) Write(b []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.checkOpen("write"); err != nil {
		return 0, err
	}
	written := 0
	blk := c.blocking()
	for written < len(b) {
		var n int
		err := block(context.Background(), c.ep, tcpip.EventOut|tcpip.EventErr|tcpip.EventHUp, blk.writeDeadline.expired(), blk.closing, func() error {
			var err error
			n, err = c.ep.Write(b[written:], tcpip.WriteOptions{})
			if err == nil && n == 0 {
				err = tcpip.ErrWouldBlock
			}
			return c.pendingError(err)
		})
		written += n
		if err != nil {
			return written, c.fail("write", err)
		}
	}
	return written, nil
}

// CloseWrite shuts down the sending side: the peer reads the end of the
// stream once it has read what was written before (RFC 9293 §3.10.4: a FIN
// follows the queued data). Reading goes on.
func (c *TCPConn) CloseWrite() error {
	return c.shutdown("close", tcpip.ShutdownWrite)
}

// CloseRead shuts down the receiving side: Reads return io.EOF from then on.
// Writing goes on.
func (c *TCPConn) CloseRead() error {
	return c.shutdown("close", tcpip.ShutdownRead)
}

func (c *TCPConn) shutdown(op string, how tcpip.ShutdownFlags) error {
	if err := c.checkOpen(op); err != nil {
		return err
	}
	if err := c.ep.Shutdown(how); err != nil {
		return c.fail(op, err)
	}
	return nil
}

// fail wraps err for an operation op on the TCPConn. An endpoint error that
// is the consequence of a concurrent Close is reported as net.ErrClosed.
func (c *TCPConn) fail(op string, err error) error {
	if c.closed.Load() {
		err = net.ErrClosed
	}
	return opError(op, "tcp", c.LocalAddr(), c.RemoteAddr(), err)
}

func (c *TCPConn) checkOpen(op string) error {
	if c.closed.Load() {
		return opError(op, "tcp", c.LocalAddr(), c.RemoteAddr(), net.ErrClosed)
	}
	return nil
}

// SetDeadline sets the read and write deadlines: see SetReadDeadline and
// SetWriteDeadline.
func (c *TCPConn) SetDeadline(t time.Time) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	blk := c.blocking()
	blk.readDeadline.set(t)
	blk.writeDeadline.set(t)
	return nil
}

// SetReadDeadline sets when reads time out: once t has passed, blocked and
// future reads fail with an error wrapping os.ErrDeadlineExceeded (whose
// Timeout is true), until a new deadline is set. The zero Time means no
// deadline.
func (c *TCPConn) SetReadDeadline(t time.Time) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	c.blocking().readDeadline.set(t)
	return nil
}

// SetWriteDeadline sets when writes time out, as SetReadDeadline does for
// reads. A Write that times out has written part of its buffer: it returns
// how much.
func (c *TCPConn) SetWriteDeadline(t time.Time) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	c.blocking().writeDeadline.set(t)
	return nil
}

// SetNoDelay disables Nagle's algorithm (RFC 896) when noDelay is true:
// small writes are sent at once rather than held for an acknowledgement.
func (c *TCPConn) SetNoDelay(noDelay bool) error {
	return c.SetSockOpt(tcpip.DelayOption(!noDelay))
}

// SetKeepAlive enables keep-alive probes (RFC 9293 §3.8.4).
func (c *TCPConn) SetKeepAlive(keepalive bool) error {
	return c.SetSockOpt(tcpip.KeepAliveOption(keepalive))
}

// SetKeepAlivePeriod sets the idle time before the first keep-alive probe
// and the interval between probes.
func (c *TCPConn) SetKeepAlivePeriod(d time.Duration) error {
	if err := c.SetSockOpt(tcpip.KeepaliveIdleOption(d)); err != nil {
		return err
	}
	return c.SetSockOpt(tcpip.KeepaliveIntervalOption(d))
}

// SetLinger sets what Close does with unsent data, as package net's: sec <
// 0 sends it in the background (the default), 0 discards it and resets the
// connection, sec > 0 gives it that long.
func (c *TCPConn) SetLinger(sec int) error {
	opt := tcpip.LingerOption{Enabled: sec >= 0}
	if sec > 0 {
		opt.Timeout = time.Duration(sec) * time.Second
	}
	return c.SetSockOpt(opt)
}

// SetReadBuffer sets the endpoint's receive buffer size (SO_RCVBUF).
func (c *TCPConn) SetReadBuffer(bytes int) error {
	return c.SetSockOpt(tcpip.ReceiveBufferSizeOption(bytes))
}

// SetWriteBuffer sets the endpoint's send buffer size (SO_SNDBUF).
func (c *TCPConn) SetWriteBuffer(bytes int) error {
	return c.SetSockOpt(tcpip.SendBufferSizeOption(bytes))
}

// SetSockOpt sets an option of the endpoint, one of the typed option values
// of package tcpip (tcpip.DelayOption(false), tcpip.TOSOption(0x10), …).
func (c *TCPConn) SetSockOpt(opt any) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	if err := c.ep.SetSockOpt(opt); err != nil {
		return c.fail("set", err)
	}
	return nil
}

// GetSockOpt reads an option of the endpoint into opt, a pointer to one of
// the typed option values of package tcpip.
func (c *TCPConn) GetSockOpt(opt any) error {
	if err := c.checkOpen("get"); err != nil {
		return err
	}
	if err := c.ep.GetSockOpt(opt); err != nil {
		return c.fail("get", err)
	}
	return nil
}

// Info returns the connection's tcp.Info (TCP_INFO): RTT, windows,
// buffers, loss recovery and what limits its sending (Info.Why; Info's
// String is a readable report). The endpoint must be one of package tcp.
func (c *TCPConn) Info() (tcp.Info, error) {
	var o tcp.InfoOption
	if err := c.GetSockOpt(&o); err != nil {
		return tcp.Info{}, err
	}
	return tcp.Info(o), nil
}

// Close closes the connection: data written and not yet sent is still
// delivered (unless SetLinger(0) asked for a reset), followed by a FIN.
// Calls blocked in Read and Write return an error wrapping net.ErrClosed;
// so do calls made afterwards, a second Close included.
func (c *TCPConn) Close() error {
	c.closeMu.Lock()
	if c.closed.Load() {
		c.closeMu.Unlock()
		return opError("close", "tcp", c.LocalAddr(), c.RemoteAddr(), net.ErrClosed)
	}
	c.closed.Store(true)
	blk := c.blk.Load()
	if blk != nil {
		close(blk.closing)
	}
	c.closeMu.Unlock()
	if blk != nil {
		blk.readDeadline.stop()
		blk.writeDeadline.stop()
	}
	c.ep.Close()
	return nil
}

// TCPListener is a listening TCP endpoint of a stack behind net.Listener.
// Its methods are safe for concurrent use.
type TCPListener struct {
	ep       tcpip.Endpoint
	netProto tcpip.NetworkProtocolNumber
	laddr    netip.AddrPort // fixed at creation

	deadline *deadline // of Accept

	closeMu sync.Mutex
	closed  bool          // guarded by closeMu
	closing chan struct{} // closed by Close, before the endpoint
}

var _ net.Listener = (*TCPListener)(nil)

// ListenTCP returns a TCPListener bound to laddr with an accept queue of
// DefaultBacklog connections: a zero or unspecified address means every
// local address of the family, a port of 0 an ephemeral port. netProto is
// tcpip.IPv4ProtocolNumber or IPv6ProtocolNumber; 0 picks laddr's family,
// or IPv6 (dual-stack) if the stack runs IPv6 and laddr has no address.
func ListenTCP(s *stack.Stack, laddr netip.AddrPort, netProto tcpip.NetworkProtocolNumber) (*TCPListener, error) {
	return ListenTCPBacklog(s, laddr, netProto, DefaultBacklog)
}

// ListenTCPBacklog is ListenTCP with an accept queue of backlog connections.
func ListenTCPBacklog(s *stack.Stack, laddr netip.AddrPort, netProto tcpip.NetworkProtocolNumber, backlog int) (*TCPListener, error) {
	netProto = netProtoFor(s, netProto, laddr)
	fail := func(err error) (*TCPListener, error) {
		// As package net's: the address listened on is the Addr.
		return nil, opError("listen", "tcp", nil, netAddr("tcp", laddr), err)
	}
	la, err := fullAddress(s, laddr, netProto)
	if err != nil {
		return fail(err)
	}
	ep, err := s.NewEndpoint(tcpip.TCPProtocolNumber, netProto)
	if err != nil {
		return fail(err)
	}
	// As package net does on Unix: a listener may take the port of
	// connections still in TIME-WAIT. An endpoint that does not know
	// the option listens all the same.
	_ = ep.SetSockOpt(tcpip.ReuseAddressOption(true))
	if err := ep.Bind(la); err != nil {
		ep.Close()
		return fail(err)
	}
	if err := ep.Listen(backlog); err != nil {
		ep.Close()
		return fail(err)
	}
	l := &TCPListener{
		ep:       ep,
		netProto: netProto,
		deadline: newDeadline(),
		closing:  make(chan struct{}),
	}
	if a, err := ep.LocalAddress(); err == nil {
		l.laddr = endpointAddr(a, netProto)
	}
	return l, nil
}

// Accept waits for the next connection and returns it, a *TCPConn. It
// returns an error wrapping net.ErrClosed once the listener is closed,
// including when it is closed while Accept waits.
func (l *TCPListener) Accept() (net.Conn, error) {
	return l.AcceptTCP()
}

// AcceptTCP is Accept returning the *TCPConn.
func (l *TCPListener) AcceptTCP() (*TCPConn, error) {
	var (
		nep  tcpip.Endpoint
		peer tcpip.FullAddress
	)
	err := block(context.Background(), l.ep, tcpip.EventIn|tcpip.EventErr|tcpip.EventHUp, l.deadline.expired(), l.closing, func() error {
		var err error
		nep, peer, err = l.ep.Accept()
		return err
	})
	if err != nil {
		select {
		case <-l.closing:
			err = net.ErrClosed
		default:
		}
		return nil, opError("accept", "tcp", nil, l.Addr(), err)
	}
	return newTCPConn(nep, l.netProto, peer), nil
}

// SetDeadline sets when Accept times out, as TCPConn.SetReadDeadline does
// for reads.
func (l *TCPListener) SetDeadline(t time.Time) error {
	if err := l.checkOpen("set"); err != nil {
		return err
	}
	l.deadline.set(t)
	return nil
}

// SetSockOpt sets an option of the listening endpoint, one of the typed
// option values of package tcpip. The connections it accepts afterwards
// inherit the options that TCP copies (buffer sizes, congestion control,
// Nagle, keep-alive, …), as with a Linux listening socket.
func (l *TCPListener) SetSockOpt(opt any) error {
	if err := l.checkOpen("set"); err != nil {
		return err
	}
	if err := l.ep.SetSockOpt(opt); err != nil {
		return opError("set", "tcp", nil, l.Addr(), err)
	}
	return nil
}

// GetSockOpt reads an option of the listening endpoint into opt, a pointer
// to one of the typed option values of package tcpip.
func (l *TCPListener) GetSockOpt(opt any) error {
	if err := l.checkOpen("get"); err != nil {
		return err
	}
	if err := l.ep.GetSockOpt(opt); err != nil {
		return opError("get", "tcp", nil, l.Addr(), err)
	}
	return nil
}

func (l *TCPListener) checkOpen(op string) error {
	select {
	case <-l.closing:
		return opError(op, "tcp", nil, l.Addr(), net.ErrClosed)
	default:
		return nil
	}
}

// Addr returns the address listened on, a *net.TCPAddr (0.0.0.0 or :: for
// every local address).
func (l *TCPListener) Addr() net.Addr { return netAddr("tcp", l.laddr) }

// AddrPort returns the address listened on.
func (l *TCPListener) AddrPort() netip.AddrPort { return l.laddr }

// Close stops listening: connections waiting in the accept queue are
// reset, and Accept calls, blocked or later, return an error wrapping
// net.ErrClosed. Connections already accepted are not affected.
func (l *TCPListener) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return opError("close", "tcp", nil, l.Addr(), net.ErrClosed)
	}
	l.closed = true
	close(l.closing)
	l.closeMu.Unlock()
	l.deadline.stop()
	l.ep.Close()
	return nil
}
