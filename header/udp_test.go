package header

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// Helpers shared by the UDP and TCP tests (udp_test.go and tcp_test.go).

var (
	transportSrc4 = netip.MustParseAddr("192.0.2.1")
	transportDst4 = netip.MustParseAddr("198.51.100.7")
	transportSrc6 = netip.MustParseAddr("2001:db8::1")
	transportDst6 = netip.MustParseAddr("2001:db8:ffff::abcd:2")
)

// transportGolden returns the transport header and payload of a golden
// frame (Ethernet II, then IPv4 or IPv6 without extension headers), cut to
// the IP length, with the IP source and destination. It reads the IP
// header's fixed offsets itself, so as not to depend on the IPv4 and IPv6
// views.
func transportGolden(t testing.TB, name string, proto uint8) (src, dst netip.Addr, l4 []byte) {
	t.Helper()
	frame := golden(t, name)
	if len(frame) < 14 {
		t.Fatalf("%s: frame of %d bytes", name, len(frame))
	}
	ip := frame[14:]
	switch et := binary.BigEndian.Uint16(frame[12:]); et {
	case 0x0800:
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ip[9] != proto || total > len(ip) || ihl > total {
			t.Fatalf("%s: IPv4 protocol %d, total length %d, IHL %d, %d bytes", name, ip[9], total, ihl, len(ip))
		}
		return netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), ip[ihl:total]
	case 0x86dd:
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if ip[6] != proto || 40+plen > len(ip) {
			t.Fatalf("%s: IPv6 next header %d, payload length %d, %d bytes", name, ip[6], plen, len(ip))
		}
		return netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40])), ip[40 : 40+plen]
	default:
		t.Fatalf("%s: EtherType %#04x", name, et)
	}
	return
}

// transportGoldenSeeds adds the transport part of each named fixture that
// exists to a fuzz corpus.
func transportGoldenSeeds(f *testing.F, proto uint8, names ...string) {
	for _, name := range names {
		if _, err := os.Stat(filepath.Join("testdata", "golden", name+".hex")); err != nil {
			continue
		}
		_, _, l4 := transportGolden(f, name, proto)
		f.Add(bytes.Clone(l4))
	}
}

// transportRefChecksum is a plain reference for the TCP/UDP checksum: it
// lays out the pseudo-header byte by byte (RFC 768, RFC 9293 §3.1, RFC 8200
// §8.1), appends data, and sums 16-bit words the slow way.
func transportRefChecksum(proto uint8, src, dst netip.Addr, data []byte) uint16 {
	var ph []byte
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		ph = append(append(ph, s[:]...), d[:]...)
		ph = append(ph, 0, proto, byte(len(data)>>8), byte(len(data)))
	} else {
		s, d := src.As16(), dst.As16()
		ph = append(append(ph, s[:]...), d[:]...)
		ph = binary.BigEndian.AppendUint32(ph, uint32(len(data)))
		ph = append(ph, 0, 0, 0, proto)
	}
	all := append(ph, data...)
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var sum uint32
	for i := 0; i < len(all); i += 2 {
		sum += uint32(all[i])<<8 | uint32(all[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// transportChunkSum sums data in random pieces with a Checksummer, as a
// chunked payload would be.
func transportChunkSum(r *rand.Rand, data []byte) uint16 {
	var c Checksummer
	for len(data) > 0 {
		n := min(len(data), 1+r.Intn(7))
		c.Add(data[:n])
		data = data[n:]
	}
	return c.Sum()
}

func TestUDPGolden(t *testing.T) {
	tests := []struct {
		name       string
		addrs      string // source and destination
		fields     UDPFields
		payload    string
		wantNoCsum bool
	}{
		{
			// 10.99.1.1:40000 -> 10.99.1.2:7777
			name:    "ipv4_udp",
			addrs:   "10.99.1.1 10.99.1.2",
			fields:  UDPFields{SrcPort: 40000, DstPort: 7777, Length: 21, Checksum: 0x8a0e},
			payload: "hello, ustack",
		},
		{
			// SO_NO_CHECK: checksum 0
			name:       "ipv4_udp_nocsum",
			addrs:      "10.99.1.1 10.99.1.2",
			fields:     UDPFields{SrcPort: 40002, DstPort: 7777, Length: 19, Checksum: 0},
			payload:    "no checksum",
			wantNoCsum: true,
		},
		{
			// [fd00:99::1]:40000 -> [fd00:99::2]:7777
			name:    "ipv6_udp",
			addrs:   "fd00:99::1 fd00:99::2",
			fields:  UDPFields{SrcPort: 40000, DstPort: 7777, Length: 21, Checksum: 0xa5a0},
			payload: "hello, ustack",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst, l4 := transportGolden(t, tt.name, 17)
			if a := src.String() + " " + dst.String(); a != tt.addrs {
				t.Errorf("addresses %s, want %s", a, tt.addrs)
			}
			u, err := ParseUDP(l4)
			if err != nil {
				t.Fatalf("ParseUDP: %v", err)
			}
			if got, want := u.Fields(), tt.fields; got != want {
				t.Errorf("Fields() = %+v, want %+v", got, want)
			}
			if string(u.Payload()) != tt.payload {
				t.Errorf("Payload() = %q, want %q", u.Payload(), tt.payload)
			}
			if !u.IsChecksumValid(src, dst) {
				t.Errorf("IsChecksumValid = false (field %#04x)", u.Checksum())
			}
			if tt.wantNoCsum {
				if u.Checksum() != 0 {
					t.Errorf("Checksum() = %#04x, want 0", u.Checksum())
				}
			} else {
				if c := u.CalculateChecksum(src, dst); c != u.Checksum() {
					t.Errorf("CalculateChecksum = %#04x, field %#04x", c, u.Checksum())
				}
				if c := transportRefChecksum(17, src, dst, udpZeroChecksum(l4)); c != u.Checksum() {
					t.Errorf("reference checksum = %#04x, field %#04x", c, u.Checksum())
				}
			}
			enc := make([]byte, len(l4))
			f := u.Fields()
			f.Encode(enc)
			copy(enc[UDPMinimumSize:], u.Payload())
			if !bytes.Equal(enc, l4) {
				t.Errorf("re-encoded\n%x\nwant\n%x", enc, l4)
			}
		})
	}
}

// udpZeroChecksum returns a copy of a datagram with its checksum field 0.
func udpZeroChecksum(b []byte) []byte {
	c := bytes.Clone(b)
	c[6], c[7] = 0, 0
	return c
}

func TestUDPRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		fields  UDPFields
		payload []byte
	}{
		{"empty", UDPFields{SrcPort: 1, DstPort: 2, Length: 8}, nil},
		{"zero ports", UDPFields{Length: 9}, []byte{0xff}},
		{"max ports", UDPFields{SrcPort: 0xffff, DstPort: 0xffff, Length: 8 + 3, Checksum: 0xffff}, []byte("abc")},
		{"dns", UDPFields{SrcPort: 53000, DstPort: 53, Length: 8 + 29, Checksum: 0x1234}, bytes.Repeat([]byte{0xa5}, 29)},
		{"big", UDPFields{SrcPort: 4789, DstPort: 4789, Length: 8 + 1472}, bytes.Repeat([]byte{1, 2, 3}, 1472/3+1)[:1472]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, int(tt.fields.Length)+5) // with trailing junk
			for i := range b {
				b[i] = 0xee
			}
			h := tt.fields.Encode(b)
			if len(h) != UDPMinimumSize {
				t.Fatalf("Encode returned %d bytes", len(h))
			}
			copy(b[UDPMinimumSize:], tt.payload)
			u, err := ParseUDP(b)
			if err != nil {
				t.Fatalf("ParseUDP: %v", err)
			}
			if len(u) != int(tt.fields.Length) {
				t.Errorf("view of %d bytes, want %d (trailing bytes excluded)", len(u), tt.fields.Length)
			}
			if got := u.Fields(); got != tt.fields {
				t.Errorf("Fields() = %+v, want %+v", got, tt.fields)
			}
			if !bytes.Equal(u.Payload(), tt.payload) {
				t.Errorf("Payload() = %x, want %x", u.Payload(), tt.payload)
			}
			for _, a := range [][2]netip.Addr{{transportSrc4, transportDst4}, {transportSrc6, transportDst6}} {
				u.SetChecksum(u.CalculateChecksum(a[0], a[1]))
				if !u.IsChecksumValid(a[0], a[1]) {
					t.Errorf("%v: checksum %#04x not valid", a[0], u.Checksum())
				}
				if want := transportRefChecksum(17, a[0], a[1], udpZeroChecksum(u)); want != u.Checksum() && !(want == 0 && u.Checksum() == 0xffff) {
					t.Errorf("%v: checksum %#04x, reference %#04x", a[0], u.Checksum(), want)
				}
				other := netip.MustParseAddr("192.0.2.99")
				if a[0].Is6() {
					other = netip.MustParseAddr("2001:db8::99")
				}
				if u.IsChecksumValid(other, a[1]) {
					t.Errorf("%v: checksum also valid from %v", a[0], other)
				}
			}
		})
	}
}

func TestUDPChecksum(t *testing.T) {
	r := rand.New(rand.NewSource(768))
	for i := range 2000 {
		src, dst := transportSrc4, transportDst4
		if i%2 == 1 {
			src, dst = transportSrc6, transportDst6
		}
		payload := make([]byte, r.Intn(200))
		r.Read(payload)
		b := make([]byte, UDPMinimumSize+len(payload))
		f := UDPFields{SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()), Length: uint16(len(b)), Checksum: uint16(r.Uint32())}
		f.Encode(b)
		copy(b[UDPMinimumSize:], payload)
		u := UDP(b)
		want := transportRefChecksum(17, src, dst, udpZeroChecksum(b))
		if want == 0 {
			want = 0xffff
		}
		if got := u.CalculateChecksum(src, dst); got != want {
			t.Fatalf("CalculateChecksum = %#04x, want %#04x", got, want)
		}
		ps := transportChunkSum(r, payload)
		if got := u[:UDPMinimumSize].CalculateChecksumPartial(src, dst, ps); got != want {
			t.Fatalf("CalculateChecksumPartial = %#04x, want %#04x", got, want)
		}
		u.SetChecksum(want)
		if !u.IsChecksumValid(src, dst) || !u[:UDPMinimumSize].IsChecksumValidPartial(src, dst, ps) {
			t.Fatalf("checksum %#04x reported invalid", want)
		}
		// Any single-bit error is detected.
		bit := r.Intn(len(b) * 8)
		b[bit/8] ^= 1 << (bit % 8)
		if u.Checksum() != 0 && u.IsChecksumValid(src, dst) {
			t.Fatalf("bit %d flipped: checksum still valid", bit)
		}
	}
}

// TestUDPChecksumZeroIsAllOnes builds a datagram whose checksum computes to
// zero, which RFC 768 and RFC 8200 §8.1 send as 0xffff.
func TestUDPChecksumZeroIsAllOnes(t *testing.T) {
	for _, a := range [][2]netip.Addr{{transportSrc4, transportDst4}, {transportSrc6, transportDst6}} {
		b := make([]byte, 12)
		(&UDPFields{SrcPort: 1234, DstPort: 5678, Length: 12}).Encode(b)
		u := UDP(b)
		// Choose the last payload word so that the whole sum is
		// 0xffff: the complemented checksum is then 0.
		sum := ^transportRefChecksum(17, a[0], a[1], b)
		binary.BigEndian.PutUint16(b[10:], ^sum)
		if ref := transportRefChecksum(17, a[0], a[1], b); ref != 0 {
			t.Fatalf("setup: reference checksum %#04x, want 0", ref)
		}
		if got := u.CalculateChecksum(a[0], a[1]); got != 0xffff {
			t.Errorf("%v: CalculateChecksum = %#04x, want 0xffff", a[0], got)
		}
		u.SetChecksum(0xffff)
		if !u.IsChecksumValid(a[0], a[1]) {
			t.Errorf("%v: 0xffff not accepted", a[0])
		}
	}
}

// TestUDPNoChecksum: a zero field means "none" over IPv4 (RFC 768) and is
// invalid over IPv6 (RFC 8200 §8.1).
func TestUDPNoChecksum(t *testing.T) {
	b := make([]byte, 8+4)
	(&UDPFields{SrcPort: 1, DstPort: 2, Length: 12}).Encode(b)
	copy(b[8:], "data")
	u := UDP(b)
	if !u.IsChecksumValid(transportSrc4, transportDst4) {
		t.Error("IPv4 with zero checksum: not valid, want valid (no checksum)")
	}
	if u.IsChecksumValid(transportSrc6, transportDst6) {
		t.Error("IPv6 with zero checksum: valid, want invalid")
	}
	if u[:8].IsChecksumValidPartial(transportSrc6, transportDst6, Checksum([]byte("data"), 0)) {
		t.Error("IPv6 with zero checksum (partial): valid, want invalid")
	}
}

func TestParseUDPMalformed(t *testing.T) {
	full := make([]byte, 8+10)
	(&UDPFields{SrcPort: 7, DstPort: 7, Length: 18}).Encode(full)
	for n := range len(full) {
		_, err := ParseUDP(full[:n])
		want := ErrBadTotalLength
		if n < UDPMinimumSize {
			want = ErrTruncated
		}
		if !errors.Is(err, want) {
			t.Errorf("truncated to %d bytes: err = %v, want %v", n, err, want)
		}
	}
	for _, length := range []uint16{0, 1, 7, 19, 0xffff} {
		b := bytes.Clone(full)
		UDP(b).SetLength(length)
		if _, err := ParseUDP(b); !errors.Is(err, ErrBadTotalLength) {
			t.Errorf("Length %d in 18 bytes: err = %v, want ErrBadTotalLength", length, err)
		}
	}
	for _, length := range []uint16{8, 9, 17, 18} {
		b := bytes.Clone(full)
		UDP(b).SetLength(length)
		u, err := ParseUDP(b)
		if err != nil || len(u) != int(length) || len(u.Payload()) != int(length)-8 {
			t.Errorf("Length %d in 18 bytes: %d-byte view, err %v", length, len(u), err)
		}
	}
}

func TestUDPSetters(t *testing.T) {
	b := make([]byte, 10)
	u := UDP(b)
	u.SetSourcePort(0x1234)
	u.SetDestinationPort(0x5678)
	u.SetLength(10)
	u.SetChecksum(0x9abc)
	want := []byte{0x12, 0x34, 0x56, 0x78, 0, 10, 0x9a, 0xbc, 0, 0}
	if !bytes.Equal(b, want) {
		t.Errorf("bytes %x, want %x", b, want)
	}
	if f := u.Fields(); f != (UDPFields{SrcPort: 0x1234, DstPort: 0x5678, Length: 10, Checksum: 0x9abc}) {
		t.Errorf("Fields() = %+v", f)
	}
	// A view that disagrees with its Length field (built, not parsed)
	// still has a Payload that does not panic.
	u.SetLength(200)
	if len(u.Payload()) != 2 {
		t.Errorf("Payload() with Length past the view: %d bytes", len(u.Payload()))
	}
	u.SetLength(3)
	if len(u.Payload()) != 2 {
		t.Errorf("Payload() with Length below 8: %d bytes", len(u.Payload()))
	}
}

func TestUDPAllocs(t *testing.T) {
	b := make([]byte, 8+100)
	f := UDPFields{SrcPort: 1, DstPort: 2, Length: 108}
	var sink uint16
	n := testing.AllocsPerRun(100, func() {
		f.Encode(b)
		u, err := ParseUDP(b)
		if err != nil {
			panic(err)
		}
		g := u.Fields()
		sink += g.Length + u.SourcePort() + u.DestinationPort() + u.Length() + uint16(len(u.Payload()))
		u.SetChecksum(u.CalculateChecksum(transportSrc6, transportDst6))
		if !u.IsChecksumValid(transportSrc6, transportDst6) {
			panic("bad checksum")
		}
		sink += u.CalculateChecksumPartial(transportSrc4, transportDst4, 0x1234)
	})
	if n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
	_ = sink
}

func FuzzParseUDP(f *testing.F) {
	transportGoldenSeeds(f, 17, "ipv4_udp", "ipv4_udp_nocsum", "ipv6_udp")
	f.Add([]byte{0, 53, 0, 53, 0, 8, 0, 0})
	f.Add([]byte{0, 1, 0, 2, 0, 7, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUDP(b)
		if err != nil {
			if u != nil {
				t.Fatal("error with a non-nil view")
			}
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrBadTotalLength) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(u) != int(u.Length()) || len(u.Payload()) != len(u)-UDPMinimumSize {
			t.Fatalf("view %d bytes, Length %d, payload %d", len(u), u.Length(), len(u.Payload()))
		}
		fields := u.Fields()
		hdr := make([]byte, UDPMinimumSize)
		fields.Encode(hdr)
		if !bytes.Equal(hdr, u[:UDPMinimumSize]) {
			t.Fatalf("re-encoded header %x, want %x", hdr, u[:UDPMinimumSize])
		}
		c := UDP(bytes.Clone(u))
		for _, a := range [][2]netip.Addr{{transportSrc4, transportDst4}, {transportSrc6, transportDst6}} {
			_ = u.IsChecksumValid(a[0], a[1])
			xsum := c.CalculateChecksum(a[0], a[1])
			if xsum == 0 {
				t.Fatal("computed checksum 0")
			}
			if p := c[:UDPMinimumSize].CalculateChecksumPartial(a[0], a[1], Checksum(c.Payload(), 0)); p != xsum {
				t.Fatalf("partial checksum %#04x, full %#04x", p, xsum)
			}
			c.SetChecksum(xsum)
			if !c.IsChecksumValid(a[0], a[1]) {
				t.Fatalf("%v: own checksum %#04x invalid", a[0], xsum)
			}
		}
	})
}
