package gonet

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// UDPConn is a UDP endpoint of a stack behind package net's interfaces: a
// net.PacketConn always, and a net.Conn when it was made by DialUDP (it is
// connected: Read and Write exchange datagrams with the one peer). Its
// methods are safe for concurrent use and block the calling goroutine until
// they can complete, their deadline passes (os.ErrDeadlineExceeded) or the
// UDPConn is closed (net.ErrClosed).
//
// Every error is a *net.OpError with Net "udp" wrapping the cause: a
// tcpip error, which errors.Is also matches against its syscall.Errno
// (errors.Is(err, syscall.ECONNREFUSED) after an ICMP port unreachable on a
// connected UDPConn, reported by the next Read or Write as on Linux),
// os.ErrDeadlineExceeded, net.ErrClosed, or net.ErrWriteToConnected.
type UDPConn struct {
	s        *stack.Stack
	ep       tcpip.Endpoint
	netProto tcpip.NetworkProtocolNumber

	// Fixed at creation: the endpoint's addresses after Bind and
	// Connect, and whether it is connected.
	laddr     netip.AddrPort
	raddr     netip.AddrPort
	connected bool

	readDeadline  *deadline
	writeDeadline *deadline

	closeMu sync.Mutex
	closed  bool          // guarded by closeMu
	closing chan struct{} // closed by Close, before the endpoint
}

var (
	_ net.Conn       = (*UDPConn)(nil)
	_ net.PacketConn = (*UDPConn)(nil)
)

// DialUDP returns a UDPConn connected to raddr, bound to laddr (the zero
// AddrPort: any local address and an ephemeral port; a port of 0: an
// ephemeral port). netProto is tcpip.IPv4ProtocolNumber or
// IPv6ProtocolNumber; 0 picks raddr's family. The stack must run UDP.
//
// Connecting a UDP endpoint sends nothing: it finds the route to raddr and
// fixes the endpoint's peer, so that DialUDP fails only when there is no
// route (ENETUNREACH) or the addresses are unusable.
func DialUDP(s *stack.Stack, laddr, raddr netip.AddrPort, netProto tcpip.NetworkProtocolNumber) (*UDPConn, error) {
	return DialContextUDP(context.Background(), s, laddr, raddr, netProto)
}

// DialContextUDP is DialUDP with a context, which can cancel the dial before
// it completes.
func DialContextUDP(ctx context.Context, s *stack.Stack, laddr, raddr netip.AddrPort, netProto tcpip.NetworkProtocolNumber) (*UDPConn, error) {
	netProto = netProtoFor(s, netProto, raddr, laddr)
	fail := func(err error) (*UDPConn, error) {
		return nil, opError("dial", "udp", netAddr("udp", laddr), netAddr("udp", raddr), err)
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
	c, err := newUDPConn(s, netProto)
	if err != nil {
		return fail(err)
	}
	if laddr.Addr().IsValid() || laddr.Port() != 0 {
		la, err := fullAddress(s, laddr, netProto)
		if err == nil {
			err = c.ep.Bind(la)
		}
		if err != nil {
			c.ep.Close()
			return fail(err)
		}
	}
	err = c.ep.Connect(ra)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		c.ep.Close()
		return fail(err)
	}
	c.connected = true
	c.fixAddresses()
	return c, nil
}

// ListenUDP returns an unconnected UDPConn bound to laddr: a zero or
// unspecified address means every local address of the family, a port of 0
// an ephemeral port. netProto is tcpip.IPv4ProtocolNumber or
// IPv6ProtocolNumber; 0 picks laddr's family, or IPv6 (dual-stack) if the
// stack runs IPv6 and laddr has no address.
func ListenUDP(s *stack.Stack, laddr netip.AddrPort, netProto tcpip.NetworkProtocolNumber) (*UDPConn, error) {
	netProto = netProtoFor(s, netProto, laddr)
	fail := func(err error) (*UDPConn, error) {
		// As package net's: the address listened on is the Addr.
		return nil, opError("listen", "udp", nil, netAddr("udp", laddr), err)
	}
	la, err := fullAddress(s, laddr, netProto)
	if err != nil {
		return fail(err)
	}
	c, err := newUDPConn(s, netProto)
	if err != nil {
		return fail(err)
	}
	if err := c.ep.Bind(la); err != nil {
		c.ep.Close()
		return fail(err)
	}
	c.fixAddresses()
	return c, nil
}

func newUDPConn(s *stack.Stack, netProto tcpip.NetworkProtocolNumber) (*UDPConn, error) {
	ep, err := s.NewEndpoint(tcpip.UDPProtocolNumber, netProto)
	if err != nil {
		return nil, err
	}
	return &UDPConn{
		s:             s,
		ep:            ep,
		netProto:      netProto,
		readDeadline:  newDeadline(),
		writeDeadline: newDeadline(),
		closing:       make(chan struct{}),
	}, nil
}

// fixAddresses records the endpoint's addresses once Bind and Connect are
// done; they do not change afterwards.
func (c *UDPConn) fixAddresses() {
	if la, err := c.ep.LocalAddress(); err == nil {
		c.laddr = endpointAddr(la, c.netProto)
	}
	if c.connected {
		if ra, err := c.ep.RemoteAddress(); err == nil {
			c.raddr = ra.AddrPort()
		}
	}
}

// LocalAddr returns the local address, a *net.UDPAddr (0.0.0.0 or :: when
// bound to every local address).
func (c *UDPConn) LocalAddr() net.Addr { return netAddr("udp", c.laddr) }

// RemoteAddr returns the peer's address, a *net.UDPAddr, or nil if the
// UDPConn is not connected.
func (c *UDPConn) RemoteAddr() net.Addr { return netAddr("udp", c.raddr) }

// LocalAddrPort returns the local address.
func (c *UDPConn) LocalAddrPort() netip.AddrPort { return c.laddr }

// RemoteAddrPort returns the peer's address, the zero AddrPort if the
// UDPConn is not connected.
func (c *UDPConn) RemoteAddrPort() netip.AddrPort { return c.raddr }

// Read reads one datagram into b and returns its length; a datagram longer
// than b is truncated to len(b) and the rest is lost, as with package net.
// On an unconnected UDPConn it reads datagrams from any sender.
func (c *UDPConn) Read(b []byte) (int, error) {
	n, _, err := c.read(b, false)
	return n, err
}

// ReadFrom reads one datagram into b and returns its length and sender, a
// *net.UDPAddr.
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.read(b, true)
	if err != nil {
		return n, nil, err
	}
	return n, netAddr("udp", from), nil
}

// ReadFromUDPAddrPort reads one datagram into b and returns its length and
// sender.
func (c *UDPConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.read(b, true)
}

func (c *UDPConn) read(b []byte, needAddr bool) (int, netip.AddrPort, error) {
	var res tcpip.ReadResult
	opts := tcpip.ReadOptions{NeedRemoteAddr: needAddr}
	err := block(context.Background(), c.ep, tcpip.EventIn|tcpip.EventErr|tcpip.EventHUp, c.readDeadline.expired(), c.closing, func() error {
		var err error
		res, err = c.ep.Read(b, opts)
		if err == tcpip.ErrClosedForReceive {
			// The endpoint was closed under the UDPConn (the
			// stack closed): datagrams have no end of stream.
			err = net.ErrClosed
		}
		return err
	})
	if err != nil {
		return 0, netip.AddrPort{}, c.fail("read", c.raddr, err)
	}
	return res.N, res.RemoteAddr.AddrPort(), nil
}

// Write sends b as one datagram to the peer of a connected UDPConn; an
// unconnected one refuses it (EDESTADDRREQ).
func (c *UDPConn) Write(b []byte) (int, error) {
	return c.write(b, nil, c.raddr)
}

// WriteTo sends b as one datagram to addr, a *net.UDPAddr. A connected
// UDPConn refuses it with net.ErrWriteToConnected, as package net does.
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.fail("write", netip.AddrPort{}, syscall.EINVAL)
	}
	return c.WriteToUDPAddrPort(b, ua.AddrPort())
}

// WriteToUDPAddrPort sends b as one datagram to addr. A connected UDPConn
// refuses it with net.ErrWriteToConnected, as package net does.
func (c *UDPConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.connected {
		return 0, c.fail("write", addr, net.ErrWriteToConnected)
	}
	to, err := fullAddress(c.s, addr, c.netProto)
	if err != nil {
		return 0, c.fail("write", addr, err)
	}
	return c.write(b, &to, addr)
}

func (c *UDPConn) write(b []byte, to *tcpip.FullAddress, dst netip.AddrPort) (int, error) {
	var n int
	opts := tcpip.WriteOptions{To: to}
	// A UDP endpoint refuses a datagram with ErrWouldBlock only while
	// its send buffer is full, and signals EventOut when half of it was
	// paid back: the write waits, as a blocking Linux UDP socket does
	// (a full link queue is ErrNoBufferSpace, ENOBUFS).
	err := block(context.Background(), c.ep, tcpip.EventOut|tcpip.EventErr|tcpip.EventHUp, c.writeDeadline.expired(), c.closing, func() error {
		var err error
		n, err = c.ep.Write(b, opts)
		return err
	})
	if err != nil {
		return 0, c.fail("write", dst, err)
	}
	return n, nil
}

// fail wraps err for an operation op on the UDPConn with peer addr. An
// endpoint error that is the consequence of a concurrent Close is
// reported as net.ErrClosed.
func (c *UDPConn) fail(op string, addr netip.AddrPort, err error) error {
	select {
	case <-c.closing:
		err = net.ErrClosed
	default:
	}
	return opError(op, "udp", c.LocalAddr(), netAddr("udp", addr), err)
}

// SetDeadline sets the read and write deadlines: see SetReadDeadline and
// SetWriteDeadline.
func (c *UDPConn) SetDeadline(t time.Time) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	c.readDeadline.set(t)
	c.writeDeadline.set(t)
	return nil
}

// SetReadDeadline sets when reads time out: once t has passed, blocked and
// future reads fail with an error wrapping os.ErrDeadlineExceeded (whose
// Timeout is true), until a new deadline is set. The zero Time means no
// deadline; a time in the past makes blocked reads return at once.
func (c *UDPConn) SetReadDeadline(t time.Time) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	c.readDeadline.set(t)
	return nil
}

// SetWriteDeadline sets when writes time out, as SetReadDeadline does for
// reads. A UDP write blocks only while its send buffer (SO_SNDBUF) is full
// of datagrams not yet paid back: those the link has not yet let go of,
// and over an in-memory link (link/pipe, link/loopback) those the
// receiving socket has not yet read.
func (c *UDPConn) SetWriteDeadline(t time.Time) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	c.writeDeadline.set(t)
	return nil
}

// SetReadBuffer sets the endpoint's receive buffer size (SO_RCVBUF).
func (c *UDPConn) SetReadBuffer(bytes int) error {
	return c.SetSockOpt(tcpip.ReceiveBufferSizeOption(bytes))
}

// SetWriteBuffer sets the endpoint's send buffer size (SO_SNDBUF).
func (c *UDPConn) SetWriteBuffer(bytes int) error {
	return c.SetSockOpt(tcpip.SendBufferSizeOption(bytes))
}

// SetSockOpt sets an option of the endpoint, one of the typed option values
// of package tcpip (tcpip.BroadcastOption(true), tcpip.TTLOption(5), …).
func (c *UDPConn) SetSockOpt(opt any) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	if err := c.ep.SetSockOpt(opt); err != nil {
		return c.fail("set", c.raddr, err)
	}
	return nil
}

// GetSockOpt reads an option of the endpoint into opt, a pointer to one of
// the typed option values of package tcpip.
func (c *UDPConn) GetSockOpt(opt any) error {
	if err := c.checkOpen("get"); err != nil {
		return err
	}
	if err := c.ep.GetSockOpt(opt); err != nil {
		return c.fail("get", c.raddr, err)
	}
	return nil
}

func (c *UDPConn) checkOpen(op string) error {
	select {
	case <-c.closing:
		return opError(op, "udp", c.LocalAddr(), c.RemoteAddr(), net.ErrClosed)
	default:
		return nil
	}
}

// Close closes the endpoint and frees its port. Calls blocked in Read,
// Write and the like return an error wrapping net.ErrClosed; so do calls
// made afterwards, a second Close included.
func (c *UDPConn) Close() error {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return opError("close", "udp", c.LocalAddr(), c.RemoteAddr(), net.ErrClosed)
	}
	c.closed = true
	close(c.closing)
	c.closeMu.Unlock()
	c.readDeadline.stop()
	c.writeDeadline.stop()
	c.ep.Close()
	return nil
}
