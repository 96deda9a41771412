package header

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

var (
	arpTestMAC1 = tcpip.MustParseLinkAddress("02:00:00:00:00:01")
	arpTestMAC2 = tcpip.MustParseLinkAddress("02:00:00:00:00:02")
	arpTestIP1  = netip.MustParseAddr("192.0.2.1")
	arpTestIP2  = netip.MustParseAddr("192.0.2.2")
)

// arpGolden is what an ARP fixture decodes to.
type arpGolden struct {
	name              string
	ethSrc, ethDst    tcpip.LinkAddress
	fields            ARPFields
	gratuitous, probe bool
	frameLen          int // length of the Ethernet frame, with padding
}

// arpGoldens are the ARP fixtures: host A (02:99:00:00:00:01, 10.99.1.1)
// resolving host B (02:99:00:00:00:02, 10.99.1.2) over a veth pair.
var arpGoldens = []arpGolden{
	{
		name:   "eth_arp_request",
		ethSrc: ethTestMACA, ethDst: tcpip.BroadcastLinkAddress,
		fields: ARPFields{
			Op:                    ARPRequest,
			SenderHardwareAddress: ethTestMACA,
			SenderProtocolAddress: netip.MustParseAddr("10.99.1.1"),
			// Linux leaves the unknown target hardware address zero.
			TargetProtocolAddress: netip.MustParseAddr("10.99.1.2"),
		},
		frameLen: EthernetMinimumSize + ARPSize, // veth does not pad
	},
	{
		name:   "eth_arp_reply",
		ethSrc: ethTestMACB, ethDst: ethTestMACA,
		fields: ARPFields{
			Op:                    ARPReply,
			SenderHardwareAddress: ethTestMACB,
			SenderProtocolAddress: netip.MustParseAddr("10.99.1.2"),
			TargetHardwareAddress: ethTestMACA,
			TargetProtocolAddress: netip.MustParseAddr("10.99.1.1"),
		},
		frameLen: EthernetMinimumSize + ARPSize,
	},
}

func TestARPGolden(t *testing.T) {
	for _, tc := range arpGoldens {
		t.Run(tc.name, func(t *testing.T) {
			frame := golden(t, tc.name)
			eth, err := ParseEthernet(frame)
			if err != nil {
				t.Fatalf("ParseEthernet: %v", err)
			}
			if eth.Type() != tcpip.ARPProtocolNumber || eth.Source() != tc.ethSrc || eth.Destination() != tc.ethDst {
				t.Errorf("Ethernet %v > %v type %v, want %v > %v ARP", eth.Source(), eth.Destination(), eth.Type(), tc.ethSrc, tc.ethDst)
			}
			if len(frame) != tc.frameLen {
				t.Errorf("frame is %d bytes, want %d", len(frame), tc.frameLen)
			}
			arp, err := ParseARP(eth.Payload())
			if err != nil {
				t.Fatalf("ParseARP: %v", err)
			}
			if len(arp) != ARPSize {
				t.Errorf("view of %d bytes, want %d (padding excluded)", len(arp), ARPSize)
			}
			if arp.HardwareType() != ARPHardwareEthernet || arp.ProtocolType() != tcpip.IPv4ProtocolNumber {
				t.Errorf("hardware %d protocol %v", arp.HardwareType(), arp.ProtocolType())
			}
			if got := arp.Fields(); got != tc.fields {
				t.Errorf("Fields() = %+v, want %+v", got, tc.fields)
			}
			if arp.IsGratuitous() != tc.gratuitous || arp.IsProbe() != tc.probe {
				t.Errorf("IsGratuitous %v IsProbe %v, want %v %v", arp.IsGratuitous(), arp.IsProbe(), tc.gratuitous, tc.probe)
			}
			// Byte-exact re-encoding of the Ethernet header and the
			// ARP packet; any padding is zeros.
			out := make([]byte, EthernetMinimumSize+ARPSize)
			ef := eth.Fields()
			ef.Encode(out)
			af := arp.Fields()
			af.Encode(out[EthernetMinimumSize:])
			if !bytes.Equal(out, frame[:len(out)]) {
				t.Errorf("re-encoded\n%x, want\n%x", out, frame[:len(out)])
			}
			if pad := frame[len(out):]; !bytes.Equal(pad, make([]byte, len(pad))) {
				t.Errorf("padding %x is not zeros", pad)
			}
		})
	}
}

func TestARPRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name              string
		f                 ARPFields
		gratuitous, probe bool
	}{
		{"request", ARPFields{Op: ARPRequest, SenderHardwareAddress: arpTestMAC1, SenderProtocolAddress: arpTestIP1, TargetProtocolAddress: arpTestIP2}, false, false},
		{"reply", ARPFields{Op: ARPReply, SenderHardwareAddress: arpTestMAC2, SenderProtocolAddress: arpTestIP2, TargetHardwareAddress: arpTestMAC1, TargetProtocolAddress: arpTestIP1}, false, false},
		// RFC 5227 §2.1.1: a probe comes from 0.0.0.0.
		{"probe", ARPFields{Op: ARPRequest, SenderHardwareAddress: arpTestMAC1, SenderProtocolAddress: netip.IPv4Unspecified(), TargetProtocolAddress: arpTestIP1}, false, true},
		// RFC 5227 §2.3: an announcement has sender = target address.
		{"announcement", ARPFields{Op: ARPRequest, SenderHardwareAddress: arpTestMAC1, SenderProtocolAddress: arpTestIP1, TargetProtocolAddress: arpTestIP1}, true, false},
		{"gratuitous reply", ARPFields{Op: ARPReply, SenderHardwareAddress: arpTestMAC1, SenderProtocolAddress: arpTestIP1, TargetHardwareAddress: tcpip.BroadcastLinkAddress, TargetProtocolAddress: arpTestIP1}, true, false},
		{"RARP opcode", ARPFields{Op: 3, SenderHardwareAddress: arpTestMAC1, SenderProtocolAddress: arpTestIP1, TargetProtocolAddress: arpTestIP2}, false, false},
		{"all ones", ARPFields{Op: 0xffff, SenderHardwareAddress: tcpip.BroadcastLinkAddress, SenderProtocolAddress: netip.MustParseAddr("255.255.255.255"), TargetHardwareAddress: tcpip.BroadcastLinkAddress, TargetProtocolAddress: netip.MustParseAddr("255.255.255.255")}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, ARPSize+18) // with Ethernet padding
			enc := tc.f.Encode(b)
			if len(enc) != ARPSize {
				t.Fatalf("Encode returned %d bytes", len(enc))
			}
			arp, err := ParseARP(b)
			if err != nil {
				t.Fatalf("ParseARP: %v", err)
			}
			if got := arp.Fields(); got != tc.f {
				t.Errorf("Fields() = %+v, want %+v", got, tc.f)
			}
			if arp.IsGratuitous() != tc.gratuitous || arp.IsProbe() != tc.probe {
				t.Errorf("IsGratuitous %v IsProbe %v, want %v %v", arp.IsGratuitous(), arp.IsProbe(), tc.gratuitous, tc.probe)
			}
		})
	}
	// The zero Addr encodes as 0.0.0.0.
	var b [ARPSize]byte
	arp := (&ARPFields{Op: ARPRequest, SenderHardwareAddress: arpTestMAC1, TargetProtocolAddress: arpTestIP1}).Encode(b[:])
	if arp.SenderProtocolAddress() != netip.IPv4Unspecified() || !arp.IsProbe() {
		t.Errorf("zero sender address encoded as %v", arp.SenderProtocolAddress())
	}
}

func TestParseARPMalformed(t *testing.T) {
	var full [ARPSize]byte
	(&ARPFields{Op: ARPReply, SenderHardwareAddress: arpTestMAC1, SenderProtocolAddress: arpTestIP1, TargetHardwareAddress: arpTestMAC2, TargetProtocolAddress: arpTestIP2}).Encode(full[:])
	for n := range ARPSize {
		if _, err := ParseARP(full[:n]); err != ErrTruncated {
			t.Errorf("truncated to %d bytes: %v, want ErrTruncated", n, err)
		}
	}
	mod := func(off int, v byte) []byte {
		b := bytes.Clone(full[:])
		b[off] = v
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"hardware type 6 (IEEE 802)", mod(1, 6), ErrUnsupported},
		{"hardware type 0x0101", mod(0, 1), ErrUnsupported},
		{"protocol IPv6", append([]byte{0, 1, 0x86, 0xdd, 6, 16}, make([]byte, 60)...), ErrUnsupported},
		{"hardware length 8", mod(4, 8), ErrUnsupported},
		{"protocol length 16", mod(5, 16), ErrUnsupported},
		// Another size is unsupported even when too short for it.
		{"unsupported and short", mod(4, 20)[:10], ErrUnsupported},
		{"opcode 0", mod(7, 0), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseARP(tc.b)
			if err != tc.want {
				t.Errorf("ParseARP: %v, want %v", err, tc.want)
			}
			if err != nil && !errors.Is(err, tcpip.ErrMalformed) {
				t.Errorf("%v does not match tcpip.ErrMalformed", err)
			}
		})
	}
}

func TestARPOpString(t *testing.T) {
	for op, want := range map[ARPOp]string{ARPRequest: "request", ARPReply: "reply", 0: "op(0)", 9: "op(9)"} {
		if got := op.String(); got != want {
			t.Errorf("ARPOp(%d).String() = %q, want %q", op, got, want)
		}
	}
}

func TestARPAllocs(t *testing.T) {
	f := ARPFields{Op: ARPReply, SenderHardwareAddress: arpTestMAC1, SenderProtocolAddress: arpTestIP1, TargetHardwareAddress: arpTestMAC2, TargetProtocolAddress: arpTestIP2}
	b := make([]byte, EthernetMinimumFrameSize)
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		enc := f.Encode(b)
		arp, err := ParseARP(enc)
		if err != nil {
			t.Fatal(err)
		}
		sink += int(arp.HardwareType()) + int(arp.ProtocolType()) + int(arp.Op())
		if arp.Fields() != f || arp.IsGratuitous() || arp.IsProbe() {
			t.Fatal("bad values")
		}
		sink += int(arp.SenderHardwareAddress()[0] + arp.TargetHardwareAddress()[0])
		sink += int(arp.SenderProtocolAddress().As4()[0] + arp.TargetProtocolAddress().As4()[0])
	})
	if allocs != 0 {
		t.Errorf("ARP parse, accessors and encode allocate %v times, want 0", allocs)
	}
	_ = sink
}

func FuzzParseARP(f *testing.F) {
	for _, tc := range arpGoldens {
		f.Add(golden(f, tc.name)[EthernetMinimumSize:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		arp, err := ParseARP(b)
		if err != nil {
			if arp != nil {
				t.Fatalf("view with error %v", err)
			}
			return
		}
		if len(arp) != ARPSize || !bytes.Equal(arp, b[:ARPSize]) {
			t.Fatalf("view %x of %x", []byte(arp), b)
		}
		_ = arp.Op().String()
		_ = arp.IsGratuitous() || arp.IsProbe()
		// Every valid packet re-encodes to its own bytes.
		fields := arp.Fields()
		var out [ARPSize]byte
		if enc := fields.Encode(out[:]); !bytes.Equal(enc, arp) {
			t.Fatalf("re-encoded %x, want %x", out, []byte(arp))
		}
		again, err := ParseARP(out[:])
		if err != nil || again.Fields() != fields {
			t.Fatalf("round trip: %+v, %v; want %+v", again.Fields(), err, fields)
		}
	})
}
