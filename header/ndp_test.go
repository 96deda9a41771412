package header

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

// icmpTestUnhex decodes hex digits, ignoring spaces.
func icmpTestUnhex(t testing.TB, s string) []byte {
	t.Helper()
	var b []byte
	var hi byte
	half := false
	for _, c := range []byte(s) {
		var v byte
		switch {
		case c == ' ' || c == '\n' || c == '\t':
			continue
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		default:
			t.Fatalf("bad hex %q", c)
		}
		if half {
			b = append(b, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		t.Fatalf("odd hex length")
	}
	return b
}

// ndpTestOptions collects the options of an options area.
func ndpTestOptions(t *testing.T, o NDPOptions) []NDPOption {
	t.Helper()
	var opts []NDPOption
	it := o.Iterator()
	for opt, ok := it.Next(); ok; opt, ok = it.Next() {
		opts = append(opts, opt)
	}
	if err := it.Err(); err != nil {
		t.Fatalf("options: %v", err)
	}
	return opts
}

// ndpTestReencodeOption re-encodes a known option from its decoded form and
// compares it with the original bytes.
func ndpTestReencodeOption(t *testing.T, opt NDPOption) {
	t.Helper()
	got := ndpTestEncodeOption(t, opt, make([]byte, len(opt)+16))
	if !bytes.Equal(got, opt) {
		t.Errorf("option %v re-encoded\n% x\nwant\n% x", opt.Type(), []byte(got), []byte(opt))
	}
}

// ndpTestEncodeOption encodes opt into b from its decoded form, with the
// option encoders (unknown options are copied).
func ndpTestEncodeOption(t *testing.T, opt NDPOption, b []byte) NDPOption {
	t.Helper()
	var got NDPOption
	switch opt.Type() {
	case NDPOptionSourceLinkLayerAddress, NDPOptionTargetLinkLayerAddress:
		a, ok := opt.LinkLayerAddress()
		if !ok {
			t.Fatalf("LinkLayerAddress not ok: % x", []byte(opt))
		}
		got = (&NDPLinkLayerAddressFields{Type: opt.Type(), Address: a}).Encode(b)
	case NDPOptionPrefixInformation:
		p, ok := opt.PrefixInformation()
		if !ok {
			t.Fatalf("PrefixInformation not ok")
		}
		f := p.Fields()
		got = f.Encode(b)
	case NDPOptionMTU:
		m, _ := opt.MTU()
		got = (&NDPMTUFields{MTU: m}).Encode(b)
	case NDPOptionNonce:
		n, _ := opt.Nonce()
		got = (&NDPNonceFields{Nonce: n}).Encode(b)
	case NDPOptionRedirectedHeader:
		p, _ := opt.RedirectedHeader()
		got = (&NDPRedirectedHeaderFields{Packet: p}).Encode(b)
	case NDPOptionRouteInformation:
		r, ok := opt.RouteInformation()
		if !ok {
			t.Fatalf("RouteInformation not ok")
		}
		f := r.Fields()
		got = f.Encode(b)
	case NDPOptionRDNSS:
		r, ok := opt.RDNSS()
		if !ok {
			t.Fatalf("RDNSS not ok")
		}
		f := NDPRDNSSFields{Lifetime: r.Lifetime()}
		it := r.Addresses()
		for a, ok := it.Next(); ok; a, ok = it.Next() {
			f.Addresses = append(f.Addresses, a)
		}
		got = f.Encode(b)
	case NDPOptionDNSSL:
		d, ok := opt.DNSSL()
		if !ok {
			t.Fatalf("DNSSL not ok")
		}
		f := NDPDNSSLFields{Lifetime: d.Lifetime()}
		it := d.Domains()
		for n, ok := it.Next(); ok; n, ok = it.Next() {
			f.Domains = append(f.Domains, n.String())
		}
		if err := it.Err(); err != nil {
			t.Fatalf("DNSSL domains: %v", err)
		}
		got = f.Encode(b)
	default:
		got = NDPOption(b[:copy(b, opt)])
	}
	return got
}

// ndpTestReencode rebuilds an NDP message from its decoded parts: the
// ICMPv6 header from its Fields, the fixed part of the body with
// encodeFixed, each option with its encoder; and compares with h.
func ndpTestReencode(t *testing.T, name string, h ICMPv6, fixed int, opts NDPOptions, encodeFixed func(body []byte)) {
	t.Helper()
	b := bytes.Repeat([]byte{0xee}, len(h))
	hf := h.Fields()
	hf.Encode(b)
	encodeFixed(b[ICMPv6HeaderSize:])
	off := ICMPv6HeaderSize + fixed
	it := opts.Iterator()
	for opt, ok := it.Next(); ok; opt, ok = it.Next() {
		off += len(ndpTestEncodeOption(t, opt, b[off:]))
	}
	if off != len(h) || !bytes.Equal(b, h) {
		t.Errorf("%s: re-encoded\n% x\nwant\n% x", name, b, []byte(h))
	}
}

// ndpTestWantOptions checks the types and sizes of the options.
func ndpTestWantOptions(t *testing.T, name string, opts []NDPOption, want ...any) {
	t.Helper()
	if len(opts) != len(want)/2 {
		t.Fatalf("%s: %d options, want %d", name, len(opts), len(want)/2)
	}
	for i, o := range opts {
		if o.Type() != want[2*i].(NDPOptionType) || len(o) != want[2*i+1].(int) {
			t.Errorf("%s: option %d is %v of %d bytes, want %v of %d", name, i, o.Type(), len(o), want[2*i], want[2*i+1])
		}
	}
}

func TestNDPGolden(t *testing.T) {
	macA := tcpip.MustParseLinkAddress("02:99:00:00:00:01")
	macB := tcpip.MustParseLinkAddress("02:99:00:00:00:02")
	hostB := netip.MustParseAddr("fd00:99::2")

	t.Run("ipv6_ns", func(t *testing.T) {
		h, src, dst := icmpTestGoldenICMPv6(t, "ipv6_ns")
		if h.Type() != ICMPv6NeighborSolicit || h.Code() != 0 || h.Checksum() != 0x7bcc {
			t.Errorf("header %+v", h.Fields())
		}
		// RFC 4861 §7.2.2: sent to the target's solicited-node group.
		if dst != netip.MustParseAddr("ff02::1:ff00:2") || src != netip.MustParseAddr("fd00:99::1") {
			t.Errorf("addresses %v → %v", src, dst)
		}
		ns, err := ParseNDPNeighborSolicit(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		if ns.Fields() != (NDPNeighborSolicitFields{TargetAddress: hostB}) {
			t.Errorf("Fields = %+v", ns.Fields())
		}
		opts := ndpTestOptions(t, ns.Options())
		ndpTestWantOptions(t, "ns", opts, NDPOptionSourceLinkLayerAddress, 8)
		if a, ok := opts[0].LinkLayerAddress(); !ok || a != macA {
			t.Errorf("source link-layer address %v", a)
		}
		ndpTestReencode(t, "ns", h, NDPNeighborSolicitMinimumSize, ns.Options(), func(b []byte) {
			f := ns.Fields()
			f.Encode(b)
		})
	})
	t.Run("ipv6_na", func(t *testing.T) {
		h, _, _ := icmpTestGoldenICMPv6(t, "ipv6_na")
		if h.Type() != ICMPv6NeighborAdvert || h.Checksum() != 0x1a36 {
			t.Errorf("header %+v", h.Fields())
		}
		na, err := ParseNDPNeighborAdvert(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		// A solicited answer from a host: S and O set, R clear.
		want := NDPNeighborAdvertFields{Solicited: true, Override: true, TargetAddress: hostB}
		if na.Fields() != want {
			t.Errorf("Fields = %+v, want %+v", na.Fields(), want)
		}
		opts := ndpTestOptions(t, na.Options())
		ndpTestWantOptions(t, "na", opts, NDPOptionTargetLinkLayerAddress, 8)
		if a, ok := opts[0].LinkLayerAddress(); !ok || a != macB {
			t.Errorf("target link-layer address %v", a)
		}
		ndpTestReencode(t, "na", h, NDPNeighborAdvertMinimumSize, na.Options(), func(b []byte) {
			f := na.Fields()
			f.Encode(b)
		})
	})
	t.Run("ipv6_ns_dad", func(t *testing.T) {
		h, src, dst := icmpTestGoldenICMPv6(t, "ipv6_ns_dad")
		// RFC 4862 §5.4.2: a DAD probe comes from the unspecified
		// address and has no source link-layer address option.
		if !src.IsUnspecified() || dst != netip.MustParseAddr("ff02::1:ff00:dad") || h.Checksum() != 0xf318 {
			t.Errorf("%v → %v, checksum %#04x", src, dst, h.Checksum())
		}
		ns, err := ParseNDPNeighborSolicit(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		if ns.TargetAddress() != netip.MustParseAddr("fd00:99::dad") {
			t.Errorf("target %v", ns.TargetAddress())
		}
		opts := ndpTestOptions(t, ns.Options())
		// RFC 7527 §4.1 (enhanced DAD): a nonce option with a 6-byte
		// nonce.
		ndpTestWantOptions(t, "dad", opts, NDPOptionNonce, 8)
		if n, ok := opts[0].Nonce(); !ok || icmpTestHex(n) != "b8a0f008b7e8" {
			t.Errorf("nonce % x", n)
		}
		if _, ok := opts[0].LinkLayerAddress(); ok {
			t.Error("nonce read as a link-layer address")
		}
		ndpTestReencode(t, "dad", h, NDPNeighborSolicitMinimumSize, ns.Options(), func(b []byte) {
			f := ns.Fields()
			f.Encode(b)
		})
	})
	t.Run("ipv6_ra", func(t *testing.T) {
		h, src, dst := icmpTestGoldenICMPv6(t, "ipv6_ra")
		if h.Type() != ICMPv6RouterAdvert || h.Checksum() != 0x6ee0 || dst != netip.MustParseAddr("ff02::1") ||
			src != netip.MustParseAddr("fe80::99:ff:fe00:2") {
			t.Errorf("header %+v, %v → %v", h.Fields(), src, dst)
		}
		ra, err := ParseNDPRouterAdvert(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		want := NDPRouterAdvertFields{
			CurHopLimit:      64,
			RouterPreference: NDPPreferenceMedium,
			RouterLifetime:   1800 * time.Second, // AdvDefaultLifetime 1800
		}
		if ra.Fields() != want {
			t.Errorf("Fields = %+v, want %+v", ra.Fields(), want)
		}
		opts := ndpTestOptions(t, ra.Options())
		ndpTestWantOptions(t, "ra", opts,
			NDPOptionPrefixInformation, 32, NDPOptionRDNSS, 24, NDPOptionDNSSL, 40,
			NDPOptionMTU, 8, NDPOptionSourceLinkLayerAddress, 8)
		pi, ok := opts[0].PrefixInformation()
		wantPI := NDPPrefixInformationFields{
			Prefix:            netip.MustParsePrefix("fd00:99::/64"),
			OnLink:            true,
			Autonomous:        true,
			ValidLifetime:     86400 * time.Second,
			PreferredLifetime: 14400 * time.Second,
		}
		if !ok || pi.Fields() != wantPI {
			t.Errorf("prefix information %+v", pi.Fields())
		}
		rdnss, ok := opts[1].RDNSS()
		if !ok || rdnss.Lifetime() != 600*time.Second || rdnss.Len() != 1 {
			t.Errorf("RDNSS %v %v", ok, rdnss.Lifetime())
		}
		ai := rdnss.Addresses()
		if a, _ := ai.Next(); a != netip.MustParseAddr("fd00:99::53") {
			t.Errorf("RDNSS address %v", a)
		}
		dnssl, ok := opts[2].DNSSL()
		if !ok || dnssl.Lifetime() != 600*time.Second {
			t.Errorf("DNSSL %v %v", ok, dnssl.Lifetime())
		}
		var names []string
		di := dnssl.Domains()
		for n, ok := di.Next(); ok; n, ok = di.Next() {
			names = append(names, n.String())
		}
		if di.Err() != nil || !reflect.DeepEqual(names, []string{"ustack.test", "example.test"}) {
			t.Errorf("DNSSL names %q, %v", names, di.Err())
		}
		if m, ok := opts[3].MTU(); !ok || m != 1400 {
			t.Errorf("MTU %d", m)
		}
		if a, ok := opts[4].LinkLayerAddress(); !ok || a != macB {
			t.Errorf("source link-layer address %v", a)
		}
		ndpTestReencode(t, "ra", h, NDPRouterAdvertMinimumSize, ra.Options(), func(b []byte) {
			f := ra.Fields()
			f.Encode(b)
		})
	})
	t.Run("ipv6_redirect", func(t *testing.T) {
		h, src, dst := icmpTestGoldenICMPv6(t, "ipv6_redirect")
		// RFC 4861 §8.2: sent from the router's link-local
		// address.
		if h.Type() != ICMPv6Redirect || h.Checksum() != 0xe423 || src != netip.MustParseAddr("fe80::99:ff:fe00:fe") ||
			dst != netip.MustParseAddr("fd00:99::1") {
			t.Errorf("header %+v, %v → %v", h.Fields(), src, dst)
		}
		rd, err := ParseNDPRedirect(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		// The destination is on-link: target and destination are the
		// same address (RFC 4861 §4.5).
		if rd.Fields() != (NDPRedirectFields{TargetAddress: hostB, DestinationAddress: hostB}) {
			t.Errorf("Fields = %+v", rd.Fields())
		}
		opts := ndpTestOptions(t, rd.Options())
		// The redirected header quotes the 104-byte echo request
		// whole: 8 + 104 bytes.
		ndpTestWantOptions(t, "redirect", opts, NDPOptionTargetLinkLayerAddress, 8, NDPOptionRedirectedHeader, 112)
		if a, ok := opts[0].LinkLayerAddress(); !ok || a != macB {
			t.Errorf("target link-layer address %v", a)
		}
		p, ok := opts[1].RedirectedHeader()
		if !ok || len(p) != 104 || p[0]>>4 != 6 || p[40] != byte(ICMPv6EchoRequest) {
			t.Errorf("redirected packet % x", p)
		}
		ndpTestReencode(t, "redirect", h, NDPRedirectMinimumSize, rd.Options(), func(b []byte) {
			f := rd.Fields()
			f.Encode(b)
		})
	})
	t.Run("ipv6_rs", func(t *testing.T) {
		h, _, dst := icmpTestGoldenICMPv6(t, "ipv6_rs")
		// RFC 4861 §6.3.7: to all-routers, with a source link-layer
		// address option since the source is specified.
		if h.Type() != ICMPv6RouterSolicit || h.Checksum() != 0x79fa || dst != netip.MustParseAddr("ff02::2") {
			t.Errorf("header %+v → %v", h.Fields(), dst)
		}
		rs, err := ParseNDPRouterSolicit(h.MessageBody())
		if err != nil {
			t.Fatal(err)
		}
		opts := ndpTestOptions(t, rs.Options())
		ndpTestWantOptions(t, "rs", opts, NDPOptionSourceLinkLayerAddress, 8)
		if a, ok := opts[0].LinkLayerAddress(); !ok || a != macA {
			t.Errorf("source link-layer address %v", a)
		}
		ndpTestReencode(t, "rs", h, NDPRouterSolicitMinimumSize, rs.Options(), func(b []byte) {
			f := rs.Fields()
			f.Encode(b)
		})
	})
}

func TestNDPOptionsEncode(t *testing.T) {
	mac := tcpip.MustParseLinkAddress("02:99:00:00:00:01")
	tests := []struct {
		name  string
		size  int
		enc   func(b []byte) NDPOption
		wire  string
		check func(t *testing.T, o NDPOption)
	}{
		{
			name: "source link-layer address",
			size: 8,
			enc: func(b []byte) NDPOption {
				return (&NDPLinkLayerAddressFields{Type: NDPOptionSourceLinkLayerAddress, Address: mac}).Encode(b)
			},
			wire: "0101 029900000001",
			check: func(t *testing.T, o NDPOption) {
				if a, ok := o.LinkLayerAddress(); !ok || a != mac {
					t.Errorf("LinkLayerAddress = %v, %v", a, ok)
				}
			},
		},
		{
			name: "target link-layer address",
			size: 8,
			enc: func(b []byte) NDPOption {
				return (&NDPLinkLayerAddressFields{Type: NDPOptionTargetLinkLayerAddress, Address: mac}).Encode(b)
			},
			wire: "0201 029900000001",
		},
		{
			name: "prefix information",
			size: 32,
			enc: func(b []byte) NDPOption {
				return (&NDPPrefixInformationFields{
					Prefix:            netip.MustParsePrefix("2001:db8:1:2::/64"),
					OnLink:            true,
					Autonomous:        true,
					ValidLifetime:     86400 * time.Second,
					PreferredLifetime: 14400 * time.Second,
				}).Encode(b)
			},
			wire: "0304 40c0 00015180 00003840 00000000 20010db8000100020000000000000000",
			check: func(t *testing.T, o NDPOption) {
				p, ok := o.PrefixInformation()
				if !ok || p.Prefix() != netip.MustParsePrefix("2001:db8:1:2::/64") || !p.OnLink() || !p.Autonomous() ||
					p.RouterAddress() || p.ValidLifetime() != 24*time.Hour || p.PreferredLifetime() != 4*time.Hour ||
					p.PrefixLength() != 64 {
					t.Errorf("prefix information = %+v", p.Fields())
				}
			},
		},
		{
			name: "prefix information, infinite, host bits cleared",
			size: 32,
			enc: func(b []byte) NDPOption {
				return (&NDPPrefixInformationFields{
					Prefix:            netip.PrefixFrom(netip.MustParseAddr("fd00::1:2"), 48),
					RouterAddress:     true,
					ValidLifetime:     NDPInfiniteLifetime,
					PreferredLifetime: NDPInfiniteLifetime,
				}).Encode(b)
			},
			wire: "0304 3020 ffffffff ffffffff 00000000 fd000000000000000000000000000000",
			check: func(t *testing.T, o NDPOption) {
				p, _ := o.PrefixInformation()
				if p.ValidLifetime() != NDPInfiniteLifetime || p.PreferredLifetime() != NDPInfiniteLifetime || !p.RouterAddress() {
					t.Errorf("prefix information = %+v", p.Fields())
				}
			},
		},
		{
			name: "MTU",
			size: 8,
			enc:  func(b []byte) NDPOption { return (&NDPMTUFields{MTU: 1500}).Encode(b) },
			wire: "0501 0000 000005dc",
			check: func(t *testing.T, o NDPOption) {
				if m, ok := o.MTU(); !ok || m != 1500 {
					t.Errorf("MTU = %d, %v", m, ok)
				}
			},
		},
		{
			name: "nonce",
			size: 8,
			enc:  func(b []byte) NDPOption { return (&NDPNonceFields{Nonce: []byte{1, 2, 3, 4, 5, 6}}).Encode(b) },
			wire: "0e01 010203040506",
			check: func(t *testing.T, o NDPOption) {
				if n, ok := o.Nonce(); !ok || !bytes.Equal(n, []byte{1, 2, 3, 4, 5, 6}) {
					t.Errorf("Nonce = % x, %v", n, ok)
				}
			},
		},
		{
			name: "nonce, padded",
			size: 16,
			enc:  func(b []byte) NDPOption { return (&NDPNonceFields{Nonce: []byte{1, 2, 3, 4, 5, 6, 7}}).Encode(b) },
			wire: "0e02 01020304050607 00000000000000",
		},
		{
			name: "redirected header",
			size: 24,
			enc: func(b []byte) NDPOption {
				return (&NDPRedirectedHeaderFields{Packet: []byte{0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9}}).Encode(b)
			},
			wire: "0403 000000000000 60010203040506070809 000000000000",
			check: func(t *testing.T, o NDPOption) {
				if p, ok := o.RedirectedHeader(); !ok || len(p) != 16 || p[0] != 0x60 {
					t.Errorf("RedirectedHeader = % x, %v", p, ok)
				}
			},
		},
		{
			name: "route information ::/0",
			size: 8,
			enc: func(b []byte) NDPOption {
				return (&NDPRouteInformationFields{Prefix: netip.MustParsePrefix("::/0"), Preference: NDPPreferenceHigh, Lifetime: time.Hour}).Encode(b)
			},
			wire: "1801 00 08 00000e10",
		},
		{
			name: "route information /48",
			size: 16,
			enc: func(b []byte) NDPOption {
				return (&NDPRouteInformationFields{Prefix: netip.MustParsePrefix("2001:db8:5::/48"), Preference: NDPPreferenceLow, Lifetime: NDPInfiniteLifetime}).Encode(b)
			},
			wire: "1802 30 18 ffffffff 20010db800050000",
			check: func(t *testing.T, o NDPOption) {
				r, ok := o.RouteInformation()
				if !ok || r.Prefix() != netip.MustParsePrefix("2001:db8:5::/48") || r.Preference() != NDPPreferenceLow ||
					r.RouteLifetime() != NDPInfiniteLifetime {
					t.Errorf("route information = %+v, %v", r.Fields(), ok)
				}
			},
		},
		{
			name: "route information /128",
			size: 24,
			enc: func(b []byte) NDPOption {
				return (&NDPRouteInformationFields{Prefix: netip.MustParsePrefix("2001:db8::7/128")}).Encode(b)
			},
			wire: "1803 80 00 00000000 20010db8000000000000000000000007",
		},
		{
			name: "RDNSS",
			size: 40,
			enc: func(b []byte) NDPOption {
				return (&NDPRDNSSFields{Lifetime: 600 * time.Second, Addresses: []netip.Addr{
					netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("fd00::35"),
				}}).Encode(b)
			},
			wire: "1905 0000 00000258 20010db8000000000000000000000053 fd000000000000000000000000000035",
			check: func(t *testing.T, o NDPOption) {
				r, ok := o.RDNSS()
				if !ok || r.Lifetime() != 10*time.Minute || r.Len() != 2 {
					t.Fatalf("RDNSS = %v %v %d", ok, r.Lifetime(), r.Len())
				}
				it := r.Addresses()
				a1, ok1 := it.Next()
				a2, ok2 := it.Next()
				_, ok3 := it.Next()
				if !ok1 || !ok2 || ok3 || it.Err() != nil || a1 != netip.MustParseAddr("2001:db8::53") || a2 != netip.MustParseAddr("fd00::35") {
					t.Errorf("addresses %v %v", a1, a2)
				}
			},
		},
		{
			name: "DNSSL",
			size: 40,
			enc: func(b []byte) NDPOption {
				return (&NDPDNSSLFields{Lifetime: NDPInfiniteLifetime, Domains: []string{"example.com", "lab.example.org.", ""}}).Encode(b)
			},
			// "example.com" takes 13 bytes, "lab.example.org" 17:
			// 8+30 = 38, padded to 40.
			wire: "1f05 0000 ffffffff 076578616d706c6503636f6d00 036c6162076578616d706c65036f726700 0000",
			check: func(t *testing.T, o NDPOption) {
				d, ok := o.DNSSL()
				if !ok || d.Lifetime() != NDPInfiniteLifetime {
					t.Fatalf("DNSSL %v %v", ok, d.Lifetime())
				}
				var names []string
				it := d.Domains()
				for n, ok := it.Next(); ok; n, ok = it.Next() {
					names = append(names, string(n.AppendText(nil)))
				}
				if it.Err() != nil || !reflect.DeepEqual(names, []string{"example.com", "lab.example.org"}) {
					t.Errorf("domains %q, %v", names, it.Err())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := icmpTestUnhex(t, tt.wire)
			b := bytes.Repeat([]byte{0xee}, 64)
			o := tt.enc(b)
			if len(o) != len(want) || !bytes.Equal(o, want) {
				t.Fatalf("Encode =\n% x\nwant\n% x", []byte(o), want)
			}
			if tt.size != len(want) {
				t.Errorf("size %d, wire %d", tt.size, len(want))
			}
			if b[len(o)] != 0xee {
				t.Errorf("Encode wrote past the option")
			}
			opts, err := ParseNDPOptions(o)
			if err != nil {
				t.Fatal(err)
			}
			got := ndpTestOptions(t, opts)
			if len(got) != 1 || !bytes.Equal(got[0], want) {
				t.Fatalf("iterated %d options", len(got))
			}
			if tt.check != nil {
				tt.check(t, got[0])
			}
			ndpTestReencodeOption(t, got[0])
		})
	}
}

func TestNDPOptionSizes(t *testing.T) {
	if n := (&NDPDNSSLFields{Domains: []string{"example.com", "lab.example.org."}}).Size(); n != 40 {
		t.Errorf("DNSSL size %d", n)
	}
	if n := (&NDPDNSSLFields{Domains: []string{"a.b"}}).Size(); n != 16 {
		t.Errorf("DNSSL size %d", n) // 8 + 5, padded
	}
	if n := (&NDPRedirectedHeaderFields{Packet: make([]byte, 16)}).Size(); n != 24 {
		t.Errorf("redirected header size %d", n)
	}
	if n := (&NDPRDNSSFields{Addresses: make([]netip.Addr, 3)}).Size(); n != 56 {
		t.Errorf("RDNSS size %d", n)
	}
	if n := (&NDPRouteInformationFields{}).Size(); n != 8 {
		t.Errorf("route information (zero prefix) size %d", n)
	}
	if (&NDPLinkLayerAddressFields{}).Size() != 8 || (&NDPMTUFields{}).Size() != 8 ||
		(&NDPPrefixInformationFields{}).Size() != 32 || (&NDPNonceFields{Nonce: make([]byte, 6)}).Size() != 8 {
		t.Errorf("fixed sizes wrong")
	}
}

func TestNDPDNSSLEncodePanics(t *testing.T) {
	for _, d := range []string{"a..b", ".a", string(bytes.Repeat([]byte{'x'}, 64)) + ".com",
		string(bytes.Repeat([]byte("abcdefg."), 32)) + "com"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%q: no panic", d)
				}
			}()
			(&NDPDNSSLFields{Domains: []string{d}}).Size()
		}()
	}
	// The longest valid name: 253 characters.
	long := string(bytes.Repeat([]byte("abcdefghi."), 25)) + "abc"
	f := NDPDNSSLFields{Domains: []string{long}}
	o := f.Encode(make([]byte, f.Size()))
	d, ok := o.DNSSL()
	if !ok {
		t.Fatal("not ok")
	}
	it := d.Domains()
	n, ok := it.Next()
	if !ok || n.String() != long || len(n) != 255 {
		t.Errorf("long name: %v %d %v", ok, len(n), it.Err())
	}
}

func TestNDPLifetimes(t *testing.T) {
	tests := []struct {
		d    time.Duration
		wire uint32
		back time.Duration
	}{
		{0, 0, 0},
		{-time.Second, 0, 0},
		{1500 * time.Millisecond, 1, time.Second},
		{NDPInfiniteLifetime, 0xffffffff, NDPInfiniteLifetime},
		{0xfffffffe * time.Second, 0xfffffffe, 0xfffffffe * time.Second},
		{0xffffffff * time.Second, 0xfffffffe, 0xfffffffe * time.Second}, // finite stays finite
		{NDPInfiniteLifetime - 1, 0xfffffffe, 0xfffffffe * time.Second},
	}
	for _, tt := range tests {
		if got := ndpLifetimeSeconds(tt.d); got != tt.wire {
			t.Errorf("ndpLifetimeSeconds(%v) = %#x, want %#x", tt.d, got, tt.wire)
		}
		if got := ndpLifetime(tt.wire); got != tt.back {
			t.Errorf("ndpLifetime(%#x) = %v, want %v", tt.wire, got, tt.back)
		}
	}
}

func TestNDPOptionsMalformed(t *testing.T) {
	good := icmpTestUnhex(t, "0101 029900000001 0501 0000 000005dc")
	tests := []struct {
		name string
		b    string
		n    int // options before the error
	}{
		{"length zero", "0100 000000000000", 0},
		{"length zero after a good option", "0501 0000 000005dc 0200", 1},
		{"runs past the end", "0102 029900000001", 0},
		{"one stray byte", "0501 0000 000005dc 01", 1},
		{"cut option header", "05", 0},
		{"cut after a good option", "0501 0000 000005dc 0501 0000 0000", 1},
	}
	for _, tt := range tests {
		b := icmpTestUnhex(t, tt.b)
		if _, err := ParseNDPOptions(b); !errors.Is(err, ErrBadOption) {
			t.Errorf("%s: ParseNDPOptions err = %v, want ErrBadOption", tt.name, err)
		}
		it := NDPOptions(b).Iterator()
		n := 0
		for _, ok := it.Next(); ok; _, ok = it.Next() {
			n++
		}
		if n != tt.n || !errors.Is(it.Err(), ErrBadOption) {
			t.Errorf("%s: %d options, err %v", tt.name, n, it.Err())
		}
		// The iterator stays stopped.
		if _, ok := it.Next(); ok {
			t.Errorf("%s: Next after an error", tt.name)
		}
	}
	// Every truncation of a good area either parses (at an option
	// boundary) or fails with ErrBadOption.
	for n := range len(good) + 1 {
		_, err := ParseNDPOptions(good[:n])
		if boundary := n == 0 || n == 8 || n == 16; boundary != (err == nil) || err != nil && !errors.Is(err, ErrBadOption) {
			t.Errorf("len %d: err %v", n, err)
		}
	}
	var zero NDPOptionIterator
	if _, ok := zero.Next(); ok || zero.Err() != nil {
		t.Errorf("zero iterator not empty")
	}
}

func TestNDPOptionTypedAccessors(t *testing.T) {
	tests := []struct {
		name string
		b    string
	}{
		{"link-layer address of another link type", "0102 0011223344556677 000000000000"},
		{"prefix information too short", "0303 40c0 00015180 00003840 00000000 20010db800010002"},
		{"RDNSS without addresses", "1901 0000 00000258"},
		{"RDNSS with half an address", "1904 0000 00000258 20010db8000000000000000000000053 0000000000000000"},
		{"DNSSL too short", "1f01 0000 00000258"},
		{"route information too long", "1804 30 18 ffffffff 20010db800050000 0000000000000000 0000000000000000"},
		{"route information /65 in 16 bytes", "1802 41 18 ffffffff 20010db800050000"},
		{"route information /1 in 8 bytes", "1801 01 18 ffffffff"},
		{"route information /129", "1803 81 18 ffffffff 20010db8000500000000000000000000"},
	}
	for _, tt := range tests {
		opts := ndpTestOptions(t, NDPOptions(icmpTestUnhex(t, tt.b)))
		if len(opts) != 1 {
			t.Fatalf("%s: %d options", tt.name, len(opts))
		}
		o := opts[0]
		_, ok1 := o.LinkLayerAddress()
		_, ok2 := o.PrefixInformation()
		_, ok3 := o.RDNSS()
		_, ok4 := o.DNSSL()
		_, ok5 := o.RouteInformation()
		if ok1 || ok2 || ok3 || ok4 || ok5 {
			t.Errorf("%s: accessor ok: %v %v %v %v %v", tt.name, ok1, ok2, ok3, ok4, ok5)
		}
	}
	// Every accessor rejects options of other types.
	mtu := NDPOption(icmpTestUnhex(t, "0501 0000 000005dc"))
	if _, ok := mtu.LinkLayerAddress(); ok {
		t.Error("LinkLayerAddress of MTU")
	}
	if _, ok := mtu.Nonce(); ok {
		t.Error("Nonce of MTU")
	}
	if _, ok := mtu.RedirectedHeader(); ok {
		t.Error("RedirectedHeader of MTU")
	}
	if _, ok := NDPOption(icmpTestUnhex(t, "0e01 010203040506")).MTU(); ok {
		t.Error("MTU of nonce")
	}
	if got := mtu.Type().String() + "," + NDPOptionType(99).String(); got != "MTU,option(99)" {
		t.Errorf("String = %q", got)
	}
	if got := mtu.Body(); len(got) != 6 {
		t.Errorf("Body = % x", got)
	}
	// A longer prefix information option is read as its first 32 bytes.
	long := icmpTestUnhex(t, "0305 40c0 00015180 00003840 00000000 20010db8000100020000000000000000 0102030405060708")
	if p, ok := NDPOption(long).PrefixInformation(); !ok || p.Prefix() != netip.MustParsePrefix("2001:db8:1:2::/64") {
		t.Errorf("long prefix information: %v", ok)
	}
	// Bits after the prefix length are ignored (RFC 4861 §4.6.2), but
	// PrefixAddress keeps them.
	dirty := icmpTestUnhex(t, "0304 40c0 00015180 00003840 00000000 20010db800010002ffffffffffffffff")
	p, _ := NDPOption(dirty).PrefixInformation()
	if p.Prefix() != netip.MustParsePrefix("2001:db8:1:2::/64") || p.PrefixAddress() != netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:ffff") {
		t.Errorf("dirty prefix: %v %v", p.Prefix(), p.PrefixAddress())
	}
	bad := icmpTestUnhex(t, "0304 81c0 00015180 00003840 00000000 20010db800010002ffffffffffffffff")
	if p, _ := NDPOption(bad).PrefixInformation(); p.Prefix().IsValid() {
		t.Errorf("prefix length 129 gave %v", p.Prefix())
	}
}

func TestNDPDomainsMalformed(t *testing.T) {
	tests := []struct {
		name  string
		body  string // after the 8-byte DNSSL header, padded by the test
		names []string
		err   bool
	}{
		{"two names, padding", "03666f6f00 03626172 00 000000", []string{"foo", "bar"}, false},
		{"no padding", "0161 00 0162 00 0163 00 0164 00", []string{"a", "b", "c", "d"}, false},
		{"all padding", "0000000000000000", nil, false},
		{"compression pointer", "c00c 000000000000", nil, true},
		{"extended label type", "4161 000000000000", nil, true},
		{"label runs past the option", "03666f6f 07616263", []string{}, true},
		{"no final zero", "03666f6f 03616263", nil, true},
		{"good then bad", "0161 00 c0 0c 000000", []string{"a"}, true},
	}
	for _, tt := range tests {
		body := icmpTestUnhex(t, tt.body)
		opt := make([]byte, ndpOptionRoundUp(8+len(body)))
		opt[0], opt[1] = byte(NDPOptionDNSSL), byte(len(opt)/8)
		copy(opt[8:], body)
		d, ok := NDPOption(opt).DNSSL()
		if !ok {
			t.Fatalf("%s: DNSSL not ok", tt.name)
		}
		var names []string
		it := d.Domains()
		for n, ok := it.Next(); ok; n, ok = it.Next() {
			names = append(names, n.String())
		}
		if (it.Err() != nil) != tt.err || tt.err && !errors.Is(it.Err(), ErrBadOption) {
			t.Errorf("%s: err = %v", tt.name, it.Err())
		}
		if len(names) != len(tt.names) || len(names) > 0 && !reflect.DeepEqual(names, tt.names) {
			t.Errorf("%s: names %q, want %q", tt.name, names, tt.names)
		}
	}
	// A name over 255 octets: five labels of 63 bytes.
	var long []byte
	for range 5 {
		long = append(long, 63)
		long = append(long, bytes.Repeat([]byte{'x'}, 63)...)
	}
	long = append(long, 0)
	opt := make([]byte, ndpOptionRoundUp(8+len(long)))
	opt[0], opt[1] = byte(NDPOptionDNSSL), byte(len(opt)/8)
	copy(opt[8:], long)
	d, _ := NDPOption(opt).DNSSL()
	it := d.Domains()
	if _, ok := it.Next(); ok || !errors.Is(it.Err(), ErrBadOption) {
		t.Errorf("long name: err %v", it.Err())
	}
	// Labels of a name.
	n := NDPDomainName(icmpTestUnhex(t, "0377777707 6578616d706c65 03636f6d 00"))
	var labels []string
	li := n.Labels()
	for l, ok := li.Next(); ok; l, ok = li.Next() {
		labels = append(labels, string(l))
	}
	if !reflect.DeepEqual(labels, []string{"www", "example", "com"}) {
		t.Errorf("labels %q", labels)
	}
	// An unchecked, cut name stops early without panicking.
	cut := NDPDomainName(icmpTestUnhex(t, "03777777 09 6578"))
	if got := cut.String(); got != "www" {
		t.Errorf("cut name %q", got)
	}
}

func TestNDPMessagesRoundTrip(t *testing.T) {
	target := netip.MustParseAddr("fe80::99:ff:fe00:2")
	dst := netip.MustParseAddr("2001:db8::77")
	mac := tcpip.MustParseLinkAddress("02:99:00:00:00:01")
	opt := (&NDPLinkLayerAddressFields{Type: NDPOptionSourceLinkLayerAddress, Address: mac}).Encode(make([]byte, 8))

	t.Run("RS", func(t *testing.T) {
		b := bytes.Repeat([]byte{0xee}, NDPRouterSolicitMinimumSize+8)
		m := (&NDPRouterSolicitFields{}).Encode(b)
		copy(m.Options(), opt)
		if got := icmpTestHex(m); got != "00000000"+icmpTestHex(opt) {
			t.Errorf("RS = %s", got)
		}
		p, err := ParseNDPRouterSolicit(m)
		if err != nil || p.Fields() != (NDPRouterSolicitFields{}) || len(ndpTestOptions(t, p.Options())) != 1 {
			t.Errorf("parse: %v", err)
		}
	})
	t.Run("RA", func(t *testing.T) {
		f := NDPRouterAdvertFields{
			CurHopLimit:      64,
			Managed:          true,
			Other:            true,
			HomeAgent:        true,
			RouterPreference: NDPPreferenceHigh,
			Proxy:            true,
			RouterLifetime:   1800 * time.Second,
			ReachableTime:    30 * time.Second,
			RetransTimer:     time.Second,
		}
		b := bytes.Repeat([]byte{0xee}, NDPRouterAdvertMinimumSize)
		m := f.Encode(b)
		if got := icmpTestHex(m); got != "40ec0708"+"00007530"+"000003e8" {
			t.Errorf("RA = %s", got)
		}
		p, err := ParseNDPRouterAdvert(m)
		if err != nil || p.Fields() != f {
			t.Errorf("parse: %v, %+v", err, p.Fields())
		}
		for _, pref := range []NDPRoutePreference{NDPPreferenceMedium, NDPPreferenceLow, NDPPreferenceReserved} {
			f := NDPRouterAdvertFields{RouterPreference: pref}
			if got := f.Encode(b); got.RouterPreference() != pref || got.Fields() != f {
				t.Errorf("preference %v: %+v", pref, got.Fields())
			}
		}
		// Durations clamp and truncate.
		f = NDPRouterAdvertFields{RouterLifetime: 100000 * time.Second, ReachableTime: 1500 * time.Microsecond, RetransTimer: -1}
		if got := icmpTestHex(f.Encode(b)); got != "0000ffff"+"00000001"+"00000000" {
			t.Errorf("clamped RA = %s", got)
		}
	})
	t.Run("NS", func(t *testing.T) {
		b := bytes.Repeat([]byte{0xee}, NDPNeighborSolicitMinimumSize+8)
		f := NDPNeighborSolicitFields{TargetAddress: target}
		m := f.Encode(b)
		copy(m.Options(), opt)
		if got := icmpTestHex(m[:NDPNeighborSolicitMinimumSize]); got != "00000000fe80000000000000009900fffe000002" {
			t.Errorf("NS = %s", got)
		}
		p, err := ParseNDPNeighborSolicit(m)
		if err != nil || p.Fields() != f {
			t.Errorf("parse: %v %+v", err, p.Fields())
		}
	})
	t.Run("NA", func(t *testing.T) {
		for _, f := range []NDPNeighborAdvertFields{
			{Router: true, Solicited: true, Override: true, TargetAddress: target},
			{Solicited: true, TargetAddress: target},
			{Override: true, TargetAddress: target},
			{Router: true, TargetAddress: netip.IPv6Unspecified()},
		} {
			b := bytes.Repeat([]byte{0xee}, NDPNeighborAdvertMinimumSize)
			m := f.Encode(b)
			if m[1] != 0 || m[2] != 0 || m[3] != 0 {
				t.Errorf("reserved bytes % x", m[:4])
			}
			p, err := ParseNDPNeighborAdvert(m)
			if err != nil || p.Fields() != f {
				t.Errorf("parse: %v %+v, want %+v", err, p.Fields(), f)
			}
		}
		m := (&NDPNeighborAdvertFields{Router: true, Solicited: true, Override: true, TargetAddress: target}).Encode(make([]byte, 20))
		if m[0] != 0xe0 {
			t.Errorf("flags %#x", m[0])
		}
	})
	t.Run("Redirect", func(t *testing.T) {
		f := NDPRedirectFields{TargetAddress: target, DestinationAddress: dst}
		b := bytes.Repeat([]byte{0xee}, NDPRedirectMinimumSize)
		m := f.Encode(b)
		if got := icmpTestHex(m); got != "00000000fe80000000000000009900fffe000002"+"20010db8000000000000000000000077" {
			t.Errorf("Redirect = %s", got)
		}
		p, err := ParseNDPRedirect(m)
		if err != nil || p.Fields() != f {
			t.Errorf("parse: %v %+v", err, p.Fields())
		}
	})
}

func TestNDPMessagesMalformed(t *testing.T) {
	type parser func([]byte) error
	parsers := map[string]struct {
		min   int
		parse parser
	}{
		"RS":       {NDPRouterSolicitMinimumSize, func(b []byte) error { _, err := ParseNDPRouterSolicit(b); return err }},
		"RA":       {NDPRouterAdvertMinimumSize, func(b []byte) error { _, err := ParseNDPRouterAdvert(b); return err }},
		"NS":       {NDPNeighborSolicitMinimumSize, func(b []byte) error { _, err := ParseNDPNeighborSolicit(b); return err }},
		"NA":       {NDPNeighborAdvertMinimumSize, func(b []byte) error { _, err := ParseNDPNeighborAdvert(b); return err }},
		"Redirect": {NDPRedirectMinimumSize, func(b []byte) error { _, err := ParseNDPRedirect(b); return err }},
	}
	opts := icmpTestUnhex(t, "0101 029900000001 0501 0000 000005dc")
	for name, p := range parsers {
		full := append(make([]byte, p.min), opts...)
		for n := range len(full) + 1 {
			err := p.parse(full[:n])
			switch {
			case n < p.min:
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("%s len %d: %v, want ErrTruncated", name, n, err)
				}
			case n == p.min || n == p.min+8 || n == p.min+16:
				if err != nil {
					t.Errorf("%s len %d: %v", name, n, err)
				}
			default:
				if !errors.Is(err, ErrBadOption) {
					t.Errorf("%s len %d: %v, want ErrBadOption", name, n, err)
				}
			}
		}
		// RFC 4861 §4.6: an option of length zero invalidates the
		// message.
		zero := append(make([]byte, p.min), 1, 0, 0, 0, 0, 0, 0, 0)
		if err := p.parse(zero); !errors.Is(err, ErrBadOption) {
			t.Errorf("%s: zero-length option: %v", name, err)
		}
	}
}

func TestNDPStrings(t *testing.T) {
	for p, want := range map[NDPRoutePreference]string{0: "medium", 1: "high", 2: "reserved", 3: "low", 4: "preference(4)"} {
		if got := p.String(); got != want {
			t.Errorf("%d: %q", p, got)
		}
	}
	for ty, want := range map[NDPOptionType]string{
		1: "source link-layer address", 2: "target link-layer address", 3: "prefix information",
		4: "redirected header", 5: "MTU", 14: "nonce", 24: "route information",
		25: "recursive DNS server", 31: "DNS search list", 200: "option(200)",
	} {
		if got := ty.String(); got != want {
			t.Errorf("%d: %q", ty, got)
		}
	}
}

func TestNDPAllocs(t *testing.T) {
	mac := tcpip.MustParseLinkAddress("02:99:00:00:00:01")
	rdnss := NDPRDNSSFields{Lifetime: time.Hour, Addresses: []netip.Addr{netip.MustParseAddr("2001:db8::53")}}
	dnssl := NDPDNSSLFields{Lifetime: time.Hour, Domains: []string{"example.com", "lab.example.org"}}
	pi := NDPPrefixInformationFields{Prefix: netip.MustParsePrefix("2001:db8::/64"), OnLink: true, ValidLifetime: NDPInfiniteLifetime}
	ri := NDPRouteInformationFields{Prefix: netip.MustParsePrefix("2001:db8::/48"), Lifetime: time.Hour}
	nonce := []byte{1, 2, 3, 4, 5, 6}
	ra := NDPRouterAdvertFields{CurHopLimit: 64, RouterLifetime: time.Hour}
	b := make([]byte, 512)
	text := make([]byte, 0, 256)
	var sink int
	allocs := testing.AllocsPerRun(100, func() {
		m := ra.Encode(b)
		o := m.Options()
		off := 0
		off += len((&NDPLinkLayerAddressFields{Type: NDPOptionSourceLinkLayerAddress, Address: mac}).Encode(o[off:]))
		off += len((&NDPMTUFields{MTU: 1500}).Encode(o[off:]))
		off += len(pi.Encode(o[off:]))
		off += len(ri.Encode(o[off:]))
		off += len(rdnss.Encode(o[off:]))
		off += len(dnssl.Encode(o[off:]))
		off += len((&NDPNonceFields{Nonce: nonce}).Encode(o[off:]))
		off += len((&NDPRedirectedHeaderFields{Packet: nonce}).Encode(o[off:]))
		p, err := ParseNDPRouterAdvert(b[:NDPRouterAdvertMinimumSize+off])
		if err != nil {
			panic(err)
		}
		sink += int(p.Fields().CurHopLimit)
		it := p.Options().Iterator()
		for opt, ok := it.Next(); ok; opt, ok = it.Next() {
			if a, ok := opt.LinkLayerAddress(); ok {
				sink += int(a[0])
			}
			if pi, ok := opt.PrefixInformation(); ok {
				sink += pi.Fields().Prefix.Bits()
			}
			if ri, ok := opt.RouteInformation(); ok {
				sink += ri.Fields().Prefix.Bits()
			}
			if m, ok := opt.MTU(); ok {
				sink += int(m)
			}
			if n, ok := opt.Nonce(); ok {
				sink += len(n)
			}
			if r, ok := opt.RedirectedHeader(); ok {
				sink += len(r)
			}
			if r, ok := opt.RDNSS(); ok {
				ai := r.Addresses()
				for a, ok := ai.Next(); ok; a, ok = ai.Next() {
					sink += int(a.BitLen())
				}
			}
			if d, ok := opt.DNSSL(); ok {
				di := d.Domains()
				for n, ok := di.Next(); ok; n, ok = di.Next() {
					text = n.AppendText(text[:0])
					sink += len(text)
				}
			}
		}
		ns := (&NDPNeighborSolicitFields{TargetAddress: pi.Prefix.Addr()}).Encode(b)
		sink += ns.Fields().TargetAddress.BitLen()
		na := (&NDPNeighborAdvertFields{Solicited: true}).Encode(b)
		sink += len(na.Options())
		rd := (&NDPRedirectFields{}).Encode(b)
		sink += rd.Fields().TargetAddress.BitLen()
	})
	if allocs != 0 {
		t.Errorf("allocs = %v, want 0", allocs)
	}
	_ = sink
}

// icmpTestFuzzBody runs the NDP and MLD views that match the type of h over
// its body, calling every accessor; they must not panic.
func icmpTestFuzzBody(t *testing.T, h ICMPv6) {
	body := h.MessageBody()
	var opts NDPOptions
	switch h.Type() {
	case ICMPv6RouterSolicit:
		if m, err := ParseNDPRouterSolicit(body); err == nil {
			_ = m.Fields()
			opts = m.Options()
		}
	case ICMPv6RouterAdvert:
		if m, err := ParseNDPRouterAdvert(body); err == nil {
			f := m.Fields()
			if g := f.Encode(make([]byte, NDPRouterAdvertMinimumSize)); g.Fields() != f {
				t.Fatalf("RA round trip %+v != %+v", g.Fields(), f)
			}
			opts = m.Options()
		}
	case ICMPv6NeighborSolicit:
		if m, err := ParseNDPNeighborSolicit(body); err == nil {
			_ = m.Fields()
			opts = m.Options()
		}
	case ICMPv6NeighborAdvert:
		if m, err := ParseNDPNeighborAdvert(body); err == nil {
			f := m.Fields()
			if g := f.Encode(make([]byte, NDPNeighborAdvertMinimumSize)); g.Fields() != f {
				t.Fatalf("NA round trip")
			}
			opts = m.Options()
		}
	case ICMPv6Redirect:
		if m, err := ParseNDPRedirect(body); err == nil {
			_ = m.Fields()
			opts = m.Options()
		}
	case ICMPv6MLDQuery, ICMPv6MLDv1Report, ICMPv6MLDv1Done, ICMPv6MLDv2Report:
		mldTestFuzzBody(t, body)
	}
	if opts != nil {
		ndpTestFuzzOptions(t, opts)
	}
}

// ndpTestFuzzOptions iterates options and calls every accessor, checking
// that each recognised option re-encodes to something that decodes the
// same.
func ndpTestFuzzOptions(t *testing.T, opts NDPOptions) {
	it := opts.Iterator()
	scratch := make([]byte, 2048)
	text := make([]byte, 0, 256)
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		if len(o) < 8 || len(o)%8 != 0 {
			t.Fatalf("option of %d bytes", len(o))
		}
		_ = o.Type().String()
		_ = o.Body()
		if a, ok := o.LinkLayerAddress(); ok {
			g := (&NDPLinkLayerAddressFields{Type: o.Type(), Address: a}).Encode(scratch)
			if !bytes.Equal(g, o) {
				t.Fatalf("link-layer address re-encoded % x, want % x", []byte(g), []byte(o))
			}
		}
		if p, ok := o.PrefixInformation(); ok {
			_, _ = p.PrefixAddress(), p.PrefixLength()
			// A Prefix Length above 128 decodes to the invalid
			// Prefix, which encodes as ::/0.
			f := p.Fields()
			g, _ := f.Encode(scratch).PrefixInformation()
			if f.Prefix.IsValid() && g.Fields() != f {
				t.Fatalf("prefix information round trip %+v != %+v", g.Fields(), f)
			}
		}
		if r, ok := o.RouteInformation(); ok {
			f := r.Fields()
			g, ok := f.Encode(scratch).RouteInformation()
			if !ok || g.Fields() != f {
				t.Fatalf("route information round trip %+v != %+v", g.Fields(), f)
			}
		}
		if m, ok := o.MTU(); ok {
			if g, _ := (&NDPMTUFields{MTU: m}).Encode(scratch).MTU(); g != m {
				t.Fatalf("MTU round trip")
			}
		}
		if n, ok := o.Nonce(); ok {
			if g := (&NDPNonceFields{Nonce: n}).Encode(scratch); !bytes.Equal(g, o) {
				t.Fatalf("nonce round trip")
			}
		}
		if p, ok := o.RedirectedHeader(); ok {
			// The 6 reserved bytes are written as zeros.
			if g := (&NDPRedirectedHeaderFields{Packet: p}).Encode(scratch); !bytes.Equal(g[8:], o[8:]) || len(g) != len(o) {
				t.Fatalf("redirected header round trip")
			}
		}
		if r, ok := o.RDNSS(); ok {
			f := NDPRDNSSFields{Lifetime: r.Lifetime()}
			ai := r.Addresses()
			for a, ok := ai.Next(); ok; a, ok = ai.Next() {
				f.Addresses = append(f.Addresses, a)
			}
			if ai.Err() != nil || len(f.Addresses) != r.Len() {
				t.Fatalf("RDNSS: %v, %d of %d", ai.Err(), len(f.Addresses), r.Len())
			}
			if g := f.Encode(scratch); !bytes.Equal(g[8:], o[8:]) || len(g) != len(o) {
				t.Fatalf("RDNSS round trip")
			}
		}
		if d, ok := o.DNSSL(); ok {
			_ = d.Lifetime()
			di := d.Domains()
			for n, ok := di.Next(); ok; n, ok = di.Next() {
				text = n.AppendText(text[:0])
				if len(text) > 253 {
					t.Fatalf("name of %d bytes", len(text))
				}
				li := n.Labels()
				for l, ok := li.Next(); ok; l, ok = li.Next() {
					if len(l) == 0 || len(l) > 63 {
						t.Fatalf("label of %d bytes", len(l))
					}
				}
			}
			_ = di.Err()
		}
	}
}

func FuzzNDPOptions(f *testing.F) {
	for _, name := range []string{"ipv6_ns", "ipv6_na", "ipv6_ns_dad", "ipv6_rs", "ipv6_ra", "ipv6_redirect"} {
		if !icmpTestHaveGolden(name) {
			continue
		}
		p, _, _, _ := icmpTestIPv6(f, golden(f, name))
		h, err := ParseICMPv6(p)
		if err != nil {
			continue
		}
		fixed := map[ICMPv6Type]int{
			ICMPv6RouterSolicit: NDPRouterSolicitMinimumSize, ICMPv6RouterAdvert: NDPRouterAdvertMinimumSize,
			ICMPv6NeighborSolicit: NDPNeighborSolicitMinimumSize, ICMPv6NeighborAdvert: NDPNeighborAdvertMinimumSize,
			ICMPv6Redirect: NDPRedirectMinimumSize,
		}[h.Type()]
		if body := h.MessageBody(); len(body) >= fixed {
			f.Add(body[fixed:])
		}
	}
	f.Add(icmpTestUnhex(f, "0101 029900000001 0501 0000 000005dc 0e01 010203040506"))
	f.Add(icmpTestUnhex(f, "1f03 0000 ffffffff 076578616d706c6503636f6d00 000000"))
	f.Add(icmpTestUnhex(f, "1803 80 08 ffffffff 20010db8000000000000000000000001"))
	f.Fuzz(func(t *testing.T, b []byte) {
		opts, err := ParseNDPOptions(b)
		if err != nil {
			if !errors.Is(err, ErrBadOption) {
				t.Fatalf("err = %v", err)
			}
			// The iterator sees the same error, and never panics.
			it := NDPOptions(b).Iterator()
			for _, ok := it.Next(); ok; _, ok = it.Next() {
			}
			if it.Err() == nil {
				t.Fatal("iterator found no error")
			}
			ndpTestFuzzOptions(t, NDPOptions(b))
			return
		}
		ndpTestFuzzOptions(t, opts)
		// Options tile the area exactly.
		n := 0
		it := opts.Iterator()
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			n += len(o)
		}
		if n != len(b) || it.Err() != nil {
			t.Fatalf("options cover %d of %d bytes, err %v", n, len(b), it.Err())
		}
	})
}

// Build a Neighbor Solicitation with a source link-layer address option
// (RFC 4861 §4.3), then read it back.
func ExampleNDPNeighborSolicitFields() {
	src := netip.MustParseAddr("fe80::99:ff:fe00:1")
	target := netip.MustParseAddr("fe80::99:ff:fe00:2")
	dst := netip.MustParseAddr("ff02::1:ff00:2") // solicited-node group of target
	mac := tcpip.MustParseLinkAddress("02:99:00:00:00:01")

	msg := make([]byte, ICMPv6HeaderSize+NDPNeighborSolicitMinimumSize+NDPLinkLayerAddressOptionSize)
	h := (&ICMPv6Fields{Type: ICMPv6NeighborSolicit}).Encode(msg)
	ns := (&NDPNeighborSolicitFields{TargetAddress: target}).Encode(h.MessageBody())
	(&NDPLinkLayerAddressFields{Type: NDPOptionSourceLinkLayerAddress, Address: mac}).Encode(ns.Options())
	h.SetChecksum(h.CalculateChecksum(src, dst))

	// Receiving side.
	rh, _ := ParseICMPv6(msg)
	rns, err := ParseNDPNeighborSolicit(rh.MessageBody())
	fmt.Println(rh.Type(), rh.IsChecksumValid(src, dst), err)
	fmt.Println("target", rns.TargetAddress())
	it := rns.Options().Iterator()
	for opt, ok := it.Next(); ok; opt, ok = it.Next() {
		if a, ok := opt.LinkLayerAddress(); ok {
			fmt.Println(opt.Type(), a)
		}
	}
	// Output:
	// neighbor solicitation true <nil>
	// target fe80::99:ff:fe00:2
	// source link-layer address 02:99:00:00:00:01
}

// TestNDPGoldenTruncated cuts the golden RA and redirect at every length:
// inside the fixed part it is ErrTruncated, at an option boundary the
// message parses (with fewer options), elsewhere it is ErrBadOption.
func TestNDPGoldenTruncated(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fixed int
		parse func([]byte) error
	}{
		{"ipv6_ra", NDPRouterAdvertMinimumSize, func(b []byte) error { _, err := ParseNDPRouterAdvert(b); return err }},
		{"ipv6_redirect", NDPRedirectMinimumSize, func(b []byte) error { _, err := ParseNDPRedirect(b); return err }},
		{"ipv6_ns_dad", NDPNeighborSolicitMinimumSize, func(b []byte) error { _, err := ParseNDPNeighborSolicit(b); return err }},
	} {
		h, _, _ := icmpTestGoldenICMPv6(t, tc.name)
		body := h.MessageBody()
		boundary := map[int]bool{tc.fixed: true}
		off := tc.fixed
		for _, o := range ndpTestOptions(t, NDPOptions(body[tc.fixed:])) {
			off += len(o)
			boundary[off] = true
		}
		for n := range len(body) + 1 {
			err := tc.parse(body[:n])
			switch {
			case n < tc.fixed:
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("%s len %d: %v, want ErrTruncated", tc.name, n, err)
				}
			case boundary[n]:
				if err != nil {
					t.Errorf("%s len %d: %v", tc.name, n, err)
				}
			default:
				if !errors.Is(err, ErrBadOption) {
					t.Errorf("%s len %d: %v, want ErrBadOption", tc.name, n, err)
				}
			}
		}
		// Every truncation of the whole ICMPv6 message parses or is
		// ErrTruncated, and checksumming it does not panic.
		src, dst := netip.MustParseAddr("::1"), netip.MustParseAddr("::2")
		for n := range len(h) {
			p, err := ParseICMPv6(h[:n])
			if (n < ICMPv6MinimumSize) != (err != nil) {
				t.Errorf("%s ICMPv6 len %d: %v", tc.name, n, err)
			}
			if err == nil {
				_ = p.IsChecksumValid(src, dst)
			}
		}
	}
}
