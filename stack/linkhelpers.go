package stack

import (
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

func (s *Stack) neighborCache(id tcpip.NICID, addr netip.Addr) (*NeighborCache, error) {
	n, err := s.nic(id)
	if err != nil {
		return nil, err
	}
	c := n.neighbors[tcpip.NetworkProtocolFor(addr)]
	if c == nil {
		return nil, tcpip.ErrNotSupported
	}
	return c, nil
}

// AddLinkAddress adds a static neighbour entry: addr is at linkAddr on NIC
// id, with no resolution and no aging.
func (s *Stack) AddLinkAddress(id tcpip.NICID, addr netip.Addr, linkAddr tcpip.LinkAddress) error {
	c, err := s.neighborCache(id, addr.Unmap())
	if err != nil {
		return err
	}
	c.AddStatic(addr.Unmap(), linkAddr)
	return nil
}

// GetLinkAddress returns the link address of addr on NIC id if it is known,
// or starts resolving it (from local, or a source the protocol picks) and
// returns tcpip.ErrWouldBlock; onResolve, if not nil, is then called once
// with the result, or tcpip.ErrHostUnreachable after the last attempt
// (Linux defaults: 3 attempts 1 s apart).
func (s *Stack) GetLinkAddress(id tcpip.NICID, addr, local netip.Addr, onResolve func(tcpip.LinkAddress, error)) (tcpip.LinkAddress, error) {
	c, err := s.neighborCache(id, addr.Unmap())
	if err != nil {
		return tcpip.LinkAddress{}, err
	}
	return c.Resolve(addr.Unmap(), local.Unmap(), onResolve)
}

// RemoveNeighbor removes a neighbour entry of NIC id.
func (s *Stack) RemoveNeighbor(id tcpip.NICID, addr netip.Addr) error {
	c, err := s.neighborCache(id, addr.Unmap())
	if err != nil {
		return err
	}
	if !c.Remove(addr.Unmap()) {
		return tcpip.ErrAddressNotFound
	}
	return nil
}

// Neighbors returns the neighbour entries of one protocol on NIC id.
func (s *Stack) Neighbors(id tcpip.NICID, proto tcpip.NetworkProtocolNumber) ([]NeighborEntry, error) {
	n, err := s.nic(id)
	if err != nil {
		return nil, err
	}
	c := n.neighbors[proto]
	if c == nil {
		return nil, tcpip.ErrNotSupported
	}
	return c.Entries(), nil
}

// SetNUDConfig changes the neighbour-cache configuration of one protocol on
// NIC id; invalid fields are replaced by their defaults.
func (s *Stack) SetNUDConfig(id tcpip.NICID, proto tcpip.NetworkProtocolNumber, cfg NUDConfig) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	c := n.neighbors[proto]
	if c == nil {
		return tcpip.ErrNotSupported
	}
	c.SetConfig(cfg.Validated())
	return nil
}

// WritePacket sends payload as a network packet of protocol proto to the
// link address dst out of NIC id, with a link header the stack builds.
func (s *Stack) WritePacket(id tcpip.NICID, dst tcpip.LinkAddress, proto tcpip.NetworkProtocolNumber, payload []byte) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	if len(payload) > int(n.link.MTU()) {
		return tcpip.ErrMessageTooLong
	}
	pkt := buffer.NewPacketFromBytes(n.link.MaxHeaderLength(), payload)
	return n.writeToLink(dst, proto, pkt)
}

// WriteRawPacket sends payload out of NIC id exactly as it is, link header
// included.
func (s *Stack) WriteRawPacket(id tcpip.NICID, payload []byte) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	if len(payload) > int(n.link.MTU())+n.link.MaxHeaderLength() {
		return tcpip.ErrMessageTooLong
	}
	if !n.Enabled() {
		return tcpip.ErrNetworkDown
	}
	pkt := buffer.NewPacketFromBytes(0, payload)
	pkt.NIC = id
	pkt.Type = buffer.PacketOutgoing
	return n.writeRaw(pkt)
}
