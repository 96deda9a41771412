package ipv4_test

import (
	"bytes"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// twoHosts builds A (10.0.0.1) and B (10.0.0.2) on one hub, each with a
// fake ICMP transport recording what IPv4 hands it.
func twoHosts(t *testing.T, mtu uint32) (n *testNet, a, b *stack.Stack, icmpA, icmpB *fakeTransport) {
	n = newNet(t)
	h := n.hub()
	var fa, fb stack.TransportProtocolFactory
	icmpA, fa = newFakeTransport(tcpip.ICMPv4ProtocolNumber, stack.TransportPacketHandled)
	icmpB, fb = newFakeTransport(tcpip.ICMPv4ProtocolNumber, stack.TransportPacketHandled)
	a = n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{fa}})
	b = n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{fb}})
	n.addNIC(a, 1, h, mac(1), mtu, "10.0.0.1/24")
	n.addNIC(b, 1, h, mac(2), mtu, "10.0.0.2/24")
	n.run()
	return n, a, b, icmpA, icmpB
}

func TestPing(t *testing.T) {
	n, a, b, icmpA, icmpB := twoHosts(t, 1500)
	data := []byte("ustack ping payload 0123456789")
	if err := send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: tcpip.ICMPv4ProtocolNumber}, echoRequest(0x1234, 7, data)); err != nil {
		t.Fatalf("send: %v", err)
	}
	n.run()

	// B saw the request (handed on to its ICMP transport too).
	if got := icmpB.take(); len(got) != 1 {
		t.Fatalf("B's ICMP transport got %d packets, want the request", len(got))
	}
	got := icmpA.take()
	if len(got) != 1 {
		t.Fatalf("A's ICMP transport got %d packets, want the reply", len(got))
	}
	d := got[0]
	m, err := header.ParseICMPv4(d.payload)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type() != header.ICMPv4EchoReply || m.Code() != 0 || m.Ident() != 0x1234 || m.Sequence() != 7 {
		t.Errorf("reply %v code %d id %#x seq %d", m.Type(), m.Code(), m.Ident(), m.Sequence())
	}
	if !m.IsChecksumValid() {
		t.Error("reply checksum invalid")
	}
	if !bytes.Equal(m.Payload(), data) {
		t.Errorf("reply data %q, want %q", m.Payload(), data)
	}
	if d.info.Source != addr("10.0.0.2") || d.info.Destination != addr("10.0.0.1") || d.info.TTL != ipv4.DefaultTTL {
		t.Errorf("reply info %+v", d.info)
	}
	wantCounter(t, b, "ICMPv4.Received.EchoRequest", 1)
	wantCounter(t, b, "ICMPv4.Sent.EchoReply", 1)
	wantCounter(t, a, "ICMPv4.Received.EchoReply", 1)
	wantCounter(t, a, "ARP.RequestsSent", 1)
	wantCounter(t, b, "ARP.RepliesSent", 1)
}
