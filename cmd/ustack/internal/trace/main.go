package trace

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Usage is the one-line synopsis of `ustack trace`.
const Usage = "ustack trace [-size 4M] [-rtt 40ms] [-bw 20M] [-queue 64K] [-sndbuf 64K] [-rcvbuf 64K] [-loss 0.01] [-reorder 0] [-cc newreno|cubic] [-sack=true] [-ecn -mark-ce 32K] [-seed 1] [-o trace.svg] [-csv FILE]"

// sizeValue is a byte count flag with an optional binary suffix (K, M,
// G: 2^10, 2^20, 2^30).
type sizeValue struct{ p *int64 }

func (v sizeValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatInt(*v.p, 10)
}

func (v sizeValue) Set(s string) error {
	n, err := parseSuffixed(s, 1024)
	if err != nil {
		return err
	}
	*v.p = int64(n)
	return nil
}

// rateValue is a bits-per-second flag with an optional decimal suffix
// (k, M, G: 10^3, 10^6, 10^9).
type rateValue struct{ p *uint64 }

func (v rateValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatUint(*v.p, 10)
}

func (v rateValue) Set(s string) error {
	n, err := parseSuffixed(s, 1000)
	if err != nil {
		return err
	}
	*v.p = uint64(n)
	return nil
}

// parseSuffixed parses a non-negative number with an optional k/K, M or
// G suffix, powers of unit.
func parseSuffixed(s string, unit float64) (float64, error) {
	mult := 1.0
	t := strings.TrimSpace(s)
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult = unit
		case 'm', 'M':
			mult = unit * unit
		case 'g', 'G':
			mult = unit * unit * unit
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*mult > 1<<62 {
		return 0, fmt.Errorf("%q: want a non-negative number with an optional k, M or G suffix", s)
	}
	return f * mult, nil
}

// ParseArgs parses the flags of `ustack trace` into a Config and the
// output files.
func ParseArgs(args []string, stderr io.Writer) (cfg Config, svgFile, csvFile string, err error) {
	fs := flag.NewFlagSet("ustack trace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\n"+
			"Runs one TCP transfer in the deterministic simulator and draws the\n"+
			"sender's congestion window, RTT and goodput over time as an SVG.\n\n", Usage)
		fs.PrintDefaults()
	}
	cfg = Config{Size: 4 << 20, RTT: 40 * time.Millisecond, Bandwidth: 20e6, Loss: 0.01, CC: "newreno", SACK: true, Seed: 1}
	fs.Var(sizeValue{&cfg.Size}, "size", "bytes to transfer (K, M, G: binary multiples)")
	fs.DurationVar(&cfg.RTT, "rtt", cfg.RTT, "round-trip propagation delay")
	fs.Var(rateValue{&cfg.Bandwidth}, "bw", "bottleneck bandwidth in bit/s (k, M, G: decimal multiples; 0: unlimited)")
	var queue int64
	fs.Var(sizeValue{&queue}, "queue", "bottleneck queue in bytes (0: the simulator's default)")
	var sndBuf, rcvBuf int64
	fs.Var(sizeValue{&sndBuf}, "sndbuf", "the sender's send buffer in bytes (0: the stack's default)")
	fs.Var(sizeValue{&rcvBuf}, "rcvbuf", "the receiver's receive buffer in bytes (0: the stack's default)")
	fs.Float64Var(&cfg.Loss, "loss", cfg.Loss, "probability that a data segment is lost")
	fs.Float64Var(&cfg.Reorder, "reorder", cfg.Reorder, "probability that a data segment is delayed by RTT/4 (reordered)")
	fs.StringVar(&cfg.CC, "cc", cfg.CC, "congestion control: newreno or cubic")
	fs.BoolVar(&cfg.SACK, "sack", cfg.SACK, "use SACK (RFC 2018)")
	fs.BoolVar(&cfg.ECN, "ecn", cfg.ECN, "use ECN (RFC 3168)")
	var markCE int64
	fs.Var(sizeValue{&markCE}, "mark-ce", "with -ecn, the bottleneck marks CE on data segments that find this many bytes queued (0: never)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the simulation (the same seed gives the same trace)")
	fs.DurationVar(&cfg.TimeLimit, "time-limit", time.Hour, "bound on the virtual time of the transfer")
	fs.StringVar(&svgFile, "o", "trace.svg", "SVG file to write")
	fs.StringVar(&csvFile, "csv", "", "CSV file to write the samples to (none if empty)")
	if err := fs.Parse(args); err != nil {
		return cfg, "", "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", "", fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.QueueBytes = int(min(queue, 1<<30))
	cfg.MarkCEQueueBytes = int(min(markCE, 1<<30))
	cfg.SndBuf, cfg.RcvBuf = int(min(sndBuf, 1<<30)), int(min(rcvBuf, 1<<30))
	return cfg, svgFile, csvFile, nil
}

// Main runs `ustack trace` with args (those after "trace") and returns
// the exit status: 0 on success, 2 for a bad command line, 1 for any
// other failure.
func Main(args []string, stdout, stderr io.Writer) int {
	cfg, svgFile, csvFile, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ustack trace: %v\nusage: %s\n", err, Usage)
		return 2
	}
	res, err := Run(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "ustack trace: %v\n", err)
		if len(res.Samples) == 0 {
			return 1
		}
	}
	fmt.Fprintf(stdout, "%v\n%d samples, %d segments retransmitted\n", res.Stream, len(res.Samples), lastRetransmits(res.Samples))
	if res.Midway.SndMSS > 0 {
		fmt.Fprintf(stdout, "\nthe sender half-way through:\n%s\n", res.Midway)
	}
	if err := writeFile(svgFile, func(w io.Writer) error { return WriteSVG(w, res) }); err != nil {
		fmt.Fprintf(stderr, "ustack trace: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s\n", svgFile)
	if csvFile != "" {
		if err := writeFile(csvFile, func(w io.Writer) error { return WriteCSV(w, res) }); err != nil {
			fmt.Fprintf(stderr, "ustack trace: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", csvFile)
	}
	if err != nil {
		return 1
	}
	return 0
}

// writeFile creates name and writes it with f.
func writeFile(name string, f func(io.Writer) error) error {
	out, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := f(out); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	return out.Close()
}
