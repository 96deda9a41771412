package packet_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
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

func newPacket(t testing.TB, s *stack.Stack, cooked bool, proto tcpip.NetworkProtocolNumber) tcpip.Endpoint {
	t.Helper()
	ep, err := s.NewPacketEndpoint(cooked, proto)
	if err != nil {
		t.Fatalf("NewPacketEndpoint: %v", err)
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

type frame struct {
	b   []byte
	res tcpip.ReadResult
}

// readAll reads every queued frame.
func readAll(t testing.TB, ep tcpip.Endpoint) []frame {
	t.Helper()
	var out []frame
	for {
		buf := make([]byte, 2000)
		res, err := ep.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true, NeedLinkPacketInfo: true})
		if errors.Is(err, tcpip.ErrWouldBlock) {
			return out
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		out = append(out, frame{buf[:res.N], res})
	}
}

// A raw packet endpoint sees every frame of the NIC, inbound and
// outbound, link header included: here the ARP exchange that precedes a
// UDP datagram, then the datagram. A cooked endpoint for IPv4 sees only
// the IPv4 packets, without the Ethernet header.
func TestPacketSeesARPAndIP(t *testing.T) {
	p := newPair(t)
	all := newPacket(t, p.B, false, 0)
	cooked := newPacket(t, p.B, true, tcpip.IPv4ProtocolNumber)
	newUDP(t, p.B, 53)
	cli := newUDP(t, p.A, 1000)
	if _, err := cli.Write([]byte("dns?"), tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: testnet.AddrB, Port: 53}}); err != nil {
		t.Fatal(err)
	}
	p.Hub.Pump()

	// A announced its address when it was added (RFC 5227 §2.3): a
	// gratuitous ARP, sender and target addresses alike. Leave it out.
	var frames []frame
	for _, f := range readAll(t, all) {
		if a := f.b[header.EthernetMinimumSize:]; f.res.LinkPacketInfo.Protocol == tcpip.ARPProtocolNumber && string(a[14:18]) == string(a[24:28]) {
			continue
		}
		frames = append(frames, f)
	}
	type want struct {
		proto tcpip.NetworkProtocolNumber
		typ   buffer.PacketType
		src   tcpip.LinkAddress
	}
	wants := []want{
		{tcpip.ARPProtocolNumber, buffer.PacketBroadcast, testnet.MACA}, // who has 10.0.0.2
		{tcpip.ARPProtocolNumber, buffer.PacketOutgoing, testnet.MACB},  // B's reply
		{tcpip.IPv4ProtocolNumber, buffer.PacketHost, testnet.MACA},     // the datagram
	}
	if len(frames) != len(wants) {
		for _, f := range frames {
			t.Logf("frame %+v % x", f.res.LinkPacketInfo, f.b)
		}
		t.Fatalf("%d frames, want %d", len(frames), len(wants))
	}
	for i, w := range wants {
		f := frames[i]
		eth := header.Ethernet(f.b)
		if len(f.b) < header.EthernetMinimumSize || eth.Type() != w.proto || eth.Source() != w.src {
			t.Fatalf("frame %d: % x", i, f.b)
		}
		info := f.res.LinkPacketInfo
		if info.Protocol != w.proto || buffer.PacketType(info.PacketType) != w.typ {
			t.Errorf("frame %d: LinkPacketInfo %+v, want %v %v", i, info, w.proto, w.typ)
		}
		ra := f.res.RemoteAddr
		if ra.NIC != 1 || ra.LinkAddr != w.src || ra.Port != uint16(w.proto) {
			t.Errorf("frame %d: RemoteAddr %+v", i, ra)
		}
	}
	ip := frames[2].b[header.EthernetMinimumSize:]

	cf := readAll(t, cooked)
	if len(cf) != 1 {
		t.Fatalf("cooked endpoint got %d frames", len(cf))
	}
	if string(cf[0].b) != string(ip) || cf[0].b[0]>>4 != 4 {
		t.Fatalf("cooked frame % x, want % x", cf[0].b, ip)
	}
}

// Writing: a raw endpoint sends a whole frame; a cooked one a packet for
// which the stack builds the Ethernet header.
func TestPacketWrite(t *testing.T) {
	p := newPair(t)
	srv := newUDP(t, p.B, 53)
	dgram := testnet.UDP(testnet.AddrA, testnet.AddrB, 4000, 53, []byte("from a packet endpoint"))
	ip := testnet.IPv4UDP(testnet.AddrA, testnet.AddrB, 64, dgram)

	rawEP := newPacket(t, p.A, false, 0)
	fr := make([]byte, header.EthernetMinimumSize+len(ip))
	ef := header.EthernetFields{Destination: testnet.MACB, Source: testnet.MACA, Type: tcpip.IPv4ProtocolNumber}
	ef.Encode(fr)
	copy(fr[header.EthernetMinimumSize:], ip)
	if _, err := rawEP.Write(fr, tcpip.WriteOptions{}); !errors.Is(err, tcpip.ErrDestinationRequired) {
		t.Fatalf("Write without NIC = %v", err)
	}
	if _, err := rawEP.Write(fr, tcpip.WriteOptions{To: &tcpip.FullAddress{NIC: 1}}); err != nil {
		t.Fatal(err)
	}

	cooked := newPacket(t, p.A, true, 0)
	if err := cooked.Bind(tcpip.FullAddress{NIC: 1, Port: uint16(tcpip.IPv4ProtocolNumber)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cooked.Write(ip, tcpip.WriteOptions{To: &tcpip.FullAddress{LinkAddr: testnet.MACB}}); err != nil {
		t.Fatal(err)
	}
	p.Hub.Pump()
	for range 2 {
		buf := make([]byte, 100)
		res, err := srv.Read(buf, tcpip.ReadOptions{})
		if err != nil || string(buf[:res.N]) != "from a packet endpoint" {
			t.Fatalf("UDP endpoint read %q, %v", buf[:res.N], err)
		}
	}
	if got := rawEP.Stats().PacketsSent.Load(); got != 1 {
		t.Errorf("PacketsSent = %d", got)
	}
	// The cooked endpoint, bound to NIC 1 and IPv4, saw its own packet
	// leave without the Ethernet header (and the raw one's frame).
	for _, f := range readAll(t, cooked) {
		if f.b[0]>>4 != 4 || buffer.PacketType(f.res.LinkPacketInfo.PacketType) != buffer.PacketOutgoing {
			t.Fatalf("cooked endpoint frame %+v % x", f.res.LinkPacketInfo, f.b)
		}
	}
}

// Bind narrows an endpoint to one NIC and protocol; unknown NICs are
// refused; the receive buffer is bounded with counted drops.
func TestPacketBindAndBuffer(t *testing.T) {
	p := newPair(t)
	ep := newPacket(t, p.B, false, 0)
	if err := ep.Bind(tcpip.FullAddress{NIC: 7}); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("Bind to an unknown NIC = %v", err)
	}
	if err := ep.Bind(tcpip.FullAddress{NIC: 1, Port: uint16(tcpip.ARPProtocolNumber)}); err != nil {
		t.Fatal(err)
	}
	la, _ := ep.LocalAddress()
	if la.NIC != 1 || la.Port != uint16(tcpip.ARPProtocolNumber) || la.LinkAddr != testnet.MACB {
		t.Fatalf("LocalAddress = %+v", la)
	}
	small := newPacket(t, p.B, false, tcpip.IPv4ProtocolNumber)
	if err := small.SetSockOpt(tcpip.ReceiveBufferSizeOption(0)); err != nil {
		t.Fatal(err)
	}
	newUDP(t, p.B, 53)
	cli := newUDP(t, p.A, 1000)
	const n = 10
	for range n {
		if _, err := cli.Write(make([]byte, 1200), tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: testnet.AddrB, Port: 53}}); err != nil {
			t.Fatal(err)
		}
	}
	p.Hub.Pump()
	for _, f := range readAll(t, ep) {
		if f.res.LinkPacketInfo.Protocol != tcpip.ARPProtocolNumber {
			t.Fatalf("ARP endpoint got %+v", f.res.LinkPacketInfo)
		}
	}
	got := len(readAll(t, small))
	if drops := small.Stats().ReceiveBufferErrors.Load(); got == 0 || drops == 0 || uint64(got)+drops != n {
		t.Fatalf("small buffer: %d read, %d dropped", got, drops)
	}
	if err := ep.Connect(tcpip.FullAddress{}); !errors.Is(err, tcpip.ErrNotSupported) {
		t.Fatalf("Connect = %v", err)
	}
}

// Stack.Close aborts packet endpoints as it aborts sockets: an endpoint
// bound to a NIC and one of every NIC are closed, their waiters woken with
// a hang-up, their reads no longer "would block".
func TestPacketAbortedByStackClose(t *testing.T) {
	p := newPair(t)
	every := newPacket(t, p.B, false, 0)
	bound := newPacket(t, p.B, true, tcpip.IPv4ProtocolNumber)
	if err := bound.Bind(tcpip.FullAddress{NIC: 1}); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	var waiters []tcpip.ChannelWaiter
	for _, ep := range []tcpip.Endpoint{every, bound} {
		w := tcpip.NewChannelWaiter()
		ep.WaitQueue().Register(w, tcpip.EventHUp)
		waiters = append(waiters, w)
	}
	p.B.Close()
	for i, ep := range []tcpip.Endpoint{every, bound} {
		select {
		case <-waiters[i]:
		default:
			t.Errorf("endpoint %d: no hang-up notified by Stack.Close", i)
		}
		if r := ep.Readiness(tcpip.EventHUp); r&tcpip.EventHUp == 0 {
			t.Errorf("endpoint %d: readiness %v after Stack.Close, want HUp", i, r)
		}
		if _, err := ep.Read(make([]byte, 100), tcpip.ReadOptions{}); err == nil || errors.Is(err, tcpip.ErrWouldBlock) {
			t.Errorf("endpoint %d: Read after Stack.Close = %v, want an error other than would-block", i, err)
		}
	}
}
