package stack

import (
	"bytes"
	"encoding/binary"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// Generic receive offload (GRO): a NIC whose link delivers a batch of
// packets (BatchDispatcher) coalesces the consecutive in-order TCP segments
// of a flow in the batch into one larger segment before IPv4 and TCP see
// it, so that the per-segment costs above the link (demultiplexing, locks,
// the TCP receive path, waking the reader) are paid once for up to 44
// segments. The rules are those of Linux's tcp_gro_receive, which a
// segment must follow to be appended to the previous one:
//   - both are IPv4 without options, not fragments, with the same
//     addresses, TOS (so the same ECN codepoint: RFC 3168 §6.1.1 marks
//     must not be merged away), TTL and Don't Fragment bit; the
//     Identification may differ; each header checksum is valid;
//   - both are TCP between the same ports, with the same acknowledgment
//     number, window and options byte for byte (timestamps included:
//     RFC 7323 §4.3's echo rules are applied by TCP to the coalesced
//     segment as to its first one), and the follower starts where the
//     previous data ended;
//   - neither carries SYN, FIN, RST, URG, ECE or CWR: only ACK and PSH;
//     a segment shorter than the first (the last of a burst) ends the run.
//     Unlike Linux, PSH does not end a run: Linux flushes on PSH because
//     it holds a run across polls of the device, and PSH asks for prompt
//     delivery (RFC 9293 §3.9.1); here a run never outlives the batch, so
//     the coalesced segment reaches TCP exactly when its parts would have,
//     and ustack's sender sets PSH on most segments;
//   - the coalesced datagram stays within the 65535 bytes of IPv4's Total
//     Length.
//
// The coalesced packet keeps the first segment's headers, with the Total
// Length (and the header checksum) updated and PSH if a follower had it;
// its TCP checksum is not recomputed, which is why GRO runs only on links
// that report CapabilityRXChecksumOffload (a link whose checksums would be
// verified in software gets no GRO). buffer.Packet.Segments counts the
// segments and TCP adds them to its count of unacknowledged full-sized
// segments, so that a coalesced segment holding two or more is
// acknowledged at once, as its parts would have been (RFC 1122 §4.2.3.2,
// RFC 9293 §3.8.6.3: an ACK for at least every second full-sized
// segment), never after the delayed-ACK timer; the one ACK covers them all
// (a stretch ACK, as with Linux's GRO). Packet endpoints see the coalesced
// packet, as tcpdump does on a Linux NIC with GRO, and the NIC's
// RxPackets counts its segments.

// groAllowedFlags are the TCP flags a coalesced segment may carry.
const groAllowedFlags = header.TCPFlagACK | header.TCPFlagPSH

// groFlow is the packet that later segments of its flow may be appended
// to: its headers, writable in place, and what the next segment must be.
type groFlow struct {
	pkt  *buffer.Packet
	ip   header.IPv4
	tcp  header.TCP
	mss  int          // payload length of the first segment
	next seqnum.Value // sequence number the next segment must have
}

// groParse returns the IPv4 and TCP headers of an inbound packet whose
// Payload starts with the IPv4 header, and its TCP payload length, if it is
// a candidate for GRO. With writable, the headers must be writable in place
// (the packet would head a run).
func groParse(p *buffer.Packet, writable bool) (ip header.IPv4, tcp header.TCP, n int, ok bool) {
	if p.NetworkProtocol != tcpip.IPv4ProtocolNumber || p.Type != buffer.PacketHost {
		return nil, nil, 0, false
	}
	b, ok := p.Peek(header.IPv4MinimumSize + header.TCPMinimumSize)
	if !ok || b[0] != 0x45 || tcpip.TransportProtocolNumber(b[9]) != tcpip.TCPProtocolNumber {
		// Not version 4 with a 20-byte header (options, which are rare
		// on a bulk flow, are left to the slow path), or not TCP.
		return nil, nil, 0, false
	}
	ip = header.IPv4(b)
	total := p.Payload.Len()
	if int(ip.TotalLength()) != total || ip.More() || ip.FragmentOffset() != 0 {
		return nil, nil, 0, false
	}
	thl := int(b[header.IPv4MinimumSize+12]>>4) * 4
	hl := header.IPv4MinimumSize + thl
	if thl < header.TCPMinimumSize || hl > total {
		return nil, nil, 0, false
	}
	if writable {
		b, ok = p.PeekWritable(hl)
	} else {
		b, ok = p.Peek(hl)
	}
	if !ok || !header.IPv4(b[:header.IPv4MinimumSize]).IsChecksumValid() {
		return nil, nil, 0, false
	}
	ip, tcp = header.IPv4(b[:header.IPv4MinimumSize]), header.TCP(b[header.IPv4MinimumSize:])
	if tcp.Flags()&^groAllowedFlags != 0 || tcp.Flags()&header.TCPFlagACK == 0 {
		return nil, nil, 0, false
	}
	return ip, tcp, total - hl, true
}

// groMatches reports whether a segment with headers ip and tcp and n bytes
// of payload continues flow f.
func groMatches(f *groFlow, ip header.IPv4, tcp header.TCP, n int) bool {
	switch {
	case n == 0 || n > f.mss:
		return false
	case int(f.ip.TotalLength())+n > header.IPv4MaximumPacketSize:
		return false
	case !bytes.Equal(f.ip[12:20], ip[12:20]): // addresses
		return false
	case f.ip.TOS() != ip.TOS() || f.ip.TTL() != ip.TTL() || f.ip.Flags() != ip.Flags():
		return false
	case binary.BigEndian.Uint32(f.tcp) != binary.BigEndian.Uint32(tcp): // ports
		return false
	case tcp.SequenceNumber() != f.next || tcp.AckNumber() != f.tcp.AckNumber():
		return false
	case tcp.WindowSize() != f.tcp.WindowSize() || !bytes.Equal(tcp.Options(), f.tcp.Options()):
		// Options() also covers the header length.
		return false
	}
	return len(tcp.Options()) == len(f.tcp.Options())
}

// groCoalesce coalesces the runs of segments of pkts that GRO may merge
// (see above) and returns the packets left, in order, in pkts' storage.
// Each follower is released; its payload is moved, not copied, to the end
// of the packet heading its run. It returns the number of segments merged
// away.
func groCoalesce(pkts []*buffer.Packet) ([]*buffer.Packet, int) {
	out := pkts[:0]
	merged := 0
	var f groFlow
	for _, p := range pkts {
		if f.pkt != nil {
			if ip, tcp, n, ok := groParse(p, false); ok && groMatches(&f, ip, tcp, n) {
				push := tcp.Flags()&header.TCPFlagPSH != 0
				f.ip.SetTotalLength(f.ip.TotalLength() + uint16(n))
				if push {
					f.tcp.SetFlags(f.tcp.Flags() | header.TCPFlagPSH)
				}
				p.Payload.TrimFront(p.Payload.Len() - n)
				f.pkt.Payload.Merge(&p.Payload)
				f.pkt.Segments++
				p.Release()
				merged++
				f.next = f.next.Add(seqnum.Size(n))
				if n < f.mss {
					f = groFlow{}
				}
				continue
			}
		}
		out = append(out, p)
		f = groFlow{}
		if ip, tcp, n, ok := groParse(p, true); ok && n > 0 {
			p.Segments = 1
			f = groFlow{pkt: p, ip: ip, tcp: tcp, mss: n, next: tcp.SequenceNumber().Add(seqnum.Size(n))}
		}
	}
	// Clear the tail so that the caller's array pins no released packet.
	clear(pkts[len(out):])
	return out, merged
}
