package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The addresses of the two stacks of every Pair: A is the client, B the
// server, on one /24 (RFC 1918 private space).
var (
	AddrA  = netip.MustParseAddr("10.0.0.1")
	AddrB  = netip.MustParseAddr("10.0.0.2")
	Subnet = netip.MustParsePrefix("10.0.0.0/24")
)

// Pair is two stacks in one process joined by an in-memory Ethernet link, as
// the package documentation describes: A at AddrA and B at AddrB. Its
// methods are safe for concurrent use.
type Pair interface {
	// ListenTCP listens on B at port.
	ListenTCP(port uint16) (net.Listener, error)
	// DialTCP connects from A to B's port; ctx bounds the handshake.
	DialTCP(ctx context.Context, port uint16) (net.Conn, error)
	// ListenUDP binds a socket on B at port.
	ListenUDP(port uint16) (net.PacketConn, error)
	// DialUDP returns a socket on A connected to B's port.
	DialUDP(port uint16) (net.Conn, error)
	// Counters returns TCP counters summed over both stacks.
	Counters() Counters
	// Close closes both stacks and the link and returns once their
	// goroutines have exited.
	Close() error
}

// A Releaser is a Pair whose stacks keep free buffers for reuse across
// garbage collections (ustack's buffer reserves). The idle workload has it
// let go of them before it measures the heap, so that the buffers kept
// from earlier workloads, or their release during the measurement, do not
// count as memory of the idle connections.
type Releaser interface {
	// ReleaseFreeMemory lets go of the free buffers kept for reuse.
	ReleaseFreeMemory()
}

// Counters are TCP counters of a Pair, summed over its two stacks.
type Counters struct {
	// Retransmits counts retransmitted segments, of any cause.
	Retransmits uint64
	// RTOs counts retransmission timeouts (RFC 6298 §5.4 events).
	RTOs uint64
}

// PairConfig configures a new Pair.
type PairConfig struct {
	// MTU is the IP MTU of the link (the Ethernet header comes on top).
	MTU int
	// Loss is the probability with which the link drops a frame, drawn
	// independently in each direction.
	Loss float64
	// Seed seeds the link's loss.
	Seed uint64
}

// Stack names a stack and builds its Pairs.
type Stack struct {
	// Name appears in results ("ustack", "gvisor").
	Name string
	// NewPair returns a fresh Pair.
	NewPair func(cfg PairConfig) (Pair, error)
}

// Sizes are the amounts of work of the workloads.
type Sizes struct {
	BulkBytes       int64 // bulk: bytes the client sends
	RRTransactions  int   // rr: request/response transactions
	CRRConnections  int   // crr: sequential connections
	UDPDatagrams    int   // udp: datagrams the client sends
	IdleConnections int   // idle: connections held open
	LossyBytes      int64 // lossy: bytes the client sends
}

// DefaultSizes returns the sizes of the published workloads.
func DefaultSizes() Sizes {
	return Sizes{
		BulkBytes:       1 << 30,
		RRTransactions:  50_000,
		CRRConnections:  5_000,
		UDPDatagrams:    500_000,
		IdleConnections: 10_000,
		LossyBytes:      256 << 20,
	}
}

// LossyLoss is the frame loss probability of the lossy workload, in each
// direction.
const LossyLoss = 0.01

// Config configures a run.
type Config struct {
	// MTU is the IP MTU of the link; zero means 1500.
	MTU int
	// Sizes are the amounts of work; a zero field takes its value from
	// DefaultSizes.
	Sizes Sizes
	// Seed seeds the link's loss and the lossy workload's data.
	Seed uint64
	// Timeout bounds a run; zero means 10 minutes. A run that takes
	// longer fails.
	Timeout time.Duration
	// Progress, if not nil, is called about four times a second while a
	// run is timed, from a goroutine of its own.
	Progress func(Progress)
}

// Progress reports how far a run has got.
type Progress struct {
	Done, Total int64 // units of work (bytes, transactions, …)
}

func (c Config) withDefaults() Config {
	if c.MTU == 0 {
		c.MTU = 1500
	}
	d := DefaultSizes()
	s := &c.Sizes
	if s.BulkBytes <= 0 {
		s.BulkBytes = d.BulkBytes
	}
	if s.RRTransactions <= 0 {
		s.RRTransactions = d.RRTransactions
	}
	if s.CRRConnections <= 0 {
		s.CRRConnections = d.CRRConnections
	}
	if s.UDPDatagrams <= 0 {
		s.UDPDatagrams = d.UDPDatagrams
	}
	if s.IdleConnections <= 0 {
		s.IdleConnections = d.IdleConnections
	}
	if s.LossyBytes <= 0 {
		s.LossyBytes = d.LossyBytes
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// Metric is one figure of a result.
type Metric struct {
	Name  string // the JSON field name
	Value float64
}

// MetricInfo describes a metric of a workload.
type MetricInfo struct {
	Name string // the JSON field name ("gbps")
	Unit string // for tables ("Gbit/s")
	// HigherBetter tells which way is better.
	HigherBetter bool
	// Bool marks a metric that is true (1) or false (0); its JSON value
	// is a boolean, and a summary holds its minimum (true only if every
	// run was).
	Bool bool
}

// Workload is one of the package's workloads.
type Workload struct {
	Name    string
	Doc     string
	Metrics []MetricInfo
	run     func(r *runner) ([]Metric, error)
}

// Workloads returns the workloads in their canonical order: bulk, rr, crr,
// udp, idle, lossy.
func Workloads() []*Workload {
	return []*Workload{bulkWorkload, rrWorkload, crrWorkload, udpWorkload, idleWorkload, lossyWorkload}
}

// Lookup returns the workload called name.
func Lookup(name string) (*Workload, bool) {
	for _, w := range Workloads() {
		if w.Name == name {
			return w, true
		}
	}
	return nil, false
}

// ParseWorkloads parses a comma-separated list of workload names; "" and
// "all" mean every workload. Duplicates are an error.
func ParseWorkloads(list string) ([]*Workload, error) {
	if list == "" || list == "all" {
		return Workloads(), nil
	}
	var ws []*Workload
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		w, ok := Lookup(name)
		if !ok {
			return nil, fmt.Errorf("unknown workload %q (have %s)", name, workloadNames())
		}
		if slices.Contains(ws, w) {
			return nil, fmt.Errorf("workload %q listed twice", name)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func workloadNames() string {
	var names []string
	for _, w := range Workloads() {
		names = append(names, w.Name)
	}
	return strings.Join(names, ", ")
}

// Metric returns the description of the workload's metric called name.
func (w *Workload) Metric(name string) (MetricInfo, bool) {
	for _, m := range w.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return MetricInfo{}, false
}

// Stat values of a Result.
const (
	StatRun    = "run"
	StatMedian = "median"
	StatMin    = "min"
	StatMax    = "max"
)

// Result is the outcome of one run (Stat "run") or a summary of several
// (Stat "median", "min" or "max"). Its JSON form is one flat object with the
// fields stack, workload, mtu, stat, run (runs only), runs and one field per
// metric.
type Result struct {
	Stack    string
	Workload string
	MTU      int
	Stat     string
	Run      int // 1-based number of the run; 0 in a summary
	Runs     int // runs summarised; 1 for a run
	Metrics  []Metric
}

// Get returns the value of the metric called name.
func (r Result) Get(name string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

// MarshalJSON implements json.Marshaler: one flat object, fields in a fixed
// order.
func (r Result) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	field := func(name string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		val, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
		return nil
	}
	b.WriteByte('{')
	field("stack", r.Stack)
	field("workload", r.Workload)
	field("mtu", r.MTU)
	field("stat", r.Stat)
	if r.Stat == StatRun {
		field("run", r.Run)
	}
	field("runs", r.Runs)
	w, _ := Lookup(r.Workload)
	for _, m := range r.Metrics {
		var info MetricInfo
		if w != nil {
			info, _ = w.Metric(m.Name)
		}
		var v any
		switch {
		case info.Bool:
			v = m.Value != 0
		case math.IsNaN(m.Value) || math.IsInf(m.Value, 0):
			v = nil
		default:
			v = json.Number(strconv.FormatFloat(m.Value, 'g', 6, 64))
		}
		if err := field(m.Name, v); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Summarize returns the median, minimum and maximum of each metric over
// runs, which must be results of one workload on one stack. An even number
// of runs takes the mean of the two middle values as the median.
func Summarize(runs []Result) (median, lo, hi Result) {
	if len(runs) == 0 {
		return
	}
	base := Result{Stack: runs[0].Stack, Workload: runs[0].Workload, MTU: runs[0].MTU, Runs: len(runs)}
	median, lo, hi = base, base, base
	median.Stat, lo.Stat, hi.Stat = StatMedian, StatMin, StatMax
	w, _ := Lookup(base.Workload)
	for _, m := range runs[0].Metrics {
		var vs []float64
		for _, r := range runs {
			if v, ok := r.Get(m.Name); ok {
				vs = append(vs, v)
			}
		}
		slices.Sort(vs)
		med := vs[len(vs)/2]
		if len(vs)%2 == 0 {
			med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
		}
		if w != nil {
			if info, _ := w.Metric(m.Name); info.Bool {
				med = vs[0] // true only if every run was
			}
		}
		median.Metrics = append(median.Metrics, Metric{m.Name, med})
		lo.Metrics = append(lo.Metrics, Metric{m.Name, vs[0]})
		hi.Metrics = append(hi.Metrics, Metric{m.Name, vs[len(vs)-1]})
	}
	return median, lo, hi
}

// Run runs w once on a fresh Pair of st and returns its result (Stat "run",
// Run 1: the caller numbers its runs).
func Run(w *Workload, st Stack, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	loss := 0.0
	if w == lossyWorkload {
		loss = LossyLoss
	}
	p, err := st.NewPair(PairConfig{MTU: cfg.MTU, Loss: loss, Seed: cfg.Seed})
	if err != nil {
		return Result{}, fmt.Errorf("%s: new pair: %w", st.Name, err)
	}
	r := &runner{pair: p, cfg: cfg, deadline: time.Now().Add(cfg.Timeout)}
	ms, err := w.run(r)
	r.stopProgress()
	if cerr := p.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", st.Name, w.Name, err)
	}
	return Result{Stack: st.Name, Workload: w.Name, MTU: cfg.MTU, Stat: StatRun, Run: 1, Runs: 1, Metrics: ms}, nil
}

// runner is the state of one run.
type runner struct {
	pair     Pair
	cfg      Config
	deadline time.Time

	done  atomic.Int64 // progress: units done
	total int64
	stop  chan struct{} // closed to stop the progress goroutine
	// onBegin, if not nil, runs just before the timed part starts.
	onBegin func()
	exit    chan struct{} // closed by the progress goroutine

	// Measurements of the timed part.
	start    time.Time
	cpu0     time.Duration
	mallocs0 uint64
	elapsed  time.Duration
	cpu      time.Duration
	mallocs  uint64
}

// begin starts the timed part: it collects garbage, takes the start time,
// CPU and allocation counts, and starts progress reports of total units.
func (r *runner) begin(total int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.mallocs0 = ms.Mallocs
	r.cpu0 = processCPU()
	r.startProgress(total)
	if r.onBegin != nil {
		r.onBegin()
	}
	r.start = time.Now()
}

// end ends the timed part.
func (r *runner) end() {
	r.elapsed = time.Since(r.start)
	r.cpu = processCPU() - r.cpu0
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.mallocs = ms.Mallocs - r.mallocs0
	r.stopProgress()
}

// startProgress starts the progress reports of a run of total units, if
// the run has a Progress callback.
func (r *runner) startProgress(total int64) {
	r.total = total
	if r.cfg.Progress != nil && r.stop == nil {
		r.stop, r.exit = make(chan struct{}), make(chan struct{})
		go r.progress()
	}
}

func (r *runner) progress() {
	defer close(r.exit)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.cfg.Progress(Progress{Done: r.done.Load(), Total: r.total})
		}
	}
}

func (r *runner) stopProgress() {
	if r.stop != nil {
		close(r.stop)
		<-r.exit
		r.stop = nil
	}
}

// ctx returns a context that ends at the run's deadline.
func (r *runner) ctx() (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), r.deadline)
}

// errTimeout wraps a failure that happened because the run took too long.
var errTimeout = errors.New("run timed out")

// RunInterleaved runs w runs times on each of stacks, interleaving them
// (run 1 of every stack, then run 2 of every stack, …) so that noise on the
// machine hits every stack alike. It returns the results of each stack in
// the order of stacks, numbered from 1. onRun, if not nil, is called before
// each run; cfg.Progress reports within runs.
func RunInterleaved(w *Workload, stacks []Stack, runs int, cfg Config, onRun func(st Stack, run int)) ([][]Result, error) {
	out := make([][]Result, len(stacks))
	for run := 1; run <= runs; run++ {
		for i, st := range stacks {
			if onRun != nil {
				onRun(st, run)
			}
			res, err := Run(w, st, cfg)
			if err != nil {
				return out, fmt.Errorf("run %d: %w", run, err)
			}
			res.Run = run
			out[i] = append(out[i], res)
		}
	}
	return out, nil
}

// ScaledSizes returns DefaultSizes multiplied by f, each at least 1.
func ScaledSizes(f float64) Sizes {
	d := DefaultSizes()
	i := func(n int) int { return max(1, int(math.Round(float64(n)*f))) }
	i64 := func(n int64) int64 { return max(1, int64(math.Round(float64(n)*f))) }
	return Sizes{
		BulkBytes:       i64(d.BulkBytes),
		RRTransactions:  i(d.RRTransactions),
		CRRConnections:  i(d.CRRConnections),
		UDPDatagrams:    i(d.UDPDatagrams),
		IdleConnections: i(d.IdleConnections),
		LossyBytes:      i64(d.LossyBytes),
	}
}

// Format formats a value of the metric for a table: yes or no for a
// boolean, three significant digits below 10, one decimal below 1000,
// none above.
func (m MetricInfo) Format(v float64) string {
	switch {
	case m.Bool:
		if v != 0 {
			return "yes"
		}
		return "no"
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
