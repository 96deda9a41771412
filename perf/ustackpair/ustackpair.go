// Package ustackpair implements perf.Pair on ustack: two stacks in one
// process, each with IPv4, ARP, TCP and UDP at their defaults, joined by a
// pipe of Ethernet frames (link/pipe under link/ethernet), whose ends queue
// what is written to them and deliver it from goroutines of their own. The
// lossy workload's loss comes from link/impair on A's end of the pipe,
// dropping frames in both directions, each with its own seeded stream. The
// applications use gonet's adapters.
package ustackpair

import (
	"context"
	"net"
	"net/netip"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/impair"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/perf"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
	"github.com/ustack-go/ustack/transport/udp"
)

// Stack is ustack for perf.Run.
var Stack = perf.Stack{Name: "ustack", NewPair: New}

// QueueSize is the length of each direction's queue of the pipe, in
// frames. The bench module gives the other stacks' links the same. With
// the pipe's default of 256, a bulk transfer overran the queue (TCP's
// window is larger) and each refused segment was retransmitted.
const QueueSize = 4096

// Pair is a perf.Pair of two ustack stacks.
type Pair struct {
	a, b *stack.Stack
}

var (
	_ perf.Pair     = (*Pair)(nil)
	_ perf.Releaser = (*Pair)(nil)
)

// Options are settings of a Pair beyond perf.PairConfig, to measure what
// an offload brings: the zero value is ustack's defaults (Stack).
type Options struct {
	NoGRO             bool // stack.Options.NoGRO on both stacks
	NoChecksumOffload bool // pipe.Config.NoChecksumOffload
}

// StackWith returns ustack built with o, named name, for perf.Run.
func StackWith(name string, o Options) perf.Stack {
	return perf.Stack{Name: name, NewPair: func(cfg perf.PairConfig) (perf.Pair, error) { return newPair(cfg, o) }}
}

// New returns a Pair configured by cfg.
func New(cfg perf.PairConfig) (perf.Pair, error) { return newPair(cfg, Options{}) }

func newPair(cfg perf.PairConfig, o Options) (perf.Pair, error) {
	mtu := uint32(cfg.MTU)
	if cfg.MTU <= 0 {
		mtu = 1500
	}
	la, lb := pipe.New(pipe.Config{MTU: mtu, QueueSize: QueueSize, NoChecksumOffload: o.NoChecksumOffload})
	var linkA stack.LinkEndpoint = la
	if cfg.Loss > 0 {
		// Independent, seeded loss in each direction.
		d := impair.Direction{Loss: cfg.Loss}
		linkA = impair.New(la, impair.Config{Seed: cfg.Seed, Tx: d, Rx: d}, tcpip.NewStdClock())
	}
	p := &Pair{}
	var err error
	if p.a, err = newStack(linkA, perf.AddrA, o); err != nil {
		lb.Close()
		return nil, err
	}
	if p.b, err = newStack(lb, perf.AddrB, o); err != nil {
		p.a.Close()
		return nil, err
	}
	return p, nil
}

func newStack(link stack.LinkEndpoint, addr netip.Addr, o Options) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NoGRO:              o.NoGRO,
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	if err := s.CreateNIC(1, ethernet.New(link)); err != nil {
		s.Close()
		link.Close()
		return nil, err
	}
	pa := tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: netip.PrefixFrom(addr, perf.Subnet.Bits())}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.AddRoute(tcpip.Route{Destination: perf.Subnet, NIC: 1}); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ListenTCP implements perf.Pair.
func (p *Pair) ListenTCP(port uint16) (net.Listener, error) {
	return gonet.ListenTCP(p.b, netip.AddrPortFrom(perf.AddrB, port), tcpip.IPv4ProtocolNumber)
}

// DialTCP implements perf.Pair.
func (p *Pair) DialTCP(ctx context.Context, port uint16) (net.Conn, error) {
	return gonet.DialContextTCP(ctx, p.a, netip.AddrPort{}, netip.AddrPortFrom(perf.AddrB, port), tcpip.IPv4ProtocolNumber)
}

// ListenUDP implements perf.Pair.
func (p *Pair) ListenUDP(port uint16) (net.PacketConn, error) {
	return gonet.ListenUDP(p.b, netip.AddrPortFrom(perf.AddrB, port), tcpip.IPv4ProtocolNumber)
}

// DialUDP implements perf.Pair.
func (p *Pair) DialUDP(port uint16) (net.Conn, error) {
	return gonet.DialUDP(p.a, netip.AddrPort{}, netip.AddrPortFrom(perf.AddrB, port), tcpip.IPv4ProtocolNumber)
}

// Counters implements perf.Pair.
func (p *Pair) Counters() perf.Counters {
	var c perf.Counters
	for _, s := range []*stack.Stack{p.a, p.b} {
		st := &s.Stats().TCP
		c.Retransmits += st.Retransmits.Load()
		c.RTOs += st.Timeouts.Load()
	}
	return c
}

// ReleaseFreeMemory implements perf.Releaser: it empties the buffer
// package's reserves (buffer.ReleaseReserves).
func (p *Pair) ReleaseFreeMemory() { buffer.ReleaseReserves() }

// Close implements perf.Pair: it closes both stacks, and with them their
// NICs and the pipe.
func (p *Pair) Close() error {
	p.a.Close()
	p.b.Close()
	p.a.Wait()
	p.b.Wait()
	return nil
}
