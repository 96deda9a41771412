package stack

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/ustack-go/ustack/tcpip"
)

var (
	portV4   = []tcpip.NetworkProtocolNumber{tcpip.IPv4ProtocolNumber}
	portV6   = []tcpip.NetworkProtocolNumber{tcpip.IPv6ProtocolNumber}
	portDual = []tcpip.NetworkProtocolNumber{tcpip.IPv6ProtocolNumber, tcpip.IPv4ProtocolNumber}
)

// portTestRes is one reservation of a conflict test.
type portTestRes struct {
	netProtos []tcpip.NetworkProtocolNumber
	proto     tcpip.TransportProtocolNumber // 0: TCP
	addr      string                        // "" for the zero Addr
	port      uint16                        // 0: 80
	flags     PortFlags
	device    tcpip.NICID
	dest      string // "" for none, else "addr:port"
}

func (r portTestRes) args(t *testing.T) ([]tcpip.NetworkProtocolNumber, tcpip.TransportProtocolNumber, netip.Addr, uint16, PortFlags, tcpip.NICID, netip.AddrPort) {
	t.Helper()
	proto := r.proto
	if proto == 0 {
		proto = tcpip.TCPProtocolNumber
	}
	port := r.port
	if port == 0 {
		port = 80
	}
	var addr netip.Addr
	if r.addr != "" {
		addr = netip.MustParseAddr(r.addr)
	}
	var dest netip.AddrPort
	if r.dest != "" {
		dest = netip.MustParseAddrPort(r.dest)
	}
	return r.netProtos, proto, addr, port, r.flags, r.device, dest
}

func (r portTestRes) reserve(t *testing.T, pm *PortManager) error {
	t.Helper()
	np, proto, addr, port, flags, dev, dest := r.args(t)
	_, err := pm.ReservePort(np, proto, addr, port, flags, dev, dest, nil)
	return err
}

func (r portTestRes) release(t *testing.T, pm *PortManager) {
	t.Helper()
	np, proto, addr, port, flags, dev, dest := r.args(t)
	pm.ReleasePort(np, proto, addr, port, flags, dev, dest)
}

func (r portTestRes) available(t *testing.T, pm *PortManager) bool {
	t.Helper()
	np, proto, addr, port, flags, dev, dest := r.args(t)
	return pm.IsPortAvailable(np, proto, addr, port, flags, dev, dest)
}

var (
	portReuseAddr = PortFlags{ReuseAddress: true}
	portReusePort = PortFlags{LoadBalanced: true}
	portBoth      = PortFlags{ReuseAddress: true, LoadBalanced: true}
	portTuple     = PortFlags{TupleOnly: true}
	// portListenReuseAddr is a TCP listener's reservation with
	// SO_REUSEADDR.
	portListenReuseAddr = PortFlags{ReuseAddress: true, Listening: true}
)

func TestPortConflictRules(t *testing.T) {
	tests := []struct {
		name   string
		first  portTestRes
		second portTestRes
		want   error // of the second reservation
	}{
		{"same address", portTestRes{netProtos: portV4, addr: "10.0.0.1"}, portTestRes{netProtos: portV4, addr: "10.0.0.1"}, tcpip.ErrAddressInUse},
		{"different addresses", portTestRes{netProtos: portV4, addr: "10.0.0.1"}, portTestRes{netProtos: portV4, addr: "10.0.0.2"}, nil},
		{"different ports", portTestRes{netProtos: portV4, addr: "10.0.0.1"}, portTestRes{netProtos: portV4, addr: "10.0.0.1", port: 81}, nil},
		{"different transports", portTestRes{netProtos: portV4, addr: "10.0.0.1"}, portTestRes{netProtos: portV4, addr: "10.0.0.1", proto: tcpip.UDPProtocolNumber}, nil},
		{"wildcard then specific", portTestRes{netProtos: portV4}, portTestRes{netProtos: portV4, addr: "10.0.0.1"}, tcpip.ErrAddressInUse},
		{"specific then wildcard", portTestRes{netProtos: portV4, addr: "10.0.0.1"}, portTestRes{netProtos: portV4}, tcpip.ErrAddressInUse},
		{"unspecified is wildcard", portTestRes{netProtos: portV4, addr: "0.0.0.0"}, portTestRes{netProtos: portV4, addr: "10.0.0.1"}, tcpip.ErrAddressInUse},
		{"two wildcards", portTestRes{netProtos: portV4}, portTestRes{netProtos: portV4, addr: "0.0.0.0"}, tcpip.ErrAddressInUse},
		{"v4 wildcard, v6 address", portTestRes{netProtos: portV4}, portTestRes{netProtos: portV6, addr: "2001:db8::1"}, nil},
		{"v6-only wildcard, v4 address", portTestRes{netProtos: portV6, addr: "::"}, portTestRes{netProtos: portV4, addr: "10.0.0.1"}, nil},
		{"dual-stack wildcard, v4 address", portTestRes{netProtos: portDual, addr: "::"}, portTestRes{netProtos: portV4, addr: "10.0.0.1"}, tcpip.ErrAddressInUse},
		{"v4 address, dual-stack wildcard", portTestRes{netProtos: portV4, addr: "10.0.0.1"}, portTestRes{netProtos: portDual}, tcpip.ErrAddressInUse},
		{"v4 wildcard, dual-stack wildcard", portTestRes{netProtos: portV4, addr: "0.0.0.0"}, portTestRes{netProtos: portDual, addr: "::"}, tcpip.ErrAddressInUse},
		{"dual-stack wildcard, v6 address", portTestRes{netProtos: portDual}, portTestRes{netProtos: portV6, addr: "2001:db8::1"}, tcpip.ErrAddressInUse},
		{"v4-mapped is v4", portTestRes{netProtos: portDual, addr: "::ffff:10.0.0.1"}, portTestRes{netProtos: portV4, addr: "10.0.0.1"}, tcpip.ErrAddressInUse},
		{"v4-mapped, other v4", portTestRes{netProtos: portDual, addr: "::ffff:10.0.0.1"}, portTestRes{netProtos: portV4, addr: "10.0.0.2"}, nil},
		{"v4-mapped on v6-only", portTestRes{netProtos: portV4, addr: "10.0.0.9"}, portTestRes{netProtos: portV6, addr: "::ffff:10.0.0.1"}, tcpip.ErrInvalidArgument},
		{"v4 address on v6 protocol", portTestRes{netProtos: portV4, addr: "10.0.0.9"}, portTestRes{netProtos: portV6, addr: "10.0.0.1"}, tcpip.ErrInvalidArgument},
		{"no protocols", portTestRes{netProtos: portV4, addr: "10.0.0.9"}, portTestRes{addr: "10.0.0.1"}, tcpip.ErrInvalidArgument},
		{"zone ignored", portTestRes{netProtos: portV6, addr: "fe80::1%eth0"}, portTestRes{netProtos: portV6, addr: "fe80::1"}, tcpip.ErrAddressInUse},
		{"both SO_REUSEADDR", portTestRes{netProtos: portV4, flags: portReuseAddr}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portReuseAddr}, nil},
		{"first SO_REUSEADDR only", portTestRes{netProtos: portV4, flags: portReuseAddr}, portTestRes{netProtos: portV4}, tcpip.ErrAddressInUse},
		{"second SO_REUSEADDR only", portTestRes{netProtos: portV4}, portTestRes{netProtos: portV4, flags: portReuseAddr}, tcpip.ErrAddressInUse},
		{"both SO_REUSEPORT", portTestRes{netProtos: portV4, flags: portReusePort}, portTestRes{netProtos: portV4, flags: portReusePort}, nil},
		{"first SO_REUSEPORT only", portTestRes{netProtos: portV4, flags: portReusePort}, portTestRes{netProtos: portV4}, tcpip.ErrAddressInUse},
		{"SO_REUSEPORT vs SO_REUSEADDR", portTestRes{netProtos: portV4, flags: portReusePort}, portTestRes{netProtos: portV4, flags: portReuseAddr}, tcpip.ErrAddressInUse},
		{"both flags vs SO_REUSEADDR", portTestRes{netProtos: portV4, flags: portBoth}, portTestRes{netProtos: portV4, flags: portReuseAddr}, nil},
		{"both flags vs SO_REUSEPORT", portTestRes{netProtos: portV4, flags: portBoth}, portTestRes{netProtos: portV4, flags: portReusePort}, nil},
		{"SO_REUSEADDR against a listener", portTestRes{netProtos: portV4, flags: portListenReuseAddr}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portReuseAddr}, tcpip.ErrAddressInUse},
		{"listener against SO_REUSEADDR", portTestRes{netProtos: portV4, flags: portReuseAddr}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portListenReuseAddr}, nil},
		{"SO_REUSEADDR against a dual-stack listener", portTestRes{netProtos: portDual, flags: portListenReuseAddr}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portReuseAddr}, tcpip.ErrAddressInUse},
		{"SO_REUSEADDR against an IPv6-only listener", portTestRes{netProtos: portV6, flags: portListenReuseAddr}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portReuseAddr}, nil},
		{"SO_REUSEPORT against a listener", portTestRes{netProtos: portV4, flags: PortFlags{LoadBalanced: true, Listening: true}}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portReusePort}, nil},
		{"both flags against a listener", portTestRes{netProtos: portV4, flags: PortFlags{ReuseAddress: true, LoadBalanced: true, Listening: true}}, portTestRes{netProtos: portV4, flags: portBoth}, nil},
		{"SO_REUSEADDR tuple against a listener", portTestRes{netProtos: portV4, flags: portListenReuseAddr}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: PortFlags{TupleOnly: true, ReuseAddress: true}, dest: "10.0.0.2:443"}, tcpip.ErrAddressInUse},
		{"different devices", portTestRes{netProtos: portV4, device: 1}, portTestRes{netProtos: portV4, device: 2}, nil},
		{"same device", portTestRes{netProtos: portV4, device: 1}, portTestRes{netProtos: portV4, device: 1}, tcpip.ErrAddressInUse},
		{"device then none", portTestRes{netProtos: portV4, device: 1}, portTestRes{netProtos: portV4}, tcpip.ErrAddressInUse},
		{"none then device", portTestRes{netProtos: portV4}, portTestRes{netProtos: portV4, device: 2}, tcpip.ErrAddressInUse},
		{"same device, SO_REUSEPORT", portTestRes{netProtos: portV4, device: 1, flags: portReusePort}, portTestRes{netProtos: portV4, device: 1, flags: portReusePort}, nil},
		{"tuples, different destinations", portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:443"}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:444"}, nil},
		{"tuples, different remote addresses", portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:443"}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.3:443"}, nil},
		{"tuples, identical", portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:443"}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:443"}, tcpip.ErrAddressInUse},
		{"tuples, identical with reuse flags", portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: PortFlags{TupleOnly: true, ReuseAddress: true, LoadBalanced: true}, dest: "10.0.0.2:443"}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: PortFlags{TupleOnly: true, ReuseAddress: true, LoadBalanced: true}, dest: "10.0.0.2:443"}, tcpip.ErrAddressInUse},
		{"tuples, v4-mapped destination", portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:443"}, portTestRes{netProtos: portDual, addr: "::ffff:10.0.0.1", flags: portTuple, dest: "[::ffff:10.0.0.2]:443"}, tcpip.ErrAddressInUse},
		{"tuples, different local addresses", portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:443"}, portTestRes{netProtos: portV4, addr: "10.0.0.5", flags: portTuple, dest: "10.0.0.2:443"}, nil},
		{"tuples, wildcard local", portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:443"}, portTestRes{netProtos: portV4, flags: portTuple, dest: "10.0.0.2:443"}, tcpip.ErrAddressInUse},
		{"tuple after bound", portTestRes{netProtos: portV4}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:443"}, tcpip.ErrAddressInUse},
		{"bound after tuple", portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:443"}, portTestRes{netProtos: portV4, addr: "10.0.0.1"}, tcpip.ErrAddressInUse},
		{"tuple after bound, both SO_REUSEADDR", portTestRes{netProtos: portV4, flags: portReuseAddr}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: PortFlags{TupleOnly: true, ReuseAddress: true}, dest: "10.0.0.2:443"}, nil},
		{"bound after tuple, both SO_REUSEADDR", portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: PortFlags{TupleOnly: true, ReuseAddress: true}, dest: "10.0.0.2:443"}, portTestRes{netProtos: portV4, flags: portReuseAddr}, nil},
		{"tuple after bound elsewhere", portTestRes{netProtos: portV4, addr: "10.0.0.7"}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, dest: "10.0.0.2:443"}, nil},
		{"tuple on other device", portTestRes{netProtos: portV4, device: 1}, portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portTuple, device: 2, dest: "10.0.0.2:443"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm := NewPortManager(1, nil)
			if err := tt.first.reserve(t, pm); err != nil {
				t.Fatalf("first reservation: %v", err)
			}
			if got := tt.second.available(t, pm); got != (tt.want == nil) {
				t.Errorf("IsPortAvailable = %v, want %v", got, tt.want == nil)
			}
			if err := tt.second.reserve(t, pm); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("second reservation: %v, want %v", err, tt.want)
			}
			// Releasing the first reservation frees the port for
			// the second whatever the flags.
			if tt.want == tcpip.ErrAddressInUse {
				tt.first.release(t, pm)
				if err := tt.second.reserve(t, pm); err != nil {
					t.Fatalf("second reservation after release: %v", err)
				}
				tt.second.release(t, pm)
			} else {
				tt.first.release(t, pm)
				if tt.want == nil {
					tt.second.release(t, pm)
				}
			}
			if n := len(pm.buckets); n != 0 {
				t.Errorf("%d buckets left after releasing everything", n)
			}
		})
	}
}

// TestPortSharingIsPairwise checks that SO_REUSEPORT must be set by every
// reservation sharing a port, not only by the first.
func TestPortSharingIsPairwise(t *testing.T) {
	pm := NewPortManager(1, nil)
	a := portTestRes{netProtos: portV4, flags: portBoth}
	b := portTestRes{netProtos: portV4, flags: portReuseAddr}
	c := portTestRes{netProtos: portV4, flags: portReusePort}
	if err := a.reserve(t, pm); err != nil {
		t.Fatal(err)
	}
	if err := b.reserve(t, pm); err != nil {
		t.Fatal(err)
	}
	if err := c.reserve(t, pm); err != tcpip.ErrAddressInUse {
		t.Fatalf("SO_REUSEPORT beside an SO_REUSEADDR-only reservation: %v, want ErrAddressInUse", err)
	}
	b.release(t, pm)
	if err := c.reserve(t, pm); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestPortReleaseCountsReferences(t *testing.T) {
	pm := NewPortManager(1, nil)
	shared := portTestRes{netProtos: portDual, flags: portReusePort}
	other := portTestRes{netProtos: portV4, addr: "10.0.0.1"}
	for range 3 {
		if err := shared.reserve(t, pm); err != nil {
			t.Fatal(err)
		}
	}
	// Releasing what is not reserved changes nothing.
	other.release(t, pm)
	portTestRes{netProtos: portV4, port: 99}.release(t, pm)
	for i := range 3 {
		if other.available(t, pm) {
			t.Fatalf("port free after %d of 3 releases", i)
		}
		shared.release(t, pm)
	}
	if !other.available(t, pm) {
		t.Fatal("port still reserved after every release")
	}
	if !(portTestRes{netProtos: portV6, addr: "2001:db8::1"}).available(t, pm) {
		t.Fatal("dual-stack release left the IPv6 reservation")
	}
	if n := len(pm.buckets); n != 0 {
		t.Errorf("%d buckets left", n)
	}
}

func TestPortRange(t *testing.T) {
	pm := NewPortManager(1, nil)
	if first, last := pm.PortRange(); first != 32768 || last != 60999 {
		t.Fatalf("default range %d-%d, want 32768-60999", first, last)
	}
	for _, r := range [][2]uint16{{0, 10}, {100, 99}, {0, 0}} {
		if err := pm.SetPortRange(r[0], r[1]); err != tcpip.ErrInvalidArgument {
			t.Errorf("SetPortRange(%d, %d) = %v, want ErrInvalidArgument", r[0], r[1], err)
		}
	}
	if err := pm.SetPortRange(5000, 5000); err != nil {
		t.Fatal(err)
	}
	if first, last := pm.PortRange(); first != 5000 || last != 5000 {
		t.Fatalf("range %d-%d, want 5000-5000", first, last)
	}
	if err := pm.SetPortRange(1, 65535); err != nil {
		t.Fatal(err)
	}
	// The widest range works (no overflow of its size).
	p, err := pm.ReservePort(portV4, tcpip.UDPProtocolNumber, netip.Addr{}, 0, PortFlags{}, 0, netip.AddrPort{}, nil)
	if err != nil || p == 0 {
		t.Fatalf("ReservePort over 1-65535 = %d, %v", p, err)
	}
	if pm.IsPortAvailable(portV4, tcpip.UDPProtocolNumber, netip.Addr{}, 0, PortFlags{}, 0, netip.AddrPort{}) {
		t.Error("port 0 reported available")
	}
}

// portReserveEphemeral reserves an ephemeral port and fails the test on
// error.
func portReserveEphemeral(t *testing.T, pm *PortManager, addr string, dest string, flags PortFlags) uint16 {
	t.Helper()
	r := portTestRes{netProtos: portV4, addr: addr, dest: dest, flags: flags}
	np, proto, a, _, f, dev, d := r.args(t)
	p, err := pm.ReservePort(np, proto, a, 0, f, dev, d, nil)
	if err != nil {
		t.Fatalf("ReservePort(%s → %s): %v", addr, dest, err)
	}
	first, last := pm.PortRange()
	if p < first || p > last {
		t.Fatalf("port %d outside %d-%d", p, first, last)
	}
	return p
}

func TestPortEphemeralUnconnectedExhaustion(t *testing.T) {
	pm := NewPortManager(7, nil)
	if err := pm.SetPortRange(40000, 40009); err != nil {
		t.Fatal(err)
	}
	seen := map[uint16]bool{}
	for range 10 {
		p := portReserveEphemeral(t, pm, "10.0.0.1", "", PortFlags{})
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	_, err := pm.ReservePort(portV4, tcpip.TCPProtocolNumber, netip.MustParseAddr("10.0.0.1"), 0, PortFlags{}, 0, netip.AddrPort{}, nil)
	if err != tcpip.ErrNoPortAvailable {
		t.Fatalf("11th reservation of 10 ports: %v, want ErrNoPortAvailable", err)
	}
	// Another address still has every port.
	portReserveEphemeral(t, pm, "10.0.0.2", "", PortFlags{})
	// Freeing one port makes it the only choice.
	pm.ReleasePort(portV4, tcpip.TCPProtocolNumber, netip.MustParseAddr("10.0.0.1"), 40004, PortFlags{}, 0, netip.AddrPort{})
	if p := portReserveEphemeral(t, pm, "10.0.0.1", "", PortFlags{}); p != 40004 {
		t.Fatalf("got port %d, want the only free one 40004", p)
	}
}

func TestPortEphemeralUnconnectedRandomStart(t *testing.T) {
	// RFC 6056 §3.3.1: unconnected picks start at random; successive
	// picks must not simply count up.
	pm := NewPortManager(3, nil)
	var sequential int
	prev := portReserveEphemeral(t, pm, "", "", PortFlags{})
	for range 100 {
		p := portReserveEphemeral(t, pm, "", "", PortFlags{})
		if p == prev+1 {
			sequential++
		}
		prev = p
	}
	if sequential > 5 {
		t.Errorf("%d of 100 picks were the previous port + 1", sequential)
	}
}

func TestPortEphemeralConnected(t *testing.T) {
	pm := NewPortManager(11, nil)
	first, last := pm.PortRange()

	// Spread: one connection to each of 1000 destinations lands all
	// over the range (RFC 6056 §3.3.4: each destination has its own
	// secret offset).
	const buckets = 16
	var hist [buckets]int
	ports := map[uint16]int{}
	for i := range 1000 {
		dest := fmt.Sprintf("192.0.2.%d:%d", i%250+1, 443+i/250)
		p := portReserveEphemeral(t, pm, "10.0.0.1", dest, portTuple)
		hist[int(p-first)*buckets/(int(last-first)+1)]++
		ports[p]++
	}
	for i, n := range hist {
		if n < 1000/buckets/3 {
			t.Errorf("range slice %d got %d of 1000 ports: %v", i, n, hist)
		}
	}
	if len(ports) < 950 {
		t.Errorf("only %d distinct ports over 1000 destinations", len(ports))
	}

	// Successive connections to one destination get distinct ports,
	// none reused while reserved.
	seen := map[uint16]bool{}
	for range 200 {
		p := portReserveEphemeral(t, pm, "10.0.0.1", "198.51.100.1:80", portTuple)
		if seen[p] {
			t.Fatalf("port %d reused for the same destination", p)
		}
		seen[p] = true
	}
}

func TestPortEphemeralConnectedSharesPorts(t *testing.T) {
	// A connected reservation needs only its 4-tuple: with one port in
	// the range, every destination gets it, and a second connection to
	// the same destination finds none.
	pm := NewPortManager(5, nil)
	if err := pm.SetPortRange(50000, 50000); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		p := portReserveEphemeral(t, pm, "10.0.0.1", fmt.Sprintf("192.0.2.1:%d", 1000+i), portTuple)
		if p != 50000 {
			t.Fatalf("port %d", p)
		}
	}
	_, err := pm.ReservePort(portV4, tcpip.TCPProtocolNumber, netip.MustParseAddr("10.0.0.1"), 0, portTuple, 0, netip.MustParseAddrPort("192.0.2.1:1000"), nil)
	if err != tcpip.ErrNoPortAvailable {
		t.Fatalf("same 4-tuple again: %v, want ErrNoPortAvailable", err)
	}
	// A listener can no longer take the port.
	if err := (portTestRes{netProtos: portV4, port: 50000}).reserve(t, pm); err != tcpip.ErrAddressInUse {
		t.Fatalf("bind over connections: %v, want ErrAddressInUse", err)
	}
}

func TestPortEphemeralDeterministic(t *testing.T) {
	run := func(seed uint32) []uint16 {
		var ctr uint32
		pm := NewPortManager(seed, func() uint32 { ctr = ctr*1664525 + 1013904223; return ctr })
		var ports []uint16
		for i := range 50 {
			dest := ""
			if i%2 == 0 {
				dest = fmt.Sprintf("192.0.2.%d:53", i+1)
			}
			flags := PortFlags{}
			if dest != "" {
				flags = portTuple
			}
			ports = append(ports, portReserveEphemeral(t, pm, "10.0.0.1", dest, flags))
		}
		return ports
	}
	a, b, c := run(1), run(1), run(2)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same seed and random sequence, different ports:\n%v\n%v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatalf("different seeds, same ports: %v", a)
	}
}

func TestPortTestPort(t *testing.T) {
	pm := NewPortManager(9, nil)
	if err := pm.SetPortRange(1000, 1009); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("10.0.0.1")
	dest := netip.MustParseAddrPort("10.0.0.2:80")

	// Rejections move on to the next candidate; every candidate is
	// offered once.
	var offered []uint16
	p, err := pm.ReservePort(portV4, tcpip.TCPProtocolNumber, addr, 0, portTuple, 0, dest, func(port uint16) (bool, error) {
		offered = append(offered, port)
		return port == 1007, nil
	})
	if err != nil || p != 1007 {
		t.Fatalf("ReservePort = %d, %v; want 1007", p, err)
	}
	if len(offered) == 0 || offered[len(offered)-1] != 1007 {
		t.Fatalf("offered %v", offered)
	}

	// Rejecting every port exhausts the range, offering each once.
	offered = offered[:0]
	_, err = pm.ReservePort(portV4, tcpip.TCPProtocolNumber, addr, 0, PortFlags{}, 0, netip.AddrPort{}, func(port uint16) (bool, error) {
		offered = append(offered, port)
		return false, nil
	})
	if err != tcpip.ErrNoPortAvailable {
		t.Fatalf("all rejected: %v", err)
	}
	// 1007 is taken by a tuple without sharing flags, so a bound
	// reservation is not offered it.
	if len(offered) != 9 {
		t.Fatalf("offered %d ports, want 9: %v", len(offered), offered)
	}

	// An error aborts at once and is returned as is.
	boom := errors.New("boom")
	calls := 0
	_, err = pm.ReservePort(portV4, tcpip.TCPProtocolNumber, addr, 0, PortFlags{}, 0, netip.AddrPort{}, func(uint16) (bool, error) {
		calls++
		return false, boom
	})
	if err != boom || calls != 1 {
		t.Fatalf("err %v after %d calls, want boom after 1", err, calls)
	}

	// A fixed port is offered too.
	_, err = pm.ReservePort(portV4, tcpip.TCPProtocolNumber, addr, 2000, PortFlags{}, 0, netip.AddrPort{}, func(port uint16) (bool, error) {
		return port != 2000, nil
	})
	if err != tcpip.ErrAddressInUse {
		t.Fatalf("fixed port rejected by testPort: %v, want ErrAddressInUse", err)
	}
	if !pm.IsPortAvailable(portV4, tcpip.TCPProtocolNumber, addr, 2000, PortFlags{}, 0, netip.AddrPort{}) {
		t.Fatal("rejected port was reserved")
	}
}

func TestPortConcurrent(t *testing.T) {
	pm := NewPortManager(13, nil)
	if err := pm.SetPortRange(20000, 21999); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 200
	type res struct {
		port  uint16
		flags PortFlags
		dest  netip.AddrPort
	}
	held := make([][]res, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var dest netip.AddrPort
				flags := PortFlags{}
				if i%2 == 1 {
					// Connected reservations to destinations of
					// this worker only.
					dest = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(w)}), uint16(i))
					flags = portTuple
				}
				p, err := pm.ReservePort(portDual, tcpip.UDPProtocolNumber, netip.Addr{}, 0, flags, 0, dest, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if pm.IsPortAvailable(portV4, tcpip.UDPProtocolNumber, netip.Addr{}, p, PortFlags{}, 0, netip.AddrPort{}) {
					t.Errorf("port %d available right after its reservation", p)
				}
				held[w] = append(held[w], res{p, flags, dest})
				if i%10 == 0 {
					pm.PortRange()
				}
			}
		}()
	}
	wg.Wait()
	unshared := map[uint16]int{}
	for _, rs := range held {
		for _, r := range rs {
			if !r.flags.TupleOnly {
				unshared[r.port]++
			}
		}
	}
	for p, n := range unshared {
		if n > 1 {
			t.Errorf("unshared port %d handed out %d times", p, n)
		}
	}
	if len(unshared) != workers*each/2 {
		t.Errorf("%d distinct unconnected reservations, want %d", len(unshared), workers*each/2)
	}
	// Release everything concurrently, with more reservations and
	// releases going on.
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, r := range held[w] {
				pm.ReleasePort(portDual, tcpip.UDPProtocolNumber, netip.Addr{}, r.port, r.flags, 0, r.dest)
				p, err := pm.ReservePort(portV4, tcpip.TCPProtocolNumber, netip.Addr{}, 0, PortFlags{}, 0, netip.AddrPort{}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				pm.ReleasePort(portV4, tcpip.TCPProtocolNumber, netip.Addr{}, p, PortFlags{}, 0, netip.AddrPort{})
			}
		}()
	}
	wg.Wait()
	if n := len(pm.buckets); n != 0 {
		t.Errorf("%d buckets left after releasing everything", n)
	}
}

// ReplacePort marks a reservation Listening only if no overlapping
// reservation listens already (Linux's listen(2) checks the port again),
// and leaves it as it was when refused.
func TestReplacePort(t *testing.T) {
	pm := NewPortManager(1, nil)
	wild := portTestRes{netProtos: portDual, flags: portReuseAddr}
	spec := portTestRes{netProtos: portV4, addr: "10.0.0.1", flags: portReuseAddr}
	for _, r := range []portTestRes{wild, spec} {
		if err := r.reserve(t, pm); err != nil {
			t.Fatal(err)
		}
	}
	replace := func(r portTestRes, to PortFlags) error {
		np, proto, addr, port, flags, dev, dest := r.args(t)
		return pm.ReplacePort(np, proto, addr, port, flags, to, dev, dest)
	}
	if err := replace(wild, portListenReuseAddr); err != nil {
		t.Fatalf("first listener: %v", err)
	}
	if err := replace(spec, portListenReuseAddr); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("second listener = %v", err)
	}
	// spec kept its flags: releasing them frees its address, and a
	// plain SO_REUSEADDR reservation of it now meets the listener.
	spec.release(t, pm)
	if spec.available(t, pm) {
		t.Fatal("SO_REUSEADDR reservation beside a listener available")
	}
	listening := wild
	listening.flags = portListenReuseAddr
	listening.release(t, pm)
	if !spec.available(t, pm) || !wild.available(t, pm) {
		t.Fatal("port not free after the releases")
	}
	if n := len(pm.buckets); n != 0 {
		t.Fatalf("%d buckets left", n)
	}
}

// TestPortTuplesOneToMany walks a port's connected (TupleOnly)
// reservations from one key, kept without a map, to several and back:
// each reservation must keep conflicting with its own 4-tuple and stop
// once released, whichever form holds it.
func TestPortTuplesOneToMany(t *testing.T) {
	pm := NewPortManager(1, nil)
	local := netip.MustParseAddr("10.0.0.1")
	dests := []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.2:443"),
		netip.MustParseAddrPort("10.0.0.3:443"),
		netip.MustParseAddrPort("10.0.0.4:443"),
	}
	const port = 40000
	reserve := func(d netip.AddrPort) error {
		_, err := pm.ReservePort(portV4, 6, local, port, portTuple, 0, d, nil)
		return err
	}
	release := func(d netip.AddrPort) { pm.ReleasePort(portV4, 6, local, port, portTuple, 0, d) }
	free := func(d netip.AddrPort) bool { return pm.IsPortAvailable(portV4, 6, local, port, portTuple, 0, d) }
	for i, d := range dests {
		if err := reserve(d); err != nil {
			t.Fatalf("reserve %v: %v", d, err)
		}
		for j, e := range dests {
			if want := j > i; free(e) != want {
				t.Errorf("after reserving %d: %v available = %v, want %v", i+1, e, !want, want)
			}
		}
		if err := reserve(d); err == nil {
			t.Errorf("second reservation of %v succeeded", d)
		}
	}
	// Release in another order, through the map and back to one key.
	for n, i := range []int{1, 0, 2} {
		release(dests[i])
		if !free(dests[i]) {
			t.Errorf("%v still taken after release", dests[i])
		}
		if n < 2 && free(dests[2]) {
			t.Errorf("%v free while still reserved", dests[2])
		}
	}
	for _, d := range dests {
		if err := reserve(d); err != nil {
			t.Errorf("reserve %v again: %v", d, err)
		}
	}
}
