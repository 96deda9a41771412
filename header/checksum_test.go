package header

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

// naiveChecksum is RFC 1071 §4.1 transcribed: 16-bit big-endian words summed
// into 32 bits, the carries folded at the end.
func naiveChecksum(b []byte, initial uint16) uint16 {
	sum := uint32(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

func TestChecksumAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	backing := make([]byte, 2048+8)
	for length := 0; length <= 2048; length++ {
		for align := range 4 {
			b := backing[align : align+length]
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			initial := uint16(r.Uint32())
			if got, want := Checksum(b, initial), naiveChecksum(b, initial); got != want {
				t.Fatalf("len %d align %d initial %#x: got %#04x want %#04x", length, align, initial, got, want)
			}
		}
	}
}

// All-0xff input drives every carry path: each 64-bit add overflows.
func TestChecksumCarries(t *testing.T) {
	for _, fill := range []byte{0xff, 0xfe, 0x80, 0x01, 0x00} {
		for length := range 300 {
			b := make([]byte, length)
			for i := range b {
				b[i] = fill
			}
			for _, initial := range []uint16{0, 1, 0xfffe, 0xffff} {
				if got, want := Checksum(b, initial), naiveChecksum(b, initial); got != want {
					t.Fatalf("fill %#x len %d initial %#x: got %#04x want %#04x", fill, length, initial, got, want)
				}
			}
		}
	}
}

// RFC 1071 §3 gives a worked example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to
// ddf2.
func TestChecksumRFC1071Example(t *testing.T) {
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b, 0); got != 0xddf2 {
		t.Fatalf("got %#04x, want 0xddf2", got)
	}
}

func TestChecksummerPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 2000 {
		b := make([]byte, r.IntN(600))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		var c Checksummer
		rest := b
		for len(rest) > 0 {
			n := r.IntN(len(rest) + 1)
			if iter%7 == 0 {
				n = 1 // many single bytes
			}
			c.Add(rest[:n])
			rest = rest[n:]
		}
		if got, want := c.Sum(), naiveChecksum(b, 0); got != want {
			t.Fatalf("iteration %d len %d: pieces sum %#04x, whole %#04x", iter, len(b), got, want)
		}
	}
}

func TestChecksumUpdateIncremental(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		b := make([]byte, 2*(1+r.IntN(30)))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		xsum := ^Checksum(b, 0)
		w := 2 * r.IntN(len(b)/2)
		old := binary.BigEndian.Uint16(b[w:])
		nw := uint16(r.Uint32())
		binary.BigEndian.PutUint16(b[w:], nw)
		got := ChecksumUpdate(xsum, old, nw)
		want := ^Checksum(b, 0)
		// RFC 1624 §3: the incremental result may differ from a full
		// recomputation only in the representation of zero (0x0000 vs
		// 0xffff); both verify the same way.
		if got != want && !(got^want == 0xffff && (got == 0 || want == 0)) {
			t.Fatalf("incremental %#04x, recomputed %#04x", got, want)
		}
		// Verification: the sum over the data and the field is all ones.
		if ChecksumCombine(Checksum(b, 0), got) != 0xffff {
			t.Fatalf("updated checksum %#04x does not verify", got)
		}
	}
}

func TestChecksumUpdateAddress(t *testing.T) {
	for _, tc := range []struct{ old, new string }{
		{"10.0.0.1", "192.168.77.200"},
		{"fe80::1", "2001:db8::dead:beef"},
	} {
		o, n := netip.MustParseAddr(tc.old), netip.MustParseAddr(tc.new)
		pkt := append(o.AsSlice(), 0x12, 0x34, 0x56, 0x78)
		xsum := ^Checksum(pkt, 0)
		copy(pkt, n.AsSlice())
		got := ChecksumUpdateAddress(xsum, o, n)
		if ChecksumCombine(Checksum(pkt, 0), got) != 0xffff {
			t.Fatalf("%s→%s: updated checksum does not verify", tc.old, tc.new)
		}
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	// Build the pseudo-headers byte by byte as RFC 768 and RFC 8200 §8.1
	// draw them and compare.
	src4, dst4 := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.77")
	ph4 := append(append(src4.AsSlice(), dst4.AsSlice()...), 0, byte(tcpip.UDPProtocolNumber), 0x05, 0xdc)
	if got, want := PseudoHeaderChecksum(tcpip.UDPProtocolNumber, src4, dst4, 1500), naiveChecksum(ph4, 0); got != want {
		t.Fatalf("IPv4 pseudo-header %#04x, want %#04x", got, want)
	}
	src6, dst6 := netip.MustParseAddr("fe80::1:2:3:4"), netip.MustParseAddr("2001:db8::ff")
	ph6 := append(append(src6.AsSlice(), dst6.AsSlice()...), 0x00, 0x01, 0x00, 0x10, 0, 0, 0, byte(tcpip.TCPProtocolNumber))
	if got, want := PseudoHeaderChecksum(tcpip.TCPProtocolNumber, src6, dst6, 0x10010), naiveChecksum(ph6, 0); got != want {
		t.Fatalf("IPv6 pseudo-header %#04x, want %#04x", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { PseudoHeaderChecksum(tcpip.TCPProtocolNumber, src6, dst6, 40) }); n != 0 {
		t.Fatalf("PseudoHeaderChecksum allocates %v", n)
	}
}

func TestChecksumAllocs(t *testing.T) {
	b := make([]byte, 1500)
	var c Checksummer
	if n := testing.AllocsPerRun(100, func() { Checksum(b, 0); c.Add(b[:333]) }); n != 0 {
		t.Fatalf("allocates %v", n)
	}
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{}, uint16(0), uint8(0))
	f.Add([]byte{0xff, 0xff, 0xff}, uint16(0xffff), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, initial uint16, cut uint8) {
		if got, want := Checksum(b, initial), naiveChecksum(b, initial); got != want {
			t.Fatalf("got %#04x want %#04x", got, want)
		}
		n := int(cut)
		if n > len(b) {
			n = len(b)
		}
		var c Checksummer
		c.Add(b[:n])
		c.Add(b[n:])
		if got, want := c.Sum(), naiveChecksum(b, 0); got != want {
			t.Fatalf("split at %d: got %#04x want %#04x", n, got, want)
		}
	})
}

func BenchmarkChecksum(b *testing.B) {
	for _, size := range []int{64, 1500, 65536} {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i)
		}
		b.Run(itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				Checksum(buf, 0)
			}
		})
	}
}

func BenchmarkChecksumNaive(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		naiveChecksum(buf, 0)
	}
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}
