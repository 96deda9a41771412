// Package bench is `ustack bench`: the macro workloads of package perf on
// two ustack stacks in this process, a progress line on stderr, a table of
// medians and ranges on stdout, and JSON lines on request.
package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ustack-go/ustack/perf"
	"github.com/ustack-go/ustack/perf/ustackpair"
)

// Usage is the command line of `ustack bench`.
const Usage = "ustack bench [-w workload[,workload…]] [-mtu N] [-runs N] [-json FILE] [-scale F] [-cpuprofile FILE]"

// Config is a parsed command line.
type Config struct {
	Workloads  []*perf.Workload
	MTU        int
	Runs       int
	JSON       string // file for JSON lines; "-" is stdout; "" none
	Scale      float64
	CPUProfile string
}

// errUsage marks errors of the command line, which exit with status 2.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

// ParseArgs parses the flags of `ustack bench`. Errors and the -h help go
// to output. It returns flag.ErrHelp for -h and an error matching errUsage
// for a bad command line.
func ParseArgs(args []string, output io.Writer) (Config, error) {
	fs := flag.NewFlagSet("ustack bench", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintf(output, "usage: %s\n\n", Usage)
		fmt.Fprintln(output, "Workloads:")
		for _, w := range perf.Workloads() {
			fmt.Fprintf(output, "  %-6s %s\n", w.Name, w.Doc)
		}
		fmt.Fprintln(output, "\nFlags:")
		fs.PrintDefaults()
	}
	var cfg Config
	list := fs.String("w", "all", "comma-separated `workloads` to run")
	fs.IntVar(&cfg.MTU, "mtu", 1500, "IP `MTU` of the link between the stacks (68-65535)")
	fs.IntVar(&cfg.Runs, "runs", 3, "`number` of runs of each workload")
	fs.StringVar(&cfg.JSON, "json", "", "write JSON lines to `FILE` (- for stdout)")
	fs.Float64Var(&cfg.Scale, "scale", 1, "multiply the workloads' sizes by `F` (0 < F ≤ 1 for a quick look)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the runs to `FILE`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return cfg, &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	var err error
	if cfg.Workloads, err = perf.ParseWorkloads(*list); err != nil {
		return cfg, &usageError{err.Error()}
	}
	// RFC 791 §3.1: every IPv4 host must take datagrams of 68 bytes; the
	// Total Length field caps them at 65535.
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return cfg, &usageError{fmt.Sprintf("-mtu %d: out of range 68-65535", cfg.MTU)}
	}
	if cfg.Runs < 1 {
		return cfg, &usageError{fmt.Sprintf("-runs %d: at least 1", cfg.Runs)}
	}
	if !(cfg.Scale > 0 && cfg.Scale <= 1) {
		return cfg, &usageError{fmt.Sprintf("-scale %g: out of range (0, 1]", cfg.Scale)}
	}
	return cfg, nil
}

// Main runs `ustack bench` with args and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	cfg, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ustack bench: %v\nusage: %s\n", err, Usage)
		return 2
	}
	if err := Bench(cfg, ustackpair.Stack, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "ustack bench: %v\n", err)
		return 1
	}
	return 0
}

// Bench runs the workloads of cfg on st, printing progress to progress,
// the table to stdout and JSON lines where cfg.JSON says.
func Bench(cfg Config, st perf.Stack, stdout, progress io.Writer) (err error) {
	var jsonOut *bufio.Writer
	switch cfg.JSON {
	case "":
	case "-":
		jsonOut = bufio.NewWriter(stdout)
	default:
		f, err := os.Create(cfg.JSON)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		jsonOut = bufio.NewWriter(f)
	}
	if jsonOut != nil {
		defer func() {
			if ferr := jsonOut.Flush(); err == nil {
				err = ferr
			}
		}()
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	emit := func(r perf.Result) error {
		if jsonOut == nil {
			return nil
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		jsonOut.Write(b)
		return jsonOut.WriteByte('\n')
	}

	table := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	if jsonOut == nil || cfg.JSON != "-" {
		fmt.Fprintf(table, "workload\tmetric\tmedian\tmin\tmax\tunit\t\n")
		table.Flush()
	}
	line := newProgressLine(progress)
	defer line.clear()
	for _, w := range cfg.Workloads {
		pcfg := perf.Config{MTU: cfg.MTU, Sizes: perf.ScaledSizes(cfg.Scale)}
		var run int
		start := time.Now()
		pcfg.Progress = func(p perf.Progress) {
			pct := 0.0
			if p.Total > 0 {
				pct = 100 * float64(p.Done) / float64(p.Total)
			}
			line.set(fmt.Sprintf("%s %s: run %d/%d %3.0f%% (%s)", st.Name, w.Name, run, cfg.Runs, pct, time.Since(start).Round(time.Second)))
		}
		results, err := perf.RunInterleaved(w, []perf.Stack{st}, cfg.Runs, pcfg, func(_ perf.Stack, r int) {
			run = r
			line.set(fmt.Sprintf("%s %s: run %d/%d", st.Name, w.Name, r, cfg.Runs))
		})
		if err != nil {
			return err
		}
		runs := results[0]
		for _, r := range runs {
			if err := emit(r); err != nil {
				return err
			}
		}
		med, lo, hi := perf.Summarize(runs)
		for _, r := range []perf.Result{med, lo, hi} {
			if err := emit(r); err != nil {
				return err
			}
		}
		line.clear()
		if jsonOut != nil && cfg.JSON == "-" {
			continue // stdout carries the JSON lines only
		}
		for i, m := range w.Metrics {
			name := ""
			if i == 0 {
				name = fmt.Sprintf("%s (mtu %d, %d runs)", w.Name, cfg.MTU, len(runs))
			}
			v, _ := med.Get(m.Name)
			l, _ := lo.Get(m.Name)
			h, _ := hi.Get(m.Name)
			fmt.Fprintf(table, "%s\t%s\t%s\t%s\t%s\t%s\t\n", name, m.Name, m.Format(v), m.Format(l), m.Format(h), m.Unit)
		}
		table.Flush()
	}
	return nil
}

// progressLine is one line of progress on a writer (a terminal's stderr),
// rewritten in place.
type progressLine struct {
	w    io.Writer
	last int
}

func newProgressLine(w io.Writer) *progressLine { return &progressLine{w: w} }

func (p *progressLine) set(s string) {
	pad := max(p.last-len(s), 0)
	fmt.Fprintf(p.w, "\r%s%s", s, strings.Repeat(" ", pad))
	p.last = len(s)
}

func (p *progressLine) clear() {
	if p.last > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.last))
		p.last = 0
	}
}
