package udp

import "github.com/ustack-go/ustack/tcpip"

// familyMismatch is the error for a destination reached over np from a
// dual-stack endpoint bound to an address of the other family. Linux's
// __ip6_datagram_connect and udpv6_sendmsg: an endpoint bound to an IPv6
// address cannot reach an IPv4-mapped destination (ENETUNREACH, as from
// an IPV6_V6ONLY socket), and one bound to an IPv4-mapped address, which
// makes it IPv4-only (RFC 4291 §2.5.5.2), cannot reach an IPv6 one
// (EAFNOSUPPORT).
func familyMismatch(np tcpip.NetworkProtocolNumber) error {
	if np == tcpip.IPv4ProtocolNumber {
		return tcpip.ErrNetworkUnreachable
	}
	return tcpip.ErrAddressFamily
}
