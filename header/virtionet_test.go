package header

import (
	"bytes"
	"errors"
	"testing"
)

// A header as the TUN driver writes it before a TSO super-segment of
// TCP over IPv4 behind a 14-byte Ethernet header: NEEDS_CSUM, gso_type
// TCPV4, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16,
// num_buffers 1; little-endian.
var vnetGolden = []byte{0x01, 0x01, 0x42, 0x00, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00, 0x01, 0x00}

var vnetGoldenFields = VirtioNetFields{
	Flags: VirtioNetNeedsCsum, GSOType: VirtioNetGSOTCPv4, HdrLen: 66,
	GSOSize: 1448, CsumStart: 34, CsumOffset: 16, NumBuffers: 1,
}

func TestVirtioNetParse(t *testing.T) {
	h, err := ParseVirtioNet(vnetGolden, VirtioNetMrgRxbufSize)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Fields(); got != vnetGoldenFields {
		t.Errorf("Fields() = %+v, want %+v", got, vnetGoldenFields)
	}
	h10, err := ParseVirtioNet(vnetGolden, VirtioNetSize)
	if err != nil {
		t.Fatal(err)
	}
	want10 := vnetGoldenFields
	want10.NumBuffers = 0
	if got := h10.Fields(); got != want10 || len(h10) != VirtioNetSize {
		t.Errorf("10-byte Fields() = %+v (len %d), want %+v", got, len(h10), want10)
	}
	for _, tc := range []struct {
		b    []byte
		size int
		want error
	}{
		{vnetGolden[:9], VirtioNetSize, ErrTruncated},
		{vnetGolden[:11], VirtioNetMrgRxbufSize, ErrTruncated},
		{vnetGolden, 11, ErrUnsupported},
		{vnetGolden, 0, ErrUnsupported},
	} {
		if h, err := ParseVirtioNet(tc.b, tc.size); !errors.Is(err, tc.want) || h != nil {
			t.Errorf("ParseVirtioNet(%d bytes, %d) = %v, %v; want nil, %v", len(tc.b), tc.size, h, err, tc.want)
		}
	}
}

func TestVirtioNetEncode(t *testing.T) {
	var b [VirtioNetMrgRxbufSize + 4]byte
	if got := vnetGoldenFields.Encode(b[:], VirtioNetMrgRxbufSize); !bytes.Equal(got, vnetGolden) {
		t.Errorf("Encode 12 = %x, want %x", []byte(got), vnetGolden)
	}
	b = [len(b)]byte{}
	got := vnetGoldenFields.Encode(b[:], VirtioNetSize)
	if !bytes.Equal(got, vnetGolden[:VirtioNetSize]) || b[VirtioNetSize] != 0 {
		t.Errorf("Encode 10 = %x (then %x), want %x", []byte(got), b[VirtioNetSize:], vnetGolden[:VirtioNetSize])
	}
	var zero VirtioNetFields
	if got := zero.Encode(b[:], VirtioNetSize); !bytes.Equal(got, make([]byte, VirtioNetSize)) {
		t.Errorf("zero fields encode to %x", []byte(got))
	}
	defer func() {
		if recover() == nil {
			t.Error("Encode with size 11 did not panic")
		}
	}()
	zero.Encode(b[:], 11)
}

func TestVirtioNetGSOTypeString(t *testing.T) {
	for typ, want := range map[VirtioNetGSOType]string{
		VirtioNetGSONone:                    "none",
		VirtioNetGSOTCPv4:                   "tcpv4",
		VirtioNetGSOTCPv6 | VirtioNetGSOECN: "tcpv6|ecn",
		VirtioNetGSOUDP:                     "udp",
		VirtioNetGSOUDPL4:                   "udp_l4",
		2:                                   "gso(2)",
		0x82:                                "gso(130)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("VirtioNetGSOType(%d).String() = %q, want %q", typ, got, want)
		}
	}
}

func TestVirtioNetAllocs(t *testing.T) {
	var b [VirtioNetMrgRxbufSize]byte
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		enc := vnetGoldenFields.Encode(b[:], VirtioNetMrgRxbufSize)
		h, err := ParseVirtioNet(enc, VirtioNetMrgRxbufSize)
		if err != nil {
			t.Fatal(err)
		}
		if h.Fields() != vnetGoldenFields {
			t.Fatal("bad values")
		}
		sink += int(h.Flags()) + int(h.GSOType()) + int(h.GSOSize())
	})
	if allocs != 0 {
		t.Errorf("virtio-net parse, accessors and encode allocate %v times, want 0", allocs)
	}
	_ = sink
}

func FuzzParseVirtioNet(f *testing.F) {
	f.Add(vnetGolden, VirtioNetMrgRxbufSize)
	f.Add(vnetGolden[:10], VirtioNetSize)
	f.Add([]byte{1, 2, 3}, VirtioNetSize)
	f.Fuzz(func(t *testing.T, b []byte, size int) {
		h, err := ParseVirtioNet(b, size)
		if err != nil {
			if h != nil {
				t.Fatalf("view with error %v", err)
			}
			return
		}
		if len(h) != size || !bytes.Equal(h, b[:size]) {
			t.Fatalf("view %x of %x size %d", []byte(h), b, size)
		}
		_ = h.GSOType().String()
		// Every header re-encodes to its own bytes.
		fields := h.Fields()
		var out [VirtioNetMrgRxbufSize]byte
		if enc := fields.Encode(out[:], size); !bytes.Equal(enc, h) {
			t.Fatalf("re-encoded %x, want %x", []byte(enc), []byte(h))
		}
		again, err := ParseVirtioNet(out[:size], size)
		if err != nil || again.Fields() != fields {
			t.Fatalf("round trip: %+v, %v; want %+v", again.Fields(), err, fields)
		}
	})
}
