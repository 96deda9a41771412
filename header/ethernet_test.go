package header

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

func TestEthernetGolden(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dst, src tcpip.LinkAddress
		typ      tcpip.NetworkProtocolNumber
		len      int
	}{
		// The kernel's ARP request is broadcast. Captured on a veth,
		// it is not padded to EthernetMinimumFrameSize: veth hands
		// frames over as they are, and padding is the job of the
		// drivers of real hardware.
		{"eth_arp_request", tcpip.BroadcastLinkAddress, ethTestMACA, tcpip.ARPProtocolNumber, 42},
		// A 41-byte IPv4 datagram (13 bytes of UDP payload).
		{"ipv4_udp", ethTestMACB, ethTestMACA, tcpip.IPv4ProtocolNumber, 55},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := golden(t, tc.name)
			eth, err := ParseEthernet(frame)
			if err != nil {
				t.Fatalf("ParseEthernet: %v", err)
			}
			if eth.Destination() != tc.dst || eth.Source() != tc.src || eth.Type() != tc.typ {
				t.Errorf("%v > %v %v, want %v > %v %v", eth.Source(), eth.Destination(), eth.Type(), tc.src, tc.dst, tc.typ)
			}
			if len(frame) != tc.len || len(eth.Payload()) != tc.len-EthernetMinimumSize {
				t.Errorf("frame %d bytes, payload %d, want %d", len(frame), len(eth.Payload()), tc.len)
			}
			var out [EthernetMinimumSize]byte
			f := eth.Fields()
			if enc := f.Encode(out[:]); !bytes.Equal(enc, frame[:EthernetMinimumSize]) {
				t.Errorf("re-encoded %x, want %x", out, frame[:EthernetMinimumSize])
			}
		})
	}
}

var (
	ethTestMACA = tcpip.MustParseLinkAddress("02:99:00:00:00:01")
	ethTestMACB = tcpip.MustParseLinkAddress("02:99:00:00:00:02")
)

func TestEthernetRoundTrip(t *testing.T) {
	for _, f := range []EthernetFields{
		{},
		{Destination: tcpip.BroadcastLinkAddress, Source: ethTestMACA, Type: tcpip.ARPProtocolNumber},
		{Destination: ethTestMACB, Source: ethTestMACA, Type: tcpip.IPv4ProtocolNumber},
		{Destination: tcpip.MustParseLinkAddress("33:33:00:00:00:01"), Source: ethTestMACB, Type: tcpip.IPv6ProtocolNumber},
		{Destination: ethTestMACA, Source: ethTestMACB, Type: 0x8100}, // 802.1Q tag, not parsed
		{Destination: tcpip.BroadcastLinkAddress, Source: tcpip.BroadcastLinkAddress, Type: 0xffff},
	} {
		b := bytes.Repeat([]byte{0xee}, EthernetMinimumFrameSize)
		enc := f.Encode(b)
		if len(enc) != EthernetMinimumSize || b[EthernetMinimumSize] != 0xee {
			t.Errorf("%+v: Encode wrote %d bytes", f, len(enc))
		}
		eth, err := ParseEthernet(b)
		if err != nil {
			t.Fatalf("%+v: ParseEthernet: %v", f, err)
		}
		if got := eth.Fields(); got != f {
			t.Errorf("Fields() = %+v, want %+v", got, f)
		}
		if len(eth.Payload()) != EthernetMinimumFrameSize-EthernetMinimumSize {
			t.Errorf("%+v: payload of %d bytes", f, len(eth.Payload()))
		}
	}
}

func TestParseEthernetTruncated(t *testing.T) {
	b := make([]byte, EthernetMinimumSize)
	for n := range EthernetMinimumSize {
		_, err := ParseEthernet(b[:n])
		if err != ErrTruncated || !errors.Is(err, tcpip.ErrMalformed) {
			t.Errorf("%d bytes: %v, want ErrTruncated", n, err)
		}
	}
	eth, err := ParseEthernet(b)
	if err != nil || len(eth.Payload()) != 0 {
		t.Errorf("header alone: %v, payload %d bytes", err, len(eth.Payload()))
	}
}

func TestEthernetAllocs(t *testing.T) {
	f := EthernetFields{Destination: ethTestMACB, Source: ethTestMACA, Type: tcpip.IPv4ProtocolNumber}
	b := make([]byte, 64)
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		f.Encode(b)
		eth, err := ParseEthernet(b)
		if err != nil {
			t.Fatal(err)
		}
		if eth.Fields() != f {
			t.Fatal("bad fields")
		}
		sink += int(eth.Destination()[5]+eth.Source()[5]) + int(eth.Type()) + len(eth.Payload())
	})
	if allocs != 0 {
		t.Errorf("Ethernet parse, accessors and encode allocate %v times, want 0", allocs)
	}
	_ = sink
}

func FuzzParseEthernet(f *testing.F) {
	f.Add(golden(f, "eth_arp_request"))
	f.Add(golden(f, "ipv4_udp"))
	f.Fuzz(func(t *testing.T, b []byte) {
		eth, err := ParseEthernet(b)
		if err != nil {
			if len(b) >= EthernetMinimumSize || err != ErrTruncated {
				t.Fatalf("%d bytes: %v", len(b), err)
			}
			return
		}
		if len(eth.Payload()) != len(b)-EthernetMinimumSize {
			t.Fatalf("payload %d of %d bytes", len(eth.Payload()), len(b))
		}
		_ = eth.Type().String()
		fields := eth.Fields()
		var out [EthernetMinimumSize]byte
		if enc := fields.Encode(out[:]); !bytes.Equal(enc, b[:EthernetMinimumSize]) {
			t.Fatalf("re-encoded %x, want %x", out, b[:EthernetMinimumSize])
		}
		again, err := ParseEthernet(out[:])
		if err != nil || again.Fields() != fields {
			t.Fatalf("round trip %+v, %v; want %+v", again.Fields(), err, fields)
		}
	})
}
