package sim_test

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// A delay spike on the ACK path (a link layer retrying, a handover):
// the ACKs of a window are held for a second, the sender's timer
// expires, and the ACKs then arrive for the original segments. Eifel
// (RFC 3522, timestamps are on) finds the timeout spurious from the
// first of them: no go-back-N of the window already delivered, the
// window restored (RFC 4015), for NewReno and CUBIC, with and without
// SACK:
//
//	go test ./sim -run TestSpuriousTimeoutDelaySpike -v
func TestSpuriousTimeoutDelaySpike(t *testing.T) {
	if raceEnabled {
		// Four 64 MiB transfers take minutes under the race detector;
		// .ci/run also runs this package without it.
		t.Skip("four simulated 64 MiB transfers: run without -race")
	}
	for _, cc := range []string{"newreno", "cubic"} {
		for _, sack := range []bool{true, false} {
			name := cc + "/sack"
			if !sack {
				name = cc + "/nosack"
			}
			t.Run(name, func(t *testing.T) {
				n := newNet(t, 1)
				a := n.AddHost("a", tcpHostOptions)
				b := n.AddHost("b", tcpHostOptions)
				for _, h := range []*sim.Host{a, b} {
					s := h.Stack()
					if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, tcpip.CongestionControlOption(cc)); err != nil {
						t.Fatal(err)
					}
					if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.SACKEnabledOption(sack)); err != nil {
						t.Fatal(err)
					}
				}
				p := sim.Props{Delay: 10 * time.Millisecond, Bandwidth: 100e6, QueueBytes: 256 << 10}
				l := n.MustConnect(a, b, sim.LinkConfig{AddrA: prefixA, AddrB: prefixB, AB: p, BA: p})
				const size = 64 << 20
				s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: size, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				n.Run(2 * time.Second)
				st := &a.Stats().TCP
				rx0 := st.Retransmits.Load()
				spike := p
				spike.Delay = time.Second
				l.Set(sim.BToA, spike)
				n.Run(20 * time.Millisecond)
				l.Set(sim.BToA, p)
				n.Run(2 * time.Second)
				rx := st.Retransmits.Load() - rx0
				n.RunUntil(s.Done, time.Hour)
				r := s.Result()
				s.Close()
				if !r.OK() || r.Received != size {
					t.Fatalf("transfer: %v", r)
				}
				t.Logf("%.1f Mbit/s, %d timeouts, %d spurious, %d retransmits (%d in the 2 s after the spike), %d queue drops",
					r.Goodput/1e6, st.Timeouts.Load(), st.SpuriousRTORecovery.Load(), st.Retransmits.Load(), rx, l.Counters(sim.AToB).DroppedQueue)
				if st.Timeouts.Load() == 0 || st.SpuriousRTORecovery.Load() == 0 {
					t.Fatalf("%d timeouts, %d found spurious", st.Timeouts.Load(), st.SpuriousRTORecovery.Load())
				}
				// Without the response the window in flight is sent
				// again: about 300 segments with SACK (the timeout
				// marks them all lost, RFC 8985 §6.3), 95 without.
				if rx > 8 {
					t.Errorf("%d segments retransmitted after the spike", rx)
				}
			})
		}
	}
}
