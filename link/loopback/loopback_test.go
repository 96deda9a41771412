package loopback_test

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/internal/linktest"
	"github.com/ustack-go/ustack/link/loopback"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

func outbound(hdr, payload string, proto tcpip.NetworkProtocolNumber) *buffer.Packet {
	p := buffer.NewPacket(32, nil)
	p.Payload.Append([]byte(payload))
	copy(p.PrependHeader(buffer.NetworkLayer, len(hdr)), hdr)
	p.NetworkProtocol = proto
	p.Type = buffer.PacketOutgoing
	return p
}

func TestProperties(t *testing.T) {
	leakcheck.Check(t)
	e := loopback.New(loopback.Options{})
	defer e.Close()
	want := stack.CapabilityLoopback | stack.CapabilityRXChecksumOffload | stack.CapabilityTXChecksumOffload
	if e.MTU() != 65536 || e.MaxHeaderLength() != 0 || !e.LinkAddress().IsZero() || e.Capabilities() != want {
		t.Errorf("MTU %d, MaxHeaderLength %d, LinkAddress %v, Capabilities %v", e.MTU(), e.MaxHeaderLength(), e.LinkAddress(), e.Capabilities())
	}
	e2 := loopback.New(loopback.Options{NoChecksumOffload: true, MTU: 1500})
	defer e2.Close()
	if e2.Capabilities() != stack.CapabilityLoopback || e2.MTU() != 1500 {
		t.Errorf("NoChecksumOffload: Capabilities %v, MTU %d", e2.Capabilities(), e2.MTU())
	}
}

func TestLoop(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := loopback.New(loopback.Options{})
	defer e.Close()
	r := linktest.NewRecorder()
	e.Attach(r)
	pkts := []*buffer.Packet{
		outbound("\x45IPV4", "a", tcpip.IPv4ProtocolNumber),
		outbound("\x60IPV6", "b", tcpip.IPv6ProtocolNumber),
		outbound("\x60raw", "c", 0), // no protocol: from the version nibble
		outbound("ARP?", "d", tcpip.ARPProtocolNumber),
	}
	e.AddHeader(pkts[0])
	if n, err := e.WritePackets(pkts); n != 4 || err != nil {
		t.Fatalf("WritePackets = %d, %v", n, err)
	}
	got := r.WaitN(t, 4)
	defer linktest.ReleaseAll(got)
	for i, want := range []struct {
		proto tcpip.NetworkProtocolNumber
		bytes string
	}{
		{tcpip.IPv4ProtocolNumber, "\x45IPV4a"},
		{tcpip.IPv6ProtocolNumber, "\x60IPV6b"},
		{tcpip.IPv6ProtocolNumber, "\x60rawc"},
		{tcpip.ARPProtocolNumber, "ARP?d"},
	} {
		d := got[i]
		if d.Proto != want.proto || d.Pkt.HeaderLen() != 0 || !d.Pkt.Payload.EqualBytes([]byte(want.bytes)) || d.Pkt.Type != buffer.PacketHost {
			t.Errorf("packet %d: %v %q (type %v), want %v %q", i, d.Proto, d.Pkt.Payload.Flatten(), d.Pkt.Type, want.proto, want.bytes)
		}
	}
}

// echo answers every packet by writing it back to the loopback from the
// delivery goroutine, as a stack answering a ping to itself does, until
// it has seen limit packets.
type echo struct {
	e     *loopback.Endpoint
	n     atomic.Int64
	limit int64
	done  chan struct{}
}

func (x *echo) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, p *buffer.Packet) {
	if x.n.Add(1) == x.limit {
		p.Release()
		close(x.done)
		return
	}
	out := buffer.NewPacket(0, nil)
	out.Payload.Merge(&p.Payload)
	p.Release()
	out.NetworkProtocol = proto
	if _, err := x.e.WritePackets([]*buffer.Packet{out}); err != nil {
		panic(err)
	}
}

// Writing from inside a delivery does not deadlock, and is not delivered
// synchronously (the stack would recurse without bound).
func TestWriteFromDelivery(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := loopback.New(loopback.Options{})
	defer e.Close()
	x := &echo{e: e, limit: 10000, done: make(chan struct{})}
	e.Attach(x)
	e.WritePackets([]*buffer.Packet{outbound("\x45", "ping", 0)})
	<-x.done
	e.Close() // the goroutine counts each batch after delivering it
	if got := e.Stats().RxPackets.Load(); got != 10000 {
		t.Errorf("RxPackets = %d", got)
	}
}

type blocking struct {
	entered, release chan struct{}
}

func (b *blocking) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, p *buffer.Packet) {
	p.Release()
	b.entered <- struct{}{}
	<-b.release
}

func TestBackpressureAndClose(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := loopback.New(loopback.Options{QueueSize: 2})
	b := &blocking{entered: make(chan struct{}, 10), release: make(chan struct{})}
	e.Attach(b)
	e.WritePackets([]*buffer.Packet{outbound("\x45", "1", 0)})
	<-b.entered
	n, err := e.WritePackets([]*buffer.Packet{outbound("\x45", "2", 0), outbound("\x45", "3", 0), outbound("\x45", "4", 0)})
	if n != 2 || !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("WritePackets = %d, %v; want 2, ErrWouldBlock", n, err)
	}
	if got := e.Stats().TxQueueFull.Load(); got != 1 {
		t.Errorf("TxQueueFull = %d", got)
	}
	close(b.release)
	e.Close() // waits for the goroutine, discards what is left
	if n, err := e.WritePackets([]*buffer.Packet{outbound("\x45", "5", 0)}); n != 0 || err != tcpip.ErrStackClosed {
		t.Errorf("WritePackets after Close = %d, %v", n, err)
	}
	s := e.Stats()
	if s.RxPackets.Load()+s.RxDetached.Load() != 3 {
		t.Errorf("RxPackets %d + RxDetached %d, want 3", s.RxPackets.Load(), s.RxDetached.Load())
	}
}

func TestDetached(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := loopback.New(loopback.Options{})
	defer e.Close()
	e.WritePackets([]*buffer.Packet{outbound("\x45", "lost", 0)})
	if got := e.Stats().RxDetached.Load(); got != 1 {
		t.Errorf("RxDetached = %d", got)
	}
}

type signal chan struct{}

func (s signal) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, p *buffer.Packet) {
	p.Release()
	s <- struct{}{}
}

func TestAllocs(t *testing.T) {
	if linktest.RaceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	leakcheck.Check(t)
	e := loopback.New(loopback.Options{})
	defer e.Close()
	s := make(signal, 1)
	e.Attach(s)
	payload := bytes.Repeat([]byte("l"), 8000)
	pkts := make([]*buffer.Packet, 1)
	run := func() {
		p := buffer.NewPacket(64, nil)
		p.Payload.Append(payload)
		copy(p.PrependHeader(buffer.NetworkLayer, 20), "\x45")
		p.NetworkProtocol = tcpip.IPv4ProtocolNumber
		pkts[0] = p
		e.WritePackets(pkts)
		<-s
	}
	for range 10 {
		run()
	}
	if n := testing.AllocsPerRun(300, run); n != 0 {
		t.Errorf("loopback round trip: %v allocations, want 0", n)
	}
}
