package udp_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/ethernet"
	"github.com/ustack-go/ustack/link/impair"
	"github.com/ustack-go/ustack/link/loopback"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/network/arp"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/rcvq"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/udp"
)

// Backpressure from end to end over a pipe (see package link/pipe): a
// datagram stays charged to its sender's send buffer until the receiving
// endpoint's reader takes it, or until it is dropped on the way.

// sendQueue returns the bytes charged to ep's send buffer
// (SendQueueSizeOption, Linux's SIOCOUTQ).
func sendQueue(t testing.TB, ep tcpip.Endpoint) int {
	t.Helper()
	var q tcpip.SendQueueSizeOption
	if err := ep.GetSockOpt(&q); err != nil {
		t.Fatalf("GetSockOpt(SendQueueSizeOption): %v", err)
	}
	return int(q)
}

// waitFor waits until cond holds: the pipe delivers on goroutines of its
// own, so what it does is seen some time after the write.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// paidBack waits until nothing is charged to ep's send buffer any more.
func paidBack(t testing.TB, ep tcpip.Endpoint) {
	t.Helper()
	waitFor(t, "the send buffer to be paid back", func() bool { return sendQueue(t, ep) == 0 })
}

// writer writes numbered datagrams on a goroutine of its own as a blocking
// socket does: on ErrWouldBlock it waits for EventOut.
type writer struct {
	written atomic.Int64  // datagrams written so far
	blocks  atomic.Int64  // times Write refused with ErrWouldBlock
	blocked chan struct{} // closed at the first ErrWouldBlock
	done    chan error    // the result, once all are written
}

// startWriter writes n datagrams of size bytes (the first 4 the
// datagram's number) with ep, to dst if it is not nil.
func startWriter(ep tcpip.Endpoint, n, size int, dst *tcpip.FullAddress) *writer {
	w := &writer{blocked: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		ch := tcpip.NewChannelWaiter()
		h := ep.WaitQueue().Register(ch, tcpip.EventOut)
		defer ep.WaitQueue().Unregister(h)
		msg := make([]byte, size)
		for i := 0; i < n; {
			binary.BigEndian.PutUint32(msg, uint32(i))
			_, err := ep.Write(msg, tcpip.WriteOptions{To: dst})
			if errors.Is(err, tcpip.ErrWouldBlock) {
				if w.blocks.Add(1) == 1 {
					close(w.blocked)
				}
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					w.done <- fmt.Errorf("datagram %d: no EventOut within 10s", i)
					return
				}
				continue
			}
			if err != nil {
				w.done <- fmt.Errorf("datagram %d: %w", i, err)
				return
			}
			i++
			w.written.Store(int64(i))
		}
		w.done <- nil
	}()
	return w
}

// wait returns the writer's result.
func (w *writer) wait(t testing.TB) {
	t.Helper()
	select {
	case err := <-w.done:
		if err != nil {
			t.Fatalf("writer: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("writer stuck after %d datagrams", w.written.Load())
	}
}

// connectedPair returns a server endpoint of b bound to port 9 and a
// client of a connected to it, after one datagram that resolved B's link
// address (a datagram waiting for ARP could be dropped from the
// neighbour's queue).
func connectedPair(t *testing.T, a, b *stack.Stack) (srv, cli tcpip.Endpoint) {
	t.Helper()
	srv = bound(t, b, netip.Addr{}, 9)
	cli = newUDP(t, a)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 9}); err != nil {
		t.Fatal(err)
	}
	send(t, cli, []byte("warm-up"), nil)
	waitReadable(t, srv)
	recv(t, srv)
	return srv, cli
}

// A reader that stalls does not lose a datagram: the writer, whose send
// buffer is as large as the reader's receive buffer (both the defaults),
// waits for it, and every datagram arrives, in order.
func TestSlowReaderLosesNothing(t *testing.T) {
	a, b := overPipe(t, pipeOptions{pipe: pipe.Config{QueueSize: 4096}})
	srv, cli := connectedPair(t, a, b)
	checkSlowReader(t, srv, cli, a, b)
}

// The same between two endpoints of one stack, over a loopback NIC.
func TestLocalSlowReaderLosesNothing(t *testing.T) {
	leakcheck.Check(t)
	testnet.CheckBuffers(t)
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
	})
	t.Cleanup(s.Close)
	if err := s.CreateNIC(1, loopback.New(loopback.Options{})); err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParsePrefix("127.0.0.1/8")
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: lo}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRoute(tcpip.Route{Destination: lo.Masked(), NIC: 1}); err != nil {
		t.Fatal(err)
	}
	srv := bound(t, s, lo.Addr(), 9)
	cli := newUDP(t, s)
	if err := cli.Connect(tcpip.FullAddress{Addr: lo.Addr(), Port: 9}); err != nil {
		t.Fatal(err)
	}
	send(t, cli, []byte("warm-up"), nil)
	waitReadable(t, srv)
	recv(t, srv)
	checkSlowReader(t, srv, cli, s)
}

// checkSlowReader has cli write datagrams to srv, which reads nothing
// until cli is blocked with all it wrote queued at srv, and then reads
// them all. srv has received one datagram already.
func checkSlowReader(t *testing.T, srv, cli tcpip.Endpoint, stacks ...*stack.Stack) {
	t.Helper()
	const n, size = 3000, 64
	w := startWriter(cli, n, size, nil)

	// The reader does not read until the writer is blocked and all it
	// wrote has reached the reader's queue.
	select {
	case <-w.blocked:
	case err := <-w.done:
		t.Fatalf("the writer wrote all %d datagrams (%v) without waiting for the reader", n, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("the writer neither blocked nor finished within 10s (%d datagrams)", w.written.Load())
	}
	written := w.written.Load()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().PacketsReceived.Load() != uint64(written)+1 {
		if time.Now().After(deadline) {
			for i, s := range stacks {
				t.Logf("stack %d's counters:\n%v", i, s.Stats().Snapshot().NonZero())
			}
			t.Fatalf("%d datagrams received of the %d written (%d now) before the writer blocked; %d bytes charged to the writer, %d dropped at the receive buffer",
				srv.Stats().PacketsReceived.Load()-1, written, w.written.Load(), sendQueue(t, cli), srv.Stats().ReceiveBufferErrors.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if got := w.written.Load(); got != written {
		t.Fatalf("the writer went on from %d to %d datagrams while nothing was read", written, got)
	}
	if cli.Readiness(tcpip.EventOut) != 0 {
		t.Error("writer writable while its datagrams wait to be read")
	}
	// Each datagram costs the send buffer at least rcvq.Overhead. The
	// writer blocks at a full send buffer, or earlier if the datagrams
	// it has in flight fill a queue on the way (the neighbour's, behind
	// the packets its resolution released, on a busy machine): either
	// way it waits for the reader.
	if max := udp.DefaultSendBufferSize/rcvq.Overhead + 1; written < 1 || written > int64(max) {
		t.Errorf("%d datagrams in flight before the writer blocked, want 1..%d", written, max)
	}
	if q := sendQueue(t, cli); q < int(written)*rcvq.Overhead {
		t.Errorf("send queue %d with %d datagrams unread, want at least %d", q, written, int(written)*rcvq.Overhead)
	}

	buf := make([]byte, 2048)
	for i := range n {
		waitReadable(t, srv)
		res, err := srv.Read(buf, tcpip.ReadOptions{})
		if err != nil {
			t.Fatalf("Read %d: %v", i, err)
		}
		if res.N != size {
			t.Fatalf("datagram %d: %d bytes, want %d", i, res.N, size)
		}
		if got := binary.BigEndian.Uint32(buf); got != uint32(i) {
			t.Fatalf("datagram %d is number %d", i, got)
		}
	}
	w.wait(t)
	recvNone(t, srv)
	if got := srv.Stats().ReceiveBufferErrors.Load(); got != 0 {
		t.Errorf("%d datagrams dropped at the receive buffer", got)
	}
	if got := w.blocks.Load(); got < 2 {
		t.Errorf("the writer blocked %d times, want at least 2", got)
	}
	if q := sendQueue(t, cli); q != 0 {
		t.Errorf("send queue %d with every datagram read, want 0", q)
	}
}

// A receive buffer smaller than the writer's send buffer overflows; the
// datagrams dropped there pay the writer back, so it never waits forever,
// and the ones still queued pay it back when the receiver closes.
func TestSmallReceiveBufferPaysBackDrops(t *testing.T) {
	a, b := overPipe(t, pipeOptions{})
	srv, cli := connectedPair(t, a, b)
	if err := srv.SetSockOpt(tcpip.ReceiveBufferSizeOption(dgramMinBuffer)); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	w := startWriter(cli, n, 64, nil)
	w.wait(t)
	st := srv.Stats()
	waitFor(t, "every datagram to be queued or dropped", func() bool {
		return st.PacketsReceived.Load()+st.ReceiveBufferErrors.Load() == n+1
	})
	if st.ReceiveBufferErrors.Load() == 0 {
		t.Fatal("no datagram dropped at a receive buffer of 4 KiB")
	}
	if sendQueue(t, cli) == 0 {
		t.Fatal("nothing charged with datagrams queued at the receiver")
	}
	srv.Close()
	if q := sendQueue(t, cli); q != 0 {
		t.Errorf("send queue %d after the receiver closed, want 0", q)
	}
}

// dgramMinBuffer is the smallest buffer size an endpoint accepts.
const dgramMinBuffer = 4096

// Closing a receiver with datagrams queued pays their writer back at
// once: a writer blocked on it becomes writable, with EventOut.
func TestCloseReceiverUnblocksWriter(t *testing.T) {
	// A queue longer than the send buffer holds datagrams: Write stops
	// at a full send buffer, never at a full link.
	a, b := overPipe(t, pipeOptions{pipe: pipe.Config{QueueSize: 4096}})
	srv, cli := connectedPair(t, a, b)
	msg := make([]byte, 64)
	sent := 0
	for {
		_, err := cli.Write(msg, tcpip.WriteOptions{})
		if errors.Is(err, tcpip.ErrWouldBlock) {
			break
		}
		if err != nil {
			t.Fatalf("Write %d: %v", sent, err)
		}
		if sent++; sent > udp.DefaultSendBufferSize/rcvq.Overhead+1 {
			t.Fatalf("%d datagrams written, the send buffer never filled", sent)
		}
	}
	waitFor(t, "the datagrams to be queued", func() bool {
		return srv.Stats().PacketsReceived.Load() == uint64(sent)+1
	})
	ch := tcpip.NewChannelWaiter()
	h := cli.WaitQueue().Register(ch, tcpip.EventOut)
	defer cli.WaitQueue().Unregister(h)
	if _, err := cli.Write(msg, tcpip.WriteOptions{}); !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("Write with the receiver not reading = %v, want ErrWouldBlock", err)
	}
	if notified(ch) {
		t.Fatal("EventOut while the receiver holds the datagrams")
	}
	srv.Close()
	if !notified(ch) {
		t.Error("no EventOut when the receiver closed")
	}
	if q := sendQueue(t, cli); q != 0 {
		t.Errorf("send queue %d after the receiver closed, want 0", q)
	}
	if _, err := cli.Write(msg, tcpip.WriteOptions{}); err != nil {
		t.Errorf("Write after the receiver closed: %v", err)
	}
}

// Datagrams dropped by the receiving stack pay their writer back, each
// drop counted where it happened.
func TestDropsPayBack(t *testing.T) {
	t.Run("no endpoint", func(t *testing.T) {
		a, b := overPipe(t, pipeOptions{})
		connectedPair(t, a, b)
		cli := newUDP(t, a)
		send(t, cli, []byte("nobody"), to(addrB, 10))
		waitFor(t, "the drop", func() bool { return b.Stats().UDP.UnknownPort.Load() == 1 })
		paidBack(t, cli)
	})
	t.Run("bad checksum", func(t *testing.T) {
		// One bit of every frame from A flipped past the Ethernet, IPv4
		// and UDP headers (42 bytes, as long as the ARP request, which
		// is thus spared): the payload no longer matches the checksum.
		a, b := overPipe(t, pipeOptions{
			pipe:     pipe.Config{NoChecksumOffload: true},
			impairAB: &impair.Direction{Corrupt: 1, CorruptSkip: 42},
		})
		srv := bound(t, b, netip.Addr{}, 9)
		cli := newUDP(t, a)
		send(t, cli, make([]byte, 64), to(addrB, 9))
		waitFor(t, "the drop", func() bool { return b.Stats().UDP.ChecksumErrors.Load() == 1 })
		paidBack(t, cli)
		recvNone(t, srv)
	})
	t.Run("shut for reading", func(t *testing.T) {
		a, b := overPipe(t, pipeOptions{})
		srv, cli := connectedPair(t, a, b)
		if err := srv.Shutdown(tcpip.ShutdownRead); err != nil && !errors.Is(err, tcpip.ErrNotConnected) {
			t.Fatal(err)
		}
		send(t, cli, []byte("late"), nil)
		waitFor(t, "the drop", func() bool { return srv.Stats().ReceiveBufferErrors.Load() == 1 })
		paidBack(t, cli)
	})
	t.Run("closed with datagrams queued", func(t *testing.T) {
		a, b := overPipe(t, pipeOptions{})
		srv, cli := connectedPair(t, a, b)
		for range 3 {
			send(t, cli, []byte("queued"), nil)
		}
		waitFor(t, "the datagrams to be queued", func() bool { return srv.Stats().PacketsReceived.Load() == 4 })
		if sendQueue(t, cli) == 0 {
			t.Fatal("nothing charged with three datagrams queued at the receiver")
		}
		srv.Close()
		if q := sendQueue(t, cli); q != 0 {
			t.Errorf("send queue %d after the receiver closed, want 0", q)
		}
	})
}

// A writer closed, and its whole stack closed, while its datagrams wait
// at the receiver: they are still read, and paying the closed endpoint
// back is harmless (the leak checks see every packet released).
func TestSenderClosedWhileQueued(t *testing.T) {
	a, b := overPipe(t, pipeOptions{})
	srv, cli := connectedPair(t, a, b)
	const n = 10
	for i := range n {
		send(t, cli, []byte{byte(i)}, nil)
	}
	waitFor(t, "the datagrams to be queued", func() bool { return srv.Stats().PacketsReceived.Load() == n+1 })
	cli.Close()
	a.Close()
	for i := range n {
		expect(t, srv, []byte{byte(i)}, netip.AddrPort{})
	}
	if q := sendQueue(t, cli); q != 0 {
		t.Errorf("closed sender's send queue %d after its datagrams were read, want 0", q)
	}
}

// A multicast datagram goes to every member: it pays its sender back when
// delivered, so a member that never reads does not hold the sender back
// (it drops, as over a real link).
func TestMulticastPaidOnDelivery(t *testing.T) {
	a, b := overPipe(t, pipeOptions{})
	join := tcpip.AddMembershipOption{MulticastAddr: group, NIC: 1}
	var members [2]tcpip.Endpoint
	for i := range members {
		members[i] = bound(t, b, netip.Addr{}, 5000, tcpip.ReusePortOption(true))
		if err := members[i].SetSockOpt(join); err != nil {
			t.Fatal(err)
		}
	}
	cli := newUDP(t, a)
	if err := cli.SetSockOpt(tcpip.MulticastInterfaceOption{NIC: 1}); err != nil {
		t.Fatal(err)
	}
	// Far more than the send buffer holds, and nobody reads.
	const n = 2000
	w := startWriter(cli, n, 64, to(group, 5000))
	w.wait(t)
	for i, m := range members {
		st := m.Stats()
		waitFor(t, fmt.Sprintf("member %d to see every datagram", i), func() bool {
			return st.PacketsReceived.Load()+st.ReceiveBufferErrors.Load() == n
		})
	}
	paidBack(t, cli)
}

// A stack forwarding the datagrams passes their charge on with them: A's
// writer waits for C's reader through R, and loses nothing.
func TestForwardedSlowReaderLosesNothing(t *testing.T) {
	leakcheck.Check(t)
	testnet.CheckBuffers(t)
	host := func(links []stack.LinkEndpoint, addrs []string, gw string) *stack.Stack {
		s := stack.New(stack.Options{
			NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
			TransportProtocols: []stack.TransportProtocolFactory{udp.NewProtocol},
		})
		t.Cleanup(s.Close)
		for i, l := range links {
			id := tcpip.NICID(i + 1)
			if err := s.CreateNIC(id, ethernet.New(l)); err != nil {
				t.Fatal(err)
			}
			p := netip.MustParsePrefix(addrs[i])
			if err := s.AddProtocolAddress(id, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: p}, stack.AddressProperties{}); err != nil {
				t.Fatal(err)
			}
			if err := s.AddRoute(tcpip.Route{Destination: p.Masked(), NIC: id}); err != nil {
				t.Fatal(err)
			}
		}
		if gw != "" {
			if err := s.AddRoute(tcpip.Route{Destination: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr(gw), NIC: 1}); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	ar, ra := pipe.New(pipe.Config{QueueSize: 4096})
	rc, cr := pipe.New(pipe.Config{QueueSize: 4096})
	a := host([]stack.LinkEndpoint{ar}, []string{"10.1.0.2/24"}, "10.1.0.1")
	r := host([]stack.LinkEndpoint{ra, rc}, []string{"10.1.0.1/24", "10.2.0.1/24"}, "")
	c := host([]stack.LinkEndpoint{cr}, []string{"10.2.0.2/24"}, "10.2.0.1")
	if err := r.SetForwarding(tcpip.IPv4ProtocolNumber, true); err != nil {
		t.Fatal(err)
	}
	addrC := netip.MustParseAddr("10.2.0.2")
	srv := bound(t, c, netip.Addr{}, 9)
	cli := newUDP(t, a)
	if err := cli.Connect(tcpip.FullAddress{Addr: addrC, Port: 9}); err != nil {
		t.Fatal(err)
	}
	// The warm-up datagram waits for A's and R's ARP.
	send(t, cli, []byte("warm-up"), nil)
	waitReadable(t, srv)
	recv(t, srv)
	checkSlowReader(t, srv, cli, a, r, c)
	if got := r.Stats().IPv4.PacketsForwarded.Load(); got < 3000 {
		t.Errorf("R forwarded %d datagrams, want at least 3000", got)
	}
}
