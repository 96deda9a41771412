package trace

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/transport/tcp"
)

// small is a transfer short enough for a unit test, long enough for
// losses and recoveries: 256 KiB over 10 Mbit/s × 20 ms with 2 % loss.
var small = Config{Size: 256 << 10, RTT: 20 * time.Millisecond, Bandwidth: 10e6, Loss: 0.02, CC: "newreno", SACK: true, Seed: 3}

func run(t *testing.T, cfg Config) Result {
	t.Helper()
	r, err := Run(cfg)
	if err != nil {
		t.Fatalf("Run(%+v): %v", cfg, err)
	}
	return r
}

// TestRunSamples checks the samples of the sender's probe: one per
// segment received, time advancing, the data acknowledged growing to the
// size, the initial window of RFC 6928 (10 segments), retransmissions
// with loss and none without, and the same trace for the same seed.
func TestRunSamples(t *testing.T) {
	r := run(t, small)
	if !r.Stream.OK() || r.Stream.Received != small.Size || len(r.Samples) < 100 {
		t.Fatalf("transfer %v with %d samples", r.Stream, len(r.Samples))
	}
	first, last := r.Samples[0], r.Samples[len(r.Samples)-1]
	if first.Cwnd != 10*1448 || first.Ssthresh != -1 {
		t.Errorf("first sample: cwnd %d, ssthresh %d; want 14480 (IW10 × 1448) and -1", first.Cwnd, first.Ssthresh)
	}
	if last.Acked != small.Size || last.Retransmits == 0 || last.Ssthresh <= 0 {
		t.Errorf("last sample: %+v; want all acknowledged, retransmissions and a finite ssthresh", last)
	}
	if m := r.Midway; m.SndMSS != 1448 || m.Cwnd <= 0 || m.Limit == tcp.LimitNone || m.BytesAcked < uint64(small.Size/2) {
		t.Errorf("Info half-way: %+v", m)
	}
	var rtts int
	for i := 1; i < len(r.Samples); i++ {
		a, b := r.Samples[i-1], r.Samples[i]
		if b.Time < a.Time || b.Acked < a.Acked || b.Retransmits < a.Retransmits {
			t.Fatalf("sample %d goes back: %+v after %+v", i, b, a)
		}
		if b.RTTSample > 0 {
			rtts++
			if b.RTTSample < small.RTT {
				t.Fatalf("sample %d: RTT %v below the path's %v", i, b.RTTSample, small.RTT)
			}
		}
	}
	if rtts == 0 {
		t.Error("no RTT sample")
	}
	if again := run(t, small); !reflect.DeepEqual(again.Samples, r.Samples) {
		t.Error("the same seed gave a different trace")
	}

	clean := small
	clean.Loss = 0
	c := run(t, clean)
	if n := c.Samples[len(c.Samples)-1].Retransmits; n != 0 || len(c.Retransmissions()) != 0 {
		t.Errorf("%d retransmissions without loss", n)
	}
	if c.Stream.Duration >= r.Stream.Duration {
		t.Errorf("without loss %v, with 2 %% loss %v", c.Stream.Duration, r.Stream.Duration)
	}
}

// TestRunECN: with ECN and a bottleneck that marks CE above a queue
// threshold, the window is reduced (a finite ssthresh) without a loss or
// a retransmission.
func TestRunECN(t *testing.T) {
	cfg := small
	cfg.Loss, cfg.Size, cfg.QueueBytes = 0, 1<<20, 256<<10
	cfg.ECN, cfg.MarkCEQueueBytes = true, 16<<10
	r := run(t, cfg)
	last := r.Samples[len(r.Samples)-1]
	if last.Retransmits != 0 || last.Ssthresh <= 0 || !last.ECNReduced {
		t.Errorf("last sample %+v: want no retransmission, a finite ssthresh and a reduction for ECN", last)
	}
	cfg.MarkCEQueueBytes = 0
	if last := run(t, cfg).Samples; last[len(last)-1].ECNReduced {
		t.Error("a reduction for ECN without CE marks")
	}
}

// TestLimitRuns: the strip of limits says the congestion window on a
// lossy bottleneck, the send buffer with a 32 KiB send buffer and the
// receiver's window with a 32 KiB receive buffer (100 Mbit/s × 20 ms
// needs 250 KB).
func TestLimitRuns(t *testing.T) {
	for _, tc := range []struct {
		sndBuf, rcvBuf int
		want           tcp.Limit
	}{{0, 0, tcp.LimitCongestionWindow}, {32 << 10, 0, tcp.LimitSendBuffer}, {0, 32 << 10, tcp.LimitReceiverWindow}} {
		cfg := small
		cfg.Size, cfg.Bandwidth, cfg.SndBuf, cfg.RcvBuf = 1<<20, 100e6, tc.sndBuf, tc.rcvBuf
		if tc.want == tcp.LimitCongestionWindow {
			cfg.Bandwidth = 10e6
		} else {
			cfg.Loss = 0
		}
		r := run(t, cfg)
		var total time.Duration
		by := map[tcp.Limit]time.Duration{}
		for _, run := range r.LimitRuns() {
			by[run.Limit] += run.End - run.Start
			total += run.End - run.Start
		}
		if 10*by[tc.want] < 8*total {
			t.Errorf("sndbuf %d, rcvbuf %d: limits %v, want mostly %v", tc.sndBuf, tc.rcvBuf, by, tc.want)
		}
	}
}

// svgDoc is what the test reads back from the SVG.
type svgDoc struct {
	polylines map[string]int // id → points
	groups    map[string]int // id → child elements
	texts     []string
}

// parseSVG parses b as XML and collects the series.
func parseSVG(t *testing.T, b []byte) svgDoc {
	t.Helper()
	doc := svgDoc{polylines: map[string]int{}, groups: map[string]int{}}
	d := xml.NewDecoder(bytes.NewReader(b))
	var group string
	depth, groupDepth := 0, 0
	var inText bool
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			depth++
			attr := func(name string) string {
				for _, a := range el.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			if depth == 1 && (el.Name.Local != "svg" || el.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element %v", el.Name)
			}
			switch el.Name.Local {
			case "polyline":
				pts := strings.Fields(attr("points"))
				for _, p := range pts {
					x, y, ok := strings.Cut(p, ",")
					xv, err1 := strconv.ParseFloat(x, 64)
					yv, err2 := strconv.ParseFloat(y, 64)
					if !ok || err1 != nil || err2 != nil || xv < marginLeft-0.1 || xv > marginLeft+plotWidth+0.1 || yv < 0 || yv > svgHeight {
						t.Fatalf("polyline %s: point %q outside the plot", attr("id"), p)
					}
				}
				doc.polylines[attr("id")] = len(pts)
			case "g":
				group, groupDepth = attr("id"), depth
			case "text":
				inText = true
			default:
				if group != "" && depth == groupDepth+1 {
					doc.groups[group]++
				}
			}
		case xml.EndElement:
			if el.Name.Local == "g" {
				group = ""
			}
			if el.Name.Local == "text" {
				inText = false
			}
			depth--
		case xml.CharData:
			if inText {
				doc.texts = append(doc.texts, string(el))
			}
		}
	}
	return doc
}

// TestSVG: the SVG is XML with one point per sample in each series, a
// mark per retransmission, a goodput step per interval, and the axes'
// labels.
func TestSVG(t *testing.T) {
	r := run(t, small)
	var b bytes.Buffer
	if err := WriteSVG(&b, r); err != nil {
		t.Fatal(err)
	}
	doc := parseSVG(t, b.Bytes())
	var ss, srtt, samples int
	for _, s := range r.Samples {
		if s.Ssthresh >= 0 {
			ss++
		}
		if s.SRTT > 0 {
			srtt++
		}
		if s.RTTSample > 0 {
			samples++
		}
	}
	want := map[string]int{"cwnd": len(r.Samples), "inflight": len(r.Samples), "ssthresh": ss, "srtt": srtt, "goodput": 2 * len(r.Goodputs())}
	for id, n := range want {
		if doc.polylines[id] != n || n == 0 {
			t.Errorf("polyline %s: %d points, want %d", id, doc.polylines[id], n)
		}
	}
	if doc.groups["rtt-samples"] != samples || doc.groups["retransmits"] != len(r.Retransmissions()) || len(r.Retransmissions()) == 0 ||
		doc.groups["limits"] != len(r.LimitRuns()) || len(r.LimitRuns()) == 0 {
		t.Errorf("groups %v; want %d RTT samples, %d retransmission marks, %d limit runs", doc.groups, samples, len(r.Retransmissions()), len(r.LimitRuns()))
	}
	all := strings.Join(doc.texts, "\n")
	for _, label := range []string{"time (s)", "KiB", "ms", "Mbit/s", "cwnd", "ssthresh", "bytes in flight", "smoothed RTT", "goodput", "retransmission", "newreno", "sending limited by", "congestion-window"} {
		if !strings.Contains(all, label) {
			t.Errorf("no text %q in the SVG", label)
		}
	}
	// The goodput intervals cover the trace and add up to the data.
	var bits float64
	for _, g := range r.Goodputs() {
		bits += g.Rate * (g.End - g.Start).Seconds()
	}
	if got := bits / 8; got < float64(small.Size)-1 || got > float64(small.Size)+1 {
		t.Errorf("goodput intervals add up to %.0f bytes, want %d", got, small.Size)
	}
}

// TestCSV writes a row per sample after the header.
func TestCSV(t *testing.T) {
	r := run(t, small)
	var b bytes.Buffer
	if err := WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(r.Samples)+1 || rows[0][0] != "time_s" || rows[1][1] != strconv.Itoa(r.Samples[0].Cwnd) {
		t.Errorf("%d rows for %d samples; first %q, %q", len(rows), len(r.Samples), rows[0], rows[1])
	}
}

// TestThinned: a long trace is drawn with at most maxPoints points per
// series, its last sample kept.
func TestThinned(t *testing.T) {
	var r Result
	for i := range 3*maxPoints + 7 {
		r.Samples = append(r.Samples, Sample{Time: time.Duration(i) * time.Millisecond, Cwnd: i})
	}
	th := r.thinned()
	if len(th) > maxPoints+1 || th[len(th)-1] != r.Samples[len(r.Samples)-1] || th[0] != r.Samples[0] {
		t.Errorf("thinned to %d samples, last %+v", len(th), th[len(th)-1])
	}
}

func TestParseArgs(t *testing.T) {
	cfg, svg, csvf, err := ParseArgs([]string{"-size", "2M", "-bw", "1.5G", "-rtt", "10ms", "-loss", "0", "-cc", "cubic", "-sack=false", "-seed", "9", "-queue", "64K", "-sndbuf", "32K", "-rcvbuf", "1M", "-o", "x.svg", "-csv", "x.csv"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Size != 2<<20 || cfg.Bandwidth != 1.5e9 || cfg.RTT != 10*time.Millisecond || cfg.Loss != 0 || cfg.CC != "cubic" ||
		cfg.SACK || cfg.Seed != 9 || cfg.QueueBytes != 64<<10 || cfg.SndBuf != 32<<10 || cfg.RcvBuf != 1<<20 || svg != "x.svg" || csvf != "x.csv" {
		t.Errorf("ParseArgs = %+v, %q, %q", cfg, svg, csvf)
	}
	for _, bad := range [][]string{{"-size", "-1"}, {"-bw", "fast"}, {"extra"}} {
		if _, _, _, err := ParseArgs(bad, io.Discard); err == nil {
			t.Errorf("ParseArgs(%q) succeeded", bad)
		}
	}
	for _, cfg := range []Config{{Size: 0}, {Size: 1, Loss: 1}, {Size: 1, CC: "nope"}} {
		if _, err := Run(cfg); err == nil {
			t.Errorf("Run(%+v) succeeded", cfg)
		}
	}
}
