package tcp_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// whySlowRun transfers size bytes over a simulated path (10 ms each way,
// bw bits/s) with the sender's and receiver's buffers given (0: the
// defaults) and returns the sender's Info when three quarters of the
// data had been acknowledged, read from a TCP probe.
func whySlowRun(t *testing.T, bw uint64, sndBuf, rcvBuf int, size int64) tcp.Info {
	t.Helper()
	n := sim.New(1)
	defer func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	}()
	opts := sim.HostOptions{Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
	a, b := n.AddHost("a", opts), n.AddHost("b", opts)
	p := sim.Props{Delay: 10 * time.Millisecond, Bandwidth: bw, QueueBytes: 256 << 10}
	n.MustConnect(a, b, sim.LinkConfig{AddrA: netip.MustParsePrefix("10.0.0.1/24"), AddrB: netip.MustParsePrefix("10.0.0.2/24"), AB: p, BA: p})
	var got tcp.Info
	a.Stack().AddTCPProbe(func(st stack.TCPEndpointState) {
		if got.SndMSS != 0 {
			return
		}
		for _, c := range tcp.Connections(a.Stack()) {
			if c.UniqueID == st.UniqueID && c.Info.BytesAcked >= uint64(size)*3/4 {
				got = c.Info
			}
		}
	})
	// The buffers are the endpoints' own (SendBufferSizeOption and
	// ReceiveBufferSizeOption on the endpoint fix their size).
	newEP := func(h *sim.Host) (tcpip.Endpoint, error) {
		ep, err := h.Stack().NewEndpoint(tcp.ProtocolNumber, tcpip.IPv4ProtocolNumber)
		if err != nil {
			return nil, err
		}
		if h == a && sndBuf > 0 {
			err = ep.SetSockOpt(tcpip.SendBufferSizeOption(sndBuf))
		}
		if h == b && rcvBuf > 0 {
			err = ep.SetSockOpt(tcpip.ReceiveBufferSizeOption(rcvBuf))
		}
		return ep, err
	}
	s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: size, Seed: 1, NewEndpoint: newEP})
	if err != nil {
		t.Fatal(err)
	}
	n.RunUntil(s.Done, time.Hour)
	if r := s.Result(); !r.OK() {
		t.Fatalf("transfer: %v", r)
	}
	if got.SndMSS == 0 {
		t.Fatal("no Info from the probe")
	}
	return got
}

// TestWhySlow: on three simulated paths, Info.MainLimit names the factor
// that limits the transfer, for most of the busy time: a
// 10 Mbit/s bottleneck (the congestion window), a 16 KiB receive buffer
// on a 1 Gbit/s path (the receiver's window), a 16 KiB send buffer on
// the same path (the send buffer).
func TestWhySlow(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated transfers")
	}
	for _, tc := range []struct {
		name           string
		bw             uint64
		sndBuf, rcvBuf int
		want           tcp.Limit
		time           func(tcp.Info) time.Duration
	}{
		{"bottleneck", 10e6, 0, 0, tcp.LimitCongestionWindow, func(in tcp.Info) time.Duration { return in.CwndLimitedTime }},
		{"receive-buffer", 1e9, 0, 16 << 10, tcp.LimitReceiverWindow, func(in tcp.Info) time.Duration { return in.RwndLimitedTime }},
		{"send-buffer", 1e9, 16 << 10, 0, tcp.LimitSendBuffer, func(in tcp.Info) time.Duration { return in.SndBufLimitedTime }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := whySlowRun(t, tc.bw, tc.sndBuf, tc.rcvBuf, 4<<20)
			if l, d := in.MainLimit(); l != tc.want || d != tc.time(in) || 10*d < 8*in.BusyTime {
				t.Errorf("main limit %v (want %v), %v of %v busy\n%s", l, tc.want, d, in.BusyTime, in)
			}
			t.Log(in.Why())
			// 256 KiB of queue on a 10 Mbit/s × 20 ms path (25 KB)
			// multiplies the RTT.
			if tc.want == tcp.LimitCongestionWindow && (in.MinRTT < 20*time.Millisecond || !strings.Contains(in.Why(), "a queue builds")) {
				t.Errorf("min RTT %v, Why = %q", in.MinRTT, in.Why())
			}
		})
	}
}
