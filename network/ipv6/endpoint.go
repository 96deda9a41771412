package ipv6

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Well-known IPv6 addresses.
var (
	// ipv6Loopback is ::1 (RFC 4291 §2.5.3).
	ipv6Loopback = netip.IPv6Loopback()
	// ipv6AllNodesInterfaceLocal is ff01::1, the interface-local
	// all-nodes group (RFC 4291 §2.7.1).
	ipv6AllNodesInterfaceLocal = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x01, 15: 0x01})
)

// Multicast scopes (RFC 4291 §2.7, RFC 7346 §2).
const (
	scopeReserved       = 0x0
	scopeInterfaceLocal = 0x1
	scopeLinkLocal      = 0x2
)

// multicastScope returns the scope field of a multicast address.
func multicastScope(a netip.Addr) uint8 { return a.As16()[1] & 0x0f }

// endpoint is the IPv6 protocol on one NIC.
//
// Its fixed fields are set by NewEndpoint. The group memberships have a
// lock of their own; nothing else is mutable but the enabled flag.
type endpoint struct {
	p   *protocol
	nic stack.NetworkInterface
	d   stack.TransportDispatcher

	enabled atomic.Bool

	// curHopLimit, if not 0, is the Cur Hop Limit of the last Router
	// Advertisement (RFC 4861 §6.3.4); linkMTU, if not 0, its MTU
	// option.
	curHopLimit atomic.Uint32
	linkMTU     atomic.Uint32

	ndp ndpState
	mld mldState

	groups struct {
		mu sync.Mutex
		// members counts the joins of each group: JoinGroup calls and
		// one per unicast address whose solicited-node group it is.
		members map[[16]byte]int // guarded by mu
	}
}

var (
	_ stack.NetworkEndpoint              = (*endpoint)(nil)
	_ stack.LinkAddressResolver          = (*endpoint)(nil)
	_ stack.LinkResolutionFailureHandler = (*endpoint)(nil)
)

// Enable implements stack.NetworkEndpoint. A NIC with an Ethernet address
// forms its link-local address (RFC 4862 §5.3: when the interface becomes
// enabled) if AutoGenLinkLocalOption is on.
//
// Addresses still tentative start duplicate address detection (RFC 4862
// §5.4), MLD reports the groups already joined (RFC 3810 §6.1), a host
// starts soliciting routers (RFC 4861 §6.3.7) and an advertising router
// starts advertising (§6.2.2).
func (e *endpoint) Enable() error {
	if e.enabled.Swap(true) {
		return nil
	}
	// Groups and tentative addresses from before; then the link-local
	// address, whose group and DAD start as it is added.
	e.restartDAD()
	e.mldEnable()
	if e.p.autoGenLinkLocal.Load() {
		e.ndp.mu.Lock()
		e.ndp.initializing = true
		e.ndp.mu.Unlock()
		e.autoGenLinkLocal()
		e.ndp.mu.Lock()
		e.ndp.initializing = false
		e.ndp.mu.Unlock()
	}
	e.startRouterSolicitation()
	e.updateAdvertising()
	return nil
}

// autoGenLinkLocal adds fe80::/64 with the EUI-64 interface identifier of
// the NIC's Ethernet address (RFC 4291 Appendix A, RFC 2464 §5), unless
// the NIC has no such address or already has a link-local address.
func (e *endpoint) autoGenLinkLocal() {
	mac := e.nic.LinkAddress()
	if e.nic.IsLoopback() || mac.IsZero() || !mac.IsUnicast() ||
		e.nic.Capabilities()&stack.CapabilityResolutionRequired == 0 {
		return
	}
	for _, a := range e.nic.Addresses(tcpip.IPv6ProtocolNumber) {
		if a.Address.Addr().IsLinkLocalUnicast() {
			return
		}
	}
	// RFC 4862 §5.3: the link-local prefix is fe80::/64; the identifier
	// is RFC 7217 opaque when the stack is configured for it.
	ll := netip.PrefixFrom(header.LinkLocalAddrFromMAC(mac), 64)
	var counter uint8
	if iid, ok := e.stableIID(ll, &counter); ok {
		ll = netip.PrefixFrom(withIID(ll, iid), 64)
	}
	pa := tcpip.ProtocolAddress{Protocol: tcpip.IPv6ProtocolNumber, Address: ll}
	_ = e.p.s.AddProtocolAddress(e.nic.ID(), pa, stack.AddressProperties{Tentative: true})
}

// Disable implements stack.NetworkEndpoint: memberships are kept for the
// next Enable, tentative addresses stay tentative (DAD starts again at
// Enable), and soliciting, advertising and MLD timers stop.
func (e *endpoint) Disable() {
	e.enabled.Store(false)
	e.stopDADTimers()
	e.ndp.mu.Lock()
	e.stopRouterSolicitationLocked()
	e.stopAdvertisingLocked()
	e.ndp.mu.Unlock()
	e.stopMLDTimers()
}

// Close implements stack.NetworkEndpoint: every timer stops.
func (e *endpoint) Close() {
	e.enabled.Store(false)
	e.stopNDPTimers()
	e.stopMLDTimers()
}

// MaxHeaderLength implements stack.NetworkEndpoint: the link's headers,
// the fixed header and room for a fragment header.
func (e *endpoint) MaxHeaderLength() int {
	return e.nic.MaxLinkHeaderLength() + header.IPv6MinimumSize + header.IPv6FragmentHeaderSize
}

// MTU implements stack.NetworkEndpoint: the link MTU less the fixed
// header. A link whose MTU is below RFC 8200 §5's 1280 bytes cannot carry
// IPv6 at all: MTU is 0 for it, and nothing is sent.
func (e *endpoint) MTU() uint32 {
	mtu := e.nic.MTU()
	if l := e.linkMTU.Load(); l != 0 && l < mtu {
		// RFC 4861 §6.3.4: a router's MTU option.
		mtu = l
	}
	if mtu < header.IPv6MinimumMTU {
		return 0
	}
	return min(mtu, header.IPv6MinimumSize+header.IPv6MaximumPayloadSize) - header.IPv6MinimumSize
}

// AddressAdded implements stack.NetworkEndpoint: the NIC joins the
// solicited-node group of a new address (RFC 4861 §7.2.1), so that
// neighbours can resolve it, and duplicate address detection starts (RFC
// 4862 §5.4).
func (e *endpoint) AddressAdded(addr netip.Prefix) {
	a := addr.Addr()
	if !a.Is6() || a.Is4In6() {
		return
	}
	e.joinGroup(header.SolicitedNodeAddr(a))
	e.startDAD(a)
}

// AddressRemoved implements stack.NetworkEndpoint.
func (e *endpoint) AddressRemoved(addr netip.Prefix) {
	a := addr.Addr()
	if !a.Is6() || a.Is4In6() {
		return
	}
	e.dadAbort(a)
	e.slaacAddrRemoved(a)
	e.leaveGroup(header.SolicitedNodeAddr(a))
}

// JoinGroup implements stack.NetworkEndpoint.
func (e *endpoint) JoinGroup(group netip.Addr) error {
	if !group.Is6() || !group.IsMulticast() {
		return tcpip.ErrInvalidArgument
	}
	e.joinGroup(group)
	return nil
}

// LeaveGroup implements stack.NetworkEndpoint.
func (e *endpoint) LeaveGroup(group netip.Addr) error {
	if !group.Is6() || !group.IsMulticast() {
		return tcpip.ErrInvalidArgument
	}
	if !e.leaveGroup(group) {
		return tcpip.ErrAddressNotFound
	}
	return nil
}

// joinGroup counts one join of group; the first one makes the NIC a member
// (and is where MLD reports it: mldJoined).
func (e *endpoint) joinGroup(group netip.Addr) {
	e.groups.mu.Lock()
	n := e.groups.members[group.As16()]
	e.groups.members[group.As16()] = n + 1
	e.groups.mu.Unlock()
	if n == 0 {
		e.mldJoined(group)
	}
}

// leaveGroup undoes one join of group, and reports whether there was one.
func (e *endpoint) leaveGroup(group netip.Addr) bool {
	e.groups.mu.Lock()
	n, ok := e.groups.members[group.As16()]
	if ok {
		if n <= 1 {
			delete(e.groups.members, group.As16())
		} else {
			e.groups.members[group.As16()] = n - 1
		}
	}
	e.groups.mu.Unlock()
	if ok && n <= 1 {
		e.mldLeft(group)
	}
	return ok
}

// IsInGroup implements stack.NetworkEndpoint. Every NIC is a member of the
// all-nodes groups of interface-local and link-local scope (RFC 4291
// §2.8).
func (e *endpoint) IsInGroup(group netip.Addr) bool {
	if group == header.IPv6AllNodesMulticastAddr || group == ipv6AllNodesInterfaceLocal {
		return true
	}
	if group == header.IPv6AllRoutersMulticastAddr && e.p.s.Forwarding(tcpip.IPv6ProtocolNumber) {
		// RFC 4291 §2.8: a router is a member of the all-routers
		// group.
		return true
	}
	e.groups.mu.Lock()
	defer e.groups.mu.Unlock()
	return e.groups.members[group.As16()] > 0
}

// isOwnedByStack reports whether addr is an address of some NIC of the
// stack.
func (e *endpoint) isOwnedByStack(addr netip.Addr) bool {
	return e.nic.HasAddress(tcpip.IPv6ProtocolNumber, addr) ||
		e.p.s.CheckLocalAddress(0, tcpip.IPv6ProtocolNumber, addr) != 0
}

// isTentative reports whether addr is an address of the NIC that duplicate
// address detection has not yet confirmed.
func (e *endpoint) isTentative(addr netip.Addr) bool {
	for _, a := range e.nic.Addresses(tcpip.IPv6ProtocolNumber) {
		if a.Address.Addr() == addr {
			return a.Properties.Tentative
		}
	}
	return false
}
