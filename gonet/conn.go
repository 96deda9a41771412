package gonet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// This file holds what every adapter of the package shares: blocking on an
// endpoint's WaitQueue, translating addresses between netip and package net,
// and building the *net.OpError values that package net's callers expect.

// block calls try until it returns something other than
// tcpip.ErrWouldBlock, waiting between attempts for one of the events in
// mask on ep's WaitQueue. It gives up with os.ErrDeadlineExceeded once
// expired is closed, with net.ErrClosed once closing is closed, and with
// ctx.Err() once ctx is done; all three are checked before the first
// attempt, so that a deadline already passed fails the call at once, as
// package net does.
//
// The waiter is registered only when the first attempt would block, and
// before the second, so that an event between an attempt and the wait is
// never lost: the ChannelWaiter keeps one notification pending.
func block(ctx context.Context, ep tcpip.Endpoint, mask tcpip.Events, expired, closing <-chan struct{}, try func() error) error {
	select {
	case <-closing:
		return net.ErrClosed
	default:
	}
	select {
	case <-expired:
		return os.ErrDeadlineExceeded
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := try()
	if err != tcpip.ErrWouldBlock {
		return err
	}
	w := getWaiter()
	wq := ep.WaitQueue()
	h := wq.Register(w, mask)
	defer putWaiter(wq, h, w)
	for {
		if err := try(); err != tcpip.ErrWouldBlock {
			return err
		}
		select {
		case <-w:
		case <-expired:
			return os.ErrDeadlineExceeded
		case <-closing:
			return net.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waiters holds the ChannelWaiters of calls that blocked, for reuse: a
// stream that moves data faster than its peer blocks on nearly every
// call, and a new channel each time was most of the allocations of a bulk
// transfer. It is a bounded free list and not a sync.Pool, which every
// other garbage collection empties: the calls blocking after a collection
// would allocate their channels again. It holds at most maxIdleWaiters,
// as many as calls were blocked at once at most.
var waiters struct {
	sync.Mutex
	free []tcpip.ChannelWaiter
}

// maxIdleWaiters bounds the waiters kept for reuse (about 100 bytes each).
const maxIdleWaiters = 256

func getWaiter() tcpip.ChannelWaiter {
	waiters.Lock()
	if k := len(waiters.free); k > 0 {
		w := waiters.free[k-1]
		waiters.free[k-1] = nil
		waiters.free = waiters.free[:k-1]
		waiters.Unlock()
		return w
	}
	waiters.Unlock()
	return tcpip.NewChannelWaiter()
}

// putWaiter unregisters w (registered on wq as h) and keeps it for reuse.
// Once unregistered, nothing notifies w any more (Notify runs under the
// queue's lock, which Unregister takes), so emptying it then leaves no
// stale notification for its next user.
func putWaiter(wq *tcpip.WaitQueue, h tcpip.WaitHandle, w tcpip.ChannelWaiter) {
	wq.Unregister(h)
	select {
	case <-w:
	default:
	}
	waiters.Lock()
	if len(waiters.free) < maxIdleWaiters {
		waiters.free = append(waiters.free, w)
	}
	waiters.Unlock()
}

// datagramWriteError returns the error of a datagram endpoint's Write for
// block: tcpip.ErrWouldBlock from an endpoint that is writable means that
// the layers below had no room for the datagram (a link's full queue), and
// no EventOut will follow, so that waiting would hang. A socket reports
// this as ENOBUFS, and the datagram is lost.
func datagramWriteError(ep tcpip.Endpoint, err error) error {
	if err == tcpip.ErrWouldBlock && ep.Readiness(tcpip.EventOut) != 0 {
		return tcpip.ErrNoBufferSpace
	}
	return err
}

// netAddr converts ap to the net.Addr of network ("udp" or "tcp"), or nil
// if ap is not valid, so that a missing address is a nil interface and not
// an interface holding a nil pointer.
func netAddr(network string, ap netip.AddrPort) net.Addr {
	if !ap.Addr().IsValid() {
		return nil
	}
	switch network {
	case "tcp":
		return net.TCPAddrFromAddrPort(ap)
	default:
		return net.UDPAddrFromAddrPort(ap)
	}
}

// unspecified returns the wildcard address of a network protocol.
func unspecified(netProto tcpip.NetworkProtocolNumber) netip.Addr {
	if netProto == tcpip.IPv6ProtocolNumber {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// endpointAddr returns the address a of an endpoint of netProto as an
// AddrPort; a wildcard address (the zero Addr) becomes the unspecified
// address of the family, as package net reports it (0.0.0.0:7, [::]:7).
func endpointAddr(a tcpip.FullAddress, netProto tcpip.NetworkProtocolNumber) netip.AddrPort {
	addr := a.Addr
	if !addr.IsValid() {
		addr = unspecified(netProto)
	}
	return netip.AddrPortFrom(addr, a.Port)
}

// fullAddress converts ap to the address an endpoint of netProto takes: the
// family's unspecified address becomes the zero Addr (any local address),
// an IPv4-mapped address given to an IPv4 endpoint is unmapped, and an IPv6
// zone names the NIC, by name or by number (fe80::1%eth0, fe80::1%2).
func fullAddress(s *stack.Stack, ap netip.AddrPort, netProto tcpip.NetworkProtocolNumber) (tcpip.FullAddress, error) {
	a := ap.Addr()
	if netProto == tcpip.IPv4ProtocolNumber {
		a = a.Unmap()
	}
	var nic tcpip.NICID
	if zone := a.Zone(); zone != "" {
		if id, ok := s.NICByName(zone); ok {
			nic = id
		} else if n, err := strconv.ParseUint(zone, 10, 31); err == nil && s.HasNIC(tcpip.NICID(n)) {
			nic = tcpip.NICID(n)
		} else {
			return tcpip.FullAddress{}, tcpip.ErrUnknownDevice
		}
		a = a.WithZone("")
	}
	if a.IsUnspecified() && a == unspecified(netProto) {
		a = netip.Addr{}
	}
	return tcpip.FullAddress{NIC: nic, Addr: a, Port: ap.Port()}, nil
}

// netProtoFor picks the network protocol of a new endpoint when the caller
// gave none (0): the family of the first valid address of addrs, else IPv6
// if the stack runs it (a dual-stack endpoint), else IPv4. An
// IPv4-mapped address picks IPv6 (a dual-stack endpoint whose addresses
// are reported mapped, as package net's IPv6 sockets report them) if the
// stack runs IPv6, else IPv4, whose endpoint takes it unmapped (package
// net, too, uses an IPv4 socket for it on a host without IPv6).
func netProtoFor(s *stack.Stack, netProto tcpip.NetworkProtocolNumber, addrs ...netip.AddrPort) tcpip.NetworkProtocolNumber {
	if netProto != 0 {
		return netProto
	}
	hasV6 := s.NetworkProtocolInstance(tcpip.IPv6ProtocolNumber) != nil
	family := func(a netip.Addr) tcpip.NetworkProtocolNumber {
		if a.Is4() || (a.Is4In6() && !hasV6) {
			return tcpip.IPv4ProtocolNumber
		}
		return tcpip.IPv6ProtocolNumber
	}
	for _, ap := range addrs {
		if a := ap.Addr(); a.IsValid() && !a.IsUnspecified() {
			return family(a)
		}
	}
	for _, ap := range addrs {
		if a := ap.Addr(); a.IsValid() {
			return family(a)
		}
	}
	if hasV6 {
		return tcpip.IPv6ProtocolNumber
	}
	return tcpip.IPv4ProtocolNumber
}

// opError wraps err as package net does. err is a tcpip error (which
// errors.Is matches against its syscall.Errno), os.ErrDeadlineExceeded (a
// timeout: the OpError's Timeout() is true), net.ErrClosed, or another
// error of package net.
func opError(op, network string, source, addr net.Addr, err error) error {
	if err == nil {
		return nil
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return err
	}
	return &net.OpError{Op: op, Net: network, Source: source, Addr: addr, Err: err}
}
