package header

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/tcpip"
)

// UDP is a view of a UDP datagram (RFC 768): the 8-byte header followed by
// the payload. A view from ParseUDP ends where the header's Length field
// says the datagram ends.
type UDP []byte

// UDPMinimumSize is the size of the UDP header, and so the smallest valid
// value of its Length field.
const UDPMinimumSize = 8

// UDPMaximumSize is the largest datagram the 16-bit Length field can
// describe.
const UDPMaximumSize = 0xffff

const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6
)

// ParseUDP returns the datagram at the start of b as a UDP view. It checks
// that b holds the header and that the Length field covers at least the
// header and at most b (RFC 768: Length counts header and data). Bytes of b
// after Length, such as Ethernet padding the IP layer did not trim, are not
// part of the view.
//
// A Length of 0, which RFC 2675 §4 uses for IPv6 jumbograms, is rejected:
// ustack does not carry jumbograms.
func ParseUDP(b []byte) (UDP, error) {
	if len(b) < UDPMinimumSize {
		return nil, ErrTruncated
	}
	n := int(binary.BigEndian.Uint16(b[udpLength:]))
	if n < UDPMinimumSize || n > len(b) {
		return nil, ErrBadTotalLength
	}
	return UDP(b[:n]), nil
}

// SourcePort returns the source port (0 when the sender expects no reply,
// RFC 768).
func (b UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPort:]) }

// DestinationPort returns the destination port.
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }

// Length returns the Length field: the size of header and payload in bytes.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// Checksum returns the Checksum field. Zero means the sender computed no
// checksum (RFC 768), which only IPv4 allows.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksum:]) }

// Payload returns the bytes after the header, up to the end the Length
// field declares (or the end of the view, if Length disagrees with it in a
// view that was not built by ParseUDP).
func (b UDP) Payload() []byte {
	n := int(b.Length())
	if n < UDPMinimumSize || n > len(b) {
		n = len(b)
	}
	return b[UDPMinimumSize:n]
}

// SetSourcePort sets the source port. The checksum is not updated.
func (b UDP) SetSourcePort(port uint16) { binary.BigEndian.PutUint16(b[udpSrcPort:], port) }

// SetDestinationPort sets the destination port. The checksum is not
// updated.
func (b UDP) SetDestinationPort(port uint16) { binary.BigEndian.PutUint16(b[udpDstPort:], port) }

// SetLength sets the Length field.
func (b UDP) SetLength(length uint16) { binary.BigEndian.PutUint16(b[udpLength:], length) }

// SetChecksum sets the Checksum field.
func (b UDP) SetChecksum(xsum uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], xsum) }

// CalculateChecksum returns the value for the Checksum field of the
// datagram in b (header and payload, the Checksum field counted as zero)
// sent from src to dst: the complemented sum of the pseudo-header (RFC 768;
// RFC 8200 §8.1 for IPv6), the header and the payload.
//
// A computed checksum of zero is returned as 0xffff, its other
// one's-complement form, because a zero field means "no checksum"
// (RFC 768; RFC 8200 §8.1 requires the same for IPv6). src and dst must be
// both IPv4 or both IPv6 (unmap IPv4-mapped addresses first). The Length
// field must be set; the payload summed is Payload().
func (b UDP) CalculateChecksum(src, dst netip.Addr) uint16 {
	return b.CalculateChecksumPartial(src, dst, Checksum(b.Payload(), 0))
}

// CalculateChecksumPartial is CalculateChecksum for a datagram whose payload
// is not in b, such as a header built in a buffer's headroom in front of a
// chunked payload. It sums the 8 header bytes of b (ignoring any bytes after
// them) and payloadSum, the un-complemented one's-complement sum of the
// payload (a Checksummer's Sum). The payload's length is taken from the
// Length field, which must be set.
func (b UDP) CalculateChecksumPartial(src, dst netip.Addr, payloadSum uint16) uint16 {
	xsum := ^b.udpSum(src, dst, payloadSum)
	if xsum == 0 {
		// RFC 768: "If the computed checksum is zero, it is
		// transmitted as all ones"; RFC 8200 §8.1 repeats it for IPv6.
		return 0xffff
	}
	return xsum
}

// udpSum returns the un-complemented sum of the pseudo-header, the header
// with its Checksum field counted as zero, and payloadSum.
func (b UDP) udpSum(src, dst netip.Addr, payloadSum uint16) uint16 {
	sum := PseudoHeaderChecksum(tcpip.UDPProtocolNumber, src, dst, uint32(b.Length()))
	sum = Checksum(b[:udpChecksum], sum)
	return ChecksumCombine(sum, payloadSum)
}

// IsChecksumValid reports whether the datagram in b, received from src to
// dst, has a correct checksum. For IPv4 a zero Checksum field means the
// sender computed none and is accepted (RFC 768); for IPv6 it is rejected
// (RFC 8200 §8.1: "IPv6 receivers must discard UDP packets containing a
// zero checksum"; the exceptions of RFC 6935 for tunnels are the caller's).
func (b UDP) IsChecksumValid(src, dst netip.Addr) bool {
	return b.IsChecksumValidPartial(src, dst, Checksum(b.Payload(), 0))
}

// IsChecksumValidPartial is IsChecksumValid for a datagram whose payload is
// not in b: it sums the 8 header bytes of b (ignoring any bytes after them)
// and payloadSum, the un-complemented sum of the payload, whose length is
// taken from the Length field.
func (b UDP) IsChecksumValidPartial(src, dst netip.Addr, payloadSum uint16) bool {
	xsum := b.Checksum()
	if xsum == 0 {
		return src.Is4()
	}
	// The sum over everything including the field is all ones when the
	// field holds the complement of the rest (RFC 1071 §1(3)).
	return ChecksumCombine(b.udpSum(src, dst, payloadSum), xsum) == 0xffff
}

// Fields returns the decoded header.
func (b UDP) Fields() UDPFields {
	return UDPFields{
		SrcPort:  b.SourcePort(),
		DstPort:  b.DestinationPort(),
		Length:   b.Length(),
		Checksum: b.Checksum(),
	}
}

// UDPFields is a UDP header to encode. Length counts header and payload;
// Checksum is written as given (compute it afterwards with
// CalculateChecksum and store it with SetChecksum, or leave it 0 for "no
// checksum" over IPv4).
type UDPFields struct {
	SrcPort  uint16
	DstPort  uint16
	Length   uint16
	Checksum uint16
}

// Encode writes the header at the start of b and returns the header as a
// view (of UDPMinimumSize bytes; the payload, if any, follows it in b).
func (f *UDPFields) Encode(b []byte) UDP {
	b = b[:UDPMinimumSize]
	binary.BigEndian.PutUint16(b[udpSrcPort:], f.SrcPort)
	binary.BigEndian.PutUint16(b[udpDstPort:], f.DstPort)
	binary.BigEndian.PutUint16(b[udpLength:], f.Length)
	binary.BigEndian.PutUint16(b[udpChecksum:], f.Checksum)
	return UDP(b)
}
