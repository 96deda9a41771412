package header

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/tcpip"
)

// IPv6 is a view of an IPv6 packet: the 40-byte fixed header (RFC 8200 §3)
// followed by the payload, which holds any extension headers (walk them
// with ExtHdrs) and the upper-layer data.
//
// Jumbograms (RFC 2675) are not supported: a Payload Length of zero is an
// empty payload, whatever a Hop-by-Hop Jumbo Payload option would say.
type IPv6 []byte

const (
	// IPv6MinimumSize is the size of the fixed IPv6 header.
	IPv6MinimumSize = 40
	// IPv6MinimumMTU is the smallest link MTU IPv6 may run over
	// (RFC 8200 §5): every link must carry 1280-byte packets.
	IPv6MinimumMTU = 1280
	// IPv6AddressSize is the size of an IPv6 address.
	IPv6AddressSize = 16
	// IPv6Version is the value of the Version field.
	IPv6Version = 6
	// IPv6MaximumPayloadSize is the largest payload a Payload Length field
	// can describe.
	IPv6MaximumPayloadSize = 0xffff
	// IPv6FlowLabelMask selects the 20 bits of a flow label.
	IPv6FlowLabelMask = 0xfffff
)

const (
	ipv6VersionTCFlow = 0 // 4-bit version, 8-bit traffic class, 20-bit flow label
	ipv6PayloadLength = 4
	ipv6NextHeader    = 6
	ipv6HopLimit      = 7
	ipv6Src           = 8
	ipv6Dst           = 24
)

// Well-known IPv6 multicast addresses.
var (
	// IPv6AllNodesMulticastAddr is ff02::1, the link-local all-nodes
	// group (RFC 4291 §2.7.1).
	IPv6AllNodesMulticastAddr = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x01})
	// IPv6AllRoutersMulticastAddr is ff02::2, the link-local all-routers
	// group (RFC 4291 §2.7.1).
	IPv6AllRoutersMulticastAddr = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x02})
	// IPv6AllMLDv2RoutersMulticastAddr is ff02::16, to which MLDv2 reports
	// are sent (RFC 3810 §5.2.14).
	IPv6AllMLDv2RoutersMulticastAddr = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x16})
)

// ParseIPv6 returns b as an IPv6 view after checking that it holds a whole
// fixed header (ErrTruncated), that the version is 6 (ErrBadVersion) and
// that the Payload Length does not exceed the bytes present
// (ErrBadTotalLength). Bytes past the payload (link-layer padding) are not
// part of the packet: the returned view ends with the payload.
//
// A Payload Length of zero gives an empty payload: jumbograms (RFC 2675),
// which signal their length in a Hop-by-Hop option and set Payload Length
// to zero, are not supported.
func ParseIPv6(b []byte) (IPv6, error) {
	if len(b) < IPv6MinimumSize {
		return nil, ErrTruncated
	}
	if b[ipv6VersionTCFlow]>>4 != IPv6Version {
		return nil, ErrBadVersion
	}
	// RFC 8200 §3: Payload Length counts the octets after the fixed
	// header, extension headers included.
	n := IPv6MinimumSize + int(binary.BigEndian.Uint16(b[ipv6PayloadLength:]))
	if n > len(b) {
		return nil, ErrBadTotalLength
	}
	return IPv6(b[:n]), nil
}

// Version returns the Version field (6 for a parsed view).
func (b IPv6) Version() uint8 { return b[ipv6VersionTCFlow] >> 4 }

// TrafficClass returns the 8-bit Traffic Class field (RFC 8200 §7).
func (b IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(b[ipv6VersionTCFlow:]) >> 4)
}

// DSCP returns the Differentiated Services codepoint: the upper six bits of
// the Traffic Class (RFC 2474 §3).
func (b IPv6) DSCP() uint8 { return b.TrafficClass() >> 2 }

// ECN returns the ECN field: the lower two bits of the Traffic Class
// (RFC 3168 §5: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE).
func (b IPv6) ECN() uint8 { return b.TrafficClass() & 3 }

// FlowLabel returns the 20-bit Flow Label (RFC 6437).
func (b IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(b[ipv6VersionTCFlow:]) & IPv6FlowLabelMask
}

// PayloadLength returns the Payload Length field: the size of everything
// after the fixed header.
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[ipv6PayloadLength:]) }

// NextHeader returns the Next Header field: the first extension header or
// the upper-layer protocol.
func (b IPv6) NextHeader() tcpip.TransportProtocolNumber {
	return tcpip.TransportProtocolNumber(b[ipv6NextHeader])
}

// HopLimit returns the Hop Limit field.
func (b IPv6) HopLimit() uint8 { return b[ipv6HopLimit] }

// Source returns the source address.
func (b IPv6) Source() netip.Addr { return netip.AddrFrom16([16]byte(b[ipv6Src:ipv6Dst])) }

// Destination returns the destination address.
func (b IPv6) Destination() netip.Addr {
	return netip.AddrFrom16([16]byte(b[ipv6Dst:IPv6MinimumSize]))
}

// Payload returns the bytes after the fixed header, up to Payload Length:
// the extension headers and the upper-layer data. It never extends past
// the view, even if a setter made Payload Length larger than the bytes
// present.
func (b IPv6) Payload() []byte {
	p := b[IPv6MinimumSize:]
	if n := int(b.PayloadLength()); n < len(p) {
		p = p[:n]
	}
	return p
}

// ExtHdrs returns an iterator over the extension headers and the
// upper-layer payload of the packet.
func (b IPv6) ExtHdrs() IPv6ExtHdrIterator {
	return NewIPv6ExtHdrIterator(b.NextHeader(), ipv6NextHeader, b.Payload(), IPv6MinimumSize)
}

// Fields returns the decoded fixed header.
func (b IPv6) Fields() IPv6Fields {
	return IPv6Fields{
		TrafficClass:  b.TrafficClass(),
		FlowLabel:     b.FlowLabel(),
		PayloadLength: b.PayloadLength(),
		NextHeader:    b.NextHeader(),
		HopLimit:      b.HopLimit(),
		Src:           b.Source(),
		Dst:           b.Destination(),
	}
}

// SetTrafficClass sets the Traffic Class field (a router marking ECN CE,
// RFC 3168 §5, or rewriting the DSCP).
func (b IPv6) SetTrafficClass(tc uint8) {
	v := binary.BigEndian.Uint16(b[ipv6VersionTCFlow:])
	binary.BigEndian.PutUint16(b[ipv6VersionTCFlow:], v&0xf00f|uint16(tc)<<4)
}

// SetPayloadLength sets the Payload Length field.
func (b IPv6) SetPayloadLength(n uint16) { binary.BigEndian.PutUint16(b[ipv6PayloadLength:], n) }

// SetNextHeader sets the Next Header field (as reassembly does when it
// removes the Fragment header, RFC 8200 §4.5).
func (b IPv6) SetNextHeader(p tcpip.TransportProtocolNumber) { b[ipv6NextHeader] = uint8(p) }

// SetHopLimit sets the Hop Limit field (a router decrements it, RFC 8200
// §3).
func (b IPv6) SetHopLimit(h uint8) { b[ipv6HopLimit] = h }

// SetSource sets the source address. An IPv4 address is written in its
// IPv4-mapped form and the zero Addr as ::.
func (b IPv6) SetSource(a netip.Addr) { ipv6PutAddr(b[ipv6Src:], a) }

// SetDestination sets the destination address, as SetSource.
func (b IPv6) SetDestination(a netip.Addr) { ipv6PutAddr(b[ipv6Dst:], a) }

// ipv6PutAddr writes a as 16 bytes at the start of b. The zero Addr, for
// which As16 would panic, is written as ::.
func ipv6PutAddr(b []byte, a netip.Addr) {
	if !a.IsValid() {
		clear(b[:IPv6AddressSize])
		return
	}
	a16 := a.As16()
	copy(b[:IPv6AddressSize], a16[:])
}

// IPv6Fields is an IPv6 fixed header to encode.
type IPv6Fields struct {
	// TrafficClass is the 8-bit Traffic Class (DSCP << 2 | ECN).
	TrafficClass uint8
	// FlowLabel is the flow label; bits above the low 20 are ignored.
	FlowLabel uint32
	// PayloadLength is the size of everything after the fixed header.
	PayloadLength uint16
	// NextHeader is the first extension header or the upper-layer
	// protocol.
	NextHeader tcpip.TransportProtocolNumber
	// HopLimit is the Hop Limit.
	HopLimit uint8
	// Src and Dst are the addresses; an IPv4 address is written in its
	// IPv4-mapped form and the zero Addr as ::.
	Src, Dst netip.Addr
}

// Encode writes the fixed header at the start of b, which must hold at
// least IPv6MinimumSize bytes, and returns those 40 bytes as a view.
func (f *IPv6Fields) Encode(b []byte) IPv6 {
	b = b[:IPv6MinimumSize]
	// RFC 8200 §3: version (4 bits), traffic class (8), flow label (20).
	binary.BigEndian.PutUint32(b[ipv6VersionTCFlow:],
		IPv6Version<<28|uint32(f.TrafficClass)<<20|f.FlowLabel&IPv6FlowLabelMask)
	binary.BigEndian.PutUint16(b[ipv6PayloadLength:], f.PayloadLength)
	b[ipv6NextHeader] = uint8(f.NextHeader)
	b[ipv6HopLimit] = f.HopLimit
	ipv6PutAddr(b[ipv6Src:], f.Src)
	ipv6PutAddr(b[ipv6Dst:], f.Dst)
	return IPv6(b)
}

// SolicitedNodeAddr returns the solicited-node multicast address of addr,
// ff02::1:ffXX:XXXX with the low 24 bits of addr (RFC 4291 §2.7.1), to
// which neighbour solicitations for addr are sent. It returns the zero Addr
// if addr is not an IPv6 address.
func SolicitedNodeAddr(addr netip.Addr) netip.Addr {
	if !addr.Is6() {
		return netip.Addr{}
	}
	a := addr.As16()
	return netip.AddrFrom16([16]byte{
		0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff,
		13: a[13], 14: a[14], 15: a[15],
	})
}

// IPv6EUI64InterfaceID returns the modified EUI-64 interface identifier of
// a MAC-48 address (RFC 4291 Appendix A): ff:fe inserted between its two
// halves and the universal/local bit inverted. SLAAC (RFC 4862 §5.3,
// RFC 2464 §4) appends it to a /64 prefix.
func IPv6EUI64InterfaceID(mac tcpip.LinkAddress) [8]byte {
	return [8]byte{mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]}
}

// LinkLocalAddrFromMAC returns the link-local address fe80::/64 with the
// modified EUI-64 interface identifier of mac (RFC 4291 Appendix A,
// RFC 2464 §5).
func LinkLocalAddrFromMAC(mac tcpip.LinkAddress) netip.Addr {
	a := [16]byte{0: 0xfe, 1: 0x80}
	id := IPv6EUI64InterfaceID(mac)
	copy(a[8:], id[:])
	return netip.AddrFrom16(a)
}

// EthernetAddrFromMulticastIPv6 returns the Ethernet address to which
// packets for the IPv6 multicast address addr are sent: 33:33 followed by
// the low 32 bits of addr (RFC 2464 §7). It returns the zero LinkAddress
// if addr is not an IPv6 multicast address.
func EthernetAddrFromMulticastIPv6(addr netip.Addr) tcpip.LinkAddress {
	if !addr.Is6() || !addr.IsMulticast() {
		return tcpip.LinkAddress{}
	}
	a := addr.As16()
	return tcpip.LinkAddress{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// EthernetAddrFromMulticastIPv4 returns the Ethernet address to which
// packets for the IPv4 multicast address addr are sent: 01:00:5e followed
// by a zero bit and the low 23 bits of addr (RFC 1112 §6.4). It returns the
// zero LinkAddress if addr is not an IPv4 multicast address.
func EthernetAddrFromMulticastIPv4(addr netip.Addr) tcpip.LinkAddress {
	if !addr.Is4() || !addr.IsMulticast() {
		return tcpip.LinkAddress{}
	}
	a := addr.As4()
	return tcpip.LinkAddress{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
}
