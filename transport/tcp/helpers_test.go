package tcp_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/tcp"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
	// addrPeer is the raw peer of single-stack tests.
	addrPeer = netip.MustParseAddr("10.0.0.9")
)

// dropLink wraps a hub port and drops the outbound packets drop selects,
// or delays those hold selects until after the next packet (reordering).
type dropLink struct {
	stack.LinkEndpoint
	mu   sync.Mutex
	drop func(ip []byte) bool
	hold func(ip []byte) bool
	held []*buffer.Packet
	// refuse selects packets the link refuses as a full queue does
	// (ErrWouldBlock; the link frees it and those after it, as
	// link/pipe does).
	refuse func(ip []byte) bool
}

func (l *dropLink) setRefuse(f func(ip []byte) bool) {
	l.mu.Lock()
	l.refuse = f
	l.mu.Unlock()
}

func (l *dropLink) setHold(f func(ip []byte) bool) {
	l.mu.Lock()
	l.hold = f
	held := l.held
	l.held = nil
	l.mu.Unlock()
	if len(held) > 0 {
		_, _ = l.LinkEndpoint.WritePackets(held)
	}
}

func (l *dropLink) setDrop(f func(ip []byte) bool) {
	l.mu.Lock()
	l.drop = f
	l.mu.Unlock()
}

func (l *dropLink) WritePackets(pkts []*buffer.Packet) (int, error) {
	l.mu.Lock()
	drop, hold, refuse := l.drop, l.hold, l.refuse
	l.mu.Unlock()
	if refuse != nil {
		for i, p := range pkts {
			if refuse(p.AppendTo(nil)) {
				if i > 0 {
					if _, err := l.WritePackets(pkts[:i]); err != nil {
						return 0, err
					}
				}
				for _, q := range pkts[i:] {
					q.Release()
				}
				return i, tcpip.ErrWouldBlock
			}
		}
	}
	if drop == nil && hold == nil {
		return l.LinkEndpoint.WritePackets(pkts)
	}
	keep := pkts[:0:0]
	for _, p := range pkts {
		b := p.AppendTo(nil)
		if drop != nil && drop(b) {
			p.Release()
			continue
		}
		l.mu.Lock()
		if hold != nil && len(l.held) == 0 && hold(b) {
			l.held = append(l.held, p)
			l.mu.Unlock()
			continue
		}
		keep = append(keep, p)
		keep = append(keep, l.held...)
		l.held = l.held[:0]
		l.mu.Unlock()
	}
	if len(keep) > 0 {
		if _, err := l.LinkEndpoint.WritePackets(keep); err != nil {
			return 0, err
		}
	}
	return len(pkts), nil
}

// seg is a TCP segment seen on the hub.
type seg struct {
	src, dst netip.Addr
	tos      uint8 // the IP header's TOS byte (ECN in its low bits)
	f        header.TCPFields
	opts     header.TCPOptions
	data     []byte
}

func (s seg) has(f header.TCPFlags) bool { return s.f.Flags&f != 0 }

// sniffer records every TCP segment crossing the hub.
type sniffer struct {
	mu   sync.Mutex
	segs []seg
	off  atomic.Bool // drop everything (allocation tests)
}

func (s *sniffer) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	if s.off.Load() {
		pkt.Release()
		return
	}
	b := pkt.AppendTo(nil)
	pkt.Release()
	ip, err := header.ParseIPv4(b)
	if err != nil || ip.Protocol() != tcpip.TCPProtocolNumber {
		return
	}
	t, err := header.ParseTCP(ip.Payload())
	if err != nil {
		return
	}
	f := t.Fields()
	f.Options = append([]byte(nil), f.Options...)
	o, _ := header.ParseTCPOptions(f.Options)
	s.mu.Lock()
	s.segs = append(s.segs, seg{src: ip.Source(), dst: ip.Destination(), tos: ip.TOS(), f: f, opts: o, data: append([]byte(nil), t.Payload()...)})
	s.mu.Unlock()
}

// take returns and forgets the segments recorded.
func (s *sniffer) take() []seg {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.segs
	s.segs = nil
	return r
}

// env is a hub with stack A (10.0.0.1) and, for two-stack tests, stack B
// (10.0.0.2), with a sniffer port.
type env struct {
	t     *testing.T
	hub   *testnet.Hub
	clock *tcpip.ManualClock
	a, b  *stack.Stack
	linkA *dropLink
	linkB *dropLink
	sn    *sniffer
}

func stackOpts() testnet.Options {
	return testnet.Options{
		Networks:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		Transports: []stack.TransportProtocolFactory{tcp.NewProtocol},
	}
}

func addNIC(t *testing.T, hub *testnet.Hub, s *stack.Stack, addr netip.Addr) *dropLink {
	t.Helper()
	l := &dropLink{LinkEndpoint: hub.NewPort(false, tcpip.LinkAddress{}, 1500, 0)}
	if err := s.CreateNIC(1, l); err != nil {
		t.Fatal(err)
	}
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: netip.PrefixFrom(addr, 24)}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRoute(tcpip.Route{Destination: netip.PrefixFrom(addr, 24).Masked(), NIC: 1}); err != nil {
		t.Fatal(err)
	}
	return l
}

// newEnv builds the hub, stack A and, if two, stack B. Its cleanup checks
// that no timer is left once the stacks are closed.
func newEnv(t *testing.T, two bool) *env {
	t.Helper()
	leakcheck.Check(t)
	return newEnvNoLeakCheck(t, two)
}

// newEnvNoLeakCheck is newEnv without the goroutine check, for fuzz
// iterations (the fuzz target checks once for all of them: the check's
// polling would otherwise stall the fuzzer on its own goroutines).
func newEnvNoLeakCheck(t *testing.T, two bool) *env {
	t.Helper()
	testnet.CheckBuffers(t)
	clock := tcpip.NewManualClock()
	hub := testnet.NewHub(clock)
	t.Cleanup(hub.Close)
	t.Cleanup(func() {
		if n := clock.Pending(); n != 0 {
			t.Errorf("%d timers pending after the stacks closed", n)
		}
	})
	e := &env{t: t, hub: hub, clock: clock, sn: &sniffer{}}
	e.a = hub.NewStack(t, stackOpts())
	e.linkA = addNIC(t, hub, e.a, addrA)
	if two {
		e.b = hub.NewStack(t, stackOpts())
		e.linkB = addNIC(t, hub, e.b, addrB)
	}
	hub.NewPort(false, tcpip.LinkAddress{}, 1500, 0).Attach(e.sn)
	return e
}

// pump delivers everything queued and runs what is due.
func (e *env) pump() { e.hub.Pump() }

// advance moves the clock by d, running timers and deliveries on the way
// in small steps.
func (e *env) advance(d time.Duration) {
	end := e.clock.NowMonotonic().Add(d)
	for {
		e.pump()
		next, ok := e.clock.NextDeadline()
		if !ok || next.After(end) {
			break
		}
		e.clock.AdvanceTo(next)
	}
	e.clock.AdvanceTo(end)
	e.pump()
}

func newTCP(t *testing.T, s *stack.Stack) tcpip.Endpoint {
	t.Helper()
	ep, err := s.NewEndpoint(tcp.ProtocolNumber, tcpip.IPv4ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Close)
	return ep
}

func listen(t *testing.T, s *stack.Stack, addr netip.Addr, port uint16, backlog int) tcpip.Endpoint {
	t.Helper()
	ep := newTCP(t, s)
	if err := ep.Bind(tcpip.FullAddress{Addr: addr, Port: port}); err != nil {
		t.Fatal(err)
	}
	if err := ep.Listen(backlog); err != nil {
		t.Fatal(err)
	}
	return ep
}

func accept(t *testing.T, l tcpip.Endpoint) tcpip.Endpoint {
	t.Helper()
	c, _, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// connectPair connects a client of A to a listener of B and returns the
// client, the accepted server endpoint and the listener.
func (e *env) connectPair() (cli, srv, l tcpip.Endpoint) {
	t := e.t
	t.Helper()
	l = listen(t, e.b, addrB, 80, 16)
	cli = newTCP(t, e.a)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect = %v", err)
	}
	e.pump()
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); err != nil {
		t.Fatalf("second Connect = %v", err)
	}
	srv = accept(t, l)
	return cli, srv, l
}

func info(t *testing.T, ep tcpip.Endpoint) tcp.Info {
	t.Helper()
	var in tcp.InfoOption
	if err := ep.GetSockOpt(&in); err != nil {
		t.Fatal(err)
	}
	return tcp.Info(in)
}

func wantState(t *testing.T, ep tcpip.Endpoint, want tcp.State) {
	t.Helper()
	if got := info(t, ep).State; got != want {
		t.Fatalf("state %v, want %v", got, want)
	}
}

func counter(s *stack.Stack, name string) uint64 {
	v, ok := s.Stats().Snapshot().Get(name)
	if !ok {
		panic("no counter " + name)
	}
	return v
}

// readAll reads what is queued on ep.
func readAll(t *testing.T, ep tcpip.Endpoint) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 65536)
	for {
		res, err := ep.Read(buf, tcpip.ReadOptions{})
		if err != nil {
			if errors.Is(err, tcpip.ErrWouldBlock) || errors.Is(err, tcpip.ErrClosedForReceive) {
				return out
			}
			t.Fatalf("Read: %v", err)
		}
		out = append(out, buf[:res.N]...)
	}
}

func write(t *testing.T, ep tcpip.Endpoint, p []byte) {
	t.Helper()
	n, err := ep.Write(p, tcpip.WriteOptions{})
	if err != nil || n != len(p) {
		t.Fatalf("Write = %d, %v", n, err)
	}
}

// peer is a raw TCP peer at addrPeer that crafts segments and injects
// them into the hub.
type peer struct {
	e     *env
	port  uint16
	lport uint16 // the stack's port
	iss   seqnum.Value
	nxt   seqnum.Value // next sequence number to send
	ack   seqnum.Value // what to acknowledge
}

type segOpts struct {
	flags header.TCPFlags
	seq   *seqnum.Value
	ack   *seqnum.Value
	wnd   uint16
	zero  bool // send a zero window
	opts  []byte
	data  []byte
	tos   uint8 // the IP header's TOS byte (ECN codepoint in its low bits)
}

// send injects a segment from the peer; seq and ack default to the
// peer's state, wnd to 65535.
func (p *peer) send(o segOpts) {
	seq, ack := p.nxt, p.ack
	if o.seq != nil {
		seq = *o.seq
	}
	if o.ack != nil {
		ack = *o.ack
	}
	wnd := o.wnd
	if wnd == 0 && !o.zero && o.flags&header.TCPFlagRST == 0 {
		wnd = 65535
	}
	f := header.TCPFields{SrcPort: p.port, DstPort: p.lport, SeqNum: seq, AckNum: ack, Flags: o.flags, WindowSize: wnd, Options: o.opts}
	b := make([]byte, f.Size()+len(o.data))
	f.Encode(b)
	copy(b[f.Size():], o.data)
	tt := header.TCP(b)
	tt.SetChecksum(tt.CalculateChecksum(addrPeer, addrA))
	ip := testnet.IPv4Packet(addrPeer, addrA, tcpip.TCPProtocolNumber, 64, b)
	if o.tos != 0 {
		header.IPv4(ip).SetTOS(o.tos)
	}
	p.e.hub.Send(ip)
	if o.seq == nil {
		n := seqnum.Size(len(o.data))
		if o.flags&(header.TCPFlagSYN) != 0 {
			n++
		}
		if o.flags&(header.TCPFlagFIN) != 0 {
			n++
		}
		p.nxt = p.nxt.Add(n)
	}
}

func sv(v seqnum.Value) *seqnum.Value { return &v }

// expect pumps and returns the segments the stack sent, failing unless
// there are n of them.
func (p *peer) expect(n int) []seg {
	t := p.e.t
	t.Helper()
	p.e.pump()
	segs := p.e.sn.take()
	var out []seg
	for _, s := range segs {
		if s.src == addrA {
			out = append(out, s)
		}
	}
	if len(out) != n {
		t.Fatalf("stack sent %d segments, want %d: %v", len(out), n, brief(out))
	}
	return out
}

// check asserts a segment's flags, seq, ack.
func check(t *testing.T, s seg, flags header.TCPFlags, seq, ack seqnum.Value) {
	t.Helper()
	if s.f.Flags != flags || s.f.SeqNum != seq || s.f.AckNum != ack {
		t.Fatalf("segment %v seq=%d ack=%d, want %v seq=%d ack=%d", s.f.Flags, s.f.SeqNum, s.f.AckNum, flags, seq, ack)
	}
}

// synOpts are the options the peer's SYN carries: MSS 1460, SACK
// permitted, timestamps and window scale 7, as Linux sends.
func synOpts(tsval uint32) []byte {
	ob := header.NewTCPOptionsBuilder(make([]byte, 40))
	ob.AddMSS(1460)
	ob.AddSACKPermitted()
	ob.AddTimestamps(tsval, 0)
	ob.AddWindowScale(7)
	return append([]byte(nil), ob.Bytes()...)
}

func tsOpt(val, ecr uint32) []byte {
	ob := header.NewTCPOptionsBuilder(make([]byte, 40))
	ob.AddTimestamps(val, ecr)
	return append([]byte(nil), ob.Bytes()...)
}

// brief summarises segments for failure messages.
func brief(segs []seg) string {
	var b bytes.Buffer
	for i, s := range segs {
		if i == 8 {
			fmt.Fprintf(&b, " …(%d more)", len(segs)-i)
			break
		}
		fmt.Fprintf(&b, "[%v seq=%d ack=%d wnd=%d len=%d] ", s.f.Flags, s.f.SeqNum, s.f.AckNum, s.f.WindowSize, len(s.data))
	}
	return b.String()
}
