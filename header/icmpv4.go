package header

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// ICMPv4 is a view of an ICMP message for IPv4 (RFC 792): the 8-byte header
// (type, code, checksum and a 32-bit word whose meaning depends on the
// type) followed by the message body. For error messages the body is the
// start of the datagram that caused the error; for echo messages it is the
// echoed data.
type ICMPv4 []byte

const (
	// ICMPv4MinimumSize is the size of the ICMPv4 header: every message
	// has at least type, code, checksum and the type-specific word.
	ICMPv4MinimumSize = 8
	// ICMPv4MinimumErrorPayloadSize is how much of the offending datagram
	// RFC 792 requires an error to quote: its IPv4 header (at least 20
	// bytes) and the first 64 bits of its data. RFC 1812 §4.3.2.3 lets a
	// router quote more (up to 576 bytes in all), and Linux does.
	ICMPv4MinimumErrorPayloadSize = 20 + 8
	// ICMPv4MaximumErrorSize is how large an ICMPv4 error message may
	// grow with its quote when sent in an IPv4 packet with a 20-byte
	// header: RFC 1812 §4.3.2.3 has routers quote as much as fits in
	// 576 bytes, and Linux does the same as a host.
	ICMPv4MaximumErrorSize = 576 - 20
)

const (
	icmpv4TypeOff     = 0
	icmpv4CodeOff     = 1
	icmpv4ChecksumOff = 2
	icmpv4IdentOff    = 4 // echo, timestamp, information, address mask
	icmpv4SeqOff      = 6
	icmpv4PointerOff  = 4 // parameter problem
	icmpv4MTUOff      = 6 // destination unreachable, fragmentation needed
	icmpv4GatewayOff  = 4 // redirect
)

// ICMPv4Type is the Type field of an ICMPv4 message.
type ICMPv4Type uint8

// ICMPv4 message types (RFC 792 unless noted; IANA "ICMP Type Numbers").
const (
	ICMPv4EchoReply           ICMPv4Type = 0
	ICMPv4DstUnreachable      ICMPv4Type = 3
	ICMPv4SourceQuench        ICMPv4Type = 4 // deprecated by RFC 6633
	ICMPv4Redirect            ICMPv4Type = 5
	ICMPv4Echo                ICMPv4Type = 8
	ICMPv4RouterAdvertisement ICMPv4Type = 9  // RFC 1256
	ICMPv4RouterSolicitation  ICMPv4Type = 10 // RFC 1256
	ICMPv4TimeExceeded        ICMPv4Type = 11
	ICMPv4ParamProblem        ICMPv4Type = 12
	ICMPv4Timestamp           ICMPv4Type = 13
	ICMPv4TimestampReply      ICMPv4Type = 14
	ICMPv4InfoRequest         ICMPv4Type = 15 // deprecated by RFC 6918
	ICMPv4InfoReply           ICMPv4Type = 16 // deprecated by RFC 6918
	ICMPv4AddressMaskRequest  ICMPv4Type = 17 // RFC 950, deprecated by RFC 6918
	ICMPv4AddressMaskReply    ICMPv4Type = 18 // RFC 950, deprecated by RFC 6918
	ICMPv4ExtendedEchoRequest ICMPv4Type = 42 // RFC 8335
	ICMPv4ExtendedEchoReply   ICMPv4Type = 43 // RFC 8335
)

var icmpv4TypeNames = [...]string{
	ICMPv4EchoReply:           "echo reply",
	ICMPv4DstUnreachable:      "destination unreachable",
	ICMPv4SourceQuench:        "source quench",
	ICMPv4Redirect:            "redirect",
	ICMPv4Echo:                "echo request",
	ICMPv4RouterAdvertisement: "router advertisement",
	ICMPv4RouterSolicitation:  "router solicitation",
	ICMPv4TimeExceeded:        "time exceeded",
	ICMPv4ParamProblem:        "parameter problem",
	ICMPv4Timestamp:           "timestamp",
	ICMPv4TimestampReply:      "timestamp reply",
	ICMPv4InfoRequest:         "information request",
	ICMPv4InfoReply:           "information reply",
	ICMPv4AddressMaskRequest:  "address mask request",
	ICMPv4AddressMaskReply:    "address mask reply",
}

// String returns the type's name, or "type(N)" for a type without one.
func (t ICMPv4Type) String() string {
	if int(t) < len(icmpv4TypeNames) && icmpv4TypeNames[t] != "" {
		return icmpv4TypeNames[t]
	}
	switch t {
	case ICMPv4ExtendedEchoRequest:
		return "extended echo request"
	case ICMPv4ExtendedEchoReply:
		return "extended echo reply"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// IsError reports whether t is an ICMP error message type. RFC 1122
// §3.2.2 divides ICMP messages into errors (Destination Unreachable,
// Redirect, Source Quench, Time Exceeded, Parameter Problem) and queries
// (the others), and forbids sending an error about an error (§3.2.2: "An
// ICMP error message MUST NOT be sent as the result of receiving an ICMP
// error message"). Unknown types are not errors here; note that Linux
// treats types above 18 as errors for that rule, and RFC 1122 §3.2.2
// requires unknown types to be silently discarded anyway.
func (t ICMPv4Type) IsError() bool {
	switch t {
	case ICMPv4DstUnreachable, ICMPv4SourceQuench, ICMPv4Redirect,
		ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// icmpv4HasIdent reports whether messages of type t carry an identifier and a
// sequence number in their second word.
func (t ICMPv4Type) icmpv4HasIdent() bool {
	switch t {
	case ICMPv4EchoReply, ICMPv4Echo, ICMPv4Timestamp, ICMPv4TimestampReply,
		ICMPv4InfoRequest, ICMPv4InfoReply, ICMPv4AddressMaskRequest,
		ICMPv4AddressMaskReply:
		return true
	}
	return false
}

// ICMPv4Code is the Code field of an ICMPv4 message. Its meaning depends on
// the type: the constants below are grouped by the type they belong to, and
// ICMPv4Type.CodeString names a code in the context of its type.
type ICMPv4Code uint8

// Codes of Destination Unreachable (RFC 792; RFC 1122 §3.2.2.1 adds 6–12,
// RFC 1812 §5.2.7.1 adds 13–15).
const (
	ICMPv4NetUnreachable          ICMPv4Code = 0
	ICMPv4HostUnreachable         ICMPv4Code = 1
	ICMPv4ProtoUnreachable        ICMPv4Code = 2
	ICMPv4PortUnreachable         ICMPv4Code = 3
	ICMPv4FragmentationNeeded     ICMPv4Code = 4 // with the next-hop MTU, RFC 1191 §4
	ICMPv4SourceRouteFailed       ICMPv4Code = 5
	ICMPv4DstNetUnknown           ICMPv4Code = 6
	ICMPv4DstHostUnknown          ICMPv4Code = 7
	ICMPv4SrcHostIsolated         ICMPv4Code = 8
	ICMPv4NetProhibited           ICMPv4Code = 9
	ICMPv4HostProhibited          ICMPv4Code = 10
	ICMPv4NetUnreachableForTOS    ICMPv4Code = 11
	ICMPv4HostUnreachableForTOS   ICMPv4Code = 12
	ICMPv4AdminProhibited         ICMPv4Code = 13
	ICMPv4HostPrecedenceViolation ICMPv4Code = 14
	ICMPv4PrecedenceCutoff        ICMPv4Code = 15
)

// Codes of Redirect (RFC 792).
const (
	ICMPv4RedirectNet     ICMPv4Code = 0
	ICMPv4RedirectHost    ICMPv4Code = 1
	ICMPv4RedirectTOSNet  ICMPv4Code = 2
	ICMPv4RedirectTOSHost ICMPv4Code = 3
)

// Codes of Time Exceeded (RFC 792).
const (
	ICMPv4TTLExceeded       ICMPv4Code = 0 // time to live exceeded in transit
	ICMPv4ReassemblyTimeout ICMPv4Code = 1 // fragment reassembly time exceeded
)

// Codes of Parameter Problem (RFC 792; RFC 1108 adds 1, RFC 1812 §5.2.7.3
// adds 2).
const (
	ICMPv4PointerIndicatesError ICMPv4Code = 0
	ICMPv4MissingOption         ICMPv4Code = 1
	ICMPv4BadLength             ICMPv4Code = 2
)

var icmpv4UnreachableNames = [...]string{
	ICMPv4NetUnreachable:          "net unreachable",
	ICMPv4HostUnreachable:         "host unreachable",
	ICMPv4ProtoUnreachable:        "protocol unreachable",
	ICMPv4PortUnreachable:         "port unreachable",
	ICMPv4FragmentationNeeded:     "fragmentation needed",
	ICMPv4SourceRouteFailed:       "source route failed",
	ICMPv4DstNetUnknown:           "destination network unknown",
	ICMPv4DstHostUnknown:          "destination host unknown",
	ICMPv4SrcHostIsolated:         "source host isolated",
	ICMPv4NetProhibited:           "network administratively prohibited",
	ICMPv4HostProhibited:          "host administratively prohibited",
	ICMPv4NetUnreachableForTOS:    "network unreachable for TOS",
	ICMPv4HostUnreachableForTOS:   "host unreachable for TOS",
	ICMPv4AdminProhibited:         "communication administratively prohibited",
	ICMPv4HostPrecedenceViolation: "host precedence violation",
	ICMPv4PrecedenceCutoff:        "precedence cutoff in effect",
}

var icmpv4RedirectNames = [...]string{
	ICMPv4RedirectNet:     "redirect for network",
	ICMPv4RedirectHost:    "redirect for host",
	ICMPv4RedirectTOSNet:  "redirect for TOS and network",
	ICMPv4RedirectTOSHost: "redirect for TOS and host",
}

var icmpv4TimeExceededNames = [...]string{
	ICMPv4TTLExceeded:       "time to live exceeded",
	ICMPv4ReassemblyTimeout: "fragment reassembly time exceeded",
}

var icmpv4ParamProblemNames = [...]string{
	ICMPv4PointerIndicatesError: "pointer indicates the error",
	ICMPv4MissingOption:         "missing a required option",
	ICMPv4BadLength:             "bad length",
}

// String returns "code(N)": a code's name depends on its message type, see
// ICMPv4Type.CodeString.
func (c ICMPv4Code) String() string {
	return "code(" + strconv.Itoa(int(c)) + ")"
}

// CodeString returns the name of code c in messages of type t, or
// "code(N)" if t defines no such code.
func (t ICMPv4Type) CodeString(c ICMPv4Code) string {
	var names []string
	switch t {
	case ICMPv4DstUnreachable:
		names = icmpv4UnreachableNames[:]
	case ICMPv4Redirect:
		names = icmpv4RedirectNames[:]
	case ICMPv4TimeExceeded:
		names = icmpv4TimeExceededNames[:]
	case ICMPv4ParamProblem:
		names = icmpv4ParamProblemNames[:]
	}
	if int(c) < len(names) {
		return names[c]
	}
	return c.String()
}

// ParseICMPv4 returns b as an ICMPv4 view if it holds a whole header
// (ErrTruncated otherwise). The whole of b is the message: the IP layer
// passes exactly its payload. The checksum is not verified (see
// IsChecksumValid).
func ParseICMPv4(b []byte) (ICMPv4, error) {
	if len(b) < ICMPv4MinimumSize {
		return nil, ErrTruncated
	}
	return ICMPv4(b), nil
}

// Type returns the message type.
func (b ICMPv4) Type() ICMPv4Type { return ICMPv4Type(b[icmpv4TypeOff]) }

// Code returns the message code.
func (b ICMPv4) Code() ICMPv4Code { return ICMPv4Code(b[icmpv4CodeOff]) }

// IsError reports whether the message is an ICMP error (see
// ICMPv4Type.IsError).
func (b ICMPv4) IsError() bool { return b.Type().IsError() }

// Checksum returns the Checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpv4ChecksumOff:]) }

// RestOfHeader returns the second 32-bit word, whose meaning depends on the
// type (the accessors below decode it).
func (b ICMPv4) RestOfHeader() uint32 { return binary.BigEndian.Uint32(b[icmpv4IdentOff:]) }

// Ident returns the Identifier of an echo, timestamp, information or
// address mask message (RFC 792).
func (b ICMPv4) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpv4IdentOff:]) }

// Sequence returns the Sequence Number of an echo, timestamp, information
// or address mask message (RFC 792).
func (b ICMPv4) Sequence() uint16 { return binary.BigEndian.Uint16(b[icmpv4SeqOff:]) }

// Pointer returns the Pointer of a Parameter Problem message: the offset in
// the quoted datagram of the octet where the error was found (RFC 792).
func (b ICMPv4) Pointer() uint8 { return b[icmpv4PointerOff] }

// MTU returns the Next-Hop MTU of a Destination Unreachable message with
// code Fragmentation Needed (RFC 1191 §4: the low-order 16 bits of the
// second word, which RFC 792 left unused). Zero means the router predates
// RFC 1191 and the sender must estimate the MTU itself (RFC 1191 §5).
func (b ICMPv4) MTU() uint16 { return binary.BigEndian.Uint16(b[icmpv4MTUOff:]) }

// Gateway returns the Gateway Internet Address of a Redirect message: the
// router to which traffic for the quoted datagram's destination should be
// sent (RFC 792).
func (b ICMPv4) Gateway() netip.Addr {
	return netip.AddrFrom4([4]byte(b[icmpv4GatewayOff : icmpv4GatewayOff+4]))
}

// Payload returns the message body after the 8-byte header: the echoed data
// of an echo message, or the quoted datagram of an error.
func (b ICMPv4) Payload() []byte { return b[ICMPv4MinimumSize:] }

// OriginalDatagram returns the quoted datagram of an error message: the IP
// header and at least the first 64 bits of data of the datagram that caused
// the error (RFC 792; RFC 1812 §4.3.2.3 lets routers quote more). It
// returns nil if the message is not an error. The quote is not checked: it
// may be shorter than RFC 792 requires, and parsing it is the caller's job.
func (b ICMPv4) OriginalDatagram() []byte {
	if !b.IsError() {
		return nil
	}
	return b.Payload()
}

// SetType sets the Type field. The checksum is not updated.
func (b ICMPv4) SetType(t ICMPv4Type) { b[icmpv4TypeOff] = byte(t) }

// SetCode sets the Code field. The checksum is not updated.
func (b ICMPv4) SetCode(c ICMPv4Code) { b[icmpv4CodeOff] = byte(c) }

// SetChecksum sets the Checksum field.
func (b ICMPv4) SetChecksum(xsum uint16) { binary.BigEndian.PutUint16(b[icmpv4ChecksumOff:], xsum) }

// SetIdent sets the Identifier of a query message. The checksum is not
// updated.
func (b ICMPv4) SetIdent(id uint16) { binary.BigEndian.PutUint16(b[icmpv4IdentOff:], id) }

// SetSequence sets the Sequence Number of a query message. The checksum is
// not updated.
func (b ICMPv4) SetSequence(seq uint16) { binary.BigEndian.PutUint16(b[icmpv4SeqOff:], seq) }

// CalculateChecksum returns the value for the Checksum field of the message
// in b: the complement of the one's-complement sum of the whole message,
// with the Checksum field counted as zero (RFC 792). There is no
// pseudo-header.
func (b ICMPv4) CalculateChecksum() uint16 {
	return b.CalculateChecksumPartial(Checksum(b.Payload(), 0))
}

// CalculateChecksumPartial is CalculateChecksum for a message whose body
// is not in b, such as a header built in a buffer's headroom in front of a
// chunked payload: it sums the 8 header bytes of b (ignoring any bytes
// after them) and payloadSum, the un-complemented sum of the body (a
// Checksummer's Sum).
func (b ICMPv4) CalculateChecksumPartial(payloadSum uint16) uint16 {
	return ^b.icmpv4HeaderSum(payloadSum)
}

// IsChecksumValid reports whether the Checksum field matches the message.
func (b ICMPv4) IsChecksumValid() bool {
	return b.IsChecksumValidPartial(Checksum(b.Payload(), 0))
}

// IsChecksumValidPartial is IsChecksumValid for a message whose body is
// not in b: it sums the 8 header bytes of b and payloadSum, the
// un-complemented sum of the body.
func (b ICMPv4) IsChecksumValidPartial(payloadSum uint16) bool {
	// RFC 1071 §1(3): the sum over everything, the field included, is
	// all ones when the field holds the complement of the rest.
	return ChecksumCombine(b.icmpv4HeaderSum(payloadSum), b.Checksum()) == 0xffff
}

// icmpv4HeaderSum returns the sum of the header without its Checksum field,
// plus payloadSum.
func (b ICMPv4) icmpv4HeaderSum(payloadSum uint16) uint16 {
	sum := Checksum(b[:icmpv4ChecksumOff], payloadSum)
	return Checksum(b[icmpv4IdentOff:ICMPv4MinimumSize], sum)
}

// Fields returns the decoded header. Only the members of ICMPv4Fields that
// the message's type defines are set.
func (b ICMPv4) Fields() ICMPv4Fields {
	f := ICMPv4Fields{Type: b.Type(), Code: b.Code(), Checksum: b.Checksum()}
	switch t := f.Type; {
	case t.icmpv4HasIdent():
		f.Ident, f.Sequence = b.Ident(), b.Sequence()
	case t == ICMPv4DstUnreachable:
		f.MTU = b.MTU()
	case t == ICMPv4ParamProblem:
		f.Pointer = b.Pointer()
	case t == ICMPv4Redirect:
		f.Gateway = b.Gateway()
	}
	return f
}

// ICMPv4Fields is an ICMPv4 header to encode. The second word of the header
// is made from the members its Type defines and is zero (unused, RFC 792)
// for the others: Ident and Sequence for echo, timestamp, information and
// address mask messages, MTU for Destination Unreachable, Pointer for
// Parameter Problem, Gateway for Redirect. Checksum is written as given:
// compute it once the body is in place (CalculateChecksum) and store it with
// SetChecksum.
type ICMPv4Fields struct {
	Type     ICMPv4Type
	Code     ICMPv4Code
	Checksum uint16
	Ident    uint16
	Sequence uint16
	// MTU is the next-hop MTU of Fragmentation Needed (RFC 1191 §4).
	MTU uint16
	// Pointer locates the octet in error of a Parameter Problem.
	Pointer uint8
	// Gateway is the router a Redirect points to. It must be an IPv4
	// address, or the zero Addr for 0.0.0.0.
	Gateway netip.Addr
}

// Encode writes the 8-byte header at the start of b and returns all of b as
// a view: pass the whole message (header then body, to fill in before or
// after) to use the view's checksum methods on it, or exactly
// ICMPv4MinimumSize bytes to build a header in front of a body held
// elsewhere (then use CalculateChecksumPartial).
func (f *ICMPv4Fields) Encode(b []byte) ICMPv4 {
	h := b[:ICMPv4MinimumSize]
	h[icmpv4TypeOff] = byte(f.Type)
	h[icmpv4CodeOff] = byte(f.Code)
	binary.BigEndian.PutUint16(h[icmpv4ChecksumOff:], f.Checksum)
	clear(h[icmpv4IdentOff:])
	switch t := f.Type; {
	case t.icmpv4HasIdent():
		binary.BigEndian.PutUint16(h[icmpv4IdentOff:], f.Ident)
		binary.BigEndian.PutUint16(h[icmpv4SeqOff:], f.Sequence)
	case t == ICMPv4DstUnreachable:
		binary.BigEndian.PutUint16(h[icmpv4MTUOff:], f.MTU)
	case t == ICMPv4ParamProblem:
		h[icmpv4PointerOff] = f.Pointer
	case t == ICMPv4Redirect:
		if f.Gateway.Is4() {
			a := f.Gateway.As4()
			copy(h[icmpv4GatewayOff:], a[:])
		}
	}
	return ICMPv4(b)
}
