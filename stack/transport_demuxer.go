package stack

import (
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// transportDemuxer finds the transport endpoints of inbound packets and of
// ICMP errors, and keeps the raw endpoints and the endpoints being cleaned
// up.
//
// # Matching
//
// A packet's id is taken from the receiving endpoint's point of view
// (LocalAddress and LocalPort are the packet's destination). The most
// specific registration wins, as RFC 9293 §3.9.1.1 (and RFC 793 §2.7
// before it) prefers a TCB with a fully specified remote socket to one
// whose remote socket is unspecified:
//
//  1. the exact 4-tuple (connected endpoints);
//  2. the remote address and port with a wildcard local address (an
//     endpoint connected without a local address of its own);
//  3. the local address and port (bound or listening endpoints);
//  4. the local port with a wildcard local address.
//
// Order 2 before 3 is Linux's: its UDP lookup scores each matching field
// alike, so a socket matching the remote address and port beats one
// matching only the local address.
//
// At each step, endpoints bound to the packet's NIC (bindToDevice) are
// preferred to endpoints bound to no NIC; endpoints bound to another NIC
// do not match.
//
// Endpoints registered under one id and one device form a group: sharing
// requires that every member set LoadBalanced (SO_REUSEPORT) or that every
// pair of members set ReuseAddress (SO_REUSEADDR), as the port manager
// allows. A unicast packet goes to one member: in an SO_REUSEPORT group,
// chosen by a hash of the packet's 4-tuple seeded with Stack.Seed, so that
// a flow always reaches the same member while the group does not change
// (this is a load-balancing hash and has nothing to do with RFC 6056's
// port selection); otherwise to the most recently registered member, as
// Linux delivers unicast among SO_REUSEADDR sockets. Multicast and
// broadcast packets go to every matching endpoint of every step, as Linux
// delivers them to every socket whose bound address, connected address
// and device accept them.
//
// Dual-stack: an endpoint registered with netProtos {IPv6, IPv4} is
// entered in the tables of both protocols, so an IPv6 socket without
// IPV6_V6ONLY bound to the wildcard address receives IPv4 packets (with
// IPv4 ids). Addresses of registrations are normalised as the port
// manager's: IPv4-mapped to IPv4, no zone, unspecified to the zero Addr.
// Packet ids are used as the network layer gives them.
//
// # Locks
//
// Each (network, transport) protocol pair has a table with its own
// RWMutex; the set of tables and the raw endpoint lists are copy-on-write
// snapshots read without locking. Delivery looks up under the table's read
// lock and calls endpoints after releasing it, so an endpoint may
// register or unregister from its handlers, and an endpoint may receive a
// packet that raced with its unregistering. The demuxer's locks are
// leaves: nothing else is locked while they are held.
type transportDemuxer struct {
	stack *Stack

	// mu serialises writers of tables and raw.
	mu sync.Mutex
	// tables is the current snapshot of the protocol tables; tables are
	// added, never removed.
	tables atomic.Pointer[map[demuxProtoKey]*demuxTable]
	// raw is the current snapshot of the raw endpoints of each protocol
	// pair; its slices are never modified once published.
	raw atomic.Pointer[map[demuxProtoKey][]RawTransportEndpoint]

	cleanupMu sync.Mutex
	cleanup   map[TransportEndpoint]struct{} // guarded by cleanupMu
}

// demuxProtoKey identifies a protocol table.
type demuxProtoKey struct {
	net   tcpip.NetworkProtocolNumber
	trans tcpip.TransportProtocolNumber
}

// demuxTable holds the endpoints of one protocol pair by id.
type demuxTable struct {
	mu  sync.RWMutex
	ids map[demuxKey]demuxIDEntry // guarded by mu
}

// demuxKey is a TransportEndpointID flattened into bytes without padding
// or pointers, so that the map hashes it in one pass rather than field by
// field (BenchmarkDemuxDeliver: about 8% faster). Validity is kept apart
// so that the zero Addr (a wildcard) and the unspecified address of a
// packet stay distinct. IPv4 and IPv6 addresses with equal As16 never
// meet: each protocol has its own table.
type demuxKey struct {
	local, remote           [16]byte
	localPort, remotePort   uint16
	localValid, remoteValid bool
}

// demuxKeyOf returns the key of id.
func demuxKeyOf(id TransportEndpointID) demuxKey {
	return demuxKey{
		local:       id.LocalAddress.As16(),
		remote:      id.RemoteAddress.As16(),
		localPort:   id.LocalPort,
		remotePort:  id.RemotePort,
		localValid:  id.LocalAddress.IsValid(),
		remoteValid: id.RemoteAddress.IsValid(),
	}
}

// demuxIDEntry holds what is registered under one id. The usual case,
// one endpoint (every connection), is held in the entry itself, in the
// table's map: ep, with its flags and device. Otherwise ep is nil and
// multi holds the groups, one per device. Every connection holds an entry
// in the table of each end, so the single endpoint costs no allocation of
// its own (DESIGN.md principle 6).
type demuxIDEntry struct {
	ep     TransportEndpoint
	flags  PortFlags
	device tcpip.NICID
	multi  *demuxMulti
}

// demuxMulti holds the groups registered under one id, one per device.
type demuxMulti struct {
	groups []demuxGroup // guarded by demuxTable.mu
}

// single reports whether e holds one endpoint in itself.
func (e *demuxIDEntry) single() bool { return e.multi == nil }

// all yields every endpoint of e with its device.
func (e *demuxIDEntry) all(yield func(tcpip.NICID, TransportEndpoint) bool) {
	if e.single() {
		yield(e.device, e.ep)
		return
	}
	for i := range e.multi.groups {
		g := &e.multi.groups[i]
		for _, m := range g.members {
			if !yield(g.device, m.ep) {
				return
			}
		}
	}
}

// demuxGroup holds the endpoints registered under one id and one device.
type demuxGroup struct {
	device   tcpip.NICID   // 0: any NIC
	members  []demuxMember // in registration order
	balanced bool          // every member is LoadBalanced
}

// demuxMember is one endpoint of a group.
type demuxMember struct {
	ep    TransportEndpoint
	flags PortFlags
}

// demuxFanoutSize is how many endpoints a multicast or broadcast delivery
// collects without allocating.
const demuxFanoutSize = 16

// newTransportDemuxer returns an empty demultiplexer for s, whose Seed
// keys the reuse-port hash.
func newTransportDemuxer(s *Stack) *transportDemuxer {
	d := &transportDemuxer{stack: s, cleanup: make(map[TransportEndpoint]struct{})}
	tables := make(map[demuxProtoKey]*demuxTable)
	d.tables.Store(&tables)
	raw := make(map[demuxProtoKey][]RawTransportEndpoint)
	d.raw.Store(&raw)
	return d
}

// seed returns the key of the reuse-port hash.
func (d *transportDemuxer) seed() uint32 {
	if d.stack == nil {
		return 0
	}
	return d.stack.Seed()
}

// table returns the table of (net, trans), or nil if nothing was ever
// registered there.
func (d *transportDemuxer) table(net tcpip.NetworkProtocolNumber, trans tcpip.TransportProtocolNumber) *demuxTable {
	m := d.tables.Load()
	if m == nil {
		return nil
	}
	return (*m)[demuxProtoKey{net, trans}]
}

// tableOrCreate returns the table of (net, trans), adding it if needed.
func (d *transportDemuxer) tableOrCreate(net tcpip.NetworkProtocolNumber, trans tcpip.TransportProtocolNumber) *demuxTable {
	if t := d.table(net, trans); t != nil {
		return t
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.tables.Load()
	k := demuxProtoKey{net, trans}
	if t := (*old)[k]; t != nil {
		return t
	}
	m := make(map[demuxProtoKey]*demuxTable, len(*old)+1)
	for k, t := range *old {
		m[k] = t
	}
	t := &demuxTable{ids: make(map[demuxKey]demuxIDEntry)}
	m[k] = t
	d.tables.Store(&m)
	return t
}

// allTables returns the current tables.
func (d *transportDemuxer) allTables() map[demuxProtoKey]*demuxTable {
	if m := d.tables.Load(); m != nil {
		return *m
	}
	return nil
}

// demuxNormalizeID normalises the addresses of a registration's id (see
// portNormalizeAddr).
func demuxNormalizeID(id TransportEndpointID) TransportEndpointID {
	id.LocalAddress = portNormalizeAddr(id.LocalAddress)
	id.RemoteAddress = portNormalizeAddr(id.RemoteAddress)
	return id
}

// demuxSkip reports whether netProtos[i] is to be skipped for a
// registration of id: it repeats an earlier entry, or one of id's
// addresses belongs to another family.
func demuxSkip(netProtos []tcpip.NetworkProtocolNumber, i int, id TransportEndpointID) bool {
	return portSkip(netProtos, i, id.LocalAddress) || !portFits(netProtos[i], id.RemoteAddress)
}

// registerEndpoint enters ep under id in the tables of proto over each of
// netProtos that id's addresses fit; see Stack.RegisterTransportEndpoint.
func (d *transportDemuxer) registerEndpoint(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, id TransportEndpointID, ep TransportEndpoint, flags PortFlags, device tcpip.NICID) error {
	id = demuxNormalizeID(id)
	n := 0
	for i, np := range netProtos {
		if demuxSkip(netProtos, i, id) {
			continue
		}
		if err := d.tableOrCreate(np, proto).register(id, ep, flags, device); err != nil {
			for j, np := range netProtos[:i] {
				if !demuxSkip(netProtos, j, id) {
					d.tableOrCreate(np, proto).unregister(id, ep, device)
				}
			}
			return err
		}
		n++
	}
	if n == 0 {
		return tcpip.ErrInvalidArgument
	}
	return nil
}

// unregisterEndpoint undoes registerEndpoint.
func (d *transportDemuxer) unregisterEndpoint(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, id TransportEndpointID, ep TransportEndpoint, device tcpip.NICID) {
	id = demuxNormalizeID(id)
	for i, np := range netProtos {
		if demuxSkip(netProtos, i, id) {
			continue
		}
		if t := d.table(np, proto); t != nil {
			t.unregister(id, ep, device)
		}
	}
}

// register adds ep to the group of (id, device), creating it if needed.
func (t *demuxTable) register(id TransportEndpointID, ep TransportEndpoint, flags PortFlags, device tcpip.NICID) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := demuxKeyOf(id)
	e, ok := t.ids[k]
	if !ok {
		t.ids[k] = demuxIDEntry{ep: ep, flags: flags, device: device}
		return nil
	}
	if e.single() {
		if e.device == device && (e.ep == ep || !e.flags.portShares(flags)) {
			return tcpip.ErrAddressInUse
		}
		// A second endpoint: the entry moves to groups.
		e = demuxIDEntry{multi: &demuxMulti{groups: []demuxGroup{{
			device:   e.device,
			members:  []demuxMember{{e.ep, e.flags}},
			balanced: e.flags.LoadBalanced,
		}}}}
		t.ids[k] = e
	}
	m := e.multi
	for i := range m.groups {
		g := &m.groups[i]
		if g.device != device {
			continue
		}
		for _, m := range g.members {
			if m.ep == ep || !m.flags.portShares(flags) {
				return tcpip.ErrAddressInUse
			}
		}
		g.members = append(g.members, demuxMember{ep, flags})
		g.balanced = g.balanced && flags.LoadBalanced
		return nil
	}
	m.groups = append(m.groups, demuxGroup{
		device:   device,
		members:  []demuxMember{{ep, flags}},
		balanced: flags.LoadBalanced,
	})
	return nil
}

// unregister removes ep from the group of (id, device), if it is there.
func (t *demuxTable) unregister(id TransportEndpointID, ep TransportEndpoint, device tcpip.NICID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := demuxKeyOf(id)
	e, ok := t.ids[k]
	if !ok {
		return
	}
	if e.single() {
		if e.ep == ep && e.device == device {
			delete(t.ids, k)
		}
		return
	}
	ms := e.multi
	for i := range ms.groups {
		g := &ms.groups[i]
		if g.device != device {
			continue
		}
		for j, m := range g.members {
			if m.ep != ep {
				continue
			}
			// Keep the order: "most recently registered" and the
			// hash's choice depend on it.
			g.members = slices.Delete(g.members, j, j+1)
			if len(g.members) == 0 {
				ms.groups = slices.Delete(ms.groups, i, i+1)
				if len(ms.groups) == 0 {
					delete(t.ids, k)
				}
				return
			}
			g.balanced = true
			for _, m := range g.members {
				g.balanced = g.balanced && m.flags.LoadBalanced
			}
			return
		}
		return
	}
}

// find returns the endpoint of e that receives a unicast packet of id on
// nic, or nil: a member of the group bound to nic, else of the group
// bound to no NIC; nic 0 (not known) prefers the group bound to no NIC,
// else takes the first.
func (e *demuxIDEntry) find(id TransportEndpointID, nic tcpip.NICID, seed uint32) TransportEndpoint {
	if e.single() {
		if e.device == 0 || e.device == nic || nic == 0 {
			return e.ep
		}
		return nil
	}
	if g := e.multi.groupFor(nic); g != nil {
		return g.pick(id, seed)
	}
	return nil
}

// groupFor returns the group of m that receives packets of nic: the group
// bound to nic, else the group bound to no NIC. nic 0 (not known) prefers
// the group bound to no NIC, else takes the first.
func (m *demuxMulti) groupFor(nic tcpip.NICID) *demuxGroup {
	var unbound *demuxGroup
	for i := range m.groups {
		g := &m.groups[i]
		switch {
		case g.device == 0:
			unbound = g
		case nic != 0 && g.device == nic:
			return g
		}
	}
	if unbound == nil && nic == 0 && len(m.groups) > 0 {
		return &m.groups[0]
	}
	return unbound
}

// pick returns the member of g that receives a unicast packet of id.
func (g *demuxGroup) pick(id TransportEndpointID, seed uint32) TransportEndpoint {
	n := len(g.members)
	switch {
	case n == 1:
		return g.members[0].ep
	case g.balanced:
		// Scale the hash to [0, n) by multiplication rather than
		// modulo (Lemire's reduction): uniform enough, no division.
		hi, _ := bits.Mul32(demuxHashID(seed, id), uint32(n))
		return g.members[hi].ep
	default:
		return g.members[n-1].ep
	}
}

// demuxSteps is the number of lookup steps (see transportDemuxer).
const demuxSteps = 4

// demuxCandidate returns the id to look a packet of id up under at step
// (0 to demuxSteps-1, most specific first; see transportDemuxer), and
// false if the step repeats an earlier one: when id has no local address
// or no remote side, some of the four ids coincide.
func demuxCandidate(id TransportEndpointID, step int) (TransportEndpointID, bool) {
	hasLocal := id.LocalAddress.IsValid()
	hasRemote := id.RemoteAddress.IsValid() || id.RemotePort != 0
	switch step {
	case 0:
		return id, true
	case 1:
		return TransportEndpointID{LocalPort: id.LocalPort, RemotePort: id.RemotePort, RemoteAddress: id.RemoteAddress}, hasLocal && hasRemote
	case 2:
		return TransportEndpointID{LocalPort: id.LocalPort, LocalAddress: id.LocalAddress}, hasLocal && hasRemote
	default:
		return TransportEndpointID{LocalPort: id.LocalPort}, hasLocal || hasRemote
	}
}

// findLocked returns the endpoint that receives a unicast packet of id on
// nic, or nil. t.mu must be held for reading.
func (t *demuxTable) findLocked(id TransportEndpointID, nic tcpip.NICID, seed uint32) TransportEndpoint {
	for step := range demuxSteps {
		k, ok := demuxCandidate(id, step)
		if !ok {
			continue
		}
		e, ok := t.ids[demuxKeyOf(k)]
		if !ok {
			continue
		}
		if ep := e.find(id, nic, seed); ep != nil {
			return ep
		}
	}
	return nil
}

// find returns the endpoint that receives a unicast packet of id on nic.
func (t *demuxTable) find(id TransportEndpointID, nic tcpip.NICID, seed uint32) TransportEndpoint {
	t.mu.RLock()
	ep := t.findLocked(id, nic, seed)
	t.mu.RUnlock()
	return ep
}

// appendAllLocked appends to eps every endpoint that receives a multicast
// or broadcast packet of id on nic. t.mu must be held for reading.
func (t *demuxTable) appendAllLocked(eps []TransportEndpoint, id TransportEndpointID, nic tcpip.NICID) []TransportEndpoint {
	for step := range demuxSteps {
		k, ok := demuxCandidate(id, step)
		if !ok {
			continue
		}
		e, ok := t.ids[demuxKeyOf(k)]
		if !ok {
			continue
		}
		for device, ep := range e.all {
			if device != 0 && nic != 0 && device != nic {
				continue
			}
			eps = append(eps, ep)
		}
	}
	return eps
}

// deliverPacket delivers pkt, a packet of id (from the receiving
// endpoint's point of view) with info, to its transport endpoint(s), and
// reports whether there was one. It owns pkt only when it returns true;
// on false the caller still owns pkt (to answer with ICMP or RST).
func (d *transportDemuxer) deliverPacket(netProto tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, id TransportEndpointID, info NetworkPacketInfo, pkt *buffer.Packet) bool {
	t := d.table(netProto, proto)
	if t == nil {
		return false
	}
	if info.Multicast || info.LocalAddressBroadcast {
		return d.deliverFanout(t, id, info, pkt)
	}
	ep := t.find(id, info.NIC, d.seed())
	if ep == nil {
		return false
	}
	ep.HandlePacket(id, info, pkt)
	return true
}

// deliverFanout delivers a multicast or broadcast packet to every matching
// endpoint: a clone to all but the last, pkt itself to the last.
func (d *transportDemuxer) deliverFanout(t *demuxTable, id TransportEndpointID, info NetworkPacketInfo, pkt *buffer.Packet) bool {
	var buf [demuxFanoutSize]TransportEndpoint
	t.mu.RLock()
	eps := t.appendAllLocked(buf[:0], id, info.NIC)
	t.mu.RUnlock()
	if len(eps) == 0 {
		return false
	}
	last := len(eps) - 1
	for _, ep := range eps[:last] {
		ep.HandlePacket(id, info, pkt.Clone())
	}
	eps[last].HandlePacket(id, info, pkt)
	return true
}

// deliverError delivers an ICMP error about a packet this stack sent to
// the endpoint that sent it, and reports whether there was one. id is
// from the sending endpoint's point of view (LocalAddress and LocalPort
// are the quoted packet's source); orig.NIC, when set, is the NIC the
// error arrived on. As deliverPacket, it owns orig only when it returns
// true.
func (d *transportDemuxer) deliverError(netProto tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, id TransportEndpointID, terr TransportError, orig *buffer.Packet) bool {
	t := d.table(netProto, proto)
	if t == nil {
		return false
	}
	var nic tcpip.NICID
	if orig != nil {
		nic = orig.NIC
	}
	ep := t.find(id, nic, d.seed())
	if ep == nil {
		return false
	}
	ep.HandleError(terr, orig)
	return true
}

// findEndpoint returns the endpoint a unicast packet of id on nic would be
// delivered to, or nil.
func (d *transportDemuxer) findEndpoint(netProto tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, id TransportEndpointID, nic tcpip.NICID) TransportEndpoint {
	t := d.table(netProto, proto)
	if t == nil {
		return nil
	}
	return t.find(id, nic, d.seed())
}

// registeredEndpoints returns every registered endpoint once, in no
// particular order.
func (d *transportDemuxer) registeredEndpoints() []TransportEndpoint {
	seen := make(map[TransportEndpoint]struct{})
	var eps []TransportEndpoint
	for _, t := range d.allTables() {
		t.mu.RLock()
		for _, e := range t.ids {
			for _, ep := range e.all {
				if _, ok := seen[ep]; !ok {
					seen[ep] = struct{}{}
					eps = append(eps, ep)
				}
			}
		}
		t.mu.RUnlock()
	}
	return eps
}

// registerRawEndpoint adds ep to the raw endpoints of (netProto,
// transProto).
func (d *transportDemuxer) registerRawEndpoint(netProto tcpip.NetworkProtocolNumber, transProto tcpip.TransportProtocolNumber, ep RawTransportEndpoint) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := *d.raw.Load()
	k := demuxProtoKey{netProto, transProto}
	for _, o := range old[k] {
		if o == ep {
			return tcpip.ErrAlreadyBound
		}
	}
	m := make(map[demuxProtoKey][]RawTransportEndpoint, len(old)+1)
	for k, eps := range old {
		m[k] = eps
	}
	eps := make([]RawTransportEndpoint, 0, len(old[k])+1)
	m[k] = append(append(eps, old[k]...), ep)
	d.raw.Store(&m)
	return nil
}

// unregisterRawEndpoint removes ep from the raw endpoints of (netProto,
// transProto), if it is there.
func (d *transportDemuxer) unregisterRawEndpoint(netProto tcpip.NetworkProtocolNumber, transProto tcpip.TransportProtocolNumber, ep RawTransportEndpoint) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := *d.raw.Load()
	k := demuxProtoKey{netProto, transProto}
	i := -1
	for j, o := range old[k] {
		if o == ep {
			i = j
			break
		}
	}
	if i < 0 {
		return
	}
	m := make(map[demuxProtoKey][]RawTransportEndpoint, len(old))
	for k, eps := range old {
		m[k] = eps
	}
	if len(old[k]) == 1 {
		delete(m, k)
	} else {
		eps := make([]RawTransportEndpoint, 0, len(old[k])-1)
		m[k] = append(append(eps, old[k][:i]...), old[k][i+1:]...)
	}
	d.raw.Store(&m)
}

// deliverRawPacket delivers a clone of pkt to every raw endpoint of
// (netProto, transProto) and reports whether there was one. It never
// consumes pkt: the caller goes on to deliver it to the transport
// endpoints.
func (d *transportDemuxer) deliverRawPacket(netProto tcpip.NetworkProtocolNumber, transProto tcpip.TransportProtocolNumber, info NetworkPacketInfo, pkt *buffer.Packet) bool {
	m := d.raw.Load()
	if m == nil {
		return false
	}
	eps := (*m)[demuxProtoKey{netProto, transProto}]
	for _, ep := range eps {
		ep.HandlePacket(info, pkt.Clone())
	}
	return len(eps) > 0
}

// startCleanup records ep as being cleaned up, then unregisters it.
func (d *transportDemuxer) startCleanup(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, id TransportEndpointID, ep TransportEndpoint, device tcpip.NICID) {
	// Record first, so that ep is never neither registered nor
	// tracked.
	d.cleanupMu.Lock()
	d.cleanup[ep] = struct{}{}
	d.cleanupMu.Unlock()
	d.unregisterEndpoint(netProtos, proto, id, ep, device)
}

// completeCleanup forgets ep as being cleaned up.
func (d *transportDemuxer) completeCleanup(ep TransportEndpoint) {
	d.cleanupMu.Lock()
	delete(d.cleanup, ep)
	d.cleanupMu.Unlock()
}

// cleanupEndpoints returns the endpoints being cleaned up.
func (d *transportDemuxer) cleanupEndpoints() []TransportEndpoint {
	d.cleanupMu.Lock()
	defer d.cleanupMu.Unlock()
	eps := make([]TransportEndpoint, 0, len(d.cleanup))
	for ep := range d.cleanup {
		eps = append(eps, ep)
	}
	return eps
}

// abortAll aborts every registered endpoint, every endpoint being cleaned
// up and every raw endpoint, each once (stack Close). It holds no lock of
// the demuxer while calling Abort, so endpoints unregister themselves and
// complete their cleanup as they would on Close. Registrations are not
// cleared: an endpoint still registered afterwards failed to unregister,
// which RegisteredEndpoints shows.
func (d *transportDemuxer) abortAll() {
	eps := d.registeredEndpoints()
	seen := make(map[TransportEndpoint]struct{}, len(eps))
	for _, ep := range eps {
		seen[ep] = struct{}{}
	}
	for _, ep := range d.cleanupEndpoints() {
		if _, ok := seen[ep]; !ok {
			seen[ep] = struct{}{}
			eps = append(eps, ep)
		}
	}
	var raws []RawTransportEndpoint
	rawSeen := make(map[RawTransportEndpoint]struct{})
	if m := d.raw.Load(); m != nil {
		for _, l := range *m {
			for _, ep := range l {
				if _, ok := rawSeen[ep]; !ok {
					rawSeen[ep] = struct{}{}
					raws = append(raws, ep)
				}
			}
		}
	}
	for _, ep := range eps {
		ep.Abort()
	}
	for _, ep := range raws {
		ep.Abort()
	}
}

// demuxHashID hashes a 4-tuple with seed, for choosing among the members
// of an SO_REUSEPORT group. It is the 32-bit MurmurHash3 construction
// (multiply-rotate per word, then a final avalanche), which spreads the
// flows of a group well and allocates nothing; it is not meant to resist
// an adversary who knows the seed.
func demuxHashID(seed uint32, id TransportEndpointID) uint32 {
	l := id.LocalAddress.As16()
	r := id.RemoteAddress.As16()
	h := seed
	for i := 0; i < 16; i += 4 {
		h = demuxHashWord(h, uint32(l[i])<<24|uint32(l[i+1])<<16|uint32(l[i+2])<<8|uint32(l[i+3]))
		h = demuxHashWord(h, uint32(r[i])<<24|uint32(r[i+1])<<16|uint32(r[i+2])<<8|uint32(r[i+3]))
	}
	h = demuxHashWord(h, uint32(id.LocalPort)<<16|uint32(id.RemotePort))
	h ^= 36 // bytes hashed
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// demuxHashWord mixes one word k into the hash state h.
func demuxHashWord(h, k uint32) uint32 {
	k *= 0xcc9e2d51
	k = bits.RotateLeft32(k, 15)
	k *= 0x1b873593
	h ^= k
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}

// RegisterTransportEndpoint registers ep to receive the packets of
// protocol proto matching id (see FindTransportEndpoint) over each of
// netProtos that id's addresses fit; an IPv6 endpoint without
// IPV6_V6ONLY passes {IPv6, IPv4}. bindToDevice non-zero restricts it to
// packets of that NIC.
//
// Endpoints registered under the identical id and device must share it by
// flags: all LoadBalanced (SO_REUSEPORT), or every pair ReuseAddress
// (SO_REUSEADDR); otherwise, or if ep is registered there already, it
// returns tcpip.ErrAddressInUse. Reserving the port is the PortManager's
// job and comes first. A transport that must not let SO_REUSEADDR
// endpoints share an id (TCP listeners, as in Linux) registers them
// without ReuseAddress. tcpip.ErrInvalidArgument means that netProtos has
// no protocol of id's addresses' family.
//
// Endpoints are compared with ==, so they must be of comparable types
// (pointers).
func (s *Stack) RegisterTransportEndpoint(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, id TransportEndpointID, ep TransportEndpoint, flags PortFlags, bindToDevice tcpip.NICID) error {
	return s.demux.registerEndpoint(netProtos, proto, id, ep, flags, bindToDevice)
}

// UnregisterTransportEndpoint undoes RegisterTransportEndpoint with the
// same arguments. Packets already being delivered may still reach ep.
func (s *Stack) UnregisterTransportEndpoint(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, id TransportEndpointID, ep TransportEndpoint, flags PortFlags, bindToDevice tcpip.NICID) {
	s.demux.unregisterEndpoint(netProtos, proto, id, ep, bindToDevice)
}

// FindTransportEndpoint returns the endpoint that a unicast packet of
// protocols netProto and proto with id (from the receiving endpoint's
// point of view) arriving on nicID would be delivered to, or nil. nicID 0
// means the NIC is not known: endpoints bound to any device match.
func (s *Stack) FindTransportEndpoint(netProto tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, id TransportEndpointID, nicID tcpip.NICID) TransportEndpoint {
	return s.demux.findEndpoint(netProto, proto, id, nicID)
}

// RegisteredEndpoints returns every registered transport endpoint once.
func (s *Stack) RegisteredEndpoints() []TransportEndpoint {
	return s.demux.registeredEndpoints()
}

// RegisterRawTransportEndpoint registers ep to receive a copy of every
// inbound packet of (netProto, transProto). Registering an endpoint twice
// gives tcpip.ErrAlreadyBound.
func (s *Stack) RegisterRawTransportEndpoint(netProto tcpip.NetworkProtocolNumber, transProto tcpip.TransportProtocolNumber, ep RawTransportEndpoint) error {
	return s.demux.registerRawEndpoint(netProto, transProto, ep)
}

// UnregisterRawTransportEndpoint undoes RegisterRawTransportEndpoint.
func (s *Stack) UnregisterRawTransportEndpoint(netProto tcpip.NetworkProtocolNumber, transProto tcpip.TransportProtocolNumber, ep RawTransportEndpoint) {
	s.demux.unregisterRawEndpoint(netProto, transProto, ep)
}

// PortManager returns the stack's port manager.
func (s *Stack) PortManager() *PortManager { return s.ports }

// StartTransportEndpointCleanup unregisters ep (as
// UnregisterTransportEndpoint) and records it as closing but still
// holding resources (TCP TIME-WAIT, a linger), until
// CompleteTransportEndpointCleanup.
func (s *Stack) StartTransportEndpointCleanup(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, id TransportEndpointID, ep TransportEndpoint, flags PortFlags, bindToDevice tcpip.NICID) {
	s.demux.startCleanup(netProtos, proto, id, ep, bindToDevice)
}

// CompleteTransportEndpointCleanup records that ep has freed everything.
func (s *Stack) CompleteTransportEndpointCleanup(ep TransportEndpoint) {
	s.demux.completeCleanup(ep)
}

// CleanupEndpoints returns the endpoints whose cleanup started and did not
// complete.
func (s *Stack) CleanupEndpoints() []TransportEndpoint {
	return s.demux.cleanupEndpoints()
}
