package ipv4_test

import (
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

func TestMain(m *testing.M) {
	buffer.SetCounting(true)
	os.Exit(m.Run())
}

const ipv4Proto = tcpip.IPv4ProtocolNumber

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mac(last byte) tcpip.LinkAddress { return tcpip.LinkAddress{0x02, 0, 0, 0, 0, last} }

// testNet is a set of stacks on in-memory Ethernet hubs sharing one manual
// clock. Its cleanup closes the stacks and checks that they left no timer
// and no buffer behind.
type testNet struct {
	t      *testing.T
	clock  *tcpip.ManualClock
	hubs   []*testlink.Hub
	stacks []*stack.Stack
}

func newNet(t *testing.T) *testNet {
	t.Helper()
	leakcheck.Check(t)
	before := buffer.ReadStats()
	n := &testNet{t: t, clock: tcpip.NewManualClock()}
	t.Cleanup(func() {
		for _, s := range n.stacks {
			s.Close()
			s.Wait()
		}
		if p := n.clock.Pending(); p != 0 {
			t.Errorf("%d timers pending after Close", p)
		}
		after := buffer.ReadStats()
		if after.PacketsInUse != before.PacketsInUse || after.ChunksInUse != before.ChunksInUse {
			t.Errorf("buffers leaked: packets %d -> %d, chunks %d -> %d",
				before.PacketsInUse, after.PacketsInUse, before.ChunksInUse, after.ChunksInUse)
		}
	})
	return n
}

func (n *testNet) hub() *testlink.Hub {
	h := testlink.NewHub()
	n.hubs = append(n.hubs, h)
	return h
}

// stackOpts configure newStack.
type stackOpts struct {
	transports  []stack.TransportProtocolFactory
	handleLocal bool
}

func (n *testNet) newStack(o stackOpts) *stack.Stack {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: o.transports,
		Clock:              n.clock,
		HandleLocal:        o.handleLocal,
	})
	n.stacks = append(n.stacks, s)
	return s
}

// addNIC adds NIC id on hub h with link address m, MTU mtu and the address
// a (with prefix), and a route to a's subnet.
func (n *testNet) addNIC(s *stack.Stack, id tcpip.NICID, h *testlink.Hub, m tcpip.LinkAddress, mtu uint32, a string) *testlink.Port {
	n.t.Helper()
	port := h.NewPort(m, mtu)
	if err := s.CreateNIC(id, port.Link()); err != nil {
		n.t.Fatalf("CreateNIC: %v", err)
	}
	if a != "" {
		p := netip.MustParsePrefix(a)
		if err := s.AddProtocolAddress(id, tcpip.ProtocolAddress{Protocol: ipv4Proto, Address: p}, stack.AddressProperties{}); err != nil {
			n.t.Fatalf("AddProtocolAddress: %v", err)
		}
		if err := s.AddRoute(tcpip.Route{Destination: p.Masked(), NIC: id}); err != nil {
			n.t.Fatalf("AddRoute: %v", err)
		}
	}
	return port
}

// run delivers everything in flight and runs due timers.
func (n *testNet) run() { testlink.Run(n.clock, n.hubs...) }

// advance moves the clock, delivering packets at every step.
func (n *testNet) advance(d time.Duration) {
	n.run()
	deadline := n.clock.NowMonotonic().Add(d)
	for {
		next, ok := n.clock.NextDeadline()
		if !ok || next.After(deadline) {
			break
		}
		n.clock.AdvanceTo(next)
		n.run()
	}
	n.clock.AdvanceTo(deadline)
	n.run()
}

// send sends payload (transport header included) from s to dst with the
// given protocol through the route table.
func send(t *testing.T, s *stack.Stack, dst netip.Addr, params stack.NetworkHeaderParams, payload []byte) error {
	t.Helper()
	nic := tcpip.NICID(0)
	if dst.IsMulticast() || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		nic = 1 // these need no route when the NIC is named
	}
	r, err := s.FindRoute(nic, netip.Addr{}, dst, ipv4Proto, false)
	if err != nil {
		t.Fatalf("FindRoute(%s): %v", dst, err)
	}
	pkt := buffer.NewPacketFromBytes(r.MaxHeaderLength(), payload)
	return r.WritePacket(params, pkt)
}

// echoRequest returns an ICMP echo request message.
func echoRequest(ident, seq uint16, data []byte) []byte {
	return icmpMessage(header.ICMPv4Fields{Type: header.ICMPv4Echo, Ident: ident, Sequence: seq}, data)
}

func icmpMessage(f header.ICMPv4Fields, body []byte) []byte {
	b := make([]byte, header.ICMPv4MinimumSize+len(body))
	m := f.Encode(b)
	copy(b[header.ICMPv4MinimumSize:], body)
	m.SetChecksum(m.CalculateChecksum())
	return b
}

// udpish returns a minimal transport message carrying ports, for the fake
// transport.
func udpish(src, dst uint16, data []byte) []byte {
	b := make([]byte, 8+len(data))
	b[0], b[1], b[2], b[3] = byte(src>>8), byte(src), byte(dst>>8), byte(dst)
	b[4], b[5] = byte(len(b)>>8), byte(len(b))
	copy(b[8:], data)
	return b
}

// frame builds an Ethernet frame carrying an IPv4 datagram; a zero
// TotalLength is computed and the checksum is set.
func frame(dst, src tcpip.LinkAddress, f header.IPv4Fields, payload []byte) []byte {
	b := make([]byte, header.EthernetMinimumSize+f.Size()+len(payload))
	(&header.EthernetFields{Destination: dst, Source: src, Type: ipv4Proto}).Encode(b)
	if f.TotalLength == 0 {
		f.TotalLength = uint16(f.Size() + len(payload))
	}
	if f.TTL == 0 {
		f.TTL = 64
	}
	f.Encode(b[header.EthernetMinimumSize:])
	copy(b[header.EthernetMinimumSize+f.Size():], payload)
	return b
}

// seenIPv4 returns the IPv4 datagrams among frames, parsed.
func seenIPv4(frames []testlink.Frame) []header.IPv4 {
	var out []header.IPv4
	for _, f := range frames {
		eth, err := header.ParseEthernet(f.Bytes)
		if err != nil || eth.Type() != ipv4Proto {
			continue
		}
		ip, err := header.ParseIPv4(eth.Payload())
		if err != nil {
			continue
		}
		out = append(out, ip)
	}
	return out
}

// icmpOf returns the ICMP messages among datagrams.
func icmpOf(ips []header.IPv4) []header.ICMPv4 {
	var out []header.ICMPv4
	for _, ip := range ips {
		if ip.Protocol() != tcpip.ICMPv4ProtocolNumber || !ip.IsFirstFragment() {
			continue
		}
		if m, err := header.ParseICMPv4(ip.Payload()); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// delivered is a packet a fake transport received.
type delivered struct {
	info    stack.NetworkPacketInfo
	netHdr  []byte
	payload []byte
}

// fakeTransport is a transport protocol that records every packet it is
// given and answers with a fixed disposition.
type fakeTransport struct {
	num tcpip.TransportProtocolNumber

	mu   sync.Mutex
	disp stack.TransportPacketDisposition
	got  []delivered
}

func newFakeTransport(num tcpip.TransportProtocolNumber, disp stack.TransportPacketDisposition) (*fakeTransport, stack.TransportProtocolFactory) {
	ft := &fakeTransport{num: num, disp: disp}
	return ft, func(*stack.Stack) stack.TransportProtocol { return ft }
}

func (f *fakeTransport) Number() tcpip.TransportProtocolNumber { return f.num }
func (f *fakeTransport) NewEndpoint(tcpip.NetworkProtocolNumber) (tcpip.Endpoint, error) {
	return nil, tcpip.ErrNotSupported
}
func (f *fakeTransport) MinimumPacketSize() int { return 4 }
func (f *fakeTransport) ParsePorts(hdr []byte) (uint16, uint16, error) {
	if len(hdr) < 4 {
		return 0, 0, tcpip.ErrMalformed
	}
	if f.num == tcpip.ICMPv4ProtocolNumber {
		return 0, 0, nil
	}
	return uint16(hdr[0])<<8 | uint16(hdr[1]), uint16(hdr[2])<<8 | uint16(hdr[3]), nil
}
func (f *fakeTransport) HandleUnknownDestinationPacket(_ stack.TransportEndpointID, info stack.NetworkPacketInfo, pkt *buffer.Packet) stack.TransportPacketDisposition {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, delivered{info: info, netHdr: slices.Clone(pkt.NetworkHeader()), payload: pkt.Payload.Flatten()})
	if f.disp == stack.TransportPacketHandled {
		pkt.Release()
	}
	return f.disp
}
func (f *fakeTransport) SetOption(any) error { return tcpip.ErrUnknownProtocolOption }
func (f *fakeTransport) Option(any) error    { return tcpip.ErrUnknownProtocolOption }
func (f *fakeTransport) Close()              {}

func (f *fakeTransport) take() []delivered {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.got
	f.got = nil
	return g
}

// fakeEndpoint is a transport endpoint that records the errors it is told
// of.
type fakeEndpoint struct {
	mu    sync.Mutex
	errs  []stack.TransportError
	origs [][]byte // quoted network header and what follows
}

func (e *fakeEndpoint) UniqueID() uint64 { return 1 }
func (e *fakeEndpoint) HandlePacket(_ stack.TransportEndpointID, _ stack.NetworkPacketInfo, pkt *buffer.Packet) {
	pkt.Release()
}
func (e *fakeEndpoint) HandleError(terr stack.TransportError, orig *buffer.Packet) {
	e.mu.Lock()
	e.errs = append(e.errs, terr)
	e.origs = append(e.origs, append(slices.Clone(orig.NetworkHeader()), orig.Payload.Flatten()...))
	e.mu.Unlock()
	orig.Release()
}
func (e *fakeEndpoint) Abort() {}

func (e *fakeEndpoint) takeErrs() []stack.TransportError {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.errs
	e.errs = nil
	return g
}

// register registers a fake endpoint for the 4-tuple on s.
func register(t *testing.T, s *stack.Stack, proto tcpip.TransportProtocolNumber, local netip.Addr, lport uint16, remote netip.Addr, rport uint16) *fakeEndpoint {
	t.Helper()
	ep := &fakeEndpoint{}
	id := stack.TransportEndpointID{LocalPort: lport, LocalAddress: local, RemotePort: rport, RemoteAddress: remote}
	if err := s.RegisterTransportEndpoint([]tcpip.NetworkProtocolNumber{ipv4Proto}, proto, id, ep, stack.PortFlags{}, 0); err != nil {
		t.Fatalf("RegisterTransportEndpoint: %v", err)
	}
	t.Cleanup(func() {
		s.UnregisterTransportEndpoint([]tcpip.NetworkProtocolNumber{ipv4Proto}, proto, id, ep, stack.PortFlags{}, 0)
	})
	return ep
}

// counter returns the value of a counter of s's stats by name.
func counter(t *testing.T, s *stack.Stack, name string) uint64 {
	t.Helper()
	v, ok := s.Stats().Snapshot().Get(name)
	if !ok {
		t.Fatalf("no counter %q", name)
	}
	return v
}

// wantCounter checks a counter's value.
func wantCounter(t *testing.T, s *stack.Stack, name string, want uint64) {
	t.Helper()
	if got := counter(t, s, name); got != want {
		t.Errorf("%s = %d, want %d", name, got, want)
	}
}

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

var netipZero netip.Addr
