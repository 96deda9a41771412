package header

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestMLDGolden(t *testing.T) {
	ll := netip.MustParseAddr("fe80::99:ff:fe00:1")
	t.Run("ipv6_mldv1_report", func(t *testing.T) {
		h, src, dst := icmpTestGoldenICMPv6(t, "ipv6_mldv1_report")
		group := netip.MustParseAddr("ff15::98")
		// RFC 2710 §3: sent from a link-local address to the group.
		if h.Type() != ICMPv6MLDv1Report || h.Checksum() != 0x7f36 || src != ll || dst != group {
			t.Errorf("header %+v, %v → %v", h.Fields(), src, dst)
		}
		m, err := ParseMLD(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		if m.Fields() != (MLDFields{MulticastAddress: group}) {
			t.Errorf("Fields = %+v", m.Fields())
		}
		mldTestReencodeV1(t, h, m)
	})
	t.Run("ipv6_mldv1_done", func(t *testing.T) {
		h, _, dst := icmpTestGoldenICMPv6(t, "ipv6_mldv1_done")
		// RFC 2710 §4: a done goes to all-routers.
		if h.Type() != ICMPv6MLDv1Done || h.Checksum() != 0x7edf || dst != netip.MustParseAddr("ff02::2") {
			t.Errorf("header %+v → %v", h.Fields(), dst)
		}
		m, err := ParseMLD(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		if m.Fields() != (MLDFields{MulticastAddress: netip.MustParseAddr("ff15::98")}) {
			t.Errorf("Fields = %+v", m.Fields())
		}
		mldTestReencodeV1(t, h, m)
	})
	t.Run("ipv6_hbh_mldv2_report", func(t *testing.T) {
		h, src, dst := icmpTestGoldenICMPv6(t, "ipv6_hbh_mldv2_report")
		// RFC 3810 §5.2.14: sent to ff02::16 (all MLDv2 routers).
		if h.Type() != ICMPv6MLDv2Report || h.Checksum() != 0x6fc5 || src != ll || dst != netip.MustParseAddr("ff02::16") {
			t.Errorf("header %+v, %v → %v", h.Fields(), src, dst)
		}
		r, err := ParseMLDv2Report(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		if r.Fields() != (MLDv2ReportFields{NumberOfRecords: 1}) {
			t.Errorf("Fields = %+v", r.Fields())
		}
		it := r.Records()
		g, ok := it.Next()
		if !ok {
			t.Fatalf("no record: %v", it.Err())
		}
		want := MLDv2RecordFields{Type: MLDv2ChangeToExclude, MulticastAddress: netip.MustParseAddr("ff15::99")}
		if g.Fields() != want {
			t.Errorf("record %+v, want %+v", g.Fields(), want)
		}
		if _, ok := it.Next(); ok || it.Err() != nil {
			t.Error("second record")
		}
		b := make([]byte, len(h))
		hf := h.Fields()
		eh := hf.Encode(b)
		rf := r.Fields()
		er := rf.Encode(eh.MessageBody())
		gf := g.Fields()
		gf.Encode(er.RecordBytes())
		if !bytes.Equal(b, h) {
			t.Errorf("re-encoded % x, want % x", b, []byte(h))
		}
		body := h.MessageBody()
		for n := range len(body) {
			if _, err := ParseMLDv2Report(body[:n]); !errors.Is(err, ErrTruncated) {
				t.Errorf("len %d: %v", n, err)
			}
		}
	})
	t.Run("ipv6_mldv1_query", func(t *testing.T) {
		h, _, dst := icmpTestGoldenICMPv6(t, "ipv6_mldv1_query")
		// RFC 3810 §8.1: 24 octets, so MLDv1. A general query goes to
		// all nodes.
		if h.Type() != ICMPv6MLDQuery || MLDQueryVersion(h.MessageBody()) != 1 || dst != netip.MustParseAddr("ff02::1") ||
			h.Checksum() != 0x6c0d {
			t.Fatalf("type %v version %d → %v", h.Type(), MLDQueryVersion(h.MessageBody()), dst)
		}
		m, err := ParseMLD(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		if m.Fields() != (MLDFields{MaxResponseDelay: 5 * time.Second, MulticastAddress: netip.IPv6Unspecified()}) {
			t.Errorf("Fields = %+v", m.Fields())
		}
		mldTestReencodeV1(t, h, m)
	})
	t.Run("ipv6_mldv2_query", func(t *testing.T) {
		h, _, _ := icmpTestGoldenICMPv6(t, "ipv6_mldv2_query")
		// 28 octets: MLDv2. Maximum Response Code 5000 ms, QRV 2,
		// QQIC 10 s.
		if h.Type() != ICMPv6MLDQuery || MLDQueryVersion(h.MessageBody()) != 2 || h.Checksum() != 0x69ff ||
			len(h) != ICMPv6HeaderSize+MLDv2QueryMinimumSize {
			t.Fatalf("type %v version %d", h.Type(), MLDQueryVersion(h.MessageBody()))
		}
		q, err := ParseMLDv2Query(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		want := MLDv2QueryFields{
			MaxResponseDelay: 5 * time.Second,
			MulticastAddress: netip.IPv6Unspecified(),
			QRV:              2,
			QueryInterval:    10 * time.Second,
		}
		if q.Fields() != want {
			t.Errorf("Fields = %+v, want %+v", q.Fields(), want)
		}
		b := make([]byte, len(h))
		hf := h.Fields()
		eh := hf.Encode(b)
		qf := q.Fields()
		qf.Encode(eh.MessageBody())
		if !bytes.Equal(b, h) {
			t.Errorf("re-encoded % x, want % x", b, []byte(h))
		}
	})
}

// mldTestReencodeV1 rebuilds an MLDv1 message from its Fields and compares.
func mldTestReencodeV1(t *testing.T, h ICMPv6, m MLD) {
	t.Helper()
	b := make([]byte, len(h))
	hf := h.Fields()
	eh := hf.Encode(b)
	mf := m.Fields()
	mf.Encode(eh.MessageBody())
	if !bytes.Equal(b, h) {
		t.Errorf("re-encoded % x, want % x", b, []byte(h))
	}
}

func TestMLDFloatCodes(t *testing.T) {
	// RFC 3810 §5.1.3: code < 32768 is the value; otherwise
	// (mant | 0x1000) << (exp + 3).
	tests := []struct {
		code uint16
		v    uint32
	}{
		{0, 0}, {1000, 1000}, {10000, 10000}, {0x7fff, 32767},
		{0x8000, 32768}, {0x8001, 32776}, {0x8fff, 65528},
		{0x9000, 65536}, {0xffff, 0x1fff << 10},
	}
	for _, tt := range tests {
		if got := mldDecodeFloat(tt.code); got != tt.v {
			t.Errorf("decode(%#x) = %d, want %d", tt.code, got, tt.v)
		}
		if got := mldEncodeFloat(uint64(tt.v)); got != tt.code {
			t.Errorf("encode(%d) = %#x, want %#x", tt.v, got, tt.code)
		}
	}
	prev := uint32(0)
	for c := range 1 << 16 {
		v := mldDecodeFloat(uint16(c))
		if mldEncodeFloat(uint64(v)) != uint16(c) {
			t.Fatalf("code %#x does not round-trip", c)
		}
		if c > 0 && v <= prev {
			t.Fatalf("code %#x: %d not above %d", c, v, prev)
		}
		if c > 0 && v-prev > 1 && mldEncodeFloat(uint64(v-1)) != uint16(c-1) {
			t.Fatalf("value %d does not round down", v-1)
		}
		prev = v
	}
	if mldEncodeFloat(1<<40) != 0xffff {
		t.Error("large values do not clamp")
	}
}

func TestMLDv1(t *testing.T) {
	group := netip.MustParseAddr("ff02::1:ff00:2")
	tests := []struct {
		name string
		f    MLDFields
		wire string
	}{
		{"general query", MLDFields{MaxResponseDelay: 10 * time.Second, MulticastAddress: netip.IPv6Unspecified()},
			"2710 0000 00000000000000000000000000000000"},
		{"report", MLDFields{MulticastAddress: group}, "0000 0000 ff0200000000000000000001ff000002"},
		{"clamped", MLDFields{MaxResponseDelay: time.Hour, MulticastAddress: group}, "ffff 0000 ff0200000000000000000001ff000002"},
	}
	for _, tt := range tests {
		b := bytes.Repeat([]byte{0xee}, 24)
		m := tt.f.Encode(b)
		if got, want := icmpTestHex(m), icmpTestHex(icmpTestUnhex(t, tt.wire)); got != want {
			t.Errorf("%s: Encode = %s, want %s", tt.name, got, want)
		}
		p, err := ParseMLD(m)
		if err != nil {
			t.Fatal(err)
		}
		f := tt.f
		f.MaxResponseDelay = min(f.MaxResponseDelay, 65535*time.Millisecond)
		if got := p.Fields(); got != f {
			t.Errorf("%s: Fields = %+v, want %+v", tt.name, got, f)
		}
	}
	for n := range MLDMinimumSize {
		if _, err := ParseMLD(make([]byte, n)); !errors.Is(err, ErrTruncated) {
			t.Errorf("len %d: %v", n, err)
		}
	}
	// A whole MLDv1 report as an ICMPv6 message, checksummed.
	src, dst := netip.MustParseAddr("fe80::1"), group
	b := make([]byte, ICMPv6HeaderSize+MLDMinimumSize)
	h := (&ICMPv6Fields{Type: ICMPv6MLDv1Report}).Encode(b)
	(&MLDFields{MulticastAddress: group}).Encode(h.MessageBody())
	h.SetChecksum(h.CalculateChecksum(src, dst))
	if !h.IsChecksumValid(src, dst) || h.Type() != ICMPv6MLDv1Report {
		t.Error("checksum")
	}
	if m, err := ParseMLD(h.MessageBody()); err != nil || m.MulticastAddress() != group {
		t.Errorf("parse %v", err)
	}
}

func TestMLDQueryVersion(t *testing.T) {
	for n, want := range map[int]int{0: 0, 19: 0, 20: 1, 21: 0, 23: 0, 24: 2, 40: 2} {
		if got := MLDQueryVersion(make([]byte, n)); got != want {
			t.Errorf("body %d: version %d, want %d", n, got, want)
		}
	}
}

func TestMLDv2Query(t *testing.T) {
	f := MLDv2QueryFields{
		MaxResponseDelay:         10 * time.Second,
		MulticastAddress:         netip.MustParseAddr("ff05::1:3"),
		SuppressRouterProcessing: true,
		QRV:                      2,
		QueryInterval:            125 * time.Second,
		NumberOfSources:          1,
	}
	b := bytes.Repeat([]byte{0xee}, 64)
	q := f.Encode(b)
	if len(q) != 40 || f.Size() != 40 {
		t.Fatalf("size %d", len(q))
	}
	q.SetSource(0, netip.MustParseAddr("2001:db8::1"))
	want := "2710 0000 ff050000000000000000000000010003 0a 7d 0001 20010db8000000000000000000000001"
	if got := icmpTestHex(q); got != icmpTestHex(icmpTestUnhex(t, want)) {
		t.Errorf("Encode = %s", got)
	}
	p, err := ParseMLDv2Query(q)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Fields(); got != f {
		t.Errorf("Fields = %+v, want %+v", got, f)
	}
	if MLDQueryVersion(p) != 2 || p.MaxRespCode() != 10000 || p.QQIC() != 125 {
		t.Errorf("version %d", MLDQueryVersion(p))
	}
	it := p.Sources()
	a, ok := it.Next()
	if _, more := it.Next(); !ok || more || a != netip.MustParseAddr("2001:db8::1") || it.Err() != nil {
		t.Errorf("sources %v", a)
	}
	// The MLDv1 view reads the common prefix of an MLDv2 query.
	if v1, err := ParseMLD(p); err != nil || v1.MulticastAddress() != f.MulticastAddress || v1.MaxResponseDelay() != 10*time.Second {
		t.Errorf("as MLDv1: %v", err)
	}
	// Floating-point delay: 0x8400 = (0x400|0x1000) << 3 ms = 40960 ms.
	q2 := (&MLDv2QueryFields{MaxResponseDelay: 40961 * time.Millisecond}).Encode(make([]byte, 24))
	if q2.MaxRespCode() != 0x8400 || q2.MaxResponseDelay() != 40960*time.Millisecond {
		t.Errorf("code %#x = %v", q2.MaxRespCode(), q2.MaxResponseDelay())
	}
	// Truncations.
	for n := range len(q) {
		if _, err := ParseMLDv2Query(q[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("len %d: %v", n, err)
		}
	}
	if it := MLDv2Query(q[:10]).Sources(); it.n != 0 || it.rest != nil {
		t.Error("short view gave sources")
	}
	it = MLDv2Query(q[:30]).Sources()
	if _, ok := it.Next(); ok || !errors.Is(it.Err(), ErrTruncated) {
		t.Errorf("unchecked view: %v", it.Err())
	}
}

func TestMLDv2Report(t *testing.T) {
	recs := []MLDv2RecordFields{
		{Type: MLDv2ChangeToExclude, MulticastAddress: netip.MustParseAddr("ff02::1:ff00:1")},
		{Type: MLDv2ModeIsInclude, NumberOfSources: 2, AuxDataLen: 1, MulticastAddress: netip.MustParseAddr("ff3e::8000:1")},
	}
	size := MLDv2ReportMinimumSize
	for i := range recs {
		size += recs[i].Size()
	}
	b := bytes.Repeat([]byte{0xee}, ICMPv6HeaderSize+size)
	h := (&ICMPv6Fields{Type: ICMPv6MLDv2Report}).Encode(b)
	r := (&MLDv2ReportFields{NumberOfRecords: 2}).Encode(h.MessageBody())
	off := 0
	for i := range recs {
		g := recs[i].Encode(r.RecordBytes()[off:])
		for j := range int(recs[i].NumberOfSources) {
			g.SetSource(j, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(j + 1)}))
		}
		copy(g.AuxData(), "AUX!")
		off += len(g)
	}
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::16")
	h.SetChecksum(h.CalculateChecksum(src, dst))
	want := "8f00" + icmpTestHex(h[2:4]) + "0000 0002" +
		"04000000 ff0200000000000000000001ff000001" +
		"01010002 ff3e0000000000000000000080000001 20010db8000000000000000000000001 20010db8000000000000000000000002 41555821"
	if got := icmpTestHex(h); got != icmpTestHex(icmpTestUnhex(t, want)) {
		t.Errorf("report\n%s\nwant\n%s", got, icmpTestHex(icmpTestUnhex(t, want)))
	}
	p, err := ParseMLDv2Report(h.MessageBody())
	if err != nil {
		t.Fatal(err)
	}
	if p.Fields() != (MLDv2ReportFields{NumberOfRecords: 2}) {
		t.Errorf("Fields = %+v", p.Fields())
	}
	it := p.Records()
	i := 0
	for g, ok := it.Next(); ok; g, ok = it.Next() {
		if g.Fields() != recs[i] {
			t.Errorf("record %d = %+v", i, g.Fields())
		}
		si := g.Sources()
		j := 0
		for a, ok := si.Next(); ok; a, ok = si.Next() {
			if a.As16()[15] != byte(j+1) {
				t.Errorf("record %d source %d = %v", i, j, a)
			}
			j++
		}
		if j != int(recs[i].NumberOfSources) || si.Err() != nil {
			t.Errorf("record %d: %d sources", i, j)
		}
		i++
	}
	if i != 2 || it.Err() != nil {
		t.Errorf("%d records, %v", i, it.Err())
	}
	body := h.MessageBody()
	for n := range len(body) {
		if _, err := ParseMLDv2Report(body[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("len %d: %v", n, err)
		}
	}
	if _, err := ParseMLDv2Report(append(bytes.Clone(body), 0, 0)); err != nil {
		t.Error(err)
	}
	bad := bytes.Clone(body)
	bad[4+20+3] = 3 // second record: 3 sources
	if _, err := ParseMLDv2Report(bad); !errors.Is(err, ErrTruncated) {
		t.Errorf("sources 3: %v", err)
	}
	if a := MLDv2Record(make([]byte, 20)).AuxData(); len(a) != 0 {
		t.Errorf("aux % x", a)
	}
	short := MLDv2Record(icmpTestUnhex(t, "01010000 ff0200000000000000000001ff000001"))
	if short.AuxData() != nil {
		t.Error("aux of a short record")
	}
}

func TestMLDStrings(t *testing.T) {
	for ty, want := range map[MLDv2RecordType]string{
		1: "MODE_IS_INCLUDE", 2: "MODE_IS_EXCLUDE", 3: "CHANGE_TO_INCLUDE_MODE",
		4: "CHANGE_TO_EXCLUDE_MODE", 5: "ALLOW_NEW_SOURCES", 6: "BLOCK_OLD_SOURCES", 0: "record(0)",
	} {
		if got := ty.String(); got != want {
			t.Errorf("%d: %q", ty, got)
		}
	}
}

func TestMLDAllocs(t *testing.T) {
	b := make([]byte, 256)
	group := netip.MustParseAddr("ff02::1:ff00:1")
	qf := MLDv2QueryFields{MaxResponseDelay: 10 * time.Second, QRV: 2, QueryInterval: 125 * time.Second, NumberOfSources: 1}
	rf := MLDv2RecordFields{Type: MLDv2ChangeToExclude, NumberOfSources: 1, MulticastAddress: group}
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		m := (&MLDFields{MulticastAddress: group}).Encode(b)
		if p, err := ParseMLD(m); err == nil {
			sink += p.Fields().MulticastAddress.BitLen() + int(p.MaxRespCode())
		}
		q := qf.Encode(b)
		q.SetSource(0, group)
		if p, err := ParseMLDv2Query(q); err == nil {
			sink += int(p.Fields().QRV) + MLDQueryVersion(p)
			it := p.Sources()
			for a, ok := it.Next(); ok; a, ok = it.Next() {
				sink += a.BitLen()
			}
		}
		r := (&MLDv2ReportFields{NumberOfRecords: 1}).Encode(b[:MLDv2ReportMinimumSize+rf.Size()])
		rf.Encode(r.RecordBytes()).SetSource(0, group)
		if p, err := ParseMLDv2Report(r); err == nil {
			it := p.Records()
			for g, ok := it.Next(); ok; g, ok = it.Next() {
				sink += int(g.Fields().Type) + len(g.AuxData())
				si := g.Sources()
				for a, ok := si.Next(); ok; a, ok = si.Next() {
					sink += a.BitLen()
				}
			}
		}
	})
	if allocs != 0 {
		t.Errorf("allocs = %v, want 0", allocs)
	}
	_ = sink
}

// mldTestFuzzBody parses body with every MLD view and checks round trips.
func mldTestFuzzBody(t *testing.T, body []byte) {
	_ = MLDQueryVersion(body)
	if m, err := ParseMLD(body); err == nil {
		f := m.Fields()
		g := f.Encode(make([]byte, MLDMinimumSize))
		if g.Fields() != f {
			t.Fatalf("MLDv1 round trip")
		}
		g[2], g[3] = m[2], m[3] // reserved
		if !bytes.Equal(g, m[:MLDMinimumSize]) {
			t.Fatalf("MLDv1 re-encoded % x, want % x", []byte(g), []byte(m[:MLDMinimumSize]))
		}
	} else if !errors.Is(err, ErrTruncated) {
		t.Fatal(err)
	}
	if q, err := ParseMLDv2Query(body); err == nil {
		f := q.Fields()
		g := f.Encode(make([]byte, f.Size()))
		it := q.Sources()
		i := 0
		for a, ok := it.Next(); ok; a, ok = it.Next() {
			g.SetSource(i, a)
			i++
		}
		if it.Err() != nil || i != int(f.NumberOfSources) || g.Fields() != f {
			t.Fatalf("MLDv2 query round trip")
		}
		g[2], g[3] = q[2], q[3]
		g[mldQueryFlagsOff] |= q[mldQueryFlagsOff] & 0xf0
		if !bytes.Equal(g, q[:len(g)]) {
			t.Fatalf("MLDv2 query re-encoded % x, want % x", []byte(g), []byte(q[:len(g)]))
		}
	} else if !errors.Is(err, ErrTruncated) {
		t.Fatal(err)
	}
	if r, err := ParseMLDv2Report(body); err == nil {
		_ = r.Fields()
		it := r.Records()
		n := 0
		for g, ok := it.Next(); ok; g, ok = it.Next() {
			f := g.Fields()
			_ = f.Type.String()
			e := f.Encode(make([]byte, f.Size()))
			si := g.Sources()
			i := 0
			for a, ok := si.Next(); ok; a, ok = si.Next() {
				e.SetSource(i, a)
				i++
			}
			copy(e.AuxData(), g.AuxData())
			if si.Err() != nil || !bytes.Equal(e, g) {
				t.Fatalf("record re-encoded % x, want % x", []byte(e), []byte(g))
			}
			n++
		}
		if it.Err() != nil || n != int(r.NumberOfRecords()) {
			t.Fatalf("records %d, %v", n, it.Err())
		}
	} else if !errors.Is(err, ErrTruncated) {
		t.Fatal(err)
	} else {
		it := MLDv2Report(body).Records()
		for g, ok := it.Next(); ok; g, ok = it.Next() {
			si := g.Sources()
			for _, ok := si.Next(); ok; _, ok = si.Next() {
			}
		}
		if len(body) >= MLDv2ReportMinimumSize && it.Err() == nil {
			t.Fatal("iterator found no error")
		}
	}
}

func FuzzParseMLD(f *testing.F) {
	for _, name := range []string{"ipv6_hbh_mldv2_report", "ipv6_mldv1_report", "ipv6_mldv1_done", "ipv6_mldv1_query", "ipv6_mldv2_query"} {
		if !icmpTestHaveGolden(name) {
			continue
		}
		p, _, _, _ := icmpTestIPv6(f, golden(f, name))
		if len(p) >= ICMPv6HeaderSize {
			f.Add(p[ICMPv6HeaderSize:])
		}
	}
	f.Add(icmpTestUnhex(f, "2710 0000 ff050000000000000000000000010003 0a 7d 0001 20010db8000000000000000000000001"))
	f.Add(icmpTestUnhex(f, "0000 0001 04000000 ff0200000000000000000001ff000001"))
	f.Fuzz(func(t *testing.T, body []byte) {
		mldTestFuzzBody(t, body)
	})
}
