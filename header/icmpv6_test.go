package header

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

// icmpTestGoldenICMPv6 returns the ICMPv6 message of a golden frame with
// its addresses, after checking its checksum.
func icmpTestGoldenICMPv6(t *testing.T, name string) (h ICMPv6, src, dst netip.Addr) {
	t.Helper()
	p, src, dst, proto := icmpTestIPv6(t, golden(t, name))
	if proto != tcpip.ICMPv6ProtocolNumber {
		t.Fatalf("%s: next header %v, want ICMPv6", name, proto)
	}
	h, err := ParseICMPv6(p)
	if err != nil {
		t.Fatalf("%s: ParseICMPv6: %v", name, err)
	}
	if !h.IsChecksumValid(src, dst) {
		t.Errorf("%s: checksum %#04x invalid, want %#04x", name, h.Checksum(), h.CalculateChecksum(src, dst))
	}
	if got := h.CalculateChecksum(src, dst); got != h.Checksum() {
		t.Errorf("%s: CalculateChecksum = %#04x, field %#04x", name, got, h.Checksum())
	}
	body := h.MessageBody()
	if got := h.CalculateChecksumPartial(src, dst, len(body), Checksum(body, 0)); got != h.Checksum() {
		t.Errorf("%s: CalculateChecksumPartial = %#04x, field %#04x", name, got, h.Checksum())
	}
	// The same bytes between other addresses do not verify.
	if h.IsChecksumValid(dst, netip.IPv6Loopback()) {
		t.Errorf("%s: checksum valid with the wrong pseudo-header", name)
	}
	return h, src, dst
}

// icmpTestReencodeICMPv6 re-encodes an echo or error message from its
// Fields followed by its payload and compares with h byte for byte.
func icmpTestReencodeICMPv6(t *testing.T, name string, h ICMPv6, src, dst netip.Addr) {
	t.Helper()
	f := h.Fields()
	b := make([]byte, len(h))
	copy(b[ICMPv6MinimumSize:], h.Payload())
	got := f.Encode(b)
	if !bytes.Equal(got, h) {
		t.Errorf("%s: re-encoded\n% x\nwant\n% x", name, []byte(got), []byte(h))
	}
	got.SetChecksum(0)
	got.SetChecksum(got.CalculateChecksum(src, dst))
	if !bytes.Equal(got, h) {
		t.Errorf("%s: checksum recomputed %#04x, want %#04x", name, got.Checksum(), h.Checksum())
	}
}

func TestICMPv6Golden(t *testing.T) {
	tests := []struct {
		name       string
		want       ICMPv6Fields
		payloadLen int
		quote      string // start of the payload
	}{
		{"ipv6_icmpv6_echo_request", ICMPv6Fields{Type: ICMPv6EchoRequest, Checksum: 0xda3c, Ident: 0x5586, Sequence: 1},
			56, "2273076b00000000"},
		{"ipv6_icmpv6_echo_reply", ICMPv6Fields{Type: ICMPv6EchoReply, Checksum: 0xd93c, Ident: 0x5586, Sequence: 1},
			56, "2273076b00000000"},
		// The whole 66-byte packet is quoted.
		{"ipv6_icmpv6_port_unreach", ICMPv6Fields{Type: ICMPv6DstUnreachable, Code: ICMPv6PortUnreachable, Checksum: 0x4240},
			66, "600d4fc4001a1140"},
		// RFC 4443 §2.4(c): the quote fills the error packet up to
		// 1280 bytes.
		{"ipv6_icmpv6_packet_too_big", ICMPv6Fields{Type: ICMPv6PacketTooBig, Checksum: 0xa3a4, MTU: 1280},
			ICMPv6MaximumErrorSize - ICMPv6MinimumSize, "60080b93051c3a40"},
		{"ipv6_icmpv6_time_exceeded", ICMPv6Fields{Type: ICMPv6TimeExceeded, Code: ICMPv6HopLimitExceeded, Checksum: 0x5ac0},
			104, "60080b9300403a01"},
		// Pointer 42: the option type byte, after the 40-byte header
		// and the destination options header's 2 bytes.
		{"ipv6_icmpv6_param_problem", ICMPv6Fields{Type: ICMPv6ParamProblem, Code: ICMPv6UnknownOption, Checksum: 0x8c09, Pointer: 42},
			62, "6000000000163c40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, src, dst := icmpTestGoldenICMPv6(t, tt.name)
			if got := h.Fields(); got != tt.want {
				t.Errorf("Fields = %+v, want %+v", got, tt.want)
			}
			if len(h.Payload()) != tt.payloadLen {
				t.Errorf("payload %d bytes, want %d", len(h.Payload()), tt.payloadLen)
			}
			if got := icmpTestHex(h.Payload()[:len(tt.quote)/2]); got != tt.quote {
				t.Errorf("payload starts %s, want %s", got, tt.quote)
			}
			if h.IsError() != (len(h.OriginalPacket()) == tt.payloadLen) || !h.IsError() && h.OriginalPacket() != nil {
				t.Errorf("OriginalPacket %d bytes, IsError %v", len(h.OriginalPacket()), h.IsError())
			}
			if len(h) > ICMPv6MaximumErrorSize {
				t.Errorf("message of %d bytes", len(h))
			}
			icmpTestReencodeICMPv6(t, tt.name, h, src, dst)
		})
	}
	// The quoted packet of the port unreachable is the UDP datagram
	// sent to port 9, and its parameter problem points at the option
	// type 0x9e.
	h, _, _ := icmpTestGoldenICMPv6(t, "ipv6_icmpv6_port_unreach")
	if q := h.OriginalPacket(); string(q[48:]) != "ustack closed port" || q[43] != 9 {
		t.Errorf("quote % x", q)
	}
	h, _, _ = icmpTestGoldenICMPv6(t, "ipv6_icmpv6_param_problem")
	if q := h.OriginalPacket(); q[h.Pointer()] != 0x9e {
		t.Errorf("pointer %d at %#x", h.Pointer(), q[h.Pointer()])
	}
}

func TestICMPv6RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    ICMPv6Fields
		wire string // hex of the first 8 bytes
	}{
		{"echo request", ICMPv6Fields{Type: ICMPv6EchoRequest, Ident: 0x1234, Sequence: 1}, "8000000012340001"},
		{"echo reply", ICMPv6Fields{Type: ICMPv6EchoReply, Ident: 0xffff, Sequence: 0xffff, Checksum: 0x0102}, "81000102ffffffff"},
		{"port unreachable", ICMPv6Fields{Type: ICMPv6DstUnreachable, Code: ICMPv6PortUnreachable}, "0104000000000000"},
		{"packet too big", ICMPv6Fields{Type: ICMPv6PacketTooBig, MTU: 1280}, "0200000000000500"},
		{"packet too big, huge", ICMPv6Fields{Type: ICMPv6PacketTooBig, MTU: 0xfffffffe}, "02000000fffffffe"},
		{"hop limit exceeded", ICMPv6Fields{Type: ICMPv6TimeExceeded, Code: ICMPv6HopLimitExceeded}, "0300000000000000"},
		{"parameter problem", ICMPv6Fields{Type: ICMPv6ParamProblem, Code: ICMPv6UnknownOption, Pointer: 42}, "040200000000002a"},
		{"unknown error type", ICMPv6Fields{Type: 100, Code: 1}, "6401000000000000"},
	}
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := []byte{0x60, 0, 0, 0, 9}
			b := make([]byte, ICMPv6MinimumSize+len(payload))
			for i := range b {
				b[i] = 0xee
			}
			copy(b[ICMPv6MinimumSize:], payload)
			h := tt.f.Encode(b)
			if got := icmpTestHex(h[:ICMPv6MinimumSize]); got != tt.wire {
				t.Errorf("Encode = %s, want %s", got, tt.wire)
			}
			if len(h) != len(b) || !bytes.Equal(h.Payload(), payload) {
				t.Errorf("view %d bytes, payload % x", len(h), h.Payload())
			}
			p, err := ParseICMPv6(h)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Fields(); got != tt.f {
				t.Errorf("Fields = %+v, want %+v", got, tt.f)
			}
			p.SetChecksum(p.CalculateChecksum(src, dst))
			if !p.IsChecksumValid(src, dst) {
				t.Errorf("checksum invalid after SetChecksum")
			}
			if orig := p.OriginalPacket(); p.IsError() != (orig != nil) {
				t.Errorf("OriginalPacket = % x for IsError %v", orig, p.IsError())
			}
		})
	}
}

// TestICMPv6EncodeLeavesBody checks that for types whose body has its own
// encoder (NDP, MLD), ICMPv6Fields.Encode writes only the 4-byte header, so
// the two encoders can run in either order.
func TestICMPv6EncodeLeavesBody(t *testing.T) {
	for _, ty := range []ICMPv6Type{ICMPv6RouterAdvert, ICMPv6NeighborSolicit, ICMPv6MLDQuery, ICMPv6MLDv2Report, 200} {
		b := []byte{0xee, 0xee, 0xee, 0xee, 1, 2, 3, 4, 5}
		h := (&ICMPv6Fields{Type: ty, Code: 0, Checksum: 0x1234}).Encode(b)
		if got, want := icmpTestHex(h), icmpTestHex([]byte{byte(ty), 0, 0x12, 0x34, 1, 2, 3, 4, 5}); got != want {
			t.Errorf("type %v: %s, want %s", ty, got, want)
		}
		if f := h.Fields(); f != (ICMPv6Fields{Type: ty, Checksum: 0x1234}) {
			t.Errorf("type %v: Fields = %+v", ty, f)
		}
	}
}

func TestICMPv6Checksum(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	for _, n := range []int{0, 1, 2, 3, 56, 57, 1232} {
		b := make([]byte, ICMPv6MinimumSize+n)
		for i := range n {
			b[ICMPv6MinimumSize+i] = byte(i*13 + 5)
		}
		h := (&ICMPv6Fields{Type: ICMPv6EchoRequest, Ident: 9, Sequence: 10}).Encode(b)
		h.SetChecksum(h.CalculateChecksum(src, dst))
		if !h.IsChecksumValid(src, dst) {
			t.Fatalf("len %d: checksum invalid", n)
		}
		// Independently: the pseudo-header and the message sum to all
		// ones.
		if s := Checksum(h, PseudoHeaderChecksum(tcpip.ICMPv6ProtocolNumber, src, dst, uint32(len(h)))); s != 0xffff {
			t.Errorf("len %d: sum = %#04x", n, s)
		}
		var c Checksummer
		body := h.MessageBody()
		for i := 0; i < len(body); i += 5 {
			c.Add(body[i:min(i+5, len(body))])
		}
		hdr := ICMPv6(h[:ICMPv6HeaderSize])
		if got := hdr.CalculateChecksumPartial(src, dst, len(body), c.Sum()); got != h.Checksum() {
			t.Errorf("len %d: partial = %#04x, want %#04x", n, got, h.Checksum())
		}
		if !hdr.IsChecksumValidPartial(src, dst, len(body), c.Sum()) {
			t.Errorf("len %d: partial invalid", n)
		}
		for i := range h {
			h[i] ^= 0x01
			if h.IsChecksumValid(src, dst) {
				t.Errorf("len %d: flipped byte %d not detected", n, i)
			}
			h[i] ^= 0x01
		}
		if h.IsChecksumValid(src, netip.MustParseAddr("2001:db8::3")) {
			t.Errorf("len %d: wrong destination not detected", n)
		}
	}
}

func TestICMPv6Setters(t *testing.T) {
	h := (&ICMPv6Fields{Type: ICMPv6EchoRequest}).Encode(make([]byte, 8))
	h.SetType(ICMPv6EchoReply)
	h.SetCode(1)
	h.SetIdent(0xabcd)
	h.SetSequence(0x0102)
	h.SetChecksum(0xfffe)
	want := ICMPv6Fields{Type: ICMPv6EchoReply, Code: 1, Checksum: 0xfffe, Ident: 0xabcd, Sequence: 0x0102}
	if got := h.Fields(); got != want {
		t.Errorf("Fields = %+v, want %+v", got, want)
	}
	if h.MTU() != 0xabcd0102 || h.Pointer() != 0xabcd0102 {
		t.Errorf("MTU %#x Pointer %#x", h.MTU(), h.Pointer())
	}
}

func TestICMPv6Truncated(t *testing.T) {
	full := make([]byte, ICMPv6MinimumSize)
	for n := range ICMPv6MinimumSize {
		if _, err := ParseICMPv6(full[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("len %d: err = %v, want ErrTruncated", n, err)
		}
	}
}

func TestICMPv6Strings(t *testing.T) {
	tests := []struct{ got, want string }{
		{ICMPv6EchoRequest.String(), "echo request"},
		{ICMPv6NeighborAdvert.String(), "neighbor advertisement"},
		{ICMPv6MLDv2Report.String(), "multicast listener report v2"},
		{ICMPv6Type(5).String(), "type(5)"},
		{ICMPv6Code(9).String(), "code(9)"},
		{ICMPv6DstUnreachable.CodeString(ICMPv6PortUnreachable), "port unreachable"},
		{ICMPv6DstUnreachable.CodeString(9), "code(9)"},
		{ICMPv6TimeExceeded.CodeString(ICMPv6ReassemblyTimeout), "fragment reassembly time exceeded"},
		{ICMPv6ParamProblem.CodeString(ICMPv6UnknownOption), "unrecognized IPv6 option"},
		{ICMPv6ParamProblem.CodeString(ICMPv6OptionTooBig), "option too big"},
		{ICMPv6PacketTooBig.CodeString(0), "code(0)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	for ty := range 256 {
		if got := ICMPv6Type(ty).IsError(); got != (ty < 128) {
			t.Errorf("type %d: IsError = %v", ty, got)
		}
	}
}

func TestICMPv6Allocs(t *testing.T) {
	b := make([]byte, 64)
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2")
	f := ICMPv6Fields{Type: ICMPv6PacketTooBig, MTU: 1400}
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		h := f.Encode(b)
		h.SetChecksum(h.CalculateChecksum(src, dst))
		p, err := ParseICMPv6(h)
		if err != nil {
			panic(err)
		}
		if p.IsChecksumValid(src, dst) && p.Fields().MTU == 1400 {
			sink++
		}
		sink += int(p.Ident()) + int(p.Sequence()) + int(p.MTU()) + int(p.Pointer()) + len(p.Payload()) +
			len(p.MessageBody()) + len(p.OriginalPacket()) + int(p.Type()) + int(p.Code())
	})
	if allocs != 0 {
		t.Errorf("allocs = %v, want 0", allocs)
	}
	_ = sink
}

var icmpTestGoldenV6Names = []string{
	"ipv6_icmpv6_echo_request", "ipv6_icmpv6_echo_reply", "ipv6_icmpv6_port_unreach",
	"ipv6_icmpv6_packet_too_big", "ipv6_icmpv6_time_exceeded", "ipv6_icmpv6_param_problem",
	"ipv6_ns", "ipv6_na", "ipv6_ns_dad", "ipv6_rs", "ipv6_ra", "ipv6_redirect",
	"ipv6_hbh_mldv2_report", "ipv6_mldv1_report", "ipv6_mldv1_done", "ipv6_mldv1_query",
	"ipv6_mldv2_query",
}

func FuzzParseICMPv6(f *testing.F) {
	icmpTestSeedGolden(f, icmpTestGoldenV6Names, true)
	f.Add([]byte{128, 0, 0, 0, 0, 1, 0, 1, 'h', 'i'})
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1")
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseICMPv6(b)
		if err != nil {
			if len(b) >= ICMPv6MinimumSize || !errors.Is(err, ErrTruncated) {
				t.Fatalf("len %d: %v", len(b), err)
			}
			return
		}
		_ = h.Type().String() + h.Code().String() + h.Type().CodeString(h.Code())
		_, _, _, _ = h.Ident(), h.Sequence(), h.MTU(), h.Pointer()
		_, _, _ = h.Payload(), h.OriginalPacket(), h.MessageBody()
		calc, field := h.CalculateChecksum(src, dst), h.Checksum()
		if want := field == calc || calc == 0 && field == 0xffff; h.IsChecksumValid(src, dst) != want {
			t.Fatalf("IsChecksumValid = %v, CalculateChecksum %#04x, field %#04x", !want, calc, field)
		}
		fl := h.Fields()
		out := make([]byte, len(b))
		copy(out, b) // the body, including the first word for other types
		e := fl.Encode(out)
		p, err := ParseICMPv6(e)
		if err != nil {
			t.Fatal(err)
		}
		if p.Fields() != fl {
			t.Fatalf("round trip: %+v != %+v", p.Fields(), fl)
		}
		if icmpTestV6WordDefined(h) && !bytes.Equal(e, b) {
			t.Fatalf("re-encoded % x, want % x", []byte(e), b)
		}
		// The message views over the body never panic either.
		icmpTestFuzzBody(t, h)
	})
}

// icmpTestV6WordDefined reports whether Encode reproduces the first word of
// the body of h from its Fields.
func icmpTestV6WordDefined(h ICMPv6) bool {
	switch h.Type() {
	case ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6PacketTooBig, ICMPv6ParamProblem:
		return true
	}
	if h.IsError() {
		return h.MTU() == 0
	}
	return true // the word is left as it was
}
