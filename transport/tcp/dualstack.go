package tcp

import (
	"net/netip"

	"github.com/ustack-go/ustack/tcpip"
)

// Dual stack.
//
// An IPv6 endpoint is dual-stack unless V6OnlyOption is set before it
// gets a port, as Linux's IPv6 sockets with net.ipv6.bindv6only = 0 (the
// default; ipv6(7)). RFC 3493 §3.7 and RFC 4038 §4.2: an IPv6 socket
// reaches an IPv4 node through its IPv4-mapped address ::ffff:a.b.c.d
// (RFC 4291 §2.5.5.2), and the packets on the wire are IPv4.
//
// Inside the endpoint every address is kept unmapped (an IPv4 peer's
// address is an IPv4 netip.Addr, as the IPv4 layer hands packets up and
// as the port manager and demultiplexer normalise registrations), so that
// the protocol that carries a connection is that of its remote address
// (connProtoLocked). Only what the endpoint reports to its user
// (LocalAddress, RemoteAddress, Accept, Read's sender) is mapped back to
// the endpoint's family (mapped).
//
// What a dual-stack endpoint covers follows from its bound address:
//
//   - the wildcard (zero Addr or ::): both families. The port is
//     reserved in IPv6 and IPv4 (Linux: a later IPv4 bind of the port
//     conflicts), a listener is registered in both demultiplexer tables
//     and accepts IPv4 connections, reported with mapped addresses;
//   - a v4-mapped address: IPv4 only (an IPv6 destination is then
//     ErrAddressFamily, EAFNOSUPPORT as Linux); ::ffff:0.0.0.0 is the
//     IPv4 wildcard only;
//   - an IPv6 address: IPv6 only (a v4-mapped destination is then
//     ErrNetworkUnreachable, ENETUNREACH as Linux).
//
// An IPv6 endpoint takes a plain IPv4 address as its mapped form, as UDP
// endpoints do. With V6OnlyOption, a v4-mapped Bind is ErrInvalidArgument (Linux's
// inet6_bind: EINVAL) and a v4-mapped Connect ErrNetworkUnreachable
// (Linux's tcp_v6_connect); IPv4 segments to the port find no endpoint
// and draw an RST as a closed port does.

var netProtosDual = []tcpip.NetworkProtocolNumber{tcpip.IPv6ProtocolNumber, tcpip.IPv4ProtocolNumber}

// netProtos returns the protocols a reservation or registration of the
// endpoint may cover: both for a dual-stack IPv6 endpoint. The port
// manager and demultiplexer narrow the list to the family of the
// addresses given with it, so a dual-stack endpoint bound to a specific
// address only takes that address's family.
func (e *endpoint) netProtos() []tcpip.NetworkProtocolNumber { return e.netProtoSet().slice() }

// netProtoSet is one of the lists netProtos returns, in one byte: a
// reservation keeps it rather than the slice.
type netProtoSet uint8

const (
	netProtoSetV4 netProtoSet = iota
	netProtoSetV6
	netProtoSetDual
)

// slice returns the list s stands for.
func (s netProtoSet) slice() []tcpip.NetworkProtocolNumber {
	switch s {
	case netProtoSetV6:
		return netProtosV6
	case netProtoSetDual:
		return netProtosDual
	}
	return netProtosV4
}

// netProtoSet is netProtos as a netProtoSet.
func (e *endpoint) netProtoSet() netProtoSet {
	if e.netProto == tcpip.IPv4ProtocolNumber {
		return netProtoSetV4
	}
	if e.v6only {
		return netProtoSetV6
	}
	if e.v4only {
		return netProtoSetV4
	}
	return netProtoSetDual
}

// mappedAny reports whether a is ::ffff:0.0.0.0, IPv4's wildcard in
// mapped form. Bound by an IPv6 endpoint it makes the endpoint an IPv4
// wildcard only (Linux's inet6_bind takes it as INADDR_ANY of an IPv4
// socket), while :: covers both families.
func mappedAny(a netip.Addr) bool { return a.Is4In6() && a.Unmap().IsUnspecified() }

// normalizeAddr checks a local address given to Bind for the endpoint's
// family and returns it unmapped, zero for a wildcard.
func (e *endpoint) normalizeAddr(a netip.Addr) (netip.Addr, error) {
	a = a.WithZone("")
	if !a.IsValid() {
		return netip.Addr{}, nil
	}
	switch {
	case e.netProto == tcpip.IPv4ProtocolNumber:
		a = a.Unmap()
		if !a.Is4() {
			return netip.Addr{}, tcpip.ErrAddressFamily
		}
	case a.Is4() || a.Is4In6():
		// RFC 4291 §2.5.5.2: the mapped address names an IPv4 node;
		// binding it makes the endpoint IPv4-only. Linux's
		// inet6_bind refuses it on an IPV6_V6ONLY socket (EINVAL).
		if e.v6only {
			return netip.Addr{}, tcpip.ErrInvalidArgument
		}
		a = a.Unmap()
	}
	if a.IsUnspecified() {
		return netip.Addr{}, nil
	}
	return a, nil
}

// remoteAddrLocked checks a destination given to Connect and returns it
// unmapped; its family is the protocol of the connection.
func (e *endpoint) remoteAddrLocked(a netip.Addr) (netip.Addr, error) {
	a = a.WithZone("")
	if !a.IsValid() {
		return netip.Addr{}, nil
	}
	switch {
	case e.netProto == tcpip.IPv4ProtocolNumber:
		a = a.Unmap()
		if !a.Is4() {
			return netip.Addr{}, tcpip.ErrAddressFamily
		}
	case a.Is4() || a.Is4In6():
		// RFC 3493 §3.7: a mapped destination is reached over
		// IPv4. Linux's tcp_v6_connect: not from an IPV6_V6ONLY
		// socket, nor from one bound to an IPv6 address
		// (ENETUNREACH).
		if e.v6only || (e.bindAddr.IsValid() && !e.bindAddr.Is4()) {
			return netip.Addr{}, tcpip.ErrNetworkUnreachable
		}
		a = a.Unmap()
	default:
		// An endpoint bound to a mapped address is IPv4-only
		// (Linux: EAFNOSUPPORT).
		if e.bindAddr.Is4() || e.v4only {
			return netip.Addr{}, tcpip.ErrAddressFamily
		}
	}
	return a, nil
}

// connProtoLocked returns the network protocol of the connection: the
// family of the remote address, or the endpoint's own before there is one.
func (e *endpoint) connProtoLocked() tcpip.NetworkProtocolNumber {
	if np := tcpip.NetworkProtocolFor(e.id.RemoteAddress); np != 0 {
		return np
	}
	return e.netProto
}

// setV6OnlyLocked implements SetSockOpt(V6OnlyOption). Linux's
// do_ipv6_setsockopt: an IPv4 socket has no IPV6_V6ONLY (ENOPROTOOPT),
// and an IPv6 socket that has a port cannot change it (EINVAL).
func (e *endpoint) setV6OnlyLocked(v bool) error {
	if e.netProto != tcpip.IPv6ProtocolNumber {
		return tcpip.ErrUnknownProtocolOption
	}
	if e.bound || e.registered || e.state != StateClosed || e.everConn {
		return tcpip.ErrInvalidEndpointState
	}
	e.v6only = v
	return nil
}
