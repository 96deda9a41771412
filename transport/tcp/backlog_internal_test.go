package tcp

import (
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/network/ipv4"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
)

// newBacklogEndpoint returns an unconnected endpoint whose backlog the
// tests fill directly, with the given receive buffer size.
func newBacklogEndpoint(t *testing.T, rcvBuf int) *endpoint {
	t.Helper()
	clock := tcpip.NewManualClock()
	hub := testnet.NewHub(clock)
	t.Cleanup(hub.Close)
	s := hub.NewStack(t, testnet.Options{
		Networks:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		Transports: []stack.TransportProtocolFactory{NewProtocol},
	})
	ep, err := s.NewEndpoint(ProtocolNumber, tcpip.IPv4ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Close)
	e := ep.(*endpoint)
	e.mu.Lock()
	e.rcvBufSize = rcvBuf
	e.mu.Unlock()
	return e
}

// discardBacklog frees the queued segments without processing them (the
// endpoint has no connection for them) and releases mu.
func discardBacklog(e *endpoint) {
	e.bmu.Lock()
	if e.bq != nil {
		for i := range e.bq.segs {
			e.bq.segs[i].release()
		}
		e.bq.segs = nil
	}
	e.backlogBytes = 0
	e.bmu.Unlock()
	e.mu.Unlock()
}

// TestBacklogByteBound holds the endpoint's lock, as a reader copying
// out data does, while a burst of full-sized segments arrives: a burst of
// more than the old fixed bound of 1024 segments fits within
// 2·rcvBufSize + sndBufSize and is queued whole; what goes beyond the byte
// bound is dropped and counted as a full receive buffer.
func TestBacklogByteBound(t *testing.T) {
	e := newBacklogEndpoint(t, 4<<20)
	payload := make([]byte, 1448)
	mk := func() segment { return segment{pkt: buffer.NewPacketFromBytes(0, payload), dataLen: len(payload)} }
	probe := mk()
	charge := backlogCharge(&probe)
	probe.release()
	if charge < len(payload)+backlogSegOverhead {
		t.Fatalf("charge %d below payload %d + overhead %d", charge, len(payload), backlogSegOverhead)
	}

	e.lock()
	limit := 2*e.rcvBufSize + e.sndBufSize
	fit := limit / charge
	if fit <= 1024 {
		t.Fatalf("test setup: only %d segments fit in %d bytes", fit, limit)
	}
	drops0 := e.p.stats.ReceiveBufferDrops.Load()
	errs0 := e.stats.ReceiveBufferErrors.Load()
	for range fit {
		e.deliver(mk())
	}
	e.bmu.Lock()
	queued, bytes := e.backlogLenLocked(), e.backlogBytes
	e.bmu.Unlock()
	if queued != fit || bytes > limit {
		t.Errorf("within the bound: queued %d segments (%d bytes), want %d (at most %d bytes)", queued, bytes, fit, limit)
	}
	if d := e.p.stats.ReceiveBufferDrops.Load() - drops0; d != 0 {
		t.Errorf("within the bound: %d drops, want 0", d)
	}
	const extra = 10
	for range extra {
		e.deliver(mk())
	}
	e.bmu.Lock()
	queued = e.backlogLenLocked()
	e.bmu.Unlock()
	if queued != fit {
		t.Errorf("beyond the bound: queued %d, want %d", queued, fit)
	}
	if d := e.p.stats.ReceiveBufferDrops.Load() - drops0; d != extra {
		t.Errorf("beyond the bound: ReceiveBufferDrops +%d, want +%d", d, extra)
	}
	if d := e.stats.ReceiveBufferErrors.Load() - errs0; d != extra {
		t.Errorf("beyond the bound: ReceiveBufferErrors +%d, want +%d", d, extra)
	}
	discardBacklog(e)
}

// TestBacklogSegmentCap checks the safety net: empty segments, each
// charged only the fixed overhead, stop at maxBacklogSegs even when the
// byte bound would admit more.
func TestBacklogSegmentCap(t *testing.T) {
	e := newBacklogEndpoint(t, 64<<20)
	e.lock()
	if (e.rcvBufSize+e.sndBufSize)/backlogSegOverhead <= maxBacklogSegs {
		t.Fatal("test setup: the byte bound would stop empty segments first")
	}
	drops0 := e.p.stats.ReceiveBufferDrops.Load()
	for range maxBacklogSegs + 5 {
		e.deliver(segment{pkt: buffer.NewPacket(0, nil)})
	}
	e.bmu.Lock()
	queued := e.backlogLenLocked()
	e.bmu.Unlock()
	if queued != maxBacklogSegs {
		t.Errorf("queued %d empty segments, want %d", queued, maxBacklogSegs)
	}
	if d := e.p.stats.ReceiveBufferDrops.Load() - drops0; d != 5 {
		t.Errorf("ReceiveBufferDrops +%d, want +5", d)
	}
	discardBacklog(e)
}

// TestBacklogWholeWindow holds the lock while a whole receive window of
// full-sized segments arrives, each a view of a 64 KiB chunk shared with
// its sender (as the in-memory pipe hands over the sender's buffer),
// charged the whole chunk: none is dropped (RFC 9293 §3.8.6, the window
// is a promise), because each is copied into a chunk of its own size
// before it is queued.
func TestBacklogWholeWindow(t *testing.T) {
	const rcvBuf = 1 << 20
	e := newBacklogEndpoint(t, rcvBuf)
	var big buffer.Buffer
	big.Append(make([]byte, 4*rcvBuf))
	const mss = 1448
	e.lock()
	drops0 := e.p.stats.ReceiveBufferDrops.Load()
	n := rcvBuf / mss
	for i := range n {
		seg := big.CloneRange(i*mss, mss)
		e.deliver(segment{pkt: buffer.NewPacket(0, &seg), dataLen: mss})
	}
	big.Release()
	e.bmu.Lock()
	queued, bytes, limit := e.backlogLenLocked(), e.backlogBytes, e.backlogLimitLocked()
	shared := 0
	for i := range e.bq.segs {
		if e.bq.segs[i].pkt.Payload.Size() > 2*mss+64 {
			shared++
		}
	}
	e.bmu.Unlock()
	if d := e.p.stats.ReceiveBufferDrops.Load() - drops0; d != 0 || queued != n {
		t.Errorf("a window of %d segments: %d queued, %d dropped; want all queued", n, queued, d)
	}
	if bytes > limit {
		t.Errorf("backlog charged %d bytes, beyond its bound %d", bytes, limit)
	}
	if shared != 0 {
		t.Errorf("%d of %d segments still hold a share of a large chunk; want each copied out", shared, n)
	}
	discardBacklog(e)
}
