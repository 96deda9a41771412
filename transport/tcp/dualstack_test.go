package tcp_test

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// mapped returns a's IPv4-mapped IPv6 form (RFC 4291 §2.5.5.2).
func mapped(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }

// newTCP6 returns an IPv6 TCP endpoint of s. It is made through the
// protocol instance: the test stacks run no IPv6 network protocol, which
// a dual-stack endpoint talking to IPv4 peers does not need.
func newTCP6(t *testing.T, s *stack.Stack, opts ...any) tcpip.Endpoint {
	t.Helper()
	ep, err := s.TransportProtocolInstance(tcp.ProtocolNumber).NewEndpoint(tcpip.IPv6ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Close)
	for _, o := range opts {
		if err := ep.SetSockOpt(o); err != nil {
			t.Fatalf("SetSockOpt(%T): %v", o, err)
		}
	}
	return ep
}

// exchange writes a message each way between two connected endpoints and
// checks that it arrives.
func (e *env) exchange(a, b tcpip.Endpoint) {
	t := e.t
	t.Helper()
	write(t, a, []byte("from a"))
	e.pump()
	if got := readAll(t, b); !bytes.Equal(got, []byte("from a")) {
		t.Fatalf("b read %q", got)
	}
	write(t, b, []byte("from b"))
	e.pump()
	if got := readAll(t, a); !bytes.Equal(got, []byte("from b")) {
		t.Fatalf("a read %q", got)
	}
}

// onlyIPv4 checks that every segment on the wire since the last call was
// IPv4 between addrA and addrB (the sniffer records IPv4 only, so it also
// checks that there were some).
func (e *env) onlyIPv4() {
	t := e.t
	t.Helper()
	segs := e.sn.take()
	if len(segs) == 0 {
		t.Fatal("no IPv4 segment on the wire")
	}
	for _, s := range segs {
		if (s.src != addrA || s.dst != addrB) && (s.src != addrB || s.dst != addrA) {
			t.Fatalf("segment %v -> %v", s.src, s.dst)
		}
	}
}

// RFC 3493 §3.7, ipv6(7): an IPv6 listener on the wildcard without
// IPV6_V6ONLY accepts IPv4 connections; the connection is IPv4 on the
// wire and its addresses are reported IPv4-mapped.
func TestDualStackListenerAcceptsIPv4(t *testing.T) {
	e := newEnv(t, true)
	l := newTCP6(t, e.b)
	var v6only tcpip.V6OnlyOption = true
	if err := l.GetSockOpt(&v6only); err != nil || v6only {
		t.Fatalf("V6OnlyOption = %v, %v; want false (Linux's bindv6only = 0)", v6only, err)
	}
	if err := l.Bind(tcpip.FullAddress{Addr: netip.IPv6Unspecified(), Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(8); err != nil {
		t.Fatal(err)
	}
	// The wildcard reservation covers IPv4 too.
	if err := newTCP(t, e.b).Bind(tcpip.FullAddress{Port: 80}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("IPv4 Bind of the dual-stack port = %v", err)
	}
	if err := newTCP(t, e.b).Bind(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("IPv4 Bind of an address of the dual-stack port = %v", err)
	}

	cli := newTCP(t, e.a)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect = %v", err)
	}
	e.pump()
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); err != nil {
		t.Fatalf("second Connect = %v", err)
	}
	srv, ra, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(srv.Close)
	cla, _ := cli.LocalAddress()
	if want := mapped(addrA); ra.Addr != want || ra.Port != cla.Port {
		t.Fatalf("Accept's address %v:%d, want %v:%d", ra.Addr, ra.Port, want, cla.Port)
	}
	if got, _ := srv.RemoteAddress(); got.Addr != mapped(addrA) || got.Port != cla.Port {
		t.Fatalf("RemoteAddress = %+v", got)
	}
	if got, _ := srv.LocalAddress(); got.Addr != mapped(addrB) || got.Port != 80 {
		t.Fatalf("LocalAddress = %+v", got)
	}
	if got, _ := cli.RemoteAddress(); got.Addr != addrB || got.Port != 80 {
		t.Fatalf("client's RemoteAddress = %+v", got)
	}
	e.exchange(cli, srv)
	e.onlyIPv4()
	// The accepted connection keeps the listener's V6OnlyOption.
	if err := srv.GetSockOpt(&v6only); err != nil || v6only {
		t.Fatalf("accepted V6OnlyOption = %v, %v", v6only, err)
	}
}

// RFC 3493 §3.7: connecting an IPv6 endpoint to an IPv4-mapped address
// makes an IPv4 connection.
func TestDualStackConnectMapped(t *testing.T) {
	e := newEnv(t, true)
	l := listen(t, e.b, netip.Addr{}, 80, 8)
	cli := newTCP6(t, e.a)
	dst := tcpip.FullAddress{Addr: mapped(addrB), Port: 80}
	if err := cli.Connect(dst); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect = %v", err)
	}
	e.pump()
	if err := cli.Connect(dst); err != nil {
		t.Fatalf("second Connect = %v", err)
	}
	srv := accept(t, l)
	la, _ := cli.LocalAddress()
	if la.Addr != mapped(addrA) || la.Port == 0 {
		t.Fatalf("LocalAddress = %+v", la)
	}
	if ra, _ := cli.RemoteAddress(); ra.Addr != mapped(addrB) || ra.Port != 80 {
		t.Fatalf("RemoteAddress = %+v", ra)
	}
	if ra, _ := srv.RemoteAddress(); ra.Addr != addrA || ra.Port != la.Port {
		t.Fatalf("server's RemoteAddress = %+v, want %v:%d", ra, addrA, la.Port)
	}
	e.exchange(cli, srv)
	e.onlyIPv4()
	// Linux: V6ONLY cannot change once the socket has a port.
	if err := cli.SetSockOpt(tcpip.V6OnlyOption(true)); !errors.Is(err, tcpip.ErrInvalidEndpointState) {
		t.Fatalf("V6OnlyOption on a connection = %v", err)
	}

	// A plain IPv4 address given to an IPv6 endpoint is taken as its
	// mapped form.
	cli2 := newTCP6(t, e.a)
	if err := cli2.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect to a plain IPv4 address = %v", err)
	}
	e.pump()
	if err := cli2.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); err != nil {
		t.Fatalf("second Connect = %v", err)
	}
	if ra, _ := cli2.RemoteAddress(); ra.Addr != mapped(addrB) {
		t.Fatalf("RemoteAddress = %+v", ra)
	}
	accept(t, l)
}

// Binding an IPv4-mapped address makes a dual-stack endpoint IPv4-only
// (Linux's inet6_bind), and an IPv6 destination is then EAFNOSUPPORT.
func TestDualStackBindMapped(t *testing.T) {
	e := newEnv(t, true)
	l := listen(t, e.b, netip.Addr{}, 80, 8)
	cli := newTCP6(t, e.a)
	if err := cli.Bind(tcpip.FullAddress{Addr: mapped(addrA), Port: 5000}); err != nil {
		t.Fatal(err)
	}
	if la, _ := cli.LocalAddress(); la.Addr != mapped(addrA) || la.Port != 5000 {
		t.Fatalf("LocalAddress = %+v", la)
	}
	// The port is taken for IPv4 at that address only.
	if err := newTCP(t, e.a).Bind(tcpip.FullAddress{Addr: addrA, Port: 5000}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("IPv4 Bind of the mapped address's port = %v", err)
	}
	if err := newTCP6(t, e.a, tcpip.V6OnlyOption(true)).Bind(tcpip.FullAddress{Port: 5000}); err != nil {
		t.Fatalf("IPv6-only Bind of the port = %v", err)
	}
	if err := cli.Connect(tcpip.FullAddress{Addr: netip.MustParseAddr("2001:db8::2"), Port: 80}); !errors.Is(err, tcpip.ErrAddressFamily) {
		t.Fatalf("Connect to IPv6 from a mapped address = %v", err)
	}
	if err := cli.Connect(tcpip.FullAddress{Addr: mapped(addrB), Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect = %v", err)
	}
	e.pump()
	srv, ra, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if ra.Addr != addrA || ra.Port != 5000 {
		t.Fatalf("Accept's address %+v", ra)
	}
	e.exchange(cli, srv)
	e.onlyIPv4()

	// A bound IPv6 address cannot reach an IPv4-mapped destination
	// (Linux: ENETUNREACH); nor can a wrong-family address be bound.
	v6 := newTCP6(t, e.a)
	if err := v6.Bind(tcpip.FullAddress{Addr: netip.MustParseAddr("2001:db8::1"), Port: 5001}); !errors.Is(err, tcpip.ErrBadLocalAddress) {
		t.Fatalf("Bind of an address the stack lacks = %v", err)
	}
	if err := newTCP(t, e.a).Bind(tcpip.FullAddress{Addr: netip.MustParseAddr("2001:db8::1")}); !errors.Is(err, tcpip.ErrAddressFamily) {
		t.Fatalf("IPv4 endpoint Bind of an IPv6 address = %v", err)
	}
}

// With IPV6_V6ONLY an IPv6 listener does not see IPv4: a SYN to its port
// draws an RST as a closed port does; a mapped destination is
// unreachable and a mapped address cannot be bound (Linux: ENETUNREACH,
// EINVAL).
func TestV6OnlyRefusesIPv4(t *testing.T) {
	e := newEnv(t, true)
	l := newTCP6(t, e.b, tcpip.V6OnlyOption(true))
	var v6only tcpip.V6OnlyOption
	if err := l.GetSockOpt(&v6only); err != nil || !v6only {
		t.Fatalf("V6OnlyOption = %v, %v", v6only, err)
	}
	if err := l.Bind(tcpip.FullAddress{Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetSockOpt(tcpip.V6OnlyOption(false)); !errors.Is(err, tcpip.ErrInvalidEndpointState) {
		t.Fatalf("V6OnlyOption after Bind = %v", err)
	}
	if err := l.Listen(8); err != nil {
		t.Fatal(err)
	}
	noEP := counter(e.b, "TCP.NoEndpoint")
	cli := newTCP(t, e.a)
	dst := tcpip.FullAddress{Addr: addrB, Port: 80}
	if err := cli.Connect(dst); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect = %v", err)
	}
	e.pump()
	if err := cli.Connect(dst); !errors.Is(err, tcpip.ErrConnectionRefused) {
		t.Fatalf("Connect to a V6ONLY listener over IPv4 = %v", err)
	}
	if got := counter(e.b, "TCP.NoEndpoint") - noEP; got != 1 {
		t.Fatalf("TCP.NoEndpoint grew by %d", got)
	}
	if _, _, err := l.Accept(); !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("Accept = %v", err)
	}
	// IPv4 port 80 is free: an IPv4 listener may take it.
	listen(t, e.b, netip.Addr{}, 80, 8)

	c6 := newTCP6(t, e.a, tcpip.V6OnlyOption(true))
	if err := c6.Connect(tcpip.FullAddress{Addr: mapped(addrB), Port: 80}); !errors.Is(err, tcpip.ErrNetworkUnreachable) {
		t.Fatalf("V6ONLY Connect to a mapped address = %v", err)
	}
	if err := c6.Bind(tcpip.FullAddress{Addr: mapped(addrA)}); !errors.Is(err, tcpip.ErrInvalidArgument) {
		t.Fatalf("V6ONLY Bind of a mapped address = %v", err)
	}
	// IPV6_V6ONLY is an IPv6 option (Linux: ENOPROTOOPT on IPv4).
	if err := newTCP(t, e.a).SetSockOpt(tcpip.V6OnlyOption(true)); !errors.Is(err, tcpip.ErrUnknownProtocolOption) {
		t.Fatalf("V6OnlyOption on IPv4 = %v", err)
	}
}

// sock describes an endpoint of TestBindConflictsAcrossFamilies.
type sock struct {
	v6        bool   // IPv6 endpoint (dual-stack unless v6only)
	v6only    bool   // V6OnlyOption
	addr      string // bound address; "" for the wildcard
	reuseAddr bool   // ReuseAddressOption
	reusePort bool   // ReusePortOption
	listen    bool   // Listen after Bind
}

// open makes the endpoint on s, binds it to port 80 and listens if asked;
// it returns the first error.
func (k sock) open(t *testing.T, s *stack.Stack) error {
	t.Helper()
	var ep tcpip.Endpoint
	if k.v6 {
		ep = newTCP6(t, s, tcpip.V6OnlyOption(k.v6only))
	} else {
		ep = newTCP(t, s)
	}
	for _, o := range []any{tcpip.ReuseAddressOption(k.reuseAddr), tcpip.ReusePortOption(k.reusePort)} {
		if err := ep.SetSockOpt(o); err != nil {
			t.Fatal(err)
		}
	}
	var a netip.Addr
	if k.addr != "" {
		a = netip.MustParseAddr(k.addr)
	}
	if err := ep.Bind(tcpip.FullAddress{Addr: a, Port: 80}); err != nil {
		return err
	}
	if k.listen {
		return ep.Listen(1)
	}
	return nil
}

// bindConflictTest is a row of TestBindConflictsAcrossFamilies: the
// second endpoint's Bind (then Listen, if it listens) beside the first.
type bindConflictTest struct {
	name          string
	first, second sock
	want          error // of the second's Bind or Listen
}

// bindConflictTests are Linux's bind(2) rules for TCP across families
// (inet_csk_bind_conflict with ipv6_only_sock and inet_rcv_saddr_equal):
// a dual-stack IPv6 wildcard overlaps every IPv4 address, an IPV6_V6ONLY
// one none, a mapped address is its IPv4 address; SO_REUSEADDR shares a
// port only with sockets that are not listening; SO_REUSEPORT shares it
// with listeners too. The addresses are 10.0.0.1 (the stack's) and
// 10.0.0.3; TestBindConflictsMatchLinux checks the table against the
// kernel.
var bindConflictTests = func() []bindConflictTest {
	v4any := sock{}
	v4a := sock{addr: "10.0.0.1"}
	dual := sock{v6: true, addr: "::"}
	v6only := sock{v6: true, v6only: true}
	lis := func(k sock) sock { k.listen = true; return k }
	ra := func(k sock) sock { k.reuseAddr = true; return k }
	rp := func(k sock) sock { k.reusePort = true; return k }
	return []bindConflictTest{
		// One family.
		{"wildcard listener, specific", lis(v4any), v4a, tcpip.ErrAddressInUse},
		{"wildcard listener, specific, both SO_REUSEADDR", lis(ra(v4any)), ra(v4a), tcpip.ErrAddressInUse},
		{"wildcard bound, specific, both SO_REUSEADDR", ra(v4any), ra(v4a), nil},
		{"wildcard bound, specific listener, both SO_REUSEADDR", ra(v4any), lis(ra(v4a)), nil},
		{"specific listener, wildcard, both SO_REUSEADDR", lis(ra(v4a)), ra(v4any), tcpip.ErrAddressInUse},
		{"specific listener, other address", lis(v4a), sock{addr: "10.0.0.3"}, nil},
		{"wildcard listener, specific, both SO_REUSEPORT", lis(rp(v4any)), rp(v4a), nil},
		{"wildcard listener, both SO_REUSEPORT listening", lis(rp(v4any)), lis(rp(v4any)), nil},
		{"wildcard listener, specific, all flags", lis(ra(rp(v4any))), ra(rp(v4a)), nil},
		{"two SO_REUSEADDR wildcards, second listens", lis(ra(v4any)), lis(ra(v4any)), tcpip.ErrAddressInUse},
		{"two SO_REUSEADDR wildcards bound", ra(v4any), ra(v4any), nil},
		// Across families.
		{"dual-stack listener, IPv4 wildcard", lis(dual), v4any, tcpip.ErrAddressInUse},
		{"dual-stack listener, IPv4 address, both SO_REUSEADDR", lis(ra(dual)), ra(v4a), tcpip.ErrAddressInUse},
		{"dual-stack bound, IPv4 wildcard, both SO_REUSEADDR", ra(dual), ra(v4any), nil},
		{"dual-stack bound, IPv4 listener, both SO_REUSEADDR", ra(dual), lis(ra(v4any)), nil},
		{"IPv4 listener, dual-stack listener, both SO_REUSEADDR", lis(ra(v4any)), lis(ra(dual)), tcpip.ErrAddressInUse},
		{"IPv4 listener, dual-stack", lis(v4any), dual, tcpip.ErrAddressInUse},
		{"IPv4 address listener, dual-stack wildcard", lis(v4a), sock{v6: true}, tcpip.ErrAddressInUse},
		{"IPv6-only listener, IPv4 wildcard", lis(v6only), v4any, nil},
		{"IPv6-only listener, IPv4 address", lis(v6only), v4a, nil},
		{"IPv4 listener, IPv6-only", lis(v4any), lis(v6only), nil},
		{"IPv6-only listener, dual-stack", lis(v6only), dual, tcpip.ErrAddressInUse},
		{"IPv4 listener, its mapped address", lis(v4a), sock{v6: true, addr: "::ffff:10.0.0.1"}, tcpip.ErrAddressInUse},
		{"IPv4 listener, another mapped address", lis(v4a), sock{v6: true, addr: "::ffff:10.0.0.3"}, nil},
		{"mapped listener, IPv6-only", lis(sock{v6: true, addr: "::ffff:10.0.0.1"}), v6only, nil},
		{"mapped listener, IPv4 wildcard", lis(sock{v6: true, addr: "::ffff:10.0.0.1"}), v4any, tcpip.ErrAddressInUse},
		{"mapped wildcard listener, IPv6-only", lis(sock{v6: true, addr: "::ffff:0.0.0.0"}), v6only, nil},
		{"mapped wildcard listener, dual-stack", lis(sock{v6: true, addr: "::ffff:0.0.0.0"}), dual, tcpip.ErrAddressInUse},
		{"IPv4 listener, mapped wildcard", lis(v4any), sock{v6: true, addr: "::ffff:0.0.0.0"}, tcpip.ErrAddressInUse},
		{"mapped wildcard on IPv6-only", v4a, sock{v6: true, v6only: true, addr: "::ffff:0.0.0.0"}, tcpip.ErrInvalidArgument},
	}
}()

// TestBindConflictsAcrossFamilies runs bindConflictTests on ustack.
func TestBindConflictsAcrossFamilies(t *testing.T) {
	for _, tt := range bindConflictTests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, false)
			if err := e.a.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: netip.MustParsePrefix("10.0.0.3/24")}, stack.AddressProperties{}); err != nil {
				t.Fatal(err)
			}
			if err := tt.first.open(t, e.a); err != nil {
				t.Fatalf("first: %v", err)
			}
			if err := tt.second.open(t, e.a); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("second: %v, want %v", err, tt.want)
			}
		})
	}
}

// ::ffff:0.0.0.0 is IPv4's wildcard: bound by a dual-stack endpoint it
// covers IPv4 only (Linux's inet6_bind), so an IPv6-only wildcard may
// share the port, and an IPv6 destination is EAFNOSUPPORT.
func TestDualStackBindMappedWildcard(t *testing.T) {
	e := newEnv(t, true)
	l := newTCP6(t, e.b)
	if err := l.Bind(tcpip.FullAddress{Addr: mapped(netip.IPv4Unspecified()), Port: 80}); err != nil {
		t.Fatal(err)
	}
	if la, _ := l.LocalAddress(); la.Addr != mapped(netip.IPv4Unspecified()) || la.Port != 80 {
		t.Fatalf("LocalAddress = %+v", la)
	}
	if err := l.Listen(8); err != nil {
		t.Fatal(err)
	}
	if err := newTCP6(t, e.b, tcpip.V6OnlyOption(true)).Bind(tcpip.FullAddress{Port: 80}); err != nil {
		t.Fatalf("IPv6-only Bind beside the IPv4 wildcard = %v", err)
	}
	if err := newTCP(t, e.b).Bind(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("IPv4 Bind beside the mapped wildcard listener = %v", err)
	}
	cli := newTCP(t, e.a)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect = %v", err)
	}
	e.pump()
	srv := accept(t, l)
	if ra, _ := srv.RemoteAddress(); ra.Addr != mapped(addrA) {
		t.Fatalf("RemoteAddress = %+v", ra)
	}
	e.exchange(cli, srv)

	c := newTCP6(t, e.a)
	if err := c.Bind(tcpip.FullAddress{Addr: mapped(netip.IPv4Unspecified())}); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(tcpip.FullAddress{Addr: netip.MustParseAddr("2001:db8::2"), Port: 80}); !errors.Is(err, tcpip.ErrAddressFamily) {
		t.Fatalf("Connect to IPv6 from the mapped wildcard = %v", err)
	}
}

// A listener shut down for reading leaves LISTEN (Linux: CLOSE), and an
// SO_REUSEADDR bind may share its port again; listening again checks the
// port anew.
func TestListenerShutdownSharesPortAgain(t *testing.T) {
	e := newEnv(t, true)
	l := newTCP(t, e.a)
	if err := l.SetSockOpt(tcpip.ReuseAddressOption(true)); err != nil {
		t.Fatal(err)
	}
	if err := l.Bind(tcpip.FullAddress{Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(1); err != nil {
		t.Fatal(err)
	}
	other := newTCP(t, e.a)
	if err := other.SetSockOpt(tcpip.ReuseAddressOption(true)); err != nil {
		t.Fatal(err)
	}
	if err := other.Bind(tcpip.FullAddress{Addr: addrA, Port: 80}); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("SO_REUSEADDR Bind beside a listener = %v", err)
	}
	if err := l.Shutdown(tcpip.ShutdownRead); err != nil {
		t.Fatal(err)
	}
	if err := other.Bind(tcpip.FullAddress{Addr: addrA, Port: 80}); err != nil {
		t.Fatalf("SO_REUSEADDR Bind beside a shut-down listener = %v", err)
	}
	if err := other.Listen(1); err != nil {
		t.Fatalf("Listen beside a shut-down listener = %v", err)
	}
	if err := l.Listen(1); !errors.Is(err, tcpip.ErrAddressInUse) {
		t.Fatalf("listening again beside a listener = %v", err)
	}
	other.Close()
	if err := l.Listen(1); err != nil {
		t.Fatalf("listening again = %v", err)
	}
	cli := newTCP(t, e.b)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrA, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatalf("Connect = %v", err)
	}
	e.pump()
	accept(t, l)
}
