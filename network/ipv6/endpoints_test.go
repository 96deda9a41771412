package ipv6_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/icmp"
	"github.com/ustack-go/ustack/transport/tcp"
	"github.com/ustack-go/ustack/transport/udp"
)

// endpointHosts builds A (2001:db8::1) and B (2001:db8::2) with the real
// ICMPv6 echo and UDP transports.
func endpointHosts(t *testing.T) (*testNet, *stack.Stack, *stack.Stack) {
	n := newNet(t)
	h := n.hub()
	tr := []stack.TransportProtocolFactory{icmp.NewProtocol6, udp.NewProtocol}
	a := n.newStack(stackOpts{transports: tr})
	b := n.newStack(stackOpts{transports: tr})
	n.addNIC(a, 1, h, mac(1), 1500, "2001:db8::1/64")
	n.addNIC(b, 1, h, mac(2), 1500, "2001:db8::2/64")
	n.run()
	return n, a, b
}

func newEndpoint(t *testing.T, s *stack.Stack, proto tcpip.TransportProtocolNumber) tcpip.Endpoint {
	t.Helper()
	ep, err := s.NewEndpoint(proto, ipv6Proto)
	if err != nil {
		t.Fatalf("NewEndpoint: %v", err)
	}
	t.Cleanup(ep.Close)
	return ep
}

// An ICMPv6 echo endpoint (icmp.NewProtocol6) pings a global and a
// link-local address: the stack fills in the identifier and the checksum
// with the pseudo-header, and the reply comes back to the endpoint.
func TestPingEndpoint(t *testing.T) {
	for _, to := range []tcpip.FullAddress{
		{Addr: addr("2001:db8::2")},
		{NIC: 1, Addr: linkLocal(2)},
	} {
		n, a, _ := endpointHosts(t)
		ep := newEndpoint(t, a, icmp.ProtocolNumber6)
		req := make([]byte, header.ICMPv6MinimumSize+5)
		(&header.ICMPv6Fields{Type: header.ICMPv6EchoRequest, Sequence: 3}).Encode(req)
		copy(req[header.ICMPv6MinimumSize:], "hello")
		if _, err := ep.Write(req, tcpip.WriteOptions{To: &to}); err != nil {
			t.Fatalf("Write to %v: %v", to.Addr, err)
		}
		n.run()
		buf := make([]byte, 1500)
		res, err := ep.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		la, _ := ep.LocalAddress()
		m := header.ICMPv6(buf[:res.N])
		if m.Type() != header.ICMPv6EchoReply || m.Sequence() != 3 || m.Ident() != la.Port || string(m.Payload()) != "hello" {
			t.Errorf("reply %+v %q, want ident %d", m.Fields(), m.Payload(), la.Port)
		}
		if res.RemoteAddr.Addr != to.Addr {
			t.Errorf("reply from %v, want %v", res.RemoteAddr.Addr, to.Addr)
		}
	}
}

// UDP over IPv6: a datagram larger than the MTU goes in fragments both
// ways; a connected endpoint learns ECONNREFUSED from port unreachable.
func TestUDPEndpoint(t *testing.T) {
	n, a, b := endpointHosts(t)
	srv := newEndpoint(t, b, udp.ProtocolNumber)
	if err := srv.Bind(tcpip.FullAddress{Port: 7}); err != nil {
		t.Fatal(err)
	}
	cli := newEndpoint(t, a, udp.ProtocolNumber)
	if err := cli.Connect(tcpip.FullAddress{Addr: addr("2001:db8::2"), Port: 7}); err != nil {
		t.Fatal(err)
	}
	data := pattern(3000)
	if _, err := cli.Write(data, tcpip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.run()
	buf := make([]byte, 4000)
	res, err := srv.Read(buf, tcpip.ReadOptions{NeedRemoteAddr: true})
	if err != nil || !bytes.Equal(buf[:res.N], data) {
		t.Fatalf("server read %d bytes, %v", res.N, err)
	}
	if _, err := srv.Write(buf[:res.N], tcpip.WriteOptions{To: &res.RemoteAddr}); err != nil {
		t.Fatal(err)
	}
	n.run()
	res, err = cli.Read(buf, tcpip.ReadOptions{})
	if err != nil || !bytes.Equal(buf[:res.N], data) {
		t.Fatalf("client read %d bytes, %v", res.N, err)
	}
	wantCounter(t, a, "IPv6.PacketsReassembled", 1)
	wantCounter(t, b, "IPv6.PacketsReassembled", 1)

	// No one on port 9: port unreachable, then ECONNREFUSED.
	if err := cli.Connect(tcpip.FullAddress{Addr: addr("2001:db8::2"), Port: 9}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Write([]byte("x"), tcpip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.run()
	if _, err := cli.Read(buf, tcpip.ReadOptions{}); !errors.Is(err, tcpip.ErrConnectionRefused) {
		t.Errorf("Read after port unreachable: %v, want ECONNREFUSED", err)
	}
	wantCounter(t, b, "ICMPv6.Sent.DstUnreachable", 1)
}

// TCP over IPv6: a connection carries data both ways (checksums over the
// IPv6 pseudo-header), and a Packet Too Big from the path lowers the
// connection's segment size, so that later segments fit 1280 bytes.
func TestTCPEndpoint(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	tr := []stack.TransportProtocolFactory{tcp.NewProtocol}
	a := n.newStack(stackOpts{transports: tr})
	b := n.newStack(stackOpts{transports: tr})
	n.addNIC(a, 1, h, mac(1), 1500, "2001:db8::1/64")
	n.addNIC(b, 1, h, mac(2), 1500, "2001:db8::2/64")
	n.run()
	ln := newEndpoint(t, b, tcp.ProtocolNumber)
	if err := ln.Bind(tcpip.FullAddress{Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := ln.Listen(1); err != nil {
		t.Fatal(err)
	}
	cli := newEndpoint(t, a, tcp.ProtocolNumber)
	if err := cli.Connect(tcpip.FullAddress{Addr: addr("2001:db8::2"), Port: 80}); err != nil && !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	n.run()
	srv, _, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(srv.Close)
	data := pattern(5000)
	if _, err := cli.Write(data, tcpip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.run()
	buf := make([]byte, 10000)
	got := 0
	for got < len(data) {
		res, err := srv.Read(buf[got:], tcpip.ReadOptions{})
		if err != nil {
			t.Fatalf("server read after %d bytes: %v", got, err)
		}
		got += res.N
	}
	if !bytes.Equal(buf[:got], data) {
		t.Fatal("data differs")
	}

	// A router on the path reports a 1280-byte MTU for a segment in
	// flight: the connection lowers its segment size and sends again.
	more := pattern(6000)
	if _, err := cli.Write(more, tcpip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var seg header.IPv6
	for _, ip := range seenIPv6(h.Frames()) {
		if ip.Source() == addr("2001:db8::1") && ip.NextHeader() == tcpip.TCPProtocolNumber && len(ip) > 1280 {
			seg = ip
			break
		}
	}
	if seg == nil {
		t.Fatal("no full-sized segment in flight")
	}
	router := addr("2001:db8::9")
	h.Send(frame(mac(1), mac(9), ip6(header.IPv6Fields{NextHeader: tcpip.ICMPv6ProtocolNumber, Src: router, Dst: addr("2001:db8::1")}, nil,
		icmpMessage(router, addr("2001:db8::1"), header.ICMPv6Fields{Type: header.ICMPv6PacketTooBig, MTU: 1280}, seg[:1232]))))
	a.AddLinkAddress(1, router, mac(9))
	n.run()
	got = 0
	for got < len(more) {
		res, err := srv.Read(buf[got:], tcpip.ReadOptions{})
		if err != nil {
			t.Fatalf("server read after %d bytes: %v", got, err)
		}
		got += res.N
	}
	if !bytes.Equal(buf[:got], more) {
		t.Fatal("data differs after Packet Too Big")
	}
	if _, err := cli.Write(pattern(4000), tcpip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.run()
	for _, ip := range seenIPv6(h.Frames()) {
		if ip.Source() == addr("2001:db8::1") && ip.NextHeader() == tcpip.TCPProtocolNumber && len(ip) > 1280 {
			t.Errorf("segment of %d bytes after Packet Too Big", len(ip))
		}
	}
}
