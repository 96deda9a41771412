package stack

import (
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// neighborEntry is one neighbour of a NeighborCache. addr is fixed; every
// other field is guarded by the cache's mu.
//
// Invariants: linkAddr is zero exactly in INCOMPLETE and in a failed
// UNREACHABLE entry; queue is empty unless the entry is INCOMPLETE or
// flushing; waiters is empty unless INCOMPLETE; a dynamic entry is in the
// cache's LRU list and a static one is not; armed is false only for static
// (and removed) entries.
type neighborEntry struct {
	addr netip.Addr

	state    NeighborState
	linkAddr tcpip.LinkAddress
	isRouter bool
	// failed: UNREACHABLE because resolution failed (RFC 4861 §7.2.2),
	// as opposed to because PROBE failed; sends fail at once.
	failed      bool
	updatedAt   tcpip.MonotonicTime // last change of state or link address
	confirmedAt tcpip.MonotonicTime // last reachability confirmation (REACHABLE)
	probes      uint32              // solicitations sent in INCOMPLETE or PROBE
	local       netip.Addr          // source hint for solicitations: the latest given

	queue    []*buffer.Packet                 // packets awaiting resolution or flushing
	waiters  []func(tcpip.LinkAddress, error) // Resolve callbacks
	flushing bool                             // a goroutine is writing packets of queue; later packets go behind

	timer tcpip.Timer         // created on first use, re-armed since
	due   tcpip.MonotonicTime // deadline of the armed timer
	armed bool

	prev, next *neighborEntry // LRU list links
	inLRU      bool
}

// snapshot returns the exported view of e.
func (e *neighborEntry) snapshot() NeighborEntry {
	return NeighborEntry{Addr: e.addr, LinkAddr: e.linkAddr, State: e.state, UpdatedAt: e.updatedAt, IsRouter: e.isRouter}
}

// neighborList is the LRU list of a cache's dynamic entries, most recently
// used first.
type neighborList struct {
	head, tail *neighborEntry
	len        int
}

func (l *neighborList) pushFront(e *neighborEntry) {
	e.prev, e.next, e.inLRU = nil, l.head, true
	if l.head != nil {
		l.head.prev = e
	} else {
		l.tail = e
	}
	l.head = e
	l.len++
}

func (l *neighborList) remove(e *neighborEntry) {
	if !e.inLRU {
		return
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next, e.inLRU = nil, nil, false
	l.len--
}

func (l *neighborList) moveToFront(e *neighborEntry) {
	if e.inLRU && l.head != e {
		l.remove(e)
		l.pushFront(e)
	}
}

func (l *neighborList) back() *neighborEntry { return l.tail }

// neighborWork is what an operation decided under the cache's lock and
// carries out after releasing it: calls into the resolver, the output and
// Resolve's callbacks, which may re-enter the cache.
type neighborWork struct {
	solicits []neighborSolicit
	writes   []neighborWrite
	fails    []neighborFail
	dones    []neighborDone
	drops    []neighborDrop
}

type neighborSolicit struct {
	target, local netip.Addr
	remote        tcpip.LinkAddress // zero: multicast (ARP: broadcast)
}

type neighborWrite struct {
	e    *neighborEntry
	la   tcpip.LinkAddress
	pkts []*buffer.Packet
}

type neighborFail struct {
	addr netip.Addr
	pkts []*buffer.Packet
}

type neighborDrop struct {
	addr netip.Addr
	n    int
}

type neighborDone struct {
	fns []func(tcpip.LinkAddress, error)
	la  tcpip.LinkAddress
	err error
}

// run carries out w. The caller holds no lock.
func (c *NeighborCache) run(w *neighborWork) {
	for _, s := range w.solicits {
		// A solicitation that cannot be sent (no source address yet)
		// is simply not sent; the timer retries and finally fails.
		_ = c.resolver.LinkAddressRequest(s.target, s.local, s.remote)
	}
	for _, f := range w.writes {
		c.flush(f.e, f.la, f.pkts)
	}
	for _, f := range w.fails {
		c.out.ResolutionFailed(f.addr, f.pkts)
	}
	for _, d := range w.dones {
		for _, fn := range d.fns {
			fn(d.la, d.err)
		}
	}
	for _, d := range w.drops {
		c.drops.QueueDropped(d.addr, d.n)
	}
}

// flush writes the packets that waited for e's resolution, then those that
// were queued behind them while it wrote (e.flushing), so that packets to
// one neighbour leave in the order they were sent. The caller holds no
// lock.
func (c *NeighborCache) flush(e *neighborEntry, la tcpip.LinkAddress, pkts []*buffer.Packet) {
	for {
		c.out.WriteResolved(e.addr, la, pkts)
		c.mu.Lock()
		if c.entries[e.addr] != e || !e.state.usable() || len(e.queue) == 0 {
			// Removed entries had their queue taken; an entry that
			// is resolving again keeps its queue for the resolution.
			e.flushing = false
			c.mu.Unlock()
			return
		}
		pkts, la = e.queue, e.linkAddr
		e.queue = nil
		c.mu.Unlock()
	}
}

// createLocked adds an entry for addr, making room if the cache is full.
// Sends and Resolve (passive false) evict the least recently used dynamic
// entry. Unsolicited information (passive true: a probe) evicts only the
// least recently used STALE or UNREACHABLE entry, never one in use, and
// creates nothing if there is none (RFC 4861 §7.2.3 says SHOULD create).
func (c *NeighborCache) createLocked(addr netip.Addr, passive bool, w *neighborWork) *neighborEntry {
	if c.lru.len >= c.cfg.MaxEntries {
		victim := c.lru.back()
		if passive {
			for ; victim != nil; victim = victim.prev {
				if victim.state == NeighborStale || victim.state == NeighborUnreachable {
					break
				}
			}
		}
		if victim == nil {
			return nil
		}
		c.stats.Evictions.Inc()
		c.removeLocked(victim, tcpip.ErrHostUnreachable, w)
	}
	e := &neighborEntry{addr: addr}
	c.entries[addr] = e
	c.lru.pushFront(e)
	return e
}

// removeLocked removes e; its queue goes to ResolutionFailed and its
// waiters are called with err.
func (c *NeighborCache) removeLocked(e *neighborEntry, err error, w *neighborWork) {
	delete(c.entries, e.addr)
	c.lru.remove(e)
	c.disarmLocked(e)
	if len(e.queue) > 0 {
		w.fails = append(w.fails, neighborFail{addr: e.addr, pkts: e.queue})
		e.queue = nil
	}
	if len(e.waiters) > 0 {
		w.dones = append(w.dones, neighborDone{fns: e.waiters, err: err})
		e.waiters = nil
	}
}

// useLocked records a use of e: it becomes the most recently used, and a
// valid local becomes the source hint of its solicitations (RFC 4861
// §7.2.2: the source of the packet prompting the solicitation).
func (c *NeighborCache) useLocked(e *neighborEntry, local netip.Addr) {
	c.lru.moveToFront(e)
	if local.IsValid() {
		e.local = local
	}
}

// enqueueLocked queues pkt on e. RFC 4861 §7.2.2: the queue is bounded and
// "the new arrival SHOULD replace the oldest entry".
func (c *NeighborCache) enqueueLocked(e *neighborEntry, pkt *buffer.Packet, w *neighborWork) {
	c.trimQueueLocked(e, c.cfg.MaxQueuedPackets-1, w)
	e.queue = append(e.queue, pkt)
}

// trimQueueLocked releases the oldest packets of e's queue beyond n.
func (c *NeighborCache) trimQueueLocked(e *neighborEntry, n int, w *neighborWork) {
	drop := len(e.queue) - n
	if drop <= 0 {
		return
	}
	for i, p := range e.queue[:drop] {
		p.Release()
		e.queue[i] = nil
	}
	rest := copy(e.queue, e.queue[drop:])
	clear(e.queue[rest:])
	e.queue = e.queue[:rest]
	c.stats.QueueDrops.Add(uint64(drop))
	if c.drops != nil {
		w.drops = append(w.drops, neighborDrop{addr: e.addr, n: drop})
	}
}

// startResolutionLocked makes e INCOMPLETE and sends its first multicast
// solicitation (RFC 4861 §7.2.2; Appendix C: "Create entry. Send multicast
// NS. Start retransmit timer").
func (c *NeighborCache) startResolutionLocked(e *neighborEntry, now tcpip.MonotonicTime, w *neighborWork) {
	e.linkAddr = tcpip.LinkAddress{}
	e.failed = false
	e.probes = 1
	c.solicitLocked(e, false /* unicast */, w)
	c.enterLocked(e, NeighborIncomplete, now)
}

// solicitLocked asks for a solicitation of e's address: multicast while
// resolving, unicast to the cached link address in PROBE (RFC 4861 §7.3.3).
func (c *NeighborCache) solicitLocked(e *neighborEntry, unicast bool, w *neighborWork) {
	s := neighborSolicit{target: e.addr, local: e.local}
	if unicast {
		s.remote = e.linkAddr
		c.stats.UnicastProbes.Inc()
	} else {
		c.stats.MulticastProbes.Inc()
	}
	w.solicits = append(w.solicits, s)
}

// enterLocked moves e to state s and arms the timer of that state.
func (c *NeighborCache) enterLocked(e *neighborEntry, s NeighborState, now tcpip.MonotonicTime) {
	e.state = s
	e.updatedAt = now
	switch s {
	case NeighborIncomplete, NeighborProbe:
		// RFC 4861 §7.2.2, §7.3.3: a solicitation every RetransTimer.
		c.armLocked(e, now, c.cfg.RetransmitTimer)
	case NeighborReachable:
		// RFC 4861 §7.3.3: REACHABLE for ReachableTime after the
		// confirmation.
		e.confirmedAt = now
		c.armLocked(e, now, c.reachableTimeLocked(now))
	case NeighborStale:
		// Linux gc_stale_time: an entry that stays STALE is unused
		// (a send would have moved it to DELAY).
		c.armLocked(e, now, c.cfg.StaleTime)
	case NeighborDelay:
		// RFC 4861 §7.3.3: DELAY_FIRST_PROBE_TIME before probing.
		c.armLocked(e, now, c.cfg.DelayFirstProbeTime)
	case NeighborUnreachable:
		c.armLocked(e, now, c.cfg.UnreachableTime)
	default: // NeighborStatic: no timer.
		c.disarmLocked(e)
	}
}

// confirmLocked records a reachability confirmation of e, which has a link
// address: it becomes REACHABLE (RFC 4861 §7.3.3), or its REACHABLE time
// restarts (the timer notices when it fires).
func (c *NeighborCache) confirmLocked(e *neighborEntry, now tcpip.MonotonicTime) {
	if e.state == NeighborReachable {
		e.confirmedAt = now
		return
	}
	c.enterLocked(e, NeighborReachable, now)
}

// completeLocked is called when e, which had no link address, has one and
// is usable: the Resolve callbacks learn it and the queue is sent (RFC 4861
// §7.2.5 "sends any packets queued", Appendix C). Sending the queue to a
// STALE entry moves it to DELAY (RFC 4861 §7.3.3, as Linux does), so that
// an address learnt from an unsolicited message is verified.
func (c *NeighborCache) completeLocked(e *neighborEntry, now tcpip.MonotonicTime, w *neighborWork) {
	if len(e.waiters) > 0 {
		w.dones = append(w.dones, neighborDone{fns: e.waiters, la: e.linkAddr})
		e.waiters = nil
	}
	if len(e.queue) == 0 {
		return
	}
	if e.state == NeighborStale {
		c.enterLocked(e, NeighborDelay, now)
	}
	if !e.flushing {
		e.flushing = true
		w.writes = append(w.writes, neighborWrite{e: e, la: e.linkAddr, pkts: e.queue})
		e.queue = nil
	}
}

// handleProbeLocked applies RFC 4861 §7.2.3 (and Appendix C's rows for an
// NS, RS or Redirect with a link-layer address).
func (c *NeighborCache) handleProbeLocked(addr netip.Addr, la tcpip.LinkAddress, now tcpip.MonotonicTime, w *neighborWork) {
	e := c.entries[addr]
	if e == nil {
		// "If an entry does not already exist, the node SHOULD
		// create a new one and set its reachability state to STALE
		// ... the IsRouter flag SHOULD be set to FALSE."
		if e = c.createLocked(addr, true /* passive */, w); e == nil {
			return
		}
		e.linkAddr = la
		c.enterLocked(e, NeighborStale, now)
		return
	}
	switch e.state {
	case NeighborStatic:
		return
	case NeighborIncomplete, NeighborUnreachable:
		// INCOMPLETE: "Record link-layer address. Send queued
		// packets." → STALE. UNREACHABLE is not in RFC 4861; a
		// neighbour that solicits us is alive, so ustack treats it as
		// Linux treats a FAILED entry: the address is recorded, STALE,
		// whether or not it changed.
		e.linkAddr = la
		e.failed = false
		c.enterLocked(e, NeighborStale, now)
		c.completeLocked(e, now, w)
	default:
		// "If an entry already exists, and the cached link-layer
		// address differs ..., the cached address should be replaced
		// by the received address, and the entry's reachability state
		// MUST be set to STALE." Same address: unchanged.
		if e.linkAddr != la {
			e.linkAddr = la
			c.enterLocked(e, NeighborStale, now)
		}
	}
}

// handleConfirmationLocked applies RFC 4861 §7.2.5 to an advertisement
// about e's address.
func (c *NeighborCache) handleConfirmationLocked(e *neighborEntry, la tcpip.LinkAddress, f ReachabilityConfirmationFlags, now tcpip.MonotonicTime, w *neighborWork) {
	if e.state == NeighborStatic {
		return
	}
	if e.linkAddr.IsZero() {
		// INCOMPLETE (or failed UNREACHABLE, which is treated alike:
		// the neighbour answered after all).
		if la.IsZero() {
			// "If the link layer has addresses and no Target
			// Link-Layer Address option is included, the receiving
			// node SHOULD silently discard the received
			// advertisement." (Appendix C would update IsRouter;
			// the normative text wins.)
			return
		}
		// "It records the link-layer address ... If the
		// advertisement's Solicited flag is set, the state of the
		// entry is set to REACHABLE; otherwise, it is set to STALE.
		// It sets the IsRouter flag ... It sends any packets queued."
		// The Override flag is ignored in INCOMPLETE.
		e.linkAddr = la
		e.isRouter = f.IsRouter
		e.failed = false
		if f.Solicited {
			c.enterLocked(e, NeighborReachable, now)
		} else {
			c.enterLocked(e, NeighborStale, now)
		}
		c.completeLocked(e, now, w)
		return
	}
	differs := !la.IsZero() && la != e.linkAddr
	if !f.Override && differs {
		// §7.2.5 I: "a. If the state of the entry is REACHABLE, set
		// it to STALE, but do not update the entry in any other way.
		// b. Otherwise, the received advertisement should be ignored."
		if e.state == NeighborReachable {
			c.enterLocked(e, NeighborStale, now)
		}
		return
	}
	// §7.2.5 II: Override set, same address, or no address supplied.
	if differs {
		e.linkAddr = la
		e.updatedAt = now
	}
	// "In those cases where the IsRouter flag changes from TRUE to
	// FALSE ..., the node MUST remove that router from the Default
	// Router List": the IPv6 endpoint, which owns that list, compares
	// Entry before and after.
	e.isRouter = f.IsRouter
	switch {
	case f.Solicited:
		c.confirmLocked(e, now)
	case differs:
		c.enterLocked(e, NeighborStale, now)
	}
}

// armLocked arms e's timer to fire d after now.
func (c *NeighborCache) armLocked(e *neighborEntry, now tcpip.MonotonicTime, d time.Duration) {
	e.due = now.Add(d)
	e.armed = true
	if e.timer == nil {
		e.timer = c.clock.AfterFunc(d, func() { c.timerFired(e) })
		return
	}
	e.timer.Reset(d)
}

// disarmLocked stops e's timer.
func (c *NeighborCache) disarmLocked(e *neighborEntry) {
	e.armed = false
	if e.timer != nil {
		e.timer.Stop()
	}
}

// timerFired runs when e's timer fires, from the Clock's goroutine.
func (c *NeighborCache) timerFired(e *neighborEntry) {
	var w neighborWork
	c.mu.Lock()
	if c.closed || c.entries[e.addr] != e || !e.armed {
		// Removed, or stopped after the call had started (a Stop
		// returning false; tcpip.Clock.AfterFunc).
		c.mu.Unlock()
		return
	}
	now := c.clock.NowMonotonic()
	if now.Before(e.due) {
		// A call that started before the timer was re-armed to a
		// later deadline: make sure that deadline still fires.
		e.timer.Reset(e.due.Sub(now))
		c.mu.Unlock()
		return
	}
	e.armed = false
	c.timeoutLocked(e, now, &w)
	c.mu.Unlock()
	c.run(&w)
}

// timeoutLocked handles the expiry of e's timer in its current state.
func (c *NeighborCache) timeoutLocked(e *neighborEntry, now tcpip.MonotonicTime, w *neighborWork) {
	switch e.state {
	case NeighborIncomplete:
		if e.probes < c.cfg.MaxMulticastProbes {
			// RFC 4861 §7.2.2: retransmit every RetransTimer
			// until MAX_MULTICAST_SOLICIT were sent.
			e.probes++
			c.solicitLocked(e, false /* unicast */, w)
			c.armLocked(e, now, c.cfg.RetransmitTimer)
			return
		}
		// RFC 4861 §7.2.2: "If no Neighbor Advertisement is received
		// after MAX_MULTICAST_SOLICIT solicitations, address
		// resolution has failed. The sender MUST return ICMP
		// destination unreachable indications ... for each packet
		// queued": the output does that. ustack keeps the entry,
		// UNREACHABLE and failed, for UnreachableTime, during which
		// sends fail at once (see NUDConfig.UnreachableTime).
		c.stats.ResolutionFailures.Inc()
		if len(e.queue) > 0 {
			w.fails = append(w.fails, neighborFail{addr: e.addr, pkts: e.queue})
			e.queue = nil
		}
		if len(e.waiters) > 0 {
			w.dones = append(w.dones, neighborDone{fns: e.waiters, err: tcpip.ErrHostUnreachable})
			e.waiters = nil
		}
		e.failed = true
		c.enterLocked(e, NeighborUnreachable, now)
	case NeighborReachable:
		// RFC 4861 §7.3.3: "When ReachableTime milliseconds have
		// passed since receipt of the last reachability confirmation
		// for a neighbor, the Neighbor Cache entry's state changes
		// from REACHABLE to STALE." Confirmations in REACHABLE only
		// move confirmedAt, so check it here.
		rt := c.reachableTimeLocked(now)
		if since := now.Sub(e.confirmedAt); since < rt {
			c.armLocked(e, now, rt-since)
			return
		}
		c.enterLocked(e, NeighborStale, now)
	case NeighborDelay:
		// RFC 4861 §7.3.3: "If the entry is still in the DELAY state
		// when the timer expires, the entry's state changes to PROBE"
		// and "Upon entering the PROBE state, a node sends a unicast
		// Neighbor Solicitation message to the neighbor using the
		// cached link-layer address".
		e.probes = 1
		c.solicitLocked(e, true /* unicast */, w)
		c.enterLocked(e, NeighborProbe, now)
	case NeighborProbe:
		if e.probes < c.cfg.MaxUnicastProbes {
			e.probes++
			c.solicitLocked(e, true /* unicast */, w)
			c.armLocked(e, now, c.cfg.RetransmitTimer)
			return
		}
		// RFC 4861 §7.3.3 would delete the entry; RFC 7048 §3 keeps
		// it as UNREACHABLE. ustack then probes again only when a
		// packet is sent (from INCOMPLETE, with multicast
		// solicitations, as Linux does from FAILED) and forgets the
		// entry after UnreachableTime. Packets queued behind a flush
		// are failed: an UNREACHABLE entry holds no queue.
		c.stats.ProbeFailures.Inc()
		if len(e.queue) > 0 {
			w.fails = append(w.fails, neighborFail{addr: e.addr, pkts: e.queue})
			e.queue = nil
		}
		e.failed = false
		c.enterLocked(e, NeighborUnreachable, now)
	case NeighborStale, NeighborUnreachable:
		// StaleTime unused, or UnreachableTime elapsed.
		c.removeLocked(e, tcpip.ErrHostUnreachable, w)
	}
}
