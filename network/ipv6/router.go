package ipv6

import (
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Route metrics of what advertisements teach, Linux's 1024 for RA routes
// shifted by the router preference (RFC 4191 §3.2: a lower metric wins,
// so a High router is chosen before a Medium one). Redirect host routes
// beat everything of their prefix length.
const (
	raRouteMetric       = 1024
	redirectRouteMetric = 1
)

// defaultRoute is ::/0.
var defaultRoute = netip.PrefixFrom(netip.IPv6Unspecified(), 0)

// ndpTimed is an entry that expires: an on-link prefix.
type ndpTimed struct {
	timer tcpip.Timer // nil: infinite lifetime
}

// ndpRouter is an entry of the Default Router List (RFC 4861 §6.3.4).
type ndpRouter struct {
	prf   header.NDPRoutePreference
	timer tcpip.Timer
}

// offLinkKey names a Route Information route (RFC 4191 §3.1).
type offLinkKey struct {
	prefix netip.Prefix
	router netip.Addr
}

// ndpRouteInfo is a route learnt from a Route Information option.
type ndpRouteInfo struct {
	prf   header.NDPRoutePreference
	timer tcpip.Timer
}

// prefMetric returns the route metric of a router preference; RFC 4191
// §2.2: the reserved value is treated as Medium.
func prefMetric(p header.NDPRoutePreference) uint32 {
	switch p {
	case header.NDPPreferenceHigh:
		return raRouteMetric - 1
	case header.NDPPreferenceLow:
		return raRouteMetric + 1
	}
	return raRouteMetric
}

// normPref maps the reserved preference to Medium (RFC 4191 §2.2).
func normPref(p header.NDPRoutePreference) header.NDPRoutePreference {
	if p == header.NDPPreferenceReserved {
		return header.NDPPreferenceMedium
	}
	return p
}

// resetExpiry arms *t to run f after d, replacing a running timer;
// infinite lifetimes need none.
func (e *endpoint) resetExpiry(t *tcpip.Timer, d time.Duration, f func()) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
	if d != header.NDPInfiniteLifetime {
		*t = e.p.s.Clock().AfterFunc(d, f)
	}
}

// SetNDPConfigurations implements stack.NDPEndpoint. Router advertising
// follows the new configuration at once; the other settings apply to what
// happens next.
func (e *endpoint) SetNDPConfigurations(c stack.NDPConfigurations) {
	e.ndp.mu.Lock()
	e.ndp.cfg = c
	e.ndp.mu.Unlock()
	e.updateAdvertising()
}

// hostMode reports whether RAs are processed and RSs sent under cfg: RFC
// 4861 §6.2.1, §6.3.4 have routers not take their parameters from other
// routers, unless asked (Linux's accept_ra=2).
func (e *endpoint) hostMode(cfg *stack.NDPConfigurations) bool {
	switch cfg.HandleRAs {
	case stack.HandleRAsDisabled:
		return false
	case stack.HandleRAsAlwaysEnabled:
		return true
	}
	return !e.p.s.Forwarding(tcpip.IPv6ProtocolNumber)
}

// startRouterSolicitation begins soliciting routers when the NIC comes up
// (RFC 4861 §6.3.7): MaxRtrSolicitations solicitations,
// RtrSolicitationInterval apart, the first after a random delay in [0,
// MaxRtrSolicitationDelay). Routers do not solicit.
func (e *endpoint) startRouterSolicitation() {
	if !e.neighborDiscoveryLink() {
		return
	}
	e.ndp.mu.Lock()
	defer e.ndp.mu.Unlock()
	cfg := &e.ndp.cfg
	if cfg.MaxRtrSolicitations == 0 || !e.hostMode(cfg) || e.ndp.rsTimer != nil {
		return
	}
	e.ndp.rsLeft = int(cfg.MaxRtrSolicitations)
	ref := new(timerRef)
	ref.t = e.p.s.Clock().AfterFunc(e.randDuration(cfg.MaxRtrSolicitationDelay), func() { e.rsTimer(ref) })
	e.ndp.rsTimer = ref.t
}

// timerRef holds a timer for its own callback, which reads it under the
// lock its creator held while arming it (a real clock may run the
// callback before AfterFunc returns).
type timerRef struct{ t tcpip.Timer }

// rsTimer sends one Router Solicitation and arms the next.
func (e *endpoint) rsTimer(ref *timerRef) {
	e.ndp.mu.Lock()
	t := ref.t
	if e.ndp.rsTimer != t || t == nil {
		e.ndp.mu.Unlock()
		return
	}
	if !e.hostMode(&e.ndp.cfg) || !e.enabled.Load() {
		e.ndp.rsTimer = nil
		e.ndp.mu.Unlock()
		return
	}
	e.ndp.rsLeft--
	if e.ndp.rsLeft > 0 {
		t.Reset(e.ndp.cfg.RtrSolicitationInterval)
	} else {
		// RFC 4861 §6.3.7: after the last one the host stops, even
		// with no answer.
		e.ndp.rsTimer = nil
	}
	e.ndp.mu.Unlock()
	e.sendRouterSolicit()
}

// stopRouterSolicitationLocked stops soliciting (an advertisement came:
// RFC 4861 §6.3.7, or the NIC went down).
func (e *endpoint) stopRouterSolicitationLocked() {
	if e.ndp.rsTimer != nil {
		e.ndp.rsTimer.Stop()
		e.ndp.rsTimer = nil
	}
}

// sendRouterSolicit sends a Router Solicitation to all-routers (RFC 4861
// §6.3.7), from a usable link-local address with our link-layer address
// option, or from :: without it (§4.1: the option MUST NOT be sent from
// ::).
func (e *endpoint) sendRouterSolicit() {
	src := e.usableLinkLocal()
	size := header.ICMPv6HeaderSize + header.NDPRouterSolicitMinimumSize
	if src.IsValid() {
		size += header.NDPLinkLayerAddressOptionSize
	}
	msg := make([]byte, size)
	(&header.ICMPv6Fields{Type: header.ICMPv6RouterSolicit}).Encode(msg)
	(&header.NDPRouterSolicitFields{}).Encode(msg[header.ICMPv6HeaderSize:])
	if src.IsValid() {
		(&header.NDPLinkLayerAddressFields{Type: header.NDPOptionSourceLinkLayerAddress, Address: e.nic.LinkAddress()}).
			Encode(msg[header.ICMPv6HeaderSize+header.NDPRouterSolicitMinimumSize:])
	} else {
		src = netip.IPv6Unspecified()
	}
	if e.sendNDP(src, header.IPv6AllRoutersMulticastAddr, tcpip.LinkAddress{}, msg) == nil {
		e.p.stats.ICMPv6.Sent.RouterSolicit.Inc()
	}
}

// usableLinkLocal returns a link-local address of the NIC that is not
// tentative, or the zero Addr.
func (e *endpoint) usableLinkLocal() netip.Addr {
	for _, a := range e.nic.Addresses(tcpip.IPv6ProtocolNumber) {
		if a.Address.Addr().IsLinkLocalUnicast() && !a.Properties.Tentative {
			return a.Address.Addr()
		}
	}
	return netip.Addr{}
}

// HandleNDPRA implements stack.NDPEndpoint.
func (e *endpoint) HandleNDPRA(router netip.Addr, ra header.NDPRouterAdvert) {
	e.processRA(router, ra)
}

// handleRouterAdvert processes a valid Router Advertisement (RFC 4861
// §6.3.4).
func (e *endpoint) handleRouterAdvert(ra header.NDPRouterAdvert, info stack.NetworkPacketInfo) {
	e.processRA(info.Source, ra)
}

// processRA is a host learning from a Router Advertisement from router
// (RFC 4861 §6.3.4): link parameters, the Default Router List, the Prefix
// List, addresses (RFC 4862 §5.5.3), more-specific routes (RFC 4191 §3.1)
// and DNS settings (RFC 8106 §5.3.1), the last as dispatcher events.
func (e *endpoint) processRA(router netip.Addr, ra header.NDPRouterAdvert) {
	var acts actions
	e.ndp.mu.Lock()
	cfg := e.ndp.cfg
	if !e.hostMode(&cfg) {
		e.ndp.mu.Unlock()
		return
	}
	// RFC 4861 §6.3.7: an advertisement ends solicitation.
	e.stopRouterSolicitationLocked()

	// RFC 4861 §6.3.4: non-zero values of Cur Hop Limit, Reachable
	// Time and Retrans Timer replace the host's.
	if h := ra.CurHopLimit(); h != 0 {
		e.curHopLimit.Store(uint32(h))
	}
	reach, retrans := ra.ReachableTime(), ra.RetransTimer()
	if retrans != 0 {
		e.ndp.cfg.RetransmitTimer = retrans
	}
	if reach != 0 || retrans != 0 {
		acts.add(func() {
			c := e.nic.Neighbors(tcpip.IPv6ProtocolNumber)
			if c == nil {
				return
			}
			nc := c.Config()
			if reach != 0 && reach != nc.BaseReachableTime {
				// §6.3.4: a new BaseReachableTime draws a new
				// ReachableTime (the cache does on SetConfig).
				nc.BaseReachableTime = reach
			}
			if retrans != 0 {
				nc.RetransmitTimer = retrans
			}
			if nc != c.Config() {
				c.SetConfig(nc)
			}
		})
	}

	// RFC 4861 §4.2: M and O tell what DHCPv6 provides (RFC 4862 §5.6).
	dhcp := stack.DHCPv6NoConfiguration
	switch {
	case ra.Managed():
		dhcp = stack.DHCPv6ManagedAddress
	case ra.Other():
		dhcp = stack.DHCPv6OtherConfigurations
	}
	if dhcp != e.ndp.dhcp {
		e.ndp.dhcp = dhcp
		acts.add(func() {
			e.dispatch(func(x stack.NDPDispatcher) { x.OnDHCPv6Configuration(e.nic.ID(), dhcp) })
		})
	}

	if cfg.DiscoverDefaultRouters {
		e.updateDefaultRouterLocked(router, ra.RouterLifetime(), normPref(ra.RouterPreference()), &acts)
	}

	it := ra.Options().Iterator()
	for {
		o, ok := it.Next()
		if !ok {
			break
		}
		switch o.Type() {
		case header.NDPOptionSourceLinkLayerAddress:
			// RFC 4861 §6.3.4: the router's link-layer address
			// updates (or creates, STALE) its cache entry.
			if la, ok := o.LinkLayerAddress(); ok && la.IsUnicast() {
				acts.add(func() {
					if c := e.nic.Neighbors(tcpip.IPv6ProtocolNumber); c != nil {
						c.HandleProbe(router, la)
					}
				})
			}
		case header.NDPOptionMTU:
			// RFC 4861 §6.3.4: an MTU option within [1280, link MTU]
			// sets the link's MTU; others are ignored.
			if mtu, ok := o.MTU(); ok && mtu >= header.IPv6MinimumMTU && mtu <= e.nic.MTU() {
				e.linkMTU.Store(mtu)
			}
		case header.NDPOptionPrefixInformation:
			if pi, ok := o.PrefixInformation(); ok {
				e.handlePrefixInfoLocked(pi, &cfg, &acts)
			}
		case header.NDPOptionRouteInformation:
			if ri, ok := o.RouteInformation(); ok && cfg.DiscoverMoreSpecificRoutes {
				e.updateRouteInfoLocked(ri.Prefix(), router, ri.RouteLifetime(), normPref(ri.Preference()), &acts)
			}
		case header.NDPOptionRDNSS:
			if r, ok := o.RDNSS(); ok {
				var addrs []netip.Addr
				ai := r.Addresses()
				for {
					a, ok := ai.Next()
					if !ok {
						break
					}
					addrs = append(addrs, a)
				}
				life := r.Lifetime()
				// RFC 8106 §5.1: an option without addresses is
				// invalid.
				if len(addrs) > 0 && ai.Err() == nil {
					acts.add(func() {
						e.dispatch(func(x stack.NDPDispatcher) { x.OnRecursiveDNSServerOption(e.nic.ID(), addrs, life) })
					})
				}
			}
		case header.NDPOptionDNSSL:
			if d, ok := o.DNSSL(); ok {
				var names []string
				di := d.Domains()
				for {
					n, ok := di.Next()
					if !ok {
						break
					}
					names = append(names, string(n.AppendText(nil)))
				}
				life := d.Lifetime()
				if len(names) > 0 && di.Err() == nil {
					acts.add(func() {
						e.dispatch(func(x stack.NDPDispatcher) { x.OnDNSSearchListOption(e.nic.ID(), names, life) })
					})
				}
			}
		}
	}
	e.ndp.mu.Unlock()
	acts.run()
}

// updateDefaultRouterLocked applies the Router Lifetime of an
// advertisement (RFC 4861 §6.3.4): a new router with a non-zero lifetime
// joins the Default Router List, a known one has its timer reset, and a
// zero lifetime times it out at once. Each entry is a ::/0 route whose
// metric carries the router's preference (RFC 4191 §3.2), which is how
// the route table does default router selection (RFC 4861 §6.3.6: among
// the routers, the preferred one; RFC 4191 §3.2: then by preference).
func (e *endpoint) updateDefaultRouterLocked(router netip.Addr, life time.Duration, prf header.NDPRoutePreference, acts *actions) {
	r := e.ndp.routers[router]
	if life == 0 {
		if r != nil {
			e.removeRouterLocked(router, acts)
		}
		return
	}
	if r == nil {
		r = &ndpRouter{prf: prf}
		e.ndp.routers[router] = r
		acts.add(func() { e.addRARoute(defaultRoute, router, prf) })
	} else if r.prf != prf {
		old := r.prf
		r.prf = prf
		acts.add(func() {
			e.removeRARoute(defaultRoute, router, old)
			e.addRARoute(defaultRoute, router, prf)
		})
	} else {
		acts.add(func() {
			e.dispatch(func(x stack.NDPDispatcher) { x.OnOffLinkRouteUpdated(e.nic.ID(), defaultRoute, router, prf) })
		})
	}
	e.resetExpiry(&r.timer, life, func() { e.routerExpired(router, r) })
}

// routerExpired runs when a router's lifetime ends (RFC 4861 §6.3.5).
func (e *endpoint) routerExpired(router netip.Addr, r *ndpRouter) {
	var acts actions
	e.ndp.mu.Lock()
	if e.ndp.routers[router] == r {
		r.timer = nil
		e.removeRouterLocked(router, &acts)
	}
	e.ndp.mu.Unlock()
	acts.run()
}

// removeRouterLocked takes router out of the Default Router List.
func (e *endpoint) removeRouterLocked(router netip.Addr, acts *actions) {
	r := e.ndp.routers[router]
	if r == nil {
		return
	}
	delete(e.ndp.routers, router)
	if r.timer != nil {
		r.timer.Stop()
	}
	prf := r.prf
	acts.add(func() { e.removeRARoute(defaultRoute, router, prf) })
}

// routerFlagCleared is told that the neighbour at addr stopped being a
// router (RFC 4861 §7.2.5): it leaves the Default Router List.
func (e *endpoint) routerFlagCleared(addr netip.Addr) {
	var acts actions
	e.ndp.mu.Lock()
	e.removeRouterLocked(addr, &acts)
	e.ndp.mu.Unlock()
	acts.run()
}

// addRARoute installs a route through router and reports it.
func (e *endpoint) addRARoute(prefix netip.Prefix, router netip.Addr, prf header.NDPRoutePreference) {
	_ = e.p.s.AddRoute(tcpip.Route{Destination: prefix, Gateway: router, NIC: e.nic.ID(), Metric: prefMetric(prf)})
	e.dispatch(func(x stack.NDPDispatcher) { x.OnOffLinkRouteUpdated(e.nic.ID(), prefix, router, prf) })
}

// removeRARoute removes a route addRARoute installed and reports it.
func (e *endpoint) removeRARoute(prefix netip.Prefix, router netip.Addr, prf header.NDPRoutePreference) {
	id, metric := e.nic.ID(), prefMetric(prf)
	e.p.s.RemoveRoutes(func(r tcpip.Route) bool {
		return r.NIC == id && r.Destination == prefix && r.Gateway == router && r.Metric == metric
	})
	e.dispatch(func(x stack.NDPDispatcher) { x.OnOffLinkRouteInvalidated(e.nic.ID(), prefix, router) })
}

// updateRouteInfoLocked applies a Route Information option (RFC 4191
// §3.1): a route to prefix through router with the option's preference,
// removed when its lifetime ends or a zero lifetime arrives. A ::/0
// option updates the default router instead.
func (e *endpoint) updateRouteInfoLocked(prefix netip.Prefix, router netip.Addr, life time.Duration, prf header.NDPRoutePreference, acts *actions) {
	if !prefix.IsValid() || prefix.Addr().IsLinkLocalUnicast() || prefix.Addr().IsMulticast() {
		return
	}
	if prefix.Bits() == 0 {
		if e.ndp.cfg.DiscoverDefaultRouters {
			e.updateDefaultRouterLocked(router, life, prf, acts)
		}
		return
	}
	k := offLinkKey{prefix, router}
	r := e.ndp.offLink[k]
	if life == 0 {
		if r != nil {
			e.removeRouteInfoLocked(k, acts)
		}
		return
	}
	if r == nil {
		r = &ndpRouteInfo{prf: prf}
		e.ndp.offLink[k] = r
		acts.add(func() { e.addRARoute(prefix, router, prf) })
	} else if r.prf != prf {
		old := r.prf
		r.prf = prf
		acts.add(func() {
			e.removeRARoute(prefix, router, old)
			e.addRARoute(prefix, router, prf)
		})
	}
	e.resetExpiry(&r.timer, life, func() {
		var acts actions
		e.ndp.mu.Lock()
		if e.ndp.offLink[k] == r {
			r.timer = nil
			e.removeRouteInfoLocked(k, &acts)
		}
		e.ndp.mu.Unlock()
		acts.run()
	})
}

func (e *endpoint) removeRouteInfoLocked(k offLinkKey, acts *actions) {
	r := e.ndp.offLink[k]
	delete(e.ndp.offLink, k)
	if r.timer != nil {
		r.timer.Stop()
	}
	prf := r.prf
	acts.add(func() { e.removeRARoute(k.prefix, k.router, prf) })
}

// handlePrefixInfoLocked applies a Prefix Information option (RFC 4861
// §6.3.4 for the L flag, RFC 4862 §5.5.3 for the A flag).
func (e *endpoint) handlePrefixInfoLocked(pi header.NDPPrefixInformation, cfg *stack.NDPConfigurations, acts *actions) {
	prefix := pi.Prefix()
	// RFC 4861 §6.3.4: the link-local prefix is ignored.
	if !prefix.IsValid() || prefix.Addr().IsLinkLocalUnicast() || prefix.Addr().IsMulticast() {
		return
	}
	prefix = prefix.Masked()
	if pi.OnLink() && cfg.DiscoverOnLinkPrefixes {
		e.updateOnLinkLocked(prefix, pi.ValidLifetime(), acts)
	}
	if pi.Autonomous() && cfg.AutoGenGlobalAddresses {
		e.slaacPrefixLocked(prefix, pi.ValidLifetime(), pi.PreferredLifetime(), acts)
	}
}

// updateOnLinkLocked adds, refreshes or (zero valid lifetime) times out an
// on-link prefix: a route to it through the NIC (RFC 4861 §6.3.4).
func (e *endpoint) updateOnLinkLocked(prefix netip.Prefix, valid time.Duration, acts *actions) {
	p := e.ndp.onLink[prefix]
	if valid == 0 {
		if p != nil {
			e.removeOnLinkLocked(prefix, acts)
		}
		return
	}
	if p == nil {
		p = &ndpTimed{}
		e.ndp.onLink[prefix] = p
		acts.add(func() {
			_ = e.p.s.AddRoute(tcpip.Route{Destination: prefix, NIC: e.nic.ID(), Metric: raRouteMetric})
			e.dispatch(func(x stack.NDPDispatcher) { x.OnOnLinkPrefixDiscovered(e.nic.ID(), prefix) })
		})
	}
	e.resetExpiry(&p.timer, valid, func() {
		var acts actions
		e.ndp.mu.Lock()
		if e.ndp.onLink[prefix] == p {
			p.timer = nil
			e.removeOnLinkLocked(prefix, &acts)
		}
		e.ndp.mu.Unlock()
		acts.run()
	})
}

func (e *endpoint) removeOnLinkLocked(prefix netip.Prefix, acts *actions) {
	p := e.ndp.onLink[prefix]
	delete(e.ndp.onLink, prefix)
	if p.timer != nil {
		p.timer.Stop()
	}
	acts.add(func() {
		id := e.nic.ID()
		e.p.s.RemoveRoutes(func(r tcpip.Route) bool {
			return r.NIC == id && r.Destination == prefix && !r.Gateway.IsValid() && r.Metric == raRouteMetric
		})
		e.dispatch(func(x stack.NDPDispatcher) { x.OnOnLinkPrefixInvalidated(e.nic.ID(), prefix) })
	})
}

// handleRedirect applies a Redirect (RFC 4861 §8.3) after the checks of
// §8.1 the header ones left: the source is the first-hop router we use
// for the destination, and the target is link-local (a better router) or
// the destination itself (it is on-link). The destination then gets a
// host route through the target.
func (e *endpoint) handleRedirect(rd header.NDPRedirect, info stack.NetworkPacketInfo) {
	st := &e.p.stats.ICMPv6
	dst, target := rd.DestinationAddress(), rd.TargetAddress()
	if e.p.s.Forwarding(tcpip.IPv6ProtocolNumber) {
		// RFC 4861 §8: routers do not act on redirects.
		return
	}
	if !target.IsLinkLocalUnicast() && target != dst {
		st.Malformed.Inc()
		return
	}
	r, err := e.p.s.FindRoute(e.nic.ID(), netip.Addr{}, dst, tcpip.IPv6ProtocolNumber, false)
	if err != nil {
		return
	}
	if r.NextHop != info.Source {
		// RFC 4861 §8.1: "the IP source address of the Redirect is
		// the same as the current first-hop router".
		st.Malformed.Inc()
		return
	}
	if tll, ok := linkAddrOption(rd.Options(), header.NDPOptionTargetLinkLayerAddress); ok && tll.IsUnicast() {
		// RFC 4861 §8.3: the target's link-layer address updates its
		// entry (STALE).
		if c := e.nic.Neighbors(tcpip.IPv6ProtocolNumber); c != nil {
			c.HandleProbe(target, tll)
		}
	}
	host := netip.PrefixFrom(dst, 128)
	id := e.nic.ID()
	e.p.s.RemoveRoutes(func(r tcpip.Route) bool {
		return r.NIC == id && r.Destination == host && r.Metric == redirectRouteMetric
	})
	route := tcpip.Route{Destination: host, NIC: id, Metric: redirectRouteMetric}
	if target != dst {
		route.Gateway = target
	}
	_ = e.p.s.AddRoute(route)
}

// stopNDPTimers stops every timer of the NDP state (the NIC is closing);
// what the timers would have removed stays until the stack removes it.
func (e *endpoint) stopNDPTimers() {
	e.stopDADTimers()
	e.ndp.mu.Lock()
	defer e.ndp.mu.Unlock()
	e.stopRouterSolicitationLocked()
	for _, r := range e.ndp.routers {
		if r.timer != nil {
			r.timer.Stop()
		}
	}
	for _, p := range e.ndp.onLink {
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	for _, r := range e.ndp.offLink {
		if r.timer != nil {
			r.timer.Stop()
		}
	}
	for _, s := range e.ndp.slaac {
		s.stopTimers()
	}
	e.stopAdvertisingLocked()
}
