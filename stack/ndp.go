package stack

import (
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// Defaults of the NDP configuration (RFC 4861 §6.2.1, §10, RFC 4862 §5.1,
// RFC 8981 §3.8).
const (
	DefaultDupAddrDetectTransmits     = 1
	DefaultNDPRetransmitTimer         = time.Second
	DefaultMaxRtrSolicitations        = 3
	DefaultRtrSolicitationInterval    = 4 * time.Second
	DefaultMaxRtrSolicitationDelay    = time.Second
	DefaultMaxTempAddrValidLifetime   = 7 * 24 * time.Hour
	DefaultMaxTempAddrPreferredLife   = 24 * time.Hour
	DefaultRegenAdvanceDuration       = 5 * time.Second
	DefaultTempIdgenRetries           = 3
	DefaultMaxRtrAdvInterval          = 600 * time.Second
	DefaultAdvValidLifetime           = 30 * 24 * time.Hour
	DefaultAdvPreferredLifetime       = 7 * 24 * time.Hour
	minRtrAdvIntervalFloor            = 3 * time.Second
	maxRtrAdvIntervalFloor            = 4 * time.Second
	maxRtrAdvIntervalCeiling          = 1800 * time.Second
	minimumNDPRetransmitTimer         = time.Millisecond
	minimumRtrSolicitationInterval    = 500 * time.Millisecond
	defaultAutoGenAddrConflictRetries = 3
)

// HandleRAsMode says when a NIC processes Router Advertisements.
type HandleRAsMode int

// Router Advertisement handling modes (Linux's accept_ra 0, 1, 2).
const (
	// HandleRAsWhenForwardingDisabled: only as a host (the default; RFC
	// 4861 §6.2.1 has routers ignore the parameters of other routers).
	HandleRAsWhenForwardingDisabled HandleRAsMode = iota
	// HandleRAsDisabled: never.
	HandleRAsDisabled
	// HandleRAsAlwaysEnabled: even when forwarding is on.
	HandleRAsAlwaysEnabled
)

// NDPAdvertisedPrefix is a prefix a router advertises in its Prefix
// Information options (RFC 4861 §6.2.1 AdvPrefixList).
type NDPAdvertisedPrefix struct {
	Prefix netip.Prefix
	// OnLink and Autonomous are the L and A flags.
	OnLink     bool
	Autonomous bool
	// ValidLifetime and PreferredLifetime: zero means the RFC 4861
	// §6.2.1 defaults (30 days, 7 days); header.NDPInfiniteLifetime is
	// infinity.
	ValidLifetime     time.Duration
	PreferredLifetime time.Duration
}

// NDPConfigurations are the Neighbor Discovery and address
// autoconfiguration settings of a NIC. Start from
// DefaultNDPConfigurations; Validated replaces invalid values by their
// defaults.
type NDPConfigurations struct {
	// DupAddrDetectTransmits is the number of Neighbor Solicitations
	// sent for duplicate address detection (RFC 4862 §5.1); 0 turns DAD
	// off and addresses are usable at once.
	DupAddrDetectTransmits uint8
	// RetransmitTimer spaces the DAD solicitations (RFC 4861 §10
	// RETRANS_TIMER); a Router Advertisement may change it.
	RetransmitTimer time.Duration

	// MaxRtrSolicitations is the number of Router Solicitations a host
	// sends when its NIC comes up (RFC 4861 §10 MAX_RTR_SOLICITATIONS),
	// RtrSolicitationInterval their spacing and MaxRtrSolicitationDelay
	// the bound of the random delay before the first.
	MaxRtrSolicitations     uint8
	RtrSolicitationInterval time.Duration
	MaxRtrSolicitationDelay time.Duration

	// HandleRAs says when Router Advertisements are processed; the
	// three Discover/AutoGen switches choose what they configure.
	HandleRAs              HandleRAsMode
	DiscoverDefaultRouters bool
	DiscoverOnLinkPrefixes bool
	// DiscoverMoreSpecificRoutes processes Route Information options
	// (RFC 4191 §3.1, Linux's accept_ra_rt_info_max_plen 64).
	DiscoverMoreSpecificRoutes bool
	// AutoGenGlobalAddresses forms addresses from prefixes with the A
	// flag (RFC 4862 §5.5.3).
	AutoGenGlobalAddresses bool
	// AutoGenAddressConflictRetries is the number of new opaque
	// addresses tried after DAD failures (RFC 7217 §6 IDGEN_RETRIES).
	AutoGenAddressConflictRetries uint8

	// AutoGenTempGlobalAddresses also forms temporary addresses (RFC
	// 8981), with the lifetimes bounded by MaxTempAddrValidLifetime and
	// MaxTempAddrPreferredLifetime (TEMP_VALID_LIFETIME,
	// TEMP_PREFERRED_LIFETIME), regenerated RegenAdvanceDuration
	// before they are deprecated, and TempIdgenRetries attempts after
	// DAD failures.
	AutoGenTempGlobalAddresses   bool
	MaxTempAddrValidLifetime     time.Duration
	MaxTempAddrPreferredLifetime time.Duration
	RegenAdvanceDuration         time.Duration
	TempIdgenRetries             uint8

	// SendRouterAdvertisements makes a NIC of a stack that forwards IPv6
	// a router that advertises (RFC 4861 §6.2.1 AdvSendAdvertisements),
	// from when the NIC is up and forwarding on, in either order:
	// periodic unsolicited advertisements at a random interval in
	// [MinRtrAdvInterval, MaxRtrAdvInterval] and answers to
	// solicitations. The Adv* fields are the advertised values.
	SendRouterAdvertisements bool
	MinRtrAdvInterval        time.Duration
	MaxRtrAdvInterval        time.Duration
	AdvManagedFlag           bool
	AdvOtherConfigFlag       bool
	// AdvLinkMTU, if not 0, is sent in an MTU option.
	AdvLinkMTU uint32
	// AdvCurHopLimit (0: unspecified), AdvReachableTime and
	// AdvRetransTimer (0: unspecified).
	AdvCurHopLimit   uint8
	AdvReachableTime time.Duration
	AdvRetransTimer  time.Duration
	// AdvDefaultLifetime is the Router Lifetime: zero means 3 ×
	// MaxRtrAdvInterval; a negative value advertises 0 (not a default
	// router).
	AdvDefaultLifetime       time.Duration
	AdvDefaultPreference     header.NDPRoutePreference
	AdvPrefixes              []NDPAdvertisedPrefix
	AdvRecursiveDNSServers   []netip.Addr
	AdvRecursiveDNSLifetime  time.Duration
	AdvDNSSearchList         []string
	AdvDNSSearchListLifetime time.Duration
}

// DefaultNDPConfigurations returns the defaults of RFC 4861 §10 and RFC
// 4862: one DAD probe a second apart, three router solicitations, routers,
// prefixes and SLAAC addresses learnt from advertisements, no temporary
// addresses, no advertising.
func DefaultNDPConfigurations() NDPConfigurations {
	return NDPConfigurations{
		DupAddrDetectTransmits:        DefaultDupAddrDetectTransmits,
		RetransmitTimer:               DefaultNDPRetransmitTimer,
		MaxRtrSolicitations:           DefaultMaxRtrSolicitations,
		RtrSolicitationInterval:       DefaultRtrSolicitationInterval,
		MaxRtrSolicitationDelay:       DefaultMaxRtrSolicitationDelay,
		DiscoverDefaultRouters:        true,
		DiscoverOnLinkPrefixes:        true,
		DiscoverMoreSpecificRoutes:    true,
		AutoGenGlobalAddresses:        true,
		AutoGenAddressConflictRetries: defaultAutoGenAddrConflictRetries,
		MaxTempAddrValidLifetime:      DefaultMaxTempAddrValidLifetime,
		MaxTempAddrPreferredLifetime:  DefaultMaxTempAddrPreferredLife,
		RegenAdvanceDuration:          DefaultRegenAdvanceDuration,
		TempIdgenRetries:              DefaultTempIdgenRetries,
		MaxRtrAdvInterval:             DefaultMaxRtrAdvInterval,
	}
}

// Validated returns c with invalid values replaced by their defaults.
func (c NDPConfigurations) Validated() NDPConfigurations {
	d := DefaultNDPConfigurations()
	if c.RetransmitTimer < minimumNDPRetransmitTimer {
		c.RetransmitTimer = d.RetransmitTimer
	}
	if c.RtrSolicitationInterval < minimumRtrSolicitationInterval {
		c.RtrSolicitationInterval = d.RtrSolicitationInterval
	}
	if c.MaxRtrSolicitationDelay < 0 {
		c.MaxRtrSolicitationDelay = d.MaxRtrSolicitationDelay
	}
	if c.HandleRAs < HandleRAsWhenForwardingDisabled || c.HandleRAs > HandleRAsAlwaysEnabled {
		c.HandleRAs = d.HandleRAs
	}
	if c.MaxTempAddrValidLifetime <= 0 {
		c.MaxTempAddrValidLifetime = d.MaxTempAddrValidLifetime
	}
	if c.MaxTempAddrPreferredLifetime <= 0 || c.MaxTempAddrPreferredLifetime > c.MaxTempAddrValidLifetime {
		c.MaxTempAddrPreferredLifetime = min(d.MaxTempAddrPreferredLifetime, c.MaxTempAddrValidLifetime)
	}
	if c.RegenAdvanceDuration < 0 {
		c.RegenAdvanceDuration = d.RegenAdvanceDuration
	}
	// RFC 4861 §6.2.1: MaxRtrAdvInterval in [4 s, 1800 s];
	// MinRtrAdvInterval in [3 s, 0.75 × MaxRtrAdvInterval], 0.33 ×
	// MaxRtrAdvInterval by default.
	if c.MaxRtrAdvInterval < maxRtrAdvIntervalFloor || c.MaxRtrAdvInterval > maxRtrAdvIntervalCeiling {
		c.MaxRtrAdvInterval = d.MaxRtrAdvInterval
	}
	if c.MinRtrAdvInterval < minRtrAdvIntervalFloor || c.MinRtrAdvInterval > c.MaxRtrAdvInterval*3/4 {
		c.MinRtrAdvInterval = max(minRtrAdvIntervalFloor, c.MaxRtrAdvInterval/3)
	}
	if c.AdvDefaultPreference == header.NDPPreferenceReserved {
		c.AdvDefaultPreference = header.NDPPreferenceMedium
	}
	prefixes := make([]NDPAdvertisedPrefix, 0, len(c.AdvPrefixes))
	for _, p := range c.AdvPrefixes {
		if !p.Prefix.IsValid() || !p.Prefix.Addr().Is6() || p.Prefix.Addr().Is4In6() {
			continue
		}
		p.Prefix = p.Prefix.Masked()
		if p.ValidLifetime == 0 {
			p.ValidLifetime = DefaultAdvValidLifetime
		}
		if p.PreferredLifetime == 0 {
			p.PreferredLifetime = DefaultAdvPreferredLifetime
		}
		// RFC 4861 §6.2.1: the preferred lifetime does not exceed
		// the valid one.
		p.PreferredLifetime = min(p.PreferredLifetime, p.ValidLifetime)
		prefixes = append(prefixes, p)
	}
	c.AdvPrefixes = prefixes
	return c
}

// DADResult is the outcome of duplicate address detection.
type DADResult int

// DAD outcomes.
const (
	// DADSucceeded: no other node answered; the address is preferred.
	DADSucceeded DADResult = iota
	// DADDuplicateAddress: another node uses the address; it was
	// removed (RFC 4862 §5.4.5).
	DADDuplicateAddress
	// DADAborted: the address was removed, or the NIC disabled, before
	// DAD ended.
	DADAborted
)

// String returns the name of the result.
func (r DADResult) String() string {
	switch r {
	case DADSucceeded:
		return "succeeded"
	case DADDuplicateAddress:
		return "duplicate"
	case DADAborted:
		return "aborted"
	}
	return "unknown"
}

// DHCPv6ConfigurationFromNDPRA is what a Router Advertisement's M and O
// flags say about DHCPv6 (RFC 4861 §4.2).
type DHCPv6ConfigurationFromNDPRA int

// DHCPv6 configurations.
const (
	// DHCPv6NoConfiguration: neither flag.
	DHCPv6NoConfiguration DHCPv6ConfigurationFromNDPRA = iota
	// DHCPv6ManagedAddress: M, addresses (and other settings) from
	// DHCPv6.
	DHCPv6ManagedAddress
	// DHCPv6OtherConfigurations: O only, other settings from DHCPv6.
	DHCPv6OtherConfigurations
)

// NDPDispatcher receives the events of Neighbor Discovery and address
// autoconfiguration. Its methods are called without stack locks held, on
// the goroutine that processed the packet or ran the timer; they must not
// block.
type NDPDispatcher interface {
	// OnDuplicateAddressDetectionResult: DAD of addr ended.
	OnDuplicateAddressDetectionResult(nic tcpip.NICID, addr netip.Addr, res DADResult)
	// OnOffLinkRouteUpdated: a route through router was learnt or
	// refreshed (::/0 for a default router, RFC 4861 §6.3.4; a Route
	// Information prefix, RFC 4191 §3.1).
	OnOffLinkRouteUpdated(nic tcpip.NICID, prefix netip.Prefix, router netip.Addr, prf header.NDPRoutePreference)
	// OnOffLinkRouteInvalidated: that route expired or was withdrawn.
	OnOffLinkRouteInvalidated(nic tcpip.NICID, prefix netip.Prefix, router netip.Addr)
	// OnOnLinkPrefixDiscovered and OnOnLinkPrefixInvalidated: an
	// on-link prefix (RFC 4861 §6.3.4) appeared or expired.
	OnOnLinkPrefixDiscovered(nic tcpip.NICID, prefix netip.Prefix)
	OnOnLinkPrefixInvalidated(nic tcpip.NICID, prefix netip.Prefix)
	// OnAutoGenAddress: SLAAC added addr (tentative until DAD ends).
	OnAutoGenAddress(nic tcpip.NICID, addr netip.Prefix)
	// OnAutoGenAddressDeprecated: its preferred lifetime ended.
	OnAutoGenAddressDeprecated(nic tcpip.NICID, addr netip.Prefix)
	// OnAutoGenAddressInvalidated: its valid lifetime ended, or DAD
	// failed; it was removed.
	OnAutoGenAddressInvalidated(nic tcpip.NICID, addr netip.Prefix)
	// OnRecursiveDNSServerOption: an RDNSS option (RFC 8106 §5.1).
	OnRecursiveDNSServerOption(nic tcpip.NICID, addrs []netip.Addr, lifetime time.Duration)
	// OnDNSSearchListOption: a DNSSL option (RFC 8106 §5.2).
	OnDNSSearchListOption(nic tcpip.NICID, domains []string, lifetime time.Duration)
	// OnDHCPv6Configuration: the M and O flags of an advertisement
	// changed what DHCPv6 should provide.
	OnDHCPv6Configuration(nic tcpip.NICID, cfg DHCPv6ConfigurationFromNDPRA)
}

// OpaqueInterfaceIdentifierOptions select RFC 7217 opaque interface
// identifiers for the addresses a stack forms (link-local and SLAAC)
// instead of EUI-64 ones.
type OpaqueInterfaceIdentifierOptions struct {
	// NICNameFromID returns the stable name of a NIC (RFC 7217 §5
	// Net_Iface); nil keeps EUI-64 identifiers.
	NICNameFromID func(id tcpip.NICID, name string) string
	// SecretKey is the secret of RFC 7217 §5 (at least 128 bits
	// recommended); nil means an all-zero key.
	SecretKey []byte
}

// NDPEndpoint is implemented by the IPv6 network endpoint of a NIC: the
// Stack forwards the NDP calls below to it.
type NDPEndpoint interface {
	// SetNDPConfigurations replaces the NIC's configuration (already
	// validated).
	SetNDPConfigurations(c NDPConfigurations)
	// HandleNDPRA processes a Router Advertisement body from router.
	HandleNDPRA(router netip.Addr, ra header.NDPRouterAdvert)
	// DupTentativeAddrDetected ends DAD of addr as a duplicate.
	DupTentativeAddrDetected(addr netip.Addr) error
}

// NDPConfigs returns the NDP configuration new NICs start with.
func (s *Stack) NDPConfigs() NDPConfigurations { return s.ndpConfigs }

// NDPDisp returns the stack's NDP dispatcher, or nil.
func (s *Stack) NDPDisp() NDPDispatcher { return s.ndpDisp }

// OpaqueIIDOpts returns the stack's opaque interface identifier options.
func (s *Stack) OpaqueIIDOpts() OpaqueInterfaceIdentifierOptions { return s.opaqueIID }

// ndpEndpoint returns the NDP endpoint of NIC id.
func (s *Stack) ndpEndpoint(id tcpip.NICID) (NDPEndpoint, error) {
	n, err := s.nic(id)
	if err != nil {
		return nil, err
	}
	ep, ok := n.networkEndpoints[tcpip.IPv6ProtocolNumber].(NDPEndpoint)
	if !ok {
		return nil, tcpip.ErrNotSupported
	}
	return ep, nil
}

// SetNDPConfigurations replaces the NDP configuration of NIC id; invalid
// values fall back to their defaults. Router advertising starts or stops
// according to the new configuration and the stack's IPv6 forwarding.
func (s *Stack) SetNDPConfigurations(id tcpip.NICID, c NDPConfigurations) error {
	ep, err := s.ndpEndpoint(id)
	if err != nil {
		return err
	}
	ep.SetNDPConfigurations(c.Validated())
	return nil
}

// HandleNDPRA processes a Router Advertisement (its ICMPv6 body) from
// router as if it had arrived on NIC id.
func (s *Stack) HandleNDPRA(id tcpip.NICID, router netip.Addr, ra header.NDPRouterAdvert) error {
	ep, err := s.ndpEndpoint(id)
	if err != nil {
		return err
	}
	if len(ra) < header.NDPRouterAdvertMinimumSize || !router.IsLinkLocalUnicast() {
		return tcpip.ErrInvalidArgument
	}
	ep.HandleNDPRA(router, ra)
	return nil
}

// IsAddrTentative reports whether addr is an address of NIC id whose
// duplicate address detection has not ended.
func (s *Stack) IsAddrTentative(id tcpip.NICID, addr netip.Addr) (bool, error) {
	n, err := s.nic(id)
	if err != nil {
		return false, err
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	i := n.addrs.find(addr)
	if i < 0 {
		return false, tcpip.ErrAddressNotFound
	}
	return n.addrs.addrs[i].Properties.Tentative, nil
}

// DupTentativeAddrDetected ends DAD of the tentative address addr of NIC
// id as a duplicate (as if a conflicting advertisement had arrived): the
// address is removed and the dispatcher told.
func (s *Stack) DupTentativeAddrDetected(id tcpip.NICID, addr netip.Addr) error {
	ep, err := s.ndpEndpoint(id)
	if err != nil {
		return err
	}
	return ep.DupTentativeAddrDetected(addr)
}
