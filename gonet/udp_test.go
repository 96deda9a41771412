package gonet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ustack-go/ustack/gonet"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// v4 is the network protocol of most calls.
const v4 = tcpip.IPv4ProtocolNumber

// quick bounds how long a call that must return at once may take: long
// enough for a loaded machine running the race detector.
const quick = 2 * time.Second

// echoServer listens on port of s and sends every datagram back to its
// sender until the test ends.
func echoServer(t *testing.T, s *stack.Stack, port uint16) *gonet.UDPConn {
	t.Helper()
	c, err := gonet.ListenUDP(s, netip.AddrPortFrom(netip.IPv4Unspecified(), port), v4)
	if err != nil {
		t.Fatalf("ListenUDP: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if _, err := c.WriteToUDPAddrPort(buf[:n], from); err != nil {
				return
			}
		}
	})
	t.Cleanup(func() {
		c.Close()
		wg.Wait()
	})
	return c
}

func dial(t *testing.T, s *stack.Stack, raddr netip.AddrPort) *gonet.UDPConn {
	t.Helper()
	c, err := gonet.DialUDP(s, netip.AddrPort{}, raddr, v4)
	if err != nil {
		t.Fatalf("DialUDP(%v): %v", raddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func listen(t *testing.T, s *stack.Stack, laddr netip.AddrPort) *gonet.UDPConn {
	t.Helper()
	c, err := gonet.ListenUDP(s, laddr, v4)
	if err != nil {
		t.Fatalf("ListenUDP(%v): %v", laddr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkOpError checks that err is a *net.OpError of operation op, Net "udp",
// and returns it.
func checkOpError(t *testing.T, err error, op string) *net.OpError {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not a *net.OpError", err, err)
	}
	if oe.Op != op || oe.Net != "udp" {
		t.Errorf("OpError Op, Net = %q, %q; want %q, \"udp\"", oe.Op, oe.Net, op)
	}
	return oe
}

// checkTimeout checks that err is the timeout of an expired deadline.
func checkTimeout(t *testing.T, err error, op string) {
	t.Helper()
	oe := checkOpError(t, err, op)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("error %v does not wrap os.ErrDeadlineExceeded", err)
	}
	if !oe.Timeout() {
		t.Errorf("error %v: Timeout() = false", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("error %v is not a net.Error with Timeout() true", err)
	}
}

func checkClosed(t *testing.T, err error, op string) {
	t.Helper()
	checkOpError(t, err, op)
	if !errors.Is(err, net.ErrClosed) {
		t.Errorf("error %v does not wrap net.ErrClosed", err)
	}
}

// result is what a call made in a goroutine returned.
type result struct {
	n   int
	err error
}

// readAsync starts c.Read in a goroutine and returns the channel of its
// result. The test must collect the result before it ends.
func readAsync(c net.Conn, buf []byte) <-chan result {
	ch := make(chan result, 1)
	go func() {
		n, err := c.Read(buf)
		ch <- result{n, err}
	}()
	return ch
}

func waitResult(t *testing.T, ch <-chan result, within time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("call still blocked after %v", within)
		return result{}
	}
}

// notYet checks that the call behind ch is still blocked after d.
func notYet(t *testing.T, ch <-chan result, d time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("call returned (%d, %v), want it blocked", r.n, r.err)
	case <-time.After(d):
	}
}

func TestUDPEcho(t *testing.T) {
	a, b := hosts(t)
	server := echoServer(t, b, 7)
	c := dial(t, a, netip.AddrPortFrom(addrB, 7))

	if got, want := server.LocalAddr().String(), "0.0.0.0:7"; got != want {
		t.Errorf("server LocalAddr = %s, want %s", got, want)
	}
	if server.RemoteAddr() != nil {
		t.Errorf("unconnected RemoteAddr = %v, want nil", server.RemoteAddr())
	}
	la, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok || la.AddrPort().Addr() != addrA || la.Port == 0 {
		t.Errorf("client LocalAddr = %#v, want a *net.UDPAddr at %v with a port", c.LocalAddr(), addrA)
	}
	ra, ok := c.RemoteAddr().(*net.UDPAddr)
	if !ok || ra.AddrPort() != netip.AddrPortFrom(addrB, 7) {
		t.Errorf("client RemoteAddr = %#v, want %v:7", c.RemoteAddr(), addrB)
	}
	if c.LocalAddrPort() != la.AddrPort() || c.RemoteAddrPort() != ra.AddrPort() {
		t.Errorf("AddrPort accessors %v %v disagree with %v %v", c.LocalAddrPort(), c.RemoteAddrPort(), la, ra)
	}

	buf := make([]byte, 2000)
	for i, size := range []int{0, 1, 100, 1472, 1473, 8000} {
		msg := bytes.Repeat([]byte{byte('a' + i)}, size)
		if n, err := c.Write(msg); err != nil || n != size {
			t.Fatalf("Write(%d bytes) = %d, %v", size, n, err)
		}
		big := make([]byte, 9000)
		n, from, err := c.ReadFromUDPAddrPort(big)
		if err != nil {
			t.Fatalf("ReadFrom after %d bytes: %v", size, err)
		}
		if from != netip.AddrPortFrom(addrB, 7) || !bytes.Equal(big[:n], msg) {
			t.Fatalf("got %d bytes from %v, want the %d sent from %v:7", n, from, size, addrB)
		}
	}

	// A datagram longer than the buffer is cut to it.
	if _, err := c.Write(bytes.Repeat([]byte("x"), 100)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf[:10]); n != 10 || err != nil {
		t.Errorf("Read into 10 bytes = %d, %v; want 10, nil", n, err)
	}
	// The rest is lost: the next datagram is read whole.
	if _, err := c.Write([]byte("next")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "next" {
		t.Errorf("Read = %q, %v; want \"next\"", buf[:n], err)
	}
}

func TestPacketConnWriteToReadFrom(t *testing.T) {
	a, b := hosts(t)
	pa := listen(t, a, netip.AddrPortFrom(addrA, 0))
	pb := listen(t, b, netip.MustParseAddrPort("0.0.0.0:5000"))
	var _ net.PacketConn = pa

	if _, err := pa.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.ParseIP(addrB.String()), Port: 5000}); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	buf := make([]byte, 100)
	n, from, err := pb.ReadFrom(buf)
	if err != nil {
		t.Fatalf("ReadFrom: %v", err)
	}
	ua, ok := from.(*net.UDPAddr)
	if !ok || ua.String() != pa.LocalAddr().String() || string(buf[:n]) != "ping" {
		t.Fatalf("ReadFrom = %q from %#v; want \"ping\" from %v", buf[:n], from, pa.LocalAddr())
	}
	if _, err := pb.WriteTo([]byte("pong"), from); err != nil {
		t.Fatalf("WriteTo reply: %v", err)
	}
	n, from2, err := pa.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "pong" || from2 != netip.AddrPortFrom(addrB, 5000) {
		t.Fatalf("ReadFromUDPAddrPort = %q from %v, %v; want \"pong\" from %v:5000", buf[:n], from2, err, addrB)
	}

	// Write on an unconnected UDPConn has no destination.
	_, err = pa.Write([]byte("x"))
	checkOpError(t, err, "write")
	if !errors.Is(err, syscall.EDESTADDRREQ) {
		t.Errorf("Write unconnected: %v, want EDESTADDRREQ", err)
	}
	// WriteTo takes only UDP addresses.
	_, err = pa.WriteTo([]byte("x"), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 1})
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("WriteTo(*net.TCPAddr): %v, want EINVAL", err)
	}
}

func TestPacketConnConcurrent(t *testing.T) {
	a, b := hosts(t)
	echoServer(t, b, 7)
	pc := listen(t, a, netip.AddrPort{})
	const writers, each = 4, 25
	dst := netip.AddrPortFrom(addrB, 7)

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				msg := fmt.Appendf(nil, "w%d-%d", w, i)
				if _, err := pc.WriteToUDPAddrPort(msg, dst); err != nil {
					t.Errorf("WriteTo: %v", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	// Two readers share the datagrams; together they see each once.
	var mu sync.Mutex
	seen := map[string]int{}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			buf := make([]byte, 100)
			for {
				n, from, err := pc.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				if from != dst {
					t.Errorf("datagram from %v, want %v", from, dst)
				}
				mu.Lock()
				seen[string(buf[:n])]++
				done := len(seen) == writers*each
				mu.Unlock()
				if done {
					pc.SetReadDeadline(time.Now()) // release the other reader
					return
				}
			}
		})
	}
	wg.Wait()
	readers.Wait()
	if len(seen) != writers*each {
		t.Fatalf("got %d distinct datagrams, want %d", len(seen), writers*each)
	}
	for msg, k := range seen {
		if k != 1 {
			t.Errorf("%q read %d times", msg, k)
		}
	}
}

func TestReadDeadlinePast(t *testing.T) {
	a, b := hosts(t)
	echoServer(t, b, 7)
	c := dial(t, a, netip.AddrPortFrom(addrB, 7))
	buf := make([]byte, 100)

	// A deadline already passed fails a call at once...
	c.SetReadDeadline(time.Now().Add(-time.Second))
	start := time.Now()
	_, err := c.Read(buf)
	checkTimeout(t, err, "read")
	if d := time.Since(start); d > quick {
		t.Errorf("Read took %v", d)
	}
	// ...even with a datagram waiting, as package net does, and the
	// datagram is still there once the deadline is cleared.
	c.SetReadDeadline(time.Time{})
	if _, err := c.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	c.SetReadDeadline(time.Unix(1, 0))
	if _, _, err := c.ReadFrom(buf); err == nil {
		t.Fatal("ReadFrom with a past deadline succeeded")
	} else {
		checkTimeout(t, err, "read")
	}
	c.SetReadDeadline(time.Time{})
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "kept" {
		t.Fatalf("Read = %q, %v; want \"kept\"", buf[:n], err)
	}

	// A deadline moved into the past releases a blocked call.
	ch := readAsync(c, buf)
	notYet(t, ch, 50*time.Millisecond)
	c.SetReadDeadline(time.Now().Add(-time.Millisecond))
	checkTimeout(t, waitResult(t, ch, quick).err, "read")
}

func TestReadDeadlineFuture(t *testing.T) {
	a, _ := hosts(t)
	c := listen(t, a, netip.AddrPort{})
	buf := make([]byte, 100)
	const d = 100 * time.Millisecond
	start := time.Now()
	c.SetDeadline(start.Add(d))
	_, _, err := c.ReadFromUDPAddrPort(buf)
	elapsed := time.Since(start)
	checkTimeout(t, err, "read")
	if elapsed < d {
		t.Errorf("Read returned after %v, before the deadline %v", elapsed, d)
	}
	if elapsed > d+quick {
		t.Errorf("Read returned %v after the deadline", elapsed-d)
	}
	// The deadline stays passed until it is moved.
	_, _, err = c.ReadFromUDPAddrPort(buf)
	checkTimeout(t, err, "read")
}

func TestReadDeadlineReset(t *testing.T) {
	a, b := hosts(t)
	peer := listen(t, b, netip.MustParseAddrPort("192.0.2.2:9999"))
	c := dial(t, a, netip.AddrPortFrom(addrB, 9999))
	buf := make([]byte, 100)

	// Extending a deadline that has not passed keeps a blocked call
	// waiting past the first one.
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	ch := readAsync(c, buf)
	c.SetReadDeadline(time.Now().Add(time.Hour))
	notYet(t, ch, 300*time.Millisecond)
	// Clearing it too.
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	c.SetReadDeadline(time.Time{})
	notYet(t, ch, 300*time.Millisecond)
	// Data releases it.
	if _, err := peer.WriteToUDPAddrPort([]byte("late"), c.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
	if r := waitResult(t, ch, quick); r.err != nil || string(buf[:r.n]) != "late" {
		t.Fatalf("Read = %q, %v; want \"late\"", buf[:r.n], r.err)
	}

	// After a deadline passed, a new one in the future makes calls
	// block again, and a shorter one fires at its own time.
	c.SetReadDeadline(time.Now())
	_, err := c.Read(buf)
	checkTimeout(t, err, "read")
	c.SetReadDeadline(time.Now().Add(time.Hour))
	ch = readAsync(c, buf)
	notYet(t, ch, 100*time.Millisecond)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	checkTimeout(t, waitResult(t, ch, quick).err, "read")
}

func TestWriteDeadline(t *testing.T) {
	a, _ := hosts(t)
	c := dial(t, a, netip.AddrPortFrom(addrB, 9))
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	_, err := c.Write([]byte("x"))
	checkTimeout(t, err, "write")
	// Reads are not affected by the write deadline, and writes work
	// again once it is cleared.
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err = c.Read(make([]byte, 10))
	checkTimeout(t, err, "read")
	c.SetWriteDeadline(time.Time{})
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("Write after clearing the deadline: %v", err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	a, _ := hosts(t)
	c, err := gonet.ListenUDP(a, netip.AddrPort{}, v4)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	var chans []<-chan result
	for range 3 {
		chans = append(chans, readAsync(c, buf))
	}
	for _, ch := range chans {
		notYet(t, ch, 20*time.Millisecond)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, ch := range chans {
		checkClosed(t, waitResult(t, ch, quick).err, "read")
	}
	// Everything afterwards fails with net.ErrClosed.
	_, err = c.Read(buf)
	checkClosed(t, err, "read")
	_, err = c.WriteToUDPAddrPort([]byte("x"), netip.AddrPortFrom(addrB, 9))
	checkClosed(t, err, "write")
	checkClosed(t, c.Close(), "close")
	checkClosed(t, c.SetDeadline(time.Now()), "set")
	checkClosed(t, c.SetReadDeadline(time.Now()), "set")
	checkClosed(t, c.SetWriteDeadline(time.Now()), "set")

	// The port is free again.
	c2 := listen(t, a, c.LocalAddrPort())
	if c2.LocalAddrPort() != c.LocalAddrPort() {
		t.Errorf("rebound at %v, want %v", c2.LocalAddrPort(), c.LocalAddrPort())
	}
}

func TestStackCloseUnblocksRead(t *testing.T) {
	a, _ := hosts(t)
	c := listen(t, a, netip.AddrPort{})
	buf := make([]byte, 100)
	ch := readAsync(c, buf)
	notYet(t, ch, 20*time.Millisecond)
	a.Close()
	checkClosed(t, waitResult(t, ch, quick).err, "read")
}

func TestConnectionRefused(t *testing.T) {
	a, _ := hosts(t)
	// Nothing listens on B's port 9999: B answers with ICMP port
	// unreachable (RFC 1122 §4.1.3.1), which A's connected endpoint
	// reports to its next call (RFC 1122 §4.1.3.3).
	c := dial(t, a, netip.AddrPortFrom(addrB, 9999))
	if _, err := c.Write([]byte("anyone?")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 100))
	oe := checkOpError(t, err, "read")
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, tcpip.ErrConnectionRefused) {
		t.Fatalf("Read: %v, want ECONNREFUSED", err)
	}
	if oe.Source == nil || oe.Source.String() != c.LocalAddr().String() ||
		oe.Addr == nil || oe.Addr.String() != "192.0.2.2:9999" {
		t.Errorf("OpError Source, Addr = %v, %v; want %v, 192.0.2.2:9999", oe.Source, oe.Addr, c.LocalAddr())
	}
	if oe.Timeout() {
		t.Errorf("refused reported as a timeout")
	}
	// The error is reported once.
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = c.Read(make([]byte, 100))
	checkTimeout(t, err, "read")
}

func TestDialAndListenErrors(t *testing.T) {
	a, _ := hosts(t)
	for _, tc := range []struct {
		name  string
		dial  func() error
		op    string
		errno syscall.Errno
	}{
		{"no route", func() error {
			_, err := gonet.DialUDP(a, netip.AddrPort{}, netip.MustParseAddrPort("198.51.100.1:7"), v4)
			return err
		}, "dial", syscall.ENETUNREACH},
		{"no destination", func() error {
			_, err := gonet.DialUDP(a, netip.AddrPort{}, netip.AddrPort{}, v4)
			return err
		}, "dial", syscall.EDESTADDRREQ},
		{"foreign local address", func() error {
			_, err := gonet.ListenUDP(a, netip.MustParseAddrPort("198.51.100.1:7"), v4)
			return err
		}, "listen", syscall.EADDRNOTAVAIL},
		{"unknown zone", func() error {
			_, err := gonet.DialUDP(a, netip.AddrPort{}, netip.MustParseAddrPort("[fe80::1%nope]:7"), tcpip.IPv6ProtocolNumber)
			return err
		}, "dial", syscall.ENODEV},
		{"no IPv6 in the stack", func() error {
			_, err := gonet.ListenUDP(a, netip.MustParseAddrPort("[::]:7"), 0)
			return err
		}, "listen", syscall.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.dial()
			checkOpError(t, err, tc.op)
			if !errors.Is(err, tc.errno) {
				t.Errorf("error %v, want %v", err, tc.errno)
			}
		})
	}

	// A port in use.
	c := listen(t, a, netip.MustParseAddrPort("0.0.0.0:7"))
	_, err := gonet.ListenUDP(a, c.LocalAddrPort(), v4)
	oe := checkOpError(t, err, "listen")
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second ListenUDP on %v: %v, want EADDRINUSE", c.LocalAddrPort(), err)
	}
	if oe.Source != nil || oe.Addr == nil || oe.Addr.String() != "0.0.0.0:7" {
		t.Errorf("listen OpError Source, Addr = %v, %v; want nil, 0.0.0.0:7 (as package net)", oe.Source, oe.Addr)
	}
}

func TestDialContextCanceled(t *testing.T) {
	a, _ := hosts(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := gonet.DialContextUDP(ctx, a, netip.AddrPort{}, netip.AddrPortFrom(addrB, 7), 0)
	checkOpError(t, err, "dial")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("DialContextUDP with a canceled context: %v, want context.Canceled", err)
	}
	c, err := gonet.DialContextUDP(t.Context(), a, netip.AddrPort{}, netip.AddrPortFrom(addrB, 7), 0)
	if err != nil {
		t.Fatalf("DialContextUDP: %v", err)
	}
	c.Close()
}

func TestWriteToConnected(t *testing.T) {
	a, _ := hosts(t)
	c := dial(t, a, netip.AddrPortFrom(addrB, 7))
	_, err := c.WriteToUDPAddrPort([]byte("x"), netip.AddrPortFrom(addrB, 7))
	checkOpError(t, err, "write")
	if !errors.Is(err, net.ErrWriteToConnected) {
		t.Errorf("WriteTo on a connected UDPConn: %v, want net.ErrWriteToConnected", err)
	}
}

func TestBindLocalAddress(t *testing.T) {
	a, b := hosts(t)
	echoServer(t, b, 7)
	c, err := gonet.DialUDP(a, netip.AddrPortFrom(addrA, 40000), netip.AddrPortFrom(addrB, 7), 0)
	if err != nil {
		t.Fatalf("DialUDP: %v", err)
	}
	defer c.Close()
	if got := c.LocalAddrPort(); got != netip.AddrPortFrom(addrA, 40000) {
		t.Errorf("LocalAddrPort = %v, want %v:40000", got, addrA)
	}
	// An IPv4-mapped address names the same IPv4 peer.
	pc := listen(t, a, netip.AddrPort{})
	mapped := netip.AddrPortFrom(netip.AddrFrom16(addrB.As16()), 7)
	if _, err := pc.WriteToUDPAddrPort([]byte("m"), mapped); err != nil {
		t.Fatalf("WriteTo(%v): %v", mapped, err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 10)
	if n, from, err := pc.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "m" || from != netip.AddrPortFrom(addrB, 7) {
		t.Errorf("ReadFrom = %q from %v, %v", buf[:n], from, err)
	}
}

func TestSockOpts(t *testing.T) {
	a, _ := hosts(t)
	c := listen(t, a, netip.AddrPort{})
	if err := c.SetReadBuffer(100000); err != nil {
		t.Errorf("SetReadBuffer: %v", err)
	}
	var rcv tcpip.ReceiveBufferSizeOption
	if err := c.GetSockOpt(&rcv); err != nil || rcv < 100000 {
		t.Errorf("GetSockOpt(ReceiveBufferSize) = %d, %v", rcv, err)
	}
	if err := c.SetWriteBuffer(100000); err != nil {
		t.Errorf("SetWriteBuffer: %v", err)
	}
	if err := c.SetSockOpt(struct{}{}); !errors.Is(err, syscall.ENOPROTOOPT) {
		t.Errorf("SetSockOpt(unknown) = %v, want ENOPROTOOPT", err)
	}
}
