package ipv4_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// udpHosts builds A and B on one hub; B runs a fake UDP (17) that answers
// every datagram with port unreachable, A a fake UDP that takes everything,
// and A has an endpoint for 10.0.0.1:1000 <-> 10.0.0.2:2000 to be told of
// errors.
func udpHosts(t *testing.T) (n *testNet, a, b *stack.Stack, epA *fakeEndpoint) {
	n = newNet(t)
	h := n.hub()
	_, fa := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	_, fb := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketDestinationPortUnreachable)
	a = n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{fa}})
	b = n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{fb}})
	n.addNIC(a, 1, h, mac(1), 1500, "10.0.0.1/24")
	n.addNIC(b, 1, h, mac(2), 1500, "10.0.0.2/24")
	epA = register(t, a, tcpip.UDPProtocolNumber, addr("10.0.0.1"), 1000, addr("10.0.0.2"), 2000)
	n.run()
	h.Frames()
	return n, a, b, epA
}

// RFC 1122 §3.2.2.1: port unreachable for a datagram no endpoint takes;
// the quote is the header and the data, and the sender's endpoint hears
// ECONNREFUSED.
func TestPortUnreachable(t *testing.T) {
	n, a, b, epA := udpHosts(t)
	h := n.hubs[0]
	data := udpish(1000, 2000, pattern(1000))
	if err := send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, data); err != nil {
		t.Fatal(err)
	}
	n.run()
	var msgs []header.ICMPv4
	var ips []header.IPv4
	for _, ip := range seenIPv4(h.Frames()) {
		if ip.Protocol() == tcpip.ICMPv4ProtocolNumber {
			ips = append(ips, ip)
			msgs = append(msgs, icmpOf([]header.IPv4{ip})...)
		}
	}
	if len(msgs) != 1 {
		t.Fatalf("%d ICMP messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Type() != header.ICMPv4DstUnreachable || m.Code() != header.ICMPv4PortUnreachable || !m.IsChecksumValid() {
		t.Errorf("got %v/%d", m.Type(), m.Code())
	}
	// RFC 1812 §4.3.2.3: as much as fits in 576 bytes.
	if len(ips[0]) != 576 || ips[0].TOS() != 0xc0 || ips[0].Source() != addr("10.0.0.2") {
		t.Errorf("error datagram: %d bytes, TOS %#x, from %s", len(ips[0]), ips[0].TOS(), ips[0].Source())
	}
	quote := m.Payload()
	if !bytes.Equal(quote[20:], data[:len(quote)-20]) || header.IPv4(quote).Destination() != addr("10.0.0.2") {
		t.Error("quote is not the datagram")
	}
	errs := epA.takeErrs()
	if len(errs) != 1 || errs[0].Kind != stack.ErrorPortUnreachable || errs[0].Err != tcpip.ErrConnectionRefused || errs[0].Source != addr("10.0.0.2") {
		t.Errorf("endpoint errors: %+v", errs)
	}
	wantCounter(t, b, "ICMPv4.Sent.DstUnreachable", 1)
	wantCounter(t, a, "ICMPv4.Received.DstUnreachable", 1)
}

// A protocol the stack does not run is answered with protocol unreachable.
func TestProtocolUnreachable(t *testing.T) {
	n, a, b, _ := udpHosts(t)
	h := n.hubs[0]
	if err := send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: 200}, []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	n.run()
	msgs := icmpOf(seenIPv4(h.Frames()))
	if len(msgs) != 1 || msgs[0].Type() != header.ICMPv4DstUnreachable || msgs[0].Code() != header.ICMPv4ProtoUnreachable {
		t.Fatalf("want protocol unreachable, got %d messages", len(msgs))
	}
	wantCounter(t, b, "IPv4.UnknownProtocol", 1)
}

// RFC 1812 §4.3.2.8: errors go through the stack's token bucket.
func TestICMPErrorRateLimit(t *testing.T) {
	n, a, b, _ := udpHosts(t)
	h := n.hubs[0]
	b.SetICMPBurst(2)
	b.SetICMPLimit(1)
	for i := range 5 {
		send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1000, uint16(3000+i), nil))
	}
	n.run()
	if msgs := icmpOf(seenIPv4(h.Frames())); len(msgs) != 2 {
		t.Errorf("%d errors sent, want 2", len(msgs))
	}
	wantCounter(t, b, "ICMPv4.RateLimited", 3)
	n.advance(time.Second)
	send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1000, 3000, nil))
	n.run()
	if msgs := icmpOf(seenIPv4(h.Frames())); len(msgs) != 1 {
		t.Errorf("%d errors sent after a second, want 1", len(msgs))
	}
}

// RFC 1122 §3.2.2: no error about a broadcast datagram, nor about a
// fragment other than the first, nor about an ICMP error.
func TestNoICMPErrorAbout(t *testing.T) {
	n, a, b, _ := udpHosts(t)
	h := n.hubs[0]
	send(t, a, addr("10.0.0.255"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1, 2, nil))
	send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: 200}, icmpMessage(header.ICMPv4Fields{Type: header.ICMPv4DstUnreachable}, make([]byte, 28)))
	n.run()
	if msgs := icmpOf(seenIPv4(h.Frames())); len(msgs) != 1 {
		t.Errorf("%d errors, want only the protocol unreachable", len(msgs))
	}
	wantCounter(t, b, "ICMPv4.NotSentToErr", 1)
	// An ICMP error about an ICMP error: B has no ICMP transport, so a
	// destination unreachable it receives is not answered.
	send(t, a, addr("10.0.0.2"), stack.NetworkHeaderParams{Protocol: tcpip.ICMPv4ProtocolNumber}, icmpMessage(header.ICMPv4Fields{Type: header.ICMPv4DstUnreachable}, make([]byte, 28)))
	n.run()
	if msgs := icmpOf(seenIPv4(h.Frames())); len(msgs) != 1 {
		t.Errorf("%d messages, want only the one sent", len(msgs))
	}
}

// Echo requests to a broadcast address are ignored unless the option says
// otherwise; then the reply comes from B's own address.
func TestBroadcastEcho(t *testing.T) {
	n, a, b, _, _ := twoHosts(t, 1500)
	h := n.hubs[0]
	h.Frames()
	send(t, a, addr("10.0.0.255"), stack.NetworkHeaderParams{Protocol: tcpip.ICMPv4ProtocolNumber}, echoRequest(1, 1, nil))
	n.run()
	wantCounter(t, b, "ICMPv4.EchoBroadcastIgnored", 1)
	if msgs := icmpOf(seenIPv4(h.Frames())); len(msgs) != 1 {
		t.Fatalf("%d messages, want the request alone", len(msgs))
	}
	b.SetNetworkProtocolOption(ipv4Proto, ipv4.EchoBroadcastReplyOption(true))
	send(t, a, addr("10.0.0.255"), stack.NetworkHeaderParams{Protocol: tcpip.ICMPv4ProtocolNumber}, echoRequest(1, 2, nil))
	n.run()
	ips := seenIPv4(h.Frames())
	if len(ips) != 2 || ips[1].Source() != addr("10.0.0.2") || ips[1].Destination() != addr("10.0.0.1") {
		t.Fatalf("want request and reply from 10.0.0.2, got %d datagrams", len(ips))
	}
}

// ICMP messages with a bad checksum or too short are counted and dropped.
func TestICMPMalformed(t *testing.T) {
	n, h, b, _ := fragHost(t)
	bad := echoRequest(1, 1, []byte("abc"))
	bad[2] ^= 0xff
	f := header.IPv4Fields{Protocol: tcpip.ICMPv4ProtocolNumber, Source: addr("10.0.0.9"), Destination: addr("10.0.0.2")}
	h.Send(frame(mac(2), mac(9), f, bad))
	h.Send(frame(mac(2), mac(9), f, []byte{8, 0, 0}))
	n.run()
	wantCounter(t, b, "ICMPv4.ChecksumErrors", 1)
	wantCounter(t, b, "ICMPv4.Malformed", 1)
	wantCounter(t, b, "ICMPv4.Sent.EchoReply", 0)
}

// ICMP errors about datagrams this host sent reach the endpoint with the
// error Linux reports for each.
func TestICMPErrorsToTransport(t *testing.T) {
	for _, tc := range []struct {
		typ  header.ICMPv4Type
		code header.ICMPv4Code
		mtu  uint16
		kind stack.TransportErrorKind
		err  error
		info uint32
	}{
		{header.ICMPv4DstUnreachable, header.ICMPv4NetUnreachable, 0, stack.ErrorNetworkUnreachable, tcpip.ErrNetworkUnreachable, 0},
		{header.ICMPv4DstUnreachable, header.ICMPv4HostUnreachable, 0, stack.ErrorHostUnreachable, tcpip.ErrHostUnreachable, 0},
		{header.ICMPv4DstUnreachable, header.ICMPv4ProtoUnreachable, 0, stack.ErrorProtocolUnreachable, tcpip.ErrConnectionRefused, 0},
		{header.ICMPv4DstUnreachable, header.ICMPv4FragmentationNeeded, 1280, stack.ErrorPacketTooBig, tcpip.ErrMessageTooLong, 1280},
		{header.ICMPv4DstUnreachable, header.ICMPv4FragmentationNeeded, 0, stack.ErrorPacketTooBig, tcpip.ErrMessageTooLong, 1006}, // RFC 1191 plateau below 1400
		{header.ICMPv4DstUnreachable, header.ICMPv4AdminProhibited, 0, stack.ErrorAdministrativelyProhibited, tcpip.ErrHostUnreachable, 0},
		{header.ICMPv4TimeExceeded, header.ICMPv4TTLExceeded, 0, stack.ErrorTTLExceeded, tcpip.ErrHostUnreachable, 0},
		{header.ICMPv4ParamProblem, 0, 0, stack.ErrorParameterProblem, tcpip.ErrMalformed, 0},
	} {
		n, h, b, _ := fragHost(t)
		ep := register(t, b, tcpip.UDPProtocolNumber, addr("10.0.0.2"), 53, addr("10.0.0.9"), 4000)
		quoted := frame(mac(9), mac(2), header.IPv4Fields{Protocol: tcpip.UDPProtocolNumber, Source: addr("10.0.0.2"), Destination: addr("10.0.0.9"), TotalLength: 1400}, udpish(53, 4000, nil))[header.EthernetMinimumSize:]
		msg := icmpMessage(header.ICMPv4Fields{Type: tc.typ, Code: tc.code, MTU: tc.mtu}, quoted)
		h.Send(frame(mac(2), mac(9), header.IPv4Fields{Protocol: tcpip.ICMPv4ProtocolNumber, Source: addr("10.0.0.9"), Destination: addr("10.0.0.2")}, msg))
		n.run()
		errs := ep.takeErrs()
		if len(errs) != 1 || errs[0].Kind != tc.kind || errs[0].Err != tc.err || errs[0].Info != tc.info {
			t.Errorf("%v/%d: errors %+v", tc.typ, tc.code, errs)
		}
	}
}

// The neighbour cache gives up on 10.0.0.99 after 3 ARP requests 1 s apart;
// the endpoint that sent to it hears EHOSTUNREACH, and no ICMP is sent.
func TestResolutionFailureTellsTransport(t *testing.T) {
	n, a, _, _ := udpHosts(t)
	h := n.hubs[0]
	ep := register(t, a, tcpip.UDPProtocolNumber, addr("10.0.0.1"), 1000, addr("10.0.0.99"), 2000)
	send(t, a, addr("10.0.0.99"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, udpish(1000, 2000, []byte("hello")))
	n.advance(5 * time.Second)
	errs := ep.takeErrs()
	if len(errs) != 1 || errs[0].Kind != stack.ErrorHostUnreachable || errs[0].Err != tcpip.ErrHostUnreachable {
		t.Fatalf("errors %+v", errs)
	}
	if msgs := icmpOf(seenIPv4(h.Frames())); len(msgs) != 0 {
		t.Errorf("%d ICMP messages sent", len(msgs))
	}
	wantCounter(t, a, "ARP.RequestsSent", 3)
}
