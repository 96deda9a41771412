package tcp

import (
	"testing"

	"github.com/ustack-go/ustack/seqnum"
)

// RFC 6675 §4 IsLost() and SetPipe() on a hand-made scoreboard: ten
// segments of 1000 bytes from 0, the 3rd and 5th missing.
func TestSACKPipeArithmetic(t *testing.T) {
	e := &endpoint{sndMSS: 1000, sndUna: 2000, sndMax: 10000}
	e.recoveryLocked()
	e.highRxt = e.sndUna
	sack := func(rs ...seqRange) {
		e.sacked = e.sacked[:0]
		for _, r := range rs {
			e.sackAddLocked(r.start, r.end)
		}
	}
	cases := []struct {
		name    string
		sacked  []seqRange
		highRxt seqnum.Value
		lost    []seqnum.Value // IsLost true
		notLost []seqnum.Value
		pipe    int
	}{
		// One SACKed segment: nothing lost, everything else in flight.
		{"one", []seqRange{{3000, 4000}}, 2000, nil, []seqnum.Value{2000, 4000}, 7000},
		// Two segments (2000 bytes, two ranges): still not lost, as
		// neither DupThresh ranges nor more than 2·SMSS lie above.
		{"two", []seqRange{{3000, 4000}, {5000, 6000}}, 2000, nil, []seqnum.Value{2000, 4000}, 6000},
		// Three ranges above 2000: it is lost; 4000 has two above.
		{"three ranges", []seqRange{{3000, 4000}, {5000, 6000}, {7000, 8000}}, 2000,
			[]seqnum.Value{2000, 2999}, []seqnum.Value{4000, 6000, 8000}, 4000},
		// 3000 contiguous bytes (more than 2·SMSS) above 4000 make 2000
		// and 4000 lost.
		{"bytes", []seqRange{{3000, 4000}, {5000, 8000}}, 2000,
			[]seqnum.Value{2000, 4000}, []seqnum.Value{3000, 8000, 9999}, 2000},
		// The 3rd segment retransmitted: counted once more (§4 (b)).
		{"retransmitted", []seqRange{{3000, 4000}, {5000, 8000}}, 3000,
			[]seqnum.Value{2000, 4000}, nil, 3000},
		// Both retransmitted.
		{"both", []seqRange{{3000, 4000}, {5000, 8000}}, 5000, nil, nil, 4000},
	}
	for _, c := range cases {
		sack(c.sacked...)
		e.highRxt = c.highRxt
		for _, s := range c.lost {
			if !e.sackIsLostLocked(s) {
				t.Errorf("%s: IsLost(%d) = false", c.name, s)
			}
		}
		for _, s := range c.notLost {
			if e.sackIsLostLocked(s) {
				t.Errorf("%s: IsLost(%d) = true", c.name, s)
			}
		}
		if got := e.sackPipeLocked(); got != c.pipe {
			t.Errorf("%s: pipe = %d, want %d", c.name, got, c.pipe)
		}
	}
}

// The scoreboard merges, and holes are found between ranges.
func TestSACKScoreboardHoles(t *testing.T) {
	e := &endpoint{sndMSS: 1000, sndUna: 0, sndMax: 10000}
	e.recoveryLocked()
	e.sackAddLocked(5000, 6000)
	e.sackAddLocked(3000, 4000)
	e.sackAddLocked(4000, 5000)
	e.sackAddLocked(8000, 9000)
	if len(e.sacked) != 2 || e.sacked[0] != (seqRange{3000, 6000}) || e.sacked[1] != (seqRange{8000, 9000}) {
		t.Fatalf("scoreboard %v", e.sacked)
	}
	if got := e.sackedBytesLocked(0, 10000); got != 4000 {
		t.Fatalf("SACKed bytes %d", got)
	}
	for _, c := range []struct {
		from, limit, seq seqnum.Value
		n                int
		ok               bool
	}{
		{0, 9000, 0, 3000, true},
		{3500, 9000, 6000, 2000, true},
		{8000, 9000, 0, 0, false},
		{6500, 7000, 6500, 500, true},
	} {
		seq, n, ok := e.sackHoleLocked(c.from, c.limit)
		if seq != c.seq || n != c.n || ok != c.ok {
			t.Errorf("hole(%d, %d) = %d, %d, %v; want %d, %d, %v", c.from, c.limit, seq, n, ok, c.seq, c.n, c.ok)
		}
	}
}
