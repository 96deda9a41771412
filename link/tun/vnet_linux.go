package tun

import (
	"encoding/binary"

	"github.com/ustack-go/ustack/header"
)

// honourVnetHdr carries out what the virtio-net header at the start of b
// (a whole read: the header, then the frame) asks of the receiver, in
// place, and reports whether the frame can be delivered.
//
// A partial checksum (VirtioNetNeedsCsum) is completed here, so that the
// stack's own check passes: the stack has no per-packet "checksum
// verified" mark, only a link-wide capability, and a TAP also carries
// frames with full checksums that must be checked.
//
// A TCP super-segment (GSO TCPv4 or TCPv6) is delivered whole, as one
// large segment: its IP header already counts the whole super-segment
// (Linux sets the Total Length or Payload Length of a GSO packet to its
// full size), the IP layers accept a datagram larger than the link MTU
// from the link, and TCP accepts a segment larger than its MSS as long as
// it is within the window (RFC 9293 §3.10.7.4 judges a segment by
// sequence space, not by size). Cutting it into GSOSize segments would
// only multiply the per-segment work that GSO spares. Other GSO types
// (UDP fragmentation and segmentation) are never asked for and are
// dropped.
func (e *Endpoint) honourVnetHdr(b []byte) bool {
	h, err := header.ParseVirtioNet(b, e.vnet)
	if err != nil {
		return false
	}
	frame := b[e.vnet:]
	switch h.GSOType() &^ header.VirtioNetGSOECN {
	case header.VirtioNetGSONone:
	case header.VirtioNetGSOTCPv4, header.VirtioNetGSOTCPv6:
		if e.dev.Offload()&(OffloadTSO4|OffloadTSO6) == 0 {
			return false
		}
		e.stats.RxSuperSegments.Inc()
	default:
		return false
	}
	if h.Flags()&header.VirtioNetNeedsCsum != 0 {
		if !completeChecksum(frame, e.mode, int(h.CsumStart()), int(h.CsumOffset())) {
			return false
		}
		e.stats.RxCsumCompleted.Inc()
	}
	return true
}

// completeChecksum stores the checksum VirtioNetNeedsCsum leaves to the
// receiver (VIRTIO 1.2 §5.1.6.2.1): the 16-bit field at start+off holds
// the pseudo-header sum; the one's-complement sum from start to the end
// of the IP datagram, that field included, is complemented and stored
// there (RFC 1071 §1). It reports false when the offsets fall outside the
// datagram.
func completeChecksum(frame []byte, mode Mode, start, off int) bool {
	end := ipDatagramEnd(frame, mode)
	at := start + off
	if start < 0 || at+2 > end || off < 0 {
		return false
	}
	// The field is part of the summed range (it holds the pseudo-header
	// sum), so the sum is taken with it as it is.
	x := ^header.Checksum(frame[start:end], 0)
	if x == 0 {
		// RFC 768: a computed UDP checksum of zero is sent as all
		// ones, zero meaning "none" over IPv4; for TCP both are the
		// same one's-complement zero (RFC 1624 §3), so one rule fits
		// both.
		x = 0xffff
	}
	binary.BigEndian.PutUint16(frame[at:], x)
	return true
}

// ipDatagramEnd returns where the IP datagram in frame ends: after the
// length its header declares, so that no link padding is summed, or at the
// end of frame when the header cannot be read (the IP layer drops such a
// frame anyway).
func ipDatagramEnd(frame []byte, mode Mode) int {
	l3 := 0
	if mode == TAP {
		l3 = header.EthernetMinimumSize
		if len(frame) >= l3 && binary.BigEndian.Uint16(frame[12:]) == 0x8100 {
			// IEEE 802.1Q-2018 §9.3: a tag of 4 bytes before the
			// EtherType.
			l3 += vlanTagSize
		}
	}
	if len(frame) <= l3 {
		return len(frame)
	}
	var n int
	switch frame[l3] >> 4 {
	case 4:
		if len(frame) < l3+header.IPv4MinimumSize {
			return len(frame)
		}
		n = l3 + int(binary.BigEndian.Uint16(frame[l3+2:]))
	case 6:
		if len(frame) < l3+header.IPv6MinimumSize {
			return len(frame)
		}
		n = l3 + header.IPv6MinimumSize + int(binary.BigEndian.Uint16(frame[l3+4:]))
	default:
		return len(frame)
	}
	return min(n, len(frame))
}
