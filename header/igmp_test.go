package header

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

// igmpTestGolden returns the IGMP message of a golden frame after checking
// its checksum.
func igmpTestGolden(t *testing.T, name string) IGMP {
	t.Helper()
	p, _, _, proto := icmpTestIPv4(t, golden(t, name))
	if proto != tcpip.IGMPProtocolNumber {
		t.Fatalf("%s: protocol %v, want IGMP", name, proto)
	}
	h, err := ParseIGMP(p)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !h.IsChecksumValid() || h.CalculateChecksum() != h.Checksum() {
		t.Errorf("%s: checksum %#04x, computed %#04x", name, h.Checksum(), h.CalculateChecksum())
	}
	return h
}

func TestIGMPGolden(t *testing.T) {
	group := netip.MustParseAddr("239.99.1.1")
	tests := []struct {
		name    string
		want    IGMPFields
		version int // QueryVersion
	}{
		{"ipv4_igmpv2_report", IGMPFields{Type: IGMPv2MembershipReport, Checksum: 0xf99a, GroupAddress: group}, 0},
		{"ipv4_igmpv2_leave", IGMPFields{Type: IGMPLeaveGroup, Checksum: 0xf89a, GroupAddress: group}, 0},
		// The bridge's query response interval is 5 s: code 50.
		{"ipv4_igmpv2_query", IGMPFields{Type: IGMPMembershipQuery, MaxRespTime: 5 * time.Second, Checksum: 0xeecd,
			GroupAddress: netip.IPv4Unspecified()}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := igmpTestGolden(t, tt.name)
			if len(h) != IGMPMinimumSize {
				t.Errorf("%d bytes", len(h))
			}
			if got := h.Fields(); got != tt.want {
				t.Errorf("Fields = %+v, want %+v", got, tt.want)
			}
			if got := h.QueryVersion(); got != tt.version {
				t.Errorf("QueryVersion = %d, want %d", got, tt.version)
			}
			f := h.Fields()
			b := f.Encode(make([]byte, len(h)))
			if !bytes.Equal(b, h) {
				t.Errorf("re-encoded % x, want % x", []byte(b), []byte(h))
			}
			b.SetChecksum(0)
			b.SetChecksum(b.CalculateChecksum())
			if !bytes.Equal(b, h) {
				t.Errorf("checksum recomputed % x, want % x", []byte(b), []byte(h))
			}
		})
	}

	t.Run("ipv4_igmpv3_report", func(t *testing.T) {
		h := igmpTestGolden(t, "ipv4_igmpv3_report")
		if h.Type() != IGMPv3MembershipReport {
			t.Fatalf("type %v", h.Type())
		}
		r, err := ParseIGMPv3Report(h)
		if err != nil {
			t.Fatal(err)
		}
		if r.Fields() != (IGMPv3ReportFields{Checksum: 0xe997, NumberOfGroupRecords: 1}) || !r.IsChecksumValid() {
			t.Errorf("Fields = %+v", r.Fields())
		}
		it := r.GroupRecords()
		g, ok := it.Next()
		if !ok {
			t.Fatalf("no record: %v", it.Err())
		}
		// Joining a group for any source is a change to EXCLUDE mode
		// with no sources (RFC 3376 §5.1).
		want := IGMPv3GroupRecordFields{Type: IGMPv3ChangeToExclude, MulticastAddress: netip.MustParseAddr("239.99.1.3")}
		if g.Fields() != want {
			t.Errorf("record %+v, want %+v", g.Fields(), want)
		}
		si := g.Sources()
		if _, ok := si.Next(); ok || len(g.AuxData()) != 0 {
			t.Error("sources or aux data in the record")
		}
		if _, ok := it.Next(); ok || it.Err() != nil {
			t.Errorf("a second record, %v", it.Err())
		}
		rf := r.Fields()
		b := rf.Encode(make([]byte, len(r)))
		gf := g.Fields()
		gf.Encode(b.Records())
		if !bytes.Equal(b, r) {
			t.Errorf("re-encoded % x, want % x", []byte(b), []byte(r))
		}
		for n := range len(r) {
			if _, err := ParseIGMPv3Report(r[:n]); !errors.Is(err, ErrTruncated) {
				t.Errorf("len %d: %v", n, err)
			}
		}
	})

	t.Run("ipv4_igmpv3_query", func(t *testing.T) {
		h := igmpTestGolden(t, "ipv4_igmpv3_query")
		// RFC 3376 §7.1: 12 octets, so IGMPv3. Max Resp Code 50 (the
		// bridge's 5 s response interval), QRV 2, QQIC 10 (its 10 s
		// query interval).
		if h.QueryVersion() != 3 || len(h) != IGMPv3QueryMinimumSize {
			t.Fatalf("version %d, %d bytes", h.QueryVersion(), len(h))
		}
		q, err := ParseIGMPv3Query(h)
		if err != nil {
			t.Fatal(err)
		}
		want := IGMPv3QueryFields{
			MaxRespTime:   5 * time.Second,
			Checksum:      0xecc3,
			GroupAddress:  netip.IPv4Unspecified(),
			QRV:           2,
			QueryInterval: 10 * time.Second,
		}
		if q.Fields() != want || !q.IsChecksumValid() {
			t.Errorf("Fields = %+v, want %+v", q.Fields(), want)
		}
		qf := q.Fields()
		if b := qf.Encode(make([]byte, qf.Size())); !bytes.Equal(b, q) {
			t.Errorf("re-encoded % x, want % x", []byte(b), []byte(q))
		}
	})
}

func TestIGMPFloatCodes(t *testing.T) {
	// RFC 3376 §4.1.1: code < 128 is the value; otherwise
	// (mant | 0x10) << (exp + 3).
	tests := []struct {
		code uint8
		v    uint32
	}{
		{0, 0}, {1, 1}, {100, 100}, {127, 127},
		{0x80, 128}, {0x81, 136}, {0x8f, 248},
		{0x90, 256}, {0x9f, 496},
		{0xa0, 512}, {0xff, 31744},
	}
	for _, tt := range tests {
		if got := igmpDecodeFloat(tt.code); got != tt.v {
			t.Errorf("decode(%#x) = %d, want %d", tt.code, got, tt.v)
		}
		if got := igmpEncodeFloat(uint64(tt.v)); got != tt.code {
			t.Errorf("encode(%d) = %#x, want %#x", tt.v, got, tt.code)
		}
	}
	// Every code round-trips, the encoding is monotonic, and values
	// between codes round down.
	prev := uint32(0)
	for c := range 256 {
		v := igmpDecodeFloat(uint8(c))
		if igmpEncodeFloat(uint64(v)) != uint8(c) {
			t.Errorf("code %#x does not round-trip", c)
		}
		if c > 0 && v <= prev {
			t.Errorf("code %#x: %d not above %d", c, v, prev)
		}
		if c > 0 && v-prev > 1 && igmpEncodeFloat(uint64(v-1)) != uint8(c-1) {
			t.Errorf("value %d encodes to %#x, want %#x", v-1, igmpEncodeFloat(uint64(v-1)), c-1)
		}
		prev = v
	}
	if igmpEncodeFloat(1<<40) != 0xff {
		t.Errorf("large values do not clamp")
	}
}

func TestIGMPRoundTrip(t *testing.T) {
	group := netip.MustParseAddr("239.1.2.3")
	tests := []struct {
		name string
		f    IGMPFields
		wire string
	}{
		{"v2 general query", IGMPFields{Type: IGMPMembershipQuery, MaxRespTime: 10 * time.Second}, "1164000000000000"},
		{"v1 query", IGMPFields{Type: IGMPMembershipQuery}, "1100000000000000"},
		{"v2 report", IGMPFields{Type: IGMPv2MembershipReport, GroupAddress: group, Checksum: 0x1234}, "16001234ef010203"},
		{"v1 report", IGMPFields{Type: IGMPv1MembershipReport, GroupAddress: group}, "12000000ef010203"},
		{"leave", IGMPFields{Type: IGMPLeaveGroup, GroupAddress: group}, "17000000ef010203"},
		{"max time", IGMPFields{Type: IGMPMembershipQuery, MaxRespTime: 25500 * time.Millisecond, GroupAddress: group}, "11ff0000ef010203"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Repeat([]byte{0xee}, 12)
			h := tt.f.Encode(b)
			if got := icmpTestHex(h); got != tt.wire {
				t.Errorf("Encode = %s, want %s", got, tt.wire)
			}
			p, err := ParseIGMP(h)
			if err != nil {
				t.Fatal(err)
			}
			f := tt.f
			if !f.GroupAddress.IsValid() {
				f.GroupAddress = netip.IPv4Unspecified()
			}
			if got := p.Fields(); got != f {
				t.Errorf("Fields = %+v, want %+v", got, f)
			}
			p.SetChecksum(p.CalculateChecksum())
			if !p.IsChecksumValid() {
				t.Error("checksum invalid")
			}
		})
	}
	// Clamping and truncation of the 1/10 s field.
	for d, code := range map[time.Duration]uint8{time.Hour: 255, 150 * time.Millisecond: 1, -time.Second: 0} {
		if got := (&IGMPFields{MaxRespTime: d}).Encode(make([]byte, 8)).MaxRespCode(); got != code {
			t.Errorf("MaxRespTime %v: code %d, want %d", d, got, code)
		}
	}
}

func TestIGMPQueryVersion(t *testing.T) {
	mk := func(n int, code uint8) IGMP {
		b := make([]byte, n)
		b[0], b[1] = byte(IGMPMembershipQuery), code
		return IGMP(b)
	}
	tests := []struct {
		h    IGMP
		want int
	}{
		{mk(8, 0), 1},
		{mk(8, 100), 2},
		{mk(9, 100), 0},
		{mk(11, 100), 0},
		{mk(12, 100), 3},
		{mk(12, 0), 3},
		{mk(40, 0), 3},
		{IGMP{0x16, 0, 0, 0, 0, 0, 0, 0}, 0},
	}
	for i, tt := range tests {
		if got := tt.h.QueryVersion(); got != tt.want {
			t.Errorf("%d: QueryVersion = %d, want %d", i, got, tt.want)
		}
	}
}

func TestIGMPv3Query(t *testing.T) {
	f := IGMPv3QueryFields{
		MaxRespTime:              10 * time.Second, // code 100
		GroupAddress:             netip.MustParseAddr("239.0.0.1"),
		SuppressRouterProcessing: true,
		QRV:                      2,
		QueryInterval:            125 * time.Second,
		NumberOfSources:          2,
	}
	b := bytes.Repeat([]byte{0xee}, 40)
	q := f.Encode(b)
	if len(q) != 20 || f.Size() != 20 {
		t.Fatalf("size %d", len(q))
	}
	q.SetSource(0, netip.MustParseAddr("10.0.0.1"))
	q.SetSource(1, netip.MustParseAddr("10.0.0.2"))
	q.SetChecksum(q.CalculateChecksum())
	want := "1164" + icmpTestHex([]byte{byte(q.Checksum() >> 8), byte(q.Checksum())}) + "ef000001" + "0a" + "7d" + "0002" + "0a000001" + "0a000002"
	if got := icmpTestHex(q); got != want {
		t.Errorf("Encode = %s, want %s", got, want)
	}
	p, err := ParseIGMPv3Query(q)
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsChecksumValid() || !IGMP(p).IsChecksumValid() {
		t.Error("checksum invalid")
	}
	f.Checksum = q.Checksum()
	if got := p.Fields(); got != f {
		t.Errorf("Fields = %+v, want %+v", got, f)
	}
	if p.Type() != IGMPMembershipQuery || IGMP(p).QueryVersion() != 3 || p.QQIC() != 125 || p.MaxRespCode() != 100 {
		t.Errorf("type %v version %d", p.Type(), IGMP(p).QueryVersion())
	}
	var srcs []netip.Addr
	it := p.Sources()
	for a, ok := it.Next(); ok; a, ok = it.Next() {
		srcs = append(srcs, a)
	}
	if it.Err() != nil || len(srcs) != 2 || srcs[1] != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("sources %v %v", srcs, it.Err())
	}

	// Floating-point codes: 0x8c is (0xc|0x10)<<3 = 224 tenths = 22.4 s;
	// QQIC 0x8e is (0xe|0x10)<<3 = 240 s.
	f2 := IGMPv3QueryFields{MaxRespTime: 22400 * time.Millisecond, QueryInterval: 245 * time.Second}
	q2 := f2.Encode(make([]byte, 12))
	if q2.MaxRespCode() != 0x8c || q2.QQIC() != 0x8e || q2.MaxRespTime() != 22400*time.Millisecond || q2.QueryInterval() != 240*time.Second {
		t.Errorf("codes %#x %#x → %v %v", q2.MaxRespCode(), q2.QQIC(), q2.MaxRespTime(), q2.QueryInterval())
	}
	// QRV above 7 is not representable: only the low bits are kept.
	if q3 := (&IGMPv3QueryFields{QRV: 9}).Encode(make([]byte, 12)); q3.QRV() != 1 || q3.SuppressRouterProcessing() {
		t.Errorf("QRV %d", q3.QRV())
	}
}

func TestIGMPv3QueryMalformed(t *testing.T) {
	full := (&IGMPv3QueryFields{NumberOfSources: 2}).Encode(make([]byte, 20))
	for n := range len(full) + 1 {
		_, err := ParseIGMPv3Query(full[:n])
		if (n == len(full)) != (err == nil) || err != nil && !errors.Is(err, ErrTruncated) {
			t.Errorf("len %d: %v", n, err)
		}
	}
	// Trailing bytes are allowed.
	if _, err := ParseIGMPv3Query(append(full, 0, 0)); err != nil {
		t.Error(err)
	}
	// An unchecked view's iterator stops with an error instead of
	// panicking.
	it := IGMPv3Query(full[:16]).Sources()
	n := 0
	for _, ok := it.Next(); ok; _, ok = it.Next() {
		n++
	}
	if n != 1 || !errors.Is(it.Err(), ErrTruncated) {
		t.Errorf("%d sources, %v", n, it.Err())
	}
	if it := IGMPv3Query(full[:5]).Sources(); it.n != 0 || it.rest != nil {
		t.Error("short view gave sources")
	}
	for n := range IGMPMinimumSize {
		if _, err := ParseIGMP(make([]byte, n)); !errors.Is(err, ErrTruncated) {
			t.Errorf("ParseIGMP len %d: %v", n, err)
		}
	}
}

// igmpTestReport builds a report with the given records, each with its
// number of sources and aux words.
func igmpTestReport(t *testing.T, recs []IGMPv3GroupRecordFields) IGMPv3Report {
	t.Helper()
	size := IGMPv3ReportMinimumSize
	for i := range recs {
		size += recs[i].Size()
	}
	b := bytes.Repeat([]byte{0xee}, size)
	r := (&IGMPv3ReportFields{NumberOfGroupRecords: uint16(len(recs))}).Encode(b)
	off := 0
	for i := range recs {
		g := recs[i].Encode(r.Records()[off:])
		for j := range int(recs[i].NumberOfSources) {
			g.SetSource(j, netip.AddrFrom4([4]byte{10, 0, byte(i), byte(j)}))
		}
		for j := range g.AuxData() {
			g.AuxData()[j] = byte(j + 1)
		}
		off += len(g)
	}
	r.SetChecksum(r.CalculateChecksum())
	return r
}

func TestIGMPv3Report(t *testing.T) {
	recs := []IGMPv3GroupRecordFields{
		{Type: IGMPv3ChangeToExclude, MulticastAddress: netip.MustParseAddr("239.1.1.1")},
		{Type: IGMPv3AllowNewSources, NumberOfSources: 2, MulticastAddress: netip.MustParseAddr("232.1.1.1")},
		{Type: IGMPv3ModeIsInclude, NumberOfSources: 1, AuxDataLen: 1, MulticastAddress: netip.MustParseAddr("232.2.2.2")},
	}
	r := igmpTestReport(t, recs)
	want := "2200" + icmpTestHex(r[2:4]) + "0000" + "0003" +
		"04000000" + "ef010101" +
		"05000002" + "e8010101" + "0a000100" + "0a000101" +
		"01010001" + "e8020202" + "0a000200" + "01020304"
	if got := icmpTestHex(r); got != want {
		t.Errorf("report\n%s\nwant\n%s", got, want)
	}
	p, err := ParseIGMPv3Report(r)
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsChecksumValid() || !IGMP(p).IsChecksumValid() || p.Type() != IGMPv3MembershipReport {
		t.Error("checksum or type")
	}
	if got := p.Fields(); got != (IGMPv3ReportFields{Checksum: r.Checksum(), NumberOfGroupRecords: 3}) {
		t.Errorf("Fields = %+v", got)
	}
	it := p.GroupRecords()
	i := 0
	for g, ok := it.Next(); ok; g, ok = it.Next() {
		if g.Fields() != recs[i] {
			t.Errorf("record %d = %+v, want %+v", i, g.Fields(), recs[i])
		}
		si := g.Sources()
		j := 0
		for a, ok := si.Next(); ok; a, ok = si.Next() {
			if a != netip.AddrFrom4([4]byte{10, 0, byte(i), byte(j)}) {
				t.Errorf("record %d source %d = %v", i, j, a)
			}
			j++
		}
		if j != int(recs[i].NumberOfSources) || si.Err() != nil {
			t.Errorf("record %d: %d sources, %v", i, j, si.Err())
		}
		if len(g.AuxData()) != 4*int(recs[i].AuxDataLen) {
			t.Errorf("record %d: aux % x", i, g.AuxData())
		}
		i++
	}
	if i != 3 || it.Err() != nil {
		t.Errorf("%d records, %v", i, it.Err())
	}
	// Every truncation fails with ErrTruncated; trailing bytes are
	// fine.
	for n := range len(r) {
		if _, err := ParseIGMPv3Report(r[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("len %d: %v", n, err)
		}
	}
	if _, err := ParseIGMPv3Report(append(r, 1, 2, 3)); err != nil {
		t.Error(err)
	}
	// A record count above what is there.
	bad := bytes.Clone(r)
	bad[7] = 4
	if _, err := ParseIGMPv3Report(bad); !errors.Is(err, ErrTruncated) {
		t.Errorf("count 4: %v", err)
	}
	// A source count running past the message.
	bad = bytes.Clone(r)
	bad[8+8+16+3] = 3
	if _, err := ParseIGMPv3Report(bad); !errors.Is(err, ErrTruncated) {
		t.Errorf("sources 3: %v", err)
	}
	// An aux length running past the message.
	bad = bytes.Clone(r)
	bad[8+8+16+1] = 2
	if _, err := ParseIGMPv3Report(bad); !errors.Is(err, ErrTruncated) {
		t.Errorf("aux 2: %v", err)
	}
	// Zero records: just the header.
	empty := (&IGMPv3ReportFields{}).Encode(make([]byte, 8))
	if _, err := ParseIGMPv3Report(empty); err != nil {
		t.Error(err)
	}
	// AuxData of an unchecked, short record is nil.
	if a := IGMPv3GroupRecord(icmpTestUnhex(t, "01010000e8020202")).AuxData(); a != nil {
		t.Errorf("aux % x", a)
	}
}

func TestIGMPStrings(t *testing.T) {
	for ty, want := range map[IGMPType]string{
		0x11: "membership query", 0x12: "v1 membership report", 0x16: "v2 membership report",
		0x17: "leave group", 0x22: "v3 membership report", 0x30: "type(48)",
	} {
		if got := ty.String(); got != want {
			t.Errorf("%#x: %q", uint8(ty), got)
		}
	}
	for ty, want := range map[IGMPv3RecordType]string{
		1: "MODE_IS_INCLUDE", 2: "MODE_IS_EXCLUDE", 3: "CHANGE_TO_INCLUDE_MODE",
		4: "CHANGE_TO_EXCLUDE_MODE", 5: "ALLOW_NEW_SOURCES", 6: "BLOCK_OLD_SOURCES", 7: "record(7)",
	} {
		if got := ty.String(); got != want {
			t.Errorf("%d: %q", ty, got)
		}
	}
}

func TestIGMPAllocs(t *testing.T) {
	b := make([]byte, 128)
	qf := IGMPv3QueryFields{MaxRespTime: 10 * time.Second, QRV: 2, QueryInterval: 125 * time.Second, NumberOfSources: 1}
	rf := IGMPv3GroupRecordFields{Type: IGMPv3ModeIsExclude, NumberOfSources: 1, MulticastAddress: netip.MustParseAddr("239.1.1.1")}
	src := netip.MustParseAddr("10.1.1.1")
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		h := (&IGMPFields{Type: IGMPv2MembershipReport, GroupAddress: rf.MulticastAddress}).Encode(b)
		h.SetChecksum(h.CalculateChecksum())
		if p, err := ParseIGMP(h); err == nil && p.IsChecksumValid() {
			sink += p.Fields().GroupAddress.BitLen() + p.QueryVersion()
		}
		q := qf.Encode(b)
		q.SetSource(0, src)
		q.SetChecksum(q.CalculateChecksum())
		if p, err := ParseIGMPv3Query(q); err == nil && p.IsChecksumValid() {
			sink += int(p.Fields().QRV)
			it := p.Sources()
			for a, ok := it.Next(); ok; a, ok = it.Next() {
				sink += a.BitLen()
			}
		}
		r := (&IGMPv3ReportFields{NumberOfGroupRecords: 2}).Encode(b[:8+2*rf.Size()])
		rf.Encode(r.Records()).SetSource(0, src)
		rf.Encode(r.Records()[rf.Size():])
		r.SetChecksum(r.CalculateChecksum())
		if p, err := ParseIGMPv3Report(r); err == nil && p.IsChecksumValid() {
			it := p.GroupRecords()
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

var igmpTestGoldenNames = []string{
	"ipv4_igmpv2_report", "ipv4_igmpv2_leave", "ipv4_igmpv3_report", "ipv4_igmpv2_query", "ipv4_igmpv3_query",
}

func FuzzParseIGMP(f *testing.F) {
	icmpTestSeedGolden(f, igmpTestGoldenNames, false)
	f.Add(icmpTestUnhex(f, "1164ee9b00000000"))
	f.Add(icmpTestUnhex(f, "1164000000000000 0a7d0001 0a000001"))
	f.Add(icmpTestUnhex(f, "22000000 00000002 04000000ef010101 01010001e80202020a00020001020304"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseIGMP(b)
		if err != nil {
			if len(b) >= IGMPMinimumSize || !errors.Is(err, ErrTruncated) {
				t.Fatalf("len %d: %v", len(b), err)
			}
			return
		}
		_ = h.Type().String()
		_, _ = h.MaxRespTime(), h.QueryVersion()
		if h.IsChecksumValid() != (h.CalculateChecksum() == h.Checksum() || h.CalculateChecksum() == 0 && h.Checksum() == 0xffff) {
			t.Fatalf("checksum predicates disagree")
		}
		fl := h.Fields()
		if g := fl.Encode(make([]byte, IGMPMinimumSize)); g.Fields() != fl || !bytes.Equal(g, b[:IGMPMinimumSize]) {
			t.Fatalf("round trip % x != % x", []byte(g), b[:IGMPMinimumSize])
		}
		if q, err := ParseIGMPv3Query(b); err == nil && q.Type() == IGMPMembershipQuery {
			qf := q.Fields()
			g := qf.Encode(make([]byte, qf.Size()))
			it := q.Sources()
			i := 0
			for a, ok := it.Next(); ok; a, ok = it.Next() {
				g.SetSource(i, a)
				i++
			}
			if it.Err() != nil || i != int(q.NumberOfSources()) {
				t.Fatalf("sources: %d, %v", i, it.Err())
			}
			if g.Fields() != qf {
				t.Fatalf("query round trip %+v != %+v", g.Fields(), qf)
			}
			// Bytes match except the reserved bits of the flags
			// byte.
			g[igmpQueryFlagsOff] |= q[igmpQueryFlagsOff] & 0xf0
			if !bytes.Equal(g, q[:len(g)]) {
				t.Fatalf("query re-encoded % x, want % x", []byte(g), []byte(q[:len(g)]))
			}
		} else if err != nil && !errors.Is(err, ErrTruncated) {
			t.Fatal(err)
		}
		if r, err := ParseIGMPv3Report(b); err == nil {
			_ = r.Fields()
			it := r.GroupRecords()
			n := 0
			for g, ok := it.Next(); ok; g, ok = it.Next() {
				gf := g.Fields()
				_ = gf.Type.String()
				e := gf.Encode(make([]byte, gf.Size()))
				si := g.Sources()
				i := 0
				for a, ok := si.Next(); ok; a, ok = si.Next() {
					e.SetSource(i, a)
					i++
				}
				copy(e.AuxData(), g.AuxData())
				if si.Err() != nil || !bytes.Equal(e, g) {
					t.Fatalf("record re-encoded % x, want % x (%v)", []byte(e), []byte(g), si.Err())
				}
				n++
			}
			if it.Err() != nil || n != int(r.NumberOfGroupRecords()) {
				t.Fatalf("records: %d, %v", n, it.Err())
			}
		} else if !errors.Is(err, ErrTruncated) {
			t.Fatal(err)
		} else {
			// An unchecked view's iterators end without panicking.
			it := IGMPv3Report(b).GroupRecords()
			for g, ok := it.Next(); ok; g, ok = it.Next() {
				si := g.Sources()
				for _, ok := si.Next(); ok; _, ok = si.Next() {
				}
			}
			if it.Err() == nil {
				t.Fatal("iterator found no error")
			}
		}
	})
}
