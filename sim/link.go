package sim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/link/linkutil"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Dir names one direction of a Link, or both.
type Dir uint8

// Directions of a Link.
const (
	AToB Dir = 1 << iota // from the first host given to Connect to the second
	BToA                 // the other way
	Both = AToB | BToA
)

// String returns "a->b", "b->a" or "both".
func (d Dir) String() string {
	switch d {
	case AToB:
		return "a->b"
	case BToA:
		return "b->a"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Dir(%d)", uint8(d))
}

// DefaultQueueBytes is the queue of a direction with a Bandwidth and a
// zero QueueBytes.
const DefaultQueueBytes = 128 << 10

// Props are the properties of one direction of a link. The zero value is
// an ideal wire: no delay, unlimited bandwidth, no impairment.
//
// A frame written into a direction goes through, in this order: the MTU
// check, the transmit queue and serialisation (Bandwidth, QueueBytes),
// loss (a lost frame has used its share of the bandwidth), duplication,
// corruption (of each copy), then propagation (Delay, Jitter, Reorder). Its arrival is an event on the network's
// clock; nothing is ever delivered from inside the sender's WritePackets.
type Props struct {
	// Delay is the one-way propagation delay.
	Delay time.Duration
	// Jitter, if positive, adds a uniform random delay in [0, Jitter).
	// Frames stay in order: a frame never overtakes one sent before it
	// (except one picked by Reorder).
	Jitter time.Duration

	// Bandwidth in bits per second; zero means infinite. Each frame takes
	// len*8/Bandwidth to serialise, one after the other, and waits in a
	// FIFO of QueueBytes while the ones before it are serialised.
	Bandwidth uint64
	// QueueBytes bounds the bytes of frames waiting to be serialised (the
	// frame being serialised is not counted); a frame that would exceed
	// it is dropped (drop-tail). Zero means DefaultQueueBytes, negative
	// means unbounded. It matters only with a Bandwidth.
	QueueBytes int

	// Loss is the probability that a frame is lost.
	Loss float64
	// Duplicate is the probability that a frame arrives twice.
	Duplicate float64
	// Reorder is the probability that a frame is held ReorderDelay
	// longer than the others, letting the frames behind it pass.
	Reorder      float64
	ReorderDelay time.Duration
	// Corrupt is the probability that one random bit of a frame is
	// flipped. The Ethernet header is spared (a real link's frame check
	// sequence would have dropped such a frame), so the IP, ARP and
	// transport checks of the receiver see the damage.
	Corrupt float64

	// MTU, if not zero, drops frames whose network packet (the frame
	// without its Ethernet header) is larger, as a misconfigured segment
	// in the middle of a path does: a black hole the hosts do not know
	// about. Frames larger than the MTU the NICs report are dropped too.
	MTU uint32

	// MarkCE is the probability that an ECN-capable IPv4 or IPv6 packet
	// (ECT(0) or ECT(1) in its ECN field) is marked Congestion
	// Experienced, as a router's active queue management does instead
	// of dropping it (RFC 3168 §5). Packets that are not ECN-capable
	// are left alone (a marking router would drop them; Loss stands in
	// for that).
	MarkCE float64
	// MarkCEQueueBytes, if positive, marks CE every ECN-capable packet
	// that finds at least this many bytes waiting in the transmit
	// queue: a step-threshold AQM (as DCTCP's, RFC 8257 §3.1) that
	// signals congestion before the queue overflows. It matters only
	// with a Bandwidth.
	MarkCEQueueBytes int
}

// Counters count what one direction of a link did with the frames written
// into it. Every frame Sent ends up Delivered or dropped (DroppedLoss,
// DroppedQueue, DroppedMTU, DroppedDown), duplicates counted once more.
type Counters struct {
	Sent      uint64 // frames written by the sending NIC
	SentBytes uint64 // their bytes, Ethernet header included
	Delivered uint64 // frames handed to the receiving NIC, duplicates included
	// DeliveredBytes are the bytes of the Delivered frames.
	DeliveredBytes uint64

	DroppedLoss  uint64 // lost by Props.Loss
	DroppedQueue uint64 // the transmit queue was full (drop-tail)
	DroppedMTU   uint64 // larger than the MTU
	DroppedDown  uint64 // the receiving end was closed or detached

	Duplicated uint64 // extra copies made
	Corrupted  uint64 // frames with a bit flipped
	Reordered  uint64 // frames held ReorderDelay longer
	MarkedCE   uint64 // ECN-capable packets marked CE (MarkCE, MarkCEQueueBytes)

	// PeakQueueBytes is the most bytes that waited in the transmit
	// queue at once (the frame being serialised not counted).
	PeakQueueBytes int
}

// Link is a point-to-point Ethernet link between two hosts, made by
// Network.Connect. Each direction has its own Props and Counters. Like the
// rest of the package, a Link is used from the goroutine that drives the
// Network.
type Link struct {
	net   *Network
	index int
	name  string
	a, b  *Host
	nicA  tcpip.NICID
	nicB  tcpip.NICID
	mtu   uint32 // reported to both NICs
	ends  [2]*port
	dirs  [2]*direction
}

// Name returns "a-b" with the names of the two hosts (and a suffix for
// second and later links between the same hosts).
func (l *Link) Name() string { return l.name }

// Hosts returns the two hosts, in the order given to Connect.
func (l *Link) Hosts() (a, b *Host) { return l.a, l.b }

// NICs returns the IDs of the link's NIC on each host.
func (l *Link) NICs() (a, b tcpip.NICID) { return l.nicA, l.nicB }

// Set changes the properties of one direction (or Both) from now on:
// frames already on their way keep the schedule they were given.
func (l *Link) Set(dir Dir, p Props) {
	for i, d := range l.dirs {
		if dir&(1<<i) != 0 {
			d.props = p
		}
	}
}

// Props returns the properties of one direction (AToB or BToA).
func (l *Link) Props(dir Dir) Props { return l.dir(dir).props }

// Counters returns the counters of one direction (AToB or BToA), or their
// sums with Both (the larger PeakQueueBytes).
func (l *Link) Counters(dir Dir) Counters {
	if dir == Both {
		a, b := l.dirs[0].c, l.dirs[1].c
		return Counters{
			Sent: a.Sent + b.Sent, SentBytes: a.SentBytes + b.SentBytes,
			Delivered: a.Delivered + b.Delivered, DeliveredBytes: a.DeliveredBytes + b.DeliveredBytes,
			DroppedLoss: a.DroppedLoss + b.DroppedLoss, DroppedQueue: a.DroppedQueue + b.DroppedQueue,
			DroppedMTU: a.DroppedMTU + b.DroppedMTU, DroppedDown: a.DroppedDown + b.DroppedDown,
			Duplicated: a.Duplicated + b.Duplicated, Corrupted: a.Corrupted + b.Corrupted,
			Reordered: a.Reordered + b.Reordered, MarkedCE: a.MarkedCE + b.MarkedCE, PeakQueueBytes: max(a.PeakQueueBytes, b.PeakQueueBytes),
		}
	}
	return l.dir(dir).c
}

// SetMTU changes the MTU both NICs of the link report (and the largest
// network packet the wire carries), as `ip link set mtu` on both ends
// would. A router whose outgoing link shrank answers too-big packets with
// ICMP; compare Props.MTU, which the hosts do not see.
func (l *Link) SetMTU(mtu uint32) { l.mtu = mtu }

// MTU returns the MTU the link's NICs report.
func (l *Link) MTU() uint32 { return l.mtu }

func (l *Link) dir(dir Dir) *direction {
	switch dir {
	case AToB:
		return l.dirs[0]
	case BToA:
		return l.dirs[1]
	}
	panic("sim: Link direction must be AToB or BToA, not " + dir.String())
}

// direction is one direction of a link: the wire from port from to port
// to, with its transmit queue and the frames in flight.
type direction struct {
	link  *Link
	dir   Dir
	to    *port
	rng   *rand.Rand
	props Props
	c     Counters

	// The transmit queue: busyUntil is when the wire finishes
	// serialising what it has accepted; waiting holds, oldest first, the
	// start of serialisation and size of the accepted frames that have
	// not started yet.
	busyUntil   tcpip.MonotonicTime
	waiting     []queued
	waitingSize int
	// lastInOrder is the arrival time of the last frame not reordered,
	// which later frames may not precede.
	lastInOrder tcpip.MonotonicTime

	seq uint64 // frames accepted so far, numbering them
	// flights holds every flight made so far, free those not in use: a
	// flight and its timer are reused, so that steady traffic allocates
	// nothing on the link.
	flights []*flight
	free    []*flight
}

type queued struct {
	start tcpip.MonotonicTime
	size  int
}

// flight is a frame on its way: the clock callback that delivers it. pkt
// is nil when the flight is free.
type flight struct {
	d     *direction
	pkt   *buffer.Packet
	seq   uint64
	timer tcpip.Timer
}

// PCG stream salts, so that hosts and link directions draw from unrelated
// sequences of one seed.
const (
	linkStreamSalt = 0x6c696e6b00000000 // "link"
	hostStreamSalt = 0x686f737400000000 // "host"
)

func newDirection(l *Link, dir Dir, to *port, seed uint64, p Props) *direction {
	stream := linkStreamSalt + uint64(l.index)<<1
	if dir == BToA {
		stream++
	}
	return &direction{
		link:  l,
		dir:   dir,
		to:    to,
		rng:   rand.New(rand.NewPCG(seed, stream)),
		props: p,
	}
}

// chance draws whether an event of probability p happens; it draws
// nothing when p is zero, so that impairments left off do not shift the
// sequence the others see.
func (d *direction) chance(p float64) bool {
	return p > 0 && d.rng.Float64() < p
}

// send puts one frame (inbound form: the whole frame in the payload) on
// the wire. It owns pkt.
func (d *direction) send(pkt *buffer.Packet) {
	n := d.link.net
	now := n.clock.NowMonotonic()
	size := pkt.Len()
	p := &d.props
	d.seq++
	seq := d.seq
	d.c.Sent++
	d.c.SentBytes += uint64(size)
	n.trace(d, EventSend, seq, pkt)

	netSize := uint32(max(size-header.EthernetMinimumSize, 0))
	if netSize > d.link.mtu || (p.MTU != 0 && netSize > p.MTU) {
		d.c.DroppedMTU++
		n.trace(d, EventDropMTU, seq, pkt)
		pkt.Release()
		return
	}
	// The transmit queue and serialisation.
	done := now
	backlog := 0 // bytes waiting ahead of this frame
	if p.Bandwidth > 0 {
		k := 0
		for k < len(d.waiting) && !d.waiting[k].start.After(now) {
			d.waitingSize -= d.waiting[k].size
			k++
		}
		d.waiting = append(d.waiting[:0], d.waiting[k:]...)
		start := now
		if d.busyUntil.After(start) {
			start = d.busyUntil
		}
		if start.After(now) {
			backlog = d.waitingSize
			limit := p.QueueBytes
			if limit == 0 {
				limit = DefaultQueueBytes
			}
			if limit > 0 && d.waitingSize+size > limit {
				d.c.DroppedQueue++
				n.trace(d, EventDropQueue, seq, pkt)
				pkt.Release()
				return
			}
			d.waiting = append(d.waiting, queued{start, size})
			d.waitingSize += size
			d.c.PeakQueueBytes = max(d.c.PeakQueueBytes, d.waitingSize)
		}
		done = start.Add(serialisation(size, p.Bandwidth))
		d.busyUntil = done
	}

	// Lost on the wire, after taking its share of the bandwidth.
	if d.chance(p.Loss) {
		d.c.DroppedLoss++
		n.trace(d, EventDropLoss, seq, pkt)
		pkt.Release()
		return
	}

	// ECN marking: by the queue's threshold, or at random.
	if (p.MarkCEQueueBytes > 0 && backlog >= p.MarkCEQueueBytes) || d.chance(p.MarkCE) {
		if markCE(pkt) {
			d.c.MarkedCE++
			n.trace(d, EventMarkCE, seq, pkt)
		}
	}

	copies := [2]*buffer.Packet{pkt}
	nc := 1
	if d.chance(p.Duplicate) {
		copies[1] = pkt.Clone()
		nc = 2
		d.c.Duplicated++
		n.trace(d, EventDuplicate, seq, pkt)
	}
	for _, c := range copies[:nc] {
		if d.chance(p.Corrupt) && flipBit(c, d.rng) {
			d.c.Corrupted++
			n.trace(d, EventCorrupt, seq, c)
		}
		at := done.Add(p.Delay)
		if p.Jitter > 0 {
			at = at.Add(time.Duration(d.rng.Int64N(int64(p.Jitter))))
		}
		if d.chance(p.Reorder) {
			d.c.Reordered++
			n.trace(d, EventReorder, seq, c)
			at = at.Add(p.ReorderDelay)
		} else {
			if at.Before(d.lastInOrder) {
				at = d.lastInOrder
			}
			d.lastInOrder = at
		}
		d.schedule(c, seq, at.Sub(now))
	}
}

// schedule arms a flight to deliver pkt after wait.
func (d *direction) schedule(pkt *buffer.Packet, seq uint64, wait time.Duration) {
	if k := len(d.free); k > 0 {
		f := d.free[k-1]
		d.free = d.free[:k-1]
		f.pkt, f.seq = pkt, seq
		f.timer.Reset(wait)
		return
	}
	f := &flight{d: d, pkt: pkt, seq: seq}
	d.flights = append(d.flights, f)
	f.timer = d.link.net.clock.AfterFunc(wait, f.arrive)
}

// arrive is the clock callback delivering a frame to the receiving end.
func (f *flight) arrive() {
	d := f.d
	pkt := f.pkt
	if pkt == nil {
		return // dropped by close
	}
	f.pkt = nil
	d.free = append(d.free, f)
	n := d.link.net
	size := pkt.Len()
	if d.to.closed || !d.to.gate.Attached() {
		// Closed, or detached (a disabled NIC).
		d.c.DroppedDown++
		n.trace(d, EventDropDown, f.seq, pkt)
		pkt.Release()
		return
	}
	d.c.Delivered++
	d.c.DeliveredBytes += uint64(size)
	n.trace(d, EventDeliver, f.seq, pkt)
	d.to.gate.Deliver(0, pkt)
}

// dropInFlight stops the delivery of every frame in flight, counting them
// as DroppedDown.
func (d *direction) dropInFlight() {
	for _, f := range d.flights {
		if f.pkt == nil {
			continue
		}
		f.timer.Stop()
		f.pkt.Release()
		f.pkt = nil
		d.free = append(d.free, f)
		d.c.DroppedDown++
	}
}

// serialisation is how long size bytes take at bw bits per second,
// rounded up to the nanosecond.
func serialisation(size int, bw uint64) time.Duration {
	bits := uint64(size) * 8
	sec := bits / bw
	rem := bits % bw
	return time.Duration(sec)*time.Second + time.Duration((rem*uint64(time.Second)+bw-1)/bw)
}

// flipBit flips one random bit of a frame past its Ethernet header and
// reports whether there was one. The bytes are made private first
// (PullUpWritable copies shared chunks), so a duplicate is not affected.
func flipBit(pkt *buffer.Packet, rng *rand.Rand) bool {
	span := pkt.Payload.Len() - header.EthernetMinimumSize
	if span <= 0 {
		return false
	}
	bit := rng.IntN(span * 8)
	off := header.EthernetMinimumSize + bit/8
	b, ok := pkt.Payload.PullUpWritable(off + 1)
	if !ok {
		return false
	}
	b[off] ^= 1 << (bit % 8)
	return true
}

// markCE sets the ECN field of an IPv4 or IPv6 packet (in an Ethernet
// frame) to CE if it is ECT(0) or ECT(1) (RFC 3168 §5), fixing the IPv4
// header checksum, and reports whether it did.
func markCE(pkt *buffer.Packet) bool {
	const eth = header.EthernetMinimumSize
	if pkt.Payload.Len() < eth+header.IPv4MinimumSize {
		return false
	}
	b, ok := pkt.Payload.PullUpWritable(eth + header.IPv4MinimumSize)
	if !ok {
		return false
	}
	ect := func(ecn uint8) bool { return ecn == header.ECNECT0 || ecn == header.ECNECT1 }
	switch header.Ethernet(b).Type() {
	case tcpip.IPv4ProtocolNumber:
		ip := header.IPv4(b[eth:])
		if ip.Version() != 4 || !ect(ip.ECN()) {
			return false
		}
		ip.SetTOS(ip.TOS() | header.ECNCE)
		return true
	case tcpip.IPv6ProtocolNumber:
		if pkt.Payload.Len() < eth+header.IPv6MinimumSize {
			return false
		}
		b, ok = pkt.Payload.PullUpWritable(eth + header.IPv6MinimumSize)
		if !ok {
			return false
		}
		ip := header.IPv6(b[eth:])
		if !ect(ip.ECN()) {
			return false
		}
		ip.SetTrafficClass(ip.TrafficClass() | header.ECNCE)
		return true
	}
	return false
}

// port is one end of a Link: the stack.LinkEndpoint of raw Ethernet frames
// under the host's ethernet.Endpoint.
type port struct {
	link   *Link
	out    *direction // frames written here travel this way
	addr   tcpip.LinkAddress
	caps   stack.LinkCapabilities // checksum offload (LinkConfig.ChecksumOffload)
	gate   linkutil.DispatchGate
	closed bool
}

var _ stack.LinkEndpoint = (*port)(nil)

// MTU implements stack.LinkEndpoint.
func (p *port) MTU() uint32 { return p.link.mtu }

// MaxHeaderLength implements stack.LinkEndpoint: the ethernet.Endpoint
// above adds the only header.
func (p *port) MaxHeaderLength() int { return 0 }

// LinkAddress implements stack.LinkEndpoint.
func (p *port) LinkAddress() tcpip.LinkAddress { return p.addr }

// Capabilities implements stack.LinkEndpoint: none unless the link was
// made with LinkConfig.ChecksumOffload, so that checksums are computed and
// verified and corruption is caught.
func (p *port) Capabilities() stack.LinkCapabilities { return p.caps }

// Attach implements stack.LinkEndpoint.
func (p *port) Attach(d stack.NetworkDispatcher) { p.gate.Attach(d) }

// AddHeader implements stack.LinkEndpoint: nothing to add.
func (p *port) AddHeader(*buffer.Packet) {}

// WritePackets implements stack.LinkEndpoint: each frame is put on the
// wire and delivered later by a clock callback.
func (p *port) WritePackets(pkts []*buffer.Packet) (int, error) {
	if p.closed {
		for _, pkt := range pkts {
			pkt.Release()
		}
		return 0, tcpip.ErrStackClosed
	}
	for _, pkt := range pkts {
		p.out.send(linkutil.ToInbound(pkt))
	}
	return len(pkts), nil
}

// Close implements stack.LinkEndpoint: the port refuses further frames,
// and frames on their way to it are dropped.
func (p *port) Close() {
	if p.closed {
		return
	}
	p.closed = true
	for _, d := range p.link.dirs {
		if d.to == p {
			d.dropInFlight()
		}
	}
	p.gate.Attach(nil)
}

// frameHash is the FNV-1a hash of a frame's bytes, for traces.
func frameHash(pkt *buffer.Packet) uint64 {
	h := fnv.New64a()
	for b := range pkt.All() {
		h.Write(b)
	}
	return h.Sum64()
}
