// Package linktest holds helpers for the tests of ustack's link endpoints:
// a recording dispatcher, a check that a test released every packet it
// made, and whether the race detector is on (its sync.Pool drops a share
// of what it is given, so allocation counts mean nothing under it).
package linktest

import (
	"sync"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/tcpip"
)

// CheckBuffers turns buffer usage counting on and registers a cleanup that
// fails t if the packets or chunks in use when the test ends differ from
// those in use now. Call it after leakcheck.Check (so that it runs before
// the goroutine check) and before creating anything.
func CheckBuffers(t testing.TB) {
	t.Helper()
	buffer.SetCounting(true)
	before := buffer.ReadStats()
	t.Cleanup(func() {
		after := buffer.ReadStats()
		if after.PacketsInUse != before.PacketsInUse || after.ChunksInUse != before.ChunksInUse {
			t.Errorf("buffers leaked: packets in use %d -> %d, chunks in use %d -> %d",
				before.PacketsInUse, after.PacketsInUse, before.ChunksInUse, after.ChunksInUse)
		}
	})
}

// Delivery is one packet a Recorder received.
type Delivery struct {
	Proto tcpip.NetworkProtocolNumber
	Pkt   *buffer.Packet
}

// Recorder is a stack.NetworkDispatcher that keeps what it is given. Its
// methods are safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	got  []Delivery
	wake chan struct{}
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{wake: make(chan struct{}, 1)} }

// DeliverNetworkPacket implements stack.NetworkDispatcher.
func (r *Recorder) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *buffer.Packet) {
	r.mu.Lock()
	r.got = append(r.got, Delivery{proto, pkt})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Len returns how many packets were delivered and not yet taken.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// Take returns the deliveries so far and forgets them; the caller owns
// their packets.
func (r *Recorder) Take() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// WaitN waits until at least n packets are held and returns them all
// (taking them), or fails t after a few seconds of wall time.
func (r *Recorder) WaitN(t testing.TB, n int) []Delivery {
	t.Helper()
	timeout := NewTimeout()
	defer timeout.Stop()
	for {
		if r.Len() >= n {
			return r.Take()
		}
		select {
		case <-r.wake:
		case <-timeout.C:
			got := r.Take()
			ReleaseAll(got)
			t.Fatalf("got %d packets, want %d", len(got), n)
		}
	}
}

// ReleaseAll releases the packets of ds.
func ReleaseAll(ds []Delivery) {
	for _, d := range ds {
		d.Pkt.Release()
	}
}

// Bytes returns the bytes of pkt, headers then payload.
func Bytes(pkt *buffer.Packet) []byte { return pkt.AppendTo(nil) }
