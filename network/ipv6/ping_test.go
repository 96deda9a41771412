package ipv6_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// twoHosts builds A (2001:db8::1) and B (2001:db8::2) on one hub, each
// with a fake ICMPv6 transport recording what IPv6 hands it, and link-local
// addresses formed from their MACs.
func twoHosts(t *testing.T, mtu uint32) (n *testNet, a, b *stack.Stack, icmpA, icmpB *fakeTransport) {
	n = newNet(t)
	h := n.hub()
	var fa, fb stack.TransportProtocolFactory
	icmpA, fa = newFakeTransport(tcpip.ICMPv6ProtocolNumber, stack.TransportPacketHandled)
	icmpB, fb = newFakeTransport(tcpip.ICMPv6ProtocolNumber, stack.TransportPacketHandled)
	a = n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{fa}})
	b = n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{fb}})
	n.addNIC(a, 1, h, mac(1), mtu, "2001:db8::1/64")
	n.addNIC(b, 1, h, mac(2), mtu, "2001:db8::2/64")
	n.run()
	return n, a, b, icmpA, icmpB
}

// Echo requests to a global and to a link-local address are answered
// after NDP resolves the peer, from the address they were sent to.
func TestPing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst netip.Addr
	}{
		{"global", addr("2001:db8::1"), addr("2001:db8::2")},
		{"link-local", linkLocal(1), linkLocal(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, a, b, icmpA, icmpB := twoHosts(t, 1500)
			data := []byte("ustack ping payload 0123456789")
			if err := send(t, a, tc.dst, stack.NetworkHeaderParams{Protocol: tcpip.ICMPv6ProtocolNumber}, echoRequest(tc.src, tc.dst, 0x1234, 7, data)); err != nil {
				t.Fatalf("send: %v", err)
			}
			n.run()
			if got := ofType(icmpB.take(), header.ICMPv6EchoRequest); len(got) != 1 {
				t.Fatalf("B's ICMPv6 transport got %d requests, want 1", len(got))
			}
			replies := ofType(icmpA.take(), header.ICMPv6EchoReply)
			if len(replies) != 1 {
				t.Fatalf("A got %d replies, want 1", len(replies))
			}
			d := replies[0]
			m := header.ICMPv6(d.payload)
			if m.Code() != 0 || m.Ident() != 0x1234 || m.Sequence() != 7 {
				t.Errorf("reply code %d id %#x seq %d", m.Code(), m.Ident(), m.Sequence())
			}
			if !m.IsChecksumValid(d.info.Source, d.info.Destination) {
				t.Error("reply checksum invalid")
			}
			if !bytes.Equal(m.Payload(), data) {
				t.Errorf("reply data %q, want %q", m.Payload(), data)
			}
			if d.info.Source != tc.dst || d.info.Destination != tc.src || d.info.TTL != ipv6.DefaultHopLimit {
				t.Errorf("reply info %+v", d.info)
			}
			wantCounter(t, b, "ICMPv6.Received.EchoRequest", 1)
			wantCounter(t, b, "ICMPv6.Sent.EchoReply", 1)
			wantCounter(t, a, "ICMPv6.Received.EchoReply", 1)
			wantCounter(t, a, "ICMPv6.Sent.NeighborSolicit", 1)
			wantCounter(t, b, "ICMPv6.Sent.NeighborAdvert", 1)
			// B learnt A from the solicitation (STALE) and needed no
			// solicitation of its own to answer.
			wantCounter(t, b, "ICMPv6.Sent.NeighborSolicit", 0)
		})
	}
}

// An echo request to the all-nodes group is answered from a unicast
// address (RFC 4443 §4.2), unless EchoMulticastReplyOption is off.
func TestPingMulticast(t *testing.T) {
	for _, on := range []bool{true, false} {
		n, a, b, icmpA, _ := twoHosts(t, 1500)
		if !on {
			b.SetNetworkProtocolOption(ipv6Proto, ipv6.EchoMulticastReplyOption(false))
		}
		group := header.IPv6AllNodesMulticastAddr
		if err := send(t, a, group, stack.NetworkHeaderParams{Protocol: tcpip.ICMPv6ProtocolNumber}, echoRequest(linkLocal(1), group, 1, 1, nil)); err != nil {
			t.Fatal(err)
		}
		n.run()
		var replies int
		for _, d := range icmpA.take() {
			if d.payload[0] == byte(header.ICMPv6EchoReply) {
				replies++
				if d.info.Source.IsMulticast() {
					t.Errorf("reply from %s", d.info.Source)
				}
			}
		}
		if want := map[bool]int{true: 1, false: 0}[on]; replies != want {
			t.Errorf("option %v: %d replies, want %d", on, replies, want)
		}
	}
}

// ofType returns the ICMPv6 messages of type typ among ds.
func ofType(ds []delivered, typ header.ICMPv6Type) []delivered {
	var out []delivered
	for _, d := range ds {
		if len(d.payload) > 0 && d.payload[0] == byte(typ) {
			out = append(out, d)
		}
	}
	return out
}
