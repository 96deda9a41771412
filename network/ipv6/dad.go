package ipv6

import (
	"bytes"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// dadNonceSize is the length of the nonce of our DAD solicitations: RFC
// 7527 §4.1 asks for at least 6 random bytes (the option's minimum).
const dadNonceSize = header.NDPNonceMinimumLength

// ndpState is the Neighbor Discovery state of one NIC beyond address
// resolution: DAD, router solicitation, what advertisements taught
// (routers, prefixes, SLAAC addresses) and router advertising. Timers
// find their entry again under mu and do nothing if it was replaced.
//
// Nothing that calls back into the stack (adding or removing addresses
// or routes, sending, dispatcher events) runs with mu held: such work is
// collected in an actions list and run after the unlock.
type ndpState struct {
	mu  sync.Mutex
	cfg stack.NDPConfigurations // guarded by mu

	dad map[netip.Addr]*dadEntry // guarded by mu
	// initializing is set while Enable brings the NIC up: detection
	// started then waits a random delay first.
	initializing bool // guarded by mu

	rsTimer tcpip.Timer // guarded by mu; nil: not soliciting
	rsLeft  int         // guarded by mu

	routers map[netip.Addr]*ndpRouter          // guarded by mu: Default Router List
	onLink  map[netip.Prefix]*ndpTimed         // guarded by mu: Prefix List
	offLink map[offLinkKey]*ndpRouteInfo       // guarded by mu: RFC 4191 routes
	slaac   map[netip.Prefix]*slaacPrefix      // guarded by mu
	owned   map[netip.Addr]*slaacAddr          // guarded by mu: SLAAC addresses by address
	dhcp    stack.DHCPv6ConfigurationFromNDPRA // guarded by mu

	adv advertiser // guarded by mu
}

// actions is work to run after ndpState.mu is released.
type actions []func()

func (a *actions) add(f func()) { *a = append(*a, f) }

func (a actions) run() {
	for _, f := range a {
		f()
	}
}

// dadEntry is the duplicate address detection of one tentative address
// (RFC 4862 §5.4).
type dadEntry struct {
	left  int // solicitations still to send
	nonce [dadNonceSize]byte
	timer tcpip.Timer // nil while the NIC is down
}

func (e *endpoint) initNDP() {
	e.ndp.cfg = e.p.s.NDPConfigs()
	e.ndp.dad = make(map[netip.Addr]*dadEntry)
	e.ndp.routers = make(map[netip.Addr]*ndpRouter)
	e.ndp.onLink = make(map[netip.Prefix]*ndpTimed)
	e.ndp.offLink = make(map[offLinkKey]*ndpRouteInfo)
	e.ndp.slaac = make(map[netip.Prefix]*slaacPrefix)
	e.ndp.owned = make(map[netip.Addr]*slaacAddr)
}

// dispatch runs f with the stack's NDP dispatcher, if it has one.
func (e *endpoint) dispatch(f func(d stack.NDPDispatcher)) {
	if d := e.p.s.NDPDisp(); d != nil {
		f(d)
	}
}

// randDuration returns a random duration in [0, d) from the stack's
// random source.
func (e *endpoint) randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(e.p.s.RandFloat64() * float64(d))
}

// neighborDiscoveryLink reports whether the NIC runs Neighbor Discovery:
// it has link addresses to resolve (RFC 4861 §1: not on loopback or
// point-to-point links without them).
func (e *endpoint) neighborDiscoveryLink() bool {
	return !e.nic.IsLoopback() && e.nic.Capabilities()&stack.CapabilityResolutionRequired != 0
}

// addrInfo returns the NIC's entry for a.
func (e *endpoint) addrInfo(a netip.Addr) (stack.AddressInfo, bool) {
	for _, ai := range e.nic.Addresses(tcpip.IPv6ProtocolNumber) {
		if ai.Address.Addr() == a {
			return ai, true
		}
	}
	return stack.AddressInfo{}, false
}

// setTentative sets or clears the tentative flag of a.
func (e *endpoint) setTentative(a netip.Addr, on bool) {
	ai, ok := e.addrInfo(a)
	if !ok || ai.Properties.Tentative == on {
		return
	}
	ai.Properties.Tentative = on
	_ = e.p.s.SetAddressProperties(e.nic.ID(), a, ai.Properties)
}

// startDAD begins duplicate address detection of a new address (RFC 4862
// §5.4): it is tentative, neither used as a source (RFC 6724 §4, the
// stack's source selection skips it) nor answered for, until
// DupAddrDetectTransmits solicitations from :: have gone unanswered. With
// DupAddrDetectTransmits 0 the address is usable at once (§5.4: DAD is
// off).
func (e *endpoint) startDAD(a netip.Addr) {
	e.ndp.mu.Lock()
	n := int(e.ndp.cfg.DupAddrDetectTransmits)
	if e.ndp.dad[a] != nil {
		e.ndp.mu.Unlock()
		return
	}
	if n == 0 || !e.neighborDiscoveryLink() {
		// No detection: an address added tentative (SLAAC adds them
		// so) is usable now.
		e.ndp.mu.Unlock()
		e.setTentative(a, false)
		return
	}
	d := &dadEntry{left: n}
	// RFC 7527 §4.1: a fresh random nonce per address.
	v := e.p.s.RandUint64()
	for i := range d.nonce {
		d.nonce[i] = byte(v >> (8 * i))
	}
	e.ndp.dad[a] = d
	delay := time.Duration(0)
	if e.ndp.initializing {
		delay = e.randDuration(e.ndp.cfg.MaxRtrSolicitationDelay)
	}
	e.ndp.mu.Unlock()
	e.setTentative(a, true)
	// RFC 4862 §5.4: DAD runs when the interface is up; a NIC that is
	// down starts it from Enable.
	if e.enabled.Load() {
		e.dadStart(a, d, delay)
	}
}

// dadStart sends the first solicitation of a's detection after delay:
// RFC 4862 §5.4.2 wants a random delay in [0, MAX_RTR_SOLICITATION_DELAY)
// when DAD is the first thing done after the interface comes up, so that
// nodes starting together do not collide.
func (e *endpoint) dadStart(a netip.Addr, d *dadEntry, delay time.Duration) {
	if delay <= 0 {
		e.dadTransmit(a, d)
		return
	}
	e.ndp.mu.Lock()
	defer e.ndp.mu.Unlock()
	if e.ndp.dad[a] != d || d.timer != nil {
		return
	}
	var t tcpip.Timer
	t = e.p.s.Clock().AfterFunc(delay, func() {
		e.ndp.mu.Lock()
		if e.ndp.dad[a] != d || d.timer != t {
			e.ndp.mu.Unlock()
			return
		}
		// dadTransmit arms the retransmission timer of its own.
		d.timer = nil
		e.ndp.mu.Unlock()
		e.dadTransmit(a, d)
	})
	d.timer = t
}

// restartDAD starts the detection of every address still tentative (the
// NIC came up).
func (e *endpoint) restartDAD() {
	e.ndp.mu.Lock()
	type pending struct {
		a     netip.Addr
		d     *dadEntry
		delay time.Duration
	}
	var list []pending
	for a, d := range e.ndp.dad {
		if d.timer == nil {
			list = append(list, pending{a: a, d: d})
		}
	}
	// RFC 4862 §5.4.2: each address waits a random delay; drawn in
	// address order, not the map's, so that a seeded random source
	// gives every run the same delays.
	slices.SortFunc(list, func(x, y pending) int { return x.a.Compare(y.a) })
	for i := range list {
		list[i].d.left = max(int(e.ndp.cfg.DupAddrDetectTransmits), 1)
		list[i].delay = e.randDuration(e.ndp.cfg.MaxRtrSolicitationDelay)
	}
	e.ndp.mu.Unlock()
	for _, p := range list {
		e.dadStart(p.a, p.d, p.delay)
	}
}

// dadTransmit sends one DAD solicitation for a and arms the timer that
// sends the next or ends DAD RetransTimer later (RFC 4862 §5.4.2).
func (e *endpoint) dadTransmit(a netip.Addr, d *dadEntry) {
	e.ndp.mu.Lock()
	if e.ndp.dad[a] != d {
		e.ndp.mu.Unlock()
		return
	}
	d.left--
	nonce := d.nonce
	retrans := e.ndp.cfg.RetransmitTimer
	if d.timer == nil {
		d.timer = e.p.s.Clock().AfterFunc(retrans, func() { e.dadTimer(a, d) })
	} else {
		d.timer.Reset(retrans)
	}
	e.ndp.mu.Unlock()
	e.sendDADSolicit(a, nonce[:])
}

// sendDADSolicit sends a Neighbor Solicitation for target from :: to its
// solicited-node group, without a source link-layer address option (RFC
// 4862 §5.4.2) and with a Nonce option (RFC 7527 §4.1).
func (e *endpoint) sendDADSolicit(target netip.Addr, nonce []byte) {
	nf := header.NDPNonceFields{Nonce: nonce}
	size := header.ICMPv6HeaderSize + header.NDPNeighborSolicitMinimumSize + nf.Size()
	msg := make([]byte, size)
	(&header.ICMPv6Fields{Type: header.ICMPv6NeighborSolicit}).Encode(msg)
	(&header.NDPNeighborSolicitFields{TargetAddress: target}).Encode(msg[header.ICMPv6HeaderSize:])
	nf.Encode(msg[header.ICMPv6HeaderSize+header.NDPNeighborSolicitMinimumSize:])
	if e.sendNDP(netip.IPv6Unspecified(), header.SolicitedNodeAddr(target), tcpip.LinkAddress{}, msg) == nil {
		e.p.stats.ICMPv6.Sent.NeighborSolicit.Inc()
	}
}

// dadTimer runs RetransTimer after each DAD solicitation: it sends the
// next, or, when all went unanswered, makes the address preferred (RFC
// 4862 §5.4.3: "the address is assigned").
func (e *endpoint) dadTimer(a netip.Addr, d *dadEntry) {
	e.ndp.mu.Lock()
	if e.ndp.dad[a] != d || !e.enabled.Load() {
		e.ndp.mu.Unlock()
		return
	}
	if d.left > 0 {
		e.ndp.mu.Unlock()
		e.dadTransmit(a, d)
		return
	}
	delete(e.ndp.dad, a)
	e.ndp.mu.Unlock()
	e.setTentative(a, false)
	e.dispatch(func(x stack.NDPDispatcher) {
		x.OnDuplicateAddressDetectionResult(e.nic.ID(), a, stack.DADSucceeded)
	})
	e.dadSucceeded(a)
}

// dadSucceeded tells the parts waiting for an address: a link-local
// address lets router solicitations and MLD reports use it as their
// source; a new public SLAAC address gets its temporary sibling (RFC 8981
// §3.4).
func (e *endpoint) dadSucceeded(a netip.Addr) {
	if a.IsLinkLocalUnicast() {
		e.mldLinkLocalReady()
	}
	e.slaacDADSucceeded(a)
}

// ownDADNonce reports whether a DAD solicitation for target carries the
// nonce of our own detection of it: our solicitation looped back (RFC 7527
// §4.2), which is not a conflict.
func (e *endpoint) ownDADNonce(target netip.Addr, opts header.NDPOptions) bool {
	e.ndp.mu.Lock()
	d := e.ndp.dad[target]
	e.ndp.mu.Unlock()
	if d == nil {
		return false
	}
	it := opts.Iterator()
	for {
		o, ok := it.Next()
		if !ok {
			return false
		}
		if o.Type() != header.NDPOptionNonce {
			continue
		}
		n, ok := o.Nonce()
		return ok && bytes.Equal(n, d.nonce[:])
	}
}

// dadConflict is told that a solicitation or an advertisement showed that
// another node uses addr. If addr is tentative, DAD failed (RFC 4862
// §5.4.5): the address is removed, the dispatcher told, and SLAAC may try
// another. For an assigned address RFC 4862 §5.4.5 only asks to log it:
// it is kept.
func (e *endpoint) dadConflict(addr netip.Addr) {
	e.ndp.mu.Lock()
	d := e.ndp.dad[addr]
	if d == nil {
		e.ndp.mu.Unlock()
		return
	}
	delete(e.ndp.dad, addr)
	if d.timer != nil {
		d.timer.Stop()
	}
	e.ndp.mu.Unlock()
	// Let SLAAC forget the address before its removal is reported as
	// an invalidation.
	regen := e.slaacDADFailed(addr)
	_ = e.p.s.RemoveAddress(e.nic.ID(), addr)
	e.dispatch(func(x stack.NDPDispatcher) {
		x.OnDuplicateAddressDetectionResult(e.nic.ID(), addr, stack.DADDuplicateAddress)
	})
	if regen != nil {
		regen()
	}
}

// DupTentativeAddrDetected implements stack.NDPEndpoint.
func (e *endpoint) DupTentativeAddrDetected(addr netip.Addr) error {
	e.ndp.mu.Lock()
	d := e.ndp.dad[addr]
	e.ndp.mu.Unlock()
	if d == nil {
		if _, ok := e.addrInfo(addr); ok {
			return tcpip.ErrInvalidEndpointState
		}
		return tcpip.ErrAddressNotFound
	}
	e.dadConflict(addr)
	return nil
}

// dadAbort ends the detection of a removed address.
func (e *endpoint) dadAbort(addr netip.Addr) {
	e.ndp.mu.Lock()
	d := e.ndp.dad[addr]
	if d != nil {
		delete(e.ndp.dad, addr)
		if d.timer != nil {
			d.timer.Stop()
		}
	}
	e.ndp.mu.Unlock()
	if d != nil {
		e.dispatch(func(x stack.NDPDispatcher) {
			x.OnDuplicateAddressDetectionResult(e.nic.ID(), addr, stack.DADAborted)
		})
	}
}

// stopDADTimers stops the DAD timers (the NIC went down); the addresses
// stay tentative and DAD starts again at the next Enable (RFC 4862 §5.4).
func (e *endpoint) stopDADTimers() {
	e.ndp.mu.Lock()
	defer e.ndp.mu.Unlock()
	for _, d := range e.ndp.dad {
		if d.timer != nil {
			d.timer.Stop()
			d.timer = nil
		}
	}
}
