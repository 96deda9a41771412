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

// payer counts what its packets paid back.
type payer struct{ paid int }

func (o *payer) PacketReleased(c int) { o.paid += c }

// A packet still charged to its sender is charged no more than the sender
// was, and no less than Charge would when the sender was charged more.
func TestChargeCappedBySender(t *testing.T) {
	var q rcvq.Queue
	var o payer
	small := pkt(10)
	small.SetOwner(&o, 100)
	large := pkt(10)
	large.SetOwner(&o, 1<<20)
	plain := pkt(10)
	want := 100 + 2*rcvq.Charge(plain)
	for _, p := range []*buffer.Packet{small, large, plain} {
		if !q.Push(rcvq.Entry{Pkt: p}, 1<<30) {
			t.Fatal("Push refused")
		}
	}
	if q.Used() != want {
		t.Errorf("Used = %d, want %d", q.Used(), want)
	}
	for range 3 {
		e, _ := q.Pop()
		e.Pkt.Release()
	}
	if q.Used() != 0 || o.paid != 100+1<<20 {
		t.Errorf("after popping: Used %d, sender paid %d", q.Used(), o.paid)
	}
}

// TakeAll leaves the queue empty and usable and hands over every entry in
// order, with its charge.
func TestTakeAll(t *testing.T) {
	var q rcvq.Queue
	for i := range 3 {
		q.Push(rcvq.Entry{Pkt: pkt(i), SrcPort: uint16(i)}, 1<<20)
	}
	used := q.Used()
	taken := q.TakeAll()
	if q.Len() != 0 || q.Used() != 0 || q.Front() != nil {
		t.Fatalf("after TakeAll: Len %d Used %d", q.Len(), q.Used())
	}
	if taken.Len() != 3 || taken.Used() != used {
		t.Fatalf("taken: Len %d Used %d, want 3, %d", taken.Len(), taken.Used(), used)
	}
	p := pkt(1)
	if !q.Push(rcvq.Entry{Pkt: p}, 1<<20) {
		t.Fatal("Push after TakeAll refused")
	}
	for i := range 3 {
		e, _ := taken.Pop()
		if e.SrcPort != uint16(i) {
			t.Fatalf("taken entry %d is %d", i, e.SrcPort)
		}
		e.Pkt.Release()
	}
	q.Clear()
}
