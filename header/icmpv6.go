package header

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/ustack-go/ustack/tcpip"
)

// ICMPv6 is a view of an ICMPv6 message (RFC 4443 §2.1): type, code and
// checksum, then the message body. The first 32-bit word of the body is
// defined by each type (identifier and sequence number of echo messages,
// the MTU of Packet Too Big, the pointer of Parameter Problem, unused in
// other errors); NDP and MLD messages have their own views over the body
// (MessageBody).
type ICMPv6 []byte

const (
	// ICMPv6HeaderSize is the size of the type, code and checksum fields
	// that every ICMPv6 message starts with; the message body follows.
	ICMPv6HeaderSize = 4
	// ICMPv6MinimumSize is the size of the smallest ICMPv6 message this
	// package accepts: the header and the first word of the body, which
	// every message type defined by RFC 4443, RFC 4861 and RFC 3810 has.
	ICMPv6MinimumSize = 8
	// ICMPv6MaximumErrorSize is how large an ICMPv6 error message may
	// grow with its quote of the offending packet: RFC 4443 §2.4(c), as
	// much of the packet as fits without the error packet exceeding the
	// minimum IPv6 MTU (1280 bytes, less 40 bytes of IPv6 header). Linux
	// fills it.
	ICMPv6MaximumErrorSize = 1280 - 40
)

const (
	icmpv6TypeOff     = 0
	icmpv6CodeOff     = 1
	icmpv6ChecksumOff = 2
	icmpv6IdentOff    = 4 // echo request and reply
	icmpv6SeqOff      = 6
	icmpv6MTUOff      = 4 // packet too big
	icmpv6PointerOff  = 4 // parameter problem
)

// ICMPv6Type is the Type field of an ICMPv6 message.
type ICMPv6Type uint8

// ICMPv6 message types (RFC 4443 §2.1 and IANA "ICMPv6 Parameters").
const (
	ICMPv6DstUnreachable  ICMPv6Type = 1
	ICMPv6PacketTooBig    ICMPv6Type = 2
	ICMPv6TimeExceeded    ICMPv6Type = 3
	ICMPv6ParamProblem    ICMPv6Type = 4
	ICMPv6EchoRequest     ICMPv6Type = 128
	ICMPv6EchoReply       ICMPv6Type = 129
	ICMPv6MLDQuery        ICMPv6Type = 130 // RFC 2710 §3, RFC 3810 §5.1
	ICMPv6MLDv1Report     ICMPv6Type = 131 // RFC 2710 §3 (MLDv1)
	ICMPv6MLDv1Done       ICMPv6Type = 132 // RFC 2710 §3 (MLDv1)
	ICMPv6RouterSolicit   ICMPv6Type = 133 // RFC 4861 §4.1
	ICMPv6RouterAdvert    ICMPv6Type = 134 // RFC 4861 §4.2
	ICMPv6NeighborSolicit ICMPv6Type = 135 // RFC 4861 §4.3
	ICMPv6NeighborAdvert  ICMPv6Type = 136 // RFC 4861 §4.4
	ICMPv6Redirect        ICMPv6Type = 137 // RFC 4861 §4.5
	ICMPv6MLDv2Report     ICMPv6Type = 143 // RFC 3810 §5.2
)

// String returns the type's name, or "type(N)" for a type without one.
func (t ICMPv6Type) String() string {
	switch t {
	case ICMPv6DstUnreachable:
		return "destination unreachable"
	case ICMPv6PacketTooBig:
		return "packet too big"
	case ICMPv6TimeExceeded:
		return "time exceeded"
	case ICMPv6ParamProblem:
		return "parameter problem"
	case ICMPv6EchoRequest:
		return "echo request"
	case ICMPv6EchoReply:
		return "echo reply"
	case ICMPv6MLDQuery:
		return "multicast listener query"
	case ICMPv6MLDv1Report:
		return "multicast listener report"
	case ICMPv6MLDv1Done:
		return "multicast listener done"
	case ICMPv6RouterSolicit:
		return "router solicitation"
	case ICMPv6RouterAdvert:
		return "router advertisement"
	case ICMPv6NeighborSolicit:
		return "neighbor solicitation"
	case ICMPv6NeighborAdvert:
		return "neighbor advertisement"
	case ICMPv6Redirect:
		return "redirect"
	case ICMPv6MLDv2Report:
		return "multicast listener report v2"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// IsError reports whether t is an error message type: RFC 4443 §2.1 gives
// error messages the types 0 to 127 (the high-order bit of the type is
// zero) and informational messages 128 to 255. RFC 4443 §2.4(e) forbids
// sending an error in response to an error (among other cases).
func (t ICMPv6Type) IsError() bool { return t < 128 }

// ICMPv6Code is the Code field of an ICMPv6 message. Its meaning depends on
// the type: the constants below are grouped by the type they belong to, and
// ICMPv6Type.CodeString names a code in the context of its type.
type ICMPv6Code uint8

// Codes of Destination Unreachable (RFC 4443 §3.1; RFC 6550 §20.17 adds 7,
// RFC 8883 §3 adds 8).
const (
	ICMPv6NoRoute            ICMPv6Code = 0
	ICMPv6AdminProhibited    ICMPv6Code = 1
	ICMPv6BeyondScope        ICMPv6Code = 2
	ICMPv6AddressUnreachable ICMPv6Code = 3
	ICMPv6PortUnreachable    ICMPv6Code = 4
	ICMPv6SourcePolicyFailed ICMPv6Code = 5 // source address failed ingress/egress policy
	ICMPv6RejectRoute        ICMPv6Code = 6
	ICMPv6SourceRoutingError ICMPv6Code = 7
	ICMPv6HeadersTooLong     ICMPv6Code = 8
)

// Codes of Time Exceeded (RFC 4443 §3.3).
const (
	ICMPv6HopLimitExceeded  ICMPv6Code = 0
	ICMPv6ReassemblyTimeout ICMPv6Code = 1
)

// Codes of Parameter Problem (RFC 4443 §3.4; RFC 7112 §6 adds 3, RFC 8754
// §5.4 adds 4, RFC 8883 §3 adds 5 to 10).
const (
	ICMPv6ErroneousHeader             ICMPv6Code = 0
	ICMPv6UnknownHeader               ICMPv6Code = 1 // unrecognized Next Header type
	ICMPv6UnknownOption               ICMPv6Code = 2 // unrecognized IPv6 option
	ICMPv6IncompleteHeaderChain       ICMPv6Code = 3
	ICMPv6SRUpperLayerHeaderError     ICMPv6Code = 4
	ICMPv6UnknownHeaderIntermediate   ICMPv6Code = 5
	ICMPv6ExtensionHeaderTooBig       ICMPv6Code = 6
	ICMPv6ExtensionHeaderChainTooLong ICMPv6Code = 7
	ICMPv6TooManyExtensionHeaders     ICMPv6Code = 8
	ICMPv6TooManyOptions              ICMPv6Code = 9
	ICMPv6OptionTooBig                ICMPv6Code = 10
)

var icmpv6UnreachableNames = [...]string{
	ICMPv6NoRoute:            "no route to destination",
	ICMPv6AdminProhibited:    "communication administratively prohibited",
	ICMPv6BeyondScope:        "beyond scope of source address",
	ICMPv6AddressUnreachable: "address unreachable",
	ICMPv6PortUnreachable:    "port unreachable",
	ICMPv6SourcePolicyFailed: "source address failed ingress/egress policy",
	ICMPv6RejectRoute:        "reject route to destination",
	ICMPv6SourceRoutingError: "error in source routing header",
	ICMPv6HeadersTooLong:     "headers too long",
}

var icmpv6TimeExceededNames = [...]string{
	ICMPv6HopLimitExceeded:  "hop limit exceeded in transit",
	ICMPv6ReassemblyTimeout: "fragment reassembly time exceeded",
}

var icmpv6ParamProblemNames = [...]string{
	ICMPv6ErroneousHeader:             "erroneous header field",
	ICMPv6UnknownHeader:               "unrecognized next header type",
	ICMPv6UnknownOption:               "unrecognized IPv6 option",
	ICMPv6IncompleteHeaderChain:       "first fragment has incomplete header chain",
	ICMPv6SRUpperLayerHeaderError:     "SR upper-layer header error",
	ICMPv6UnknownHeaderIntermediate:   "unrecognized next header type by intermediate node",
	ICMPv6ExtensionHeaderTooBig:       "extension header too big",
	ICMPv6ExtensionHeaderChainTooLong: "extension header chain too long",
	ICMPv6TooManyExtensionHeaders:     "too many extension headers",
	ICMPv6TooManyOptions:              "too many options in extension header",
	ICMPv6OptionTooBig:                "option too big",
}

// String returns "code(N)": a code's name depends on its message type, see
// ICMPv6Type.CodeString.
func (c ICMPv6Code) String() string { return "code(" + strconv.Itoa(int(c)) + ")" }

// CodeString returns the name of code c in messages of type t, or
// "code(N)" if t defines no such code.
func (t ICMPv6Type) CodeString(c ICMPv6Code) string {
	var names []string
	switch t {
	case ICMPv6DstUnreachable:
		names = icmpv6UnreachableNames[:]
	case ICMPv6TimeExceeded:
		names = icmpv6TimeExceededNames[:]
	case ICMPv6ParamProblem:
		names = icmpv6ParamProblemNames[:]
	}
	if int(c) < len(names) {
		return names[c]
	}
	return c.String()
}

// ParseICMPv6 returns b as an ICMPv6 view if it holds at least
// ICMPv6MinimumSize bytes (ErrTruncated otherwise). The whole of b is the
// message: the IP layer passes exactly its upper-layer payload. The
// checksum is not verified (see IsChecksumValid).
func ParseICMPv6(b []byte) (ICMPv6, error) {
	if len(b) < ICMPv6MinimumSize {
		return nil, ErrTruncated
	}
	return ICMPv6(b), nil
}

// Type returns the message type.
func (b ICMPv6) Type() ICMPv6Type { return ICMPv6Type(b[icmpv6TypeOff]) }

// Code returns the message code.
func (b ICMPv6) Code() ICMPv6Code { return ICMPv6Code(b[icmpv6CodeOff]) }

// IsError reports whether the message is an error (type below 128, RFC 4443
// §2.1).
func (b ICMPv6) IsError() bool { return b.Type().IsError() }

// Checksum returns the Checksum field.
func (b ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(b[icmpv6ChecksumOff:]) }

// Ident returns the Identifier of an echo request or reply (RFC 4443 §4.1).
func (b ICMPv6) Ident() uint16 { return binary.BigEndian.Uint16(b[icmpv6IdentOff:]) }

// Sequence returns the Sequence Number of an echo request or reply
// (RFC 4443 §4.1).
func (b ICMPv6) Sequence() uint16 { return binary.BigEndian.Uint16(b[icmpv6SeqOff:]) }

// MTU returns the MTU of a Packet Too Big message: that of the next-hop
// link (RFC 4443 §3.2).
func (b ICMPv6) MTU() uint32 { return binary.BigEndian.Uint32(b[icmpv6MTUOff:]) }

// Pointer returns the Pointer of a Parameter Problem message: the offset in
// the quoted packet of the octet where the error was found (RFC 4443 §3.4;
// it may point past the quote if the quote was truncated).
func (b ICMPv6) Pointer() uint32 { return binary.BigEndian.Uint32(b[icmpv6PointerOff:]) }

// MessageBody returns the message after type, code and checksum. NDP and
// MLD views are built over it (ParseNDPNeighborSolicit, ParseMLD, …).
func (b ICMPv6) MessageBody() []byte { return b[ICMPv6HeaderSize:] }

// Payload returns the message after its first 8 bytes: the echoed data of
// an echo message, or the quoted packet of an error.
func (b ICMPv6) Payload() []byte { return b[ICMPv6MinimumSize:] }

// OriginalPacket returns the quoted packet of an error message: as much of
// the packet that caused the error as fits in the minimum MTU (RFC 4443
// §2.4(c)). It returns nil if the message is not an error. The quote is not
// checked; parsing it is the caller's job.
func (b ICMPv6) OriginalPacket() []byte {
	if !b.IsError() {
		return nil
	}
	return b.Payload()
}

// SetType sets the Type field. The checksum is not updated.
func (b ICMPv6) SetType(t ICMPv6Type) { b[icmpv6TypeOff] = byte(t) }

// SetCode sets the Code field. The checksum is not updated.
func (b ICMPv6) SetCode(c ICMPv6Code) { b[icmpv6CodeOff] = byte(c) }

// SetChecksum sets the Checksum field.
func (b ICMPv6) SetChecksum(xsum uint16) { binary.BigEndian.PutUint16(b[icmpv6ChecksumOff:], xsum) }

// SetIdent sets the Identifier of an echo message. The checksum is not
// updated.
func (b ICMPv6) SetIdent(id uint16) { binary.BigEndian.PutUint16(b[icmpv6IdentOff:], id) }

// SetSequence sets the Sequence Number of an echo message. The checksum is
// not updated.
func (b ICMPv6) SetSequence(seq uint16) { binary.BigEndian.PutUint16(b[icmpv6SeqOff:], seq) }

// CalculateChecksum returns the value for the Checksum field of the message
// in b sent from src to dst: the complement of the one's-complement sum of
// the IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1: with Next Header
// 58 and the message's length) and the whole message, its Checksum field
// counted as zero. src and dst must be IPv6 addresses.
func (b ICMPv6) CalculateChecksum(src, dst netip.Addr) uint16 {
	return b.CalculateChecksumPartial(src, dst, len(b.MessageBody()), Checksum(b.MessageBody(), 0))
}

// CalculateChecksumPartial is CalculateChecksum for a message whose body
// is not in b, such as a header built in a buffer's headroom in front of a
// chunked payload: it sums the 4-byte header at the start of b (ignoring
// any bytes after it) and bodySum, the un-complemented one's-complement
// sum of the bodyLen bytes of the message body (a Checksummer's Sum).
func (b ICMPv6) CalculateChecksumPartial(src, dst netip.Addr, bodyLen int, bodySum uint16) uint16 {
	return ^b.icmpv6Sum(src, dst, bodyLen, bodySum)
}

// IsChecksumValid reports whether the Checksum field matches the message
// received from src to dst.
func (b ICMPv6) IsChecksumValid(src, dst netip.Addr) bool {
	return b.IsChecksumValidPartial(src, dst, len(b.MessageBody()), Checksum(b.MessageBody(), 0))
}

// IsChecksumValidPartial is IsChecksumValid for a message whose body is
// not in b: it sums the 4-byte header at the start of b and bodySum, the
// un-complemented sum of the bodyLen bytes of the body.
func (b ICMPv6) IsChecksumValidPartial(src, dst netip.Addr, bodyLen int, bodySum uint16) bool {
	// RFC 1071 §1(3): the sum over everything, the field included, is
	// all ones when the field holds the complement of the rest.
	return ChecksumCombine(b.icmpv6Sum(src, dst, bodyLen, bodySum), b.Checksum()) == 0xffff
}

// icmpv6Sum returns the sum of the pseudo-header, type and code, and
// bodySum.
func (b ICMPv6) icmpv6Sum(src, dst netip.Addr, bodyLen int, bodySum uint16) uint16 {
	// RFC 4443 §2.3: the Upper-Layer Packet Length of the pseudo-header
	// is the length of the whole ICMPv6 message.
	sum := PseudoHeaderChecksum(tcpip.ICMPv6ProtocolNumber, src, dst, uint32(ICMPv6HeaderSize+bodyLen))
	sum = Checksum(b[:icmpv6ChecksumOff], sum)
	return ChecksumCombine(sum, bodySum)
}

// icmpv6HasIdent reports whether messages of type t carry an identifier and
// a sequence number.
func (t ICMPv6Type) icmpv6HasIdent() bool {
	return t == ICMPv6EchoRequest || t == ICMPv6EchoReply
}

// icmpv6HasFirstWord reports whether ICMPv6Fields describes the first word
// of the body of messages of type t.
func (t ICMPv6Type) icmpv6HasFirstWord() bool {
	return t.IsError() || t.icmpv6HasIdent()
}

// Fields returns the decoded header: type, code, checksum and, for echo
// messages, Packet Too Big and Parameter Problem, the first word of the
// body.
func (b ICMPv6) Fields() ICMPv6Fields {
	f := ICMPv6Fields{Type: b.Type(), Code: b.Code(), Checksum: b.Checksum()}
	switch f.Type {
	case ICMPv6EchoRequest, ICMPv6EchoReply:
		f.Ident, f.Sequence = b.Ident(), b.Sequence()
	case ICMPv6PacketTooBig:
		f.MTU = b.MTU()
	case ICMPv6ParamProblem:
		f.Pointer = b.Pointer()
	}
	return f
}

// ICMPv6Fields is an ICMPv6 header to encode. Checksum is written as given:
// compute it once the body is in place (CalculateChecksum) and store it
// with SetChecksum.
type ICMPv6Fields struct {
	Type     ICMPv6Type
	Code     ICMPv6Code
	Checksum uint16
	// Ident and Sequence are those of an echo request or reply.
	Ident    uint16
	Sequence uint16
	// MTU is the next-hop MTU of Packet Too Big.
	MTU uint32
	// Pointer locates the octet in error of a Parameter Problem.
	Pointer uint32
}

// Encode writes the header at the start of b and returns all of b as a view
// (pass the whole message to use the view's checksum methods on it). It
// writes type, code and checksum, and for error and echo messages the first
// word of the body as well (Ident and Sequence, MTU, Pointer, or zero for
// the unused word of other errors, RFC 4443 §3). For other types it writes
// only the 4-byte header and leaves the body to the message's own encoder
// (NDPNeighborSolicitFields.Encode on MessageBody, …), before or after.
// b must hold ICMPv6MinimumSize bytes.
func (f *ICMPv6Fields) Encode(b []byte) ICMPv6 {
	h := b[:ICMPv6MinimumSize]
	h[icmpv6TypeOff] = byte(f.Type)
	h[icmpv6CodeOff] = byte(f.Code)
	binary.BigEndian.PutUint16(h[icmpv6ChecksumOff:], f.Checksum)
	if f.Type.icmpv6HasFirstWord() {
		clear(h[icmpv6IdentOff:])
	}
	switch f.Type {
	case ICMPv6EchoRequest, ICMPv6EchoReply:
		binary.BigEndian.PutUint16(h[icmpv6IdentOff:], f.Ident)
		binary.BigEndian.PutUint16(h[icmpv6SeqOff:], f.Sequence)
	case ICMPv6PacketTooBig:
		binary.BigEndian.PutUint32(h[icmpv6MTUOff:], f.MTU)
	case ICMPv6ParamProblem:
		binary.BigEndian.PutUint32(h[icmpv6PointerOff:], f.Pointer)
	}
	return ICMPv6(b)
}
