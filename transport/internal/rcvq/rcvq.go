// Package rcvq is the receive queue of ustack's datagram endpoints (UDP,
// ICMP echo, raw IP and packet endpoints): a FIFO of received packets with
// what the endpoint needs to report about each, bounded by a byte limit
// (SO_RCVBUF) charged like Linux's skb truesize.
//
// A Queue is not safe for concurrent use: its endpoint guards it with its
// own lock. It allocates only when it grows; once its ring is large enough
// for the traffic, pushing and popping allocate nothing, which is what keeps
// the datagram receive path allocation-free (DESIGN.md principle 7). A ring
// that grew large for a burst is freed when the queue drains, so an idle
// endpoint holds no more than a small ring (principle 6).
package rcvq

import (
	"net/netip"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// Overhead is what each queued datagram is charged beyond its chunks: the
// header area an inbound packet always has (256 bytes) and the Packet and
// Entry structures. Linux charges each datagram its skb's truesize, which
// likewise counts the sk_buff beside the data, so that a flood of empty
// datagrams exhausts the limit as surely as a flood of large ones.
const Overhead = 512

// minRing is the ring size a queue starts with, and keepRing the largest
// ring it keeps once drained.
const (
	minRing  = 8
	keepRing = 64
)

// Entry is one queued datagram and what its endpoint reports about it.
type Entry struct {
	// Pkt holds the datagram: for UDP and ICMP the payload to read, for
	// raw and packet endpoints headers and payload as the endpoint
	// decides. The queue owns it while it is queued.
	Pkt *buffer.Packet

	// Src and SrcPort are the sender's address and port (ICMP, raw and
	// packet endpoints leave SrcPort zero, or the protocol number).
	Src     netip.Addr
	SrcPort uint16
	// Dst is the datagram's destination address (IP_PKTINFO).
	Dst netip.Addr
	// NIC is the NIC the datagram arrived on (or left by, for packet
	// endpoints seeing outbound frames).
	NIC tcpip.NICID
	// TTL and TOS are from the IP header.
	TTL, TOS uint8
	// Timestamp is when the datagram was queued, if the endpoint asked
	// for timestamps (SO_TIMESTAMP); zero otherwise.
	Timestamp time.Time
	// LinkSrc, NetProto and PktType describe the frame for packet
	// endpoints (sockaddr_ll).
	LinkSrc  tcpip.LinkAddress
	NetProto tcpip.NetworkProtocolNumber
	PktType  buffer.PacketType
	// Skip is how many bytes at the front of the packet (headers, then
	// payload) are not part of the datagram: the link header a cooked
	// packet endpoint does not report.
	Skip int

	charge int
}

// Queue is a bounded FIFO of Entries. The zero value is empty and usable.
type Queue struct {
	ring []Entry
	head int // index of the oldest entry in ring
	n    int // number of entries
	used int // bytes charged for the queued entries
}

// Charge returns what a packet is charged against the limit: the chunks of
// its payload (Buffer.Size, Linux's truesize), its headers and Overhead.
func Charge(pkt *buffer.Packet) int {
	return pkt.Payload.Size() + pkt.HeaderLen() + Overhead
}

// Push appends e unless the queue is full, and reports whether it did. The
// queue is full when the bytes it holds reach limit; like Linux's
// __udp_enqueue_schedule_skb it admits a datagram as long as the limit is
// not yet reached, so an empty queue takes one datagram of any size. On
// success the queue owns e.Pkt; on failure the caller still does.
//
// A packet still charged to its sender (buffer.Packet.OwnerCharge: a
// datagram from a stack in the same process, over a pipe or a loopback)
// is charged here no more than its sender was. Such a sender is paid back
// only when the datagram is read or dropped, so the datagrams of one
// sender queued here are charged less than that sender's SO_SNDBUF, and a
// queue whose limit is at least that size is never full because of them:
// since the queue admits while its charge is under the limit, a datagram
// of that sender always finds room.
func (q *Queue) Push(e Entry, limit int) bool {
	if q.used >= limit {
		return false
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	e.charge = Charge(e.Pkt)
	if c := e.Pkt.OwnerCharge(); c > 0 && c < e.charge {
		e.charge = c
	}
	q.ring[(q.head+q.n)%len(q.ring)] = e
	q.n++
	q.used += e.charge
	return true
}

// grow doubles the ring, keeping the entries in order.
func (q *Queue) grow() {
	ring := make([]Entry, max(minRing, 2*len(q.ring)))
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

// Len returns the number of queued datagrams.
func (q *Queue) Len() int { return q.n }

// Used returns the bytes charged for the queued datagrams.
func (q *Queue) Used() int { return q.used }

// Front returns the oldest entry, which stays queued (MSG_PEEK), or nil if
// the queue is empty. The entry is valid until the next Push or Pop.
func (q *Queue) Front() *Entry {
	if q.n == 0 {
		return nil
	}
	return &q.ring[q.head]
}

// Pop removes and returns the oldest entry, whose packet the caller then
// owns; ok is false if the queue is empty.
func (q *Queue) Pop() (e Entry, ok bool) {
	if q.n == 0 {
		return Entry{}, false
	}
	e = q.ring[q.head]
	q.ring[q.head] = Entry{}
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	q.used -= e.charge
	if q.n == 0 {
		q.head = 0
		if len(q.ring) > keepRing {
			q.ring = nil
		}
	}
	return e, true
}

// TakeAll moves every queued entry into the Queue it returns and leaves q
// empty. An endpoint closing takes its queue under its lock and Clears
// what TakeAll returned after unlocking: releasing a packet may pay its
// sender back (buffer.Owner), which wakes that sender's writers, and no
// user callback may run under an endpoint's lock.
func (q *Queue) TakeAll() Queue {
	t := *q
	*q = Queue{}
	return t
}

// Clear releases every queued packet and frees the ring.
func (q *Queue) Clear() {
	for {
		e, ok := q.Pop()
		if !ok {
			break
		}
		e.Pkt.Release()
	}
	q.ring, q.head, q.used = nil, 0, 0
}
