package serve

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// ndpConfigurations returns the NDP configuration of the NIC: the zero
// one (addresses usable at once, no router discovery) unless --slaac
// makes ustack an autoconfiguring host or --router-advert an advertising
// router.
func (cfg *Config) ndpConfigurations() stack.NDPConfigurations {
	switch {
	case cfg.SLAAC:
		// RFC 4861 §10 and RFC 4862 defaults: one DAD probe, three
		// solicitations, routers, prefixes and addresses learnt.
		c := stack.DefaultNDPConfigurations()
		c.AutoGenTempGlobalAddresses = cfg.TempAddr
		return c
	case len(cfg.RouterAdvert) > 0:
		c := stack.DefaultNDPConfigurations()
		// The --addr addresses are assigned at once (as with ip
		// address add … nodad), so that the services can bind them.
		c.DupAddrDetectTransmits = 0
		c.SendRouterAdvertisements = true
		if cfg.RAInterval != 0 {
			c.MaxRtrAdvInterval = cfg.RAInterval
		}
		for _, p := range cfg.RouterAdvert {
			c.AdvPrefixes = append(c.AdvPrefixes, stack.NDPAdvertisedPrefix{Prefix: p, OnLink: true, Autonomous: p.Bits() == 64})
		}
		return c
	}
	return stack.NDPConfigurations{}
}

// opaqueIIDOptions returns the RFC 7217 options of --stable-privacy: the
// TAP device's name is the stable interface name (RFC 7217 §5 Net_Iface).
func (cfg *Config) opaqueIIDOptions() stack.OpaqueInterfaceIdentifierOptions {
	if cfg.StablePrivacyKey == "" {
		return stack.OpaqueInterfaceIdentifierOptions{}
	}
	name := cfg.TAP
	return stack.OpaqueInterfaceIdentifierOptions{
		NICNameFromID: func(tcpip.NICID, string) string { return name },
		SecretKey:     []byte(cfg.StablePrivacyKey),
	}
}

// ndpLogger logs the NDP and autoconfiguration events.
type ndpLogger struct{ l *slog.Logger }

var _ stack.NDPDispatcher = ndpLogger{}

func (d ndpLogger) OnDuplicateAddressDetectionResult(_ tcpip.NICID, a netip.Addr, r stack.DADResult) {
	if r == stack.DADDuplicateAddress {
		d.l.Warn("duplicate address detected", "addr", a.String())
		return
	}
	d.l.Info("duplicate address detection", "addr", a.String(), "result", r.String())
}

func (d ndpLogger) OnOffLinkRouteUpdated(_ tcpip.NICID, p netip.Prefix, router netip.Addr, prf header.NDPRoutePreference) {
	d.l.Info("route from router advertisement", "prefix", p.String(), "via", router.String(), "preference", prf.String())
}

func (d ndpLogger) OnOffLinkRouteInvalidated(_ tcpip.NICID, p netip.Prefix, router netip.Addr) {
	d.l.Info("route expired", "prefix", p.String(), "via", router.String())
}

func (d ndpLogger) OnOnLinkPrefixDiscovered(_ tcpip.NICID, p netip.Prefix) {
	d.l.Info("on-link prefix", "prefix", p.String())
}

func (d ndpLogger) OnOnLinkPrefixInvalidated(_ tcpip.NICID, p netip.Prefix) {
	d.l.Info("on-link prefix expired", "prefix", p.String())
}

func (d ndpLogger) OnAutoGenAddress(_ tcpip.NICID, a netip.Prefix) {
	d.l.Info("SLAAC address", "addr", a.String())
}

func (d ndpLogger) OnAutoGenAddressDeprecated(_ tcpip.NICID, a netip.Prefix) {
	d.l.Info("SLAAC address deprecated", "addr", a.String())
}

func (d ndpLogger) OnAutoGenAddressInvalidated(_ tcpip.NICID, a netip.Prefix) {
	d.l.Info("SLAAC address removed", "addr", a.String())
}

func (d ndpLogger) OnRecursiveDNSServerOption(_ tcpip.NICID, addrs []netip.Addr, life time.Duration) {
	d.l.Info("DNS servers from router advertisement", "servers", addrs, "lifetime", life)
}

func (d ndpLogger) OnDNSSearchListOption(_ tcpip.NICID, domains []string, life time.Duration) {
	d.l.Info("DNS search list from router advertisement", "domains", domains, "lifetime", life)
}

func (d ndpLogger) OnDHCPv6Configuration(_ tcpip.NICID, c stack.DHCPv6ConfigurationFromNDPRA) {
	d.l.Info("router advertisement DHCPv6 flags", "configuration", int(c))
}
