// Command bench runs the workloads of github.com/ustack-go/ustack/perf on
// ustack and on gVisor's netstack (gvisor.dev/gvisor), interleaving their
// runs (ustack, gvisor, ustack, gvisor, …) so that noise on the machine hits
// both alike, and prints, per workload and metric, each stack's median with
// its range, the ratio ustack ÷ gvisor, the target and whether it is met.
//
//	cd bench && go run . [-w workload[,workload…]] [-mtu N[,N…]] [-runs N] [-json FILE] [-scale F]
//
// Without -w and -mtu it runs every workload at MTU 1500 and bulk at MTU
// 65535 too, which is what the targets need.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ustack-go/ustack/perf"
	"github.com/ustack-go/ustack/perf/ustackpair"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usage is the command line.
const usage = "go run . [-w workload[,workload…]] [-mtu N[,N…]] [-runs N] [-json FILE] [-scale F] [-cpuprofile FILE]"

// step is one workload at one MTU.
type step struct {
	w   *perf.Workload
	mtu int
}

// options is a parsed command line.
type options struct {
	steps      []step
	runs       int
	json       string
	scale      float64
	cpuprofile string
}

func parseArgs(args []string, output io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(output, "usage: %s\n\n", usage)
		fs.PrintDefaults()
	}
	var o options
	list := fs.String("w", "", "comma-separated `workloads` (default: all)")
	mtus := fs.String("mtu", "", "comma-separated IP `MTUs` (default: 1500, and 65535 for bulk)")
	fs.IntVar(&o.runs, "runs", 3, "`number` of runs of each stack")
	fs.StringVar(&o.json, "json", "", "write JSON lines to `FILE`")
	fs.Float64Var(&o.scale, "scale", 1, "multiply the workloads' sizes by `F` (0 < F ≤ 1)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile to `FILE`")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ws, err := perf.ParseWorkloads(*list)
	if err != nil {
		return o, err
	}
	if o.runs < 1 {
		return o, fmt.Errorf("-runs %d: at least 1", o.runs)
	}
	if !(o.scale > 0 && o.scale <= 1) {
		return o, fmt.Errorf("-scale %g: out of range (0, 1]", o.scale)
	}
	if *mtus == "" {
		for _, w := range ws {
			o.steps = append(o.steps, step{w, 1500})
		}
		if *list == "" {
			bulk, _ := perf.Lookup("bulk")
			o.steps = append(o.steps, step{bulk, 65535})
		}
		return o, nil
	}
	for s := range strings.SplitSeq(*mtus, ",") {
		mtu, err := strconv.Atoi(strings.TrimSpace(s))
		// RFC 791 §3.1: 68 to 65535 bytes.
		if err != nil || mtu < 68 || mtu > 65535 {
			return o, fmt.Errorf("-mtu %q: want numbers in 68-65535", s)
		}
		for _, w := range ws {
			o.steps = append(o.steps, step{w, mtu})
		}
	}
	return o, nil
}

// target is a goal of issue 7 for one metric of one workload.
type target struct {
	workload, metric string
	mtu              int
	// ratio: ustack ÷ gvisor must be ≥ (atLeast) or ≤ the value;
	// absolute: ustack's own median must be ≤ the value.
	atLeast  bool
	absolute bool
	value    float64
	// also, if not empty, is a condition on another of ustack's medians:
	// that metric must be exactly alsoValue.
	also      string
	alsoValue float64
}

var targets = []target{
	{workload: "bulk", metric: "gbps", mtu: 1500, atLeast: true, value: 2.5},
	{workload: "bulk", metric: "cpu_s_per_gib", mtu: 1500, value: 0.5},
	{workload: "bulk", metric: "allocs_per_mib", mtu: 1500, absolute: true, value: 1},
	{workload: "bulk", metric: "gbps", mtu: 65535, atLeast: true, value: 1.5},
	{workload: "rr", metric: "tps", mtu: 1500, atLeast: true, value: 2},
	{workload: "crr", metric: "conns_per_s", mtu: 1500, atLeast: true, value: 2},
	{workload: "udp", metric: "recv_pps", mtu: 1500, atLeast: true, value: 2, also: "loss_pct", alsoValue: 0},
	{workload: "idle", metric: "heap_inuse_per_conn", mtu: 1500, value: 0.33},
	{workload: "lossy", metric: "gbps", mtu: 1500, atLeast: true, value: 2, also: "rto_timeouts", alsoValue: 0},
}

func findTarget(workload, metric string, mtu int) (target, bool) {
	for _, t := range targets {
		if t.workload == workload && t.metric == metric && t.mtu == mtu {
			return t, true
		}
	}
	return target{}, false
}

func (t target) String() string {
	s := ""
	switch {
	case t.absolute:
		s = fmt.Sprintf("≤ %g", t.value)
	case t.atLeast:
		s = fmt.Sprintf("≥ %g×", t.value)
	default:
		s = fmt.Sprintf("≤ %g×", t.value)
	}
	if t.also != "" {
		s += fmt.Sprintf(", %s %g", t.also, t.alsoValue)
	}
	return s
}

// verdict says whether ustack's medians meet t given the ratio.
func (t target) verdict(us perf.Result, ratio float64) bool {
	v, _ := us.Get(t.metric)
	ok := false
	switch {
	case t.absolute:
		ok = v <= t.value
	case t.atLeast:
		ok = ratio >= t.value
	default:
		ok = ratio <= t.value
	}
	if t.also != "" {
		a, _ := us.Get(t.also)
		ok = ok && a == t.alsoValue
	}
	return ok
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\nusage: %s\n", err, usage)
		return 2
	}
	if err := compare(o, []perf.Stack{ustackpair.Stack, gvisorStack}, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// compare runs o's steps on stacks (ustack first) and prints the table.
func compare(o options, stacks []perf.Stack, stdout, stderr io.Writer) (err error) {
	var jsonOut *bufio.Writer
	if o.json != "" {
		f, err := os.Create(o.json)
		if err != nil {
			return err
		}
		defer func() {
			if ferr := jsonOut.Flush(); err == nil {
				err = ferr
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		jsonOut = bufio.NewWriter(f)
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	emit := func(r perf.Result) {
		if jsonOut != nil {
			b, _ := json.Marshal(r)
			jsonOut.Write(b)
			jsonOut.WriteByte('\n')
		}
	}
	fmt.Fprintf(stdout, "# %s, GOMAXPROCS %d, %d runs each, interleaved; ratio = %s ÷ %s (medians)\n",
		runtime.Version(), runtime.GOMAXPROCS(0), o.runs, stacks[0].Name, stacks[len(stacks)-1].Name)
	table := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	header := "workload\tmtu\tmetric\t"
	for _, st := range stacks {
		header += st.Name + " (min–max)\t"
	}
	fmt.Fprintf(table, "%sratio\ttarget\tresult\t\n", header)
	sizes := perf.ScaledSizes(o.scale)
	for _, s := range o.steps {
		cfg := perf.Config{MTU: s.mtu, Sizes: sizes}
		var cur string
		start := time.Now()
		cfg.Progress = func(p perf.Progress) {
			fmt.Fprintf(stderr, "\r%-40s %3.0f%% %s   ", cur, 100*float64(p.Done)/float64(max(p.Total, 1)), time.Since(start).Round(time.Second))
		}
		results, err := perf.RunInterleaved(s.w, stacks, o.runs, cfg, func(st perf.Stack, run int) {
			cur = fmt.Sprintf("%s mtu %d: %s run %d/%d", s.w.Name, s.mtu, st.Name, run, o.runs)
			fmt.Fprintf(stderr, "\r%-40s        ", cur)
		})
		fmt.Fprintf(stderr, "\r%60s\r", "")
		if err != nil {
			return err
		}
		meds := make([]perf.Result, len(stacks))
		los := make([]perf.Result, len(stacks))
		his := make([]perf.Result, len(stacks))
		for i, runs := range results {
			for _, r := range runs {
				emit(r)
			}
			meds[i], los[i], his[i] = perf.Summarize(runs)
			emit(meds[i])
			emit(los[i])
			emit(his[i])
		}
		for _, m := range s.w.Metrics {
			row := fmt.Sprintf("%s\t%d\t%s\t", s.w.Name, s.mtu, m.Name)
			for i := range stacks {
				v, _ := meds[i].Get(m.Name)
				l, _ := los[i].Get(m.Name)
				h, _ := his[i].Get(m.Name)
				row += fmt.Sprintf("%s (%s–%s)\t", m.Format(v), m.Format(l), m.Format(h))
			}
			us, _ := meds[0].Get(m.Name)
			them, _ := meds[len(meds)-1].Get(m.Name)
			ratio := math.NaN()
			if them != 0 && !m.Bool {
				ratio = us / them
			}
			rs := "-"
			if !math.IsNaN(ratio) {
				rs = fmt.Sprintf("%.2f", ratio)
			}
			tgt, res := "", ""
			if t, ok := findTarget(s.w.Name, m.Name, s.mtu); ok {
				tgt = t.String()
				res = "FAIL"
				if t.verdict(meds[0], ratio) {
					res = "pass"
				}
			}
			fmt.Fprintf(table, "%s%s\t%s\t%s\t\n", row, rs, tgt, res)
		}
	}
	// One table, aligned as a whole, once every step has run (JSON lines
	// are written as results come).
	return table.Flush()
}
