package ipv4

import (
	"net/netip"
	"sync/atomic"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Well-known IPv4 addresses.
var (
	// ipv4Broadcast is the limited broadcast address (RFC 919 §7).
	ipv4Broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	// ipv4AllSystems is the all-systems group, 224.0.0.1 (RFC 1112 §4),
	// of which every multicast host is a member.
	ipv4AllSystems = netip.AddrFrom4([4]byte{224, 0, 0, 1})
	// ipv4AllRouters is 224.0.0.2, where IGMPv2 Leave messages go
	// (RFC 2236 §3).
	ipv4AllRouters = netip.AddrFrom4([4]byte{224, 0, 0, 2})
	// ipv4AllIGMPv3Routers is 224.0.0.22, where IGMPv3 reports go
	// (RFC 3376 §4.2.14).
	ipv4AllIGMPv3Routers = netip.AddrFrom4([4]byte{224, 0, 0, 22})
)

// endpoint is the IPv4 protocol on one NIC.
//
// Its fixed fields are set by NewEndpoint. The IGMP state has a lock of its
// own (see igmpState); nothing else is mutable but the enabled flag.
type endpoint struct {
	p   *protocol
	nic stack.NetworkInterface
	d   stack.TransportDispatcher

	enabled atomic.Bool
	igmp    igmpState
}

var (
	_ stack.NetworkEndpoint              = (*endpoint)(nil)
	_ stack.LinkResolutionFailureHandler = (*endpoint)(nil)
)

// Enable implements stack.NetworkEndpoint: IGMP reports the groups
// already joined (RFC 3376 §5.1, as Linux does when an interface comes up).
func (e *endpoint) Enable() error {
	if e.enabled.Swap(true) {
		return nil
	}
	e.igmp.enable()
	return nil
}

// Disable implements stack.NetworkEndpoint: IGMP timers stop; memberships
// are kept for the next Enable.
func (e *endpoint) Disable() {
	if !e.enabled.Swap(false) {
		return
	}
	e.igmp.disable()
}

// Close implements stack.NetworkEndpoint.
func (e *endpoint) Close() {
	e.enabled.Store(false)
	e.igmp.close()
}

// MaxHeaderLength implements stack.NetworkEndpoint: the link's headers and
// the largest IPv4 header, options included.
func (e *endpoint) MaxHeaderLength() int {
	return e.nic.MaxLinkHeaderLength() + header.IPv4MaximumHeaderSize
}

// MTU implements stack.NetworkEndpoint: the link MTU less a header without
// options, and no more than the largest IPv4 payload.
func (e *endpoint) MTU() uint32 {
	mtu := e.nic.MTU()
	if mtu <= header.IPv4MinimumSize {
		return 0
	}
	return min(mtu-header.IPv4MinimumSize, header.IPv4MaximumPayloadSize)
}

// AddressAdded implements stack.NetworkEndpoint. The gratuitous ARP
// announcement of RFC 5227 §2.3 is ARP's to send; the stack tells ARP itself.
func (e *endpoint) AddressAdded(netip.Prefix) {}

// AddressRemoved implements stack.NetworkEndpoint.
func (e *endpoint) AddressRemoved(netip.Prefix) {}

// JoinGroup implements stack.NetworkEndpoint.
func (e *endpoint) JoinGroup(group netip.Addr) error { return e.igmp.join(group) }

// LeaveGroup implements stack.NetworkEndpoint.
func (e *endpoint) LeaveGroup(group netip.Addr) error { return e.igmp.leave(group) }

// IsInGroup implements stack.NetworkEndpoint. Every NIC is a member of the
// all-systems group (RFC 1112 §4).
func (e *endpoint) IsInGroup(group netip.Addr) bool {
	return group == ipv4AllSystems || e.igmp.isMember(group)
}

// isOwnedByStack reports whether addr is an address of some NIC of the
// stack.
func (e *endpoint) isOwnedByStack(addr netip.Addr) bool {
	return e.nic.HasAddress(tcpip.IPv4ProtocolNumber, addr) ||
		e.p.s.CheckLocalAddress(0, tcpip.IPv4ProtocolNumber, addr) != 0
}

// isBroadcast reports whether addr is the limited broadcast address or a
// directed broadcast address of one of the NIC's subnets.
func (e *endpoint) isBroadcast(addr netip.Addr) bool {
	return addr == ipv4Broadcast || e.p.s.IsSubnetBroadcast(e.nic.ID(), tcpip.IPv4ProtocolNumber, addr)
}
