package ipv4_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// routed is A (10.0.1.2) on hub1, router R (10.0.1.1, 10.0.2.1) and B
// (10.0.2.2) on hub2, with default routes through R. A and B run fake ICMP
// and UDP transports; A has a UDP endpoint 10.0.1.2:1000 <-> 10.0.2.2:2000.
type routed struct {
	*testNet
	a, r, b     *stack.Stack
	icmpA, udpB *fakeTransport
	epA         *fakeEndpoint
}

func newRouted(t *testing.T, mtu2 uint32, forwarding bool) *routed {
	n := newNet(t)
	h1, h2 := n.hub(), n.hub()
	icmpA, fia := newFakeTransport(tcpip.ICMPv4ProtocolNumber, stack.TransportPacketHandled)
	_, fua := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	udpB, fub := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	a := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{fia, fua}})
	r := n.newStack(stackOpts{})
	b := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{fub}})
	n.addNIC(a, 1, h1, mac(1), 1500, "10.0.1.2/24")
	n.addNIC(r, 1, h1, mac(0x11), 1500, "10.0.1.1/24")
	n.addNIC(r, 2, h2, mac(0x21), mtu2, "10.0.2.1/24")
	n.addNIC(b, 1, h2, mac(2), mtu2, "10.0.2.2/24")
	a.AddRoute(tcpip.Route{Destination: netip.MustParsePrefix("0.0.0.0/0"), Gateway: addr("10.0.1.1"), NIC: 1})
	b.AddRoute(tcpip.Route{Destination: netip.MustParsePrefix("0.0.0.0/0"), Gateway: addr("10.0.2.1"), NIC: 1})
	if forwarding {
		r.SetForwarding(ipv4Proto, true)
	}
	epA := register(t, a, tcpip.UDPProtocolNumber, addr("10.0.1.2"), 1000, addr("10.0.2.2"), 2000)
	n.run()
	return &routed{testNet: n, a: a, r: r, b: b, icmpA: icmpA, udpB: udpB, epA: epA}
}

func TestForwardPing(t *testing.T) {
	n := newRouted(t, 1500, true)
	data := []byte("through the router")
	send(t, n.a, addr("10.0.2.2"), stack.NetworkHeaderParams{Protocol: tcpip.ICMPv4ProtocolNumber}, echoRequest(5, 1, data))
	n.run()
	got := n.icmpA.take()
	if len(got) != 1 {
		t.Fatalf("A got %d packets, want the reply", len(got))
	}
	m, _ := header.ParseICMPv4(got[0].payload)
	if m.Type() != header.ICMPv4EchoReply || !bytes.Equal(m.Payload(), data) || got[0].info.TTL != 63 {
		t.Errorf("reply %v TTL %d", m.Type(), got[0].info.TTL)
	}
	wantCounter(t, n.r, "IPv4.PacketsForwarded", 2)
}

// RFC 1812 §5.3.1: TTL 1 is not forwarded; the sender gets Time Exceeded
// and its endpoint hears of it.
func TestForwardTTLExceeded(t *testing.T) {
	n := newRouted(t, 1500, true)
	send(t, n.a, addr("10.0.2.2"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber, TTL: 1}, udpish(1000, 2000, []byte("x")))
	n.run()
	wantCounter(t, n.r, "IPv4.HopLimitExceeded", 1)
	wantCounter(t, n.r, "ICMPv4.Sent.TimeExceeded", 1)
	errs := n.epA.takeErrs()
	if len(errs) != 1 || errs[0].Kind != stack.ErrorTTLExceeded || errs[0].Source != addr("10.0.1.1") {
		t.Fatalf("errors %+v", errs)
	}
	if len(n.udpB.take()) != 0 {
		t.Error("datagram reached B")
	}
}

// RFC 1191 §4: DF and too big for the next hop: fragmentation needed with
// the next hop's MTU.
func TestForwardFragmentationNeeded(t *testing.T) {
	n := newRouted(t, 1000, true)
	send(t, n.a, addr("10.0.2.2"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber, DF: true}, udpish(1000, 2000, pattern(1400)))
	n.run()
	wantCounter(t, n.r, "IPv4.PacketTooBig", 1)
	errs := n.epA.takeErrs()
	if len(errs) != 1 || errs[0].Kind != stack.ErrorPacketTooBig || errs[0].Info != 1000 || errs[0].Err != tcpip.ErrMessageTooLong {
		t.Fatalf("errors %+v", errs)
	}
}

// Without DF the router fragments; B reassembles the exact datagram.
func TestForwardFragments(t *testing.T) {
	n := newRouted(t, 1000, true)
	data := udpish(1000, 2000, pattern(1400))
	send(t, n.a, addr("10.0.2.2"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, data)
	n.run()
	got := n.udpB.take()
	if len(got) != 1 || !bytes.Equal(got[0].payload, data) {
		t.Fatalf("B got %d datagrams", len(got))
	}
	wantCounter(t, n.r, "IPv4.FragmentsCreated", 2)
	wantCounter(t, n.b, "IPv4.PacketsReassembled", 1)
}

func TestForwardNoRoute(t *testing.T) {
	n := newRouted(t, 1500, true)
	ep := register(t, n.a, tcpip.UDPProtocolNumber, addr("10.0.1.2"), 1000, addr("10.0.3.5"), 2000)
	send(t, n.a, addr("10.0.3.5"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1000, 2000, nil))
	n.run()
	wantCounter(t, n.r, "IPv4.NoRoute", 1)
	errs := ep.takeErrs()
	if len(errs) != 1 || errs[0].Kind != stack.ErrorNetworkUnreachable || errs[0].Err != tcpip.ErrNetworkUnreachable {
		t.Fatalf("errors %+v", errs)
	}
}

func TestForwardRefused(t *testing.T) {
	n := newRouted(t, 1500, true)
	// RFC 3927 §7: link-local addresses are never forwarded.
	send(t, n.a, addr("169.254.1.1"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1, 2, nil))
	n.run()
	wantCounter(t, n.r, "IPv4.LinkLocalNotForwarded", 1)

	// Forwarding off: a datagram not for R is dropped.
	n.r.SetForwarding(ipv4Proto, false)
	send(t, n.a, addr("10.0.2.2"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1, 2, nil))
	n.run()
	wantCounter(t, n.r, "IPv4.InvalidDestination", 1)
	if len(n.udpB.take()) != 0 {
		t.Error("forwarded with forwarding off")
	}
}

// A ping with the record route option through the router comes back with
// the route of the whole round trip (RFC 791, RFC 1122 §3.2.2.6): R's
// outgoing interface, B on the way in and out, R again, A on the way in.
func TestRecordRoutePing(t *testing.T) {
	n := newRouted(t, 1500, true)
	var opt [header.IPv4MaximumOptionsSize]byte
	rr := (&header.IPv4RecordRouteOptionFields{Slots: 9}).Encode(opt[:])
	msg := echoRequest(9, 9, []byte("rr"))
	f := header.IPv4Fields{TTL: 64, Protocol: tcpip.ICMPv4ProtocolNumber, Source: addr("10.0.1.2"), Destination: addr("10.0.2.2"), Options: rr}
	f.TotalLength = uint16(f.Size() + len(msg))
	raw := make([]byte, f.Size()+len(msg))
	f.Encode(raw)
	copy(raw[f.Size():], msg)
	r, err := n.a.FindRoute(0, netip.Addr{}, addr("10.0.2.2"), ipv4Proto, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHeaderIncludedPacket(buffer.NewPacketFromBytes(r.MaxHeaderLength(), raw)); err != nil {
		t.Fatal(err)
	}
	n.run()
	got := n.icmpA.take()
	if len(got) != 1 {
		t.Fatalf("A got %d packets", len(got))
	}
	ip := header.IPv4(got[0].netHdr)
	it := ip.OptionIterator()
	o, ok := it.Next()
	if !ok || o.Kind != header.IPv4OptionRecordRoute {
		t.Fatalf("reply has no record route option")
	}
	route, err := o.Route()
	if err != nil {
		t.Fatal(err)
	}
	var recorded []string
	for i := range route.Recorded() {
		recorded = append(recorded, route.Address(i).String())
	}
	want := []string{"10.0.2.1", "10.0.2.2", "10.0.2.2", "10.0.1.1", "10.0.1.2"}
	if !slicesEqual(recorded, want) {
		t.Errorf("recorded %v, want %v", recorded, want)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A router sends Time Exceeded about an expiring echo request (a query),
// never about an expiring ICMP error.
func TestForwardTTLExceededICMP(t *testing.T) {
	n := newRouted(t, 1500, true)
	send(t, n.a, addr("10.0.2.2"), stack.NetworkHeaderParams{Protocol: tcpip.ICMPv4ProtocolNumber, TTL: 1}, echoRequest(1, 1, nil))
	n.run()
	wantCounter(t, n.r, "ICMPv4.Sent.TimeExceeded", 1)
	send(t, n.a, addr("10.0.2.2"), stack.NetworkHeaderParams{Protocol: tcpip.ICMPv4ProtocolNumber, TTL: 1}, icmpMessage(header.ICMPv4Fields{Type: header.ICMPv4DstUnreachable}, make([]byte, 28)))
	send(t, n.a, addr("10.0.2.2"), stack.NetworkHeaderParams{Protocol: tcpip.ICMPv4ProtocolNumber, TTL: 1}, icmpMessage(header.ICMPv4Fields{Type: 99}, make([]byte, 28)))
	n.run()
	wantCounter(t, n.r, "ICMPv4.Sent.TimeExceeded", 1)
	wantCounter(t, n.r, "ICMPv4.NotSentToErr", 2)
}

// RFC 1812 §5.2.7.1: when the router cannot resolve the next hop, the
// sender of the forwarded datagram is told with host unreachable.
func TestForwardResolutionFailure(t *testing.T) {
	n := newRouted(t, 1500, true)
	ep := register(t, n.a, tcpip.UDPProtocolNumber, addr("10.0.1.2"), 1000, addr("10.0.2.77"), 2000)
	send(t, n.a, addr("10.0.2.77"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1000, 2000, []byte("anyone?")))
	n.advance(5 * time.Second)
	errs := ep.takeErrs()
	if len(errs) != 1 || errs[0].Kind != stack.ErrorHostUnreachable || errs[0].Err != tcpip.ErrHostUnreachable || errs[0].Source != addr("10.0.1.1") {
		t.Fatalf("errors %+v", errs)
	}
	wantCounter(t, n.r, "ICMPv4.Sent.DstUnreachable", 1)
	wantCounter(t, n.r, "ARP.RequestsSent", 3)
}
