package header

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

// icmpTestIPv4 slices the IPv4 payload out of an Ethernet II frame by fixed
// offsets (14 bytes of Ethernet, then IHL*4 bytes of IPv4 header, up to
// Total Length), without the IPv4 view.
func icmpTestIPv4(t testing.TB, frame []byte) (payload []byte, src, dst netip.Addr, proto tcpip.TransportProtocolNumber) {
	t.Helper()
	if len(frame) < 34 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		t.Fatalf("not an IPv4 frame: % x", frame)
	}
	ip := frame[14:]
	ihl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total < ihl || total > len(ip) {
		t.Fatalf("bad IPv4 header: % x", ip[:20])
	}
	return ip[ihl:total], netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])),
		tcpip.TransportProtocolNumber(ip[9])
}

// icmpTestIPv6 slices the upper-layer payload out of an Ethernet II frame
// carrying IPv6, skipping hop-by-hop, destination options and routing
// headers by their length bytes, without the IPv6 views.
func icmpTestIPv6(t testing.TB, frame []byte) (payload []byte, src, dst netip.Addr, proto tcpip.TransportProtocolNumber) {
	t.Helper()
	if len(frame) < 54 || binary.BigEndian.Uint16(frame[12:]) != 0x86dd {
		t.Fatalf("not an IPv6 frame: % x", frame)
	}
	ip := frame[14:]
	end := 40 + int(binary.BigEndian.Uint16(ip[4:]))
	if end > len(ip) {
		t.Fatalf("bad IPv6 payload length")
	}
	next, off := ip[6], 40
	for next == 0 || next == 43 || next == 60 {
		if off+2 > end {
			t.Fatalf("truncated extension header")
		}
		next, off = ip[off], off+(int(ip[off+1])+1)*8
	}
	if off > end {
		t.Fatalf("extension header past the payload")
	}
	return ip[off:end], netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40])),
		tcpip.TransportProtocolNumber(next)
}

// icmpTestGoldenICMPv4 returns the ICMPv4 message of a golden frame.
func icmpTestGoldenICMPv4(t *testing.T, name string) ICMPv4 {
	t.Helper()
	p, _, _, proto := icmpTestIPv4(t, golden(t, name))
	if proto != tcpip.ICMPv4ProtocolNumber {
		t.Fatalf("%s: protocol %v, want ICMPv4", name, proto)
	}
	h, err := ParseICMPv4(p)
	if err != nil {
		t.Fatalf("%s: ParseICMPv4: %v", name, err)
	}
	if !h.IsChecksumValid() {
		t.Errorf("%s: checksum %#04x invalid, want %#04x", name, h.Checksum(), h.CalculateChecksum())
	}
	if got := h.CalculateChecksum(); got != h.Checksum() {
		t.Errorf("%s: CalculateChecksum = %#04x, field %#04x", name, got, h.Checksum())
	}
	if got := h.CalculateChecksumPartial(Checksum(h.Payload(), 0)); got != h.Checksum() {
		t.Errorf("%s: CalculateChecksumPartial = %#04x, field %#04x", name, got, h.Checksum())
	}
	return h
}

// icmpTestReencodeICMPv4 re-encodes h from its Fields followed by its
// payload and compares with h byte for byte.
func icmpTestReencodeICMPv4(t *testing.T, name string, h ICMPv4) {
	t.Helper()
	f := h.Fields()
	b := make([]byte, len(h))
	copy(b[ICMPv4MinimumSize:], h.Payload())
	got := f.Encode(b)
	if !bytes.Equal(got, h) {
		t.Errorf("%s: re-encoded\n% x\nwant\n% x", name, []byte(got), []byte(h))
	}
	// Checksum from scratch.
	got.SetChecksum(0)
	got.SetChecksum(got.CalculateChecksum())
	if !bytes.Equal(got, h) {
		t.Errorf("%s: checksum recomputed %#04x, want %#04x", name, got.Checksum(), h.Checksum())
	}
}

func TestICMPv4Golden(t *testing.T) {
	b := netip.MustParseAddr("10.99.1.2")
	tests := []struct {
		name       string
		want       ICMPv4Fields
		isError    bool
		payloadLen int
		// quote is the start of the payload (for errors, the quoted
		// IPv4 header).
		quote string
	}{
		{"ipv4_icmp_echo_request", ICMPv4Fields{Type: ICMPv4Echo, Checksum: 0x8124, Ident: 0x5356, Sequence: 1},
			false, 56, "0f73076b00000000"}, // ping's timestamp, then 0x10, 0x11, ...
		{"ipv4_icmp_echo_reply", ICMPv4Fields{Type: ICMPv4EchoReply, Checksum: 0x8924, Ident: 0x5356, Sequence: 1},
			false, 56, "0f73076b00000000"},
		{"ipv4_icmp_port_unreach", ICMPv4Fields{Type: ICMPv4DstUnreachable, Code: ICMPv4PortUnreachable, Checksum: 0x13f1},
			true, 46, "4500002e"}, // the whole 46-byte UDP datagram is quoted
		// Linux quotes as much as fits in 576 bytes (RFC 1812
		// §4.3.2.3): 576 - 20 - 8 = 548 bytes of the 1328-byte packet.
		{"ipv4_icmp_frag_needed", ICMPv4Fields{Type: ICMPv4DstUnreachable, Code: ICMPv4FragmentationNeeded, Checksum: 0x870f, MTU: 1280},
			true, 548, "45000530"},
		{"ipv4_icmp_time_exceeded", ICMPv4Fields{Type: ICMPv4TimeExceeded, Code: ICMPv4TTLExceeded, Checksum: 0xf4ff},
			true, 84, "45000054"},
		// Pointer 21: the length byte of the malformed option, 20 bytes
		// into the header plus one.
		{"ipv4_icmp_param_problem", ICMPv4Fields{Type: ICMPv4ParamProblem, Code: ICMPv4PointerIndicatesError, Checksum: 0xdeff, Pointer: 21},
			true, 38, "46000026"},
		// R redirects A to B itself: B is on A's link.
		{"ipv4_icmp_redirect", ICMPv4Fields{Type: ICMPv4Redirect, Code: ICMPv4RedirectHost, Checksum: 0xef99, Gateway: b},
			true, 84, "45000054"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := icmpTestGoldenICMPv4(t, tt.name)
			if got := h.Fields(); got != tt.want {
				t.Errorf("Fields = %+v, want %+v", got, tt.want)
			}
			if h.IsError() != tt.isError || len(h.Payload()) != tt.payloadLen {
				t.Errorf("IsError %v, payload %d bytes", h.IsError(), len(h.Payload()))
			}
			if got := icmpTestHex(h.Payload()[:len(tt.quote)/2]); got != tt.quote {
				t.Errorf("payload starts %s, want %s", got, tt.quote)
			}
			if tt.isError && len(h.OriginalDatagram()) != tt.payloadLen || !tt.isError && h.OriginalDatagram() != nil {
				t.Errorf("OriginalDatagram %d bytes", len(h.OriginalDatagram()))
			}
			if tt.isError && len(h.Payload()) < ICMPv4MinimumErrorPayloadSize {
				t.Errorf("quote shorter than RFC 792 requires")
			}
			icmpTestReencodeICMPv4(t, tt.name, h)
		})
	}
	// The quoted datagram of the port unreachable: the UDP datagram
	// sent to port 9.
	h := icmpTestGoldenICMPv4(t, "ipv4_icmp_port_unreach")
	if q := h.OriginalDatagram(); string(q[28:]) != "ustack closed port" || q[23] != 9 {
		t.Errorf("quote % x", q)
	}
}

func TestICMPv4RoundTrip(t *testing.T) {
	gw := netip.MustParseAddr("10.0.0.254")
	tests := []struct {
		name string
		f    ICMPv4Fields
		wire string // hex of the 8-byte header, checksum as given
	}{
		{"echo", ICMPv4Fields{Type: ICMPv4Echo, Ident: 0x1234, Sequence: 7}, "0800000012340007"},
		{"echo reply", ICMPv4Fields{Type: ICMPv4EchoReply, Ident: 0xffff, Sequence: 0xfffe, Checksum: 0xabcd}, "0000abcdfffffffe"},
		{"timestamp", ICMPv4Fields{Type: ICMPv4Timestamp, Ident: 1, Sequence: 2}, "0d00000000010002"},
		{"port unreachable", ICMPv4Fields{Type: ICMPv4DstUnreachable, Code: ICMPv4PortUnreachable}, "0303000000000000"},
		{"fragmentation needed", ICMPv4Fields{Type: ICMPv4DstUnreachable, Code: ICMPv4FragmentationNeeded, MTU: 1400}, "0304000000000578"},
		{"fragmentation needed, old router", ICMPv4Fields{Type: ICMPv4DstUnreachable, Code: ICMPv4FragmentationNeeded}, "0304000000000000"},
		{"time exceeded", ICMPv4Fields{Type: ICMPv4TimeExceeded, Code: ICMPv4ReassemblyTimeout}, "0b01000000000000"},
		{"parameter problem", ICMPv4Fields{Type: ICMPv4ParamProblem, Pointer: 20}, "0c00000014000000"},
		{"redirect", ICMPv4Fields{Type: ICMPv4Redirect, Code: ICMPv4RedirectHost, Gateway: gw}, "050100000a0000fe"},
		{"redirect to 0.0.0.0", ICMPv4Fields{Type: ICMPv4Redirect, Gateway: netip.IPv4Unspecified()}, "0500000000000000"},
		{"source quench", ICMPv4Fields{Type: ICMPv4SourceQuench}, "0400000000000000"},
		{"unknown type", ICMPv4Fields{Type: 99, Code: 7}, "6307000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := []byte{0x45, 0, 0, 28, 1, 2, 3}
			b := make([]byte, ICMPv4MinimumSize+len(payload))
			for i := range b {
				b[i] = 0xee // Encode must overwrite every header byte
			}
			copy(b[ICMPv4MinimumSize:], payload)
			h := tt.f.Encode(b)
			if got := icmpTestHex(h[:ICMPv4MinimumSize]); got != tt.wire {
				t.Errorf("Encode = %s, want %s", got, tt.wire)
			}
			if len(h) != len(b) || !bytes.Equal(h.Payload(), payload) {
				t.Errorf("view %d bytes, payload % x", len(h), h.Payload())
			}
			p, err := ParseICMPv4(h)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Fields(); got != tt.f {
				t.Errorf("Fields = %+v, want %+v", got, tt.f)
			}
			p.SetChecksum(p.CalculateChecksum())
			if !p.IsChecksumValid() {
				t.Errorf("checksum invalid after SetChecksum")
			}
			if p.IsError() != tt.f.Type.IsError() {
				t.Errorf("IsError mismatch")
			}
			if orig := p.OriginalDatagram(); p.IsError() != (orig != nil) {
				t.Errorf("OriginalDatagram = % x for IsError %v", orig, p.IsError())
			}
		})
	}
}

// icmpTestHex returns b in lower-case hex without separators.
func icmpTestHex(b []byte) string {
	const digits = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&0xf])
	}
	return string(s)
}

func TestICMPv4Checksum(t *testing.T) {
	// RFC 1071 §3 example data, as an ICMP message whose checksum bytes
	// are 2 and 3.
	f := ICMPv4Fields{Type: ICMPv4Echo, Ident: 0x0102, Sequence: 0x0304}
	for _, n := range []int{0, 1, 2, 3, 56, 57} {
		b := make([]byte, ICMPv4MinimumSize+n)
		for i := range n {
			b[ICMPv4MinimumSize+i] = byte(i*7 + 1)
		}
		h := f.Encode(b)
		h.SetChecksum(h.CalculateChecksum())
		if !h.IsChecksumValid() {
			t.Fatalf("len %d: checksum invalid", n)
		}
		// The sum of the whole message is all ones.
		if s := Checksum(h, 0); s != 0xffff {
			t.Errorf("len %d: sum = %#04x", n, s)
		}
		// The partial form, with the body summed by a Checksummer in
		// odd pieces, agrees.
		var c Checksummer
		body := h.Payload()
		for i := 0; i < len(body); i += 3 {
			c.Add(body[i:min(i+3, len(body))])
		}
		if !h[:ICMPv4MinimumSize].IsChecksumValidPartial(c.Sum()) {
			t.Errorf("len %d: partial checksum invalid", n)
		}
		if got := ICMPv4(h[:ICMPv4MinimumSize]).CalculateChecksumPartial(c.Sum()); got != h.Checksum() {
			t.Errorf("len %d: partial = %#04x, want %#04x", n, got, h.Checksum())
		}
		// Any flipped bit is detected.
		for i := range h {
			h[i] ^= 0x10
			if h.IsChecksumValid() {
				t.Errorf("len %d: flipped byte %d not detected", n, i)
			}
			h[i] ^= 0x10
		}
	}
}

func TestICMPv4Setters(t *testing.T) {
	b := make([]byte, 12)
	h := (&ICMPv4Fields{Type: ICMPv4Echo, Ident: 1, Sequence: 2}).Encode(b)
	h.SetType(ICMPv4EchoReply)
	h.SetCode(3)
	h.SetIdent(0xbeef)
	h.SetSequence(0xcafe)
	h.SetChecksum(0x1234)
	want := ICMPv4Fields{Type: ICMPv4EchoReply, Code: 3, Ident: 0xbeef, Sequence: 0xcafe, Checksum: 0x1234}
	if got := h.Fields(); got != want {
		t.Errorf("Fields = %+v, want %+v", got, want)
	}
	if got := h.RestOfHeader(); got != 0xbeefcafe {
		t.Errorf("RestOfHeader = %#x", got)
	}
}

func TestICMPv4Truncated(t *testing.T) {
	full := make([]byte, ICMPv4MinimumSize)
	for n := range ICMPv4MinimumSize {
		if _, err := ParseICMPv4(full[:n]); !errors.Is(err, ErrTruncated) || !errors.Is(err, tcpip.ErrMalformed) {
			t.Errorf("len %d: err = %v, want ErrTruncated", n, err)
		}
	}
	if h, err := ParseICMPv4(full); err != nil || len(h.Payload()) != 0 {
		t.Errorf("8 bytes: %v, payload %d", err, len(h.Payload()))
	}
	// Every truncation of a golden error parses from 8 bytes on, its
	// quote shortened.
	g := icmpTestGoldenICMPv4(t, "ipv4_icmp_time_exceeded")
	for n := range len(g) {
		h, err := ParseICMPv4(g[:n])
		if (n < ICMPv4MinimumSize) != (err != nil) {
			t.Errorf("len %d: %v", n, err)
			continue
		}
		if err == nil && len(h.OriginalDatagram()) != n-ICMPv4MinimumSize {
			t.Errorf("len %d: quote %d bytes", n, len(h.OriginalDatagram()))
		}
	}
}

func TestICMPv4Strings(t *testing.T) {
	tests := []struct{ got, want string }{
		{ICMPv4Echo.String(), "echo request"},
		{ICMPv4EchoReply.String(), "echo reply"},
		{ICMPv4DstUnreachable.String(), "destination unreachable"},
		{ICMPv4ExtendedEchoReply.String(), "extended echo reply"},
		{ICMPv4Type(1).String(), "type(1)"},
		{ICMPv4Type(200).String(), "type(200)"},
		{ICMPv4Code(4).String(), "code(4)"},
		{ICMPv4DstUnreachable.CodeString(ICMPv4FragmentationNeeded), "fragmentation needed"},
		{ICMPv4DstUnreachable.CodeString(ICMPv4PortUnreachable), "port unreachable"},
		{ICMPv4DstUnreachable.CodeString(16), "code(16)"},
		{ICMPv4TimeExceeded.CodeString(ICMPv4TTLExceeded), "time to live exceeded"},
		{ICMPv4Redirect.CodeString(ICMPv4RedirectHost), "redirect for host"},
		{ICMPv4ParamProblem.CodeString(ICMPv4PointerIndicatesError), "pointer indicates the error"},
		{ICMPv4Echo.CodeString(0), "code(0)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	for ty := range 256 {
		want := false
		switch ty {
		case 3, 4, 5, 11, 12:
			want = true
		}
		if got := ICMPv4Type(ty).IsError(); got != want {
			t.Errorf("type %d: IsError = %v", ty, got)
		}
	}
}

func TestICMPv4Allocs(t *testing.T) {
	b := make([]byte, 64)
	f := ICMPv4Fields{Type: ICMPv4Redirect, Gateway: netip.MustParseAddr("10.1.2.3")}
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		h := f.Encode(b)
		h.SetChecksum(h.CalculateChecksum())
		p, err := ParseICMPv4(h)
		if err != nil {
			panic(err)
		}
		fl := p.Fields()
		if p.IsChecksumValid() && fl.Gateway.IsValid() && !p.Gateway().IsUnspecified() {
			sink++
		}
		sink += int(p.Ident()) + int(p.Sequence()) + int(p.MTU()) + int(p.Pointer()) +
			len(p.Payload()) + len(p.OriginalDatagram()) + int(p.RestOfHeader()&1) + int(p.Type()) + int(p.Code())
	})
	if allocs != 0 {
		t.Errorf("allocs = %v, want 0", allocs)
	}
	_ = sink
}

func FuzzParseICMPv4(f *testing.F) {
	icmpTestSeedGolden(f, icmpTestGoldenV4Names, false)
	f.Add([]byte{8, 0, 0xf7, 0xfd, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseICMPv4(b)
		if err != nil {
			if len(b) >= ICMPv4MinimumSize || !errors.Is(err, ErrTruncated) {
				t.Fatalf("len %d: %v", len(b), err)
			}
			return
		}
		_ = h.Type().String() + h.Code().String() + h.Type().CodeString(h.Code())
		_, _, _, _, _ = h.Ident(), h.Sequence(), h.MTU(), h.Pointer(), h.Gateway()
		_, _, _ = h.Payload(), h.OriginalDatagram(), h.RestOfHeader()
		// One's complement has two zeros: a computed 0 may be sent
		// as 0xffff.
		calc, field := h.CalculateChecksum(), h.Checksum()
		if want := field == calc || calc == 0 && field == 0xffff; h.IsChecksumValid() != want {
			t.Fatalf("IsChecksumValid = %v, CalculateChecksum %#04x, field %#04x", !want, calc, field)
		}
		// Fields → Encode → Parse → Fields is the identity.
		fl := h.Fields()
		out := make([]byte, len(b))
		copy(out[ICMPv4MinimumSize:], h.Payload())
		e := fl.Encode(out)
		p, err := ParseICMPv4(e)
		if err != nil {
			t.Fatal(err)
		}
		if p.Fields() != fl {
			t.Fatalf("round trip: %+v != %+v", p.Fields(), fl)
		}
		// Bytes round-trip when the unused parts of the second word
		// are zero, as the type defines it.
		if icmpTestV4WordDefined(h) && !bytes.Equal(e, b) {
			t.Fatalf("re-encoded % x, want % x", []byte(e), b)
		}
	})
}

// icmpTestV4WordDefined reports whether Fields describes every bit of the
// second header word of h.
func icmpTestV4WordDefined(h ICMPv4) bool {
	w := h.RestOfHeader()
	switch t := h.Type(); {
	case t.icmpv4HasIdent(), t == ICMPv4Redirect:
		return true
	case t == ICMPv4DstUnreachable:
		return w>>16 == 0
	case t == ICMPv4ParamProblem:
		return w&0xffffff == 0
	}
	return w == 0
}

// icmpTestSeedGolden adds to f the payloads of the golden frames that
// exist (fixtures are produced by a capture script and may be missing).
func icmpTestSeedGolden(f *testing.F, names []string, v6 bool) {
	for _, name := range names {
		if !icmpTestHaveGolden(name) {
			continue
		}
		frame := golden(f, name)
		var p []byte
		if v6 {
			p, _, _, _ = icmpTestIPv6(f, frame)
		} else {
			p, _, _, _ = icmpTestIPv4(f, frame)
		}
		f.Add(p)
	}
}

// icmpTestHaveGolden reports whether a golden fixture exists.
func icmpTestHaveGolden(name string) bool {
	_, err := os.Stat(filepath.Join("testdata", "golden", name+".hex"))
	return err == nil
}

var icmpTestGoldenV4Names = []string{
	"ipv4_icmp_echo_request", "ipv4_icmp_echo_reply", "ipv4_icmp_port_unreach",
	"ipv4_icmp_frag_needed", "ipv4_icmp_time_exceeded", "ipv4_icmp_param_problem",
	"ipv4_icmp_redirect",
}
