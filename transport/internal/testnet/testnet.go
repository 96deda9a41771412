// Package testnet is the test harness of ustack's transport packages: a
// Hub is an in-memory segment joining stacks, each through a Port (a
// stack.LinkEndpoint carrying bare IP packets, or Ethernet frames so that
// ARP runs). Frames written are queued and delivered only when the test
// calls Pump, on the test's goroutine, and the stacks share one
// tcpip.ManualClock that Pump advances to run what is due (handle-local and
// multicast-loop deliveries, neighbour resolution). Nothing runs on a
// goroutine of its own, so every test is deterministic.
//
// Delivery allocates nothing once warm, so that allocation tests can
// measure a whole send-and-receive path.
package testnet

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// maxPumpRounds bounds Pump against stacks answering each other forever.
const maxPumpRounds = 10000

// Hub is a broadcast segment: a frame written by one port reaches every
// other port (an Ethernet NIC then filters by destination).
type Hub struct {
	Clock *tcpip.ManualClock

	mu     sync.Mutex
	ports  []*Port
	queue  []frame // guarded by mu
	spare  []frame // guarded by mu: the drained queue, reused
	frames int     // guarded by mu: frames written so far
}

type frame struct {
	from *Port
	pkt  *buffer.Packet // inbound form: the whole frame in the payload
}

// NewHub returns an empty hub whose stacks will use clock.
func NewHub(clock *tcpip.ManualClock) *Hub {
	return &Hub{Clock: clock}
}

// Port is a hub port: a stack.LinkEndpoint.
type Port struct {
	hub  *Hub
	eth  bool
	addr tcpip.LinkAddress
	mtu  uint32
	caps stack.LinkCapabilities

	mu     sync.Mutex
	d      stack.NetworkDispatcher // guarded by mu
	closed bool                    // guarded by mu
}

var _ stack.LinkEndpoint = (*Port)(nil)

// NewPort adds a port. With eth it carries Ethernet II frames with link
// address addr (and needs ARP); without, bare IP packets.
func (h *Hub) NewPort(eth bool, addr tcpip.LinkAddress, mtu uint32, caps stack.LinkCapabilities) *Port {
	p := &Port{hub: h, eth: eth, addr: addr, mtu: mtu, caps: caps}
	if eth {
		p.caps |= stack.CapabilityResolutionRequired
	}
	h.mu.Lock()
	h.ports = append(h.ports, p)
	h.mu.Unlock()
	return p
}

// MTU implements stack.LinkEndpoint.
func (p *Port) MTU() uint32 { return p.mtu }

// MaxHeaderLength implements stack.LinkEndpoint.
func (p *Port) MaxHeaderLength() int {
	if p.eth {
		return header.EthernetMinimumSize
	}
	return 0
}

// LinkAddress implements stack.LinkEndpoint.
func (p *Port) LinkAddress() tcpip.LinkAddress { return p.addr }

// Capabilities implements stack.LinkEndpoint.
func (p *Port) Capabilities() stack.LinkCapabilities { return p.caps }

// Attach implements stack.LinkEndpoint.
func (p *Port) Attach(d stack.NetworkDispatcher) {
	p.mu.Lock()
	p.d = d
	p.mu.Unlock()
}

// AddHeader implements stack.LinkEndpoint: the Ethernet header of an
// Ethernet port (RFC 894).
func (p *Port) AddHeader(pkt *buffer.Packet) {
	if !p.eth {
		return
	}
	src := pkt.LinkSource
	if src.IsZero() {
		src = p.addr
	}
	f := header.EthernetFields{Source: src, Destination: pkt.LinkDestination, Type: pkt.NetworkProtocol}
	f.Encode(pkt.PrependHeader(buffer.LinkLayer, header.EthernetMinimumSize))
}

// WritePackets implements stack.LinkEndpoint: the packets are queued for
// the next Pump.
func (p *Port) WritePackets(pkts []*buffer.Packet) (int, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		for _, pkt := range pkts {
			pkt.Release()
		}
		return 0, tcpip.ErrStackClosed
	}
	h := p.hub
	for _, pkt := range pkts {
		in := buffer.NewPacket(0, nil)
		in.Payload.Append(pkt.Headers())
		in.Payload.Merge(&pkt.Payload)
		pkt.Release()
		h.mu.Lock()
		h.queue = append(h.queue, frame{from: p, pkt: in})
		h.frames++
		h.mu.Unlock()
	}
	return len(pkts), nil
}

// Close implements stack.LinkEndpoint.
func (p *Port) Close() {
	p.mu.Lock()
	p.closed, p.d = true, nil
	p.mu.Unlock()
}

// deliver hands a frame to the port's dispatcher. It owns pkt.
func (p *Port) deliver(pkt *buffer.Packet) {
	p.mu.Lock()
	d := p.d
	p.mu.Unlock()
	if d == nil {
		pkt.Release()
		return
	}
	if !p.eth {
		var proto tcpip.NetworkProtocolNumber
		if b, ok := pkt.Peek(1); ok {
			switch b[0] >> 4 {
			case 4:
				proto = tcpip.IPv4ProtocolNumber
			case 6:
				proto = tcpip.IPv6ProtocolNumber
			}
		}
		d.DeliverNetworkPacket(proto, pkt)
		return
	}
	hb, ok := pkt.ConsumeHeader(buffer.LinkLayer, header.EthernetMinimumSize)
	if !ok {
		pkt.Release()
		return
	}
	eh := header.Ethernet(hb)
	dst := eh.Destination()
	pkt.LinkSource, pkt.LinkDestination = eh.Source(), dst
	switch {
	case dst == p.addr:
		pkt.Type = buffer.PacketHost
	case dst.IsBroadcast():
		pkt.Type = buffer.PacketBroadcast
	case dst.IsMulticast():
		pkt.Type = buffer.PacketMulticast
	default:
		pkt.Type = buffer.PacketOtherHost
	}
	d.DeliverNetworkPacket(eh.Type(), pkt)
}

// Pump delivers the queued frames and runs the timers due now, again and
// again until nothing moves, and returns how many frames it delivered.
func (h *Hub) Pump() int {
	n := 0
	for range maxPumpRounds {
		h.mu.Lock()
		q := h.queue
		h.queue, h.spare = h.spare[:0], nil
		ports := h.ports
		h.mu.Unlock()
		for i, f := range q {
			// Every other port gets a clone, the last one the
			// frame itself.
			last := -1
			for j, p := range ports {
				if p != f.from {
					last = j
				}
			}
			if last < 0 {
				f.pkt.Release()
			}
			for j, p := range ports {
				switch {
				case p == f.from || j > last:
				case j == last:
					p.deliver(f.pkt)
				default:
					p.deliver(f.pkt.Clone())
				}
			}
			q[i] = frame{}
		}
		n += len(q)
		h.mu.Lock()
		if h.spare == nil {
			h.spare = q[:0]
		}
		h.mu.Unlock()
		ran := h.Clock.Advance(0)
		if len(q) == 0 && ran == 0 {
			return n
		}
	}
	panic("testnet: Pump does not settle")
}

// Send queues b, a whole frame (a bare IP packet on ports without
// Ethernet), for every port, as if a station outside the stacks sent it.
func (h *Hub) Send(b []byte) {
	h.mu.Lock()
	h.queue = append(h.queue, frame{pkt: buffer.NewPacketFromBytes(0, b)})
	h.mu.Unlock()
}

// Frames returns the number of frames written to the hub so far.
func (h *Hub) Frames() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.frames
}

// Close releases the frames still queued.
func (h *Hub) Close() {
	h.mu.Lock()
	q := h.queue
	h.queue = nil
	h.mu.Unlock()
	for _, f := range q {
		f.pkt.Release()
	}
}

// Options configure a test stack.
type Options struct {
	// Networks are the network protocols of the stack (ipv4.NewProtocol,
	// arp.NewProtocol): the tests name them, so that this package does
	// not depend on them.
	Networks []stack.NetworkProtocolFactory
	// Transports are the transport protocols of the stack.
	Transports []stack.TransportProtocolFactory
	// RawFactory enables raw and packet endpoints.
	RawFactory stack.RawFactory
	// HandleLocal is stack.Options.HandleLocal.
	HandleLocal bool
	// Clock, if set, is the stack's clock instead of the hub's: a
	// view of the hub's clock (a coarse one, say) whose timers run
	// on the hub's clock, which Pump advances.
	Clock tcpip.Clock
}

// NewStack returns a stack running the given protocols on the hub's
// clock, closed when the test ends.
func (h *Hub) NewStack(t testing.TB, opts Options) *stack.Stack {
	t.Helper()
	var clock tcpip.Clock = h.Clock
	if opts.Clock != nil {
		clock = opts.Clock
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   opts.Networks,
		TransportProtocols: opts.Transports,
		Clock:              clock,
		RawFactory:         opts.RawFactory,
		HandleLocal:        opts.HandleLocal,
	})
	t.Cleanup(s.Close)
	return s
}

// NICOptions describe a NIC that AddNIC creates.
type NICOptions struct {
	// Ethernet makes the port carry Ethernet frames with link address
	// LinkAddr.
	Ethernet bool
	LinkAddr tcpip.LinkAddress
	// MTU defaults to 1500.
	MTU uint32
	// Capabilities of the port's link.
	Capabilities stack.LinkCapabilities
}

// AddNIC connects s to the hub through a new NIC id with address addr
// (the prefix is its subnet, routed on-link through the NIC) and returns
// the port.
func (h *Hub) AddNIC(t testing.TB, s *stack.Stack, id tcpip.NICID, addr netip.Prefix, o NICOptions) *Port {
	t.Helper()
	if o.MTU == 0 {
		o.MTU = 1500
	}
	p := h.NewPort(o.Ethernet, o.LinkAddr, o.MTU, o.Capabilities)
	if err := s.CreateNIC(id, p); err != nil {
		t.Fatalf("CreateNIC(%d): %v", id, err)
	}
	if err := s.AddProtocolAddress(id, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: addr}, stack.AddressProperties{}); err != nil {
		t.Fatalf("AddProtocolAddress(%d, %v): %v", id, addr, err)
	}
	if err := s.AddRoute(tcpip.Route{Destination: addr.Masked(), NIC: id}); err != nil {
		t.Fatalf("AddRoute(%v): %v", addr.Masked(), err)
	}
	return p
}

// CheckBuffers turns buffer usage counting on and registers a cleanup,
// run after those registered later (the stacks' Close), that fails the test
// if a packet or chunk allocated during the test is still in use. Tests
// using it must not run in parallel.
func CheckBuffers(t testing.TB) {
	t.Helper()
	buffer.SetCounting(true)
	before := buffer.ReadStats()
	t.Cleanup(func() {
		after := buffer.ReadStats()
		if after.PacketsInUse != before.PacketsInUse || after.ChunksInUse != before.ChunksInUse {
			t.Errorf("buffers leaked: packets in use %d → %d, chunks in use %d → %d",
				before.PacketsInUse, after.PacketsInUse, before.ChunksInUse, after.ChunksInUse)
		}
	})
}

// IPv4UDP returns an IPv4 packet from src to dst carrying udp (a UDP
// header and payload, sent as is) with the given TTL.
func IPv4UDP(src, dst netip.Addr, ttl uint8, udp []byte) []byte {
	return IPv4Packet(src, dst, tcpip.UDPProtocolNumber, ttl, udp)
}

// IPv4Packet returns an IPv4 packet from src to dst of protocol proto
// carrying payload.
func IPv4Packet(src, dst netip.Addr, proto tcpip.TransportProtocolNumber, ttl uint8, payload []byte) []byte {
	f := header.IPv4Fields{
		TotalLength: uint16(header.IPv4MinimumSize + len(payload)),
		ID:          1,
		TTL:         ttl,
		Protocol:    proto,
		Source:      src,
		Destination: dst,
	}
	b := make([]byte, header.IPv4MinimumSize+len(payload))
	f.Encode(b)
	copy(b[header.IPv4MinimumSize:], payload)
	return b
}

// UDP returns a UDP datagram from sport to dport carrying payload, with
// its checksum computed for src and dst.
func UDP(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, header.UDPMinimumSize+len(payload))
	f := header.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(len(b))}
	f.Encode(b)
	copy(b[header.UDPMinimumSize:], payload)
	u := header.UDP(b)
	u.SetChecksum(u.CalculateChecksum(src, dst))
	return b
}

// Addresses of the stacks of a Pair.
var (
	AddrA = netip.MustParseAddr("10.0.0.1")
	AddrB = netip.MustParseAddr("10.0.0.2")
	MACA  = tcpip.LinkAddress{0x02, 0, 0, 0, 0, 0x0a}
	MACB  = tcpip.LinkAddress{0x02, 0, 0, 0, 0, 0x0b}
)

// Pair is two stacks on one hub: A (AddrA/24, MACA) and B (AddrB/24,
// MACB), each through NIC 1.
type Pair struct {
	Hub  *Hub
	A, B *stack.Stack
}

// NewPair starts the goroutine and buffer leak checks of the test and
// returns a Pair running opts, over Ethernet if eth.
func NewPair(t testing.TB, eth bool, opts Options) *Pair {
	t.Helper()
	leakcheck.Check(t)
	CheckBuffers(t)
	hub := NewHub(tcpip.NewManualClock())
	t.Cleanup(hub.Close)
	p := &Pair{Hub: hub, A: hub.NewStack(t, opts), B: hub.NewStack(t, opts)}
	hub.AddNIC(t, p.A, 1, netip.PrefixFrom(AddrA, 24), NICOptions{Ethernet: eth, LinkAddr: MACA})
	hub.AddNIC(t, p.B, 1, netip.PrefixFrom(AddrB, 24), NICOptions{Ethernet: eth, LinkAddr: MACB})
	return p
}
