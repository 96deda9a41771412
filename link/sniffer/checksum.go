package sniffer

import (
	"encoding/binary"
	"net/netip"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// fillChecksums computes the TCP or UDP checksum of the frame in b, a
// private copy being written to the capture, in place: what a link with
// transmit checksum offload would have put there. Frames that are not
// IPv4 or IPv6, fragments (their datagram is not all here), and frames too
// short for what their headers claim are left alone.
func fillChecksums(lt LinkType, b []byte) {
	var ethType uint16
	switch lt {
	case LinkTypeEthernet:
		if len(b) < header.EthernetMinimumSize {
			return
		}
		ethType = binary.BigEndian.Uint16(b[12:])
		b = b[header.EthernetMinimumSize:]
	case LinkTypeRaw:
		if len(b) == 0 {
			return
		}
		switch b[0] >> 4 {
		case 4:
			ethType = uint16(tcpip.IPv4ProtocolNumber)
		case 6:
			ethType = uint16(tcpip.IPv6ProtocolNumber)
		}
	default:
		return
	}
	switch tcpip.NetworkProtocolNumber(ethType) {
	case tcpip.IPv4ProtocolNumber:
		if len(b) < header.IPv4MinimumSize {
			return
		}
		h := header.IPv4(b)
		hl, tl := h.HeaderLength(), int(h.TotalLength())
		if h.IsFragment() || hl < header.IPv4MinimumSize || tl < hl || tl > len(b) {
			return
		}
		fillSegment(b[hl:tl], h.Protocol(), h.Source(), h.Destination())
	case tcpip.IPv6ProtocolNumber:
		if len(b) < header.IPv6MinimumSize {
			return
		}
		h := header.IPv6(b)
		end := header.IPv6MinimumSize + int(h.PayloadLength())
		if end > len(b) {
			return
		}
		next, off := h.NextHeader(), header.IPv6MinimumSize
		// RFC 8200 §4.1: the extension headers before the transport
		// header; a Fragment header (§4.5) ends the walk.
		for range 8 {
			switch next {
			case tcpip.IPv6HopByHopProtocolNumber, tcpip.IPv6RoutingProtocolNumber, tcpip.IPv6DestinationOptionsNumber:
				if off+2 > end {
					return
				}
				next = tcpip.TransportProtocolNumber(b[off])
				off += (int(b[off+1]) + 1) * 8
				if off > end {
					return
				}
			default:
				fillSegment(b[off:end], next, h.Source(), h.Destination())
				return
			}
		}
	}
}

// fillSegment computes and stores the checksum of the TCP segment or UDP
// datagram seg (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1); other protocols
// are left alone.
func fillSegment(seg []byte, proto tcpip.TransportProtocolNumber, src, dst netip.Addr) {
	var field int
	switch proto {
	case tcpip.TCPProtocolNumber:
		if len(seg) < header.TCPMinimumSize {
			return
		}
		field = 16
	case tcpip.UDPProtocolNumber:
		if len(seg) < header.UDPMinimumSize {
			return
		}
		field = 6
	default:
		return
	}
	seg[field], seg[field+1] = 0, 0
	sum := ^header.Checksum(seg, header.PseudoHeaderChecksum(proto, src, dst, uint32(len(seg))))
	if proto == tcpip.UDPProtocolNumber && sum == 0 {
		// RFC 768: a computed zero is sent as all ones.
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(seg[field:], sum)
}
