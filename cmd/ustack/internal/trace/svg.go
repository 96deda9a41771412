package trace

import (
	"bufio"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ustack-go/ustack/transport/tcp"
)

// maxPoints bounds the points of one series in the SVG: a longer trace is
// thinned to every k-th sample (the CSV keeps every one).
const maxPoints = 20000

// Layout of the SVG, in pixels.
const (
	svgWidth    = 960
	marginLeft  = 80
	marginRight = 30
	titleHeight = 75
	panelHeight = 200
	panelGap    = 60
	plotWidth   = svgWidth - marginLeft - marginRight
	stripHeight = 16
	svgHeight   = titleHeight + 3*(panelHeight+panelGap) + stripHeight + 50
)

// Colours of the series.
const (
	colCwnd     = "#1f77b4"
	colSsthresh = "#ff7f0e"
	colInFlight = "#2ca02c"
	colSRTT     = "#9467bd"
	colSample   = "#7f7f7f"
	colGoodput  = "#17becf"
	colRetrans  = "#d62728"
)

// limitColors colours the limits in the strip under the panels.
var limitColors = map[tcp.Limit]string{
	tcp.LimitApplication:      "#c7c7c7",
	tcp.LimitReceiverWindow:   "#e377c2",
	tcp.LimitCongestionWindow: "#1f77b4",
	tcp.LimitSendBuffer:       "#bcbd22",
}

// LimitRun is a stretch of the trace with one Limit.
type LimitRun struct {
	Start, End time.Duration
	Limit      tcp.Limit
}

// LimitRuns returns the stretches of the trace by what limited the
// sender (Sample.Limit from each sample to the next), LimitNone left
// out.
func (r Result) LimitRuns() []LimitRun {
	var out []LimitRun
	for i := 1; i < len(r.Samples); i++ {
		a, b := r.Samples[i-1], r.Samples[i]
		l := b.Limit
		if l == tcp.LimitNone || b.Time == a.Time {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Limit == l && out[n-1].End == a.Time {
			out[n-1].End = b.Time
			continue
		}
		out = append(out, LimitRun{Start: a.Time, End: b.Time, Limit: l})
	}
	return out
}

// Goodput is the rate of data acknowledged in one interval of the trace.
type Goodput struct {
	Start, End time.Duration
	// Bits per second.
	Rate float64
}

// Goodputs divides the trace into intervals of a round figure, about a
// hundredth of its duration (at least a millisecond; the last one ends
// with the trace), and returns the rate at which data was acknowledged
// in each.
func (r Result) Goodputs() []Goodput {
	if len(r.Samples) == 0 {
		return nil
	}
	end := r.Samples[len(r.Samples)-1].Time
	bin := max(niceStep(float64(end)/100), float64(time.Millisecond))
	width := time.Duration(bin)
	var out []Goodput
	i := 0
	var acked int64
	for t := time.Duration(0); t < end; t += width {
		last := acked
		for i < len(r.Samples) && r.Samples[i].Time < t+width {
			acked = r.Samples[i].Acked
			i++
		}
		// The last interval ends with the trace.
		e := min(t+width, end)
		out = append(out, Goodput{Start: t, End: e, Rate: float64(acked-last) * 8 / (e - t).Seconds()})
	}
	return out
}

// Retransmission is a sample at which the retransmission count grew.
type Retransmission struct {
	Time time.Duration
	// Count is how many segments were retransmitted since the sample
	// before.
	Count int
}

// Retransmissions returns the samples at which segments were
// retransmitted.
func (r Result) Retransmissions() []Retransmission {
	var out []Retransmission
	prev := 0
	for _, s := range r.Samples {
		if s.Retransmits > prev {
			out = append(out, Retransmission{Time: s.Time, Count: s.Retransmits - prev})
		}
		prev = s.Retransmits
	}
	return out
}

// thinned returns the samples the SVG draws: all of them, or every k-th
// (and the last) to stay within maxPoints.
func (r Result) thinned() []Sample {
	n := len(r.Samples)
	if n <= maxPoints {
		return r.Samples
	}
	k := (n + maxPoints - 1) / maxPoints
	out := make([]Sample, 0, n/k+1)
	for i := 0; i < n; i += k {
		out = append(out, r.Samples[i])
	}
	if (n-1)%k != 0 {
		out = append(out, r.Samples[n-1])
	}
	return out
}

// niceStep returns a round step (1, 2 or 5 times a power of ten) at
// least x.
func niceStep(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// axis is a linear scale from [0, max] onto pixels, with round ticks.
type axis struct {
	max  float64
	step float64
}

// newAxis returns an axis covering v with about five ticks.
func newAxis(v float64) axis {
	if !(v > 0) {
		v = 1
	}
	step := niceStep(v / 5)
	return axis{max: math.Ceil(v/step-1e-9) * step, step: step}
}

// ticks returns the tick values from 0 to max.
func (a axis) ticks() []float64 {
	var t []float64
	for i := 0; ; i++ {
		v := float64(i) * a.step
		if v > a.max*(1+1e-9) {
			return t
		}
		t = append(t, v)
	}
}

// formatTick writes a tick value without float noise.
func formatTick(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'g', 6, 64)
}

// svgWriter writes SVG text, remembering the first error.
type svgWriter struct {
	w   *bufio.Writer
	err error
}

func (s *svgWriter) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

// text writes a <text> element with escaped content.
func (s *svgWriter) text(x, y float64, anchor, class, content string) {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(content))
	s.printf(`<text x="%.1f" y="%.1f" text-anchor="%s" class="%s">%s</text>`+"\n", x, y, anchor, class, b.String())
}

// panel is one of the three stacked plots.
type panel struct {
	top   float64
	x, y  axis
	title string
	unit  string
}

func (p panel) px(t time.Duration) float64 {
	return marginLeft + float64(t)/p.x.max*plotWidth
}

func (p panel) py(v float64) float64 {
	return p.top + panelHeight - v/p.y.max*panelHeight
}

// frame draws the panel's box, grid, ticks, labels and title.
func (s *svgWriter) frame(p panel) {
	s.printf(`<rect x="%d" y="%.1f" width="%d" height="%d" class="frame"/>`+"\n", marginLeft, p.top, plotWidth, panelHeight)
	for _, v := range p.y.ticks() {
		y := p.py(v)
		s.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>`+"\n", marginLeft, y, marginLeft+plotWidth, y)
		s.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="tick"/>`+"\n", marginLeft-5, y, marginLeft, y)
		s.text(marginLeft-8, y+4, "end", "label", formatTick(v))
	}
	for _, v := range p.x.ticks() {
		x := p.px(time.Duration(v))
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`+"\n", x, p.top, x, p.top+panelHeight)
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="tick"/>`+"\n", x, p.top+panelHeight, x, p.top+panelHeight+5)
		s.text(x, p.top+panelHeight+18, "middle", "label", formatTick(v/float64(time.Second)))
	}
	s.text(marginLeft+plotWidth/2, p.top+panelHeight+36, "middle", "axis", "time (s)")
	s.text(marginLeft, p.top-8, "start", "title", p.title)
	s.printf(`<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle" class="axis">%s</text>`+"\n", p.top+panelHeight/2, p.unit)
}

// legend draws the legend of a panel: a swatch and a name per series.
func (s *svgWriter) legend(p panel, entries ...[2]string) {
	x := float64(marginLeft + plotWidth - 150)
	y := p.top + 14
	s.printf(`<rect x="%.1f" y="%.1f" width="145" height="%d" class="legend"/>`+"\n", x-5, y-10, 16*len(entries)+4)
	for _, e := range entries {
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", x, y-4, x+20, y-4, e[0])
		s.text(x+26, y, "start", "label", e[1])
		y += 16
	}
}

// polyline draws a series as a polyline with id.
func (s *svgWriter) polyline(id, color string, pts [][2]float64) {
	s.printf(`<polyline id="%s" fill="none" stroke="%s" stroke-width="1.5" points="`, id, color)
	for i, p := range pts {
		if i > 0 {
			s.printf(" ")
		}
		s.printf("%.1f,%.1f", p[0], p[1])
	}
	s.printf(`"/>` + "\n")
}

// WriteSVG draws the trace as an SVG document of three stacked panels
// sharing the time axis: the congestion window, slow-start threshold
// and bytes in flight; the smoothed RTT and the RTT samples; the goodput
// with the retransmissions marked.
func WriteSVG(w io.Writer, r Result) error {
	s := &svgWriter{w: bufio.NewWriter(w)}
	samples := r.thinned()
	goodputs := r.Goodputs()
	rexmits := r.Retransmissions()

	var end time.Duration
	maxWnd, maxRTT, maxRate := 0.0, 0.0, 0.0
	for _, x := range r.Samples {
		end = max(end, x.Time)
		maxWnd = max(maxWnd, float64(x.Cwnd), float64(x.Ssthresh), float64(x.InFlight))
		maxRTT = max(maxRTT, float64(x.SRTT), float64(x.RTTSample))
	}
	for _, g := range goodputs {
		end = max(end, g.End)
		maxRate = max(maxRate, g.Rate)
	}
	xa := newAxis(float64(max(end, time.Millisecond)))
	panels := [3]panel{
		{top: titleHeight, x: xa, y: newAxis(maxWnd / 1024), title: "congestion window, ssthresh and bytes in flight", unit: "KiB"},
		{top: titleHeight + panelHeight + panelGap, x: xa, y: newAxis(maxRTT / float64(time.Millisecond)), title: "round-trip time", unit: "ms"},
		{top: titleHeight + 2*(panelHeight+panelGap), x: xa, y: newAxis(maxRate / 1e6), title: "goodput and retransmissions", unit: "Mbit/s"},
	}

	s.printf(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight)
	s.printf(`<style>.frame{fill:none;stroke:#333}.grid{stroke:#ddd}.tick{stroke:#333}` +
		`.label{font-size:11px;fill:#333}.axis{font-size:12px;fill:#333}.title{font-size:13px;font-weight:bold;fill:#111}` +
		`.legend{fill:#fff;fill-opacity:0.85;stroke:#bbb}</style>` + "\n")
	s.printf(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	c := r.Config
	head := fmt.Sprintf("ustack trace: %d bytes, RTT %v, %s, loss %g, reorder %g, %s, SACK %t, ECN %t, seed %d",
		c.Size, c.RTT, formatRate(float64(c.Bandwidth)), c.Loss, c.Reorder, c.CC, c.SACK, c.ECN, c.Seed)
	if c.SndBuf > 0 {
		head += fmt.Sprintf(", sndbuf %d", c.SndBuf)
	}
	if c.RcvBuf > 0 {
		head += fmt.Sprintf(", rcvbuf %d", c.RcvBuf)
	}
	s.text(svgWidth/2, 20, "middle", "title", head)
	s.text(svgWidth/2, 38, "middle", "label", fmt.Sprintf("%v; %d samples, %d segments retransmitted", r.Stream, len(r.Samples), lastRetransmits(r.Samples)))

	// Panel 1: windows.
	p := panels[0]
	s.frame(p)
	var cwnd, ss, fl [][2]float64
	for _, x := range samples {
		t := p.px(x.Time)
		cwnd = append(cwnd, [2]float64{t, p.py(float64(x.Cwnd) / 1024)})
		if x.Ssthresh >= 0 {
			ss = append(ss, [2]float64{t, p.py(float64(x.Ssthresh) / 1024)})
		}
		fl = append(fl, [2]float64{t, p.py(float64(x.InFlight) / 1024)})
	}
	s.polyline("inflight", colInFlight, fl)
	s.polyline("ssthresh", colSsthresh, ss)
	s.polyline("cwnd", colCwnd, cwnd)
	s.legend(p, [2]string{colCwnd, "cwnd"}, [2]string{colSsthresh, "ssthresh"}, [2]string{colInFlight, "bytes in flight"})

	// Panel 2: RTT.
	p = panels[1]
	s.frame(p)
	var srtt [][2]float64
	s.printf(`<g id="rtt-samples" fill="%s">`+"\n", colSample)
	for _, x := range samples {
		t := p.px(x.Time)
		if x.SRTT > 0 {
			srtt = append(srtt, [2]float64{t, p.py(float64(x.SRTT) / float64(time.Millisecond))})
		}
		if x.RTTSample > 0 {
			s.printf(`<circle cx="%.1f" cy="%.1f" r="1.5"/>`+"\n", t, p.py(float64(x.RTTSample)/float64(time.Millisecond)))
		}
	}
	s.printf("</g>\n")
	s.polyline("srtt", colSRTT, srtt)
	s.legend(p, [2]string{colSRTT, "smoothed RTT"}, [2]string{colSample, "RTT samples"})

	// Panel 3: goodput and retransmissions.
	p = panels[2]
	s.frame(p)
	var gp [][2]float64
	for _, g := range goodputs {
		y := p.py(g.Rate / 1e6)
		gp = append(gp, [2]float64{p.px(g.Start), y}, [2]float64{p.px(g.End), y})
	}
	s.polyline("goodput", colGoodput, gp)
	s.printf(`<g id="retransmits" stroke="%s" stroke-width="1">`+"\n", colRetrans)
	for _, x := range rexmits {
		t := p.px(x.Time)
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"><title>%d at %v</title></line>`+"\n",
			t, p.top+panelHeight, t, p.top+panelHeight-12, x.Count, x.Time)
	}
	s.printf("</g>\n")
	s.legend(p, [2]string{colGoodput, "goodput"}, [2]string{colRetrans, "retransmission"})

	// The strip: what limited the sender over time.
	top := p.top + panelHeight + panelGap
	s.text(marginLeft, top-6, "start", "title", "sending limited by")
	s.printf(`<rect x="%d" y="%.1f" width="%d" height="%d" class="frame"/>`+"\n", marginLeft, top, plotWidth, stripHeight)
	s.printf(`<g id="limits">` + "\n")
	for _, run := range r.LimitRuns() {
		x0, x1 := p.px(run.Start), p.px(run.End)
		s.printf(`<rect x="%.1f" y="%.1f" width="%.2f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
			x0, top, max(x1-x0, 0.1), stripHeight, limitColors[run.Limit], run.Limit)
	}
	s.printf("</g>\n")
	x := float64(marginLeft + 170)
	for _, l := range []tcp.Limit{tcp.LimitCongestionWindow, tcp.LimitReceiverWindow, tcp.LimitSendBuffer, tcp.LimitApplication} {
		s.printf(`<rect x="%.1f" y="%.1f" width="12" height="10" fill="%s"/>`+"\n", x, top-16, limitColors[l])
		s.text(x+16, top-7, "start", "label", l.String())
		x += 140
	}

	s.printf("</svg>\n")
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// lastRetransmits returns the retransmissions of the whole trace.
func lastRetransmits(samples []Sample) int {
	if len(samples) == 0 {
		return 0
	}
	return samples[len(samples)-1].Retransmits
}

// formatRate writes a rate in bits per second, 0 as "unlimited".
func formatRate(bps float64) string {
	switch {
	case bps <= 0:
		return "unlimited bandwidth"
	case bps >= 1e9:
		return fmt.Sprintf("%g Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%g Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%g kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%g bit/s", bps)
}

// WriteCSV writes every sample as a CSV row, with a header line.
func WriteCSV(w io.Writer, r Result) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"time_s", "cwnd_bytes", "ssthresh_bytes", "inflight_bytes", "srtt_ms", "rtt_sample_ms", "retransmits", "acked_bytes", "in_recovery", "ecn_reduced", "limit"})
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
	}
	for _, s := range r.Samples {
		_ = cw.Write([]string{
			strconv.FormatFloat(s.Time.Seconds(), 'f', 6, 64),
			strconv.Itoa(s.Cwnd), strconv.Itoa(s.Ssthresh), strconv.Itoa(s.InFlight),
			ms(s.SRTT), ms(s.RTTSample), strconv.Itoa(s.Retransmits),
			strconv.FormatInt(s.Acked, 10), strconv.FormatBool(s.InRecovery), strconv.FormatBool(s.ECNReduced), s.Limit.String(),
		})
	}
	cw.Flush()
	return cw.Error()
}
