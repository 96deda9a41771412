package icmp_test

import (
	"bytes"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/raw"
)

func newPair(t testing.TB) *testnet.Pair {
	t.Helper()
	return testnet.NewPair(t, true, testnet.Options{
		Networks:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		Transports: []stack.TransportProtocolFactory{icmp.NewProtocol4},
		RawFactory: raw.Factory{},
	})
}

func newPing(t testing.TB, s *stack.Stack) tcpip.Endpoint {
	t.Helper()
	ep, err := s.NewEndpoint(icmp.ProtocolNumber4, tcpip.IPv4ProtocolNumber)
	if err != nil {
		t.Fatalf("NewEndpoint: %v", err)
	}
	t.Cleanup(ep.Close)
	return ep
}

// echo returns an echo request message as a user writes it: identifier
// and checksum left for the stack.
func echo(seq uint16, data string) []byte {
	f := header.ICMPv4Fields{Type: header.ICMPv4Echo, Sequence: seq}
	b := make([]byte, header.ICMPv4MinimumSize+len(data))
	f.Encode(b)
	copy(b[header.ICMPv4MinimumSize:], data)
	return b
}

func write(t testing.TB, ep tcpip.Endpoint, p []byte, to *tcpip.FullAddress) {
	t.Helper()
	if n, err := ep.Write(p, tcpip.WriteOptions{To: to}); err != nil || n != len(p) {
		t.Fatalf("Write = %d, %v", n, err)
	}
}

// reply reads an echo reply and checks it answers seq with data.
func reply(t testing.TB, ep tcpip.Endpoint, ident, seq uint16, data string) tcpip.ReadResult {
	t.Helper()
	buf := make([]byte, 1500)
	res, err := ep.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	m, err := header.ParseICMPv4(buf[:res.N])
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	if m.Type() != header.ICMPv4EchoReply || m.Code() != 0 || m.Ident() != ident || m.Sequence() != seq || string(m.Payload()) != data {
		t.Fatalf("reply %+v %q, want ident %d seq %d %q", m.Fields(), m.Payload(), ident, seq, data)
	}
	if !m.IsChecksumValid() {
		t.Fatal("reply checksum invalid")
	}
	return res
}

func noReply(t testing.TB, ep tcpip.Endpoint) {
	t.Helper()
	if _, err := ep.Read(make([]byte, 100), tcpip.ReadOptions{}); !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("Read = %v, want ErrWouldBlock", err)
	}
}

func localPort(t testing.TB, ep tcpip.Endpoint) uint16 {
	t.Helper()
	la, err := ep.LocalAddress()
	if err != nil {
		t.Fatal(err)
	}
	return la.Port
}

// RFC 792 echo through a ping endpoint: the stack sets the identifier
// (an ephemeral one) and the checksum; the other stack's reply comes back
// to the endpoint.
func TestPing(t *testing.T) {
	p := newPair(t)
	ep := newPing(t, p.A)
	// B sees the request as sent, through a raw ICMP endpoint.
	sniff, err := p.B.NewRawEndpoint(icmp.ProtocolNumber4, tcpip.IPv4ProtocolNumber, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sniff.Close)

	write(t, ep, echo(1, "ping data"), &tcpip.FullAddress{Addr: testnet.AddrB})
	ident := localPort(t, ep)
	if ident == 0 {
		t.Fatal("no identifier bound")
	}
	p.Hub.Pump()
	res := reply(t, ep, ident, 1, "ping data")
	if res.RemoteAddr.Addr != testnet.AddrB {
		t.Fatalf("reply from %v", res.RemoteAddr.Addr)
	}
	noReply(t, ep)

	buf := make([]byte, 1500)
	n, err := sniff.Read(buf, tcpip.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req, err := header.ParseICMPv4(buf[header.IPv4MinimumSize:n.N])
	if err != nil || req.Type() != header.ICMPv4Echo || req.Ident() != ident || !req.IsChecksumValid() {
		t.Fatalf("request seen by B: %+v, %v", req.Fields(), err)
	}
	if got := ep.Stats().PacketsReceived.Load(); got != 1 {
		t.Errorf("PacketsReceived = %d", got)
	}
}

// Bind sets the identifier; each endpoint receives the replies to its own
// identifier only; connected endpoints need no destination.
func TestPingIdentifiers(t *testing.T) {
	p := newPair(t)
	e1 := newPing(t, p.A)
	if err := e1.Bind(tcpip.FullAddress{Port: 4242}); err != nil {
		t.Fatal(err)
	}
	e2 := newPing(t, p.A)
	if err := e2.Connect(tcpip.FullAddress{Addr: testnet.AddrB}); err != nil {
		t.Fatal(err)
	}
	dup := newPing(t, p.A)
	if err := dup.Bind(tcpip.FullAddress{Port: 4242}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Bind of a used identifier = %v", err)
	}
	write(t, e1, echo(7, "one"), &tcpip.FullAddress{Addr: testnet.AddrB})
	write(t, e2, echo(8, "two"), nil)
	p.Hub.Pump()
	reply(t, e1, 4242, 7, "one")
	reply(t, e2, localPort(t, e2), 8, "two")
	noReply(t, e1)
	noReply(t, e2)
}

// Linux's ping_common_sendmsg: only echo requests, at least the header.
func TestPingWriteErrors(t *testing.T) {
	p := newPair(t)
	ep := newPing(t, p.A)
	to := &tcpip.FullAddress{Addr: testnet.AddrB}
	bad := echo(1, "x")
	bad[0] = byte(header.ICMPv4Timestamp)
	for _, m := range [][]byte{echo(1, "")[:7], bad, append(echo(1, "")[:1:1], 1, 0, 0, 0, 0, 0, 0)} {
		if _, err := ep.Write(m, tcpip.WriteOptions{To: to}); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Write(% x) = %v, want EINVAL", m, err)
		}
	}
	if _, err := ep.Write(echo(1, ""), tcpip.WriteOptions{}); !errors.Is(err, tcpip.ErrDestinationRequired) {
		t.Errorf("Write without destination = %v", err)
	}
	if _, err := ep.Write(echo(1, ""), tcpip.WriteOptions{To: &tcpip.FullAddress{Addr: netip.MustParseAddr("10.0.0.255")}}); !errors.Is(err, syscall.EACCES) {
		t.Errorf("Write to broadcast = %v, want EACCES", err)
	}
	if _, err := ep.Write(make([]byte, 70000), tcpip.WriteOptions{To: to}); err == nil {
		t.Error("oversized Write succeeded")
	}
	// An ICMPv6 protocol instance does not make IPv4 endpoints.
	if _, err := icmp.NewProtocol6(p.A).NewEndpoint(tcpip.IPv4ProtocolNumber); !errors.Is(err, tcpip.ErrUnknownProtocol) {
		t.Errorf("ICMPv6 endpoint over IPv4 = %v", err)
	}
}

// Replies for identifiers nobody holds are dropped without an answer
// (RFC 1122 §3.2.2: no ICMP error about ICMP); a closed endpoint's
// identifier is free again.
func TestPingClose(t *testing.T) {
	p := newPair(t)
	ep := newPing(t, p.A)
	write(t, ep, echo(1, "late"), &tcpip.FullAddress{Addr: testnet.AddrB})
	ident := localPort(t, ep)
	ep.Close()
	p.Hub.Pump()
	if got, _ := p.B.Stats().Snapshot().Get("ICMPv4.Received.DstUnreachable"); got != 0 {
		t.Fatalf("B got %d unreachables", got)
	}
	if got, _ := p.A.Stats().Snapshot().Get("ICMPv4.Sent.DstUnreachable"); got != 0 {
		t.Fatalf("A sent %d unreachables", got)
	}
	again := newPing(t, p.A)
	if err := again.Bind(tcpip.FullAddress{Port: ident}); err != nil {
		t.Fatalf("Bind of a freed identifier = %v", err)
	}
	if _, err := ep.Read(make([]byte, 10), tcpip.ReadOptions{}); err != tcpip.ErrClosedForReceive {
		t.Fatalf("Read after Close = %v", err)
	}
	if !bytes.Equal(echo(1, "")[:1], []byte{8}) {
		t.Fatal("echo helper broken")
	}
}

// Control messages and options.
func TestPingOptions(t *testing.T) {
	p := newPair(t)
	ep := newPing(t, p.A)
	for _, o := range []any{tcpip.ReceiveTTLOption(true), tcpip.TTLOption(17)} {
		if err := ep.SetSockOpt(o); err != nil {
			t.Fatal(err)
		}
	}
	var ttl tcpip.TTLOption
	if err := ep.GetSockOpt(&ttl); err != nil || ttl != 17 {
		t.Fatalf("TTLOption = %d, %v", ttl, err)
	}
	write(t, ep, echo(3, "ttl"), &tcpip.FullAddress{Addr: testnet.AddrB})
	p.Hub.Pump()
	res := reply(t, ep, localPort(t, ep), 3, "ttl")
	if !res.Control.HasTTL || res.Control.TTL != 64 {
		t.Fatalf("control = %+v", res.Control)
	}
	if err := ep.SetSockOpt(tcpip.V6OnlyOption(true)); !errors.Is(err, tcpip.ErrUnknownProtocolOption) {
		t.Fatalf("V6OnlyOption = %v", err)
	}
}

// An ICMP error quoting an echo request reaches the endpoint whose
// identifier the request carried (stack.QuotedPortsParser); as Linux's
// ping_err without IP_RECVERR, a connected endpoint reports hard errors on
// its next Read, and ignores soft ones.
func TestPingErrors(t *testing.T) {
	p := newPair(t)
	ep := newPing(t, p.A)
	if err := ep.Bind(tcpip.FullAddress{Port: 555}); err != nil {
		t.Fatal(err)
	}
	if err := ep.Connect(tcpip.FullAddress{Addr: testnet.AddrB}); err != nil {
		t.Fatal(err)
	}
	router := netip.MustParseAddr("10.0.0.254")
	unreachable := func(code header.ICMPv4Code, ident uint16) []byte {
		req := echo(1, "")
		header.ICMPv4(req).SetIdent(ident)
		quoted := testnet.IPv4Packet(testnet.AddrA, testnet.AddrB, tcpip.ICMPv4ProtocolNumber, 64, req)
		msg := make([]byte, header.ICMPv4MinimumSize+len(quoted))
		f := header.ICMPv4Fields{Type: header.ICMPv4DstUnreachable, Code: code}
		m := f.Encode(msg)
		copy(msg[header.ICMPv4MinimumSize:], quoted)
		m.SetChecksum(m.CalculateChecksum())
		ip := testnet.IPv4Packet(router, testnet.AddrA, tcpip.ICMPv4ProtocolNumber, 64, msg)
		frame := make([]byte, header.EthernetMinimumSize+len(ip))
		ef := header.EthernetFields{Destination: testnet.MACA, Source: tcpip.LinkAddress{2, 0, 0, 0, 0, 0xfe}, Type: tcpip.IPv4ProtocolNumber}
		ef.Encode(frame)
		copy(frame[header.EthernetMinimumSize:], ip)
		return frame
	}
	p.Hub.Send(unreachable(header.ICMPv4HostUnreachable, 555))
	p.Hub.Send(unreachable(header.ICMPv4HostProhibited, 556))
	p.Hub.Pump()
	if err := ep.LastError(); err != nil {
		t.Fatalf("LastError after a soft error and another identifier's = %v", err)
	}
	p.Hub.Send(unreachable(header.ICMPv4HostProhibited, 555))
	p.Hub.Pump()
	if got := ep.Readiness(tcpip.EventErr); got != tcpip.EventErr {
		t.Fatalf("Readiness = %v", got)
	}
	if _, err := ep.Read(make([]byte, 100), tcpip.ReadOptions{}); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("Read = %v, want EHOSTUNREACH", err)
	}
}
