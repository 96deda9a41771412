// Package linkutil holds what every link endpoint of ustack needs and that
// authors of custom link endpoints can reuse: the conversion of an outbound
// packet into the form a receiver expects (ToInbound), the network protocol
// of a bare IP packet (IPVersionProtocol), and the gate that gives Attach
// its guarantee that no delivery is in progress once it returns
// (DispatchGate).
//
// # Outbound and inbound forms
//
// A packet travels down the stack in the outbound form: each layer has
// prepended its header to the packet's header area (Packet.Headers) and the
// data is in Packet.Payload. A packet travels up in the inbound form: the
// whole frame is in Payload and nothing has been consumed yet, so that each
// layer can consume its own header (Packet.ConsumeHeader). A link that
// carries packets in memory from a writer to a receiver (a pipe, a
// loopback) converts one into the other with ToInbound, which copies
// nothing.
package linkutil

import (
	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// ToInbound turns an outbound packet into the inbound form and returns it:
// its Payload holds pkt's headers followed by pkt's payload, neither copied
// (the header area becomes the Payload's first chunk, see
// buffer.Packet.ToInbound, so the receiver consumes the headers in place),
// and it has no header area and zero metadata (protocols, link addresses,
// type, NIC), as a freshly received frame would; pkt's owner
// (buffer.Owner, the sending socket's buffer) stays charged, so that an
// in-memory link carries the charge to the receiving stack, which pays it
// back when it lets go of the packet (see package pipe). A link that
// should pay the sender back when the packet leaves it calls Orphan on the
// result. ToInbound takes ownership of pkt;
// the caller owns the result. It allocates nothing.
func ToInbound(pkt *buffer.Packet) *buffer.Packet {
	pkt.ToInbound()
	return pkt
}

// IPVersionProtocol returns the network protocol of a bare IP packet whose
// first byte is first (a TUN device, a loopback, a layer-3 pipe carry no
// link header that would name it): IPv4 for version 4 (RFC 791 §3.1, the
// high nibble of the first octet), IPv6 for version 6 (RFC 8200 §3, same
// place), and 0 for anything else.
func IPVersionProtocol(first byte) tcpip.NetworkProtocolNumber {
	switch first >> 4 {
	case 4:
		return tcpip.IPv4ProtocolNumber
	case 6:
		return tcpip.IPv6ProtocolNumber
	}
	return 0
}

// InboundIPProtocol returns IPVersionProtocol of the first byte of an
// inbound packet's Payload, or 0 if the Payload is empty.
func InboundIPProtocol(pkt *buffer.Packet) tcpip.NetworkProtocolNumber {
	b, ok := pkt.Peek(1)
	if !ok || len(b) == 0 {
		return 0
	}
	return IPVersionProtocol(b[0])
}

// OutboundIPProtocol returns IPVersionProtocol of the first byte of an
// outbound packet: the first header byte, or the first payload byte of a
// packet without headers (a raw write). It returns 0 for an empty packet.
func OutboundIPProtocol(pkt *buffer.Packet) tcpip.NetworkProtocolNumber {
	if h := pkt.Headers(); len(h) > 0 {
		return IPVersionProtocol(h[0])
	}
	return InboundIPProtocol(pkt)
}
