package stack

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/ustack-go/ustack/tcpip"
)

// PrimaryEndpointBehavior says whether an address may be chosen as the
// source of packets that do not name one.
type PrimaryEndpointBehavior int

// Primary behaviours.
const (
	// CanBePrimaryEndpoint: eligible, in the order added (the default).
	CanBePrimaryEndpoint PrimaryEndpointBehavior = iota
	// FirstPrimaryEndpoint: eligible, ahead of those added before it.
	FirstPrimaryEndpoint
	// NeverPrimaryEndpoint: used only when named explicitly.
	NeverPrimaryEndpoint
)

// AddressProperties are the options of an added address.
type AddressProperties struct {
	PEB PrimaryEndpointBehavior
	// Deprecated addresses are kept for existing traffic but not chosen
	// as sources when another is available (RFC 4862 §5.5.4).
	Deprecated bool
	// Tentative addresses are not yet usable: DAD is in progress
	// (RFC 4862 §5.4). Network protocols set and clear it.
	Tentative bool
}

// AddressInfo describes an address of a NIC.
type AddressInfo struct {
	Protocol tcpip.NetworkProtocolNumber
	// Address is the address with its on-link prefix length.
	Address    netip.Prefix
	Properties AddressProperties
}

// addressTable holds a NIC's addresses and address ranges. It is guarded by
// the NIC's mu.
type addressTable struct {
	addrs  []AddressInfo // primary-candidate order: FirstPrimary entries first
	ranges []tcpip.ProtocolAddress
}

func (t *addressTable) find(addr netip.Addr) int {
	for i, a := range t.addrs {
		if a.Address.Addr() == addr {
			return i
		}
	}
	return -1
}

func (t *addressTable) add(proto tcpip.NetworkProtocolNumber, p netip.Prefix, props AddressProperties) error {
	if t.find(p.Addr()) >= 0 {
		return tcpip.ErrDuplicateAddress
	}
	a := AddressInfo{Protocol: proto, Address: p, Properties: props}
	if props.PEB == FirstPrimaryEndpoint {
		t.addrs = slices.Insert(t.addrs, 0, a)
	} else {
		t.addrs = append(t.addrs, a)
	}
	return nil
}

func (t *addressTable) remove(addr netip.Addr) (AddressInfo, bool) {
	i := t.find(addr)
	if i < 0 {
		return AddressInfo{}, false
	}
	a := t.addrs[i]
	t.addrs = slices.Delete(t.addrs, i, i+1)
	return a, true
}

// has reports whether addr is a usable address of the NIC: assigned and not
// tentative, or inside an address range (but not the range's network or
// IPv4 broadcast address).
func (t *addressTable) has(proto tcpip.NetworkProtocolNumber, addr netip.Addr) bool {
	for _, a := range t.addrs {
		if a.Address.Addr() == addr && a.Protocol == proto {
			return !a.Properties.Tentative
		}
	}
	for _, r := range t.ranges {
		if r.Protocol == proto && inRange(r.Address, addr) {
			return true
		}
	}
	return false
}

// inRange reports whether addr is a host address of subnet: inside it, and
// for IPv4 prefixes shorter than /31 neither the network nor the broadcast
// address (RFC 919, RFC 3021 for /31).
func inRange(subnet netip.Prefix, addr netip.Addr) bool {
	if !subnet.Contains(addr) {
		return false
	}
	if addr.Is4() && subnet.Bits() < 31 {
		return addr != subnet.Masked().Addr() && addr != directedBroadcast(subnet)
	}
	return true
}

// directedBroadcast returns the all-ones host address of an IPv4 prefix.
func directedBroadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	// RFC 919 §7: the directed broadcast address of a subnet is its
	// address with the host part all ones (a shift by 32 or more is zero
	// in Go, so a /32 is its own address).
	v := binary.BigEndian.Uint32(a[:]) | ^uint32(0)>>uint(p.Bits())
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
}

// primary chooses the source address for a packet to remote: among the
// usable primary candidates, one of the destination's scope (RFC 6724 §5
// rule 2: a link-local source for a link-local destination, a wider one
// otherwise), then a preferred (not deprecated) one over a deprecated one
// (rule 3, which ranks above rule 8's longest match), then one whose subnet
// holds remote, then any.
func (t *addressTable) primary(proto tcpip.NetworkProtocolNumber, remote netip.Addr) (netip.Prefix, bool) {
	best, bestScore := netip.Prefix{}, -1
	remoteLinkScope := remote.Is6() && (remote.IsLinkLocalUnicast() || remote.IsLinkLocalMulticast() || remote.IsInterfaceLocalMulticast())
	for _, a := range t.addrs {
		if a.Protocol != proto || a.Properties.PEB == NeverPrimaryEndpoint || a.Properties.Tentative {
			continue
		}
		score := 1
		if !remote.Is6() || a.Address.Addr().IsLinkLocalUnicast() == remoteLinkScope {
			score += 8
		}
		if !a.Properties.Deprecated {
			score += 4
		}
		if remote.IsValid() && a.Address.Masked().Contains(remote) {
			score += 2
		}
		if score > bestScore {
			best, bestScore = a.Address, score
		}
	}
	return best, bestScore >= 0
}

func (t *addressTable) infos(proto tcpip.NetworkProtocolNumber) []AddressInfo {
	var out []AddressInfo
	for _, a := range t.addrs {
		if proto == 0 || a.Protocol == proto {
			out = append(out, a)
		}
	}
	return out
}

// AddAddress adds addr to a NIC as a host address (a prefix of its full
// length).
func (s *Stack) AddAddress(id tcpip.NICID, proto tcpip.NetworkProtocolNumber, addr netip.Addr) error {
	return s.AddProtocolAddress(id, tcpip.ProtocolAddress{Protocol: proto, Address: netip.PrefixFrom(addr, addr.BitLen())}, AddressProperties{})
}

// AddProtocolAddress adds an address with its on-link prefix to a NIC. The
// network protocol is told (and may start DAD), and so is the protocol that
// resolves its addresses if it is another one (ARP sends a gratuitous ARP).
func (s *Stack) AddProtocolAddress(id tcpip.NICID, pa tcpip.ProtocolAddress, props AddressProperties) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	if err := validAddress(pa); err != nil {
		return err
	}
	ep := n.networkEndpoints[pa.Protocol]
	if ep == nil {
		return tcpip.ErrUnknownProtocol
	}
	n.mu.Lock()
	err = n.addrs.add(pa.Protocol, pa.Address, props)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	ep.AddressAdded(pa.Address)
	if r := n.resolverEndpoint(pa.Protocol); r != nil && r != ep {
		r.AddressAdded(pa.Address) // ARP announces IPv4 addresses
	}
	return nil
}

// resolverEndpoint returns the network endpoint that resolves addresses of
// proto on n (ARP's for IPv4), or nil.
func (n *nic) resolverEndpoint(proto tcpip.NetworkProtocolNumber) NetworkEndpoint {
	ep, _ := n.resolvers[proto].(NetworkEndpoint)
	return ep
}

func validAddress(pa tcpip.ProtocolAddress) error {
	a := pa.Address.Addr()
	if !pa.Address.IsValid() || tcpip.NetworkProtocolFor(a) != pa.Protocol || a.Is4In6() {
		return tcpip.ErrInvalidArgument
	}
	if a.IsUnspecified() || a.IsMulticast() {
		return tcpip.ErrInvalidArgument
	}
	return nil
}

// SetAddressProperties changes the properties of an address (protocols use
// it to end DAD or deprecate an address).
func (s *Stack) SetAddressProperties(id tcpip.NICID, addr netip.Addr, props AddressProperties) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	i := n.addrs.find(addr)
	if i < 0 {
		return tcpip.ErrAddressNotFound
	}
	n.addrs.addrs[i].Properties = props
	return nil
}

// RemoveAddress removes an address from a NIC.
func (s *Stack) RemoveAddress(id tcpip.NICID, addr netip.Addr) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	n.mu.Lock()
	a, ok := n.addrs.remove(addr)
	n.mu.Unlock()
	if !ok {
		return tcpip.ErrAddressNotFound
	}
	ep := n.networkEndpoints[a.Protocol]
	if ep != nil {
		ep.AddressRemoved(a.Address)
	}
	if r := n.resolverEndpoint(a.Protocol); r != nil && r != ep {
		r.AddressRemoved(a.Address)
	}
	return nil
}

// AllAddresses returns the addresses of every NIC.
func (s *Stack) AllAddresses() map[tcpip.NICID][]tcpip.ProtocolAddress {
	out := make(map[tcpip.NICID][]tcpip.ProtocolAddress)
	for _, n := range s.nicList() {
		n.mu.RLock()
		list := make([]tcpip.ProtocolAddress, 0, len(n.addrs.addrs))
		for _, a := range n.addrs.addrs {
			list = append(list, tcpip.ProtocolAddress{Protocol: a.Protocol, Address: a.Address})
		}
		n.mu.RUnlock()
		out[n.id] = list
	}
	return out
}

// GetMainNICAddress returns the address a NIC would send from by default:
// its first non-deprecated primary address of the protocol (a deprecated
// one if there is nothing else). The zero Prefix means none.
func (s *Stack) GetMainNICAddress(id tcpip.NICID, proto tcpip.NetworkProtocolNumber) (netip.Prefix, error) {
	n, err := s.nic(id)
	if err != nil {
		return netip.Prefix{}, err
	}
	if n.networkEndpoints[proto] == nil {
		return netip.Prefix{}, tcpip.ErrUnknownProtocol
	}
	p, _ := n.PrimaryAddress(proto, netip.Addr{})
	return p, nil
}

// CheckLocalAddress returns the NIC that owns addr (restricted to NIC id if
// it is not 0), or 0 if none does.
func (s *Stack) CheckLocalAddress(id tcpip.NICID, proto tcpip.NetworkProtocolNumber, addr netip.Addr) tcpip.NICID {
	for _, n := range s.nicList() {
		if id != 0 && n.id != id {
			continue
		}
		if n.HasAddress(proto, addr) {
			return n.id
		}
	}
	return 0
}

// AddAddressRange makes a NIC answer for every host address of subnet (all
// but the network and broadcast addresses for IPv4).
func (s *Stack) AddAddressRange(id tcpip.NICID, proto tcpip.NetworkProtocolNumber, subnet netip.Prefix) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	if !subnet.IsValid() || tcpip.NetworkProtocolFor(subnet.Addr()) != proto {
		return tcpip.ErrInvalidArgument
	}
	subnet = subnet.Masked()
	n.mu.Lock()
	defer n.mu.Unlock()
	pa := tcpip.ProtocolAddress{Protocol: proto, Address: subnet}
	if slices.Contains(n.addrs.ranges, pa) {
		return tcpip.ErrDuplicateAddress
	}
	n.addrs.ranges = append(n.addrs.ranges, pa)
	return nil
}

// RemoveAddressRange removes an address range from a NIC.
func (s *Stack) RemoveAddressRange(id tcpip.NICID, subnet netip.Prefix) error {
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	subnet = subnet.Masked()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, r := range n.addrs.ranges {
		if r.Address == subnet {
			n.addrs.ranges = slices.Delete(n.addrs.ranges, i, i+1)
			return nil
		}
	}
	return tcpip.ErrAddressNotFound
}

// NICAddressRanges returns the address ranges of every NIC.
func (s *Stack) NICAddressRanges() map[tcpip.NICID][]netip.Prefix {
	out := make(map[tcpip.NICID][]netip.Prefix)
	for _, n := range s.nicList() {
		n.mu.RLock()
		for _, r := range n.addrs.ranges {
			out[n.id] = append(out[n.id], r.Address)
		}
		n.mu.RUnlock()
	}
	return out
}

// nicList returns the NICs in ID order.
func (s *Stack) nicList() []*nic {
	s.mu.RLock()
	list := make([]*nic, 0, len(s.nics))
	for _, n := range s.nics {
		list = append(list, n)
	}
	s.mu.RUnlock()
	slices.SortFunc(list, func(a, b *nic) int { return int(a.id - b.id) })
	return list
}
