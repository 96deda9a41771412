package stack

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// NeighborState is the reachability state of a neighbour cache entry: the
// states of RFC 4861 §7.3.2 in the RFC's order, then STATIC (configured by
// hand) and UNREACHABLE (RFC 7048 §3).
//
// The transitions (RFC 4861 §7.3.3 and Appendix C, RFC 7048 §3):
//
//	(none) --packet/Resolve--> INCOMPLETE --NA S=1--> REACHABLE
//	(none) --NS/ARP request--> STALE     INCOMPLETE --NA S=0, NS--> STALE
//	INCOMPLETE --MaxMulticastProbes unanswered--> UNREACHABLE (failed)
//	REACHABLE --ReachableTime without confirmation--> STALE
//	STALE --packet--> DELAY --DelayFirstProbeTime--> PROBE
//	PROBE --MaxUnicastProbes unanswered--> UNREACHABLE
//	UNREACHABLE --packet--> INCOMPLETE (unless the entry is failed: see NUDConfig.UnreachableTime)
//	STALE --StaleTime--> (removed)   UNREACHABLE --UnreachableTime--> (removed)
//	any but INCOMPLETE --confirmation--> REACHABLE
//
// Static entries never change state.
type NeighborState uint8

// Neighbour states.
const (
	// NeighborUnknown is the state of an address the cache has no entry
	// for; entries themselves are never in it.
	NeighborUnknown NeighborState = iota
	// NeighborIncomplete: address resolution is in progress (RFC 4861
	// §7.3.2 INCOMPLETE); packets are queued.
	NeighborIncomplete
	// NeighborReachable: the neighbour was confirmed reachable within the
	// last ReachableTime (REACHABLE).
	NeighborReachable
	// NeighborStale: the link address is known but not confirmed
	// recently; nothing is done until a packet is sent (STALE).
	NeighborStale
	// NeighborDelay: a packet was sent to a STALE entry; probing starts
	// after DelayFirstProbeTime unless an upper layer confirms (DELAY).
	NeighborDelay
	// NeighborProbe: unicast solicitations are being sent to confirm
	// reachability (PROBE).
	NeighborProbe
	// NeighborStatic: configured by hand; never probed, aged or replaced.
	NeighborStatic
	// NeighborUnreachable: probing or resolution failed (RFC 7048 §3).
	NeighborUnreachable
)

var neighborStateNames = [...]string{
	NeighborUnknown:     "UNKNOWN",
	NeighborIncomplete:  "INCOMPLETE",
	NeighborReachable:   "REACHABLE",
	NeighborStale:       "STALE",
	NeighborDelay:       "DELAY",
	NeighborProbe:       "PROBE",
	NeighborStatic:      "STATIC",
	NeighborUnreachable: "UNREACHABLE",
}

// String returns the RFC's upper-case name of the state.
func (s NeighborState) String() string {
	if int(s) < len(neighborStateNames) {
		return neighborStateNames[s]
	}
	return "NeighborState(" + strconv.Itoa(int(s)) + ")"
}

// usable reports whether packets to an entry in state s are sent to its
// link address at once (RFC 4861 §7.3.3: REACHABLE, STALE, DELAY and PROBE
// entries have a link address that is used while reachability is checked).
func (s NeighborState) usable() bool {
	switch s {
	case NeighborReachable, NeighborStale, NeighborDelay, NeighborProbe, NeighborStatic:
		return true
	}
	return false
}

// NUDConfig configures a neighbour cache: the protocol constants of RFC 4861
// §10 (which ARP uses as well) and ustack's bounds. The zero value of each
// field means its default (see DefaultNUDConfig and Validated).
type NUDConfig struct {
	// BaseReachableTime is the base of ReachableTime, the time an entry
	// stays REACHABLE after a confirmation (RFC 4861 §6.3.2, §10:
	// REACHABLE_TIME, 30 s).
	BaseReachableTime time.Duration
	// RetransmitTimer is the time between solicitations (RFC 4861 §10:
	// RETRANS_TIMER, 1 s).
	RetransmitTimer time.Duration
	// DelayFirstProbeTime is the time an entry stays in DELAY before
	// probing (RFC 4861 §10: DELAY_FIRST_PROBE_TIME, 5 s).
	DelayFirstProbeTime time.Duration
	// MaxMulticastProbes is the number of multicast (ARP: broadcast)
	// solicitations sent while resolving (RFC 4861 §10:
	// MAX_MULTICAST_SOLICIT, 3).
	MaxMulticastProbes uint32
	// MaxUnicastProbes is the number of unicast solicitations sent in
	// PROBE (RFC 4861 §10: MAX_UNICAST_SOLICIT, 3).
	MaxUnicastProbes uint32
	// MinRandomFactor and MaxRandomFactor bound the random factor of
	// ReachableTime (RFC 4861 §10: 0.5 and 1.5). MaxRandomFactor must not
	// be below MinRandomFactor.
	MinRandomFactor float32
	MaxRandomFactor float32
	// UnreachableTime is how long an UNREACHABLE entry is remembered
	// before it is removed. 5 s.
	UnreachableTime time.Duration
	// FailedHoldDown, if positive, makes packets and Resolve calls for an
	// entry whose resolution failed less than FailedHoldDown ago fail at
	// once instead of starting another resolution (a hold-down in the
	// spirit of RFC 7048 §3's backoff; FreeBSD's host_down_time). The
	// default, 0, resolves again on the next packet, as Linux does for a
	// FAILED entry: a lossy link then recovers at the next packet rather
	// than seconds later. One resolution round sends at most one
	// solicitation per RetransmitTimer, so this does not flood the link.
	FailedHoldDown time.Duration
	// StaleTime is how long a STALE entry is kept without being used
	// (Linux gc_stale_time, 60 s).
	StaleTime time.Duration
	// MaxQueuedPackets is the number of packets queued per entry while
	// it resolves; beyond it the oldest is dropped (RFC 4861 §7.2.2). 64:
	// room for a 64 KiB datagram in 1500-byte fragments (45), which
	// Linux's unres_qlen_bytes (212992) also allows.
	MaxQueuedPackets int
	// MaxEntries bounds the number of dynamic (non-static) entries; the
	// least recently used one makes room for a new one. 512.
	MaxEntries int
}

// Defaults of NUDConfig.
const (
	defaultBaseReachableTime   = 30 * time.Second
	defaultRetransmitTimer     = time.Second
	defaultDelayFirstProbeTime = 5 * time.Second
	defaultMaxMulticastProbes  = 3
	defaultMaxUnicastProbes    = 3
	defaultMinRandomFactor     = 0.5
	defaultMaxRandomFactor     = 1.5
	defaultUnreachableTime     = 5 * time.Second
	defaultStaleTime           = 60 * time.Second
	defaultMaxQueuedPackets    = 64
	defaultMaxNeighborEntries  = 512

	// neighborReachableRecompute is how often ReachableTime is drawn
	// again although BaseReachableTime did not change (RFC 4861 §6.3.4:
	// "at least every few hours").
	neighborReachableRecompute = 2 * time.Hour

	// neighborMaxWaiters bounds the Resolve callbacks waiting on one
	// entry.
	neighborMaxWaiters = 128
)

// DefaultNUDConfig returns the RFC 4861 §10 constants and ustack's default
// bounds.
func DefaultNUDConfig() NUDConfig {
	return NUDConfig{
		BaseReachableTime:   defaultBaseReachableTime,
		RetransmitTimer:     defaultRetransmitTimer,
		DelayFirstProbeTime: defaultDelayFirstProbeTime,
		MaxMulticastProbes:  defaultMaxMulticastProbes,
		MaxUnicastProbes:    defaultMaxUnicastProbes,
		MinRandomFactor:     defaultMinRandomFactor,
		MaxRandomFactor:     defaultMaxRandomFactor,
		UnreachableTime:     defaultUnreachableTime,
		StaleTime:           defaultStaleTime,
		MaxQueuedPackets:    defaultMaxQueuedPackets,
		MaxEntries:          defaultMaxNeighborEntries,
	}
}

// Validated returns c with every invalid field replaced by its default:
// zero or negative durations and counts, random factors that are not
// positive finite numbers, and a MaxRandomFactor below MinRandomFactor
// (which becomes the larger of its default and MinRandomFactor).
func (c NUDConfig) Validated() NUDConfig {
	d := DefaultNUDConfig()
	if c.BaseReachableTime <= 0 {
		c.BaseReachableTime = d.BaseReachableTime
	}
	if c.RetransmitTimer <= 0 {
		c.RetransmitTimer = d.RetransmitTimer
	}
	if c.DelayFirstProbeTime <= 0 {
		c.DelayFirstProbeTime = d.DelayFirstProbeTime
	}
	if c.MaxMulticastProbes == 0 {
		c.MaxMulticastProbes = d.MaxMulticastProbes
	}
	if c.MaxUnicastProbes == 0 {
		c.MaxUnicastProbes = d.MaxUnicastProbes
	}
	if !(c.MinRandomFactor > 0) || math.IsInf(float64(c.MinRandomFactor), 0) {
		c.MinRandomFactor = d.MinRandomFactor
	}
	if !(c.MaxRandomFactor >= c.MinRandomFactor) || math.IsInf(float64(c.MaxRandomFactor), 0) {
		c.MaxRandomFactor = max(d.MaxRandomFactor, c.MinRandomFactor)
	}
	if c.FailedHoldDown < 0 {
		c.FailedHoldDown = 0
	}
	if c.UnreachableTime <= 0 {
		c.UnreachableTime = d.UnreachableTime
	}
	if c.StaleTime <= 0 {
		c.StaleTime = d.StaleTime
	}
	if c.MaxQueuedPackets <= 0 {
		c.MaxQueuedPackets = d.MaxQueuedPackets
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = d.MaxEntries
	}
	return c
}

// NeighborOutput is where a neighbour cache sends what it resolved: the
// NIC. The cache calls it without holding its lock, so it may call back
// into the cache.
type NeighborOutput interface {
	// WriteResolved sends packets that waited for addr's link address
	// (or were sent to a usable entry) to linkAddr. It owns the packets;
	// the slice itself is only lent for the call and must not be kept.
	WriteResolved(addr netip.Addr, linkAddr tcpip.LinkAddress, pkts []*buffer.Packet)
	// ResolutionFailed is given the packets that waited for addr and are
	// dropped because it could not be resolved (RFC 4861 §7.2.2: the
	// sender answers each with ICMP destination unreachable, address
	// unreachable). It owns the packets and releases them; the slice is
	// only lent.
	ResolutionFailed(addr netip.Addr, pkts []*buffer.Packet)
}

// NeighborDropObserver may be implemented by a NeighborOutput that wants to
// count the packets the cache drops by itself: QueueDropped is told, without
// the cache's lock held, that n packets queued for addr were released
// because its queue was full (RFC 4861 §7.2.2), so that the NIC counts them
// (tcpip.NICStats.TxResolutionQueue). The cache counts them in
// NeighborStats.QueueDrops as well.
type NeighborDropObserver interface {
	QueueDropped(addr netip.Addr, n int)
}

// ReachabilityConfirmationFlags are the flags of a Neighbor Advertisement
// (RFC 4861 §4.4). An ARP reply is a solicited, overriding confirmation.
type ReachabilityConfirmationFlags struct {
	// Solicited: the advertisement answers a solicitation.
	Solicited bool
	// Override: the advertisement replaces a cached link address.
	Override bool
	// IsRouter: the sender is a router.
	IsRouter bool
}

// NeighborEntry is a snapshot of a neighbour cache entry.
type NeighborEntry struct {
	// Addr is the neighbour's network address.
	Addr netip.Addr
	// LinkAddr is its link address, zero while unknown (INCOMPLETE, or
	// UNREACHABLE after a failed resolution).
	LinkAddr tcpip.LinkAddress
	// State is its reachability state.
	State NeighborState
	// UpdatedAt is when the state or the link address last changed.
	UpdatedAt tcpip.MonotonicTime
	// IsRouter is the neighbour's router flag as last advertised (RFC
	// 4861 §7.2.5); false for ARP and for entries created by probes.
	IsRouter bool
}

// NeighborStats counts what a neighbour cache did. The NIC adds the drops
// to its own counters where it sees them (ResolutionFailed); QueueDrops and
// Evictions are seen only here.
type NeighborStats struct {
	// MulticastProbes and UnicastProbes count solicitations asked of the
	// resolver (address resolution, and PROBE).
	MulticastProbes tcpip.Counter
	UnicastProbes   tcpip.Counter
	// ResolutionFailures counts resolutions abandoned after
	// MaxMulticastProbes (their packets go to ResolutionFailed).
	ResolutionFailures tcpip.Counter
	// ProbeFailures counts entries that went from PROBE to UNREACHABLE.
	ProbeFailures tcpip.Counter
	// FailedFast counts packets given to ResolutionFailed at once because
	// their entry's resolution failed less than UnreachableTime ago.
	FailedFast tcpip.Counter
	// QueueDrops counts queued packets dropped (released) because an
	// entry's queue was full.
	QueueDrops tcpip.Counter
	// Evictions counts entries removed to stay within MaxEntries.
	Evictions tcpip.Counter
}

// NeighborCache maps the on-link addresses of one network protocol on one
// NIC to link addresses: the ARP cache of IPv4 and the Neighbor Cache of
// IPv6 (RFC 4861 §5.1), running Neighbor Unreachability Detection (RFC 4861
// §7.3) for both, with RFC 7048's UNREACHABLE state.
//
// Every timer runs through the Clock. The cache calls its resolver (to send
// solicitations) and its output (to send or fail packets, and Resolve's
// callbacks) only after releasing its lock, so they may call back into it.
//
// # Locks
//
// mu guards every field marked so and every entry's mutable fields. It is a
// leaf but for the randFloat function (called with mu held; the stack's
// random source lock is a leaf) and the Clock's own lock.
type NeighborCache struct {
	clock     tcpip.Clock          // fixed
	randFloat func() float64       // fixed; called with mu held
	resolver  LinkAddressResolver  // fixed; called without mu
	out       NeighborOutput       // fixed; called without mu
	drops     NeighborDropObserver // fixed; out if it implements it, or nil
	stats     NeighborStats

	mu            sync.Mutex
	cfg           NUDConfig                     // guarded by mu; always Validated
	reachableTime time.Duration                 // guarded by mu; RFC 4861 §6.3.2 ReachableTime
	reachableAt   tcpip.MonotonicTime           // guarded by mu; when reachableTime was drawn
	entries       map[netip.Addr]*neighborEntry // guarded by mu
	lru           neighborList                  // guarded by mu; dynamic entries, most recently used first
	closed        bool                          // guarded by mu
}

// NewNeighborCache returns an empty cache. cfg is Validated; clock nil
// means the real clock; randFloat (returning values in [0, 1)) nil means
// math/rand/v2's. resolver sends solicitations and out receives resolved
// and failed packets; neither may be nil.
func NewNeighborCache(cfg NUDConfig, clock tcpip.Clock, randFloat func() float64, resolver LinkAddressResolver, out NeighborOutput) *NeighborCache {
	if resolver == nil || out == nil {
		panic("stack: NewNeighborCache needs a resolver and an output")
	}
	if clock == nil {
		clock = tcpip.NewStdClock()
	}
	if randFloat == nil {
		randFloat = rand.Float64
	}
	c := &NeighborCache{
		clock:     clock,
		randFloat: randFloat,
		resolver:  resolver,
		out:       out,
		cfg:       cfg.Validated(),
		entries:   make(map[netip.Addr]*neighborEntry),
	}
	c.drops, _ = out.(NeighborDropObserver)
	c.drawReachableTimeLocked(clock.NowMonotonic())
	return c
}

// neighborOnePool holds one-element slices to hand a single packet to
// NeighborOutput without allocating.
var neighborOnePool = sync.Pool{New: func() any { return new([1]*buffer.Packet) }}

// Send sends pkt to addr, an on-link next hop. If addr's entry is usable
// (REACHABLE, STALE, DELAY, PROBE, STATIC) pkt goes to out.WriteResolved at
// once, and a STALE entry moves to DELAY (RFC 4861 §7.3.3). Otherwise pkt
// is queued and resolution starts or goes on (RFC 4861 §7.2.2): an entry
// is created INCOMPLETE, or an UNREACHABLE one becomes INCOMPLETE again,
// and MaxMulticastProbes solicitations are sent RetransmitTimer apart
// before the queue goes to out.ResolutionFailed. If addr's resolution failed
// less than UnreachableTime ago, pkt goes to out.ResolutionFailed at once.
// local is the source address the solicitation should carry (zero: the
// resolver picks one).
//
// Send owns pkt whatever it returns. It returns an error only if pkt was
// not sent: tcpip.ErrInvalidArgument for an address that cannot be a
// neighbour (invalid, unspecified, multicast) and has no static link
// address, tcpip.ErrNetworkDown after Close, or the link's error for a
// packet written at once to a usable entry when out is a NeighborWriter. A
// full queue of an entry that resolves drops its oldest packet (counted in
// Stats().QueueDrops and told to out if it is a NeighborDropObserver), not
// pkt; a full queue of packets waiting behind those a resolution released
// refuses pkt with tcpip.ErrWouldBlock (counted alike).
func (c *NeighborCache) Send(addr, local netip.Addr, pkt *buffer.Packet) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		pkt.Release()
		return tcpip.ErrNetworkDown
	}
	if e := c.entries[addr]; e != nil && e.state.usable() {
		// The fast path: no allocation, no timer unless STALE.
		c.useLocked(e, local)
		if e.state == NeighborStale {
			// RFC 4861 §7.3.3: the first packet sent to a STALE
			// entry moves it to DELAY.
			c.enterLocked(e, NeighborDelay, c.clock.NowMonotonic())
		}
		if e.flushing {
			// Packets that waited for resolution are still being
			// written: go behind them to keep the order.
			return c.sendBehindFlushLocked(e, pkt)
		}
		la := e.linkAddr
		c.mu.Unlock()
		return c.writeOne(addr, la, pkt)
	}
	c.mu.Unlock()
	return c.sendSlow(addr, local, pkt)
}

// sendBehindFlushLocked queues pkt behind the packets that waited for e's
// resolution and that a goroutine is still writing (e.flushing), and
// unlocks. e is resolved: this queue stands for the link's queue, not for
// RFC 4861 §7.2.2's queue of packets awaiting resolution, so when it
// holds MaxQueuedPackets pkt is refused with tcpip.ErrWouldBlock, as a
// full link queue refuses it, and its sender holds back (a UDP writer
// waits, TCP waits for its next ACK), rather than the oldest packet being
// dropped: a fast sender would otherwise lose packets whenever the
// flushing goroutine is slow to get a CPU. The refusal is counted as a
// queue drop.
func (c *NeighborCache) sendBehindFlushLocked(e *neighborEntry, pkt *buffer.Packet) error {
	if len(e.queue) < c.cfg.MaxQueuedPackets {
		e.queue = append(e.queue, pkt)
		c.mu.Unlock()
		return nil
	}
	c.stats.QueueDrops.Inc()
	addr := e.addr
	c.mu.Unlock()
	pkt.Release()
	if c.drops != nil {
		c.drops.QueueDropped(addr, 1)
	}
	return tcpip.ErrWouldBlock
}

// sendSlow is Send for an address without a usable entry.
func (c *NeighborCache) sendSlow(addr, local netip.Addr, pkt *buffer.Packet) error {
	if la, ok := c.resolver.ResolveStaticAddress(addr); ok {
		return c.writeOne(addr, la, pkt)
	}
	if !neighborAddrValid(addr) {
		pkt.Release()
		return tcpip.ErrInvalidArgument
	}
	var w neighborWork
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		pkt.Release()
		return tcpip.ErrNetworkDown
	}
	now := c.clock.NowMonotonic()
	e := c.entries[addr]
	switch {
	case e == nil:
		e = c.createLocked(addr, false /* passive */, &w)
		c.useLocked(e, local)
		c.enqueueLocked(e, pkt, &w)
		c.startResolutionLocked(e, now, &w)
	case e.state.usable():
		// Resolved while the lock was released.
		c.useLocked(e, local)
		if e.state == NeighborStale {
			c.enterLocked(e, NeighborDelay, now) // RFC 4861 §7.3.3
		}
		if e.flushing {
			err := c.sendBehindFlushLocked(e, pkt)
			c.run(&w)
			return err
		}
		la := e.linkAddr
		c.mu.Unlock()
		err := c.writeOne(addr, la, pkt)
		c.run(&w)
		return err
	case e.state == NeighborIncomplete:
		// RFC 4861 §7.2.2: queue while resolution goes on.
		c.useLocked(e, local)
		c.enqueueLocked(e, pkt, &w)
	case e.failed && now.Sub(e.updatedAt) < c.cfg.FailedHoldDown:
		// Resolution failed less than FailedHoldDown ago: fail at
		// once rather than solicit again.
		c.useLocked(e, local)
		c.stats.FailedFast.Inc()
		w.fails = append(w.fails, neighborFail{addr: addr, pkts: []*buffer.Packet{pkt}})
	default:
		// UNREACHABLE after PROBE failed: RFC 7048 §3 keeps trying,
		// with multicast solicitations since the neighbour may have a
		// new link address; ustack does so as Linux does for a FAILED
		// entry, by resolving again from INCOMPLETE.
		c.useLocked(e, local)
		c.enqueueLocked(e, pkt, &w)
		c.startResolutionLocked(e, now, &w)
	}
	c.mu.Unlock()
	c.run(&w)
	return nil
}

// NeighborWriter is implemented by a NeighborOutput that can write one
// packet and report the link's error (the NIC): Send then returns that
// error for a packet to a usable entry, so that a sender learns that a
// full link queue refused it (tcpip.ErrWouldBlock) and can hold back.
type NeighborWriter interface {
	// WriteResolvedOne is WriteResolved of the one packet pkt, returning
	// the link's error. It owns pkt.
	WriteResolvedOne(addr netip.Addr, linkAddr tcpip.LinkAddress, pkt *buffer.Packet) error
}

// writeOne hands one packet to out without allocating, and returns the
// link's error if out is a NeighborWriter.
func (c *NeighborCache) writeOne(addr netip.Addr, la tcpip.LinkAddress, pkt *buffer.Packet) error {
	if w, ok := c.out.(NeighborWriter); ok {
		return w.WriteResolvedOne(addr, la, pkt)
	}
	one := neighborOnePool.Get().(*[1]*buffer.Packet)
	one[0] = pkt
	c.out.WriteResolved(addr, la, one[:])
	one[0] = nil
	neighborOnePool.Put(one)
	return nil
}

// Resolve returns addr's link address if its entry is usable, or the
// static link address of a broadcast or multicast addr. Otherwise it starts
// resolution (or joins the one going on) and returns tcpip.ErrWouldBlock;
// onDone, if not nil, is then called exactly once, without any lock held,
// from the goroutine that completes the resolution (the one delivering the
// confirmation, or the Clock's), with the link address or with
// tcpip.ErrHostUnreachable when resolution failed or the entry was removed
// (tcpip.ErrNetworkDown when the cache is closed). onDone is not called
// when Resolve returns anything but tcpip.ErrWouldBlock:
// tcpip.ErrHostUnreachable when resolution failed less than UnreachableTime
// ago, tcpip.ErrInvalidArgument for an address that cannot be a
// neighbour, tcpip.ErrNoBufferSpace when too many callbacks wait already,
// tcpip.ErrNetworkDown after Close. Resolve does not move a STALE entry to
// DELAY: it sends nothing.
func (c *NeighborCache) Resolve(addr, local netip.Addr, onDone func(tcpip.LinkAddress, error)) (tcpip.LinkAddress, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return tcpip.LinkAddress{}, tcpip.ErrNetworkDown
	}
	if e := c.entries[addr]; e != nil && e.state.usable() {
		c.useLocked(e, local)
		la := e.linkAddr
		c.mu.Unlock()
		return la, nil
	}
	c.mu.Unlock()

	if la, ok := c.resolver.ResolveStaticAddress(addr); ok {
		return la, nil
	}
	if !neighborAddrValid(addr) {
		return tcpip.LinkAddress{}, tcpip.ErrInvalidArgument
	}
	var w neighborWork
	c.mu.Lock()
	defer func() {
		c.mu.Unlock()
		c.run(&w)
	}()
	if c.closed {
		return tcpip.LinkAddress{}, tcpip.ErrNetworkDown
	}
	now := c.clock.NowMonotonic()
	e := c.entries[addr]
	switch {
	case e == nil:
		e = c.createLocked(addr, false /* passive */, &w)
		c.useLocked(e, local)
		c.startResolutionLocked(e, now, &w)
	case e.state.usable():
		c.useLocked(e, local)
		return e.linkAddr, nil
	case e.state == NeighborIncomplete:
		c.useLocked(e, local)
	case e.failed && now.Sub(e.updatedAt) < c.cfg.FailedHoldDown:
		c.useLocked(e, local)
		return tcpip.LinkAddress{}, tcpip.ErrHostUnreachable
	default: // UNREACHABLE after PROBE failed; see sendSlow.
		c.useLocked(e, local)
		c.startResolutionLocked(e, now, &w)
	}
	if onDone != nil {
		if len(e.waiters) >= neighborMaxWaiters {
			return tcpip.LinkAddress{}, tcpip.ErrNoBufferSpace
		}
		e.waiters = append(e.waiters, onDone)
	}
	return tcpip.LinkAddress{}, tcpip.ErrWouldBlock
}

// HandleProbe records what a solicitation from addr tells: an ARP request
// or a Neighbor Solicitation (or a Router Solicitation or Redirect) carrying
// the sender's link address linkAddr. RFC 4861 §7.2.3: a new entry is
// created STALE, an entry whose link address differs is updated and set
// STALE, an INCOMPLETE entry learns the address, becomes STALE and sends
// its queue. A zero linkAddr (no source link-layer address option) changes
// nothing, nor do probes about static entries. The NIC must not call it for
// solicitations from the unspecified address (duplicate address detection).
func (c *NeighborCache) HandleProbe(addr netip.Addr, linkAddr tcpip.LinkAddress) {
	if linkAddr.IsZero() || !neighborAddrValid(addr) {
		return
	}
	var w neighborWork
	c.mu.Lock()
	if !c.closed {
		c.handleProbeLocked(addr, linkAddr, c.clock.NowMonotonic(), &w)
	}
	c.mu.Unlock()
	c.run(&w)
}

// HandleConfirmation records a Neighbor Advertisement about addr, or an
// ARP reply (for which the NIC passes Solicited and Override), following
// RFC 4861 §7.2.5. A zero linkAddr means the advertisement had no target
// link-layer address option. Advertisements about addresses without an
// entry, or with a static one, are ignored (RFC 4861 §7.2.5: there is no
// need to create an entry).
func (c *NeighborCache) HandleConfirmation(addr netip.Addr, linkAddr tcpip.LinkAddress, flags ReachabilityConfirmationFlags) {
	var w neighborWork
	c.mu.Lock()
	if !c.closed {
		if e := c.entries[addr]; e != nil {
			c.handleConfirmationLocked(e, linkAddr, flags, c.clock.NowMonotonic(), &w)
		}
	}
	c.mu.Unlock()
	c.run(&w)
}

// HandleUpperLevelConfirmation records that an upper layer saw forward
// progress with addr (a TCP acknowledgement of new data): RFC 4861 §7.3.1
// counts it as a reachability confirmation, so an entry with a link address
// becomes (or stays) REACHABLE. In REACHABLE it only records the time,
// which is cheap enough to call for every acknowledgement.
func (c *NeighborCache) HandleUpperLevelConfirmation(addr netip.Addr) {
	c.mu.Lock()
	if !c.closed {
		// Entries without a link address (INCOMPLETE, failed) have
		// nothing to confirm.
		if e := c.entries[addr]; e != nil && e.state != NeighborStatic && !e.linkAddr.IsZero() {
			c.lru.moveToFront(e)
			c.confirmLocked(e, c.clock.NowMonotonic())
		}
	}
	c.mu.Unlock()
}

// AddStatic sets addr's link address for good: the entry is STATIC, never
// probed, aged, evicted or changed by probes and confirmations, and not
// counted in MaxEntries. Packets and Resolve callbacks waiting for addr are
// sent or called with linkAddr. An invalid addr or a zero linkAddr is
// ignored.
func (c *NeighborCache) AddStatic(addr netip.Addr, linkAddr tcpip.LinkAddress) {
	if !addr.IsValid() || linkAddr.IsZero() {
		return
	}
	var w neighborWork
	c.mu.Lock()
	if !c.closed {
		now := c.clock.NowMonotonic()
		e := c.entries[addr]
		if e == nil {
			e = &neighborEntry{addr: addr}
			c.entries[addr] = e
		} else if e.state != NeighborStatic {
			c.lru.remove(e)
		}
		e.linkAddr = linkAddr
		e.isRouter = false
		e.failed = false
		c.enterLocked(e, NeighborStatic, now)
		c.completeLocked(e, now, &w)
	}
	c.mu.Unlock()
	c.run(&w)
}

// Remove removes addr's entry, static or not, and reports whether there
// was one. Its queued packets go to out.ResolutionFailed and its Resolve
// callbacks are called with tcpip.ErrHostUnreachable.
func (c *NeighborCache) Remove(addr netip.Addr) bool {
	var w neighborWork
	c.mu.Lock()
	e := c.entries[addr]
	if e != nil && !c.closed {
		c.removeLocked(e, tcpip.ErrHostUnreachable, &w)
	}
	c.mu.Unlock()
	c.run(&w)
	return e != nil
}

// Entries returns a snapshot of every entry, sorted by address.
func (c *NeighborCache) Entries() []NeighborEntry {
	c.mu.Lock()
	out := make([]NeighborEntry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e.snapshot())
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b NeighborEntry) int { return a.Addr.Compare(b.Addr) })
	return out
}

// Entry returns a snapshot of addr's entry, and false if there is none.
func (c *NeighborCache) Entry(addr netip.Addr) (NeighborEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[addr]; e != nil {
		return e.snapshot(), true
	}
	return NeighborEntry{}, false
}

// Clear removes every dynamic entry (the NIC went down), as Remove does;
// static entries stay.
func (c *NeighborCache) Clear() {
	var w neighborWork
	c.mu.Lock()
	for _, e := range c.entries {
		if e.state != NeighborStatic {
			c.removeLocked(e, tcpip.ErrHostUnreachable, &w)
		}
	}
	c.mu.Unlock()
	c.run(&w)
}

// SetConfig replaces the configuration with cfg.Validated(). ReachableTime
// is drawn again (RFC 4861 §6.3.4); timers already running keep their
// deadlines, and the new durations apply from the next transition. Entries
// beyond a smaller MaxEntries are evicted and queues beyond a smaller
// MaxQueuedPackets lose their oldest packets at once.
func (c *NeighborCache) SetConfig(cfg NUDConfig) {
	var w neighborWork
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.cfg = cfg.Validated()
	c.drawReachableTimeLocked(c.clock.NowMonotonic())
	for c.lru.len > c.cfg.MaxEntries {
		c.stats.Evictions.Inc()
		c.removeLocked(c.lru.back(), tcpip.ErrHostUnreachable, &w)
	}
	for _, e := range c.entries {
		c.trimQueueLocked(e, c.cfg.MaxQueuedPackets, &w)
	}
	c.mu.Unlock()
	c.run(&w)
}

// Config returns the configuration in use (validated).
func (c *NeighborCache) Config() NUDConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

// ReachableTime returns the current ReachableTime: BaseReachableTime times
// a random factor in [MinRandomFactor, MaxRandomFactor) (RFC 4861 §6.3.2).
func (c *NeighborCache) ReachableTime() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reachableTime
}

// Stats returns the cache's counters.
func (c *NeighborCache) Stats() *NeighborStats { return &c.stats }

// Close removes every entry and stops every timer: queued packets go to
// out.ResolutionFailed and Resolve callbacks are called with
// tcpip.ErrNetworkDown. Afterwards the cache holds nothing and arms no
// timer; Send releases the packets it is given and every other method
// does nothing.
func (c *NeighborCache) Close() {
	var w neighborWork
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		for _, e := range c.entries {
			c.removeLocked(e, tcpip.ErrNetworkDown, &w)
		}
	}
	c.mu.Unlock()
	c.run(&w)
}

// drawReachableTimeLocked computes ReachableTime afresh (RFC 4861 §6.3.2:
// a uniformly distributed random value between MinRandomFactor and
// MaxRandomFactor times BaseReachableTime).
func (c *NeighborCache) drawReachableTimeLocked(now tcpip.MonotonicTime) {
	r := c.randFloat()
	if !(r >= 0) || r >= 1 { // a bad source (or NaN): use the midpoint
		r = 0.5
	}
	lo, hi := float64(c.cfg.MinRandomFactor), float64(c.cfg.MaxRandomFactor)
	f := float64(c.cfg.BaseReachableTime) * (lo + r*(hi-lo))
	if f >= float64(math.MaxInt64/2) {
		f = float64(math.MaxInt64 / 2)
	}
	c.reachableTime = max(time.Duration(f), time.Nanosecond)
	c.reachableAt = now
}

// reachableTimeLocked returns ReachableTime, drawing it again when it is
// older than neighborReachableRecompute (RFC 4861 §6.3.4).
func (c *NeighborCache) reachableTimeLocked(now tcpip.MonotonicTime) time.Duration {
	if now.Sub(c.reachableAt) >= neighborReachableRecompute {
		c.drawReachableTimeLocked(now)
	}
	return c.reachableTime
}

// neighborAddrValid reports whether addr can be a neighbour's address: a
// unicast address (RFC 4861 §7.2.3: no entry for the unspecified address;
// multicast addresses are mapped, not resolved).
func neighborAddrValid(addr netip.Addr) bool {
	return addr.IsValid() && !addr.IsUnspecified() && !addr.IsMulticast()
}
