// Package fragments is the reassembly engine that IPv4 (RFC 791 §3.2,
// RFC 815) and IPv6 (RFC 8200 §4.5) share: it holds the fragments of each
// datagram, sorted and without overlap, under a memory limit, a fragment
// limit and a timeout, and hands the pieces back once they cover the whole
// datagram. What a fragment is, how its header is checked, and how the
// pieces become one datagram again are the network protocol's.
package fragments

import (
	"slices"
	"sync"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// Piece is one fragment held for reassembly: bytes [Off, End) of the
// datagram's data, in Pkt's payload (Pkt's header area keeps the
// fragment's headers).
type Piece struct {
	Off, End int
	Pkt      *buffer.Packet
}

// Config holds the limits of a Reassembler.
type Config struct {
	// Timeout is how long a datagram waits for its missing fragments.
	Timeout time.Duration
	// MemoryLimit bounds the memory held by incomplete datagrams, in
	// bytes (Linux's ipfrag_high_thresh).
	MemoryLimit int
	// MaxFragments bounds the fragments of one datagram.
	MaxFragments int
}

// Options are the fixed parameters of a Reassembler.
type Options struct {
	// Clock runs the timeouts.
	Clock tcpip.Clock
	// Stats receives the reassembly counters.
	Stats *tcpip.IPStats
	// PoisonOverlaps keeps dropping the fragments of a datagram dropped
	// for overlapping fragments until its timeout would have expired
	// (RFC 5722 §4: "any constituent fragments, including those not yet
	// received, MUST be silently discarded").
	PoisonOverlaps bool
	// OnTimeout, if not nil, is called without locks for a datagram that
	// timed out whose first fragment (offset 0) came: first is that
	// piece and owner what was given with it to Add (the endpoint that
	// reports the timeout). The Reassembler releases the pieces after
	// the call.
	OnTimeout func(owner any, first Piece)
}

// fragOverhead is what each held fragment costs beyond its payload's
// chunks: its Packet, its header area and its slot.
const fragOverhead = 320

// datagram is a datagram being reassembled. Its pieces are sorted by
// offset and never overlap: RFC 815's hole list is implicit in the gaps
// between them.
type datagram struct {
	pieces   []Piece
	total    int // data length, -1 until the last fragment arrives
	received int // data bytes held
	charge   int // memory charged to the reassembler
	timer    tcpip.Timer
	owner    any // given with the first fragment; nil until it came
}

// poisoned is a datagram dropped for overlapping fragments, whose later
// fragments are dropped until timer fires.
type poisoned struct{ timer tcpip.Timer }

// Reassembler puts fragmented datagrams together again for a whole stack
// (fragments of one datagram may come through different NICs). K
// identifies a datagram: source, destination, identification and, for
// IPv4, the protocol.
//
// Every drop is counted in Options.Stats: memory limit, fragment limit,
// malformed (a length that disagrees with the last fragment), overlap (the
// whole datagram is dropped, RFC 5722 §4, which Linux applies to IPv4
// too), exact duplicate (dropped alone, RFC 5722 erratum 3089), timeout.
type Reassembler[K comparable] struct {
	opts Options

	mu     sync.Mutex
	cfg    Config          // guarded by mu
	dgs    map[K]*datagram // guarded by mu
	dead   map[K]*poisoned // guarded by mu: datagrams dropped for overlaps
	mem    int             // guarded by mu: memory held by every datagram
	closed bool            // guarded by mu
}

// New returns an empty Reassembler.
func New[K comparable](opts Options, cfg Config) *Reassembler[K] {
	return &Reassembler[K]{
		opts: opts,
		cfg:  cfg,
		dgs:  make(map[K]*datagram),
		dead: make(map[K]*poisoned),
	}
}

// Config returns the limits in use.
func (r *Reassembler[K]) Config() Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// SetConfig changes the limits; datagrams already waiting keep their
// timeout.
func (r *Reassembler[K]) SetConfig(cfg Config) {
	r.mu.Lock()
	r.cfg = cfg
	r.mu.Unlock()
}

// Add adds a fragment of datagram key: its data is pkt's payload, at
// offset off of the datagram's data; more is false for the last fragment.
// owner is remembered with the first fragment (offset 0) for OnTimeout.
// When the fragment completes its datagram, Add returns the pieces,
// sorted, covering [0, total) and ok; the caller owns them. Otherwise the
// fragment is held or dropped and counted. Add owns pkt. The caller has
// checked what the fragment's header says (sizes, alignment, limits of
// the protocol).
func (r *Reassembler[K]) Add(key K, off int, more bool, pkt *buffer.Packet, owner any) (pieces []Piece, ok bool) {
	st := r.opts.Stats
	n := pkt.Payload.Len()
	end := off + n
	charge := pkt.Payload.Size() + fragOverhead

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		pkt.Release()
		return nil, false
	}
	if _, ok := r.dead[key]; ok {
		r.mu.Unlock()
		st.ReassemblyOverlaps.Inc()
		pkt.Release()
		return nil, false
	}
	if r.mem+charge > r.cfg.MemoryLimit {
		r.mu.Unlock()
		st.ReassemblyMemoryLimit.Inc()
		pkt.Release()
		return nil, false
	}
	dg := r.dgs[key]
	if dg == nil {
		dg = &datagram{total: -1}
		r.dgs[key] = dg
		dg.timer = r.opts.Clock.AfterFunc(r.cfg.Timeout, func() { r.expire(key, dg) })
	}

	// The last fragment fixes the length; every fragment must agree
	// with it.
	if (!more && ((dg.total >= 0 && dg.total != end) || (len(dg.pieces) > 0 && dg.pieces[len(dg.pieces)-1].End > end))) ||
		(more && dg.total >= 0 && end > dg.total) {
		st.ReassemblyMalformed.Inc()
		r.dropLocked(key, dg, pkt, false)
		return nil, false
	}
	i, _ := slices.BinarySearchFunc(dg.pieces, off, func(p Piece, off int) int { return p.Off - off })
	if i < len(dg.pieces) && dg.pieces[i].Off == off && dg.pieces[i].End == end {
		r.mu.Unlock()
		st.ReassemblyDuplicates.Inc()
		pkt.Release()
		return nil, false
	}
	if (i > 0 && dg.pieces[i-1].End > off) || (i < len(dg.pieces) && dg.pieces[i].Off < end) {
		st.ReassemblyOverlaps.Inc()
		r.dropLocked(key, dg, pkt, r.opts.PoisonOverlaps)
		return nil, false
	}
	if len(dg.pieces) >= r.cfg.MaxFragments {
		st.ReassemblyTooManyFrags.Inc()
		r.dropLocked(key, dg, pkt, false)
		return nil, false
	}
	dg.pieces = slices.Insert(dg.pieces, i, Piece{Off: off, End: end, Pkt: pkt})
	dg.received += n
	dg.charge += charge
	r.mem += charge
	if !more {
		dg.total = end
	}
	if off == 0 {
		dg.owner = owner
	}
	if dg.total < 0 || dg.received != dg.total {
		r.mu.Unlock()
		return nil, false
	}
	// Complete: the pieces cover [0, total) without overlap.
	delete(r.dgs, key)
	r.mem -= dg.charge
	dg.timer.Stop()
	r.mu.Unlock()
	st.PacketsReassembled.Inc()
	return dg.pieces, true
}

// dropLocked drops a datagram and the fragment that condemned it; if
// poison, the datagram's later fragments are dropped until its timeout. It
// is called with mu held and unlocks it.
func (r *Reassembler[K]) dropLocked(key K, dg *datagram, pkt *buffer.Packet, poison bool) {
	delete(r.dgs, key)
	r.mem -= dg.charge
	dg.timer.Stop()
	if poison {
		if old, ok := r.dead[key]; ok {
			old.timer.Stop()
		}
		p := &poisoned{}
		p.timer = r.opts.Clock.AfterFunc(r.cfg.Timeout, func() {
			r.mu.Lock()
			if r.dead[key] == p {
				delete(r.dead, key)
			}
			r.mu.Unlock()
		})
		r.dead[key] = p
	}
	r.mu.Unlock()
	pkt.Release()
	Release(dg.pieces)
}

// expire drops a datagram whose time ran out and reports it (RFC 1122
// §3.3.2, RFC 8200 §4.5: Time Exceeded, code 1, if the first fragment
// came).
func (r *Reassembler[K]) expire(key K, dg *datagram) {
	r.mu.Lock()
	if r.dgs[key] != dg {
		// Completed or dropped while the timer fired.
		r.mu.Unlock()
		return
	}
	delete(r.dgs, key)
	r.mem -= dg.charge
	r.mu.Unlock()
	r.opts.Stats.ReassemblyTimeouts.Inc()
	if dg.owner != nil && dg.pieces[0].Off == 0 && r.opts.OnTimeout != nil {
		r.opts.OnTimeout(dg.owner, dg.pieces[0])
	}
	Release(dg.pieces)
}

// Close drops every datagram and stops every timer.
func (r *Reassembler[K]) Close() {
	r.mu.Lock()
	r.closed = true
	dgs := r.dgs
	r.dgs = make(map[K]*datagram)
	r.mem = 0
	for _, dg := range dgs {
		dg.timer.Stop()
	}
	for k, p := range r.dead {
		p.timer.Stop()
		delete(r.dead, k)
	}
	r.mu.Unlock()
	for _, dg := range dgs {
		Release(dg.pieces)
	}
}

// Release releases the packets of pieces.
func Release(pieces []Piece) {
	for _, p := range pieces {
		p.Pkt.Release()
	}
}
