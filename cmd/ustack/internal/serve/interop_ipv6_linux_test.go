package serve_test

// IPv6 interoperability tests: the kernel in the test's namespace pings
// ustack's link-local and global addresses, resolves them with ndisc6, and
// talks UDP to them (see interop_linux_test.go for the set-up).

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/cmd/ustack/internal/serve"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/tcpip"
)

// instance6 is ustack with an IPv6 address as well: fd00:80:N::2/64, the
// kernel's side fd00:80:N::1/64, and ustack's link-local address formed
// from its MAC.
type instance6 struct {
	*instance
	mac       tcpip.LinkAddress
	kernel6   netip.Prefix
	addr6     netip.Addr
	linkLocal netip.Addr
}

// start6 starts ustack with an IPv6 address next to the IPv4 one, gives
// the kernel its IPv6 address without duplicate address detection, and
// waits until the kernel's addresses are usable. Configure functions, if
// any, adjust ustack's configuration after start6's own settings.
func start6(t *testing.T, tools []string, configure ...func(*serve.Config)) *instance6 {
	t.Helper()
	n := subnets.Add(1) % 256
	u6 := &instance6{
		mac:     tcpip.LinkAddress{0x02, 0x75, 0x73, 0x36, 0x80, byte(n)},
		kernel6: netip.MustParsePrefix(fmt.Sprintf("fd00:80:%x::1/64", n)),
		addr6:   netip.MustParseAddr(fmt.Sprintf("fd00:80:%x::2", n)),
	}
	u6.linkLocal = header.LinkLocalAddrFromMAC(u6.mac)
	u6.instance = start(t, tools, func(cfg *serve.Config) {
		cfg.MAC = u6.mac
		cfg.Addrs = append(cfg.Addrs, netip.PrefixFrom(u6.addr6, 64))
		for _, c := range configure {
			c(cfg)
		}
	})
	u6.ns.AddrAdd(t, u6.ifname, u6.kernel6, "nodad")
	// The kernel's link-local address goes through duplicate address
	// detection (about a second) before ping can send from it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := u6.ns.Run(t, "ip", "-6", "addr", "show", "dev", u6.ifname)
		if strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kernel's IPv6 addresses stay tentative:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return u6
}

func TestInteropPing6(t *testing.T) {
	t.Parallel()
	u := start6(t, []string{"ping", "ip"})
	for _, dst := range []string{u.addr6.String(), u.linkLocal.String() + "%" + u.ifname} {
		// -w: ping stops once 3 replies are in or after 10 s. With -W
		// alone it stops max(1 s, twice the largest round trip) after
		// its last request, and a loaded machine that takes a second
		// to get a reply through (ustack's goroutines or ping itself
		// not scheduled) loses that reply although it was sent.
		out := u.ns.Run(t, "ping", "-6", "-c", "3", "-w", "10", dst)
		if n := received(t, out); n != 3 {
			t.Errorf("ping -6 %s: %d replies of 3:\n%s", dst, n, out)
		}
		if !strings.Contains(out, "64 bytes from ") {
			t.Errorf("ping -6 %s: no 64-byte replies:\n%s", dst, out)
		}
	}
	// The kernel learnt ustack's link address through NDP.
	out := u.ns.Run(t, "ip", "-6", "neigh", "show", "dev", u.ifname)
	if !strings.Contains(out, u.addr6.String()+" lladdr "+u.mac.String()) {
		t.Errorf("ip -6 neigh does not show ustack at %v, %v:\n%s", u.addr6, u.mac, out)
	}
	c := u.stop()
	atLeast(t, c, "ICMPv6.Received.EchoRequest", 6)
	atLeast(t, c, "ICMPv6.Sent.EchoReply", 6)
	atLeast(t, c, "ICMPv6.Sent.NeighborAdvert", 1)
}

func TestInteropPing6Fragmented(t *testing.T) {
	t.Parallel()
	u := start6(t, []string{"ping", "ip"})
	// 3000 data bytes over a 1500-byte MTU: the kernel fragments the
	// request, ustack reassembles it (RFC 8200 §4.5), and ustack
	// fragments the reply, which the kernel reassembles.
	out := u.ns.Run(t, "ping", "-6", "-c", "2", "-w", "10", "-s", "3000", u.addr6.String())
	if n := received(t, out); n != 2 {
		t.Errorf("ping -6 -s 3000: %d replies of 2:\n%s", n, out)
	}
	if !strings.Contains(out, "3008 bytes from "+u.addr6.String()) {
		t.Errorf("ping output lacks 3008-byte replies:\n%s", out)
	}
	c := u.stop()
	atLeast(t, c, "IPv6.FragmentsReceived", 6)
	atLeast(t, c, "IPv6.PacketsReassembled", 2)
	atLeast(t, c, "IPv6.FragmentsCreated", 6)
}

func TestInteropNDisc6(t *testing.T) {
	t.Parallel()
	u := start6(t, []string{"ndisc6", "ip"})
	// ndisc6 sends Neighbor Solicitations from a raw socket and prints
	// the target link-layer address of the advertisement.
	for _, target := range []netip.Addr{u.addr6, u.linkLocal} {
		out := u.ns.Run(t, "ndisc6", "-1", "-r", "3", "-w", "1000", target.String(), u.ifname)
		if !strings.Contains(strings.ToUpper(out), strings.ToUpper(u.mac.String())) {
			t.Errorf("ndisc6 %v: no %v in:\n%s", target, u.mac, out)
		}
	}
	c := u.stop()
	atLeast(t, c, "ICMPv6.Received.NeighborSolicit", 2)
	atLeast(t, c, "ICMPv6.Sent.NeighborAdvert", 2)
}

func TestInteropUDPEcho6(t *testing.T) {
	t.Parallel()
	u := start6(t, []string{"socat", "ip"})
	peer := "UDP6:[" + u.addr6.String() + "]:7"
	out, stderr, err := u.run("hello over IPv6\n", "socat", "-t", "2", "-", peer)
	if err != nil || out != "hello over IPv6\n" {
		t.Errorf("socat = %q, %v (%s); want the line back", out, err, stderr)
	}
	// One 4000-byte datagram: fragmented both ways.
	msg := strings.Repeat("0123456789", 400)
	out, stderr, err = u.run(msg, "socat", "-t", "2", "-b", "8192", "-", peer)
	if err != nil || out != msg {
		t.Errorf("socat 4000 bytes = %d bytes, %v (%s); want them back", len(out), err, stderr)
	}
	// Nothing on port 4242: port unreachable, "Connection refused".
	_, stderr, err = u.run("anyone?\n", "socat", "-t", "2", "-", "UDP6:["+u.addr6.String()+"]:4242")
	if err == nil || !strings.Contains(stderr, "Connection refused") {
		t.Errorf("socat to a closed port: %v, stderr %q; want Connection refused", err, stderr)
	}
	c := u.stop()
	atLeast(t, c, "Serve.EchoDatagrams", 2)
	atLeast(t, c, "IPv6.PacketsReassembled", 1)
	atLeast(t, c, "ICMPv6.Sent.DstUnreachable", 1)
}
