package tcp_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/internal/testnet"
)

// countingClock is a ManualClock that counts the reads of its monotonic
// time and the arming of its timers.
type countingClock struct {
	*tcpip.ManualClock
	reads atomic.Int64
	arms  atomic.Int64 // AfterFunc and Timer.Reset calls
}

// countingTimer counts the Reset calls of a timer.
type countingTimer struct {
	tcpip.Timer
	c *countingClock
}

func (t countingTimer) Reset(d time.Duration) bool {
	t.c.arms.Add(1)
	return t.Timer.Reset(d)
}

func (c *countingClock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	c.arms.Add(1)
	return countingTimer{c.ManualClock.AfterFunc(d, f), c}
}

func (c *countingClock) NowMonotonic() tcpip.MonotonicTime {
	c.reads.Add(1)
	return c.ManualClock.NowMonotonic()
}

// maxClockReadsPerSegment bounds the clock reads of both stacks per data
// segment of a bulk transfer: the sender's segment and its share of the
// receiver's ACKs. TCP reads the clock once per locked operation (the
// endpoint's nowLocked); before, it read it 5 to 8 times per segment, and
// runtime.nanotime was a tenth of a bulk transfer's CPU.
const maxClockReadsPerSegment = 2.5

// maxTimerArmsPerSegment bounds the timer arming (AfterFunc, Reset) of
// both stacks per data segment: an ACK of new data moves the RTO later
// (RFC 6298 §5.3), which leaves the armed timer as it is (armLocked).
const maxTimerArmsPerSegment = 0.1

// TestClockReadsPerSegment counts the clock reads and timer arming of a
// 1 MiB transfer between two stacks (TCP and what the stack and IPv4 do)
// and fails above maxClockReadsPerSegment or maxTimerArmsPerSegment per
// data segment.
func TestClockReadsPerSegment(t *testing.T) {
	testnet.CheckBuffers(t)
	clock := &countingClock{ManualClock: tcpip.NewManualClock()}
	hub := testnet.NewHub(clock.ManualClock)
	t.Cleanup(hub.Close)
	e := &env{t: t, hub: hub, clock: clock.ManualClock, sn: &sniffer{}}
	opts := stackOpts()
	opts.Clock = clock
	e.a = hub.NewStack(t, opts)
	e.linkA = addNIC(t, hub, e.a, addrA)
	e.b = hub.NewStack(t, opts)
	e.linkB = addNIC(t, hub, e.b, addrB)
	cli, srv, _ := e.connectPair()

	const total = 1 << 20
	data := make([]byte, 64<<10)
	segs0 := counter(e.a, "TCP.SegmentsSent")
	reads0, arms0 := clock.reads.Load(), clock.arms.Load()
	got := 0
	for sent := 0; got < total; {
		if sent < total {
			n, err := cli.Write(data, tcpip.WriteOptions{})
			if err != nil && n == 0 && got == 0 && sent == 0 {
				t.Fatalf("Write: %v", err)
			}
			sent += n
		}
		e.pump()
		got += len(readAll(t, srv))
		e.pump()
	}
	reads, arms := clock.reads.Load()-reads0, clock.arms.Load()-arms0
	segs := counter(e.a, "TCP.SegmentsSent") - segs0
	if segs < total/1500 {
		t.Fatalf("%d segments sent for %d bytes", segs, total)
	}
	per := float64(reads) / float64(segs)
	t.Logf("%d clock reads for %d segments sent by the client: %.2f per segment", reads, segs, per)
	if per > maxClockReadsPerSegment {
		t.Errorf("%.2f clock reads per segment, want at most %v", per, maxClockReadsPerSegment)
	}
	perArm := float64(arms) / float64(segs)
	t.Logf("%d timers armed for %d segments: %.3f per segment", arms, segs, perArm)
	if perArm > maxTimerArmsPerSegment {
		t.Errorf("%.3f timers armed per segment, want at most %v", perArm, maxTimerArmsPerSegment)
	}
}
