package impair_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/header"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/link/channel"
	"github.com/ustack-go/ustack/link/impair"
	"github.com/ustack-go/ustack/link/internal/linktest"
	"github.com/ustack-go/ustack/link/pipe"
	"github.com/ustack-go/ustack/tcpip"
)

// numbered returns a packet of size bytes whose first four bytes are i.
func numbered(i, size int) *buffer.Packet {
	b := make([]byte, max(size, 4))
	binary.BigEndian.PutUint32(b, uint32(i))
	for j := 4; j < len(b); j++ {
		b[j] = byte(i + j)
	}
	return buffer.NewPacketFromBytes(0, b)
}

func number(p *buffer.Packet) int {
	b := p.AppendTo(nil)
	return int(binary.BigEndian.Uint32(b))
}

// setup wraps a channel with an impair endpoint on a manual clock, with a
// recorder attached.
func setup(t *testing.T, cfg impair.Config) (*impair.Endpoint, *channel.Endpoint, *linktest.Recorder, *tcpip.ManualClock) {
	t.Helper()
	clock := tcpip.NewManualClock()
	ch := channel.New(channel.Config{QueueSize: 100000})
	e := impair.New(ch, cfg, clock)
	r := linktest.NewRecorder()
	e.Attach(r)
	t.Cleanup(func() {
		e.Close()
		linktest.ReleaseAll(r.Take())
		if n := clock.Pending(); n != 0 {
			t.Errorf("%d timers still armed after Close", n)
		}
	})
	return e, ch, r, clock
}

// readAll takes every packet the channel holds and returns their numbers.
func readAll(ch *channel.Endpoint) []int {
	var out []int
	for {
		p, ok := ch.Read()
		if !ok {
			return out
		}
		out = append(out, number(p))
		p.Release()
	}
}

func write(t *testing.T, e *impair.Endpoint, pkts ...*buffer.Packet) {
	t.Helper()
	if _, err := e.WritePackets(pkts); err != nil {
		t.Fatal(err)
	}
}

// With nothing configured, packets go straight through, and the inner
// link's refusal reaches the caller.
func TestPassThrough(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	clock := tcpip.NewManualClock()
	ch := channel.New(channel.Config{QueueSize: 2, LinkAddress: tcpip.BroadcastLinkAddress, MTU: 1234})
	e := impair.New(ch, impair.Config{}, clock)
	defer e.Close()
	if e.MTU() != 1234 || e.LinkAddress() != tcpip.BroadcastLinkAddress || e.MaxHeaderLength() != 0 || e.Capabilities() != 0 || e.Inner() != ch {
		t.Error("properties not the inner link's")
	}
	r := linktest.NewRecorder()
	e.Attach(r)
	n, err := e.WritePackets([]*buffer.Packet{numbered(1, 10), numbered(2, 10), numbered(3, 10)})
	if n != 2 || !errors.Is(err, tcpip.ErrWouldBlock) {
		t.Errorf("WritePackets = %d, %v; want 2, ErrWouldBlock", n, err)
	}
	if got := readAll(ch); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("written %v", got)
	}
	ch.InjectInbound(tcpip.IPv6ProtocolNumber, numbered(7, 10))
	got := r.Take()
	if len(got) != 1 || got[0].Proto != tcpip.IPv6ProtocolNumber || number(got[0].Pkt) != 7 {
		t.Errorf("delivered %+v", got)
	}
	linktest.ReleaseAll(got)
	s := e.Stats()
	if s.Tx.Packets.Load() != 3 || s.Tx.Delivered.Load() != 2 || s.Tx.Errors.Load() != 1 || s.Rx.Delivered.Load() != 1 || s.Tx.Delayed.Load() != 0 {
		t.Errorf("stats: tx packets %d delivered %d errors %d, rx delivered %d", s.Tx.Packets.Load(), s.Tx.Delivered.Load(), s.Tx.Errors.Load(), s.Rx.Delivered.Load())
	}
}

func TestLoss(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e, ch, r, _ := setup(t, impair.Config{Seed: 1, Tx: impair.Direction{Loss: 0.25}, Rx: impair.Direction{Loss: 1}})
	const n = 4000
	for i := range n {
		write(t, e, numbered(i, 20))
		ch.InjectInbound(0, numbered(i, 20))
	}
	got := readAll(ch)
	s := e.Stats()
	lost := int(s.Tx.Lost.Load())
	if len(got)+lost != n || lost < n/5 || lost > n*3/10 {
		t.Errorf("%d delivered, %d lost of %d at 25%%", len(got), lost, n)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %v", got[i-1:i+1])
		}
	}
	if r.Len() != 0 || s.Rx.Lost.Load() != n {
		t.Errorf("Rx loss 1: %d delivered, %d lost", r.Len(), s.Rx.Lost.Load())
	}
}

// Delayed packets come out when the clock reaches their time, in order
// despite jitter, outbound into the inner link and inbound to the
// dispatcher.
func TestDelayAndJitter(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	dir := impair.Direction{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}
	e, ch, r, clock := setup(t, impair.Config{Seed: 2, Tx: dir, Rx: dir})
	for i := range 100 {
		write(t, e, numbered(i, 30))
		ch.InjectInbound(0, numbered(i, 30))
		clock.Advance(100 * time.Microsecond)
	}
	// The first packet left at 0 and is due between 10 and 15 ms.
	clock.AdvanceTo(clock.NowMonotonic().Add(10*time.Millisecond - 100*100*time.Microsecond - time.Nanosecond))
	if ch.Len() != 0 || r.Len() != 0 {
		t.Fatalf("delivered before the delay: %d out, %d in", ch.Len(), r.Len())
	}
	clock.Advance(20 * time.Millisecond)
	out := readAll(ch)
	in := r.Take()
	defer linktest.ReleaseAll(in)
	if len(out) != 100 || len(in) != 100 {
		t.Fatalf("%d out, %d in", len(out), len(in))
	}
	for i := range 100 {
		if out[i] != i || number(in[i].Pkt) != i {
			t.Fatalf("order broken at %d: out %d, in %d", i, out[i], number(in[i].Pkt))
		}
	}
	if got := e.Stats().Tx.Delayed.Load(); got != 100 {
		t.Errorf("Delayed = %d", got)
	}
}

func TestReorderAndDuplicate(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e, ch, _, clock := setup(t, impair.Config{Seed: 3, Tx: impair.Direction{
		Delay: time.Millisecond, Reorder: 0.1, ReorderDelay: 5 * time.Millisecond, Duplicate: 0.1,
	}})
	const n = 1000
	for i := range n {
		write(t, e, numbered(i, 30))
		clock.Advance(100 * time.Microsecond)
	}
	clock.Advance(time.Second)
	out := readAll(ch)
	s := e.Stats()
	dups, reord := int(s.Tx.Duplicated.Load()), int(s.Tx.Reordered.Load())
	if len(out) != n+dups || dups < n/20 || reord < n/20 {
		t.Fatalf("%d out of %d with %d duplicates, %d reordered", len(out), n, dups, reord)
	}
	seen := make(map[int]int)
	inversions := 0
	for i, x := range out {
		seen[x]++
		if i > 0 && x < out[i-1] {
			inversions++
		}
	}
	for i := range n {
		if seen[i] < 1 || seen[i] > 2 {
			t.Fatalf("packet %d seen %d times", i, seen[i])
		}
	}
	if inversions == 0 {
		t.Error("nothing reordered")
	}
}

// ipv4UDPDetected reports whether the frame, a corrupted copy of the
// golden ipv4_udp, fails a check the receiving stack makes: the IPv4
// header checksum (RFC 791 §3.1), the lengths, or the UDP checksum
// (RFC 768).
func ipv4UDPDetected(f []byte, src, dst netip.Addr) bool {
	ip, err := header.ParseIPv4(f[14:])
	if err != nil || !ip.IsChecksumValid() || len(ip) != len(f)-14 || ip.Protocol() != tcpip.UDPProtocolNumber {
		return true
	}
	udp, err := header.ParseUDP(ip.Payload())
	if err != nil || int(udp.Length()) != len(ip.Payload()) || udp.Checksum() == 0 {
		return true
	}
	return !udp.IsChecksumValid(src, dst)
}

// Corruption flips exactly one bit past CorruptSkip, leaves the sender's
// copy alone, and the checksums catch it.
func TestCorrupt(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e, ch, _, _ := setup(t, impair.Config{Seed: 4, Tx: impair.Direction{Corrupt: 1, CorruptSkip: 14}})
	frame := linktest.Golden(t, "ipv4_udp")
	src, dst := netip.MustParseAddr("10.99.1.1"), netip.MustParseAddr("10.99.1.2")
	if ipv4UDPDetected(frame, src, dst) {
		t.Fatal("the original frame fails the checks")
	}
	positions := map[int]bool{}
	for i := range 300 {
		// Half with the headers in the header area and a shared
		// payload, as the stack sends them.
		var p *buffer.Packet
		var kept buffer.Buffer
		if i%2 == 0 {
			p = buffer.NewPacketFromBytes(0, frame)
		} else {
			var pl buffer.Buffer
			pl.Append(frame[42:])
			kept = pl.Clone()
			p = buffer.NewPacket(42, &pl)
			copy(p.PrependHeader(buffer.NetworkLayer, 42), frame[:42])
		}
		write(t, e, p)
		out, ok := ch.Read()
		if !ok {
			t.Fatal("nothing written")
		}
		got := out.AppendTo(nil)
		out.Release()
		diff := 0
		for j := range got {
			if d := bits.OnesCount8(got[j] ^ frame[j]); d > 0 {
				diff += d
				if j < 14 {
					t.Errorf("byte %d corrupted despite CorruptSkip 14", j)
				}
				positions[j] = true
			}
		}
		if diff != 1 {
			t.Fatalf("%d bits differ, want 1", diff)
		}
		if !ipv4UDPDetected(got, src, dst) {
			t.Errorf("corruption not detected: % x", got)
		}
		if i%2 == 1 {
			if !kept.EqualBytes(frame[42:]) {
				t.Error("the sender's copy of the payload changed")
			}
			kept.Release()
		}
	}
	if len(positions) < 20 {
		t.Errorf("only %d distinct bytes corrupted", len(positions))
	}
	if got := e.Stats().Tx.Corrupted.Load(); got != 300 {
		t.Errorf("Corrupted = %d", got)
	}
}

// The rate limiter spaces packets by their transmission time after a
// burst, and drops what overflows its queue.
func TestRate(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	// 8000 bit/s: a 100-byte packet takes 100 ms. A bucket of 300 bytes
	// lets three go at once; a queue of 4 holds four more.
	e, ch, _, clock := setup(t, impair.Config{Tx: impair.Direction{Rate: 8000, Burst: 300, QueueLimit: 4}})
	for i := range 10 {
		write(t, e, numbered(i, 100))
	}
	if got := readAll(ch); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("at once: %v", got)
	}
	for i := 3; i < 7; i++ {
		clock.Advance(100*time.Millisecond - time.Nanosecond)
		if ch.Len() != 0 {
			t.Fatalf("packet %d early", i)
		}
		clock.Advance(time.Nanosecond)
		if got := readAll(ch); len(got) != 1 || got[0] != i {
			t.Fatalf("at %v: %v, want [%d]", clock.NowMonotonic(), got, i)
		}
	}
	s := e.Stats()
	if s.Tx.RateDropped.Load() != 3 || s.Tx.RateDelayed.Load() != 4 {
		t.Errorf("RateDropped %d, RateDelayed %d; want 3, 4", s.Tx.RateDropped.Load(), s.Tx.RateDelayed.Load())
	}
	// Idle for a second: the bucket is full again.
	clock.Advance(time.Second)
	for i := range 4 {
		write(t, e, numbered(100+i, 100))
	}
	if got := readAll(ch); len(got) != 3 {
		t.Errorf("after idling: %v at once, want 3", got)
	}
	// Without a burst, packets leave one transmission time apart.
	e2, ch2, _, clock2 := setup(t, impair.Config{Tx: impair.Direction{Rate: 1e6}})
	for i := range 5 {
		write(t, e2, numbered(i, 1250)) // 10 ms each
	}
	for want := 1; want <= 5; want++ {
		if got := len(readAll(ch2)); got != 1 {
			t.Fatalf("step %d: %d packets", want, got)
		}
		clock2.Advance(10 * time.Millisecond)
	}
}

// trace runs a fixed workload through an impaired link with every
// impairment on and returns what came out, when, byte for byte.
func trace(t *testing.T, seed uint64) []string {
	dir := impair.Direction{
		Loss: 0.05, Duplicate: 0.05, Reorder: 0.1, ReorderDelay: 3 * time.Millisecond,
		Delay: 2 * time.Millisecond, Jitter: time.Millisecond, Corrupt: 0.05,
		Rate: 100e6, Burst: 4000, QueueLimit: 30,
	}
	rx := dir
	rx.Rate = 5e6
	e, ch, r, clock := setup(t, impair.Config{Seed: seed, Tx: dir, Rx: rx})
	var out []string
	collect := func() {
		now := clock.NowMonotonic()
		for {
			p, ok := ch.Read()
			if !ok {
				break
			}
			out = append(out, fmt.Sprintf("tx %v %x", now, sha256.Sum256(p.AppendTo(nil))))
			p.Release()
		}
		for _, d := range r.Take() {
			out = append(out, fmt.Sprintf("rx %v %v %x", now, d.Proto, sha256.Sum256(d.Pkt.AppendTo(nil))))
			d.Pkt.Release()
		}
	}
	for i := range 2000 {
		write(t, e, numbered(i, 60+i%1400))
		if i%3 == 0 {
			ch.InjectInbound(tcpip.IPv4ProtocolNumber, numbered(i, 40+i%200))
		}
		clock.Advance(50 * time.Microsecond)
		collect()
	}
	clock.Advance(time.Second)
	collect()
	for name, d := range map[string]*impair.DirectionStats{"tx": &e.Stats().Tx, "rx": &e.Stats().Rx} {
		t.Logf("seed %d %s: packets %d lost %d ratedropped %d ratedelayed %d corrupted %d duplicated %d reordered %d delayed %d delivered %d",
			seed, name, d.Packets.Load(), d.Lost.Load(), d.RateDropped.Load(), d.RateDelayed.Load(), d.Corrupted.Load(),
			d.Duplicated.Load(), d.Reordered.Load(), d.Delayed.Load(), d.Delivered.Load())
		if d.Lost.Load() == 0 || d.RateDelayed.Load() == 0 || d.Corrupted.Load() == 0 || d.Duplicated.Load() == 0 || d.Reordered.Load() == 0 {
			t.Errorf("seed %d %s: an impairment never happened", seed, name)
		}
	}
	return out
}

// Same seed, same input, same clock: the same output, byte for byte and
// nanosecond for nanosecond; another seed differs.
func TestDeterministic(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b, c := trace(t, 42), trace(t, 42), trace(t, 43)
	if len(a) < 1500 {
		t.Fatalf("only %d packets out", len(a))
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("two runs with seed 42 differ")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Error("seeds 42 and 43 give the same output")
	}
}

// Close drops what is delayed, counted, and disarms the timers; delayed
// inbound packets falling due after a detach are dropped and counted.
func TestCloseAndDetach(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	dir := impair.Direction{Delay: 10 * time.Millisecond}
	e, ch, r, clock := setup(t, impair.Config{Tx: dir, Rx: dir})
	for i := range 5 {
		write(t, e, numbered(i, 10))
		ch.InjectInbound(0, numbered(i, 10))
	}
	e.Attach(nil)
	clock.Advance(20 * time.Millisecond)
	s := e.Stats()
	if r.Len() != 0 || s.Rx.Detached.Load() != 5 {
		t.Errorf("after detach: %d delivered, Detached %d", r.Len(), s.Rx.Detached.Load())
	}
	if ch.Drain() != 5 {
		t.Error("outbound packets lost by the detach")
	}
	for i := range 3 {
		write(t, e, numbered(i, 10))
	}
	e.Close()
	if got := s.Tx.Closed.Load(); got != 3 {
		t.Errorf("Tx.Closed = %d, want 3", got)
	}
	if n, err := e.WritePackets([]*buffer.Packet{numbered(9, 10)}); n != 0 || err != tcpip.ErrStackClosed {
		t.Errorf("WritePackets after Close = %d, %v", n, err)
	}
}

// With the real clock, over a pipe: packets are delayed by real time and
// Close leaves nothing running.
func TestRealClock(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	a, b := pipe.New(pipe.Config{L3: true})
	clock := tcpip.NewStdClock()
	e := impair.New(a, impair.Config{Tx: impair.Direction{Delay: 5 * time.Millisecond, Jitter: time.Millisecond}}, clock)
	defer b.Close()
	defer e.Close()
	r := linktest.NewRecorder()
	b.Attach(r)
	e.Attach(linktest.NewRecorder())
	start := clock.NowMonotonic()
	for i := range 20 {
		write(t, e, numbered(0x45000000+i, 40))
	}
	got := r.WaitN(t, 20)
	defer linktest.ReleaseAll(got)
	if d := clock.NowMonotonic().Sub(start); d < 5*time.Millisecond {
		t.Errorf("delivered after %v, want at least 5ms", d)
	}
	for i, d := range got {
		if number(d.Pkt) != 0x45000000+i || d.Proto != tcpip.IPv4ProtocolNumber {
			t.Errorf("packet %d: %x %v", i, number(d.Pkt), d.Proto)
		}
	}
	// Something still pending at Close.
	write(t, e, numbered(0x45000000, 40))
}

func TestDefaultLimit(t *testing.T) {
	leakcheck.Check(t)
	linktest.CheckBuffers(t)
	e, _, _, _ := setup(t, impair.Config{Tx: impair.Direction{Delay: time.Second, Limit: 10}})
	for i := range 15 {
		write(t, e, numbered(i, 10))
	}
	if got := e.Stats().Tx.Overflow.Load(); got != 5 {
		t.Errorf("Overflow = %d, want 5", got)
	}
}
