package tcpip

import (
	"net/netip"
	"time"
)

// Socket options, as typed values passed to Endpoint.SetSockOpt and (by
// pointer) GetSockOpt. An endpoint that does not know an option returns
// ErrUnknownProtocolOption; an out-of-range value gives ErrInvalidOptionValue.
type (
	// ReuseAddressOption is SO_REUSEADDR.
	ReuseAddressOption bool
	// ReusePortOption is SO_REUSEPORT: endpoints bound to the same
	// address and port share the traffic, balanced by flow hash.
	ReusePortOption bool
	// BindToDeviceOption is SO_BINDTODEVICE: only traffic of this NIC
	// (0: any).
	BindToDeviceOption NICID
	// BroadcastOption is SO_BROADCAST.
	BroadcastOption bool
	// KeepAliveOption is SO_KEEPALIVE.
	KeepAliveOption bool
	// SendBufferSizeOption is SO_SNDBUF, in bytes.
	SendBufferSizeOption int
	// ReceiveBufferSizeOption is SO_RCVBUF, in bytes.
	ReceiveBufferSizeOption int
	// ReceiveQueueSizeOption (get only) is the bytes waiting to be read
	// (FIONREAD).
	ReceiveQueueSizeOption int
	// SendQueueSizeOption (get only) is the bytes not yet acknowledged or
	// sent (TIOCOUTQ).
	SendQueueSizeOption int
	// TTLOption is IP_TTL / IPV6_UNICAST_HOPS; 0 means the stack default.
	TTLOption uint8
	// TOSOption is IP_TOS / IPV6_TCLASS.
	TOSOption uint8
	// V6OnlyOption is IPV6_V6ONLY.
	V6OnlyOption bool
	// MulticastTTLOption is IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS.
	MulticastTTLOption uint8
	// MulticastLoopOption is IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP.
	MulticastLoopOption bool
	// ReceiveTOSOption is IP_RECVTOS / IPV6_RECVTCLASS.
	ReceiveTOSOption bool
	// ReceiveTTLOption is IP_RECVTTL / IPV6_RECVHOPLIMIT.
	ReceiveTTLOption bool
	// ReceivePacketInfoOption is IP_PKTINFO / IPV6_RECVPKTINFO.
	ReceivePacketInfoOption bool
	// TimestampOption is SO_TIMESTAMP.
	TimestampOption bool
	// NoChecksumOption is SO_NO_CHECK: send IPv4 UDP without a checksum.
	NoChecksumOption bool
	// HeaderIncludedOption is IP_HDRINCL for raw endpoints.
	HeaderIncludedOption bool

	// TCP options.

	// DelayOption is the inverse of TCP_NODELAY: true enables Nagle.
	DelayOption bool
	// CorkOption is TCP_CORK.
	CorkOption bool
	// QuickAckOption is TCP_QUICKACK.
	QuickAckOption bool
	// MaxSegOption is TCP_MAXSEG.
	MaxSegOption int
	// KeepaliveIdleOption is TCP_KEEPIDLE.
	KeepaliveIdleOption time.Duration
	// KeepaliveIntervalOption is TCP_KEEPINTVL.
	KeepaliveIntervalOption time.Duration
	// KeepaliveCountOption is TCP_KEEPCNT.
	KeepaliveCountOption int
	// UserTimeoutOption is TCP_USER_TIMEOUT (RFC 5482).
	UserTimeoutOption time.Duration
	// CongestionControlOption is TCP_CONGESTION.
	CongestionControlOption string
)

// LingerOption is SO_LINGER.
type LingerOption struct {
	Enabled bool
	Timeout time.Duration // 0 with Enabled: Close resets the connection
}

// TCPReceiveBufferSizeRangeOption is a TCP protocol option
// (Stack.SetTransportProtocolOption), as Linux's net.ipv4.tcp_rmem: new
// connections start with a receive buffer of Default bytes, and receive
// buffer autotuning may grow it up to Max. Min is the smallest size
// Default may take. A ReceiveBufferSizeOption given to
// SetTransportProtocolOption sets Default.
type TCPReceiveBufferSizeRangeOption struct {
	Min, Default, Max int
}

// TCPSendBufferSizeRangeOption is TCPReceiveBufferSizeRangeOption for
// the send buffer, as Linux's net.ipv4.tcp_wmem.
type TCPSendBufferSizeRangeOption struct {
	Min, Default, Max int
}

// MembershipOption joins (AddMembershipOption) or leaves
// (RemoveMembershipOption) a multicast group on a NIC (0: the NIC the route
// to the group picks) or the NIC owning InterfaceAddr.
type MembershipOption struct {
	NIC           NICID
	InterfaceAddr netip.Addr
	MulticastAddr netip.Addr
}

// AddMembershipOption is IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP.
type AddMembershipOption MembershipOption

// RemoveMembershipOption is IP_DROP_MEMBERSHIP / IPV6_LEAVE_GROUP.
type RemoveMembershipOption MembershipOption

// MulticastInterfaceOption is IP_MULTICAST_IF / IPV6_MULTICAST_IF.
type MulticastInterfaceOption struct {
	NIC           NICID
	InterfaceAddr netip.Addr
}
