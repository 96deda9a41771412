package header

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

// ipv4TestPacket encodes f followed by payload, with f.TotalLength set to
// the whole length.
func ipv4TestPacket(t testing.TB, f IPv4Fields, payload []byte) []byte {
	t.Helper()
	b := make([]byte, f.Size()+len(payload))
	f.TotalLength = uint16(len(b))
	f.Encode(b)
	copy(b[f.Size():], payload)
	return b
}

var (
	ipv4TestSrc = netip.MustParseAddr("192.0.2.1")
	ipv4TestDst = netip.MustParseAddr("198.51.100.2")
)

// ipv4Golden is what an IPv4 fixture decodes to.
type ipv4Golden struct {
	name     string
	ethDst   tcpip.LinkAddress
	fields   IPv4Fields // Options as captured, padding included
	checksum uint16
	payload  []byte // the first bytes of the payload
	payLen   int
	options  []ipv4TestOpt
	check    func(t *testing.T, ip IPv4) // checks of the options, if any
}

// The fixtures were captured on A (02:99:00:00:00:01, 10.99.1.1), on its
// link to B (02:99:00:00:00:02, 10.99.1.2) and to router R
// (02:99:00:00:00:fe, 10.99.1.254; 10.99.2.254 on the far side, where C is
// 10.99.2.3).
var (
	ipv4GoldenA  = netip.MustParseAddr("10.99.1.1")
	ipv4GoldenB  = netip.MustParseAddr("10.99.1.2")
	ipv4GoldenC  = netip.MustParseAddr("10.99.2.3")
	ipv4GoldenR1 = netip.MustParseAddr("10.99.1.254")
	ipv4GoldenR2 = netip.MustParseAddr("10.99.2.254")
)

var ipv4Goldens = []ipv4Golden{
	{
		name:   "ipv4_icmp_echo_request",
		ethDst: ethTestMACB,
		// Linux sets DF on a datagram that fits the path MTU
		// (IP_PMTUDISC_DO, the ping default).
		fields: IPv4Fields{TotalLength: 84, ID: 0x29e2, Flags: IPv4FlagDontFragment, TTL: 64,
			Protocol: tcpip.ICMPv4ProtocolNumber, Source: ipv4GoldenA, Destination: ipv4GoldenB},
		checksum: 0xf9fe,
		payload:  []byte{8, 0, 0x81, 0x24, 0x53, 0x56, 0, 1}, // echo request id 0x5356 seq 1
		payLen:   64,
	},
	{
		name:   "ipv4_icmp_echo_frag_first",
		ethDst: ethTestMACB,
		// ping -s 3000 makes a 3008-byte ICMP message: fragments of
		// 1480, 1480 and 48 bytes at offsets 0, 1480 and 2960, DF
		// clear so that the kernel may fragment.
		fields: IPv4Fields{TotalLength: 1500, ID: 0x2b50, Flags: IPv4FlagMoreFragments, TTL: 64,
			Protocol: tcpip.ICMPv4ProtocolNumber, Source: ipv4GoldenA, Destination: ipv4GoldenB},
		checksum: 0x1309,
		payload:  []byte{8, 0, 0x9a, 0xa9, 0x53, 0x74, 0, 1},
		payLen:   1480,
	},
	{
		name:   "ipv4_icmp_echo_frag_last",
		ethDst: ethTestMACB,
		fields: IPv4Fields{TotalLength: 68, ID: 0x2b50, FragmentOffset: 2960, TTL: 64,
			Protocol: tcpip.ICMPv4ProtocolNumber, Source: ipv4GoldenA, Destination: ipv4GoldenB},
		checksum: 0x372f,
		payload:  []byte{0x88, 0x89, 0x8a, 0x8b}, // ping's pattern, byte 2952 of its data
		payLen:   48,
	},
	{
		// ping -R to C through R: the reply carries the route A, R
		// (outbound, its far address), C on input, C again on output,
		// R (inbound, its near address).
		name:   "ipv4_opt_record_route",
		ethDst: ethTestMACA,
		fields: IPv4Fields{TotalLength: 124, ID: 0x10ae, TTL: 63, Protocol: tcpip.ICMPv4ProtocolNumber,
			Source: ipv4GoldenC, Destination: ipv4GoldenA, Options: ipv4GoldenRROptions},
		checksum: 0x37a5,
		payload:  []byte{0, 0, 0x82, 0xff, 0x57, 0x07, 0, 1}, // echo reply id 0x5707 seq 1
		payLen:   64,
		options:  []ipv4TestOpt{{IPv4OptionRecordRoute, 0, 39}},
		check: func(t *testing.T, ip IPv4) {
			it := ip.OptionIterator()
			o, _ := it.Next()
			r, err := o.Route()
			if err != nil {
				t.Fatalf("Route(): %v", err)
			}
			want := []netip.Addr{ipv4GoldenA, ipv4GoldenR2, ipv4GoldenC, ipv4GoldenC, ipv4GoldenR1}
			if r.Kind() != IPv4OptionRecordRoute || r.Pointer() != 24 || r.Slots() != 9 || r.Recorded() != 5 || r.Full() {
				t.Errorf("kind %v pointer %d slots %d recorded %d full %v", r.Kind(), r.Pointer(), r.Slots(), r.Recorded(), r.Full())
			}
			for i := range r.Slots() {
				w := netip.IPv4Unspecified()
				if i < len(want) {
					w = want[i]
				}
				if r.Address(i) != w {
					t.Errorf("slot %d = %v, want %v", i, r.Address(i), w)
				}
			}
			// The option our stack would send to echo it.
			var buf [IPv4MaximumOptionsSize]byte
			enc := (&IPv4RecordRouteOptionFields{Slots: IPv4RecordRouteMaxSlots, Recorded: want}).Encode(buf[:])
			if !bytes.Equal(enc, r) {
				t.Errorf("encoded %x, want %x", []byte(enc), []byte(r))
			}
		},
	},
	{
		// ping -T tsonly to C through R: five timestamps, taken in
		// the same millisecond by namespaces sharing one clock.
		name:   "ipv4_opt_timestamp",
		ethDst: ethTestMACA,
		fields: IPv4Fields{TotalLength: 124, ID: 0x10b1, TTL: 63, Protocol: tcpip.ICMPv4ProtocolNumber,
			Source: ipv4GoldenC, Destination: ipv4GoldenA, Options: ipv4GoldenTSOptions},
		checksum: 0x2cc1,
		payload:  []byte{0, 0, 0x1c, 0x89, 0x57, 0x1a, 0, 1},
		payLen:   64,
		options:  []ipv4TestOpt{{IPv4OptionTimestamp, 0, 40}},
		check: func(t *testing.T, ip IPv4) {
			it := ip.OptionIterator()
			o, _ := it.Next()
			ts, err := o.Timestamp()
			if err != nil {
				t.Fatalf("Timestamp(): %v", err)
			}
			if ts.Flag() != IPv4TimestampOnly || ts.Overflow() != 0 || ts.Pointer() != 25 || ts.Slots() != 9 || ts.Recorded() != 5 || ts.Full() {
				t.Errorf("flag %v overflow %d pointer %d slots %d recorded %d full %v", ts.Flag(), ts.Overflow(), ts.Pointer(), ts.Slots(), ts.Recorded(), ts.Full())
			}
			entries := make([]IPv4TimestampEntry, 5)
			for i := range ts.Slots() {
				var w IPv4TimestampEntry
				if i < 5 {
					w.Timestamp = 0x05198786 // 23:45:59.174 UT, just before the capture
					entries[i] = w
				}
				if ts.Entry(i) != w {
					t.Errorf("entry %d = %+v, want %+v", i, ts.Entry(i), w)
				}
			}
			var buf [IPv4MaximumOptionsSize]byte
			enc := (&IPv4TimestampOptionFields{Flag: IPv4TimestampOnly, Slots: 9, Entries: entries, Recorded: 5}).Encode(buf[:])
			if !bytes.Equal(enc, ts) {
				t.Errorf("encoded %x, want %x", []byte(enc), []byte(ts))
			}
		},
	},
	{
		// RFC 2236 §2: IGMPv2 messages go with TTL 1 and the router
		// alert option; Linux marks them CS6 (TOS 0xc0).
		name:   "ipv4_igmpv2_report",
		ethDst: tcpip.MustParseLinkAddress("01:00:5e:63:01:01"),
		fields: IPv4Fields{TOS: 0xc0, TotalLength: 32, Flags: IPv4FlagDontFragment, TTL: 1, Protocol: tcpip.IGMPProtocolNumber,
			Source: ipv4GoldenA, Destination: netip.MustParseAddr("239.99.1.1"), Options: []byte{0x94, 4, 0, 0}},
		checksum: 0xe84f,
		payload:  []byte{0x16, 0, 0xf9, 0x9a, 239, 99, 1, 1}, // v2 report for 239.99.1.1
		payLen:   8,
		options:  []ipv4TestOpt{{IPv4OptionRouterAlert, 0, 4}},
		check: func(t *testing.T, ip IPv4) {
			it := ip.OptionIterator()
			o, _ := it.Next()
			if v, err := o.RouterAlert(); v != IPv4RouterAlertExamine || err != nil {
				t.Errorf("RouterAlert() = %d, %v", v, err)
			}
			// Build the same header from scratch, as our IGMP will.
			var ra [IPv4RouterAlertOptionSize]byte
			f := IPv4Fields{TOS: 0xc0, TotalLength: 32, Flags: IPv4FlagDontFragment, TTL: 1, Protocol: tcpip.IGMPProtocolNumber,
				Source: ipv4GoldenA, Destination: netip.MustParseAddr("239.99.1.1"),
				Options: (&IPv4RouterAlertOptionFields{}).Encode(ra[:])}
			var hdr [IPv4MaximumHeaderSize]byte
			if enc := f.Encode(hdr[:]); !bytes.Equal(enc, ip.Header()) {
				t.Errorf("built %x, want %x", []byte(enc), ip.Header())
			}
		},
	},
	{
		name:   "ipv4_udp",
		ethDst: ethTestMACB,
		fields: IPv4Fields{TotalLength: 41, ID: 0x5fd5, Flags: IPv4FlagDontFragment, TTL: 64, Protocol: tcpip.UDPProtocolNumber,
			Source: ipv4GoldenA, Destination: ipv4GoldenB},
		checksum: 0xc426,
		payload:  []byte{0x9c, 0x40, 0x1e, 0x61, 0, 21}, // 40000 -> 7777, length 21
		payLen:   21,
	},
	{
		name:   "ipv4_tcp_syn",
		ethDst: ethTestMACB,
		fields: IPv4Fields{TotalLength: 60, ID: 0x3a1d, Flags: IPv4FlagDontFragment, TTL: 64, Protocol: tcpip.TCPProtocolNumber,
			Source: ipv4GoldenA, Destination: ipv4GoldenB},
		checksum: 0xe9d6,
		payload:  []byte{0x9c, 0x90, 0x1f, 0x90}, // 40080 -> 8080
		payLen:   40,
	},
}

// The options areas of the option fixtures, padding included.
var (
	ipv4GoldenRROptions = []byte{
		7, 39, 24,
		10, 99, 1, 1, 10, 99, 2, 254, 10, 99, 2, 3, 10, 99, 2, 3, 10, 99, 1, 254,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // four empty slots
		0, // End of Option List
	}
	ipv4GoldenTSOptions = []byte{
		68, 40, 25, 0x00,
		5, 0x19, 0x87, 0x86, 5, 0x19, 0x87, 0x86, 5, 0x19, 0x87, 0x86, 5, 0x19, 0x87, 0x86, 5, 0x19, 0x87, 0x86,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	}
)

// ipv4GoldenNames are the fixtures that seed FuzzParseIPv4.
var ipv4GoldenNames = func() []string {
	var names []string
	for _, g := range ipv4Goldens {
		names = append(names, g.name)
	}
	return names
}()

func TestIPv4Golden(t *testing.T) {
	for _, tc := range ipv4Goldens {
		t.Run(tc.name, func(t *testing.T) {
			frame := golden(t, tc.name)
			eth, err := ParseEthernet(frame)
			if err != nil {
				t.Fatalf("ParseEthernet: %v", err)
			}
			if eth.Type() != tcpip.IPv4ProtocolNumber || eth.Destination() != tc.ethDst {
				t.Errorf("Ethernet to %v type %v, want %v IPv4", eth.Destination(), eth.Type(), tc.ethDst)
			}
			ip, err := ParseIPv4(eth.Payload())
			if err != nil {
				t.Fatalf("ParseIPv4: %v", err)
			}
			if got := ip.Fields(); !ipv4FieldsEqual(got, tc.fields) || !bytes.Equal(got.Options, tc.fields.Options) {
				t.Errorf("Fields() = %+v, want %+v", got, tc.fields)
			}
			hl := IPv4MinimumSize + len(tc.fields.Options)
			if ip.Version() != 4 || ip.HeaderLength() != hl || int(ip.IHL()) != hl/4 || len(ip) != len(eth.Payload()) {
				t.Errorf("version %d header %d IHL %d len %d", ip.Version(), ip.HeaderLength(), ip.IHL(), len(ip))
			}
			if ip.Checksum() != tc.checksum || !ip.IsChecksumValid() || ip.CalculateChecksum() != tc.checksum {
				t.Errorf("checksum %#04x (calculated %#04x), want %#04x", ip.Checksum(), ip.CalculateChecksum(), tc.checksum)
			}
			if p := ip.Payload(); len(p) != tc.payLen || !bytes.HasPrefix(p, tc.payload) {
				t.Errorf("payload of %d bytes %x…, want %d bytes %x…", len(p), p[:min(len(p), 8)], tc.payLen, tc.payload)
			}
			frag := tc.fields.Flags&IPv4FlagMoreFragments != 0 || tc.fields.FragmentOffset != 0
			if ip.IsFragment() != frag || ip.IsFirstFragment() != (tc.fields.FragmentOffset == 0) ||
				ip.More() != (tc.fields.Flags&IPv4FlagMoreFragments != 0) || ip.DontFragment() != (tc.fields.Flags&IPv4FlagDontFragment != 0) {
				t.Errorf("IsFragment %v IsFirstFragment %v More %v DontFragment %v", ip.IsFragment(), ip.IsFirstFragment(), ip.More(), ip.DontFragment())
			}
			var got []ipv4TestOpt
			it := ip.OptionIterator()
			for o, ok := it.Next(); ok; o, ok = it.Next() {
				got = append(got, ipv4TestOpt{o.Kind, o.Offset, o.Len()})
			}
			if it.Err() != nil || len(got) != len(tc.options) || len(got) > 0 && got[0] != tc.options[0] {
				t.Errorf("options %v (%v), want %v", got, it.Err(), tc.options)
			}
			if tc.check != nil {
				tc.check(t, ip)
			}
			// Byte-exact re-encoding from Fields().
			out := make([]byte, len(frame))
			ef := eth.Fields()
			ef.Encode(out)
			f := ip.Fields()
			f.Encode(out[EthernetMinimumSize:])
			copy(out[EthernetMinimumSize+f.Size():], ip.Payload())
			if !bytes.Equal(out, frame) {
				t.Errorf("re-encoded\n%x, want\n%x", out, frame)
			}
		})
	}
}

// TestIPv4GoldenForward plays a router on the golden datagrams: decrement
// the TTL and record into the route option in place, as R did on the way.
func TestIPv4GoldenForward(t *testing.T) {
	for _, tc := range ipv4Goldens {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(golden(t, tc.name)[EthernetMinimumSize:])
			ip, err := ParseIPv4(b)
			if err != nil {
				t.Fatal(err)
			}
			ip.SetTTL(ip.TTL() - 1)
			if !ip.IsChecksumValid() {
				t.Fatalf("checksum %#04x invalid after SetTTL", ip.Checksum())
			}
			if ip.Checksum() != ip.CalculateChecksum() {
				t.Errorf("incremental checksum %#04x, full %#04x", ip.Checksum(), ip.CalculateChecksum())
			}
			it := ip.OptionIterator()
			for o, ok := it.Next(); ok; o, ok = it.Next() {
				if r, err := o.Route(); err == nil {
					if !r.Record(ipv4GoldenR1) || r.Address(5) != ipv4GoldenR1 || r.Recorded() != 6 {
						t.Errorf("Record: %x", []byte(r))
					}
				}
				if ts, err := o.Timestamp(); err == nil {
					if !ts.Record(ipv4GoldenR1, 1234) || ts.Entry(5).Timestamp != 1234 || ts.Recorded() != 6 {
						t.Errorf("Record: %x", []byte(ts))
					}
				}
			}
			ip.SetChecksum(ip.CalculateChecksum())
			if !ip.IsChecksumValid() {
				t.Errorf("checksum invalid after recomputing")
			}
		})
	}
}

func TestIPv4RoundTrip(t *testing.T) {
	var ra [IPv4RouterAlertOptionSize]byte
	(&IPv4RouterAlertOptionFields{}).Encode(ra[:])
	for _, tc := range []struct {
		name    string
		f       IPv4Fields
		payload []byte
	}{
		{"minimal", IPv4Fields{TTL: 64, Protocol: tcpip.UDPProtocolNumber, Source: ipv4TestSrc, Destination: ipv4TestDst}, nil},
		{"all fields", IPv4Fields{TOS: 0xb9, ID: 0xbeef, Flags: IPv4FlagDontFragment, TTL: 1, Protocol: tcpip.TCPProtocolNumber, Source: ipv4TestSrc, Destination: ipv4TestDst}, []byte("hello")},
		{"max fragment offset", IPv4Fields{ID: 1, Flags: IPv4FlagMoreFragments | IPv4FlagReserved, FragmentOffset: IPv4MaximumFragmentOffset, TTL: 255, Protocol: 253, Source: netip.IPv4Unspecified(), Destination: netip.AddrFrom4([4]byte{255, 255, 255, 255})}, []byte{1}},
		{"router alert", IPv4Fields{TOS: 0xc0, TTL: 1, Protocol: tcpip.IGMPProtocolNumber, Source: ipv4TestSrc, Destination: netip.MustParseAddr("224.0.0.22"), Options: ra[:]}, make([]byte, 8)},
		{"full options", IPv4Fields{TTL: 64, Protocol: tcpip.ICMPv4ProtocolNumber, Source: ipv4TestSrc, Destination: ipv4TestDst, Options: bytes.Repeat([]byte{1}, 40)}, []byte{8, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := ipv4TestPacket(t, tc.f, tc.payload)
			ip, err := ParseIPv4(b)
			if err != nil {
				t.Fatalf("ParseIPv4: %v", err)
			}
			want := tc.f
			want.TotalLength = uint16(len(b))
			if got := ip.Fields(); !ipv4FieldsEqual(got, want) {
				t.Errorf("Fields() = %+v, want %+v", got, want)
			}
			if !ip.IsChecksumValid() || ip.Checksum() != ip.CalculateChecksum() {
				t.Errorf("checksum %#04x not valid (want %#04x)", ip.Checksum(), ip.CalculateChecksum())
			}
			if ip.Version() != 4 || ip.HeaderLength() != tc.f.Size() || int(ip.IHL())*4 != tc.f.Size() {
				t.Errorf("version %d, header length %d, want 4, %d", ip.Version(), ip.HeaderLength(), tc.f.Size())
			}
			if !bytes.Equal(ip.Payload(), tc.payload) {
				t.Errorf("Payload() = %x, want %x", ip.Payload(), tc.payload)
			}
			if !bytes.Equal(ip.Header(), b[:tc.f.Size()]) {
				t.Errorf("Header() = %x", ip.Header())
			}
			if got, want := ip.DSCP()<<2|ip.ECN(), tc.f.TOS; got != want {
				t.Errorf("DSCP<<2|ECN = %#x, want %#x", got, want)
			}
			if got, want := ip.More(), tc.f.Flags&IPv4FlagMoreFragments != 0; got != want {
				t.Errorf("More() = %v", got)
			}
			if got, want := ip.DontFragment(), tc.f.Flags&IPv4FlagDontFragment != 0; got != want {
				t.Errorf("DontFragment() = %v", got)
			}
			if got, want := ip.IsFragment(), ip.More() || tc.f.FragmentOffset != 0; got != want {
				t.Errorf("IsFragment() = %v", got)
			}
			if got, want := ip.IsFirstFragment(), tc.f.FragmentOffset == 0; got != want {
				t.Errorf("IsFirstFragment() = %v", got)
			}
			// Re-encoding the decoded fields gives the same bytes.
			again := make([]byte, len(b))
			f := ip.Fields()
			f.Encode(again)
			copy(again[f.Size():], ip.Payload())
			if !bytes.Equal(again, b) {
				t.Errorf("re-encoded\n%x, want\n%x", again, b)
			}
		})
	}
}

// ipv4FieldsEqual compares IPv4Fields, options padded as Encode pads them.
func ipv4FieldsEqual(a, b IPv4Fields) bool {
	if a.TOS != b.TOS || a.TotalLength != b.TotalLength || a.ID != b.ID || a.Flags != b.Flags ||
		a.FragmentOffset != b.FragmentOffset || a.TTL != b.TTL || a.Protocol != b.Protocol ||
		a.Source != b.Source || a.Destination != b.Destination {
		return false
	}
	pad := func(o []byte) []byte { return append(bytes.Clone(o), make([]byte, (4-len(o)%4)%4)...) }
	return bytes.Equal(pad(a.Options), pad(b.Options))
}

func TestIPv4FieldsEncodePadsOptions(t *testing.T) {
	for n := 0; n <= IPv4MaximumOptionsSize; n++ {
		opts := bytes.Repeat([]byte{byte(IPv4OptionNOP)}, n)
		f := IPv4Fields{TTL: 64, Source: ipv4TestSrc, Destination: ipv4TestDst, Options: opts}
		want := IPv4MinimumSize + (n+3)/4*4
		if f.Size() != want {
			t.Fatalf("%d option bytes: Size() = %d, want %d", n, f.Size(), want)
		}
		b := bytes.Repeat([]byte{0xee}, IPv4MaximumHeaderSize+1)
		f.TotalLength = uint16(want)
		ip := f.Encode(b)
		if len(ip) != want || int(ip.IHL()) != want/4 {
			t.Fatalf("%d option bytes: len %d IHL %d", n, len(ip), ip.IHL())
		}
		// RFC 791 §3.1: the padding is zeros (End of Option List).
		if got := ip.Options(); !bytes.Equal(got[:n], opts) || !bytes.Equal(got[n:], make([]byte, len(got)-n)) {
			t.Errorf("%d option bytes: options area %x", n, got)
		}
		if b[want] != 0xee {
			t.Errorf("%d option bytes: Encode wrote past the header", n)
		}
		if !ip.IsChecksumValid() {
			t.Errorf("%d option bytes: bad checksum", n)
		}
	}
}

func TestIPv4EncodePanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    IPv4Fields
	}{
		{"options too long", IPv4Fields{Source: ipv4TestSrc, Destination: ipv4TestDst, Options: make([]byte, 41)}},
		{"offset not a multiple of 8", IPv4Fields{FragmentOffset: 12, Source: ipv4TestSrc, Destination: ipv4TestDst}},
		{"IPv6 source", IPv4Fields{Source: netip.IPv6Loopback(), Destination: ipv4TestDst}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Encode did not panic")
				}
			}()
			tc.f.Encode(make([]byte, 100))
		})
	}
}

func TestParseIPv4Malformed(t *testing.T) {
	var rr [39]byte
	(&IPv4RecordRouteOptionFields{Slots: 9}).Encode(rr[:])
	full := ipv4TestPacket(t, IPv4Fields{TTL: 64, Protocol: tcpip.ICMPv4ProtocolNumber, Source: ipv4TestSrc, Destination: ipv4TestDst, Options: rr[:]}, []byte("0123456789"))
	const hl = 60

	// Every truncation of a valid packet fails with the error of the
	// first check that the missing bytes break.
	for n := range len(full) {
		_, err := ParseIPv4(full[:n])
		var want error
		switch {
		case n < IPv4MinimumSize:
			want = ErrTruncated
		case n < hl:
			want = ErrBadHeaderLength
		default:
			want = ErrBadTotalLength
		}
		if err != want {
			t.Errorf("truncated to %d bytes: err %v, want %v", n, err, want)
		}
		if !errors.Is(err, tcpip.ErrMalformed) {
			t.Errorf("truncated to %d bytes: %v does not match tcpip.ErrMalformed", n, err)
		}
	}

	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(full)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"version 6", mod(func(b []byte) { b[0] = 0x6f }), ErrBadVersion},
		{"version 0", mod(func(b []byte) { b[0] = 0x0f }), ErrBadVersion},
		{"version 15", mod(func(b []byte) { b[0] = 0xff }), ErrBadVersion},
		{"IHL 0", mod(func(b []byte) { b[0] = 0x40 }), ErrBadHeaderLength},
		{"IHL 4", mod(func(b []byte) { b[0] = 0x44 }), ErrBadHeaderLength},
		{"header only", ipv4TestPacket(t, IPv4Fields{Source: ipv4TestSrc, Destination: ipv4TestDst}, nil)[:20:20], nil},
		{"total length 0", mod(func(b []byte) { b[2], b[3] = 0, 0 }), ErrBadTotalLength},
		{"total length below header", mod(func(b []byte) { b[2], b[3] = 0, hl-1 }), ErrBadTotalLength},
		{"total length one past", mod(func(b []byte) { b[3]++ }), ErrBadTotalLength},
		{"total length 65535", mod(func(b []byte) { b[2], b[3] = 0xff, 0xff }), ErrBadTotalLength},
		{"total length equals header", mod(func(b []byte) { b[2], b[3] = 0, hl }), nil},
		// Structure only: a bad checksum and bad options still parse.
		{"bad checksum", mod(func(b []byte) { b[10] ^= 0xff }), nil},
		{"bad option", mod(func(b []byte) { b[21] = 1 }), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseIPv4(tc.b); err != tc.want {
				t.Errorf("ParseIPv4: %v, want %v", err, tc.want)
			}
		})
	}
	hdr := mod(func(b []byte) { b[0] = 0x4f })[:IPv4MinimumSize+4]
	if _, err := ParseIPv4(hdr); err != ErrBadHeaderLength {
		t.Errorf("IHL 15 in 24 bytes: %v, want ErrBadHeaderLength", err)
	}
}

func TestIPv4LinkPadding(t *testing.T) {
	// A 28-byte ICMP echo in a minimum Ethernet frame carries 18 bytes
	// of padding after the datagram (IEEE 802.3 §4.4.2, RFC 894).
	b := ipv4TestPacket(t, IPv4Fields{TTL: 64, Protocol: tcpip.ICMPv4ProtocolNumber, Source: ipv4TestSrc, Destination: ipv4TestDst}, []byte{8, 0, 0xf7, 0xff, 0, 0, 0, 0})
	padded := append(bytes.Clone(b), bytes.Repeat([]byte{0xaa}, 18)...)
	ip, err := ParseIPv4(padded)
	if err != nil {
		t.Fatal(err)
	}
	if len(ip) != len(b) || len(ip.Payload()) != 8 {
		t.Errorf("len(view) = %d, len(Payload) = %d, want %d, 8", len(ip), len(ip.Payload()), len(b))
	}
	// Payload follows Total Length when a setter has changed it.
	ip.SetTotalLength(24)
	if len(ip.Payload()) != 4 {
		t.Errorf("after SetTotalLength(24): len(Payload) = %d, want 4", len(ip.Payload()))
	}
	ip.SetTotalLength(10)
	if len(ip.Payload()) != 0 {
		t.Errorf("after SetTotalLength(10): len(Payload) = %d, want 0", len(ip.Payload()))
	}
	ip.SetTotalLength(1000)
	if len(ip.Payload()) != 8 {
		t.Errorf("after SetTotalLength(1000): len(Payload) = %d, want 8", len(ip.Payload()))
	}
}

func TestIPv4Setters(t *testing.T) {
	var ra [4]byte
	(&IPv4RouterAlertOptionFields{}).Encode(ra[:])
	base := IPv4Fields{TOS: 0x10, ID: 0x1234, Flags: IPv4FlagDontFragment, TTL: 64, Protocol: tcpip.UDPProtocolNumber, Source: ipv4TestSrc, Destination: ipv4TestDst, Options: ra[:]}
	newSrc, newDst := netip.MustParseAddr("10.255.0.9"), netip.MustParseAddr("172.16.254.3")
	for _, tc := range []struct {
		name  string
		set   func(IPv4)
		check func(IPv4Fields) IPv4Fields // the fields expected after set
	}{
		{"TTL", func(b IPv4) { b.SetTTL(63) }, func(f IPv4Fields) IPv4Fields { f.TTL = 63; return f }},
		{"TTL 0", func(b IPv4) { b.SetTTL(0) }, func(f IPv4Fields) IPv4Fields { f.TTL = 0; return f }},
		{"TTL same", func(b IPv4) { b.SetTTL(64) }, func(f IPv4Fields) IPv4Fields { return f }},
		{"TOS CE", func(b IPv4) { b.SetTOS(0x13) }, func(f IPv4Fields) IPv4Fields { f.TOS = 0x13; return f }},
		{"ID", func(b IPv4) { b.SetID(0xffff) }, func(f IPv4Fields) IPv4Fields { f.ID = 0xffff; return f }},
		{"total length", func(b IPv4) { b.SetTotalLength(1500) }, func(f IPv4Fields) IPv4Fields { f.TotalLength = 1500; return f }},
		{"fragment", func(b IPv4) { b.SetFlagsFragmentOffset(IPv4FlagMoreFragments, 1480) }, func(f IPv4Fields) IPv4Fields {
			f.Flags, f.FragmentOffset = IPv4FlagMoreFragments, 1480
			return f
		}},
		{"source", func(b IPv4) { b.SetSource(newSrc) }, func(f IPv4Fields) IPv4Fields { f.Source = newSrc; return f }},
		{"destination", func(b IPv4) { b.SetDestination(newDst) }, func(f IPv4Fields) IPv4Fields { f.Destination = newDst; return f }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := ipv4TestPacket(t, base, make([]byte, 8))
			ip, err := ParseIPv4(b)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.check(ip.Fields())
			tc.set(ip)
			if got := ip.Fields(); !ipv4FieldsEqual(got, want) {
				t.Errorf("Fields() = %+v, want %+v", got, want)
			}
			if !ip.IsChecksumValid() {
				t.Errorf("checksum %#04x not valid after the setter", ip.Checksum())
			}
			// A wrong checksum stays exactly as wrong.
			b = ipv4TestPacket(t, base, make([]byte, 8))
			ip, _ = ParseIPv4(b)
			ip.SetChecksum(ip.Checksum() + 1)
			tc.set(ip)
			if ip.IsChecksumValid() {
				t.Errorf("a wrong checksum became valid")
			}
			ip.SetChecksum(ip.Checksum() - 1)
			if !ip.IsChecksumValid() {
				t.Errorf("the error in the checksum changed")
			}
		})
	}
}

func TestIPv4SetFlagsFragmentOffsetPanics(t *testing.T) {
	b := ipv4TestPacket(t, IPv4Fields{Source: ipv4TestSrc, Destination: ipv4TestDst}, nil)
	defer func() {
		if recover() == nil {
			t.Errorf("no panic for offset 4")
		}
	}()
	IPv4(b).SetFlagsFragmentOffset(0, 4)
}

func TestIPv4FlagsString(t *testing.T) {
	for f, want := range map[IPv4Flags]string{
		0: "0", IPv4FlagDontFragment: "DF", IPv4FlagMoreFragments: "MF",
		IPv4FlagDontFragment | IPv4FlagMoreFragments: "DF|MF", 7: "RES|DF|MF", 8: "0",
	} {
		if got := f.String(); got != want {
			t.Errorf("IPv4Flags(%d).String() = %q, want %q", f, got, want)
		}
	}
}

// ipv4TestOpt is an option as TestIPv4OptionIterator expects it.
type ipv4TestOpt struct {
	kind   IPv4OptionKind
	offset int
	len    int
}

func TestIPv4OptionIterator(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []byte
		want    []ipv4TestOpt
		err     error
		stopped int // Offset() after the end
	}{
		{"empty", nil, nil, nil, 0},
		{"EOL", []byte{0, 0, 0, 0}, nil, nil, 4},
		{"EOL hides garbage", []byte{1, 0, 0xff, 0xff}, []ipv4TestOpt{{IPv4OptionNOP, 0, 1}}, nil, 4},
		{"NOPs", []byte{1, 1, 1, 1}, []ipv4TestOpt{{1, 0, 1}, {1, 1, 1}, {1, 2, 1}, {1, 3, 1}}, nil, 4},
		{"router alert", []byte{148, 4, 0, 0}, []ipv4TestOpt{{IPv4OptionRouterAlert, 0, 4}}, nil, 4},
		{"unknown kind", []byte{1, 0x9e, 3, 7, 148, 4, 0, 0}, []ipv4TestOpt{{1, 0, 1}, {0x9e, 1, 3}, {IPv4OptionRouterAlert, 4, 4}}, nil, 8},
		{"length 2", []byte{0x9e, 2, 0, 0}, []ipv4TestOpt{{0x9e, 0, 2}}, nil, 4},
		{"length fills area", []byte{7, 4, 4, 0}, []ipv4TestOpt{{IPv4OptionRecordRoute, 0, 4}}, nil, 4},
		{"length 0", []byte{1, 7, 0, 4}, []ipv4TestOpt{{1, 0, 1}}, ErrBadOption, 1},
		{"length 1", []byte{7, 1, 4, 0}, nil, ErrBadOption, 0},
		{"length past end", []byte{1, 1, 148, 5, 0, 0}, []ipv4TestOpt{{1, 0, 1}, {1, 1, 1}}, ErrBadOption, 2},
		{"length byte missing", []byte{1, 1, 1, 68}, []ipv4TestOpt{{1, 0, 1}, {1, 1, 1}, {1, 2, 1}}, ErrBadOption, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := NewIPv4OptionIterator(tc.opts)
			var got []ipv4TestOpt
			for o, ok := it.Next(); ok; o, ok = it.Next() {
				got = append(got, ipv4TestOpt{o.Kind, o.Offset, o.Len()})
				if !bytes.Equal(o.Bytes, tc.opts[o.Offset:o.Offset+o.Len()]) {
					t.Errorf("option at %d: Bytes %x", o.Offset, o.Bytes)
				}
				if o.Kind == IPv4OptionNOP && o.Data() != nil || o.Kind != IPv4OptionNOP && len(o.Data()) != o.Len()-2 {
					t.Errorf("option at %d: Data %x", o.Offset, o.Data())
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("options %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("option %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if it.Err() != tc.err {
				t.Errorf("Err() = %v, want %v", it.Err(), tc.err)
			}
			if it.Offset() != tc.stopped {
				t.Errorf("Offset() = %d, want %d", it.Offset(), tc.stopped)
			}
			if _, ok := it.Next(); ok {
				t.Errorf("Next after the end returned an option")
			}
		})
	}
	var zero IPv4OptionIterator
	if _, ok := zero.Next(); ok || zero.Err() != nil {
		t.Errorf("zero iterator is not empty")
	}
}

func TestIPv4OptionKind(t *testing.T) {
	for _, tc := range []struct {
		k      IPv4OptionKind
		copied bool
		class  uint8
		number uint8
		name   string
	}{
		{IPv4OptionEOL, false, 0, 0, "EOL"},
		{IPv4OptionNOP, false, 0, 1, "NOP"},
		{IPv4OptionRecordRoute, false, 0, 7, "RR"},
		{IPv4OptionTimestamp, false, 2, 4, "TS"},
		{IPv4OptionSecurity, true, 0, 2, "SEC"},
		{IPv4OptionLooseSourceRoute, true, 0, 3, "LSRR"},
		{IPv4OptionStreamID, true, 0, 8, "SID"},
		{IPv4OptionStrictSourceRoute, true, 0, 9, "SSRR"},
		{IPv4OptionRouterAlert, true, 0, 20, "RA"},
		{0x9e, true, 0, 30, "option(158)"},
	} {
		if tc.k.Copied() != tc.copied || tc.k.Class() != tc.class || tc.k.Number() != tc.number || tc.k.String() != tc.name {
			t.Errorf("kind %d: copied %v class %d number %d name %q, want %v %d %d %q", uint8(tc.k),
				tc.k.Copied(), tc.k.Class(), tc.k.Number(), tc.k.String(), tc.copied, tc.class, tc.number, tc.name)
		}
	}
}

// ipv4TestOption returns the single option of b.
func ipv4TestOption(t *testing.T, b []byte) IPv4Option {
	t.Helper()
	it := NewIPv4OptionIterator(b)
	o, ok := it.Next()
	if !ok {
		t.Fatalf("no option in %x: %v", b, it.Err())
	}
	return o
}

func TestIPv4RouteOption(t *testing.T) {
	a1, a2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", []byte{7, 3, 4}, nil},
		{"one slot", []byte{7, 7, 4, 0, 0, 0, 0}, nil},
		{"one slot full", []byte{7, 7, 8, 10, 0, 0, 1}, nil},
		{"pointer far past", []byte{7, 7, 255, 10, 0, 0, 1}, nil},
		{"LSRR", []byte{131, 7, 4, 10, 0, 0, 1}, nil},
		{"SSRR", []byte{137, 7, 4, 10, 0, 0, 1}, nil},
		{"length 2", []byte{7, 2}, ErrBadOption},
		{"pointer 3", []byte{7, 7, 3, 0, 0, 0, 0}, ErrBadOption},
		{"pointer 0", []byte{7, 7, 0, 0, 0, 0, 0}, ErrBadOption},
		{"partial slot", []byte{7, 6, 4, 0, 0, 0}, ErrBadOption},
		{"partial second slot", []byte{7, 10, 8, 0, 0, 0, 0, 0, 0, 0}, ErrBadOption},
		{"misaligned full", []byte{7, 10, 11, 0, 0, 0, 0, 0, 0, 0}, nil},
		{"wrong kind", []byte{68, 7, 5, 0, 0, 0, 0}, ErrBadOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ipv4TestOption(t, tc.b).Route()
			if err != tc.err {
				t.Errorf("Route() error %v, want %v", err, tc.err)
			}
		})
	}

	// Record until full, as routers along ping -R's path do.
	var buf [IPv4MaximumOptionsSize]byte
	rr := (&IPv4RecordRouteOptionFields{Slots: 2}).Encode(buf[:])
	if !bytes.Equal(rr, []byte{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0}) {
		t.Fatalf("encoded %x", []byte(rr))
	}
	r, err := ipv4TestOption(t, rr).Route()
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind() != IPv4OptionRecordRoute || r.Slots() != 2 || r.Recorded() != 0 || r.Full() {
		t.Errorf("fresh option: kind %v slots %d recorded %d full %v", r.Kind(), r.Slots(), r.Recorded(), r.Full())
	}
	if next, ok := r.Next(); !ok || next != netip.IPv4Unspecified() {
		t.Errorf("Next() = %v, %v", next, ok)
	}
	if !r.Record(a1) || !r.Record(a2) {
		t.Fatal("Record failed with room left")
	}
	if r.Record(a1) {
		t.Error("Record succeeded on a full option")
	}
	if _, ok := r.Next(); ok {
		t.Error("Next() on a full option")
	}
	if !r.Full() || r.Recorded() != 2 || r.Pointer() != 12 || r.Address(0) != a1 || r.Address(1) != a2 {
		t.Errorf("after recording: full %v recorded %d pointer %d addresses %v %v", r.Full(), r.Recorded(), r.Pointer(), r.Address(0), r.Address(1))
	}
	if _, err := ipv4TestOption(t, r).Route(); err != nil {
		t.Errorf("recorded option no longer valid: %v", err)
	}

	// Encoding with addresses already recorded, as when echoing.
	rr = (&IPv4RecordRouteOptionFields{Slots: IPv4RecordRouteMaxSlots, Recorded: []netip.Addr{a1, a2}}).Encode(buf[:])
	if len(rr) != 39 || rr.Pointer() != 12 || rr.Recorded() != 2 || rr.Address(1) != a2 || rr.Slots() != 9 {
		t.Errorf("encoded %x", []byte(rr))
	}
	rr = (&IPv4RecordRouteOptionFields{Recorded: []netip.Addr{a1}}).Encode(buf[:])
	if !bytes.Equal(rr, []byte{7, 7, 8, 10, 0, 0, 1}) {
		t.Errorf("Slots raised to len(Recorded): encoded %x", []byte(rr))
	}

	// A pointer misaligned to the slots leaves a partial slot at the end
	// after recording: it counts as full, and nothing is written there.
	mis := []byte{7, 10, 5, 0, 0, 0, 0, 0, 0, 0}
	r, err = ipv4TestOption(t, mis).Route()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Record(a1) || r.Record(a2) || !r.Full() || mis[8] != 0 {
		t.Errorf("misaligned pointer: %x full %v", mis, r.Full())
	}

	// A pointer that wraps past 255 counts as full.
	long := make([]byte, 255)
	long[0], long[1], long[2] = 7, 255, 252
	r, err = ipv4TestOption(t, long).Route()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Record(a1) || r.Pointer() != 0 || !r.Full() || r.Record(a2) || r.Recorded() != 0 {
		t.Errorf("wrapped pointer %d: full %v recorded %d", r.Pointer(), r.Full(), r.Recorded())
	}
}

func TestIPv4TimestampOption(t *testing.T) {
	a1, a2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"tsonly empty", []byte{68, 4, 5, 0}, nil},
		{"tsonly one", []byte{68, 8, 5, 0, 0, 0, 0, 0}, nil},
		{"tsonly full", []byte{68, 8, 9, 0x10, 0, 0, 0, 1}, nil},
		{"tsandaddr one", []byte{68, 12, 5, 1, 10, 0, 0, 1, 0, 0, 0, 0}, nil},
		{"prespec one", []byte{68, 12, 5, 3, 10, 0, 0, 1, 0, 0, 0, 0}, nil},
		{"length 3", []byte{68, 3, 5}, ErrBadOption},
		{"pointer 4", []byte{68, 8, 4, 0, 0, 0, 0, 0}, ErrBadOption},
		{"flag 2", []byte{68, 12, 5, 2, 0, 0, 0, 0, 0, 0, 0, 0}, ErrBadOption},
		{"flag 15 full", []byte{68, 4, 5, 0xff}, ErrBadOption},
		{"tsonly partial", []byte{68, 7, 5, 0, 0, 0, 0}, ErrBadOption},
		{"tsandaddr partial", []byte{68, 8, 5, 1, 0, 0, 0, 0}, ErrBadOption},
		{"wrong kind", []byte{7, 8, 5, 0, 0, 0, 0, 0}, ErrBadOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ipv4TestOption(t, tc.b).Timestamp()
			if err != tc.err {
				t.Errorf("Timestamp() error %v, want %v", err, tc.err)
			}
		})
	}

	var buf [IPv4MaximumOptionsSize]byte
	t.Run("tsonly", func(t *testing.T) {
		ts := (&IPv4TimestampOptionFields{Flag: IPv4TimestampOnly, Slots: 9}).Encode(buf[:])
		if len(ts) != 40 || ts.Pointer() != 5 || ts.Flag() != IPv4TimestampOnly || ts.Slots() != 9 || ts.Recorded() != 0 || ts.Full() {
			t.Fatalf("encoded %x", []byte(ts))
		}
		for i := range 9 {
			if !ts.Record(a1, uint32(1000+i)) {
				t.Fatalf("Record %d failed", i)
			}
		}
		if ts.Record(a1, 1) || !ts.Full() || ts.Recorded() != 9 {
			t.Fatalf("full option: recorded %d", ts.Recorded())
		}
		for i := range 9 {
			if e := ts.Entry(i); e != (IPv4TimestampEntry{Timestamp: uint32(1000 + i)}) {
				t.Errorf("entry %d = %+v", i, e)
			}
		}
		// RFC 791: a full option counts the modules that could not
		// record; when the count overflows the datagram is in error.
		for i := 1; i <= 15; i++ {
			if !ts.IncrementOverflow() || ts.Overflow() != uint8(i) || ts.Flag() != IPv4TimestampOnly {
				t.Fatalf("IncrementOverflow %d: overflow %d flag %v", i, ts.Overflow(), ts.Flag())
			}
		}
		if ts.IncrementOverflow() || ts.Overflow() != 15 {
			t.Errorf("overflow count overflowed: %d", ts.Overflow())
		}
	})
	t.Run("tsandaddr", func(t *testing.T) {
		ts := (&IPv4TimestampOptionFields{Flag: IPv4TimestampAndAddress, Slots: 4}).Encode(buf[:])
		if len(ts) != 36 || ts.Slots() != 4 {
			t.Fatalf("encoded %x", []byte(ts))
		}
		if !ts.Record(a1, 7) || !ts.Record(a2, 8) {
			t.Fatal("Record failed")
		}
		if ts.Entry(0) != (IPv4TimestampEntry{a1, 7}) || ts.Entry(1) != (IPv4TimestampEntry{a2, 8}) || ts.Recorded() != 2 || ts.Pointer() != 21 {
			t.Errorf("entries %+v %+v, recorded %d pointer %d", ts.Entry(0), ts.Entry(1), ts.Recorded(), ts.Pointer())
		}
	})
	t.Run("prespecified", func(t *testing.T) {
		ts := (&IPv4TimestampOptionFields{Flag: IPv4TimestampPrespecified, Entries: []IPv4TimestampEntry{{Address: a1}, {Address: a2}}}).Encode(buf[:])
		if len(ts) != 20 || ts.Slots() != 2 || ts.Recorded() != 0 {
			t.Fatalf("encoded %x", []byte(ts))
		}
		// RFC 791: a module records only if its address is next.
		if ts.Record(a2, 5) || ts.Recorded() != 0 {
			t.Error("recorded for an address that is not next")
		}
		if !ts.Record(a1, 5) || !ts.Record(a2, 6) || !ts.Full() {
			t.Error("Record in order failed")
		}
		if ts.Entry(0) != (IPv4TimestampEntry{a1, 5}) || ts.Entry(1) != (IPv4TimestampEntry{a2, 6}) {
			t.Errorf("entries %+v %+v", ts.Entry(0), ts.Entry(1))
		}
	})
	t.Run("encode recorded", func(t *testing.T) {
		f := IPv4TimestampOptionFields{Flag: IPv4TimestampAndAddress, Overflow: 3, Slots: 3, Entries: []IPv4TimestampEntry{{a1, 1}}, Recorded: 1}
		ts := f.Encode(buf[:])
		want := []byte{68, 28, 13, 0x31, 10, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		if !bytes.Equal(ts, want) || f.Size() != len(want) {
			t.Errorf("encoded %x, want %x", []byte(ts), want)
		}
		if ts.Overflow() != 3 || ts.Entry(0) != f.Entries[0] {
			t.Errorf("overflow %d entry %+v", ts.Overflow(), ts.Entry(0))
		}
	})
	for f, want := range map[IPv4TimestampFlag]string{0: "tsonly", 1: "tsandaddr", 3: "tsprespec", 2: "flag(2)"} {
		if f.String() != want {
			t.Errorf("IPv4TimestampFlag(%d).String() = %q, want %q", f, f.String(), want)
		}
	}
	// A wrapping pointer counts as full.
	long := make([]byte, 255)
	long[0], long[1], long[2], long[3] = 68, 255, 248, 1
	ts, err := ipv4TestOption(t, long).Timestamp()
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Record(a1, 1) || ts.Pointer() != 0 || !ts.Full() || ts.Record(a1, 2) || ts.Recorded() != 0 {
		t.Errorf("wrapped pointer %d: full %v", ts.Pointer(), ts.Full())
	}
}

func TestIPv4RouterAlertOption(t *testing.T) {
	var buf [IPv4RouterAlertOptionSize]byte
	b := (&IPv4RouterAlertOptionFields{Value: IPv4RouterAlertExamine}).Encode(buf[:])
	if !bytes.Equal(b, []byte{0x94, 4, 0, 0}) {
		t.Errorf("encoded %x", b)
	}
	if v, err := ipv4TestOption(t, b).RouterAlert(); v != 0 || err != nil {
		t.Errorf("RouterAlert() = %d, %v", v, err)
	}
	if v, err := ipv4TestOption(t, []byte{0x94, 4, 1, 2}).RouterAlert(); v != 0x102 || err != nil {
		t.Errorf("RouterAlert() = %d, %v", v, err)
	}
	for _, bad := range [][]byte{{0x94, 2}, {0x94, 3, 0}, {0x94, 5, 0, 0, 0}, {0x14, 4, 0, 0}} {
		if _, err := ipv4TestOption(t, bad).RouterAlert(); err != ErrBadOption {
			t.Errorf("RouterAlert() of %x: %v, want ErrBadOption", bad, err)
		}
	}
	// The kinds of the typed accessors do not mix.
	o := ipv4TestOption(t, b)
	if _, err := o.Route(); err != ErrBadOption {
		t.Errorf("Route() of a router alert: %v", err)
	}
	if _, err := o.Timestamp(); err != ErrBadOption {
		t.Errorf("Timestamp() of a router alert: %v", err)
	}
}

func TestIPv4CopiedOptions(t *testing.T) {
	// RR (not copied), NOP, RA (copied), LSRR (copied), TS (not copied).
	opts := []byte{7, 7, 4, 0, 0, 0, 0, 1, 0x94, 4, 0, 0, 131, 7, 4, 10, 0, 0, 1, 68, 8, 5, 0, 0, 0, 0, 0, 0}
	var dst [IPv4MaximumOptionsSize]byte
	n, err := IPv4CopiedOptions(dst[:], opts)
	want := []byte{0x94, 4, 0, 0, 131, 7, 4, 10, 0, 0, 1}
	if err != nil || !bytes.Equal(dst[:n], want) {
		t.Errorf("IPv4CopiedOptions = %x, %v, want %x", dst[:n], err, want)
	}
	if _, err := IPv4CopiedOptions(dst[:], []byte{0x94, 4, 0, 0, 7, 9}); err != ErrBadOption {
		t.Errorf("malformed area: %v", err)
	}
}

func TestIPv4Allocs(t *testing.T) {
	var rr [39]byte
	(&IPv4RecordRouteOptionFields{Slots: 9}).Encode(rr[:])
	b := ipv4TestPacket(t, IPv4Fields{TTL: 64, Protocol: tcpip.ICMPv4ProtocolNumber, Source: ipv4TestSrc, Destination: ipv4TestDst, Options: rr[:]}, make([]byte, 64))
	out := make([]byte, IPv4MaximumHeaderSize)
	var optBuf [IPv4MaximumOptionsSize]byte
	entries := []IPv4TimestampEntry{{ipv4TestSrc, 1}}
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		ip, err := ParseIPv4(b)
		if err != nil {
			t.Fatal(err)
		}
		sink += int(ip.Version()) + ip.HeaderLength() + int(ip.IHL()) + int(ip.TOS()+ip.DSCP()+ip.ECN())
		sink += int(ip.TotalLength()) + int(ip.ID()) + int(ip.Flags()) + int(ip.FragmentOffset())
		sink += int(ip.TTL()) + int(ip.Protocol()) + int(ip.Checksum()) + len(ip.Options()) + len(ip.Payload()) + len(ip.Header())
		if ip.Source() != ipv4TestSrc || ip.Destination() != ipv4TestDst || !ip.IsChecksumValid() || ip.CalculateChecksum() != ip.Checksum() {
			t.Fatal("bad values")
		}
		if ip.More() || ip.DontFragment() || ip.IsFragment() || !ip.IsFirstFragment() {
			t.Fatal("bad flags")
		}
		it := ip.OptionIterator()
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			sink += o.Len() + len(o.Data())
			if r, err := o.Route(); err == nil {
				sink += r.Slots() + r.Recorded() + int(r.Pointer())
				a, _ := r.Next()
				sink += int(a.As4()[0]) + int(r.Address(0).As4()[0])
			}
			if ts, err := o.Timestamp(); err == nil {
				sink += ts.Slots() + ts.Recorded() + int(ts.Entry(0).Timestamp)
			}
			if v, err := o.RouterAlert(); err == nil {
				sink += int(v)
			}
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
		ip.SetTTL(ip.TTL())
		ip.SetSource(ipv4TestSrc)
		ip.SetFlagsFragmentOffset(0, 0)
		f := ip.Fields()
		sink += len(f.Encode(out))
		sink += len((&IPv4RecordRouteOptionFields{Slots: 9}).Encode(optBuf[:]))
		sink += len((&IPv4TimestampOptionFields{Flag: IPv4TimestampAndAddress, Slots: 4, Entries: entries, Recorded: 1}).Encode(optBuf[:]))
		sink += len((&IPv4RouterAlertOptionFields{}).Encode(optBuf[:]))
		n, _ := IPv4CopiedOptions(optBuf[:], ip.Options())
		sink += n
	})
	if allocs != 0 {
		t.Errorf("parse, accessors, options and encode allocate %v times, want 0", allocs)
	}
	_ = sink
}

func FuzzParseIPv4(f *testing.F) {
	for _, name := range ipv4GoldenNames {
		frame := golden(f, name)
		f.Add(frame[EthernetMinimumSize:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, err := ParseIPv4(b)
		if err != nil {
			if ip != nil {
				t.Fatalf("view %x with error %v", []byte(ip), err)
			}
			return
		}
		hl := ip.HeaderLength()
		if ip.Version() != 4 || hl < IPv4MinimumSize || hl > IPv4MaximumHeaderSize || len(ip) != int(ip.TotalLength()) || len(ip) > len(b) {
			t.Fatalf("bad view: version %d header %d total %d len %d", ip.Version(), hl, ip.TotalLength(), len(ip))
		}
		if len(ip.Header())+len(ip.Payload()) != len(ip) || len(ip.Options()) != hl-IPv4MinimumSize {
			t.Fatalf("header %d + payload %d != %d", len(ip.Header()), len(ip.Payload()), len(ip))
		}
		_ = ip.Source().Is4() && ip.Destination().Is4()
		_ = ip.TOS() + ip.DSCP() + ip.ECN() + ip.TTL() + uint8(ip.Protocol()) + uint8(ip.Flags())
		_ = ip.ID() + ip.FragmentOffset() + ip.Checksum()
		_ = ip.More() || ip.DontFragment() || ip.IsFragment() || ip.IsFirstFragment()
		if ip.IsChecksumValid() != (ip.CalculateChecksum() == ip.Checksum()) {
			// The two differ only for the two zeros of one's
			// complement: a computed 0x0000 against a stored 0xffff.
			if ip.CalculateChecksum() != 0 || ip.Checksum() != 0xffff {
				t.Fatalf("IsChecksumValid %v but calculated %#04x, stored %#04x", ip.IsChecksumValid(), ip.CalculateChecksum(), ip.Checksum())
			}
		}

		// Options: the yielded options tile the area up to where the
		// walk stopped, and the typed accessors never panic.
		it := ip.OptionIterator()
		end := 0
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if o.Offset != end || o.Len() < 1 || o.Kind != IPv4OptionKind(o.Bytes[0]) {
				t.Fatalf("option at %d (kind %v len %d), want offset %d", o.Offset, o.Kind, o.Len(), end)
			}
			end += o.Len()
			_ = o.Data()
			ipv4FuzzOption(t, o)
		}
		if it.Err() == nil && end < len(ip.Options()) && ip.Options()[end] != byte(IPv4OptionEOL) {
			t.Fatalf("walk stopped at %d without error or EOL", end)
		}
		if it.Err() != nil && it.Offset() != end {
			t.Fatalf("error at offset %d, walk reached %d", it.Offset(), end)
		}
		var dst [IPv4MaximumOptionsSize]byte
		if n, err := IPv4CopiedOptions(dst[:], ip.Options()); err != it.Err() || n > len(ip.Options()) {
			t.Fatalf("IPv4CopiedOptions = %d, %v; iterator error %v", n, err, it.Err())
		}

		// Re-encoding gives the same header with a valid checksum.
		fields := ip.Fields()
		enc := make([]byte, len(ip))
		e := fields.Encode(enc)
		copy(enc[len(e):], ip.Payload())
		if !bytes.Equal(enc[:ipv4Checksum], ip[:ipv4Checksum]) || !bytes.Equal(enc[ipv4Source:], ip[ipv4Source:]) || !e.IsChecksumValid() {
			t.Fatalf("re-encoded\n%x, want\n%x", enc, []byte(ip))
		}
		again, err := ParseIPv4(enc)
		if err != nil {
			t.Fatalf("re-encoded packet does not parse: %v", err)
		}
		if !ipv4FieldsEqual(again.Fields(), fields) {
			t.Fatalf("round trip: %+v, want %+v", again.Fields(), fields)
		}

		// Setters keep a valid checksum valid.
		valid := again.IsChecksumValid()
		again.SetTTL(ip.TTL() - 1)
		again.SetTOS(ip.TOS() | 3)
		again.SetID(^ip.ID())
		again.SetFlagsFragmentOffset(ip.Flags()^IPv4FlagDontFragment, ip.FragmentOffset())
		again.SetSource(ip.Destination())
		again.SetDestination(ip.Source())
		again.SetTotalLength(ip.TotalLength())
		if again.IsChecksumValid() != valid {
			t.Fatalf("setters broke the checksum")
		}
		if again.TTL() != ip.TTL()-1 || again.Source() != ip.Destination() || again.Destination() != ip.Source() || again.ID() != ^ip.ID() {
			t.Fatalf("setters did not set")
		}
	})
}

// ipv4FuzzOption calls every accessor of o that applies, on a copy.
func ipv4FuzzOption(t *testing.T, o IPv4Option) {
	o.Bytes = bytes.Clone(o.Bytes)
	a := netip.AddrFrom4([4]byte{10, 0, 0, 1})
	if r, err := o.Route(); err == nil {
		_ = r.Kind()
		for i := range r.Slots() {
			_ = r.Address(i)
		}
		if r.Recorded() < 0 || r.Recorded() > r.Slots() {
			t.Fatalf("route: recorded %d of %d", r.Recorded(), r.Slots())
		}
		for range 80 {
			_, _ = r.Next()
			if !r.Record(a) {
				break
			}
		}
		if !r.Full() {
			t.Fatalf("route never full: %x", []byte(r))
		}
	}
	if ts, err := o.Timestamp(); err == nil {
		for i := range ts.Slots() {
			_ = ts.Entry(i)
		}
		if ts.Recorded() < 0 || ts.Recorded() > ts.Slots() {
			t.Fatalf("timestamp: recorded %d of %d", ts.Recorded(), ts.Slots())
		}
		_ = ts.Overflow()
		for range 80 {
			if !ts.Record(a, 1) {
				if ts.Full() && !ts.IncrementOverflow() && ts.Overflow() != 15 {
					t.Fatalf("timestamp: overflow %d", ts.Overflow())
				}
				break
			}
		}
	}
	_, _ = o.RouterAlert()
}
