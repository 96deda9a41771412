package stack

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// PacketPrefix returns the first n bytes of pkt (headers, then Payload)
// contiguous and writable in its header area, moving them from the front of
// the Payload when the header area holds fewer. ok is false if pkt is
// shorter than n.
func PacketPrefix(pkt *buffer.Packet, n int) (b []byte, ok bool) {
	if have := pkt.HeaderLen(); have < n {
		if _, ok := pkt.Consume(n - have); !ok {
			return nil, false
		}
	}
	return pkt.Headers()[:n], true
}

// FillTransportChecksum computes the checksum of the TCP segment or UDP
// datagram that starts off bytes into pkt (counted from the start of its
// headers) and runs to its end, with src and dst in the pseudo-header, and
// stores it. It is how a packet whose checksum a transmit offload was left
// to compute (buffer.Packet.ChecksumPending) is completed before it leaves
// by a link that will not. It reports false, changing nothing, for another
// protocol or a truncated header.
func FillTransportChecksum(pkt *buffer.Packet, off int, proto tcpip.TransportProtocolNumber, src, dst netip.Addr) bool {
	var field, minLen int
	switch proto {
	case tcpip.TCPProtocolNumber:
		// RFC 9293 §3.1: the checksum is at byte 16 of the header.
		field, minLen = 16, header.TCPMinimumSize
	case tcpip.UDPProtocolNumber:
		// RFC 768: the checksum is at byte 6 of the header.
		field, minLen = 6, header.UDPMinimumSize
	default:
		return false
	}
	n := pkt.Len() - off
	if off < 0 || n < minLen {
		return false
	}
	hdr, ok := PacketPrefix(pkt, off+minLen)
	if !ok {
		return false
	}
	cs := hdr[off+field : off+field+2]
	cs[0], cs[1] = 0, 0

	// RFC 9293 §3.1 and RFC 768 (RFC 8200 §8.1 for IPv6): the sum covers
	// the pseudo-header and the whole segment, the checksum field as zero.
	var c header.Checksummer
	skip := off
	for b := range pkt.All() {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		c.Add(b[skip:])
		skip = 0
	}
	sum := ^header.ChecksumCombine(header.PseudoHeaderChecksum(proto, src, dst, uint32(n)), c.Sum())
	if proto == tcpip.UDPProtocolNumber && sum == 0 {
		// RFC 768: a computed checksum of zero is sent as all ones
		// (zero means "none" on IPv4 and is invalid on IPv6).
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(cs, sum)
	pkt.ChecksumPending = false
	return true
}
