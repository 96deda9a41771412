// Package impair wraps a link endpoint and impairs the traffic crossing it,
// in either direction or both, as a bad network would: it loses,
// duplicates, corrupts, delays, jitters and reorders packets and limits
// the rate. Simulations and protocol tests use it to exercise loss
// recovery, reassembly and checksums.
//
// # Determinism
//
// Every random choice comes from a PCG generator (math/rand/v2) seeded with
// Config.Seed, one stream per direction, and every delay is scheduled on
// the tcpip.Clock given to New. With a tcpip.ManualClock, the same seed and
// the same packets offered in the same order and at the same times give the
// same packets out, in the same order, at the same times, byte for byte: a
// failing seed reproduces exactly.
//
// # What happens to a packet
//
// Each direction applies, in this order:
//
//  1. loss: with probability Loss the packet is dropped;
//  2. rate limit: with Rate set, a token bucket of Burst bytes refilled at
//     Rate bits per second shapes the traffic: a packet leaves when the
//     bucket holds enough for it, in arrival order; a packet that finds
//     QueueLimit packets waiting is dropped (tail drop);
//  3. corruption: with probability Corrupt one random bit of the packet
//     (past its first CorruptSkip bytes) is flipped; the receiving stack's
//     checksums must catch it;
//  4. duplication: with probability Duplicate a copy follows the packet;
//  5. delay: each copy is delivered Delay plus a uniform jitter in
//     [0, Jitter) after it left the rate limiter, never before a packet
//     that arrived earlier, except that with probability Reorder it is held
//     ReorderDelay longer without holding back the packets after it.
//
// A packet due at once (no delay, nothing ahead of it) goes through on the
// caller's goroutine; any other is delivered by a Clock callback: outbound
// packets into the inner link's WritePackets, inbound ones to the
// dispatcher. Every action is counted in Stats.
package impair

import (
	"container/heap"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/link/linkutil"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Direction configures the impairments of one direction. The zero value
// impairs nothing.
type Direction struct {
	// Loss, Duplicate, Reorder and Corrupt are probabilities in [0, 1].
	Loss      float64
	Duplicate float64
	Reorder   float64
	Corrupt   float64

	// Delay is added to every packet.
	Delay time.Duration
	// Jitter, if positive, adds a uniform random delay in [0, Jitter);
	// packets stay in order.
	Jitter time.Duration
	// ReorderDelay is the extra delay of a reordered packet.
	ReorderDelay time.Duration

	// CorruptSkip is the number of leading bytes never corrupted (14 to
	// spare the Ethernet header, which a real link's FCS protects, so
	// that the IP and transport checksums are what catches the error).
	CorruptSkip int

	// Rate, if not zero, limits the direction to Rate bits per second.
	Rate uint64
	// Burst is the token bucket's size in bytes: how much may leave at
	// once after an idle period. Zero means none: packets leave one
	// transmission time apart, as on a serial link.
	Burst int
	// QueueLimit is the most packets waiting for the rate limiter; zero
	// means DefaultQueueLimit.
	QueueLimit int

	// Limit is the most packets the direction holds (waiting for the
	// rate limiter or delayed); more are dropped. Zero means
	// DefaultLimit.
	Limit int
}

// Config configures an Endpoint: the seed of its random choices and the
// impairments of each direction.
type Config struct {
	Seed uint64
	// Tx impairs outbound packets (WritePackets), Rx inbound ones.
	Tx, Rx Direction
}

// Default limits.
const (
	DefaultQueueLimit = 1000
	DefaultLimit      = 1 << 16
)

// DirectionStats counts what one direction did.
type DirectionStats struct {
	Packets     tcpip.Counter // offered to the direction
	Lost        tcpip.Counter // dropped by Loss
	RateDropped tcpip.Counter // dropped: the rate limiter's queue was full
	RateDelayed tcpip.Counter // held by the rate limiter
	Overflow    tcpip.Counter // dropped: the direction held Limit packets
	Corrupted   tcpip.Counter // had a bit flipped
	Duplicated  tcpip.Counter // copied (each copy is delivered on its own)
	Reordered   tcpip.Counter // held ReorderDelay longer
	Delayed     tcpip.Counter // delivered by a clock callback rather than at once
	Delivered   tcpip.Counter // handed on (to the inner link or the dispatcher)
	Errors      tcpip.Counter // outbound: refused by the inner link
	Detached    tcpip.Counter // inbound: no dispatcher attached at delivery
	Closed      tcpip.Counter // dropped by Close, or offered after it
}

// Stats counts what an Endpoint did, per direction.
type Stats struct {
	Tx, Rx DirectionStats
}

// Endpoint is a link endpoint that impairs the traffic of the link it
// wraps. Its methods are safe for concurrent use.
type Endpoint struct {
	inner stack.LinkEndpoint
	clock tcpip.Clock
	gate  linkutil.DispatchGate
	tx    *direction
	rx    *direction
	stats Stats
}

var (
	_ stack.LinkEndpoint      = (*Endpoint)(nil)
	_ stack.NetworkDispatcher = (*Endpoint)(nil)
)

// PCG stream numbers of the two directions, so that they draw independent
// sequences from one seed.
const (
	txStream = 0x7478 // "tx"
	rxStream = 0x7278 // "rx"
)

// New returns an Endpoint that impairs the traffic of inner as cfg says,
// scheduling delays on clock. The Endpoint owns inner: its Close closes
// inner.
func New(inner stack.LinkEndpoint, cfg Config, clock tcpip.Clock) *Endpoint {
	e := &Endpoint{inner: inner, clock: clock}
	e.tx = newDirection(cfg.Tx, rand.NewPCG(cfg.Seed, txStream), clock, &e.stats.Tx, e.writeInner)
	e.rx = newDirection(cfg.Rx, rand.NewPCG(cfg.Seed, rxStream), clock, &e.stats.Rx, e.deliverUp)
	return e
}

// Stats returns the endpoint's counters.
func (e *Endpoint) Stats() *Stats { return &e.stats }

// Inner returns the wrapped link.
func (e *Endpoint) Inner() stack.LinkEndpoint { return e.inner }

// MTU implements stack.LinkEndpoint: the wrapped link's.
func (e *Endpoint) MTU() uint32 { return e.inner.MTU() }

// MaxHeaderLength implements stack.LinkEndpoint: the wrapped link's.
func (e *Endpoint) MaxHeaderLength() int { return e.inner.MaxHeaderLength() }

// LinkAddress implements stack.LinkEndpoint: the wrapped link's.
func (e *Endpoint) LinkAddress() tcpip.LinkAddress { return e.inner.LinkAddress() }

// Capabilities implements stack.LinkEndpoint: the wrapped link's.
func (e *Endpoint) Capabilities() stack.LinkCapabilities { return e.inner.Capabilities() }

// AddHeader implements stack.LinkEndpoint: the wrapped link's.
func (e *Endpoint) AddHeader(pkt *buffer.Packet) { e.inner.AddHeader(pkt) }

// Attach implements stack.LinkEndpoint. Detaching waits for deliveries in
// progress, including those of clock callbacks; inbound packets still
// delayed then are dropped (and counted) when they fall due.
func (e *Endpoint) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		e.inner.Attach(nil)
		e.gate.Attach(nil)
		return
	}
	e.gate.Attach(d)
	e.inner.Attach(e)
}

// WritePackets implements stack.LinkEndpoint: it impairs the packets and
// writes those due at once to the inner link. It reports every packet as
// written, except when all of them went straight through: then it returns
// what the inner link returned. Refusals by the inner link of packets it
// delayed are counted in Stats.Tx.Errors.
func (e *Endpoint) WritePackets(pkts []*buffer.Packet) (int, error) {
	return e.tx.offer(pkts, 0)
}

// DeliverNetworkPacket implements stack.NetworkDispatcher for the wrapped
// link: it impairs pkt and delivers it to the attached dispatcher, at once
// or from a clock callback.
func (e *Endpoint) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	one := [1]*buffer.Packet{pkt}
	e.rx.offer(one[:], proto)
}

// Close implements stack.LinkEndpoint: it drops (and counts) the delayed
// packets, stops the timers, waits for the callbacks in progress, then
// closes the wrapped link.
func (e *Endpoint) Close() {
	e.tx.close()
	e.rx.close()
	e.inner.Close()
	e.gate.Attach(nil)
}

// writeInner writes due outbound packets to the inner link.
func (e *Endpoint) writeInner(batch []pending) (int, error) {
	pkts := getSlice(len(batch))
	for _, p := range batch {
		*pkts = append(*pkts, p.pkt)
	}
	n, err := e.inner.WritePackets(*pkts)
	putSlice(pkts)
	e.stats.Tx.Delivered.Add(uint64(n))
	e.stats.Tx.Errors.Add(uint64(len(batch) - n))
	return n, err
}

// deliverUp delivers due inbound packets to the dispatcher.
func (e *Endpoint) deliverUp(batch []pending) (int, error) {
	for _, p := range batch {
		if e.gate.Deliver(p.proto, p.pkt) {
			e.stats.Rx.Delivered.Inc()
		} else {
			e.stats.Rx.Detached.Inc()
		}
	}
	return len(batch), nil
}

var slicePool = sync.Pool{New: func() any { return new([]*buffer.Packet) }}

func getSlice(n int) *[]*buffer.Packet {
	s := slicePool.Get().(*[]*buffer.Packet)
	if cap(*s) < n {
		*s = make([]*buffer.Packet, 0, n)
	}
	return s
}

func putSlice(s *[]*buffer.Packet) {
	clear(*s)
	*s = (*s)[:0]
	slicePool.Put(s)
}

// pending is a packet scheduled for delivery.
type pending struct {
	at    tcpip.MonotonicTime
	seq   uint64 // breaks ties in arrival order
	proto tcpip.NetworkProtocolNumber
	pkt   *buffer.Packet
}

// pendingHeap orders pending packets by time, then arrival.
type pendingHeap []pending

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(pending)) }
func (h *pendingHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = pending{}
	*h = old[:len(old)-1]
	return p
}

// direction is the impairment machinery of one direction.
type direction struct {
	cfg     Direction
	clock   tcpip.Clock
	stats   *DirectionStats
	deliver func([]pending) (int, error) // hands packets on; owns them

	mu   sync.Mutex
	idle sync.Cond // signalled when delivering becomes false; L is &mu
	// Guarded by mu.
	rng         *rand.Rand
	queue       pendingHeap
	seq         uint64
	timer       tcpip.Timer // nil until first needed
	timerArmed  bool
	timerAt     tcpip.MonotonicTime
	lastInOrder tcpip.MonotonicTime // delivery time of the last packet not reordered
	delivering  bool                // a goroutine is handing packets on (runLocked)
	closed      bool
	// full is when the token bucket is full again (see shapeLocked).
	full       tcpip.MonotonicTime
	departures []tcpip.MonotonicTime // of packets still waiting, oldest first
}

func newDirection(cfg Direction, src rand.Source, clock tcpip.Clock, stats *DirectionStats, deliver func([]pending) (int, error)) *direction {
	if cfg.QueueLimit <= 0 {
		cfg.QueueLimit = DefaultQueueLimit
	}
	if cfg.Limit <= 0 {
		cfg.Limit = DefaultLimit
	}
	d := &direction{cfg: cfg, clock: clock, stats: stats, deliver: deliver, rng: rand.New(src)}
	d.idle.L = &d.mu
	return d
}

// chance draws whether an event of probability p happens. It draws
// nothing when p is zero, so that a configuration draws the same numbers
// whatever the impairments it leaves off.
func (d *direction) chance(p float64) bool {
	return p > 0 && d.rng.Float64() < p
}

// offer impairs pkts (owning them) and hands on those due at once.
func (d *direction) offer(pkts []*buffer.Packet, proto tcpip.NetworkProtocolNumber) (int, error) {
	d.stats.Packets.Add(uint64(len(pkts)))
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.stats.Closed.Add(uint64(len(pkts)))
		for _, p := range pkts {
			p.Release()
		}
		return 0, tcpip.ErrStackClosed
	}
	now := d.clock.NowMonotonic()
	var imm []pending
	straight := true // every packet goes through at once, one copy each
	for _, pkt := range pkts {
		before := len(imm)
		imm = d.impairLocked(imm, now, proto, pkt)
		straight = straight && len(imm) == before+1
	}
	if len(imm) == 0 {
		d.mu.Unlock()
		return len(pkts), nil
	}
	n, err := d.runLocked(imm)
	d.mu.Unlock()
	if straight {
		return n, err
	}
	return len(pkts), nil
}

// impairLocked runs pkt through the pipeline of the package doc, appending
// to imm the copies due at once and queueing the others.
func (d *direction) impairLocked(imm []pending, now tcpip.MonotonicTime, proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) []pending {
	cfg := &d.cfg
	if d.chance(cfg.Loss) {
		d.stats.Lost.Inc()
		pkt.Release()
		return imm
	}
	if len(d.queue) >= cfg.Limit {
		d.stats.Overflow.Inc()
		pkt.Release()
		return imm
	}
	depart := now
	if cfg.Rate > 0 {
		var ok bool
		if depart, ok = d.shapeLocked(now, pkt.Len()); !ok {
			d.stats.RateDropped.Inc()
			pkt.Release()
			return imm
		}
	}
	if d.chance(cfg.Corrupt) && flipBit(pkt, cfg.CorruptSkip, d.rng) {
		d.stats.Corrupted.Inc()
	}
	copies := [2]*buffer.Packet{pkt}
	n := 1
	if d.chance(cfg.Duplicate) {
		copies[1] = pkt.Clone()
		n = 2
		d.stats.Duplicated.Inc()
	}
	for _, p := range copies[:n] {
		at := depart.Add(cfg.Delay)
		if cfg.Jitter > 0 {
			at = at.Add(time.Duration(d.rng.Int64N(int64(cfg.Jitter))))
		}
		reordered := d.chance(cfg.Reorder)
		if reordered {
			d.stats.Reordered.Inc()
			at = at.Add(cfg.ReorderDelay)
		} else {
			if at.Before(d.lastInOrder) {
				at = d.lastInOrder
			}
			d.lastInOrder = at
		}
		d.seq++
		item := pending{at: at, seq: d.seq, proto: proto, pkt: p}
		if !at.After(now) && !d.delivering && (len(d.queue) == 0 || d.queue[0].at.After(now)) {
			// Due now, and nothing queued is due before it.
			imm = append(imm, item)
			continue
		}
		d.stats.Delayed.Inc()
		heap.Push(&d.queue, item)
		d.armLocked(now)
	}
	return imm
}

// shapeLocked returns when a packet of size bytes arriving at now leaves
// the token bucket, or false if the bucket's queue is full.
func (d *direction) shapeLocked(now tcpip.MonotonicTime, size int) (tcpip.MonotonicTime, bool) {
	cfg := &d.cfg
	// Forget the packets that have left.
	k := 0
	for k < len(d.departures) && !d.departures[k].After(now) {
		k++
	}
	d.departures = append(d.departures[:0], d.departures[k:]...)
	if len(d.departures) >= cfg.QueueLimit {
		return tcpip.MonotonicTime{}, false
	}
	// A token bucket of burst bytes that fills at Rate, as the time
	// full at which it is full again: at t it holds burst-Rate*(full-t)
	// bytes. The packet may leave once the bucket holds size bytes, that
	// is once full-t is at most the time burst-size bytes take. A packet
	// larger than the bucket needs a full bucket.
	burst := max(cfg.Burst, size)
	slack := transmitTime(uint64(burst), cfg.Rate) - transmitTime(uint64(size), cfg.Rate)
	depart := now
	if t := d.full.Add(-slack); t.After(depart) {
		depart = t
	}
	if d.full.Before(depart) {
		d.full = depart
	}
	d.full = d.full.Add(transmitTime(uint64(size), cfg.Rate))
	if depart.After(now) {
		d.departures = append(d.departures, depart)
		d.stats.RateDelayed.Inc()
	}
	return depart, true
}

// transmitTime is how long size bytes take at rate bits per second,
// rounded up to the nanosecond.
func transmitTime(size, rate uint64) time.Duration {
	bits := size * 8
	// bits*1e9 overflows past 2^64/1e9 bits (2.3 GB): split it.
	sec := bits / rate
	rem := bits % rate
	return time.Duration(sec)*time.Second + time.Duration((rem*uint64(time.Second)+rate-1)/rate)
}

// flipBit flips one random bit of pkt past its first skip bytes and
// reports whether there was one to flip. Header bytes are the packet's
// own; payload bytes are copied first if shared (PullUpWritable), so that
// no clone of the packet sees the change.
func flipBit(pkt *buffer.Packet, skip int, rng *rand.Rand) bool {
	skip = max(skip, 0)
	span := pkt.Len() - skip
	if span <= 0 {
		return false
	}
	bit := rng.IntN(span * 8)
	off, mask := skip+bit/8, byte(1)<<(bit%8)
	if h := pkt.Headers(); off < len(h) {
		h[off] ^= mask
		return true
	}
	off -= pkt.HeaderLen()
	b, ok := pkt.Payload.PullUpWritable(off + 1)
	if !ok {
		return false
	}
	b[off] ^= mask
	return true
}

// armLocked makes sure the timer fires by the earliest pending deadline.
func (d *direction) armLocked(now tcpip.MonotonicTime) {
	if len(d.queue) == 0 {
		return
	}
	at := d.queue[0].at
	if d.timerArmed && !at.Before(d.timerAt) {
		return
	}
	wait := at.Sub(now)
	if d.timer == nil {
		d.timer = d.clock.AfterFunc(wait, d.fire)
	} else {
		d.timer.Reset(wait)
	}
	d.timerArmed, d.timerAt = true, at
}

// fire is the clock callback: it hands on every packet now due, unless
// another goroutine is handing packets on, which then takes these too.
func (d *direction) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.timerArmed = false
	if d.closed || d.delivering {
		return
	}
	due := d.popDueLocked(d.clock.NowMonotonic(), nil)
	if len(due) == 0 {
		d.armLocked(d.clock.NowMonotonic())
		return
	}
	d.runLocked(due)
}

// popDueLocked appends to batch the queued packets due at now, in order.
func (d *direction) popDueLocked(now tcpip.MonotonicTime, batch []pending) []pending {
	for len(d.queue) > 0 && !d.queue[0].at.After(now) {
		batch = append(batch, heap.Pop(&d.queue).(pending))
	}
	return batch
}

// runLocked hands batch on, then whatever fell due meanwhile, until nothing
// is due, and re-arms the timer; it returns what handing batch on
// returned. One goroutine at a time runs it (delivering), so that packets
// leave in order. d.mu is held, and released while handing on.
func (d *direction) runLocked(batch []pending) (int, error) {
	d.delivering = true
	n, err := -1, error(nil)
	for len(batch) > 0 {
		d.mu.Unlock()
		m, e := d.deliver(batch)
		d.mu.Lock()
		if n < 0 {
			n, err = m, e
		}
		clear(batch)
		if d.closed {
			break
		}
		batch = d.popDueLocked(d.clock.NowMonotonic(), batch[:0])
	}
	d.delivering = false
	d.idle.Broadcast()
	if !d.closed {
		d.armLocked(d.clock.NowMonotonic())
	}
	return n, err
}

// close drops the pending packets, stops the timer and waits for the
// deliveries in progress.
func (d *direction) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	for _, p := range d.queue {
		p.pkt.Release()
	}
	d.stats.Closed.Add(uint64(len(d.queue)))
	d.queue = nil
	if d.timer != nil {
		d.timer.Stop()
	}
	for d.delivering {
		d.idle.Wait()
	}
}
