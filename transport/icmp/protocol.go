// Package icmp implements ICMP echo endpoints ("ping sockets") for ustack,
// with the semantics of Linux's SOCK_DGRAM IPPROTO_ICMP and
// IPPROTO_ICMPV6 sockets (net/ipv4/ping.c): an unprivileged way to send
// echo requests and receive their replies.
//
// The user writes an echo request message, ICMP header included (RFC 792
// for ICMPv4, RFC 4443 §4.1 for ICMPv6): type echo request, code 0, any
// sequence number and data. The endpoint sets the Identifier to its "port"
// (bound with Bind, or an ephemeral one picked at the first Write) and
// computes the checksum. Read returns the echo replies whose Identifier is
// the endpoint's, ICMP header included, one per call.
//
// There is no dual stack, as with Linux's ping sockets: ICMPv4 and ICMPv6
// are different protocols, so an ICMPv6 endpoint refuses IPv4 and
// IPv4-mapped addresses (tcpip.ErrAddressFamily) whatever V6OnlyOption
// says, while an ICMPv4 endpoint takes a mapped address as the IPv4
// address it names.
//
// The protocols are registered as the stack's transport protocols for the
// ICMP protocol numbers (NewProtocol4, NewProtocol6): the network layer
// answers echo requests itself and hands every other ICMP message to the
// transport dispatcher, whose demultiplexer finds the endpoint by the
// Identifier of an echo reply (ParsePorts returns it as the destination
// port). Messages no endpoint takes are released without an answer
// (RFC 1122 §3.2.2: no ICMP error about an ICMP message).
package icmp

import (
	"errors"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/dgram"
)

// Protocol numbers of the two echo protocols.
const (
	ProtocolNumber4 = tcpip.ICMPv4ProtocolNumber
	ProtocolNumber6 = tcpip.ICMPv6ProtocolNumber
)

// EchoHeaderSize is the size of an echo message's header: type, code,
// checksum, identifier, sequence number (RFC 792, RFC 4443 §4.1).
const EchoHeaderSize = header.ICMPv4MinimumSize

// Buffer sizes, as the UDP package's: Linux's defaults, and the bounds
// values set are clamped to.
const (
	DefaultReceiveBufferSize = dgram.DefaultReceiveBufferSize // 212992
	DefaultSendBufferSize    = dgram.DefaultSendBufferSize    // 212992
	MinBufferSize            = dgram.MinBufferSize            // 4096
	MaxBufferSize            = dgram.MaxBufferSize            // 4 MiB
)

// errNotEchoReply is returned by ParsePorts for messages that are not echo
// replies: no endpoint receives them (raw endpoints have had their copy).
var errNotEchoReply = errors.New("icmp: not an echo reply")

// protocol is ICMPv4 or ICMPv6 echo on one stack.
type protocol struct {
	s           *stack.Stack
	number      tcpip.TransportProtocolNumber
	netProto    tcpip.NetworkProtocolNumber
	echoRequest uint8 // the echo request type
	echoReply   uint8 // the echo reply type
}

var (
	_ stack.TransportProtocol = (*protocol)(nil)
	_ stack.QuotedPortsParser = (*protocol)(nil)
)

// NewProtocol4 returns ICMPv4 echo endpoints for a stack; it is a
// stack.TransportProtocolFactory.
func NewProtocol4(s *stack.Stack) stack.TransportProtocol {
	return &protocol{s: s, number: ProtocolNumber4, netProto: tcpip.IPv4ProtocolNumber, echoRequest: uint8(header.ICMPv4Echo), echoReply: uint8(header.ICMPv4EchoReply)}
}

// NewProtocol6 returns ICMPv6 echo endpoints for a stack; it is a
// stack.TransportProtocolFactory.
func NewProtocol6(s *stack.Stack) stack.TransportProtocol {
	return &protocol{s: s, number: ProtocolNumber6, netProto: tcpip.IPv6ProtocolNumber, echoRequest: uint8(header.ICMPv6EchoRequest), echoReply: uint8(header.ICMPv6EchoReply)}
}

// Number implements stack.TransportProtocol.
func (p *protocol) Number() tcpip.TransportProtocolNumber { return p.number }

// NewEndpoint implements stack.TransportProtocol: ICMPv4 echo endpoints
// live on IPv4, ICMPv6 ones on IPv6.
func (p *protocol) NewEndpoint(netProto tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error) {
	if netProto != p.netProto {
		return nil, tcpip.ErrUnknownProtocol
	}
	return newEndpoint(p), nil
}

// MinimumPacketSize implements stack.TransportProtocol.
func (p *protocol) MinimumPacketSize() int { return EchoHeaderSize }

// ParsePorts implements stack.TransportProtocol: an echo reply's
// Identifier is its destination "port"; other messages match no endpoint.
// The network layer has validated the message (length, checksum) and
// counted what it dropped.
func (p *protocol) ParsePorts(hdr []byte) (src, dst uint16, err error) {
	// Both versions share the echo layout (RFC 792, RFC 4443 §4.2).
	if len(hdr) < EchoHeaderSize || uint8(header.ICMPv4(hdr).Type()) != p.echoReply {
		return 0, 0, errNotEchoReply
	}
	return 0, header.ICMPv4(hdr).Ident(), nil
}

// ParseQuotedPorts implements stack.QuotedPortsParser: an ICMP error about
// an echo request this stack sent is for the endpoint whose Identifier the
// request carries (its local "port"; echo has no remote port).
func (p *protocol) ParseQuotedPorts(hdr []byte) (local, remote uint16, ok bool) {
	if len(hdr) < EchoHeaderSize || uint8(header.ICMPv4(hdr).Type()) != p.echoRequest {
		return 0, 0, false
	}
	return header.ICMPv4(hdr).Ident(), 0, true
}

// HandleUnknownDestinationPacket implements stack.TransportProtocol: an
// echo reply nobody waits for is dropped. RFC 1122 §3.2.2: an ICMP error
// message is never sent about an ICMP message.
func (p *protocol) HandleUnknownDestinationPacket(_ stack.TransportEndpointID, _ stack.NetworkPacketInfo, pkt *buffer.Packet) stack.TransportPacketDisposition {
	pkt.Release()
	return stack.TransportPacketHandled
}

// SetOption implements stack.TransportProtocol: no protocol options.
func (p *protocol) SetOption(any) error { return tcpip.ErrUnknownProtocolOption }

// Option implements stack.TransportProtocol.
func (p *protocol) Option(any) error { return tcpip.ErrUnknownProtocolOption }

// Close implements stack.TransportProtocol.
func (p *protocol) Close() {}

// maxMessage returns the longest echo message one datagram carries: the
// 16-bit IPv4 Total Length less a minimal header, the 16-bit IPv6 Payload
// Length (RFC 791 §3.1, RFC 8200 §3).
func (p *protocol) maxMessage() int {
	if p.netProto == tcpip.IPv4ProtocolNumber {
		return 0xffff - 20
	}
	return 0xffff
}

// setChecksum sets the Checksum field of the echo message made of hdr
// (its 8-byte header) and data, sent from src to dst: RFC 792 sums the
// message alone; RFC 4443 §2.3 adds the IPv6 pseudo-header.
func (p *protocol) setChecksum(hdr, data []byte, src, dst netip.Addr) {
	if p.netProto == tcpip.IPv4ProtocolNumber {
		h := header.ICMPv4(hdr)
		h.SetChecksum(0)
		h.SetChecksum(h.CalculateChecksumPartial(header.Checksum(data, 0)))
		return
	}
	// The ICMPv6 body starts with the identifier and sequence number,
	// an even number of bytes before the data.
	h := header.ICMPv6(hdr)
	body := hdr[header.ICMPv6HeaderSize:]
	sum := header.Checksum(data, header.Checksum(body, 0))
	h.SetChecksum(0)
	h.SetChecksum(h.CalculateChecksumPartial(src, dst, len(body)+len(data), sum))
}
