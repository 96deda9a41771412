package linkutil

import (
	"sync"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// DispatchGate holds the dispatcher a link delivers inbound packets to and
// implements the promise of stack.LinkEndpoint.Attach: once Attach returns,
// the dispatcher it replaced receives no packet, and no delivery to it is
// in progress. A link calls Begin before a delivery (or a batch of them)
// and End after; Attach waits for the deliveries that began before it.
//
// Deliveries may run concurrently on any number of goroutines, and a
// delivery may itself deliver again through the same gate (a dispatcher
// that injects a reply): no lock is held while the dispatcher runs. Attach
// must not be called from inside a delivery through the same gate, which
// would wait for itself.
//
// The zero DispatchGate is detached and ready to use. It must not be
// copied after first use.
type DispatchGate struct {
	attachMu sync.Mutex // serialises Attach; taken before mu

	mu   sync.Mutex
	idle sync.Cond // signalled when prev drops to zero; L is &mu
	// Guarded by mu.
	d    stack.NetworkDispatcher
	gen  uint64 // incremented by each Attach
	cur  int    // deliveries in progress that began in generation gen
	prev int    // deliveries in progress that began in an earlier generation
}

// GateTicket identifies a delivery begun by DispatchGate.Begin; pass it to
// End.
type GateTicket struct{ gen uint64 }

// Attach makes d the dispatcher (nil detaches) and returns once every
// delivery that began before the call has ended.
func (g *DispatchGate) Attach(d stack.NetworkDispatcher) {
	g.attachMu.Lock()
	defer g.attachMu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.idle.L == nil {
		g.idle.L = &g.mu
	}
	g.d = d
	g.gen++
	// attachMu guarantees the previous Attach saw prev reach zero.
	g.prev = g.cur
	g.cur = 0
	for g.prev > 0 {
		g.idle.Wait()
	}
}

// Attached reports whether a dispatcher is attached now.
func (g *DispatchGate) Attached() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.d != nil
}

// Begin returns the attached dispatcher, or nil if there is none, and a
// ticket. If the dispatcher is not nil, the caller may deliver to it and
// must then call End with the ticket; Attach waits for that End.
func (g *DispatchGate) Begin() (stack.NetworkDispatcher, GateTicket) {
	g.mu.Lock()
	d, gen := g.d, g.gen
	if d != nil {
		g.cur++
	}
	g.mu.Unlock()
	return d, GateTicket{gen}
}

// End ends a delivery begun by a Begin that returned a dispatcher.
func (g *DispatchGate) End(t GateTicket) {
	g.mu.Lock()
	if t.gen == g.gen {
		g.cur--
	} else if g.prev--; g.prev == 0 {
		g.idle.Broadcast()
	}
	g.mu.Unlock()
}

// Deliver hands pkt to the attached dispatcher and reports true, or, with
// no dispatcher attached, releases pkt and reports false. Either way it
// takes ownership of pkt.
func (g *DispatchGate) Deliver(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) bool {
	d, t := g.Begin()
	if d == nil {
		pkt.Release()
		return false
	}
	d.DeliverNetworkPacket(proto, pkt)
	g.End(t)
	return true
}

// DeliverBatch is Deliver of each packet of pkts in order, each with its
// protocol in pkt.NetworkProtocol, handed over in one
// DeliverNetworkPackets call when the dispatcher is a
// stack.BatchDispatcher. It reports whether a dispatcher was attached;
// either way it takes ownership of the packets, and may reuse pkts'
// storage.
func (g *DispatchGate) DeliverBatch(pkts []*buffer.Packet) bool {
	d, t := g.Begin()
	if d == nil {
		for _, p := range pkts {
			p.Release()
		}
		return false
	}
	if bd, ok := d.(stack.BatchDispatcher); ok {
		bd.DeliverNetworkPackets(pkts)
	} else {
		for _, p := range pkts {
			d.DeliverNetworkPacket(p.NetworkProtocol, p)
		}
	}
	g.End(t)
	return true
}
