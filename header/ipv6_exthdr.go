package header

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/tcpip"
)

// Protocol numbers of the IPv6 extension headers that tcpip does not name
// (IANA "IPv6 Extension Header Types" registry).
const (
	// IPv6ESPProtocolNumber is the Encapsulating Security Payload
	// (RFC 4303). Its length is not visible without the security
	// association, so a walk of the header chain ends at it.
	IPv6ESPProtocolNumber tcpip.TransportProtocolNumber = 50
	// IPv6AHProtocolNumber is the Authentication Header (RFC 4302).
	IPv6AHProtocolNumber tcpip.TransportProtocolNumber = 51
	// IPv6MobilityProtocolNumber is the Mobility header (RFC 6275).
	IPv6MobilityProtocolNumber tcpip.TransportProtocolNumber = 135
	// IPv6HIPProtocolNumber is the Host Identity Protocol (RFC 7401).
	IPv6HIPProtocolNumber tcpip.TransportProtocolNumber = 139
	// IPv6Shim6ProtocolNumber is the Shim6 protocol (RFC 5533).
	IPv6Shim6ProtocolNumber tcpip.TransportProtocolNumber = 140
	// IPv6Experimental1ProtocolNumber and IPv6Experimental2ProtocolNumber
	// are reserved for experimentation and testing (RFC 3692, RFC 4727).
	IPv6Experimental1ProtocolNumber tcpip.TransportProtocolNumber = 253
	IPv6Experimental2ProtocolNumber tcpip.TransportProtocolNumber = 254
)

// IsIPv6ExtHdr reports whether p is registered by IANA as an IPv6
// extension header type (RFC 8200 §4, RFC 7045 §4): Hop-by-Hop Options,
// Routing, Fragment, ESP, AH, Destination Options, Mobility, HIP, Shim6 and
// the two experimental numbers. Every other value names an upper-layer
// protocol (or, for 59, nothing).
func IsIPv6ExtHdr(p tcpip.TransportProtocolNumber) bool {
	switch p {
	case tcpip.IPv6HopByHopProtocolNumber,
		tcpip.IPv6RoutingProtocolNumber,
		tcpip.IPv6FragmentProtocolNumber,
		IPv6ESPProtocolNumber,
		IPv6AHProtocolNumber,
		tcpip.IPv6DestinationOptionsNumber,
		IPv6MobilityProtocolNumber,
		IPv6HIPProtocolNumber,
		IPv6Shim6ProtocolNumber,
		IPv6Experimental1ProtocolNumber,
		IPv6Experimental2ProtocolNumber:
		return true
	}
	return false
}

// IPv6ExtHdr is one item of an IPv6 header chain, as IPv6ExtHdrIterator
// yields it: an extension header, or the final item that ends the chain.
type IPv6ExtHdr struct {
	// Type is the protocol number that announced this item in the Next
	// Header field of the previous header.
	Type tcpip.TransportProtocolNumber
	// TypeOffset is the offset in the packet of that Next Header field:
	// the ICMPv6 Parameter Problem pointer for "unrecognized Next Header
	// type" (RFC 8200 §4, RFC 4443 §3.4 code 1).
	TypeOffset int
	// Offset is the offset in the packet of Bytes[0].
	Offset int
	// Bytes is the whole extension header, its Next Header and length
	// fields included, or for the final item everything that follows the
	// last extension header.
	Bytes []byte
	// NextHeader is this extension header's Next Header field. For the
	// final item it is IPv6NoNextHeaderNumber: nothing follows in the walk.
	NextHeader tcpip.TransportProtocolNumber
	// UpperLayer marks the final item: the upper-layer protocol Type and
	// its bytes, No Next Header (59, whose bytes RFC 8200 §4.7 says to
	// ignore), ESP (which cannot be walked), or the data of a fragment
	// other than the first (typed with the Fragment header's Next Header,
	// which names the first header of the fragmentable part).
	UpperLayer bool
}

// Options returns an iterator over the options of a Hop-by-Hop or
// Destination Options header, with offsets in the packet. For any other
// item it yields nothing.
func (h IPv6ExtHdr) Options() IPv6OptionIterator {
	if h.UpperLayer || len(h.Bytes) < 2 ||
		h.Type != tcpip.IPv6HopByHopProtocolNumber && h.Type != tcpip.IPv6DestinationOptionsNumber {
		return IPv6OptionIterator{}
	}
	return IPv6OptionIterator{rest: h.Bytes[2:], off: h.Offset + 2}
}

// IPv6ExtHdrIterator walks an IPv6 header chain (RFC 8200 §4): each
// extension header in order, then one final item (see IPv6ExtHdr). Get one
// from IPv6.ExtHdrs or NewIPv6ExtHdrIterator. The zero value yields
// nothing.
//
// The walk is structural: it checks that each header fits in the packet,
// not where it stands. RFC 8200 §4.1 allows a Hop-by-Hop Options header only
// right after the fixed header (Offset 40); one found elsewhere is yielded
// like any other header, and the caller should treat it as an unrecognized
// Next Header (RFC 8200 §4). Repeated headers are likewise the caller's to
// judge.
//
// Lengths: Hop-by-Hop, Routing, Destination Options and the other
// registered extension headers (Mobility, HIP, Shim6, experimental) share
// the format of RFC 8200 §4.8 / RFC 6564: Next Header, then Hdr Ext Len in
// 8-octet units not counting the first 8. The Fragment header is 8 bytes
// (RFC 8200 §4.5). AH counts its length in 4-octet units minus 2 (RFC 4302
// §2.2). ESP ends the walk.
//
// A Fragment header with a non-zero offset ends the walk: what follows it is
// the middle of the fragmentable part, not a header. After a first
// fragment (offset 0) the walk goes on, so that a header chain that does
// not fit in the first fragment (RFC 7112 §5) shows as ErrTruncated.
type IPv6ExtHdrIterator struct {
	rest    []byte                        // the bytes not yet walked
	off     int                           // offset of rest[0] in the packet
	next    tcpip.TransportProtocolNumber // type of the next item
	nextOff int                           // offset of the field holding next
	state   uint8                         // ipv6ExtDone, ipv6ExtWalking or ipv6ExtFragData
	err     error
	errOff  int
}

const (
	ipv6ExtDone     = iota // the zero value: nothing more to yield
	ipv6ExtWalking         // walking the headers
	ipv6ExtFragData        // after a non-first Fragment header: data follows
)

// NewIPv6ExtHdrIterator returns an iterator over b, the bytes that follow a
// header whose Next Header field, at offset nextOffset in the packet, holds
// next; offset is the offset of b[0] in the packet. For the payload of an
// IPv6 packet they are 6 and 40 (see IPv6.ExtHdrs).
func NewIPv6ExtHdrIterator(next tcpip.TransportProtocolNumber, nextOffset int, b []byte, offset int) IPv6ExtHdrIterator {
	return IPv6ExtHdrIterator{rest: b, off: offset, next: next, nextOff: nextOffset, state: ipv6ExtWalking}
}

// Next returns the next item of the chain, or false after the final item or
// on a malformed header (then Err says why).
func (it *IPv6ExtHdrIterator) Next() (IPv6ExtHdr, bool) {
	if it.state == ipv6ExtDone {
		return IPv6ExtHdr{}, false
	}
	t := it.next
	if it.state == ipv6ExtFragData || !IsIPv6ExtHdr(t) || t == IPv6ESPProtocolNumber {
		it.state = ipv6ExtDone
		return IPv6ExtHdr{
			Type:       t,
			TypeOffset: it.nextOff,
			Offset:     it.off,
			Bytes:      it.rest,
			NextHeader: tcpip.IPv6NoNextHeaderNumber,
			UpperLayer: true,
		}, true
	}
	n, bad := ipv6ExtHdrSize(t, it.rest)
	if n == 0 {
		it.state = ipv6ExtDone
		it.err = ErrTruncated
		it.errOff = it.off + bad
		return IPv6ExtHdr{}, false
	}
	h := IPv6ExtHdr{
		Type:       t,
		TypeOffset: it.nextOff,
		Offset:     it.off,
		Bytes:      it.rest[:n:n],
		NextHeader: tcpip.TransportProtocolNumber(it.rest[0]),
	}
	if t == tcpip.IPv6FragmentProtocolNumber && IPv6FragmentHeader(h.Bytes).FragmentOffset() != 0 {
		it.state = ipv6ExtFragData
	}
	it.next, it.nextOff = h.NextHeader, it.off
	it.rest, it.off = it.rest[n:], it.off+n
	return h, true
}

// ipv6ExtHdrSize returns the size of the extension header of type t at the
// start of b, or 0 and the index of the offending byte if b is too short
// for it: the length field if the declared length runs past b, else the
// start of the header.
func ipv6ExtHdrSize(t tcpip.TransportProtocolNumber, b []byte) (n, bad int) {
	switch {
	case t == tcpip.IPv6FragmentProtocolNumber:
		// RFC 8200 §4.5: fixed size, the second byte is reserved.
		if len(b) < IPv6FragmentHeaderSize {
			return 0, 0
		}
		return IPv6FragmentHeaderSize, 0
	case len(b) < 2:
		return 0, 0
	case t == IPv6AHProtocolNumber:
		// RFC 4302 §2.2: Payload Len is the AH length in 4-octet units,
		// minus 2.
		n = (int(b[1]) + 2) * 4
	default:
		// RFC 8200 §4.3, §4.4, §4.6, §4.8: Hdr Ext Len is the length in
		// 8-octet units, not including the first 8 octets.
		n = (int(b[1]) + 1) * 8
	}
	if n > len(b) {
		return 0, 1
	}
	return n, 0
}

// Err returns the reason the walk stopped early: nil after the final item,
// ErrTruncated if a header runs past the end of the packet.
func (it *IPv6ExtHdrIterator) Err() error { return it.err }

// ErrOffset returns the offset in the packet of the byte that made the walk
// fail (the length field of the header that does not fit, or the start of
// a header with no room for its fixed part). It is meaningful only when Err
// is not nil.
func (it *IPv6ExtHdrIterator) ErrOffset() int { return it.errOff }

// IPv6OptionType is the Option Type of a Hop-by-Hop or Destination option
// (RFC 8200 §4.2). Its two high-order bits say what a node that does not
// recognise it must do (Action) and the third whether its data may change
// en route (MayChange).
type IPv6OptionType uint8

// Option types known to this package.
const (
	// IPv6OptionPad1 is a single byte of padding, with no length or data
	// (RFC 8200 §4.2).
	IPv6OptionPad1 IPv6OptionType = 0
	// IPv6OptionPadN is two or more bytes of padding: type, length and
	// that many zero bytes (RFC 8200 §4.2).
	IPv6OptionPadN IPv6OptionType = 1
	// IPv6OptionRouterAlert asks routers to look at the packet; its data
	// is a 16-bit value (RFC 2711 §2.1).
	IPv6OptionRouterAlert IPv6OptionType = 5
	// IPv6OptionJumboPayload carries a jumbogram's length (RFC 2675). This
	// package does not support jumbograms; its action bits (11) make a
	// node that does not either discard the packet.
	IPv6OptionJumboPayload IPv6OptionType = 0xc2
)

// Values of the Router Alert option (RFC 2711 §2.1).
const (
	IPv6RouterAlertMLD            uint16 = 0
	IPv6RouterAlertRSVP           uint16 = 1
	IPv6RouterAlertActiveNetworks uint16 = 2
)

// IPv6OptionAction is what a node must do with an option whose type it
// does not recognise (RFC 8200 §4.2).
type IPv6OptionAction uint8

// The actions, the two high-order bits of the option type.
const (
	// IPv6OptionActionSkip (00): skip the option and go on.
	IPv6OptionActionSkip IPv6OptionAction = 0
	// IPv6OptionActionDiscard (01): discard the packet silently.
	IPv6OptionActionDiscard IPv6OptionAction = 1
	// IPv6OptionActionDiscardICMP (10): discard the packet and send an
	// ICMPv6 Parameter Problem, code 2, pointing at the option type,
	// even if the destination is multicast.
	IPv6OptionActionDiscardICMP IPv6OptionAction = 2
	// IPv6OptionActionDiscardICMPUnlessMulticast (11): as
	// IPv6OptionActionDiscardICMP, but send nothing if the destination
	// is multicast.
	IPv6OptionActionDiscardICMPUnlessMulticast IPv6OptionAction = 3
)

// Action returns the action for a node that does not recognise t.
func (t IPv6OptionType) Action() IPv6OptionAction { return IPv6OptionAction(t >> 6) }

// MayChange reports whether the option's data may change en route (RFC 8200
// §4.2, third-highest bit), and so counts as zeros for an Authentication
// Header.
func (t IPv6OptionType) MayChange() bool { return t&0x20 != 0 }

// IPv6Option is one option of a Hop-by-Hop or Destination Options header.
type IPv6Option struct {
	// Type is the option type.
	Type IPv6OptionType
	// Offset is the offset of the option's type byte: in the packet when
	// it comes from IPv6ExtHdr.Options, in the header when it comes from
	// IPv6OptionsHeader.Options. It is the ICMPv6 Parameter Problem
	// pointer for an unrecognised option (RFC 8200 §4.2, RFC 4443 §3.4
	// code 2).
	Offset int
	// Data is the option data, without type and length (nil for Pad1).
	Data []byte
}

// RouterAlert returns the value of a Router Alert option (RFC 2711 §2.1),
// or false if o is not one or its length is not 2.
func (o IPv6Option) RouterAlert() (uint16, bool) {
	if o.Type != IPv6OptionRouterAlert || len(o.Data) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(o.Data), true
}

// IPv6OptionIterator walks the options area of a Hop-by-Hop or Destination
// Options header (RFC 8200 §4.2), padding included: Pad1 and PadN are
// yielded like any other option. The zero value yields nothing.
type IPv6OptionIterator struct {
	rest   []byte
	off    int
	err    error
	errOff int
}

// Next returns the next option, or false at the end of the area or on a
// malformed option (then Err says why).
func (it *IPv6OptionIterator) Next() (IPv6Option, bool) {
	if len(it.rest) == 0 {
		return IPv6Option{}, false
	}
	t := IPv6OptionType(it.rest[0])
	if t == IPv6OptionPad1 {
		// RFC 8200 §4.2: Pad1 is the one option with no length byte.
		o := IPv6Option{Type: t, Offset: it.off}
		it.rest, it.off = it.rest[1:], it.off+1
		return o, true
	}
	if len(it.rest) < 2 {
		return it.fail(0)
	}
	n := 2 + int(it.rest[1])
	if n > len(it.rest) {
		return it.fail(1)
	}
	if t == IPv6OptionRouterAlert && n != 4 {
		// RFC 2711 §2.1: Opt Data Len is 2.
		return it.fail(1)
	}
	o := IPv6Option{Type: t, Offset: it.off, Data: it.rest[2:n:n]}
	it.rest, it.off = it.rest[n:], it.off+n
	return o, true
}

func (it *IPv6OptionIterator) fail(bad int) (IPv6Option, bool) {
	it.err, it.errOff = ErrBadOption, it.off+bad
	it.rest = nil
	return IPv6Option{}, false
}

// Err returns the reason the walk stopped early: nil at the end of the
// area, ErrBadOption if an option's length runs past the area or a Router
// Alert's length is not 2.
func (it *IPv6OptionIterator) Err() error { return it.err }

// ErrOffset returns the offset of the byte that made the walk fail (the
// length byte of the bad option, or its type byte if the area ends before
// the length). It is meaningful only when Err is not nil.
func (it *IPv6OptionIterator) ErrOffset() int { return it.errOff }

// AppendIPv6Option appends an option in type-length-value form to b (only
// the type byte for Pad1) and returns the extended slice, to build
// IPv6OptionsHeaderFields.Options. data must be at most 255 bytes.
func AppendIPv6Option(b []byte, t IPv6OptionType, data []byte) []byte {
	if t == IPv6OptionPad1 {
		return append(b, byte(t))
	}
	if len(data) > 0xff {
		panic("header: IPv6 option data longer than 255 bytes")
	}
	b = append(b, byte(t), byte(len(data)))
	return append(b, data...)
}

// IPv6OptionsHeader is a view of a Hop-by-Hop Options (RFC 8200 §4.3) or
// Destination Options (RFC 8200 §4.6) header.
type IPv6OptionsHeader []byte

// IPv6ExtHdrMinimumSize is the size of the smallest extension header
// (8 bytes: every extension header is a multiple of 8 octets long).
const IPv6ExtHdrMinimumSize = 8

// IPv6ExtHdrMaximumSize is the size of the largest extension header in
// the common format (RFC 8200 §4.8): a Hdr Ext Len of 255.
const IPv6ExtHdrMaximumSize = 256 * 8

// ParseIPv6OptionsHeader returns the options header at the start of b,
// trimmed to the length its Hdr Ext Len declares, or ErrTruncated if b is
// shorter. The options are checked as they are iterated.
func ParseIPv6OptionsHeader(b []byte) (IPv6OptionsHeader, error) {
	n, _ := ipv6ExtHdrSize(tcpip.IPv6DestinationOptionsNumber, b)
	if n == 0 {
		return nil, ErrTruncated
	}
	return IPv6OptionsHeader(b[:n]), nil
}

// NextHeader returns the Next Header field.
func (b IPv6OptionsHeader) NextHeader() tcpip.TransportProtocolNumber {
	return tcpip.TransportProtocolNumber(b[0])
}

// Options returns an iterator over the options, with offsets counted from
// the start of the header.
func (b IPv6OptionsHeader) Options() IPv6OptionIterator {
	if len(b) < 2 {
		return IPv6OptionIterator{}
	}
	return IPv6OptionIterator{rest: b[2:], off: 2}
}

// Fields returns the decoded header; Options holds the options area as it
// is, padding included.
func (b IPv6OptionsHeader) Fields() IPv6OptionsHeaderFields {
	return IPv6OptionsHeaderFields{NextHeader: b.NextHeader(), Options: b[2:]}
}

// IPv6OptionsHeaderFields is a Hop-by-Hop or Destination Options header to
// encode.
type IPv6OptionsHeaderFields struct {
	// NextHeader is the header that follows.
	NextHeader tcpip.TransportProtocolNumber
	// Options is the encoded options, in order (see AppendIPv6Option).
	// Encode pads them to a multiple of 8 bytes; options with alignment
	// requirements (RFC 8200 §4.2) must be preceded by explicit padding.
	Options []byte
}

// Size returns the size of the encoded header: 2 bytes plus the options,
// rounded up to a multiple of 8.
func (f *IPv6OptionsHeaderFields) Size() int { return (2 + len(f.Options) + 7) &^ 7 }

// Encode writes the header at the start of b, which must hold Size bytes,
// and returns it as a view. The bytes after the options are filled with a
// Pad1 option if one byte remains and a PadN option otherwise (RFC 8200
// §4.2). Options longer than IPv6ExtHdrMaximumSize-2 bytes panic.
func (f *IPv6OptionsHeaderFields) Encode(b []byte) IPv6OptionsHeader {
	n := f.Size()
	if n > IPv6ExtHdrMaximumSize {
		panic("header: IPv6 options header longer than 2048 bytes")
	}
	b = b[:n]
	b[0] = byte(f.NextHeader)
	b[1] = byte(n/8 - 1)
	end := 2 + copy(b[2:], f.Options)
	ipv6PutPadding(b[end:])
	return IPv6OptionsHeader(b)
}

// ipv6PutPadding fills b with one padding option: nothing for an empty b,
// Pad1 for one byte, PadN with zero data for more (RFC 8200 §4.2).
func ipv6PutPadding(b []byte) {
	switch len(b) {
	case 0:
	case 1:
		b[0] = byte(IPv6OptionPad1)
	default:
		b[0] = byte(IPv6OptionPadN)
		b[1] = byte(len(b) - 2)
		clear(b[2:])
	}
}

// IPv6RouterAlertHopByHopSize is the size of the Hop-by-Hop Options header
// that IPv6RouterAlertHopByHopFields encodes.
const IPv6RouterAlertHopByHopSize = 8

// IPv6RouterAlertHopByHopFields is a Hop-by-Hop Options header that holds
// only a Router Alert option (RFC 2711), as MLD messages carry it (RFC 2710
// §3, RFC 3810 §5).
type IPv6RouterAlertHopByHopFields struct {
	// NextHeader is the header that follows (ICMPv6 for MLD).
	NextHeader tcpip.TransportProtocolNumber
	// Value is the Router Alert value (IPv6RouterAlertMLD for MLD).
	Value uint16
}

// Encode writes the 8-byte header at the start of b: Next Header, a Hdr
// Ext Len of 0, the Router Alert option and a 2-byte PadN.
func (f *IPv6RouterAlertHopByHopFields) Encode(b []byte) IPv6OptionsHeader {
	b = b[:IPv6RouterAlertHopByHopSize]
	b[0] = byte(f.NextHeader)
	b[1] = 0
	b[2] = byte(IPv6OptionRouterAlert)
	b[3] = 2
	binary.BigEndian.PutUint16(b[4:], f.Value)
	ipv6PutPadding(b[6:])
	return IPv6OptionsHeader(b)
}

// IPv6RoutingType is the Routing Type of a Routing header (IANA "Routing
// Types" registry).
type IPv6RoutingType uint8

// Routing types.
const (
	// IPv6RoutingTypeSource is the deprecated type 0 (RFC 5095 §3): a node
	// must treat it as an unrecognised routing type.
	IPv6RoutingTypeSource IPv6RoutingType = 0
	// IPv6RoutingTypeNimrod is type 1, deprecated.
	IPv6RoutingTypeNimrod IPv6RoutingType = 1
	// IPv6RoutingTypeMobility is the Mobile IPv6 type 2 (RFC 6275 §6.4).
	IPv6RoutingTypeMobility IPv6RoutingType = 2
	// IPv6RoutingTypeRPL is the RPL source route, type 3 (RFC 6554).
	IPv6RoutingTypeRPL IPv6RoutingType = 3
	// IPv6RoutingTypeSegmentRouting is the Segment Routing Header, type 4
	// (RFC 8754).
	IPv6RoutingTypeSegmentRouting IPv6RoutingType = 4
)

// Offsets within a Routing header of the fields a node points at in an
// ICMPv6 Parameter Problem (RFC 8200 §4.4: an unrecognised Routing Type
// with Segments Left non-zero; RFC 8754 §4.3.1.1: Segments Left beyond the
// segment list). Add IPv6ExtHdr.Offset for the packet offset.
const (
	IPv6RoutingTypePointer  = 2
	IPv6SegmentsLeftPointer = 3
)

const (
	ipv6RoutingNextHeader   = 0
	ipv6RoutingType         = 2
	ipv6RoutingSegmentsLeft = 3
	ipv6RoutingData         = 4
)

// IPv6RoutingHeader is a view of a Routing header (RFC 8200 §4.4).
type IPv6RoutingHeader []byte

// ParseIPv6RoutingHeader returns the Routing header at the start of b,
// trimmed to the length its Hdr Ext Len declares, or ErrTruncated if b is
// shorter.
func ParseIPv6RoutingHeader(b []byte) (IPv6RoutingHeader, error) {
	n, _ := ipv6ExtHdrSize(tcpip.IPv6RoutingProtocolNumber, b)
	if n == 0 {
		return nil, ErrTruncated
	}
	return IPv6RoutingHeader(b[:n]), nil
}

// NextHeader returns the Next Header field.
func (b IPv6RoutingHeader) NextHeader() tcpip.TransportProtocolNumber {
	return tcpip.TransportProtocolNumber(b[ipv6RoutingNextHeader])
}

// RoutingType returns the Routing Type field.
func (b IPv6RoutingHeader) RoutingType() IPv6RoutingType {
	return IPv6RoutingType(b[ipv6RoutingType])
}

// SegmentsLeft returns the Segments Left field: the number of route
// segments still to visit.
func (b IPv6RoutingHeader) SegmentsLeft() uint8 { return b[ipv6RoutingSegmentsLeft] }

// SetSegmentsLeft sets the Segments Left field.
func (b IPv6RoutingHeader) SetSegmentsLeft(n uint8) { b[ipv6RoutingSegmentsLeft] = n }

// TypeData returns the type-specific data: everything after the first four
// bytes.
func (b IPv6RoutingHeader) TypeData() []byte { return b[ipv6RoutingData:] }

// SegmentRouting returns b as a Segment Routing Header (see
// ParseIPv6SegmentRouting).
func (b IPv6RoutingHeader) SegmentRouting() (IPv6SegmentRouting, error) {
	return ParseIPv6SegmentRouting(b)
}

// Fields returns the decoded header.
func (b IPv6RoutingHeader) Fields() IPv6RoutingHeaderFields {
	return IPv6RoutingHeaderFields{
		NextHeader:   b.NextHeader(),
		RoutingType:  b.RoutingType(),
		SegmentsLeft: b.SegmentsLeft(),
		Data:         b.TypeData(),
	}
}

// IPv6RoutingHeaderFields is a Routing header to encode.
type IPv6RoutingHeaderFields struct {
	NextHeader   tcpip.TransportProtocolNumber
	RoutingType  IPv6RoutingType
	SegmentsLeft uint8
	// Data is the type-specific data; Encode pads it with zeros so that
	// the header is a multiple of 8 bytes long.
	Data []byte
}

// Size returns the size of the encoded header.
func (f *IPv6RoutingHeaderFields) Size() int { return (ipv6RoutingData + len(f.Data) + 7) &^ 7 }

// Encode writes the header at the start of b, which must hold Size bytes,
// and returns it as a view. A header longer than 2048 bytes panics.
func (f *IPv6RoutingHeaderFields) Encode(b []byte) IPv6RoutingHeader {
	n := f.Size()
	if n > IPv6ExtHdrMaximumSize {
		panic("header: IPv6 routing header longer than 2048 bytes")
	}
	b = b[:n]
	b[ipv6RoutingNextHeader] = byte(f.NextHeader)
	b[1] = byte(n/8 - 1)
	b[ipv6RoutingType] = byte(f.RoutingType)
	b[ipv6RoutingSegmentsLeft] = f.SegmentsLeft
	end := ipv6RoutingData + copy(b[ipv6RoutingData:], f.Data)
	clear(b[end:])
	return IPv6RoutingHeader(b)
}

// IPv6SegmentRouting is a view of a Segment Routing Header (RFC 8754 §2),
// a Routing header of type 4.
type IPv6SegmentRouting []byte

const (
	ipv6SRHLastEntry = 4
	ipv6SRHFlags     = 5
	ipv6SRHTag       = 6
	ipv6SRHSegments  = 8
)

// ParseIPv6SegmentRouting returns the Segment Routing Header at the start
// of b, trimmed to its Hdr Ext Len. It returns ErrTruncated if b is shorter
// than that, ErrUnsupported if the routing type is not 4, and ErrBadOption
// if the segment list (Last Entry + 1 addresses) does not fit in the
// header. A Segments Left beyond the list is not an error here: RFC 8754
// §4.3.1.1 has the segment endpoint check it.
func ParseIPv6SegmentRouting(b []byte) (IPv6SegmentRouting, error) {
	rh, err := ParseIPv6RoutingHeader(b)
	if err != nil {
		return nil, err
	}
	if rh.RoutingType() != IPv6RoutingTypeSegmentRouting {
		return nil, ErrUnsupported
	}
	if ipv6SRHSegments+(int(rh[ipv6SRHLastEntry])+1)*IPv6AddressSize > len(rh) {
		return nil, ErrBadOption
	}
	return IPv6SegmentRouting(rh), nil
}

// NextHeader returns the Next Header field.
func (b IPv6SegmentRouting) NextHeader() tcpip.TransportProtocolNumber {
	return tcpip.TransportProtocolNumber(b[ipv6RoutingNextHeader])
}

// SegmentsLeft returns the Segments Left field: the index of the active
// segment plus one, counting down from the last segment (RFC 8754 §2).
func (b IPv6SegmentRouting) SegmentsLeft() uint8 { return b[ipv6RoutingSegmentsLeft] }

// SetSegmentsLeft sets the Segments Left field.
func (b IPv6SegmentRouting) SetSegmentsLeft(n uint8) { b[ipv6RoutingSegmentsLeft] = n }

// LastEntry returns the Last Entry field: the index of the last element of
// the segment list.
func (b IPv6SegmentRouting) LastEntry() uint8 { return b[ipv6SRHLastEntry] }

// Flags returns the Flags field (no flags are defined by RFC 8754).
func (b IPv6SegmentRouting) Flags() uint8 { return b[ipv6SRHFlags] }

// Tag returns the Tag field.
func (b IPv6SegmentRouting) Tag() uint16 { return binary.BigEndian.Uint16(b[ipv6SRHTag:]) }

// NumSegments returns the length of the segment list, LastEntry + 1.
func (b IPv6SegmentRouting) NumSegments() int { return int(b.LastEntry()) + 1 }

// Segment returns element i of the segment list. The list is in reverse
// order: element 0 is the last segment of the path (RFC 8754 §2). It
// returns the zero Addr if i is out of range.
func (b IPv6SegmentRouting) Segment(i int) netip.Addr {
	if i < 0 || i >= b.NumSegments() {
		return netip.Addr{}
	}
	o := ipv6SRHSegments + i*IPv6AddressSize
	return netip.AddrFrom16([16]byte(b[o : o+IPv6AddressSize]))
}

// TLVs returns the bytes after the segment list: the optional TLV objects
// (RFC 8754 §2.1).
func (b IPv6SegmentRouting) TLVs() []byte {
	return b[ipv6SRHSegments+b.NumSegments()*IPv6AddressSize:]
}

// IPv6FragmentHeaderSize is the size of the Fragment header.
const IPv6FragmentHeaderSize = 8

const (
	ipv6FragNextHeader = 0
	ipv6FragOffsetM    = 2 // 13-bit offset, 2 reserved bits, M flag
	ipv6FragID         = 4
)

// IPv6FragmentHeader is a view of a Fragment header (RFC 8200 §4.5).
type IPv6FragmentHeader []byte

// ParseIPv6FragmentHeader returns the Fragment header at the start of b,
// trimmed to 8 bytes, or ErrTruncated if b is shorter.
func ParseIPv6FragmentHeader(b []byte) (IPv6FragmentHeader, error) {
	if len(b) < IPv6FragmentHeaderSize {
		return nil, ErrTruncated
	}
	return IPv6FragmentHeader(b[:IPv6FragmentHeaderSize]), nil
}

// NextHeader returns the Next Header field: the first header of the
// fragmentable part.
func (b IPv6FragmentHeader) NextHeader() tcpip.TransportProtocolNumber {
	return tcpip.TransportProtocolNumber(b[ipv6FragNextHeader])
}

// FragmentOffset returns the offset in bytes of the fragment's data within
// the fragmentable part (the field counts 8-octet units).
func (b IPv6FragmentHeader) FragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[ipv6FragOffsetM:]) &^ 7
}

// More reports whether the M flag is set: more fragments follow.
func (b IPv6FragmentHeader) More() bool { return b[ipv6FragOffsetM+1]&1 != 0 }

// ID returns the Identification field.
func (b IPv6FragmentHeader) ID() uint32 { return binary.BigEndian.Uint32(b[ipv6FragID:]) }

// IsAtomic reports whether the header describes an atomic fragment: offset
// 0 and M clear, a whole packet that RFC 6946 §4 says to process without
// reassembly.
func (b IPv6FragmentHeader) IsAtomic() bool { return b.FragmentOffset() == 0 && !b.More() }

// Fields returns the decoded header.
func (b IPv6FragmentHeader) Fields() IPv6FragmentHeaderFields {
	return IPv6FragmentHeaderFields{
		NextHeader:     b.NextHeader(),
		FragmentOffset: b.FragmentOffset(),
		More:           b.More(),
		ID:             b.ID(),
	}
}

// IPv6FragmentHeaderFields is a Fragment header to encode.
type IPv6FragmentHeaderFields struct {
	NextHeader tcpip.TransportProtocolNumber
	// FragmentOffset is the offset in bytes; it must be a multiple of 8
	// (its low three bits are dropped).
	FragmentOffset uint16
	More           bool
	ID             uint32
}

// Encode writes the 8-byte header at the start of b, reserved fields zero
// (RFC 8200 §4.5), and returns it as a view.
func (f *IPv6FragmentHeaderFields) Encode(b []byte) IPv6FragmentHeader {
	b = b[:IPv6FragmentHeaderSize]
	b[ipv6FragNextHeader] = byte(f.NextHeader)
	b[1] = 0
	v := f.FragmentOffset &^ 7
	if f.More {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[ipv6FragOffsetM:], v)
	binary.BigEndian.PutUint32(b[ipv6FragID:], f.ID)
	return IPv6FragmentHeader(b)
}
