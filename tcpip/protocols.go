package tcpip

import (
	"fmt"
	"net/netip"
)

// NetworkProtocolNumber identifies a network protocol. Its values are the
// Ethernet II EtherType numbers (IEEE 802 numbers registry).
type NetworkProtocolNumber uint16

// Network protocols known to ustack.
const (
	IPv4ProtocolNumber NetworkProtocolNumber = 0x0800
	ARPProtocolNumber  NetworkProtocolNumber = 0x0806
	IPv6ProtocolNumber NetworkProtocolNumber = 0x86dd
)

// String returns the protocol name, or the number in hex if it is unknown.
func (n NetworkProtocolNumber) String() string {
	switch n {
	case IPv4ProtocolNumber:
		return "IPv4"
	case ARPProtocolNumber:
		return "ARP"
	case IPv6ProtocolNumber:
		return "IPv6"
	}
	return fmt.Sprintf("ethertype(%#04x)", uint16(n))
}

// TransportProtocolNumber identifies a protocol carried by IP: the IPv4
// Protocol field and the IPv6 Next Header field (IANA "Assigned Internet
// Protocol Numbers").
type TransportProtocolNumber uint8

// Transport protocols known to ustack, including the IPv6 extension headers
// that share the number space.
const (
	IPv6HopByHopProtocolNumber    TransportProtocolNumber = 0
	ICMPv4ProtocolNumber          TransportProtocolNumber = 1
	IGMPProtocolNumber            TransportProtocolNumber = 2
	TCPProtocolNumber             TransportProtocolNumber = 6
	UDPProtocolNumber             TransportProtocolNumber = 17
	IPv6RoutingProtocolNumber     TransportProtocolNumber = 43
	IPv6FragmentProtocolNumber    TransportProtocolNumber = 44
	ICMPv6ProtocolNumber          TransportProtocolNumber = 58
	IPv6NoNextHeaderNumber        TransportProtocolNumber = 59
	IPv6DestinationOptionsNumber  TransportProtocolNumber = 60
	IPv6ExperimentalProtocolLimit TransportProtocolNumber = 255
)

// String returns the protocol name, or its decimal number if it is unknown.
func (n TransportProtocolNumber) String() string {
	switch n {
	case IPv6HopByHopProtocolNumber:
		return "HopByHop"
	case ICMPv4ProtocolNumber:
		return "ICMPv4"
	case IGMPProtocolNumber:
		return "IGMP"
	case TCPProtocolNumber:
		return "TCP"
	case UDPProtocolNumber:
		return "UDP"
	case IPv6RoutingProtocolNumber:
		return "Routing"
	case IPv6FragmentProtocolNumber:
		return "Fragment"
	case ICMPv6ProtocolNumber:
		return "ICMPv6"
	case IPv6NoNextHeaderNumber:
		return "NoNextHeader"
	case IPv6DestinationOptionsNumber:
		return "DestinationOptions"
	}
	return fmt.Sprintf("proto(%d)", uint8(n))
}

// NICID identifies a NIC within one stack. The zero value means "no NIC" or
// "any NIC", depending on the call; stacks never assign it to a NIC.
type NICID int32

// NetworkProtocolFor returns the network protocol that carries addr: IPv4 for
// IPv4 addresses and IPv4-mapped IPv6 addresses, IPv6 for other IPv6
// addresses, and 0 for the zero Addr.
func NetworkProtocolFor(addr netip.Addr) NetworkProtocolNumber {
	switch {
	case addr.Is4(), addr.Is4In6():
		return IPv4ProtocolNumber
	case addr.Is6():
		return IPv6ProtocolNumber
	}
	return 0
}

// ProtocolAddress is an address of a network protocol assigned to a NIC,
// together with its on-link prefix length. Address.Addr() is the address
// itself and Address.Bits() the prefix length; the host bits are kept (a
// netip.Prefix built with netip.PrefixFrom is not masked).
type ProtocolAddress struct {
	Protocol NetworkProtocolNumber
	Address  netip.Prefix
}

// String returns "IPv4 10.0.0.1/24".
func (p ProtocolAddress) String() string {
	return p.Protocol.String() + " " + p.Address.String()
}

// Route is an entry of a stack's route table. Packets to Destination go out
// of NIC, to Gateway if it is valid or straight to the destination (on-link)
// if it is the zero Addr. Among routes whose destinations contain an address
// the longest prefix wins, then the lowest Metric, then the earlier entry.
type Route struct {
	Destination netip.Prefix
	Gateway     netip.Addr
	NIC         NICID
	Metric      uint32
}

// String returns the route in the style of ip-route(8).
func (r Route) String() string {
	s := r.Destination.String()
	if r.Gateway.IsValid() {
		s += " via " + r.Gateway.String()
	}
	s += fmt.Sprintf(" nic %d", r.NIC)
	if r.Metric != 0 {
		s += fmt.Sprintf(" metric %d", r.Metric)
	}
	return s
}
