package gonet_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
	"github.com/ustack-go/ustack/transport/udp"
)

// IPv6 addresses of A and B in the dual-stack tests (fd00::/64 on-link).
var (
	addrA6 = netip.MustParseAddr("fd00::1")
	addrB6 = netip.MustParseAddr("fd00::2")
)

// dualHosts returns two stacks A (addrA) and B (addrB) joined by a pipe of
// Ethernet frames, running IPv4, ARP, TCP and UDP and, if v6, IPv6 with
// addrA6 and addrB6, so that gonet makes dual-stack IPv6 endpoints.
func dualHosts(t *testing.T, v6 bool) (a, b *stack.Stack) {
	t.Helper()
	leakcheck.Check(t)
	linkA, linkB := pipe.New(pipe.Config{})
	mk := func(link stack.LinkEndpoint, addr, addr6 netip.Addr) *stack.Stack {
		nets := []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol}
		if v6 {
			nets = append(nets, ipv6.NewProtocol)
		}
		s := stack.New(stack.Options{
			NetworkProtocols:   nets,
			TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
		})
		t.Cleanup(s.Close)
		if err := s.CreateNIC(1, ethernet.New(link)); err != nil {
			t.Fatal(err)
		}
		pa := tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: netip.PrefixFrom(addr, subnet.Bits())}
		if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddRoute(tcpip.Route{Destination: subnet, NIC: 1}); err != nil {
			t.Fatal(err)
		}
		if v6 {
			p := netip.PrefixFrom(addr6, 64)
			if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv6ProtocolNumber, Address: p}, stack.AddressProperties{}); err != nil {
				t.Fatal(err)
			}
			if err := s.AddRoute(tcpip.Route{Destination: p.Masked(), NIC: 1}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	return mk(linkA, addrA, addrA6), mk(linkB, addrB, addrB6)
}

// mapped returns a's IPv4-mapped IPv6 form (RFC 4291 §2.5.5.2).
func mapped(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }

// acceptRecorder is a net.Listener that records the remote addresses of
// the connections it accepts.
type acceptRecorder struct {
	net.Listener
	remotes chan netip.AddrPort
}

func (l acceptRecorder) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		select {
		case l.remotes <- c.(*gonet.TCPConn).RemoteAddrPort():
		default:
		}
	}
	return c, err
}

// A net/http server on a dual-stack listener ([::]:80, an IPv6 endpoint
// without V6ONLY) serves an IPv4 client, whose address the server sees
// IPv4-mapped as package net's IPv6 sockets show it, and an IPv6 client.
func TestDualStackHTTPServesBothFamilies(t *testing.T) {
	a, b := dualHosts(t, true)
	l, err := gonet.ListenTCP(b, netip.AddrPortFrom(netip.IPv6Unspecified(), 80), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if got := l.Addr().String(); got != "[::]:80" {
		t.Fatalf("listener Addr = %s, want [::]:80", got)
	}
	// The port is taken for IPv4 as well.
	if _, err := gonet.ListenTCP(b, netip.AddrPortFrom(netip.IPv4Unspecified(), 80), 0); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("IPv4 ListenTCP of the dual-stack port = %v", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.RemoteAddr)
	})
	srv := &http.Server{Handler: mux}
	rec := acceptRecorder{Listener: l, remotes: make(chan netip.AddrPort, 1)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(rec) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()

	client := httpClient(a)
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://192.0.2.2/hello")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET = %d %q, %v", resp.StatusCode, body, err)
	}
	remote := <-rec.remotes
	if remote.Addr() != mapped(addrA) {
		t.Fatalf("accepted connection from %v, want %v", remote, mapped(addrA))
	}
	// package net prints a mapped address in its IPv4 form.
	if want := fmt.Sprintf("hello %s:%d", addrA, remote.Port()); string(body) != want {
		t.Fatalf("GET body %q, want %q", body, want)
	}

	// The same listener serves IPv6.
	resp, err = client.Get("http://[fd00::2]/hello")
	if err != nil {
		t.Fatalf("GET over IPv6: %v", err)
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	remote = <-rec.remotes
	if err != nil || remote.Addr() != addrA6 || string(body) != fmt.Sprintf("hello [%s]:%d", addrA6, remote.Port()) {
		t.Fatalf("GET over IPv6 = %q, %v, from %v", body, err, remote)
	}
}

// DialTCP picks the endpoint's family from the address: an IPv4 address
// dials from an IPv4 endpoint, an IPv4-mapped one from a dual-stack IPv6
// endpoint whose addresses are mapped.
func TestDualStackDialTCP(t *testing.T) {
	a, b := dualHosts(t, true)
	l, err := gonet.ListenTCP(b, netip.AddrPortFrom(netip.IPv4Unspecified(), 80), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, tt := range []struct {
		raddr, wantRemote netip.AddrPort
		wantLocal         netip.Addr
	}{
		{netip.AddrPortFrom(addrB, 80), netip.AddrPortFrom(addrB, 80), addrA},
		{netip.AddrPortFrom(mapped(addrB), 80), netip.AddrPortFrom(mapped(addrB), 80), mapped(addrA)},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := gonet.DialContextTCP(ctx, a, netip.AddrPort{}, tt.raddr, 0)
		cancel()
		if err != nil {
			t.Fatalf("Dial %v: %v", tt.raddr, err)
		}
		if c.RemoteAddrPort() != tt.wantRemote || c.LocalAddrPort().Addr() != tt.wantLocal {
			t.Errorf("Dial %v: %v -> %v, want %v -> %v", tt.raddr, c.LocalAddrPort(), c.RemoteAddrPort(), tt.wantLocal, tt.wantRemote)
		}
		if got := c.RemoteAddr().(*net.TCPAddr).AddrPort(); got != tt.wantRemote {
			t.Errorf("RemoteAddr %v, want %v", got, tt.wantRemote)
		}
		c.Close()
	}
}

// A dual-stack UDP socket ([::]:53) answers an IPv4 client: the sender is
// reported mapped, and the reply goes out over IPv4.
func TestDualStackUDP(t *testing.T) {
	a, b := dualHosts(t, true)
	srv, err := gonet.ListenUDP(b, netip.AddrPortFrom(netip.IPv6Unspecified(), 53), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if _, err := gonet.ListenUDP(b, netip.AddrPortFrom(addrB, 53), 0); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("IPv4 ListenUDP of the dual-stack port = %v", err)
	}
	for _, raddr := range []netip.AddrPort{netip.AddrPortFrom(addrB, 53), netip.AddrPortFrom(mapped(addrB), 53)} {
		cli, err := gonet.DialUDP(a, netip.AddrPort{}, raddr, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Write([]byte("query")); err != nil {
			t.Fatal(err)
		}
		srv.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 100)
		n, from, err := srv.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "query" {
			t.Fatalf("ReadFrom = %q, %v", buf[:n], err)
		}
		ap := from.(*net.UDPAddr).AddrPort()
		if want := netip.AddrPortFrom(mapped(addrA), cli.LocalAddrPort().Port()); ap != want {
			t.Fatalf("datagram from %v, want %v", ap, want)
		}
		if _, err := srv.WriteTo([]byte("answer"), from); err != nil {
			t.Fatal(err)
		}
		cli.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err = cli.Read(buf)
		if err != nil || string(buf[:n]) != "answer" {
			t.Fatalf("Read = %q, %v", buf[:n], err)
		}
		if cli.RemoteAddrPort() != raddr {
			t.Errorf("RemoteAddrPort %v, want %v", cli.RemoteAddrPort(), raddr)
		}
		cli.Close()
	}
}

// On a stack without IPv6, an IPv4-mapped address falls back to an IPv4
// endpoint, as package net uses an IPv4 socket for it on a host without
// IPv6 (the IPv6 wildcard, an explicit request for IPv6, still fails:
// TestDialAndListenErrors).
func TestNoIPv6MappedFallsBackToIPv4(t *testing.T) {
	a, b := dualHosts(t, false)
	l, err := gonet.ListenTCP(b, netip.AddrPortFrom(mapped(netip.IPv4Unspecified()), 80), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if got := l.Addr().String(); got != "0.0.0.0:80" {
		t.Fatalf("listener Addr = %s, want 0.0.0.0:80", got)
	}
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, a, netip.AddrPort{}, netip.AddrPortFrom(mapped(addrB), 80), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RemoteAddrPort() != netip.AddrPortFrom(addrB, 80) {
		t.Fatalf("RemoteAddrPort = %v", c.RemoteAddrPort())
	}
}
