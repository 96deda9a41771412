package stack

import (
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// NetworkProtocolFactory builds a network protocol (IPv4, IPv6, ARP) for
// one stack; Options.NetworkProtocols lists them.
type NetworkProtocolFactory func(*Stack) NetworkProtocol

// TransportProtocolFactory builds a transport protocol (TCP, UDP, ICMP
// echo) for one stack; Options.TransportProtocols lists them.
type TransportProtocolFactory func(*Stack) TransportProtocol

// NetworkProtocol is a network protocol of one stack.
type NetworkProtocol interface {
	// Number returns the protocol's EtherType.
	Number() tcpip.NetworkProtocolNumber

	// NewEndpoint returns the protocol's endpoint on one NIC. Inbound
	// transport packets go to d.
	NewEndpoint(nic NetworkInterface, d TransportDispatcher) NetworkEndpoint

	// SetOption and Option set and read a protocol option, given as one
	// of the protocol's typed option values (by pointer for Option).
	// Unknown options give tcpip.ErrUnknownProtocolOption.
	SetOption(opt any) error
	Option(opt any) error

	// Close stops the protocol's timers and frees its state. The stack
	// calls it once, after every endpoint is closed.
	Close()
}

// NetworkEndpoint is a network protocol's instance on one NIC.
type NetworkEndpoint interface {
	// Enable starts the endpoint (the NIC came up); Disable stops it.
	Enable() error
	Disable()

	// HandlePacket processes an inbound packet whose link header (if any)
	// was consumed. It owns pkt.
	HandlePacket(pkt *buffer.Packet)

	// WritePacket adds the network header to pkt, which holds a transport
	// header and payload, and sends it along r. It owns pkt.
	WritePacket(r *Route, params NetworkHeaderParams, pkt *buffer.Packet) error

	// WriteHeaderIncludedPacket sends a packet whose network header the
	// caller built (raw endpoints with IP_HDRINCL). It owns pkt.
	WriteHeaderIncludedPacket(r *Route, pkt *buffer.Packet) error

	// MaxHeaderLength is the room needed in front of the transport header
	// for the network header and every header below it.
	MaxHeaderLength() int

	// MTU is the largest transport packet (transport header included)
	// that fits one network packet on this NIC without fragmentation.
	MTU() uint32

	// AddressAdded and AddressRemoved tell the endpoint that the NIC's
	// addresses of its protocol changed (to send gratuitous ARP, start
	// DAD, join the solicited-node group, …).
	AddressAdded(addr netip.Prefix)
	AddressRemoved(addr netip.Prefix)

	// JoinGroup and LeaveGroup change the NIC's membership of a multicast
	// group; the protocol sends reports (IGMP, MLD). Joins are counted:
	// the group is left when every join is undone.
	JoinGroup(group netip.Addr) error
	LeaveGroup(group netip.Addr) error
	IsInGroup(group netip.Addr) bool

	// Close frees the endpoint (the NIC is being removed).
	Close()
}

// NetworkHeaderParams are the per-packet inputs of a network header.
type NetworkHeaderParams struct {
	Protocol tcpip.TransportProtocolNumber
	TTL      uint8 // 0: the route's default
	// TOS is IPv4's TOS byte or IPv6's Traffic Class: DSCP in the top
	// six bits, the ECN field (RFC 3168 §5, header.ECNECT0, …) in the
	// low two, which a transport using ECN sets per packet.
	TOS uint8
	// DF sets IPv4's don't-fragment bit (path MTU discovery).
	DF bool
}

// LinkAddressResolver is implemented by the network endpoints that resolve
// next-hop addresses to link addresses for their protocol: ARP for IPv4,
// the IPv6 endpoint (NDP) for IPv6. The NIC's neighbour cache calls it.
type LinkAddressResolver interface {
	// ResolvedProtocol is the protocol whose addresses it resolves.
	ResolvedProtocol() tcpip.NetworkProtocolNumber

	// LinkAddressRequest sends one solicitation for target from local
	// (zero Addr: the endpoint picks a source), to remoteLinkAddr
	// (unicast probe of a known entry) or to the broadcast/solicited-node
	// address if it is zero.
	LinkAddressRequest(target, local netip.Addr, remoteLinkAddr tcpip.LinkAddress) error

	// ResolveStaticAddress returns the link address of addresses that
	// need no solicitation (broadcast, multicast).
	ResolveStaticAddress(addr netip.Addr) (tcpip.LinkAddress, bool)
}

// NetworkInterface is a NIC as the network endpoints see it.
type NetworkInterface interface {
	ID() tcpip.NICID
	Name() string
	Enabled() bool
	IsLoopback() bool
	Promiscuous() bool
	Spoofing() bool
	LinkAddress() tcpip.LinkAddress
	// MTU is the link's MTU.
	MTU() uint32
	// MaxLinkHeaderLength is the link's MaxHeaderLength.
	MaxLinkHeaderLength() int
	// Capabilities are the link's capabilities (checksum offload, …).
	Capabilities() LinkCapabilities
	Stats() *tcpip.NICStats
	Stack() *Stack

	// Addresses.
	HasAddress(proto tcpip.NetworkProtocolNumber, addr netip.Addr) bool
	PrimaryAddress(proto tcpip.NetworkProtocolNumber, remote netip.Addr) (netip.Prefix, bool)
	Addresses(proto tcpip.NetworkProtocolNumber) []AddressInfo

	// WritePacket hands a network packet to the link: it resolves
	// nextHop through the neighbour cache (queueing pkt while resolving)
	// unless the link needs no resolution. It owns pkt.
	WritePacket(nextHop netip.Addr, proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) error

	// WritePacketToLinkAddress sends a network packet to a known link
	// address (ARP replies, NDP, broadcasts). It owns pkt.
	WritePacketToLinkAddress(dst tcpip.LinkAddress, proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) error

	// Neighbors returns the neighbour cache of a protocol's addresses.
	Neighbors(proto tcpip.NetworkProtocolNumber) *NeighborCache
}

// NetworkPacketInfo describes an inbound network packet to the transport
// layer.
type NetworkPacketInfo struct {
	NIC         tcpip.NICID
	Source      netip.Addr
	Destination netip.Addr
	// LocalAddressBroadcast / Multicast: the destination was a broadcast
	// or multicast address.
	LocalAddressBroadcast bool
	Multicast             bool
	// TTL is IPv4's TTL or IPv6's Hop Limit.
	TTL uint8
	// TOS is IPv4's TOS byte or IPv6's Traffic Class; its low two bits
	// are the ECN field (RFC 3168 §5) a transport reads for CE marks.
	TOS uint8
}

// TransportDispatcher delivers inbound transport packets: the stack
// implements it for the network endpoints.
type TransportDispatcher interface {
	// DeliverTransportPacket delivers pkt, whose network header was
	// consumed, to the matching transport endpoint(s), raw endpoints
	// included. It owns pkt and says what became of it, so that the
	// network layer can answer with ICMP.
	DeliverTransportPacket(proto tcpip.TransportProtocolNumber, info NetworkPacketInfo, pkt *buffer.Packet) TransportPacketDisposition

	// DeliverTransportError delivers an ICMP error about a packet this
	// stack sent. orig holds the network and transport headers of the
	// packet in error as quoted by the ICMP message (pkt.NetworkHeader
	// is the quoted IP header, the payload starts at the transport
	// header). It owns orig.
	DeliverTransportError(proto tcpip.TransportProtocolNumber, local, remote netip.Addr, terr TransportError, orig *buffer.Packet)
}

// TransportPacketDisposition says what the transport layer did with an
// inbound packet.
type TransportPacketDisposition int

// Dispositions of inbound transport packets.
const (
	TransportPacketHandled TransportPacketDisposition = iota
	// TransportPacketProtocolUnreachable: no transport protocol for the
	// number (ICMP protocol unreachable, RFC 1122 §3.2.2.1).
	TransportPacketProtocolUnreachable
	// TransportPacketDestinationPortUnreachable: the protocol has no
	// endpoint for the port (ICMP port unreachable).
	TransportPacketDestinationPortUnreachable
)

// TransportErrorKind classifies an ICMP error for transports.
type TransportErrorKind int

// Kinds of transport errors.
const (
	// ErrorPortUnreachable: ICMP port unreachable (ECONNREFUSED).
	ErrorPortUnreachable TransportErrorKind = iota + 1
	// ErrorProtocolUnreachable: (ENOPROTOOPT in Linux; ECONNREFUSED for
	// connected sockets).
	ErrorProtocolUnreachable
	// ErrorNetworkUnreachable, ErrorHostUnreachable: EN/EHOSTUNREACH.
	ErrorNetworkUnreachable
	ErrorHostUnreachable
	// ErrorPacketTooBig: fragmentation needed / packet too big; Info is
	// the next-hop MTU.
	ErrorPacketTooBig
	// ErrorTTLExceeded: time exceeded in transit.
	ErrorTTLExceeded
	// ErrorParameterProblem.
	ErrorParameterProblem
	// ErrorAdministrativelyProhibited: EHOSTUNREACH (Linux: EACCES).
	ErrorAdministrativelyProhibited
)

// TransportError is an ICMP error as transports see it.
type TransportError struct {
	Kind TransportErrorKind
	// Info is the MTU of ErrorPacketTooBig, the pointer of a parameter
	// problem.
	Info uint32
	// Err is the error an endpoint reports for it.
	Err error
	// Source is the address of the node that sent the ICMP message.
	Source netip.Addr
	// Local says the error was found by this stack itself (the next hop
	// could not be resolved) rather than reported by an ICMP message.
	Local bool
}

// TransportProtocol is a transport protocol of one stack.
type TransportProtocol interface {
	// Number returns the protocol number.
	Number() tcpip.TransportProtocolNumber

	// NewEndpoint returns a new endpoint of the protocol.
	NewEndpoint(netProto tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error)

	// MinimumPacketSize is the smallest valid transport header.
	MinimumPacketSize() int

	// ParsePorts returns the ports of a transport header (at least
	// MinimumPacketSize bytes).
	ParsePorts(hdr []byte) (src, dst uint16, err error)

	// HandleUnknownDestinationPacket handles a packet that matched no
	// endpoint (TCP answers with RST). It owns pkt.
	HandleUnknownDestinationPacket(id TransportEndpointID, info NetworkPacketInfo, pkt *buffer.Packet) TransportPacketDisposition

	// SetOption and Option set and read protocol options.
	SetOption(opt any) error
	Option(opt any) error

	// Close stops the protocol (its timers, its pools) once all its
	// endpoints are closed.
	Close()
}

// TransportEndpointID is the 4-tuple that identifies a transport endpoint,
// from the endpoint's point of view. Fields that are zero are wildcards:
// a listening endpoint has no remote address or port. (The ports come
// last so that they share one word: every connection holds an ID.)
type TransportEndpointID struct {
	LocalAddress  netip.Addr
	RemoteAddress netip.Addr
	LocalPort     uint16
	RemotePort    uint16
}

// TransportEndpoint is what the stack's demultiplexer delivers to: the
// protocol side of an endpoint.
type TransportEndpoint interface {
	// UniqueID identifies the endpoint (Stack.UniqueID).
	UniqueID() uint64

	// HandlePacket processes an inbound packet for id; it owns pkt.
	HandlePacket(id TransportEndpointID, info NetworkPacketInfo, pkt *buffer.Packet)

	// HandleError processes an ICMP error about a packet this endpoint
	// sent; it owns orig.
	HandleError(terr TransportError, orig *buffer.Packet)

	// Abort closes the endpoint at once (stack Close, NIC removal of a
	// bound device).
	Abort()
}

// RawTransportEndpoint receives copies of every packet of its protocol
// (raw IP sockets).
type RawTransportEndpoint interface {
	// HandlePacket processes a clone of an inbound packet; it owns pkt.
	HandlePacket(info NetworkPacketInfo, pkt *buffer.Packet)
	// Abort closes the endpoint at once.
	Abort()
}

// PacketEndpoint receives copies of frames a NIC sends and receives
// (AF_PACKET sockets).
type PacketEndpoint interface {
	// HandlePacket processes a clone of a frame; pkt.LinkHeader holds the
	// link header. It owns pkt.
	HandlePacket(nic tcpip.NICID, proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet)
}

// PacketEndpointAborter is a PacketEndpoint that Stack.Close closes at
// once, as it aborts transport and raw endpoints, so that its blocked
// readers wake instead of waiting for frames that will never come.
// transport/packet's endpoints are; an endpoint of the caller's own may
// be.
type PacketEndpointAborter interface {
	PacketEndpoint
	// Abort closes the endpoint at once.
	Abort()
}

// RawFactory makes raw IP and packet endpoints. Stacks create them only
// when Options.RawFactory is set (Linux requires CAP_NET_RAW for the same).
type RawFactory interface {
	NewRawEndpoint(s *Stack, netProto tcpip.NetworkProtocolNumber, transProto tcpip.TransportProtocolNumber, associated bool) (tcpip.Endpoint, error)
	NewPacketEndpoint(s *Stack, cooked bool, netProto tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error)
}
