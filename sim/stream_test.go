package sim_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/tcpip"
)

// fakeNet is an in-memory stream transport for testing the Stream driver
// without TCP: endpoints keyed by port, data moved between them after a
// fixed delay by clock callbacks, each receive buffer bounded so that
// Write returns ErrWouldBlock and readiness matters.
type fakeNet struct {
	clock     tcpip.Clock
	delay     time.Duration
	bufSize   int
	listeners map[uint16]*fakeEP
	timers    map[*fakeTimer]struct{}
}

type fakeTimer struct{ t tcpip.Timer }

// after runs f after the fake's delay, tracking the timer for stopAll.
func (fn *fakeNet) after(f func()) {
	ft := &fakeTimer{}
	fn.timers[ft] = struct{}{}
	ft.t = fn.clock.AfterFunc(fn.delay, func() {
		delete(fn.timers, ft)
		f()
	})
}

func (fn *fakeNet) stopAll() {
	for ft := range fn.timers {
		ft.t.Stop()
	}
	clear(fn.timers)
}

// fakeEP is one end of a fake stream. It implements the parts of
// tcpip.Endpoint a stream driver uses.
type fakeEP struct {
	fn        *fakeNet
	wq        tcpip.WaitQueue
	port      uint16
	listening bool
	acceptQ   []*fakeEP
	peer      *fakeEP
	connected bool
	rcv       []byte
	inFlight  int // bytes sent to the peer not yet in its rcv
	eof       bool
	wrShut    bool
	closed    bool
}

var _ tcpip.Endpoint = (*fakeEP)(nil)

func (e *fakeEP) Bind(a tcpip.FullAddress) error { e.port = a.Port; return nil }

func (e *fakeEP) Listen(int) error {
	e.listening = true
	e.fn.listeners[e.port] = e
	return nil
}

func (e *fakeEP) Connect(a tcpip.FullAddress) error {
	e.fn.after(func() {
		l := e.fn.listeners[a.Port]
		if l == nil || l.closed {
			return
		}
		srv := &fakeEP{fn: e.fn, connected: true, peer: e}
		e.peer = srv
		l.acceptQ = append(l.acceptQ, srv)
		l.wq.Notify(tcpip.EventIn)
		e.fn.after(func() {
			e.connected = true
			e.wq.Notify(tcpip.EventOut)
		})
	})
	return tcpip.ErrConnectStarted
}

func (e *fakeEP) Accept() (tcpip.Endpoint, tcpip.FullAddress, error) {
	if len(e.acceptQ) == 0 {
		return nil, tcpip.FullAddress{}, tcpip.ErrWouldBlock
	}
	c := e.acceptQ[0]
	e.acceptQ = e.acceptQ[1:]
	return c, tcpip.FullAddress{}, nil
}

func (e *fakeEP) Write(p []byte, _ tcpip.WriteOptions) (int, error) {
	if !e.connected || e.wrShut {
		return 0, tcpip.ErrClosedForSend
	}
	room := e.fn.bufSize - len(e.peer.rcv) - e.inFlight
	n := min(room, len(p))
	if n <= 0 {
		return 0, tcpip.ErrWouldBlock
	}
	data := append([]byte(nil), p[:n]...)
	e.inFlight += n
	peer := e.peer
	e.fn.after(func() {
		e.inFlight -= len(data)
		peer.rcv = append(peer.rcv, data...)
		peer.wq.Notify(tcpip.EventIn)
	})
	return n, nil
}

func (e *fakeEP) Read(p []byte, _ tcpip.ReadOptions) (tcpip.ReadResult, error) {
	if len(e.rcv) == 0 {
		if e.eof {
			return tcpip.ReadResult{}, tcpip.ErrClosedForReceive
		}
		return tcpip.ReadResult{}, tcpip.ErrWouldBlock
	}
	n := copy(p, e.rcv)
	e.rcv = e.rcv[n:]
	e.peer.wq.Notify(tcpip.EventOut)
	return tcpip.ReadResult{N: n, Total: n}, nil
}

func (e *fakeEP) Shutdown(how tcpip.ShutdownFlags) error {
	if how&tcpip.ShutdownWrite != 0 && !e.wrShut {
		e.wrShut = true
		peer := e.peer
		e.fn.after(func() {
			peer.eof = true
			peer.wq.Notify(tcpip.EventIn | tcpip.EventRdHUp)
		})
	}
	return nil
}

func (e *fakeEP) Close() {
	e.closed = true
	if e.listening && e.fn.listeners[e.port] == e {
		delete(e.fn.listeners, e.port)
	}
}

func (e *fakeEP) Readiness(mask tcpip.Events) tcpip.Events {
	var r tcpip.Events
	if len(e.rcv) > 0 || e.eof || len(e.acceptQ) > 0 {
		r |= tcpip.EventIn
	}
	if e.connected && !e.wrShut && e.fn.bufSize-len(e.peer.rcv)-e.inFlight > 0 {
		r |= tcpip.EventOut
	}
	return r & mask
}

func (e *fakeEP) WaitQueue() *tcpip.WaitQueue { return &e.wq }
func (e *fakeEP) LocalAddress() (tcpip.FullAddress, error) {
	return tcpip.FullAddress{Port: e.port}, nil
}
func (e *fakeEP) RemoteAddress() (tcpip.FullAddress, error)   { return tcpip.FullAddress{}, nil }
func (e *fakeEP) SetSockOpt(any) error                        { return tcpip.ErrNotSupported }
func (e *fakeEP) GetSockOpt(any) error                        { return tcpip.ErrNotSupported }
func (e *fakeEP) LastError() error                            { return nil }
func (e *fakeEP) Stats() *tcpip.EndpointStats                 { return nil }
func (fn *fakeNet) newEP(*sim.Host) (tcpip.Endpoint, error)   { return &fakeEP{fn: fn}, nil }
func newFakeNet(n *sim.Network, delay time.Duration) *fakeNet { return newFake(n, delay, 4096) }

func newFake(n *sim.Network, delay time.Duration, buf int) *fakeNet {
	return &fakeNet{clock: n.Clock(), delay: delay, bufSize: buf, listeners: map[uint16]*fakeEP{}, timers: map[*fakeTimer]struct{}{}}
}

// The stream driver moves every byte through an endpoint that accepts a
// few KiB at a time, and checks them; its timing follows the fake's
// window: 4 KiB per one-way delay of 1 ms (the window reopens as soon as
// the receiver reads).
func TestStreamDriverFake(t *testing.T) {
	n := newNet(t, 1)
	a, b, _ := pair(t, n, sim.Props{}, sim.Props{})
	fn := newFakeNet(n, time.Millisecond)
	t.Cleanup(fn.stopAll)
	const size = 1 << 20
	s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: size, Seed: 42, NewEndpoint: fn.newEP})
	if err != nil {
		t.Fatal(err)
	}
	if !n.RunUntil(s.Done, time.Hour) {
		t.Fatal("not done")
	}
	r := s.Result()
	t.Log(r)
	if !r.OK() || r.Received != size || r.Sent != size || r.SentSHA256 != r.ReceivedSHA256 {
		t.Fatalf("result %v", r)
	}
	// 256 windows of 4 KiB, each 1 ms, plus the handshake (1 ms to
	// the listener) and the end of stream (1 ms).
	if r.Duration != 258*time.Millisecond {
		t.Errorf("took %v", r.Duration)
	}
	// Another seed sends other data.
	s2, err := sim.StartStream(a, b, sim.StreamConfig{Port: 81, Size: size, Seed: 43, NewEndpoint: fn.newEP})
	if err != nil {
		t.Fatal(err)
	}
	n.RunUntil(s2.Done, time.Hour)
	if r2 := s2.Result(); !r2.OK() || r2.SentSHA256 == r.SentSHA256 {
		t.Errorf("seed 43: %v, same data %v", r2, r2.SentSHA256 == r.SentSHA256)
	}
}

// A receiver that gets fewer bytes than were sent reports the mismatch.
func TestStreamDriverDetectsShortStream(t *testing.T) {
	n := newNet(t, 1)
	a, b, _ := pair(t, n, sim.Props{}, sim.Props{})
	fn := newFake(n, time.Millisecond, 1000)
	t.Cleanup(fn.stopAll)
	s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: 10000, Seed: 1, NewEndpoint: fn.newEP})
	if err != nil {
		t.Fatal(err)
	}
	// Swallow 10 bytes on their way: shrink what the next delivery
	// appends by truncating the receiver's buffer as it fills.
	var rcv *fakeEP
	n.RunUntil(func() bool {
		if l := fn.listeners[80]; l != nil && len(l.acceptQ) > 0 {
			rcv = l.acceptQ[0]
		}
		return rcv != nil
	}, time.Second)
	n.RunUntil(func() bool { return len(rcv.rcv) > 10 }, time.Second)
	rcv.rcv = rcv.rcv[10:]
	n.RunUntil(s.Done, time.Hour)
	r := s.Result()
	if r.OK() || r.Err == nil {
		t.Fatalf("result %v, want an error", r)
	}
	t.Log(r)
}

// A transfer closed before it ends stays not done, and stops.
func TestStreamDriverClose(t *testing.T) {
	n := newNet(t, 1)
	a, b, _ := pair(t, n, sim.Props{}, sim.Props{})
	fn := newFakeNet(n, time.Millisecond)
	t.Cleanup(fn.stopAll)
	s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: 1 << 30, Seed: 1, NewEndpoint: fn.newEP})
	if err != nil {
		t.Fatal(err)
	}
	n.Run(100 * time.Millisecond)
	if s.Done() {
		t.Fatal("a gigabyte in 100ms through a 4 KiB window")
	}
	s.Close()
	fn.stopAll()
	n.Run(time.Second)
	if r := s.Result(); r.Done || r.Sent == 0 {
		t.Errorf("after Close: %v", r)
	}
}
