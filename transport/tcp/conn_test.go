package tcp_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/tcp"
)

func TestConnectAcceptEcho(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	wantState(t, cli, tcp.StateEstablished)
	wantState(t, srv, tcp.StateEstablished)
	in := info(t, cli)
	if !in.Timestamps || !in.WindowScale || !in.SACKPermitted || in.SndMSS != 1460-12 || in.RcvWScale != defaultWS {
		t.Fatalf("negotiated %+v", in)
	}
	write(t, cli, []byte("hello"))
	e.pump()
	if got := readAll(t, srv); string(got) != "hello" {
		t.Fatalf("server read %q", got)
	}
	write(t, srv, []byte("hello"))
	e.pump()
	if got := readAll(t, cli); string(got) != "hello" {
		t.Fatalf("client read %q", got)
	}
	ra, err := srv.RemoteAddress()
	if err != nil || ra.Addr != addrA {
		t.Fatalf("RemoteAddress = %v, %v", ra, err)
	}
	cli.Close()
	e.pump()
	if _, err := srv.Read(make([]byte, 10), tcpip.ReadOptions{}); !errors.Is(err, tcpip.ErrClosedForReceive) {
		t.Fatalf("server Read after peer close = %v", err)
	}
	srv.Close()
	e.pump()
	wantState(t, srv, tcp.StateClosed)
	wantState(t, cli, tcp.StateTimeWait)
	e.advance(2 * tcp.DefaultMSL)
	wantState(t, cli, tcp.StateClosed)
	for _, s := range []string{"TCP.CurrentEstablished", "TCP.CurrentConnected"} {
		if counter(e.a, s) != 0 || counter(e.b, s) != 0 {
			t.Errorf("%s = %d, %d after close", s, counter(e.a, s), counter(e.b, s))
		}
	}
	if counter(e.a, "TCP.ActiveOpenings") != 1 || counter(e.b, "TCP.PassiveOpenings") != 1 {
		t.Errorf("openings %d, %d", counter(e.a, "TCP.ActiveOpenings"), counter(e.b, "TCP.PassiveOpenings"))
	}
}

// transfer moves data from w to r over the env, byte-exact.
func transfer(t *testing.T, e *env, w, r tcpip.Endpoint, data []byte) {
	t.Helper()
	var got []byte
	buf := make([]byte, 1<<16)
	off := 0
	for rounds := 0; len(got) < len(data); rounds++ {
		if rounds > 100000 {
			t.Fatalf("transfer stalled at %d of %d bytes", len(got), len(data))
		}
		if off < len(data) {
			n, err := w.Write(data[off:], tcpip.WriteOptions{})
			if err != nil && !errors.Is(err, tcpip.ErrWouldBlock) {
				t.Fatalf("Write: %v", err)
			}
			off += n
		}
		e.pump()
		for {
			res, err := r.Read(buf, tcpip.ReadOptions{})
			if err != nil {
				break
			}
			got = append(got, buf[:res.N]...)
		}
		if e.hub.Frames() == 0 {
			continue
		}
		// Let delayed ACKs and timers run.
		e.advance(time.Millisecond)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("data differs (len %d vs %d)", len(got), len(data))
	}
}

func TestTransfer16MiB(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	data := make([]byte, 16<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	transfer(t, e, cli, srv, data)
	if n := counter(e.a, "TCP.Retransmits"); n != 0 {
		t.Errorf("%d retransmissions without loss", n)
	}
}

func TestHalfClose(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	if err := cli.Shutdown(tcpip.ShutdownWrite); err != nil {
		t.Fatal(err)
	}
	e.pump()
	wantState(t, cli, tcp.StateFinWait2)
	wantState(t, srv, tcp.StateCloseWait)
	if _, err := srv.Read(make([]byte, 1), tcpip.ReadOptions{}); !errors.Is(err, tcpip.ErrClosedForReceive) {
		t.Fatalf("Read = %v, want EOF", err)
	}
	if srv.Readiness(tcpip.EventRdHUp) == 0 {
		t.Fatal("no EventRdHUp")
	}
	// The other direction still works.
	write(t, srv, []byte("still here"))
	e.pump()
	if got := readAll(t, cli); string(got) != "still here" {
		t.Fatalf("read %q", got)
	}
	if _, err := cli.Write([]byte("x"), tcpip.WriteOptions{}); !errors.Is(err, tcpip.ErrClosedForSend) {
		t.Fatalf("Write after shutdown = %v", err)
	}
	if err := srv.Shutdown(tcpip.ShutdownWrite); err != nil {
		t.Fatal(err)
	}
	e.pump()
	wantState(t, srv, tcp.StateClosed)
	wantState(t, cli, tcp.StateTimeWait)
	if _, err := cli.Read(make([]byte, 1), tcpip.ReadOptions{}); !errors.Is(err, tcpip.ErrClosedForReceive) {
		t.Fatalf("Read = %v, want EOF", err)
	}
	e.advance(2 * tcp.DefaultMSL)
}

func TestSimultaneousOpenAndClose(t *testing.T) {
	e := newEnv(t, true)
	a := newTCP(t, e.a)
	b := newTCP(t, e.b)
	if err := a.Bind(tcpip.FullAddress{Port: 5000}); err != nil {
		t.Fatal(err)
	}
	if err := b.Bind(tcpip.FullAddress{Port: 6000}); err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(tcpip.FullAddress{Addr: addrB, Port: 6000}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	if err := b.Connect(tcpip.FullAddress{Addr: addrA, Port: 5000}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	e.pump()
	wantState(t, a, tcp.StateEstablished)
	wantState(t, b, tcp.StateEstablished)
	write(t, a, []byte("ab"))
	write(t, b, []byte("ba"))
	e.pump()
	if got := readAll(t, b); string(got) != "ab" {
		t.Fatalf("b read %q", got)
	}
	if got := readAll(t, a); string(got) != "ba" {
		t.Fatalf("a read %q", got)
	}
	// Simultaneous close: both FINs cross.
	a.Close()
	b.Close()
	e.pump()
	wantState(t, a, tcp.StateTimeWait)
	wantState(t, b, tcp.StateTimeWait)
	e.advance(2 * tcp.DefaultMSL)
	wantState(t, a, tcp.StateClosed)
}

func TestConnectionRefused(t *testing.T) {
	e := newEnv(t, true)
	c := newTCP(t, e.a)
	if err := c.Connect(tcpip.FullAddress{Addr: addrB, Port: 81}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	e.pump()
	if c.Readiness(tcpip.EventErr|tcpip.EventHUp) == 0 {
		t.Fatal("no EventErr/EventHUp after RST")
	}
	err := c.Connect(tcpip.FullAddress{Addr: addrB, Port: 81})
	if !errors.Is(err, tcpip.ErrConnectionRefused) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Connect = %v, want ECONNREFUSED", err)
	}
	if n := counter(e.b, "TCP.NoEndpoint"); n != 1 {
		t.Fatalf("NoEndpoint = %d", n)
	}
}

// Ephemeral ports: a 4-tuple still in use (FIN-WAIT-2, TIME-WAIT) is not
// reused by Connect, while the same port serves another destination (RFC
// 6056 §3.3.4, testPort).
func TestEphemeralPortAvoidsTimeWait(t *testing.T) {
	e := newEnv(t, true)
	if err := e.a.PortManager().SetPortRange(40000, 40001); err != nil {
		t.Fatal(err)
	}
	listen(t, e.b, addrB, 80, 4)
	listen(t, e.b, addrB, 81, 4)
	dial := func(port uint16) (tcpip.Endpoint, uint16) {
		t.Helper()
		c := newTCP(t, e.a)
		if err := c.Connect(tcpip.FullAddress{Addr: addrB, Port: port}); !errors.Is(err, tcpip.ErrConnectStarted) {
			t.Fatalf("Connect(%d) = %v", port, err)
		}
		e.pump()
		la, _ := c.LocalAddress()
		return c, la.Port
	}
	c1, p1 := dial(80)
	c1.Close()
	e.pump()
	wantState(t, c1, tcp.StateFinWait2)
	_, p2 := dial(80)
	if p2 == p1 {
		t.Fatalf("second connection reused port %d", p1)
	}
	_, p3 := dial(81)
	if p3 != p1 && p3 != p2 {
		t.Fatalf("port %d out of range", p3)
	}
	c4 := newTCP(t, e.a)
	if err := c4.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrNoPortAvailable) {
		t.Fatalf("third Connect to :80 = %v, want ErrNoPortAvailable", err)
	}
}

// A connection within one stack (handle-local): segments loop back
// through the stack's local queue, never synchronously into the sender.
func TestLoopbackConnection(t *testing.T) {
	leakcheck.Check(t)
	testnet.CheckBuffers(t)
	clock := tcpip.NewManualClock()
	hub := testnet.NewHub(clock)
	t.Cleanup(hub.Close)
	t.Cleanup(func() {
		if n := clock.Pending(); n != 0 {
			t.Errorf("%d timers pending after the stack closed", n)
		}
	})
	opts := stackOpts()
	opts.HandleLocal = true
	s := hub.NewStack(t, opts)
	addNIC(t, hub, s, addrA)
	e := &env{t: t, hub: hub, clock: clock, a: s, sn: &sniffer{}}
	l := listen(t, s, addrA, 80, 1)
	c := newTCP(t, s)
	if err := c.Connect(tcpip.FullAddress{Addr: addrA, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
		t.Fatal(err)
	}
	e.pump()
	srv := accept(t, l)
	data := make([]byte, 300000)
	for i := range data {
		data[i] = byte(i)
	}
	transfer(t, e, c, srv, data)
	c.Close()
	srv.Close()
	e.advance(2 * tcp.DefaultMSL)
	wantState(t, c, tcp.StateClosed)
}

// Readiness changes reach the WaitQueue: EventIn when data arrives,
// EventOut when ACKs free send-buffer space, EventHUp/EventIn at EOF.
func TestWaitQueueEvents(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	if err := cli.SetSockOpt(tcpip.SendBufferSizeOption(8192)); err != nil {
		t.Fatal(err)
	}
	in := tcpip.NewChannelWaiter()
	out := tcpip.NewChannelWaiter()
	hIn := srv.WaitQueue().Register(in, tcpip.EventIn)
	defer srv.WaitQueue().Unregister(hIn)
	hOut := cli.WaitQueue().Register(out, tcpip.EventOut)
	defer cli.WaitQueue().Unregister(hOut)
	n, err := cli.Write(make([]byte, 20000), tcpip.WriteOptions{})
	if err != nil || n != 8192 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if _, err := cli.Write([]byte("x"), tcpip.WriteOptions{}); !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("Write on a full buffer = %v", err)
	}
	if cli.Readiness(tcpip.EventOut) != 0 {
		t.Fatal("EventOut with a full buffer")
	}
	select {
	case <-out:
	default:
	}
	e.pump()
	select {
	case <-in:
	default:
		t.Fatal("no EventIn notification")
	}
	select {
	case <-out:
	default:
		t.Fatal("no EventOut notification")
	}
	readAll(t, srv)
	cli.Close()
	e.pump()
	select {
	case <-in:
	default:
		t.Fatal("no EventIn at EOF")
	}
	if srv.Readiness(tcpip.EventIn|tcpip.EventRdHUp) != tcpip.EventIn|tcpip.EventRdHUp {
		t.Fatalf("readiness %v", srv.Readiness(tcpip.EventsAll))
	}
}
