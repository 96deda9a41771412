package header

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

// ipv6ExtItem is the part of an IPv6ExtHdr a chain test checks.
type ipv6ExtItem struct {
	typ        tcpip.TransportProtocolNumber
	typeOffset int
	offset     int
	size       int
	next       tcpip.TransportProtocolNumber
	upper      bool
}

func (i ipv6ExtItem) String() string {
	return fmt.Sprintf("{%v at %d (type at %d) %d bytes next %v upper %v}",
		i.typ, i.offset, i.typeOffset, i.size, i.next, i.upper)
}

func ipv6WalkItems(it IPv6ExtHdrIterator) []ipv6ExtItem {
	var items []ipv6ExtItem
	for e, ok := it.Next(); ok; e, ok = it.Next() {
		items = append(items, ipv6ExtItem{e.Type, e.TypeOffset, e.Offset, len(e.Bytes), e.NextHeader, e.UpperLayer})
	}
	return items
}

func ipv6Cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

const (
	ipv6TestHBH  = tcpip.IPv6HopByHopProtocolNumber
	ipv6TestRT   = tcpip.IPv6RoutingProtocolNumber
	ipv6TestFrag = tcpip.IPv6FragmentProtocolNumber
	ipv6TestDst  = tcpip.IPv6DestinationOptionsNumber
	ipv6TestNone = tcpip.IPv6NoNextHeaderNumber
	ipv6TestUDP  = tcpip.UDPProtocolNumber
	ipv6TestTCP  = tcpip.TCPProtocolNumber
	ipv6TestICMP = tcpip.ICMPv6ProtocolNumber
)

func TestIPv6ExtHdrChains(t *testing.T) {
	hbhRA := []byte{byte(ipv6TestDst), 0, 5, 2, 0, 0, 1, 0}
	dst16 := []byte{byte(ipv6TestRT), 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	rt := []byte{byte(ipv6TestFrag), 0, 2, 0, 0, 0, 0, 0}
	fragFirst := []byte{byte(ipv6TestDst), 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef}
	dst8 := []byte{byte(ipv6TestUDP), 0, 1, 4, 0, 0, 0, 0}
	udp := []byte{0x12, 0x34, 0x56, 0x78, 0, 8, 0, 0}

	type tc struct {
		name    string
		next    tcpip.TransportProtocolNumber
		payload []byte
		want    []ipv6ExtItem
		err     error
		errOff  int
	}
	for _, c := range []tc{
		{
			name: "upper layer only", next: ipv6TestUDP, payload: udp,
			want: []ipv6ExtItem{{ipv6TestUDP, 6, 40, 8, ipv6TestNone, true}},
		},
		{
			name: "empty upper layer", next: ipv6TestTCP, payload: nil,
			want: []ipv6ExtItem{{ipv6TestTCP, 6, 40, 0, ipv6TestNone, true}},
		},
		{
			name: "no next header", next: ipv6TestNone, payload: []byte{1, 2, 3},
			want: []ipv6ExtItem{{ipv6TestNone, 6, 40, 3, ipv6TestNone, true}},
		},
		{
			name:    "every header in RFC 8200 order",
			next:    ipv6TestHBH,
			payload: ipv6Cat(hbhRA, dst16, rt, fragFirst, dst8, udp),
			want: []ipv6ExtItem{
				{ipv6TestHBH, 6, 40, 8, ipv6TestDst, false},
				{ipv6TestDst, 40, 48, 16, ipv6TestRT, false},
				{ipv6TestRT, 48, 64, 8, ipv6TestFrag, false},
				{ipv6TestFrag, 64, 72, 8, ipv6TestDst, false},
				{ipv6TestDst, 72, 80, 8, ipv6TestUDP, false},
				{ipv6TestUDP, 80, 88, 8, ipv6TestNone, true},
			},
		},
		{
			name: "non-first fragment ends the walk",
			next: ipv6TestFrag,
			// Offset 8 (one unit): what follows is data, even though
			// the Next Header names Destination Options.
			payload: ipv6Cat([]byte{byte(ipv6TestDst), 0, 0x00, 0x08, 0, 0, 0, 1}, []byte{0xff, 0xff, 0xff}),
			want: []ipv6ExtItem{
				{ipv6TestFrag, 6, 40, 8, ipv6TestDst, false},
				{ipv6TestDst, 40, 48, 3, ipv6TestNone, true},
			},
		},
		{
			name:    "last fragment ends the walk",
			next:    ipv6TestFrag,
			payload: ipv6Cat([]byte{byte(ipv6TestICMP), 0, 0x05, 0xa8, 0, 0, 0, 1}, make([]byte, 16)),
			want: []ipv6ExtItem{
				{ipv6TestFrag, 6, 40, 8, ipv6TestICMP, false},
				{ipv6TestICMP, 40, 48, 16, ipv6TestNone, true},
			},
		},
		{
			name:    "atomic fragment goes on",
			next:    ipv6TestFrag,
			payload: ipv6Cat([]byte{byte(ipv6TestUDP), 0, 0, 0, 0, 0, 0, 9}, udp),
			want: []ipv6ExtItem{
				{ipv6TestFrag, 6, 40, 8, ipv6TestUDP, false},
				{ipv6TestUDP, 40, 48, 8, ipv6TestNone, true},
			},
		},
		{
			name: "first fragment with a chain that does not fit (RFC 7112)",
			next: ipv6TestFrag,
			// M set, offset 0, then a 16-byte Destination Options
			// header of which only 8 bytes are present.
			payload: ipv6Cat([]byte{byte(ipv6TestDst), 0, 0, 1, 0, 0, 0, 9}, []byte{byte(ipv6TestUDP), 1, 1, 4, 0, 0, 0, 0}),
			want:    []ipv6ExtItem{{ipv6TestFrag, 6, 40, 8, ipv6TestDst, false}},
			err:     ErrTruncated, errOff: 49,
		},
		{
			name: "authentication header",
			next: IPv6AHProtocolNumber,
			// Payload Len 4: (4+2)*4 = 24 bytes.
			payload: ipv6Cat([]byte{byte(ipv6TestTCP), 4, 0, 0}, make([]byte, 20), []byte{9, 9}),
			want: []ipv6ExtItem{
				{IPv6AHProtocolNumber, 6, 40, 24, ipv6TestTCP, false},
				{ipv6TestTCP, 40, 64, 2, ipv6TestNone, true},
			},
		},
		{
			name:    "ESP cannot be walked",
			next:    ipv6TestDst,
			payload: ipv6Cat([]byte{byte(IPv6ESPProtocolNumber), 0, 1, 4, 0, 0, 0, 0}, make([]byte, 20)),
			want: []ipv6ExtItem{
				{ipv6TestDst, 6, 40, 8, IPv6ESPProtocolNumber, false},
				{IPv6ESPProtocolNumber, 40, 48, 20, ipv6TestNone, true},
			},
		},
		{
			name: "mobility, HIP, shim6 and experimental headers",
			next: IPv6MobilityProtocolNumber,
			payload: ipv6Cat(
				[]byte{byte(IPv6HIPProtocolNumber), 0, 0, 0, 0, 0, 0, 0},
				[]byte{byte(IPv6Shim6ProtocolNumber), 1}, make([]byte, 14),
				[]byte{byte(IPv6Experimental1ProtocolNumber), 0, 0, 0, 0, 0, 0, 0},
				[]byte{byte(IPv6Experimental2ProtocolNumber), 0, 0, 0, 0, 0, 0, 0},
				[]byte{byte(ipv6TestNone), 0, 0, 0, 0, 0, 0, 0},
			),
			want: []ipv6ExtItem{
				{IPv6MobilityProtocolNumber, 6, 40, 8, IPv6HIPProtocolNumber, false},
				{IPv6HIPProtocolNumber, 40, 48, 16, IPv6Shim6ProtocolNumber, false},
				{IPv6Shim6ProtocolNumber, 48, 64, 8, IPv6Experimental1ProtocolNumber, false},
				{IPv6Experimental1ProtocolNumber, 64, 72, 8, IPv6Experimental2ProtocolNumber, false},
				{IPv6Experimental2ProtocolNumber, 72, 80, 8, ipv6TestNone, false},
				{ipv6TestNone, 80, 88, 0, ipv6TestNone, true},
			},
		},
		{
			name: "unknown number is an upper layer",
			next: ipv6TestDst,
			// 143 (Ethernet, RFC 8986) is not an extension header.
			payload: []byte{143, 0, 1, 4, 0, 0, 0, 0, 0xaa},
			want: []ipv6ExtItem{
				{ipv6TestDst, 6, 40, 8, 143, false},
				{143, 40, 48, 1, ipv6TestNone, true},
			},
		},
		{
			name: "hop-by-hop out of place is yielded",
			next: ipv6TestDst,
			payload: ipv6Cat([]byte{byte(ipv6TestHBH), 0, 1, 4, 0, 0, 0, 0}, hbhRA,
				[]byte{byte(ipv6TestNone), 0, 1, 4, 0, 0, 0, 0}),
			want: []ipv6ExtItem{
				{ipv6TestDst, 6, 40, 8, ipv6TestHBH, false},
				{ipv6TestHBH, 40, 48, 8, ipv6TestDst, false},
				{ipv6TestDst, 48, 56, 8, ipv6TestNone, false},
				{ipv6TestNone, 56, 64, 0, ipv6TestNone, true},
			},
		},
		{
			name: "empty payload after hop-by-hop (payload length 0)",
			next: ipv6TestHBH, payload: nil,
			err: ErrTruncated, errOff: 40,
		},
		{
			name: "one byte of header", next: ipv6TestRT, payload: []byte{17},
			err: ErrTruncated, errOff: 40,
		},
		{
			name: "header length past the end", next: ipv6TestHBH,
			payload: []byte{byte(ipv6TestUDP), 1, 1, 4, 0, 0, 0, 0},
			err:     ErrTruncated, errOff: 41,
		},
		{
			name: "second header past the end", next: ipv6TestHBH,
			payload: ipv6Cat(hbhRA, []byte{byte(ipv6TestUDP), 0, 1, 4, 0, 0, 0}),
			want:    []ipv6ExtItem{{ipv6TestHBH, 6, 40, 8, ipv6TestDst, false}},
			err:     ErrTruncated, errOff: 49,
		},
		{
			name: "fragment header short", next: ipv6TestFrag,
			payload: []byte{byte(ipv6TestUDP), 0, 0, 0, 0, 0, 0},
			err:     ErrTruncated, errOff: 40,
		},
		{
			name: "AH past the end", next: IPv6AHProtocolNumber,
			payload: []byte{byte(ipv6TestUDP), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			err:     ErrTruncated, errOff: 41,
		},
		{
			name: "maximum header length", next: ipv6TestDst,
			payload: ipv6Cat([]byte{byte(ipv6TestUDP), 255, 1, 255}, make([]byte, 255), []byte{1, 253}, make([]byte, 253),
				make([]byte, 2048-514), udp),
			want: []ipv6ExtItem{
				{ipv6TestDst, 6, 40, 2048, ipv6TestUDP, false},
				{ipv6TestUDP, 40, 2088, 8, ipv6TestNone, true},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := ParseIPv6(ipv6TestPacket(c.next, c.payload))
			if err != nil {
				t.Fatal(err)
			}
			it := h.ExtHdrs()
			got := ipv6WalkItems(it)
			// ipv6WalkItems walked a copy; walk again to see the error.
			it2 := h.ExtHdrs()
			for _, ok := it2.Next(); ok; _, ok = it2.Next() {
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("items\n got %v\nwant %v", got, c.want)
			}
			if it2.Err() != c.err || c.err != nil && it2.ErrOffset() != c.errOff {
				t.Errorf("err %v at %d, want %v at %d", it2.Err(), it2.ErrOffset(), c.err, c.errOff)
			}
			if _, ok := it2.Next(); ok {
				t.Error("Next after the end")
			}
		})
	}
}

func TestIPv6ExtHdrIteratorZeroAndOffsets(t *testing.T) {
	var it IPv6ExtHdrIterator
	if _, ok := it.Next(); ok || it.Err() != nil {
		t.Errorf("zero iterator yielded or failed: %v", it.Err())
	}
	// A walk starting inside a packet reports offsets from the arguments.
	it = NewIPv6ExtHdrIterator(ipv6TestDst, 100, []byte{byte(ipv6TestUDP), 0, 1, 4, 0, 0, 0, 0, 7}, 120)
	got := ipv6WalkItems(it)
	want := []ipv6ExtItem{{ipv6TestDst, 100, 120, 8, ipv6TestUDP, false}, {ipv6TestUDP, 120, 128, 1, ipv6TestNone, true}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("items\n got %v\nwant %v", got, want)
	}
	// Extension header bytes have their capacity clipped: appending to
	// one must not overwrite the next.
	it = NewIPv6ExtHdrIterator(ipv6TestDst, 6, []byte{byte(ipv6TestUDP), 0, 1, 4, 0, 0, 0, 0, 7}, 40)
	e, _ := it.Next()
	if cap(e.Bytes) != 8 {
		t.Errorf("cap %d, want 8", cap(e.Bytes))
	}
	for _, p := range []tcpip.TransportProtocolNumber{0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254} {
		if !IsIPv6ExtHdr(p) {
			t.Errorf("IsIPv6ExtHdr(%d) = false", p)
		}
	}
	for _, p := range []tcpip.TransportProtocolNumber{1, 6, 17, 58, 59, 41, 4, 132, 143, 255} {
		if IsIPv6ExtHdr(p) {
			t.Errorf("IsIPv6ExtHdr(%d) = true", p)
		}
	}
}

// ipv6OptItem is the part of an IPv6Option an options test checks.
type ipv6OptItem struct {
	typ    IPv6OptionType
	offset int
	data   string
}

func ipv6WalkOptions(it IPv6OptionIterator) ([]ipv6OptItem, int, error) {
	var items []ipv6OptItem
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		items = append(items, ipv6OptItem{o.Type, o.Offset, string(o.Data)})
	}
	return items, it.ErrOffset(), it.Err()
}

func TestIPv6Options(t *testing.T) {
	for _, c := range []struct {
		name   string
		hdr    []byte // a whole options header
		want   []ipv6OptItem
		err    error
		errOff int
	}{
		{
			name: "router alert and PadN",
			hdr:  []byte{58, 0, 5, 2, 0, 0, 1, 0},
			want: []ipv6OptItem{{IPv6OptionRouterAlert, 2, "\x00\x00"}, {IPv6OptionPadN, 6, ""}},
		},
		{
			name: "six Pad1",
			hdr:  []byte{58, 0, 0, 0, 0, 0, 0, 0},
			want: []ipv6OptItem{{0, 2, ""}, {0, 3, ""}, {0, 4, ""}, {0, 5, ""}, {0, 6, ""}, {0, 7, ""}},
		},
		{
			name: "PadN filling the area",
			hdr:  []byte{58, 0, 1, 4, 0, 0, 0, 0},
			want: []ipv6OptItem{{IPv6OptionPadN, 2, "\x00\x00\x00\x00"}},
		},
		{
			name: "PadN then Pad1",
			hdr:  []byte{58, 0, 1, 3, 0, 0, 0, 0},
			want: []ipv6OptItem{{IPv6OptionPadN, 2, "\x00\x00\x00"}, {IPv6OptionPad1, 7, ""}},
		},
		{
			name: "unknown option types",
			hdr:  []byte{58, 1, 0x1e, 1, 'a', 0x7f, 0, 0x9e, 2, 'b', 'c', 0xde, 0, 0x3e, 0, 0},
			want: []ipv6OptItem{
				{0x1e, 2, "a"}, {0x7f, 5, ""}, {0x9e, 7, "bc"}, {0xde, 11, ""}, {0x3e, 13, ""}, {IPv6OptionPad1, 15, ""},
			},
		},
		{
			name: "PadN with non-zero data is still padding",
			hdr:  []byte{58, 0, 1, 4, 1, 2, 3, 4},
			want: []ipv6OptItem{{IPv6OptionPadN, 2, "\x01\x02\x03\x04"}},
		},
		{
			name: "option length past the area",
			hdr:  []byte{58, 0, 1, 2, 0, 0, 0x1e, 1},
			want: []ipv6OptItem{{IPv6OptionPadN, 2, "\x00\x00"}},
			err:  ErrBadOption, errOff: 7,
		},
		{
			name: "option length far past the area",
			hdr:  []byte{58, 0, 0x1e, 255, 0, 0, 0, 0},
			err:  ErrBadOption, errOff: 3,
		},
		{
			name: "no room for the length byte",
			hdr:  []byte{58, 0, 1, 3, 0, 0, 0, 0xc2},
			want: []ipv6OptItem{{IPv6OptionPadN, 2, "\x00\x00\x00"}},
			err:  ErrBadOption, errOff: 7,
		},
		{
			name: "router alert too short",
			hdr:  []byte{58, 0, 5, 1, 0, 1, 1, 0},
			err:  ErrBadOption, errOff: 3,
		},
		{
			name: "router alert too long",
			hdr:  []byte{58, 0, 5, 4, 0, 0, 0, 0},
			err:  ErrBadOption, errOff: 3,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			oh, err := ParseIPv6OptionsHeader(c.hdr)
			if err != nil {
				t.Fatal(err)
			}
			got, off, err := ipv6WalkOptions(oh.Options())
			if fmt.Sprint(got) != fmt.Sprint(c.want) || err != c.err || err != nil && off != c.errOff {
				t.Errorf("options %v err %v at %d\nwant %v err %v at %d", got, err, off, c.want, c.err, c.errOff)
			}
			// The same through the chain iterator, with packet offsets.
			h, _ := ParseIPv6(ipv6TestPacket(ipv6TestHBH, ipv6Cat(c.hdr, make([]byte, 3))))
			it := h.ExtHdrs()
			e, ok := it.Next()
			if !ok || e.Type != ipv6TestHBH {
				t.Fatalf("chain: %+v %v", e, it.Err())
			}
			got, off, err = ipv6WalkOptions(e.Options())
			for i := range c.want {
				c.want[i].offset += IPv6MinimumSize
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) || err != c.err || err != nil && off != c.errOff+IPv6MinimumSize {
				t.Errorf("packet options %v err %v at %d\nwant %v err %v at %d", got, err, off, c.want, c.err, c.errOff+IPv6MinimumSize)
			}
		})
	}

	// Zero-length areas and items that have no options.
	for name, it := range map[string]IPv6OptionIterator{
		"zero iterator":         {},
		"header of two bytes":   IPv6OptionsHeader{58, 0}.Options(),
		"empty header":          IPv6OptionsHeader(nil).Options(),
		"routing item":          IPv6ExtHdr{Type: ipv6TestRT, Bytes: []byte{58, 0, 5, 2, 0, 0, 1, 0}}.Options(),
		"upper-layer item":      IPv6ExtHdr{Type: ipv6TestDst, Bytes: []byte{58, 0, 5, 2, 0, 0, 1, 0}, UpperLayer: true}.Options(),
		"short hop-by-hop item": IPv6ExtHdr{Type: ipv6TestHBH, Bytes: []byte{58}}.Options(),
	} {
		if got, _, err := ipv6WalkOptions(it); len(got) != 0 || err != nil {
			t.Errorf("%s: %v %v", name, got, err)
		}
	}
}

func TestIPv6OptionType(t *testing.T) {
	for _, c := range []struct {
		typ    IPv6OptionType
		action IPv6OptionAction
		change bool
	}{
		{IPv6OptionPad1, IPv6OptionActionSkip, false},
		{IPv6OptionPadN, IPv6OptionActionSkip, false},
		{IPv6OptionRouterAlert, IPv6OptionActionSkip, false},
		{IPv6OptionJumboPayload, IPv6OptionActionDiscardICMPUnlessMulticast, false},
		{0x04, IPv6OptionActionSkip, false},                       // tunnel encapsulation limit
		{0x63, IPv6OptionActionDiscard, true},                     // RPL
		{0x8b, IPv6OptionActionDiscardICMP, false},                // ILNP nonce
		{0xc9, IPv6OptionActionDiscardICMPUnlessMulticast, false}, // home address
		{0x3e, IPv6OptionActionSkip, true},
		{0xff, IPv6OptionActionDiscardICMPUnlessMulticast, true},
	} {
		if c.typ.Action() != c.action || c.typ.MayChange() != c.change {
			t.Errorf("type %#x: action %d may change %v, want %d %v", uint8(c.typ), c.typ.Action(), c.typ.MayChange(), c.action, c.change)
		}
	}
	for _, c := range []struct {
		o     IPv6Option
		value uint16
		ok    bool
	}{
		{IPv6Option{Type: IPv6OptionRouterAlert, Data: []byte{0, 0}}, IPv6RouterAlertMLD, true},
		{IPv6Option{Type: IPv6OptionRouterAlert, Data: []byte{0, 1}}, IPv6RouterAlertRSVP, true},
		{IPv6Option{Type: IPv6OptionRouterAlert, Data: []byte{0xab, 0xcd}}, 0xabcd, true},
		{IPv6Option{Type: IPv6OptionRouterAlert, Data: []byte{0}}, 0, false},
		{IPv6Option{Type: IPv6OptionPadN, Data: []byte{0, 2}}, 0, false},
	} {
		if v, ok := c.o.RouterAlert(); v != c.value || ok != c.ok {
			t.Errorf("%+v: RouterAlert() = %d %v, want %d %v", c.o, v, ok, c.value, c.ok)
		}
	}
}

func TestIPv6OptionsHeaderEncode(t *testing.T) {
	// Every length of options area, to check the padding: sizes round up
	// to 8 with Pad1 for one spare byte and PadN for more.
	for n := 0; n <= 30; n++ {
		var opts []byte
		if n > 0 {
			// One option of n bytes: Pad1 for n == 1, else an
			// unknown skip-type option with n-2 bytes of data.
			if n == 1 {
				opts = AppendIPv6Option(nil, IPv6OptionPad1, nil)
			} else {
				opts = AppendIPv6Option(nil, 0x1e, bytes.Repeat([]byte{0xaa}, n-2))
			}
		}
		f := IPv6OptionsHeaderFields{NextHeader: ipv6TestUDP, Options: opts}
		size := f.Size()
		if size%8 != 0 || size < 2+n || size >= 2+n+8 {
			t.Fatalf("n=%d: Size %d", n, size)
		}
		buf := bytes.Repeat([]byte{0x55}, size+4)
		oh := f.Encode(buf)
		if len(oh) != size || buf[size] != 0x55 {
			t.Fatalf("n=%d: wrote %d bytes, want %d", n, len(oh), size)
		}
		if oh[0] != byte(ipv6TestUDP) || int(oh[1]) != size/8-1 || !bytes.Equal(oh[2:2+n], opts) {
			t.Fatalf("n=%d: % x", n, oh)
		}
		pad := oh[2+n:]
		switch len(pad) {
		case 0:
		case 1:
			if pad[0] != byte(IPv6OptionPad1) {
				t.Errorf("n=%d: padding % x, want Pad1", n, pad)
			}
		default:
			if pad[0] != byte(IPv6OptionPadN) || int(pad[1]) != len(pad)-2 || !bytes.Equal(pad[2:], make([]byte, len(pad)-2)) {
				t.Errorf("n=%d: padding % x, want PadN", n, pad)
			}
		}
		parsed, err := ParseIPv6OptionsHeader(oh)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := ipv6WalkOptions(parsed.Options())
		if err != nil || n > 0 && (len(got) == 0 || got[0].offset != 2) {
			t.Errorf("n=%d: options %v %v", n, got, err)
		}
		pf := parsed.Fields()
		if pf.NextHeader != ipv6TestUDP || len(pf.Options) != size-2 {
			t.Errorf("n=%d: Fields %+v", n, pf)
		}
		if enc := pf.Encode(make([]byte, pf.Size())); !bytes.Equal(enc, oh) {
			t.Errorf("n=%d: re-encoded % x, want % x", n, enc, oh)
		}
	}

	// Several options in order.
	var opts []byte
	opts = AppendIPv6Option(opts, IPv6OptionRouterAlert, []byte{0, 0})
	opts = AppendIPv6Option(opts, IPv6OptionPad1, nil)
	opts = AppendIPv6Option(opts, 0x04, []byte{4}) // tunnel encapsulation limit
	f := IPv6OptionsHeaderFields{NextHeader: ipv6TestICMP, Options: opts}
	want := []byte{58, 1, 5, 2, 0, 0, 0, 4, 1, 4, 1, 4, 0, 0, 0, 0}
	if got := f.Encode(make([]byte, f.Size())); !bytes.Equal(got, want) {
		t.Errorf("encoded % x, want % x", got, want)
	}

	// The largest header, and one byte more.
	f = IPv6OptionsHeaderFields{Options: make([]byte, IPv6ExtHdrMaximumSize-2)}
	if oh := f.Encode(make([]byte, f.Size())); len(oh) != 2048 || oh[1] != 255 {
		t.Errorf("largest header: %d bytes, length field %d", len(oh), oh[1])
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("oversized options header did not panic")
			}
		}()
		f := IPv6OptionsHeaderFields{Options: make([]byte, IPv6ExtHdrMaximumSize-1)}
		f.Encode(make([]byte, f.Size()))
	}()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("oversized option data did not panic")
			}
		}()
		AppendIPv6Option(nil, 0x1e, make([]byte, 256))
	}()
}

func TestIPv6RouterAlertHopByHop(t *testing.T) {
	f := IPv6RouterAlertHopByHopFields{NextHeader: ipv6TestICMP, Value: IPv6RouterAlertMLD}
	var b [IPv6RouterAlertHopByHopSize]byte
	oh := f.Encode(b[:])
	// The header Linux puts on MLD messages.
	want := []byte{58, 0, 5, 2, 0, 0, 1, 0}
	if !bytes.Equal(oh, want) {
		t.Fatalf("encoded % x, want % x", oh, want)
	}
	it := oh.Options()
	o, ok := it.Next()
	if v, isRA := o.RouterAlert(); !ok || !isRA || v != IPv6RouterAlertMLD || o.Offset != 2 {
		t.Errorf("first option %+v", o)
	}
	f.Value = 0x1234
	if oh := f.Encode(b[:]); !bytes.Equal(oh, []byte{58, 0, 5, 2, 0x12, 0x34, 1, 0}) {
		t.Errorf("encoded % x", oh)
	}
}

func TestParseIPv6ExtHdrViewsTruncated(t *testing.T) {
	// A 24-byte Segment Routing Header with one segment.
	full := ipv6Cat([]byte{17, 2, 4, 1, 0, 0, 0, 0}, make([]byte, 16))
	for n := range len(full) {
		if _, err := ParseIPv6OptionsHeader(full[:n]); err != ErrTruncated {
			t.Errorf("ParseIPv6OptionsHeader(%d bytes) = %v", n, err)
		}
		if _, err := ParseIPv6RoutingHeader(full[:n]); err != ErrTruncated {
			t.Errorf("ParseIPv6RoutingHeader(%d bytes) = %v", n, err)
		}
		if _, err := ParseIPv6SegmentRouting(full[:n]); err != ErrTruncated {
			t.Errorf("ParseIPv6SegmentRouting(%d bytes) = %v", n, err)
		}
		if _, err := ParseIPv6FragmentHeader(full[:n]); (err == ErrTruncated) != (n < 8) {
			t.Errorf("ParseIPv6FragmentHeader(%d bytes) = %v", n, err)
		}
	}
	for _, p := range []func([]byte) (int, error){
		func(b []byte) (int, error) { v, err := ParseIPv6OptionsHeader(b); return len(v), err },
		func(b []byte) (int, error) { v, err := ParseIPv6RoutingHeader(b); return len(v), err },
		func(b []byte) (int, error) { v, err := ParseIPv6SegmentRouting(b); return len(v), err },
	} {
		// Bytes past the declared length are not part of the header.
		if n, err := p(append(bytes.Clone(full), 1, 2, 3)); n != len(full) || err != nil {
			t.Errorf("trimmed to %d bytes (%v), want %d", n, err, len(full))
		}
	}
	if v, err := ParseIPv6FragmentHeader(full); len(v) != 8 || err != nil {
		t.Errorf("fragment header trimmed to %d bytes (%v)", len(v), err)
	}
}

func TestIPv6RoutingHeader(t *testing.T) {
	// A type 0 header with one address, as RFC 5095 forbids.
	type0 := ipv6Cat([]byte{byte(ipv6TestTCP), 2, 0, 1, 0, 0, 0, 0}, netip.MustParseAddr("2001:db8::9").AsSlice())
	rh, err := ParseIPv6RoutingHeader(type0)
	if err != nil {
		t.Fatal(err)
	}
	if rh.NextHeader() != ipv6TestTCP || rh.RoutingType() != IPv6RoutingTypeSource || rh.SegmentsLeft() != 1 ||
		len(rh.TypeData()) != 20 {
		t.Errorf("type 0: %+v", rh.Fields())
	}
	if _, err := rh.SegmentRouting(); err != ErrUnsupported {
		t.Errorf("type 0 as SRH: %v", err)
	}
	if type0[IPv6RoutingTypePointer] != 0 || type0[IPv6SegmentsLeftPointer] != 1 {
		t.Error("pointer constants do not point at their fields")
	}
	rh.SetSegmentsLeft(0)
	if rh.SegmentsLeft() != 0 {
		t.Error("SetSegmentsLeft")
	}

	// Round trips, with data that needs padding.
	for _, f := range []IPv6RoutingHeaderFields{
		{NextHeader: ipv6TestUDP, RoutingType: IPv6RoutingTypeMobility, SegmentsLeft: 1, Data: make([]byte, 20)},
		{NextHeader: ipv6TestNone, RoutingType: 200, SegmentsLeft: 0, Data: []byte{1, 2, 3}},
		{NextHeader: ipv6TestICMP, RoutingType: IPv6RoutingTypeRPL, SegmentsLeft: 255},
	} {
		buf := bytes.Repeat([]byte{0x55}, f.Size())
		enc := f.Encode(buf)
		if len(enc)%8 != 0 || len(enc) < 8 || int(enc[1]) != len(enc)/8-1 {
			t.Fatalf("%+v encoded % x", f, enc)
		}
		got, err := ParseIPv6RoutingHeader(enc)
		if err != nil {
			t.Fatal(err)
		}
		gf := got.Fields()
		if gf.NextHeader != f.NextHeader || gf.RoutingType != f.RoutingType || gf.SegmentsLeft != f.SegmentsLeft ||
			!bytes.Equal(gf.Data[:len(f.Data)], f.Data) || !bytes.Equal(gf.Data[len(f.Data):], make([]byte, len(gf.Data)-len(f.Data))) {
			t.Errorf("round trip %+v, want %+v", gf, f)
		}
	}
}

func TestIPv6RoutingHeaderEncodeLimit(t *testing.T) {
	f := IPv6RoutingHeaderFields{Data: make([]byte, 2048-4)}
	if rh := f.Encode(make([]byte, f.Size())); len(rh) != 2048 || rh[1] != 255 {
		t.Errorf("largest header: %d bytes, length field %d", len(rh), rh[1])
	}
	defer func() {
		if recover() == nil {
			t.Error("oversized routing header did not panic")
		}
	}()
	f = IPv6RoutingHeaderFields{Data: make([]byte, 2048-3)}
	f.Encode(make([]byte, f.Size()))
}

func TestIPv6SegmentRouting(t *testing.T) {
	segs := []netip.Addr{
		netip.MustParseAddr("2001:db8::3"), // the final destination
		netip.MustParseAddr("2001:db8::2"),
		netip.MustParseAddr("2001:db8::1"),
	}
	// RFC 8754 §2: Hdr Ext Len 7: three segments (6 units of 8 bytes)
	// and an 8-byte PadN TLV.
	srh := []byte{byte(ipv6TestUDP), 7, 4, 2, 2, 0, 0xbe, 0xef}
	for _, s := range segs {
		srh = append(srh, s.AsSlice()...)
	}
	srh = append(srh, 4, 6, 0, 0, 0, 0, 0, 0) // PadN TLV (RFC 8754 §2.1.1.2)
	sr, err := ParseIPv6SegmentRouting(srh)
	if err != nil {
		t.Fatal(err)
	}
	if sr.NextHeader() != ipv6TestUDP || sr.SegmentsLeft() != 2 || sr.LastEntry() != 2 || sr.Flags() != 0 ||
		sr.Tag() != 0xbeef || sr.NumSegments() != 3 || !bytes.Equal(sr.TLVs(), []byte{4, 6, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("SRH fields: next %v left %d last %d flags %d tag %#x n %d tlvs % x",
			sr.NextHeader(), sr.SegmentsLeft(), sr.LastEntry(), sr.Flags(), sr.Tag(), sr.NumSegments(), sr.TLVs())
	}
	for i, s := range segs {
		if sr.Segment(i) != s {
			t.Errorf("segment %d = %v, want %v", i, sr.Segment(i), s)
		}
	}
	if sr.Segment(-1).IsValid() || sr.Segment(3).IsValid() {
		t.Error("out-of-range segment is valid")
	}
	sr.SetSegmentsLeft(1)
	if sr.SegmentsLeft() != 1 || srh[3] != 1 {
		t.Error("SetSegmentsLeft")
	}
	rh, _ := ParseIPv6RoutingHeader(srh)
	if sr2, err := rh.SegmentRouting(); err != nil || len(sr2) != len(srh) {
		t.Errorf("SegmentRouting from the routing view: %v", err)
	}

	// Last Entry too large for the header.
	bad := bytes.Clone(srh)
	bad[4] = 3
	if _, err := ParseIPv6SegmentRouting(bad); err != ErrBadOption {
		t.Errorf("last entry 3 in 7 units: %v", err)
	}
	bad[4] = 255
	if _, err := ParseIPv6SegmentRouting(bad); err != ErrBadOption {
		t.Errorf("last entry 255: %v", err)
	}
	// A header too small for even one segment.
	if _, err := ParseIPv6SegmentRouting([]byte{17, 0, 4, 0, 0, 0, 0, 0}); err != ErrBadOption {
		t.Errorf("empty SRH: %v", err)
	}
	// Segments Left beyond the list is the segment endpoint's to refuse.
	bad = bytes.Clone(srh)
	bad[3] = 9
	if _, err := ParseIPv6SegmentRouting(bad); err != nil {
		t.Errorf("segments left 9: %v", err)
	}
}

func TestIPv6FragmentHeader(t *testing.T) {
	for _, c := range []struct {
		b      []byte
		fields IPv6FragmentHeaderFields
		atomic bool
	}{
		{[]byte{58, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef}, IPv6FragmentHeaderFields{ipv6TestICMP, 0, true, 0xdeadbeef}, false},
		{[]byte{58, 0, 0x05, 0xa8, 0, 0, 0, 1}, IPv6FragmentHeaderFields{ipv6TestICMP, 1448, false, 1}, false},
		{[]byte{17, 0, 0xff, 0xf9, 0xff, 0xff, 0xff, 0xff}, IPv6FragmentHeaderFields{ipv6TestUDP, 65528, true, 0xffffffff}, false},
		{[]byte{6, 0, 0, 0, 0, 0, 0, 0}, IPv6FragmentHeaderFields{ipv6TestTCP, 0, false, 0}, true},
	} {
		fh, err := ParseIPv6FragmentHeader(c.b)
		if err != nil {
			t.Fatal(err)
		}
		if fh.Fields() != c.fields || fh.IsAtomic() != c.atomic {
			t.Errorf("% x: %+v atomic %v, want %+v %v", c.b, fh.Fields(), fh.IsAtomic(), c.fields, c.atomic)
		}
		var out [IPv6FragmentHeaderSize]byte
		if enc := c.fields.Encode(out[:]); !bytes.Equal(enc, c.b) {
			t.Errorf("encoded % x, want % x", enc, c.b)
		}
	}
	// Reserved bits are ignored on receipt (RFC 8200 §4.5) and zero on
	// encoding.
	fh, _ := ParseIPv6FragmentHeader([]byte{58, 0xff, 0x00, 0x0e, 0, 0, 0, 7})
	if fh.FragmentOffset() != 8 || fh.More() || !bytes.Equal(func() []byte {
		f := fh.Fields()
		return f.Encode(make([]byte, 8))
	}(), []byte{58, 0, 0, 8, 0, 0, 0, 7}) {
		t.Errorf("reserved bits: %+v", fh.Fields())
	}
	// A fragment offset that is not a multiple of 8 loses its low bits.
	f := IPv6FragmentHeaderFields{FragmentOffset: 13}
	if got := f.Encode(make([]byte, 8)); got.FragmentOffset() != 8 {
		t.Errorf("offset 13 encoded as %d", got.FragmentOffset())
	}
}

func TestIPv6ExtHdrAllocs(t *testing.T) {
	pkt := ipv6TestPacket(ipv6TestHBH, ipv6Cat(
		[]byte{byte(ipv6TestDst), 0, 5, 2, 0, 0, 1, 0},
		[]byte{byte(ipv6TestRT), 0, 0x1e, 1, 0, 0, 0, 0},
		[]byte{byte(ipv6TestFrag), 2, 4, 0, 0, 0, 0, 0}, make([]byte, 16),
		[]byte{byte(ipv6TestUDP), 0, 0, 1, 0, 0, 0, 1},
		[]byte{1, 2, 3, 4, 0, 8, 0, 0},
	))
	h, err := ParseIPv6(pkt)
	if err != nil {
		t.Fatal(err)
	}
	var out [64]byte
	var opts [16]byte
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		it := h.ExtHdrs()
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			sink += e.Offset
			oi := e.Options()
			for o, ok := oi.Next(); ok; o, ok = oi.Next() {
				v, _ := o.RouterAlert()
				sink += int(v) + int(o.Type.Action())
			}
			switch e.Type {
			case ipv6TestHBH, ipv6TestDst:
				oh, _ := ParseIPv6OptionsHeader(e.Bytes)
				f := oh.Fields()
				f.Encode(out[:])
			case ipv6TestRT:
				rh, _ := ParseIPv6RoutingHeader(e.Bytes)
				f := rh.Fields()
				f.Encode(out[:])
				if sr, err := rh.SegmentRouting(); err == nil {
					sink += sr.Segment(0).BitLen() + len(sr.TLVs())
				}
			case ipv6TestFrag:
				fh, _ := ParseIPv6FragmentHeader(e.Bytes)
				f := fh.Fields()
				f.Encode(out[:])
				if fh.IsAtomic() {
					sink++
				}
			}
		}
		if it.Err() != nil {
			sink++
		}
		o := AppendIPv6Option(opts[:0], IPv6OptionRouterAlert, []byte{0, 0})
		f := IPv6OptionsHeaderFields{NextHeader: ipv6TestICMP, Options: o}
		f.Encode(out[:])
		ra := IPv6RouterAlertHopByHopFields{NextHeader: ipv6TestICMP}
		ra.Encode(out[:])
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
	_ = sink
}

func FuzzIPv6ExtHdrs(f *testing.F) {
	for _, tc := range ipv6GoldenCases {
		frame := golden(f, tc.name)
		if len(frame) > EthernetMinimumSize+IPv6MinimumSize {
			f.Add(frame[EthernetMinimumSize+ipv6NextHeader], frame[EthernetMinimumSize+IPv6MinimumSize:])
		}
	}
	f.Add(byte(ipv6TestHBH), []byte{byte(ipv6TestDst), 0, 5, 2, 0, 0, 1, 0, byte(ipv6TestUDP), 0, 1, 4, 0, 0, 0, 0, 1})
	f.Add(byte(ipv6TestRT), []byte{17, 2, 4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add(byte(ipv6TestFrag), []byte{60, 0, 0, 1, 0, 0, 0, 1, 17, 0, 1, 0, 0, 0, 0, 0})
	f.Add(byte(IPv6AHProtocolNumber), []byte{50, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, next byte, b []byte) {
		ipv6FuzzWalk(t, NewIPv6ExtHdrIterator(tcpip.TransportProtocolNumber(next), ipv6NextHeader, b, IPv6MinimumSize), IPv6MinimumSize+len(b))
		// Each typed view on the raw bytes too, whatever the chain says.
		if oh, err := ParseIPv6OptionsHeader(b); err == nil {
			it := oh.Options()
			for _, ok := it.Next(); ok; _, ok = it.Next() {
			}
		}
		if rh, err := ParseIPv6RoutingHeader(b); err == nil {
			_ = rh.TypeData()
			if sr, err := rh.SegmentRouting(); err == nil {
				for i := range sr.NumSegments() {
					_ = sr.Segment(i)
				}
				_ = sr.TLVs()
			}
		}
		if fh, err := ParseIPv6FragmentHeader(b); err == nil {
			_ = fh.Fields()
		}
	})
}

// ipv6GoldenExtHdr returns the n-th item of the header chain of a golden
// frame.
func ipv6GoldenExtHdr(t *testing.T, h IPv6, n int) IPv6ExtHdr {
	t.Helper()
	it := h.ExtHdrs()
	for i := 0; ; i++ {
		e, ok := it.Next()
		if !ok {
			t.Fatalf("chain ended before item %d: %v", n, it.Err())
		}
		if i == n {
			return e
		}
	}
}

func TestIPv6GoldenDestinationOptions(t *testing.T) {
	h := ipv6GoldenPacket(t, "ipv6_dstopts")
	e := ipv6GoldenExtHdr(t, h, 0)
	if e.Type != ipv6TestDst || e.TypeOffset != 6 || e.Offset != 40 || len(e.Bytes) != 8 || e.NextHeader != ipv6TestUDP {
		t.Fatalf("destination options item %+v", e)
	}
	got, _, err := ipv6WalkOptions(e.Options())
	want := []ipv6OptItem{{0x1e, 42, "\xab\xcd"}, {IPv6OptionPadN, 46, ""}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("options %v (%v), want %v", got, err, want)
	}
	if IPv6OptionType(0x1e).Action() != IPv6OptionActionSkip {
		t.Error("option 0x1e is not skippable")
	}
	// Re-encode from the view's fields, and from the option alone: the
	// kernel padded with a PadN of length 0, as Encode does.
	oh, err := ParseIPv6OptionsHeader(e.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	f := oh.Fields()
	if enc := f.Encode(make([]byte, f.Size())); !bytes.Equal(enc, e.Bytes) {
		t.Errorf("re-encoded % x, want % x", enc, e.Bytes)
	}
	f = IPv6OptionsHeaderFields{NextHeader: ipv6TestUDP, Options: AppendIPv6Option(nil, 0x1e, []byte{0xab, 0xcd})}
	if enc := f.Encode(make([]byte, f.Size())); !bytes.Equal(enc, e.Bytes) {
		t.Errorf("encoded % x, want % x", enc, e.Bytes)
	}
	if u := ipv6GoldenExtHdr(t, h, 1); !u.UpperLayer || u.Type != ipv6TestUDP || u.Offset != 48 || u.TypeOffset != 40 ||
		string(u.Bytes[8:]) != "dstopts" {
		t.Errorf("upper layer %+v", u)
	}
}

func TestIPv6GoldenSegmentRouting(t *testing.T) {
	h := ipv6GoldenPacket(t, "ipv6_routing")
	e := ipv6GoldenExtHdr(t, h, 0)
	if e.Type != ipv6TestRT || e.Offset != 40 || len(e.Bytes) != 56 || e.NextHeader != ipv6TestICMP {
		t.Fatalf("routing item %+v", e)
	}
	rh, err := ParseIPv6RoutingHeader(e.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if rh.NextHeader() != ipv6TestICMP || rh.RoutingType() != IPv6RoutingTypeSegmentRouting || rh.SegmentsLeft() != 2 ||
		len(rh.TypeData()) != 52 {
		t.Errorf("routing header: next %v type %d left %d data %d bytes", rh.NextHeader(), rh.RoutingType(), rh.SegmentsLeft(), len(rh.TypeData()))
	}
	f := rh.Fields()
	if enc := f.Encode(make([]byte, f.Size())); !bytes.Equal(enc, e.Bytes) {
		t.Errorf("re-encoded % x, want % x", enc, e.Bytes)
	}
	sr, err := rh.SegmentRouting()
	if err != nil {
		t.Fatal(err)
	}
	if sr.NextHeader() != ipv6TestICMP || sr.SegmentsLeft() != 2 || sr.LastEntry() != 2 || sr.Flags() != 0 ||
		sr.Tag() != 0 || sr.NumSegments() != 3 || len(sr.TLVs()) != 0 {
		t.Errorf("SRH: left %d last %d flags %d tag %d n %d tlvs %d",
			sr.SegmentsLeft(), sr.LastEntry(), sr.Flags(), sr.Tag(), sr.NumSegments(), len(sr.TLVs()))
	}
	// RFC 8754 §2: the list is in reverse order, segment 0 being the
	// final destination; the destination address is the active segment,
	// Segment List[Segments Left].
	for i, want := range []string{"fd00:99:5::5", "fd00:99:4::4", "fd00:99::2"} {
		if got := sr.Segment(i); got != netip.MustParseAddr(want) {
			t.Errorf("segment %d = %v, want %s", i, got, want)
		}
	}
	if sr.Segment(int(sr.SegmentsLeft())) != h.Destination() {
		t.Errorf("active segment %v, destination %v", sr.Segment(int(sr.SegmentsLeft())), h.Destination())
	}
	if u := ipv6GoldenExtHdr(t, h, 1); !u.UpperLayer || u.Type != ipv6TestICMP || u.Offset != 96 || u.Bytes[0] != 128 {
		t.Errorf("upper layer %+v", u)
	}
}

func TestIPv6GoldenHopByHopMLD(t *testing.T) {
	frame := golden(t, "ipv6_hbh_mldv2_report")
	eth, _ := ParseEthernet(frame)
	h := ipv6GoldenPacket(t, "ipv6_hbh_mldv2_report")
	// The source is the EUI-64 link-local address of the sender's MAC,
	// and the frame goes to the MAC of ff02::16.
	if got := LinkLocalAddrFromMAC(eth.Source()); got != h.Source() {
		t.Errorf("LinkLocalAddrFromMAC(%v) = %v, want %v", eth.Source(), got, h.Source())
	}
	if got := EthernetAddrFromMulticastIPv6(h.Destination()); got != eth.Destination() {
		t.Errorf("EthernetAddrFromMulticastIPv6(%v) = %v, want %v", h.Destination(), got, eth.Destination())
	}
	e := ipv6GoldenExtHdr(t, h, 0)
	if e.Type != ipv6TestHBH || e.Offset != 40 || len(e.Bytes) != 8 || e.NextHeader != ipv6TestICMP {
		t.Fatalf("hop-by-hop item %+v", e)
	}
	it := e.Options()
	o, ok := it.Next()
	if v, isRA := o.RouterAlert(); !ok || !isRA || v != IPv6RouterAlertMLD || o.Offset != 42 {
		t.Errorf("router alert %+v", o)
	}
	if o, ok := it.Next(); !ok || o.Type != IPv6OptionPadN || o.Offset != 46 || len(o.Data) != 0 {
		t.Errorf("padding %+v", o)
	}
	if _, ok := it.Next(); ok || it.Err() != nil {
		t.Errorf("more options or error %v", it.Err())
	}
	ra := IPv6RouterAlertHopByHopFields{NextHeader: ipv6TestICMP, Value: IPv6RouterAlertMLD}
	if enc := ra.Encode(make([]byte, IPv6RouterAlertHopByHopSize)); !bytes.Equal(enc, e.Bytes) {
		t.Errorf("router alert header % x, want % x", enc, e.Bytes)
	}
	oh, _ := ParseIPv6OptionsHeader(e.Bytes)
	f := oh.Fields()
	if enc := f.Encode(make([]byte, f.Size())); !bytes.Equal(enc, e.Bytes) {
		t.Errorf("re-encoded % x, want % x", enc, e.Bytes)
	}
	if u := ipv6GoldenExtHdr(t, h, 1); !u.UpperLayer || u.Type != ipv6TestICMP || u.Offset != 48 || u.Bytes[0] != 143 {
		t.Errorf("upper layer %+v", u)
	}
}

// The kernel's parameter problem quotes a packet with an unrecognised
// destination option; the pointer it computed must be the offset the
// option iterator reports.
func TestIPv6GoldenParamProblemPointer(t *testing.T) {
	h := ipv6GoldenPacket(t, "ipv6_icmpv6_param_problem")
	icmp := h.Payload()
	if icmp[0] != 4 || icmp[1] != 2 {
		t.Fatalf("ICMPv6 type %d code %d", icmp[0], icmp[1])
	}
	pointer := int(icmp[4])<<24 | int(icmp[5])<<16 | int(icmp[6])<<8 | int(icmp[7])
	quoted, err := ParseIPv6(icmp[8:])
	if err != nil {
		t.Fatal(err)
	}
	want := IPv6Fields{PayloadLength: 22, NextHeader: ipv6TestDst, HopLimit: 64,
		Src: netip.MustParseAddr("fd00:99::1"), Dst: netip.MustParseAddr("fd00:99::2")}
	if quoted.Fields() != want {
		t.Errorf("quoted header %+v, want %+v", quoted.Fields(), want)
	}
	e := ipv6GoldenExtHdr(t, quoted, 0)
	if e.Type != ipv6TestDst || e.Offset != 40 {
		t.Fatalf("quoted item %+v", e)
	}
	it := e.Options()
	o, ok := it.Next()
	if !ok || o.Type != 0x9e || o.Type.Action() != IPv6OptionActionDiscardICMP || len(o.Data) != 4 {
		t.Fatalf("option %+v", o)
	}
	if o.Offset != pointer || pointer != 42 {
		t.Errorf("option offset %d, kernel's pointer %d", o.Offset, pointer)
	}
	if u := ipv6GoldenExtHdr(t, quoted, 1); !u.UpperLayer || u.Type != ipv6TestICMP || len(u.Bytes) != 14 ||
		string(u.Bytes[8:]) != "ustack" {
		t.Errorf("quoted upper layer %+v", u)
	}
}

func TestIPv6GoldenFragments(t *testing.T) {
	for _, c := range []struct {
		name   string
		fields IPv6FragmentHeaderFields
	}{
		{"ipv6_frag_first", IPv6FragmentHeaderFields{NextHeader: ipv6TestICMP, FragmentOffset: 0, More: true, ID: 0xdb0bb3c0}},
		{"ipv6_frag_last", IPv6FragmentHeaderFields{NextHeader: ipv6TestICMP, FragmentOffset: 2896, More: false, ID: 0xdb0bb3c0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := ipv6GoldenPacket(t, c.name)
			e := ipv6GoldenExtHdr(t, h, 0)
			if e.Type != ipv6TestFrag || e.TypeOffset != 6 || e.Offset != 40 || len(e.Bytes) != 8 || e.NextHeader != ipv6TestICMP {
				t.Fatalf("fragment item %+v", e)
			}
			fh, err := ParseIPv6FragmentHeader(e.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if fh.Fields() != c.fields || fh.IsAtomic() {
				t.Errorf("fields %+v atomic %v, want %+v", fh.Fields(), fh.IsAtomic(), c.fields)
			}
			var out [IPv6FragmentHeaderSize]byte
			if enc := c.fields.Encode(out[:]); !bytes.Equal(enc, e.Bytes) {
				t.Errorf("encoded % x, want % x", enc, e.Bytes)
			}
			u := ipv6GoldenExtHdr(t, h, 1)
			if !u.UpperLayer || u.Type != ipv6TestICMP || u.TypeOffset != 40 || u.Offset != 48 {
				t.Errorf("after the fragment header: %+v", u)
			}
			// The first fragment starts with the echo request header;
			// the last one with data (no ICMPv6 header).
			if first := c.fields.FragmentOffset == 0; first != (u.Bytes[0] == 128 && u.Bytes[1] == 0) {
				t.Errorf("fragment data starts % x", u.Bytes[:4])
			}
		})
	}
}
