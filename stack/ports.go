package stack

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"

	"github.com/ustack-go/ustack/tcpip"
)

// Default ephemeral port range, as Linux's net.ipv4.ip_local_port_range.
const (
	DefaultFirstEphemeralPort uint16 = 32768
	DefaultLastEphemeralPort  uint16 = 60999
)

// portPerturbLen is the number of counters of the RFC 6056 §3.3.4 table.
// The RFC's example uses 10; Linux used 256 and raised it to 65536 in 2022
// after the table was shown to let an observer track a device across
// networks. 4096 counters (16 KiB, allocated on the first connected pick)
// keep destinations well apart at a cost a stack without outbound
// connections never pays.
const portPerturbLen = 4096

// PortFlags are the sharing options of a port reservation.
type PortFlags struct {
	// ReuseAddress is SO_REUSEADDR: two reservations of the same address
	// and port may coexist when both set it.
	ReuseAddress bool
	// LoadBalanced is SO_REUSEPORT: reservations of the same address and
	// port may coexist when all of them set it; the demultiplexer then
	// spreads unicast flows across their endpoints.
	LoadBalanced bool
	// TupleOnly says that the reservation is for one full 4-tuple: the
	// ephemeral port of a connected endpoint, whose destination is given
	// with the reservation.
	TupleOnly bool
	// Listening marks the reservation of a TCP listener: SO_REUSEADDR
	// no longer lets another reservation share its address and port
	// (Linux's inet_bind_conflict: a socket in LISTEN is shared through
	// SO_REUSEPORT only). TCP sets it with ReplacePort when it listens.
	Listening bool
}

// portShares reports whether reservations with flags f and o may share an
// address and port: both SO_REUSEADDR, or both SO_REUSEPORT.
func (f PortFlags) portShares(o PortFlags) bool {
	return (f.ReuseAddress && o.ReuseAddress) || (f.LoadBalanced && o.LoadBalanced)
}

// PortManager hands out transport ports: it records which (network
// protocol, transport protocol, address, port) each endpoint holds, refuses
// conflicting reservations, and picks ephemeral ports.
//
// # Conflicts
//
// The rules follow Linux's bind(2) semantics. Two reservations of the same
// network protocol, transport protocol and port conflict unless one of
// these holds:
//
//   - their addresses differ and neither is a wildcard (the zero Addr or
//     the unspecified address, which covers every address of its family);
//   - both are bound to devices (bindToDevice non-zero) and the devices
//     differ (SO_BINDTODEVICE);
//   - both set ReuseAddress (SO_REUSEADDR) and the existing one is not
//     Listening, or both set LoadBalanced (SO_REUSEPORT; each
//     reservation sharing the port must set it);
//   - both are TupleOnly and their destinations differ: the ephemeral
//     ports of connected endpoints only need their 4-tuples to be unique.
//     A TupleOnly reservation conflicts with a non-TupleOnly one by the
//     flag rules above.
//
// Linux lets two SO_REUSEADDR sockets share a port only while at most one
// of them is listening, and refuses a bind that overlaps a listener's
// address even with SO_REUSEADDR (a specific address while a wildcard
// listener holds the port, or the reverse). The rule is asymmetric: what
// counts is whether the reservation already there is listening. TCP marks
// its listeners' reservations Listening (ReplacePort), which is refused
// when an overlapping reservation is listening already.
//
// Addresses are compared as IPv4 when they are IPv4-mapped IPv6 addresses,
// without zones. A reservation is recorded in each of netProtos whose
// family fits the address: a wildcard in all of them (an IPv6 socket
// without IPV6_V6ONLY reserves in IPv6 and IPv4), a specific address only
// in its own family's.
//
// # Ephemeral ports
//
// ReservePort with port 0 picks a port of the range (PortRange). For a
// connected reservation (a valid dest) it follows RFC 6056 §3.3.4,
// Algorithm 4 (double-hash); otherwise §3.3.1, Algorithm 1 (random start,
// then sequential). Both are deterministic given the seed and the
// sequence of randUint32.
//
// A PortManager is safe for concurrent use. Its lock is held while it
// calls testPort (which may look endpoints up in the demultiplexer, whose
// locks are leaves) and randUint32 (the stack's random source), so it
// comes before both in the lock order.
type PortManager struct {
	// secret is the key of the RFC 6056 hashes F and G; fixed after
	// NewPortManager.
	secret [16]byte
	// randUint32 is the random source; fixed after NewPortManager.
	randUint32 func() uint32

	mu          sync.RWMutex
	first, last uint16                  // guarded by mu
	buckets     map[portKey]*portBucket // guarded by mu
	perturb     *[portPerturbLen]uint32 // guarded by mu; nil until the first connected pick
}

// portKey identifies the reservations of one port of one protocol pair.
type portKey struct {
	netProto   tcpip.NetworkProtocolNumber
	transProto tcpip.TransportProtocolNumber
	port       uint16
}

// portRes is one reservation; refs counts the identical reservations it
// stands for (endpoints sharing a port with identical parameters).
type portRes struct {
	addr   netip.Addr     // normalised (portNormalizeAddr); zero: wildcard
	flags  PortFlags      // as reserved
	device tcpip.NICID    // 0: any NIC
	dest   netip.AddrPort // TupleOnly only; zero otherwise
	refs   int
}

// portTupleKey indexes TupleOnly reservations by local address and
// destination, the only reservations a new TupleOnly one can conflict with
// among them.
type portTupleKey struct {
	addr netip.Addr
	dest netip.AddrPort
}

// portBucket holds the reservations of one portKey.
type portBucket struct {
	bound []portRes // non-TupleOnly reservations
	// The TupleOnly reservations by key: those of a single key (the
	// usual case, an ephemeral port of one connection) in one, without
	// a map, and those of several keys in tuples (one is then empty).
	// The key of one is that of its reservations (oneKey): a bucket is
	// held by every connection with an ephemeral port, so it keeps no
	// copy of it.
	one    []portRes
	tuples map[portTupleKey][]portRes
	ntuple int // number of TupleOnly reservations
}

// tuple returns the TupleOnly reservations of key k.
func (b *portBucket) tuple(k portTupleKey) []portRes {
	if b.tuples != nil {
		return b.tuples[k]
	}
	if len(b.one) > 0 && b.oneKey() == k {
		return b.one
	}
	return nil
}

// oneKey returns the key of the reservations in one, which is not empty.
func (b *portBucket) oneKey() portTupleKey { return portTupleKey{b.one[0].addr, b.one[0].dest} }

// setTuple makes rs the TupleOnly reservations of key k, moving to the map
// when a second key appears. A map with one key left stays a map: a port
// shared by several connections tends to stay shared.
func (b *portBucket) setTuple(k portTupleKey, rs []portRes) {
	switch {
	case b.tuples != nil:
		if len(rs) == 0 {
			delete(b.tuples, k)
		} else {
			b.tuples[k] = rs
		}
	case len(b.one) == 0 || b.oneKey() == k:
		b.one = rs
		if len(rs) == 0 {
			b.one = nil
		}
	case len(rs) > 0:
		b.tuples = map[portTupleKey][]portRes{b.oneKey(): b.one, k: rs}
		b.one = nil
	}
}

// allTuples calls f with the TupleOnly reservations of each key until f
// returns true, and reports whether it did.
func (b *portBucket) allTuples(f func(rs []portRes) bool) bool {
	if b.tuples == nil {
		return len(b.one) > 0 && f(b.one)
	}
	for _, rs := range b.tuples {
		if f(rs) {
			return true
		}
	}
	return false
}

// NewPortManager returns a port manager with the default ephemeral range.
// seed (Stack.Seed) and randUint32 (the stack's random source) drive port
// picking; a nil randUint32 uses a generator seeded with seed.
// NewPortManager itself draws the hash key from randUint32, so the source
// must be ready.
func NewPortManager(seed uint32, randUint32 func() uint32) *PortManager {
	if randUint32 == nil {
		r := rand.New(rand.NewPCG(uint64(seed), 0x706f7274 /* "port" */))
		randUint32 = r.Uint32
	}
	pm := &PortManager{
		randUint32: randUint32,
		first:      DefaultFirstEphemeralPort,
		last:       DefaultLastEphemeralPort,
		buckets:    make(map[portKey]*portBucket),
	}
	binary.BigEndian.PutUint32(pm.secret[0:], seed)
	binary.BigEndian.PutUint32(pm.secret[4:], randUint32())
	binary.BigEndian.PutUint32(pm.secret[8:], randUint32())
	binary.BigEndian.PutUint32(pm.secret[12:], randUint32())
	return pm
}

// SetPortRange sets the ephemeral port range to first..last inclusive. It
// returns tcpip.ErrInvalidArgument if first is 0 or greater than last.
// Ports already reserved are not affected.
func (pm *PortManager) SetPortRange(first, last uint16) error {
	if first == 0 || first > last {
		return tcpip.ErrInvalidArgument
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	pm.first, pm.last = first, last
	return nil
}

// PortRange returns the ephemeral port range, both ends inclusive.
func (pm *PortManager) PortRange() (first, last uint16) {
	pm.mu.RLock()
	defer pm.mu.RUnlock()
	return pm.first, pm.last
}

// ReservePort reserves port of protocol proto at addr over each of
// netProtos that addr's family fits (see PortManager), for one endpoint
// with the given flags, device (bindToDevice, 0 for any NIC) and, for a
// connected reservation, destination (the zero AddrPort otherwise).
//
// Port 0 picks an ephemeral port (see PortManager). testPort, if non-nil,
// is called for each candidate port that has no conflicting reservation
// and may reject it (false) or abort the reservation (an error, returned
// as is); TCP uses it to check that the 4-tuple is free. It runs with the
// port manager's lock held and must not call into the PortManager (it may
// call FindTransportEndpoint).
//
// ReservePort returns the port reserved; tcpip.ErrAddressInUse if port is
// taken (or testPort rejects it), tcpip.ErrNoPortAvailable if no ephemeral
// port is free, and tcpip.ErrInvalidArgument if netProtos holds no
// protocol of addr's family (a v4-mapped address on an IPv6-only socket).
// Each successful reservation must be undone by one ReleasePort with the
// same arguments and the port returned.
func (pm *PortManager) ReservePort(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, addr netip.Addr, port uint16, flags PortFlags, bindToDevice tcpip.NICID, dest netip.AddrPort, testPort func(port uint16) (bool, error)) (uint16, error) {
	r := portNewRes(addr, flags, bindToDevice, dest)
	if !portAnyFits(netProtos, r.addr) {
		return 0, tcpip.ErrInvalidArgument
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if port != 0 {
		ok, err := pm.suitableLocked(netProtos, proto, port, &r, testPort)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, tcpip.ErrAddressInUse
		}
		pm.reserveLocked(netProtos, proto, port, &r)
		return port, nil
	}
	if r.dest.IsValid() {
		return pm.pickHashedLocked(netProtos, proto, &r, testPort)
	}
	return pm.pickRandomLocked(netProtos, proto, &r, testPort)
}

// pickRandomLocked picks a port for an unconnected reservation.
//
// RFC 6056 §3.3.1 (Algorithm 1): start at a random port of the range and
// try the following ones in turn. The hash-based algorithms key their
// offset on the remote address and port, which an unconnected endpoint
// does not have: Algorithm 4 would then walk one counter per local
// address, handing out consecutive, guessable ports to unconnected UDP
// sockets (DNS clients), the very attack RFC 6056 §1 sets out to prevent.
func (pm *PortManager) pickRandomLocked(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, r *portRes, testPort func(uint16) (bool, error)) (uint16, error) {
	n := uint32(pm.last) - uint32(pm.first) + 1
	next := pm.randUint32() % n
	for count := n; count > 0; count-- {
		port := pm.first + uint16(next)
		ok, err := pm.suitableLocked(netProtos, proto, port, r, testPort)
		if err != nil {
			return 0, err
		}
		if ok {
			pm.reserveLocked(netProtos, proto, port, r)
			return port, nil
		}
		if next++; next == n {
			next = 0
		}
	}
	return 0, tcpip.ErrNoPortAvailable
}

// pickHashedLocked picks a port for a connected reservation.
//
// RFC 6056 §3.3.4 (Algorithm 4, double-hash):
//
//	offset = F(local, remote, remote port, key1)
//	index  = G(local, remote, remote port, key2)
//	port   = first + (offset + table[index]) % n, table[index]++ per try
//
// so that each destination gets its own sequence starting at a secret
// offset, and successive connections to one destination do not reuse a
// port soon (RFC 6056 §3.3.4 explains why that matters for TIME-WAIT).
// table holds 32-bit counters initialised at random, as the RFC
// initialises its table (Linux too uses 32-bit counters, since 2^16 is
// not a multiple of the range size). After a successful pick the counter
// also takes a small random step, as Linux has done since 2022, so that
// the counter values an observer can infer from our ports drift.
func (pm *PortManager) pickHashedLocked(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, r *portRes, testPort func(uint16) (bool, error)) (uint16, error) {
	if pm.perturb == nil {
		pm.perturb = new([portPerturbLen]uint32)
		for i := range pm.perturb {
			pm.perturb[i] = pm.randUint32()
		}
	}
	n := uint32(pm.last) - uint32(pm.first) + 1
	offset := pm.portHash('F', r.addr, r.dest)
	index := pm.portHash('G', r.addr, r.dest) % portPerturbLen
	for count := n; count > 0; count-- {
		port := pm.first + uint16((offset+pm.perturb[index])%n)
		pm.perturb[index]++
		ok, err := pm.suitableLocked(netProtos, proto, port, r, testPort)
		if err != nil {
			return 0, err
		}
		if ok {
			pm.perturb[index] += pm.randUint32() % 4
			pm.reserveLocked(netProtos, proto, port, r)
			return port, nil
		}
	}
	return 0, tcpip.ErrNoPortAvailable
}

// portHash is RFC 6056's F (fn 'F') or G (fn 'G'): a keyed hash of the
// local address, remote address and remote port. RFC 6056 §3.3.3 asks for
// a cryptographic hash so that the offset cannot be predicted from the
// ports observed; SHA-256 over key || fn || inputs serves, the two
// functions told apart by fn.
func (pm *PortManager) portHash(fn byte, local netip.Addr, dest netip.AddrPort) uint32 {
	var in [16 + 1 + 16 + 16 + 2]byte
	copy(in[0:16], pm.secret[:])
	in[16] = fn
	l := local.As16()
	copy(in[17:33], l[:])
	d := dest.Addr().As16()
	copy(in[33:49], d[:])
	binary.BigEndian.PutUint16(in[49:], dest.Port())
	sum := sha256.Sum256(in[:])
	return binary.BigEndian.Uint32(sum[:4])
}

// ReleasePort undoes one ReservePort with the same arguments (port being
// the port ReservePort returned). Releasing what is not reserved does
// nothing.
func (pm *PortManager) ReleasePort(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, addr netip.Addr, port uint16, flags PortFlags, bindToDevice tcpip.NICID, dest netip.AddrPort) {
	r := portNewRes(addr, flags, bindToDevice, dest)
	pm.mu.Lock()
	defer pm.mu.Unlock()
	pm.releaseLocked(netProtos, proto, port, &r)
}

// ReplacePort changes the flags of one reservation made by ReservePort
// with the other arguments (port being the port it returned) from from to
// to, as one step: the new reservation is checked against every other
// one, and if it conflicts, tcpip.ErrAddressInUse is returned and the
// reservation keeps from. TCP's Listen uses it to mark its reservation
// Listening. The caller must hold the reservation it replaces.
func (pm *PortManager) ReplacePort(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, addr netip.Addr, port uint16, from, to PortFlags, bindToDevice tcpip.NICID, dest netip.AddrPort) error {
	old := portNewRes(addr, from, bindToDevice, dest)
	r := portNewRes(addr, to, bindToDevice, dest)
	pm.mu.Lock()
	defer pm.mu.Unlock()
	pm.releaseLocked(netProtos, proto, port, &old)
	if !pm.freeLocked(netProtos, proto, port, &r) {
		pm.reserveLocked(netProtos, proto, port, &old)
		return tcpip.ErrAddressInUse
	}
	pm.reserveLocked(netProtos, proto, port, &r)
	return nil
}

// releaseLocked drops one reference to r on port in every protocol it
// applies to.
func (pm *PortManager) releaseLocked(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, port uint16, r *portRes) {
	for i, np := range netProtos {
		if portSkip(netProtos, i, r.addr) {
			continue
		}
		k := portKey{np, proto, port}
		b := pm.buckets[k]
		if b == nil {
			continue
		}
		b.release(r)
		if len(b.bound) == 0 && b.ntuple == 0 {
			delete(pm.buckets, k)
		}
	}
}

// IsPortAvailable reports whether ReservePort with the same arguments and a
// non-zero port would succeed (testPort aside). Port 0 is never available.
func (pm *PortManager) IsPortAvailable(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, addr netip.Addr, port uint16, flags PortFlags, bindToDevice tcpip.NICID, dest netip.AddrPort) bool {
	if port == 0 {
		return false
	}
	r := portNewRes(addr, flags, bindToDevice, dest)
	if !portAnyFits(netProtos, r.addr) {
		return false
	}
	pm.mu.RLock()
	defer pm.mu.RUnlock()
	return pm.freeLocked(netProtos, proto, port, &r)
}

// suitableLocked reports whether r can take port: no conflicting
// reservation and testPort agrees.
func (pm *PortManager) suitableLocked(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, port uint16, r *portRes, testPort func(uint16) (bool, error)) (bool, error) {
	if !pm.freeLocked(netProtos, proto, port, r) {
		return false, nil
	}
	if testPort == nil {
		return true, nil
	}
	return testPort(port)
}

// freeLocked reports whether r conflicts with no reservation of port in
// any of the protocols it applies to.
func (pm *PortManager) freeLocked(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, port uint16, r *portRes) bool {
	for i, np := range netProtos {
		if portSkip(netProtos, i, r.addr) {
			continue
		}
		if b := pm.buckets[portKey{np, proto, port}]; b != nil && b.conflicts(r) {
			return false
		}
	}
	return true
}

// reserveLocked records r on port in every protocol it applies to.
func (pm *PortManager) reserveLocked(netProtos []tcpip.NetworkProtocolNumber, proto tcpip.TransportProtocolNumber, port uint16, r *portRes) {
	for i, np := range netProtos {
		if portSkip(netProtos, i, r.addr) {
			continue
		}
		k := portKey{np, proto, port}
		b := pm.buckets[k]
		if b == nil {
			b = &portBucket{}
			pm.buckets[k] = b
		}
		b.add(r)
	}
}

// conflicts reports whether r conflicts with a reservation of b.
func (b *portBucket) conflicts(r *portRes) bool {
	for i := range b.bound {
		if portConflict(r, &b.bound[i]) {
			return true
		}
	}
	if b.ntuple == 0 {
		return false
	}
	if r.flags.TupleOnly && r.addr.IsValid() {
		// Among TupleOnly reservations only the same destination
		// from an overlapping local address conflicts: look those
		// up instead of scanning every connection of the port.
		for _, k := range [2]portTupleKey{{r.addr, r.dest}, {netip.Addr{}, r.dest}} {
			rs := b.tuple(k)
			for i := range rs {
				if portConflict(r, &rs[i]) {
					return true
				}
			}
		}
		return false
	}
	return b.allTuples(func(rs []portRes) bool {
		for i := range rs {
			if portConflict(r, &rs[i]) {
				return true
			}
		}
		return false
	})
}

// add records r in b, or counts one more reference to an identical
// reservation.
func (b *portBucket) add(r *portRes) {
	if !r.flags.TupleOnly {
		b.bound = portAddTo(b.bound, r)
		return
	}
	k := portTupleKey{r.addr, r.dest}
	rs := b.tuple(k)
	n := len(rs)
	rs = portAddTo(rs, r)
	b.setTuple(k, rs)
	if len(rs) > n {
		b.ntuple++
	}
}

// release drops one reference to the reservation identical to r.
func (b *portBucket) release(r *portRes) {
	if !r.flags.TupleOnly {
		b.bound = portReleaseFrom(b.bound, r)
		return
	}
	k := portTupleKey{r.addr, r.dest}
	rs := b.tuple(k)
	if len(rs) == 0 {
		return
	}
	n := len(rs)
	rs = portReleaseFrom(rs, r)
	if len(rs) < n {
		b.ntuple--
	}
	b.setTuple(k, rs)
}

// portAddTo adds r to rs, as one more reference if rs holds an identical
// reservation.
func portAddTo(rs []portRes, r *portRes) []portRes {
	for i := range rs {
		if rs[i].same(r) {
			rs[i].refs++
			return rs
		}
	}
	n := *r
	n.refs = 1
	return append(rs, n)
}

// portReleaseFrom drops one reference to the reservation of rs identical
// to r, removing it with its last reference.
func portReleaseFrom(rs []portRes, r *portRes) []portRes {
	for i := range rs {
		if !rs[i].same(r) {
			continue
		}
		if rs[i].refs--; rs[i].refs > 0 {
			return rs
		}
		last := len(rs) - 1
		rs[i] = rs[last]
		rs[last] = portRes{}
		return rs[:last]
	}
	return rs
}

// same reports whether r and o reserve with identical parameters.
func (r *portRes) same(o *portRes) bool {
	return r.addr == o.addr && r.flags == o.flags && r.device == o.device && r.dest == o.dest
}

// portConflict reports whether a new reservation n conflicts with an
// existing reservation e of the same protocols and port (the rules of
// PortManager's doc comment).
func portConflict(n, e *portRes) bool {
	// Distinct specific addresses never conflict; a wildcard overlaps
	// every address of its family (Linux inet_bind_conflict).
	if n.addr.IsValid() && e.addr.IsValid() && n.addr != e.addr {
		return false
	}
	// SO_BINDTODEVICE: sockets bound to different devices are apart; a
	// socket bound to no device overlaps every device.
	if n.device != 0 && e.device != 0 && n.device != e.device {
		return false
	}
	// Connected reservations only need distinct 4-tuples (RFC 793 §1.5,
	// "Multiplexing": a pair of sockets identifies a connection, and one
	// socket may take part in several).
	if n.flags.TupleOnly && e.flags.TupleOnly {
		return n.dest == e.dest
	}
	// Linux's inet_bind_conflict: SO_REUSEADDR does not share the
	// port of a socket that is listening (sk2 in TCP_LISTEN).
	if n.flags.ReuseAddress && e.flags.ReuseAddress && e.flags.Listening {
		return !(n.flags.LoadBalanced && e.flags.LoadBalanced)
	}
	return !n.flags.portShares(e.flags)
}

// portNewRes builds the normalised reservation for the arguments of the
// PortManager methods.
func portNewRes(addr netip.Addr, flags PortFlags, device tcpip.NICID, dest netip.AddrPort) portRes {
	r := portRes{addr: portNormalizeAddr(addr), flags: flags, device: device}
	if flags.TupleOnly {
		r.dest = netip.AddrPortFrom(portNormalizeAddr(dest.Addr()), dest.Port())
		if !r.dest.Addr().IsValid() && r.dest.Port() == 0 {
			r.dest = netip.AddrPort{}
		}
	}
	return r
}

// portNormalizeAddr maps an address to the form reservations and
// registrations are compared in: IPv4-mapped IPv6 addresses to IPv4
// (RFC 4291 §2.5.5.2: they denote IPv4 nodes), no zone, and the
// unspecified addresses to the zero Addr (a wildcard, as INADDR_ANY and
// in6addr_any are to bind(2)).
func portNormalizeAddr(a netip.Addr) netip.Addr {
	if !a.IsValid() {
		return a
	}
	a = a.Unmap().WithZone("")
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// portFits reports whether a reservation or registration of normalised
// address addr applies to network protocol np: wildcards apply to every
// protocol, specific addresses to their own family's.
func portFits(np tcpip.NetworkProtocolNumber, addr netip.Addr) bool {
	return !addr.IsValid() || tcpip.NetworkProtocolFor(addr) == np
}

// portSkip reports whether netProtos[i] is to be skipped for addr: its
// family does not fit, or it repeats an earlier entry.
func portSkip(netProtos []tcpip.NetworkProtocolNumber, i int, addr netip.Addr) bool {
	if !portFits(netProtos[i], addr) {
		return true
	}
	for _, np := range netProtos[:i] {
		if np == netProtos[i] {
			return true
		}
	}
	return false
}

// portAnyFits reports whether addr fits at least one of netProtos.
func portAnyFits(netProtos []tcpip.NetworkProtocolNumber, addr netip.Addr) bool {
	for _, np := range netProtos {
		if portFits(np, addr) {
			return true
		}
	}
	return false
}
