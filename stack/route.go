package stack

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// Route is a resolved path for packets from a local address to a remote
// one: what FindRoute returns and what endpoints send along. Its fields are
// fixed once returned: FindRoute gives every caller that asks for the same
// path the same Route while one is in use, so a caller must not modify it.
type Route struct {
	// NetProto is the network protocol of both addresses.
	NetProto tcpip.NetworkProtocolNumber
	// LocalAddress is the source address packets carry.
	LocalAddress netip.Addr
	// RemoteAddress is the final destination.
	RemoteAddress netip.Addr
	// NextHop is the gateway to send through, or the zero Addr when the
	// destination is on-link (or broadcast, multicast, loopback).
	NextHop netip.Addr
	// RemoteLinkAddress is known in advance for broadcast and multicast
	// destinations; zero otherwise (the neighbour cache resolves it).
	RemoteLinkAddress tcpip.LinkAddress
	// NIC is the outgoing NIC.
	NIC tcpip.NICID
	// Loop says where packets go: out of the NIC, back into the stack
	// (handle-local, multicast loop), or both.
	Loop LoopMode

	nic   *nic
	netEP NetworkEndpoint
}

// LoopMode says whether packets of a route are delivered locally, sent out,
// or both.
type LoopMode uint8

// Loop modes.
const (
	LoopOut   LoopMode = 1 << iota // send out of the NIC
	LoopLocal                      // deliver to this stack
)

// MTU is the largest transport packet that fits one network packet along
// the route.
func (r *Route) MTU() uint32 { return r.netEP.MTU() }

// MaxHeaderLength is the room a transport needs in front of its header.
func (r *Route) MaxHeaderLength() int { return r.netEP.MaxHeaderLength() }

// Stack returns the stack the route belongs to.
func (r *Route) Stack() *Stack { return r.nic.stack }

// Interface returns the outgoing NIC.
func (r *Route) Interface() NetworkInterface { return r.nic }

// IsOutboundBroadcast reports whether the route sends to a broadcast
// address.
func (r *Route) IsOutboundBroadcast() bool { return r.RemoteLinkAddress.IsBroadcast() }

// WritePacket sends a transport packet along the route; it owns pkt.
func (r *Route) WritePacket(params NetworkHeaderParams, pkt *buffer.Packet) error {
	return r.netEP.WritePacket(r, params, pkt)
}

// WriteHeaderIncludedPacket sends a packet whose network header the caller
// built; it owns pkt.
func (r *Route) WriteHeaderIncludedPacket(pkt *buffer.Packet) error {
	return r.netEP.WriteHeaderIncludedPacket(r, pkt)
}

// LoopBack queues a finished network packet (headers in its header area)
// for delivery to this stack on the route's NIC, as if it had arrived.
// Network endpoints call it for routes with LoopLocal. It owns pkt.
func (r *Route) LoopBack(pkt *buffer.Packet) {
	r.nic.stack.local.enqueue(r.nic, r.NetProto, pkt)
}

// SetRouteTable replaces the route table. Routes are matched by longest
// prefix, then lowest metric, then table order, as Linux's FIB does within
// one table (ip-route(8): the most specific route wins, and among equals
// the one with the lowest metric).
func (s *Stack) SetRouteTable(routes []tcpip.Route) {
	sorted := slices.Clone(routes)
	sortRoutes(sorted)
	s.mu.Lock()
	s.routes = sorted
	s.mu.Unlock()
}

func sortRoutes(routes []tcpip.Route) {
	slices.SortStableFunc(routes, func(a, b tcpip.Route) int {
		if a.Destination.Bits() != b.Destination.Bits() {
			return b.Destination.Bits() - a.Destination.Bits()
		}
		return cmp.Compare(a.Metric, b.Metric)
	})
}

// GetRouteTable returns a copy of the route table, in matching order.
func (s *Stack) GetRouteTable() []tcpip.Route {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.routes)
}

// AddRoute adds one route. A route equal to one already present gives
// tcpip.ErrDuplicateAddress.
func (s *Stack) AddRoute(r tcpip.Route) error {
	if !r.Destination.IsValid() {
		return tcpip.ErrInvalidArgument
	}
	r.Destination = r.Destination.Masked()
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.routes, r) {
		return tcpip.ErrDuplicateAddress
	}
	routes := append(slices.Clone(s.routes), r)
	sortRoutes(routes)
	s.routes = routes
	return nil
}

// RemoveRoutes removes the routes for which match returns true and returns
// how many it removed.
func (s *Stack) RemoveRoutes(match func(tcpip.Route) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := make([]tcpip.Route, 0, len(s.routes))
	for _, r := range s.routes {
		if !match(r) {
			kept = append(kept, r)
		}
	}
	n := len(s.routes) - len(kept)
	s.routes = kept
	return n
}

// FindRoute returns a route from local (the zero Addr: the stack picks a
// source) to remote over NIC id (0: any NIC).
//
// Limited broadcast, multicast and link-local destinations need no route
// table entry when the NIC is known (named, or the owner of local).
// Otherwise the route table decides and a gateway becomes the next hop. A
// destination that is one of the stack's own addresses loops back inside
// the stack when HandleLocal is on. multicastLoop makes multicast packets
// also delivered locally if the NIC is a member of the group.
//
// Addresses do not add routes by themselves: the route table holds every
// route, on-link subnets included (as gVisor's, unlike Linux's automatic
// "proto kernel" routes).
//
// Errors: tcpip.ErrNetworkUnreachable (ENETUNREACH) when no route matches
// remote, as Linux's connect(2) reports; tcpip.ErrNoRoute (EHOSTUNREACH)
// when routes match but cannot be used (every matching NIC down, or the
// chosen NIC has no source address of the protocol);
// tcpip.ErrBadLocalAddress when local is not the stack's and the NIC does
// not spoof.
func (s *Stack) FindRoute(id tcpip.NICID, local, remote netip.Addr, proto tcpip.NetworkProtocolNumber, multicastLoop bool) (*Route, error) {
	local, remote = local.Unmap(), remote.Unmap()
	if !remote.IsValid() || tcpip.NetworkProtocolFor(remote) != proto {
		return nil, tcpip.ErrInvalidArgument
	}
	if local.IsValid() && (tcpip.NetworkProtocolFor(local) != proto || local.IsUnspecified()) {
		local = netip.Addr{}
	}
	if s.networkProtocols[proto] == nil {
		return nil, tcpip.ErrUnknownProtocol
	}
	// A local address that no NIC owns may only be used on a NIC that
	// spoofs.
	var localNIC *nic
	needSpoofing := false
	if local.IsValid() {
		if owner := s.CheckLocalAddress(id, proto, local); owner != 0 {
			localNIC, _ = s.nic(owner)
		} else if id != 0 {
			n, err := s.nic(id)
			if err != nil {
				return nil, err
			}
			if !n.Spoofing() {
				return nil, tcpip.ErrBadLocalAddress
			}
			localNIC = n
		} else {
			needSpoofing = true
		}
	}

	// Handle-local: the destination is ours.
	if s.handleLocal {
		if owner := s.CheckLocalAddress(0, proto, remote); owner != 0 && (id == 0 || id == owner) {
			n, err := s.nic(owner)
			if err == nil {
				src := local
				if !src.IsValid() {
					src = remote
				}
				return s.newRoute(n, proto, src, remote, netip.Addr{}, tcpip.LinkAddress{}, LoopLocal), nil
			}
		}
	}

	// Destinations that need no route when the NIC is known.
	isBroadcast := proto == tcpip.IPv4ProtocolNumber && remote == netip.AddrFrom4([4]byte{255, 255, 255, 255})
	if isBroadcast || remote.IsMulticast() || remote.IsLinkLocalUnicast() {
		n := localNIC
		if n == nil && id != 0 {
			var err error
			if n, err = s.nic(id); err != nil {
				return nil, err
			}
		}
		if n != nil {
			return s.routeOnNIC(n, proto, local, remote, netip.Addr{}, isBroadcast, multicastLoop)
		}
	}

	s.mu.RLock()
	routes := s.routes
	s.mu.RUnlock()
	// The first (most specific) route whose NIC is up decides; routes
	// through NICs that are down are skipped, as Linux skips dead nexthops.
	matched := false
	for _, rt := range routes {
		if !rt.Destination.Contains(remote) || (id != 0 && rt.NIC != id) {
			continue
		}
		if localNIC != nil && rt.NIC != localNIC.id {
			continue
		}
		matched = true
		n, err := s.nic(rt.NIC)
		if err != nil || !n.Enabled() {
			continue
		}
		if needSpoofing && !n.Spoofing() {
			return nil, tcpip.ErrBadLocalAddress
		}
		gw := rt.Gateway.Unmap()
		if gw == remote {
			gw = netip.Addr{}
		}
		return s.routeOnNIC(n, proto, local, remote, gw, isBroadcast, multicastLoop)
	}
	if matched {
		return nil, tcpip.ErrNoRoute
	}
	return nil, tcpip.ErrNetworkUnreachable
}

// routeOnNIC builds a route out of n, choosing the source address if local
// is not given.
func (s *Stack) routeOnNIC(n *nic, proto tcpip.NetworkProtocolNumber, local, remote, gateway netip.Addr, isBroadcast, multicastLoop bool) (*Route, error) {
	if !n.Enabled() {
		return nil, tcpip.ErrNoRoute
	}
	if !local.IsValid() {
		p, ok := n.PrimaryAddress(proto, remote)
		if !ok {
			return nil, tcpip.ErrNoRoute
		}
		local = p.Addr()
	}
	var linkAddr tcpip.LinkAddress
	loop := LoopOut
	switch {
	case isBroadcast || n.isDirectedBroadcast(proto, remote):
		linkAddr = tcpip.BroadcastLinkAddress
		gateway = netip.Addr{}
	case remote.IsMulticast():
		gateway = netip.Addr{}
		if multicastLoop && n.networkEndpoints[proto].IsInGroup(remote) {
			loop |= LoopLocal
		}
	}
	if n.loopback {
		loop = LoopLocal
	}
	return s.newRoute(n, proto, local, remote, gateway, linkAddr, loop), nil
}

func (s *Stack) newRoute(n *nic, proto tcpip.NetworkProtocolNumber, local, remote, gateway netip.Addr, linkAddr tcpip.LinkAddress, loop LoopMode) *Route {
	return s.sharedRoutes.share(Route{
		NetProto:          proto,
		LocalAddress:      local,
		RemoteAddress:     remote,
		NextHop:           gateway,
		RemoteLinkAddress: linkAddr,
		NIC:               n.id,
		Loop:              loop,
		nic:               n,
		netEP:             n.networkEndpoints[proto],
	})
}

// routeCache shares Routes: FindRoute returns the Route it made last for
// the same parameters, if it is still in the cache, rather than a new
// one, so that 10 000 connections to one peer hold one Route between them
// instead of 10 000 copies (DESIGN.md principle 6). A Route is never
// modified once made, so sharing it changes nothing for its users; a
// change of the route table or of addresses gives later lookups different
// parameters and so a different Route, as before.
//
// The cache is direct-mapped, by a hash of the destination and NIC, with
// a fixed number of slots, each holding the latest Route made for its
// hash: it never grows, and a lookup that misses (a slot taken by another
// destination) makes a new Route as if there were no cache. A flood of
// one-off destinations (SYN-ACKs or RSTs to spoofed sources) costs what it
// cost without the cache.
type routeCache struct {
	slots [routeCacheSlots]atomic.Pointer[Route]
}

// same reports whether r and o are the same path. netEP is not compared:
// it is the NIC's endpoint of NetProto, fixed when the NIC was made (and
// comparing interfaces would panic on a dynamic type that is not
// comparable).
func (r *Route) same(o *Route) bool {
	return r.nic == o.nic && r.NetProto == o.NetProto && r.LocalAddress == o.LocalAddress &&
		r.RemoteAddress == o.RemoteAddress && r.NextHop == o.NextHop &&
		r.RemoteLinkAddress == o.RemoteLinkAddress && r.NIC == o.NIC && r.Loop == o.Loop
}

// routeCacheSlots is the number of a stack's cached Routes (a power of
// two).
const routeCacheSlots = 64

// share returns a Route equal to r: the cached one if its slot holds one,
// otherwise a new copy of r, which takes the slot.
func (c *routeCache) share(r Route) *Route {
	a := r.RemoteAddress.As16()
	h := binary.LittleEndian.Uint64(a[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(a[8:]) ^ uint64(r.NIC)
	h *= 0xbf58476d1ce4e5b9
	slot := &c.slots[h>>(64-bits.TrailingZeros(routeCacheSlots))]
	if p := slot.Load(); p != nil && p.same(&r) {
		return p
	}
	p := new(Route)
	*p = r
	slot.Store(p)
	return p
}

// isDirectedBroadcast reports whether addr is the broadcast address of the
// subnet of one of n's IPv4 addresses (RFC 919, RFC 922).
func (n *nic) isDirectedBroadcast(proto tcpip.NetworkProtocolNumber, addr netip.Addr) bool {
	if proto != tcpip.IPv4ProtocolNumber || !addr.Is4() {
		return false
	}
	// Only prefixes up to /30 have a directed broadcast (RFC 3021 §3 for
	// /31), so its last bit is a one: every packet to an even unicast
	// address skips the lock and the loop.
	if addr.As4()[3]&1 == 0 {
		return false
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, a := range n.addrs.addrs {
		if a.Protocol == proto && a.Address.Bits() < 31 && directedBroadcast(a.Address) == addr {
			return true
		}
	}
	return false
}

// IsSubnetBroadcast reports whether addr is the directed broadcast address
// of a subnet of NIC id (for the IPv4 receive path).
func (s *Stack) IsSubnetBroadcast(id tcpip.NICID, proto tcpip.NetworkProtocolNumber, addr netip.Addr) bool {
	n, err := s.nic(id)
	return err == nil && n.isDirectedBroadcast(proto, addr)
}
