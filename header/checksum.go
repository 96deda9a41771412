package header

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/ustack-go/ustack/tcpip"
)

// Checksum returns the 16-bit one's-complement sum (RFC 1071) of b added to
// initial, not complemented. The result is the sum of b's big-endian 16-bit
// words, b's last byte padded with a zero if len(b) is odd.
//
// The sum is order-independent (RFC 1071 §2(B)), so it is accumulated over
// 64-bit little-endian loads with end-around carries and byte-swapped once at
// the end; the code uses only encoding/binary loads, which are correct on
// every architecture and alignment, and single loads on amd64 and arm64.
func Checksum(b []byte, initial uint16) uint16 {
	acc := uint64(bits.ReverseBytes16(initial))
	var c0, c1, c2, c3 uint64
	for len(b) >= 32 {
		acc, c0 = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), c0)
		acc, c1 = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), c1)
		acc, c2 = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), c2)
		acc, c3 = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), c3)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c0 = bits.Add64(acc, binary.LittleEndian.Uint64(b), c0)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c1 = bits.Add64(acc, uint64(binary.LittleEndian.Uint32(b)), c1)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c2 = bits.Add64(acc, uint64(binary.LittleEndian.Uint16(b)), c2)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c3 = bits.Add64(acc, uint64(b[0]), c3)
	}
	// Each carry is at most one per add; their sum is small enough to add
	// without another carry out of 64 bits beyond what the fold handles.
	acc, carry := bits.Add64(acc, c0+c1+c2+c3, 0)
	acc += carry // cannot overflow: acc is at most 2^64-2 after a carry
	return bits.ReverseBytes16(fold64(acc))
}

// fold64 reduces a 64-bit one's-complement accumulator to 16 bits.
func fold64(acc uint64) uint16 {
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint16(acc)
}

// ChecksumCombine returns the one's-complement sum of a and b.
func ChecksumCombine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// Checksummer sums a byte stream given in pieces of any length, such as the
// chunks of a packet's payload. The zero value is an empty sum.
type Checksummer struct {
	sum uint16
	odd bool // an odd number of bytes has been added so far
}

// Add adds b to the sum.
func (c *Checksummer) Add(b []byte) {
	if len(b) == 0 {
		return
	}
	s := Checksum(b, 0)
	if c.odd {
		// b starts at an odd offset of the stream: its words are
		// shifted by one byte, which swaps the bytes of its sum
		// (RFC 1071 §2(B) byte swapping).
		s = bits.ReverseBytes16(s)
	}
	c.sum = ChecksumCombine(c.sum, s)
	if len(b)%2 == 1 {
		c.odd = !c.odd
	}
}

// Sum returns the sum of everything added, not complemented.
func (c *Checksummer) Sum() uint16 { return c.sum }

// ChecksumUpdate returns the checksum field value after a 16-bit word of the
// covered data changes from old to new, without summing the data again
// (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')). xsum is the field's current
// value (the complemented sum).
func ChecksumUpdate(xsum, old, new uint16) uint16 {
	return ^ChecksumCombine(ChecksumCombine(^xsum, ^old), new)
}

// ChecksumUpdateAddress is ChecksumUpdate for an address field (as NAT
// rewrites it): old and new must be of the same family.
func ChecksumUpdateAddress(xsum uint16, old, new netip.Addr) uint16 {
	if old.Is4() && new.Is4() {
		o, n := old.As4(), new.As4()
		return checksumUpdateBytes(xsum, o[:], n[:])
	}
	o, n := old.As16(), new.As16()
	return checksumUpdateBytes(xsum, o[:], n[:])
}

func checksumUpdateBytes(xsum uint16, old, new []byte) uint16 {
	for i := 0; i+1 < len(old); i += 2 {
		xsum = ChecksumUpdate(xsum, binary.BigEndian.Uint16(old[i:]), binary.BigEndian.Uint16(new[i:]))
	}
	return xsum
}

// PseudoHeaderChecksum returns the sum (not complemented) of the pseudo-header
// that TCP, UDP and ICMPv6 checksums cover: RFC 9293 §3.1 and RFC 768 for
// IPv4 (source, destination, zero, protocol, 16-bit length), RFC 8200 §8.1 for
// IPv6 (source, destination, 32-bit length, three zero bytes, next header).
// src and dst must both be IPv4 or both IPv6.
func PseudoHeaderChecksum(proto tcpip.TransportProtocolNumber, src, dst netip.Addr, length uint32) uint16 {
	var sum uint16
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = Checksum(s[:], 0)
		sum = Checksum(d[:], sum)
	} else {
		s, d := src.As16(), dst.As16()
		sum = Checksum(s[:], 0)
		sum = Checksum(d[:], sum)
		sum = ChecksumCombine(sum, uint16(length>>16))
	}
	sum = ChecksumCombine(sum, uint16(length))
	return ChecksumCombine(sum, uint16(proto))
}
