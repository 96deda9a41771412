package gonet_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/internal/netns"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/tun"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/network/ipv6"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// The Linux kernel's IPv4 stack (curl in a namespace of the test's own,
// over a TAP device) fetches a page from net/http served on a ustack
// dual-stack listener ([::]:80); the server sees the client IPv4-mapped.
func TestInteropDualStackHTTPFromLinuxIPv4(t *testing.T) {
	leakcheck.Check(t)
	netns.RequireRoot(t)
	netns.RequireTools(t, "curl")
	ns := netns.New(t)
	kernel := netip.MustParsePrefix("10.86.0.1/24")
	ours := netip.MustParseAddr("10.86.0.2")

	dev, err := tun.Open(tun.Config{Name: netns.UniqueIfName("ustk"), Mode: tun.TAP, Up: true})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := tun.NewEndpoint(dev, tun.EndpointOptions{})
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	t.Cleanup(s.Close)
	if err := s.CreateNIC(1, ethernet.New(ep)); err != nil {
		t.Fatal(err)
	}
	pa := tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: netip.PrefixFrom(ours, kernel.Bits())}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRoute(tcpip.Route{Destination: kernel.Masked(), NIC: 1}); err != nil {
		t.Fatal(err)
	}
	ns.MoveLink(t, dev.Name())
	ns.AddrAdd(t, dev.Name(), kernel)
	ns.LinkUp(t, dev.Name())

	l, err := gonet.ListenTCP(s, netip.AddrPortFrom(netip.IPv6Unspecified(), 80), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Addr().String(); got != "[::]:80" {
		t.Fatalf("listener Addr = %s", got)
	}
	rec := acceptRecorder{Listener: l, remotes: make(chan netip.AddrPort, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.RemoteAddr)
	})
	srv := &http.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(rec) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()

	body := ns.Run(t, "curl", "-4", "-sS", "--max-time", "20", fmt.Sprintf("http://%s/hello", ours))
	remote := <-rec.remotes
	if want := netip.AddrFrom16(kernel.Addr().As16()); remote.Addr() != want {
		t.Fatalf("accepted connection from %v, want %v", remote, want)
	}
	if want := fmt.Sprintf("hello %s:%d", kernel.Addr(), remote.Port()); strings.TrimSpace(body) != want {
		t.Fatalf("curl got %q, want %q", body, want)
	}
}
