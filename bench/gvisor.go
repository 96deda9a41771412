package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"

	"github.com/ustack-go/ustack/perf"
	"github.com/ustack-go/ustack/perf/ustackpair"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// gvisorStack is gVisor's netstack for perf.Run.
var gvisorStack = perf.Stack{Name: "gvisor", NewPair: newGvisorPair}

// gvisorQueueSize is the length of each direction's queue of frames, the
// same as ustack's pipe gets. The channel endpoint drops a frame written to
// a full queue (ErrNoBufferSpace).
const gvisorQueueSize = ustackpair.QueueSize

// gvisorPair is a perf.Pair of two gVisor stacks, each with IPv4, ARP, TCP
// and UDP at their defaults over link/ethernet over link/channel. A
// goroutine per direction reads the frames one channel endpoint queued and
// injects a copy into the other, dropping frames with the configured
// probability (seeded, a stream per direction): the link is asynchronous,
// like ustack's pipe.
type gvisorPair struct {
	a, b   *stack.Stack
	la, lb *channel.Endpoint
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ perf.Pair = (*gvisorPair)(nil)

// Link addresses of the two ends (locally administered, unicast).
const (
	macA = tcpip.LinkAddress("\x02\x00\x00\x00\x00\x0a")
	macB = tcpip.LinkAddress("\x02\x00\x00\x00\x00\x0b")
)

// ethernetHeaderLen is the length of an Ethernet II header: gVisor's
// ethernet endpoint reports its inner link's MTU less this.
const ethernetHeaderLen = 14

func newGvisorPair(cfg perf.PairConfig) (perf.Pair, error) {
	mtu := uint32(cfg.MTU)
	if mtu == 0 {
		mtu = 1500
	}
	p := &gvisorPair{
		la: channel.New(gvisorQueueSize, mtu+ethernetHeaderLen, macA),
		lb: channel.New(gvisorQueueSize, mtu+ethernetHeaderLen, macB),
	}
	var err error
	if p.a, err = newGvisorStack(p.la, perf.AddrA.As4()); err != nil {
		return nil, err
	}
	if p.b, err = newGvisorStack(p.lb, perf.AddrB.As4()); err != nil {
		p.a.Destroy()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(2)
	go p.forward(ctx, p.la, p.lb, rand.New(rand.NewPCG(cfg.Seed, 0x6162)), cfg.Loss) // A→B
	go p.forward(ctx, p.lb, p.la, rand.New(rand.NewPCG(cfg.Seed, 0x6261)), cfg.Loss) // B→A
	return p, nil
}

// forward moves the frames from's stack wrote to to's stack, until ctx
// ends.
func (p *gvisorPair) forward(ctx context.Context, from, to *channel.Endpoint, rng *rand.Rand, loss float64) {
	defer p.wg.Done()
	for {
		pkt := from.ReadContext(ctx)
		if pkt == nil {
			return
		}
		if loss > 0 && rng.Float64() < loss {
			pkt.DecRef()
			continue
		}
		// The frame as the receiver sees it: a new packet over a copy
		// of the buffer (its chunks are shared, copy-on-write).
		in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: pkt.ToBuffer()})
		pkt.DecRef()
		to.InjectInbound(0, in)
		in.DecRef()
	}
}

func newGvisorStack(link *channel.Endpoint, addr [4]byte) (*stack.Stack, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	if err := s.CreateNIC(1, ethernet.New(link)); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("CreateNIC: %v", err)
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(addr), PrefixLen: perf.Subnet.Bits()},
	}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		s.Destroy()
		return nil, fmt.Errorf("AddProtocolAddress: %v", err)
	}
	subnet, err := tcpip.NewSubnet(tcpip.AddrFrom4(perf.Subnet.Addr().As4()), tcpip.MaskFromBytes([]byte{255, 255, 255, 0}))
	if err != nil {
		s.Destroy()
		return nil, err
	}
	s.SetRouteTable([]tcpip.Route{{Destination: subnet, NIC: 1}})
	return s, nil
}

func fullAddr(addr [4]byte, port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(addr), Port: port}
}

// ListenTCP implements perf.Pair.
func (p *gvisorPair) ListenTCP(port uint16) (net.Listener, error) {
	return gonet.ListenTCP(p.b, fullAddr(perf.AddrB.As4(), port), ipv4.ProtocolNumber)
}

// DialTCP implements perf.Pair.
func (p *gvisorPair) DialTCP(ctx context.Context, port uint16) (net.Conn, error) {
	return gonet.DialContextTCP(ctx, p.a, fullAddr(perf.AddrB.As4(), port), ipv4.ProtocolNumber)
}

// ListenUDP implements perf.Pair.
func (p *gvisorPair) ListenUDP(port uint16) (net.PacketConn, error) {
	la := fullAddr(perf.AddrB.As4(), port)
	return gonet.DialUDP(p.b, &la, nil, ipv4.ProtocolNumber)
}

// DialUDP implements perf.Pair.
func (p *gvisorPair) DialUDP(port uint16) (net.Conn, error) {
	ra := fullAddr(perf.AddrB.As4(), port)
	return gonet.DialUDP(p.a, nil, &ra, ipv4.ProtocolNumber)
}

// Counters implements perf.Pair.
func (p *gvisorPair) Counters() perf.Counters {
	var c perf.Counters
	for _, s := range []*stack.Stack{p.a, p.b} {
		st := s.Stats().TCP
		c.Retransmits += st.Retransmits.Value()
		c.RTOs += st.Timeouts.Value()
	}
	return c
}

// Close implements perf.Pair.
func (p *gvisorPair) Close() error {
	p.a.Close()
	p.b.Close()
	p.cancel()
	p.wg.Wait()
	p.a.Wait()
	p.b.Wait()
	p.la.Close()
	p.lb.Close()
	return nil
}
