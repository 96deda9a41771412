package buffer

import (
	"iter"
	"unsafe"

	"github.com/ustack-go/ustack/tcpip"
)

// Layer names the protocol layer a header belongs to.
type Layer uint8

// The layers whose headers a Packet records.
const (
	LinkLayer      Layer = iota // Ethernet, or nothing on a TUN device
	NetworkLayer                // IPv4, IPv6 with its extension headers, ARP
	TransportLayer              // TCP, UDP, ICMP, IGMP
	numLayers
)

// String returns the layer's name.
func (l Layer) String() string {
	switch l {
	case LinkLayer:
		return "link"
	case NetworkLayer:
		return "network"
	case TransportLayer:
		return "transport"
	}
	return "layer(?)"
}

// PacketType says to whom an inbound packet was addressed at the link
// layer, or that a packet is outbound. The values are those of Linux's
// sll_pkttype (linux/if_packet.h), which packet endpoints and pcap report.
type PacketType uint8

// Packet types.
const (
	PacketHost      PacketType = iota // addressed to this host
	PacketBroadcast                   // link-layer broadcast
	PacketMulticast                   // link-layer multicast
	PacketOtherHost                   // to another host, seen in promiscuous mode
	PacketOutgoing                    // sent by this host
)

// String returns the type's name.
func (t PacketType) String() string {
	switch t {
	case PacketHost:
		return "host"
	case PacketBroadcast:
		return "broadcast"
	case PacketMulticast:
		return "multicast"
	case PacketOtherHost:
		return "otherhost"
	case PacketOutgoing:
		return "outgoing"
	}
	return "pkttype(?)"
}

// inboundHeaderSize is the header area a packet gets when it first consumes
// a header: room for Ethernet, IPv4 or IPv6 with options and TCP with
// options without growing.
const inboundHeaderSize = 256

// Packet is what moves between layers: the headers, in a private header
// area, and the Payload.
//
// The header area holds the bytes of the headers, contiguous, with
// headroom before them and tailroom after. An outbound packet is created
// with headroom and each layer prepends its header in front of the previous
// one (PrependHeader); an inbound packet starts with everything in the
// Payload and each layer moves its header from the front of the Payload to
// the end of the header area (ConsumeHeader). The header area is copied by
// Clone, never shared, so headers may always be modified in place. It grows
// by reallocation only when it runs out of room (Stats.HeaderGrows).
//
// A Packet must not be copied; it is used through the *Packet that
// NewPacket returns. See the package doc for who owns a Packet when.
type Packet struct {
	_ noCopy

	// Payload holds the bytes after the headers: everything not yet
	// consumed of an inbound packet, the data of an outbound one.
	Payload Buffer

	// NetworkProtocol is the protocol of the network header (the
	// EtherType), set by the link layer on inbound packets and by the
	// network layer on outbound ones.
	NetworkProtocol tcpip.NetworkProtocolNumber
	// TransportProtocol is the protocol of the transport header, set by
	// the network layer.
	TransportProtocol tcpip.TransportProtocolNumber
	// Type says how the packet was addressed at the link layer.
	Type PacketType
	// NIC is the NIC the packet arrived on or leaves by.
	NIC tcpip.NICID
	// LinkSource and LinkDestination are the link addresses of the frame,
	// zero on links without them.
	LinkSource      tcpip.LinkAddress
	LinkDestination tcpip.LinkAddress

	// Segments is the number of wire segments a receive offload (GRO)
	// coalesced into this packet; 0 means one, as for any packet that
	// was not coalesced. TCP counts them for its delayed ACKs.
	Segments int

	// ChecksumPending says the TCP or UDP checksum of the packet may
	// never have been filled in: it arrived on a link that reports
	// receive checksum offload (whose sender relied on transmit offload),
	// or it was built by a transport for a link with transmit offload.
	// The network layer computes it before the packet leaves where
	// nothing would (a link without transmit offload, or fragmentation),
	// as Linux does for CHECKSUM_PARTIAL (skb_checksum_help).
	ChecksumPending bool

	hdr          *chunk // header area; nil until the packet has one
	hStart, hEnd int    // the headers are hdr.data[hStart:hEnd]
	layers       [numLayers]struct{ off, n int }
	counted      bool // allocated while usage counting was on

	owner  Owner // charged for the packet until it is released or orphaned
	charge int   // what owner was charged
}

var packetPool freeList[Packet]

func init() {
	packetPool.init(reserveObjects, int(unsafe.Sizeof(Packet{})), func(dst []*Packet, n int) []*Packet {
		ps := make([]Packet, n)
		for j := range ps {
			dst = append(dst, &ps[j])
		}
		return dst
	})
}

func getPacket() *Packet {
	p := packetPool.get()
	if p.counted = counting.Load(); p.counted {
		stats.packetsInUse.Add(1)
	}
	return p
}

// NewPacket returns a Packet from the pool with at least headroom bytes of
// room for headers and with payload's bytes moved into its Payload (payload
// is left empty; it may be nil for an empty payload). The caller owns the
// Packet and must Release it or hand it on.
func NewPacket(headroom int, payload *Buffer) *Packet {
	if headroom < 0 {
		panic("buffer: NewPacket with negative headroom")
	}
	p := getPacket()
	if headroom > 0 {
		p.hdr = getChunk(headroom)
		p.hStart = len(p.hdr.data)
		p.hEnd = p.hStart
	}
	if payload != nil {
		p.Payload.take(payload)
	}
	return p
}

// NewPacketFromBytes is NewPacket with a copy of b as the payload.
func NewPacketFromBytes(headroom int, b []byte) *Packet {
	p := NewPacket(headroom, nil)
	p.Payload.Append(b)
	return p
}

// Release returns the Packet's chunks and the Packet itself to their pools.
// Neither p nor any slice obtained from it may be used afterwards.
func (p *Packet) Release() {
	p.Orphan()
	if p.hdr != nil {
		p.hdr.decRef()
	}
	p.Payload.Release()
	if p.counted {
		stats.packetsInUse.Add(-1)
	}
	*p = Packet{}
	packetPool.put(p)
}

// Clone returns a new Packet with the same headers, metadata and payload:
// the header bytes are copied, the payload chunks are shared (see
// Buffer.Clone). The two Packets are independent afterwards.
func (p *Packet) Clone() *Packet {
	q := getPacket()
	if p.hdr != nil {
		q.hdr = getChunk(len(p.hdr.data))
		copy(q.hdr.data[p.hStart:p.hEnd], p.hdr.data[p.hStart:p.hEnd])
	}
	q.hStart, q.hEnd, q.layers = p.hStart, p.hEnd, p.layers
	q.NetworkProtocol, q.TransportProtocol = p.NetworkProtocol, p.TransportProtocol
	q.Type, q.NIC, q.Segments = p.Type, p.NIC, p.Segments
	q.ChecksumPending = p.ChecksumPending
	q.LinkSource, q.LinkDestination = p.LinkSource, p.LinkDestination
	q.Payload = p.Payload.Clone()
	return q
}

// Headroom returns how many bytes can be prepended without growing the
// header area.
func (p *Packet) Headroom() int { return p.hStart }

// HeaderLen returns the number of header bytes.
func (p *Packet) HeaderLen() int { return p.hEnd - p.hStart }

// Len returns the packet's length: headers and payload.
func (p *Packet) Len() int { return p.HeaderLen() + p.Payload.Len() }

// Headers returns all the header bytes, contiguous: on an outbound packet
// everything prepended, on an inbound one everything consumed. Slices
// returned by Headers, Header, Prepend and Consume are valid until the next
// Prepend or Consume (which may move the header area) or Release.
func (p *Packet) Headers() []byte {
	if p.hdr == nil {
		return nil
	}
	return p.hdr.data[p.hStart:p.hEnd:p.hEnd]
}

// Header returns the header recorded for layer l, or nil if there is none.
func (p *Packet) Header(l Layer) []byte {
	h := p.layers[l]
	if h.n == 0 {
		return nil
	}
	return p.hdr.data[h.off : h.off+h.n : h.off+h.n]
}

// LinkHeader returns the link-layer header, or nil.
func (p *Packet) LinkHeader() []byte { return p.Header(LinkLayer) }

// NetworkHeader returns the network-layer header, or nil.
func (p *Packet) NetworkHeader() []byte { return p.Header(NetworkLayer) }

// TransportHeader returns the transport-layer header, or nil.
func (p *Packet) TransportHeader() []byte { return p.Header(TransportLayer) }

// Prepend returns n zeroed bytes added in front of the headers, for the
// caller to write a header into, without recording it as any layer's
// header. It copies the headers into a larger area only if the headroom is
// less than n.
func (p *Packet) Prepend(n int) []byte {
	if n < 0 {
		panic("buffer: Prepend with a negative length")
	}
	if n == 0 {
		return nil
	}
	if p.hStart < n {
		p.growHeaders(n, 0)
	}
	p.hStart -= n
	b := p.hdr.data[p.hStart : p.hStart+n : p.hStart+n]
	clear(b)
	return b
}

// PrependHeader is Prepend that records the bytes as layer l's header. If
// l's header is the first header already, it is extended to the front
// instead (an IPv6 header in front of its extension headers).
func (p *Packet) PrependHeader(l Layer, n int) []byte {
	b := p.Prepend(n)
	if n == 0 {
		return b
	}
	if h := &p.layers[l]; h.n > 0 && h.off == p.hStart+n {
		h.off -= n
		h.n += n
	} else {
		h.off, h.n = p.hStart, n
	}
	return b
}

// Peek returns the first n bytes of the Payload, contiguous, without
// consuming them (see Buffer.PullUp); ok is false if there are fewer.
func (p *Packet) Peek(n int) (b []byte, ok bool) { return p.Payload.PullUp(n) }

// PeekWritable is Peek for a caller that rewrites the bytes in place (a
// receive offload fixing the headers of a packet it coalesced): it returns
// the first n bytes of the Payload only if they are contiguous in a chunk
// that nothing else refers to, and ok false otherwise (it never copies).
func (p *Packet) PeekWritable(n int) (b []byte, ok bool) {
	if n <= 0 || p.Payload.n == 0 {
		return nil, n == 0
	}
	v := &p.Payload.views()[0]
	if v.n < n {
		return nil, false
	}
	// The chunk's only references are this view, and the header area
	// when it was borrowed from the same chunk (see borrowHeaders).
	refs := int32(1)
	if p.hdr == v.c {
		refs = 2
	}
	if v.c.refs.Load() != refs {
		return nil, false
	}
	return v.c.data[v.off : v.off+n : v.off+n], true
}

// Consume moves the first n bytes of the Payload to the end of the header
// area and returns them there, contiguous and writable, without recording
// them as any layer's header. ok is false, and nothing is consumed, if the
// Payload holds fewer than n bytes.
//
// Consuming copies nothing when the bytes are contiguous in the Payload's
// first chunk and no one else can see that chunk's bytes before them: the
// header area is then that chunk itself (see borrowHeaders). Otherwise the
// bytes are copied into a private header area.
func (p *Packet) Consume(n int) (b []byte, ok bool) {
	if n < 0 || n > p.Payload.Len() {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	if p.borrowHeaders(n) {
		p.Payload.TrimFront(n)
		p.hEnd += n
		return p.hdr.data[p.hEnd-n : p.hEnd : p.hEnd], true
	}
	switch {
	case p.hdr == nil:
		p.hdr = getChunk(max(n, inboundHeaderSize))
	case p.hdr.shared():
		// The header area is a chunk the Payload still refers to
		// (borrowed by an earlier Consume): the bytes after the
		// headers are the Payload's, so the headers move to a private
		// area first.
		p.growHeaders(0, max(n, inboundHeaderSize-p.HeaderLen()))
	case len(p.hdr.data)-p.hEnd < n:
		p.growHeaders(0, n)
	}
	b = p.hdr.data[p.hEnd : p.hEnd+n : p.hEnd+n]
	p.Payload.CopyTo(b)
	p.Payload.TrimFront(n)
	p.hEnd += n
	return b, true
}

// borrowHeaders reports whether the next n bytes of the Payload can become
// headers without a copy, and if so makes the header area refer to their
// chunk (the caller trims them from the Payload and moves hEnd). That is the
// case when the Payload's first view holds the n bytes and either
//   - the packet has no header area yet and the view is the only reference
//     to its chunk: nothing else sees the chunk's bytes, so the view's bytes
//     and all the bytes before them (the headroom) are the packet's to
//     write, as a private header area's are; or
//   - the header area is already that chunk and the view starts where the
//     headers end, and the chunk has no reference other than the header
//     area and this view (no clone of the Payload can see the bytes).
//
// The Payload's later views, the bytes after the view's end and the
// watermark are untouched, so a Buffer sharing the chunk later (a clone of
// the rest of the Payload) never sees header bytes change.
func (p *Packet) borrowHeaders(n int) bool {
	if p.Payload.n == 0 {
		return false
	}
	v := &p.Payload.views()[0]
	if v.n < n {
		return false
	}
	switch {
	case p.hdr == nil:
		if v.c.shared() {
			return false
		}
		v.c.incRef()
		p.hdr, p.hStart, p.hEnd = v.c, v.off, v.off
		return true
	case p.hdr == v.c && p.hEnd == v.off:
		return v.c.refs.Load() == 2
	}
	return false
}

// ToInbound turns an outbound packet into the inbound form in place: the
// header bytes become the front of the Payload, without a copy (the header
// area's chunk becomes the Payload's first chunk), the recorded layers and
// the metadata (protocols, type, NIC, link addresses) are cleared, and the
// packet has no header area afterwards, as a freshly received frame. A link
// that carries packets in memory from a writer to a receiver uses it.
func (p *Packet) ToInbound() {
	if p.hdr != nil {
		if n := p.hEnd - p.hStart; n > 0 {
			// The view takes over the header area's reference.
			p.Payload.pushFront(view{c: p.hdr, off: p.hStart, n: n})
			p.Payload.size += n
		} else {
			p.hdr.decRef()
		}
	}
	p.hdr, p.hStart, p.hEnd = nil, 0, 0
	p.layers = [numLayers]struct{ off, n int }{}
	p.NetworkProtocol, p.TransportProtocol = 0, 0
	p.Type, p.NIC, p.Segments = 0, 0, 0
	p.ChecksumPending = false
	p.LinkSource, p.LinkDestination = tcpip.LinkAddress{}, tcpip.LinkAddress{}
}

// ConsumeHeader is Consume that records the bytes as layer l's header. If
// l's header is the last header consumed, it is extended instead (IPv6
// extension headers after the fixed header).
func (p *Packet) ConsumeHeader(l Layer, n int) (b []byte, ok bool) {
	if b, ok = p.Consume(n); !ok || n == 0 {
		return b, ok
	}
	start := p.hEnd - n
	if h := &p.layers[l]; h.n > 0 && h.off+h.n == start {
		h.n += n
	} else {
		h.off, h.n = start, n
	}
	return b, true
}

// TrimHeaders removes the first n header bytes, turning them into headroom:
// a forwarder trims the link header of an inbound packet and prepends a new
// one in its place. A recorded header within those bytes is forgotten, one
// that straddles them is cut. It panics unless 0 <= n <= p.HeaderLen().
func (p *Packet) TrimHeaders(n int) {
	if n < 0 || n > p.HeaderLen() {
		panic("buffer: TrimHeaders out of range")
	}
	p.hStart += n
	for i := range p.layers {
		h := &p.layers[i]
		switch {
		case h.n == 0 || h.off >= p.hStart:
		case h.off+h.n <= p.hStart:
			h.off, h.n = 0, 0
		default:
			h.n -= p.hStart - h.off
			h.off = p.hStart
		}
	}
}

// growHeaders moves the headers into a larger header area with at least
// head bytes of headroom and tail bytes of tailroom, keeping the current
// headroom and tailroom otherwise.
func (p *Packet) growHeaders(head, tail int) {
	oldHead, oldTail := p.hStart, 0
	switch {
	case p.hdr == nil:
	case p.hdr.shared():
		// A borrowed area (see borrowHeaders) may be a large chunk
		// holding other bytes: its slack is not worth keeping.
		oldHead = 0
	default:
		oldTail = len(p.hdr.data) - p.hEnd
	}
	head, tail = max(head, oldHead), max(tail, oldTail)
	used := p.hEnd - p.hStart
	c := getChunk(head + used + tail)
	// Give the slack to the side that ran out.
	start := head
	if head > oldHead {
		start = len(c.data) - tail - used
	}
	if p.hdr != nil {
		copy(c.data[start:], p.hdr.data[p.hStart:p.hEnd])
		p.hdr.decRef()
		stats.headerGrows.Add(1)
	}
	delta := start - p.hStart
	for i := range p.layers {
		if p.layers[i].n > 0 {
			p.layers[i].off += delta
		}
	}
	p.hdr, p.hStart, p.hEnd = c, start, start+used
}

// AppendTo appends the packet's bytes, headers then payload, to dst and
// returns the extended slice.
func (p *Packet) AppendTo(dst []byte) []byte {
	dst = append(dst, p.Headers()...)
	for b := range p.Payload.All() {
		dst = append(dst, b...)
	}
	return dst
}

// All returns an iterator over the packet's bytes as contiguous pieces: the
// headers (if any), then the payload's pieces. It is what a link endpoint
// hands to a vectored write. The pieces are valid while p is unchanged.
func (p *Packet) All() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if h := p.Headers(); len(h) > 0 && !yield(h) {
			return
		}
		for i := range p.Payload.n {
			if !yield(p.Payload.piece(i)) {
				return
			}
		}
	}
}

// Owner is what a Packet is charged to while it exists: a sending socket's
// send buffer, as Linux charges an skb's truesize to sk_wmem_alloc until
// the driver frees it or hands it on (skb_orphan). A link that moves
// packets to another stack in memory (a pipe, a loopback) keeps the charge
// on the packet, so that it is paid back only when the receiving socket's
// reader takes the datagram, or wherever the packet is dropped (as an
// AF_UNIX datagram stays charged to its sender until it is read); a link
// that transmits (a TAP device) pays it back once the packet is written.
// An Owner must be safe for concurrent use: its packets are released by
// whichever goroutine holds them last, and it may be paid back after the
// endpoint it stands for was closed.
type Owner interface {
	// PacketReleased returns the charge of one of the owner's packets.
	// It is called once per SetOwner, by Release or Orphan.
	PacketReleased(charge int)
}

// SetOwner charges p to o: o.PacketReleased(charge) is called when p is
// released or orphaned. A packet has one owner at most; a previous owner
// is paid back first. Clone does not copy the owner.
func (p *Packet) SetOwner(o Owner, charge int) {
	p.Orphan()
	p.owner, p.charge = o, charge
}

// Orphan pays p's owner back now and leaves p without one: whoever keeps
// a packet beyond where its sender should be held back for it calls it (a
// datagram delivered to several sockets, for instance, see transport/udp).
func (p *Packet) Orphan() {
	if o := p.owner; o != nil {
		p.owner = nil
		o.PacketReleased(p.charge)
	}
}

// OwnerCharge returns what p's owner was charged for it (SetOwner), or 0
// if p has no owner. A receive queue charges a packet still charged to its
// sender no more than that, so that a receiver whose buffer is as large as
// the sender's cannot overflow from that sender's datagrams alone.
func (p *Packet) OwnerCharge() int {
	if p.owner == nil {
		return 0
	}
	return p.charge
}

// TakeOwner moves from's owner and charge to p (which is orphaned first),
// leaving from without one: a link that copies a packet into a new one
// keeps the sender charged.
func (p *Packet) TakeOwner(from *Packet) {
	p.Orphan()
	p.owner, p.charge = from.owner, from.charge
	from.owner = nil
}
