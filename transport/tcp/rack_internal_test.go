package tcp

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/seqnum"
	"github.com/ustack-go/ustack/tcpip"
)

// send records n bytes of new data at SND.MAX at t.
func rackSendNew(e *endpoint, n int, t tcpip.MonotonicTime) {
	e.rackOnSendLocked(e.sndMax, n, false, t)
	e.sndMax = e.sndMax.Add(seqnum.Size(n))
}

// The records cover [SND.UNA, SND.MAX): a retransmission of part of a
// segment splits its record, the part retransmitted taking the new
// transmit time; the cumulative ACK prunes them; their number is bounded.
func TestRACKRecords(t *testing.T) {
	e := &endpoint{sndMSS: 1000, sackOK: true}
	e.recoveryLocked()
	t0 := tcpip.MonotonicFromNanoseconds(1e9)
	for range 3 {
		rackSendNew(e, 1000, t0)
	}
	t1 := t0.Add(time.Millisecond)
	e.rackOnSendLocked(1500, 1000, false, t1) // 1500..2500
	want := []txSeg{
		{start: 0, end: 1000, at: t0},
		{start: 1000, end: 1500, at: t0},
		{start: 1500, end: 2000, at: t1, flags: segRxt | segEverRxt},
		{start: 2000, end: 2500, at: t1, flags: segRxt | segEverRxt},
		{start: 2500, end: 3000, at: t0},
	}
	got := e.rackSegsLocked()
	if len(got) != len(want) {
		t.Fatalf("records %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	e.sndUna = 1700
	e.rackPruneLocked()
	if got := e.rackSegsLocked(); len(got) != 3 || got[0].start != 1700 {
		t.Fatalf("after the ACK of 1700: %+v", got)
	}
	// The record array is reused: a long transfer in steady state
	// does not grow it.
	for range 5 * rackMaxRecords {
		rackSendNew(e, 1, t1)
		e.sndUna = e.sndMax.Sub(1)
		e.rackPruneLocked()
	}
	if c := cap(e.rack.segs); c > 64 {
		t.Fatalf("record array of %d", c)
	}
	// Tiny segments beyond rackMaxRecords extend the last record.
	for i := range rackMaxRecords + 100 {
		rackSendNew(e, 1, t1.Add(time.Duration(i)))
	}
	segs := e.rackSegsLocked()
	if len(segs) != rackMaxRecords {
		t.Fatalf("%d records", len(segs))
	}
	if segs[0].start != e.sndUna || segs[len(segs)-1].end != e.sndMax {
		t.Fatalf("records cover [%d, %d), want [%d, %d)", segs[0].start, segs[len(segs)-1].end, e.sndUna, e.sndMax)
	}
}
