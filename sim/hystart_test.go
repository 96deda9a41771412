package sim_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// TestHyStartNoOvershoot: a bulk transfer over 100 Mbit/s × 100 ms with a
// drop-tail queue of one BDP, no loss, SACK off (so that an overshoot
// costs one round trip per lost segment, RFC 6582), with NewReno and
// CUBIC. HyStart++ (RFC 9406) must end slow start before the queue
// overflows: the initial slow start ends by CSS (ssthresh = cwnd, no
// retransmission before), and the whole transfer loses at most
// hsMaxQueueDrops frames at the queue. Before the fix (hystart.go: the
// CSS check once per round), HyStart++ went in and out of CSS every
// round, and slow start ran to cwnd ≈ 2.7 MB: thousands of queue drops,
// about 3300 retransmissions and 3 timeouts for 64 MiB.
func TestHyStartNoOvershoot(t *testing.T) {
	const (
		size      = 16 << 20
		bandwidth = 100e6
		rtt       = 100 * time.Millisecond
		// hsMaxQueueDrops bounds the frames the queue may drop: 1 %
		// of the BDP in full segments (the measured count is 0).
		hsMaxQueueDrops = 8
	)
	for _, cc := range []string{"newreno", "cubic"} {
		t.Run(cc, func(t *testing.T) {
			n := sim.New(9406)
			defer func() {
				if err := n.Close(); err != nil {
					t.Error(err)
				}
			}()
			a := n.AddHost("a", tcpHostOptions)
			b := n.AddHost("b", tcpHostOptions)
			for _, h := range []*sim.Host{a, b} {
				for _, opt := range []any{tcpip.CongestionControlOption(cc), tcp.SACKEnabledOption(false)} {
					if err := h.Stack().SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
						t.Fatal(err)
					}
				}
			}
			bdp := int(bandwidth / 8 * rtt.Seconds())
			p := sim.Props{Delay: rtt / 2, Bandwidth: bandwidth, QueueBytes: bdp}
			l := n.MustConnect(a, b, sim.LinkConfig{
				AddrA: netip.MustParsePrefix("10.0.0.1/24"), AddrB: netip.MustParsePrefix("10.0.0.2/24"), AB: p, BA: p,
			})
			// The sender's state when HyStart++ ended.
			var (
				ended    bool
				endState stack.TCPSenderState
				mss      int
			)
			a.Stack().AddTCPProbe(func(s stack.TCPEndpointState) {
				if !ended && s.Sender.CC.HyStart.Done {
					ended, endState, mss = true, s.Sender, s.SndMSS
				}
			})
			s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: size, Seed: 9406})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n.RunUntil(s.Done, time.Hour)
			if r := s.Result(); !r.Done || !r.OK() || r.Received != size {
				t.Fatalf("transfer: %v", r)
			}
			c := l.Counters(sim.AToB)
			t.Logf("%s: slow start ended at cwnd %d, ssthresh %d, %d retransmits; queue drops %d, peak queue %d of %d bytes",
				cc, endState.Cwnd, endState.Ssthresh, endState.Retransmits, c.DroppedQueue, c.PeakQueueBytes, bdp)
			switch {
			case !ended:
				t.Error("HyStart++ never ended")
			case endState.Retransmits != 0 || endState.Ssthresh > endState.Cwnd || endState.Cwnd-endState.Ssthresh > mss:
				t.Errorf("slow start did not end by CSS: cwnd %d, ssthresh %d, %d retransmits",
					endState.Cwnd, endState.Ssthresh, endState.Retransmits)
			}
			if c.DroppedQueue > hsMaxQueueDrops {
				t.Errorf("the queue dropped %d frames, want at most %d", c.DroppedQueue, hsMaxQueueDrops)
			}
		})
	}
}
