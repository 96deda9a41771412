package ipv6

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// fragKey identifies the packet a fragment belongs to: RFC 8200 §4.5 joins
// fragments with the same source, destination and Identification.
type fragKey struct {
	src, dst [16]byte
	id       uint32
}

// fragInfo describes one fragment, whose Fragment header was consumed into
// the network header.
type fragInfo struct {
	src, dst netip.Addr
	id       uint32
	off      int  // of its data in the fragmentable part
	more     bool // the M flag
	// unfragLen is the length of the unfragmentable part: the fixed
	// header and the extension headers before the Fragment header.
	unfragLen int
	// typeOff is the offset of the Next Header field that names the
	// Fragment header.
	typeOff int
	// fragmentNxt is the Fragment header's Next Header: the first
	// header of the fragmentable part.
	fragmentNxt tcpip.TransportProtocolNumber
}

// reassembled is a packet put together from its fragments.
type reassembled struct {
	// pkt's network header is the unfragmentable part of the first
	// fragment, its last Next Header now naming the first header of the
	// fragmentable part, which is the payload.
	pkt       *buffer.Packet
	next      tcpip.TransportProtocolNumber
	typeOff   int
	unfragLen int
}

// fragPiece is one fragment held for reassembly: bytes [off, end) of the
// fragmentable part, in pkt's payload.
type fragPiece struct {
	off, end int
	pkt      *buffer.Packet
	info     fragInfo
}

// fragPacket is a packet being reassembled. Its pieces are sorted by
// offset and never overlap.
type fragPacket struct {
	pieces   []fragPiece
	total    int // length of the fragmentable part, -1 until the last fragment arrives
	received int
	charge   int
	timer    tcpip.Timer
	// first is the endpoint the first fragment came through, which
	// reports a timeout; nil until it has come.
	first *endpoint
}

// fragOverhead is what each held fragment costs beyond its payload's
// chunks: its Packet, its header area and its slot.
const fragOverhead = 320

// fragConfig holds the reassembly limits.
type fragConfig struct {
	timeout  time.Duration
	memLimit int
	maxFrags int
}

// reassembler puts fragmented packets together again (RFC 8200 §4.5) for
// the whole stack.
//
// Limits, each drop counted: memory in all, fragments per packet, and the
// time a packet waits (60 s; then Time Exceeded, code 1, goes to the
// source if the first fragment came). A fragment that overlaps another
// drops the whole packet and every later fragment of it is dropped too
// until the timer runs out (RFC 5722 §4 and RFC 8200 §4.5); an exact
// duplicate is dropped alone (RFC 5722 erratum 3089).
type reassembler struct {
	clock tcpip.Clock
	stats *tcpip.IPStats

	mu     sync.Mutex
	cfg    fragConfig              // guarded by mu
	pkts   map[fragKey]*fragPacket // guarded by mu
	dead   map[fragKey]tcpip.Timer // guarded by mu: dropped for overlapping, until their timeout
	mem    int                     // guarded by mu
	closed bool                    // guarded by mu
}

func newReassembler(clock tcpip.Clock, stats *tcpip.IPStats) *reassembler {
	return &reassembler{
		clock: clock,
		stats: stats,
		cfg: fragConfig{
			timeout:  DefaultReassemblyTimeout,
			memLimit: DefaultReassemblyMemoryLimit,
			maxFrags: DefaultMaxFragments,
		},
		pkts: make(map[fragKey]*fragPacket),
		dead: make(map[fragKey]tcpip.Timer),
	}
}

func (r *reassembler) config() fragConfig {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

func (r *reassembler) setTimeout(d time.Duration) {
	r.mu.Lock()
	r.cfg.timeout = d
	r.mu.Unlock()
}

func (r *reassembler) setMemoryLimit(n int) {
	r.mu.Lock()
	r.cfg.memLimit = n
	r.mu.Unlock()
}

func (r *reassembler) setMaxFragments(n int) {
	r.mu.Lock()
	r.cfg.maxFrags = n
	r.mu.Unlock()
}

// process adds a fragment, whose data is pkt's payload, to its packet. It
// returns the whole packet once the last missing fragment came, or nil. It
// owns pkt.
func (r *reassembler) process(e *endpoint, fi fragInfo, pkt *buffer.Packet) *reassembled {
	n := pkt.Payload.Len()
	off, end := fi.off, fi.off+n
	key := fragKey{src: fi.src.As16(), dst: fi.dst.As16(), id: fi.id}
	charge := pkt.Payload.Size() + fragOverhead

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		pkt.Release()
		return nil
	}
	if _, ok := r.dead[key]; ok {
		// RFC 5722 §4: once a packet was dropped for overlapping
		// fragments, its later fragments are dropped as well.
		r.mu.Unlock()
		r.stats.ReassemblyOverlaps.Inc()
		pkt.Release()
		return nil
	}
	if r.mem+charge > r.cfg.memLimit {
		r.mu.Unlock()
		r.stats.ReassemblyMemoryLimit.Inc()
		pkt.Release()
		return nil
	}
	fp := r.pkts[key]
	if fp == nil {
		fp = &fragPacket{total: -1}
		r.pkts[key] = fp
		fp.timer = r.clock.AfterFunc(r.cfg.timeout, func() { r.expire(key, fp) })
	}

	// The last fragment fixes the length; every fragment must agree
	// with it.
	if (!fi.more && ((fp.total >= 0 && fp.total != end) || (len(fp.pieces) > 0 && fp.pieces[len(fp.pieces)-1].end > end))) ||
		(fi.more && fp.total >= 0 && end > fp.total) {
		r.stats.ReassemblyMalformed.Inc()
		r.dropLocked(key, fp, pkt, false)
		return nil
	}
	i, _ := slices.BinarySearchFunc(fp.pieces, off, func(p fragPiece, off int) int { return p.off - off })
	if i < len(fp.pieces) && fp.pieces[i].off == off && fp.pieces[i].end == end {
		r.mu.Unlock()
		r.stats.ReassemblyDuplicates.Inc()
		pkt.Release()
		return nil
	}
	if (i > 0 && fp.pieces[i-1].end > off) || (i < len(fp.pieces) && fp.pieces[i].off < end) {
		// RFC 5722 §4 (and RFC 8200 §4.5): overlapping fragments
		// drop the whole packet, silently.
		r.stats.ReassemblyOverlaps.Inc()
		r.dropLocked(key, fp, pkt, true)
		return nil
	}
	if len(fp.pieces) >= r.cfg.maxFrags {
		r.stats.ReassemblyTooManyFrags.Inc()
		r.dropLocked(key, fp, pkt, false)
		return nil
	}
	fp.pieces = slices.Insert(fp.pieces, i, fragPiece{off: off, end: end, pkt: pkt, info: fi})
	fp.received += n
	fp.charge += charge
	r.mem += charge
	if !fi.more {
		fp.total = end
	}
	if off == 0 {
		fp.first = e
	}
	if fp.total < 0 || fp.received != fp.total {
		r.mu.Unlock()
		return nil
	}
	// Complete: the pieces cover [0, total) without overlap.
	delete(r.pkts, key)
	r.mem -= fp.charge
	fp.timer.Stop()
	r.mu.Unlock()

	ecn, ok := fragmentsECN(fp.pieces)
	if !ok {
		r.stats.ReassemblyMalformed.Inc()
		for _, p := range fp.pieces {
			p.pkt.Release()
		}
		return nil
	}

	// RFC 8200 §4.5: the unfragmentable part comes from the first
	// fragment (offset 0); its last Next Header takes the value of the
	// first fragment's Fragment header, and the Payload Length counts
	// the unfragmentable headers and the fragmentable part.
	first := fp.pieces[0]
	fi0 := first.info
	unfrag := first.pkt.NetworkHeader()[:fi0.unfragLen]
	var data buffer.Buffer
	data.Append(unfrag)
	for _, p := range fp.pieces {
		data.Merge(&p.pkt.Payload)
	}
	whole := buffer.NewPacket(0, &data)
	whole.NIC = first.pkt.NIC
	whole.Type = first.pkt.Type
	whole.NetworkProtocol = tcpip.IPv6ProtocolNumber
	whole.LinkSource, whole.LinkDestination = first.pkt.LinkSource, first.pkt.LinkDestination
	for _, p := range fp.pieces {
		p.pkt.Release()
	}
	hdr, _ := whole.ConsumeHeader(buffer.NetworkLayer, fi0.unfragLen)
	hdr[fi0.typeOff] = uint8(fi0.fragmentNxt)
	h := header.IPv6(hdr)
	h.SetTrafficClass(h.TrafficClass()&^3 | ecn)
	binary.BigEndian.PutUint16(hdr[ipv6PayloadLengthOff:], uint16(fi0.unfragLen-header.IPv6MinimumSize+fp.total))
	r.stats.PacketsReassembled.Inc()
	return &reassembled{pkt: whole, next: fi0.fragmentNxt, typeOff: fi0.typeOff, unfragLen: fi0.unfragLen}
}

// ECN codepoints (RFC 3168 §5).
const (
	ecnNotECT = 0
	ecnCE     = 3
)

// fragmentsECN returns the ECN field of a packet reassembled from pieces
// (RFC 3168 §5.3): CE if any fragment was marked CE and the others are
// ECN-capable, the first fragment's otherwise; ok is false for a mix of
// ECN-capable and not ECN-capable fragments, which is discarded.
func fragmentsECN(pieces []fragPiece) (ecn uint8, ok bool) {
	var notECT, ect, ce bool
	for _, p := range pieces {
		switch e := header.IPv6(p.pkt.NetworkHeader()).ECN(); e {
		case ecnNotECT:
			notECT = true
		case ecnCE:
			ce = true
		default:
			ect = true
		}
	}
	if notECT && (ect || ce) {
		return 0, false
	}
	if ce {
		return ecnCE, true
	}
	return header.IPv6(pieces[0].pkt.NetworkHeader()).ECN(), true
}

// dropLocked drops a packet and the fragment that condemned it; if
// poisoned, the packet's later fragments are dropped until its timeout.
// It is called with mu held and unlocks it.
func (r *reassembler) dropLocked(key fragKey, fp *fragPacket, pkt *buffer.Packet, poisoned bool) {
	delete(r.pkts, key)
	r.mem -= fp.charge
	fp.timer.Stop()
	if poisoned {
		var t tcpip.Timer
		t = r.clock.AfterFunc(r.cfg.timeout, func() {
			r.mu.Lock()
			if r.dead[key] == t {
				delete(r.dead, key)
			}
			r.mu.Unlock()
		})
		r.dead[key] = t
	}
	r.mu.Unlock()
	pkt.Release()
	for _, p := range fp.pieces {
		p.pkt.Release()
	}
}

// expire drops a packet whose time ran out. RFC 8200 §4.5: if the first
// fragment has arrived, the source is sent Time Exceeded, code 1
// (fragment reassembly time exceeded).
func (r *reassembler) expire(key fragKey, fp *fragPacket) {
	r.mu.Lock()
	if r.pkts[key] != fp {
		r.mu.Unlock()
		return
	}
	delete(r.pkts, key)
	r.mem -= fp.charge
	r.mu.Unlock()
	r.stats.ReassemblyTimeouts.Inc()
	if fp.first != nil && fp.pieces[0].off == 0 {
		fp.first.sendICMPError(fp.pieces[0].pkt, header.ICMPv6TimeExceeded, header.ICMPv6ReassemblyTimeout, 0, false)
	}
	for _, p := range fp.pieces {
		p.pkt.Release()
	}
}

// close drops every packet and stops their timers.
func (r *reassembler) close() {
	r.mu.Lock()
	r.closed = true
	pkts := r.pkts
	r.pkts = make(map[fragKey]*fragPacket)
	r.mem = 0
	for _, fp := range pkts {
		fp.timer.Stop()
	}
	for k, t := range r.dead {
		t.Stop()
		delete(r.dead, k)
	}
	r.mu.Unlock()
	for _, fp := range pkts {
		for _, p := range fp.pieces {
			p.pkt.Release()
		}
	}
}
