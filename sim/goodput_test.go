package sim_test

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/buffer"
	"github.com/ustack-go/ustack/internal/leakcheck"
	"github.com/ustack-go/ustack/sim"
	"github.com/ustack-go/ustack/tcpip"
	"github.com/ustack-go/ustack/transport/tcp"
)

// The goodput table (TestGoodputTable): 64 MiB bulk transfers over one
// simulated path, for every combination of
//
//   - loss: 0, 0.1, 1, 2, 5, 10 and 20 % of the frames, in each direction
//     independently (data and ACKs);
//   - RTT: 1, 20 and 100 ms (half of it each way);
//   - reordering: off, or on: 2 % of the frames held a quarter of the RTT
//     longer than the others (sim.Props.Reorder, ReorderDelay);
//   - congestion control: newreno, cubic (set stack-wide on both hosts);
//   - SACK: on, off (tcp.SACKEnabledOption on both hosts, so that off
//     means plain NewReno recovery, RFC 6582).
//
// The path is 100 Mbit/s each way with a drop-tail queue of one
// bandwidth-delay product (at least goodputMinQueue): the ideal link of
// an RTT is that path without loss or reordering, and every cell is
// compared with the ideal cell of the same RTT, congestion control and
// SACK setting, measured in the same run. The endpoints keep the
// stack's default buffer sizes, so the ideal of a long RTT is whatever
// those allow.
//
// Each cell reports the virtual seconds of the transfer (connect to the
// receiver's end of stream), the goodput, its share of the ideal, the
// sender's retransmitted segments (tcp.Info.Retransmits), retransmission
// timeouts (tcp.Info.RTOs) and the share of the transfer spent in RTO
// backoff (tcp.Info.RTOBackoffTime: from a timeout to the next ACK of
// new data).
//
// The table is committed as testdata/goodput.golden and rewritten with
//
//	go test ./sim -run TestGoodputTable -update -goodput.full
//
// By default the test runs a subset, so that go test ./... stays quick:
// the 20 ms cells (goodputDefaultSubset), or under the race detector,
// where a cell costs several times more, four of them
// (goodputRaceSubset). -goodput.full runs every cell:
//
//	go test ./sim -run TestGoodputTable -goodput.full -count=1
//
// and, with -goodput.full, -run selects cells by name, e.g.
//
//	go test ./sim -goodput.full -count=1 -v \
//		-run 'TestGoodputTable/cells/loss=5%,rtt=1ms,.*,sack=off'

const (
	// goodputSize is the bytes of each transfer.
	goodputSize = 64 << 20
	// goodputBandwidth is the path's bandwidth, each way.
	goodputBandwidth = 100e6
	// goodputMinQueue is the smallest queue: a 1 ms path's BDP (12.5
	// kB) would not hold one window's burst of 9 full frames.
	goodputMinQueue = 64 << 10
	// goodputReorder is the share of frames reordered in the reordering
	// cells, and goodputReorderFrac the fraction of the RTT they are
	// held back.
	goodputReorder     = 0.02
	goodputReorderFrac = 4
	// goodputLimit bounds a transfer's virtual time: generous (20 % loss
	// each way at 100 ms is slow), finite so that a stall fails.
	goodputLimit = 48 * time.Hour
	// goodputTolerance is how far a cell's goodput may drift from the
	// golden table, relatively, unless within goodputFloor in absolute
	// terms: the runs are deterministic, a drift means TCP's behaviour
	// changed; -update records a legitimate change.
	goodputTolerance = 0.25
	goodputFloor     = 0.2e6 // bit/s
	// goodputMaxBackoff is the most of its time a transfer at no more
	// than goodputBackoffLoss loss may spend in RTO backoff, with SACK
	// or without: recovery should repair such loss without the timer.
	goodputMaxBackoff  = 0.10
	goodputBackoffLoss = 0.05
	// goodputGolden is the committed table, relative to the package.
	goodputGolden = "testdata/goodput.golden"
)

var goodputFull = flag.Bool("goodput.full", false, "TestGoodputTable: run every cell of the table, not a subset")

var (
	goodputLosses = []float64{0, 0.001, 0.01, 0.02, 0.05, 0.10, 0.20}
	goodputRTTs   = []time.Duration{time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond}
	goodputCCs    = []string{"newreno", "cubic"}
)

// goodputCell is one configuration of the table.
type goodputCell struct {
	loss    float64
	rtt     time.Duration
	reorder bool
	cc      string
	sack    bool
}

// name is the cell's key in the golden table.
func (c goodputCell) name() string {
	ro, sack := "off", "off"
	if c.reorder {
		ro = "on"
	}
	if c.sack {
		sack = "on"
	}
	return fmt.Sprintf("loss=%g%%,rtt=%dms,reorder=%s,cc=%s,sack=%s",
		c.loss*100, c.rtt.Milliseconds(), ro, c.cc, sack)
}

// ideal is the cell of the ideal link the cell is compared with.
func (c goodputCell) ideal() goodputCell {
	c.loss, c.reorder = 0, false
	return c
}

// seed is the cell's network seed: distinct per cell, fixed across runs.
func (c goodputCell) seed() uint64 {
	s := uint64(c.loss*1e4)<<32 | uint64(c.rtt.Milliseconds())<<8
	if c.reorder {
		s |= 1
	}
	if c.sack {
		s |= 2
	}
	if c.cc == "cubic" {
		s |= 4
	}
	return s + 1
}

// goodputCells returns every cell, in table order.
func goodputCells() []goodputCell {
	var cells []goodputCell
	for _, rtt := range goodputRTTs {
		for _, cc := range goodputCCs {
			for _, sack := range []bool{true, false} {
				for _, reorder := range []bool{false, true} {
					for _, loss := range goodputLosses {
						cells = append(cells, goodputCell{loss: loss, rtt: rtt, reorder: reorder, cc: cc, sack: sack})
					}
				}
			}
		}
	}
	return cells
}

// goodputDefaultSubset is what runs by default without the race
// detector: the 56 cells of the 20 ms path.
func goodputDefaultSubset(c goodputCell) bool { return c.rtt == 20*time.Millisecond }

// goodputRaceSubset is what runs under the race detector (where a cell
// costs 15 to 30 s of CPU): the 20 ms path without reordering, newreno,
// SACK on and off, at 0 and 5 % loss; every property of the table is
// checked on these four cells.
func goodputRaceSubset(c goodputCell) bool {
	return c.rtt == 20*time.Millisecond && !c.reorder && c.cc == "newreno" && (c.loss == 0 || c.loss == 0.05)
}

// goodputRow is what a cell measured.
type goodputRow struct {
	cell        goodputCell
	time        time.Duration
	goodput     float64 // bit/s
	ideal       float64 // share of the ideal cell's goodput, 0 if not run
	retransmits int
	rtos        uint64
	backoff     time.Duration
	wall        time.Duration // CPU-side time the cell took
	err         error         // the transfer failed
}

// backoffShare is the share of the transfer spent in RTO backoff.
func (r goodputRow) backoffShare() float64 {
	if r.time <= 0 {
		return 0
	}
	return float64(r.backoff) / float64(r.time)
}

// TestGoodputTable runs the goodput table (see the constants above), in
// parallel, checks its properties and compares it with the golden table.
func TestGoodputTable(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB transfers")
	}
	leakcheck.Check(t)
	buffer.SetCounting(true)
	before := buffer.ReadStats()

	var cells []goodputCell
	for _, c := range goodputCells() {
		if *goodputFull || (!raceEnabled && goodputDefaultSubset(c)) || goodputRaceSubset(c) {
			cells = append(cells, c)
		}
	}
	rows := make([]goodputRow, len(cells))
	wall := time.Now()
	t.Run("cells", func(t *testing.T) {
		for i, c := range cells {
			t.Run(c.name(), func(t *testing.T) {
				t.Parallel()
				rows[i] = runGoodputCell(c)
				if rows[i].err != nil {
					t.Errorf("seed %d: %v", c.seed(), rows[i].err)
				}
			})
		}
	})
	elapsed := time.Since(wall)
	// Cells not selected by -run did not run.
	rows = slices.DeleteFunc(rows, func(r goodputRow) bool { return r.cell == goodputCell{} })
	after := buffer.ReadStats()
	if after.PacketsInUse != before.PacketsInUse || after.ChunksInUse != before.ChunksInUse {
		t.Errorf("buffers leaked: packets in use %d → %d, chunks in use %d → %d",
			before.PacketsInUse, after.PacketsInUse, before.ChunksInUse, after.ChunksInUse)
	}
	var cpu time.Duration
	byName := make(map[string]*goodputRow, len(rows))
	for i := range rows {
		byName[rows[i].cell.name()] = &rows[i]
		cpu += rows[i].wall
	}
	for i := range rows {
		if id, ok := byName[rows[i].cell.ideal().name()]; ok && id.err == nil && id.goodput > 0 {
			rows[i].ideal = rows[i].goodput / id.goodput
		}
	}
	t.Logf("%d cells in %v of wall time (%v summed over the cells)", len(rows), elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond))
	t.Log("\n" + formatGoodputTable(rows))

	checkGoodputProperties(t, rows)

	if *scenariosUpdate {
		if t.Failed() || len(rows) != len(goodputCells()) {
			t.Fatalf("not rewriting %s: %d of %d cells ran (-goodput.full runs them all), some failed: %v",
				goodputGolden, len(rows), len(goodputCells()), t.Failed())
		}
		if err := os.MkdirAll(filepath.Dir(goodputGolden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goodputGolden, []byte(formatGoodputTable(rows)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	golden, err := readGoodputGolden(goodputGolden)
	if err != nil {
		t.Fatalf("%v (run go test ./sim -run TestGoodputTable -update -goodput.full to make it)", err)
	}
	for _, r := range rows {
		if r.err != nil {
			continue
		}
		g, ok := golden[r.cell.name()]
		if !ok {
			t.Errorf("%s: not in %s (run with -update -goodput.full)", r.cell.name(), goodputGolden)
			continue
		}
		if d := math.Abs(r.goodput - g); d > goodputFloor && d > goodputTolerance*g {
			t.Errorf("%s: %.3f Mbit/s, golden %.3f (±%.0f %% or ±%.1f Mbit/s): TCP's behaviour changed; if for the better, run with -update -goodput.full",
				r.cell.name(), r.goodput/1e6, g/1e6, goodputTolerance*100, goodputFloor/1e6)
		}
	}
}

// checkGoodputProperties asserts what must hold whatever the golden
// table says.
func checkGoodputProperties(t *testing.T, rows []goodputRow) {
	t.Helper()
	for _, r := range rows {
		if r.err != nil {
			continue // reported by the cell
		}
		// Loss recovery (RFC 6675 with SACK, RFC 8985 RACK-TLP; NewReno,
		// RFC 6582, without SACK, with the lost-retransmission and
		// held-segment detection of transport/tcp/renolost.go) repairs
		// moderate loss; the retransmission timer is the last resort
		// (RFC 6298 §5).
		if r.cell.loss <= goodputBackoffLoss && r.backoffShare() > goodputMaxBackoff {
			t.Errorf("%s: %.1f %% of the transfer in RTO backoff (%d timeouts, %v), want at most %.0f %% at ≤ %g %% loss",
				r.cell.name(), r.backoffShare()*100, r.rtos, r.backoff, goodputMaxBackoff*100, goodputBackoffLoss*100)
		}
	}
	// SACK (RFC 2018, RFC 6675) repairs several losses per round trip
	// where NewReno (RFC 6582) repairs one: for each RTT and reordering
	// setting, with newreno, the geometric mean of the goodput over the
	// loss rates of at least 1 % is higher with SACK than without.
	type key struct {
		rtt     time.Duration
		reorder bool
		sack    bool
	}
	logSum := make(map[key]float64)
	count := make(map[key]int)
	for _, r := range rows {
		c := r.cell
		if c.cc != "newreno" || c.loss < 0.01 || r.err != nil || r.goodput <= 0 {
			continue
		}
		k := key{c.rtt, c.reorder, c.sack}
		logSum[k] += math.Log(r.goodput)
		count[k]++
	}
	for k, n := range count {
		if !k.sack {
			continue
		}
		off := k
		off.sack = false
		if count[off] != n {
			continue // not the same cells on both sides
		}
		on, no := math.Exp(logSum[k]/float64(n)), math.Exp(logSum[off]/float64(n))
		t.Logf("rtt %v reorder %v newreno, loss ≥ 1 %% (%d cells): geometric mean %.3f Mbit/s with SACK, %.3f without",
			k.rtt, k.reorder, n, on/1e6, no/1e6)
		if on <= no {
			t.Errorf("rtt %v reorder %v newreno: SACK on %.3f Mbit/s ≤ SACK off %.3f (geometric mean over loss ≥ 1 %%)",
				k.rtt, k.reorder, on/1e6, no/1e6)
		}
	}
}

// goodputProps are the path's properties in each direction for a cell.
func goodputProps(c goodputCell) sim.Props {
	bdp := int(float64(goodputBandwidth) / 8 * c.rtt.Seconds())
	p := sim.Props{
		Delay:      c.rtt / 2,
		Bandwidth:  goodputBandwidth,
		QueueBytes: max(bdp, goodputMinQueue),
		Loss:       c.loss,
	}
	if c.reorder {
		p.Reorder, p.ReorderDelay = goodputReorder, c.rtt/goodputReorderFrac
	}
	return p
}

// runGoodputCell runs one cell's transfer on a network of its own.
func runGoodputCell(c goodputCell) (row goodputRow) {
	wall := time.Now()
	row.cell = c
	defer func() { row.wall = time.Since(wall) }()
	n := sim.New(c.seed())
	defer func() {
		if err := n.Close(); err != nil && row.err == nil {
			row.err = err
		}
	}()
	a := n.AddHost("a", tcpHostOptions)
	b := n.AddHost("b", tcpHostOptions)
	for _, h := range []*sim.Host{a, b} {
		for _, opt := range []any{tcpip.CongestionControlOption(c.cc), tcp.SACKEnabledOption(c.sack)} {
			if err := h.Stack().SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
				row.err = fmt.Errorf("%s: %T: %w", h.Name(), opt, err)
				return row
			}
		}
	}
	p := goodputProps(c)
	n.MustConnect(a, b, sim.LinkConfig{
		AddrA: netip.MustParsePrefix("10.0.0.1/24"), AddrB: netip.MustParsePrefix("10.0.0.2/24"), AB: p, BA: p,
	})
	var snd tcpip.Endpoint
	cfg := sim.StreamConfig{Port: 80, Size: goodputSize, Seed: c.seed()}
	cfg.NewEndpoint = func(h *sim.Host) (tcpip.Endpoint, error) {
		ep, err := h.Stack().NewEndpoint(tcpip.TCPProtocolNumber, tcpip.IPv4ProtocolNumber)
		if err == nil && h == a {
			snd = ep
		}
		return ep, err
	}
	s, err := sim.StartStream(a, b, cfg)
	if err != nil {
		row.err = err
		return row
	}
	n.RunUntil(s.Done, goodputLimit)
	r := s.Result()
	row.time, row.goodput = r.Duration, r.Goodput
	// The sender's Info at the receiver's end of stream (its endpoint
	// is closed, not freed: the figures stay readable).
	var in tcp.InfoOption
	if err := snd.GetSockOpt(&in); err != nil {
		row.err = fmt.Errorf("sender's Info: %w", err)
		return row
	}
	row.retransmits, row.rtos, row.backoff = in.Retransmits, in.RTOs, in.RTOBackoffTime
	switch {
	case !r.Done:
		row.err = fmt.Errorf("not done after %v of virtual time: %v; sender: %s", goodputLimit, r, describeInfo(tcp.Info(in)))
	case !r.OK():
		row.err = fmt.Errorf("%v", r)
	case r.Sent != goodputSize || r.Received != goodputSize || r.SentSHA256 != r.ReceivedSHA256:
		row.err = fmt.Errorf("sent %d, received %d bytes, SHA-256 %x, want %x",
			r.Sent, r.Received, r.ReceivedSHA256[:8], r.SentSHA256[:8])
	}
	s.Close()
	return row
}

// describeInfo summarises a sender's state for a stall report.
func describeInfo(in tcp.Info) string {
	return fmt.Sprintf("state %v, cwnd %d, ssthresh %d, unacked %d, not sent %d, snd.wnd %d, RTO %v (backoff %d), %d retransmits, %d RTOs, %v in backoff",
		in.State, in.Cwnd, in.Ssthresh, in.Unacked, in.NotSent, in.SndWnd, in.RTO, in.Backoff, in.Retransmits, in.RTOs, in.RTOBackoffTime)
}

// formatGoodputTable prints rows as the golden file's text.
func formatGoodputTable(rows []goodputRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Goodput table of sim.TestGoodputTable: %d MiB over %g Mbit/s, BDP queue (≥ %d KiB);\n", goodputSize>>20, goodputBandwidth/1e6, goodputMinQueue>>10)
	fmt.Fprintf(&b, "# loss each way; reorder: %g %% of frames held RTT/%d; ideal: same RTT, cc and SACK, no loss or reordering.\n", goodputReorder*100, goodputReorderFrac)
	fmt.Fprintf(&b, "# Rewrite with: go test ./sim -run TestGoodputTable -update -goodput.full\n")
	fmt.Fprintf(&b, "# %-52s %12s %9s %7s %8s %6s %8s\n", "config", "seconds", "Mbit/s", "%ideal", "retrans", "RTOs", "%backoff")
	sorted := append([]goodputRow(nil), rows...)
	order := make(map[string]int)
	for i, c := range goodputCells() {
		order[c.name()] = i
	}
	sort.SliceStable(sorted, func(i, j int) bool { return order[sorted[i].cell.name()] < order[sorted[j].cell.name()] })
	for _, r := range sorted {
		if r.err != nil {
			fmt.Fprintf(&b, "# %-52s FAILED\n", r.cell.name())
			continue
		}
		fmt.Fprintf(&b, "%-54s %12.3f %9.3f %7.1f %8d %6d %8.2f\n", r.cell.name(), r.time.Seconds(), r.goodput/1e6,
			r.ideal*100, r.retransmits, r.rtos, r.backoffShare()*100)
	}
	return b.String()
}

// readGoodputGolden parses the golden table into goodputs (bit/s) by
// config.
func readGoodputGolden(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows := make(map[string]float64)
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fs := strings.Fields(text)
		if len(fs) != 7 {
			return nil, fmt.Errorf("%s:%d: want 7 fields, got %d", path, line, len(fs))
		}
		mbit, err := strconv.ParseFloat(fs[2], 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		rows[fs[0]] = mbit * 1e6
	}
	return rows, sc.Err()
}
