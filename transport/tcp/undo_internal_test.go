package tcp

import (
	"testing"
	"time"

	"github.com/ustack-go/ustack/tcpip"
)

// RFC 9438 §4.9: undoing a spurious congestion event restores every
// variable CUBIC keeps, not only cwnd and ssthresh: W_max, K,
// cwnd_prior, W_est and the epoch.
func TestCubicUndoRestoresState(t *testing.T) {
	for _, event := range []string{"loss", "rto"} {
		c := newTestCubic()
		cubicInCA(c, 100)
		for range 50 {
			c.OnAck(cubicTestMSS, int(c.cwnd), 100*time.Millisecond)
		}
		before := *c
		c.saveUndo()
		switch event {
		case "loss":
			c.OnLoss(c.Cwnd())
			c.OnRecoveryExit(c.Ssthresh())
		case "rto":
			c.OnRTO(c.Cwnd())
		}
		if c.wMax == before.wMax && c.cwnd == before.cwnd {
			t.Fatalf("%s: nothing changed", event)
		}
		c.undo(0)
		if c.cwnd != before.cwnd || c.ssthresh != before.ssthresh || c.wMax != before.wMax ||
			c.k != before.k || c.cwndPrior != before.cwndPrior || c.wEst != before.wEst ||
			c.t != before.t || c.epoch != before.epoch || c.afterRTO != before.afterRTO {
			t.Fatalf("%s: after undo %+v, before %+v", event, *c, before)
		}
		// The cubic function goes on from where it was.
		c.OnAck(cubicTestMSS, int(c.cwnd), 100*time.Millisecond)
		if c.cwnd < before.cwnd {
			t.Fatalf("%s: cwnd fell after undo", event)
		}
	}
}

// RFC 4015 §3's bound after a spurious timeout: cwnd comes back at most
// to the bound, ssthresh whole; never below the current values.
func TestUndoBound(t *testing.T) {
	r := NewNewReno(1000).(*newReno)
	r.cwnd, r.ssthresh = 40000, 30000
	r.saveUndo()
	r.OnRTO(40000)
	r.undo(12000)
	if r.cwnd != 12000 || r.ssthresh != 30000 {
		t.Fatalf("newreno: cwnd %d ssthresh %d", r.cwnd, r.ssthresh)
	}
	r.cwnd = 50000
	r.undo(12000)
	if r.cwnd != 50000 {
		t.Fatalf("newreno: undo lowered cwnd to %d", r.cwnd)
	}
	c := newTestCubic()
	cubicInCA(c, 40)
	c.saveUndo()
	w, ss := c.Cwnd(), c.Ssthresh()
	c.OnRTO(w)
	c.undo(12 * cubicTestMSS)
	if c.Cwnd() != 12*cubicTestMSS || c.Ssthresh() != ss {
		t.Fatalf("cubic: cwnd %d ssthresh %d, want %d %d", c.Cwnd(), c.Ssthresh(), 12*cubicTestMSS, ss)
	}
	// Nothing saved: nothing happens.
	d := newTestCubic()
	d.cwnd = 5 * d.mss
	d.undo(0)
	if d.Cwnd() != 5*cubicTestMSS {
		t.Fatalf("cubic without a saved state: cwnd %d", d.Cwnd())
	}
}

// RFC 3708 with overlapping episodes: a second recovery that starts
// before the first one's D-SACKs are in (its latest retransmission not a
// round trip old) joins it, so that undoing restores the window from
// before the first; one that starts later is an episode of its own.
func TestUndoMergesOverlappingEpisodes(t *testing.T) {
	e := &endpoint{p: &protocol{stats: &tcpip.TCPStats{}}, sndMSS: 1000, sackOK: true,
		now: tcpip.MonotonicTime{}.Add(time.Second)}
	e.recoveryLocked()
	r := NewNewReno(1000).(*newReno)
	e.cc = r
	r.cwnd = 20000
	e.sndUna, e.sndMax = 0, 10000
	// Episode 1: a retransmission of the first segment, new data, then
	// one of the sixth.
	e.undoStartEpisodeLocked()
	e.inRecovery = true
	e.cc.OnLoss(10000)
	e.undoNoteRxtLocked(0, 1000)
	e.sndMax = 15000
	e.undoNoteRxtLocked(5000, 1000)
	e.inRecovery, e.sndUna = false, 10000 // recovery point reached
	e.cc.OnRecoveryExit(5000)
	// Episode 2 starts before the ACK of 15000.
	e.undoStartEpisodeLocked()
	e.inRecovery = true
	e.cc.OnLoss(5000)
	e.undoNoteRxtLocked(10000, 1000)
	e.sackDSACKLocked(0, 1000)
	e.sackDSACKLocked(5000, 6000)
	e.inRecovery, e.sndUna = false, 15000
	e.cc.OnRecoveryExit(3000)
	e.sackMaybeUndoLocked()
	if r.ssthresh >= 1<<29 {
		t.Fatal("undone before every retransmission was D-SACKed")
	}
	e.sackDSACKLocked(10000, 11000)
	if r.ssthresh < 1<<29 || r.cwnd != 20000 {
		t.Fatalf("after the D-SACKs: cwnd %d ssthresh %d, want 20000 and the initial ssthresh", r.cwnd, r.ssthresh)
	}
	if got := e.p.stats.SpuriousRecovery.Load(); got != 1 {
		t.Fatalf("SpuriousRecovery = %d", got)
	}
	// Episode 3, then 4 after the ACK of everything episode 3 sent
	// before its retransmission: separate.
	e.undoStartEpisodeLocked()
	e.inRecovery = true
	e.cc.OnLoss(5000)
	e.undoNoteRxtLocked(15000, 1000)
	e.inRecovery, e.sndUna = false, 15000
	e.cc.OnRecoveryExit(3000)
	reduced := r.ssthresh
	e.sndMax = 20000
	e.sndUna = 16000 // the ACK of SND.MAX at the retransmission (15000) is in
	e.undoStartEpisodeLocked()
	if r.undoSsthresh != reduced {
		t.Fatalf("episode 4 saved ssthresh %d, want its own start's %d", r.undoSsthresh, reduced)
	}
}
