package tcp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
)

const cubicTestMSS = 1000

// cubicNear reports whether got is within tol of want.
func cubicNear(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func newTestCubic() *cubic { return NewCubic(cubicTestMSS).(*cubic) }

func TestCubicRegistered(t *testing.T) {
	f, ok := lookupCC("cubic")
	if !ok {
		t.Fatal(`"cubic" is not registered`)
	}
	c := f(1460)
	if c.Name() != "cubic" {
		t.Errorf("Name = %q", c.Name())
	}
	if c.Cwnd() != initialWindowSegments*1460 {
		t.Errorf("initial cwnd = %d, want %d (RFC 6928)", c.Cwnd(), initialWindowSegments*1460)
	}
	if _, ok := c.(roundObserver); !ok {
		t.Error("cubic does not observe rounds: no HyStart++")
	}
}

// TestCubicConstants checks RFC 9438 §4.1.1 and §4.3's constants.
func TestCubicConstants(t *testing.T) {
	// α_cubic = 3(1−0.7)/(1+0.7) = 0.9/1.7 = 0.52941...
	if !cubicNear(cubicAlpha, 0.9/1.7, 1e-15) || !cubicNear(cubicAlpha, 0.5294117647, 1e-9) {
		t.Errorf("α_cubic = %v", cubicAlpha)
	}
}

// TestCubicK checks RFC 9438 §4.2 Figure 2 against hand-computed values.
func TestCubicK(t *testing.T) {
	m := float64(cubicTestMSS)
	for _, tc := range []struct {
		wMax, epoch float64 // segments
		want        float64 // seconds
	}{
		// W_max = 100, cwnd_epoch = 70 (β = 0.7): ∛(30/0.4) = ∛75.
		{100, 70, 4.217163326508746},
		// W_max = 1000, cwnd_epoch = 700: ∛750.
		{1000, 700, 9.085602964160698},
		// W_max = 10, cwnd_epoch = 7: ∛7.5.
		{10, 7, 1.957433820584432},
		// Fast convergence: W_max = 85, cwnd_epoch = 70: ∛37.5.
		{85, 70, 3.347165},
		// At or above W_max: 0; no W_max yet: 0.
		{100, 100, 0},
		{100, 120, 0},
		{0, 0, 0},
	} {
		got := cubicK(tc.wMax*m, tc.epoch*m, m)
		if !cubicNear(got, tc.want, 1e-6) {
			t.Errorf("K(W_max=%v, cwnd_epoch=%v) = %v, want %v", tc.wMax, tc.epoch, got, tc.want)
		}
	}
}

// TestCubicW checks RFC 9438 §4.2 Figure 1 at hand-computed points of the
// W_max = 100, cwnd_epoch = 70 curve.
func TestCubicW(t *testing.T) {
	m := float64(cubicTestMSS)
	k := cubicK(100*m, 70*m, m)
	for _, tc := range []struct {
		t, want float64 // seconds, segments
	}{
		{0, 70},                    // the curve starts at cwnd_epoch
		{k, 100},                   // plateau at W_max
		{k + 1, 100.4},             // 0.4·1³
		{k + 2, 103.2},             // 0.4·2³
		{k - 1, 99.6},              // concave side
		{k + 10, 500},              // 0.4·10³ + 100
		{-5, 70},                   // negative t counts as 0
		{1e30, cubicMaxWindow / m}, // clamped
	} {
		got := cubicW(tc.t, k, 100*m, m) / m
		if !cubicNear(got, tc.want, 1e-6) {
			t.Errorf("W_cubic(%v) = %v segments, want %v", tc.t, got, tc.want)
		}
	}
}

// cubicInCA puts c in congestion avoidance right after a fast-recovery
// episode that began at a window of w segments with w in flight.
func cubicInCA(c *cubic, w int) {
	c.cwnd = float64(w * cubicTestMSS)
	c.ssthresh = c.cwnd / 2
	c.OnLoss(w * cubicTestMSS)
	c.OnRecoveryExit(w * cubicTestMSS)
}

// TestCubicLoss checks RFC 9438 §4.6's multiplicative decrease and the
// recovery around it.
func TestCubicLoss(t *testing.T) {
	c := newTestCubic()
	c.cwnd, c.ssthresh = 100*cubicTestMSS, 50*cubicTestMSS
	c.OnLoss(100 * cubicTestMSS)
	// ssthresh = 0.7·flight = 70 segments; cwnd = ssthresh + 3 (RFC 5681
	// §3.2 step 3); W_max = cwnd_prior = 100 (first event).
	if c.Ssthresh() != 70*cubicTestMSS || c.Cwnd() != 73*cubicTestMSS {
		t.Fatalf("after loss: cwnd %d ssthresh %d", c.Cwnd(), c.Ssthresh())
	}
	if c.wMax != 100*cubicTestMSS || c.cwndPrior != 100*cubicTestMSS {
		t.Fatalf("W_max %v cwnd_prior %v", c.wMax, c.cwndPrior)
	}
	c.OnDupAck()
	if c.Cwnd() != 74*cubicTestMSS {
		t.Fatalf("inflation: cwnd %d", c.Cwnd())
	}
	c.OnPartialAck(5 * cubicTestMSS)
	if c.Cwnd() != 70*cubicTestMSS {
		t.Fatalf("partial ACK: cwnd %d", c.Cwnd())
	}
	c.OnRecoveryExit(90 * cubicTestMSS)
	if c.Cwnd() != 70*cubicTestMSS {
		t.Fatalf("recovery exit: cwnd %d", c.Cwnd())
	}
	// The first ACK in congestion avoidance starts the epoch with
	// K = ∛75.
	c.OnAck(cubicTestMSS, 70*cubicTestMSS, 100*time.Millisecond)
	if !c.epoch || !cubicNear(c.k, 4.217163326508746, 1e-9) || c.wEst < 70*cubicTestMSS {
		t.Fatalf("epoch %v K %v W_est %v", c.epoch, c.k, c.wEst)
	}
	// Minimum: ssthresh at least 2 segments.
	c.OnLoss(0)
	if c.Ssthresh() != 2*cubicTestMSS || c.Cwnd() != 5*cubicTestMSS {
		t.Fatalf("tiny flight: cwnd %d ssthresh %d", c.Cwnd(), c.Ssthresh())
	}
}

// TestCubicFastConvergence checks RFC 9438 §4.7.
func TestCubicFastConvergence(t *testing.T) {
	c := newTestCubic()
	c.wMax = 100 * cubicTestMSS
	c.cwnd = 80 * cubicTestMSS
	c.OnLoss(80 * cubicTestMSS)
	// Below the previous W_max: W_max = 80·(1+0.7)/2 = 68.
	if !cubicNear(c.wMax, 68*cubicTestMSS, 1e-6) {
		t.Errorf("W_max after a loss below it = %v, want 68 segments", c.wMax/cubicTestMSS)
	}
	if c.cwndPrior != 80*cubicTestMSS {
		t.Errorf("cwnd_prior = %v", c.cwndPrior)
	}
	c.cwnd = 120 * cubicTestMSS
	c.OnLoss(120 * cubicTestMSS)
	if c.wMax != 120*cubicTestMSS {
		t.Errorf("W_max after a loss above it = %v, want 120 segments", c.wMax/cubicTestMSS)
	}
}

// TestCubicRTO checks RFC 9438 §4.8.
func TestCubicRTO(t *testing.T) {
	c := newTestCubic()
	c.cwnd, c.ssthresh = 100*cubicTestMSS, 50*cubicTestMSS
	c.OnRTO(100 * cubicTestMSS)
	if c.Cwnd() != cubicTestMSS || c.Ssthresh() != 70*cubicTestMSS {
		t.Fatalf("after RTO: cwnd %d ssthresh %d", c.Cwnd(), c.Ssthresh())
	}
	// Slow start back to ssthresh.
	for c.cwnd < c.ssthresh {
		c.OnAck(cubicTestMSS, 0, 50*time.Millisecond)
	}
	if c.Cwnd() != 70*cubicTestMSS {
		t.Fatalf("slow start overshot: %d", c.Cwnd())
	}
	// The first congestion-avoidance stage: K = 0, W_max = cwnd there.
	c.OnAck(cubicTestMSS, 0, 50*time.Millisecond)
	if c.k != 0 || c.wMax != 70*cubicTestMSS {
		t.Fatalf("after RTO: K %v W_max %v", c.k, c.wMax/cubicTestMSS)
	}
	if c.afterRTO {
		t.Fatal("afterRTO not cleared")
	}
}

// cubicRound acknowledges one window in MSS-sized ACKs with smoothed RTT
// rtt: one round trip of a window-limited flow.
func cubicRound(c *cubic, rtt time.Duration) {
	n := c.Cwnd() / cubicTestMSS
	for range n {
		c.OnAck(cubicTestMSS, c.Cwnd(), rtt)
	}
}

// TestCubicRegions follows one congestion-avoidance stage after a loss at
// 1000 segments with a 100 ms RTT (where the cubic function beats Reno):
// the concave region climbs fast and slows near W_max, the plateau sits
// at W_max around t = K, the convex region accelerates beyond it (RFC
// 9438 §4.4, §4.5).
func TestCubicRegions(t *testing.T) {
	c := newTestCubic()
	cubicInCA(c, 1000)
	const rtt = 100 * time.Millisecond
	var w []float64 // segments per round
	for range 150 {
		cubicRound(c, rtt)
		w = append(w, c.cwnd/cubicTestMSS)
	}
	k := c.k // ∛750 ≈ 9.09 s ≈ 91 rounds
	if !cubicNear(k, 9.085602964160698, 1e-9) {
		t.Fatalf("K = %v", k)
	}
	// Concave: early growth larger than growth just before K.
	early := w[10] - w[0]
	late := w[85] - w[75]
	if !(early > 3*late) {
		t.Errorf("concave region: growth %v early, %v near K", early, late)
	}
	// Plateau: close to W_max = 1000 around K (t+RTT lookahead: a
	// few segments above).
	if !cubicNear(w[90], 1000, 10) {
		t.Errorf("cwnd at t≈K = %v segments, want ≈1000", w[90])
	}
	// Convex: beyond W_max, and accelerating.
	if !(w[149] > 1000) || !(w[149]-w[139] > w[110]-w[100]) {
		t.Errorf("convex region: %v, %v, %v, %v", w[100], w[110], w[139], w[149])
	}
	// The curve: at round 149 (t ≈ 14.9 s, +RTT lookahead), W_cubic ≈
	// 0.4·(15.0−9.09)³ + 1000 ≈ 1082.
	if !cubicNear(w[149], cubicW(c.t, c.k, c.wMax, c.mss)/cubicTestMSS, 5) {
		t.Errorf("cwnd %v, W_cubic(t) %v", w[149], cubicW(c.t, c.k, c.wMax, c.mss)/cubicTestMSS)
	}
}

// TestCubicRenoFriendly: with a short RTT and a small window, Reno's
// linear growth beats the cubic function and CUBIC follows W_est (RFC
// 9438 §4.3): α_cubic ≈ 0.53 segments per RTT until W_est reaches
// cwnd_prior, then one.
func TestCubicRenoFriendly(t *testing.T) {
	c := newTestCubic()
	cubicInCA(c, 20)
	const rtt = time.Millisecond
	for range 10 {
		cubicRound(c, rtt)
	}
	// 14 segments + about 10·0.53 (rounded down by whole-window rounds).
	if got := c.cwnd / cubicTestMSS; got < 18 || got > 20 {
		t.Errorf("after 10 RTTs: cwnd %v segments, want about 19", got)
	}
	if wc := cubicW(c.t, c.k, c.wMax, c.mss); !(wc < c.wEst) || c.cwnd != c.wEst {
		t.Errorf("not in the Reno-friendly region: W_cubic %v W_est %v cwnd %v", wc, c.wEst, c.cwnd)
	}
	for range 30 {
		cubicRound(c, rtt)
	}
	// Beyond cwnd_prior (20), α = 1: about one segment per RTT.
	before := c.cwnd
	for range 10 {
		cubicRound(c, rtt)
	}
	if d := (c.cwnd - before) / cubicTestMSS; d < 9 || d > 11 {
		t.Errorf("α = 1 region: +%v segments in 10 RTTs", d)
	}
}

// TestCubicTargetCap checks RFC 9438 §4.2's cap: the target is at most
// 1.5·cwnd, so one window of ACKs grows cwnd by at most half of it.
func TestCubicTargetCap(t *testing.T) {
	c := newTestCubic()
	cubicInCA(c, 100)
	c.OnAck(cubicTestMSS, 0, time.Millisecond) // start the epoch
	// Jump ten years ahead: W_cubic is astronomically large.
	c.avoid(cubicTestMSS, 0.1, 10*365*24*3600)
	w0 := c.cwnd
	n := int(w0) / cubicTestMSS
	for range n {
		c.avoid(cubicTestMSS, 0.1, 0)
	}
	if c.cwnd > 1.5*w0+1 || c.cwnd <= w0 {
		t.Errorf("one window of ACKs: %v → %v", w0, c.cwnd)
	}
}

// TestCubicHyStart checks that HyStart++ (RFC 9406) ends slow start on a
// delay increase, as for NewReno (RFC 9438 §4.10).
func TestCubicHyStart(t *testing.T) {
	c := newTestCubic()
	var una seqnum.Value
	ack := func(n, inflight int, rtt time.Duration) {
		for range n {
			una = una.Add(cubicTestMSS)
			c.onRoundAck(una, una.Add(seqnum.Size(inflight*cubicTestMSS)), rtt)
			c.OnAck(cubicTestMSS, 0, rtt)
		}
	}
	ack(20, 20, 20*time.Millisecond)
	ack(40, 40, 20*time.Millisecond)
	ack(80, 80, 30*time.Millisecond) // +10 ms ≥ max(4 ms, 20/8 ms): CSS
	if !c.hs.css {
		t.Fatal("no CSS after an RTT increase")
	}
	for range hsCSSRounds + 1 {
		ack(c.Cwnd()/cubicTestMSS, c.Cwnd()/cubicTestMSS, 30*time.Millisecond)
	}
	if c.Ssthresh() != c.Cwnd() && c.cwnd < c.ssthresh {
		t.Fatalf("still in slow start: cwnd %d ssthresh %d", c.Cwnd(), c.Ssthresh())
	}
	if c.ssthresh >= cubicMaxWindow {
		t.Fatal("HyStart++ did not set ssthresh")
	}
}

// TestCubicSetMSS: the windows keep their size in segments.
func TestCubicSetMSS(t *testing.T) {
	c := newTestCubic()
	c.SetMSS(500)
	if c.Cwnd() != 5000 {
		t.Errorf("cwnd %d after SetMSS(500)", c.Cwnd())
	}
	c.SetMSS(0)
	c.SetMSS(-7)
	if c.Cwnd() != 5000 {
		t.Errorf("cwnd %d after SetMSS(0)", c.Cwnd())
	}
}

// cubicCheck asserts the invariants: no NaN or ±Inf anywhere, cwnd and
// ssthresh in [1 MSS, 2^31) (here at most 2^30) and never negative.
func cubicCheck(t *testing.T, c *cubic, step int, op string) {
	t.Helper()
	for name, v := range map[string]float64{
		"mss": c.mss, "cwnd": c.cwnd, "ssthresh": c.ssthresh, "W_max": c.wMax,
		"cwnd_prior": c.cwndPrior, "W_est": c.wEst, "K": c.k, "t": c.t,
	} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Fatalf("step %d (%s): %s = %v", step, op, name, v)
		}
	}
	cw, ss := int64(c.Cwnd()), int64(c.Ssthresh())
	if cw < int64(c.mss) || cw > cubicMaxWindow || cw >= 1<<31 {
		t.Fatalf("step %d (%s): cwnd %d (mss %v)", step, op, cw, c.mss)
	}
	if ss < int64(c.mss) || ss > cubicMaxWindow {
		t.Fatalf("step %d (%s): ssthresh %d (mss %v)", step, op, ss, c.mss)
	}
	if c.mss < 1 || c.mss > cubicMaxMSS {
		t.Fatalf("step %d (%s): mss %v", step, op, c.mss)
	}
}

// cubicRandInt draws an int with a bias to the extremes the connection
// could ever pass (including nonsense: negatives, the int range's ends).
func cubicRandInt(r *rand.Rand) int {
	switch r.IntN(8) {
	case 0:
		return 0
	case 1:
		return -r.IntN(math.MaxInt32)
	case 2:
		return math.MaxInt32
	case 3:
		return math.MinInt32
	case 4:
		return 1 << 30
	case 5:
		return 1 + r.IntN(65535)
	default:
		return r.IntN(1 << 30)
	}
}

// cubicRandRTT draws an RTT from 0, 1 µs, 10 min, nonsense and between.
func cubicRandRTT(r *rand.Rand) time.Duration {
	switch r.IntN(7) {
	case 0:
		return 0
	case 1:
		return time.Microsecond
	case 2:
		return 10 * time.Minute
	case 3:
		return -time.Duration(r.Int64())
	case 4:
		return time.Duration(math.MaxInt64)
	case 5:
		return time.Duration(r.Int64N(int64(10 * time.Minute)))
	default:
		return time.Duration(r.Int64N(int64(time.Second)))
	}
}

// cubicRandDt draws a time step: zero, tiny, years, NaN, ±Inf, negative.
func cubicRandDt(r *rand.Rand) float64 {
	switch r.IntN(8) {
	case 0:
		return 0
	case 1:
		return 1e-6
	case 2:
		return 3 * 365 * 24 * 3600 * r.Float64() // years
	case 3:
		return math.NaN()
	case 4:
		return math.Inf(1)
	case 5:
		return math.Inf(-1)
	case 6:
		return -r.Float64() * 1e9
	default:
		return r.Float64()
	}
}

// TestCubicPropertyRandom drives CUBIC through thousands of random calls
// of every hook with extreme arguments, fixed seeds, and checks the
// invariants after each. Run it on 32-bit too:
//
//	GOARCH=386 go test ./transport/tcp -run Cubic
func TestCubicPropertyRandom(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x9438))
		mss := 536 + r.IntN(65535-536+1)
		c := NewCubic(mss).(*cubic)
		cubicCheck(t, c, -1, "new")
		var una seqnum.Value
		for step := range 20000 {
			var op string
			switch r.IntN(12) {
			case 0, 1, 2:
				op = "OnAck"
				c.OnAck(cubicRandInt(r), cubicRandInt(r), cubicRandRTT(r))
			case 3, 4:
				op = "avoid"
				c.avoid(cubicBytes(cubicRandInt(r)), cubicRandRTT(r).Seconds(), cubicRandDt(r))
			case 5:
				op = "OnLoss"
				c.OnLoss(cubicRandInt(r))
			case 6:
				op = "OnDupAck"
				for range r.IntN(1000) {
					c.OnDupAck()
				}
			case 7:
				op = "OnPartialAck"
				c.OnPartialAck(cubicRandInt(r))
			case 8:
				op = "OnRecoveryExit"
				c.OnRecoveryExit(cubicRandInt(r))
			case 9:
				op = "OnRTO"
				c.OnRTO(cubicRandInt(r))
			case 10:
				op = "SetMSS"
				if r.IntN(2) == 0 {
					c.SetMSS(cubicRandInt(r))
				} else {
					c.SetMSS(536 + r.IntN(65535-536+1))
				}
			case 11:
				op = "onRoundAck"
				una = una.Add(seqnum.Size(r.Uint32()))
				c.onRoundAck(una, una.Add(seqnum.Size(r.Uint32())), cubicRandRTT(r))
			}
			cubicCheck(t, c, step, op)
		}
	}
}

// TestCubicPropertyLongRun plays long window-limited runs with extreme
// RTTs and MSSs and occasional losses and timeouts: cwnd must saturate at
// the bound, never wrap.
func TestCubicPropertyLongRun(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		for _, mss := range []int{536, 1460, 9000, 65535} {
			c := NewCubic(mss).(*cubic)
			rtt := []time.Duration{0, time.Microsecond, 20 * time.Millisecond, 10 * time.Minute}[r.IntN(4)]
			for step := range 5000 {
				// ACK a whole window at once: the largest steps.
				w := c.Cwnd()
				c.OnAck(w, w, rtt)
				switch r.IntN(200) {
				case 0:
					c.OnLoss(c.Cwnd())
					c.OnRecoveryExit(c.Cwnd())
				case 1:
					c.OnRTO(c.Cwnd())
				}
				cubicCheck(t, c, step, "long run")
			}
		}
	}
}

// TestCubicSaturates: years of window-limited growth end at the bound.
func TestCubicSaturates(t *testing.T) {
	c := NewCubic(65535).(*cubic)
	c.OnLoss(c.Cwnd())
	c.OnRecoveryExit(c.Cwnd())
	for range 100000 {
		w := c.Cwnd()
		c.OnAck(w, w, 10*time.Minute)
	}
	if c.Cwnd() != cubicMaxWindow {
		t.Errorf("cwnd %d, want the bound %d", c.Cwnd(), cubicMaxWindow)
	}
	cubicCheck(t, c, 0, "saturated")
}

// cubicGoodput transfers size bytes from a to b over 100 Mbit/s, 10 ms
// each way with a 128 KiB drop-tail queue and loss in both directions,
// with congestion control cc on both endpoints.
func cubicGoodput(t *testing.T, cc string, seed uint64, loss float64, size int64) (sim.StreamResult, sim.Counters) {
	t.Helper()
	n := sim.New(seed)
	defer func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	}()
	opts := sim.HostOptions{Transports: []stack.TransportProtocolFactory{NewProtocol}}
	a := n.AddHost("a", opts)
	b := n.AddHost("b", opts)
	p := sim.Props{Delay: 10 * time.Millisecond, Bandwidth: 100e6, QueueBytes: 128 << 10, Loss: loss}
	l := n.MustConnect(a, b, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("10.0.0.1/24"), AddrB: netip.MustParsePrefix("10.0.0.2/24"), AB: p, BA: p,
	})
	s, err := sim.StartStream(a, b, sim.StreamConfig{
		Port: 80, Size: size, Seed: seed,
		NewEndpoint: func(h *sim.Host) (tcpip.Endpoint, error) {
			ep, err := h.Stack().NewEndpoint(ProtocolNumber, tcpip.IPv4ProtocolNumber)
			if err != nil {
				return nil, err
			}
			// The listener's accepted endpoint inherits it.
			if err := ep.SetSockOpt(tcpip.CongestionControlOption(cc)); err != nil {
				ep.Close()
				return nil, err
			}
			return ep, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n.RunUntil(s.Done, time.Hour)
	res := s.Result()
	s.Close()
	return res, l.Counters(sim.AToB)
}

// TestCubicGoodput compares CUBIC with NewReno on the same simulated path
// and seeds: 16 MiB over 100 Mbit/s × 20 ms with 1 % loss each way (and
// without loss), logged side by side:
//
//	go test ./transport/tcp -run TestCubicGoodput -v
func TestCubicGoodput(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated transfers")
	}
	const size = 16 << 20
	for _, loss := range []float64{0.01, 0} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("loss=%g/seed=%d", loss, seed), func(t *testing.T) {
				var g [2]float64
				var line string
				for i, cc := range []string{"newreno", "cubic"} {
					r, c := cubicGoodput(t, cc, seed, loss, size)
					if !r.OK() || r.Received != size {
						t.Fatalf("%s transfer: %v", cc, r)
					}
					g[i] = r.Goodput / 1e6
					line += fmt.Sprintf("  %-7s %5.1f Mbit/s in %-8v (queue drops %3d, loss drops %3d)",
						cc, g[i], r.Duration.Round(time.Millisecond), c.DroppedQueue, c.DroppedLoss)
				}
				t.Logf("%s  cubic/newreno %.2f", line, g[1]/g[0])
			})
		}
	}
}

// TestCubicZeroRTTAndWMax: a zero RTT (t never advances) and a zero W_max
// (no congestion event yet) leave the window finite and growing by the
// Reno-friendly estimate alone.
func TestCubicZeroRTTAndWMax(t *testing.T) {
	c := newTestCubic()
	c.ssthresh = c.cwnd // congestion avoidance without any loss: W_max = 0
	for range 1000 {
		c.OnAck(cubicTestMSS, c.Cwnd(), 0)
		cubicCheck(t, c, 0, "zero RTT")
	}
	if c.t != 0 || c.k != 0 || c.wMax != 10*cubicTestMSS {
		t.Errorf("t %v K %v W_max %v", c.t, c.k, c.wMax)
	}
	// About one segment per window of ACKs (α = 1: cwnd_prior is 0).
	if got := c.Cwnd() / cubicTestMSS; got < 40 || got > 60 {
		t.Errorf("cwnd %d segments after 1000 ACKs", got)
	}
}

// TestCubicAllocs: the per-ACK path allocates nothing.
func TestCubicAllocs(t *testing.T) {
	c := newTestCubic()
	cubicInCA(c, 100)
	if n := testing.AllocsPerRun(100, func() { c.OnAck(cubicTestMSS, 0, 20*time.Millisecond) }); n != 0 {
		t.Errorf("OnAck: %v allocations", n)
	}
}
