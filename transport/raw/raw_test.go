package raw_test

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/raw"
	"github.com/ustack-go/ustack/transport/udp"
)

func newPair(t testing.TB) *testnet.Pair {
	t.Helper()
	return testnet.NewPair(t, true, testnet.Options{
		Networks:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		Transports: []stack.TransportProtocolFactory{udp.NewProtocol},
		RawFactory: raw.Factory{},
	})
}

func newRaw(t testing.TB, s *stack.Stack, proto tcpip.TransportProtocolNumber) tcpip.Endpoint {
	t.Helper()
	ep, err := s.NewRawEndpoint(proto, tcpip.IPv4ProtocolNumber, true)
	if err != nil {
		t.Fatalf("NewRawEndpoint(%d): %v", proto, err)
	}
	t.Cleanup(ep.Close)
	return ep
}

func newUDP(t testing.TB, s *stack.Stack, port uint16) tcpip.Endpoint {
	t.Helper()
	ep, err := s.NewEndpoint(udp.ProtocolNumber, tcpip.IPv4ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Close)
	if err := ep.Bind(tcpip.FullAddress{Port: port}); err != nil {
		t.Fatal(err)
	}
	return ep
}

func read(t testing.TB, ep tcpip.Endpoint) ([]byte, tcpip.ReadResult) {
	t.Helper()
	buf := make([]byte, 70000)
	res, err := ep.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return buf[:res.N], res
}

func readNone(t testing.TB, ep tcpip.Endpoint) {
	t.Helper()
	if _, err := ep.Read(make([]byte, 100), tcpip.ReadOptions{}); !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("Read = %v, want ErrWouldBlock", err)
	}
}

// A raw endpoint receives a copy of every packet of its protocol, IPv4
// header included (raw(7)), beside the transport endpoint the packet is
// for; a packet for no endpoint is not answered with port unreachable
// when a raw endpoint took it (as Linux).
func TestRawSeesUDP(t *testing.T) {
	p := newPair(t)
	sniff := newRaw(t, p.B, udp.ProtocolNumber)
	srv := newUDP(t, p.B, 53)
	cli := newUDP(t, p.A, 1000)
	for _, port := range []uint16{53, 54} {
		if _, err := cli.Write([]byte("query"), tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: testnet.AddrB, Port: port}}); err != nil {
			t.Fatal(err)
		}
	}
	p.Hub.Pump()
	if _, err := srv.Read(make([]byte, 10), tcpip.ReadOptions{}); err != nil {
		t.Fatalf("UDP endpoint: %v", err)
	}
	for _, port := range []uint16{53, 54} {
		b, res := read(t, sniff)
		ip, err := header.ParseIPv4(b)
		if err != nil {
			t.Fatalf("raw packet: %v", err)
		}
		if ip.Source() != testnet.AddrA || ip.Destination() != testnet.AddrB || ip.Protocol() != udp.ProtocolNumber {
			t.Fatalf("IP header %+v", ip.Fields())
		}
		u, err := header.ParseUDP(ip.Payload())
		if err != nil || u.SourcePort() != 1000 || u.DestinationPort() != port || string(u.Payload()) != "query" {
			t.Fatalf("UDP %+v %q %v", u.Fields(), u.Payload(), err)
		}
		if res.RemoteAddr.Addr != testnet.AddrA || res.Total != len(b) {
			t.Fatalf("ReadResult %+v", res)
		}
	}
	readNone(t, sniff)
	if got, _ := p.B.Stats().Snapshot().Get("ICMPv4.Sent.DstUnreachable"); got != 0 {
		t.Fatalf("B sent %d unreachables for a packet a raw endpoint took", got)
	}
}

// IP_HDRINCL: the user's IPv4 header goes out, the stack filling in the
// total length, checksum, a zero identification and source.
func TestRawHeaderIncluded(t *testing.T) {
	p := newPair(t)
	srv := newUDP(t, p.B, 53)
	ep := newRaw(t, p.A, udp.ProtocolNumber)
	if err := ep.SetSockOpt(tcpip.HeaderIncludedOption(true)); err != nil {
		t.Fatal(err)
	}
	pkt := testnet.IPv4UDP(testnet.AddrA, testnet.AddrB, 9, testnet.UDP(testnet.AddrA, testnet.AddrB, 777, 53, []byte("handmade")))
	// Leave to the stack: source, ID, total length, checksum.
	clear(pkt[2:6])
	clear(pkt[10:16])
	if _, err := ep.Write(pkt, tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: testnet.AddrB}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetSockOpt(tcpip.ReceiveTTLOption(true)); err != nil {
		t.Fatal(err)
	}
	p.Hub.Pump()
	buf := make([]byte, 100)
	res, err := srv.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true})
	if err != nil || string(buf[:res.N]) != "handmade" || res.RemoteAddr.AddrPort() != netip.AddrPortFrom(testnet.AddrA, 777) || res.Control.TTL != 9 {
		t.Fatalf("received %q %+v %v", buf[:res.N], res, err)
	}
	// IPPROTO_RAW: header included, and never off.
	rawEP := newRaw(t, p.A, raw.ProtocolRaw)
	var hi tcpip.HeaderIncludedOption
	if err := rawEP.GetSockOpt(&hi); err != nil || !bool(hi) {
		t.Fatalf("HeaderIncludedOption of IPPROTO_RAW = %v, %v", hi, err)
	}
	if err := rawEP.SetSockOpt(tcpip.HeaderIncludedOption(false)); err == nil {
		t.Fatal("IPPROTO_RAW without IP_HDRINCL accepted")
	}
	if _, err := rawEP.Write(pkt[:10], tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: testnet.AddrB}}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("short header = %v", err)
	}
}

// Without IP_HDRINCL the stack builds the IP header around the user's
// transport packet: an ICMP echo request written raw is answered, and the
// reply comes back to the raw ICMP endpoint.
func TestRawWrite(t *testing.T) {
	p := newPair(t)
	ep := newRaw(t, p.A, tcpip.ICMPv4ProtocolNumber)
	if err := ep.SetSockOpt(tcpip.TTLOption(5)); err != nil {
		t.Fatal(err)
	}
	f := header.ICMPv4Fields{Type: header.ICMPv4Echo, Ident: 99, Sequence: 1}
	msg := make([]byte, header.ICMPv4MinimumSize+4)
	copy(msg[header.ICMPv4MinimumSize:], "ping")
	m := f.Encode(msg)
	m.SetChecksum(header.ICMPv4(msg).CalculateChecksum())
	if err := ep.Connect(tcpip.FullAddress{Addr: testnet.AddrB}); err != nil {
		t.Fatal(err)
	}
	if _, err := ep.Write(msg, tcpip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	p.Hub.Pump()
	b, _ := read(t, ep)
	ip, err := header.ParseIPv4(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := header.ParseICMPv4(ip.Payload())
	if err != nil || r.Type() != header.ICMPv4EchoReply || r.Ident() != 99 || string(r.Payload()) != "ping" {
		t.Fatalf("reply %+v %v", r.Fields(), err)
	}
	readNone(t, ep)
}

// Bind and Connect narrow what a raw endpoint receives (Linux's
// raw_v4_match); the receive buffer is bounded, with counted drops.
func TestRawFilterAndBuffer(t *testing.T) {
	p := newPair(t)
	bound := newRaw(t, p.B, udp.ProtocolNumber)
	if err := bound.Bind(tcpip.FullAddress{Addr: netip.MustParseAddr("10.0.0.3")}); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("Bind to a foreign address = %v", err)
	}
	if err := bound.Bind(tcpip.FullAddress{Addr: testnet.AddrB}); err != nil {
		t.Fatal(err)
	}
	conn := newRaw(t, p.B, udp.ProtocolNumber)
	if err := conn.Connect(tcpip.FullAddress{Addr: netip.MustParseAddr("10.0.0.9")}); err != nil {
		t.Fatal(err)
	}
	small := newRaw(t, p.B, udp.ProtocolNumber)
	if err := small.SetSockOpt(tcpip.ReceiveBufferSizeOption(0)); err != nil {
		t.Fatal(err)
	}
	cli := newUDP(t, p.A, 1000)
	const n = 10
	for range n {
		if _, err := cli.Write(make([]byte, 1000), tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: testnet.AddrB, Port: 9}}); err != nil {
			t.Fatal(err)
		}
	}
	p.Hub.Pump()
	for range n {
		read(t, bound)
	}
	readNone(t, conn)
	got := 0
	for {
		if _, err := small.Read(make([]byte, 2000), tcpip.ReadOptions{}); err != nil {
			break
		}
		got++
	}
	if drops := small.Stats().ReceiveBufferErrors.Load(); got == 0 || drops == 0 || uint64(got)+drops != n {
		t.Fatalf("small buffer: %d read, %d dropped", got, drops)
	}
}

// Without a RawFactory the stack refuses raw and packet endpoints, as
// Linux without CAP_NET_RAW (EPERM).
func TestNotPermitted(t *testing.T) {
	leakcheck.Check(t)
	s := stack.New(stack.Options{NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol}})
	defer s.Close()
	if _, err := s.NewRawEndpoint(udp.ProtocolNumber, tcpip.IPv4ProtocolNumber, true); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("NewRawEndpoint = %v", err)
	}
	if _, err := s.NewPacketEndpoint(true, 0); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("NewPacketEndpoint = %v", err)
	}
}

// A raw endpoint for a protocol the stack does not run handles it: it
// receives the packets, and no protocol unreachable is sent.
func TestRawUnassociated(t *testing.T) {
	p := newPair(t)
	const proto = 253 // RFC 3692 experimentation
	ep, err := p.B.NewRawEndpoint(proto, tcpip.IPv4ProtocolNumber, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Close)
	out := newRaw(t, p.A, proto)
	if _, err := out.Write([]byte("experimental"), tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: testnet.AddrB}}); err != nil {
		t.Fatal(err)
	}
	p.Hub.Pump()
	b, _ := read(t, ep)
	if !bytes.HasSuffix(b, []byte("experimental")) || header.IPv4(b).Protocol() != proto {
		t.Fatalf("received % x", b)
	}
	if got, _ := p.B.Stats().Snapshot().Get("ICMPv4.Sent.DstUnreachable"); got != 0 {
		t.Fatalf("B sent %d unreachables", got)
	}
}
