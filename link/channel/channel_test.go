package channel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/channel"
	"github.com/ustack-go/ustack/link/internal/linktest"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

func pkt(s string) *buffer.Packet {
	p := buffer.NewPacket(8, nil)
	p.Payload.Append([]byte(s))
	copy(p.PrependHeader(buffer.NetworkLayer, 3), "HDR")
	return p
}

func TestConfigDefaults(t *testing.T) {
	leakcheck.Check(t)
	addr := tcpip.MustParseLinkAddress("02:00:00:00:00:07")
	e := channel.New(channel.Config{LinkAddress: addr, Capabilities: stack.CapabilityLoopback})
	defer e.Close()
	if e.MTU() != 1500 || e.MaxHeaderLength() != 0 || e.LinkAddress() != addr || e.Capabilities() != stack.CapabilityLoopback {
		t.Errorf("MTU %d, MaxHeaderLength %d, LinkAddress %v, Capabilities %v", e.MTU(), e.MaxHeaderLength(), e.LinkAddress(), e.Capabilities())
	}
	if e := channel.New(channel.Config{MTU: 9000}); e.MTU() != 9000 {
		t.Errorf("MTU = %d, want 9000", e.MTU())
	}
}

func TestWriteRead(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := channel.New(channel.Config{})
	defer e.Close()
	if _, ok := e.Read(); ok {
		t.Fatal("Read on an empty queue succeeded")
	}
	p := pkt("one")
	e.AddHeader(p) // nothing to add
	p.NetworkProtocol = tcpip.IPv4ProtocolNumber
	n, err := e.WritePackets([]*buffer.Packet{p, pkt("two"), pkt("three")})
	if n != 3 || err != nil {
		t.Fatalf("WritePackets = %d, %v", n, err)
	}
	if e.Len() != 3 {
		t.Errorf("Len = %d, want 3", e.Len())
	}
	for i, want := range []string{"HDRone", "HDRtwo", "HDRthree"} {
		got, ok := e.Read()
		if !ok {
			t.Fatalf("Read %d failed", i)
		}
		if b := got.AppendTo(nil); string(b) != want {
			t.Errorf("packet %d = %q, want %q", i, b, want)
		}
		if i == 0 && (got.NetworkProtocol != tcpip.IPv4ProtocolNumber || got.HeaderLen() != 3) {
			t.Errorf("packet 0 not as written: proto %v, %d header bytes", got.NetworkProtocol, got.HeaderLen())
		}
		got.Release()
	}
	if s := e.Stats(); s.TxPackets.Load() != 3 {
		t.Errorf("TxPackets = %d", s.TxPackets.Load())
	}
}

func TestBackpressure(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := channel.New(channel.Config{QueueSize: 4})
	defer e.Close()
	var pkts []*buffer.Packet
	for i := range 6 {
		pkts = append(pkts, pkt(fmt.Sprint(i)))
	}
	n, err := e.WritePackets(pkts)
	if n != 4 || !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Fatalf("WritePackets = %d, %v; want 4, ErrWouldBlock", n, err)
	}
	if got := e.Stats().TxQueueFull.Load(); got != 2 {
		t.Errorf("TxQueueFull = %d, want 2", got)
	}
	// Room for one more after one Read.
	p, _ := e.Read()
	p.Release()
	if n, err := e.WritePackets([]*buffer.Packet{pkt("x"), pkt("y")}); n != 1 || err != tcpip.ErrWouldBlock {
		t.Errorf("WritePackets on a queue with room for one = %d, %v", n, err)
	}
	if got := e.Drain(); got != 4 {
		t.Errorf("Drain = %d, want 4", got)
	}
	if e.Len() != 0 {
		t.Errorf("Len after Drain = %d", e.Len())
	}
}

func TestReadContext(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := channel.New(channel.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	if _, err := e.ReadContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReadContext on an empty queue = %v, want deadline exceeded", err)
	}
	cancel()

	got := make(chan string)
	go func() {
		p, err := e.ReadContext(context.Background())
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(p.AppendTo(nil))
		p.Release()
	}()
	e.WritePackets([]*buffer.Packet{pkt("late")})
	if s := <-got; s != "HDRlate" {
		t.Errorf("ReadContext = %q", s)
	}

	go func() {
		p, err := e.ReadContext(context.Background())
		if p != nil {
			p.Release()
		}
		got <- fmt.Sprint(err)
	}()
	e.WritePackets([]*buffer.Packet{pkt("queued")}) // released by Close, or read
	time.Sleep(time.Millisecond)
	e.Close()
	if s := <-got; s != "<nil>" && s != tcpip.ErrStackClosed.Error() {
		t.Errorf("ReadContext across Close = %q", s)
	}
	if _, err := e.ReadContext(context.Background()); err != tcpip.ErrStackClosed {
		t.Errorf("ReadContext after Close = %v", err)
	}
	if n, err := e.WritePackets([]*buffer.Packet{pkt("after")}); n != 0 || err != tcpip.ErrStackClosed {
		t.Errorf("WritePackets after Close = %d, %v", n, err)
	}
	if e.Stats().TxClosed.Load() != 1 {
		t.Errorf("TxClosed = %d", e.Stats().TxClosed.Load())
	}
	e.Close() // idempotent
}

func TestNotification(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := channel.New(channel.Config{})
	defer e.Close()
	select {
	case <-e.C():
		t.Fatal("notification with nothing queued")
	default:
	}
	e.WritePackets([]*buffer.Packet{pkt("a")})
	e.WritePackets([]*buffer.Packet{pkt("b")})
	<-e.C()
	n := 0
	for {
		p, ok := e.Read()
		if !ok {
			break
		}
		p.Release()
		n++
	}
	if n != 2 {
		t.Errorf("read %d packets after one notification, want 2", n)
	}
}

// Several readers and writers: every packet is read exactly once.
func TestConcurrentReadersWriters(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := channel.New(channel.Config{QueueSize: 16})
	const writers, perWriter = 4, 500
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	seen := map[string]int{}
	var readers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			for {
				p, err := e.ReadContext(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				seen[string(p.AppendTo(nil))]++
				mu.Unlock()
				p.Release()
			}
		})
	}
	var ws sync.WaitGroup
	for w := range writers {
		ws.Go(func() {
			for i := 0; i < perWriter; {
				if n, _ := e.WritePackets([]*buffer.Packet{pkt(fmt.Sprint(w, "-", i))}); n == 1 {
					i++
				} else {
					time.Sleep(10 * time.Microsecond)
				}
			}
		})
	}
	ws.Wait()
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == writers*perWriter {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	readers.Wait()
	e.Close()
	for k, v := range seen {
		if v != 1 {
			t.Errorf("%q read %d times", k, v)
		}
	}
}

func TestInjectInbound(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := channel.New(channel.Config{})
	if e.InjectInbound(tcpip.IPv4ProtocolNumber, pkt("early")) {
		t.Error("InjectInbound with no dispatcher reported true")
	}
	r := linktest.NewRecorder()
	e.Attach(r)
	if !e.IsAttached() {
		t.Error("not attached")
	}
	if !e.InjectInbound(tcpip.IPv6ProtocolNumber, buffer.NewPacketFromBytes(0, []byte("in"))) {
		t.Error("InjectInbound reported false")
	}
	got := r.Take()
	if len(got) != 1 || got[0].Proto != tcpip.IPv6ProtocolNumber || !got[0].Pkt.Payload.EqualBytes([]byte("in")) {
		t.Errorf("delivered %+v", got)
	}
	linktest.ReleaseAll(got)
	e.Attach(nil)
	if e.InjectInbound(0, pkt("detached")) {
		t.Error("InjectInbound after Attach(nil) reported true")
	}
	e.Attach(r)
	e.Close()
	if e.InjectInbound(0, pkt("closed")) {
		t.Error("InjectInbound after Close reported true")
	}
	s := e.Stats()
	if s.RxPackets.Load() != 1 || s.RxDetached.Load() != 3 {
		t.Errorf("RxPackets %d, RxDetached %d; want 1, 3", s.RxPackets.Load(), s.RxDetached.Load())
	}
}

// Close releases what is still queued.
func TestCloseReleasesQueue(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e := channel.New(channel.Config{})
	e.WritePackets([]*buffer.Packet{pkt("a"), pkt("b")})
	e.Close()
	if _, ok := e.Read(); ok {
		t.Error("Read after Close succeeded")
	}
}

type discard struct{}

func (discard) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, p *buffer.Packet) { p.Release() }

func TestAllocs(t *testing.T) {
	if linktest.RaceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	e := channel.New(channel.Config{})
	defer e.Close()
	e.Attach(discard{})
	payload := bytes.Repeat([]byte("p"), 1000)
	pkts := make([]*buffer.Packet, 1)
	write := func() {
		p := buffer.NewPacket(64, nil)
		p.Payload.Append(payload)
		p.PrependHeader(buffer.NetworkLayer, 20)
		pkts[0] = p
		if _, err := e.WritePackets(pkts); err != nil {
			t.Fatal(err)
		}
		q, ok := e.Read()
		if !ok {
			t.Fatal("Read failed")
		}
		q.Release()
	}
	write()
	if n := testing.AllocsPerRun(200, write); n != 0 {
		t.Errorf("WritePackets+Read: %v allocations, want 0", n)
	}
	inject := func() {
		p := buffer.NewPacket(0, nil)
		p.Payload.Append(payload)
		e.InjectInbound(tcpip.IPv4ProtocolNumber, p)
	}
	inject()
	if n := testing.AllocsPerRun(200, inject); n != 0 {
		t.Errorf("InjectInbound: %v allocations, want 0", n)
	}
}
