// Package gonet adapts ustack's endpoints to package net's interfaces, so
// that code written for the operating system's sockets runs over a ustack
// Stack: a TCPConn is a net.Conn and a TCPListener a net.Listener, a UDPConn
// is a net.PacketConn, and a net.Conn once connected, and Ping sends ICMP
// echo requests as ping(8) does.
//
//	conn, err := gonet.DialUDP(s, netip.AddrPort{}, netip.MustParseAddrPort("192.0.2.2:7"), 0)
//	…
//	conn.Write([]byte("hello"))
//	n, err := conn.Read(buf)
//
// Streams work the same way, and whatever runs over a net.Listener or a
// net.Conn runs over them: net/http, crypto/tls.
//
//	l, err := gonet.ListenTCP(s, netip.MustParseAddrPort("0.0.0.0:80"), 0)
//	…
//	go http.Serve(l, handler)
//
//	conn, err := gonet.DialTCP(s, netip.MustParseAddrPort("192.0.2.2:80"))
//
// A stream's Write blocks until the endpoint has taken the whole buffer;
// Read returns io.EOF at the end of the stream, and CloseWrite and
// CloseRead shut one direction down (a half-close). DialContextTCP aborts
// the handshake when its context ends.
//
// # Blocking
//
// Endpoints never block: they return tcpip.ErrWouldBlock and report
// readiness through their WaitQueue. The adapters block the calling
// goroutine instead, as package net does: a call that would block registers
// a tcpip.ChannelWaiter for the events it needs on the endpoint's WaitQueue,
// retries the operation each time it is notified, and unregisters when it
// returns. It returns early when its deadline passes or the adapter is
// closed. An adapter holds no goroutine of its own: a blocked call waits on
// its caller's goroutine, and a pending deadline is a timer of package
// time, which Close stops.
//
// # Deadlines
//
// SetDeadline, SetReadDeadline and SetWriteDeadline behave as net.Conn's: a
// deadline applies to calls in progress and to later ones, a time already
// passed makes them return at once (even if data is waiting), and
// extending or clearing a deadline before it passes keeps blocked calls
// waiting. A call that times out returns a *net.OpError wrapping
// os.ErrDeadlineExceeded, whose Timeout method reports true.
//
// Deadlines are wall-clock times read with package time, not with the
// stack's Clock: they come from code written against package net. Ping,
// whose timeouts and round-trip times belong to the protocol, measures
// them on the stack's Clock, so that it runs under a manual clock too.
//
// # Errors
//
// Every error is a *net.OpError whose Net is "tcp" or "udp" (or
// "ip4:icmp" and "ip6:ipv6-icmp" for Ping), whose Source and Addr are the
// local and remote addresses as package net types, and whose Err is the
// cause: one of ustack's tcpip errors, which errors.Is matches against the
// syscall.Errno a socket would return (errors.Is(err,
// syscall.ECONNREFUSED)), os.ErrDeadlineExceeded, net.ErrClosed after
// Close, or the context's error for calls that take one. The end of a
// stream is the exception: Read returns io.EOF itself, as package net does.
//
// # Addresses
//
// The API takes netip addresses. The network protocol argument of
// DialContextTCP, ListenTCP, DialUDP and ListenUDP is
// tcpip.IPv4ProtocolNumber or IPv6ProtocolNumber, or 0 to pick it from the
// addresses: an IPv4 address makes an IPv4 endpoint; an IPv6 address, an
// IPv4-mapped one (::ffff:a.b.c.d) or none at all on a stack running IPv6
// make a dual-stack IPv6 endpoint, which reaches IPv4 peers over IPv4 and
// reports their addresses IPv4-mapped, as package net's IPv6 sockets do
// (so a listener on [::] serves IPv4 clients too). An IPv6 zone (fe80::1%eth0) names the NIC by its name or its
// number. LocalAddr and RemoteAddr return *net.TCPAddr and *net.UDPAddr
// values built from the netip addresses.
package gonet
