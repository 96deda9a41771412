package gonet_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// newTCPHost returns a stack with IPv4, ARP and TCP on an Ethernet link,
// with the address addr and a route to its subnet.
func newTCPHost(link stack.LinkEndpoint, addr netip.Prefix) *stack.Stack {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	if err := s.CreateNIC(1, ethernet.New(link)); err != nil {
		log.Fatal(err)
	}
	pa := tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: addr}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		log.Fatal(err)
	}
	if err := s.AddRoute(tcpip.Route{Destination: addr.Masked(), NIC: 1}); err != nil {
		log.Fatal(err)
	}
	return s
}

// Package net/http runs unchanged over ustack: the server accepts on a
// TCPListener of one stack, the client dials through another.
func ExampleListenTCP() {
	linkA, linkB := pipe.New(pipe.Config{})
	a := newTCPHost(linkA, netip.MustParsePrefix("192.0.2.1/24"))
	defer a.Close()
	b := newTCPHost(linkB, netip.MustParsePrefix("192.0.2.2/24"))
	defer b.Close()

	l, err := gonet.ListenTCP(b, netip.MustParseAddrPort("0.0.0.0:80"), tcpip.IPv4ProtocolNumber)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s", r.URL.Path[1:])
	})}
	go srv.Serve(l)
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return gonet.DialContextTCP(ctx, a, netip.AddrPort{}, netip.MustParseAddrPort(addr), 0)
		},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://192.0.2.2/ustack")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK hello, ustack
}

// A TCP echo exchange: the client half-closes after its request, reads
// the echo to the end of the stream, and the server closes.
func ExampleDialTCP() {
	linkA, linkB := pipe.New(pipe.Config{})
	a := newTCPHost(linkA, netip.MustParsePrefix("192.0.2.1/24"))
	defer a.Close()
	b := newTCPHost(linkB, netip.MustParsePrefix("192.0.2.2/24"))
	defer b.Close()

	l, err := gonet.ListenTCP(b, netip.MustParseAddrPort("0.0.0.0:7"), tcpip.IPv4ProtocolNumber)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.AcceptTCP()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()

	c, err := gonet.DialTCP(a, netip.MustParseAddrPort("192.0.2.2:7"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello over TCP"))
	c.CloseWrite()
	echo, err := io.ReadAll(c)
	fmt.Printf("%s %v\n", echo, err)
	// Output: hello over TCP <nil>
}
