package serve_test

// IPv6 autoconfiguration interoperability tests: ustack as a SLAAC client
// of radvd running on the kernel's side of the TAP device, and the kernel
// as a SLAAC client of ustack acting as a router (checked with the
// kernel's own addresses and routes, and with rdisc6). See
// interop_linux_test.go for the set-up.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/cmd/ustack/internal/serve"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/tcpip"
)

// eui64In returns the SLAAC address of mac in the /64 prefix p (RFC 4862
// §5.5.3, RFC 4291 Appendix A).
func eui64In(p netip.Prefix, mac tcpip.LinkAddress) netip.Addr {
	a := p.Masked().Addr().As16()
	id := header.IPv6EUI64InterfaceID(mac)
	copy(a[8:], id[:])
	return netip.AddrFrom16(a)
}

// waitFor runs cmd in the namespace until its output contains want (or
// fails the test after timeout) and returns the last output.
func waitFor(t *testing.T, u *instance, timeout time.Duration, want string, cmd ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, _ := u.ns.Output(cmd...)
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q after %v:\n%s", strings.Join(cmd, " "), want, timeout, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ustack is a SLAAC client of radvd on the kernel's side: it forms its
// address in the advertised prefix (after DAD), installs the default
// route through the kernel, and traffic from an address beyond the router
// (on another prefix, on the namespace's loopback device) reaches it and
// is answered through that default route.
func TestInteropSLAACClientOfRadvd(t *testing.T) {
	t.Parallel()
	radvdClient(t, "")
}

// With --stable-privacy the address has the RFC 7217 identifier of the
// device name, the prefix and the key, not the EUI-64 one.
func TestInteropSLAACStablePrivacy(t *testing.T) {
	t.Parallel()
	radvdClient(t, "a secret key")
}

// radvdClient runs ustack as a SLAAC client of radvd (opaque identifiers
// with key if it is not empty) and checks its address, its default route
// and the services over it.
func radvdClient(t *testing.T, key string) {
	n := subnets.Add(1) % 256
	mac := tcpip.LinkAddress{0x02, 0x75, 0x73, 0x37, 0x81, byte(n)}
	prefix := netip.MustParsePrefix(fmt.Sprintf("fd00:81:%x::/64", n))
	beyond := netip.MustParsePrefix(fmt.Sprintf("fd00:82:%x::1/64", n))
	u := start(t, []string{"radvd", "ping", "ip", "sysctl", "socat", "curl"}, func(cfg *serve.Config) {
		cfg.MAC = mac
		cfg.SLAAC = true
		cfg.StablePrivacyKey = key
	})
	slaac := eui64In(prefix, mac)
	if key != "" {
		iid := ipv6.OpaqueIID(prefix, u.ifname, 0, []byte(key))
		a := prefix.Addr().As16()
		copy(a[8:], iid[:])
		slaac = netip.AddrFrom16(a)
	}

	// The kernel routes, holds an address in the prefix, and has
	// another prefix on its loopback device: the network beyond it.
	u.ns.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1")
	u.ns.AddrAdd(t, u.ifname, netip.PrefixFrom(prefix.Addr().Next(), 64), "nodad")
	u.ns.LinkUp(t, "lo")
	u.ns.AddrAdd(t, "lo", beyond, "nodad")
	waitFor(t, u, 10*time.Second, "fe80::", "ip", "-6", "addr", "show", "dev", u.ifname, "-tentative", "scope", "link")

	conf := filepath.Join(t.TempDir(), "radvd.conf")
	err := os.WriteFile(conf, fmt.Appendf(nil, `interface %s {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 4;
	AdvDefaultLifetime 60;
	prefix %s {
		AdvOnLink on;
		AdvAutonomous on;
		AdvValidLifetime 600;
		AdvPreferredLifetime 300;
	};
	RDNSS %s {
	};
};
`, u.ifname, prefix, prefix.Addr().Next()), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	radvd := u.ns.Command(ctx, "radvd", "-n", "-C", conf, "-p", filepath.Join(t.TempDir(), "radvd.pid"), "-m", "stderr")
	var radvdOut strings.Builder
	radvd.Stdout, radvd.Stderr = &radvdOut, &radvdOut
	if err := radvd.Start(); err != nil {
		cancel()
		t.Fatalf("radvd: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		radvd.Wait()
		if t.Failed() {
			t.Logf("radvd:\n%s", radvdOut.String())
		}
	})

	// The kernel reaches the SLAAC address on the link once ustack has
	// formed it and its DAD is over.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := u.ns.Output("ping", "-6", "-c", "1", "-W", "1", slaac.String())
		if received(t, out) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ustack never answered at its SLAAC address %v:\n%s", slaac, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// From beyond the router: ustack answers through its default route
	// (it has no route to fd00:82::/64 otherwise).
	out := u.ns.Run(t, "ping", "-6", "-c", "3", "-w", "10", "-I", beyond.Addr().String(), slaac.String())
	if n := received(t, out); n != 3 {
		t.Errorf("ping from beyond the router: %d replies of 3:\n%s", n, out)
	}
	// The services listen on the IPv6 wildcard: UDP echo and, through
	// the default route, HTTP from beyond the router.
	peer := "UDP6:[" + slaac.String() + "]:7"
	if out, stderr, err := u.run("hello SLAAC\n", "socat", "-t", "2", "-", peer); err != nil || out != "hello SLAAC\n" {
		t.Errorf("socat UDP6 echo = %q, %v (%s)", out, err, stderr)
	}
	if serve.TCPEnabled() {
		out, stderr, err := u.run("", "curl", "-6", "-sS", "--fail", "--interface", beyond.Addr().String(), "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
			"http://["+slaac.String()+"]/bytes/100000")
		if err != nil || out != "200 100000" {
			t.Errorf("curl from beyond the router: %q, %v (%s)", out, err, stderr)
		}
	}
	c := u.stop()
	atLeast(t, c, "ICMPv6.Received.RouterAdvert", 1)
	atLeast(t, c, "ICMPv6.Sent.NeighborSolicit", 1) // DAD of the addresses
	atLeast(t, c, "ICMPv6.Sent.EchoReply", 4)
	atLeast(t, c, "MLD.Sent.V2Report", 1)
}

// startRouter starts ustack as an IPv6 router advertising fd00:83:N::/64
// (and holding fd00:83:N::2 itself), the kernel's side accepting
// advertisements.
func startRouter(t *testing.T, tools []string) (*instance, netip.Prefix, netip.Addr, tcpip.LinkAddress) {
	t.Helper()
	n := subnets.Add(1) % 256
	mac := tcpip.LinkAddress{0x02, 0x75, 0x73, 0x38, 0x83, byte(n)}
	prefix := netip.MustParsePrefix(fmt.Sprintf("fd00:83:%x::/64", n))
	own := netip.MustParseAddr(fmt.Sprintf("fd00:83:%x::2", n))
	u := start(t, tools, func(cfg *serve.Config) {
		cfg.MAC = mac
		cfg.Addrs = append(cfg.Addrs, netip.PrefixFrom(own, 64))
		cfg.RouterAdvert = []netip.Prefix{prefix}
		cfg.RAInterval = 4 * time.Second
	})
	return u, prefix, own, mac
}

// Linux is a SLAAC client of ustack acting as a router: the kernel forms
// an address in the advertised prefix, installs a default route through
// ustack's link-local address, and pings ustack from its new address.
func TestInteropLinuxSLAACClientOfUstack(t *testing.T) {
	t.Parallel()
	u, prefix, own, mac := startRouter(t, []string{"ping", "ip", "sysctl"})
	// A new namespace has forwarding off and accept_ra on; say so
	// explicitly.
	u.ns.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf."+u.ifname+".accept_ra=2")
	u.ns.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf."+u.ifname+".autoconf=1")
	kernelMAC := u.ns.HardwareAddr(t, u.ifname)
	kernelAddr := eui64In(prefix, kernelMAC)
	out := waitFor(t, u, 30*time.Second, kernelAddr.String(), "ip", "-6", "addr", "show", "dev", u.ifname)
	if !strings.Contains(out, "dynamic") {
		t.Errorf("the kernel's address is not from autoconfiguration:\n%s", out)
	}
	routerLL := header.LinkLocalAddrFromMAC(mac)
	waitFor(t, u, 10*time.Second, "default via "+routerLL.String(), "ip", "-6", "route", "show", "dev", u.ifname)
	// The kernel's SLAAC address goes through DAD before it can send.
	waitFor(t, u, 10*time.Second, kernelAddr.String(), "ip", "-6", "addr", "show", "dev", u.ifname, "-tentative")
	out = u.ns.Run(t, "ping", "-6", "-c", "3", "-w", "10", "-I", kernelAddr.String(), own.String())
	if n := received(t, out); n != 3 {
		t.Errorf("ping from the kernel's SLAAC address: %d replies of 3:\n%s", n, out)
	}
	c := u.stop()
	atLeast(t, c, "ICMPv6.Sent.RouterAdvert", 1)
	atLeast(t, c, "ICMPv6.Sent.EchoReply", 3)
}

// rdisc6 solicits ustack acting as a router and prints its advertisement.
func TestInteropRdisc6(t *testing.T) {
	t.Parallel()
	u, prefix, _, mac := startRouter(t, []string{"rdisc6", "ip"})
	waitFor(t, u, 10*time.Second, "fe80::", "ip", "-6", "addr", "show", "dev", u.ifname, "-tentative", "scope", "link")
	var out string
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ = u.ns.Output("rdisc6", "-1", "-r", "3", "-w", "1500", u.ifname)
		if strings.Contains(out, prefix.String()) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{
		"Prefix                   : " + prefix.String(),
		"from " + header.LinkLocalAddrFromMAC(mac).String(),
		strings.ToUpper(mac.String()),
	} {
		if !strings.Contains(strings.ToUpper(out), strings.ToUpper(want)) {
			t.Errorf("rdisc6 output lacks %q:\n%s", want, out)
		}
	}
	c := u.stop()
	atLeast(t, c, "ICMPv6.Received.RouterSolicit", 1)
	atLeast(t, c, "ICMPv6.Sent.RouterAdvert", 1)
}
