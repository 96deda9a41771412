package rcvq_test

import (
	"net/netip"
	"testing"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/transport/internal/rcvq"
)

func pkt(n int) *buffer.Packet {
	return buffer.NewPacketFromBytes(0, make([]byte, n))
}

// The queue is FIFO across ring growth and wrap-around, charges each
// packet Charge, and admits while below its limit.
func TestQueueOrderAndLimit(t *testing.T) {
	buffer.SetCounting(true)
	before := buffer.ReadStats()
	var q rcvq.Queue
	const limit = 100 * rcvq.Overhead
	next, popped := 0, 0
	for round := range 50 {
		for range round % 7 {
			p := pkt(next % 100)
			if !q.Push(rcvq.Entry{Pkt: p, SrcPort: uint16(next)}, limit) {
				t.Fatalf("Push refused at %d bytes", q.Used())
			}
			next++
		}
		for range round % 5 {
			e, ok := q.Pop()
			if !ok {
				break
			}
			if int(e.SrcPort) != popped {
				t.Fatalf("popped %d, want %d", e.SrcPort, popped)
			}
			popped++
			e.Pkt.Release()
		}
		if q.Len() != next-popped {
			t.Fatalf("Len = %d, want %d", q.Len(), next-popped)
		}
		if f := q.Front(); f != nil && int(f.SrcPort) != popped {
			t.Fatalf("Front = %d, want %d", f.SrcPort, popped)
		}
	}
	q.Clear()
	if q.Len() != 0 || q.Used() != 0 {
		t.Fatalf("after Clear: Len %d, Used %d", q.Len(), q.Used())
	}

	// The limit: admitted while below it, so an empty queue takes a
	// packet of any size.
	big := pkt(10000)
	if !q.Push(rcvq.Entry{Pkt: big}, 1) {
		t.Fatal("empty queue refused a packet")
	}
	p := pkt(1)
	if q.Push(rcvq.Entry{Pkt: p}, 1) {
		t.Fatal("full queue took a packet")
	}
	p.Release()
	if q.Used() != rcvq.Charge(big) {
		t.Fatalf("Used = %d, want %d", q.Used(), rcvq.Charge(big))
	}
	q.Clear()
	after := buffer.ReadStats()
	if after.PacketsInUse != before.PacketsInUse || after.ChunksInUse != before.ChunksInUse {
		t.Fatalf("leaked: %+v → %+v", before, after)
	}
}

// Once its ring is grown, pushing and popping allocate nothing.
func TestQueueAllocs(t *testing.T) {
	var q rcvq.Queue
	p := pkt(10)
	defer p.Release()
	e := rcvq.Entry{Pkt: p, NIC: 1, Src: testAddr}
	for range 4 {
		q.Push(e, 1<<20)
	}
	for range 4 {
		q.Pop()
	}
	n := testing.AllocsPerRun(100, func() {
		q.Push(e, 1<<20)
		q.Push(e, 1<<20)
		q.Pop()
		q.Pop()
	})
	if n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

var testAddr = netip.MustParseAddr("192.0.2.1")
