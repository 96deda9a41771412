package linkutil_test

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/internal/linktest"
	"github.com/ustack-go/ustack/link/linkutil"
	"github.com/ustack-go/ustack/tcpip"
)

// outbound builds an outbound packet: payload (spanning several chunks if
// long) and the given headers prepended, link layer first.
func outbound(payload []byte, hdrs ...[]byte) *buffer.Packet {
	room := 0
	for _, h := range hdrs {
		room += len(h)
	}
	var pl buffer.Buffer
	for len(payload) > 0 {
		// Append in pieces so that a long payload has several views.
		k := min(len(payload), 1000)
		pl.Append(payload[:k])
		payload = payload[k:]
	}
	pkt := buffer.NewPacket(room, &pl)
	layers := []buffer.Layer{buffer.TransportLayer, buffer.NetworkLayer, buffer.LinkLayer}
	for i := len(hdrs) - 1; i >= 0; i-- {
		copy(pkt.PrependHeader(layers[len(layers)-len(hdrs)+i], len(hdrs[i])), hdrs[i])
	}
	return pkt
}

func TestToInbound(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 300)
	for _, tc := range []struct {
		name    string
		payload []byte
		hdrs    [][]byte
	}{
		{"empty", nil, nil},
		{"payload only", []byte("data"), nil},
		{"headers only", nil, [][]byte{[]byte("ETH-"), []byte("IP--")}},
		{"three headers", []byte("payload"), [][]byte{[]byte("ETHERNET"), []byte("IPV4"), []byte("TCP")}},
		{"long payload", big, [][]byte{[]byte("IP6HDR")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := outbound(tc.payload, tc.hdrs...)
			pkt.LinkSource = tcpip.BroadcastLinkAddress
			pkt.NetworkProtocol = tcpip.IPv4ProtocolNumber
			pkt.Type = buffer.PacketOutgoing
			want := pkt.AppendTo(nil)
			in := linkutil.ToInbound(pkt)
			defer in.Release()
			if in.HeaderLen() != 0 {
				t.Errorf("HeaderLen = %d, want 0", in.HeaderLen())
			}
			if got := in.Payload.Flatten(); !bytes.Equal(got, want) {
				t.Errorf("Payload = %q, want %q", got, want)
			}
			if in.LinkSource != (tcpip.LinkAddress{}) || in.NetworkProtocol != 0 || in.Type != buffer.PacketHost {
				t.Errorf("metadata not reset: src %v proto %v type %v", in.LinkSource, in.NetworkProtocol, in.Type)
			}
		})
	}
}

// The payload's chunks are shared, not copied: a clone kept by the sender
// (a retransmit queue) still holds the same bytes afterwards, and the
// receiver consuming headers does not disturb it.
func TestToInboundSharesPayload(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	data := bytes.Repeat([]byte{0xab}, 3000)
	var pl buffer.Buffer
	pl.Append(data)
	kept := pl.Clone()
	defer kept.Release()
	before := buffer.ReadStats().ChunksInUse
	pkt := buffer.NewPacket(20, &pl)
	copy(pkt.PrependHeader(buffer.NetworkLayer, 20), bytes.Repeat([]byte{0x45}, 20))
	in := linkutil.ToInbound(pkt)
	// One chunk for the header area (moved, not copied), none for the
	// payload.
	if d := buffer.ReadStats().ChunksInUse - before; d != 1 {
		t.Errorf("ToInbound added %d chunks, want 1 (for the headers)", d)
	}
	if _, ok := in.ConsumeHeader(buffer.NetworkLayer, 20); !ok {
		t.Fatal("ConsumeHeader failed")
	}
	if !in.Payload.EqualBytes(data) || !kept.EqualBytes(data) {
		t.Error("payload changed")
	}
	in.Release()
}

func TestToInboundAllocs(t *testing.T) {
	if linktest.RaceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	payload := bytes.Repeat([]byte("x"), 1400)
	hdr := bytes.Repeat([]byte("h"), 54)
	run := func() {
		pkt := buffer.NewPacket(64, nil)
		pkt.Payload.Append(payload)
		copy(pkt.PrependHeader(buffer.NetworkLayer, len(hdr)), hdr)
		linkutil.ToInbound(pkt).Release()
	}
	run()
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Errorf("NewPacket+ToInbound+Release: %v allocations, want 0", n)
	}
}

func TestIPVersionProtocol(t *testing.T) {
	for _, tc := range []struct {
		first byte
		want  tcpip.NetworkProtocolNumber
	}{
		{0x45, tcpip.IPv4ProtocolNumber},
		{0x4f, tcpip.IPv4ProtocolNumber},
		{0x60, tcpip.IPv6ProtocolNumber},
		{0x6a, tcpip.IPv6ProtocolNumber},
		{0x00, 0},
		{0x50, 0},
		{0xff, 0},
	} {
		if got := linkutil.IPVersionProtocol(tc.first); got != tc.want {
			t.Errorf("IPVersionProtocol(%#x) = %v, want %v", tc.first, got, tc.want)
		}
	}
	pkt := outbound([]byte{0x60, 1, 2})
	if got := linkutil.OutboundIPProtocol(pkt); got != tcpip.IPv6ProtocolNumber {
		t.Errorf("OutboundIPProtocol(payload only) = %v", got)
	}
	pkt.Release()
	pkt = outbound([]byte{0x60}, []byte{0x45, 0})
	if got := linkutil.OutboundIPProtocol(pkt); got != tcpip.IPv4ProtocolNumber {
		t.Errorf("OutboundIPProtocol(with header) = %v", got)
	}
	pkt.Release()
	pkt = buffer.NewPacket(0, nil)
	if got := linkutil.OutboundIPProtocol(pkt); got != 0 {
		t.Errorf("OutboundIPProtocol(empty) = %v", got)
	}
	if got := linkutil.InboundIPProtocol(pkt); got != 0 {
		t.Errorf("InboundIPProtocol(empty) = %v", got)
	}
	pkt.Release()
}

// blocker is a dispatcher whose deliveries block until released.
type blocker struct {
	entered chan struct{}
	release chan struct{}
	n       atomic.Int64
}

func (b *blocker) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	pkt.Release()
	b.n.Add(1)
	b.entered <- struct{}{}
	<-b.release
}

func TestGateAttachWaitsForDelivery(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	var g linkutil.DispatchGate
	if g.Attached() {
		t.Fatal("zero gate is attached")
	}
	if g.Deliver(0, buffer.NewPacket(0, nil)) {
		t.Fatal("Deliver on a detached gate reported true")
	}
	b := &blocker{entered: make(chan struct{}), release: make(chan struct{})}
	g.Attach(b)
	delivered := make(chan bool)
	go func() { delivered <- g.Deliver(0, buffer.NewPacket(0, nil)) }()
	<-b.entered
	detached := make(chan struct{})
	go func() {
		g.Attach(nil)
		close(detached)
	}()
	select {
	case <-detached:
		t.Fatal("Attach(nil) returned while a delivery was in progress")
	case <-time.After(50 * time.Millisecond):
	}
	// New deliveries see the detached gate at once, even while the
	// old one is still in progress.
	for !func() bool {
		d, tk := g.Begin()
		if d != nil {
			g.End(tk)
		}
		return d == nil
	}() {
		time.Sleep(time.Millisecond)
	}
	close(b.release)
	<-detached
	if !<-delivered {
		t.Error("the delivery in progress reported false")
	}
	if g.Attached() {
		t.Error("still attached")
	}
}

// reentrant delivers once more through the same gate from inside a
// delivery, as a dispatcher that answers synchronously through an
// injecting link would.
type reentrant struct {
	g     *linkutil.DispatchGate
	depth atomic.Int32
	n     atomic.Int64
}

func (r *reentrant) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	pkt.Release()
	r.n.Add(1)
	if r.depth.Add(1) == 1 {
		r.g.Deliver(0, buffer.NewPacket(0, nil))
	}
	r.depth.Add(-1)
}

// Deliveries from many goroutines, some reentrant, race with Attach calls
// switching between dispatchers; nothing deadlocks and every packet is
// either delivered or released.
func TestGateConcurrent(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	var g linkutil.DispatchGate
	d1 := &reentrant{g: &g}
	d2 := linktest.NewRecorder()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				g.Deliver(0, buffer.NewPacket(0, nil))
			}
		})
	}
	for i := range 200 {
		switch i % 3 {
		case 0:
			g.Attach(d1)
		case 1:
			g.Attach(d2)
		case 2:
			g.Attach(nil)
		}
		linktest.ReleaseAll(d2.Take())
	}
	close(stop)
	wg.Wait()
	g.Attach(nil)
	linktest.ReleaseAll(d2.Take())
}
