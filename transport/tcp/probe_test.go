package tcp_test

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
	"github.com/ustack-go/ustack/transport/tcp"
)

// probeLog records what a probe receives.
type probeLog struct {
	mu     sync.Mutex
	states []stack.TCPEndpointState
}

func (p *probeLog) probe(st stack.TCPEndpointState) {
	p.mu.Lock()
	p.states = append(p.states, st)
	p.mu.Unlock()
}

func (p *probeLog) take() []stack.TCPEndpointState {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.states
	p.states = nil
	return s
}

// TestProbeEverySegment: the probe sees every segment the client's
// connection receives, with the connection's 4-tuple and a send sequence
// space that follows the ACKs, and the RTT sample of those that
// acknowledged new data.
func TestProbeEverySegment(t *testing.T) {
	e := newEnv(t, true)
	var log probeLog
	if e.a.GetTCPProbe() != nil {
		t.Fatal("GetTCPProbe is set before AddTCPProbe")
	}
	e.a.AddTCPProbe(log.probe)
	if e.a.GetTCPProbe() == nil {
		t.Fatal("GetTCPProbe is nil after AddTCPProbe")
	}
	before := counter(e.a, "TCP.SegmentsReceived")
	cli, srv, _ := e.connectPair()
	data := make([]byte, 100<<10)
	written := 0
	for written < len(data) {
		n, err := cli.Write(data[written:], tcpip.WriteOptions{})
		if err != nil && err != tcpip.ErrWouldBlock {
			t.Fatal(err)
		}
		written += n
		e.advance(time.Millisecond)
		readAll(t, srv)
	}
	e.advance(time.Second)
	readAll(t, srv)
	got := log.take()
	segs := counter(e.a, "TCP.SegmentsReceived") - before
	if uint64(len(got)) != segs || segs == 0 {
		t.Fatalf("probe saw %d states, the stack received %d segments", len(got), segs)
	}
	la, _ := cli.LocalAddress()
	var samples int
	var last stack.TCPEndpointState
	for i, st := range got {
		if st.ID.LocalAddress != addrA || st.ID.RemoteAddress != addrB || st.ID.RemotePort != 80 || st.ID.LocalPort != la.Port {
			t.Fatalf("state %d: ID %+v", i, st.ID)
		}
		if i > 0 && st.Sender.SndUna.LessThan(last.Sender.SndUna) {
			t.Fatalf("state %d: SND.UNA went back from %v to %v", i, last.Sender.SndUna, st.Sender.SndUna)
		}
		if i > 0 && st.SegTime.Before(last.SegTime) {
			t.Fatalf("state %d: time went back", i)
		}
		if st.Segment.Flags&header.TCPFlagACK == 0 {
			t.Fatalf("state %d: segment without ACK: %+v", i, st.Segment)
		}
		if st.Sender.RTTSample > 0 {
			samples++
			if i > 0 && st.Sender.SndUna == last.Sender.SndUna {
				t.Fatalf("state %d: an RTT sample without new data acknowledged", i)
			}
		}
		last = st
	}
	if samples == 0 {
		t.Error("no RTT sample reported")
	}
	if tcp.State(last.State) != tcp.StateEstablished || last.Sender.Cwnd <= 0 || last.Sender.SRTT <= 0 ||
		last.Sender.SndUna != last.Sender.SndMax || last.Sender.CC.Name != info(t, cli).CongestionControl || !last.RcvAutoTuning || !last.Timestamps || !last.SACKPermitted {
		t.Errorf("last state: %+v", last)
	}
	if !last.AutoTune.RcvEnabled || !last.AutoTune.SndEnabled {
		t.Errorf("autotuning off by default: %+v", last.AutoTune)
	}
	if last.SndBufSize <= 0 || last.RcvBufSize <= 0 || last.Sender.SndWndScale < 0 || last.Receiver.RcvNxt == 0 {
		t.Errorf("last state: buffers %d/%d, scale %d, RcvNxt %v", last.SndBufSize, last.RcvBufSize, last.Sender.SndWndScale, last.Receiver.RcvNxt)
	}

	e.a.RemoveTCPProbe()
	if e.a.GetTCPProbe() != nil {
		t.Fatal("GetTCPProbe is set after RemoveTCPProbe")
	}
	write(t, cli, []byte("more"))
	e.advance(time.Second)
	if n := len(log.take()); n != 0 {
		t.Errorf("removed probe called %d times", n)
	}
}

// TestProbeSACK: after a lost segment, the sender's probe sees the
// receiver's SACK blocks, the scoreboard and fast recovery; the
// receiver's probe sees the blocks it sends.
func TestProbeSACK(t *testing.T) {
	e := newEnv(t, true)
	var la, lb probeLog
	e.a.AddTCPProbe(la.probe)
	e.b.AddTCPProbe(lb.probe)
	cli, srv, _ := e.connectPair()
	dropped := false
	e.linkA.setDrop(func(ip []byte) bool {
		tcph := header.TCP(ip[header.IPv4MinimumSize:])
		if !dropped && len(tcph.Payload()) > 0 {
			dropped = true
			return true
		}
		return false
	})
	write(t, cli, make([]byte, 10*1000))
	e.pump()
	var sawBlocks, sawRecovery bool
	for _, st := range la.take() {
		if st.Segment.NumSACKBlocks > 0 && st.Sender.FastRecovery.SACKedBytes > 0 {
			sawBlocks = true
		}
		if st.Sender.FastRecovery.Active && st.Sender.FastRecovery.SACK && st.Sender.FastRecovery.RecoverySet &&
			st.Sender.RACK.Enabled && st.Sender.PRR.RecoverFS > 0 {
			sawRecovery = true
		}
	}
	if !sawBlocks || !sawRecovery {
		t.Errorf("sender's probe: SACK blocks seen %v, recovery seen %v", sawBlocks, sawRecovery)
	}
	var sent bool
	for _, st := range lb.take() {
		if st.NumSACKBlocksSent > 0 && st.RcvOOOBytes > 0 && st.Receiver.OOOSegments > 0 {
			sent = true
		}
	}
	if !sent {
		t.Error("receiver's probe saw no SACK blocks to send")
	}
	e.advance(time.Second)
	if got := len(readAll(t, srv)); got != 10*1000 {
		t.Fatalf("read %d bytes", got)
	}
}

// TestProbeOutsideLock: the probe may call into the endpoint it reports
// (it runs once the endpoint's lock is released): reading its Info from
// the callback does not deadlock.
func TestProbeOutsideLock(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	calls := 0
	e.a.AddTCPProbe(func(st stack.TCPEndpointState) {
		in, err := tcp.Diagnose(cli)
		if err != nil {
			t.Error(err)
		}
		if in.State != tcp.State(st.State) {
			t.Errorf("Info state %v, probe state %v", in.State, tcp.State(st.State))
		}
		calls++
	})
	write(t, cli, []byte("hello"))
	e.advance(time.Second)
	readAll(t, srv)
	if calls == 0 {
		t.Fatal("probe not called")
	}
}

// TestAllocsProbe: without a probe and with one installed, a warm
// connection allocates nothing per segment (the captured states reuse
// their array).
func TestAllocsProbe(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	e := newEnv(t, true)
	e.sn.off.Store(true)
	cli, srv, _ := e.connectPair()
	roundTrip := pingPong(t, e, cli, srv)
	for range 100 {
		roundTrip()
	}
	if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
		t.Fatalf("%v allocations per round trip without a probe, want 0", n)
	}
	calls := 0
	e.a.AddTCPProbe(func(stack.TCPEndpointState) { calls++ })
	for range 100 {
		roundTrip()
	}
	if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
		t.Fatalf("%v allocations per round trip with a probe, want 0", n)
	}
	if calls == 0 {
		t.Fatal("probe not called")
	}
}

// pingPong returns a function that sends 1000 bytes each way between cli
// and srv.
func pingPong(tb testing.TB, e *env, cli, srv tcpip.Endpoint) func() {
	payload := make([]byte, 1000)
	buf := make([]byte, 4096)
	return func() {
		if _, err := cli.Write(payload, tcpip.WriteOptions{}); err != nil {
			tb.Fatal(err)
		}
		e.hub.Pump()
		if res, err := srv.Read(buf, tcpip.ReadOptions{}); err != nil || res.N != len(payload) {
			tb.Fatalf("Read = %+v, %v", res, err)
		}
		if _, err := srv.Write(payload, tcpip.WriteOptions{}); err != nil {
			tb.Fatal(err)
		}
		e.hub.Pump()
		if res, err := cli.Read(buf, tcpip.ReadOptions{}); err != nil || res.N != len(payload) {
			tb.Fatalf("Read = %+v, %v", res, err)
		}
		e.clock.Advance(time.Millisecond)
	}
}

// benchReceive measures a round trip of 1000 bytes each way (two data
// segments and their ACKs), with or without a probe on both stacks.
func benchReceive(b *testing.B, probe bool) {
	clock := tcpip.NewManualClock()
	hub := testnet.NewHub(clock)
	defer hub.Close()
	e := &env{hub: hub, clock: clock, sn: &sniffer{}}
	stacks := [2]*stack.Stack{}
	for i, addr := range []netip.Addr{addrA, addrB} {
		s := hub.NewStack(b, stackOpts())
		if err := s.CreateNIC(1, hub.NewPort(false, tcpip.LinkAddress{}, 1500, 0)); err != nil {
			b.Fatal(err)
		}
		if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: tcpip.IPv4ProtocolNumber, Address: netip.PrefixFrom(addr, 24)}, stack.AddressProperties{}); err != nil {
			b.Fatal(err)
		}
		if err := s.AddRoute(tcpip.Route{Destination: netip.PrefixFrom(addr, 24).Masked(), NIC: 1}); err != nil {
			b.Fatal(err)
		}
		stacks[i] = s
	}
	e.a, e.b = stacks[0], stacks[1]
	newEP := func(s *stack.Stack) tcpip.Endpoint {
		ep, err := s.NewEndpoint(tcp.ProtocolNumber, tcpip.IPv4ProtocolNumber)
		if err != nil {
			b.Fatal(err)
		}
		return ep
	}
	l := newEP(e.b)
	defer l.Close()
	if err := l.Bind(tcpip.FullAddress{Addr: addrB, Port: 80}); err != nil {
		b.Fatal(err)
	}
	if err := l.Listen(1); err != nil {
		b.Fatal(err)
	}
	cli := newEP(e.a)
	defer cli.Close()
	_ = cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 80})
	e.pump()
	srv, _, err := l.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	if probe {
		var sink uint64
		f := func(st stack.TCPEndpointState) { sink += uint64(st.Sender.Cwnd) }
		e.a.AddTCPProbe(f)
		e.b.AddTCPProbe(f)
	}
	rt := pingPong(b, e, cli, srv)
	for range 100 {
		rt()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rt()
	}
}

// BenchmarkTCPReceiveNoProbe and BenchmarkTCPReceiveProbe compare the
// cost of the probe: without one, an atomic load per segment.
//
//	go test ./transport/tcp -run '^$' -bench TCPReceive
func BenchmarkTCPReceiveNoProbe(b *testing.B) { benchReceive(b, false) }

// BenchmarkTCPReceiveProbe is BenchmarkTCPReceiveNoProbe with a probe
// installed on both stacks.
func BenchmarkTCPReceiveProbe(b *testing.B) { benchReceive(b, true) }

// TestInfoLimit walks a connection through each Limit and checks Info's
// accounting of the time spent in each.
func TestInfoLimit(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	if got := info(t, cli).Limit; got != tcp.LimitApplication {
		t.Fatalf("idle connection: limit %v", got)
	}
	e.advance(100 * time.Millisecond) // application-limited

	// Congestion window: more than the initial window written and
	// nothing acknowledged yet (the links hold the segments until the
	// next pump).
	if _, err := cli.Write(make([]byte, 64<<10), tcpip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	in := info(t, cli)
	if in.Limit != tcp.LimitCongestionWindow || in.NotSent == 0 || in.BytesInFlight != in.Cwnd {
		t.Fatalf("after a 64 KiB write: limit %v, not sent %d, in flight %d, cwnd %d", in.Limit, in.NotSent, in.BytesInFlight, in.Cwnd)
	}
	if !strings.Contains(in.String(), "limited by the congestion window") {
		t.Errorf("report:\n%s", in)
	}
	e.clock.Advance(50 * time.Millisecond) // congestion-window-limited
	e.advance(time.Second)
	readAll(t, srv)
	e.advance(time.Second)
	in = info(t, cli)
	if in.Limit != tcp.LimitApplication || in.Unacked != 0 {
		t.Fatalf("after the transfer: limit %v, unacked %d", in.Limit, in.Unacked)
	}
	if in.CwndLimitedTime < 50*time.Millisecond || in.AppLimitedTime < 100*time.Millisecond || in.BusyTime < in.CwndLimitedTime {
		t.Errorf("times: %+v", in)
	}

	// Receiver window: srv does not read; its buffer fills.
	var rb tcpip.ReceiveBufferSizeOption
	if err := srv.GetSockOpt(&rb); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := cli.Write(make([]byte, 64<<10), tcpip.WriteOptions{}); err != nil && err != tcpip.ErrWouldBlock {
			t.Fatal(err)
		}
		e.advance(10 * time.Millisecond)
		if info(t, cli).Limit == tcp.LimitReceiverWindow {
			break
		}
	}
	in = info(t, cli)
	if in.Limit != tcp.LimitReceiverWindow {
		t.Fatalf("receiver not reading: limit %v\n%s", in.Limit, in)
	}
	if !strings.Contains(in.Why(), "receiver") {
		t.Errorf("Why = %q", in.Why())
	}
	e.advance(200 * time.Millisecond)
	if got := info(t, cli).RwndLimitedTime; got < 200*time.Millisecond {
		t.Errorf("receiver-window-limited time %v", got)
	}
	for len(readAll(t, srv)) > 0 {
		e.advance(10 * time.Millisecond)
	}
	e.advance(time.Second)

	// Send buffer: a buffer smaller than the congestion window, filled
	// by a write and all in flight.
	if err := cli.SetSockOpt(tcpip.SendBufferSizeOption(tcp.MinBufferSize)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Write(make([]byte, tcp.MinBufferSize), tcpip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	in = info(t, cli)
	if in.SndBufAutoTuning || !in.RcvBufAutoTuning {
		t.Errorf("autotuning after SendBufferSizeOption: send %v, receive %v", in.SndBufAutoTuning, in.RcvBufAutoTuning)
	}
	if in.Limit != tcp.LimitSendBuffer {
		t.Fatalf("full send buffer: limit %v\n%s", in.Limit, in)
	}
	if !strings.Contains(in.Why(), "send buffer") {
		t.Errorf("Why = %q", in.Why())
	}

	// None: the sending side is closed.
	if err := cli.Shutdown(tcpip.ShutdownWrite); err != nil {
		t.Fatal(err)
	}
	if got := info(t, cli).Limit; got != tcp.LimitNone {
		t.Errorf("after shutdown: limit %v", got)
	}
}

// TestConnections lists a stack's TCP endpoints with their addresses.
func TestConnections(t *testing.T) {
	e := newEnv(t, true)
	cli, _, _ := e.connectPair()
	la, _ := cli.LocalAddress()
	a := tcp.Connections(e.a)
	if len(a) != 1 || a[0].ID.LocalPort != la.Port || a[0].ID.RemoteAddress != addrB || a[0].Info.State != tcp.StateEstablished {
		t.Fatalf("Connections(a) = %+v", a)
	}
	b := tcp.Connections(e.b)
	if len(b) != 2 || b[0].Info.State != tcp.StateListen || b[1].Info.State != tcp.StateEstablished ||
		b[1].ID.RemotePort != la.Port || b[0].UniqueID >= b[1].UniqueID {
		t.Fatalf("Connections(b) = %+v", b)
	}
	if eps := e.b.TransportEndpoints(tcpip.UDPProtocolNumber); len(eps) != 0 {
		t.Errorf("UDP endpoints: %v", eps)
	}
}

// TestInfoLimitAfterFIN: data written before a shutdown and still
// waiting on the congestion window keeps the connection
// congestion-window-limited; once it is all sent, nothing limits it.
func TestInfoLimitAfterFIN(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	if _, err := cli.Write(make([]byte, 64<<10), tcpip.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cli.Shutdown(tcpip.ShutdownWrite); err != nil {
		t.Fatal(err)
	}
	if in := info(t, cli); in.State != tcp.StateFinWait1 || in.Limit != tcp.LimitCongestionWindow {
		t.Fatalf("after write and shutdown: %v, limit %v", in.State, in.Limit)
	}
	e.clock.Advance(10 * time.Millisecond) // the links hold the segments meanwhile
	e.advance(time.Second)
	readAll(t, srv)
	e.advance(time.Second)
	if in := info(t, cli); in.Limit != tcp.LimitNone || in.CwndLimitedTime < 10*time.Millisecond {
		t.Fatalf("after the transfer: %v, limit %v, cwnd-limited %v", in.State, in.Limit, in.CwndLimitedTime)
	}
}

// TestProbePMTU: an ICMP Fragmentation Needed that lowers the MSS
// (RFC 1191 §6.5) counts as a PMTU event in Info and in the state the
// probe sees at the next segment.
func TestProbePMTU(t *testing.T) {
	e, p, ep := toEstablishedActive(t)
	var log probeLog
	e.a.AddTCPProbe(log.probe)
	if err := ep.SetSockOpt(tcpip.DelayOption(false)); err != nil {
		t.Fatal(err)
	}
	write(t, ep, make([]byte, 3000))
	segs := p.expect(3)
	icmpUnreach(e, header.ICMPv4FragmentationNeeded, 1000, p.lport, p.port, segs[0].f.SeqNum)
	p.expect(4)
	if in := info(t, ep); in.PMTUEvents != 1 || in.SndMSS != 960 {
		t.Fatalf("PMTU events %d, MSS %d", in.PMTUEvents, in.SndMSS)
	}
	p.send(segOpts{flags: ACK, ack: sv(segs[0].f.SeqNum + 960)})
	e.pump()
	got := log.take()
	if len(got) != 1 || got[0].PMTUEvents != 1 || got[0].SndMSS != 960 {
		t.Fatalf("probe states %+v", got)
	}
}
