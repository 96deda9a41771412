package sim_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/sim"
)

// BenchmarkUDPRequest measures the CPU cost of one simulated UDP request
// and reply across an impaired link: four events (two frame arrivals, two
// endpoint steps) and the stacks' work.
func BenchmarkUDPRequest(b *testing.B) {
	n := sim.New(1)
	p := sim.Props{Delay: time.Millisecond, Bandwidth: 100e6, Jitter: 100 * time.Microsecond}
	ha := n.AddHost("a", sim.HostOptions{})
	hb := n.AddHost("b", sim.HostOptions{})
	n.MustConnect(ha, hb, sim.LinkConfig{AddrA: prefixA, AddrB: prefixB, AB: p, BA: p})
	if _, err := sim.StartUDPEcho(hb, 7); err != nil {
		b.Fatal(err)
	}
	f, err := sim.StartUDPRequests(ha, hb, sim.UDPFlowConfig{Port: 7, Interval: 10 * time.Millisecond, Size: 100})
	if err != nil {
		b.Fatal(err)
	}
	n.Run(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	start := f.Stats().Unique
	events := n.Events()
	for range b.N {
		n.Run(10 * time.Millisecond)
	}
	b.StopTimer()
	if got := f.Stats().Unique - start; got < uint64(b.N)*9/10 {
		b.Fatalf("%d replies for %d requests", got, b.N)
	}
	b.ReportMetric(float64(n.Events()-events)/float64(b.N), "events/op")
	if err := n.Close(); err != nil {
		b.Fatal(err)
	}
}
