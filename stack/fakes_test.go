package stack

import (
	"net/netip"
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// fakeLink is a LinkEndpoint that records what is written to it.
type fakeLink struct {
	mtu  uint32
	addr tcpip.LinkAddress
	caps LinkCapabilities

	mu       sync.Mutex
	d        NetworkDispatcher
	attaches int
	written  []*buffer.Packet
	closed   bool
	err      error
}

func (l *fakeLink) MTU() uint32                    { return l.mtu }
func (l *fakeLink) MaxHeaderLength() int           { return 0 }
func (l *fakeLink) LinkAddress() tcpip.LinkAddress { return l.addr }
func (l *fakeLink) Capabilities() LinkCapabilities { return l.caps }
func (l *fakeLink) AddHeader(*buffer.Packet)       {}
func (l *fakeLink) Attach(d NetworkDispatcher) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = d
	if d != nil {
		l.attaches++
	}
}
func (l *fakeLink) dispatcher() NetworkDispatcher {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.d
}
func (l *fakeLink) WritePackets(pkts []*buffer.Packet) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		for _, p := range pkts {
			p.Release()
		}
		return 0, l.err
	}
	l.written = append(l.written, pkts...)
	return len(pkts), nil
}
func (l *fakeLink) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, p := range l.written {
		p.Release()
	}
	l.written = nil
}

// fakeNetProto is a network protocol whose endpoints record what they see.
type fakeNetProto struct {
	number tcpip.NetworkProtocolNumber

	mu  sync.Mutex
	eps map[tcpip.NICID]*fakeNetEP
}

func newFakeNetProto(n tcpip.NetworkProtocolNumber) NetworkProtocolFactory {
	return func(*Stack) NetworkProtocol {
		return &fakeNetProto{number: n, eps: map[tcpip.NICID]*fakeNetEP{}}
	}
}

func (p *fakeNetProto) Number() tcpip.NetworkProtocolNumber { return p.number }
func (p *fakeNetProto) NewEndpoint(nic NetworkInterface, d TransportDispatcher) NetworkEndpoint {
	ep := &fakeNetEP{proto: p, nic: nic, groups: map[netip.Addr]int{}}
	p.mu.Lock()
	p.eps[nic.ID()] = ep
	p.mu.Unlock()
	return ep
}
func (p *fakeNetProto) SetOption(any) error { return tcpip.ErrUnknownProtocolOption }
func (p *fakeNetProto) Option(any) error    { return tcpip.ErrUnknownProtocolOption }
func (p *fakeNetProto) Close()              {}

type fakeNetEP struct {
	proto *fakeNetProto
	nic   NetworkInterface

	mu      sync.Mutex
	enabled bool
	closed  bool
	handled []*buffer.Packet
	added   []netip.Prefix
	removed []netip.Prefix
	groups  map[netip.Addr]int
	sentVia []*Route
}

func (e *fakeNetEP) Enable() error { e.mu.Lock(); e.enabled = true; e.mu.Unlock(); return nil }
func (e *fakeNetEP) Disable()      { e.mu.Lock(); e.enabled = false; e.mu.Unlock() }
func (e *fakeNetEP) HandlePacket(pkt *buffer.Packet) {
	e.mu.Lock()
	e.handled = append(e.handled, pkt)
	e.mu.Unlock()
}
func (e *fakeNetEP) WritePacket(r *Route, _ NetworkHeaderParams, pkt *buffer.Packet) error {
	e.mu.Lock()
	e.sentVia = append(e.sentVia, r)
	e.mu.Unlock()
	if r.Loop&LoopLocal != 0 {
		r.LoopBack(pkt.Clone())
	}
	if r.Loop&LoopOut != 0 {
		return e.nic.WritePacket(r.NextHop, e.proto.number, pkt)
	}
	pkt.Release()
	return nil
}
func (e *fakeNetEP) WriteHeaderIncludedPacket(r *Route, pkt *buffer.Packet) error {
	return e.WritePacket(r, NetworkHeaderParams{}, pkt)
}
func (e *fakeNetEP) MaxHeaderLength() int { return 20 }
func (e *fakeNetEP) MTU() uint32          { return e.nic.MTU() - 20 }
func (e *fakeNetEP) AddressAdded(p netip.Prefix) {
	e.mu.Lock()
	e.added = append(e.added, p)
	e.mu.Unlock()
}
func (e *fakeNetEP) AddressRemoved(p netip.Prefix) {
	e.mu.Lock()
	e.removed = append(e.removed, p)
	e.mu.Unlock()
}
func (e *fakeNetEP) JoinGroup(g netip.Addr) error {
	e.mu.Lock()
	e.groups[g]++
	e.mu.Unlock()
	return nil
}
func (e *fakeNetEP) LeaveGroup(g netip.Addr) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.groups[g] == 0 {
		return tcpip.ErrAddressNotFound
	}
	e.groups[g]--
	return nil
}
func (e *fakeNetEP) IsInGroup(g netip.Addr) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.groups[g] > 0
}
func (e *fakeNetEP) Close() {
	e.mu.Lock()
	e.closed = true
	for _, p := range e.handled {
		p.Release()
	}
	e.handled = nil
	e.mu.Unlock()
}
func (e *fakeNetEP) takeHandled() []*buffer.Packet {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.handled
	e.handled = nil
	return h
}
