package ipv4

import (
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/fragments"
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

// reassembler puts fragmented datagrams together again (RFC 791 §3.2,
// RFC 815), for the whole stack, over the reassembly engine it shares with
// IPv6 (package fragments).
//
// Limits, each drop counted: memory in all (fragments beyond it are dropped
// as Linux drops them above ipfrag_high_thresh, and the datagram times
// out), fragments per datagram, and the time a datagram waits. A fragment
// that overlaps another drops its whole datagram, the rule of RFC 5722 §4
// that Linux applies to IPv4 too (overlaps only serve to evade inspection,
// RFC 1858); an exact duplicate is dropped alone (RFC 5722 erratum 3089).
type reassembler struct {
	stats *tcpip.IPStats
	r     *fragments.Reassembler[fragKey]
}

func newReassembler(clock tcpip.Clock, stats *tcpip.IPStats) *reassembler {
	opts := fragments.Options{
		Clock: clock,
		Stats: stats,
		OnTimeout: func(owner any, first fragments.Piece) {
			// RFC 1122 §3.3.2 (and RFC 792): Time Exceeded, code 1
			// (fragment reassembly time exceeded), if the first
			// fragment has arrived.
			owner.(*endpoint).sendICMPError(first.Pkt, header.ICMPv4TimeExceeded, header.ICMPv4ReassemblyTimeout, 0, 0)
		},
	}
	cfg := fragments.Config{
		Timeout:      DefaultReassemblyTimeout,
		MemoryLimit:  DefaultReassemblyMemoryLimit,
		MaxFragments: DefaultMaxFragments,
	}
	return &reassembler{stats: stats, r: fragments.New[fragKey](opts, cfg)}
}

func (r *reassembler) config() fragments.Config { return r.r.Config() }

func (r *reassembler) setTimeout(d time.Duration) {
	c := r.r.Config()
	c.Timeout = d
	r.r.SetConfig(c)
}

func (r *reassembler) setMemoryLimit(n int) {
	c := r.r.Config()
	c.MemoryLimit = n
	r.r.SetConfig(c)
}

func (r *reassembler) setMaxFragments(n int) {
	c := r.r.Config()
	c.MaxFragments = n
	r.r.SetConfig(c)
}

// close drops every datagram and stops their timers.
func (r *reassembler) close() { r.r.Close() }

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
	pieces, ok := r.r.Add(key, off, more, pkt, e)
	if !ok {
		return nil, nil
	}
	// The piece at offset 0 keeps its IPv4 header, which becomes the
	// reassembled datagram's.
	whole := pieces[0].Pkt
	for _, p := range pieces[1:] {
		whole.Payload.Merge(&p.Pkt.Payload)
		p.Pkt.Release()
	}
	total := pieces[len(pieces)-1].End
	wh := header.IPv4(whole.NetworkHeader())
	wh.SetTotalLength(uint16(wh.HeaderLength() + total))
	wh.SetFlagsFragmentOffset(wh.Flags()&^header.IPv4FlagMoreFragments, 0)
	return whole, wh
}
