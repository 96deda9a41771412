package ipv4_test

import (
	"bytes"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// Handle-local: a datagram to the stack's own address loops back inside
// it, whatever its size, and never reaches the wire.
func TestHandleLocal(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	ft, f := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	s := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{f}, handleLocal: true})
	n.addNIC(s, 1, h, mac(1), 1500, "10.0.0.1/24")
	n.run()
	h.Frames()
	data := udpish(1, 2, pattern(3000))
	if err := send(t, s, addr("10.0.0.1"), stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, data); err != nil {
		t.Fatal(err)
	}
	n.run()
	got := ft.take()
	if len(got) != 1 || !bytes.Equal(got[0].payload, data) || got[0].info.Source != addr("10.0.0.1") {
		t.Fatalf("looped back %d datagrams", len(got))
	}
	if fr := h.Frames(); len(fr) != 0 {
		t.Errorf("%d frames on the wire", len(fr))
	}
	wantCounter(t, s, "IPv4.FragmentsCreated", 0)
}

// Multicast loop: a member of the group receives its own datagram, and
// the wire sees it too.
func TestMulticastLoop(t *testing.T) {
	n := newNet(t)
	h := n.hub()
	ft, f := newFakeTransport(tcpip.UDPProtocolNumber, stack.TransportPacketHandled)
	s := n.newStack(stackOpts{transports: []stack.TransportProtocolFactory{f}})
	n.addNIC(s, 1, h, mac(1), 1500, "10.0.0.1/24")
	s.JoinGroup(ipv4Proto, 1, group)
	n.run()
	h.Frames()
	r, err := s.FindRoute(1, addr("10.0.0.1"), group, ipv4Proto, true /* multicastLoop */)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WritePacket(stack.NetworkHeaderParams{Protocol: tcpip.UDPProtocolNumber}, buffer.NewPacketFromBytes(r.MaxHeaderLength(), udpish(1, 2, []byte("m")))); err != nil {
		t.Fatal(err)
	}
	n.run()
	if got := ft.take(); len(got) != 1 || !got[0].info.Multicast {
		t.Fatalf("looped %d", len(got))
	}
	if ips := seenIPv4(h.Frames()); len(ips) != 1 || ips[0].Destination() != group || ips[0].TTL() != 1 {
		t.Fatalf("on the wire: %v", ips)
	}
}

func TestEndpointSizes(t *testing.T) {
	n := newNet(t)
	s := n.newStack(stackOpts{})
	n.addNIC(s, 1, n.hub(), mac(1), 1500, "10.0.0.1/24")
	ep, err := s.NetworkEndpoint(1, ipv4Proto)
	if err != nil {
		t.Fatal(err)
	}
	if ep.MTU() != 1480 || ep.MaxHeaderLength() != 14+60 {
		t.Errorf("MTU %d, MaxHeaderLength %d", ep.MTU(), ep.MaxHeaderLength())
	}
}

// Header-included datagrams: Total Length, checksum, ID and source filled
// in as Linux does; a bad header refused.
func TestWriteHeaderIncluded(t *testing.T) {
	n, a, _, _, _ := twoHosts(t, 1500)
	h := n.hubs[0]
	a.AddLinkAddress(1, addr("10.0.0.2"), mac(2))
	h.Frames()
	r, err := a.FindRoute(0, addr("10.0.0.1"), addr("10.0.0.2"), ipv4Proto, false)
	if err != nil {
		t.Fatal(err)
	}
	f := header.IPv4Fields{TTL: 3, Protocol: 253, Destination: addr("10.0.0.2"), Source: addr("0.0.0.0"), TotalLength: 1}
	raw := make([]byte, 20+5)
	f.Encode(raw)
	copy(raw[20:], "hello")
	raw[10], raw[11] = 0xde, 0xad
	if err := r.WriteHeaderIncludedPacket(buffer.NewPacketFromBytes(r.MaxHeaderLength(), raw)); err != nil {
		t.Fatal(err)
	}
	ips := seenIPv4(h.Frames())
	if len(ips) != 1 {
		t.Fatalf("%d datagrams", len(ips))
	}
	ip := ips[0]
	if ip.TotalLength() != 25 || !ip.IsChecksumValid() || ip.ID() == 0 || ip.Source() != addr("10.0.0.1") || ip.TTL() != 3 || string(ip.Payload()) != "hello" {
		t.Errorf("sent %+v", ip.Fields())
	}
	for _, bad := range [][]byte{raw[:19], append([]byte{0x65}, raw[1:]...), append([]byte{0x44}, raw[1:]...), append([]byte{0x4f}, raw[1:]...)} {
		if err := r.WriteHeaderIncludedPacket(buffer.NewPacketFromBytes(r.MaxHeaderLength(), bad)); err != tcpip.ErrInvalidArgument {
			t.Errorf("bad header %x: %v", bad[:1], err)
		}
	}
	big := make([]byte, 2000)
	copy(big, raw)
	if err := r.WriteHeaderIncludedPacket(buffer.NewPacketFromBytes(r.MaxHeaderLength(), big)); err != tcpip.ErrMessageTooLong {
		t.Errorf("too big: %v", err)
	}
}

// A timestamp option in an echo request comes back with B's timestamps,
// made on the way in and on the way out (RFC 1122 §3.2.2.6).
func TestTimestampOptionEcho(t *testing.T) {
	n, a, _, icmpA, _ := twoHosts(t, 1500)
	a.AddLinkAddress(1, addr("10.0.0.2"), mac(2))
	var opt [40]byte
	ts := (&header.IPv4TimestampOptionFields{Flag: header.IPv4TimestampAndAddress, Slots: 4}).Encode(opt[:])
	msg := echoRequest(3, 3, nil)
	f := header.IPv4Fields{TTL: 64, Protocol: tcpip.ICMPv4ProtocolNumber, Source: addr("10.0.0.1"), Destination: addr("10.0.0.2"), Options: ts}
	raw := make([]byte, f.Size()+len(msg))
	f.Encode(raw)
	copy(raw[f.Size():], msg)
	r, _ := a.FindRoute(0, netipZero, addr("10.0.0.2"), ipv4Proto, false)
	if err := r.WriteHeaderIncludedPacket(buffer.NewPacketFromBytes(r.MaxHeaderLength(), raw)); err != nil {
		t.Fatal(err)
	}
	n.advance(1500e6) // 1.5 s after midnight
	got := icmpA.take()
	if len(got) != 1 {
		t.Fatalf("%d replies", len(got))
	}
	it := header.IPv4(got[0].netHdr).OptionIterator()
	o, _ := it.Next()
	tso, err := o.Timestamp()
	if err != nil {
		t.Fatal(err)
	}
	if tso.Recorded() != 3 {
		t.Fatalf("%d timestamps recorded, want 3 (B in, B out, A in)", tso.Recorded())
	}
	for i, want := range []string{"10.0.0.2", "10.0.0.2", "10.0.0.1"} {
		if e := tso.Entry(i); e.Address != addr(want) || e.Timestamp > 2000 {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
}
