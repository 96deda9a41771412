package pipe_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/internal/linktest"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

// outbound returns an outbound packet: hdr prepended to payload.
func outbound(hdr, payload string) *buffer.Packet {
	p := buffer.NewPacket(32, nil)
	p.Payload.Append([]byte(payload))
	copy(p.PrependHeader(buffer.NetworkLayer, len(hdr)), hdr)
	return p
}

func write(t *testing.T, e *pipe.Endpoint, pkts ...*buffer.Packet) {
	t.Helper()
	if n, err := e.WritePackets(pkts); n != len(pkts) || err != nil {
		t.Fatalf("WritePackets = %d, %v; want %d, nil", n, err, len(pkts))
	}
}

func TestDefaults(t *testing.T) {
	leakcheck.Check(t)
	a, b := pipe.New(pipe.Config{Capabilities: stack.CapabilityLoopback})
	defer a.Close()
	defer b.Close()
	offload := stack.CapabilityRXChecksumOffload | stack.CapabilityTXChecksumOffload
	if a.MTU() != 1500 || a.MaxHeaderLength() != 0 || a.Capabilities() != stack.CapabilityLoopback|offload ||
		b.Capabilities() != a.Capabilities() {
		t.Errorf("MTU %d MaxHeaderLength %d Capabilities %v", a.MTU(), a.MaxHeaderLength(), a.Capabilities())
	}
	e, f := pipe.New(pipe.Config{NoChecksumOffload: true})
	if e.Capabilities() != 0 || f.Capabilities() != 0 {
		t.Errorf("NoChecksumOffload: Capabilities %v, %v", e.Capabilities(), f.Capabilities())
	}
	e.Close()
	f.Close()
	if a.LinkAddress() != pipe.DefaultAddressA || b.LinkAddress() != pipe.DefaultAddressB {
		t.Errorf("addresses %v, %v", a.LinkAddress(), b.LinkAddress())
	}
	if !a.LinkAddress().IsUnicast() || !a.LinkAddress().IsLocallyAdministered() {
		t.Errorf("default address %v is not local unicast", a.LinkAddress())
	}
	if a.Peer() != b || b.Peer() != a {
		t.Error("Peer")
	}
	c, d := pipe.New(pipe.Config{L3: true, MTU: 9000, AddressA: pipe.DefaultAddressA})
	defer c.Close()
	defer d.Close()
	if c.MTU() != 9000 || !c.LinkAddress().IsZero() || !d.LinkAddress().IsZero() {
		t.Errorf("L3 pipe: MTU %d, addresses %v %v", c.MTU(), c.LinkAddress(), d.LinkAddress())
	}
}

// Frames arrive at the other end in order, whole, in the inbound form,
// with protocol 0 and fresh metadata.
func TestFramesInOrder(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b := pipe.New(pipe.Config{QueueSize: 512})
	defer a.Close()
	defer b.Close()
	ra, rb := linktest.NewRecorder(), linktest.NewRecorder()
	a.Attach(ra)
	b.Attach(rb)
	const n = 300
	for i := range n {
		p := outbound(fmt.Sprintf("H%03d|", i), "payload")
		p.Type = buffer.PacketOutgoing
		p.NetworkProtocol = tcpip.IPv4ProtocolNumber
		write(t, a, p)
	}
	write(t, b, outbound("back|", "x"))
	got := rb.WaitN(t, n)
	defer linktest.ReleaseAll(got)
	for i, d := range got {
		want := fmt.Sprintf("H%03d|payload", i)
		if d.Proto != 0 || d.Pkt.HeaderLen() != 0 || !d.Pkt.Payload.EqualBytes([]byte(want)) {
			t.Fatalf("packet %d: proto %v, %d header bytes, payload %q; want 0, 0, %q",
				i, d.Proto, d.Pkt.HeaderLen(), d.Pkt.Payload.Flatten(), want)
		}
		if d.Pkt.Type != buffer.PacketHost || d.Pkt.NetworkProtocol != 0 {
			t.Fatalf("packet %d: metadata not fresh: type %v proto %v", i, d.Pkt.Type, d.Pkt.NetworkProtocol)
		}
	}
	back := ra.WaitN(t, 1)
	linktest.ReleaseAll(back)
	if got := a.Stats().TxPackets.Load(); got != n {
		t.Errorf("a.TxPackets = %d", got)
	}
	if got := b.Stats().RxPackets.Load(); got != n {
		t.Errorf("b.RxPackets = %d", got)
	}
}

func TestL3(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b := pipe.New(pipe.Config{L3: true})
	defer a.Close()
	defer b.Close()
	r := linktest.NewRecorder()
	b.Attach(r)
	write(t, a, outbound("\x45hdr", "v4"), outbound("\x60hdr", "v6"), buffer.NewPacketFromBytes(0, []byte("\x45raw")), outbound("\x00", "junk"))
	got := r.WaitN(t, 4)
	defer linktest.ReleaseAll(got)
	for i, want := range []tcpip.NetworkProtocolNumber{tcpip.IPv4ProtocolNumber, tcpip.IPv6ProtocolNumber, tcpip.IPv4ProtocolNumber, 0} {
		if got[i].Proto != want {
			t.Errorf("packet %d delivered as %v, want %v", i, got[i].Proto, want)
		}
	}
}

// blocking is a dispatcher whose deliveries wait for release.
type blocking struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func newBlocking() *blocking {
	return &blocking{entered: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (b *blocking) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, p *buffer.Packet) {
	p.Release()
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	b.entered <- struct{}{}
	<-b.release
}

// WritePackets never delivers synchronously: it returns while the
// receiver's dispatcher is still blocked in an earlier delivery.
func TestDeliveryIsAsynchronous(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b := pipe.New(pipe.Config{})
	defer a.Close()
	defer b.Close()
	d := newBlocking()
	b.Attach(d)
	returned := make(chan struct{})
	go func() {
		write(t, a, outbound("", "1"))
		write(t, a, outbound("", "2"))
		close(returned)
	}()
	<-d.entered
	select {
	case <-returned:
	case <-time.After(linktest.WaitTimeout):
		t.Fatal("WritePackets blocked behind the receiver's dispatcher")
	}
	close(d.release)
	<-d.entered
}

// A full queue refuses with ErrWouldBlock, counted; nothing is dropped
// silently.
func TestBackpressure(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b := pipe.New(pipe.Config{QueueSize: 8})
	defer a.Close()
	defer b.Close()
	d := newBlocking()
	b.Attach(d)
	write(t, a, outbound("", "first"))
	<-d.entered // the goroutine holds "first"; the queue is empty
	var pkts []*buffer.Packet
	for i := range 10 {
		pkts = append(pkts, outbound("", fmt.Sprint(i)))
	}
	n, err := a.WritePackets(pkts)
	if n != 8 || !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("WritePackets = %d, %v; want 8, ErrWouldBlock", n, err)
	}
	if got := a.Stats().TxQueueFull.Load(); got != 2 {
		t.Errorf("TxQueueFull = %d, want 2", got)
	}
	close(d.release)
	for range 8 {
		<-d.entered
	}
	if got := a.Stats().TxPackets.Load(); got != 9 {
		t.Errorf("TxPackets = %d, want 9", got)
	}
}

// Frames written to an end without a dispatcher are discarded and counted
// at that end; the writer sees success.
func TestDetachedPeer(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b := pipe.New(pipe.Config{})
	defer a.Close()
	write(t, a, outbound("", "nobody"))
	if got := b.Stats().RxDetached.Load(); got != 1 {
		t.Errorf("RxDetached = %d, want 1", got)
	}
	// Attach(nil) discards what was queued and stops the goroutine.
	d := newBlocking()
	b.Attach(d)
	write(t, a, outbound("", "held"))
	<-d.entered
	write(t, a, outbound("", "queued1"), outbound("", "queued2"))
	detached := make(chan struct{})
	go func() { b.Attach(nil); close(detached) }()
	select {
	case <-detached:
		t.Fatal("Attach(nil) returned during a delivery")
	case <-time.After(20 * time.Millisecond):
	}
	close(d.release)
	<-detached
	if got := b.Stats().RxDetached.Load(); got != 3 {
		t.Errorf("RxDetached = %d, want 3", got)
	}
	// Closing b: a's writes are still accepted and discarded.
	b.Close()
	write(t, a, outbound("", "to closed"))
	if got := b.Stats().RxDetached.Load(); got != 4 {
		t.Errorf("RxDetached = %d, want 4", got)
	}
	if n, err := b.WritePackets([]*buffer.Packet{outbound("", "x")}); n != 0 || err != tcpip.ErrStackClosed {
		t.Errorf("WritePackets after Close = %d, %v", n, err)
	}
	if got := b.Stats().TxClosed.Load(); got != 1 {
		t.Errorf("TxClosed = %d", got)
	}
	b.Attach(linktest.NewRecorder()) // no effect after Close
	b.Close()
}

// Replacing the dispatcher: once Attach returns, the old one gets nothing.
func TestReattach(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b := pipe.New(pipe.Config{})
	defer a.Close()
	defer b.Close()
	r1, r2 := linktest.NewRecorder(), linktest.NewRecorder()
	b.Attach(r1)
	for i := range 100 {
		write(t, a, outbound("", fmt.Sprint(i)))
		if i == 50 {
			b.Attach(r2)
		}
	}
	got1 := r1.Take()
	got2 := r2.WaitN(t, 100-len(got1))
	if len(got1)+len(got2) != 100 || r1.Len() != 0 {
		t.Errorf("r1 %d, r2 %d, r1 later %d", len(got1), len(got2), r1.Len())
	}
	// In order across the switch.
	for i, d := range append(got1, got2...) {
		if !d.Pkt.Payload.EqualBytes([]byte(fmt.Sprint(i))) {
			t.Errorf("packet %d = %q", i, d.Pkt.Payload.Flatten())
			break
		}
	}
	linktest.ReleaseAll(got1)
	linktest.ReleaseAll(got2)
}

// Both ends writing at once from several goroutines: every frame arrives
// once, and each writer's frames arrive in its order.
func TestConcurrentBothWays(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b := pipe.New(pipe.Config{QueueSize: 64})
	defer a.Close()
	defer b.Close()
	type check struct {
		mu   sync.Mutex
		next map[uint32]uint32
		bad  int
		n    int
		done chan struct{}
	}
	const writers, per = 3, 2000
	mk := func() *check { return &check{next: map[uint32]uint32{}, done: make(chan struct{})} }
	ca, cb := mk(), mk()
	disp := func(c *check) stack.NetworkDispatcher {
		return dispatchFunc(func(_ tcpip.NetworkProtocolNumber, p *buffer.Packet) {
			b, _ := p.Peek(8)
			w, seq := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
			p.Release()
			c.mu.Lock()
			if c.next[w] != seq {
				c.bad++
			}
			c.next[w] = seq + 1
			c.n++
			if c.n == writers*per {
				close(c.done)
			}
			c.mu.Unlock()
		})
	}
	a.Attach(disp(ca))
	b.Attach(disp(cb))
	var wg sync.WaitGroup
	for _, e := range []*pipe.Endpoint{a, b} {
		for w := range writers {
			wg.Go(func() {
				for i := 0; i < per; {
					var hdr [8]byte
					binary.BigEndian.PutUint32(hdr[:], uint32(w))
					binary.BigEndian.PutUint32(hdr[4:], uint32(i))
					if n, _ := e.WritePackets([]*buffer.Packet{outbound(string(hdr[:]), "data")}); n == 1 {
						i++
					} else {
						time.Sleep(20 * time.Microsecond)
					}
				}
			})
		}
	}
	wg.Wait()
	for _, c := range []*check{ca, cb} {
		select {
		case <-c.done:
		case <-time.After(linktest.WaitTimeout):
			t.Fatalf("delivered %d of %d", c.n, writers*per)
		}
		if c.bad != 0 {
			t.Errorf("%d frames out of order", c.bad)
		}
	}
}

type dispatchFunc func(tcpip.NetworkProtocolNumber, *buffer.Packet)

func (f dispatchFunc) DeliverNetworkPacket(p tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	f(p, pkt)
}

// The steady state allocates nothing: write, convert, queue, wake the
// goroutine, deliver.
func TestAllocs(t *testing.T) {
	if linktest.RaceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	leakcheck.Check(t)
	a, b := pipe.New(pipe.Config{})
	defer a.Close()
	defer b.Close()
	got := make(chan struct{}, 1)
	b.Attach(dispatchFunc(func(_ tcpip.NetworkProtocolNumber, p *buffer.Packet) {
		p.Release()
		got <- struct{}{}
	}))
	payload := bytes.Repeat([]byte("d"), 1400)
	pkts := make([]*buffer.Packet, 1)
	run := func() {
		p := buffer.NewPacket(64, nil)
		p.Payload.Append(payload)
		p.PrependHeader(buffer.NetworkLayer, 40)
		p.PrependHeader(buffer.LinkLayer, 14)
		pkts[0] = p
		if _, err := a.WritePackets(pkts); err != nil {
			t.Fatal(err)
		}
		<-got
	}
	for range 10 {
		run()
	}
	if n := testing.AllocsPerRun(500, run); n != 0 {
		t.Errorf("write and delivery: %v allocations per packet, want 0", n)
	}
}

func BenchmarkPipe(b *testing.B) {
	x, y := pipe.New(pipe.Config{QueueSize: 1024})
	defer x.Close()
	defer y.Close()
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	delivered := 0
	y.Attach(dispatchFunc(func(_ tcpip.NetworkProtocolNumber, p *buffer.Packet) {
		p.Release()
		mu.Lock()
		delivered++
		cond.Signal()
		mu.Unlock()
	}))
	payload := bytes.Repeat([]byte("d"), 1400)
	b.SetBytes(int64(len(payload) + 54))
	b.ReportAllocs()
	pkts := make([]*buffer.Packet, 1)
	sent := 0
	for b.Loop() {
		p := buffer.NewPacket(64, nil)
		p.Payload.Append(payload)
		p.PrependHeader(buffer.NetworkLayer, 54)
		pkts[0] = p
		for {
			if n, _ := x.WritePackets(pkts); n == 1 {
				break
			}
			p = buffer.NewPacket(64, nil)
			p.Payload.Append(payload)
			p.PrependHeader(buffer.NetworkLayer, 54)
			pkts[0] = p
			mu.Lock()
			for delivered < sent-512 {
				cond.Wait()
			}
			mu.Unlock()
		}
		sent++
	}
	mu.Lock()
	for delivered < sent {
		cond.Wait()
	}
	mu.Unlock()
}

// owner counts what its packets are paid back.
type owner struct {
	mu    sync.Mutex
	n     int
	freed chan struct{}
}

func (o *owner) PacketReleased(c int) {
	o.mu.Lock()
	o.n += c
	o.mu.Unlock()
	o.freed <- struct{}{}
}

func (o *owner) paid() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// holding is a dispatcher that keeps what it is delivered, as a receiving
// socket's queue does, and whose deliveries wait for release.
type holding struct {
	mu      sync.Mutex
	held    []*buffer.Packet
	entered chan struct{}
	release chan struct{}
}

func (h *holding) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, p *buffer.Packet) {
	h.mu.Lock()
	h.held = append(h.held, p)
	h.mu.Unlock()
	h.entered <- struct{}{}
	<-h.release
}

// take returns the packets delivered so far and forgets them.
func (h *holding) take() []*buffer.Packet {
	h.mu.Lock()
	defer h.mu.Unlock()
	held := h.held
	h.held = nil
	return held
}

// A sender stays charged for its packet while the packet is queued in the
// pipe and after it was delivered, until the receiver lets go of it
// (backpressure from end to end, see the package doc); it is paid back at
// once for a packet the full queue refuses, and for one discarded when the
// receiving end is detached.
func TestOwnerPaidByReceiver(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b := pipe.New(pipe.Config{QueueSize: 1})
	defer a.Close()
	defer b.Close()
	d := &holding{entered: make(chan struct{}, 1000), release: make(chan struct{})}
	b.Attach(d)
	o1 := &owner{freed: make(chan struct{}, 1)}
	o2 := &owner{freed: make(chan struct{}, 1)}
	o3 := &owner{freed: make(chan struct{}, 1)}
	p1 := outbound("", "1")
	p1.SetOwner(o1, 1)
	write(t, a, p1)
	<-d.entered // the dispatcher holds the first packet
	if o1.paid() != 0 {
		t.Errorf("first packet: paid %d while the receiver holds it, want 0", o1.paid())
	}
	p2 := outbound("", "2")
	p2.SetOwner(o2, 2)
	write(t, a, p2) // queued behind the blocked delivery
	p3 := outbound("", "3")
	p3.SetOwner(o3, 3)
	if n, err := a.WritePackets([]*buffer.Packet{p3}); n != 0 || !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("WritePackets to a full queue = %d, %v; want 0, ErrWouldBlock", n, err)
	}
	if o3.paid() != 3 {
		t.Errorf("refused packet: paid %d, want 3", o3.paid())
	}
	for _, p := range d.take() {
		p.Release()
	}
	if o1.paid() != 1 {
		t.Errorf("first packet: paid %d once the receiver released it, want 1", o1.paid())
	}

	// Detach b while the second packet is queued: once the detach has
	// begun, what a writes is discarded (RxDetached) rather than refused.
	detached := make(chan struct{})
	go func() {
		b.Attach(nil)
		close(detached)
	}()
	deadline := time.Now().Add(linktest.WaitTimeout)
	for b.Stats().RxDetached.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the detach did not begin")
		}
		a.WritePackets([]*buffer.Packet{outbound("", "probe")})
		time.Sleep(time.Millisecond)
	}
	if o2.paid() != 0 {
		t.Errorf("queued packet: paid %d, want 0", o2.paid())
	}
	close(d.release)
	<-detached
	if o2.paid() != 2 {
		t.Errorf("packet discarded by the detach: paid %d, want 2", o2.paid())
	}
	if held := d.take(); len(held) != 0 {
		t.Errorf("%d packets delivered after the detach began", len(held))
	}
}
