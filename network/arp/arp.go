// Package arp is ustack's Address Resolution Protocol (RFC 826) for IPv4
// over Ethernet-like links, with the gratuitous announcements of RFC 5227.
//
// ARP only sends and receives: the NIC's neighbour cache (package stack)
// runs the resolution state machine and its timers, calling this package's
// endpoint, a stack.LinkAddressResolver, to send requests, and being told
// of the senders of the requests and replies this package receives.
//
// Add it to a stack beside ipv4.NewProtocol:
//
//	stack.New(stack.Options{
//		NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
//	})
//
// Every packet dropped increments one counter of tcpip.Stats.ARP naming
// the reason.
package arp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync/atomic"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// ProxyPromiscuous, set to true, makes a NIC in promiscuous mode answer ARP
// requests for every address, not only its own: the NIC then receives
// every IPv4 packet of its link, as a transparent proxy or a user-mode
// gateway needs. It is off by default.
type ProxyPromiscuous bool

// protocol is ARP for one stack.
type protocol struct {
	s     *stack.Stack
	stats *tcpip.ARPStats

	proxyPromiscuous atomic.Bool
}

// NewProtocol returns ARP for s; it is a stack.NetworkProtocolFactory.
func NewProtocol(s *stack.Stack) stack.NetworkProtocol {
	return &protocol{s: s, stats: &s.Stats().ARP}
}

// Number implements stack.NetworkProtocol.
func (p *protocol) Number() tcpip.NetworkProtocolNumber { return tcpip.ARPProtocolNumber }

// NewEndpoint implements stack.NetworkProtocol.
func (p *protocol) NewEndpoint(nic stack.NetworkInterface, _ stack.TransportDispatcher) stack.NetworkEndpoint {
	return &endpoint{p: p, nic: nic}
}

// SetOption implements stack.NetworkProtocol: ProxyPromiscuous is the only
// option.
func (p *protocol) SetOption(opt any) error {
	switch o := opt.(type) {
	case ProxyPromiscuous:
		p.proxyPromiscuous.Store(bool(o))
		return nil
	}
	return tcpip.ErrUnknownProtocolOption
}

// Option implements stack.NetworkProtocol.
func (p *protocol) Option(opt any) error {
	switch o := opt.(type) {
	case *ProxyPromiscuous:
		*o = ProxyPromiscuous(p.proxyPromiscuous.Load())
		return nil
	}
	return tcpip.ErrUnknownProtocolOption
}

// Close implements stack.NetworkProtocol. ARP holds no state of its own.
func (p *protocol) Close() {}

// endpoint is ARP on one NIC: the resolver of its IPv4 neighbour cache.
type endpoint struct {
	p   *protocol
	nic stack.NetworkInterface
}

var (
	_ stack.NetworkEndpoint     = (*endpoint)(nil)
	_ stack.LinkAddressResolver = (*endpoint)(nil)
)

// Enable implements stack.NetworkEndpoint: the NIC came up, so its IPv4
// addresses are announced (RFC 5227 §2.3), as Linux does when an
// interface comes up.
func (e *endpoint) Enable() error {
	for _, a := range e.nic.Addresses(tcpip.IPv4ProtocolNumber) {
		if !a.Properties.Tentative {
			e.announce(a.Address.Addr())
		}
	}
	return nil
}

// Disable implements stack.NetworkEndpoint.
func (e *endpoint) Disable() {}

// Close implements stack.NetworkEndpoint.
func (e *endpoint) Close() {}

// WritePacket implements stack.NetworkEndpoint: ARP carries no transport.
func (e *endpoint) WritePacket(_ *stack.Route, _ stack.NetworkHeaderParams, pkt *buffer.Packet) error {
	pkt.Release()
	return tcpip.ErrNotSupported
}

// WriteHeaderIncludedPacket implements stack.NetworkEndpoint: ARP carries
// no transport.
func (e *endpoint) WriteHeaderIncludedPacket(_ *stack.Route, pkt *buffer.Packet) error {
	pkt.Release()
	return tcpip.ErrNotSupported
}

// MaxHeaderLength implements stack.NetworkEndpoint.
func (e *endpoint) MaxHeaderLength() int { return e.nic.MaxLinkHeaderLength() + header.ARPSize }

// MTU implements stack.NetworkEndpoint.
func (e *endpoint) MTU() uint32 {
	if mtu := e.nic.MTU(); mtu > header.ARPSize {
		return mtu - header.ARPSize
	}
	return 0
}

// AddressAdded implements stack.NetworkEndpoint: a new IPv4 address is
// announced with one gratuitous ARP request, RFC 5227 §2.3's ARP
// Announcement (sender and target protocol address both the new address),
// so that neighbours holding a stale mapping update it. Nothing is sent
// while the NIC is down (Enable announces then).
func (e *endpoint) AddressAdded(addr netip.Prefix) {
	if addr.Addr().Is4() && e.nic.Enabled() {
		e.announce(addr.Addr())
	}
}

// AddressRemoved implements stack.NetworkEndpoint.
func (e *endpoint) AddressRemoved(netip.Prefix) {}

// JoinGroup implements stack.NetworkEndpoint: ARP has no groups.
func (e *endpoint) JoinGroup(netip.Addr) error { return tcpip.ErrNotSupported }

// LeaveGroup implements stack.NetworkEndpoint.
func (e *endpoint) LeaveGroup(netip.Addr) error { return tcpip.ErrNotSupported }

// IsInGroup implements stack.NetworkEndpoint.
func (e *endpoint) IsInGroup(netip.Addr) bool { return false }

// ResolvedProtocol implements stack.LinkAddressResolver.
func (e *endpoint) ResolvedProtocol() tcpip.NetworkProtocolNumber { return tcpip.IPv4ProtocolNumber }

// LinkAddressRequest implements stack.LinkAddressResolver: one ARP request
// for target (RFC 826), broadcast, or unicast to remoteLinkAddr when the
// neighbour cache probes an entry it has (RFC 1122 §2.3.2.1). The sender
// protocol address is local when it is the NIC's, as Linux's default
// arp_announce does, or else the NIC's primary address for target.
func (e *endpoint) LinkAddressRequest(target, local netip.Addr, remoteLinkAddr tcpip.LinkAddress) error {
	if !target.Is4() {
		return tcpip.ErrInvalidArgument
	}
	if !local.Is4() || !e.nic.HasAddress(tcpip.IPv4ProtocolNumber, local) {
		p, ok := e.nic.PrimaryAddress(tcpip.IPv4ProtocolNumber, target)
		if !ok {
			e.p.stats.OutgoingErrors.Inc()
			return tcpip.ErrBadLocalAddress
		}
		local = p.Addr()
	}
	dst := remoteLinkAddr
	if dst.IsZero() {
		dst = tcpip.BroadcastLinkAddress
	}
	// RFC 826: the target hardware address of a request is what the
	// sender wants to learn; Linux leaves it zero.
	if err := e.send(header.ARPRequest, dst, local, tcpip.LinkAddress{}, target); err != nil {
		return err
	}
	e.p.stats.RequestsSent.Inc()
	return nil
}

// ResolveStaticAddress implements stack.LinkAddressResolver: the
// addresses whose link address is known without asking.
func (e *endpoint) ResolveStaticAddress(addr netip.Addr) (tcpip.LinkAddress, bool) {
	if !addr.Is4() {
		return tcpip.LinkAddress{}, false
	}
	if addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) ||
		e.p.s.IsSubnetBroadcast(e.nic.ID(), tcpip.IPv4ProtocolNumber, addr) {
		// RFC 919 §7 (limited) and RFC 922 (directed): IP broadcasts
		// go to the link's broadcast address.
		return tcpip.BroadcastLinkAddress, true
	}
	if addr.IsMulticast() {
		// RFC 1112 §6.4: 01-00-5E-00-00-00 plus the group's low-order
		// 23 bits.
		a := addr.As4()
		return tcpip.LinkAddress{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}, true
	}
	return tcpip.LinkAddress{}, false
}

// announce sends an ARP Announcement for addr (RFC 5227 §2.3): a broadcast
// request whose sender and target protocol addresses are both addr.
func (e *endpoint) announce(addr netip.Addr) {
	if !addr.Is4() || e.nic.LinkAddress().IsZero() {
		return
	}
	if e.send(header.ARPRequest, tcpip.BroadcastLinkAddress, addr, tcpip.LinkAddress{}, addr) == nil {
		e.p.stats.GratuitousSent.Inc()
	}
}

// send sends one ARP packet from the NIC's link address to the link
// address dst.
func (e *endpoint) send(op header.ARPOp, dst tcpip.LinkAddress, spa netip.Addr, tha tcpip.LinkAddress, tpa netip.Addr) error {
	pkt := buffer.NewPacket(e.nic.MaxLinkHeaderLength()+header.ARPSize, nil)
	f := header.ARPFields{
		Op:                    op,
		SenderHardwareAddress: e.nic.LinkAddress(),
		SenderProtocolAddress: spa,
		TargetHardwareAddress: tha,
		TargetProtocolAddress: tpa,
	}
	f.Encode(pkt.PrependHeader(buffer.NetworkLayer, header.ARPSize))
	if err := e.nic.WritePacketToLinkAddress(dst, tcpip.ARPProtocolNumber, pkt); err != nil {
		e.p.stats.OutgoingErrors.Inc()
		return err
	}
	return nil
}

// HandlePacket implements stack.NetworkEndpoint: RFC 826 "Packet
// Reception". It owns pkt.
func (e *endpoint) HandlePacket(pkt *buffer.Packet) {
	defer pkt.Release()
	st := e.p.stats
	st.PacketsReceived.Inc()
	b, _ := pkt.Peek(min(pkt.Payload.Len(), header.ARPSize))
	a, err := header.ParseARP(b)
	if err != nil {
		// RFC 826: a packet of a hardware or protocol type this host
		// does not speak is discarded; ParseARP's ErrUnsupported does
		// not say which field was wrong, the bytes do.
		switch {
		case errors.Is(err, header.ErrUnsupported) && binary.BigEndian.Uint16(b[0:]) != header.ARPHardwareEthernet:
			st.UnsupportedHardware.Inc()
		case errors.Is(err, header.ErrUnsupported) && binary.BigEndian.Uint16(b[2:]) != uint16(tcpip.IPv4ProtocolNumber):
			st.UnsupportedProtocol.Inc()
		default:
			st.Malformed.Inc()
		}
		return
	}
	op := a.Op()
	switch op {
	case header.ARPRequest:
		st.RequestsReceived.Inc()
	case header.ARPReply:
		st.RepliesReceived.Inc()
	default:
		// RARP and the other opcodes are not ours (Linux drops them
		// too).
		st.Malformed.Inc()
		return
	}
	sha, spa, tpa := a.SenderHardwareAddress(), a.SenderProtocolAddress(), a.TargetProtocolAddress()
	// A sender link address that is not one station's, or is ours (our
	// own frame looped, or a duplicate MAC), teaches nothing.
	if !sha.IsUnicast() || sha == e.nic.LinkAddress() {
		st.InvalidSourceAddress.Inc()
		return
	}
	// RFC 5227 §2.1.1: a probe (sender 0.0.0.0) for one of our addresses
	// is answered, so that the prober sees the conflict; nothing is
	// learnt from it.
	if spa.IsUnspecified() {
		if op == header.ARPRequest && e.nic.HasAddress(tcpip.IPv4ProtocolNumber, tpa) {
			e.reply(a)
		} else {
			st.RequestsNotForUs.Inc()
		}
		return
	}
	// A sender protocol address that is a broadcast or multicast
	// address names no station; one that is ours is a conflict (RFC 5227
	// §2.4), which must not overwrite what neighbours know of us.
	if spa.IsMulticast() || spa == netip.AddrFrom4([4]byte{255, 255, 255, 255}) ||
		e.p.s.IsSubnetBroadcast(e.nic.ID(), tcpip.IPv4ProtocolNumber, spa) ||
		e.nic.HasAddress(tcpip.IPv4ProtocolNumber, spa) {
		st.InvalidSourceAddress.Inc()
		return
	}

	forUs := e.nic.HasAddress(tcpip.IPv4ProtocolNumber, tpa)
	if c := e.nic.Neighbors(tcpip.IPv4ProtocolNumber); c != nil {
		switch {
		case op == header.ARPRequest && forUs:
			// RFC 826: the target is us, so the sender's mapping is
			// merged or added (RFC 4861 §7.2.3's STALE entry).
			c.HandleProbe(spa, sha)
		case op == header.ARPReply && forUs && !a.IsGratuitous():
			// An answer to our request: the neighbour is reachable.
			c.HandleConfirmation(spa, sha, stack.ReachabilityConfirmationFlags{Solicited: true, Override: true})
		default:
			// Gratuitous ARP and packets between other hosts: RFC
			// 826's merge rule updates a mapping already cached and
			// adds none (HandleConfirmation ignores addresses
			// without an entry).
			c.HandleConfirmation(spa, sha, stack.ReachabilityConfirmationFlags{Override: true})
		}
	}
	if op != header.ARPRequest {
		return
	}
	if forUs || (e.p.proxyPromiscuous.Load() && e.nic.Promiscuous() && !a.IsGratuitous()) {
		e.reply(a)
		return
	}
	st.RequestsNotForUs.Inc()
}

// reply answers request a (RFC 826): the addresses swapped, our link
// address as the sender's, unicast to the requester.
func (e *endpoint) reply(a header.ARP) {
	sha := a.SenderHardwareAddress()
	if e.send(header.ARPReply, sha, a.TargetProtocolAddress(), sha, a.SenderProtocolAddress()) == nil {
		e.p.stats.RepliesSent.Inc()
	}
}
