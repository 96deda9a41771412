package ipv6

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

const (
	// slaacPrefixLen is the only prefix length SLAAC forms addresses
	// in on Ethernet: RFC 4862 §5.5.3 (d) needs prefix length plus
	// interface identifier length (64 bits, RFC 2464 §4) to be 128.
	slaacPrefixLen = 64

	// twoHours is the floor of RFC 4862 §5.5.3 (e): an advertisement
	// cannot cut a valid lifetime below two hours (an attacker's RA
	// could otherwise remove the address at once).
	twoHours = 2 * time.Hour
)

// deadline is an instant, or never.
type deadline struct {
	at       tcpip.MonotonicTime
	infinite bool
}

func (e *endpoint) deadlineIn(d time.Duration) deadline {
	if d == header.NDPInfiniteLifetime {
		return deadline{infinite: true}
	}
	return deadline{at: e.p.s.Clock().NowMonotonic().Add(d)}
}

// remaining returns the time left until dl, header.NDPInfiniteLifetime for
// never.
func (e *endpoint) remaining(dl deadline) time.Duration {
	if dl.infinite {
		return header.NDPInfiniteLifetime
	}
	return max(dl.at.Sub(e.p.s.Clock().NowMonotonic()), 0)
}

// slaacPrefix is a prefix SLAAC forms addresses in (RFC 4862 §5.5.3).
type slaacPrefix struct {
	prefix    netip.Prefix
	valid     deadline
	preferred deadline
	// dadCounter is RFC 7217 §5's DAD_Counter, bumped after each DAD
	// failure of an opaque address.
	dadCounter uint8
	public     *slaacAddr // nil once DAD failures exhausted the retries
	temps      []*slaacAddr
}

func (p *slaacPrefix) stopTimers() {
	if p.public != nil {
		p.public.stopTimers()
	}
	for _, t := range p.temps {
		t.stopTimers()
	}
}

// slaacAddr is an address SLAAC formed.
type slaacAddr struct {
	addr   netip.Prefix
	prefix *slaacPrefix
	temp   bool
	// For temporary addresses (RFC 8981 §3.4): when it was created,
	// its DESYNC_FACTOR, how many DAD failures preceded it, and whether
	// its successor was made.
	created     tcpip.MonotonicTime
	desync      time.Duration
	attempts    int
	regenerated bool

	deprecated bool
	validT     tcpip.Timer
	prefT      tcpip.Timer
	regenT     tcpip.Timer
}

func (a *slaacAddr) stopTimers() {
	for _, t := range []tcpip.Timer{a.validT, a.prefT, a.regenT} {
		if t != nil {
			t.Stop()
		}
	}
	a.validT, a.prefT, a.regenT = nil, nil, nil
}

// OpaqueIID returns the RFC 7217 §5 interface identifier F(Prefix,
// Net_Iface, Network_ID, DAD_Counter, secret_key): the first 64 bits of
// SHA-256 (a PRF RFC 7217 §5 suggests) over those inputs. Network_ID is
// not used (it is optional).
func OpaqueIID(prefix netip.Prefix, nicName string, dadCounter uint8, secretKey []byte) [8]byte {
	h := sha256.New()
	p := prefix.Masked().Addr().As16()
	h.Write(p[:8])
	h.Write([]byte(nicName))
	// The length of the name keeps (name, counter) pairs apart.
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], uint16(len(nicName)))
	h.Write(n[:])
	h.Write([]byte{dadCounter})
	h.Write(secretKey)
	var iid [8]byte
	copy(iid[:], h.Sum(nil))
	return iid
}

// reservedIID reports whether an interface identifier is reserved (RFC
// 5453 §3: the subnet-router anycast identifier, all zero, and the
// reserved subnet anycast range fdff:ffff:ffff:ff80 and up).
func reservedIID(iid [8]byte) bool {
	v := binary.BigEndian.Uint64(iid[:])
	return v == 0 || v >= 0xfdffffffffffff80 && v <= 0xfdffffffffffffff
}

func withIID(prefix netip.Prefix, iid [8]byte) netip.Addr {
	a := prefix.Masked().Addr().As16()
	copy(a[8:], iid[:])
	return netip.AddrFrom16(a)
}

// stableIID returns the interface identifier of the NIC's stable
// addresses in prefix: RFC 7217 opaque if the stack names NICs for it
// (skipping reserved values by bumping the counter), else the modified
// EUI-64 of the MAC (RFC 4291 Appendix A). ok is false if there is none.
func (e *endpoint) stableIID(prefix netip.Prefix, counter *uint8) ([8]byte, bool) {
	o := e.p.s.OpaqueIIDOpts()
	if o.NICNameFromID != nil {
		name := o.NICNameFromID(e.nic.ID(), e.nic.Name())
		for range 4 {
			iid := OpaqueIID(prefix, name, *counter, o.SecretKey)
			if !reservedIID(iid) {
				return iid, true
			}
			*counter++
		}
		return [8]byte{}, false
	}
	mac := e.nic.LinkAddress()
	if mac.IsZero() || !mac.IsUnicast() {
		return [8]byte{}, false
	}
	return header.IPv6EUI64InterfaceID(mac), true
}

// slaacPrefixLocked applies the A flag of a Prefix Information option
// (RFC 4862 §5.5.3).
func (e *endpoint) slaacPrefixLocked(prefix netip.Prefix, valid, preferred time.Duration, acts *actions) {
	// §5.5.3 (c): a preferred lifetime above the valid one is an error.
	if preferred > valid {
		return
	}
	sp := e.ndp.slaac[prefix]
	if sp == nil {
		// §5.5.3 (d): a new prefix with a zero valid lifetime, or of a
		// length that leaves no room for our 64-bit identifier, forms
		// nothing.
		if valid == 0 || prefix.Bits() != slaacPrefixLen {
			return
		}
		sp = &slaacPrefix{prefix: prefix, valid: e.deadlineIn(valid), preferred: e.deadlineIn(preferred)}
		e.ndp.slaac[prefix] = sp
		e.newPublicLocked(sp, acts)
		return
	}

	// §5.5.3 (e): the preferred lifetime is replaced; the valid one
	// too, except that it is never cut below two hours by an
	// advertisement (the "two-hour rule").
	sp.preferred = e.deadlineIn(preferred)
	left := e.remaining(sp.valid)
	switch {
	case valid > twoHours || valid > left:
		sp.valid = e.deadlineIn(valid)
	case left <= twoHours:
		// Keep the remaining lifetime.
	default:
		sp.valid = e.deadlineIn(twoHours)
	}
	if sp.public != nil {
		e.setAddrLifetimesLocked(sp.public, e.remaining(sp.valid), e.remaining(sp.preferred), acts)
	}
	// RFC 8981 §3.4: the lifetimes of the temporary addresses follow
	// the prefix's, never beyond their own maxima from creation.
	for _, t := range sp.temps {
		v, p := e.tempLifetimesLocked(sp, t)
		e.setAddrLifetimesLocked(t, v, p, acts)
	}
	if e.ndp.cfg.AutoGenTempGlobalAddresses && sp.public != nil && !e.hasPreferredTempLocked(sp) {
		e.newTempLocked(sp, 0, acts)
	}
}

// newPublicLocked forms the stable address of sp and schedules its
// addition.
func (e *endpoint) newPublicLocked(sp *slaacPrefix, acts *actions) {
	iid, ok := e.stableIID(sp.prefix, &sp.dadCounter)
	if !ok {
		return
	}
	a := &slaacAddr{addr: netip.PrefixFrom(withIID(sp.prefix, iid), slaacPrefixLen), prefix: sp}
	if _, dup := e.ndp.owned[a.addr.Addr()]; dup {
		return
	}
	sp.public = a
	e.ndp.owned[a.addr.Addr()] = a
	e.scheduleAddLocked(a, e.remaining(sp.valid), e.remaining(sp.preferred), acts)
}

// tempLifetimesLocked returns the valid and preferred lifetimes of the
// temporary address t of sp now (RFC 8981 §3.4): those of the prefix,
// capped by TEMP_VALID_LIFETIME and TEMP_PREFERRED_LIFETIME less
// DESYNC_FACTOR counted from t's creation.
func (e *endpoint) tempLifetimesLocked(sp *slaacPrefix, t *slaacAddr) (valid, preferred time.Duration) {
	age := e.p.s.Clock().NowMonotonic().Sub(t.created)
	valid = min(e.remaining(sp.valid), max(e.ndp.cfg.MaxTempAddrValidLifetime-age, 0))
	preferred = min(e.remaining(sp.preferred), max(e.ndp.cfg.MaxTempAddrPreferredLifetime-t.desync-age, 0), valid)
	return valid, preferred
}

// hasPreferredTempLocked reports whether sp has a temporary address that
// is neither deprecated nor already replaced.
func (e *endpoint) hasPreferredTempLocked(sp *slaacPrefix) bool {
	for _, t := range sp.temps {
		if !t.deprecated && !t.regenerated {
			return true
		}
	}
	return false
}

// newTempLocked forms a temporary address in sp (RFC 8981 §3.3.1, §3.4)
// after attempts DAD failures.
func (e *endpoint) newTempLocked(sp *slaacPrefix, attempts int, acts *actions) {
	cfg := &e.ndp.cfg
	// RFC 8981 §3.8: DESYNC_FACTOR is random in [0, MAX_DESYNC_FACTOR],
	// MAX_DESYNC_FACTOR being 0.4 × TEMP_PREFERRED_LIFETIME.
	desync := e.randDuration(cfg.MaxTempAddrPreferredLifetime * 2 / 5)
	t := &slaacAddr{prefix: sp, temp: true, created: e.p.s.Clock().NowMonotonic(), desync: desync, attempts: attempts}
	valid, preferred := e.tempLifetimesLocked(sp, t)
	// RFC 8981 §3.4 step 5: no temporary address whose preferred
	// lifetime does not exceed REGEN_ADVANCE.
	if preferred <= cfg.RegenAdvanceDuration {
		return
	}
	// RFC 8981 §3.3.1: 64 random bits from the stack's source; reserved
	// identifiers and addresses already in use are drawn again.
	for range 8 {
		var iid [8]byte
		binary.BigEndian.PutUint64(iid[:], e.p.s.RandUint64())
		a := withIID(sp.prefix, iid)
		if reservedIID(iid) || e.ndp.owned[a] != nil {
			continue
		}
		if _, used := e.addrInfo(a); used {
			continue
		}
		t.addr = netip.PrefixFrom(a, slaacPrefixLen)
		sp.temps = append(sp.temps, t)
		e.ndp.owned[a] = t
		e.scheduleAddLocked(t, valid, preferred, acts)
		return
	}
}

// scheduleAddLocked arms a's timers and schedules its addition to the
// NIC (tentative: DAD runs if it is on).
func (e *endpoint) scheduleAddLocked(a *slaacAddr, valid, preferred time.Duration, acts *actions) {
	a.deprecated = preferred == 0
	e.armAddrTimersLocked(a, valid, preferred)
	deprecated := a.deprecated
	acts.add(func() {
		props := stack.AddressProperties{Deprecated: deprecated, Tentative: true}
		if a.temp {
			// RFC 6724 §5 rule 7: temporary addresses are preferred
			// as sources (Linux's use_tempaddr=2).
			props.PEB = stack.FirstPrimaryEndpoint
		}
		if err := e.p.s.AddProtocolAddress(e.nic.ID(), tcpip.ProtocolAddress{Protocol: tcpip.IPv6ProtocolNumber, Address: a.addr}, props); err != nil {
			// Already configured by hand: not ours to manage.
			e.ndp.mu.Lock()
			e.forgetLocked(a)
			e.ndp.mu.Unlock()
			return
		}
		e.dispatch(func(x stack.NDPDispatcher) { x.OnAutoGenAddress(e.nic.ID(), a.addr) })
	})
}

// armAddrTimersLocked sets a's deprecation, invalidation and (temporary
// addresses) regeneration timers for the given lifetimes from now.
func (e *endpoint) armAddrTimersLocked(a *slaacAddr, valid, preferred time.Duration) {
	e.resetExpiry(&a.validT, valid, func() { e.slaacInvalidate(a) })
	if preferred > 0 {
		e.resetExpiry(&a.prefT, preferred, func() { e.slaacDeprecate(a) })
	} else if a.prefT != nil {
		a.prefT.Stop()
		a.prefT = nil
	}
	if a.temp && !a.regenerated && preferred > 0 && preferred != header.NDPInfiniteLifetime {
		// RFC 8981 §3.4: the successor is formed REGEN_ADVANCE before
		// the address is deprecated, so that one is always preferred.
		e.resetExpiry(&a.regenT, max(preferred-e.ndp.cfg.RegenAdvanceDuration, 0), func() { e.slaacRegenerate(a) })
	}
}

// setAddrLifetimesLocked applies new lifetimes to a known address.
func (e *endpoint) setAddrLifetimesLocked(a *slaacAddr, valid, preferred time.Duration, acts *actions) {
	if valid == 0 {
		e.forgetLocked(a)
		acts.add(func() { e.removeSLAACAddr(a) })
		return
	}
	e.armAddrTimersLocked(a, valid, preferred)
	dep := preferred == 0
	if dep != a.deprecated {
		a.deprecated = dep
		acts.add(func() { e.setDeprecated(a, dep) })
	}
}

// setDeprecated updates the NIC's flag for a and reports a deprecation.
// RFC 4862 §5.5.4: a deprecated address still receives and serves
// existing connections; source selection avoids it for new ones (RFC
// 6724 §5 rule 3).
func (e *endpoint) setDeprecated(a *slaacAddr, on bool) {
	ai, ok := e.addrInfo(a.addr.Addr())
	if !ok {
		return
	}
	ai.Properties.Deprecated = on
	_ = e.p.s.SetAddressProperties(e.nic.ID(), a.addr.Addr(), ai.Properties)
	if on {
		e.dispatch(func(x stack.NDPDispatcher) { x.OnAutoGenAddressDeprecated(e.nic.ID(), a.addr) })
	}
}

// slaacDeprecate runs when a's preferred lifetime ends.
func (e *endpoint) slaacDeprecate(a *slaacAddr) {
	e.ndp.mu.Lock()
	if e.ndp.owned[a.addr.Addr()] != a || a.deprecated {
		e.ndp.mu.Unlock()
		return
	}
	a.deprecated = true
	a.prefT = nil
	e.ndp.mu.Unlock()
	e.setDeprecated(a, true)
}

// slaacInvalidate runs when a's valid lifetime ends (RFC 4862 §5.5.4:
// the address is removed).
func (e *endpoint) slaacInvalidate(a *slaacAddr) {
	e.ndp.mu.Lock()
	if e.ndp.owned[a.addr.Addr()] != a {
		e.ndp.mu.Unlock()
		return
	}
	a.validT = nil
	e.forgetLocked(a)
	e.ndp.mu.Unlock()
	e.removeSLAACAddr(a)
}

// slaacRegenerate forms the successor of the temporary address a.
func (e *endpoint) slaacRegenerate(a *slaacAddr) {
	var acts actions
	e.ndp.mu.Lock()
	if e.ndp.owned[a.addr.Addr()] == a && !a.regenerated {
		a.regenT = nil
		a.regenerated = true
		if sp := a.prefix; e.ndp.slaac[sp.prefix] == sp && e.ndp.cfg.AutoGenTempGlobalAddresses {
			e.newTempLocked(sp, 0, &acts)
		}
	}
	e.ndp.mu.Unlock()
	acts.run()
}

// forgetLocked drops a from the SLAAC state and stops its timers; when
// it was the last address of its prefix, the prefix goes too.
func (e *endpoint) forgetLocked(a *slaacAddr) {
	if e.ndp.owned[a.addr.Addr()] == a {
		delete(e.ndp.owned, a.addr.Addr())
	}
	a.stopTimers()
	sp := a.prefix
	if sp.public == a {
		sp.public = nil
	}
	for i, t := range sp.temps {
		if t == a {
			sp.temps = append(sp.temps[:i:i], sp.temps[i+1:]...)
			break
		}
	}
	if sp.public == nil && len(sp.temps) == 0 && e.ndp.slaac[sp.prefix] == sp && e.remaining(sp.valid) == 0 {
		delete(e.ndp.slaac, sp.prefix)
	}
}

// removeSLAACAddr removes a from the NIC and reports it.
func (e *endpoint) removeSLAACAddr(a *slaacAddr) {
	if e.p.s.RemoveAddress(e.nic.ID(), a.addr.Addr()) == nil {
		e.dispatch(func(x stack.NDPDispatcher) { x.OnAutoGenAddressInvalidated(e.nic.ID(), a.addr) })
	}
	e.ndp.mu.Lock()
	sp := a.prefix
	if sp.public == nil && len(sp.temps) == 0 && e.ndp.slaac[sp.prefix] == sp && e.remaining(sp.valid) == 0 {
		delete(e.ndp.slaac, sp.prefix)
	}
	e.ndp.mu.Unlock()
}

// slaacAddrRemoved forgets an address removed from the NIC by someone
// else.
func (e *endpoint) slaacAddrRemoved(addr netip.Addr) {
	e.ndp.mu.Lock()
	if a := e.ndp.owned[addr]; a != nil {
		e.forgetLocked(a)
	}
	e.ndp.mu.Unlock()
}

// slaacDADSucceeded forms the first temporary address of a prefix once
// its public address is assigned (RFC 8981 §3.4).
func (e *endpoint) slaacDADSucceeded(addr netip.Addr) {
	var acts actions
	e.ndp.mu.Lock()
	if a := e.ndp.owned[addr]; a != nil && !a.temp && e.ndp.cfg.AutoGenTempGlobalAddresses && !e.hasPreferredTempLocked(a.prefix) {
		e.newTempLocked(a.prefix, 0, &acts)
	}
	e.ndp.mu.Unlock()
	acts.run()
}

// slaacDADFailed forgets a SLAAC address that failed DAD and returns what
// to do once it is removed: report it, and try another address (RFC 7217
// §6: a new DAD_Counter, up to IDGEN_RETRIES times; RFC 8981 §3.4 step
// 7: a new random identifier, up to TEMP_IDGEN_RETRIES times). EUI-64
// addresses are not retried: the next one would be the same. It returns
// nil for an address SLAAC does not own.
func (e *endpoint) slaacDADFailed(addr netip.Addr) func() {
	e.ndp.mu.Lock()
	defer e.ndp.mu.Unlock()
	a := e.ndp.owned[addr]
	if a == nil {
		return nil
	}
	sp := a.prefix
	e.forgetLocked(a)
	var retry func(*actions)
	cfg := &e.ndp.cfg
	switch {
	case a.temp && a.attempts < int(cfg.TempIdgenRetries):
		retry = func(acts *actions) { e.newTempLocked(sp, a.attempts+1, acts) }
	case !a.temp && e.p.s.OpaqueIIDOpts().NICNameFromID != nil && sp.dadCounter < cfg.AutoGenAddressConflictRetries:
		sp.dadCounter++
		retry = func(acts *actions) { e.newPublicLocked(sp, acts) }
	}
	return func() {
		e.dispatch(func(x stack.NDPDispatcher) { x.OnAutoGenAddressInvalidated(e.nic.ID(), a.addr) })
		if retry == nil {
			return
		}
		var acts actions
		e.ndp.mu.Lock()
		if e.ndp.slaac[sp.prefix] == sp && e.remaining(sp.valid) > 0 {
			retry(&acts)
		}
		e.ndp.mu.Unlock()
		acts.run()
	}
}
