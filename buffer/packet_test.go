package buffer

import (
	"bytes"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

func TestPacketOutbound(t *testing.T) {
	leakCheck(t)
	var payload Buffer
	data := pattern(1, 3000)
	payload.Append(data)
	grows := ReadStats().HeaderGrows
	p := NewPacket(14+20+20, &payload)
	checkEqual(t, &payload, nil)
	if p.Headroom() < 54 || p.HeaderLen() != 0 || p.Len() != 3000 {
		t.Fatalf("new packet: headroom %d, headers %d, len %d", p.Headroom(), p.HeaderLen(), p.Len())
	}
	tcp := p.PrependHeader(TransportLayer, 20)
	copy(tcp, bytes.Repeat([]byte{'T'}, 20))
	ip := p.PrependHeader(NetworkLayer, 20)
	copy(ip, bytes.Repeat([]byte{'I'}, 20))
	eth := p.PrependHeader(LinkLayer, 14)
	copy(eth, bytes.Repeat([]byte{'E'}, 14))
	if ReadStats().HeaderGrows != grows {
		t.Error("header area grew within its headroom")
	}
	wantHdr := "EEEEEEEEEEEEEE" + "IIIIIIIIIIIIIIIIIIII" + "TTTTTTTTTTTTTTTTTTTT"
	if string(p.Headers()) != wantHdr || p.HeaderLen() != 54 || p.Len() != 3054 {
		t.Errorf("Headers = %q", p.Headers())
	}
	if string(p.LinkHeader()) != wantHdr[:14] || string(p.NetworkHeader()) != wantHdr[14:34] ||
		string(p.TransportHeader()) != wantHdr[34:] {
		t.Error("layer headers wrong")
	}
	if cap(p.NetworkHeader()) != 20 {
		t.Error("a header slice can be appended into its neighbour")
	}
	if got := p.AppendTo(nil); string(got) != wantHdr+string(data) {
		t.Error("AppendTo wrong")
	}
	var pieces []byte
	n := 0
	for b := range p.All() {
		pieces = append(pieces, b...)
		n++
	}
	if string(pieces) != wantHdr+string(data) || n != 2 {
		t.Errorf("All: %d pieces", n)
	}
	p.Release()
}

func TestPacketPrependZeroes(t *testing.T) {
	leakCheck(t)
	p := NewPacket(64, nil)
	copy(p.Prepend(64), bytes.Repeat([]byte{0xff}, 64))
	p.Release()
	q := NewPacket(64, nil) // likely the same chunk again
	if b := q.Prepend(64); !bytes.Equal(b, make([]byte, 64)) {
		t.Errorf("Prepend returned stale bytes %x", b)
	}
	if q.Prepend(0) != nil || q.PrependHeader(LinkLayer, 0) != nil || q.LinkHeader() != nil {
		t.Error("Prepend(0)")
	}
	q.Release()
}

func TestPacketHeaderGrow(t *testing.T) {
	leakCheck(t)
	for _, headroom := range []int{0, 8, 60} {
		p := NewPacketFromBytes(headroom, []byte("payload"))
		grows := ReadStats().HeaderGrows
		copy(p.PrependHeader(TransportLayer, 8), "UUUUUUUU")
		// IPv6 extension header, then the fixed header, extend one
		// network header to the front.
		copy(p.PrependHeader(NetworkLayer, 16), bytes.Repeat([]byte{'X'}, 16))
		copy(p.PrependHeader(NetworkLayer, 40), bytes.Repeat([]byte{'6'}, 40))
		copy(p.PrependHeader(LinkLayer, 14), bytes.Repeat([]byte{'E'}, 14))
		want := string(bytes.Repeat([]byte{'E'}, 14)) + string(bytes.Repeat([]byte{'6'}, 40)) +
			string(bytes.Repeat([]byte{'X'}, 16)) + "UUUUUUUU"
		if string(p.Headers()) != want {
			t.Errorf("headroom %d: Headers = %q", headroom, p.Headers())
		}
		if string(p.NetworkHeader()) != want[14:70] || string(p.TransportHeader()) != "UUUUUUUU" ||
			string(p.LinkHeader()) != want[:14] {
			t.Errorf("headroom %d: layer headers wrong after growth", headroom)
		}
		if headroom < 78 && ReadStats().HeaderGrows == grows && headroom > 0 {
			t.Errorf("headroom %d: growth not counted", headroom)
		}
		if got := p.AppendTo(nil); string(got) != want+"payload" {
			t.Errorf("AppendTo = %q", got)
		}
		p.Release()
	}
}

func TestPacketInbound(t *testing.T) {
	leakCheck(t)
	frame := pattern(3, 14+40+8+20+1000)
	// The frame arrives in several chunks, cut inside the headers.
	var b Buffer
	for _, cut := range [][2]int{{0, 10}, {10, 50}, {50, 1082}} {
		var piece Buffer
		piece.Append(frame[cut[0]:cut[1]])
		b.Merge(&piece)
	}
	p := NewPacket(0, &b)
	p.NIC = 3
	p.Type = PacketMulticast
	p.LinkSource = tcpip.MustParseLinkAddress("02:00:00:00:00:01")

	if h, ok := p.Peek(14); !ok || !bytes.Equal(h, frame[:14]) {
		t.Fatal("Peek(14)")
	}
	if _, ok := p.ConsumeHeader(LinkLayer, 14); !ok {
		t.Fatal("ConsumeHeader(link)")
	}
	if _, ok := p.ConsumeHeader(NetworkLayer, 40); !ok {
		t.Fatal("ConsumeHeader(network)")
	}
	if _, ok := p.ConsumeHeader(NetworkLayer, 8); !ok { // extension header
		t.Fatal("ConsumeHeader(network ext)")
	}
	th, ok := p.ConsumeHeader(TransportLayer, 20)
	if !ok || !bytes.Equal(th, frame[62:82]) {
		t.Fatal("ConsumeHeader(transport)")
	}
	if _, ok := p.ConsumeHeader(TransportLayer, 1001); ok {
		t.Error("consumed past the end")
	}
	if !bytes.Equal(p.LinkHeader(), frame[:14]) || !bytes.Equal(p.NetworkHeader(), frame[14:62]) ||
		!bytes.Equal(p.TransportHeader(), frame[62:82]) || !bytes.Equal(p.Headers(), frame[:82]) {
		t.Error("layer headers wrong")
	}
	checkEqual(t, &p.Payload, frame[82:])
	if got := p.AppendTo(nil); !bytes.Equal(got, frame) {
		t.Error("AppendTo of an inbound packet is not the frame")
	}
	// Headers are private: writing one leaves a clone alone, and the
	// clone shares the payload.
	c := p.Clone()
	p.NetworkHeader()[0] ^= 0xff
	if !bytes.Equal(c.NetworkHeader(), frame[14:62]) || c.NIC != 3 || c.Type != PacketMulticast ||
		c.LinkSource != p.LinkSource {
		t.Error("clone not independent")
	}
	if c.Payload.views()[0].c != p.Payload.views()[0].c {
		t.Error("clone copied the payload")
	}
	p.Release()
	checkEqual(t, &c.Payload, frame[82:])
	if c, ok := c.Consume(0); !ok || c != nil {
		t.Error("Consume(0)")
	}
	c.Release()
}

func TestPacketConsumeGrow(t *testing.T) {
	leakCheck(t)
	frame := pattern(4, 14+40+300+20+10)
	// The frame in two chunks, so that the long header spans them and is
	// copied.
	p := NewPacketFromBytes(0, frame[:60])
	rest := NewPacketFromBytes(0, frame[60:])
	p.Payload.Merge(&rest.Payload)
	rest.Release()
	p.ConsumeHeader(LinkLayer, 14)
	p.ConsumeHeader(NetworkLayer, 40)
	grows := ReadStats().HeaderGrows
	p.ConsumeHeader(NetworkLayer, 300) // beyond the inbound header area
	if ReadStats().HeaderGrows == grows {
		t.Error("growth not counted")
	}
	p.ConsumeHeader(TransportLayer, 20)
	if !bytes.Equal(p.LinkHeader(), frame[:14]) || !bytes.Equal(p.NetworkHeader(), frame[14:354]) ||
		!bytes.Equal(p.TransportHeader(), frame[354:374]) {
		t.Error("layer headers wrong after growth")
	}
	checkEqual(t, &p.Payload, frame[374:])
	// Prepending in front of consumed headers extends the first one: an
	// area without headroom grows to the front.
	copy(p.PrependHeader(LinkLayer, 4), "VLAN")
	if got := p.AppendTo(nil); string(got[:4]) != "VLAN" || !bytes.Equal(got[4:], frame) {
		t.Error("prepend after consume")
	}
	if string(p.LinkHeader()) != "VLAN"+string(frame[:14]) {
		t.Error("extended link header wrong")
	}
	// Forwarding: trim the link header into headroom, prepend a new one
	// in its place without growing.
	grows = ReadStats().HeaderGrows
	p.TrimHeaders(18)
	if p.LinkHeader() != nil || !bytes.Equal(p.Headers(), frame[14:374]) {
		t.Error("TrimHeaders kept the link header")
	}
	copy(p.PrependHeader(LinkLayer, 14), bytes.Repeat([]byte{'L'}, 14))
	if string(p.LinkHeader()) != "LLLLLLLLLLLLLL" || !bytes.Equal(p.NetworkHeader(), frame[14:354]) ||
		ReadStats().HeaderGrows != grows {
		t.Error("re-recorded link header wrong")
	}
	// Trimming into a header cuts it.
	p.TrimHeaders(24)
	if p.LinkHeader() != nil || !bytes.Equal(p.NetworkHeader(), frame[24:354]) {
		t.Error("TrimHeaders did not cut the network header")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("TrimHeaders past the headers did not panic")
			}
		}()
		p.TrimHeaders(p.HeaderLen() + 1)
	}()
	// An unrecorded Consume does not extend the last header.
	q := NewPacketFromBytes(0, frame)
	q.ConsumeHeader(LinkLayer, 14)
	q.Consume(4)
	q.ConsumeHeader(LinkLayer, 2)
	if !bytes.Equal(q.LinkHeader(), frame[18:20]) || q.HeaderLen() != 20 {
		t.Errorf("link header %x", q.LinkHeader())
	}
	p.Release()
	q.Release()
}

func TestPacketPoolReset(t *testing.T) {
	leakCheck(t)
	for range 10 {
		p := NewPacketFromBytes(100, []byte("x"))
		p.PrependHeader(NetworkLayer, 20)
		p.NetworkProtocol = tcpip.IPv4ProtocolNumber
		p.TransportProtocol = tcpip.UDPProtocolNumber
		p.NIC = 7
		p.Release()
		q := NewPacket(0, nil)
		if q.Len() != 0 || q.NetworkHeader() != nil || q.NIC != 0 || q.NetworkProtocol != 0 ||
			q.TransportProtocol != 0 || q.Headers() != nil {
			t.Fatal("pooled packet not reset")
		}
		q.Release()
	}
}

func TestPacketNegativePanics(t *testing.T) {
	leakCheck(t)
	p := NewPacket(0, nil)
	defer p.Release()
	for name, f := range map[string]func(){
		"NewPacket(-1)": func() { NewPacket(-1, nil) },
		"Prepend(-1)":   func() { p.Prepend(-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
	if _, ok := p.Consume(-1); ok {
		t.Error("Consume(-1) succeeded")
	}
}

func TestStrings(t *testing.T) {
	for l, s := range map[Layer]string{LinkLayer: "link", NetworkLayer: "network", TransportLayer: "transport", 9: "layer(?)"} {
		if l.String() != s {
			t.Errorf("%d: %q", l, l.String())
		}
	}
	for ty, s := range map[PacketType]string{PacketHost: "host", PacketBroadcast: "broadcast",
		PacketMulticast: "multicast", PacketOtherHost: "otherhost", PacketOutgoing: "outgoing", 9: "pkttype(?)"} {
		if ty.String() != s {
			t.Errorf("%d: %q", ty, ty.String())
		}
	}
}

func TestCountingOff(t *testing.T) {
	SetCounting(false)
	defer SetCounting(true)
	before := ReadStats()
	p := NewPacketFromBytes(64, pattern(1, 5000))
	mid := ReadStats()
	SetCounting(true) // turned on while p is live: p's release is not counted
	p.Release()
	after := ReadStats()
	if mid.ChunksInUse != before.ChunksInUse || mid.PacketsInUse != before.PacketsInUse ||
		after != before {
		t.Errorf("counting off: %+v → %+v → %+v", before, mid, after)
	}
}

// TestPacketConsumeZeroCopy: headers contiguous in an unshared first chunk
// are consumed in place, and a clone of the frame taken before consuming
// forces the copy, so that writing the headers never shows through.
func TestPacketConsumeZeroCopy(t *testing.T) {
	leakCheck(t)
	frame := pattern(7, 14+20+32+100)
	p := NewPacketFromBytes(0, frame)
	first := p.Payload.views()[0].c
	eth, _ := p.ConsumeHeader(LinkLayer, 14)
	ip, _ := p.ConsumeHeader(NetworkLayer, 20)
	tcp, _ := p.ConsumeHeader(TransportLayer, 32)
	if p.hdr != first {
		t.Fatal("contiguous headers were copied")
	}
	if !bytes.Equal(eth, frame[:14]) || !bytes.Equal(ip, frame[14:34]) || !bytes.Equal(tcp, frame[34:66]) {
		t.Fatal("headers wrong")
	}
	if !bytes.Equal(p.Headers(), frame[:66]) {
		t.Fatal("Headers wrong")
	}
	checkEqual(t, &p.Payload, frame[66:])
	// A clone of the rest of the payload shares the chunk: writing the
	// headers must not change it, and consuming more must copy.
	c := p.Payload.Clone()
	ip[8]--
	checkEqual(t, &c, frame[66:])
	more, _ := p.Consume(10)
	if p.hdr == first {
		t.Error("consumed bytes a clone can see without a copy")
	}
	more[0] ^= 0xff
	checkEqual(t, &c, frame[66:])
	if h := p.Headers(); h[22] != frame[22]-1 || !bytes.Equal(h[:22], frame[:22]) {
		t.Error("headers lost when moved to a private area")
	}
	// Prepending after trimming writes into the headroom.
	p.TrimHeaders(14)
	copy(p.PrependHeader(LinkLayer, 14), "ABCDEFGHIJKLMN")
	checkEqual(t, &c, frame[66:])
	c.Release()
	p.Release()

	// A frame cloned before any consuming (a sniffer's copy) is copied.
	q := NewPacketFromBytes(0, frame)
	qc := q.Clone()
	h, _ := q.ConsumeHeader(LinkLayer, 14)
	h[0] ^= 0xff
	checkEqual(t, &qc.Payload, frame)
	q.Release()
	qc.Release()
}

// TestPacketToInbound: an outbound packet's headers become the front of its
// payload without a copy, and the receiver consumes them without one.
func TestPacketToInbound(t *testing.T) {
	leakCheck(t)
	data := pattern(3, 200)
	p := NewPacketFromBytes(64, data)
	copy(p.PrependHeader(TransportLayer, 20), pattern(1, 20))
	copy(p.PrependHeader(NetworkLayer, 20), pattern(2, 20))
	p.NIC, p.Type = 3, PacketOutgoing
	want := p.AppendTo(nil)
	hdr := p.hdr
	p.ToInbound()
	if p.HeaderLen() != 0 || p.NetworkHeader() != nil || p.NIC != 0 || p.Type != 0 {
		t.Fatal("ToInbound kept headers or metadata")
	}
	checkEqual(t, &p.Payload, want)
	n, _ := p.ConsumeHeader(NetworkLayer, 20)
	if p.hdr != hdr || !bytes.Equal(n, want[:20]) {
		t.Error("network header not consumed in place")
	}
	tr, _ := p.ConsumeHeader(TransportLayer, 20)
	if p.hdr != hdr || !bytes.Equal(tr, want[20:40]) {
		t.Error("transport header not consumed in place")
	}
	checkEqual(t, &p.Payload, data)
	p.Release()

	// A packet without headers.
	q := NewPacketFromBytes(16, data)
	q.ToInbound()
	checkEqual(t, &q.Payload, data)
	q.Release()
}
