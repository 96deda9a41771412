package header

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

// NDPOptionType is the Type field of a Neighbor Discovery option
// (RFC 4861 §4.6 and IANA "IPv6 Neighbor Discovery Option Formats").
type NDPOptionType uint8

// Neighbor Discovery option types.
const (
	NDPOptionSourceLinkLayerAddress NDPOptionType = 1  // RFC 4861 §4.6.1
	NDPOptionTargetLinkLayerAddress NDPOptionType = 2  // RFC 4861 §4.6.1
	NDPOptionPrefixInformation      NDPOptionType = 3  // RFC 4861 §4.6.2
	NDPOptionRedirectedHeader       NDPOptionType = 4  // RFC 4861 §4.6.3
	NDPOptionMTU                    NDPOptionType = 5  // RFC 4861 §4.6.4
	NDPOptionNonce                  NDPOptionType = 14 // RFC 3971 §5.3.2
	NDPOptionRouteInformation       NDPOptionType = 24 // RFC 4191 §2.3
	NDPOptionRDNSS                  NDPOptionType = 25 // RFC 8106 §5.1
	NDPOptionDNSSL                  NDPOptionType = 31 // RFC 8106 §5.2
)

// String returns the option type's name, or "option(N)" for a type without
// one.
func (t NDPOptionType) String() string {
	switch t {
	case NDPOptionSourceLinkLayerAddress:
		return "source link-layer address"
	case NDPOptionTargetLinkLayerAddress:
		return "target link-layer address"
	case NDPOptionPrefixInformation:
		return "prefix information"
	case NDPOptionRedirectedHeader:
		return "redirected header"
	case NDPOptionMTU:
		return "MTU"
	case NDPOptionNonce:
		return "nonce"
	case NDPOptionRouteInformation:
		return "route information"
	case NDPOptionRDNSS:
		return "recursive DNS server"
	case NDPOptionDNSSL:
		return "DNS search list"
	}
	return "option(" + strconv.Itoa(int(t)) + ")"
}

// NDPOptionUnit is the unit of the Length field of NDP options: every
// option is a multiple of 8 octets long (RFC 4861 §4.6).
const NDPOptionUnit = 8

// Sizes of NDP options.
const (
	// NDPLinkLayerAddressOptionSize is the size of a source or target
	// link-layer address option carrying an Ethernet address (RFC 2464
	// §8: Length 1).
	NDPLinkLayerAddressOptionSize = 8
	// NDPPrefixInformationOptionSize is the size of a prefix information
	// option (RFC 4861 §4.6.2: Length 4).
	NDPPrefixInformationOptionSize = 32
	// NDPMTUOptionSize is the size of an MTU option (RFC 4861 §4.6.4:
	// Length 1).
	NDPMTUOptionSize = 8
	// NDPRedirectedHeaderMinimumSize is the size of a redirected header
	// option without any of the redirected packet (RFC 4861 §4.6.3).
	NDPRedirectedHeaderMinimumSize = 8
	// NDPRDNSSMinimumSize is the size of an RDNSS option holding one
	// address (RFC 8106 §5.1: the minimum Length is 3).
	NDPRDNSSMinimumSize = 24
	// NDPDNSSLMinimumSize is the size of the smallest DNSSL option
	// holding a domain name (RFC 8106 §5.2: the minimum Length is 2).
	NDPDNSSLMinimumSize = 16
	// NDPNonceMinimumLength is the smallest nonce a nonce option may
	// carry (RFC 3971 §5.3.2: at least 6 bytes). RFC 7527 §4.1 uses a
	// 6-byte nonce, making the option 8 bytes long.
	NDPNonceMinimumLength = 6
)

// NDPInfiniteLifetime is the lifetime that the all-ones value (0xffffffff
// seconds) of a 32-bit lifetime field stands for: infinity (RFC 4861 §4.6.2
// for prefixes, RFC 4191 §2.3 for routes, RFC 8106 §5.1 and §5.2 for DNS
// servers and search lists). Accessors return it, and encoders write
// 0xffffffff for it; no finite lifetime is this long.
const NDPInfiniteLifetime time.Duration = math.MaxInt64

// ndpLifetime decodes a 32-bit lifetime field in seconds.
func ndpLifetime(v uint32) time.Duration {
	if v == math.MaxUint32 {
		return NDPInfiniteLifetime
	}
	return time.Duration(v) * time.Second
}

// ndpLifetimeSeconds encodes d for a 32-bit lifetime field in seconds:
// NDPInfiniteLifetime as all ones, negative durations as zero, fractions of
// a second truncated, and finite durations too long for the field as the
// longest finite value.
func ndpLifetimeSeconds(d time.Duration) uint32 {
	switch {
	case d == NDPInfiniteLifetime:
		return math.MaxUint32
	case d <= 0:
		return 0
	case d/time.Second >= math.MaxUint32:
		return math.MaxUint32 - 1
	}
	return uint32(d / time.Second)
}

// NDPOptions is a view of the options area of an NDP message: a sequence
// of type-length-value options, each a multiple of 8 octets (RFC 4861
// §4.6). Walk it with Iterator.
type NDPOptions []byte

// ParseNDPOptions returns b as an NDPOptions view after checking that it is
// a well-formed sequence of options: none of Length zero, none running past
// the end of b (ErrBadOption otherwise). RFC 4861 §4.6: "Nodes MUST silently
// discard an ND packet that contains an option with length zero", and
// §7.1.1 and its kin require every option to have a length greater than
// zero. The contents of the options are not checked: the typed accessors
// of NDPOption report options too short for their type.
func ParseNDPOptions(b []byte) (NDPOptions, error) {
	it := NDPOptions(b).Iterator()
	for _, ok := it.Next(); ok; _, ok = it.Next() {
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return NDPOptions(b), nil
}

// Iterator returns an iterator over the options.
func (b NDPOptions) Iterator() NDPOptionIterator { return NDPOptionIterator{rest: b} }

// NDPOptionIterator walks the options of an NDPOptions view. The zero value
// is an empty iterator.
type NDPOptionIterator struct {
	rest []byte
	err  error
}

// Next returns the next option, or false at the end of the options or at a
// malformed option (then Err reports it). Options of every type are
// returned, unknown ones included (RFC 4861 §4.6: receivers "MUST silently
// ignore any options they do not recognize and continue processing the
// message"), so the caller skips the types it does not handle.
func (it *NDPOptionIterator) Next() (NDPOption, bool) {
	if it.err != nil || len(it.rest) == 0 {
		return nil, false
	}
	if len(it.rest) < 2 {
		it.err = ErrBadOption
		return nil, false
	}
	// RFC 4861 §4.6: Length counts the whole option, type and length
	// fields included, in units of 8 octets; zero is invalid.
	n := int(it.rest[1]) * NDPOptionUnit
	if n == 0 || n > len(it.rest) {
		it.err = ErrBadOption
		return nil, false
	}
	opt := NDPOption(it.rest[:n:n])
	it.rest = it.rest[n:]
	return opt, true
}

// Err returns the error that stopped the iteration, or nil.
func (it *NDPOptionIterator) Err() error { return it.err }

// NDPOption is a view of one NDP option, type and length fields included,
// as an NDPOptionIterator returns it (at least 8 bytes). Its typed
// accessors (LinkLayerAddress, PrefixInformation, …) report false when the
// option is of another type or too short for its type: RFC 4861 and its
// extensions have the receiver ignore such an option, not the message.
type NDPOption []byte

// Type returns the option type.
func (o NDPOption) Type() NDPOptionType { return NDPOptionType(o[0]) }

// Body returns the option after its type and length fields (its padding
// included).
func (o NDPOption) Body() []byte { return o[2:] }

// LinkLayerAddress returns the address of a source or target link-layer
// address option (RFC 4861 §4.6.1). It reports false for other options,
// and for link-layer addresses other than Ethernet's: RFC 2464 §8 gives an
// Ethernet address option a Length of 1 (6 bytes of address after type and
// length); options of other link types have other lengths (Body returns
// them raw).
func (o NDPOption) LinkLayerAddress() (tcpip.LinkAddress, bool) {
	if t := o.Type(); t != NDPOptionSourceLinkLayerAddress && t != NDPOptionTargetLinkLayerAddress ||
		len(o) != NDPLinkLayerAddressOptionSize {
		return tcpip.LinkAddress{}, false
	}
	return tcpip.LinkAddress(o[2:8]), true
}

// PrefixInformation returns a prefix information option (RFC 4861 §4.6.2).
// It reports false for other options and for one shorter than 32 bytes;
// longer ones are accepted (as Linux does) and read as their first 32.
func (o NDPOption) PrefixInformation() (NDPPrefixInformation, bool) {
	if o.Type() != NDPOptionPrefixInformation || len(o) < NDPPrefixInformationOptionSize {
		return nil, false
	}
	return NDPPrefixInformation(o), true
}

// RedirectedHeader returns the packet a redirected header option quotes
// (RFC 4861 §4.6.3: the start of the redirected packet, IP header
// included, with any padding to 8 octets after it), or false for other
// options.
func (o NDPOption) RedirectedHeader() ([]byte, bool) {
	if o.Type() != NDPOptionRedirectedHeader {
		return nil, false
	}
	return o[NDPRedirectedHeaderMinimumSize:], true
}

// MTU returns the MTU of an MTU option (RFC 4861 §4.6.4), or false for
// other options.
func (o NDPOption) MTU() (uint32, bool) {
	if o.Type() != NDPOptionMTU {
		return 0, false
	}
	// Every option is at least 8 bytes long, which the MTU field needs.
	return binary.BigEndian.Uint32(o[4:]), true
}

// Nonce returns the nonce of a nonce option (RFC 3971 §5.3.2: all the
// bytes after type and length; the sender sizes the nonce so that the
// option needs no padding). It reports false for other options. RFC 7527
// uses the nonce to tell a looped-back DAD probe from another node's.
func (o NDPOption) Nonce() ([]byte, bool) {
	if o.Type() != NDPOptionNonce {
		return nil, false
	}
	return o[2:], true
}

// RouteInformation returns a route information option (RFC 4191 §2.3). It
// reports false for other options and, as RFC 4191 §3.1 has receivers
// ignore them, for options whose Length is not 1, 2 or 3 or is too short
// for their Prefix Length (or whose Prefix Length exceeds 128).
func (o NDPOption) RouteInformation() (NDPRouteInformation, bool) {
	if o.Type() != NDPOptionRouteInformation || len(o) > 3*NDPOptionUnit {
		return nil, false
	}
	if int(o[2]) > 128 || ndpRouteInfoSize(int(o[2])) > len(o) {
		return nil, false
	}
	return NDPRouteInformation(o), true
}

// RDNSS returns a recursive DNS server option (RFC 8106 §5.1). It reports
// false for other options and for one whose length is not 8 bytes plus a
// positive number of 16-byte addresses (RFC 8106 §5.1: Length is at least
// 3, and each address adds 2).
func (o NDPOption) RDNSS() (NDPRDNSS, bool) {
	if o.Type() != NDPOptionRDNSS || len(o) < NDPRDNSSMinimumSize || (len(o)-8)%16 != 0 {
		return nil, false
	}
	return NDPRDNSS(o), true
}

// DNSSL returns a DNS search list option (RFC 8106 §5.2). It reports false
// for other options and for one shorter than 16 bytes (RFC 8106 §5.2: the
// minimum Length is 2). The domain names are checked as they are iterated.
func (o NDPOption) DNSSL() (NDPDNSSL, bool) {
	if o.Type() != NDPOptionDNSSL || len(o) < NDPDNSSLMinimumSize {
		return nil, false
	}
	return NDPDNSSL(o), true
}

// ndpOptionHeader writes the type and length fields of an option of size
// bytes at the start of b and zeroes the rest of it, returning b[:size].
func ndpOptionHeader(b []byte, t NDPOptionType, size int) []byte {
	b = b[:size]
	clear(b)
	b[0] = byte(t)
	b[1] = byte(size / NDPOptionUnit)
	return b
}

// ndpOptionRoundUp rounds n up to a whole number of 8-octet units.
func ndpOptionRoundUp(n int) int { return (n + NDPOptionUnit - 1) &^ (NDPOptionUnit - 1) }

// NDPLinkLayerAddressFields is a source or target link-layer address option
// (RFC 4861 §4.6.1) for an Ethernet address, to encode.
type NDPLinkLayerAddressFields struct {
	// Type is NDPOptionSourceLinkLayerAddress or
	// NDPOptionTargetLinkLayerAddress.
	Type    NDPOptionType
	Address tcpip.LinkAddress
}

// Size returns the size of the option: NDPLinkLayerAddressOptionSize.
func (f *NDPLinkLayerAddressFields) Size() int { return NDPLinkLayerAddressOptionSize }

// Encode writes the option at the start of b and returns it as a view.
func (f *NDPLinkLayerAddressFields) Encode(b []byte) NDPOption {
	b = ndpOptionHeader(b, f.Type, NDPLinkLayerAddressOptionSize)
	copy(b[2:], f.Address[:])
	return NDPOption(b)
}

// NDPPrefixInformation is a view of a prefix information option
// (RFC 4861 §4.6.2), from NDPOption.PrefixInformation.
type NDPPrefixInformation []byte

const (
	ndpPrefixLengthOff    = 2
	ndpPrefixFlagsOff     = 3
	ndpPrefixValidOff     = 4
	ndpPrefixPreferredOff = 8
	ndpPrefixPrefixOff    = 16

	ndpPrefixOnLinkFlag        = 0x80 // L, RFC 4861 §4.6.2
	ndpPrefixAutonomousFlag    = 0x40 // A, RFC 4861 §4.6.2
	ndpPrefixRouterAddressFlag = 0x20 // R, RFC 6275 §7.2
)

// PrefixLength returns the Prefix Length field (0 to 128 if valid).
func (p NDPPrefixInformation) PrefixLength() uint8 { return p[ndpPrefixLengthOff] }

// OnLink reports the L flag: the prefix can be used for on-link
// determination (RFC 4861 §4.6.2).
func (p NDPPrefixInformation) OnLink() bool { return p[ndpPrefixFlagsOff]&ndpPrefixOnLinkFlag != 0 }

// Autonomous reports the A flag: the prefix can be used for stateless
// address autoconfiguration (RFC 4862 §5.5.3).
func (p NDPPrefixInformation) Autonomous() bool {
	return p[ndpPrefixFlagsOff]&ndpPrefixAutonomousFlag != 0
}

// RouterAddress reports the R flag of Mobile IPv6 (RFC 6275 §7.2): the
// Prefix field holds the router's whole address, not only the prefix.
func (p NDPPrefixInformation) RouterAddress() bool {
	return p[ndpPrefixFlagsOff]&ndpPrefixRouterAddressFlag != 0
}

// ValidLifetime returns how long the prefix is valid for on-link
// determination, NDPInfiniteLifetime for all ones (RFC 4861 §4.6.2).
func (p NDPPrefixInformation) ValidLifetime() time.Duration {
	return ndpLifetime(binary.BigEndian.Uint32(p[ndpPrefixValidOff:]))
}

// PreferredLifetime returns how long addresses made from the prefix by
// stateless autoconfiguration remain preferred, NDPInfiniteLifetime for
// all ones (RFC 4861 §4.6.2).
func (p NDPPrefixInformation) PreferredLifetime() time.Duration {
	return ndpLifetime(binary.BigEndian.Uint32(p[ndpPrefixPreferredOff:]))
}

// PrefixAddress returns the Prefix field as an address, all 128 bits of
// it (bits after the prefix length included: for a prefix with the R flag
// they are the router's address).
func (p NDPPrefixInformation) PrefixAddress() netip.Addr {
	return netip.AddrFrom16([16]byte(p[ndpPrefixPrefixOff : ndpPrefixPrefixOff+16]))
}

// Prefix returns the advertised prefix. The bits after the prefix length
// are cleared: RFC 4861 §4.6.2 has them "ignored by the receiver". A Prefix
// Length above 128 gives the zero (invalid) Prefix.
func (p NDPPrefixInformation) Prefix() netip.Prefix {
	pfx, err := p.PrefixAddress().Prefix(int(p.PrefixLength()))
	if err != nil {
		return netip.Prefix{}
	}
	return pfx
}

// Fields returns the decoded option.
func (p NDPPrefixInformation) Fields() NDPPrefixInformationFields {
	return NDPPrefixInformationFields{
		Prefix:            p.Prefix(),
		OnLink:            p.OnLink(),
		Autonomous:        p.Autonomous(),
		RouterAddress:     p.RouterAddress(),
		ValidLifetime:     p.ValidLifetime(),
		PreferredLifetime: p.PreferredLifetime(),
	}
}

// NDPPrefixInformationFields is a prefix information option (RFC 4861
// §4.6.2) to encode.
type NDPPrefixInformationFields struct {
	// Prefix is an IPv6 prefix. The bits of its address after its length
	// are written as zeros (RFC 4861 §4.6.2: "MUST be initialized to zero
	// by the sender"). The zero Prefix is written as ::/0.
	Prefix            netip.Prefix
	OnLink            bool // L
	Autonomous        bool // A
	RouterAddress     bool // R (RFC 6275 §7.2)
	ValidLifetime     time.Duration
	PreferredLifetime time.Duration
}

// Size returns the size of the option: NDPPrefixInformationOptionSize.
func (f *NDPPrefixInformationFields) Size() int { return NDPPrefixInformationOptionSize }

// Encode writes the option at the start of b and returns it as a view.
func (f *NDPPrefixInformationFields) Encode(b []byte) NDPOption {
	b = ndpOptionHeader(b, NDPOptionPrefixInformation, NDPPrefixInformationOptionSize)
	pfx := f.Prefix.Masked()
	if pfx.IsValid() {
		b[ndpPrefixLengthOff] = byte(pfx.Bits())
		a := pfx.Addr().As16()
		copy(b[ndpPrefixPrefixOff:], a[:])
	}
	var flags byte
	if f.OnLink {
		flags |= ndpPrefixOnLinkFlag
	}
	if f.Autonomous {
		flags |= ndpPrefixAutonomousFlag
	}
	if f.RouterAddress {
		flags |= ndpPrefixRouterAddressFlag
	}
	b[ndpPrefixFlagsOff] = flags
	binary.BigEndian.PutUint32(b[ndpPrefixValidOff:], ndpLifetimeSeconds(f.ValidLifetime))
	binary.BigEndian.PutUint32(b[ndpPrefixPreferredOff:], ndpLifetimeSeconds(f.PreferredLifetime))
	return NDPOption(b)
}

// NDPRedirectedHeaderFields is a redirected header option (RFC 4861
// §4.6.3) to encode.
type NDPRedirectedHeaderFields struct {
	// Packet is the start of the redirected packet, IP header included,
	// already cut so that the redirect message fits in the minimum MTU
	// (RFC 4861 §4.6.3). It is padded with zeros to 8 octets.
	Packet []byte
}

// Size returns the size of the option.
func (f *NDPRedirectedHeaderFields) Size() int {
	return NDPRedirectedHeaderMinimumSize + ndpOptionRoundUp(len(f.Packet))
}

// Encode writes the option at the start of b and returns it as a view.
func (f *NDPRedirectedHeaderFields) Encode(b []byte) NDPOption {
	b = ndpOptionHeader(b, NDPOptionRedirectedHeader, f.Size())
	copy(b[NDPRedirectedHeaderMinimumSize:], f.Packet)
	return NDPOption(b)
}

// NDPMTUFields is an MTU option (RFC 4861 §4.6.4) to encode.
type NDPMTUFields struct {
	MTU uint32
}

// Size returns the size of the option: NDPMTUOptionSize.
func (f *NDPMTUFields) Size() int { return NDPMTUOptionSize }

// Encode writes the option at the start of b and returns it as a view.
func (f *NDPMTUFields) Encode(b []byte) NDPOption {
	b = ndpOptionHeader(b, NDPOptionMTU, NDPMTUOptionSize)
	binary.BigEndian.PutUint32(b[4:], f.MTU)
	return NDPOption(b)
}

// NDPNonceFields is a nonce option (RFC 3971 §5.3.2) to encode.
type NDPNonceFields struct {
	// Nonce holds at least NDPNonceMinimumLength random bytes; RFC 3971
	// §5.3.2 has the sender choose a length that makes the option a
	// multiple of 8 octets (6, 14, …). Another length is padded with
	// zeros, which then read back as part of the nonce.
	Nonce []byte
}

// Size returns the size of the option.
func (f *NDPNonceFields) Size() int { return ndpOptionRoundUp(2 + len(f.Nonce)) }

// Encode writes the option at the start of b and returns it as a view.
func (f *NDPNonceFields) Encode(b []byte) NDPOption {
	b = ndpOptionHeader(b, NDPOptionNonce, f.Size())
	copy(b[2:], f.Nonce)
	return NDPOption(b)
}

// NDPRouteInformation is a view of a route information option (RFC 4191
// §2.3), from NDPOption.RouteInformation.
type NDPRouteInformation []byte

const (
	ndpRouteInfoPrefixLengthOff = 2
	ndpRouteInfoFlagsOff        = 3
	ndpRouteInfoLifetimeOff     = 4
	ndpRouteInfoPrefixOff       = 8
)

// ndpRouteInfoSize returns the smallest route information option for a
// prefix of the given length (RFC 4191 §2.3: Length 1 for a zero-length
// prefix, 2 up to 64 bits, 3 above).
func ndpRouteInfoSize(bits int) int {
	switch {
	case bits == 0:
		return 8
	case bits <= 64:
		return 16
	}
	return 24
}

// PrefixLength returns the Prefix Length field (0 to 128).
func (r NDPRouteInformation) PrefixLength() uint8 { return r[ndpRouteInfoPrefixLengthOff] }

// Preference returns the route's preference (RFC 4191 §2.3). The reserved
// value is returned as is: RFC 4191 §3.1 has receivers ignore such a route.
func (r NDPRouteInformation) Preference() NDPRoutePreference {
	return NDPRoutePreference(r[ndpRouteInfoFlagsOff]>>3) & 3
}

// RouteLifetime returns how long the route is valid, NDPInfiniteLifetime
// for all ones (RFC 4191 §2.3).
func (r NDPRouteInformation) RouteLifetime() time.Duration {
	return ndpLifetime(binary.BigEndian.Uint32(r[ndpRouteInfoLifetimeOff:]))
}

// Prefix returns the route's prefix. The Prefix field holds only as many
// 8-byte units as the option's Length allows (RFC 4191 §2.3); the rest of
// the address and the bits after the prefix length are zero.
func (r NDPRouteInformation) Prefix() netip.Prefix {
	var a [16]byte
	if len(r) > ndpRouteInfoPrefixOff {
		copy(a[:], r[ndpRouteInfoPrefixOff:])
	}
	pfx, err := netip.AddrFrom16(a).Prefix(int(r.PrefixLength()))
	if err != nil {
		return netip.Prefix{}
	}
	return pfx
}

// Fields returns the decoded option.
func (r NDPRouteInformation) Fields() NDPRouteInformationFields {
	return NDPRouteInformationFields{
		Prefix:     r.Prefix(),
		Preference: r.Preference(),
		Lifetime:   r.RouteLifetime(),
	}
}

// NDPRouteInformationFields is a route information option (RFC 4191 §2.3)
// to encode. The option is as short as the prefix allows.
type NDPRouteInformationFields struct {
	// Prefix is an IPv6 prefix; the bits after its length are written
	// as zeros. The zero Prefix is written as ::/0.
	Prefix     netip.Prefix
	Preference NDPRoutePreference
	Lifetime   time.Duration
}

// Size returns the size of the option: 8, 16 or 24 bytes.
func (f *NDPRouteInformationFields) Size() int {
	return ndpRouteInfoSize(max(f.Prefix.Bits(), 0))
}

// Encode writes the option at the start of b and returns it as a view.
func (f *NDPRouteInformationFields) Encode(b []byte) NDPOption {
	b = ndpOptionHeader(b, NDPOptionRouteInformation, f.Size())
	pfx := f.Prefix.Masked()
	if pfx.IsValid() {
		b[ndpRouteInfoPrefixLengthOff] = byte(pfx.Bits())
		a := pfx.Addr().As16()
		copy(b[ndpRouteInfoPrefixOff:], a[:])
	}
	b[ndpRouteInfoFlagsOff] = byte(f.Preference&3) << 3
	binary.BigEndian.PutUint32(b[ndpRouteInfoLifetimeOff:], ndpLifetimeSeconds(f.Lifetime))
	return NDPOption(b)
}

// NDPRDNSS is a view of a recursive DNS server option (RFC 8106 §5.1),
// from NDPOption.RDNSS.
type NDPRDNSS []byte

const (
	ndpRDNSSLifetimeOff  = 4
	ndpRDNSSAddressesOff = 8
)

// Lifetime returns how long the servers may be used, NDPInfiniteLifetime
// for all ones; zero means they must no longer be used (RFC 8106 §5.1).
func (r NDPRDNSS) Lifetime() time.Duration {
	return ndpLifetime(binary.BigEndian.Uint32(r[ndpRDNSSLifetimeOff:]))
}

// Len returns the number of server addresses.
func (r NDPRDNSS) Len() int { return max(len(r)-ndpRDNSSAddressesOff, 0) / 16 }

// Addresses returns an iterator over the server addresses.
func (r NDPRDNSS) Addresses() NDPRDNSSIterator {
	if len(r) < ndpRDNSSAddressesOff {
		return NDPRDNSSIterator{}
	}
	return NDPRDNSSIterator{rest: r[ndpRDNSSAddressesOff:]}
}

// NDPRDNSSIterator walks the addresses of an RDNSS option. The zero value
// is an empty iterator.
type NDPRDNSSIterator struct {
	rest []byte
	err  error
}

// Next returns the next address, or false at the end or if the option ends
// in the middle of an address (then Err reports ErrBadOption; an option
// from NDPOption.RDNSS never does).
func (it *NDPRDNSSIterator) Next() (netip.Addr, bool) {
	if it.err != nil || len(it.rest) == 0 {
		return netip.Addr{}, false
	}
	if len(it.rest) < 16 {
		it.err = ErrBadOption
		return netip.Addr{}, false
	}
	a := netip.AddrFrom16([16]byte(it.rest[:16]))
	it.rest = it.rest[16:]
	return a, true
}

// Err returns the error that stopped the iteration, or nil.
func (it *NDPRDNSSIterator) Err() error { return it.err }

// NDPRDNSSFields is a recursive DNS server option (RFC 8106 §5.1) to
// encode.
type NDPRDNSSFields struct {
	Lifetime time.Duration
	// Addresses are IPv6 addresses; RFC 8106 §5.1 requires at least
	// one.
	Addresses []netip.Addr
}

// Size returns the size of the option: 8 bytes plus 16 per address.
func (f *NDPRDNSSFields) Size() int { return ndpRDNSSAddressesOff + 16*len(f.Addresses) }

// Encode writes the option at the start of b and returns it as a view.
func (f *NDPRDNSSFields) Encode(b []byte) NDPOption {
	b = ndpOptionHeader(b, NDPOptionRDNSS, f.Size())
	binary.BigEndian.PutUint32(b[ndpRDNSSLifetimeOff:], ndpLifetimeSeconds(f.Lifetime))
	for i, a := range f.Addresses {
		a16 := a.As16()
		copy(b[ndpRDNSSAddressesOff+16*i:], a16[:])
	}
	return NDPOption(b)
}

// NDPDNSSL is a view of a DNS search list option (RFC 8106 §5.2), from
// NDPOption.DNSSL.
type NDPDNSSL []byte

const (
	ndpDNSSLLifetimeOff = 4
	ndpDNSSLDomainsOff  = 8

	// RFC 1035 §3.1: labels are at most 63 octets long, names at most
	// 255 octets (length octets included).
	ndpDNSMaxLabel = 63
	ndpDNSMaxName  = 255
)

// Lifetime returns how long the search list may be used,
// NDPInfiniteLifetime for all ones; zero means it must no longer be used
// (RFC 8106 §5.2).
func (d NDPDNSSL) Lifetime() time.Duration {
	return ndpLifetime(binary.BigEndian.Uint32(d[ndpDNSSLLifetimeOff:]))
}

// Domains returns an iterator over the domain names.
func (d NDPDNSSL) Domains() NDPDomainIterator {
	if len(d) < ndpDNSSLDomainsOff {
		return NDPDomainIterator{}
	}
	return NDPDomainIterator{rest: d[ndpDNSSLDomainsOff:]}
}

// NDPDomainIterator walks the domain names of a DNSSL option. The zero value
// is an empty iterator.
type NDPDomainIterator struct {
	rest []byte
	err  error
}

// Next returns the next domain name, or false at the end of the list or at
// a malformed name (then Err reports ErrBadOption). RFC 8106 §5.2 encodes
// each name as in RFC 1035 §3.1, a sequence of labels each led by its
// length and ended by a zero octet, compression not allowed, and pads the
// list with zeros: the list ends at the end of the option or at a zero
// octet where a name would start. A name is malformed if it runs past the
// option, uses a label length octet above 63 (compression pointers and
// extended label types included), or exceeds 255 octets.
func (it *NDPDomainIterator) Next() (NDPDomainName, bool) {
	if it.err != nil || len(it.rest) == 0 || it.rest[0] == 0 {
		return nil, false
	}
	n := 0
	for {
		if n >= len(it.rest) {
			it.err = ErrBadOption
			return nil, false
		}
		l := int(it.rest[n])
		if l > ndpDNSMaxLabel {
			it.err = ErrBadOption
			return nil, false
		}
		n += 1 + l
		if n > ndpDNSMaxName {
			it.err = ErrBadOption
			return nil, false
		}
		if l == 0 {
			break
		}
	}
	name := NDPDomainName(it.rest[:n:n])
	it.rest = it.rest[n:]
	return name, true
}

// Err returns the error that stopped the iteration, or nil.
func (it *NDPDomainIterator) Err() error { return it.err }

// NDPDomainName is a view of a domain name in the label encoding of
// RFC 1035 §3.1 (length-prefixed labels ended by a zero octet), as an
// NDPDomainIterator returns it.
type NDPDomainName []byte

// Labels returns an iterator over the labels of the name, the final empty
// label excluded.
func (n NDPDomainName) Labels() NDPLabelIterator { return NDPLabelIterator{rest: n} }

// AppendText appends the name in its text form ("example.com", without a
// final dot) to b and returns the extended slice. Label bytes are copied as
// they are: a label holding a dot is not escaped. With enough capacity in b
// (at most 253 bytes for a name, RFC 1035 §3.1) it does not allocate.
func (n NDPDomainName) AppendText(b []byte) []byte {
	it := n.Labels()
	first := true
	for l, ok := it.Next(); ok; l, ok = it.Next() {
		if !first {
			b = append(b, '.')
		}
		first = false
		b = append(b, l...)
	}
	return b
}

// String returns the name in its text form (see AppendText).
func (n NDPDomainName) String() string { return string(n.AppendText(nil)) }

// NDPLabelIterator walks the labels of an NDPDomainName. The zero value is
// an empty iterator.
type NDPLabelIterator struct {
	rest []byte
}

// Next returns the next label, or false at the end of the name (or where a
// view built without NDPDomainIterator ends early).
func (it *NDPLabelIterator) Next() ([]byte, bool) {
	if len(it.rest) == 0 {
		return nil, false
	}
	l := int(it.rest[0])
	if l == 0 || 1+l > len(it.rest) {
		it.rest = nil
		return nil, false
	}
	label := it.rest[1 : 1+l : 1+l]
	it.rest = it.rest[1+l:]
	return label, true
}

// NDPDNSSLFields is a DNS search list option (RFC 8106 §5.2) to encode.
type NDPDNSSLFields struct {
	Lifetime time.Duration
	// Domains are domain names in text form ("example.com", a final dot
	// allowed). Each label (text between dots) must be 1 to 63 bytes
	// long and each name at most 253 bytes: Size and Encode panic
	// otherwise, as they do for a short b. Empty names are skipped.
	Domains []string
}

// ndpDNSSLNameSize returns the size of name in the label encoding, or
// panics if a label is empty or too long.
func ndpDNSSLNameSize(name string) int {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return 0
	}
	n := 1 // the final zero octet
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > ndpDNSMaxLabel {
			panic("header: invalid label in DNSSL domain " + strconv.Quote(name))
		}
		n += 1 + len(label)
	}
	if n > ndpDNSMaxName {
		panic("header: DNSSL domain too long: " + strconv.Quote(name))
	}
	return n
}

// Size returns the size of the option: 8 bytes plus the encoded names,
// rounded up to 8 octets.
func (f *NDPDNSSLFields) Size() int {
	n := ndpDNSSLDomainsOff
	for _, d := range f.Domains {
		n += ndpDNSSLNameSize(d)
	}
	return ndpOptionRoundUp(n)
}

// Encode writes the option at the start of b and returns it as a view.
func (f *NDPDNSSLFields) Encode(b []byte) NDPOption {
	b = ndpOptionHeader(b, NDPOptionDNSSL, f.Size())
	binary.BigEndian.PutUint32(b[ndpDNSSLLifetimeOff:], ndpLifetimeSeconds(f.Lifetime))
	off := ndpDNSSLDomainsOff
	for _, d := range f.Domains {
		d = strings.TrimSuffix(d, ".")
		if d == "" {
			continue
		}
		for label := range strings.SplitSeq(d, ".") {
			b[off] = byte(len(label))
			off += 1 + copy(b[off+1:], label)
		}
		off++ // the zero octet ending the name; b was cleared
	}
	return NDPOption(b)
}
