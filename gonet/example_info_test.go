package gonet_test

import (
	"fmt"
	"io"
	"log"
	"net/netip"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// Why is a connection slow? Its tcp.Info says what limits its sending,
// and its String is a report of RTT, windows, buffers and loss recovery.
func ExampleTCPConn_Info() {
	linkA, linkB := pipe.New(pipe.Config{})
	a := newTCPHost(linkA, netip.MustParsePrefix("192.0.2.1/24"))
	defer a.Close()
	b := newTCPHost(linkB, netip.MustParsePrefix("192.0.2.2/24"))
	defer b.Close()

	l, err := gonet.ListenTCP(b, netip.MustParseAddrPort("0.0.0.0:9"), tcpip.IPv4ProtocolNumber)
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
		io.Copy(io.Discard, c)
	}()

	c, err := gonet.DialTCP(a, netip.MustParseAddrPort("192.0.2.2:9"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write(make([]byte, 1<<20))
	in, err := c.Info()
	if err != nil {
		log.Fatal(err)
	}
	// in.String() is the whole report; Limit and Why its verdict.
	fmt.Println(in.State, in.Limit != tcp.LimitNone, in.Why() != "")
	// Output: ESTABLISHED true true
}
