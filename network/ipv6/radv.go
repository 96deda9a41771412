package ipv6

import (
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Router constants of RFC 4861 §10.
const (
	maxInitialRtrAdvertisements   = 3
	maxInitialRtrAdvertInterval   = 16 * time.Second
	minDelayBetweenRAs            = 3 * time.Second
	maxRADelayTime                = 500 * time.Millisecond
	defaultAdvRDNSSLifetimeFactor = 3 // RFC 8106 §5.1: at least MaxRtrAdvInterval; Linux radvd uses 3×
)

// advertiser is the router side of Router Discovery on one NIC (RFC 4861
// §6.2): periodic unsolicited advertisements and answers to
// solicitations. It is part of ndpState, guarded by its mu.
type advertiser struct {
	on       bool
	timer    tcpip.Timer
	initial  int // unsolicited advertisements sent so far, up to maxInitialRtrAdvertisements
	lastSent tcpip.MonotonicTime
	sentOnce bool
	// solicited is set while an answer to a solicitation is scheduled.
	solicited bool
}

// advertising reports whether the NIC should act as an advertising
// router: forwarding on, the configuration asks for it, and the NIC is up
// with a link to advertise on (RFC 4861 §6.2.2).
func (e *endpoint) advertisingWanted(cfg *stack.NDPConfigurations) bool {
	return cfg.SendRouterAdvertisements && e.p.s.Forwarding(tcpip.IPv6ProtocolNumber) &&
		e.enabled.Load() && e.neighborDiscoveryLink()
}

// updateAdvertising starts or stops advertising as the configuration,
// forwarding and the NIC's state say.
func (e *endpoint) updateAdvertising() {
	var final *stack.NDPConfigurations
	defer func() {
		if final != nil {
			e.sendRouterAdvert(final)
		}
	}()
	e.ndp.mu.Lock()
	defer e.ndp.mu.Unlock()
	want := e.advertisingWanted(&e.ndp.cfg)
	switch {
	case want && !e.ndp.adv.on:
		// RFC 4861 §6.2.2: the first advertisements go out soon
		// (within MAX_INITIAL_RTR_ADVERT_INTERVAL); routers also stop
		// soliciting.
		e.stopRouterSolicitationLocked()
		e.ndp.adv = advertiser{on: true}
		ref := new(timerRef)
		ref.t = e.p.s.Clock().AfterFunc(e.randDuration(maxRADelayTime), func() { e.advTimer(ref) })
		e.ndp.adv.timer = ref.t
	case !want && e.ndp.adv.on:
		e.stopAdvertisingLocked()
		if e.enabled.Load() {
			// RFC 4861 §6.2.5: a router that stops advertising on
			// an interface that stays up sends a final
			// advertisement with a zero Router Lifetime, so that
			// hosts drop it from their default router lists.
			c := e.ndp.cfg
			c.AdvDefaultLifetime = -1
			final = &c
		}
	}
}

// stopAdvertisingLocked stops advertising (the final advertisement of
// RFC 4861 §6.2.5 is updateAdvertising's).
func (e *endpoint) stopAdvertisingLocked() {
	if e.ndp.adv.timer != nil {
		e.ndp.adv.timer.Stop()
	}
	e.ndp.adv = advertiser{}
}

// advTimer sends an unsolicited (or a delayed solicited) advertisement and
// schedules the next: a random interval in [MinRtrAdvInterval,
// MaxRtrAdvInterval] (RFC 4861 §6.2.4), capped at
// MAX_INITIAL_RTR_ADVERT_INTERVAL for the first few.
func (e *endpoint) advTimer(ref *timerRef) {
	e.ndp.mu.Lock()
	t := ref.t
	a := &e.ndp.adv
	if !a.on || a.timer != t {
		e.ndp.mu.Unlock()
		return
	}
	if !e.advertisingWanted(&e.ndp.cfg) {
		e.stopAdvertisingLocked()
		e.ndp.mu.Unlock()
		return
	}
	cfg := e.ndp.cfg
	if !e.usableLinkLocal().IsValid() {
		// RFC 4861 §4.2: advertisements come from a link-local
		// address; try again once its DAD may have ended.
		t.Reset(cfg.RetransmitTimer)
		e.ndp.mu.Unlock()
		return
	}
	a.solicited = false
	a.initial++
	a.lastSent, a.sentOnce = e.p.s.Clock().NowMonotonic(), true
	next := cfg.MinRtrAdvInterval + e.randDuration(cfg.MaxRtrAdvInterval-cfg.MinRtrAdvInterval)
	if a.initial < maxInitialRtrAdvertisements {
		next = min(next, maxInitialRtrAdvertInterval)
	}
	t.Reset(next)
	e.ndp.mu.Unlock()
	e.sendRouterAdvert(&cfg)
}

// answerRouterSolicit schedules the answer to a solicitation (RFC 4861
// §6.2.6): a multicast advertisement after a random delay up to
// MAX_RA_DELAY_TIME, no sooner than MIN_DELAY_BETWEEN_RAS after the last
// one; solicitations arriving meanwhile share it.
func (e *endpoint) answerRouterSolicit() {
	e.ndp.mu.Lock()
	defer e.ndp.mu.Unlock()
	a := &e.ndp.adv
	if !a.on || a.solicited {
		return
	}
	delay := e.randDuration(maxRADelayTime)
	if a.sentOnce {
		if wait := a.lastSent.Add(minDelayBetweenRAs).Sub(e.p.s.Clock().NowMonotonic()); wait > delay {
			delay = wait
		}
	}
	a.solicited = true
	// The answer replaces the next unsolicited one if it comes sooner;
	// advTimer then schedules the next periodic one.
	a.initial--
	a.timer.Reset(delay)
}

// sendRouterAdvert sends a Router Advertisement to all-nodes (RFC 4861
// §6.2.3) with the configured parameters, our link-layer address, the
// MTU, the advertised prefixes and DNS options (RFC 8106 §5). It needs a
// usable link-local source (§4.2).
func (e *endpoint) sendRouterAdvert(cfg *stack.NDPConfigurations) {
	src := e.usableLinkLocal()
	if !src.IsValid() {
		return
	}
	life := cfg.AdvDefaultLifetime
	switch {
	case life == 0:
		// RFC 4861 §6.2.1: AdvDefaultLifetime defaults to 3 ×
		// MaxRtrAdvInterval.
		life = 3 * cfg.MaxRtrAdvInterval
	case life < 0:
		life = 0
	}
	ra := header.NDPRouterAdvertFields{
		CurHopLimit:      cfg.AdvCurHopLimit,
		Managed:          cfg.AdvManagedFlag,
		Other:            cfg.AdvOtherConfigFlag,
		RouterPreference: cfg.AdvDefaultPreference,
		RouterLifetime:   min(life, 9000*time.Second),
		ReachableTime:    cfg.AdvReachableTime,
		RetransTimer:     cfg.AdvRetransTimer,
	}
	if life == 0 {
		// RFC 4191 §2.2: the preference is Medium when the lifetime
		// is zero.
		ra.RouterPreference = header.NDPPreferenceMedium
	}
	type opt interface {
		Size() int
		Encode([]byte) header.NDPOption
	}
	opts := []opt{&header.NDPLinkLayerAddressFields{Type: header.NDPOptionSourceLinkLayerAddress, Address: e.nic.LinkAddress()}}
	if cfg.AdvLinkMTU != 0 {
		opts = append(opts, &header.NDPMTUFields{MTU: cfg.AdvLinkMTU})
	}
	for _, p := range cfg.AdvPrefixes {
		opts = append(opts, &header.NDPPrefixInformationFields{
			Prefix:            p.Prefix,
			OnLink:            p.OnLink,
			Autonomous:        p.Autonomous,
			ValidLifetime:     p.ValidLifetime,
			PreferredLifetime: p.PreferredLifetime,
		})
	}
	if len(cfg.AdvRecursiveDNSServers) > 0 {
		l := cfg.AdvRecursiveDNSLifetime
		if l == 0 {
			l = defaultAdvRDNSSLifetimeFactor * cfg.MaxRtrAdvInterval
		}
		opts = append(opts, &header.NDPRDNSSFields{Lifetime: l, Addresses: cfg.AdvRecursiveDNSServers})
	}
	if len(cfg.AdvDNSSearchList) > 0 {
		l := cfg.AdvDNSSearchListLifetime
		if l == 0 {
			l = defaultAdvRDNSSLifetimeFactor * cfg.MaxRtrAdvInterval
		}
		opts = append(opts, &header.NDPDNSSLFields{Lifetime: l, Domains: cfg.AdvDNSSearchList})
	}
	size := header.ICMPv6HeaderSize + header.NDPRouterAdvertMinimumSize
	for _, o := range opts {
		size += o.Size()
	}
	msg := make([]byte, size)
	(&header.ICMPv6Fields{Type: header.ICMPv6RouterAdvert}).Encode(msg)
	ra.Encode(msg[header.ICMPv6HeaderSize:])
	off := header.ICMPv6HeaderSize + header.NDPRouterAdvertMinimumSize
	for _, o := range opts {
		o.Encode(msg[off:])
		off += o.Size()
	}
	if e.sendNDP(src, header.IPv6AllNodesMulticastAddr, tcpip.LinkAddress{}, msg) == nil {
		e.p.stats.ICMPv6.Sent.RouterAdvert.Inc()
	}
}

// ForwardingChanged implements stack.ForwardingObserver: a NIC becoming
// a router stops soliciting (RFC 4861 §6.2: hosts solicit) and starts
// advertising if configured to; one becoming a host stops advertising,
// with a final zero-lifetime advertisement (RFC 4861 §6.2.5).
func (e *endpoint) ForwardingChanged(on bool) {
	if on {
		e.ndp.mu.Lock()
		e.stopRouterSolicitationLocked()
		e.ndp.mu.Unlock()
	}
	e.updateAdvertising()
}
