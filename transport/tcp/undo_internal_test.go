package tcp

import (
	"testing"
	"time"
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
