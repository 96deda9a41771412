package header

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// TCP is a view of a TCP segment (RFC 9293 §3.1): the header, its options,
// and the data after them to the end of the view. TCP has no length field
// of its own, so a view from ParseTCP runs to the end of the bytes given,
// which the IP layer has cut to the IP payload.
type TCP []byte

// Sizes of the TCP header.
const (
	// TCPMinimumSize is the size of the header without options (a data
	// offset of 5 words).
	TCPMinimumSize = 20
	// TCPMaximumSize is the largest header: a data offset of 15 words.
	TCPMaximumSize = 60
	// TCPMaximumOptionsSize is the most option bytes a header can hold.
	TCPMaximumOptionsSize = TCPMaximumSize - TCPMinimumSize
)

const (
	tcpSrcPort    = 0
	tcpDstPort    = 2
	tcpSeqNum     = 4
	tcpAckNum     = 8
	tcpDataOffset = 12 // high nibble: data offset; low nibble: reserved, AE
	tcpFlags      = 13
	tcpWindow     = 14
	tcpChecksum   = 16
	tcpUrgent     = 18
	tcpOptions    = 20
)

// TCPFlags is the set of control bits of a TCP header: the 12 bits after
// the data offset, with FIN as bit 0. Besides the eight bits in byte 13 it
// holds AE (byte 12's lowest bit) and, as TCPFlagsReserved, the three bits
// RFC 9293 still reserves, so that decoding and re-encoding a header keeps
// every bit.
type TCPFlags uint16

// The TCP control bits (RFC 9293 §3.1; ECE and CWR from RFC 3168 §6.1;
// AE from RFC 9768 §2, the bit RFC 3540 had used as NS, now historic).
const (
	TCPFlagFIN TCPFlags = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
	TCPFlagAE

	// TCPFlagsReserved are the control bits no RFC assigns yet; senders
	// must set them to zero (RFC 9293 §3.1).
	TCPFlagsReserved TCPFlags = 0x0e00
)

// tcpFlagNames are the names of the assigned bits, FIN first.
var tcpFlagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "AE"}

// Contains reports whether every bit of g is set in f.
func (f TCPFlags) Contains(g TCPFlags) bool { return f&g == g }

// Intersects reports whether any bit of g is set in f.
func (f TCPFlags) Intersects(g TCPFlags) bool { return f&g != 0 }

// String returns the names of the set bits joined by "|", lowest bit first
// ("SYN|ACK"), with any reserved bits as a hexadecimal number at the end;
// an empty set is "0".
func (f TCPFlags) String() string {
	if f == 0 {
		return "0"
	}
	var buf [64]byte
	s := buf[:0]
	for i, name := range tcpFlagNames {
		if f&(1<<i) != 0 {
			if len(s) > 0 {
				s = append(s, '|')
			}
			s = append(s, name...)
		}
	}
	if rest := f &^ (1<<len(tcpFlagNames) - 1); rest != 0 {
		if len(s) > 0 {
			s = append(s, '|')
		}
		s = append(s, "0x"...)
		s = strconv.AppendUint(s, uint64(rest), 16)
	}
	return string(s)
}

// ParseTCP returns b as a TCP view if it holds the fixed header and the
// data offset is at least 5 words (RFC 9293 §3.1: the header is an
// integral number of 32-bit words, at least 20 bytes) and within b.
// b should be exactly the IP payload: bytes after the segment cannot be
// told from data.
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPMinimumSize {
		return nil, ErrTruncated
	}
	n := int(b[tcpDataOffset]>>4) * 4
	if n < TCPMinimumSize || n > len(b) {
		return nil, ErrBadHeaderLength
	}
	return TCP(b), nil
}

// SourcePort returns the source port.
func (b TCP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[tcpSrcPort:]) }

// DestinationPort returns the destination port.
func (b TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[tcpDstPort:]) }

// SequenceNumber returns the sequence number of the segment's first
// sequence number (the SYN, if set, else the first data byte).
func (b TCP) SequenceNumber() seqnum.Value {
	return seqnum.Value(binary.BigEndian.Uint32(b[tcpSeqNum:]))
}

// AckNumber returns the acknowledgment number, meaningful when the ACK
// flag is set.
func (b TCP) AckNumber() seqnum.Value {
	return seqnum.Value(binary.BigEndian.Uint32(b[tcpAckNum:]))
}

// DataOffset returns the Data Offset field: the header's length in 32-bit
// words.
func (b TCP) DataOffset() uint8 { return b[tcpDataOffset] >> 4 }

// HeaderLength returns the header's length in bytes, options included.
func (b TCP) HeaderLength() int { return int(b.DataOffset()) * 4 }

// Flags returns the control bits.
func (b TCP) Flags() TCPFlags {
	return TCPFlags(b[tcpDataOffset]&0x0f)<<8 | TCPFlags(b[tcpFlags])
}

// WindowSize returns the Window field, not scaled (RFC 7323 §2.2: the
// receiver of the segment shifts it by the window scale, except on SYNs).
func (b TCP) WindowSize() uint16 { return binary.BigEndian.Uint16(b[tcpWindow:]) }

// Checksum returns the Checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[tcpChecksum:]) }

// UrgentPointer returns the Urgent Pointer field, meaningful when the URG
// flag is set.
func (b TCP) UrgentPointer() uint16 { return binary.BigEndian.Uint16(b[tcpUrgent:]) }

// Options returns the options area: the bytes between the fixed header and
// the data, padding included. Walk it with NewTCPOptionIterator or decode
// it with ParseTCPOptions.
func (b TCP) Options() []byte { return b[tcpOptions:b.HeaderLength()] }

// Payload returns the data after the header.
func (b TCP) Payload() []byte { return b[b.HeaderLength():] }

// SetSourcePort sets the source port. The checksum is not updated.
func (b TCP) SetSourcePort(port uint16) { binary.BigEndian.PutUint16(b[tcpSrcPort:], port) }

// SetDestinationPort sets the destination port. The checksum is not
// updated.
func (b TCP) SetDestinationPort(port uint16) { binary.BigEndian.PutUint16(b[tcpDstPort:], port) }

// SetSequenceNumber sets the sequence number.
func (b TCP) SetSequenceNumber(v seqnum.Value) {
	binary.BigEndian.PutUint32(b[tcpSeqNum:], uint32(v))
}

// SetAckNumber sets the acknowledgment number.
func (b TCP) SetAckNumber(v seqnum.Value) {
	binary.BigEndian.PutUint32(b[tcpAckNum:], uint32(v))
}

// SetFlags sets the control bits, leaving the data offset unchanged.
func (b TCP) SetFlags(f TCPFlags) {
	b[tcpDataOffset] = b[tcpDataOffset]&0xf0 | byte(f>>8)&0x0f
	b[tcpFlags] = byte(f)
}

// SetWindowSize sets the Window field.
func (b TCP) SetWindowSize(w uint16) { binary.BigEndian.PutUint16(b[tcpWindow:], w) }

// SetChecksum sets the Checksum field.
func (b TCP) SetChecksum(xsum uint16) { binary.BigEndian.PutUint16(b[tcpChecksum:], xsum) }

// SetUrgentPointer sets the Urgent Pointer field.
func (b TCP) SetUrgentPointer(p uint16) { binary.BigEndian.PutUint16(b[tcpUrgent:], p) }

// CalculateChecksum returns the value for the Checksum field of the whole
// segment in b (header, options and data, the Checksum field counted as
// zero) sent from src to dst: the complemented sum of the pseudo-header
// (RFC 9293 §3.1; RFC 8200 §8.1 for IPv6) and the segment. src and dst must
// be both IPv4 or both IPv6 (unmap IPv4-mapped addresses first).
//
// Unlike UDP's, TCP's checksum has no "none" value: a computed zero is sent
// as zero.
func (b TCP) CalculateChecksum(src, dst netip.Addr) uint16 {
	p := b.Payload()
	return b.CalculateChecksumPartial(src, dst, len(p), Checksum(p, 0))
}

// CalculateChecksumPartial is CalculateChecksum for a segment whose data is
// not in b, such as a header built in a buffer's headroom in front of a
// chunked payload. It sums the header of b (HeaderLength bytes, ignoring
// anything after them), payloadLen bytes of data for the pseudo-header's
// TCP Length, and payloadSum, the un-complemented one's-complement sum of
// the data (a Checksummer's Sum).
func (b TCP) CalculateChecksumPartial(src, dst netip.Addr, payloadLen int, payloadSum uint16) uint16 {
	return ^b.tcpSum(src, dst, payloadLen, payloadSum)
}

// tcpSum returns the un-complemented sum of the pseudo-header, the header
// with its Checksum field counted as zero, and payloadSum.
func (b TCP) tcpSum(src, dst netip.Addr, payloadLen int, payloadSum uint16) uint16 {
	hl := b.HeaderLength()
	// RFC 9293 §3.1: TCP Length is the header length plus the data
	// length, computed, not carried in the segment.
	sum := PseudoHeaderChecksum(tcpip.TCPProtocolNumber, src, dst, uint32(hl+payloadLen))
	sum = Checksum(b[:tcpChecksum], sum)
	sum = Checksum(b[tcpUrgent:hl], sum)
	return ChecksumCombine(sum, payloadSum)
}

// IsChecksumValid reports whether the segment in b, received from src to
// dst, has a correct checksum (RFC 9293 §3.1: the sum over the
// pseudo-header and the whole segment, Checksum field included, is all
// ones).
func (b TCP) IsChecksumValid(src, dst netip.Addr) bool {
	p := b.Payload()
	return b.IsChecksumValidPartial(src, dst, len(p), Checksum(p, 0))
}

// IsChecksumValidPartial is IsChecksumValid for a segment whose data is
// not in b: it sums the header of b (ignoring anything after it), the
// pseudo-header for payloadLen bytes of data, and payloadSum, the
// un-complemented sum of the data.
func (b TCP) IsChecksumValidPartial(src, dst netip.Addr, payloadLen int, payloadSum uint16) bool {
	return ChecksumCombine(b.tcpSum(src, dst, payloadLen, payloadSum), b.Checksum()) == 0xffff
}

// Fields returns the decoded header. Its Options share b's bytes.
func (b TCP) Fields() TCPFields {
	return TCPFields{
		SrcPort:       b.SourcePort(),
		DstPort:       b.DestinationPort(),
		SeqNum:        b.SequenceNumber(),
		AckNum:        b.AckNumber(),
		Flags:         b.Flags(),
		WindowSize:    b.WindowSize(),
		Checksum:      b.Checksum(),
		UrgentPointer: b.UrgentPointer(),
		Options:       b.Options(),
	}
}

// TCPFields is a TCP header to encode. The data offset is not a field: it
// follows from the length of Options, which Encode pads with zero bytes
// (EOL) to a multiple of 4 (RFC 9293 §3.1, "Padding"). Options longer than
// TCPMaximumOptionsSize cannot be expressed; encoding them is a
// programming error. Build Options with a TCPOptionsBuilder or
// TCPOptions.Encode. Checksum is written as given: compute it afterwards
// with CalculateChecksum and store it with SetChecksum.
type TCPFields struct {
	SrcPort       uint16
	DstPort       uint16
	SeqNum        seqnum.Value
	AckNum        seqnum.Value
	Flags         TCPFlags
	WindowSize    uint16
	Checksum      uint16
	UrgentPointer uint16
	Options       []byte
}

// Size returns the length of the encoded header: 20 bytes plus the options
// padded to a multiple of 4.
func (f *TCPFields) Size() int {
	return TCPMinimumSize + (len(f.Options)+3)&^3
}

// Encode writes the header and its options at the start of b and returns
// the header as a view (of Size bytes; data, if any, follows it in b).
func (f *TCPFields) Encode(b []byte) TCP {
	n := f.Size()
	if n > TCPMaximumSize {
		panic("header: TCP options longer than 40 bytes")
	}
	b = b[:n]
	binary.BigEndian.PutUint16(b[tcpSrcPort:], f.SrcPort)
	binary.BigEndian.PutUint16(b[tcpDstPort:], f.DstPort)
	binary.BigEndian.PutUint32(b[tcpSeqNum:], uint32(f.SeqNum))
	binary.BigEndian.PutUint32(b[tcpAckNum:], uint32(f.AckNum))
	b[tcpDataOffset] = byte(n/4)<<4 | byte(f.Flags>>8)&0x0f
	b[tcpFlags] = byte(f.Flags)
	binary.BigEndian.PutUint16(b[tcpWindow:], f.WindowSize)
	binary.BigEndian.PutUint16(b[tcpChecksum:], f.Checksum)
	binary.BigEndian.PutUint16(b[tcpUrgent:], f.UrgentPointer)
	pad := b[tcpOptions+copy(b[tcpOptions:], f.Options):]
	clear(pad) // RFC 9293 §3.1: "The padding is composed of zeros."
	return TCP(b)
}
