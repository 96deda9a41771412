package udp_test

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/raw"
	"github.com/ustack-go/ustack/transport/udp"
)

var (
	addrA   = netip.MustParseAddr("10.0.0.1")
	addrB   = netip.MustParseAddr("10.0.0.2")
	bcast   = netip.MustParseAddr("255.255.255.255")
	subnetB = netip.MustParseAddr("10.0.0.255")
	group   = netip.MustParseAddr("239.1.2.3")
	macA    = tcpip.LinkAddress{0x02, 0, 0, 0, 0, 0x0a}
	macB    = tcpip.LinkAddress{0x02, 0, 0, 0, 0, 0x0b}
)

// env is two stacks, A (10.0.0.1) and B (10.0.0.2), on one segment.
type env struct {
	hub  *testnet.Hub
	a, b *stack.Stack
}

type envOptions struct {
	eth  bool
	caps stack.LinkCapabilities
}

// newEnv starts the leak checks and builds two stacks joined by a hub
// (Ethernet frames, so that ARP runs, unless o.eth is false).
func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	leakcheck.Check(t)
	testnet.CheckBuffers(t)
	hub := testnet.NewHub(tcpip.NewManualClock())
	t.Cleanup(hub.Close)
	opts := testnet.Options{
		Networks:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		Transports: []stack.TransportProtocolFactory{udp.NewProtocol, icmp.NewProtocol4},
		RawFactory: raw.Factory{},
	}
	e := &env{hub: hub, a: hub.NewStack(t, opts), b: hub.NewStack(t, opts)}
	hub.AddNIC(t, e.a, 1, netip.PrefixFrom(addrA, 24), testnet.NICOptions{Ethernet: o.eth, LinkAddr: macA, Capabilities: o.caps})
	hub.AddNIC(t, e.b, 1, netip.PrefixFrom(addrB, 24), testnet.NICOptions{Ethernet: o.eth, LinkAddr: macB, Capabilities: o.caps})
	return e
}

// newUDP returns a UDP endpoint of s over IPv4, closed when the test ends.
func newUDP(t testing.TB, s *stack.Stack) tcpip.Endpoint {
	t.Helper()
	ep, err := s.NewEndpoint(udp.ProtocolNumber, tcpip.IPv4ProtocolNumber)
	if err != nil {
		t.Fatalf("NewEndpoint: %v", err)
	}
	t.Cleanup(ep.Close)
	return ep
}

// bound returns a UDP endpoint of s bound to addr:port.
func bound(t testing.TB, s *stack.Stack, addr netip.Addr, port uint16, opts ...any) tcpip.Endpoint {
	t.Helper()
	ep := newUDP(t, s)
	for _, o := range opts {
		if err := ep.SetSockOpt(o); err != nil {
			t.Fatalf("SetSockOpt(%T): %v", o, err)
		}
	}
	if err := ep.Bind(tcpip.FullAddress{Addr: addr, Port: port}); err != nil {
		t.Fatalf("Bind(%v:%d): %v", addr, port, err)
	}
	return ep
}

// to returns a destination for WriteOptions.
func to(addr netip.Addr, port uint16) *tcpip.FullAddress {
	return &tcpip.FullAddress{Addr: addr, Port: port}
}

// send writes p, to dst if not nil, and fails the test on error.
func send(t testing.TB, ep tcpip.Endpoint, p []byte, dst *tcpip.FullAddress) {
	t.Helper()
	n, err := ep.Write(p, tcpip.WriteOptions{To: dst})
	if err != nil || n != len(p) {
		t.Fatalf("Write(%d bytes to %v) = %d, %v", len(p), dst, n, err)
	}
}

// recv reads one datagram, which must be there.
func recv(t testing.TB, ep tcpip.Endpoint) ([]byte, tcpip.ReadResult) {
	t.Helper()
	buf := make([]byte, 70000)
	res, err := ep.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return buf[:res.N], res
}

// recvNone checks that no datagram is queued.
func recvNone(t testing.TB, ep tcpip.Endpoint) {
	t.Helper()
	var buf [64]byte
	if res, err := ep.Read(buf[:], tcpip.ReadOptions{}); !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("Read = %+v, %v; want ErrWouldBlock", res, err)
	}
}

// expect reads one datagram and checks its payload and sender.
func expect(t testing.TB, ep tcpip.Endpoint, want []byte, from netip.AddrPort) tcpip.ReadResult {
	t.Helper()
	got, res := recv(t, ep)
	if !bytes.Equal(got, want) {
		t.Fatalf("Read = %q, want %q", got, want)
	}
	if from.IsValid() && res.RemoteAddr.AddrPort() != from {
		t.Fatalf("Read from %v, want %v", res.RemoteAddr.AddrPort(), from)
	}
	return res
}

func localPort(t testing.TB, ep tcpip.Endpoint) uint16 {
	t.Helper()
	la, err := ep.LocalAddress()
	if err != nil {
		t.Fatalf("LocalAddress: %v", err)
	}
	return la.Port
}

func counter(s *stack.Stack, name string) uint64 {
	v, ok := s.Stats().Snapshot().Get(name)
	if !ok {
		panic("no counter " + name)
	}
	return v
}

const stackRXOffload = stack.CapabilityRXChecksumOffload

// testnetUDP is a UDP datagram with a correct checksum.
func testnetUDP(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	return testnet.UDP(src, dst, sport, dport, payload)
}

// testnetIPv4 wraps a UDP datagram in an IPv4 header.
func testnetIPv4(src, dst netip.Addr, udp []byte) []byte {
	return testnet.IPv4UDP(src, dst, 64, udp)
}

// newRawUDP returns a raw endpoint of B seeing every UDP packet.
func newRawUDP(t testing.TB, e *env) tcpip.Endpoint {
	t.Helper()
	ep, err := e.b.NewRawEndpoint(udp.ProtocolNumber, tcpip.IPv4ProtocolNumber, true)
	if err != nil {
		t.Fatalf("NewRawEndpoint: %v", err)
	}
	t.Cleanup(ep.Close)
	return ep
}

// derefOpt returns the option a GetSockOpt pointer points to.
func derefOpt(p any) any {
	return reflect.ValueOf(p).Elem().Interface()
}

// needNICCapabilities skips a test of checksum offload when the stack's
// NICs do not report their link's capabilities (a NIC method UDP looks
// for; see nicCapabilities in protocol.go).
func needNICCapabilities(t testing.TB, e *env) {
	t.Helper()
	ni, err := e.b.Interface(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ni.(interface{ Capabilities() stack.LinkCapabilities }); !ok {
		t.Skip("the stack's NICs do not report link capabilities: checksum offload is not honoured")
	}
}
