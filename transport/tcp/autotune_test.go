package tcp_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/stack"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// wsFor is the window scale (RFC 7323 §2.3) that lets size bytes be
// advertised: the smallest shift with 65535<<shift ≥ size, at most 14.
func wsFor(size int) uint8 {
	var ws uint8
	for ws < 14 && 0xffff<<ws < size {
		ws++
	}
	return ws
}

// defaultWS is the window scale of a connection with the default buffer
// range: computed from the autotuning maximum, not the initial size.
var defaultWS = wsFor(tcp.DefaultMaxReceiveBufferSize)

// RFC 7323 §2.2: the window scale is fixed in the SYN, so it must allow
// the largest buffer autotuning may reach; an endpoint whose user fixed
// its buffer (SO_RCVBUF), or a stack with autotuning off, scales for its
// buffer only.
func TestWindowScaleFromMax(t *testing.T) {
	cases := []struct {
		name  string
		stack []any // protocol options of both stacks
		rcv   int   // ReceiveBufferSizeOption of the client, 0: none
		want  uint8
	}{
		{"default", nil, 0, wsFor(tcp.DefaultMaxReceiveBufferSize)},
		{"range", []any{tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 64 << 10, Max: 1 << 20}}, 0, wsFor(1 << 20)},
		{"range-max-1GiB", []any{tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 64 << 10, Max: tcp.MaxBufferSize}}, 0, 14},
		{"so-rcvbuf", nil, 256 << 10, wsFor(256 << 10)},
		{"moderate-off", []any{tcp.ModerateReceiveBufferOption(false)}, 0, wsFor(tcp.DefaultReceiveBufferSize)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, true)
			for _, o := range c.stack {
				for _, s := range []*stack.Stack{e.a, e.b} {
					if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
						t.Fatal(err)
					}
				}
			}
			l := listen(t, e.b, addrB, 80, 1)
			cli := newTCP(t, e.a)
			if c.rcv != 0 {
				if err := cli.SetSockOpt(tcpip.ReceiveBufferSizeOption(c.rcv)); err != nil {
					t.Fatal(err)
				}
			}
			if err := cli.Connect(tcpip.FullAddress{Addr: addrB, Port: 80}); !errors.Is(err, tcpip.ErrConnectStarted) {
				t.Fatal(err)
			}
			e.pump()
			srv := accept(t, l)
			if in := info(t, cli); in.RcvWScale != c.want {
				t.Errorf("client RcvWScale %d, want %d", in.RcvWScale, c.want)
			}
			// The listener side too (the SYN-ACK's shift); it has
			// no SO_RCVBUF of its own.
			want := c.want
			if c.rcv != 0 {
				want = wsFor(tcp.DefaultMaxReceiveBufferSize)
			}
			if in := info(t, srv); in.RcvWScale != want || in.SndWScale != c.want {
				t.Errorf("server RcvWScale %d SndWScale %d, want %d and %d", in.RcvWScale, in.SndWScale, want, c.want)
			}
		})
	}
}

// The range options: checked, read back, and Send/ReceiveBufferSizeOption
// set their Default.
func TestBufferRangeOptions(t *testing.T) {
	e := newEnv(t, false)
	s := e.a
	var r tcpip.TCPReceiveBufferSizeRangeOption
	if err := s.TransportProtocolOption(tcp.ProtocolNumber, &r); err != nil {
		t.Fatal(err)
	}
	if r != (tcpip.TCPReceiveBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: tcp.DefaultReceiveBufferSize, Max: tcp.DefaultMaxReceiveBufferSize}) {
		t.Fatalf("default receive range %+v", r)
	}
	var m tcp.ModerateReceiveBufferOption
	if err := s.TransportProtocolOption(tcp.ProtocolNumber, &m); err != nil || !m {
		t.Fatalf("ModerateReceiveBufferOption %v, %v; want on", m, err)
	}
	for _, bad := range []tcpip.TCPSendBufferSizeRangeOption{
		{Min: 0, Default: 8192, Max: 1 << 20},
		{Min: 8192, Default: 4096, Max: 1 << 20},
		{Min: 4096, Default: 8192, Max: 4096},
		{Min: 4096, Default: 8192, Max: tcp.MaxBufferSize + 1},
	} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, bad); !errors.Is(err, tcpip.ErrInvalidOptionValue) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, tcpip.TCPSendBufferSizeRangeOption{Min: 8192, Default: 64 << 10, Max: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	// A Default above Max raises Max.
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, tcpip.SendBufferSizeOption(2<<20)); err != nil {
		t.Fatal(err)
	}
	var sr tcpip.TCPSendBufferSizeRangeOption
	if err := s.TransportProtocolOption(tcp.ProtocolNumber, &sr); err != nil || sr != (tcpip.TCPSendBufferSizeRangeOption{Min: 8192, Default: 2 << 20, Max: 2 << 20}) {
		t.Fatalf("send range %+v, %v", sr, err)
	}
	var snd tcpip.SendBufferSizeOption
	if err := newTCP(t, s).GetSockOpt(&snd); err != nil || snd != 2<<20 {
		t.Fatalf("new endpoint's send buffer %d, %v", snd, err)
	}
}

// An idle connection (a request and a response, then nothing) keeps its
// initial buffers: autotuning follows what the application moves, and
// a few bytes per round trip never exceed the initial measure.
func TestIdleConnectionBuffersDoNotGrow(t *testing.T) {
	e := newEnv(t, true)
	cli, srv := dialN(t, e, 10)
	for round := range 20 {
		for i := range cli {
			write(t, cli[i], []byte("ping"))
			e.pump()
			readAll(t, srv[i])
			write(t, srv[i], []byte("pong"))
			e.pump()
			readAll(t, cli[i])
		}
		e.advance(time.Duration(round+1) * 100 * time.Millisecond)
	}
	for _, ep := range append(cli, srv...) {
		var r tcpip.ReceiveBufferSizeOption
		var s tcpip.SendBufferSizeOption
		if err := ep.GetSockOpt(&r); err != nil || r != tcp.DefaultReceiveBufferSize {
			t.Fatalf("receive buffer %d, %v; want %d", r, err, tcp.DefaultReceiveBufferSize)
		}
		if err := ep.GetSockOpt(&s); err != nil || s != tcp.DefaultSendBufferSize {
			t.Fatalf("send buffer %d, %v; want %d", s, err, tcp.DefaultSendBufferSize)
		}
	}
}

// lfnRun transfers size bytes from a to b over a long fat path: bw bits
// per second, rtt round trip, a drop-tail queue of a bandwidth-delay
// product, no loss. setup configures both stacks before the transfer;
// the receiving server endpoint's final buffer sizes are returned.
func lfnRun(t *testing.T, bw uint64, rtt time.Duration, size int64, setup func(s *stack.Stack)) (r sim.StreamResult, rcvBuf, sndBuf int) {
	t.Helper()
	n := sim.New(1)
	defer func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	}()
	opts := sim.HostOptions{Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
	a := n.AddHost("a", opts)
	b := n.AddHost("b", opts)
	for _, h := range []*sim.Host{a, b} {
		if setup != nil {
			setup(h.Stack())
		}
	}
	bdp := int(float64(bw) / 8 * rtt.Seconds())
	p := sim.Props{Delay: rtt / 2, Bandwidth: bw, QueueBytes: bdp}
	n.MustConnect(a, b, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("10.0.0.1/24"), AddrB: netip.MustParsePrefix("10.0.0.2/24"), AB: p, BA: p,
	})
	var snd, rcv tcpip.Endpoint
	s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: size, Seed: 1, NewEndpoint: func(h *sim.Host) (tcpip.Endpoint, error) {
		ep, err := h.Stack().NewEndpoint(tcp.ProtocolNumber, tcpip.IPv4ProtocolNumber)
		if h == a {
			snd = ep
		}
		return ep, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The accepted endpoint: the listener's only connection, found
	// by its address once established.
	n.RunUntil(func() bool {
		if rcv == nil {
			id := stack.TransportEndpointID{LocalPort: 80, LocalAddress: b.Addr(), RemoteAddress: a.Addr()}
			if fa, err := snd.LocalAddress(); err == nil && fa.Port != 0 {
				id.RemotePort = fa.Port
				if ep, ok := b.Stack().FindTransportEndpoint(tcpip.IPv4ProtocolNumber, tcp.ProtocolNumber, id, 0).(tcpip.Endpoint); ok {
					if _, err := ep.RemoteAddress(); err == nil {
						rcv = ep
					}
				}
			}
		}
		if rcv != nil {
			var v tcpip.ReceiveBufferSizeOption
			if rcv.GetSockOpt(&v) == nil {
				rcvBuf = max(rcvBuf, int(v))
			}
		}
		var w tcpip.SendBufferSizeOption
		if snd.GetSockOpt(&w) == nil {
			sndBuf = max(sndBuf, int(w))
		}
		return s.Done()
	}, time.Hour)
	r = s.Result()
	in := info(t, snd)
	t.Logf("sender: cwnd %d ssthresh %d retransmits %d srtt %v; link a→b: %+v", in.Cwnd, in.Ssthresh, in.Retransmits, in.RTT, n.Links()[0].Counters(sim.AToB))
	s.Close()
	return r, rcvBuf, sndBuf
}

// TestAutotuneLongFatPath: a bulk transfer over 1 Gbit/s with 100 ms of
// round trip (a bandwidth-delay product of 12.5 MB) reaches most of the
// link rate with autotuning, and is held to the initial receive buffer
// per round trip without it (ModerateReceiveBufferOption(false): 128 KiB
// per 100 ms, about 10 Mbit/s). The figures are logged:
//
//	go test ./transport/tcp -run TestAutotuneLongFatPath -v
func TestAutotuneLongFatPath(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated long transfer")
	}
	if raceEnabled {
		// 256 MiB through the simulator takes most of ten minutes under
		// the race detector; .ci/run also runs this package without it.
		t.Skip("simulated 256 MiB transfer: run without -race")
	}
	const (
		bw   = 1e9
		rtt  = 100 * time.Millisecond
		size = 256 << 20
	)
	on, rcvOn, sndOn := lfnRun(t, bw, rtt, size, nil)
	t.Logf("autotuning on:  %.1f Mbit/s in %v; receive buffer grew to %d, send buffer to %d", on.Goodput/1e6, on.Duration, rcvOn, sndOn)
	off, rcvOff, _ := lfnRun(t, bw, rtt, 16<<20, func(s *stack.Stack) {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.ModerateReceiveBufferOption(false)); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("autotuning off: %.1f Mbit/s in %v; receive buffer %d", off.Goodput/1e6, off.Duration, rcvOff)
	if !on.OK() || on.Received != size || !off.OK() {
		t.Fatalf("transfers: %v / %v", on, off)
	}
	// Off: one receive buffer per round trip at most.
	if limit := float64(tcp.DefaultReceiveBufferSize) * 8 / rtt.Seconds(); off.Goodput > limit*1.05 {
		t.Errorf("without autotuning %.1f Mbit/s, above the %.1f Mbit/s a fixed buffer allows", off.Goodput/1e6, limit/1e6)
	}
	if rcvOff != tcp.DefaultReceiveBufferSize {
		t.Errorf("receive buffer changed to %d without autotuning", rcvOff)
	}
	// On: most of the link, over the whole transfer: slow start (ten
	// round trips to reach the product) and the recovery from its
	// overshoot into the queue included.
	if on.Goodput < 0.5*bw {
		t.Errorf("with autotuning %.1f Mbit/s, want at least half of %.0f Mbit/s", on.Goodput/1e6, bw/1e6)
	}
	if rcvOn < int(bw/8*rtt.Seconds()) {
		t.Errorf("receive buffer grew to %d only, below the bandwidth-delay product", rcvOn)
	}
	if sndOn <= tcp.DefaultSendBufferSize {
		t.Errorf("send buffer did not grow (%d)", sndOn)
	}
}

// An explicit SO_RCVBUF / SO_SNDBUF (set on the listener, inherited)
// turns autotuning off for the connection, as in Linux.
func TestAutotuneOffWithExplicitBuffers(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated transfer")
	}
	const fixed = 256 << 10
	n := sim.New(2)
	defer n.Close()
	opts := sim.HostOptions{Transports: []stack.TransportProtocolFactory{tcp.NewProtocol}}
	a := n.AddHost("a", opts)
	b := n.AddHost("b", opts)
	p := sim.Props{Delay: 10 * time.Millisecond, Bandwidth: 100e6, QueueBytes: 256 << 10}
	n.MustConnect(a, b, sim.LinkConfig{AddrA: netip.MustParsePrefix("10.0.0.1/24"), AddrB: netip.MustParsePrefix("10.0.0.2/24"), AB: p, BA: p})
	var eps []tcpip.Endpoint
	s, err := sim.StartStream(a, b, sim.StreamConfig{Port: 80, Size: 8 << 20, Seed: 2, NewEndpoint: func(h *sim.Host) (tcpip.Endpoint, error) {
		ep, err := h.Stack().NewEndpoint(tcp.ProtocolNumber, tcpip.IPv4ProtocolNumber)
		if err != nil {
			return nil, err
		}
		if err := ep.SetSockOpt(tcpip.ReceiveBufferSizeOption(fixed)); err != nil {
			return nil, err
		}
		if err := ep.SetSockOpt(tcpip.SendBufferSizeOption(fixed)); err != nil {
			return nil, err
		}
		eps = append(eps, ep)
		return ep, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.RunUntil(s.Done, time.Hour)
	if r := s.Result(); !r.OK() {
		t.Fatalf("transfer: %v", r)
	}
	for _, ep := range eps {
		var r tcpip.ReceiveBufferSizeOption
		var w tcpip.SendBufferSizeOption
		if ep.GetSockOpt(&r) != nil || ep.GetSockOpt(&w) != nil || r != fixed || w != fixed {
			t.Fatalf("buffers %d/%d, want %d kept", r, w, fixed)
		}
	}
	s.Close()
}

// RFC 9293 §3.8.6.2.2 and RFC 7323 §2.4: while the receive buffer grows
// (and when the user shrinks it), the right edge of the window
// advertised, SEG.ACK + SEG.WND << Rcv.Wind.Shift, never moves back.
func TestAdvertisedWindowNeverShrinks(t *testing.T) {
	e := newEnv(t, true)
	cli, srv, _ := e.connectPair()
	ws := info(t, srv).RcvWScale
	if ws != defaultWS {
		t.Fatalf("server window scale %d", ws)
	}
	e.sn.take()
	chunk := make([]byte, 32<<10)
	var right seqnum.Value
	seen := false
	checkEdges := func() {
		for _, s := range e.sn.take() {
			if s.src != addrB || !s.has(header.TCPFlagACK) || s.has(header.TCPFlagRST) {
				continue
			}
			edge := s.f.AckNum.Add(seqnum.Size(uint32(s.f.WindowSize) << ws))
			if seen && edge.LessThan(right) {
				t.Fatalf("right edge moved back from %d to %d: %+v", right, edge, s.f)
			}
			right, seen = edge, true
		}
	}
	var grown tcpip.ReceiveBufferSizeOption
	for i := range 200 {
		// As much as the send buffer takes.
		if _, err := cli.Write(chunk, tcpip.WriteOptions{}); err != nil && !errors.Is(err, tcpip.ErrWouldBlock) {
			t.Fatal(err)
		}
		e.pump()
		if i%3 != 0 { // a reader that lags behind now and then
			readAll(t, srv)
		}
		if i == 150 {
			// Shrinking the buffer keeps the edge (the window
			// closes as data comes instead).
			if err := srv.GetSockOpt(&grown); err != nil {
				t.Fatal(err)
			}
			if err := srv.SetSockOpt(tcpip.ReceiveBufferSizeOption(8192)); err != nil {
				t.Fatal(err)
			}
		}
		e.advance(5 * time.Millisecond)
		checkEdges()
	}
	readAll(t, srv)
	e.advance(time.Second)
	checkEdges()
	if grown <= tcp.DefaultReceiveBufferSize {
		t.Fatalf("receive buffer did not grow (%d): the test proves nothing", grown)
	}
	t.Logf("receive buffer grew to %d; last right edge %d", grown, right)
}

func ExampleModerateReceiveBufferOption() {
	s := stack.New(stack.Options{TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol}})
	defer s.Close()
	// Buffers from 64 KiB growing to 64 MiB per connection.
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 64 << 10, Max: 64 << 20}); err != nil {
		fmt.Println(err)
	}
	// Or no receive autotuning at all: every connection keeps Default.
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, tcp.ModerateReceiveBufferOption(false)); err != nil {
		fmt.Println(err)
	}
	var r tcpip.TCPReceiveBufferSizeRangeOption
	_ = s.TransportProtocolOption(tcp.ProtocolNumber, &r)
	fmt.Printf("%+v\n", r)
	// Output: {Min:4096 Default:65536 Max:67108864}
}

// The out-of-order queue may fill the whole window advertised (RFC 9293
// §3.10.7.4 keeps segments beyond a hole; the incumbent keeps only a
// quarter of the window): with the first segment lost, every other one
// of a full window is kept, SACKed, and delivered when the hole fills.
func TestOutOfOrderUsesWholeWindow(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	base := p.nxt
	wnd := 65535 // the peer sent no window scale: the window is unscaled
	var want []byte
	for off := 0; off+sackMSS <= wnd; off += sackMSS {
		want = append(want, bytes.Repeat([]byte{byte(off / sackMSS)}, sackMSS)...)
	}
	for off := sackMSS; off < len(want); off += sackMSS {
		p.send(segOpts{flags: ACK, seq: sv(base.Add(seqnum.Size(off))), data: want[off : off+sackMSS]})
	}
	p.e.pump()
	if n := counter(e.a, "TCP.ReceiveBufferDrops"); n != 0 {
		t.Fatalf("%d out-of-order segments dropped within the window", n)
	}
	var last seg
	for _, s := range e.sn.take() {
		if s.src == addrA {
			last = s
		}
	}
	if last.opts.NumSACKBlocks == 0 || last.opts.SACKBlocks[0].End != base.Add(seqnum.Size(len(want))) {
		t.Fatalf("last ACK's SACK blocks %v, want one up to %d", last.opts.SACKBlocks[:last.opts.NumSACKBlocks], base.Add(seqnum.Size(len(want))))
	}
	p.send(segOpts{flags: ACK, seq: sv(base), data: want[:sackMSS]})
	p.e.pump()
	if got := readAll(t, ep); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d sent", len(got), len(want))
	}
}

// Out-of-order memory is accounted: a peer that sends one-byte segments
// after a hole, each its own run, is held to the receive buffer (each run
// charged its bookkeeping, autotune.go oooRunCost), and the segments
// beyond are dropped and counted; what was kept is delivered intact.
func TestOutOfOrderMemoryBounded(t *testing.T) {
	e, p, ep := toEstablishedSACK(t)
	const buf = 16 << 10
	if err := ep.SetSockOpt(tcpip.ReceiveBufferSizeOption(buf)); err != nil {
		t.Fatal(err)
	}
	base := p.nxt
	data := make([]byte, buf/2)
	for i := range data {
		data[i] = byte(i)
	}
	sent := 0
	for off := 2; off < len(data); off += 2 { // a hole of one byte before each
		p.send(segOpts{flags: ACK, seq: sv(base.Add(seqnum.Size(off))), data: data[off : off+1]})
		p.e.pump()
		sent++
	}
	e.sn.take()
	drops := counter(e.a, "TCP.ReceiveBufferDrops")
	if drops == 0 {
		t.Fatal("no out-of-order segment dropped: the memory is not accounted")
	}
	kept := sent - int(drops)
	if max := buf / 512; kept > max {
		t.Fatalf("%d one-byte runs kept, want at most %d", kept, max)
	}
	t.Logf("%d one-byte runs kept, %d dropped", kept, drops)
	// The peer retransmits everything in order: all of it arrives.
	for off := 0; off < len(data); off += 1000 {
		p.send(segOpts{flags: ACK, seq: sv(base.Add(seqnum.Size(off))), data: data[off:min(off+1000, len(data))]})
		p.e.pump()
		if got := readAll(t, ep); !bytes.Equal(got, data[off:min(off+1000, len(data))]) {
			t.Fatalf("read %d bytes at %d", len(got), off)
		}
	}
}
