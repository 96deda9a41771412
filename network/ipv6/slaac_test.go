package ipv6_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

func opaqueOpts(name string, key string) stack.OpaqueInterfaceIdentifierOptions {
	return stack.OpaqueInterfaceIdentifierOptions{
		NICNameFromID: func(tcpip.NICID, string) string { return name },
		SecretKey:     []byte(key),
	}
}

// slaacAddrs returns the NIC's addresses in prefix.
func slaacAddrs(s *stack.Stack, prefix string) []stack.AddressInfo {
	p := netip.MustParsePrefix(prefix)
	var out []stack.AddressInfo
	for _, a := range nicAddrs(s) {
		if p.Contains(a.Address.Addr()) {
			out = append(out, a)
		}
	}
	return out
}

// RFC 7217 §5: the identifier is a function of the prefix, the stable NIC
// name, the DAD counter and the secret key: the same inputs give the same
// identifier; changing any of them changes it.
func TestOpaqueIIDStability(t *testing.T) {
	p1, p2 := netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("2001:db8:2::/64")
	base := ipv6.OpaqueIID(p1, "eth0", 0, []byte("secret"))
	if again := ipv6.OpaqueIID(netip.MustParsePrefix("2001:db8:1::99/64"), "eth0", 0, []byte("secret")); again != base {
		t.Errorf("same inputs: %x then %x", base, again)
	}
	for name, other := range map[string][8]byte{
		"prefix":  ipv6.OpaqueIID(p2, "eth0", 0, []byte("secret")),
		"name":    ipv6.OpaqueIID(p1, "eth1", 0, []byte("secret")),
		"counter": ipv6.OpaqueIID(p1, "eth0", 1, []byte("secret")),
		"key":     ipv6.OpaqueIID(p1, "eth0", 0, []byte("secreT")),
	} {
		if other == base {
			t.Errorf("another %s gives the same identifier %x", name, base)
		}
	}

	// Through stacks: two hosts (think: one host rebooted) with the same
	// name and key form the same address in a prefix, whatever their
	// MAC; another prefix gives another identifier.
	ra := raFrame(9, header.NDPRouterAdvertFields{}, prefixOpt("2001:db8:1::/64", true, true, time.Hour, time.Hour), prefixOpt("2001:db8:2::/64", true, true, time.Hour, time.Hour))
	var got [][]stack.AddressInfo
	for range 2 {
		n, h, s, _ := raHost(t, hostConfig(), opaqueOpts("eth0", "secret"))
		h.Send(ra)
		n.advance(2 * time.Second)
		a1, a2 := slaacAddrs(s, "2001:db8:1::/64"), slaacAddrs(s, "2001:db8:2::/64")
		if len(a1) != 1 || len(a2) != 1 {
			t.Fatalf("addresses %v %v", a1, a2)
		}
		if a1[0].Address.Addr() != withIID("2001:db8:1::", ipv6.OpaqueIID(p1, "eth0", 0, []byte("secret"))) {
			t.Errorf("address %v is not the RFC 7217 one", a1[0].Address)
		}
		if a1[0].Address.Addr().As16()[8] == a2[0].Address.Addr().As16()[8] && a1[0].Address.Addr().As16()[15] == a2[0].Address.Addr().As16()[15] {
			t.Errorf("same identifier in both prefixes: %v %v", a1[0].Address, a2[0].Address)
		}
		// The link-local address is opaque too.
		for _, a := range nicAddrs(s) {
			if a.Address.Addr().IsLinkLocalUnicast() && a.Address.Addr() == linkLocal(2) {
				t.Errorf("EUI-64 link-local address %v with opaque identifiers", a.Address)
			}
		}
		got = append(got, a1)
	}
	if got[0][0].Address != got[1][0].Address {
		t.Errorf("not stable: %v then %v", got[0][0].Address, got[1][0].Address)
	}
}

func withIID(prefix string, iid [8]byte) netip.Addr {
	a := addr(prefix).As16()
	copy(a[8:], iid[:])
	return netip.AddrFrom16(a)
}

// RFC 7217 §6: after a DAD failure the next DAD_Counter gives another
// address, up to AutoGenAddressConflictRetries times.
func TestOpaqueDADRetry(t *testing.T) {
	cfg := hostConfig()
	cfg.AutoGenAddressConflictRetries = 1
	n, h, s, ev := raHost(t, cfg, opaqueOpts("eth0", "k"))
	p := netip.MustParsePrefix("2001:db8:1::/64")
	h.Send(raFrame(9, header.NDPRouterAdvertFields{}, prefixOpt("2001:db8:1::/64", true, true, time.Hour, time.Hour)))
	n.run()
	first := withIID("2001:db8:1::", ipv6.OpaqueIID(p, "eth0", 0, []byte("k")))
	second := withIID("2001:db8:1::", ipv6.OpaqueIID(p, "eth0", 1, []byte("k")))
	if err := s.DupTentativeAddrDetected(1, first); err != nil {
		t.Fatal(err)
	}
	n.run()
	if got := slaacAddrs(s, "2001:db8:1::/64"); len(got) != 1 || got[0].Address.Addr() != second {
		t.Fatalf("addresses %v after the conflict, want %v", got, second)
	}
	if err := s.DupTentativeAddrDetected(1, second); err != nil {
		t.Fatal(err)
	}
	n.advance(5 * time.Second)
	if got := slaacAddrs(s, "2001:db8:1::/64"); len(got) != 0 {
		t.Errorf("addresses %v after the retries ran out", got)
	}
	log := ev.take()
	for _, want := range []string{"addr " + first.String() + "/64", "invalidated " + first.String() + "/64", "addr " + second.String() + "/64", "dad " + second.String() + " duplicate"} {
		if !slices.Contains(log, want) {
			t.Errorf("no event %q in %q", want, log)
		}
	}
	// Later advertisements do not start over.
	h.Send(raFrame(9, header.NDPRouterAdvertFields{}, prefixOpt("2001:db8:1::/64", true, true, time.Hour, time.Hour)))
	n.run()
	if got := slaacAddrs(s, "2001:db8:1::/64"); len(got) != 0 {
		t.Errorf("addresses %v after another RA", got)
	}
}

// Temporary addresses (RFC 8981 §3.4): one is formed next to the public
// address, with a preferred lifetime below TEMP_PREFERRED_LIFETIME (less
// DESYNC_FACTOR), chosen first as a source; a successor is formed
// REGEN_ADVANCE before it is deprecated; it is removed at the end of its
// valid lifetime (TEMP_VALID_LIFETIME).
func TestTemporaryAddresses(t *testing.T) {
	cfg := hostConfig()
	cfg.AutoGenTempGlobalAddresses = true
	cfg.MaxTempAddrPreferredLifetime = time.Hour
	cfg.MaxTempAddrValidLifetime = 3 * time.Hour
	cfg.RegenAdvanceDuration = 10 * time.Second
	n, h, s, ev := raHost(t, cfg, stack.OpaqueInterfaceIdentifierOptions{})
	public := eui64Addr("2001:db8:1::", 2).Addr()
	h.Send(raFrame(9, header.NDPRouterAdvertFields{}, prefixOpt("2001:db8:1::/64", true, true, 24*time.Hour, 24*time.Hour)))
	n.advance(time.Second) // DAD of the public address
	n.advance(time.Second) // DAD of the temporary address
	temps := func() []stack.AddressInfo {
		var out []stack.AddressInfo
		for _, a := range slaacAddrs(s, "2001:db8:1::/64") {
			if a.Address.Addr() != public {
				out = append(out, a)
			}
		}
		return out
	}
	tt := temps()
	if len(tt) != 1 {
		t.Fatalf("temporary addresses %v", tt)
	}
	temp := tt[0].Address.Addr()
	if tt[0].Properties.Tentative || tt[0].Properties.Deprecated {
		t.Fatalf("temporary address %+v", tt[0])
	}
	r, err := s.FindRoute(1, netip.Addr{}, addr("2001:db8:1::77"), ipv6Proto, false)
	if err != nil || r.LocalAddress != temp {
		t.Errorf("source %v (%v), want the temporary %v", r.LocalAddress, err, temp)
	}
	// Its preferred lifetime is at most one hour (less the desync
	// factor): find when it is deprecated, and check its successor came
	// first.
	start := n.clock.NowMonotonic()
	var deprecatedAt, successorAt time.Duration
	for step := 0; step < 3700 && deprecatedAt == 0; step++ {
		n.advance(time.Second)
		now := n.clock.NowMonotonic().Sub(start)
		cur := temps()
		if successorAt == 0 && len(cur) > 1 {
			successorAt = now
		}
		for _, a := range cur {
			if a.Address.Addr() == temp && a.Properties.Deprecated {
				deprecatedAt = now
			}
		}
	}
	if deprecatedAt == 0 || deprecatedAt > time.Hour {
		t.Fatalf("deprecated after %v, want within TEMP_PREFERRED_LIFETIME (1h)", deprecatedAt)
	}
	if deprecatedAt < 36*time.Minute-2*time.Second {
		t.Errorf("deprecated after %v, below TEMP_PREFERRED_LIFETIME - MAX_DESYNC_FACTOR", deprecatedAt)
	}
	if successorAt == 0 || deprecatedAt-successorAt < 9*time.Second || deprecatedAt-successorAt > 11*time.Second {
		t.Errorf("successor at %v, deprecation at %v: want REGEN_ADVANCE (10s) apart", successorAt, deprecatedAt)
	}
	log := strings.Join(ev.take(), "\n")
	if !strings.Contains(log, "deprecated "+temp.String()) {
		t.Errorf("no deprecation event in\n%s", log)
	}
	// Removed TEMP_VALID_LIFETIME (3h) after its creation.
	n.advance(3*time.Hour - deprecatedAt - 5*time.Second)
	if _, ok := nicAddr(s, temp); !ok {
		t.Fatal("removed before TEMP_VALID_LIFETIME")
	}
	n.advance(10 * time.Second)
	if _, ok := nicAddr(s, temp); ok {
		t.Error("outlived TEMP_VALID_LIFETIME")
	}
	// Successors keep coming: there is always a preferred temporary
	// address.
	preferred := 0
	for _, a := range temps() {
		if !a.Properties.Deprecated && !a.Properties.Tentative {
			preferred++
		}
	}
	if preferred == 0 {
		t.Errorf("no preferred temporary address: %v", temps())
	}
	if _, ok := nicAddr(s, public); !ok {
		t.Error("the public address went")
	}
}
