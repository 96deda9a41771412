package ipv6_test

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
	"github.com/ustack-go/ustack/network/internal/testlink"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

func TestMain(m *testing.M) {
	buffer.SetCounting(true)
	os.Exit(m.Run())
}

const ipv6Proto = tcpip.IPv6ProtocolNumber

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mac(last byte) tcpip.LinkAddress { return tcpip.LinkAddress{0x02, 0, 0, 0, 0, last} }

// linkLocal returns the EUI-64 link-local address of mac(last).
func linkLocal(last byte) netip.Addr { return header.LinkLocalAddrFromMAC(mac(last)) }

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
	// noLinkLocal turns off link-local address generation.
	noLinkLocal bool
	raw         stack.RawFactory
	// ndp, ndpDisp and opaque are the NDP options of the stack.
	ndp     stack.NDPConfigurations
	ndpDisp stack.NDPDispatcher
	opaque  stack.OpaqueInterfaceIdentifierOptions
}

func (n *testNet) newStack(o stackOpts) *stack.Stack {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv6.NewProtocol},
		TransportProtocols: o.transports,
		Clock:              n.clock,
		HandleLocal:        o.handleLocal,
		RawFactory:         o.raw,
		NDPConfigs:         o.ndp,
		NDPDisp:            o.ndpDisp,
		OpaqueIIDOpts:      o.opaque,
	})
	if o.noLinkLocal {
		if err := s.SetNetworkProtocolOption(ipv6Proto, ipv6.AutoGenLinkLocalOption(false)); err != nil {
			n.t.Fatal(err)
		}
	}
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
		if err := s.AddProtocolAddress(id, tcpip.ProtocolAddress{Protocol: ipv6Proto, Address: p}, stack.AddressProperties{}); err != nil {
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
// given protocol through the route table (naming NIC 1 for multicast and
// link-local destinations).
func send(t *testing.T, s *stack.Stack, dst netip.Addr, params stack.NetworkHeaderParams, payload []byte) error {
	t.Helper()
	nic := tcpip.NICID(0)
	if dst.IsMulticast() || dst.IsLinkLocalUnicast() {
		nic = 1
	}
	r, err := s.FindRoute(nic, netip.Addr{}, dst, ipv6Proto, false)
	if err != nil {
		t.Fatalf("FindRoute(%s): %v", dst, err)
	}
	pkt := buffer.NewPacketFromBytes(r.MaxHeaderLength(), payload)
	return r.WritePacket(params, pkt)
}

// icmpMessage returns an ICMPv6 message from src to dst with its checksum.
func icmpMessage(src, dst netip.Addr, f header.ICMPv6Fields, body []byte) []byte {
	b := make([]byte, header.ICMPv6MinimumSize+len(body))
	m := f.Encode(b)
	copy(b[header.ICMPv6MinimumSize:], body)
	m.SetChecksum(m.CalculateChecksum(src, dst))
	return b
}

// echoRequest returns an ICMPv6 echo request from src to dst.
func echoRequest(src, dst netip.Addr, ident, seq uint16, data []byte) []byte {
	return icmpMessage(src, dst, header.ICMPv6Fields{Type: header.ICMPv6EchoRequest, Ident: ident, Sequence: seq}, data)
}

// ndpMessage returns an NDP message of type typ from src to dst: body is
// the message body after type, code and checksum.
func ndpMessage(src, dst netip.Addr, typ header.ICMPv6Type, code header.ICMPv6Code, body []byte) []byte {
	b := make([]byte, header.ICMPv6HeaderSize+len(body))
	(&header.ICMPv6Fields{Type: typ, Code: code}).Encode(b[:header.ICMPv6MinimumSize:header.ICMPv6MinimumSize])
	copy(b[header.ICMPv6HeaderSize:], body)
	m := header.ICMPv6(b)
	m.SetChecksum(m.CalculateChecksum(src, dst))
	return b
}

// nsBody returns a Neighbor Solicitation body for target with an optional
// source link-layer address option.
func nsBody(target netip.Addr, sll tcpip.LinkAddress) []byte {
	n := header.NDPNeighborSolicitMinimumSize
	if !sll.IsZero() {
		n += header.NDPLinkLayerAddressOptionSize
	}
	b := make([]byte, n)
	(&header.NDPNeighborSolicitFields{TargetAddress: target}).Encode(b)
	if !sll.IsZero() {
		(&header.NDPLinkLayerAddressFields{Type: header.NDPOptionSourceLinkLayerAddress, Address: sll}).Encode(b[header.NDPNeighborSolicitMinimumSize:])
	}
	return b
}

// naBody returns a Neighbor Advertisement body with an optional target
// link-layer address option.
func naBody(f header.NDPNeighborAdvertFields, tll tcpip.LinkAddress) []byte {
	n := header.NDPNeighborAdvertMinimumSize
	if !tll.IsZero() {
		n += header.NDPLinkLayerAddressOptionSize
	}
	b := make([]byte, n)
	f.Encode(b)
	if !tll.IsZero() {
		(&header.NDPLinkLayerAddressFields{Type: header.NDPOptionTargetLinkLayerAddress, Address: tll}).Encode(b[header.NDPNeighborAdvertMinimumSize:])
	}
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

// pattern returns n bytes of a recognisable pattern.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// ip6 builds an IPv6 packet: the fixed header, then exts (extension
// headers, already encoded), then payload. A zero PayloadLength is
// computed and a zero HopLimit becomes 64.
func ip6(f header.IPv6Fields, exts []byte, payload []byte) []byte {
	b := make([]byte, header.IPv6MinimumSize+len(exts)+len(payload))
	if f.PayloadLength == 0 {
		f.PayloadLength = uint16(len(exts) + len(payload))
	}
	if f.HopLimit == 0 {
		f.HopLimit = 64
	}
	f.Encode(b)
	copy(b[header.IPv6MinimumSize:], exts)
	copy(b[header.IPv6MinimumSize+len(exts):], payload)
	return b
}

// frame builds an Ethernet frame carrying an IPv6 packet.
func frame(dst, src tcpip.LinkAddress, packet []byte) []byte {
	b := make([]byte, header.EthernetMinimumSize+len(packet))
	(&header.EthernetFields{Destination: dst, Source: src, Type: ipv6Proto}).Encode(b)
	copy(b[header.EthernetMinimumSize:], packet)
	return b
}

// ext encodes an extension header of type-independent format: next
// header, length in 8-octet units beyond the first 8, then data padded to
// a multiple of 8 (data starts at byte 2).
func ext(next tcpip.TransportProtocolNumber, data []byte) []byte {
	n := (2 + len(data) + 7) &^ 7
	b := make([]byte, n)
	b[0] = byte(next)
	b[1] = byte(n/8 - 1)
	copy(b[2:], data)
	return b
}

// fragHdr encodes a Fragment header.
func fragHdr(next tcpip.TransportProtocolNumber, off int, more bool, id uint32) []byte {
	b := make([]byte, header.IPv6FragmentHeaderSize)
	(&header.IPv6FragmentHeaderFields{NextHeader: next, FragmentOffset: uint16(off), More: more, ID: id}).Encode(b)
	return b
}

// seenIPv6 returns the IPv6 packets among frames, parsed.
func seenIPv6(frames []testlink.Frame) []header.IPv6 {
	var out []header.IPv6
	for _, f := range frames {
		eth, err := header.ParseEthernet(f.Bytes)
		if err != nil || eth.Type() != ipv6Proto {
			continue
		}
		ip, err := header.ParseIPv6(eth.Payload())
		if err != nil {
			continue
		}
		out = append(out, ip)
	}
	return out
}

// icmpOf returns the ICMPv6 messages among packets (without extension
// headers), with their packets.
func icmpOf(ips []header.IPv6) ([]header.ICMPv6, []header.IPv6) {
	var out []header.ICMPv6
	var pkts []header.IPv6
	for _, ip := range ips {
		if ip.NextHeader() != tcpip.ICMPv6ProtocolNumber {
			continue
		}
		if m, err := header.ParseICMPv6(ip.Payload()); err == nil {
			out = append(out, m)
			pkts = append(pkts, ip)
		}
	}
	return out, pkts
}

// icmpOfType returns the messages of type typ among frames.
func icmpOfType(frames []testlink.Frame, typ header.ICMPv6Type) ([]header.ICMPv6, []header.IPv6) {
	ms, ps := icmpOf(seenIPv6(frames))
	var out []header.ICMPv6
	var pkts []header.IPv6
	for i, m := range ms {
		if m.Type() == typ {
			out = append(out, m)
			pkts = append(pkts, ps[i])
		}
	}
	return out, pkts
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
	if f.num == tcpip.ICMPv6ProtocolNumber {
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
	if err := s.RegisterTransportEndpoint([]tcpip.NetworkProtocolNumber{ipv6Proto}, proto, id, ep, stack.PortFlags{}, 0); err != nil {
		t.Fatalf("RegisterTransportEndpoint: %v", err)
	}
	t.Cleanup(func() {
		s.UnregisterTransportEndpoint([]tcpip.NetworkProtocolNumber{ipv6Proto}, proto, id, ep, stack.PortFlags{}, 0)
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

// host builds one stack B (2001:db8::2/64 on NIC 1, MAC 2) on a hub with a
// fake UDP transport with disposition disp, and a static neighbour entry
// for the test's station 2001:db8::9 / fe80::…9 at MAC 9, so that frames
// can be injected from it with Hub.Send and answers go back without NDP.
func host(t *testing.T, disp stack.TransportPacketDisposition) (*testNet, *testlink.Hub, *stack.Stack, *fakeTransport) {
	n := newNet(t)
	h := n.hub()
	ft, f := newFakeTransport(tcpip.UDPProtocolNumber, disp)
	b := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{f}})
	n.addNIC(b, 1, h, mac(2), 1500, "2001:db8::2/64")
	b.AddLinkAddress(1, addr("2001:db8::9"), mac(9))
	b.AddLinkAddress(1, linkLocal(9), mac(9))
	n.run()
	h.Frames()
	return n, h, b, ft
}

// stationSrc and hostDst are the test station's and B's addresses.
var (
	stationSrc = addr("2001:db8::9")
	hostDst    = addr("2001:db8::2")
)

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

var netipZero netip.Addr
