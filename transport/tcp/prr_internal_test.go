package tcp

import (
	"testing"

	"github.com/ustack-go/ustack/seqnum"
)

// prrEndpoint returns an endpoint with SACK, MSS 1000 and n segments of
// records from 0, NewReno's ssthresh set by a loss with all n in flight,
// and PRR started as on entering recovery.
func prrEndpoint(n int) *endpoint {
	e := &endpoint{sndMSS: 1000, sackOK: true, sndUna: 0, sndMax: seqnum.Value(n * 1000)}
	e.recoveryLocked()
	e.cc = NewNewReno(1000)
	for i := range n {
		e.rack.segs = append(e.rack.segs, txSeg{start: seqnum.Value(i * 1000), end: seqnum.Value(i*1000 + 1000)})
	}
	e.cc.OnLoss(n * 1000)
	e.inRecovery = true
	e.prr.ackDelivered = 0
	e.prrStartLocked()
	return e
}

// prrSend plays the sender's part of one ACK: it sends what the window
// allows (as new data, a record each) and returns the segments sent.
func prrSend(e *endpoint) int {
	w := e.prrWindowLocked()
	sent := 0
	for w-e.sackPipeLocked() >= e.sndMSS {
		e.rackOnSendLocked(e.sndMax, 1000, false, zeroTime)
		e.sndMax = e.sndMax.Add(1000)
		sent++
	}
	return sent
}

// deliver marks the i-th record delivered (SACKed) and feeds PRR an ACK
// of it.
func prrDeliver(e *endpoint, i int, newLoss bool) {
	e.rack.segs[i].flags = segDelivered
	e.prrOnAckLocked(1000)
	if newLoss {
		e.prr.safe = false
	}
}

// RFC 6937 §3 and its example: 20 segments in flight, the first lost,
// ssthresh = 10 segments (FlightSize/2). While pipe > ssthresh PRR sends
// one segment for every two delivered (sndcnt = ⌈prr_delivered ·
// ssthresh / RecoverFS⌉ − prr_out); once pipe reaches ssthresh it
// sends one per ACK (the reduction bound), so the recovery ends with
// pipe = ssthresh.
func TestPRRProportional(t *testing.T) {
	e := prrEndpoint(20)
	if got := e.cc.Ssthresh(); got != 10000 {
		t.Fatalf("ssthresh %d", got)
	}
	// The fast retransmit: the first segment, lost.
	e.rack.segs[0].flags = segLost
	if got := prrSend(e); got != 1 {
		// The forced first transmission (the test sends new data
		// in its place: only the count matters here).
		t.Fatalf("entry: %d sent", got)
	}
	var pattern []int
	for i := 1; i < 20; i++ {
		prrDeliver(e, i, false)
		pattern = append(pattern, prrSend(e))
	}
	// ACKs of segments 1..19, the k-th with prr_delivered = k
	// segments: while pipe > ssthresh, sndcnt = ⌈k/2⌉ − prr_out (in
	// segments), one segment at every second ACK from the 4th (the
	// fast retransmit already counts in prr_out). pipe after the k-th
	// ACK is 19 − k originals + what was sent; it falls to ssthresh at
	// the 16th, from which the reduction bound sends one per ACK.
	want := []int{0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1}
	for i := range want {
		if pattern[i] != want[i] {
			t.Fatalf("segments sent per ACK %v, want %v", pattern, want)
		}
	}
	if got := e.sackPipeLocked(); got != e.cc.Ssthresh() {
		t.Fatalf("pipe at the end %d, want ssthresh %d", got, e.cc.Ssthresh())
	}
	if e.prr.out != 1000+sum(pattern)*1000 {
		t.Fatalf("prr_out %d", e.prr.out)
	}
}

func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}

// RFC 6937 §3's reduction bound: after many losses pipe falls below
// ssthresh. An ACK that marks new losses gets PRR-CRB, no more than
// delivered since the start of the recovery; any other lets PRR-SSRB
// send one segment more than delivered (slow start back toward
// ssthresh).
func TestPRRReductionBound(t *testing.T) {
	e := prrEndpoint(20)
	// Twelve lost: pipe = 8 segments, below ssthresh.
	for i := range 12 {
		e.rack.segs[i].flags = segLost
	}
	if got := prrSend(e); got != 1 {
		t.Fatalf("entry: %d sent", got)
	}
	// SACKs of three more, each marking a new loss (CRB): one
	// segment per segment delivered (prr_delivered − prr_out), the
	// first already sent ahead by the fast retransmit.
	for i, want := range []int{0, 1, 1, 1} {
		prrDeliver(e, 12+i, true)
		if got := prrSend(e); got != want {
			t.Fatalf("CRB: ACK of %d sent %d, want %d", 12+i, got, want)
		}
	}
	// ACKs that mark no new loss: SSRB sends two per segment
	// delivered until pipe reaches ssthresh.
	pipe0 := e.sackPipeLocked()
	sent := 0
	for i := 16; i < 20; i++ {
		prrDeliver(e, i, false)
		n := prrSend(e)
		sent += n
		if p := e.sackPipeLocked(); p < e.cc.Ssthresh() && n != 2 {
			t.Fatalf("SSRB: ACK of %d sent %d (pipe %d)", i, n, p)
		}
	}
	if got := e.sackPipeLocked(); got > e.cc.Ssthresh() || got <= pipe0 {
		t.Fatalf("pipe %d after SSRB (from %d), ssthresh %d", got, pipe0, e.cc.Ssthresh())
	}
	if sent == 0 {
		t.Fatal("SSRB sent nothing")
	}
}
