package stack

import (
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// maxLocalQueue bounds the packets waiting for local delivery; beyond it
// they are dropped (counted as TxQueueFull of the NIC).
const maxLocalQueue = 4096

// localQueue holds packets the stack sends to itself (handle-local routes,
// multicast loop, loopback NICs) and delivers them from a Clock callback,
// never from inside the send: the sender may hold an endpoint lock that the
// receiving path needs.
type localQueue struct {
	s *Stack

	mu        sync.Mutex
	q         []localPacket // guarded by mu
	spare     []localPacket // guarded by mu: the drained slice, reused
	timer     tcpip.Timer   // guarded by mu
	scheduled bool          // guarded by mu: a drain is scheduled or running
	closed    bool          // guarded by mu
}

type localPacket struct {
	n     *nic
	proto tcpip.NetworkProtocolNumber
	pkt   *buffer.Packet
}

// enqueue takes an outbound network packet and queues it as an inbound one.
func (l *localQueue) enqueue(n *nic, proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	in := toInbound(pkt)
	l.mu.Lock()
	if l.closed || len(l.q) >= maxLocalQueue {
		l.mu.Unlock()
		n.stats.TxQueueFull.Inc()
		l.s.stats.NICs.TxQueueFull.Inc()
		in.Release()
		return
	}
	l.q = append(l.q, localPacket{n, proto, in})
	if !l.scheduled {
		l.scheduled = true
		if l.timer == nil {
			l.timer = l.s.clock.AfterFunc(0, l.drain)
		} else {
			l.timer.Reset(0)
		}
	}
	l.mu.Unlock()
}

// drain delivers the queued packets, in order, until the queue is empty.
// It stays scheduled while it delivers, so that packets queued meanwhile
// wait for it rather than start a second drain on another goroutine, which
// would deliver them ahead of the ones in hand.
func (l *localQueue) drain() {
	l.mu.Lock()
	for len(l.q) > 0 && !l.closed {
		q := l.q
		l.q, l.spare = l.spare[:0], nil
		l.mu.Unlock()
		for i, p := range q {
			p.pkt.Type = buffer.PacketHost
			p.n.DeliverNetworkPacket(p.proto, p.pkt)
			q[i] = localPacket{}
		}
		l.mu.Lock()
		if l.spare == nil {
			l.spare = q[:0]
		}
	}
	l.scheduled = false
	l.mu.Unlock()
}

func (l *localQueue) close() {
	l.mu.Lock()
	l.closed = true
	q := l.q
	l.q = nil
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	for _, p := range q {
		p.pkt.Release()
	}
}

// toInbound turns an outbound packet (headers in the header area, payload
// after) into an inbound one (everything in the payload), sharing the
// payload's chunks. It owns pkt. The sender's charge (buffer.Owner) moves
// to the inbound packet, so that, as over a pipe, a local UDP sender is
// paid back when the receiving socket's reader takes the datagram.
func toInbound(pkt *buffer.Packet) *buffer.Packet {
	in := buffer.NewPacket(0, nil)
	in.Payload.Append(pkt.Headers())
	in.Payload.Merge(&pkt.Payload)
	in.NetworkProtocol = pkt.NetworkProtocol
	in.NIC = pkt.NIC
	in.TakeOwner(pkt)
	pkt.Release()
	return in
}

// packetEndpointList is a list of packet (AF_PACKET) endpoints, each for
// one network protocol or all (0).
type packetEndpointList struct {
	mu  sync.RWMutex
	eps []packetEndpointEntry // guarded by mu; copy on write
}

type packetEndpointEntry struct {
	proto tcpip.NetworkProtocolNumber
	ep    PacketEndpoint
}

func (l *packetEndpointList) add(proto tcpip.NetworkProtocolNumber, ep PacketEndpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	eps := make([]packetEndpointEntry, len(l.eps), len(l.eps)+1)
	copy(eps, l.eps)
	l.eps = append(eps, packetEndpointEntry{proto, ep})
}

func (l *packetEndpointList) remove(proto tcpip.NetworkProtocolNumber, ep PacketEndpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	eps := make([]packetEndpointEntry, 0, len(l.eps))
	for _, e := range l.eps {
		if e.proto != proto || e.ep != ep {
			eps = append(eps, e)
		}
	}
	l.eps = eps
}

// endpoints returns the registered endpoints.
func (l *packetEndpointList) endpoints() []PacketEndpoint {
	l.mu.RLock()
	defer l.mu.RUnlock()
	eps := make([]PacketEndpoint, 0, len(l.eps))
	for _, e := range l.eps {
		eps = append(eps, e.ep)
	}
	return eps
}

// deliver gives each matching endpoint a clone of pkt.
func (l *packetEndpointList) deliver(id tcpip.NICID, proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	l.mu.RLock()
	eps := l.eps
	l.mu.RUnlock()
	for _, e := range eps {
		if e.proto == 0 || e.proto == proto {
			e.ep.HandlePacket(id, proto, pkt.Clone())
		}
	}
}

// RegisterPacketEndpoint makes ep receive copies of the frames of NIC id (0:
// every NIC) of protocol proto (0: every protocol), inbound and outbound.
func (s *Stack) RegisterPacketEndpoint(id tcpip.NICID, proto tcpip.NetworkProtocolNumber, ep PacketEndpoint) error {
	if id == 0 {
		s.packetEPs.add(proto, ep)
		return nil
	}
	n, err := s.nic(id)
	if err != nil {
		return err
	}
	n.packetEPs.add(proto, ep)
	return nil
}

// UnregisterPacketEndpoint undoes RegisterPacketEndpoint.
func (s *Stack) UnregisterPacketEndpoint(id tcpip.NICID, proto tcpip.NetworkProtocolNumber, ep PacketEndpoint) {
	if id == 0 {
		s.packetEPs.remove(proto, ep)
		return
	}
	if n, err := s.nic(id); err == nil {
		n.packetEPs.remove(proto, ep)
	}
}
