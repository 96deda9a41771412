package header

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/tcpip"
)

// IPv4 is a view of an IPv4 datagram (RFC 791 §3.1): the header, its
// options and the payload. A view from ParseIPv4 ends at the datagram's
// Total Length; bytes the link added after it (Ethernet padding) are not
// part of it.
type IPv4 []byte

// IPv4 sizes and limits.
const (
	// IPv4MinimumSize is the size of a header without options.
	IPv4MinimumSize = 20
	// IPv4MaximumHeaderSize is the largest header: IHL 15, 60 bytes.
	IPv4MaximumHeaderSize = 60
	// IPv4MaximumOptionsSize is the largest options area.
	IPv4MaximumOptionsSize = IPv4MaximumHeaderSize - IPv4MinimumSize
	// IPv4MaximumPacketSize is the largest Total Length.
	IPv4MaximumPacketSize = 65535
	// IPv4MaximumPayloadSize is the largest payload, behind a header
	// without options.
	IPv4MaximumPayloadSize = IPv4MaximumPacketSize - IPv4MinimumSize
	// IPv4MinimumMTU is the smallest MTU of an IPv4 link: RFC 791 §3.1
	// (Total Length) requires every module to forward 68 bytes without
	// fragmenting, a 60-byte header plus the smallest fragment, 8 bytes.
	IPv4MinimumMTU = 68
	// IPv4AddressSize is the size of an IPv4 address.
	IPv4AddressSize = 4
	// IPv4Version is the value of the Version field.
	IPv4Version = 4
	// IPv4FragmentOffsetUnit is the unit of the Fragment Offset field:
	// every fragment but the last carries a multiple of 8 bytes.
	IPv4FragmentOffsetUnit = 8
	// IPv4MaximumFragmentOffset is the largest fragment offset in bytes.
	IPv4MaximumFragmentOffset = 0x1fff * IPv4FragmentOffsetUnit
)

const (
	ipv4VersionIHL   = 0
	ipv4TOS          = 1
	ipv4TotalLength  = 2
	ipv4ID           = 4
	ipv4FlagsFragOff = 6
	ipv4TTL          = 8
	ipv4Protocol     = 9
	ipv4Checksum     = 10
	ipv4Source       = 12
	ipv4Destination  = 16
	ipv4Options      = 20

	ipv4FragOffMask  = 0x1fff
	ipv4FlagsShift   = 13
	ipv4TTLProtoWord = ipv4TTL // TTL and Protocol share one checksummed word
)

// IPv4Flags holds the three flag bits of RFC 791 §3.1, in the low bits.
type IPv4Flags uint8

// The flags.
const (
	// IPv4FlagMoreFragments (MF): more fragments of this datagram follow.
	IPv4FlagMoreFragments IPv4Flags = 1 << 0
	// IPv4FlagDontFragment (DF): the datagram must not be fragmented.
	IPv4FlagDontFragment IPv4Flags = 1 << 1
	// IPv4FlagReserved is bit 0 of the field, which RFC 791 says must be
	// zero. ParseIPv4 does not reject it.
	IPv4FlagReserved IPv4Flags = 1 << 2
)

// String returns the set flags as "DF|MF", or "0" if none is.
func (f IPv4Flags) String() string {
	if f&7 == 0 {
		return "0"
	}
	var buf [len("RES|DF|MF")]byte
	s := buf[:0]
	for _, fl := range [...]struct {
		bit  IPv4Flags
		name string
	}{{IPv4FlagReserved, "RES"}, {IPv4FlagDontFragment, "DF"}, {IPv4FlagMoreFragments, "MF"}} {
		if f&fl.bit != 0 {
			if len(s) > 0 {
				s = append(s, '|')
			}
			s = append(s, fl.name...)
		}
	}
	return string(s)
}

// ParseIPv4 returns b, up to its Total Length, as an IPv4 view. It returns
// ErrTruncated if b is shorter than IPv4MinimumSize, ErrBadVersion if the
// version is not 4, ErrBadHeaderLength if IHL is below 5 or the header runs
// past b, and ErrBadTotalLength if Total Length is shorter than the header or
// longer than b. Neither the checksum nor the options are checked: see
// IsChecksumValid and OptionIterator.
func ParseIPv4(b []byte) (IPv4, error) {
	if len(b) < IPv4MinimumSize {
		return nil, ErrTruncated
	}
	// RFC 1122 §3.2.1.1: a datagram whose version is not 4 is discarded.
	if b[ipv4VersionIHL]>>4 != IPv4Version {
		return nil, ErrBadVersion
	}
	// RFC 791 §3.1: IHL counts 32-bit words; "the minimum value for a
	// correct header is 5" (RFC 1812 §5.2.2 (4)).
	hl := int(b[ipv4VersionIHL]&0xf) * 4
	if hl < IPv4MinimumSize || hl > len(b) {
		return nil, ErrBadHeaderLength
	}
	// RFC 791 §3.1: Total Length covers header and data. RFC 1812
	// §5.2.2 (5) discards a datagram whose Total Length cannot hold its
	// header; like Linux (ip_rcv_core) we also discard one longer than
	// what the link delivered. Bytes beyond it are link-layer padding.
	tl := int(binary.BigEndian.Uint16(b[ipv4TotalLength:]))
	if tl < hl || tl > len(b) {
		return nil, ErrBadTotalLength
	}
	return IPv4(b[:tl]), nil
}

// Version returns the Version field (4 after ParseIPv4).
func (b IPv4) Version() uint8 { return b[ipv4VersionIHL] >> 4 }

// IHL returns the Internet Header Length field, in 32-bit words.
func (b IPv4) IHL() uint8 { return b[ipv4VersionIHL] & 0xf }

// HeaderLength returns the header length in bytes, options included.
func (b IPv4) HeaderLength() int { return int(b[ipv4VersionIHL]&0xf) * 4 }

// TOS returns the Type of Service byte, which RFC 2474 and RFC 3168 split
// into DSCP and ECN.
func (b IPv4) TOS() uint8 { return b[ipv4TOS] }

// DSCP returns the Differentiated Services codepoint, the top six bits of
// the TOS byte (RFC 2474 §3).
func (b IPv4) DSCP() uint8 { return b[ipv4TOS] >> 2 }

// ECN returns the ECN field, the low two bits of the TOS byte (RFC 3168
// §5: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE).
func (b IPv4) ECN() uint8 { return b[ipv4TOS] & 3 }

// TotalLength returns the Total Length field: header and payload in bytes.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipv4TotalLength:]) }

// ID returns the Identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipv4ID:]) }

// Flags returns the three flag bits.
func (b IPv4) Flags() IPv4Flags {
	return IPv4Flags(binary.BigEndian.Uint16(b[ipv4FlagsFragOff:]) >> ipv4FlagsShift)
}

// FragmentOffset returns the fragment's offset in the original datagram's
// payload, in bytes (the field counts 8-byte units).
func (b IPv4) FragmentOffset() uint16 {
	return (binary.BigEndian.Uint16(b[ipv4FlagsFragOff:]) & ipv4FragOffMask) * IPv4FragmentOffsetUnit
}

// More reports whether the More Fragments flag is set.
func (b IPv4) More() bool { return b.Flags()&IPv4FlagMoreFragments != 0 }

// DontFragment reports whether the Don't Fragment flag is set.
func (b IPv4) DontFragment() bool { return b.Flags()&IPv4FlagDontFragment != 0 }

// IsFragment reports whether b is a fragment rather than a whole datagram:
// More Fragments is set or the offset is not zero (RFC 791 §3.2).
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[ipv4FlagsFragOff:])&(uint16(IPv4FlagMoreFragments)<<ipv4FlagsShift|ipv4FragOffMask) != 0
}

// IsFirstFragment reports whether b starts its datagram's payload (offset
// zero), so that it carries the transport header. A whole datagram is its
// own first fragment.
func (b IPv4) IsFirstFragment() bool {
	return binary.BigEndian.Uint16(b[ipv4FlagsFragOff:])&ipv4FragOffMask == 0
}

// TTL returns the Time to Live.
func (b IPv4) TTL() uint8 { return b[ipv4TTL] }

// Protocol returns the Protocol field.
func (b IPv4) Protocol() tcpip.TransportProtocolNumber {
	return tcpip.TransportProtocolNumber(b[ipv4Protocol])
}

// Checksum returns the Header Checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipv4Checksum:]) }

// Source returns the source address.
func (b IPv4) Source() netip.Addr {
	return netip.AddrFrom4([4]byte(b[ipv4Source:ipv4Destination]))
}

// Destination returns the destination address.
func (b IPv4) Destination() netip.Addr {
	return netip.AddrFrom4([4]byte(b[ipv4Destination:ipv4Options]))
}

// Options returns the options area, padding included (see OptionIterator).
func (b IPv4) Options() []byte { return b[ipv4Options:b.HeaderLength()] }

// Header returns the header, options included.
func (b IPv4) Header() []byte { return b[:b.HeaderLength()] }

// Payload returns the bytes after the header up to Total Length. After a
// setter has made Total Length disagree with len(b), it returns what of
// that range b holds.
func (b IPv4) Payload() []byte {
	start, end := b.HeaderLength(), min(int(b.TotalLength()), len(b))
	if end < start {
		end = start
	}
	return b[start:end]
}

// CalculateChecksum returns the Header Checksum that b's header should carry:
// the complement of the one's-complement sum of the header with the checksum
// field taken as zero (RFC 791 §3.1).
func (b IPv4) CalculateChecksum() uint16 {
	sum := Checksum(b[:ipv4Checksum], 0)
	return ^Checksum(b[ipv4Source:b.HeaderLength()], sum)
}

// IsChecksumValid reports whether the Header Checksum is correct: the header
// sums to all ones (RFC 1071 §1). RFC 1122 §3.2.1.2 requires a host to
// discard a datagram that fails.
func (b IPv4) IsChecksumValid() bool {
	return Checksum(b[:b.HeaderLength()], 0) == 0xffff
}

// SetChecksum sets the Header Checksum field.
func (b IPv4) SetChecksum(xsum uint16) {
	binary.BigEndian.PutUint16(b[ipv4Checksum:], xsum)
}

// The setters below rewrite a field in place and update the Header Checksum
// incrementally (RFC 1624 eqn. 3), so that a header whose checksum was valid
// stays valid and one whose checksum was wrong stays wrong: a forwarder does
// not hide corruption by summing the header afresh.

// ipv4SetWord writes the 16-bit word at off and updates the checksum.
func (b IPv4) ipv4SetWord(off int, v uint16) {
	old := binary.BigEndian.Uint16(b[off:])
	if old == v {
		// RFC 1624 erratum 4782: eqn. 3 with m == m' turns a
		// checksum of 0x0000 into 0xffff; leave it alone.
		return
	}
	binary.BigEndian.PutUint16(b[off:], v)
	b.SetChecksum(ChecksumUpdate(b.Checksum(), old, v))
}

// SetTOS sets the TOS byte (DSCP and ECN), as when marking CE (RFC 3168 §5).
// It updates the checksum.
func (b IPv4) SetTOS(tos uint8) {
	b.ipv4SetWord(ipv4VersionIHL, uint16(b[ipv4VersionIHL])<<8|uint16(tos))
}

// SetTotalLength sets the Total Length field, as a fragmenter does. It
// updates the checksum.
func (b IPv4) SetTotalLength(n uint16) { b.ipv4SetWord(ipv4TotalLength, n) }

// SetID sets the Identification field. It updates the checksum.
func (b IPv4) SetID(id uint16) { b.ipv4SetWord(ipv4ID, id) }

// SetFlagsFragmentOffset sets the flags and the fragment offset, given in
// bytes. It updates the checksum. It panics if offset is not a multiple of
// IPv4FragmentOffsetUnit, a fragmenter's bug.
func (b IPv4) SetFlagsFragmentOffset(flags IPv4Flags, offset uint16) {
	b.ipv4SetWord(ipv4FlagsFragOff, ipv4FlagsFragOffWord(flags, offset))
}

func ipv4FlagsFragOffWord(flags IPv4Flags, offset uint16) uint16 {
	// RFC 791 §3.2: fragments other than the last carry a multiple of
	// 8 bytes, so every offset is one.
	if offset%IPv4FragmentOffsetUnit != 0 {
		panic("header: IPv4 fragment offset not a multiple of 8")
	}
	return uint16(flags&7)<<ipv4FlagsShift | offset/IPv4FragmentOffsetUnit
}

// SetTTL sets the Time to Live, as a forwarder decrements it (RFC 1812
// §5.3.1). It updates the checksum.
func (b IPv4) SetTTL(ttl uint8) {
	b.ipv4SetWord(ipv4TTLProtoWord, uint16(ttl)<<8|uint16(b[ipv4Protocol]))
}

// SetSource sets the source address, as source NAT does. addr must be an
// IPv4 address. It updates the header checksum, not the transport
// checksum: see ChecksumUpdateAddress.
func (b IPv4) SetSource(addr netip.Addr) { b.ipv4SetAddr(ipv4Source, addr) }

// SetDestination sets the destination address, as destination NAT does.
// addr must be an IPv4 address. It updates the header checksum, not the
// transport checksum.
func (b IPv4) SetDestination(addr netip.Addr) { b.ipv4SetAddr(ipv4Destination, addr) }

func (b IPv4) ipv4SetAddr(off int, addr netip.Addr) {
	a := addr.As4()
	b.ipv4SetWord(off, binary.BigEndian.Uint16(a[0:]))
	b.ipv4SetWord(off+2, binary.BigEndian.Uint16(a[2:]))
}

// Fields returns the decoded header. Options aliases b.
func (b IPv4) Fields() IPv4Fields {
	return IPv4Fields{
		TOS:            b.TOS(),
		TotalLength:    b.TotalLength(),
		ID:             b.ID(),
		Flags:          b.Flags(),
		FragmentOffset: b.FragmentOffset(),
		TTL:            b.TTL(),
		Protocol:       b.Protocol(),
		Source:         b.Source(),
		Destination:    b.Destination(),
		Options:        b.Options(),
	}
}

// IPv4Fields is an IPv4 header to encode. Version and IHL are implied; the
// checksum is computed by Encode.
type IPv4Fields struct {
	TOS uint8
	// TotalLength is the length of the whole datagram, header included
	// (Size() plus the payload's length).
	TotalLength uint16
	ID          uint16
	Flags       IPv4Flags
	// FragmentOffset is in bytes and must be a multiple of
	// IPv4FragmentOffsetUnit.
	FragmentOffset uint16
	TTL            uint8
	Protocol       tcpip.TransportProtocolNumber
	// Source and Destination must be IPv4 addresses.
	Source      netip.Addr
	Destination netip.Addr
	// Options is the options area, at most IPv4MaximumOptionsSize bytes;
	// Encode pads it to a multiple of 4 with End of Option List bytes.
	Options []byte
}

// Size returns the header's size: IPv4MinimumSize plus the options padded
// to a multiple of 4.
func (f *IPv4Fields) Size() int { return IPv4MinimumSize + (len(f.Options)+3)&^3 }

// Encode writes the header at the start of b, which must hold Size() bytes,
// computes its checksum and returns b, up to the header's end, as a view.
// It panics if the options are longer than IPv4MaximumOptionsSize.
func (f *IPv4Fields) Encode(b []byte) IPv4 {
	hl := f.Size()
	if hl > IPv4MaximumHeaderSize {
		panic("header: IPv4 options longer than 40 bytes")
	}
	b = b[:hl]
	b[ipv4VersionIHL] = IPv4Version<<4 | uint8(hl/4)
	b[ipv4TOS] = f.TOS
	binary.BigEndian.PutUint16(b[ipv4TotalLength:], f.TotalLength)
	binary.BigEndian.PutUint16(b[ipv4ID:], f.ID)
	binary.BigEndian.PutUint16(b[ipv4FlagsFragOff:], ipv4FlagsFragOffWord(f.Flags, f.FragmentOffset))
	b[ipv4TTL] = f.TTL
	b[ipv4Protocol] = uint8(f.Protocol)
	binary.BigEndian.PutUint16(b[ipv4Checksum:], 0)
	src, dst := f.Source.As4(), f.Destination.As4()
	copy(b[ipv4Source:], src[:])
	copy(b[ipv4Destination:], dst[:])
	n := copy(b[ipv4Options:], f.Options)
	// RFC 791 §3.1 (Padding): the header ends on a 32-bit boundary,
	// padded with zeros, which read as End of Option List.
	clear(b[ipv4Options+n:])
	h := IPv4(b)
	h.SetChecksum(h.CalculateChecksum())
	return h
}
