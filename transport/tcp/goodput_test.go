package tcp_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/transport/tcp"
)

// goodputRun transfers size bytes over one sim link of 100 Mbit/s, 10 ms
// each way (20 ms RTT) and a 128 KiB drop-tail queue, with loss in both
// directions, and returns the result and the link's a→b counters.
func goodputRun(t *testing.T, seed uint64, loss float64, size int64) (sim.StreamResult, sim.Counters) {
	t.Helper()
	n := sim.New(seed)
	defer func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	}()
	opts := sim.HostOptions{Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
	a := n.AddHost("a", opts)
	b := n.AddHost("b", opts)
	p := sim.Props{Delay: 10 * time.Millisecond, Bandwidth: 100e6, QueueBytes: 128 << 10, Loss: loss}
	l := n.MustConnect(a, b, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("10.0.0.1/24"), AddrB: netip.MustParsePrefix("10.0.0.2/24"), AB: p, BA: p,
	})
	r := sim.StreamTransfer(a, b, 80, size, seed)
	return r, l.Counters(sim.AToB)
}

// TestGoodputSlowStart reports the goodput of the default congestion
// control (CUBIC with HyStart++) on a 100 Mbit/s × 20 ms path with a
// 128 KiB queue (about half the bandwidth-delay product of 250 KB), without loss and with 1 % loss, for a few seeds. It asserts
// that every transfer completes intact and that a 1 MiB transfer's slow
// start overshoots the queue by less than a window; the figures are
// logged:
//
//	go test ./transport/tcp -run TestGoodputSlowStart -v
func TestGoodputSlowStart(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated transfers")
	}
	for _, size := range []int64{1 << 20, 16 << 20} {
		for _, loss := range []float64{0, 0.01} {
			for seed := uint64(1); seed <= 3; seed++ {
				t.Run(fmt.Sprintf("size=%d/loss=%g/seed=%d", size, loss, seed), func(t *testing.T) {
					r, c := goodputRun(t, seed, loss, size)
					t.Logf("goodput %.1f Mbit/s in %v; queue drops %d, loss drops %d, peak queue %d B",
						r.Goodput/1e6, r.Duration, c.DroppedQueue, c.DroppedLoss, c.PeakQueueBytes)
					if !r.OK() || r.Received != size {
						t.Fatalf("transfer: %v", r)
					}
					// HyStart++ (RFC 9406) slows the growth on the
					// queueing delay (CSS, a quarter of slow start's
					// increase), so a slow start's overshoot into this
					// half-BDP queue stays below one bandwidth-delay
					// product of segments (250 KB: 172; a plain
					// doubling would lose about BDP + queue, 260).
					// The engine once also passed "no drop at all"
					// here, but only because 1 MiB ended before the
					// overshoot: with the 1 MiB buffers and NewReno
					// of that time a 1.5 MiB transfer lost 103
					// segments; with autotuning, whose window updates
					// spare slow start a delayed-ACK stall, and CUBIC,
					// the overshoot falls within 1 MiB (107 drops).
					if size == 1<<20 && loss == 0 && c.DroppedQueue >= 250000/1448 {
						t.Errorf("slow start overflowed the queue by %d segments", c.DroppedQueue)
					}
				})
			}
		}
	}
}
