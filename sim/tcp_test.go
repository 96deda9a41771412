package sim_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/transport/tcp"
)

// tcpHosts returns two TCP hosts joined by a 100 Mbit/s link with 10 ms
// of delay each way and the given loss in both directions.
func tcpHosts(t *testing.T, seed uint64, loss float64) (a, b *sim.Host, l *sim.Link) {
	t.Helper()
	n := newNet(t, seed)
	opts := sim.HostOptions{Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
	a = n.AddHost("a", opts)
	b = n.AddHost("b", opts)
	p := sim.Props{Delay: 10 * time.Millisecond, Bandwidth: 100e6, QueueBytes: 256 << 10, Loss: loss}
	l = n.MustConnect(a, b, sim.LinkConfig{AddrA: prefixA, AddrB: prefixB, AB: p, BA: p})
	return a, b, l
}

// 16 MiB over TCP arrive intact, without loss and with 1 % loss in both
// directions.
func TestStreamTransferTCP(t *testing.T) {
	for _, tc := range []struct {
		name string
		loss float64
	}{
		{"noloss", 0},
		{"loss1pct", 0.01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, l := tcpHosts(t, 1, tc.loss)
			wall := time.Now()
			r := sim.StreamTransfer(a, b, 80, 16<<20, 7)
			t.Logf("%v; link a->b %+v; %v of CPU", r, l.Counters(sim.AToB), time.Since(wall))
			if !r.OK() {
				t.Fatalf("transfer: %v", r)
			}
			if r.Received != 16<<20 || r.SentSHA256 != r.ReceivedSHA256 {
				t.Fatalf("received %d bytes", r.Received)
			}
			if tc.loss == 0 && l.Counters(sim.AToB).DroppedLoss != 0 {
				t.Error("lost frames without loss")
			}
		})
	}
}

// TCP under each impairment, a few seeds each: every byte arrives intact,
// and the same seed gives the same run to the nanosecond.
func TestStreamTransferTCPImpaired(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    sim.Props
	}{
		{"loss5pct", sim.Props{Loss: 0.05}},
		{"loss20pct", sim.Props{Loss: 0.20}},
		{"duplicate", sim.Props{Duplicate: 0.05}},
		{"reorder", sim.Props{Reorder: 0.05, ReorderDelay: 5 * time.Millisecond}},
		{"corrupt", sim.Props{Corrupt: 0.02}},
		{"jitter", sim.Props{Jitter: 3 * time.Millisecond}},
		{"all", sim.Props{Loss: 0.02, Duplicate: 0.02, Reorder: 0.02, ReorderDelay: 3 * time.Millisecond, Corrupt: 0.01, Jitter: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 2; seed++ {
				var runs [2]sim.StreamResult
				var counters [2]sim.Counters
				for i := range runs {
					t.Run("", func(t *testing.T) {
						n := newNet(t, seed)
						opts := sim.HostOptions{Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
						a := n.AddHost("a", opts)
						b := n.AddHost("b", opts)
						p := tc.p
						p.Delay, p.Bandwidth = 10*time.Millisecond, 20e6
						l := n.MustConnect(a, b, sim.LinkConfig{AddrA: prefixA, AddrB: prefixB, AB: p, BA: p})
						runs[i] = sim.StreamTransfer(a, b, 80, 1<<20, seed)
						counters[i] = l.Counters(sim.Both)
					})
				}
				r := runs[0]
				t.Logf("seed %d: %v", seed, r)
				if !r.OK() {
					t.Errorf("seed %d: %v", seed, r)
				}
				if runs[0] != runs[1] || counters[0] != counters[1] {
					t.Errorf("seed %d ran differently twice:\n%v %+v\n%v %+v", seed, runs[0], counters[0], runs[1], counters[1])
				}
			}
		})
	}
}
