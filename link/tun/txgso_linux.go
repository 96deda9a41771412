package tun

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// Outbound segmentation offload. ustack's TCP sends segments of at most
// one MSS, one WritePackets call each; the TUN driver charges a write(2)
// with the kernel's whole receive path for its frame, so the cost per
// segment bounds ustack → kernel throughput. With a virtio-net header the
// kernel accepts a TCP super-segment instead (VIRTIO 1.2 §5.1.6.2: a
// packet with a gso_type and gso_size, its checksum partial), which it
// receives as one (as it does a GRO-merged packet) or cuts into gso_size
// segments itself when it forwards it. So the endpoint queues what the
// stack writes and a writer goroutine drains the queue, merging each run
// of consecutive in-order segments of one connection into one
// super-segment: a burst the stack sends while the writer is in write(2)
// goes out in one call.

// txQueueMax bounds the packets queued for the writer; WritePackets waits
// for room beyond it, as a blocking write would.
const txQueueMax = 512

// tcpSeg describes an outbound frame that may take part in a
// super-segment: a TCP segment with data over IPv4 without options or
// fragmentation, or over IPv6 without extension headers, its headers all
// in the packet's header area.
type tcpSeg struct {
	hdr    []byte // the frame's headers: link (TAP), IP, TCP
	l3, l4 int    // offsets of the IP and TCP headers in hdr
	v6     bool
	flags  header.TCPFlags
	seq    uint32
	n      int // data bytes (the packet's Payload)
}

// parseTCPSeg reports whether pkt can take part in a super-segment, and
// describes it.
func parseTCPSeg(pkt *buffer.Packet, mode Mode) (tcpSeg, bool) {
	s := tcpSeg{hdr: pkt.Headers(), n: pkt.Payload.Len()}
	if s.n == 0 {
		return s, false
	}
	h := s.hdr
	if mode == TAP {
		s.l3 = header.EthernetMinimumSize
		if len(h) < s.l3 {
			return s, false
		}
		switch tcpip.NetworkProtocolNumber(binary.BigEndian.Uint16(h[12:])) {
		case tcpip.IPv4ProtocolNumber:
		case tcpip.IPv6ProtocolNumber:
			s.v6 = true
		default:
			return s, false
		}
	} else if len(h) > 0 {
		s.v6 = h[0]>>4 == 6
	}
	if s.v6 {
		s.l4 = s.l3 + header.IPv6MinimumSize
		if len(h) < s.l4 || h[s.l3]>>4 != 6 || h[s.l3+6] != uint8(tcpip.TCPProtocolNumber) {
			return s, false
		}
	} else {
		s.l4 = s.l3 + header.IPv4MinimumSize
		// IHL 5 (no options), TCP, neither MF nor a fragment offset.
		if len(h) < s.l4 || h[s.l3] != 0x45 || h[s.l3+9] != uint8(tcpip.TCPProtocolNumber) ||
			binary.BigEndian.Uint16(h[s.l3+6:])&0x3fff != 0 {
			return s, false
		}
	}
	if len(h) < s.l4+header.TCPMinimumSize {
		return s, false
	}
	t := header.TCP(h[s.l4:])
	if t.HeaderLength() < header.TCPMinimumSize || s.l4+t.HeaderLength() != len(h) {
		return s, false
	}
	// Only plain data: SYN, FIN, RST, URG, ECE and CWR each mean
	// something for one segment (RFC 9293 §3.1, RFC 3168 §6.1), which
	// the kernel's segmentation would copy to every piece or to the
	// first only.
	s.flags = t.Flags()
	if s.flags&^(header.TCPFlagACK|header.TCPFlagPSH) != 0 || s.flags&header.TCPFlagACK == 0 {
		return s, false
	}
	s.seq = uint32(t.SequenceNumber())
	return s, true
}

// follows reports whether s can be appended to a run that starts with
// first and whose next sequence number is next: same headers but for the
// lengths, IP ID and checksums, and the sequence number next.
func (s *tcpSeg) follows(first *tcpSeg, next uint32) bool {
	if s.seq != next || s.v6 != first.v6 || len(s.hdr) != len(first.hdr) || s.n > first.n {
		return false
	}
	a, b := s.hdr, first.hdr
	if !bytes.Equal(a[:first.l3], b[:first.l3]) {
		return false
	}
	ip, fip := a[first.l3:first.l4], b[first.l3:first.l4]
	if first.v6 {
		// Everything but Payload Length (RFC 8200 §3).
		if !bytes.Equal(ip[:4], fip[:4]) || !bytes.Equal(ip[6:], fip[6:]) {
			return false
		}
	} else {
		// Everything but Total Length, Identification and Header
		// Checksum (RFC 791 §3.1).
		if ip[1] != fip[1] || !bytes.Equal(ip[6:10], fip[6:10]) || !bytes.Equal(ip[12:], fip[12:]) {
			return false
		}
	}
	t, ft := a[first.l4:], b[first.l4:]
	// Ports, acknowledgment, data offset, window, urgent pointer and
	// options (timestamps included) equal; the flags are checked by the
	// caller (PSH may end a run).
	return bytes.Equal(t[:4], ft[:4]) && bytes.Equal(t[8:13], ft[8:13]) &&
		bytes.Equal(t[14:16], ft[14:16]) && bytes.Equal(t[18:], ft[18:])
}

// runLength returns how many packets from the start of pkts (at least
// one) go into one frame: the first, if it cannot start a super-segment,
// or the longest run of segments that follow it, each but the last of the
// first one's size, and whose frame fits in limit bytes after the
// virtio-net header (and its IP packet in 64 KiB).
//
// PSH does not end a run: ustack sets it on every segment that empties
// the send queue, and RFC 1122 §4.2.2.2 has a sender collapse successive
// PSH bits into the largest segment it can; the super-segment carries
// PSH if any of its segments did, and the kernel's segmentation puts it
// on the last piece (RFC 9293 §3.9.1: PSH is not a record boundary).
func runLength(pkts []*buffer.Packet, mode Mode, limit int) int {
	first, ok := parseTCPSeg(pkts[0], mode)
	if !ok {
		return 1
	}
	size := len(first.hdr) + first.n
	next := first.seq + uint32(first.n)
	k := 1
	for k < len(pkts) {
		s, ok := parseTCPSeg(pkts[k], mode)
		if !ok || !s.follows(&first, next) {
			break
		}
		size += s.n
		if size > limit || size-first.l3 > header.IPv4MaximumPacketSize {
			break
		}
		k++
		next += uint32(s.n)
		if s.n < first.n {
			// Only the last piece of a super-segment may be short.
			break
		}
	}
	return k
}

// buildSuperSegment writes the frame of the run pkts (from runLength, at
// least two) with its virtio-net header into frame and returns its
// length: the first segment's headers with the lengths of the whole, the
// PSH flag if any segment had it, the IPv4 header checksum recomputed, the
// TCP checksum left partial (the pseudo-header sum, VIRTIO 1.2
// §5.1.6.2), and the data of every segment in order.
func buildSuperSegment(pkts []*buffer.Packet, mode Mode, vnet int, frame []byte) int {
	first, _ := parseTCPSeg(pkts[0], mode)
	flags := first.flags
	n := vnet + copy(frame[vnet:], first.hdr)
	for _, p := range pkts {
		flags |= header.TCP(p.Headers()[first.l4:]).Flags() & header.TCPFlagPSH
		for b := range p.Payload.All() {
			n += copy(frame[n:], b)
		}
	}
	f := frame[vnet:n]
	tcpLen := len(f) - first.l4
	gso := header.VirtioNetGSOTCPv4
	var src, dst netip.Addr
	if first.v6 {
		gso = header.VirtioNetGSOTCPv6
		ip := header.IPv6(f[first.l3:])
		binary.BigEndian.PutUint16(f[first.l3+4:], uint16(tcpLen))
		src, dst = ip.Source(), ip.Destination()
	} else {
		ip := header.IPv4(f[first.l3:])
		binary.BigEndian.PutUint16(f[first.l3+2:], uint16(len(f)-first.l3))
		ip.SetChecksum(ip.CalculateChecksum())
		src, dst = ip.Source(), ip.Destination()
	}
	t := header.TCP(f[first.l4:])
	t.SetFlags(flags)
	t.SetChecksum(header.PseudoHeaderChecksum(tcpip.TCPProtocolNumber, src, dst, uint32(tcpLen)))
	vf := header.VirtioNetFields{
		Flags:      header.VirtioNetNeedsCsum,
		GSOType:    gso,
		HdrLen:     uint16(len(first.hdr)),
		GSOSize:    uint16(first.n),
		CsumStart:  uint16(first.l4),
		CsumOffset: 16, // RFC 9293 §3.1: the checksum is bytes 16-17 of the header
	}
	vf.Encode(frame, vnet)
	return n
}

// txQueue is the queue between WritePackets and the writer goroutine of
// an endpoint with a virtio-net header.
type txQueue struct {
	mu sync.Mutex
	// cond is broadcast whenever pkts, closed or started change; both
	// the writer (waiting for packets) and WritePackets (waiting for
	// room) wait on it.
	cond sync.Cond
	// Guarded by mu.
	pkts    []*buffer.Packet
	closed  bool
	started bool
	done    chan struct{} // closed by the writer as it exits
}

// enqueue queues pkts for the writer, starting it on first use and
// waiting while the queue is full. It owns pkts.
func (e *Endpoint) enqueue(pkts []*buffer.Packet) (int, error) {
	q := &e.txq
	q.mu.Lock()
	if !q.started && !q.closed {
		q.started = true
		q.done = make(chan struct{})
		go e.writer(q.done)
	}
	for len(q.pkts) >= txQueueMax && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		e.stats.TxErrors.Add(uint64(len(pkts)))
		for _, p := range pkts {
			p.Release()
		}
		return 0, tcpip.ErrStackClosed
	}
	q.pkts = append(q.pkts, pkts...)
	q.cond.Broadcast()
	q.mu.Unlock()
	return len(pkts), nil
}

// writer is the writer goroutine: it takes everything queued at once and
// writes it, runs of segments of one connection as super-segments, until
// Close. A write error drops the frame and counts it in TxErrors (the
// stack has been told the packets were taken).
func (e *Endpoint) writer(done chan struct{}) {
	defer close(done)
	q := &e.txq
	buf := make([]byte, max(e.frameMax, buffer.MaxChunkSize))
	var batch []*buffer.Packet
	for {
		q.mu.Lock()
		for len(q.pkts) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.pkts) == 0 {
			q.mu.Unlock()
			return
		}
		batch, q.pkts = q.pkts, batch[:0]
		q.cond.Broadcast()
		q.mu.Unlock()
		for i := 0; i < len(batch); {
			k := runLength(batch[i:], e.mode, len(buf)-e.vnet)
			if k == 1 {
				if size, err := e.write(batch[i]); err != nil {
					e.stats.TxErrors.Inc()
				} else {
					e.stats.TxPackets.Inc()
					e.stats.TxBytes.Add(uint64(size))
				}
			} else {
				n := buildSuperSegment(batch[i:i+k], e.mode, e.vnet, buf)
				if _, err := e.dev.Write(buf[:n]); err != nil {
					e.stats.TxErrors.Add(uint64(k))
				} else {
					e.stats.TxSuperSegments.Inc()
					e.stats.TxPackets.Add(uint64(k))
					e.stats.TxBytes.Add(uint64(n - e.vnet))
				}
			}
			for _, p := range batch[i : i+k] {
				p.Release()
			}
			i += k
		}
		clear(batch)
	}
}

// closeQueue stops the writer, which writes or drops what is queued, and
// waits for it to exit. The device must be closed (or about to be) so
// that a write blocked on a full device returns.
func (e *Endpoint) closeQueue(closeDev func()) {
	q := &e.txq
	q.mu.Lock()
	q.closed = true
	done := q.done
	q.cond.Broadcast()
	q.mu.Unlock()
	closeDev()
	if done != nil {
		<-done
	}
}
