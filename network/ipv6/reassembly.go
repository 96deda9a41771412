package ipv6

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/internal/fragments"
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

// reassembler puts fragmented packets together again (RFC 8200 §4.5) for
// the whole stack, over the reassembly engine it shares with IPv4: 60 s
// timeout (then Time Exceeded, code 1, if the first fragment came), memory
// and fragment limits, and overlapping fragments dropping the whole packet
// and its later fragments (RFC 5722 §4).
type reassembler struct {
	stats *tcpip.IPStats
	r     *fragments.Reassembler[fragKey]
}

func newReassembler(clock tcpip.Clock, stats *tcpip.IPStats) *reassembler {
	opts := fragments.Options{
		Clock:          clock,
		Stats:          stats,
		PoisonOverlaps: true,
		OnTimeout: func(owner any, first fragments.Piece) {
			// RFC 8200 §4.5: Time Exceeded, code 1 (fragment
			// reassembly time exceeded), quoting the first fragment.
			owner.(*endpoint).sendICMPError(first.Pkt, header.ICMPv6TimeExceeded, header.ICMPv6ReassemblyTimeout, 0, false)
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

func (r *reassembler) close() { r.r.Close() }

// process adds a fragment, whose data is pkt's payload and whose headers
// up to its Fragment header are pkt's network header, to its packet. It
// returns the whole packet once the last missing fragment came, or nil.
// It owns pkt.
func (r *reassembler) process(e *endpoint, fi fragInfo, pkt *buffer.Packet) *reassembled {
	key := fragKey{src: fi.src.As16(), dst: fi.dst.As16(), id: fi.id}
	pieces, ok := r.r.Add(key, fi.off, fi.more, pkt, e)
	if !ok {
		return nil
	}
	ecn, ok := fragmentsECN(pieces)
	if !ok {
		r.stats.ReassemblyMalformed.Inc()
		fragments.Release(pieces)
		return nil
	}

	// RFC 8200 §4.5: the unfragmentable part comes from the first
	// fragment (offset 0): the headers before its Fragment header, the
	// last of whose Next Header takes the Fragment header's value. The
	// Payload Length counts those headers and the fragmentable part.
	first := pieces[0].Pkt
	fh := header.IPv6(first.NetworkHeader())
	unfragLen, typeOff := len(fh)-header.IPv6FragmentHeaderSize, fragTypeOffset(fh)
	next := tcpip.TransportProtocolNumber(fh[unfragLen])
	total := pieces[len(pieces)-1].End
	var data buffer.Buffer
	data.Append(fh[:unfragLen])
	for _, p := range pieces {
		data.Merge(&p.Pkt.Payload)
	}
	whole := buffer.NewPacket(0, &data)
	whole.NIC = first.NIC
	whole.Type = first.Type
	whole.NetworkProtocol = tcpip.IPv6ProtocolNumber
	whole.LinkSource, whole.LinkDestination = first.LinkSource, first.LinkDestination
	fragments.Release(pieces)
	hdr, _ := whole.ConsumeHeader(buffer.NetworkLayer, unfragLen)
	hdr[typeOff] = uint8(next)
	binary.BigEndian.PutUint16(hdr[ipv6PayloadLengthOff:], uint16(unfragLen-header.IPv6MinimumSize+total))
	h := header.IPv6(hdr)
	h.SetTrafficClass(h.TrafficClass()&^3 | ecn)
	return &reassembled{pkt: whole, next: next, typeOff: typeOff, unfragLen: unfragLen}
}

// fragTypeOffset returns the offset of the Next Header field that names
// the Fragment header at the end of hdr, the network header of a
// fragment: the fixed header's, or that of the extension header before it.
func fragTypeOffset(hdr []byte) int {
	it := header.NewIPv6ExtHdrIterator(header.IPv6(hdr).NextHeader(), ipv6NextHeaderOff, hdr[header.IPv6MinimumSize:], header.IPv6MinimumSize)
	for {
		h, ok := it.Next()
		if !ok {
			// Not reached: the headers were walked on the way in.
			return ipv6NextHeaderOff
		}
		if h.Type == tcpip.IPv6FragmentProtocolNumber && h.Offset == len(hdr)-header.IPv6FragmentHeaderSize {
			return h.TypeOffset
		}
	}
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
func fragmentsECN(pieces []fragments.Piece) (ecn uint8, ok bool) {
	var notECT, ect, ce bool
	for _, p := range pieces {
		switch e := header.IPv6(p.Pkt.NetworkHeader()).ECN(); e {
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
	return header.IPv6(pieces[0].Pkt.NetworkHeader()).ECN(), true
}
