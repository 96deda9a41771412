package serve

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

func TestParseArgs(t *testing.T) {
	cfg, err := ParseArgs([]string{
		"--tap", "tap7", "--addr", "10.0.0.2/24", "--addr=192.168.5.10/16",
		"--route", "default,10.0.0.1", "--route", "172.16.0.0/12,192.168.0.1", "--route", "198.51.100.0/24",
		"--mac", "02:11:22:33:44:55", "--mtu", "9000", "--pcap", "out.pcap",
		"--loss", "0.25", "--seed", "42", "--echo-broadcast", "-v",
	}, io.Discard)
	if err != nil {
		t.Fatalf("ParseArgs: %v", err)
	}
	want := Config{
		TAP:   "tap7",
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24"), netip.MustParsePrefix("192.168.5.10/16")},
		Routes: []Route{
			{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("10.0.0.1")},
			{netip.MustParsePrefix("172.16.0.0/12"), netip.MustParseAddr("192.168.0.1")},
			{netip.MustParsePrefix("198.51.100.0/24"), netip.Addr{}},
		},
		MAC:           tcpip.MustParseLinkAddress("02:11:22:33:44:55"),
		MTU:           9000,
		PCAP:          "out.pcap",
		Loss:          0.25,
		Seed:          42,
		EchoBroadcast: true,
		Verbose:       true,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("ParseArgs =\n%+v\nwant\n%+v", cfg, want)
	}
	if got := cfg.Routes[0].String(); got != "0.0.0.0/0,10.0.0.1" {
		t.Errorf("Route.String = %q", got)
	}
}

// IPv6 addresses and routes: "default" takes the gateway's family, and a
// link-local gateway is on the link.
func TestParseArgsIPv6(t *testing.T) {
	cfg, err := ParseArgs([]string{
		"--tap", "tap7", "--addr", "10.0.0.2/24", "--addr", "2001:db8::2/64",
		"--route", "default,fe80::1", "--route", "2001:db8:1::/48,2001:db8::1", "--mtu", "1280",
	}, io.Discard)
	if err != nil {
		t.Fatalf("ParseArgs: %v", err)
	}
	wantRoutes := []Route{
		{netip.MustParsePrefix("::/0"), netip.MustParseAddr("fe80::1")},
		{netip.MustParsePrefix("2001:db8:1::/48"), netip.MustParseAddr("2001:db8::1")},
	}
	if !reflect.DeepEqual(cfg.Routes, wantRoutes) || len(cfg.Addrs) != 2 || cfg.Addrs[1] != netip.MustParsePrefix("2001:db8::2/64") {
		t.Errorf("ParseArgs = %+v", cfg)
	}
}

// The autoconfiguration flags and the NDP configuration they make.
func TestParseArgsAutoconf(t *testing.T) {
	cfg, err := ParseArgs([]string{"--tap", "tap7", "--slaac", "--tempaddr", "--stable-privacy", "s3cret"}, io.Discard)
	if err != nil {
		t.Fatalf("ParseArgs: %v", err)
	}
	if !cfg.SLAAC || !cfg.TempAddr || cfg.StablePrivacyKey != "s3cret" || len(cfg.Addrs) != 0 {
		t.Errorf("ParseArgs = %+v", cfg)
	}
	nc := cfg.ndpConfigurations()
	if nc.DupAddrDetectTransmits != 1 || nc.MaxRtrSolicitations != 3 || !nc.AutoGenGlobalAddresses || !nc.AutoGenTempGlobalAddresses || nc.SendRouterAdvertisements {
		t.Errorf("host NDP configuration %+v", nc)
	}
	o := cfg.opaqueIIDOptions()
	if o.NICNameFromID == nil || o.NICNameFromID(1, "") != "tap7" || string(o.SecretKey) != "s3cret" {
		t.Errorf("opaque options %+v", o)
	}

	cfg, err = ParseArgs([]string{"--tap", "tap7", "--addr", "2001:db8::1/64", "--router-advert", "2001:db8::/64", "--router-advert", "2001:db8:5::/48", "--ra-interval", "10s"}, io.Discard)
	if err != nil {
		t.Fatalf("ParseArgs: %v", err)
	}
	nc = cfg.ndpConfigurations()
	if !nc.SendRouterAdvertisements || nc.MaxRtrAdvInterval != 10*time.Second || len(nc.AdvPrefixes) != 2 ||
		!nc.AdvPrefixes[0].Autonomous || nc.AdvPrefixes[1].Autonomous || !nc.AdvPrefixes[1].OnLink || nc.DupAddrDetectTransmits != 0 {
		t.Errorf("router NDP configuration %+v", nc)
	}
	if (&Config{}).ndpConfigurations().DupAddrDetectTransmits != 0 || (&Config{}).opaqueIIDOptions().NICNameFromID != nil {
		t.Error("plain configuration turns autoconfiguration on")
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--tap is required"},
		{[]string{"--tap", "t0"}, "at least one --addr"},
		{[]string{"--tap", "a-name-that-is-too-long", "--addr", "10.0.0.2/24"}, "at most 15 bytes"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2"}, "no '/'"},
		{[]string{"--tap", "t0", "--addr", "::ffff:10.0.0.1/96"}, "not a unicast address"},
		{[]string{"--tap", "t0", "--addr", "ff02::1/64"}, "not a unicast address"},
		{[]string{"--tap", "t0", "--addr", "2001:db8::2/64", "--mtu", "1000"}, "IPv6 needs at least 1280"},
		{[]string{"--tap", "t0", "--addr", "2001:db8::2/64", "--route", "2001:db8:1::/48,2001:db8:9::1"}, "not on the subnet"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.0/24"}, "network address"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--route", "10.1.0.0/16,10.9.9.9"}, "not on the subnet"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--route", "10.1.0.1/16,10.0.0.1"}, "host bits"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--route", "default,::1"}, "prefix's family"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--route", "::/0,10.0.0.1"}, "prefix's family"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--mac", "01:00:5e:00:00:01"}, "not a unicast"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--mac", "nonsense"}, "link address"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--mtu", "20"}, "--mtu 20"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--loss", "1.5"}, "probability"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "extra"}, "unexpected argument"},
		{[]string{"--nope"}, "not defined"},
		{[]string{"--tap", "t0", "--slaac", "--router-advert", "2001:db8::/64"}, "a router does not configure itself"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--tempaddr"}, "--tempaddr needs --slaac"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--router-advert", "2001:db8::1/64"}, "without host bits"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--router-advert", "10.0.0.0/24"}, "IPv6 prefix"},
		{[]string{"--tap", "t0", "--addr", "10.0.0.2/24", "--router-advert", "2001:db8::/64", "--ra-interval", "1s"}, "--ra-interval"},
	} {
		_, err := ParseArgs(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errUsage) {
			t.Errorf("ParseArgs(%q) = %v; want a usage error containing %q", tc.args, err, tc.want)
		}
	}
	var help strings.Builder
	if _, err := ParseArgs([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("ParseArgs(-h) = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(help.String(), Usage) {
		t.Errorf("help text lacks the usage line:\n%s", help.String())
	}
}

func TestMainUsage(t *testing.T) {
	var stderr strings.Builder
	if code := Main(t.Context(), []string{"--tap", "t0"}, io.Discard, &stderr); code != 2 {
		t.Errorf("Main with a bad command line = %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "usage: "+Usage) {
		t.Errorf("stderr lacks the usage line:\n%s", stderr.String())
	}
	if code := Main(t.Context(), []string{"-h"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("Main -h = %d, want 0", code)
	}
}

func TestRandomMAC(t *testing.T) {
	seen := map[tcpip.LinkAddress]bool{}
	for range 100 {
		a := randomMAC()
		if !a.IsUnicast() || !a.IsLocallyAdministered() {
			t.Fatalf("randomMAC() = %v, want a unicast locally administered address", a)
		}
		seen[a] = true
	}
	if len(seen) < 99 {
		t.Errorf("randomMAC repeats itself: %d distinct of 100", len(seen))
	}
}
