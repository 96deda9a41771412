package gonet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/channel"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/udp"
)

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestDeadline(t *testing.T) {
	leakcheck.Check(t)
	d := newDeadline()
	defer d.stop()
	ch := d.expired()
	if isClosed(ch) || d.passed() {
		t.Fatal("a new deadline has passed")
	}

	// Past: at once.
	d.set(time.Now().Add(-time.Second))
	if !isClosed(ch) || !d.passed() {
		t.Fatal("a past deadline did not expire at once")
	}
	// A new deadline gives a new channel; the old stays closed.
	d.set(time.Now().Add(time.Hour))
	ch2 := d.expired()
	if ch2 == ch || isClosed(ch2) || d.passed() {
		t.Fatal("a future deadline after a passed one is not pending on a new channel")
	}
	// Moving a pending deadline keeps its channel, so blocked calls see
	// the change.
	d.set(time.Now().Add(30 * time.Millisecond))
	if d.expired() != ch2 {
		t.Fatal("moving a pending deadline replaced its channel")
	}
	select {
	case <-ch2:
	case <-time.After(5 * time.Second):
		t.Fatal("the deadline did not fire")
	}
	// Clearing a pending deadline: it never fires.
	d.set(time.Now().Add(20 * time.Millisecond))
	ch3 := d.expired()
	d.set(time.Time{})
	time.Sleep(60 * time.Millisecond)
	if isClosed(ch3) || d.expired() != ch3 {
		t.Fatal("a cleared deadline fired")
	}
}

// TestDeadlineStaleTimer runs a timer that lost the race against a newer
// set: its callback must not expire the newer deadline.
func TestDeadlineStaleTimer(t *testing.T) {
	leakcheck.Check(t)
	d := newDeadline()
	d.set(time.Now().Add(time.Hour))
	gen := d.gen
	d.set(time.Now().Add(time.Hour))
	d.fire(gen) // the first timer's callback, too late to be stopped
	if d.passed() {
		t.Fatal("a stale timer expired the current deadline")
	}
	d.fire(d.gen)
	if !d.passed() {
		t.Fatal("the current timer did not expire the deadline")
	}
	d.stop()
}

func TestDeadlineConcurrent(t *testing.T) {
	leakcheck.Check(t)
	d := newDeadline()
	defer d.stop()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				d.set(time.Now().Add(time.Duration((i+j)%3-1) * time.Millisecond))
				<-time.After(0)
				_ = d.expired()
			}
		})
	}
	wg.Wait()
}

func TestWaiterUnregistered(t *testing.T) {
	leakcheck.Check(t)
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
	})
	defer s.Close()
	c, err := ListenUDP(s, netip.AddrPort{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.netProto != tcpip.IPv4ProtocolNumber {
		t.Errorf("netProto = %v, want IPv4 (the stack has no IPv6)", c.netProto)
	}
	for range 10 {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read: %v", err)
		}
	}
	if n := c.ep.WaitQueue().Len(); n != 0 {
		t.Errorf("%d waiters left registered", n)
	}
}

func TestAddresses(t *testing.T) {
	leakcheck.Check(t)
	if a := netAddr("udp", netip.AddrPort{}); a != nil {
		t.Errorf("netAddr(zero) = %#v, want a nil interface", a)
	}
	if a := netAddr("tcp", netip.MustParseAddrPort("10.0.0.1:80")); a.Network() != "tcp" || a.String() != "10.0.0.1:80" {
		t.Errorf("netAddr(tcp) = %v %v", a.Network(), a)
	}
	if a := ipAddr(netip.Addr{}); a != nil {
		t.Errorf("ipAddr(zero) = %#v, want a nil interface", a)
	}
	for _, tc := range []struct {
		in   tcpip.FullAddress
		np   tcpip.NetworkProtocolNumber
		want string
	}{
		{tcpip.FullAddress{Port: 7}, tcpip.IPv4ProtocolNumber, "0.0.0.0:7"},
		{tcpip.FullAddress{Port: 7}, tcpip.IPv6ProtocolNumber, "[::]:7"},
		{tcpip.FullAddress{Addr: netip.MustParseAddr("10.0.0.1"), Port: 7}, tcpip.IPv4ProtocolNumber, "10.0.0.1:7"},
	} {
		if got := endpointAddr(tc.in, tc.np).String(); got != tc.want {
			t.Errorf("endpointAddr(%+v, %v) = %s, want %s", tc.in, tc.np, got, tc.want)
		}
	}

	s := stack.New(stack.Options{NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol}})
	defer s.Close()
	for _, tc := range []struct {
		in   string
		np   tcpip.NetworkProtocolNumber
		want tcpip.FullAddress
	}{
		{"0.0.0.0:7", tcpip.IPv4ProtocolNumber, tcpip.FullAddress{Port: 7}},
		{"[::]:7", tcpip.IPv6ProtocolNumber, tcpip.FullAddress{Port: 7}},
		{"[::ffff:10.0.0.1]:7", tcpip.IPv4ProtocolNumber, tcpip.FullAddress{Addr: netip.MustParseAddr("10.0.0.1"), Port: 7}},
		{"[::ffff:10.0.0.1]:7", tcpip.IPv6ProtocolNumber, tcpip.FullAddress{Addr: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 7}},
		// 0.0.0.0 given to an IPv6 endpoint is not its wildcard.
		{"0.0.0.0:7", tcpip.IPv6ProtocolNumber, tcpip.FullAddress{Addr: netip.IPv4Unspecified(), Port: 7}},
	} {
		got, err := fullAddress(s, netip.MustParseAddrPort(tc.in), tc.np)
		if err != nil || got != tc.want {
			t.Errorf("fullAddress(%s, %v) = %+v, %v; want %+v", tc.in, tc.np, got, err, tc.want)
		}
	}
	if _, err := fullAddress(s, netip.MustParseAddrPort("[fe80::1%9]:7"), tcpip.IPv6ProtocolNumber); err != tcpip.ErrUnknownDevice {
		t.Errorf("fullAddress(unknown NIC number) = %v, want ErrUnknownDevice", err)
	}
}

func TestOpErrorKeepsOpErrors(t *testing.T) {
	inner := &net.OpError{Op: "read", Net: "udp", Err: net.ErrClosed}
	if got := opError("write", "udp", nil, nil, inner); got != inner {
		t.Errorf("opError wrapped an *net.OpError again: %v", got)
	}
	if opError("read", "udp", nil, nil, nil) != nil {
		t.Error("opError(nil) is not nil")
	}
}

// TestWriteLinkQueueFull fills a link's queue with a datagram of the
// writer: the next Write waits for the link to let go of it (as a sender
// sleeps on a full qdisc), and completes once it has, rather than losing
// the datagram.
func TestWriteLinkQueueFull(t *testing.T) {
	leakcheck.Check(t)
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
	})
	defer s.Close()
	link := channel.New(channel.Config{QueueSize: 1})
	if err := s.CreateNIC(1, link); err != nil {
		t.Fatal(err)
	}
	pa := tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: netip.MustParsePrefix("10.0.0.1/24")}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRoute(tcpip.Route{Destination: pa.Address.Masked(), NIC: 1}); err != nil {
		t.Fatal(err)
	}
	c, err := DialUDP(s, netip.AddrPort{}, netip.MustParseAddrPort("10.0.0.2:9"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("fits")); err != nil {
		t.Fatalf("first Write: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("no room yet"))
		done <- err
	}()
	// The second datagram cannot be queued before the first leaves.
	pkt, err := link.ReadContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pkt.Release()
	if err := <-done; err != nil {
		t.Fatalf("Write to a full link: %v, want it to wait and succeed", err)
	}
	if pkt, ok := link.Read(); !ok {
		t.Error("the second datagram is not on the link")
	} else {
		pkt.Release()
	}
}

// TestWaitersSurviveGC: the channels of blocked calls are reused across
// garbage collections, which would empty a sync.Pool and make the calls
// blocking after each one allocate their channels again.
func TestWaitersSurviveGC(t *testing.T) {
	var wq tcpip.WaitQueue
	cycle := func() {
		var ws [4]tcpip.ChannelWaiter
		var hs [4]tcpip.WaitHandle
		for i := range ws {
			ws[i] = getWaiter()
			hs[i] = wq.Register(ws[i], tcpip.EventIn)
		}
		wq.Notify(tcpip.EventIn) // a pending notification putWaiter must drain
		for i := range ws {
			putWaiter(&wq, hs[i], ws[i])
		}
	}
	cycle()
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		cycle()
	}
	runtime.ReadMemStats(&after)
	// The collection's own bookkeeping may allocate one object meanwhile
	// (the buffer package's trim sentinel); a GC-emptied sync.Pool cost 4
	// waiters and its per-P structures.
	if d := after.Mallocs - before.Mallocs; d > 1 {
		t.Errorf("100 rounds of 4 blocked calls after runtime.GC: %d allocations, want ≤ 1", d)
	}
	w := getWaiter()
	select {
	case <-w:
		t.Error("a reused waiter holds a stale notification")
	default:
	}
	putWaiter(&wq, wq.Register(w, tcpip.EventIn), w)
}
