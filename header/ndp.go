package header

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// Views of the Neighbor Discovery messages of RFC 4861 §4. Each view is
// over the ICMPv6 message body (ICMPv6.MessageBody: the message after type,
// code and checksum) and spans the options that follow the fixed part.
// A message is built in two steps: ICMPv6Fields.Encode writes type, code
// and checksum, then the message's Fields.Encode writes the fixed part of
// the body, and the option encoders fill Options.
//
// The Parse functions check that the body holds the fixed part
// (ErrTruncated) and that the options are well formed (ErrBadOption, see
// ParseNDPOptions): RFC 4861 §6.1 and §7.1 have receivers silently discard
// a message that fails either check. The other validity checks of those
// sections (hop limit 255, code 0, source and target addresses) need the IP
// header and are the protocol's.

// Sizes of the fixed parts of the NDP message bodies (after the 4-byte
// ICMPv6 header).
const (
	NDPRouterSolicitMinimumSize   = 4  // RFC 4861 §4.1: reserved
	NDPRouterAdvertMinimumSize    = 12 // RFC 4861 §4.2
	NDPNeighborSolicitMinimumSize = 20 // RFC 4861 §4.3: reserved, target
	NDPNeighborAdvertMinimumSize  = 20 // RFC 4861 §4.4: flags, target
	NDPRedirectMinimumSize        = 36 // RFC 4861 §4.5: reserved, target, destination
)

// ndpParse checks that b holds a fixed part of min bytes followed by well
// formed options.
func ndpParse(b []byte, min int) error {
	if len(b) < min {
		return ErrTruncated
	}
	_, err := ParseNDPOptions(b[min:])
	return err
}

// ndpAddr reads the IPv6 address at off.
func ndpAddr(b []byte, off int) netip.Addr {
	return netip.AddrFrom16([16]byte(b[off : off+16]))
}

// ndpPutAddr writes a at off (zeros for the zero Addr).
func ndpPutAddr(b []byte, off int, a netip.Addr) {
	a16 := a.As16()
	copy(b[off:off+16], a16[:])
}

// NDPRoutePreference is a 2-bit router or route preference (RFC 4191
// §2.1), a signed value: 01 high, 00 medium, 11 low, 10 reserved.
type NDPRoutePreference uint8

// Route preferences (RFC 4191 §2.1).
const (
	NDPPreferenceMedium   NDPRoutePreference = 0
	NDPPreferenceHigh     NDPRoutePreference = 1
	NDPPreferenceReserved NDPRoutePreference = 2
	NDPPreferenceLow      NDPRoutePreference = 3
)

// String returns "high", "medium", "low" or "reserved".
func (p NDPRoutePreference) String() string {
	switch p {
	case NDPPreferenceMedium:
		return "medium"
	case NDPPreferenceHigh:
		return "high"
	case NDPPreferenceReserved:
		return "reserved"
	case NDPPreferenceLow:
		return "low"
	}
	return "preference(" + strconv.Itoa(int(p)) + ")"
}

// NDPRouterSolicit is a view of the body of a Router Solicitation
// (RFC 4861 §4.1).
type NDPRouterSolicit []byte

// ParseNDPRouterSolicit returns body, an ICMPv6 message body, as a Router
// Solicitation view (see the checks above).
func ParseNDPRouterSolicit(body []byte) (NDPRouterSolicit, error) {
	if err := ndpParse(body, NDPRouterSolicitMinimumSize); err != nil {
		return nil, err
	}
	return NDPRouterSolicit(body), nil
}

// Options returns the options area (RFC 4861 §4.1: a source link-layer
// address, if the source address is specified).
func (b NDPRouterSolicit) Options() NDPOptions { return NDPOptions(b[NDPRouterSolicitMinimumSize:]) }

// Fields returns the decoded fixed part (which has no fields).
func (b NDPRouterSolicit) Fields() NDPRouterSolicitFields { return NDPRouterSolicitFields{} }

// NDPRouterSolicitFields is the fixed part of a Router Solicitation to
// encode: a reserved word.
type NDPRouterSolicitFields struct{}

// Encode writes the fixed part at the start of b, the message body, and
// returns all of b as a view (its options area follows the fixed part).
func (f *NDPRouterSolicitFields) Encode(b []byte) NDPRouterSolicit {
	clear(b[:NDPRouterSolicitMinimumSize])
	return NDPRouterSolicit(b)
}

// NDPRouterAdvert is a view of the body of a Router Advertisement
// (RFC 4861 §4.2).
type NDPRouterAdvert []byte

const (
	ndpRACurHopLimitOff    = 0
	ndpRAFlagsOff          = 1
	ndpRARouterLifetimeOff = 2
	ndpRAReachableTimeOff  = 4
	ndpRARetransTimerOff   = 8

	ndpRAManagedFlag   = 0x80 // M, RFC 4861 §4.2
	ndpRAOtherFlag     = 0x40 // O, RFC 4861 §4.2
	ndpRAHomeAgentFlag = 0x20 // H, RFC 6275 §7.1
	ndpRAPrefShift     = 3    // Prf, RFC 4191 §2.2
	ndpRAProxyFlag     = 0x04 // P, RFC 4389 §4.1.3.3
)

// ParseNDPRouterAdvert returns body, an ICMPv6 message body, as a Router
// Advertisement view (see the checks above).
func ParseNDPRouterAdvert(body []byte) (NDPRouterAdvert, error) {
	if err := ndpParse(body, NDPRouterAdvertMinimumSize); err != nil {
		return nil, err
	}
	return NDPRouterAdvert(body), nil
}

// CurHopLimit returns the hop limit hosts should use, 0 if the router
// leaves it unspecified (RFC 4861 §4.2).
func (b NDPRouterAdvert) CurHopLimit() uint8 { return b[ndpRACurHopLimitOff] }

// Managed reports the M flag: addresses are available from DHCPv6
// (RFC 4861 §4.2).
func (b NDPRouterAdvert) Managed() bool { return b[ndpRAFlagsOff]&ndpRAManagedFlag != 0 }

// Other reports the O flag: other configuration is available from DHCPv6
// (RFC 4861 §4.2).
func (b NDPRouterAdvert) Other() bool { return b[ndpRAFlagsOff]&ndpRAOtherFlag != 0 }

// HomeAgent reports the H flag: the router is a Mobile IPv6 home agent
// (RFC 6275 §7.1).
func (b NDPRouterAdvert) HomeAgent() bool { return b[ndpRAFlagsOff]&ndpRAHomeAgentFlag != 0 }

// Proxy reports the P flag of ND proxies (RFC 4389 §4.1.3.3).
func (b NDPRouterAdvert) Proxy() bool { return b[ndpRAFlagsOff]&ndpRAProxyFlag != 0 }

// RouterPreference returns the Default Router Preference (RFC 4191 §2.2) as
// sent. RFC 4191 §2.2 has a receiver treat the reserved value as medium,
// and ignore the preference when the router lifetime is zero.
func (b NDPRouterAdvert) RouterPreference() NDPRoutePreference {
	return NDPRoutePreference(b[ndpRAFlagsOff]>>ndpRAPrefShift) & 3
}

// RouterLifetime returns how long the router may be a default router; zero
// means it is not one (RFC 4861 §4.2).
func (b NDPRouterAdvert) RouterLifetime() time.Duration {
	return time.Duration(binary.BigEndian.Uint16(b[ndpRARouterLifetimeOff:])) * time.Second
}

// ReachableTime returns how long a neighbor is deemed reachable after a
// reachability confirmation, 0 if unspecified (RFC 4861 §4.2, §6.3.4).
func (b NDPRouterAdvert) ReachableTime() time.Duration {
	return time.Duration(binary.BigEndian.Uint32(b[ndpRAReachableTimeOff:])) * time.Millisecond
}

// RetransTimer returns the time between retransmitted Neighbor
// Solicitations, 0 if unspecified (RFC 4861 §4.2).
func (b NDPRouterAdvert) RetransTimer() time.Duration {
	return time.Duration(binary.BigEndian.Uint32(b[ndpRARetransTimerOff:])) * time.Millisecond
}

// Options returns the options area (RFC 4861 §4.2: source link-layer
// address, MTU, prefix information, and others).
func (b NDPRouterAdvert) Options() NDPOptions { return NDPOptions(b[NDPRouterAdvertMinimumSize:]) }

// Fields returns the decoded fixed part.
func (b NDPRouterAdvert) Fields() NDPRouterAdvertFields {
	return NDPRouterAdvertFields{
		CurHopLimit:      b.CurHopLimit(),
		Managed:          b.Managed(),
		Other:            b.Other(),
		HomeAgent:        b.HomeAgent(),
		RouterPreference: b.RouterPreference(),
		Proxy:            b.Proxy(),
		RouterLifetime:   b.RouterLifetime(),
		ReachableTime:    b.ReachableTime(),
		RetransTimer:     b.RetransTimer(),
	}
}

// NDPRouterAdvertFields is the fixed part of a Router Advertisement to
// encode. Durations are truncated to the unit of their field (seconds for
// RouterLifetime, milliseconds for the timers) and clamped to its range;
// negative durations are written as zero.
type NDPRouterAdvertFields struct {
	CurHopLimit      uint8
	Managed          bool // M
	Other            bool // O
	HomeAgent        bool // H (RFC 6275 §7.1)
	RouterPreference NDPRoutePreference
	Proxy            bool // P (RFC 4389 §4.1.3.3)
	RouterLifetime   time.Duration
	ReachableTime    time.Duration
	RetransTimer     time.Duration
}

// ndpDurationUnits returns d in whole units, clamped to [0, limit].
func ndpDurationUnits(d, unit time.Duration, limit uint64) uint64 {
	if d <= 0 {
		return 0
	}
	return min(uint64(d/unit), limit)
}

// Encode writes the fixed part at the start of b, the message body, and
// returns all of b as a view (its options area follows the fixed part).
func (f *NDPRouterAdvertFields) Encode(b []byte) NDPRouterAdvert {
	h := b[:NDPRouterAdvertMinimumSize]
	h[ndpRACurHopLimitOff] = f.CurHopLimit
	flags := byte(f.RouterPreference&3) << ndpRAPrefShift
	if f.Managed {
		flags |= ndpRAManagedFlag
	}
	if f.Other {
		flags |= ndpRAOtherFlag
	}
	if f.HomeAgent {
		flags |= ndpRAHomeAgentFlag
	}
	if f.Proxy {
		flags |= ndpRAProxyFlag
	}
	h[ndpRAFlagsOff] = flags
	binary.BigEndian.PutUint16(h[ndpRARouterLifetimeOff:],
		uint16(ndpDurationUnits(f.RouterLifetime, time.Second, math.MaxUint16)))
	binary.BigEndian.PutUint32(h[ndpRAReachableTimeOff:],
		uint32(ndpDurationUnits(f.ReachableTime, time.Millisecond, math.MaxUint32)))
	binary.BigEndian.PutUint32(h[ndpRARetransTimerOff:],
		uint32(ndpDurationUnits(f.RetransTimer, time.Millisecond, math.MaxUint32)))
	return NDPRouterAdvert(b)
}

// NDPNeighborSolicit is a view of the body of a Neighbor Solicitation
// (RFC 4861 §4.3).
type NDPNeighborSolicit []byte

const ndpTargetOff = 4 // in NS, NA and Redirect

// ParseNDPNeighborSolicit returns body, an ICMPv6 message body, as a
// Neighbor Solicitation view (see the checks above).
func ParseNDPNeighborSolicit(body []byte) (NDPNeighborSolicit, error) {
	if err := ndpParse(body, NDPNeighborSolicitMinimumSize); err != nil {
		return nil, err
	}
	return NDPNeighborSolicit(body), nil
}

// TargetAddress returns the address being resolved or checked (RFC 4861
// §4.3); RFC 4861 §7.1.1 requires it not to be multicast.
func (b NDPNeighborSolicit) TargetAddress() netip.Addr { return ndpAddr(b, ndpTargetOff) }

// Options returns the options area (RFC 4861 §4.3: source link-layer
// address; RFC 7527 adds a nonce to DAD probes).
func (b NDPNeighborSolicit) Options() NDPOptions {
	return NDPOptions(b[NDPNeighborSolicitMinimumSize:])
}

// Fields returns the decoded fixed part.
func (b NDPNeighborSolicit) Fields() NDPNeighborSolicitFields {
	return NDPNeighborSolicitFields{TargetAddress: b.TargetAddress()}
}

// NDPNeighborSolicitFields is the fixed part of a Neighbor Solicitation to
// encode.
type NDPNeighborSolicitFields struct {
	TargetAddress netip.Addr // an IPv6 address
}

// Encode writes the fixed part at the start of b, the message body, and
// returns all of b as a view (its options area follows the fixed part).
func (f *NDPNeighborSolicitFields) Encode(b []byte) NDPNeighborSolicit {
	h := b[:NDPNeighborSolicitMinimumSize]
	clear(h[:ndpTargetOff])
	ndpPutAddr(h, ndpTargetOff, f.TargetAddress)
	return NDPNeighborSolicit(b)
}

// NDPNeighborAdvert is a view of the body of a Neighbor Advertisement
// (RFC 4861 §4.4).
type NDPNeighborAdvert []byte

const (
	ndpNAFlagsOff      = 0
	ndpNARouterFlag    = 0x80 // R
	ndpNASolicitedFlag = 0x40 // S
	ndpNAOverrideFlag  = 0x20 // O
)

// ParseNDPNeighborAdvert returns body, an ICMPv6 message body, as a
// Neighbor Advertisement view (see the checks above).
func ParseNDPNeighborAdvert(body []byte) (NDPNeighborAdvert, error) {
	if err := ndpParse(body, NDPNeighborAdvertMinimumSize); err != nil {
		return nil, err
	}
	return NDPNeighborAdvert(body), nil
}

// Router reports the R flag: the sender is a router (RFC 4861 §4.4).
func (b NDPNeighborAdvert) Router() bool { return b[ndpNAFlagsOff]&ndpNARouterFlag != 0 }

// Solicited reports the S flag: the advertisement answers a solicitation
// (RFC 4861 §4.4); RFC 4861 §7.1.2 requires it clear when sent to a
// multicast address.
func (b NDPNeighborAdvert) Solicited() bool { return b[ndpNAFlagsOff]&ndpNASolicitedFlag != 0 }

// Override reports the O flag: the advertisement should override a cached
// link-layer address (RFC 4861 §4.4).
func (b NDPNeighborAdvert) Override() bool { return b[ndpNAFlagsOff]&ndpNAOverrideFlag != 0 }

// TargetAddress returns the address whose link-layer address is advertised
// (RFC 4861 §4.4).
func (b NDPNeighborAdvert) TargetAddress() netip.Addr { return ndpAddr(b, ndpTargetOff) }

// Options returns the options area (RFC 4861 §4.4: target link-layer
// address).
func (b NDPNeighborAdvert) Options() NDPOptions {
	return NDPOptions(b[NDPNeighborAdvertMinimumSize:])
}

// Fields returns the decoded fixed part.
func (b NDPNeighborAdvert) Fields() NDPNeighborAdvertFields {
	return NDPNeighborAdvertFields{
		Router:        b.Router(),
		Solicited:     b.Solicited(),
		Override:      b.Override(),
		TargetAddress: b.TargetAddress(),
	}
}

// NDPNeighborAdvertFields is the fixed part of a Neighbor Advertisement to
// encode.
type NDPNeighborAdvertFields struct {
	Router        bool       // R
	Solicited     bool       // S
	Override      bool       // O
	TargetAddress netip.Addr // an IPv6 address
}

// Encode writes the fixed part at the start of b, the message body, and
// returns all of b as a view (its options area follows the fixed part).
func (f *NDPNeighborAdvertFields) Encode(b []byte) NDPNeighborAdvert {
	h := b[:NDPNeighborAdvertMinimumSize]
	clear(h[:ndpTargetOff])
	var flags byte
	if f.Router {
		flags |= ndpNARouterFlag
	}
	if f.Solicited {
		flags |= ndpNASolicitedFlag
	}
	if f.Override {
		flags |= ndpNAOverrideFlag
	}
	h[ndpNAFlagsOff] = flags
	ndpPutAddr(h, ndpTargetOff, f.TargetAddress)
	return NDPNeighborAdvert(b)
}

// NDPRedirect is a view of the body of a Redirect (RFC 4861 §4.5).
type NDPRedirect []byte

const ndpRedirectDstOff = 20

// ParseNDPRedirect returns body, an ICMPv6 message body, as a Redirect view
// (see the checks above).
func ParseNDPRedirect(body []byte) (NDPRedirect, error) {
	if err := ndpParse(body, NDPRedirectMinimumSize); err != nil {
		return nil, err
	}
	return NDPRedirect(body), nil
}

// TargetAddress returns the better first hop for the destination: a
// router's link-local address, or the destination itself when it is on
// link (RFC 4861 §4.5).
func (b NDPRedirect) TargetAddress() netip.Addr { return ndpAddr(b, ndpTargetOff) }

// DestinationAddress returns the destination that is redirected
// (RFC 4861 §4.5).
func (b NDPRedirect) DestinationAddress() netip.Addr { return ndpAddr(b, ndpRedirectDstOff) }

// Options returns the options area (RFC 4861 §4.5: target link-layer
// address, redirected header).
func (b NDPRedirect) Options() NDPOptions { return NDPOptions(b[NDPRedirectMinimumSize:]) }

// Fields returns the decoded fixed part.
func (b NDPRedirect) Fields() NDPRedirectFields {
	return NDPRedirectFields{
		TargetAddress:      b.TargetAddress(),
		DestinationAddress: b.DestinationAddress(),
	}
}

// NDPRedirectFields is the fixed part of a Redirect to encode.
type NDPRedirectFields struct {
	TargetAddress      netip.Addr // an IPv6 address
	DestinationAddress netip.Addr // an IPv6 address
}

// Encode writes the fixed part at the start of b, the message body, and
// returns all of b as a view (its options area follows the fixed part).
func (f *NDPRedirectFields) Encode(b []byte) NDPRedirect {
	h := b[:NDPRedirectMinimumSize]
	clear(h[:ndpTargetOff])
	ndpPutAddr(h, ndpTargetOff, f.TargetAddress)
	ndpPutAddr(h, ndpRedirectDstOff, f.DestinationAddress)
	return NDPRedirect(b)
}
