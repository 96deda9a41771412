package ipv4

import (
	"slices"
	"sync"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// fragKey identifies the datagram a fragment belongs to: RFC 791 §3.2
// joins fragments with the same source, destination, protocol and
// Identification.
type fragKey struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
}

// fragPiece is one fragment held for reassembly: bytes [off, end) of the
// datagram's payload, in pkt's payload. The piece at offset 0 keeps its
// IPv4 header, which becomes the reassembled datagram's.
type fragPiece struct {
	off, end int
	pkt      *buffer.Packet
}

// fragDatagram is a datagram being reassembled. Its pieces are sorted by
// offset and never overlap: RFC 815's hole list is implicit in the gaps
// between them.
type fragDatagram struct {
	pieces   []fragPiece
	total    int // payload length, -1 until the last fragment arrives
	received int // payload bytes held
	charge   int // memory charged to the reassembler
	timer    tcpip.Timer
	// first is the endpoint the first fragment came through, which
	// reports a timeout (RFC 1122 §3.3.2); nil until it has come.
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

// reassembler puts fragmented datagrams together again (RFC 791 §3.2,
// RFC 815), for the whole stack: fragments of one datagram may come
// through different NICs.
//
// Limits, each drop counted: memory in all (fragments beyond it are dropped
// as Linux drops them above ipfrag_high_thresh, and the datagram times
// out), fragments per datagram, and the time a datagram waits. A fragment
// that overlaps another drops its whole datagram, the rule of RFC 5722 §4
// that Linux applies to IPv4 too (overlaps only serve to evade inspection,
// RFC 1858); an exact duplicate is dropped alone (RFC 5722 erratum 3089).
type reassembler struct {
	clock tcpip.Clock
	stats *tcpip.IPStats

	mu     sync.Mutex
	cfg    fragConfig                // guarded by mu
	dgs    map[fragKey]*fragDatagram // guarded by mu
	mem    int                       // guarded by mu: memory held by every datagram
	closed bool                      // guarded by mu
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
		dgs: make(map[fragKey]*fragDatagram),
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

// process adds a fragment, whose header h is in pkt's header area and whose
// data is pkt's payload, to its datagram. It returns the whole datagram
// and its header once the last missing fragment came, or nil. It owns pkt.
func (r *reassembler) process(e *endpoint, h header.IPv4, pkt *buffer.Packet) (*buffer.Packet, header.IPv4) {
	off := int(h.FragmentOffset())
	n := pkt.Payload.Len()
	end := off + n
	more := h.More()
	// RFC 791 §3.2: every fragment but the last carries a multiple of 8
	// octets; none may carry the datagram past 65535 bytes (a longer one
	// is the "ping of death"); an empty fragment is no fragment.
	if n == 0 || (more && n%header.IPv4FragmentOffsetUnit != 0) || h.HeaderLength()+end > header.IPv4MaximumPacketSize {
		r.stats.ReassemblyMalformed.Inc()
		pkt.Release()
		return nil, nil
	}
	key := fragKey{src: h.Source().As4(), dst: h.Destination().As4(), id: h.ID(), proto: uint8(h.Protocol())}
	charge := pkt.Payload.Size() + fragOverhead

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		pkt.Release()
		return nil, nil
	}
	if r.mem+charge > r.cfg.memLimit {
		r.mu.Unlock()
		r.stats.ReassemblyMemoryLimit.Inc()
		pkt.Release()
		return nil, nil
	}
	dg := r.dgs[key]
	if dg == nil {
		dg = &fragDatagram{total: -1}
		r.dgs[key] = dg
		dg.timer = r.clock.AfterFunc(r.cfg.timeout, func() { r.expire(key, dg) })
	}

	// The last fragment fixes the length; every fragment must agree
	// with it.
	if (!more && ((dg.total >= 0 && dg.total != end) || (len(dg.pieces) > 0 && dg.pieces[len(dg.pieces)-1].end > end))) ||
		(more && dg.total >= 0 && end > dg.total) {
		r.stats.ReassemblyMalformed.Inc()
		r.dropLocked(key, dg, pkt)
		return nil, nil
	}
	i, _ := slices.BinarySearchFunc(dg.pieces, off, func(p fragPiece, off int) int { return p.off - off })
	if i < len(dg.pieces) && dg.pieces[i].off == off && dg.pieces[i].end == end {
		r.mu.Unlock()
		r.stats.ReassemblyDuplicates.Inc()
		pkt.Release()
		return nil, nil
	}
	if (i > 0 && dg.pieces[i-1].end > off) || (i < len(dg.pieces) && dg.pieces[i].off < end) {
		r.stats.ReassemblyOverlaps.Inc()
		r.dropLocked(key, dg, pkt)
		return nil, nil
	}
	if len(dg.pieces) >= r.cfg.maxFrags {
		r.stats.ReassemblyTooManyFrags.Inc()
		r.dropLocked(key, dg, pkt)
		return nil, nil
	}
	dg.pieces = slices.Insert(dg.pieces, i, fragPiece{off: off, end: end, pkt: pkt})
	dg.received += n
	dg.charge += charge
	r.mem += charge
	if !more {
		dg.total = end
	}
	if off == 0 {
		dg.first = e
	}
	if dg.total < 0 || dg.received != dg.total {
		r.mu.Unlock()
		return nil, nil
	}
	// Complete: the pieces cover [0, total) without overlap.
	delete(r.dgs, key)
	r.mem -= dg.charge
	dg.timer.Stop()
	r.mu.Unlock()

	whole := dg.pieces[0].pkt
	for _, p := range dg.pieces[1:] {
		whole.Payload.Merge(&p.pkt.Payload)
		p.pkt.Release()
	}
	wh := header.IPv4(whole.NetworkHeader())
	wh.SetTotalLength(uint16(wh.HeaderLength() + dg.total))
	wh.SetFlagsFragmentOffset(wh.Flags()&^header.IPv4FlagMoreFragments, 0)
	r.stats.PacketsReassembled.Inc()
	return whole, wh
}

// dropLocked drops a datagram and the fragment that condemned it. It is
// called with mu held and unlocks it.
func (r *reassembler) dropLocked(key fragKey, dg *fragDatagram, pkt *buffer.Packet) {
	delete(r.dgs, key)
	r.mem -= dg.charge
	dg.timer.Stop()
	r.mu.Unlock()
	pkt.Release()
	for _, p := range dg.pieces {
		p.pkt.Release()
	}
}

// expire drops a datagram whose time ran out. RFC 1122 §3.3.2 (and RFC 792)
// has the host send Time Exceeded, code 1 (fragment reassembly time
// exceeded), if the first fragment has arrived.
func (r *reassembler) expire(key fragKey, dg *fragDatagram) {
	r.mu.Lock()
	if r.dgs[key] != dg {
		// Completed or dropped while the timer fired.
		r.mu.Unlock()
		return
	}
	delete(r.dgs, key)
	r.mem -= dg.charge
	r.mu.Unlock()
	r.stats.ReassemblyTimeouts.Inc()
	if dg.first != nil && dg.pieces[0].off == 0 {
		dg.first.sendICMPError(dg.pieces[0].pkt, header.ICMPv4TimeExceeded, header.ICMPv4ReassemblyTimeout, 0, 0)
	}
	for _, p := range dg.pieces {
		p.pkt.Release()
	}
}

// close drops every datagram and stops their timers.
func (r *reassembler) close() {
	r.mu.Lock()
	r.closed = true
	dgs := r.dgs
	r.dgs = make(map[fragKey]*fragDatagram)
	r.mem = 0
	for _, dg := range dgs {
		dg.timer.Stop()
	}
	r.mu.Unlock()
	for _, dg := range dgs {
		for _, p := range dg.pieces {
			p.pkt.Release()
		}
	}
}
