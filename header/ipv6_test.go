package header

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

// ipv6TestPacket returns an IPv6 packet from fe80::1 to ff02::1 with
// payload p after a header announcing next.
func ipv6TestPacket(next tcpip.TransportProtocolNumber, p []byte) []byte {
	f := IPv6Fields{
		TrafficClass:  0xb8,
		FlowLabel:     0x12345,
		PayloadLength: uint16(len(p)),
		NextHeader:    next,
		HopLimit:      64,
		Src:           netip.MustParseAddr("fe80::1"),
		Dst:           netip.MustParseAddr("ff02::1"),
	}
	b := make([]byte, IPv6MinimumSize+len(p))
	f.Encode(b)
	copy(b[IPv6MinimumSize:], p)
	return b
}

func TestIPv6Accessors(t *testing.T) {
	b := ipv6TestPacket(tcpip.UDPProtocolNumber, []byte{1, 2, 3, 4})
	want := []byte{
		0x6b, 0x81, 0x23, 0x45, // version 6, TC 0xb8, flow 0x12345
		0x00, 0x04, 17, 64,
		0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		1, 2, 3, 4,
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded\n% x\nwant\n% x", b, want)
	}
	h, err := ParseIPv6(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version() != 6 || h.TrafficClass() != 0xb8 || h.DSCP() != 46 || h.ECN() != 0 ||
		h.FlowLabel() != 0x12345 || h.PayloadLength() != 4 || h.NextHeader() != tcpip.UDPProtocolNumber ||
		h.HopLimit() != 64 || h.Source() != netip.MustParseAddr("fe80::1") ||
		h.Destination() != IPv6AllNodesMulticastAddr || !bytes.Equal(h.Payload(), []byte{1, 2, 3, 4}) {
		t.Errorf("accessors: %+v payload % x", h.Fields(), h.Payload())
	}

	h.SetTrafficClass(0x03)
	if h.TrafficClass() != 3 || h.ECN() != 3 || h.DSCP() != 0 || h.FlowLabel() != 0x12345 || h.Version() != 6 {
		t.Errorf("SetTrafficClass: tc %#x flow %#x version %d", h.TrafficClass(), h.FlowLabel(), h.Version())
	}
	h.SetHopLimit(1)
	h.SetNextHeader(tcpip.TCPProtocolNumber)
	h.SetPayloadLength(2)
	h.SetSource(netip.MustParseAddr("2001:db8::5"))
	h.SetDestination(netip.MustParseAddr("2001:db8::6"))
	if h.HopLimit() != 1 || h.NextHeader() != tcpip.TCPProtocolNumber || h.PayloadLength() != 2 ||
		h.Source() != netip.MustParseAddr("2001:db8::5") || h.Destination() != netip.MustParseAddr("2001:db8::6") ||
		!bytes.Equal(h.Payload(), []byte{1, 2}) {
		t.Errorf("setters: %+v", h.Fields())
	}
	// Payload never runs past the view, whatever Payload Length says.
	h.SetPayloadLength(1000)
	if len(h.Payload()) != 4 {
		t.Errorf("Payload with a Payload Length past the view: %d bytes", len(h.Payload()))
	}
	h.SetSource(netip.MustParseAddr("192.0.2.1"))
	if h.Source() != netip.MustParseAddr("::ffff:192.0.2.1") {
		t.Errorf("SetSource(IPv4) = %v", h.Source())
	}
	h.SetDestination(netip.Addr{})
	if h.Destination() != netip.IPv6Unspecified() {
		t.Errorf("SetDestination(zero) = %v", h.Destination())
	}
}

func TestIPv6RoundTrip(t *testing.T) {
	for _, f := range []IPv6Fields{
		{},
		{Src: netip.IPv6Unspecified(), Dst: netip.IPv6Unspecified()},
		{
			TrafficClass: 0xff, FlowLabel: IPv6FlowLabelMask, PayloadLength: 8,
			NextHeader: 255, HopLimit: 255,
			Src: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
			Dst: netip.MustParseAddr("2001:db8::1"),
		},
		{TrafficClass: 1, FlowLabel: 1, PayloadLength: 1, NextHeader: tcpip.ICMPv6ProtocolNumber, HopLimit: 1,
			Src: netip.MustParseAddr("fe80::1"), Dst: IPv6AllMLDv2RoutersMulticastAddr},
		{PayloadLength: 0, NextHeader: tcpip.IPv6NoNextHeaderNumber, HopLimit: 255,
			Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::1")},
	} {
		b := make([]byte, IPv6MinimumSize+int(f.PayloadLength))
		f.Encode(b)
		h, err := ParseIPv6(b)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		want := f
		if !want.Src.IsValid() {
			want.Src = netip.IPv6Unspecified()
		}
		if !want.Dst.IsValid() {
			want.Dst = netip.IPv6Unspecified()
		}
		if got := h.Fields(); got != want {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
		if len(h.Payload()) != int(f.PayloadLength) {
			t.Errorf("payload %d bytes, want %d", len(h.Payload()), f.PayloadLength)
		}
	}
	// Flow label bits above 20 are dropped, not spilled into the traffic
	// class.
	f := IPv6Fields{TrafficClass: 0, FlowLabel: 0xfff00001}
	h := f.Encode(make([]byte, IPv6MinimumSize))
	if h.TrafficClass() != 0 || h.FlowLabel() != 1 || h.Version() != 6 {
		t.Errorf("oversized flow label: tc %#x flow %#x", h.TrafficClass(), h.FlowLabel())
	}
}

func TestParseIPv6Malformed(t *testing.T) {
	full := ipv6TestPacket(tcpip.UDPProtocolNumber, []byte("0123456789abcdef"))
	for n := range len(full) {
		_, err := ParseIPv6(full[:n])
		want := ErrTruncated
		if n >= IPv6MinimumSize {
			want = ErrBadTotalLength
		}
		if err != want {
			t.Errorf("ParseIPv6(%d of %d bytes) = %v, want %v", n, len(full), err, want)
		}
		if !errors.Is(err, tcpip.ErrMalformed) {
			t.Errorf("error %v does not match tcpip.ErrMalformed", err)
		}
	}
	for _, v := range []byte{0, 4, 5, 7, 15} {
		b := bytes.Clone(full)
		b[0] = v<<4 | b[0]&0xf
		if _, err := ParseIPv6(b); err != ErrBadVersion {
			t.Errorf("version %d: %v, want ErrBadVersion", v, err)
		}
	}
	// Link padding after the payload is not part of the packet.
	padded := append(bytes.Clone(full), 0, 0, 0, 0)
	h, err := ParseIPv6(padded)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != len(full) || string(h.Payload()) != "0123456789abcdef" {
		t.Errorf("padded: view %d bytes, payload %q", len(h), h.Payload())
	}
	// Payload Length 0 is an empty payload (no jumbogram support), even
	// with bytes after the header.
	b := bytes.Clone(full)
	IPv6(b).SetPayloadLength(0)
	h, err = ParseIPv6(b)
	if err != nil || len(h.Payload()) != 0 || len(h) != IPv6MinimumSize {
		t.Errorf("payload length 0: %v, payload %d bytes", err, len(h.Payload()))
	}
}

func TestIPv6Addresses(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"fe80::2ab:cdff:fe12:3456", "ff02::1:ff12:3456"},
		{"2001:db8::1", "ff02::1:ff00:1"},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "ff02::1:ffff:ffff"},
		{"::", "ff02::1:ff00:0"},
	} {
		if got := SolicitedNodeAddr(netip.MustParseAddr(tc.addr)); got != netip.MustParseAddr(tc.want) {
			t.Errorf("SolicitedNodeAddr(%s) = %v, want %s", tc.addr, got, tc.want)
		}
	}
	if got := SolicitedNodeAddr(netip.MustParseAddr("192.0.2.1")); got.IsValid() {
		t.Errorf("SolicitedNodeAddr(IPv4) = %v", got)
	}
	if got := SolicitedNodeAddr(netip.Addr{}); got.IsValid() {
		t.Errorf("SolicitedNodeAddr(zero) = %v", got)
	}

	for _, tc := range []struct{ mac, want string }{
		// RFC 4291 App. A: the U/L bit is inverted.
		{"00:11:22:33:44:55", "fe80::211:22ff:fe33:4455"},
		{"02:00:00:00:00:01", "fe80::ff:fe00:1"},
		{"ff:ff:ff:ff:ff:ff", "fe80::fdff:ffff:feff:ffff"},
	} {
		mac := tcpip.MustParseLinkAddress(tc.mac)
		if got := LinkLocalAddrFromMAC(mac); got != netip.MustParseAddr(tc.want) {
			t.Errorf("LinkLocalAddrFromMAC(%s) = %v, want %s", tc.mac, got, tc.want)
		}
	}

	for _, tc := range []struct{ addr, want string }{
		{"ff02::1", "33:33:00:00:00:01"},
		{"ff02::1:ff12:3456", "33:33:ff:12:34:56"},
		{"ff05::1:3", "33:33:00:01:00:03"},
		{"ff02::16", "33:33:00:00:00:16"},
		{"2001:db8::1", "00:00:00:00:00:00"},
		{"224.0.0.1", "00:00:00:00:00:00"},
	} {
		got := EthernetAddrFromMulticastIPv6(netip.MustParseAddr(tc.addr))
		if got != tcpip.MustParseLinkAddress(tc.want) {
			t.Errorf("EthernetAddrFromMulticastIPv6(%s) = %v, want %s", tc.addr, got, tc.want)
		}
	}
	for _, tc := range []struct{ addr, want string }{
		{"224.0.0.1", "01:00:5e:00:00:01"},
		{"224.0.0.251", "01:00:5e:00:00:fb"},
		// RFC 1112 §6.4: only the low 23 bits are mapped.
		{"239.255.255.250", "01:00:5e:7f:ff:fa"},
		{"225.128.1.2", "01:00:5e:00:01:02"},
		{"192.0.2.1", "00:00:00:00:00:00"},
		{"ff02::1", "00:00:00:00:00:00"},
	} {
		got := EthernetAddrFromMulticastIPv4(netip.MustParseAddr(tc.addr))
		if got != tcpip.MustParseLinkAddress(tc.want) {
			t.Errorf("EthernetAddrFromMulticastIPv4(%s) = %v, want %s", tc.addr, got, tc.want)
		}
	}
	if EthernetAddrFromMulticastIPv6(netip.Addr{}) != (tcpip.LinkAddress{}) ||
		EthernetAddrFromMulticastIPv4(netip.Addr{}) != (tcpip.LinkAddress{}) {
		t.Error("zero Addr mapped to a link address")
	}

	for a, want := range map[netip.Addr]string{
		IPv6AllNodesMulticastAddr:        "ff02::1",
		IPv6AllRoutersMulticastAddr:      "ff02::2",
		IPv6AllMLDv2RoutersMulticastAddr: "ff02::16",
	} {
		if a != netip.MustParseAddr(want) {
			t.Errorf("%v, want %s", a, want)
		}
	}
}

// ipv6GoldenCase is what a golden IPv6 frame must decode to.
type ipv6GoldenCase struct {
	name   string
	fields IPv6Fields
	// chain lists the types of the items of the header chain, the last
	// one being the upper layer.
	chain []tcpip.TransportProtocolNumber
	// upperLen is the size of the upper-layer item.
	upperLen int
}

func ipv6GoldenPacket(t *testing.T, name string) IPv6 {
	t.Helper()
	frame := golden(t, name)
	eth, err := ParseEthernet(frame)
	if err != nil {
		t.Fatalf("%s: ParseEthernet: %v", name, err)
	}
	if eth.Type() != tcpip.IPv6ProtocolNumber {
		t.Fatalf("%s: EtherType %v", name, eth.Type())
	}
	h, err := ParseIPv6(eth.Payload())
	if err != nil {
		t.Fatalf("%s: ParseIPv6: %v", name, err)
	}
	return h
}

func TestIPv6Golden(t *testing.T) {
	for _, tc := range ipv6GoldenCases {
		t.Run(tc.name, func(t *testing.T) {
			h := ipv6GoldenPacket(t, tc.name)
			if got := h.Fields(); got != tc.fields {
				t.Errorf("fields:\n got %+v\nwant %+v", got, tc.fields)
			}
			if h.Version() != 6 {
				t.Errorf("version %d", h.Version())
			}
			// Re-encode the fixed header from its fields.
			var b [IPv6MinimumSize]byte
			f := h.Fields()
			if enc := f.Encode(b[:]); !bytes.Equal(enc, h[:IPv6MinimumSize]) {
				t.Errorf("re-encoded\n% x\nwant\n% x", enc, h[:IPv6MinimumSize])
			}
			it := h.ExtHdrs()
			var chain []tcpip.TransportProtocolNumber
			var last IPv6ExtHdr
			for e, ok := it.Next(); ok; e, ok = it.Next() {
				chain = append(chain, e.Type)
				last = e
			}
			if it.Err() != nil {
				t.Fatalf("ext headers: %v at %d", it.Err(), it.ErrOffset())
			}
			if !slicesEqualProto(chain, tc.chain) {
				t.Errorf("chain %v, want %v", chain, tc.chain)
			}
			if !last.UpperLayer || len(last.Bytes) != tc.upperLen ||
				last.Offset+len(last.Bytes) != len(h) {
				t.Errorf("upper layer %+v, want %d bytes ending the packet", last, tc.upperLen)
			}

			// Every truncation of the packet fails to parse.
			for n := range len(h) {
				want := ErrTruncated
				if n >= IPv6MinimumSize {
					want = ErrBadTotalLength
				}
				if _, err := ParseIPv6(h[:n]); err != want {
					t.Errorf("ParseIPv6(%d of %d bytes) = %v, want %v", n, len(h), err, want)
				}
			}
			// Every cut of the payload, with Payload Length to match:
			// a cut inside an extension header is ErrTruncated, a cut
			// inside the upper layer shortens it.
			for n := IPv6MinimumSize; n < len(h); n++ {
				b := bytes.Clone(h[:n])
				IPv6(b).SetPayloadLength(uint16(n - IPv6MinimumSize))
				cut, err := ParseIPv6(b)
				if err != nil {
					t.Fatal(err)
				}
				it := cut.ExtHdrs()
				var end IPv6ExtHdr
				for e, ok := it.Next(); ok; e, ok = it.Next() {
					end = e
				}
				if n < last.Offset {
					if it.Err() != ErrTruncated || it.ErrOffset() < IPv6MinimumSize || it.ErrOffset() > n {
						t.Errorf("cut at %d: %v at %d, want ErrTruncated", n, it.Err(), it.ErrOffset())
					}
				} else if it.Err() != nil || !end.UpperLayer || end.Offset != last.Offset || len(end.Bytes) != n-last.Offset {
					t.Errorf("cut at %d: %v, last item %+v", n, it.Err(), end)
				}
			}
		})
	}
}

func slicesEqualProto(a, b []tcpip.TransportProtocolNumber) bool {
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

func TestIPv6Allocs(t *testing.T) {
	b := ipv6TestPacket(tcpip.UDPProtocolNumber, make([]byte, 8))
	var out [IPv6MinimumSize]byte
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		h, err := ParseIPv6(b)
		if err != nil {
			t.Fatal(err)
		}
		f := h.Fields()
		f.Encode(out[:])
		sink += int(h.Version()+h.TrafficClass()+h.DSCP()+h.ECN()+h.HopLimit()) +
			int(h.FlowLabel()) + int(h.PayloadLength()) + int(h.NextHeader()) + len(h.Payload())
		if h.Source().Is4() || h.Destination().Is4() {
			sink++
		}
		h.SetHopLimit(h.HopLimit())
		h.SetPayloadLength(h.PayloadLength())
		h.SetSource(f.Src)
		h.SetDestination(f.Dst)
		h.SetTrafficClass(f.TrafficClass)
		h.SetNextHeader(f.NextHeader)
		a := SolicitedNodeAddr(f.Src)
		m := EthernetAddrFromMulticastIPv6(a)
		m4 := EthernetAddrFromMulticastIPv4(netip.AddrFrom4([4]byte{224, 0, 0, 1}))
		ll := LinkLocalAddrFromMAC(m)
		sink += int(m[5]) + int(m4[5]) + ll.BitLen()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
	_ = sink
}

func FuzzParseIPv6(f *testing.F) {
	for _, tc := range ipv6GoldenCases {
		frame := golden(f, tc.name)
		if len(frame) > EthernetMinimumSize {
			f.Add(frame[EthernetMinimumSize:])
		}
	}
	f.Add(ipv6TestPacket(tcpip.UDPProtocolNumber, []byte{1, 2, 3, 4}))
	f.Add(ipv6TestPacket(tcpip.IPv6HopByHopProtocolNumber, []byte{59, 0, 5, 2, 0, 0, 1, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseIPv6(b)
		if err != nil {
			if h != nil {
				t.Fatal("non-nil view with an error")
			}
			return
		}
		if len(h) < IPv6MinimumSize || len(h) > len(b) || len(h.Payload()) != int(h.PayloadLength()) {
			t.Fatalf("view %d bytes of %d, payload %d, payload length %d",
				len(h), len(b), len(h.Payload()), h.PayloadLength())
		}
		_ = h.DSCP() + h.ECN() + h.HopLimit()
		f := h.Fields()
		var out [IPv6MinimumSize]byte
		if enc := f.Encode(out[:]); !bytes.Equal(enc, h[:IPv6MinimumSize]) {
			t.Fatalf("re-encoded\n% x\nwant\n% x", enc, h[:IPv6MinimumSize])
		}
		ipv6FuzzWalk(t, h.ExtHdrs(), len(h))
	})
}

// ipv6FuzzWalk walks a header chain and every options area in it, checking
// that items tile the packet, up to its end of n bytes.
func ipv6FuzzWalk(t *testing.T, it IPv6ExtHdrIterator, n int) {
	t.Helper()
	end := -1
	sawUpper := false
	for e, ok := it.Next(); ok; e, ok = it.Next() {
		if sawUpper {
			t.Fatal("item after the upper layer")
		}
		if end >= 0 && e.Offset != end {
			t.Fatalf("item at %d, previous ended at %d", e.Offset, end)
		}
		end = e.Offset + len(e.Bytes)
		if e.UpperLayer {
			sawUpper = true
			if end != n {
				t.Fatalf("upper layer ends at %d, packet at %d", end, n)
			}
			continue
		}
		if len(e.Bytes)%4 != 0 || len(e.Bytes) < IPv6ExtHdrMinimumSize || e.NextHeader != tcpip.TransportProtocolNumber(e.Bytes[0]) {
			t.Fatalf("bad item %+v", e)
		}
		ipv6FuzzExtHdr(t, e)
	}
	if (it.Err() == nil) != sawUpper {
		t.Fatalf("err %v, upper layer seen %v", it.Err(), sawUpper)
	}
	if it.Err() != nil && (it.ErrOffset() < 0 || it.ErrOffset() > n) {
		t.Fatalf("error offset %d outside the packet of %d bytes", it.ErrOffset(), n)
	}
	if _, ok := it.Next(); ok {
		t.Fatal("Next after the end")
	}
}

// ipv6FuzzExtHdr calls every typed view on one extension header.
func ipv6FuzzExtHdr(t *testing.T, e IPv6ExtHdr) {
	t.Helper()
	switch e.Type {
	case tcpip.IPv6HopByHopProtocolNumber, tcpip.IPv6DestinationOptionsNumber:
		oh, err := ParseIPv6OptionsHeader(e.Bytes)
		if err != nil || len(oh) != len(e.Bytes) {
			t.Fatalf("ParseIPv6OptionsHeader: %v", err)
		}
		of := oh.Fields()
		if enc := of.Encode(make([]byte, of.Size())); !bytes.Equal(enc, oh) {
			t.Fatalf("options header re-encoded\n% x\nwant\n% x", enc, oh)
		}
		pos := e.Offset + 2
		it := e.Options()
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if o.Offset != pos {
				t.Fatalf("option at %d, want %d", o.Offset, pos)
			}
			if o.Type == IPv6OptionPad1 {
				pos++
			} else {
				pos += 2 + len(o.Data)
			}
			_, _ = o.RouterAlert()
			_, _ = o.Type.Action(), o.Type.MayChange()
		}
		if it.Err() == nil && pos != e.Offset+len(e.Bytes) {
			t.Fatalf("options end at %d, header at %d", pos, e.Offset+len(e.Bytes))
		}
		if it.Err() != nil && (it.ErrOffset() < e.Offset+2 || it.ErrOffset() >= e.Offset+len(e.Bytes)) {
			t.Fatalf("option error offset %d outside the header [%d, %d)", it.ErrOffset(), e.Offset, e.Offset+len(e.Bytes))
		}
	case tcpip.IPv6RoutingProtocolNumber:
		rh, err := ParseIPv6RoutingHeader(e.Bytes)
		if err != nil || len(rh) != len(e.Bytes) {
			t.Fatalf("ParseIPv6RoutingHeader: %v", err)
		}
		rf := rh.Fields()
		if enc := rf.Encode(make([]byte, rf.Size())); !bytes.Equal(enc, rh) {
			t.Fatalf("routing header re-encoded\n% x\nwant\n% x", enc, rh)
		}
		if sr, err := rh.SegmentRouting(); err == nil {
			_ = sr.NextHeader() + tcpip.TransportProtocolNumber(sr.SegmentsLeft()+sr.Flags()) + tcpip.TransportProtocolNumber(sr.Tag())
			for i := -1; i <= sr.NumSegments(); i++ {
				_ = sr.Segment(i)
			}
			_ = sr.TLVs()
		}
	case tcpip.IPv6FragmentProtocolNumber:
		fh, err := ParseIPv6FragmentHeader(e.Bytes)
		if err != nil {
			t.Fatalf("ParseIPv6FragmentHeader: %v", err)
		}
		ff := fh.Fields()
		enc := ff.Encode(make([]byte, IPv6FragmentHeaderSize))
		got, _ := ParseIPv6FragmentHeader(enc)
		if got.Fields() != ff || got.IsAtomic() != fh.IsAtomic() {
			t.Fatalf("fragment header round trip %+v, want %+v", got.Fields(), ff)
		}
	}
}

// ipv6GoldenCases are the golden frames carrying IPv6, with the values
// decoded by hand from their hex.
var ipv6GoldenCases = []ipv6GoldenCase{
	{
		name: "ipv6_icmpv6_echo_request",
		fields: IPv6Fields{FlowLabel: 0xef757, PayloadLength: 64, NextHeader: ipv6TestICMP, HopLimit: 64,
			Src: netip.MustParseAddr("fd00:99::1"), Dst: netip.MustParseAddr("fd00:99::2")},
		chain: []tcpip.TransportProtocolNumber{ipv6TestICMP}, upperLen: 64,
	},
	{
		// The walk goes on after a first fragment: the ICMPv6 header is
		// there (RFC 7112).
		name: "ipv6_frag_first",
		fields: IPv6Fields{FlowLabel: 0xef757, PayloadLength: 1456, NextHeader: ipv6TestFrag, HopLimit: 64,
			Src: netip.MustParseAddr("fd00:99::1"), Dst: netip.MustParseAddr("fd00:99::2")},
		chain: []tcpip.TransportProtocolNumber{ipv6TestFrag, ipv6TestICMP}, upperLen: 1448,
	},
	{
		// After a later fragment the rest is data, typed ICMPv6 by the
		// Fragment header.
		name: "ipv6_frag_last",
		fields: IPv6Fields{FlowLabel: 0xef757, PayloadLength: 120, NextHeader: ipv6TestFrag, HopLimit: 64,
			Src: netip.MustParseAddr("fd00:99::1"), Dst: netip.MustParseAddr("fd00:99::2")},
		chain: []tcpip.TransportProtocolNumber{ipv6TestFrag, ipv6TestICMP}, upperLen: 112,
	},
	{
		name: "ipv6_udp",
		fields: IPv6Fields{FlowLabel: 0x29f40, PayloadLength: 21, NextHeader: ipv6TestUDP, HopLimit: 64,
			Src: netip.MustParseAddr("fd00:99::1"), Dst: netip.MustParseAddr("fd00:99::2")},
		chain: []tcpip.TransportProtocolNumber{ipv6TestUDP}, upperLen: 21,
	},
	{
		name: "ipv6_tcp_syn",
		fields: IPv6Fields{FlowLabel: 0x9ebf6, PayloadLength: 40, NextHeader: ipv6TestTCP, HopLimit: 64,
			Src: netip.MustParseAddr("fd00:99::1"), Dst: netip.MustParseAddr("fd00:99::2")},
		chain: []tcpip.TransportProtocolNumber{ipv6TestTCP}, upperLen: 40,
	},
	{
		name: "ipv6_dstopts",
		fields: IPv6Fields{FlowLabel: 0x097f7, PayloadLength: 23, NextHeader: ipv6TestDst, HopLimit: 64,
			Src: netip.MustParseAddr("fd00:99::1"), Dst: netip.MustParseAddr("fd00:99::2")},
		chain: []tcpip.TransportProtocolNumber{ipv6TestDst, ipv6TestUDP}, upperLen: 15,
	},
	{
		// The destination is the active segment, not the final one.
		name: "ipv6_routing",
		fields: IPv6Fields{FlowLabel: 0xe0e93, PayloadLength: 120, NextHeader: ipv6TestRT, HopLimit: 64,
			Src: netip.MustParseAddr("fd00:99::1"), Dst: netip.MustParseAddr("fd00:99::2")},
		chain: []tcpip.TransportProtocolNumber{ipv6TestRT, ipv6TestICMP}, upperLen: 64,
	},
	{
		// MLD: hop limit 1 from the link-local address (RFC 3810 §5).
		name: "ipv6_hbh_mldv2_report",
		fields: IPv6Fields{PayloadLength: 36, NextHeader: ipv6TestHBH, HopLimit: 1,
			Src: netip.MustParseAddr("fe80::99:ff:fe00:1"), Dst: IPv6AllMLDv2RoutersMulticastAddr},
		chain: []tcpip.TransportProtocolNumber{ipv6TestHBH, ipv6TestICMP}, upperLen: 28,
	},
	{
		name: "ipv6_icmpv6_param_problem",
		fields: IPv6Fields{FlowLabel: 0x07831, PayloadLength: 70, NextHeader: ipv6TestICMP, HopLimit: 64,
			Src: netip.MustParseAddr("fd00:99::2"), Dst: netip.MustParseAddr("fd00:99::1")},
		chain: []tcpip.TransportProtocolNumber{ipv6TestICMP}, upperLen: 70,
	},
}
