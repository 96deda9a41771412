// Package testlink is an in-memory Ethernet segment for the network
// protocols' tests: a Hub joins Ports (link/channel endpoints wrapped by
// link/ethernet, so that NICs have link addresses and ARP runs), collects
// every frame written and delivers it to the other ports only when the
// test calls Pump. Nothing is delivered from inside a write, and nothing
// runs on a goroutine of its own (unlike link/pipe): a test drives the
// network step by step, with a tcpip.ManualClock for the timers.
package testlink

import (
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/link/channel"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// maxPumpRounds bounds Pump, against two stacks answering each other
// forever.
const maxPumpRounds = 1000

// Frame is a frame seen on a hub.
type Frame struct {
	// From is the port that wrote it, nil for frames injected with Send.
	From *Port
	// Bytes is the whole frame, Ethernet header first, padded to the
	// Ethernet minimum.
	Bytes []byte
}

// Hub is a broadcast segment: every frame written by a port, or injected
// with Send, reaches every other port (which filter by destination as an
// Ethernet NIC does, leaving the rest to promiscuous mode).
type Hub struct {
	mu     sync.Mutex
	ports  []*Port // guarded by mu
	queue  []Frame // guarded by mu: frames not yet delivered
	seen   []Frame // guarded by mu: every frame, for the test to inspect
	filter func(Frame) bool
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{} }

// NewPort adds a port with link address mac and the given MTU.
func (h *Hub) NewPort(mac tcpip.LinkAddress, mtu uint32) *Port {
	ch := channel.New(channel.Config{MTU: mtu, LinkAddress: mac, QueueSize: portQueueSize})
	p := &Port{hub: h, ch: ch, eth: ethernet.New(ch)}
	h.mu.Lock()
	h.ports = append(h.ports, p)
	h.mu.Unlock()
	return p
}

// SetFilter makes the hub drop the frames for which keep returns false
// (they are still recorded by Frames). nil keeps everything.
func (h *Hub) SetFilter(keep func(Frame) bool) {
	h.mu.Lock()
	h.filter = keep
	h.mu.Unlock()
}

// Send injects a frame from a station that is not a port.
func (h *Hub) Send(b []byte) {
	h.enqueue(Frame{Bytes: append([]byte(nil), b...)})
}

func (h *Hub) enqueue(f Frame) {
	h.mu.Lock()
	h.seen = append(h.seen, f)
	if h.filter == nil || h.filter(f) {
		h.queue = append(h.queue, f)
	}
	h.mu.Unlock()
}

// Frames returns the frames seen since the last call, and forgets them.
// Frames the ports wrote since the last Pump are collected first.
func (h *Hub) Frames() []Frame {
	h.collect()
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.seen
	h.seen = nil
	return s
}

// collect moves what every port wrote onto the hub.
func (h *Hub) collect() {
	h.mu.Lock()
	ports := append([]*Port(nil), h.ports...)
	h.mu.Unlock()
	for _, p := range ports {
		p.collect()
	}
}

// Pending returns the number of frames waiting for Pump.
func (h *Hub) Pending() int {
	h.collect()
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.queue)
}

// Pump delivers queued frames, and the frames their delivery causes, until
// none is left, and returns how many deliveries it made.
func (h *Hub) Pump() int {
	n := 0
	for range maxPumpRounds {
		h.collect()
		h.mu.Lock()
		q := h.queue
		h.queue = nil
		ports := append([]*Port(nil), h.ports...)
		h.mu.Unlock()
		if len(q) == 0 {
			break
		}
		for _, f := range q {
			for _, p := range ports {
				if p != f.From {
					p.deliver(f.Bytes)
					n++
				}
			}
		}
	}
	return n
}

// Run pumps every hub and runs the clock's due timers (Advance(0)) until
// nothing moves, so that packets looped back inside a stack are delivered
// too.
func Run(clock *tcpip.ManualClock, hubs ...*Hub) {
	for range maxPumpRounds {
		n := clock.Advance(0)
		for _, h := range hubs {
			n += h.Pump()
		}
		if n == 0 {
			return
		}
	}
}

// Port is a NIC's attachment to a hub: a link/channel endpoint wrapped by
// link/ethernet, whose frames the hub carries.
type Port struct {
	hub *Hub
	ch  *channel.Endpoint
	eth *ethernet.Endpoint
}

// portQueueSize is the outbound queue of a port: room for what a stack
// sends between two pumps (a 64 KiB datagram is 45 frames).
const portQueueSize = 4096

// Link returns the port's link endpoint, for Stack.CreateNIC.
func (p *Port) Link() stack.LinkEndpoint { return p.eth }

// collect moves the frames the port's NIC wrote onto the hub, padded to
// the Ethernet minimum as a NIC pads them.
func (p *Port) collect() {
	for {
		pkt, ok := p.ch.Read()
		if !ok {
			return
		}
		b := pkt.AppendTo(make([]byte, 0, max(pkt.Len(), header.EthernetMinimumFrameSize)))
		pkt.Release()
		for len(b) < header.EthernetMinimumFrameSize {
			b = append(b, 0)
		}
		p.hub.enqueue(Frame{From: p, Bytes: b})
	}
}

// deliver hands a frame to the port's NIC; link/ethernet parses it.
func (p *Port) deliver(b []byte) {
	p.ch.InjectInbound(0, buffer.NewPacketFromBytes(0, b))
}
