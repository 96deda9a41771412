package stack

import (
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// DeliverTransportPacket implements TransportDispatcher: raw endpoints get a
// copy, then the demultiplexer, then the protocol's default handler, then the
// protocol's own handling of packets for no endpoint.
//
// When the result is not TransportPacketHandled the packet was not
// consumed: the caller still owns it (to quote it in an ICMP error) and
// must release it.
func (s *Stack) DeliverTransportPacket(proto tcpip.TransportProtocolNumber, info NetworkPacketInfo, pkt *buffer.Packet) TransportPacketDisposition {
	netProto := pkt.NetworkProtocol
	raw := s.demux.deliverRawPacket(netProto, proto, info, pkt)
	tp := s.transportProtocols[proto]
	if tp == nil {
		if raw {
			pkt.Release()
			return TransportPacketHandled
		}
		return TransportPacketProtocolUnreachable
	}
	hdr, ok := pkt.Peek(tp.proto.MinimumPacketSize())
	if !ok {
		// Too short for the protocol's header: its ParsePorts counts it.
		tp.proto.ParsePorts(nil)
		pkt.Release()
		return TransportPacketHandled
	}
	src, dst, err := tp.proto.ParsePorts(hdr)
	if err != nil {
		pkt.Release()
		return TransportPacketHandled
	}
	id := TransportEndpointID{LocalPort: dst, LocalAddress: info.Destination, RemotePort: src, RemoteAddress: info.Source}
	if s.demux.deliverPacket(netProto, proto, id, info, pkt) {
		return TransportPacketHandled
	}
	tp.mu.RLock()
	h := tp.defaultHandler
	tp.mu.RUnlock()
	if h != nil && h(id, info, pkt) {
		return TransportPacketHandled
	}
	d := tp.proto.HandleUnknownDestinationPacket(id, info, pkt)
	if d == TransportPacketHandled || !raw {
		return d
	}
	// A raw endpoint took a copy: the packet was delivered after all
	// (Linux sends no port unreachable when a raw socket got it).
	pkt.Release()
	return TransportPacketHandled
}

// DeliverTransportError implements TransportDispatcher.
func (s *Stack) DeliverTransportError(proto tcpip.TransportProtocolNumber, local, remote netip.Addr, terr TransportError, orig *buffer.Packet) {
	tp := s.transportProtocols[proto]
	if tp == nil {
		orig.Release()
		return
	}
	// RFC 792 and RFC 4443 §2.4(c) quote at least the first 8 bytes of the
	// transport header, enough for the ports.
	hdr, ok := orig.Peek(8)
	if !ok {
		orig.Release()
		return
	}
	var src, dst uint16
	if qp, ok := tp.proto.(QuotedPortsParser); ok {
		if src, dst, ok = qp.ParseQuotedPorts(hdr); !ok {
			orig.Release()
			return
		}
	} else {
		src = uint16(hdr[0])<<8 | uint16(hdr[1])
		dst = uint16(hdr[2])<<8 | uint16(hdr[3])
	}
	id := TransportEndpointID{LocalPort: src, LocalAddress: local, RemotePort: dst, RemoteAddress: remote}
	if !s.demux.deliverError(orig.NetworkProtocol, proto, id, terr, orig) {
		orig.Release()
	}
}

// QuotedPortsParser is implemented by transport protocols whose ports, in a
// packet quoted by an ICMP error, are not the first four bytes of the header
// (ICMP echo: the identifier, at bytes 4–5, is the local "port").
type QuotedPortsParser interface {
	// ParseQuotedPorts returns the local and remote ports of a packet
	// this stack sent, from the first 8 bytes of its transport header.
	ParseQuotedPorts(hdr []byte) (local, remote uint16, ok bool)
}

// JoinGroup joins a multicast group on a NIC; the protocol reports the
// membership (IGMP, MLD).
func (s *Stack) JoinGroup(proto tcpip.NetworkProtocolNumber, id tcpip.NICID, group netip.Addr) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	ep := n.networkEndpoints[proto]
	if ep == nil {
		return tcpip.ErrUnknownProtocol
	}
	if !group.IsMulticast() || tcpip.NetworkProtocolFor(group) != proto {
		return tcpip.ErrInvalidArgument
	}
	return ep.JoinGroup(group)
}

// LeaveGroup undoes one JoinGroup.
func (s *Stack) LeaveGroup(proto tcpip.NetworkProtocolNumber, id tcpip.NICID, group netip.Addr) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	ep := n.networkEndpoints[proto]
	if ep == nil {
		return tcpip.ErrUnknownProtocol
	}
	return ep.LeaveGroup(group)
}

// IsInGroup reports whether a NIC is a member of a multicast group.
func (s *Stack) IsInGroup(id tcpip.NICID, group netip.Addr) bool {
	n, err := s.nic(id)
	if err != nil {
		return false
	}
	ep := n.networkEndpoints[tcpip.NetworkProtocolFor(group)]
	return ep != nil && ep.IsInGroup(group)
}

// NetworkEndpoint returns a protocol's endpoint on a NIC (for the protocol
// packages' tests and for forwarding).
func (s *Stack) NetworkEndpoint(id tcpip.NICID, proto tcpip.NetworkProtocolNumber) (NetworkEndpoint, error) {
	n, err := s.nic(id)
	if err != nil {
		return nil, err
	}
	ep := n.networkEndpoints[proto]
	if ep == nil {
		return nil, tcpip.ErrUnknownProtocol
	}
	return ep, nil
}

// NICs returns the IDs of the NICs, in order.
func (s *Stack) NICs() []tcpip.NICID {
	list := s.nicList()
	ids := make([]tcpip.NICID, len(list))
	for i, n := range list {
		ids[i] = n.id
	}
	return ids
}

// Interface returns a NIC as a NetworkInterface (forwarding uses it to send
// out of another NIC).
func (s *Stack) Interface(id tcpip.NICID) (NetworkInterface, error) {
	n, err := s.nic(id)
	if err != nil {
		return nil, err
	}
	return n, nil
}
