package tcpip

import (
	"net/netip"
	"time"
)

// Endpoint is a transport endpoint as its user sees it: a non-blocking
// socket. Operations that cannot complete at once return ErrWouldBlock (or
// ErrConnectStarted from Connect), and the endpoint's WaitQueue tells when to
// try again. The gonet package turns Endpoints into net.Conn and friends.
//
// Not every endpoint supports every method: a UDP endpoint does not Listen,
// and returns ErrNotSupported.
type Endpoint interface {
	// Read reads one datagram (datagram endpoints: a longer datagram is
	// truncated to len(p) and reported in ReadResult.Total) or up to
	// len(p) bytes of the stream. With nothing to read it returns
	// ErrWouldBlock, or ErrClosedForReceive at the end of the stream.
	Read(p []byte, opts ReadOptions) (ReadResult, error)

	// Write sends p as one datagram, or queues as much of p as fits for
	// a stream and returns how much it took.
	Write(p []byte, opts WriteOptions) (int, error)

	// Bind gives the endpoint a local address and port (port 0 picks an
	// ephemeral port; a zero Addr means every local address).
	Bind(addr FullAddress) error

	// Connect sets the remote address (datagrams) or starts a connection
	// (streams: ErrConnectStarted, then EventOut when done).
	Connect(addr FullAddress) error

	// Listen starts accepting connections with a queue of backlog.
	Listen(backlog int) error

	// Accept returns a connection that has completed its handshake, and
	// its peer's address, or ErrWouldBlock.
	Accept() (Endpoint, FullAddress, error)

	// Shutdown closes the endpoint for reading, writing or both.
	Shutdown(how ShutdownFlags) error

	// Close closes the endpoint and frees everything it holds. It does
	// not block (see LingerOption for streams).
	Close()

	// LocalAddress and RemoteAddress return the endpoint's addresses.
	LocalAddress() (FullAddress, error)
	RemoteAddress() (FullAddress, error)

	// Readiness returns which of the events in mask are true now.
	Readiness(mask Events) Events

	// WaitQueue is where the endpoint notifies readiness changes.
	WaitQueue() *WaitQueue

	// SetSockOpt sets an option given as one of the typed option values
	// of this package (TTLOption(5), ReuseAddressOption(true), …).
	SetSockOpt(opt any) error

	// GetSockOpt reads an option into a pointer to one of the typed
	// option values.
	GetSockOpt(opt any) error

	// LastError returns and clears the pending asynchronous error (an
	// ICMP error on a connected datagram endpoint, say).
	LastError() error

	// Stats returns the endpoint's own counters.
	Stats() *EndpointStats
}

// ErrClosedForReceive is returned by Read at the end of a stream, or after
// Shutdown for reading: the io.EOF of endpoints. (It has no errno: a socket
// read returns 0 bytes.)
var ErrClosedForReceive error = endOfStream{}

type endOfStream struct{}

func (endOfStream) Error() string { return "endpoint is closed for receive" }

// FullAddress is an endpoint address: an IP address and port, optionally
// scoped to a NIC (for link-local addresses or SO_BINDTODEVICE). For packet
// endpoints Port carries the network protocol number and LinkAddr the link
// address.
type FullAddress struct {
	NIC      NICID
	Addr     netip.Addr
	Port     uint16
	LinkAddr LinkAddress
}

// AddrPort returns the address and port.
func (a FullAddress) AddrPort() netip.AddrPort { return netip.AddrPortFrom(a.Addr, a.Port) }

// FullAddressFrom returns the FullAddress of ap with no NIC.
func FullAddressFrom(ap netip.AddrPort) FullAddress {
	return FullAddress{Addr: ap.Addr(), Port: ap.Port()}
}

// ShutdownFlags say which directions Shutdown closes.
type ShutdownFlags int

// Shutdown directions.
const (
	ShutdownRead ShutdownFlags = 1 << iota
	ShutdownWrite
)

// ReadOptions modify a Read.
type ReadOptions struct {
	// Peek leaves the data in the endpoint (MSG_PEEK).
	Peek bool
	// NeedRemoteAddr fills ReadResult.RemoteAddr.
	NeedRemoteAddr bool
	// NeedLinkPacketInfo fills ReadResult.LinkPacketInfo (packet endpoints).
	NeedLinkPacketInfo bool
}

// ReadResult describes what a Read returned.
type ReadResult struct {
	// N is the number of bytes copied into p.
	N int
	// Total is the size of the whole datagram (N < Total: truncated).
	Total int
	// RemoteAddr is the sender, when asked for.
	RemoteAddr FullAddress
	// LinkPacketInfo describes the frame, for packet endpoints.
	LinkPacketInfo LinkPacketInfo
	// Control holds the ancillary data enabled on the endpoint.
	Control ControlMessages
}

// LinkPacketInfo is what a packet endpoint learns about a frame (as
// Linux's sockaddr_ll).
type LinkPacketInfo struct {
	Protocol NetworkProtocolNumber
	// PacketType is buffer.PacketType's value (host, broadcast, …).
	PacketType uint8
}

// ControlMessages is the ancillary data of a received datagram.
type ControlMessages struct {
	HasTimestamp bool
	Timestamp    time.Time

	HasTOS bool
	TOS    uint8 // IPv4 TOS or IPv6 traffic class

	HasTTL bool
	TTL    uint8 // IPv4 TTL or IPv6 hop limit

	// HasPacketInfo: LocalAddr and NIC say where the datagram arrived
	// (IP_PKTINFO / IPV6_PKTINFO).
	HasPacketInfo bool
	LocalAddr     netip.Addr
	NIC           NICID
}

// WriteOptions modify a Write.
type WriteOptions struct {
	// To is the destination; the zero value means the connected peer.
	To *FullAddress
	// More says more data follows at once (MSG_MORE: hold a partial
	// segment).
	More bool
	// Atomic asks that the write be all or nothing.
	Atomic bool
	// TTL, if not zero, overrides the endpoint's TTL for this datagram.
	TTL uint8
}

// EndpointStats counts one endpoint's traffic and drops.
type EndpointStats struct {
	PacketsReceived     Counter
	PacketsSent         Counter
	BytesReceived       Counter
	BytesSent           Counter
	ReceiveBufferErrors Counter // dropped: receive buffer full
	ChecksumErrors      Counter
	MalformedPackets    Counter
	SendErrors          Counter
	ICMPErrors          Counter
}
