package stack

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// NICOptions configure a NIC at creation.
type NICOptions struct {
	// Name is the NIC's name (for NICInfo, logs and RFC 7217 IIDs). The
	// zero value means "nic<ID>".
	Name string
	// Disabled leaves the NIC down: it does not attach to its link until
	// EnableNIC.
	Disabled bool
	// Context is an opaque value returned in NICInfo.
	Context any
}

// NICInfo describes a NIC.
type NICInfo struct {
	ID          tcpip.NICID
	Name        string
	LinkAddress tcpip.LinkAddress
	Addresses   []AddressInfo
	Flags       NICStateFlags
	MTU         uint32
	Stats       *tcpip.NICStats
	Context     any
}

// NICStateFlags are the state flags of a NIC.
type NICStateFlags struct {
	// Up: the NIC is enabled.
	Up bool
	// Running: the NIC is enabled and attached to its link.
	Running bool
	// Promiscuous: the NIC accepts packets for any destination.
	Promiscuous bool
	// Loopback: the NIC's link is a loopback.
	Loopback bool
}

// nic is a network interface: a link, the network endpoints on it, its
// addresses and neighbour caches.
//
// Lock order: Stack.mu before nic.mu; nic.mu is never held while calling
// into a network endpoint, a link or a neighbour cache.
type nic struct {
	stack    *Stack
	id       tcpip.NICID
	name     string
	context  any
	link     LinkEndpoint
	loopback bool
	stats    tcpip.NICStats

	// Fixed at creation.
	networkEndpoints map[tcpip.NetworkProtocolNumber]NetworkEndpoint
	neighbors        map[tcpip.NetworkProtocolNumber]*NeighborCache
	resolvers        map[tcpip.NetworkProtocolNumber]LinkAddressResolver

	slices sync.Pool // *[1]*buffer.Packet, to call WritePackets without allocating

	mu          sync.RWMutex
	enabled     bool         // guarded by mu
	removed     bool         // guarded by mu
	promiscuous bool         // guarded by mu
	spoofing    bool         // guarded by mu
	addrs       addressTable // guarded by mu
	packetEPs   packetEndpointList
}

// CreateNIC creates a NIC with the given ID over a link, enabled.
func (s *Stack) CreateNIC(id tcpip.NICID, link LinkEndpoint) error {
	return s.CreateNICWithOptions(id, link, NICOptions{})
}

// CreateNICWithOptions creates a NIC. The ID must be positive and unused
// (tcpip.ErrDuplicateNICID), the name unused.
func (s *Stack) CreateNICWithOptions(id tcpip.NICID, link LinkEndpoint, opts NICOptions) error {
	if id <= 0 || link == nil {
		return tcpip.ErrInvalidArgument
	}
	name := opts.Name
	if name == "" {
		name = "nic" + strconv.Itoa(int(id))
	}
	n := &nic{
		stack:            s,
		id:               id,
		name:             name,
		context:          opts.Context,
		link:             link,
		loopback:         link.Capabilities()&CapabilityLoopback != 0,
		networkEndpoints: make(map[tcpip.NetworkProtocolNumber]NetworkEndpoint),
		neighbors:        make(map[tcpip.NetworkProtocolNumber]*NeighborCache),
		resolvers:        make(map[tcpip.NetworkProtocolNumber]LinkAddressResolver),
	}
	n.slices.New = func() any { return new([1]*buffer.Packet) }

	// The network endpoints are built before the NIC is published, so that
	// no lookup ever sees a half-built NIC. They are built in protocol
	// number order, not the map's random one: each may draw from the
	// stack's random source (a neighbour cache its ReachableTime), and a
	// seeded source must give every run the same draws.
	for _, num := range slices.Sorted(maps.Keys(s.networkProtocols)) {
		p := s.networkProtocols[num]
		ep := p.NewEndpoint(n, s)
		n.networkEndpoints[num] = ep
		if r, ok := ep.(LinkAddressResolver); ok && link.Capabilities()&CapabilityResolutionRequired != 0 {
			rp := r.ResolvedProtocol()
			n.resolvers[rp] = r
			n.neighbors[rp] = NewNeighborCache(s.nudConfig, s.clock, s.RandFloat64, r, neighborOutput{n, rp})
		}
	}

	s.mu.Lock()
	err := func() error {
		if s.closed {
			return tcpip.ErrStackClosed
		}
		if _, ok := s.nics[id]; ok {
			return tcpip.ErrDuplicateNICID
		}
		for _, other := range s.nics {
			if other.name == name {
				return tcpip.ErrDuplicateNICID
			}
		}
		s.nics[id] = n
		s.publishNICsLocked()
		return nil
	}()
	s.mu.Unlock()
	if err != nil {
		for _, c := range n.neighbors {
			c.Close()
		}
		for _, ep := range n.networkEndpoints {
			ep.Close()
		}
		return err
	}
	if !opts.Disabled {
		return s.EnableNIC(id)
	}
	return nil
}

func (s *Stack) nic(id tcpip.NICID) (*nic, error) {
	// Every packet looks its NIC up, from both directions at once: a
	// snapshot read spares them the shared reader count of s.mu.
	if v := s.nicView.Load(); v != nil {
		if n, ok := (*v)[id]; ok {
			return n, nil
		}
	}
	return nil, tcpip.ErrUnknownNICID
}

// publishNICsLocked replaces the snapshot nic reads with a copy of s.nics.
// s.mu must be held for writing.
func (s *Stack) publishNICsLocked() {
	v := make(map[tcpip.NICID]*nic, len(s.nics))
	for id, n := range s.nics {
		v[id] = n
	}
	s.nicView.Store(&v)
}

// EnableNIC brings a NIC up: it attaches to its link and its network
// endpoints start.
func (s *Stack) EnableNIC(id tcpip.NICID) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	n.mu.Lock()
	if n.enabled || n.removed {
		n.mu.Unlock()
		return nil
	}
	n.enabled = true
	n.mu.Unlock()
	n.link.Attach(n)
	// In protocol number order, as the endpoints were built: enabling
	// one draws from the stack's random source (IPv6's DAD and MLD
	// delays, IGMP's), so the map's order would make a seeded run
	// differ from the next.
	for _, num := range slices.Sorted(maps.Keys(n.networkEndpoints)) {
		if err := n.networkEndpoints[num].Enable(); err != nil {
			return err
		}
	}
	return nil
}

// DisableNIC brings a NIC down: it detaches from its link (no packet is
// delivered once DisableNIC returns) and its network endpoints stop.
// Addresses and routes stay.
func (s *Stack) DisableNIC(id tcpip.NICID) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	n.disable()
	return nil
}

func (n *nic) disable() {
	n.mu.Lock()
	if !n.enabled {
		n.mu.Unlock()
		return
	}
	n.enabled = false
	n.mu.Unlock()
	n.link.Attach(nil)
	for _, ep := range n.networkEndpoints {
		ep.Disable()
	}
	for _, c := range n.neighbors {
		c.Clear()
	}
}

// RemoveNIC disables a NIC, removes it with its addresses and the routes
// through it, and closes its link.
func (s *Stack) RemoveNIC(id tcpip.NICID) error {
	s.mu.Lock()
	n, ok := s.nics[id]
	if !ok {
		s.mu.Unlock()
		return tcpip.ErrUnknownNICID
	}
	delete(s.nics, id)
	s.publishNICsLocked()
	routes := make([]tcpip.Route, 0, len(s.routes))
	for _, r := range s.routes {
		if r.NIC != id {
			routes = append(routes, r)
		}
	}
	s.routes = routes
	s.mu.Unlock()
	n.remove()
	return nil
}

func (n *nic) remove() {
	n.disable()
	n.mu.Lock()
	n.removed = true
	n.mu.Unlock()
	for _, c := range n.neighbors {
		c.Close()
	}
	for _, ep := range n.networkEndpoints {
		ep.Close()
	}
	n.link.Close()
}

// CheckNIC reports whether a NIC exists and is enabled.
func (s *Stack) CheckNIC(id tcpip.NICID) bool {
	n, err := s.nic(id)
	return err == nil && n.Enabled()
}

// HasNIC reports whether a NIC exists.
func (s *Stack) HasNIC(id tcpip.NICID) bool {
	_, err := s.nic(id)
	return err == nil
}

// NICInfo describes every NIC.
func (s *Stack) NICInfo() map[tcpip.NICID]NICInfo {
	s.mu.RLock()
	nics := make([]*nic, 0, len(s.nics))
	for _, n := range s.nics {
		nics = append(nics, n)
	}
	s.mu.RUnlock()
	out := make(map[tcpip.NICID]NICInfo, len(nics))
	for _, n := range nics {
		n.mu.RLock()
		info := NICInfo{
			ID:          n.id,
			Name:        n.name,
			LinkAddress: n.link.LinkAddress(),
			Addresses:   n.addrs.infos(0),
			Flags: NICStateFlags{
				Up:          n.enabled,
				Running:     n.enabled,
				Promiscuous: n.promiscuous,
				Loopback:    n.loopback,
			},
			MTU:     n.link.MTU(),
			Stats:   &n.stats,
			Context: n.context,
		}
		n.mu.RUnlock()
		out[n.id] = info
	}
	return out
}

// NICByName returns the ID of the NIC with the given name.
func (s *Stack) NICByName(name string) (tcpip.NICID, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id, n := range s.nics {
		if n.name == name {
			return id, true
		}
	}
	return 0, false
}

// SetPromiscuousMode makes a NIC accept packets for any destination.
func (s *Stack) SetPromiscuousMode(id tcpip.NICID, on bool) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.promiscuous = on
	n.mu.Unlock()
	return nil
}

// SetSpoofing lets endpoints send from addresses a NIC does not own.
func (s *Stack) SetSpoofing(id tcpip.NICID, on bool) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.spoofing = on
	n.mu.Unlock()
	return nil
}

// NetworkInterface implementation.

func (n *nic) ID() tcpip.NICID                                        { return n.id }
func (n *nic) Name() string                                           { return n.name }
func (n *nic) IsLoopback() bool                                       { return n.loopback }
func (n *nic) LinkAddress() tcpip.LinkAddress                         { return n.link.LinkAddress() }
func (n *nic) MTU() uint32                                            { return n.link.MTU() }
func (n *nic) MaxLinkHeaderLength() int                               { return n.link.MaxHeaderLength() }
func (n *nic) Stats() *tcpip.NICStats                                 { return &n.stats }
func (n *nic) Stack() *Stack                                          { return n.stack }
func (n *nic) Capabilities() LinkCapabilities                         { return n.link.Capabilities() }
func (n *nic) Neighbors(p tcpip.NetworkProtocolNumber) *NeighborCache { return n.neighbors[p] }

func (n *nic) Enabled() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.enabled
}

func (n *nic) Promiscuous() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.promiscuous
}

func (n *nic) Spoofing() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.spoofing
}

func (n *nic) HasAddress(proto tcpip.NetworkProtocolNumber, addr netip.Addr) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.addrs.has(proto, addr)
}

func (n *nic) PrimaryAddress(proto tcpip.NetworkProtocolNumber, remote netip.Addr) (netip.Prefix, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.addrs.primary(proto, remote)
}

func (n *nic) Addresses(proto tcpip.NetworkProtocolNumber) []AddressInfo {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.addrs.infos(proto)
}

// DeliverNetworkPackets implements BatchDispatcher: it coalesces the batch
// (GRO, see gro.go) when the stack allows it and the link verifies
// checksums, and delivers what is left in order. A stack forwarding IPv4
// does not coalesce: a coalesced segment it forwarded would exceed the next
// link's MTU with Don't Fragment set and be refused (Linux splits such
// packets again on egress, GSO, which ustack does not do for forwarded
// packets).
func (n *nic) DeliverNetworkPackets(pkts []*buffer.Packet) {
	if len(pkts) > 1 && !n.stack.noGRO && n.link.Capabilities()&CapabilityRXChecksumOffload != 0 && !n.stack.Forwarding(tcpip.IPv4ProtocolNumber) {
		pkts, _ = groCoalesce(pkts)
	}
	for _, p := range pkts {
		n.DeliverNetworkPacket(p.NetworkProtocol, p)
	}
}

// DeliverNetworkPacket implements NetworkDispatcher: the inbound path from
// the link.
func (n *nic) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	s := n.stack
	n.mu.RLock()
	enabled, promiscuous := n.enabled, n.promiscuous
	n.mu.RUnlock()
	if !enabled {
		n.stats.RxDisabled.Inc()
		s.stats.NICs.RxDisabled.Inc()
		pkt.Release()
		return
	}
	size := uint64(pkt.Len())
	// A packet coalesced by GRO counts as the segments it holds.
	segs := uint64(max(1, pkt.Segments))
	n.stats.RxPackets.Add(segs)
	n.stats.RxBytes.Add(size)
	s.stats.NICs.RxPackets.Add(segs)
	s.stats.NICs.RxBytes.Add(size)
	pkt.NIC = n.id
	if proto == 0 {
		proto = pkt.NetworkProtocol
	}
	pkt.NetworkProtocol = proto
	// A link with receive checksum offload carries packets whose sender
	// may have left the transport checksum to a transmit offload: should
	// the packet be forwarded, the network layer fills it in before it
	// leaves by a link that would not (FillTransportChecksum).
	pkt.ChecksumPending = n.link.Capabilities()&CapabilityRXChecksumOffload != 0

	// Packet endpoints see every frame, before any filtering by address.
	n.packetEPs.deliver(n.id, proto, pkt)
	s.packetEPs.deliver(n.id, proto, pkt)

	if pkt.Type == buffer.PacketOtherHost && !promiscuous {
		n.stats.RxNotForUs.Inc()
		s.stats.NICs.RxNotForUs.Inc()
		pkt.Release()
		return
	}
	ep := n.networkEndpoints[proto]
	if ep == nil {
		n.stats.RxUnknownProtocol.Inc()
		s.stats.NICs.RxUnknownProtocol.Inc()
		pkt.Release()
		return
	}
	ep.HandlePacket(pkt)
}

// WritePacket implements NetworkInterface.
func (n *nic) WritePacket(nextHop netip.Addr, proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) error {
	if n.link.Capabilities()&CapabilityResolutionRequired == 0 {
		return n.writeToLink(tcpip.LinkAddress{}, proto, pkt)
	}
	r := n.resolvers[proto]
	c := n.neighbors[proto]
	if r == nil || c == nil {
		// No resolver for the protocol on a link that needs one.
		n.stats.TxNoLinkAddress.Inc()
		n.stack.stats.NICs.TxNoLinkAddress.Inc()
		pkt.Release()
		return tcpip.ErrHostUnreachable
	}
	if la, ok := r.ResolveStaticAddress(nextHop); ok {
		return n.writeToLink(la, proto, pkt)
	}
	pkt.NetworkProtocol = proto
	// RFC 4861 §7.2.2 (and RFC 1122 §2.3.2.1 for ARP): solicit from the
	// source address of the packet that needs the resolution.
	return c.Send(nextHop, packetSource(proto, pkt.NetworkHeader()), pkt)
}

// packetSource returns the source address of an IPv4 or IPv6 header, or the
// zero Addr if hdr is not one.
func packetSource(proto tcpip.NetworkProtocolNumber, hdr []byte) netip.Addr {
	switch {
	case proto == tcpip.IPv4ProtocolNumber && len(hdr) >= 20:
		return netip.AddrFrom4([4]byte(hdr[12:16]))
	case proto == tcpip.IPv6ProtocolNumber && len(hdr) >= 40:
		return netip.AddrFrom16([16]byte(hdr[8:24]))
	}
	return netip.Addr{}
}

// WritePacketToLinkAddress implements NetworkInterface.
func (n *nic) WritePacketToLinkAddress(dst tcpip.LinkAddress, proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) error {
	return n.writeToLink(dst, proto, pkt)
}

// writeToLink adds the link header and writes pkt. It owns pkt.
func (n *nic) writeToLink(dst tcpip.LinkAddress, proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) error {
	s := n.stack
	n.mu.RLock()
	enabled := n.enabled
	n.mu.RUnlock()
	if !enabled {
		n.stats.TxDisabled.Inc()
		s.stats.NICs.TxDisabled.Inc()
		pkt.Release()
		return tcpip.ErrNetworkDown
	}
	pkt.NIC = n.id
	pkt.NetworkProtocol = proto
	pkt.LinkSource = n.link.LinkAddress()
	pkt.LinkDestination = dst
	pkt.Type = buffer.PacketOutgoing
	n.link.AddHeader(pkt)
	return n.writeRaw(pkt)
}

// writeRaw writes a packet that has its link header. It owns pkt.
func (n *nic) writeRaw(pkt *buffer.Packet) error {
	s := n.stack
	n.packetEPs.deliver(n.id, pkt.NetworkProtocol, pkt)
	s.packetEPs.deliver(n.id, pkt.NetworkProtocol, pkt)
	size := uint64(pkt.Len())
	one := n.slices.Get().(*[1]*buffer.Packet)
	one[0] = pkt
	_, err := n.link.WritePackets(one[:])
	one[0] = nil
	n.slices.Put(one)
	if err != nil {
		if err == tcpip.ErrWouldBlock || err == tcpip.ErrNoBufferSpace {
			n.stats.TxQueueFull.Inc()
			s.stats.NICs.TxQueueFull.Inc()
		} else {
			n.stats.TxErrors.Inc()
			s.stats.NICs.TxErrors.Inc()
		}
		return err
	}
	n.stats.TxPackets.Inc()
	n.stats.TxBytes.Add(size)
	s.stats.NICs.TxPackets.Inc()
	s.stats.NICs.TxBytes.Add(size)
	return nil
}

// neighborOutput connects a NIC's neighbour cache for one protocol back to
// the NIC.
type neighborOutput struct {
	n     *nic
	proto tcpip.NetworkProtocolNumber
}

// WriteResolved implements NeighborOutput.
func (o neighborOutput) WriteResolved(_ netip.Addr, la tcpip.LinkAddress, pkts []*buffer.Packet) {
	for _, p := range pkts {
		o.n.writeToLink(la, o.proto, p)
	}
}

// WriteResolvedOne implements NeighborWriter.
func (o neighborOutput) WriteResolvedOne(_ netip.Addr, la tcpip.LinkAddress, pkt *buffer.Packet) error {
	return o.n.writeToLink(la, o.proto, pkt)
}

// QueueDropped implements NeighborDropObserver: packets waiting for
// resolution were dropped because the entry's queue was full.
func (o neighborOutput) QueueDropped(_ netip.Addr, n int) {
	o.n.stats.TxResolutionQueue.Add(uint64(n))
	o.n.stack.stats.NICs.TxResolutionQueue.Add(uint64(n))
}

// LinkResolutionFailureHandler is implemented by network endpoints that
// answer packets whose next hop could not be resolved (ICMP host
// unreachable, RFC 1122 §3.3.1.4 / RFC 4861 §7.2.2).
// The packet is lent for the call: the NIC releases it afterwards.
type LinkResolutionFailureHandler interface {
	HandleLinkResolutionFailure(pkt *buffer.Packet)
}

// ResolutionFailed implements NeighborOutput. Each call is one failed
// resolution (or an entry removed while packets waited for it).
func (o neighborOutput) ResolutionFailed(_ netip.Addr, pkts []*buffer.Packet) {
	switch o.proto {
	case tcpip.IPv4ProtocolNumber:
		o.n.stack.stats.ARP.ResolutionFailures.Inc()
	case tcpip.IPv6ProtocolNumber:
		o.n.stack.stats.ICMPv6.ResolutionFailure.Inc()
	}
	h, _ := o.n.networkEndpoints[o.proto].(LinkResolutionFailureHandler)
	for _, p := range pkts {
		o.n.stats.TxNoLinkAddress.Inc()
		o.n.stack.stats.NICs.TxNoLinkAddress.Inc()
		if h != nil {
			h.HandleLinkResolutionFailure(p)
		}
		p.Release()
	}
}
